/*
 * tests/toml/fuzz_toml.c: libFuzzer target for routes/toml.c.
 *
 * Feeds arbitrary bytes to toml_parse() and, when they parse, walks the
 * whole tree through the public accessors so that every node is read.
 * Built only with -Dfuzz=true (clang); see docs/fuzzing.md. Must never
 * keep state between inputs.
 */
#include "toml.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sums what the accessors return so the reads cannot be optimised away. */
static size_t walk(const toml_value *v)
{
	size_t sum = (size_t)toml_line(v) + (size_t)toml_col(v);
	size_t len = 0;

	switch (toml_type_of(v)) {
	case TOML_TABLE:
		for (size_t i = 0; i < toml_table_len(v); i++) {
			const char *k = toml_table_key(v, i, &len);
			sum +=
			    len + (size_t)toml_table_key_line(v, i) + (k ? (unsigned char)k[0] : 0);
			sum += walk(toml_table_value(v, i));
			sum += toml_table_get(v, k) != NULL;
		}
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < toml_array_len(v); i++)
			sum += walk(toml_array_at(v, i));
		break;
	case TOML_STRING:
		sum += toml_string(v, &len) ? len : 0;
		break;
	case TOML_INTEGER:
		sum += (size_t)toml_integer(v);
		break;
	case TOML_FLOAT:
		sum += toml_float(v) > 0;
		break;
	case TOML_BOOL:
		sum += toml_bool(v);
		break;
	default:
		sum += (size_t)toml_datetime_of(v)->nanosecond;
		break;
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	toml_error err;
	toml_value *root = toml_parse((const char *)data, size, "fuzz", &err);
	volatile size_t sink;

	if (root)
		sink = walk(root);
	else
		sink = (size_t)err.line + (size_t)err.col + (size_t)err.msg[0];
	(void)sink;
	toml_free(root);
	return 0;
}
