/*
 * smtp_int.h: the internal model of the SMTP front end: server, worker,
 * session, transaction, reply catalogue. Shared by the files of
 * gateway/smtp/ only; the outside sees include/smtp.h.
 */
#ifndef SMTP_INT_H
#define SMTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "config.h"
#include "delivery.h"
#include "envelope.h"
#include "log.h"
#include "smtp.h"
#include "smtp_parse.h"

struct event_base;
struct event;
struct bufferevent;
struct evconnlistener;
struct smtp_session;

/* ---- reply catalogue (smtp_reply.c) ---- */

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

const struct smtp_reply_row *smtp_reply_row(enum smtp_reply_id id);

/* ---- counters (smtp_server.c), summed over workers, logged at exit ---- */

enum smtp_counter {
	C_CONNECTIONS,
	C_REFUSED_TOTAL,
	C_REFUSED_PER_IP,
	C_TIMEOUTS,
	C_TOO_MANY_ERRORS,
	C_TOO_MANY_TX,
	C_LONG_COMMANDS,
	C_EARLY_TALKERS,
	C_AUTH_FAILURES,
	C_MESSAGES,
	C_REJECTED_MESSAGES,
	C_PROXY_REFUSED,
	C_TLS_FAILURES,
	C_AUTH_BUSY,
	C_TOO_MANY_RCPTS,
	C_SIZE_EXCEEDED,
	C_PAYLOAD_TOO_BIG,
	C_DELIVERY_BUSY,
	C_BARE_NEWLINES,
	C_LONG_LINES,
	C_OUTPUT_PAUSES,
	C_AUTH_IP_BLOCKED,
	C_COUNTER_MAX
};

extern const char *const smtp_counter_names[C_COUNTER_MAX];

/* ---- per-IP admission (smtp_admit.c) ---- */

/*
 * The key a client is counted under: an IPv4 address as it is, an IPv6
 * address cut to v6_prefix bits ("2001:db8::/64"); 128 keeps it whole.
 */
void smtp_admit_key(const char *ip, uint32_t v6_prefix, char *out, size_t outlen);
/* Takes one slot for ip; false when max (0 = unlimited) is reached. */
bool smtp_admit_ip(const char *ip, uint32_t max);
void smtp_release_ip(const char *ip);

/* ---- the configuration a session runs under (refcounted, smtp_server.c) ---- */

struct smtp_tls;

struct smtp_runtime {
	atomic_int refs;
	struct gw_config *cfg;
	struct smtp_tls *tls; /* NULL when no certificate is configured */
};

struct smtp_runtime *smtp_runtime_ref(struct smtp_runtime *rt);
void smtp_runtime_unref(struct smtp_runtime *rt);

/* ---- TLS (smtp_tls.c) ---- */

/* Builds the contexts of cfg->certs (SNI by SAN/CN). NULL and a log line on failure. */
struct smtp_tls *smtp_tls_new(const struct gw_config *cfg);
void smtp_tls_free(struct smtp_tls *t);
/* The webhook's CA files and client certificate pairs load (smtp_tls_check() without [[tls]]). */
int smtp_tls_check_webhook(const struct gw_config *cfg);
SSL *smtp_tls_ssl(struct smtp_tls *t);

/* ---- server and workers (smtp_server.c, smtp_worker.c) ---- */

struct smtp_server;
struct auth_job;
struct dns_resolver;
struct smtp_auth;
struct smtp_seam_tx;

struct smtp_worker {
	int index;
	pthread_t thread;
	struct smtp_server *srv;
	struct event_base *base;
	struct smtp_runtime *rt; /* current configuration; sessions hold their own ref */
	struct delivery *delivery;
	struct evconnlistener **listeners; /* one per configured listener */
	int *fds;                          /* bound sockets, one per listener */
	void *accept_ctx;                  /* callback arguments of the listeners */
	struct event **relisten;           /* per listener: resumes accept after EMFILE */
	struct event *ctl;                 /* woken by the main thread: reload, stop */
	struct smtp_runtime *pending_rt;   /* handed over under ctl_lock */
	bool stop_requested;
	pthread_mutex_t ctl_lock;
	bool draining;
	struct event *drain_timer;
	struct event *reaper;
	struct smtp_session **id_map; /* hash buckets by session id */
	size_t id_buckets;
	size_t n_sessions;
	uint64_t next_id;
	struct smtp_session *graveyard; /* torn down inside a callback; freed by reaper */
	struct auth_job *auth_jobs;     /* password checks running on their threads */
	struct dns_resolver *dns;       /* SPF/DKIM/DMARC/ARC lookups ([dns], read at start) */
	struct smtp_auth *auth;         /* sender authentication under rt (smtp_seam.c) */
	char *line;                     /* scratch: one command line, max_command_line + 1 */
	size_t line_cap;
	atomic_ullong counters[C_COUNTER_MAX];
};

struct smtp_server {
	char *config_path;
	struct smtp_worker *workers;
	size_t n_workers;
	size_t n_listeners; /* fixed at start: listeners are not reloadable */
	atomic_uint connections;
	struct smtp_runtime *rt;
};

extern struct smtp_server *smtp_srv; /* the one server of the process */

void smtp_worker_count(struct smtp_worker *w, enum smtp_counter c);
struct smtp_session *smtp_worker_find(struct smtp_worker *w, uint64_t id);
void smtp_worker_attach(struct smtp_worker *w, struct smtp_session *s);
void smtp_worker_detach(struct smtp_worker *w, struct smtp_session *s);
void smtp_worker_bury(struct smtp_worker *w, struct smtp_session *s);
int smtp_worker_start(struct smtp_worker *w);
void smtp_worker_post(struct smtp_worker *w, struct smtp_runtime *rt, bool stop);
void smtp_worker_free(struct smtp_worker *w);

/* ---- logging: the daemon's one log (include/log.h), subsystem "smtp" ---- */

#define smtp_log(level, id, ...) log_msg(level, LS_SMTP, id, NULL, __VA_ARGS__)

/* ---- message store (smtp_msg.c) ---- */

#define SMTP_MSG_HEAD_ROOM 8192 /* bytes reserved for the trace fields written at the end */

struct smtp_msg {
	char *mem;
	size_t len, cap;    /* len includes the head room */
	uint64_t threshold; /* body bytes in memory before the spill */
	int fd;             /* spill file (unlinked), -1 while in memory */
	uint64_t flen;      /* file length, head room included */
	void *map;
	size_t maplen;
	size_t head;  /* bytes of the head room used (right-aligned) */
	size_t skip;  /* octets cut from the front of the body by smtp_msg_cut() */
	bool started; /* head room allocated */
	bool failed;  /* a write failed: the transaction answers 451 */
};

void smtp_msg_init(struct smtp_msg *m, uint64_t threshold);
int smtp_msg_append(struct smtp_msg *m, const char *p, size_t n);
/*
 * Puts p in front of what is there (headers written at the end of data);
 * beyond the head room the message is moved once to make room.
 */
int smtp_msg_prepend(struct smtp_msg *m, const char *p, size_t n);
/* The whole message (prepended fields and body), mapped or in memory; 0 or -1. */
int smtp_msg_view(struct smtp_msg *m, struct message_bytes *out);
/* The body as received, without what was prepended. */
int smtp_msg_body(struct smtp_msg *m, struct message_bytes *out);
uint64_t smtp_msg_size(const struct smtp_msg *m); /* body bytes */
/*
 * Removes n byte ranges (ranges[2i], ranges[2i+1]: start, end in body
 * offsets, ascending, disjoint) by moving what precedes them towards the
 * end: only the header bytes before the last range move, never the rest
 * of the body. Before any prepend. 0 or -1 (the store is then failed).
 */
int smtp_msg_cut(struct smtp_msg *m, const size_t *ranges, size_t n);
void smtp_msg_free(struct smtp_msg *m);

/* ---- session (smtp_session.c) ---- */

enum smtp_state {
	ST_ACCEPT,     /* just accepted: admission checks */
	ST_PROXY,      /* waiting for the PROXY header */
	ST_HANDSHAKE,  /* TLS handshake (smtps, or after STARTTLS) */
	ST_GREETING,   /* greeting delay: any input is an early talker */
	ST_COMMAND,    /* reading command lines */
	ST_AUTH,       /* reading an AUTH continuation line */
	ST_AUTH_CHECK, /* password being checked on a thread */
	ST_AUTH_DELAY, /* failed AUTH: answer after a delay */
	ST_DATA,       /* reading DATA content */
	ST_BDAT,       /* reading a BDAT chunk */
	ST_SPF,        /* MAIL or RCPT waits for the SPF result (enforce) */
	ST_DELIVERY,   /* waiting for sender authentication, then the delivery callback */
	ST_CLOSING,    /* last reply being flushed */
	ST_MAX
};

extern const char *const smtp_state_names[ST_MAX];

enum auth_step { AUTH_NONE, AUTH_PLAIN_WAIT, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

/* One mail transaction: MAIL to end of message or RSET. */
struct smtp_tx {
	bool active; /* MAIL accepted */
	char *mail_from;
	/*
	 * Accepted recipients, compact while the transaction lasts: their
	 * addresses back to back, each NUL-terminated (about 25 bytes a
	 * recipient, not the 1 KB of an envelope_rcpt). rcpts is built from
	 * them, routed again on the session's own table, at the end of data
	 * only (smtp_tx_envelope_rcpts()).
	 */
	char *rcpt_addrs;
	size_t rcpt_len, rcpt_cap;
	size_t n_rcpts;
	struct envelope_rcpt *rcpts;  /* NULL until the end of data */
	const struct gw_route *route; /* route of the first accepted recipient */
	uint32_t endpoint_id;
	bool smtputf8;
	enum body_type body;
	uint64_t declared_size;
	bool bdat; /* BDAT used: DATA refused */
	uint32_t n_chunks;
	enum smtp_reply_id error; /* sticky fault while receiving (STYLE 8) */
	struct smtp_msg msg;
	struct smtp_dec dec;
	uint64_t bdat_left; /* octets of the current chunk still to read */
	bool bdat_last;
	uint64_t received;    /* message octets after unstuffing, Received: excluded */
	uint64_t deadline_ms; /* smtp_mono_ms() by which the content must be in (data_deadline) */
	uint32_t seq;         /* transaction number in the session */
	struct smtp_seam_tx *seam; /* sender authentication of this transaction, or NULL */
};

struct smtp_session {
	uint64_t id;
	struct smtp_session *hnext; /* worker id map */
	struct smtp_session *gnext; /* graveyard */
	struct smtp_worker *w;
	struct smtp_runtime *rt; /* ref held for the life of the session */
	struct smtp_auth *auth;  /* ref held for the life of the session (matches rt) */
	const struct gw_config *cfg;
	const struct gw_listener *lst;
	int fd;
	struct bufferevent *bev;
	struct event *timer; /* one timer: timeouts, greeting and AUTH delays */
	struct event *proxy_ev;
	SSL *ssl;
	enum smtp_state state;
	char ip[64];
	uint16_t port;
	bool ip_counted;
	char ip_key[72]; /* what the per-IP limit counts this client under (smtp_admit_key) */
	bool counted;    /* holds a slot of the total connection count */
	char *helo;
	bool esmtp;
	bool tls;
	char *tls_protocol, *tls_cipher;
	char *auth_user;
	enum auth_step auth_step;
	char *auth_login_name;
	uint32_t n_errors, n_tx, n_auth_failures;
	bool skipping;        /* discarding an over-long command line to its end */
	bool partial;         /* part of a command line is buffered: command_timeout runs */
	uint32_t close_ticks; /* polls of the output while closing */
	bool dead;
	bool shutdown_pending;            /* drain: answer 421 when idle */
	bool starttls;                    /* STARTTLS accepted: the session switches after it */
	enum smtp_reply_id discard_reply; /* BDAT chunk read only to stay in sync, then this */
	struct smtp_tx tx;
};

/* Takes over fd (accepted on listener li of w). */
void smtp_session_new(struct smtp_worker *w, size_t li, int fd, const struct sockaddr *sa,
                      socklen_t salen);
void smtp_session_free(struct smtp_session *s);
/* Drain on SIGTERM: idle sessions get 421 4.3.2 now, busy ones when idle. */
void smtp_session_shutdown(struct smtp_session *s);

/* ---- reply funnel (smtp_reply.c): the only writer of replies ---- */

void smtp_reply(struct smtp_session *s, enum smtp_reply_id id, const char *detail);
void smtp_reply_raw(struct smtp_session *s, int code, const char *status, const char *text,
                    bool is_error);
void smtp_reply_lines(struct smtp_session *s, int code, const char *const *lines, size_t n);

/* What an EHLO reply offers beyond the keywords every session gets. */
enum {
	EHLO_STARTTLS = 1 << 0, /* RFC 3207 */
	EHLO_AUTH = 1 << 1,     /* RFC 4954: AUTH PLAIN LOGIN */
};

/* The EHLO reply: "host greets helo", then the catalogue's keyword lines. max_size 0: no limit. */
void smtp_reply_ehlo(struct smtp_session *s, const char *host, const char *helo, uint64_t max_size,
                     unsigned offers);

/* ---- connection primitives (smtp_conn.c): below every other file ---- */

/* The only setter of the session state (STYLE 4). */
void smtp_session_state(struct smtp_session *s, enum smtp_state st);
/* Ends the session now: buried, freed by the worker's reaper; a delivery in flight is forgotten. */
void smtp_session_close_now(struct smtp_session *s);

/*
 * Reading on again (after a delivery, SPF, a password check, the output
 * high-water mark): what is buffered is handled from a deferred read
 * callback, never inline.
 */
void smtp_session_resume(struct smtp_session *s);
void smtp_session_arm(struct smtp_session *s, uint64_t ms);
/* The wait for the next command: idle_timeout, then command_timeout from its first octet. */
void smtp_session_arm_command(struct smtp_session *s);
/* Output not yet on the wire: ours, and the plain layer's under a STARTTLS filter. */
size_t smtp_session_pending_output(struct smtp_session *s);
/* Stop reading, flush the last reply, then close (smtp_session_closing_check() polls). */
void smtp_session_begin_close(struct smtp_session *s);
void smtp_session_closing_check(struct smtp_session *s);
/* Monotonic milliseconds, for deadlines. */
uint64_t smtp_mono_ms(void);

/* ---- commands (smtp_cmd.c) ---- */

/* Handles one complete command line (NUL-terminated, CR LF removed). */
void smtp_cmd_dispatch(struct smtp_session *s, char *line, size_t len);
void smtp_sasl_line(struct smtp_session *s, char *line, size_t len);
/*
 * Ends an AUTH exchange that cannot go on (a response line too long): the
 * session is back in the command state and r is the one reply (RFC 4954 4).
 */
void smtp_sasl_abort(struct smtp_session *s, enum smtp_reply_id r);

/* ---- the transaction (smtp_tx.c): its one owner ---- */

/* Ends the transaction (RSET, EHLO, STARTTLS, end of message, teardown). */
void smtp_tx_reset(struct smtp_session *s);
/* MAIL passed its checks (mail_from, parameters set): starts it and answers, now or later. */
void smtp_tx_mail(struct smtp_session *s);
/* RCPT: a recipient the routing table accepted; added and answered, now or once SPF is known. */
void smtp_tx_rcpt(struct smtp_session *s, const char *addr, const struct route_match *m);
/* The answer to a RCPT (r: RPL_NONE accepts), with its log line and counter. */
void smtp_tx_rcpt_answer(struct smtp_session *s, const char *addr, enum smtp_reply_id r);
/*
 * Builds tx->rcpts from the compact list for the envelope (end of data);
 * 0, or -1 when out of memory.
 */
int smtp_tx_envelope_rcpts(struct smtp_session *s);
/* DATA accepted: the store, the decoder, the data deadline; 354. */
void smtp_tx_data(struct smtp_session *s);
/*
 * A BDAT chunk of size octets. refuse (not RPL_NONE): the chunk is read
 * only to stay in sync and answered refuse after it (RFC 3030 2).
 */
void smtp_tx_bdat(struct smtp_session *s, uint64_t size, bool last, enum smtp_reply_id refuse);
/* Feeds DATA / BDAT bytes to the store (the decoder's emit callback); faults are sticky. */
void smtp_tx_data_emit(void *ctx, const char *p, size_t n);
/* End of DATA / of a BDAT chunk: checks, sender authentication, Received:, delivery. */
void smtp_tx_message_end(struct smtp_session *s);
/* The delivery's reply (delivery.h callback, found by session id): answers, next command. */
void smtp_tx_delivered(struct smtp_session *s, const struct smtp_reply *r);

/* ---- SMTP AUTH, that is SASL (smtp_sasl.c); not sender authentication (the seam) ---- */

/* The AUTH verb's check and run (the verb table of smtp_cmd.c). */
enum smtp_reply_id smtp_sasl_check(struct smtp_session *s, const char *arg);
void smtp_sasl_cmd(struct smtp_session *s, char *arg);

/* Checks user/password against cfg->users (crypt(3), constant time). */
bool smtp_sasl_verify(const struct gw_config *cfg, const char *user, const char *pass);
/* The hash an unknown user is checked against: the costliest of cfg->users (NULL: none). */
const char *smtp_sasl_dummy_hash(const struct gw_config *cfg);
/* Waits for the password checks still running (worker teardown). */
void smtp_sasl_jobs_join(struct smtp_worker *w);

/* ---- AUTH per client address (smtp_authip.c), process-wide ---- */

enum smtp_authip_verdict {
	AUTHIP_OK,       /* a check slot was taken: give it back with smtp_authip_end() */
	AUTHIP_FAILURES, /* max_auth_failures_per_ip reached */
	AUTHIP_BUSY,     /* max_auth_checks_per_ip running or queued */
	AUTHIP_FULL,     /* no room in the table for this address (fails closed) */
};

/* May key (smtp_session.ip_key) have a password checked now? */
enum smtp_authip_verdict smtp_authip_begin(const struct gw_limits *lim, const char *key);
void smtp_authip_end(const struct gw_limits *lim, const char *key);
/* One more failed AUTH from key. */
void smtp_authip_failed(const struct gw_limits *lim, const char *key);

/* ---- sender authentication seam (smtp_seam.c) ---- */

/*
 * Per worker: the resolver ([dns]) and an auth context for w->rt; after a
 * configuration swap, smtp_seam_worker_reload() makes one for the new rt.
 * Sessions hold a reference to the one they started with.
 */
int smtp_seam_worker_init(struct smtp_worker *w);
void smtp_seam_worker_reload(struct smtp_worker *w);
void smtp_seam_worker_fini(struct smtp_worker *w);
struct smtp_auth *smtp_seam_ref(struct smtp_worker *w);
void smtp_seam_unref(struct smtp_auth *a);

/*
 * What a check decided (STYLE 10b): a value for the transaction's owner,
 * never an action. refuse is a row of the reply catalogue (RPL_NONE: go
 * on). The pointers are valid during the call only.
 */
enum smtp_seam_step { SEAM_MAIL, SEAM_RCPT, SEAM_MESSAGE, SEAM_GONE /* the client left */ };

struct smtp_seam_verdict {
	enum smtp_seam_step step;
	enum smtp_reply_id refuse;       /* RPL_NONE: accept MAIL/RCPT, deliver the message */
	const char *check;               /* who refused ("spf", "dmarc" ...), for the log */
	const char *rcpt;                /* SEAM_RCPT: the recipient */
	const struct route_match *match; /* SEAM_RCPT: its route */
	const json_t *auth;              /* SEAM_MESSAGE: the payload's auth object, or NULL */
	const char *ar_field;            /* SEAM_MESSAGE: Authentication-Results + CRLF, or NULL */
};

/* The owner's one callback, for the verdicts that come later than the command. */
typedef void (*smtp_seam_fn)(struct smtp_session *s, const struct smtp_seam_verdict *v);

/* SEAM_NOW: *out holds the verdict. SEAM_LATER: it comes through done, exactly once. */
enum smtp_seam_wait { SEAM_NOW, SEAM_LATER };

/*
 * At MAIL (accepted so far): SPF starts and runs while RCPTs arrive. Waits
 * (SEAM_LATER) only under [auth] spf = "enforce" while SPF is unknown.
 */
enum smtp_seam_wait smtp_seam_mail(struct smtp_session *s, smtp_seam_fn done,
                                   struct smtp_seam_verdict *out);
/*
 * At RCPT, for a recipient the routing table accepted: a route with
 * spf = "enforce" refuses it when SPF failed; waits while SPF is unknown.
 */
enum smtp_seam_wait smtp_seam_rcpt(struct smtp_session *s, const char *addr,
                                   const struct route_match *m, struct smtp_seam_verdict *out);
/*
 * At the end of data, with the body as received: the checks of the route
 * (forged Authentication-Results are cut from the store first). With
 * SEAM_LATER, done may run before this returns.
 */
enum smtp_seam_wait smtp_seam_end_of_data(struct smtp_session *s, const struct message_bytes *body,
                                          smtp_seam_fn done, struct smtp_seam_verdict *out);
/* Cancels what still runs (from smtp_tx_reset()): no callback after it. */
void smtp_seam_tx_end(struct smtp_session *s);
/* [auth] timeout ran out while the transaction waited (the session timer): a verdict through done.
 */
void smtp_seam_timeout(struct smtp_session *s);

/* ---- Received: (smtp_received.c) ---- */

/* Writes the Received: header of the current transaction into out (NUL-terminated). */
size_t smtp_received(const struct smtp_session *s, char *out, size_t outlen);

#endif
