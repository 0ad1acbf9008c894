/*
 * test_codec.c: include/codec.h as got/want tables. The RFC 4648 section 10
 * vectors both ways, then the decoder's rules per flag (FWS for DKIM tags,
 * mandatory padding for SASL, optional padding for webhook keys), the
 * capacity bound, and the hex and alphabet lookups over all 256 bytes.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#include "rfc4648_vectors.h"
#include "unit.h"

/* want: the decoded text, or NULL when the input must be refused. */
static const struct {
	const char *in;
	unsigned flags;
	const char *want;
} decode_cases[] = {
    /* padding optional without NEED_PAD (webhook keys, DKIM) */
    {"Zg", 0, "f"},
    {"Zm8", 0, "fo"},
    {"Zg==", 0, "f"},
    {"Zm8=", 0, "fo"},
    /* padding mandatory with NEED_PAD (SASL, RFC 4954 section 4) */
    {"Zg", CODEC_B64_NEED_PAD, NULL},
    {"Zm8", CODEC_B64_NEED_PAD, NULL},
    {"Zm9v", CODEC_B64_NEED_PAD, "foo"},
    {"", CODEC_B64_NEED_PAD, ""},
    /* padding that does not complete the quantum, or too much of it */
    {"Zg=", 0, NULL},
    {"Zm8==", 0, NULL},
    {"Zm9v=", 0, NULL},
    {"Zm9v==", CODEC_B64_NEED_PAD, NULL},
    {"Z===", 0, NULL},
    {"====", 0, NULL},
    /* a lone final character carries no whole byte */
    {"Z", 0, NULL},
    {"Zm9vY", 0, NULL},
    /* data after padding */
    {"Zg==Zg==", 0, NULL},
    {"Zm8=v", 0, NULL},
    /* outside the alphabet: URL-safe characters, spaces without the flag */
    {"Zm-v", 0, NULL},
    {"Zm_v", 0, NULL},
    {"Zm9 v", 0, NULL},
    {"Zm9v\n", 0, NULL},
    /* FWS anywhere with SKIP_FWS (RFC 6376 section 2.4), padding included */
    {" Zm9v\r\n\tYmFy ", CODEC_B64_SKIP_FWS, "foobar"},
    {"Zm 8 =", CODEC_B64_SKIP_FWS, "fo"},
    {"Zg= =", CODEC_B64_SKIP_FWS, "f"},
    {"Zg==\r\n Zg", CODEC_B64_SKIP_FWS, NULL},
    {"Zm9v\f", CODEC_B64_SKIP_FWS, NULL},
    {"+/+/", 0, "\xfb\xff\xbf"},
};

static void test_rfc4648(void)
{
	for (size_t i = 0; i < RFC4648_N_VECTORS; i++) {
		const char *p = rfc4648_vectors[i].plain, *b = rfc4648_vectors[i].b64;
		char enc[16];
		unsigned char dec[16];
		size_t n = 99;

		CHECK_INT(codec_b64_encoded_len(strlen(p)), strlen(b));
		CHECK_INT(codec_b64_encode((const unsigned char *)p, strlen(p), enc), strlen(b));
		CHECK_STR(enc, b);
		for (unsigned flags = 0; flags < 4; flags++) {
			CHECK_INT(codec_b64_decode(b, strlen(b), dec, sizeof(dec), &n, flags), 0);
			CHECK_INT(n, strlen(p));
			CHECK(memcmp(dec, p, n) == 0);
		}
	}
}

static void test_decode_rules(void)
{
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const char *in = decode_cases[i].in, *want = decode_cases[i].want;
		unsigned char out[32];
		size_t n = 0;
		int rc =
		    codec_b64_decode(in, strlen(in), out, sizeof(out), &n, decode_cases[i].flags);

		if (!want) {
			if (rc != -1)
				fprintf(stderr, "case %zu \"%s\" accepted\n", i, in);
			CHECK_INT(rc, -1);
			continue;
		}
		if (rc != 0)
			fprintf(stderr, "case %zu \"%s\" refused\n", i, in);
		CHECK_INT(rc, 0);
		CHECK_INT(n, strlen(want));
		CHECK(rc == 0 && memcmp(out, want, n) == 0);
	}
}

/* The output bound is exact: one byte short is refused, never overrun. */
static void test_capacity(void)
{
	unsigned char out[8];
	size_t n = 0;

	memset(out, 0xaa, sizeof(out));
	CHECK_INT(codec_b64_decode("Zm9vYmFy", 8, out, 6, &n, 0), 0);
	CHECK_INT(n, 6);
	CHECK_INT(codec_b64_decode("Zm9vYmFy", 8, out, 5, &n, 0), -1);
	CHECK_INT(codec_b64_decode("Zm9vYmE=", 8, out, 4, &n, 0), -1);
	CHECK_INT(codec_b64_decode("Zm9vYmE", 7, out, 4, &n, 0), -1);
	CHECK_INT(codec_b64_decode("Zm9vYmE", 7, out, 5, &n, 0), 0);
	CHECK_INT(n, 5);
	CHECK_INT(out[6], 0xaa);
	/* len bounds the read: the rest of the string is not looked at */
	CHECK_INT(codec_b64_decode("Zm9v!!!!", 4, out, sizeof(out), &n, 0), 0);
	CHECK_INT(n, 3);
}

/* Every byte value through all 64 sextets and back, including 0x00 and 0xff. */
static void test_round_trip(void)
{
	unsigned char in[256], back[256];
	char enc[4 * 86 + 1];
	size_t n = 0;

	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	for (size_t len = 0; len <= sizeof(in); len += 37) {
		size_t elen = codec_b64_encode(in, len, enc);
		CHECK_INT(elen, codec_b64_encoded_len(len));
		CHECK_INT(codec_b64_decode(enc, elen, back, sizeof(back), &n, CODEC_B64_NEED_PAD),
		          0);
		CHECK_INT(n, len);
		CHECK(memcmp(back, in, len) == 0);
	}
}

static void test_lookups(void)
{
	const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int bad_b64 = 0, bad_hex = 0;

	for (int c = 0; c < 256; c++) {
		const char *p = c ? strchr(alpha, c) : NULL;
		if (codec_b64_value((unsigned char)c) != (p ? (int)(p - alpha) : -1))
			bad_b64++;
		const char *hex = "0123456789abcdef", *HEX = "0123456789ABCDEF";
		const char *h = c ? strchr(hex, c) : NULL, *H = c ? strchr(HEX, c) : NULL;
		int want = h ? (int)(h - hex) : H ? (int)(H - HEX) : -1;
		if (codec_hex_value((unsigned char)c) != want)
			bad_hex++;
	}
	CHECK_INT(bad_b64, 0);
	CHECK_INT(bad_hex, 0);
	for (uint32_t v = 0; v < 64; v++)
		CHECK_INT(codec_b64_char(v), alpha[v]);
	CHECK_INT(codec_b64_char(64 + 5), 'F'); /* only the low six bits count */
}

int main(void)
{
	test_rfc4648();
	test_decode_rules();
	test_capacity();
	test_round_trip();
	test_lookups();
	return UNIT_END("codec");
}
