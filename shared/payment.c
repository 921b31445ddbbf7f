/*
 * payment.c: gateway accounts, payment events and settlement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "payment.h"

#define RECHECK_FIRST_S		15
#define RECHECK_MAX_S		1800
#define AMBIGUOUS_GRACE		"24 hours"

enum stmt {
	STMT_GATEWAY_GET,
	STMT_GATEWAY_RESEAL,
	STMT_EVENT_INSERT,
	STMT_PAYMENT_GET,
	STMT_PAYMENT_LOCK,
	STMT_PAYMENT_PAID,
	STMT_ORDER_PAID,
	STMT_CONFIRMATION,
	STMT_PAYMENT_RECHECK,
	STMT_PAYMENT_FINAL,
	STMT_ORDER_FAILED,
	STMT_PAYMENT_FLAG,
	STMT_PAYMENT_REFUNDED,
	STMT_ORDER_REFUNDED,
	STMT__MAX,
};

static const char *const sql[STMT__MAX] = {
	[STMT_GATEWAY_GET] =
	    "SELECT enabled, test_mode, public_config::text, sealed_secrets "
	    "FROM payment_gateways WHERE merchant_id = $1 AND provider = $2",
	/* Only if nobody changed the row meanwhile. */
	[STMT_GATEWAY_RESEAL] =
	    "UPDATE payment_gateways SET sealed_secrets = $3 "
	    "WHERE merchant_id = $1 AND provider = $2 AND sealed_secrets = $4",
	[STMT_EVENT_INSERT] =
	    "INSERT INTO payment_events (merchant_id, payment_id, source, "
	    "dedupe_key, raw, note) VALUES ($1, $2, $3, $4, $5, $6) "
	    "ON CONFLICT (payment_id, dedupe_key) DO NOTHING RETURNING id",
	[STMT_PAYMENT_GET] =
	    "SELECT provider, reference, coalesce(provider_ref, ''), "
	    "amount_paisa, status FROM payments "
	    "WHERE id = $1 AND merchant_id = $2",
	/* The order is locked too: two payments of one order settle one
	 * after the other, so the second sees the first. */
	[STMT_PAYMENT_LOCK] =
	    "SELECT p.status, p.amount_paisa, p.order_id, p.checks, "
	    "now() > p.expires_at, now() > p.expires_at + interval '"
	    AMBIGUOUS_GRACE "', EXISTS (SELECT 1 FROM payments x "
	    "WHERE x.order_id = p.order_id AND x.merchant_id = p.merchant_id "
	    "AND x.status = 'paid' AND x.id <> p.id) "
	    "FROM payments p JOIN orders o ON o.id = p.order_id "
	    "WHERE p.id = $1 AND p.merchant_id = $2 FOR UPDATE OF p, o",
	[STMT_PAYMENT_PAID] =
	    "UPDATE payments SET status = 'paid', paid_at = now(), "
	    "provider_ref = coalesce(nullif($3, ''), provider_ref), "
	    "next_check_at = NULL, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2 AND status <> 'paid'",
	[STMT_ORDER_PAID] =
	    "UPDATE orders SET payment_status = 'paid', "
	    "payment_method = $3, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2",
	[STMT_CONFIRMATION] =
	    "INSERT INTO outbox (merchant_id, kind, dedupe_key, payload) "
	    "VALUES ($1, 'payment_confirmation', "
	    "'payment_confirmation:' || $2, jsonb_build_object("
	    "'paymentId', $2::text, 'orderId', $3::text)) "
	    "ON CONFLICT (dedupe_key) DO NOTHING",
	[STMT_PAYMENT_RECHECK] =
	    "UPDATE payments SET status = 'pending', checks = checks + 1, "
	    "next_check_at = now() + make_interval(secs => $3::int), "
	    "updated_at = clock_timestamp() WHERE id = $1 AND "
	    "merchant_id = $2 AND status IN ('initiated', 'pending')",
	[STMT_PAYMENT_FINAL] =
	    "UPDATE payments SET status = $3, flag = nullif($4, ''), "
	    "next_check_at = NULL, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2 AND "
	    "status IN ('initiated', 'pending')",
	[STMT_ORDER_FAILED] =
	    "UPDATE orders SET payment_status = 'failed', "
	    "updated_at = clock_timestamp() WHERE id = $1 AND "
	    "merchant_id = $2 AND payment_status = 'pending'",
	[STMT_PAYMENT_FLAG] =
	    "UPDATE payments SET flag = $3, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2",
	[STMT_PAYMENT_REFUNDED] =
	    "UPDATE payments SET status = $3, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2 AND status IN ('paid', "
	    "'partially_refunded')",
	[STMT_ORDER_REFUNDED] =
	    "UPDATE orders SET payment_status = $3, "
	    "updated_at = clock_timestamp() WHERE id = $1 AND merchant_id = $2",
};

static const char *const settle_names[] = {
	[SETTLE_PAID] = "paid",
	[SETTLE_ALREADY_PAID] = "already_paid",
	[SETTLE_PENDING] = "pending",
	[SETTLE_FAILED] = "failed",
	[SETTLE_REFUNDED] = "refunded",
	[SETTLE_MISMATCH] = "mismatch",
	[SETTLE_UNREACHABLE] = "unreachable",
	[SETTLE_ERROR] = "error",
	[SETTLE_NOT_FOUND] = "not_found",
};

const char *
settle_result_name(enum settle_result r)
{
	return settle_names[r];
}

const char *
public_base_url(void)
{
	const char	*v = getenv("PUBLIC_BASE_URL");

	return v != NULL && *v != '\0' ? v : "http://127.0.0.1:8080";
}

void
gateway_aad(const char *merchant_id, enum provider p,
    char out[GATEWAY_AAD_MAX])
{
	snprintf(out, GATEWAY_AAD_MAX, "gateway:%.40s:%s", merchant_id,
	    provider_name(p));
}

/* Copies a string member of obj into a gateway text field ("" if absent). */
static void
take(struct json_object *obj, const char *key, char out[GW_TEXT_MAX])
{
	struct json_object	*v;

	out[0] = '\0';
	if (json_object_object_get_ex(obj, key, &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(out, GW_TEXT_MAX, "%s", json_object_get_string(v));
}

/*
 * Seals secrets opened with the previous master key under the current one
 * (a key rotation, README), so the previous key can be retired once every
 * account has been read. Failure only leaves the old sealing in place.
 */
static void
reseal(struct app *app, const char *merchant_id, enum provider p,
    const char *aad, const char *plain, size_t plen, const char *old)
{
	const char	*params[4];
	char		*sealed;

	if ((sealed = seal(app->cfg.master_key, aad, plain, plen)) == NULL)
		return;
	params[0] = merchant_id;
	params[1] = provider_name(p);
	params[2] = sealed;
	params[3] = old;
	if (db_query(&app->db, NULL, sql[STMT_GATEWAY_RESEAL], 4, params) ==
	    DB_OK)
		log_event(LOG_INFO, "gateway_resealed", "%s %s now sealed "
		    "under the current master key", merchant_id,
		    provider_name(p));
	free(sealed);
}

enum gateway_load
gateway_load(struct app *app, const char *merchant_id, enum provider p,
    struct gateway *gw)
{
	const char		*params[2] = { merchant_id, provider_name(p) };
	struct json_object	*pub = NULL, *sec = NULL;
	PGresult		*res = NULL;
	char			*plain = NULL, aad[GATEWAY_AAD_MAX];
	size_t			 plen = 0;
	enum gateway_load	 rc = GATEWAY_BROKEN;

	memset(gw, 0, sizeof(*gw));
	switch (db_query(&app->db, &res, sql[STMT_GATEWAY_GET], 2, params)) {
	case DB_OK:
		break;
	case DB_DOWN:
		return GATEWAY_DB_DOWN;
	default:
		return GATEWAY_DB_ERROR;
	}
	if (PQntuples(res) != 1) {
		rc = GATEWAY_NOT_CONFIGURED;
		goto out;
	}
	gateway_aad(merchant_id, p, aad);
	plain = unseal(app->cfg.master_key, aad, PQgetvalue(res, 0, 3), &plen);
	if (plain == NULL && app->cfg.has_previous_key &&
	    (plain = unseal(app->cfg.previous_key, aad, PQgetvalue(res, 0, 3),
	    &plen)) != NULL)
		reseal(app, merchant_id, p, aad, plain, plen,
		    PQgetvalue(res, 0, 3));
	if (plain == NULL ||
	    (pub = json_tokener_parse(PQgetvalue(res, 0, 2))) == NULL ||
	    (sec = json_tokener_parse(plain)) == NULL) {
		log_event(LOG_ERROR, "gateway_unsealable", "%s %s",
		    merchant_id, provider_name(p));
		goto out;
	}
	gw->provider = p;
	gw->test_mode = PQgetvalue(res, 0, 1)[0] == 't';
	take(pub, p == PROVIDER_FONEPAY ? "merchantCode" : "merchantId",
	    gw->merchant_code);
	take(pub, "publicKey", gw->public_key);
	take(pub, "apiUsername", gw->api_username);
	take(sec, "secretKey", gw->secret_key);
	take(sec, "apiPassword", gw->api_password);
	rc = PQgetvalue(res, 0, 0)[0] == 't' ? GATEWAY_LOADED :
	    GATEWAY_DISABLED;
out:
	if (sec != NULL)
		json_object_put(sec);
	if (pub != NULL)
		json_object_put(pub);
	if (plain != NULL) {
		wipe(plain, plen);
		free(plain);
	}
	PQclear(res);
	return rc;
}

int
payment_event(struct app *app, const char *merchant_id,
    const char *payment_id, const char *source, const char *dedupe_key,
    const char *raw, const char *note)
{
	const char	*params[6] = { merchant_id, payment_id, source,
			    dedupe_key, raw != NULL ? raw : "",
			    note != NULL ? note : "" };
	PGresult	*res;
	int		 stored;

	if (db_query(&app->db, &res, sql[STMT_EVENT_INSERT], 6, params) !=
	    DB_OK)
		return -1;
	stored = PQntuples(res) == 1;
	PQclear(res);
	return stored;
}

/* Runs one statement of this file inside the current transaction. */
static int
run(struct app *app, enum stmt s, int n, const char *const *params)
{
	return db_query(&app->db, NULL, sql[s], n, params) == DB_OK ? 0 : -1;
}

/*
 * Why a "paid" answer does not match the payment, or NULL when it does:
 * the same amount, and where the gateway reports them, the same reference
 * and the same merchant account.
 */
static const char *
paid_mismatch(const struct pay_status *st, const struct gateway *gw,
    const char *reference, int64_t amount)
{
	if (st->amount_paisa != amount)
		return "the gateway reports a different amount";
	if (st->reference[0] != '\0' && strcmp(st->reference, reference) != 0)
		return "the gateway reports a different order reference";
	if (st->merchant_code[0] != '\0' &&
	    strcmp(st->merchant_code, gw->merchant_code) != 0)
		return "the gateway reports a different merchant account";
	return NULL;
}

/* Seconds until the next look at a pending payment: 15 s doubling to 30 min. */
static long
recheck_delay(long checks)
{
	long	delay = RECHECK_FIRST_S;

	while (checks-- > 0 && delay < RECHECK_MAX_S)
		delay *= 2;
	return delay > RECHECK_MAX_S ? RECHECK_MAX_S : delay;
}

/*
 * Applies a status answer under the payment's row lock. Returns the
 * result; the transaction is committed on success and rolled back on
 * SETTLE_ERROR.
 */
static enum settle_result
settle(struct app *app, const char *merchant_id, const char *payment_id,
    const struct gateway *gw, const char *reference,
    const struct pay_status *st, const char *note, int customer_left)
{
	const char		*params[4];
	const char		*why, *status, *order_status;
	char			 delay[24], order_id[RANDOM_ID_MAX];
	PGresult		*res = NULL;
	enum settle_result	 rc = SETTLE_ERROR;
	int64_t			 amount;
	int			 expired, long_expired, other_paid;

	params[0] = payment_id;
	params[1] = merchant_id;
	if (db_begin(&app->db) != DB_OK ||
	    db_query(&app->db, &res, sql[STMT_PAYMENT_LOCK], 2, params) !=
	    DB_OK)
		goto out;
	if (PQntuples(res) != 1) {
		rc = SETTLE_NOT_FOUND;
		goto out;
	}
	/* The status answer is kept in the transaction that acts on it (one
	 * durable commit for both), after the row lock: the event's foreign
	 * key takes a share lock on the payment, which taken first would
	 * deadlock two settlements of one payment. */
	if (payment_event(app, merchant_id, payment_id, "status", NULL,
	    st->raw, note) < 0)
		goto out;
	status = PQgetvalue(res, 0, 0);
	amount = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(order_id, sizeof(order_id), "%s", PQgetvalue(res, 0, 2));
	snprintf(delay, sizeof(delay), "%ld",
	    recheck_delay(strtol(PQgetvalue(res, 0, 3), NULL, 10)));
	expired = PQgetvalue(res, 0, 4)[0] == 't';
	long_expired = PQgetvalue(res, 0, 5)[0] == 't';
	other_paid = PQgetvalue(res, 0, 6)[0] == 't';

	if (strcmp(status, "paid") == 0 && st->outcome == PAY_PAID) {
		rc = SETTLE_ALREADY_PAID;
		goto commit;
	}
	switch (st->outcome) {
	case PAY_PAID:
		if (strcmp(status, "initiated") != 0 &&
		    strcmp(status, "pending") != 0 &&
		    strcmp(status, "failed") != 0 &&
		    strcmp(status, "cancelled") != 0 &&
		    strcmp(status, "expired") != 0) {
			rc = strcmp(status, "mismatch") == 0 ?
			    SETTLE_MISMATCH : SETTLE_ALREADY_PAID;
			goto commit;
		}
		why = other_paid ? "the order was already paid by another "
		    "payment: refund this one" :
		    paid_mismatch(st, gw, reference, amount);
		if (why != NULL) {
			params[2] = "mismatch";
			params[3] = why;
			/* Late money on a closed attempt is flagged too. */
			if (run(app, STMT_PAYMENT_FINAL, 4, params) != 0)
				goto out;
			params[2] = why;
			if (run(app, STMT_PAYMENT_FLAG, 3, params) != 0)
				goto out;
			log_event(LOG_WARN, "payment_mismatch", "%s: %s",
			    payment_id, why);
			rc = SETTLE_MISMATCH;
			goto commit;
		}
		params[2] = st->provider_ref;
		if (run(app, STMT_PAYMENT_PAID, 3, params) != 0)
			goto out;
		params[0] = order_id;
		params[2] = provider_name(gw->provider);
		if (run(app, STMT_ORDER_PAID, 3, params) != 0)
			goto out;
		params[0] = merchant_id;
		params[1] = payment_id;
		params[2] = order_id;
		if (run(app, STMT_CONFIRMATION, 3, params) != 0)
			goto out;
		log_event(LOG_INFO, "payment_paid", "%s order %s", payment_id,
		    order_id);
		rc = SETTLE_PAID;
		goto commit;
	case PAY_PENDING:
	case PAY_AMBIGUOUS:
	case PAY_NOT_FOUND:
		/* Not final: the customer may still pay, or the gateway may
		 * still decide. "Not found" is final past expiry, or once the
		 * customer has left the gateway on its failure page; an
		 * unresolved answer is given a day more, then flagged. */
		if (strcmp(status, "initiated") != 0 &&
		    strcmp(status, "pending") != 0) {
			rc = SETTLE_FAILED;
			goto commit;
		}
		if ((st->outcome == PAY_NOT_FOUND && (expired ||
		    customer_left)) || long_expired) {
			params[2] = st->outcome == PAY_NOT_FOUND &&
			    customer_left && !expired ? "cancelled" :
			    "expired";
			params[3] = st->outcome == PAY_NOT_FOUND ? "" :
			    "the gateway still reported it unsettled a day "
			    "after it expired";
			if (run(app, STMT_PAYMENT_FINAL, 4, params) != 0)
				goto out;
			params[0] = order_id;
			if (run(app, STMT_ORDER_FAILED, 2, params) != 0)
				goto out;
			rc = SETTLE_FAILED;
			goto commit;
		}
		params[2] = delay;
		if (run(app, STMT_PAYMENT_RECHECK, 3, params) != 0)
			goto out;
		rc = SETTLE_PENDING;
		goto commit;
	case PAY_FAILED:
	case PAY_CANCELLED:
	case PAY_EXPIRED:
		params[2] = st->outcome == PAY_CANCELLED ? "cancelled" :
		    st->outcome == PAY_EXPIRED ? "expired" : "failed";
		params[3] = "";
		if (run(app, STMT_PAYMENT_FINAL, 4, params) != 0)
			goto out;
		params[0] = order_id;
		if (run(app, STMT_ORDER_FAILED, 2, params) != 0)
			goto out;
		rc = strcmp(status, "paid") == 0 ? SETTLE_ALREADY_PAID :
		    SETTLE_FAILED;
		goto commit;
	case PAY_REFUNDED:
	case PAY_PARTIALLY_REFUNDED:
		order_status = st->outcome == PAY_REFUNDED ? "refunded" :
		    "partially_refunded";
		params[2] = order_status;
		if (run(app, STMT_PAYMENT_REFUNDED, 3, params) != 0)
			goto out;
		if (strcmp(status, "paid") == 0 ||
		    strcmp(status, "partially_refunded") == 0) {
			params[0] = order_id;
			if (run(app, STMT_ORDER_REFUNDED, 3, params) != 0)
				goto out;
		}
		rc = SETTLE_REFUNDED;
		goto commit;
	}
	goto out;
commit:
	if (db_commit(&app->db) != DB_OK)
		rc = SETTLE_ERROR;
out:
	db_rollback(&app->db);
	PQclear(res);
	return rc;
}

enum settle_result
payment_check(struct app *app, const char *merchant_id,
    const char *payment_id, const struct gateway *known, const char *source,
    int customer_left)
{
	const char		*params[2] = { payment_id, merchant_id };
	const char		*params3[3];
	struct gateway		 gw;
	struct gateway_urls	 urls;
	struct pay_status	 st;
	PGresult		*res = NULL;
	enum provider		 p;
	enum settle_result	 rc = SETTLE_ERROR;
	char			 reference[64], provider_ref[64], err[256];
	char			 note[160];
	int64_t			 amount;

	memset(&st, 0, sizeof(st));
	memset(&gw, 0, sizeof(gw));
	switch (db_query(&app->db, &res, sql[STMT_PAYMENT_GET], 2, params)) {
	case DB_OK:
		break;
	default:
		return SETTLE_ERROR;
	}
	if (PQntuples(res) != 1) {
		rc = SETTLE_NOT_FOUND;
		goto out;
	}
	if (provider_parse(PQgetvalue(res, 0, 0), &p) != 0)
		goto out;
	snprintf(reference, sizeof(reference), "%s", PQgetvalue(res, 0, 1));
	snprintf(provider_ref, sizeof(provider_ref), "%s",
	    PQgetvalue(res, 0, 2));
	amount = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	if (strcmp(PQgetvalue(res, 0, 4), "paid") == 0) {
		rc = SETTLE_ALREADY_PAID;
		goto out;
	}
	/* A disabled gateway still answers for payments already started. */
	if (known != NULL && known->provider == p)
		gw = *known;
	else if (!gateway_usable(gateway_load(app, merchant_id, p, &gw)))
		goto out;
	gateway_urls_for(p, gw.test_mode, &urls);
	switch (gateway_status(&gw, &urls, reference, provider_ref, amount, &st,
	    err, sizeof(err))) {
	case GW_OK:
		break;
	default:
		/* No answer is no news: look again later, change nothing. */
		log_event(LOG_WARN, "status_api_unreachable", "%s: %s",
		    payment_id, err);
		snprintf(note, sizeof(note), "%ld", recheck_delay(1));
		params3[0] = payment_id;
		params3[1] = merchant_id;
		params3[2] = note;
		db_query(&app->db, NULL, sql[STMT_PAYMENT_RECHECK], 3, params3);
		rc = SETTLE_UNREACHABLE;
		goto out;
	}
	snprintf(note, sizeof(note), "%s: %s (asked by %s)",
	    provider_name(p), st.status_word, source);
	rc = settle(app, merchant_id, payment_id, &gw, reference, &st, note,
	    customer_left);
out:
	free(st.raw);
	wipe(&gw, sizeof(gw));
	PQclear(res);
	return rc;
}
