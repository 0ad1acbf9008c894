/*
 * fuzz_spf_record.c: libFuzzer target for the SPF record parser
 * (gateway/spf/spf_record.c, RFC 7208 sections 4.6 and 12). Arbitrary bytes
 * go to spf_record_parse(); a record that parses is walked and checked
 * against the parser's own promises (terms inside the copy, CIDRs in range,
 * at most one redirect and one exp).
 */
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_record r;
	char err[128];
	const char *txt = (const char *)data;

	if (!spf_record_is_v1(txt, size))
		return 0;
	if (spf_record_parse(txt, size, &r, err, sizeof(err)) < 0)
		return 0;
	size_t len = size; /* the copy has the input's length; terms are NUL-separated */
	for (size_t i = 0; i < r.n; i++) {
		const struct spf_term *t = &r.terms[i];
		if (t->text < r.text || t->text > r.text + len)
			abort();
		if (t->spec && (t->spec < r.text || t->spec + t->spec_len > r.text + len))
			abort();
		if (t->cidr4 < 0 || t->cidr4 > 32 || t->cidr6 < 0 || t->cidr6 > 128)
			abort();
		if (t->kind == SPF_T_REDIRECT && (int)i != r.redirect)
			abort();
		if (t->kind == SPF_T_EXP && (int)i != r.exp)
			abort();
	}
	spf_record_free(&r);
	return 0;
}
