/*
 * envelope.h: what the SMTP session knows of one message besides its bytes.
 * Filled by the SMTP front end (gateway/smtp/), read by the payload builder
 * (gateway/mime/) and the webhook delivery (gateway/webhook/). The session
 * owns every pointer in it; readers copy what they keep past the callback.
 */
#ifndef ENVELOPE_H
#define ENVELOPE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "routes.h"

enum body_type { BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

/*
 * A recipient's address as the router split it (struct route_addr without
 * its fixed 1 KB of arrays: 100,000 recipients must not cost 100 MB). The
 * strings point into one buffer the session owns.
 */
struct envelope_addr {
	const char *local;  /* case kept, tag included; unquoted */
	const char *domain; /* as written */
	const char *tag;    /* the plus tag without the separator; "" without has_tag */
	bool has_tag;
	size_t base_len; /* with has_tag: bytes of local before the separator */
};

/* What the routing table said (struct route_match, compact). */
struct envelope_match {
	const struct gw_route *route;
	enum route_match_kind kind;
	const char *pattern; /* the pattern as written in the file (owned by the route) */
	struct envelope_addr addr;
};

struct envelope_rcpt {
	char *address;               /* the addr-spec as written in RCPT TO (no <>) */
	struct envelope_match match; /* what the routing table said */
};

struct envelope {
	char *mail_from; /* "" for the null reverse-path <> */
	struct envelope_rcpt *rcpts;
	size_t n_rcpts;
	char *helo;         /* HELO/EHLO argument */
	bool esmtp;         /* EHLO rather than HELO */
	char client_ip[64]; /* text form; from PROXY when the listener uses it */
	uint16_t client_port;
	char *client_name;  /* verified reverse name, or NULL */
	char *tls_protocol; /* "TLSv1.3", or NULL */
	char *tls_cipher;   /* or NULL */
	char *auth_user;    /* SMTP AUTH identity, or NULL */
	enum body_type body;
	bool smtputf8;
	uint64_t size; /* message octets as received (after unstuffing) */
	/*
	 * Octets the gateway put in front of the client's message (Received:,
	 * Authentication-Results:). The delivery id hashes what follows them,
	 * which is the message as received minus the forged
	 * Authentication-Results fields removed (so fewer than size octets
	 * then). 0: unknown, the id hashes the last size octets.
	 */
	uint64_t prepended;
	int64_t received_at_us; /* end of data, microseconds since the epoch (UTC) */
	/*
	 * rspamd's verdict for the payload's spam member (gateway/spam/), or
	 * NULL: spam null; spam_warning says why when a check was due but gave
	 * none: the payload's spam_check_failed warning, or spam_check_skipped
	 * when spam_skipped (a message over [spam] max_size).
	 */
	const json_t *spam;
	const char *spam_warning;
	bool spam_skipped;
	/*
	 * What keeps the message's bytes alive past delivery_submit() (the
	 * session's store, smtp_msg_hold()), or NULL: they are valid during
	 * the call only, and a delivery copies what it keeps.
	 */
	struct message_hold *hold;
};

/*
 * What keeps a message's bytes alive after the call that was handed them:
 * a reference count; the last message_hold_unref() frees the bytes (and
 * the hold). A delivery whose request streams the message itself (format
 * raw) takes a reference instead of copying it, so the bytes outlive the
 * session when it goes away while the request is in flight. Counted
 * atomically: a payload build thread may take one. Carried in the
 * envelope (envelope.hold), next to the other facts about the message.
 */
struct message_hold {
	atomic_uint refs;
	void (*release)(struct message_hold *h); /* frees the bytes and h */
};

static inline struct message_hold *message_hold_ref(struct message_hold *h)
{
	if (h)
		atomic_fetch_add(&h->refs, 1);
	return h;
}

static inline void message_hold_unref(struct message_hold *h)
{
	if (h && atomic_fetch_sub(&h->refs, 1) == 1)
		h->release(h);
}

/* The message bytes: in memory or a mapped spill file; read-only. */
struct message_bytes {
	const char *data;
	size_t len;
	/*
	 * data is a read-only mapping of the session's spill file
	 * (gateway/smtp/smtp_msg.c): a reader may give its pages back to the
	 * kernel as it goes (MADV_DONTNEED), they come back from the file.
	 */
	bool mapped;
};

#endif
