/*
 * tests/toml/test_toml_unit.c: unit tests of routes/toml/toml.c that the
 * toml-test suite cannot express: where an error is reported (line, byte
 * column, message), the accessor API (document order, lookup, positions of
 * keys and values), the nesting bound and the hash index of big tables.
 * Got/want tables on tests/unit.h; one summary line.
 */
#include "toml.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>

struct err_case {
	const char *doc;
	int line, col;
	const char *msg; /* a substring of the message */
};

static const struct err_case err_cases[] = {
    {"a = 1\nb 2\n", 2, 3, "expected '=' after key"},
    {"s = \"bad \\q escape\"\n", 1, 10, "invalid escape '\\q'"},
    {"n = 9223372036854775808\n", 1, 5, "integer out of range"},
    {"n = -9223372036854775809\n", 1, 5, "integer out of range"},
    {"[a.b]\nx = 1\n[a.b]\n", 3, 4, "table 'a.b' defined twice"},
    {"a = 1\na = 2\n", 2, 1, "duplicate key 'a'"},
    {"x = [1, 2\n", 2, 1, "expected ',' or ']' in array"},
    {"t = {a = 1,}\n", 1, 12, "trailing comma in inline table"},
    {"t = {a = 1\n}\n", 1, 11, "expected ',' or '}' in inline table"},
    {"t = {a = 1}\nt.b = 2\n", 2, 1,
     "cannot add keys to 't' with a dotted key: it is an inline table"},
    {"a = [1]\n[[a]]\n", 2, 3, "static array"},
    {"d = 2023-02-29\n", 1, 5, "invalid date or time"},
    {"s = \"abc\n", 1, 9, "newline in single-line string"},
    {"s = \"\\uD800\"\n", 1, 6, "not a Unicode scalar value"},
    {"a = 1\r\nb = 2\rc = 3\n", 2, 6, "carriage return"},
    {"# ok\n# bad \x01 here\n", 2, 7, "control character 0x01 in comment"},
    {"k = 'caf\xc3'\n", 1, 9, "invalid UTF-8"},
    {"x = 0x-1\n", 1, 5, "invalid hexadecimal integer"},
    {"x = 012\n", 1, 5, "leading zeros"},
    {"x = 1__0\n", 1, 5, "invalid number"},
    {"x = 1.\n", 1, 6, "expected digits after '.'"},
    {"[a]\nb.c = 1\n[a.b]\n", 3, 4,
     "cannot define table 'a.b': it is already a table defined by dotted keys"},
    {"x = 1 y = 2\n", 1, 7, "expected newline after value"},
    {"[tbl] junk\n", 1, 7, "expected newline after table header"},
    {"x = \n", 1, 5, "expected a value"},
    {"= 1\n", 1, 1, "expected a key"},
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		toml_error err;
		toml_value *v = toml_parse(c->doc, strlen(c->doc), "t.toml", &err);
		CHECK(v == NULL);
		toml_free(v);
		CHECK_STR(err.file, "t.toml");
		CHECK_INT(err.line, c->line);
		CHECK_INT(err.col, c->col);
		if (!strstr(err.msg, c->msg)) {
			unit_failed++;
			fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, err.msg,
			        c->msg);
		} else {
			unit_passed++;
		}
	}
}

static const char order_doc[] = "zeta = 1\n"
                                "alpha = \"two\"\n"
                                "  mid.x = 3.5\n"
                                "\"q\\u0000k\" = true\n"
                                "[srv]\n"
                                "port = 25\n"
                                "[[route]]\n"
                                "domain = \"a.example\"\n"
                                "[[route]]\n"
                                "domain = \"b.example\"\n"
                                "when = 1979-05-27T07:32:00.5-08:00\n";

struct key_want {
	const char *key;
	size_t keylen;
	toml_type type;
	int key_line, key_col, val_line, val_col;
};

static const struct key_want root_keys[] = {
    {"zeta", 4, TOML_INTEGER, 1, 1, 1, 8}, {"alpha", 5, TOML_STRING, 2, 1, 2, 9},
    {"mid", 3, TOML_TABLE, 3, 3, 3, 3},    {"q\0k", 3, TOML_BOOL, 4, 1, 4, 14},
    {"srv", 3, TOML_TABLE, 5, 2, 5, 2},    {"route", 5, TOML_ARRAY, 7, 3, 7, 3},
};

static void test_order_and_positions(void)
{
	toml_error err;
	toml_value *root = toml_parse(order_doc, strlen(order_doc), "o.toml", &err);
	size_t n = sizeof(root_keys) / sizeof(root_keys[0]);

	CHECK(root != NULL);
	if (!root) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
		return;
	}
	CHECK_INT(toml_table_len(root), n);
	for (size_t i = 0; i < n && i < toml_table_len(root); i++) {
		const struct key_want *w = &root_keys[i];
		size_t klen = 0;
		const char *k = toml_table_key(root, i, &klen);
		const toml_value *v = toml_table_value(root, i);
		CHECK(k && klen == w->keylen && memcmp(k, w->key, klen) == 0);
		CHECK_INT(toml_type_of(v), w->type);
		CHECK_INT(toml_table_key_line(root, i), w->key_line);
		CHECK_INT(toml_table_key_col(root, i), w->key_col);
		CHECK_INT(toml_line(v), w->val_line);
		CHECK_INT(toml_col(v), w->val_col);
	}
	CHECK(toml_table_key(root, n, NULL) == NULL);
	CHECK(toml_table_value(root, n) == NULL);
	toml_free(root);
}

static void test_lookup_and_scalars(void)
{
	toml_error err;
	toml_value *root = toml_parse(order_doc, strlen(order_doc), "o.toml", &err);
	const toml_value *routes, *r1, *when, *mid;
	const toml_datetime *dt;
	size_t len = 0;

	CHECK(root != NULL);
	if (!root)
		return;
	CHECK_INT(toml_integer(toml_table_get(root, "zeta")), 1);
	CHECK_STR(toml_string(toml_table_get(root, "alpha"), &len), "two");
	CHECK_INT(len, 3);
	CHECK(toml_table_get(root, "missing") == NULL);
	CHECK(toml_table_get(root, "q") == NULL); /* the key holds a NUL: not "q" */
	mid = toml_table_get(root, "mid");
	CHECK(fabs(toml_float(toml_table_get(mid, "x")) - 3.5) < 1e-12);
	CHECK_INT(toml_integer(toml_table_get(toml_table_get(root, "srv"), "port")), 25);
	/* wrong types answer 0/NULL rather than garbage */
	CHECK(toml_string(toml_table_get(root, "zeta"), NULL) == NULL);
	CHECK_INT(toml_integer(toml_table_get(root, "alpha")), 0);
	CHECK(toml_datetime_of(toml_table_get(root, "zeta")) == NULL);
	routes = toml_table_get(root, "route");
	CHECK_INT(toml_array_len(routes), 2);
	r1 = toml_array_at(routes, 1);
	CHECK_INT(toml_line(r1), 9);
	CHECK_STR(toml_string(toml_table_get(r1, "domain"), NULL), "b.example");
	CHECK(toml_array_at(routes, 2) == NULL);
	when = toml_table_get(r1, "when");
	CHECK_INT(toml_type_of(when), TOML_DATETIME);
	dt = toml_datetime_of(when);
	CHECK(dt != NULL);
	if (dt) {
		CHECK_INT(dt->year, 1979);
		CHECK_INT(dt->second, 0);
		CHECK_INT(dt->nanosecond, 500000000);
		CHECK_INT(dt->frac_digits, 1);
		CHECK_INT(dt->offset_minutes, -480);
		CHECK(!dt->offset_z);
	}
	CHECK_STR(toml_type_name(TOML_DATETIME_LOCAL), "datetime-local");
	toml_free(root);
}

/* Every limit is tested: one level under the bound loads, one over fails. */
static void test_depth_bound(void)
{
	enum { N = 200 };
	char doc[2 * N + 16];
	toml_error err;
	toml_value *v;
	int ok_depth = 128; /* root is depth 0, so 128 nested arrays reach exactly the bound */

	for (int depth = ok_depth; depth <= ok_depth + 1; depth++) {
		size_t o = 0;
		memcpy(doc + o, "x = ", 4);
		o += 4;
		for (int i = 0; i < depth; i++)
			doc[o++] = '[';
		for (int i = 0; i < depth; i++)
			doc[o++] = ']';
		doc[o] = '\0';
		v = toml_parse(doc, o, "d.toml", &err);
		if (depth == ok_depth) {
			CHECK(v != NULL);
		} else {
			CHECK(v == NULL);
			CHECK(strstr(err.msg, "nesting deeper than 128") != NULL);
		}
		toml_free(v);
	}
}

/* The hash index: many keys, every one found, duplicates still caught. */
static void test_big_table(void)
{
	enum { KEYS = 5000 };
	size_t cap = KEYS * 24, o = 0;
	char *doc = malloc(cap);
	toml_error err;
	toml_value *root;
	int found = 0;

	if (!doc)
		return;
	for (int i = 0; i < KEYS; i++)
		o += (size_t)snprintf(doc + o, cap - o, "k%d = %d\n", i, i);
	root = toml_parse(doc, o, "big.toml", &err);
	CHECK(root != NULL);
	for (int i = 0; root && i < KEYS; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		found += toml_integer(toml_table_get(root, key)) == i;
	}
	CHECK_INT(found, KEYS);
	CHECK_STR(toml_table_key(root, KEYS - 1, NULL), "k4999");
	toml_free(root);
	o += (size_t)snprintf(doc + o, cap - o, "k4321 = 0\n");
	root = toml_parse(doc, o, "big.toml", &err);
	CHECK(root == NULL);
	CHECK_INT(err.line, KEYS + 1);
	CHECK(strstr(err.msg, "duplicate key 'k4321'") != NULL);
	free(doc);
}

/* The document size bound: 64 MiB of blanks loads, one byte more does not. */
static void test_size_bound(void)
{
	size_t max = (size_t)64 << 20;
	char *doc = malloc(max + 1);
	toml_error err;
	toml_value *v;

	if (!doc)
		return;
	memset(doc, ' ', max + 1);
	v = toml_parse(doc, max, "big.toml", &err);
	CHECK(v != NULL);
	toml_free(v);
	v = toml_parse(doc, max + 1, "big.toml", &err);
	CHECK(v == NULL);
	CHECK_INT(err.line, 0);
	CHECK(strstr(err.msg, "document larger than") != NULL);
	free(doc);
}

static void test_parse_file(void)
{
	toml_error err;
	toml_value *v = toml_parse_file("/nonexistent/dir/gateway.toml", &err);

	CHECK(v == NULL);
	CHECK_INT(err.line, 0);
	CHECK(strstr(err.msg, "No such file") != NULL);
	CHECK(toml_parse_file("/nonexistent/dir/gateway.toml", NULL) == NULL);
}

/* err may be NULL when only success matters. */
static void test_null_error(void)
{
	toml_value *v = toml_parse("x = 1\n", 6, "n.toml", NULL);

	CHECK(v != NULL);
	CHECK_INT(toml_integer(toml_table_get(v, "x")), 1);
	toml_free(v);
	CHECK(toml_parse("x = \n", 5, "n.toml", NULL) == NULL);
}

int main(void)
{
	test_errors();
	test_order_and_positions();
	test_lookup_and_scalars();
	test_depth_bound();
	test_big_table();
	test_size_bound();
	test_parse_file();
	test_null_error();
	return UNIT_END("toml");
}
