/*
 * smtp_reply.c: the reply funnel. Every reply leaves through it
 * (smtp_reply() for the catalogue's rows, smtp_catalog.c; smtp_reply_raw()
 * for the webhook's own replies; smtp_reply_lines() for multi-line ones): it
 * formats, logs, counts errors toward max_errors and closes after 421.
 *
 * Never: type a reply text here (the catalogue holds them); send a 421
 * without closing.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "smtp_reply.h"
#include "smtp_session.h"

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

/*
 * "code status text\r\n" into buf, NUL-terminated: its length, or 0 when
 * it does not fit. By hand: every message has four replies, and snprintf
 * was most of their cost.
 */
static size_t reply_line(char *buf, size_t cap, int code, const char *status, const char *text)
{
	size_t sl = strlen(status), tl = strlen(text);
	size_t n = 4 + sl + (sl ? 1 : 0) + tl + 2;
	if (code < 100 || code > 999 || n >= cap)
		return 0;
	buf[0] = (char)('0' + code / 100);
	buf[1] = (char)('0' + code / 10 % 10);
	buf[2] = (char)('0' + code % 10);
	buf[3] = ' ';
	char *p = buf + 4;
	memcpy(p, status, sl);
	p += sl;
	if (sl)
		*p++ = ' ';
	memcpy(p, text, tl);
	memcpy(p + tl, "\r\n", 3);
	return n;
}

static void emit(struct smtp_session *s, int code, const char *status, const char *text,
                 unsigned flags)
{
	char buf[640];
	if (s->dead || s->state == ST_CLOSING)
		return;
	size_t n = reply_line(buf, sizeof buf, code, status, text);
	if (!n)
		n = reply_line(buf, sizeof buf, code, status, "Reply too long");
	if (!n) /* a status too long, or a code of other than three digits: never in practice */
		n = reply_line(buf, sizeof buf, code >= 100 && code <= 999 ? code : 451, "",
		               "Reply too long");
	smtp_log(code >= 400 ? GW_LOG_INFO : GW_LOG_DEBUG, s->id, "reply %.*s", (int)n - 2, buf);
	send_text(s, buf, n);
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
	const struct smtp_reply_row *r = smtp_catalog_row(id);
	char text[512];
	if (!r) {
		smtp_log(GW_LOG_ERROR, s->id, "no reply row %d", (int)id);
		r = smtp_catalog_row(RPL_DELIVERY_FAILED);
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
	const char *lines[16];     /* the greeting line, then the catalogue's keywords (8) */
	snprintf(first, sizeof first, "%s greets %s", host, helo);
	lines[0] = first;
	size_t n = 1 + smtp_catalog_ehlo(offers, lines + 1, sizeof lines / sizeof lines[0] - 1);
	for (size_t i = 1; i < n; i++) {
		if (max_size && strcmp(lines[i], "SIZE") == 0) {
			/* RFC 1870: the limit follows the keyword when there is one */
			snprintf(size, sizeof size, "%s %llu", lines[i],
			         (unsigned long long)max_size);
			lines[i] = size;
		}
	}
	smtp_reply_lines(s, 250, lines, n);
}
