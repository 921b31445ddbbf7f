/*
 * Unit tests for shared/crypto.c, against published vectors where they
 * exist: RFC 2202 and RFC 4231 (HMAC), RFC 4648 (base64), FIPS 180-2 (SHA-256)
 * and McGrew and Viega's GCM specification (AES-256-GCM).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "unit.h"

/* Test input: len bytes of text, or len copies of fill when text is NULL. */
struct blob {
	const char	*text;
	int		 fill;
	size_t		 len;
};

#define TEXT(s)		{ s, 0, sizeof(s) - 1 }
#define FILL(b, n)	{ NULL, b, n }

static void
blob_bytes(const struct blob *b, unsigned char *out)
{
	if (b->text != NULL)
		memcpy(out, b->text, b->len);
	else
		memset(out, b->fill, b->len);
}

static char *
hex_of(const unsigned char *in, size_t len)
{
	static char	buf[2 * 256 + 1];

	hex_encode(in, len, buf);
	return buf;
}

static const struct blob rfc_key_0102 =
    TEXT("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
	"\x11\x12\x13\x14\x15\x16\x17\x18\x19");

/* RFC 2202 section 3, test cases 1-7. */
static const struct {
	struct blob	 key, data;
	const char	*sha1;
} rfc2202[] = {
	{ FILL(0x0b, 20), TEXT("Hi There"),
	  "b617318655057264e28bc0b6fb378c8ef146be00" },
	{ TEXT("Jefe"), TEXT("what do ya want for nothing?"),
	  "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
	{ FILL(0xaa, 20), FILL(0xdd, 50),
	  "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
	{ { NULL, 0, 0 }, FILL(0xcd, 50),
	  "4c9007f4026250c6bc8414f9bf50c86c2d7235da" },
	{ FILL(0x0c, 20), TEXT("Test With Truncation"),
	  "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
	{ FILL(0xaa, 80),
	  TEXT("Test Using Larger Than Block-Size Key - Hash Key First"),
	  "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
	{ FILL(0xaa, 80),
	  TEXT("Test Using Larger Than Block-Size Key and Larger Than One "
	      "Block-Size Data"),
	  "e8e99d0f45237d786d6bbaa7965c7808bbff1a91" },
};

/*
 * RFC 4231 section 4, test cases 1-7. Case 5's published outputs are
 * truncated to 128 bits, so only that prefix is compared.
 */
static const struct {
	struct blob	 key, data;
	const char	*sha256, *sha512;
} rfc4231[] = {
	{ FILL(0x0b, 20), TEXT("Hi There"),
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
	{ TEXT("Jefe"), TEXT("what do ya want for nothing?"),
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	{ FILL(0xaa, 20), FILL(0xdd, 50),
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	  "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	  "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
	{ { NULL, 0, 0 }, FILL(0xcd, 50),
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	  "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	  "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
	{ FILL(0x0c, 20), TEXT("Test With Truncation"),
	  "a3b6167473100ee06e0c796c2955552b",
	  "415fad6271580a531d4179bc891d87a6" },
	{ FILL(0xaa, 131),
	  TEXT("Test Using Larger Than Block-Size Key - Hash Key First"),
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
	{ FILL(0xaa, 131),
	  TEXT("This is a test using a larger than block-size key and a larger "
	      "than block-size data. The key needs to be hashed before being "
	      "used by the HMAC algorithm."),
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	  "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	  "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
};

/* Runs one HMAC vector; want may be a prefix (a truncated published MAC). */
static void
check_hmac(enum hmac_alg alg, int outlen, const struct blob *kb,
    const struct blob *db, const char *want, size_t i)
{
	unsigned char	key[256], data[256], mac[SHA512_LEN];
	const char	*got;

	if (kb->text == NULL && kb->len == 0)
		kb = &rfc_key_0102;
	blob_bytes(kb, key);
	blob_bytes(db, data);
	memset(mac, 0, sizeof(mac));
	CHECK_INT(hmac(alg, key, kb->len, data, db->len, mac), outlen);
	got = hex_of(mac, (size_t)outlen);
	if (strncmp(got, want, strlen(want)) != 0)
		unit_fail(__FILE__, __LINE__, "alg %d case %zu: %s, want %s",
		    (int)alg, i + 1, got, want);
}

UNIT_TEST(crypto_hmac_sha1_rfc2202)
{
	size_t	i;

	for (i = 0; i < NELEM(rfc2202); i++)
		check_hmac(HMAC_SHA1, SHA1_LEN, &rfc2202[i].key,
		    &rfc2202[i].data, rfc2202[i].sha1, i);
}

UNIT_TEST(crypto_hmac_sha256_rfc4231)
{
	size_t	i;

	for (i = 0; i < NELEM(rfc4231); i++)
		check_hmac(HMAC_SHA256, SHA256_LEN, &rfc4231[i].key,
		    &rfc4231[i].data, rfc4231[i].sha256, i);
}

UNIT_TEST(crypto_hmac_sha512_rfc4231)
{
	size_t	i;

	for (i = 0; i < NELEM(rfc4231); i++)
		check_hmac(HMAC_SHA512, SHA512_LEN, &rfc4231[i].key,
		    &rfc4231[i].data, rfc4231[i].sha512, i);
}

UNIT_TEST(crypto_hmac_bad_alg_and_empty_key)
{
	unsigned char	mac[SHA512_LEN];

	CHECK_INT(hmac((enum hmac_alg)99, "k", 1, "d", 1, mac), -1);
	CHECK_INT(hmac(HMAC_SHA256, NULL, 5, "d", 1, mac), -1);
	/* HMAC-SHA256 with an empty key of an empty message. */
	CHECK_INT(hmac(HMAC_SHA256, NULL, 0, NULL, 0, mac), SHA256_LEN);
	CHECK_STR(hex_of(mac, SHA256_LEN),
	    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

UNIT_TEST(crypto_sha256_fips180)
{
	unsigned char	d[SHA256_LEN];
	char		hex[TOKEN_HASH_HEX];

	sha256("abc", 3, d);
	CHECK_STR(hex_of(d, sizeof(d)),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256("", 0, d);
	CHECK_STR(hex_of(d, sizeof(d)),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	CHECK_STR(hex_of(d, sizeof(d)),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	token_hash("abc", hex);
	CHECK_STR(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

UNIT_TEST(crypto_ct_equal)
{
	static const struct {
		const char	*a, *b;
		size_t		 alen, blen;
		int		 want;
	} cases[] = {
		{ "secret", "secret", 6, 6, 1 },
		{ "secret", "secreu", 6, 6, 0 },
		{ "secret", "Secret", 6, 6, 0 },
		{ "secret", "secret!", 6, 7, 0 },
		{ "secret!", "secret", 7, 6, 0 },
		{ "secret", "", 6, 0, 0 },
		{ "", "", 0, 0, 1 },
		{ "a\0b", "a\0c", 3, 3, 0 },
		{ "a\0b", "a\0b", 3, 3, 1 },
	};
	size_t	i;

	for (i = 0; i < NELEM(cases); i++)
		if (ct_equal(cases[i].a, cases[i].alen, cases[i].b,
		    cases[i].blen) != cases[i].want)
			unit_fail(__FILE__, __LINE__, "ct_equal case %zu", i);
	CHECK_INT(ct_equal(NULL, 0, NULL, 0), 1);
}

UNIT_TEST(crypto_wipe)
{
	unsigned char	buf[8] = "abcdefg";
	size_t		i;
	int		zero = 1;

	wipe(buf, sizeof(buf));
	for (i = 0; i < sizeof(buf); i++)
		zero &= buf[i] == 0;
	CHECK(zero);
	wipe(NULL, 0);
}

UNIT_TEST(crypto_hex)
{
	static const struct {
		const char	*in;
		long		 want;
	} bad[] = {
		{ "0", -1 }, { "abc", -1 }, { "0g", -1 }, { "g0", -1 },
		{ " 00", -1 }, { "00 ", -1 }, { "0x00", -1 }, { "zz", -1 },
		{ "00\n", -1 }, { "-1", -1 },
	};
	unsigned char	all[256], back[256], small[1];
	char		hex[2 * 256 + 1];
	size_t		i;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	hex_encode(all, sizeof(all), hex);
	CHECK_INT(strlen(hex), 512);
	CHECK(strncmp(hex, "000102", 6) == 0);
	CHECK(strcmp(hex + 506, "fdfeff") == 0);
	CHECK_INT(hex_decode(hex, strlen(hex), back, sizeof(back)), 256);
	CHECK(memcmp(all, back, sizeof(all)) == 0);

	CHECK_INT(hex_decode("00FFaB", 6, back, sizeof(back)), 3);
	CHECK(back[0] == 0x00 && back[1] == 0xff && back[2] == 0xab);
	CHECK_INT(hex_decode("", 0, back, sizeof(back)), 0);
	hex_encode(all, 0, hex);
	CHECK_STR(hex, "");

	for (i = 0; i < NELEM(bad); i++)
		if (hex_decode(bad[i].in, strlen(bad[i].in), back,
		    sizeof(back)) != bad[i].want)
			unit_fail(__FILE__, __LINE__, "hex_decode(\"%s\")",
			    bad[i].in);
	CHECK_INT(hex_decode("0011", 4, small, sizeof(small)), -1);
	CHECK_INT(hex_decode("00", 2, small, sizeof(small)), 1);
}

/* RFC 4648 section 10. */
static const struct {
	const char	*plain, *b64, *b64url;
} rfc4648[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

UNIT_TEST(crypto_base64_rfc4648)
{
	unsigned char	buf[16];
	char		enc[16];
	size_t		i, n;
	long		got;

	for (i = 0; i < NELEM(rfc4648); i++) {
		n = strlen(rfc4648[i].plain);
		CHECK_INT(base64_encoded_len(n), strlen(rfc4648[i].b64));
		CHECK_INT(base64_encode((const unsigned char *)rfc4648[i].plain,
		    n, enc), strlen(rfc4648[i].b64));
		CHECK_STR(enc, rfc4648[i].b64);
		CHECK_INT(base64url_encode((const unsigned char *)
		    rfc4648[i].plain, n, enc), strlen(rfc4648[i].b64url));
		CHECK_STR(enc, rfc4648[i].b64url);

		got = base64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64),
		    buf, sizeof(buf));
		CHECK_INT(got, n);
		CHECK(got >= 0 && memcmp(buf, rfc4648[i].plain, n) == 0);
		/* base64url takes the same text unpadded or padded. */
		got = base64url_decode(rfc4648[i].b64url,
		    strlen(rfc4648[i].b64url), buf, sizeof(buf));
		CHECK_INT(got, n);
		CHECK(got >= 0 && memcmp(buf, rfc4648[i].plain, n) == 0);
		got = base64url_decode(rfc4648[i].b64, strlen(rfc4648[i].b64),
		    buf, sizeof(buf));
		CHECK_INT(got, n);
		CHECK(got >= 0 && memcmp(buf, rfc4648[i].plain, n) == 0);
	}
}

UNIT_TEST(crypto_base64url_alphabet)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		const char	*b64, *b64url;
	} cases[] = {
		{ "\xfb\xff\xbf", 3, "+/+/", "-_-_" },
		{ "\xfb\xf0", 2, "+/A=", "-_A" },
		{ "\xff", 1, "/w==", "_w" },
		{ "\x3e\x3f\xff\xfe", 4, "Pj///g==", "Pj___g" },
	};
	unsigned char	buf[8];
	char		enc[16];
	size_t		i;

	for (i = 0; i < NELEM(cases); i++) {
		const unsigned char *b = (const unsigned char *)cases[i].bytes;

		base64_encode(b, cases[i].len, enc);
		CHECK_STR(enc, cases[i].b64);
		base64url_encode(b, cases[i].len, enc);
		CHECK_STR(enc, cases[i].b64url);
		CHECK_INT(base64_decode(cases[i].b64, strlen(cases[i].b64),
		    buf, sizeof(buf)), cases[i].len);
		CHECK(memcmp(buf, b, cases[i].len) == 0);
		CHECK_INT(base64url_decode(cases[i].b64url,
		    strlen(cases[i].b64url), buf, sizeof(buf)), cases[i].len);
		CHECK(memcmp(buf, b, cases[i].len) == 0);
		/* Each alphabet refuses the other's two characters. */
		CHECK_INT(base64_decode(cases[i].b64url,
		    strlen(cases[i].b64url), buf, sizeof(buf)), -1);
		CHECK_INT(base64url_decode(cases[i].b64, strlen(cases[i].b64),
		    buf, sizeof(buf)), -1);
	}
}

UNIT_TEST(crypto_base64_invalid)
{
	static const struct {
		const char	*in;
		int		 std_ok, url_ok;
	} cases[] = {
		{ "Zg", 0, 1 },		/* standard requires padding */
		{ "Zm8", 0, 1 },
		{ "Zg=", 0, 0 },	/* incomplete padding */
		{ "Zm8==", 0, 0 },	/* too much padding */
		{ "Zm9vY===", 0, 0 },
		{ "Z", 0, 0 },		/* a lone character */
		{ "Zm9vY", 0, 0 },
		{ "Z===", 0, 0 },
		{ "====", 0, 0 },
		{ "=", 0, 0 },
		{ "Zg==Zg==", 0, 0 },	/* '=' in the middle */
		{ "Zm=v", 0, 0 },
		{ "Zm9v ", 0, 0 },	/* whitespace anywhere */
		{ "Zm 9v", 0, 0 },
		{ " Zm9v", 0, 0 },
		{ "Zm9v\n", 0, 0 },
		{ "Zm9v\r\nYmFy", 0, 0 },
		{ "Zm\t9v", 0, 0 },
		{ "Zm9*", 0, 0 },	/* outside both alphabets */
		{ "Zm9.", 0, 0 },
		{ "Zm9\x80", 0, 0 },
		{ "Zh==", 0, 0 },	/* non-zero bits after the last byte */
		{ "Zm9=", 0, 0 },
		{ "Zh", 0, 0 },
	};
	unsigned char	buf[16];
	size_t		i;
	long		got;

	for (i = 0; i < NELEM(cases); i++) {
		got = base64_decode(cases[i].in, strlen(cases[i].in), buf,
		    sizeof(buf));
		if ((got >= 0) != cases[i].std_ok)
			unit_fail(__FILE__, __LINE__,
			    "base64_decode(\"%s\") == %ld", cases[i].in, got);
		got = base64url_decode(cases[i].in, strlen(cases[i].in), buf,
		    sizeof(buf));
		if ((got >= 0) != cases[i].url_ok)
			unit_fail(__FILE__, __LINE__,
			    "base64url_decode(\"%s\") == %ld", cases[i].in, got);
	}
	/* An embedded NUL counts as a character, and a bad one. */
	CHECK_INT(base64_decode("Zm\0v", 4, buf, sizeof(buf)), -1);
	/* Too small an output buffer. */
	CHECK_INT(base64_decode("Zm9vYmFy", 8, buf, 5), -1);
	CHECK_INT(base64_decode("Zm9vYmFy", 8, buf, 6), 6);
	CHECK_INT(base64url_decode("Zm9vYmE", 7, buf, 4), -1);
	CHECK_INT(base64url_decode("Zm9vYmE", 7, buf, 5), 5);
}

UNIT_TEST(crypto_base64_round_trip)
{
	unsigned char	in[64], out[64];
	char		enc[2 * 64];
	size_t		n;
	int		ok = 1;

	CHECK(random_bytes(in, sizeof(in)) == 0);
	for (n = 0; n <= sizeof(in); n++) {
		base64_encode(in, n, enc);
		ok &= base64_decode(enc, strlen(enc), out, sizeof(out)) ==
		    (long)n && memcmp(in, out, n) == 0;
		base64url_encode(in, n, enc);
		ok &= base64url_decode(enc, strlen(enc), out, sizeof(out)) ==
		    (long)n && memcmp(in, out, n) == 0;
	}
	CHECK(ok);
}

UNIT_TEST(crypto_random_bytes)
{
	unsigned char	a[32], b[32];

	CHECK_INT(random_bytes(a, sizeof(a)), 0);
	CHECK_INT(random_bytes(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK_INT(random_bytes(a, 0), 0);
}

UNIT_TEST(crypto_random_id)
{
	char	a[RANDOM_ID_MAX], b[RANDOM_ID_MAX];
	int	seen[32] = { 0 }, i, all = 1;
	size_t	j;

	CHECK_INT(random_id("mer", a), 0);
	CHECK_INT(random_id("mer", b), 0);
	CHECK_INT(strlen(a), 3 + 1 + 20);
	CHECK(strncmp(a, "mer_", 4) == 0);
	CHECK(strspn(a + 4, "abcdefghijklmnopqrstuvwxyz234567") == 20);
	CHECK(strcmp(a, b) != 0);

	/* Every base32 character turns up, in every position taken together. */
	for (i = 0; i < 300; i++) {
		CHECK_INT(random_id("x", a), 0);
		for (j = 2; a[j] != '\0'; j++) {
			const char *p = strchr("abcdefghijklmnopqrstuvwxyz234567",
			    a[j]);

			if (p != NULL)
				seen[p - "abcdefghijklmnopqrstuvwxyz234567"]++;
		}
	}
	for (i = 0; i < 32; i++)
		all &= seen[i] > 0;
	CHECK(all);

	CHECK_INT(random_id("abcdefghijklmnop", a), 0);
	CHECK_INT(strlen(a), 16 + 1 + 20);
	CHECK_INT(random_id("abcdefghijklmnopq", a), -1);
	CHECK_STR(a, "");
	CHECK_INT(random_id(NULL, a), -1);
	CHECK_INT(random_id("", a), 0);
	CHECK_INT(strlen(a), 21);
}

UNIT_TEST(crypto_random_token)
{
	char		a[RANDOM_TOKEN_MAX], b[RANDOM_TOKEN_MAX];
	unsigned char	raw[64];

	CHECK_INT(random_token("sk_", a), 0);
	CHECK_INT(random_token("sk_", b), 0);
	CHECK_INT(strlen(a), 3 + 43);
	CHECK(strncmp(a, "sk_", 3) == 0);
	CHECK(strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == 43);
	CHECK_INT(base64url_decode(a + 3, 43, raw, sizeof(raw)), 32);
	CHECK(strcmp(a, b) != 0);

	CHECK_INT(random_token("abcdefghijklmnop", a), 0);
	CHECK_INT(strlen(a), 16 + 43);
	CHECK_INT(random_token("abcdefghijklmnopq", a), -1);
	CHECK_STR(a, "");
	CHECK_INT(random_token(NULL, a), -1);
}

/*
 * The GCM specification (McGrew and Viega, 2005), AES-256 test cases 13, 14
 * and 16 (96-bit IVs; case 16 also has AAD).
 */
static const struct {
	const char	*key, *iv, *plain, *aad, *cipher, *tag;
} gcm_vectors[] = {
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000",
	  "00000000000000000000000000000000", "",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static size_t
unhex(const char *hex, unsigned char *out, size_t cap)
{
	long	n = hex_decode(hex, strlen(hex), out, cap);

	CHECK(n >= 0);
	return n < 0 ? 0 : (size_t)n;
}

UNIT_TEST(crypto_aes256gcm_vectors)
{
	unsigned char	key[32], iv[12], plain[64], aad[32], want[64];
	unsigned char	got[64], tag[GCM_TAG_LEN], wanttag[GCM_TAG_LEN];
	size_t		i, plen, alen;

	for (i = 0; i < NELEM(gcm_vectors); i++) {
		CHECK_INT(unhex(gcm_vectors[i].key, key, sizeof(key)), 32);
		CHECK_INT(unhex(gcm_vectors[i].iv, iv, sizeof(iv)), 12);
		plen = unhex(gcm_vectors[i].plain, plain, sizeof(plain));
		alen = unhex(gcm_vectors[i].aad, aad, sizeof(aad));
		CHECK_INT(unhex(gcm_vectors[i].cipher, want, sizeof(want)),
		    plen);
		CHECK_INT(unhex(gcm_vectors[i].tag, wanttag, sizeof(wanttag)),
		    16);

		CHECK_INT(aes256gcm_encrypt(key, iv, aad, alen, plain, plen,
		    got, tag), 0);
		CHECK_STR(hex_of(got, plen), gcm_vectors[i].cipher);
		CHECK_STR(hex_of(tag, sizeof(tag)), gcm_vectors[i].tag);

		memset(got, 0, sizeof(got));
		CHECK_INT(aes256gcm_decrypt(key, iv, aad, alen, want, plen,
		    wanttag, got), 0);
		CHECK(memcmp(got, plain, plen) == 0);

		wanttag[15] ^= 1;
		CHECK_INT(aes256gcm_decrypt(key, iv, aad, alen, want, plen,
		    wanttag, got), -1);
		wanttag[15] ^= 1;
		if (alen > 0)
			CHECK_INT(aes256gcm_decrypt(key, iv, aad, alen - 1,
			    want, plen, wanttag, got), -1);
	}
}

UNIT_TEST(crypto_aes256gcm_in_place)
{
	unsigned char	key[32], iv[12], buf[60], plain[60], tag[16];

	CHECK_INT(unhex(gcm_vectors[2].key, key, sizeof(key)), 32);
	CHECK_INT(unhex(gcm_vectors[2].iv, iv, sizeof(iv)), 12);
	CHECK_INT(unhex(gcm_vectors[2].plain, plain, sizeof(plain)), 60);
	memcpy(buf, plain, sizeof(buf));
	CHECK_INT(aes256gcm_encrypt(key, iv, "x", 1, buf, sizeof(buf), buf,
	    tag), 0);
	CHECK(memcmp(buf, plain, sizeof(buf)) != 0);
	CHECK_INT(aes256gcm_decrypt(key, iv, "x", 1, buf, sizeof(buf), tag,
	    buf), 0);
	CHECK(memcmp(buf, plain, sizeof(buf)) == 0);
}

static const unsigned char seal_key[MASTER_KEY_LEN] =
    "0123456789abcdef0123456789abcdef";
static const char seal_aad[] = "merchant:mer_x:esewa.secretKey";

UNIT_TEST(crypto_seal_round_trip)
{
	static const char	*plains[] = {
		"", "s", "8gBm/:&EnhH.1/q", "a secret of a length over one block",
	};
	char	*s, *t, *p;
	size_t	i, n;

	for (i = 0; i < NELEM(plains); i++) {
		n = strlen(plains[i]);
		s = seal(seal_key, seal_aad, plains[i], n);
		CHECK(s != NULL);
		if (s == NULL)
			continue;
		CHECK(strncmp(s, "v1.", 3) == 0);
		CHECK_INT(strlen(s) + 1, sealed_len(n));
		CHECK(strspn(s + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(s) - 3);
		p = unseal(seal_key, seal_aad, s, &n);
		CHECK_STR(p, plains[i]);
		CHECK_INT(n, strlen(plains[i]));
		t = seal(seal_key, seal_aad, plains[i], strlen(plains[i]));
		CHECK(t != NULL && strcmp(s, t) != 0);
		if (p != NULL)
			wipe(p, n);
		free(p);
		free(s);
		free(t);
	}
}

UNIT_TEST(crypto_seal_binary)
{
	static const unsigned char	bin[] = { 0, 1, 0, 0xff, 0x80, 0 };
	char				*s, *p;
	size_t				 n = 99;

	s = seal(seal_key, "", bin, sizeof(bin));
	CHECK(s != NULL);
	p = unseal(seal_key, "", s, &n);
	CHECK(p != NULL);
	CHECK_INT(n, sizeof(bin));
	CHECK(p != NULL && memcmp(p, bin, sizeof(bin)) == 0 && p[n] == '\0');
	free(p);
	free(s);
}

/* Replaces the character at i with a different one of the alphabet. */
static void
flip_char(char *s, size_t i)
{
	s[i] = s[i] == 'A' ? 'B' : 'A';
}

UNIT_TEST(crypto_unseal_rejects)
{
	unsigned char	other_key[MASTER_KEY_LEN];
	char		*s, *bad, *p;
	size_t		n, len;

	s = seal(seal_key, seal_aad, "hunter2-hunter2", 15);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	len = strlen(s);
	bad = malloc(len + 8);
	CHECK(bad != NULL);
	if (bad == NULL) {
		free(s);
		return;
	}

	memcpy(other_key, seal_key, sizeof(other_key));
	other_key[31] ^= 0x01;
	n = 7;
	CHECK(unseal(other_key, seal_aad, s, &n) == NULL);
	CHECK_INT(n, 0);
	CHECK(unseal(seal_key, "merchant:mer_y:esewa.secretKey", s, &n) ==
	    NULL);
	CHECK(unseal(seal_key, "", s, &n) == NULL);

	/* One changed byte in the nonce, the ciphertext and the tag. */
	memcpy(bad, s, len + 1);
	flip_char(bad, 5);
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	memcpy(bad, s, len + 1);
	flip_char(bad, 3 + 16 + 4);
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	memcpy(bad, s, len + 1);
	flip_char(bad, len - 3);
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);

	/* Truncated: by a character, a quantum, to the bare minimum. */
	memcpy(bad, s, len + 1);
	bad[len - 1] = '\0';
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	bad[len - 4] = '\0';
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	CHECK(unseal(seal_key, seal_aad, "v1.", &n) == NULL);
	CHECK(unseal(seal_key, seal_aad, "v1.AAAA", &n) == NULL);
	CHECK(unseal(seal_key, seal_aad, "", &n) == NULL);

	/* The version prefix. */
	memcpy(bad, s, len + 1);
	bad[1] = '2';
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	memcpy(bad, s, len + 1);
	bad[0] = 'V';
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	CHECK(unseal(seal_key, seal_aad, s + 3, &n) == NULL);
	memcpy(bad, s, len + 1);
	bad[2] = ':';
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);

	/* Extra characters, whitespace, standard base64. */
	memcpy(bad, s, len + 1);
	strcat(bad, "A");
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);
	memcpy(bad, s, len + 1);
	strcat(bad, "\n");
	CHECK(unseal(seal_key, seal_aad, bad, &n) == NULL);

	p = unseal(seal_key, seal_aad, s, &n);
	CHECK_STR(p, "hunter2-hunter2");
	CHECK_INT(n, 15);
	free(p);
	free(bad);
	free(s);
}

UNIT_TEST(crypto_sealed_len)
{
	/* "v1." + base64url of 12 + n + 16 bytes, unpadded, + NUL. */
	CHECK_INT(sealed_len(0), 3 + 38 + 1);
	CHECK_INT(sealed_len(1), 3 + 39 + 1);
	CHECK_INT(sealed_len(2), 3 + 40 + 1);
	CHECK_INT(sealed_len(3), 3 + 42 + 1);
}
