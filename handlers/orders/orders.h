/*
 * orders.h: what the files of the orders pool share. main.c holds the
 * route and statement tables, the reads (GET one, GET list) and main();
 * create.c is POST /v1/orders; status.c moves orders along their statuses.
 */
#ifndef ORDERS_H
#define ORDERS_H

#include "app.h"

#define ID_MAX_LEN	64	/* longest id a request may name */

/* The statements of the pool (texts in main.c); in every one, $1 is the
 * caller's merchant. */
enum stmt {
	STMT_CUSTOMER_GET,
	STMT_CUSTOMER_MATCH,
	STMT_STOCK_TAKE,
	STMT_STOCK_CHECK,
	STMT_COUNTER_NEXT,
	STMT_ORDER_INSERT,
	STMT_ITEMS_INSERT,
	STMT_HISTORY_INSERT,
	STMT_ORDER_GET,
	STMT_ORDER_LIST,
	STMT_ORDER_LIST_CUSTOMER,
	STMT_ITEMS_OF,
	STMT_HISTORY_OF,
	STMT_ORDER_LOCK,
	STMT_ORDER_MOVE,
	STMT_RESTORE_MARK,
	STMT_RESTORE_ITEMS,
	STMT_STOCK_RETURN,
	STMT__MAX,
};

extern const char *const sql[STMT__MAX];

enum status {
	STATUS_PENDING,
	STATUS_CONFIRMED,
	STATUS_PACKED,
	STATUS_SHIPPED,
	STATUS_DELIVERED,
	STATUS_CANCELLED,
	STATUS_RETURNED,
	STATUS__MAX,
};

/* NULL-terminated, so it doubles as the choices of a FIELD_ENUM. */
extern const char *const status_names[STATUS__MAX + 1];

/*
 * 1 when s has the shape of the ids this service makes: 1 to ID_MAX_LEN
 * characters of [a-z0-9_]. Route params may hold any bytes (even invalid
 * UTF-8, which PostgreSQL refuses with an error); an id of another shape
 * names nothing and is not sent to the database.
 */
int	id_valid(const char *s);

/* The index of a status name, or STATUS__MAX when it is none. */
enum status	status_parse(const char *name);

/* Runs a statement whose result is not needed. Returns 0, or -1 having
 * answered. */
int	exec_or_respond(struct app *, struct request *, enum stmt,
	    int nparams, const char *const *params);

/*
 * The caller's order id as GET /v1/orders/:id shows it. Returns a new
 * object the caller owns, or NULL having answered (404 when the merchant
 * has no such order).
 */
struct json_object	*order_read(struct app *, struct request *,
			    const char *id);

void	handle_create(struct app *, struct request *);
void	handle_status(struct app *, struct request *);
void	handle_cancel(struct app *, struct request *);

#endif
