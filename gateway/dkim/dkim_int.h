/*
 * dkim_int.h: what the files of gateway/dkim/ share and nobody else sees:
 * the tag-list parser (dkim_tags.c), the header splitter (dkim_msg.c),
 * canonicalisation and body hashing (dkim_canon.c), signature fields
 * (dkim_sig.c) and public keys (dkim_key.c). dkim.c and arc.c are built
 * from these.
 *
 * Everything here works on the message buffer given to *_verify_start()
 * and must never keep a pointer into it past that call.
 */
#ifndef DKIM_INT_H
#define DKIM_INT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dkim.h"
#include "dns.h"

/* ---- tag=value lists (RFC 6376 3.2) -------------------------------- */

#define DKIM_MAX_TAGS 40 /* a tag-list with more tags is refused as malformed */

struct dkim_tag {
	const char *name;
	size_t nlen;
	const char *val; /* without the surrounding FWS */
	size_t vlen;
	size_t raw_start; /* offset just after '=' */
	size_t raw_end;   /* offset of the ';' that ends the tag-spec (or the list's length) */
};

struct dkim_taglist {
	struct dkim_tag tags[DKIM_MAX_TAGS];
	size_t n;
};

/* Parses s (len bytes). 0, or -1 on any syntax error or duplicate tag name. */
int dkim_tags_parse(const char *s, size_t len, struct dkim_taglist *out);

/* The tag named name (case-sensitive, as RFC 6376 3.2 says), or NULL. */
const struct dkim_tag *dkim_tags_get(const struct dkim_taglist *l, const char *name);

/* True when the tag value equals lit exactly. */
bool dkim_tag_is(const struct dkim_tag *t, const char *lit);

/* ---- the message's header fields ----------------------------------- */

struct dkim_field {
	const char *p; /* the field from its name to before its final CRLF */
	size_t len;
	size_t nlen;  /* name length, trailing WSP before ':' excluded */
	size_t colon; /* offset of ':' (== len when there is none) */
};

struct dkim_msg {
	struct dkim_field *f; /* top to bottom */
	size_t nf;
	const char *body; /* after the empty line; len 0 when there is none */
	size_t blen;
	bool truncated; /* more than max fields: the rest were not looked at */
};

/* Splits buf into header fields and body. 0, or -1 when out of memory. */
int dkim_msg_parse(struct dkim_msg *m, const char *buf, size_t len, size_t max_fields);
void dkim_msg_free(struct dkim_msg *m);
bool dkim_field_is(const struct dkim_field *f, const char *name, size_t nlen);

/* ---- canonicalisation (RFC 6376 3.4) ------------------------------- */

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* SHA-1 (sha1 true) or SHA-256, fetched from the default provider once per process. */
const EVP_MD *dkim_md(bool sha1);

/* Feeds one header field, canonicalised, to md; with_crlf adds the CRLF. 0 or -1. */
int dkim_canon_header(EVP_MD_CTX *md, enum dkim_canon c, const char *p, size_t len, bool with_crlf);

/* Body hashes already computed for one message: one pass per distinct tuple. */
#define DKIM_BH_SLOTS 16 /* the highest [auth] dkim_max_body_hashes */
struct dkim_bh_slot {
	enum dkim_canon canon;
	uint64_t limit; /* UINT64_MAX: whole body */
	const EVP_MD *md;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen;
	uint64_t total; /* canonical body length */
};
struct dkim_bh_cache {
	struct dkim_bh_slot slot[DKIM_BH_SLOTS];
	size_t n;
	size_t max; /* distinct body hashes computed at most (0: DKIM_BH_SLOTS) */
	bool over;  /* the last dkim_body_hash() was refused: max reached */
};

/*
 * Body hash of body under (c, limit, md); served from cache when the tuple
 * was seen. NULL when out of memory, or (cache->over set) when the tuple
 * is new and cache->max distinct hashes were computed already: the body is
 * then not hashed again (CPU bound per message).
 */
const struct dkim_bh_slot *dkim_body_hash(struct dkim_bh_cache *cache, const char *body, size_t len,
                                          enum dkim_canon c, uint64_t limit, const EVP_MD *md,
                                          struct dkim_bh_slot *tmp);

/* ---- signature fields: DKIM-Signature, ARC-Message-Signature, ARC-Seal */

enum dkim_kind { DKIM_KIND_SIG, DKIM_KIND_AMS, DKIM_KIND_AS };

struct dkim_hname {
	const char *p;
	size_t len;
};

struct dkim_sig {
	enum dkim_kind kind;
	const struct dkim_field *field;
	enum dkim_alg alg;
	enum dkim_canon hc, bc;
	char a[24], canon[24];
	char d[256], s[256], i[320];
	char header_b[DKIM_HEADER_B_LEN + 1];
	struct dkim_hname h[DKIM_MAX_SIGNED_HEADERS];
	size_t nh;
	bool has_l;
	uint64_t l;
	int64_t t, x; /* -1 when absent */
	int instance; /* ARC i= */
	int cv;       /* ARC-Seal cv=: 0 none, 1 pass, 2 fail */
	unsigned char b[1024];
	size_t blen;
	unsigned char bh[EVP_MAX_MD_SIZE];
	size_t bhlen;
	size_t b_start, b_end; /* the b= value's span inside field->p */
	/* computed before the key arrives */
	unsigned char hhash[EVP_MAX_MD_SIZE];
	unsigned hhlen;
	bool bh_ok;
	bool bh_skipped; /* the body hash limit was reached: not evaluated, never a pass */
	uint64_t body_total;
};

/*
 * Parses field as a signature of the given kind into *s. 0, or -1 with a
 * reason in err when the field is malformed or unsupported.
 */
int dkim_sig_parse(struct dkim_sig *s, const struct dkim_field *f, enum dkim_kind kind, char *err,
                   size_t errlen);

const EVP_MD *dkim_sig_md(const struct dkim_sig *s);

/* Feeds the signature's own field, b= value removed, no final CRLF. 0 or -1. */
int dkim_sig_hash_self(EVP_MD_CTX *md, const struct dkim_sig *s);

/* Computes s->hhash over the h= fields (bottom-up selection, RFC 6376 5.4.2) and itself. */
int dkim_sig_header_hash(struct dkim_sig *s, const struct dkim_msg *m);

/* Computes the body hash and sets s->bh_ok, s->body_total (or s->bh_skipped). 0 or -1. */
int dkim_sig_body_hash(struct dkim_sig *s, const struct dkim_msg *m, struct dkim_bh_cache *bc);

/* "selector._domainkey.domain" into buf; -1 when it does not fit. */
int dkim_sig_key_name(const struct dkim_sig *s, char *buf, size_t cap);

/* ---- public keys (RFC 6376 3.6.1, RFC 8463 4) ---------------------- */

enum dkim_ktype { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

#define DKIM_KEY_HASH_SHA1   1u
#define DKIM_KEY_HASH_SHA256 2u

struct dkim_key {
	EVP_PKEY *pkey; /* a reference of our own */
	enum dkim_ktype type;
	unsigned bits;
	unsigned hashes; /* DKIM_KEY_HASH_* allowed by h= */
	bool testing;    /* t=y */
	bool strict;     /* t=s */
	/*
	 * Cached RSA keys only: a verify context already set up for
	 * rsa-sha256, owned by the cache entry; valid until the next
	 * dkim_key_get() on the same cache (so only within one dkim_check()).
	 */
	EVP_PKEY_CTX *vctx;
};

/*
 * Parses a key record; through cache when not NULL. Returns DKIM_PASS
 * with *k filled (release with dkim_key_release), or DKIM_PERMERROR with
 * a reason.
 */
enum dkim_status dkim_key_get(struct dkim_key_cache *cache, const char *txt, size_t len,
                              struct dkim_key *k, char *reason, size_t rlen);
void dkim_key_release(struct dkim_key *k);

/* 1 when sig verifies digest under k, 0 when not, -1 on an internal error. */
int dkim_key_verify(const struct dkim_key *k, enum dkim_alg alg, const unsigned char *digest,
                    size_t dlen, const unsigned char *sig, size_t slen);

/* ---- the life of one verification (DKIM or ARC) -------------------- */

/*
 * STARTING while *_verify_resume() sends the key queries: an
 * answer that arrives then (a synchronous resolver, a cache hit) must not
 * finish and free the verification under start's feet. WAITING once start
 * has sent everything: the last answer finishes it. (Finishing frees the
 * object, so there is no DONE state to observe.)
 */
/* The reason of a signature left unverified by the body hash limit. */
#define DKIM_NOT_EVALUATED "not evaluated: body hash limit reached"
/* The reason of a signature left unhashed because the verification threads were full. */
#define DKIM_NOT_EVALUATED_BUSY "not evaluated: verification threads busy"

/*
 * PREPARED once *_verify_prepare() has hashed (maybe on a pool thread):
 * no DNS asked, no callback known yet; *_verify_resume() moves on.
 */
/*
 * CRYPTO once every key is in while public-key operations were deferred
 * (*_verify_defer_crypto()): the owner runs *_verify_crypto() (maybe on
 * another thread), then *_verify_finish() on the loop.
 */
enum dkim_vstate {
	DKIM_VS_PREPARED,
	DKIM_VS_STARTING,
	DKIM_VS_WAITING,
	DKIM_VS_CRYPTO,
	DKIM_VS_MAX
};

extern const char *const dkim_vstate_names[DKIM_VS_MAX];

/* ---- the verdict on one signature once its key answer is in -------- */

struct dkim_check_opts {
	uint32_t min_rsa_bits;
	uint32_t clock_skew;
	time_t now;
	struct dkim_key_cache *cache;
	bool defer_crypto; /* leave the public-key operation to dkim_verdict_crypto() */
};

struct dkim_verdict {
	enum dkim_status status;
	char reason[96];
	unsigned key_bits;
	bool testing;
	/*
	 * defer_crypto, every other check passed: a reference to the key whose
	 * operation is still to run (status is temperror until it has run);
	 * released by dkim_verdict_crypto() or dkim_verdict_drop().
	 */
	EVP_PKEY *pkey;
};

/* Decides a parsed, hashed signature against the DNS answer for its key. */
void dkim_check(const struct dkim_sig *s, const struct dns_result *res,
                const struct dkim_check_opts *o, struct dkim_verdict *v);

/*
 * The deferred public-key operation of a verdict (nothing when v->pkey is
 * NULL): pass or fail. Pure, so any thread; EVP_PKEY is safe for
 * concurrent use once made.
 */
void dkim_verdict_crypto(const struct dkim_sig *s, struct dkim_verdict *v);

/* Releases a deferred operation that will not run (the verdict stays temperror). */
void dkim_verdict_drop(struct dkim_verdict *v);

/* Time checks (t=, x=) of a DKIM-Signature; DKIM_PASS when acceptable. */
enum dkim_status dkim_check_time(const struct dkim_sig *s, const struct dkim_check_opts *o,
                                 char *reason, size_t rlen);

#endif
