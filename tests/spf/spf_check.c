/*
 * spf_check.c: the SPF test driver. Runs check_host() (gateway/spf) over
 * the real c-ares resolver (gateway/dns) against the given DNS server and
 * prints each outcome as one JSON line.
 *
 *   spf_check --dns 127.0.0.1:5353 --ip 192.0.2.1 --helo h.example --from a@b.example
 *   spf_check --dns 127.0.0.1:5353 < checks.jsonl     (one {"id","ip","helo","mailfrom"} a line)
 *
 * Options: --timeout-ms N, --tries N, --hostname NAME (%{r}), --default-exp TEXT,
 * --cache-size N, --trace, --helo-check (the HELO identity alone), --parallel
 * (start every check of stdin at once, print outcomes as they come). Each check is bounded by
 * --deadline-ms (it is cancelled and reported as "driver-timeout"). A test program: it reads stdin
 * blocking, which the gateway never does.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "opts.h"
#include "sockaddr_text.h"
#include "test_json.h"
#include "spf.h"

#define LINE_MAX_BYTES 65536
#define MAX_SERVERS    4
#define MAX_PARALLEL   1024

struct driver {
	struct event_base *base;
	struct dns_resolver *r;
	struct spf_options opts;
	const char *hostname;
	int helo_check; /* --helo-check: spf_check_helo_start(), MAIL FROM ignored */
	int parallel;   /* --parallel: start every check of stdin at once */
	int running;    /* --parallel: checks not yet answered */
	uint64_t deadline_ms;
	json_t *out; /* the outcome of the check in progress */
	int done;
};

static json_t *outcome_json(const struct spf_outcome *o)
{
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:i, s:i}", "result",
	                 spf_result_name(o->result), "explanation", o->explanation, "domain",
	                 o->domain, "mechanism", o->mechanism, "reason", o->reason, "identity",
	                 o->identity == SPF_ID_HELO ? "helo" : "mailfrom", "lookups",
	                 (int)o->dns_lookups, "voids", (int)o->void_lookups);
}

static void on_outcome(void *arg, const struct spf_outcome *o)
{
	struct driver *d = arg;
	d->out = outcome_json(o);
	d->done = 1;
	event_base_loopbreak(d->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs one check to completion; returns its JSON (caller owns). */
static json_t *run_check(struct driver *d, const char *ip, const char *helo, const char *from)
{
	struct sockaddr_storage ss;
	struct timeval tv = {(time_t)(d->deadline_ms / 1000),
	                     (suseconds_t)(d->deadline_ms % 1000) * 1000};
	struct event *deadline;
	struct spf_check *c;

	if (!sockaddr_text_parse(ip, &ss))
		return json_pack("{s:s, s:s}", "result", "driver-error", "reason", "bad ip");
	d->done = 0;
	d->out = NULL;
	if (d->helo_check)
		c = spf_check_helo_start(d->r, (struct sockaddr *)&ss, helo, d->hostname, &d->opts,
		                         on_outcome, d);
	else
		c = spf_check_start_opts(d->r, (struct sockaddr *)&ss, helo, from, d->hostname,
		                         &d->opts, on_outcome, d);
	if (d->done)
		return d->out;
	deadline = evtimer_new(d->base, on_deadline, d->base);
	evtimer_add(deadline, &tv);
	while (!d->done && event_base_dispatch(d->base) == 0) {
		if (!evtimer_pending(deadline, NULL))
			break;
	}
	event_free(deadline);
	if (d->done)
		return d->out;
	spf_check_cancel(c);
	return json_pack("{s:s}", "result", "driver-timeout");
}

static int run_batch(struct driver *d)
{
	static char line[LINE_MAX_BYTES];
	while (fgets(line, sizeof(line), stdin)) {
		json_error_t err;
		json_t *in = json_loads(line, 0, &err), *out;
		const char *id = "", *ip = "", *helo = "", *from = "";
		if (!in || json_unpack(in, "{s?s, s:s, s?s, s?s}", "id", &id, "ip", &ip, "helo",
		                       &helo, "mailfrom", &from) < 0) {
			fprintf(stderr, "spf_check: bad input line: %s\n", line);
			json_decref(in);
			return 1;
		}
		out = run_check(d, ip, helo, from);
		json_object_set_new(out, "id", json_string(id));
		test_json_line(out);
		json_decref(in);
	}
	return 0;
}

/* One check of --parallel mode. */
struct slot {
	struct driver *d;
	json_t *in; /* holds the strings the check was started with */
	struct spf_check *c;
	int done;
};

static void print_json(json_t *out, const char *id)
{
	json_object_set_new(out, "id", json_string(id));
	test_json_line(out);
}

static void on_slot(void *arg, const struct spf_outcome *o)
{
	struct slot *sl = arg;
	sl->done = 1;
	sl->c = NULL;
	print_json(outcome_json(o), json_string_value(json_object_get(sl->in, "id")));
	if (--sl->d->running == 0)
		event_base_loopbreak(sl->d->base);
}

static void slot_start(struct driver *d, struct slot *sl)
{
	struct sockaddr_storage ss;
	const char *ip = json_string_value(json_object_get(sl->in, "ip"));
	const char *helo = json_string_value(json_object_get(sl->in, "helo"));
	const char *from = json_string_value(json_object_get(sl->in, "mailfrom"));
	if (!ip || !sockaddr_text_parse(ip, &ss)) {
		sl->done = 1;
		d->running--;
		print_json(json_pack("{s:s}", "result", "driver-error"),
		           json_string_value(json_object_get(sl->in, "id")));
		return;
	}
	sl->c = spf_check_start_opts(d->r, (struct sockaddr *)&ss, helo ? helo : "",
	                             from ? from : "", d->hostname, &d->opts, on_slot, sl);
}

/* Starts every check at once so their queries interleave on one resolver. */
static int run_parallel(struct driver *d)
{
	static char line[LINE_MAX_BYTES];
	static struct slot slots[MAX_PARALLEL];
	size_t n = 0;
	struct timeval tv = {(time_t)(d->deadline_ms / 1000),
	                     (suseconds_t)(d->deadline_ms % 1000) * 1000};

	while (n < MAX_PARALLEL && fgets(line, sizeof(line), stdin)) {
		json_error_t err;
		slots[n] = (struct slot){.d = d, .in = json_loads(line, 0, &err)};
		if (!slots[n].in || !json_is_string(json_object_get(slots[n].in, "id")))
			return 1;
		n++;
	}
	d->running = (int)n;
	for (size_t i = 0; i < n; i++)
		slot_start(d, &slots[i]);
	struct event *deadline = evtimer_new(d->base, on_deadline, d->base);
	evtimer_add(deadline, &tv);
	while (d->running > 0 && evtimer_pending(deadline, NULL))
		event_base_loop(d->base, EVLOOP_ONCE);
	event_free(deadline);
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].done) {
			spf_check_cancel(slots[i].c);
			print_json(json_pack("{s:s}", "result", "driver-timeout"),
			           json_string_value(json_object_get(slots[i].in, "id")));
		}
		json_decref(slots[i].in);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct driver d = {.hostname = "unknown", .deadline_ms = 60000};
	char *servers[MAX_SERVERS];
	struct gw_dns cfg = {.servers = servers,
	                     .timeout_ms = 300,
	                     .tries = 1,
	                     .cache_size = 1000,
	                     .cache_max_ttl_ms = 60000,
	                     .negative_ttl_ms = 60000};
	const char *ip = NULL, *helo = "", *from = "";
	int rc;

	bool trace = false, helo_check = false, parallel = false;
	struct opt_list dns = {servers, 0, MAX_SERVERS};
	const struct opt t[] = {
	    OPT_ITEM("trace", OPT_FLAG, &trace),
	    OPT_ITEM("helo-check", OPT_FLAG, &helo_check),
	    OPT_ITEM("parallel", OPT_FLAG, &parallel),
	    OPT_ITEM("dns", OPT_LIST, &dns),
	    OPT_ITEM("ip", OPT_STR, &ip),
	    OPT_ITEM("helo", OPT_STR, &helo),
	    OPT_ITEM("from", OPT_STR, &from),
	    OPT_ITEM("hostname", OPT_STR, &d.hostname),
	    OPT_ITEM("default-exp", OPT_STR, &d.opts.default_explanation),
	    OPT_ITEM("timeout-ms", OPT_U64, &cfg.timeout_ms),
	    OPT_ITEM("tries", OPT_U32, &cfg.tries),
	    OPT_ITEM("cache-size", OPT_U32, &cfg.cache_size),
	    OPT_ITEM("deadline-ms", OPT_U64, &d.deadline_ms),
	};

	spf_options_default(&d.opts);
	if (opts_parse("spf_check", t, sizeof(t) / sizeof(t[0]), argc, argv, NULL, 0) != 0)
		return 2;
	cfg.n_servers = dns.n;
	if (trace) {
		static char *const spf_only[] = {"spf"}; /* as log_trace = ["spf"] */
		log_configure(GW_LOG_INFO, spf_only, 1);
	}
	d.helo_check = helo_check;
	d.parallel = parallel;
	d.base = event_base_new();
	d.r = d.base ? dns_c_ares_new(d.base, &cfg) : NULL;
	if (!d.r) {
		if (d.base)
			event_base_free(d.base);
		return 2;
	}
	if (ip) {
		test_json_line(run_check(&d, ip, helo, from));
		rc = 0;
	} else {
		rc = d.parallel ? run_parallel(&d) : run_batch(&d);
	}
	dns_c_ares_free(d.r);
	event_base_free(d.base);
	return rc;
}
