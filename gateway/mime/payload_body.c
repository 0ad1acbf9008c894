/*
 * payload_body.c: the MIME tree of a message in the payload.
 *
 * Owns: the choice of message.text and message.html (RFC 2046 section
 * 5.1.4: the last alternative a client understands wins; section 5.1.3:
 * the parts of a multipart/mixed are shown in order, so text parts are
 * joined; RFC 2387: the root of a multipart/related is the body, the rest
 * are its resources), message.attachments (RFC 2183 dispositions, RFC 2231
 * and RFC 2047 file names through GMime, message/rfc822 kept as the
 * original bytes, RFC 2046 section 5.2.1), their size, SHA-256 and base64
 * content, and the caps on MIME depth and part count.
 *
 * Must never: descend deeper than max_mime_depth or visit more than
 * max_mime_parts parts (what is beyond becomes a warning, deep multiparts
 * opaque attachments); hold a decoded attachment whole (contents are
 * streamed through the hash and the base64 encoder); read outside the
 * caller's bytes.
 */
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "payload_int.h"

#define BOUNDARY_STACK 64 /* ancestor boundaries remembered for message/rfc822 slices */

struct walk {
	struct pctx *c;
	struct pbuf text, html;
	bool has_text, has_html;
	json_t *attachments;
	uint32_t n_attachments;
	const char *bounds[BOUNDARY_STACK]; /* enclosing multipart boundaries, outermost first */
	size_t n_bounds;
};

static void walk(struct walk *w, GMimeObject *o, uint32_t depth);
static void dispatch(struct walk *w, GMimeObject *o, uint32_t depth, bool resource);

/* ---- contents: decoded bytes of a part, as a stream ---- */

static int serialise(GMimeObject *o, bool crlf, psink_fn sink, void *arg)
{
	GMimeStream *s = g_mime_stream_mem_new();
	GMimeFormatOptions *fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, crlf ? GMIME_NEWLINE_FORMAT_DOS
	                                                  : GMIME_NEWLINE_FORMAT_UNIX);
	int rc = 0;
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m)
			g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, s);
	} else {
		g_mime_object_write_to_stream(o, fo, s);
	}
	GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	if (a && a->len)
		rc = sink(arg, (const char *)a->data, a->len);
	g_mime_format_options_free(fo);
	g_object_unref(s);
	return rc;
}

/*
 * The bytes of a deferred value, counted by pctx_input_progress (a raw
 * slice in GIVE_BACK_CHUNK pieces), so that the input's pages go back as
 * it is read when it is a file mapping. *b64_canonical (or NULL): the
 * part's base64 text may be copied (pmime_decode_canon).
 */
static int content_bytes(struct pctx *c, struct pdeferred *d, psink_fn sink, void *arg,
                         bool *b64_canonical)
{
	struct pprogress g = {.c = c, .sink = sink, .arg = arg};

	if (b64_canonical)
		*b64_canonical = false;
	if (!d->part) {
		for (size_t i = 0; i < d->raw_len;) {
			size_t n =
			    d->raw_len - i < GIVE_BACK_CHUNK ? d->raw_len - i : GIVE_BACK_CHUNK;
			if (pctx_progress_sink(&g, d->raw + i, n) < 0)
				return -1;
			i += n;
		}
		return 0;
	}
	if (GMIME_IS_PART(d->part))
		return pmime_decode_canon(g_mime_part_get_content(GMIME_PART(d->part)),
		                          pctx_progress_sink, &g, b64_canonical);
	return serialise(d->part, d->crlf, sink, arg);
}

static int b64_sink(void *arg, const char *p, size_t n)
{
	return pb64_add(arg, (const unsigned char *)p, n);
}

int pbody_stream_content(struct pctx *c, struct pdeferred *d, psink_fn sink, void *arg)
{
	struct pb64 e;
	struct pprogress g = {.c = c, .sink = sink, .arg = arg};
	if (d->b64_copy) /* decoding and encoding again would write the same characters */
		return pmime_copy_b64(g_mime_part_get_content(GMIME_PART(d->part)),
		                      pctx_progress_sink, &g);
	pb64_init(&e, sink, arg);
	if (content_bytes(c, d, b64_sink, &e, NULL) < 0)
		return -1;
	return pb64_end(&e);
}

/* One pass over an attachment: size, SHA-256 and (inline, tree mode) base64. */
struct measure {
	EVP_MD_CTX *md;
	uint64_t size;
	struct pb64 *b64; /* NULL: no content wanted now */
};

static int measure_sink(void *arg, const char *p, size_t n)
{
	struct measure *m = arg;
	m->size += n;
	if (EVP_DigestUpdate(m->md, p, n) != 1)
		return -1;
	return m->b64 ? pb64_add(m->b64, (const unsigned char *)p, n) : 0;
}

static int pbuf_sink(void *arg, const char *p, size_t n)
{
	return pbuf_add(arg, p, n);
}

/* ---- message/rfc822: the original bytes ---- */

/* Does a delimiter line of boundary b start at p (just after a newline)? RFC 2046 5.1.1 */
static bool delimiter_at(const char *p, const char *end, const char *b)
{
	size_t bl = strlen(b);
	if ((size_t)(end - p) < bl + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, bl) != 0)
		return false;
	p += bl + 2;
	if (end - p >= 2 && p[0] == '-' && p[1] == '-')
		p += 2;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end || *p == '\r' || *p == '\n';
}

/*
 * The embedded message runs from its first header to the CRLF before the
 * next delimiter of any enclosing multipart (the CRLF belongs to the
 * delimiter, RFC 2046 section 5.1.1), or to the end of the input: the
 * same rule GMime's parser applies, so the slice is what it parsed.
 */
static bool rfc822_slice(struct walk *w, GMimeObject *o, const char **p, size_t *n)
{
	const char *te = g_mime_object_get_header(o, "Content-Transfer-Encoding");
	if (te && strcasecmp(te, "7bit") != 0 && strcasecmp(te, "8bit") != 0 &&
	    strcasecmp(te, "binary") != 0)
		return false;
	GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
	GMimeHeaderList *hl = m ? g_mime_object_get_header_list(GMIME_OBJECT(m)) : NULL;
	GMimeHeader *h = hl && g_mime_header_list_get_count(hl) > 0
	                     ? g_mime_header_list_get_header_at(hl, 0)
	                     : NULL;
	gint64 start = h ? g_mime_header_get_offset(h) : -1;
	const char *data = w->c->msg->data, *end = data + w->c->gm_end;
	if (start < 0)
		return false;
	start = (gint64)pscan_orig_offset(w->c, (size_t)start); /* GMime's offsets: its input */
	if ((uint64_t)start >= w->c->gm_end)
		return false;
	const char *s = data + start;
	for (const char *q = s; q < end; q++) {
		q = memchr(q, '\n', (size_t)(end - q));
		if (!q)
			break;
		for (size_t i = 0; i < w->n_bounds; i++) {
			if (delimiter_at(q + 1, end, w->bounds[i])) {
				end = q > s && q[-1] == '\r' ? q - 1 : q;
				*p = s;
				*n = (size_t)(end - s);
				return true;
			}
		}
	}
	*p = s;
	*n = (size_t)(end - s);
	return true;
}

/* ---- attachments ---- */

/* Without a Content-Disposition (RFC 2183), a part with a Content-ID is a resource shown inline. */
static const char *disposition(GMimeObject *o)
{
	const char *d = g_mime_object_get_disposition(o);
	if (!d)
		return g_mime_object_get_content_id(o) ? "inline" : "attachment";
	return strcasecmp(d, "inline") == 0 ? "inline" : "attachment";
}

static json_t *params_json(struct pctx *c, GMimeContentType *ct)
{
	json_t *o = json_object();
	GMimeParamList *pl = ct ? g_mime_content_type_get_parameters(ct) : NULL;
	int n = pl ? g_mime_param_list_length(pl) : 0;
	for (int i = 0; o && i < n && i < 64; i++) {
		GMimeParam *p = g_mime_param_list_get_parameter_at(pl, i);
		const char *name = g_mime_param_get_name(p), *v = g_mime_param_get_value(p);
		if (!name || !v || strcasecmp(name, "name") == 0 ||
		    strcasecmp(name, "boundary") == 0)
			continue;
		char key[64];
		size_t k = 0;
		for (; name[k] && k < sizeof(key) - 1; k++)
			key[k] = (char)g_ascii_tolower(name[k]);
		key[k] = '\0';
		if (putf8_valid(key, k) == k)
			json_object_set_new_nocheck(o, key, ptext_json0(c, v, "parameter"));
	}
	return o;
}

static const char *filename_of(GMimeObject *o)
{
	const char *f = NULL;
	if (GMIME_IS_PART(o))
		return g_mime_part_get_filename(GMIME_PART(o));
	f = g_mime_object_get_content_disposition_parameter(o, "filename");
	return f ? f : g_mime_object_get_content_type_parameter(o, "name");
}

static int attachment_content(struct walk *w, json_t *a, struct pdeferred *d)
{
	struct pctx *c = w->c;
	bool want = c->opt->attachments == ATTACH_INLINE;
	struct measure m = {.md = EVP_MD_CTX_new()};
	struct pbuf b = {.max = SIZE_MAX / 2};
	struct pb64 e;
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int mdlen = 0;
	bool canonical = false;
	int rc = -1;

	if (want && !c->defer) {
		pb64_init(&e, pbuf_sink, &b);
		m.b64 = &e;
	}
	if (!m.md || EVP_DigestInit_ex(m.md, EVP_sha256(), NULL) != 1 ||
	    content_bytes(c, d, measure_sink, &m, &canonical) < 0 ||
	    (m.b64 && pb64_end(m.b64) < 0) || EVP_DigestFinal_ex(m.md, md, &mdlen) != 1)
		goto out;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	json_t *content = json_null();
	if (want && c->defer) {
		content = pctx_placeholder();
		d->placeholder = content;
		if (content && pctx_defer(c, content, d->part, d->raw, d->raw_len) < 0)
			goto out;
		c->deferred[c->n_deferred - 1].crlf = c->crlf;
		c->deferred[c->n_deferred - 1].b64_copy = canonical;
	} else if (want) {
		content = json_stringn_nocheck(b.p ? b.p : "", b.len);
	}
	if (json_object_set_new_nocheck(a, "size", json_integer((json_int_t)m.size)) < 0 ||
	    json_object_set_new_nocheck(a, "sha256", json_stringn(hex, 2 * mdlen)) < 0 ||
	    !content) {
		json_decref(content); /* not in the tree yet: out of memory must not leak it */
		goto out;
	}
	if (json_object_set_new_nocheck(a, "content", content) < 0)
		goto out;
	rc = 0;
out:
	pbuf_free(&b);
	EVP_MD_CTX_free(m.md);
	return rc;
}

static void add_attachment(struct walk *w, GMimeObject *o)
{
	struct pctx *c = w->c;
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	const char *fn = filename_of(o);
	const char *cid = g_mime_object_get_content_id(o);
	struct pdeferred d = {.part = o, .crlf = c->crlf};

	w->n_attachments++;
	if (c->opt->attachments == ATTACH_OMIT) {
		g_free(type);
		return;
	}
	if (type)
		for (char *p = type; *p; p++)
			*p = (char)g_ascii_tolower(*p);
	if (GMIME_IS_MESSAGE_PART(o) && rfc822_slice(w, o, &d.raw, &d.raw_len))
		d.part = NULL;
	json_t *a =
	    json_pack("{s:o, s:o, s:o, s:s, s:o}", "filename",
	              fn ? ptext_json0(c, fn, "filename") : json_null(), "content_type",
	              ptext_json0(c, type ? type : "application/octet-stream", "type"),
	              "content_type_params", params_json(c, ct), "disposition", disposition(o),
	              "content_id", cid ? ptext_json0(c, cid, "Content-ID") : json_null());
	g_free(type);
	if (!a || attachment_content(w, a, &d) < 0) {
		json_decref(a); /* out of memory: the half-built attachment is not leaked */
		c->oom = 1;
	} else if (json_array_append_new(w->attachments, a) < 0) {
		c->oom = 1;
	}
}

/* ---- bodies ---- */

static bool is_type(GMimeObject *o, const char *type, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	return ct && g_mime_content_type_is_type(ct, type, subtype);
}

/*
 * RFC 2045 section 5.2: a syntactically invalid Content-Type is taken as
 * text/plain. GMime substitutes application/octet-stream; undo that when
 * the field did not say so.
 */
static bool invalid_content_type(GMimeObject *o)
{
	if (!is_type(o, "application", "octet-stream"))
		return false;
	const char *raw = g_mime_object_get_header(o, "Content-Type");
	if (!raw)
		return false;
	while (*raw == ' ' || *raw == '\t')
		raw++;
	return g_ascii_strncasecmp(raw, "application/octet-stream", 24) != 0;
}

/* A text/plain or text/html part the sender meant as the message, not as a file. */
static bool is_body(GMimeObject *o)
{
	if (!GMIME_IS_PART(o) || (!is_type(o, "text", "plain") && !is_type(o, "text", "html") &&
	                          !invalid_content_type(o)))
		return false;
	const char *d = g_mime_object_get_disposition(o);
	if (d && strcasecmp(d, "attachment") == 0)
		return false;
	return g_mime_part_get_filename(GMIME_PART(o)) == NULL;
}

static void append_text(struct walk *w, struct pbuf *dst, bool *has, struct pbuf *src)
{
	if (!*has && dst->len == 0) { /* the first part: take its buffer, no copy */
		size_t max = dst->max;
		pbuf_free(dst);
		*dst = *src;
		dst->max = max > src->max ? max : src->max;
		*src = (struct pbuf){.max = src->max};
		*has = true;
		return;
	}
	/* joined parts are separated by a line break, so two paragraphs never fuse */
	if (*has && dst->len && dst->p[dst->len - 1] != '\n' && pbuf_add(dst, "\n", 1) < 0)
		w->c->oom = 1;
	if (pbuf_add(dst, src->p, src->len) < 0)
		w->c->oom = 1;
	*has = true;
}

static void add_body(struct walk *w, GMimeObject *o)
{
	struct pctx *c = w->c;
	bool html = is_type(o, "text", "html");
	struct pbuf raw = {.max = c->msg->len + 64}, text = {.max = c->msg->len * 3 + 64};
	char where[64];

	snprintf(where, sizeof(where), "%s part %u", html ? "text/html" : "text/plain", c->parts);
	GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(o));
	size_t expect = pmime_encoded_length(content);
	if (expect > raw.max)
		expect = raw.max;
	const char *charset = g_mime_object_get_content_type_parameter(o, "charset");
	/* a big part's input pages go back as it is decoded: never both resident */
	struct pprogress g = {.c = c, .sink = pbuf_sink, .arg = &raw};
	if (pbuf_reserve(&raw, expect) < 0 || pmime_decode(content, pctx_progress_sink, &g) < 0) {
		c->oom = 1;
		goto out;
	}
	if (ptext_is_clean(raw.p ? raw.p : "", raw.len, charset)) {
		text = raw; /* already UTF-8: no copy */
		raw = (struct pbuf){0};
	} else {
		c->consumable = raw.p; /* thrown away below: its pages may go as it is converted */
		c->consumable_len = raw.len;
		int rc = ptext_to_utf8(c, raw.p ? raw.p : "", raw.len, charset, &text, where);
		c->consumable = NULL;
		c->consumable_len = 0;
		if (rc < 0) {
			c->oom = 1;
			goto out;
		}
	}
	ptext_crlf_to_lf(&text);
	const char *fmt = g_mime_object_get_content_type_parameter(o, "format");
	if (!html && fmt && strcasecmp(fmt, "flowed") == 0) {
		const char *delsp = g_mime_object_get_content_type_parameter(o, "delsp");
		ptext_unflow(&text, delsp && strcasecmp(delsp, "yes") == 0);
	}
	if (text.len && memchr(text.p, '\0', text.len))
		pctx_warn(c, "nul_bytes", "%s: NUL bytes kept as \\u0000", where);
	if (html)
		append_text(w, &w->html, &w->has_html, &text);
	else
		append_text(w, &w->text, &w->has_text, &text);
out:
	pbuf_free(&raw);
	pbuf_free(&text);
}

/* ---- the walk ---- */

static void walk_children(struct walk *w, GMimeMultipart *mp, uint32_t depth, int skip)
{
	int n = g_mime_multipart_get_count(mp);
	for (int i = 0; i < n && !w->c->parts_capped; i++) {
		GMimeObject *child = g_mime_multipart_get_part(mp, i);
		if (i == skip)
			continue;
		walk(w, child, depth);
	}
}

/* RFC 2046 5.1.4: the last text/plain and the last text/html alternative win. */
static void walk_alternative(struct walk *w, GMimeMultipart *mp, uint32_t depth)
{
	int n = g_mime_multipart_get_count(mp);
	struct walk best = {.c = w->c,
	                    .attachments = w->attachments,
	                    .text.max = w->text.max,
	                    .html.max = w->html.max};
	struct pbuf empty = {.max = w->text.max};

	memcpy(best.bounds, w->bounds, sizeof(w->bounds));
	best.n_bounds = w->n_bounds;
	for (int i = 0; i < n && !w->c->parts_capped; i++) {
		struct walk sub = best;
		sub.text = empty;
		sub.html = empty;
		sub.has_text = sub.has_html = false;
		sub.n_attachments = 0;
		walk(&sub, g_mime_multipart_get_part(mp, i), depth);
		w->n_attachments += sub.n_attachments;
		if (sub.has_text) {
			pbuf_free(&best.text);
			best.text = sub.text;
			best.has_text = true;
		} else {
			pbuf_free(&sub.text);
		}
		if (sub.has_html) {
			pbuf_free(&best.html);
			best.html = sub.html;
			best.has_html = true;
		} else {
			pbuf_free(&sub.html);
		}
	}
	if (best.has_text)
		append_text(w, &w->text, &w->has_text, &best.text);
	if (best.has_html)
		append_text(w, &w->html, &w->has_html, &best.html);
	pbuf_free(&best.text);
	pbuf_free(&best.html);
}

/* RFC 2387: the root (start parameter, else the first part) is the body. */
static void walk_related(struct walk *w, GMimeMultipart *mp, uint32_t depth)
{
	const char *start = g_mime_object_get_content_type_parameter(GMIME_OBJECT(mp), "start");
	int n = g_mime_multipart_get_count(mp), root = 0;

	if (start) {
		size_t sl = strlen(start);
		if (sl >= 2 && start[0] == '<')
			start++, sl -= 2;
		for (int i = 0; i < n; i++) {
			const char *cid =
			    g_mime_object_get_content_id(g_mime_multipart_get_part(mp, i));
			if (cid && strlen(cid) == sl && strncmp(cid, start, sl) == 0)
				root = i;
		}
	}
	if (n > 0)
		walk(w, g_mime_multipart_get_part(mp, root), depth);
	for (int i = 0; i < n && !w->c->parts_capped; i++)
		if (i != root)
			dispatch(w, g_mime_multipart_get_part(mp, i), depth, true);
}

/*
 * A multipart without parts (no boundary parameter, or delimiters that
 * never appear): GMime keeps the body as the preamble. It is shown as
 * text, as a non-MIME reader would show it, rather than lost.
 */
static void lone_preamble(struct walk *w, GMimeMultipart *mp)
{
	const char *pre = g_mime_multipart_get_prologue(mp);
	struct pctx *c = w->c;
	struct pbuf t = {.max = c->msg->len * 3 + 64};

	pctx_warn(c, "malformed_multipart",
	          "multipart without any part: its body is shown as text");
	if (!pre || !*pre)
		return;
	if (ptext_to_utf8(c, pre, strlen(pre),
	                  g_mime_object_get_content_type_parameter(GMIME_OBJECT(mp), "charset"), &t,
	                  "multipart body") < 0)
		c->oom = 1;
	ptext_crlf_to_lf(&t);
	append_text(w, &w->text, &w->has_text, &t);
	pbuf_free(&t);
}

static void walk_multipart(struct walk *w, GMimeMultipart *mp, uint32_t depth)
{
	GMimeObject *o = GMIME_OBJECT(mp);
	const char *b = g_mime_multipart_get_boundary(mp);
	bool pushed = false;

	if (g_mime_multipart_get_count(mp) == 0) {
		lone_preamble(w, mp);
		return;
	}

	if (b && w->n_bounds < BOUNDARY_STACK) {
		w->bounds[w->n_bounds++] = b;
		pushed = true;
	}
	if (is_type(o, "multipart", "alternative"))
		walk_alternative(w, mp, depth + 1);
	else if (is_type(o, "multipart", "related"))
		walk_related(w, mp, depth + 1);
	else
		walk_children(w, mp, depth + 1, -1);
	if (pushed)
		w->n_bounds--;
}

/* resource: a non-root part of a multipart/related, never a body */
static void dispatch(struct walk *w, GMimeObject *o, uint32_t depth, bool resource)
{
	struct pctx *c = w->c;

	if (!o || c->parts_capped)
		return;
	if (++c->parts > c->opt->max_mime_parts) {
		c->parts_capped = true;
		pctx_warn(c, "mime_part_limit", "more than %u MIME parts; the rest are not listed",
		          c->opt->max_mime_parts);
		return;
	}
	if (GMIME_IS_MULTIPART(o)) {
		if (depth >= c->opt->max_mime_depth) {
			pctx_warn(c, "mime_depth_limit",
			          "multipart nested deeper than %u levels kept as one attachment",
			          c->opt->max_mime_depth);
			add_attachment(w, o);
			return;
		}
		walk_multipart(w, GMIME_MULTIPART(o), depth);
	} else if (!resource && is_body(o)) {
		add_body(w, o);
	} else {
		add_attachment(w, o);
	}
}

static void walk(struct walk *w, GMimeObject *o, uint32_t depth)
{
	dispatch(w, o, depth, false);
}

/* In payload_write() mode the body moves to the deferred list, escaped at dump time. */
static json_t *body_json(struct walk *w, struct pbuf *b, bool has)
{
	if (!has)
		return json_null();
	if (!w->c->defer_text || b->len < 64)
		return json_stringn_nocheck(b->p ? b->p : "", b->len);
	json_t *j = pctx_placeholder();
	bool lent = b->p && b->p == w->c->lent; /* message.reply.text is a slice of it */
	if (!j || pctx_defer_text(w->c, j, b->p, b->len) < 0) {
		json_decref(j);
		j = NULL;
	} else {
		w->c->deferred[w->c->n_deferred - 1].lent = lent;
	}
	b->p = NULL;
	b->len = b->cap = 0;
	return j;
}

/* No message at all (GMime gave up): the bytes are shown as text so nothing is lost. */
static void no_message(struct walk *w)
{
	struct pctx *c = w->c;
	struct pbuf t = {.max = c->msg->len * 3 + 64};
	pctx_warn(c, "not_a_message", "no RFC 5322 message found; the input is shown as text");
	if (c->msg->len == 0)
		return;
	if (ptext_to_utf8(c, c->msg->data, c->msg->len, NULL, &t, "input") < 0)
		c->oom = 1;
	ptext_crlf_to_lf(&t);
	append_text(w, &w->text, &w->has_text, &t);
	pbuf_free(&t);
}

int pbody_message(struct pctx *c, GMimeMessage *m, json_t *out)
{
	size_t max = c->msg->len * 3 + 64; /* charset conversion at most triples a byte */
	struct walk w = {.c = c, .attachments = json_array(), .text.max = max, .html.max = max};
	if (!w.attachments)
		return -1;
	if (m)
		walk(&w, g_mime_message_get_mime_part(m), 0);
	else
		no_message(&w);
	pctx_give_back_input(c); /* what is left is read from the decoded texts */
	if (preply_message(c, m, &w.text, &w.has_text, &w.html, w.has_html, out) < 0)
		c->oom = 1;
	json_t *text = body_json(&w, &w.text, w.has_text);
	json_t *html = body_json(&w, &w.html, w.has_html);
	pbuf_free(&w.text);
	pbuf_free(&w.html);
	if (!text || !html || json_object_set_new_nocheck(out, "text", text) < 0 ||
	    json_object_set_new_nocheck(out, "html", html) < 0 ||
	    json_object_set_new_nocheck(out, "attachments", w.attachments) < 0 ||
	    json_object_set_new_nocheck(out, "attachment_count", json_integer(w.n_attachments)) < 0)
		c->oom = 1;
	return c->oom ? -1 : 0;
}
