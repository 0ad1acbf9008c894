/*
 * fuzz_dns_wire.c: libFuzzer target for the DNS answer parser
 * (gateway/dns/dns_wire.c, RFC 1035 section 4.1). The first byte picks the
 * query type; the rest is the response packet. Checks that every record
 * handed out is within bounds and NUL-terminated.
 */
#include <stdlib.h>
#include <string.h>

#include "dns_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dns_type types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR};
	if (size < 1)
		return 0;
	enum dns_type t = types[data[0] % 5];
	struct dns_answer *a = dns_wire_parse(data + 1, size - 1, t);
	if (!a)
		return 0;
	if (a->status != DNS_OK && a->n != 0)
		abort();
	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];
		if (t == DNS_T_TXT && (rr->u.txt.len > size || rr->u.txt.data[rr->u.txt.len]))
			abort();
		if (t == DNS_T_MX && strlen(rr->u.mx.host) > DNS_NAME_MAX)
			abort();
		if (t == DNS_T_PTR && strlen(rr->u.ptr) > DNS_NAME_MAX)
			abort();
	}
	dns_answer_unref(a);
	return 0;
}
