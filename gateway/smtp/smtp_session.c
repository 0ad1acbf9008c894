/*
 * smtp_session.c: one SMTP connection on a worker's event loop, the top of
 * the session's calls (session -> command -> transaction -> seam/delivery:
 * nothing below calls back up here). Owns the connection's life (accept,
 * PROXY, TLS, greeting, teardown), its I/O callbacks, command-line framing
 * with PIPELINING (RFC 2920: every
 * buffered command is handled in order and the replies leave in one
 * write, at the end of the read callback, straight to a plain socket),
 * the DATA/BDAT read path, timeouts (RFC 5321 4.5.3.2), the
 * greeting delay, the PROXY phase and the STARTTLS switch (RFC 3207 4.2:
 * anything pipelined after STARTTLS is discarded, CVE-2011-0411).
 *
 * Never: blocks, reads while a delivery is in flight or the output is over
 * its high-water mark, frees a session inside one of its own callbacks
 * (sessions are buried and reaped by the worker), answers after 421.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "metrics.h"
#include "smtp_admit.h"
#include "smtp_cmd.h"
#include "smtp_sasl.h"
#include "smtp_seam.h"
#include "smtp_session.h"
#include "smtp_tx.h"

/* Back-pressure limits (their keys' minimums exclude 0: no fallback needed). */
static size_t output_high_water(const struct smtp_session *s)
{
	return (size_t)s->cfg->limits.output_high_water;
}

static size_t input_high_water(const struct smtp_session *s)
{
	return (size_t)s->cfg->limits.input_high_water;
}

static uint32_t max_pipelined(const struct smtp_session *s)
{
	return s->cfg->limits.max_pipelined_commands;
}

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void process_input(struct smtp_session *s);
static void smtp_session_starttls(struct smtp_session *s);

/*
 * While content arrives: data_timeout of silence, but never past the
 * phase's deadline (STYLE 13), or a client trickling one octet a minute
 * would hold the session for ever.
 */
static void arm_data(struct smtp_session *s)
{
	uint64_t now = smtp_mono_ms(), ms = s->cfg->limits.data_timeout_ms;
	uint64_t left = s->tx.deadline_ms > now ? s->tx.deadline_ms - now : 1;
	smtp_session_arm(s, left < ms ? left : ms);
}

/*
 * data_deadline: answers 421 4.4.2 (and closes) once it has passed. Checked
 * on every read as well as by the timer: a client that never pauses keeps
 * re-arming the timer before it can fire (libevent drops an expired timer
 * from the active queue when it is added again).
 */
static bool data_deadline_over(struct smtp_session *s)
{
	if (smtp_mono_ms() < s->tx.deadline_ms)
		return false;
	smtp_worker_count(s->w, C_TIMEOUTS);
	smtp_log(GW_LOG_INFO, s->id, "limit data_deadline=%llums exceeded ip=%s octets=%llu",
	         (unsigned long long)s->cfg->limits.data_deadline_ms, s->ip,
	         (unsigned long long)s->tx.received);
	smtp_reply(s, RPL_TIMEOUT, NULL);
	return true;
}

/* ---- teardown ---- */

void smtp_session_free(struct smtp_session *s)
{
	smtp_tx_reset(s);
	if (s->timer)
		event_free(s->timer);
	if (s->proxy_ev)
		event_free(s->proxy_ev);
	if (s->bev)
		bufferevent_free(s->bev); /* closes fd, frees SSL (BEV_OPT_CLOSE_ON_FREE) */
	else if (s->fd >= 0)
		close(s->fd);
	if (s->ip_counted)
		smtp_release_ip(s->ip_key);
	if (s->counted)
		atomic_fetch_sub(&smtp_srv->connections, 1);
	smtp_rdns_free(s);
	free(s->helo);
	free(s->tls_protocol);
	free(s->tls_cipher);
	free(s->auth_user);
	free(s->sasl_login_name);
	free(s->tx.rcpts);
	free(s->tx.rcpt_parts);
	free(s->tx.rcpt_addrs);
	smtp_seam_unref(s->auth);
	smtp_runtime_unref(s->rt);
	free(s);
}

/* ---- input ---- */

/*
 * Takes one command line off the input. Returns 1 with the line in
 * w->line, 0 when no complete line is buffered, -1 when a line was
 * consumed and already answered (too long).
 */
static int read_line(struct smtp_session *s, size_t *len)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct smtp_worker *w = s->w;
	size_t max = s->cfg->limits.max_command_line;
	size_t eol;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		size_t have = evbuffer_get_length(in);
		if (have > max) {
			evbuffer_drain(in, have);
			s->skipping = true;
		}
		return 0;
	}
	size_t total = (size_t)p.pos + 1; /* the limit counts CR LF (RFC 5321 4.5.3.1.4) */
	if (s->skipping || total > max) {
		evbuffer_drain(in, total);
		s->skipping = false;
		smtp_worker_count(w, C_LONG_COMMANDS);
		smtp_log(GW_LOG_INFO, s->id, "limit max_command_line=%zu exceeded", max);
		if (s->state == ST_AUTH)
			smtp_sasl_abort(s, RPL_AUTH_LINE_TOO_LONG); /* RFC 4954 4, 6 */
		else
			smtp_reply(s, RPL_LINE_TOO_LONG, NULL);
		return -1;
	}
	if (w->line_cap < total + 1) {
		char *nl = realloc(w->line, total + 1);
		if (!nl) {
			smtp_reply(s, RPL_NO_MEMORY, NULL);
			return -1;
		}
		w->line = nl;
		w->line_cap = total + 1;
	}
	evbuffer_remove(in, w->line, total);
	size_t n = total - 1;
	if (n && w->line[n - 1] == '\r')
		n--;
	w->line[n] = '\0';
	*len = n;
	return 1;
}

/* DATA / BDAT bytes: through the decoder into the store. Returns true when the phase ended. */
static bool feed_data(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct smtp_tx *tx = &s->tx;
	size_t avail = evbuffer_get_length(in);
	size_t want = avail;
	if (s->state == ST_BDAT && (uint64_t)want > tx->bdat_left)
		want = (size_t)tx->bdat_left;
	size_t used = 0;
	while (used < want && tx->dec.st != DEC_END) {
		struct evbuffer_iovec v[8];
		struct evbuffer_ptr ptr;
		evbuffer_ptr_set(in, &ptr, used, EVBUFFER_PTR_SET);
		int nv = evbuffer_peek(in, (ev_ssize_t)(want - used), &ptr, v, 8);
		if (nv <= 0)
			break;
		for (int i = 0; i < nv && used < want && tx->dec.st != DEC_END; i++) {
			size_t len = v[i].iov_len;
			if (len > want - used)
				len = want - used;
			used += smtp_dec_feed(&tx->dec, v[i].iov_base, len);
		}
	}
	evbuffer_drain(in, used);
	if (s->state == ST_BDAT) {
		tx->bdat_left -= used;
		if (tx->bdat_left)
			return false;
	} else if (tx->dec.st != DEC_END) {
		return false;
	}
	smtp_tx_message_end(s);
	return true;
}

/*
 * Over the high-water mark? A plain session first writes what it holds
 * (the replies wait for the end of the read callback otherwise): it pauses
 * only on what the socket did not take, which libevent's write event then
 * writes, and write_cb resumes reading. Pausing on bytes the socket did
 * take would wait for a write_cb that never comes.
 */
static bool output_full(struct smtp_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (evbuffer_get_length(out) <= output_high_water(s))
		return false;
	smtp_session_flush(s);
	return evbuffer_get_length(out) > output_high_water(s);
}

static void command_loop(struct smtp_session *s)
{
	uint32_t handled = 0;
	while (!s->dead) {
		if (s->state == ST_DATA || s->state == ST_BDAT) {
			if (data_deadline_over(s))
				return;
			arm_data(s);
			if (!feed_data(s))
				return;
			continue;
		}
		if (s->state != ST_COMMAND && s->state != ST_AUTH)
			return;
		if (output_full(s)) {
			/* A client that sends without reading: stop reading, write_cb resumes. */
			smtp_worker_count(s->w, C_OUTPUT_PAUSES);
			smtp_log(GW_LOG_DEBUG, s->id, "limit output_high_water: reading paused");
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (handled >= max_pipelined(s)) {
			bufferevent_trigger(s->bev, EV_READ,
			                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
			return;
		}
		size_t len;
		int r = read_line(s, &len);
		if (r == 0) {
			smtp_session_arm_command(s);
			return;
		}
		s->partial = false;
		handled++;
		if (r < 0)
			continue;
		if (s->state == ST_AUTH)
			smtp_sasl_line(s, s->w->line, len);
		else
			smtp_cmd_dispatch(s, s->w->line, len);
		if (s->starttls) {
			s->starttls = false;
			smtp_session_starttls(s); /* drains what was pipelined after it */
			return;
		}
		if (s->state == ST_COMMAND && s->shutdown_pending && !s->tx.active)
			smtp_reply(s, RPL_SHUTDOWN, NULL);
	}
}

static void process_input(struct smtp_session *s)
{
	if (s->dead)
		return;
	if (s->state == ST_GREETING) {
		smtp_worker_count(s->w, C_EARLY_TALKERS);
		smtp_log(GW_LOG_INFO, s->id, "limit greeting_delay: early talker ip=%s", s->ip);
		smtp_reply(s, RPL_EARLY_TALKER, NULL);
		return;
	}
	command_loop(s);
	if (!s->dead && s->bev) /* what is left: the next read callback's base (top_up_input) */
		s->input_seen = evbuffer_get_length(bufferevent_get_input(s->bev));
}

/*
 * libevent 2.1 reads at most 4096 bytes per read event (EVBUFFER_MAX_READ),
 * each after an FIONREAD ioctl: a 5 KB message cost a second wake-up and
 * three more system calls, a 100 KB one 25 wake-ups. When libevent's read
 * filled that cap, more is probably waiting, and one readv() per step takes
 * it, up to what input_high_water still allows. Plain sockets only (TLS
 * reads through OpenSSL). An end of file or error is left on the socket for
 * libevent's next read to report, as it would have.
 */
enum { LIBEVENT_READ_CAP = 4096, TOP_UP_STEP = 64 * 1024 };

static bool top_up_step(struct smtp_session *s, struct evbuffer *in, size_t want)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
	if (nv <= 0)
		return false;
	size_t asked = 0;
	for (int i = 0; i < nv; i++) {
		size_t len = v[i].iov_len < want - asked ? v[i].iov_len : want - asked;
		iov[i] = (struct iovec){v[i].iov_base, len};
		asked += len;
	}
	ssize_t n = readv(s->fd, iov, nv);
	if (n <= 0) {
		/*
		 * Nothing yet (EAGAIN), or the end, which the socket reports again
		 * to libevent's next read; an error it reports once (ECONNRESET),
		 * so it is kept for event_cb to tell that end from a plain one.
		 */
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			s->read_error = errno;
		evbuffer_commit_space(in, v, 0);
		return false;
	}
	size_t left = (size_t)n;
	for (int i = 0; i < nv; i++) {
		v[i].iov_len = left < iov[i].iov_len ? left : iov[i].iov_len;
		left -= v[i].iov_len;
	}
	if (evbuffer_commit_space(in, v, nv) < 0) { /* cannot happen; bytes of the stream lost */
		smtp_log(GW_LOG_ERROR, s->id, "input buffer refused %zd bytes read: closing", n);
		smtp_session_close_now(s);
		return false;
	}
	return (size_t)n == asked;
}

static void top_up_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t have = evbuffer_get_length(in);
	size_t cap = input_high_water(s);
	if (!s->direct_write || s->fd < 0 || have < s->input_seen + LIBEVENT_READ_CAP)
		return;
	evbuffer_unfreeze(in, 0); /* a bufferevent freezes its input's end: only it adds */
	while (have < cap && !s->dead) {
		size_t want = cap - have < TOP_UP_STEP ? cap - have : TOP_UP_STEP;
		if (!top_up_step(s, in, want))
			break;
		have = evbuffer_get_length(in);
	}
	evbuffer_freeze(in, 0);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	s->in_input = true;
	top_up_input(s);
	process_input(s);
	s->in_input = false;
	if (s->flush_pending)
		smtp_session_flush(s); /* every reply of this read in one write */
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (s->dead)
		return;
	if (s->direct_write) /* the buffer is empty: the next reply is written directly again */
		bufferevent_disable(s->bev, EV_WRITE);
	if (s->state == ST_CLOSING) {
		smtp_session_closing_check(s);
		return;
	}
	if (s->state == ST_COMMAND || s->state == ST_AUTH)
		smtp_session_resume(s); /* was paused at the high-water mark */
}

/* ---- greeting, TLS ---- */

static void greet(struct smtp_session *s)
{
	smtp_session_state(s, ST_COMMAND);
	smtp_reply(s, RPL_GREETING, s->cfg->server.hostname);
	smtp_session_arm_command(s);
	if (evbuffer_get_length(bufferevent_get_input(s->bev)))
		process_input(s);
}

/* Bounds what one session may have buffered unread (libevent stops reading above it). */
static void set_watermarks(struct smtp_session *s)
{
	bufferevent_setwatermark(s->bev, EV_READ, 0, input_high_water(s));
}

static void start_greeting(struct smtp_session *s)
{
	uint64_t delay = s->cfg->limits.greeting_delay_ms;
	set_watermarks(s);
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	/* A plain socket's replies are written directly (smtp_session_flush); TLS through libevent.
	 */
	s->direct_write = !s->ssl;
	if (s->direct_write) /* a new bufferevent starts with EV_WRITE on (not yet armed) */
		bufferevent_disable(s->bev, EV_WRITE);
	bufferevent_enable(s->bev, s->direct_write ? EV_READ : EV_READ | EV_WRITE);
	if (!delay) {
		greet(s);
		return;
	}
	smtp_session_state(s, ST_GREETING);
	smtp_session_arm(s, delay);
	if (evbuffer_get_length(bufferevent_get_input(s->bev)))
		process_input(s); /* came with the TLS handshake: an early talker too */
}

static char *dup_or_null(const char *p)
{
	return p ? strdup(p) : NULL;
}

static void handshake_done(struct smtp_session *s)
{
	bool implicit = s->lst->mode == LISTEN_SMTPS && !s->tls;
	s->tls = true;
	free(s->tls_protocol);
	free(s->tls_cipher);
	s->tls_protocol = dup_or_null(SSL_get_version(s->ssl));
	s->tls_cipher = dup_or_null(SSL_get_cipher_name(s->ssl));
	metrics_add(M_TLS_HANDSHAKES, s->tls_protocol ? s->tls_protocol : "unknown", NULL, 1);
	smtp_log(GW_LOG_INFO, s->id, "tls %s %s", s->tls_protocol ? s->tls_protocol : "?",
	         s->tls_cipher ? s->tls_cipher : "?");
	if (implicit) {
		start_greeting(s);
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before the handshake. */
	smtp_tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	smtp_session_state(s, ST_COMMAND);
	smtp_session_arm_command(s);
	/* TLS 1.3 data may come with the client's Finished: it is already decrypted. */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)))
		process_input(s);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (s->dead)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == ST_HANDSHAKE)
			handshake_done(s);
		return;
	}
	if ((what & BEV_EVENT_EOF) && s->read_error) { /* the end our own read saw first */
		what = BEV_EVENT_READING | BEV_EVENT_ERROR;
		errno = s->read_error;
	}
	if (s->state == ST_HANDSHAKE) {
		smtp_worker_count(s->w, C_TLS_FAILURES);
		unsigned long e = bufferevent_get_openssl_error(bev);
		char eb[256] = "";
		if (e)
			ERR_error_string_n(e, eb, sizeof eb);
		smtp_log(GW_LOG_INFO, s->id, "tls handshake failed ip=%s %s", s->ip, eb);
	} else if (what & BEV_EVENT_ERROR) {
		smtp_log(GW_LOG_INFO, s->id, "connection error: %s", strerror(errno));
	} else if (!s->ssl && s->state != ST_DELIVERY && smtp_session_pending_output(s)) {
		/*
		 * EOF is a half-close: the answers already queued still go out
		 * (a TLS layer that saw the peer close may never write them).
		 */
		smtp_session_begin_close(s);
		return;
	}
	smtp_session_close_now(s);
}

static SSL *new_ssl(struct smtp_session *s)
{
	if (!s->rt->tls)
		return NULL;
	return smtp_tls_ssl(s->rt->tls);
}

static void smtp_session_starttls(struct smtp_session *s)
{
	/* CVE-2011-0411: nothing the client sent with STARTTLS survives it. */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = new_ssl(s);
	if (!ssl) {
		smtp_reply(s, RPL_TLS_UNAVAILABLE, NULL);
		return;
	}
	smtp_reply(s, RPL_STARTTLS_GO, NULL);
	/* The 220 leaves first, then TLS through the plain layer's write event, as libevent does.
	 */
	smtp_session_flush(s);
	s->direct_write = false;
	bufferevent_enable(s->bev, EV_WRITE);
	struct bufferevent *f = bufferevent_openssl_filter_new(
	    s->w->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!f) {
		SSL_free(ssl);
		smtp_reply(s, RPL_NO_MEMORY, NULL);
		return;
	}
	s->bev = f;
	s->ssl = ssl;
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	smtp_session_state(s, ST_HANDSHAKE);
	set_watermarks(s);
	bufferevent_setcb(f, read_cb, write_cb, event_cb, s);
	bufferevent_enable(f, EV_READ | EV_WRITE);
	smtp_session_arm(s, s->cfg->limits.tls_handshake_timeout_ms);
}

/* After the client address is final (PROXY done or not used). */
static void admitted(struct smtp_session *s)
{
	uint32_t per_ip = s->cfg->limits.max_connections_per_ip;
	smtp_admit_key(s->ip, s->cfg->limits.ipv6_prefix_per_ip, s->ip_key, sizeof s->ip_key);
	if (!smtp_admit_ip(s->ip_key, per_ip)) {
		smtp_worker_count(s->w, C_REFUSED_PER_IP);
		metrics_add(M_CONNECTIONS, s->lst->address, "refused_max_connections_per_ip", 1);
		smtp_log(GW_LOG_WARN, s->id, "limit max_connections_per_ip=%u refused ip=%s",
		         per_ip, s->ip);
		if (s->lst->mode != LISTEN_SMTPS)
			smtp_reply(s, RPL_TOO_MANY_CONN_IP, NULL);
		smtp_session_close_now(s);
		return;
	}
	s->ip_counted = true;
	metrics_add(M_CONNECTIONS, s->lst->address, "accepted", 1);
	smtp_rdns_start(s);
	smtp_log(GW_LOG_INFO, s->id, "connect ip=%s port=%u listener=%s", s->ip, s->port,
	         s->lst->address);
	struct event_base *base = s->w->base;
	if (s->lst->mode == LISTEN_SMTPS) {
		SSL *ssl = new_ssl(s);
		if (!ssl) {
			smtp_log(GW_LOG_ERROR, s->id, "smtps listener without a certificate");
			smtp_session_close_now(s);
			return;
		}
		s->ssl = ssl;
		s->bev = bufferevent_openssl_socket_new(base, s->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
		if (s->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else
			SSL_free(ssl);
	} else {
		s->bev = bufferevent_socket_new(base, s->fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!s->bev) {
		smtp_session_close_now(s);
		return;
	}
	if (s->lst->mode == LISTEN_SMTPS) {
		smtp_session_state(s, ST_HANDSHAKE);
		bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		smtp_session_arm(s, s->cfg->limits.tls_handshake_timeout_ms);
		return;
	}
	start_greeting(s);
}

static void set_addr(struct smtp_session *s, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], s->ip, sizeof s->ip);
		else
			inet_ntop(AF_INET6, &a->sin6_addr, s->ip, sizeof s->ip);
		s->port = ntohs(a->sin6_port);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, s->ip, sizeof s->ip);
		s->port = ntohs(a->sin_port);
	} else {
		snprintf(s->ip, sizeof s->ip, "unknown");
	}
}

static bool cidr_match(const struct gw_cidr *c, const struct sockaddr *sa)
{
	const uint8_t *a;
	uint8_t mapped[4];
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (c->family == AF_INET && IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(mapped, &a6->s6_addr[12], 4);
			a = mapped;
		} else {
			a = a6->s6_addr;
			if (c->family != AF_INET6)
				return false;
		}
	}
	if (sa->sa_family == AF_INET && c->family != AF_INET)
		return false;
	int bits = c->prefix;
	for (int i = 0; bits > 0; i++, bits -= 8) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		if ((a[i] & mask) != (c->addr[i] & mask))
			return false;
	}
	return true;
}

/* The configuration refuses proxy_protocol without proxy_trusted: an empty list trusts no one. */
static bool proxy_trusted(const struct gw_listener *l, const struct sockaddr *sa)
{
	for (size_t i = 0; i < l->n_proxy_trusted; i++)
		if (cidr_match(&l->proxy_trusted[i], sa))
			return true;
	return false;
}

static void proxy_refuse(struct smtp_session *s, const char *why)
{
	smtp_worker_count(s->w, C_PROXY_REFUSED);
	metrics_add(M_CONNECTIONS, s->lst->address, "proxy_refused", 1);
	smtp_log(GW_LOG_WARN, s->id, "proxy refused ip=%s: %s", s->ip, why);
	smtp_session_close_now(s);
}

static void proxy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	unsigned char buf[PROXY_V2_MAX];
	struct proxy_info pi;
	(void)what;
	if (s->dead)
		return;
	/* Peek, so that not one byte after the header is taken from the socket. */
	ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		proxy_refuse(s, "closed before the header");
		return;
	}
	enum proxy_result r = proxy_parse(buf, (size_t)n, &pi);
	if (r == PROXY_NEED_MORE && (size_t)n < sizeof buf)
		return;
	if (r != PROXY_OK) {
		proxy_refuse(s, "malformed header");
		return;
	}
	if (recv(fd, buf, pi.header_len, 0) != (ssize_t)pi.header_len) {
		proxy_refuse(s, "short read");
		return;
	}
	event_free(s->proxy_ev);
	s->proxy_ev = NULL;
	evtimer_del(s->timer);
	if (!pi.local)
		set_addr(s, (const struct sockaddr *)&pi.src);
	smtp_log(GW_LOG_DEBUG, s->id, "proxy client %s:%u", s->ip, s->port);
	admitted(s);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	if (s->dead)
		return;
	switch (s->state) {
	case ST_GREETING:
		greet(s);
		return;
	case ST_AUTH_DELAY:
		smtp_session_state(s, ST_COMMAND);
		if (s->n_auth_failures >= s->cfg->limits.max_auth_failures &&
		    s->cfg->limits.max_auth_failures) {
			smtp_log(GW_LOG_WARN, s->id, "limit max_auth_failures=%u reached ip=%s",
			         s->cfg->limits.max_auth_failures, s->ip);
			smtp_reply(s, RPL_AUTH_TOO_MANY, NULL);
			return;
		}
		smtp_reply(s, RPL_AUTH_FAIL, NULL);
		smtp_session_resume(s);
		return;
	case ST_PROXY:
		proxy_refuse(s, "timeout");
		return;
	case ST_CLOSING:
		smtp_session_closing_check(s);
		return;
	case ST_HANDSHAKE:
		smtp_log(GW_LOG_INFO, s->id, "timeout in state %s", smtp_state_names[s->state]);
		smtp_session_close_now(s);
		return;
	case ST_SPF:
	case ST_DELIVERY:
		smtp_seam_timeout(s); /* the only timer of these states: [auth] timeout */
		return;
	case ST_DATA:
	case ST_BDAT:
		if (data_deadline_over(s))
			return;
		break;
	default:
		break;
	}
	smtp_worker_count(s->w, C_TIMEOUTS);
	smtp_log(GW_LOG_INFO, s->id, "limit timeout in state %s ip=%s", smtp_state_names[s->state],
	         s->ip);
	smtp_reply(s, RPL_TIMEOUT, NULL);
}

void smtp_session_shutdown(struct smtp_session *s)
{
	if (s->dead)
		return;
	s->shutdown_pending = true;
	switch (s->state) {
	case ST_COMMAND:
		if (!s->tx.active)
			smtp_reply(s, RPL_SHUTDOWN, NULL);
		return;
	case ST_GREETING:
	case ST_AUTH:
	case ST_AUTH_DELAY:
		smtp_reply(s, RPL_SHUTDOWN, NULL);
		return;
	case ST_PROXY:
	case ST_HANDSHAKE:
		smtp_session_close_now(s);
		return;
	default:
		return; /* DATA, BDAT, delivery: finish, then 421 */
	}
}

void smtp_session_new(struct smtp_worker *w, size_t li, int fd, const struct sockaddr *sa,
                      socklen_t salen)
{
	struct smtp_session *s = calloc(1, sizeof *s);
	(void)salen;
	if (!s) {
		close(fd);
		return;
	}
	s->w = w;
	s->fd = fd;
	/* Replies are batched by us (one write per wake-up); Nagle would only hold the
	 * reply that follows a delivery behind the client's delayed ACK. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->rt = smtp_runtime_ref(w->rt);
	s->cfg = s->rt->cfg;
	s->auth = smtp_seam_ref(w);
	s->lst = &s->cfg->listeners[li < s->cfg->n_listeners ? li : 0];
	s->id = ((uint64_t)(w->index + 1) << 40) | ++w->next_id;
	s->tx.msg.fd = -1;
	s->state = ST_ACCEPT;
	set_addr(s, sa);
	smtp_worker_attach(w, s);
	smtp_worker_count(w, C_CONNECTIONS);
	s->timer = evtimer_new(w->base, timer_cb, s);
	if (!s->timer) {
		smtp_session_close_now(s);
		return;
	}
	uint32_t max = s->cfg->limits.max_connections;
	unsigned now = atomic_fetch_add(&smtp_srv->connections, 1) + 1;
	s->counted = true;
	if (w->draining || (max && now > max)) {
		smtp_worker_count(w, C_REFUSED_TOTAL);
		metrics_add(M_CONNECTIONS, s->lst->address,
		            w->draining ? "refused_draining" : "refused_max_connections", 1);
		smtp_log(GW_LOG_WARN, s->id, "limit max_connections=%u refused ip=%s", max, s->ip);
		if (s->lst->mode != LISTEN_SMTPS)
			smtp_reply(s, w->draining ? RPL_SHUTDOWN : RPL_TOO_MANY_CONN, NULL);
		smtp_session_close_now(s);
		return;
	}
	if (!s->lst->proxy_protocol) {
		admitted(s);
		return;
	}
	if (!proxy_trusted(s->lst, sa)) {
		proxy_refuse(s, "untrusted source");
		return;
	}
	smtp_session_state(s, ST_PROXY);
	s->proxy_ev = event_new(w->base, fd, EV_READ | EV_PERSIST | EV_ET, proxy_cb, s);
	if (!s->proxy_ev || event_add(s->proxy_ev, NULL)) {
		smtp_session_close_now(s);
		return;
	}
	smtp_session_arm(s, s->cfg->limits.proxy_timeout_ms);
}
