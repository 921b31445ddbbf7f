/*
 * create.c: POST /v1/orders. Inside the transaction that the idempotency
 * pair opens: the customer is found or made, stock is taken product by
 * product, totals come from catalog prices, then the order gets its number
 * and its rows. Any failure answers and returns; the request loop rolls
 * back, so nothing is taken and no customer is made.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "idempotency.h"
#include "log.h"
#include "orders.h"
#include "validate.h"

#define ITEMS_MAX		50
#define QUANTITY_MAX		1000
#define AMOUNT_MAX_PAISA	INT64_C(1000000000)	/* 10,000,000 rupees */

/* The first is the default. */
static const char *const payment_methods[] = {
	"cod", "esewa", "khalti", "fonepay", NULL,
};

struct customer_in {
	const char	*first_name;
	const char	*last_name;
	const char	*phone;
	const char	*email;
};

static const struct field customer_fields[] = {
	{ "firstName", FIELD_STRING, REQUIRED, 1, 80,
	    offsetof(struct customer_in, first_name), NULL, 0, NULL },
	{ "lastName", FIELD_STRING, OPTIONAL, 0, 80,
	    offsetof(struct customer_in, last_name), NULL, 0, NULL },
	{ "phone", FIELD_PHONE, REQUIRED, 1, 0,
	    offsetof(struct customer_in, phone), NULL, 0, NULL },
	{ "email", FIELD_EMAIL, OPTIONAL, 0, 0,
	    offsetof(struct customer_in, email), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

struct item_in {
	const char	*product_id;
	struct jnum	 quantity;
};

static const struct field item_fields[] = {
	{ "productId", FIELD_STRING, REQUIRED, 1, ID_MAX_LEN,
	    offsetof(struct item_in, product_id), NULL, 0, NULL },
	{ "quantity", FIELD_INT, REQUIRED, 1, QUANTITY_MAX,
	    offsetof(struct item_in, quantity), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

struct payment_in {
	const char	*method;
};

static const struct field payment_fields[] = {
	{ "method", FIELD_ENUM, OPTIONAL, 0, 0,
	    offsetof(struct payment_in, method), NULL, 0, payment_methods },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

struct order_in {
	const char		*customer_id;
	struct customer_in	*customer;
	struct jarray		 items;		/* of struct item_in */
	struct address		*address;
	struct jnum		 shipping;
	struct jnum		 discount;
	struct payment_in	*payment;
	const char		*notes;
};

static const struct field order_fields[] = {
	{ "customerId", FIELD_STRING, OPTIONAL, 1, ID_MAX_LEN,
	    offsetof(struct order_in, customer_id), NULL, 0, NULL },
	{ "customer", FIELD_OBJECT, OPTIONAL, 0, 0,
	    offsetof(struct order_in, customer), customer_fields,
	    sizeof(struct customer_in), NULL },
	{ "items", FIELD_ARRAY, REQUIRED, 1, ITEMS_MAX,
	    offsetof(struct order_in, items), item_fields,
	    sizeof(struct item_in), NULL },
	{ "shippingAddress", FIELD_OBJECT, REQUIRED, 0, 0,
	    offsetof(struct order_in, address), shipping_address_fields,
	    sizeof(struct address), NULL },
	{ "shipping", FIELD_MONEY, OPTIONAL, 0, AMOUNT_MAX_PAISA,
	    offsetof(struct order_in, shipping), NULL, 0, NULL },
	{ "discount", FIELD_MONEY, OPTIONAL, 0, AMOUNT_MAX_PAISA,
	    offsetof(struct order_in, discount), NULL, 0, NULL },
	{ "payment", FIELD_OBJECT, OPTIONAL, 0, 0,
	    offsetof(struct order_in, payment), payment_fields,
	    sizeof(struct payment_in), NULL },
	{ "notes", FIELD_TEXT, OPTIONAL, 0, 2000,
	    offsetof(struct order_in, notes), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

/* One product of an order: the body's items merged by product. */
struct line {
	const char	*product_id;
	int64_t		 quantity;
	size_t		 first;		/* the client's index of its first mention */
	char		*name;		/* from the catalog (arena) */
	char		*sku;
	int64_t		 unit_price;	/* paisa */
};

struct totals {
	int64_t	subtotal;
	int64_t	shipping;
	int64_t	discount;
	int64_t	total;
};

static int64_t
col_int64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/*
 * The body's items with repeats of a product merged, in the order of first
 * mention. Returns an arena array of *n lines, or NULL having answered 422
 * (a product asked for more than QUANTITY_MAX units in all) or 500.
 */
static struct line *
lines_merge(struct request *r, const struct jarray *items, size_t *n)
{
	const struct item_in	*in = items->items;
	struct line		*lines;
	char			 path[48];
	size_t			 i, j;

	if ((lines = arena_alloc(&r->arena, items->n * sizeof(*lines)))
	    == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return NULL;
	}
	*n = 0;
	for (i = 0; i < items->n; i++) {
		for (j = 0; j < *n; j++)
			if (strcmp(lines[j].product_id, in[i].product_id) == 0)
				break;
		if (j == *n) {
			lines[j].product_id = in[i].product_id;
			lines[j].first = i;
			(*n)++;
		}
		lines[j].quantity += in[i].quantity.value;
		if (lines[j].quantity > QUANTITY_MAX) {
			snprintf(path, sizeof(path), "items[%zu].quantity", i);
			respond_errorf(r, ERR_VALIDATION, path, "%s brings the "
			    "quantity of %s to %" PRId64 "; at most %d in all",
			    path, lines[j].product_id, lines[j].quantity,
			    QUANTITY_MAX);
			return NULL;
		}
	}
	return lines;
}

/* Answers 409 out_of_stock for a line of which only available are left. */
static void
out_of_stock(struct request *r, const struct line *l, const char *name,
    int64_t available)
{
	struct json_object	*details;
	char			 msg[512];

	snprintf(msg, sizeof(msg), "not enough stock for %s: %" PRId64
	    " available, %" PRId64 " requested", name, available, l->quantity);
	details = json_object_new_object();
	json_object_object_add(details, "productId",
	    json_object_new_string(l->product_id));
	json_object_object_add(details, "available",
	    json_object_new_int64(available));
	json_object_object_add(details, "requested",
	    json_object_new_int64(l->quantity));
	respond_error_details(r, ERR_OUT_OF_STOCK, msg, details);
}

/*
 * Takes a line's quantity from its product and copies the product's name,
 * SKU and price into it. When the take finds no row, a second look (which
 * locks the row) says why: 422 for a product that is absent, deleted or
 * inactive, 409 for too little stock; if the stock came back in between,
 * the locked row is taken after all. Returns 0, or -1 having answered.
 */
static int
line_take(struct app *app, struct request *r, struct line *l)
{
	PGresult	*res = NULL, *check = NULL;
	char		 qty[24], path[48];
	const char	*params[3] = { r->principal.merchant_id, l->product_id,
			    qty };
	int64_t		 available;
	int		 rc = -1;

	snprintf(qty, sizeof(qty), "%" PRId64, l->quantity);
	if ((res = query_or_respond(app, r, sql[STMT_STOCK_TAKE], 3,
	    params)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		if ((check = query_or_respond(app, r, sql[STMT_STOCK_CHECK], 2,
		    params)) == NULL)
			goto out;
		if (PQntuples(check) == 0 || PQgetvalue(check, 0, 2)[0] != 't') {
			snprintf(path, sizeof(path), "items[%zu].productId",
			    l->first);
			respond_errorf(r, ERR_VALIDATION, path,
			    "%s does not name an active product", path);
			goto out;
		}
		if ((available = col_int64(check, 0, 1)) < l->quantity) {
			out_of_stock(r, l, PQgetvalue(check, 0, 0), available);
			goto out;
		}
		PQclear(res);
		if ((res = query_or_respond(app, r, sql[STMT_STOCK_TAKE], 3,
		    params)) == NULL)
			goto out;
		if (PQntuples(res) != 1) {
			respond_error(r, ERR_INTERNAL, NULL, NULL);
			goto out;
		}
	}
	l->name = arena_strdup(&r->arena, PQgetvalue(res, 0, 0));
	l->sku = arena_strdup(&r->arena, PQgetvalue(res, 0, 1));
	l->unit_price = col_int64(res, 0, 2);
	if (l->name == NULL || l->sku == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	PQclear(check);
	return rc;
}

static int
line_cmp(const void *a, const void *b)
{
	const struct line	*la = *(const struct line *const *)a;
	const struct line	*lb = *(const struct line *const *)b;

	return strcmp(la->product_id, lb->product_id);
}

/*
 * Takes the stock of every line, in product id order (the same order for
 * every order, so no two creates deadlock). Inside the caller's
 * transaction: a failure leaves the rollback to the request loop.
 * Returns 0, or -1 having answered.
 */
static int
stock_take(struct app *app, struct request *r, struct line *lines, size_t n)
{
	struct line	**sorted;
	size_t		  i;

	if ((sorted = arena_alloc(&r->arena, n * sizeof(*sorted))) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	for (i = 0; i < n; i++)
		sorted[i] = &lines[i];
	qsort(sorted, n, sizeof(*sorted), line_cmp);
	for (i = 0; i < n; i++)
		if (line_take(app, r, sorted[i]) != 0)
			return -1;
	return 0;
}

/* *sum = a + b for amounts >= 0; -1 on overflow. */
static int
paisa_add(int64_t a, int64_t b, int64_t *sum)
{
	if (b > INT64_MAX - a)
		return -1;
	*sum = a + b;
	return 0;
}

/* *product = a * b for amounts >= 0; -1 on overflow. */
static int
paisa_mul(int64_t a, int64_t b, int64_t *product)
{
	if (b != 0 && a > INT64_MAX / b)
		return -1;
	*product = a * b;
	return 0;
}

/*
 * The order's totals from the catalog prices of its lines. Returns 0, or
 * -1 having answered 422 (a discount above subtotal plus shipping, or
 * amounts too large to add up).
 */
static int
totals_or_respond(struct request *r, const struct order_in *in,
    const struct line *lines, size_t n, struct totals *t)
{
	int64_t	line, gross;
	size_t	i;

	t->subtotal = 0;
	t->shipping = in->shipping.present ? in->shipping.value : 0;
	t->discount = in->discount.present ? in->discount.value : 0;
	for (i = 0; i < n; i++)
		if (paisa_mul(lines[i].unit_price, lines[i].quantity,
		    &line) != 0 ||
		    paisa_add(t->subtotal, line, &t->subtotal) != 0) {
			respond_error(r, ERR_VALIDATION, "the order's total "
			    "is too large", "items");
			return -1;
		}
	if (paisa_add(t->subtotal, t->shipping, &gross) != 0) {
		respond_error(r, ERR_VALIDATION, "the order's total is too "
		    "large", "shipping");
		return -1;
	}
	if (t->discount > gross) {
		respond_error(r, ERR_VALIDATION, "discount must not be more "
		    "than the subtotal plus shipping", "discount");
		return -1;
	}
	t->total = gross - t->discount;
	return 0;
}

/* The shipping address as JSON text for the jsonb column (arena), or NULL. */
static char *
address_text(struct request *r, const struct address *a)
{
	struct json_object	*o = address_json(a, ADDRESS_SHIPPING);
	char			*text;

	text = arena_strdup(&r->arena,
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* The lines as the JSON array STMT_ITEMS_INSERT reads (arena), or NULL. */
static char *
lines_text(struct request *r, const struct line *lines, size_t n)
{
	struct json_object	*arr = json_object_new_array(), *x;
	char			*text;
	size_t			 i;

	for (i = 0; i < n; i++) {
		x = json_object_new_object();
		json_object_object_add(x, "position",
		    json_object_new_int64((int64_t)i + 1));
		json_object_object_add(x, "product_id",
		    json_object_new_string(lines[i].product_id));
		json_object_object_add(x, "name",
		    json_object_new_string(lines[i].name));
		json_object_object_add(x, "sku",
		    json_object_new_string(lines[i].sku));
		json_object_object_add(x, "unit_price",
		    json_object_new_int64(lines[i].unit_price));
		json_object_object_add(x, "quantity",
		    json_object_new_int64(lines[i].quantity));
		json_object_array_add(arr, x);
	}
	text = arena_strdup(&r->arena,
	    json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
	return text;
}

/*
 * Puts the id of the order's customer into id: the one customerId names,
 * or the merchant's customer with the phone of the body's customer, made
 * when new (an existing customer keeps their name). Returns 0, or -1
 * having answered (422 when customerId names no customer of the merchant).
 */
static int
customer_resolve(struct app *app, struct request *r, const struct order_in *in,
    char id[RANDOM_ID_MAX])
{
	const struct customer_in	*c = in->customer;
	PGresult			*res;
	char				 fresh[RANDOM_ID_MAX];
	const char			*params[6] = {
					    r->principal.merchant_id };

	if (in->customer_id != NULL) {
		params[1] = in->customer_id;
		if ((res = query_or_respond(app, r, sql[STMT_CUSTOMER_GET], 2,
		    params)) == NULL)
			return -1;
		if (PQntuples(res) != 1) {
			PQclear(res);
			respond_error(r, ERR_VALIDATION, "customerId does not "
			    "name a customer", "customerId");
			return -1;
		}
	} else {
		if (random_id("cus", fresh) != 0) {
			respond_error(r, ERR_INTERNAL, NULL, NULL);
			return -1;
		}
		params[1] = fresh;
		params[2] = c->first_name;
		params[3] = c->last_name != NULL ? c->last_name : "";
		params[4] = c->phone;
		params[5] = c->email;
		if ((res = query_or_respond(app, r, sql[STMT_CUSTOMER_MATCH], 6,
		    params)) == NULL)
			return -1;
	}
	/* Both statements return the customer's id first. */
	snprintf(id, RANDOM_ID_MAX, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/*
 * Writes order id: its number, the order row, its items and its first
 * history row. Returns 0, or -1 having answered.
 */
static int
order_insert(struct app *app, struct request *r, const struct order_in *in,
    const char *id, const char *customer, const struct line *lines, size_t n,
    const struct totals *t)
{
	PGresult	*res;
	char		 number[40], sub[24], ship[24], disc[24], total[24];
	const char	*params[11] = { r->principal.merchant_id, id, number,
			    customer, NULL, sub, ship, disc, total, NULL,
			    NULL };

	if ((res = query_or_respond(app, r, sql[STMT_COUNTER_NEXT], 1,
	    params)) == NULL)
		return -1;
	snprintf(number, sizeof(number), "ORD-%s-%04ld",
	    PQgetvalue(res, 0, 0), strtol(PQgetvalue(res, 0, 1), NULL, 10));
	PQclear(res);

	params[4] = in->payment != NULL && in->payment->method != NULL ?
	    in->payment->method : payment_methods[0];
	snprintf(sub, sizeof(sub), "%" PRId64, t->subtotal);
	snprintf(ship, sizeof(ship), "%" PRId64, t->shipping);
	snprintf(disc, sizeof(disc), "%" PRId64, t->discount);
	snprintf(total, sizeof(total), "%" PRId64, t->total);
	params[10] = in->notes != NULL ? in->notes : "";
	if ((params[9] = address_text(r, in->address)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	if (exec_or_respond(app, r, STMT_ORDER_INSERT, 11, params) != 0)
		return -1;

	if ((params[2] = lines_text(r, lines, n)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	if (exec_or_respond(app, r, STMT_ITEMS_INSERT, 3, params) != 0)
		return -1;

	params[2] = NULL;
	params[3] = status_names[STATUS_PENDING];
	params[4] = "";
	return exec_or_respond(app, r, STMT_HISTORY_INSERT, 5, params);
}

void
handle_create(struct app *app, struct request *r)
{
	struct order_in		 in = { 0 };
	struct line		*lines;
	struct totals		 t;
	struct json_object	*data;
	char			 id[RANDOM_ID_MAX], customer[RANDOM_ID_MAX];
	size_t			 n;

	if (fields_or_respond(r, order_fields, &in) != 0)
		return;
	if ((in.customer_id == NULL) == (in.customer == NULL)) {
		respond_error(r, ERR_VALIDATION, "exactly one of customerId "
		    "and customer is required", "customer");
		return;
	}
	if ((lines = lines_merge(r, &in.items, &n)) == NULL)
		return;
	if (random_id("ord", id) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	if (idempotent_begin_or_respond(app, r) != 0)
		return;
	if (customer_resolve(app, r, &in, customer) != 0)
		return;
	if (stock_take(app, r, lines, n) != 0)
		return;
	if (totals_or_respond(r, &in, lines, n, &t) != 0)
		return;
	if (order_insert(app, r, &in, id, customer, lines, n, &t) != 0)
		return;
	/* The same reading as GET, so both show the same shape. */
	if ((data = order_read(app, r, id)) == NULL)
		return;
	idempotent_commit_and_respond(app, r, 201, data);
	if (r->status == 201)
		log_event(LOG_INFO, "order_created", "%s", id);
}
