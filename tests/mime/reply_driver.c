/*
 * reply_driver.c: runs the reply extraction of gateway/mime/ (the same
 * functions payload_build() calls) over many inputs in one process, for
 * test_helpdesk_suites.py. Reads "FORMAT<TAB>PATH" lines on stdin (FORMAT:
 * text, html or eml) and writes one JSON object per line:
 * {"text", "signature", "quoted", "method"} as in message.reply.
 *
 * Each text and html input is extracted twice, with the prose fast path
 * and with every test run on every line (preply.every_test): a difference
 * exits 3, so the suites also show the fast path decides as the tests do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "test_json.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *p = malloc(cap);
	size_t r;
	while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *q = realloc(p, cap *= 2);
			if (!q) {
				free(p);
				p = NULL;
			}
			p = q;
		}
	}
	fclose(f);
	*len = n;
	return p;
}

/* CRLF to LF, as payload_body.c does for body text. */
static size_t unix_lines(char *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (!(p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))
			p[o++] = p[i];
	return o;
}

static json_t *reply_of(const struct preply *r)
{
	return json_pack(
	    "{s:o, s:o, s:o, s:s}", "text",
	    r->quoted < 0 ? json_null()
	                  : json_stringn_nocheck(r->text.p ? r->text.p : "", r->text.n),
	    "signature",
	    r->has_sig ? json_stringn_nocheck(r->sig.p ? r->sig.p : "", r->sig.len) : json_null(),
	    "quoted", r->quoted < 0 ? json_null() : json_boolean(r->quoted > 0), "method",
	    r->method);
}

static json_t *extract(const char *s, size_t len, bool html, bool cut, const struct phtml_text *h,
                       bool every_test)
{
	struct preply r = {.every_test = every_test};
	json_t *o = NULL;
	if (preply_extract(s, len, DEFAULT_MAX_REPLY_SCAN, &r) == 0) {
		if (html)
			preply_html_adjust(&r, cut, h->saw_blockquote);
		o = reply_of(&r);
	}
	preply_free(&r);
	return o;
}

static json_t *run(const char *fmt, char *p, size_t n)
{
	if (!strcmp(fmt, "eml")) {
		struct message_bytes m = {.data = p, .len = n};
		json_t *root = payload_build(&m, NULL, NULL, NULL, NULL);
		json_t *r = json_incref(json_object_get(json_object_get(root, "message"), "reply"));
		json_decref(root);
		return r ? r : json_null();
	}
	n = unix_lines(p, n);
	const char *s = p;
	size_t len = n;
	struct phtml_text h;
	memset(&h, 0, sizeof(h));
	bool html = !strcmp(fmt, "html"), cut = false;
	if (html) {
		if (phtml_to_text(p, n, true, &h) < 0)
			return NULL;
		s = h.text.p ? h.text.p : "";
		len = preply_html_len(&h, &cut);
	}
	json_t *o = extract(s, len, html, cut, &h, false),
	       *slow = extract(s, len, html, cut, &h, true);
	if (!json_equal(o, slow)) {
		fprintf(stderr, "reply_driver: the prose fast path changed the reply\n");
		exit(3);
	}
	json_decref(slow);
	pbuf_free(&h.text);
	return o;
}

int main(void)
{
	char line[4096];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		char *tab = strchr(line, '\t');
		if (!tab)
			return 2;
		*tab = 0;
		size_t n = 0;
		char *p = slurp(tab + 1, &n);
		test_json_line(p ? run(line, p, n) : NULL);
		free(p);
	}
	return 0;
}
