/*
 * config.c: the environment read once at start. Defaults suit a developer's
 * machine; APP_ENV=production turns the unsafe defaults into errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

/* The development master key: public, so useless for real secrets. */
static const char dev_master_key[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

int
parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char *
env_or(const char *name, const char *fallback)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0') ? v : fallback;
}

static int
env_long(const char *name, long fallback, long min, long max, long *out,
    char *err, size_t errlen)
{
	const char	*v = getenv(name);

	if (v == NULL || *v == '\0') {
		*out = fallback;
		return 0;
	}
	if (parse_long(v, min, max, out) != 0) {
		snprintf(err, errlen, "%s must be an integer from %ld to %ld",
		    name, min, max);
		return -1;
	}
	return 0;
}

/* Reads the 64 hex characters of a master key from a file into hex. */
static int
read_key_file(const char *path, char hex[65])
{
	int	fd;
	ssize_t	n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, hex, 64);
	close(fd);
	if (n != 64)
		return -1;
	hex[64] = '\0';
	return 0;
}

/*
 * Reads a 32-byte key given as 64 hex characters in the variable var, or
 * in the file named by file_var. Returns 0 with the key in out, 1 when
 * neither is set, or -1 with a reason in err.
 */
static int
key_load(const char *var, const char *file_var,
    unsigned char out[MASTER_KEY_LEN], char *err, size_t errlen)
{
	const char	*key, *file;
	char		 hex[65];
	int		 rc = -1;

	key = env_or(var, NULL);
	file = env_or(file_var, NULL);
	if (key == NULL && file == NULL)
		return 1;
	if (key == NULL) {
		if (read_key_file(file, hex) != 0) {
			snprintf(err, errlen, "%s %s must hold 64 hex "
			    "characters", file_var, file);
			goto out;
		}
		key = hex;
	}
	if (strlen(key) != 64 ||
	    hex_decode(key, 64, out, MASTER_KEY_LEN) != MASTER_KEY_LEN) {
		snprintf(err, errlen, "%s must be 64 hex characters (32 "
		    "bytes)", key == hex ? file_var : var);
		goto out;
	}
	rc = 0;
out:
	wipe(hex, sizeof(hex));
	return rc;
}

int
config_load(struct config *cfg, char *err, size_t errlen)
{
	const char	*level;
	long		 port;

	memset(cfg, 0, sizeof(*cfg));
	cfg->production = strcmp(env_or("APP_ENV", "development"),
	    "production") == 0;
	cfg->database_url = env_or("DATABASE_URL", "dbname=commerce");
	cfg->redis_socket = env_or("REDIS_SOCKET", NULL);
	cfg->redis_host = env_or("REDIS_HOST", "127.0.0.1");
	if (env_long("REDIS_PORT", 6379, 1, 65535, &port, err, errlen) != 0)
		return -1;
	cfg->redis_port = (int)port;

	if (env_long("BODY_MAX_BYTES", 1048576, 1024, 16777216,
	    &cfg->body_max, err, errlen) != 0 ||
	    env_long("TOKEN_TTL_SECONDS", 86400, 60, 31536000,
	    &cfg->token_ttl, err, errlen) != 0 ||
	    env_long("RATE_LIMIT_PER_MINUTE", 600, 1, 1000000000,
	    &cfg->rate_limit, err, errlen) != 0 ||
	    env_long("RATE_LIMIT_OPEN_PER_MINUTE", 20, 1, 1000000000,
	    &cfg->rate_limit_open, err, errlen) != 0 ||
	    env_long("RATE_LIMIT_WEBHOOK_PER_MINUTE", 3000, 1, 1000000000,
	    &cfg->rate_limit_webhook, err, errlen) != 0)
		return -1;

	level = env_or("LOG_LEVEL", "info");
	if ((cfg->log_level = log_level_parse(level)) < 0) {
		snprintf(err, errlen, "LOG_LEVEL must be debug, info, warn "
		    "or error");
		return -1;
	}

	switch (key_load("MASTER_KEY", "MASTER_KEY_FILE", cfg->master_key,
	    err, errlen)) {
	case 0:
		break;
	case 1:
		if (cfg->production) {
			snprintf(err, errlen, "MASTER_KEY or MASTER_KEY_FILE "
			    "is required when APP_ENV=production");
			return -1;
		}
		hex_decode(dev_master_key, 64, cfg->master_key, MASTER_KEY_LEN);
		break;
	default:
		return -1;
	}
	switch (key_load("MASTER_KEY_PREVIOUS", "MASTER_KEY_PREVIOUS_FILE",
	    cfg->previous_key, err, errlen)) {
	case 0:
		cfg->has_previous_key = 1;
		break;
	case 1:
		break;
	default:
		return -1;
	}
	return 0;
}
