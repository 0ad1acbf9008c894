/*
 * test_common.c: the test drivers' shared code (common_lib). The option
 * parser (opts.h): both value forms, positional arguments anywhere,
 * repeatable options, and every way a command line can be wrong failing
 * the parse rather than half-applying. The file reader (test_file.h): the
 * whole file, NUL-terminated, and nothing over its maximum.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "opts.h"
#include "test_file.h"
#include "unit.h"

struct got {
	bool flag;
	const char *str;
	uint32_t u32;
	uint64_t u64;
	long l;
	char *items[2];
	struct opt_list list;
	int calls;
};

static int count_call(void *arg, const char *v)
{
	struct got *g = arg;

	g->calls++;
	return v[0] == '!' ? -1 : 0;
}

/* Parses the NULL-terminated words (argv[0] is added) into *g; returns opts_parse()'s value. */
static int parse(struct got *g, const char **pos, size_t max_pos, const char *const *words)
{
	char *argv[16] = {"prog"};
	int argc = 1;
	const struct opt t[] = {
	    OPT_ITEM("flag", OPT_FLAG, &g->flag), OPT_ITEM("str", OPT_STR, &g->str),
	    OPT_ITEM("u32", OPT_U32, &g->u32),    OPT_ITEM("u64", OPT_U64, &g->u64),
	    OPT_ITEM("long", OPT_LONG, &g->l),    OPT_ITEM("item", OPT_LIST, &g->list),
	    OPT_FN("call", count_call, g),
	};

	*g = (struct got){.list = {g->items, 0, 2}};
	while (*words && argc < 15)
		argv[argc++] = (char *)*words++;
	return opts_parse("test", t, sizeof(t) / sizeof(t[0]), argc, argv, pos, max_pos);
}

static void test_read(void)
{
	char path[] = "/tmp/test-common-XXXXXX", *buf;
	int fd = mkstemp(path);
	size_t len = 7;

	CHECK(fd >= 0 && write(fd, "abc\0def", 7) == 7);
	close(fd);
	buf = test_read_file(path, 7, &len);
	CHECK(buf && len == 7 && memcmp(buf, "abc\0def", 8) == 0); /* NUL-terminated too */
	free(buf);
	CHECK(test_read_file(path, 6, &len) == NULL); /* one byte over */
	unlink(path);
	CHECK(test_read_file(path, 100, &len) == NULL); /* gone */
}

static void test_opts(void)
{
	struct got g;
	const char *pos[2] = {NULL, NULL};

	CHECK_INT(parse(&g, pos, 2,
	                (const char *const[]){"a.eml", "--flag", "--str", "x", "--u32=4294967295",
	                                      "--u64", "18446744073709551615", "--long=7", "--item",
	                                      "i1", "--item=i2", "--call", "c", "-", NULL}),
	          2);
	CHECK(g.flag);
	CHECK_STR(g.str, "x");
	CHECK_INT(g.u32, 4294967295u);
	CHECK(g.u64 == UINT64_MAX);
	CHECK_INT(g.l, 7);
	CHECK_INT(g.list.n, 2);
	CHECK_STR(g.items[1], "i2");
	CHECK_INT(g.calls, 1);
	CHECK_STR(pos[0], "a.eml");
	CHECK_STR(pos[1], "-");
	CHECK_INT(parse(&g, pos, 0, (const char *const[]){"--str=", NULL}), 0);
	CHECK_STR(g.str, "");

	/* every one of these is refused */
	static const char *const bad[][4] = {
	    {"--nope"},        {"--flag=1"},
	    {"--str"},         {"--u32", "4294967296"},
	    {"--u32", "-1"},   {"--u32", "12x"},
	    {"--u32", ""},     {"--u64", "+5"},
	    {"--long", " 5"},  {"--u64", "99999999999999999999"},
	    {"--call", "!no"}, {"one", "two"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *words[6] = {0};

		for (size_t k = 0; k < 4 && bad[i][k]; k++)
			words[k] = bad[i][k];
		CHECK_INT(parse(&g, pos, 1, words), -1);
	}
	/* a repeatable option past its capacity (two) */
	CHECK_INT(parse(&g, pos, 1,
	                (const char *const[]){"--item", "1", "--item", "2", "--item", "3", NULL}),
	          -1);
}

int main(void)
{
	test_opts();
	test_read();
	return UNIT_END("common");
}
