/*
 * validate.h: JSON input read through validation tables into typed structs.
 * A table lists each accepted field: its name, kind, whether it is required,
 * its bounds and where its value goes (offsetof into the output struct).
 * Anything not in the table is refused. Error messages name the field by its
 * path, e.g. "items[0].quantity must be an integer from 1 to 1000".
 *
 * Output types by kind:
 *   FIELD_STRING, FIELD_TEXT, FIELD_EMAIL, FIELD_PHONE, FIELD_ENUM
 *                     const char *  (arena copy; NULL when absent)
 *   FIELD_INT, FIELD_MONEY, FIELD_BOOL
 *                     struct jnum   (present flag and value; money in paisa)
 *   FIELD_OBJECT      void * to an arena struct of elem_size bytes filled
 *                     by the sub-table (NULL when absent)
 *   FIELD_ARRAY       struct jarray (count and arena array of sub-structs,
 *                     each elem_size bytes, filled by the sub-table)
 *   FIELD_STRING_ARRAY
 *                     struct jarray of const char * (each a FIELD_STRING of
 *                     1 to elem_size characters; min and max bound the count)
 *
 * JSON null is refused, except for a NULLABLE string field, where it
 * stores FIELD_NULL (so PATCH can tell "clear it" from "leave it").
 * FIELD_INT bounds must lie inside int64 strictly: json-c saturates
 * out-of-range numbers to the extremes.
 */
#ifndef COMMERCE_VALIDATE_H
#define COMMERCE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "arena.h"

struct request;

enum field_kind {
	FIELD_STRING,	/* one line of text: no control characters */
	FIELD_TEXT,	/* may hold newlines and tabs */
	FIELD_EMAIL,	/* lower-cased */
	FIELD_PHONE,	/* normalised to E.164; min 1 also takes foreign numbers */
	FIELD_ENUM,	/* one of the NULL-terminated choices */
	FIELD_INT,
	FIELD_MONEY,	/* rupees with up to 2 decimals, stored as paisa */
	FIELD_BOOL,
	FIELD_OBJECT,
	FIELD_ARRAY,
	FIELD_STRING_ARRAY,
};

struct jnum {
	int	present;
	int64_t	value;
};

struct jarray {
	size_t	 n;
	void	*items;
};

#define OPTIONAL	0
#define REQUIRED	1
#define NULLABLE	2	/* optional; null stores FIELD_NULL */

/* What a NULLABLE string field holds when the body sent null. */
extern const char	FIELD_NULL[];

struct field {
	const char		*name;
	enum field_kind		 kind;
	int			 required;
	int64_t			 min;		/* length, value or entries */
	int64_t			 max;
	size_t			 offset;
	const struct field	*sub;		/* OBJECT and ARRAY */
	size_t			 elem_size;	/* OBJECT, ARRAY; STRING_ARRAY:
						   characters per item */
	const char *const	*choices;	/* ENUM */
};

/*
 * Reads obj through the NULL-name-terminated table into out, which the
 * caller zeroes (absent optional fields are left as they are).
 * Returns 0, or -1 with a message and the field's path in the buffers.
 * Copies live in the arena.
 */
int	validate_object(struct arena *, struct json_object *obj,
	    const struct field *table, void *out, char *msg, size_t msglen,
	    char *path, size_t pathlen);

/* validate_object() on the request body; answers 422 and returns -1 on failure. */
int	fields_or_respond(struct request *, const struct field *table, void *out);

/* The same for a PATCH: the create table's REQUIRED top-level fields are
 * optional (nested objects keep their own rules), so one table serves both. */
int	patch_fields_or_respond(struct request *, const struct field *table,
	    void *out);

/*
 * Rupees as JSON text ("1499.99", "1500", "0.5") to paisa. Returns 0, or -1
 * for negatives, exponents, more than two decimals or overflow.
 */
int	money_parse(const char *text, int64_t *paisa);

/* Paisa to a JSON number of rupees, exact (e.g. 149999 -> 1499.99). */
struct json_object	*money_json(int64_t paisa);

/*
 * Strict RFC 8259 syntax check of a whole JSON text, nested at most
 * maxdepth deep. json-c alone lets through single-quoted keys, NaN and
 * Infinity even in strict mode, so bodies pass this first. Returns 0, or -1
 * with the byte offset of the first error in *at.
 */
int	json_syntax_check(const char *buf, size_t len, int maxdepth, size_t *at);

/* 1 when s is valid UTF-8 without NUL; sets *chars to its code points. */
int	utf8_valid(const char *s, size_t len, size_t *chars);

#endif
