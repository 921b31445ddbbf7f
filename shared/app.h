/*
 * app.h: what a FastCGI process holds for its whole life: configuration,
 * the PostgreSQL and Redis connections, and its name for the logs.
 */
#ifndef COMMERCE_APP_H
#define COMMERCE_APP_H

#include "config.h"
#include "db.h"
#include "http.h"
#include "kv.h"

struct app {
	const char	*service;
	struct config	 cfg;
	struct db	 db;
	struct kv	 kv;
};

/*
 * Loads configuration, opens logs, PostgreSQL and Redis, prepares the
 * group's statements. Returns 0, or -1 (logged) when the process cannot run.
 */
int	app_init(struct app *, const char *service, const char *const *sql, int nsql);
void	app_free(struct app *);

/*
 * The gates every request passes before its handler, in order: credential
 * (401 unless the route is open), then rate limit (429). Each returns 0, or
 * -1 having answered. Afterwards the database session's merchant scope is
 * the caller's (auth_resolve sets it in the query that checks the
 * credential), or none on an open route.
 */
int	authenticate_or_respond(struct app *, struct request *, const struct route *);
int	rate_limit_or_respond(struct app *, struct request *, const struct route *);

/*
 * Runs a statement for a handler: returns the result (caller PQclear()s) or
 * NULL having answered 503 (database down) or 500 (any other failure).
 */
PGresult	*query_or_respond(struct app *, struct request *, const char *sql,
		    int nparams, const char *const *params);

/* Serves requests until the process is told to stop: the loop of main(). */
void	app_serve(struct app *, const struct route *routes, size_t nroutes);

#endif
