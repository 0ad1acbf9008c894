/*
 * webhook_sign.h: delivery ids and Standard Webhooks signatures
 * (gateway/webhook/webhook_sign.c). Pure: no I/O, no event loop.
 */
#ifndef WEBHOOK_SIGN_H
#define WEBHOOK_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/* "msg_" + 32 lower-case hex digits + NUL */
#define WEBHOOK_ID_SIZE 37

/* Secrets are bounded by the spec (512 bytes of key); base64 of that plus prefix. */
#define WEBHOOK_SECRET_MAX 1024

enum webhook_key_type { WEBHOOK_KEY_HMAC, WEBHOOK_KEY_ED25519 };

struct webhook_key {
	enum webhook_key_type type;
	unsigned char *secret; /* HMAC key bytes (whsec_) */
	size_t secret_len;
	void *pkey;   /* EVP_PKEY for Ed25519 (whsk_) */
	void *hmac;   /* EVP_MAC_CTX keyed with secret (whsec_): each signature signs with a copy */
	void *shared; /* the cache entry this key is a counted view of (webhook_sign.c), or NULL */
};

/*
 * The delivery id: "msg_" + hex of the first 16 bytes of SHA-256 over the
 * route (name, url), the envelope (mail_from, the recipients sorted) and the
 * message as received (its last env->size bytes: not the trace fields the
 * gateway prepended), each length-prefixed. The same message resubmitted
 * after a lost connection gets the same id; nothing time- or port-dependent
 * enters.
 */
void webhook_sign_id(const char *route_name, const char *url, const struct envelope *env,
                     const struct message_bytes *msg, char out[WEBHOOK_ID_SIZE]);

/*
 * Parses one configured secret: "whsec_" + base64 (HMAC-SHA256 key) or
 * "whsk_" + base64 of an Ed25519 private key (the 32-byte seed, or the
 * 64 bytes seed || public key of libsodium and the reference libraries).
 * Returns 0, -1 when it is malformed, or -2 when a well-formed key could
 * not be loaded (out of memory, or OpenSSL refused it); k untouched on
 * failure. Parsed keys are
 * shared between requests (and threads) by their text: k is a counted
 * view, given back with webhook_sign_key_free().
 */
int webhook_sign_key_parse(const char *secret, struct webhook_key *k);
void webhook_sign_key_free(struct webhook_key *k);

/*
 * A reload: the shared keys no request holds are wiped now, the others
 * when their last request gives them back; none is handed out again.
 */
void webhook_sign_keys_forget(void);

/*
 * The webhook-signature header value over id "." timestamp "." body: one
 * "v1,<base64>" (HMAC) or "v1a,<base64>" (Ed25519) per key, separated by
 * spaces. Returns a malloc'd string, or NULL on failure.
 */
char *webhook_sign(const struct webhook_key *keys, size_t n_keys, const char *id, int64_t ts,
                   const char *body, size_t body_len);

/* The longest "id.timestamp." prefix signed before a body. */
#define WEBHOOK_SIGN_PREFIX_MAX 128

/*
 * The same, where body has room writable bytes before it (an allocation
 * made with them): with room >= WEBHOOK_SIGN_PREFIX_MAX, an Ed25519
 * signature writes its prefix there instead of copying the body.
 */
char *webhook_sign_in_place(const struct webhook_key *keys, size_t n_keys, const char *id,
                            int64_t ts, char *body, size_t body_len, size_t room);

struct form_data;

/*
 * The same over a streamed body (form_data.h): HMAC-SHA256 is fed segment
 * by segment; Ed25519, one-shot, lays prefix and body out once, only for
 * the time of its signature.
 */
char *webhook_sign_form(const struct webhook_key *keys, size_t n_keys, const char *id, int64_t ts,
                        const struct form_data *body);

/* Base64 (RFC 4648 4, with padding) of in into a malloc'd string. */
char *webhook_sign_base64(const unsigned char *in, size_t len);

#endif
