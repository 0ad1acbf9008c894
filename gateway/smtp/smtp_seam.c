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
 * The spam check (include/spam.h, docs/spam.md) runs at the end of data
 * beside DKIM/ARC/DMARC, so the two waits overlap: whichever answers last
 * gives the verdict, sender authentication's refusal first, then rspamd's
 * under the route's spam policy (enforce: reject 550 5.7.1, soft reject
 * and greylist 451 4.7.1; a failed check: [spam] spam_failure).
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
 * verdict twice, ask rspamd about a message whose route's spam is off.
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
#include "delivery.h"
#include "smtp_seam.h"
#include "smtp_session.h"
#include "sockaddr_text.h"
#include "spam.h"

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
	/* End of data: authentication and rspamd run side by side; the last to answer decides. */
	bool auth_running;
	bool ending; /* inside auth_tx_message(): a verdict from the caches is answered after it */
	bool auth_timed_out;         /* [auth] timeout cancelled the checks */
	json_t *auth_json;           /* their results (a reference), or NULL */
	char *ar_field;              /* Authentication-Results + CRLF, or NULL */
	struct auth_verdict verdict; /* theirs (refusals first) */
	bool spam_running;
	enum spam_status spam_status; /* SPAM_STARTED: no check was due */
	struct spam_check *spam;      /* owns rspamd's answer until the transaction ends */
	char spam_why[160];           /* a failed or skipped check: the payload's warning */
	char *fields;                 /* rspamd's fields (and a rewritten Subject) to prepend */
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
	w->spam = spam_client_new(delivery_multi(w->delivery), &w->rt->cfg->spam);
	w->auth = auth_new(w, w->rt);
	return w->auth && w->spam ? 0 : -1;
}

void smtp_seam_worker_reload(struct smtp_worker *w)
{
	/* First: the old configuration goes once this returns, whatever happens below. */
	spam_client_set_config(w->spam, &w->rt->cfg->spam);
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
	spam_client_free(w->spam);
	w->spam = NULL;
	if (w->dns)
		dns_c_ares_free(w->dns);
	w->dns = NULL;
}

/* ---- verdicts ---- */

static bool refuses(const struct auth_verdict *v)
{
	return v->action == AUTH_REJECT || v->action == AUTH_TEMPFAIL;
}

/* A refusal's row of the catalogue; RPL_NONE when the verdict lets the message on. */
static enum smtp_reply_id refusal_reply(const struct auth_verdict *v)
{
	return refuses(v) ? smtp_catalog_auth(v->id) : RPL_NONE;
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
	/* the client's address for SPF; NULL when it is not an IP address */
	const struct sockaddr *sa = sockaddr_text_parse(s->ip, &ss);
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

/* The header fields find() names in the stored message (ranges as auth_ar_ranges()),
 * cut. Returns how many, or -1. */
typedef size_t (*field_finder)(const char *msg, size_t len, const char *key, size_t *ranges,
                               size_t max);
static long cut_found(struct smtp_session *s, field_finder find, const char *key)
{
	struct message_bytes b;
	if (smtp_msg_body(&s->tx.msg, &b))
		return -1;
	size_t n = find(b.data, b.len, key, NULL, 0);
	if (!n)
		return 0;
	size_t *r = calloc(2 * n, sizeof *r);
	if (!r)
		return -1;
	find(b.data, b.len, key, r, n);
	int rc = smtp_msg_cut(&s->tx.msg, r, n);
	free(r);
	return rc < 0 ? -1 : (long)n;
}

/* RFC 8601 section 5: fields claiming our authserv-id come from the sender: cut them. */
static int strip_forged(struct smtp_session *s)
{
	const char *id = authserv_id(s);
	long n = cut_found(s, auth_ar_ranges, id);
	if (n > 0)
		smtp_log(GW_LOG_INFO, s->id,
		         "removed %ld Authentication-Results field(s) claiming %s", n, id);
	return n < 0 ? -1 : 0;
}

/* ---- the spam check (include/spam.h) ---- */

static enum gw_policy spam_policy(const struct smtp_session *s)
{
	return s->tx.route ? s->tx.route->opts.spam : POLICY_OFF;
}

/*
 * The delivery id this message will be posted under (rspamd's Queue-Id):
 * the envelope it hashes, from the transaction's recipients.
 */
static int queue_id(struct smtp_session *s, const struct message_bytes *body,
                    char id[DELIVERY_ID_SIZE])
{
	struct smtp_tx *tx = &s->tx;
	struct envelope env = {
	    .mail_from = tx->mail_from, .n_rcpts = tx->n_rcpts, .size = tx->received};
	env.rcpts = calloc(tx->n_rcpts ? tx->n_rcpts : 1, sizeof *env.rcpts);
	if (!env.rcpts)
		return -1;
	char *a = tx->rcpt_addrs;
	for (size_t i = 0; i < tx->n_rcpts; i++, a += strlen(a) + 1)
		env.rcpts[i].address = a;
	delivery_message_id(tx->route, &env, body, id);
	free(env.rcpts);
	return 0;
}

static void spam_ended(struct smtp_session *s, enum spam_status r, const char *why);
static void message_settled(struct smtp_session *s);

static void on_spam(void *arg, struct spam_check *ck)
{
	struct smtp_session *s = arg;
	struct smtp_seam_tx *st = s->tx.seam;
	const char *why = NULL;
	if (s->dead || !st || st->spam != ck)
		return;
	enum spam_status r = spam_check_status(ck, &why);
	st->spam_running = false;
	spam_ended(s, r, why);
	if (!st->auth_running)
		message_settled(s);
}

/* The check's outcome, for the log and (a failure, a skip) the payload's warning. */
static void spam_ended(struct smtp_session *s, enum spam_status r, const char *why)
{
	struct smtp_seam_tx *st = s->tx.seam;
	const struct spam_reply *rep = st->spam ? spam_check_reply(st->spam) : NULL;
	st->spam_status = r;
	if (rep) {
		log_msg(GW_LOG_INFO, LS_SPAM, s->id, NULL,
		        "spam action=\"%s\" score=%.2f/%.2f ms=%llu", spam_action_name(rep->action),
		        rep->score, rep->required_score,
		        (unsigned long long)spam_check_ms(st->spam));
		return;
	}
	snprintf(st->spam_why, sizeof st->spam_why, "%s", why ? why : "unknown");
	log_msg(r == SPAM_SKIPPED ? GW_LOG_INFO : GW_LOG_WARN, LS_SPAM, s->id, NULL,
	        "spam check %s: %s", r == SPAM_SKIPPED ? "skipped" : "failed", st->spam_why);
}

/* Starts rspamd's check of the message when the route wants one; it answers through on_spam. */
static void spam_start(struct smtp_session *s, const struct message_bytes *body)
{
	struct smtp_seam_tx *st = s->tx.seam;
	char id[DELIVERY_ID_SIZE];
	const char *why = NULL;
	if (spam_policy(s) == POLICY_OFF)
		return;
	if (queue_id(s, body, id)) {
		spam_ended(s, SPAM_FAILED, "out of memory");
		return;
	}
	struct spam_envelope env = {.ip = s->ip,
	                            .helo = s->helo,
	                            .mail_from = s->tx.mail_from,
	                            .rcpts = s->tx.rcpt_addrs,
	                            .n_rcpts = s->tx.n_rcpts,
	                            .queue_id = id,
	                            .user = s->auth_user,
	                            .hostname = s->rdns.verified, /* smtp_rdns.c, or NULL */
	                            .mta_name = authserv_id(s)};
	enum spam_status r =
	    spam_check_start(s->w->spam, &env, body->data, body->len, on_spam, s, &st->spam, &why);
	if (r == SPAM_STARTED) {
		st->spam_running = true;
		return;
	}
	spam_ended(s, r, why);
}

/*
 * rspamd's verdict as a refusal (a row of the catalogue), or RPL_NONE: the
 * message goes, spam or not. Under enforce, reject is 550 5.7.1 (with
 * rspamd's own message when it gives one), soft reject and greylist 451
 * 4.7.1; a failed check is [spam] spam_failure's answer under either policy.
 */
static enum smtp_reply_id spam_refusal(struct smtp_session *s, const char **detail)
{
	struct smtp_seam_tx *st = s->tx.seam;
	const struct spam_reply *rep = st->spam ? spam_check_reply(st->spam) : NULL;
	*detail = NULL;
	if (spam_policy(s) == POLICY_OFF || st->spam_status == SPAM_SKIPPED)
		return RPL_NONE;
	if (!rep)
		return s->cfg->spam.failure == SPAM_FAILURE_TEMPFAIL ? RPL_SPAM_UNAVAILABLE
		                                                     : RPL_NONE;
	if (spam_policy(s) != POLICY_ENFORCE)
		return RPL_NONE;
	switch (rep->action) {
	case SPAM_REJECT:
		*detail = rep->message;
		return rep->message ? RPL_SPAM_REJECT_TEXT : RPL_SPAM_REJECT;
	case SPAM_SOFT_REJECT:
	case SPAM_GREYLIST:
		return RPL_SPAM_DEFER;
	default:
		return RPL_NONE;
	}
}

/* Cuts every field called name from the message's header section. */
static int cut_fields(struct smtp_session *s, const char *name)
{
	return cut_found(s, spam_field_ranges, name) < 0 ? -1 : 0;
}

/* rspamd's rewritten Subject replaces the message's own: cut those, prepend the new one. */
static int rewrite_subject(struct smtp_session *s, const char *subject, char **fields)
{
	if (cut_fields(s, "Subject"))
		return -1;
	size_t old = *fields ? strlen(*fields) : 0, add = strlen(subject) + sizeof "Subject: \r\n";
	char *f = realloc(*fields, old + add);
	if (!f)
		return -1;
	snprintf(f + old, add, "Subject: %s\r\n", subject);
	*fields = f;
	return 0;
}

/*
 * rspamd's fields go in: the sender's fields of the names rspamd removes
 * (its X-Spam-* forgeries) are cut first, then rspamd's are kept to be
 * prepended (and a rewritten Subject). Owned by the seam until the
 * transaction ends; -1 when the store failed.
 */
static int spam_fields(struct smtp_session *s, const struct spam_reply *rep)
{
	struct smtp_seam_tx *st = s->tx.seam;
	for (size_t i = 0; i < rep->n_remove; i++)
		if (cut_fields(s, rep->remove[i]))
			return -1;
	if (rep->fields && !(st->fields = strdup(rep->fields)))
		return -1;
	if (rep->subject && rewrite_subject(s, rep->subject, &st->fields))
		return -1;
	return 0;
}

/* ---- end of data ---- */

/* The message may go: with these results, once the forged fields are cut. */
static void deliver_verdict(struct smtp_session *s, const json_t *auth, const char *ar_field,
                            struct smtp_seam_verdict *out)
{
	struct smtp_seam_tx *st = s->tx.seam;
	const struct spam_reply *rep = st && st->spam ? spam_check_reply(st->spam) : NULL;
	memset(out, 0, sizeof *out);
	out->step = SEAM_MESSAGE;
	out->auth = auth;
	out->ar_field = ar_field;
	if (strip_forged(s) || (rep && spam_fields(s, rep))) {
		out->refuse = RPL_DELIVERY_FAILED; /* the store failed: 451, not delivered */
		return;
	}
	if (!st || spam_policy(s) == POLICY_OFF)
		return;
	out->spam = rep ? rep->verdict : NULL;
	out->spam_fields = st->fields;
	out->spam_warning = rep ? NULL : st->spam_why;
	out->spam_skipped = st->spam_status == SPAM_SKIPPED;
}

/* Both checks have answered (or there was none to wait for): the one verdict on the message. */
static void message_verdict(struct smtp_session *s, struct smtp_seam_verdict *v)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct auth_policy pol;
	const char *detail;
	if (st->auth_timed_out) {
		auth_policy_route(&pol, &s->cfg->auth, &s->tx.route->opts);
		if (pol.spf == POLICY_ENFORCE || pol.dkim == POLICY_ENFORCE ||
		    pol.dmarc == POLICY_ENFORCE) {
			*v = (struct smtp_seam_verdict){.step = SEAM_MESSAGE,
			                                .refuse = RPL_AUTH_TIMEOUT,
			                                .check = "auth timeout"};
			return;
		}
	}
	if (refuses(&st->verdict)) {
		verdict_of(v, SEAM_MESSAGE, &st->verdict);
		v->auth = st->auth_json;
		return;
	}
	enum smtp_reply_id r = spam_refusal(s, &detail);
	if (r) {
		*v = (struct smtp_seam_verdict){
		    .step = SEAM_MESSAGE, .refuse = r, .check = "spam", .detail = detail};
		return;
	}
	deliver_verdict(s, st->auth_json, st->ar_field, v);
}

/* The last check answered: the verdict goes to the owner (or the client is gone). */
static void message_settled(struct smtp_session *s)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct smtp_seam_verdict v;
	st->wait = WAIT_NONE;
	watch_client(s, false); /* the delivery has its own rules for a vanished client */
	if (client_reset(s->fd)) {
		v = (struct smtp_seam_verdict){.step = SEAM_GONE};
		st->done(s, &v);
		return;
	}
	message_verdict(s, &v);
	st->done(s, &v);
}

static void on_done(void *arg, const struct auth_outcome *out)
{
	struct smtp_session *s = arg;
	struct smtp_seam_tx *st = s->tx.seam;
	if (s->dead || !st || !st->auth_running)
		return;
	st->auth_running = false;
	if (!st->ending && !st->spam_running && client_reset(s->fd)) {
		message_settled(s); /* gone: nothing of this message is logged as if it went on */
		return;
	}
	smtp_log(GW_LOG_INFO, s->id, "auth %s", out->ar_value);
	st->verdict = out->verdict;
	st->auth_json = json_incref(out->auth);
	if (out->ar_field && !(st->ar_field = strdup(out->ar_field)))
		st->verdict = (struct auth_verdict){.id = AUTH_V_MAX, .action = AUTH_TEMPFAIL};
	if (!st->spam_running && !st->ending)
		message_settled(s);
}

/* The transaction's seam state, made at the end of data when MAIL needed none. */
static struct smtp_seam_tx *seam_tx(struct smtp_session *s)
{
	if (!s->tx.seam)
		s->tx.seam = calloc(1, sizeof *s->tx.seam);
	return s->tx.seam;
}

enum smtp_seam_wait smtp_seam_end_of_data(struct smtp_session *s, const struct message_bytes *body,
                                          smtp_seam_fn done, struct smtp_seam_verdict *out)
{
	struct smtp_seam_tx *st = s->tx.seam;
	struct auth_policy pol;
	auth_policy_route(&pol, &s->cfg->auth, &s->tx.route->opts);
	bool auth_on = st && st->tx &&
	               (policy_on(pol.spf) || policy_on(pol.dkim) || policy_on(pol.dmarc) ||
	                policy_on(pol.arc));
	if (!auth_on && spam_policy(s) == POLICY_OFF) {
		deliver_verdict(s, NULL, NULL, out); /* this route checks nothing: no DNS work */
		return SEAM_NOW;
	}
	if (!(st = seam_tx(s))) {
		*out =
		    (struct smtp_seam_verdict){.step = SEAM_MESSAGE, .refuse = RPL_DELIVERY_FAILED};
		return SEAM_NOW;
	}
	st->done = done;
	spam_start(s, body);
	if (auth_on) {
		st->wait = WAIT_MESSAGE;
		st->auth_running = true;
		st->ending = true;
		auth_tx_message(st->tx, body->data, body->len, &pol, on_done, s);
		st->ending = false;
		if (!st->auth_running && !st->spam_running) {
			/*
			 * Every answer came from the caches, within this call: answered
			 * now, without watching for a FIN (two epoll_ctl) or asking the
			 * socket whether the client is still there (it just sent the dot).
			 */
			st->wait = WAIT_NONE;
			message_verdict(s, out);
			return SEAM_NOW;
		}
		watch_client(s, true);
		return SEAM_LATER;
	}
	if (st->spam_running) {
		st->wait = WAIT_MESSAGE;
		watch_client(s, true);
		return SEAM_LATER;
	}
	message_verdict(s, out); /* rspamd could not be asked: its failure's verdict, now */
	return SEAM_NOW;
}

/*
 * [auth] timeout: what still runs is cancelled and counts as temperror.
 * While MAIL or RCPT waits for SPF (enforce), SPF is temperror: 451 4.7.24
 * by the same verdicts as a DNS failure, and a late answer is ignored. At
 * the end of data, a route that enforces any check answers 451 4.7.1 (the
 * client tries again later); otherwise the message is delivered with no
 * auth results (payload auth null, no Authentication-Results of ours),
 * rather than held back by a slow DNS server. A spam check still running
 * then is a failed one ([spam] spam_failure).
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
	if (!st || st->wait == WAIT_NONE)
		return;
	smtp_log(GW_LOG_INFO, s->id, "limit auth timeout=%llums: checks cancelled, temperror",
	         (unsigned long long)s->cfg->auth.timeout_ms);
	if (st->wait != WAIT_MESSAGE) {
		timeout_spf(s);
		return;
	}
	if (st->auth_running) {
		auth_tx_free(st->tx); /* cancels the DNS work: no callback after this */
		st->tx = NULL;
		st->auth_running = false;
		st->auth_timed_out = true;
	}
	if (st->spam_running) {
		spam_check_free(st->spam); /* no callback after this either */
		st->spam = NULL;
		st->spam_running = false;
		spam_ended(s, SPAM_FAILED, "[auth] timeout ran out first");
	}
	message_settled(s);
}

void smtp_seam_tx_end(struct smtp_session *s)
{
	struct smtp_seam_tx *st = s->tx.seam;
	if (!st)
		return;
	s->tx.seam = NULL;
	auth_tx_free(st->tx);
	spam_check_free(st->spam);
	json_decref(st->auth_json);
	free(st->ar_field);
	free(st->fields);
	if (st->gone)
		event_free(st->gone);
	free(st);
}
