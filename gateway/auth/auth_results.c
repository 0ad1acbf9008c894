/*
 * auth_results.c: turns the gathered SPF, DKIM, ARC and DMARC facts into
 * the Authentication-Results field (RFC 8601 sections 2.2 to 2.7; the
 * dmarc method of RFC 7489 section 11.2, arc of RFC 8617 section 10.1),
 * the payload's auth object (docs/authentication.md) and the verdict
 * under the configured policies: an id of include/auth.h, which the SMTP
 * front end's one catalogue answers (RFC 7372 and RFC 8617 codes there).
 *
 * Must never: write past a buffer (every write is bounded and truncates),
 * put a character from the message into a comment without cleaning it, or
 * decide anything that the policy "annotate" or "off" does not allow.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth_int.h"
#include "json_object_of.h"

/* A bounded appender. */
struct sbuf {
	char *p;
	size_t cap, n;
};

__attribute__((format(printf, 2, 3))) static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->n + 1 >= b->cap)
		return;
	va_start(ap, fmt);
	int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	b->n += (size_t)w < b->cap - b->n ? (size_t)w : b->cap - b->n - 1;
}

/* One byte, bounded like sb_add(): a quoted value is written a byte at a time. */
static void sb_putc(struct sbuf *b, char c)
{
	if (b->n + 1 >= b->cap)
		return;
	b->p[b->n++] = c;
	b->p[b->n] = '\0';
}

/*
 * Strings, bounded and cut like sb_add(), without a format to interpret:
 * prefix, then value when it is not NULL (vsnprintf was 2.6% of the
 * authenticated path's CPU, one call per byte of a folded field).
 */
static void sb_str(struct sbuf *b, const char *prefix, const char *value)
{
	for (int i = 0; i < 2; i++) {
		const char *s = i ? value : prefix;
		if (!s || b->n + 1 >= b->cap)
			continue;
		size_t len = strlen(s), room = b->cap - b->n - 1;
		if (len > room)
			len = room;
		memcpy(b->p + b->n, s, len);
		b->n += len;
		b->p[b->n] = '\0';
	}
}

/* Copies s into a comment-safe form: printable ASCII, no parentheses or backslash. */
static void comment_text(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; s && *s && o + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		out[o++] =
		    (c < 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '\\') ? ' ' : (char)c;
	}
	out[o] = '\0';
}

/* RFC 2045 token characters (the "value" of RFC 8601 without quoting). */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || strchr("()<>,;:\\\"/[]?=", c))
			return false;
	}
	return true;
}

/* Adds a property value: bare when it can be (a token, or local@domain), else quoted. */
static void add_value(struct sbuf *b, const char *v)
{
	const char *at = strrchr(v, '@');
	bool bare = is_token(v);
	if (!bare && at) {
		char local[512];
		size_t ln = (size_t)(at - v);
		if (ln < sizeof(local)) {
			memcpy(local, v, ln);
			local[ln] = '\0';
			bare = (ln == 0 || is_token(local)) && is_token(at + 1);
		}
	}
	if (bare) {
		sb_str(b, v, NULL);
		return;
	}
	sb_putc(b, '"');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			sb_putc(b, '\\');
		sb_putc(b, (char)c);
	}
	sb_putc(b, '"');
}

static void ar_spf(struct sbuf *b, const struct auth_facts *f)
{
	char reason[256];
	comment_text(f->spf_reason, reason, sizeof(reason));
	sb_str(b, ";\n spf=", spf_result_name(f->spf));
	if (reason[0])
		sb_add(b, " (%s)", reason);
	if (f->spf_identity == SPF_ID_HELO) {
		sb_str(b, " smtp.helo=", NULL);
		add_value(b, f->helo[0] ? f->helo : f->spf_domain);
	} else {
		sb_str(b, " smtp.mailfrom=", NULL);
		add_value(b, f->spf_sender[0] ? f->spf_sender : f->spf_domain);
	}
}

static void ar_dkim(struct sbuf *b, const struct auth_facts *f)
{
	if (f->n_dkim == 0) {
		sb_str(b, ";\n dkim=none", NULL);
		return;
	}
	for (size_t i = 0; i < f->n_dkim; i++) {
		const struct dkim_sig_result *s = &f->dkim[i];
		char reason[128];
		comment_text(s->reason, reason, sizeof(reason));
		sb_str(b, ";\n dkim=", dkim_status_name(s->status));
		if (reason[0])
			sb_add(b, " (%s)", reason);
		else if (s->key_bits)
			sb_add(b, " (%u-bit key)", s->key_bits);
		if (s->body_unsigned)
			sb_add(b, " (%llu body bytes unsigned)",
			       (unsigned long long)s->body_unsigned);
		if (s->domain[0] && is_token(s->domain))
			sb_str(b, " header.d=", s->domain);
		if (s->selector[0] && is_token(s->selector))
			sb_str(b, " header.s=", s->selector);
		if (s->header_b[0] && is_token(s->header_b))
			sb_str(b, " header.b=", s->header_b);
	}
}

static void ar_dmarc(struct sbuf *b, const struct auth_facts *f)
{
	const struct dmarc_outcome *d = &f->dmarc;
	sb_str(b, ";\n dmarc=", dmarc_result_name(d->result));
	if (d->policy != DMARC_POLICY_UNSET) {
		char ov[300] = "";
		if (f->arc_override)
			snprintf(ov, sizeof(ov), " arc-override%s%s",
			         is_token(f->arc_sealer) ? " by " : "",
			         is_token(f->arc_sealer) ? f->arc_sealer : "");
		sb_add(b, " (p=%s dis=%s%s)", dmarc_policy_name(d->policy),
		       dmarc_policy_name(d->disposition ? d->disposition : DMARC_POLICY_NONE), ov);
	} else if (d->reason) {
		char reason[128];
		comment_text(d->reason, reason, sizeof(reason));
		sb_add(b, " (%s)", reason);
	}
	if (d->domain[0])
		sb_str(b, " header.from=", d->domain);
}

static void ar_arc(struct sbuf *b, const struct auth_facts *f)
{
	sb_add(b, ";\n arc=%s",
	       f->arc == ARC_FAIL && f->arc_temporary ? "temperror" : arc_status_name(f->arc));
	if (f->arc_reason[0]) {
		char reason[128];
		comment_text(f->arc_reason, reason, sizeof(reason));
		sb_add(b, " (%s)", reason);
	} else if (f->arc_instance > 0) {
		sb_add(b, " (i=%d)", f->arc_instance);
	}
}

/*
 * The value with "\n " between the resinfo (turned into CRLF folding by
 * auth_results_field; the JSON keeps it on one line). RFC 8601 section 2.2:
 * "none" when nothing was checked.
 */
static void value_raw(const struct auth_facts *f, const char *authserv_id, struct sbuf *b)
{
	sb_str(b, authserv_id, NULL);
	size_t start = b->n;
	if (f->spf_shown && f->spf_done)
		ar_spf(b, f);
	if (f->dkim_shown)
		ar_dkim(b, f);
	if (f->dmarc_shown)
		ar_dmarc(b, f);
	if (f->arc_shown)
		ar_arc(b, f);
	if (b->n == start)
		sb_str(b, "; none", NULL);
}

void auth_results_value(const struct auth_facts *f, const char *authserv_id, char *buf, size_t cap)
{
	char raw[AUTH_AR_MAX];
	struct sbuf b = {raw, sizeof(raw), 0};
	raw[0] = '\0';
	value_raw(f, authserv_id, &b);
	/* One line for JSON and logs: the folding points become single spaces. */
	size_t o = 0;
	for (size_t i = 0; raw[i] && o + 1 < cap; i++)
		if (raw[i] != '\n')
			buf[o++] = raw[i];
	buf[o] = '\0';
}

void auth_results_field(const char *value, char *buf, size_t cap)
{
	struct sbuf b = {buf, cap, 0};
	buf[0] = '\0';
	sb_str(&b, "Authentication-Results: ", NULL);
	/* Fold after each ';' that ends a resinfo (RFC 5322 section 2.2.3 folding at CFWS). */
	bool quoted = false;
	int depth = 0;
	for (const char *p = value; *p; p++) {
		if (*p == '"' && depth == 0 && (p == value || p[-1] != '\\'))
			quoted = !quoted;
		else if (!quoted && *p == '(')
			depth++;
		else if (!quoted && *p == ')' && depth > 0)
			depth--;
		if (*p == ';' && !quoted && depth == 0 && p[1] == ' ') {
			sb_str(&b, ";\r\n\t", NULL);
			p++;
			continue;
		}
		sb_putc(&b, *p);
	}
	sb_str(&b, "\r\n", NULL);
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

/* A string json_pack's "s" would take: NULL (out of memory) when s is NULL. */
static json_t *str_of(const char *s)
{
	return s ? json_string(s) : NULL;
}

static json_t *spf_json(const struct auth_facts *f)
{
	static const char *const keys[] = {"result",      "domain",   "helo",
	                                   "explanation", "identity", "reason"};
	if (!f->spf_shown || !f->spf_done)
		return json_null();
	json_t *v[] = {str_of(spf_result_name(f->spf)),
	               str_or_null(f->spf_domain),
	               str_or_null(f->helo),
	               str_or_null(f->spf_explanation),
	               json_string(f->spf_identity == SPF_ID_HELO ? "helo" : "mailfrom"),
	               str_or_null(f->spf_reason)};
	return json_object_of(keys, v, 6);
}

static json_t *dkim_one(const struct auth_facts *f, size_t i)
{
	static const char *const keys[] = {"result",  "domain", "selector",     "algorithm",
	                                   "aligned", "reason", "body_unsigned"};
	const struct dkim_sig_result *s = &f->dkim[i];
	json_t *v[] = {str_of(dkim_status_name(s->status)),
	               str_or_null(s->domain),
	               str_or_null(s->selector),
	               str_or_null(s->algorithm),
	               json_boolean(f->dkim_aligned[i]),
	               str_or_null(s->reason),
	               json_integer((json_int_t)(s->body_unsigned > INT64_MAX ? INT64_MAX
	                                                                      : s->body_unsigned))};
	return json_object_of(keys, v, 7);
}

static json_t *dkim_json(const struct auth_facts *f)
{
	json_t *a = json_array(); /* the payload schema wants an array even when off */
	if (!f->dkim_shown)
		return a;
	for (size_t i = 0; a && i < f->n_dkim; i++)
		json_array_append_new(a, dkim_one(f, i));
	return a;
}

static json_t *dmarc_json(const struct auth_facts *f)
{
	static const char *const keys[] = {"result",        "domain", "policy",      "disposition",
	                                   "policy_domain", "reason", "arc_override"};
	if (!f->dmarc_shown)
		return json_null();
	const struct dmarc_outcome *d = &f->dmarc;
	const char *pol = dmarc_policy_name(d->policy);
	const char *dis = d->result == DMARC_RESULT_FAIL || d->result == DMARC_RESULT_PASS
	                      ? dmarc_policy_name(d->disposition)
	                      : NULL;
	json_t *v[] = {str_of(dmarc_result_name(d->result)),
	               str_or_null(d->domain),
	               str_or_null(pol),
	               str_or_null(dis),
	               str_or_null(d->policy_domain),
	               str_or_null(d->reason),
	               json_boolean(f->arc_override)};
	return json_object_of(keys, v, 7);
}

static json_t *arc_json(const struct auth_facts *f)
{
	static const char *const keys[] = {"result", "instance", "reason", "sealer",
	                                   "trusted_sealer"};
	if (!f->arc_shown)
		return json_null();
	const char *r =
	    f->arc == ARC_FAIL && f->arc_temporary ? "temperror" : arc_status_name(f->arc);
	json_t *v[] = {str_of(r), json_integer(f->arc_instance), str_or_null(f->arc_reason),
	               str_or_null(f->arc_sealer),
	               f->arc_override ? json_string(f->arc_sealer) : json_null()};
	return json_object_of(keys, v, 5);
}

json_t *auth_results_json(const struct auth_facts *f, const char *ar_value)
{
	static const char *const keys[] = {"spf", "dkim", "dmarc", "arc", "authentication_results"};
	json_t *v[] = {spf_json(f), dkim_json(f), dmarc_json(f), arc_json(f), str_of(ar_value)};
	return json_object_of(keys, v, 5);
}

/*
 * What each verdict does and which check speaks for it. The reply it gets
 * (code, enhanced status, text) is the SMTP front end's business: its one
 * catalogue maps these ids (gateway/smtp/smtp_catalog.c).
 */
static const struct {
	enum auth_action action;
	const char *check;
} verdicts[AUTH_V_MAX] = {
    [AUTH_V_ACCEPT] = {AUTH_ACCEPT, NULL},
    [AUTH_V_QUARANTINE] = {AUTH_QUARANTINE, "dmarc"},
    [AUTH_V_SPF_FAIL] = {AUTH_REJECT, "spf"},
    [AUTH_V_SPF_TEMP] = {AUTH_TEMPFAIL, "spf"},
    [AUTH_V_DKIM_FAIL] = {AUTH_REJECT, "dkim"},
    [AUTH_V_DKIM_TEMP] = {AUTH_TEMPFAIL, "dkim"},
    [AUTH_V_ARC_FAIL] = {AUTH_REJECT, "arc"},
    [AUTH_V_ARC_TEMP] = {AUTH_TEMPFAIL, "arc"},
    [AUTH_V_DMARC_REJECT] = {AUTH_REJECT, "dmarc"},
    /* RFC 7489 section 6.6.1: the authors cannot all be checked; refusing is allowed. */
    [AUTH_V_DMARC_PERMERROR] = {AUTH_REJECT, "dmarc"},
    [AUTH_V_DMARC_TEMP] = {AUTH_TEMPFAIL, "dmarc"},
};

static void set_verdict(struct auth_verdict *v, enum auth_verdict_id id)
{
	v->id = id;
	v->action = verdicts[id].action;
	v->check = verdicts[id].check;
}

void auth_spf_verdict(const struct auth_policy *p, enum spf_result r, struct auth_verdict *v)
{
	set_verdict(v, AUTH_V_ACCEPT);
	if (p->spf != POLICY_ENFORCE)
		return;
	if (r == SPF_FAIL)
		set_verdict(v, AUTH_V_SPF_FAIL);
	else if (r == SPF_TEMPERROR)
		set_verdict(v, AUTH_V_SPF_TEMP);
}

static enum auth_verdict_id dkim_verdict(const struct auth_facts *f)
{
	bool temp = false;
	if (f->n_dkim == 0)
		return AUTH_V_ACCEPT; /* unsigned mail is DMARC's business, not DKIM's */
	for (size_t i = 0; i < f->n_dkim; i++) {
		if (f->dkim[i].status == DKIM_PASS)
			return AUTH_V_ACCEPT;
		temp |= f->dkim[i].status == DKIM_TEMPERROR;
	}
	return temp ? AUTH_V_DKIM_TEMP : AUTH_V_DKIM_FAIL;
}

static enum auth_verdict_id dmarc_verdict(const struct auth_facts *f)
{
	const struct dmarc_outcome *d = &f->dmarc;
	if (d->result == DMARC_RESULT_TEMPERROR)
		return AUTH_V_DMARC_TEMP;
	if (d->result == DMARC_RESULT_PERMERROR)
		return AUTH_V_DMARC_PERMERROR; /* fails closed: no author escapes the check */
	if (d->result != DMARC_RESULT_FAIL || f->arc_override)
		return AUTH_V_ACCEPT;
	if (d->disposition == DMARC_POLICY_REJECT)
		return AUTH_V_DMARC_REJECT;
	return d->disposition == DMARC_POLICY_QUARANTINE ? AUTH_V_QUARANTINE : AUTH_V_ACCEPT;
}

/* Which of two outcomes speaks: a refusal before a delay before a quarantine. */
static int weight(enum auth_verdict_id id)
{
	static const int w[] = {
	    [AUTH_ACCEPT] = 0, [AUTH_QUARANTINE] = 1, [AUTH_TEMPFAIL] = 2, [AUTH_REJECT] = 3};
	return w[verdicts[id].action];
}

void auth_results_verdict(const struct auth_facts *f, const struct auth_policy *pol,
                          struct auth_verdict *v)
{
	enum auth_verdict_id best = AUTH_V_ACCEPT,
	                     c[4] = {AUTH_V_ACCEPT, AUTH_V_ACCEPT, AUTH_V_ACCEPT, AUTH_V_ACCEPT};
	if (pol->spf == POLICY_ENFORCE && f->spf_done)
		c[0] = f->spf == SPF_FAIL        ? AUTH_V_SPF_FAIL
		       : f->spf == SPF_TEMPERROR ? AUTH_V_SPF_TEMP
		                                 : AUTH_V_ACCEPT;
	if (pol->dkim == POLICY_ENFORCE && f->dkim_shown)
		c[1] = dkim_verdict(f);
	if (pol->arc == POLICY_ENFORCE && f->arc_shown && f->arc == ARC_FAIL)
		c[2] = f->arc_temporary ? AUTH_V_ARC_TEMP : AUTH_V_ARC_FAIL;
	if (pol->dmarc == POLICY_ENFORCE && f->dmarc_shown)
		c[3] = dmarc_verdict(f);
	for (size_t i = 0; i < 4; i++)
		if (weight(c[i]) > weight(best))
			best = c[i];
	set_verdict(v, best);
}
