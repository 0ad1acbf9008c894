/*
 * payload_json.c: the payload's JSON text, as payload_write() sends it.
 *
 * Owns: serialising the payload tree (RFC 8259) with the deferred values
 * (attachment contents, message.raw, long bodies) streamed in from the
 * message, and a serialiser faster than jansson's for the usual flags:
 * strings are already valid UTF-8, so only '"', '\' and control characters
 * need a look, eight bytes at a time. Its output is byte for byte what
 * json_dumps() writes for the same flags (the unit tests and the fuzzer
 * compare them); flags it does not implement go through jansson.
 *
 * A long body is the one value the payload holds whole (it was decoded and
 * converted to UTF-8 before the tree was built); its pages go back to the
 * kernel as soon as they are written, so the body and its JSON copy in
 * the caller's buffer are never both resident.
 *
 * Must never: write a string that is not escaped as jansson would, buffer
 * a deferred value whole, or write a body whose pages were given back.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "payload_int.h"

#define OUT_BUF       16384 /* output is handed to the callback in chunks of this size */
#define MAX_DEPTH     64    /* the payload nests 5 deep; a caller's auth object may add a few */
#define GIVE_BACK_MIN (1u << 20) /* bodies shorter than this are written in one piece */

/*
 * Bytes from s that need no JSON escaping: sixteen at a time with SSE2
 * (the bytes at most 0x1f are those min(v, 0x1f) leaves unchanged), else
 * eight at a time (SWAR); the rest one by one.
 */
static size_t clean_run(const char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

#ifdef __SSE2__
	const __m128i ctl_max = _mm_set1_epi8(0x1f), quote16 = _mm_set1_epi8('"'),
	              bslash16 = _mm_set1_epi8('\\');
	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i hit = _mm_or_si128(
		    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl_max), v),
		    _mm_or_si128(_mm_cmpeq_epi8(v, quote16), _mm_cmpeq_epi8(v, bslash16)));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	for (; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, s + i, 8);
		uint64_t ctl = (v - ones * 0x20) & ~v; /* a byte < 0x20 */
		uint64_t quote = ((v ^ (ones * '"')) - ones) & ~(v ^ (ones * '"'));
		uint64_t bslash = ((v ^ (ones * '\\')) - ones) & ~(v ^ (ones * '\\'));
		if ((ctl | quote | bslash) & highs)
			break;
	}
	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == '"' || ch == '\\')
			break;
		i++;
	}
	return i;
}

/* One escape sequence as jansson writes it; returns its length. */
static size_t escape(unsigned char ch, char esc[6])
{
	static const char hex[] = "0123456789ABCDEF";
	static const char short_form[] = {['"'] = '"',  ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r',
	                                  ['\t'] = 't', ['\b'] = 'b',  ['\f'] = 'f'};
	esc[0] = '\\';
	if (ch < sizeof(short_form) && short_form[ch]) {
		esc[1] = short_form[ch];
		return 2;
	}
	memcpy(esc + 1, "u00", 3);
	esc[4] = hex[ch >> 4];
	esc[5] = hex[ch & 15];
	return 6;
}

/*
 * The body of a JSON string as jansson writes it without JSON_ENSURE_ASCII
 * or JSON_ESCAPE_SLASH (RFC 8259 section 7): text is valid UTF-8, so only
 * the quote, the backslash and the control characters need escaping.
 */
static int write_escaped(const char *s, size_t len, json_dump_callback_t cb, void *data)
{
	size_t i = 0;
	while (i < len) {
		size_t run = clean_run(s + i, len - i);
		if (run && cb(s + i, run, data))
			return -1;
		i += run;
		if (i == len)
			break;
		char esc[6];
		if (cb(esc, escape((unsigned char)s[i++], esc), data))
			return -1;
	}
	return 0;
}

/*
 * Writes a deferred body through esc (which escapes into the output) and,
 * for a long one, gives the pages already written back to the kernel
 * (MADV_DONTNEED: they read as zeros afterwards, and free() is still
 * correct). Only whole pages inside the body are given back: the bytes
 * around it belong to malloc. A body is written once; a second attempt
 * fails rather than write zeros.
 */
static int body_text(struct pdeferred *d, int (*esc)(void *arg, const char *s, size_t len),
                     void *arg)
{
	if (d->given_back)
		return -1;
	if (d->text_len < GIVE_BACK_MIN || d->borrowed || d->lent) /* shared bytes stay */
		return esc(arg, d->text, d->text_len);
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
	uintptr_t base = (uintptr_t)d->text, done = (base + page - 1) & ~(page - 1);

	d->given_back = true;
	for (size_t i = 0; i < d->text_len;) {
		size_t n = d->text_len - i < GIVE_BACK_CHUNK ? d->text_len - i : GIVE_BACK_CHUNK;
		if (esc(arg, d->text + i, n) < 0)
			return -1;
		i += n;
		uintptr_t end = (base + i) & ~(page - 1);
		if (end > done) {
			madvise((void *)done, end - done,
			        MADV_DONTNEED); /* a hint: failure is harmless */
			done = end;
		}
	}
	return 0;
}

struct writer {
	struct pctx *c;
	json_dump_callback_t cb;
	void *data;
};

static int write_sink(void *arg, const char *p, size_t n)
{
	struct writer *w = arg;
	return w->cb(p, n, w->data) ? -1 : 0;
}

static int write_text(void *arg, const char *s, size_t len)
{
	struct writer *w = arg;
	return write_escaped(s, len, w->cb, w->data);
}

/*
 * jansson hands a string's characters to the callback straight from the
 * string's own buffer when none needs escaping, so a placeholder is
 * recognised by its address (and, to be safe, its text): nothing else in
 * the tree can share that buffer.
 */
static int write_cb(const char *buffer, size_t size, void *data)
{
	struct writer *w = data;

	if (size == sizeof(PLACEHOLDER) - 1) {
		for (size_t i = 0; i < w->c->n_deferred; i++) {
			struct pdeferred *d = &w->c->deferred[i];
			if (buffer != json_string_value(d->placeholder) ||
			    memcmp(buffer, PLACEHOLDER, size) != 0)
				continue;
			if (d->text)
				return body_text(d, write_text, w);
			return pbody_stream_content(w->c, d, write_sink, w);
		}
	}
	return w->cb(buffer, size, w->data);
}

/* ---- the fast serialiser ---- */

struct fast {
	struct pctx *c;
	json_dump_callback_t cb;
	void *data;
	size_t indent; /* JSON_INDENT(n) */
	bool compact;
	char buf[OUT_BUF];
	size_t len;
	/*
	 * message.reply.text is most often the body text again (a slice of it,
	 * payload_reply.c): escaped once, kept here, and written again inside
	 * the body instead of escaping the same bytes twice.
	 */
	struct pbuf reply_esc;
	const char *reply_at; /* the slice reply_esc escapes, or NULL */
	size_t reply_n;
};

static int flush(struct fast *f)
{
	int rc = f->len && f->cb(f->buf, f->len, f->data) ? -1 : 0; /* jansson: non-zero fails */
	f->len = 0;
	return rc;
}

static int put(void *arg, const char *p, size_t n)
{
	struct fast *f = arg;
	if (n > sizeof(f->buf) - f->len) {
		if (flush(f) < 0)
			return -1;
		if (n > sizeof(f->buf))
			return f->cb(p, n, f->data) ? -1 : 0;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return 0;
}

/* One character: most of the punctuation, without a call to memcpy. */
static int put_ch(struct fast *f, char ch)
{
	if (f->len == sizeof(f->buf) && flush(f) < 0)
		return -1;
	f->buf[f->len++] = ch;
	return 0;
}

/* jansson's dump_indent(): a newline and depth * indent spaces, or one space */
static int indent(struct fast *f, size_t depth, bool space)
{
	static const char spaces[] = "                                ";
	if (f->indent) {
		size_t n = depth * f->indent;
		if (put(f, "\n", 1) < 0)
			return -1;
		for (; n; n -= n > 32 ? 32 : n)
			if (put(f, spaces, n > 32 ? 32 : n) < 0)
				return -1;
		return 0;
	}
	return space && !f->compact ? put_ch(f, ' ') : 0;
}

/* Escaped straight into the output buffer: strings are most of the output. */
static int escaped(struct fast *f, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t run = clean_run(s + i, len - i);
		if (run && put(f, s + i, run) < 0)
			return -1;
		i += run;
		if (i == len)
			break;
		if (sizeof(f->buf) - f->len < 6 && flush(f) < 0)
			return -1;
		f->len += escape((unsigned char)s[i++], f->buf + f->len);
	}
	return 0;
}

static int escaped_text(void *arg, const char *s, size_t len)
{
	return escaped(arg, s, len);
}

/* What escaped() writes, appended to b instead. */
static int escape_into(struct pbuf *b, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t run = clean_run(s + i, len - i);
		if (pbuf_add(b, s + i, run) < 0)
			return -1;
		i += run;
		if (i == len)
			break;
		char e[6];
		if (pbuf_add(b, e, escape((unsigned char)s[i++], e)) < 0)
			return -1;
	}
	return 0;
}

/* A borrowed slice (the reply's text): escaped into reply_esc, then written. */
static int borrowed_text(struct fast *f, const struct pdeferred *d)
{
	pbuf_free(&f->reply_esc);
	f->reply_at = NULL;
	f->reply_esc.max = 2 * d->text_len + 64; /* text needing more is escaped in place */
	if (pbuf_reserve(&f->reply_esc, d->text_len + d->text_len / 8 + 64) < 0 ||
	    escape_into(&f->reply_esc, d->text, d->text_len) < 0) {
		pbuf_free(&f->reply_esc);
		return escaped(f, d->text, d->text_len);
	}
	f->reply_at = d->text;
	f->reply_n = d->text_len;
	return put(f, f->reply_esc.p ? f->reply_esc.p : "", f->reply_esc.len);
}

/* A text value: a lender whose borrowed slice was escaped already reuses those bytes. */
static int text_value(struct fast *f, struct pdeferred *d)
{
	if (d->borrowed)
		return borrowed_text(f, d);
	uintptr_t a = (uintptr_t)f->reply_at, t = (uintptr_t)d->text;
	if (!d->lent || !a || a < t || f->reply_n > d->text_len || a - t > d->text_len - f->reply_n)
		return body_text(d, escaped_text, f);
	size_t off = (size_t)(a - t), rest = off + f->reply_n;
	if (escaped(f, d->text, off) < 0 ||
	    put(f, f->reply_esc.p ? f->reply_esc.p : "", f->reply_esc.len) < 0)
		return -1;
	return escaped(f, d->text + rest, d->text_len - rest);
}

static int string(struct fast *f, const char *s, size_t len)
{
	if (put_ch(f, '"') < 0 || escaped(f, s, len) < 0)
		return -1;
	return put_ch(f, '"');
}

static int value(struct fast *f, json_t *v, size_t depth);

/* A plain entry of message.headers, as object() writes {"name": ..., "value": ...}. */
static int plain_header(struct fast *f, const struct phref *h, size_t depth)
{
	const char *colon = f->compact ? ":" : ": ";
	size_t cl = f->compact ? 1 : 2;
	if (put_ch(f, '{') < 0 || indent(f, depth + 1, false) < 0 || string(f, "name", 4) < 0 ||
	    put(f, colon, cl) < 0 || string(f, h->name, h->name_len) < 0 || put_ch(f, ',') < 0 ||
	    indent(f, depth + 1, true) < 0 || string(f, "value", 5) < 0 || put(f, colon, cl) < 0 ||
	    put_ch(f, '"') < 0 || phead_unfold(h->raw, h->raw_len, escaped_text, f) < 0 ||
	    put_ch(f, '"') < 0 || indent(f, depth, false) < 0)
		return -1;
	return put_ch(f, '}');
}

static size_t list_len(const struct pctx *c, enum pdefer_list kind)
{
	if (kind == PLIST_HEADERS)
		return c->n_hrefs;
	return c->env ? c->env->n_rcpts : 0;
}

/* Element i of a deferred list, built (the envelope's) or written from its parts (headers). */
static int list_item(struct fast *f, enum pdefer_list kind, size_t i, size_t depth)
{
	if (kind == PLIST_HEADERS) {
		const struct phref *h = &f->c->hrefs[i];
		return h->built ? value(f, h->built, depth) : plain_header(f, h, depth);
	}
	json_t *el = penv_list_item(f->c, kind, i);
	int rc = el && !f->c->oom ? value(f, el, depth) : -1;
	json_decref(el);
	return rc;
}

/* A deferred list: as array() writes it, one element at a time. */
static int list(struct fast *f, enum pdefer_list kind, size_t depth)
{
	size_t n = list_len(f->c, kind);

	if (n == 0)
		return put(f, "[]", 2);
	if (put_ch(f, '[') < 0 || indent(f, depth + 1, false) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (list_item(f, kind, i, depth + 1) < 0)
			return -1;
		if (i + 1 < n ? put_ch(f, ',') < 0 || indent(f, depth + 1, true) < 0
		              : indent(f, depth, false) < 0)
			return -1;
	}
	return put_ch(f, ']');
}

static int deferred(struct fast *f, json_t *v, size_t depth)
{
	for (size_t i = 0; i < f->c->n_deferred; i++) {
		struct pdeferred *d = &f->c->deferred[i];
		if (d->placeholder != v)
			continue;
		if (d->list)
			return list(f, d->list, depth);
		if (put_ch(f, '"') < 0)
			return -1;
		int rc = d->text ? text_value(f, d) : pbody_stream_content(f->c, d, put, f);
		return rc < 0 ? -1 : put_ch(f, '"');
	}
	return 1;
}

static int object(struct fast *f, json_t *v, size_t depth)
{
	const char *key;
	json_t *child;
	void *it = json_object_iter(v);

	if (!it)
		return put(f, "{}", 2);
	if (put_ch(f, '{') < 0 || indent(f, depth + 1, false) < 0)
		return -1;
	while (it) {
		key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		child = json_object_iter_value(it);
		it = json_object_iter_next(v, it);
		if (string(f, key, klen) < 0 ||
		    put(f, f->compact ? ":" : ": ", f->compact ? 1 : 2) < 0 ||
		    value(f, child, depth + 1) < 0)
			return -1;
		if (it ? put_ch(f, ',') < 0 || indent(f, depth + 1, true) < 0
		       : indent(f, depth, false) < 0)
			return -1;
	}
	return put_ch(f, '}');
}

static int array(struct fast *f, json_t *v, size_t depth)
{
	size_t n = json_array_size(v);

	if (n == 0)
		return put(f, "[]", 2);
	if (put_ch(f, '[') < 0 || indent(f, depth + 1, false) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (value(f, json_array_get(v, i), depth + 1) < 0)
			return -1;
		if (i + 1 < n ? put_ch(f, ',') < 0 || indent(f, depth + 1, true) < 0
		              : indent(f, depth, false) < 0)
			return -1;
	}
	return put_ch(f, ']');
}

/* A value jansson formats its own way (reals): ask jansson for its text. */
static int via_jansson(struct fast *f, json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = s ? put(f, s, strlen(s)) : -1;
	free(s);
	return rc;
}

/* An integer as jansson's "%" JSON_INTEGER_FORMAT writes it, without snprintf. */
static int integer(struct fast *f, json_int_t v)
{
	char num[24];
	size_t i = sizeof(num);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do
		num[--i] = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		num[--i] = '-';
	return put(f, num + i, sizeof(num) - i);
}

static int value(struct fast *f, json_t *v, size_t depth)
{
	if (depth > MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return object(f, v, depth);
	case JSON_ARRAY:
		return array(f, v, depth);
	case JSON_STRING: {
		int rc = deferred(f, v, depth);
		return rc <= 0 ? rc : string(f, json_string_value(v), json_string_length(v));
	}
	case JSON_INTEGER:
		return integer(f, json_integer_value(v));
	case JSON_TRUE:
		return put(f, "true", 4);
	case JSON_FALSE:
		return put(f, "false", 5);
	case JSON_NULL:
		return put(f, "null", 4);
	default:
		return via_jansson(f, v);
	}
}

bool pjson_fast(size_t flags)
{
	/* flags whose output rules are not reimplemented here go through jansson */
	size_t other = JSON_ENSURE_ASCII | JSON_SORT_KEYS | JSON_ESCAPE_SLASH | JSON_EMBED |
	               JSON_REAL_PRECISION(31) | JSON_ENCODE_ANY;
	return !(flags & other);
}

int pjson_write(struct pctx *c, json_t *root, size_t flags, json_dump_callback_t cb, void *data)
{
	if (!pjson_fast(flags)) {
		struct writer w = {.c = c, .cb = cb, .data = data};
		return json_dump_callback(root, write_cb, &w, flags);
	}
	/*
	 * On the stack: a 16 KB malloc per message makes glibc consolidate its
	 * fastbins. Fields are set one by one: an initialiser would also zero
	 * the 16 KB buffer, on every message, for bytes that are written before
	 * they are read.
	 */
	struct fast f;
	f.c = c;
	f.cb = cb;
	f.data = data;
	f.indent = flags & JSON_MAX_INDENT;
	f.compact = flags & JSON_COMPACT;
	f.len = 0;
	f.reply_esc = (struct pbuf){0};
	f.reply_at = NULL;
	int rc = value(&f, root, 0) < 0 || flush(&f) < 0 ? -1 : 0;
	pbuf_free(&f.reply_esc);
	return rc;
}
