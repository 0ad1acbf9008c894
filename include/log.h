/*
 * log.h: the one log of the daemon (STYLE 10a). Every part of gateway/
 * logs through log_msg(): a level, a subsystem, the session id and the
 * delivery id when the event has them, and a printf text. One line per
 * event, written whole by one write(2); control octets in the text (client
 * strings reach it through %s) become \xHH so that no line can be forged.
 *
 * Which lines are written is decided here once: a line passes when its
 * level is at or above [server] log_level, or when it is a debug line of a
 * subsystem listed in [server] log_trace. Where lines go is chosen in one
 * place too (log.c, log_output): [server] log_format (text or JSON, one
 * object per line) and log_target (standard error, syslog, or log_file,
 * reopened on SIGUSR1).
 *
 * Never: block on anything but the write itself, allocate, or interleave
 * two threads' lines.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * The subsystems, in one list: the enum below, the names lines carry
 * ("sys=dns") and the names log_trace accepts (routes/config_keys.c) are
 * all made from it.
 */
#define LOG_SUBSYSTEMS(X)                                                                          \
	X(LS_MAIN, "main")                                                                         \
	X(LS_SMTP, "smtp")                                                                         \
	X(LS_WEBHOOK, "webhook")                                                                   \
	X(LS_DNS, "dns")                                                                           \
	X(LS_SPF, "spf")                                                                           \
	X(LS_DKIM, "dkim")                                                                         \
	X(LS_DMARC, "dmarc")                                                                       \
	X(LS_AUTH, "auth")

#define LOG_SUBSYS_ENUM(e, name) e,
enum log_subsys { LOG_SUBSYSTEMS(LOG_SUBSYS_ENUM) LS_MAX };
#undef LOG_SUBSYS_ENUM

extern const char *const log_subsys_names[LS_MAX];

/*
 * Applies [server] log_level and log_trace (names from log_subsys_names;
 * an unknown name is ignored here, the config loader refuses it). Safe to
 * call while other threads log (a reload).
 */
void log_configure(enum gw_log_level level, char *const *trace, size_t n_trace);

/* Would a line of this level and subsystem be written? (To skip costly formatting.) */
bool log_enabled(enum gw_log_level level, enum log_subsys sys);

/*
 * One event. session: the SMTP session id (0: none); delivery: the webhook
 * delivery id (NULL: none). The text should be "what happened key=value ...".
 */
void log_msg(enum gw_log_level level, enum log_subsys sys, uint64_t session, const char *delivery,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * [server] log_format, log_target and log_file, at start and on reload
 * (main thread). 0, or -1 when log_file cannot be opened (the output is
 * then unchanged).
 */
int log_set_output(enum gw_log_format format, enum gw_log_target target, const char *file);
/* SIGUSR1: opens log_file again (after logrotate moved it). 0, or -1 with errno. */
int log_reopen(void);

/*
 * Structured fields of an event: written as key=value in text and as JSON
 * members in JSON. LF_LIST: str holds num NUL-terminated strings back to
 * back (a JSON array; comma-separated in text). A NULL LF_STR is null.
 */
enum log_field_kind { LF_STR, LF_INT, LF_LIST };
struct log_field {
	const char *key;
	enum log_field_kind kind;
	const char *str;
	long long num;
};
#define LOG_STR(k, v)                                                                              \
	{                                                                                          \
		(k), LF_STR, (v), 0                                                                \
	}
#define LOG_INT(k, v)                                                                              \
	{                                                                                          \
		(k), LF_INT, NULL, (long long)(v)                                                  \
	}
#define LOG_LIST(k, v, n)                                                                          \
	{                                                                                          \
		(k), LF_LIST, (v), (long long)(n)                                                  \
	}

/*
 * One event with fields (the line of each message, docs/logging.md). A
 * field that does not fit in the line is left out whole.
 */
void log_event(enum gw_log_level level, enum log_subsys sys, uint64_t session, const char *delivery,
               const char *event, const struct log_field *f, size_t n);

/* Escapes n octets of in into out (cap octets): control octets become \xHH. Returns bytes written.
 */
size_t log_escape(const char *in, size_t n, char *out, size_t cap);

#endif
