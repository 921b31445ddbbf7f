/*
 * The seed's webhook signature scheme: HMAC-SHA256 hex over
 * "timestamp.body", five-minute window, two secrets during a rotation.
 * Expected signatures were computed independently with Python's hmac.
 */
#include <string.h>

#include "unit.h"
#include "webhook.h"

#define TS	"1706600000000"
#define NOW	1706600000000LL
#define BODY	"{\"transaction_code\":\"TXN123456\",\"status\":\"COMPLETE\"}"
static const char good_sig[] =
    "6f43d6bdac52860da9643556f9525d4ce304e15b057beed697fd04a8575cac21";

UNIT_TEST(webhook_sign_matches_python)
{
	char	out[65];

	CHECK_INT(webhook_sign("whsec_test", TS, BODY, strlen(BODY), out), 0);
	CHECK_STR(out, good_sig);
}

UNIT_TEST(webhook_check_table)
{
	const char *const	 one[2] = { "whsec_test", NULL };
	const char *const	 rotated[2] = { "whsec_new", "whsec_test" };
	const char *const	 wrong[2] = { "whsec_other", NULL };
	const char *const	 none[2] = { NULL, NULL };
	char			 upper[65], tampered[sizeof(BODY)];
	size_t			 i;

	for (i = 0; i < 64; i++)
		upper[i] = (char)(good_sig[i] >= 'a' ? good_sig[i] - 32 :
		    good_sig[i]);
	upper[64] = '\0';
	memcpy(tampered, BODY, sizeof(BODY));
	tampered[5] ^= 1;

	CHECK_INT(webhook_check(one, TS, good_sig, BODY, strlen(BODY), NOW),
	    WEBHOOK_OK);
	CHECK_INT(webhook_check(rotated, TS, good_sig, BODY, strlen(BODY),
	    NOW), WEBHOOK_OK);
	CHECK_INT(webhook_check(one, TS, upper, BODY, strlen(BODY), NOW),
	    WEBHOOK_OK);
	CHECK_INT(webhook_check(wrong, TS, good_sig, BODY, strlen(BODY), NOW),
	    WEBHOOK_BAD_SIGNATURE);
	CHECK_INT(webhook_check(none, TS, good_sig, BODY, strlen(BODY), NOW),
	    WEBHOOK_BAD_SIGNATURE);
	CHECK_INT(webhook_check(one, TS, good_sig, tampered, strlen(BODY),
	    NOW), WEBHOOK_BAD_SIGNATURE);
	CHECK_INT(webhook_check(one, TS, good_sig, BODY, strlen(BODY) - 1,
	    NOW), WEBHOOK_BAD_SIGNATURE);
	/* The timestamp is signed: changing it breaks the signature. */
	CHECK_INT(webhook_check(one, "1706600000001", good_sig, BODY,
	    strlen(BODY), NOW), WEBHOOK_BAD_SIGNATURE);
	/* Five minutes either way is the window, inclusive. */
	CHECK_INT(webhook_check(one, TS, good_sig, BODY, strlen(BODY),
	    NOW + 300000), WEBHOOK_OK);
	CHECK_INT(webhook_check(one, TS, good_sig, BODY, strlen(BODY),
	    NOW + 300001), WEBHOOK_STALE);
	CHECK_INT(webhook_check(one, TS, good_sig, BODY, strlen(BODY),
	    NOW - 300001), WEBHOOK_STALE);
	CHECK_INT(webhook_check(one, NULL, good_sig, BODY, strlen(BODY), NOW),
	    WEBHOOK_MISSING);
	CHECK_INT(webhook_check(one, TS, NULL, BODY, strlen(BODY), NOW),
	    WEBHOOK_MISSING);
	CHECK_INT(webhook_check(one, "", good_sig, BODY, strlen(BODY), NOW),
	    WEBHOOK_MISSING);
	CHECK_INT(webhook_check(one, "17066e0000000", good_sig, BODY,
	    strlen(BODY), NOW), WEBHOOK_MISSING);
	CHECK_INT(webhook_check(one, TS, "abc", BODY, strlen(BODY), NOW),
	    WEBHOOK_MISSING);
	CHECK_INT(webhook_check(one, TS, "sha256=0b8f", BODY, strlen(BODY),
	    NOW), WEBHOOK_MISSING);
}
