/*
 * metrics.h: the counters, gauges and histograms of the daemon, exposed on
 * the admin listener's /metrics in the Prometheus text format 0.0.4
 * (gateway/admin/metrics.c; docs/operations.md lists every metric).
 *
 * Counting is per thread: each thread that counts gets its own table of
 * series (metric + label values) the first time it counts, and only that
 * thread ever writes it. An increment is a relaxed load and a relaxed store
 * on memory no other thread writes: no lock, no contended atomic, no shared
 * cache line on the hot path. A scrape reads every thread's table and sums
 * (or, for a gauge kept per worker such as a breaker, takes the maximum).
 *
 * Label values are copied and escaped when a series is first seen; a
 * thread keeps at most [admin] max_series series, and a new one beyond
 * that is counted in smtp_gateway_metrics_dropped_total, not kept.
 *
 * Never: allocate on the hot path after a series exists, block, or let a
 * label value forge a line of the exposition.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The metrics, in one list: enum, name, type, help and label names are
 * made from it. Types: counter, gauge (summed over threads), gauge_max
 * (the largest value of any thread: 1 when some worker's breaker is open),
 * histogram (of seconds, observed in microseconds).
 */
#define METRICS_LIST(X)                                                                            \
	X(M_CONNECTIONS, "smtp_gateway_connections_total", MT_COUNTER, "listener", "result",       \
	  "SMTP connections accepted, by listener address and result (accepted, or why refused).") \
	X(M_SESSIONS, "smtp_gateway_sessions", MT_GAUGE, NULL, NULL, "SMTP sessions open now.")    \
	X(M_MESSAGES, "smtp_gateway_messages_total", MT_COUNTER, "route", "code",                  \
	  "Messages answered at the end of data, by route and the final SMTP reply code.")         \
	X(M_RCPT_REFUSED, "smtp_gateway_recipients_refused_total", MT_COUNTER, "reason", NULL,     \
	  "RCPT commands refused, by reason.")                                                     \
	X(M_RECEIVED_BYTES, "smtp_gateway_received_bytes_total", MT_COUNTER, NULL, NULL,           \
	  "Message octets received in DATA and BDAT (after dot-unstuffing).")                      \
	X(M_WEBHOOK_REQUESTS, "smtp_gateway_webhook_requests_total", MT_COUNTER, "route",          \
	  "status", "Webhook attempts, by route and HTTP status (or connect, timeout, reset).")    \
	X(M_WEBHOOK_DURATION, "smtp_gateway_webhook_duration_seconds", MT_HISTOGRAM, "route",      \
	  NULL, "Time of one webhook attempt, by route.")                                          \
	X(M_MESSAGE_DURATION, "smtp_gateway_message_duration_seconds", MT_HISTOGRAM, NULL, NULL,   \
	  "Time from the end of data to the reply (checks, payload, webhook).")                    \
	X(M_BREAKER_OPEN, "smtp_gateway_circuit_breaker_open", MT_GAUGE_MAX, "route", NULL,        \
	  "1 while the route's circuit breaker is open on some worker.")                           \
	X(M_AUTH_RESULTS, "smtp_gateway_auth_results_total", MT_COUNTER, "check", "result",        \
	  "Sender authentication results per message, by check (spf, dkim, dmarc, arc).")          \
	X(M_TLS_HANDSHAKES, "smtp_gateway_tls_handshakes_total", MT_COUNTER, "version", NULL,      \
	  "TLS handshakes completed, by protocol version.")                                        \
	X(M_DNS_QUERIES, "smtp_gateway_dns_queries_total", MT_COUNTER, "result", NULL,             \
	  "DNS queries answered by a server (not the cache), by result.")                          \
	X(M_DNS_CACHE_HITS, "smtp_gateway_dns_cache_hits_total", MT_COUNTER, NULL, NULL,           \
	  "DNS lookups answered from the cache.")                                                  \
	X(M_EVENTS, "smtp_gateway_events_total", MT_COUNTER, "event", NULL,                        \
	  "The SMTP front end's counters (the exit-time counters line), by name: limits reached, " \
	  "timeouts, refusals.")                                                                   \
	X(M_DROPPED, "smtp_gateway_metrics_dropped_total", MT_COUNTER, NULL, NULL,                 \
	  "Samples not kept: a thread's table held [admin] max_series series already.")

enum metric_type { MT_COUNTER, MT_GAUGE, MT_GAUGE_MAX, MT_HISTOGRAM };

#define METRICS_ENUM(e, ...) e,
enum metric_id { METRICS_LIST(METRICS_ENUM) M_MAX };
#undef METRICS_ENUM

/*
 * Sets the number of series each thread keeps (before any thread counts;
 * later calls change nothing for tables that exist).
 */
void metrics_init(size_t max_series);

/* Adds n to the series (m, l1, l2); label values may be NULL when m has fewer labels. */
void metrics_add(enum metric_id m, const char *l1, const char *l2, uint64_t n);
/* Adds delta (may be negative) to a gauge kept per thread (sessions). */
void metrics_gauge_add(enum metric_id m, const char *l1, int64_t delta);
/* Sets a per-thread gauge (a breaker's state on this worker). */
void metrics_set(enum metric_id m, const char *l1, uint64_t v);
/* One observation of a histogram, in microseconds. */
void metrics_observe(enum metric_id m, const char *l1, uint64_t usec);

/*
 * Writes the exposition (every metric's HELP and TYPE, every series summed
 * over threads, then smtp_gateway_build_info) to f. Any thread; takes the
 * registry's lock, which only thread registration also takes.
 */
int metrics_write(FILE *f, const char *version);

/* The value of a series summed over threads (tests, the exit-time line); 0 when absent. */
uint64_t metrics_value(enum metric_id m, const char *l1, const char *l2);

#endif
