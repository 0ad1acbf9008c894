/*
 * smtp_cmd.c: the SMTP verbs. Owns the verb table ({verb, check, do,
 * flags}), RFC 5321 4.1.1 command semantics and sequencing (4.1.4), the
 * ESMTP extensions we advertise (RFC 1870 SIZE, RFC 6152 8BITMIME, RFC
 * 6531 SMTPUTF8, RFC 2920 PIPELINING, RFC 3030 CHUNKING, RFC 2034
 * ENHANCEDSTATUSCODES, RFC 3207 STARTTLS, RFC 4954 AUTH PLAIN/LOGIN). A
 * command that passes its checks is handed to its owner: the transaction
 * (smtp_tx.c) for MAIL, RCPT, DATA and BDAT, SASL (smtp_sasl.c) for AUTH;
 * STARTTLS is flagged for the session, which switches once this returns.
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

#include "delivery.h"
#include "routes.h"
#include "smtp_cmd.h"
#include "smtp_sasl.h"
#include "smtp_session.h"
#include "smtp_tx.h"

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
	unsigned offers = 0;
	set_helo(s, arg, true);
	if (s->state == ST_CLOSING)
		return;
	if (!s->tls && s->rt->tls && s->lst->mode != LISTEN_SMTPS)
		offers |= EHLO_STARTTLS;
	if (s->lst->mode == LISTEN_SUBMISSION && s->tls && !s->auth_user)
		offers |= EHLO_AUTH;
	smtp_reply_ehlo(s, s->cfg->server.hostname, s->helo, s->cfg->limits.max_message_size,
	                offers);
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
	smtp_tx_mail(s); /* the transaction answers: now, or once SPF is known */
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
		smtp_tx_rcpt_answer(s, p ? path.addr : NULL, r);
		return;
	}
	smtp_tx_rcpt(s, path.addr, &m); /* the transaction answers: now, or once SPF is known */
}

/* ---- DATA / BDAT ---- */

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

/*
 * The request bodies of the deliveries in flight (all workers) already
 * fill max_delivery_memory: 451 4.3.1 before the client sends a message
 * that could only be refused at its end. The end of data checks again
 * with the message's own body (delivery_submit()).
 */
static bool delivery_memory_full(struct smtp_session *s)
{
	uint64_t max = s->cfg->limits.max_delivery_memory, held = delivery_memory_held();
	if (!max || held < max)
		return false;
	smtp_worker_count(s->w, C_DATA_BUSY);
	smtp_log(GW_LOG_WARN, s->id, "limit max_delivery_memory=%llu reached at DATA: %llu held",
	         (unsigned long long)max, (unsigned long long)held);
	return true;
}

static void do_data(struct smtp_session *s, char *arg)
{
	(void)arg;
	if (delivery_memory_full(s)) {
		smtp_reply(s, RPL_DELIVERY_BUSY,
		           NULL); /* the transaction stays: DATA may be retried */
		return;
	}
	smtp_tx_data(s);
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
	uint64_t size;
	bool last;
	if (parse_bdat(arg, &size, &last)) {
		smtp_reply(s, RPL_BDAT_SYNTAX, NULL); /* the chunk length is unknown: no resync */
		return;
	}
	smtp_tx_bdat(s, size, last, why);
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
	else if (!tx->bdat && delivery_memory_full(s))
		why = RPL_DELIVERY_BUSY; /* the first chunk, as DATA */
	smtp_tx_bdat(s, size, last, why);
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

/* The switch itself is the session's (its I/O callbacks): it happens when this returns. */
static void do_starttls(struct smtp_session *s, char *arg)
{
	(void)arg;
	s->starttls = true;
}

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
    {"AUTH", smtp_sasl_check, smtp_sasl_cmd, CF_PRE_TLS | CF_PRE_AUTH | CF_ENDS_GROUP},
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
