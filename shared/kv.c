/*
 * kv.c: one hiredis connection per process, re-opened lazily after a
 * failure, at most once a second.
 */
#include <string.h>
#include <sys/time.h>

#include "kv.h"
#include "log.h"

static const struct timeval	kv_timeout = { 0, 500000 };

void
kv_open(struct kv *kv, const char *socket, const char *host, int port)
{
	memset(kv, 0, sizeof(*kv));
	kv->socket = socket;
	kv->host = host;
	kv->port = port;
}

void
kv_close(struct kv *kv)
{
	if (kv->ctx != NULL)
		redisFree(kv->ctx);
	kv->ctx = NULL;
}

/* Drops the connection and holds off reconnecting for a second. */
static void
kv_down(struct kv *kv, const char *why)
{
	log_event(LOG_WARN, "redis_unavailable", "%s", why);
	kv_close(kv);
	clock_gettime(CLOCK_MONOTONIC, &kv->retry_after);
	kv->retry_after.tv_sec += 1;
}

static int
kv_connect(struct kv *kv)
{
	struct timespec	now;

	if (kv->ctx != NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < kv->retry_after.tv_sec ||
	    (now.tv_sec == kv->retry_after.tv_sec &&
	    now.tv_nsec < kv->retry_after.tv_nsec))
		return -1;
	if (kv->socket != NULL)
		kv->ctx = redisConnectUnixWithTimeout(kv->socket, kv_timeout);
	else
		kv->ctx = redisConnectWithTimeout(kv->host, kv->port,
		    kv_timeout);
	if (kv->ctx == NULL || kv->ctx->err != 0) {
		kv_down(kv, kv->ctx != NULL ? kv->ctx->errstr : "no memory");
		return -1;
	}
	redisSetTimeout(kv->ctx, kv_timeout);
	return 0;
}

redisReply *
kv_command(struct kv *kv, int argc, const char *const *argv)
{
	redisReply	*reply;
	int		 attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (kv_connect(kv) != 0)
			return NULL;
		reply = redisCommandArgv(kv->ctx, argc, (const char **)argv,
		    NULL);
		if (reply != NULL)
			return reply;
		/* A stale connection fails once; a fresh one is tried. */
		kv_close(kv);
	}
	kv_down(kv, "command failed twice");
	return NULL;
}

int
kv_ping(struct kv *kv)
{
	static const char *const	argv[] = { "PING" };
	redisReply			*reply;
	int				 ok;

	if ((reply = kv_command(kv, 1, argv)) == NULL)
		return 0;
	ok = reply->type == REDIS_REPLY_STATUS &&
	    strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	return ok;
}
