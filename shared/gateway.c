/*
 * gateway.c: names, base URLs, money text and dispatch for the payment
 * gateways (payments.md), plus the small parsers the gateway files share.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "gateway.h"
#include "gateway_internal.h"
#include "httpclient.h"

static const char *const provider_names[PROVIDER__MAX] = {
	"esewa",		/* PROVIDER_ESEWA */
	"khalti",		/* PROVIDER_KHALTI */
	"fonepay",		/* PROVIDER_FONEPAY */
};

static const char *const outcome_names[] = {
	"paid",			/* PAY_PAID */
	"pending",		/* PAY_PENDING */
	"failed",		/* PAY_FAILED */
	"cancelled",		/* PAY_CANCELLED */
	"expired",		/* PAY_EXPIRED */
	"not_found",		/* PAY_NOT_FOUND */
	"refunded",		/* PAY_REFUNDED */
	"partially_refunded",	/* PAY_PARTIALLY_REFUNDED */
	"ambiguous",		/* PAY_AMBIGUOUS */
};

/*
 * Default hosts (payments.md 1.1, 2.1, 3.1), each with the environment
 * variable that overrides it. Members a gateway does not use are NULL.
 */
static const struct url_default {
	enum provider	 provider;
	int		 test;
	const char	*form_env, *form;
	const char	*status_env, *status;
	const char	*api_env, *api;
} url_defaults[] = {
	{ PROVIDER_ESEWA, 1,
	  "ESEWA_TEST_FORM_URL",
	  "https://rc-epay.esewa.com.np/api/epay/main/v2/form",
	  /* The official docs' host; SDKs use rc-epay (1.1, UNCONFIRMED). */
	  "ESEWA_TEST_STATUS_URL",
	  "https://rc.esewa.com.np/api/epay/transaction/status/",
	  NULL, NULL },
	{ PROVIDER_ESEWA, 0,
	  "ESEWA_LIVE_FORM_URL",
	  "https://epay.esewa.com.np/api/epay/main/v2/form",
	  "ESEWA_LIVE_STATUS_URL",
	  "https://epay.esewa.com.np/api/epay/transaction/status/",
	  NULL, NULL },
	{ PROVIDER_KHALTI, 1,
	  NULL, NULL, NULL, NULL,
	  "KHALTI_TEST_API_URL", "https://dev.khalti.com/api/" },
	{ PROVIDER_KHALTI, 0,
	  NULL, NULL, NULL, NULL,
	  "KHALTI_LIVE_API_URL", "https://khalti.com/api/" },
	{ PROVIDER_FONEPAY, 1,
	  "FONEPAY_TEST_PAY_URL",
	  "https://dev-clientapi.fonepay.com/api/merchantRequest",
	  /* The dev merchant-API host most public samples use (UNCONFIRMED). */
	  "FONEPAY_TEST_VERIFY_URL",
	  "https://dev-merchantapi.fonepay.com/convergent-merchant-web/api/"
	  "merchant/merchantDetailsForThirdParty/txnVerification",
	  NULL, NULL },
	{ PROVIDER_FONEPAY, 0,
	  "FONEPAY_LIVE_PAY_URL",
	  "https://clientapi.fonepay.com/api/merchantRequest",
	  "FONEPAY_LIVE_VERIFY_URL",
	  "https://merchantapi.fonepay.com/api/merchant/"
	  "merchantDetailsForThirdParty/txnVerification",
	  NULL, NULL },
};

/* What each gateway implements; a NULL refund means "manual". */
static const struct gateway_ops {
	int	(*initiate)(const struct gateway *,
		    const struct gateway_urls *, const struct pay_request *,
		    struct pay_redirect *, char *, size_t);
	int	(*status)(const struct gateway *, const struct gateway_urls *,
		    const char *, const char *, int64_t, struct pay_status *,
		    char *, size_t);
	int	(*claim_reference)(const char *, char[64]);
	int	(*read_claim)(const struct gateway *, const char *,
		    struct pay_claim *);
	int	(*refund)(const struct gateway *, const struct gateway_urls *,
		    const char *, int64_t, char *, size_t);
} gateway_ops[PROVIDER__MAX] = {
	{ esewa_initiate, esewa_status, esewa_claim_reference,
	  esewa_read_claim, NULL },
	{ khalti_initiate, khalti_status, khalti_claim_reference,
	  khalti_read_claim, khalti_refund },
	{ fonepay_initiate, fonepay_status, fonepay_claim_reference,
	  fonepay_read_claim, NULL },
};

const char *
provider_name(enum provider p)
{
	if ((unsigned)p >= PROVIDER__MAX)
		return "unknown";
	return provider_names[p];
}

int
provider_parse(const char *name, enum provider *out)
{
	int	i;

	if (name == NULL)
		return -1;
	for (i = 0; i < PROVIDER__MAX; i++)
		if (strcmp(name, provider_names[i]) == 0) {
			*out = (enum provider)i;
			return 0;
		}
	return -1;
}

const char *
pay_outcome_name(enum pay_outcome o)
{
	if ((size_t)o >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "unknown";
	return outcome_names[o];
}

/* The environment's value of name when set and not empty, else fallback. */
static const char *
env_or(const char *name, const char *fallback)
{
	const char	*v;

	if (name == NULL)
		return fallback;
	v = getenv(name);
	return (v != NULL && v[0] != '\0') ? v : fallback;
}

void
gateway_urls_for(enum provider p, int test_mode, struct gateway_urls *urls)
{
	const struct url_default	*d;
	size_t				 i;

	memset(urls, 0, sizeof(*urls));
	for (i = 0; i < sizeof(url_defaults) / sizeof(url_defaults[0]); i++) {
		d = &url_defaults[i];
		if (d->provider != p || d->test != (test_mode != 0))
			continue;
		urls->form = env_or(d->form_env, d->form);
		urls->status = env_or(d->status_env, d->status);
		urls->api = env_or(d->api_env, d->api);
		return;
	}
}

/*
 * Canonical rupee text: whole rupees without decimals ("1500"), otherwise
 * the shortest exact form ("1500.5", "1499.99"). The same string goes into
 * a form field and its signature (payments.md 1.4, 3.4; vectors E15-E17).
 */
void
paisa_to_rupees(int64_t paisa, char out[32])
{
	uint64_t	 mag;
	const char	*sign = "";

	if (paisa < 0) {
		sign = "-";
		mag = (uint64_t)0 - (uint64_t)paisa;
	} else
		mag = (uint64_t)paisa;
	if (mag % 100 == 0)
		snprintf(out, 32, "%s%" PRIu64, sign, mag / 100);
	else if (mag % 10 == 0)
		snprintf(out, 32, "%s%" PRIu64 ".%" PRIu64, sign, mag / 100,
		    mag % 100 / 10);
	else
		snprintf(out, 32, "%s%" PRIu64 ".%02" PRIu64, sign, mag / 100,
		    mag % 100);
}

/*
 * Strict rupee text to paisa: digits, then optionally '.' and one or two
 * digits. Commas are accepted only as digit-group separators of the whole
 * part, as eSewa's callback writes them ("6,600.0", 1.3 and pitfall 5):
 * the first group has 1-3 digits, inner groups 2 (lakh style) or 3, the
 * last group 3. No sign, exponent, space or empty part; at most 15 digits
 * of whole rupees. Returns 0 with *paisa set, or -1.
 */
int
rupees_to_paisa(const char *text, int64_t *paisa)
{
	const char	*p;
	int64_t		 whole = 0, frac = 0;
	int		 digits = 0, group = 0, groups = 0;

	if (text == NULL || strnlen(text, 33) > 32)
		return -1;
	for (p = text; *p != '\0' && *p != '.'; p++) {
		if (*p == ',') {
			if (group == 0 || group > 3 ||
			    (groups > 0 && group < 2))
				return -1;
			groups++;
			group = 0;
			continue;
		}
		if (*p < '0' || *p > '9' || ++digits > 15)
			return -1;
		whole = whole * 10 + (*p - '0');
		group++;
	}
	if (digits == 0 || (groups > 0 && group != 3))
		return -1;
	if (*p == '.') {
		p++;
		if (p[0] < '0' || p[0] > '9')
			return -1;
		frac = (p[0] - '0') * 10;
		if (p[1] != '\0') {
			if (p[1] < '0' || p[1] > '9' || p[2] != '\0')
				return -1;
			frac += p[1] - '0';
		}
	}
	*paisa = whole * 100 + frac;
	return 0;
}

/* -------------------------------------------------------------------- */
/*
 * Dispatch (contracts in gateway.h): each entry point clears its outputs
 * (a zeroed claim or status never reads "paid"), checks what every gateway
 * needs, then calls the gateway's own function.
 */

/* The gateway's text members are NUL-terminated and it names a gateway. */
static int
gateway_ok(const struct gateway *gw)
{
	if (gw == NULL || (unsigned)gw->provider >= PROVIDER__MAX)
		return 0;
	return memchr(gw->merchant_code, '\0', GW_TEXT_MAX) != NULL &&
	    memchr(gw->public_key, '\0', GW_TEXT_MAX) != NULL &&
	    memchr(gw->secret_key, '\0', GW_TEXT_MAX) != NULL &&
	    memchr(gw->api_username, '\0', GW_TEXT_MAX) != NULL &&
	    memchr(gw->api_password, '\0', GW_TEXT_MAX) != NULL;
}

static void
err_clear(char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

int
gateway_initiate(const struct gateway *gw, const struct gateway_urls *urls,
    const struct pay_request *req, struct pay_redirect *out, char *err,
    size_t errlen)
{
	err_clear(err, errlen);
	memset(out, 0, sizeof(*out));
	if (!gateway_ok(gw) || urls == NULL || req == NULL)
		return gw_fail(err, errlen, GW_REFUSED,
		    "payment gateway not configured");
	if (!gw_reference_ok(req->reference))
		return gw_fail(err, errlen, GW_REFUSED, "payment reference "
		    "must be %d to %d letters, digits or '-'", GW_REF_MIN,
		    GW_REF_MAX);
	if (req->amount_paisa <= 0 || req->amount_paisa > GW_AMOUNT_MAX)
		return gw_fail(err, errlen, GW_REFUSED,
		    "payment amount out of range");
	if (!gw_url_ok(req->return_url))
		return gw_fail(err, errlen, GW_REFUSED,
		    "return URL must be an absolute http(s) URL");
	return gateway_ops[gw->provider].initiate(gw, urls, req, out, err,
	    errlen);
}

int
gateway_status(const struct gateway *gw, const struct gateway_urls *urls,
    const char *reference, const char *provider_ref, int64_t amount_paisa,
    struct pay_status *st, char *err, size_t errlen)
{
	err_clear(err, errlen);
	memset(st, 0, sizeof(*st));
	st->outcome = PAY_AMBIGUOUS;
	st->amount_paisa = -1;
	if (!gateway_ok(gw) || urls == NULL)
		return gw_fail(err, errlen, GW_REFUSED,
		    "payment gateway not configured");
	if (amount_paisa < 0 || amount_paisa > GW_AMOUNT_MAX)
		return gw_fail(err, errlen, GW_REFUSED,
		    "payment amount out of range");
	return gateway_ops[gw->provider].status(gw, urls, reference,
	    provider_ref, amount_paisa, st, err, errlen);
}

int
gateway_claim_reference(enum provider p, const char *query,
    char reference[64])
{
	reference[0] = '\0';
	if ((unsigned)p >= PROVIDER__MAX || query == NULL ||
	    strnlen(query, GW_QUERY_MAX + 1) > GW_QUERY_MAX)
		return -1;
	if (gateway_ops[p].claim_reference(query, reference) != 0) {
		reference[0] = '\0';
		return -1;
	}
	return 0;
}

int
gateway_read_claim(const struct gateway *gw, const char *query,
    struct pay_claim *claim)
{
	memset(claim, 0, sizeof(*claim));
	claim->outcome = PAY_FAILED;
	claim->amount_paisa = -1;
	if (!gateway_ok(gw) || query == NULL ||
	    strnlen(query, GW_QUERY_MAX + 1) > GW_QUERY_MAX)
		return -1;
	if (gateway_ops[gw->provider].read_claim(gw, query, claim) != 0) {
		memset(claim, 0, sizeof(*claim));
		claim->outcome = PAY_FAILED;
		claim->amount_paisa = -1;
		return -1;
	}
	return 0;
}

int
gateway_refund(const struct gateway *gw, const struct gateway_urls *urls,
    const char *provider_ref, int64_t amount_paisa, char *err,
    size_t errlen)
{
	err_clear(err, errlen);
	if (!gateway_ok(gw) || urls == NULL)
		return gw_fail(err, errlen, GW_REFUSED,
		    "payment gateway not configured");
	if (gateway_ops[gw->provider].refund == NULL)
		return gw_fail(err, errlen, GW_REFUSED, "manual");
	if (amount_paisa < 0 || amount_paisa > GW_AMOUNT_MAX)
		return gw_fail(err, errlen, GW_REFUSED,
		    "refund amount out of range");
	return gateway_ops[gw->provider].refund(gw, urls, provider_ref,
	    amount_paisa, err, errlen);
}

/* -------------------------------------------------------------------- */
/* Shared helpers (gateway_internal.h). */

/* Replaces control characters from offset on, so err is one log line. */
static void
err_clean(char *err, size_t from)
{
	for (err += from; *err != '\0'; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = ' ';
}

int
gw_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	err_clean(err, 0);
	return rc;
}

void
gw_err_append(char *err, size_t errlen, const char *text)
{
	size_t	len;

	if (err == NULL || errlen == 0)
		return;
	len = strnlen(err, errlen);
	if (len + 1 >= errlen)
		return;
	snprintf(err + len, errlen - len, "%s", text);
	err_clean(err, len);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes len bytes of in into out; see gw_query_param. */
static int
query_decode(const char *in, size_t len, int raw_plus, char *out,
    size_t outlen)
{
	size_t	i, n = 0;
	int	c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			if ((hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && !raw_plus)
			c = ' ';
		if (c < 0x20 || c == 0x7f || n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 1;
}

int
gw_query_param(const char *query, const char *name, int flags, char *out,
    size_t outlen)
{
	const char	*value = NULL, *prev;
	size_t		 qlen, nlen = strlen(name), i, vlen = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (query == NULL)
		return 0;
	if ((qlen = strnlen(query, GW_QUERY_MAX + 1)) > GW_QUERY_MAX)
		return -1;
	if (query[0] == '?') {
		query++;
		qlen--;
	}
	for (i = 0; i + nlen < qlen; i++) {
		prev = i == 0 ? NULL : &query[i - 1];
		if (prev != NULL && *prev != '&' &&
		    !(*prev == '?' && (flags & GWQ_QMARK)))
			continue;
		if (strncmp(query + i, name, nlen) != 0 ||
		    query[i + nlen] != '=')
			continue;
		value = query + i + nlen + 1;
		vlen = strcspn(value, "&");
		if (!(flags & GWQ_LAST))
			break;
	}
	if (value == NULL)
		return 0;
	return query_decode(value, vlen, flags & GWQ_RAW_PLUS, out, outlen);
}

struct json_object *
gw_json_parse(const char *text, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*obj;
	size_t			 end;

	if (text == NULL || len == 0 || len > HTTP_BODY_MAX ||
	    memchr(text, '\0', len) != NULL)
		return NULL;
	if ((tok = json_tokener_new_ex(GW_JSON_DEPTH)) == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
	} else {
		for (end = json_tokener_get_parse_end(tok); end < len; end++)
			if (strchr(" \t\r\n", text[end]) == NULL) {
				json_object_put(obj);
				obj = NULL;
				break;
			}
	}
	json_tokener_free(tok);
	return obj;
}

int
gw_json_text(struct json_object *obj, const char *key, char *out,
    size_t outlen)
{
	struct json_object	*v;
	const char		*s;
	size_t			 n;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    v == NULL)
		return 0;
	switch (json_object_get_type(v)) {
	case json_type_string:
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (s == NULL || strlen(s) != n)
			return -1;
		break;
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		/* A parsed number keeps the text it was read from. */
		if ((s = json_object_get_string(v)) == NULL)
			return -1;
		n = strlen(s);
		break;
	default:
		return -1;
	}
	if (n >= outlen)
		return -1;
	memcpy(out, s, n + 1);
	return 1;
}

int
gw_json_add_str(struct json_object *obj, const char *key, const char *value)
{
	struct json_object	*v;

	if (value == NULL || (v = json_object_new_string(value)) == NULL)
		return -1;
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

int
gw_json_add_int(struct json_object *obj, const char *key, int64_t value)
{
	struct json_object	*v;

	if ((v = json_object_new_int64(value)) == NULL)
		return -1;
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

int
gw_call(const char *who, const struct http_call *call,
    struct http_result *res, char *err, size_t errlen)
{
	if (http_perform(call, res) != 0)
		return gw_fail(err, errlen, GW_UNREACHABLE,
		    "%s unreachable: %s", who, res->error);
	if (res->status >= 500 || res->status < 100 || res->status == 408 ||
	    res->status == 429)
		return gw_fail(err, errlen, GW_UNREACHABLE,
		    "%s answered HTTP %ld", who, res->status);
	return GW_OK;
}

int
gw_copy(char *dst, size_t dstlen, const char *src)
{
	size_t	n;

	if (dstlen == 0)
		return -1;
	if (src == NULL || (n = strnlen(src, dstlen)) >= dstlen) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
gw_append(char *buf, size_t size, size_t *len, const char *text)
{
	size_t	n = strlen(text);

	if (*len >= size || n >= size - *len)
		return -1;
	memcpy(buf + *len, text, n + 1);
	*len += n;
	return 0;
}

int
gw_join_url(char *out, size_t outlen, const char *root, const char *path)
{
	size_t	 rlen;
	int	 n;

	if (root == NULL || (rlen = strlen(root)) == 0)
		return -1;
	while (*path == '/')
		path++;
	n = snprintf(out, outlen, "%s%s%s", root,
	    root[rlen - 1] == '/' ? "" : "/", path);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int
gw_reference_ok(const char *ref)
{
	size_t	i;

	if (ref == NULL)
		return 0;
	for (i = 0; ref[i] != '\0'; i++)
		if (i == GW_REF_MAX || !((ref[i] >= 'A' && ref[i] <= 'Z') ||
		    (ref[i] >= 'a' && ref[i] <= 'z') ||
		    (ref[i] >= '0' && ref[i] <= '9') || ref[i] == '-'))
			return 0;
	return i >= GW_REF_MIN;
}

int
gw_header_safe(const char *value)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int
gw_url_ok(const char *url)
{
	size_t	len;

	if (url == NULL || (len = strnlen(url, GW_URL_MAX)) >= GW_URL_MAX)
		return 0;
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return 0;
	return len > 8 && gw_header_safe(url) && strchr(url, ' ') == NULL;
}

int
gw_word_is(const char *word, const char *want)
{
	return strcasecmp(word, want) == 0;
}

void
gw_strip_commas(char *text)
{
	char	*w;

	for (w = text; *text != '\0'; text++)
		if (*text != ',')
			*w++ = *text;
	*w = '\0';
}

int
gw_parse_paisa(const char *text, int64_t *paisa)
{
	int64_t	v = 0;
	size_t	i;

	for (i = 0; text[i] != '\0'; i++) {
		if (i == 15 || text[i] < '0' || text[i] > '9')
			return -1;
		v = v * 10 + (text[i] - '0');
	}
	if (i == 0)
		return -1;
	*paisa = v;
	return 0;
}

int
gw_field(struct pay_redirect *r, const char *name, const char *value)
{
	if (r->nfields >= GW_FIELDS_MAX)
		return -1;
	if (gw_copy(r->fields[r->nfields].name,
	    sizeof(r->fields[r->nfields].name), name) != 0 ||
	    gw_copy(r->fields[r->nfields].value,
	    sizeof(r->fields[r->nfields].value), value) != 0)
		return -1;
	r->nfields++;
	return 0;
}
