/*
 * payments: taking money for an order through a merchant's gateway.
 *
 *	POST /v1/payments			start a payment for an unpaid order
 *						(takes an Idempotency-Key)
 *	GET  /v1/payments			?status ?orderId ?limit ?cursor
 *	GET  /v1/payments/:id			with its events and confirmation
 *	POST /v1/payments/:id/refund		Khalti's API, or recorded as manual
 *	GET  /pay/:token			HTML: sends the customer to the gateway
 *	GET  /payment/success/:provider/:ref	HTML: the gateway's return
 *	GET  /payment/failure/:provider/:ref	HTML: the gateway's failure return
 *
 * A browser return is a hint: the page asks the gateway's status API and
 * settles the payment on its answer (payment.h), then tells the customer
 * what happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "html.h"
#include "idempotency.h"
#include "log.h"
#include "page.h"
#include "payment.h"
#include "rowjson.h"
#include "validate.h"

#define PAYMENT_TTL_S	3600	/* a pay link's life when the gateway says none */
#define FIRST_CHECK_S	60	/* the reconciler's first look */

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define PAYMENT_COLUMNS \
	"p.id, p.order_id, p.provider, p.status, p.amount_paisa, " \
	"p.refunded_paisa, p.reference, p.provider_ref, p.flag, p.pay_token, " \
	"p.redirect::text, " TS("p.created_at") ", " \
	"CASE WHEN p.paid_at IS NULL THEN NULL ELSE " TS("p.paid_at") " END, " \
	TS("p.expires_at") ", o.order_number, o.payment_status, " \
	"p.superseded_by"
#define COL_ORDER_PAYMENT	15
#define COL_CURSOR_TS	17

enum stmt {
	STMT_ORDER_FOR_PAYMENT,
	STMT_PAYMENT_INSERT,
	STMT_PAYMENT_STARTED,
	STMT_PAYMENT_FAILED_START,
	STMT_PAYMENT_GET,
	STMT_PAYMENT_LIST,
	STMT_PAYMENT_EVENTS,
	STMT_CONFIRMATION,
	STMT_PAYMENT_LOCATE,
	STMT_PAYMENT_BY_TOKEN,
	STMT_PAYMENT_LOCK,
	STMT_PAYMENT_OPENED,
	STMT_ATTEMPT_LOCK,
	STMT_ATTEMPT_RETIRE,
	STMT_REFUND_INSERT,
	STMT_PAYMENT_REFUNDED,
	STMT_ORDER_REFUNDED,
	STMT__MAX,
};

static const char *const sql[STMT__MAX] = {
	[STMT_ORDER_FOR_PAYMENT] =
	    "SELECT o.order_number, o.total_paisa, o.payment_status, "
	    "o.status, c.first_name || ' ' || c.last_name, c.phone "
	    "FROM orders o JOIN customers c ON c.id = o.customer_id "
	    "WHERE o.id = $1 AND o.merchant_id = $2",
	[STMT_PAYMENT_INSERT] =
	    "INSERT INTO payments (id, merchant_id, order_id, provider, "
	    "reference, amount_paisa, pay_token, expires_at, next_check_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6::bigint, $7, now() + "
	    "make_interval(secs => $8::int), now() + make_interval(secs => "
	    "$9::int))",
	[STMT_PAYMENT_STARTED] =
	    "UPDATE payments SET redirect = $3::jsonb, "
	    "provider_ref = nullif($4, ''), expires_at = now() + "
	    "make_interval(secs => $5::int), updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2",
	[STMT_PAYMENT_FAILED_START] =
	    "UPDATE payments SET status = 'failed', flag = $3, "
	    "next_check_at = NULL, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2",
	[STMT_PAYMENT_GET] =
	    "SELECT " PAYMENT_COLUMNS " FROM payments p "
	    "JOIN orders o ON o.id = p.order_id "
	    "WHERE p.id = $1 AND p.merchant_id = $2",
	[STMT_PAYMENT_LIST] =
	    "SELECT " PAYMENT_COLUMNS ", " PAGE_TS_SQL("p.created_at")
	    " FROM payments p JOIN orders o ON o.id = p.order_id "
	    "WHERE p.merchant_id = $1 AND (p.created_at, p.id) < "
	    "($2::timestamptz, $3) AND ($5::text IS NULL OR p.status = $5) "
	    "AND ($6::text IS NULL OR p.order_id = $6) "
	    "ORDER BY p.created_at DESC, p.id DESC LIMIT $4",
	[STMT_PAYMENT_EVENTS] =
	    "SELECT source, note, " TS("created_at") " FROM payment_events "
	    "WHERE payment_id = $1 AND merchant_id = $2 ORDER BY id",
	[STMT_CONFIRMATION] =
	    "SELECT status, last_error, attempts FROM outbox "
	    "WHERE merchant_id = $1 AND dedupe_key = "
	    "'payment_confirmation:' || $2",
	[STMT_PAYMENT_LOCATE] =
	    "SELECT merchant_id, payment_id FROM payment_locate($1, $2)",
	[STMT_PAYMENT_BY_TOKEN] =
	    "SELECT merchant_id, payment_id FROM payment_by_token($1)",
	[STMT_PAYMENT_LOCK] =
	    "SELECT provider, status, amount_paisa, refunded_paisa, "
	    "coalesce(provider_ref, ''), order_id FROM payments "
	    "WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
	[STMT_PAYMENT_OPENED] =
	    "UPDATE payments SET opened_at = now() WHERE id = $1 AND "
	    "merchant_id = $2 AND opened_at IS NULL RETURNING id",
	[STMT_ATTEMPT_LOCK] =
	    "SELECT p.order_id, p.provider, p.amount_paisa, p.pay_token, "
	    "o.order_number, c.first_name || ' ' || c.last_name, c.phone "
	    "FROM payments p JOIN orders o ON o.id = p.order_id "
	    "JOIN customers c ON c.id = o.customer_id "
	    "WHERE p.id = $1 AND p.merchant_id = $2 AND p.status = 'initiated' "
	    "AND p.opened_at IS NOT NULL FOR UPDATE OF p",
	/* The link's token moves to the new attempt ($3). */
	[STMT_ATTEMPT_RETIRE] =
	    "UPDATE payments SET pay_token = 'retired-' || id, "
	    "superseded_by = $3, updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2",
	[STMT_REFUND_INSERT] =
	    "INSERT INTO refunds (id, merchant_id, payment_id, amount_paisa, "
	    "mode) VALUES ($1, $2, $3, $4::bigint, $5) RETURNING "
	    TS("created_at"),
	[STMT_PAYMENT_REFUNDED] =
	    "UPDATE payments SET refunded_paisa = refunded_paisa + $3::bigint, "
	    "status = CASE WHEN refunded_paisa + $3::bigint >= amount_paisa "
	    "THEN 'refunded' ELSE 'partially_refunded' END, "
	    "updated_at = clock_timestamp() WHERE id = $1 AND merchant_id = $2 "
	    "RETURNING status",
	[STMT_ORDER_REFUNDED] =
	    "UPDATE orders SET payment_status = $3, "
	    "updated_at = clock_timestamp() WHERE id = $1 AND merchant_id = $2",
};

static void	handle_create(struct app *, struct request *);
static void	handle_list(struct app *, struct request *);
static void	handle_get(struct app *, struct request *);
static void	handle_refund(struct app *, struct request *);
static void	handle_pay_link(struct app *, struct request *);
static void	handle_success(struct app *, struct request *);
static void	handle_failure(struct app *, struct request *);

enum route_id {
	ROUTE_CREATE,
	ROUTE_LIST,
	ROUTE_GET,
	ROUTE_REFUND,
	ROUTE_PAY_LINK,
	ROUTE_SUCCESS,
	ROUTE_FAILURE,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_CREATE] = { METHOD_POST, "/v1/payments", handle_create, 0 },
	[ROUTE_LIST] = { METHOD_GET, "/v1/payments", handle_list, 0 },
	[ROUTE_GET] = { METHOD_GET, "/v1/payments/:id", handle_get, 0 },
	[ROUTE_REFUND] = { METHOD_POST, "/v1/payments/:id/refund",
	    handle_refund, 0 },
	[ROUTE_PAY_LINK] = { METHOD_GET, "/pay/:token", handle_pay_link,
	    ROUTE_OPEN | ROUTE_NO_LIMIT },
	[ROUTE_SUCCESS] = { METHOD_GET, "/payment/success/:provider/:ref",
	    handle_success, ROUTE_OPEN | ROUTE_LIMIT_HIGH },
	[ROUTE_FAILURE] = { METHOD_GET, "/payment/failure/:provider/:ref",
	    handle_failure, ROUTE_OPEN | ROUTE_LIMIT_HIGH },
};

static const char *const provider_choices[] = {
	"esewa", "khalti", "fonepay", NULL,
};

static const char *const payment_statuses[] = {
	"initiated", "pending", "paid", "failed", "cancelled", "expired",
	"mismatch", "refunded", "partially_refunded", NULL,
};

struct create_in {
	const char	*order_id;
	const char	*provider;
};

static const struct field create_fields[] = {
	{ "orderId", FIELD_STRING, REQUIRED, 1, 64,
	    offsetof(struct create_in, order_id), NULL, 0, NULL },
	{ "provider", FIELD_ENUM, REQUIRED, 0, 0,
	    offsetof(struct create_in, provider), NULL, 0, provider_choices },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

struct refund_in {
	struct jnum	amount;		/* paisa; absent: what is left */
};

static const struct field refund_fields[] = {
	{ "amount", FIELD_MONEY, OPTIONAL, 1, 100000000000LL,
	    offsetof(struct refund_in, amount), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};


/* The payment object from a row of PAYMENT_COLUMNS. */
static struct json_object *
payment_json(const PGresult *res, int row)
{
	struct json_object	*p = json_object_new_object();
	char			 link[512];

	row_text(p, "id", res, row, 0);
	row_text(p, "orderId", res, row, 1);
	row_text(p, "orderNumber", res, row, 14);
	row_text(p, "provider", res, row, 2);
	row_text(p, "status", res, row, 3);
	row_money(p, "amount", res, row, 4);
	row_money(p, "refunded", res, row, 5);
	row_text(p, "reference", res, row, 6);
	row_text(p, "providerRef", res, row, 7);
	row_text(p, "flag", res, row, 8);
	snprintf(link, sizeof(link), "%s/pay/%s", public_base_url(),
	    PQgetvalue(res, row, 9));
	json_object_object_add(p, "payLink", json_object_new_string(link));
	row_json(p, "redirect", res, row, 10);
	row_text(p, "createdAt", res, row, 11);
	row_text(p, "paidAt", res, row, 12);
	row_text(p, "expiresAt", res, row, 13);
	row_text(p, "supersededBy", res, row, 16);
	return p;
}

/* The redirect as the API shows it and as it is stored. */
static struct json_object *
redirect_json(const struct pay_redirect *rd)
{
	struct json_object	*o, *fields;
	int			 i;

	o = json_object_new_object();
	json_object_object_add(o, "method",
	    json_object_new_string(rd->post ? "POST" : "GET"));
	json_object_object_add(o, "url", json_object_new_string(rd->url));
	if (rd->post) {
		fields = json_object_new_object();
		for (i = 0; i < rd->nfields; i++)
			json_object_object_add(fields, rd->fields[i].name,
			    json_object_new_string(rd->fields[i].value));
		json_object_object_add(o, "fields", fields);
	}
	return o;
}

/* Reads one payment of the caller's merchant; NULL having answered. */
static PGresult *
payment_or_respond(struct app *app, struct request *r, const char *id)
{
	const char	*params[2] = { id, r->principal.merchant_id };
	PGresult	*res;

	if ((res = query_or_respond(app, r, sql[STMT_PAYMENT_GET], 2,
	    params)) == NULL)
		return NULL;
	if (PQntuples(res) != 1) {
		PQclear(res);
		respond_error(r, ERR_NOT_FOUND, "no such payment", NULL);
		return NULL;
	}
	return res;
}

/* The data a gateway needs about the order, as text from the database. */
struct attempt_order {
	const char	*order_id;
	const char	*order_number;
	const char	*amount;	/* paisa */
	const char	*customer_name;
	const char	*customer_phone;
};

/* GW_OK, GW_REFUSED and GW_UNREACHABLE, and this one for our side. */
#define ATTEMPT_DB_FAILED	-3

/*
 * Stores a new attempt (its reference is its id with '-' for '_', the
 * gateways' alphabet) before any gateway hears of it, so its return can
 * always find it. Returns 0, or -1 having answered.
 */
static int
attempt_insert(struct app *app, struct request *r, const char *id,
    enum provider p, const struct attempt_order *o, const char *token)
{
	const char	*params[9];
	char		 reference[RANDOM_ID_MAX], ttl[24], first[24], *c;
	PGresult	*res;

	snprintf(reference, sizeof(reference), "%s", id);
	if ((c = strchr(reference, '_')) != NULL)
		*c = '-';
	snprintf(ttl, sizeof(ttl), "%d", PAYMENT_TTL_S);
	snprintf(first, sizeof(first), "%d", FIRST_CHECK_S);
	params[0] = id;
	params[1] = r->principal.merchant_id;
	params[2] = o->order_id;
	params[3] = provider_name(p);
	params[4] = reference;
	params[5] = o->amount;
	params[6] = token;
	params[7] = ttl;
	params[8] = first;
	if ((res = query_or_respond(app, r, sql[STMT_PAYMENT_INSERT], 9,
	    params)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Starts a stored attempt at the gateway (Khalti's initiate call; the
 * others only sign) and keeps how the browser gets there, or the reason it
 * could not. Returns a GW_ result or ATTEMPT_DB_FAILED; err says why.
 */
static int
attempt_initiate(struct app *app, struct request *r, const struct gateway *gw,
    const char *id, const struct attempt_order *o, char *err, size_t errlen)
{
	struct gateway_urls	 urls;
	struct pay_redirect	 rd;
	struct pay_request	 req;
	struct json_object	*redirect;
	const char		*params[5], *name = provider_name(gw->provider);
	char			 reference[RANDOM_ID_MAX], ttl[24], *c;
	int			 rc;

	snprintf(reference, sizeof(reference), "%s", id);
	if ((c = strchr(reference, '_')) != NULL)
		*c = '-';
	memset(&req, 0, sizeof(req));
	req.reference = reference;
	req.amount_paisa = strtoll(o->amount, NULL, 10);
	req.order_number = o->order_number;
	req.return_url = arena_printf(&r->arena, "%s/payment/success/%s/%s",
	    public_base_url(), name, reference);
	req.failure_url = arena_printf(&r->arena, "%s/payment/failure/%s/%s",
	    public_base_url(), name, reference);
	req.website_url = public_base_url();
	req.customer_name = o->customer_name;
	req.customer_phone = o->customer_phone;
	req.now = time(NULL);
	gateway_urls_for(gw->provider, gw->test_mode, &urls);
	memset(&rd, 0, sizeof(rd));
	rc = gateway_initiate(gw, &urls, &req, &rd, err, errlen);
	params[0] = id;
	params[1] = r->principal.merchant_id;
	if (rc != GW_OK) {
		params[2] = err;
		if (db_query(&app->db, NULL, sql[STMT_PAYMENT_FAILED_START], 3,
		    params) != DB_OK)
			return ATTEMPT_DB_FAILED;
		payment_event(app, r->principal.merchant_id, id, "initiate",
		    NULL, err, "the gateway refused to start the payment");
		return rc;
	}
	redirect = redirect_json(&rd);
	snprintf(ttl, sizeof(ttl), "%ld", rd.expires_in > 0 ? rd.expires_in :
	    (long)PAYMENT_TTL_S);
	params[2] = json_object_to_json_string_ext(redirect,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	params[3] = rd.provider_ref;
	params[4] = ttl;
	rc = db_query(&app->db, NULL, sql[STMT_PAYMENT_STARTED], 5, params) ==
	    DB_OK ? GW_OK : ATTEMPT_DB_FAILED;
	if (rc == GW_OK)
		payment_event(app, r->principal.merchant_id, id, "initiate",
		    NULL, params[2], "started");
	json_object_put(redirect);
	return rc;
}

static void
handle_create(struct app *app, struct request *r)
{
	struct create_in	 in = { 0 };
	struct attempt_order	 o;
	struct gateway		 gw;
	enum provider		 p;
	PGresult		*order = NULL, *res = NULL;
	const char		*params[2], *why;
	char			 id[RANDOM_ID_MAX], token[RANDOM_TOKEN_MAX];
	char			 err[256];

	memset(&gw, 0, sizeof(gw));
	if (fields_or_respond(r, create_fields, &in) != 0)
		return;
	/* From here one transaction: a retry with the same Idempotency-Key
	 * gets the first answer back (even once the order is paid) and
	 * starts no second attempt. */
	if (idempotent_begin_or_respond(app, r) != 0)
		return;
	provider_parse(in.provider, &p);
	switch (gateway_load(app, r->principal.merchant_id, p, &gw)) {
	case GATEWAY_LOADED:
		break;
	case GATEWAY_NOT_CONFIGURED:
	case GATEWAY_DISABLED:
		respond_errorf(r, ERR_VALIDATION, "provider", "provider %s is "
		    "not configured and enabled for this merchant",
		    in.provider);
		goto out;
	case GATEWAY_DB_DOWN:
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	default:
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}

	params[0] = in.order_id;
	params[1] = r->principal.merchant_id;
	if ((order = query_or_respond(app, r, sql[STMT_ORDER_FOR_PAYMENT], 2,
	    params)) == NULL)
		goto out;
	if (PQntuples(order) != 1) {
		respond_error(r, ERR_NOT_FOUND, "orderId does not name an "
		    "order", "orderId");
		goto out;
	}
	why = strcmp(PQgetvalue(order, 0, 3), "cancelled") == 0 ?
	    "the order is cancelled" :
	    strcmp(PQgetvalue(order, 0, 2), "pending") != 0 &&
	    strcmp(PQgetvalue(order, 0, 2), "failed") != 0 ?
	    "the order is already paid" : NULL;
	if (why != NULL) {
		respond_error(r, ERR_CONFLICT, why, "orderId");
		goto out;
	}

	if (random_id("pay", id) != 0 || random_token("pl_", token) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	o.order_id = in.order_id;
	o.order_number = PQgetvalue(order, 0, 0);
	o.amount = PQgetvalue(order, 0, 1);
	o.customer_name = PQgetvalue(order, 0, 4);
	o.customer_phone = PQgetvalue(order, 0, 5);
	if (attempt_insert(app, r, id, p, &o, token) != 0)
		goto out;
	switch (attempt_initiate(app, r, &gw, id, &o, err, sizeof(err))) {
	case GW_OK:
		break;
	case GW_UNREACHABLE:
		respond_errorf(r, ERR_UNAVAILABLE, NULL, "%s did not answer; "
		    "retry shortly", in.provider);
		goto out;
	case GW_REFUSED:
		respond_errorf(r, ERR_VALIDATION, "provider", "provider %s "
		    "refused the payment: %s", in.provider, err);
		goto out;
	default:
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	}
	if ((res = payment_or_respond(app, r, id)) == NULL)
		goto out;
	log_event(LOG_INFO, "payment_started", "%s %s order %s", id,
	    in.provider, in.order_id);
	idempotent_commit_and_respond(app, r, 201, payment_json(res, 0));
out:
	PQclear(order);
	PQclear(res);
	wipe(&gw, sizeof(gw));
}

static void
handle_list(struct app *app, struct request *r)
{
	struct page		 pg;
	const char		*params[6], *status, *order_id;
	PGresult		*res;
	int			 i;

	if (page_or_respond(r, &pg) != 0)
		return;
	status = request_query(r, "status");
	order_id = request_query(r, "orderId");
	if (status != NULL) {
		for (i = 0; payment_statuses[i] != NULL; i++)
			if (strcmp(status, payment_statuses[i]) == 0)
				break;
		if (payment_statuses[i] == NULL) {
			respond_error(r, ERR_VALIDATION, "status is not a "
			    "payment status", "status");
			return;
		}
	}
	params[0] = r->principal.merchant_id;
	params[1] = pg.after_ts;
	params[2] = pg.after_id;
	params[3] = pg.fetch;
	params[4] = status;
	params[5] = order_id;
	if ((res = query_or_respond(app, r, sql[STMT_PAYMENT_LIST], 6,
	    params)) == NULL)
		return;
	page_respond(r, &pg, res, "payments", payment_json, COL_CURSOR_TS);
}

static void
handle_get(struct app *app, struct request *r)
{
	struct json_object	*data, *events, *e, *conf = NULL;
	const char		*params[2];
	PGresult		*res, *ev = NULL, *job = NULL;
	int			 i;

	if ((res = payment_or_respond(app, r, r->params[0])) == NULL)
		return;
	data = payment_json(res, 0);
	params[0] = r->params[0];
	params[1] = r->principal.merchant_id;
	if ((ev = query_or_respond(app, r, sql[STMT_PAYMENT_EVENTS], 2,
	    params)) == NULL)
		goto out;
	events = json_object_new_array();
	for (i = 0; i < PQntuples(ev); i++) {
		e = json_object_new_object();
		row_text(e, "source", ev, i, 0);
		row_text(e, "note", ev, i, 1);
		row_text(e, "at", ev, i, 2);
		json_object_array_add(events, e);
	}
	json_object_object_add(data, "events", events);
	params[0] = r->principal.merchant_id;
	params[1] = r->params[0];
	if ((job = query_or_respond(app, r, sql[STMT_CONFIRMATION], 2,
	    params)) == NULL)
		goto out;
	if (PQntuples(job) == 1) {
		conf = json_object_new_object();
		row_text(conf, "status", job, 0, 0);
		row_text(conf, "lastError", job, 0, 1);
		row_int(conf, "attempts", job, 0, 2);
	}
	json_object_object_add(data, "confirmation", conf);
	respond_data(r, 200, data);
	data = NULL;
out:
	json_object_put(data);
	PQclear(res);
	PQclear(ev);
	PQclear(job);
}

static void
handle_refund(struct app *app, struct request *r)
{
	struct refund_in	 in = { { 0, 0 } };
	struct gateway		 gw;
	struct gateway_urls	 urls;
	struct json_object	*data, *refund;
	enum provider		 p;
	PGresult		*lock = NULL, *res = NULL, *pay = NULL;
	const char		*params[5], *mode;
	char			 id[RANDOM_ID_MAX], amount[24], err[256];
	char			 order_id[RANDOM_ID_MAX], status[32];
	int64_t			 total, refunded, left;
	int			 rc;

	memset(&gw, 0, sizeof(gw));
	if (fields_or_respond(r, refund_fields, &in) != 0)
		return;
	if (db_begin(&app->db) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		return;
	}
	params[0] = r->params[0];
	params[1] = r->principal.merchant_id;
	if ((lock = query_or_respond(app, r, sql[STMT_PAYMENT_LOCK], 2,
	    params)) == NULL)
		goto out;
	if (PQntuples(lock) != 1) {
		respond_error(r, ERR_NOT_FOUND, "no such payment", NULL);
		goto out;
	}
	if (strcmp(PQgetvalue(lock, 0, 1), "paid") != 0 &&
	    strcmp(PQgetvalue(lock, 0, 1), "partially_refunded") != 0) {
		respond_errorf(r, ERR_CONFLICT, NULL, "only a paid payment "
		    "can be refunded; this one is %s", PQgetvalue(lock, 0, 1));
		goto out;
	}
	total = strtoll(PQgetvalue(lock, 0, 2), NULL, 10);
	refunded = strtoll(PQgetvalue(lock, 0, 3), NULL, 10);
	left = total - refunded;
	if (!in.amount.present)
		in.amount.value = left;
	if (in.amount.value > left) {
		respond_errorf(r, ERR_VALIDATION, "amount", "amount is more "
		    "than the %lld.%02lld rupees left to refund",
		    (long long)(left / 100), (long long)(left % 100));
		goto out;
	}
	snprintf(order_id, sizeof(order_id), "%s", PQgetvalue(lock, 0, 5));
	provider_parse(PQgetvalue(lock, 0, 0), &p);
	snprintf(amount, sizeof(amount), "%lld", (long long)in.amount.value);

	/* Khalti refunds through its API; the others have none: manual. */
	mode = "manual";
	if (p == PROVIDER_KHALTI) {
		if (gateway_load(app, r->principal.merchant_id, p, &gw) ==
		    GATEWAY_DB_DOWN) {
			respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
			goto out;
		}
		gateway_urls_for(p, gw.test_mode, &urls);
		rc = gateway_refund(&gw, &urls, PQgetvalue(lock, 0, 4),
		    in.amount.value == total ? 0 : in.amount.value, err,
		    sizeof(err));
		if (rc == GW_UNREACHABLE) {
			respond_errorf(r, ERR_UNAVAILABLE, NULL, "Khalti did "
			    "not answer the refund (%s); retry shortly", err);
			goto out;
		}
		if (rc != GW_OK) {
			respond_errorf(r, ERR_CONFLICT, NULL, "Khalti refused "
			    "the refund: %s", err);
			goto out;
		}
		mode = "api";
	}
	if (random_id("ref", id) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	params[0] = id;
	params[1] = r->principal.merchant_id;
	params[2] = r->params[0];
	params[3] = amount;
	params[4] = mode;
	if ((res = query_or_respond(app, r, sql[STMT_REFUND_INSERT], 5,
	    params)) == NULL)
		goto out;
	PQclear(res);
	params[0] = r->params[0];
	params[2] = amount;
	if ((res = query_or_respond(app, r, sql[STMT_PAYMENT_REFUNDED], 3,
	    params)) == NULL)
		goto out;
	snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	params[0] = order_id;
	params[2] = status;
	if ((res = query_or_respond(app, r, sql[STMT_ORDER_REFUNDED], 3,
	    params)) == NULL)
		goto out;
	payment_event(app, r->principal.merchant_id, r->params[0], "refund",
	    NULL, amount, mode);
	if (db_commit(&app->db) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		goto out;
	}
	if ((pay = payment_or_respond(app, r, r->params[0])) == NULL)
		goto out;
	refund = json_object_new_object();
	json_object_object_add(refund, "id", json_object_new_string(id));
	json_object_object_add(refund, "amount", money_json(in.amount.value));
	json_object_object_add(refund, "mode", json_object_new_string(mode));
	data = json_object_new_object();
	json_object_object_add(data, "refund", refund);
	json_object_object_add(data, "payment", payment_json(pay, 0));
	log_event(LOG_INFO, "payment_refunded", "%s %s %s", r->params[0],
	    amount, mode);
	respond_data(r, 201, data);
out:
	db_rollback(&app->db);
	PQclear(lock);
	PQclear(res);
	PQclear(pay);
	wipe(&gw, sizeof(gw));
}

/*
 * Finds a payment for a customer's page by a lookup function (by pay token,
 * or by provider and reference) and scopes the session to its merchant.
 * Returns 0 with the ids filled, or -1 having answered with a page.
 */
static int
locate_or_page(struct app *app, struct request *r, enum stmt lookup,
    int nparams, const char *const *params, char merchant[RANDOM_ID_MAX],
    char payment[RANDOM_ID_MAX])
{
	PGresult	*res;

	if (db_query(&app->db, &res, sql[lookup], nparams, params) != DB_OK) {
		html_page(r, 503, "Please try again", "We could not look up "
		    "this payment just now. Please refresh in a minute.");
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		html_page(r, 404, "Payment not found", "This payment link is "
		    "not valid. Please ask the shop for a new one.");
		return -1;
	}
	snprintf(merchant, RANDOM_ID_MAX, "%s", PQgetvalue(res, 0, 0));
	snprintf(payment, RANDOM_ID_MAX, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	db_scope_known(&app->db, merchant);
	snprintf(r->principal.merchant_id, sizeof(r->principal.merchant_id),
	    "%s", merchant);
	return 0;
}

/*
 * Replaces an opened eSewa or Fonepay attempt by a fresh one that takes
 * over the link's token (sql/006). The old attempt stays and is reconciled
 * until it expires. Fills id with the attempt to send the customer to (the
 * old one if another request replaced it first). Returns 0, or -1 having
 * answered with a page.
 */
static int
attempt_reopen_or_page(struct app *app, struct request *r,
    const char *old, char id[RANDOM_ID_MAX])
{
	struct attempt_order	 o;
	struct gateway		 gw;
	enum provider		 p;
	PGresult		*res = NULL;
	const char		*params[3] = { old, r->principal.merchant_id, id };
	const char		*opened[2];
	char			 err[256];
	int			 rc = -1;

	memset(&gw, 0, sizeof(gw));
	snprintf(id, RANDOM_ID_MAX, "%s", old);
	if (db_begin(&app->db) != DB_OK ||
	    db_query(&app->db, &res, sql[STMT_ATTEMPT_LOCK], 2, params) !=
	    DB_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		rc = 0;		/* changed meanwhile: send them to it as it is */
		goto out;
	}
	if (provider_parse(PQgetvalue(res, 0, 1), &p) != 0 ||
	    !gateway_usable(gateway_load(app, r->principal.merchant_id, p,
	    &gw)) || random_id("pay", id) != 0)
		goto fail;
	o.order_id = PQgetvalue(res, 0, 0);
	o.amount = PQgetvalue(res, 0, 2);
	o.order_number = PQgetvalue(res, 0, 4);
	o.customer_name = PQgetvalue(res, 0, 5);
	o.customer_phone = PQgetvalue(res, 0, 6);
	opened[0] = id;
	opened[1] = r->principal.merchant_id;
	/* The new attempt is opened by this very visit. */
	if (db_query(&app->db, NULL, sql[STMT_ATTEMPT_RETIRE], 3, params) !=
	    DB_OK || attempt_insert(app, r, id, p, &o, PQgetvalue(res, 0, 3))
	    != 0 || db_query(&app->db, NULL, sql[STMT_PAYMENT_OPENED], 2,
	    opened) != DB_OK)
		goto fail;
	if (db_commit(&app->db) != DB_OK)
		goto fail;
	if (attempt_initiate(app, r, &gw, id, &o, err, sizeof(err)) != GW_OK) {
		html_page(r, 503, "Please try again", "We could not start this "
		    "payment just now. Please open the link again in a "
		    "minute.");
		goto out;
	}
	log_event(LOG_INFO, "payment_reopened", "%s replaces %s", id, old);
	rc = 0;
	goto out;
fail:
	if (r->status == 0)
		html_page(r, 503, "Please try again", "We could not open this "
		    "payment just now. Please open the link again in a "
		    "minute.");
out:
	db_rollback(&app->db);
	PQclear(res);
	wipe(&gw, sizeof(gw));
	return rc;
}

/* 1 when a gateway takes each reference once (no server-side start). */
static int
single_use_reference(const char *provider)
{
	return strcmp(provider, "esewa") == 0 || strcmp(provider, "fonepay") == 0;
}

static void
handle_pay_link(struct app *app, struct request *r)
{
	const char		*params[2] = { r->params[0], NULL };
	struct json_object	*redirect = NULL, *v, *fields;
	PGresult		*res = NULL, *opened = NULL;
	char			 merchant[RANDOM_ID_MAX], payment[RANDOM_ID_MAX];
	char			 current[RANDOM_ID_MAX];
	const char		*status;

	if (locate_or_page(app, r, STMT_PAYMENT_BY_TOKEN, 1, params, merchant,
	    payment) != 0)
		return;
	if ((res = payment_or_respond(app, r, payment)) == NULL)
		return;
	status = PQgetvalue(res, 0, 3);
	if (strcmp(PQgetvalue(res, 0, COL_ORDER_PAYMENT), "pending") != 0 &&
	    strcmp(PQgetvalue(res, 0, COL_ORDER_PAYMENT), "failed") != 0) {
		html_page(r, 200, "Already paid", arena_printf(&r->arena,
		    "Order %s is already paid. Thank you!",
		    PQgetvalue(res, 0, 14)));
		goto out;
	}
	if (strcmp(status, "initiated") != 0 && strcmp(status, "pending") != 0) {
		html_page(r, 410, "This link has expired", "This payment can "
		    "no longer be made. Please ask the shop for a new link.");
		goto out;
	}
	/* A second visit to a single-use reference needs a new attempt. */
	if (strcmp(status, "initiated") == 0 &&
	    single_use_reference(PQgetvalue(res, 0, 2))) {
		params[0] = payment;
		params[1] = merchant;
		if ((opened = query_or_respond(app, r,
		    sql[STMT_PAYMENT_OPENED], 2, params)) == NULL)
			goto out;
		if (PQntuples(opened) == 0) {
			if (attempt_reopen_or_page(app, r, payment, current)
			    != 0)
				goto out;
			PQclear(res);
			if ((res = payment_or_respond(app, r, current)) == NULL)
				goto out;
		}
	}
	if ((redirect = json_tokener_parse(PQgetvalue(res, 0, 10))) == NULL) {
		html_page(r, 410, "This link has expired", "This payment can "
		    "no longer be made. Please ask the shop for a new link.");
		goto out;
	}
	fields = json_object_object_get_ex(redirect, "fields", &v) ? v : NULL;
	json_object_object_get_ex(redirect, "url", &v);
	html_redirect(r, json_object_get_string(v), fields,
	    arena_printf(&r->arena, "Paying for order %s",
	    PQgetvalue(res, 0, 14)));
out:
	if (redirect != NULL)
		json_object_put(redirect);
	PQclear(opened);
	PQclear(res);
}

/* What the customer reads after the gateway sends them back. */
static void
result_page(struct request *r, enum settle_result result,
    const char *provider, const char *order_number)
{
	switch (result) {
	case SETTLE_PAID:
	case SETTLE_ALREADY_PAID:
		html_page(r, 200, "Payment received", arena_printf(&r->arena,
		    "Thank you! We received your payment for order %s. The "
		    "shop has been told and will send it on.", order_number));
		break;
	case SETTLE_PENDING:
	case SETTLE_UNREACHABLE:
		html_page(r, 200, "Confirming your payment", arena_printf(
		    &r->arena, "We are confirming your payment for order %s "
		    "with %s. You do not need to pay again: you will get a "
		    "message as soon as it is confirmed.", order_number,
		    provider));
		break;
	case SETTLE_MISMATCH:
		html_page(r, 200, "We are checking this payment",
		    arena_printf(&r->arena, "Something about this payment for "
		    "order %s does not match the order. The shop has been "
		    "asked to check it and will contact you.", order_number));
		break;
	case SETTLE_FAILED:
		html_page(r, 200, "Payment not completed", arena_printf(
		    &r->arena, "The payment for order %s was not completed, "
		    "and no money was taken for it. You can try again from "
		    "the link the shop sent you.", order_number));
		break;
	default:
		html_page(r, 503, "Please try again", "We could not check "
		    "this payment just now. Please refresh in a minute.");
		break;
	}
}

/*
 * The gateway's return: find the payment, keep what the browser brought,
 * check its signature where the gateway signs, then ask the status API.
 */
static void
handle_return(struct app *app, struct request *r, int success)
{
	const char		*params[2] = { r->params[0], r->params[1] };
	struct gateway		 gw;
	struct pay_claim	 claim;
	enum provider		 p;
	enum settle_result	 result;
	PGresult		*res = NULL;
	char			 merchant[RANDOM_ID_MAX], payment[RANDOM_ID_MAX];
	char			 key[TOKEN_HASH_HEX + 8], *note;
	int			 loaded;

	memset(&gw, 0, sizeof(gw));
	if (provider_parse(r->params[0], &p) != 0) {
		html_page(r, 404, "Payment not found", "This page does not "
		    "belong to a payment.");
		return;
	}
	if (locate_or_page(app, r, STMT_PAYMENT_LOCATE, 2, params, merchant,
	    payment) != 0)
		return;
	note = success ? "browser came back on the success page" :
	    "browser came back on the failure page";
	loaded = gateway_usable(gateway_load(app, merchant, p, &gw));
	if (success && r->query[0] != '\0' && loaded) {
		if (gateway_read_claim(&gw, r->query, &claim) != 0)
			note = "unreadable return parameters";
		else if (claim.signature < 0)
			note = "return parameters with a BAD signature";
		else if (strcmp(claim.reference, r->params[1]) != 0)
			note = "return parameters name another payment";
		else
			note = arena_printf(&r->arena, "return claims %s (%s)",
			    pay_outcome_name(claim.outcome), claim.signature ?
			    "signature verified" : "unsigned");
	}
	/* A refreshed page is the same event: kept once. */
	token_hash(r->query, key + 7);
	memcpy(key, "return:", 7);
	if (payment_event(app, merchant, payment, "return", key, r->query,
	    note) < 0) {
		html_page(r, 503, "Please try again", "We could not record "
		    "this payment just now. Please refresh in a minute.");
		goto out;
	}
	result = payment_check(app, merchant, payment, loaded ? &gw : NULL,
	    "return", !success);
	if ((res = payment_or_respond(app, r, payment)) == NULL)
		goto out;
	result_page(r, result, provider_name(p), PQgetvalue(res, 0, 14));
out:
	PQclear(res);
	wipe(&gw, sizeof(gw));
}

static void
handle_success(struct app *app, struct request *r)
{
	handle_return(app, r, 1);
}

static void
handle_failure(struct app *app, struct request *r)
{
	handle_return(app, r, 0);
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "payments", sql, STMT__MAX) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
