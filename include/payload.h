/*
 * payload.h: MIME to JSON (gateway/mime/). Pure: bytes in, JSON out; no
 * sockets, no event loop, no globals. The daemon, `smtp-gateway parse`, the
 * tests, the fuzzer and the benchmark all call payload_build().
 * The schema is docs/payload.md and docs/payload.schema.json (version 1).
 */
#ifndef PAYLOAD_H
#define PAYLOAD_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"

/*
 * The auth object of a message is shared, never copied, by the payloads
 * and the deliveries that may be built on other threads (payload.c,
 * delivery.c): that needs jansson's atomic reference counts.
 */
#if !JSON_HAVE_ATOMIC_BUILTINS && !JSON_HAVE_SYNC_BUILTINS
#error "jansson counts references without atomics here: the auth object would need copies"
#endif

/* message.classification.kind, for callers that act on it (route auto_replies). */
enum payload_kind { PAYLOAD_HUMAN, PAYLOAD_BULK, PAYLOAD_LIST, PAYLOAD_AUTO_REPLY, PAYLOAD_BOUNCE };

struct payload_options {
	enum gw_attachments attachments; /* inline, metadata or omit */
	bool include_raw;                /* add message.raw (base64 of the whole message) */
	uint32_t max_header_count;
	uint32_t max_mime_depth;
	uint32_t max_mime_parts;
	uint32_t max_header_field_size;   /* bytes of one folded field handed to GMime */
	uint32_t max_header_section_size; /* bytes of one header section handed to GMime */
	uint64_t max_reply_scan;          /* message.reply reads at most this much body text */
	enum payload_kind *kind_out;      /* if not NULL: receives message.classification.kind */
	/*
	 * The message is a read-only file mapping (the session's spill file):
	 * its pages may be handed back to the kernel (MADV_DONTNEED) once read,
	 * and come back from the file if read again. Never set it for memory
	 * that is not such a mapping: anonymous pages would read as zeros.
	 */
	bool input_mapped;
};

/* Fills *o with the defaults a route gets when it says nothing. */
void payload_options_default(struct payload_options *o);
void payload_options_from_route(struct payload_options *o, const struct gw_route *r,
                                const struct gw_limits *l);

/*
 * Builds the payload of one delivery. env may be NULL (`parse`: envelope
 * empty); auth may be NULL (then the auth object is present with nulls);
 * id is the delivery id (may be NULL). Never fails on malformed mail:
 * what could not be decoded is reported in "warnings". Returns NULL only
 * when out of memory.
 */
json_t *payload_build(const struct message_bytes *msg, const struct envelope *env,
                      const json_t *auth, const char *id, const struct payload_options *opt);

/*
 * The same payload as payload_build() with the same arguments, serialised
 * by json_dump_callback(flags) into cb, but with attachment contents and
 * message.raw base64-encoded straight from the message into cb instead of
 * being held in the tree: peak memory is about the message plus what cb
 * keeps. This is what the webhook should send. Returns 0, or -1 when out
 * of memory or when cb returned non-zero.
 */
int payload_write(const struct message_bytes *msg, const struct envelope *env, const json_t *auth,
                  const char *id, const struct payload_options *opt, size_t flags,
                  json_dump_callback_t cb, void *data);

#endif
