/*
 * dkim.h: DKIM signature verification (gateway/dkim/), RFC 6376 with the
 * Ed25519 algorithm of RFC 8463. Pure logic over the asynchronous DNS
 * interface of dns.h: no sockets, no event loop, no state shared between
 * verifications (only the SHA digests, fetched from OpenSSL once).
 *
 * dkim_verify_start() does all the hashing at once (the message bytes are
 * not needed after it returns), then asks DNS for every key and reports
 * one result per DKIM-Signature header field, top to bottom, in a single
 * callback. It is dkim_verify_prepare() (the CPU work, pure: it may run on
 * another thread) then dkim_verify_resume() (DNS and the verdicts, on the
 * loop); gateway/auth/ calls the two apart for large messages. It never judges alignment or policy
 * (that is DMARC's job, gateway/dmarc/): it says which signature verified and why the others did
 * not.
 *
 * Not thread-safe per object: a verification, a key cache and a resolver
 * belong to one worker thread (one event loop).
 */
#ifndef DKIM_H
#define DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns.h"

/* Hard bounds (the defaults of the options below may only go lower). */
#define DKIM_MAX_SIGNATURES     10   /* DKIM-Signature fields verified per message */
#define DKIM_MAX_HEADER_FIELDS  2000 /* header fields per message; more: permerror */
#define DKIM_MAX_BODY_HASHES    4    /* default of [auth] dkim_max_body_hashes */
#define DKIM_MAX_SIGNED_HEADERS 128  /* names in one h= list */
#define DKIM_HEADER_B_LEN       16   /* chars of b= kept for header.b (RFC 6008) */

/* RFC 8601 section 2.7.1 result values, as used in Authentication-Results dkim=. */
enum dkim_status {
	DKIM_PASS,
	DKIM_FAIL,      /* crypto said no: body hash or signature mismatch */
	DKIM_NEUTRAL,   /* the signature field itself is malformed or unsupported */
	DKIM_TEMPERROR, /* the key could not be fetched now; try later */
	DKIM_PERMERROR, /* no usable key: absent, malformed, revoked, wrong type */
	DKIM_POLICY,    /* valid form, refused by local policy: short key, expired, future */
	DKIM_STATUS_MAX
};

enum dkim_alg {
	DKIM_ALG_UNKNOWN,
	DKIM_ALG_RSA_SHA1, /* verified, but reported weak (RFC 8301) */
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
};

/* The result of one DKIM-Signature header field. Strings are NUL-terminated, possibly empty. */
struct dkim_sig_result {
	enum dkim_status status;
	char reason[96];    /* "" on pass; "body hash mismatch", "key revoked", ... */
	char domain[256];   /* d=, as written (compare case-insensitively) */
	char selector[256]; /* s= */
	char algorithm[24]; /* a= as written, e.g. "rsa-sha256" ("" when absent) */
	char canon[24];     /* c=, normalised: "relaxed/simple" */
	char identity[320]; /* i=, or "@" d= when absent (RFC 6376 3.5) */
	char header_b[DKIM_HEADER_B_LEN + 1]; /* first chars of b= (header.b, RFC 6008) */
	enum dkim_alg alg;
	unsigned key_bits; /* 0 when the key was not loaded */
	bool weak;         /* a=rsa-sha1: verified, but SHA-1 is no longer acceptable (RFC 8301) */
	bool testing;      /* the key record says t=y: do not treat as a real result */
	bool body_length;  /* l= present: only a prefix of the body is signed */
	uint64_t body_signed;   /* l= value */
	uint64_t body_unsigned; /* canonical body octets after the l= prefix (appended content) */
	int64_t timestamp;      /* t=, -1 when absent */
	int64_t expiration;     /* x=, -1 when absent */
};

struct dkim_result {
	int error;                          /* 0, or -1: out of memory (then n == 0) */
	size_t n;                           /* DKIM-Signature fields reported */
	size_t n_ignored;                   /* fields beyond max_signatures, not verified */
	const struct dkim_sig_result *sigs; /* n entries, top to bottom */
};

struct dkim_key_cache;

struct dkim_options {
	uint32_t max_signatures;      /* default and cap DKIM_MAX_SIGNATURES */
	uint32_t min_rsa_bits;        /* keys below are refused (policy); default 1024 */
	uint32_t clock_skew;          /* seconds of tolerance on t= and x=; default 300 */
	time_t now;                   /* 0: time(NULL); tests pin it */
	struct dkim_key_cache *cache; /* NULL: parse every key record */
	/*
	 * Distinct body hashes (canonicalisation, hash, l=) computed per
	 * message, 1..16; signatures needing another are permerror "not
	 * evaluated" (a bound on CPU: each is a pass over the whole body).
	 */
	uint32_t max_body_hashes;
	/*
	 * Body hashes shared with the ARC verification of the same message
	 * (then its max applies to both together); NULL: one of its own.
	 */
	struct dkim_bh_cache *body_cache;
	/*
	 * The verification threads were full (gateway/auth/): parse, but hash
	 * nothing; every signature that would have been hashed is temperror
	 * "not evaluated: verification threads busy" (fail closed, never a pass).
	 */
	bool busy;
};

/*
 * A body hash cache for one message, shared by dkim_verify_start() and
 * arc_verify_start() (both hash in start, so it may be freed once both
 * have returned): one pass over the body per distinct (canonicalisation,
 * hash, l=), at most max_body_hashes (1..16) passes in all.
 */
struct dkim_bh_cache;
struct dkim_bh_cache *dkim_bh_cache_new(uint32_t max_body_hashes);
void dkim_bh_cache_free(struct dkim_bh_cache *c);

/* Fills *o with the defaults. */
void dkim_options_default(struct dkim_options *o);

struct gw_auth;
/*
 * Fills *o from the [auth] dkim_* keys of the configuration (a zero field
 * keeps the default); cache is left NULL for the caller to set.
 */
void dkim_options_from_config(struct dkim_options *o, const struct gw_auth *a);

/* The key cache size the configuration asks for (default 1024). */
size_t dkim_key_cache_size(const struct gw_auth *a);

/*
 * Called exactly once per started verification that was not cancelled.
 * res and everything it points to is valid only during the call.
 */
typedef void (*dkim_cb)(void *arg, const struct dkim_result *res);

struct dkim_verify;

/*
 * Verifies every DKIM-Signature of msg (the message as received: header,
 * empty line, body; CRLF line endings), len bytes. msg need not outlive
 * the call. opts may be NULL (defaults). The callback may run before this
 * returns (no signature, every key cached by the resolver); then the
 * return value is NULL. Otherwise it returns a handle for
 * dkim_verify_cancel(). Out of memory is reported through the callback
 * (res->error = -1).
 */
struct dkim_verify *dkim_verify_start(const struct dns_resolver *resolver, const char *msg,
                                      size_t len, const struct dkim_options *opts, dkim_cb cb,
                                      void *arg);

/*
 * The first half of dkim_verify_start(): parses msg, applies the time
 * checks and computes every body and header hash. Pure: no DNS, no event
 * loop, no key cache (opts->cache is not read), no state shared with
 * anything but opts->body_cache, so it may run on a thread of its own;
 * msg need not outlive it. NULL when out of memory.
 */
struct dkim_verify *dkim_verify_prepare(const char *msg, size_t len,
                                        const struct dkim_options *opts);

/*
 * The second half, on the loop of resolver: asks the keys of a prepared
 * verification (which it takes) and reports as dkim_verify_start() does.
 * v NULL (prepare ran out of memory) reports out of memory through cb.
 */
struct dkim_verify *dkim_verify_resume(struct dkim_verify *v, const struct dns_resolver *resolver,
                                       struct dkim_key_cache *cache, dkim_cb cb, void *arg);

/*
 * Before dkim_verify_resume(): leave the public-key operations (the one
 * costly step once the keys are in) to the owner. When every key is in and
 * some operation waits, ready(arg) runs on the loop (maybe inside resume,
 * which then returns v) instead of the callback; the owner then calls
 * dkim_verify_crypto(v), pure, on any thread while nothing else touches v,
 * and then dkim_verify_finish(v) on the loop, which reports through the
 * callback and frees v. An operation that never ran (finish without
 * crypto: the threads were full) leaves its signature temperror, never a
 * pass. When ready runs inside dkim_verify_resume(), it must not finish or
 * cancel v (resume returns v after it). NULL is a no-op.
 */
void dkim_verify_defer_crypto(struct dkim_verify *v, void (*ready)(void *arg));
void dkim_verify_crypto(struct dkim_verify *v);
void dkim_verify_finish(struct dkim_verify *v);

/*
 * Cancels a verification whose callback has not run (or a prepared one
 * never resumed); its callback never runs. NULL is a no-op.
 */
void dkim_verify_cancel(struct dkim_verify *v);

/*
 * A cache of parsed public keys (EVP_PKEY), keyed by the exact key record
 * text, so that a key seen again costs no base64 or DER decoding. Bounded
 * to max_entries; owned by one thread. DNS answers are cached (with TTLs)
 * by the resolver, not here.
 */
struct dkim_key_cache *dkim_key_cache_new(size_t max_entries);
void dkim_key_cache_free(struct dkim_key_cache *c);

const char *dkim_status_name(enum dkim_status s); /* "pass", "fail", ... */
const char *dkim_alg_name(enum dkim_alg a);       /* "rsa-sha256", ... */

#endif
