/*
 * delivery_double.c: a test double of include/delivery.h for the SMTP
 * protocol tests. It answers from the route URL (host "double") instead of
 * POSTing:
 *   http://double/250                  250 2.0.0
 *   http://double/451?delay=200        451 4.3.0 after 200 ms (on the event loop)
 *   http://double/hang                 never answers (drain and forget tests)
 *   http://double/fail                 delivery_submit() returns -1
 *   http://double/250?breaker=open     delivery_route_available() says false
 * and records each submission into $SMTPGW_DOUBLE_DIR as N.eml (the exact
 * message bytes) and N.json (the envelope), the .json written last. Each
 * delivery in flight holds DOUBLE_HELD bytes for delivery_memory_held()
 * (so max_delivery_memory = "1MB" is full while one delivery hangs).
 *
 * Never used by the real daemon; never blocks the loop except for the
 * local file writes of a test.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "delivery.h"

#define DOUBLE_PREFIX "http://double/"
#define DOUBLE_HELD   (1024 * 1024)

struct pending {
	struct delivery *d;
	uint64_t cookie;
	struct smtp_reply reply;
	struct event *ev;
	bool forgotten;
	struct pending *next;
};

struct delivery {
	struct event_base *base;
	delivery_done_fn done;
	void *owner;
	const struct gw_config *cfg;
	struct pending *list;
};

static atomic_uint record_seq;
static _Atomic uint64_t held; /* DOUBLE_HELD per delivery in flight, all workers */

uint64_t delivery_memory_held(void)
{
	return atomic_load(&held);
}

struct delivery *delivery_new(struct event_base *base, const struct gw_config *cfg,
                              delivery_done_fn done, void *owner)
{
	struct delivery *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->base = base;
	d->cfg = cfg;
	d->done = done;
	d->owner = owner;
	return d;
}

static void unlink_pending(struct delivery *d, struct pending *p)
{
	struct pending **pp = &d->list;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	atomic_fetch_sub(&held, DOUBLE_HELD);
	if (p->ev)
		event_free(p->ev);
	free(p);
}

void delivery_free(struct delivery *d)
{
	if (!d)
		return;
	while (d->list)
		unlink_pending(d, d->list);
	free(d);
}

void delivery_set_config(struct delivery *d, const struct gw_config *cfg)
{
	d->cfg = cfg;
}

static bool url_has(const char *url, const char *what)
{
	return url && strstr(url, what) != NULL;
}

bool delivery_route_available(struct delivery *d, const struct gw_route *route)
{
	(void)d;
	return !url_has(route->url, "breaker=open");
}

void delivery_drain(struct delivery *d, uint64_t drain_timeout_ms)
{
	(void)d; /* the double's delays are short: nothing to cut */
	(void)drain_timeout_ms;
}

unsigned delivery_drain_cut(const struct delivery *d)
{
	(void)d;
	return 0;
}

unsigned delivery_in_flight(const struct delivery *d)
{
	unsigned n = 0;
	for (const struct pending *p = d->list; p; p = p->next)
		n += !p->forgotten;
	return n;
}

void delivery_forget(struct delivery *d, uint64_t cookie)
{
	for (struct pending *p = d->list; p; p = p->next)
		if (p->cookie == cookie)
			p->forgotten = true;
}

static void fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct delivery *d = p->d;
	(void)fd;
	(void)what;
	if (!p->forgotten)
		d->done(d->owner, p->cookie, &p->reply);
	unlink_pending(d, p);
}

static json_t *envelope_json(const struct gw_route *route, const struct envelope *env,
                             const struct message_bytes *msg)
{
	json_t *rcpts = json_array(), *matches = json_array();
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct envelope_match *m = &env->rcpts[i].match;
		json_array_append_new(rcpts, json_string(env->rcpts[i].address));
		/* What the routing table said for each recipient: route, pattern, local part. */
		json_array_append_new(matches,
		                      json_pack("[s?, s?, s]", m->route ? m->route->name : NULL,
		                                m->pattern, m->addr.local));
	}
	static const char *const bodies[] = {"7BIT", "8BITMIME", "BINARYMIME"};
	return json_pack("{s:s, s:s, s:o, s:o, s:s?, s:b, s:s, s:i, s:s?, s:s?, s:s?, s:s, s:b, "
	                 "s:I, s:I, s:I}",
	                 "route", route->name ? route->name : "", "mail_from", env->mail_from,
	                 "rcpts", rcpts, "rcpt_matches", matches, "helo", env->helo, "esmtp",
	                 env->esmtp, "client_ip", env->client_ip, "client_port",
	                 (int)env->client_port, "tls_protocol", env->tls_protocol, "tls_cipher",
	                 env->tls_cipher, "auth_user", env->auth_user, "body", bodies[env->body],
	                 "smtputf8", env->smtputf8, "size", (json_int_t)env->size, "bytes",
	                 (json_int_t)msg->len, "received_at_us", (json_int_t)env->received_at_us);
}

static void record(const struct gw_route *route, const struct envelope *env,
                   const struct message_bytes *msg)
{
	const char *dir = getenv("SMTPGW_DOUBLE_DIR");
	char path[4096], tmp[4200];
	if (!dir)
		return;
	unsigned n = atomic_fetch_add(&record_seq, 1) + 1;
	snprintf(path, sizeof path, "%s/%06u.eml", dir, n);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(msg->data, 1, msg->len, f);
	fclose(f);
	json_t *j = envelope_json(route, env, msg);
	snprintf(tmp, sizeof tmp, "%s/%06u.json.tmp", dir, n);
	snprintf(path, sizeof path, "%s/%06u.json", dir, n);
	if (j && json_dump_file(j, tmp, JSON_SORT_KEYS) == 0)
		rename(tmp, path);
	json_decref(j);
}

static void make_reply(const char *url, struct smtp_reply *r)
{
	const char *c = url + strlen(DOUBLE_PREFIX);
	int code = (int)strtol(c, NULL, 10);
	if (code < 200 || code > 599)
		code = 451;
	r->code = code;
	snprintf(r->status, sizeof r->status, "%d.%d.0", code / 100, code / 100 == 2 ? 0 : 3);
	snprintf(r->text, sizeof r->text, "double answered %d", code);
}

/* The double's ids are per session (delivery_submit below), not per message. */
void delivery_message_id(const struct gw_route *route, const struct envelope *env,
                         const struct message_bytes *msg, char id[DELIVERY_ID_SIZE])
{
	(void)route;
	(void)env;
	(void)msg;
	snprintf(id, DELIVERY_ID_SIZE, "double");
}

/* No libcurl here: the double's daemon runs no spam check (the seam treats it as off). */
struct webhook_multi *delivery_multi(struct delivery *d)
{
	(void)d;
	return NULL;
}

int delivery_submit(struct delivery *d, const struct gw_route *route, const struct envelope *env,
                    const struct message_bytes *msg, const json_t *auth, uint64_t cookie,
                    char id[DELIVERY_ID_SIZE])
{
	(void)auth;
	const char *url = route->url ? route->url : "";
	if (strncmp(url, DOUBLE_PREFIX, strlen(DOUBLE_PREFIX)) != 0 || url_has(url, "/fail"))
		return -1;
	record(route, env, msg);
	struct pending *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->d = d;
	p->cookie = cookie;
	make_reply(url, &p->reply);
	p->next = d->list;
	d->list = p;
	atomic_fetch_add(&held, DOUBLE_HELD);
	if (id)
		snprintf(id, DELIVERY_ID_SIZE, "double-%llu", (unsigned long long)cookie);
	if (url_has(url, "/hang"))
		return 0;
	const char *dl = strstr(url, "delay=");
	long ms = dl ? strtol(dl + 6, NULL, 10) : 0;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	p->ev = evtimer_new(d->base, fire, p);
	if (!p->ev || evtimer_add(p->ev, &tv)) {
		unlink_pending(d, p);
		return -1;
	}
	return 0;
}
