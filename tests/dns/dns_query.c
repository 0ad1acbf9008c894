/*
 * dns_query.c: the resolver test driver. Runs gateway/dns (c-ares on
 * libevent, with its cache) against the given servers and executes one
 * command per stdin line, printing one JSON line per answer:
 *
 *   query NAME TYPE          {"name","type","status","ttl","sync","n","records":[...]}
 *   parallel N NAME TYPE     N identical queries at once, then their N answers
 *   cancel NAME TYPE         starts a query and cancels it; prints {"cancelled":true}
 *   sleep MS                 runs the loop for MS milliseconds
 *   stats                    {"queries","cache_hits","coalesced","sent","tempfail",...}
 *
 * Options: --dns ADDR (repeatable), --timeout-ms, --tries, --cache-size,
 * --max-ttl-ms, --neg-ttl-ms. TXT data is printed as hex: it may hold any byte.
 * A test program: it reads stdin blocking, which the gateway never does.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns.h"
#include "opts.h"
#include "test_json.h"
#include "zone_resolver.h"

#define MAX_SERVERS  4
#define MAX_PARALLEL 64
#define WAIT_MAX_MS  30000

struct driver {
	struct event_base *base;
	struct dns_resolver *r;
	int pending;      /* answers still expected */
	int in_query;     /* inside dns_query(): an answer now is a cache hit */
	int cancelled_cb; /* a cancelled query's callback ran: a bug */
};

static json_t *record_json(enum dns_type t, const struct dns_rr *rr)
{
	char buf[INET6_ADDRSTRLEN];
	switch (t) {
	case DNS_T_A:
		return json_string(inet_ntop(AF_INET, &rr->u.a, buf, sizeof(buf)));
	case DNS_T_AAAA:
		return json_string(inet_ntop(AF_INET6, &rr->u.aaaa, buf, sizeof(buf)));
	case DNS_T_MX:
		return json_pack("[i, s]", rr->u.mx.preference, rr->u.mx.host);
	case DNS_T_PTR:
		return json_string(rr->u.ptr);
	case DNS_T_TXT: {
		char *hex = malloc(rr->u.txt.len * 2 + 1);
		json_t *j;
		if (!hex)
			return json_null();
		for (size_t i = 0; i < rr->u.txt.len; i++)
			snprintf(hex + 2 * i, 3, "%02x", (unsigned char)rr->u.txt.data[i]);
		hex[rr->u.txt.len * 2] = '\0';
		j = json_string(hex);
		free(hex);
		return j;
	}
	}
	return json_null();
}

static void on_answer(void *arg, const struct dns_result *res)
{
	struct driver *d = arg;
	json_t *recs = json_array();
	for (size_t i = 0; i < res->n; i++)
		json_array_append_new(recs, record_json(res->type, &res->rr[i]));
	test_json_line(json_pack("{s:s, s:s, s:s, s:i, s:b, s:i, s:o}", "name", res->name, "type",
	                         zone_type_name(res->type), "status", dns_status_name(res->status),
	                         "ttl", (int)res->ttl, "sync", d->in_query, "n", (int)res->n,
	                         "records", recs));
	d->pending--;
}

static void on_cancelled(void *arg, const struct dns_result *res)
{
	((struct driver *)arg)->cancelled_cb++;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop for ms, or until every answer is in when until_done. */
static void run_loop(struct driver *d, int ms, int until_done)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *t = evtimer_new(d->base, on_timer, d->base);
	evtimer_add(t, &tv);
	while (evtimer_pending(t, NULL) && (!until_done || d->pending > 0))
		event_base_loop(d->base, EVLOOP_ONCE);
	event_free(t);
}

static void start(struct driver *d, const char *name, enum dns_type t)
{
	d->pending++;
	d->in_query = 1;
	dns_query(d->r, name, t, on_answer, d);
	d->in_query = 0;
}

static void stats(struct driver *d)
{
	struct dns_stats s;
	dns_c_ares_stats(d->r, &s);
	test_json_line(
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "queries", (json_int_t)s.queries,
	              "cache_hits", (json_int_t)s.cache_hits, "coalesced", (json_int_t)s.coalesced,
	              "sent", (json_int_t)s.sent, "tempfail", (json_int_t)s.tempfail, "evictions",
	              (json_int_t)s.cache_evictions, "entries", (json_int_t)s.cache_entries,
	              "cancelled_callbacks", d->cancelled_cb));
}

static int command(struct driver *d, char *line)
{
	char verb[16], name[300], type[8];
	int n;
	enum dns_type t;

	if (sscanf(line, "%15s", verb) != 1)
		return 0;
	if (strcmp(verb, "query") == 0 && sscanf(line, "%*s %299s %7s", name, type) == 2 &&
	    zone_type_parse(type, &t) == 0) {
		start(d, name, t);
		run_loop(d, WAIT_MAX_MS, 1);
	} else if (strcmp(verb, "parallel") == 0 &&
	           sscanf(line, "%*s %d %299s %7s", &n, name, type) == 3 && n > 0 &&
	           n <= MAX_PARALLEL && zone_type_parse(type, &t) == 0) {
		for (int i = 0; i < n; i++)
			start(d, name, t);
		run_loop(d, WAIT_MAX_MS, 1);
	} else if (strcmp(verb, "cancel") == 0 && sscanf(line, "%*s %299s %7s", name, type) == 2 &&
	           zone_type_parse(type, &t) == 0) {
		struct dns_query *q = dns_query(d->r, name, t, on_cancelled, d);
		dns_cancel(d->r, q);
		test_json_line(
		    json_pack("{s:b, s:b}", "cancelled", q != NULL, "handle", q != NULL));
	} else if (strcmp(verb, "sleep") == 0 && sscanf(line, "%*s %d", &n) == 1 && n >= 0 &&
	           n <= WAIT_MAX_MS) {
		run_loop(d, n, 0);
	} else if (strcmp(verb, "stats") == 0) {
		stats(d);
	} else {
		fprintf(stderr, "dns_query: bad command: %s", line);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct driver d = {0};
	char *servers[MAX_SERVERS], line[512];
	struct gw_dns cfg = {.servers = servers,
	                     .timeout_ms = 500,
	                     .tries = 1,
	                     .cache_size = 100,
	                     .cache_max_ttl_ms = 3600000,
	                     .negative_ttl_ms = 3600000};
	int rc = 0;

	struct opt_list dns = {servers, 0, MAX_SERVERS};
	const struct opt t[] = {
	    OPT_ITEM("dns", OPT_LIST, &dns),
	    OPT_ITEM("timeout-ms", OPT_U64, &cfg.timeout_ms),
	    OPT_ITEM("tries", OPT_U32, &cfg.tries),
	    OPT_ITEM("cache-size", OPT_U32, &cfg.cache_size),
	    OPT_ITEM("max-ttl-ms", OPT_U64, &cfg.cache_max_ttl_ms),
	    OPT_ITEM("neg-ttl-ms", OPT_U64, &cfg.negative_ttl_ms),
	};

	if (opts_parse("dns_query", t, sizeof(t) / sizeof(t[0]), argc, argv, NULL, 0) != 0)
		return 2;
	cfg.n_servers = dns.n;
	d.base = event_base_new();
	d.r = d.base ? dns_c_ares_new(d.base, &cfg) : NULL;
	if (!d.r) {
		if (d.base)
			event_base_free(d.base);
		return 2;
	}
	while (rc == 0 && fgets(line, sizeof(line), stdin))
		rc = command(&d, line) < 0 ? 1 : 0;
	/* Freeing with queries in flight must not call them back. */
	dns_c_ares_free(d.r);
	event_base_free(d.base);
	return rc;
}
