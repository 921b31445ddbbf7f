/*
 * rowjson.c: result columns to JSON members.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "rowjson.h"
#include "validate.h"

void
row_text(struct json_object *obj, const char *key, const PGresult *res,
    int row, int col)
{
	json_object_object_add(obj, key, PQgetisnull(res, row, col) ? NULL :
	    json_object_new_string_len(PQgetvalue(res, row, col),
	    PQgetlength(res, row, col)));
}

void
row_int(struct json_object *obj, const char *key, const PGresult *res,
    int row, int col)
{
	json_object_object_add(obj, key, PQgetisnull(res, row, col) ? NULL :
	    json_object_new_int64(strtoll(PQgetvalue(res, row, col), NULL,
	    10)));
}

void
row_bool(struct json_object *obj, const char *key, const PGresult *res,
    int row, int col)
{
	json_object_object_add(obj, key, PQgetisnull(res, row, col) ? NULL :
	    json_object_new_boolean(PQgetvalue(res, row, col)[0] == 't'));
}

void
row_money(struct json_object *obj, const char *key, const PGresult *res,
    int row, int col)
{
	json_object_object_add(obj, key, PQgetisnull(res, row, col) ? NULL :
	    money_json(strtoll(PQgetvalue(res, row, col), NULL, 10)));
}

void
row_json(struct json_object *obj, const char *key, const PGresult *res,
    int row, int col)
{
	json_object_object_add(obj, key, PQgetisnull(res, row, col) ? NULL :
	    json_tokener_parse(PQgetvalue(res, row, col)));
}

/*
 * Parses PostgreSQL's text[] output ({a,"b c",NULL}) into a JSON array.
 * Elements with quotes carry backslash escapes; NULL elements are skipped.
 */
void
row_text_array(struct json_object *obj, const char *key, const PGresult *res,
    int row, int col)
{
	struct json_object	*arr;
	const char		*p;
	char			*buf, *w;
	int			 quoted;

	if (PQgetisnull(res, row, col)) {
		json_object_object_add(obj, key, NULL);
		return;
	}
	arr = json_object_new_array();
	p = PQgetvalue(res, row, col);
	if ((buf = malloc(strlen(p) + 1)) == NULL || *p++ != '{') {
		free(buf);
		json_object_object_add(obj, key, arr);
		return;
	}
	while (*p != '\0' && *p != '}') {
		w = buf;
		quoted = *p == '"';
		if (quoted) {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				*w++ = *p;
			}
			if (*p == '"')
				p++;
		} else
			while (*p != '\0' && *p != ',' && *p != '}')
				*w++ = *p++;
		*w = '\0';
		if (quoted || strcmp(buf, "NULL") != 0)
			json_object_array_add(arr,
			    json_object_new_string_len(buf, (int)(w - buf)));
		if (*p == ',')
			p++;
	}
	free(buf);
	json_object_object_add(obj, key, arr);
}

void
respond_row(struct request *r, PGresult *res, row_json_fn item,
    const char *message)
{
	if (PQntuples(res) == 1)
		respond_data(r, 200, item(res, 0));
	else
		respond_error(r, ERR_NOT_FOUND, message, NULL);
	PQclear(res);
}
