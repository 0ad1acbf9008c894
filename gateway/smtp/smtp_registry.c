/*
 * smtp_registry.c: what every file of gateway/smtp/ may reach without
 * calling back up into the worker or the server: the process's one server
 * (its connection count), the configuration snapshots sessions hold
 * (refcounted), each worker's counters, its session-id map (through which
 * asynchronous completions find their session, STYLE 9) and its graveyard.
 *
 * Never: free a session (the worker's reaper does), start or stop anything.
 */
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "metrics.h"
#include "smtp_session.h"

void smtp_worker_count(struct smtp_worker *w, enum smtp_counter c)
{
	atomic_fetch_add_explicit(&w->counters[c], 1, memory_order_relaxed);
	metrics_add(M_EVENTS, smtp_counter_names[c], NULL, 1);
}

static size_t bucket(const struct smtp_worker *w, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 40) % w->id_buckets;
}

void smtp_worker_attach(struct smtp_worker *w, struct smtp_session *s)
{
	size_t b = bucket(w, s->id);
	s->hnext = w->id_map[b];
	w->id_map[b] = s;
	w->n_sessions++;
	metrics_gauge_add(M_SESSIONS, NULL, 1);
}

void smtp_worker_detach(struct smtp_worker *w, struct smtp_session *s)
{
	struct smtp_session **pp = &w->id_map[bucket(w, s->id)];
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (!*pp)
		return;
	*pp = s->hnext;
	w->n_sessions--;
	metrics_gauge_add(M_SESSIONS, NULL, -1);
}

struct smtp_session *smtp_worker_find(struct smtp_worker *w, uint64_t id)
{
	struct smtp_session *s = w->id_map[bucket(w, id)];
	while (s && s->id != id)
		s = s->hnext;
	return s;
}

void smtp_worker_bury(struct smtp_worker *w, struct smtp_session *s)
{
	smtp_worker_detach(w, s);
	if (s->bev) {
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	}
	if (s->timer)
		evtimer_del(s->timer);
	if (s->proxy_ev)
		event_del(s->proxy_ev);
	s->gnext = w->graveyard;
	w->graveyard = s;
	event_active(w->reaper, EV_READ, 0);
}

struct smtp_server *smtp_srv;

const char *const smtp_counter_names[C_COUNTER_MAX] = {
    [C_CONNECTIONS] = "connections",
    [C_REFUSED_TOTAL] = "refused_max_connections",
    [C_REFUSED_PER_IP] = "refused_max_connections_per_ip",
    [C_TIMEOUTS] = "timeouts",
    [C_TOO_MANY_ERRORS] = "closed_max_errors",
    [C_TOO_MANY_TX] = "refused_max_transactions",
    [C_LONG_COMMANDS] = "long_command_lines",
    [C_EARLY_TALKERS] = "early_talkers",
    [C_AUTH_FAILURES] = "auth_failures",
    [C_MESSAGES] = "messages_delivered",
    [C_REJECTED_MESSAGES] = "messages_refused",
    [C_PROXY_REFUSED] = "proxy_refused",
    [C_TLS_FAILURES] = "tls_failures",
    [C_AUTH_BUSY] = "auth_checks_busy",
    [C_TOO_MANY_RCPTS] = "refused_max_recipients",
    [C_SIZE_EXCEEDED] = "refused_max_message_size",
    [C_PAYLOAD_TOO_BIG] = "refused_max_payload_size",
    [C_DELIVERY_BUSY] = "refused_max_delivery_memory",
    [C_DATA_BUSY] = "refused_max_delivery_memory_at_data",
    [C_BARE_NEWLINES] = "refused_bare_newlines",
    [C_LONG_LINES] = "refused_long_lines",
    [C_OUTPUT_PAUSES] = "paused_output_high_water",
    [C_AUTH_IP_BLOCKED] = "auth_ip_blocked",
};

struct smtp_runtime *smtp_runtime_ref(struct smtp_runtime *rt)
{
	atomic_fetch_add(&rt->refs, 1);
	return rt;
}

void smtp_runtime_unref(struct smtp_runtime *rt)
{
	if (!rt || atomic_fetch_sub(&rt->refs, 1) != 1)
		return;
	smtp_tls_free(rt->tls);
	config_free(rt->cfg);
	free(rt);
}
