/*
 * log.c: JSON lines on stderr. The service name and the current request id
 * are the only state, set by the request loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "log.h"

#define LOG_TEXT_MAX	200

static const char	*log_service = "commerce";
static int		 log_min = LOG_INFO;
static char		 log_rid[65];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_init(const char *service, int level)
{
	log_service = service;
	log_min = level;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

int
log_level_parse(const char *s)
{
	int	i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void
log_request_id(const char *rid)
{
	snprintf(log_rid, sizeof(log_rid), "%s", rid);
}

/* Starts a line with the fields every line has. */
static struct json_object *
log_line(enum log_level level, const char *event)
{
	struct json_object	*o;
	struct timeval		 tv;
	struct tm		 tm;
	char			 ts[64];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
	o = json_object_new_object();
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "level",
	    json_object_new_string(level_names[level]));
	json_object_object_add(o, "service",
	    json_object_new_string(log_service));
	if (log_rid[0] != '\0')
		json_object_object_add(o, "requestId",
		    json_object_new_string(log_rid));
	json_object_object_add(o, "event", json_object_new_string(event));
	return o;
}

static void
log_emit(struct json_object *o)
{
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	struct json_object	*o;
	char			 msg[LOG_TEXT_MAX + 1];
	va_list			 ap;

	if ((int)level < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = log_line(level, event);
	json_object_object_add(o, "msg", json_object_new_string(msg));
	log_emit(o);
}

void
log_access(const char *method, const char *path, int status, double ms,
    const char *merchant_id)
{
	struct json_object	*o;
	char			 p[LOG_TEXT_MAX + 1];

	if (LOG_INFO < log_min)
		return;
	snprintf(p, sizeof(p), "%s", path);
	o = log_line(LOG_INFO, "request");
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "path", json_object_new_string(p));
	json_object_object_add(o, "status", json_object_new_int(status));
	json_object_object_add(o, "ms", json_object_new_double(
	    (double)(long)(ms * 1000) / 1000));
	if (merchant_id != NULL)
		json_object_object_add(o, "merchantId",
		    json_object_new_string(merchant_id));
	log_emit(o);
}
