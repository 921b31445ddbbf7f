/*
 * crypto.c: the primitives come from OpenSSL 3.0's libcrypto; the encodings
 * (hex, base64, base64url, base32 identifiers) are written here so their
 * strictness is ours.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "crypto.h"

#define RANDOM_PREFIX_MAX	16
#define RANDOM_ID_CHARS		20
#define RANDOM_TOKEN_BYTES	32
#define SEAL_PREFIX		"v1."
#define SEAL_PREFIX_LEN		(sizeof(SEAL_PREFIX) - 1)
#define SEAL_OVERHEAD		(GCM_IV_LEN + GCM_TAG_LEN)

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char base32_lower[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char hex_digits[] = "0123456789abcdef";

int
hmac(enum hmac_alg alg, const void *key, size_t keylen,
    const void *data, size_t datalen, unsigned char *out)
{
	static const unsigned char	 empty[1];
	const EVP_MD			*md;
	unsigned int			 outlen = 0;

	switch (alg) {
	case HMAC_SHA1:
		md = EVP_sha1();
		break;
	case HMAC_SHA256:
		md = EVP_sha256();
		break;
	case HMAC_SHA512:
		md = EVP_sha512();
		break;
	default:
		return -1;
	}
	if (keylen > INT_MAX || (key == NULL && keylen > 0) ||
	    (data == NULL && datalen > 0))
		return -1;
	if (key == NULL)
		key = empty;
	if (data == NULL)
		data = empty;
	if (HMAC(md, key, (int)keylen, data, datalen, out, &outlen) == NULL)
		return -1;
	return (int)outlen;
}

/*
 * SHA-256 cannot fail short of a broken libcrypto; rather than return a
 * digest every other input would share, that case aborts.
 */
void
sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
	static const unsigned char	empty[1];

	if (data == NULL)
		data = empty;
	if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
		abort();
}

/*
 * On a length mismatch the shorter length is still compared (against
 * itself) so the time depends only on the lengths.
 */
int
ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen) {
		(void)CRYPTO_memcmp(a, a, alen < blen ? alen : blen);
		return 0;
	}
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void
wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
hex_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	size_t	i;
	int	hi, lo;

	if (len % 2 != 0 || len / 2 > outcap || len / 2 > LONG_MAX)
		return -1;
	for (i = 0; i < len / 2; i++) {
		hi = hex_value((unsigned char)in[2 * i]);
		lo = hex_value((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			wipe(out, i);
			return -1;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

size_t
base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

static size_t
b64_encode(const unsigned char *in, size_t len, char *out,
    const char *alphabet, int pad)
{
	size_t		i, o = 0;
	uint32_t	v;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[v >> 18 & 0x3f];
		out[o++] = alphabet[v >> 12 & 0x3f];
		out[o++] = alphabet[v >> 6 & 0x3f];
		out[o++] = alphabet[v & 0x3f];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = alphabet[v >> 18 & 0x3f];
		out[o++] = alphabet[v >> 12 & 0x3f];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 0x3f];
		out[o++] = alphabet[v >> 12 & 0x3f];
		out[o++] = alphabet[v >> 6 & 0x3f];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t
base64_encode(const unsigned char *in, size_t len, char *out)
{
	return b64_encode(in, len, out, b64_std, 1);
}

size_t
base64url_encode(const unsigned char *in, size_t len, char *out)
{
	return b64_encode(in, len, out, b64_url, 0);
}

static int
b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/*
 * Padding, when present, must complete the last quantum exactly; without
 * padding (base64url only) a lone trailing character is not a quantum. The
 * bits below the last whole byte must be zero, so every byte string has
 * exactly one accepted encoding. On failure out holds nothing (it is wiped).
 */
static long
b64_decode(const char *in, size_t len, unsigned char *out, size_t outcap,
    int url)
{
	size_t		n = len, pad = 0, need, i, o = 0;
	uint32_t	acc = 0;
	int		bits = 0, v;

	while (pad < 2 && n > 0 && in[n - 1] == '=') {
		n--;
		pad++;
	}
	if (pad > 0) {
		if (len % 4 != 0 || n % 4 != 4 - pad)
			return -1;
	} else if (url ? n % 4 == 1 : n % 4 != 0)
		return -1;
	need = n / 4 * 3 + (n % 4 != 0 ? n % 4 - 1 : 0);
	if (need > outcap || need > LONG_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = b64_value((unsigned char)in[i], url)) < 0)
			goto fail;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		goto fail;
	return (long)o;
fail:
	wipe(out, o);
	return -1;
}

long
base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	return b64_decode(in, len, out, outcap, 0);
}

long
base64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	return b64_decode(in, len, out, outcap, 1);
}

int
random_bytes(void *buf, size_t len)
{
	unsigned char	*p = buf;
	size_t		 chunk;

	while (len > 0) {
		chunk = len > INT_MAX ? INT_MAX : len;
		if (RAND_bytes(p, (int)chunk) != 1)
			return -1;
		p += chunk;
		len -= chunk;
	}
	return 0;
}

/* The 20 characters take the first 100 of the 104 random bits, 5 at a time. */
int
random_id(const char *prefix, char out[RANDOM_ID_MAX])
{
	unsigned char	r[13];
	size_t		plen, i, bit;
	unsigned	v;

	out[0] = '\0';
	if (prefix == NULL ||
	    (plen = strnlen(prefix, RANDOM_PREFIX_MAX + 1)) > RANDOM_PREFIX_MAX)
		return -1;
	if (random_bytes(r, sizeof(r)) != 0)
		return -1;
	memcpy(out, prefix, plen);
	out[plen] = '_';
	for (i = 0; i < RANDOM_ID_CHARS; i++) {
		bit = 5 * i;
		v = (unsigned)r[bit / 8] << 8 | r[bit / 8 + 1];
		out[plen + 1 + i] = base32_lower[v >> (11 - bit % 8) & 0x1f];
	}
	out[plen + 1 + RANDOM_ID_CHARS] = '\0';
	return 0;
}

int
random_token(const char *prefix, char out[RANDOM_TOKEN_MAX])
{
	unsigned char	r[RANDOM_TOKEN_BYTES];
	size_t		plen;
	int		rc = -1;

	out[0] = '\0';
	if (prefix == NULL ||
	    (plen = strnlen(prefix, RANDOM_PREFIX_MAX + 1)) > RANDOM_PREFIX_MAX)
		return -1;
	if (random_bytes(r, sizeof(r)) != 0)
		goto out;
	memcpy(out, prefix, plen);
	base64url_encode(r, sizeof(r), out + plen);
	rc = 0;
out:
	wipe(r, sizeof(r));
	return rc;
}

void
token_hash(const char *token, char out[TOKEN_HASH_HEX])
{
	unsigned char	d[SHA256_LEN];

	sha256(token, strlen(token), d);
	hex_encode(d, sizeof(d), out);
}

int
aes256gcm_encrypt(const unsigned char key[MASTER_KEY_LEN],
    const unsigned char iv[GCM_IV_LEN], const void *aad, size_t aadlen,
    const void *in, size_t len, unsigned char *out,
    unsigned char tag[GCM_TAG_LEN])
{
	EVP_CIPHER_CTX	*ctx = NULL;
	unsigned char	 fin[GCM_TAG_LEN];
	int		 n, rc = -1;

	if (len > INT_MAX || aadlen > INT_MAX)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, GCM_IV_LEN,
	    NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
		goto out;
	if (aadlen > 0 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (len > 0 && (EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1 ||
	    (size_t)n != len))
		goto out;
	if (EVP_EncryptFinal_ex(ctx, fin, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, GCM_TAG_LEN,
	    tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
aes256gcm_decrypt(const unsigned char key[MASTER_KEY_LEN],
    const unsigned char iv[GCM_IV_LEN], const void *aad, size_t aadlen,
    const void *in, size_t len, const unsigned char tag[GCM_TAG_LEN],
    unsigned char *out)
{
	EVP_CIPHER_CTX	*ctx = NULL;
	unsigned char	 t[GCM_TAG_LEN], fin[GCM_TAG_LEN];
	int		 n, rc = -1;

	if (len > INT_MAX || aadlen > INT_MAX)
		return -1;
	memcpy(t, tag, sizeof(t));
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, GCM_IV_LEN,
	    NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
		goto out;
	if (aadlen > 0 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (len > 0 && (EVP_DecryptUpdate(ctx, out, &n, in, (int)len) != 1 ||
	    (size_t)n != len))
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, GCM_TAG_LEN,
	    t) != 1 || EVP_DecryptFinal_ex(ctx, fin, &n) <= 0)
		goto out;
	rc = 0;
out:
	if (rc != 0 && out != NULL)
		wipe(out, len);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Unpadded base64url length of n bytes. */
static size_t
b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 != 0 ? n % 3 + 1 : 0);
}

size_t
sealed_len(size_t plainlen)
{
	return SEAL_PREFIX_LEN + b64url_len(SEAL_OVERHEAD + plainlen) + 1;
}

char *
seal(const unsigned char key[MASTER_KEY_LEN], const char *aad,
    const void *plain, size_t plainlen)
{
	unsigned char	*raw = NULL;
	char		*text = NULL, *result = NULL;
	size_t		 rawlen;

	if (key == NULL || aad == NULL || (plain == NULL && plainlen > 0) ||
	    plainlen > INT_MAX - SEAL_OVERHEAD)
		return NULL;
	rawlen = GCM_IV_LEN + plainlen + GCM_TAG_LEN;
	if ((raw = malloc(rawlen)) == NULL ||
	    (text = malloc(sealed_len(plainlen))) == NULL)
		goto out;
	if (random_bytes(raw, GCM_IV_LEN) != 0 ||
	    aes256gcm_encrypt(key, raw, aad, strlen(aad), plain, plainlen,
	    raw + GCM_IV_LEN, raw + GCM_IV_LEN + plainlen) != 0)
		goto out;
	memcpy(text, SEAL_PREFIX, SEAL_PREFIX_LEN);
	base64url_encode(raw, rawlen, text + SEAL_PREFIX_LEN);
	result = text;
	text = NULL;
out:
	free(raw);
	free(text);
	return result;
}

char *
unseal(const unsigned char key[MASTER_KEY_LEN], const char *aad,
    const char *sealed, size_t *outlen)
{
	unsigned char	*raw = NULL;
	char		*plain = NULL, *result = NULL;
	const char	*body;
	size_t		 bodylen, cap, ptlen = 0;
	long		 rawlen;

	if (outlen != NULL)
		*outlen = 0;
	if (key == NULL || aad == NULL || sealed == NULL ||
	    strncmp(sealed, SEAL_PREFIX, SEAL_PREFIX_LEN) != 0)
		return NULL;
	body = sealed + SEAL_PREFIX_LEN;
	bodylen = strlen(body);
	cap = bodylen / 4 * 3 + 3;
	if ((raw = malloc(cap)) == NULL)
		goto out;
	rawlen = base64url_decode(body, bodylen, raw, cap);
	if (rawlen < (long)SEAL_OVERHEAD ||
	    (size_t)rawlen - SEAL_OVERHEAD > INT_MAX)
		goto out;
	ptlen = (size_t)rawlen - SEAL_OVERHEAD;
	if ((plain = malloc(ptlen + 1)) == NULL)
		goto out;
	if (aes256gcm_decrypt(key, raw, aad, strlen(aad), raw + GCM_IV_LEN,
	    ptlen, raw + GCM_IV_LEN + ptlen, (unsigned char *)plain) != 0)
		goto out;
	plain[ptlen] = '\0';
	if (outlen != NULL)
		*outlen = ptlen;
	result = plain;
	plain = NULL;
out:
	if (plain != NULL) {
		wipe(plain, ptlen + 1);
		free(plain);
	}
	free(raw);
	return result;
}
