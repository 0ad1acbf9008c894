/*
 * routes/toml/toml.c: the TOML 1.0 parser (https://toml.io/en/v1.0.0): the
 * grammar of include/toml.h's toml_parse() and toml_parse_file().
 *
 * Owns: the document structure, keys (bare, quoted, dotted), arrays, inline
 * tables, [table] and [[array of tables]] headers, and every redefinition
 * rule of the specification. Comments, newlines and the four string kinds
 * are lexed by toml_lex.c; numbers, dates and UTF-8 by toml_scalar.c; the
 * tree is built through toml_tree.c.
 *
 * Must never: print, exit, abort on bad input, recurse deeper than
 * TOML_MAX_DEPTH, read outside [buf, buf + len), or do any I/O other than
 * reading the file given to toml_parse_file(). The first error stops the
 * parse: a document with a syntax error has no meaningful remainder.
 */
#include "safe_file.h"
#include "toml_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * Largest document parsed: configuration, not data. It also keeps line and
 * column numbers far inside an int.
 */
#define TOML_MAX_DOC_SIZE (64u << 20)

struct keypart {
	char *s; /* owned, NUL-terminated */
	size_t len;
	int line, col;
	const char *at; /* where it was written, for error messages */
};

struct keypath {
	struct keypart part[TOML_MAX_DEPTH];
	int n;
};

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

static bool is_bare(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void keypath_free(struct keypath *kp)
{
	for (int i = 0; i < kp->n; i++)
		free(kp->part[i].s);
	kp->n = 0;
}

static int key_part(struct parser *ps, struct keypart *k)
{
	const char *s = ps->p;
	char tmp[16];

	k->line = ps->line;
	k->col = toml_lex_col_of(ps, s);
	k->at = s;
	if (s < ps->end && (*s == '"' || *s == '\'')) {
		if (ps->end - s >= 3 && s[1] == *s && s[2] == *s)
			return toml_lex_fail(ps, s, "multi-line strings cannot be keys");
		ps->sb.len = 0;
		if (toml_lex_string_line(ps))
			return -1;
	} else {
		while (ps->p < ps->end && is_bare(*ps->p))
			ps->p++;
		if (ps->p == s)
			return toml_lex_fail(ps, s, "expected a key, found %s",
			                     toml_lex_show(ps, s, tmp, sizeof(tmp)));
		ps->sb.len = 0;
		if (toml_lex_put(&ps->sb, s, (size_t)(ps->p - s)))
			return toml_lex_oom(ps);
	}
	k->len = ps->sb.len;
	k->s = toml_lex_take(&ps->sb);
	return k->s ? 0 : toml_lex_oom(ps);
}

/* key ( ws '.' ws key )*; leaves p after trailing whitespace. */
static int keypath_parse(struct parser *ps, struct keypath *kp)
{
	kp->n = 0;
	for (;;) {
		if (kp->n == TOML_MAX_DEPTH)
			return toml_lex_fail(ps, ps->p, "dotted key has more than %d parts",
			                     TOML_MAX_DEPTH);
		if (key_part(ps, &kp->part[kp->n]))
			return -1;
		kp->n++;
		toml_lex_skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '.')
			return 0;
		ps->p++;
		toml_lex_skip_ws(ps);
	}
}

/* "a.b.c" for messages, truncated to fit. */
static const char *keypath_name(const struct keypath *kp, int n, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n && o + 1 < size; i++) {
		int w = snprintf(out + o, size - o, "%s%.*s", i ? "." : "", (int)kp->part[i].len,
		                 kp->part[i].s);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	return out;
}

/* The name of a key for messages: the section's name, then the key's parts. */
static const char *key_name(const struct parser *ps, const toml_value *table,
                            const struct keypath *kp, int n, char *out, size_t size)
{
	char rel[128];

	keypath_name(kp, n, rel, sizeof(rel));
	if (table != ps->cur || !ps->section[0])
		snprintf(out, size, "%s", rel);
	else
		snprintf(out, size, "%s.%s", ps->section, rel);
	return out;
}

/* ------------------------------------------------------------------ */
/* Numbers and dates: tokens here, grammar in toml_scalar.c             */
/* ------------------------------------------------------------------ */

static bool is_token_char(char c)
{
	return is_bare(c) || c == '.' || c == '+' || c == ':';
}

/* A number or a date/time. Date and time may be joined by one space. */
static int number_or_date(struct parser *ps, toml_value *v)
{
	const char *tok = ps->p;
	struct toml_scalar_err e;
	size_t n;

	while (ps->p < ps->end && is_token_char(*ps->p))
		ps->p++;
	n = (size_t)(ps->p - tok);
	if (n == 10 && toml_scalar_is_date(tok, n) && ps->end - ps->p >= 4 && ps->p[0] == ' ' &&
	    ps->p[1] >= '0' && ps->p[1] <= '9' && ps->p[2] >= '0' && ps->p[2] <= '9' &&
	    ps->p[3] == ':') {
		ps->p++;
		while (ps->p < ps->end && is_token_char(*ps->p))
			ps->p++;
		n = (size_t)(ps->p - tok);
	}
	if (toml_scalar_parse(tok, n, v, &e))
		return toml_lex_fail(ps, e.at, "%s", e.msg);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Values, arrays, inline tables                                        */
/* ------------------------------------------------------------------ */

static int keyval(struct parser *ps, toml_value *table);
static toml_value *value(struct parser *ps, int depth);

static int too_deep(struct parser *ps)
{
	return toml_lex_fail(ps, ps->p, "nesting deeper than %d levels", TOML_MAX_DEPTH);
}

static int array_body(struct parser *ps, toml_value *a)
{
	char tmp[16];

	ps->p++;
	for (;;) {
		toml_value *el;
		if (toml_lex_skip_ws_nl(ps))
			return -1;
		if (ps->p < ps->end && *ps->p == ']')
			break;
		el = value(ps, a->depth + 1);
		if (!el)
			return -1;
		if (toml_tree_push(a, el)) {
			toml_free(el);
			return toml_lex_oom(ps);
		}
		if (toml_lex_skip_ws_nl(ps))
			return -1;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']')
			break;
		return toml_lex_fail(ps, ps->p, "expected ',' or ']' in array, found %s",
		                     toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
	}
	ps->p++;
	return 0;
}

/* Inline tables stay on one line and have no trailing comma (TOML 1.0). */
static int inline_body(struct parser *ps, toml_value *t)
{
	char tmp[16];

	ps->p++;
	toml_lex_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (keyval(ps, t))
			return -1;
		toml_lex_skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return 0;
		}
		if (ps->p >= ps->end || *ps->p != ',')
			return toml_lex_fail(ps, ps->p,
			                     "expected ',' or '}' in inline table, found %s",
			                     toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
		ps->p++;
		toml_lex_skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '}')
			return toml_lex_fail(
			    ps, ps->p, "trailing comma in inline table (not allowed in TOML 1.0)");
	}
}

static toml_value *container(struct parser *ps, toml_type type, int depth)
{
	toml_value *v;

	if (depth > TOML_MAX_DEPTH) {
		too_deep(ps);
		return NULL;
	}
	v = toml_tree_new(type, ps->line, toml_lex_col_of(ps, ps->p), depth);
	if (!v) {
		toml_lex_oom(ps);
		return NULL;
	}
	if (type == TOML_TABLE)
		v->flags = TF_INLINE;
	if ((type == TOML_ARRAY ? array_body(ps, v) : inline_body(ps, v))) {
		toml_free(v);
		return NULL;
	}
	return v;
}

static int scalar_string(struct parser *ps, toml_value *v)
{
	v->type = TOML_STRING;
	if (toml_lex_string_any(ps))
		return -1;
	v->u.s.len = ps->sb.len;
	v->u.s.ptr = toml_lex_take(&ps->sb);
	return v->u.s.ptr ? 0 : toml_lex_oom(ps);
}

static bool word_at(const struct parser *ps, const char *w, size_t n)
{
	return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0;
}

static int scalar(struct parser *ps, toml_value *v)
{
	char c = *ps->p, tmp[16];

	if (c == '"' || c == '\'')
		return scalar_string(ps, v);
	if (word_at(ps, "true", 4) || word_at(ps, "false", 5)) {
		v->type = TOML_BOOL;
		v->u.b = c == 't';
		ps->p += v->u.b ? 4 : 5;
		return 0;
	}
	if ((c >= '0' && c <= '9') || c == '+' || c == '-' || word_at(ps, "inf", 3) ||
	    word_at(ps, "nan", 3))
		return number_or_date(ps, v);
	return toml_lex_fail(ps, ps->p, "expected a value, found %s",
	                     toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
}

/* One value at p; depth is the depth the value will have in the tree. */
static toml_value *value(struct parser *ps, int depth)
{
	toml_value *v;
	char tmp[16];

	if (ps->p >= ps->end || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '#') {
		toml_lex_fail(ps, ps->p, "expected a value, found %s",
		              toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
		return NULL;
	}
	if (*ps->p == '[')
		return container(ps, TOML_ARRAY, depth);
	if (*ps->p == '{')
		return container(ps, TOML_TABLE, depth);
	v = toml_tree_new(TOML_BOOL, ps->line, toml_lex_col_of(ps, ps->p), depth);
	if (!v) {
		toml_lex_oom(ps);
		return NULL;
	}
	if (scalar(ps, v)) {
		toml_free(v);
		return NULL;
	}
	return v;
}

/* ------------------------------------------------------------------ */
/* Key/value pairs and the table rules                                  */
/* ------------------------------------------------------------------ */

/* What an existing value is, for messages about redefining it. */
static const char *describe(const toml_value *v)
{
	static const char *const scalars[] = {
	    [TOML_STRING] = "a string",         [TOML_INTEGER] = "an integer",
	    [TOML_FLOAT] = "a float",           [TOML_BOOL] = "a boolean",
	    [TOML_DATETIME] = "a date-time",    [TOML_DATETIME_LOCAL] = "a local date-time",
	    [TOML_DATE_LOCAL] = "a local date", [TOML_TIME_LOCAL] = "a local time",
	};

	if (v->type == TOML_ARRAY)
		return v->flags & TF_AOT ? "an array of tables" : "a static array";
	if (v->type != TOML_TABLE)
		return scalars[v->type];
	if (v->flags & TF_INLINE)
		return "an inline table";
	if (v->flags & TF_DOTTED)
		return "a table defined by dotted keys";
	return "a table created by a [header]";
}

/* A new, empty table under parent at key k. */
static toml_value *table_child(struct parser *ps, toml_value *parent, const struct keypart *k,
                               unsigned flags)
{
	toml_value *t;

	if (parent->depth + 1 > TOML_MAX_DEPTH) {
		too_deep(ps);
		return NULL;
	}
	t = toml_tree_new(TOML_TABLE, k->line, k->col, parent->depth + 1);
	if (!t || toml_tree_add(parent, k->s, k->len, k->line, k->col, t)) {
		free(t);
		toml_lex_oom(ps);
		return NULL;
	}
	t->flags = flags;
	return t;
}

/*
 * Walks the dotted prefix of a key/value pair. Only tables that dotted
 * keys created may be entered: anything else was closed by its header or
 * its braces (toml.io 1.0 "Table", "Inline Table").
 */
static toml_value *dotted_walk(struct parser *ps, toml_value *table, const struct keypath *kp)
{
	toml_value *t = table;
	char name[256];

	for (int i = 0; i < kp->n - 1; i++) {
		const struct keypart *k = &kp->part[i];
		toml_value *next = toml_tree_find(t, k->s, k->len);
		if (!next) {
			next = table_child(ps, t, k, TF_DOTTED);
			if (!next)
				return NULL;
		} else if (next->type != TOML_TABLE || !(next->flags & TF_DOTTED)) {
			toml_lex_fail(
			    ps, k->at, "cannot add keys to '%s' with a dotted key: it is %s",
			    key_name(ps, table, kp, i + 1, name, sizeof(name)), describe(next));
			return NULL;
		}
		t = next;
	}
	return t;
}

static int keyval(struct parser *ps, toml_value *table)
{
	struct keypath *kp = malloc(sizeof(*kp));
	const struct keypart *last;
	toml_value *t, *v = NULL;
	char name[256], tmp[16];
	int rc = -1;

	if (!kp)
		return toml_lex_oom(ps);
	if (keypath_parse(ps, kp))
		goto out;
	if (ps->p >= ps->end || *ps->p != '=') {
		toml_lex_fail(ps, ps->p, "expected '=' after key, found %s",
		              toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
		goto out;
	}
	ps->p++;
	toml_lex_skip_ws(ps);
	t = dotted_walk(ps, table, kp);
	if (!t)
		goto out;
	last = &kp->part[kp->n - 1];
	if (toml_tree_find(t, last->s, last->len)) {
		toml_lex_fail(ps, last->at, "duplicate key '%s'",
		              key_name(ps, table, kp, kp->n, name, sizeof(name)));
		goto out;
	}
	v = value(ps, t->depth + 1);
	if (!v)
		goto out;
	if (toml_tree_add(t, last->s, last->len, last->line, last->col, v)) {
		toml_free(v);
		toml_lex_oom(ps);
		goto out;
	}
	rc = 0;
out:
	keypath_free(kp);
	free(kp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* [table] and [[array of tables]] headers                              */
/* ------------------------------------------------------------------ */

/* Walks the header prefix: tables are entered, arrays of tables at their last element. */
static toml_value *header_walk(struct parser *ps, const struct keypath *kp)
{
	toml_value *t = ps->root;
	char name[128];

	for (int i = 0; i < kp->n - 1; i++) {
		const struct keypart *k = &kp->part[i];
		toml_value *next = toml_tree_find(t, k->s, k->len);
		if (!next) {
			next = table_child(ps, t, k, TF_IMPLICIT);
			if (!next)
				return NULL;
		} else if (next->type == TOML_ARRAY && (next->flags & TF_AOT)) {
			next = next->u.a.v[next->u.a.len - 1];
		} else if (next->type != TOML_TABLE || (next->flags & TF_INLINE)) {
			toml_lex_fail(ps, k->at, "cannot extend '%s' with a [header]: it is %s",
			              keypath_name(kp, i + 1, name, sizeof(name)), describe(next));
			return NULL;
		}
		t = next;
	}
	return t;
}

static int header_table(struct parser *ps, const struct keypath *kp)
{
	const struct keypart *last = &kp->part[kp->n - 1];
	toml_value *parent = header_walk(ps, kp), *t;
	char name[128];

	if (!parent)
		return -1;
	t = toml_tree_find(parent, last->s, last->len);
	if (!t) {
		t = table_child(ps, parent, last, TF_EXPLICIT);
		if (!t)
			return -1;
	} else if (t->type == TOML_TABLE && t->flags == TF_IMPLICIT) {
		t->flags = TF_EXPLICIT;
	} else {
		keypath_name(kp, kp->n, name, sizeof(name));
		if (t->type == TOML_TABLE && (t->flags & TF_EXPLICIT))
			return toml_lex_fail(ps, last->at, "table '%s' defined twice", name);
		return toml_lex_fail(ps, last->at, "cannot define table '%s': it is already %s",
		                     name, describe(t));
	}
	ps->cur = t;
	keypath_name(kp, kp->n, ps->section, sizeof(ps->section));
	return 0;
}

static int header_array(struct parser *ps, const struct keypath *kp)
{
	const struct keypart *last = &kp->part[kp->n - 1];
	toml_value *parent = header_walk(ps, kp), *a, *t;
	char name[128];

	if (!parent)
		return -1;
	a = toml_tree_find(parent, last->s, last->len);
	if (!a) {
		a = table_child(ps, parent, last, 0);
		if (!a)
			return -1;
		a->type = TOML_ARRAY;
		a->flags = TF_AOT;
	} else if (a->type != TOML_ARRAY || !(a->flags & TF_AOT)) {
		return toml_lex_fail(ps, last->at,
		                     "cannot append to '%s' with [[ ]]: it is already %s",
		                     keypath_name(kp, kp->n, name, sizeof(name)), describe(a));
	}
	if (a->depth + 1 > TOML_MAX_DEPTH)
		return too_deep(ps);
	t = toml_tree_new(TOML_TABLE, last->line, last->col, a->depth + 1);
	if (!t || toml_tree_push(a, t)) {
		free(t);
		return toml_lex_oom(ps);
	}
	t->flags = TF_EXPLICIT;
	ps->cur = t;
	keypath_name(kp, kp->n, ps->section, sizeof(ps->section));
	return 0;
}

static int header(struct parser *ps)
{
	bool aot = ps->end - ps->p >= 2 && ps->p[1] == '[';
	struct keypath *kp = malloc(sizeof(*kp));
	char tmp[16];
	int rc = -1;

	if (!kp)
		return toml_lex_oom(ps);
	kp->n = 0;
	ps->p += aot ? 2 : 1;
	toml_lex_skip_ws(ps);
	if (keypath_parse(ps, kp))
		goto out;
	if (ps->p >= ps->end || *ps->p != ']' ||
	    (aot && (ps->end - ps->p < 2 || ps->p[1] != ']'))) {
		toml_lex_fail(ps, ps->p, "expected '%s' after table name, found %s",
		              aot ? "]]" : "]", toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
		goto out;
	}
	ps->p += aot ? 2 : 1;
	rc = aot ? header_array(ps, kp) : header_table(ps, kp);
out:
	keypath_free(kp);
	free(kp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Document                                                             */
/* ------------------------------------------------------------------ */

static int document(struct parser *ps)
{
	while (ps->p < ps->end) {
		int r;
		toml_lex_skip_ws(ps);
		if (toml_lex_skip_comment(ps))
			return -1;
		if (ps->p >= ps->end)
			break;
		r = toml_lex_eat_newline(ps);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		if (*ps->p == '[') {
			if (header(ps) || toml_lex_end_of_line(ps, "table header"))
				return -1;
		} else if (keyval(ps, ps->cur) || toml_lex_end_of_line(ps, "value")) {
			return -1;
		}
	}
	return 0;
}

toml_value *toml_parse(const char *buf, size_t len, const char *filename, toml_error *err)
{
	struct parser ps = {0};
	toml_error ignored;

	if (!err)
		err = &ignored; /* the caller only wants to know whether it parsed */
	memset(err, 0, sizeof(*err));
	err->file = filename;
	ps.buf = buf ? buf : "";
	ps.p = ps.buf;
	ps.end = ps.buf + (buf ? len : 0);
	ps.line = 1;
	ps.line_start = ps.buf;
	ps.err = err;
	if (len > TOML_MAX_DOC_SIZE) {
		snprintf(err->msg, sizeof(err->msg), "document larger than %u bytes",
		         TOML_MAX_DOC_SIZE);
		return NULL;
	}
	if (toml_lex_utf8_check(&ps))
		return NULL;
	if (ps.end - ps.p >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
		ps.p += 3; /* a byte order mark at the very start only */
	ps.root = toml_tree_new(TOML_TABLE, 1, 1, 0);
	if (!ps.root) {
		toml_lex_oom(&ps);
		return NULL;
	}
	ps.root->flags = TF_EXPLICIT;
	ps.cur = ps.root;
	if (document(&ps)) {
		toml_free(ps.root);
		ps.root = NULL;
	}
	free(ps.sb.d);
	return ps.root;
}

toml_value *toml_parse_file(const char *path, toml_error *err)
{
	toml_value *root;
	toml_error ignored;
	size_t len;
	char why[sizeof(err->msg)];
	char *buf;

	if (!err)
		err = &ignored;
	memset(err, 0, sizeof(*err));
	err->file = path;
	/* Non-blocking and regular files only: a FIFO here must not hang check or a reload. */
	buf = safe_file_read(path, TOML_MAX_DOC_SIZE, 0, &len, why, sizeof(why));
	if (!buf) {
		err->line = 0;
		err->col = 0;
		snprintf(err->msg, sizeof(err->msg), "%s", why);
		return NULL;
	}
	root = toml_parse(buf, len, path, err);
	free(buf);
	return root;
}
