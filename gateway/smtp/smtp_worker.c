/*
 * smtp_worker.c: one worker thread = one libevent loop, its own
 * SO_REUSEPORT socket per listener, its own delivery context and the
 * sessions it accepted. Owns accept (pausing a listener on EMFILE instead
 * of spinning), the reaper of the graveyard (the id map and the graveyard
 * themselves are in smtp_registry.c, for the files below to reach),
 * configuration swaps (SIGHUP) and the drain on SIGTERM.
 *
 * Never: touches another worker's sessions, frees a session inside one of
 * its callbacks, takes a lock on the per-message path (only ctl_lock, on a
 * reload or stop).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "smtp_sasl.h"
#include "smtp_seam.h"
#include "smtp_session.h"
#include "smtp_tx.h"
#include "smtp_worker.h"

struct accept_ctx {
	struct smtp_worker *w;
	size_t li;
};

static void check_drained(struct smtp_worker *w)
{
	if (w->base && w->draining && w->n_sessions == 0 && !w->graveyard && !w->sasl_jobs)
		event_base_loopexit(w->base, NULL);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_worker *w = arg;
	(void)fd;
	(void)what;
	while (w->graveyard) {
		struct smtp_session *s = w->graveyard;
		w->graveyard = s->gnext;
		smtp_session_free(s);
	}
	check_drained(w);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
	struct accept_ctx *c = arg;
	(void)l;
	smtp_session_new(c->w, c->li, fd, sa, (socklen_t)len);
}

static void relisten_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accept_ctx *c = arg;
	(void)fd;
	(void)what;
	if (c->w->listeners[c->li])
		evconnlistener_enable(c->w->listeners[c->li]);
}

/*
 * Out of descriptors or memory: accept() would fail again at once, so the
 * listener pauses for a second. The timer is the listener's own (freed
 * with it in close_listeners), never a one-shot that could outlive it.
 */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct accept_ctx *c = arg;
	int e = errno;
	struct timeval tv = {1, 0};
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		smtp_log(GW_LOG_WARN, 0, "accept: %s", strerror(e));
		return;
	}
	smtp_log(GW_LOG_ERROR, 0, "accept: %s; listener paused for 1s", strerror(e));
	evconnlistener_disable(l);
	evtimer_add(c->w->relisten[c->li], &tv);
}

static void close_listeners(struct smtp_worker *w)
{
	if (!w->srv || !w->fds)
		return;
	for (size_t i = 0; i < w->srv->n_listeners; i++) {
		if (w->relisten && w->relisten[i]) {
			event_free(w->relisten[i]);
			w->relisten[i] = NULL;
		}
		if (w->listeners[i]) {
			evconnlistener_free(w->listeners[i]);
			w->listeners[i] = NULL;
		} else if (w->fds[i] >= 0) {
			close(w->fds[i]);
		}
		w->fds[i] = -1;
	}
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_worker *w = arg;
	(void)fd;
	(void)what;
	smtp_log(GW_LOG_WARN, 0,
	         "worker %d: drain_timeout reached, closing %zu sessions (%u deliveries in flight, "
	         "%u answered unconfirmed at the drain deadline)",
	         w->index, w->n_sessions, delivery_in_flight(w->delivery),
	         delivery_drain_cut(w->delivery));
	for (size_t b = 0; b < w->id_buckets; b++)
		while (w->id_map[b])
			smtp_session_close_now(w->id_map[b]);
	event_base_loopexit(w->base, NULL);
}

static void start_drain(struct smtp_worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	close_listeners(w);
	for (size_t b = 0; b < w->id_buckets; b++) {
		struct smtp_session *s = w->id_map[b];
		while (s) {
			struct smtp_session *next = s->hnext;
			smtp_session_shutdown(s);
			s = next;
		}
	}
	uint64_t ms = w->rt->cfg->limits.drain_timeout_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	delivery_drain(w->delivery, ms); /* POSTs in flight get their reply before the timeout */
	w->drain_timer = evtimer_new(w->base, drain_timeout_cb, w);
	if (w->drain_timer)
		evtimer_add(w->drain_timer, &tv);
	check_drained(w);
}

static void ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_worker *w = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->ctl_lock);
	struct smtp_runtime *rt = w->pending_rt;
	bool stop = w->stop_requested;
	w->pending_rt = NULL;
	pthread_mutex_unlock(&w->ctl_lock);
	if (rt) {
		struct smtp_runtime *old = w->rt;
		w->rt = rt;
		delivery_set_config(w->delivery, rt->cfg);
		smtp_seam_worker_reload(w);
		smtp_runtime_unref(old);
		smtp_log(GW_LOG_DEBUG, 0, "worker %d: configuration swapped", w->index);
	}
	if (stop)
		start_drain(w);
}

void smtp_worker_post(struct smtp_worker *w, struct smtp_runtime *rt, bool stop)
{
	pthread_mutex_lock(&w->ctl_lock);
	if (rt) {
		if (w->pending_rt)
			smtp_runtime_unref(w->pending_rt);
		w->pending_rt = smtp_runtime_ref(rt);
	}
	if (stop)
		w->stop_requested = true;
	pthread_mutex_unlock(&w->ctl_lock);
	event_active(w->ctl, EV_READ, 0);
}

static void delivery_done(void *owner, uint64_t cookie, const struct smtp_reply *reply)
{
	struct smtp_worker *w = owner;
	struct smtp_session *s = smtp_worker_find(w, cookie);
	if (!s || s->dead || s->state != ST_DELIVERY) {
		smtp_log(GW_LOG_INFO, cookie,
		         "delivery reply %d for a session that is gone; dropped",
		         reply ? reply->code : 0);
		return;
	}
	smtp_tx_delivered(s, reply);
}

static void *run(void *arg)
{
	struct smtp_worker *w = arg;
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int open_listeners(struct smtp_worker *w)
{
	struct accept_ctx *all = calloc(w->srv->n_listeners, sizeof *all);
	if (!all)
		return -1;
	w->accept_ctx = all;
	w->relisten = calloc(w->srv->n_listeners, sizeof *w->relisten);
	if (!w->relisten)
		return -1;
	for (size_t i = 0; i < w->srv->n_listeners; i++) {
		struct accept_ctx *c = &all[i];
		c->w = w;
		c->li = i;
		w->relisten[i] = evtimer_new(w->base, relisten_cb, c);
		if (!w->relisten[i])
			return -1;
		w->listeners[i] = evconnlistener_new(w->base, accept_cb, c,
		                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
		                                     -1, w->fds[i]);
		if (!w->listeners[i])
			return -1;
		evconnlistener_set_error_cb(w->listeners[i], accept_error_cb);
	}
	return 0;
}

int smtp_worker_start(struct smtp_worker *w)
{
	pthread_mutex_init(&w->ctl_lock, NULL);
	w->base = event_base_new();
	w->id_buckets = 1024;
	w->id_map = calloc(w->id_buckets, sizeof *w->id_map);
	if (!w->base || !w->id_map)
		return -1;
	w->ctl = event_new(w->base, -1, 0, ctl_cb, w);
	w->reaper = event_new(w->base, -1, 0, reap_cb, w);
	w->delivery = delivery_new(w->base, w->rt->cfg, delivery_done, w);
	if (!w->ctl || !w->reaper || !w->delivery || smtp_seam_worker_init(w)) {
		smtp_log(GW_LOG_ERROR, 0, "worker %d: cannot set up its loop", w->index);
		return -1;
	}
	if (open_listeners(w))
		return -1;
	return pthread_create(&w->thread, NULL, run, w) ? -1 : 0;
}

void smtp_worker_free(struct smtp_worker *w)
{
	smtp_sasl_jobs_join(w);
	reap_cb(-1, 0, w);
	close_listeners(w);
	if (w->delivery)
		delivery_free(w->delivery);
	smtp_seam_worker_fini(w); /* every session is gone: no DNS callback can come */
	if (w->drain_timer)
		event_free(w->drain_timer);
	if (w->ctl)
		event_free(w->ctl);
	if (w->reaper)
		event_free(w->reaper);
	if (w->base)
		event_base_free(w->base);
	if (w->pending_rt)
		smtp_runtime_unref(w->pending_rt);
	if (w->rt)
		smtp_runtime_unref(w->rt);
	free(w->id_map);
	free(w->listeners);
	free(w->fds);
	free(w->accept_ctx);
	free(w->relisten);
	free(w->line);
	pthread_mutex_destroy(&w->ctl_lock);
}
