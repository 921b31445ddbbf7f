/*
 * gateway_internal.h: what gateway.c shares with the per-gateway files
 * (gateway_esewa.c, gateway_khalti.c, gateway_fonepay.c) and with the unit
 * tests. Handlers use gateway.h only.
 */
#ifndef COMMERCE_GATEWAY_INTERNAL_H
#define COMMERCE_GATEWAY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "gateway.h"

struct json_object;
struct http_call;
struct http_result;

#define GW_QUERY_MAX	8192		/* a browser return's query string */
#define GW_PARAM_MAX	4096		/* one decoded query parameter */
#define GW_JSON_DEPTH	16
#define GW_AMOUNT_MAX	INT64_C(100000000000000)	/* Rs 1e12 in paisa */
#define GW_REF_MIN	3
#define GW_REF_MAX	25

/* gw_query_param flags. */
#define GWQ_QMARK	0x01	/* '?' also starts a parameter (eSewa quirk, 1.3) */
#define GWQ_LAST	0x02	/* the last occurrence wins, not the first */
#define GWQ_RAW_PLUS	0x04	/* '+' stays '+' instead of meaning a space */

/*
 * Writes the printf-style reason to err (control characters replaced by
 * spaces, so it is safe in a log line) and returns rc.
 */
int	gw_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* Appends text to err the same way; silently clamps. */
void	gw_err_append(char *err, size_t errlen, const char *text);

/*
 * Finds parameter name in a raw query string (a leading '?' is skipped)
 * and percent-decodes its value into out. Returns 1 when found, 0 when
 * absent, -1 when the query or the value is too long, or the value has a
 * bad escape or a control character.
 */
int	gw_query_param(const char *query, const char *name, int flags,
	    char *out, size_t outlen);

/*
 * Parses a JSON object from len bytes (no trailing garbage, depth bounded).
 * Returns a new reference the caller puts, or NULL.
 */
struct json_object *gw_json_parse(const char *text, size_t len);

/*
 * The text of obj[key] for a string, number or boolean (numbers as the
 * gateway wrote them, never through a double). Returns 1 with out set, 0
 * when absent or null (out ""), -1 for an object, array, embedded NUL or
 * text that does not fit.
 */
int	gw_json_text(struct json_object *obj, const char *key, char *out,
	    size_t outlen);

/* Adds a string or an integer member; returns 0 or -1. */
int	gw_json_add_str(struct json_object *obj, const char *key,
	    const char *value);
int	gw_json_add_int(struct json_object *obj, const char *key,
	    int64_t value);

/*
 * Performs the call: GW_OK when an answer below 500 came (res->status
 * says which), GW_UNREACHABLE for a transport failure, 5xx, 408 or 429,
 * with err naming who. The caller frees res either way.
 */
int	gw_call(const char *who, const struct http_call *call,
	    struct http_result *res, char *err, size_t errlen);

/* Copies src into dst of size dstlen; -1 (dst "") when it does not fit. */
int	gw_copy(char *dst, size_t dstlen, const char *src);
/* Appends text at *len in buf of size; -1 when it does not fit. */
int	gw_append(char *buf, size_t size, size_t *len, const char *text);
/* root + path with exactly one '/' between; -1 when it does not fit. */
int	gw_join_url(char *out, size_t outlen, const char *root,
	    const char *path);

int	gw_reference_ok(const char *reference);	/* [A-Za-z0-9-], 3 to 25 */
int	gw_url_ok(const char *url);		/* absolute http(s), bounded */
int	gw_header_safe(const char *value);	/* no control characters */
int	gw_word_is(const char *word, const char *want); /* ignoring case */
void	gw_strip_commas(char *text);
/* Strict non-negative integer paisa ("1000"); 0 or -1. */
int	gw_parse_paisa(const char *text, int64_t *paisa);
/* Adds a form field to a redirect; -1 when full or too long. */
int	gw_field(struct pay_redirect *, const char *name, const char *value);

/* Per-gateway entry points, dispatched from gateway.c. */
int	esewa_initiate(const struct gateway *, const struct gateway_urls *,
	    const struct pay_request *, struct pay_redirect *, char *, size_t);
int	esewa_status(const struct gateway *, const struct gateway_urls *,
	    const char *, const char *, int64_t, struct pay_status *, char *,
	    size_t);
int	esewa_claim_reference(const char *query, char reference[64]);
int	esewa_read_claim(const struct gateway *, const char *query,
	    struct pay_claim *);

int	khalti_initiate(const struct gateway *, const struct gateway_urls *,
	    const struct pay_request *, struct pay_redirect *, char *, size_t);
int	khalti_status(const struct gateway *, const struct gateway_urls *,
	    const char *, const char *, int64_t, struct pay_status *, char *,
	    size_t);
int	khalti_claim_reference(const char *query, char reference[64]);
int	khalti_read_claim(const struct gateway *, const char *query,
	    struct pay_claim *);
int	khalti_refund(const struct gateway *, const struct gateway_urls *,
	    const char *, int64_t, char *, size_t);

int	fonepay_initiate(const struct gateway *, const struct gateway_urls *,
	    const struct pay_request *, struct pay_redirect *, char *, size_t);
int	fonepay_status(const struct gateway *, const struct gateway_urls *,
	    const char *, const char *, int64_t, struct pay_status *, char *,
	    size_t);
int	fonepay_claim_reference(const char *query, char reference[64]);
int	fonepay_read_claim(const struct gateway *, const char *query,
	    struct pay_claim *);

/*
 * Fonepay's pure pieces, exposed for the unit tests (payments.md 3.4, 3.5 a).
 * fonepay_request_dv: upper-case hex HMAC-SHA512 of the nine request values
 * (PID,MD,PRN,AMT,CRN,DT,R1,R2,RU) joined by ','; 0 or -1.
 * fonepay_verify_body: the txnVerification JSON body, serialised once;
 * malloc'd, the caller frees; NULL on failure.
 * fonepay_verify_auth: the lower-case hex "auth" header value over that
 * exact body; 0 or -1. fonepay_basic: base64 of "user:pass"; 0 or -1.
 * Callers wipe what these write.
 */
#define FONEPAY_DV_HEX	(SHA512_LEN * 2)
int	fonepay_request_dv(const char *secret, const char *const values[9],
	    char out[FONEPAY_DV_HEX + 1]);
char	*fonepay_verify_body(const char *prn, const char *merchant_code,
	    const char *amount);
int	fonepay_verify_auth(const struct gateway *, const char *body,
	    char out[FONEPAY_DV_HEX + 1]);
int	fonepay_basic(const struct gateway *, char *out, size_t outlen);

#endif
