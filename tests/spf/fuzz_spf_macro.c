/*
 * fuzz_spf_macro.c: libFuzzer target for SPF macros (gateway/spf/
 * spf_macro.c, RFC 7208 section 7). The first byte picks the context
 * (domain-spec or explanation) and the client address family; the rest is
 * the macro-string. Checks that the syntax check and the expander agree,
 * that the output is NUL-terminated inside the buffer and that a target
 * name made from it is at most 253 bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "spf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[SPF_EXPAND_MAX + 1];
	struct spf_macro_env e = {
	    .sender = "strong-bad+x=y@email.example.com",
	    .local = "strong-bad+x=y",
	    .sender_domain = "email.example.com",
	    .domain = "a.b.c.d.e.f.g.h.example.com",
	    .helo = "mx.example.org",
	    .hostname = "gw.example.net",
	    .p = "mx.example.org",
	    .ip = {.family = AF_INET, .b = {192, 0, 2, 3}},
	    .now = 1700000000,
	};
	bool uses_p;

	if (size < 1)
		return 0;
	enum spf_macro_ctx ctx = (data[0] & 1) ? SPF_MACRO_EXP : SPF_MACRO_DOMAIN;
	if (data[0] & 2) {
		e.ip.family = AF_INET6;
		memset(e.ip.b, 0xab, sizeof(e.ip.b));
	}
	size_t cap = (data[0] & 4) ? 64 : sizeof(out);
	const char *s = (const char *)data + 1;
	size--;
	int ok = spf_macro_check(s, size, ctx, &uses_p);
	int n = spf_macro_expand(s, size, ctx, &e, out, cap);
	if (ok < 0 && n >= 0)
		abort(); /* the expander accepted what the checker refused */
	if (n >= 0 && ((size_t)n >= cap || strlen(out) != (size_t)n))
		abort();
	if (n >= 0 && spf_target_name(out) == 0 && strlen(out) > SPF_DOMAIN_MAX)
		abort();
	return 0;
}
