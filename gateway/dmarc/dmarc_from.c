/*
 * dmarc_from.c: the Author Domain (RFC 7489 section 6.6.1, kept by RFC
 * 9989): the domains of the RFC5322.From field, normalised; and the
 * RFC 7489 Organizational Domain from the Public Suffix List.
 *
 * The From parser is small and strict: quoted strings, comments, angle
 * addresses and groups (RFC 5322 section 3.4). It fails closed: when it
 * cannot name every author with certainty (a bound exceeded, a construct
 * outside that grammar) it says so, and DMARC gives permerror, so that
 * the payload's (lenient) parser never shows an author DMARC did not
 * check. tests/dmarc/test_from_property.py holds the two to that.
 *
 * Must never: read past len, allocate on the heap, return a domain that
 * is not a normalised DNS name, or skip an address silently.
 */
#include <ctype.h>
#include <libpsl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "routes.h"

#define FROM_FIELD_MAX  8192 /* bytes of one unfolded From field; longer: an error */
#define FROM_MAX_FIELDS 8    /* From fields; more: an error */
#define FROM_MAX_ADDRS  32   /* addresses in all From fields; more: an error */

static bool is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Checks label and name lengths of an A-label-form name; lower-cases it in place. */
static int check_name(char *name)
{
	size_t len = strlen(name), label = 0;
	if (len == 0 || len > 253 || name[0] == '.')
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
			continue;
		}
		if (c <= 0x20 || c == 0x7f || c == '@' || c == '[' || c == ']' || c == '\\')
			return -1;
		name[i] = (char)tolower(c);
		if (++label > 63)
			return -1;
	}
	return label == 0 ? -1 : 0;
}

int dmarc_domain_normalize(const char *in, size_t inlen, char out[DMARC_DOMAIN_MAX])
{
	char buf[DMARC_DOMAIN_MAX * 2];
	out[0] = '\0';
	while (inlen > 0 && in[inlen - 1] == '.')
		inlen--;
	if (inlen == 0 || inlen >= sizeof(buf) || memchr(in, '\0', inlen))
		return -1;
	memcpy(buf, in, inlen);
	buf[inlen] = '\0';
	if (!is_ascii(buf, inlen)) {
		char ascii[DMARC_DOMAIN_MAX];

		/* The routing table's IDNA conversion: one notion of a domain everywhere. */
		if (idna_to_ascii(buf, ascii, sizeof(ascii)) < 0)
			return -1;
		memcpy(buf, ascii, strlen(ascii) + 1);
	} else if (inlen >= DMARC_DOMAIN_MAX) {
		return -1;
	}
	if (check_name(buf) < 0)
		return -1;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

/*
 * Strict, fail-closed reading of one From field value (RFC 5322 section
 * 3.4): address-list of mailboxes ("[phrase] <addr-spec>" or a bare
 * addr-spec) and groups ("phrase: mailbox-list;"), with CFWS anywhere
 * between tokens. Whatever is not that grammar (obsolete routes, domain
 * literals, unterminated quotes, comments or brackets, two addresses
 * without a comma, a mailbox without a domain) is an error: the payload's
 * MIME parser is lenient and would show an author DMARC did not check
 * (RFC 7489 section 6.6.1 lets such a message be refused).
 */
struct fp {
	const char *v; /* the unfolded value */
	size_t len, i;
	const char *err; /* first error, static */
	char (*out)[DMARC_DOMAIN_MAX];
	size_t max, *count, n_addrs;
	size_t n_elems; /* mailboxes and groups, in all fields */
	bool bare;      /* a mailbox was a bare domain name */
};

static bool fp_fail(struct fp *p, const char *why)
{
	if (!p->err)
		p->err = why;
	return false;
}

/* Skips white space and (nested) comments. */
static bool skip_cfws(struct fp *p)
{
	size_t depth = 0;
	for (; p->i < p->len; p->i++) {
		char c = p->v[p->i];
		if (depth > 0) {
			if (c == '\\')
				p->i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t') {
			break;
		}
	}
	return depth == 0 || fp_fail(p, "unterminated comment in From");
}

/* RFC 5322 atext, and UTF-8 (RFC 6532 section 3.2). */
static bool is_atext(unsigned char c)
{
	return c >= 0x80 || isalnum(c) ||
	       (c > 0x20 && c < 0x7f && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Skips a quoted string at p->i (which is '"'). */
static bool skip_quoted(struct fp *p)
{
	for (p->i++; p->i < p->len; p->i++) {
		char c = p->v[p->i];
		if (c == '\\')
			p->i++;
		else if (c == '"') {
			p->i++;
			return true;
		}
	}
	return fp_fail(p, "unterminated quoted string in From");
}

/* A phrase (display name or group name): words and '.'; has_at notes an unquoted '@'. */
static bool skip_phrase(struct fp *p, bool *has_at, bool *empty)
{
	*has_at = false;
	*empty = true;
	for (;;) {
		if (!skip_cfws(p))
			return false;
		if (p->i >= p->len)
			return true;
		unsigned char c = (unsigned char)p->v[p->i];
		if (c == '"') {
			if (!skip_quoted(p))
				return false;
		} else if (is_atext(c) || c == '.' || c == '@') {
			*has_at |= c == '@';
			p->i++;
		} else {
			return true;
		}
		*empty = false;
	}
}

/*
 * d[0..n) is the domain of one address (CFWS removed; bare: the
 * mailbox had no '@'): noted as an author domain, once.
 */
static bool take_domain(struct fp *p, const char *d, size_t n, bool bare)
{
	char norm[DMARC_DOMAIN_MAX];
	if (n == 0)
		return fp_fail(p, "From address without a domain");
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)d[k];
		if (c < 0x80 && !isalnum(c) && c != '-' && c != '.' && c != '_')
			return fp_fail(p, "From address with an invalid domain");
	}
	/* A bare name counts only as a plain LDH domain name: the payload shows nothing else. */
	for (size_t k = 0; bare && k < n; k++)
		if ((unsigned char)d[k] >= 0x80 || d[k] == '_')
			return fp_fail(p, "From mailbox without a domain");
	if (bare && (!memchr(d, '.', n) || d[n - 1] == '.'))
		return fp_fail(p, "From mailbox without a domain");
	p->bare |= bare;
	if (dmarc_domain_normalize(d, n, norm) < 0)
		return fp_fail(p, "From address with an invalid domain");
	if (++p->n_addrs > FROM_MAX_ADDRS)
		return fp_fail(p, "too many addresses in From");
	for (size_t k = 0; k < *p->count && k < p->max; k++)
		if (strcmp(p->out[k], norm) == 0)
			return true;
	if (*p->count < p->max)
		memcpy(p->out[*p->count], norm, strlen(norm) + 1);
	(*p->count)++;
	return true;
}

static void put(char *buf, size_t cap, size_t *n, bool *overflow, char c)
{
	if (*n + 1 < cap)
		buf[(*n)++] = c;
	else
		*overflow = true;
}

/*
 * An addr-spec at p->i: atoms or quoted strings joined by '.', one '@',
 * then a dot-atom domain. CFWS may surround '.' and '@' only: two words
 * side by side are two addresses without a comma, an error. Without '@'
 * a domain name counts as the author domain (a spoofed "From:
 * bank.example" meets bank.example's policy).
 */
static bool addr_spec(struct fp *p)
{
	char buf[DMARC_DOMAIN_MAX * 2];
	size_t n = 0;
	bool at = false, word = false, any = false, quoted = false, overflow = false;
	for (;;) {
		if (!skip_cfws(p))
			return false;
		if (p->i >= p->len)
			break;
		unsigned char c = (unsigned char)p->v[p->i];
		if (c == '@') {
			if (at || !word)
				return fp_fail(p, "From address with a malformed local part");
			at = true;
			word = overflow = false;
			n = 0;
			p->i++;
		} else if (c == '.') {
			if (!word) /* dot-atom: no leading or doubled dot */
				return fp_fail(p, "From address with a malformed dot-atom");
			put(buf, sizeof(buf), &n, &overflow, '.');
			word = false;
			p->i++;
		} else if (c == '"' || is_atext(c)) {
			if (word || (c == '"' && at))
				return fp_fail(p, "two From addresses without a comma");
			if (c == '"') {
				if (!skip_quoted(p))
					return false;
				quoted = true;
			}
			for (; c != '"' && p->i < p->len && is_atext((unsigned char)p->v[p->i]);
			     p->i++)
				put(buf, sizeof(buf), &n, &overflow, p->v[p->i]);
			word = any = true;
		} else {
			break;
		}
	}
	if (!any)
		return fp_fail(p, "empty From address");
	if (overflow || (!at && quoted))
		return fp_fail(p, "From address without a usable domain");
	return take_domain(p, buf, n, !at);
}

static bool addr_list(struct fp *p, bool in_group);

/* One mailbox or group at p->i; an empty element (",,") is skipped, as the payload does. */
static bool address(struct fp *p, bool in_group)
{
	size_t start = p->i;
	bool has_at, empty;
	if (!skip_phrase(p, &has_at, &empty))
		return false;
	char c = p->i < p->len ? p->v[p->i] : '\0';
	p->n_elems += c == '<' || c == ':';
	if (c == '<') {
		if (has_at) /* the payload's parser reads "a@b.example <c@d.example>" as two */
			return fp_fail(p, "unquoted '@' in a From display name");
		p->i++;
		if (!addr_spec(p))
			return false;
		if (p->i >= p->len || p->v[p->i] != '>')
			return fp_fail(p, "unterminated or malformed angle address in From");
		p->i++;
		return true;
	}
	if (c == ':') {
		if (in_group)
			return fp_fail(p, "group inside a group in From");
		if (empty || has_at)
			return fp_fail(p, "From group without a valid name");
		p->i++;
		return addr_list(p, true);
	}
	if (empty)
		return true;
	p->n_elems++;
	p->i = start; /* no angle: the words were an addr-spec; read them as one */
	return addr_spec(p);
}

/* address *("," address), ended by the value's end or, in a group, by ';'. */
static bool addr_list(struct fp *p, bool in_group)
{
	for (;;) {
		if (!address(p, in_group) || !skip_cfws(p))
			return false;
		if (p->i >= p->len)
			return true; /* an unterminated group ends with the field, as the payload
			                reads it */
		char c = p->v[p->i++];
		if (c == ';' && in_group)
			return true;
		/* A stray ';' ending the field: the payload's parser stops there too. */
		if (c == ';' && skip_cfws(p) && p->i >= p->len)
			return true;
		if (c != ',')
			return fp_fail(p, "unexpected character in From");
	}
}

size_t dmarc_field_len(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		if (!nl)
			return len;
		i = (size_t)(nl - p) + 1;
		if (i >= len || (p[i] != ' ' && p[i] != '\t'))
			return i;
	}
	return len;
}

/*
 * Copies a field value without its line breaks (RFC 5322 section 2.2.3
 * unfolding). Returns cap when it does not fit.
 */
static size_t unfold(const char *v, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < cap; i++)
		if (v[i] != '\r' && v[i] != '\n')
			buf[o++] = v[i];
	return o;
}

/* A field starts with a name (RFC 5322 ftext), optional WSP, then ':'. */
static bool field_name_ok(const char *f, size_t n)
{
	size_t k = 0;
	while (k < n && f[k] > 32 && f[k] < 127 && f[k] != ':')
		k++;
	if (k == 0)
		return false;
	while (k < n && (f[k] == ' ' || f[k] == '\t'))
		k++;
	return k < n && f[k] == ':';
}

int dmarc_from_domains(const char *hdr, size_t len, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                       struct dmarc_from_info *info)
{
	size_t count = 0, fields = 0, i = 0;
	struct fp p = {.out = out, .max = max, .count = &count};
	bool malformed = false;
	while (i < len && !p.err) {
		if (hdr[i] == '\n' || (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n'))
			break; /* the empty line: end of the header */
		size_t flen = dmarc_field_len(hdr + i, len - i);
		if (!field_name_ok(hdr + i, flen))
			malformed = true; /* the payload's parser may take the rest as body */
		else if (flen >= 5 && strncasecmp(hdr + i, "from", 4) == 0 && malformed)
			fp_fail(&p, "From field after a malformed header line");
		if (flen >= 5 && strncasecmp(hdr + i, "from", 4) == 0) {
			size_t k = 4;
			while (k < flen && (hdr[i + k] == ' ' || hdr[i + k] == '\t'))
				k++;
			if (k < flen && hdr[i + k] == ':') {
				char buf[FROM_FIELD_MAX];
				size_t n = unfold(hdr + i + k + 1, flen - k - 1, buf, sizeof(buf));
				if (++fields > FROM_MAX_FIELDS)
					fp_fail(&p, "too many From fields");
				else if (n == sizeof(buf))
					fp_fail(&p, "From field too long");
				else if (memchr(buf, '\0', n))
					fp_fail(&p, "NUL in From");
				p.v = buf;
				p.len = n;
				p.i = 0;
				if (!p.err)
					addr_list(&p, false);
			}
		}
		i += flen;
	}
	/* The payload shows a bare name only when it stands alone in the field. */
	if (p.bare && (p.n_elems > 1 || fields > 1))
		fp_fail(&p, "From mailbox without a domain");
	if (info) {
		info->n_fields = fields;
		info->error = p.err;
	}
	if (p.err)
		return DMARC_FROM_ERROR;
	return fields == 0 ? DMARC_FROM_NONE : (int)count;
}

int dmarc_psl_org_domain(const struct psl_ctx_st *psl, const char *domain,
                         char out[DMARC_DOMAIN_MAX])
{
	char *lower = NULL;
	out[0] = '\0';
	if (!domain || !domain[0] || domain[0] == '.')
		return -1;
	if (!psl)
		psl = psl_builtin();
	if (!psl || psl_str_to_utf8lower(domain, "utf-8", NULL, &lower) != PSL_SUCCESS)
		return -1;
	const char *reg = psl_registrable_domain(psl, lower);
	int rc = -1;
	if (reg && strlen(reg) < DMARC_DOMAIN_MAX) {
		memcpy(out, reg, strlen(reg) + 1);
		rc = 0;
	}
	psl_free_string(lower);
	return rc;
}
