/*
 * payload.c: the webhook payload, schema version 1 (docs/payload.md,
 * docs/payload.schema.json).
 *
 * Owns: payload_build() and payload_write(), the top-level object
 * (schema_version, id, received_at, envelope, auth, recipients, message,
 * warnings), the warning list, GMime's one-time initialisation and the
 * parse of the caller's bytes (RFC 5322, RFC 2045-2049 through GMime 3).
 *
 * Must never: open a socket, touch an event loop or keep state between
 * calls (GMime's g_mime_init() once per process is the only exception,
 * under pthread_once); copy the message (GMime reads the caller's memory
 * through a non-owning stream); fail on malformed mail (warnings instead).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "payload_int.h"

#define DEFAULT_MAX_HEADER_COUNT   1000
#define DEFAULT_MAX_MIME_DEPTH     32
#define DEFAULT_MAX_MIME_PARTS     1000
#define DEFAULT_MAX_HEADER_FIELD   (100 * 1024)
#define DEFAULT_MAX_HEADER_SECTION (1024 * 1024)

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
	g_mime_init();
}

void pgmime_init(void)
{
	pthread_once(&gmime_once, gmime_init_once);
}

void payload_options_default(struct payload_options *o)
{
	o->attachments = ATTACH_INLINE;
	o->include_raw = false;
	o->max_header_count = DEFAULT_MAX_HEADER_COUNT;
	o->max_mime_depth = DEFAULT_MAX_MIME_DEPTH;
	o->max_mime_parts = DEFAULT_MAX_MIME_PARTS;
	o->max_header_field_size = DEFAULT_MAX_HEADER_FIELD;
	o->max_header_section_size = DEFAULT_MAX_HEADER_SECTION;
	o->max_reply_scan = DEFAULT_MAX_REPLY_SCAN;
	o->kind_out = NULL;
}

void payload_options_from_route(struct payload_options *o, const struct gw_route *r,
                                const struct gw_limits *l)
{
	payload_options_default(o);
	if (r) {
		o->attachments = r->opts.attachments;
		o->include_raw = r->opts.include_raw;
	}
	if (l) {
		o->max_header_count = l->max_header_count;
		o->max_mime_depth = l->max_mime_depth;
		o->max_mime_parts = l->max_mime_parts;
		o->max_header_field_size = (uint32_t)l->max_header_field_size;
		o->max_header_section_size = (uint32_t)l->max_header_section_size;
		o->max_reply_scan = l->max_reply_scan;
	}
}

static bool warning_known(json_t *list, const char *code, const char *msg)
{
	size_t i;
	json_t *w;
	json_array_foreach(list, i, w)
	{
		if (strcmp(json_string_value(json_object_get(w, "code")), code) == 0 &&
		    strcmp(json_string_value(json_object_get(w, "message")), msg) == 0)
			return true;
	}
	return false;
}

void pctx_warn(struct pctx *c, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->warn_full)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_array_size(c->warnings) >= PAYLOAD_MAX_WARNINGS) {
		c->warn_full = true;
		code = "warnings_truncated";
		snprintf(msg, sizeof(msg), "more than %d distinct warnings; the rest were dropped",
		         PAYLOAD_MAX_WARNINGS);
	}
	/* msg may hold message bytes (a charset name, a header name): keep it UTF-8 */
	struct pbuf b = {.max = sizeof(msg) * 3};
	size_t replaced;
	if (ptext_sanitize(msg, strlen(msg), &b, &replaced) < 0 || pbuf_add(&b, "", 1) < 0) {
		c->oom = 1;
		pbuf_free(&b);
		return;
	}
	if (!warning_known(c->warnings, code, b.p) &&
	    json_array_append_new(c->warnings,
	                          json_pack("{s:s, s:s}", "code", code, "message", b.p)) < 0)
		c->oom = 1;
	pbuf_free(&b);
}

int pctx_defer(struct pctx *c, json_t *placeholder, GMimeObject *part, const char *raw,
               size_t raw_len)
{
	if (c->n_deferred == c->cap_deferred) {
		size_t cap = c->cap_deferred ? c->cap_deferred * 2 : 8;
		struct pdeferred *d = realloc(c->deferred, cap * sizeof(*d));
		if (!d)
			return -1;
		c->deferred = d;
		c->cap_deferred = cap;
	}
	c->deferred[c->n_deferred++] = (struct pdeferred){
	    .placeholder = placeholder, .part = part, .raw = raw, .raw_len = raw_len};
	return 0;
}

/* Takes text (malloc'd) on success and on failure alike. */
int pctx_defer_text(struct pctx *c, json_t *placeholder, char *text, size_t len)
{
	if (pctx_defer(c, placeholder, NULL, NULL, 0) < 0) {
		free(text);
		return -1;
	}
	c->deferred[c->n_deferred - 1].text = text;
	c->deferred[c->n_deferred - 1].text_len = len;
	return 0;
}

static void parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
                           gpointer user_data)
{
	static const struct {
		GMimeParserWarning code;
		const char *name, *text;
	} table[] = {
	    {GMIME_WARN_DUPLICATED_HEADER, "duplicated_header", "header field repeated"},
	    {GMIME_WARN_DUPLICATED_PARAMETER, "duplicated_parameter", "parameter repeated"},
	    {GMIME_WARN_UNENCODED_8BIT_HEADER, "header_8bit",
	     "8-bit bytes in a header (decoded as UTF-8, else Windows-1252)"},
	    {GMIME_WARN_INVALID_CONTENT_TYPE, "invalid_content_type",
	     "unparsable Content-Type (text/plain assumed)"},
	    {GMIME_WARN_INVALID_RFC2047_HEADER_VALUE, "invalid_rfc2047",
	     "malformed RFC 2047 encoded-word"},
	    {GMIME_WARN_MALFORMED_MULTIPART, "malformed_multipart",
	     "multipart boundary missing or unterminated"},
	    {GMIME_WARN_TRUNCATED_MESSAGE, "truncated_message", "message ends inside a part"},
	    {GMIME_WARN_MALFORMED_MESSAGE, "malformed_message", "malformed message"},
	    {GMIME_CRIT_INVALID_HEADER_NAME, "invalid_header",
	     "header line without a colon or with an invalid name"},
	    {GMIME_CRIT_CONFLICTING_HEADER, "conflicting_header",
	     "header field repeated with a different value"},
	    {GMIME_CRIT_CONFLICTING_PARAMETER, "conflicting_parameter",
	     "parameter repeated with a different value"},
	    {GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY, "multipart_without_boundary",
	     "multipart without a boundary parameter (kept as one part)"},
	    {GMIME_WARN_INVALID_PARAMETER, "invalid_parameter", "malformed parameter"},
	    {GMIME_WARN_INVALID_ADDRESS_LIST, "invalid_address_list", "malformed address list"},
	    {GMIME_CRIT_NESTING_OVERFLOW, "mime_depth_limit", "MIME nesting too deep"},
	    {GMIME_WARN_PART_WITHOUT_CONTENT, "part_without_content", "part without content"},
	    {GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT, "empty_part",
	     "part without headers or content"},
	};
	struct pctx *c = user_data;

	/* the input was cut at max_mime_parts: the open multiparts are our doing */
	if (c->cut &&
	    (code == GMIME_WARN_TRUNCATED_MESSAGE || code == GMIME_WARN_MALFORMED_MULTIPART))
		return;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].code != code)
			continue;
		if (item && *item)
			pctx_warn(c, table[i].name, "%s: %.120s", table[i].text, item);
		else if (offset >= 0)
			pctx_warn(c, table[i].name, "%s (at byte %lld)", table[i].text,
			          (long long)offset);
		else
			pctx_warn(c, table[i].name, "%s", table[i].text);
		return;
	}
}

static json_t *rfc3339_us(int64_t us)
{
	char buf[64];
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us < 0 || !gmtime_r(&t, &tm))
		return json_null();
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06dZ", (int)(us % 1000000));
	return json_string(buf);
}

static const char *body_type_name(enum body_type t)
{
	switch (t) {
	case BODY_7BIT:
		return "7bit";
	case BODY_8BITMIME:
		return "8bitmime";
	case BODY_BINARYMIME:
		return "binarymime";
	}
	return NULL;
}

static const char *match_kind_name(enum route_match_kind k)
{
	static const char *const names[] = {
	    [MATCH_EXACT] = "exact",
	    [MATCH_PLUS] = "plus",
	    [MATCH_LOCAL_WILDCARD] = "local_wildcard",
	    [MATCH_DOMAIN] = "domain",
	    [MATCH_SUBDOMAIN] = "subdomain",
	};
	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

/* json_object_set_new_nocheck for literal keys; a NULL value marks the tree out of memory */
static void put(struct pctx *c, json_t *o, const char *key, json_t *v)
{
	if (!o || !v || json_object_set_new_nocheck(o, key, v) < 0)
		c->oom = 1;
}

/*
 * An envelope list: an empty array to fill now, or (payload_write() with
 * our serialiser, and recipients to list) a placeholder whose elements
 * pjson_write() builds one at a time.
 */
static json_t *defer_list(struct pctx *c, enum pdefer_list list)
{
	if (!c->defer_lists || !c->env || !c->env->n_rcpts)
		return json_array();
	json_t *p = json_string(PLACEHOLDER);
	if (!p || pctx_defer(c, p, NULL, NULL, 0) < 0) {
		json_decref(p);
		return NULL;
	}
	c->deferred[c->n_deferred - 1].list = list;
	return p;
}

static json_t *envelope_json(struct pctx *c, const struct envelope *e)
{
	json_t *o = json_object(), *client = json_object();
	const char *bt = e ? body_type_name(e->body) : NULL;
	json_t *rcpt = defer_list(c, PLIST_RCPT_TO);

	for (size_t i = 0; json_is_array(rcpt) && e && i < e->n_rcpts; i++)
		if (json_array_append_new(rcpt, ptext_json0(c, e->rcpts[i].address, "envelope")) <
		    0)
			c->oom = 1;
	put(c, o, "mail_from", e ? ptext_json0(c, e->mail_from, "envelope") : json_null());
	put(c, o, "rcpt_to", rcpt);
	put(c, o, "helo", e ? ptext_json0(c, e->helo, "envelope") : json_null());
	put(c, client, "ip",
	    e && e->client_ip[0] ? ptext_json0(c, e->client_ip, "envelope") : json_null());
	put(c, client, "port", e ? json_integer(e->client_port) : json_null());
	put(c, client, "reverse_name",
	    e ? ptext_json0(c, e->client_name, "envelope") : json_null());
	put(c, o, "client", client);
	json_t *tls = json_null();
	if (e && e->tls_protocol) {
		tls = json_object();
		put(c, tls, "protocol", ptext_json0(c, e->tls_protocol, "envelope"));
		put(c, tls, "cipher", ptext_json0(c, e->tls_cipher, "envelope"));
	}
	put(c, o, "tls", tls);
	put(c, o, "authenticated_user", e ? ptext_json0(c, e->auth_user, "envelope") : json_null());
	put(c, o, "body_type", bt ? json_string(bt) : json_null());
	put(c, o, "smtputf8", json_boolean(e && e->smtputf8));
	put(c, o, "size", e ? json_integer((json_int_t)e->size) : json_null());
	return o;
}

/* The address without its plus tag: local before the separator, "@", domain. */
static json_t *base_json(struct pctx *c, const struct envelope_addr *a)
{
	size_t len = a->local ? strlen(a->local) : 0;
	size_t l = a->has_tag && a->base_len < len ? a->base_len : len;
	char buf[ROUTE_LOCAL_MAX + 1 + ROUTE_DOMAIN_MAX];
	int n = snprintf(buf, sizeof(buf), "%.*s@%s", (int)l, a->local ? a->local : "",
	                 a->domain ? a->domain : "");
	return ptext_json(c, buf, n > 0 ? (size_t)n : 0, "recipient");
}

static json_t *recipient_json(struct pctx *c, const struct envelope_rcpt *r)
{
	const struct envelope_match *m = &r->match;
	const char *kind = match_kind_name(m->kind);
	json_t *route =
	    m->route ? json_pack("{s:o, s:o, s:o}", "name", ptext_json0(c, m->route->name, "route"),
	                         "pattern", ptext_json0(c, m->pattern, "route"), "kind",
	                         kind ? json_string(kind) : json_null())
	             : json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "address",
	                 ptext_json0(c, r->address, "recipient"), "local",
	                 ptext_json0(c, m->addr.local ? m->addr.local : "", "recipient"), "domain",
	                 ptext_json0(c, m->addr.domain ? m->addr.domain : "", "recipient"), "tag",
	                 m->addr.has_tag ? ptext_json0(c, m->addr.tag, "recipient") : json_null(),
	                 "base", base_json(c, &m->addr), "route", route);
}

json_t *payload_list_item(struct pctx *c, enum pdefer_list list, size_t i)
{
	const struct envelope *e = c->env;
	if (!e || i >= e->n_rcpts)
		return NULL;
	if (list == PLIST_RCPT_TO)
		return ptext_json0(c, e->rcpts[i].address, "envelope");
	return recipient_json(c, &e->rcpts[i]);
}

static json_t *recipients_json(struct pctx *c, const struct envelope *e)
{
	json_t *a = defer_list(c, PLIST_RECIPIENTS);
	for (size_t i = 0; json_is_array(a) && e && i < e->n_rcpts; i++)
		if (json_array_append_new(a, recipient_json(c, &e->rcpts[i])) < 0)
			c->oom = 1;
	return a;
}

static json_t *auth_json(struct pctx *c, const json_t *auth)
{
	if (auth)
		return json_deep_copy(auth);
	json_t *o = json_object();
	put(c, o, "spf", json_null());
	put(c, o, "dkim", json_array());
	put(c, o, "dmarc", json_null());
	put(c, o, "arc", json_null());
	put(c, o, "authentication_results", json_null());
	return o;
}

/* The message's content, or a message-shaped null skeleton when GMime found none. */
static json_t *message_json(struct pctx *c, GMimeMessage *m)
{
	json_t *out = json_object();
	if (!out)
		return NULL;
	if (phead_message(c, m, out) < 0 || pbody_message(c, m, out) < 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static void add_raw(struct pctx *c, json_t *message)
{
	json_t *raw = json_null();

	if (c->opt->include_raw && c->defer) {
		raw = payload_placeholder();
		if (raw && pctx_defer(c, raw, NULL, c->msg->data, c->msg->len) < 0)
			c->oom = 1;
	} else if (c->opt->include_raw) {
		struct pdeferred d = {.raw = c->msg->data, .raw_len = c->msg->len};
		struct pbuf b = {.max = pb64_len(c->msg->len) + 1};
		if (pbuf_reserve(&b, pb64_len(c->msg->len) + 1) < 0 ||
		    pbody_stream_content(&d, (psink_fn)pbuf_add, &b) < 0)
			c->oom = 1;
		else
			raw = json_stringn_nocheck(b.p ? b.p : "", b.len);
		pbuf_free(&b);
	}
	if (!raw || json_object_set_new(message, "raw", raw) < 0)
		c->oom = 1;
}

/*
 * Where the body starts when the header section does not end with an
 * empty line (RFC 5322 section 2.1): at the first line that is neither a
 * field nor a continuation, as most readers do. SIZE_MAX when the section
 * is well formed. A leading mbox "From " line is tolerated.
 */
static size_t missing_separator(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t l = end - i - (end > i && p[end - 1] == '\r');
		if (l == 0)
			return SIZE_MAX;
		if (p[i] != ' ' && p[i] != '\t' && !(i == 0 && l >= 5 && !memcmp(p, "From ", 5))) {
			size_t k = i;
			while (k < i + l && p[k] > 32 && p[k] < 127 && p[k] != ':')
				k++;
			size_t name_end = k;
			while (k < i + l && (p[k] == ' ' || p[k] == '\t'))
				k++;
			if (name_end == i || k >= i + l || p[k] != ':')
				return i;
		}
		if (!nl)
			return SIZE_MAX;
		i = end + 1;
	}
	return SIZE_MAX;
}

/* Puts the missing empty line in the piece list, before the input's offset at. */
static int insert_separator(struct pctx *c, size_t at)
{
	size_t i = 0;
	while (i < c->n_pieces && c->pieces[i].orig + c->pieces[i].len <= at)
		i++;
	if (c->n_pieces + 2 > c->cap_pieces) {
		struct ppiece *p = realloc(c->pieces, (c->n_pieces + 2) * sizeof(*p));
		if (!p)
			return -1;
		c->pieces = p;
		c->cap_pieces = c->n_pieces + 2;
	}
	struct ppiece nl = {.orig = at, .len = c->crlf ? 2 : 1, .inserted = true};
	if (i < c->n_pieces && c->pieces[i].orig < at) { /* split piece i at `at` */
		struct ppiece tail = c->pieces[i];
		tail.len -= at - tail.orig;
		tail.orig = at;
		c->pieces[i].len = at - c->pieces[i].orig;
		memmove(c->pieces + i + 3, c->pieces + i + 1,
		        (c->n_pieces - i - 1) * sizeof(*c->pieces));
		c->pieces[i + 1] = nl;
		c->pieces[i + 2] = tail;
		c->n_pieces += 2;
	} else {
		memmove(c->pieces + i + 1, c->pieces + i, (c->n_pieces - i) * sizeof(*c->pieces));
		c->pieces[i] = nl;
		c->n_pieces++;
	}
	pctx_warn(c, "header_separator_missing",
	          "no empty line after the header section: the body starts at byte %zu", at);
	return 0;
}

/* The pieces as one stream, without copying the input. */
static GMimeStream *pieces_stream(struct pctx *c, GMimeStream *mem)
{
	static const char crlf[] = "\r\n";
	GMimeStream *cat = g_mime_stream_cat_new();
	for (size_t i = 0; i < c->n_pieces; i++) {
		const struct ppiece *p = &c->pieces[i];
		GMimeStream *s =
		    p->inserted
		        ? g_mime_stream_mem_new_with_buffer(crlf + (p->len == 2 ? 0 : 1), p->len)
		        : g_mime_stream_substream(mem, (gint64)p->orig, (gint64)(p->orig + p->len));
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), s);
		g_object_unref(s);
	}
	return cat;
}

static GMimeMessage *parse(struct pctx *c, GMimeParserOptions *po, GByteArray **arr)
{
	/*
	 * The array borrows the caller's bytes (set_owner FALSE: GMime never
	 * frees them, and nothing here writes to the stream), so the message
	 * is not copied; with persist_stream (the default) parts are
	 * substreams of it. payload_scan.c decides which ranges GMime reads.
	 */
	size_t len = c->msg->len;
	if (len > G_MAXUINT) { /* a GByteArray counts in 32 bits */
		len = G_MAXUINT;
		pctx_warn(c, "truncated_message",
		          "input larger than 4 GiB: only the start is parsed");
	}
	if (pscan_message(c, len) < 0) {
		c->oom = 1;
		return NULL;
	}
	*arr = g_byte_array_new_take((guint8 *)c->msg->data, len);
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(*arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	size_t at = missing_separator(c->msg->data, c->gm_end);
	if (at != SIZE_MAX && insert_separator(c, at) < 0) {
		c->oom = 1;
		g_object_unref(s);
		return NULL;
	}
	if (c->n_pieces != 1 || c->pieces[0].orig != 0 || c->pieces[0].len != len) {
		GMimeStream *cat = pieces_stream(c, s);
		g_object_unref(s);
		s = cat;
	}
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	GMimeMessage *m = g_mime_parser_construct_message(p, po);
	g_object_unref(p);
	g_object_unref(s);
	return m;
}

static bool detect_crlf(const struct message_bytes *msg)
{
	const char *nl = memchr(msg->data, '\n', msg->len > 4096 ? 4096 : msg->len);
	return nl && nl > msg->data && nl[-1] == '\r';
}

/* Frees what build() kept for payload_write(): the message, then the byte array it reads. */
static void release(struct pctx *c)
{
	if (c->m)
		g_object_unref(c->m);
	if (c->arr)
		g_byte_array_free(c->arr, FALSE); /* the wrapper only: the bytes are the caller's */
	for (size_t i = 0; i < c->n_deferred; i++)
		free(c->deferred[i].text);
	free(c->deferred);
	free(c->pieces);
	c->pieces = NULL;
	c->m = NULL;
	c->arr = NULL;
	c->deferred = NULL;
}

static json_t *build(struct pctx *c, const struct envelope *env, const json_t *auth, const char *id)
{
	static const char *fallback_charsets[] = {"UTF-8", "windows-1252", NULL};

	pgmime_init();
	c->warnings = json_array();
	if (!c->warnings)
		return NULL;
	c->crlf = detect_crlf(c->msg);
	c->env = env;
	GMimeParserOptions *po = g_mime_parser_options_new();
	g_mime_parser_options_set_fallback_charsets(po, fallback_charsets);
	g_mime_parser_options_set_warning_callback(po, parser_warning, c);
	c->m = parse(c, po, &c->arr);

	json_t *message = message_json(c, c->m);
	if (message)
		add_raw(c, message);
	json_t *root = json_object();
	put(c, root, "schema_version", json_integer(1));
	put(c, root, "id", id ? ptext_json0(c, id, "id") : json_null());
	put(c, root, "received_at",
	    env && env->received_at_us ? rfc3339_us(env->received_at_us) : json_null());
	put(c, root, "envelope", envelope_json(c, env));
	put(c, root, "auth", auth_json(c, auth));
	/* rspamd's verdict (gateway/spam/, docs/spam.md): null when off or when it failed. */
	put(c, root, "spam", env && env->spam ? json_deep_copy(env->spam) : json_null());
	if (env && env->spam_warning)
		pctx_warn(c, env->spam_skipped ? "spam_check_skipped" : "spam_check_failed", "%s",
		          env->spam_warning);
	put(c, root, "recipients", recipients_json(c, env));
	put(c, root, "message", message);
	put(c, root, "warnings", json_incref(c->warnings));
	g_mime_parser_options_free(po);
	json_decref(c->warnings);
	if (root && c->oom) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

json_t *payload_build(const struct message_bytes *msg, const struct envelope *env,
                      const json_t *auth, const char *id, const struct payload_options *opt)
{
	struct payload_options def;
	if (!opt) {
		payload_options_default(&def);
		opt = &def;
	}
	struct pctx c = {.opt = opt, .msg = msg};
	json_t *root = build(&c, env, auth, id);
	release(&c);
	return root;
}

int payload_write(const struct message_bytes *msg, const struct envelope *env, const json_t *auth,
                  const char *id, const struct payload_options *opt, size_t flags,
                  json_dump_callback_t cb, void *data)
{
	struct payload_options def;
	if (!opt) {
		payload_options_default(&def);
		opt = &def;
	}
	struct pctx c = {.opt = opt,
	                 .msg = msg,
	                 .defer = true,
	                 .defer_text = !(flags & (JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH)),
	                 .defer_lists = pjson_fast(flags)};
	json_t *root = build(&c, env, auth, id);
	int rc = -1;
	if (root) {
		rc = pjson_write(&c, root, flags, cb, data);
		json_decref(root);
	}
	release(&c);
	return rc;
}

json_t *payload_placeholder(void)
{
	return json_string(PLACEHOLDER);
}
