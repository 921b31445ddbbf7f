/*
 * Unit tests for shared/validate.c: validate_object() through field tables
 * of every kind, money_parse(), money_json() and utf8_valid(). Inputs are
 * JSON text parsed with json_tokener_parse(); copies live in an arena freed
 * at the end of each test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "arena.h"
#include "validate.h"
#include "unit.h"

#define MSG_MAX		256
#define PATH_MAX_LEN	128

/*
 * Scalar kinds: a one-field table {"v": <json>} of the given kind and bounds.
 * want_s is the string stored for a string kind, want_n the value for INT,
 * MONEY and BOOL; want_msg, when not NULL, is the exact message (the path of
 * a refused scalar is always "v").
 */
struct one {
	const char	*s;
	struct jnum	 n;
};

static const char *const statuses[] = { "draft", "active", "archived", NULL };

#define OK_S(kind, min, max, json, want) \
	{ kind, min, max, json, 0, want, 0, NULL }
#define OK_N(kind, min, max, json, want) \
	{ kind, min, max, json, 0, NULL, want, NULL }
#define BAD(kind, min, max, json, msg) \
	{ kind, min, max, json, -1, NULL, 0, msg }

#define STR_MSG		"v must be a string of 1 to 3 characters"
#define TEXT_MSG	"v must be a string of 0 to 20 characters"
#define CTRL_MSG	"v must not contain control characters"
#define EMAIL_MSG	"v must be a valid email address"
#define NP_MSG		"v must be a Nepali mobile number such as 9801234567"
#define INTL_MSG	"v must be a phone number in E.164 or a Nepali " \
			"mobile number such as 9801234567"
#define ENUM_MSG	"v must be one of: draft, active, archived"
#define INT_MSG		"v must be an integer from 1 to 1000"
#define MONEY_MSG	"v must be an amount in rupees from 0 to 1000000 " \
			"with at most 2 decimals"
#define BOOL_MSG	"v must be true or false"
#define STRING_MSG	"v must be a string"

static const struct {
	enum field_kind	 kind;
	int64_t		 min, max;
	const char	*json;		/* the value of "v" */
	int		 rc;
	const char	*want_s;
	int64_t		 want_n;
	const char	*want_msg;
} scalar_cases[] = {
	/* STRING, 1 to 3 characters: counted in code points. */
	OK_S(FIELD_STRING, 1, 3, "\"abc\"", "abc"),
	OK_S(FIELD_STRING, 1, 3, "\"a\"", "a"),
	OK_S(FIELD_STRING, 1, 3, "\"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\"",
	    "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8"),	/* 3 chars, 9 bytes */
	OK_S(FIELD_STRING, 1, 3, "\"\\u0928\\u092e\\u0938\"",
	    "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8"),
	OK_S(FIELD_STRING, 1, 3, "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"),
	OK_S(FIELD_STRING, 1, 3, "\"a b\"", "a b"),
	BAD(FIELD_STRING, 1, 3, "\"abcd\"", STR_MSG),
	BAD(FIELD_STRING, 1, 3, "\"\"", STR_MSG),
	BAD(FIELD_STRING, 1, 3,
	    "\"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\"", STR_MSG),
	BAD(FIELD_STRING, 1, 3, "12", STR_MSG),
	BAD(FIELD_STRING, 1, 3, "true", STR_MSG),
	BAD(FIELD_STRING, 1, 3, "[\"a\"]", STR_MSG),
	BAD(FIELD_STRING, 1, 3, "{}", STR_MSG),
	/* No control characters in one line of text. */
	BAD(FIELD_STRING, 1, 3, "\"a\\nb\"", CTRL_MSG),
	BAD(FIELD_STRING, 1, 3, "\"a\\tb\"", CTRL_MSG),
	BAD(FIELD_STRING, 1, 3, "\"a\\rb\"", CTRL_MSG),
	BAD(FIELD_STRING, 1, 3, "\"\\u0001\"", CTRL_MSG),
	BAD(FIELD_STRING, 1, 3, "\"\\u001b\"", CTRL_MSG),
	BAD(FIELD_STRING, 1, 3, "\"a\\u007f\"", CTRL_MSG),
	BAD(FIELD_STRING, 1, 3, "\"a\\u0085\"", CTRL_MSG),	/* C1 NEL */
	BAD(FIELD_STRING, 1, 3, "\"a\\u0000b\"",
	    "v must be valid UTF-8 text"),

	/* TEXT, 0 to 20 characters: newlines and tabs allowed. */
	OK_S(FIELD_TEXT, 0, 20, "\"line 1\\nline 2\"", "line 1\nline 2"),
	OK_S(FIELD_TEXT, 0, 20, "\"a\\tb\\r\\n\"", "a\tb\r\n"),
	OK_S(FIELD_TEXT, 0, 20, "\"\"", ""),
	BAD(FIELD_TEXT, 0, 20, "\"a\\u0001\"", CTRL_MSG),
	BAD(FIELD_TEXT, 0, 20, "\"\\u001b[31m\"", CTRL_MSG),
	BAD(FIELD_TEXT, 0, 20, "\"\\u007f\"", CTRL_MSG),
	BAD(FIELD_TEXT, 0, 20, "\"123456789012345678901\"", TEXT_MSG),
	BAD(FIELD_TEXT, 0, 20, "1", TEXT_MSG),

	/* EMAIL: lower-cased; malformed addresses refused. */
	OK_S(FIELD_EMAIL, 0, 0, "\"Asha@Example.COM\"", "asha@example.com"),
	OK_S(FIELD_EMAIL, 0, 0, "\"a.b+tag@mail.example.com.np\"",
	    "a.b+tag@mail.example.com.np"),
	OK_S(FIELD_EMAIL, 0, 0, "\"x_y-z@my-shop.co\"", "x_y-z@my-shop.co"),
	BAD(FIELD_EMAIL, 0, 0, "\"asha.example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@b@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@localhost\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\".asha@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha.@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"as..ha@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@example..com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@.example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@example.com.\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"as ha@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@exa mple.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\" asha@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@example.c\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@example.c0m\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@-example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@example-.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"@example.com\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "\"asha@example.com\\n\"", EMAIL_MSG),
	BAD(FIELD_EMAIL, 0, 0, "42", STRING_MSG),

	/* PHONE: Nepali mobile numbers to E.164; min 1 takes foreign. */
	OK_S(FIELD_PHONE, 0, 0, "\"9801234567\"", "+9779801234567"),
	OK_S(FIELD_PHONE, 0, 0, "\"+977-9801234567\"", "+9779801234567"),
	OK_S(FIELD_PHONE, 0, 0, "\"977 980 123 4567\"", "+9779801234567"),
	BAD(FIELD_PHONE, 0, 0, "\"+14155550123\"", NP_MSG),
	BAD(FIELD_PHONE, 0, 0, "\"014412345\"", NP_MSG),
	BAD(FIELD_PHONE, 0, 0, "\"9831234567\"", NP_MSG),
	BAD(FIELD_PHONE, 0, 0, "\"phone\"", NP_MSG),
	BAD(FIELD_PHONE, 0, 0, "9801234567", STRING_MSG),
	OK_S(FIELD_PHONE, 1, 0, "\"+14155550123\"", "+14155550123"),
	OK_S(FIELD_PHONE, 1, 0, "\"9801234567\"", "+9779801234567"),
	BAD(FIELD_PHONE, 1, 0, "\"4155550123\"", INTL_MSG),
	BAD(FIELD_PHONE, 1, 0, "\"+9779831234567\"", INTL_MSG),

	/* ENUM. */
	OK_S(FIELD_ENUM, 0, 0, "\"active\"", "active"),
	OK_S(FIELD_ENUM, 0, 0, "\"draft\"", "draft"),
	BAD(FIELD_ENUM, 0, 0, "\"Active\"", ENUM_MSG),
	BAD(FIELD_ENUM, 0, 0, "\"deleted\"", ENUM_MSG),
	BAD(FIELD_ENUM, 0, 0, "\"\"", ENUM_MSG),
	BAD(FIELD_ENUM, 0, 0, "1", STRING_MSG),

	/* INT, 1 to 1000. */
	OK_N(FIELD_INT, 1, 1000, "1", 1),
	OK_N(FIELD_INT, 1, 1000, "1000", 1000),
	OK_N(FIELD_INT, 1, 1000, "42", 42),
	OK_N(FIELD_INT, -5, 5, "-5", -5),
	BAD(FIELD_INT, 1, 1000, "0", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "1001", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "-5", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "1.5", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "1.0", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "\"3\"", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "true", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "1e2", INT_MSG),
	BAD(FIELD_INT, 1, 1000, "99999999999999999999", INT_MSG),
	/* The full int64 range: a number beyond it is not clamped into it. */
	OK_N(FIELD_INT, 0, INT64_MAX, "9223372036854775807", INT64_MAX),
	OK_N(FIELD_INT, INT64_MIN, 0, "-9223372036854775808", INT64_MIN),
	BAD(FIELD_INT, 0, INT64_MAX, "9223372036854775808", NULL),
	BAD(FIELD_INT, 0, INT64_MAX, "99999999999999999999", NULL),
	/* json-c saturates -9223372036854775809 to INT64_MIN with no trace:
	 * validate.h asks for bounds strictly inside int64 instead. */
	BAD(FIELD_INT, INT64_MIN + 1, 0, "-9223372036854775809", NULL),

	/* MONEY, 0 to 1,000,000 rupees, in paisa. */
	OK_N(FIELD_MONEY, 0, 100000000, "1499.99", 149999),
	OK_N(FIELD_MONEY, 0, 100000000, "1500", 150000),
	OK_N(FIELD_MONEY, 0, 100000000, "0.5", 50),
	OK_N(FIELD_MONEY, 0, 100000000, "0.05", 5),
	OK_N(FIELD_MONEY, 0, 100000000, "1499.9", 149990),
	OK_N(FIELD_MONEY, 0, 100000000, "1.50", 150),
	OK_N(FIELD_MONEY, 0, 100000000, "0", 0),
	OK_N(FIELD_MONEY, 0, 100000000, "1000000", 100000000),
	OK_N(FIELD_MONEY, 0, 100000000, "1000000.00", 100000000),
	BAD(FIELD_MONEY, 0, 100000000, "1499.999", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "-1", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "-0.5", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "1e3", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "1E3", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "1.5e2", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "1000000.01", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "\"1499.99\"", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "true", MONEY_MSG),
	BAD(FIELD_MONEY, 0, 100000000, "99999999999999999999", MONEY_MSG),
	/* 1 to 100 rupees. */
	OK_N(FIELD_MONEY, 100, 10000, "1", 100),
	OK_N(FIELD_MONEY, 100, 10000, "100", 10000),
	BAD(FIELD_MONEY, 100, 10000, "0.99", "v must be an amount in rupees "
	    "from 1 to 100 with at most 2 decimals"),
	BAD(FIELD_MONEY, 100, 10000, "100.01", "v must be an amount in rupees "
	    "from 1 to 100 with at most 2 decimals"),

	/* BOOL. */
	OK_N(FIELD_BOOL, 0, 0, "true", 1),
	OK_N(FIELD_BOOL, 0, 0, "false", 0),
	BAD(FIELD_BOOL, 0, 0, "1", BOOL_MSG),
	BAD(FIELD_BOOL, 0, 0, "\"true\"", BOOL_MSG),
};

static int
kind_is_string(enum field_kind k)
{
	return k == FIELD_STRING || k == FIELD_TEXT || k == FIELD_EMAIL ||
	    k == FIELD_PHONE || k == FIELD_ENUM;
}

static const char *
kind_name(enum field_kind k)
{
	static const char *const names[] = { "STRING", "TEXT", "EMAIL",
	    "PHONE", "ENUM", "INT", "MONEY", "BOOL", "OBJECT", "ARRAY" };

	return (size_t)k < NELEM(names) ? names[k] : "?";
}

UNIT_TEST(validate_scalar_table)
{
	struct arena		 arena = { NULL };
	struct field		 table[2];
	struct one		 out;
	struct json_object	*obj;
	char			 text[256], msg[MSG_MAX], path[PATH_MAX_LEN];
	size_t			 i;
	int			 rc;

	for (i = 0; i < NELEM(scalar_cases); i++) {
		enum field_kind k = scalar_cases[i].kind;
		int is_s = kind_is_string(k);

		memset(table, 0, sizeof(table));
		table[0].name = "v";
		table[0].kind = k;
		table[0].required = REQUIRED;
		table[0].min = scalar_cases[i].min;
		table[0].max = scalar_cases[i].max;
		table[0].offset = is_s ? offsetof(struct one, s) :
		    offsetof(struct one, n);
		table[0].choices = k == FIELD_ENUM ? statuses : NULL;

		snprintf(text, sizeof(text), "{\"v\": %s}",
		    scalar_cases[i].json);
		if ((obj = json_tokener_parse(text)) == NULL) {
			unit_fail(__FILE__, __LINE__, "cannot parse %s", text);
			continue;
		}
		memset(&out, 0, sizeof(out));
		snprintf(msg, sizeof(msg), "(none)");
		snprintf(path, sizeof(path), "(none)");
		rc = validate_object(&arena, obj, table, &out, msg,
		    sizeof(msg), path, sizeof(path));
		json_object_put(obj);

		if (rc != scalar_cases[i].rc) {
			unit_fail(__FILE__, __LINE__, "%s [%lld, %lld] %s: "
			    "rc %d, want %d (msg \"%s\")", kind_name(k),
			    (long long)scalar_cases[i].min,
			    (long long)scalar_cases[i].max, text, rc,
			    scalar_cases[i].rc, msg);
			continue;
		}
		if (rc != 0) {
			if (strcmp(path, "v") != 0)
				unit_fail(__FILE__, __LINE__, "%s %s: path "
				    "\"%s\", want \"v\"", kind_name(k), text, path);
			if (scalar_cases[i].want_msg != NULL &&
			    strcmp(msg, scalar_cases[i].want_msg) != 0)
				unit_fail(__FILE__, __LINE__, "%s %s: msg "
				    "\"%s\", want \"%s\"", kind_name(k), text, msg,
				    scalar_cases[i].want_msg);
			if (out.s != NULL || out.n.present)
				unit_fail(__FILE__, __LINE__, "%s %s: "
				    "refused but stored", kind_name(k), text);
			continue;
		}
		if (is_s) {
			if (out.s == NULL ||
			    strcmp(out.s, scalar_cases[i].want_s) != 0)
				unit_fail(__FILE__, __LINE__, "%s %s: "
				    "stored \"%s\", want \"%s\"", kind_name(k), text,
				    out.s ? out.s : "(null)",
				    scalar_cases[i].want_s);
		} else if (!out.n.present ||
		    out.n.value != scalar_cases[i].want_n)
			unit_fail(__FILE__, __LINE__, "%s %s: stored "
			    "{present %d, value %lld}, want {1, %lld}", kind_name(k),
			    text, out.n.present, (long long)out.n.value,
			    (long long)scalar_cases[i].want_n);
	}
	arena_free(&arena);
}

/* Email length limits: 64 for the local part, 63 a label, 254 in all. */
static const struct {
	size_t	local, label1, label2, label3;	/* then ".com" */
	int	rc;
} email_len_cases[] = {
	{ 64, 10, 0, 0, 0 },
	{ 65, 10, 0, 0, -1 },
	{ 10, 63, 0, 0, 0 },
	{ 10, 64, 0, 0, -1 },
	{ 64, 63, 63, 57, 0 },		/* 254 characters */
	{ 64, 63, 63, 58, -1 },		/* 255 characters */
};

UNIT_TEST(validate_email_lengths)
{
	static const struct field table[] = {
		{ "v", FIELD_EMAIL, REQUIRED, 0, 0,
		    offsetof(struct one, s), NULL, 0, NULL },
		{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
	};
	struct arena		 arena = { NULL };
	struct json_object	*obj;
	struct one		 out;
	char			 email[400], msg[MSG_MAX], path[PATH_MAX_LEN];
	size_t			 i, n, j, labels[3];
	int			 rc;

	for (i = 0; i < NELEM(email_len_cases); i++) {
		n = email_len_cases[i].local;
		memset(email, 'a', n);
		email[n++] = '@';
		labels[0] = email_len_cases[i].label1;
		labels[1] = email_len_cases[i].label2;
		labels[2] = email_len_cases[i].label3;
		for (j = 0; j < 3 && labels[j] > 0; j++) {
			memset(email + n, 'b', labels[j]);
			n += labels[j];
			email[n++] = '.';
		}
		memcpy(email + n, "com", 4);
		n += 3;

		obj = json_object_new_object();
		json_object_object_add(obj, "v", json_object_new_string(email));
		memset(&out, 0, sizeof(out));
		msg[0] = '\0';
		rc = validate_object(&arena, obj, table, &out, msg, sizeof(msg),
		    path, sizeof(path));
		json_object_put(obj);
		if (rc != email_len_cases[i].rc)
			unit_fail(__FILE__, __LINE__, "email of %zu characters "
			    "(local %zu, labels %zu %zu %zu): rc %d, want %d "
			    "(msg \"%s\")", n, email_len_cases[i].local,
			    labels[0], labels[1], labels[2], rc,
			    email_len_cases[i].rc, msg);
		else if (rc == 0 && (out.s == NULL || strcmp(out.s, email) != 0))
			unit_fail(__FILE__, __LINE__, "email of %zu characters "
			    "stored as \"%s\"", n, out.s ? out.s : "(null)");
	}
	arena_free(&arena);
}

/* The stored string is an arena copy, not a pointer into the JSON. */
UNIT_TEST(validate_string_is_copied)
{
	static const struct field table[] = {
		{ "v", FIELD_STRING, REQUIRED, 1, 10,
		    offsetof(struct one, s), NULL, 0, NULL },
		{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
	};
	struct arena		 arena = { NULL };
	struct json_object	*obj = json_tokener_parse("{\"v\": \"hello\"}");
	struct one		 out;
	char			 msg[MSG_MAX], path[PATH_MAX_LEN];
	const char		*orig;

	memset(&out, 0, sizeof(out));
	CHECK(obj != NULL);
	CHECK_INT(validate_object(&arena, obj, table, &out, msg, sizeof(msg),
	    path, sizeof(path)), 0);
	orig = json_object_get_string(json_object_object_get(obj, "v"));
	CHECK(out.s != orig);
	json_object_put(obj);
	CHECK_STR(out.s, "hello");
	arena_free(&arena);
}

/* Required, optional, null and unknown fields. */
struct person {
	const char	*name;
	const char	*nick;
	struct jnum	 age;
	struct jnum	 vip;
};

static const struct field person_fields[] = {
	{ "name", FIELD_STRING, REQUIRED, 1, 40,
	    offsetof(struct person, name), NULL, 0, NULL },
	{ "nick", FIELD_STRING, OPTIONAL, 1, 40,
	    offsetof(struct person, nick), NULL, 0, NULL },
	{ "age", FIELD_INT, OPTIONAL, 0, 150,
	    offsetof(struct person, age), NULL, 0, NULL },
	{ "vip", FIELD_BOOL, OPTIONAL, 0, 0,
	    offsetof(struct person, vip), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

static const struct {
	const char	*json;
	int		 rc;
	const char	*path;		/* rc -1 */
	const char	*msg;		/* rc -1 */
	const char	*name, *nick;	/* rc 0; NULL: absent */
	int		 age_present;
	int64_t		 age;
} person_cases[] = {
	{ "{\"name\": \"Asha\"}", 0, NULL, NULL, "Asha", NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"nick\": \"A\", \"age\": 30}", 0, NULL, NULL,
	  "Asha", "A", 1, 30 },
	{ "{\"name\": \"Asha\", \"age\": 0}", 0, NULL, NULL,
	  "Asha", NULL, 1, 0 },
	{ "{\"name\": \"Asha\", \"nick\": null}", -1, "nick",
	  "nick must not be null", NULL, NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"age\": null}", -1, "age",
	  "age must not be null", NULL, NULL, 0, 0 },
	{ "{}", -1, "name", "name is required", NULL, NULL, 0, 0 },
	{ "{\"nick\": \"A\"}", -1, "name", "name is required",
	  NULL, NULL, 0, 0 },
	{ "{\"name\": null}", -1, "name", "name is required",
	  NULL, NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"email\": \"a@b.co\"}", -1, "email",
	  "unknown field \"email\"", NULL, NULL, 0, 0 },
	{ "{\"email\": \"a@b.co\"}", -1, "email",
	  "unknown field \"email\"", NULL, NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"Name\": \"Asha\"}", -1, "Name",
	  "unknown field \"Name\"", NULL, NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"age\": 151}", -1, "age",
	  "age must be an integer from 0 to 150", NULL, NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"nick\": \"\"}", -1, "nick",
	  "nick must be a string of 1 to 40 characters", NULL, NULL, 0, 0 },
	{ "{\"name\": \"Asha\", \"vip\": \"yes\"}", -1, "vip",
	  "vip must be true or false", NULL, NULL, 0, 0 },
};

UNIT_TEST(validate_presence_table)
{
	struct arena		 arena = { NULL };
	struct person		 out;
	struct json_object	*obj;
	char			 msg[MSG_MAX], path[PATH_MAX_LEN];
	size_t			 i;
	int			 rc;

	for (i = 0; i < NELEM(person_cases); i++) {
		const char *json = person_cases[i].json;

		if ((obj = json_tokener_parse(json)) == NULL) {
			unit_fail(__FILE__, __LINE__, "cannot parse %s", json);
			continue;
		}
		memset(&out, 0, sizeof(out));
		snprintf(msg, sizeof(msg), "(none)");
		snprintf(path, sizeof(path), "(none)");
		rc = validate_object(&arena, obj, person_fields, &out, msg,
		    sizeof(msg), path, sizeof(path));
		json_object_put(obj);
		if (rc != person_cases[i].rc) {
			unit_fail(__FILE__, __LINE__, "%s: rc %d, want %d "
			    "(msg \"%s\")", json, rc, person_cases[i].rc, msg);
			continue;
		}
		if (rc != 0) {
			if (strcmp(path, person_cases[i].path) != 0)
				unit_fail(__FILE__, __LINE__, "%s: path "
				    "\"%s\", want \"%s\"", json, path,
				    person_cases[i].path);
			if (strcmp(msg, person_cases[i].msg) != 0)
				unit_fail(__FILE__, __LINE__, "%s: msg "
				    "\"%s\", want \"%s\"", json, msg,
				    person_cases[i].msg);
			continue;
		}
		if (out.name == NULL ||
		    strcmp(out.name, person_cases[i].name) != 0)
			unit_fail(__FILE__, __LINE__, "%s: name \"%s\"", json,
			    out.name ? out.name : "(null)");
		if (person_cases[i].nick == NULL ? out.nick != NULL :
		    (out.nick == NULL ||
		    strcmp(out.nick, person_cases[i].nick) != 0))
			unit_fail(__FILE__, __LINE__, "%s: nick \"%s\", "
			    "want \"%s\"", json, out.nick ? out.nick : "(null)",
			    person_cases[i].nick ? person_cases[i].nick :
			    "(null)");
		if (out.age.present != person_cases[i].age_present ||
		    (out.age.present && out.age.value != person_cases[i].age))
			unit_fail(__FILE__, __LINE__, "%s: age {%d, %lld}, "
			    "want {%d, %lld}", json, out.age.present,
			    (long long)out.age.value,
			    person_cases[i].age_present,
			    (long long)person_cases[i].age);
	}
	arena_free(&arena);
}

/* Absent optional fields keep what the caller put there. */
UNIT_TEST(validate_absent_left_alone)
{
	struct arena		 arena = { NULL };
	struct person		 out;
	struct json_object	*obj = json_tokener_parse("{\"name\": \"B\"}");
	char			 msg[MSG_MAX], path[PATH_MAX_LEN];

	memset(&out, 0, sizeof(out));
	out.nick = "preset";
	out.age.value = 7;
	CHECK_INT(validate_object(&arena, obj, person_fields, &out, msg,
	    sizeof(msg), path, sizeof(path)), 0);
	CHECK_STR(out.name, "B");
	CHECK_STR(out.nick, "preset");
	CHECK_INT(out.age.present, 0);
	CHECK_INT(out.age.value, 7);
	CHECK_INT(out.vip.present, 0);
	json_object_put(obj);
	arena_free(&arena);
}

/* Nested objects and arrays. */
struct address {
	const char	*city;
	const char	*street;
};

struct item {
	const char	*sku;
	struct jnum	 quantity;
	struct jnum	 price;
	struct address	*gift;
};

struct order {
	const char	*note;
	struct address	*address;
	struct jarray	 items;
};

static const struct field address_fields[] = {
	{ "city", FIELD_STRING, REQUIRED, 1, 40,
	    offsetof(struct address, city), NULL, 0, NULL },
	{ "street", FIELD_STRING, OPTIONAL, 0, 80,
	    offsetof(struct address, street), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

static const struct field item_fields[] = {
	{ "sku", FIELD_STRING, REQUIRED, 1, 32,
	    offsetof(struct item, sku), NULL, 0, NULL },
	{ "quantity", FIELD_INT, REQUIRED, 1, 1000,
	    offsetof(struct item, quantity), NULL, 0, NULL },
	{ "price", FIELD_MONEY, OPTIONAL, 0, 100000000,
	    offsetof(struct item, price), NULL, 0, NULL },
	{ "gift", FIELD_OBJECT, OPTIONAL, 0, 0,
	    offsetof(struct item, gift), address_fields,
	    sizeof(struct address), NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

static const struct field order_fields[] = {
	{ "note", FIELD_TEXT, OPTIONAL, 0, 200,
	    offsetof(struct order, note), NULL, 0, NULL },
	{ "address", FIELD_OBJECT, OPTIONAL, 0, 0,
	    offsetof(struct order, address), address_fields,
	    sizeof(struct address), NULL },
	{ "items", FIELD_ARRAY, REQUIRED, 1, 3,
	    offsetof(struct order, items), item_fields,
	    sizeof(struct item), NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

#define ITEM	"{\"sku\": \"A\", \"quantity\": 1}"

static const struct {
	const char	*json;
	const char	*path;		/* NULL: accepted */
	const char	*msg;
} order_cases[] = {
	{ "{\"items\": [" ITEM "]}", NULL, NULL },
	{ "{\"items\": [" ITEM ", " ITEM ", " ITEM "]}", NULL, NULL },
	{ "{\"address\": null, \"items\": [" ITEM "]}", "address",
	  "address must not be null" },
	{ "{\"address\": {\"city\": \"Patan\"}, \"items\": [" ITEM "]}",
	  NULL, NULL },

	/* Nested object errors carry the object's path. */
	{ "{\"address\": {\"street\": \"x\"}, \"items\": [" ITEM "]}",
	  "address.city", "address.city is required" },
	{ "{\"address\": {\"city\": null}, \"items\": [" ITEM "]}",
	  "address.city", "address.city is required" },
	{ "{\"address\": {\"city\": \"\"}, \"items\": [" ITEM "]}",
	  "address.city",
	  "address.city must be a string of 1 to 40 characters" },
	{ "{\"address\": {\"city\": \"K\", \"zip\": \"44600\"}, "
	  "\"items\": [" ITEM "]}",
	  "address.zip", "unknown field \"address.zip\"" },
	{ "{\"address\": \"Kathmandu\", \"items\": [" ITEM "]}",
	  "address", "address must be an object" },
	{ "{\"address\": [], \"items\": [" ITEM "]}",
	  "address", "address must be an object" },

	/* Array bounds and type. */
	{ "{}", "items", "items is required" },
	{ "{\"items\": null}", "items", "items is required" },
	{ "{\"items\": []}", "items", "items must be an array of 1 to 3 items" },
	{ "{\"items\": [" ITEM ", " ITEM ", " ITEM ", " ITEM "]}",
	  "items", "items must be an array of 1 to 3 items" },
	{ "{\"items\": " ITEM "}",
	  "items", "items must be an array of 1 to 3 items" },
	{ "{\"items\": \"A\"}",
	  "items", "items must be an array of 1 to 3 items" },

	/* Element errors carry the element's index. */
	{ "{\"items\": [{\"sku\": \"A\", \"quantity\": 0}]}",
	  "items[0].quantity",
	  "items[0].quantity must be an integer from 1 to 1000" },
	{ "{\"items\": [" ITEM ", {\"sku\": \"B\", \"quantity\": 1001}]}",
	  "items[1].quantity",
	  "items[1].quantity must be an integer from 1 to 1000" },
	{ "{\"items\": [" ITEM ", {\"sku\": \"B\", \"quantity\": \"2\"}]}",
	  "items[1].quantity",
	  "items[1].quantity must be an integer from 1 to 1000" },
	{ "{\"items\": [" ITEM ", " ITEM ", {\"sku\": \"C\"}]}",
	  "items[2].quantity", "items[2].quantity is required" },
	{ "{\"items\": [" ITEM ", \"B\"]}", "items[1]",
	  "items[1] must be an object" },
	{ "{\"items\": [null]}", "items[0]", "items[0] must be an object" },
	{ "{\"items\": [[" ITEM "]]}", "items[0]",
	  "items[0] must be an object" },
	{ "{\"items\": [{\"sku\": \"A\", \"quantity\": 1, \"qty\": 2}]}",
	  "items[0].qty", "unknown field \"items[0].qty\"" },
	{ "{\"items\": [{\"sku\": \"A\", \"quantity\": 1, "
	  "\"price\": 1.001}]}", "items[0].price",
	  "items[0].price must be an amount in rupees from 0 to 1000000 "
	  "with at most 2 decimals" },
	{ "{\"items\": [" ITEM ", {\"sku\": \"B\", \"quantity\": 1, "
	  "\"gift\": {\"city\": \"\\n\"}}]}", "items[1].gift.city",
	  "items[1].gift.city must not contain control characters" },
	{ "{\"items\": [{\"sku\": \"A\", \"quantity\": 1, "
	  "\"gift\": {}}]}", "items[0].gift.city",
	  "items[0].gift.city is required" },

	/* Unknown top-level field. */
	{ "{\"items\": [" ITEM "], \"coupon\": \"X\"}", "coupon",
	  "unknown field \"coupon\"" },
};

UNIT_TEST(validate_nested_table)
{
	struct arena		 arena = { NULL };
	struct order		 out;
	struct json_object	*obj;
	char			 msg[MSG_MAX], path[PATH_MAX_LEN];
	size_t			 i;
	int			 rc, want;

	for (i = 0; i < NELEM(order_cases); i++) {
		const char *json = order_cases[i].json;

		if ((obj = json_tokener_parse(json)) == NULL) {
			unit_fail(__FILE__, __LINE__, "cannot parse %s", json);
			continue;
		}
		memset(&out, 0, sizeof(out));
		snprintf(msg, sizeof(msg), "(none)");
		snprintf(path, sizeof(path), "(none)");
		rc = validate_object(&arena, obj, order_fields, &out, msg,
		    sizeof(msg), path, sizeof(path));
		json_object_put(obj);
		want = order_cases[i].path == NULL ? 0 : -1;
		if (rc != want) {
			unit_fail(__FILE__, __LINE__, "%s: rc %d, want %d "
			    "(path \"%s\", msg \"%s\")", json, rc, want, path,
			    msg);
			continue;
		}
		if (rc == 0)
			continue;
		if (strcmp(path, order_cases[i].path) != 0)
			unit_fail(__FILE__, __LINE__, "%s: path \"%s\", want "
			    "\"%s\"", json, path, order_cases[i].path);
		if (strcmp(msg, order_cases[i].msg) != 0)
			unit_fail(__FILE__, __LINE__, "%s: msg \"%s\", want "
			    "\"%s\"", json, msg, order_cases[i].msg);
	}
	arena_free(&arena);
}

/* A valid order fills the nested structs. */
UNIT_TEST(validate_nested_filled)
{
	struct arena		 arena = { NULL };
	struct order		 out;
	struct item		*items;
	struct json_object	*obj;
	char			 msg[MSG_MAX] = "", path[PATH_MAX_LEN] = "";

	obj = json_tokener_parse("{"
	    "\"note\": \"ring\\nthe bell\","
	    "\"address\": {\"city\": \"Kathmandu\", \"street\": \"Thamel\"},"
	    "\"items\": ["
	    "  {\"sku\": \"TEA-1\", \"quantity\": 2, \"price\": 1499.99},"
	    "  {\"sku\": \"CUP-9\", \"quantity\": 1,"
	    "   \"gift\": {\"city\": \"Pokhara\"}}"
	    "]}");
	CHECK(obj != NULL);
	memset(&out, 0, sizeof(out));
	CHECK_INT(validate_object(&arena, obj, order_fields, &out, msg,
	    sizeof(msg), path, sizeof(path)), 0);
	json_object_put(obj);
	CHECK_STR(msg, "");
	CHECK_STR(out.note, "ring\nthe bell");
	CHECK(out.address != NULL);
	if (out.address != NULL) {
		CHECK_STR(out.address->city, "Kathmandu");
		CHECK_STR(out.address->street, "Thamel");
	}
	CHECK_INT(out.items.n, 2);
	CHECK(out.items.items != NULL);
	if (out.items.n == 2 && out.items.items != NULL) {
		items = out.items.items;
		CHECK_STR(items[0].sku, "TEA-1");
		CHECK_INT(items[0].quantity.present, 1);
		CHECK_INT(items[0].quantity.value, 2);
		CHECK_INT(items[0].price.present, 1);
		CHECK_INT(items[0].price.value, 149999);
		CHECK(items[0].gift == NULL);
		CHECK_STR(items[1].sku, "CUP-9");
		CHECK_INT(items[1].quantity.value, 1);
		CHECK_INT(items[1].price.present, 0);
		CHECK(items[1].gift != NULL);
		if (items[1].gift != NULL) {
			CHECK_STR(items[1].gift->city, "Pokhara");
			CHECK(items[1].gift->street == NULL);
		}
	}
	arena_free(&arena);
}

/* An array with a zero minimum may be empty. */
UNIT_TEST(validate_empty_array)
{
	static const struct field table[] = {
		{ "items", FIELD_ARRAY, REQUIRED, 0, 2,
		    offsetof(struct order, items), item_fields,
		    sizeof(struct item), NULL },
		{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
	};
	struct arena		 arena = { NULL };
	struct order		 out;
	struct json_object	*obj = json_tokener_parse("{\"items\": []}");
	char			 msg[MSG_MAX], path[PATH_MAX_LEN];

	memset(&out, 0, sizeof(out));
	CHECK_INT(validate_object(&arena, obj, table, &out, msg, sizeof(msg),
	    path, sizeof(path)), 0);
	CHECK_INT(out.items.n, 0);
	json_object_put(obj);
	arena_free(&arena);
}

static const struct {
	const char	*text;
	int		 rc;
	int64_t		 paisa;
} parse_cases[] = {
	{ "1499.99", 0, 149999 },
	{ "1500", 0, 150000 },
	{ "0.5", 0, 50 },
	{ "0.05", 0, 5 },
	{ "0", 0, 0 },
	{ "0.0", 0, 0 },
	{ "1499.9", 0, 149990 },
	{ "1.50", 0, 150 },
	{ "10", 0, 1000 },
	{ "92233720368547", 0, 9223372036854700 },
	{ "1499.999", -1, 0 },
	{ "0.001", -1, 0 },
	{ "-1", -1, 0 },
	{ "-0.5", -1, 0 },
	{ "1e3", -1, 0 },
	{ "1E3", -1, 0 },
	{ "1.5e2", -1, 0 },
	{ "", -1, 0 },
	{ ".5", -1, 0 },
	{ "5.", -1, 0 },
	{ "01", -1, 0 },
	{ "00.5", -1, 0 },
	{ "1.2.3", -1, 0 },
	{ " 1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "+1", -1, 0 },
	{ "1,000", -1, 0 },
	{ "NaN", -1, 0 },
	{ "Infinity", -1, 0 },
	{ "99999999999999999999", -1, 0 },
	{ "9223372036854775807", -1, 0 },
	{ "92233720368547758070", -1, 0 },
};

UNIT_TEST(money_parse_table)
{
	size_t	i;
	int64_t	paisa;
	int	rc;

	for (i = 0; i < NELEM(parse_cases); i++) {
		paisa = -12345;
		rc = money_parse(parse_cases[i].text, &paisa);
		if (rc != parse_cases[i].rc)
			unit_fail(__FILE__, __LINE__, "money_parse(\"%s\") == "
			    "%d (paisa %lld), want %d", parse_cases[i].text, rc,
			    (long long)paisa, parse_cases[i].rc);
		else if (rc == 0 && paisa != parse_cases[i].paisa)
			unit_fail(__FILE__, __LINE__, "money_parse(\"%s\") "
			    "gave %lld, want %lld", parse_cases[i].text,
			    (long long)paisa, (long long)parse_cases[i].paisa);
	}
}

static const struct {
	int64_t		 paisa;
	const char	*json;
} json_cases[] = {
	{ 149999, "1499.99" },
	{ 150000, "1500" },
	{ 149990, "1499.9" },
	{ 5, "0.05" },
	{ 50, "0.5" },
	{ 1, "0.01" },
	{ 10, "0.1" },
	{ 99, "0.99" },
	{ 100, "1" },
	{ 0, "0" },
	{ 101, "1.01" },
	{ 110, "1.1" },
	{ 123456789012, "1234567890.12" },
	{ 9007199254740993, "90071992547409.93" },	/* beyond a double */
};

UNIT_TEST(money_json_table)
{
	struct json_object	*j, *wrap;
	const char		*s;
	size_t			 i;
	int64_t			 back;

	for (i = 0; i < NELEM(json_cases); i++) {
		long long p = (long long)json_cases[i].paisa;

		if ((j = money_json(json_cases[i].paisa)) == NULL) {
			unit_fail(__FILE__, __LINE__, "money_json(%lld) == "
			    "NULL", p);
			continue;
		}
		s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
		if (s == NULL || strcmp(s, json_cases[i].json) != 0)
			unit_fail(__FILE__, __LINE__, "money_json(%lld) == %s, "
			    "want %s", p, s ? s : "(null)", json_cases[i].json);
		/* It reads back through money_parse(). */
		if (s == NULL || money_parse(s, &back) != 0 ||
		    back != json_cases[i].paisa)
			unit_fail(__FILE__, __LINE__, "money_json(%lld) == %s "
			    "does not parse back", p, s ? s : "(null)");
		/* And it serialises the same inside an object. */
		wrap = json_object_new_object();
		json_object_object_add(wrap, "amount", j);
		s = json_object_to_json_string_ext(wrap,
		    JSON_C_TO_STRING_PLAIN);
		if (strncmp(s, "{\"amount\":", 10) != 0 ||
		    strncmp(s + 10, json_cases[i].json,
		    strlen(json_cases[i].json)) != 0 ||
		    strcmp(s + 10 + strlen(json_cases[i].json), "}") != 0)
			unit_fail(__FILE__, __LINE__, "money_json(%lld) in an "
			    "object == %s", p, s);
		json_object_put(wrap);
	}
}

#define U(s)	s, sizeof(s) - 1

static const struct {
	const char	*name;
	const char	*s;
	size_t		 len;
	int		 ok;
	size_t		 chars;
} utf8_cases[] = {
	{ "ascii", U("abc"), 1, 3 },
	{ "empty", U(""), 1, 0 },
	{ "len shorter than string", "abc", 2, 1, 2 },
	{ "2-byte e-acute", U("\xc3\xa9"), 1, 1 },
	{ "lowest 2-byte U+0080", U("\xc2\x80"), 1, 1 },
	{ "Devanagari, 3 chars in 9 bytes",
	  U("\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8"), 1, 3 },
	{ "lowest 3-byte U+0800", U("\xe0\xa0\x80"), 1, 1 },
	{ "U+D7FF before the surrogates", U("\xed\x9f\xbf"), 1, 1 },
	{ "U+E000 after the surrogates", U("\xee\x80\x80"), 1, 1 },
	{ "U+FFFF", U("\xef\xbf\xbf"), 1, 1 },
	{ "4-byte emoji", U("\xf0\x9f\x98\x80"), 1, 1 },
	{ "lowest 4-byte U+10000", U("\xf0\x90\x80\x80"), 1, 1 },
	{ "highest U+10FFFF", U("\xf4\x8f\xbf\xbf"), 1, 1 },
	{ "mixed", U("a\xc3\xa9\xe0\xa4\xa8\xf0\x9f\x98\x80z"), 1, 5 },
	{ "overlong NUL C0 80", U("\xc0\x80"), 0, 0 },
	{ "overlong C1 BF", U("\xc1\xbf"), 0, 0 },
	{ "overlong 3-byte E0 80 80", U("\xe0\x80\x80"), 0, 0 },
	{ "overlong 3-byte E0 9F BF", U("\xe0\x9f\xbf"), 0, 0 },
	{ "overlong 4-byte F0 8F BF BF", U("\xf0\x8f\xbf\xbf"), 0, 0 },
	{ "surrogate ED A0 80", U("\xed\xa0\x80"), 0, 0 },
	{ "surrogate ED BF BF", U("\xed\xbf\xbf"), 0, 0 },
	{ "surrogate pair as CESU-8",
	  U("\xed\xa0\xbd\xed\xb8\x80"), 0, 0 },
	{ "above U+10FFFF F4 90 80 80", U("\xf4\x90\x80\x80"), 0, 0 },
	{ "F5 lead", U("\xf5\x80\x80\x80"), 0, 0 },
	{ "5-byte F8 lead", U("\xf8\x88\x80\x80\x80"), 0, 0 },
	{ "FE", U("\xfe"), 0, 0 },
	{ "FF", U("\xff"), 0, 0 },
	{ "lone continuation", U("\x80"), 0, 0 },
	{ "continuation after ascii", U("a\xbf"), 0, 0 },
	{ "truncated 2-byte", U("\xc3"), 0, 0 },
	{ "truncated 2-byte after ascii", U("ab\xc3"), 0, 0 },
	{ "truncated 3-byte", U("\xe0\xa4"), 0, 0 },
	{ "truncated 4-byte", U("\xf0\x9f\x98"), 0, 0 },
	{ "truncated by len", "\xc3\xa9", 1, 0, 0 },
	{ "bad continuation C3 28", U("\xc3\x28"), 0, 0 },
	{ "bad continuation E0 A4 28", U("\xe0\xa4\x28"), 0, 0 },
	{ "bad continuation F0 9F 28 80", U("\xf0\x9f\x28\x80"), 0, 0 },
	{ "embedded NUL", U("a\0b"), 0, 0 },
	{ "lone NUL", U("\0"), 0, 0 },
	{ "trailing NUL", U("ab\0"), 0, 0 },
};

UNIT_TEST(utf8_valid_table)
{
	size_t	i, chars;
	int	ok;

	for (i = 0; i < NELEM(utf8_cases); i++) {
		chars = 9999;
		ok = utf8_valid(utf8_cases[i].s, utf8_cases[i].len, &chars);
		if (ok != utf8_cases[i].ok)
			unit_fail(__FILE__, __LINE__, "utf8_valid(%s) == %d, "
			    "want %d", utf8_cases[i].name, ok,
			    utf8_cases[i].ok);
		else if (ok && chars != utf8_cases[i].chars)
			unit_fail(__FILE__, __LINE__, "utf8_valid(%s): chars "
			    "%zu, want %zu", utf8_cases[i].name, chars,
			    utf8_cases[i].chars);
		/* chars may be NULL. */
		if (utf8_valid(utf8_cases[i].s, utf8_cases[i].len, NULL) !=
		    utf8_cases[i].ok)
			unit_fail(__FILE__, __LINE__, "utf8_valid(%s, NULL) "
			    "differs", utf8_cases[i].name);
	}
}

/* json_syntax_check: RFC 8259 exactly (number ranges are the fields'). */
static const struct {
	const char	*text;
	int		 ok;
	size_t		 at;	/* offset of the error when !ok */
} syntax_cases[] = {
	{ "{}", 1, 0 },
	{ " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\"]} ", 1, 0 },
	{ "{\"n\": 9223372036854775807}", 1, 0 },
	{ "{\"n\": -9223372036854775808}", 1, 0 },
	{ "{\"n\": 99999999999999999999}", 1, 0 },
	{ "{\"n\": -9223372036854775809}", 1, 0 },
	{ "{\"n\": 99999999999999999999.5}", 1, 0 },
	{ "{'a': 1}", 0, 1 },
	{ "{\"a\": 'b'}", 0, 6 },
	{ "{\"a\": NaN}", 0, 6 },
	{ "{\"a\": Infinity}", 0, 6 },
	{ "{\"a\": 01}", 0, 7 },
	{ "{\"a\": 1,}", 0, 8 },
	{ "{\"a\": [1,]}", 0, 9 },
	{ "{\"a\" 1}", 0, 5 },
	{ "{\"a\": \"\\x\"}", 0, 8 },
	{ "{\"a\": \"\\u12g4\"}", 0, 11 },
	{ "{\"a\": \"tab\there\"}", 0, 10 },
	{ "{\"a\": 1} x", 0, 9 },
	{ "{\"a\": tru}", 0, 6 },
	{ "{\"a\": -}", 0, 7 },
	{ "{\"a\": 1.}", 0, 8 },
	{ "{\"a\": 1e}", 0, 8 },
	{ "", 0, 0 },
	{ "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", 0, 16 },
};

UNIT_TEST(json_syntax_table)
{
	size_t	i, at;
	int	rc;

	for (i = 0; i < NELEM(syntax_cases); i++) {
		at = (size_t)-1;
		rc = json_syntax_check(syntax_cases[i].text,
		    strlen(syntax_cases[i].text), 16, &at);
		if (syntax_cases[i].ok && rc != 0)
			unit_fail(__FILE__, __LINE__, "%s: refused at %zu",
			    syntax_cases[i].text, at);
		if (!syntax_cases[i].ok && (rc == 0 ||
		    at != syntax_cases[i].at))
			unit_fail(__FILE__, __LINE__, "%s: rc %d at %zu, want "
			    "-1 at %zu", syntax_cases[i].text, rc, at,
			    syntax_cases[i].at);
	}
}

/* FIELD_STRING_ARRAY and NULLABLE, the two shapes PATCH bodies need. */
struct tagged {
	struct jarray	 tags;
	const char	*email;
};

static const struct field tagged_fields[] = {
	{ "tags", FIELD_STRING_ARRAY, OPTIONAL, 0, 3,
	    offsetof(struct tagged, tags), NULL, 5, NULL },
	{ "email", FIELD_EMAIL, NULLABLE, 0, 0,
	    offsetof(struct tagged, email), NULL, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL },
};

static const struct {
	const char	*json;
	const char	*path;		/* NULL: accepted */
	const char	*msg;
} tagged_cases[] = {
	{ "{\"tags\": []}", NULL, NULL },
	{ "{\"tags\": [\"a\", \"bcdef\"]}", NULL, NULL },
	{ "{\"tags\": [\"a\", \"b\", \"c\", \"d\"]}", "tags",
	  "tags must be an array of 0 to 3 strings" },
	{ "{\"tags\": \"a\"}", "tags", "tags must be an array of 0 to 3 strings" },
	{ "{\"tags\": [\"a\", 1]}", "tags[1]",
	  "tags[1] must be a string of 1 to 5 characters" },
	{ "{\"tags\": [\"abcdef\"]}", "tags[0]",
	  "tags[0] must be a string of 1 to 5 characters" },
	{ "{\"tags\": [\"\"]}", "tags[0]",
	  "tags[0] must be a string of 1 to 5 characters" },
	{ "{\"tags\": [null]}", "tags[0]", "tags[0] must not be null" },
	{ "{\"tags\": [\"a\\nb\"]}", "tags[0]",
	  "tags[0] must not contain control characters" },
	{ "{\"tags\": null}", "tags", "tags must not be null" },
	{ "{\"email\": null}", NULL, NULL },
	{ "{\"email\": \"A@B.CO\"}", NULL, NULL },
	{ "{\"email\": 5}", "email", "email must be a string" },
};

UNIT_TEST(validate_string_array_and_nullable)
{
	struct arena		 arena = { NULL };
	struct tagged		 out;
	struct json_object	*obj;
	char			 msg[MSG_MAX], path[PATH_MAX_LEN];
	size_t			 i;
	int			 rc;

	for (i = 0; i < NELEM(tagged_cases); i++) {
		obj = json_tokener_parse(tagged_cases[i].json);
		memset(&out, 0, sizeof(out));
		snprintf(msg, sizeof(msg), "(none)");
		snprintf(path, sizeof(path), "(none)");
		rc = validate_object(&arena, obj, tagged_fields, &out, msg,
		    sizeof(msg), path, sizeof(path));
		json_object_put(obj);
		if (tagged_cases[i].path == NULL ? rc != 0 : (rc == 0 ||
		    strcmp(path, tagged_cases[i].path) != 0 ||
		    strcmp(msg, tagged_cases[i].msg) != 0))
			unit_fail(__FILE__, __LINE__, "%s: rc %d path \"%s\" "
			    "msg \"%s\"", tagged_cases[i].json, rc, path, msg);
	}

	obj = json_tokener_parse("{\"tags\": [\"x\", \"yz\"], \"email\": null}");
	memset(&out, 0, sizeof(out));
	CHECK_INT(validate_object(&arena, obj, tagged_fields, &out, msg,
	    sizeof(msg), path, sizeof(path)), 0);
	json_object_put(obj);
	CHECK_INT(out.tags.n, 2);
	if (out.tags.n == 2) {
		CHECK_STR(((const char **)out.tags.items)[0], "x");
		CHECK_STR(((const char **)out.tags.items)[1], "yz");
	}
	CHECK(out.email == FIELD_NULL);

	obj = json_tokener_parse("{\"email\": \"A@B.CO\"}");
	memset(&out, 0, sizeof(out));
	CHECK_INT(validate_object(&arena, obj, tagged_fields, &out, msg,
	    sizeof(msg), path, sizeof(path)), 0);
	json_object_put(obj);
	CHECK_STR(out.email, "a@b.co");
	CHECK(out.email != FIELD_NULL);
	arena_free(&arena);
}
