/*
 * opts.c: the option parser of opts.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static const struct opt *find(const struct opt *t, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(t[i].name) == len && memcmp(t[i].name, name, len) == 0)
			return &t[i];
	return NULL;
}

/* A whole decimal number from 0 to max, or -1. */
static int number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int store(const struct opt *o, const char *v)
{
	uint64_t n;

	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)o->dst = true;
		return 0;
	case OPT_STR:
		*(const char **)o->dst = v;
		return 0;
	case OPT_U32:
		if (number(v, UINT32_MAX, &n) < 0)
			return -1;
		*(uint32_t *)o->dst = (uint32_t)n;
		return 0;
	case OPT_U64:
		if (number(v, UINT64_MAX, &n) < 0)
			return -1;
		*(uint64_t *)o->dst = n;
		return 0;
	case OPT_LONG:
		if (number(v, LONG_MAX, &n) < 0)
			return -1;
		*(long *)o->dst = (long)n;
		return 0;
	case OPT_LIST: {
		struct opt_list *l = o->dst;

		if (l->n == l->max)
			return -1;
		l->items[l->n++] = (char *)v;
		return 0;
	}
	case OPT_CALL:
		return o->call(o->ctx, v);
	}
	return -1;
}

int opts_parse(const char *prog, const struct opt *t, size_t n, int argc, char **argv,
               const char **pos, size_t max_pos)
{
	size_t npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v = NULL;
		const struct opt *o;

		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			if (npos == max_pos) {
				fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
				return -1;
			}
			pos[npos++] = a;
			continue;
		}
		eq = strchr(a, '=');
		o = find(t, n, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
		if (!o) {
			fprintf(stderr, "%s: unknown option %s\n", prog, a);
			return -1;
		}
		if (o->kind == OPT_FLAG && eq) {
			fprintf(stderr, "%s: %s takes no value\n", prog, a);
			return -1;
		}
		if (o->kind != OPT_FLAG) {
			v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v) {
				fprintf(stderr, "%s: %s needs a value\n", prog, a);
				return -1;
			}
		}
		if (store(o, v) < 0) {
			fprintf(stderr, "%s: bad value for --%s: '%s'\n", prog, o->name, v);
			return -1;
		}
	}
	return (int)npos;
}
