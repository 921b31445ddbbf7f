/*
 * password.c: Argon2id through libargon2, the reference implementation.
 */
#include <pthread.h>
#include <string.h>

#include <argon2.h>

#include "crypto.h"
#include "password.h"

#define PW_T_COST	2
#define PW_M_COST	19456	/* KiB */
#define PW_PARALLELISM	1
#define PW_SALT_LEN	16
#define PW_HASH_LEN	32
/* Longer passwords are refused so one request cannot make hashing costly. */
#define PW_MAX_LEN	1024

static char		dummy_hash[PASSWORD_HASH_MAX];
static pthread_once_t	dummy_once = PTHREAD_ONCE_INIT;

int
password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
	unsigned char	salt[PW_SALT_LEN];
	size_t		len;
	int		rc = -1;

	out[0] = '\0';
	if (password == NULL ||
	    (len = strnlen(password, PW_MAX_LEN + 1)) > PW_MAX_LEN)
		return -1;
	if (random_bytes(salt, sizeof(salt)) != 0)
		goto out;
	if (argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_PARALLELISM,
	    password, len, salt, sizeof(salt), PW_HASH_LEN, out,
	    PASSWORD_HASH_MAX) != ARGON2_OK)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		wipe(out, PASSWORD_HASH_MAX);
	return rc;
}

/*
 * Hashes with other parameters (older costs) are accepted: the parameters
 * come from the stored string, which only this code writes.
 */
int
password_verify(const char *password, const char *encoded)
{
	size_t	len;

	if (password == NULL || encoded == NULL ||
	    (len = strnlen(password, PW_MAX_LEN + 1)) > PW_MAX_LEN ||
	    strnlen(encoded, PASSWORD_HASH_MAX) == PASSWORD_HASH_MAX)
		return 0;
	return argon2id_verify(encoded, password, len) == ARGON2_OK;
}

static void
dummy_init(void)
{
	(void)password_hash("password_burn dummy", dummy_hash);
}

/*
 * The dummy hash is made once per process, at the current cost, so the
 * first call costs one extra hash. Should that fail, a raw hash of the same
 * cost stands in for the verification.
 */
void
password_burn(const char *password)
{
	static const unsigned char	salt[PW_SALT_LEN];
	unsigned char			raw[PW_HASH_LEN];
	size_t				len;

	if (password == NULL ||
	    (len = strnlen(password, PW_MAX_LEN + 1)) > PW_MAX_LEN)
		return;
	(void)pthread_once(&dummy_once, dummy_init);
	if (dummy_hash[0] != '\0') {
		(void)password_verify(password, dummy_hash);
		return;
	}
	(void)argon2id_hash_raw(PW_T_COST, PW_M_COST, PW_PARALLELISM, password,
	    len, salt, sizeof(salt), raw, sizeof(raw));
	wipe(raw, sizeof(raw));
}
