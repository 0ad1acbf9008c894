/*
 * fuzz_dmarc_record.c: libFuzzer target of the DMARC record grammar
 * (dmarc_record_parse, dmarc_record_is_dmarc) and, on the same bytes, of
 * the From-field author domain parser (dmarc_from_domains) and the
 * Authentication-Results finder (auth_ar_ranges, auth_strip_ar): the three
 * parsers of gateway/dmarc/ that read what a sender controls. Checks the
 * invariants the callers rely on, not only the absence of crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const char *p, size_t n)
{
	struct dmarc_record r;
	enum dmarc_parse got = dmarc_record_parse(p, n, &r);
	if ((got == DMARC_REC_NOT_DMARC) == dmarc_record_is_dmarc(p, n))
		abort();
	if (got == DMARC_REC_OK && r.p == DMARC_POLICY_UNSET)
		abort(); /* an accepted record always carries a policy */
	if (r.pct > 100)
		abort();
}

static void check_from(const char *p, size_t n)
{
	char out[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
	int k = dmarc_from_domains(p, n, out, DMARC_MAX_AUTHORS, NULL);
	for (int i = 0; i < k && i < DMARC_MAX_AUTHORS; i++) {
		size_t len = strnlen(out[i], DMARC_DOMAIN_MAX);
		if (len == 0 || len > 253)
			abort();
		for (size_t j = 0; j < len; j++)
			if (out[i][j] >= 'A' && out[i][j] <= 'Z')
				abort(); /* normalised means lower case */
	}
}

static void check_strip(const char *p, size_t n)
{
	size_t ranges[16], out_len = 0;
	size_t k = auth_ar_ranges(p, n, "mx.example", ranges, 8);
	size_t drop = 0, prev = 0;
	for (size_t i = 0; i < k && i < 8; i++) {
		if (ranges[2 * i] < prev || ranges[2 * i + 1] <= ranges[2 * i] ||
		    ranges[2 * i + 1] > n)
			abort();
		drop += ranges[2 * i + 1] - ranges[2 * i];
		prev = ranges[2 * i + 1];
	}
	char *s = auth_strip_ar(p, n, "mx.example", &out_len);
	if (!s)
		return;
	if (k <= 8 && out_len != n - drop)
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	check_record(p, size);
	check_from(p, size);
	check_strip(p, size);
	free(p);
	return 0;
}
