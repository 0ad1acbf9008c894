/*
 * spam_reply.c: rspamd's /checkv2 answer (rspamd's protocol, "checkv2
 * reply": action, score, required_score, symbols, messages, subject,
 * milter.add_headers) -> struct spam_reply.
 *
 * Pure: bytes in, a value out; no I/O, no globals, so the fuzzer
 * (tests/spam/fuzz_rspamd_reply.c) calls the very function the daemon does.
 * Everything taken from the answer is bounded by struct spam_limits: symbols
 * (the highest scores kept), options per symbol and their bytes, header
 * fields and their bytes. Text that becomes a reply line goes through the
 * webhook's cleaner (http_reply_sanitize: printable ASCII, one line).
 *
 * Never: trust a header name or value from the answer without checking its
 * syntax (a CR or LF would let the answer write fields of its own choosing),
 * cut a UTF-8 sequence or a folded field in two, accept an action it does
 * not know (fails closed: the answer is refused, the failure policy applies).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http_reply.h"
#include "spam.h"

/* rspamd's reject message, as a reply line's text (the row's own text when absent). */
#define SPAM_MESSAGE_MAX 200

static const char *const action_names[SPAM_ACTION_MAX] = {
    [SPAM_NO_ACTION] = "no action",     [SPAM_GREYLIST] = "greylist",
    [SPAM_ADD_HEADER] = "add header",   [SPAM_REWRITE_SUBJECT] = "rewrite subject",
    [SPAM_SOFT_REJECT] = "soft reject", [SPAM_REJECT] = "reject",
};

const char *spam_action_name(enum spam_action a)
{
	return (unsigned)a < SPAM_ACTION_MAX ? action_names[a] : "?";
}

void spam_limits_from(struct spam_limits *l, const struct gw_spam *cfg)
{
	l->max_symbols = cfg->max_symbols;
	l->max_options = cfg->max_options;
	l->max_option_length = cfg->max_option_length;
	l->max_headers = cfg->max_headers;
	l->max_header_length = cfg->max_header_length;
}

static int action_of(const char *s, enum spam_action *out)
{
	for (int i = 0; i < SPAM_ACTION_MAX; i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum spam_action)i;
			return 0;
		}
	}
	return -1;
}

/* A finite number, or NAN. */
static double number_of(const json_t *v)
{
	if (!json_is_number(v))
		return NAN;
	double d = json_number_value(v);
	return isfinite(d) ? d : NAN;
}

/* Scores rounded to 1/1000: rspamd prints two decimals, binary noise says nothing. */
static json_t *score_json(double d)
{
	return json_real(round(d * 1000.0) / 1000.0);
}

/* The length of s[0..len) cut to at most max bytes, never inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* ---- symbols ---- */

struct sym {
	const char *name;
	double score;
	const json_t *options;
};

/* Highest score first, then by name: the same answer always gives the same list. */
static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->name, y->name);
}

static json_t *options_json(const json_t *opts, const struct spam_limits *lim, bool *truncated)
{
	json_t *out = json_array();
	size_t i;
	const json_t *o;
	if (!out || !json_is_array(opts))
		return out;
	json_array_foreach(opts, i, o)
	{
		if (!json_is_string(o))
			continue;
		if (json_array_size(out) >= lim->max_options) {
			*truncated = true;
			break;
		}
		const char *s = json_string_value(o);
		size_t n = utf8_cut(s, json_string_length(o), lim->max_option_length);
		*truncated |= n < json_string_length(o);
		if (json_array_append_new(out, json_stringn(s, n)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static json_t *symbol_json(const struct sym *s, const struct spam_limits *lim, bool *truncated)
{
	json_t *o = json_object();
	json_t *opts = options_json(s->options, lim, truncated);
	if (!o || !opts || json_object_set_new(o, "name", json_string(s->name)) ||
	    json_object_set_new(o, "score", score_json(s->score)) ||
	    json_object_set_new(o, "options", opts)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* rspamd's symbols object {NAME: {name, score, options}} -> a bounded, sorted list. */
static json_t *symbols_json(const json_t *syms, const struct spam_limits *lim, bool *truncated)
{
	json_t *out = json_array();
	size_t n = json_is_object(syms) ? json_object_size(syms) : 0, k = 0;
	struct sym *v = calloc(n ? n : 1, sizeof *v);
	const char *key;
	const json_t *val;
	if (!out || !v)
		goto fail;
	if (n) {
		json_object_foreach((json_t *)syms, key, val)
		{
			double sc =
			    json_is_object(val) ? number_of(json_object_get(val, "score")) : NAN;
			if (!key[0] || isnan(sc))
				continue; /* not a symbol: nothing to report */
			v[k++] = (struct sym){key, sc, json_object_get(val, "options")};
		}
	}
	qsort(v, k, sizeof *v, sym_cmp);
	for (size_t i = 0; i < k; i++) {
		if (i >= lim->max_symbols) {
			*truncated = true;
			break;
		}
		json_t *s = symbol_json(&v[i], lim, truncated);
		if (!s || json_array_append_new(out, s) < 0)
			goto fail;
	}
	free(v);
	return out;
fail:
	free(v);
	json_decref(out);
	return NULL;
}

/* ---- milter add_headers ---- */

struct fields {
	char *buf;
	size_t len, cap;
	size_t n;
};

static int put(struct fields *f, const char *s, size_t n)
{
	if (f->cap - f->len < n + 1) {
		size_t cap = f->cap ? f->cap : 256;
		while (cap - f->len < n + 1)
			cap *= 2;
		char *b = realloc(f->buf, cap);
		if (!b)
			return -1;
		f->buf = b;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, s, n);
	f->len += n;
	f->buf[f->len] = '\0';
	return 0;
}

/* RFC 5322 3.6.8: printable ASCII but ':'; and short enough to sit on one line. */
static bool field_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 76)
		return false;
	for (; *s; s++)
		if (*s < 33 || *s > 126 || *s == ':')
			return false;
	return true;
}

/*
 * A value may fold (rspamd folds X-Spamd-Result with LF TAB): every line
 * break must be followed by a space or tab, no other control character but
 * TAB; UTF-8 passes (RFC 6532). Returns false for anything else.
 */
static bool field_value_ok(const char *s, size_t n, size_t max)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (c == '\n') {
			if (i + 1 >= n || (s[i + 1] != ' ' && s[i + 1] != '\t'))
				return false;
			continue;
		}
		if ((c < 32 && c != '\t') || c == 127)
			return false;
	}
	return true;
}

/* "Name: value" CRLF, the value's LF (or CRLF) breaks written as CRLF. */
static int put_field(struct fields *f, const char *name, const char *v, size_t n)
{
	if (put(f, name, strlen(name)) || put(f, ": ", 2))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\r')
			continue;
		if (v[i] == '\n' ? put(f, "\r\n", 2) : put(f, &v[i], 1))
			return -1;
	}
	f->n++;
	return put(f, "\r\n", 2);
}

/* One add_headers value: a string, {value, order}, or a list of those. */
static int add_header(struct fields *f, const char *name, const json_t *v,
                      const struct spam_limits *lim)
{
	if (json_is_array(v)) {
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e)
		{
			if (json_is_array(e) || add_header(f, name, e, lim))
				return -1;
		}
		return 0;
	}
	if (json_is_object(v))
		v = json_object_get(v, "value");
	if (!json_is_string(v) || f->n >= lim->max_headers)
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!field_value_ok(s, n, lim->max_header_length))
		return 0; /* left out whole: never half a field */
	return put_field(f, name, s, n);
}

static int fields_of(const json_t *milter, const struct spam_limits *lim, char **out)
{
	struct fields f = {0};
	const json_t *add = json_object_get(milter, "add_headers");
	const char *name;
	const json_t *v;
	*out = NULL;
	if (!json_is_object(add) || lim->max_headers == 0)
		return 0;
	json_object_foreach((json_t *)add, name, v)
	{
		if (!field_name_ok(name))
			continue;
		if (add_header(&f, name, v, lim)) {
			free(f.buf);
			return -1;
		}
	}
	*out = f.buf;
	return 0;
}

/* milter remove_headers {NAME: index}: the names, every field of which is cut. */
static int removals_of(const json_t *milter, const struct spam_limits *lim, struct spam_reply *out)
{
	const json_t *rm = json_object_get(milter, "remove_headers");
	const char *name;
	const json_t *v;
	if (!json_is_object(rm) || lim->max_headers == 0)
		return 0;
	out->remove = calloc(lim->max_headers, sizeof *out->remove);
	if (!out->remove)
		return -1;
	json_object_foreach((json_t *)rm, name, v)
	{
		if (!field_name_ok(name))
			continue;
		if (out->n_remove >= lim->max_headers)
			break;
		if (!(out->remove[out->n_remove] = strdup(name)))
			return -1;
		out->n_remove++;
	}
	return 0;
}

/* ---- the answer ---- */

static char *clean_message(const json_t *messages)
{
	const json_t *m = json_object_get(messages, "smtp_message");
	char buf[SPAM_MESSAGE_MAX + 1];
	if (!json_is_string(m) || http_reply_sanitize(json_string_value(m), json_string_length(m),
	                                              buf, sizeof buf, SPAM_MESSAGE_MAX) == 0)
		return NULL;
	return strdup(buf);
}

/* The new Subject: one line (breaks become spaces), bounded like an added field. */
static char *subject_of(const json_t *s, size_t max)
{
	if (!json_is_string(s))
		return NULL;
	size_t n = utf8_cut(json_string_value(s), json_string_length(s), max);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)json_string_value(s)[i];
		out[i] = (c < 32 || c == 127) ? ' ' : (char)c;
	}
	out[n] = '\0';
	return out;
}

static json_t *verdict_json(const struct spam_reply *r, json_t *symbols, bool truncated)
{
	json_t *o = json_object();
	if (!o || json_object_set_new(o, "engine", json_string("rspamd")) ||
	    json_object_set_new(o, "score", score_json(r->score)) ||
	    json_object_set_new(o, "required_score", score_json(r->required_score)) ||
	    json_object_set_new(o, "action", json_string(spam_action_name(r->action))) ||
	    json_object_set_new(o, "symbols", symbols) ||
	    json_object_set_new(o, "truncated", json_boolean(truncated))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int parse_root(const json_t *root, const struct spam_limits *lim, struct spam_reply *out,
                      const char **why)
{
	const json_t *act = json_object_get(root, "action");
	bool truncated = false;
	if (!json_is_string(act) || action_of(json_string_value(act), &out->action)) {
		*why = "rspamd's answer has no known action";
		return -1;
	}
	out->score = number_of(json_object_get(root, "score"));
	out->required_score = number_of(json_object_get(root, "required_score"));
	if (isnan(out->score)) {
		*why = "rspamd's answer has no score";
		return -1;
	}
	if (isnan(out->required_score))
		out->required_score = 0;
	*why = "out of memory";
	json_t *syms = symbols_json(json_object_get(root, "symbols"), lim, &truncated);
	if (!syms)
		return -1;
	out->verdict = verdict_json(out, syms, truncated);
	const json_t *milter = json_object_get(root, "milter");
	if (!out->verdict || fields_of(milter, lim, &out->fields) || removals_of(milter, lim, out))
		return -1;
	out->message = clean_message(json_object_get(root, "messages"));
	if (out->action == SPAM_REWRITE_SUBJECT) {
		out->subject = subject_of(json_object_get(root, "subject"), lim->max_header_length);
		if (json_is_string(json_object_get(root, "subject")) && !out->subject)
			return -1;
	}
	return 0;
}

int spam_reply_parse(const char *buf, size_t len, const struct spam_limits *lim,
                     struct spam_reply *out, const char **why)
{
	json_error_t err;
	memset(out, 0, sizeof *out);
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(root)) {
		json_decref(root);
		*why = "rspamd's answer is not a JSON object";
		return -1;
	}
	int rc = parse_root(root, lim, out, why);
	json_decref(root);
	if (rc)
		spam_reply_free(out);
	return rc;
}

void spam_reply_free(struct spam_reply *r)
{
	json_decref(r->verdict);
	free(r->fields);
	for (size_t i = 0; i < r->n_remove; i++)
		free(r->remove[i]);
	free(r->remove);
	free(r->subject);
	free(r->message);
	memset(r, 0, sizeof *r);
}
