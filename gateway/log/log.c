/*
 * log.c: the one log of the daemon (include/log.h). Owns the level and
 * trace switches (atomics: a reload changes them while workers log), the
 * line format and the output.
 *
 * Line format (text output):
 *   smtp-gateway[PID]: LEVEL sys=SUBSYS [session=ID] [delivery=ID] TEXT
 * session is the SMTP session's 16 hex digits, delivery the webhook's
 * delivery id (the Idempotency-Key): grep either to join the two halves of
 * one message.
 *
 * Never: write a line in more than one write(2), let a control octet of
 * the text through, allocate.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048

#define LOG_SUBSYS_NAME(e, name) [e] = name,
const char *const log_subsys_names[LS_MAX] = {LOG_SUBSYSTEMS(LOG_SUBSYS_NAME)};
#undef LOG_SUBSYS_NAME

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static atomic_int log_level = GW_LOG_INFO; /* before a configuration is loaded */
static atomic_uint log_trace;              /* bit per enum log_subsys */

void log_configure(enum gw_log_level level, char *const *trace, size_t n_trace)
{
	unsigned mask = 0;
	for (size_t i = 0; i < n_trace; i++)
		for (unsigned k = 0; k < LS_MAX; k++)
			if (trace[i] && strcmp(trace[i], log_subsys_names[k]) == 0)
				mask |= 1u << k;
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
	atomic_store_explicit(&log_trace, mask, memory_order_relaxed);
}

bool log_enabled(enum gw_log_level level, enum log_subsys sys)
{
	if ((int)level <= atomic_load_explicit(&log_level, memory_order_relaxed))
		return true;
	return level == GW_LOG_DEBUG && (unsigned)sys < LS_MAX &&
	       (atomic_load_explicit(&log_trace, memory_order_relaxed) & (1u << sys));
}

/*
 * Client strings (verbs, addresses, names) reach the log through %s: a CR,
 * LF or terminal escape in them must not forge a line or recolour a
 * terminal, so every control octet becomes \xHH here, in the one funnel.
 */
size_t log_escape(const char *in, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x20 && c != 0x7f) {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
			continue;
		}
		if (o + 4 > cap)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	return o;
}

/*
 * The one output. One write per line, so that workers never interleave
 * inside a line. JSON and syslog outputs are chosen here, by the level and
 * fields log_msg() passes on.
 */
static void log_output(const char *line, size_t len)
{
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void log_msg(enum gw_log_level level, enum log_subsys sys, uint64_t session, const char *delivery,
             const char *fmt, ...)
{
	char buf[LOG_LINE_MAX], msg[LOG_LINE_MAX];
	if (!log_enabled(level, sys))
		return;
	if ((unsigned)level > GW_LOG_DEBUG)
		level = GW_LOG_DEBUG;
	if ((unsigned)sys >= LS_MAX)
		sys = LS_MAIN;
	size_t len = (size_t)snprintf(buf, sizeof buf, "smtp-gateway[%d]: %s sys=%s ",
	                              (int)getpid(), level_names[level], log_subsys_names[sys]);
	if (session)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "session=%016llx ",
		                        (unsigned long long)session);
	if (delivery && *delivery) {
		len += log_escape("delivery=", 9, buf + len, sizeof buf - len);
		len += log_escape(delivery, strnlen(delivery, 64), buf + len, sizeof buf - len - 1);
		buf[len++] = ' ';
	}
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t mlen = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
	len += log_escape(msg, mlen, buf + len, sizeof buf - len - 1);
	buf[len++] = '\n';
	log_output(buf, len);
}
