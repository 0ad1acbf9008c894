/*
 * dmarc.c: DMARC evaluation of one message (RFC 9989: alignment, policy
 * discovery and the DNS tree walk of section 4.10; or RFC 7489 sections
 * 3.1, 3.2 and 6.6 when the PSL mode is chosen).
 *
 * The evaluation is a pure function of the DNS answers gathered so far:
 * step() recomputes policy discovery, Organizational Domains, alignment and
 * the policy from a small memo of answers, and either finishes or names
 * the one query it is missing. run() asks that query and, when the answer
 * arrives (perhaps at once, from a cache), steps again. One query is in
 * flight at a time, so the queries made are exactly those the RFC's
 * procedure makes, in its order; the memo makes every name asked once.
 *
 * Bounds: at most DMARC_MAX_AUTHORS author domains, DMARC_MAX_DKIM
 * identifiers, DMARC_WALK_MAX queries per tree walk, MEMO_MAX answers.
 *
 * Must never: block, touch a socket or the event loop, keep a pointer to
 * a DNS result past its callback, or call the user callback twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

#define QNAME_MAX (DMARC_DOMAIN_MAX + 8)
/* authors x (walk + existence) + identifiers x walk, with room to spare */
#define MEMO_MAX 192

struct memo {
	char name[QNAME_MAX];
	enum dns_type type;
	bool done;
	enum dns_status status;
	int n_dmarc; /* TXT: v=DMARC1 records at this name, 2 meaning "several" */
	enum dmarc_parse parse;
	struct dmarc_record rec;
	char rr[DMARC_RR_MAX];
};

enum step { STEP_DONE, STEP_NEED, STEP_TEMP };

/* One DNS tree walk (RFC 9989 section 4.10): the names that had exactly one record. */
struct walk {
	size_t n;
	struct {
		const char *name; /* a suffix of the walked domain */
		const struct memo *m;
	} e[DMARC_WALK_MAX];
	bool first_multi; /* the starting name published several records */
};

struct dmarc_eval {
	const struct dns_resolver *dns;
	struct dmarc_options opt;
	char authors[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
	size_t n_authors, n_authors_total;
	const char *from_error; /* the From field could not be read: permerror */
	char spf[DMARC_DOMAIN_MAX];
	bool spf_pass;
	char dkim[DMARC_MAX_DKIM][DMARC_DOMAIN_MAX];
	size_t dkim_idx[DMARC_MAX_DKIM]; /* the input index of each, for the outcome */
	size_t n_dkim;
	struct memo *memo;
	size_t n_memo, cap_memo;
	char want[QNAME_MAX]; /* the query step() is missing */
	enum dns_type want_type;
	bool wanted;
	struct dns_query *pending; /* in flight: memo[pending_idx] */
	size_t pending_idx;
	bool in_run, again;
	dmarc_cb cb;
	void *arg;
	struct dmarc_outcome out[DMARC_MAX_AUTHORS];
};

const char *dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[DMARC_RESULT_MAX] = {"none", "pass", "fail", "temperror",
	                                                    "permerror"};
	return (unsigned)r < DMARC_RESULT_MAX ? names[r] : "permerror";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	static const char *const names[DMARC_POLICY_MAX] = {NULL, "none", "quarantine", "reject"};
	return (unsigned)p < DMARC_POLICY_MAX ? names[p] : NULL;
}

static size_t count_labels(const char *d)
{
	size_t n = 1;
	for (; *d; d++)
		n += *d == '.';
	return n;
}

/* The suffix of d made of its last k labels (k >= 1). */
static const char *suffix_labels(const char *d, size_t k)
{
	size_t skip = count_labels(d) - k;
	while (skip > 0 && *d) {
		if (*d++ == '.')
			skip--;
	}
	return d;
}

static const char *last_label(const char *d)
{
	const char *dot = strrchr(d, '.');
	return dot ? dot + 1 : d;
}

/* The answer to (name, type) if we have it; else notes it as wanted and returns NULL. */
static const struct memo *need(struct dmarc_eval *ev, const char *prefix, const char *domain,
                               enum dns_type type)
{
	static const struct memo unaskable = {.done = true, .status = DNS_PERMFAIL};
	char name[QNAME_MAX];
	size_t pl = strlen(prefix), dl = strlen(domain);
	if (pl + dl >= sizeof(name))
		return &unaskable; /* cannot exist in the DNS: no record there */
	memcpy(name, prefix, pl);
	memcpy(name + pl, domain, dl + 1);
	for (size_t i = 0; i < ev->n_memo; i++)
		if (ev->memo[i].type == type && strcmp(ev->memo[i].name, name) == 0)
			return ev->memo[i].done ? &ev->memo[i] : NULL;
	if (!ev->wanted) {
		memcpy(ev->want, name, strlen(name) + 1);
		ev->want_type = type;
		ev->wanted = true;
	}
	return NULL;
}

static bool is_temp(const struct memo *m)
{
	return m->status == DNS_TEMPFAIL;
}

/*
 * RFC 9989 section 4.10: the first name, then (when it has 8 labels or
 * more) its last 7 labels, then one label less each time down to the TLD.
 * Stops at psd=n on the first name, at psd=y or psd=n on a later one.
 */
static enum step walk(struct dmarc_eval *ev, const char *domain, bool stop_at_multi, struct walk *w)
{
	size_t x = count_labels(domain), k = x;
	memset(w, 0, sizeof(*w));
	for (size_t q = 0; q < DMARC_WALK_MAX && k >= 1; q++) {
		const char *target = suffix_labels(domain, k);
		const struct memo *m = need(ev, "_dmarc.", target, DNS_T_TXT);
		if (!m)
			return STEP_NEED;
		if (is_temp(m))
			return STEP_TEMP;
		if (m->n_dmarc > 1 && q == 0) {
			w->first_multi = true;
			if (stop_at_multi)
				return STEP_DONE;
		}
		if (m->n_dmarc == 1) {
			w->e[w->n].name = target;
			w->e[w->n++].m = m;
			if (m->rec.psd == DMARC_PSD_N || (q > 0 && m->rec.psd == DMARC_PSD_Y))
				return STEP_DONE;
		}
		k = (q == 0 && x >= DMARC_WALK_MAX) ? DMARC_WALK_MAX - 1 : k - 1;
	}
	return STEP_DONE;
}

/* RFC 9989 section 4.10.2 over a finished walk of domain. */
static const char *walk_org(const struct walk *w, const char *domain)
{
	for (size_t i = 0; i < w->n; i++) {
		if (w->e[i].m->rec.psd == DMARC_PSD_N)
			return w->e[i].name;
		if (w->e[i].m->rec.psd == DMARC_PSD_Y && w->e[i].name != domain)
			return suffix_labels(domain, count_labels(w->e[i].name) + 1);
	}
	/* The record with the fewest labels; no record at all: the name itself. */
	return w->n ? w->e[w->n - 1].name : domain;
}

/* The Organizational Domain of domain, copied to out. */
static enum step org_domain(struct dmarc_eval *ev, const char *domain, char *out)
{
	if (ev->opt.discovery == DMARC_PSL) {
		if (dmarc_psl_org_domain(ev->opt.psl, domain, out) < 0)
			memcpy(out, domain, strlen(domain) + 1);
		return STEP_DONE;
	}
	struct walk w;
	enum step s = walk(ev, domain, false, &w);
	if (s != STEP_DONE)
		return s;
	const char *org = walk_org(&w, domain);
	memmove(out, org, strlen(org) + 1);
	return STEP_DONE;
}

/*
 * Identifier alignment (RFC 7489 section 3.1, kept by RFC 9989): is id aligned with
 * author? at gets where they met: the author domain when identical, else
 * their common Organizational Domain.
 */
static enum step aligned(struct dmarc_eval *ev, const char *id, const char *author, bool strict,
                         char *at)
{
	char a[DMARC_DOMAIN_MAX], b[DMARC_DOMAIN_MAX];
	at[0] = '\0';
	if (strcmp(id, author) == 0) {
		memcpy(at, author, strlen(author) + 1);
		return STEP_DONE;
	}
	if (strict || strcmp(last_label(id), last_label(author)) != 0)
		return STEP_DONE; /* no common suffix: no common Organizational Domain */
	enum step s = org_domain(ev, author, a);
	if (s != STEP_DONE)
		return s;
	s = org_domain(ev, id, b);
	if (s != STEP_DONE)
		return s;
	if (strcmp(a, b) == 0)
		memcpy(at, a, strlen(a) + 1);
	return STEP_DONE;
}

/* Policy discovery (RFC 9989 section 4.10.1, RFC 7489 section 6.6.3). */
static enum step discover(struct dmarc_eval *ev, const char *author, const struct memo **rec,
                          const char **where, struct dmarc_outcome *o)
{
	*rec = NULL;
	if (ev->opt.discovery == DMARC_TREE_WALK) {
		struct walk w;
		enum step s = walk(ev, author, true, &w);
		if (s != STEP_DONE)
			return s;
		if (w.first_multi) {
			o->reason = "several DMARC records at the author domain";
		} else if (w.n) {
			*rec = w.e[0].m;
			*where = w.e[0].name;
		}
		return STEP_DONE;
	}
	const struct memo *m = need(ev, "_dmarc.", author, DNS_T_TXT);
	if (!m)
		return STEP_NEED;
	if (is_temp(m))
		return STEP_TEMP;
	*where = author;
	if (m->n_dmarc == 0) {
		if (dmarc_psl_org_domain(ev->opt.psl, author, o->org_domain) < 0 ||
		    strcmp(o->org_domain, author) == 0)
			return STEP_DONE;
		m = need(ev, "_dmarc.", o->org_domain, DNS_T_TXT);
		if (!m)
			return STEP_NEED;
		if (is_temp(m))
			return STEP_TEMP;
		*where = o->org_domain;
	}
	if (m->n_dmarc > 1)
		o->reason = "several DMARC records";
	else if (m->n_dmarc == 1)
		*rec = m;
	return STEP_DONE;
}

/*
 * RFC 9989: a domain that answers NXDOMAIN, or nothing, for A, AAAA and MX
 * does not exist. A temporary failure counts as existing, so that a DNS
 * hiccup never selects the stricter np.
 */
static enum step exists(struct dmarc_eval *ev, const char *d, bool *yes)
{
	static const enum dns_type types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX};
	*yes = false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct memo *m = need(ev, "", d, types[i]);
		if (!m)
			return STEP_NEED;
		if (m->status == DNS_NXDOMAIN)
			return STEP_DONE;
		if (m->status == DNS_OK || m->status == DNS_TEMPFAIL) {
			*yes = true;
			return STEP_DONE;
		}
	}
	return STEP_DONE;
}

static enum dmarc_policy downgrade(enum dmarc_policy p)
{
	return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

/* p for the author domain itself; sp, or np when it does not exist, for a subdomain. */
static enum step select_policy(struct dmarc_eval *ev, const char *author, struct dmarc_outcome *o)
{
	const struct dmarc_record *r = &o->record;
	o->policy = r->p;
	if (strcmp(o->policy_domain, author) != 0) {
		if (ev->opt.discovery == DMARC_TREE_WALK && r->np != DMARC_POLICY_UNSET) {
			bool yes;
			enum step s = exists(ev, author, &yes);
			if (s != STEP_DONE)
				return s;
			o->nonexistent = !yes;
		}
		if (o->nonexistent)
			o->policy = r->np;
		else if (r->sp != DMARC_POLICY_UNSET)
			o->policy = r->sp;
	}
	/* RFC 9989 t=y: the owner is testing; ask one step less. */
	if (ev->opt.discovery == DMARC_TREE_WALK && r->testing && o->policy != DMARC_POLICY_NONE)
		o->policy = downgrade(o->policy);
	return STEP_DONE;
}

/* Alignment of every passing identifier; the first aligned of each kind is reported. */
static enum step check_alignment(struct dmarc_eval *ev, const char *author, struct dmarc_outcome *o,
                                 bool *temp)
{
	*temp = false;
	if (ev->spf_pass && ev->spf[0]) {
		enum step s = aligned(ev, ev->spf, author, o->spf_strict, o->spf_aligned);
		if (s == STEP_NEED)
			return s;
		*temp |= s == STEP_TEMP;
	}
	for (size_t i = 0; i < ev->n_dkim; i++) {
		char at[DMARC_DOMAIN_MAX];
		enum step s = aligned(ev, ev->dkim[i], author, o->dkim_strict, at);
		if (s == STEP_NEED)
			return s;
		*temp |= s == STEP_TEMP;
		if (s != STEP_DONE || !at[0])
			continue;
		o->dkim_aligned_mask |= 1u << ev->dkim_idx[i];
		if (!o->dkim_aligned[0]) {
			memcpy(o->dkim_aligned, at, strlen(at) + 1);
			o->dkim_aligned_index = (int)ev->dkim_idx[i];
		}
	}
	return STEP_DONE;
}

static enum step eval_author(struct dmarc_eval *ev, const char *author, struct dmarc_outcome *o)
{
	const struct memo *m;
	const char *where = NULL;
	bool temp;

	memset(o, 0, sizeof(*o));
	o->dkim_aligned_index = -1;
	memcpy(o->domain, author, strlen(author) + 1);
	enum step s = discover(ev, author, &m, &where, o);
	if (s == STEP_TEMP) {
		o->result = DMARC_RESULT_TEMPERROR;
		o->reason = "temporary DNS failure looking up the policy";
		return STEP_DONE;
	}
	if (s != STEP_DONE || !m) {
		if (s == STEP_DONE && !o->reason)
			o->reason = "no DMARC record";
		return s;
	}
	memcpy(o->policy_domain, where, strlen(where) + 1);
	memcpy(o->rr, m->rr, sizeof(o->rr));
	o->record = m->rec;
	if (m->parse == DMARC_REC_NO_POLICY) {
		o->reason = "the record has no valid policy and no rua";
		return STEP_DONE;
	}
	o->dkim_strict = m->rec.adkim == DMARC_ALIGN_STRICT;
	o->spf_strict = m->rec.aspf == DMARC_ALIGN_STRICT;
	if ((s = org_domain(ev, author, o->org_domain)) == STEP_NEED)
		return s;
	if ((s = select_policy(ev, author, o)) == STEP_NEED)
		return s;
	if ((s = check_alignment(ev, author, o, &temp)) == STEP_NEED)
		return s;
	if (o->spf_aligned[0] || o->dkim_aligned[0]) {
		o->result = DMARC_RESULT_PASS;
		o->disposition = DMARC_POLICY_NONE;
	} else if (temp) {
		o->result = DMARC_RESULT_TEMPERROR;
		o->reason = "temporary DNS failure checking alignment";
	} else {
		o->result = DMARC_RESULT_FAIL;
		o->disposition = o->policy;
	}
	return STEP_DONE;
}

static enum step step(struct dmarc_eval *ev)
{
	ev->wanted = false;
	for (size_t i = 0; i < ev->n_authors; i++) {
		enum step s = eval_author(ev, ev->authors[i], &ev->out[i]);
		if (s != STEP_DONE)
			return s;
	}
	return STEP_DONE;
}

/* How bad an outcome is, for choosing the one that speaks for the message. */
static int severity(const struct dmarc_outcome *o)
{
	static const int rank[DMARC_RESULT_MAX] = {1, 0, 4, 3, 2};
	return rank[o->result] * 8 + (o->result == DMARC_RESULT_FAIL ? (int)o->disposition : 0);
}

/* RFC 7489 section 6.6.4: a message not sampled by pct gets the next milder policy. */
static void apply_pct(struct dmarc_eval *ev, struct dmarc_outcome *o)
{
	if (ev->opt.discovery != DMARC_PSL || o->result != DMARC_RESULT_FAIL ||
	    !o->record.pct_set || o->record.pct >= 100 || o->disposition == DMARC_POLICY_NONE)
		return;
	unsigned r =
	    ev->opt.sample ? ev->opt.sample(ev->opt.sample_arg) % 100 : (unsigned)random() % 100;
	if (r >= o->record.pct) {
		o->disposition = downgrade(o->disposition);
		o->sampled_out = true;
	}
}

/*
 * RFC 7489 section 6.6.1 (kept by RFC 9989): with several author
 * domains each is checked and the strictest failing policy applies; a
 * result that is not a pass for one of them is never reported as a pass.
 */
static void finish(struct dmarc_eval *ev)
{
	struct dmarc_outcome res = {.result = DMARC_RESULT_NONE, .dkim_aligned_index = -1};
	if (ev->from_error) {
		res.result = DMARC_RESULT_PERMERROR;
		res.reason = ev->from_error;
	} else if (ev->n_authors_total == 0) {
		res.reason = "no author domain in From";
	} else if (ev->n_authors_total > DMARC_MAX_AUTHORS) {
		res.result = DMARC_RESULT_PERMERROR;
		res.reason = "too many author domains in From";
	} else {
		size_t worst = 0;
		for (size_t i = 0; i < ev->n_authors; i++) {
			apply_pct(ev, &ev->out[i]);
			if (severity(&ev->out[i]) > severity(&ev->out[worst]))
				worst = i;
		}
		res = ev->out[worst];
	}
	res.n_authors = ev->n_authors_total;
	ev->cb(ev->arg, &res);
}

/* The evaluation could not be completed: a temporary error, by definition. */
static void finish_error(struct dmarc_eval *ev, const char *reason)
{
	struct dmarc_outcome res = {
	    .result = DMARC_RESULT_TEMPERROR, .reason = reason, .dkim_aligned_index = -1};
	if (ev->n_authors)
		memcpy(res.domain, ev->authors[0], sizeof(res.domain));
	res.n_authors = ev->n_authors_total;
	ev->cb(ev->arg, &res);
}

static void free_eval(struct dmarc_eval *ev)
{
	free(ev->memo);
	free(ev);
}

static void memo_fill(struct memo *m, const struct dns_result *res)
{
	m->done = true;
	m->status = res->status;
	if (res->status != DNS_OK || res->type != DNS_T_TXT)
		return;
	for (size_t i = 0; i < res->n; i++) {
		const char *t = res->rr[i].u.txt.data;
		size_t len = res->rr[i].u.txt.len;
		if (!dmarc_record_is_dmarc(t, len))
			continue; /* RFC 9989 section 4.10 step 2: not DMARC, discarded */
		if (++m->n_dmarc > 1) {
			m->n_dmarc = 2;
			continue;
		}
		m->parse = dmarc_record_parse(t, len, &m->rec);
		size_t n = len < sizeof(m->rr) - 1 ? len : sizeof(m->rr) - 1;
		memcpy(m->rr, t, n);
		m->rr[n] = '\0';
	}
}

static bool run(struct dmarc_eval *ev);

static void on_answer(void *arg, const struct dns_result *res)
{
	struct dmarc_eval *ev = arg;
	ev->pending = NULL;
	memo_fill(&ev->memo[ev->pending_idx], res);
	run(ev);
}

/* Adds the wanted query to the memo; -1 when the memo is full or memory is out. */
static int memo_add(struct dmarc_eval *ev)
{
	if (ev->n_memo == ev->cap_memo) {
		size_t cap = ev->cap_memo ? ev->cap_memo * 2 : 8;
		if (cap > MEMO_MAX)
			cap = MEMO_MAX;
		if (cap <= ev->n_memo)
			return -1;
		struct memo *m = realloc(ev->memo, cap * sizeof(*m));
		if (!m)
			return -1;
		ev->memo = m;
		ev->cap_memo = cap;
	}
	struct memo *m = &ev->memo[ev->n_memo];
	memset(m, 0, sizeof(*m));
	memcpy(m->name, ev->want, sizeof(m->name));
	m->type = ev->want_type;
	ev->pending_idx = ev->n_memo++;
	return 0;
}

/* A query we could not make: answered as a temporary failure. */
static void fail_query(struct dmarc_eval *ev)
{
	struct dns_result res = {.status = DNS_TEMPFAIL, .type = ev->want_type};
	memo_fill(&ev->memo[ev->pending_idx], &res);
}

/* Steps until done or waiting. Returns true when finished (ev freed). */
static bool run(struct dmarc_eval *ev)
{
	if (ev->in_run) {
		ev->again = true; /* an answer arrived inside dns_query(): loop again */
		return false;
	}
	ev->in_run = true;
	do {
		ev->again = false;
		if (step(ev) == STEP_DONE) {
			finish(ev);
			free_eval(ev);
			return true;
		}
		if (memo_add(ev) < 0) {
			finish_error(ev, "DNS query bound reached or out of memory");
			free_eval(ev);
			return true;
		}
		ev->pending = dns_query(ev->dns, ev->want, ev->want_type, on_answer, ev);
		if (!ev->pending && !ev->memo[ev->pending_idx].done)
			fail_query(ev);
		if (!ev->pending)
			ev->again = true;
	} while (ev->again);
	ev->in_run = false;
	return false;
}

/* Normalises src into dst (lower case, A-labels); false when it is no domain name. */
static bool copy_domain(char *dst, const char *src)
{
	return src && dmarc_domain_normalize(src, strlen(src), dst) == 0;
}

struct dmarc_eval *dmarc_start(const struct dns_resolver *dns, const struct dmarc_options *opt,
                               const struct dmarc_input *in, dmarc_cb cb, void *arg)
{
	struct dmarc_eval *ev = calloc(1, sizeof(*ev));
	if (!ev) {
		errno = ENOMEM;
		return NULL;
	}
	ev->dns = dns;
	ev->opt = *opt;
	ev->cb = cb;
	ev->arg = arg;
	ev->from_error = in->from_error;
	/* Identifiers come as written (d= may have any case): normalise, drop what is no name. */
	if (in->n_authors <= DMARC_MAX_AUTHORS && !in->from_error)
		for (size_t i = 0; i < in->n_authors; i++)
			ev->n_authors += copy_domain(ev->authors[ev->n_authors], in->authors[i]);
	ev->n_authors_total = in->n_authors <= DMARC_MAX_AUTHORS ? ev->n_authors : in->n_authors;
	ev->spf_pass = in->spf_pass && copy_domain(ev->spf, in->spf_domain);
	for (size_t i = 0; i < in->n_dkim && i < 32 && ev->n_dkim < DMARC_MAX_DKIM; i++) {
		ev->dkim_idx[ev->n_dkim] = i;
		ev->n_dkim += copy_domain(ev->dkim[ev->n_dkim], in->dkim_domains[i]);
	}
	return run(ev) ? NULL : ev;
}

void dmarc_cancel(struct dmarc_eval *ev)
{
	if (!ev)
		return;
	dns_cancel(ev->dns, ev->pending);
	free_eval(ev);
}
