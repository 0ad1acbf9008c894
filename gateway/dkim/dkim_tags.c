/*
 * dkim_tags.c: the tag=value list of RFC 6376 section 3.2, shared by
 * DKIM-Signature, ARC-Seal, ARC-Message-Signature and DKIM key records,
 * and the FWS-tolerant base64 of RFC 6376 section 2.4.
 *
 * Strict on purpose: an empty tag-spec (";;"), a bad tag name, a missing
 * '=', a byte outside tval-char or a duplicated name makes the whole list
 * invalid (3.2: "the entire tag-list is invalid"). Must never read past
 * len nor keep a pointer beyond the caller's buffer.
 */
#include <string.h>

#include "dkim_int.h"

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t skip_fws(const char *s, size_t len, size_t i)
{
	while (i < len && is_fws(s[i]))
		i++;
	return i;
}

/* tag-name = ALPHA *ALNUMPUNC; returns the offset after it, or start when none. */
static size_t scan_name(const char *s, size_t len, size_t i)
{
	if (i >= len || !is_alpha(s[i]))
		return i;
	i++;
	while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'))
		i++;
	return i;
}

/* The value runs to ';' or the end; -1 when a byte is not tval-char or FWS. */
static int scan_value(const char *s, size_t len, size_t i, struct dkim_tag *t)
{
	size_t start = skip_fws(s, len, i), end = start, j;

	for (j = start; j < len && s[j] != ';'; j++) {
		unsigned char c = (unsigned char)s[j];
		if (is_fws((char)c))
			continue;
		if (c < 0x21 || c > 0x7e)
			return -1;
		end = j + 1;
	}
	t->raw_start = i;
	t->raw_end = j;
	t->val = s + start;
	t->vlen = end > start ? end - start : 0;
	return 0;
}

static bool name_seen(const struct dkim_taglist *l, const char *name, size_t nlen)
{
	for (size_t k = 0; k < l->n; k++)
		if (l->tags[k].nlen == nlen && memcmp(l->tags[k].name, name, nlen) == 0)
			return true;
	return false;
}

int dkim_tags_parse(const char *s, size_t len, struct dkim_taglist *out)
{
	size_t i = 0;

	out->n = 0;
	for (;;) {
		i = skip_fws(s, len, i);
		if (i >= len)
			return 0; /* empty list, or the optional trailing ';' */
		if (out->n == DKIM_MAX_TAGS)
			return -1;
		struct dkim_tag *t = &out->tags[out->n];
		size_t ne = scan_name(s, len, i);
		if (ne == i)
			return -1;
		t->name = s + i;
		t->nlen = ne - i;
		if (name_seen(out, t->name, t->nlen))
			return -1;
		i = skip_fws(s, len, ne);
		if (i >= len || s[i] != '=')
			return -1;
		if (scan_value(s, len, i + 1, t) < 0)
			return -1;
		out->n++;
		i = t->raw_end;
		if (i >= len)
			return 0;
		i++; /* the ';' */
	}
}

const struct dkim_tag *dkim_tags_get(const struct dkim_taglist *l, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t k = 0; k < l->n; k++)
		if (l->tags[k].nlen == nlen && memcmp(l->tags[k].name, name, nlen) == 0)
			return &l->tags[k];
	return NULL;
}

bool dkim_tag_is(const struct dkim_tag *t, const char *lit)
{
	size_t n = strlen(lit);

	return t && t->vlen == n && memcmp(t->val, lit, n) == 0;
}
