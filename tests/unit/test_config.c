/*
 * Unit tests for shared/config.c: parse_long() over a table of inputs and
 * bounds, and config_load() over a table of environments. Each config case
 * saves the variables config_load() reads, sets its own, and puts the saved
 * values back before the next case.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "unit.h"

static const struct {
	const char	*s;
	long		 min, max;
	int		 rc;
	long		 want;
} long_cases[] = {
	{ "0", 0, 10, 0, 0 },
	{ "42", 0, 100, 0, 42 },
	{ "-5", -10, 10, 0, -5 },
	{ "-5", 0, 10, -1, 0 },
	{ "10", 0, 10, 0, 10 },		/* bounds are inclusive */
	{ "-10", -10, 10, 0, -10 },
	{ "11", 0, 10, -1, 0 },
	{ "-11", -10, 10, -1, 0 },
	{ "1024", 1024, 16777216, 0, 1024 },
	{ "1023", 1024, 16777216, -1, 0 },
	{ "16777217", 1024, 16777216, -1, 0 },
	{ "9223372036854775807", LONG_MIN, LONG_MAX, 0, LONG_MAX },
	{ "-9223372036854775808", LONG_MIN, LONG_MAX, 0, LONG_MIN },
	{ "9223372036854775808", LONG_MIN, LONG_MAX, -1, 0 },
	{ "99999999999999999999", LONG_MIN, LONG_MAX, -1, 0 },
	{ "-99999999999999999999", LONG_MIN, LONG_MAX, -1, 0 },
	{ "", LONG_MIN, LONG_MAX, -1, 0 },
	{ " 1", LONG_MIN, LONG_MAX, -1, 0 },
	{ "\t1", LONG_MIN, LONG_MAX, -1, 0 },
	{ "1 ", LONG_MIN, LONG_MAX, -1, 0 },
	{ "1\n", LONG_MIN, LONG_MAX, -1, 0 },
	{ "1x", LONG_MIN, LONG_MAX, -1, 0 },
	{ "0x10", LONG_MIN, LONG_MAX, -1, 0 },
	{ "+1", LONG_MIN, LONG_MAX, -1, 0 },
	{ "-", LONG_MIN, LONG_MAX, -1, 0 },
	{ "--1", LONG_MIN, LONG_MAX, -1, 0 },
	{ "- 1", LONG_MIN, LONG_MAX, -1, 0 },
	{ "1.0", LONG_MIN, LONG_MAX, -1, 0 },
	{ "1e3", LONG_MIN, LONG_MAX, -1, 0 },
	{ "abc", LONG_MIN, LONG_MAX, -1, 0 },
};

UNIT_TEST(parse_long_table)
{
	size_t	i;
	long	out;
	int	rc;

	for (i = 0; i < NELEM(long_cases); i++) {
		out = 12345;
		rc = parse_long(long_cases[i].s, long_cases[i].min,
		    long_cases[i].max, &out);
		if (rc != long_cases[i].rc)
			unit_fail(__FILE__, __LINE__, "parse_long(\"%s\", %ld, "
			    "%ld) == %d, want %d", long_cases[i].s,
			    long_cases[i].min, long_cases[i].max, rc,
			    long_cases[i].rc);
		else if (rc == 0 && out != long_cases[i].want)
			unit_fail(__FILE__, __LINE__, "parse_long(\"%s\", %ld, "
			    "%ld) gave %ld, want %ld", long_cases[i].s,
			    long_cases[i].min, long_cases[i].max, out,
			    long_cases[i].want);
	}
	CHECK_INT(parse_long(NULL, 0, 10, &out), -1);
}

/* Every variable config_load() reads. */
static const char *const env_names[] = {
	"APP_ENV", "DATABASE_URL", "REDIS_SOCKET", "REDIS_HOST", "REDIS_PORT",
	"BODY_MAX_BYTES", "TOKEN_TTL_SECONDS", "RATE_LIMIT_PER_MINUTE",
	"RATE_LIMIT_OPEN_PER_MINUTE", "RATE_LIMIT_WEBHOOK_PER_MINUTE",
	"LOG_LEVEL", "MASTER_KEY",
	"MASTER_KEY_FILE",
	"MASTER_KEY_PREVIOUS",
	"MASTER_KEY_PREVIOUS_FILE",
};

static char	*env_saved[NELEM(env_names)];

/* Saves and clears every variable config_load() reads. */
static void
env_save(void)
{
	const char	*v;
	size_t		 i;

	for (i = 0; i < NELEM(env_names); i++) {
		v = getenv(env_names[i]);
		env_saved[i] = v != NULL ? strdup(v) : NULL;
		unsetenv(env_names[i]);
	}
}

/* Puts the saved values back: unsets what the test set. */
static void
env_restore(void)
{
	size_t	i;

	for (i = 0; i < NELEM(env_names); i++) {
		if (env_saved[i] != NULL)
			setenv(env_names[i], env_saved[i], 1);
		else
			unsetenv(env_names[i]);
		free(env_saved[i]);
		env_saved[i] = NULL;
	}
}

#define DEV_KEY	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_A	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_UC	"A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"
#define KEY_63	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1"
#define KEY_65	KEY_A "0"
#define KEY_BAD	"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

#define FILE_KEY	"@file"	/* MASTER_KEY_FILE: a temporary file of KEY_A */

static const struct {
	const char	*env[4][2];	/* name, value; NULL-name ended */
	int		 rc;
	const char	*err_has;	/* for rc -1: a substring of err */
	long		 body_max, token_ttl, rate_limit, rate_limit_open;
	int		 production;
	const char	*key_hex;	/* for rc 0: the master key */
} config_cases[] = {
	/* Nothing set: the development defaults. */
	{ { { NULL, NULL } }, 0, NULL, 1048576, 86400, 600, 20, 0, DEV_KEY },
	/* Empty is unset. */
	{ { { "BODY_MAX_BYTES", "" }, { "APP_ENV", "" } }, 0, NULL,
	  1048576, 86400, 600, 20, 0, DEV_KEY },
	{ { { "APP_ENV", "development" } }, 0, NULL,
	  1048576, 86400, 600, 20, 0, DEV_KEY },

	/* Numbers: within bounds, malformed, out of bounds. */
	{ { { "BODY_MAX_BYTES", "2048" }, { "TOKEN_TTL_SECONDS", "3600" },
	    { "RATE_LIMIT_PER_MINUTE", "100" },
	    { "RATE_LIMIT_OPEN_PER_MINUTE", "5" } }, 0, NULL,
	  2048, 3600, 100, 5, 0, DEV_KEY },
	{ { { "BODY_MAX_BYTES", "1024" } }, 0, NULL,
	  1024, 86400, 600, 20, 0, DEV_KEY },
	{ { { "BODY_MAX_BYTES", "16777216" } }, 0, NULL,
	  16777216, 86400, 600, 20, 0, DEV_KEY },
	{ { { "BODY_MAX_BYTES", "abc" } }, -1, "BODY_MAX_BYTES",
	  0, 0, 0, 0, 0, NULL },
	{ { { "BODY_MAX_BYTES", "1023" } }, -1, "BODY_MAX_BYTES",
	  0, 0, 0, 0, 0, NULL },
	{ { { "BODY_MAX_BYTES", "16777217" } }, -1, "BODY_MAX_BYTES",
	  0, 0, 0, 0, 0, NULL },
	{ { { "BODY_MAX_BYTES", "1048576 " } }, -1, "BODY_MAX_BYTES",
	  0, 0, 0, 0, 0, NULL },
	{ { { "TOKEN_TTL_SECONDS", "59" } }, -1, "TOKEN_TTL_SECONDS",
	  0, 0, 0, 0, 0, NULL },
	{ { { "TOKEN_TTL_SECONDS", "1d" } }, -1, "TOKEN_TTL_SECONDS",
	  0, 0, 0, 0, 0, NULL },
	{ { { "RATE_LIMIT_PER_MINUTE", "0" } }, -1, "RATE_LIMIT_PER_MINUTE",
	  0, 0, 0, 0, 0, NULL },
	{ { { "RATE_LIMIT_OPEN_PER_MINUTE", "-1" } }, -1,
	  "RATE_LIMIT_OPEN_PER_MINUTE", 0, 0, 0, 0, 0, NULL },
	{ { { "REDIS_PORT", "0" } }, -1, "REDIS_PORT", 0, 0, 0, 0, 0, NULL },
	{ { { "REDIS_PORT", "65536" } }, -1, "REDIS_PORT",
	  0, 0, 0, 0, 0, NULL },
	{ { { "LOG_LEVEL", "loud" } }, -1, "LOG_LEVEL", 0, 0, 0, 0, 0, NULL },

	/* The master key. */
	{ { { "APP_ENV", "production" } }, -1, "MASTER_KEY",
	  0, 0, 0, 0, 0, NULL },
	{ { { "APP_ENV", "production" }, { "MASTER_KEY", "" } }, -1,
	  "MASTER_KEY", 0, 0, 0, 0, 0, NULL },
	{ { { "APP_ENV", "production" }, { "MASTER_KEY", KEY_A } }, 0, NULL,
	  1048576, 86400, 600, 20, 1, KEY_A },
	{ { { "MASTER_KEY", KEY_A } }, 0, NULL,
	  1048576, 86400, 600, 20, 0, KEY_A },
	{ { { "MASTER_KEY", KEY_UC } }, 0, NULL,
	  1048576, 86400, 600, 20, 0,
	  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
	{ { { "MASTER_KEY", KEY_63 } }, -1, "MASTER_KEY", 0, 0, 0, 0, 0, NULL },
	{ { { "MASTER_KEY", KEY_65 } }, -1, "MASTER_KEY", 0, 0, 0, 0, 0, NULL },
	{ { { "MASTER_KEY", KEY_BAD } }, -1, "MASTER_KEY",
	  0, 0, 0, 0, 0, NULL },
	{ { { "APP_ENV", "production" }, { "MASTER_KEY", KEY_63 } }, -1,
	  "MASTER_KEY", 0, 0, 0, 0, 0, NULL },
	/* A rotation's previous key is checked like the current one. */
	{ { { "MASTER_KEY", KEY_A }, { "MASTER_KEY_PREVIOUS", KEY_63 } }, -1,
	  "MASTER_KEY_PREVIOUS", 0, 0, 0, 0, 0, NULL },
	{ { { "APP_ENV", "production" }, { "MASTER_KEY_FILE", FILE_KEY } }, 0,
	  NULL, 1048576, 86400, 600, 20, 1, KEY_A },
	{ { { "MASTER_KEY_FILE", "/nonexistent/commerce-master-key" } }, -1,
	  "MASTER_KEY_FILE", 0, 0, 0, 0, 0, NULL },
	/* MASTER_KEY wins over MASTER_KEY_FILE. */
	{ { { "MASTER_KEY", KEY_UC },
	    { "MASTER_KEY_FILE", "/nonexistent/commerce-master-key" } }, 0,
	  NULL, 1048576, 86400, 600, 20, 0,
	  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" },
};

/* Writes KEY_A and a newline to a new temporary file; its path in path. */
static int
key_file(char path[64])
{
	static const char	key[] = KEY_A "\n";
	int			fd;

	snprintf(path, 64, "/tmp/commerce-unit-key.XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	if (write(fd, key, sizeof(key) - 1) != (ssize_t)(sizeof(key) - 1)) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

UNIT_TEST(config_load_table)
{
	struct config	 cfg;
	char		 err[256], hex[2 * MASTER_KEY_LEN + 1], path[64];
	size_t		 i, j;
	int		 rc;

	if (key_file(path) != 0) {
		unit_fail(__FILE__, __LINE__,
		    "cannot write a temporary key file");
		return;
	}
	for (i = 0; i < NELEM(config_cases); i++) {
		char		 desc[512];
		size_t		 dl = 0;

		env_save();
		desc[0] = '\0';
		for (j = 0; j < 4 && config_cases[i].env[j][0] != NULL; j++) {
			const char *name = config_cases[i].env[j][0];
			const char *val = config_cases[i].env[j][1];

			if (strcmp(val, FILE_KEY) == 0)
				val = path;
			setenv(name, val, 1);
			dl += (size_t)snprintf(desc + dl, sizeof(desc) - dl,
			    "%s%s=\"%s\"", j ? " " : "", name, val);
			if (dl >= sizeof(desc))
				dl = sizeof(desc) - 1;
		}
		if (j == 0)
			snprintf(desc, sizeof(desc), "(nothing set)");

		err[0] = '\0';
		rc = config_load(&cfg, err, sizeof(err));
		env_restore();

		if (rc != config_cases[i].rc) {
			unit_fail(__FILE__, __LINE__, "config_load with %s == "
			    "%d, want %d (err \"%s\")", desc, rc,
			    config_cases[i].rc, err);
			continue;
		}
		if (rc != 0) {
			if (strstr(err, config_cases[i].err_has) == NULL)
				unit_fail(__FILE__, __LINE__, "config_load "
				    "with %s: err \"%s\" does not name \"%s\"",
				    desc, err, config_cases[i].err_has);
			continue;
		}
		if (cfg.body_max != config_cases[i].body_max ||
		    cfg.token_ttl != config_cases[i].token_ttl ||
		    cfg.rate_limit != config_cases[i].rate_limit ||
		    cfg.rate_limit_open != config_cases[i].rate_limit_open)
			unit_fail(__FILE__, __LINE__, "config_load with %s: "
			    "body_max %ld token_ttl %ld rate_limit %ld "
			    "rate_limit_open %ld, want %ld %ld %ld %ld", desc,
			    cfg.body_max, cfg.token_ttl, cfg.rate_limit,
			    cfg.rate_limit_open, config_cases[i].body_max,
			    config_cases[i].token_ttl,
			    config_cases[i].rate_limit,
			    config_cases[i].rate_limit_open);
		if (cfg.production != config_cases[i].production)
			unit_fail(__FILE__, __LINE__, "config_load with %s: "
			    "production == %d, want %d", desc, cfg.production,
			    config_cases[i].production);
		hex_encode(cfg.master_key, MASTER_KEY_LEN, hex);
		if (strcmp(hex, config_cases[i].key_hex) != 0)
			unit_fail(__FILE__, __LINE__, "config_load with %s: "
			    "master key %s, want %s", desc, hex,
			    config_cases[i].key_hex);
	}
	unlink(path);
}

/* The other defaults, with nothing set. */
UNIT_TEST(config_load_defaults)
{
	struct config	cfg;
	char		err[256] = "";

	env_save();
	CHECK_INT(config_load(&cfg, err, sizeof(err)), 0);
	env_restore();
	CHECK_STR(err, "");
	CHECK_INT(cfg.production, 0);
	CHECK_STR(cfg.database_url, "dbname=commerce");
	CHECK(cfg.redis_socket == NULL);
	CHECK_STR(cfg.redis_host, "127.0.0.1");
	CHECK_INT(cfg.redis_port, 6379);
	CHECK_INT(cfg.body_max, 1048576);
	CHECK_INT(cfg.token_ttl, 86400);
	CHECK_INT(cfg.rate_limit, 600);
	CHECK_INT(cfg.rate_limit_open, 20);
}

/* The environment is read, and strings point at it. */
UNIT_TEST(config_load_strings)
{
	struct config	cfg;
	char		err[256] = "";

	env_save();
	setenv("DATABASE_URL", "host=db dbname=shop", 1);
	setenv("REDIS_SOCKET", "/run/redis.sock", 1);
	setenv("REDIS_HOST", "10.0.0.5", 1);
	setenv("REDIS_PORT", "6380", 1);
	CHECK_INT(config_load(&cfg, err, sizeof(err)), 0);
	CHECK_STR(cfg.database_url, "host=db dbname=shop");
	CHECK_STR(cfg.redis_socket, "/run/redis.sock");
	CHECK_STR(cfg.redis_host, "10.0.0.5");
	CHECK_INT(cfg.redis_port, 6380);
	env_restore();
}

/* MASTER_KEY_PREVIOUS, set during a rotation, is kept beside the current key. */
UNIT_TEST(config_load_previous_key)
{
	struct config	cfg;
	char		err[256];
	unsigned char	want[MASTER_KEY_LEN];

	env_save();
	setenv("MASTER_KEY", KEY_A, 1);
	CHECK_INT(config_load(&cfg, err, sizeof(err)), 0);
	CHECK_INT(cfg.has_previous_key, 0);
	setenv("MASTER_KEY", KEY_UC, 1);
	setenv("MASTER_KEY_PREVIOUS", KEY_A, 1);
	CHECK_INT(config_load(&cfg, err, sizeof(err)), 0);
	CHECK_INT(cfg.has_previous_key, 1);
	CHECK_INT(hex_decode(KEY_A, 64, want, sizeof(want)), MASTER_KEY_LEN);
	CHECK(memcmp(cfg.previous_key, want, MASTER_KEY_LEN) == 0);
	CHECK(memcmp(cfg.master_key, want, MASTER_KEY_LEN) != 0);
	env_restore();
}
