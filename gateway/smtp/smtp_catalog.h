/*
 * smtp_catalog.h: the reply catalogue (smtp_catalog.c): every reply the SMTP
 * front end gives on its own account, by id, the EHLO keyword lines, and the
 * reply each sender-authentication verdict of auth.h gets. Pure data: no
 * session, no I/O, so the funnel (smtp_reply.c), the seam, `smtp-gateway
 * auth` and the tests all read the very same rows.
 */
#ifndef SMTP_CATALOG_H
#define SMTP_CATALOG_H

#include <stddef.h>

#include "auth.h"

enum smtp_reply_id {
	RPL_NONE = 0,
	RPL_GREETING,
	RPL_HELO,
	RPL_OK,
	RPL_MAIL_OK,
	RPL_RCPT_OK,
	RPL_DATA_GO,
	RPL_BDAT_OK,
	RPL_QUIT,
	RPL_VRFY,
	RPL_HELP,
	RPL_STARTTLS_GO,
	RPL_AUTH_OK,
	RPL_AUTH_CONT,
	RPL_AUTH_FAIL,
	RPL_AUTH_CANCEL,
	RPL_AUTH_BAD_B64,
	RPL_AUTH_MECH,
	RPL_AUTH_NEED_TLS,
	RPL_AUTH_REQUIRED,
	RPL_TLS_REQUIRED,
	RPL_AUTH_TOO_MANY,
	RPL_UNRECOGNIZED,
	RPL_LINE_TOO_LONG,
	RPL_NOT_IMPL,
	RPL_BAD_SEQUENCE,
	RPL_NO_HELO,
	RPL_NESTED_MAIL,
	RPL_NEED_MAIL,
	RPL_NEED_RCPT,
	RPL_SYNTAX_ARGS,
	RPL_PARAM_UNKNOWN,
	RPL_SENDER_SYNTAX,
	RPL_RCPT_SYNTAX,
	RPL_UTF8_REQUIRED,
	RPL_SIZE_EXCEEDED,
	RPL_RELAY_DENIED,
	RPL_UNKNOWN_USER,
	RPL_BAD_ADDRESS,
	RPL_OTHER_ENDPOINT,
	RPL_TOO_MANY_RCPTS,
	RPL_ROUTE_UNAVAILABLE,
	RPL_NO_VALID_RCPTS,
	RPL_BARE_NEWLINE,
	RPL_LONG_LINE,
	RPL_DELIVERY_FAILED,
	RPL_DELIVERY_BUSY,
	RPL_TOO_MANY_ERRORS,
	RPL_TOO_MANY_TX,
	RPL_TOO_MANY_CONN,
	RPL_TOO_MANY_CONN_IP,
	RPL_TIMEOUT,
	RPL_SHUTDOWN,
	RPL_EARLY_TALKER,
	RPL_NO_MEMORY,
	RPL_TLS_UNAVAILABLE,
	RPL_TLS_ALREADY,
	RPL_TLS_IN_TX,
	RPL_BDAT_SYNTAX,
	RPL_BDAT_MIXED,
	RPL_AUTH_BUSY,
	RPL_AUTH_LINE_TOO_LONG,
	RPL_SENDER_DECEPTIVE,
	RPL_RCPT_DECEPTIVE,
	RPL_AUTH_IP_FAILURES,
	/* sender authentication's refusals (auth.h verdicts, RFC 7372, RFC 8617, RFC 7489) */
	RPL_AUTH_SPF_FAIL,
	RPL_AUTH_SPF_TEMP,
	RPL_AUTH_DKIM_FAIL,
	RPL_AUTH_DKIM_TEMP,
	RPL_AUTH_ARC_FAIL,
	RPL_AUTH_ARC_TEMP,
	RPL_AUTH_DMARC_REJECT,
	RPL_AUTH_DMARC_PERMERROR,
	RPL_AUTH_DMARC_TEMP,
	RPL_AUTH_TIMEOUT,
	/* rspamd's verdicts under [spam] (include/spam.h, docs/spam.md) */
	RPL_SPAM_REJECT,
	RPL_SPAM_REJECT_TEXT,
	RPL_SPAM_DEFER,
	RPL_SPAM_UNAVAILABLE,
	RPL_MAX
};

enum {
	RF_ERROR = 1 << 0, /* counts toward limits.max_errors */
	RF_CLOSE = 1 << 1, /* the session closes once this reply is sent */
};

struct smtp_reply_row {
	enum smtp_reply_id id;
	int code;
	const char *status; /* "" for replies that carry none (220 greeting, 354) */
	const char *text;   /* "{}" is replaced by the detail argument */
	unsigned flags;
};

/* The row of id; NULL for RPL_NONE, RPL_MAX or an id without a row. */
const struct smtp_reply_row *smtp_catalog_row(enum smtp_reply_id id);

/*
 * The reply a sender-authentication verdict gets: RPL_OK for accept and
 * quarantine (the checks do not refuse; the webhook's answer decides), the
 * RPL_AUTH_* refusal otherwise. Fails closed: an id without a row is
 * RPL_AUTH_TIMEOUT, a temporary refusal, never a pass.
 */
enum smtp_reply_id smtp_catalog_auth(enum auth_verdict_id id);

/* What an EHLO reply offers beyond the keywords every session gets. */
enum {
	EHLO_STARTTLS = 1 << 0, /* RFC 3207 */
	EHLO_AUTH = 1 << 1,     /* RFC 4954: AUTH PLAIN LOGIN */
};

/* The EHLO keyword lines that offers allow, in sending order, into out (at most max). */
size_t smtp_catalog_ehlo(unsigned offers, const char **out, size_t max);

#endif
