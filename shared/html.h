/*
 * html.h: the few HTML pages a customer sees (the pay link, the gateway's
 * return). Every value is escaped; pages carry their own strict CSP.
 */
#ifndef COMMERCE_HTML_H
#define COMMERCE_HTML_H

#include <json-c/json.h>

struct request;

/* A plain page with a title and one paragraph (both escaped). */
void	html_page(struct request *, int status, const char *title,
	    const char *message);

/*
 * A page that sends the browser on to url: with fields (a JSON object of
 * strings), an auto-submitting form POST; without, a GET (meta refresh).
 * Both keep a button for browsers that do neither.
 */
void	html_redirect(struct request *, const char *url,
	    struct json_object *fields, const char *title);

#endif
