/*
 * bench_spf.c: how fast check_host() runs when DNS costs nothing (every
 * answer from the tests' in-memory zone, delivered synchronously like a
 * cache hit),
 * and how much memory one check holds. Built, never run as a test:
 *
 *   build/tests/spf/bench_spf [iterations]
 *
 * Prints checks per second and microseconds per check for a few typical
 * policies (ip4 lists, include chains, a/mx, macros with exists).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "spf_int.h"
#include "zone_resolver.h"

struct zrec {
	const char *name;
	enum dns_type type;
	const char *value; /* TXT text, A/AAAA address, MX host */
};

static const struct zrec zone[] = {
    {"big.example", DNS_T_TXT,
     "v=spf1 ip4:192.0.2.0/28 ip4:192.0.2.16/28 ip4:192.0.2.32/28 ip4:198.51.100.0/24 "
     "ip6:2001:db8::/32 ip4:203.0.113.0/25 include:_spf.big.example ~all"},
    {"_spf.big.example", DNS_T_TXT, "v=spf1 ip4:203.0.113.128/25 a mx -all"},
    {"_spf.big.example", DNS_T_A, "203.0.113.200"},
    {"_spf.big.example", DNS_T_MX, "mx.big.example"},
    {"mx.big.example", DNS_T_A, "203.0.113.201"},
    {"chain.example", DNS_T_TXT, "v=spf1 include:c1.example include:c2.example -all"},
    {"c1.example", DNS_T_TXT, "v=spf1 include:c3.example ?all"},
    {"c2.example", DNS_T_TXT, "v=spf1 a:host.c2.example -all"},
    {"c3.example", DNS_T_TXT, "v=spf1 ip4:10.0.0.0/8 -all"},
    {"host.c2.example", DNS_T_A, "192.0.2.77"},
    {"macro.example", DNS_T_TXT, "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all exp=why.%{d}"},
    {"why.macro.example", DNS_T_TXT, "%{i} is not allowed to send for %{d}"},
};

/* The table above as the tests' in-memory zone (tests/common/zone_resolver.h). */
static struct zone *zone_build(void)
{
	struct zone *z = zone_new();

	for (size_t i = 0; z && i < sizeof(zone) / sizeof(zone[0]); i++) {
		const struct zrec *r = &zone[i];
		int rc = r->type == DNS_T_TXT ? zone_add_txt(z, r->name, r->value, strlen(r->value))
		         : r->type == DNS_T_MX ? zone_add_mx(z, r->name, 10, r->value)
		                               : zone_add_addr(z, r->name, r->type, r->value);

		if (rc < 0) {
			zone_free(z);
			return NULL;
		}
	}
	return z;
}

static int outcomes[SPF_RESULT_MAX];

static void on_done(void *arg, const struct spf_outcome *o)
{
	outcomes[o->result]++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *label, *ip, *from;
	} cases[] = {
	    {"ip4 list, pass", "198.51.100.7", "a@big.example"},
	    {"include + a + mx, softfail", "192.0.2.200", "a@big.example"},
	    {"include chain, pass", "192.0.2.77", "a@chain.example"},
	    {"exists macro + exp, fail", "192.0.2.9", "first-last@macro.example"},
	};
	struct zone *z = zone_build();
	struct dns_resolver r;
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;

	if (!z)
		return 1;
	r = zone_resolver(z);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		inet_pton(AF_INET, cases[c].ip, &sin.sin_addr);
		memset(outcomes, 0, sizeof(outcomes));
		double t0 = now_s();
		for (long i = 0; i < iters; i++)
			spf_check_start(&r, (struct sockaddr *)&sin, "mx.client.example",
			                cases[c].from, "gw.example", on_done, NULL);
		double dt = now_s() - t0;
		zone_log_clear(z);
		int top = 0;
		for (int k = 0; k < SPF_RESULT_MAX; k++)
			if (outcomes[k] > outcomes[top])
				top = k;
		printf("%-30s %-9s %10.0f checks/s %8.2f us/check\n", cases[c].label,
		       spf_result_name((enum spf_result)top), (double)iters / dt,
		       dt * 1e6 / (double)iters);
	}
	printf("memory: %zu bytes per check with one frame, plus each record's text and terms\n",
	       spf_check_footprint());
	zone_free(z);
	return 0;
}
