/*
 * fuzz_http_reply.c: libFuzzer target for the answer table (-Dfuzz=true,
 * CC=clang). The input is an HTTP status (2 bytes), a Retry-After (1 byte)
 * and a response body: whatever the app sends, the reply must be one clean
 * line, never a 2xx for a non-2xx status, at most HTTP_REPLY_TEXT_MAX
 * characters of printable ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_answer a = {.outcome = HTTP_OUTCOME_STATUS, .id = "msg_0"};
	struct smtp_reply r;

	if (size < 3)
		return 0;
	a.status = 100 + (data[0] << 8 | data[1]) % 500;
	a.retry_after_s = data[2] == 0xff ? -1 : data[2];
	a.body = (const char *)data + 3;
	a.body_len = size - 3;
	http_reply_map(&a, NULL, 0, &r);
	if ((r.code / 100 == 2) != (a.status / 100 == 2))
		abort();
	if (strlen(r.text) > HTTP_REPLY_TEXT_MAX || r.code < 200 || r.code > 599)
		abort();
	for (const char *p = r.text; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
	return 0;
}
