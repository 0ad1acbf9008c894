/*
 * smtp_tx.c: the mail transaction, its one owner (STYLE 5, 8, 10b): MAIL
 * accepted to the end of the message or RSET. Owns smtp_tx_reset() (RSET,
 * EHLO, STARTTLS, the end of a message and the session's teardown all call
 * it the same way), the recipients, the DATA/BDAT sink with its sticky
 * errors, the end of data, the hand-off to delivery (delivery.h) and the
 * delivered callback; and the answers to the verdicts of sender
 * authentication and the spam check, which come back here as values
 * through one callback (seam_verdict()).
 *
 * Calls go one way: smtp_cmd.c and smtp_session.c call in; this file calls
 * the seam, delivery, the message store, the reply funnel and the
 * connection primitives, never back up.
 *
 * Never: answer before the data is read to its end, answer twice, hand the
 * webhook a message a check refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "routes.h"
#include "smtp_record.h"
#include "smtp_seam.h"
#include "smtp_session.h"
#include "smtp_tx.h"

void smtp_tx_reset(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	uint32_t seq = tx->seq;
	smtp_seam_tx_end(s);
	free(tx->mail_from);
	free(tx->rcpt_addrs);
	free(tx->rcpts);
	free(tx->rcpt_parts);
	smtp_msg_free(&tx->msg);
	memset(tx, 0, sizeof *tx);
	tx->msg.fd = -1;
	tx->seq = seq + 1;
}

static enum smtp_reply_id add_rcpt(struct smtp_session *s, const char *addr,
                                   const struct route_match *m)
{
	struct smtp_tx *tx = &s->tx;
	size_t n = strlen(addr) + 1;
	if (tx->rcpt_cap - tx->rcpt_len < n) {
		size_t cap = tx->rcpt_cap ? tx->rcpt_cap : 256;
		while (cap - tx->rcpt_len < n)
			cap *= 2;
		char *b = realloc(tx->rcpt_addrs, cap);
		if (!b)
			return RPL_NO_MEMORY;
		tx->rcpt_addrs = b;
		tx->rcpt_cap = cap;
	}
	memcpy(tx->rcpt_addrs + tx->rcpt_len, addr, n);
	tx->rcpt_len += n;
	if (!tx->n_rcpts++) {
		tx->route = m->route;
		tx->endpoint_id = m->route->endpoint_id;
	}
	return RPL_NONE;
}

/* Appends str to the parts buffer (sized before: never reallocated). */
static const char *put_part(struct smtp_tx *tx, size_t cap, const char *str, size_t n)
{
	if (cap - tx->rcpt_parts_len < n + 1)
		return NULL;
	char *p = tx->rcpt_parts + tx->rcpt_parts_len;
	memcpy(p, str, n);
	p[n] = '\0';
	tx->rcpt_parts_len += n + 1;
	return p;
}

/* The compact copy of one route_match: its strings go to the parts buffer. */
static int compact_match(struct smtp_tx *tx, size_t cap, const struct route_match *m,
                         struct envelope_match *out)
{
	const struct route_addr *a = &m->addr;
	out->route = m->route;
	out->kind = m->kind;
	out->pattern = m->pattern;
	out->addr.has_tag = a->has_tag;
	out->addr.base_len = a->base_len;
	out->addr.local = put_part(tx, cap, a->local, strlen(a->local));
	out->addr.domain = put_part(tx, cap, a->domain, strlen(a->domain));
	out->addr.tag = put_part(tx, cap, a->tag, a->has_tag ? strlen(a->tag) : 0);
	return out->addr.local && out->addr.domain && out->addr.tag ? 0 : -1;
}

int smtp_tx_envelope_rcpts(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	if (tx->rcpts || !tx->n_rcpts)
		return 0;
	/*
	 * The local part (unquoted), the domain and the tag are each at most
	 * the address itself: three times the addresses' bytes is enough, and
	 * put_part() refuses (451) rather than overrun if it were not.
	 */
	size_t cap = 3 * tx->rcpt_len;
	struct envelope_rcpt *r = calloc(tx->n_rcpts, sizeof *r);
	char *parts = malloc(cap);
	struct route_match *m = malloc(sizeof *m); /* 1 KB, once per message */
	int rc = -1;
	if (!r || !parts || !m)
		goto out;
	free(tx->rcpt_parts); /* a failed earlier call's */
	tx->rcpt_parts = parts;
	tx->rcpt_parts_len = 0;
	parts = NULL;
	char *a = tx->rcpt_addrs;
	for (size_t i = 0; i < tx->n_rcpts; i++) {
		r[i].address = a;
		/* The session's table, as at RCPT time: the same verdict, recomputed. */
		if (route_lookup(s->cfg->table, a, m) != ROUTE_MATCH ||
		    compact_match(tx, cap, m, &r[i].match))
			goto out;
		a += strlen(a) + 1;
	}
	tx->rcpts = r;
	r = NULL;
	rc = 0;
out:
	free(r);
	free(parts);
	free(m);
	return rc;
}

void smtp_tx_rcpt_answer(struct smtp_session *s, const char *addr, enum smtp_reply_id r)
{
	if (r == RPL_TOO_MANY_RCPTS) {
		smtp_worker_count(s->w, C_TOO_MANY_RCPTS);
		smtp_log(GW_LOG_INFO, s->id, "limit max_recipients=%u reached",
		         s->cfg->limits.max_recipients);
	}
	if (r)
		smtp_record_rcpt_refused(r, NULL);
	smtp_log(GW_LOG_INFO, s->id, "rcpt to=<%s> %s", addr ? addr : "?", r ? "refused" : "ok");
	smtp_reply(s, r ? r : RPL_RCPT_OK, NULL);
}

/* ---- sender authentication's verdicts at MAIL and RCPT ---- */

/* MAIL or RCPT waits for SPF: stop reading, the replies must leave in order. */
static void wait_for_seam(struct smtp_session *s)
{
	smtp_session_state(s, ST_SPF);
	smtp_session_arm(s, s->cfg->auth.timeout_ms);
	if (s->bev)
		bufferevent_disable(s->bev, EV_READ);
}

static void log_refusal(struct smtp_session *s, const char *what, const struct smtp_seam_verdict *v)
{
	const struct smtp_reply_row *row = smtp_catalog_row(v->refuse);
	smtp_log(GW_LOG_INFO, s->id, "%s refused by %s: %d %s", what, v->check ? v->check : "auth",
	         row ? row->code : 0, row ? row->status : "");
}

static void answer_mail(struct smtp_session *s, const struct smtp_seam_verdict *v)
{
	if (!v->refuse) {
		smtp_reply(s, RPL_MAIL_OK, NULL);
		return;
	}
	if (v->refuse != RPL_NO_MEMORY)
		log_refusal(s, "mail", v);
	smtp_tx_reset(s); /* frees the seam state */
	smtp_reply(s, v->refuse, NULL);
}

static void answer_rcpt(struct smtp_session *s, const struct smtp_seam_verdict *v)
{
	if (!v->refuse) {
		smtp_tx_rcpt_answer(s, v->rcpt, add_rcpt(s, v->rcpt, v->match));
		return;
	}
	smtp_log(GW_LOG_INFO, s->id, "rcpt to=<%s> refused (route %s)", v->rcpt,
	         v->match->route->name);
	log_refusal(s, "rcpt", v);
	smtp_record_rcpt_refused(v->refuse, v->check ? v->check : "auth");
	smtp_reply(s, v->refuse, NULL);
}

static void seam_message(struct smtp_session *s, const struct smtp_seam_verdict *v);

/* The one callback of the seam: a verdict that came later than the command. */
static void seam_verdict(struct smtp_session *s, const struct smtp_seam_verdict *v)
{
	smtp_session_arm(s, 0); /* [auth] timeout no longer runs */
	switch (v->step) {
	case SEAM_GONE:
		smtp_log(GW_LOG_INFO, s->id, "client went away during sender authentication");
		smtp_session_close_now(s);
		return;
	case SEAM_MAIL:
	case SEAM_RCPT:
		smtp_session_state(s, ST_COMMAND);
		if (v->step == SEAM_MAIL)
			answer_mail(s, v);
		else
			answer_rcpt(s, v);
		smtp_session_resume(s);
		return;
	case SEAM_MESSAGE:
		seam_message(s, v);
		return;
	}
}

void smtp_tx_mail(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct smtp_seam_verdict v;
	tx->active = true;
	smtp_log(GW_LOG_INFO, s->id, "mail from=<%s> size=%llu%s", tx->mail_from,
	         (unsigned long long)tx->declared_size, tx->smtputf8 ? " smtputf8" : "");
	if (smtp_seam_mail(s, seam_verdict, &v) == SEAM_LATER) {
		wait_for_seam(s); /* SPF under enforce answers MAIL */
		return;
	}
	answer_mail(s, &v);
}

void smtp_tx_rcpt(struct smtp_session *s, const char *addr, const struct route_match *m)
{
	struct smtp_seam_verdict v;
	if (smtp_seam_rcpt(s, addr, m, &v) == SEAM_LATER) {
		wait_for_seam(s); /* the route enforces SPF: answered once SPF is known */
		return;
	}
	answer_rcpt(s, &v);
}

/* ---- DATA / BDAT ---- */

static void smtp_tx_data_start(struct smtp_session *s, bool chunked)
{
	struct smtp_tx *tx = &s->tx;
	const struct gw_limits *l = &s->cfg->limits;
	smtp_msg_init(&tx->msg, l->memory_threshold);
	tx->data_us = smtp_record_now_us();
	tx->deadline_ms = smtp_mono_ms() + l->data_deadline_ms;
	smtp_dec_init(&tx->dec, chunked, l->bare_newlines == BARE_NL_NORMALIZE,
	              l->long_lines == LONG_LINES_REJECT ? l->max_line_length : 0,
	              smtp_tx_data_emit, s);
}

void smtp_tx_data(struct smtp_session *s)
{
	smtp_tx_data_start(s, false);
	smtp_session_state(s, ST_DATA);
	smtp_reply(s, RPL_DATA_GO, NULL);
}

void smtp_tx_bdat(struct smtp_session *s, uint64_t size, bool last, enum smtp_reply_id refuse)
{
	struct smtp_tx *tx = &s->tx;
	if (refuse) {
		/* Read the chunk to stay in sync, then answer; the transaction stays as it was. */
		s->discard_reply = refuse;
		tx->deadline_ms = smtp_mono_ms() + s->cfg->limits.data_deadline_ms;
		smtp_dec_init(&tx->dec, true, false, 0, smtp_tx_data_emit, s);
	} else {
		if (!tx->bdat) {
			tx->bdat = true;
			smtp_tx_data_start(s, true);
		}
		tx->n_chunks++;
	}
	tx->bdat_left = size;
	tx->bdat_last = last;
	smtp_session_state(s, ST_BDAT);
}

void smtp_tx_data_emit(void *ctx, const char *p, size_t n)
{
	struct smtp_session *s = ctx;
	struct smtp_tx *tx = &s->tx;
	const struct gw_limits *l = &s->cfg->limits;
	if (s->discard_reply)
		return;
	tx->received += n;
	if (tx->error)
		return;
	unsigned reject = (l->bare_newlines == BARE_NL_REJECT ? DEC_BARE_LF | DEC_BARE_CR : 0) |
	                  (l->long_lines == LONG_LINES_REJECT ? DEC_LONG_LINE : 0);
	unsigned f = tx->dec.flags & reject;
	if (f) {
		tx->error = f & (DEC_BARE_LF | DEC_BARE_CR) ? RPL_BARE_NEWLINE : RPL_LONG_LINE;
		return;
	}
	if (l->max_message_size && tx->received > l->max_message_size) {
		smtp_log(GW_LOG_INFO, s->id, "limit max_message_size=%llu exceeded",
		         (unsigned long long)l->max_message_size);
		tx->error = RPL_SIZE_EXCEEDED;
		return;
	}
	bool in_memory = tx->msg.fd < 0;
	if (smtp_msg_append(&tx->msg, p, n)) {
		smtp_log(GW_LOG_ERROR, s->id, "message store failed: %s", strerror(errno));
		tx->error = RPL_DELIVERY_FAILED;
		return;
	}
	if (in_memory && tx->msg.fd >= 0)
		smtp_log(GW_LOG_INFO, s->id,
		         "limit memory_threshold=%llu: message spilled to a file",
		         (unsigned long long)l->memory_threshold);
}

static void check_flags(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	const struct gw_limits *l = &s->cfg->limits;
	if (tx->error)
		return;
	if (l->bare_newlines == BARE_NL_REJECT && (tx->dec.flags & (DEC_BARE_LF | DEC_BARE_CR)))
		tx->error = RPL_BARE_NEWLINE;
	else if (l->long_lines == LONG_LINES_REJECT && (tx->dec.flags & DEC_LONG_LINE))
		tx->error = RPL_LONG_LINE;
}

/* The limit behind a refused message, for its counter (STYLE 22). */
static void count_refusal(struct smtp_session *s, enum smtp_reply_id e)
{
	switch (e) {
	case RPL_SIZE_EXCEEDED:
		smtp_worker_count(s->w, C_SIZE_EXCEEDED);
		return;
	case RPL_BARE_NEWLINE:
		smtp_worker_count(s->w, C_BARE_NEWLINES);
		return;
	case RPL_LONG_LINE:
		smtp_worker_count(s->w, C_LONG_LINES);
		return;
	default:
		return;
	}
}

static void fail_message(struct smtp_session *s)
{
	enum smtp_reply_id e = s->tx.error;
	smtp_worker_count(s->w, C_REJECTED_MESSAGES);
	count_refusal(s, e);
	const struct smtp_reply_row *row = smtp_catalog_row(e);
	smtp_log(GW_LOG_INFO, s->id, "message refused octets=%llu: %d %s %s",
	         (unsigned long long)s->tx.received, row ? row->code : 0, row ? row->status : "",
	         row ? row->text : "");
	smtp_record_message(s, row ? row->code : 0, row ? row->status : "", NULL);
	s->n_tx++;
	smtp_tx_reset(s);
	smtp_reply(s, e, NULL);
}

static void fill_envelope(struct smtp_session *s, struct envelope *env)
{
	struct smtp_tx *tx = &s->tx;
	struct timeval now;
	memset(env, 0, sizeof *env);
	gettimeofday(&now, NULL);
	env->mail_from = tx->mail_from;
	env->rcpts = tx->rcpts;
	env->n_rcpts = tx->n_rcpts;
	env->helo = s->helo;
	env->esmtp = s->esmtp;
	snprintf(env->client_ip, sizeof env->client_ip, "%s", s->ip);
	env->client_port = s->port;
	env->client_name = s->rdns.verified;
	env->tls_protocol = s->tls_protocol;
	env->tls_cipher = s->tls_cipher;
	env->auth_user = s->auth_user;
	env->body = tx->body;
	env->smtputf8 = tx->smtputf8;
	env->size = tx->received;
	env->prepended = tx->msg.head; /* the trace fields, when called after they are in */
	env->received_at_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
}

/* A refusal at the end of data: one reply (detail: its row's {}), then the next command. */
static void refuse_message_text(struct smtp_session *s, enum smtp_reply_id r, const char *detail)
{
	char text[256];
	snprintf(text, sizeof text, "%s", detail ? detail : ""); /* the reset frees detail */
	const struct smtp_reply_row *row = smtp_catalog_row(r);
	smtp_record_message(s, row ? row->code : 0, row ? row->status : "", NULL);
	smtp_session_state(s, ST_COMMAND);
	smtp_tx_reset(s);
	smtp_reply(s, r, text);
	smtp_session_resume(s);
}

static void refuse_message(struct smtp_session *s, enum smtp_reply_id r)
{
	refuse_message_text(s, r, NULL);
}

/* delivery_submit() refused the message, at once or later (smtp_reply.refused). */
static void submit_refused(struct smtp_session *s, enum delivery_result rc)
{
	switch (rc) {
	case DELIVERY_QUEUED:
		break;
	case DELIVERY_TOO_BIG: /* a payload too big to build will be as big next time: 552 */
		smtp_worker_count(s->w, C_PAYLOAD_TOO_BIG);
		smtp_log(GW_LOG_WARN, s->id, "delivery could not be submitted: payload too large");
		refuse_message(s, RPL_SIZE_EXCEEDED);
		return;
	case DELIVERY_BUSY:
		smtp_worker_count(s->w, C_DELIVERY_BUSY);
		smtp_log(GW_LOG_WARN, s->id,
		         "delivery could not be submitted: max_delivery_memory reached");
		refuse_message(s, RPL_DELIVERY_BUSY);
		return;
	case DELIVERY_FAILED:
		break;
	}
	smtp_log(GW_LOG_WARN, s->id, "delivery could not be submitted");
	refuse_message(s, RPL_DELIVERY_FAILED);
}

/*
 * Prepends the trace fields (and the fields rspamd asks for, below them)
 * and hands the message to delivery; or answers why not. v: the seam's
 * verdict (NULL: no checks' results).
 */
static void deliver(struct smtp_session *s, const struct smtp_seam_verdict *v)
{
	struct smtp_tx *tx = &s->tx;
	struct envelope env;
	struct message_bytes mb;
	char hdr[2048], *id = tx->delivery_id;
	const json_t *auth = v ? v->auth : NULL;
	int bad = v && v->spam_fields
	              ? smtp_msg_prepend(&tx->msg, v->spam_fields, strlen(v->spam_fields))
	              : 0;
	size_t n = smtp_received(s, hdr, sizeof hdr);
	if (!bad)
		bad = smtp_msg_prepend(&tx->msg, hdr, n);
	if (!bad && v && v->ar_field)
		bad = smtp_msg_prepend(&tx->msg, v->ar_field, strlen(v->ar_field));
	if (!bad)
		bad = smtp_tx_envelope_rcpts(s);
	fill_envelope(s, &env);
	env.spam = v ? v->spam : NULL;
	env.spam_warning = v ? v->spam_warning : NULL;
	env.spam_skipped = v && v->spam_skipped;
	enum delivery_result rc = DELIVERY_FAILED;
	if (!bad && !smtp_msg_view(&tx->msg, &mb)) {
		env.hold = smtp_msg_hold(&tx->msg); /* the store is final: a delivery may keep it */
		rc = delivery_submit(s->w->delivery, tx->route, &env, &mb, auth, s->id, id);
	}
	if (rc == DELIVERY_QUEUED) {
		/* The delivery id joins this line to the webhook's lines of the message. */
		log_msg(GW_LOG_INFO, LS_SMTP, s->id, id,
		        "message submitted octets=%llu rcpts=%zu route=%s",
		        (unsigned long long)tx->received, tx->n_rcpts, tx->route->name);
		return;
	}
	submit_refused(s, rc);
}

/* The spam check's outcome, for its counter (STYLE 22). */
static void count_spam(struct smtp_session *s, enum smtp_reply_id r)
{
	if (r == RPL_SPAM_REJECT || r == RPL_SPAM_REJECT_TEXT)
		smtp_worker_count(s->w, C_SPAM_REJECTED);
	else if (r == RPL_SPAM_DEFER)
		smtp_worker_count(s->w, C_SPAM_DEFERRED);
	else if (r == RPL_SPAM_UNAVAILABLE)
		smtp_worker_count(s->w, C_SPAM_FAILED);
}

/* The verdict of sender authentication and the spam check on the message: refuse or deliver. */
static void seam_message(struct smtp_session *s, const struct smtp_seam_verdict *v)
{
	smtp_session_arm(s, 0); /* the webhook has its own time limits */
	s->tx.checked_us = smtp_record_now_us();
	if (v->refuse == RPL_DELIVERY_FAILED) {
		s->tx.msg.failed = true; /* the store failed under the checks: 451 */
		deliver(s, NULL);
		return;
	}
	if (v->refuse) {
		const struct smtp_reply_row *row = smtp_catalog_row(v->refuse);
		bool spam = v->check && strcmp(v->check, "spam") == 0;
		smtp_worker_count(s->w, C_REJECTED_MESSAGES);
		if (spam)
			count_spam(s, v->refuse);
		smtp_log(GW_LOG_INFO, s->id, "message refused by %s: %d %s",
		         spam ? "the spam check" : "sender authentication", row ? row->code : 0,
		         row ? row->status : "");
		refuse_message_text(s, v->refuse, v->detail);
		return;
	}
	if (v->spam_warning) /* delivered without a verdict (spam_failure = "annotate") */
		smtp_worker_count(s->w, v->spam_skipped ? C_SPAM_SKIPPED : C_SPAM_FAILED);
	deliver(s, v);
}

/* The message is complete: stop reading until it has been answered. */
static void submit(struct smtp_session *s)
{
	struct message_bytes body;
	struct smtp_seam_verdict v;
	s->n_tx++;
	s->tx.end_us = smtp_record_now_us();
	smtp_session_state(s, ST_DELIVERY);
	bufferevent_disable(s->bev, EV_READ); /* backpressure while checks and POST run */
	if (smtp_msg_body(&s->tx.msg, &body)) {
		smtp_session_arm(s, 0);
		s->tx.msg.failed = true;
		deliver(s, NULL); /* answers 451 */
		return;
	}
	/* [auth] timeout while the checks run; every verdict disarms it. */
	smtp_session_arm(s, s->cfg->auth.timeout_ms);
	if (smtp_seam_end_of_data(s, &body, seam_verdict, &v) == SEAM_NOW)
		seam_message(s, &v);
}

void smtp_tx_message_end(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	char n[32];
	bool chunk = s->state == ST_BDAT;
	smtp_session_state(s, ST_COMMAND);
	if (chunk && s->discard_reply) {
		enum smtp_reply_id r = s->discard_reply;
		s->discard_reply = RPL_NONE;
		smtp_reply(s, r, NULL);
		return;
	}
	if (chunk && tx->bdat_last)
		smtp_dec_finish(&tx->dec);
	check_flags(s);
	if (chunk && !tx->bdat_last) {
		if (tx->error) {
			fail_message(s); /* RFC 3030 2: a failed chunk fails the transaction */
			return;
		}
		snprintf(n, sizeof n, "%llu", (unsigned long long)tx->received);
		smtp_reply(s, RPL_BDAT_OK, n);
		return;
	}
	if (tx->error) {
		fail_message(s);
		return;
	}
	submit(s);
}

void smtp_tx_delivered(struct smtp_session *s, const struct smtp_reply *r)
{
	if (r->refused) { /* a large message's payload could not be built (delivery.h) */
		submit_refused(s, (enum delivery_result)r->refused);
		if (s->shutdown_pending)
			smtp_reply(s, RPL_SHUTDOWN, NULL);
		return;
	}
	smtp_worker_count(s->w, C_MESSAGES);
	/*
	 * The answer is written either way; but a client that ended its side
	 * before it (RFC 5321 wants QUIT, after the reply) is not told: say so.
	 * The probe is a system call, made only when the line is written.
	 */
	bool gone = log_enabled(GW_LOG_INFO, LS_SMTP) && smtp_session_client_gone(s);
	log_msg(GW_LOG_INFO, LS_SMTP, s->id, s->tx.delivery_id, "delivered reply=%d %s%s", r->code,
	        r->status, gone ? " client=gone" : "");
	smtp_record_message(s, r->code, r->status, r);
	smtp_session_state(s, ST_COMMAND);
	smtp_tx_reset(s);
	smtp_reply_raw(s, r->code, r->status, r->text, false);
	if (s->shutdown_pending) {
		smtp_reply(s, RPL_SHUTDOWN, NULL);
		return;
	}
	smtp_session_resume(s);
}
