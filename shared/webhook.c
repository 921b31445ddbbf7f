/*
 * webhook.c: the seed's x-signature / x-timestamp scheme with replay nonces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "webhook.h"

int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The raw HMAC of timestamp "." body into out[SHA256_LEN]. */
static int
webhook_mac(const char *secret, const char *timestamp, const void *body,
    size_t len, unsigned char out[SHA512_LEN])
{
	size_t		 tlen = strlen(timestamp);
	char		*msg;
	int		 rc;

	if ((msg = malloc(tlen + 1 + len + 1)) == NULL)
		return -1;
	memcpy(msg, timestamp, tlen);
	msg[tlen] = '.';
	if (len > 0)
		memcpy(msg + tlen + 1, body, len);
	rc = hmac(HMAC_SHA256, secret, strlen(secret), msg, tlen + 1 + len,
	    out) == SHA256_LEN ? 0 : -1;
	free(msg);
	return rc;
}

int
webhook_sign(const char *secret, const char *timestamp, const void *body,
    size_t len, char out[65])
{
	unsigned char	mac[SHA512_LEN];

	if (webhook_mac(secret, timestamp, body, len, mac) != 0)
		return -1;
	hex_encode(mac, SHA256_LEN, out);
	wipe(mac, sizeof(mac));
	return 0;
}

/* Parses a millisecond timestamp: 1 to 15 digits, nothing else. */
static int
parse_ms(const char *s, int64_t *out)
{
	int64_t	v = 0;
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == 15 || s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return -1;
	*out = v;
	return 0;
}

enum webhook_verdict
webhook_check(const char *const secrets[WEBHOOK_SECRETS_MAX],
    const char *timestamp, const char *signature, const void *body,
    size_t len, int64_t now)
{
	unsigned char	given[SHA256_LEN], mac[SHA512_LEN];
	int64_t		ts;
	int		i, match = 0;

	if (timestamp == NULL || signature == NULL ||
	    parse_ms(timestamp, &ts) != 0 || strlen(signature) != 64 ||
	    hex_decode(signature, 64, given, sizeof(given)) != SHA256_LEN)
		return WEBHOOK_MISSING;
	/* Every secret is tried, so timing does not tell which one matched. */
	for (i = 0; i < WEBHOOK_SECRETS_MAX; i++) {
		if (secrets[i] == NULL || secrets[i][0] == '\0')
			continue;
		if (webhook_mac(secrets[i], timestamp, body, len, mac) != 0)
			continue;
		match |= ct_equal(mac, SHA256_LEN, given, SHA256_LEN);
	}
	wipe(mac, sizeof(mac));
	if (!match)
		return WEBHOOK_BAD_SIGNATURE;
	if (ts < now - WEBHOOK_WINDOW_MS || ts > now + WEBHOOK_WINDOW_MS)
		return WEBHOOK_STALE;
	return WEBHOOK_OK;
}

/* The Redis key of a signature's replay nonce. */
static void
nonce_key(const char *scope, const char *signature, char key[200])
{
	snprintf(key, 200, "nonce:%.100s:%.64s", scope, signature);
}

void
webhook_release(struct kv *kv, const char *scope, const char *signature)
{
	const char	*argv[2];
	char		 key[200];
	redisReply	*reply;

	nonce_key(scope, signature, key);
	argv[0] = "DEL";
	argv[1] = key;
	if ((reply = kv_command(kv, 2, argv)) != NULL)
		freeReplyObject(reply);
}

enum webhook_verdict
webhook_verify(struct kv *kv, const char *scope,
    const char *const secrets[WEBHOOK_SECRETS_MAX], const char *timestamp,
    const char *signature, const void *body, size_t len, int64_t now)
{
	enum webhook_verdict	 v;
	redisReply		*reply;
	const char		*argv[6];
	char			 key[200], ttl[24];
	int			 fresh;

	if ((v = webhook_check(secrets, timestamp, signature, body, len,
	    now)) != WEBHOOK_OK)
		return v;
	nonce_key(scope, signature, key);
	snprintf(ttl, sizeof(ttl), "%d", 2 * WEBHOOK_WINDOW_MS);
	argv[0] = "SET";
	argv[1] = key;
	argv[2] = "1";
	argv[3] = "NX";
	argv[4] = "PX";
	argv[5] = ttl;
	if ((reply = kv_command(kv, 6, argv)) == NULL)
		return WEBHOOK_UNAVAILABLE;
	if (reply->type == REDIS_REPLY_ERROR) {
		freeReplyObject(reply);
		return WEBHOOK_UNAVAILABLE;
	}
	fresh = reply->type == REDIS_REPLY_STATUS;
	freeReplyObject(reply);
	return fresh ? WEBHOOK_OK : WEBHOOK_REPLAYED;
}
