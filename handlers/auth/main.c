/*
 * auth: merchants sign up, sign in and out, and manage API keys.
 *
 *	POST   /v1/auth/register	open, limited per address
 *	POST   /v1/auth/login		open, limited per address
 *	POST   /v1/auth/logout		session token only
 *	GET    /v1/me
 *	POST   /v1/api-keys
 *	GET    /v1/api-keys
 *	DELETE /v1/api-keys/:id
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "log.h"
#include "password.h"
#include "rowjson.h"
#include "validate.h"

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define MERCHANT_COLUMNS \
	"id, business_name, email, phone, " TS("created_at")

enum stmt {
	STMT_MERCHANT_INSERT,
	STMT_MERCHANT_GET,
	STMT_SESSION_INSERT,
	STMT_SESSION_REVOKE,
	STMT_LOGIN_LOOKUP,
	STMT_KEY_INSERT,
	STMT_KEY_LIST,
	STMT_KEY_REVOKE,
	STMT__MAX,
};

static const char *const sql[STMT__MAX] = {
	[STMT_MERCHANT_INSERT] =
	    "INSERT INTO merchants (id, business_name, email, phone, "
	    "password_hash) VALUES ($1, $2, $3, $4, $5) "
	    "RETURNING " MERCHANT_COLUMNS,
	[STMT_MERCHANT_GET] =
	    "SELECT " MERCHANT_COLUMNS " FROM merchants WHERE id = $1",
	[STMT_SESSION_INSERT] =
	    "INSERT INTO sessions (id, merchant_id, token_hash, expires_at) "
	    "VALUES ($1, $2, $3, now() + make_interval(secs => $4::int)) "
	    "RETURNING " TS("expires_at"),
	[STMT_SESSION_REVOKE] =
	    "UPDATE sessions SET revoked_at = now() "
	    "WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL",
	[STMT_LOGIN_LOOKUP] =
	    "SELECT id, password_hash FROM login_lookup($1)",
	[STMT_KEY_INSERT] =
	    "INSERT INTO api_keys (id, merchant_id, name, prefix, key_hash) "
	    "VALUES ($1, $2, $3, $4, $5) RETURNING " TS("created_at"),
	[STMT_KEY_LIST] =
	    "SELECT id, name, prefix, " TS("created_at") ", "
	    "CASE WHEN last_used_at IS NULL THEN NULL ELSE "
	    TS("last_used_at") " END FROM api_keys "
	    "WHERE merchant_id = $1 AND revoked_at IS NULL "
	    "ORDER BY created_at DESC, id DESC LIMIT 200",
	[STMT_KEY_REVOKE] =
	    "UPDATE api_keys SET revoked_at = now() "
	    "WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL",
};

static void	handle_register(struct app *, struct request *);
static void	handle_login(struct app *, struct request *);
static void	handle_logout(struct app *, struct request *);
static void	handle_me(struct app *, struct request *);
static void	handle_key_create(struct app *, struct request *);
static void	handle_key_list(struct app *, struct request *);
static void	handle_key_revoke(struct app *, struct request *);

enum route_id {
	ROUTE_REGISTER,
	ROUTE_LOGIN,
	ROUTE_LOGOUT,
	ROUTE_ME,
	ROUTE_KEY_CREATE,
	ROUTE_KEY_LIST,
	ROUTE_KEY_REVOKE,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_REGISTER] = { METHOD_POST, "/v1/auth/register",
	    handle_register, ROUTE_OPEN | ROUTE_LIMIT_BY_ADDR },
	[ROUTE_LOGIN] = { METHOD_POST, "/v1/auth/login",
	    handle_login, ROUTE_OPEN | ROUTE_LIMIT_BY_ADDR },
	[ROUTE_LOGOUT] = { METHOD_POST, "/v1/auth/logout",
	    handle_logout, ROUTE_SESSION_ONLY },
	[ROUTE_ME] = { METHOD_GET, "/v1/me", handle_me, 0 },
	[ROUTE_KEY_CREATE] = { METHOD_POST, "/v1/api-keys",
	    handle_key_create, 0 },
	[ROUTE_KEY_LIST] = { METHOD_GET, "/v1/api-keys",
	    handle_key_list, 0 },
	[ROUTE_KEY_REVOKE] = { METHOD_DELETE, "/v1/api-keys/:id",
	    handle_key_revoke, 0 },
};

struct register_in {
	const char	*business_name;
	const char	*email;
	const char	*password;
	const char	*phone;
};

static const struct field register_fields[] = {
	{ "businessName", FIELD_STRING, REQUIRED, 1, 120,
	    offsetof(struct register_in, business_name), NULL, 0, NULL },
	{ "email", FIELD_EMAIL, REQUIRED, 0, 0,
	    offsetof(struct register_in, email), NULL, 0, NULL },
	{ "password", FIELD_TEXT, REQUIRED, 10, 128,
	    offsetof(struct register_in, password), NULL, 0, NULL },
	{ "phone", FIELD_PHONE, REQUIRED, 0, 0,
	    offsetof(struct register_in, phone), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

struct login_in {
	char		*email;		/* lower-cased before the lookup */
	const char	*password;
};

/* Login takes any string so a typo is "incorrect", not a validation error. */
static const struct field login_fields[] = {
	{ "email", FIELD_STRING, REQUIRED, 1, 254,
	    offsetof(struct login_in, email), NULL, 0, NULL },
	{ "password", FIELD_TEXT, REQUIRED, 1, 1024,
	    offsetof(struct login_in, password), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

struct key_in {
	const char	*name;
};

static const struct field key_fields[] = {
	{ "name", FIELD_STRING, REQUIRED, 1, 80,
	    offsetof(struct key_in, name), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

/* The merchant object from a row of MERCHANT_COLUMNS. */
static struct json_object *
merchant_json(const PGresult *res, int row)
{
	struct json_object	*m = json_object_new_object();

	json_object_object_add(m, "id",
	    json_object_new_string(PQgetvalue(res, row, 0)));
	json_object_object_add(m, "businessName",
	    json_object_new_string(PQgetvalue(res, row, 1)));
	json_object_object_add(m, "email",
	    json_object_new_string(PQgetvalue(res, row, 2)));
	json_object_object_add(m, "phone",
	    json_object_new_string(PQgetvalue(res, row, 3)));
	json_object_object_add(m, "createdAt",
	    json_object_new_string(PQgetvalue(res, row, 4)));
	return m;
}

/*
 * Opens a login session for a merchant whose scope is set: a fresh token,
 * stored as its hash. Returns {"token", "expiresAt"} or NULL having answered.
 */
static struct json_object *
session_open(struct app *app, struct request *r, const char *merchant_id)
{
	struct json_object	*out = NULL;
	PGresult		*res = NULL;
	char			 id[RANDOM_ID_MAX], token[RANDOM_TOKEN_MAX];
	char			 hash[TOKEN_HASH_HEX], ttl[24];
	const char		*params[4] = { id, merchant_id, hash, ttl };

	if (random_id("ses", id) != 0 || random_token("mst_", token) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	token_hash(token, hash);
	snprintf(ttl, sizeof(ttl), "%ld", app->cfg.token_ttl);
	if ((res = query_or_respond(app, r, sql[STMT_SESSION_INSERT], 4,
	    params)) == NULL)
		goto out;
	out = json_object_new_object();
	json_object_object_add(out, "token", json_object_new_string(token));
	json_object_object_add(out, "expiresAt",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
out:
	PQclear(res);
	wipe(token, sizeof(token));
	return out;
}

static void
handle_register(struct app *app, struct request *r)
{
	struct register_in	 in = { 0 };
	struct json_object	*data = NULL;
	PGresult		*res = NULL;
	char			 id[RANDOM_ID_MAX], hash[PASSWORD_HASH_MAX];
	const char		*params[5] = { id, NULL, NULL, NULL, hash };

	if (fields_or_respond(r, register_fields, &in) != 0)
		return;
	if (random_id("mer", id) != 0 || password_hash(in.password, hash) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	params[1] = in.business_name;
	params[2] = in.email;
	params[3] = in.phone;

	if (db_begin(&app->db) != DB_OK || db_scope(&app->db, id) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	}
	switch (db_query(&app->db, &res, sql[STMT_MERCHANT_INSERT], 5, params)) {
	case DB_OK:
		break;
	case DB_UNIQUE_VIOLATION:
		respond_error(r, ERR_EMAIL_TAKEN, NULL, "email");
		goto out;
	case DB_DOWN:
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	default:
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	if ((data = session_open(app, r, id)) == NULL)
		goto out;
	if (db_commit(&app->db) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	}
	json_object_object_add(data, "merchant", merchant_json(res, 0));
	log_event(LOG_INFO, "merchant_registered", "%s", id);
	respond_data(r, 201, data);
	data = NULL;
out:
	db_rollback(&app->db);
	json_object_put(data);
	PQclear(res);
	wipe(hash, sizeof(hash));
}

static void
handle_login(struct app *app, struct request *r)
{
	struct login_in		 in = { 0 };
	struct json_object	*data = NULL;
	PGresult		*user = NULL, *merchant = NULL;
	const char		*params[1];
	char			 id[RANDOM_ID_MAX], *p;

	if (fields_or_respond(r, login_fields, &in) != 0)
		return;
	for (p = in.email; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	params[0] = in.email;
	if ((user = query_or_respond(app, r, sql[STMT_LOGIN_LOOKUP], 1,
	    params)) == NULL)
		return;
	if (PQntuples(user) != 1) {
		password_burn(in.password);
		respond_error(r, ERR_INVALID_CREDENTIALS, NULL, NULL);
		goto out;
	}
	if (!password_verify(in.password, PQgetvalue(user, 0, 1))) {
		log_event(LOG_INFO, "login_failed", "%s",
		    PQgetvalue(user, 0, 0));
		respond_error(r, ERR_INVALID_CREDENTIALS, NULL, NULL);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(user, 0, 0));
	if (db_scope(&app->db, id) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	}
	params[0] = id;
	if ((merchant = query_or_respond(app, r, sql[STMT_MERCHANT_GET], 1,
	    params)) == NULL)
		goto out;
	if ((data = session_open(app, r, id)) == NULL)
		goto out;
	json_object_object_add(data, "merchant", merchant_json(merchant, 0));
	respond_data(r, 200, data);
out:
	PQclear(user);
	PQclear(merchant);
}

static void
handle_logout(struct app *app, struct request *r)
{
	struct json_object	*data;
	PGresult		*res;
	const char		*params[2] = { r->principal.credential_id,
				    r->principal.merchant_id };

	if ((res = query_or_respond(app, r, sql[STMT_SESSION_REVOKE], 2,
	    params)) == NULL)
		return;
	PQclear(res);
	data = json_object_new_object();
	json_object_object_add(data, "revoked", json_object_new_boolean(1));
	respond_data(r, 200, data);
}

static void
handle_me(struct app *app, struct request *r)
{
	PGresult	*res;
	const char	*params[1] = { r->principal.merchant_id };

	if ((res = query_or_respond(app, r, sql[STMT_MERCHANT_GET], 1,
	    params)) == NULL)
		return;
	respond_row(r, res, merchant_json, NULL);
}

static void
handle_key_create(struct app *app, struct request *r)
{
	struct key_in		 in = { 0 };
	struct json_object	*data;
	PGresult		*res;
	char			 id[RANDOM_ID_MAX], key[RANDOM_TOKEN_MAX];
	char			 hash[TOKEN_HASH_HEX], prefix[16];
	const char		*params[5] = { id, r->principal.merchant_id,
				    NULL, prefix, hash };

	if (fields_or_respond(r, key_fields, &in) != 0)
		return;
	if (random_id("key", id) != 0 || random_token("sk_", key) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	params[2] = in.name;
	snprintf(prefix, sizeof(prefix), "%.11s", key);
	token_hash(key, hash);
	if ((res = query_or_respond(app, r, sql[STMT_KEY_INSERT], 5,
	    params)) == NULL)
		goto out;
	data = json_object_new_object();
	json_object_object_add(data, "id", json_object_new_string(id));
	json_object_object_add(data, "name", json_object_new_string(in.name));
	json_object_object_add(data, "key", json_object_new_string(key));
	json_object_object_add(data, "prefix", json_object_new_string(prefix));
	json_object_object_add(data, "createdAt",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	PQclear(res);
	log_event(LOG_INFO, "api_key_created", "%s", id);
	respond_data(r, 201, data);
out:
	wipe(key, sizeof(key));
}

static void
handle_key_list(struct app *app, struct request *r)
{
	struct json_object	*data, *list, *k;
	PGresult		*res;
	const char		*params[1] = { r->principal.merchant_id };
	int			 i;

	if ((res = query_or_respond(app, r, sql[STMT_KEY_LIST], 1,
	    params)) == NULL)
		return;
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		k = json_object_new_object();
		json_object_object_add(k, "id",
		    json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(k, "name",
		    json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(k, "prefix",
		    json_object_new_string(PQgetvalue(res, i, 2)));
		json_object_object_add(k, "createdAt",
		    json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_object_add(k, "lastUsedAt",
		    PQgetisnull(res, i, 4) ? NULL :
		    json_object_new_string(PQgetvalue(res, i, 4)));
		json_object_array_add(list, k);
	}
	PQclear(res);
	data = json_object_new_object();
	json_object_object_add(data, "apiKeys", list);
	respond_data(r, 200, data);
}

static void
handle_key_revoke(struct app *app, struct request *r)
{
	struct json_object	*data;
	PGresult		*res;
	const char		*params[2] = { r->params[0],
				    r->principal.merchant_id };
	int			 revoked;

	if ((res = query_or_respond(app, r, sql[STMT_KEY_REVOKE], 2,
	    params)) == NULL)
		return;
	revoked = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (!revoked) {
		respond_error(r, ERR_NOT_FOUND, "no such API key", NULL);
		return;
	}
	log_event(LOG_INFO, "api_key_revoked", "%s", r->params[0]);
	data = json_object_new_object();
	json_object_object_add(data, "id", json_object_new_string(r->params[0]));
	json_object_object_add(data, "revoked", json_object_new_boolean(1));
	respond_data(r, 200, data);
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "auth", sql, STMT__MAX) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
