/*
 * webhook.h: the seed's webhook security scheme (seed document, "Webhook
 * Security"), for any source that has no signature scheme of its own:
 *
 *	x-timestamp: milliseconds since the epoch, as decimal text
 *	x-signature: lower-case hex HMAC-SHA256(secret, timestamp "." raw body)
 *
 * A request is accepted when its signature matches one of the active
 * secrets (two during a rotation), compared in constant time over the raw
 * bytes received, when its timestamp is within five minutes of now (either
 * side, for clock skew), and when the same signature has not been seen
 * inside that window (a replay nonce in Redis).
 */
#ifndef COMMERCE_WEBHOOK_H
#define COMMERCE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

#define WEBHOOK_WINDOW_MS	(5 * 60 * 1000)
#define WEBHOOK_SECRETS_MAX	2

enum webhook_verdict {
	WEBHOOK_OK,
	WEBHOOK_MISSING,	/* a header is absent or malformed */
	WEBHOOK_BAD_SIGNATURE,
	WEBHOOK_STALE,		/* outside the five-minute window */
	WEBHOOK_REPLAYED,	/* this signature was already accepted */
	WEBHOOK_UNAVAILABLE,	/* Redis is down: cannot rule out a replay */
};

/*
 * Checks headers and signature only (no replay check). secrets holds up to
 * WEBHOOK_SECRETS_MAX NUL-terminated secrets, NULL for unused slots.
 */
enum webhook_verdict	webhook_check(const char *const secrets[WEBHOOK_SECRETS_MAX],
			    const char *timestamp, const char *signature,
			    const void *body, size_t len, int64_t now_ms);

/*
 * webhook_check(), then records the signature as a nonce under scope (for
 * example "webhook:esewa") for twice the window. A signature seen before is
 * WEBHOOK_REPLAYED.
 */
enum webhook_verdict	webhook_verify(struct kv *, const char *scope,
			    const char *const secrets[WEBHOOK_SECRETS_MAX],
			    const char *timestamp, const char *signature,
			    const void *body, size_t len, int64_t now_ms);

/*
 * Forgets an accepted signature's nonce, for a delivery that was verified
 * but not acted on (answered 503), so the sender's retry is served.
 */
void	webhook_release(struct kv *, const char *scope, const char *signature);

/* Signs like a sender: writes the hex signature (65 bytes) for tests and
 * for our own outgoing webhooks. Returns 0 or -1. */
int	webhook_sign(const char *secret, const char *timestamp,
	    const void *body, size_t len, char out[65]);

/* Milliseconds since the epoch. */
int64_t	now_ms(void);

#endif
