/*
 * crypto.h: hashing, encoding, randomness and sealing of secrets at rest.
 *
 * Every function is pure computation on caller-owned buffers unless it says
 * otherwise; none logs or keeps what it is given. Sizes are in bytes.
 */
#ifndef COMMERCE_CRYPTO_H
#define COMMERCE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN	20
#define SHA256_LEN	32
#define SHA512_LEN	64

enum hmac_alg {
	HMAC_SHA1,
	HMAC_SHA256,
	HMAC_SHA512,
};

/*
 * HMAC of data under key (RFC 2104). Writes the digest to out, which must
 * hold SHA512_LEN bytes. Returns the digest length, or -1 on failure.
 */
int	hmac(enum hmac_alg alg, const void *key, size_t keylen,
	    const void *data, size_t datalen, unsigned char *out);

/* SHA-256 of data into out[SHA256_LEN]. */
void	sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

/*
 * Constant-time comparison: 1 when the two buffers are equal, 0 otherwise.
 * The time depends only on the lengths, never on the contents.
 */
int	ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Overwrites a buffer in a way the compiler does not remove. */
void	wipe(void *p, size_t len);

/*
 * Lower-case hex of in into out, which must hold 2*len+1 bytes; NUL-terminated.
 */
void	hex_encode(const unsigned char *in, size_t len, char *out);

/*
 * Hex (either case) into out, which holds outcap bytes. Returns the decoded
 * length, or -1 on an odd length, a non-hex character or too small a buffer.
 */
long	hex_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/*
 * Base64 (RFC 4648 section 4, with padding) or base64url (section 5, without
 * padding) of in into out, which must hold base64_encoded_len(len)+1 bytes;
 * NUL-terminated. Returns the encoded length.
 */
size_t	base64_encoded_len(size_t len);
size_t	base64_encode(const unsigned char *in, size_t len, char *out);
size_t	base64url_encode(const unsigned char *in, size_t len, char *out);

/*
 * Decodes standard base64 (padding required) or base64url (padding
 * optional) into out, which holds outcap bytes. Rejects characters outside
 * the alphabet, whitespace and bad padding. Returns the decoded length or -1.
 */
long	base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap);
long	base64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/* Fills buf with len bytes from the OS CSPRNG. Returns 0, or -1 on failure. */
int	random_bytes(void *buf, size_t len);

/*
 * A random public identifier: prefix, '_', then 20 characters of lower-case
 * base32 (100 bits), e.g. "mer_k3x9...". out must hold RANDOM_ID_MAX bytes.
 * Returns 0, or -1 when the prefix is too long or randomness fails.
 */
#define RANDOM_ID_MAX	40
int	random_id(const char *prefix, char out[RANDOM_ID_MAX]);

/*
 * A random secret credential: prefix then base64url of 32 random bytes
 * (256 bits), e.g. "sk_..." (43 characters after the prefix). out must hold
 * RANDOM_TOKEN_MAX bytes. Returns 0 or -1.
 */
#define RANDOM_TOKEN_MAX	64
int	random_token(const char *prefix, char out[RANDOM_TOKEN_MAX]);

/* Lower-case hex SHA-256 of a string: how tokens and keys are stored. */
#define TOKEN_HASH_HEX	(SHA256_LEN * 2 + 1)
void	token_hash(const char *token, char out[TOKEN_HASH_HEX]);

/*
 * Sealing of secrets at rest with AES-256-GCM under the 32-byte master key.
 * The sealed form is text: "v1." + base64url(12-byte nonce || ciphertext ||
 * 16-byte tag). aad binds the secret to where it belongs (for example
 * "merchant:mer_x:esewa.secretKey") so a sealed value copied to another row
 * does not open. sealed_len(n) is the output size for n plaintext bytes,
 * including the NUL.
 *
 * seal: returns a malloc'd NUL-terminated string the caller frees, or NULL.
 * unseal: returns a malloc'd plaintext (NUL-terminated, *outlen excludes the
 * NUL) the caller wipes and frees, or NULL when the text is malformed, the
 * key is wrong, or the aad differs.
 */
#define MASTER_KEY_LEN	32
size_t	sealed_len(size_t plainlen);
char	*seal(const unsigned char key[MASTER_KEY_LEN], const char *aad,
	    const void *plain, size_t plainlen);
char	*unseal(const unsigned char key[MASTER_KEY_LEN], const char *aad,
	    const char *sealed, size_t *outlen);

/*
 * The AES-256-GCM primitive under seal and unseal, exposed so the unit tests
 * can check it against the published GCM test vectors; other code should use
 * seal/unseal. iv is 12 bytes, the tag 16. in and out may be the same buffer,
 * otherwise they must not overlap. len and aadlen are at most INT_MAX.
 * encrypt: writes len bytes of ciphertext to out and the tag; returns 0 or -1.
 * decrypt: writes len bytes of plaintext to out and returns 0 when the tag
 * verifies; returns -1 otherwise, and out then holds nothing usable (it is
 * wiped).
 */
#define GCM_IV_LEN	12
#define GCM_TAG_LEN	16
int	aes256gcm_encrypt(const unsigned char key[MASTER_KEY_LEN],
	    const unsigned char iv[GCM_IV_LEN], const void *aad, size_t aadlen,
	    const void *in, size_t len, unsigned char *out,
	    unsigned char tag[GCM_TAG_LEN]);
int	aes256gcm_decrypt(const unsigned char key[MASTER_KEY_LEN],
	    const unsigned char iv[GCM_IV_LEN], const void *aad, size_t aadlen,
	    const void *in, size_t len, const unsigned char tag[GCM_TAG_LEN],
	    unsigned char *out);

#endif
