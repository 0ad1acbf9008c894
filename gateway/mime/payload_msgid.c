/*
 * payload_msgid.c: message ids of In-Reply-To and References (RFC 5322
 * section 3.6.4), the fields a help desk matches replies to tickets by.
 *
 * Lenient on purpose, because real clients are: every field of the name is
 * read (a repeated References adds its ids in order), folding white space
 * anywhere (also inside "<...>", where some clients break long ids) is
 * dropped, comments are skipped, and an id written without angle brackets
 * ("abc@example.com") is taken when it has an "@".
 *
 * Must never: list more than max ids, read past a field's value, or recurse
 * into comments without a bound.
 */
#include <string.h>

#include "payload_int.h"

#define COMMENT_DEPTH_MAX 8

static size_t skip_comment(const char *v, size_t i, size_t n)
{
	int depth = 0;
	for (; i < n; i++) {
		if (v[i] == '\\' && i + 1 < n)
			i++;
		else if (v[i] == '(' && ++depth > COMMENT_DEPTH_MAX)
			return n; /* unbalanced nonsense: nothing more in this field */
		else if (v[i] == ')' && --depth == 0)
			return i + 1;
	}
	return n;
}

static void add(struct pctx *c, json_t *a, const char *p, size_t n, size_t max)
{
	char buf[1000];
	size_t o = 0;
	for (size_t i = 0; i < n && o < sizeof(buf); i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			buf[o++] = p[i];
	if (o == 0 || o == sizeof(buf) || json_array_size(a) >= max)
		return;
	if (json_array_append_new(a, ptext_json(c, buf, o, "message id")) < 0)
		c->oom = 1;
}

static void parse_value(struct pctx *c, json_t *a, const char *v, size_t max)
{
	size_t n = strlen(v), i = 0;
	while (i < n && json_array_size(a) < max) {
		char ch = v[i];
		if (ch == '(') {
			i = skip_comment(v, i, n);
		} else if (ch == '<') {
			const char *e = memchr(v + i + 1, '>', n - i - 1);
			size_t end = e ? (size_t)(e - v) : n;
			add(c, a, v + i + 1, end - i - 1, max);
			i = end + 1;
		} else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ',') {
			i++;
		} else {
			size_t k = i;
			while (k < n && !strchr(" \t\r\n,<(", v[k]))
				k++;
			if (memchr(v + i, '@', k - i))
				add(c, a, v + i, k - i, max);
			i = k;
		}
	}
}

json_t *pmsgid_list(struct pctx *c, GMimeObject *o, const char *name, size_t max)
{
	json_t *a = json_array();
	GMimeHeaderList *hl = o ? g_mime_object_get_header_list(o) : NULL;
	/* the hashed lookup first: most messages have neither field */
	int n = hl && g_mime_header_list_contains(hl, name) ? g_mime_header_list_get_count(hl) : 0;
	for (int i = 0; a && i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *v = g_mime_header_get_raw_value(h);
		if (v && !g_ascii_strcasecmp(g_mime_header_get_name(h), name))
			parse_value(c, a, v, max);
	}
	if (!a)
		c->oom = 1;
	return a;
}
