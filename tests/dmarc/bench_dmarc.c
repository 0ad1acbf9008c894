/*
 * bench_dmarc.c: how fast DMARC work is, without the network. Built, never
 * run by the test suite (STYLE: speed is measured, not asserted).
 *   build/tests/dmarc/bench-dmarc [seconds-per-part]
 * Parts: the record grammar, the From parser, and whole evaluations
 * (tree walk and PSL) over an in-memory zone that answers at once, the
 * gateway's cache-hit path. Prints operations per second and the memo
 * growth per evaluation is bounded by design (MEMO_MAX), so no RSS figure.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmarc.h"
#include "zone_resolver.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char full_record[] =
    "v=DMARC1; p=quarantine; sp=reject; np=none; adkim=s; aspf=r; pct=50; psd=n; t=y; "
    "rua=mailto:a@example.com,mailto:b@example.com!10m; ruf=mailto:f@example.com; fo=1";

static const char *const records[] = {
    "v=DMARC1; p=reject",
    full_record,
    "v=DMARC1; rua=mailto:dmarc@example.com",
    "v=spf1 -all",
};

static void bench_records(double secs)
{
	struct dmarc_record r;
	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int k = 0; k < 1000; k++, n++) {
			const char *s = records[n % 4];
			dmarc_record_parse(s, strlen(s), &r);
		}
		t = now() - t0;
	} while (t < secs);
	printf("record parse:      %12.0f records/s\n", (double)n / t);
}

static void bench_from(double secs)
{
	static const char hdr[] = "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	                          "From: \"Doe, John (Sales)\" <john.doe@mail.example.com>\r\n"
	                          "To: a@b.example\r\nSubject: hello\r\n\r\nbody";
	char out[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int k = 0; k < 1000; k++, n++)
			dmarc_from_domains(hdr, sizeof(hdr) - 1, out, DMARC_MAX_AUTHORS, NULL);
		t = now() - t0;
	} while (t < secs);
	printf("From parse:        %12.0f headers/s\n", (double)n / t);
}

static void done(void *arg, const struct dmarc_outcome *o)
{
	*(int *)arg = o->result;
}

static void bench_eval(double secs, enum gw_dmarc_discovery mode, const char *name)
{
	static const char rec[] = "v=DMARC1; p=reject";
	struct zone *z = zone_new();
	if (!z || zone_add_txt(z, "_dmarc.example.com", rec, sizeof(rec) - 1) < 0)
		return;
	struct dns_resolver resolver = zone_resolver(z);
	const char *authors[] = {"mail.example.com"}, *dkim[] = {"news.example.com"};
	struct dmarc_input in = {.authors = authors,
	                         .n_authors = 1,
	                         .spf_domain = "bounce.example.com",
	                         .spf_pass = true,
	                         .dkim_domains = dkim,
	                         .n_dkim = 1};
	struct dmarc_options opt = {.discovery = mode};
	unsigned long n = 0;
	int result = 0;
	double t0 = now(), t;
	do {
		for (int k = 0; k < 100; k++, n++) {
			dmarc_start(&resolver, &opt, &in, done, &result);
			zone_log_clear(z);
		}
		t = now() - t0;
	} while (t < secs);
	printf("evaluate (%s): %12.0f messages/s (result %s)\n", name, (double)n / t,
	       dmarc_result_name((enum dmarc_result)result));
	zone_free(z);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (secs <= 0 || secs > 60)
		secs = 1.0;
	bench_records(secs);
	bench_from(secs);
	bench_eval(secs, DMARC_TREE_WALK, "tree-walk");
	bench_eval(secs, DMARC_PSL, "psl      ");
	return 0;
}
