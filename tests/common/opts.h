/*
 * opts.h: the command-line parsing of the C test drivers (dkim_check,
 * spf_check, dns_query, webhook-post), written once: a table of long
 * options, "--name value" or "--name=value", in any order with the
 * positional arguments. Numbers are whole, non-negative and in range, or
 * the parse fails: a driver never runs with an option it half understood.
 */
#ifndef TEST_OPTS_H
#define TEST_OPTS_H

#include <stddef.h>

enum opt_kind {
	OPT_FLAG, /* no value: sets *(bool *)dst */
	OPT_STR,  /* *(const char **)dst = the value (argv's, not copied) */
	OPT_U32,  /* *(uint32_t *)dst */
	OPT_U64,  /* *(uint64_t *)dst */
	OPT_LONG, /* *(long *)dst, 0 to LONG_MAX */
	OPT_LIST, /* appends the value to the struct opt_list at dst */
	OPT_CALL, /* call(ctx, value): 0, or -1 when the value is refused */
};

/* A repeatable option's values (argv's, not copied); more than max is an error. */
struct opt_list {
	char **items;
	size_t n, max;
};

struct opt {
	const char *name; /* without the leading "--" */
	enum opt_kind kind;
	void *dst;
	int (*call)(void *ctx, const char *value);
	void *ctx;
};

/* Table rows: OPT_ITEM("timeout-ms", OPT_U64, &cfg.timeout_ms), OPT_FN("header", add, &route). */
#define OPT_ITEM(name, kind, dst)                                                                  \
	{                                                                                          \
		(name), (kind), (dst), NULL, NULL                                                  \
	}
#define OPT_FN(name, fn, ctx)                                                                      \
	{                                                                                          \
		(name), OPT_CALL, NULL, (fn), (ctx)                                                \
	}

/*
 * Parses argv[1..argc) against the n options of t; the other arguments
 * (those not starting with "--", and "-") go to pos[], at most max_pos.
 * Returns how many positional arguments there were, or -1 after saying
 * what was wrong on stderr, prefixed with prog.
 */
int opts_parse(const char *prog, const struct opt *t, size_t n, int argc, char **argv,
               const char **pos, size_t max_pos);

#endif
