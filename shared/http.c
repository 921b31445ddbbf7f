/*
 * http.c: the FastCGI request loop, routing, body reading and the response
 * envelope. The only process-lifetime state here is the FastCGI request
 * handle and the signal flag.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
#include "log.h"
#include "validate.h"

#define JSON_DEPTH_MAX	16

static const struct {
	int		 status;
	const char	*code;
	const char	*message;
} api_errors[ERR__MAX] = {
	[ERR_INVALID_JSON] = { 400, "invalid_json",
	    "the request body is not valid JSON" },
	[ERR_BAD_REQUEST] = { 400, "bad_request",
	    "the request cannot be served as sent" },
	[ERR_UNAUTHORIZED] = { 401, "unauthorized",
	    "a valid bearer token or API key is required" },
	[ERR_INVALID_CREDENTIALS] = { 401, "invalid_credentials",
	    "the email or password is incorrect" },
	[ERR_INVALID_SIGNATURE] = { 401, "invalid_signature",
	    "the signature does not verify over the body received" },
	[ERR_NOT_FOUND] = { 404, "not_found",
	    "no such resource" },
	[ERR_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed",
	    "this method is not allowed on this path" },
	[ERR_EMAIL_TAKEN] = { 409, "email_taken",
	    "an account with this email already exists" },
	[ERR_CONFLICT] = { 409, "conflict",
	    "the request conflicts with the current state" },
	[ERR_OUT_OF_STOCK] = { 409, "out_of_stock",
	    "not enough stock for this order" },
	[ERR_INVALID_TRANSITION] = { 409, "invalid_transition",
	    "the order cannot move to that status from its current one" },
	[ERR_REPLAYED] = { 409, "replayed",
	    "this signed request was already received" },
	[ERR_PAYLOAD_TOO_LARGE] = { 413, "payload_too_large",
	    "the request body is too large" },
	[ERR_UNSUPPORTED_MEDIA_TYPE] = { 415, "unsupported_media_type",
	    "the request body must be application/json" },
	[ERR_VALIDATION] = { 422, "validation_failed",
	    "a field is invalid" },
	[ERR_IDEMPOTENCY_KEY_REUSED] = { 422, "idempotency_key_reused",
	    "this Idempotency-Key was used with a different request" },
	[ERR_RATE_LIMITED] = { 429, "rate_limited",
	    "too many requests; retry after the time in Retry-After" },
	[ERR_INTERNAL] = { 500, "internal_error",
	    "something went wrong on our side; it has been logged" },
	[ERR_UNAVAILABLE] = { 503, "unavailable",
	    "a service we depend on is unavailable; retry shortly" },
};

static const char *const method_names[METHOD__MAX] = {
	[METHOD_GET] = "GET",
	[METHOD_POST] = "POST",
	[METHOD_PUT] = "PUT",
	[METHOD_PATCH] = "PATCH",
	[METHOD_DELETE] = "DELETE",
	[METHOD_HEAD] = "HEAD",
	[METHOD_OPTIONS] = "OPTIONS",
};

static FCGX_Request		fcgx;
static volatile sig_atomic_t	stop_requested;

/* SIGTERM between requests ends the accept (no SA_RESTART); during one,
 * the request is finished first. */
static void
on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
	FCGX_ShutdownPending();
}

int
api_error_status(enum api_error err)
{
	return api_errors[err].status;
}

const char *
api_error_code(enum api_error err)
{
	return api_errors[err].code;
}

static const char *
status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

const char *
request_param(const struct request *r, const char *name)
{
	return FCGX_GetParam(name, r->fcgx->envp);
}

/* A request id is 1-64 characters of [A-Za-z0-9._-]. */
static int
request_id_valid(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (i == REQUEST_ID_MAX - 1 ||
		    !(isalnum((unsigned char)s[i]) || strchr("._-", s[i])))
			return 0;
	return i > 0;
}

static enum method
method_parse(const char *s)
{
	int	i;

	for (i = 0; i < METHOD__MAX; i++)
		if (strcmp(s, method_names[i]) == 0)
			return (enum method)i;
	return METHOD__MAX;
}

int
request_accept(struct app *app, struct request *r)
{
	static int		 initialised;
	const char		*uri, *q, *v, *id;
	unsigned char		 raw[8];
	long			 len;
	struct sigaction	 sa;

	if (!initialised) {
		if (FCGX_Init() != 0 || FCGX_InitRequest(&fcgx, 0, 0) != 0)
			return -1;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		initialised = 1;
	}
	if (stop_requested)
		return -1;
	memset(r, 0, sizeof(*r));
	if (FCGX_Accept_r(&fcgx) < 0)
		return -1;
	r->fcgx = &fcgx;
	clock_gettime(CLOCK_MONOTONIC, &r->started);

	id = request_param(r, "REQUEST_ID");
	if (id != NULL && request_id_valid(id))
		snprintf(r->request_id, sizeof(r->request_id), "%s", id);
	else {
		random_bytes(raw, sizeof(raw));
		hex_encode(raw, sizeof(raw), r->request_id);
	}
	log_request_id(r->request_id);

	v = request_param(r, "REQUEST_METHOD");
	r->method_name = v != NULL ? v : "";
	r->method = method_parse(r->method_name);

	uri = request_param(r, "REQUEST_URI");
	if (uri == NULL)
		uri = "/";
	if ((q = strchr(uri, '?')) != NULL) {
		r->path = arena_strndup(&r->arena, uri, (size_t)(q - uri));
		r->query = q + 1;
	} else {
		r->path = arena_strdup(&r->arena, uri);
		r->query = "";
	}
	if (r->path == NULL)
		r->path = "/";

	r->content_type = request_param(r, "CONTENT_TYPE");
	if (r->content_type != NULL && r->content_type[0] == '\0')
		r->content_type = NULL;
	r->authorization = request_param(r, "HTTP_AUTHORIZATION");
	r->idempotency_key = request_param(r, "HTTP_IDEMPOTENCY_KEY");
	v = request_param(r, "REMOTE_ADDR");
	r->remote_addr = v != NULL ? v : "unknown";
	r->content_length = -1;
	v = request_param(r, "CONTENT_LENGTH");
	if (v != NULL && v[0] != '\0') {
		if (parse_long(v, 0, 1L << 40, &len) == 0)
			r->content_length = len;
		else
			r->content_length = 1L << 40;
	}
	(void)app;
	return 0;
}

void
request_finish(struct app *app, struct request *r)
{
	struct timespec	now;
	double		ms;

	if (r->status == 0) {
		log_event(LOG_ERROR, "no_response",
		    "handler for %s %s wrote no response", r->method_name,
		    r->path);
		respond_error(r, ERR_INTERNAL, NULL, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - r->started.tv_sec) * 1e3 +
	    (double)(now.tv_nsec - r->started.tv_nsec) / 1e6;
	log_access(r->method_name, r->path, r->status, ms,
	    r->principal.merchant_id[0] != '\0' ?
	    r->principal.merchant_id : NULL);
	if (r->json != NULL)
		json_object_put(r->json);
	wipe(&r->principal, sizeof(r->principal));
	arena_free(&r->arena);
	FCGX_Finish_r(&fcgx);
	log_request_id("");
	if (stop_requested)
		exit(0);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decodes s[0..len) into out (NUL-terminated). Returns the decoded
 * length, or -1 on a bad escape, a NUL or a control character.
 */
static long
percent_decode(const char *s, size_t len, char *out, size_t outcap, int plus)
{
	size_t	i, n = 0;
	int	hi, lo, c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= len ||
			    (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		if (c < 0x20 || c == 0x7f || n + 1 >= outcap)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (long)n;
}

int
route_match(const char *pattern, const char *path, char *buf, size_t buflen,
    const char *params[ROUTE_PARAMS_MAX])
{
	const char	*p = pattern, *s = path, *pe, *se;
	size_t		 used = 0;
	long		 n;
	int		 np = 0;

	while (*p == '/' && *s == '/') {
		p++;
		s++;
		pe = p + strcspn(p, "/");
		se = s + strcspn(s, "/");
		if (*p == ':') {
			if (se == s || np == ROUTE_PARAMS_MAX)
				return -1;
			n = percent_decode(s, (size_t)(se - s), buf + used,
			    buflen - used, 0);
			if (n <= 0 || strchr(buf + used, '/') != NULL ||
			    !utf8_valid(buf + used, (size_t)n, NULL))
				return -1;
			params[np++] = buf + used;
			used += (size_t)n + 1;
		} else if (pe - p != se - s ||
		    strncmp(p, s, (size_t)(pe - p)) != 0)
			return -1;
		p = pe;
		s = se;
	}
	return (*p == '\0' && *s == '\0') ? np : -1;
}

/* 1 when every name=value of a query string percent-decodes cleanly. */
static int
query_valid(const char *q)
{
	char	buf[4096];
	size_t	len;

	while (*q != '\0') {
		len = strcspn(q, "&");
		if (len >= sizeof(buf) ||
		    percent_decode(q, len, buf, sizeof(buf), 1) < 0 ||
		    !utf8_valid(buf, strlen(buf), NULL))
			return 0;
		q += len;
		if (*q == '&')
			q++;
	}
	return 1;
}

const struct route *
route_or_respond(struct request *r, const struct route *routes, size_t n)
{
	const char	*params[ROUTE_PARAMS_MAX];
	char		*buf;
	size_t		 i, buflen;
	unsigned	 allowed = 0;
	enum method	 m;
	int		 np, j;
	char		 allow[64];

	buflen = strlen(r->path) + ROUTE_PARAMS_MAX + 1;
	if ((buf = arena_alloc(&r->arena, buflen)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return NULL;
	}
	if (!query_valid(r->query)) {
		respond_error(r, ERR_BAD_REQUEST, "the query string is not "
		    "well-formed (bad percent escape, control character, or "
		    "not UTF-8)", NULL);
		return NULL;
	}
	m = r->method == METHOD_HEAD ? METHOD_GET : r->method;
	for (i = 0; i < n; i++) {
		if ((np = route_match(routes[i].pattern, r->path, buf, buflen,
		    params)) < 0)
			continue;
		if (routes[i].method == m) {
			for (j = 0; j < np; j++)
				r->params[j] = params[j];
			return &routes[i];
		}
		allowed |= 1u << routes[i].method;
	}
	if (allowed == 0) {
		respond_error(r, ERR_NOT_FOUND, "no such route", NULL);
		return NULL;
	}
	allow[0] = '\0';
	for (j = 0; j < METHOD__MAX; j++) {
		if (!(allowed & (1u << j)))
			continue;
		if (allow[0] != '\0')
			strcat(allow, ", ");
		strcat(allow, method_names[j]);
	}
	response_header(r, "Allow", "%s", allow);
	respond_errorf(r, ERR_METHOD_NOT_ALLOWED, NULL,
	    "%s is not allowed here; allowed: %s", r->method_name, allow);
	return NULL;
}

/* 1 when the content type is application/json, with or without parameters. */
static int
content_type_json(const char *ct)
{
	size_t	len = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", len) != 0)
		return 0;
	return ct[len] == '\0' || ct[len] == ';' || ct[len] == ' ';
}

int
body_or_respond(struct app *app, struct request *r, const struct route *route)
{
	struct json_tokener	*tok = NULL;
	struct json_object	*obj = NULL;
	size_t			 got = 0, at;
	int			 n, rc = -1;

	if (r->method != METHOD_POST && r->method != METHOD_PUT &&
	    r->method != METHOD_PATCH)
		return 0;
	if (r->content_length <= 0)
		return 0;
	if (!(route->flags & ROUTE_RAW_BODY) &&
	    !content_type_json(r->content_type)) {
		respond_error(r, ERR_UNSUPPORTED_MEDIA_TYPE, NULL, NULL);
		return -1;
	}
	if (r->content_length > app->cfg.body_max) {
		respond_errorf(r, ERR_PAYLOAD_TOO_LARGE, NULL,
		    "the request body exceeds %ld bytes", app->cfg.body_max);
		return -1;
	}
	r->body = arena_alloc(&r->arena, (size_t)r->content_length + 1);
	if (r->body == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	while (got < (size_t)r->content_length) {
		n = FCGX_GetStr(r->body + got,
		    (int)((size_t)r->content_length - got), r->fcgx->in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	r->body_len = got;
	if (got != (size_t)r->content_length) {
		respond_error(r, ERR_BAD_REQUEST,
		    "the request body ended early", NULL);
		return -1;
	}
	if (route->flags & ROUTE_RAW_BODY)
		return 0;

	if (json_syntax_check(r->body, r->body_len, JSON_DEPTH_MAX, &at) != 0) {
		respond_errorf(r, ERR_INVALID_JSON, NULL, "the request body is "
		    "not valid JSON (at byte %zu)", at);
		return -1;
	}
	if ((tok = json_tokener_new_ex(JSON_DEPTH_MAX)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		respond_error(r, ERR_INVALID_JSON, NULL, NULL);
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		respond_error(r, ERR_INVALID_JSON,
		    "the request body must be a JSON object", NULL);
		goto out;
	}
	r->json = obj;
	obj = NULL;
	rc = 0;
out:
	if (obj != NULL)
		json_object_put(obj);
	if (tok != NULL)
		json_tokener_free(tok);
	return rc;
}

void
response_header(struct request *r, const char *name, const char *fmt, ...)
{
	char	value[512], *w;
	size_t	room, len;
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	for (w = value; *w != '\0'; w++)
		if (*w == '\r' || *w == '\n')
			*w = ' ';
	room = sizeof(r->headers) - r->headers_len;
	n = snprintf(r->headers + r->headers_len, room, "%s: %s\r\n",
	    name, value);
	len = n < 0 ? 0 : (size_t)n;
	if (len >= room) {
		r->headers[r->headers_len] = '\0';
		log_event(LOG_WARN, "header_dropped", "%s", name);
		return;
	}
	r->headers_len += len;
}

/* Writes the status line, the headers and the body, once per request. */
static void
respond_body(struct request *r, int status, const char *content_type,
    const char *body, size_t len)
{
	char	head[2048];
	int	n;

	if (r->status != 0) {
		log_event(LOG_ERROR, "double_response",
		    "a second response (%d) was dropped", status);
		return;
	}
	r->status = status;
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Request-Id: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s"
	    "%s\r\n",
	    status, status_reason(status), content_type, len, r->request_id,
	    strstr(r->headers, "Content-Security-Policy:") != NULL ? "" :
	    "Content-Security-Policy: default-src 'none'; "
	    "frame-ancestors 'none'\r\n",
	    r->headers);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		log_event(LOG_ERROR, "header_overflow", "response headers");
		return;
	}
	FCGX_PutStr(head, n, r->fcgx->out);
	if (r->method != METHOD_HEAD && len > 0)
		FCGX_PutStr(body, (int)len, r->fcgx->out);
}

/* Serialises an envelope and writes it; takes ownership of env. */
static void
respond_envelope(struct request *r, int status, struct json_object *env)
{
	const char	*s;
	size_t		 len;

	s = json_object_to_json_string_length(env,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	respond_body(r, status, "application/json", s, len);
	json_object_put(env);
}

void
respond_data(struct request *r, int status, struct json_object *data)
{
	struct json_object	*env;

	env = json_object_new_object();
	json_object_object_add(env, "success", json_object_new_boolean(1));
	json_object_object_add(env, "data", data);
	respond_envelope(r, status, env);
}

char *
envelope_text(struct request *r, struct json_object *data, size_t *len)
{
	struct json_object	*env;
	const char		*s;
	char			*copy;

	env = json_object_new_object();
	json_object_object_add(env, "success", json_object_new_boolean(1));
	json_object_object_add(env, "data", data);
	s = json_object_to_json_string_length(env,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
	copy = arena_strndup(&r->arena, s, *len);
	json_object_put(env);
	return copy;
}

void
respond_error_details(struct request *r, enum api_error err,
    const char *message, struct json_object *details)
{
	struct json_object	*env, *e;

	if (err == ERR_INTERNAL)
		log_event(LOG_ERROR, "internal_error", "%s %s",
		    r->method_name, r->path);
	e = json_object_new_object();
	json_object_object_add(e, "code",
	    json_object_new_string(api_errors[err].code));
	json_object_object_add(e, "message", json_object_new_string(
	    message != NULL ? message : api_errors[err].message));
	if (details != NULL)
		json_object_object_add(e, "details", details);
	env = json_object_new_object();
	json_object_object_add(env, "success", json_object_new_boolean(0));
	json_object_object_add(env, "error", e);
	respond_envelope(r, api_errors[err].status, env);
}

void
respond_error(struct request *r, enum api_error err, const char *message,
    const char *field)
{
	struct json_object	*details = NULL;

	if (field != NULL) {
		details = json_object_new_object();
		json_object_object_add(details, "field",
		    json_object_new_string(field));
	}
	respond_error_details(r, err, message, details);
}

void
respond_errorf(struct request *r, enum api_error err, const char *field,
    const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	respond_error(r, err, msg, field);
}

void
respond_raw(struct request *r, int status, const char *content_type,
    const char *body, size_t len)
{
	respond_body(r, status, content_type, body, len);
}

const char *
request_query(struct request *r, const char *name)
{
	const char	*p = r->query, *end, *eq;
	size_t		 nlen = strlen(name);
	char		*out;

	while (*p != '\0') {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) == nlen &&
		    strncmp(p, name, nlen) == 0) {
			out = arena_alloc(&r->arena, (size_t)(end - eq));
			if (out == NULL || percent_decode(eq + 1,
			    (size_t)(end - eq - 1), out,
			    (size_t)(end - eq), 1) < 0)
				return NULL;
			return out;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return NULL;
}
