/*
 * smtp_seam.c: sender authentication (include/auth.h: SPF RFC 7208, DKIM
 * RFC 6376, ARC RFC 8617, DMARC RFC 7489/9989) wired into the session.
 * Owns the per-worker resolver and auth contexts, the transaction's auth
 * state, the early SPF answers (RFC 7372 enhanced codes: 550 5.7.23 at
 * MAIL under [auth] spf = "enforce", at RCPT for a route that enforces;
 * 451 4.7.24 for a temporary error), the end-of-data checks, and the
 * removal of Authentication-Results fields that claim our authserv-id
 * (RFC 8601 section 5) before ours is prepended.
 *
 * Checks return verdicts, they never act (STYLE 10b): every decision goes
 * back to the transaction's owner (smtp_tx.c) as a struct smtp_seam_verdict,
 * returned at once or passed later to the one callback it gave at MAIL.
 * This file writes no reply, sets no session state, arms no timer and
 * closes nothing; the refusals are reply ids of the catalogue.
 *
 * Every callback of auth.h comes on the worker's loop with the session as
 * argument: smtp_seam_tx_end() (from smtp_tx_reset(), which the session's
 * teardown runs too) calls auth_tx_free(), after which none comes, so the
 * pointer cannot outlive the session; a session already buried ignores them.
 *
 * Never: block, query DNS when every policy that could apply is off, let a
 * client's own Authentication-Results with our authserv-id through, give a
 * verdict twice.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "smtp_seam.h"
#include "smtp_session.h"

/* One auth context per worker and configuration (sessions keep theirs across a reload). */
struct smtp_auth {
	unsigned refs;           /* the worker's while current, plus one per session */
	struct smtp_runtime *rt; /* ctx points into rt->cfg */
	struct auth_ctx ctx;
	bool needed; /* some policy ([auth] or a route) is not off */
};

enum seam_wait { WAIT_NONE, WAIT_MAIL, WAIT_RCPT, WAIT_MESSAGE };

struct smtp_seam_tx {
	struct auth_tx *tx;
	bool spf_expected; /* SPF runs: its callback will come */
	bool spf_known;
	bool starting; /* inside auth_tx_start(): answer after it returns */
	enum spf_result spf;
	struct auth_verdict spf_global; /* under [auth] spf */
	enum seam_wait wait;
	bool timed_out;               /* [auth] timeout: SPF is temperror, late answers ignored */
	struct event *gone;           /* the client's FIN while we wait (reading is off) */
	char rcpt[SMTP_PATH_MAX + 1]; /* the RCPT waiting for SPF */
	struct route_match match;
	smtp_seam_fn done; /* the transaction's owner, for the verdicts that come later */
};

/* ---- contexts ---- */

static bool policy_on(enum gw_policy p)
{
	return p != POLICY_OFF;
}

static bool cfg_needs_auth(const struct gw_config *cfg)
{
	const struct gw_auth *a = &cfg->auth;
	if (policy_on(a->spf) || policy_on(a->dkim) || policy_on(a->dmarc) || policy_on(a->arc))
		return true;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct gw_route_opts *o = &cfg->routes[i].opts;
		if (policy_on(o->spf) || policy_on(o->dkim) || policy_on(o->dmarc))
			return true;
	}
	return false;
}

static struct smtp_auth *auth_new(struct smtp_worker *w, struct smtp_runtime *rt)
{
	struct smtp_auth *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	if (auth_ctx_init(&a->ctx, w->dns, rt->cfg) < 0) {
		free(a);
		return NULL;
	}
	a->ctx.base = w->base; /* large messages' DKIM/ARC hashing comes back to this loop */
	a->refs = 1;
	a->rt = smtp_runtime_ref(rt);
	a->needed = cfg_needs_auth(rt->cfg);
	return a;
}

void smtp_seam_unref(struct smtp_auth *a)
{
	if (!a || --a->refs)
		return;
	auth_ctx_fini(&a->ctx);
	smtp_runtime_unref(a->rt);
	free(a);
}

struct smtp_auth *smtp_seam_ref(struct smtp_worker *w)
{
	if (w->auth)
		w->auth->refs++;
	return w->auth;
}

int smtp_seam_worker_init(struct smtp_worker *w)
{
	w->dns = dns_c_ares_new(w->base, &w->rt->cfg->dns);
	if (!w->dns)
		return -1;
	w->auth = auth_new(w, w->rt);
	return w->auth ? 0 : -1;
}

void smtp_seam_worker_reload(struct smtp_worker *w)
{
	struct smtp_auth *a = auth_new(w, w->rt);
	if (!a) {
		smtp_log(GW_LOG_ERROR, 0,
		         "worker %d: sender authentication keeps the old configuration", w->index);
		return;
	}
	smtp_seam_unref(w->auth);
	w->auth = a;
}

/* After every session is gone: nothing can call back into the resolver any more. */
void smtp_seam_worker_fini(struct smtp_worker *w)
{
	smtp_seam_unref(w->auth);
	w->auth = NULL;
	if (w->dns)
		dns_c_ares_free(w->dns);
	w->dns = NULL;
}

/* ---- verdicts ---- */

static bool refuses(const struct auth_verdict *v)
{
	return v->action == AUTH_REJECT || v->action == AUTH_TEMPFAIL;
}

/* The catalogue's row for each refusal of auth.h. */
static enum smtp_reply_id refusal_reply(const struct auth_verdict *v)
{
	static const enum smtp_reply_id map[AUTH_V_MAX] = {
	    [AUTH_V_SPF_FAIL] = RPL_AUTH_SPF_FAIL,
	    [AUTH_V_SPF_TEMP] = RPL_AUTH_SPF_TEMP,
	    [AUTH_V_DKIM_FAIL] = RPL_AUTH_DKIM_FAIL,
	    [AUTH_V_DKIM_TEMP] = RPL_AUTH_DKIM_TEMP,
	    [AUTH_V_ARC_FAIL] = RPL_AUTH_ARC_FAIL,
	    [AUTH_V_ARC_TEMP] = RPL_AUTH_ARC_TEMP,
	    [AUTH_V_DMARC_REJECT] = RPL_AUTH_DMARC_REJECT,
	    [AUTH_V_DMARC_PERMERROR] = RPL_AUTH_DMARC_PERMERROR,
	    [AUTH_V_DMARC_TEMP] = RPL_AUTH_DMARC_TEMP,
	};
	if (!refuses(v))
		return RPL_NONE;
	enum smtp_reply_id r = (unsigned)v->id < AUTH_V_MAX ? map[v->id] : RPL_NONE;
	/* Fails closed: a refusal without a row is a temporary refusal, never a pass. */
	return r ? r : RPL_AUTH_TIMEOUT;
}

static void verdict_of(struct smtp_seam_verdict *out, enum smtp_seam_step step,
                       const struct auth_verdict *v)
{
	memset(out, 0, sizeof *out);
	out->step = step;
	out->refuse = refusal_reply(v);
	out->check = v->check ? v->check : "auth";
}

/*
 * A FIN is a half-close: a client that pipelined its whole message (and
 * QUIT) may shut its write side and still read our answer, so EOF ends the
 * wait only while nothing complete is at stake (MAIL or RCPT waiting for
 * SPF). A reset (or a pending socket error) always means gone. EV_CLOSED
 * sees a FIN only (libevent reports a reset as EV_READ|EV_WRITE), so the
 * end of the checks looks again before delivering.
 */
static bool client_reset(int fd)
{
	struct tcp_info ti;
	int err = 0;
	socklen_t len = sizeof err;
	if (fd < 0)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
		return true;
	len = sizeof ti;
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE;
}

static void watch_client(struct smtp_session *s, bool on);

/* The client went away while its checks ran: the owner ends the session, which cancels them. */
static void gone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct smtp_seam_tx *st = s->tx.seam;
	(void)what;
	if (s->dead || !st)
		return;
	if (st->wait == WAIT_MESSAGE && !client_reset(fd)) {
		smtp_log(GW_LOG_DEBUG, s->id,
		         "client half-closed: the message is complete, answering");
		event_del(st->gone); /* level-triggered: it would fire again at once */
		return;
	}
	struct smtp_seam_verdict v = {.step = SEAM_GONE};
	st->wait = WAIT_NONE;
	watch_client(s, false);
	st->done(s, &v);
}

/*
 * Reading is off while we wait, so the bufferevent cannot see a FIN:
 * EV_CLOSED (EPOLLRDHUP) does, without reading a byte of what was pipelined.
 */
static void watch_client(struct smtp_session *s, bool on)
{
	struct smtp_seam_tx *st = s->tx.seam;
	if (!on) {
		if (st->gone)
			event_del(st->gone);
		return;
	}
	if (!st->gone && s->fd >= 0)
		st->gone = event_new(s->w->base, s->fd, EV_CLOSED, gone_cb, s);
	if (st->gone)
		event_add(st->gone, NULL);
}

/* Waits for SPF: the owner stops reading (the replies must leave in order). */
static enum smtp_seam_wait wait_spf(struct smtp_session *s, enum seam_wait what)
{
	s->tx.seam->wait = what;
	watch_client(s, true);
	return SEAM_LATER;
}

static void mail_verdict(struct smtp_session *s, struct smtp_seam_verdict *out)
{
	verdict_of(out, SEAM_MAIL, &s->tx.seam->spf_global);
}

static void rcpt_verdict(struct smtp_session *s, const struct route_match *m,
                         struct smtp_seam_verdict *out)
{
	struct auth_policy p;
	struct auth_verdict v;
	auth_policy_route(&p, &s->cfg->auth, &m->route->opts);
	auth_spf_verdict(&p, s->tx.seam->spf, &v);
	verdict_of(out, SEAM_RCPT, &v);
}

/* SPF is known (or timed out) while MAIL or RCPT waits: the verdict goes to the owner. */
static void spf_settled(struct smtp_session *s)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct smtp_seam_verdict v;
	enum seam_wait w = st->wait;
	st->wait = WAIT_NONE;
	watch_client(s, false);
	if (w == WAIT_MAIL) {
		mail_verdict(s, &v);
	} else {
		rcpt_verdict(s, &st->match, &v);
		v.rcpt = st->rcpt;
		v.match = &st->match;
	}
	st->done(s, &v);
}

static void on_spf(void *arg, const struct auth_spf_info *info)
{
	struct smtp_session *s = arg;
	struct smtp_seam_tx *st = s->tx.seam;
	if (s->dead || !st || st->timed_out)
		return;
	st->spf_known = true;
	st->spf = info->result;
	st->spf_global = info->verdict;
	smtp_log(GW_LOG_DEBUG, s->id, "spf %s domain=%s", spf_result_name(info->result),
	         info->domain ? info->domain : "");
	if (st->starting || (st->wait != WAIT_MAIL && st->wait != WAIT_RCPT))
		return;
	spf_settled(s);
}

/* ---- MAIL and RCPT ---- */

/* The client's address for SPF; NULL when it is not an IP address. */
static const struct sockaddr *client_addr(const struct smtp_session *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, s->ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return (const struct sockaddr *)ss;
	}
	if (inet_pton(AF_INET6, s->ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return (const struct sockaddr *)ss;
	}
	return NULL;
}

enum smtp_seam_wait smtp_seam_mail(struct smtp_session *s, smtp_seam_fn done,
                                   struct smtp_seam_verdict *out)
{
	struct smtp_auth *a = s->auth;
	struct sockaddr_storage ss;
	memset(out, 0, sizeof *out);
	out->step = SEAM_MAIL;
	if (!a || !a->needed)
		return SEAM_NOW;
	struct smtp_seam_tx *st = calloc(1, sizeof *st);
	if (!st) {
		out->refuse = RPL_NO_MEMORY;
		return SEAM_NOW;
	}
	s->tx.seam = st;
	st->done = done;
	const struct sockaddr *sa = client_addr(s, &ss);
	st->spf_expected = sa && a->ctx.any_spf;
	st->starting = true;
	st->tx = auth_tx_start(&a->ctx, sa, s->helo, s->tx.mail_from, on_spf, s);
	st->starting = false;
	if (!st->tx) {
		out->refuse = RPL_NO_MEMORY;
		return SEAM_NOW;
	}
	if (a->ctx.policy.spf != POLICY_ENFORCE || !st->spf_expected)
		return SEAM_NOW;
	if (!st->spf_known)
		return wait_spf(s, WAIT_MAIL);
	mail_verdict(s, out);
	return SEAM_NOW;
}

enum smtp_seam_wait smtp_seam_rcpt(struct smtp_session *s, const char *addr,
                                   const struct route_match *m, struct smtp_seam_verdict *out)
{
	struct smtp_seam_tx *st = s->tx.seam;
	memset(out, 0, sizeof *out);
	out->step = SEAM_RCPT;
	out->rcpt = addr;
	out->match = m;
	if (!st || !st->spf_expected || m->route->opts.spf != POLICY_ENFORCE)
		return SEAM_NOW;
	if (st->spf_known) {
		rcpt_verdict(s, m, out);
		out->rcpt = addr;
		out->match = m;
		return SEAM_NOW;
	}
	snprintf(st->rcpt, sizeof st->rcpt, "%s", addr);
	st->match = *m;
	return wait_spf(s, WAIT_RCPT);
}

/* ---- end of data ---- */

static const char *authserv_id(const struct smtp_session *s)
{
	const char *h = s->cfg->server.hostname;
	return h && *h ? h : "localhost"; /* as auth_ctx_init() */
}

/* RFC 8601 section 5: fields claiming our authserv-id come from the sender: cut them. */
static int strip_forged(struct smtp_session *s)
{
	struct message_bytes b;
	if (smtp_msg_body(&s->tx.msg, &b))
		return -1;
	const char *id = authserv_id(s);
	size_t n = auth_ar_ranges(b.data, b.len, id, NULL, 0);
	if (!n)
		return 0;
	size_t *r = calloc(2 * n, sizeof *r);
	if (!r)
		return -1;
	auth_ar_ranges(b.data, b.len, id, r, n);
	int rc = smtp_msg_cut(&s->tx.msg, r, n);
	free(r);
	smtp_log(GW_LOG_INFO, s->id, "removed %zu Authentication-Results field(s) claiming %s", n,
	         id);
	return rc;
}

/* The message may go: with these results, once the forged fields are cut. */
static void deliver_verdict(struct smtp_session *s, const json_t *auth, const char *ar_field,
                            struct smtp_seam_verdict *out)
{
	memset(out, 0, sizeof *out);
	out->step = SEAM_MESSAGE;
	out->auth = auth;
	out->ar_field = ar_field;
	if (strip_forged(s))
		out->refuse = RPL_DELIVERY_FAILED; /* the store failed: 451, not delivered */
}

static void on_done(void *arg, const struct auth_outcome *out)
{
	struct smtp_session *s = arg;
	struct smtp_seam_tx *st = s->tx.seam;
	struct smtp_seam_verdict v;
	if (s->dead || !st)
		return;
	st->wait = WAIT_NONE;
	watch_client(s, false); /* the delivery has its own rules for a vanished client */
	if (client_reset(s->fd)) {
		v = (struct smtp_seam_verdict){.step = SEAM_GONE};
		st->done(s, &v);
		return;
	}
	smtp_log(GW_LOG_INFO, s->id, "auth %s", out->ar_value);
	if (!refuses(&out->verdict)) {
		deliver_verdict(s, out->auth, out->ar_field, &v);
	} else {
		verdict_of(&v, SEAM_MESSAGE, &out->verdict);
		v.auth = out->auth;
	}
	st->done(s, &v);
}

enum smtp_seam_wait smtp_seam_end_of_data(struct smtp_session *s, const struct message_bytes *body,
                                          smtp_seam_fn done, struct smtp_seam_verdict *out)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct auth_policy pol;
	if (!st) {
		deliver_verdict(s, NULL, NULL, out);
		return SEAM_NOW;
	}
	auth_policy_route(&pol, &s->cfg->auth, &s->tx.route->opts);
	if (!policy_on(pol.spf) && !policy_on(pol.dkim) && !policy_on(pol.dmarc) &&
	    !policy_on(pol.arc)) {
		deliver_verdict(s, NULL, NULL, out); /* this route checks nothing: no DNS work */
		return SEAM_NOW;
	}
	st->done = done;
	st->wait = WAIT_MESSAGE;
	watch_client(s, true);
	auth_tx_message(st->tx, body->data, body->len, &pol, on_done, s);
	return SEAM_LATER; /* the verdict may have come already, through done */
}

/*
 * [auth] timeout: what still runs is cancelled and counts as temperror.
 * While MAIL or RCPT waits for SPF (enforce), SPF is temperror: 451 4.7.24
 * by the same verdicts as a DNS failure, and a late answer is ignored. At
 * the end of data, a route that enforces any check answers 451 4.7.1 (the
 * client tries again later); otherwise the message is delivered with no
 * auth results (payload auth null, no Authentication-Results of ours),
 * rather than held back by a slow DNS server.
 */
static void timeout_spf(struct smtp_session *s)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct auth_policy p;
	st->timed_out = true;
	st->spf_known = true;
	st->spf = SPF_TEMPERROR;
	auth_policy_global(&p, &s->cfg->auth);
	auth_spf_verdict(&p, SPF_TEMPERROR, &st->spf_global);
	spf_settled(s);
}

void smtp_seam_timeout(struct smtp_session *s)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct auth_policy pol;
	struct smtp_seam_verdict v;
	if (!st || st->wait == WAIT_NONE)
		return;
	smtp_log(GW_LOG_INFO, s->id, "limit auth timeout=%llums: checks cancelled, temperror",
	         (unsigned long long)s->cfg->auth.timeout_ms);
	if (st->wait != WAIT_MESSAGE) {
		timeout_spf(s);
		return;
	}
	st->wait = WAIT_NONE;
	watch_client(s, false);
	auth_tx_free(st->tx); /* cancels the DNS work: no callback after this */
	st->tx = NULL;
	auth_policy_route(&pol, &s->cfg->auth, &s->tx.route->opts);
	if (pol.spf == POLICY_ENFORCE || pol.dkim == POLICY_ENFORCE ||
	    pol.dmarc == POLICY_ENFORCE) {
		v = (struct smtp_seam_verdict){
		    .step = SEAM_MESSAGE, .refuse = RPL_AUTH_TIMEOUT, .check = "auth timeout"};
		st->done(s, &v);
		return;
	}
	deliver_verdict(s, NULL, NULL, &v);
	st->done(s, &v);
}

void smtp_seam_tx_end(struct smtp_session *s)
{
	struct smtp_seam_tx *st = s->tx.seam;
	if (!st)
		return;
	s->tx.seam = NULL;
	auth_tx_free(st->tx);
	if (st->gone)
		event_free(st->gone);
	free(st);
}
