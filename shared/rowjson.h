/*
 * rowjson.h: columns of a libpq result row into json-c object members.
 * Each setter reads (res, row, col) and adds key to obj; an SQL NULL
 * becomes JSON null. Columns are in libpq's text format.
 */
#ifndef COMMERCE_ROWJSON_H
#define COMMERCE_ROWJSON_H

#include <json-c/json.h>
#include <libpq-fe.h>

void	row_text(struct json_object *obj, const char *key,
	    const PGresult *res, int row, int col);
void	row_int(struct json_object *obj, const char *key,
	    const PGresult *res, int row, int col);
void	row_bool(struct json_object *obj, const char *key,
	    const PGresult *res, int row, int col);

/* A bigint paisa column as rupees (see money_json()). */
void	row_money(struct json_object *obj, const char *key,
	    const PGresult *res, int row, int col);

/* A json or jsonb column, parsed (JSON null if it does not parse). */
void	row_json(struct json_object *obj, const char *key,
	    const PGresult *res, int row, int col);

/* A text[] column as an array of strings. */
void	row_text_array(struct json_object *obj, const char *key,
	    const PGresult *res, int row, int col);

/* Builds one JSON object (a product, a customer...) from a result row. */
typedef struct json_object	*(*row_json_fn)(const PGresult *, int row);

/*
 * Answers 200 with item(res, 0) when res holds exactly one row, otherwise
 * 404 not_found with message (NULL: the default). Clears res.
 */
struct request;
void	respond_row(struct request *, PGresult *res, row_json_fn item,
	    const char *message);

#endif
