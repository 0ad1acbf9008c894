/*
 * routes/table/idna.c: domain names as the router compares them.
 *
 * Owns: UTF-8 decoding and encoding, a simple lower-case mapping, RFC 3492
 * punycode (sections 6.1-6.3, with the overflow checks of 6.4), and the
 * per-label conversion between U-labels and A-labels (RFC 5890 2.3.2,
 * RFC 5891 4 and 5) behind idna_to_ascii() and idna_to_unicode().
 *
 * What it normalises: ASCII case; the simple lower-case mapping of
 * idna_fold_cp() (Latin-1, Latin Extended-A and parts of -B, Latin Extended
 * Additional, Greek, Cyrillic, Armenian, fullwidth ASCII); the label
 * separators U+3002, U+FF0E and U+FF61 (RFC 3490 3.1); A-labels carrying
 * upper case are re-encoded from their folded U-label.
 * What it does not: Unicode normalisation (no NFC: a decomposed U-label is
 * a different domain), the IDNA2008 derived property tables (RFC 5892),
 * the bidi and contextual rules (RFC 5893, RFC 5892 appendix A), full case
 * folding (U+00DF and final sigma stay as they are, as in IDNA2008).
 *
 * Never: allocates, reads beyond the lengths given, or writes more than
 * outlen bytes. Pure functions, safe from any thread.
 */
#include <string.h>

#include "route_int.h"
#include "utf8.h"

/* RFC 3492 section 5: Bootstring parameters for punycode. */
enum {
	PC_BASE = 36,
	PC_TMIN = 1,
	PC_TMAX = 26,
	PC_SKEW = 38,
	PC_DAMP = 700,
	PC_INITIAL_BIAS = 72,
	PC_INITIAL_N = 0x80,
	PC_DELIMITER = '-',
};
#define PC_MAXINT UINT32_MAX

size_t idna_utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Ranges where upper and lower case alternate: the upper-case letter sits
 * at the even (or odd) code point and its lower case right after it.
 */
struct fold_pairs {
	uint32_t first, last;
};

static const struct fold_pairs fold_even[] = {
    {0x0100, 0x012F}, {0x0132, 0x0137}, {0x014A, 0x0177}, {0x01DE, 0x01EF}, {0x01F8, 0x021F},
    {0x0222, 0x0233}, {0x0246, 0x024F}, {0x03D8, 0x03EF}, {0x0460, 0x0481}, {0x048A, 0x04BF},
    {0x04D0, 0x052F}, {0x1E00, 0x1E95}, {0x1EA0, 0x1EFF},
};

static const struct fold_pairs fold_odd[] = {
    {0x0139, 0x0148},
    {0x0179, 0x017E},
    {0x01CD, 0x01DC},
    {0x04C1, 0x04CE},
};

/* Blocks of capitals a fixed distance below their lower case. */
struct fold_shift {
	uint32_t first, last;
	int32_t delta;
};

static const struct fold_shift fold_shifts[] = {
    {'A', 'Z', 32},       {0x00C0, 0x00D6, 32}, {0x00D8, 0x00DE, 32}, {0x0388, 0x038A, 37},
    {0x038E, 0x038F, 63}, {0x0391, 0x03A1, 32}, {0x03A3, 0x03AB, 32}, {0x0400, 0x040F, 80},
    {0x0410, 0x042F, 32}, {0x0531, 0x0556, 48},
};

/* Single letters whose lower case lies elsewhere. */
static const uint32_t fold_single[][2] = {
    {0x0130, 'i'},    {0x0178, 0x00FF}, {0x0386, 0x03AC}, {0x038C, 0x03CC},
    {0x04C0, 0x04CF}, {0x1E9E, 0x00DF}, {0x212A, 'k'},    {0x212B, 0x00E5},
};

uint32_t idna_fold_cp(uint32_t cp)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	for (size_t i = 0; i < sizeof fold_shifts / sizeof fold_shifts[0]; i++) {
		const struct fold_shift *f = &fold_shifts[i];
		if (cp >= f->first && cp <= f->last)
			return (uint32_t)((int32_t)cp + f->delta);
	}
	if (cp < 0x100)
		return cp;
	for (size_t i = 0; i < sizeof fold_even / sizeof fold_even[0]; i++)
		if (cp >= fold_even[i].first && cp <= fold_even[i].last)
			return (cp % 2 == 0) ? cp + 1 : cp;
	for (size_t i = 0; i < sizeof fold_odd / sizeof fold_odd[0]; i++)
		if (cp >= fold_odd[i].first && cp <= fold_odd[i].last)
			return (cp % 2 == 1) ? cp + 1 : cp;
	for (size_t i = 0; i < sizeof fold_single / sizeof fold_single[0]; i++)
		if (cp == fold_single[i][0])
			return fold_single[i][1];
	return cp;
}

/*
 * Domains only (UTS #46 maps width, RFC 5895 too): fullwidth ASCII letters,
 * digits and hyphen become ASCII, then case is folded. Local parts are not
 * width-mapped: a mailbox named in fullwidth letters is another mailbox.
 */
static uint32_t domain_map_cp(uint32_t cp)
{
	if (cp >= 0xFF21 && cp <= 0xFF3A)
		return cp - 0xFF21 + 'a';
	if (cp >= 0xFF41 && cp <= 0xFF5A)
		return cp - 0xFF41 + 'a';
	if (cp >= 0xFF10 && cp <= 0xFF19)
		return cp - 0xFF10 + '0';
	if (cp == 0xFF0D)
		return '-';
	return idna_fold_cp(cp);
}

int idna_fold_utf8(const char *in, size_t inlen, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < inlen;) {
		if (s[i] < 0x80) {
			/* Most local parts are ASCII: no decoding for them. */
			if (o + 2 > outlen)
				return -1;
			out[o++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_decode(s + i, inlen - i, &cp);
		if (n == 0)
			return -1;
		i += n;
		char buf[4];
		size_t m = idna_utf8_encode(idna_fold_cp(cp), buf);
		if (o + m + 1 > outlen)
			return -1;
		memcpy(out + o, buf, m);
		o += m;
	}
	if (o + 1 > outlen)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* --- punycode ------------------------------------------------------------ */

static char pc_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

static uint32_t pc_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0' + 26;
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	return PC_BASE;
}

/* RFC 3492 section 6.1. */
static uint32_t pc_adapt(uint32_t delta, uint32_t numpoints, bool firsttime)
{
	delta = firsttime ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	uint32_t k = 0;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static uint32_t pc_threshold(uint32_t k, uint32_t bias)
{
	if (k <= bias)
		return PC_TMIN;
	if (k >= bias + PC_TMAX)
		return PC_TMAX;
	return k - bias;
}

/* Emits the variable-length integer q (section 6.3, inner loop). */
static int pc_put_varint(uint32_t q, uint32_t bias, char *out, size_t outlen, size_t *o)
{
	for (uint32_t k = PC_BASE;; k += PC_BASE) {
		uint32_t t = pc_threshold(k, bias);
		if (q < t)
			break;
		if (*o + 1 >= outlen)
			return -1;
		out[(*o)++] = pc_digit(t + (q - t) % (PC_BASE - t));
		q = (q - t) / (PC_BASE - t);
	}
	if (*o + 1 >= outlen)
		return -1;
	out[(*o)++] = pc_digit(q);
	return 0;
}

int idna_punycode_encode(const uint32_t *in, size_t n_in, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen == 0 || n_in > PC_MAXINT / 2)
		return -1;
	for (size_t j = 0; j < n_in; j++) {
		if (in[j] >= 0x80)
			continue;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)in[j];
	}
	uint32_t h = (uint32_t)o, b = (uint32_t)o;
	if (b > 0) {
		if (o + 1 >= outlen)
			return -1;
		out[o++] = PC_DELIMITER;
	}
	uint32_t n = PC_INITIAL_N, delta = 0, bias = PC_INITIAL_BIAS;
	while (h < n_in) {
		uint32_t m = PC_MAXINT;
		for (size_t j = 0; j < n_in; j++)
			if (in[j] >= n && in[j] < m)
				m = in[j];
		if (m - n > (PC_MAXINT - delta) / (h + 1))
			return -1;
		delta += (m - n) * (h + 1);
		n = m;
		for (size_t j = 0; j < n_in; j++) {
			if (in[j] < n && ++delta == 0)
				return -1;
			if (in[j] != n)
				continue;
			if (pc_put_varint(delta, bias, out, outlen, &o) < 0)
				return -1;
			bias = pc_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
	out[o] = '\0';
	return (int)o;
}

/* Reads one variable-length integer into *i (section 6.2, inner loop). */
static int pc_get_varint(const char *in, size_t inlen, size_t *pos, uint32_t bias, uint32_t *i)
{
	uint32_t w = 1;
	for (uint32_t k = PC_BASE;; k += PC_BASE) {
		if (*pos >= inlen)
			return -1;
		uint32_t digit = pc_value((unsigned char)in[(*pos)++]);
		if (digit >= PC_BASE || digit > (PC_MAXINT - *i) / w)
			return -1;
		*i += digit * w;
		uint32_t t = pc_threshold(k, bias);
		if (digit < t)
			return 0;
		if (w > PC_MAXINT / (PC_BASE - t))
			return -1;
		w *= PC_BASE - t;
	}
}

int idna_punycode_decode(const char *in, size_t inlen, uint32_t *out, size_t cap)
{
	size_t b = 0, o = 0;
	for (size_t j = 0; j < inlen; j++)
		if (in[j] == PC_DELIMITER)
			b = j;
	if (b > cap)
		return -1;
	for (size_t j = 0; j < b; j++) {
		if ((unsigned char)in[j] >= 0x80)
			return -1;
		out[o++] = (unsigned char)in[j];
	}
	uint32_t n = PC_INITIAL_N, i = 0, bias = PC_INITIAL_BIAS;
	for (size_t pos = b > 0 ? b + 1 : 0; pos < inlen;) {
		uint32_t oldi = i;
		if (pc_get_varint(in, inlen, &pos, bias, &i) < 0)
			return -1;
		uint32_t len = (uint32_t)o + 1;
		bias = pc_adapt(i - oldi, len, oldi == 0);
		if (i / len > PC_MAXINT - n)
			return -1;
		n += i / len;
		i %= len;
		if (n < 0x80 || n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) || o >= cap)
			return -1;
		memmove(out + i + 1, out + i, (o - i) * sizeof *out);
		out[i++] = n;
		o++;
	}
	return (int)o;
}

/* --- labels and domains ---------------------------------------------------- */

/* U+3002, U+FF0E, U+FF61 separate labels like '.' (RFC 3490 3.1). */
static bool is_dot(uint32_t cp)
{
	return cp == '.' || cp == 0x3002 || cp == 0xFF0E || cp == 0xFF61;
}

static bool is_ldh(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * RFC 5891 4.2.3.1 hyphen rules, and the characters no label may hold:
 * ASCII other than LDH, controls, spaces. The RFC 5892 tables are not
 * applied (see the file comment).
 */
static bool label_valid(const uint32_t *cp, size_t n, bool unicode)
{
	if (n == 0 || cp[0] == '-' || cp[n - 1] == '-')
		return false;
	if (unicode && n >= 4 && cp[2] == '-' && cp[3] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = cp[i];
		if ((c < 0x80 && !is_ldh(c)) || is_dot(c))
			return false;
		if ((c >= 0x80 && c <= 0xA0) || c == 0xAD || c == 0x1680 ||
		    (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || c == 0x205F ||
		    c == 0x3000 || c == 0xFEFF || (c & 0xFFFE) == 0xFFFE)
			return false;
	}
	return true;
}

static bool label_is_ascii(const uint32_t *cp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cp[i] >= 0x80)
			return false;
	return true;
}

static bool label_is_alabel(const uint32_t *cp, size_t n)
{
	return n >= 4 && cp[0] == 'x' && cp[1] == 'n' && cp[2] == '-' && cp[3] == '-';
}

/*
 * Appends the A-label of one folded label to out at *o. An xn-- label is
 * decoded, folded and encoded again, so that upper case in it (which RFC
 * 5891 forbids) does not make a second name for the same domain.
 */
static int label_to_ascii(uint32_t *cp, size_t n, char *out, size_t outlen, size_t *o)
{
	char enc[IDNA_LABEL_MAX + 1];
	if (label_is_ascii(cp, n) && label_is_alabel(cp, n)) {
		char a[IDNA_LABEL_MAX + 1];
		for (size_t i = 4; i < n; i++)
			a[i - 4] = (char)cp[i];
		int m = idna_punycode_decode(a, n - 4, cp, IDNA_LABEL_MAX);
		if (m <= 0 || label_is_ascii(cp, (size_t)m))
			return -1;
		n = (size_t)m;
		for (size_t i = 0; i < n; i++)
			cp[i] = domain_map_cp(cp[i]);
		/* Fullwidth letters in an A-label: an ASCII name in disguise. */
		if (label_is_ascii(cp, n))
			return -1;
	}
	if (label_is_ascii(cp, n)) {
		if (n > IDNA_LABEL_MAX || !label_valid(cp, n, false) || *o + n + 1 > outlen)
			return -1;
		for (size_t i = 0; i < n; i++)
			out[(*o)++] = (char)cp[i];
		return 0;
	}
	if (!label_valid(cp, n, true))
		return -1;
	int m = idna_punycode_encode(cp, n, enc, sizeof enc - 4);
	if (m < 0 || *o + 4 + (size_t)m + 1 > outlen)
		return -1;
	memcpy(out + *o, "xn--", 4);
	memcpy(out + *o + 4, enc, (size_t)m);
	*o += 4 + (size_t)m;
	return 0;
}

/*
 * The common case, a plain ASCII host name without A-labels: lower-cased
 * and checked in one pass. Returns 1 when done, 0 when the general path
 * must run (non-ASCII, an xn-- label), -1 when invalid.
 */
static int ascii_fast(const char *d, size_t len, char *out, size_t outlen)
{
	if (len + 1 > outlen || len > IDNA_DOMAIN_MAX)
		return 0; /* the general path has the exact checks */
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)d[i] : '.';
		if (c >= 0x80)
			return 0;
		if (c >= 'A' && c <= 'Z')
			c += 32;
		out[i] = (char)c;
		if (c != '.') {
			if (!is_ldh(c))
				return -1;
			continue;
		}
		size_t n = i - start;
		if (n == 0 || n > IDNA_LABEL_MAX || out[start] == '-' || out[i - 1] == '-')
			return -1;
		if (n >= 4 && memcmp(out + start, "xn--", 4) == 0)
			return 0;
		start = i + 1;
	}
	out[len] = '\0';
	return 1;
}

int idna_to_ascii(const char *domain, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)domain;
	size_t len = strlen(domain), o = 0, n = 0;
	uint32_t cp[IDNA_LABEL_MAX + 1];
	if (len == 0 || outlen == 0)
		return -1;
	int fast = ascii_fast(domain, len, out, outlen);
	if (fast != 0)
		return fast > 0 ? 0 : -1;
	for (size_t i = 0;;) {
		uint32_t c = '.';
		size_t k = i < len ? utf8_decode(s + i, len - i, &c) : 1;
		if (k == 0)
			return -1;
		i += k;
		if (!is_dot(c)) {
			if (n >= IDNA_LABEL_MAX)
				return -1;
			cp[n++] = domain_map_cp(c);
			continue;
		}
		if (o > 0) {
			if (o + 2 > outlen)
				return -1;
			out[o++] = '.';
		}
		if (label_to_ascii(cp, n, out, outlen, &o) < 0)
			return -1;
		n = 0;
		if (i > len)
			break;
	}
	if (o > IDNA_DOMAIN_MAX)
		return -1;
	out[o] = '\0';
	return 0;
}

/* Appends the U-label form of one A-label (or the ASCII label itself). */
static int label_to_unicode(const char *label, size_t n, char *out, size_t outlen, size_t *o)
{
	if (n < 4 || memcmp(label, "xn--", 4) != 0) {
		if (*o + n + 1 > outlen)
			return -1;
		memcpy(out + *o, label, n);
		*o += n;
		return 0;
	}
	uint32_t cp[IDNA_LABEL_MAX];
	int m = idna_punycode_decode(label + 4, n - 4, cp, IDNA_LABEL_MAX);
	if (m < 0)
		return -1;
	for (int i = 0; i < m; i++) {
		char buf[4];
		size_t k = idna_utf8_encode(cp[i], buf);
		if (k == 0 || *o + k + 1 > outlen)
			return -1;
		memcpy(out + *o, buf, k);
		*o += k;
	}
	return 0;
}

int idna_to_unicode(const char *domain, char *out, size_t outlen)
{
	char ascii[IDNA_DOMAIN_MAX + 2];
	if (idna_to_ascii(domain, ascii, sizeof ascii) < 0)
		return -1;
	size_t o = 0;
	for (const char *p = ascii;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (label_to_unicode(p, n, out, outlen, &o) < 0)
			return -1;
		if (!dot)
			break;
		if (o + 2 > outlen)
			return -1;
		out[o++] = '.';
		p = dot + 1;
	}
	out[o] = '\0';
	return 0;
}
