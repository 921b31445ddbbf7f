/*
 * http.h: the request loop, the router, the response writer and the API's
 * error table. One struct request per request, zeroed by request_accept()
 * and released by request_finish() whatever happened in between.
 */
#ifndef COMMERCE_HTTP_H
#define COMMERCE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "arena.h"
#include "crypto.h"

struct app;

enum method {
	METHOD_GET,
	METHOD_POST,
	METHOD_PUT,
	METHOD_PATCH,
	METHOD_DELETE,
	METHOD_HEAD,
	METHOD_OPTIONS,
	METHOD__MAX,
};

/* Every error the API answers with; api_errors[] in http.c gives each its
 * HTTP status, its code and its default message. */
enum api_error {
	ERR_INVALID_JSON,
	ERR_BAD_REQUEST,
	ERR_UNAUTHORIZED,
	ERR_INVALID_CREDENTIALS,
	ERR_INVALID_SIGNATURE,
	ERR_NOT_FOUND,
	ERR_METHOD_NOT_ALLOWED,
	ERR_EMAIL_TAKEN,
	ERR_CONFLICT,
	ERR_OUT_OF_STOCK,
	ERR_INVALID_TRANSITION,
	ERR_REPLAYED,
	ERR_PAYLOAD_TOO_LARGE,
	ERR_UNSUPPORTED_MEDIA_TYPE,
	ERR_VALIDATION,
	ERR_IDEMPOTENCY_KEY_REUSED,
	ERR_RATE_LIMITED,
	ERR_INTERNAL,
	ERR_UNAVAILABLE,
	ERR__MAX,
};

enum credential_kind {
	CREDENTIAL_NONE,
	CREDENTIAL_SESSION,
	CREDENTIAL_API_KEY,
};

/* Who is calling, once authenticate_or_respond() has passed. */
struct principal {
	enum credential_kind	kind;
	char			merchant_id[RANDOM_ID_MAX];
	char			credential_id[RANDOM_ID_MAX];
};

#define ROUTE_PARAMS_MAX	4
#define REQUEST_ID_MAX		65
#define RESPONSE_HEADERS_MAX	1024

struct request {
	FCGX_Request		*fcgx;		/* the process's one handle */
	struct arena		 arena;		/* freed by request_finish() */
	enum method		 method;	/* METHOD__MAX when unknown */
	const char		*method_name;
	char			*path;		/* raw path, no query (arena) */
	const char		*query;		/* raw query string, "" if none */
	const char		*content_type;	/* NULL when absent */
	const char		*authorization;	/* NULL when absent */
	const char		*remote_addr;
	const char		*idempotency_key;
	char			 request_id[REQUEST_ID_MAX];
	long long		 content_length; /* -1 when absent */
	char			*body;		/* NUL-terminated (arena) */
	size_t			 body_len;
	struct json_object	*json;		/* parsed body object, or NULL */
	const char		*params[ROUTE_PARAMS_MAX]; /* :params, decoded */
	struct principal	 principal;
	char			 headers[RESPONSE_HEADERS_MAX];
	size_t			 headers_len;
	int			 status;	/* 0 until a response is written */
	struct timespec		 started;
};

typedef void	(*handler_fn)(struct app *, struct request *);

/* Route flags. */
#define ROUTE_OPEN		0x01	/* no credential needed */
#define ROUTE_LIMIT_BY_ADDR	0x02	/* open route limited per client address */
#define ROUTE_NO_LIMIT		0x04	/* not rate limited at all */
#define ROUTE_SESSION_ONLY	0x08	/* API keys are refused */
#define ROUTE_RAW_BODY		0x10	/* body read but not parsed as JSON */
#define ROUTE_LIMIT_HIGH	0x20	/* per address, at the high limit: webhooks
					   and customers behind shared NATs */

struct route {
	enum method	 method;
	const char	*pattern;	/* "/v1/api-keys/:id" */
	handler_fn	 handler;
	unsigned	 flags;
};

/* Accepts the next request on the FastCGI socket and fills r.
 * Returns 0, or -1 when the process should exit. */
int	request_accept(struct app *, struct request *r);

/* Logs the request, answers 500 if the handler wrote nothing, releases
 * everything the request holds. */
void	request_finish(struct app *, struct request *r);

/* Returns the value of a FastCGI parameter (HTTP_* for headers), or NULL. */
const char	*request_param(const struct request *r, const char *name);

/* Returns the query parameter's decoded value (arena), or NULL if absent. */
const char	*request_query(struct request *r, const char *name);

/*
 * Finds the route for r among routes[0..n). On a match, fills r->params and
 * returns it. Otherwise answers 404, or 405 with Allow when the path exists
 * under other methods, and returns NULL.
 */
const struct route	*route_or_respond(struct request *r,
			    const struct route *routes, size_t n);

/*
 * Reads the body for methods that carry one: 415 unless it is JSON, 413 over
 * the cap, 400 unless it is a JSON object. Returns 0, or -1 having answered.
 */
int	body_or_respond(struct app *, struct request *r, const struct route *);

/* Adds a response header; CR and LF in the value are dropped. */
void	response_header(struct request *r, const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Answers {"success": true, "data": data}; takes ownership of data. */
void	respond_data(struct request *r, int status, struct json_object *data);

/* The text of {"success": true, "data": data}, in the arena (NULL when out
 * of memory); takes ownership of data. respond_raw() sends it later. */
char	*envelope_text(struct request *r, struct json_object *data, size_t *len);

/* Answers an error envelope. message NULL means the table's default; field,
 * when given, becomes details.field. */
void	respond_error(struct request *r, enum api_error err,
	    const char *message, const char *field);

/* respond_error() with a printf-style message. */
void	respond_errorf(struct request *r, enum api_error err,
	    const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* Answers an error envelope with a details object (ownership taken). */
void	respond_error_details(struct request *r, enum api_error err,
	    const char *message, struct json_object *details);

/* Answers a non-JSON body (an HTML page) with its own content type. */
void	respond_raw(struct request *r, int status, const char *content_type,
	    const char *body, size_t len);

int		 api_error_status(enum api_error);
const char	*api_error_code(enum api_error);

/* Exposed for unit tests: match one path against one pattern. Returns the
 * number of params (>= 0) on a match, -1 otherwise. params point into buf. */
int	route_match(const char *pattern, const char *path, char *buf,
	    size_t buflen, const char *params[ROUTE_PARAMS_MAX]);

#endif
