/*
 * smtp_conn.c: the primitives of one connection that every file above it
 * uses: the session state (smtp_session_state() is its only setter, STYLE
 * 4), the one timer, the monotonic clock, reading paused and resumed, the
 * write of replies on a plain socket (straight to it while nothing is
 * backed up: smtp_session_flush()), and the close (flush the last reply,
 * then bury the session).
 *
 * Calls nothing above it: resuming never runs the command loop inline, it
 * asks libevent for a deferred read callback, so a reply written from deep
 * inside a transaction cannot re-enter the session.
 *
 * Never: free a session (it is buried, the worker reaps it), answer a command.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "delivery.h"
#include "smtp_session.h"

const char *const smtp_state_names[ST_MAX] = {
    [ST_ACCEPT] = "accept",
    [ST_PROXY] = "proxy",
    [ST_HANDSHAKE] = "handshake",
    [ST_GREETING] = "greeting",
    [ST_COMMAND] = "command",
    [ST_AUTH] = "auth",
    [ST_AUTH_CHECK] = "auth-check",
    [ST_AUTH_DELAY] = "auth-delay",
    [ST_DATA] = "data",
    [ST_BDAT] = "bdat",
    [ST_SPF] = "spf",
    [ST_DELIVERY] = "delivery",
    [ST_CLOSING] = "closing",
};

void smtp_session_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	smtp_log(GW_LOG_DEBUG, s->id, "state %s -> %s", smtp_state_names[s->state],
	         smtp_state_names[st]);
	s->state = st;
}

void smtp_session_arm(struct smtp_session *s, uint64_t ms)
{
	if (!ms) {
		evtimer_del(s->timer);
		return;
	}
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(s->timer, &tv);
}

uint64_t smtp_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The wait for the next command: idle_timeout while nothing of it has
 * arrived, then command_timeout from its first octet to its end (a
 * deadline: trickling bytes do not extend it).
 */
void smtp_session_arm_command(struct smtp_session *s)
{
	const struct gw_limits *l = &s->cfg->limits;
	if (!s->bev || !evbuffer_get_length(bufferevent_get_input(s->bev))) {
		s->partial = false;
		smtp_session_arm(s, l->idle_timeout_ms);
		return;
	}
	if (s->partial)
		return;
	s->partial = true;
	smtp_session_arm(s, l->command_timeout_ms);
}

void smtp_session_close_now(struct smtp_session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	smtp_log(GW_LOG_INFO, s->id, "disconnect ip=%s state=%s errors=%u transactions=%u", s->ip,
	         smtp_state_names[s->state], s->n_errors, s->n_tx);
	if (s->state == ST_DELIVERY)
		delivery_forget(s->w->delivery, s->id);
	smtp_worker_bury(s->w, s);
}

/* Output not yet on the wire: ours, and the plain layer's under a STARTTLS filter. */
size_t smtp_session_pending_output(struct smtp_session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

/* Closing: poll until the last reply has left (write_cb alone cannot see the plain layer). */
void smtp_session_closing_check(struct smtp_session *s)
{
	if (!smtp_session_pending_output(s) || ++s->close_ticks > 500) {
		smtp_session_close_now(s);
		return;
	}
	smtp_session_arm(s, 20); /* at most 500 x 20 ms: a client that never reads cannot keep us */
}

/*
 * Writing replies without the write event (STYLE 14 still holds: what the
 * socket does not take stays in the buffer, the write event is enabled for
 * it, and write_cb turns it off again once the buffer is empty). It saves
 * arming EPOLLOUT, waiting for it and disarming it for every reply.
 */
void smtp_session_flush(struct smtp_session *s)
{
	struct evbuffer *out;

	s->flush_pending = false;
	if (!s->direct_write || s->dead || !s->bev)
		return;
	out = bufferevent_get_output(s->bev);
	if (!evbuffer_get_length(out) || (bufferevent_get_enabled(s->bev) & EV_WRITE))
		return; /* nothing, or libevent is already writing the rest: it keeps the order */
	/* a bufferevent freezes its output's start (only it drains it): lifted for this write */
	evbuffer_unfreeze(out, 1);
	if (evbuffer_write(out, s->fd) < 0 && errno != EAGAIN && errno != EINTR)
		smtp_log(GW_LOG_DEBUG, s->id, "write: %s", strerror(errno));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out)) /* the rest (or the error, to event_cb) by libevent */
		bufferevent_enable(s->bev, EV_WRITE);
}

void smtp_session_output_added(struct smtp_session *s)
{
	if (!s->direct_write)
		return;
	if (s->in_input) {
		s->flush_pending = true;
		return;
	}
	smtp_session_flush(s);
}

void smtp_session_begin_close(struct smtp_session *s)
{
	smtp_session_state(s, ST_CLOSING);
	if (!s->bev) {
		smtp_session_close_now(s);
		return;
	}
	smtp_session_flush(s); /* the replies of the pipelined group, then this last one */
	bufferevent_disable(s->bev, EV_READ);
	if (!smtp_session_pending_output(s)) {
		smtp_session_close_now(s);
		return;
	}
	smtp_session_arm(s, 20);
}

void smtp_session_resume(struct smtp_session *s)
{
	if (s->dead || !s->bev)
		return;
	bufferevent_enable(s->bev, EV_READ);
	if (s->state == ST_COMMAND)
		smtp_session_arm_command(s);
	if (evbuffer_get_length(bufferevent_get_input(s->bev)))
		bufferevent_trigger(s->bev, EV_READ,
		                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

bool smtp_session_client_gone(const struct smtp_session *s)
{
	/* POLLRDHUP: the peer's FIN, seen even with unread input before it */
	struct pollfd p = {.fd = s->fd, .events = POLLRDHUP};
	if (s->fd < 0)
		return true;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}
