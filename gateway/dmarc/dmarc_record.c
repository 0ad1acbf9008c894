/*
 * dmarc_record.c: the DMARC policy record grammar (RFC 9989 section 4.7,
 * RFC 7489 section 6.3 and 6.4).
 *
 * A record is "v=DMARC1" followed by ";"-separated tag=value pairs, with
 * optional whitespace around "=" and ";". v must come first and its value
 * is the exact literal DMARC1; tag names and keyword values compare
 * without case. Unknown tags are ignored, so are malformed tag-specs: a
 * record is only refused when it is not DMARC at all, or when it carries
 * no usable policy and no report address (RFC 7489 section 6.6.3, RFC 9989
 * section 4.7).
 *
 * Must never: read past len, allocate, or depend on a NUL terminator
 * (TXT data may contain NUL bytes).
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"

/* A slice of the record. */
struct span {
	const char *p;
	size_t n;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span trim(struct span s)
{
	while (s.n > 0 && is_wsp(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_wsp(s.p[s.n - 1]))
		s.n--;
	return s;
}

static bool span_ieq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Splits "name = value" at the first '='; false when there is none. */
static bool split_tag(struct span spec, struct span *name, struct span *value)
{
	const char *eq = memchr(spec.p, '=', spec.n);
	if (!eq)
		return false;
	*name = trim((struct span){spec.p, (size_t)(eq - spec.p)});
	*value = trim((struct span){eq + 1, spec.n - (size_t)(eq + 1 - spec.p)});
	return name->n > 0;
}

/* The next ";"-separated tag-spec from *rest, trimmed; false at the end. */
static bool next_spec(struct span *rest, struct span *spec)
{
	if (rest->n == 0)
		return false;
	const char *semi = memchr(rest->p, ';', rest->n);
	size_t len = semi ? (size_t)(semi - rest->p) : rest->n;
	*spec = trim((struct span){rest->p, len});
	rest->p += semi ? len + 1 : len;
	rest->n -= semi ? len + 1 : len;
	return true;
}

bool dmarc_record_is_dmarc(const char *txt, size_t len)
{
	struct span rest = {txt, len}, spec, name, value;
	if (!txt || !next_spec(&rest, &spec) || !split_tag(spec, &name, &value))
		return false;
	/* The tag name is an ABNF literal (any case); the value is %x-exact. */
	return span_ieq(name, "v") && span_eq(value, "DMARC1");
}

static enum dmarc_policy parse_policy(struct span v, bool *invalid)
{
	if (span_ieq(v, "none"))
		return DMARC_POLICY_NONE;
	if (span_ieq(v, "quarantine"))
		return DMARC_POLICY_QUARANTINE;
	if (span_ieq(v, "reject"))
		return DMARC_POLICY_REJECT;
	*invalid = true;
	return DMARC_POLICY_UNSET;
}

static void parse_align(struct span v, enum dmarc_align *out)
{
	if (span_ieq(v, "s"))
		*out = DMARC_ALIGN_STRICT;
	else if (span_ieq(v, "r"))
		*out = DMARC_ALIGN_RELAXED;
}

static void parse_pct(struct span v, struct dmarc_record *rec)
{
	unsigned n = 0;
	if (v.n == 0 || v.n > 3)
		return;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return;
		n = n * 10 + (unsigned)(v.p[i] - '0');
	}
	if (n > 100)
		return;
	rec->pct = (uint8_t)n;
	rec->pct_set = true;
}

static bool is_scheme_char(char c, bool first)
{
	bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (first)
		return alpha;
	return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/* One DMARC-URI (RFC 9989 section 4.7: URI [ "!" size ]): scheme ":" something. */
static bool uri_valid(struct span u)
{
	size_t i = 0;
	if (u.n == 0 || !is_scheme_char(u.p[0], true))
		return false;
	while (i < u.n && u.p[i] != ':') {
		if (!is_scheme_char(u.p[i], i == 0))
			return false;
		i++;
	}
	if (i + 1 >= u.n)
		return false;
	for (size_t j = i + 1; j < u.n; j++)
		if (is_wsp(u.p[j]) || (unsigned char)u.p[j] < 0x21 || u.p[j] == 0x7f)
			return false;
	return true;
}

/* True when the comma-separated list holds at least one valid URI. */
static bool uri_list_valid(struct span v)
{
	while (v.n > 0) {
		const char *comma = memchr(v.p, ',', v.n);
		size_t len = comma ? (size_t)(comma - v.p) : v.n;
		if (uri_valid(trim((struct span){v.p, len})))
			return true;
		v.p += comma ? len + 1 : len;
		v.n -= comma ? len + 1 : len;
	}
	return false;
}

/* Applies one tag; the first occurrence of a tag wins. */
static void apply_tag(struct dmarc_record *rec, struct span name, struct span value, unsigned *seen,
                      bool *bad_policy)
{
	static const char *const tags[] = {"p",   "sp",  "np", "adkim", "aspf",
	                                   "pct", "psd", "t",  "rua",   "ruf"};
	size_t i;
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (span_ieq(name, tags[i]))
			break;
	if (i == sizeof(tags) / sizeof(tags[0]) || (*seen & (1u << i)))
		return; /* unknown tags MUST be ignored (RFC 9989 section 4.7) */
	*seen |= 1u << i;
	switch (i) {
	case 0:
		rec->p = parse_policy(value, bad_policy);
		break;
	case 1:
		rec->sp = parse_policy(value, bad_policy);
		break;
	case 2:
		rec->np = parse_policy(value, bad_policy);
		break;
	case 3:
		parse_align(value, &rec->adkim);
		break;
	case 4:
		parse_align(value, &rec->aspf);
		break;
	case 5:
		parse_pct(value, rec);
		break;
	case 6:
		if (span_ieq(value, "y"))
			rec->psd = DMARC_PSD_Y;
		else if (span_ieq(value, "n"))
			rec->psd = DMARC_PSD_N;
		break;
	case 7:
		rec->testing = span_ieq(value, "y");
		break;
	case 8:
		rec->has_rua = uri_list_valid(value);
		break;
	default:
		rec->has_ruf = uri_list_valid(value);
		break;
	}
}

enum dmarc_parse dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *rec)
{
	struct span rest = {txt, len}, spec, name, value;
	unsigned seen = 0;
	bool bad_policy = false;

	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	if (!dmarc_record_is_dmarc(txt, len))
		return DMARC_REC_NOT_DMARC;
	next_spec(&rest, &spec); /* v=DMARC1 */
	while (next_spec(&rest, &spec))
		if (spec.n > 0 && split_tag(spec, &name, &value))
			apply_tag(rec, name, value, &seen, &bad_policy);
	if (rec->p != DMARC_POLICY_UNSET && !bad_policy)
		return DMARC_REC_OK;
	/*
	 * RFC 7489 section 6.6.3 and RFC 9989 section 4.7: a missing or
	 * invalid policy with a usable rua= means p=none (so reports still
	 * flow); without one the record asks for nothing. An invalid sp or
	 * np falls back the same way rather than guessing a stricter policy.
	 */
	if (!rec->has_rua)
		return DMARC_REC_NO_POLICY;
	if (rec->p == DMARC_POLICY_UNSET) {
		rec->p = DMARC_POLICY_NONE;
		rec->p_implied = true;
	}
	return DMARC_REC_OK;
}
