/*
 * dkim_key.c: DKIM public key records (RFC 6376 3.6.1: v=, h=, k=, p=,
 * s=, t=), RSA keys as SubjectPublicKeyInfo or bare PKCS#1 RSAPublicKey,
 * Ed25519 keys as the raw 32 bytes of RFC 8463 section 4, signature
 * checks through OpenSSL 3 EVP, and the per-thread cache of parsed keys.
 *
 * The cache is keyed by the exact record text, so a changed record is a
 * new key; it is bounded and evicts the least recently used entry. It is
 * owned by one thread and never locks. Nothing here does DNS.
 */
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "dkim_int.h"

#define KEY_DER_MAX 2048 /* 16384-bit RSA fits; anything longer is refused */

struct cache_entry {
	char *txt;
	size_t len;
	uint64_t hash;
	uint64_t used; /* tick of the last hit, for LRU */
	struct dkim_key key;
};

struct dkim_key_cache {
	struct cache_entry *e;
	size_t n, max;
	uint64_t tick;
};

/* Records why a key record is unusable; every such record is a permerror. */
static enum dkim_status set_reason(char *r, size_t rl, const char *what)
{
	snprintf(r, rl, "%s", what);
	return DKIM_PERMERROR;
}

/* Colon-separated list membership, FWS around items ignored. */
static bool list_has(const struct dkim_tag *t, const char *item)
{
	size_t n = strlen(item), i = 0;

	while (i < t->vlen) {
		size_t j = i, a, b;
		while (j < t->vlen && t->val[j] != ':')
			j++;
		for (a = i; a < j && (t->val[a] == ' ' || t->val[a] == '\t'); a++)
			;
		for (b = j; b > a && (t->val[b - 1] == ' ' || t->val[b - 1] == '\t'); b--)
			;
		if (b - a == n && memcmp(t->val + a, item, n) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

static EVP_PKEY *rsa_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);

	if (k && (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA || p != der + len)) {
		EVP_PKEY_free(k);
		return NULL;
	}
	if (k)
		return k;
	p = der; /* some publish the bare RSAPublicKey (PKCS#1) */
	k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
	if (k && p != der + len) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static EVP_PKEY *ed25519_from_raw(const unsigned char *raw, size_t len)
{
	if (len != 32)
		return NULL;
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
}

static enum dkim_status parse_flags(const struct dkim_taglist *tl, struct dkim_key *k, char *r,
                                    size_t rl)
{
	const struct dkim_tag *v = dkim_tags_get(tl, "v"), *h = dkim_tags_get(tl, "h");
	const struct dkim_tag *s = dkim_tags_get(tl, "s"), *t = dkim_tags_get(tl, "t");
	const struct dkim_tag *kt = dkim_tags_get(tl, "k");

	if (v && (v != &tl->tags[0] || !dkim_tag_is(v, "DKIM1")))
		return set_reason(r, rl, "key record has a bad v=");
	if (!kt || dkim_tag_is(kt, "rsa"))
		k->type = DKIM_KEY_RSA;
	else if (dkim_tag_is(kt, "ed25519"))
		k->type = DKIM_KEY_ED25519;
	else
		return set_reason(r, rl, "unknown key type k=");
	k->hashes = DKIM_KEY_HASH_SHA1 | DKIM_KEY_HASH_SHA256;
	if (h)
		k->hashes = (list_has(h, "sha1") ? DKIM_KEY_HASH_SHA1 : 0) |
		            (list_has(h, "sha256") ? DKIM_KEY_HASH_SHA256 : 0);
	if (s && !list_has(s, "*") && !list_has(s, "email"))
		return set_reason(r, rl, "key not for email (s=)");
	k->testing = t && list_has(t, "y");
	k->strict = t && list_has(t, "s");
	return DKIM_PASS;
}

static enum dkim_status parse_record(const char *txt, size_t len, struct dkim_key *k, char *r,
                                     size_t rl)
{
	struct dkim_taglist tl;
	unsigned char der[KEY_DER_MAX];
	size_t dlen;
	enum dkim_status st;

	memset(k, 0, sizeof(*k));
	if (dkim_tags_parse(txt, len, &tl) < 0)
		return set_reason(r, rl, "key record syntax error");
	if ((st = parse_flags(&tl, k, r, rl)) != DKIM_PASS)
		return st;
	const struct dkim_tag *p = dkim_tags_get(&tl, "p");
	if (!p)
		return set_reason(r, rl, "key record has no p=");
	if (p->vlen == 0)
		return set_reason(r, rl, "key revoked");
	if (codec_b64_decode(p->val, p->vlen, der, sizeof(der), &dlen, CODEC_B64_SKIP_FWS) < 0)
		return set_reason(r, rl, "key data is not base64");
	k->pkey = k->type == DKIM_KEY_RSA ? rsa_from_der(der, dlen) : ed25519_from_raw(der, dlen);
	if (!k->pkey)
		return set_reason(r, rl, "key data invalid");
	k->bits = (unsigned)EVP_PKEY_get_bits(k->pkey);
	return DKIM_PASS;
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

struct dkim_key_cache *dkim_key_cache_new(size_t max_entries)
{
	struct dkim_key_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max = max_entries ? max_entries : 1;
	c->e = calloc(c->max, sizeof(*c->e));
	if (!c->e) {
		free(c);
		return NULL;
	}
	return c;
}

void dkim_key_cache_free(struct dkim_key_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].txt);
		EVP_PKEY_CTX_free(c->e[i].key.vctx);
		EVP_PKEY_free(c->e[i].key.pkey);
	}
	free(c->e);
	free(c);
}

static struct cache_entry *cache_find(struct dkim_key_cache *c, const char *txt, size_t len,
                                      uint64_t h)
{
	for (size_t i = 0; i < c->n; i++) {
		struct cache_entry *e = &c->e[i];
		if (e->hash == h && e->len == len && memcmp(e->txt, txt, len) == 0)
			return e;
	}
	return NULL;
}

/* A free slot, or the least recently used one emptied. */
static struct cache_entry *cache_slot(struct dkim_key_cache *c)
{
	size_t victim = 0;

	if (c->n < c->max)
		return &c->e[c->n++];
	for (size_t i = 1; i < c->n; i++)
		if (c->e[i].used < c->e[victim].used)
			victim = i;
	free(c->e[victim].txt);
	EVP_PKEY_CTX_free(c->e[victim].key.vctx);
	EVP_PKEY_free(c->e[victim].key.pkey);
	memset(&c->e[victim], 0, sizeof(c->e[victim]));
	return &c->e[victim];
}

/* Setting up an RSA verify context costs provider look-ups under a lock: do it once per key. */
static EVP_PKEY_CTX *rsa_verify_ctx(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);

	if (ctx && EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, dkim_md(false)) == 1)
		return ctx;
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

static void cache_put(struct dkim_key_cache *c, const char *txt, size_t len, uint64_t h,
                      struct dkim_key *k)
{
	char *copy = malloc(len + 1);

	if (!copy || EVP_PKEY_up_ref(k->pkey) != 1) {
		free(copy);
		return; /* not cached: only costs a re-parse */
	}
	memcpy(copy, txt, len);
	copy[len] = '\0';
	struct cache_entry *e = cache_slot(c);
	e->txt = copy;
	e->len = len;
	e->hash = h;
	e->used = ++c->tick;
	e->key = *k;
	if (k->type == DKIM_KEY_RSA)
		k->vctx = e->key.vctx = rsa_verify_ctx(k->pkey);
}

enum dkim_status dkim_key_get(struct dkim_key_cache *cache, const char *txt, size_t len,
                              struct dkim_key *k, char *reason, size_t rlen)
{
	uint64_t h = 0;
	enum dkim_status st;

	if (cache) {
		h = fnv1a(txt, len);
		struct cache_entry *e = cache_find(cache, txt, len, h);
		if (e && EVP_PKEY_up_ref(e->key.pkey) == 1) {
			e->used = ++cache->tick;
			*k = e->key;
			return DKIM_PASS;
		}
	}
	st = parse_record(txt, len, k, reason, rlen);
	if (st == DKIM_PASS && cache)
		cache_put(cache, txt, len, h, k);
	return st;
}

void dkim_key_release(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	k->vctx = NULL; /* the cache's */
}

static int verify_rsa(EVP_PKEY *pkey, const EVP_MD *md, const unsigned char *digest, size_t dlen,
                      const unsigned char *sig, size_t slen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	int rc = -1;

	if (!ctx)
		return -1;
	if (EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, md) == 1)
		rc = EVP_PKEY_verify(ctx, sig, slen, digest, dlen) == 1 ? 1 : 0;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* RFC 8463 3: Ed25519 (pure) signs the SHA-256 hash of the canonical header. */
static int verify_ed25519(EVP_PKEY *pkey, const unsigned char *digest, size_t dlen,
                          const unsigned char *sig, size_t slen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (!ctx)
		return -1;
	if (EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pkey, NULL) == 1)
		rc = EVP_DigestVerify(ctx, sig, slen, digest, dlen) == 1 ? 1 : 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int dkim_key_verify(const struct dkim_key *k, enum dkim_alg alg, const unsigned char *digest,
                    size_t dlen, const unsigned char *sig, size_t slen)
{
	switch (alg) {
	case DKIM_ALG_RSA_SHA1:
		return verify_rsa(k->pkey, dkim_md(true), digest, dlen, sig, slen);
	case DKIM_ALG_RSA_SHA256:
		if (k->vctx)
			return EVP_PKEY_verify(k->vctx, sig, slen, digest, dlen) == 1 ? 1 : 0;
		return verify_rsa(k->pkey, dkim_md(false), digest, dlen, sig, slen);
	case DKIM_ALG_ED25519_SHA256:
		return verify_ed25519(k->pkey, digest, dlen, sig, slen);
	default:
		return -1;
	}
}
