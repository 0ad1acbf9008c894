/*
 * dns.c: dns.h implemented with c-ares on a worker's libevent loop.
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB);
 * each is watched by a persistent libevent event that calls ares_process_fd, and one
 * timer follows ares_timeout() for retransmissions and timeouts. Answers
 * are parsed from the raw packet (dns_wire.c) and cached (dns_cache.c):
 * positive answers for their smallest TTL capped by cache_max_ttl_ms,
 * NXDOMAIN/NODATA for the SOA's negative TTL (RFC 2308 section 5) capped by
 * negative_ttl_ms. Identical queries in flight share one c-ares query.
 *
 * Must never block the loop, never call back a cancelled query, never
 * cache a temporary failure.
 */
#include <ares.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dns_int.h"
#include "log.h"
#include "metrics.h"

#define DNS_SERVERS_CSV_MAX 1024
#define DNS_EDNS_PAYLOAD    1232 /* the DNS flag day 2020 size: no fragmentation */
#define DNS_CLASS_IN        1

struct dns_impl;

/* One caller waiting on a flight. */
struct dns_query {
	struct dns_flight *flight;
	struct dns_query *prev, *next;
	dns_cb cb;
	void *arg;
};

/* One c-ares query in progress; its waiters share the answer. */
struct dns_flight {
	struct dns_impl *impl;
	struct dns_flight *prev, *next;
	struct dns_query *waiters;
	enum dns_type type;
	bool starting;  /* inside ares_query(): completion is deferred */
	bool completed; /* completed while starting */
	bool plain;     /* resent without EDNS after a FORMERR */
	char name[DNS_NAME_MAX + 1];
};

struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
	short what;
};

struct dns_impl {
	struct dns_resolver resolver; /* what callers hold; impl points back here */
	struct event_base *base;
	ares_channel channel;
	bool channel_ok;
	bool destroying; /* ares_destroy() is calling back: drop everything */
	struct event *timer;
	struct dns_sock *socks;
	size_t n_socks, cap_socks;
	struct dns_cache *cache;
	struct dns_flight *flights;
	uint64_t max_ttl_ms, neg_ttl_ms;
	struct dns_stats stats;
};

static pthread_once_t dns_lib_once = PTHREAD_ONCE_INIT;
static int dns_lib_status = ARES_SUCCESS;

static void dns_lib_init(void)
{
	dns_lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

const char *dns_status_name(enum dns_status s)
{
	static const char *const names[] = {"ok", "nodata", "nxdomain", "tempfail", "permfail"};
	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[s];
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void timer_update(struct dns_impl *d)
{
	struct timeval tv, *tvp;
	if (!d->channel_ok || d->destroying)
		return;
	tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp)
		evtimer_add(d->timer, tvp);
	else
		evtimer_del(d->timer);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns_impl *d = arg;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(d);
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct dns_impl *d = arg;
	ares_process_fd(d->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	timer_update(d);
}

static struct dns_sock *sock_find(struct dns_impl *d, ares_socket_t fd)
{
	for (size_t i = 0; i < d->n_socks; i++)
		if (d->socks[i].fd == fd)
			return &d->socks[i];
	return NULL;
}

static void sock_drop(struct dns_impl *d, struct dns_sock *s)
{
	event_free(s->ev);
	*s = d->socks[--d->n_socks];
}

static struct dns_sock *sock_add(struct dns_impl *d, ares_socket_t fd)
{
	if (d->n_socks == d->cap_socks) {
		size_t cap = d->cap_socks ? d->cap_socks * 2 : 4;
		struct dns_sock *n = realloc(d->socks, cap * sizeof(*n));
		if (!n)
			return NULL;
		d->socks = n;
		d->cap_socks = cap;
	}
	struct dns_sock *s = &d->socks[d->n_socks];
	*s = (struct dns_sock){.fd = fd};
	d->n_socks++;
	return s;
}

/* c-ares: watch fd for what it says, or stop watching it. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_impl *d = data;
	struct dns_sock *s = sock_find(d, fd);
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	if (s && s->what == what)
		return;
	if (s) {
		event_free(s->ev);
		s->ev = NULL;
		if (!what) {
			*s = d->socks[--d->n_socks];
			return;
		}
	} else if (!what || !(s = sock_add(d, fd))) {
		return;
	}
	s->what = what;
	s->ev = event_new(d->base, fd, what | EV_PERSIST, on_socket, d);
	if (!s->ev || event_add(s->ev, NULL) < 0) {
		/* Without an event the query can only time out; say so once. */
		log_msg(GW_LOG_ERROR, LS_DNS, 0, NULL, "cannot watch socket %d", (int)fd);
		if (s->ev)
			sock_drop(d, s);
		else
			*s = d->socks[--d->n_socks];
	}
}

static void deliver(const char *name, enum dns_type type, const struct dns_answer *a, uint32_t ttl,
                    dns_cb cb, void *arg)
{
	struct dns_result res = {
	    .status = a->status,
	    .type = type,
	    .name = name,
	    .n = a->status == DNS_OK ? a->n : 0,
	    .rr = a->status == DNS_OK ? a->rr : NULL,
	    .ttl = ttl,
	};
	cb(arg, &res);
}

/* Stores a in the cache for as long as RFC 2308 and the config allow. */
static void cache_store(struct dns_impl *d, struct dns_flight *f, struct dns_answer *a)
{
	uint64_t ttl;
	if (!d->cache)
		return;
	if (a->status == DNS_OK) {
		ttl = (uint64_t)a->ttl * 1000u;
		if (ttl > d->max_ttl_ms)
			ttl = d->max_ttl_ms;
	} else if ((a->status == DNS_NXDOMAIN || a->status == DNS_NODATA) && a->has_soa) {
		ttl = (uint64_t)a->neg_ttl * 1000u;
		if (ttl > d->neg_ttl_ms)
			ttl = d->neg_ttl_ms;
	} else {
		return; /* temporary failures and uncacheable negatives */
	}
	if (ttl == 0)
		return;
	d->stats.cache_evictions += dns_cache_put(d->cache, f->name, f->type, a, now_ms() + ttl);
}

static void flight_unlink(struct dns_impl *d, struct dns_flight *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		d->flights = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

static void flight_free(struct dns_flight *f)
{
	while (f->waiters) {
		struct dns_query *q = f->waiters;
		f->waiters = q->next;
		free(q);
	}
	free(f);
}

static void on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static struct dns_answer *answer_from_ares(int status, unsigned char *abuf, int alen,
                                           enum dns_type type)
{
	switch (status) {
	case ARES_SUCCESS:
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		if (abuf && alen > 0)
			return dns_wire_parse(abuf, (size_t)alen, type);
		return dns_answer_status(status == ARES_ENOTFOUND ? DNS_NXDOMAIN : DNS_NODATA);
	case ARES_EBADNAME:
		return dns_answer_status(DNS_PERMFAIL);
	default: /* ETIMEOUT, ESERVFAIL, EREFUSED, EFORMERR, ECONNREFUSED, ENOMEM ... */
		return dns_answer_status(DNS_TEMPFAIL);
	}
}

/* Hands the answer to every waiter, one at a time: a callback may cancel others. */
static void flight_finish(struct dns_flight *f, struct dns_answer *a)
{
	struct dns_impl *d = f->impl;
	uint32_t ttl = a->status == DNS_OK ? a->ttl : a->neg_ttl;

	if (a->status == DNS_TEMPFAIL)
		d->stats.tempfail++;
	while (f->waiters) {
		struct dns_query *q = f->waiters;
		f->waiters = q->next;
		if (f->waiters)
			f->waiters->prev = NULL;
		dns_cb cb = q->cb;
		void *arg = q->arg;
		free(q);
		deliver(f->name, f->type, a, ttl, cb, arg);
	}
}

/*
 * A server that does not know EDNS answers FORMERR (RFC 6891 section 7);
 * c-ares 1.18 does not fall back, so the flight asks once more without the
 * OPT record. Returns true when the query was resent.
 */
static bool resend_plain(struct dns_flight *f)
{
	unsigned char *q;
	int qlen;

	if (f->plain)
		return false;
	if (ares_create_query(f->name, DNS_CLASS_IN, (int)f->type, 0, 1, &q, &qlen, 0) !=
	    ARES_SUCCESS)
		return false;
	f->plain = true;
	f->impl->stats.sent++;
	ares_send(f->impl->channel, q, qlen, on_ares, f);
	ares_free_string(q);
	return true;
}

static void on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_flight *f = arg;
	struct dns_impl *d = f->impl;
	struct dns_answer *a;

	if (d->destroying || status == ARES_EDESTRUCTION) {
		flight_unlink(d, f);
		flight_free(f);
		return;
	}
	if (status == ARES_EFORMERR && resend_plain(f))
		return;
	flight_unlink(d, f);
	a = answer_from_ares(status, abuf, alen, f->type);
	if (!a)
		a = dns_answer_status(DNS_TEMPFAIL);
	if (a) {
		metrics_add(M_DNS_QUERIES, dns_status_name(a->status), NULL, 1);
		cache_store(d, f, a);
		flight_finish(f, a);
		dns_answer_unref(a);
	}
	if (f->starting) {
		f->completed = true; /* dns_start frees it */
		return;
	}
	flight_free(f);
}

static struct dns_flight *flight_find(struct dns_impl *d, const char *name, enum dns_type type)
{
	for (struct dns_flight *f = d->flights; f; f = f->next)
		if (f->type == type && strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct dns_query *waiter_add(struct dns_flight *f, dns_cb cb, void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->flight = f;
	q->cb = cb;
	q->arg = arg;
	q->next = f->waiters;
	if (f->waiters)
		f->waiters->prev = q;
	f->waiters = q;
	return q;
}

static void fail_now(const char *name, enum dns_type type, enum dns_status st, dns_cb cb, void *arg)
{
	struct dns_result res = {.status = st, .type = type, .name = name};
	cb(arg, &res);
}

static struct dns_query *flight_start(struct dns_impl *d, const char *name, enum dns_type type,
                                      dns_cb cb, void *arg)
{
	struct dns_flight *f = calloc(1, sizeof(*f));
	struct dns_query *q = f ? waiter_add(f, cb, arg) : NULL;

	if (!q) {
		free(f);
		d->stats.tempfail++;
		fail_now(name, type, DNS_TEMPFAIL, cb, arg);
		return NULL;
	}
	f->impl = d;
	f->type = type;
	memcpy(f->name, name, strlen(name) + 1);
	f->next = d->flights;
	if (d->flights)
		d->flights->prev = f;
	d->flights = f;
	f->starting = true;
	d->stats.sent++;
	ares_query(d->channel, f->name, DNS_CLASS_IN, (int)type, on_ares, f);
	f->starting = false;
	timer_update(d);
	if (f->completed) {
		flight_free(f);
		return NULL;
	}
	return q;
}

static struct dns_query *impl_query(void *impl, const char *name, enum dns_type type, dns_cb cb,
                                    void *arg)
{
	struct dns_impl *d = impl;
	char norm[DNS_NAME_MAX + 1];
	uint64_t left;

	d->stats.queries++;
	if (dns_name_normalise(name, norm) < 0) {
		fail_now(name, type, DNS_PERMFAIL, cb, arg);
		return NULL;
	}
	struct dns_answer *a =
	    d->cache ? dns_cache_get(d->cache, norm, type, now_ms(), &left) : NULL;
	if (a) {
		d->stats.cache_hits++;
		metrics_add(M_DNS_CACHE_HITS, NULL, NULL, 1);
		deliver(norm, type, a, (uint32_t)((left + 999) / 1000), cb, arg);
		dns_answer_unref(a);
		return NULL;
	}
	struct dns_flight *f = flight_find(d, norm, type);
	if (f) {
		struct dns_query *q = waiter_add(f, cb, arg);
		if (q) {
			d->stats.coalesced++;
			return q;
		}
		d->stats.tempfail++;
		fail_now(norm, type, DNS_TEMPFAIL, cb, arg);
		return NULL;
	}
	return flight_start(d, norm, type, cb, arg);
}

/* The flight keeps running without waiters: its answer still fills the cache. */
static void impl_cancel(void *impl, struct dns_query *q)
{
	struct dns_flight *f = q->flight;
	if (q->prev)
		q->prev->next = q->next;
	else
		f->waiters = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q);
}

static const struct dns_ops cares_ops = {
    .query = impl_query,
    .cancel = impl_cancel,
};

static int servers_csv(const struct gw_dns *cfg, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < cfg->n_servers; i++) {
		int w = snprintf(out + n, cap - n, "%s%s", i ? "," : "", cfg->servers[i]);
		if (w < 0 || (size_t)w >= cap - n)
			return -1;
		n += (size_t)w;
	}
	return 0;
}

static int channel_init(struct dns_impl *d, const struct gw_dns *cfg)
{
	struct ares_options o = {0};
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
	           ARES_OPT_EDNSPSZ;
	char csv[DNS_SERVERS_CSV_MAX];
	int rc;

	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = d;
	o.timeout = cfg->timeout_ms > 0 && cfg->timeout_ms < 3600000 ? (int)cfg->timeout_ms : 2000;
	o.tries = cfg->tries > 0 && cfg->tries < 100 ? (int)cfg->tries : 2;
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_EDNS;
	o.ednspsz = DNS_EDNS_PAYLOAD;
	rc = ares_init_options(&d->channel, &o, mask);
	if (rc != ARES_SUCCESS) {
		log_msg(GW_LOG_ERROR, LS_DNS, 0, NULL, "ares_init_options: %s", ares_strerror(rc));
		return -1;
	}
	d->channel_ok = true;
	if (cfg->n_servers == 0)
		return 0;
	if (servers_csv(cfg, csv, sizeof(csv)) < 0) {
		log_msg(GW_LOG_ERROR, LS_DNS, 0, NULL, "server list too long");
		return -1;
	}
	rc = ares_set_servers_ports_csv(d->channel, csv);
	if (rc != ARES_SUCCESS) {
		log_msg(GW_LOG_ERROR, LS_DNS, 0, NULL, "servers \"%s\": %s", csv,
		        ares_strerror(rc));
		return -1;
	}
	return 0;
}

struct dns_resolver *dns_c_ares_new(struct event_base *base, const struct gw_dns *cfg)
{
	struct dns_impl *d;

	pthread_once(&dns_lib_once, dns_lib_init);
	if (dns_lib_status != ARES_SUCCESS || !base || !cfg)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->base = base;
	d->resolver.ops = &cares_ops;
	d->resolver.impl = d;
	d->max_ttl_ms = cfg->cache_max_ttl_ms;
	d->neg_ttl_ms = cfg->negative_ttl_ms;
	d->timer = evtimer_new(base, on_timer, d);
	if (cfg->cache_size > 0)
		d->cache =
		    dns_cache_new(cfg->cache_size, cfg->cache_max_bytes ? cfg->cache_max_bytes
		                                                        : DNS_CACHE_MAX_BYTES);
	if (!d->timer || (cfg->cache_size > 0 && !d->cache) || channel_init(d, cfg) < 0) {
		dns_c_ares_free(&d->resolver);
		return NULL;
	}
	return &d->resolver;
}

void dns_c_ares_free(struct dns_resolver *r)
{
	struct dns_impl *d;
	if (!r)
		return;
	d = r->impl;
	d->destroying = true;
	if (d->channel_ok)
		ares_destroy(d->channel);
	while (d->flights) {
		struct dns_flight *f = d->flights;
		flight_unlink(d, f);
		flight_free(f);
	}
	while (d->n_socks)
		sock_drop(d, &d->socks[0]);
	free(d->socks);
	if (d->timer)
		event_free(d->timer);
	dns_cache_free(d->cache);
	free(d);
}

void dns_c_ares_stats(const struct dns_resolver *r, struct dns_stats *out)
{
	const struct dns_impl *d = r->impl;
	*out = d->stats;
	out->cache_entries = d->cache ? dns_cache_count(d->cache) : 0;
}
