/*
 * arc.h: Authenticated Received Chain validation (gateway/dkim/arc.c),
 * RFC 8617 section 5.2. Pure logic over dns.h, asynchronous like dkim.h.
 *
 * It validates the chain a message arrives with (the cv= this hop would
 * seal with); it never signs. Whether a passing chain may override a
 * DMARC failure is the caller's decision (gw_auth.trust_arc).
 */
#ifndef ARC_H
#define ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dkim.h"
#include "dns.h"

#define ARC_MAX_INSTANCES 50 /* RFC 8617 5.2 step 1: more is a failed chain */

enum arc_status {
	ARC_NONE, /* no ARC header field at all */
	ARC_PASS,
	ARC_FAIL,
	ARC_STATUS_MAX
};

/* One ARC set, as found in the message (for Authentication-Results and logs). */
struct arc_set_result {
	int instance;           /* i= */
	char ams_domain[256];   /* the ARC-Message-Signature's d= */
	char ams_selector[256]; /* and s= */
	char as_domain[256];    /* the ARC-Seal's d= */
	char as_selector[256];  /* and s= */
	char authserv_id[256];  /* the AAR's authserv-id */
	enum dkim_status ams;   /* DKIM_PASS ... ; DKIM_NEUTRAL when not checked */
	enum dkim_status as;    /* same, for the seal */
};

struct arc_result {
	int error;          /* 0, or -1: out of memory */
	enum arc_status cv; /* the chain validation status */
	bool temporary;     /* cv fail came from a DNS temporary failure (temperror) */
	char reason[128];   /* why fail: "i=2 AMS: body hash mismatch", "" on pass/none */
	int n;              /* N, the highest instance (0 when none) */
	int oldest_pass; /* RFC 8617 5.2 step 5: 0 = every AMS verified; else lowest i that did */
	const struct arc_set_result
	    *sets; /* n entries, index 0 = i=1; NULL when the structure failed */
};

struct arc_options {
	uint32_t min_rsa_bits;        /* default 1024 */
	time_t now;                   /* 0: time(NULL) */
	uint32_t clock_skew;          /* seconds; default 300 */
	struct dkim_key_cache *cache; /* may be NULL */
	uint32_t max_body_hashes;     /* distinct AMS body hashes computed, newest first; 0: 4 */
	struct dkim_bh_cache *body_cache; /* shared with DKIM for one message (dkim.h); or NULL */
	/*
	 * The verification threads were full (gateway/auth/): the structure is
	 * checked, nothing is hashed, and a chain that would need its keys is
	 * cv fail, temporary ("not evaluated: verification threads busy").
	 */
	bool busy;
};

void arc_options_default(struct arc_options *o);

struct gw_auth;
/* Fills *o from the [auth] dkim_* keys (min RSA bits, clock skew, body hashes); cache NULL. */
void arc_options_from_config(struct arc_options *o, const struct gw_auth *a);

typedef void (*arc_cb)(void *arg, const struct arc_result *res);

struct arc_verify;

/*
 * Validates the ARC chain of msg (CRLF line endings), len bytes; msg need
 * not outlive the call. Same contract as dkim_verify_start(): the
 * callback runs exactly once unless cancelled, maybe before this returns
 * (then NULL is returned).
 */
struct arc_verify *arc_verify_start(const struct dns_resolver *resolver, const char *msg,
                                    size_t len, const struct arc_options *opts, arc_cb cb,
                                    void *arg);

/*
 * The two halves of arc_verify_start(), as in dkim.h: prepare is pure
 * (no DNS, no loop, opts->cache not read; msg need not outlive it; NULL
 * when out of memory); resume runs on the resolver's loop, takes v and
 * reports through cb (out of memory when v is NULL).
 */
struct arc_verify *arc_verify_prepare(const char *msg, size_t len, const struct arc_options *opts);
struct arc_verify *arc_verify_resume(struct arc_verify *v, const struct dns_resolver *resolver,
                                     struct dkim_key_cache *cache, arc_cb cb, void *arg);

/* Deferred public-key operations, as dkim_verify_defer_crypto() and the rest in dkim.h. */
void arc_verify_defer_crypto(struct arc_verify *v, void (*ready)(void *arg));
void arc_verify_crypto(struct arc_verify *v);
void arc_verify_finish(struct arc_verify *v);

/* Cancels a verification whose callback has not run, or a prepared one never resumed. */
void arc_verify_cancel(struct arc_verify *v);

const char *arc_status_name(enum arc_status s); /* "none", "pass", "fail" */

#endif
