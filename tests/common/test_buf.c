/*
 * test_buf.c: the C test drivers' growing output buffer (test_buf.h).
 * Doubling growth, checked against overflow; a failed append leaves what
 * was there.
 */
#include "test_buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int test_buf_add(struct test_buf *b, const char *p, size_t n)
{
	if (n >= b->cap - b->len) { /* room for the bytes and the NUL */
		size_t cap = b->cap ? b->cap : 4096;
		while (n >= cap - b->len) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		char *grown = realloc(b->p, cap);
		if (!grown)
			return -1;
		b->p = grown;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int test_buf_sink(const char *p, size_t n, void *arg)
{
	return test_buf_add(arg, p, n);
}

int test_buf_each(void *arg, const char *p, size_t n)
{
	return test_buf_add(arg, p, n);
}

void test_buf_free(struct test_buf *b)
{
	free(b->p);
	*b = (struct test_buf){0};
}
