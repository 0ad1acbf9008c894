/*
 * dkim_verdict.c: the verdict on one parsed and hashed signature once the
 * DNS answer for its key is in (RFC 6376 6.1.2 then 6.1.3): DNS outcome,
 * key record, key/signature compatibility, local policy (key size, time),
 * then body hash, then the signature itself. The first problem found is
 * the one reported, in that order, so a missing key outranks a body
 * change.
 *
 * Shared by DKIM-Signature, ARC-Message-Signature and ARC-Seal. Must never
 * query DNS nor touch the message: everything it needs was computed
 * beforehand into struct dkim_sig. With defer_crypto the last step, the
 * public-key operation (which an attacker's key makes costly: 16384-bit
 * moduli, a large e), is left to dkim_verdict_crypto(), which may run on
 * another thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dkim_int.h"

static void verdict(struct dkim_verdict *v, enum dkim_status st, const char *why)
{
	v->status = st;
	snprintf(v->reason, sizeof(v->reason), "%s", why);
}

static bool dns_ok(const struct dns_result *res, struct dkim_verdict *v)
{
	switch (res->status) {
	case DNS_OK:
		if (res->n > 0)
			return true;
		verdict(v, DKIM_PERMERROR, "no key for signature");
		return false;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		verdict(v, DKIM_PERMERROR, "no key for signature");
		return false;
	case DNS_TEMPFAIL:
		verdict(v, DKIM_TEMPERROR, "key query failed");
		return false;
	default:
		verdict(v, DKIM_PERMERROR, "key query failed permanently");
		return false;
	}
}

/* t=s on the key: i= must be in d= itself, not a subdomain (RFC 6376 3.6.1). */
static bool strict_ok(const struct dkim_sig *s)
{
	const char *at = strrchr(s->i, '@');

	return !at || strcasecmp(at + 1, s->d) == 0;
}

static bool compatible(const struct dkim_sig *s, const struct dkim_key *k,
                       const struct dkim_check_opts *o, struct dkim_verdict *v)
{
	bool ed = s->alg == DKIM_ALG_ED25519_SHA256;
	unsigned need = s->alg == DKIM_ALG_RSA_SHA1 ? DKIM_KEY_HASH_SHA1 : DKIM_KEY_HASH_SHA256;

	if (ed != (k->type == DKIM_KEY_ED25519)) {
		verdict(v, DKIM_PERMERROR, "key type does not match a=");
		return false;
	}
	if (!(k->hashes & need)) {
		verdict(v, DKIM_PERMERROR, "hash not allowed by key h=");
		return false;
	}
	if (k->strict && s->kind == DKIM_KIND_SIG && !strict_ok(s)) {
		verdict(v, DKIM_PERMERROR, "key t=s forbids a subdomain i=");
		return false;
	}
	if (k->type == DKIM_KEY_RSA && k->bits < o->min_rsa_bits) {
		verdict(v, DKIM_POLICY, "key too short");
		return false;
	}
	return true;
}

enum dkim_status dkim_check_time(const struct dkim_sig *s, const struct dkim_check_opts *o,
                                 char *reason, size_t rlen)
{
	int64_t now = (int64_t)o->now, skew = (int64_t)o->clock_skew;

	if (s->x >= 0 && s->x + skew < now) {
		snprintf(reason, rlen, "signature expired");
		return DKIM_POLICY;
	}
	if (s->t >= 0 && s->t > now + skew) {
		snprintf(reason, rlen, "signature timestamp in the future");
		return DKIM_POLICY;
	}
	return DKIM_PASS;
}

static void check_crypto(const struct dkim_sig *s, const struct dkim_key *k,
                         const struct dkim_check_opts *o, struct dkim_verdict *v)
{
	if (s->kind != DKIM_KIND_AS && s->bh_skipped) {
		verdict(v, DKIM_PERMERROR, DKIM_NOT_EVALUATED);
		return;
	}
	if (s->kind != DKIM_KIND_AS && s->has_l && s->l > s->body_total) {
		verdict(v, DKIM_FAIL, "l= exceeds the body length");
		return;
	}
	if (s->kind != DKIM_KIND_AS && !s->bh_ok) {
		verdict(v, DKIM_FAIL, "body hash mismatch");
		return;
	}
	if (o->defer_crypto) { /* until dkim_verdict_crypto(): never a pass */
		verdict(v, DKIM_TEMPERROR, DKIM_NOT_EVALUATED_BUSY);
		if (EVP_PKEY_up_ref(k->pkey) == 1)
			v->pkey = k->pkey;
		return;
	}
	int r = dkim_key_verify(k, s->alg, s->hhash, s->hhlen, s->b, s->blen);
	if (r == 1)
		verdict(v, DKIM_PASS, "");
	else
		verdict(v, DKIM_FAIL, "signature verification failed");
}

/*
 * The first record of the answer that parses as a key (RFC 6376 3.6.2.2
 * lets a verifier cycle through several); when none does, the first
 * record's error. At most KEY_RECORDS_TRIED records are looked at.
 */
#define KEY_RECORDS_TRIED 4

static enum dkim_status pick_key(const struct dns_result *res, const struct dkim_check_opts *o,
                                 struct dkim_key *k, struct dkim_verdict *v)
{
	enum dkim_status first = DKIM_PERMERROR;
	char reason[sizeof(v->reason)];

	for (size_t i = 0; i < res->n && i < KEY_RECORDS_TRIED; i++) {
		const struct dns_rr *rr = &res->rr[i];
		enum dkim_status st = dkim_key_get(o->cache, rr->u.txt.data, rr->u.txt.len, k,
		                                   reason, sizeof(reason));
		if (st == DKIM_PASS)
			return DKIM_PASS;
		if (i == 0) {
			first = st;
			snprintf(v->reason, sizeof(v->reason), "%s", reason);
		}
	}
	return first;
}

void dkim_check(const struct dkim_sig *s, const struct dns_result *res,
                const struct dkim_check_opts *o, struct dkim_verdict *v)
{
	struct dkim_key k;
	enum dkim_status st;

	memset(v, 0, sizeof(*v));
	if (!dns_ok(res, v))
		return;
	st = pick_key(res, o, &k, v);
	if (st != DKIM_PASS) {
		v->status = st;
		return;
	}
	v->reason[0] = '\0';
	v->key_bits = k.bits;
	v->testing = k.testing;
	if (compatible(s, &k, o, v))
		check_crypto(s, &k, o, v);
	dkim_key_release(&k);
}

void dkim_verdict_crypto(const struct dkim_sig *s, struct dkim_verdict *v)
{
	if (!v->pkey)
		return;
	/* No cached verify context: it belongs to the loop's key cache. */
	struct dkim_key k = {.pkey = v->pkey};
	int r = dkim_key_verify(&k, s->alg, s->hhash, s->hhlen, s->b, s->blen);
	if (r == 1)
		verdict(v, DKIM_PASS, "");
	else
		verdict(v, DKIM_FAIL, "signature verification failed");
	dkim_verdict_drop(v);
}

void dkim_verdict_drop(struct dkim_verdict *v)
{
	EVP_PKEY_free(v->pkey);
	v->pkey = NULL;
}
