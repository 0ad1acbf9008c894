/*
 * test_json.h: how a C test driver prints one result for its pytest
 * driver, written once (dns_query, spf_check, from-domains, reply_driver):
 * one compact JSON line, keys sorted so that runs compare as text, flushed
 * at once (the Python side reads line by line while the driver runs).
 * Header-only like test_rand.h, so that common_lib needs no jansson.
 */
#ifndef TEST_JSON_H
#define TEST_JSON_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints j as one line ("null" for NULL or when it cannot be dumped), then releases j. */
static inline void test_json_line(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	printf("%s\n", s ? s : "null");
	fflush(stdout);
	free(s);
	json_decref(j);
}

#endif
