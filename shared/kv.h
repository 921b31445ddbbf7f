/*
 * kv.h: Redis through hiredis, for short-lived state (rate limits, replay
 * nonces, idempotency keys). Every value goes as its own argument. Calls
 * have a 500 ms timeout; a dead connection is re-opened on the next call,
 * but not more than once a second, so an outage costs little latency.
 */
#ifndef COMMERCE_KV_H
#define COMMERCE_KV_H

#include <stddef.h>
#include <time.h>

#include <hiredis/hiredis.h>

struct kv {
	redisContext	*ctx;
	const char	*socket;
	const char	*host;
	int		 port;
	struct timespec	 retry_after;
};

void	kv_open(struct kv *, const char *socket, const char *host, int port);
void	kv_close(struct kv *);

/*
 * Runs one command given as argc strings (NUL-terminated). Returns the
 * reply, which the caller frees with freeReplyObject(), or NULL when Redis
 * is unreachable. An error reply is returned as a reply of type
 * REDIS_REPLY_ERROR.
 */
redisReply	*kv_command(struct kv *, int argc, const char *const *argv);

/* 1 when Redis answers PING. */
int	kv_ping(struct kv *);

#endif
