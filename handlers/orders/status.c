/*
 * status.c: POST /v1/orders/:id/status and /cancel. Each move runs in its
 * own transaction holding the order's row, checks the move against the
 * table below, writes a history row, and on a move to cancelled puts the
 * stock back once.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "orders.h"
#include "validate.h"

#define TO(s)	(1u << (s))

/* The moves allowed from each status (docs/api.md, Orders). */
static const unsigned moves[STATUS__MAX] = {
	[STATUS_PENDING] = TO(STATUS_CONFIRMED) | TO(STATUS_CANCELLED),
	[STATUS_CONFIRMED] = TO(STATUS_PACKED) | TO(STATUS_CANCELLED),
	[STATUS_PACKED] = TO(STATUS_SHIPPED) | TO(STATUS_CANCELLED),
	[STATUS_SHIPPED] = TO(STATUS_DELIVERED) | TO(STATUS_RETURNED),
	[STATUS_DELIVERED] = TO(STATUS_RETURNED),
	[STATUS_CANCELLED] = 0,
	[STATUS_RETURNED] = 0,
};

struct move_in {
	const char	*status;
	const char	*note;
};

static const struct field status_fields[] = {
	{ "status", FIELD_ENUM, REQUIRED, 0, 0,
	    offsetof(struct move_in, status), NULL, 0, status_names },
	{ "note", FIELD_TEXT, OPTIONAL, 0, 500,
	    offsetof(struct move_in, note), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

static const struct field cancel_fields[] = {
	{ "note", FIELD_TEXT, OPTIONAL, 0, 500,
	    offsetof(struct move_in, note), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

/* Answers 409 invalid_transition for a move from one status to another. */
static void
transition_refused(struct request *r, enum status from, enum status to)
{
	struct json_object	*details, *allowed;
	char			 list[128] = "", msg[256];
	int			 s;

	allowed = json_object_new_array();
	for (s = 0; s < STATUS__MAX; s++)
		if (moves[from] & TO(s)) {
			json_object_array_add(allowed,
			    json_object_new_string(status_names[s]));
			snprintf(list + strlen(list), sizeof(list) -
			    strlen(list), "%s%s", list[0] ? ", " : "",
			    status_names[s]);
		}
	details = json_object_new_object();
	json_object_object_add(details, "current",
	    json_object_new_string(status_names[from]));
	json_object_object_add(details, "allowed", allowed);
	snprintf(msg, sizeof(msg), "an order cannot move from %s to %s; "
	    "allowed from %s: %s", status_names[from], status_names[to],
	    status_names[from], list[0] != '\0' ? list : "none");
	respond_error_details(r, ERR_INVALID_TRANSITION, msg, details);
}

/*
 * Puts a cancelled order's quantities back on its products, once: the
 * flag that says so turns true in the statement that tests it. Products
 * are updated in product id order, like stock_take(). Inside the caller's
 * transaction. Returns 0, or -1 having answered.
 */
static int
stock_restore(struct app *app, struct request *r, const char *id)
{
	PGresult	*mark = NULL, *items = NULL;
	const char	*params[3] = { r->principal.merchant_id, id, NULL };
	int		 i, rc = -1;

	if ((mark = query_or_respond(app, r, sql[STMT_RESTORE_MARK], 2,
	    params)) == NULL)
		goto out;
	if (PQntuples(mark) == 0) {
		rc = 0;
		goto out;
	}
	if ((items = query_or_respond(app, r, sql[STMT_RESTORE_ITEMS], 2,
	    params)) == NULL)
		goto out;
	for (i = 0; i < PQntuples(items); i++) {
		params[1] = PQgetvalue(items, i, 0);
		params[2] = PQgetvalue(items, i, 1);
		if (exec_or_respond(app, r, STMT_STOCK_RETURN, 3, params) != 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(mark);
	PQclear(items);
	return rc;
}

/*
 * Moves order r->params[0] to status to, noting note, in its own
 * transaction that holds the order's row: 409 when the table forbids the
 * move; stock back once on a move to cancelled. Answers 200 with the
 * order, or the error.
 */
static void
order_move(struct app *app, struct request *r, enum status to,
    const char *note)
{
	struct json_object	*data = NULL;
	PGresult		*res = NULL;
	const char		*id = r->params[0];
	const char		*params[5] = { r->principal.merchant_id, id,
				    NULL, status_names[to],
				    note != NULL ? note : "" };
	enum status		 from;

	if (!id_valid(id)) {
		respond_error(r, ERR_NOT_FOUND, "no such order", NULL);
		return;
	}
	if (db_begin(&app->db) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, NULL, NULL);
		return;
	}
	if ((res = query_or_respond(app, r, sql[STMT_ORDER_LOCK], 2,
	    params)) == NULL)
		goto out;
	if (PQntuples(res) != 1) {
		respond_error(r, ERR_NOT_FOUND, "no such order", NULL);
		goto out;
	}
	if ((from = status_parse(PQgetvalue(res, 0, 0))) == STATUS__MAX) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	if (!(moves[from] & TO(to))) {
		transition_refused(r, from, to);
		goto out;
	}
	params[2] = status_names[to];
	if (exec_or_respond(app, r, STMT_ORDER_MOVE, 3, params) != 0)
		goto out;
	if (to == STATUS_CANCELLED && stock_restore(app, r, id) != 0)
		goto out;
	params[2] = status_names[from];
	if (exec_or_respond(app, r, STMT_HISTORY_INSERT, 5, params) != 0)
		goto out;
	if ((data = order_read(app, r, id)) == NULL)
		goto out;
	if (db_commit(&app->db) != DB_OK) {
		respond_error(r, ERR_UNAVAILABLE, "the change could not be "
		    "saved; retry shortly", NULL);
		goto out;
	}
	log_event(LOG_INFO, "order_moved", "%s %s -> %s", id,
	    status_names[from], status_names[to]);
	respond_data(r, 200, data);
	data = NULL;
out:
	db_rollback(&app->db);
	json_object_put(data);
	PQclear(res);
}

void
handle_status(struct app *app, struct request *r)
{
	struct move_in	in = { 0 };

	if (fields_or_respond(r, status_fields, &in) != 0)
		return;
	order_move(app, r, status_parse(in.status), in.note);
}

void
handle_cancel(struct app *app, struct request *r)
{
	struct move_in	in = { 0 };

	if (fields_or_respond(r, cancel_fields, &in) != 0)
		return;
	order_move(app, r, STATUS_CANCELLED, in.note);
}
