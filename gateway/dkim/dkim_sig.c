/*
 * dkim_sig.c: signature header fields: DKIM-Signature (RFC 6376 3.5),
 * ARC-Message-Signature and ARC-Seal (RFC 8617 4.1.2, 4.1.3), parsed into
 * one struct, and the header hash of RFC 6376 3.7 / 5.4 with the
 * bottom-up instance selection of 5.4.2 (over-signing: a name listed more
 * often than it occurs hashes nothing for the absent instances).
 *
 * Parsing is strict: any malformed or unsupported tag makes the whole
 * signature unusable, with a short reason. Must never keep pointers into
 * the message past *_verify_start().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc.h"
#include "codec.h"
#include "dkim_int.h"

/* Records why a field is unusable; returns -1 so that callers can return it. */
static int set_err(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -1;
}

static bool is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* A DNS name of LDH (and '_') labels, 1..63 each, 253 in all; no trailing dot. */
static bool valid_dname(const char *p, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_ldh(p[i]) || ++label > 63)
			return false;
	}
	return label > 0;
}

static int copy_val(char *dst, size_t cap, const struct dkim_tag *t)
{
	if (!t || t->vlen >= cap)
		return -1;
	memcpy(dst, t->val, t->vlen);
	dst[t->vlen] = '\0';
	return 0;
}

/* Decimal of at most max_digits digits; -1 when empty, not digits or too long. */
static int parse_uint(const struct dkim_tag *t, size_t max_digits, uint64_t *out)
{
	uint64_t v = 0;

	if (!t || t->vlen == 0 || t->vlen > max_digits)
		return -1;
	for (size_t i = 0; i < t->vlen; i++) {
		if (t->val[i] < '0' || t->val[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(t->val[i] - '0');
	}
	*out = v;
	return 0;
}

static int parse_alg(struct dkim_sig *s, const struct dkim_tag *a)
{
	if (copy_val(s->a, sizeof(s->a), a) < 0)
		return -1;
	if (strcmp(s->a, "rsa-sha256") == 0)
		s->alg = DKIM_ALG_RSA_SHA256;
	else if (strcmp(s->a, "ed25519-sha256") == 0)
		s->alg = DKIM_ALG_ED25519_SHA256;
	else if (strcmp(s->a, "rsa-sha1") == 0 && s->kind == DKIM_KIND_SIG)
		s->alg = DKIM_ALG_RSA_SHA1; /* ARC never allowed SHA-1 */
	else
		return -1;
	return 0;
}

static int parse_canon_word(const char *p, size_t n, enum dkim_canon *c)
{
	if (n == 6 && memcmp(p, "simple", 6) == 0)
		*c = DKIM_CANON_SIMPLE;
	else if (n == 7 && memcmp(p, "relaxed", 7) == 0)
		*c = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

static int parse_canon(struct dkim_sig *s, const struct dkim_tag *c)
{
	s->hc = s->bc = DKIM_CANON_SIMPLE;
	if (c) {
		const char *slash = memchr(c->val, '/', c->vlen);
		size_t hn = slash ? (size_t)(slash - c->val) : c->vlen;
		if (parse_canon_word(c->val, hn, &s->hc) < 0)
			return -1;
		if (slash && parse_canon_word(slash + 1, c->vlen - hn - 1, &s->bc) < 0)
			return -1;
	}
	snprintf(s->canon, sizeof(s->canon), "%s/%s",
	         s->hc == DKIM_CANON_RELAXED ? "relaxed" : "simple",
	         s->bc == DKIM_CANON_RELAXED ? "relaxed" : "simple");
	return 0;
}

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* h= : names separated by ':' with FWS around; an empty name matches no field. */
static int parse_h(struct dkim_sig *s, const struct dkim_tag *h)
{
	size_t i = 0;

	s->nh = 0;
	if (!h)
		return -1;
	while (i <= h->vlen) {
		size_t j = i;
		while (j < h->vlen && h->val[j] != ':')
			j++;
		size_t a = i, b = j;
		while (a < b && is_fws(h->val[a]))
			a++;
		while (b > a && is_fws(h->val[b - 1]))
			b--;
		if (s->nh == DKIM_MAX_SIGNED_HEADERS)
			return -1;
		for (size_t k = a; k < b; k++)
			if (is_fws(h->val[k]))
				return -1;
		s->h[s->nh].p = h->val + a;
		s->h[s->nh].len = b - a;
		s->nh++;
		i = j + 1;
	}
	if (s->nh == 1 && s->h[0].len == 0)
		s->nh = 0; /* "h=" */
	return 0;
}

static bool h_has(const struct dkim_sig *s, const char *name)
{
	size_t n = strlen(name);

	for (size_t k = 0; k < s->nh; k++)
		if (s->h[k].len == n && strncasecmp(s->h[k].p, name, n) == 0)
			return true;
	return false;
}

/* i= must be "[local]@domain" with domain equal to d= or below it (RFC 6376 3.5). */
static int parse_identity(struct dkim_sig *s, const struct dkim_tag *i)
{
	if (!i) {
		snprintf(s->i, sizeof(s->i), "@%s", s->d);
		return 0;
	}
	if (copy_val(s->i, sizeof(s->i), i) < 0)
		return -1;
	const char *at = strrchr(s->i, '@');
	if (!at)
		return -1;
	size_t dl = strlen(s->d), il = strlen(at + 1);
	if (il < dl || strcasecmp(at + 1 + il - dl, s->d) != 0)
		return -1;
	if (il > dl && at[1 + il - dl - 1] != '.')
		return -1;
	return 0;
}

static bool q_ok(const struct dkim_tag *q)
{
	size_t i = 0;

	if (!q)
		return true;
	while (i < q->vlen) {
		size_t j = i;
		while (j < q->vlen && q->val[j] != ':')
			j++;
		if (j - i >= 7 && memcmp(q->val + i, "dns/txt", 7) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

static int parse_b(struct dkim_sig *s, const struct dkim_tag *b, size_t vbase)
{
	size_t k = 0;

	if (!b || b->vlen == 0)
		return -1;
	/* RFC 6376 section 2.4: FWS may appear anywhere in base64 tag values. */
	if (codec_b64_decode(b->val, b->vlen, s->b, sizeof(s->b), &s->blen, CODEC_B64_SKIP_FWS) <
	        0 ||
	    !s->blen)
		return -1;
	for (size_t i = 0; i < b->vlen && k < DKIM_HEADER_B_LEN; i++)
		if (!is_fws(b->val[i]))
			s->header_b[k++] = b->val[i];
	s->header_b[k] = '\0';
	s->b_start = vbase + b->raw_start;
	s->b_end = vbase + b->raw_end;
	return 0;
}

static int parse_times(struct dkim_sig *s, const struct dkim_taglist *tl)
{
	const struct dkim_tag *t = dkim_tags_get(tl, "t"), *x = dkim_tags_get(tl, "x");
	uint64_t v;

	s->t = s->x = -1;
	if (t) {
		if (parse_uint(t, 12, &v) < 0)
			return -1;
		s->t = (int64_t)v;
	}
	if (x && s->kind != DKIM_KIND_AS) {
		if (parse_uint(x, 12, &v) < 0)
			return -1;
		s->x = (int64_t)v;
		if (s->t >= 0 && s->x < s->t)
			return -1;
	}
	return 0;
}

static int parse_arc_tags(struct dkim_sig *s, const struct dkim_taglist *tl, char *err,
                          size_t errlen)
{
	uint64_t v;

	if (parse_uint(dkim_tags_get(tl, "i"), 2, &v) < 0 || v < 1 || v > ARC_MAX_INSTANCES) {
		set_err(err, errlen, "bad i= instance");
		return -1;
	}
	s->instance = (int)v;
	if (s->kind != DKIM_KIND_AS)
		return 0;
	const struct dkim_tag *cv = dkim_tags_get(tl, "cv");
	if (dkim_tag_is(cv, "none"))
		s->cv = 0;
	else if (dkim_tag_is(cv, "pass"))
		s->cv = 1;
	else if (dkim_tag_is(cv, "fail"))
		s->cv = 2;
	else {
		set_err(err, errlen, "bad cv=");
		return -1;
	}
	if (dkim_tags_get(tl, "h")) {
		set_err(err, errlen, "ARC-Seal has h=");
		return -1;
	}
	return 0;
}

/* Tags that only DKIM-Signature and ARC-Message-Signature have. */
static int parse_msg_tags(struct dkim_sig *s, const struct dkim_taglist *tl, char *err,
                          size_t errlen)
{
	const struct dkim_tag *bh = dkim_tags_get(tl, "bh"), *l = dkim_tags_get(tl, "l");

	if (parse_canon(s, dkim_tags_get(tl, "c")) < 0)
		return set_err(err, errlen, "bad c=");
	if (!bh || bh->vlen == 0 ||
	    codec_b64_decode(bh->val, bh->vlen, s->bh, sizeof(s->bh), &s->bhlen,
	                     CODEC_B64_SKIP_FWS) < 0)
		return set_err(err, errlen, "bad bh=");
	if (parse_h(s, dkim_tags_get(tl, "h")) < 0)
		return set_err(err, errlen, "bad h=");
	if (l) {
		if (parse_uint(l, 19, &s->l) < 0)
			return set_err(err, errlen, "bad l=");
		s->has_l = true;
	}
	if (s->kind == DKIM_KIND_AMS && h_has(s, "arc-seal"))
		return set_err(err, errlen, "h= includes ARC-Seal");
	if (s->kind != DKIM_KIND_SIG)
		return 0;
	if (!h_has(s, "from"))
		return set_err(err, errlen, "From not signed");
	if (parse_identity(s, dkim_tags_get(tl, "i")) < 0)
		return set_err(err, errlen, "bad i= (not within d=)");
	if (!q_ok(dkim_tags_get(tl, "q")))
		return set_err(err, errlen, "unsupported q=");
	return 0;
}

static int parse_common(struct dkim_sig *s, const struct dkim_taglist *tl, size_t vbase, char *err,
                        size_t errlen)
{
	const struct dkim_tag *d = dkim_tags_get(tl, "d"), *sel = dkim_tags_get(tl, "s");

	if (copy_val(s->d, sizeof(s->d), d) < 0 || !valid_dname(s->d, strlen(s->d)))
		return set_err(err, errlen, "bad d=");
	if (copy_val(s->s, sizeof(s->s), sel) < 0 || !valid_dname(s->s, strlen(s->s)))
		return set_err(err, errlen, "bad s=");
	if (parse_alg(s, dkim_tags_get(tl, "a")) < 0)
		return set_err(err, errlen, "unsupported a=");
	if (parse_b(s, dkim_tags_get(tl, "b"), vbase) < 0)
		return set_err(err, errlen, "bad b=");
	if (parse_times(s, tl) < 0)
		return set_err(err, errlen, "bad t= or x=");
	return 0;
}

/* Keeps what is reportable even from a malformed field (d=, s=, a=, b=). */
static void salvage(struct dkim_sig *s, const struct dkim_taglist *tl)
{
	const struct dkim_tag *b = dkim_tags_get(tl, "b");
	size_t k = 0;

	if (!s->d[0] && copy_val(s->d, sizeof(s->d), dkim_tags_get(tl, "d")) < 0)
		s->d[0] = '\0';
	if (!s->s[0] && copy_val(s->s, sizeof(s->s), dkim_tags_get(tl, "s")) < 0)
		s->s[0] = '\0';
	if (!s->a[0] && copy_val(s->a, sizeof(s->a), dkim_tags_get(tl, "a")) < 0)
		s->a[0] = '\0';
	for (size_t i = 0; b && i < b->vlen && k < DKIM_HEADER_B_LEN; i++)
		if (!is_fws(b->val[i]))
			s->header_b[k++] = b->val[i];
	s->header_b[k] = '\0';
}

int dkim_sig_parse(struct dkim_sig *s, const struct dkim_field *f, enum dkim_kind kind, char *err,
                   size_t errlen)
{
	struct dkim_taglist tl;
	size_t vbase = f->colon + 1;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->field = f;
	s->t = s->x = -1;
	if (vbase > f->len || dkim_tags_parse(f->p + vbase, f->len - vbase, &tl) < 0) {
		set_err(err, errlen, "signature syntax error");
		return -1;
	}
	if (kind == DKIM_KIND_SIG && !dkim_tag_is(dkim_tags_get(&tl, "v"), "1")) {
		set_err(err, errlen, "bad or missing v=");
		goto out;
	}
	if (kind != DKIM_KIND_SIG && parse_arc_tags(s, &tl, err, errlen) < 0)
		goto out;
	if (parse_common(s, &tl, vbase, err, errlen) < 0)
		goto out;
	if (kind != DKIM_KIND_AS && parse_msg_tags(s, &tl, err, errlen) < 0)
		goto out;
	if (kind == DKIM_KIND_AS)
		s->hc = s->bc = DKIM_CANON_RELAXED;
	rc = 0;
out:
	if (rc < 0)
		salvage(s, &tl);
	return rc;
}

const EVP_MD *dkim_sig_md(const struct dkim_sig *s)
{
	return dkim_md(s->alg == DKIM_ALG_RSA_SHA1);
}

int dkim_sig_hash_self(EVP_MD_CTX *md, const struct dkim_sig *s)
{
	const struct dkim_field *f = s->field;
	char *copy = malloc(f->len + 1);
	int rc;

	if (!copy)
		return -1;
	memcpy(copy, f->p, s->b_start);
	memcpy(copy + s->b_start, f->p + s->b_end, f->len - s->b_end);
	rc = dkim_canon_header(md, s->hc, copy, f->len - (s->b_end - s->b_start), false);
	free(copy);
	return rc;
}

/* The next unused instance of name, from the bottom (RFC 6376 5.4.2), or -1. */
static long pick_field(const struct dkim_msg *m, unsigned char *used, const struct dkim_hname *h)
{
	if (h->len == 0)
		return -1;
	for (size_t k = m->nf; k-- > 0;) {
		if (used[k] || !dkim_field_is(&m->f[k], h->p, h->len))
			continue;
		used[k] = 1;
		return (long)k;
	}
	return -1;
}

int dkim_sig_header_hash(struct dkim_sig *s, const struct dkim_msg *m)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *used = calloc(m->nf ? m->nf : 1, 1);
	int rc = -1;

	if (!md || !used || EVP_DigestInit_ex(md, dkim_sig_md(s), NULL) != 1)
		goto out;
	for (size_t k = 0; k < s->nh; k++) {
		long idx = pick_field(m, used, &s->h[k]);
		if (idx < 0)
			continue; /* absent: contributes nothing */
		const struct dkim_field *f = &m->f[idx];
		if (dkim_canon_header(md, s->hc, f->p, f->len, true) < 0)
			goto out;
	}
	if (dkim_sig_hash_self(md, s) < 0 || EVP_DigestFinal_ex(md, s->hhash, &s->hhlen) != 1)
		goto out;
	rc = 0;
out:
	free(used);
	EVP_MD_CTX_free(md);
	return rc;
}

int dkim_sig_body_hash(struct dkim_sig *s, const struct dkim_msg *m, struct dkim_bh_cache *bc)
{
	struct dkim_bh_slot tmp;
	const struct dkim_bh_slot *r;

	r = dkim_body_hash(bc, m->body, m->blen, s->bc, s->has_l ? s->l : UINT64_MAX,
	                   dkim_sig_md(s), &tmp);
	if (!r && bc && bc->over) {
		bc->over = false;
		s->bh_ok = false;
		s->bh_skipped = true;
		return 0;
	}
	if (!r)
		return -1;
	s->body_total = r->total;
	s->bh_ok = r->dlen == s->bhlen && memcmp(r->digest, s->bh, r->dlen) == 0;
	return 0;
}

int dkim_sig_key_name(const struct dkim_sig *s, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s._domainkey.%s", s->s, s->d);

	return (n < 0 || (size_t)n >= cap || n > 253) ? -1 : 0;
}
