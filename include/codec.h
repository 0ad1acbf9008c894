/*
 * codec.h: the one base64 (RFC 4648 sections 3.2, 3.3 and 4) and hex helper
 * set of smtp-gateway: SASL (RFC 4954 section 4), DKIM tags (RFC 6376
 * section 2.4), webhook keys and signatures (Standard Webhooks 1.0.0), TOML
 * escapes, MIME quoted-printable and encoded-words (RFC 2045 6.7, RFC 2047).
 *
 * Header-only (static inline) on purpose: several module libraries and the
 * fuzz targets compile their sources without linking routes_lib, and MIME
 * calls the lookups per byte on its hot path. Pure functions over caller
 * buffers: no allocation, no globals, no I/O. One decoder with flags rather
 * than one per caller, so that padding and alphabet rules live in one place.
 * The streaming, forgiving MIME base64 decoder (RFC 2045 section 6.8: junk
 * skipped, '=' ends the data) stays in gateway/mime on purpose.
 *
 * Must never: write past the capacity it is given, read past len, or accept
 * a character outside the alphabet (other than the FWS a flag allows).
 */
#ifndef CODEC_H
#define CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The character of sextet v & 63 in the RFC 4648 section 4 alphabet. */
static inline char codec_b64_char(uint32_t v)
{
	return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[v & 63];
}

/* Value of a hex digit (either case), or -1. */
static inline int codec_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Value of a base64 character of the standard alphabet, or -1 (also for
 * '='). A table: DKIM's b= and bh= values (RFC 6376 section 3.5) are decoded
 * on every signed message, and a chain of range tests cost a branch per
 * character.
 */
static inline int codec_b64_value(unsigned char c)
{
	static const unsigned char value_plus_one[256] = {
	    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
	    ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	    ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	    ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	    ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	    ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	    ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	    ['/'] = 64,
	};
	return (int)value_plus_one[c] - 1;
}

/* Flags of codec_b64_decode. */
enum {
	/* Skip SP, HTAB, CR and LF anywhere (RFC 6376 section 2.4: FWS in b=, bh=, p=). */
	CODEC_B64_SKIP_FWS = 1 << 0,
	/* Require the last quantum padded to 4 (RFC 4648 section 3.2; SASL, RFC 4954 section 4). */
	CODEC_B64_NEED_PAD = 1 << 1,
};

/* Length of the padded encoding of n bytes, without the NUL. */
static inline size_t codec_b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/*
 * Padded base64 of in[0..n) into out, NUL-terminated; out must hold
 * codec_b64_encoded_len(n) + 1. Returns the length written (without NUL).
 */
static inline size_t codec_b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = codec_b64_char(v >> 18);
		out[o++] = codec_b64_char(v >> 12);
		out[o++] = i + 1 < n ? codec_b64_char(v >> 6) : '=';
		out[o++] = i + 2 < n ? codec_b64_char(v) : '=';
	}
	out[o] = '\0';
	return o;
}

static inline bool codec_is_fws_(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* rem sextets left in acc (2 or 3) give rem - 1 bytes; the low bits are dropped. */
static inline int codec_put_tail_(uint32_t acc, size_t rem, unsigned char *out, size_t cap,
                                  size_t *o)
{
	if (rem == 0)
		return 0;
	if (*o + rem - 1 > cap)
		return -1;
	acc <<= 6 * (4 - rem);
	out[(*o)++] = (unsigned char)(acc >> 16);
	if (rem == 3)
		out[(*o)++] = (unsigned char)(acc >> 8);
	return 0;
}

/*
 * Strict base64 of s[0..len) into out (at most cap bytes), length in
 * *outlen. Rejects characters outside the alphabet, data after '=', more
 * than two '=', padding that does not complete the last quantum, and a lone
 * final character. Without CODEC_B64_NEED_PAD an unpadded last quantum is
 * accepted. Returns 0, or -1 (also when out is too small).
 */
static inline int codec_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap,
                                   size_t *outlen, unsigned flags)
{
	uint32_t acc = 0;
	size_t n = 0, o = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((flags & CODEC_B64_SKIP_FWS) && codec_is_fws_(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = codec_b64_value(c);
		if (v < 0 || pad)
			return -1; /* outside the alphabet, or data after padding */
		acc = (acc << 6) | (uint32_t)v;
		if (++n % 4 == 0) {
			if (o + 3 > cap)
				return -1;
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	size_t rem = n % 4;
	if (rem == 1 || pad > 2 || (pad && (rem + pad) % 4 != 0))
		return -1;
	if ((flags & CODEC_B64_NEED_PAD) && rem && !pad)
		return -1;
	if (codec_put_tail_(acc, rem, out, cap, &o) < 0)
		return -1;
	*outlen = o;
	return 0;
}

#endif
