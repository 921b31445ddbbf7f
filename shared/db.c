/*
 * db.c: one libpq connection per process, statements prepared by name
 * ("s<index>") on first use and again after each reconnect.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

static const char sql_begin[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_scope[] =
    "SELECT set_config('app.merchant_id', $1, false)";
static const char sql_ping[] = "SELECT 1";

static int
db_connected(struct db *db)
{
	return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

/* (Re)connects; forgets what was prepared. Returns 0 or -1. */
static int
db_connect(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	memset(db->prepared, 0, sizeof(db->prepared));
	db->in_transaction = 0;
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_event(LOG_WARN, "db_connect_failed", "%s",
		    PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
		return -1;
	}
	return 0;
}

int
db_open(struct db *db, const char *conninfo)
{
	memset(db, 0, sizeof(*db));
	db->conninfo = conninfo;
	return db_connect(db);
}

void
db_close(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
}

/* Index of a statement text, registering it on first sight; -1 if full. */
static int
db_index(struct db *db, const char *sql)
{
	int	i;

	for (i = 0; i < db->nsql; i++)
		if (db->sql[i] == sql)
			return i;
	if (db->nsql == DB_STATEMENTS_MAX) {
		log_event(LOG_ERROR, "db_statements_full", "raise "
		    "DB_STATEMENTS_MAX");
		return -1;
	}
	db->sql[db->nsql] = sql;
	return db->nsql++;
}

static int
db_prepare(struct db *db, int i)
{
	PGresult	*res;
	char		 name[16];
	int		 ok;

	if (db->prepared[i])
		return 0;
	snprintf(name, sizeof(name), "s%d", i);
	res = PQprepare(db->conn, name, db->sql[i], 0, NULL);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		log_event(LOG_ERROR, "db_prepare_failed", "%s: %s",
		    db->sql[i], PQresultErrorMessage(res));
	PQclear(res);
	db->prepared[i] = (unsigned char)ok;
	return ok ? 0 : -1;
}

int
db_prepare_all(struct db *db, const char *const *sql, int n)
{
	int	i, idx;

	for (i = 0; i < n; i++) {
		if ((idx = db_index(db, sql[i])) < 0)
			return -1;
		if (db_connected(db) && db_prepare(db, idx) != 0)
			return -1;
	}
	return 0;
}

/* Maps a failed result to a status, remembering the constraint name. */
static enum db_status
db_classify(struct db *db, PGresult *res)
{
	const char	*state, *constraint;

	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	snprintf(db->constraint, sizeof(db->constraint), "%s",
	    constraint != NULL ? constraint : "");
	if (state == NULL)
		return DB_ERROR;
	if (strcmp(state, "23505") == 0)
		return DB_UNIQUE_VIOLATION;
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return DB_CHECK_VIOLATION;
	return DB_ERROR;
}

/* Puts the session's merchant scope back after a reconnect. */
static int
db_restore_scope(struct db *db)
{
	const char	*params[1] = { db->scope };
	PGresult	*res;
	int		 i, ok;
	char		 name[16];

	if (db->scope[0] == '\0')
		return 0;
	if ((i = db_index(db, sql_scope)) < 0 || db_prepare(db, i) != 0)
		return -1;
	snprintf(name, sizeof(name), "s%d", i);
	res = PQexecPrepared(db->conn, name, 1, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok ? 0 : -1;
}

enum db_status
db_query(struct db *db, PGresult **out, const char *sql, int nparams,
    const char *const *params)
{
	PGresult	*res = NULL;
	ExecStatusType	 st;
	enum db_status	 rc = DB_ERROR;
	int		 i, attempt, was_in_tx;
	char		 name[16];

	if (out != NULL)
		*out = NULL;
	if ((i = db_index(db, sql)) < 0)
		return DB_ERROR;
	snprintf(name, sizeof(name), "s%d", i);
	for (attempt = 0; attempt < 2; attempt++) {
		was_in_tx = db->in_transaction;
		if (!db_connected(db)) {
			if (was_in_tx || db_connect(db) != 0 ||
			    db_restore_scope(db) != 0)
				return DB_DOWN;
		}
		if (db_prepare(db, i) != 0) {
			if (!db_connected(db))
				continue;
			return DB_ERROR;
		}
		res = PQexecPrepared(db->conn, name, nparams, params, NULL,
		    NULL, 0);
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (out != NULL)
				*out = res;
			else
				PQclear(res);
			return DB_OK;
		}
		if (db_connected(db)) {
			rc = db_classify(db, res);
			if (rc == DB_ERROR)
				log_event(LOG_ERROR, "db_query_failed",
				    "%.80s: %s", sql,
				    PQresultErrorMessage(res));
			PQclear(res);
			return rc;
		}
		PQclear(res);
		log_event(LOG_WARN, "db_connection_lost", "%s",
		    was_in_tx ? "inside a transaction" : "retrying once");
		if (was_in_tx) {
			db->in_transaction = 0;
			return DB_DOWN;
		}
	}
	return DB_DOWN;
}

enum db_status
db_begin(struct db *db)
{
	enum db_status	st;

	if ((st = db_query(db, NULL, sql_begin, 0, NULL)) == DB_OK)
		db->in_transaction = 1;
	return st;
}

enum db_status
db_commit(struct db *db)
{
	enum db_status	st;

	st = db_query(db, NULL, sql_commit, 0, NULL);
	db->in_transaction = 0;
	return st;
}

void
db_rollback(struct db *db)
{
	if (!db->in_transaction)
		return;
	if (db_connected(db))
		db_query(db, NULL, sql_rollback, 0, NULL);
	db->in_transaction = 0;
}

enum db_status
db_scope(struct db *db, const char *merchant_id)
{
	const char	*params[1];
	enum db_status	 st;

	params[0] = merchant_id != NULL ? merchant_id : "";
	st = db_query(db, NULL, sql_scope, 1, params);
	db_scope_known(db, st == DB_OK ? params[0] : "");
	return st;
}

void
db_scope_known(struct db *db, const char *merchant_id)
{
	snprintf(db->scope, sizeof(db->scope), "%s",
	    merchant_id != NULL ? merchant_id : "");
}

int
db_ping(struct db *db)
{
	return db_query(db, NULL, sql_ping, 0, NULL) == DB_OK;
}
