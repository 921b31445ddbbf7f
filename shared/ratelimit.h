/*
 * ratelimit.h: fixed-window rate limits in Redis, one counter per
 * (scope, subject, minute), incremented and given its expiry atomically.
 */
#ifndef COMMERCE_RATELIMIT_H
#define COMMERCE_RATELIMIT_H

#include "kv.h"

enum rate_verdict {
	RATE_ALLOWED,
	RATE_LIMITED,
	RATE_UNKNOWN,		/* Redis is unreachable */
};

struct rate_state {
	long	limit;
	long	remaining;
	long	reset;		/* seconds until the window ends */
};

enum rate_verdict	rate_limit_hit(struct kv *, const char *scope,
			    const char *subject, long limit, long window,
			    struct rate_state *);

#endif
