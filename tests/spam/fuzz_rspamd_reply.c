/*
 * fuzz_rspamd_reply.c: libFuzzer target of spam_reply_parse()
 * (gateway/spam/spam_reply.c), rspamd's /checkv2 answer, and of
 * spam_field_ranges() (gateway/spam/spam_fields.c) on the same bytes as a
 * message.
 *
 * Input: 2 bytes of parameters (the bounds: symbols, options, option and
 * field lengths, fields), then the answer. The seed corpus holds real
 * rspamd 3.4 answers (GTUBE, a clean message with milter headers).
 *
 * Invariants (abort on violation), beyond no crash, leak or UB:
 *   - a parsed answer has a known action, a finite score, a verdict object
 *     with at most max_symbols symbols, each with at most max_options
 *     options of at most max_option_length bytes, sorted by score;
 *   - the fields to prepend are whole fields: each line ends CRLF, every
 *     line but a field's first starts with a space or tab, no bare CR or LF,
 *     no NUL; at most max_headers fields;
 *   - the names of the fields to remove are RFC 5322 field names, at most
 *     max_headers of them;
 *   - rspamd's message is non-empty printable ASCII without CR or LF;
 *   - the subject has no control character;
 *   - field ranges are inside the input, ascending and disjoint.
 * Build and run: docs/fuzzing.md, "Spam" (scripts/fuzz fuzz_rspamd_reply).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 2

static void check_verdict(const struct spam_reply *r, const struct spam_limits *l)
{
	const json_t *syms = json_object_get(r->verdict, "symbols");
	size_t i;
	const json_t *s;
	double prev = INFINITY;
	if ((unsigned)r->action >= SPAM_ACTION_MAX || !isfinite(r->score) ||
	    !isfinite(r->required_score) || !json_is_array(syms) ||
	    json_array_size(syms) > l->max_symbols)
		abort();
	json_array_foreach(syms, i, s)
	{
		const json_t *opts = json_object_get(s, "options");
		double sc = json_number_value(json_object_get(s, "score"));
		size_t j;
		const json_t *o;
		if (sc > prev || !json_is_string(json_object_get(s, "name")) ||
		    !json_is_array(opts) || json_array_size(opts) > l->max_options)
			abort();
		prev = sc;
		json_array_foreach(opts, j, o)
		{
			if (json_string_length(o) > l->max_option_length)
				abort();
		}
	}
}

static void check_fields(const char *f, const struct spam_limits *l)
{
	size_t n = 0;
	bool line_start = true;
	if (!f)
		return;
	for (const char *p = f; *p; p++) {
		if (line_start && *p != ' ' && *p != '\t')
			n++; /* a new field */
		line_start = false;
		if (*p == '\r') {
			if (p[1] != '\n')
				abort();
			p++;
			line_start = true;
		} else if (*p == '\n') {
			abort();
		}
	}
	if (!line_start || n > l->max_headers)
		abort();
}

static void check_removals(const struct spam_reply *r, const struct spam_limits *l)
{
	if (r->n_remove > l->max_headers)
		abort();
	for (size_t i = 0; i < r->n_remove; i++) {
		const char *n = r->remove[i];
		if (!n[0] || strlen(n) > 76)
			abort();
		for (; *n; n++)
			if (*n < 33 || *n > 126 || *n == ':')
				abort();
	}
}

static void check_text(const char *t, bool ascii)
{
	if (!t)
		return;
	if (ascii && !*t)
		abort();
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < 32 || *p == 127 || (ascii && *p > 126))
			abort();
}

static void check_ranges(const char *msg, size_t len)
{
	size_t r[16], n = spam_field_ranges(msg, len, "Subject", r, 8), prev = 0;
	for (size_t i = 0; i < n && i < 8; i++) {
		if (r[2 * i] < prev || r[2 * i + 1] <= r[2 * i] || r[2 * i + 1] > len)
			abort();
		prev = r[2 * i + 1];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spam_reply r;
	const char *why = NULL;
	if (size < HDR)
		return 0;
	struct spam_limits l = {.max_symbols = data[0] & 15,
	                        .max_options = (data[0] >> 4) & 7,
	                        .max_option_length = 1 + (data[1] & 31),
	                        .max_headers = (data[1] >> 5) & 7,
	                        .max_header_length = 64 + (data[1] & 63)};
	const char *buf = (const char *)data + HDR;
	size_t len = size - HDR;
	check_ranges(buf, len);
	if (spam_reply_parse(buf, len, &l, &r, &why)) {
		if (!why || r.verdict || r.fields || r.subject || r.message || r.remove)
			abort();
		return 0;
	}
	check_verdict(&r, &l);
	check_fields(r.fields, &l);
	check_removals(&r, &l);
	check_text(r.message, true);
	check_text(r.subject, false);
	spam_reply_free(&r);
	return 0;
}
