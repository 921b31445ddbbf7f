/*
 * webhooks: deliveries from the payment gateways.
 *
 *	POST /v1/webhooks/payment/:provider	esewa, khalti, fonepay
 *
 * Every delivery is stored raw before anything acts on it. Then, in order:
 * the seed's X-Signature / X-Timestamp scheme when the headers are there
 * (webhook.h; required for Khalti, which signs nothing itself), the body in
 * the gateway's own return format (its own signature checked where it has
 * one), the payment it names, and finally the gateway's status API, which
 * alone settles the payment (payment.h). A webhook is a hint, like the
 * browser's return; when the status API cannot be asked the answer is 503,
 * so the gateway retries, and nothing is marked paid on a guess.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "httpclient.h"
#include "log.h"
#include "payment.h"
#include "validate.h"
#include "webhook.h"

#define JSON_DEPTH_MAX		16
#define HEADER_KEEP_MAX		256	/* bytes of a header kept with a receipt */
#define SECRETS_TEXT_MAX	1024

enum stmt {
	STMT_RECEIPT_INSERT,
	STMT_RECEIPT_VERDICT,
	STMT_PAYMENT_LOCATE,
	STMT_PAYMENT_STATUS,
	STMT__MAX,
};

static const char *const sql[STMT__MAX] = {
	[STMT_RECEIPT_INSERT] =
	    "INSERT INTO webhook_receipts (kind, provider, content_type, "
	    "x_signature, x_timestamp, remote_addr, request_id, body) "
	    "VALUES ('payment', $1, $2, $3, $4, $5, $6, $7::bytea) "
	    "RETURNING id",
	[STMT_RECEIPT_VERDICT] =
	    "UPDATE webhook_receipts SET verdict = $2, http_status = $3::int, "
	    "merchant_id = nullif($4, ''), payment_id = nullif($5, ''), "
	    "decided_at = clock_timestamp() WHERE id = $1::bigint",
	[STMT_PAYMENT_LOCATE] =
	    "SELECT merchant_id, payment_id FROM payment_locate($1, $2)",
	[STMT_PAYMENT_STATUS] =
	    "SELECT status FROM payments WHERE id = $1 AND merchant_id = $2",
};

static void	handle_payment(struct app *, struct request *);

enum route_id {
	ROUTE_PAYMENT,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_PAYMENT] = { METHOD_POST, "/v1/webhooks/payment/:provider",
	    handle_payment, ROUTE_OPEN | ROUTE_RAW_BODY | ROUTE_LIMIT_HIGH },
};

/*
 * The members of a Khalti or Fonepay webhook body, in the order their
 * return query string carries them (payments.md 2.4, 3.3). eSewa's body is
 * its return's data= JSON itself and needs no list.
 */
static const char *const khalti_params[] = {
	"pidx", "status", "transaction_id", "tidx", "amount", "total_amount",
	"mobile", "purchase_order_id", "purchase_order_name", NULL,
};

static const char *const fonepay_params[] = {
	"PRN", "PID", "PS", "RC", "DV", "UID", "BC", "INI", "P_AMT", "R_AMT",
	NULL,
};

static const char *const *const provider_params[PROVIDER__MAX] = {
	[PROVIDER_ESEWA] = NULL,
	[PROVIDER_KHALTI] = khalti_params,
	[PROVIDER_FONEPAY] = fonepay_params,
};

/*
 * WEBHOOK_SECRETS, read once at start: up to two comma-separated secrets
 * (the current one and, during a rotation, the next). Process-lifetime
 * configuration, like the connections in struct app.
 */
static char		 secrets_text[SECRETS_TEXT_MAX];
static const char	*secrets[WEBHOOK_SECRETS_MAX];

/* One delivery as it goes through the steps: where its receipt is and what
 * it turned out to concern. */
struct delivery {
	char		receipt[24];		/* webhook_receipts.id */
	enum provider	provider;
	char		merchant[RANDOM_ID_MAX];
	char		payment[RANDOM_ID_MAX];
	int		seed_signed;		/* the seed headers verified */
};

/*
 * Splits WEBHOOK_SECRETS into secrets[]. Returns 0, or -1 (logged) when
 * there are more than WEBHOOK_SECRETS_MAX or one is empty.
 */
static int
secrets_load(int production)
{
	const char	*env = getenv("WEBHOOK_SECRETS");
	char		*p, *comma;
	int		 n = 0;

	if (env == NULL || env[0] == '\0') {
		log_event(production ? LOG_ERROR : LOG_WARN,
		    "webhook_secrets_missing", "WEBHOOK_SECRETS is not set: "
		    "seed-signed webhooks (and all of Khalti's) are refused");
		return 0;
	}
	if (strlen(env) >= sizeof(secrets_text)) {
		log_event(LOG_ERROR, "config_invalid", "WEBHOOK_SECRETS is "
		    "longer than %d bytes", SECRETS_TEXT_MAX - 1);
		return -1;
	}
	snprintf(secrets_text, sizeof(secrets_text), "%s", env);
	for (p = secrets_text;; p = comma + 1) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		if (*p == '\0' || n == WEBHOOK_SECRETS_MAX) {
			log_event(LOG_ERROR, "config_invalid", "WEBHOOK_SECRETS "
			    "must be 1 to %d non-empty secrets separated by "
			    "commas", WEBHOOK_SECRETS_MAX);
			wipe(secrets_text, sizeof(secrets_text));
			return -1;
		}
		secrets[n++] = p;
		if (comma == NULL)
			break;
	}
	return 0;
}

/*
 * A header value fit for a text column and a log: at most max bytes,
 * printable ASCII kept, anything else '?'. Arena memory; NULL stays NULL.
 */
static const char *
clean_text(struct request *r, const char *s, size_t max)
{
	char	*out;
	size_t	 i, n;

	if (s == NULL)
		return NULL;
	n = strnlen(s, max);
	if ((out = arena_strndup(&r->arena, s, n)) == NULL)
		return "";
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return out;
}

/*
 * Stores the delivery as received. Returns 0 with d->receipt set, or -1
 * having answered (503: a delivery that cannot be kept is not acted on).
 */
static int
receipt_store(struct app *app, struct request *r, struct delivery *d)
{
	const char	*params[7];
	char		*hex;
	PGresult	*res;

	if ((hex = arena_alloc(&r->arena, 2 * r->body_len + 3)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	memcpy(hex, "\\x", 2);
	hex_encode((const unsigned char *)(r->body != NULL ? r->body : ""),
	    r->body_len, hex + 2);
	params[0] = provider_name(d->provider);
	params[1] = clean_text(r, r->content_type, HEADER_KEEP_MAX);
	params[2] = clean_text(r, request_param(r, "HTTP_X_SIGNATURE"),
	    HEADER_KEEP_MAX);
	params[3] = clean_text(r, request_param(r, "HTTP_X_TIMESTAMP"),
	    HEADER_KEEP_MAX);
	params[4] = clean_text(r, r->remote_addr, HEADER_KEEP_MAX);
	params[5] = r->request_id;
	params[6] = hex;
	if ((res = query_or_respond(app, r, sql[STMT_RECEIPT_INSERT], 7,
	    params)) == NULL)
		return -1;
	snprintf(d->receipt, sizeof(d->receipt), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Records what became of a delivery; a failure is logged, not answered. */
static void
receipt_verdict(struct app *app, const struct delivery *d,
    const char *verdict, int status)
{
	const char	*params[5];
	char		 code[8];

	snprintf(code, sizeof(code), "%d", status);
	params[0] = d->receipt;
	params[1] = verdict;
	params[2] = code;
	params[3] = d->merchant;
	params[4] = d->payment;
	if (db_query(&app->db, NULL, sql[STMT_RECEIPT_VERDICT], 5, params) !=
	    DB_OK)
		log_event(LOG_WARN, "webhook_verdict_not_recorded",
		    "receipt %s: %s", d->receipt, verdict);
}

/* Records the verdict named by the error's code and answers the error. */
static void
reject(struct app *app, struct request *r, const struct delivery *d,
    const char *verdict, enum api_error err, const char *message,
    const char *field)
{
	receipt_verdict(app, d, verdict != NULL ? verdict :
	    api_error_code(err), api_error_status(err));
	log_event(LOG_INFO, "webhook_rejected", "receipt %s %s: %s",
	    d->receipt, provider_name(d->provider), verdict != NULL ?
	    verdict : api_error_code(err));
	respond_error(r, err, message, field);
}

/*
 * Forgets the replay nonce of a seed-signed delivery we did not act on
 * (answered 503), so that the sender's retry of the same bytes is served
 * rather than refused as a replay. The key is webhook_verify()'s.
 */
static void
nonce_release(struct app *app, struct request *r, const struct delivery *d)
{
	const char	*sig;
	char		 scope[64];

	if (!d->seed_signed ||
	    (sig = request_param(r, "HTTP_X_SIGNATURE")) == NULL)
		return;
	snprintf(scope, sizeof(scope), "webhook:%s", provider_name(d->provider));
	webhook_release(&app->kv, scope, sig);
}

/*
 * Checks the seed's X-Signature / X-Timestamp when the request has either
 * header; Khalti's deliveries must have them. Returns 0 (d->seed_signed
 * says whether they were there and verified), or -1 having answered.
 */
static int
seed_signature_or_respond(struct app *app, struct request *r,
    struct delivery *d)
{
	const char	*sig = request_param(r, "HTTP_X_SIGNATURE");
	const char	*ts = request_param(r, "HTTP_X_TIMESTAMP");
	char		 scope[32];

	if (sig == NULL && ts == NULL) {
		if (d->provider != PROVIDER_KHALTI)
			return 0;
		reject(app, r, d, "unsigned", ERR_INVALID_SIGNATURE,
		    "Khalti webhooks must carry X-Signature and X-Timestamp "
		    "(HMAC-SHA256 of timestamp.body)", NULL);
		return -1;
	}
	snprintf(scope, sizeof(scope), "webhook:%s",
	    provider_name(d->provider));
	switch (webhook_verify(&app->kv, scope, secrets, ts, sig, r->body,
	    r->body_len, now_ms())) {
	case WEBHOOK_OK:
		d->seed_signed = 1;
		return 0;
	case WEBHOOK_MISSING:
		reject(app, r, d, "invalid_signature", ERR_INVALID_SIGNATURE,
		    "X-Signature must be 64 hex digits and X-Timestamp "
		    "milliseconds since the epoch", NULL);
		return -1;
	case WEBHOOK_BAD_SIGNATURE:
		reject(app, r, d, NULL, ERR_INVALID_SIGNATURE, NULL, NULL);
		return -1;
	case WEBHOOK_STALE:
		reject(app, r, d, "stale", ERR_INVALID_SIGNATURE,
		    "timestamp outside the five-minute window", NULL);
		return -1;
	case WEBHOOK_REPLAYED:
		reject(app, r, d, NULL, ERR_REPLAYED, NULL, NULL);
		return -1;
	case WEBHOOK_UNAVAILABLE:
	default:
		reject(app, r, d, NULL, ERR_UNAVAILABLE, "replay protection "
		    "is unavailable; retry shortly", NULL);
		return -1;
	}
}

/* 1 when the content type is application/json, with or without parameters. */
static int
content_type_json(const char *ct)
{
	size_t	len = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", len) != 0)
		return 0;
	return ct[len] == '\0' || ct[len] == ';' || ct[len] == ' ';
}

/*
 * The body as a JSON object (strict syntax, UTF-8, bounded depth). Returns
 * a new reference the caller puts, or NULL having answered.
 */
static struct json_object *
body_object_or_respond(struct app *app, struct request *r,
    const struct delivery *d)
{
	struct json_tokener	*tok;
	struct json_object	*obj = NULL;
	size_t			 at;

	if (!content_type_json(r->content_type)) {
		reject(app, r, d, NULL, ERR_UNSUPPORTED_MEDIA_TYPE, NULL, NULL);
		return NULL;
	}
	if (r->body_len == 0 || json_syntax_check(r->body, r->body_len,
	    JSON_DEPTH_MAX, &at) != 0) {
		reject(app, r, d, NULL, ERR_INVALID_JSON, r->body_len == 0 ?
		    "the request body is empty" : NULL, NULL);
		return NULL;
	}
	if ((tok = json_tokener_new_ex(JSON_DEPTH_MAX)) == NULL) {
		reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
		return NULL;
	}
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		if (obj != NULL)
			json_object_put(obj);
		obj = NULL;
		reject(app, r, d, NULL, ERR_INVALID_JSON,
		    "the request body must be a JSON object", NULL);
	}
	json_tokener_free(tok);
	return obj;
}

/*
 * The body in the form the gateway's return parser reads (gateway.h):
 * eSewa "data=" + base64 of the raw body (its callback is exactly that);
 * Khalti and Fonepay their return parameters as a query string, each
 * value percent-encoded, members outside their list ignored. Returns the
 * text (arena), or NULL having answered 422.
 */
static const char *
claim_query_or_respond(struct app *app, struct request *r,
    const struct delivery *d, struct json_object *obj)
{
	const char *const	*name;
	struct json_object	*v;
	char			*out, *esc;
	size_t			 len = 0, cap;
	int			 n;

	if (d->provider == PROVIDER_ESEWA) {
		if (!json_object_object_get_ex(obj, "transaction_uuid", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0) {
			reject(app, r, d, NULL, ERR_VALIDATION, "transaction_uuid "
			    "is required: the payment's reference",
			    "transaction_uuid");
			return NULL;
		}
		if ((out = arena_alloc(&r->arena,
		    base64_encoded_len(r->body_len) + 6)) == NULL) {
			reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
			return NULL;
		}
		memcpy(out, "data=", 5);
		base64_encode((const unsigned char *)r->body, r->body_len,
		    out + 5);
		return out;
	}

	/* Each value at most triples when escaped; names are short. */
	cap = 3 * r->body_len + 256;
	if ((out = arena_alloc(&r->arena, cap)) == NULL) {
		reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
		return NULL;
	}
	for (name = provider_params[d->provider]; *name != NULL; name++) {
		if (!json_object_object_get_ex(obj, *name, &v) || v == NULL)
			continue;
		switch (json_object_get_type(v)) {
		case json_type_string:
		case json_type_int:
		case json_type_double:
		case json_type_boolean:
			break;
		default:
			reject(app, r, d, NULL, ERR_VALIDATION, arena_printf(
			    &r->arena, "%s must be a string or a number",
			    *name), *name);
			return NULL;
		}
		if ((esc = http_escape(json_object_get_string(v))) == NULL) {
			reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
			return NULL;
		}
		n = snprintf(out + len, cap - len, "%s%s=%s",
		    len > 0 ? "&" : "", *name, esc);
		free(esc);
		if (n < 0 || (size_t)n >= cap - len) {
			reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
			return NULL;
		}
		len += (size_t)n;
	}
	return out;
}

/*
 * Finds the payment a claim names and scopes the session to its merchant
 * (payment_locate sets it; db_scope_known notes it). Returns 0 with
 * d->merchant and d->payment set, or -1 having answered.
 */
static int
locate_or_respond(struct app *app, struct request *r, struct delivery *d,
    const char *reference)
{
	const char	*params[2] = { provider_name(d->provider), reference };
	PGresult	*res;

	switch (db_query(&app->db, &res, sql[STMT_PAYMENT_LOCATE], 2,
	    params)) {
	case DB_OK:
		break;
	case DB_DOWN:
		reject(app, r, d, NULL, ERR_UNAVAILABLE, NULL, NULL);
		return -1;
	default:
		reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_scope_known(&app->db, "");
		reject(app, r, d, NULL, ERR_NOT_FOUND, "no payment has this "
		    "reference", NULL);
		return -1;
	}
	snprintf(d->merchant, sizeof(d->merchant), "%s",
	    PQgetvalue(res, 0, 0));
	snprintf(d->payment, sizeof(d->payment), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	db_scope_known(&app->db, d->merchant);
	snprintf(r->principal.merchant_id, sizeof(r->principal.merchant_id),
	    "%s", d->merchant);
	return 0;
}

/*
 * Loads the merchant's gateway into gw (the caller wipes it) and reads the
 * claim with its secret. Returns 0 with the claim filled and verified as
 * far as anyone signed it, or -1 having answered: 401 for a bad gateway
 * signature, or for a claim nobody signed.
 */
static int
claim_or_respond(struct app *app, struct request *r, struct delivery *d,
    const char *query, const char *reference, struct gateway *gw,
    struct pay_claim *claim)
{
	switch (gateway_load(app, d->merchant, d->provider, gw)) {
	case GATEWAY_LOADED:
	case GATEWAY_DISABLED:
		break;
	case GATEWAY_DB_DOWN:
		reject(app, r, d, NULL, ERR_UNAVAILABLE, NULL, NULL);
		return -1;
	default:
		log_event(LOG_ERROR, "webhook_gateway_unusable", "%s %s",
		    d->merchant, provider_name(d->provider));
		reject(app, r, d, NULL, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	if (gateway_read_claim(gw, query, claim) != 0 ||
	    strcmp(claim->reference, reference) != 0) {
		reject(app, r, d, NULL, ERR_VALIDATION, arena_printf(&r->arena,
		    "the body is not a readable %s payment notification",
		    provider_name(d->provider)), NULL);
		return -1;
	}
	if (claim->signature < 0) {
		reject(app, r, d, NULL, ERR_INVALID_SIGNATURE, arena_printf(
		    &r->arena, "the %s signature does not verify",
		    provider_name(d->provider)), NULL);
		return -1;
	}
	if (claim->signature == 0 && !d->seed_signed) {
		reject(app, r, d, "unsigned", ERR_INVALID_SIGNATURE, "the body "
		    "is unsigned: send X-Signature and X-Timestamp", NULL);
		return -1;
	}
	return 0;
}

static void
handle_payment(struct app *app, struct request *r)
{
	struct delivery		 d;
	struct gateway		 gw;
	struct pay_claim	 claim;
	struct json_object	*obj = NULL, *data, *pay;
	enum settle_result	 result;
	PGresult		*res = NULL;
	const char		*query, *params[2];
	unsigned char		 digest[SHA256_LEN];
	char			 reference[64], key[8 + 2 * SHA256_LEN + 1];
	char			*note;
	int			 stored;

	memset(&d, 0, sizeof(d));
	memset(&gw, 0, sizeof(gw));
	if (provider_parse(r->params[0], &d.provider) != 0) {
		respond_error(r, ERR_NOT_FOUND, "the provider is not esewa, "
		    "khalti or fonepay", NULL);
		return;
	}
	if (receipt_store(app, r, &d) != 0)
		return;
	if (!kv_ping(&app->kv)) {
		reject(app, r, &d, NULL, ERR_UNAVAILABLE, "replay protection "
		    "is unavailable; retry shortly", NULL);
		return;
	}
	if (seed_signature_or_respond(app, r, &d) != 0)
		return;
	if ((obj = body_object_or_respond(app, r, &d)) == NULL)
		goto release;
	if ((query = claim_query_or_respond(app, r, &d, obj)) == NULL)
		goto release;
	if (gateway_claim_reference(d.provider, query, reference) != 0) {
		reject(app, r, &d, NULL, ERR_VALIDATION, arena_printf(
		    &r->arena, "the body names no payment reference (%s)",
		    d.provider == PROVIDER_ESEWA ? "transaction_uuid" :
		    d.provider == PROVIDER_KHALTI ? "purchase_order_id" :
		    "PRN"), NULL);
		goto release;
	}
	if (locate_or_respond(app, r, &d, reference) != 0 ||
	    claim_or_respond(app, r, &d, query, reference, &gw, &claim) != 0)
		goto release;

	/* The same bytes delivered again are one event. */
	sha256(r->body, r->body_len, digest);
	memcpy(key, "webhook:", 8);
	hex_encode(digest, SHA256_LEN, key + 8);
	note = arena_printf(&r->arena, "webhook claims %s (%s)",
	    pay_outcome_name(claim.outcome), claim.signature > 0 ?
	    "gateway signature verified" : "seed signature verified");
	if ((stored = payment_event(app, d.merchant, d.payment, "webhook",
	    key, r->body, note)) < 0) {
		reject(app, r, &d, NULL, ERR_UNAVAILABLE, NULL, NULL);
		goto release;
	}

	result = payment_check(app, d.merchant, d.payment, &gw, "webhook", 0);
	switch (result) {
	case SETTLE_UNREACHABLE:
		reject(app, r, &d, "accepted:unreachable", ERR_UNAVAILABLE,
		    arena_printf(&r->arena, "%s's status API did not answer; "
		    "retry shortly", provider_name(d.provider)), NULL);
		goto release;
	case SETTLE_ERROR:
		reject(app, r, &d, "accepted:error", ERR_UNAVAILABLE, NULL,
		    NULL);
		goto release;
	case SETTLE_NOT_FOUND:
		reject(app, r, &d, NULL, ERR_NOT_FOUND, "no payment has this "
		    "reference", NULL);
		goto out;
	default:
		break;
	}
	params[0] = d.payment;
	params[1] = d.merchant;
	if (db_query(&app->db, &res, sql[STMT_PAYMENT_STATUS], 2, params) !=
	    DB_OK || PQntuples(res) != 1) {
		reject(app, r, &d, "accepted:error", ERR_UNAVAILABLE, NULL,
		    NULL);
		goto release;
	}
	receipt_verdict(app, &d, arena_printf(&r->arena, "accepted:%s",
	    settle_result_name(result)), 200);
	log_event(LOG_INFO, "webhook_accepted", "receipt %s payment %s: %s%s",
	    d.receipt, d.payment, settle_result_name(result),
	    stored ? "" : " (duplicate delivery)");
	pay = json_object_new_object();
	json_object_object_add(pay, "id", json_object_new_string(d.payment));
	json_object_object_add(pay, "status",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	data = json_object_new_object();
	json_object_object_add(data, "received", json_object_new_boolean(1));
	json_object_object_add(data, "duplicate",
	    json_object_new_boolean(!stored));
	json_object_object_add(data, "payment", pay);
	respond_data(r, 200, data);
	goto out;
release:
	if (r->status == 503)
		nonce_release(app, r, &d);
out:
	if (obj != NULL)
		json_object_put(obj);
	PQclear(res);
	wipe(&gw, sizeof(gw));
}

int
main(void)
{
	struct app	app;
	int		rc;

	if (app_init(&app, "webhooks", sql, STMT__MAX) != 0)
		return 1;
	if ((rc = secrets_load(app.cfg.production)) == 0)
		app_serve(&app, routes, ROUTE__MAX);
	wipe(secrets_text, sizeof(secrets_text));
	app_free(&app);
	return rc == 0 ? 0 : 1;
}
