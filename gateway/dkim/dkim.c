/*
 * dkim.c: verification of every DKIM-Signature of a message (RFC 6376
 * section 6, RFC 8463), asynchronous over dns.h.
 *
 * dkim_verify_start() parses each signature field, applies the time
 * checks of 6.1.1, computes every body hash (one pass per distinct
 * canonicalisation/length/hash tuple) and header hash, then sends one key
 * query per signature. Each answer is judged by dkim_check(); when the
 * last one is in, the callback gets every result at once and the
 * verification frees itself. Resolver callbacks may run synchronously,
 * inside dns_query(): the STARTING state keeps the callback from firing
 * (and freeing) before start has finished.
 *
 * Must never block, never keep the message after start, never verify
 * more than max_signatures fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dkim_int.h"

struct sig_job {
	struct dkim_verify *v;
	size_t idx;
	struct dkim_sig sig;
	struct dns_query *q; /* while the key query is outstanding */
	bool waiting;
	bool need;              /* prepared: its key decides (else its result is known) */
	struct dkim_verdict vd; /* once its key is in */
};

struct dkim_verify {
	const struct dns_resolver *resolver;
	struct dkim_check_opts co;
	dkim_cb cb;
	void *arg;
	size_t n, n_ignored;
	size_t max_body_hashes; /* distinct body hashes computed at most */
	struct sig_job *jobs;
	struct dkim_sig_result *res;
	size_t pending;
	size_t n_crypto;                 /* deferred public-key operations */
	void (*crypto_ready)(void *arg); /* dkim_verify_defer_crypto(), with arg */
	bool busy;              /* prepared without hashing: the verification threads were full */
	enum dkim_vstate state; /* changed only by set_state() */
};

const char *const dkim_vstate_names[DKIM_VS_MAX] = {"prepared", "starting", "waiting", "crypto"};

static void set_state(struct dkim_verify *v, enum dkim_vstate s)
{
	v->state = s;
}

static const char *const status_names[DKIM_STATUS_MAX] = {
    [DKIM_PASS] = "pass",           [DKIM_FAIL] = "fail",           [DKIM_NEUTRAL] = "neutral",
    [DKIM_TEMPERROR] = "temperror", [DKIM_PERMERROR] = "permerror", [DKIM_POLICY] = "policy",
};

const char *dkim_status_name(enum dkim_status s)
{
	return (unsigned)s < DKIM_STATUS_MAX ? status_names[s] : "none";
}

const char *dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_ALG_RSA_SHA1:
		return "rsa-sha1";
	case DKIM_ALG_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ALG_ED25519_SHA256:
		return "ed25519-sha256";
	default:
		return "unknown";
	}
}

void dkim_options_default(struct dkim_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_signatures = DKIM_MAX_SIGNATURES;
	o->min_rsa_bits = 1024;
	o->clock_skew = 300;
	o->max_body_hashes = DKIM_MAX_BODY_HASHES;
}

void dkim_options_from_config(struct dkim_options *o, const struct gw_auth *a)
{
	dkim_options_default(o);
	if (!a)
		return;
	if (a->dkim_max_signatures && a->dkim_max_signatures < DKIM_MAX_SIGNATURES)
		o->max_signatures = a->dkim_max_signatures;
	if (a->dkim_min_rsa_bits)
		o->min_rsa_bits = a->dkim_min_rsa_bits;
	if (a->dkim_clock_skew_ms)
		o->clock_skew = (uint32_t)(a->dkim_clock_skew_ms / 1000);
	if (a->dkim_max_body_hashes)
		o->max_body_hashes = a->dkim_max_body_hashes;
}

struct dkim_bh_cache *dkim_bh_cache_new(uint32_t max_body_hashes)
{
	struct dkim_bh_cache *c = calloc(1, sizeof(*c));
	if (c)
		c->max = max_body_hashes && max_body_hashes < DKIM_BH_SLOTS ? max_body_hashes
		                                                            : DKIM_BH_SLOTS;
	return c;
}

void dkim_bh_cache_free(struct dkim_bh_cache *c)
{
	free(c);
}

size_t dkim_key_cache_size(const struct gw_auth *a)
{
	return a && a->dkim_key_cache_size ? a->dkim_key_cache_size : 1024;
}

static void free_verify(struct dkim_verify *v)
{
	for (size_t k = 0; v->jobs && k < v->n; k++)
		dkim_verdict_drop(&v->jobs[k].vd);
	free(v->jobs);
	free(v->res);
	free(v);
}

static void finish(struct dkim_verify *v)
{
	struct dkim_result r = {.n = v->n, .n_ignored = v->n_ignored, .sigs = v->res};

	v->cb(v->arg, &r);
	free_verify(v);
}

/* Reports out of memory through the callback; returns the NULL start then returns. */
static struct dkim_verify *fail_oom(dkim_cb cb, void *arg)
{
	struct dkim_result r = {.error = -1};

	cb(arg, &r);
	return NULL;
}

static void set_result(struct dkim_sig_result *r, enum dkim_status st, const char *why)
{
	r->status = st;
	snprintf(r->reason, sizeof(r->reason), "%s", why);
}

/* Copies what the signature says about itself into its result. */
static void describe(struct dkim_sig_result *r, const struct dkim_sig *s)
{
	snprintf(r->domain, sizeof(r->domain), "%s", s->d);
	snprintf(r->selector, sizeof(r->selector), "%s", s->s);
	snprintf(r->algorithm, sizeof(r->algorithm), "%s", s->a);
	snprintf(r->canon, sizeof(r->canon), "%s", s->canon);
	snprintf(r->identity, sizeof(r->identity), "%s", s->i);
	snprintf(r->header_b, sizeof(r->header_b), "%s", s->header_b);
	r->alg = s->alg;
	r->weak = s->alg == DKIM_ALG_RSA_SHA1;
	r->body_length = s->has_l;
	r->body_signed = s->has_l ? s->l : 0;
	r->body_unsigned = (s->has_l && s->body_total > s->l) ? s->body_total - s->l : 0;
	r->timestamp = s->t;
	r->expiration = s->x;
}

/*
 * Every key is in: the callback (then 0: v was finished and freed), or,
 * when public-key operations wait, the owner's crypto_ready (then 1: v is
 * the owner's, who may even have finished it already; touch it no more).
 */
static int keys_done(struct dkim_verify *v)
{
	if (v->n_crypto) {
		set_state(v, DKIM_VS_CRYPTO);
		v->crypto_ready(v->arg);
		return 1;
	}
	finish(v);
	return 0;
}

static void key_answer(void *arg, const struct dns_result *res)
{
	struct sig_job *j = arg;
	struct dkim_verify *v = j->v;
	struct dkim_sig_result *r = &v->res[j->idx];

	j->waiting = false;
	j->q = NULL;
	dkim_check(&j->sig, res, &v->co, &j->vd);
	set_result(r, j->vd.status, j->vd.reason);
	r->key_bits = j->vd.key_bits;
	r->testing = j->vd.testing;
	v->n_crypto += j->vd.pkey != NULL;
	if (--v->pending == 0 && v->state == DKIM_VS_WAITING)
		keys_done(v);
}

/*
 * Parses, checks times and hashes one signature: 1 when it needs its key,
 * 0 when its result is already known, -1 when out of memory.
 */
static int prepare(struct dkim_verify *v, struct sig_job *j, const struct dkim_msg *m,
                   const struct dkim_field *f, struct dkim_bh_cache *bc)
{
	struct dkim_sig_result *r = &v->res[j->idx];
	char err[96];

	if (dkim_sig_parse(&j->sig, f, DKIM_KIND_SIG, err, sizeof(err)) < 0) {
		describe(r, &j->sig);
		set_result(r, DKIM_NEUTRAL, err);
		return 0;
	}
	enum dkim_status st = dkim_check_time(&j->sig, &v->co, err, sizeof(err));
	if (st == DKIM_PASS && v->busy) {
		describe(r, &j->sig); /* fail closed: no hash, no pass */
		set_result(r, DKIM_TEMPERROR, DKIM_NOT_EVALUATED_BUSY);
		return 0;
	}
	if (st == DKIM_PASS &&
	    (dkim_sig_body_hash(&j->sig, m, bc) < 0 || dkim_sig_header_hash(&j->sig, m) < 0))
		return -1;
	describe(r, &j->sig);
	if (st != DKIM_PASS) {
		set_result(r, st, err);
		return 0;
	}
	if (j->sig.bh_skipped) { /* no key query either: nothing can make it pass */
		set_result(r, DKIM_PERMERROR, DKIM_NOT_EVALUATED);
		return 0;
	}
	return 1;
}

static void ask_key(struct dkim_verify *v, struct sig_job *j)
{
	char name[300];

	if (dkim_sig_key_name(&j->sig, name, sizeof(name)) < 0) {
		set_result(&v->res[j->idx], DKIM_NEUTRAL, "key name too long");
		return;
	}
	j->waiting = true;
	v->pending++;
	struct dns_query *q = dns_query(v->resolver, name, DNS_T_TXT, key_answer, j);
	if (j->waiting)
		j->q = q;
}

static int count_sigs(const struct dkim_msg *m)
{
	int n = 0;

	for (size_t k = 0; k < m->nf; k++)
		n += dkim_field_is(&m->f[k], "DKIM-Signature", 14);
	return n;
}

static int prepare_all(struct dkim_verify *v, const struct dkim_msg *m,
                       struct dkim_bh_cache *shared)
{
	struct dkim_bh_cache *bc = shared ? shared : calloc(1, sizeof(*bc));
	size_t idx = 0;

	if (!bc)
		return -1;
	if (!shared)
		bc->max = v->max_body_hashes;
	for (size_t k = 0; k < m->nf && idx < v->n; k++) {
		if (!dkim_field_is(&m->f[k], "DKIM-Signature", 14))
			continue;
		struct sig_job *j = &v->jobs[idx];
		j->v = v;
		j->idx = idx++;
		int rc = prepare(v, j, m, &m->f[k], bc);
		if (rc < 0) {
			if (!shared)
				free(bc);
			return -1;
		}
		j->need = rc == 1;
	}
	if (!shared)
		free(bc);
	return 0;
}

/*
 * More header fields than DKIM_MAX_HEADER_FIELDS: what DKIM would sign or
 * see is cut, so every signature is permerror, none is hashed or looked up.
 */
static void truncated(struct dkim_verify *v, const struct dkim_msg *m)
{
	char why[64], err[96];
	size_t idx = 0;

	snprintf(why, sizeof(why), "more than %d header fields", DKIM_MAX_HEADER_FIELDS);
	for (size_t k = 0; k < m->nf && idx < v->n; k++) {
		if (!dkim_field_is(&m->f[k], "DKIM-Signature", 14))
			continue;
		if (dkim_sig_parse(&v->jobs[idx].sig, &m->f[k], DKIM_KIND_SIG, err, sizeof(err)) ==
		    0)
			describe(&v->res[idx], &v->jobs[idx].sig);
		set_result(&v->res[idx++], DKIM_PERMERROR, why);
	}
	for (; idx < v->n; idx++)
		set_result(&v->res[idx], DKIM_PERMERROR, why);
}

static struct dkim_verify *new_verify(const struct dkim_options *o, size_t n)
{
	struct dkim_verify *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->n = n;
	v->busy = o->busy;
	v->co.min_rsa_bits = o->min_rsa_bits;
	v->co.clock_skew = o->clock_skew;
	v->co.now = o->now ? o->now : time(NULL);
	v->max_body_hashes = o->max_body_hashes && o->max_body_hashes < DKIM_BH_SLOTS
	                         ? o->max_body_hashes
	                         : DKIM_BH_SLOTS;
	v->jobs = calloc(n ? n : 1, sizeof(*v->jobs));
	v->res = calloc(n ? n : 1, sizeof(*v->res));
	if (!v->jobs || !v->res) {
		free_verify(v);
		return NULL;
	}
	return v;
}

struct dkim_verify *dkim_verify_prepare(const char *msg, size_t len,
                                        const struct dkim_options *opts)
{
	struct dkim_options def;
	struct dkim_msg m;
	struct dkim_verify *v;

	if (!opts) {
		dkim_options_default(&def);
		opts = &def;
	}
	size_t max = opts->max_signatures;
	if (max == 0 || max > DKIM_MAX_SIGNATURES)
		max = DKIM_MAX_SIGNATURES;
	if (dkim_msg_parse(&m, msg, len, DKIM_MAX_HEADER_FIELDS) < 0)
		return NULL;
	size_t total = (size_t)count_sigs(&m);
	if (m.truncated && total == 0)
		total = 1; /* one permerror entry: signatures may hide beyond the limit */
	v = new_verify(opts, total < max ? total : max);
	if (v && m.truncated) {
		truncated(v, &m);
	} else if (v && prepare_all(v, &m, opts->body_cache) < 0) {
		free_verify(v);
		v = NULL;
	}
	dkim_msg_free(&m);
	if (!v)
		return NULL;
	v->n_ignored = total - v->n;
	set_state(v, DKIM_VS_PREPARED);
	return v;
}

struct dkim_verify *dkim_verify_resume(struct dkim_verify *v, const struct dns_resolver *resolver,
                                       struct dkim_key_cache *cache, dkim_cb cb, void *arg)
{
	if (!v)
		return fail_oom(cb, arg);
	v->resolver = resolver;
	v->co.cache = cache;
	v->cb = cb;
	v->arg = arg;
	set_state(v, DKIM_VS_STARTING);
	for (size_t k = 0; k < v->n; k++)
		if (v->jobs[k].need)
			ask_key(v, &v->jobs[k]);
	set_state(v, DKIM_VS_WAITING);
	if (v->pending == 0 && keys_done(v) == 0)
		return NULL;
	return v;
}

void dkim_verify_defer_crypto(struct dkim_verify *v, void (*ready)(void *arg))
{
	if (!v)
		return;
	v->co.defer_crypto = true;
	v->crypto_ready = ready;
}

void dkim_verify_crypto(struct dkim_verify *v)
{
	for (size_t k = 0; k < v->n; k++) {
		struct sig_job *j = &v->jobs[k];
		if (!j->vd.pkey)
			continue;
		dkim_verdict_crypto(&j->sig, &j->vd);
		set_result(&v->res[k], j->vd.status, j->vd.reason);
	}
}

void dkim_verify_finish(struct dkim_verify *v)
{
	finish(v); /* operations that never ran stay temperror (free_verify drops them) */
}

struct dkim_verify *dkim_verify_start(const struct dns_resolver *resolver, const char *msg,
                                      size_t len, const struct dkim_options *opts, dkim_cb cb,
                                      void *arg)
{
	struct dkim_verify *v = dkim_verify_prepare(msg, len, opts);

	return dkim_verify_resume(v, resolver, opts ? opts->cache : NULL, cb, arg);
}

void dkim_verify_cancel(struct dkim_verify *v)
{
	if (!v)
		return;
	for (size_t k = 0; k < v->n; k++)
		if (v->jobs[k].waiting)
			dns_cancel(v->resolver, v->jobs[k].q);
	free_verify(v);
}
