/*
 * html.c: small escaped pages. The one script (submitting the form) is
 * allowed by its hash in the page's Content-Security-Policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "html.h"
#include "http.h"

#define HTML_MAX	(64 * 1024)

static const char submit_script[] = "document.forms[0].submit();";

static const char style[] =
    "body{font-family:system-ui,sans-serif;max-width:32em;margin:3em auto;"
    "padding:0 1em;color:#222}button{font-size:1.1em;padding:.5em 1.2em}";

/* Appends s to the buffer with &, <, >, " and ' escaped. */
static void
escape(char *buf, size_t *len, const char *s)
{
	const char	*rep;
	size_t		 n;

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: rep = NULL; break;
		}
		n = rep != NULL ? strlen(rep) : 1;
		if (*len + n >= HTML_MAX)
			return;
		memcpy(buf + *len, rep != NULL ? rep : s, n);
		*len += n;
	}
	buf[*len] = '\0';
}

/* Appends literal text. */
static void
raw(char *buf, size_t *len, const char *s)
{
	size_t	n = strlen(s);

	if (*len + n >= HTML_MAX)
		return;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static void
head(char *buf, size_t *len, const char *title)
{
	raw(buf, len, "<!doctype html><html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width,initial-scale=1\"><title>");
	escape(buf, len, title);
	raw(buf, len, "</title><style>");
	raw(buf, len, style);
	raw(buf, len, "</style></head><body><h1>");
	escape(buf, len, title);
	raw(buf, len, "</h1>");
}

void
html_page(struct request *r, int status, const char *title,
    const char *message)
{
	char	*buf;
	size_t	 len = 0;

	if ((buf = arena_alloc(&r->arena, HTML_MAX)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	head(buf, &len, title);
	raw(buf, &len, "<p>");
	escape(buf, &len, message != NULL ? message : "");
	raw(buf, &len, "</p></body></html>\n");
	response_header(r, "Content-Security-Policy", "default-src 'none'; "
	    "style-src 'unsafe-inline'; frame-ancestors 'none'");
	respond_raw(r, status, "text/html; charset=utf-8", buf, len);
}

void
html_redirect(struct request *r, const char *url, struct json_object *fields,
    const char *title)
{
	unsigned char	 digest[SHA256_LEN];
	char		 hash[64], *buf;
	size_t		 len = 0;

	if ((buf = arena_alloc(&r->arena, HTML_MAX)) == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return;
	}
	head(buf, &len, title);
	raw(buf, &len, "<p>Taking you to the payment page&hellip;</p>");
	if (fields == NULL) {
		raw(buf, &len, "<p><a href=\"");
		escape(buf, &len, url);
		raw(buf, &len, "\"><button>Continue to pay</button></a></p>");
		/* The refresh goes in the head's place: browsers honour it. */
		raw(buf, &len, "<meta http-equiv=\"refresh\" content=\"0;url=");
		escape(buf, &len, url);
		raw(buf, &len, "\">");
	} else {
		raw(buf, &len, "<form method=\"post\" action=\"");
		escape(buf, &len, url);
		raw(buf, &len, "\">");
		json_object_object_foreach(fields, key, val) {
			raw(buf, &len, "<input type=\"hidden\" name=\"");
			escape(buf, &len, key);
			raw(buf, &len, "\" value=\"");
			escape(buf, &len, json_object_get_string(val));
			raw(buf, &len, "\">");
		}
		raw(buf, &len, "<button type=\"submit\">Continue to pay"
		    "</button></form><script>");
		raw(buf, &len, submit_script);
		raw(buf, &len, "</script>");
	}
	raw(buf, &len, "</body></html>\n");
	sha256(submit_script, strlen(submit_script), digest);
	base64_encode(digest, sizeof(digest), hash);
	response_header(r, "Content-Security-Policy", "default-src 'none'; "
	    "style-src 'unsafe-inline'; script-src 'sha256-%s'; "
	    "form-action http: https:; frame-ancestors 'none'", hash);
	respond_raw(r, 200, "text/html; charset=utf-8", buf, len);
}
