/*
 * config.h: configuration from the environment, with safe defaults for
 * development. README.md lists every variable.
 */
#ifndef COMMERCE_CONFIG_H
#define COMMERCE_CONFIG_H

#include "crypto.h"

struct config {
	int		 production;	/* APP_ENV=production */
	const char	*database_url;	/* libpq conninfo */
	const char	*redis_socket;	/* preferred over host:port */
	const char	*redis_host;
	int		 redis_port;
	unsigned char	 master_key[MASTER_KEY_LEN];
	/* During a rotation: the key older values are still sealed under. */
	unsigned char	 previous_key[MASTER_KEY_LEN];
	int		 has_previous_key;
	long		 body_max;	/* bytes, per request body */
	long		 token_ttl;	/* seconds a login session lives */
	long		 rate_limit;	/* per credential per minute */
	long		 rate_limit_open; /* per client address per minute */
	long		 rate_limit_webhook; /* per address per minute: webhooks,
					    customers' return pages */
	int		 log_level;
};

/*
 * Reads the environment into cfg. Returns 0, or -1 with a reason in err
 * (a malformed number, a missing master key in production, ...).
 */
int	config_load(struct config *cfg, char *err, size_t errlen);

/*
 * Parses a whole decimal integer in [min, max]. Returns 0, or -1 on empty
 * input, trailing garbage or a value out of range.
 */
int	parse_long(const char *s, long min, long max, long *out);

#endif
