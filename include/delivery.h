/*
 * delivery.h: the one door between the SMTP session and the webhook.
 *
 * At the end of a message the session calls delivery_submit() and gets back
 * exactly one SMTP reply, later, through its callback: 250 only when the
 * app answered 2xx for that very message. The SMTP layer knows nothing of
 * HTTP; gateway/webhook/ implements this on libcurl's multi interface,
 * driven by the worker's libevent loop (never a blocking call).
 *
 * delivery_submit() copies (or serialises) everything it needs before it
 * returns, but for a message of payload_offload_threshold octets or more:
 * its payload is built on another thread, which reads the route, envelope
 * and message the caller passed until the callback comes or
 * delivery_forget() returns (it waits for a build that runs). So the
 * caller keeps them untouched meanwhile, as the session does while it
 * waits for its reply. The completion is found by cookie (the session
 * id), never by pointer.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"

struct event_base;
struct delivery;

/* One SMTP reply: "code status text", text printable ASCII without CR/LF. */
struct smtp_reply {
	int code;        /* 250, 451, 550 ... */
	char status[16]; /* "2.0.0" */
	char text[256];
	/*
	 * 0, or the enum delivery_result (< 0) of a message refused before any
	 * request started (its payload, built after delivery_submit returned,
	 * could not be): the session answers it as it would have answered that
	 * return value; code, status and text say the same for other callers.
	 */
	int refused;
	/* For the message's log line and metrics (0 when no request ran): */
	long http_status;    /* the last attempt's HTTP status; 0: none (connect, timeout...) */
	uint64_t payload_us; /* building the request body */
	uint64_t webhook_us; /* from the body built to the answer: queue, attempts, retries */
};

/* Messages accepted and dropped by a route's auto_replies = "accept-and-drop". */
struct delivery;
uint64_t delivery_dropped(const struct delivery *d);

typedef void (*delivery_done_fn)(void *owner, uint64_t cookie, const struct smtp_reply *reply);

/*
 * A per-worker delivery context on base. done is called on base's thread.
 * base must be made after evthread_use_pthreads(): the payloads of large
 * messages (payload_offload_threshold) are built on other threads, whose
 * completions wake base.
 */
struct delivery *delivery_new(struct event_base *base, const struct gw_config *cfg,
                              delivery_done_fn done, void *owner);
void delivery_free(struct delivery *d); /* cancels what is in flight, no callbacks */

/* After a reload: later submissions use cfg (routes are matched by name). */
void delivery_set_config(struct delivery *d, const struct gw_config *cfg);

/* What delivery_submit() returns. */
enum delivery_result {
	DELIVERY_QUEUED = 0,   /* the reply comes later, through the callback */
	DELIVERY_FAILED = -1,  /* could not be set up: the caller answers 451 4.3.0 */
	DELIVERY_TOO_BIG = -2, /* the body would pass max_payload_size (or the payload's own
	                          cap, docs/webhook.md): 552 5.3.4, it will not shrink */
	DELIVERY_BUSY = -3,    /* max_delivery_memory reached: 451 4.3.1 */
};

/* A delivery id: the webhook's Idempotency-Key, NUL-terminated, for the logs. */
#define DELIVERY_ID_SIZE 37

/*
 * Posts one message to route. auth is the auth object for the payload (may
 * be NULL). Returns an enum delivery_result: DELIVERY_QUEUED, or a
 * refusal (nothing is in flight then); errno carries nothing. cookie (the
 * session id) comes back in the callback and is on every log line of this
 * delivery. On DELIVERY_QUEUED, id (when not NULL) receives the delivery
 * id, which every webhook log line of this delivery names too.
 */
int delivery_submit(struct delivery *d, const struct gw_route *route, const struct envelope *env,
                    const struct message_bytes *msg, const json_t *auth, uint64_t cookie,
                    char id[DELIVERY_ID_SIZE]);

/* The session went away: forget cookie's request (it completes or is cancelled quietly). */
void delivery_forget(struct delivery *d, uint64_t cookie);

/*
 * Circuit breaker, asked at RCPT: false when route's breaker is open, and
 * the caller answers 451 4.3.0 without receiving the message.
 */
bool delivery_route_available(struct delivery *d, const struct gw_route *route);

/* Request body bytes held now by the deliveries of the whole process, and the most ever. */
uint64_t delivery_memory_held(void);
uint64_t delivery_memory_peak(void);

/*
 * SIGTERM: the worker drains for drain_timeout_ms. From now on no attempt
 * and no retry runs past drain_timeout_ms minus a margin (a fifth of it, at
 * most 2 s, for the replies to reach the clients); at that point every
 * delivery still open is answered 451 4.3.2 (delivery not confirmed) and
 * counted in delivery_drain_cut(). So a transaction whose POST is in
 * flight gets its reply before drain_timeout closes the connection: a
 * retry_budget or timeout longer than drain_timeout is cut short on
 * SIGTERM, never its reply.
 */
void delivery_drain(struct delivery *d, uint64_t drain_timeout_ms);
unsigned delivery_drain_cut(const struct delivery *d);

/* Requests in flight, for drain on SIGTERM. */
unsigned delivery_in_flight(const struct delivery *d);

#endif
