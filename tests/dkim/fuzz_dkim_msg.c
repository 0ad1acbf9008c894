/*
 * fuzz_dkim_msg.c: libFuzzer target for whole messages: header splitting,
 * every DKIM-Signature (parse, time checks, body and header hashes, key
 * verdict) and the ARC chain (collection, structure, seal hashes), over the
 * in-memory zone resolver serving an Ed25519 key and a revoked one under
 * the selectors the seeds use. Must never crash, leak, or call back twice.
 */
#include <stdlib.h>
#include <string.h>

#include "arc.h"
#include "dkim.h"
#include "zone_resolver.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void on_dkim(void *arg, const struct dkim_result *r)
{
	int *calls = arg;

	(*calls)++;
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->sigs[i].reason) >= sizeof(r->sigs[i].reason))
			abort();
}

static void on_arc(void *arg, const struct arc_result *r)
{
	int *calls = arg;

	(*calls)++;
	if (r->n < 0 || r->n > ARC_MAX_INSTANCES)
		abort();
}

static const char *const zone_txt[][2] = {
    {"brisbane._domainkey.football.example.com",
     "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
    {"dummy._domainkey.example.org", "v=DKIM1; k=ed25519; p="},
    {"test._domainkey.football.example.com", "v=DKIM1; k=rsa; p="},
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct zone *z;
	static struct dkim_key_cache *cache;
	struct dkim_options o;
	struct arc_options ao;
	int calls = 0;

	if (size > 262144)
		return 0;
	if (!z) {
		z = zone_new();
		cache = dkim_key_cache_new(8);
		for (size_t i = 0; i < sizeof(zone_txt) / sizeof(zone_txt[0]); i++)
			zone_add_txt(z, zone_txt[i][0], zone_txt[i][1], strlen(zone_txt[i][1]));
		zone_add_status(z, "tmp._domainkey.example.com", DNS_TEMPFAIL);
	}
	struct dns_resolver r = zone_resolver(z);
	dkim_options_default(&o);
	o.now = 1528637909;
	o.cache = cache;
	arc_options_default(&ao);
	ao.now = o.now;
	ao.cache = cache;
	dkim_verify_start(&r, (const char *)data, size, &o, on_dkim, &calls);
	arc_verify_start(&r, (const char *)data, size, &ao, on_arc, &calls);
	if (calls != 2) /* the zone answers synchronously: both are done */
		abort();
	return 0;
}
