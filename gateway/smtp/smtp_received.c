/*
 * smtp_received.c: the Received: trace header (RFC 5321 4.4) prepended to
 * every message, with the protocol names of RFC 3848 and RFC 6531 7
 * (SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP, UTF8SMTPS, UTF8SMTPA,
 * UTF8SMTPSA), the TLS version and cipher as a comment, and "for <rcpt>"
 * when the message has one recipient.
 *
 * Never: copy a client-supplied string into the header unfiltered (the
 * HELO name could otherwise inject header lines or break the comment).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtp_session.h"

static const char *protocol(const struct smtp_session *s)
{
	static const char *const names[2][2][2] = {
	    /* [utf8][tls][auth] */
	    {{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}},
	    {{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}},
	};
	if (!s->esmtp)
		return "SMTP";
	return names[s->tx.smtputf8][s->tls][s->auth_user != NULL];
}

/* HELO names and addresses keep only what cannot break the header. */
static void clean(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (; in && *in && o + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || (c && strchr(".-_:[]@+", c)) || c >= 0x80;
		out[o++] = ok ? (char)c : '?';
	}
	out[o] = '\0';
}

size_t smtp_received(const struct smtp_session *s, char *out, size_t outlen)
{
	char helo[256], rcpt[300], tls[200] = "", date[64], forc[320] = "";
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	clean(s->helo, helo, sizeof helo);
	if (s->tls)
		snprintf(tls, sizeof tls, "\r\n\t(%s with cipher %s)",
		         s->tls_protocol ? s->tls_protocol : "TLS",
		         s->tls_cipher ? s->tls_cipher : "unknown");
	if (s->tx.n_rcpts == 1) {
		clean(s->tx.rcpt_addrs, rcpt, sizeof rcpt);
		snprintf(forc, sizeof forc, "\r\n\tfor <%s>", rcpt);
	}
	int n =
	    snprintf(out, outlen,
	             "Received: from %s ([%s])\r\n\tby %s with %s id %016llx.%u%s%s;\r\n\t%s\r\n",
	             helo, s->ip, s->cfg->server.hostname ? s->cfg->server.hostname : "localhost",
	             protocol(s), (unsigned long long)s->id, s->tx.seq, tls, forc, date);
	if (n < 0)
		return 0;
	return (size_t)n < outlen ? (size_t)n : outlen - 1;
}
