/*
 * gateway_esewa.c: eSewa ePay v2 (payments.md section 1): the signed form
 * the browser posts, the status API, and the signed data= return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "gateway.h"
#include "gateway_internal.h"
#include "httpclient.h"

#define ESEWA_REQUEST_SIGNED	"total_amount,transaction_uuid,product_code"
#define ESEWA_SIG_LEN		44	/* base64 of a SHA-256 digest */
#define ESEWA_MESSAGE_MAX	2048
#define ESEWA_DATA_MAX		4096	/* base64 characters of data= */
#define ESEWA_SIGNED_MAX	16	/* names in signed_field_names */
#define ESEWA_NAME_MAX		64

/* Status words of the status API and the return (1.3, 1.5). */
static const struct esewa_word {
	const char		*word;
	enum pay_outcome	 outcome;
} esewa_words[] = {
	{ "COMPLETE",		PAY_PAID },
	{ "PENDING",		PAY_PENDING },
	{ "FULL_REFUND",	PAY_REFUNDED },
	{ "PARTIAL_REFUND",	PAY_PARTIALLY_REFUNDED },
	{ "AMBIGUOUS",		PAY_AMBIGUOUS },
	{ "NOT_FOUND",		PAY_NOT_FOUND },
	{ "CANCELED",		PAY_CANCELLED },
};

/*
 * Fields a return's signature must cover before we believe it: the ones
 * the claim is read from (1.3).
 */
static const char *const esewa_must_sign[] = {
	"status", "total_amount", "transaction_uuid", "product_code",
};

/* Maps a status word; 0, or -1 for a word eSewa does not document. */
static int
esewa_outcome(const char *word, enum pay_outcome *out)
{
	size_t	i;

	for (i = 0; i < sizeof(esewa_words) / sizeof(esewa_words[0]); i++)
		if (gw_word_is(word, esewa_words[i].word)) {
			*out = esewa_words[i].outcome;
			return 0;
		}
	return -1;
}

/* Base64 HMAC-SHA256 of msg under the merchant secret (1.4); 0 or -1. */
static int
esewa_sign(const struct gateway *gw, const char *msg, size_t len,
    char out[ESEWA_SIG_LEN + 1])
{
	unsigned char	mac[SHA512_LEN];
	int		rc = -1;

	if (hmac(HMAC_SHA256, gw->secret_key, strlen(gw->secret_key), msg,
	    len, mac) == SHA256_LEN) {
		base64_encode(mac, SHA256_LEN, out);
		rc = 0;
	}
	wipe(mac, sizeof(mac));
	return rc;
}

/*
 * The eleven form fields of 1.2, signed per 1.4 over the exact strings put
 * in the form: amount = total, no tax or charges, product_code = merchant
 * code, transaction_uuid = our reference. Values are raw text; the page
 * that renders the form escapes them.
 */
int
esewa_initiate(const struct gateway *gw, const struct gateway_urls *urls,
    const struct pay_request *req, struct pay_redirect *out, char *err,
    size_t errlen)
{
	char	total[32], msg[ESEWA_MESSAGE_MAX], sig[ESEWA_SIG_LEN + 1];
	int	n, rc = GW_REFUSED;

	if (gw->merchant_code[0] == '\0' || gw->secret_key[0] == '\0')
		return gw_fail(err, errlen, GW_REFUSED,
		    "eSewa product code or secret key missing");
	if (!gw_url_ok(req->failure_url))
		return gw_fail(err, errlen, GW_REFUSED,
		    "eSewa needs an absolute failure URL");
	if (urls->form == NULL || gw_copy(out->url, sizeof(out->url),
	    urls->form) != 0)
		return gw_fail(err, errlen, GW_REFUSED,
		    "eSewa form URL missing or too long");

	paisa_to_rupees(req->amount_paisa, total);
	n = snprintf(msg, sizeof(msg),
	    "total_amount=%s,transaction_uuid=%s,product_code=%s", total,
	    req->reference, gw->merchant_code);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		gw_fail(err, errlen, GW_REFUSED, "eSewa message too long");
		goto out;
	}
	if (esewa_sign(gw, msg, (size_t)n, sig) != 0) {
		gw_fail(err, errlen, GW_REFUSED, "eSewa signature failed");
		goto out;
	}
	if (gw_field(out, "amount", total) != 0 ||
	    gw_field(out, "tax_amount", "0") != 0 ||
	    gw_field(out, "product_service_charge", "0") != 0 ||
	    gw_field(out, "product_delivery_charge", "0") != 0 ||
	    gw_field(out, "total_amount", total) != 0 ||
	    gw_field(out, "transaction_uuid", req->reference) != 0 ||
	    gw_field(out, "product_code", gw->merchant_code) != 0 ||
	    gw_field(out, "success_url", req->return_url) != 0 ||
	    gw_field(out, "failure_url", req->failure_url) != 0 ||
	    gw_field(out, "signed_field_names", ESEWA_REQUEST_SIGNED) != 0 ||
	    gw_field(out, "signature", sig) != 0) {
		gw_fail(err, errlen, GW_REFUSED, "eSewa form field too long");
		goto out;
	}
	out->post = 1;
	rc = GW_OK;
out:
	wipe(sig, sizeof(sig));
	if (rc != GW_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/*
 * Status API (1.5): GET with product_code, total_amount and
 * transaction_uuid. total_amount comes back as a JSON number and is read
 * through its text. An eSewa error body, 5xx or no answer is
 * GW_UNREACHABLE; an answer we cannot read is GW_REFUSED.
 */
int
esewa_status(const struct gateway *gw, const struct gateway_urls *urls,
    const char *reference, const char *provider_ref, int64_t amount_paisa,
    struct pay_status *st, char *err, size_t errlen)
{
	struct http_call	 call;
	struct http_result	 res;
	struct json_object	*obj = NULL;
	char			 total[32], url[GW_URL_MAX], amount[48];
	char			 message[GW_TEXT_MAX];
	char			*code = NULL, *uuid = NULL, *amt = NULL;
	int64_t			 paisa;
	int			 n, rc = GW_REFUSED, r;

	memset(&res, 0, sizeof(res));
	if (!gw_reference_ok(reference))
		return gw_fail(err, errlen, GW_REFUSED,
		    "eSewa status needs our transaction_uuid");
	if (gw->merchant_code[0] == '\0' || urls->status == NULL)
		return gw_fail(err, errlen, GW_REFUSED,
		    "eSewa product code or status URL missing");

	paisa_to_rupees(amount_paisa, total);
	if ((code = http_escape(gw->merchant_code)) == NULL ||
	    (amt = http_escape(total)) == NULL ||
	    (uuid = http_escape(reference)) == NULL) {
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
		goto out;
	}
	n = snprintf(url, sizeof(url),
	    "%s%cproduct_code=%s&total_amount=%s&transaction_uuid=%s",
	    urls->status, strchr(urls->status, '?') != NULL ? '&' : '?',
	    code, amt, uuid);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		gw_fail(err, errlen, GW_REFUSED, "eSewa status URL too long");
		goto out;
	}

	memset(&call, 0, sizeof(call));
	call.method = "GET";
	call.url = url;
	if ((rc = gw_call("eSewa", &call, &res, err, errlen)) != GW_OK)
		goto out;
	rc = GW_REFUSED;
	if ((obj = gw_json_parse(res.body, res.len)) == NULL) {
		gw_fail(err, errlen, GW_REFUSED,
		    "eSewa status: unreadable answer (HTTP %ld)", res.status);
		goto out;
	}
	if ((r = gw_json_text(obj, "error_message", message,
	    sizeof(message))) != 0) {
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "eSewa status: %s",
		    r == 1 ? message : "error");
		goto out;
	}
	if (res.status != 200 ||
	    gw_json_text(obj, "status", st->status_word,
	    sizeof(st->status_word)) != 1 ||
	    esewa_outcome(st->status_word, &st->outcome) != 0) {
		gw_fail(err, errlen, GW_REFUSED, "eSewa status: unexpected "
		    "answer (HTTP %ld, status \"%.47s\")", res.status,
		    st->status_word);
		goto out;
	}
	if ((r = gw_json_text(obj, "total_amount", amount,
	    sizeof(amount))) == 1) {
		gw_strip_commas(amount);
		if (rupees_to_paisa(amount, &paisa) != 0)
			r = -1;
		else
			st->amount_paisa = paisa;
	}
	if (r < 0 ||
	    gw_json_text(obj, "product_code", st->merchant_code,
	    sizeof(st->merchant_code)) < 0 ||
	    gw_json_text(obj, "transaction_uuid", st->reference,
	    sizeof(st->reference)) < 0 ||
	    gw_json_text(obj, "ref_id", st->provider_ref,
	    sizeof(st->provider_ref)) < 0) {
		gw_fail(err, errlen, GW_REFUSED,
		    "eSewa status: malformed field");
		goto out;
	}
	st->raw = res.body;
	res.body = NULL;
	rc = GW_OK;
out:
	json_object_put(obj);
	http_result_free(&res);
	free(code);
	free(amt);
	free(uuid);
	return rc;
}

/*
 * The data= parameter of a return (1.3), decoded to its JSON object, or
 * NULL. Found after '&' or after a '?' inside another parameter's value
 * (pitfall 7); the last one wins, as eSewa appends it. Base64 '+' may come
 * as ' ' or %2B, '=' as %3D (pitfall 14); lost padding is restored.
 */
static struct json_object *
esewa_data(const char *query)
{
	char		b64[ESEWA_DATA_MAX + 4];
	unsigned char	raw[ESEWA_DATA_MAX];
	size_t		i;
	long		n;

	if (gw_query_param(query, "data", GWQ_QMARK | GWQ_LAST |
	    GWQ_RAW_PLUS, b64, ESEWA_DATA_MAX + 1) != 1)
		return NULL;
	for (i = 0; b64[i] != '\0'; i++)
		if (b64[i] == ' ')
			b64[i] = '+';
	while (i % 4 != 0 && i % 4 != 1)
		b64[i++] = '=';
	b64[i] = '\0';
	if ((n = base64_decode(b64, i, raw, sizeof(raw))) <= 0)
		return NULL;
	return gw_json_parse((const char *)raw, (size_t)n);
}

/*
 * Checks a return's signature (1.4): for each name of signed_field_names,
 * in order, "name=value" joined by ','; values verbatim except that
 * total_amount loses its thousands commas (pitfall 5). Returns 1 when the
 * signature matches, covers every field we read and names our product
 * code; 0 otherwise.
 */
static int
esewa_verify(const struct gateway *gw, struct json_object *obj)
{
	char		 names[ESEWA_MESSAGE_MAX], msg[ESEWA_MESSAGE_MAX];
	char		 name[ESEWA_NAME_MAX], value[GW_TEXT_MAX];
	char		 given[ESEWA_SIG_LEN + 8], sig[ESEWA_SIG_LEN + 1];
	const char	*p, *comma;
	size_t		 len = 0, nlen, i;
	unsigned	 covered = 0;
	int		 count = 0, n, ok = 0;

	sig[0] = '\0';
	if (gw->secret_key[0] == '\0' ||
	    gw_json_text(obj, "signed_field_names", names,
	    sizeof(names)) != 1 ||
	    gw_json_text(obj, "signature", given, sizeof(given)) != 1)
		goto out;
	for (p = names;; p = comma + 1) {
		comma = strchr(p, ',');
		nlen = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (nlen == 0 || nlen >= sizeof(name) ||
		    ++count > ESEWA_SIGNED_MAX)
			goto out;
		memcpy(name, p, nlen);
		name[nlen] = '\0';
		if (gw_json_text(obj, name, value, sizeof(value)) != 1)
			goto out;
		if (strcmp(name, "total_amount") == 0)
			gw_strip_commas(value);
		if (strcmp(name, "product_code") == 0 &&
		    strcmp(value, gw->merchant_code) != 0)
			goto out;
		for (i = 0; i < sizeof(esewa_must_sign) /
		    sizeof(esewa_must_sign[0]); i++)
			if (strcmp(name, esewa_must_sign[i]) == 0)
				covered |= 1u << i;
		n = snprintf(msg + len, sizeof(msg) - len, "%s%s=%s",
		    len > 0 ? "," : "", name, value);
		if (n < 0 || (size_t)n >= sizeof(msg) - len)
			goto out;
		len += (size_t)n;
		if (comma == NULL)
			break;
	}
	if (covered != (1u << (sizeof(esewa_must_sign) /
	    sizeof(esewa_must_sign[0]))) - 1)
		goto out;
	if (esewa_sign(gw, msg, len, sig) != 0)
		goto out;
	ok = ct_equal(sig, strlen(sig), given, strlen(given));
out:
	wipe(sig, sizeof(sig));
	return ok;
}

/* transaction_uuid of a data= return (1.3); 0, or -1 when there is none. */
int
esewa_claim_reference(const char *query, char reference[64])
{
	struct json_object	*obj;
	int			 rc = -1;

	if ((obj = esewa_data(query)) == NULL)
		return -1;
	if (gw_json_text(obj, "transaction_uuid", reference, 64) == 1 &&
	    reference[0] != '\0')
		rc = 0;
	json_object_put(obj);
	return rc;
}

/*
 * Reads a data= return (1.3, 1.4): reference = transaction_uuid,
 * provider_ref = transaction_code, amount from total_amount without its
 * commas, outcome from status (COMPLETE is the only paid word; an unknown
 * word is a failure). claim->signature is 1 or -1. Returns -1 when there is
 * no readable data= or it names no transaction_uuid. A failure_url hit
 * carries nothing (1.3): ask the status API instead.
 */
int
esewa_read_claim(const struct gateway *gw, const char *query,
    struct pay_claim *claim)
{
	struct json_object	*obj;
	char			 status[48], amount[48];
	int64_t			 paisa;
	int			 rc = -1;

	if ((obj = esewa_data(query)) == NULL)
		return -1;
	if (gw_json_text(obj, "transaction_uuid", claim->reference,
	    sizeof(claim->reference)) != 1 || claim->reference[0] == '\0' ||
	    gw_json_text(obj, "transaction_code", claim->provider_ref,
	    sizeof(claim->provider_ref)) < 0 ||
	    gw_json_text(obj, "status", status, sizeof(status)) != 1)
		goto out;
	if (esewa_outcome(status, &claim->outcome) != 0)
		claim->outcome = PAY_FAILED;
	claim->amount_paisa = -1;
	if (gw_json_text(obj, "total_amount", amount, sizeof(amount)) == 1) {
		gw_strip_commas(amount);
		if (rupees_to_paisa(amount, &paisa) == 0)
			claim->amount_paisa = paisa;
	}
	claim->signature = esewa_verify(gw, obj) ? 1 : -1;
	rc = 0;
out:
	json_object_put(obj);
	return rc;
}
