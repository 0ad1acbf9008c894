/*
 * webhook_multi.c: libcurl's multi interface driven by a libevent loop.
 *
 * Owns: the CURLM handle (and with it the connection cache, DNS cache and
 * HTTP/2 streams of one worker), one libevent event per socket libcurl
 * watches, the one timer libcurl asks for, and a small pool of idle easy
 * handles. curl's CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION contract
 * (libcurl-multi(3), "multi_socket") is implemented here and nowhere else.
 *
 * Must never: block (no curl_easy_perform, no curl_multi_wait); call
 * curl_multi_socket_action from inside a libcurl callback; free an event
 * while libcurl still owns its socket.
 */
#include "webhook_multi.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

/* Idle easy handles kept for reuse; beyond this they are freed. */
#define WEBHOOK_EASY_POOL_MAX 64

struct sock_ev {
	struct event *ev;
	struct webhook_multi *m;
	struct sock_ev *prev, *next; /* so that teardown frees what curl never removed */
};

struct webhook_multi {
	struct event_base *base;
	CURLM *multi;
	struct event *timer; /* the single timeout libcurl asks for */
	webhook_multi_done_fn done;
	void *arg;
	CURL *pool[WEBHOOK_EASY_POOL_MAX];
	size_t n_pool;
	struct sock_ev *socks;
	struct webhook_multi_xfer *xfers; /* transfers with their own completion */
	long running;                     /* transfers in the multi now */
	long peak; /* the most ever in the multi at once: the cache keeps 4 per */
};

static void xfer_unlink(struct webhook_multi *m, struct webhook_multi_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else if (m->xfers == x)
		m->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

/* The transfer's own completion, if it has one (a short list: the checks in flight). */
static struct webhook_multi_xfer *xfer_of(struct webhook_multi *m, CURL *easy)
{
	for (struct webhook_multi_xfer *x = m->xfers; x; x = x->next)
		if (x->easy == easy)
			return x;
	return NULL;
}

static void check_done(struct webhook_multi *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		CURL *easy;
		CURLcode rc;
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle; /* msg is invalid once the handle is removed */
		rc = msg->data.result;
		curl_multi_remove_handle(m->multi, easy);
		m->running--;
		struct webhook_multi_xfer *x = xfer_of(m, easy);
		if (x) {
			xfer_unlink(m, x);
			x->done(x->arg, easy, rc);
			continue;
		}
		m->done(m->arg, easy, rc);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_multi *m = arg;
	int action =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running = 0;

	curl_multi_socket_action(m->multi, fd, action, &running);
	check_done(m);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_multi *m = arg;
	int running = 0;

	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(m);
}

static void sock_free(struct webhook_multi *m, struct sock_ev *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		m->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct webhook_multi *m = userp;
	struct sock_ev *s = socketp;
	short flags = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(m, s);
		curl_multi_assign(m->multi, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		flags |= EV_READ;
	if (what & CURL_POLL_OUT)
		flags |= EV_WRITE;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->m = m;
		s->next = m->socks;
		if (m->socks)
			m->socks->prev = s;
		m->socks = s;
		curl_multi_assign(m->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(m->base, fd, flags, on_socket_event, m);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		return -1;
	return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct webhook_multi *m = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(m->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(m->timer, &tv) < 0 ? -1 : 0;
}

struct webhook_multi *webhook_multi_new(struct event_base *base, webhook_multi_done_fn done,
                                        void *arg)
{
	struct webhook_multi *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->base = base;
	m->done = done;
	m->arg = arg;
	m->multi = curl_multi_init();
	m->timer = evtimer_new(base, on_timer, m);
	if (!m->multi || !m->timer) {
		webhook_multi_free(m);
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return m;
}

void webhook_multi_free(struct webhook_multi *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_pool; i++)
		curl_easy_cleanup(m->pool[i]);
	if (m->multi)
		curl_multi_cleanup(m->multi); /* may still call on_curl_socket: m is intact */
	while (m->socks)
		sock_free(m, m->socks);
	if (m->timer)
		event_free(m->timer);
	free(m);
}

CURL *webhook_multi_easy(struct webhook_multi *m)
{
	if (m->n_pool > 0)
		return m->pool[--m->n_pool];
	return curl_easy_init();
}

void webhook_multi_release(struct webhook_multi *m, CURL *easy)
{
	if (!easy)
		return;
	if (m->n_pool >= WEBHOOK_EASY_POOL_MAX) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy); /* keeps the connections and caches, drops the options */
	m->pool[m->n_pool++] = easy;
}

/*
 * libcurl's default cache holds 4 connections per handle in the multi *now*:
 * when the count dips, it closes the connections the next burst opens again
 * (one TCP handshake per ten messages under load). The same rule applied to
 * the most transfers ever run at once keeps them; route max_in_flight bounds
 * that peak.
 */
static void track_peak(struct webhook_multi *m)
{
	if (++m->running <= m->peak)
		return;
	m->peak = m->running;
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 4 * m->peak);
}

int webhook_multi_start(struct webhook_multi *m, CURL *easy)
{
	if (curl_multi_add_handle(m->multi, easy) != CURLM_OK)
		return -1;
	track_peak(m);
	return 0;
}

void webhook_multi_cancel(struct webhook_multi *m, CURL *easy)
{
	if (curl_multi_remove_handle(m->multi, easy) == CURLM_OK)
		m->running--;
	webhook_multi_release(m, easy);
}

int webhook_multi_start_xfer(struct webhook_multi *m, struct webhook_multi_xfer *x)
{
	if (webhook_multi_start(m, x->easy) < 0)
		return -1;
	x->prev = NULL;
	x->next = m->xfers;
	if (m->xfers)
		m->xfers->prev = x;
	m->xfers = x;
	return 0;
}

void webhook_multi_cancel_xfer(struct webhook_multi *m, struct webhook_multi_xfer *x)
{
	xfer_unlink(m, x);
	webhook_multi_cancel(m, x->easy);
	x->easy = NULL;
}
