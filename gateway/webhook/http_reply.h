/*
 * http_reply.h: the HTTP-to-SMTP answer table (gateway/webhook/http_reply.c).
 *
 * Pure functions over data: what the webhook (or the network) said goes in,
 * one SMTP reply comes out. No I/O, no event loop, no globals but the table.
 */
#ifndef HTTP_REPLY_H
#define HTTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "delivery.h"

/* The longest reply text we send (RFC 5321 4.5.3.1.5 allows 512 octets a line). */
#define HTTP_REPLY_TEXT_MAX 200

/* What one attempt ended with. */
enum http_outcome {
	HTTP_OUTCOME_STATUS,  /* the app answered; status is set */
	HTTP_OUTCOME_CONNECT, /* refused, DNS failure, TLS failure */
	HTTP_OUTCOME_TIMEOUT, /* connect or whole-request timeout */
	HTTP_OUTCOME_RESET,   /* the connection broke after the request went out */
	HTTP_OUTCOME_CONFIG,  /* the request could not be made (bad URL, bad option) */
	HTTP_OUTCOME_MAX
};

struct http_answer {
	enum http_outcome outcome;
	long status;      /* HTTP status when outcome == HTTP_OUTCOME_STATUS */
	const char *body; /* response body, capped; may be NULL */
	size_t body_len;
	long retry_after_s; /* Retry-After in seconds, -1 when absent */
	const char *id;     /* the delivery id, quoted in 250 replies */
};

/*
 * Maps an answer to the reply: the table row, then the route's override for
 * that row (n_ov entries of ov, may be 0), then the app's own words from a
 * JSON body {"smtp": {"code", "status", "message"}} when they keep the
 * class. Never yields a 2xx reply for anything but an HTTP 2xx.
 */
void http_reply_map(const struct http_answer *a, const struct gw_reply_override *ov, size_t n_ov,
                    struct smtp_reply *out);

/* Delivery's own replies, where no attempt speaks (delivery.c). */
enum http_reply_own {
	HTTP_OWN_DROPPED,   /* route auto_replies = "accept-and-drop": 250, nothing posted */
	HTTP_OWN_TOO_BIG,   /* the body would pass its cap: 552 (refused = DELIVERY_TOO_BIG) */
	HTTP_OWN_SETUP,     /* the request could not be built: 451 (refused = DELIVERY_FAILED) */
	HTTP_OWN_DRAIN_CUT, /* the drain deadline came first: 451, delivery not confirmed */
	HTTP_OWN_MAX
};

/* The reply of one of delivery's own outcomes, from the same table file as the HTTP rows. */
void http_reply_own(enum http_reply_own id, struct smtp_reply *out);

/* Is this answer worth another attempt (connect, timeout, reset, 502, 503, 504)? */
bool http_reply_transient(const struct http_answer *a);

/*
 * Cleans reply text: printable ASCII only (control characters become
 * spaces, runs of other bytes one '?'), spaces collapsed and trimmed, at
 * most max characters. out has room for cap bytes including the NUL.
 * Returns the length written.
 */
size_t http_reply_sanitize(const char *in, size_t len, char *out, size_t cap, size_t max);

/* The override key of an answer's row ("404" first, then "4xx"; "connect", "timeout", "reset"). */
const char *http_reply_class_key(const struct http_answer *a, char *buf, size_t bufsz);

#endif
