/*
 * validate.c: JSON objects read through field tables into typed structs.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "phone.h"
#include "validate.h"

#define PATH_MAX_LEN	128

const char	FIELD_NULL[] = "";

int
utf8_valid(const char *s, size_t len, size_t *chars)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n = 0, k, need;
	uint32_t		 cp, min;

	while (i < len) {
		if (p[i] == 0)
			return 0;
		if (p[i] < 0x80) {
			i++;
			n++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1; cp = p[i] & 0x1f; min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2; cp = p[i] & 0x0f; min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3; cp = p[i] & 0x07; min = 0x10000;
		} else
			return 0;
		if (i + need >= len)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
		n++;
	}
	if (chars != NULL)
		*chars = n;
	return 1;
}

int
money_parse(const char *text, int64_t *paisa)
{
	const char	*p = text;
	int64_t		 rupees = 0, frac = 0;
	int		 digits = 0, decimals = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (rupees > (INT64_MAX / 100 - 9) / 10)
			return -1;
		rupees = rupees * 10 + (*p - '0');
	}
	if (digits == 0 || (digits > 1 && text[0] == '0'))
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, decimals++) {
			if (decimals == 2)
				return -1;
			frac = frac * 10 + (*p - '0');
		}
		if (decimals == 0)
			return -1;
		if (decimals == 1)
			frac *= 10;
	}
	if (*p != '\0')
		return -1;
	*paisa = rupees * 100 + frac;
	return 0;
}

struct json_object *
money_json(int64_t paisa)
{
	char	buf[32];
	int64_t	whole = paisa / 100, frac = paisa % 100;

	if (paisa < 0)
		return json_object_new_int64(0);
	if (frac == 0)
		return json_object_new_int64(whole);
	if (frac % 10 == 0)
		snprintf(buf, sizeof(buf), "%" PRId64 ".%" PRId64, whole,
		    frac / 10);
	else
		snprintf(buf, sizeof(buf), "%" PRId64 ".%02" PRId64, whole,
		    frac);
	return json_object_new_double_s((double)paisa / 100.0, buf);
}

/* A practical email check: local@domain.tld, no spaces, sane labels. */
static int
email_valid(const char *s)
{
	const char	*at = strchr(s, '@'), *p, *label;
	size_t		 local;

	if (at == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	local = (size_t)(at - s);
	if (local == 0 || local > 64 || s[0] == '.' || at[-1] == '.')
		return 0;
	for (p = s; p < at; p++)
		if (!(isalnum((unsigned char)*p) ||
		    strchr(".!#$%&'*+/=?^_`{|}~-", *p) != NULL) ||
		    (*p == '.' && p[1] == '.'))
			return 0;
	if (strchr(at + 1, '.') == NULL)
		return 0;
	for (label = p = at + 1; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' ||
			    p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
	}
	for (p = label; *p != '\0'; p++)
		if (!isalpha((unsigned char)*p))
			return 0;
	return p - label >= 2;
}

/* 1 when s (valid UTF-8) holds a C0 or C1 control or DEL; TEXT may hold
 * newlines and tabs. */
static int
has_control(const char *s, int allow_space_controls)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == 0x7f || (c < 0x20 && !(allow_space_controls &&
		    (c == '\n' || c == '\t' || c == '\r'))))
			return 1;
		if (c == 0xc2 && (unsigned char)s[1] >= 0x80 &&
		    (unsigned char)s[1] <= 0x9f)
			return 1;
	}
	return 0;
}

struct vctx {
	struct arena	*arena;
	char		*msg;
	size_t		 msglen;
	char		*path;
	size_t		 pathlen;
	int		 patch;		/* top-level REQUIRED read as OPTIONAL */
};

/* Records the failing field's path and a printf-formatted message; -1. */
static int __attribute__((format(printf, 3, 4)))
vfail(struct vctx *v, const char *path, const char *fmt, ...)
{
	va_list	ap;

	snprintf(v->path, v->pathlen, "%s", path);
	va_start(ap, fmt);
	vsnprintf(v->msg, v->msglen, fmt, ap);
	va_end(ap);
	return -1;
}

static int validate_into(struct vctx *, struct json_object *,
    const struct field *, void *, const char *);

/* Reads one present, non-null value of field f into slot. */
static int
validate_value(struct vctx *v, struct json_object *val, const struct field *f,
    char *slot, const char *path)
{
	char		 buf[PHONE_E164_MAX], msg[160], sub[PATH_MAX_LEN];
	const char	*s;
	char		*copy;
	size_t		 len, chars, i;
	int64_t		 n;
	struct jnum	*num = (struct jnum *)(void *)slot;
	struct jarray	*arr = (struct jarray *)(void *)slot;
	enum json_type	 t = json_object_get_type(val);

	switch (f->kind) {
	case FIELD_STRING:
	case FIELD_TEXT:
	case FIELD_EMAIL:
	case FIELD_PHONE:
	case FIELD_ENUM:
		if (t != json_type_string)
			break;
		s = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
		if (!utf8_valid(s, len, &chars))
			return vfail(v, path, "%s must be valid UTF-8 text", path);
		if (f->kind == FIELD_EMAIL) {
			if (len > 254 || !email_valid(s))
				return vfail(v, path,
				    "%s must be a valid email address", path);
			if ((copy = arena_strndup(v->arena, s, len)) == NULL)
				return vfail(v, path, "%s: out of memory", path);
			for (i = 0; i < len; i++)
				copy[i] = (char)tolower((unsigned char)copy[i]);
			*(const char **)(void *)slot = copy;
			return 0;
		}
		if (f->kind == FIELD_PHONE) {
			if (len > 40 || phone_normalize(s, f->min == 1, buf) != 0)
				return vfail(v, path, "%s must be a %s such as "
				    "9801234567", path, f->min == 1 ?
				    "phone number in E.164 or a Nepali mobile "
				    "number" : "Nepali mobile number");
			*(const char **)(void *)slot =
			    arena_strdup(v->arena, buf);
			return 0;
		}
		if (f->kind == FIELD_ENUM) {
			for (i = 0; f->choices[i] != NULL; i++)
				if (strcmp(s, f->choices[i]) == 0) {
					*(const char **)(void *)slot =
					    f->choices[i];
					return 0;
				}
			msg[0] = '\0';
			for (i = 0; f->choices[i] != NULL; i++)
				snprintf(msg + strlen(msg),
				    sizeof(msg) - strlen(msg), "%s%s",
				    i ? ", " : "", f->choices[i]);
			return vfail(v, path, "%s must be one of: %s", path, msg);
		}
		if ((int64_t)chars < f->min || (int64_t)chars > f->max)
			break;
		if (has_control(s, f->kind == FIELD_TEXT))
			return vfail(v, path,
			    "%s must not contain control characters", path);
		*(const char **)(void *)slot = arena_strndup(v->arena, s, len);
		return 0;
	case FIELD_INT:
		if (t != json_type_int)
			break;
		/* json-c keeps numbers above INT64_MAX as uint64 (saturated
		 * at UINT64_MAX) and get_int64 clamps them: refuse those. */
		n = json_object_get_int64(val);
		if ((n == INT64_MAX && json_object_get_uint64(val) !=
		    (uint64_t)INT64_MAX) || n < f->min || n > f->max)
			break;
		num->present = 1;
		num->value = n;
		return 0;
	case FIELD_MONEY:
		if (t != json_type_int && t != json_type_double)
			break;
		if (money_parse(json_object_get_string(val), &n) != 0 ||
		    n < f->min || n > f->max)
			break;
		num->present = 1;
		num->value = n;
		return 0;
	case FIELD_BOOL:
		if (t != json_type_boolean)
			break;
		num->present = 1;
		num->value = json_object_get_boolean(val);
		return 0;
	case FIELD_OBJECT:
		if (t != json_type_object)
			break;
		if ((*(void **)(void *)slot = arena_alloc(v->arena,
		    f->elem_size)) == NULL)
			return vfail(v, path, "%s: out of memory", path);
		return validate_into(v, val, f->sub, *(void **)(void *)slot,
		    path);
	case FIELD_STRING_ARRAY:
		if (t != json_type_array)
			break;
		len = json_object_array_length(val);
		if ((int64_t)len < f->min || (int64_t)len > f->max)
			break;
		arr->n = len;
		if ((arr->items = arena_alloc(v->arena,
		    sizeof(char *) * (len ? len : 1))) == NULL)
			return vfail(v, path, "%s: out of memory", path);
		for (i = 0; i < len; i++) {
			struct json_object *el = json_object_array_get_idx(val, i);
			const struct field item = { f->name, FIELD_STRING,
			    REQUIRED, 1, (int64_t)f->elem_size, 0, NULL, 0,
			    NULL };

			if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >=
			    (int)sizeof(sub))
				return vfail(v, path, "%s is nested too deeply",
				    path);
			if (json_object_is_type(el, json_type_null))
				return vfail(v, sub, "%s must not be null", sub);
			if (validate_value(v, el, &item,
			    (char *)((const char **)arr->items + i), sub) != 0)
				return -1;
		}
		return 0;
	case FIELD_ARRAY:
		if (t != json_type_array)
			break;
		len = json_object_array_length(val);
		if ((int64_t)len < f->min || (int64_t)len > f->max)
			break;
		arr->n = len;
		if ((arr->items = arena_alloc(v->arena,
		    f->elem_size * (len ? len : 1))) == NULL)
			return vfail(v, path, "%s: out of memory", path);
		for (i = 0; i < len; i++) {
			struct json_object *el = json_object_array_get_idx(val, i);

			if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >=
			    (int)sizeof(sub))
				return vfail(v, path, "%s is nested too deeply",
				    path);
			if (!json_object_is_type(el, json_type_object))
				return vfail(v, sub, "%s must be an object", sub);
			if (validate_into(v, el, f->sub,
			    (char *)arr->items + i * f->elem_size, sub) != 0)
				return -1;
		}
		return 0;
	}

	/* Wrong type or out of bounds: say what is expected. */
	switch (f->kind) {
	case FIELD_STRING:
	case FIELD_TEXT:
		return vfail(v, path, "%s must be a string of %" PRId64 " to %"
		    PRId64 " characters", path, f->min, f->max);
	case FIELD_INT:
		return vfail(v, path, "%s must be an integer from %" PRId64
		    " to %" PRId64, path, f->min, f->max);
	case FIELD_MONEY:
		return vfail(v, path, "%s must be an amount in rupees from %"
		    PRId64 " to %" PRId64 " with at most 2 decimals", path,
		    f->min / 100, f->max / 100);
	case FIELD_BOOL:
		return vfail(v, path, "%s must be true or false", path);
	case FIELD_OBJECT:
		return vfail(v, path, "%s must be an object", path);
	case FIELD_ARRAY:
		return vfail(v, path, "%s must be an array of %" PRId64 " to %"
		    PRId64 " items", path, f->min, f->max);
	case FIELD_STRING_ARRAY:
		return vfail(v, path, "%s must be an array of %" PRId64 " to %"
		    PRId64 " strings", path, f->min, f->max);
	default:
		return vfail(v, path, "%s must be a string", path);
	}
}

static int
validate_into(struct vctx *v, struct json_object *obj,
    const struct field *table, void *out, const char *prefix)
{
	const struct field	*f;
	struct json_object	*val;
	char			 path[PATH_MAX_LEN];
	int			 required;

	json_object_object_foreach(obj, key, unused) {
		(void)unused;
		for (f = table; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL) {
			snprintf(path, sizeof(path), "%s%s%.60s", prefix,
			    *prefix ? "." : "", key);
			return vfail(v, path, "unknown field \"%s\"", path);
		}
	}
	for (f = table; f->name != NULL; f++) {
		required = f->required == REQUIRED &&
		    !(v->patch && *prefix == '\0');
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    *prefix ? "." : "", f->name);
		if (!json_object_object_get_ex(obj, f->name, &val)) {
			if (required)
				return vfail(v, path, "%s is required", path);
			continue;
		}
		if (json_object_is_type(val, json_type_null)) {
			if (required)
				return vfail(v, path, "%s is required", path);
			if (f->required != NULLABLE)
				return vfail(v, path, "%s must not be null",
				    path);
			*(const char **)(void *)((char *)out + f->offset) =
			    FIELD_NULL;
			continue;
		}
		if (validate_value(v, val, f, (char *)out + f->offset,
		    path) != 0)
			return -1;
	}
	return 0;
}

int
validate_object(struct arena *arena, struct json_object *obj,
    const struct field *table, void *out, char *msg, size_t msglen,
    char *path, size_t pathlen)
{
	struct vctx	v = { arena, msg, msglen, path, pathlen, 0 };

	return validate_into(&v, obj, table, out, "");
}

/* The request body through table; patch: top-level fields all optional. */
static int
body_fields_or_respond(struct request *r, const struct field *table,
    void *out, int patch)
{
	struct json_object	*empty = NULL;
	char			 msg[256], path[PATH_MAX_LEN];
	struct vctx		 v = { &r->arena, msg, sizeof(msg), path,
				    sizeof(path), patch };
	int			 rc;

	if (r->json == NULL)
		empty = json_object_new_object();
	rc = validate_into(&v, r->json != NULL ? r->json : empty, table, out,
	    "");
	if (empty != NULL)
		json_object_put(empty);
	if (rc != 0)
		respond_error(r, ERR_VALIDATION, msg, path);
	return rc;
}

int
fields_or_respond(struct request *r, const struct field *table, void *out)
{
	return body_fields_or_respond(r, table, out, 0);
}

int
patch_fields_or_respond(struct request *r, const struct field *table,
    void *out)
{
	return body_fields_or_respond(r, table, out, 1);
}

struct jscan {
	const char	*p;
	const char	*end;
	int		 depth;
};

static void
jscan_space(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
jscan_literal(struct jscan *s, const char *word)
{
	size_t	len = strlen(word);

	if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return -1;
	s->p += len;
	return 0;
}

static int
jscan_string(struct jscan *s)
{
	int	i;

	if (s->p == s->end || *s->p != '"')
		return -1;
	for (s->p++; s->p < s->end; s->p++) {
		unsigned char c = (unsigned char)*s->p;

		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		if (++s->p == s->end)
			return -1;
		if (*s->p == 'u') {
			for (i = 0; i < 4; i++)
				if (++s->p == s->end ||
				    !isxdigit((unsigned char)*s->p))
					return -1;
		} else if (strchr("\"\\/bfnrt", *s->p) == NULL || *s->p == '\0')
			return -1;
	}
	return -1;
}

static int
jscan_digits(struct jscan *s)
{
	const char	*start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start ? 0 : -1;
}

static int
jscan_number(struct jscan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (jscan_digits(s) != 0)
		return -1;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (jscan_digits(s) != 0)
			return -1;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (jscan_digits(s) != 0)
			return -1;
	}
	return 0;
}

static int
jscan_value(struct jscan *s)
{
	char	close;

	jscan_space(s);
	if (s->p == s->end)
		return -1;
	switch (*s->p) {
	case '"':
		return jscan_string(s);
	case 't':
		return jscan_literal(s, "true");
	case 'f':
		return jscan_literal(s, "false");
	case 'n':
		return jscan_literal(s, "null");
	case '{':
	case '[':
		break;
	default:
		return jscan_number(s);
	}
	if (s->depth-- == 0)
		return -1;
	close = *s->p == '{' ? '}' : ']';
	s->p++;
	jscan_space(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			jscan_space(s);
			if (jscan_string(s) != 0)
				return -1;
			jscan_space(s);
			if (s->p == s->end || *s->p != ':')
				return -1;
			s->p++;
		}
		if (jscan_value(s) != 0)
			return -1;
		jscan_space(s);
		if (s->p == s->end)
			return -1;
		if (*s->p == close) {
			s->p++;
			s->depth++;
			return 0;
		}
		if (*s->p != ',')
			return -1;
		s->p++;
	}
}

int
json_syntax_check(const char *buf, size_t len, int maxdepth, size_t *at)
{
	struct jscan	s = { buf, buf + len, maxdepth };

	if (jscan_value(&s) == 0) {
		jscan_space(&s);
		if (s.p == s.end)
			return 0;
	}
	if (s.p > s.end)
		s.p = s.end;
	*at = (size_t)(s.p - buf);
	return -1;
}
