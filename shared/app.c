/*
 * app.c: process start-up and the gates every request passes: route,
 * body, credential, rate limit. Handlers run only behind all four.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "ratelimit.h"

#define RATE_WINDOW	60
#define TOKEN_LEN_MIN	16
#define TOKEN_LEN_MAX	128

/* Resolves a credential hash and sets the merchant scope (sql/001). */
static const char sql_auth_resolve[] =
    "SELECT merchant_id, credential_id, kind FROM auth_resolve($1)";

int
app_init(struct app *app, const char *service, const char *const *sql,
    int nsql)
{
	char	err[256];

	memset(app, 0, sizeof(*app));
	app->service = service;
	log_init(service, LOG_INFO);
	if (config_load(&app->cfg, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "config_invalid", "%s", err);
		return -1;
	}
	log_init(service, app->cfg.log_level);
	if (!app->cfg.production && getenv("MASTER_KEY") == NULL &&
	    getenv("MASTER_KEY_FILE") == NULL)
		log_event(LOG_WARN, "dev_master_key", "no MASTER_KEY: using "
		    "the public development key");
	kv_open(&app->kv, app->cfg.redis_socket, app->cfg.redis_host,
	    app->cfg.redis_port);
	if (db_open(&app->db, app->cfg.database_url) != 0)
		log_event(LOG_WARN, "db_unavailable_at_start", "will retry "
		    "on each request");
	if (db_prepare_all(&app->db, sql, nsql) != 0) {
		log_event(LOG_ERROR, "db_statements_invalid", "a statement "
		    "did not prepare; see the line above");
		return -1;
	}
	log_event(LOG_INFO, "started", "pid %ld", (long)getpid());
	return 0;
}

void
app_free(struct app *app)
{
	db_close(&app->db);
	kv_close(&app->kv);
	wipe(app->cfg.master_key, sizeof(app->cfg.master_key));
	wipe(app->cfg.previous_key, sizeof(app->cfg.previous_key));
}

PGresult *
query_or_respond(struct app *app, struct request *r, const char *sql,
    int nparams, const char *const *params)
{
	PGresult	*res;

	switch (db_query(&app->db, &res, sql, nparams, params)) {
	case DB_OK:
		return res;
	case DB_DOWN:
		respond_error(r, ERR_UNAVAILABLE, "the database is "
		    "unavailable; retry shortly", NULL);
		return NULL;
	default:
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return NULL;
	}
}

/* The token of an "Authorization: Bearer <token>" header, or NULL. */
static const char *
bearer_token(const char *header)
{
	const char	*t;
	size_t		 len;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	for (t = header + 7; *t == ' '; t++)
		continue;
	len = strlen(t);
	if (len < TOKEN_LEN_MIN || len > TOKEN_LEN_MAX)
		return NULL;
	for (; *t != '\0'; t++)
		if (!isalnum((unsigned char)*t) && *t != '_' && *t != '-')
			return NULL;
	return header + 7 + strspn(header + 7, " ");
}

int
authenticate_or_respond(struct app *app, struct request *r,
    const struct route *route)
{
	const char	*token, *params[1];
	char		 hash[TOKEN_HASH_HEX];
	PGresult	*res;
	int		 rc = -1;

	if (route->flags & ROUTE_OPEN) {
		/* No merchant: drop the scope a previous request left. */
		if (app->db.scope[0] != '\0' &&
		    db_scope(&app->db, NULL) != DB_OK) {
			respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
			return -1;
		}
		return 0;
	}
	if ((token = bearer_token(r->authorization)) == NULL) {
		respond_error(r, ERR_UNAUTHORIZED, r->authorization == NULL ?
		    "an Authorization: Bearer header is required" :
		    "the Authorization header must be \"Bearer <token>\"",
		    NULL);
		return -1;
	}
	token_hash(token, hash);
	params[0] = hash;
	if ((res = query_or_respond(app, r, sql_auth_resolve, 1, params))
	    == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		db_scope_known(&app->db, "");
		respond_error(r, ERR_UNAUTHORIZED, "the token or API key is "
		    "invalid, expired or revoked", NULL);
		goto out;
	}
	snprintf(r->principal.merchant_id, sizeof(r->principal.merchant_id),
	    "%s", PQgetvalue(res, 0, 0));
	snprintf(r->principal.credential_id,
	    sizeof(r->principal.credential_id), "%s", PQgetvalue(res, 0, 1));
	r->principal.kind = strcmp(PQgetvalue(res, 0, 2), "session") == 0 ?
	    CREDENTIAL_SESSION : CREDENTIAL_API_KEY;
	db_scope_known(&app->db, r->principal.merchant_id);
	if ((route->flags & ROUTE_SESSION_ONLY) &&
	    r->principal.kind != CREDENTIAL_SESSION) {
		respond_error(r, ERR_BAD_REQUEST, "this route needs a login "
		    "session token, not an API key", NULL);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	wipe(hash, sizeof(hash));
	return rc;
}

int
rate_limit_or_respond(struct app *app, struct request *r,
    const struct route *route)
{
	struct rate_state	st;
	enum rate_verdict	v;
	int			by_addr = (route->flags & ROUTE_OPEN) != 0;

	if (route->flags & ROUTE_NO_LIMIT)
		return 0;
	if (by_addr && !(route->flags & (ROUTE_LIMIT_BY_ADDR |
	    ROUTE_LIMIT_HIGH)))
		return 0;
	if (route->flags & ROUTE_LIMIT_HIGH)
		v = rate_limit_hit(&app->kv, "high", r->remote_addr,
		    app->cfg.rate_limit_webhook, RATE_WINDOW, &st);
	else if (by_addr)
		v = rate_limit_hit(&app->kv, "addr", r->remote_addr,
		    app->cfg.rate_limit_open, RATE_WINDOW, &st);
	else
		v = rate_limit_hit(&app->kv, "cred",
		    r->principal.credential_id, app->cfg.rate_limit,
		    RATE_WINDOW, &st);
	/* Without Redis, only sign-in stops (password guessing); the rest is
	 * served unlimited, and webhooks answer 503 on their own, since their
	 * replay nonces live in Redis too. */
	if (v == RATE_UNKNOWN) {
		if (!(route->flags & ROUTE_LIMIT_BY_ADDR)) {
			log_event(LOG_WARN, "rate_limit_skipped",
			    "redis unavailable; serving without a limit");
			return 0;
		}
		respond_error(r, ERR_UNAVAILABLE, "sign-in is paused while "
		    "the rate limiter is unavailable; retry shortly", NULL);
		return -1;
	}
	response_header(r, "X-RateLimit-Limit", "%ld", st.limit);
	response_header(r, "X-RateLimit-Remaining", "%ld", st.remaining);
	response_header(r, "X-RateLimit-Reset", "%ld", st.reset);
	if (v == RATE_LIMITED) {
		response_header(r, "Retry-After", "%ld", st.reset);
		respond_errorf(r, ERR_RATE_LIMITED, NULL, "rate limit of %ld "
		    "requests a minute reached; retry in %ld seconds",
		    st.limit, st.reset);
		return -1;
	}
	return 0;
}

void
app_serve(struct app *app, const struct route *routes, size_t nroutes)
{
	struct request		 r;
	const struct route	*route;

	while (request_accept(app, &r) == 0) {
		if ((route = route_or_respond(&r, routes, nroutes)) != NULL &&
		    body_or_respond(app, &r, route) == 0 &&
		    authenticate_or_respond(app, &r, route) == 0 &&
		    rate_limit_or_respond(app, &r, route) == 0)
			route->handler(app, &r);
		db_rollback(&app->db);
		request_finish(app, &r);
	}
}
