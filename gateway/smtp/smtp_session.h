/*
 * smtp_session.h: one SMTP connection: its states, its transaction and the
 * session (smtp_session.c), the connection primitives below every other
 * file (smtp_conn.c), and the Received: field (smtp_received.c).
 */
#ifndef SMTP_SESSION_H
#define SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "config.h"
#include "delivery.h"
#include "envelope.h"
#include "smtp_msg.h"
#include "smtp_parse.h"
#include "smtp_reply.h"
#include "smtp_worker.h"

struct bufferevent;
struct smtp_auth;
struct smtp_seam_tx;

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

enum sasl_step { SASL_NONE, SASL_PLAIN_WAIT, SASL_LOGIN_USER, SASL_LOGIN_PASS };

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
	struct envelope_rcpt *rcpts; /* NULL until the end of data */
	char *rcpt_parts;            /* the strings rcpts' matches point to */
	size_t rcpt_parts_len;
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
	struct smtp_seam_tx *seam;          /* sender authentication of this transaction, or NULL */
	char delivery_id[DELIVERY_ID_SIZE]; /* once submitted: the webhook's id, for the log */
	/* Stage times of the message (smtp_record_now_us(); 0: not reached), for its log line */
	uint64_t data_us;    /* DATA or the first BDAT accepted */
	uint64_t end_us;     /* end of data */
	uint64_t checked_us; /* sender authentication's verdict */
};

/* The client's forward-confirmed reverse name, looked up while the session runs (smtp_rdns.c). */
struct dns_query;
struct smtp_rdns {
	bool started;
	int family;          /* AF_INET or AF_INET6: which forward type confirms */
	struct dns_query *q; /* in flight; cancelled when the session is freed */
	char **names;        /* PTR names still to confirm (while the lookup runs) */
	uint32_t n_names, next;
	char *verified; /* the confirmed name, or NULL */
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
	enum sasl_step sasl_step;
	char *sasl_login_name;
	uint32_t n_errors, n_tx, n_auth_failures;
	bool skipping;        /* discarding an over-long command line to its end */
	bool partial;         /* part of a command line is buffered: command_timeout runs */
	uint32_t close_ticks; /* polls of the output while closing */
	bool dead;
	bool shutdown_pending; /* drain: answer 421 when idle */
	bool starttls;         /* STARTTLS accepted: the session switches after it */
	bool direct_write;     /* plain socket: replies written by us, not from a write event */
	bool in_input;         /* inside the read callback: replies wait for its end, one write */
	bool flush_pending;    /* a reply was queued while in_input */
	size_t input_seen;     /* input left after the last read callback: what libevent added */
	int read_error;        /* an error our own read took from the socket (smtp_session.c) */
	enum smtp_reply_id discard_reply; /* BDAT chunk read only to stay in sync, then this */
	struct smtp_rdns rdns;
	struct smtp_tx tx;
};

/* ---- reverse DNS of the client (smtp_rdns.c) ---- */

/* Starts the lookup ([dns] reverse_lookup) once the client's address is final. */
void smtp_rdns_start(struct smtp_session *s);
/* Cancels a lookup in flight and frees the name (session teardown). */
void smtp_rdns_free(struct smtp_session *s);

/* Takes over fd (accepted on listener li of w). */
void smtp_session_new(struct smtp_worker *w, size_t li, int fd, const struct sockaddr *sa,
                      socklen_t salen);
void smtp_session_free(struct smtp_session *s);
/* Drain on SIGTERM: idle sessions get 421 4.3.2 now, busy ones when idle. */
void smtp_session_shutdown(struct smtp_session *s);

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
/*
 * Has the client left (reset, or closed its side: FIN) while reading was
 * off? Looks at the socket without reading a byte of what was pipelined.
 */
bool smtp_session_client_gone(const struct smtp_session *s);
/*
 * A reply was queued in the output buffer (the reply funnel calls it).
 * On a plain socket it is written at once, or at the end of the read
 * callback that produced it so that a pipelined group leaves in one write
 * (RFC 2920); only what the socket does not take waits for libevent's
 * write event. Under TLS, libevent writes as before.
 */
void smtp_session_output_added(struct smtp_session *s);
/* Writes what the output buffer holds now (plain sockets; nothing otherwise). */
void smtp_session_flush(struct smtp_session *s);
/* Stop reading, flush the last reply, then close (smtp_session_closing_check() polls). */
void smtp_session_begin_close(struct smtp_session *s);
void smtp_session_closing_check(struct smtp_session *s);
/* Monotonic milliseconds, for deadlines. */
uint64_t smtp_mono_ms(void);

/* ---- Received: (smtp_received.c) ---- */

/* Writes the Received: header of the current transaction into out (NUL-terminated). */
size_t smtp_received(const struct smtp_session *s, char *out, size_t outlen);

#endif
