/*
 * fuzz_dkim_key.c: libFuzzer target for DKIM key records (RFC 6376 3.6.1,
 * RFC 8463): tag list, flags, base64 and DER/raw key decoding, through a
 * small key cache so that insertion, hits and eviction run too. Must
 * never crash, leak or read outside the input.
 */
#include <stdlib.h>
#include <string.h>

#include "dkim_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct dkim_key_cache *cache;
	struct dkim_key k;
	char reason[96];

	if (!cache)
		cache = dkim_key_cache_new(4);
	for (int round = 0; round < 2; round++) {
		if (dkim_key_get(round ? cache : NULL, (const char *)data, size, &k, reason,
		                 sizeof(reason)) == DKIM_PASS)
			dkim_key_release(&k);
	}
	if (dkim_key_get(cache, (const char *)data, size, &k, reason, sizeof(reason)) == DKIM_PASS)
		dkim_key_release(&k);
	return 0;
}
