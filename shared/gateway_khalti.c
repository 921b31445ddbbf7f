/*
 * gateway_khalti.c: Khalti KPG-2 ePayment (payments.md section 2):
 * initiate, lookup and refund over JSON with "Authorization: Key", and the
 * unsigned browser return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "crypto.h"
#include "gateway.h"
#include "gateway_internal.h"
#include "httpclient.h"

#define KHALTI_MIN_PAISA	1000	/* Rs 10 (2.3, pitfall 1) */
#define KHALTI_INITIATE_PATH	"v2/epayment/initiate/"
#define KHALTI_LOOKUP_PATH	"v2/epayment/lookup/"
#define KHALTI_REFUND_PATH	"merchant-transaction/%s/refund/" /* no v2 (2.6) */
#define KHALTI_NOT_FOUND	"Not found."
#define KHALTI_BAD_KEY		"Khalti rejected the API key"
#define KHALTI_ID_MAX		63
#define KHALTI_NAME_MAX		200
#define KHALTI_AUTH_MAX		(GW_TEXT_MAX + 32)
#define KHALTI_NEPAL_PREFIX	"+977"

/*
 * Status words of lookup and the return (2.4, 2.5, pitfall 6), compared
 * ignoring case.
 */
static const struct khalti_word {
	const char		*word;
	enum pay_outcome	 outcome;
} khalti_words[] = {
	{ "Completed",		PAY_PAID },
	{ "Pending",		PAY_PENDING },
	{ "Initiated",		PAY_PENDING },
	{ "Refunded",		PAY_REFUNDED },
	{ "Partially Refunded",	PAY_PARTIALLY_REFUNDED },
	{ "Expired",		PAY_EXPIRED },
	{ "User canceled",	PAY_CANCELLED },
	{ "User cancelled",	PAY_CANCELLED },
	{ "Canceled",		PAY_CANCELLED },
	{ "Cancelled",		PAY_CANCELLED },
	{ "Failed",		PAY_FAILED },
};

static int
khalti_outcome(const char *word, enum pay_outcome *out)
{
	size_t	i;

	for (i = 0; i < sizeof(khalti_words) / sizeof(khalti_words[0]); i++)
		if (gw_word_is(word, khalti_words[i].word)) {
			*out = khalti_words[i].outcome;
			return 0;
		}
	return -1;
}

/* A pidx or transaction_id: letters, digits, '-' or '_', bounded. */
static int
khalti_id_ok(const char *id)
{
	size_t	i;

	if (id == NULL)
		return 0;
	for (i = 0; id[i] != '\0'; i++)
		if (i == KHALTI_ID_MAX || !((id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '-' ||
		    id[i] == '_'))
			return 0;
	return i > 0;
}

/*
 * Serialises body once and POSTs it to the API root + path with
 * "Authorization: Key <secret>" (2.2). Returns gw_call's answer; the caller
 * frees res either way.
 */
static int
khalti_post(const struct gateway *gw, const struct gateway_urls *urls,
    const char *path, struct json_object *body, struct http_result *res,
    char *err, size_t errlen)
{
	struct http_call	 call;
	char			 url[GW_URL_MAX], auth[KHALTI_AUTH_MAX];
	const char		*text;
	int			 n, rc = GW_REFUSED;

	memset(res, 0, sizeof(*res));
	if (gw->secret_key[0] == '\0' || !gw_header_safe(gw->secret_key))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti secret key missing or malformed");
	if (gw_join_url(url, sizeof(url), urls->api, path) != 0)
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti API URL missing or too long");
	if ((text = json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) == NULL)
		return gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
	n = snprintf(auth, sizeof(auth), "Authorization: Key %s",
	    gw->secret_key);
	if (n < 0 || (size_t)n >= sizeof(auth)) {
		gw_fail(err, errlen, GW_REFUSED, "Khalti secret key too long");
		goto out;
	}
	memset(&call, 0, sizeof(call));
	call.method = "POST";
	call.url = url;
	call.content_type = "application/json";
	call.body = text;
	call.body_len = strlen(text);
	call.headers[0] = auth;
	rc = gw_call("Khalti", &call, res, err, errlen);
out:
	wipe(auth, sizeof(auth));
	return rc;
}

/*
 * Joins the messages of a Khalti error body (2.3: field-keyed arrays, or
 * "detail") into err after prefix.
 */
static void
khalti_errors(struct json_object *obj, const char *prefix, long status,
    char *err, size_t errlen)
{
	struct json_object_iterator	 it, end;
	struct json_object		*v, *m;
	const char			*key;
	char				 code[32];
	size_t				 i, len;
	int				 any = 0;

	gw_fail(err, errlen, GW_REFUSED, "%s", prefix);
	if (obj != NULL) {
		it = json_object_iter_begin(obj);
		end = json_object_iter_end(obj);
		for (; !json_object_iter_equal(&it, &end);
		    json_object_iter_next(&it)) {
			key = json_object_iter_peek_name(&it);
			v = json_object_iter_peek_value(&it);
			if (strcmp(key, "error_key") == 0 ||
			    strcmp(key, "status_code") == 0)
				continue;
			if (json_object_is_type(v, json_type_string)) {
				gw_err_append(err, errlen, any ? "; " : ": ");
				gw_err_append(err, errlen,
				    json_object_get_string(v));
				any = 1;
				continue;
			}
			if (!json_object_is_type(v, json_type_array))
				continue;
			len = json_object_array_length(v);
			for (i = 0; i < len && i < 8; i++) {
				m = json_object_array_get_idx(v, i);
				if (!json_object_is_type(m, json_type_string))
					continue;
				gw_err_append(err, errlen, any ? "; " : ": ");
				gw_err_append(err, errlen, key);
				gw_err_append(err, errlen, ": ");
				gw_err_append(err, errlen,
				    json_object_get_string(m));
				any = 1;
			}
		}
	}
	if (!any) {
		snprintf(code, sizeof(code), " (HTTP %ld)", status);
		gw_err_append(err, errlen, code);
	}
}

/*
 * Initiate (2.3): POST {return_url, website_url, amount (paisa),
 * purchase_order_id = reference, purchase_order_name = order number,
 * customer_info when given}. 200 gives payment_url (a GET redirect), pidx
 * and expires_in. Below Rs 10 is refused here without a call; 400 joins
 * Khalti's messages into err; 401 is a bad key; 5xx or no answer is
 * GW_UNREACHABLE.
 */
int
khalti_initiate(const struct gateway *gw, const struct gateway_urls *urls,
    const struct pay_request *req, struct pay_redirect *out, char *err,
    size_t errlen)
{
	struct http_result	 res;
	struct json_object	*body = NULL, *info = NULL, *ans = NULL;
	char			 rupees[32], expires[32];
	const char		*phone;
	int64_t			 seconds;
	int			 rc = GW_REFUSED;

	memset(&res, 0, sizeof(res));
	if (req->amount_paisa < KHALTI_MIN_PAISA) {
		paisa_to_rupees(req->amount_paisa, rupees);
		return gw_fail(err, errlen, GW_REFUSED, "Khalti takes at "
		    "least Rs 10 (1000 paisa); this payment is Rs %s", rupees);
	}
	if (!gw_url_ok(req->website_url))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti needs an absolute website URL");
	if (req->order_number == NULL || req->order_number[0] == '\0' ||
	    strlen(req->order_number) > KHALTI_NAME_MAX)
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti needs an order name of 1 to %d characters",
		    KHALTI_NAME_MAX);

	if ((body = json_object_new_object()) == NULL ||
	    gw_json_add_str(body, "return_url", req->return_url) != 0 ||
	    gw_json_add_str(body, "website_url", req->website_url) != 0 ||
	    gw_json_add_int(body, "amount", req->amount_paisa) != 0 ||
	    gw_json_add_str(body, "purchase_order_id", req->reference) != 0 ||
	    gw_json_add_str(body, "purchase_order_name",
	    req->order_number) != 0) {
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
		goto out;
	}
	phone = req->customer_phone;
	/* Khalti's examples use the 10-digit local number. */
	if (phone != NULL && strncmp(phone, KHALTI_NEPAL_PREFIX,
	    strlen(KHALTI_NEPAL_PREFIX)) == 0)
		phone += strlen(KHALTI_NEPAL_PREFIX);
	if ((req->customer_name != NULL && req->customer_name[0] != '\0') ||
	    (phone != NULL && phone[0] != '\0')) {
		if ((info = json_object_new_object()) == NULL ||
		    (req->customer_name != NULL &&
		    req->customer_name[0] != '\0' &&
		    gw_json_add_str(info, "name", req->customer_name) != 0) ||
		    (phone != NULL && phone[0] != '\0' &&
		    gw_json_add_str(info, "phone", phone) != 0) ||
		    json_object_object_add(body, "customer_info", info) != 0) {
			json_object_put(info);
			rc = gw_fail(err, errlen, GW_UNREACHABLE,
			    "out of memory");
			goto out;
		}
	}

	if ((rc = khalti_post(gw, urls, KHALTI_INITIATE_PATH, body, &res,
	    err, errlen)) != GW_OK)
		goto out;
	rc = GW_REFUSED;
	ans = gw_json_parse(res.body, res.len);
	if (res.status == 401 || res.status == 403) {
		gw_fail(err, errlen, GW_REFUSED, KHALTI_BAD_KEY);
		goto out;
	}
	if (res.status != 200) {
		khalti_errors(ans, "Khalti refused the payment", res.status,
		    err, errlen);
		goto out;
	}
	if (ans == NULL ||
	    gw_json_text(ans, "payment_url", out->url, sizeof(out->url)) != 1 ||
	    !gw_url_ok(out->url) ||
	    gw_json_text(ans, "pidx", out->provider_ref,
	    sizeof(out->provider_ref)) != 1 ||
	    !khalti_id_ok(out->provider_ref) ||
	    gw_json_text(ans, "expires_in", expires, sizeof(expires)) < 0) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Khalti initiate: unreadable answer");
		goto out;
	}
	if (expires[0] != '\0' && gw_parse_paisa(expires, &seconds) == 0)
		out->expires_in = (long)seconds;
	out->post = 0;
	rc = GW_OK;
out:
	json_object_put(body);
	json_object_put(ans);
	http_result_free(&res);
	if (rc != GW_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/*
 * Reads a lookup object (2.5) into st: status word, total_amount (paisa),
 * transaction_id; the pidx it names must be ours. 0, or -1 with err set.
 */
static int
khalti_lookup_fields(struct json_object *ans, const char *pidx_asked,
    struct pay_status *st, char *err, size_t errlen)
{
	char	pidx[KHALTI_ID_MAX + 1], amount[32];
	int64_t	paisa;
	int	r;

	if (khalti_outcome(st->status_word, &st->outcome) != 0) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Khalti lookup: unknown status \"%s\"", st->status_word);
		return -1;
	}
	if (gw_json_text(ans, "pidx", pidx, sizeof(pidx)) < 0 ||
	    (pidx[0] != '\0' && strcmp(pidx, pidx_asked) != 0)) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Khalti lookup answered for another pidx");
		return -1;
	}
	if ((r = gw_json_text(ans, "total_amount", amount,
	    sizeof(amount))) == 1) {
		if (gw_parse_paisa(amount, &paisa) != 0)
			r = -1;
		else
			st->amount_paisa = paisa;
	}
	if (r < 0 || gw_json_text(ans, "transaction_id", st->provider_ref,
	    sizeof(st->provider_ref)) < 0) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Khalti lookup: malformed field");
		return -1;
	}
	return 0;
}

/*
 * Lookup (2.5): POST {"pidx": provider_ref}. The body is read on 200 and
 * also on 400 (Expired, User canceled) and 404; {"detail":"Not found."} is
 * PAY_NOT_FOUND. total_amount is paisa, transaction_id becomes
 * provider_ref; lookup does not report our reference.
 */
int
khalti_status(const struct gateway *gw, const struct gateway_urls *urls,
    const char *reference, const char *provider_ref, int64_t amount_paisa,
    struct pay_status *st, char *err, size_t errlen)
{
	struct http_result	 res;
	struct json_object	*body = NULL, *ans = NULL;
	char			 detail[GW_TEXT_MAX];
	int			 rc = GW_REFUSED;

	memset(&res, 0, sizeof(res));
	if (!khalti_id_ok(provider_ref))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti lookup needs the pidx");
	if ((body = json_object_new_object()) == NULL ||
	    gw_json_add_str(body, "pidx", provider_ref) != 0) {
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
		goto out;
	}
	if ((rc = khalti_post(gw, urls, KHALTI_LOOKUP_PATH, body, &res, err,
	    errlen)) != GW_OK)
		goto out;
	rc = GW_REFUSED;
	if (res.status == 401 || res.status == 403) {
		gw_fail(err, errlen, GW_REFUSED, KHALTI_BAD_KEY);
		goto out;
	}
	ans = gw_json_parse(res.body, res.len);
	if (ans == NULL || (res.status != 200 && res.status != 400 &&
	    res.status != 404)) {
		gw_fail(err, errlen, GW_REFUSED,
		    "Khalti lookup: unreadable answer (HTTP %ld)", res.status);
		goto out;
	}
	if (gw_json_text(ans, "status", st->status_word,
	    sizeof(st->status_word)) == 1) {
		if (khalti_lookup_fields(ans, provider_ref, st, err,
		    errlen) != 0)
			goto out;
	} else if (gw_json_text(ans, "detail", detail, sizeof(detail)) == 1 &&
	    gw_word_is(detail, KHALTI_NOT_FOUND)) {
		st->outcome = PAY_NOT_FOUND;
		gw_copy(st->status_word, sizeof(st->status_word),
		    KHALTI_NOT_FOUND);
	} else {
		khalti_errors(ans, "Khalti lookup refused", res.status, err,
		    errlen);
		goto out;
	}
	st->raw = res.body;
	res.body = NULL;
	rc = GW_OK;
out:
	json_object_put(body);
	json_object_put(ans);
	http_result_free(&res);
	return rc;
}

/* purchase_order_id of a return (2.4); 0, or -1 when there is none. */
int
khalti_claim_reference(const char *query, char reference[64])
{
	if (gw_query_param(query, "purchase_order_id", 0, reference, 64) != 1
	    || reference[0] == '\0')
		return -1;
	return 0;
}

/*
 * Reads a browser return (2.4), unsigned (claim->signature 0): reference =
 * purchase_order_id, provider_ref = transaction_id (or tidx), amount from
 * amount (or total_amount), outcome from status ('+' or %20 for spaces;
 * unknown words are failures; no status at all means "ask lookup",
 * PAY_PENDING). The old ?message=<text> failure form is a cancellation
 * when the text says so, otherwise a failure. Returns -1 when the query
 * holds none of pidx, purchase_order_id or message, or a parameter is
 * malformed.
 */
int
khalti_read_claim(const struct gateway *gw, const char *query,
    struct pay_claim *claim)
{
	char	pidx[GW_PARAM_MAX], status[GW_PARAM_MAX], amount[32];
	char	message[GW_PARAM_MAX];
	int	rs, rm;
	int64_t	paisa;

	if (gw_query_param(query, "pidx", 0, pidx, sizeof(pidx)) < 0 ||
	    (rs = gw_query_param(query, "status", 0, status,
	    sizeof(status))) < 0 ||
	    (rm = gw_query_param(query, "message", 0, message,
	    sizeof(message))) < 0 ||
	    gw_query_param(query, "purchase_order_id", 0, claim->reference,
	    sizeof(claim->reference)) < 0)
		return -1;
	if (pidx[0] == '\0' && claim->reference[0] == '\0' && rm != 1)
		return -1;
	if (gw_query_param(query, "transaction_id", 0, claim->provider_ref,
	    sizeof(claim->provider_ref)) < 0)
		return -1;
	if (claim->provider_ref[0] == '\0' &&
	    gw_query_param(query, "tidx", 0, claim->provider_ref,
	    sizeof(claim->provider_ref)) < 0)
		return -1;

	claim->amount_paisa = -1;
	if ((gw_query_param(query, "amount", 0, amount, sizeof(amount)) == 1 ||
	    gw_query_param(query, "total_amount", 0, amount,
	    sizeof(amount)) == 1) && gw_parse_paisa(amount, &paisa) == 0)
		claim->amount_paisa = paisa;

	if (rs == 1 && status[0] != '\0') {
		if (khalti_outcome(status, &claim->outcome) != 0)
			claim->outcome = PAY_FAILED;
	} else if (rm == 1)
		claim->outcome = strcasestr(message, "cancel") != NULL ?
		    PAY_CANCELLED : PAY_FAILED;
	else
		claim->outcome = PAY_PENDING;
	claim->signature = 0;
	return 0;
}

/*
 * Refund (2.6): POST {api}/merchant-transaction/<transaction_id>/refund/
 * with {} (all) or {"amount": paisa}. 200 is GW_OK; 5xx or no answer
 * GW_UNREACHABLE; any other answer GW_REFUSED with Khalti's words.
 */
int
khalti_refund(const struct gateway *gw, const struct gateway_urls *urls,
    const char *provider_ref, int64_t amount_paisa, char *err,
    size_t errlen)
{
	struct http_result	 res;
	struct json_object	*body = NULL, *ans = NULL;
	char			 path[KHALTI_ID_MAX + 64];
	int			 n, rc = GW_REFUSED;

	memset(&res, 0, sizeof(res));
	if (!khalti_id_ok(provider_ref))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti refund needs the transaction_id");
	n = snprintf(path, sizeof(path), KHALTI_REFUND_PATH, provider_ref);
	if (n < 0 || (size_t)n >= sizeof(path))
		return gw_fail(err, errlen, GW_REFUSED,
		    "Khalti transaction_id too long");
	if ((body = json_object_new_object()) == NULL ||
	    (amount_paisa > 0 &&
	    gw_json_add_int(body, "amount", amount_paisa) != 0)) {
		rc = gw_fail(err, errlen, GW_UNREACHABLE, "out of memory");
		goto out;
	}
	if ((rc = khalti_post(gw, urls, path, body, &res, err, errlen)) !=
	    GW_OK)
		goto out;
	rc = GW_REFUSED;
	if (res.status == 401 || res.status == 403) {
		gw_fail(err, errlen, GW_REFUSED, KHALTI_BAD_KEY);
		goto out;
	}
	if (res.status != 200) {
		ans = gw_json_parse(res.body, res.len);
		khalti_errors(ans, "Khalti refused the refund", res.status,
		    err, errlen);
		goto out;
	}
	rc = GW_OK;
out:
	json_object_put(body);
	json_object_put(ans);
	http_result_free(&res);
	return rc;
}
