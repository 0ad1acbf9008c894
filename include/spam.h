/*
 * spam.h: spam verdicts from rspamd (gateway/spam/, docs/spam.md).
 *
 * The gateway does not filter spam: it asks rspamd's normal worker
 * (POST /checkv2, the envelope in rspamd's protocol headers) and turns the
 * answer into a value: the payload's spam object, the header fields rspamd
 * asks to add, and an action the SMTP side maps to a reply under its
 * policy. Two parts:
 *
 *   spam_reply.c    rspamd's JSON answer -> struct spam_reply. Pure: bytes
 *                   in, value out, every piece bounded (fuzzed).
 *   spam_fields.c   the message's own fields by name (subject rewrite). Pure.
 *   spam_check.c    one check on the worker's libcurl multi (never
 *                   blocking), the answer read with a cap, and the circuit
 *                   breaker (spam_breaker.c) that makes a dead rspamd cost
 *                   one timeout, not one per message.
 *
 * This module knows nothing of SMTP sessions: the seam (gateway/smtp/
 * smtp_seam.c) gives it an envelope and the message, and gets a verdict back
 * through one callback.
 */
#ifndef SPAM_H
#define SPAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* rspamd's actions (rspamd's own names in spam_action_name()), mildest first. */
enum spam_action {
	SPAM_NO_ACTION,
	SPAM_GREYLIST,
	SPAM_ADD_HEADER,
	SPAM_REWRITE_SUBJECT,
	SPAM_SOFT_REJECT,
	SPAM_REJECT,
	SPAM_ACTION_MAX
};

/* "no action", "greylist", "add header", "rewrite subject", "soft reject", "reject". */
const char *spam_action_name(enum spam_action a);

/* The bounds of one answer's parse ([spam] keys). */
struct spam_limits {
	size_t max_symbols;       /* kept in the payload, highest scores first */
	size_t max_options;       /* per symbol */
	size_t max_option_length; /* bytes of one option */
	size_t max_headers;       /* milter add_headers fields kept, remove_headers names kept */
	size_t max_header_length; /* bytes of one field's value */
};

/* The [spam] bounds as spam_limits. */
void spam_limits_from(struct spam_limits *l, const struct gw_spam *cfg);

/* What an answer says. Owns every pointer; spam_reply_free() releases them. */
struct spam_reply {
	enum spam_action action;
	double score, required_score;
	/* The payload's spam object: {engine, score, required_score, action, symbols, truncated}.
	 */
	json_t *verdict;
	/*
	 * milter add_headers as header fields ready to prepend ("Name: value"
	 * CRLF each, continuation lines folded with a tab), or NULL: none.
	 */
	char *fields;
	/*
	 * milter remove_headers: names of the fields to cut from the message
	 * before rspamd's own are added (a sender's forged X-Spam-* must not
	 * stand beside rspamd's). Every field of each name goes.
	 */
	char **remove;
	size_t n_remove;
	char *subject; /* rewrite subject: the new Subject (one line, UTF-8 kept), or NULL */
	char *message; /* rspamd's smtp_message, cleaned to one printable ASCII line, or NULL */
};

/*
 * Parses rspamd's /checkv2 answer (JSON). Returns 0, or -1 with *why set
 * (a static string) when it is not an answer: not JSON, no action or score,
 * an unknown action, out of memory. Never reads past len.
 */
int spam_reply_parse(const char *buf, size_t len, const struct spam_limits *lim,
                     struct spam_reply *out, const char **why);
void spam_reply_free(struct spam_reply *r);

/*
 * The header fields called name (case-insensitive) in the header section of
 * msg: writes ranges[2i], ranges[2i+1] (start, end: the whole field with its
 * continuation lines and line end) for at most max of them; returns how
 * many there are (may exceed max). spam_fields.c.
 */
size_t spam_field_ranges(const char *msg, size_t len, const char *name, size_t *ranges, size_t max);

/* ---- the circuit breaker (spam_breaker.c): pure, the clock is passed in ---- */

struct spam_breaker {
	uint32_t threshold; /* consecutive failures that open it; 0: never opens */
	uint64_t probe_ms;  /* while open, one check may run every probe_ms */
	uint32_t failures;  /* consecutive, so far */
	bool open;
	bool probing;           /* the one check let through is running */
	uint64_t next_probe_ms; /* monotonic ms */
};

/* May a check start now? While open: one probe per probe_ms (and the caller marks it). */
bool spam_breaker_allow(struct spam_breaker *b, uint64_t now_ms);
/*
 * A check ended: ok or failed. Returns +1 when this opened the breaker, -1
 * when it closed it, 0 otherwise (for the log).
 */
int spam_breaker_record(struct spam_breaker *b, bool ok, uint64_t now_ms);

/* ---- one check on the worker's multi (spam_check.c) ---- */

struct webhook_multi;
struct spam_client;
struct spam_check;

/* Per worker: the [spam] configuration and the breaker. m is the worker's libcurl multi. */
struct spam_client *spam_client_new(struct webhook_multi *m, const struct gw_spam *cfg);
/*
 * After a reload: later checks use cfg; the breaker's state stays unless
 * rspamd_url changed. The previous cfg must still be alive during the call;
 * cfg must outlive its use.
 */
void spam_client_set_config(struct spam_client *c, const struct gw_spam *cfg);
/* Every check must have ended or been freed. */
void spam_client_free(struct spam_client *c);

/* What rspamd is told about the message (its protocol headers). Pointers for the call only. */
struct spam_envelope {
	const char *ip;        /* IP: the client's address */
	const char *helo;      /* Helo */
	const char *mail_from; /* From: the reverse-path ("" for <>) */
	const char *rcpts;     /* Rcpt, one header each: n_rcpts NUL-terminated strings in a row */
	size_t n_rcpts;
	const char *queue_id; /* Queue-Id: our delivery id */
	const char *hostname; /* Hostname: the client's verified name, or NULL */
	const char *user;     /* User: the SMTP AUTH identity, or NULL */
	const char *mta_name; /* MTA-Name: our host name */
};

enum spam_status {
	SPAM_STARTED, /* spam_check_start(): the callback comes later */
	SPAM_OK,      /* an answer: spam_check_reply() */
	SPAM_FAILED, /* no usable answer (down, slow, nonsense, breaker open): the failure policy */
	SPAM_SKIPPED, /* not scanned (larger than max_size): delivered without a verdict */
};

typedef void (*spam_done_fn)(void *arg, struct spam_check *ck);

/*
 * Starts a check of msg (len bytes; they must stay untouched until done or
 * spam_check_free()). Returns SPAM_STARTED with *out set (done runs later,
 * never before this returns), or SPAM_FAILED / SPAM_SKIPPED with *out
 * NULL and *why a static reason.
 */
enum spam_status spam_check_start(struct spam_client *c, const struct spam_envelope *env,
                                  const char *msg, size_t len, spam_done_fn done, void *arg,
                                  struct spam_check **out, const char **why);
/* After done: SPAM_OK or SPAM_FAILED, and why (a reason for the log and the warning). */
enum spam_status spam_check_status(const struct spam_check *ck, const char **why);
/* The answer (SPAM_OK), owned by ck. */
const struct spam_reply *spam_check_reply(const struct spam_check *ck);
/* Milliseconds the check took (for the log). */
uint64_t spam_check_ms(const struct spam_check *ck);
/* Cancels a running check (no callback after) or frees a finished one. NULL is a no-op. */
void spam_check_free(struct spam_check *ck);

#endif
