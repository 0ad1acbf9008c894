/*
 * auth.c: sender authentication of one SMTP transaction: SPF from MAIL
 * (RFC 7208), DKIM (RFC 6376) and ARC (RFC 8617) at the end of data, then
 * DMARC (RFC 9989 / RFC 7489) over their results; and the removal of
 * Authentication-Results fields that claim our authserv-id (RFC 8601
 * section 5).
 *
 * A transaction is a small state machine (enum tx_state): SPF runs from
 * MAIL; at the end of data DKIM and ARC start side by side; when SPF,
 * DKIM and ARC have all answered DMARC starts; when it answers the
 * outcome is built and handed over once. Callbacks may come inside the
 * *_start() calls (cache hits), so every entry point is counted (depth)
 * and a transaction freed from inside a callback is only marked, and
 * released when the outermost entry returns.
 *
 * DKIM and ARC each run in two halves (dkim.h, arc.h): the CPU work
 * (parsing, body and header hashes) and then the key queries and
 * verdicts. For a message of [auth] dkim_offload_threshold octets or more
 * the first half of both runs as one job on the verification threads (a
 * work_pool of this file's own), the key queries back on the worker's
 * loop, and the public-key operations (deferred by the verdicts) as a
 * second job once every key is in. A full pool ([auth] dkim_max_verifies)
 * fails closed: what the refused job would have done is not done, and
 * every signature or chain that needed it is temperror, never a pass.
 *
 * Must never: block (but for auth_tx_free() waiting for a running job,
 * which borrows the message or the verifications), run DNS work for a
 * check whose policy is off (and that DMARC does not need), call a
 * callback after auth_tx_free(), or keep a pointer into a callback's
 * result.
 */
#include <arpa/inet.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth_int.h"
#include "log.h"
#include "metrics.h"
#include "safe_file.h"
#include "work_pool.h"

/* The DKIM/ARC verification threads, whole process. */
static struct work_pool verify_pool = WORK_POOL_INIT("dkim_verify_threads", LS_AUTH);

/*
 * The first half of one message's DKIM and ARC on a verification thread.
 * Owned by its transaction (tx->prep); it borrows the message, which the
 * caller keeps until done ran or auth_tx_free() returned (auth.h).
 */
struct auth_prep {
	struct work_job pj; /* first: the pool's handle */
	const char *msg;
	size_t len;
	bool dkim, arc; /* which halves to prepare */
	struct dkim_options dopt;
	struct arc_options aopt;
	struct dkim_verify *dkim_v; /* what run prepared (NULL: out of memory) */
	struct arc_verify *arc_v;
};

/*
 * The public-key operations of one message's DKIM and ARC (deferred by
 * *_verify_defer_crypto()) on a verification thread, once every key is in.
 * Owned by its transaction (tx->crypto); the verifications it works on
 * are the transaction's (tx->dkim_q, tx->arc_q), untouched by the loop
 * until it is done or cancelled.
 */
struct auth_crypto {
	struct work_job pj; /* first: the pool's handle */
	struct dkim_verify *dkim_v;
	struct arc_verify *arc_v;
};

enum tx_state {
	TX_SPF,      /* after MAIL: SPF may be running */
	TX_CHECKING, /* end of data: waiting for SPF, DKIM, ARC */
	TX_DMARC,    /* waiting for DMARC */
	TX_DONE,     /* the outcome was handed over */
	TX_STATE_MAX
};

static const char *const tx_state_names[TX_STATE_MAX] = {"spf", "checking", "dmarc", "done"};

struct auth_tx {
	struct auth_ctx *ctx;
	enum tx_state state;
	struct auth_policy pol; /* the route's, from auth_tx_message() */
	struct sockaddr_storage ip;
	char mail_from[512];
	struct spf_check *spf_q;
	struct dkim_verify *dkim_q;
	struct arc_verify *arc_q;
	struct dmarc_eval *dmarc_q;
	struct auth_prep *prep;     /* DKIM/ARC hashing on the verification threads */
	struct auth_crypto *crypto; /* then their public-key operations there */
	bool dkim_keys, arc_keys;   /* keys in, operations deferred: waiting for crypto */
	bool spf_running, dkim_running, arc_running, dmarc_running;
	auth_spf_cb spf_cb;
	void *spf_arg;
	auth_done_cb done;
	void *done_arg;
	char authors[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
	size_t n_authors;
	const char *from_error; /* static: the From field could not be read */
	struct auth_facts f;
	int depth;     /* entry points on the stack */
	bool dead;     /* auth_tx_free() came while depth > 0 */
	bool starting; /* inside auth_tx_message(): do not conclude yet */
};

static void tx_set_state(struct auth_tx *tx, enum tx_state s)
{
	(void)tx_state_names; /* kept for traces */
	tx->state = s;
}

void auth_policy_global(struct auth_policy *p, const struct gw_auth *a)
{
	p->spf = a->spf;
	p->dkim = a->dkim;
	p->dmarc = a->dmarc;
	p->arc = a->arc;
	p->trust_arc = a->trust_arc;
	p->dmarc_discovery = a->dmarc_discovery;
	p->partial_body_aligns = a->dkim_partial_body_aligns;
	p->arc_sealers = a->trusted_arc_sealers;
	p->n_arc_sealers = a->n_trusted_arc_sealers;
}

void auth_policy_route(struct auth_policy *p, const struct gw_auth *a,
                       const struct gw_route_opts *r)
{
	auth_policy_global(p, a);
	p->spf = r->spf;
	p->dkim = r->dkim;
	p->dmarc = r->dmarc;
}

/* Read by safe_file_read() (a FIFO must not hang start or reload), parsed from memory. */
static psl_ctx_t *auth_psl_load(const char *file)
{
	char err[512];
	size_t len;
	char *buf = safe_file_read(file, SAFE_FILE_PSL_MAX, 0, &len, err, sizeof(err));
	psl_ctx_t *psl = NULL;
	if (!buf) {
		log_msg(GW_LOG_ERROR, LS_AUTH, 0, NULL, "%s", err);
		return NULL;
	}
	FILE *f = len ? fmemopen(buf, len, "r") : NULL;
	if (f) {
		psl = psl_load_fp(f);
		fclose(f);
	}
	free(buf);
	return psl;
}

int auth_ctx_init(struct auth_ctx *ctx, const struct dns_resolver *dns, const struct gw_config *cfg)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->dns = dns;
	ctx->hostname =
	    cfg->server.hostname && cfg->server.hostname[0] ? cfg->server.hostname : "localhost";
	auth_policy_global(&ctx->policy, &cfg->auth);
	ctx->any_spf = cfg->auth.spf != POLICY_OFF || cfg->auth.dmarc != POLICY_OFF;
	for (size_t i = 0; i < cfg->n_routes; i++)
		ctx->any_spf |= cfg->routes[i].opts.spf != POLICY_OFF ||
		                cfg->routes[i].opts.dmarc != POLICY_OFF;
	const char *file = cfg->auth.dmarc_psl_file;
	if (file && file[0]) {
		ctx->psl = auth_psl_load(file);
		if (!ctx->psl) {
			log_msg(GW_LOG_ERROR, LS_AUTH, 0, NULL,
			        "cannot load the Public Suffix List %s", file);
			return -1;
		}
		ctx->psl_owned = true;
	}
	ctx->auth_cfg = &cfg->auth;
	/* Parsed DKIM/ARC public keys, per context (the DNS answers are cached by the resolver). */
	ctx->keys = dkim_key_cache_new(dkim_key_cache_size(&cfg->auth));
	return 0;
}

void auth_ctx_fini(struct auth_ctx *ctx)
{
	if (ctx->psl_owned)
		psl_free(ctx->psl);
	dkim_key_cache_free(ctx->keys);
	memset(ctx, 0, sizeof(*ctx));
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void tx_destroy(struct auth_tx *tx)
{
	free(tx->f.dkim);
	free(tx->f.dkim_aligned);
	free(tx);
}

static void tx_enter(struct auth_tx *tx)
{
	tx->depth++;
}

/* Returns true when tx was released (the caller must not touch it). */
static bool tx_leave(struct auth_tx *tx)
{
	if (--tx->depth == 0 && tx->dead) {
		tx_destroy(tx);
		return true;
	}
	return false;
}

static void maybe_continue(struct auth_tx *tx);

static void on_spf(void *arg, const struct spf_outcome *o)
{
	struct auth_tx *tx = arg;
	tx_enter(tx);
	tx->spf_q = NULL;
	tx->spf_running = false;
	tx->f.spf_done = true;
	tx->f.spf = o->result;
	tx->f.spf_identity = o->identity;
	copy_str(tx->f.spf_domain, sizeof(tx->f.spf_domain), o->domain);
	copy_str(tx->f.spf_sender, sizeof(tx->f.spf_sender), o->sender);
	copy_str(tx->f.spf_explanation, sizeof(tx->f.spf_explanation), o->explanation);
	copy_str(tx->f.spf_reason, sizeof(tx->f.spf_reason), o->reason);
	if (tx->spf_cb && !tx->dead) {
		struct auth_spf_info info = {
		    .result = o->result, .domain = tx->f.spf_domain, .explanation = o->explanation};
		auth_spf_verdict(&tx->ctx->policy, o->result, &info.verdict);
		tx->spf_cb(tx->spf_arg, &info);
	}
	if (!tx->dead && tx->state == TX_CHECKING)
		maybe_continue(tx);
	tx_leave(tx);
}

struct auth_tx *auth_tx_start(struct auth_ctx *ctx, const struct sockaddr *ip, const char *helo,
                              const char *mail_from, auth_spf_cb on_spf_result, void *arg)
{
	struct auth_tx *tx = calloc(1, sizeof(*tx));
	if (!tx)
		return NULL;
	tx->ctx = ctx;
	tx->spf_cb = on_spf_result;
	tx->spf_arg = arg;
	tx->pol = ctx->policy;
	tx_set_state(tx, TX_SPF);
	copy_str(tx->f.helo, sizeof(tx->f.helo), helo);
	copy_str(tx->mail_from, sizeof(tx->mail_from), mail_from);
	if (ip)
		memcpy(&tx->ip, ip,
		       ip->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                 : sizeof(struct sockaddr_in));
	if (!ctx->any_spf || !ip)
		return tx;
	tx_enter(tx);
	tx->spf_running = true;
	struct spf_check *q = spf_check_start(ctx->dns, (const struct sockaddr *)&tx->ip,
	                                      tx->f.helo, tx->mail_from, ctx->hostname, on_spf, tx);
	if (tx->spf_running)
		tx->spf_q = q;
	if (tx_leave(tx))
		return NULL; /* freed from inside the SPF callback */
	return tx;
}

static void on_dkim(void *arg, const struct dkim_result *res)
{
	struct auth_tx *tx = arg;
	tx_enter(tx);
	tx->dkim_q = NULL;
	tx->dkim_running = false;
	size_t n = res->error ? 0 : res->n;
	if (n) {
		tx->f.dkim = calloc(n, sizeof(*tx->f.dkim));
		tx->f.dkim_aligned = calloc(n, sizeof(bool));
		if (tx->f.dkim && tx->f.dkim_aligned) {
			memcpy(tx->f.dkim, res->sigs, n * sizeof(*tx->f.dkim));
			tx->f.n_dkim = n;
		}
	}
	if (!tx->dead)
		maybe_continue(tx);
	tx_leave(tx);
}

static void on_arc(void *arg, const struct arc_result *res)
{
	struct auth_tx *tx = arg;
	tx_enter(tx);
	tx->arc_q = NULL;
	tx->arc_running = false;
	tx->f.arc = res->error ? ARC_FAIL : res->cv;
	tx->f.arc_temporary = res->error != 0 || res->temporary;
	tx->f.arc_instance = res->n;
	if (!res->error && res->sets && res->n > 0)
		copy_str(tx->f.arc_sealer, sizeof(tx->f.arc_sealer),
		         res->sets[res->n - 1].as_domain);
	copy_str(tx->f.arc_reason, sizeof(tx->f.arc_reason),
	         res->error ? "out of memory" : res->reason);
	if (!tx->dead)
		maybe_continue(tx);
	tx_leave(tx);
}

/*
 * A DKIM result DMARC may use: a pass that is neither a test key nor SHA-1
 * (RFC 8301), and that signs the whole body unless the operator allows l=
 * (RFC 6376 section 8.2: anyone may append to a body signed with l=).
 */
static bool dkim_usable(const struct auth_tx *tx, const struct dkim_sig_result *s)
{
	return s->status == DKIM_PASS && !s->testing && !s->weak &&
	       (s->body_unsigned == 0 || tx->pol.partial_body_aligns);
}

/*
 * smtp_gateway_auth_results_total: one result per check shown for the
 * message; DKIM's is "pass" when any signature passed, else the first
 * signature's, "none" without one.
 */
static void count_results(const struct auth_facts *f)
{
	if (f->spf_shown)
		metrics_add(M_AUTH_RESULTS, "spf", f->spf_done ? spf_result_name(f->spf) : "none",
		            1);
	if (f->dkim_shown) {
		const char *r = f->n_dkim ? dkim_status_name(f->dkim[0].status) : "none";
		for (size_t i = 0; i < f->n_dkim; i++)
			if (f->dkim[i].status == DKIM_PASS)
				r = "pass";
		metrics_add(M_AUTH_RESULTS, "dkim", r, 1);
	}
	if (f->arc_shown)
		metrics_add(M_AUTH_RESULTS, "arc", arc_status_name(f->arc), 1);
	if (f->dmarc_shown)
		metrics_add(M_AUTH_RESULTS, "dmarc", dmarc_result_name(f->dmarc.result), 1);
}

static void finish(struct auth_tx *tx)
{
	char value[AUTH_AR_MAX], field[AUTH_AR_MAX + 256];
	struct auth_outcome out = {.ar_value = value, .ar_field = field};
	tx_set_state(tx, TX_DONE);
	count_results(&tx->f);
	auth_results_value(&tx->f, tx->ctx->hostname, value, sizeof(value));
	auth_results_field(value, field, sizeof(field));
	auth_results_verdict(&tx->f, &tx->pol, &out.verdict);
	out.auth = auth_results_json(&tx->f, value);
	tx->done(tx->done_arg, &out);
	json_decref(out.auth);
}

/*
 * trust_arc believes a chain only when its newest seal, the hop that
 * handed the message to us, is by a listed domain: a chain an attacker
 * sealed himself validates just as well. No list: nobody is trusted.
 */
static bool sealer_trusted(const struct auth_policy *p, const char *sealer)
{
	char d[DMARC_DOMAIN_MAX], t[DMARC_DOMAIN_MAX];
	if (!sealer[0] || dmarc_domain_normalize(sealer, strlen(sealer), d) < 0)
		return false;
	for (size_t i = 0; i < p->n_arc_sealers; i++)
		if (dmarc_domain_normalize(p->arc_sealers[i], strlen(p->arc_sealers[i]), t) == 0 &&
		    strcmp(d, t) == 0)
			return true;
	return false;
}

static void on_dmarc(void *arg, const struct dmarc_outcome *o)
{
	struct auth_tx *tx = arg;
	tx_enter(tx);
	tx->dmarc_q = NULL;
	tx->dmarc_running = false;
	tx->f.dmarc = *o;
	if (o->result == DMARC_RESULT_FAIL && tx->pol.trust_arc && tx->f.arc_shown &&
	    tx->f.arc == ARC_PASS && sealer_trusted(&tx->pol, tx->f.arc_sealer))
		tx->f.arc_override = true; /* RFC 8617 section 7.2: a local policy choice */
	if (!tx->dead)
		maybe_continue(tx);
	tx_leave(tx);
}

static void start_dmarc(struct auth_tx *tx)
{
	const char *authors[DMARC_MAX_AUTHORS], *dkim[DMARC_MAX_DKIM];
	size_t nd = 0;
	for (size_t i = 0; i < DMARC_MAX_AUTHORS; i++)
		authors[i] = tx->authors[i];
	for (size_t i = 0; i < tx->f.n_dkim && nd < DMARC_MAX_DKIM; i++)
		if (dkim_usable(tx, &tx->f.dkim[i]))
			dkim[nd++] = tx->f.dkim[i].domain;
	struct dmarc_input in = {
	    .authors = authors,
	    .n_authors = tx->n_authors,
	    .spf_domain = tx->f.spf_domain,
	    .spf_pass = tx->f.spf_done && tx->f.spf == SPF_PASS,
	    .dkim_domains = dkim,
	    .n_dkim = nd,
	    .from_error = tx->from_error,
	};
	struct dmarc_options opt = {.discovery = tx->pol.dmarc_discovery, .psl = tx->ctx->psl};
	tx_set_state(tx, TX_DMARC);
	tx->dmarc_running = true;
	struct dmarc_eval *ev = dmarc_start(tx->ctx->dns, &opt, &in, on_dmarc, tx);
	if (tx->dead)
		return;
	if (tx->dmarc_running && !ev) { /* out of memory: say so rather than guess */
		struct dmarc_outcome o = {.result = DMARC_RESULT_TEMPERROR,
		                          .reason = "out of memory",
		                          .dkim_aligned_index = -1};
		on_dmarc(tx, &o);
		return;
	}
	if (tx->dmarc_running)
		tx->dmarc_q = ev;
}

/* Marks which DKIM signatures aligned, from DMARC's mask over the usable ones. */
static void mark_aligned(struct auth_tx *tx)
{
	size_t k = 0;
	for (size_t i = 0; i < tx->f.n_dkim && k < DMARC_MAX_DKIM; i++) {
		if (!dkim_usable(tx, &tx->f.dkim[i]))
			continue;
		tx->f.dkim_aligned[i] = (tx->f.dmarc.dkim_aligned_mask >> k) & 1u;
		k++;
	}
}

static void maybe_continue(struct auth_tx *tx)
{
	if (tx->starting)
		return; /* auth_tx_message() is still starting the checks */
	if (tx->state == TX_CHECKING) {
		if (tx->spf_running || tx->dkim_running || tx->arc_running)
			return;
		if (tx->f.dmarc_shown) {
			start_dmarc(tx);
			return;
		}
		finish(tx);
		return;
	}
	if (tx->state == TX_DMARC && !tx->dmarc_running) {
		mark_aligned(tx);
		finish(tx);
	}
}

/*
 * DKIM and ARC on the loop, now. Both hash the message first (msg is not
 * needed once they return); they share the body hashes, and [auth]
 * dkim_max_body_hashes bounds the passes over the body for the whole
 * message (NULL when out of memory: each then keeps its own, under the
 * same bound). busy: the verification threads were full; hash nothing.
 */
static void start_inline(struct auth_tx *tx, const char *msg, size_t len, bool busy)
{
	struct dkim_options dopt;
	dkim_options_from_config(&dopt, tx->ctx->auth_cfg);
	struct dkim_bh_cache *bodies = dkim_bh_cache_new(dopt.max_body_hashes);
	if (tx->f.dkim_shown) {
		struct dkim_options o = dopt;
		o.cache = tx->ctx->keys;
		o.body_cache = bodies;
		o.busy = busy;
		tx->dkim_running = true;
		struct dkim_verify *q = dkim_verify_start(tx->ctx->dns, msg, len, &o, on_dkim, tx);
		if (tx->dkim_running)
			tx->dkim_q = q;
	}
	if (tx->f.arc_shown && !tx->dead) {
		struct arc_options o;
		arc_options_from_config(&o, tx->ctx->auth_cfg);
		o.cache = tx->ctx->keys;
		o.body_cache = bodies;
		o.busy = busy;
		tx->arc_running = true;
		struct arc_verify *q = arc_verify_start(tx->ctx->dns, msg, len, &o, on_arc, tx);
		if (tx->arc_running)
			tx->arc_q = q;
	}
	dkim_bh_cache_free(bodies);
}

/* On a verification thread: the first halves, pure (no DNS, no loop, no key cache). */
static void prep_run(struct work_job *pj)
{
	struct auth_prep *p = (struct auth_prep *)pj;
	struct dkim_bh_cache *bodies = dkim_bh_cache_new(p->dopt.max_body_hashes);

	p->dopt.body_cache = p->aopt.body_cache = bodies;
	if (p->dkim)
		p->dkim_v = dkim_verify_prepare(p->msg, p->len, &p->dopt);
	if (p->arc)
		p->arc_v = arc_verify_prepare(p->msg, p->len, &p->aopt);
	dkim_bh_cache_free(bodies);
}

/* Stops p's job (dequeued, or waited for), then frees it and what it prepared. */
static void prep_free(struct auth_prep *p)
{
	work_pool_cancel(&verify_pool, &p->pj);
	event_free(p->pj.done);
	dkim_verify_cancel(p->dkim_v);
	arc_verify_cancel(p->arc_v);
	free(p);
}

/* Stops c's job (dequeued, or waited for) and frees it; the verifications stay the tx's. */
static void crypto_free(struct auth_crypto *c)
{
	work_pool_cancel(&verify_pool, &c->pj);
	event_free(c->pj.done);
	free(c);
}

/* On a verification thread: the deferred public-key operations, pure. */
static void crypto_run(struct work_job *pj)
{
	struct auth_crypto *c = (struct auth_crypto *)pj;

	if (c->dkim_v)
		dkim_verify_crypto(c->dkim_v);
	if (c->arc_v)
		arc_verify_crypto(c->arc_v);
}

/*
 * The verdicts of dv and av (the tx's), their operations done or (threads
 * full) never run, which leaves those signatures temperror.
 */
static void crypto_finish(struct auth_tx *tx, struct dkim_verify *dv, struct arc_verify *av)
{
	bool was_starting = tx->starting;
	tx_enter(tx);
	tx->starting = true;
	tx->dkim_keys = tx->arc_keys = false;
	if (dv && tx->dkim_q == dv)
		dkim_verify_finish(dv); /* on_dkim */
	if (av && tx->arc_q == av && !tx->dead)
		arc_verify_finish(av); /* on_arc */
	tx->starting = was_starting;
	if (!was_starting && !tx->dead)
		maybe_continue(tx);
	tx_leave(tx);
}

static void on_crypto(evutil_socket_t fd, short what, void *arg)
{
	struct auth_tx *tx = arg;
	struct auth_crypto *c = tx->crypto;
	(void)fd;
	(void)what;
	tx->crypto = NULL;
	struct dkim_verify *dv = c->dkim_v;
	struct arc_verify *av = c->arc_v;
	crypto_free(c); /* done: the cancel returns at once */
	log_msg(GW_LOG_DEBUG, LS_AUTH, 0, NULL, "dkim/arc signatures checked off the loop");
	crypto_finish(tx, dv, av);
}

/*
 * Once neither check waits for keys, one job runs the operations of both;
 * threads full: none runs and those signatures stay temperror.
 */
static void maybe_crypto(struct auth_tx *tx)
{
	const struct gw_auth *a = tx->ctx->auth_cfg;
	if (tx->crypto || (tx->dkim_running && !tx->dkim_keys) ||
	    (tx->arc_running && !tx->arc_keys) || (!tx->dkim_keys && !tx->arc_keys))
		return;
	struct dkim_verify *dv = tx->dkim_keys ? tx->dkim_q : NULL;
	struct arc_verify *av = tx->arc_keys ? tx->arc_q : NULL;
	struct auth_crypto *c = calloc(1, sizeof(*c));
	if (c) {
		c->dkim_v = dv;
		c->arc_v = av;
		c->pj.run = crypto_run;
		c->pj.done = event_new(tx->ctx->base, -1, 0, on_crypto, tx);
	}
	if (c && c->pj.done &&
	    work_pool_submit(&verify_pool, &c->pj, a->dkim_verify_threads, a->dkim_max_verifies) ==
	        0) {
		tx->crypto = c;
		return;
	}
	if (c && c->pj.done)
		event_free(c->pj.done);
	free(c);
	log_msg(GW_LOG_WARN, LS_AUTH, 0, NULL,
	        "limit dkim_max_verifies=%u reached: DKIM and ARC signatures not checked "
	        "(temperror)",
	        a->dkim_max_verifies);
	crypto_finish(tx, dv, av);
}

static void on_dkim_keys(void *arg)
{
	struct auth_tx *tx = arg;
	tx->dkim_keys = true;
	if (!tx->starting)
		maybe_crypto(tx);
}

static void on_arc_keys(void *arg)
{
	struct auth_tx *tx = arg;
	tx->arc_keys = true;
	if (!tx->starting)
		maybe_crypto(tx);
}

/* Back on the loop: the hashes are in; the second halves ask the keys. */
static void on_prepared(evutil_socket_t fd, short what, void *arg)
{
	struct auth_tx *tx = arg;
	struct auth_prep *p = tx->prep;
	(void)fd;
	(void)what;
	tx->prep = NULL;
	log_msg(GW_LOG_DEBUG, LS_AUTH, 0, NULL, "dkim/arc hashed off the loop octets=%zu", p->len);
	struct dkim_verify *dv = p->dkim_v;
	struct arc_verify *av = p->arc_v;
	p->dkim_v = NULL;
	p->arc_v = NULL;
	bool dkim = p->dkim, arc = p->arc;
	prep_free(p); /* done: the cancel returns at once */
	tx_enter(tx);
	tx->starting = true;
	dkim_verify_defer_crypto(dv, on_dkim_keys);
	arc_verify_defer_crypto(av, on_arc_keys);
	if (dkim) {
		struct dkim_verify *q =
		    dkim_verify_resume(dv, tx->ctx->dns, tx->ctx->keys, on_dkim, tx);
		if (tx->dkim_running)
			tx->dkim_q = q;
	}
	if (arc && tx->dead) {
		arc_verify_cancel(av);
	} else if (arc) {
		struct arc_verify *q =
		    arc_verify_resume(av, tx->ctx->dns, tx->ctx->keys, on_arc, tx);
		if (tx->arc_running)
			tx->arc_q = q;
	}
	if (!tx->dead)
		maybe_crypto(tx);
	tx->starting = false;
	if (!tx->dead)
		maybe_continue(tx);
	tx_leave(tx);
}

/* A message large enough to be hashed off the loop, on a loop that can get it back. */
static bool offload_wanted(const struct auth_tx *tx, size_t len)
{
	const struct gw_auth *a = tx->ctx->auth_cfg;
	return tx->ctx->base && a && a->dkim_offload_threshold && len >= a->dkim_offload_threshold;
}

/* The first halves on the verification threads: 0, -1 when they are full, -2 out of memory. */
static int start_offloaded(struct auth_tx *tx, const char *msg, size_t len)
{
	const struct gw_auth *a = tx->ctx->auth_cfg;
	struct auth_prep *p = calloc(1, sizeof(*p));
	if (!p)
		return -2;
	p->msg = msg;
	p->len = len;
	p->dkim = tx->f.dkim_shown;
	p->arc = tx->f.arc_shown;
	dkim_options_from_config(&p->dopt, a);
	arc_options_from_config(&p->aopt, a);
	p->pj.run = prep_run;
	p->pj.done = event_new(tx->ctx->base, -1, 0, on_prepared, tx);
	if (!p->pj.done) {
		free(p);
		return -2;
	}
	if (work_pool_submit(&verify_pool, &p->pj, a->dkim_verify_threads, a->dkim_max_verifies) <
	    0) {
		event_free(p->pj.done);
		free(p);
		return -1;
	}
	tx->prep = p;
	tx->dkim_running = p->dkim;
	tx->arc_running = p->arc;
	return 0;
}

static void start_checks(struct auth_tx *tx, const char *msg, size_t len)
{
	if (!tx->f.dkim_shown && !tx->f.arc_shown)
		return;
	if (!offload_wanted(tx, len)) {
		start_inline(tx, msg, len, false);
		return;
	}
	int rc = start_offloaded(tx, msg, len);
	if (rc == 0)
		return;
	if (rc == -1) /* fail closed: temperror, never a pass; the threads stay bounded */
		log_msg(
		    GW_LOG_WARN, LS_AUTH, 0, NULL,
		    "limit dkim_max_verifies=%u reached: DKIM and ARC not evaluated (temperror)",
		    tx->ctx->auth_cfg->dkim_max_verifies);
	start_inline(tx, msg, len, rc == -1); /* out of memory: on the loop, as before */
}

void auth_tx_message(struct auth_tx *tx, const char *msg, size_t len, const struct auth_policy *pol,
                     auth_done_cb done, void *arg)
{
	tx_enter(tx);
	tx->pol = *pol;
	tx->done = done;
	tx->done_arg = arg;
	bool dmarc = pol->dmarc != POLICY_OFF;
	tx->f.spf_shown = pol->spf != POLICY_OFF || dmarc;
	tx->f.dkim_shown = pol->dkim != POLICY_OFF || dmarc;
	tx->f.arc_shown = pol->arc != POLICY_OFF || (dmarc && pol->trust_arc);
	tx->f.dmarc_shown = dmarc;
	if (dmarc) {
		struct dmarc_from_info fi;
		int n = dmarc_from_domains(msg, len, tx->authors, DMARC_MAX_AUTHORS, &fi);
		tx->n_authors = n > 0 ? (size_t)n : 0;
		tx->from_error = n == DMARC_FROM_ERROR ? fi.error : NULL;
	}
	tx_set_state(tx, TX_CHECKING);
	tx->starting = true;
	start_checks(tx, msg, len);
	tx->starting = false;
	if (!tx->dead)
		maybe_continue(tx);
	tx_leave(tx);
}

void auth_tx_free(struct auth_tx *tx)
{
	if (!tx)
		return;
	if (tx->crypto)
		crypto_free(tx->crypto); /* waits for a running job: it works on dkim_q, arc_q */
	tx->crypto = NULL;
	if (tx->spf_q)
		spf_check_cancel(tx->spf_q);
	if (tx->dkim_q)
		dkim_verify_cancel(tx->dkim_q);
	if (tx->arc_q)
		arc_verify_cancel(tx->arc_q);
	if (tx->dmarc_q)
		dmarc_cancel(tx->dmarc_q);
	if (tx->prep)
		prep_free(tx->prep); /* waits for a running hash job: it borrows the message */
	tx->prep = NULL;
	tx->spf_q = NULL;
	tx->dkim_q = NULL;
	tx->arc_q = NULL;
	tx->dmarc_q = NULL;
	if (tx->depth > 0)
		tx->dead = true;
	else
		tx_destroy(tx);
}
