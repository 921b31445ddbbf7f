/*
 * gateway_fonepay.c: Fonepay web redirect (payments.md section 3): the
 * signed GET request, the txnVerification API, and the signed RU return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "crypto.h"
#include "gateway.h"
#include "gateway_internal.h"
#include "httpclient.h"

#define FONEPAY_PID_MIN		3	/* 3.2 length limits */
#define FONEPAY_PID_MAX		20
#define FONEPAY_R1_MAX		160
#define FONEPAY_RU_MAX		150
#define FONEPAY_MODE		"P"
#define FONEPAY_CURRENCY	"NPR"
#define FONEPAY_R2_NONE		"N/A"
#define FONEPAY_NEPAL_OFFSET	(5 * 3600 + 45 * 60)	/* UTC+05:45 */
#define FONEPAY_MESSAGE_MAX	2048
#define FONEPAY_BASIC_MAX	(4 * ((2 * GW_TEXT_MAX + 2) / 3) + 8)
#define FONEPAY_BAD_CREDENTIALS	"Fonepay rejected the API credentials"

/*
 * txnVerification (3.5 a) is known only from third-party code: these are
 * its UNCONFIRMED pieces. The "auth" HMAC covers user, password, method,
 * content type, this path (without the URL's "/api" prefix) and the exact
 * body. The body's amount is the amount the caller expects, i.e. the AMT
 * requested (not P_AMT). The answer's field names are those of the
 * Dynamic-QR status API.
 */
#define FONEPAY_VERIFY_SIGNED_PATH	\
	"/merchant/merchantDetailsForThirdParty/txnVerification"
#define FONEPAY_VERIFY_METHOD		"POST"
#define FONEPAY_VERIFY_CONTENT_TYPE	"application/json"
#define FONEPAY_VERIFY_BODY_PRN		"prn"
#define FONEPAY_VERIFY_BODY_MERCHANT	"merchantCode"
#define FONEPAY_VERIFY_BODY_AMOUNT	"amount"
#define FONEPAY_VERIFY_KEY_STATUS	"paymentStatus"
#define FONEPAY_VERIFY_KEY_TRACE	"fonepayTraceId"
#define FONEPAY_VERIFY_KEY_PRN		"prn"
#define FONEPAY_VERIFY_KEY_MERCHANT	"merchantCode"
#define FONEPAY_VERIFY_KEY_MESSAGE	"message"

/* Request parameters in DV order (3.2, 3.4). */
static const char *const fonepay_request_names[9] = {
	"PID", "MD", "PRN", "AMT", "CRN", "DT", "R1", "R2", "RU",
};

/* Return parameters in response-DV order (3.3, 3.4). */
enum fonepay_ret {
	RET_PRN, RET_PID, RET_PS, RET_RC, RET_UID, RET_BC, RET_INI,
	RET_P_AMT, RET_R_AMT, RET__MAX,
};
static const char *const fonepay_return_names[RET__MAX] = {
	"PRN", "PID", "PS", "RC", "UID", "BC", "INI", "P_AMT", "R_AMT",
};

/* txnVerification paymentStatus words (3.5 a), compared ignoring case. */
static const struct fonepay_word {
	const char		*word;
	enum pay_outcome	 outcome;
} fonepay_words[] = {
	{ "success",	PAY_PAID },
	{ "failed",	PAY_FAILED },
	{ "pending",	PAY_PENDING },
};

/* HMAC-SHA512 of msg under the merchant secret into mac; 0 or -1. */
static int
fonepay_mac(const char *secret, const char *msg, size_t len,
    unsigned char mac[SHA512_LEN])
{
	return hmac(HMAC_SHA512, secret, strlen(secret), msg, len, mac) ==
	    SHA512_LEN ? 0 : -1;
}

/* Hex HMAC-SHA512, upper-case when upper; 0 or -1. */
static int
fonepay_hex(const char *secret, const char *msg, size_t len, int upper,
    char out[FONEPAY_DV_HEX + 1])
{
	unsigned char	mac[SHA512_LEN];
	size_t		i;
	int		rc = -1;

	if (fonepay_mac(secret, msg, len, mac) == 0) {
		hex_encode(mac, SHA512_LEN, out);
		for (i = 0; upper && out[i] != '\0'; i++)
			if (out[i] >= 'a' && out[i] <= 'f')
				out[i] = (char)(out[i] - 'a' + 'A');
		rc = 0;
	}
	wipe(mac, sizeof(mac));
	return rc;
}

/* values joined by ',' into msg; the length, or -1 when it does not fit. */
static long
fonepay_join(const char *const *values, size_t n, char *msg, size_t size)
{
	size_t	i, len = 0;

	msg[0] = '\0';
	for (i = 0; i < n; i++)
		if ((i > 0 && gw_append(msg, size, &len, ",") != 0) ||
		    gw_append(msg, size, &len, values[i]) != 0)
			return -1;
	return (long)len;
}

/* Request DV (3.4): raw values, not URL-encoded. */
int
fonepay_request_dv(const char *secret, const char *const values[9],
    char out[FONEPAY_DV_HEX + 1])
{
	char	msg[FONEPAY_MESSAGE_MAX];
	long	len;

	if ((len = fonepay_join(values, 9, msg, sizeof(msg))) < 0)
		return -1;
	return fonepay_hex(secret, msg, (size_t)len, 1, out);
}

/* The txnVerification body (3.5 a), serialised once. */
char *
fonepay_verify_body(const char *prn, const char *merchant_code,
    const char *amount)
{
	struct json_object	*obj;
	const char		*text;
	char			*body = NULL;

	if ((obj = json_object_new_object()) == NULL)
		return NULL;
	if (gw_json_add_str(obj, FONEPAY_VERIFY_BODY_PRN, prn) == 0 &&
	    gw_json_add_str(obj, FONEPAY_VERIFY_BODY_MERCHANT,
	    merchant_code) == 0 &&
	    gw_json_add_str(obj, FONEPAY_VERIFY_BODY_AMOUNT, amount) == 0 &&
	    (text = json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN)) != NULL)
		body = strdup(text);
	json_object_put(obj);
	return body;
}

/* The "auth" header value (3.5 a, vector F15). */
int
fonepay_verify_auth(const struct gateway *gw, const char *body,
    char out[FONEPAY_DV_HEX + 1])
{
	char	msg[FONEPAY_MESSAGE_MAX];
	int	n, rc;

	n = snprintf(msg, sizeof(msg), "%s,%s,%s,%s,%s,%s", gw->api_username,
	    gw->api_password, FONEPAY_VERIFY_METHOD,
	    FONEPAY_VERIFY_CONTENT_TYPE, FONEPAY_VERIFY_SIGNED_PATH, body);
	if (n < 0 || (size_t)n >= sizeof(msg))
		rc = -1;
	else
		rc = fonepay_hex(gw->secret_key, msg, (size_t)n, 0, out);
	wipe(msg, sizeof(msg));
	return rc;
}

/* base64("user:pass") for Basic authentication. */
int
fonepay_basic(const struct gateway *gw, char *out, size_t outlen)
{
	char	cred[2 * GW_TEXT_MAX + 2];
	int	n, rc = -1;

	n = snprintf(cred, sizeof(cred), "%s:%s", gw->api_username,
	    gw->api_password);
	if (n >= 0 && (size_t)n < sizeof(cred) &&
	    base64_encoded_len((size_t)n) < outlen) {
		base64_encode((const unsigned char *)cred, (size_t)n, out);
		rc = 0;
	}
	wipe(cred, sizeof(cred));
	return rc;
}

/*
 * The request URL: form + each name=value URL-escaped, then DV (3.2).
 * Returns 0, -1 when it does not fit, -2 when out of memory.
 */
static int
fonepay_url(char *url, size_t size, const char *form,
    const char *const values[9], const char *dv)
{
	char	*esc = NULL;
	size_t	 len = 0, i;
	int	 rc = -1;

	url[0] = '\0';
	if (gw_append(url, size, &len, form) != 0 || gw_append(url, size,
	    &len, strchr(form, '?') != NULL ? "&" : "?") != 0)
		goto out;
	for (i = 0; i < 9; i++) {
		if ((esc = http_escape(values[i])) == NULL) {
			rc = -2;
			goto out;
		}
		if (gw_append(url, size, &len, fonepay_request_names[i]) != 0 ||
		    gw_append(url, size, &len, "=") != 0 ||
		    gw_append(url, size, &len, esc) != 0 ||
		    gw_append(url, size, &len, "&") != 0)
			goto out;
		free(esc);
		esc = NULL;
	}
	if (gw_append(url, size, &len, "DV=") != 0 ||
	    gw_append(url, size, &len, dv) != 0)
		goto out;
	rc = 0;
out:
	free(esc);
	return rc;
}

/*
 * The payment request (3.2): a GET to the merchantRequest URL with PID,
 * MD=P, PRN = reference, AMT in rupees, CRN=NPR, DT = today in Nepal
 * (MM/DD/YYYY from req->now, or the clock when 0), R1 = order number,
 * R2=N/A, RU = return URL and the upper-case DV over the raw values
 * (3.4). Values over Fonepay's length limits are refused.
 */
int
fonepay_initiate(const struct gateway *gw, const struct gateway_urls *urls,
    const struct pay_request *req, struct pay_redirect *out, char *err,
    size_t errlen)
{
	char		 amt[32], dt[16], dv[FONEPAY_DV_HEX + 1];
	const char	*values[9];
	struct tm	 tm;
	time_t		 t;
	size_t		 pidlen;
	int		 rc = GW_REFUSED;

	dv[0] = '\0';
	pidlen = strlen(gw->merchant_code);
	if (pidlen < FONEPAY_PID_MIN || pidlen > FONEPAY_PID_MAX ||
	    gw->secret_key[0] == '\0')
		return gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay merchant code or secret key missing");
	if (req->order_number == NULL || req->order_number[0] == '\0' ||
	    strlen(req->order_number) > FONEPAY_R1_MAX)
		return gw_fail(err, errlen, GW_REFUSED, "Fonepay needs an "
		    "order description of 1 to %d characters", FONEPAY_R1_MAX);
	if (strlen(req->return_url) > FONEPAY_RU_MAX)
		return gw_fail(err, errlen, GW_REFUSED, "Fonepay return URL "
		    "is longer than %d characters", FONEPAY_RU_MAX);
	if (urls->form == NULL || urls->form[0] == '\0')
		return gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay request URL missing");

	paisa_to_rupees(req->amount_paisa, amt);
	t = (req->now != 0 ? req->now : time(NULL)) + FONEPAY_NEPAL_OFFSET;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dt, sizeof(dt), "%m/%d/%Y", &tm) != 10) {
		gw_fail(err, errlen, GW_REFUSED, "Fonepay date out of range");
		goto out;
	}
	values[0] = gw->merchant_code;
	values[1] = FONEPAY_MODE;
	values[2] = req->reference;
	values[3] = amt;
	values[4] = FONEPAY_CURRENCY;
	values[5] = dt;
	values[6] = req->order_number;
	values[7] = FONEPAY_R2_NONE;
	values[8] = req->return_url;
	if (fonepay_request_dv(gw->secret_key, values, dv) != 0) {
		gw_fail(err, errlen, GW_REFUSED, "Fonepay DV failed");
		goto out;
	}
	switch (fonepay_url(out->url, sizeof(out->url), urls->form, values,
	    dv)) {
	case 0:
		break;
	case -2:
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
		goto out;
	default:
		gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay request URL too long");
		goto out;
	}
	out->post = 0;
	rc = GW_OK;
out:
	wipe(dv, sizeof(dv));
	if (rc != GW_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/*
 * Transaction verification (3.5 a): POST {"prn","merchantCode","amount"}
 * serialised once, with Basic user:password and the "auth" HMAC over that
 * exact text. paymentStatus success / failed / pending; fonepayTraceId
 * becomes provider_ref. The answer carries no amount, but the question
 * names one: a success reports the amount asked, anything else -1.
 */
int
fonepay_status(const struct gateway *gw, const struct gateway_urls *urls,
    const char *reference, const char *provider_ref, int64_t amount_paisa,
    struct pay_status *st, char *err, size_t errlen)
{
	struct http_call	 call;
	struct http_result	 res;
	struct json_object	*ans = NULL;
	char			 amount[32], auth[FONEPAY_DV_HEX + 1];
	char			 basic[FONEPAY_BASIC_MAX];
	char			 hauth[FONEPAY_DV_HEX + 16];
	char			 hbasic[FONEPAY_BASIC_MAX + 32];
	char			 message[GW_TEXT_MAX];
	char			*body = NULL;
	size_t			 i;
	int			 rc = GW_REFUSED;

	memset(&res, 0, sizeof(res));
	auth[0] = basic[0] = hauth[0] = hbasic[0] = '\0';
	if (!gw_reference_ok(reference))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay verification needs our PRN");
	if (gw->merchant_code[0] == '\0' || gw->secret_key[0] == '\0' ||
	    gw->api_username[0] == '\0' || gw->api_password[0] == '\0' ||
	    strchr(gw->api_username, ':') != NULL ||
	    !gw_header_safe(gw->api_username) ||
	    !gw_header_safe(gw->api_password))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay API username, password or secret missing");
	if (urls->status == NULL || urls->status[0] == '\0')
		return gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay verification URL missing");

	paisa_to_rupees(amount_paisa, amount);
	if ((body = fonepay_verify_body(reference, gw->merchant_code,
	    amount)) == NULL) {
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
		goto out;
	}
	if (fonepay_verify_auth(gw, body, auth) != 0 ||
	    fonepay_basic(gw, basic, sizeof(basic)) != 0) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay credentials too long");
		goto out;
	}
	snprintf(hauth, sizeof(hauth), "auth: %s", auth);
	snprintf(hbasic, sizeof(hbasic), "Authorization: Basic %s", basic);

	memset(&call, 0, sizeof(call));
	call.method = FONEPAY_VERIFY_METHOD;
	call.url = urls->status;
	call.content_type = FONEPAY_VERIFY_CONTENT_TYPE;
	call.body = body;
	call.body_len = strlen(body);
	call.headers[0] = hbasic;
	call.headers[1] = hauth;
	if ((rc = gw_call("Fonepay", &call, &res, err, errlen)) != GW_OK)
		goto out;
	rc = GW_REFUSED;
	if (res.status == 401 || res.status == 403) {
		gw_fail(err, errlen, GW_REFUSED, FONEPAY_BAD_CREDENTIALS);
		goto out;
	}
	ans = gw_json_parse(res.body, res.len);
	if (ans == NULL || res.status != 200) {
		if (gw_json_text(ans, FONEPAY_VERIFY_KEY_MESSAGE, message,
		    sizeof(message)) != 1)
			snprintf(message, sizeof(message), "HTTP %ld",
			    res.status);
		gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay verification refused: %s", message);
		goto out;
	}
	if (gw_json_text(ans, FONEPAY_VERIFY_KEY_STATUS, st->status_word,
	    sizeof(st->status_word)) != 1) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay verification: no payment status");
		goto out;
	}
	for (i = 0; i < sizeof(fonepay_words) / sizeof(fonepay_words[0]); i++)
		if (gw_word_is(st->status_word, fonepay_words[i].word))
			break;
	if (i == sizeof(fonepay_words) / sizeof(fonepay_words[0])) {
		gw_fail(err, errlen, GW_REFUSED, "Fonepay verification: "
		    "unknown status \"%s\"", st->status_word);
		goto out;
	}
	st->outcome = fonepay_words[i].outcome;
	if (gw_json_text(ans, FONEPAY_VERIFY_KEY_PRN, st->reference,
	    sizeof(st->reference)) < 0 ||
	    gw_json_text(ans, FONEPAY_VERIFY_KEY_MERCHANT, st->merchant_code,
	    sizeof(st->merchant_code)) < 0 ||
	    gw_json_text(ans, FONEPAY_VERIFY_KEY_TRACE, st->provider_ref,
	    sizeof(st->provider_ref)) < 0) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay verification: malformed field");
		goto out;
	}
	if ((st->reference[0] != '\0' && strcmp(st->reference,
	    reference) != 0) || (st->merchant_code[0] != '\0' &&
	    strcmp(st->merchant_code, gw->merchant_code) != 0)) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Fonepay verification answered for another payment");
		goto out;
	}
	/* The question names the amount: "success" is about that amount. */
	if (st->outcome == PAY_PAID)
		st->amount_paisa = amount_paisa;
	st->raw = res.body;
	res.body = NULL;
	rc = GW_OK;
out:
	wipe(auth, sizeof(auth));
	wipe(basic, sizeof(basic));
	wipe(hauth, sizeof(hauth));
	wipe(hbasic, sizeof(hbasic));
	free(body);
	json_object_put(ans);
	http_result_free(&res);
	return rc;
}

/* PRN of an RU return (3.3); 0, or -1 when there is none. */
int
fonepay_claim_reference(const char *query, char reference[64])
{
	if (gw_query_param(query, "PRN", 0, reference, 64) != 1 ||
	    reference[0] == '\0')
		return -1;
	return 0;
}

/*
 * Reads an RU return (3.3): reference = PRN, provider_ref = UID, amount
 * from R_AMT; PS=true with RC=successful is a paid claim, RC=cancel a
 * cancelled one, anything else a failure. The DV (3.4) is HMAC-SHA512 over
 * PRN,PID,PS,RC,UID,BC,INI,P_AMT,R_AMT as received, compared as bytes, so
 * either hex case passes; claim->signature is 1, or -1 when it differs, a
 * signed parameter is missing or PID is not our merchant code. Returns -1
 * when PRN is missing or a parameter is malformed.
 */
int
fonepay_read_claim(const struct gateway *gw, const char *query,
    struct pay_claim *claim)
{
	char		 values[RET__MAX][GW_TEXT_MAX];
	const char	*joined[RET__MAX];
	char		 dv[FONEPAY_DV_HEX + 8], msg[FONEPAY_MESSAGE_MAX];
	unsigned char	 given[SHA512_LEN], mac[SHA512_LEN];
	int64_t		 paisa;
	long		 len;
	int		 i, r, complete = 1, rc = -1;

	for (i = 0; i < RET__MAX; i++) {
		r = gw_query_param(query, fonepay_return_names[i], 0,
		    values[i], sizeof(values[i]));
		if (r < 0)
			goto out;
		if (r == 0)
			complete = 0;
		joined[i] = values[i];
	}
	if ((r = gw_query_param(query, "DV", 0, dv, sizeof(dv))) < 0)
		goto out;
	if (values[RET_PRN][0] == '\0' || gw_copy(claim->reference,
	    sizeof(claim->reference), values[RET_PRN]) != 0 ||
	    gw_copy(claim->provider_ref, sizeof(claim->provider_ref),
	    values[RET_UID]) != 0)
		goto out;

	if (gw_word_is(values[RET_PS], "true") &&
	    gw_word_is(values[RET_RC], "successful"))
		claim->outcome = PAY_PAID;
	else if (gw_word_is(values[RET_RC], "cancel") ||
	    gw_word_is(values[RET_RC], "cancelled") ||
	    gw_word_is(values[RET_RC], "canceled"))
		claim->outcome = PAY_CANCELLED;
	else
		claim->outcome = PAY_FAILED;
	claim->amount_paisa = -1;
	if (rupees_to_paisa(values[RET_R_AMT], &paisa) == 0)
		claim->amount_paisa = paisa;

	claim->signature = -1;
	if (complete && r == 1 && gw->secret_key[0] != '\0' &&
	    strcmp(values[RET_PID], gw->merchant_code) == 0 &&
	    strlen(dv) == FONEPAY_DV_HEX &&
	    hex_decode(dv, FONEPAY_DV_HEX, given, sizeof(given)) ==
	    SHA512_LEN &&
	    (len = fonepay_join(joined, RET__MAX, msg, sizeof(msg))) >= 0 &&
	    fonepay_mac(gw->secret_key, msg, (size_t)len, mac) == 0 &&
	    ct_equal(mac, SHA512_LEN, given, SHA512_LEN))
		claim->signature = 1;
	rc = 0;
out:
	wipe(mac, sizeof(mac));
	return rc;
}
