/*
 * webhook_request.h: one message's HTTP request, built once at submit time
 * (gateway/webhook/webhook_request.c) and replayed, re-signed, per attempt.
 */
#ifndef WEBHOOK_REQUEST_H
#define WEBHOOK_REQUEST_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "payload.h"
#include "webhook_sign.h"

struct format_state;
struct form_data;

/* Longest value we put in one request header (the X-Gateway-* envelope headers). */
#define WEBHOOK_HEADER_VALUE_MAX 8192

/*
 * Everything a request needs, copied out of the route, the envelope and the
 * message: the session and a reloaded config may go away meanwhile.
 */
struct webhook_request {
	char id[WEBHOOK_ID_SIZE];
	char *route_name;
	char *url;
	char *body; /* exactly the bytes signed and sent (json, postmark) */
	size_t body_len;
	size_t body_room; /* free bytes before body in its allocation (json: Ed25519 in place) */
	struct form_data *segs;     /* or format raw's: our head fields and the held message */
	struct curl_slist *headers; /* all but the per-attempt signing headers */
	struct webhook_key *keys;
	size_t n_keys;
	enum gw_webhook_auth auth;
	char *basic_user, *basic_password;
	struct gw_reply_override *replies; /* deep copy of the route's */
	size_t n_replies;
	struct gw_route_opts opts; /* ca_file, client_cert, client_key deep-copied */
	enum payload_kind kind;    /* message.classification.kind (json format; else human) */
	struct format_state *fmt;  /* provider formats (format.h), else NULL */
};

/*
 * Builds r (zeroed by the caller, or with only r->id already set to
 * webhook_sign_id()'s value for the same arguments). limits may be NULL
 * (payload defaults). Pure: it may run on any thread while nothing changes
 * its arguments. Returns 0, or -1 with a reason in err (r must still be
 * freed).
 */
int webhook_request_build(struct webhook_request *r, const struct gw_route *route,
                          const struct envelope *env, const struct message_bytes *msg,
                          const json_t *auth, const struct gw_limits *limits, char *err,
                          size_t errsz);
void webhook_request_free(struct webhook_request *r);

/*
 * The octets the built body holds: the buffer of json and raw, or the
 * whole length of a provider's multipart form, whose parts are owned copies
 * or keep the parsed message alive (what max_delivery_memory counts).
 */
uint64_t webhook_request_body_bytes(const struct webhook_request *r);

/* The memory its body takes while the request lives (form_data_held for a form). */
uint64_t webhook_request_held_bytes(const struct webhook_request *r);

/* A form body is never laid out for libcurl: streamed through the read callback. */
void webhook_request_stream_only(struct webhook_request *r);

/*
 * At least the length of json_dumpb(v, JSON_COMPACT | JSON_ENSURE_ASCII)
 * (0 for NULL), found in one walk without writing it: the auth object
 * sizes every body, twice per message.
 */
size_t webhook_json_bound(const json_t *v);

/*
 * The most bytes webhook_request_build() lets the body reach with these
 * arguments (beyond it the build fails with EMSGSIZE): max_payload_size,
 * or less when the payload cannot be that large. Counted against
 * max_delivery_memory before the build.
 */
size_t webhook_request_body_cap(const struct gw_route *route, const struct envelope *env,
                                const struct message_bytes *msg, const json_t *auth,
                                const struct gw_limits *limits);

/*
 * What max_delivery_memory counts for such a body before it is built: its
 * cap, and a form's laid-out copy when the cap is that small
 * (form_data_held()). A form whose cap was larger but which turned out that
 * small streams instead (webhook_request_stream_only()): its copy was not
 * counted.
 */
size_t webhook_request_held_cap(const struct gw_route *route, const struct envelope *env,
                                const struct message_bytes *msg, const json_t *auth,
                                const struct gw_limits *limits);

/* The headers of one attempt: the fixed ones plus webhook-id/-timestamp/-signature. */
struct curl_slist *webhook_request_headers(const struct webhook_request *r, int64_t ts);

/*
 * Sets every option of one attempt on easy (headers owned by the caller).
 * pipewait: the route may multiplex (not yet seen answering HTTP/1.x); it
 * only ever applies to https:// URLs.
 */
void webhook_request_setup(const struct webhook_request *r, CURL *easy, struct curl_slist *headers,
                           uint64_t timeout_ms, bool pipewait);

/*
 * A header value made safe: control characters (CR, LF above all) become
 * spaces, at most cap-1 bytes. Bytes >= 0x80 (UTF-8 addresses) are kept.
 */
void webhook_request_header_value(char *out, size_t cap, const char *in);

#endif
