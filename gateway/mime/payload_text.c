/*
 * payload_text.c: every string of the payload is clean UTF-8.
 *
 * Owns: UTF-8 validation and repair (RFC 3629; invalid sequences become one
 * U+FFFD per maximal subpart, as the WHATWG Encoding Standard does),
 * charset conversion of text bodies to UTF-8 (RFC 2045 section 5.1 charset
 * parameter, RFC 2046 section 4.1.2) for the labels of the WHATWG table
 * (payload_charset.c) only, with the standard's BOM sniffing, replacement
 * and x-user-defined decoders; the fallback when the charset is missing,
 * unknown or wrong (try UTF-8, then Windows-1252), line-ending
 * normalisation and format=flowed unwrapping (RFC 3676 sections 4.1-4.5,
 * DelSp included).
 *
 * Must never: hand jansson a string it has not validated (json_string
 * would fail and lose the value), trust what iconv writes (it is checked
 * as UTF-8), loop without progress (every pass of the iconv loop consumes
 * input, writes output or stops with a warning), drop a byte silently
 * (replacements, fallbacks and cut conversions are reported as warnings),
 * or grow a buffer past its ceiling.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec.h"
#include "payload_int.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

json_t *ptext_json(struct pctx *c, const char *s, size_t len, const char *where)
{
	if (!s)
		return json_null();
	if (putf8_valid(s, len) == len)
		return json_stringn_nocheck(s, len);

	struct pbuf b = {.max = len * 3 + 16};
	size_t replaced;
	json_t *j = NULL;
	if (putf8_sanitize(s, len, &b, &replaced) == 0) {
		j = json_stringn_nocheck(b.p ? b.p : "", b.len);
		pctx_warn(c, "invalid_utf8", "%s: %zu invalid byte sequence(s) replaced by U+FFFD",
		          where, replaced);
	}
	pbuf_free(&b);
	return j;
}

json_t *ptext_json0(struct pctx *c, const char *s, const char *where)
{
	return s ? ptext_json(c, s, strlen(s), where) : json_null();
}

static bool is_ascii(const char *s, size_t len)
{
	return putf8_ascii_prefix((const unsigned char *)s, len) == len;
}

/*
 * The bytes iconv wrote from out->p + start are checked, never trusted:
 * what is not UTF-8 becomes U+FFFD, and what no longer fits under the
 * buffer's ceiling is cut at a character boundary. *replaced counts the
 * repairs; returns 0, 1 when cut, or -1 when out of memory.
 */
static int repair(struct pbuf *out, size_t start, size_t *replaced)
{
	size_t seg = out->len - start;
	*replaced = 0;
	if (putf8_valid(out->p + start, seg) == seg)
		return 0;
	struct pbuf t = {.max = seg * 3 + 16};
	if (putf8_sanitize(out->p + start, seg, &t, replaced) < 0) {
		pbuf_free(&t);
		return -1;
	}
	out->len = start;
	size_t n = t.len, room = out->max - out->len;
	int cut = 0;
	if (n > room) {
		n = room;
		while (n && ((unsigned char)t.p[n] & 0xC0) == 0x80)
			n--;
		cut = 1;
	}
	int rc = pbuf_add(out, t.p, n) < 0 ? -1 : cut;
	pbuf_free(&t);
	return rc;
}

#define CONV_CHUNK (1u << 20) /* a consumable input is converted this much at a time */

enum conv_rc { CONV_OK = 0, CONV_OOM = -1, CONV_FULL = 1, CONV_FAILED = 2 };

/*
 * iconv with repair: an undecodable byte becomes U+FFFD and conversion
 * goes on, so one bad byte never costs the rest of the text. Every pass
 * of the loop consumes input, writes output or stops: a converter that
 * cannot move (output at its ceiling, an unexpected error) ends the
 * conversion with CONV_FULL or CONV_FAILED, never a retry.
 */
/*
 * The whole pages of s before in go back to the kernel (MADV_DONTNEED:
 * they read as zeros afterwards, free() still works); *given: how far
 * that has gone.
 */
static void give_back_read(const char *s, const char *in, uintptr_t *given)
{
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
	uintptr_t lo = *given ? *given : ((uintptr_t)s + page - 1) & ~(page - 1);
	uintptr_t hi = (uintptr_t)in & ~(page - 1);
	if (hi > lo) {
		madvise((void *)lo, hi - lo, MADV_DONTNEED); /* a hint: failure is harmless */
		*given = hi;
	} else if (!*given) {
		*given = lo;
	}
}

/* No room for one character: grow, or stop at the ceiling. */
static enum conv_rc grow_for_one(struct pbuf *out, size_t room, size_t was_out)
{
	size_t more = out->cap - out->len + 64;
	if (out->cap == out->max)
		return CONV_FULL;
	if (pbuf_reserve(out, more < room ? more : room) < 0)
		return CONV_OOM;
	return out->cap - out->len == was_out ? CONV_FULL : CONV_OK;
}

/*
 * consume: s is thrown away after this (pctx.consumable): it is converted
 * CONV_CHUNK bytes at a time and the pages read are given back, so a big
 * part and its UTF-8 are never both resident. A multi-byte sequence cut
 * by a chunk's end is not an error: the next chunk starts with it.
 */
static enum conv_rc convert(iconv_t cd, const char *s, size_t len, size_t unit, struct pbuf *out,
                            size_t *replaced, bool consume)
{
	char *in = (char *)s;
	size_t inleft = len;
	uintptr_t given = 0;

	*replaced = 0;
	for (;;) {
		if (consume && in)
			give_back_read(s, in, &given);
		size_t want = inleft * 2 + 64, room = out->max - out->len;
		if (room == 0 && in) {
			return CONV_FULL;
		} else if (room == 0) { /* all read and written: only a shift state may be left */
			char tmp[32], *o = tmp;
			size_t ol = sizeof(tmp);
			return iconv(cd, NULL, NULL, &o, &ol) == 0 && ol == sizeof(tmp) ? CONV_OK
			                                                                : CONV_FULL;
		}
		if (pbuf_reserve(out, want < room ? want : room) < 0)
			return CONV_OOM;
		char *o = out->p + out->len;
		size_t oleft = out->cap - out->len, was_in = inleft, was_out = oleft;
		size_t chunk = consume && inleft > CONV_CHUNK ? CONV_CHUNK : inleft, cleft = chunk;
		size_t r =
		    in ? iconv(cd, &in, &cleft, &o, &oleft) : iconv(cd, NULL, NULL, &o, &oleft);
		int err = errno;
		inleft -= chunk - cleft;
		out->len = out->cap - oleft;
		if (r != (size_t)-1) {
			if (in == NULL)
				return CONV_OK;
			if (inleft == 0)
				in = NULL; /* flush the shift state (ISO-2022-JP) next */
			continue;
		}
		if (err == E2BIG) {
			if (inleft != was_in || oleft != was_out)
				continue;
			enum conv_rc g = grow_for_one(out, room, was_out);
			if (g != CONV_OK)
				return g;
			continue;
		}
		if ((err != EILSEQ && err != EINVAL) || !in)
			return CONV_FAILED;
		if (err == EINVAL && cleft < inleft)
			continue; /* cut by the chunk, not by the end of the text */
		if (pbuf_add(out, replacement, 3) < 0)
			return out->max - out->len < 3 ? CONV_FULL : CONV_OOM;
		(*replaced)++;
		if (err == EINVAL) { /* truncated sequence at the end */
			in = NULL;
			inleft = 0;
			continue;
		}
		size_t skip = unit < inleft ? unit : inleft; /* UTF-16: a whole code unit */
		in += skip;
		inleft -= skip;
	}
}

/* Is s (len bytes) inside what pctx.consumable says is thrown away after this? */
static bool consumable(const struct pctx *c, const char *s, size_t len)
{
	return c->consumable && s >= c->consumable &&
	       len <= c->consumable_len - (size_t)(s - c->consumable);
}

/* Returns 0, or -1 when out of memory; what went wrong otherwise is a warning. */
static int convert_named(struct pctx *c, const char *name, const char *s, size_t len,
                         struct pbuf *out, const char *where, const char *label)
{
	size_t replaced = 0, bad = 0, start = out->len;
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		pctx_warn(c, "conversion_limit", "%s: no converter for %s; text dropped", where,
		          name);
		return 0;
	}
	size_t unit = strncasecmp(name, "UTF-16", 6) == 0 ? 2 : 1;
	enum conv_rc rc = convert(cd, s, len, unit, out, &replaced, consumable(c, s, len));
	iconv_close(cd);
	if (rc == CONV_OOM)
		return -1;
	int fixed = repair(out, start, &bad);
	if (fixed < 0)
		return -1;
	if (replaced)
		pctx_warn(c, "invalid_bytes", "%s: %zu byte(s) invalid in %s replaced by U+FFFD",
		          where, replaced, label);
	if (bad)
		pctx_warn(
		    c, "invalid_bytes",
		    "%s: the %s converter gave %zu invalid UTF-8 sequence(s), replaced by U+FFFD",
		    where, name, bad);
	if (rc == CONV_FULL || fixed == 1)
		pctx_warn(c, "conversion_limit",
		          "%s: %s text decodes to more than the output bound; the rest is dropped",
		          where, label);
	else if (rc == CONV_FAILED)
		pctx_warn(c, "conversion_limit", "%s: the %s converter failed; the rest is dropped",
		          where, name);
	return 0;
}

/* Has s at least one well-formed multi-byte UTF-8 sequence? */
static bool has_utf8_multibyte(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len; i++) {
		size_t sub;
		if (u[i] >= 0xC2 && putf8_seq(u + i, len - i, &sub) > 1)
			return true;
	}
	return false;
}

/* The fallback for a missing or wrong charset: UTF-8 when it is, else Windows-1252. */
static int fallback(struct pctx *c, const char *s, size_t len, struct pbuf *out, const char *where,
                    const char *why)
{
	if (putf8_valid(s, len) == len) {
		pctx_warn(c, "charset_fallback", "%s: %s; decoded as UTF-8", where, why);
		return pbuf_add(out, s, len);
	}
	pctx_warn(c, "charset_fallback", "%s: %s; not UTF-8, decoded as Windows-1252", where, why);
	return convert_named(c, "WINDOWS-1252", s, len, out, where, "Windows-1252");
}

bool ptext_is_clean(const char *s, size_t len, const char *charset)
{
	const struct pcharset *cs = charset && *charset ? pcharset_get(charset) : NULL;
	if (charset && *charset && (!cs || !cs->ascii))
		return false;
	if (is_ascii(s, len))
		return true;
	return cs && cs->id == PCS_UTF8 && putf8_valid(s, len) == len &&
	       !(len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0);
}

/* x-user-defined (WHATWG section 15): 0x80-0xFF are U+F780-U+F7FF. */
static int user_defined(const char *s, size_t len, struct pbuf *out)
{
	if (pbuf_reserve(out, len) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)s[i];
		unsigned cp = 0xF780 + b - 0x80;
		char u[3] = {(char)(0xE0 | cp >> 12), (char)(0x80 | ((cp >> 6) & 0x3F)),
		             (char)(0x80 | (cp & 0x3F))};
		if (b < 0x80 ? pbuf_add(out, s + i, 1) < 0 : pbuf_add(out, u, 3) < 0)
			return -1;
	}
	return 0;
}

#define UTF8_MAX_CONT 3 /* continuation bytes after a sequence's first (RFC 3629 section 3) */

static bool is_cont(unsigned char b)
{
	return (b & 0xC0) == 0x80;
}

/*
 * Where a chunk of a repair that would end at end (at < end < len) may end:
 * before the first byte of the sequence that end is inside, or at end when
 * more than UTF8_MAX_CONT continuation bytes run up to it (a stray byte,
 * part of no sequence). Nothing before the cut then reads past it.
 */
static size_t chunk_end(const char *s, size_t at, size_t end)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t j = 0; j <= UTF8_MAX_CONT && end - j > at; j++)
		if (!is_cont(u[end - j]))
			return end - j;
	return end;
}

/*
 * putf8_sanitize(); a consumable s is repaired CONV_CHUNK bytes at a time
 * and the pages read are given back, so a big part and its repaired copy
 * are never both resident. No chunk cuts a sequence (chunk_end), so the
 * output and the count are the whole text's.
 */
static int sanitize(const struct pctx *c, const char *s, size_t len, struct pbuf *out,
                    size_t *replaced)
{
	if (!consumable(c, s, len))
		return putf8_sanitize(s, len, out, replaced);
	uintptr_t given = 0;
	size_t at = 0;
	*replaced = 0;
	while (at < len) {
		size_t end = len - at > CONV_CHUNK ? chunk_end(s, at, at + CONV_CHUNK) : len, r = 0;
		if (putf8_sanitize(s + at, end - at, out, &r) < 0)
			return -1;
		*replaced += r;
		at = end;
		give_back_read(s, s + at, &given);
	}
	return 0;
}

static int from_utf8(struct pctx *c, const char *s, size_t len, struct pbuf *out, const char *where)
{
	size_t replaced;
	if (putf8_valid(s, len) == len)
		return pbuf_add(out, s, len);
	if (!has_utf8_multibyte(s, len))
		return fallback(c, s, len, out, where, "declared UTF-8 but is not");
	if (sanitize(c, s, len, out, &replaced) < 0)
		return -1;
	pctx_warn(c, "invalid_utf8", "%s: %zu invalid byte sequence(s) replaced by U+FFFD", where,
	          replaced);
	return 0;
}

/* WHATWG "decode" (section 6): a byte order mark overrides the label. */
static const struct pcharset *bom_sniff(const char **s, size_t *len, const struct pcharset *cs)
{
	const unsigned char *u = (const unsigned char *)*s;
	enum pcharset_id id;
	size_t skip;
	if (*len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
		id = PCS_UTF8, skip = 3;
	else if (*len >= 2 && u[0] == 0xFE && u[1] == 0xFF)
		id = PCS_UTF16BE, skip = 2;
	else if (*len >= 2 && u[0] == 0xFF && u[1] == 0xFE)
		id = PCS_UTF16LE, skip = 2;
	else
		return cs;
	*s += skip;
	*len -= skip;
	return pcharset_id(id);
}

int ptext_to_utf8(struct pctx *c, const char *s, size_t len, const char *charset, struct pbuf *out,
                  const char *where)
{
	const struct pcharset *cs = NULL;

	if (charset && *charset && !(cs = pcharset_get(charset))) {
		char why[160];
		snprintf(why, sizeof(why), "unknown charset \"%.100s\"", charset);
		return fallback(c, s, len, out, where, why);
	}
	if (is_ascii(s, len) && (!cs || cs->ascii))
		return pbuf_add(out, s, len);
	if (!cs)
		return fallback(c, s, len, out, where, "8-bit text without a charset");
	cs = bom_sniff(&s, &len, cs);
	switch (cs->id) {
	case PCS_UTF8:
		return from_utf8(c, s, len, out, where);
	case PCS_REPLACEMENT:
		/* the standard decodes these (ISO-2022-KR, HZ...) as one U+FFFD */
		pctx_warn(c, "invalid_bytes",
		          "%s: charset \"%.60s\" is not decoded (WHATWG replacement encoding)",
		          where, charset);
		return len ? pbuf_add(out, replacement, 3) : 0;
	case PCS_USER_DEFINED:
		return user_defined(s, len, out);
	case PCS_WIN1252:
		if ((strcasecmp(charset, "us-ascii") == 0 || strcasecmp(charset, "ascii") == 0) &&
		    putf8_valid(s, len) == len)
			return fallback(c, s, len, out, where,
			                "declared US-ASCII but has 8-bit bytes");
		break;
	default:
		break;
	}
	return convert_named(c, cs->iconv, s, len, out, where, cs->name);
}

void ptext_crlf_to_lf(struct pbuf *b)
{
	char *r = b->p ? memchr(b->p, '\r', b->len) : NULL;
	if (!r)
		return;
	char *w = r, *end = b->p + b->len;
	while (r < end) {
		char *cr = memchr(r, '\r', (size_t)(end - r));
		size_t run = (size_t)((cr ? cr : end) - r);
		memmove(w, r, run);
		w += run;
		r += run;
		if (!cr)
			break;
		if (cr + 1 >= end || cr[1] != '\n')
			*w++ = '\r'; /* a lone CR is kept */
		r = cr + 1;
	}
	b->len = (size_t)(w - b->p);
}

/*
 * RFC 3676: a line ending in a space is soft-broken and joins the next
 * line of the same quote depth; "-- " (the signature separator) never
 * flows; a leading space after the quote marks is stuffing (4.4). With
 * DelSp=yes the trailing space is removed when joining (4.2). Works on
 * LF-only text, in place (the output is never longer than the input).
 */
int ptext_unflow(struct pbuf *b, bool delsp)
{
	size_t r = 0, w = 0, len = b->len;
	char *p = b->p;
	bool joining = false;
	size_t join_depth = 0;

	while (r < len) {
		char *nl = memchr(p + r, '\n', len - r);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t depth = 0, s = r;
		while (s < end && p[s] == '>')
			depth++, s++;
		bool spaced = s < end && p[s] == ' ';
		if (spaced)
			s++; /* space-stuffing, or the space after quote marks */
		bool sig = end - s == 3 && memcmp(p + s, "-- ", 3) == 0;
		bool flowed = !sig && end > s && p[end - 1] == ' ';
		if (joining && depth != join_depth) {
			p[w++] = '\n'; /* a quote-depth change ends the paragraph (4.5) */
			joining = false;
		}
		if (!joining && depth) {
			/* w <= r: the marks (and the space) were read before being rewritten */
			memmove(p + w, p + r, depth + (spaced ? 1 : 0));
			w += depth + (spaced ? 1 : 0);
		}
		size_t n = end - s;
		if (flowed && delsp)
			n--;
		memmove(p + w, p + s, n);
		w += n;
		if (flowed && nl) {
			joining = true;
			join_depth = depth;
		} else {
			joining = false;
			if (nl)
				p[w++] = '\n';
		}
		r = nl ? end + 1 : len;
	}
	b->len = w;
	return 0;
}

/* ---- RFC 2047 encoded-words in unstructured fields ---- */

struct eword {
	const char *charset;
	size_t charset_len; /* without an RFC 2231 "*language" suffix */
	char enc;           /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t end; /* offset just after "?=" */
};

/* Parses "=?charset?B|Q?text?=" at s[i] (RFC 2047 section 2); false if not one. */
static bool eword_at(const char *s, size_t len, size_t i, struct eword *w)
{
	if (i + 8 > len || s[i] != '=' || s[i + 1] != '?')
		return false;
	size_t p = i + 2, cs = p;
	while (p < len && s[p] != '?' && s[p] > ' ' && p - cs < 64)
		p++;
	if (p + 3 >= len || s[p] != '?' || p == cs)
		return false;
	w->charset = s + cs;
	const char *star = memchr(s + cs, '*', p - cs);
	w->charset_len = star ? (size_t)(star - (s + cs)) : p - cs;
	w->enc = (char)(s[p + 1] & ~0x20);
	if ((w->enc != 'B' && w->enc != 'Q') || s[p + 2] != '?')
		return false;
	/* Q text with spaces is not RFC 2047, but common: accepted up to a bound */
	size_t t = p + 3, e = t;
	while (e + 1 < len && !(s[e] == '?' && s[e + 1] == '=') && e - t < 1024 &&
	       (w->enc == 'Q' || (s[e] != ' ' && s[e] != '\t')))
		e++;
	if (e + 1 >= len || s[e] != '?' || s[e + 1] != '=')
		return false;
	w->text = s + t;
	w->text_len = e - t;
	w->end = e + 2;
	return true;
}

/* RFC 2047 section 4.2: "_" is a space, "=XX" a byte; anything else is itself. */
static size_t qword_decode(const char *in, size_t len, char *out)
{
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		int hi = i + 2 < len ? codec_hex_value((unsigned char)in[i + 1]) : -1;
		int lo = i + 2 < len ? codec_hex_value((unsigned char)in[i + 2]) : -1;
		if (in[i] == '_') {
			out[w++] = ' ';
		} else if (in[i] == '=' && hi >= 0 && lo >= 0) {
			out[w++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[w++] = in[i];
		}
	}
	return w;
}

struct pending {
	char charset[65];
	struct pbuf bytes;
};

static int flush_pending(struct pctx *c, struct pending *pd, struct pbuf *out, const char *where)
{
	int rc = 0;
	if (pd->charset[0])
		rc = ptext_to_utf8(c, pd->bytes.p ? pd->bytes.p : "", pd->bytes.len, pd->charset,
		                   out, where);
	pd->charset[0] = '\0';
	pd->bytes.len = 0;
	return rc;
}

static int literal(struct pctx *c, const char *s, size_t n, struct pbuf *out, const char *where)
{
	if (putf8_valid(s, n) == n)
		return pbuf_add(out, s, n);
	return ptext_to_utf8(c, s, n, "windows-1252", out, where); /* 8-bit header bytes */
}

static bool all_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/*
 * Decodes an unstructured field (RFC 2047 sections 5(1) and 6.2): every
 * encoded-word is decoded on its own (so one word's padding cannot swallow
 * the next, as GMime 3.2's merging does), adjacent words of one charset
 * are joined as bytes before conversion (a character may be split across
 * them), and white space between adjacent encoded-words is dropped.
 */
int ptext_rfc2047(struct pctx *c, const char *s, size_t len, struct pbuf *out, const char *where)
{
	struct pending pd = {.bytes.max = len + 16};
	struct eword w;
	bool after_word = false;
	size_t i = 0;
	int rc = 0;

	while (i < len && rc == 0) {
		if (eword_at(s, len, i, &w)) {
			if (pd.charset[0] &&
			    (strlen(pd.charset) != w.charset_len ||
			     strncasecmp(pd.charset, w.charset, w.charset_len) != 0))
				rc = flush_pending(c, &pd, out, where);
			if (!pd.charset[0])
				snprintf(pd.charset, sizeof(pd.charset), "%.*s", (int)w.charset_len,
				         w.charset);
			if (rc == 0 && pbuf_reserve(&pd.bytes, w.text_len + 4) == 0) {
				char *o = pd.bytes.p + pd.bytes.len;
				pd.bytes.len += w.enc == 'B' ? pb64_decode(w.text, w.text_len, o)
				                             : qword_decode(w.text, w.text_len, o);
			} else {
				rc = -1;
			}
			i = w.end;
			after_word = true;
			continue;
		}
		const char *next = i + 1 < len ? memmem(s + i + 1, len - i - 1, "=?", 2) : NULL;
		size_t j = next ? (size_t)(next - s) : len;
		if (after_word && next && all_space(s + i, j - i) && eword_at(s, len, j, &w)) {
			i = j; /* white space between two encoded-words is not text */
			continue;
		}
		rc = flush_pending(c, &pd, out, where);
		if (rc == 0)
			rc = literal(c, s + i, j - i, out, where);
		after_word = false;
		i = j;
	}
	if (rc == 0)
		rc = flush_pending(c, &pd, out, where);
	pbuf_free(&pd.bytes);
	return rc;
}
