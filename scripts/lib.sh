# shellcheck shell=bash
# Sourced by scripts/*, never run. Settings and paths of one instance
# (VAR_DIR), logging, privilege helpers, and the start/stop/status functions
# of each private service so that run, stop and svc share them.
# Callers run with `set -euo pipefail`.

set +m	# no job control: a background pool must not lead its own process group

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
VAR_DIR=$(realpath -m -- "${VAR_DIR:-$ROOT/var}")
PORT=${PORT:-8080}
FCGI_WORKERS=${FCGI_WORKERS:-4}
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}	# build-asan/bin for sanitizer builds
PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=5432	# names the socket file only; there is no TCP listener

RUN_DIR=$VAR_DIR/run
LOG_DIR=$VAR_DIR/log
CONF_DIR=$VAR_DIR/conf
SECRETS_DIR=$VAR_DIR/secrets
PG_DATA=$VAR_DIR/pg/data
ENV_FILE=$CONF_DIR/env
NGINX_USER=www-data

PATH=$PG_BIN:$PATH
export ROOT VAR_DIR PORT FCGI_WORKERS PATH

# Binaries of BIN_DIR that are not FastCGI pools: the worker daemon.
NON_POOL_BINS=(worker)

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
die() { printf '==> error: %s\n' "$*" >&2; exit 1; }

# The values end up unquoted in nginx, PostgreSQL and Redis configs.
[[ $VAR_DIR =~ ^[A-Za-z0-9._/+-]+$ ]] ||
	die "VAR_DIR ($VAR_DIR) may only contain letters, digits and . _ / + -"
[[ $ROOT != *[\|\&\\]* ]] || die "the project path ($ROOT) must not contain | & or \\"
if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT < 1 || PORT > 65535)); then
	die "PORT must be a TCP port number, not '$PORT'"
fi
SANDBOX_PORT=${SANDBOX_PORT:-$((PORT + 1))}	# the provider sandbox
export SANDBOX_PORT
if ! [[ $SANDBOX_PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((SANDBOX_PORT > 65535 || SANDBOX_PORT == PORT)); then
	die "SANDBOX_PORT must be a TCP port number other than PORT, not '$SANDBOX_PORT'"
fi
if ! [[ $FCGI_WORKERS =~ ^[1-9][0-9]{0,2}$ ]] || ((FCGI_WORKERS < 1 || FCGI_WORKERS > 256)); then
	die "FCGI_WORKERS must be a number from 1 to 256, not '$FCGI_WORKERS'"
fi
# sun_path holds 107 bytes; the longest socket we make is for "conversations".
((${#RUN_DIR} + 24 <= 107)) || die "VAR_DIR is too long for unix socket paths: $VAR_DIR"

# Root runs PostgreSQL as the postgres system user (it refuses root) and
# nginx workers as www-data; a normal user runs everything as self (and
# needs sudo only for apt, in scripts/deps).
if [ "$(id -u)" -eq 0 ]; then
	IS_ROOT=1
	PG_USER=postgres
else
	IS_ROOT=0
	PG_USER=$(id -un)
fi

# as_pg_user CMD...: run CMD as the PostgreSQL run user (from / so that the
# caller's working directory needs no permission).
as_pg_user() {
	if [ "$IS_ROOT" = 1 ]; then
		(cd / && exec runuser -u "$PG_USER" -- env PATH="$PG_BIN:/usr/bin:/bin" "$@")
	else
		"$@"
	fi
}

# proc_alive PID: true for a live process (a zombie counts as gone).
proc_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}

# pid_alive FILE NAME...: true when FILE holds the pid of a live process
# whose command name is one of NAME...; the pid is left in PID.
pid_alive() {
	local file=$1 comm name
	shift
	PID=
	[ -r "$file" ] || return 1
	read -r PID <"$file" || true
	[[ $PID =~ ^[0-9]+$ ]] || return 1
	proc_alive "$PID" || return 1
	comm=$(cat "/proc/$PID/comm" 2>/dev/null) || return 1
	for name; do [ "$comm" = "$name" ] && return 0; done
	return 1
}

# wait_gone PID SECONDS: true once PID has exited, false on timeout.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		proc_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

# stop_pid NAME PID: TERM, then KILL after 10 s.
stop_pid() {
	kill -TERM "$2" 2>/dev/null || true
	wait_gone "$2" 10 && return 0
	warn "$1 (pid $2) ignored TERM for 10 s; killing it"
	kill -KILL "$2" 2>/dev/null || true
	wait_gone "$2" 5 || true
}

# tail_logs NAME...: the last lines of VAR_DIR/log/NAME.log, for failures.
tail_logs() {
	local n
	for n; do
		[ -s "$LOG_DIR/$n.log" ] || continue
		printf -- '--- last lines of %s ---\n' "$LOG_DIR/$n.log" >&2
		tail -n 20 "$LOG_DIR/$n.log" >&2
	done
}

# random_hex BYTES: 2*BYTES lowercase hex digits, no newline.
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# ensure_secret FILE BYTES: create FILE (0600) with a random hex value once.
ensure_secret() {
	[ -s "$1" ] && return 0
	(umask 077 && random_hex "$2" >"$1.tmp" && mv "$1.tmp" "$1")
}

# grant_traverse DIR: when root, give "others" search permission (never
# read) on DIR and each ancestor lacking it, so that the postgres and
# www-data users can reach sockets and data below DIR (e.g. /root is 0700).
grant_traverse() {
	[ "$IS_ROOT" = 1 ] || return 0
	local d=$1 mode
	while [ "$d" != / ]; do
		if [ -d "$d" ]; then
			mode=$(stat -c %a -- "$d")
			if (((8#$mode & 1) == 0)); then
				chmod o+x -- "$d"
				log "granted search-only permission (o+x) on $d"
			fi
		fi
		d=$(dirname -- "$d")
	done
}

# prepare_var_dir: the directory layout and secrets of VAR_DIR (idempotent).
prepare_var_dir() {
	install -d -m 0755 "$VAR_DIR" "$CONF_DIR" "$LOG_DIR" "$VAR_DIR/pg" "$VAR_DIR/nginx"
	install -d -m 0700 "$SECRETS_DIR" "$VAR_DIR/redis"
	if [ "$IS_ROOT" = 1 ]; then
		getent passwd "$PG_USER" >/dev/null || die "user $PG_USER is missing (run scripts/deps)"
		# postgres writes its socket here; www-data may only traverse
		install -d -m 0771 -g "$PG_USER" "$RUN_DIR"
		install -d -m 0700 -o "$PG_USER" -g "$PG_USER" "$PG_DATA"
	else
		install -d -m 0755 "$RUN_DIR"
		install -d -m 0700 "$PG_DATA"
	fi
	grant_traverse "$VAR_DIR"
	ensure_secret "$SECRETS_DIR/master.key" 32
	ensure_secret "$SECRETS_DIR/pg-owner.pass" 24
	ensure_secret "$SECRETS_DIR/pg-app.pass" 24
	ensure_secret "$SECRETS_DIR/webhook.secret" 32
}

# ---------------------------------------------------------------- postgres

pg_running() { as_pg_user pg_ctl -D "$PG_DATA" status >/dev/null 2>&1; }

# owner_psql ARGS...: psql as commerce_owner over the VAR_DIR socket.
owner_psql() {
	PGPASSWORD=$(cat "$SECRETS_DIR/pg-owner.pass") PGHOST=$RUN_DIR PGPORT=$PG_PORT \
		psql -X -q -v ON_ERROR_STOP=1 -U commerce_owner "$@"
}

# pg_init: initdb once, superuser commerce_owner with the generated password.
pg_init() {
	[ -s "$PG_DATA/PG_VERSION" ] && return 0
	[ -z "$(ls -A "$PG_DATA")" ] || die "$PG_DATA is not empty but holds no cluster; remove it"
	log "postgres: initialising cluster in $PG_DATA"
	# initdb reads the password from a file the run user owns (secrets/ is 0700)
	local pwfile=$VAR_DIR/pg/.pwfile
	install -m 0600 -o "$PG_USER" /dev/null "$pwfile"
	cat "$SECRETS_DIR/pg-owner.pass" >"$pwfile"
	if ! as_pg_user initdb -D "$PG_DATA" --auth=scram-sha-256 --username=commerce_owner \
		--pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 >"$LOG_DIR/initdb.log" 2>&1; then
		rm -f "$pwfile"
		tail_logs initdb
		die "initdb failed"
	fi
	rm -f "$pwfile"
	printf "\n# Settings of this private instance, rewritten at each start by scripts/lib.sh\ninclude 'commerce.conf'\n" \
		>>"$PG_DATA/postgresql.conf"
}

# pg_write_conf: the instance settings that follow VAR_DIR.
pg_write_conf() {
	cat >"$PG_DATA/commerce.conf" <<EOF
listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$RUN_DIR'
unix_socket_permissions = 0777
max_connections = 200
fsync = on
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
	[ "$IS_ROOT" = 1 ] && chown "$PG_USER:" "$PG_DATA/commerce.conf"
	return 0
}

pg_start() {
	if pg_running; then
		log "postgres: already running"
		return 0
	fi
	prepare_var_dir
	pg_init
	pg_write_conf
	touch "$LOG_DIR/postgres.log"
	[ "$IS_ROOT" = 1 ] && chown "$PG_USER:" "$LOG_DIR/postgres.log"
	log "postgres: starting"
	as_pg_user pg_ctl -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -w -t 60 -s start </dev/null ||
		{ tail_logs postgres; die "postgres did not start"; }
}

pg_stop() {
	pg_running || return 0
	log "postgres: stopping"
	as_pg_user pg_ctl -D "$PG_DATA" -m fast -w -t 60 -s stop
}

# pg_setup_db: database commerce and role commerce_app (password kept in
# step with secrets/pg-app.pass).
pg_setup_db() {
	owner_psql -d postgres -v app_pw="$(cat "$SECRETS_DIR/pg-app.pass")" <<'SQL'
SELECT 'CREATE DATABASE commerce OWNER commerce_owner ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'commerce') \gexec
SELECT 'CREATE ROLE commerce_app'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'commerce_app') \gexec
ALTER ROLE commerce_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_pw';
SQL
}

# ------------------------------------------------------------------- redis

redis_running() { pid_alive "$RUN_DIR/redis.pid" redis-server; }

redis_start() {
	if redis_running; then
		log "redis: already running"
		return 0
	fi
	prepare_var_dir
	cat >"$CONF_DIR/redis.conf" <<EOF
# Private Redis of $VAR_DIR (written by scripts/lib.sh)
port 0
unixsocket $RUN_DIR/redis.sock
unixsocketperm 700
dir $VAR_DIR/redis
daemonize yes
pidfile $RUN_DIR/redis.pid
logfile $LOG_DIR/redis.log
save ""
appendonly no
maxmemory 256mb
maxmemory-policy volatile-lru
EOF
	rm -f "$RUN_DIR/redis.sock" "$RUN_DIR/redis.pid"
	log "redis: starting"
	redis-server "$CONF_DIR/redis.conf" </dev/null >>"$LOG_DIR/redis.log" 2>&1 ||
		{ tail_logs redis; die "redis did not start"; }
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -s "$RUN_DIR/redis.sock" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	tail_logs redis
	die "redis is not answering on $RUN_DIR/redis.sock"
}

redis_stop() {
	redis_running || { rm -f "$RUN_DIR/redis.sock"; return 0; }
	log "redis: stopping"
	stop_pid redis "$PID"
	rm -f "$RUN_DIR/redis.sock" "$RUN_DIR/redis.pid"
}

# ----------------------------------------------------------------- sandbox

# The provider sandbox (tests/sandbox, docs/sandbox.md): eSewa, Khalti and
# Fonepay simulators on 127.0.0.1:$SANDBOX_PORT for the demo and the tests.
# Its state survives a restart in VAR_DIR/sandbox/state.json, unless
# SANDBOX_PERSIST=0 (the benchmark: saving the whole state on every change
# would make the simulator, not the backend, the thing measured).
SANDBOX_URL=http://127.0.0.1:$SANDBOX_PORT

sandbox_running() {
	pid_alive "$RUN_DIR/sandbox.pid" python3 "$(basename -- "$(readlink -f -- "$(command -v python3)")")"
}

sandbox_healthy() { curl -sf -o /dev/null -m 2 "$SANDBOX_URL/_control/health"; }

sandbox_start() {
	if sandbox_running; then
		log "sandbox: already running"
		return 0
	fi
	prepare_var_dir
	install -d -m 0700 "$VAR_DIR/sandbox"
	if ss -Hltn "sport = :$SANDBOX_PORT" | grep -q .; then
		die "port $SANDBOX_PORT (the sandbox's) is already in use (set SANDBOX_PORT=...)"
	fi
	log "sandbox: starting on $SANDBOX_URL"
	local state=(--state-file "$VAR_DIR/sandbox/state.json")
	[ "${SANDBOX_PERSIST:-1}" = 0 ] && state=()
	setsid python3 "$ROOT/tests/sandbox/server.py" --host 127.0.0.1 --port "$SANDBOX_PORT" \
		"${state[@]}" </dev/null >>"$LOG_DIR/sandbox.log" 2>&1 &
	echo "$!" >"$RUN_DIR/sandbox.pid"
	local i
	for ((i = 0; i < 100; i++)); do
		sandbox_healthy && return 0
		proc_alive "$(cat "$RUN_DIR/sandbox.pid")" || break
		sleep 0.1
	done
	tail_logs sandbox
	die "the sandbox is not answering on $SANDBOX_URL/_control/health"
}

sandbox_stop() {
	sandbox_running || { rm -f "$RUN_DIR/sandbox.pid"; return 0; }
	log "sandbox: stopping"
	stop_pid sandbox "$PID"
	rm -f "$RUN_DIR/sandbox.pid"
}

# --------------------------------------------------------------- env file

# env_line KEY VALUE: one KEY='VALUE' line (shell and systemd syntax).
env_line() {
	case $2 in *"'"* | *$'\n'*) die "$1 must not contain a quote or a newline" ;; esac
	printf "%s='%s'\n" "$1" "$2"
}

# The gateway URL variables of shared/gateway.h and where each points on
# the sandbox (docs/sandbox.md): "NAME path" pairs.
SANDBOX_URLS=(
	"ESEWA_TEST_FORM_URL /esewa/api/epay/main/v2/form"
	"ESEWA_TEST_STATUS_URL /esewa-status/api/epay/transaction/status/"
	"KHALTI_TEST_API_URL /khalti/api/"
	"FONEPAY_TEST_PAY_URL /fonepay/api/merchantRequest"
	"FONEPAY_TEST_VERIFY_URL /fonepay-merchant/api/merchant/merchantDetailsForThirdParty/txnVerification"
)

# write_env_file: VAR_DIR/conf/env (0600), the environment of the pools and
# the worker. Left untouched when nothing changed, so its mtime tells them
# to restart. Variables set by the caller win over the generated values of
# PUBLIC_BASE_URL, WEBHOOK_SECRETS and the gateways' test URLs (which point
# at this instance's sandbox).
write_env_file() {
	local tmp=$ENV_FILE.tmp v pair
	(
		umask 077
		{
			echo "# Environment of the FastCGI pools and the worker of $VAR_DIR (written by scripts/run)"
			env_line APP_ENV "${APP_ENV:-development}"
			env_line DATABASE_URL "host=$RUN_DIR dbname=commerce user=commerce_app password=$(cat "$SECRETS_DIR/pg-app.pass")"
			env_line REDIS_SOCKET "$RUN_DIR/redis.sock"
			env_line MASTER_KEY_FILE "$SECRETS_DIR/master.key"
			env_line PUBLIC_BASE_URL "${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
			env_line WEBHOOK_SECRETS "${WEBHOOK_SECRETS:-$(cat "$SECRETS_DIR/webhook.secret")}"
			for pair in "${SANDBOX_URLS[@]}"; do
				v=${pair%% *}
				env_line "$v" "${!v:-http://127.0.0.1:$SANDBOX_PORT${pair#* }}"
			done
			for v in BODY_MAX_BYTES TOKEN_TTL_SECONDS RATE_LIMIT_PER_MINUTE RATE_LIMIT_OPEN_PER_MINUTE RATE_LIMIT_WEBHOOK_PER_MINUTE LOG_LEVEL \
				WORKER_INTERVAL_MS ESEWA_LIVE_FORM_URL ESEWA_LIVE_STATUS_URL KHALTI_LIVE_API_URL \
				FONEPAY_LIVE_PAY_URL FONEPAY_LIVE_VERIFY_URL MASTER_KEY MASTER_KEY_PREVIOUS \
				MASTER_KEY_PREVIOUS_FILE; do
				if [ -n "${!v:-}" ]; then env_line "$v" "${!v}"; fi
			done
		} >"$tmp"
	)
	if cmp -s "$tmp" "$ENV_FILE"; then rm -f "$tmp"; else mv "$tmp" "$ENV_FILE"; fi
}

# env_file_vars: the NAME=value words of the env file in ENV_VARS, for env -i.
env_file_vars() {
	local line
	[ -r "$ENV_FILE" ] || die "$ENV_FILE is missing (start the stack with scripts/run)"
	ENV_VARS=()
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		line=${line/=\'/=}
		ENV_VARS+=("${line%\'}")
	done <"$ENV_FILE"
}

# ------------------------------------------------------------------- pools

# pool_groups: the endpoint groups that have a binary, one per line (the
# binaries of NON_POOL_BINS are not pools).
pool_groups() {
	local f g n
	for f in "$BIN_DIR"/*; do
		if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
		g=${f##*/}
		for n in "${NON_POOL_BINS[@]}"; do [ "$g" = "$n" ] && continue 2; done
		printf '%s\n' "$g"
	done
	return 0
}

pool_running() { pid_alive "$RUN_DIR/pool-$1.pid" multiwatch spawn-fcgi; }

# pool_start GROUP: spawn-fcgi binds the socket and execs multiwatch, which
# keeps FCGI_WORKERS copies of the binary running. The recorded pid is
# multiwatch itself, leader of its own session; TERM stops it and its workers.
pool_start() {
	local g=$1 bin=$BIN_DIR/$1 sock=$RUN_DIR/fcgi-$1.sock pidf=$RUN_DIR/pool-$1.pid
	local owner=() i
	if pool_running "$g"; then
		if [ "$bin" -nt "$pidf" ] || [ "$ENV_FILE" -nt "$pidf" ]; then
			log "pool $g: binary or environment changed, restarting"
			pool_stop "$g"
		else
			log "pool $g: already running"
			return 0
		fi
	fi
	env_file_vars
	[ "$IS_ROOT" = 1 ] && owner=(-U "$NGINX_USER" -G "$NGINX_USER")
	rm -f "$sock"
	log "pool $g: starting $FCGI_WORKERS workers"
	# A clean environment: the env file, PATH and sanitizer options only.
	env -i PATH=/usr/local/bin:/usr/bin:/bin ${ASAN_OPTIONS+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
		${UBSAN_OPTIONS+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} ${LSAN_OPTIONS+"LSAN_OPTIONS=$LSAN_OPTIONS"} "${ENV_VARS[@]}" \
		setsid spawn-fcgi -s "$sock" -M 0600 "${owner[@]}" -n -- \
		/usr/bin/multiwatch -f "$FCGI_WORKERS" -- "$bin" </dev/null >>"$LOG_DIR/$g.log" 2>&1 &
	echo "$!" >"$pidf"
	for ((i = 0; i < 50; i++)); do
		[ -S "$sock" ] && pool_running "$g" && return 0
		proc_alive "$(cat "$pidf")" || break
		sleep 0.1
	done
	tail_logs "$g"
	die "pool $g did not start"
}

# pool_stop GROUP: TERM to multiwatch (it stops its workers); if anything of
# its process group is left (multiwatch killed, workers orphaned), kill that.
pool_stop() {
	local g=$1 pidf=$RUN_DIR/pool-$1.pid pid=
	if [ -r "$pidf" ]; then read -r pid <"$pidf" || true; fi
	if pool_running "$g"; then
		log "pool $g: stopping"
		stop_pid "pool $g" "$PID"
	fi
	if [[ $pid =~ ^[0-9]+$ ]] && pgrep -g "$pid" -f "^(/usr/bin/multiwatch|$BIN_DIR/$g)( |\$)" >/dev/null; then
		warn "pool $g: killing leftover workers of process group $pid"
		pkill -KILL -g "$pid" -f "^(/usr/bin/multiwatch|$BIN_DIR/$g)( |\$)" || true
	fi
	rm -f "$pidf" "$RUN_DIR/fcgi-$g.sock"
}

# pools_start: one pool per binary; pools whose binary is gone are stopped.
pools_start() {
	local g f groups
	groups=$(pool_groups)
	[ -n "$groups" ] || warn "no FastCGI binaries in $BIN_DIR; nginx will answer 502"
	for f in "$RUN_DIR"/pool-*.pid; do
		[ -e "$f" ] || continue
		g=${f##*/pool-}
		g=${g%.pid}
		grep -qxF -- "$g" <<<"$groups" || pool_stop "$g"
	done
	for g in $groups; do pool_start "$g"; done
}

pools_stop() {
	local f g
	for f in "$RUN_DIR"/pool-*.pid; do
		[ -e "$f" ] || continue
		g=${f##*/pool-}
		pool_stop "${g%.pid}"
	done
}

pools_running() {
	local g any=0
	for g in $(pool_groups); do
		pool_running "$g" || return 1
		any=1
	done
	[ "$any" = 1 ]
}

# ------------------------------------------------------------------ worker

# The worker daemon (handlers/worker): not a FastCGI pool. The recorded pid
# is its supervisor, which restarts the worker when it dies; TERM stops both.
worker_running() { pid_alive "$RUN_DIR/worker.pid" worker; }

worker_start() {
	local bin=$BIN_DIR/worker pidf=$RUN_DIR/worker.pid i
	[ -x "$bin" ] || { warn "no $bin; payments are not reconciled and the outbox is not drained"; return 0; }
	if worker_running; then
		if [ "$bin" -nt "$pidf" ] || [ "$ENV_FILE" -nt "$pidf" ]; then
			log "worker: binary or environment changed, restarting"
			worker_stop
		else
			log "worker: already running"
			return 0
		fi
	fi
	env_file_vars
	log "worker: starting"
	env -i PATH=/usr/local/bin:/usr/bin:/bin ${ASAN_OPTIONS+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
		${UBSAN_OPTIONS+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} ${LSAN_OPTIONS+"LSAN_OPTIONS=$LSAN_OPTIONS"} "${ENV_VARS[@]}" \
		setsid "$bin" </dev/null >>"$LOG_DIR/worker.log" 2>&1 &
	echo "$!" >"$pidf"
	# up once the supervisor has forked the worker
	for ((i = 0; i < 50; i++)); do
		worker_running && pgrep -P "$PID" >/dev/null && return 0
		proc_alive "$(cat "$pidf")" || break
		sleep 0.1
	done
	tail_logs worker
	die "the worker did not start"
}

worker_stop() {
	worker_running || { rm -f "$RUN_DIR/worker.pid"; return 0; }
	log "worker: stopping"
	stop_pid worker "$PID"
	rm -f "$RUN_DIR/worker.pid"
}

# ------------------------------------------------------------------- nginx

nginx_cmd() { nginx -p "$VAR_DIR/nginx/" -e "$LOG_DIR/nginx-error.log" -c "$CONF_DIR/nginx.conf" "$@"; }

nginx_running() { pid_alive "$RUN_DIR/nginx.pid" nginx; }

# nginx_render: the templates of nginx/ into VAR_DIR/conf; sets
# NGINX_CHANGED=1 when any rendered file differs from the previous one.
nginx_render() {
	local user_line='' t out
	[ "$IS_ROOT" = 1 ] && user_line="user $NGINX_USER;"
	NGINX_CHANGED=0
	for t in nginx.conf commerce-http.conf commerce-server.conf fastcgi-commerce.conf; do
		out=$CONF_DIR/$t
		if [ -e "$ROOT/nginx/$t.in" ]; then
			sed -e "s|@PORT@|$PORT|g" -e "s|@VAR_DIR@|$VAR_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" \
				-e "s|@ROOT@|$ROOT|g" -e "s|@NGINX_USER_LINE@|$user_line|g" \
				"$ROOT/nginx/$t.in" >"$out.tmp"
		else
			cp "$ROOT/nginx/$t" "$out.tmp"
		fi
		if cmp -s "$out.tmp" "$out"; then
			rm -f "$out.tmp"
		else
			mv "$out.tmp" "$out"
			NGINX_CHANGED=1
		fi
	done
}

nginx_start() {
	prepare_var_dir
	nginx_render
	nginx_cmd -t -q || die "the rendered nginx configuration is invalid ($CONF_DIR/nginx.conf)"
	if nginx_running; then
		if [ "$NGINX_CHANGED" = 1 ]; then
			log "nginx: configuration changed, reloading"
			nginx_reload
		else
			log "nginx: already running"
		fi
		return 0
	fi
	if ss -Hltn "sport = :$PORT" | grep -q .; then
		die "port $PORT is already in use (another stack? set PORT=...)"
	fi
	log "nginx: starting on 127.0.0.1:$PORT"
	nginx_cmd </dev/null >>"$LOG_DIR/nginx-error.log" 2>&1 || { tail_logs nginx-error; die "nginx did not start"; }
	local i
	for ((i = 0; i < 50; i++)); do
		nginx_running && return 0
		sleep 0.1
	done
	tail_logs nginx-error
	die "nginx did not write its pid file"
}

# nginx_reload: HUP, then wait (10 s at most) for the old workers to leave,
# so that the next request is served with the new configuration.
nginx_reload() {
	local old pid i
	old=$(pgrep -P "$PID" || true)
	kill -HUP "$PID"
	for ((i = 0; i < 100; i++)); do
		for pid in $old; do proc_alive "$pid" && break; pid=; done
		[ -z "${pid:-}" ] && return 0
		sleep 0.1
	done
	warn "nginx: old workers still finishing requests after 10 s"
}

# nginx_stop: graceful (QUIT) first; TERM if requests hang on for 10 s.
nginx_stop() {
	nginx_running || return 0
	log "nginx: stopping"
	kill -QUIT "$PID" 2>/dev/null || true
	wait_gone "$PID" 10 || stop_pid nginx "$PID"
	rm -f "$RUN_DIR/nginx.pid"
}

# -------------------------------------------------------------- the stack

stop_all() {
	nginx_stop
	worker_stop
	pools_stop
	sandbox_stop
	redis_stop
	pg_stop
}

# status_line NAME CHECK...: "NAME: running" or "NAME: stopped"; the status
# of CHECK is returned.
status_line() {
	local name=$1
	shift
	if "$@"; then
		printf '%-9s running\n' "$name:"
	else
		printf '%-9s stopped\n' "$name:"
		return 1
	fi
}
