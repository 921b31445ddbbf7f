/*
 * orders: a merchant's orders, from checkout to delivery or return.
 *
 *	POST   /v1/orders			create (Idempotency-Key)
 *	GET    /v1/orders			list, newest first
 *	GET    /v1/orders/:id
 *	POST   /v1/orders/:id/status		move along the status table
 *	POST   /v1/orders/:id/cancel		move to cancelled
 *
 * Stock is taken in the transaction that creates the order, one product row
 * at a time in product id order, so that two orders lock rows in the same
 * order and never wait on each other in a cycle. A move to cancelled puts
 * the stock back, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "orders.h"
#include "page.h"
#include "rowjson.h"
#include "validate.h"

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The columns of an order as order_json() reads them (enum order_col). */
#define ORDER_SELECT \
	"SELECT o.id, o.order_number, c.id, c.first_name, c.last_name, " \
	"c.phone, o.shipping_address, o.subtotal_paisa, o.shipping_paisa, " \
	"o.discount_paisa, o.total_paisa, o.payment_method, " \
	"o.payment_status, o.status, o.notes, " TS("o.created_at") ", " \
	TS("o.updated_at") ", " PAGE_TS_SQL("o.created_at") " " \
	"FROM orders o JOIN customers c " \
	"ON c.merchant_id = o.merchant_id AND c.id = o.customer_id "

enum order_col {
	OCOL_ID,
	OCOL_NUMBER,
	OCOL_CUSTOMER_ID,
	OCOL_FIRST_NAME,
	OCOL_LAST_NAME,
	OCOL_PHONE,
	OCOL_ADDRESS,
	OCOL_SUBTOTAL,
	OCOL_SHIPPING,
	OCOL_DISCOUNT,
	OCOL_TOTAL,
	OCOL_PAYMENT_METHOD,
	OCOL_PAYMENT_STATUS,
	OCOL_STATUS,
	OCOL_NOTES,
	OCOL_CREATED,
	OCOL_UPDATED,
	OCOL_CURSOR,		/* created_at to the microsecond, for page.h */
};

/* The columns of STMT_ITEMS_OF. */
enum item_col {
	ICOL_INDEX,		/* of the order in the ids passed as $2 */
	ICOL_PRODUCT,
	ICOL_NAME,
	ICOL_SKU,
	ICOL_PRICE,
	ICOL_QUANTITY,
	ICOL_LINE_TOTAL,
};

/* The texts of enum stmt (orders.h). */
const char *const sql[STMT__MAX] = {
	[STMT_CUSTOMER_GET] =
	    "SELECT id FROM customers WHERE merchant_id = $1 AND id = $2",
	/* One statement matches or creates; a match keeps its name. */
	[STMT_CUSTOMER_MATCH] =
	    "INSERT INTO customers (merchant_id, id, first_name, last_name, "
	    "phone, email) VALUES ($1, $2, $3, $4, $5, $6) "
	    "ON CONFLICT (merchant_id, phone) DO UPDATE "
	    "SET phone = EXCLUDED.phone "
	    "RETURNING id, first_name, last_name, phone",
	[STMT_STOCK_TAKE] =
	    "UPDATE products SET stock = stock - $3, "
	    "updated_at = clock_timestamp() "
	    "WHERE merchant_id = $1 AND id = $2 AND deleted_at IS NULL "
	    "AND active AND stock >= $3 "
	    "RETURNING name, sku, price_paisa",
	/* Why a take found no row; the lock keeps the answer true. */
	[STMT_STOCK_CHECK] =
	    "SELECT name, stock, active AND deleted_at IS NULL "
	    "FROM products WHERE merchant_id = $1 AND id = $2 FOR UPDATE",
	/*
	 * The counter row stays locked until the order commits, so orders of
	 * one merchant get their numbers one after the other and never the
	 * same one. An order that rolls back leaves a gap in the numbers;
	 * that is accepted (numbers are unique, not dense).
	 */
	[STMT_COUNTER_NEXT] =
	    "INSERT INTO order_counters (merchant_id, year, last_number) "
	    "VALUES ($1, extract(year FROM now() AT TIME ZONE "
	    "'Asia/Kathmandu')::int, 1) "
	    "ON CONFLICT (merchant_id, year) DO UPDATE "
	    "SET last_number = order_counters.last_number + 1 "
	    "RETURNING year, last_number",
	[STMT_ORDER_INSERT] =
	    "INSERT INTO orders (merchant_id, id, order_number, customer_id, "
	    "payment_method, subtotal_paisa, shipping_paisa, discount_paisa, "
	    "total_paisa, shipping_address, notes) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)",
	[STMT_ITEMS_INSERT] =
	    "INSERT INTO order_items (merchant_id, order_id, position, "
	    "product_id, name, sku, unit_price_paisa, quantity) "
	    "SELECT $1, $2, x.position, x.product_id, x.name, x.sku, "
	    "x.unit_price, x.quantity FROM jsonb_to_recordset($3::jsonb) "
	    "AS x(position integer, product_id text, name text, sku text, "
	    "unit_price bigint, quantity integer)",
	[STMT_HISTORY_INSERT] =
	    "INSERT INTO order_status_history (merchant_id, order_id, "
	    "from_status, to_status, note) VALUES ($1, $2, $3, $4, $5)",
	[STMT_ORDER_GET] =
	    ORDER_SELECT "WHERE o.merchant_id = $1 AND o.id = $2",
	/* A page walks orders_list (merchant_id, created_at DESC, id DESC). */
	[STMT_ORDER_LIST] =
	    ORDER_SELECT "WHERE o.merchant_id = $1 "
	    "AND (o.created_at, o.id) < ($2::timestamptz, $3) "
	    "AND ($5::text IS NULL OR o.status = $5) "
	    "AND ($6::text IS NULL OR o.payment_status = $6) "
	    "ORDER BY o.created_at DESC, o.id DESC LIMIT $4",
	[STMT_ORDER_LIST_CUSTOMER] =
	    ORDER_SELECT "WHERE o.merchant_id = $1 AND o.customer_id = $7 "
	    "AND (o.created_at, o.id) < ($2::timestamptz, $3) "
	    "AND ($5::text IS NULL OR o.status = $5) "
	    "AND ($6::text IS NULL OR o.payment_status = $6) "
	    "ORDER BY o.created_at DESC, o.id DESC LIMIT $4",
	/* The items of the orders whose ids are the JSON array $2. */
	[STMT_ITEMS_OF] =
	    "SELECT x.n - 1, i.product_id, i.name, i.sku, i.unit_price_paisa, "
	    "i.quantity, i.unit_price_paisa * i.quantity "
	    "FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY "
	    "AS x(id, n) JOIN order_items i "
	    "ON i.merchant_id = $1 AND i.order_id = x.id "
	    "ORDER BY x.n, i.position",
	[STMT_HISTORY_OF] =
	    "SELECT from_status, to_status, note, " TS("created_at") " "
	    "FROM order_status_history "
	    "WHERE merchant_id = $1 AND order_id = $2 ORDER BY seq",
	[STMT_ORDER_LOCK] =
	    "SELECT status FROM orders WHERE merchant_id = $1 AND id = $2 "
	    "FOR UPDATE",
	[STMT_ORDER_MOVE] =
	    "UPDATE orders SET status = $3, updated_at = clock_timestamp() "
	    "WHERE merchant_id = $1 AND id = $2",
	/* Flips the flag and tests it in one step: stock comes back once. */
	[STMT_RESTORE_MARK] =
	    "UPDATE orders SET stock_restored = true "
	    "WHERE merchant_id = $1 AND id = $2 AND NOT stock_restored "
	    "RETURNING id",
	[STMT_RESTORE_ITEMS] =
	    "SELECT product_id, quantity FROM order_items "
	    "WHERE merchant_id = $1 AND order_id = $2 ORDER BY product_id",
	/* Even to a product deleted or deactivated since. */
	[STMT_STOCK_RETURN] =
	    "UPDATE products SET stock = stock + $3, "
	    "updated_at = clock_timestamp() "
	    "WHERE merchant_id = $1 AND id = $2",
};

static void	handle_list(struct app *, struct request *);
static void	handle_get(struct app *, struct request *);

enum route_id {
	ROUTE_CREATE,
	ROUTE_LIST,
	ROUTE_GET,
	ROUTE_STATUS,
	ROUTE_CANCEL,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_CREATE] = { METHOD_POST, "/v1/orders", handle_create, 0 },
	[ROUTE_LIST] = { METHOD_GET, "/v1/orders", handle_list, 0 },
	[ROUTE_GET] = { METHOD_GET, "/v1/orders/:id", handle_get, 0 },
	[ROUTE_STATUS] = { METHOD_POST, "/v1/orders/:id/status",
	    handle_status, 0 },
	[ROUTE_CANCEL] = { METHOD_POST, "/v1/orders/:id/cancel",
	    handle_cancel, 0 },
};

const char *const status_names[STATUS__MAX + 1] = {
	[STATUS_PENDING] = "pending",
	[STATUS_CONFIRMED] = "confirmed",
	[STATUS_PACKED] = "packed",
	[STATUS_SHIPPED] = "shipped",
	[STATUS_DELIVERED] = "delivered",
	[STATUS_CANCELLED] = "cancelled",
	[STATUS_RETURNED] = "returned",
};

static const char *const payment_statuses[] = {
	"pending", "paid", "failed", "refunded", "partially_refunded", NULL,
};

enum status
status_parse(const char *name)
{
	int	s;

	for (s = 0; s < STATUS__MAX; s++)
		if (strcmp(name, status_names[s]) == 0)
			return (enum status)s;
	return STATUS__MAX;
}

int
id_valid(const char *s)
{
	size_t	len = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");

	return len > 0 && len <= ID_MAX_LEN && s[len] == '\0';
}

/* 1 when name is one of the NULL-terminated choices. */
static int
one_of(const char *name, const char *const *choices)
{
	for (; *choices != NULL; choices++)
		if (strcmp(name, *choices) == 0)
			return 1;
	return 0;
}

int
exec_or_respond(struct app *app, struct request *r, enum stmt s, int nparams,
    const char *const *params)
{
	PGresult	*res;

	if ((res = query_or_respond(app, r, sql[s], nparams, params)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* The shipping address of row, keys in API order. */
static struct json_object *
address_json_of(const PGresult *res, int row)
{
	struct json_object	*stored, *out;

	stored = json_tokener_parse(PQgetvalue(res, row, OCOL_ADDRESS));
	out = address_reordered(stored, ADDRESS_SHIPPING);
	json_object_put(stored);
	return out;
}

/*
 * The order of row of a result of ORDER_SELECT, without its items (an
 * empty "items" array is in place for items_attach()) and, when
 * with_history, with an empty "statusHistory" for history_attach().
 * Returns a new object.
 */
static struct json_object *
order_json(const PGresult *res, int row, int with_history)
{
	struct json_object	*o, *c, *t, *p;

	c = json_object_new_object();
	row_text(c, "id", res, row, OCOL_CUSTOMER_ID);
	row_text(c, "firstName", res, row, OCOL_FIRST_NAME);
	row_text(c, "lastName", res, row, OCOL_LAST_NAME);
	row_text(c, "phone", res, row, OCOL_PHONE);
	t = json_object_new_object();
	row_money(t, "subtotal", res, row, OCOL_SUBTOTAL);
	row_money(t, "shipping", res, row, OCOL_SHIPPING);
	row_money(t, "discount", res, row, OCOL_DISCOUNT);
	row_money(t, "total", res, row, OCOL_TOTAL);
	p = json_object_new_object();
	row_text(p, "method", res, row, OCOL_PAYMENT_METHOD);
	row_text(p, "status", res, row, OCOL_PAYMENT_STATUS);

	o = json_object_new_object();
	row_text(o, "id", res, row, OCOL_ID);
	row_text(o, "orderNumber", res, row, OCOL_NUMBER);
	json_object_object_add(o, "customer", c);
	json_object_object_add(o, "items", json_object_new_array());
	json_object_object_add(o, "shippingAddress", address_json_of(res, row));
	json_object_object_add(o, "totals", t);
	json_object_object_add(o, "payment", p);
	row_text(o, "status", res, row, OCOL_STATUS);
	if (with_history)
		json_object_object_add(o, "statusHistory",
		    json_object_new_array());
	row_text(o, "notes", res, row, OCOL_NOTES);
	row_text(o, "createdAt", res, row, OCOL_CREATED);
	row_text(o, "updatedAt", res, row, OCOL_UPDATED);
	return o;
}

/*
 * Fills the "items" of the orders in list, which are rows [0, n) of res
 * (ORDER_SELECT), with one query for all of them. Returns 0, or -1 having
 * answered.
 */
static int
items_attach(struct app *app, struct request *r, struct json_object *list,
    const PGresult *res, int n)
{
	struct json_object	*ids, *order, *item;
	PGresult		*items = NULL;
	const char		*params[2] = { r->principal.merchant_id, NULL };
	long			 at;
	int			 i, rc = -1;

	if (n == 0)
		return 0;
	ids = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(ids,
		    json_object_new_string(PQgetvalue(res, i, OCOL_ID)));
	params[1] = json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN);
	if ((items = query_or_respond(app, r, sql[STMT_ITEMS_OF], 2,
	    params)) == NULL)
		goto out;
	for (i = 0; i < PQntuples(items); i++) {
		if (parse_long(PQgetvalue(items, i, ICOL_INDEX), 0, n - 1,
		    &at) != 0) {
			respond_error(r, ERR_INTERNAL, NULL, NULL);
			goto out;
		}
		order = json_object_array_get_idx(list, (size_t)at);
		item = json_object_new_object();
		row_text(item, "productId", items, i, ICOL_PRODUCT);
		row_text(item, "name", items, i, ICOL_NAME);
		row_text(item, "sku", items, i, ICOL_SKU);
		row_money(item, "unitPrice", items, i, ICOL_PRICE);
		row_int(item, "quantity", items, i, ICOL_QUANTITY);
		row_money(item, "lineTotal", items, i, ICOL_LINE_TOTAL);
		json_object_array_add(json_object_object_get(order, "items"),
		    item);
	}
	rc = 0;
out:
	json_object_put(ids);
	PQclear(items);
	return rc;
}

/* Fills the "statusHistory" of order id. Returns 0, or -1 having answered. */
static int
history_attach(struct app *app, struct request *r, struct json_object *order,
    const char *id)
{
	struct json_object	*list, *h;
	PGresult		*res;
	const char		*params[2] = { r->principal.merchant_id, id };
	int			 i;

	if ((res = query_or_respond(app, r, sql[STMT_HISTORY_OF], 2,
	    params)) == NULL)
		return -1;
	list = json_object_object_get(order, "statusHistory");
	for (i = 0; i < PQntuples(res); i++) {
		h = json_object_new_object();
		row_text(h, "from", res, i, 0);
		row_text(h, "to", res, i, 1);
		row_text(h, "note", res, i, 2);
		row_text(h, "at", res, i, 3);
		json_object_array_add(list, h);
	}
	PQclear(res);
	return 0;
}

struct json_object *
order_read(struct app *app, struct request *r, const char *id)
{
	struct json_object	*list = NULL, *order = NULL;
	PGresult		*res;
	const char		*params[2] = { r->principal.merchant_id, id };

	if ((res = query_or_respond(app, r, sql[STMT_ORDER_GET], 2,
	    params)) == NULL)
		return NULL;
	if (PQntuples(res) != 1) {
		respond_error(r, ERR_NOT_FOUND, "no such order", NULL);
		goto out;
	}
	list = json_object_new_array();
	json_object_array_add(list, order_json(res, 0, 1));
	if (items_attach(app, r, list, res, 1) != 0 ||
	    history_attach(app, r, json_object_array_get_idx(list, 0),
	    id) != 0)
		goto out;
	order = json_object_get(json_object_array_get_idx(list, 0));
out:
	json_object_put(list);
	PQclear(res);
	return order;
}

/*
 * Reads an optional filter of the list into *value: NULL when absent, else
 * one of choices, or with no choices an id (id_valid()).
 * Returns 0, or -1 having answered 422.
 */
static int
filter_or_respond(struct request *r, const char *name,
    const char *const *choices, const char **value)
{
	char	list[128] = "";
	size_t	i;

	if ((*value = request_query(r, name)) == NULL)
		return 0;
	if (choices == NULL) {
		if (id_valid(*value))
			return 0;
		respond_errorf(r, ERR_VALIDATION, name, "%s is not an id",
		    name);
		return -1;
	}
	if (one_of(*value, choices))
		return 0;
	for (i = 0; choices[i] != NULL; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", i ? ", " : "", choices[i]);
	respond_errorf(r, ERR_VALIDATION, name, "%s must be one of: %s",
	    name, list);
	return -1;
}

static void
handle_list(struct app *app, struct request *r)
{
	struct page		 pg;
	struct json_object	*list = NULL, *data;
	PGresult		*res;
	const char		*params[7], *last_ts = NULL, *last_id = NULL;
	int			 i, shown;

	if (page_or_respond(r, &pg) != 0 ||
	    filter_or_respond(r, "status", status_names, &params[4]) != 0 ||
	    filter_or_respond(r, "paymentStatus", payment_statuses,
	    &params[5]) != 0 ||
	    filter_or_respond(r, "customerId", NULL, &params[6]) != 0)
		return;
	params[0] = r->principal.merchant_id;
	params[1] = pg.after_ts;
	params[2] = pg.after_id;
	params[3] = pg.fetch;
	if (params[6] == NULL)
		res = query_or_respond(app, r, sql[STMT_ORDER_LIST], 6, params);
	else
		res = query_or_respond(app, r, sql[STMT_ORDER_LIST_CUSTOMER], 7,
		    params);
	if (res == NULL)
		return;
	shown = page_shown(&pg, PQntuples(res));
	list = json_object_new_array();
	for (i = 0; i < shown; i++)
		json_object_array_add(list, order_json(res, i, 0));
	if (items_attach(app, r, list, res, shown) != 0)
		goto out;
	if (shown > 0) {
		last_ts = PQgetvalue(res, shown - 1, OCOL_CURSOR);
		last_id = PQgetvalue(res, shown - 1, OCOL_ID);
	}
	data = json_object_new_object();
	json_object_object_add(data, "orders", list);
	list = NULL;
	json_object_object_add(data, "nextCursor",
	    page_next(r, &pg, PQntuples(res), last_ts, last_id));
	respond_data(r, 200, data);
out:
	json_object_put(list);
	PQclear(res);
}

static void
handle_get(struct app *app, struct request *r)
{
	struct json_object	*order;

	if (!id_valid(r->params[0])) {
		respond_error(r, ERR_NOT_FOUND, "no such order", NULL);
		return;
	}
	if ((order = order_read(app, r, r->params[0])) != NULL)
		respond_data(r, 200, order);
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "orders", sql, STMT__MAX) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
