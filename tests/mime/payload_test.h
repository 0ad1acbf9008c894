/*
 * payload_test.h: what the unit tests of gateway/mime/ share: a growing
 * message buffer, a payload built from it, and readers of the payload.
 */
#ifndef PAYLOAD_TEST_H
#define PAYLOAD_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "payload_int.h"

static inline json_t *msg_of(json_t *root)
{
	return json_object_get(root, "message");
}

static inline const char *first_warning_code(json_t *root, const char *code)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(root, "warnings"), i, w)
	{
		if (strcmp(json_string_value(json_object_get(w, "code")), code) == 0)
			return code;
	}
	return "absent";
}

struct mbuf {
	char *p;
	size_t len;
};

static inline void mb_add(struct mbuf *b, const char *s)
{
	size_t n = strlen(s);
	b->p = realloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

static inline void mb_repeat(struct mbuf *b, const char *s, int times)
{
	for (int i = 0; i < times; i++)
		mb_add(b, s);
}

static inline void mb_parts(struct mbuf *b, int n)
{
	char line[64];
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "--B\r\n\r\npart %d\r\n", i);
		mb_add(b, line);
	}
	mb_add(b, "--B--\r\n");
}

static inline json_t *build_with(struct mbuf *b, const struct payload_options *o)
{
	struct message_bytes m = {b->p, b->len, false};
	json_t *root = payload_build(&m, NULL, NULL, NULL, o);
	CHECK(root != NULL);
	return root;
}

static inline const char *subject_of(json_t *root)
{
	const char *s = json_string_value(json_object_get(msg_of(root), "subject"));
	return s ? s : "(null)";
}

#endif
