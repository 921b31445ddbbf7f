/*
 * page.h: cursor pagination, newest first, stable under inserts. Lists
 * order by (created_at DESC, id DESC) on an index of the same shape; the
 * cursor is the opaque base64url of the last row's "timestamp|id", and the
 * next page is the rows strictly after it:
 *
 *	WHERE merchant_id = $1 AND (created_at, id) < ($2::timestamptz, $3)
 *	ORDER BY created_at DESC, id DESC LIMIT $4
 *
 * with $4 one more than the page size, so a full page knows there is more.
 */
#ifndef COMMERCE_PAGE_H
#define COMMERCE_PAGE_H

#include <json-c/json.h>
#include <libpq-fe.h>

#include "rowjson.h"

struct request;

#define PAGE_LIMIT_DEFAULT	20
#define PAGE_LIMIT_MAX		100

/* The microsecond UTC timestamp column a cursor needs, for SELECT lists. */
#define PAGE_TS_SQL(col) "to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

struct page {
	long		 limit;		/* rows on the page */
	char		 fetch[24];	/* limit + 1, as text for $4 */
	const char	*after_ts;	/* "infinity" on the first page */
	const char	*after_id;	/* "" on the first page */
};

/* Reads ?limit (1 to 100, default 20) and ?cursor. Returns 0, or -1
 * having answered 422 naming the parameter. */
int	page_or_respond(struct request *, struct page *);

/* Rows of a fetched page to show: at most page->limit of nrows. */
int	page_shown(const struct page *, int nrows);

/*
 * The "nextCursor" value of a list that fetched nrows rows: the cursor of
 * the last row shown (its timestamp and id) when there are more, else JSON
 * null. Returns a new json-c object.
 */
struct json_object	*page_next(struct request *, const struct page *,
			    int nrows, const char *last_ts, const char *last_id);

/*
 * Answers a fetched page: {"<name>": [item(res, i) for the rows shown],
 * "nextCursor": ...}, the cursor made from the last shown row's timestamp
 * (column ts_col, PAGE_TS_SQL) and id (column 0). Clears res.
 */
void	page_respond(struct request *, const struct page *, PGresult *res,
	    const char *name, row_json_fn item, int ts_col);

#endif
