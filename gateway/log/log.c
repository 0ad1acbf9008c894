/*
 * log.c: the one log of the daemon (include/log.h). Owns the level and
 * trace switches (atomics: a reload changes them while workers log), the
 * line formats (text and JSON), and the outputs (standard error, a file
 * reopened on SIGUSR1, syslog).
 *
 * Text line:
 *   smtp-gateway[PID]: LEVEL sys=SUBSYS [session=ID] [delivery=ID] TEXT [key=value ...]
 * JSON line (one object per line):
 *   {"time":"...Z","level":"info","sys":"smtp","pid":N,"session":"..",
 *    "delivery":"..","msg":"TEXT", key: value ...}
 * session is the SMTP session's 16 hex digits, delivery the webhook's
 * delivery id (the Idempotency-Key): grep either to join the two halves of
 * one message.
 *
 * Never: write a line in more than one write(2), let a control octet (or,
 * in JSON, a byte that is not UTF-8) through, allocate, or close the
 * descriptor other threads write to (a reopen dup2()s over it).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096
/* Room always kept at the end of a line for what closes it: "\"]}\n". */
#define LOG_RESERVE 8

#define LOG_SUBSYS_NAME(e, name) [e] = name,
const char *const log_subsys_names[LS_MAX] = {LOG_SUBSYSTEMS(LOG_SUBSYS_NAME)};
#undef LOG_SUBSYS_NAME

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static atomic_int log_level = GW_LOG_INFO; /* before a configuration is loaded */
static atomic_uint log_trace;              /* bit per enum log_subsys */
static atomic_int log_format = LOG_FORMAT_TEXT;
static atomic_int log_target = LOG_TARGET_STDERR;
static atomic_int log_fd = -1; /* [server] log_file: a number that never changes once open */
static char log_path[1024];    /* for SIGUSR1; written by the main thread only */

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

/* ---- outputs ---- */

/*
 * Opens path and makes log_fd write to it. The first open sets log_fd; a
 * reopen dup2()s the new file over the same number, so a thread writing
 * meanwhile writes to the old file or the new, never to a closed or reused
 * descriptor.
 */
static int open_log_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	int cur = atomic_load(&log_fd);
	if (cur < 0) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	int rc = dup3(fd, cur, O_CLOEXEC) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

int log_set_output(enum gw_log_format format, enum gw_log_target target, const char *file)
{
	if (target == LOG_TARGET_FILE) {
		if (!file || strlen(file) >= sizeof log_path)
			return -1;
		bool same = strcmp(file, log_path) == 0 && atomic_load(&log_fd) >= 0;
		if (!same && open_log_file(file))
			return -1;
		snprintf(log_path, sizeof log_path, "%s", file);
	}
	if (target == LOG_TARGET_SYSLOG)
		openlog("smtp-gateway", LOG_PID | LOG_NDELAY, LOG_MAIL);
	atomic_store(&log_format, (int)format);
	atomic_store(&log_target, (int)target);
	return 0;
}

int log_reopen(void)
{
	if (atomic_load(&log_target) != LOG_TARGET_FILE || !log_path[0])
		return 0;
	return open_log_file(log_path);
}

/*
 * The one place lines leave, one write each so that workers never
 * interleave inside a line. body is the line without the text prefix
 * "smtp-gateway[PID]: " (syslog adds its own).
 */
static void log_output(enum gw_log_level level, const char *line, size_t len, const char *body)
{
	int target = atomic_load_explicit(&log_target, memory_order_relaxed);
	if (target == LOG_TARGET_SYSLOG) {
		int n = (int)(len - (size_t)(body - line)) - 1; /* without the newline */
		syslog(syslog_prio[level], "%.*s", n, body);
		return;
	}
	int fd = target == LOG_TARGET_FILE ? atomic_load(&log_fd) : STDERR_FILENO;
	ssize_t w = write(fd >= 0 ? fd : STDERR_FILENO, line, len);
	(void)w;
}

/* ---- building one line ---- */

struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
	size_t body; /* where the line starts without the text prefix */
	bool json;
	bool full; /* a put did not fit: the field being written is dropped whole */
};

/* Appends n octets when they fit before the reserve; else nothing. */
static bool put(struct line *l, const char *s, size_t n)
{
	if (l->len + n > sizeof l->buf - LOG_RESERVE) {
		l->full = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static bool puts_(struct line *l, const char *s)
{
	return put(l, s, strlen(s));
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

/* Length of the valid UTF-8 sequence at p (at most n octets), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t k = p[0] < 0x80                    ? 1
	           : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
	           : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	           : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
	                                          : 0;
	if (!k || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0; /* overlong, a surrogate, or past U+10FFFF */
	return k;
}

/* A JSON string of n octets: escapes, control octets as \u00XX, invalid UTF-8 as U+FFFD. */
static void put_json_str(struct line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	put(l, "\"", 1);
	for (size_t i = 0; i < n;) {
		char esc[8] = {'\\', 'u', '0', '0', hex[p[i] >> 4], hex[p[i] & 15]};
		size_t k = utf8_len(p + i, n - i);
		bool ok = p[i] == '"' || p[i] == '\\'   ? put(l, "\\", 1) && put(l, s + i, 1)
		          : p[i] < 0x20 || p[i] == 0x7f ? put(l, esc, 6)
		          : k                           ? put(l, s + i, k)
		                                        : put(l, "\\ufffd", 6);
		if (!ok)
			break;
		i += k ? k : 1;
	}
	l->buf[l->len++] = '"'; /* the reserve holds it */
}

/* A text value: bare when it is one word, else quoted with '"' written as \x22. */
static void put_text_value(struct line *l, const char *s, size_t n)
{
	char tmp[LOG_LINE_MAX];
	bool bare = n > 0 && !memchr(s, ' ', n) && !memchr(s, '"', n);
	if (!bare)
		put(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		size_t m =
		    s[i] == '"' ? (memcpy(tmp, "\\x22", 4), 4) : log_escape(s + i, 1, tmp, 4);
		if (!put(l, tmp, m))
			break;
	}
	if (!bare)
		l->buf[l->len++] = '"';
}

static void put_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char t[48];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof t - n, ".%03ldZ", ts.tv_nsec / 1000000);
	put_json_str(l, t, strlen(t));
}

static void line_start(struct line *l, enum gw_log_level level, enum log_subsys sys,
                       uint64_t session, const char *delivery)
{
	char tmp[64];
	l->len = 0;
	l->full = false;
	l->json = atomic_load_explicit(&log_format, memory_order_relaxed) == LOG_FORMAT_JSON;
	snprintf(tmp, sizeof tmp, "smtp-gateway[%d]: ", (int)getpid());
	if (!l->json)
		puts_(l, tmp);
	l->body = l->len;
	snprintf(tmp, sizeof tmp, "%016llx", (unsigned long long)session);
	if (l->json) {
		puts_(l, "{\"time\":");
		put_time(l);
		puts_(l, ",\"level\":\"");
		puts_(l, level_names[level]);
		puts_(l, "\",\"sys\":\"");
		puts_(l, log_subsys_names[sys]);
		snprintf(tmp + 20, sizeof tmp - 20, "%d", (int)getpid());
		puts_(l, "\",\"pid\":");
		puts_(l, tmp + 20);
		if (session && puts_(l, ",\"session\":"))
			put_json_str(l, tmp, 16);
		if (delivery && *delivery && puts_(l, ",\"delivery\":"))
			put_json_str(l, delivery, strnlen(delivery, 64));
		return;
	}
	puts_(l, level_names[level]);
	puts_(l, " sys=");
	puts_(l, log_subsys_names[sys]);
	if (session && puts_(l, " session="))
		puts_(l, tmp);
	if (delivery && *delivery && puts_(l, " delivery="))
		put_text_value(l, delivery, strnlen(delivery, 64));
}

static void line_msg(struct line *l, const char *msg, size_t n)
{
	if (l->json) {
		puts_(l, ",\"msg\":");
		put_json_str(l, msg, n);
		return;
	}
	char tmp[LOG_LINE_MAX];
	put(l, " ", 1);
	put(l, tmp, log_escape(msg, n, tmp, sizeof tmp));
}

static void line_key(struct line *l, const char *key)
{
	if (l->json) {
		put(l, ",", 1);
		put_json_str(l, key, strlen(key));
		put(l, ":", 1);
		return;
	}
	put(l, " ", 1);
	puts_(l, key);
	put(l, "=", 1);
}

/* A list: NUL-separated strings, n of them; a JSON array, or comma-joined text. */
static void line_list(struct line *l, const char *p, size_t n)
{
	if (l->json)
		put(l, "[", 1);
	for (size_t i = 0; p && i < n; i++, p += strlen(p) + 1) {
		if (i)
			put(l, ",", 1);
		size_t before = l->len;
		if (l->json)
			put_json_str(l, p, strlen(p));
		else
			put_text_value(l, p, strlen(p));
		if (l->len == before)
			break;
	}
	if (l->json)
		l->buf[l->len++] = ']'; /* the reserve holds it */
}

static void line_field_value(struct line *l, const struct log_field *f)
{
	char num[32];
	switch (f->kind) {
	case LF_INT:
		snprintf(num, sizeof num, "%lld", f->num);
		puts_(l, num);
		return;
	case LF_LIST:
		line_list(l, f->str, (size_t)f->num);
		return;
	case LF_STR:
		break;
	}
	const char *s = f->str ? f->str : "";
	if (l->json && !f->str)
		puts_(l, "null");
	else if (l->json)
		put_json_str(l, s, strlen(s));
	else
		put_text_value(l, s, strlen(s));
}

/* One key and its value, or nothing when they do not fit whole. */
static void line_field(struct line *l, const struct log_field *f)
{
	size_t save = l->len;
	l->full = false;
	line_key(l, f->key);
	line_field_value(l, f);
	if (l->full)
		l->len = save;
}

static void line_end(struct line *l, enum gw_log_level level)
{
	if (l->json)
		l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	log_output(level, l->buf, l->len, l->buf + l->body);
}

static bool clamp(enum gw_log_level *level, enum log_subsys *sys)
{
	if (!log_enabled(*level, *sys))
		return false;
	if ((unsigned)*level > GW_LOG_DEBUG)
		*level = GW_LOG_DEBUG;
	if ((unsigned)*sys >= LS_MAX)
		*sys = LS_MAIN;
	return true;
}

void log_msg(enum gw_log_level level, enum log_subsys sys, uint64_t session, const char *delivery,
             const char *fmt, ...)
{
	struct line l;
	char msg[LOG_LINE_MAX];
	if (!clamp(&level, &sys))
		return;
	line_start(&l, level, sys, session, delivery);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	line_msg(&l, msg, m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1);
	line_end(&l, level);
}

void log_event(enum gw_log_level level, enum log_subsys sys, uint64_t session, const char *delivery,
               const char *event, const struct log_field *f, size_t n)
{
	struct line l;
	if (!clamp(&level, &sys))
		return;
	line_start(&l, level, sys, session, delivery);
	line_msg(&l, event, strlen(event));
	for (size_t i = 0; i < n; i++)
		line_field(&l, &f[i]);
	line_end(&l, level);
}
