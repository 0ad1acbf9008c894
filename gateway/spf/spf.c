/*
 * spf.c: check_host() (RFC 7208 sections 4 to 6 and 8), asynchronous.
 *
 * One spf_check runs a state machine over the dns.h interface, one query
 * at a time. include pushes a frame (at most max_dns_lookups deep, since
 * each include is a counted lookup); redirect replaces the current frame.
 * A DNS answer may arrive inside dns_query() (a cache hit): the answer is
 * handled at once and the loop in spf_run() carries on, so the stack never
 * grows with the number of cached answers.
 *
 * Limits (section 4.6.4): 10 terms causing DNS lookups, 2 void lookups,
 * 10 MX names (more is permerror), the first 10 PTR names. %{p} (section
 * 7.3) is resolved once per check and not counted as a term; neither is
 * the exp= lookup, done once after the result is known (section 6.2).
 *
 * Never blocks, never keeps a DNS answer past its callback, never runs the
 * caller's callback twice or after spf_check_cancel().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "spf_int.h"

#define SPF_LOOKUPS_CAP 20
#define SPF_MAX_DEPTH   (SPF_LOOKUPS_CAP + 2)
#define SPF_MAX_NAMES   10    /* MX and PTR names examined (section 4.6.4) */
#define SPF_MAX_STEPS   20000 /* a safety net: every step consumes a term or a query */
#define SPF_REASON_MAX  256
#define SPF_EXP_MAX     1024 /* explanation text; longer exp= TXT is ignored */
#define SPF_NAME_BUF    256
#define SPF_DEFAULT_EXP "%{c} is not a permitted sender for %{o}"

enum spf_state {
	SPF_S_RECORD,   /* fetch the record of the top frame */
	SPF_S_EVAL,     /* evaluate the next term of the top frame */
	SPF_S_A,        /* a: address query of the target */
	SPF_S_MX,       /* mx: MX query */
	SPF_S_MX_ADDR,  /* mx: address query of each exchange */
	SPF_S_PTR,      /* ptr: PTR query of the client */
	SPF_S_PTR_ADDR, /* ptr: address query of each candidate name */
	SPF_S_EXISTS,   /* exists: A query */
	SPF_S_P_PTR,    /* %{p}: PTR query */
	SPF_S_P_ADDR,   /* %{p}: validate each name */
	SPF_S_EXP,      /* exp=: TXT query */
	SPF_S_EXP_TEXT, /* exp=: expand the text */
	SPF_S_DONE,
	SPF_S_MAX
};

static const char *const spf_state_names[SPF_S_MAX] = {
    "record", "eval",  "a",      "mx",  "mx-addr",  "ptr",  "ptr-addr",
    "exists", "p-ptr", "p-addr", "exp", "exp-text", "done",
};

struct spf_frame {
	char domain[SPF_NAME_BUF]; /* <domain> of this check_host() */
	struct spf_record rec;
	size_t pos;        /* next term */
	bool via_redirect; /* "none" here is permerror (section 6.1) */
};

struct spf_check {
	const struct dns_resolver *r;
	spf_cb cb;
	void *arg;
	struct spf_options opts;
	enum spf_state state;
	bool waiting, in_run;
	struct dns_query *pending;
	unsigned steps;

	enum spf_identity identity;
	struct spf_macro_env env; /* points into the strings below */
	char sender[2 * SPF_VALUE_MAX + 2];
	char local[SPF_VALUE_MAX + 1];
	char sender_domain[SPF_VALUE_MAX + 1];
	char helo[SPF_VALUE_MAX + 1];
	char hostname[SPF_NAME_BUF];

	struct spf_frame *frames[SPF_MAX_DEPTH];
	size_t depth;
	unsigned lookups, voids;

	const struct spf_term *term; /* the mechanism waiting on DNS */
	char target[SPF_NAME_BUF];   /* the expanded, truncated target name */
	char names[SPF_MAX_NAMES][SPF_NAME_BUF];
	size_t n_names, idx;

	bool p_done;
	enum spf_state p_resume;
	char p_names[SPF_MAX_NAMES][SPF_NAME_BUF];
	bool p_valid[SPF_MAX_NAMES];
	size_t p_n, p_idx;
	char p_value[SPF_NAME_BUF];

	enum spf_result result;
	char reason[SPF_REASON_MAX];
	char mechanism[SPF_REASON_MAX];
	char *exp_text;
	char explanation[SPF_EXP_MAX + 1];
	bool has_explanation;
};

const char *spf_result_name(enum spf_result r)
{
	static const char *const names[SPF_RESULT_MAX] = {
	    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
	};
	return (unsigned)r < SPF_RESULT_MAX ? names[r] : "unknown";
}

void spf_options_default(struct spf_options *o)
{
	*o = (struct spf_options){.max_dns_lookups = 10, .max_void_lookups = 2};
}

static void set_state(struct spf_check *c, enum spf_state s)
{
	log_msg(GW_LOG_DEBUG, LS_SPF, 0, NULL, "%s -> %s (depth %zu, lookups %u)",
	        spf_state_names[c->state], spf_state_names[s], c->depth, c->lookups);
	c->state = s;
}

static struct spf_frame *top(struct spf_check *c)
{
	return c->frames[c->depth - 1];
}

/* Outcome strings go to logs and SMTP replies: printable ASCII only. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* Ends the whole check (temperror and permerror end it from any depth). */
static void finish(struct spf_check *c, enum spf_result res, const char *why, const char *what)
{
	c->result = res;
	int n = snprintf(c->reason, sizeof(c->reason), "%s%s%s", why, what ? " " : "",
	                 what ? what : "");

	if (n < 0)
		c->reason[0] = '\0'; /* a longer reason is cut: it is for logs and replies */
	printable(c->reason);
	set_state(c, SPF_S_DONE);
}

/* Bounded copy; callers size dst for what they copy, so a cut is only a safety net. */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* %{p}: a validated name equal to or under <domain>, else any, else "unknown". */
static const char *p_value(struct spf_check *c, const char *domain)
{
	const char *any = NULL;
	size_t dl = strlen(domain);
	for (size_t i = 0; i < c->p_n; i++) {
		const char *n = c->p_names[i];
		size_t nl = strlen(n);
		if (!c->p_valid[i])
			continue;
		if (strcasecmp(n, domain) == 0)
			return n;
		if (nl > dl && n[nl - dl - 1] == '.' && strcasecmp(n + nl - dl, domain) == 0) {
			copy_str(c->p_value, sizeof(c->p_value), n);
			return c->p_value;
		}
		if (!any)
			any = n;
	}
	return any ? any : "unknown";
}

/* Expands a term's domain-spec (or the current domain) into c->target; -1: no such name. */
static int expand_target(struct spf_check *c, const struct spf_term *t, const char *domain)
{
	char buf[SPF_EXPAND_MAX + 1]; /* before truncation to 253 bytes */

	c->env.domain = domain;
	c->env.p = c->p_done ? p_value(c, domain) : NULL;
	if (!t->spec)
		copy_str(buf, sizeof(buf), domain);
	else if (spf_macro_expand(t->spec, t->spec_len, SPF_MACRO_DOMAIN, &c->env, buf,
	                          sizeof(buf)) < 0)
		return -1;
	if (spf_target_name(buf) < 0)
		return -1;
	copy_str(c->target, sizeof(c->target), buf);
	return 0;
}

static void on_dns(void *arg, const struct dns_result *res);
static void spf_run_async(struct spf_check *c);

static void issue(struct spf_check *c, const char *name, enum dns_type type)
{
	struct dns_query *q;
	c->waiting = true;
	c->pending = NULL;
	q = dns_query(c->r, name, type, on_dns, c);
	if (c->waiting)
		c->pending = q;
}

static enum dns_type addr_type(const struct spf_check *c)
{
	return c->env.ip.family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* Whether any address in res is the client's, within the term's CIDR. */
static bool addr_match(const struct spf_check *c, const struct dns_result *res, int cidr4,
                       int cidr6)
{
	for (size_t i = 0; i < res->n; i++) {
		const uint8_t *a = res->type == DNS_T_A ? (const uint8_t *)&res->rr[i].u.a
		                                        : (const uint8_t *)&res->rr[i].u.aaaa;
		if (prefix_match(a, c->env.ip.b, res->type == DNS_T_A ? cidr4 : cidr6))
			return true;
	}
	return false;
}

static void frame_result(struct spf_check *c, enum spf_result res, const char *why,
                         const char *what);

static void matched(struct spf_check *c, const struct spf_term *t)
{
	if (c->depth == 1)
		copy_str(c->mechanism, sizeof(c->mechanism), t->text);
	frame_result(c, t->qual, "matched", t->text);
}

/* A void lookup (section 4.6.4): NXDOMAIN or no records. */
static void void_lookup(struct spf_check *c)
{
	if (++c->voids > c->opts.max_void_lookups) {
		finish(c, SPF_PERMERROR, "too many void lookups at", c->term->text);
		return;
	}
	set_state(c, SPF_S_EVAL);
}

static bool count_lookup(struct spf_check *c, const struct spf_term *t)
{
	if (++c->lookups > c->opts.max_dns_lookups) {
		finish(c, SPF_PERMERROR, "too many DNS lookups at", t->text);
		return false;
	}
	return true;
}

static void p_start(struct spf_check *c, enum spf_state resume)
{
	c->p_resume = resume;
	set_state(c, SPF_S_P_PTR);
}

static void explanation_default(struct spf_check *c)
{
	const char *d = c->opts.default_explanation ? c->opts.default_explanation : SPF_DEFAULT_EXP;
	c->env.domain = top(c)->domain;
	c->env.p = c->p_done ? p_value(c, c->env.domain) : NULL;
	if (spf_macro_expand(d, strlen(d), SPF_MACRO_EXP, &c->env, c->explanation,
	                     sizeof(c->explanation)) < 0)
		copy_str(c->explanation, sizeof(c->explanation), d);
	c->has_explanation = true;
	set_state(c, SPF_S_DONE);
}

static void frame_pop(struct spf_check *c)
{
	struct spf_frame *f = c->frames[--c->depth];
	spf_record_free(&f->rec);
	free(f);
}

static int frame_push(struct spf_check *c, const char *domain)
{
	struct spf_frame *f;
	if (c->depth == SPF_MAX_DEPTH)
		return -1;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->rec = (struct spf_record){.redirect = -1, .exp = -1};
	copy_str(f->domain, sizeof(f->domain), domain);
	c->frames[c->depth++] = f;
	return 0;
}

/* The result of the top frame's check_host(): the whole check, or an include's. */
static void frame_result(struct spf_check *c, enum spf_result res, const char *why,
                         const char *what)
{
	if (res == SPF_TEMPERROR || res == SPF_PERMERROR) {
		finish(c, res, why, what);
		return;
	}
	if (c->depth == 1) {
		finish(c, res, why, what);
		if (res == SPF_FAIL) {
			if (top(c)->rec.exp >= 0)
				set_state(c, SPF_S_EXP);
			else
				explanation_default(c);
		}
		return;
	}
	/* Section 5.2: how an include's result maps to a match. */
	frame_pop(c);
	const struct spf_term *inc = &top(c)->rec.terms[top(c)->pos - 1];
	c->term = inc;
	switch (res) {
	case SPF_PASS:
		matched(c, inc);
		return;
	case SPF_NONE:
		finish(c, SPF_PERMERROR, "no SPF record for", inc->text);
		return;
	default:
		set_state(c, SPF_S_EVAL);
		return;
	}
}

/* Section 4.5: pick the one "v=spf1" record among the TXT records. */
static void on_record(struct spf_check *c, const struct dns_result *res)
{
	struct spf_frame *f = top(c);
	const struct dns_rr *chosen = NULL;
	char err[SPF_REASON_MAX];

	if (res->status == DNS_TEMPFAIL) {
		finish(c, SPF_TEMPERROR, "DNS error fetching the record of", f->domain);
		return;
	}
	for (size_t i = 0; i < res->n; i++) {
		if (!spf_record_is_v1(res->rr[i].u.txt.data, res->rr[i].u.txt.len))
			continue;
		if (chosen) {
			finish(c, SPF_PERMERROR, "more than one SPF record at", f->domain);
			return;
		}
		chosen = &res->rr[i];
	}
	if (!chosen) {
		if (c->depth > 1 || f->via_redirect)
			finish(c, SPF_PERMERROR, "no SPF record at", f->domain);
		else
			finish(c, SPF_NONE, "no SPF record at", f->domain);
		return;
	}
	if (spf_record_parse(chosen->u.txt.data, chosen->u.txt.len, &f->rec, err, sizeof(err)) <
	    0) {
		finish(c, SPF_PERMERROR, err, NULL);
		return;
	}
	set_state(c, SPF_S_EVAL);
}

/* Section 6.1: redirect= once every mechanism failed to match. */
static void eval_redirect(struct spf_check *c, struct spf_frame *f)
{
	const struct spf_term *t = &f->rec.terms[f->rec.redirect];
	if (t->uses_p && !c->p_done) {
		p_start(c, SPF_S_EVAL);
		return;
	}
	if (!count_lookup(c, t))
		return;
	if (expand_target(c, t, f->domain) < 0) {
		finish(c, SPF_PERMERROR, "malformed redirect target in", t->text);
		return;
	}
	copy_str(f->domain, sizeof(f->domain), c->target);
	spf_record_free(&f->rec);
	f->pos = 0;
	f->via_redirect = true;
	set_state(c, SPF_S_RECORD);
}

static void eval_dns_mech(struct spf_check *c, struct spf_frame *f, const struct spf_term *t)
{
	static const enum spf_state next[SPF_M_MAX] = {
	    [SPF_M_A] = SPF_S_A,           [SPF_M_MX] = SPF_S_MX,          [SPF_M_PTR] = SPF_S_PTR,
	    [SPF_M_EXISTS] = SPF_S_EXISTS, [SPF_M_INCLUDE] = SPF_S_RECORD,
	};
	if (!count_lookup(c, t))
		return;
	c->term = t;
	if (expand_target(c, t, f->domain) < 0) {
		/* Sections 4.3 and 4.8: a name that cannot exist matches nothing. */
		if (t->mech == SPF_M_INCLUDE)
			finish(c, SPF_PERMERROR, "malformed include target in", t->text);
		else
			set_state(c, SPF_S_EVAL);
		return;
	}
	if (t->mech == SPF_M_INCLUDE && frame_push(c, c->target) < 0) {
		finish(c, SPF_PERMERROR, "include nesting too deep at", t->text);
		return;
	}
	set_state(c, next[t->mech]);
}

static void eval_term(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	const struct spf_term *t;

	if (f->pos == f->rec.n) {
		if (f->rec.redirect >= 0)
			eval_redirect(c, f);
		else
			frame_result(c, SPF_NEUTRAL, "no mechanism matched", NULL);
		return;
	}
	t = &f->rec.terms[f->pos];
	if (t->kind != SPF_T_MECH) {
		f->pos++;
		return;
	}
	if (t->uses_p && !c->p_done) {
		p_start(c, SPF_S_EVAL);
		return;
	}
	f->pos++;
	switch (t->mech) {
	case SPF_M_ALL:
		matched(c, t);
		return;
	case SPF_M_IP4:
	case SPF_M_IP6:
		if (c->env.ip.family == (t->mech == SPF_M_IP4 ? AF_INET : AF_INET6) &&
		    prefix_match(c->env.ip.b, t->net, t->mech == SPF_M_IP4 ? t->cidr4 : t->cidr6))
			matched(c, t);
		return;
	default:
		eval_dns_mech(c, f, t);
		return;
	}
}

static void on_addr(struct spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_TEMPFAIL)
		finish(c, SPF_TEMPERROR, "DNS error at", c->term->text);
	else if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA)
		void_lookup(c);
	else if (res->status == DNS_OK && addr_match(c, res, c->term->cidr4, c->term->cidr6))
		matched(c, c->term);
	else
		set_state(c, SPF_S_EVAL);
}

static void on_exists(struct spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_TEMPFAIL)
		finish(c, SPF_TEMPERROR, "DNS error at", c->term->text);
	else if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA)
		void_lookup(c);
	else if (res->status == DNS_OK)
		matched(c, c->term);
	else
		set_state(c, SPF_S_EVAL);
}

static void on_mx(struct spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_TEMPFAIL) {
		finish(c, SPF_TEMPERROR, "DNS error at", c->term->text);
		return;
	}
	if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA) {
		void_lookup(c);
		return;
	}
	if (res->n > SPF_MAX_NAMES) {
		finish(c, SPF_PERMERROR, "more than 10 MX records at", c->term->text);
		return;
	}
	c->n_names = c->idx = 0;
	for (size_t i = 0; i < res->n; i++) {
		const char *h = res->rr[i].u.mx.host;
		if (h && *h && strlen(h) < SPF_NAME_BUF) /* "" is the null MX (RFC 7505) */
			copy_str(c->names[c->n_names++], SPF_NAME_BUF, h);
	}
	set_state(c, SPF_S_MX_ADDR);
}

static void on_mx_addr(struct spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_TEMPFAIL)
		finish(c, SPF_TEMPERROR, "DNS error at", c->term->text);
	else if (res->status == DNS_OK && addr_match(c, res, c->term->cidr4, c->term->cidr6))
		matched(c, c->term);
}

static bool name_under(const char *name, const char *domain)
{
	size_t nl = strlen(name), dl = strlen(domain);
	if (nl == dl)
		return strcasecmp(name, domain) == 0;
	return nl > dl && name[nl - dl - 1] == '.' && strcasecmp(name + nl - dl, domain) == 0;
}

/* Section 5.5: errors skip; only the first 10 names count; check names under the target. */
static void on_ptr(struct spf_check *c, const struct dns_result *res)
{
	c->n_names = c->idx = 0;
	for (size_t i = 0; i < res->n && i < SPF_MAX_NAMES; i++) {
		const char *h = res->rr[i].u.ptr;
		if (h && *h && strlen(h) < SPF_NAME_BUF && name_under(h, c->target))
			copy_str(c->names[c->n_names++], SPF_NAME_BUF, h);
	}
	set_state(c, c->n_names ? SPF_S_PTR_ADDR : SPF_S_EVAL);
}

static void on_ptr_addr(struct spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_OK && addr_match(c, res, 32, 128))
		matched(c, c->term);
}

static void on_p_ptr(struct spf_check *c, const struct dns_result *res)
{
	c->p_n = c->p_idx = 0;
	for (size_t i = 0; i < res->n && i < SPF_MAX_NAMES; i++) {
		const char *h = res->rr[i].u.ptr;
		if (h && *h && strlen(h) < SPF_NAME_BUF) {
			c->p_valid[c->p_n] = false;
			copy_str(c->p_names[c->p_n++], SPF_NAME_BUF, h);
		}
	}
	set_state(c, SPF_S_P_ADDR);
}

static void on_exp(struct spf_check *c, const struct dns_result *res)
{
	/* Section 6.2: anything but exactly one TXT record means no exp=. */
	if (res->status != DNS_OK || res->n != 1 || res->rr[0].u.txt.len > SPF_EXP_MAX ||
	    memchr(res->rr[0].u.txt.data, '\0', res->rr[0].u.txt.len)) {
		explanation_default(c);
		return;
	}
	c->exp_text = strdup(res->rr[0].u.txt.data);
	if (!c->exp_text) {
		explanation_default(c);
		return;
	}
	set_state(c, SPF_S_EXP_TEXT);
}

static void on_dns(void *arg, const struct dns_result *res)
{
	struct spf_check *c = arg;
	c->pending = NULL;
	c->waiting = false;
	switch (c->state) {
	case SPF_S_RECORD:
		on_record(c, res);
		break;
	case SPF_S_A:
		on_addr(c, res);
		break;
	case SPF_S_EXISTS:
		on_exists(c, res);
		break;
	case SPF_S_MX:
		on_mx(c, res);
		break;
	case SPF_S_MX_ADDR:
		on_mx_addr(c, res);
		break;
	case SPF_S_PTR:
		on_ptr(c, res);
		break;
	case SPF_S_PTR_ADDR:
		on_ptr_addr(c, res);
		break;
	case SPF_S_P_PTR:
		on_p_ptr(c, res);
		break;
	case SPF_S_P_ADDR:
		if (res->status == DNS_OK && addr_match(c, res, 32, 128))
			c->p_valid[c->p_idx - 1] = true;
		break;
	case SPF_S_EXP:
		on_exp(c, res);
		break;
	default:
		break;
	}
	if (!c->in_run)
		spf_run_async(c);
}

static void step_exp(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	const struct spf_term *t = &f->rec.terms[f->rec.exp];
	if (t->uses_p && !c->p_done) {
		p_start(c, SPF_S_EXP);
		return;
	}
	if (expand_target(c, t, f->domain) < 0) {
		explanation_default(c);
		return;
	}
	issue(c, c->target, DNS_T_TXT);
}

static void step_exp_text(struct spf_check *c)
{
	bool uses_p;
	size_t len = strlen(c->exp_text);
	if (spf_macro_check(c->exp_text, len, SPF_MACRO_EXP, &uses_p) < 0) {
		explanation_default(c);
		return;
	}
	if (uses_p && !c->p_done) {
		p_start(c, SPF_S_EXP_TEXT);
		return;
	}
	c->env.domain = top(c)->domain;
	c->env.p = c->p_done ? p_value(c, c->env.domain) : NULL;
	if (spf_macro_expand(c->exp_text, len, SPF_MACRO_EXP, &c->env, c->explanation,
	                     sizeof(c->explanation)) < 0) {
		explanation_default(c);
		return;
	}
	c->has_explanation = true;
	set_state(c, SPF_S_DONE);
}

/* Runs until a query is in flight or the check is done. */
static void step(struct spf_check *c)
{
	char rev[SPF_NAME_BUF];
	switch (c->state) {
	case SPF_S_RECORD:
		issue(c, top(c)->domain, DNS_T_TXT);
		return;
	case SPF_S_EVAL:
		eval_term(c);
		return;
	case SPF_S_A:
		issue(c, c->target, addr_type(c));
		return;
	case SPF_S_EXISTS:
		issue(c, c->target, DNS_T_A); /* section 5.7: A even for IPv6 clients */
		return;
	case SPF_S_MX:
		issue(c, c->target, DNS_T_MX);
		return;
	case SPF_S_MX_ADDR:
	case SPF_S_PTR_ADDR:
		if (c->idx == c->n_names)
			set_state(c, SPF_S_EVAL);
		else
			issue(c, c->names[c->idx++], addr_type(c));
		return;
	case SPF_S_PTR:
	case SPF_S_P_PTR:
		spf_reverse_name(&c->env.ip, rev, sizeof(rev));
		issue(c, rev, DNS_T_PTR);
		return;
	case SPF_S_P_ADDR:
		if (c->p_idx < c->p_n) {
			issue(c, c->p_names[c->p_idx++], addr_type(c));
			return;
		}
		c->p_done = true;
		set_state(c, c->p_resume);
		return;
	case SPF_S_EXP:
		step_exp(c);
		return;
	case SPF_S_EXP_TEXT:
		step_exp_text(c);
		return;
	default:
		return;
	}
}

static void check_free(struct spf_check *c)
{
	while (c->depth)
		frame_pop(c);
	free(c->exp_text);
	free(c);
}

static void deliver(struct spf_check *c)
{
	printable(c->explanation);
	printable(c->mechanism);
	struct spf_outcome out = {
	    .result = c->result,
	    .identity = c->identity,
	    .domain = c->sender_domain,
	    .sender = c->sender,
	    .explanation = c->result == SPF_FAIL && c->has_explanation ? c->explanation : NULL,
	    .reason = c->reason,
	    .mechanism = c->mechanism[0] ? c->mechanism : NULL,
	    .dns_lookups = c->lookups,
	    .void_lookups = c->voids,
	};
	c->cb(c->arg, &out);
	check_free(c);
}

/* Returns true when the check finished (and is freed). */
static bool spf_run(struct spf_check *c)
{
	c->in_run = true;
	while (!c->waiting && c->state != SPF_S_DONE) {
		if (++c->steps > SPF_MAX_STEPS)
			finish(c, SPF_PERMERROR, "evaluation too long", NULL);
		else
			step(c);
	}
	c->in_run = false;
	if (c->state != SPF_S_DONE)
		return false;
	deliver(c);
	return true;
}

static void spf_run_async(struct spf_check *c)
{
	(void)spf_run(c);
}

/* IPv4-mapped IPv6 addresses are IPv4 (section 5). */
static int ip_from_sockaddr(const struct sockaddr *sa, struct spf_ip *ip)
{
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET) {
		ip->family = AF_INET;
		memcpy(ip->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		ip->family = AF_INET;
		memcpy(ip->b, a6->s6_addr + 12, 4);
	} else {
		ip->family = AF_INET6;
		memcpy(ip->b, a6->s6_addr, 16);
	}
	return 0;
}

/*
 * Section 4.3: a <domain> that is malformed or not multi-label gives
 * "none" without a lookup. Domain literals ("[192.0.2.1]") are not names.
 */
static bool initial_domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0, labels = 0;
	if (len && d[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX || d[0] == '[')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && d[i] != '.') {
			unsigned char ch = (unsigned char)d[i];
			if (ch < 0x21 || ch > 0x7e || ++label > 63)
				return false;
			continue;
		}
		if (label == 0)
			return false;
		labels++;
		label = 0;
	}
	return labels >= 2;
}

/* Fills sender, local part and domain (section 4.3: no local part means "postmaster"). */
static int identity_init(struct spf_check *c, const char *helo, const char *mail_from)
{
	const char *at, *local = "postmaster", *domain = helo;
	size_t llen = strlen(local);

	c->identity = SPF_ID_HELO;
	if (mail_from && *mail_from) {
		c->identity = SPF_ID_MAILFROM;
		at = strrchr(mail_from, '@');
		domain = at ? at + 1 : mail_from;
		if (at && at > mail_from) {
			local = mail_from;
			llen = (size_t)(at - mail_from);
		}
	}
	if (strlen(helo) > SPF_VALUE_MAX || strlen(domain) > SPF_VALUE_MAX || llen > SPF_VALUE_MAX)
		return -1;
	copy_str(c->helo, sizeof(c->helo), helo);
	memcpy(c->local, local, llen);
	c->local[llen] = '\0';
	copy_str(c->sender_domain, sizeof(c->sender_domain), domain);
	size_t dlen = strlen(c->sender_domain);
	if (llen + 1 + dlen >= sizeof(c->sender))
		return -1;
	memcpy(c->sender, c->local, llen);
	c->sender[llen] = '@';
	memcpy(c->sender + llen + 1, c->sender_domain, dlen + 1);
	return 0;
}

static struct spf_check *check_new(const struct dns_resolver *r, const struct spf_options *opts,
                                   spf_cb cb, void *arg)
{
	struct spf_check *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	if (opts)
		c->opts = *opts;
	else
		spf_options_default(&c->opts);
	if (c->opts.max_dns_lookups > SPF_LOOKUPS_CAP)
		c->opts.max_dns_lookups = SPF_LOOKUPS_CAP;
	if (!c->opts.now)
		c->opts.now = (int64_t)time(NULL);
	c->state = SPF_S_RECORD;
	return c;
}

static struct spf_check *check_begin(struct spf_check *c, const struct sockaddr *ip,
                                     const char *helo, const char *mail_from, const char *hostname)
{
	if (ip_from_sockaddr(ip, &c->env.ip) < 0) {
		finish(c, SPF_NONE, "no client address", NULL);
	} else if (identity_init(c, helo ? helo : "", mail_from) < 0 ||
	           !initial_domain_ok(c->sender_domain)) {
		finish(c, SPF_NONE, "malformed domain", c->sender_domain);
	} else {
		copy_str(c->hostname, sizeof(c->hostname), hostname);
		c->env.sender = c->sender;
		c->env.local = c->local;
		c->env.sender_domain = c->sender_domain;
		c->env.helo = c->helo;
		c->env.hostname = c->hostname;
		c->env.now = c->opts.now;
		if (frame_push(c, c->sender_domain) < 0) {
			finish(c, SPF_TEMPERROR, "out of memory", NULL);
		} else {
			char *d = top(c)->domain;
			size_t n = strlen(d);
			if (n && d[n - 1] == '.')
				d[n - 1] = '\0'; /* <domain> is the name, not its FQDN spelling */
		}
	}
	return spf_run(c) ? NULL : c;
}

struct spf_check *spf_check_start_opts(const struct dns_resolver *r, const struct sockaddr *ip,
                                       const char *helo, const char *mail_from,
                                       const char *hostname, const struct spf_options *opts,
                                       spf_cb cb, void *arg)
{
	struct spf_check *c = check_new(r, opts, cb, arg);
	if (!c) {
		struct spf_outcome out = {.result = SPF_TEMPERROR, .reason = "out of memory"};
		cb(arg, &out);
		return NULL;
	}
	return check_begin(c, ip, helo, mail_from, hostname);
}

struct spf_check *spf_check_start(const struct dns_resolver *r, const struct sockaddr *ip,
                                  const char *helo, const char *mail_from, const char *hostname,
                                  spf_cb cb, void *arg)
{
	return spf_check_start_opts(r, ip, helo, mail_from, hostname, NULL, cb, arg);
}

struct spf_check *spf_check_helo_start(const struct dns_resolver *r, const struct sockaddr *ip,
                                       const char *helo, const char *hostname,
                                       const struct spf_options *opts, spf_cb cb, void *arg)
{
	return spf_check_start_opts(r, ip, helo, "", hostname, opts, cb, arg);
}

void spf_check_cancel(struct spf_check *c)
{
	if (!c)
		return;
	if (c->pending)
		dns_cancel(c->r, c->pending);
	check_free(c);
}

size_t spf_check_footprint(void)
{
	return sizeof(struct spf_check) + sizeof(struct spf_frame);
}
