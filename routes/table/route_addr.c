/*
 * routes/table/route_addr.c: splitting an addr-spec (RFC 5321 4.1.2, RFC 6531
 * 3.3 for UTF-8) into the local part and the domain the router compares,
 * and the glob match of local-part wildcards.
 *
 * Decisions (docs/routing.md says the same to users):
 *  - A quoted local part is routed by its unquoted content, quoted-pairs
 *    resolved: "john.doe"@x and john.doe@x are one mailbox (RFC 5322
 *    3.4.1 calls the forms equivalent), "john doe"@x routes as john doe.
 *  - An unquoted local part holds atext, '.' and UTF-8; dots are not
 *    checked for position or repetition (real mail has "a..b"); anything
 *    else (space, '<', ',', ':', '\\', controls) makes it unroutable.
 *  - Limits: 64 octets of local part when it is ASCII (RFC 5321
 *    4.5.3.1.1); a UTF-8 local part may have 64 characters and at most
 *    ROUTE_LOCAL_MAX - 1 octets. The domain: 255 octets as written
 *    (4.5.3.1.2) and 253 in A-label form.
 *  - An address literal ([192.0.2.1], [IPv6:...]) is recognised so that the
 *    router can say "never ours"; it is not validated further.
 *  - Source routes (@a,@b:user@d) are the SMTP parser's to strip.
 *
 * Never: allocates, or writes past the fixed buffers of struct route_addr.
 */
#include <string.h>

#include "route_int.h"
#include "utf8.h"

#define LOCAL_OCTETS_ASCII 64 /* RFC 5321 4.5.3.1.1 */
#define LOCAL_CHARS_UTF8   64

static const char *const addr_err_text[ADDR_ERR_MAX] = {
    [ADDR_OK] = "ok",
    [ADDR_EMPTY] = "empty address",
    [ADDR_NO_AT] = "no '@'",
    [ADDR_EMPTY_LOCAL] = "empty local part",
    [ADDR_EMPTY_DOMAIN] = "empty domain",
    [ADDR_LOCAL_TOO_LONG] = "local part longer than 64 characters",
    [ADDR_DOMAIN_TOO_LONG] = "domain longer than 255 octets",
    [ADDR_BAD_LOCAL] = "character not allowed in a local part",
    [ADDR_BAD_QUOTES] = "malformed quoted local part",
    [ADDR_BAD_UTF8] = "invalid UTF-8",
    [ADDR_BAD_DOMAIN] = "invalid domain",
    [ADDR_LITERAL] = "address literal",
};

const char *route_addr_err_text(enum route_addr_err e)
{
	return (unsigned)e < ADDR_ERR_MAX ? addr_err_text[e] : "?";
}

/* RFC 5322 3.2.3 atext, without ALPHA / DIGIT. */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Counts characters; -1 when s is not UTF-8. */
static int utf8_chars(const char *s, size_t len)
{
	int n = 0;
	for (size_t i = 0; i < len; n++) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (k == 0)
			return -1;
		i += k;
	}
	return n;
}

/* Copies a quoted-string's content; *end gets the index past the quote. */
static enum route_addr_err split_quoted(const char *s, char *local, size_t *len, size_t *end)
{
	size_t o = 0, i = 1;
	for (;; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return ADDR_BAD_QUOTES;
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)s[++i];
			if (c < 0x20 || c > 0x7E)
				return ADDR_BAD_QUOTES;
		} else if (c < 0x20 || c == 0x7F) {
			return ADDR_BAD_LOCAL;
		}
		if (o + 1 >= ROUTE_LOCAL_MAX)
			return ADDR_LOCAL_TOO_LONG;
		local[o++] = (char)c;
	}
	local[o] = '\0';
	*len = o;
	*end = i + 1;
	return s[*end] == '@' ? ADDR_OK : s[*end] == '\0' ? ADDR_NO_AT : ADDR_BAD_QUOTES;
}

static enum route_addr_err split_dot_atom(const char *s, char *local, size_t *len, size_t *end)
{
	size_t i = 0;
	for (; s[i] != '@'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return ADDR_NO_AT;
		if (c != '.' && c < 0x80 && !is_atext(c))
			return ADDR_BAD_LOCAL;
		if (i + 1 >= ROUTE_LOCAL_MAX)
			return ADDR_LOCAL_TOO_LONG;
	}
	memcpy(local, s, i);
	local[i] = '\0';
	*len = i;
	*end = i;
	return ADDR_OK;
}

/*
 * Splits the local part off s into local (unquoted). *at gets the index of
 * the '@' that ends it, *quoted whether it was a quoted-string.
 */
static enum route_addr_err split_local(const char *s, char *local, size_t *at, bool *quoted)
{
	size_t len = 0;
	*quoted = s[0] == '"';
	enum route_addr_err e =
	    *quoted ? split_quoted(s, local, &len, at) : split_dot_atom(s, local, &len, at);
	if (e != ADDR_OK)
		return e;
	if (len == 0)
		return ADDR_EMPTY_LOCAL;
	int chars = utf8_chars(local, len);
	if (chars < 0)
		return ADDR_BAD_UTF8;
	bool ascii = (size_t)chars == len;
	if (ascii && *at > LOCAL_OCTETS_ASCII)
		return ADDR_LOCAL_TOO_LONG;
	if (!ascii && chars > LOCAL_CHARS_UTF8)
		return ADDR_LOCAL_TOO_LONG;
	return ADDR_OK;
}

static enum route_addr_err split_literal(struct route_addr *a, size_t len)
{
	if (len < 3 || a->domain[len - 1] != ']' || strchr(a->domain + 1, '[') ||
	    strchr(a->domain, ']') != a->domain + len - 1)
		return ADDR_BAD_DOMAIN;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)a->domain[i];
		a->domain_ascii[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	return ADDR_LITERAL;
}

static enum route_addr_err split_domain(const char *d, struct route_addr *a)
{
	size_t len = strnlen(d, ROUTE_DOMAIN_MAX);
	if (len == 0)
		return ADDR_EMPTY_DOMAIN;
	if (len >= ROUTE_DOMAIN_MAX)
		return ADDR_DOMAIN_TOO_LONG;
	memcpy(a->domain, d, len + 1);
	if (d[0] == '[')
		return split_literal(a, len);
	if (idna_to_ascii(d, a->domain_ascii, sizeof a->domain_ascii) < 0)
		return ADDR_BAD_DOMAIN;
	return ADDR_OK;
}

static enum route_addr_err addr_split(const char *address, struct route_addr *a, bool *quoted)
{
	/* Not a memset: the struct is 1 KiB and lookups are hot. */
	a->local[0] = a->domain[0] = a->domain_ascii[0] = a->tag[0] = '\0';
	a->has_tag = false;
	if (!address || address[0] == '\0')
		return ADDR_EMPTY;
	size_t at;
	enum route_addr_err e = split_local(address, a->local, &at, quoted);
	if (e != ADDR_OK)
		return e;
	return split_domain(address + at + 1, a);
}

enum route_addr_err route_addr_split(const char *address, struct route_addr *a)
{
	bool quoted;
	return addr_split(address, a, &quoted);
}

enum route_addr_err route_pattern_split(const char *pattern, struct route_addr *a, bool *quoted,
                                        bool *subdomain)
{
	*subdomain = false;
	*quoted = false;
	const char *at = strrchr(pattern ? pattern : "", '@');
	if (at && at[1] == '*' && at[2] == '.') {
		/* Rebuild "local@suffix" so that the suffix gets the usual checks. */
		char buf[ROUTE_LOCAL_MAX * 2 + ROUTE_DOMAIN_MAX];
		size_t n = (size_t)(at - pattern) + 1;
		size_t rest = strlen(at + 3);
		if (n + rest + 1 > sizeof buf)
			return ADDR_LOCAL_TOO_LONG;
		memcpy(buf, pattern, n);
		memcpy(buf + n, at + 3, rest + 1);
		*subdomain = true;
		return addr_split(buf, a, quoted);
	}
	return addr_split(pattern, a, quoted);
}

/*
 * Iterative glob with one backtrack point: '*' takes the shortest run that
 * lets the rest match, retried one byte longer on failure. O(|glob| * |s|)
 * at worst, both bounded by ROUTE_LOCAL_MAX.
 */
bool route_glob_match(const char *glob, const char *s)
{
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*glob == '*') {
			star = glob++;
			resume = s;
		} else if (*glob == *s) {
			glob++;
			s++;
		} else if (star) {
			glob = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*glob == '*')
		glob++;
	return *glob == '\0';
}
