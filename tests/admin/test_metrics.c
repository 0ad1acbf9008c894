/*
 * test_metrics.c: the metrics registry (gateway/admin/metrics.c): series
 * counted on several threads are summed on scrape (a breaker's gauge takes
 * the largest value), label values are escaped, histograms are cumulative,
 * a full table counts what it drops, and the exposition has every metric's
 * HELP and TYPE.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

static void *worker_a(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		metrics_add(M_MESSAGES, "support", "250", 1);
	metrics_set(M_BREAKER_OPEN, "support", 1);
	metrics_gauge_add(M_SESSIONS, NULL, 3);
	metrics_observe(M_WEBHOOK_DURATION, "support", 3000);    /* 3 ms: le 0.005 */
	metrics_observe(M_WEBHOOK_DURATION, "support", 2000000); /* 2 s: le 2.5 */
	return NULL;
}

static void *worker_b(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++)
		metrics_add(M_MESSAGES, "support", "250", 1);
	metrics_set(M_BREAKER_OPEN, "support", 0);
	metrics_gauge_add(M_SESSIONS, NULL, -1);
	metrics_add(M_MESSAGES, "a\"b\\c\nd", "451", 2);
	return NULL;
}

/* Fills its table (max_series 16) with distinct series: the rest are dropped, counted. */
static void *worker_full(void *arg)
{
	char name[32];
	(void)arg;
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "route-%d", i);
		metrics_add(M_RCPT_REFUSED, name, NULL, 1);
	}
	return NULL;
}

static char *scrape(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (f) {
		CHECK_INT(metrics_write(f, "9.9.9"), 0);
		fclose(f);
	}
	return text;
}

static void run(void *(*fn)(void *))
{
	pthread_t t;
	CHECK_INT(pthread_create(&t, NULL, fn, NULL), 0);
	pthread_join(t, NULL);
}

int main(void)
{
	metrics_init(16);
	run(worker_a);
	run(worker_b);
	run(worker_full);
	char *t = scrape();
	CHECK(t && strstr(t, "smtp_gateway_messages_total{route=\"support\",code=\"250\"} 1500\n"));
	CHECK(t &&
	      strstr(t, "smtp_gateway_messages_total{route=\"a\\\"b\\\\c\\nd\",code=\"451\"} 2\n"));
	CHECK(t && strstr(t, "smtp_gateway_circuit_breaker_open{route=\"support\"} 1\n"));
	CHECK(t && strstr(t, "\nsmtp_gateway_sessions 2\n"));
	CHECK(t && strstr(t, "_bucket{route=\"support\",le=\"0.005\"} 1\n"));
	CHECK(t && strstr(t, "_bucket{route=\"support\",le=\"1\"} 1\n"));
	CHECK(t && strstr(t, "_bucket{route=\"support\",le=\"2.5\"} 2\n"));
	CHECK(t && strstr(t, "_bucket{route=\"support\",le=\"+Inf\"} 2\n"));
	CHECK(t &&
	      strstr(t, "smtp_gateway_webhook_duration_seconds_sum{route=\"support\"} 2.003000\n"));
	CHECK(t && strstr(t, "smtp_gateway_metrics_dropped_total 24\n"));
	CHECK(t && strstr(t, "# TYPE smtp_gateway_dns_cache_hits_total counter\n"
	                     "smtp_gateway_dns_cache_hits_total 0\n"));
	CHECK(t && strstr(t, "# TYPE smtp_gateway_webhook_duration_seconds histogram\n"));
	CHECK(t && strstr(t, "smtp_gateway_build_info{version=\"9.9.9\"} 1\n"));
	CHECK_INT(metrics_value(M_MESSAGES, "support", "250"), 1500);
	CHECK_INT(metrics_value(M_RCPT_REFUSED, "route-0", NULL), 1);
	CHECK_INT(metrics_value(M_RCPT_REFUSED, "route-39", NULL), 0);
	free(t);
	return UNIT_END("metrics");
}
