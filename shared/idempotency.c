/*
 * idempotency.c: Idempotency-Key claims kept in PostgreSQL, in the same
 * transaction as what the request creates, so "created" and "remembered"
 * commit or vanish together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idempotency.h"
#include "log.h"

/* Claims a key, or takes over one older than 24 hours. */
static const char sql_claim[] =
    "INSERT INTO idempotency_keys (merchant_id, key, request_hash) "
    "VALUES ($1, $2, $3) ON CONFLICT (merchant_id, key) DO UPDATE "
    "SET request_hash = EXCLUDED.request_hash, status = NULL, "
    "response = NULL, created_at = now() "
    "WHERE idempotency_keys.created_at < now() - interval '24 hours' "
    "RETURNING 1";
static const char sql_stored[] =
    "SELECT request_hash, status, response FROM idempotency_keys "
    "WHERE merchant_id = $1 AND key = $2";
static const char sql_store[] =
    "UPDATE idempotency_keys SET status = $3, response = $4 "
    "WHERE merchant_id = $1 AND key = $2";

/* 1 when a key is 1-255 printable ASCII characters. */
static int
key_valid(const char *key)
{
	size_t	i;

	for (i = 0; key[i] != '\0'; i++)
		if (i == IDEMPOTENCY_KEY_MAX || key[i] < 0x21 || key[i] > 0x7e)
			return 0;
	return i > 0;
}

/* Hex SHA-256 of what makes two requests "the same": method, path, body. */
static void
request_hash(const struct request *r, char out[TOKEN_HASH_HEX])
{
	unsigned char	 digest[SHA256_LEN];
	char		*buf;
	size_t		 plen = strlen(r->method_name) + strlen(r->path) + 2;

	buf = malloc(plen + r->body_len + 1);
	if (buf == NULL) {
		out[0] = '\0';
		return;
	}
	snprintf(buf, plen + 1, "%s %s\n", r->method_name, r->path);
	if (r->body_len > 0)
		memcpy(buf + plen, r->body, r->body_len);
	sha256(buf, plen + r->body_len, digest);
	hex_encode(digest, sizeof(digest), out);
	free(buf);
}

/* Answers a retry from the stored first response. */
static void
replay(struct app *app, struct request *r, const char *hash)
{
	const char	*params[2] = { r->principal.merchant_id,
			    r->idempotency_key };
	PGresult	*res;
	long		 status;

	if ((res = query_or_respond(app, r, sql_stored, 2, params)) == NULL)
		return;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		respond_error(r, ERR_CONFLICT, "a request with this "
		    "Idempotency-Key is still in progress; retry shortly",
		    NULL);
	} else if (strcmp(PQgetvalue(res, 0, 0), hash) != 0) {
		respond_error(r, ERR_IDEMPOTENCY_KEY_REUSED, NULL,
		    "Idempotency-Key");
	} else if (parse_long(PQgetvalue(res, 0, 1), 200, 299, &status)
	    == 0) {
		response_header(r, "Idempotent-Replayed", "true");
		respond_raw(r, (int)status, "application/json",
		    PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
	} else
		respond_error(r, ERR_INTERNAL, NULL, NULL);
	PQclear(res);
}

int
idempotent_begin_or_respond(struct app *app, struct request *r)
{
	char		 hash[TOKEN_HASH_HEX];
	const char	*params[3] = { r->principal.merchant_id,
			    r->idempotency_key, hash };
	PGresult	*res;
	int		 claimed;

	if (r->idempotency_key != NULL && !key_valid(r->idempotency_key)) {
		respond_error(r, ERR_VALIDATION, "Idempotency-Key must be 1 "
		    "to 255 printable ASCII characters", "Idempotency-Key");
		return -1;
	}
	switch (db_begin(&app->db)) {
	case DB_OK:
		break;
	case DB_DOWN:
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		return -1;
	default:
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	if (r->idempotency_key == NULL)
		return 0;
	request_hash(r, hash);
	if ((res = query_or_respond(app, r, sql_claim, 3, params)) == NULL)
		return -1;
	claimed = PQntuples(res) == 1;
	PQclear(res);
	if (claimed)
		return 0;
	db_rollback(&app->db);
	replay(app, r, hash);
	return -1;
}

void
idempotent_commit_and_respond(struct app *app, struct request *r,
    int status, struct json_object *data)
{
	const char	*params[4];
	char		*text, code[8];
	size_t		 len;
	PGresult	*res;

	if ((text = envelope_text(r, data, &len)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	if (r->idempotency_key != NULL) {
		snprintf(code, sizeof(code), "%d", status);
		params[0] = r->principal.merchant_id;
		params[1] = r->idempotency_key;
		params[2] = code;
		params[3] = text;
		if ((res = query_or_respond(app, r, sql_store, 4, params))
		    == NULL)
			return;
		PQclear(res);
	}
	if (db_commit(&app->db) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, "the change could not be "
		    "saved; retry with the same Idempotency-Key", NULL);
		return;
	}
	respond_raw(r, status, "application/json", text, len);
}
