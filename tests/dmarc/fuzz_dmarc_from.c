/*
 * fuzz_dmarc_from.c: libFuzzer target of the RFC5322.From author domain
 * parser alone (dmarc_from_domains, gateway/dmarc/dmarc_from.c). The input
 * is a header block, copied to a buffer of exactly its size (no NUL: the
 * parser must never read past len). Checks the contract of include/dmarc.h:
 *   - DMARC_FROM_NONE only when no From field was seen; DMARC_FROM_ERROR
 *     always with its reason; a count only with 1..8 fields;
 *   - every domain written is a normalised DNS name: 1..253 octets, ASCII,
 *     lower case, labels of 1..63 octets, no '@', '[', ']', '\' or space,
 *     unchanged by dmarc_domain_normalize(), and distinct from the others;
 *   - max only bounds what is written: max = 1 writes the same first
 *     domain as max = DMARC_MAX_AUTHORS, counts 0 and 1 alike, and says
 *     "more than one" exactly when max = DMARC_MAX_AUTHORS does. (Beyond
 *     max the count is not exact today: repeats of a domain that did not
 *     fit are counted again; auth.c only asks "more than max?", which
 *     stays right. Reported with the fuzz findings of issue 11.)
 *   - the header ends at the empty line: a From field after it changes
 *     nothing.
 * Build and run: docs/fuzzing.md, "DMARC" (scripts/fuzz fuzz_dmarc_from).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char injected[] = "\r\nFrom: a@injected.example\r\n";

static void check_domain(char (*out)[DMARC_DOMAIN_MAX], int i)
{
	const char *d = out[i];
	size_t len = strnlen(d, DMARC_DOMAIN_MAX), label = 0;
	char again[DMARC_DOMAIN_MAX];

	if (len == 0 || len > 253 || d[0] == '.' || d[len - 1] == '.')
		abort();
	for (size_t j = 0; j < len; j++) {
		unsigned char c = (unsigned char)d[j];
		if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z') || c == '@' || c == '[' ||
		    c == ']' || c == '\\')
			abort();
		label = c == '.' ? 0 : label + 1;
		if (label > 63 || (c == '.' && j > 0 && d[j - 1] == '.'))
			abort();
	}
	if (dmarc_domain_normalize(d, len, again) != 0 || strcmp(again, d) != 0)
		abort();
	for (int j = 0; j < i; j++)
		if (strcmp(out[j], d) == 0)
			abort(); /* distinct domains only */
}

/* The parts of one call's result that another call on the same header must repeat. */
static void check_same(int k, const struct dmarc_from_info *a, int k2,
                       const struct dmarc_from_info *b)
{
	if (k2 != k || a->n_fields != b->n_fields ||
	    (k == DMARC_FROM_ERROR && strcmp(a->error, b->error) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX], one[1][DMARC_DOMAIN_MAX];
	struct dmarc_from_info info = {99, NULL}, info1 = {99, NULL};
	char *p = malloc(size + sizeof(injected));

	if (!p)
		return 0;
	memcpy(p, data, size);
	int k = dmarc_from_domains(p, size, out, DMARC_MAX_AUTHORS, &info);
	if (k < DMARC_FROM_ERROR || (k == DMARC_FROM_NONE && info.n_fields != 0) ||
	    (k >= 0 && info.n_fields == 0))
		abort(); /* an error may come before any From field (a malformed line first) */
	if (k == DMARC_FROM_ERROR && (!info.error || !info.error[0]))
		abort(); /* a refusal always says why */
	if (k >= 0 && info.n_fields > 8)
		abort(); /* more From fields than that is an error, never a verdict */
	for (int i = 0; i < k && i < DMARC_MAX_AUTHORS; i++)
		check_domain(out, i);

	/* max=1 names the same first author and still tells one from several. */
	int k1 = dmarc_from_domains(p, size, one, 1, &info1);
	if (k <= 1)
		check_same(k, &info, k1, &info1);
	else if (k1 < 2 || info1.n_fields != info.n_fields)
		abort();
	if (k > 0 && strcmp(one[0], out[0]) != 0)
		abort();

	/* A From line after the empty line is body, not header: nothing changes. */
	if (size > 0 && p[size - 1] == '\n') {
		char again[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
		struct dmarc_from_info info2 = {99, NULL};

		memcpy(p + size, injected, sizeof(injected) - 1);
		int k2 = dmarc_from_domains(p, size + sizeof(injected) - 1, again,
		                            DMARC_MAX_AUTHORS, &info2);
		check_same(k, &info, k2, &info2);
		for (int i = 0; i < k && i < DMARC_MAX_AUTHORS; i++)
			if (strcmp(again[i], out[i]) != 0)
				abort();
	}
	free(p);
	return 0;
}
