/*
 * page.c: limit and cursor parameters of list routes.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "http.h"
#include "page.h"

#define CURSOR_MAX	128

int
page_or_respond(struct request *r, struct page *pg)
{
	const char	*limit, *cursor;
	unsigned char	 raw[CURSOR_MAX];
	char		*text, *bar;
	long		 n;

	memset(pg, 0, sizeof(*pg));
	pg->limit = PAGE_LIMIT_DEFAULT;
	pg->after_ts = "infinity";
	pg->after_id = "";
	if ((limit = request_query(r, "limit")) != NULL &&
	    parse_long(limit, 1, PAGE_LIMIT_MAX, &pg->limit) != 0) {
		respond_errorf(r, ERR_VALIDATION, "limit", "limit must be an "
		    "integer from 1 to %d", PAGE_LIMIT_MAX);
		return -1;
	}
	snprintf(pg->fetch, sizeof(pg->fetch), "%ld", pg->limit + 1);
	if ((cursor = request_query(r, "cursor")) == NULL || *cursor == '\0')
		return 0;
	if (strlen(cursor) >= CURSOR_MAX ||
	    (n = base64url_decode(cursor, strlen(cursor), raw,
	    sizeof(raw) - 1)) <= 0 ||
	    (text = arena_strndup(&r->arena, (char *)raw, (size_t)n)) == NULL ||
	    (bar = strchr(text, '|')) == NULL || bar == text ||
	    bar[1] == '\0' || strlen(text) != (size_t)n) {
		respond_error(r, ERR_VALIDATION, "cursor is not a cursor this "
		    "list returned", "cursor");
		return -1;
	}
	*bar = '\0';
	/* The timestamp must have the shape PAGE_TS_SQL produces. */
	if (strlen(text) != 27 || text[4] != '-' || text[10] != 'T' ||
	    text[26] != 'Z' || strspn(text, "0123456789-T:.Z") != 27) {
		respond_error(r, ERR_VALIDATION, "cursor is not a cursor this "
		    "list returned", "cursor");
		return -1;
	}
	pg->after_ts = text;
	pg->after_id = bar + 1;
	return 0;
}

int
page_shown(const struct page *pg, int nrows)
{
	return nrows > pg->limit ? (int)pg->limit : nrows;
}

struct json_object *
page_next(struct request *r, const struct page *pg, int nrows,
    const char *last_ts, const char *last_id)
{
	char	*plain, *encoded;
	size_t	 len;

	if (nrows <= pg->limit || last_ts == NULL || last_id == NULL)
		return NULL;
	if ((plain = arena_printf(&r->arena, "%s|%s", last_ts, last_id))
	    == NULL)
		return NULL;
	len = strlen(plain);
	if ((encoded = arena_alloc(&r->arena,
	    base64_encoded_len(len) + 1)) == NULL)
		return NULL;
	base64url_encode((const unsigned char *)plain, len, encoded);
	return json_object_new_string(encoded);
}

void
page_respond(struct request *r, const struct page *pg, PGresult *res,
    const char *name, row_json_fn item, int ts_col)
{
	struct json_object	*data, *list;
	int			 i, n = PQntuples(res), shown = page_shown(pg, n);

	list = json_object_new_array();
	for (i = 0; i < shown; i++)
		json_object_array_add(list, item(res, i));
	data = json_object_new_object();
	json_object_object_add(data, name, list);
	json_object_object_add(data, "nextCursor", shown == 0 ? NULL :
	    page_next(r, pg, n, PQgetvalue(res, shown - 1, ts_col),
	    PQgetvalue(res, shown - 1, 0)));
	PQclear(res);
	respond_data(r, 200, data);
}
