/*
 * db.h: PostgreSQL through libpq. SQL is constant text with $n parameters;
 * each text is prepared on a connection the first time it is used (and again
 * after a reconnect), so callers pass the text itself from their statement
 * table. A lost connection is re-established on the next query; a query that
 * finds the connection dead outside a transaction is retried once.
 *
 * Row-level security: db_scope() sets app.merchant_id for the session; the
 * policies in sql/ let the application role see only that merchant's rows.
 */
#ifndef COMMERCE_DB_H
#define COMMERCE_DB_H

#include <libpq-fe.h>

#include "crypto.h"

#define DB_STATEMENTS_MAX	128

enum db_status {
	DB_OK,
	DB_UNIQUE_VIOLATION,	/* SQLSTATE 23505 */
	DB_CHECK_VIOLATION,	/* 23514, 23502, 23503, 22xxx: bad data */
	DB_ERROR,		/* any other error the server reported */
	DB_DOWN,		/* no connection */
};

struct db {
	PGconn		*conn;
	const char	*conninfo;
	const char	*sql[DB_STATEMENTS_MAX];	/* known texts, "s<i>" */
	unsigned char	 prepared[DB_STATEMENTS_MAX];	/* on this conn */
	int		 nsql;
	int		 in_transaction;
	char		 scope[RANDOM_ID_MAX];		/* app.merchant_id or "" */
	char		 constraint[64];		/* of the last violation */
};

/* Connects (failure is not fatal: queries reconnect). Returns 0 or -1. */
int	db_open(struct db *, const char *conninfo);
void	db_close(struct db *);

/* Prepares every statement of a table now, to fail fast on a typo.
 * Returns 0, or -1 when one does not prepare. */
int	db_prepare_all(struct db *, const char *const *sql, int n);

/*
 * Runs a prepared statement. On DB_OK, *res holds the result (tuples or
 * command) and the caller PQclear()s it; on any other status *res is NULL.
 * res may be NULL when the caller wants no result.
 */
enum db_status	db_query(struct db *, PGresult **res, const char *sql,
		    int nparams, const char *const *params);

/* BEGIN, COMMIT, ROLLBACK. Rollback is safe to call when no transaction is open. */
enum db_status	db_begin(struct db *);
enum db_status	db_commit(struct db *);
void		db_rollback(struct db *);

/* Sets (or, with "" or NULL, clears) app.merchant_id. Re-applied after a reconnect. */
enum db_status	db_scope(struct db *, const char *merchant_id);

/* Notes a scope the server already set (by an authentication function). */
void	db_scope_known(struct db *, const char *merchant_id);

/* 1 when the server answers a trivial query. */
int	db_ping(struct db *);

#endif
