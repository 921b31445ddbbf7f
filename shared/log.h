/*
 * log.h: structured logs, one JSON object per line on stderr:
 * {"ts":"...","level":"info","service":"auth","requestId":"...","event":"...",...}.
 * Values are escaped by json-c; user text is clamped to 200 bytes.
 */
#ifndef COMMERCE_LOG_H
#define COMMERCE_LOG_H

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

void	log_init(const char *service, int level);

/* The request id stamped on every line until the next call ("" clears). */
void	log_request_id(const char *request_id);

/* One line: event names what happened; the message is printf-formatted. */
void	log_event(enum log_level, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* The access line for a finished request. */
void	log_access(const char *method, const char *path, int status,
	    double ms, const char *merchant_id);

/* LOG_LEVEL text ("debug", "info", "warn", "error") to a level; -1 if unknown. */
int	log_level_parse(const char *);

#endif
