/*
 * Unit tests for shared/password.c. Each hash costs tens of milliseconds
 * (19 MiB, two passes), so the tests hash sparingly.
 */
#include <stdlib.h>
#include <string.h>

#include "password.h"
#include "unit.h"

#define PHC_PREFIX	"$argon2id$v=19$m=19456,t=2,p=1$"

/*
 * Known answers: the first is libargon2's own test vector (its test.c,
 * Argon2id, t=2, m=2^16, p=1); the second the same password and salt at
 * this code's cost, from Debian's argon2 command line tool:
 *	echo -n password | argon2 somesalt -id -t 2 -k 19456 -p 1 -l 32 -e
 */
static const char *const known[] = {
	"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
	    "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$"
	    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
};

UNIT_TEST(password_hash_format)
{
	char	a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];

	CHECK_INT(password_hash("correct horse battery staple", a), 0);
	CHECK(strncmp(a, PHC_PREFIX, strlen(PHC_PREFIX)) == 0);
	/* 16-byte salt and 32-byte hash, unpadded base64. */
	CHECK_INT(strlen(a), strlen(PHC_PREFIX) + 22 + 1 + 43);
	CHECK_INT(password_hash("correct horse battery staple", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(password_verify("correct horse battery staple", a), 1);
	CHECK_INT(password_verify("correct horse battery staple", b), 1);
	CHECK_INT(password_verify("correct horse battery stapler", a), 0);
	CHECK_INT(password_verify("Correct horse battery staple", a), 0);
	CHECK_INT(password_verify("", a), 0);
}

UNIT_TEST(password_empty_and_long)
{
	char	h[PASSWORD_HASH_MAX], *pw;

	CHECK_INT(password_hash("", h), 0);
	CHECK_INT(password_verify("", h), 1);
	CHECK_INT(password_verify("x", h), 0);

	pw = malloc(1026);
	CHECK(pw != NULL);
	if (pw == NULL)
		return;
	memset(pw, 'p', 1025);
	pw[1025] = '\0';
	CHECK_INT(password_hash(pw, h), -1);
	CHECK_STR(h, "");
	CHECK_INT(password_verify(pw, known[1]), 0);
	password_burn(pw);

	pw[1024] = '\0';
	CHECK_INT(password_hash(pw, h), 0);
	CHECK_INT(password_verify(pw, h), 1);
	pw[1023] = 'q';
	CHECK_INT(password_verify(pw, h), 0);
	free(pw);
}

UNIT_TEST(password_known_answers)
{
	size_t	i;

	for (i = 0; i < NELEM(known); i++) {
		CHECK_INT(password_verify("password", known[i]), 1);
		CHECK_INT(password_verify("passwore", known[i]), 0);
	}
}

UNIT_TEST(password_malformed_hash)
{
	static const char *const bad[] = {
		"",
		"password",
		"$argon2id$",
		/* the right hash under another variant's name */
		"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		/* changed parameters */
		"$argon2id$v=19$m=19456,t=3,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		/* one hash character changed */
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2F",
		/* truncated hash, missing hash, missing salt */
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUux",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$",
		"$argon2id$v=19$m=19456,t=2,p=1$$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		/* bad base64, bad version, garbage parameters */
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2*",
		"$argon2id$v=18$m=19456,t=2,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=x,t=2,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		"$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		/* trailing text */
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$"
		    "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E$",
	};
	char	longer[PASSWORD_HASH_MAX + 16];
	size_t	i;

	for (i = 0; i < NELEM(bad); i++)
		if (password_verify("password", bad[i]) != 0)
			unit_fail(__FILE__, __LINE__,
			    "password_verify accepted \"%s\"", bad[i]);
	CHECK_INT(password_verify("password", NULL), 0);
	CHECK_INT(password_verify(NULL, known[1]), 0);

	/* An encoded string of PASSWORD_HASH_MAX or more is refused unread. */
	memset(longer, 'A', sizeof(longer));
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, known[1], strlen(known[1]));
	CHECK_INT(password_verify("password", longer), 0);
}

UNIT_TEST(password_burn_runs)
{
	/* Nothing to observe but that it returns, twice (the dummy is cached). */
	password_burn("whatever");
	password_burn("");
	password_burn(NULL);
	CHECK(1);
}
