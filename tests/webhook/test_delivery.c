/*
 * test_delivery.c: delivery.h without an HTTP server. A port on 127.0.0.1
 * that nobody listens on gives instant transient failures, which is enough
 * to check: the callback never runs inside delivery_submit, exactly one
 * reply per cookie, forgotten cookies get none, the circuit breaker opens
 * and lets one probe through per period, and delivery_set_config() keeps
 * the state of routes still configured (and of open breakers) while
 * dropping the rest, and delivery_drain() holds a long retry budget to the
 * drain. Run it under ASan too: the pruning must never free a
 * route state a job still uses.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "delivery.h"
#include "test_delivery_submit.h"
#include "unit.h"

#define MAX_REPLIES 16

struct seen {
	int n;
	uint64_t cookies[MAX_REPLIES];
	struct smtp_reply replies[MAX_REPLIES];
	bool in_submit; /* set around delivery_submit: a callback then is a bug */
	int inline_calls;
};

static void on_done(void *owner, uint64_t cookie, const struct smtp_reply *r)
{
	struct seen *s = owner;

	if (s->in_submit)
		s->inline_calls++;
	if (s->n < MAX_REPLIES) {
		s->cookies[s->n] = cookie;
		s->replies[s->n] = *r;
	}
	s->n++;
}

/* A loopback port nobody listens on: bound, then closed. */
static int dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void route_init(struct gw_route *r, const char *name, const char *url)
{
	memset(r, 0, sizeof(*r));
	r->name = (char *)name;
	r->url = (char *)url;
	r->opts.timeout_ms = 2000;
	r->opts.connect_timeout_ms = 1000;
	r->opts.max_in_flight = 4;
	r->opts.retry_budget_ms = 0;
	r->opts.circuit_breaker_threshold = 1;
	r->opts.circuit_breaker_probe_ms = 3600 * 1000; /* no probe during the test */
	r->opts.format = FORMAT_RAW;
	r->opts.tls_verify = true;
	r->opts.standard_webhooks = true;
}

static void run_until(struct event_base *base, struct delivery *d, const struct seen *s, int n)
{
	/* bounded: 200 turns of at most 50 ms */
	for (int i = 0; i < 200 && (s->n < n || delivery_in_flight(d) > 0); i++) {
		struct timeval tv = {0, 50000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int submit(struct delivery *d, struct seen *s, const struct gw_route *r, uint64_t cookie)
{
	int rc;

	s->in_submit = true;
	rc = test_delivery_submit(d, r, cookie);
	s->in_submit = false;
	return rc;
}

int main(void)
{
	char url[64];
	struct gw_route routes[3], bad;
	struct gw_config cfg1, cfg2;
	struct event_base *base = event_base_new();
	struct seen s;
	struct delivery *d;

	memset(&s, 0, sizeof(s));
	memset(&cfg1, 0, sizeof(cfg1));
	memset(&cfg2, 0, sizeof(cfg2));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", dead_port());
	route_init(&routes[0], "kept", url);
	route_init(&routes[1], "dropped", url);
	route_init(&routes[2], "open", url);
	routes[0].opts.circuit_breaker_threshold = 0; /* never opens */
	routes[1].opts.circuit_breaker_threshold = 0;
	cfg1.routes = routes;
	cfg1.n_routes = 3;
	cfg2.routes = routes; /* only "kept" stays configured */
	cfg2.n_routes = 1;
	d = delivery_new(base, &cfg1, on_done, &s);
	CHECK(d != NULL);

	/* one reply per cookie, never inline, 451 4.4.1 for a refused connection */
	CHECK_INT(submit(d, &s, &routes[0], 1), 0);
	CHECK_INT(submit(d, &s, &routes[1], 2), 0);
	CHECK_INT(submit(d, &s, &routes[2], 3), 0);
	CHECK_INT(submit(d, &s, &routes[0], 4), 0);
	delivery_forget(d, 4); /* queued or running: no reply for it either way */
	CHECK_INT(delivery_in_flight(d) >= 3, 1);
	delivery_set_config(d, &cfg2); /* jobs in flight keep their route states */
	run_until(base, d, &s, 3);
	CHECK_INT(s.n, 3);
	CHECK_INT(s.inline_calls, 0);
	for (int i = 0; i < 3 && i < s.n; i++) {
		CHECK(s.cookies[i] >= 1 && s.cookies[i] <= 3);
		CHECK_INT(s.replies[i].code, 451);
		CHECK_STR(s.replies[i].status, "4.4.1");
	}
	CHECK_INT(delivery_in_flight(d), 0);
	/* the bodies were counted against max_delivery_memory, and all given back */
	CHECK(delivery_memory_peak() > 0);
	CHECK(delivery_memory_held() == 0);

	/* "open" tripped its breaker (threshold 1); the others have none */
	CHECK(!delivery_route_available(d, &routes[2]));
	CHECK(delivery_route_available(d, &routes[0]));
	CHECK(delivery_route_available(d, &routes[1]));

	/* a reload drops idle states of unconfigured routes, but keeps open breakers */
	delivery_set_config(d, &cfg2);
	CHECK(!delivery_route_available(d, &routes[2]));

	/* a route whose request cannot be set up: -1, and no callback ever */
	route_init(&bad, "bad", url);
	bad.secrets = (char *[]){(char *)"whsec_!!"};
	bad.n_secrets = 1;
	CHECK_INT(submit(d, &s, &bad, 9), -1);
	run_until(base, d, &s, 3);
	CHECK_INT(s.n, 3);

	/* delivery_free with a request in flight: no callback, nothing leaks */
	CHECK_INT(submit(d, &s, &routes[0], 10), 0);
	delivery_free(d);
	CHECK_INT(s.n, 3);
	CHECK(delivery_memory_held() == 0); /* freed with a job in flight: given back too */

	/*
	 * SIGTERM: a 60 s retry budget against a dead port would keep retrying
	 * far past the 10 s run_until bound; delivery_drain(500 ms) holds it to
	 * the drain, and the session gets its one reply.
	 */
	d = delivery_new(base, &cfg1, on_done, &s);
	CHECK(d != NULL);
	routes[0].opts.retry_budget_ms = 60000;
	routes[0].opts.timeout_ms = 30000;
	CHECK_INT(submit(d, &s, &routes[0], 20), 0);
	delivery_drain(d, 500);
	run_until(base, d, &s, 4);
	CHECK_INT(s.n, 4);
	CHECK_INT(delivery_in_flight(d), 0);
	if (s.n == 4) {
		CHECK(s.cookies[3] == 20);
		CHECK_INT(s.replies[3].code, 451);
	}
	delivery_free(d);
	CHECK(delivery_memory_held() == 0);
	event_base_free(base);
	return UNIT_END("webhook_delivery");
}
