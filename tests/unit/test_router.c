/*
 * Unit tests for the router and the error table of shared/http.c:
 * route_match() against a table of patterns and paths, and
 * api_error_status()/api_error_code() for every enum api_error value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "unit.h"

/* A failed check that names the table row it came from. */
#define CASE_FAIL(pat, path, fmt, ...)					\
	unit_fail(__FILE__, __LINE__, "route_match(\"%s\", \"%s\"): " fmt,\
	    (pat), (path), __VA_ARGS__)

static const struct {
	const char	*pattern;
	const char	*path;
	int		 want;			/* params, or -1: no match */
	const char	*params[ROUTE_PARAMS_MAX + 1];
} route_cases[] = {
	/* Params must decode to UTF-8 (PostgreSQL refuses anything else). */
	{ "/v1/api-keys/:id", "/v1/api-keys/%FF", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%C3%28", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/caf%C3%A9", 1, { "caf\xc3\xa9" } },

	/* Literal routes. */
	{ "/v1/me", "/v1/me", 0, { NULL } },
	{ "/v1/auth/login", "/v1/auth/login", 0, { NULL } },
	{ "/", "/", 0, { NULL } },
	{ "/v1/me", "/v1/ME", -1, { NULL } },
	{ "/v1/me", "", -1, { NULL } },
	{ "/v1/me", "v1/me", -1, { NULL } },
	{ "/v1/me", "/", -1, { NULL } },
	{ "/v1/me", "/v1//me", -1, { NULL } },

	/* Prefix-only matches either way. */
	{ "/v1/me", "/v1/mex", -1, { NULL } },
	{ "/v1/mex", "/v1/me", -1, { NULL } },
	{ "/v1/me", "/v1/m", -1, { NULL } },
	{ "/v1/me", "/v1", -1, { NULL } },
	{ "/v1", "/v1/me", -1, { NULL } },

	/* Trailing slash. */
	{ "/v1/me", "/v1/me/", -1, { NULL } },
	{ "/v1/me/", "/v1/me", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/key_abc/", -1, { NULL } },

	/* One :param. */
	{ "/v1/api-keys/:id", "/v1/api-keys/key_abc", 1, { "key_abc" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/key%5Fabc", 1, { "key_abc" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/key%5fabc", 1, { "key_abc" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%6B%65%79", 1, { "key" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%20b", 1, { "a b" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a+b", 1, { "a+b" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%C3%A9", 1, { "\xc3\xa9" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/x", 1, { "x" } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%25", 1, { "%" } },

	/* Missing, extra and empty segments. */
	{ "/v1/api-keys/:id", "/v1/api-keys", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/abc/def", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys//", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-key/abc", -1, { NULL } },
	{ "/v1/api-keys/:id/revoke", "/v1/api-keys/abc", -1, { NULL } },
	{ "/v1/api-keys/:id/revoke", "/v1/api-keys/abc/revoke", 1, { "abc" } },
	{ "/v1/api-keys/:id/revoke", "/v1/api-keys//revoke", -1, { NULL } },

	/* Encoded slash in a param. */
	{ "/v1/api-keys/:id", "/v1/api-keys/a%2Fb", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%2fb", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%2F", -1, { NULL } },

	/* Bad escapes. */
	{ "/v1/api-keys/:id", "/v1/api-keys/%zz", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%4", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%4", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%4g", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%g4", -1, { NULL } },
	{ "/v1/api-keys/:id/revoke", "/v1/api-keys/%4/revoke", -1, { NULL } },

	/* Control characters. */
	{ "/v1/api-keys/:id", "/v1/api-keys/a%0a", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%0Db", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/%00", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%00b", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%1F", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%7f", -1, { NULL } },
	{ "/v1/api-keys/:id", "/v1/api-keys/a%09b", -1, { NULL } },

	/* Several params. */
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord_1/items/itm_2", 2,
	  { "ord_1", "itm_2" } },
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord%5F1/items/itm%202",
	  2, { "ord_1", "itm 2" } },
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord_1/items", -1,
	  { NULL } },
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord_1/items/", -1,
	  { NULL } },
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord_1/itemz/itm_2", -1,
	  { NULL } },
	{ "/v1/orders/:id/items/:item", "/v1/orders//items/itm_2", -1,
	  { NULL } },
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord_1/items/itm_2/x", -1,
	  { NULL } },
	{ "/v1/orders/:id/items/:item", "/v1/orders/ord_1/items/a%2Fb", -1,
	  { NULL } },
	{ "/:a/:b/:c/:d", "/1/2/3/4", 4, { "1", "2", "3", "4" } },
	{ "/:a/:b/:c/:d", "/1/2/3", -1, { NULL } },
	{ "/:a/:b/:c/:d/:e", "/1/2/3/4/5", -1, { NULL } },
	{ "/:a/:b/:c/:d/:e/:f", "/1/2/3/4/5/6", -1, { NULL } },
};

UNIT_TEST(route_match_table)
{
	const char	*params[ROUTE_PARAMS_MAX];
	char		*buf;
	size_t		 i, buflen;
	int		 j, got;

	for (i = 0; i < NELEM(route_cases); i++) {
		const char *pat = route_cases[i].pattern;
		const char *path = route_cases[i].path;

		/* The buffer route_or_respond() gives it, exactly sized on
		 * the heap so that an overrun shows under valgrind. */
		buflen = strlen(path) + ROUTE_PARAMS_MAX + 1;
		if ((buf = malloc(buflen)) == NULL) {
			CHECK(buf != NULL);
			return;
		}
		for (j = 0; j < ROUTE_PARAMS_MAX; j++)
			params[j] = NULL;
		got = route_match(pat, path, buf, buflen, params);
		if (got != route_cases[i].want)
			CASE_FAIL(pat, path, "returned %d, want %d", got,
			    route_cases[i].want);
		for (j = 0; got == route_cases[i].want && j < got; j++) {
			const char *want = route_cases[i].params[j];

			if (params[j] == NULL || want == NULL ||
			    strcmp(params[j], want) != 0)
				CASE_FAIL(pat, path,
				    "params[%d] == \"%s\", want \"%s\"", j,
				    params[j] ? params[j] : "(null)",
				    want ? want : "(null)");
			else if (params[j] < buf || params[j] >= buf + buflen)
				CASE_FAIL(pat, path,
				    "params[%d] does not point into buf", j);
		}
		free(buf);
	}
}

/* A match must not depend on what the buffer held before. */
UNIT_TEST(route_match_reused_buffer)
{
	const char	*params[ROUTE_PARAMS_MAX];
	char		 buf[64];

	memset(buf, 'x', sizeof(buf));
	CHECK_INT(route_match("/v1/orders/:id/items/:item",
	    "/v1/orders/o1/items/i2", buf, sizeof(buf), params), 2);
	CHECK_STR(params[0], "o1");
	CHECK_STR(params[1], "i2");
	CHECK_INT(route_match("/v1/api-keys/:id", "/v1/api-keys/k",
	    buf, sizeof(buf), params), 1);
	CHECK_STR(params[0], "k");
}

/* docs/api.md, "Errors", plus ERR_CONFLICT. */
static const struct {
	enum api_error	 err;
	int		 status;
	const char	*code;
} error_cases[] = {
	{ ERR_INVALID_JSON, 400, "invalid_json" },
	{ ERR_BAD_REQUEST, 400, "bad_request" },
	{ ERR_UNAUTHORIZED, 401, "unauthorized" },
	{ ERR_INVALID_CREDENTIALS, 401, "invalid_credentials" },
	{ ERR_NOT_FOUND, 404, "not_found" },
	{ ERR_METHOD_NOT_ALLOWED, 405, "method_not_allowed" },
	{ ERR_EMAIL_TAKEN, 409, "email_taken" },
	{ ERR_CONFLICT, 409, "conflict" },
	{ ERR_INVALID_SIGNATURE, 401, "invalid_signature" },
	{ ERR_OUT_OF_STOCK, 409, "out_of_stock" },
	{ ERR_REPLAYED, 409, "replayed" },
	{ ERR_INVALID_TRANSITION, 409, "invalid_transition" },
	{ ERR_PAYLOAD_TOO_LARGE, 413, "payload_too_large" },
	{ ERR_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type" },
	{ ERR_VALIDATION, 422, "validation_failed" },
	{ ERR_IDEMPOTENCY_KEY_REUSED, 422, "idempotency_key_reused" },
	{ ERR_RATE_LIMITED, 429, "rate_limited" },
	{ ERR_INTERNAL, 500, "internal_error" },
	{ ERR_UNAVAILABLE, 503, "unavailable" },
};

/* Every enum value has a row: a code and an error status. */
UNIT_TEST(api_error_every_value)
{
	int		 e, f, status;
	const char	*code, *other;

	for (e = 0; e < ERR__MAX; e++) {
		status = api_error_status((enum api_error)e);
		code = api_error_code((enum api_error)e);
		if (code == NULL || *code == '\0')
			unit_fail(__FILE__, __LINE__,
			    "api_error_code(%d) is NULL or empty", e);
		if (status < 400 || status > 599)
			unit_fail(__FILE__, __LINE__,
			    "api_error_status(%d) == %d, want 400-599", e,
			    status);
		for (f = 0; code != NULL && f < e; f++) {
			other = api_error_code((enum api_error)f);
			if (other != NULL && strcmp(code, other) == 0)
				unit_fail(__FILE__, __LINE__,
				    "api_error_code(%d) == api_error_code(%d) "
				    "== \"%s\"", e, f, code);
		}
	}
}

/* Each value has the status and code the API reference documents. */
UNIT_TEST(api_error_documented)
{
	size_t		 i;
	const char	*code;

	CHECK_INT(NELEM(error_cases), ERR__MAX);
	for (i = 0; i < NELEM(error_cases); i++) {
		code = api_error_code(error_cases[i].err);
		if (api_error_status(error_cases[i].err) !=
		    error_cases[i].status)
			unit_fail(__FILE__, __LINE__, "api_error_status(%s) "
			    "== %d, want %d", error_cases[i].code,
			    api_error_status(error_cases[i].err),
			    error_cases[i].status);
		if (code == NULL || strcmp(code, error_cases[i].code) != 0)
			unit_fail(__FILE__, __LINE__, "api_error_code(%d) == "
			    "\"%s\", want \"%s\"", (int)error_cases[i].err,
			    code ? code : "(null)", error_cases[i].code);
	}
}
