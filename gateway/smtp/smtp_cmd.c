/*
 * smtp_cmd.c: the SMTP verbs. Owns the verb table ({verb, check, do,
 * flags}), RFC 5321 4.1.1 command semantics and sequencing (4.1.4), the
 * ESMTP extensions we advertise (RFC 1870 SIZE, RFC 6152 8BITMIME, RFC
 * 6531 SMTPUTF8, RFC 2920 PIPELINING, RFC 3030 CHUNKING, RFC 2034
 * ENHANCEDSTATUSCODES, RFC 3207 STARTTLS, RFC 4954 AUTH PLAIN/LOGIN), the
 * transaction (smtp_tx_reset() is its one reset) and the end of a message.
 *
 * Never: accept a recipient the routing table does not own (no relay),
 * mix two webhook endpoints in one transaction, accept AUTH before TLS,
 * answer a transaction error before its data is read to the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "routes.h"
#include "smtp_int.h"

enum {
	CF_PRE_TLS = 1 << 0,    /* allowed on a submission listener before STARTTLS */
	CF_PRE_AUTH = 1 << 1,   /* allowed on a submission listener before AUTH */
	CF_ENDS_GROUP = 1 << 2, /* RFC 2920 3.1: last command of a pipelined group */
};

struct verb {
	const char *name;
	enum smtp_reply_id (*check)(struct smtp_session *s, const char *arg);
	void (*run)(struct smtp_session *s, char *arg);
	unsigned flags;
};

void smtp_tx_reset(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	uint32_t seq = tx->seq;
	smtp_seam_tx_end(s);
	free(tx->mail_from);
	free(tx->rcpt_addrs);
	free(tx->rcpts);
	smtp_msg_free(&tx->msg);
	memset(tx, 0, sizeof *tx);
	tx->msg.fd = -1;
	tx->seq = seq + 1;
}

/* ---- HELO / EHLO ---- */

static enum smtp_reply_id check_helo(struct smtp_session *s, const char *arg)
{
	(void)s;
	if (!arg || !*arg || strlen(arg) > 255)
		return RPL_SYNTAX_ARGS;
	for (const char *p = arg; *p; p++)
		if (*p < 33 || *p > 126)
			return RPL_SYNTAX_ARGS;
	return RPL_NONE;
}

static void set_helo(struct smtp_session *s, const char *arg, bool esmtp)
{
	char *h = strdup(arg);
	if (!h) {
		smtp_reply(s, RPL_NO_MEMORY, NULL);
		return;
	}
	smtp_tx_reset(s);
	free(s->helo);
	s->helo = h;
	s->esmtp = esmtp;
	smtp_log(GW_LOG_DEBUG, s->id, "%s %s", esmtp ? "ehlo" : "helo", h);
}

static void do_helo(struct smtp_session *s, char *arg)
{
	set_helo(s, arg, false);
	smtp_reply(s, RPL_HELO, s->cfg->server.hostname);
}

static void do_ehlo(struct smtp_session *s, char *arg)
{
	char first[600], size[48]; /* hostname (255) " greets " argument (255) */
	const char *lines[12];
	size_t n = 0;
	set_helo(s, arg, true);
	if (s->state == ST_CLOSING)
		return;
	snprintf(first, sizeof first, "%s greets %s", s->cfg->server.hostname, s->helo);
	lines[n++] = first;
	lines[n++] = "PIPELINING";
	if (s->cfg->limits.max_message_size) {
		snprintf(size, sizeof size, "SIZE %llu",
		         (unsigned long long)s->cfg->limits.max_message_size);
		lines[n++] = size;
	} else {
		lines[n++] = "SIZE";
	}
	lines[n++] = "8BITMIME";
	lines[n++] = "SMTPUTF8";
	lines[n++] = "ENHANCEDSTATUSCODES";
	lines[n++] = "CHUNKING";
	if (!s->tls && s->rt->tls && s->lst->mode != LISTEN_SMTPS)
		lines[n++] = "STARTTLS";
	if (s->lst->mode == LISTEN_SUBMISSION && s->tls && !s->auth_user)
		lines[n++] = "AUTH PLAIN LOGIN";
	smtp_reply_lines(s, 250, lines, n);
}

/* ---- MAIL ---- */

static enum smtp_reply_id check_mail(struct smtp_session *s, const char *arg)
{
	(void)arg;
	if (!s->helo)
		return RPL_NO_HELO;
	if (s->tx.active)
		return RPL_NESTED_MAIL;
	uint32_t max = s->cfg->limits.max_transactions;
	if (max && s->n_tx >= max) {
		smtp_worker_count(s->w, C_TOO_MANY_TX);
		smtp_log(GW_LOG_INFO, s->id, "limit max_transactions=%u reached ip=%s", max, s->ip);
		return RPL_TOO_MANY_TX;
	}
	return RPL_NONE;
}

static bool kw_is(const struct smtp_param *p, const char *kw)
{
	return p->kwlen == strlen(kw) && strncasecmp(p->kw, kw, p->kwlen) == 0;
}

static bool val_is(const struct smtp_param *p, const char *v)
{
	return p->val && p->vallen == strlen(v) && strncasecmp(p->val, v, p->vallen) == 0;
}

static enum smtp_reply_id mail_param(struct smtp_session *s, const struct smtp_param *p,
                                     unsigned *seen)
{
	struct smtp_tx *tx = &s->tx;
	static const char *const known[] = {"SIZE", "BODY", "SMTPUTF8", "AUTH"};
	for (unsigned i = 0; i < 4; i++) {
		if (!kw_is(p, known[i]))
			continue;
		if (*seen & (1u << i))
			return RPL_SYNTAX_ARGS; /* each parameter once */
		*seen |= 1u << i;
		switch (i) {
		case 0:
			if (!p->val || smtp_parse_u64(p->val, p->vallen, &tx->declared_size))
				return RPL_SYNTAX_ARGS;
			return RPL_NONE;
		case 1:
			if (val_is(p, "7BIT"))
				tx->body = BODY_7BIT;
			else if (val_is(p, "8BITMIME"))
				tx->body = BODY_8BITMIME;
			else
				return p->val ? RPL_PARAM_UNKNOWN : RPL_SYNTAX_ARGS;
			return RPL_NONE;
		case 2:
			if (p->val)
				return RPL_SYNTAX_ARGS;
			tx->smtputf8 = true;
			return RPL_NONE;
		default: /* AUTH=<mailbox> (RFC 4954 5): accepted, not trusted */
			return p->val ? RPL_NONE : RPL_SYNTAX_ARGS;
		}
	}
	return RPL_PARAM_UNKNOWN;
}

static enum smtp_reply_id mail_params(struct smtp_session *s, const char *rest)
{
	struct smtp_param pm[SMTP_MAX_PARAMS];
	size_t n;
	unsigned seen = 0;
	if (*rest && *rest != ' ')
		return RPL_SENDER_SYNTAX;
	if (smtp_parse_params(rest, pm, SMTP_MAX_PARAMS, &n))
		return RPL_SYNTAX_ARGS;
	if (n && !s->esmtp)
		return RPL_PARAM_UNKNOWN; /* HELO clients get no extensions */
	for (size_t i = 0; i < n; i++) {
		enum smtp_reply_id r = mail_param(s, &pm[i], &seen);
		if (r)
			return r;
	}
	return RPL_NONE;
}

static void do_mail(struct smtp_session *s, char *arg)
{
	struct smtp_tx *tx = &s->tx;
	struct smtp_path path;
	const char *p = smtp_parse_prefix(arg, "FROM:");
	if (!p) {
		smtp_reply(s, RPL_SYNTAX_ARGS, NULL);
		return;
	}
	enum smtp_perr pe = smtp_parse_path(&p, true, &path);
	if (pe) {
		smtp_reply(s, pe == PERR_DECEPTIVE ? RPL_SENDER_DECEPTIVE : RPL_SENDER_SYNTAX,
		           NULL);
		return;
	}
	enum smtp_reply_id r = mail_params(s, p);
	uint64_t max = s->cfg->limits.max_message_size;
	if (!r && path.utf8 && !tx->smtputf8)
		r = RPL_UTF8_REQUIRED;
	if (!r && max && tx->declared_size > max)
		r = RPL_SIZE_EXCEEDED;
	if (!r && !(tx->mail_from = strdup(path.addr)))
		r = RPL_NO_MEMORY;
	if (r) {
		if (r == RPL_SIZE_EXCEEDED)
			smtp_worker_count(s->w, C_SIZE_EXCEEDED); /* declared with SIZE= */
		smtp_tx_reset(s);
		smtp_reply(s, r, NULL);
		return;
	}
	tx->active = true;
	smtp_log(GW_LOG_INFO, s->id, "mail from=<%s> size=%llu%s", tx->mail_from,
	         (unsigned long long)tx->declared_size, tx->smtputf8 ? " smtputf8" : "");
	if (smtp_seam_mail(s))
		return; /* SPF under enforce answers MAIL */
	smtp_reply(s, RPL_MAIL_OK, NULL);
}

/* ---- RCPT ---- */

static enum smtp_reply_id check_rcpt(struct smtp_session *s, const char *arg)
{
	(void)arg;
	return s->tx.active ? RPL_NONE : RPL_NEED_MAIL;
}

static enum smtp_reply_id route_rcpt(struct smtp_session *s, const char *addr,
                                     struct route_match *m)
{
	const struct smtp_tx *tx = &s->tx;
	if (!s->cfg->table)
		return RPL_RELAY_DENIED;
	switch (route_lookup(s->cfg->table, addr, m)) {
	case ROUTE_NOT_OURS:
		return RPL_RELAY_DENIED;
	case ROUTE_UNKNOWN_USER:
		return RPL_UNKNOWN_USER;
	case ROUTE_BAD_ADDRESS:
		return RPL_BAD_ADDRESS;
	case ROUTE_MATCH:
		break;
	}
	/* RFC 5321 4.5.3.1.10: one endpoint per transaction; the rest try again. */
	if (tx->n_rcpts && m->route->endpoint_id != tx->endpoint_id)
		return RPL_OTHER_ENDPOINT;
	if (!delivery_route_available(s->w->delivery, m->route))
		return RPL_ROUTE_UNAVAILABLE;
	return RPL_NONE;
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

int smtp_tx_envelope_rcpts(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	if (tx->rcpts || !tx->n_rcpts)
		return 0;
	struct envelope_rcpt *r = calloc(tx->n_rcpts, sizeof *r);
	if (!r)
		return -1;
	char *a = tx->rcpt_addrs;
	for (size_t i = 0; i < tx->n_rcpts; i++) {
		r[i].address = a;
		/* The session's table, as at RCPT time: the same verdict, recomputed. */
		if (route_lookup(s->cfg->table, a, &r[i].match) != ROUTE_MATCH) {
			free(r);
			return -1;
		}
		a += strlen(a) + 1;
	}
	tx->rcpts = r;
	return 0;
}

static void rcpt_answer(struct smtp_session *s, const char *addr, enum smtp_reply_id r)
{
	if (r == RPL_TOO_MANY_RCPTS) {
		smtp_worker_count(s->w, C_TOO_MANY_RCPTS);
		smtp_log(GW_LOG_INFO, s->id, "limit max_recipients=%u reached",
		         s->cfg->limits.max_recipients);
	}
	smtp_log(GW_LOG_INFO, s->id, "rcpt to=<%s> %s", addr ? addr : "?", r ? "refused" : "ok");
	smtp_reply(s, r ? r : RPL_RCPT_OK, NULL);
}

void smtp_cmd_rcpt_accept(struct smtp_session *s, const char *addr, const struct route_match *m)
{
	rcpt_answer(s, addr, add_rcpt(s, addr, m));
}

static void do_rcpt(struct smtp_session *s, char *arg)
{
	struct smtp_tx *tx = &s->tx;
	struct smtp_path path;
	struct smtp_param pm[SMTP_MAX_PARAMS];
	struct route_match m;
	size_t n;
	const char *p = smtp_parse_prefix(arg, "TO:");
	enum smtp_reply_id r = RPL_NONE;
	enum smtp_perr pe;
	uint32_t max = s->cfg->limits.max_recipients;
	char pm_addr[SMTP_PATH_MAX + 1];
	if (p && strncasecmp(p, "<postmaster>", 12) == 0) {
		/* RFC 5321 4.1.1.3: <Postmaster> without a domain is ours by definition. */
		snprintf(pm_addr, sizeof pm_addr, "<postmaster@%s>%s", s->cfg->server.hostname,
		         p + 12);
		p = pm_addr;
	}
	if (!p)
		r = RPL_SYNTAX_ARGS;
	else if ((pe = smtp_parse_path(&p, false, &path)) == PERR_DECEPTIVE)
		r = RPL_RCPT_DECEPTIVE;
	else if (pe || (*p && *p != ' '))
		r = RPL_RCPT_SYNTAX;
	else if (smtp_parse_params(p, pm, SMTP_MAX_PARAMS, &n))
		r = RPL_SYNTAX_ARGS;
	else if (n)
		r = RPL_PARAM_UNKNOWN; /* no RCPT extension is advertised */
	else if (path.utf8 && !tx->smtputf8)
		r = RPL_UTF8_REQUIRED;
	else if (max && tx->n_rcpts >= max)
		r = RPL_TOO_MANY_RCPTS;
	if (!r) {
		memset(&m, 0, sizeof m);
		r = route_rcpt(s, path.addr, &m);
	}
	if (r) {
		rcpt_answer(s, p ? path.addr : NULL, r);
		return;
	}
	if (smtp_seam_rcpt(s, path.addr, &m))
		return; /* the route enforces SPF: answered now or once SPF is known */
	smtp_cmd_rcpt_accept(s, path.addr, &m);
}

/* ---- DATA / BDAT ---- */

static void start_message(struct smtp_session *s, bool chunked)
{
	struct smtp_tx *tx = &s->tx;
	const struct gw_limits *l = &s->cfg->limits;
	smtp_msg_init(&tx->msg, l->memory_threshold);
	tx->deadline_ms = smtp_mono_ms() + l->data_deadline_ms;
	smtp_dec_init(&tx->dec, chunked, l->bare_newlines == BARE_NL_NORMALIZE,
	              l->long_lines == LONG_LINES_REJECT ? l->max_line_length : 0,
	              smtp_cmd_data_emit, s);
}

static enum smtp_reply_id check_data(struct smtp_session *s, const char *arg)
{
	if (arg)
		return RPL_SYNTAX_ARGS;
	if (!s->tx.active)
		return RPL_NEED_MAIL;
	if (s->tx.bdat)
		return RPL_BDAT_MIXED;
	if (!s->tx.n_rcpts)
		return RPL_NO_VALID_RCPTS;
	return RPL_NONE;
}

static void do_data(struct smtp_session *s, char *arg)
{
	(void)arg;
	start_message(s, false);
	smtp_session_state(s, ST_DATA);
	smtp_reply(s, RPL_DATA_GO, NULL);
}

static int parse_bdat(const char *arg, uint64_t *size, bool *last)
{
	if (!arg)
		return -1;
	const char *sp = strchr(arg, ' ');
	size_t n = sp ? (size_t)(sp - arg) : strlen(arg);
	if (smtp_parse_u64(arg, n, size))
		return -1;
	*last = false;
	if (!sp)
		return 0;
	if (strcasecmp(sp + 1, "LAST") != 0)
		return -1;
	*last = true;
	return 0;
}

/*
 * Every refusal of a BDAT whose size is known reads its chunk first and
 * answers after it (s->discard_reply), so that the chunk's bytes are never
 * taken for commands; the transaction, if any, is left as it was.
 */
static void bdat_refuse(struct smtp_session *s, const char *arg, enum smtp_reply_id why)
{
	struct smtp_tx *tx = &s->tx;
	uint64_t size;
	bool last;
	if (parse_bdat(arg, &size, &last)) {
		smtp_reply(s, RPL_BDAT_SYNTAX, NULL); /* the chunk length is unknown: no resync */
		return;
	}
	s->discard_reply = why;
	tx->deadline_ms = smtp_mono_ms() + s->cfg->limits.data_deadline_ms;
	smtp_dec_init(&tx->dec, true, false, 0, smtp_cmd_data_emit, s);
	tx->bdat_left = size;
	tx->bdat_last = last;
	smtp_session_state(s, ST_BDAT);
}

static void do_bdat(struct smtp_session *s, char *arg)
{
	struct smtp_tx *tx = &s->tx;
	uint64_t size;
	bool last;
	if (parse_bdat(arg, &size, &last)) {
		smtp_reply(s, RPL_BDAT_SYNTAX, NULL); /* the chunk length is unknown: no resync */
		return;
	}
	enum smtp_reply_id why = RPL_NONE;
	if (!s->esmtp)
		why = RPL_NO_HELO;
	else if (!tx->active)
		why = RPL_NEED_MAIL;
	else if (!tx->n_rcpts)
		why = RPL_NO_VALID_RCPTS;
	if (why) {
		bdat_refuse(s, arg, why);
		return;
	}
	if (!tx->bdat) {
		tx->bdat = true;
		start_message(s, true);
	}
	tx->n_chunks++;
	tx->bdat_left = size;
	tx->bdat_last = last;
	smtp_session_state(s, ST_BDAT);
}

void smtp_cmd_data_emit(void *ctx, const char *p, size_t n)
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
	const struct smtp_reply_row *row = smtp_reply_row(e);
	smtp_log(GW_LOG_INFO, s->id, "message refused octets=%llu: %d %s %s",
	         (unsigned long long)s->tx.received, row ? row->code : 0, row ? row->status : "",
	         row ? row->text : "");
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
	env->tls_protocol = s->tls_protocol;
	env->tls_cipher = s->tls_cipher;
	env->auth_user = s->auth_user;
	env->body = tx->body;
	env->smtputf8 = tx->smtputf8;
	env->size = tx->received;
	env->prepended = tx->msg.head; /* the trace fields, when called after they are in */
	env->received_at_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
}

/* Back from the seam: refuse, or prepend the trace fields and deliver. */
void smtp_cmd_seam_done(struct smtp_session *s, const struct smtp_seam_outcome *o)
{
	struct smtp_tx *tx = &s->tx;
	struct envelope env;
	struct message_bytes mb;
	char hdr[2048], id[DELIVERY_ID_SIZE] = "";
	if (o->refuse) {
		smtp_worker_count(s->w, C_REJECTED_MESSAGES);
		smtp_log(GW_LOG_INFO, s->id, "message refused by sender authentication: %d %s",
		         o->refuse->code, o->refuse->status);
		smtp_session_state(s, ST_COMMAND);
		smtp_tx_reset(s);
		smtp_reply_raw(s, o->refuse->code, o->refuse->status, o->refuse->text, false);
		smtp_session_resume(s);
		return;
	}
	size_t n = smtp_received(s, hdr, sizeof hdr);
	int bad = smtp_msg_prepend(&tx->msg, hdr, n);
	if (!bad && o->ar_field)
		bad = smtp_msg_prepend(&tx->msg, o->ar_field, strlen(o->ar_field));
	if (!bad)
		bad = smtp_tx_envelope_rcpts(s);
	fill_envelope(s, &env);
	int rc = DELIVERY_QUEUED;
	if (bad || smtp_msg_view(&tx->msg, &mb) ||
	    (rc = delivery_submit(s->w->delivery, tx->route, &env, &mb, o->auth, s->id, id))) {
		/* A payload too big to build will be as big next time: permanent, not 451. */
		bool too_big = rc == DELIVERY_TOO_BIG, busy = rc == DELIVERY_BUSY;
		if (too_big || busy)
			smtp_worker_count(s->w, too_big ? C_PAYLOAD_TOO_BIG : C_DELIVERY_BUSY);
		smtp_log(GW_LOG_WARN, s->id, "delivery could not be submitted%s",
		         too_big ? ": payload too large"
		         : busy  ? ": max_delivery_memory reached"
		                 : "");
		smtp_session_state(s, ST_COMMAND);
		smtp_tx_reset(s);
		smtp_reply(s,
		           too_big ? RPL_SIZE_EXCEEDED
		           : busy  ? RPL_DELIVERY_BUSY
		                   : RPL_DELIVERY_FAILED,
		           NULL);
		smtp_session_resume(s);
		return;
	}
	/* The delivery id joins this line to the webhook's lines of the message. */
	log_msg(GW_LOG_INFO, LS_SMTP, s->id, id, "message submitted octets=%llu rcpts=%zu route=%s",
	        (unsigned long long)tx->received, tx->n_rcpts, tx->route->name);
}

/* The message is complete: stop reading until it has been answered. */
static void submit(struct smtp_session *s)
{
	struct message_bytes body;
	s->n_tx++;
	smtp_session_state(s, ST_DELIVERY);
	smtp_session_arm(s, 0);
	bufferevent_disable(s->bev, EV_READ); /* backpressure while checks and POST run */
	if (smtp_msg_body(&s->tx.msg, &body)) {
		struct smtp_seam_outcome o = {NULL, NULL, NULL};
		s->tx.msg.failed = true;
		smtp_cmd_seam_done(s, &o); /* answers 451 */
		return;
	}
	smtp_seam_end_of_data(s, &body);
}

void smtp_cmd_message_end(struct smtp_session *s)
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

void smtp_session_delivered(struct smtp_session *s, const struct smtp_reply *r)
{
	smtp_worker_count(s->w, C_MESSAGES);
	smtp_log(GW_LOG_INFO, s->id, "delivered reply=%d %s", r->code, r->status);
	smtp_session_state(s, ST_COMMAND);
	smtp_tx_reset(s);
	smtp_reply_raw(s, r->code, r->status, r->text, false);
	if (s->shutdown_pending) {
		smtp_reply(s, RPL_SHUTDOWN, NULL);
		return;
	}
	smtp_session_resume(s);
}

/* ---- the small verbs ---- */

static enum smtp_reply_id check_no_arg(struct smtp_session *s, const char *arg)
{
	(void)s;
	return arg ? RPL_SYNTAX_ARGS : RPL_NONE;
}

static void do_rset(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_tx_reset(s);
	smtp_reply(s, RPL_OK, NULL);
}

static void do_noop(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, RPL_OK, NULL);
}

static void do_quit(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, RPL_QUIT, NULL);
}

static enum smtp_reply_id check_vrfy(struct smtp_session *s, const char *arg)
{
	(void)s;
	return arg && *arg ? RPL_NONE : RPL_SYNTAX_ARGS;
}

static void do_vrfy(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, RPL_VRFY, NULL);
}

static void do_help(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, RPL_HELP, NULL);
}

static void do_not_impl(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, RPL_NOT_IMPL, NULL);
}

static enum smtp_reply_id check_starttls(struct smtp_session *s, const char *arg)
{
	if (arg)
		return RPL_SYNTAX_ARGS;
	if (s->tls)
		return RPL_TLS_ALREADY;
	if (!s->rt->tls || s->lst->mode == LISTEN_SMTPS)
		return RPL_NOT_IMPL;
	if (s->tx.active)
		return RPL_TLS_IN_TX;
	return RPL_NONE;
}

static void do_starttls(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_session_starttls(s);
}

void smtp_cmd_auth(struct smtp_session *s, char *arg);
enum smtp_reply_id smtp_cmd_auth_check(struct smtp_session *s, const char *arg);

static const struct verb verbs[] = {
    {"EHLO", check_helo, do_ehlo, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
    {"HELO", check_helo, do_helo, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
    {"MAIL", check_mail, do_mail, 0},
    {"RCPT", check_rcpt, do_rcpt, 0},
    {"DATA", check_data, do_data, CF_ENDS_GROUP},
    {"BDAT", NULL, do_bdat, 0},
    {"RSET", check_no_arg, do_rset, CF_PRE_TLS | CF_PRE_AUTH},
    {"NOOP", NULL, do_noop, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
    {"QUIT", NULL, do_quit, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
    {"VRFY", check_vrfy, do_vrfy, CF_ENDS_GROUP},
    {"HELP", NULL, do_help, CF_PRE_TLS | CF_PRE_AUTH},
    {"STARTTLS", check_starttls, do_starttls, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
    {"AUTH", smtp_cmd_auth_check, smtp_cmd_auth, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
    {"EXPN", NULL, do_not_impl, CF_ENDS_GROUP},
    {"TURN", NULL, do_not_impl, CF_ENDS_GROUP},
    {"ETRN", NULL, do_not_impl, 0},
    {"SEND", NULL, do_not_impl, 0},
    {"SOML", NULL, do_not_impl, 0},
    {"SAML", NULL, do_not_impl, 0},
};

static const struct verb *find_verb(const char *line, size_t len)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == len && strncasecmp(verbs[i].name, line, len) == 0)
			return &verbs[i];
	return NULL;
}

void smtp_cmd_dispatch(struct smtp_session *s, char *line, size_t len)
{
	size_t vlen;
	const char *arg;
	if (strlen(line) != len) {
		smtp_reply(s, RPL_UNRECOGNIZED, NULL); /* NUL inside the line */
		return;
	}
	smtp_parse_verb(line, &vlen, &arg);
	const struct verb *v = find_verb(line, vlen);
	if (!v) {
		smtp_log(GW_LOG_INFO, s->id, "unknown command \"%.*s\"",
		         (int)(vlen > 16 ? 16 : vlen), line);
		smtp_reply(s, RPL_UNRECOGNIZED, NULL);
		return;
	}
	bool sub = s->lst->mode == LISTEN_SUBMISSION;
	enum smtp_reply_id r = RPL_NONE;
	if (sub && !s->tls && !(v->flags & CF_PRE_TLS))
		r = RPL_TLS_REQUIRED;
	else if (sub && !s->auth_user && !(v->flags & CF_PRE_AUTH))
		r = RPL_AUTH_REQUIRED;
	else if (v->check)
		r = v->check(s, arg);
	if (r) {
		if (v->run == do_bdat)
			bdat_refuse(s, arg, r);
		else
			smtp_reply(s, r, NULL);
		return;
	}
	v->run(s, (char *)arg);
	/* RFC 2920 3.1: legal, but worth a trace when a client does it. */
	if ((v->flags & CF_ENDS_GROUP) && s->bev && s->state == ST_COMMAND &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)))
		smtp_log(GW_LOG_DEBUG, s->id, "commands pipelined after %s", v->name);
}
