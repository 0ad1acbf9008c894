/*
 * webhook_post.c: the webhook delivery driver of the tests (webhook-post).
 *
 * Reads one message, builds a route and an envelope from the command line,
 * submits the message N times through delivery_submit() on a libevent loop
 * (one after another, or all at once) and prints each SMTP reply line, as
 * the SMTP front end would send it. It asks delivery_route_available()
 * before each submission, as the front end does at RCPT, and can forget
 * or free requests in flight to exercise delivery_forget()/delivery_free().
 *
 * Must never: run without a bound (--deadline-ms), or print anything on
 * stdout but reply lines (logs go to stderr).
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "opts.h"
#include "test_file.h"
#include "routes.h"

#define MAX_LIST    32
#define MAX_RCPTS   10000 /* a large max_recipients */
#define MAX_MESSAGE (64 * 1024 * 1024)

struct driver {
	struct event_base *base;
	struct delivery *d;
	struct gw_route route;      /* from the command line */
	struct gw_config *cfg;      /* --config: the loaded file */
	const struct gw_route *use; /* what is submitted: &route or one of cfg's */
	struct envelope env;
	struct message_bytes msg;
	json_t *auth;
	unsigned count, submitted, finished;
	bool concurrent;
	bool reconfigure; /* delivery_set_config() before each submission, as after a reload */
	long interval_ms;
	struct event *next_ev, *forget_ev, *free_ev, *deadline_ev, *drain_ev;
	int status;
};

static void usage(void)
{
	fprintf(stderr,
	        "usage: webhook-post --url URL [options] FILE.eml|-\n"
	        "  --format raw|json --route-name NAME --secret KEY... --header 'N: v'...\n"
	        "  --bearer TOKEN --basic USER:PASS --reply 'KEY=CODE X.Y.Z text'...\n"
	        "  --timeout-ms N --connect-timeout-ms N --max-in-flight N --retry-budget-ms N\n"
	        "  --breaker N --probe-ms N --ca-file F --client-cert F --client-key F --insecure\n"
	        "  --from ADDR --rcpt ADDR... --helo NAME --client-ip IP --auth-json JSON\n"
	        "  --count N --concurrent --interval-ms N --forget-after-ms N --free-after-ms N\n"
	        "  --deadline-ms N\n"
	        "  --config FILE [--route NAME]: the route (and limits) of a gateway.toml;\n"
	        "  without --route, the routing table picks it for the first --rcpt\n"
	        "  --reconfigure: delivery_set_config() before each message\n");
}

static void submit_one(struct driver *dr);

static void print_reply(struct driver *dr, uint64_t cookie, const struct smtp_reply *r)
{
	if (dr->count > 1)
		printf("%llu: ", (unsigned long long)cookie);
	printf("%d %s %s\n", r->code, r->status, r->text);
	fflush(stdout);
}

static void check_end(struct driver *dr)
{
	if (dr->finished >= dr->count && delivery_in_flight(dr->d) == 0)
		event_base_loopexit(dr->base, NULL);
}

static void on_done(void *owner, uint64_t cookie, const struct smtp_reply *r)
{
	struct driver *dr = owner;
	struct timeval tv = {dr->interval_ms / 1000, (dr->interval_ms % 1000) * 1000};

	print_reply(dr, cookie, r);
	dr->finished++;
	if (!dr->concurrent && dr->submitted < dr->count)
		evtimer_add(dr->next_ev, &tv);
	check_end(dr);
}

static void submit_one(struct driver *dr)
{
	uint64_t cookie = dr->submitted++;
	struct smtp_reply r = {.code = 451,
	                       .status = "4.3.0",
	                       .text = "Circuit open: webhook unavailable, try again later",
	                       .refused = 0};

	if (dr->reconfigure)
		delivery_set_config(dr->d, dr->cfg);
	if (!delivery_route_available(dr->d, dr->use)) {
		on_done(dr, cookie, &r); /* what the front end answers at RCPT */
		return;
	}
	int rc = delivery_submit(dr->d, dr->use, &dr->env, &dr->msg, dr->auth, cookie, NULL);
	if (rc < 0) { /* what smtp_cmd.c answers for each result */
		struct smtp_reply e = {.code = 451,
		                       .status = "4.3.0",
		                       .text = "Delivery could not be set up",
		                       .refused = 0};
		if (rc == DELIVERY_TOO_BIG)
			e = (struct smtp_reply){.code = 552,
			                        .status = "5.3.4",
			                        .text = "Message size exceeds fixed limit"};
		else if (rc == DELIVERY_BUSY)
			e = (struct smtp_reply){.code = 451,
			                        .status = "4.3.1",
			                        .text = "Insufficient system resources"};
		on_done(dr, cookie, &e);
	}
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
	submit_one(arg);
}

static void on_forget(evutil_socket_t fd, short what, void *arg)
{
	struct driver *dr = arg;

	for (uint64_t c = 0; c < dr->submitted; c++)
		delivery_forget(dr->d, c);
	dr->finished = dr->count; /* forgotten ones never report */
	fprintf(stderr, "webhook-post: forgot all, %u in flight\n", delivery_in_flight(dr->d));
	check_end(dr);
	if (delivery_in_flight(dr->d) > 0) {
		struct timeval tv = {0, 20000};
		evtimer_add(dr->drain_ev, &tv);
	}
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct driver *dr = arg;
	struct timeval tv = {0, 20000};

	if (delivery_in_flight(dr->d) == 0)
		event_base_loopexit(dr->base, NULL);
	else
		evtimer_add(dr->drain_ev, &tv);
}

static void on_free(evutil_socket_t fd, short what, void *arg)
{
	struct driver *dr = arg;

	fprintf(stderr, "webhook-post: freeing with %u in flight\n", delivery_in_flight(dr->d));
	delivery_free(dr->d);
	dr->d = NULL;
	event_base_loopexit(dr->base, NULL);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct driver *dr = arg;

	fprintf(stderr, "webhook-post: deadline reached\n");
	dr->status = 3;
	event_base_loopexit(dr->base, NULL);
}

static void arm_ms(struct event *ev, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

/* --reply KEY=CODE X.Y.Z text */
static int add_reply(void *arg, const char *spec)
{
	struct gw_route *rt = arg;
	const char *eq = strchr(spec, '=');
	struct gw_reply_override *o;
	char status[16] = "";
	int code = 0, used = 0;

	if (!eq || rt->n_replies >= MAX_LIST)
		return -1;
	o = &rt->replies[rt->n_replies];
	if (sscanf(eq + 1, "%d %15s %n", &code, status, &used) < 2)
		return -1;
	o->key = strndup(spec, (size_t)(eq - spec));
	o->code = code;
	memcpy(o->status, status, sizeof(o->status));
	o->text = strdup(used > 0 ? eq + 1 + used : "");
	rt->n_replies++;
	return 0;
}

/* --header 'Name: value' */
static int add_header(void *arg, const char *spec)
{
	struct gw_route *rt = arg;
	const char *colon = strchr(spec, ':');

	if (!colon || rt->n_headers >= MAX_LIST)
		return -1;
	rt->headers[rt->n_headers].name = strndup(spec, (size_t)(colon - spec));
	colon++;
	while (*colon == ' ')
		colon++;
	rt->headers[rt->n_headers].value = strdup(colon);
	rt->n_headers++;
	return 0;
}

/* Options that set an owned string: frees the old value, keeps a copy. */
static int set_dup(void *slot, const char *v)
{
	char **s = slot;

	free(*s);
	*s = strdup(v);
	return *s ? 0 : -1;
}

static int set_format(void *arg, const char *v)
{
	struct gw_route *rt = arg;

	if (strcmp(v, "raw") != 0 && strcmp(v, "json") != 0)
		return -1;
	rt->opts.format = strcmp(v, "raw") == 0 ? FORMAT_RAW : FORMAT_JSON;
	return 0;
}

static int add_secret(void *arg, const char *v)
{
	struct gw_route *rt = arg;

	if (rt->n_secrets >= MAX_LIST)
		return -1;
	rt->secrets[rt->n_secrets++] = strdup(v);
	return 0;
}

static int set_bearer(void *arg, const char *v)
{
	struct gw_route *rt = arg;

	rt->auth = WEBHOOK_AUTH_BEARER;
	return set_dup(&rt->bearer_token, v);
}

static int set_basic(void *arg, const char *v)
{
	struct gw_route *rt = arg;
	const char *colon = strchr(v, ':');

	if (!colon)
		return -1;
	rt->auth = WEBHOOK_AUTH_BASIC;
	rt->basic_user = strndup(v, (size_t)(colon - v));
	rt->basic_password = strdup(colon + 1);
	return 0;
}

static int add_rcpt(void *arg, const char *v)
{
	struct driver *dr = arg;

	if (dr->env.n_rcpts >= MAX_RCPTS)
		return -1;
	dr->env.rcpts[dr->env.n_rcpts].address = strdup(v);
	dr->env.rcpts[dr->env.n_rcpts++].match.route = &dr->route;
	return 0;
}

static int set_ip(void *arg, const char *v)
{
	struct driver *dr = arg;

	snprintf(dr->env.client_ip, sizeof(dr->env.client_ip), "%s", v);
	return 0;
}

static int set_auth(void *arg, const char *v)
{
	struct driver *dr = arg;

	json_decref(dr->auth);
	dr->auth = json_loads(v, 0, NULL);
	return dr->auth ? 0 : -1;
}

struct cli {
	long forget_ms, free_ms, deadline_ms;
	const char *config, *route, *file;
	bool insecure;
};

/* The command line (usage()) into dr and c; -1 after saying what was wrong. */
static int parse_args(struct driver *dr, struct cli *c, int argc, char **argv)
{
	struct gw_route *rt = &dr->route;
	struct gw_route_opts *o = &rt->opts;
	const struct opt t[] = {
	    OPT_FN("url", set_dup, &rt->url),
	    OPT_FN("format", set_format, rt),
	    OPT_FN("route-name", set_dup, &rt->name),
	    OPT_FN("secret", add_secret, rt),
	    OPT_FN("header", add_header, rt),
	    OPT_FN("bearer", set_bearer, rt),
	    OPT_FN("basic", set_basic, rt),
	    OPT_FN("reply", add_reply, rt),
	    OPT_ITEM("timeout-ms", OPT_U64, &o->timeout_ms),
	    OPT_ITEM("connect-timeout-ms", OPT_U64, &o->connect_timeout_ms),
	    OPT_ITEM("max-in-flight", OPT_U32, &o->max_in_flight),
	    OPT_ITEM("retry-budget-ms", OPT_U64, &o->retry_budget_ms),
	    OPT_ITEM("breaker", OPT_U32, &o->circuit_breaker_threshold),
	    OPT_ITEM("probe-ms", OPT_U64, &o->circuit_breaker_probe_ms),
	    OPT_FN("ca-file", set_dup, &o->ca_file),
	    OPT_FN("client-cert", set_dup, &o->client_cert),
	    OPT_FN("client-key", set_dup, &o->client_key),
	    OPT_ITEM("insecure", OPT_FLAG, &c->insecure),
	    OPT_FN("from", set_dup, &dr->env.mail_from),
	    OPT_FN("rcpt", add_rcpt, dr),
	    OPT_FN("helo", set_dup, &dr->env.helo),
	    OPT_FN("client-ip", set_ip, dr),
	    OPT_FN("auth-json", set_auth, dr),
	    OPT_ITEM("count", OPT_U32, &dr->count),
	    OPT_ITEM("concurrent", OPT_FLAG, &dr->concurrent),
	    OPT_ITEM("interval-ms", OPT_LONG, &dr->interval_ms),
	    OPT_ITEM("forget-after-ms", OPT_LONG, &c->forget_ms),
	    OPT_ITEM("free-after-ms", OPT_LONG, &c->free_ms),
	    OPT_ITEM("deadline-ms", OPT_LONG, &c->deadline_ms),
	    OPT_ITEM("config", OPT_STR, &c->config),
	    OPT_ITEM("route", OPT_STR, &c->route),
	    OPT_ITEM("reconfigure", OPT_FLAG, &dr->reconfigure),
	};

	if (opts_parse("webhook-post", t, sizeof(t) / sizeof(t[0]), argc, argv, &c->file, 1) != 1)
		return -1;
	if (c->insecure)
		o->tls_verify = false;
	return rt->url || c->config ? 0 : -1;
}

/* The defaults of routes/config/config_keys.c's [webhook] table. */
static void defaults(struct driver *dr, struct cli *c)
{
	static struct gw_header headers[MAX_LIST];
	static char *secrets[MAX_LIST];
	static struct gw_reply_override replies[MAX_LIST];
	static struct envelope_rcpt rcpts[MAX_RCPTS];
	struct gw_route *rt = &dr->route;

	rt->headers = headers;
	rt->secrets = secrets;
	rt->replies = replies;
	rt->opts.timeout_ms = 30000;
	rt->opts.connect_timeout_ms = 10000;
	rt->opts.max_in_flight = 64;
	rt->opts.retry_budget_ms = 60000;
	rt->opts.circuit_breaker_threshold = 5;
	rt->opts.circuit_breaker_probe_ms = 30000;
	rt->opts.format = FORMAT_JSON;
	rt->opts.tls_verify = true;
	rt->opts.standard_webhooks = true;
	dr->env.rcpts = rcpts;
	dr->env.mail_from = strdup("sender@sender.test");
	dr->env.helo = strdup("client.sender.test");
	dr->env.esmtp = true;
	snprintf(dr->env.client_ip, sizeof(dr->env.client_ip), "192.0.2.1");
	dr->env.client_port = 40000;
	dr->count = 1;
	c->forget_ms = c->free_ms = -1;
	c->deadline_ms = 120000;
	c->config = c->route = c->file = NULL;
	c->insecure = false;
}

static void driver_free(struct driver *dr)
{
	struct gw_route *rt = &dr->route;

	delivery_free(dr->d);
	config_free(dr->cfg);
	free(rt->url);
	free(rt->name);
	free(rt->bearer_token);
	free(rt->basic_user);
	free(rt->basic_password);
	free(rt->opts.ca_file);
	free(rt->opts.client_cert);
	free(rt->opts.client_key);
	for (size_t i = 0; i < rt->n_secrets; i++)
		free(rt->secrets[i]);
	for (size_t i = 0; i < rt->n_headers; i++) {
		free(rt->headers[i].name);
		free(rt->headers[i].value);
	}
	for (size_t i = 0; i < rt->n_replies; i++) {
		free(rt->replies[i].key);
		free(rt->replies[i].text);
	}
	for (size_t i = 0; i < dr->env.n_rcpts; i++)
		free(dr->env.rcpts[i].address);
	free(dr->env.mail_from);
	free(dr->env.helo);
	json_decref(dr->auth);
	free((char *)dr->msg.data);
	struct event *evs[] = {dr->next_ev, dr->forget_ev, dr->free_ev, dr->deadline_ev,
	                       dr->drain_ev};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (dr->base) /* event_base_free(NULL) would free libevent's current base */
		event_base_free(dr->base);
}

/* --config: the route a gateway.toml gives, by name or by the routing table. */
static int use_config(struct driver *dr, const struct cli *c)
{
	struct gw_diag diag;
	struct route_match m;

	memset(&diag, 0, sizeof(diag));
	dr->cfg = config_load(c->config, &diag);
	for (size_t i = 0; i < diag.n_errors; i++)
		fprintf(stderr, "%s\n", diag.errors[i]);
	diag_free(&diag);
	if (!dr->cfg)
		return -1;
	for (size_t i = 0; c->route && i < dr->cfg->n_routes; i++)
		if (strcmp(dr->cfg->routes[i].name, c->route) == 0)
			dr->use = &dr->cfg->routes[i];
	if (c->route)
		return dr->use ? 0 : -1;
	if (route_lookup(dr->cfg->table, dr->env.rcpts[0].address, &m) != ROUTE_MATCH) {
		fprintf(stderr, "webhook-post: no route for %s\n", dr->env.rcpts[0].address);
		return -1;
	}
	dr->use = m.route;
	return 0;
}

static int setup(struct driver *dr, struct cli *c, const char *file)
{
	size_t len = 0;
	char *data = test_read_file(file, MAX_MESSAGE, &len);

	if (!data) {
		fprintf(stderr, "webhook-post: cannot read %s\n", file);
		return -1;
	}
	dr->msg.data = data;
	dr->msg.len = len;
	dr->env.size = len;
	if (!dr->route.name)
		dr->route.name = strdup("test");
	if (dr->env.n_rcpts == 0) {
		dr->env.rcpts[0].address = strdup("user@example.test");
		dr->env.rcpts[0].match.route = &dr->route;
		dr->env.n_rcpts = 1;
	}
	dr->use = &dr->route;
	if (c->config && use_config(dr, c) < 0)
		return -1;
	for (size_t i = 0; i < dr->env.n_rcpts; i++)
		dr->env.rcpts[i].match.route = dr->use;
	/* large payloads are built on the pool, whose completions wake this loop */
	if (evthread_use_pthreads())
		return -1;
	dr->base = event_base_new();
	dr->d = delivery_new(dr->base, dr->cfg, on_done, dr);
	dr->next_ev = evtimer_new(dr->base, on_next, dr);
	dr->forget_ev = evtimer_new(dr->base, on_forget, dr);
	dr->free_ev = evtimer_new(dr->base, on_free, dr);
	dr->deadline_ev = evtimer_new(dr->base, on_deadline, dr);
	dr->drain_ev = evtimer_new(dr->base, on_drain, dr);
	if (!dr->d || !dr->next_ev || !dr->forget_ev || !dr->free_ev || !dr->deadline_ev ||
	    !dr->drain_ev)
		return -1;
	arm_ms(dr->deadline_ev, c->deadline_ms);
	if (c->forget_ms >= 0)
		arm_ms(dr->forget_ev, c->forget_ms);
	if (c->free_ms >= 0)
		arm_ms(dr->free_ev, c->free_ms);
	return 0;
}

int main(int argc, char **argv)
{
	struct driver dr;
	struct cli c;
	int o;

	memset(&dr, 0, sizeof(dr));
	defaults(&dr, &c);
	if (parse_args(&dr, &c, argc, argv) < 0) {
		usage();
		return 2;
	}
	if (setup(&dr, &c, c.file) < 0) {
		driver_free(&dr);
		return 1;
	}
	if (dr.concurrent)
		while (dr.submitted < dr.count)
			submit_one(&dr);
	else
		submit_one(&dr);
	if (dr.finished < dr.count || (dr.d && delivery_in_flight(dr.d) > 0))
		event_base_dispatch(dr.base);
	o = dr.status;
	driver_free(&dr);
	return o;
}
