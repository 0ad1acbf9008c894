/*
 * fuzz_payload.c: libFuzzer target of MIME to JSON. The input is a
 * message; its first byte picks the options (attachments mode, raw, small
 * caps) so the limits are fuzzed too. Checks, beyond "no crash, no leak,
 * no UB": payload_build() never returns NULL (only out of memory may), and
 * payload_write() produces exactly json_dumps() of the tree.
 * Build and run: docs/fuzzing.md, "MIME to JSON".
 */
#include <stdlib.h>
#include <string.h>

#include "payload.h"

struct out {
	char *p;
	size_t len, cap;
};

static int sink(const char *buf, size_t size, void *data)
{
	struct out *o = data;
	if (size > o->cap - o->len) {
		size_t cap = o->cap ? o->cap * 2 : 4096;
		while (cap - o->len < size)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (!p)
			return -1;
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, size);
	o->len += size;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payload_options o;
	payload_options_default(&o);
	if (size > 0) {
		o.attachments = (enum gw_attachments)(data[0] % 3);
		o.include_raw = data[0] & 4;
		if (data[0] & 8) {
			o.max_header_count = 10;
			o.max_mime_depth = 3;
			o.max_mime_parts = 8;
		}
		data++;
		size--;
	}
	struct message_bytes m = {(const char *)data, size};
	json_t *tree = payload_build(&m, NULL, NULL, "fuzz", &o);
	if (!tree)
		abort();
	char *want = json_dumps(tree, JSON_COMPACT);
	struct out got = {0};
	if (!want || payload_write(&m, NULL, NULL, "fuzz", &o, JSON_COMPACT, sink, &got) != 0 ||
	    got.len != strlen(want) || memcmp(got.p, want, got.len) != 0)
		abort();
	free(got.p);
	free(want);
	json_decref(tree);
	return 0;
}
