/*
 * httpclient.c: libcurl easy interface, one reused handle per process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "httpclient.h"

static CURL	*handle;

/* Appends a chunk of the response body, refusing more than the cap. */
static size_t
collect(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_result	*res = userp;
	size_t			 n = size * nmemb;
	char			*grown;

	if (res->len + n > HTTP_BODY_MAX)
		return 0;
	if ((grown = realloc(res->body, res->len + n + 1)) == NULL)
		return 0;
	res->body = grown;
	memcpy(res->body + res->len, data, n);
	res->len += n;
	res->body[res->len] = '\0';
	return n;
}

int
http_perform(const struct http_call *call, struct http_result *res)
{
	struct curl_slist	*headers = NULL, *grown;
	CURLcode		 rc;
	char			 ctype[160];
	int			 i, ok = -1;

	memset(res, 0, sizeof(*res));
	if (handle == NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		if ((handle = curl_easy_init()) == NULL) {
			snprintf(res->error, sizeof(res->error), "curl init");
			return -1;
		}
	}
	curl_easy_reset(handle);
	for (i = 0; i < HTTP_HEADERS_MAX && call->headers[i] != NULL; i++) {
		if ((grown = curl_slist_append(headers, call->headers[i]))
		    == NULL)
			goto out;
		headers = grown;
	}
	if (call->content_type != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		    call->content_type);
		if ((grown = curl_slist_append(headers, ctype)) == NULL)
			goto out;
		headers = grown;
	}
	/* No "Expect: 100-continue" round trip on larger bodies. */
	if ((grown = curl_slist_append(headers, "Expect:")) == NULL)
		goto out;
	headers = grown;

	curl_easy_setopt(handle, CURLOPT_URL, call->url);
	curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, call->method);
	curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
	    call->timeout_ms > 0 ? call->timeout_ms : 10000L);
	curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(handle, CURLOPT_WRITEDATA, res);
	curl_easy_setopt(handle, CURLOPT_USERAGENT, "commerce-backend/1");
	if (call->body != NULL) {
		curl_easy_setopt(handle, CURLOPT_POSTFIELDS, call->body);
		curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)call->body_len);
	} else if (strcmp(call->method, "GET") == 0)
		curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);

	if ((rc = curl_easy_perform(handle)) != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "%s",
		    curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &res->status);
	if (res->body == NULL && (res->body = calloc(1, 1)) == NULL)
		goto out;
	ok = 0;
out:
	if (ok != 0 && res->error[0] == '\0')
		snprintf(res->error, sizeof(res->error), "out of memory");
	curl_slist_free_all(headers);
	return ok;
}

void
http_result_free(struct http_result *res)
{
	free(res->body);
	res->body = NULL;
	res->len = 0;
}

char *
http_escape(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out, *w;
	unsigned char		 c;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (w = out; (c = (unsigned char)*s) != '\0'; s++) {
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			*w++ = (char)c;
		else {
			*w++ = '%';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		}
	}
	*w = '\0';
	return out;
}
