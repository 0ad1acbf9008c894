/*
 * webhook_sign.c: the delivery id and the Standard Webhooks signatures
 * (https://www.standardwebhooks.com/, spec 1.0.0, "Signature scheme" and
 * "Webhook headers"): HMAC-SHA256 ("v1", whsec_ keys) and Ed25519 ("v1a",
 * whsk_ keys, RFC 8032) over id "." timestamp "." body, the body one buffer
 * or the segments of a streamed one (form_data.h). Base64 is RFC 4648 4.
 *
 * Must never: log or copy a key outside struct webhook_key, or keep a
 * secret's text (the shared keys are found by its SHA-256); hand out a
 * shared key made before the last reload; accept a key that does not
 * decode exactly; let the id depend on time, ports or anything a
 * resubmission of the same message would change.
 */
#include "webhook_sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "form_data.h"

#define ED25519_SEED_LEN 32
#define ED25519_SIG_LEN  64
#define HMAC_SHA256_LEN  32

/*
 * OpenSSL 3 looks an algorithm up in its provider store, under a lock, each
 * time it is named (EVP_sha256() in an init, "HMAC" and its "SHA256"
 * parameter): fetched once here instead of for every message (OpenSSL's
 * migration guide, "Fetching algorithms"). Kept for the process's life.
 */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	return sha256_md;
}

static EVP_MAC *hmac(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	return hmac_mac;
}

char *webhook_sign_base64(const unsigned char *in, size_t len)
{
	char *out = malloc(codec_b64_encoded_len(len) + 1);

	if (out)
		codec_b64_encode(in, len, out);
	return out;
}

/*
 * Strict decoding: the standard alphabet, padding optional but only at the
 * end. Up to two trailing '=' are dropped whatever the length, as keys in
 * the wild are written both ways; the rest must then decode unpadded.
 */
static int base64_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen)
{
	size_t all = strlen(in), len = all;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (all - len > 2)
		return -1;
	return codec_b64_decode(in, len, out, cap, outlen, 0);
}

static void hash_count(EVP_MD_CTX *md, uint64_t v)
{
	unsigned char n[8];
	for (int i = 0; i < 8; i++)
		n[i] = (unsigned char)(v >> (56 - 8 * i));
	EVP_DigestUpdate(md, n, sizeof(n));
}

static void hash_field(EVP_MD_CTX *md, const void *p, size_t len)
{
	hash_count(md, len);
	if (len && p)
		EVP_DigestUpdate(md, p, len);
}

static void hash_str(EVP_MD_CTX *md, const char *s)
{
	hash_field(md, s ? s : "", s ? strlen(s) : 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Recipients in sorted order: the set matters, not the order the client sent it in. */
static void hash_rcpts(EVP_MD_CTX *md, const struct envelope *env)
{
	const char **v;
	size_t n = env ? env->n_rcpts : 0;

	hash_count(md, n);
	if (n == 0)
		return;
	v = calloc(n, sizeof(*v));
	if (!v) { /* unsorted is still deterministic for an identical resubmission */
		for (size_t i = 0; i < n; i++)
			hash_str(md, env->rcpts[i].address);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = env->rcpts[i].address ? env->rcpts[i].address : "";
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++)
		hash_str(md, v[i]);
	free(v);
}

/*
 * The message as the client sent it: the SMTP layer prepends its own trace
 * fields (Received:, Authentication-Results:) that differ on every try, so
 * only what follows them is hashed: envelope.prepended says where that starts
 * (it is shorter than envelope.size when forged Authentication-Results
 * fields were cut out); without it, the last envelope.size bytes.
 */
static void hash_message(EVP_MD_CTX *md, const struct envelope *env,
                         const struct message_bytes *msg)
{
	size_t len = msg ? msg->len : 0;

	if (env && env->prepended > 0 && env->prepended < len)
		hash_field(md, msg->data + env->prepended, len - (size_t)env->prepended);
	else if (env && env->size > 0 && env->size < len)
		hash_field(md, msg->data + (len - env->size), (size_t)env->size);
	else
		hash_field(md, msg ? msg->data : NULL, len);
}

void webhook_sign_id(const char *route_name, const char *url, const struct envelope *env,
                     const struct message_bytes *msg, char out[WEBHOOK_ID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(digest, 0, sizeof(digest));
	if (md && sha256() && EVP_DigestInit_ex(md, sha256(), NULL)) {
		hash_str(md, "smtp-gateway delivery id 1");
		hash_str(md, route_name);
		hash_str(md, url);
		hash_str(md, env ? env->mail_from : NULL);
		hash_rcpts(md, env);
		hash_message(md, env, msg);
		EVP_DigestFinal_ex(md, digest, &dlen);
	}
	EVP_MD_CTX_free(md);
	memcpy(out, "msg_", 4);
	for (int i = 0; i < 16; i++) {
		out[4 + 2 * i] = hex[digest[i] >> 4];
		out[5 + 2 * i] = hex[digest[i] & 15];
	}
	out[WEBHOOK_ID_SIZE - 1] = '\0';
}

static int key_ed25519(const unsigned char *raw, size_t len, struct webhook_key *k)
{
	EVP_PKEY *pkey;

	if (len != ED25519_SEED_LEN && len != 2 * ED25519_SEED_LEN)
		return -1;
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, ED25519_SEED_LEN);
	if (!pkey) /* any 32 bytes are a seed: OpenSSL could not load it */
		return -2;
	if (len == 2 * ED25519_SEED_LEN) { /* seed || public: the halves must belong together */
		unsigned char pub[ED25519_SEED_LEN];
		size_t plen = sizeof(pub);
		if (!EVP_PKEY_get_raw_public_key(pkey, pub, &plen) ||
		    CRYPTO_memcmp(pub, raw + ED25519_SEED_LEN, ED25519_SEED_LEN) != 0) {
			EVP_PKEY_free(pkey);
			return -1;
		}
	}
	k->type = WEBHOOK_KEY_ED25519;
	k->pkey = pkey;
	k->secret = NULL;
	k->secret_len = 0;
	return 0;
}

/*
 * The HMAC state after the key (its inner and outer pads hashed) is made
 * once per key; each signature starts from a copy of it.
 */
static int key_hmac(struct webhook_key *k)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	EVP_MAC_CTX *ctx = hmac() ? EVP_MAC_CTX_new(hmac()) : NULL;
	if (!ctx || !EVP_MAC_init(ctx, k->secret, k->secret_len, params)) {
		EVP_MAC_CTX_free(ctx);
		return -2;
	}
	k->hmac = ctx;
	return 0;
}

static void key_release(struct webhook_key *k);

static int key_parse(const char *secret, struct webhook_key *k)
{
	unsigned char raw[WEBHOOK_SECRET_MAX];
	size_t len = 0;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (strncmp(secret, "whsk_", 5) == 0) {
		if (base64_decode(secret + 5, raw, sizeof(raw), &len) == 0)
			rc = key_ed25519(raw, len, k);
	} else if (strncmp(secret, "whsec_", 6) == 0) {
		if (base64_decode(secret + 6, raw, sizeof(raw), &len) == 0 && len > 0) {
			rc = -2;
			if ((k->secret = malloc(len)) != NULL) {
				memcpy(k->secret, raw, len);
				k->secret_len = len;
				k->type = WEBHOOK_KEY_HMAC;
				rc = key_hmac(k);
			}
		}
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc < 0)
		key_release(k);
	return rc;
}

static void key_release(struct webhook_key *k)
{
	if (k->secret) {
		OPENSSL_cleanse(k->secret, k->secret_len);
		free(k->secret);
	}
	EVP_PKEY_free(k->pkey);
	EVP_MAC_CTX_free(k->hmac);
	memset(k, 0, sizeof(*k));
}

/*
 * Parsed keys, shared. A request owns copies of its route's settings (it
 * outlives a reload), so its keys were parsed for every message: base64,
 * the HMAC pads, and for an Ed25519 key the public key's scalar
 * multiplication. Keys are cached instead, counted, and never changed once
 * made (workers and pool threads sign with one at once). An entry is found
 * by the SHA-256 of the secret's text: the text itself is not kept. A
 * reload (webhook_sign_keys_forget) ends every entry's generation: those
 * no request holds are wiped at once, the others when their last holder
 * gives them back, so a removed secret does not outlive its requests.
 * Only the routes' configured secrets are ever parsed (webhook_request.c
 * parse_keys), so the entries are bounded by the configuration: the current
 * one's secrets, and an older one's while its requests last.
 */

struct key_entry {
	unsigned char digest[32]; /* SHA-256 of the secret's text */
	struct webhook_key key;
	unsigned refs;
	unsigned gen; /* cache_gen when made: an older one is never handed out again */
	struct key_entry *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_entry *cache;
static unsigned cache_gen;

static bool text_digest(const char *secret, unsigned char out[32])
{
	unsigned int len = 0;
	return sha256() && EVP_Digest(secret, strlen(secret), out, &len, sha256(), NULL) &&
	       len == 32;
}

/* Under cache_lock: unlinks e (pp points at the link to it) and wipes it. */
static void entry_drop(struct key_entry **pp, struct key_entry *e)
{
	*pp = e->next;
	key_release(&e->key);
	OPENSSL_cleanse(e, sizeof(*e));
	free(e);
}

/* Under cache_lock: the current entry for digest, counted, or NULL. */
static struct key_entry *cache_take(const unsigned char digest[32])
{
	for (struct key_entry *e = cache; e; e = e->next)
		if (e->gen == cache_gen && CRYPTO_memcmp(e->digest, digest, 32) == 0) {
			e->refs++;
			return e;
		}
	return NULL;
}

/* Under cache_lock: drops the entries nobody holds. */
static void cache_drop_unheld(void)
{
	struct key_entry **pp = &cache;
	while (*pp) {
		struct key_entry *e = *pp;
		if (e->refs)
			pp = &e->next;
		else
			entry_drop(pp, e);
	}
}

static void shared(struct webhook_key *k, struct key_entry *e)
{
	*k = e->key;
	k->shared = e;
}

/* Under cache_lock: e into the cache, held once. */
static void cache_add(struct key_entry *e)
{
	e->refs = 1;
	e->gen = cache_gen;
	e->next = cache;
	cache = e;
}

int webhook_sign_key_parse(const char *secret, struct webhook_key *k)
{
	unsigned char digest[32];
	if (!secret || strlen(secret) >= WEBHOOK_SECRET_MAX)
		return -1;
	bool cacheable = text_digest(secret, digest);
	struct key_entry *e = NULL;
	if (cacheable) {
		pthread_mutex_lock(&cache_lock);
		e = cache_take(digest);
		pthread_mutex_unlock(&cache_lock);
	}
	if (e) {
		shared(k, e);
		return 0;
	}
	struct webhook_key parsed; /* outside the lock: an Ed25519 key takes a while */
	int rc = key_parse(secret, &parsed);
	if (rc < 0)
		return rc;
	e = cacheable ? calloc(1, sizeof(*e)) : NULL;
	struct key_entry *won = NULL;
	if (e) {
		memcpy(e->digest, digest, sizeof(digest));
		e->key = parsed;
		pthread_mutex_lock(&cache_lock);
		won = cache_take(digest); /* another thread made it meanwhile */
		if (!won) {
			cache_add(e);
			won = e;
		}
		pthread_mutex_unlock(&cache_lock);
		if (won != e)
			free(e);
	}
	if (!won) { /* no digest or no memory for an entry: this request's own key */
		*k = parsed;
		return 0;
	}
	if (won->key.hmac != parsed.hmac || won->key.pkey != parsed.pkey)
		key_release(&parsed);
	shared(k, won);
	return 0;
}

void webhook_sign_key_free(struct webhook_key *k)
{
	struct key_entry *e = k->shared;
	if (!e) {
		key_release(k);
		return;
	}
	pthread_mutex_lock(&cache_lock);
	if (e->refs > 0 && --e->refs == 0 && e->gen != cache_gen) {
		struct key_entry **pp = &cache;
		while (*pp && *pp != e)
			pp = &(*pp)->next;
		if (*pp)
			entry_drop(pp, e);
	}
	pthread_mutex_unlock(&cache_lock);
	memset(k, 0, sizeof(*k));
}

void webhook_sign_keys_forget(void)
{
	pthread_mutex_lock(&cache_lock);
	cache_gen++;
	cache_drop_unheld();
	pthread_mutex_unlock(&cache_lock);
}

/* A body to sign: one buffer, or the segments of a form (a streamed body). */
struct sign_body {
	const char *flat;
	size_t flat_len;
	const struct form_data *form;
	size_t room; /* writable bytes before flat (webhook_sign_in_place) */
};

static int body_each(const struct sign_body *b, int (*cb)(void *arg, const char *p, size_t n),
                     void *arg)
{
	if (b->form)
		return form_data_each(b->form, cb, arg);
	return b->flat_len ? cb(arg, b->flat, b->flat_len) : 0;
}

static uint64_t body_len(const struct sign_body *b)
{
	return b->form ? form_data_length(b->form) : b->flat_len;
}

static int mac_chunk(void *arg, const char *p, size_t n)
{
	return EVP_MAC_update(arg, (const unsigned char *)p, n) ? 0 : -1;
}

/* HMAC-SHA256 streams: the body is fed segment by segment, never laid out. */
static int sign_hmac(const struct webhook_key *k, const char *prefix, size_t plen,
                     const struct sign_body *body, unsigned char *mac, size_t *maclen)
{
	EVP_MAC_CTX *ctx = k->hmac ? EVP_MAC_CTX_dup(k->hmac) : NULL; /* keyed, unused */
	int ok = ctx && EVP_MAC_update(ctx, (const unsigned char *)prefix, plen) &&
	         body_each(body, mac_chunk, ctx) == 0 &&
	         EVP_MAC_final(ctx, mac, maclen, HMAC_SHA256_LEN);

	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

struct flat {
	unsigned char *p;
	size_t len;
};

static int flat_chunk(void *arg, const char *p, size_t n)
{
	struct flat *f = arg;

	memcpy(f->p + f->len, p, n);
	f->len += n;
	return 0;
}

/*
 * Ed25519 is one-shot (RFC 8032 5.1.6 hashes the message twice, and
 * OpenSSL offers no streaming PureEdDSA; Ed25519ph would be another
 * signature): prefix and body must be one buffer. A body with room
 * before it (the JSON body, webhook_sign_in_place) gets the prefix written
 * there; a streamed one is laid out once, for whsk_ keys only, and freed
 * at once: the one copy of the body such a request still makes, for the
 * length of one signature.
 */
static int sign_ed25519(const struct webhook_key *k, const char *prefix, size_t plen,
                        const struct sign_body *body, unsigned char *sig, size_t *siglen)
{
	uint64_t blen = body_len(body);
	bool in_place = !body->form && body->room >= plen;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct flat f = {NULL, 0};
	int ok = 0;

	if (in_place) /* the prefix right before the body: no copy at all */
		f.p = (unsigned char *)body->flat - plen;
	else if (blen < SIZE_MAX - plen)
		f.p = malloc(plen + (size_t)blen + 1);
	if (md && f.p) {
		memcpy(f.p, prefix, plen);
		f.len = plen + (in_place ? (size_t)blen : 0);
		*siglen = ED25519_SIG_LEN;
		ok = (in_place || body_each(body, flat_chunk, &f) == 0) &&
		     EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) &&
		     EVP_DigestSign(md, sig, siglen, f.p, f.len);
	}
	if (!in_place)
		free(f.p);
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int sign_one(const struct webhook_key *k, const char *prefix, size_t plen,
                    const struct sign_body *body, char *out, size_t outsz)
{
	unsigned char sig[ED25519_SIG_LEN];
	size_t siglen = 0;
	char *b64;
	int rc;

	if (k->type == WEBHOOK_KEY_HMAC)
		rc = sign_hmac(k, prefix, plen, body, sig, &siglen);
	else
		rc = sign_ed25519(k, prefix, plen, body, sig, &siglen);
	if (rc < 0 || !(b64 = webhook_sign_base64(sig, siglen)))
		return -1;
	snprintf(out, outsz, "%s,%s", k->type == WEBHOOK_KEY_HMAC ? "v1" : "v1a", b64);
	free(b64);
	return 0;
}

static char *sign_all(const struct webhook_key *keys, size_t n_keys, const char *id, int64_t ts,
                      const struct sign_body *body)
{
	/* "v1a," + base64 of 64 bytes (88) + a space: 96 per key is enough */
	enum { PER_KEY = 96 };
	char prefix[WEBHOOK_SIGN_PREFIX_MAX];
	int plen = snprintf(prefix, sizeof(prefix), "%s.%lld.", id, (long long)ts);
	char *out;
	size_t used = 0;

	if (n_keys == 0 || plen < 0 || (size_t)plen >= sizeof(prefix))
		return NULL;
	out = calloc(n_keys, PER_KEY);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n_keys; i++) {
		if (i > 0)
			out[used++] = ' ';
		if (sign_one(&keys[i], prefix, (size_t)plen, body, out + used,
		             n_keys * PER_KEY - used) < 0) {
			free(out);
			return NULL;
		}
		used += strlen(out + used);
	}
	return out;
}

char *webhook_sign(const struct webhook_key *keys, size_t n_keys, const char *id, int64_t ts,
                   const char *body, size_t body_len)
{
	struct sign_body b = {body, body_len, NULL, 0};

	return sign_all(keys, n_keys, id, ts, &b);
}

char *webhook_sign_in_place(const struct webhook_key *keys, size_t n_keys, const char *id,
                            int64_t ts, char *body, size_t body_len, size_t room)
{
	struct sign_body b = {body, body_len, NULL, room};

	return sign_all(keys, n_keys, id, ts, &b);
}

char *webhook_sign_form(const struct webhook_key *keys, size_t n_keys, const char *id, int64_t ts,
                        const struct form_data *body)
{
	struct sign_body b = {NULL, 0, body, 0};

	return sign_all(keys, n_keys, id, ts, &b);
}
