/*
 * payment.h: what the payments pool, the webhooks pool and the worker share
 * about a payment: loading a merchant's gateway (secrets unsealed), keeping
 * every raw event, and settling a payment on the word of the gateway's
 * status API, exactly once.
 *
 * Settling is the one place a payment becomes paid: under a row lock on the
 * payment, only when the status API says paid for the same amount, the same
 * merchant account and the same reference. The order's payment status and
 * the customer's confirmation (an outbox job) change in the same
 * transaction. Whoever comes second (the return page, a webhook, a retried
 * webhook, the reconciler) finds it paid and changes nothing.
 */
#ifndef COMMERCE_PAYMENT_H
#define COMMERCE_PAYMENT_H

#include "app.h"
#include "gateway.h"

/* The secrets' AAD: "gateway:<merchant>:<provider>", so a sealed value
 * moved to another merchant's row does not open. */
#define GATEWAY_AAD_MAX	96
void	gateway_aad(const char *merchant_id, enum provider, char out[GATEWAY_AAD_MAX]);

enum gateway_load {
	GATEWAY_LOADED,
	GATEWAY_NOT_CONFIGURED,
	GATEWAY_DISABLED,
	GATEWAY_BROKEN,		/* secrets do not unseal: wrong master key */
	GATEWAY_DB_DOWN,
	GATEWAY_DB_ERROR,
};

/* Loads a merchant's gateway (scope must be that merchant); gw is filled
 * for GATEWAY_LOADED and GATEWAY_DISABLED. The caller wipes gw after use. */
enum gateway_load	gateway_load(struct app *, const char *merchant_id,
			    enum provider, struct gateway *gw);

/* 1 when a load result filled the gateway (enabled or not). */
#define gateway_usable(g)	((g) == GATEWAY_LOADED || (g) == GATEWAY_DISABLED)

/* Keeps a raw event of a payment. A repeated dedupe_key (non-NULL) is kept
 * once. Returns 1 when stored, 0 when it was a duplicate, -1 on failure. */
int	payment_event(struct app *, const char *merchant_id,
	    const char *payment_id, const char *source, const char *dedupe_key,
	    const char *raw, const char *note);

enum settle_result {
	SETTLE_PAID,		/* became paid now: one confirmation queued */
	SETTLE_ALREADY_PAID,
	SETTLE_PENDING,		/* not final: the reconciler looks again */
	SETTLE_FAILED,		/* failed, cancelled, expired: final */
	SETTLE_REFUNDED,
	SETTLE_MISMATCH,	/* paid, but not as we asked: flagged */
	SETTLE_UNREACHABLE,	/* the status API did not answer: retry */
	SETTLE_ERROR,		/* our side failed (database) */
	SETTLE_NOT_FOUND,	/* no such payment */
};

const char	*settle_result_name(enum settle_result);

/*
 * Asks the gateway's status API about a payment and settles it. The
 * session's scope must be the payment's merchant. known, when not NULL, is
 * the merchant's gateway the caller already loaded (saves a second read and
 * unsealing). source says who asked
 * ("return", "webhook", "reconcile"), for the event log. customer_left is 1
 * when the customer came back on the gateway's failure page: a gateway
 * that then has no such payment (eSewa's NOT_FOUND) means it was
 * abandoned, so it is cancelled at once instead of at expiry. Safe to call
 * from any number of processes at once for the same payment.
 */
enum settle_result	payment_check(struct app *, const char *merchant_id,
			    const char *payment_id, const struct gateway *known,
			    const char *source, int customer_left);

/*
 * The public base URL of this service (PUBLIC_BASE_URL, default
 * http://127.0.0.1:8080), for return URLs and pay links. No trailing slash.
 */
const char	*public_base_url(void);

#endif
