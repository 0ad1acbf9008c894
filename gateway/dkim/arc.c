/*
 * arc.c: ARC chain validation, RFC 8617 section 5.2: collect the ARC sets
 * (ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal, 4.1), check
 * their structure (exactly one of each per instance, instances 1..N with
 * no gap, cv=none at i=1 and cv=pass above, no set sealed with cv=fail),
 * verify the newest AMS like a DKIM signature, every AMS below it for
 * oldest-pass (5.2 step 5, 7.2), and every AS over the sets 1..i (5.1.1,
 * relaxed header canonicalisation).
 *
 * Everything is hashed in arc_verify_start(); then one key query per AMS
 * and per AS goes out (the resolver coalesces identical names) and the
 * verdict is taken when the last answer is in. Must never sign, never
 * judge DMARC, never keep the message after start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"
#include "config.h"
#include "dkim_int.h"

enum { PART_AAR, PART_AMS, PART_AS, PART_MAX };

struct arc_job {
	struct arc_verify *v;
	struct dkim_sig sig;
	struct dns_query *q;
	bool waiting;
	struct dkim_verdict vd;
};

struct arc_set {
	const struct dkim_field *part[PART_MAX];
	struct arc_job ams, as;
};

/* What prepare found before any DNS, when it already knows the answer. */
struct early {
	enum arc_status cv;
	bool temporary; /* not evaluated: the verification threads were full */
	char reason[128];
};

struct arc_verify {
	const struct dns_resolver *resolver;
	struct dkim_check_opts co;
	arc_cb cb;
	void *arg;
	int n;
	const struct dkim_field *parts[ARC_MAX_INSTANCES][PART_MAX]; /* as collected */
	/* AMS and AS as collect() parsed them to read i=: moved into sets, never parsed again */
	struct dkim_sig *parsed[ARC_MAX_INSTANCES][PART_MAX];
	struct arc_set *sets; /* n entries, index 0 = i=1 */
	struct arc_set_result *res;
	size_t pending;
	size_t n_crypto;                 /* deferred public-key operations */
	void (*crypto_ready)(void *arg); /* arc_verify_defer_crypto(), with arg */
	size_t max_body_hashes;
	bool busy;              /* prepare only parses: the verification threads were full */
	int prepared;           /* 1: keys needed; 0: early holds the answer */
	struct early e;         /* the answer known before DNS */
	enum dkim_vstate state; /* changed only by set_state() */
};

static void set_state(struct arc_verify *v, enum dkim_vstate s)
{
	v->state = s;
}

static const char *const names[ARC_STATUS_MAX] = {"none", "pass", "fail"};

const char *arc_status_name(enum arc_status s)
{
	return (unsigned)s < ARC_STATUS_MAX ? names[s] : "fail";
}

void arc_options_default(struct arc_options *o)
{
	memset(o, 0, sizeof(*o));
	o->min_rsa_bits = 1024;
	o->clock_skew = 300;
	o->max_body_hashes = DKIM_MAX_BODY_HASHES;
}

void arc_options_from_config(struct arc_options *o, const struct gw_auth *a)
{
	struct dkim_options d;

	dkim_options_from_config(&d, a);
	arc_options_default(o);
	o->min_rsa_bits = d.min_rsa_bits;
	o->clock_skew = d.clock_skew;
	o->max_body_hashes = d.max_body_hashes;
}

static void free_parsed(struct arc_verify *v)
{
	for (int i = 0; i < ARC_MAX_INSTANCES; i++)
		for (int p = 0; p < PART_MAX; p++) {
			free(v->parsed[i][p]);
			v->parsed[i][p] = NULL;
		}
}

static void free_verify(struct arc_verify *v)
{
	if (!v)
		return;
	free_parsed(v);
	for (int i = 0; v->sets && i < v->n; i++) {
		dkim_verdict_drop(&v->sets[i].ams.vd);
		dkim_verdict_drop(&v->sets[i].as.vd);
	}
	free(v->sets);
	free(v->res);
	free(v);
}

static void report(arc_cb cb, void *arg, enum arc_status cv, const char *reason, int err, int n,
                   bool temporary)
{
	struct arc_result r = {.error = err, .cv = cv, .n = n, .temporary = temporary};

	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	cb(arg, &r);
}

/* ---- collecting the sets --------------------------------------------- */

static int part_of(const struct dkim_field *f)
{
	if (dkim_field_is(f, "ARC-Authentication-Results", 26))
		return PART_AAR;
	if (dkim_field_is(f, "ARC-Message-Signature", 21))
		return PART_AMS;
	if (dkim_field_is(f, "ARC-Seal", 8))
		return PART_AS;
	return -1;
}

static size_t skip_fws(const char *p, size_t len, size_t i)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

/* "i=N;" at the start of an AAR (RFC 8617 4.1.1); the instance or -1. */
static int aar_instance(const struct dkim_field *f, size_t *after)
{
	const char *p = f->p;
	size_t len = f->len, i = skip_fws(p, len, f->colon + 1);
	int n = 0, digits = 0;

	if (i >= len || p[i] != 'i')
		return -1;
	i = skip_fws(p, len, i + 1);
	if (i >= len || p[i] != '=')
		return -1;
	i = skip_fws(p, len, i + 1);
	while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 3) {
		n = n * 10 + (p[i++] - '0');
		digits++;
	}
	i = skip_fws(p, len, i);
	if (!digits || i >= len || p[i] != ';' || n < 1 || n > ARC_MAX_INSTANCES)
		return -1;
	*after = i + 1;
	return n;
}

static void aar_authserv(const struct dkim_field *f, size_t at, char *out, size_t cap)
{
	size_t i = skip_fws(f->p, f->len, at), k = 0;

	while (i < f->len && f->p[i] != ';' && f->p[i] != ' ' && f->p[i] != '\t' &&
	       f->p[i] != '\r' && k + 1 < cap)
		out[k++] = f->p[i++];
	out[k] = '\0';
}

static int field_instance(const struct dkim_field *f, int part, struct dkim_sig *tmp, char *err,
                          size_t errlen)
{
	size_t after;

	if (part == PART_AAR) {
		int n = aar_instance(f, &after);
		if (n < 0)
			snprintf(err, errlen, "no i= instance prefix");
		return n;
	}
	if (!tmp) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	if (dkim_sig_parse(tmp, f, part == PART_AMS ? DKIM_KIND_AMS : DKIM_KIND_AS, err, errlen) <
	    0)
		return -1;
	return tmp->instance;
}

/* Places every ARC field in its set; fills e and returns -1 on a structural failure. */
static int collect(struct arc_verify *v, const struct dkim_msg *m, struct early *e)
{
	char err[96];

	for (size_t k = 0; k < m->nf; k++) {
		int part = part_of(&m->f[k]);
		if (part < 0)
			continue;
		struct dkim_sig *tmp = part == PART_AAR ? NULL : malloc(sizeof(*tmp));
		int i = field_instance(&m->f[k], part, tmp, err, sizeof(err));
		if (i < 0 || v->parts[i - 1][part])
			free(tmp);
		if (i == -2)
			return -2;
		if (i < 0) {
			static const char *const what[PART_MAX] = {"AAR", "AMS", "AS"};
			snprintf(e->reason, sizeof(e->reason), "%s: %s", what[part], err);
			return -1;
		}
		if (v->parts[i - 1][part]) {
			snprintf(e->reason, sizeof(e->reason), "i=%d: duplicate ARC field", i);
			return -1;
		}
		v->parts[i - 1][part] = &m->f[k];
		v->parsed[i - 1][part] = tmp;
		if (i > v->n)
			v->n = i;
	}
	return 0;
}

/* Each set complete (RFC 8617 5.2 step 3); then the sets get their memory. */
static int check_structure(struct arc_verify *v, struct early *e)
{
	for (int i = 1; i <= v->n; i++) {
		const struct dkim_field *const *p = v->parts[i - 1];
		if (!p[PART_AAR] || !p[PART_AMS] || !p[PART_AS]) {
			snprintf(e->reason, sizeof(e->reason), "i=%d: incomplete ARC set", i);
			return -1;
		}
	}
	size_t n = v->n > 0 && v->n <= ARC_MAX_INSTANCES ? (size_t)v->n : 1;
	v->sets = calloc(n, sizeof(*v->sets));
	v->res = calloc(n, sizeof(*v->res));
	if (!v->sets || !v->res)
		return -2;
	for (int i = 1; i <= v->n; i++) {
		struct arc_set *s = &v->sets[i - 1];
		memcpy(s->part, v->parts[i - 1], sizeof(v->parts[i - 1]));
		s->ams.sig = *v->parsed[i - 1][PART_AMS];
		s->as.sig = *v->parsed[i - 1][PART_AS];
	}
	free_parsed(v);
	return 0;
}

/* ---- hashing ------------------------------------------------------------ */

/* The seal of set i covers sets 1..i: AAR, AMS, AS each, its own b= emptied (5.1.1). */
static int seal_hash(struct arc_verify *v, int i)
{
	struct dkim_sig *as = &v->sets[i - 1].as.sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = -1;

	if (!md || EVP_DigestInit_ex(md, dkim_sig_md(as), NULL) != 1)
		goto out;
	for (int j = 1; j <= i; j++) {
		const struct arc_set *s = &v->sets[j - 1];
		for (int p = PART_AAR; p < PART_MAX; p++) {
			if (j == i && p == PART_AS)
				break;
			const struct dkim_field *f = s->part[p];
			if (dkim_canon_header(md, DKIM_CANON_RELAXED, f->p, f->len, true) < 0)
				goto out;
		}
	}
	if (dkim_sig_hash_self(md, as) < 0 || EVP_DigestFinal_ex(md, as->hhash, &as->hhlen) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static int prepare_set(struct arc_verify *v, int i, const struct dkim_msg *m,
                       struct dkim_bh_cache *bc, struct early *e)
{
	struct arc_set *s = &v->sets[i - 1];
	struct arc_set_result *r = &v->res[i - 1];
	size_t after;

	s->ams.v = s->as.v = v; /* both signatures were parsed by collect() */
	r->instance = i;
	r->ams = r->as = DKIM_NEUTRAL;
	snprintf(r->ams_domain, sizeof(r->ams_domain), "%s", s->ams.sig.d);
	snprintf(r->ams_selector, sizeof(r->ams_selector), "%s", s->ams.sig.s);
	snprintf(r->as_domain, sizeof(r->as_domain), "%s", s->as.sig.d);
	snprintf(r->as_selector, sizeof(r->as_selector), "%s", s->as.sig.s);
	aar_instance(s->part[PART_AAR], &after);
	aar_authserv(s->part[PART_AAR], after, r->authserv_id, sizeof(r->authserv_id));
	if (v->busy)
		return 0; /* parsed only: prepare() fails the chain closed */
	if (dkim_sig_body_hash(&s->ams.sig, m, bc) < 0 ||
	    dkim_sig_header_hash(&s->ams.sig, m) < 0 || seal_hash(v, i) < 0)
		return -2;
	return 0;
}

/* RFC 8617 5.2 steps 2 and 3.3: the cv= values the sealers claimed. */
static int check_cv(struct arc_verify *v, struct early *e)
{
	if (v->sets[v->n - 1].as.sig.cv == 2) {
		snprintf(e->reason, sizeof(e->reason), "i=%d: sealed with cv=fail", v->n);
		return -1;
	}
	for (int i = 1; i <= v->n; i++) {
		int cv = v->sets[i - 1].as.sig.cv;
		if ((i == 1 && cv != 0) || (i > 1 && cv != 1)) {
			snprintf(e->reason, sizeof(e->reason), "i=%d: cv=%s not allowed here", i,
			         cv == 0   ? "none"
			         : cv == 1 ? "pass"
			                   : "fail");
			return -1;
		}
	}
	return 0;
}

/* ---- the verdict ---------------------------------------------------------- */

static bool job_fails(const struct arc_job *j, int i, const char *what, struct arc_result *r)
{
	if (j->vd.status == DKIM_PASS)
		return false;
	r->cv = ARC_FAIL;
	r->temporary = j->vd.status == DKIM_TEMPERROR;
	snprintf(r->reason, sizeof(r->reason), "i=%d %s: %s", i, what, j->vd.reason);
	return true;
}

static void finish(struct arc_verify *v)
{
	struct arc_result r = {.cv = ARC_PASS, .n = v->n, .sets = v->res};
	int i;

	for (i = 1; i <= v->n; i++) {
		v->res[i - 1].ams = v->sets[i - 1].ams.vd.status;
		v->res[i - 1].as = v->sets[i - 1].as.vd.status;
	}
	for (i = v->n - 1; i >= 1; i--)
		if (v->sets[i - 1].ams.vd.status != DKIM_PASS)
			break;
	r.oldest_pass = i >= 1 ? i + 1 : 0;
	if (!job_fails(&v->sets[v->n - 1].ams, v->n, "AMS", &r))
		for (i = v->n; i >= 1; i--)
			if (job_fails(&v->sets[i - 1].as, i, "AS", &r))
				break;
	v->cb(v->arg, &r);
	free_verify(v);
}

/* As in dkim.c: 1 when v waits for its deferred operations, 0 when finished and freed. */
static int keys_done(struct arc_verify *v)
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
	struct arc_job *j = arg;
	struct arc_verify *v = j->v;

	j->waiting = false;
	j->q = NULL;
	dkim_check(&j->sig, res, &v->co, &j->vd);
	v->n_crypto += j->vd.pkey != NULL;
	if (--v->pending == 0 && v->state == DKIM_VS_WAITING)
		keys_done(v);
}

static void ask_key(struct arc_verify *v, struct arc_job *j)
{
	char name[300];

	if (j->sig.kind == DKIM_KIND_AMS && j->sig.bh_skipped) {
		j->vd.status = DKIM_PERMERROR; /* no key query: nothing can make it pass */
		snprintf(j->vd.reason, sizeof(j->vd.reason), "%s", DKIM_NOT_EVALUATED);
		return;
	}
	if (dkim_sig_key_name(&j->sig, name, sizeof(name)) < 0) {
		j->vd.status = DKIM_NEUTRAL;
		snprintf(j->vd.reason, sizeof(j->vd.reason), "key name too long");
		return;
	}
	j->waiting = true;
	v->pending++;
	struct dns_query *q = dns_query(v->resolver, name, DNS_T_TXT, key_answer, j);
	if (j->waiting)
		j->q = q;
}

static struct arc_verify *new_verify(const struct arc_options *o)
{
	struct arc_verify *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->busy = o->busy;
	v->co.min_rsa_bits = o->min_rsa_bits;
	v->co.clock_skew = o->clock_skew;
	v->co.now = o->now ? o->now : time(NULL);
	v->max_body_hashes = o->max_body_hashes && o->max_body_hashes < DKIM_BH_SLOTS
	                         ? o->max_body_hashes
	                         : DKIM_BH_SLOTS;
	return v;
}

/* Everything before DNS: 1 when keys are needed, 0 when e holds the answer, -2 OOM. */
static int prepare(struct arc_verify *v, const struct dkim_msg *m, struct early *e,
                   struct dkim_bh_cache *shared)
{
	struct dkim_bh_cache *bc;
	int rc;

	e->cv = ARC_FAIL;
	if ((rc = collect(v, m, e)) < 0)
		return rc == -2 ? -2 : 0;
	if (v->n == 0) {
		e->cv = ARC_NONE;
		return 0;
	}
	if ((rc = check_structure(v, e)) < 0)
		return rc == -2 ? -2 : 0;
	bc = shared ? shared : calloc(1, sizeof(*bc));
	if (!bc)
		return -2;
	if (!shared)
		bc->max = v->max_body_hashes;
	rc = 1;
	/*
	 * Newest first: the validation needs only the newest AMS (5.2 step 4);
	 * older ones (oldest_pass, step 5) get the body hashes left, sharing
	 * those of identical (canonicalisation, hash, l=), and are "not
	 * evaluated" beyond.
	 */
	for (int i = v->n; i >= 1 && rc == 1; i--) {
		int pr = prepare_set(v, i, m, bc, e);
		rc = pr == 0 ? 1 : pr == -1 ? 0 : -2;
	}
	if (!shared)
		free(bc);
	if (rc == 1 && check_cv(v, e) < 0)
		rc = 0;
	if (rc == 1 && v->busy) { /* a chain whose form holds, not verified: never a pass */
		e->temporary = true;
		snprintf(e->reason, sizeof(e->reason), "%s", DKIM_NOT_EVALUATED_BUSY);
		rc = 0;
	}
	return rc;
}

struct arc_verify *arc_verify_prepare(const char *msg, size_t len, const struct arc_options *opts)
{
	struct arc_options def;
	struct dkim_msg m;
	struct arc_verify *v;
	int rc;

	if (!opts) {
		arc_options_default(&def);
		opts = &def;
	}
	if (dkim_msg_parse(&m, msg, len, DKIM_MAX_HEADER_FIELDS) < 0)
		return NULL;
	v = new_verify(opts);
	if (!v) {
		dkim_msg_free(&m);
		return NULL;
	}
	v->e.cv = ARC_FAIL;
	if (m.truncated) { /* a chain we cannot see whole is no chain: fail closed */
		snprintf(v->e.reason, sizeof(v->e.reason), "more than %d header fields",
		         DKIM_MAX_HEADER_FIELDS);
		rc = 0;
	} else {
		rc = prepare(v, &m, &v->e, opts->body_cache);
	}
	dkim_msg_free(&m);
	if (rc == -2) {
		free_verify(v);
		return NULL;
	}
	v->prepared = rc;
	set_state(v, DKIM_VS_PREPARED);
	return v;
}

/* A prepared verification whose answer came before DNS: reported, freed. */
static void report_early(struct arc_verify *v, arc_cb cb, void *arg)
{
	const struct early *e = &v->e;

	report(cb, arg, e->cv, e->cv == ARC_NONE ? "" : e->reason, 0, v->n, e->temporary);
	free_verify(v);
}

struct arc_verify *arc_verify_resume(struct arc_verify *v, const struct dns_resolver *resolver,
                                     struct dkim_key_cache *cache, arc_cb cb, void *arg)
{
	if (!v) {
		report(cb, arg, ARC_FAIL, "out of memory", -1, 0, false);
		return NULL;
	}
	if (v->prepared <= 0) {
		report_early(v, cb, arg);
		return NULL;
	}
	v->resolver = resolver;
	v->co.cache = cache;
	v->cb = cb;
	v->arg = arg;
	set_state(v, DKIM_VS_STARTING);
	for (int i = v->n; i >= 1; i--) {
		ask_key(v, &v->sets[i - 1].ams);
		ask_key(v, &v->sets[i - 1].as);
	}
	set_state(v, DKIM_VS_WAITING);
	if (v->pending == 0 && keys_done(v) == 0)
		return NULL;
	return v;
}

void arc_verify_defer_crypto(struct arc_verify *v, void (*ready)(void *arg))
{
	if (!v)
		return;
	v->co.defer_crypto = true;
	v->crypto_ready = ready;
}

void arc_verify_crypto(struct arc_verify *v)
{
	for (int i = 0; i < v->n; i++) {
		dkim_verdict_crypto(&v->sets[i].ams.sig, &v->sets[i].ams.vd);
		dkim_verdict_crypto(&v->sets[i].as.sig, &v->sets[i].as.vd);
	}
}

void arc_verify_finish(struct arc_verify *v)
{
	finish(v); /* operations that never ran stay temperror (free_verify drops them) */
}

struct arc_verify *arc_verify_start(const struct dns_resolver *resolver, const char *msg,
                                    size_t len, const struct arc_options *opts, arc_cb cb,
                                    void *arg)
{
	struct arc_verify *v = arc_verify_prepare(msg, len, opts);

	return arc_verify_resume(v, resolver, opts ? opts->cache : NULL, cb, arg);
}

void arc_verify_cancel(struct arc_verify *v)
{
	if (!v)
		return;
	for (int i = 0; v->sets && i < v->n; i++) {
		if (v->sets[i].ams.waiting)
			dns_cancel(v->resolver, v->sets[i].ams.q);
		if (v->sets[i].as.waiting)
			dns_cancel(v->resolver, v->sets[i].as.q);
	}
	free_verify(v);
}
