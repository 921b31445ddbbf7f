/*
 * httpclient.h: outgoing HTTP through libcurl, for the provider adapters.
 * One easy handle per process keeps connections alive between calls. Every
 * call has a connect timeout (3 s) and a total timeout; redirects are not
 * followed; response bodies are capped at 1 MiB.
 */
#ifndef COMMERCE_HTTPCLIENT_H
#define COMMERCE_HTTPCLIENT_H

#include <stddef.h>

#define HTTP_HEADERS_MAX	8
#define HTTP_BODY_MAX		(1024 * 1024)

struct http_call {
	const char	*method;	/* "GET", "POST", ... */
	const char	*url;
	const char	*content_type;	/* NULL for no body */
	const char	*body;
	size_t		 body_len;
	const char	*headers[HTTP_HEADERS_MAX]; /* "Name: value", NULL-ended */
	long		 timeout_ms;	/* 0: 10 000 */
};

struct http_result {
	long	 status;		/* 0 when no answer came */
	char	*body;			/* NUL-terminated, malloc'd */
	size_t	 len;
	char	 error[256];		/* why there is no answer */
};

/*
 * Performs the call. Returns 0 when an HTTP answer came (any status), -1
 * on a transport failure (timeout, refused, DNS, TLS) with res->error set.
 * The caller releases res with http_result_free() either way.
 */
int	http_perform(const struct http_call *, struct http_result *res);
void	http_result_free(struct http_result *);

/* Percent-encodes s for a query string or form body (RFC 3986 unreserved
 * characters kept). Returns a malloc'd string the caller frees, or NULL. */
char	*http_escape(const char *s);

#endif
