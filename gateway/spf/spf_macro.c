/*
 * spf_macro.c: SPF macros (RFC 7208 section 7): the syntax check used by
 * the record parser, the expander, target-name truncation (section 7.3)
 * and reverse-lookup names (section 5.5).
 *
 * Letters s l o d i p h v everywhere, c r t only in explanation text
 * (section 7.2); an upper-case letter URL-escapes its value (section 7.3);
 * transformers are a non-zero part count and "r", delimiters any of
 * ". - + , / _ =" (section 7.3).
 *
 * Pure: writes only into the caller's buffer and never past cap; a
 * result that does not fit is an error, never silently cut (only target
 * names are cut, by whole labels from the left, as section 7.3 says).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "spf_int.h"

#define SPF_DELIMS    ".-+,/_="
#define SPF_MAX_PARTS 600 /* a value is at most SPF_VALUE_MAX bytes */

/* One parsed %{...}: letter, part count (0: all), reverse, delimiters. */
struct macro {
	char letter; /* lower case */
	bool upper;
	unsigned digits;
	bool reverse;
	char delims[sizeof(SPF_DELIMS)];
};

static bool letter_ok(char l, enum spf_macro_ctx ctx)
{
	if (strchr("slodiphv", l))
		return true;
	return ctx == SPF_MACRO_EXP && strchr("crt", l);
}

/* Parses the macro at s[*i] == '{' ... '}', moving *i past it. */
static int parse_macro(const char *s, size_t len, size_t *i, enum spf_macro_ctx ctx,
                       struct macro *m)
{
	size_t p = *i + 1, nd = 0;
	*m = (struct macro){0};
	if (p >= len)
		return -1;
	m->upper = isupper((unsigned char)s[p]);
	m->letter = (char)tolower((unsigned char)s[p]);
	if (!letter_ok(m->letter, ctx))
		return -1;
	p++;
	if (p < len && isdigit((unsigned char)s[p])) {
		unsigned v = 0;
		while (p < len && isdigit((unsigned char)s[p])) {
			if (v <= SPF_DIGITS_MAX)
				v = v * 10 + (unsigned)(s[p] - '0');
			p++;
		}
		if (v == 0)
			return -1; /* section 7.3: the count must be non-zero */
		m->digits = v > SPF_DIGITS_MAX ? SPF_DIGITS_MAX : v;
	}
	if (p < len && (s[p] == 'r' || s[p] == 'R')) {
		m->reverse = true;
		p++;
	}
	while (p < len && s[p] != '}') {
		if (!strchr(SPF_DELIMS, s[p]))
			return -1;
		if (!memchr(m->delims, s[p], nd))
			m->delims[nd++] = s[p];
		p++;
	}
	if (p >= len)
		return -1;
	*i = p + 1;
	return 0;
}

int spf_macro_check(const char *s, size_t len, enum spf_macro_ctx ctx, bool *uses_p)
{
	struct macro m;
	*uses_p = false;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' && ctx == SPF_MACRO_EXP) {
			i++;
			continue;
		}
		if (c < 0x21 || c > 0x7e)
			return -1;
		if (c != '%') {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		if (strchr("%_-", s[i + 1])) {
			i += 2;
			continue;
		}
		if (s[i + 1] != '{')
			return -1;
		i++;
		if (parse_macro(s, len, &i, ctx, &m) < 0)
			return -1;
		if (m.letter == 'p')
			*uses_p = true;
	}
	return 0;
}

/* An output buffer that refuses to overflow. */
struct out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put_escaped(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || strchr("-._~", c)) {
			put(o, (const char *)&c, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			put(o, e, 3);
		}
	}
}

/* %{i}: dotted quad, or 32 dot-separated nibbles for IPv6 (section 7.3). */
static void ip_dotted(const struct spf_ip *ip, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	if (ip->family == AF_INET) {
		snprintf(buf, cap, "%u.%u.%u.%u", ip->b[0], ip->b[1], ip->b[2], ip->b[3]);
		return;
	}
	size_t n = 0;
	for (int i = 0; i < 16 && n + 4 <= cap; i++) {
		buf[n++] = hex[ip->b[i] >> 4];
		buf[n++] = '.';
		buf[n++] = hex[ip->b[i] & 15];
		buf[n++] = i < 15 ? '.' : '\0';
	}
	buf[n ? n - 1 : 0] = '\0';
}

static const char *macro_value(const struct macro *m, const struct spf_macro_env *e, char *buf,
                               size_t cap)
{
	switch (m->letter) {
	case 's':
		return e->sender;
	case 'l':
		return e->local;
	case 'o':
		return e->sender_domain;
	case 'd':
		return e->domain;
	case 'h':
		return e->helo;
	case 'p':
		return e->p ? e->p : "unknown";
	case 'r':
		return e->hostname && *e->hostname ? e->hostname : "unknown";
	case 'v':
		return e->ip.family == AF_INET ? "in-addr" : "ip6";
	case 'i':
		ip_dotted(&e->ip, buf, cap);
		return buf;
	case 'c':
		if (!inet_ntop(e->ip.family, e->ip.b, buf, (socklen_t)cap))
			buf[0] = '\0';
		return buf;
	case 't':
		snprintf(buf, cap, "%" PRId64, e->now);
		return buf;
	}
	return "";
}

/* Applies split / reverse / right-hand parts / join with "." (section 7.3). */
static void transform(const struct macro *m, const char *v, struct out *o)
{
	const char *delims = m->delims[0] ? m->delims : ".";
	const char *part[SPF_MAX_PARTS];
	size_t plen[SPF_MAX_PARTS], n = 0, vlen = strlen(v), start = 0;

	if (!m->digits && !m->reverse && !m->delims[0]) {
		if (m->upper)
			put_escaped(o, v, vlen);
		else
			put(o, v, vlen);
		return;
	}
	for (size_t i = 0; i <= vlen; i++) {
		if (i < vlen && !strchr(delims, v[i]))
			continue;
		if (n == SPF_MAX_PARTS) {
			o->overflow = true; /* inputs are bounded well below this */
			return;
		}
		part[n] = v + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	/* Reversed, the right-hand parts are the original left-hand ones. */
	size_t keep = m->digits && m->digits < n ? m->digits : n;
	for (size_t k = 0; k < keep; k++) {
		size_t idx = m->reverse ? keep - 1 - k : n - keep + k;
		if (k)
			put(o, ".", 1);
		if (m->upper)
			put_escaped(o, part[idx], plen[idx]);
		else
			put(o, part[idx], plen[idx]);
	}
}

int spf_macro_expand(const char *s, size_t len, enum spf_macro_ctx ctx,
                     const struct spf_macro_env *env, char *out, size_t cap)
{
	struct out o = {.buf = out, .cap = cap};
	char vbuf[80];
	struct macro m;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c != '%') {
			if ((c < 0x21 || c > 0x7e) && !(c == ' ' && ctx == SPF_MACRO_EXP))
				return -1; /* macro-literal is VCHAR except "%" */
			put(&o, s + i, 1);
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		char n = s[i + 1];
		if (n == '%' || n == '_' || n == '-') {
			put(&o, n == '%' ? "%" : n == '_' ? " " : "%20", n == '-' ? 3 : 1);
			i += 2;
			continue;
		}
		if (n != '{')
			return -1;
		i++;
		if (parse_macro(s, len, &i, ctx, &m) < 0)
			return -1;
		const char *v = macro_value(&m, env, vbuf, sizeof(vbuf));
		transform(&m, v ? v : "", &o);
	}
	return o.overflow ? -1 : (int)o.len;
}

int spf_target_name(char *name)
{
	size_t len = strlen(name);
	if (len && name[len - 1] == '.')
		name[--len] = '\0';
	char *p = name;
	while (len > SPF_DOMAIN_MAX) {
		char *dot = strchr(p, '.');
		if (!dot)
			return -1;
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	memmove(name, p, len + 1);
	if (len == 0)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '.') {
			if (++label > 63)
				return -1;
			continue;
		}
		if (label == 0)
			return -1;
		label = 0;
	}
	return 0;
}

void spf_reverse_name(const struct spf_ip *ip, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	if (ip->family == AF_INET) {
		snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", ip->b[3], ip->b[2], ip->b[1],
		         ip->b[0]);
		return;
	}
	size_t n = 0;
	for (int i = 15; i >= 0 && n + 4 < cap; i--) {
		out[n++] = hex[ip->b[i] & 15];
		out[n++] = '.';
		out[n++] = hex[ip->b[i] >> 4];
		out[n++] = '.';
	}
	snprintf(out + n, cap - n, "ip6.arpa");
}
