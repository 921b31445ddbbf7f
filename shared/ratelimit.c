/*
 * ratelimit.c: a fixed window per minute. The counter is incremented and
 * given its expiry in one Lua call so a crash between the two cannot leave a
 * counter that never expires.
 */
#include <stdio.h>
#include <time.h>

#include "ratelimit.h"

static const char incr_script[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

enum rate_verdict
rate_limit_hit(struct kv *kv, const char *scope, const char *subject,
    long limit, long window, struct rate_state *st)
{
	const char	*argv[5];
	redisReply	*reply;
	char		 key[160], ttl[24];
	time_t		 now = time(NULL);
	long long	 count;

	st->limit = limit;
	st->remaining = limit;
	st->reset = window - (long)(now % window);
	snprintf(key, sizeof(key), "rl:%s:%s:%lld", scope, subject,
	    (long long)(now / window));
	snprintf(ttl, sizeof(ttl), "%ld", window + 1);
	argv[0] = "EVAL";
	argv[1] = incr_script;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = ttl;
	if ((reply = kv_command(kv, 5, argv)) == NULL)
		return RATE_UNKNOWN;
	if (reply->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(reply);
		return RATE_UNKNOWN;
	}
	count = reply->integer;
	freeReplyObject(reply);
	st->remaining = count >= limit ? 0 : limit - (long)count;
	return count > limit ? RATE_LIMITED : RATE_ALLOWED;
}
