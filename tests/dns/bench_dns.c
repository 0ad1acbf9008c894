/*
 * bench_dns.c: the cost of the resolver's pure parts: parsing a typical
 * TXT answer (dns_wire.c) and cache lookups/inserts at full capacity with
 * LRU eviction (dns_cache.c). Built, never run as a test:
 *
 *   build/tests/dns/bench_dns [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns_int.h"

#define CACHE_ENTRIES 10000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TXT answer for example.com with two records (an SPF policy and a verification token). */
static size_t build_answer(unsigned char *b)
{
	static const char *const txt[] = {
	    "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 include:_spf.example.net ~all",
	    "site-verification=0123456789abcdef0123456789abcdef",
	};
	static const unsigned char head[] = {0x12, 0x34, 0x81, 0x80, 0,   1,   0,   2,   0,   0,
	                                     0,    0,    7,    'e',  'x', 'a', 'm', 'p', 'l', 'e',
	                                     3,    'c',  'o',  'm',  0,   0,   16,  0,   1};
	size_t n = sizeof(head);
	memcpy(b, head, n);
	for (int i = 0; i < 2; i++) {
		size_t l = strlen(txt[i]);
		unsigned char rr[] = {0xc0,
		                      12,
		                      0,
		                      16,
		                      0,
		                      1,
		                      0,
		                      0,
		                      0x0e,
		                      0x10,
		                      0,
		                      (unsigned char)(l + 1),
		                      (unsigned char)l};
		memcpy(b + n, rr, sizeof(rr));
		n += sizeof(rr);
		memcpy(b + n, txt[i], l);
		n += l;
	}
	return n;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	unsigned char pkt[512];
	size_t len = build_answer(pkt);
	char name[64];
	uint64_t left;

	double t0 = now_s();
	for (long i = 0; i < iters; i++)
		dns_answer_unref(dns_wire_parse(pkt, len, DNS_T_TXT));
	double dt = now_s() - t0;
	printf("%-28s %10.0f answers/s %8.3f us/answer\n", "wire parse (TXT, 2 RRs)",
	       (double)iters / dt, dt * 1e6 / (double)iters);

	struct dns_cache *c = dns_cache_new(CACHE_ENTRIES, DNS_CACHE_MAX_BYTES);
	struct dns_answer *a = dns_wire_parse(pkt, len, DNS_T_TXT);
	/* Names cycle over half (all hits after warm-up), then twice the capacity (all misses). */
	static const struct {
		const char *label;
		long names;
	} runs[] = {{"cache hits", CACHE_ENTRIES / 2},
	            {"cache misses + LRU evictions", CACHE_ENTRIES * 2}};
	for (size_t r = 0; r < 2; r++) {
		t0 = now_s();
		for (long i = 0; i < iters; i++) {
			snprintf(name, sizeof(name), "h%ld.example.com", i % runs[r].names);
			struct dns_answer *hit = dns_cache_get(c, name, DNS_T_TXT, 0, &left);
			if (hit)
				dns_answer_unref(hit);
			else
				dns_cache_put(c, name, DNS_T_TXT, a, 1000000000u);
		}
		dt = now_s() - t0;
		printf("%-28s %10.0f ops/s     %8.3f us/op (%d entries)\n", runs[r].label,
		       (double)iters / dt, dt * 1e6 / (double)iters, CACHE_ENTRIES);
	}
	printf("memory: about %zu bytes per cache entry plus the answer (%zu + records)\n",
	       sizeof(void *) * 4 + sizeof(uint64_t) * 2 + DNS_NAME_MAX + 1,
	       sizeof(struct dns_answer));
	dns_answer_unref(a);
	dns_cache_free(c);
	return 0;
}
