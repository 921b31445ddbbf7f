/*
 * Unit tests for the payment gateways (shared/gateway*.c) against the
 * vectors of payments.md section 4, through the real code paths: eSewa
 * E1, E3, E15-E18 (4.1), Khalti return fixtures (4.2), Fonepay F5, F9-F13
 * and F15 (4.3); plus the money text tables. Network calls are exercised
 * end to end against tests/sandbox, not here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "gateway.h"
#include "gateway_internal.h"
#include "unit.h"

#define KE	"8gBm/:&EnhH.1/q"			/* eSewa UAT */
#define KF	"fonepay"				/* Fonepay fonepay123 */
#define KN	"a7e3512f5032480a83137793cb2021dc"	/* Fonepay NBQM */
#define SFN	"transaction_code,status,total_amount,transaction_uuid," \
		"product_code,signed_field_names"

/* 2025-01-15 00:00:00 UTC, 05:45 in Nepal. */
#define JAN15_UTC	1736899200

static void
gw_set(struct gateway *gw, enum provider p, const char *code,
    const char *secret)
{
	memset(gw, 0, sizeof(*gw));
	gw->provider = p;
	gw->test_mode = 1;
	snprintf(gw->merchant_code, sizeof(gw->merchant_code), "%s", code);
	snprintf(gw->secret_key, sizeof(gw->secret_key), "%s", secret);
}

/* The value of a redirect's form field, or NULL. */
static const char *
field(const struct pay_redirect *rd, const char *name)
{
	int	i;

	for (i = 0; i < rd->nfields; i++)
		if (strcmp(rd->fields[i].name, name) == 0)
			return rd->fields[i].value;
	return NULL;
}

/* prefix + "data=" + base64(json), as eSewa's return carries it. */
static char *
esewa_query(const char *prefix, const char *json)
{
	static char	q[4096];
	size_t		n = strlen(prefix);

	memcpy(q, prefix, n);
	memcpy(q + n, "data=", 5);
	base64_encode((const unsigned char *)json, strlen(json), q + n + 5);
	return q;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* -------------------------------------------------------------------- */
/* Names and URLs. */

UNIT_TEST(gateway_names)
{
	enum provider	p;

	CHECK_STR(provider_name(PROVIDER_ESEWA), "esewa");
	CHECK_STR(provider_name(PROVIDER_KHALTI), "khalti");
	CHECK_STR(provider_name(PROVIDER_FONEPAY), "fonepay");
	CHECK(provider_parse("khalti", &p) == 0 && p == PROVIDER_KHALTI);
	CHECK(provider_parse("fonepay", &p) == 0 && p == PROVIDER_FONEPAY);
	CHECK(provider_parse("Khalti", &p) == -1);
	CHECK(provider_parse("", &p) == -1);
	CHECK(provider_parse(NULL, &p) == -1);
	CHECK_STR(pay_outcome_name(PAY_PAID), "paid");
	CHECK_STR(pay_outcome_name(PAY_CANCELLED), "cancelled");
	CHECK_STR(pay_outcome_name(PAY_NOT_FOUND), "not_found");
	CHECK_STR(pay_outcome_name(PAY_PARTIALLY_REFUNDED),
	    "partially_refunded");
	CHECK_STR(pay_outcome_name(PAY_AMBIGUOUS), "ambiguous");
}

UNIT_TEST(gateway_urls_defaults_and_env)
{
	static const char *const vars[] = {
		"ESEWA_TEST_FORM_URL", "ESEWA_TEST_STATUS_URL",
		"ESEWA_LIVE_FORM_URL", "ESEWA_LIVE_STATUS_URL",
		"KHALTI_TEST_API_URL", "KHALTI_LIVE_API_URL",
		"FONEPAY_TEST_PAY_URL", "FONEPAY_TEST_VERIFY_URL",
		"FONEPAY_LIVE_PAY_URL", "FONEPAY_LIVE_VERIFY_URL",
	};
	struct gateway_urls	u;
	size_t			i;

	for (i = 0; i < NELEM(vars); i++)
		unsetenv(vars[i]);
	gateway_urls_for(PROVIDER_ESEWA, 1, &u);
	CHECK_STR(u.form, "https://rc-epay.esewa.com.np/api/epay/main/v2/form");
	CHECK_STR(u.status,
	    "https://rc.esewa.com.np/api/epay/transaction/status/");
	CHECK(u.api == NULL);
	gateway_urls_for(PROVIDER_ESEWA, 0, &u);
	CHECK_STR(u.form, "https://epay.esewa.com.np/api/epay/main/v2/form");
	CHECK_STR(u.status,
	    "https://epay.esewa.com.np/api/epay/transaction/status/");
	gateway_urls_for(PROVIDER_KHALTI, 1, &u);
	CHECK_STR(u.api, "https://dev.khalti.com/api/");
	CHECK(u.form == NULL && u.status == NULL);
	gateway_urls_for(PROVIDER_KHALTI, 0, &u);
	CHECK_STR(u.api, "https://khalti.com/api/");
	gateway_urls_for(PROVIDER_FONEPAY, 1, &u);
	CHECK_STR(u.form,
	    "https://dev-clientapi.fonepay.com/api/merchantRequest");
	gateway_urls_for(PROVIDER_FONEPAY, 0, &u);
	CHECK_STR(u.form, "https://clientapi.fonepay.com/api/merchantRequest");
	CHECK_STR(u.status, "https://merchantapi.fonepay.com/api/merchant/"
	    "merchantDetailsForThirdParty/txnVerification");

	setenv("KHALTI_TEST_API_URL", "http://127.0.0.1:18470/khalti/api/", 1);
	setenv("FONEPAY_LIVE_VERIFY_URL", "http://127.0.0.1:1/v", 1);
	setenv("ESEWA_TEST_FORM_URL", "", 1);	/* empty: the default */
	gateway_urls_for(PROVIDER_KHALTI, 1, &u);
	CHECK_STR(u.api, "http://127.0.0.1:18470/khalti/api/");
	gateway_urls_for(PROVIDER_KHALTI, 0, &u);
	CHECK_STR(u.api, "https://khalti.com/api/");
	gateway_urls_for(PROVIDER_FONEPAY, 0, &u);
	CHECK_STR(u.status, "http://127.0.0.1:1/v");
	gateway_urls_for(PROVIDER_ESEWA, 1, &u);
	CHECK_STR(u.form, "https://rc-epay.esewa.com.np/api/epay/main/v2/form");
	for (i = 0; i < NELEM(vars); i++)
		unsetenv(vars[i]);
}

/* -------------------------------------------------------------------- */
/* Money text. */

UNIT_TEST(gateway_paisa_to_rupees)
{
	static const struct {
		int64_t		 paisa;
		const char	*text;
	} t[] = {
		{ 149999, "1499.99" }, { 150000, "1500" }, { 150050, "1500.5" },
		{ 0, "0" }, { 1, "0.01" }, { 10, "0.1" }, { 5, "0.05" },
		{ 11000, "110" }, { 100000, "1000" }, { 10050, "100.5" },
		{ 660000, "6600" }, { 39999, "399.99" }, { 1000, "10" },
		{ INT64_C(100000000000000), "1000000000000" }, { -150, "-1.5" },
	};
	char	out[32];
	size_t	i;

	for (i = 0; i < NELEM(t); i++) {
		paisa_to_rupees(t[i].paisa, out);
		CHECK_STR(out, t[i].text);
	}
}

UNIT_TEST(gateway_rupees_to_paisa)
{
	static const struct {
		const char	*text;
		int64_t		 paisa;
	} good[] = {
		{ "1,500.0", 150000 }, { "399.99", 39999 }, { "100", 10000 },
		{ "1.5", 150 }, { "6,600.0", 660000 }, { "1000.0", 100000 },
		{ "0", 0 }, { "0.05", 5 }, { "10000.0", 1000000 },
		{ "100,000.0", 10000000 }, { "1,00,000.00", 10000000 },
		{ "12,34,567", 123456700 }, { "1,234,567.89", 123456789 },
		{ "250.0", 25000 }, { "007", 700 },
		{ "999999999999999.99", INT64_C(99999999999999999) },
	};
	static const char *const bad[] = {
		"1.234", "-1", "", "1e3", "abc", "1,5,0", ".5", "5.", ",100",
		"100,", "1,,000", "1 000", " 1", "1.5 ", "1000,0", "1.2.3",
		"+1", "1000000000000000", "1,0,000", "1234,567", "1.,5",
		"1.5,0", "0x10", "NaN", "1.-5", "12345678901234567890123456789012345",
	};
	int64_t	p;
	size_t	i;

	for (i = 0; i < NELEM(good); i++) {
		p = -1;
		if (rupees_to_paisa(good[i].text, &p) != 0)
			unit_fail(__FILE__, __LINE__, "refused \"%s\"",
			    good[i].text);
		else
			CHECK_INT(p, good[i].paisa);
	}
	for (i = 0; i < NELEM(bad); i++)
		if (rupees_to_paisa(bad[i], &p) != -1)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	CHECK(rupees_to_paisa(NULL, &p) == -1);
}

/* -------------------------------------------------------------------- */
/* eSewa (payments.md 1, vectors 4.1). */

static const struct gateway_urls esewa_urls = {
	"https://rc-epay.esewa.com.np/api/epay/main/v2/form",
	"https://rc.esewa.com.np/api/epay/transaction/status/", NULL,
};

UNIT_TEST(gateway_esewa_initiate_vectors)
{
	static const struct {
		const char	*id;
		int64_t		 paisa;
		const char	*uuid, *total, *sig;
	} t[] = {
		{ "E1", 11000, "241028", "110",
		  "i94zsd3oXF6ZsSr/kGqT4sSzYQzjj1W/waxjWyRwaME=" },
		{ "E15", 100000, "ORD-1001", "1000",
		  "CsYYxeW1QBGytBlr9jql321EHo9KjhCkyW8/yhaQhXE=" },
		{ "E16", 10050, "ORD-1002", "100.5",
		  "ynpgufcf90goo04lCueOTkGYLHTRNFat2wJ74jbffnE=" },
		{ "E17", 660000, "ORD-1003", "6600",
		  "9BMKkZgppU+cB6o0IYe/XoXUo2luoJ662c1GFK/+54Q=" },
	};
	struct gateway		gw;
	struct pay_request	req;
	struct pay_redirect	rd;
	char			err[256];
	size_t			i;

	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", KE);
	for (i = 0; i < NELEM(t); i++) {
		memset(&req, 0, sizeof(req));
		req.reference = t[i].uuid;
		req.amount_paisa = t[i].paisa;
		req.order_number = "1001";
		req.return_url = "https://shop.example.com/payment/success/x";
		req.failure_url = "https://shop.example.com/payment/failure/x";
		if (gateway_initiate(&gw, &esewa_urls, &req, &rd, err,
		    sizeof(err)) != GW_OK) {
			unit_fail(__FILE__, __LINE__, "%s: %s", t[i].id, err);
			continue;
		}
		CHECK_STR(field(&rd, "signature"), t[i].sig);
		CHECK_STR(field(&rd, "total_amount"), t[i].total);
		CHECK_STR(field(&rd, "transaction_uuid"), t[i].uuid);
	}

	/* E15 in full: the eleven fields of 1.2. */
	memset(&req, 0, sizeof(req));
	req.reference = "ORD-1001";
	req.amount_paisa = 100000;
	req.order_number = "ORD-1001";
	req.return_url = "https://shop.example.com/payment/success/ORD-1001";
	req.failure_url = "https://shop.example.com/payment/failure/ORD-1001";
	CHECK(gateway_initiate(&gw, &esewa_urls, &req, &rd, err,
	    sizeof(err)) == GW_OK);
	CHECK_INT(rd.post, 1);
	CHECK_STR(rd.url, esewa_urls.form);
	CHECK_INT(rd.nfields, 11);
	CHECK_STR(field(&rd, "amount"), "1000");
	CHECK_STR(field(&rd, "tax_amount"), "0");
	CHECK_STR(field(&rd, "product_service_charge"), "0");
	CHECK_STR(field(&rd, "product_delivery_charge"), "0");
	CHECK_STR(field(&rd, "total_amount"), "1000");
	CHECK_STR(field(&rd, "transaction_uuid"), "ORD-1001");
	CHECK_STR(field(&rd, "product_code"), "EPAYTEST");
	CHECK_STR(field(&rd, "success_url"), req.return_url);
	CHECK_STR(field(&rd, "failure_url"), req.failure_url);
	CHECK_STR(field(&rd, "signed_field_names"),
	    "total_amount,transaction_uuid,product_code");
	CHECK_STR(field(&rd, "signature"),
	    "CsYYxeW1QBGytBlr9jql321EHo9KjhCkyW8/yhaQhXE=");
	CHECK_STR(rd.provider_ref, "");

	/* Refused locally. */
	req.reference = "ORD_1001";
	CHECK(gateway_initiate(&gw, &esewa_urls, &req, &rd, err,
	    sizeof(err)) == GW_REFUSED);
	req.reference = "OR";
	CHECK(gateway_initiate(&gw, &esewa_urls, &req, &rd, err,
	    sizeof(err)) == GW_REFUSED);
	req.reference = "ORD-1001";
	req.amount_paisa = 0;
	CHECK(gateway_initiate(&gw, &esewa_urls, &req, &rd, err,
	    sizeof(err)) == GW_REFUSED);
	req.amount_paisa = 100000;
	req.failure_url = NULL;
	CHECK(gateway_initiate(&gw, &esewa_urls, &req, &rd, err,
	    sizeof(err)) == GW_REFUSED);
	CHECK_INT(rd.nfields, 0);
}

/* E18 as delivered (4.1). */
static const char e18_data[] =
    "eyJ0cmFuc2FjdGlvbl9jb2RlIjoiMDAwVEVTVCIsInN0YXR1cyI6IkNPTVBMRVRFIiwidG90"
    "YWxfYW1vdW50IjoiMTAwMC4wIiwidHJhbnNhY3Rpb25fdXVpZCI6Ik9SRC0xMDAxIiwicHJv"
    "ZHVjdF9jb2RlIjoiRVBBWVRFU1QiLCJzaWduZWRfZmllbGRfbmFtZXMiOiJ0cmFuc2FjdGlv"
    "bl9jb2RlLHN0YXR1cyx0b3RhbF9hbW91bnQsdHJhbnNhY3Rpb25fdXVpZCxwcm9kdWN0X2Nv"
    "ZGUsc2lnbmVkX2ZpZWxkX25hbWVzIiwic2lnbmF0dXJlIjoiMzlxelBiSmIycUVCYkh5c084"
    "Ylc4N01rU2dMSWNDVFo3ZTFHOUpXdStzcz0ifQ==";

UNIT_TEST(gateway_esewa_claim_e18)
{
	struct gateway		gw;
	struct pay_claim	c;
	char			q[2048], ref[64];

	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", KE);
	snprintf(q, sizeof(q), "data=%s", e18_data);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_STR(c.reference, "ORD-1001");
	CHECK_STR(c.provider_ref, "000TEST");
	CHECK_INT(c.amount_paisa, 100000);
	CHECK_INT(c.outcome, PAY_PAID);
	CHECK(gateway_claim_reference(PROVIDER_ESEWA, q, ref) == 0);
	CHECK_STR(ref, "ORD-1001");

	/* The quirk: ?data= appended to a URL that had a query (1.3). */
	snprintf(q, sizeof(q), "ref=TXN_6829a604363b8?data=%s", e18_data);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_STR(c.reference, "ORD-1001");
	snprintf(q, sizeof(q), "?a=1&b=x?data=%s", e18_data);
	CHECK(gateway_claim_reference(PROVIDER_ESEWA, q, ref) == 0);
	CHECK_STR(ref, "ORD-1001");
	/* '=' padding percent-encoded, or lost. */
	snprintf(q, sizeof(q), "data=%.*s%%3D%%3D", (int)strlen(e18_data) - 2,
	    e18_data);
	CHECK(gateway_read_claim(&gw, q, &c) == 0 && c.signature == 1);
	snprintf(q, sizeof(q), "data=%.*s", (int)strlen(e18_data) - 2,
	    e18_data);
	CHECK(gateway_read_claim(&gw, q, &c) == 0 && c.signature == 1);

	/* Another merchant's secret or code does not verify. */
	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", "another secret");
	snprintf(q, sizeof(q), "data=%s", e18_data);
	CHECK(gateway_read_claim(&gw, q, &c) == 0 && c.signature == -1);
	gw_set(&gw, PROVIDER_ESEWA, "OTHERCODE", KE);
	CHECK(gateway_read_claim(&gw, q, &c) == 0 && c.signature == -1);

	/* Nothing to read. */
	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", KE);
	CHECK(gateway_read_claim(&gw, "", &c) == -1);
	CHECK(gateway_read_claim(&gw, "data=", &c) == -1);
	CHECK(gateway_read_claim(&gw, "data=!!!!", &c) == -1);
	CHECK(gateway_read_claim(&gw, "xdata=eyJ9", &c) == -1);
	CHECK(gateway_read_claim(&gw, "data=bm90IGpzb24=", &c) == -1);
	CHECK(gateway_claim_reference(PROVIDER_ESEWA, "q=1", ref) == -1);
	CHECK_STR(ref, "");
}

UNIT_TEST(gateway_esewa_claim_e3_and_tampering)
{
	struct gateway		gw;
	struct pay_claim	c;

	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", KE);
	/* E3: the docs' response, with total_amount "1000.0" (VERIFIED). */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"transaction_code\":"
	    "\"000AWEO\",\"status\":\"COMPLETE\",\"total_amount\":\"1000.0\","
	    "\"transaction_uuid\":\"250610-162413\",\"product_code\":"
	    "\"EPAYTEST\",\"signed_field_names\":\"" SFN "\",\"signature\":"
	    "\"62GcfZTmVkzhtUeh+QJ1AqiJrjoWWGof3U+eTPTZ7fA=\"}"), &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_STR(c.reference, "250610-162413");
	CHECK_INT(c.amount_paisa, 100000);

	/* E3 with total_amount as a JSON number, as the docs decode it. */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"transaction_code\":"
	    "\"000AWEO\",\"status\":\"COMPLETE\",\"total_amount\":1000.0,"
	    "\"transaction_uuid\":\"250610-162413\",\"product_code\":"
	    "\"EPAYTEST\",\"signed_field_names\":\"" SFN "\",\"signature\":"
	    "\"62GcfZTmVkzhtUeh+QJ1AqiJrjoWWGof3U+eTPTZ7fA=\"}"), &c) == 0);
	CHECK_INT(c.signature, 1);

	/* E3 re-formatted to "1000" fails (4.1). */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"transaction_code\":"
	    "\"000AWEO\",\"status\":\"COMPLETE\",\"total_amount\":\"1000\","
	    "\"transaction_uuid\":\"250610-162413\",\"product_code\":"
	    "\"EPAYTEST\",\"signed_field_names\":\"" SFN "\",\"signature\":"
	    "\"62GcfZTmVkzhtUeh+QJ1AqiJrjoWWGof3U+eTPTZ7fA=\"}"), &c) == 0);
	CHECK_INT(c.signature, -1);

	/* E18 with the amount changed. */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"transaction_code\":"
	    "\"000TEST\",\"status\":\"COMPLETE\",\"total_amount\":\"100.0\","
	    "\"transaction_uuid\":\"ORD-1001\",\"product_code\":\"EPAYTEST\","
	    "\"signed_field_names\":\"" SFN "\",\"signature\":"
	    "\"39qzPbJb2qEBbHysO8bW87MkSgLIcCTZ7e1G9JWu+ss=\"}"), &c) == 0);
	CHECK_INT(c.signature, -1);
	CHECK_INT(c.amount_paisa, 10000);

	/* A forged COMPLETE without signature (pitfall 15). */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"status\":"
	    "\"COMPLETE\",\"total_amount\":\"1000.0\",\"transaction_uuid\":"
	    "\"ORD-1001\",\"product_code\":\"EPAYTEST\"}"), &c) == 0);
	CHECK_INT(c.signature, -1);
	CHECK_INT(c.outcome, PAY_PAID);

	/* A signature over fewer fields than we read is not enough. */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"transaction_code\":"
	    "\"000TEST\",\"status\":\"COMPLETE\",\"total_amount\":\"1000.0\","
	    "\"transaction_uuid\":\"ORD-1001\",\"product_code\":\"EPAYTEST\","
	    "\"signed_field_names\":\"total_amount,transaction_uuid,"
	    "product_code\",\"signature\":"
	    "\"CsYYxeW1QBGytBlr9jql321EHo9KjhCkyW8/yhaQhXE=\"}"), &c) == 0);
	CHECK_INT(c.signature, -1);

	/* The thousands comma (pitfall 5): signed over "6600.0". */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"transaction_code\":"
	    "\"000COMA\",\"status\":\"COMPLETE\",\"total_amount\":\"6,600.0\","
	    "\"transaction_uuid\":\"ORD-1003\",\"product_code\":\"EPAYTEST\","
	    "\"signed_field_names\":\"" SFN "\",\"signature\":"
	    "\"yuBrGKnOqAD2X41rO1dnL5RX+HEX/iJJCYhmExaXuoA=\"}"), &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_INT(c.amount_paisa, 660000);
	CHECK_STR(c.reference, "ORD-1003");

	/* Other status words. */
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"status\":"
	    "\"PENDING\",\"transaction_uuid\":\"ORD-1001\"}"), &c) == 0);
	CHECK_INT(c.outcome, PAY_PENDING);
	CHECK_INT(c.amount_paisa, -1);
	CHECK(gateway_read_claim(&gw, esewa_query("", "{\"status\":"
	    "\"SOMETHING\",\"transaction_uuid\":\"ORD-1001\"}"), &c) == 0);
	CHECK_INT(c.outcome, PAY_FAILED);
}

/*
 * A payload whose base64 holds '+' and '/' (computed with Python hmac and
 * openssl): transaction_code "0~~~~?", total 250.0, uuid ORD-1004.
 */
static const char plus_data[] =
    "eyJ0cmFuc2FjdGlvbl9jb2RlIjoiMH5+fn4/Iiwic3RhdHVzIjoiQ09NUExFVEUiLCJ0b3Rh"
    "bF9hbW91bnQiOiIyNTAuMCIsInRyYW5zYWN0aW9uX3V1aWQiOiJPUkQtMTAwNCIsInByb2R1"
    "Y3RfY29kZSI6IkVQQVlURVNUIiwic2lnbmVkX2ZpZWxkX25hbWVzIjoidHJhbnNhY3Rpb25f"
    "Y29kZSxzdGF0dXMsdG90YWxfYW1vdW50LHRyYW5zYWN0aW9uX3V1aWQscHJvZHVjdF9jb2Rl"
    "LHNpZ25lZF9maWVsZF9uYW1lcyIsInNpZ25hdHVyZSI6IkVVSnRjZHZRUDhkYlVLS0RhNGRm"
    "WDloWjI5TStGMnAxSkxMVnBocC9rb2M9In0=";

UNIT_TEST(gateway_esewa_claim_plus_mangled)
{
	struct gateway		gw;
	struct pay_claim	c;
	char			q[2048], *p;
	size_t			i, n;

	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", KE);
	CHECK(strchr(plus_data, '+') != NULL && strchr(plus_data, '/') != NULL);
	snprintf(q, sizeof(q), "data=%s", plus_data);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_STR(c.reference, "ORD-1004");
	CHECK_INT(c.amount_paisa, 25000);

	/* '+' turned into ' ' by a framework. */
	for (p = q; *p != '\0'; p++)
		if (*p == '+')
			*p = ' ';
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);

	/* '+' and '/' percent-encoded. */
	n = (size_t)snprintf(q, sizeof(q), "data=");
	for (i = 0; plus_data[i] != '\0'; i++)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "%s",
		    plus_data[i] == '+' ? "%2B" : plus_data[i] == '/' ? "%2f" :
		    (char[2]){ plus_data[i], '\0' });
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);
}

/* -------------------------------------------------------------------- */
/* Khalti (payments.md 2, fixtures 4.2). */

UNIT_TEST(gateway_khalti_return)
{
	struct gateway		gw;
	struct pay_claim	c;
	char			ref[64];

	gw_set(&gw, PROVIDER_KHALTI, "", "live_secret_key_x");
	CHECK(gateway_read_claim(&gw, "pidx=bZQLD9wRVWo4CdESSfuSsB&txnId="
	    "4H7AhoXDJWg5WjrcPT9ixW&amount=1000&total_amount=1000&status="
	    "Completed&mobile=98XXXXX904&tidx=4H7AhoXDJWg5WjrcPT9ixW&"
	    "purchase_order_id=test12&purchase_order_name=test&"
	    "transaction_id=4H7AhoXDJWg5WjrcPT9ixW", &c) == 0);
	CHECK_INT(c.outcome, PAY_PAID);
	CHECK_INT(c.signature, 0);
	CHECK_STR(c.reference, "test12");
	CHECK_STR(c.provider_ref, "4H7AhoXDJWg5WjrcPT9ixW");
	CHECK_INT(c.amount_paisa, 1000);

	/* Cancel, '+' for the space. */
	CHECK(gateway_read_claim(&gw, "pidx=bZQLD9wRVWo4CdESSfuSsB&"
	    "transaction_id=&tidx=&amount=1000&total_amount=1000&mobile=&"
	    "status=User+canceled&purchase_order_id=test12&"
	    "purchase_order_name=test", &c) == 0);
	CHECK_INT(c.outcome, PAY_CANCELLED);
	CHECK_STR(c.provider_ref, "");
	CHECK_STR(c.reference, "test12");
	CHECK_INT(c.signature, 0);

	/* Cancel, %20 for the space; Feb 2024 "Canceled". */
	CHECK(gateway_read_claim(&gw, "?pidx=bZQLD9wRVWo4CdESSfuSsB&"
	    "status=User%20canceled&purchase_order_id=test12", &c) == 0);
	CHECK_INT(c.outcome, PAY_CANCELLED);
	CHECK(gateway_read_claim(&gw, "pidx=bZQLD9wRVWo4CdESSfuSsB&"
	    "status=Canceled&purchase_order_id=test12", &c) == 0);
	CHECK_INT(c.outcome, PAY_CANCELLED);
	CHECK(gateway_read_claim(&gw, "pidx=x&status=Pending&"
	    "purchase_order_id=test12", &c) == 0);
	CHECK_INT(c.outcome, PAY_PENDING);
	/* tidx when transaction_id is absent; no status: ask lookup. */
	CHECK(gateway_read_claim(&gw, "pidx=x&tidx=T1&purchase_order_id=t&"
	    "amount=1500", &c) == 0);
	CHECK_STR(c.provider_ref, "T1");
	CHECK_INT(c.outcome, PAY_PENDING);
	CHECK_INT(c.amount_paisa, 1500);

	/* The old ?message= failure form. */
	CHECK(gateway_read_claim(&gw, "message=User%20cancelled%20the%20"
	    "payment", &c) == 0);
	CHECK_INT(c.outcome, PAY_CANCELLED);
	CHECK_STR(c.reference, "");
	CHECK(gateway_read_claim(&gw, "message=Transaction+failed&"
	    "purchase_order_id=test12", &c) == 0);
	CHECK_INT(c.outcome, PAY_FAILED);
	CHECK_STR(c.reference, "test12");

	CHECK(gateway_read_claim(&gw, "", &c) == -1);
	CHECK(gateway_read_claim(&gw, "foo=bar", &c) == -1);
	CHECK(gateway_read_claim(&gw, "pidx=%zz", &c) == -1);
	CHECK(gateway_read_claim(&gw, "pidx=a%00b", &c) == -1);

	CHECK(gateway_claim_reference(PROVIDER_KHALTI, "pidx=x&"
	    "purchase_order_id=pay-abc123&status=Completed", ref) == 0);
	CHECK_STR(ref, "pay-abc123");
	CHECK(gateway_claim_reference(PROVIDER_KHALTI, "message=failed",
	    ref) == -1);
}

UNIT_TEST(gateway_khalti_refused_locally)
{
	struct gateway		gw;
	struct gateway_urls	urls = { NULL, NULL, "http://127.0.0.1:9/api/" };
	struct pay_request	req;
	struct pay_redirect	rd;
	struct pay_status	st;
	char			err[256];

	gw_set(&gw, PROVIDER_KHALTI, "", "live_secret_key_x");
	memset(&req, 0, sizeof(req));
	req.reference = "pay-abc";
	req.amount_paisa = 999;
	req.order_number = "2025-0001";
	req.return_url = "https://shop.example.com/r";
	req.website_url = "https://shop.example.com";
	CHECK(gateway_initiate(&gw, &urls, &req, &rd, err, sizeof(err)) ==
	    GW_REFUSED);
	CHECK(strstr(err, "1000 paisa") != NULL);
	req.amount_paisa = 1000;
	req.website_url = "shop.example.com";
	CHECK(gateway_initiate(&gw, &urls, &req, &rd, err, sizeof(err)) ==
	    GW_REFUSED);
	CHECK(gateway_status(&gw, &urls, "pay-abc", "", 1000, &st, err,
	    sizeof(err)) == GW_REFUSED);
	CHECK(st.raw == NULL);
	CHECK(gateway_status(&gw, &urls, "pay-abc", "bad/pidx", 1000, &st,
	    err, sizeof(err)) == GW_REFUSED);
	CHECK(gateway_refund(&gw, &urls, "../x", 0, err, sizeof(err)) ==
	    GW_REFUSED);
}

UNIT_TEST(gateway_refund_manual)
{
	struct gateway		gw;
	struct gateway_urls	urls;
	char			err[64];

	gw_set(&gw, PROVIDER_ESEWA, "EPAYTEST", KE);
	gateway_urls_for(PROVIDER_ESEWA, 1, &urls);
	CHECK(gateway_refund(&gw, &urls, "000TEST", 0, err, sizeof(err)) ==
	    GW_REFUSED);
	CHECK_STR(err, "manual");
	gw_set(&gw, PROVIDER_FONEPAY, "fonepay123", KF);
	gateway_urls_for(PROVIDER_FONEPAY, 1, &urls);
	CHECK(gateway_refund(&gw, &urls, "12345", 100, err, sizeof(err)) ==
	    GW_REFUSED);
	CHECK_STR(err, "manual");
}

/* -------------------------------------------------------------------- */
/* Fonepay (payments.md 3, vectors 4.3). */

UNIT_TEST(gateway_fonepay_request_dv_f5)
{
	static const char *const v[9] = {
		"NBQM", "P", "h2er78", "200", "NPR", "01/01/2025", "gg", "dd",
		"http://localhost:3000/payment/verify",
	};
	char	dv[FONEPAY_DV_HEX + 1];

	CHECK(fonepay_request_dv(KN, v, dv) == 0);
	lower(dv);
	CHECK_STR(dv, "6bdcfc4d1fe668cf3ce6ad510dc28c331ca5980e15a54b6cce6ff4"
	    "72365656e53555db04b7bb7b39167ae815498c46a612d2c43f29d5f2f1f4156"
	    "205f9b0c65c");
}

UNIT_TEST(gateway_fonepay_initiate_f9_f10)
{
	static const struct {
		const char	*id, *code, *key, *dv;
	} t[] = {
		{ "F9", "fonepay123", KF,
		  "AD0507D1ACB36DD9EE7DEEA29BD480791B0F31F820EA63500852A165D6E"
		  "8834C5D75A1993535B2F5D5CE8151CCA092594E9190A0952ADB387B258A"
		  "5C44DD03FD" },
		{ "F10", "NBQM", KN,
		  "F49FFBBF1374CB48003547596D23E677DBC8DBC1CDD3BE0C4EADCADF1F9"
		  "F037F3ABE2AB7CA3AA015447369F49017B953FEFF19EA765FBE46D38568"
		  "9413A5CA89" },
	};
	static const struct gateway_urls urls = {
		"https://dev-clientapi.fonepay.com/api/merchantRequest", NULL,
		NULL,
	};
	struct gateway		gw;
	struct pay_request	req;
	struct pay_redirect	rd;
	char			err[256], want[GW_URL_MAX];
	size_t			i;

	memset(&req, 0, sizeof(req));
	req.reference = "ORD1001";
	req.amount_paisa = 10000;
	req.order_number = "Order 1001";
	req.return_url = "https://merchant.example.com/fonepay/return";
	req.now = JAN15_UTC;
	for (i = 0; i < NELEM(t); i++) {
		gw_set(&gw, PROVIDER_FONEPAY, t[i].code, t[i].key);
		if (gateway_initiate(&gw, &urls, &req, &rd, err,
		    sizeof(err)) != GW_OK) {
			unit_fail(__FILE__, __LINE__, "%s: %s", t[i].id, err);
			continue;
		}
		snprintf(want, sizeof(want), "%s?PID=%s&MD=P&PRN=ORD1001&"
		    "AMT=100&CRN=NPR&DT=01%%2F15%%2F2025&R1=Order%%201001&"
		    "R2=N%%2FA&RU=https%%3A%%2F%%2Fmerchant.example.com%%2F"
		    "fonepay%%2Freturn&DV=%s", urls.form, t[i].code, t[i].dv);
		CHECK_STR(rd.url, want);
		CHECK_INT(rd.post, 0);
		CHECK_INT(rd.nfields, 0);
	}

	/* DT is the date in Nepal: 18:15 UTC on the 14th is the 15th. */
	gw_set(&gw, PROVIDER_FONEPAY, "fonepay123", KF);
	req.now = JAN15_UTC - 5 * 3600 - 45 * 60;
	CHECK(gateway_initiate(&gw, &urls, &req, &rd, err, sizeof(err)) ==
	    GW_OK);
	CHECK(strstr(rd.url, "&DT=01%2F15%2F2025&") != NULL);
	CHECK(strstr(rd.url, t[0].dv) != NULL);
	req.now = JAN15_UTC - 5 * 3600 - 45 * 60 - 1;
	CHECK(gateway_initiate(&gw, &urls, &req, &rd, err, sizeof(err)) ==
	    GW_OK);
	CHECK(strstr(rd.url, "&DT=01%2F14%2F2025&") != NULL);

	/* Fonepay's length limits (3.2). */
	req.now = JAN15_UTC;
	req.return_url = "https://merchant.example.com/fonepay/return/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	CHECK(gateway_initiate(&gw, &urls, &req, &rd, err, sizeof(err)) ==
	    GW_REFUSED);
	CHECK_STR(rd.url, "");
}

static const char f11_dv[] =
    "B416995BD29058F23DBBD167C59FC78580F15B806E44B163373CF238B2FDE705EE66C0"
    "40B97B78BCB7C3D5EEBFB3322AEBF0D86379655F0E24099324A89A12C8";

UNIT_TEST(gateway_fonepay_return_f11_f12_f13)
{
	struct gateway		gw;
	struct pay_claim	c;
	char			q[1024], dv[FONEPAY_DV_HEX + 1], ref[64];

	/* F11, upper-case DV as Fonepay sends it. */
	gw_set(&gw, PROVIDER_FONEPAY, "fonepay123", KF);
	snprintf(q, sizeof(q), "PRN=ORD1001&PID=fonepay123&PS=true&"
	    "RC=successful&DV=%s&UID=12345&BC=NICENPKA&INI=9841000000&"
	    "P_AMT=100.0&R_AMT=100", f11_dv);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_INT(c.outcome, PAY_PAID);
	CHECK_STR(c.reference, "ORD1001");
	CHECK_STR(c.provider_ref, "12345");
	CHECK_INT(c.amount_paisa, 10000);
	CHECK(gateway_claim_reference(PROVIDER_FONEPAY, q, ref) == 0);
	CHECK_STR(ref, "ORD1001");

	/* Lower-case DV. */
	snprintf(dv, sizeof(dv), "%s", f11_dv);
	lower(dv);
	snprintf(q, sizeof(q), "PRN=ORD1001&PID=fonepay123&PS=true&"
	    "RC=successful&DV=%s&UID=12345&BC=NICENPKA&INI=9841000000&"
	    "P_AMT=100.0&R_AMT=100", dv);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, 1);

	/* One field changed, one missing, another merchant code. */
	snprintf(q, sizeof(q), "PRN=ORD1001&PID=fonepay123&PS=true&"
	    "RC=successful&DV=%s&UID=12345&BC=NICENPKA&INI=9841000000&"
	    "P_AMT=100.0&R_AMT=1000", f11_dv);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, -1);
	CHECK_INT(c.amount_paisa, 100000);
	snprintf(q, sizeof(q), "PRN=ORD1001&PID=fonepay123&PS=true&"
	    "RC=successful&DV=%s&UID=12345&BC=NICENPKA&P_AMT=100.0&R_AMT=100",
	    f11_dv);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, -1);
	snprintf(q, sizeof(q), "PRN=ORD1001&PID=fonepay123&PS=true&"
	    "RC=successful&DV=%.127s&UID=12345&BC=NICENPKA&INI=9841000000&"
	    "P_AMT=100.0&R_AMT=100", f11_dv);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, -1);
	gw_set(&gw, PROVIDER_FONEPAY, "fonepay999", KF);
	snprintf(q, sizeof(q), "PRN=ORD1001&PID=fonepay123&PS=true&"
	    "RC=successful&DV=%s&UID=12345&BC=NICENPKA&INI=9841000000&"
	    "P_AMT=100.0&R_AMT=100", f11_dv);
	CHECK(gateway_read_claim(&gw, q, &c) == 0);
	CHECK_INT(c.signature, -1);

	/* F12: a failure, N/A raw and percent-encoded. */
	gw_set(&gw, PROVIDER_FONEPAY, "fonepay123", KF);
	CHECK(gateway_read_claim(&gw, "PRN=ORD1001&PID=fonepay123&PS=false&"
	    "RC=failed&DV=5024B2321C8DFDB8162B6A973D2D11C8F423996CEA27ED6A403A"
	    "C6A087DA6179A6C2F3EC45E2E402C16019DC18F9F3668A02ECEAB78D4DE803C788"
	    "EFAA720830&UID=12346&BC=N/A&INI=N%2FA&P_AMT=100.0&R_AMT=100",
	    &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_INT(c.outcome, PAY_FAILED);
	CHECK(gateway_read_claim(&gw, "PRN=ORD1001&PID=fonepay123&PS=false&"
	    "RC=cancel&UID=&BC=N/A&INI=N/A&P_AMT=100.0&R_AMT=100", &c) == 0);
	CHECK_INT(c.outcome, PAY_CANCELLED);
	CHECK_INT(c.signature, -1);

	/* F13: the NBQM key. */
	gw_set(&gw, PROVIDER_FONEPAY, "NBQM", KN);
	CHECK(gateway_read_claim(&gw, "PRN=ORD1001&PID=NBQM&PS=true&"
	    "RC=successful&DV=0DCD0F298367E414EF1F3E5494EE739326A7515B247F8D02"
	    "48B32F3382E43C1D4CCCDA987869DF039C6C105CA63BF62A3CEE24BA47DCFF4C94"
	    "48EBC26637F492&UID=12345&BC=NICENPKA&INI=9841000000&P_AMT=100.0&"
	    "R_AMT=100", &c) == 0);
	CHECK_INT(c.signature, 1);
	CHECK_INT(c.outcome, PAY_PAID);

	CHECK(gateway_read_claim(&gw, "PS=true&RC=successful", &c) == -1);
	CHECK(gateway_claim_reference(PROVIDER_FONEPAY, "PRN=", ref) == -1);
}

UNIT_TEST(gateway_fonepay_verification_f15)
{
	struct gateway	 gw;
	char		 auth[FONEPAY_DV_HEX + 1], basic[64];
	char		*body;

	gw_set(&gw, PROVIDER_FONEPAY, "fonepay123", KF);
	snprintf(gw.api_username, sizeof(gw.api_username), "apiuser");
	snprintf(gw.api_password, sizeof(gw.api_password), "apipass");
	body = fonepay_verify_body("ORD1001", "fonepay123", "100");
	CHECK_STR(body,
	    "{\"prn\":\"ORD1001\",\"merchantCode\":\"fonepay123\","
	    "\"amount\":\"100\"}");
	CHECK(body != NULL && fonepay_verify_auth(&gw, body, auth) == 0);
	CHECK_STR(auth, "813aa6becdc4e3467fe71063c3e3573de4bcb5fadb851570459"
	    "487f86f35186c3e8a6cf607ae080bb78bd610e0b4d561950da8f9ad6780304c6"
	    "34bfcb58468aa");
	CHECK(fonepay_basic(&gw, basic, sizeof(basic)) == 0);
	CHECK_STR(basic, "YXBpdXNlcjphcGlwYXNz");
	CHECK(fonepay_basic(&gw, basic, 8) == -1);
	free(body);
}

/* -------------------------------------------------------------------- */
/* Shared parsing helpers. */

UNIT_TEST(gateway_query_param)
{
	char	out[16], big[GW_QUERY_MAX + 16];

	CHECK(gw_query_param("a=1&b=2", "b", 0, out, sizeof(out)) == 1);
	CHECK_STR(out, "2");
	CHECK(gw_query_param("ab=1&b=2", "b", 0, out, sizeof(out)) == 1);
	CHECK_STR(out, "2");
	CHECK(gw_query_param("a=1", "b", 0, out, sizeof(out)) == 0);
	CHECK(gw_query_param("b=1&b=2", "b", 0, out, sizeof(out)) == 1);
	CHECK_STR(out, "1");
	CHECK(gw_query_param("b=1&b=2", "b", GWQ_LAST, out, sizeof(out)) == 1);
	CHECK_STR(out, "2");
	CHECK(gw_query_param("a=x?b=2", "b", 0, out, sizeof(out)) == 0);
	CHECK(gw_query_param("a=x?b=2", "b", GWQ_QMARK, out,
	    sizeof(out)) == 1);
	CHECK(gw_query_param("b=a+b%20c", "b", 0, out, sizeof(out)) == 1);
	CHECK_STR(out, "a b c");
	CHECK(gw_query_param("b=a+b", "b", GWQ_RAW_PLUS, out,
	    sizeof(out)) == 1);
	CHECK_STR(out, "a+b");
	CHECK(gw_query_param("b=", "b", 0, out, sizeof(out)) == 1);
	CHECK_STR(out, "");
	CHECK(gw_query_param("b=%4", "b", 0, out, sizeof(out)) == -1);
	CHECK(gw_query_param("b=%0a", "b", 0, out, sizeof(out)) == -1);
	CHECK(gw_query_param("b=0123456789abcdef", "b", 0, out,
	    sizeof(out)) == -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "b=1&", 4);
	CHECK(gw_query_param(big, "b", 0, out, sizeof(out)) == -1);
}
