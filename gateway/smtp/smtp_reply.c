/*
 * smtp_reply.c: the reply catalogue and the reply funnel. Every reply the
 * SMTP front end sends on its own account is one row here, with its RFC
 * 5321 4.2 code and its RFC 3463 enhanced status (RFC 2034), the EHLO
 * keyword lines and the sender-authentication refusals included. Every
 * reply leaves through the funnel below (smtp_reply(), smtp_reply_raw() for
 * the webhook's own replies, smtp_reply_lines() for multi-line ones): it
 * formats, logs, counts errors toward max_errors and closes after 421.
 *
 * Never: type a reply text anywhere else; give 421 without RF_CLOSE.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "smtp_reply.h"
#include "smtp_session.h"

static const struct smtp_reply_row rows[RPL_MAX] = {
    [RPL_GREETING] = {RPL_GREETING, 220, "", "{} ESMTP smtp-gateway", 0},
    [RPL_HELO] = {RPL_HELO, 250, "", "{}", 0},
    [RPL_OK] = {RPL_OK, 250, "2.0.0", "Ok", 0},
    [RPL_MAIL_OK] = {RPL_MAIL_OK, 250, "2.1.0", "Sender ok", 0},
    [RPL_RCPT_OK] = {RPL_RCPT_OK, 250, "2.1.5", "Recipient ok", 0},
    [RPL_DATA_GO] = {RPL_DATA_GO, 354, "", "End data with <CR><LF>.<CR><LF>", 0},
    [RPL_BDAT_OK] = {RPL_BDAT_OK, 250, "2.0.0", "{} octets received", 0},
    [RPL_QUIT] = {RPL_QUIT, 221, "2.0.0", "Bye", RF_CLOSE},
    [RPL_VRFY] = {RPL_VRFY, 252, "2.5.0",
                  "Cannot VRFY user, but will accept message and attempt delivery", 0},
    [RPL_HELP] = {RPL_HELP, 214, "2.0.0",
                  "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
                  0},
    [RPL_STARTTLS_GO] = {RPL_STARTTLS_GO, 220, "2.0.0", "Ready to start TLS", 0},
    [RPL_AUTH_OK] = {RPL_AUTH_OK, 235, "2.7.0", "Authentication successful", 0},
    [RPL_AUTH_CONT] = {RPL_AUTH_CONT, 334, "", "{}", 0},
    [RPL_AUTH_FAIL] = {RPL_AUTH_FAIL, 535, "5.7.8", "Authentication credentials invalid", RF_ERROR},
    [RPL_AUTH_CANCEL] = {RPL_AUTH_CANCEL, 501, "5.7.0", "Authentication cancelled", RF_ERROR},
    [RPL_AUTH_BAD_B64] = {RPL_AUTH_BAD_B64, 501, "5.5.2", "Cannot decode the response", RF_ERROR},
    [RPL_AUTH_MECH] = {RPL_AUTH_MECH, 504, "5.5.4", "Unrecognized authentication type", RF_ERROR},
    [RPL_AUTH_NEED_TLS] = {RPL_AUTH_NEED_TLS, 538, "5.7.11",
                           "Encryption required for requested authentication mechanism", RF_ERROR},
    [RPL_AUTH_REQUIRED] = {RPL_AUTH_REQUIRED, 530, "5.7.0", "Authentication required", RF_ERROR},
    [RPL_TLS_REQUIRED] = {RPL_TLS_REQUIRED, 530, "5.7.0", "Must issue a STARTTLS command first",
                          RF_ERROR},
    [RPL_AUTH_TOO_MANY] = {RPL_AUTH_TOO_MANY, 421, "4.7.0",
                           "Too many authentication failures, closing", RF_CLOSE},
    [RPL_UNRECOGNIZED] = {RPL_UNRECOGNIZED, 500, "5.5.2", "Command unrecognized", RF_ERROR},
    [RPL_LINE_TOO_LONG] = {RPL_LINE_TOO_LONG, 500, "5.5.6", "Line too long", RF_ERROR},
    [RPL_NOT_IMPL] = {RPL_NOT_IMPL, 502, "5.5.1", "Command not implemented", RF_ERROR},
    [RPL_BAD_SEQUENCE] = {RPL_BAD_SEQUENCE, 503, "5.5.1", "Bad sequence of commands", RF_ERROR},
    [RPL_NO_HELO] = {RPL_NO_HELO, 503, "5.5.1", "Send HELO/EHLO first", RF_ERROR},
    [RPL_NESTED_MAIL] = {RPL_NESTED_MAIL, 503, "5.5.1", "Nested MAIL command", RF_ERROR},
    [RPL_NEED_MAIL] = {RPL_NEED_MAIL, 503, "5.5.1", "Need MAIL command", RF_ERROR},
    [RPL_NEED_RCPT] = {RPL_NEED_RCPT, 503, "5.5.1", "Need RCPT command", RF_ERROR},
    [RPL_SYNTAX_ARGS] = {RPL_SYNTAX_ARGS, 501, "5.5.4", "Syntax error in parameters or arguments",
                         RF_ERROR},
    [RPL_PARAM_UNKNOWN] = {RPL_PARAM_UNKNOWN, 555, "5.5.4",
                           "Parameter not recognized or not implemented", RF_ERROR},
    [RPL_SENDER_SYNTAX] = {RPL_SENDER_SYNTAX, 501, "5.1.7", "Bad sender address syntax", RF_ERROR},
    [RPL_RCPT_SYNTAX] = {RPL_RCPT_SYNTAX, 501, "5.1.3", "Bad recipient address syntax", RF_ERROR},
    [RPL_UTF8_REQUIRED] = {RPL_UTF8_REQUIRED, 553, "5.6.7", "Non-ASCII address without SMTPUTF8",
                           RF_ERROR},
    [RPL_SIZE_EXCEEDED] = {RPL_SIZE_EXCEEDED, 552, "5.3.4", "Message size exceeds fixed limit", 0},
    [RPL_RELAY_DENIED] = {RPL_RELAY_DENIED, 550, "5.7.1", "Relay access denied", RF_ERROR},
    [RPL_UNKNOWN_USER] = {RPL_UNKNOWN_USER, 550, "5.1.1",
                          "Recipient address rejected: user unknown", RF_ERROR},
    [RPL_BAD_ADDRESS] = {RPL_BAD_ADDRESS, 501, "5.1.3", "Bad recipient address", RF_ERROR},
    [RPL_OTHER_ENDPOINT] = {RPL_OTHER_ENDPOINT, 452, "4.5.3",
                            "Too many recipients: send this one in another transaction", 0},
    [RPL_TOO_MANY_RCPTS] = {RPL_TOO_MANY_RCPTS, 452, "4.5.3", "Too many recipients", 0},
    [RPL_ROUTE_UNAVAILABLE] = {RPL_ROUTE_UNAVAILABLE, 451, "4.3.0",
                               "Destination temporarily unavailable", 0},
    [RPL_NO_VALID_RCPTS] = {RPL_NO_VALID_RCPTS, 554, "5.5.1", "No valid recipients", RF_ERROR},
    [RPL_BARE_NEWLINE] = {RPL_BARE_NEWLINE, 550, "5.5.2", "Bare CR or LF received", 0},
    [RPL_LONG_LINE] = {RPL_LONG_LINE, 550, "5.5.2", "Message line too long", 0},
    [RPL_DELIVERY_FAILED] = {RPL_DELIVERY_FAILED, 451, "4.3.0",
                             "Temporary local problem, try again later", 0},
    [RPL_DELIVERY_BUSY] = {RPL_DELIVERY_BUSY, 451, "4.3.1",
                           "Insufficient system resources, try again later", 0},
    [RPL_TOO_MANY_ERRORS] = {RPL_TOO_MANY_ERRORS, 421, "4.7.0", "Too many errors, closing",
                             RF_CLOSE},
    [RPL_TOO_MANY_TX] = {RPL_TOO_MANY_TX, 421, "4.7.0",
                         "Too many transactions on one connection, closing", RF_CLOSE},
    [RPL_TOO_MANY_CONN] = {RPL_TOO_MANY_CONN, 421, "4.7.0", "Too many connections, try again later",
                           RF_CLOSE},
    [RPL_TOO_MANY_CONN_IP] = {RPL_TOO_MANY_CONN_IP, 421, "4.7.0",
                              "Too many connections from your address", RF_CLOSE},
    [RPL_TIMEOUT] = {RPL_TIMEOUT, 421, "4.4.2", "Timeout exceeded, closing", RF_CLOSE},
    [RPL_SHUTDOWN] = {RPL_SHUTDOWN, 421, "4.3.2", "Service shutting down, closing", RF_CLOSE},
    [RPL_EARLY_TALKER] = {RPL_EARLY_TALKER, 554, "5.5.1",
                          "Protocol error: talked before the greeting", RF_CLOSE},
    [RPL_NO_MEMORY] = {RPL_NO_MEMORY, 421, "4.3.0", "Out of memory, closing", RF_CLOSE},
    [RPL_TLS_UNAVAILABLE] = {RPL_TLS_UNAVAILABLE, 454, "4.7.0", "TLS not available", RF_ERROR},
    [RPL_TLS_ALREADY] = {RPL_TLS_ALREADY, 503, "5.5.1", "TLS already active", RF_ERROR},
    [RPL_TLS_IN_TX] = {RPL_TLS_IN_TX, 503, "5.5.1", "MAIL transaction in progress", RF_ERROR},
    [RPL_BDAT_SYNTAX] = {RPL_BDAT_SYNTAX, 501, "5.5.4",
                         "Bad BDAT syntax, cannot stay in sync, closing", RF_CLOSE},
    [RPL_BDAT_MIXED] = {RPL_BDAT_MIXED, 503, "5.5.1", "DATA and BDAT cannot be mixed", RF_ERROR},
    [RPL_AUTH_BUSY] = {RPL_AUTH_BUSY, 454, "4.7.0",
                       "Temporary authentication failure, try again later", 0},
    /* RFC 4954 6; the exchange ends with it (RFC 4954 4), the next line is a command. */
    [RPL_AUTH_LINE_TOO_LONG] = {RPL_AUTH_LINE_TOO_LONG, 500, "5.5.6",
                                "Authentication Exchange line is too long", RF_ERROR},
    /* Bidi and C1 controls in an address only deceive whoever reads it. */
    [RPL_SENDER_DECEPTIVE] = {RPL_SENDER_DECEPTIVE, 553, "5.1.7",
                              "Sender address has control or bidirectional characters", RF_ERROR},
    [RPL_RCPT_DECEPTIVE] = {RPL_RCPT_DECEPTIVE, 553, "5.1.3",
                            "Recipient address has control or bidirectional characters", RF_ERROR},
    [RPL_AUTH_IP_FAILURES] = {RPL_AUTH_IP_FAILURES, 454, "4.7.0",
                              "Too many failed authentications from your address, try again later",
                              RF_ERROR},
    /* Sender authentication (include/auth.h verdicts; the seam maps them here). */
    [RPL_AUTH_SPF_FAIL] = {RPL_AUTH_SPF_FAIL, 550, "5.7.23", "SPF validation failed", 0},
    [RPL_AUTH_SPF_TEMP] = {RPL_AUTH_SPF_TEMP, 451, "4.7.24",
                           "SPF validation error, try again later", 0},
    [RPL_AUTH_DKIM_FAIL] = {RPL_AUTH_DKIM_FAIL, 550, "5.7.20", "No passing DKIM signature found",
                            0},
    [RPL_AUTH_DKIM_TEMP] = {RPL_AUTH_DKIM_TEMP, 451, "4.7.20",
                            "DKIM key lookup failed, try again later", 0},
    [RPL_AUTH_ARC_FAIL] = {RPL_AUTH_ARC_FAIL, 550, "5.7.29", "ARC validation failure", 0},
    [RPL_AUTH_ARC_TEMP] = {RPL_AUTH_ARC_TEMP, 451, "4.7.29",
                           "ARC validation error, try again later", 0},
    [RPL_AUTH_DMARC_REJECT] = {RPL_AUTH_DMARC_REJECT, 550, "5.7.1",
                               "Message rejected per the DMARC policy of the author domain", 0},
    /* RFC 7489 section 6.6.1: the authors cannot all be checked; refusing is allowed. */
    [RPL_AUTH_DMARC_PERMERROR] = {RPL_AUTH_DMARC_PERMERROR, 550, "5.7.1",
                                  "Message rejected: the From field cannot be checked under DMARC",
                                  0},
    [RPL_AUTH_DMARC_TEMP] = {RPL_AUTH_DMARC_TEMP, 451, "4.7.1",
                             "DMARC policy lookup failed, try again later", 0},
    [RPL_AUTH_TIMEOUT] = {RPL_AUTH_TIMEOUT, 451, "4.7.1",
                          "Sender authentication timed out, try again later", 0},
};

/* EHLO keyword lines (RFC 5321 4.1.1.1), in the order they are sent. */
static const struct {
	unsigned need; /* EHLO_* the session must offer; 0: always */
	const char *text;
} ehlo_keywords[] = {
    {0, "PIPELINING"},          /* RFC 2920 */
    {0, "SIZE"},                /* RFC 1870: the limit is appended when there is one */
    {0, "8BITMIME"},            /* RFC 6152 */
    {0, "SMTPUTF8"},            /* RFC 6531 */
    {0, "ENHANCEDSTATUSCODES"}, /* RFC 2034 */
    {0, "CHUNKING"},            /* RFC 3030 */
    {EHLO_STARTTLS, "STARTTLS"},
    {EHLO_AUTH, "AUTH PLAIN LOGIN"},
};

const struct smtp_reply_row *smtp_reply_row(enum smtp_reply_id id)
{
	if (id <= RPL_NONE || id >= RPL_MAX || !rows[id].code)
		return NULL;
	return &rows[id];
}

static void send_text(struct smtp_session *s, const char *buf, size_t n)
{
	if (s->bev) {
		if (evbuffer_add(bufferevent_get_output(s->bev), buf, n) == 0) {
			smtp_session_output_added(s);
			return;
		}
		smtp_session_close_now(s);
		return;
	}
	/* Before any bufferevent exists (refused at admission): one best-effort write. */
	ssize_t w = send(s->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w;
}

static void emit(struct smtp_session *s, int code, const char *status, const char *text,
                 unsigned flags)
{
	char buf[640];
	if (s->dead || s->state == ST_CLOSING)
		return;
	int n = snprintf(buf, sizeof buf, "%d %s%s%s\r\n", code, status, *status ? " " : "", text);
	if (n < 0 || (size_t)n >= sizeof buf)
		n = snprintf(buf, sizeof buf, "%d %s%sReply too long\r\n", code, status,
		             *status ? " " : "");
	smtp_log(code >= 400 ? GW_LOG_INFO : GW_LOG_DEBUG, s->id, "reply %.*s", n - 2, buf);
	send_text(s, buf, (size_t)n);
	if (code == 421 || (flags & RF_CLOSE)) {
		smtp_session_begin_close(s);
		return;
	}
	if (!(flags & RF_ERROR))
		return;
	s->n_errors++;
	uint32_t max = s->cfg->limits.max_errors;
	if (max && s->n_errors >= max) {
		smtp_worker_count(s->w, C_TOO_MANY_ERRORS);
		smtp_log(GW_LOG_WARN, s->id, "limit max_errors=%u reached ip=%s", max, s->ip);
		smtp_reply(s, RPL_TOO_MANY_ERRORS, NULL);
	}
}

static void expand(const char *tmpl, const char *detail, char *out, size_t outlen)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < outlen; p++) {
		if (p[0] == '{' && p[1] == '}') {
			for (const char *d = detail ? detail : ""; *d && o + 1 < outlen; d++)
				out[o++] = *d;
			p++;
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
}

void smtp_reply(struct smtp_session *s, enum smtp_reply_id id, const char *detail)
{
	const struct smtp_reply_row *r = smtp_reply_row(id);
	char text[512];
	if (!r) {
		smtp_log(GW_LOG_ERROR, s->id, "no reply row %d", (int)id);
		r = smtp_reply_row(RPL_DELIVERY_FAILED);
	}
	expand(r->text, detail, text, sizeof text);
	emit(s, r->code, r->status, text, r->flags);
}

void smtp_reply_raw(struct smtp_session *s, int code, const char *status, const char *text,
                    bool is_error)
{
	char clean[256];
	size_t o = 0;
	/* Text from outside (the webhook) must stay one printable line. */
	for (const char *p = text; *p && o + 1 < sizeof clean; p++)
		clean[o++] = (*p >= 32 && *p <= 126) ? *p : ' ';
	clean[o] = '\0';
	emit(s, code, status, clean, is_error ? RF_ERROR : 0);
}

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF; longer text is cut. */
#define SMTP_REPLY_LINE_MAX 512

/* The length of s cut to at most max octets, never inside a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

void smtp_reply_lines(struct smtp_session *s, int code, const char *const *lines, size_t n)
{
	char buf[SMTP_REPLY_LINE_MAX + 1];
	if (s->dead || s->state == ST_CLOSING)
		return;
	for (size_t i = 0; i < n; i++) {
		int len = (int)utf8_prefix(lines[i], SMTP_REPLY_LINE_MAX - 6); /* "250-" and CRLF */
		int k = snprintf(buf, sizeof buf, "%d%c%.*s\r\n", code, i + 1 < n ? '-' : ' ', len,
		                 lines[i]);
		if (k < 0 || (size_t)k >= sizeof buf)
			continue; /* cannot happen: the text was cut to fit */
		send_text(s, buf, (size_t)k);
	}
	smtp_log(GW_LOG_DEBUG, s->id, "reply %d (%zu lines)", code, n);
}

void smtp_reply_ehlo(struct smtp_session *s, const char *host, const char *helo, uint64_t max_size,
                     unsigned offers)
{
	char first[600], size[48]; /* hostname (255) " greets " argument (255) */
	const char *lines[1 + sizeof ehlo_keywords / sizeof ehlo_keywords[0]];
	size_t n = 0;
	snprintf(first, sizeof first, "%s greets %s", host, helo);
	lines[n++] = first;
	for (size_t i = 0; i < sizeof ehlo_keywords / sizeof ehlo_keywords[0]; i++) {
		const char *kw = ehlo_keywords[i].text;
		if (ehlo_keywords[i].need && !(offers & ehlo_keywords[i].need))
			continue;
		if (max_size && strcmp(kw, "SIZE") == 0) {
			snprintf(size, sizeof size, "%s %llu", kw, (unsigned long long)max_size);
			kw = size;
		}
		lines[n++] = kw;
	}
	smtp_reply_lines(s, 250, lines, n);
}
