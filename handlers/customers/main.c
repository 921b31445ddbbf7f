/*
 * customers: a merchant's customers, one per phone number.
 *
 *	POST   /v1/customers		idempotent
 *	GET    /v1/customers		?phone ?search ?limit ?cursor
 *	GET    /v1/customers/:id
 *	PATCH  /v1/customers/:id
 */
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "app.h"
#include "idempotency.h"
#include "log.h"
#include "page.h"
#include "phone.h"
#include "rowjson.h"
#include "validate.h"

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define CUSTOMER_COLUMNS \
	"id, first_name, last_name, phone, email, addresses, " \
	TS("created_at") ", " TS("updated_at")
#define COL_CURSOR_TS	8	/* PAGE_TS_SQL after CUSTOMER_COLUMNS */

#define ADDRESSES_MAX	10
#define SEARCH_CHARS_MAX 100
#define PHONE_TEXT_MAX	40

enum stmt {
	STMT_CUSTOMER_INSERT,
	STMT_CUSTOMER_GET,
	STMT_CUSTOMER_LIST,
	STMT_CUSTOMER_UPDATE,
	STMT_CUSTOMER_BY_PHONE,
	STMT__MAX,
};

/*
 * The insert skips a phone already taken instead of failing, so the create
 * transaction stays usable for looking up the customer who has it. The list
 * keeps page.h's shape ($1-$4) on customers_list; $5 (phone) and $6
 * (search) are NULL when not asked for. PATCH passes NULL for every field
 * not sent; $7 is true when the body asks to clear the email.
 */
static const char *const sql[STMT__MAX] = {
	[STMT_CUSTOMER_INSERT] =
	    "INSERT INTO customers (id, merchant_id, first_name, last_name, "
	    "phone, email, addresses) VALUES ($1, $2, $3, $4, $5, $6, "
	    "$7::jsonb) ON CONFLICT (merchant_id, phone) DO NOTHING "
	    "RETURNING " CUSTOMER_COLUMNS,
	[STMT_CUSTOMER_GET] =
	    "SELECT " CUSTOMER_COLUMNS " FROM customers "
	    "WHERE id = $1 AND merchant_id = $2",
	[STMT_CUSTOMER_LIST] =
	    "SELECT " CUSTOMER_COLUMNS ", " PAGE_TS_SQL("created_at")
	    " FROM customers "
	    "WHERE merchant_id = $1 "
	    "AND (created_at, id) < ($2::timestamptz, $3) "
	    "AND ($5::text IS NULL OR phone = $5::text) "
	    "AND ($6::text IS NULL OR strpos(lower(first_name || ' ' || "
	    "last_name), lower($6::text)) > 0) "
	    "ORDER BY created_at DESC, id DESC LIMIT $4",
	[STMT_CUSTOMER_UPDATE] =
	    "UPDATE customers SET first_name = COALESCE($3, first_name), "
	    "last_name = COALESCE($4, last_name), "
	    "phone = COALESCE($5, phone), "
	    "email = CASE WHEN $7::boolean THEN NULL "
	    "ELSE COALESCE($6, email) END, "
	    "addresses = COALESCE($8::jsonb, addresses), "
	    "updated_at = clock_timestamp() "
	    "WHERE id = $1 AND merchant_id = $2 "
	    "RETURNING " CUSTOMER_COLUMNS,
	[STMT_CUSTOMER_BY_PHONE] =
	    "SELECT id FROM customers WHERE merchant_id = $1 AND phone = $2",
};

static void	handle_create(struct app *, struct request *);
static void	handle_list(struct app *, struct request *);
static void	handle_get(struct app *, struct request *);
static void	handle_update(struct app *, struct request *);

enum route_id {
	ROUTE_CREATE,
	ROUTE_LIST,
	ROUTE_GET,
	ROUTE_UPDATE,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_CREATE] = { METHOD_POST, "/v1/customers", handle_create, 0 },
	[ROUTE_LIST] = { METHOD_GET, "/v1/customers", handle_list, 0 },
	[ROUTE_GET] = { METHOD_GET, "/v1/customers/:id", handle_get, 0 },
	[ROUTE_UPDATE] = { METHOD_PATCH, "/v1/customers/:id",
	    handle_update, 0 },
};

struct customer_in {
	const char	*first_name;
	const char	*last_name;
	const char	*phone;		/* E.164 */
	const char	*email;		/* lower-case; FIELD_NULL: clear it */
	struct jarray	 addresses;	/* of struct address; items
					   non-NULL when sent */
};

/* Phone min 1: foreign numbers written +<country>... are taken too. PATCH
 * reads the same table with every field optional. */
static const struct field create_fields[] = {
	{ "firstName", FIELD_STRING, REQUIRED, 1, 80,
	    offsetof(struct customer_in, first_name), NULL, 0, NULL },
	{ "lastName", FIELD_STRING, OPTIONAL, 0, 80,
	    offsetof(struct customer_in, last_name), NULL, 0, NULL },
	{ "phone", FIELD_PHONE, REQUIRED, 1, 0,
	    offsetof(struct customer_in, phone), NULL, 0, NULL },
	{ "email", FIELD_EMAIL, NULLABLE, 0, 0,
	    offsetof(struct customer_in, email), NULL, 0, NULL },
	{ "addresses", FIELD_ARRAY, OPTIONAL, 0, ADDRESSES_MAX,
	    offsetof(struct customer_in, addresses), customer_address_fields,
	    sizeof(struct address), NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

/* The addresses column as a JSON array, keys in API order. */
static struct json_object *
addresses_json(const PGresult *res, int row, int col)
{
	struct json_object	*stored, *out;
	size_t			 i;

	out = json_object_new_array();
	stored = json_tokener_parse(PQgetvalue(res, row, col));
	if (json_object_is_type(stored, json_type_array))
		for (i = 0; i < json_object_array_length(stored); i++)
			json_object_array_add(out, address_reordered(
			    json_object_array_get_idx(stored, i),
			    ADDRESS_CUSTOMER));
	json_object_put(stored);
	return out;
}

/* The customer object from a row of CUSTOMER_COLUMNS. */
static struct json_object *
customer_json(const PGresult *res, int row)
{
	struct json_object	*c = json_object_new_object();

	row_text(c, "id", res, row, 0);
	row_text(c, "firstName", res, row, 1);
	row_text(c, "lastName", res, row, 2);
	row_text(c, "phone", res, row, 3);
	row_text(c, "email", res, row, 4);
	json_object_object_add(c, "addresses", addresses_json(res, row, 5));
	row_text(c, "createdAt", res, row, 6);
	row_text(c, "updatedAt", res, row, 7);
	return c;
}

/*
 * The validated addresses as JSON text for $n::jsonb, built from the
 * struct (never from the raw body): every key present, "" for an optional
 * one not sent. Returns an arena copy, or NULL when out of memory.
 */
static const char *
addresses_text(struct request *r, const struct jarray *list)
{
	const struct address	*a = list->items;
	struct json_object	*arr;
	const char		*text, *copy = NULL;
	size_t			 i;

	arr = json_object_new_array();
	for (i = 0; i < list->n; i++)
		json_object_array_add(arr, address_json(&a[i],
		    ADDRESS_CUSTOMER));
	text = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL)
		copy = arena_strdup(&r->arena, text);
	json_object_put(arr);
	return copy;
}

/*
 * Answers 409 for a phone another customer of the merchant has, naming
 * that customer in details.customerId when it can be found.
 */
static void
respond_phone_taken(struct app *app, struct request *r, const char *phone)
{
	struct json_object	*details;
	PGresult		*res;
	const char		*params[2] = { r->principal.merchant_id,
				    phone };

	if ((res = query_or_respond(app, r, sql[STMT_CUSTOMER_BY_PHONE], 2,
	    params)) == NULL)
		return;
	details = json_object_new_object();
	json_object_object_add(details, "field",
	    json_object_new_string("phone"));
	if (PQntuples(res) == 1)
		row_text(details, "customerId", res, 0, 0);
	PQclear(res);
	respond_error_details(r, ERR_CONFLICT, "a customer with this phone "
	    "number already exists", details);
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

/*
 * Reads ?phone in any spelling into E.164 in buf; *out is buf, or NULL
 * when absent. Returns 0, or -1 having answered 422.
 */
static int
phone_query_or_respond(struct request *r, char buf[PHONE_E164_MAX],
    const char **out)
{
	const char	*phone;

	*out = NULL;
	if ((phone = request_query(r, "phone")) == NULL)
		return 0;
	if (strlen(phone) > PHONE_TEXT_MAX ||
	    phone_normalize(phone, 1, buf) != 0) {
		respond_error(r, ERR_VALIDATION, "phone must be a phone number "
		    "in E.164 or a Nepali mobile number such as 9801234567",
		    "phone");
		return -1;
	}
	*out = buf;
	return 0;
}

static void
handle_create(struct app *app, struct request *r)
{
	struct customer_in	 in = { 0 };
	struct json_object	*data;
	PGresult		*res;
	char			 id[RANDOM_ID_MAX];
	const char		*params[7];

	if (fields_or_respond(r, create_fields, &in) != 0)
		return;
	if (random_id("cus", id) != 0) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	params[0] = id;
	params[1] = r->principal.merchant_id;
	params[2] = in.first_name;
	params[3] = in.last_name != NULL ? in.last_name : "";
	params[4] = in.phone;
	params[5] = in.email == FIELD_NULL ? NULL : in.email;
	if ((params[6] = addresses_text(r, &in.addresses)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}

	if (idempotent_begin_or_respond(app, r) != 0)
		return;
	if ((res = query_or_respond(app, r, sql[STMT_CUSTOMER_INSERT], 7,
	    params)) == NULL)
		return;
	if (PQntuples(res) != 1) {
		PQclear(res);
		respond_phone_taken(app, r, in.phone);
		return;
	}
	data = customer_json(res, 0);
	PQclear(res);
	log_event(LOG_INFO, "customer_created", "%s", id);
	idempotent_commit_and_respond(app, r, 201, data);
}

static void
handle_list(struct app *app, struct request *r)
{
	struct page		 pg;
	PGresult		*res;
	char			 phone[PHONE_E164_MAX];
	const char		*params[6];

	if (page_or_respond(r, &pg) != 0 ||
	    phone_query_or_respond(r, phone, &params[4]) != 0 ||
	    search_or_respond(r, &params[5]) != 0)
		return;
	params[0] = r->principal.merchant_id;
	params[1] = pg.after_ts;
	params[2] = pg.after_id;
	params[3] = pg.fetch;

	if ((res = query_or_respond(app, r, sql[STMT_CUSTOMER_LIST], 6,
	    params)) == NULL)
		return;
	page_respond(r, &pg, res, "customers", customer_json, COL_CURSOR_TS);
}

static void
handle_get(struct app *app, struct request *r)
{
	PGresult	*res;
	const char	*params[2] = { r->params[0], r->principal.merchant_id };

	if ((res = query_or_respond(app, r, sql[STMT_CUSTOMER_GET], 2,
	    params)) == NULL)
		return;
	respond_row(r, res, customer_json, "no such customer");
}

static void
handle_update(struct app *app, struct request *r)
{
	struct customer_in	 in = { 0 };
	PGresult		*res;
	const char		*params[8];

	if (patch_fields_or_respond(r, create_fields, &in) != 0)
		return;
	if (in.first_name == NULL && in.last_name == NULL &&
	    in.phone == NULL && in.email == NULL &&
	    in.addresses.items == NULL) {
		respond_error(r, ERR_VALIDATION,
		    "at least one field is required", NULL);
		return;
	}
	params[0] = r->params[0];
	params[1] = r->principal.merchant_id;
	params[2] = in.first_name;
	params[3] = in.last_name;
	params[4] = in.phone;
	params[5] = in.email == FIELD_NULL ? NULL : in.email;
	params[6] = in.email == FIELD_NULL ? "true" : "false";
	params[7] = NULL;
	if (in.addresses.items != NULL &&
	    (params[7] = addresses_text(r, &in.addresses)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}

	switch (db_query(&app->db, &res, sql[STMT_CUSTOMER_UPDATE], 8,
	    params)) {
	case DB_OK:
		break;
	case DB_UNIQUE_VIOLATION:
		if (strcmp(app->db.constraint, "customers_phone_key") == 0)
			respond_phone_taken(app, r, in.phone);
		else
			respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	case DB_DOWN:
		respond_error(r, ERR_UNAVAILABLE, "the database is "
		    "unavailable; retry shortly", NULL);
		return;
	default:
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	respond_row(r, res, customer_json, "no such customer");
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "customers", sql, STMT__MAX) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
