/*
 * password.h: password hashing with Argon2id at OWASP's recommended cost
 * (m = 19 MiB, t = 2, p = 1), in the PHC string format
 * "$argon2id$v=19$m=19456,t=2,p=1$salt$hash".
 *
 * libargon2 is the reference implementation of the Password Hashing
 * Competition winner; OpenSSL 3.0 (Debian 12) has no Argon2.
 */
#ifndef COMMERCE_PASSWORD_H
#define COMMERCE_PASSWORD_H

#include <stddef.h>

#define PASSWORD_HASH_MAX	128

/*
 * Hashes password with a fresh 16-byte random salt into out. Returns 0, or
 * -1 on failure (out is then empty).
 */
int	password_hash(const char *password, char out[PASSWORD_HASH_MAX]);

/*
 * 1 when password matches the encoded hash, 0 when it does not or the hash
 * is malformed. Takes the same time whether or not it matches.
 */
int	password_verify(const char *password, const char *encoded);

/*
 * Spends the time of one password_verify without any account, so a login
 * for an unknown email takes as long as one with a wrong password.
 */
void	password_burn(const char *password);

#endif
