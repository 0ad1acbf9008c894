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
#define PIECES_COPY_MAX            (64 * 1024) /* pieces_copy(): longer input is chained */

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
	o->input_mapped = false;
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
		else if (offset >= 0) /* GMime counts in its own input: the byte of ours */
			pctx_warn(c, table[i].name, "%s (at byte %zu)", table[i].text,
			          pscan_orig_offset(c, (size_t)offset));
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

/* json_object_set_new_nocheck for literal keys; a NULL value marks the tree out of memory */
static void put(struct pctx *c, json_t *o, const char *key, json_t *v)
{
	pctx_put(c, o, key, v);
}

static json_t *auth_json(struct pctx *c, const json_t *auth)
{
	/*
	 * Shared, not copied: nothing writes to the auth object once the
	 * checks made it, and jansson counts references atomically
	 * (checked in include/payload.h), so a payload built on another thread
	 * may hold it too.
	 */
	if (auth)
		return json_incref((json_t *)(uintptr_t)auth);
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
		raw = pctx_placeholder();
		if (raw && pctx_defer(c, raw, NULL, c->msg->data, c->msg->len) < 0)
			c->oom = 1;
	} else if (c->opt->include_raw) {
		struct pdeferred d = {.raw = c->msg->data, .raw_len = c->msg->len};
		struct pbuf b = {.max = pb64_len(c->msg->len) + 1};
		if (pbuf_reserve(&b, pb64_len(c->msg->len) + 1) < 0 ||
		    pbody_stream_content(c, &d, (psink_fn)pbuf_add, &b) < 0)
			c->oom = 1;
		else
			raw = json_stringn_nocheck(b.p ? b.p : "", b.len);
		pbuf_free(&b);
	}
	if (!raw || json_object_set_new_nocheck(message, "raw", raw) < 0)
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
	struct ppiece nl = {.orig = at, .len = c->crlf ? 2 : 1, .inserted = true};
	if (i < c->n_pieces && c->pieces[i].orig < at) { /* split piece i at `at` */
		struct ppiece tail = c->pieces[i];
		tail.len -= at - tail.orig;
		tail.orig = at;
		if (pscan_insert_piece(c, i + 1, tail) < 0)
			return -1;
		c->pieces[i].len = at - c->pieces[i].orig;
		i++;
	}
	if (pscan_insert_piece(c, i, nl) < 0)
		return -1;
	pctx_warn(c, "header_separator_missing",
	          "no empty line after the header section: the body starts at byte %zu", at);
	return 0;
}

/* The bytes of an inserted piece: the empty line GMime lacks, "\r\n" or "\n" (its len). */
static const char *inserted_bytes(const struct ppiece *p)
{
	return &"\r\n"[p->len == 2 ? 0 : 1];
}

/* The pieces as one stream, without copying the input. */
static GMimeStream *pieces_stream(struct pctx *c, GMimeStream *mem)
{
	GMimeStream *cat = g_mime_stream_cat_new();
	for (size_t i = 0; i < c->n_pieces; i++) {
		const struct ppiece *p = &c->pieces[i];
		GMimeStream *s =
		    p->inserted
		        ? g_mime_stream_mem_new_with_buffer(inserted_bytes(p), p->len)
		        : g_mime_stream_substream(mem, (gint64)p->orig, (gint64)(p->orig + p->len));
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), s);
		g_object_unref(s);
	}
	return cat;
}

/*
 * The pieces laid end to end in one buffer when they are short: GMime
 * reads the very bytes pieces_stream() would give it, at the same
 * offsets, without a substream (a GObject to make and to free) per piece
 * and a cat stream around them. NULL when longer, or out of memory (the
 * cat stream then serves).
 */
static char *pieces_copy(const struct pctx *c, size_t *len)
{
	size_t total = 0, o = 0;
	for (size_t i = 0; i < c->n_pieces; i++)
		total += c->pieces[i].len;
	char *b = total && total <= PIECES_COPY_MAX ? malloc(total) : NULL;
	for (size_t i = 0; b && i < c->n_pieces; i++) {
		const struct ppiece *p = &c->pieces[i];
		memcpy(b + o, p->inserted ? inserted_bytes(p) : c->msg->data + p->orig, p->len);
		o += p->len;
	}
	if (b)
		*len = total;
	return b;
}

static GMimeMessage *parse(struct pctx *c, GMimeParserOptions *po, GByteArray **arr)
{
	/*
	 * The array borrows the caller's bytes (set_owner FALSE: GMime never
	 * frees them, and nothing here writes to the stream), so a long
	 * message is not copied; with persist_stream (the default) parts are
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
	size_t at = missing_separator(c->msg->data, c->gm_end);
	if (at != SIZE_MAX && insert_separator(c, at) < 0) {
		c->oom = 1;
		return NULL;
	}
	/*
	 * One piece (the usual case once the scan has left fields out): GMime
	 * reads that range in place. Several short ones: their copy end to end
	 * (pieces_copy()). Else a cat stream of substreams of the input. GMime's
	 * offsets are the same in all three, counted from the first piece's
	 * start (pscan_orig_offset()).
	 */
	bool one = c->n_pieces == 1 && !c->pieces[0].inserted;
	guint8 *start = (guint8 *)c->msg->data;
	size_t copied = 0;
	if (one && c->pieces[0].orig)
		start += c->pieces[0].orig;
	if (one)
		len = c->pieces[0].len;
	else if ((c->gm_copy = pieces_copy(c, &copied)) != NULL) {
		start = (guint8 *)c->gm_copy;
		len = copied;
	}
	*arr = g_byte_array_new_take(start, len);
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(*arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	if (!one && !c->gm_copy) {
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
	free(c->gm_copy);                         /* or parse()'s copy of them */
	c->gm_copy = NULL;
	for (size_t i = 0; i < c->n_deferred; i++)
		if (!c->deferred[i].borrowed)
			free(c->deferred[i].text);
	free(c->deferred);
	phead_free(c);
	pscan_free(c);
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
	c->po = po;
	c->m = parse(c, po, &c->arr);

	json_t *message = message_json(c, c->m);
	if (message)
		add_raw(c, message);
	json_t *root = json_object();
	put(c, root, "schema_version", json_integer(1));
	put(c, root, "id", id ? ptext_json0(c, id, "id") : json_null());
	put(c, root, "received_at",
	    env && env->received_at_us ? rfc3339_us(env->received_at_us) : json_null());
	put(c, root, "envelope", penv_json(c, env));
	put(c, root, "auth", auth_json(c, auth));
	/* rspamd's verdict (gateway/spam/, docs/spam.md): null when off or when it failed. */
	put(c, root, "spam", env && env->spam ? json_deep_copy(env->spam) : json_null());
	if (env && env->spam_warning)
		pctx_warn(c, env->spam_skipped ? "spam_check_skipped" : "spam_check_failed", "%s",
		          env->spam_warning);
	put(c, root, "recipients", penv_recipients(c, env));
	put(c, root, "message", message);
	put(c, root, "warnings", json_incref(c->warnings));
	g_mime_parser_options_free(po);
	c->po = NULL;
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

/* payload_write(), or (bench_payload) payload_write_without(): skip leaves stages out. */
static int write_payload(const struct message_bytes *msg, const struct envelope *env,
                         const json_t *auth, const char *id, const struct payload_options *opt,
                         size_t flags, json_dump_callback_t cb, void *data, unsigned skip)
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
	                 .defer_lists = pjson_fast(flags),
	                 .skip = skip};
	json_t *root = build(&c, env, auth, id);
	int rc = -1;
	if (root) {
		rc = pjson_write(&c, root, flags, cb, data);
		json_decref(root);
	}
	release(&c);
	return rc;
}

int payload_write(const struct message_bytes *msg, const struct envelope *env, const json_t *auth,
                  const char *id, const struct payload_options *opt, size_t flags,
                  json_dump_callback_t cb, void *data)
{
	return write_payload(msg, env, auth, id, opt, flags, cb, data, 0);
}

int payload_write_without(const struct message_bytes *msg, const struct payload_options *opt,
                          size_t flags, json_dump_callback_t cb, void *data, unsigned skip)
{
	return write_payload(msg, NULL, NULL, "bench", opt, flags, cb, data, skip);
}
