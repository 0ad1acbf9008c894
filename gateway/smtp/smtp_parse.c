/*
 * smtp_parse.c: command-line parsing for the SMTP session. Owns the
 * grammar of RFC 5321 4.1.2 (Path, Reverse-path, Mailbox, Local-part,
 * Domain, address-literal, esmtp-param), its RFC 6531 3.3 UTF-8
 * extension, the size limits of RFC 5321 4.5.3.1, base64 (RFC 4648) and
 * SASL PLAIN (RFC 4616).
 *
 * Pure: bytes in, verdict out. Never allocates, never reads past the NUL
 * of its input, never accepts what the grammar does not (no bare
 * addresses, no comments, no unbalanced quotes or brackets).
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "smtp_parse.h"
#include "utf8.h"

void smtp_parse_verb(const char *line, size_t *verblen, const char **arg)
{
	const char *sp = strchr(line, ' ');
	if (!sp) {
		*verblen = strlen(line);
		*arg = NULL;
		return;
	}
	*verblen = (size_t)(sp - line);
	*arg = sp + 1;
}

const char *smtp_parse_prefix(const char *arg, const char *prefix)
{
	size_t n = strlen(prefix);
	if (!arg || strncasecmp(arg, prefix, n) != 0)
		return NULL;
	arg += n;
	/* RFC 5321 has no space after the colon; widely sent, harmless. */
	while (*arg == ' ')
		arg++;
	return arg;
}

int smtp_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static bool deceptive_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

bool smtp_utf8_deceptive(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
		if (len - i <= n)
			return true; /* truncated: never well-formed, refused too */
		uint32_t cp = n ? c & (0x3fu >> n) : c;
		for (size_t k = 1; k <= n; k++)
			cp = (cp << 6) | (s[i + k] & 0x3f);
		if (deceptive_cp(cp))
			return true;
		i += n + 1;
	}
	return false;
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 atext, plus UTF-8 octets (RFC 6531 3.3). */
static bool is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

struct cursor {
	const unsigned char *p;
	bool utf8;
};

static enum smtp_perr parse_dot_string(struct cursor *c)
{
	for (;;) {
		const unsigned char *start = c->p;
		while (is_atext(*c->p)) {
			if (*c->p >= 0x80)
				c->utf8 = true;
			c->p++;
		}
		if (c->p == start)
			return PERR_SYNTAX;
		if (*c->p != '.')
			return PERR_OK;
		c->p++;
	}
}

static enum smtp_perr parse_quoted(struct cursor *c)
{
	c->p++; /* DQUOTE */
	for (;;) {
		unsigned char ch = *c->p;
		if (ch == '"') {
			c->p++;
			return PERR_OK;
		}
		if (ch == '\\') {
			if (c->p[1] < 32 || c->p[1] > 126)
				return PERR_SYNTAX;
			c->p += 2;
			continue;
		}
		if (ch >= 0x80) {
			c->utf8 = true;
		} else if (ch < 32 || ch > 126) {
			return PERR_SYNTAX; /* NUL ends the line: unterminated quote */
		}
		c->p++;
	}
}

/* sub-domain = Let-dig [Ldh-str]; U-labels count as letters (RFC 6531). */
static enum smtp_perr parse_domain(struct cursor *c)
{
	for (;;) {
		const unsigned char *start = c->p;
		unsigned char last = 0;
		while (is_alpha(*c->p) || is_digit(*c->p) || *c->p == '-' || *c->p >= 0x80) {
			if (*c->p >= 0x80)
				c->utf8 = true;
			last = *c->p++;
		}
		if (c->p == start || *start == '-' || last == '-')
			return PERR_SYNTAX;
		if (*c->p != '.')
			return PERR_OK;
		c->p++;
	}
}

static enum smtp_perr parse_literal(struct cursor *c)
{
	const char *start = (const char *)++c->p; /* '[' */
	const char *end = strchr(start, ']');
	char buf[64];
	unsigned char tmp[16];
	if (!end || end == start || (size_t)(end - start) >= sizeof buf)
		return PERR_SYNTAX;
	size_t n = (size_t)(end - start);
	memcpy(buf, start, n);
	buf[n] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, tmp) != 1)
			return PERR_SYNTAX;
	} else if (is_digit((unsigned char)buf[0])) {
		if (inet_pton(AF_INET, buf, tmp) != 1)
			return PERR_SYNTAX;
	} else {
		/* General-address-literal: Standardized-tag ":" 1*dcontent */
		const char *colon = strchr(buf, ':');
		if (!colon || colon == buf || !colon[1])
			return PERR_SYNTAX;
		for (const char *q = buf; q < colon; q++)
			if (!is_alpha((unsigned char)*q) && !is_digit((unsigned char)*q) &&
			    *q != '-')
				return PERR_SYNTAX;
		for (const char *q = colon + 1; *q; q++)
			if (*q < 33 || *q > 126 || *q == '[' || *q == '\\')
				return PERR_SYNTAX;
	}
	c->p = (const unsigned char *)end + 1;
	return PERR_OK;
}

/* A-d-l = At-domain *( "," At-domain ) ":"  (source route, ignored: RFC 5321 C) */
static enum smtp_perr skip_source_route(struct cursor *c)
{
	for (;;) {
		if (*c->p != '@')
			return PERR_SYNTAX;
		c->p++;
		enum smtp_perr e = parse_domain(c);
		if (e)
			return e;
		if (*c->p == ':') {
			c->p++;
			return PERR_OK;
		}
		if (*c->p != ',')
			return PERR_SYNTAX;
		c->p++;
	}
}

static enum smtp_perr parse_mailbox(struct cursor *c, struct smtp_path *out)
{
	const unsigned char *start = c->p;
	enum smtp_perr e = *c->p == '"' ? parse_quoted(c) : parse_dot_string(c);
	if (e)
		return e;
	if ((size_t)(c->p - start) > SMTP_LOCAL_MAX)
		return PERR_TOO_LONG;
	if (*c->p != '@')
		return PERR_SYNTAX;
	c->p++;
	const unsigned char *dom = c->p;
	e = *c->p == '[' ? parse_literal(c) : parse_domain(c);
	if (e)
		return e;
	if ((size_t)(c->p - dom) > SMTP_DOMAIN_MAX)
		return PERR_TOO_LONG;
	size_t n = (size_t)(c->p - start);
	if (n + 2 > SMTP_PATH_MAX)
		return PERR_TOO_LONG;
	memcpy(out->addr, start, n);
	out->addr[n] = '\0';
	return PERR_OK;
}

enum smtp_perr smtp_parse_path(const char **p, bool allow_null, struct smtp_path *out)
{
	struct cursor c = {(const unsigned char *)*p, false};
	const unsigned char *open = c.p;
	memset(out, 0, sizeof *out);
	if (*c.p != '<')
		return PERR_SYNTAX;
	c.p++;
	if (*c.p == '>') {
		if (!allow_null)
			return PERR_SYNTAX;
		out->null = true;
		*p = (const char *)c.p + 1;
		return PERR_OK;
	}
	if (*c.p == '@') {
		enum smtp_perr e = skip_source_route(&c);
		if (e)
			return e;
	}
	enum smtp_perr e = parse_mailbox(&c, out);
	if (e)
		return e;
	if (*c.p != '>')
		return PERR_SYNTAX;
	c.p++;
	if ((size_t)(c.p - open) > SMTP_PATH_MAX)
		return PERR_TOO_LONG;
	if (c.utf8 && !utf8_valid(out->addr, strlen(out->addr)))
		return PERR_BAD_UTF8;
	if (c.utf8 && smtp_utf8_deceptive((const unsigned char *)out->addr, strlen(out->addr)))
		return PERR_DECEPTIVE;
	out->utf8 = c.utf8;
	*p = (const char *)c.p;
	return PERR_OK;
}

static bool is_kw_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '-';
}

/* esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 allowed (RFC 6531 3.3) */
static bool is_value_char(unsigned char c)
{
	return (c >= 33 && c <= 126 && c != '=') || c >= 0x80;
}

enum smtp_perr smtp_parse_params(const char *p, struct smtp_param *out, size_t max, size_t *n)
{
	const unsigned char *c = (const unsigned char *)p;
	*n = 0;
	for (;;) {
		while (*c == ' ')
			c++;
		if (!*c)
			return PERR_OK;
		if (*n == max)
			return PERR_TOO_MANY;
		struct smtp_param *pm = &out[*n];
		if (!is_alpha(*c) && !is_digit(*c))
			return PERR_SYNTAX;
		pm->kw = (const char *)c;
		while (is_kw_char(*c))
			c++;
		pm->kwlen = (size_t)((const char *)c - pm->kw);
		pm->val = NULL;
		pm->vallen = 0;
		if (*c == '=') {
			pm->val = (const char *)++c;
			while (is_value_char(*c))
				c++;
			pm->vallen = (size_t)((const char *)c - pm->val);
			if (pm->vallen == 0)
				return PERR_SYNTAX;
			if (!utf8_valid(pm->val, pm->vallen))
				return PERR_BAD_UTF8;
		}
		if (*c && *c != ' ')
			return PERR_SYNTAX;
		(*n)++;
	}
}

static int copy_field(const unsigned char *p, size_t n, char *dst, size_t max)
{
	if (n == 0 || n >= max || memchr(p, '\0', n))
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* RFC 4616 section 2: [authzid] NUL authcid NUL passwd, split at its first two NULs. */
static int sasl_fields(const unsigned char *msg, size_t len, const unsigned char *f[3], size_t n[3])
{
	for (int i = 0; i < 2; i++) {
		const unsigned char *nul = memchr(msg, '\0', len);
		if (!nul)
			return -1;
		f[i] = msg;
		n[i] = (size_t)(nul - msg);
		len -= n[i] + 1;
		msg = nul + 1;
	}
	f[2] = msg;
	n[2] = len;
	return 0;
}

int smtp_sasl_plain(const unsigned char *msg, size_t len, char *user, size_t usermax, char *pass,
                    size_t passmax)
{
	const unsigned char *f[3]; /* authzid, authcid, passwd */
	size_t n[3];
	if (sasl_fields(msg, len, f, n) || copy_field(f[1], n[1], user, usermax) ||
	    copy_field(f[2], n[2], pass, passmax))
		return -1;
	/* We do not let one identity act for another. */
	if (n[0] && (n[0] != n[1] || memcmp(f[0], f[1], n[1]) != 0))
		return -1;
	return 0;
}
