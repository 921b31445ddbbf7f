/*
 * catalog: a merchant's products.
 *
 *	POST   /v1/products		idempotent
 *	GET    /v1/products		?search ?active ?limit ?cursor
 *	GET    /v1/products/:id
 *	PATCH  /v1/products/:id
 *	DELETE /v1/products/:id		soft: the row stays for the orders
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "idempotency.h"
#include "log.h"
#include "page.h"
#include "rowjson.h"
#include "validate.h"

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define PRODUCT_COLUMNS \
	"id, name, description, price_paisa, sku, stock, image_urls, " \
	"active, " TS("created_at") ", " TS("updated_at")
#define COL_CURSOR_TS	10	/* PAGE_TS_SQL after PRODUCT_COLUMNS */

#define PRICE_MAX_PAISA	1000000000	/* 10,000,000 rupees */
#define STOCK_MAX	1000000
#define IMAGE_URLS_MAX	10
#define URL_CHARS_MAX	2048
#define SEARCH_CHARS_MAX 100
#define SKU_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum stmt {
	STMT_PRODUCT_INSERT,
	STMT_PRODUCT_GET,
	STMT_PRODUCT_LIST,
	STMT_PRODUCT_UPDATE,
	STMT_PRODUCT_DELETE,
	STMT__MAX,
};

/*
 * Image URLs travel as one JSON array text ($n::jsonb) and become text[] in
 * SQL, so no array literal is ever assembled in C. The list keeps page.h's
 * shape ($1-$4) on products_list; $5 (active) and $6 (search) are NULL when
 * not asked for. PATCH passes NULL for every field not sent.
 */
static const char *const sql[STMT__MAX] = {
	[STMT_PRODUCT_INSERT] =
	    "INSERT INTO products (id, merchant_id, name, description, "
	    "price_paisa, sku, stock, image_urls, active) "
	    "VALUES ($1, $2, $3, $4, $5::bigint, $6, $7::integer, "
	    "ARRAY(SELECT jsonb_array_elements_text($8::jsonb)), "
	    "$9::boolean) RETURNING " PRODUCT_COLUMNS,
	[STMT_PRODUCT_GET] =
	    "SELECT " PRODUCT_COLUMNS " FROM products "
	    "WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL",
	[STMT_PRODUCT_LIST] =
	    "SELECT " PRODUCT_COLUMNS ", " PAGE_TS_SQL("created_at")
	    " FROM products "
	    "WHERE merchant_id = $1 AND deleted_at IS NULL "
	    "AND (created_at, id) < ($2::timestamptz, $3) "
	    "AND ($5::boolean IS NULL OR active = $5::boolean) "
	    "AND ($6::text IS NULL OR sku = $6::text "
	    "OR strpos(lower(name), lower($6::text)) > 0) "
	    "ORDER BY created_at DESC, id DESC LIMIT $4",
	[STMT_PRODUCT_UPDATE] =
	    "UPDATE products SET name = COALESCE($3, name), "
	    "description = COALESCE($4, description), "
	    "price_paisa = COALESCE($5::bigint, price_paisa), "
	    "sku = COALESCE($6, sku), "
	    "stock = COALESCE($7::integer, stock), "
	    "image_urls = CASE WHEN $8::jsonb IS NULL THEN image_urls ELSE "
	    "ARRAY(SELECT jsonb_array_elements_text($8::jsonb)) END, "
	    "active = COALESCE($9::boolean, active), "
	    "updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL "
	    "RETURNING " PRODUCT_COLUMNS,
	[STMT_PRODUCT_DELETE] =
	    "UPDATE products SET deleted_at = now() "
	    "WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL "
	    "RETURNING id",
};

static void	handle_create(struct app *, struct request *);
static void	handle_list(struct app *, struct request *);
static void	handle_get(struct app *, struct request *);
static void	handle_update(struct app *, struct request *);
static void	handle_delete(struct app *, struct request *);

enum route_id {
	ROUTE_CREATE,
	ROUTE_LIST,
	ROUTE_GET,
	ROUTE_UPDATE,
	ROUTE_DELETE,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_CREATE] = { METHOD_POST, "/v1/products", handle_create, 0 },
	[ROUTE_LIST] = { METHOD_GET, "/v1/products", handle_list, 0 },
	[ROUTE_GET] = { METHOD_GET, "/v1/products/:id", handle_get, 0 },
	[ROUTE_UPDATE] = { METHOD_PATCH, "/v1/products/:id",
	    handle_update, 0 },
	[ROUTE_DELETE] = { METHOD_DELETE, "/v1/products/:id",
	    handle_delete, 0 },
};

struct product_in {
	const char	*name;
	const char	*description;
	struct jnum	 price;		/* paisa */
	const char	*sku;
	struct jnum	 stock;
	struct jnum	 active;
	struct jarray	 image_urls;	/* of const char *; items NULL: absent */
	const char	*image_urls_json; /* the same as JSON text, for SQL */
};

/* POST: name, price and sku required; PATCH reads it with all optional. */
static const struct field product_fields[] = {
	{ "name", FIELD_STRING, REQUIRED, 1, 200,
	    offsetof(struct product_in, name), NULL, 0, NULL },
	{ "description", FIELD_TEXT, OPTIONAL, 0, 5000,
	    offsetof(struct product_in, description), NULL, 0, NULL },
	{ "price", FIELD_MONEY, REQUIRED, 0, PRICE_MAX_PAISA,
	    offsetof(struct product_in, price), NULL, 0, NULL },
	{ "sku", FIELD_STRING, REQUIRED, 1, 64,
	    offsetof(struct product_in, sku), NULL, 0, NULL },
	{ "stock", FIELD_INT, OPTIONAL, 0, STOCK_MAX,
	    offsetof(struct product_in, stock), NULL, 0, NULL },
	{ "active", FIELD_BOOL, OPTIONAL, 0, 0,
	    offsetof(struct product_in, active), NULL, 0, NULL },
	{ "imageUrls", FIELD_STRING_ARRAY, OPTIONAL, 0, IMAGE_URLS_MAX,
	    offsetof(struct product_in, image_urls), NULL, URL_CHARS_MAX,
	    NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

/* The product object from a row of PRODUCT_COLUMNS. */
static struct json_object *
product_json(const PGresult *res, int row)
{
	struct json_object	*p = json_object_new_object();

	row_text(p, "id", res, row, 0);
	row_text(p, "name", res, row, 1);
	row_text(p, "description", res, row, 2);
	row_money(p, "price", res, row, 3);
	row_text(p, "sku", res, row, 4);
	row_int(p, "stock", res, row, 5);
	row_text_array(p, "imageUrls", res, row, 6);
	row_bool(p, "active", res, row, 7);
	row_text(p, "createdAt", res, row, 8);
	row_text(p, "updatedAt", res, row, 9);
	return p;
}

/* 1 when s (a validated one-line string) is an http:// or https:// URL
 * with a host and no spaces. */
static int
url_valid(const char *s)
{
	size_t	skip;

	if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return 0;
	return s[skip] != '\0' && s[skip] != '/' && strchr(s, ' ') == NULL;
}

/*
 * Checks each image URL and keeps the list as JSON text for SQL, which
 * turns it into text[] (no array literal is assembled in C). Returns 0, or
 * -1 having answered.
 */
static int
image_urls_or_respond(struct request *r, struct product_in *in)
{
	const char *const	*urls = in->image_urls.items;
	struct json_object	*arr;
	size_t			 i;

	if (urls == NULL)
		return 0;
	arr = json_object_new_array();
	for (i = 0; i < in->image_urls.n; i++) {
		if (!url_valid(urls[i])) {
			json_object_put(arr);
			respond_errorf(r, ERR_VALIDATION, arena_printf(
			    &r->arena, "imageUrls[%zu]", i), "imageUrls[%zu] "
			    "must be an http:// or https:// URL", i);
			return -1;
		}
		json_object_array_add(arr, json_object_new_string(urls[i]));
	}
	in->image_urls_json = arena_strdup(&r->arena,
	    json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	if (in->image_urls_json == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Reads a product body (a PATCH with every field optional). Returns 0,
 * or -1 having answered. */
static int
product_or_respond(struct request *r, int patch, struct product_in *in)
{
	if ((patch ? patch_fields_or_respond(r, product_fields, in) :
	    fields_or_respond(r, product_fields, in)) != 0 ||
	    image_urls_or_respond(r, in) != 0)
		return -1;
	if (in->sku != NULL && in->sku[strspn(in->sku, SKU_CHARS)] != '\0') {
		respond_error(r, ERR_VALIDATION, "sku must be 1 to 64 "
		    "characters of A-Z, a-z, 0-9, '.', '_' and '-'", "sku");
		return -1;
	}
	return 0;
}

/*
 * Runs an INSERT or UPDATE of a product: returns the result (caller
 * PQclear()s) or NULL having answered, 409 for a SKU in use.
 */
static PGresult *
product_write_or_respond(struct app *app, struct request *r, const char *text,
    int nparams, const char *const *params)
{
	PGresult	*res;

	switch (db_query(&app->db, &res, text, nparams, params)) {
	case DB_OK:
		return res;
	case DB_UNIQUE_VIOLATION:
		if (strcmp(app->db.constraint, "products_sku_key") == 0) {
			respond_error(r, ERR_CONFLICT, "a product with this "
			    "SKU already exists", "sku");
			return NULL;
		}
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return NULL;
	case DB_DOWN:
		respond_error(r, ERR_UNAVAILABLE, "the database is "
		    "unavailable; retry shortly", NULL);
		return NULL;
	default:
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return NULL;
	}
}

/*
 * Reads ?search: NULL when absent, else 1 to SEARCH_CHARS_MAX characters
 * of UTF-8. Returns 0, or -1 having answered 422.
 */
static int
search_or_respond(struct request *r, const char **out)
{
	size_t	chars;

	if ((*out = request_query(r, "search")) == NULL)
		return 0;
	if (!utf8_valid(*out, strlen(*out), &chars) || chars < 1 ||
	    chars > SEARCH_CHARS_MAX) {
		respond_errorf(r, ERR_VALIDATION, "search", "search must be "
		    "1 to %d characters", SEARCH_CHARS_MAX);
		return -1;
	}
	return 0;
}

static void
handle_create(struct app *app, struct request *r)
{
	struct product_in	 in = { 0 };
	struct json_object	*data;
	PGresult		*res;
	char			 id[RANDOM_ID_MAX], price[24], stock[24];
	const char		*params[9];

	if (product_or_respond(r, 0, &in) != 0)
		return;
	if (random_id("prod", id) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	snprintf(price, sizeof(price), "%" PRId64, in.price.value);
	snprintf(stock, sizeof(stock), "%" PRId64,
	    in.stock.present ? in.stock.value : 0);
	params[0] = id;
	params[1] = r->principal.merchant_id;
	params[2] = in.name;
	params[3] = in.description != NULL ? in.description : "";
	params[4] = price;
	params[5] = in.sku;
	params[6] = stock;
	params[7] = in.image_urls_json != NULL ? in.image_urls_json : "[]";
	params[8] = !in.active.present || in.active.value ? "true" : "false";

	if (idempotent_begin_or_respond(app, r) != 0)
		return;
	if ((res = product_write_or_respond(app, r, sql[STMT_PRODUCT_INSERT],
	    9, params)) == NULL)
		return;
	data = product_json(res, 0);
	PQclear(res);
	log_event(LOG_INFO, "product_created", "%s", id);
	idempotent_commit_and_respond(app, r, 201, data);
}

static void
handle_list(struct app *app, struct request *r)
{
	struct page		 pg;
	PGresult		*res;
	const char		*active, *search, *params[6];

	if (page_or_respond(r, &pg) != 0 || search_or_respond(r, &search) != 0)
		return;
	if ((active = request_query(r, "active")) != NULL &&
	    strcmp(active, "true") != 0 && strcmp(active, "false") != 0) {
		respond_error(r, ERR_VALIDATION, "active must be true or false",
		    "active");
		return;
	}
	params[0] = r->principal.merchant_id;
	params[1] = pg.after_ts;
	params[2] = pg.after_id;
	params[3] = pg.fetch;
	params[4] = active;
	params[5] = search;

	if ((res = query_or_respond(app, r, sql[STMT_PRODUCT_LIST], 6,
	    params)) == NULL)
		return;
	page_respond(r, &pg, res, "products", product_json, COL_CURSOR_TS);
}

static void
handle_get(struct app *app, struct request *r)
{
	PGresult	*res;
	const char	*params[2] = { r->params[0], r->principal.merchant_id };

	if ((res = query_or_respond(app, r, sql[STMT_PRODUCT_GET], 2,
	    params)) == NULL)
		return;
	respond_row(r, res, product_json, "no such product");
}

static void
handle_update(struct app *app, struct request *r)
{
	struct product_in	 in = { 0 };
	PGresult		*res;
	char			 price[24], stock[24];
	const char		*params[9];

	if (product_or_respond(r, 1, &in) != 0)
		return;
	if (in.name == NULL && in.description == NULL && !in.price.present &&
	    in.sku == NULL && !in.stock.present && !in.active.present &&
	    in.image_urls_json == NULL) {
		respond_error(r, ERR_VALIDATION,
		    "at least one field is required", NULL);
		return;
	}
	snprintf(price, sizeof(price), "%" PRId64, in.price.value);
	snprintf(stock, sizeof(stock), "%" PRId64, in.stock.value);
	params[0] = r->params[0];
	params[1] = r->principal.merchant_id;
	params[2] = in.name;
	params[3] = in.description;
	params[4] = in.price.present ? price : NULL;
	params[5] = in.sku;
	params[6] = in.stock.present ? stock : NULL;
	params[7] = in.image_urls_json;
	params[8] = !in.active.present ? NULL :
	    in.active.value ? "true" : "false";

	if ((res = product_write_or_respond(app, r, sql[STMT_PRODUCT_UPDATE],
	    9, params)) == NULL)
		return;
	respond_row(r, res, product_json, "no such product");
}

static void
handle_delete(struct app *app, struct request *r)
{
	struct json_object	*data;
	PGresult		*res;
	const char		*params[2] = { r->params[0],
				    r->principal.merchant_id };
	int			 deleted;

	if ((res = query_or_respond(app, r, sql[STMT_PRODUCT_DELETE], 2,
	    params)) == NULL)
		return;
	deleted = PQntuples(res) == 1;
	PQclear(res);
	if (!deleted) {
		respond_error(r, ERR_NOT_FOUND, "no such product", NULL);
		return;
	}
	log_event(LOG_INFO, "product_deleted", "%s", r->params[0]);
	data = json_object_new_object();
	json_object_object_add(data, "id",
	    json_object_new_string(r->params[0]));
	json_object_object_add(data, "deleted", json_object_new_boolean(1));
	respond_data(r, 200, data);
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "catalog", sql, STMT__MAX) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
