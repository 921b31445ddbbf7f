/*
 * worker: the daemon beside the pools (not a FastCGI pool).
 *
 *	worker [--foreground]
 *
 * Every WORKER_INTERVAL_MS (default 1000) it
 *	- reconciles: asks the status API about payments that were started
 *	  but have not settled and are due a look (payment.h settles them);
 *	- drains the outbox: claims due jobs one at a time and runs them
 *	  (jobs.c), with retries, backoff and a dead-letter state;
 * every minute it puts back jobs a dead worker left running, and every
 * hour it deletes idempotency keys older than 48 hours.
 *
 * It supervises itself: the process started is a small parent that forks
 * the worker and starts it again when it dies (1 s, doubling to 30 s
 * between starts; back to 1 s after a minute of good running). TERM or INT
 * goes on to the worker, which finishes the item in hand, and the parent
 * leaves when it does. --foreground runs the worker alone, unsupervised.
 *
 * Any number of workers may run against one database: a job is claimed by
 * one UPDATE, and settling a payment is safe from any number of processes.
 * PostgreSQL being down is logged and waited out, never fatal.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "payment.h"
#include "worker.h"

#define INTERVAL_DEFAULT_MS	1000
#define DOWN_DELAY_MAX_MS	30000	/* ticks while the database is down */
#define BATCH			"20"	/* payments and jobs per tick */
#define DEFER_S			"60"	/* a payment we could not check */
#define JOB_BACKOFF_FIRST_S	5
#define JOB_BACKOFF_MAX_S	3600
#define JOB_STALE_S		"300"	/* a running job nobody touched */
#define KEYS_MAX_AGE_H		"48"
#define KEYS_PER_CALL		10000
#define KEYS_CALLS_MAX		100
#define RESTART_FIRST_S		1
#define RESTART_MAX_S		30
#define GOOD_RUN_S		60

enum stmt {
	STMT_PAYMENTS_DUE,
	STMT_PAYMENT_DEFER,
	STMT_OUTBOX_DUE,
	STMT_JOB_CLAIM,
	STMT_JOB_FINISH,
	STMT_JOB_RETRY,
	STMT_OUTBOX_RECOVER,
	STMT_KEYS_EXPIRE,
	STMT_GATEWAYS_ALL,
	STMT__MAX,
};

static const char *const sql[STMT__MAX] = {
	[STMT_PAYMENTS_DUE] =
	    "SELECT merchant_id, payment_id FROM payments_due(" BATCH ")",
	[STMT_PAYMENT_DEFER] =
	    "UPDATE payments SET next_check_at = now() + make_interval("
	    "secs => " DEFER_S "), updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2 AND "
	    "status IN ('initiated', 'pending')",
	[STMT_OUTBOX_DUE] =
	    "SELECT merchant_id, job_id FROM outbox_due(" BATCH ")",
	[STMT_JOB_CLAIM] =
	    "UPDATE outbox SET status = 'running', attempts = attempts + 1, "
	    "updated_at = clock_timestamp() WHERE id = $1::bigint AND "
	    "merchant_id = $2 AND status = 'pending' "
	    "RETURNING kind, payload::text, attempts, max_attempts",
	[STMT_JOB_FINISH] =
	    "UPDATE outbox SET status = $3, last_error = nullif($4, ''), "
	    "updated_at = clock_timestamp() WHERE id = $1::bigint AND "
	    "merchant_id = $2 AND status = 'running'",
	[STMT_JOB_RETRY] =
	    "UPDATE outbox SET status = 'pending', last_error = $3, "
	    "next_attempt_at = now() + make_interval(secs => $4::int), "
	    "updated_at = clock_timestamp() WHERE id = $1::bigint AND "
	    "merchant_id = $2 AND status = 'running'",
	[STMT_OUTBOX_RECOVER] =
	    "SELECT outbox_recover(" JOB_STALE_S ")",
	[STMT_GATEWAYS_ALL] =
	    "SELECT merchant_id, provider FROM payment_gateways_all()",
	[STMT_KEYS_EXPIRE] =
	    "SELECT idempotency_keys_expire(" KEYS_MAX_AGE_H ", $1::int)",
};

/* Each returns 0, or -1 when the database is down. */
static int	task_reconcile(struct app *);
static int	task_outbox(struct app *);
static int	task_recover(struct app *);
static int	task_housekeeping(struct app *);
static int	task_reseal(struct app *);

enum task_id {
	TASK_RECONCILE,
	TASK_OUTBOX,
	TASK_RECOVER,
	TASK_HOUSEKEEPING,
	TASK_RESEAL,
	TASK__MAX,
};

static const struct task {
	const char	*name;
	long		 period_ms;	/* 0: every tick */
	int		(*run)(struct app *);
} tasks[TASK__MAX] = {
	[TASK_RECONCILE] = { "reconcile", 0, task_reconcile },
	[TASK_OUTBOX] = { "outbox", 0, task_outbox },
	[TASK_RECOVER] = { "recover", 60 * 1000L, task_recover },
	[TASK_HOUSEKEEPING] = { "housekeeping", 3600 * 1000L,
	    task_housekeeping },
	[TASK_RESEAL] = { "reseal", 3600 * 1000L, task_reseal },
};

static volatile sig_atomic_t	stop_signal;	/* TERM or INT received */
static volatile sig_atomic_t	child_pid;	/* the supervised worker */

static void
on_stop(int sig)
{
	stop_signal = sig;
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* TERM and INT to on_stop, without SA_RESTART so that sleeps end. */
static void
catch_stop(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static long long
monotonic_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds, less when told to stop. */
static void
nap(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (!stop_signal && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		continue;
}

/* Runs a statement of this file; *res may be NULL for no result. */
static enum db_status
run(struct app *app, PGresult **res, enum stmt s, int n,
    const char *const *params)
{
	return db_query(&app->db, res, sql[s], n, params);
}

static int
task_reconcile(struct app *app)
{
	PGresult		*due = NULL;
	enum settle_result	 result;
	const char		*merchant, *payment, *params[2];
	enum db_status		 st;
	int			 i, rc = 0;

	if ((st = run(app, &due, STMT_PAYMENTS_DUE, 0, NULL)) != DB_OK)
		return st == DB_DOWN ? -1 : 0;
	for (i = 0; i < PQntuples(due) && !stop_signal; i++) {
		merchant = PQgetvalue(due, i, 0);
		payment = PQgetvalue(due, i, 1);
		if ((st = db_scope(&app->db, merchant)) != DB_OK) {
			rc = st == DB_DOWN ? -1 : 0;
			break;
		}
		result = payment_check(app, merchant, payment, NULL, "reconcile", 0);
		switch (result) {
		case SETTLE_PENDING:
		case SETTLE_ALREADY_PAID:
			log_event(LOG_DEBUG, "reconciled", "%s: %s", payment,
			    settle_result_name(result));
			break;
		case SETTLE_UNREACHABLE:
			/* payment_check set the next look itself. */
			log_event(LOG_WARN, "reconcile_unreachable", "%s: the "
			    "status API did not answer", payment);
			break;
		case SETTLE_ERROR:
			/* Our side failed: look again later, not every tick. */
			log_event(LOG_WARN, "reconcile_failed", "%s: not "
			    "checked; again in " DEFER_S " s", payment);
			params[0] = payment;
			params[1] = merchant;
			if (run(app, NULL, STMT_PAYMENT_DEFER, 2, params) ==
			    DB_DOWN)
				rc = -1;
			break;
		default:
			log_event(LOG_INFO, "reconciled", "%s: %s", payment,
			    settle_result_name(result));
			break;
		}
		if (rc != 0)
			break;
	}
	PQclear(due);
	return rc;
}

/* Seconds before a failed job's next attempt: 5 s doubling, at most 1 h. */
static long
job_backoff(int attempts)
{
	long	delay = JOB_BACKOFF_FIRST_S;

	while (--attempts > 0 && delay < JOB_BACKOFF_MAX_S)
		delay *= 2;
	return delay > JOB_BACKOFF_MAX_S ? JOB_BACKOFF_MAX_S : delay;
}

/*
 * Claims one job (another worker may have taken it: then nothing), runs
 * it and records the result. Returns 0, or -1 when the database is down
 * (an unrecorded job stays 'running' until task_recover puts it back).
 */
static int
job_run(struct app *app, const char *merchant, const char *id)
{
	PGresult		*claim = NULL;
	struct job		 job;
	enum job_result		 result;
	enum db_status		 st;
	job_fn			 fn;
	const char		*params[4], *status;
	char			 delay[24];
	long			 n, max;
	int			 rc = 0;

	memset(&job, 0, sizeof(job));
	params[0] = id;
	params[1] = merchant;
	if ((st = run(app, &claim, STMT_JOB_CLAIM, 2, params)) != DB_OK) {
		rc = st == DB_DOWN ? -1 : 0;
		goto out;
	}
	if (PQntuples(claim) != 1)
		goto out;
	job.id = id;
	job.merchant_id = merchant;
	job.kind = PQgetvalue(claim, 0, 0);
	if (parse_long(PQgetvalue(claim, 0, 2), 0, INT_MAX, &n) != 0 ||
	    parse_long(PQgetvalue(claim, 0, 3), 0, INT_MAX, &max) != 0)
		goto out;
	job.attempts = (int)n;
	job.max_attempts = (int)max;
	job.payload = json_tokener_parse(PQgetvalue(claim, 0, 1));

	if ((fn = job_handler(job.kind)) == NULL) {
		snprintf(job.error, sizeof(job.error), "no worker knows job "
		    "kind \"%.64s\"", job.kind);
		result = JOB_DEAD;
	} else if (job.payload == NULL ||
	    !json_object_is_type(job.payload, json_type_object)) {
		snprintf(job.error, sizeof(job.error), "the payload is not a "
		    "JSON object");
		result = JOB_DEAD;
	} else
		result = fn(app, &job);
	if (result == JOB_RETRY && job.attempts >= job.max_attempts)
		result = JOB_DEAD;

	if (result == JOB_RETRY) {
		snprintf(delay, sizeof(delay), "%ld",
		    job_backoff(job.attempts));
		params[2] = job.error;
		params[3] = delay;
		st = run(app, NULL, STMT_JOB_RETRY, 4, params);
		log_event(LOG_WARN, "job_retry", "job %s (%s) attempt %d of "
		    "%d failed, again in %s s: %s", id, job.kind, job.attempts,
		    job.max_attempts, delay, job.error);
	} else {
		status = result == JOB_DONE ? "done" :
		    result == JOB_WAITING ? "waiting" : "dead";
		params[2] = status;
		params[3] = result == JOB_DONE ? "" : job.error;
		st = run(app, NULL, STMT_JOB_FINISH, 4, params);
		log_event(result == JOB_DEAD ? LOG_WARN : LOG_INFO, "job_end",
		    "job %s (%s) %s%s%s", id, job.kind, status,
		    result == JOB_DONE ? "" : ": ", params[3]);
	}
	if (st == DB_DOWN)
		rc = -1;
out:
	if (job.payload != NULL)
		json_object_put(job.payload);
	PQclear(claim);
	return rc;
}

static int
task_outbox(struct app *app)
{
	PGresult	*due = NULL;
	enum db_status	 st;
	int		 i, rc = 0;

	if ((st = run(app, &due, STMT_OUTBOX_DUE, 0, NULL)) != DB_OK)
		return st == DB_DOWN ? -1 : 0;
	for (i = 0; i < PQntuples(due) && !stop_signal && rc == 0; i++) {
		if ((st = db_scope(&app->db, PQgetvalue(due, i, 0))) != DB_OK)
			rc = st == DB_DOWN ? -1 : 0;
		else
			rc = job_run(app, PQgetvalue(due, i, 0),
			    PQgetvalue(due, i, 1));
	}
	PQclear(due);
	return rc;
}

static int
task_recover(struct app *app)
{
	PGresult	*res;
	enum db_status	 st;

	if ((st = run(app, &res, STMT_OUTBOX_RECOVER, 0, NULL)) != DB_OK)
		return st == DB_DOWN ? -1 : 0;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		log_event(LOG_WARN, "jobs_recovered", "%s job(s) left running "
		    "by a stopped worker put back", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
task_housekeeping(struct app *app)
{
	PGresult	*res;
	enum db_status	 st;
	const char	*params[1];
	char		 limit[24];
	long		 n, total = 0;
	int		 calls;

	snprintf(limit, sizeof(limit), "%d", KEYS_PER_CALL);
	params[0] = limit;
	for (calls = 0; calls < KEYS_CALLS_MAX && !stop_signal; calls++) {
		if ((st = run(app, &res, STMT_KEYS_EXPIRE, 1, params)) !=
		    DB_OK)
			return st == DB_DOWN ? -1 : 0;
		n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		total += n;
		if (n < KEYS_PER_CALL)
			break;
	}
	log_event(LOG_INFO, "housekeeping", "%ld idempotency key(s) older "
	    "than " KEYS_MAX_AGE_H " hours deleted", total);
	return 0;
}

/*
 * During a master-key rotation (MASTER_KEY_PREVIOUS set): reads every
 * gateway account once, which seals what the previous key opened under
 * the current one (payment.c), and says when none is left on the old key.
 * Without a previous key there is nothing to do.
 */
static int
task_reseal(struct app *app)
{
	struct gateway	 gw;
	PGresult	*res;
	enum db_status	 st;
	enum provider	 p;
	int		 i, n, broken = 0;

	if (!app->cfg.has_previous_key)
		return 0;
	if ((st = run(app, &res, STMT_GATEWAYS_ALL, 0, NULL)) != DB_OK)
		return st == DB_DOWN ? -1 : 0;
	n = PQntuples(res);
	for (i = 0; i < n && !stop_signal; i++) {
		if (provider_parse(PQgetvalue(res, i, 1), &p) != 0 ||
		    db_scope(&app->db, PQgetvalue(res, i, 0)) != DB_OK)
			continue;
		if (!gateway_usable(gateway_load(app, PQgetvalue(res, i, 0), p,
		    &gw)))
			broken++;
		wipe(&gw, sizeof(gw));
	}
	PQclear(res);
	if (broken == 0)
		log_event(LOG_INFO, "reseal_done", "all %d gateway account(s) "
		    "open under the current master key; MASTER_KEY_PREVIOUS "
		    "can be removed", n);
	else
		log_event(LOG_WARN, "reseal_incomplete", "%d of %d gateway "
		    "account(s) open under neither master key", broken, n);
	return 0;
}

/*
 * The worker itself: runs the tasks until TERM or INT. Returns the exit
 * status.
 */
static int
worker_main(void)
{
	struct app	 app;
	long long	 last[TASK__MAX], now;
	long		 interval, delay;
	const char	*env;
	int		 i, down, was_down = 0;

	catch_stop();
	if (app_init(&app, "worker", sql, STMT__MAX) != 0)
		return 1;
	interval = INTERVAL_DEFAULT_MS;
	if ((env = getenv("WORKER_INTERVAL_MS")) != NULL && env[0] != '\0' &&
	    parse_long(env, 10, 3600 * 1000L, &interval) != 0) {
		log_event(LOG_ERROR, "config_invalid", "WORKER_INTERVAL_MS "
		    "must be an integer from 10 to 3600000");
		app_free(&app);
		return 1;
	}
	for (i = 0; i < TASK__MAX; i++)
		last[i] = -1;
	delay = interval;
	while (!stop_signal) {
		down = 0;
		for (i = 0; i < TASK__MAX && !stop_signal && !down; i++) {
			now = monotonic_ms();
			if (last[i] >= 0 && now - last[i] < tasks[i].period_ms)
				continue;
			if (tasks[i].run(&app) != 0)
				down = 1;
			else
				last[i] = now;
		}
		if (app.db.scope[0] != '\0')
			db_scope(&app.db, NULL);
		if (down && !was_down)
			log_event(LOG_WARN, "database_down", "PostgreSQL is "
			    "unavailable; retrying, less often while it is");
		else if (!down && was_down)
			log_event(LOG_INFO, "database_up", "PostgreSQL is "
			    "back; working");
		was_down = down;
		delay = down ? (delay * 2 > DOWN_DELAY_MAX_MS ?
		    DOWN_DELAY_MAX_MS : delay * 2) : interval;
		nap(delay);
	}
	log_event(LOG_INFO, "stopped", "signal %d", (int)stop_signal);
	app_free(&app);
	return 0;
}

/*
 * The parent: keeps one worker running, and stops when told to and the
 * worker has stopped. Returns the exit status.
 */
static int
supervise(void)
{
	pid_t		 pid, parent = getpid();
	long long	 started;
	long		 backoff = RESTART_FIRST_S;
	int		 status;

	catch_stop();
	log_event(LOG_INFO, "supervisor_started", "pid %ld", (long)parent);
	while (!stop_signal) {
		started = monotonic_ms();
		if ((pid = fork()) < 0) {
			log_event(LOG_ERROR, "fork_failed", "%s",
			    strerror(errno));
			nap(backoff * 1000);
			continue;
		}
		if (pid == 0) {
			/* The worker dies with its supervisor. */
			child_pid = 0;
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
			exit(worker_main());
		}
		child_pid = pid;
		if (stop_signal)
			kill(pid, (int)stop_signal);
		log_event(LOG_INFO, "worker_started", "pid %ld", (long)pid);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			continue;
		child_pid = 0;
		if (stop_signal)
			break;
		if (monotonic_ms() - started >= GOOD_RUN_S * 1000LL)
			backoff = RESTART_FIRST_S;
		if (WIFSIGNALED(status))
			log_event(LOG_ERROR, "worker_died", "pid %ld killed by "
			    "signal %d; restarting in %ld s", (long)pid,
			    WTERMSIG(status), backoff);
		else
			log_event(LOG_ERROR, "worker_died", "pid %ld exited "
			    "with %d; restarting in %ld s", (long)pid,
			    WEXITSTATUS(status), backoff);
		nap(backoff * 1000);
		backoff = backoff * 2 > RESTART_MAX_S ? RESTART_MAX_S :
		    backoff * 2;
	}
	log_event(LOG_INFO, "supervisor_stopped", "signal %d",
	    (int)stop_signal);
	return 0;
}

int
main(int argc, char *argv[])
{
	int	level;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--foreground") != 0)) {
		fprintf(stderr, "usage: worker [--foreground]\n");
		return 2;
	}
	if (argc == 2)
		return worker_main();
	level = log_level_parse(getenv("LOG_LEVEL") != NULL ?
	    getenv("LOG_LEVEL") : "info");
	log_init("worker", level < 0 ? LOG_INFO : level);
	return supervise();
}
