/*
 * tests/toml/toml_decoder.c: the toml-test decoder for routes/toml/toml.c.
 *
 * Reads a TOML document on stdin and prints the toml-test "tagged JSON" on
 * stdout: tables become objects, arrays arrays, every scalar
 * {"type": T, "value": "text"}. Invalid TOML: the error on stderr as
 * "line:col: message", exit status 1. Must never accept what toml_parse()
 * rejects or print anything but the tree.
 */
#include "test_file.h"
#include "toml.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The suite's documents are small; this bounds a runaway pipe. */
#define DECODER_MAX_INPUT (64u << 20)

static json_t *tagged(const toml_value *v);

static json_t *tag(const char *type, const char *text)
{
	return json_pack("{s:s, s:s}", "type", type, "value", text);
}

/* The shortest %g form that reads back as the same double. */
static void float_text(double d, char *out, size_t n)
{
	if (isnan(d)) {
		snprintf(out, n, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(out, n, "%s", d < 0 ? "-inf" : "inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
}

/* RFC 3339 with the precision that was written (up to nanoseconds). */
static void datetime_text(const toml_value *v, char *out, size_t n)
{
	const toml_datetime *dt = toml_datetime_of(v);
	toml_type t = toml_type_of(v);
	size_t o = 0;
	int digits = dt->frac_digits > 9 ? 9 : dt->frac_digits;

	out[0] = '\0';
	if (t != TOML_TIME_LOCAL)
		o += (size_t)snprintf(out + o, n - o, "%04d-%02d-%02d", dt->year, dt->month,
		                      dt->day);
	if (t == TOML_DATE_LOCAL)
		return;
	if (t != TOML_TIME_LOCAL)
		o += (size_t)snprintf(out + o, n - o, "T");
	o += (size_t)snprintf(out + o, n - o, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
	if (digits > 0) {
		int frac = dt->nanosecond;
		for (int k = digits; k < 9; k++)
			frac /= 10;
		o += (size_t)snprintf(out + o, n - o, ".%0*d", digits, frac);
	}
	if (t != TOML_DATETIME)
		return;
	if (dt->offset_z) {
		snprintf(out + o, n - o, "Z");
	} else {
		int m = dt->offset_minutes < 0 ? -dt->offset_minutes : dt->offset_minutes;
		snprintf(out + o, n - o, "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+', m / 60,
		         m % 60);
	}
}

static json_t *table_json(const toml_value *t)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < toml_table_len(t); i++) {
		size_t klen;
		const char *k = toml_table_key(t, i, &klen);
		json_t *v = tagged(toml_table_value(t, i));
		if (!v || json_object_setn_new(o, k, klen, v)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *array_json(const toml_value *a)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < toml_array_len(a); i++) {
		if (json_array_append_new(arr, tagged(toml_array_at(a, i)))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *tagged(const toml_value *v)
{
	char text[64];
	size_t len;
	const char *s;

	switch (toml_type_of(v)) {
	case TOML_TABLE:
		return table_json(v);
	case TOML_ARRAY:
		return array_json(v);
	case TOML_STRING:
		s = toml_string(v, &len);
		return json_pack("{s:s, s:s%}", "type", "string", "value", s, len);
	case TOML_INTEGER:
		snprintf(text, sizeof(text), "%lld", (long long)toml_integer(v));
		return tag("integer", text);
	case TOML_FLOAT:
		float_text(toml_float(v), text, sizeof(text));
		return tag("float", text);
	case TOML_BOOL:
		return tag("bool", toml_bool(v) ? "true" : "false");
	default:
		datetime_text(v, text, sizeof(text));
		return tag(toml_type_name(toml_type_of(v)), text);
	}
}

int main(void)
{
	toml_error err;
	toml_value *root;
	json_t *out;
	size_t len;
	char *buf = test_read_file("-", DECODER_MAX_INPUT, &len);

	if (!buf) {
		fprintf(stderr, "cannot read stdin\n");
		return 2;
	}
	root = toml_parse(buf, len, "<stdin>", &err);
	free(buf);
	if (!root) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
		return 1;
	}
	out = tagged(root);
	toml_free(root);
	if (!out || json_dumpf(out, stdout, JSON_INDENT(1) | JSON_ENSURE_ASCII) != 0) {
		fprintf(stderr, "cannot write JSON\n");
		json_decref(out);
		return 2;
	}
	putchar('\n');
	json_decref(out);
	return 0;
}
