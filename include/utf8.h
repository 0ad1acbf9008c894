/*
 * utf8.h: the one strict UTF-8 decoder of smtp-gateway (RFC 3629 section 4:
 * no overlong forms, no surrogates, nothing above U+10FFFF), for SMTPUTF8
 * addresses and parameters (RFC 6531), TOML documents (TOML 1.0: a document
 * is valid UTF-8), IDNA labels (RFC 5891) and the webhook's provider
 * formats.
 *
 * Header-only (static inline) for the reason codec.h is: the pure SMTP
 * parsers and the fuzz targets compile without linking routes_lib, and the
 * callers decode per byte. Pure: no allocation, no globals, no I/O. The
 * forgiving decoders that repair text (MIME bodies, HTML entities) stay in
 * gateway/mime on purpose: they substitute, this one refuses.
 *
 * Must never: read past len, or accept what RFC 3629 calls ill-formed.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The length (1 to 4) of the well-formed sequence at s, its code point in
 * *cp; 0 when the sequence is ill-formed or cut short by len (or len is 0).
 */
static inline size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	if (len == 0)
		return 0;
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0)
		n = 2, v = c & 0x1F, min = 0x80;
	else if ((c & 0xF0) == 0xE0)
		n = 3, v = c & 0x0F, min = 0x800;
	else if ((c & 0xF8) == 0xF0)
		n = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

/* How many bytes of s, from the start, are well-formed UTF-8 (len when all are). */
static inline size_t utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	uint32_t cp;
	while (i < len) {
		size_t n = u[i] < 0x80 ? 1 : utf8_decode(u + i, len - i, &cp);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

/* Whether all len bytes of s are well-formed UTF-8. */
static inline bool utf8_valid(const char *s, size_t len)
{
	return utf8_valid_prefix(s, len) == len;
}

#endif
