/*
 * dmarc_from.c: the Author Domain (RFC 7489 section 6.6.1, kept by RFC
 * 9989): the domains of the RFC5322.From field, normalised; and the
 * RFC 7489 Organizational Domain from the Public Suffix List.
 *
 * The From parser is deliberately small: it knows quoted strings,
 * comments, angle addresses and groups (RFC 5322 section 3.4), which is
 * what decides where an address's domain is. It does not validate the
 * rest. Every field and every address is bounded.
 *
 * Must never: read past len, allocate on the heap, or return a domain that
 * is not a normalised DNS name.
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

#define FROM_FIELD_MAX  8192 /* bytes of one unfolded From field we look at */
#define FROM_MAX_FIELDS 8    /* From fields examined */
#define FROM_MAX_ADDRS  32   /* addresses examined in one field */

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

/* Adds a domain to out unless it is there already; counts it either way when new. */
static void add_domain(const char *d, size_t n, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                       size_t *count)
{
	char norm[DMARC_DOMAIN_MAX];
	if (dmarc_domain_normalize(d, n, norm) < 0)
		return;
	for (size_t i = 0; i < *count && i < max; i++)
		if (strcmp(out[i], norm) == 0)
			return;
	if (*count < max)
		memcpy(out[*count], norm, strlen(norm) + 1);
	(*count)++;
}

/*
 * The domain of one address (display name, comments and angle brackets
 * already removed by the caller into addr): what follows the last '@'.
 * A bare domain name (no '@', at least one dot) is taken as is.
 */
static void address_domain(const char *addr, size_t n, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                           size_t *count)
{
	while (n > 0 && isspace((unsigned char)addr[0])) {
		addr++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)addr[n - 1]))
		n--;
	if (n == 0)
		return;
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (addr[i] == '@')
			at = addr + i;
	if (at) {
		size_t dn = n - (size_t)(at + 1 - addr);
		if (dn > 0 && at[1] != '[') /* a domain literal has no DMARC policy */
			add_domain(at + 1, dn, out, max, count);
		return;
	}
	if (memchr(addr, '.', n) && !memchr(addr, ' ', n) && !memchr(addr, '"', n))
		add_domain(addr, n, out, max, count);
}

/* Parser state over one unfolded field value. */
struct from_parse {
	char addr[DMARC_DOMAIN_MAX * 2]; /* the current address, outside comments/quotes kept */
	size_t n;
	bool overflow;
	char angle[DMARC_DOMAIN_MAX * 2]; /* the last <...> of the current address */
	size_t an;
	bool has_angle;
};

static void fp_put(char *buf, size_t cap, size_t *n, bool *overflow, char c)
{
	if (*n + 1 < cap)
		buf[(*n)++] = c;
	else
		*overflow = true;
}

static void fp_flush(struct from_parse *fp, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                     size_t *count, size_t *n_addrs)
{
	if (*n_addrs < FROM_MAX_ADDRS && !fp->overflow) {
		if (fp->has_angle)
			address_domain(fp->angle, fp->an, out, max, count);
		else
			address_domain(fp->addr, fp->n, out, max, count);
	}
	(*n_addrs)++;
	fp->n = fp->an = 0;
	fp->has_angle = fp->overflow = false;
}

/*
 * Walks one unfolded field value: quoted strings and comments are skipped
 * (their '@' and ',' mean nothing), "<...>" replaces what precedes it, a
 * ':' outside brackets opens a group (the text before it was the group's
 * name), ',' and ';' end an address.
 */
static void parse_field(const char *v, size_t len, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                        size_t *count)
{
	struct from_parse fp = {.n = 0};
	size_t n_addrs = 0, depth = 0;
	bool quoted = false, in_angle = false;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (c == '\\' && (quoted || depth > 0) && i + 1 < len) {
			i++;
			continue;
		}
		if (quoted) {
			quoted = c != '"';
			continue;
		}
		if (depth > 0) {
			depth += c == '(' ? 1 : c == ')' ? (size_t)-1 : 0;
			continue;
		}
		if (c == '(') {
			depth = 1;
		} else if (c == '"' && !in_angle) {
			quoted = true;
		} else if (c == '<' && !in_angle) {
			in_angle = true;
			fp.an = 0;
			fp.has_angle = true;
		} else if (c == '>' && in_angle) {
			in_angle = false;
		} else if (in_angle) {
			fp_put(fp.angle, sizeof(fp.angle), &fp.an, &fp.overflow, c);
		} else if (c == ':') {
			fp.n = 0; /* group name */
		} else if (c == ',' || c == ';') {
			fp_flush(&fp, out, max, count, &n_addrs);
		} else {
			fp_put(fp.addr, sizeof(fp.addr), &fp.n, &fp.overflow, c);
		}
	}
	fp_flush(&fp, out, max, count, &n_addrs);
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

/* Copies a field value without its line breaks (RFC 5322 section 2.2.3 unfolding). */
static size_t unfold(const char *v, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < cap; i++)
		if (v[i] != '\r' && v[i] != '\n')
			buf[o++] = v[i];
	return o;
}

int dmarc_from_domains(const char *hdr, size_t len, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                       size_t *n_fields)
{
	size_t count = 0, fields = 0, i = 0;
	while (i < len) {
		if (hdr[i] == '\n' || (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n'))
			break; /* the empty line: end of the header */
		size_t flen = dmarc_field_len(hdr + i, len - i);
		if (flen >= 5 && strncasecmp(hdr + i, "from", 4) == 0) {
			size_t k = 4;
			while (k < flen && (hdr[i + k] == ' ' || hdr[i + k] == '\t'))
				k++;
			if (k < flen && hdr[i + k] == ':' && fields < FROM_MAX_FIELDS) {
				char buf[FROM_FIELD_MAX];
				size_t n = unfold(hdr + i + k + 1, flen - k - 1, buf, sizeof(buf));
				parse_field(buf, n, out, max, &count);
				fields++;
			}
		}
		i += flen;
	}
	if (n_fields)
		*n_fields = fields;
	if (fields == 0)
		return -1;
	return (int)count;
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
