/*
 * spf_record.c: the SPF record parser (RFC 7208 sections 4.5, 4.6, 5, 6,
 * 7.1 and the ABNF of section 12).
 *
 * The whole record is checked before anything is evaluated, so a syntax
 * error anywhere is a permerror (section 4.6). Terms are split on spaces
 * only; every other byte must be VCHAR (section 3.1: the record is 7-bit
 * ASCII). Mechanism and modifier names are case-insensitive (RFC 5234).
 *
 * Pure: no DNS, no allocation beyond the record's own copy and term array;
 * never reads past len, never accepts more than SPF_MAX_TERMS terms.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf_int.h"

static const char *const mech_names[SPF_M_MAX] = {
    [SPF_M_ALL] = "all", [SPF_M_INCLUDE] = "include", [SPF_M_A] = "a",
    [SPF_M_MX] = "mx",   [SPF_M_PTR] = "ptr",         [SPF_M_IP4] = "ip4",
    [SPF_M_IP6] = "ip6", [SPF_M_EXISTS] = "exists",
};

bool spf_record_is_v1(const char *txt, size_t len)
{
	if (len < 6 || strncasecmp(txt, "v=spf1", 6) != 0)
		return false;
	return len == 6 || txt[6] == ' ';
}

static int fail(char *err, size_t errlen, const char *msg, const char *term)
{
	snprintf(err, errlen, "%s%s%s", msg, term ? ": " : "", term ? term : "");
	return -1;
}

/* A CIDR length without leading zeros, at most max (sections 5.6, 12). */
static int parse_cidr(const char *s, size_t len, int max)
{
	int v = 0;
	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

int spf_parse_ip4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;
		while (i < len && isdigit((unsigned char)s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return -1;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
	}
	return i == len ? 0 : -1;
}

static bool is_alnum_hyphen_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/*
 * toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 */
static bool toplabel_ok(const char *s, size_t len)
{
	bool alpha = false;
	if (len == 0 || !is_alnum_hyphen_ok(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if (isalpha((unsigned char)s[i]))
			alpha = true;
	if (!memchr(s, '-', len))
		return alpha;
	return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[len - 1]);
}

/*
 * Whether the macro-string s ends in a macro-expand; the syntax itself is
 * checked by spf_macro_check. Scans left to right so that "%%}" is seen as
 * "%%" then "}".
 */
static bool ends_in_macro(const char *s, size_t len)
{
	bool last = false;
	for (size_t i = 0; i < len;) {
		if (s[i] != '%') {
			last = false;
			i++;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '{') {
			const char *close = memchr(s + i, '}', len - i);
			if (!close)
				return false;
			i = (size_t)(close - s) + 1;
		} else {
			i += 2;
		}
		last = true;
	}
	return last;
}

/* domain-spec = macro-string domain-end (section 7.1) */
static int domain_spec_ok(const char *s, size_t len, bool *uses_p)
{
	if (len == 0 || spf_macro_check(s, len, SPF_MACRO_DOMAIN, uses_p) < 0)
		return -1;
	if (ends_in_macro(s, len))
		return 0;
	if (s[len - 1] == '.')
		len--;
	const char *dot = len ? memrchr(s, '.', len) : NULL;
	if (!dot || dot == s)
		return -1; /* domain-end needs "." toplabel after something */
	size_t tl = len - (size_t)(dot - s) - 1;
	return toplabel_ok(dot + 1, tl) ? 0 : -1;
}

/* Strips a trailing dual-cidr-length ("/24", "//64", "/24//64") from *len. */
static int dual_cidr(struct spf_term *t, const char *s, size_t *len)
{
	size_t p = *len, j = p;
	while (j > 0 && isdigit((unsigned char)s[j - 1]))
		j--;
	if (j < p && j >= 2 && s[j - 1] == '/' && s[j - 2] == '/') {
		if ((t->cidr6 = parse_cidr(s + j, p - j, 128)) < 0)
			return -1;
		p = j - 2;
	}
	j = p;
	while (j > 0 && isdigit((unsigned char)s[j - 1]))
		j--;
	if (j < p && j >= 1 && s[j - 1] == '/') {
		if ((t->cidr4 = parse_cidr(s + j, p - j, 32)) < 0)
			return -1;
		p = j - 1;
	}
	*len = p;
	return 0;
}

static int parse_ip_mech(struct spf_term *t, const char *arg, size_t len)
{
	const char *slash;
	size_t nlen;
	int max = t->mech == SPF_M_IP4 ? 32 : 128;

	if (len < 2 || arg[0] != ':')
		return -1;
	arg++;
	len--;
	slash = memchr(arg, '/', len);
	nlen = slash ? (size_t)(slash - arg) : len;
	if (slash) {
		int c = parse_cidr(slash + 1, len - nlen - 1, max);
		if (c < 0)
			return -1;
		if (t->mech == SPF_M_IP4)
			t->cidr4 = c;
		else
			t->cidr6 = c;
	}
	if (t->mech == SPF_M_IP4)
		return spf_parse_ip4(arg, nlen, t->net);
	char buf[INET6_ADDRSTRLEN + 1];
	if (nlen == 0 || nlen >= sizeof(buf))
		return -1;
	memcpy(buf, arg, nlen);
	buf[nlen] = '\0';
	return inet_pton(AF_INET6, buf, t->net) == 1 ? 0 : -1;
}

/* The part of a mechanism after its name: [":" domain-spec] [cidr]. */
static int parse_mech_arg(struct spf_term *t, const char *arg, size_t len)
{
	switch (t->mech) {
	case SPF_M_ALL:
		return len == 0 ? 0 : -1;
	case SPF_M_IP4:
	case SPF_M_IP6:
		return parse_ip_mech(t, arg, len);
	case SPF_M_A:
	case SPF_M_MX:
		if (dual_cidr(t, arg, &len) < 0)
			return -1;
		break;
	default:
		break;
	}
	if (len == 0)
		return t->mech == SPF_M_INCLUDE || t->mech == SPF_M_EXISTS ? -1 : 0;
	if (arg[0] != ':')
		return -1;
	t->spec = arg + 1;
	t->spec_len = len - 1;
	return domain_spec_ok(t->spec, t->spec_len, &t->uses_p);
}

static int parse_directive(struct spf_term *t, const char *s, size_t len)
{
	size_t n = 0;
	t->kind = SPF_T_MECH;
	t->qual = SPF_PASS;
	if (len && strchr("+-~?", s[0])) {
		static const enum spf_result q[] = {SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_NEUTRAL};
		t->qual = q[strchr("+-~?", s[0]) - "+-~?"];
		s++;
		len--;
	}
	while (n < len && isalnum((unsigned char)s[n]))
		n++;
	for (int m = 0; m < SPF_M_MAX; m++) {
		if (strlen(mech_names[m]) == n && strncasecmp(s, mech_names[m], n) == 0) {
			t->mech = (enum spf_mech)m;
			return parse_mech_arg(t, s + n, len - n);
		}
	}
	return -1;
}

/* modifier = redirect / explanation / unknown-modifier (section 6, 12) */
static int parse_modifier(struct spf_record *rec, struct spf_term *t, const char *s, size_t nlen,
                          size_t len)
{
	const char *val = s + nlen + 1;
	size_t vlen = len - nlen - 1;
	bool uses_p = false;

	if (nlen == 0 || !isalpha((unsigned char)s[0]))
		return -1;
	if (nlen == 8 && strncasecmp(s, "redirect", 8) == 0)
		t->kind = SPF_T_REDIRECT;
	else if (nlen == 3 && strncasecmp(s, "exp", 3) == 0)
		t->kind = SPF_T_EXP;
	else
		return spf_macro_check(val, vlen, SPF_MACRO_EXP, &uses_p);
	int *slot = t->kind == SPF_T_REDIRECT ? &rec->redirect : &rec->exp;
	if (*slot >= 0)
		return -1; /* section 6: each at most once */
	*slot = (int)rec->n;
	t->spec = val;
	t->spec_len = vlen;
	return domain_spec_ok(val, vlen, &t->uses_p);
}

static int parse_term(struct spf_record *rec, struct spf_term *t, const char *s, size_t len)
{
	size_t n = 0;
	*t = (struct spf_term){.text = s, .cidr4 = 32, .cidr6 = 128};
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return -1;
	while (n < len && (isalnum((unsigned char)s[n]) || strchr("-_.", s[n])))
		n++;
	if (n < len && s[n] == '=') {
		t->kind = SPF_T_UNKNOWN;
		return parse_modifier(rec, t, s, n, len);
	}
	return parse_directive(t, s, len);
}

void spf_record_free(struct spf_record *rec)
{
	free(rec->text);
	free(rec->terms);
	*rec = (struct spf_record){.redirect = -1, .exp = -1};
}

static int parse_terms(struct spf_record *rec, char *err, size_t errlen)
{
	char *p = rec->text + 6;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		char *end = p;
		while (*end && *end != ' ')
			end++;
		size_t tlen = (size_t)(end - p);
		bool last = *end == '\0';
		*end = '\0'; /* every term is its own string for reports */
		if (rec->n == SPF_MAX_TERMS)
			return fail(err, errlen, "too many terms", NULL);
		if (parse_term(rec, &rec->terms[rec->n], p, tlen) < 0)
			return fail(err, errlen, "syntax error in term", p);
		rec->n++;
		if (last)
			return 0;
		p = end + 1;
	}
}

/* Space-separated words after "v=spf1": the size of the term array. */
static size_t count_terms(const char *txt, size_t len)
{
	size_t n = 0;
	for (size_t i = 6; i < len; i++)
		if (txt[i] != ' ' && (i == 6 || txt[i - 1] == ' '))
			n++;
	return n;
}

int spf_record_parse(const char *txt, size_t len, struct spf_record *rec, char *err, size_t errlen)
{
	*rec = (struct spf_record){.redirect = -1, .exp = -1};
	if (len > SPF_RECORD_MAX)
		return fail(err, errlen, "record too long", NULL);
	if (!spf_record_is_v1(txt, len))
		return fail(err, errlen, "not an SPF version 1 record", NULL);
	if (memchr(txt, '\0', len))
		return fail(err, errlen, "NUL byte in record", NULL);
	size_t nterms = count_terms(txt, len);
	if (nterms > SPF_MAX_TERMS)
		return fail(err, errlen, "too many terms", NULL);
	rec->text = malloc(len + 1);
	rec->terms = calloc(nterms ? nterms : 1, sizeof(*rec->terms));
	if (!rec->text || !rec->terms) {
		spf_record_free(rec);
		return fail(err, errlen, "out of memory", NULL);
	}
	memcpy(rec->text, txt, len);
	rec->text[len] = '\0';
	if (parse_terms(rec, err, errlen) < 0) {
		spf_record_free(rec);
		return -1;
	}
	return 0;
}
