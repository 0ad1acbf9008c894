/*
 * payload_utf8.c: UTF-8 validation and repair (RFC 3629): invalid sequences
 * become one U+FFFD per maximal subpart, as the WHATWG Encoding Standard
 * does.
 *
 * Below every stage (it calls payload_buf.c only): the warning list
 * (payload_ctx.c) repairs its messages with it, and so does payload_text.c.
 *
 * Must never: accept overlongs, surrogates or code points above U+10FFFF,
 * or drop a byte without a replacement.
 */
#include <stdint.h>
#include <string.h>

#include "payload_int.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/*
 * Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid.
 * *sub gets the maximal subpart's length for the replacement rule.
 */
size_t putf8_seq(const unsigned char *s, size_t len, size_t *sub)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	*sub = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlongs */
		hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= len)
			return 0;
		unsigned char d = s[i];
		if (d < lo || d > hi)
			return 0;
		lo = 0x80;
		hi = 0xBF;
		*sub = i + 1;
	}
	return need + 1;
}

/* Eight bytes at a time while they are ASCII: most mail text is. */
size_t putf8_ascii_prefix(const unsigned char *u, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, u + i, 8);
		if (v & 0x8080808080808080ull)
			break;
	}
	while (i < len && u[i] < 0x80)
		i++;
	return i;
}

size_t putf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		if (u[i] < 0x80) {
			i += putf8_ascii_prefix(u + i, len - i);
			continue;
		}
		size_t sub, n = putf8_seq(u + i, len - i, &sub);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

int putf8_sanitize(const char *s, size_t len, struct pbuf *out, size_t *replaced)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	*replaced = 0;
	if (pbuf_reserve(out, len) < 0)
		return -1;
	while (i < len) {
		size_t sub, n = u[i] < 0x80 ? 1 : putf8_seq(u + i, len - i, &sub);
		if (n) {
			i += n;
			continue;
		}
		if (pbuf_add(out, s + run, i - run) < 0 || pbuf_add(out, replacement, 3) < 0)
			return -1;
		(*replaced)++;
		i += sub;
		run = i;
	}
	return pbuf_add(out, s + run, i - run);
}
