/*
 * test_shared_headers.c: include/grow.h and include/utf8.h, the two header-only
 * helpers the modules share. grow_array: room is given only when full, the
 * capacity doubles from the first one, and a size that would wrap is
 * refused with the old array intact. utf8_valid_prefix: the offset of the
 * first ill-formed byte (the TOML parser reports it), got/want.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "unit.h"
#include "utf8.h"

static void test_grow(void)
{
	int *a = NULL;
	size_t cap = 0;
	for (size_t n = 0; n < 40; n++) {
		int *g = grow_array(a, &cap, n, sizeof *g, 4);
		CHECK(g != NULL);
		if (!g)
			break;
		a = g;
		a[n] = (int)n;
		CHECK(cap > n);
	}
	CHECK_INT(cap, 64); /* 4, 8, 16, 32, 64 */
	CHECK_INT(a[39], 39);
	/* not full: the same array back, capacity unchanged */
	CHECK(grow_array(a, &cap, 50, sizeof *a, 4) == a);
	CHECK_INT(cap, 64);
	/* a byte count that would wrap: refused, the array still ours and whole */
	size_t huge = SIZE_MAX / 2;
	CHECK(grow_array(a, &huge, huge, 4, 4) == NULL);
	CHECK_INT(huge, SIZE_MAX / 2);
	CHECK_INT(a[39], 39);
	free(a);
}

static const struct {
	const char *in;
	size_t len, want; /* want: bytes of well-formed prefix */
} prefixes[] = {
    {"", 0, 0},
    {"plain ascii", 11, 11},
    {"caf\xc3\xa9", 5, 5},
    {"ab\xc0\xaf", 4, 2},                        /* overlong '/' */
    {"ab\xed\xa0\x80", 5, 2},                    /* a surrogate */
    {"\xf0\x9f\x98\x80x\xf4\x90\x80\x80", 9, 5}, /* U+1F600, then above U+10FFFF */
    {"x\xe2\x82", 3, 1},                         /* cut short */
    {"a\0b", 3, 3},                              /* NUL is UTF-8 */
};

static void test_utf8_prefix(void)
{
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		CHECK_INT(utf8_valid_prefix(prefixes[i].in, prefixes[i].len), prefixes[i].want);
		CHECK(utf8_valid(prefixes[i].in, prefixes[i].len) ==
		      (prefixes[i].want == prefixes[i].len));
	}
}

int main(void)
{
	test_grow();
	test_utf8_prefix();
	return UNIT_END("shared_headers");
}
