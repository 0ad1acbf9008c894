/*
 * test_json_bound.c: webhook_json_bound() is never below the length of
 * json_dumpb(v, JSON_COMPACT | JSON_ENSURE_ASCII), which it stands in for
 * when a body's cap is counted: random trees of every JSON type, strings
 * drawn from every UTF-8 length and the control characters (the widest
 * escapes), integers and reals at their extremes, nesting past the depth
 * where the walk turns exact. And never wildly above it (a cap is memory
 * counted against max_delivery_memory).
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/test_rand.h"
#include "../unit.h"
#include "webhook_request.h"

static json_t *random_string(uint32_t *x)
{
	static const char *const pieces[] = {
	    "a", "\x01", "\x1f", "\"", "\\", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	    "/"};
	char s[256];
	size_t n = 0, len = test_rand(x) % 40;
	for (size_t i = 0; i < len; i++) {
		const char *p = pieces[test_rand(x) % (sizeof(pieces) / sizeof(pieces[0]))];
		memcpy(s + n, p, strlen(p));
		n += strlen(p);
	}
	return json_stringn(s, n);
}

static json_t *random_value(uint32_t *x, unsigned depth)
{
	switch (test_rand(x) % (depth < 40 ? 8 : 5)) {
	case 0:
		return random_string(x);
	case 1:
		return json_integer(test_rand(x) & 1 ? INT64_MIN : (json_int_t)test_rand(x));
	case 2:
		return json_real(test_rand(x) & 1 ? -DBL_MAX : 1.0 / 3.0);
	case 3:
		return test_rand(x) & 1 ? json_true() : json_null();
	case 4:
		return json_false();
	case 5:
	case 6: {
		json_t *o = json_object();
		for (uint32_t i = test_rand(x) % 5; i > 0; i--) {
			json_t *k = random_string(x);
			json_object_set_new(o, json_string_value(k), random_value(x, depth + 1));
			json_decref(k);
		}
		return o;
	}
	default: {
		json_t *a = json_array();
		for (uint32_t i = test_rand(x) % 5; i > 0; i--)
			json_array_append_new(a, random_value(x, depth + 1));
		return a;
	}
	}
}

int main(void)
{
	uint32_t x = TEST_RAND_SEED;
	int below = 0, wild = 0;
	for (int r = 0; r < 4000; r++) {
		json_t *v = random_value(&x, r % 50); /* some start deep: past the exact depth */
		size_t got = webhook_json_bound(v);
		size_t want =
		    json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
		below += got < want;
		wild += got > 24 * want + 64; /* "0" is 1 character, bounded at 24 */
		json_decref(v);
	}
	CHECK_INT(below, 0);
	CHECK_INT(wild, 0);
	CHECK_INT(webhook_json_bound(NULL), 0);
	return UNIT_END("webhook_json_bound");
}
