/*
 * tests/routes/bench_routes.c: how fast the routing table loads and
 * answers. Built by meson, never run as a test (timings are not asserted).
 *
 * Builds N routes (default 100,000) over N/20 domains: 70% exact (which
 * also take user+tag), 15% local-part wildcards, 10% domain catch-alls, 5%
 * subdomain catch-alls. Reports route_table_build()'s time, then the
 * median over batches of the time per route_lookup() for a mix of hits
 * (exact, plus, wildcard, catch-all, subdomain) and misses (unknown user,
 * foreign domain). With a path argument it also times config_load() of a
 * generated gateway.toml holding the same routes.
 *
 * Usage: bench_routes [N] [--toml /tmp/bench-gateway.toml]
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/test_rand.h"
#include "routes.h"

#define BATCHES       101
#define BATCH_LOOKUPS 20000
#define ADDRESSES     4096

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/*
 * CPU time of this thread: on a shared machine wall time also counts the
 * time other processes held the core, so both are reported.
 */
static double cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* Resident set size in KiB (Linux), to see what a table costs. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * The i-th route's pattern. Routes come in groups of 20 per domain: 15
 * exact, 3 wildcards, a catch-all of catchN and a subdomain catch-all of
 * subN, so that no pattern repeats another.
 */
static void make_pattern(size_t i, size_t n_domains, char *out, size_t len)
{
	size_t d = (i / 20) % n_domains, k = i % 20;
	if (k < 15)
		snprintf(out, len, "user%zu@dom%zu.example", i, d);
	else if (k < 18)
		snprintf(out, len, "team%zu-*@dom%zu.example", i, d);
	else if (k == 18)
		snprintf(out, len, "*@catch%zu.example", d);
	else
		snprintf(out, len, "*@*.sub%zu.example", d);
}

/* An address aimed at route i's kind (a hit), or at nothing (a miss). */
static void make_address(size_t n, size_t n_domains, char *out, size_t len, uint32_t *rs)
{
	size_t i = (size_t)test_rand(rs) % n, d = (i / 20) % n_domains, k = i % 20;
	int r = (int)(test_rand(rs) % 10);
	if (r == 6 || r == 7) /* unknown user: every step of a domain runs */
		snprintf(out, len, "nobody%zu@dom%zu.example", i, d);
	else if (r == 8)
		snprintf(out, len, "user%zu@elsewhere%zu.test", i, d);
	else if (r == 9 && k < 15)
		snprintf(out, len, "User%zu@Dom%zu.Example", i, d);
	else if (k < 15)
		snprintf(out, len, r % 2 ? "user%zu+tag@dom%zu.example" : "user%zu@dom%zu.example",
		         i, d);
	else if (k < 18)
		snprintf(out, len, "team%zu-sales@dom%zu.example", i, d);
	else if (k == 18)
		snprintf(out, len, "anyone%zu@catch%zu.example", i, d);
	else
		snprintf(out, len, "someone@mail.sub%zu.example", d);
}

static int bench_table(size_t n)
{
	size_t n_domains = n / 20 ? n / 20 : 1;
	struct gw_route *routes = calloc(n, sizeof *routes);
	char(*text)[64] = calloc(n, sizeof *text);
	char **pats = calloc(n, sizeof *pats);
	char(*addrs)[128] = calloc(ADDRESSES, sizeof *addrs);
	if (!routes || !text || !pats || !addrs)
		return 1;
	for (size_t i = 0; i < n; i++) {
		make_pattern(i, n_domains, text[i], sizeof text[i]);
		pats[i] = text[i];
		routes[i] =
		    (struct gw_route){.name = text[i], .index = i, .match = &pats[i], .n_match = 1};
	}
	struct gw_config cfg = {.path = "bench", .routes = routes, .n_routes = n};
	snprintf(cfg.routing.plus_separator, sizeof cfg.routing.plus_separator, "+");

	struct gw_diag diag = {0};
	long rss0 = rss_kib();
	double t0 = now_s(), c0 = cpu_s();
	struct route_table *t = route_table_build(&cfg, &diag);
	double build = now_s() - t0, build_cpu = cpu_s() - c0;
	long rss1 = rss_kib();
	if (!t) {
		fprintf(stderr, "build failed (%zu errors)\n", diag.n_errors);
		return 1;
	}
	printf("routes: %zu, accepted domains: %zu; route_table_build: %.1f ms wall, %.1f ms cpu "
	       "(%zu warnings), resident memory +%ld KiB\n",
	       n, route_domain_count(t), build * 1e3, build_cpu * 1e3, diag.n_warnings,
	       rss1 - rss0);
	diag_free(&diag);

	uint32_t rs = TEST_RAND_SEED;
	for (size_t i = 0; i < ADDRESSES; i++)
		make_address(n, n_domains, addrs[i], sizeof addrs[i], &rs);
	size_t verdicts[4] = {0};
	for (size_t i = 0; i < ADDRESSES; i++)
		verdicts[route_lookup(t, addrs[i], NULL)]++;

	double per[BATCHES], cpu[BATCHES];
	struct route_match m;
	for (size_t b = 0; b < BATCHES; b++) {
		double s = now_s(), c = cpu_s();
		for (size_t i = 0; i < BATCH_LOOKUPS; i++)
			route_lookup(t, addrs[(b * 7919 + i) % ADDRESSES], &m);
		cpu[b] = (cpu_s() - c) / BATCH_LOOKUPS;
		per[b] = (now_s() - s) / BATCH_LOOKUPS;
	}
	qsort(per, BATCHES, sizeof *per, cmp_double);
	qsort(cpu, BATCHES, sizeof *cpu, cmp_double);
	printf("lookup: median %.0f ns wall, %.0f ns cpu (wall min %.0f, max %.0f) over %d "
	       "batches of %d; verdicts: %zu match, %zu unknown, %zu not ours, %zu bad\n",
	       per[BATCHES / 2] * 1e9, cpu[BATCHES / 2] * 1e9, per[0] * 1e9, per[BATCHES - 1] * 1e9,
	       BATCHES, BATCH_LOOKUPS, verdicts[ROUTE_MATCH], verdicts[ROUTE_UNKNOWN_USER],
	       verdicts[ROUTE_NOT_OURS], verdicts[ROUTE_BAD_ADDRESS]);
	t0 = now_s();
	route_table_free(t);
	printf("route_table_free: %.1f ms\n", (now_s() - t0) * 1e3);
	free(routes);
	free(text);
	free(pats);
	free(addrs);
	return 0;
}

/* The whole path: TOML parse, config model, routing table. */
static int bench_toml(size_t n, const char *path)
{
	size_t n_domains = n / 20 ? n / 20 : 1;
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 1;
	}
	fprintf(f, "[server]\nhostname = \"mx.bench.example\"\n\n"
	           "[[listener]]\naddress = \"127.0.0.1:2525\"\n\n");
	for (size_t i = 0; i < n; i++) {
		char p[64];
		make_pattern(i, n_domains, p, sizeof p);
		fprintf(f,
		        "[[route]]\nname = \"r%zu\"\nmatch = \"%s\"\nurl = "
		        "\"http://127.0.0.1:%zu/hook\"\n\n",
		        i, p, 8000 + i % 1000);
	}
	if (fclose(f) != 0)
		return 1;
	struct gw_diag diag = {0};
	double t0 = now_s();
	struct gw_config *cfg = config_load(path, &diag);
	double load = now_s() - t0;
	if (!cfg) {
		for (size_t i = 0; i < diag.n_errors && i < 5; i++)
			fprintf(stderr, "%s\n", diag.errors[i]);
		diag_free(&diag);
		return 1;
	}
	printf("config_load(%s): %zu routes in %.1f ms\n", path, cfg->n_routes, load * 1e3);
	config_free(cfg);
	diag_free(&diag);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = 100000;
	const char *toml = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--toml") == 0 && i + 1 < argc)
			toml = argv[++i];
		else
			n = strtoul(argv[i], NULL, 10);
	}
	if (n == 0)
		n = 1;
	int rc = bench_table(n);
	if (rc == 0 && toml)
		rc = bench_toml(n, toml);
	return rc;
}
