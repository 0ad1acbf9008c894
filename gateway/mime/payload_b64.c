/*
 * payload_b64.c: moving part contents without holding them twice.
 *
 * Owns: the base64 encoder of attachment content and message.raw
 * (RFC 4648 section 4 alphabet, padded, no line breaks: JSON needs none),
 * written chunk by chunk into a sink so a 50 MB attachment never exists
 * both decoded and encoded; and the streaming decoder of a part's
 * Content-Transfer-Encoding (RFC 2045 section 6) over GMime's substream of
 * the caller's bytes.
 *
 * Must never: buffer a whole part, or read outside the part's bounds.
 */
#include <pthread.h>
#include <string.h>

#include "codec.h"
#include "payload_int.h"

#define B64_CHUNK    4096 /* output characters per sink call; a multiple of 4 */
#define DECODE_CHUNK 16384

void pb64_init(struct pb64 *e, psink_fn sink, void *arg)
{
	e->n_carry = 0;
	e->sink = sink;
	e->arg = arg;
}

size_t pb64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

static size_t encode_triples(const unsigned char *in, size_t n_triples, char *out)
{
	char *o = out;
	for (size_t i = 0; i < n_triples; i++, in += 3) {
		uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
		o[0] = codec_b64_char(v >> 18);
		o[1] = codec_b64_char(v >> 12);
		o[2] = codec_b64_char(v >> 6);
		o[3] = codec_b64_char(v);
		o += 4;
	}
	return (size_t)(o - out);
}

int pb64_add(struct pb64 *e, const unsigned char *p, size_t n)
{
	char out[B64_CHUNK];

	while (e->n_carry && e->n_carry < 3 && n) {
		e->carry[e->n_carry++] = *p++;
		n--;
	}
	if (e->n_carry == 3) {
		if (e->sink(e->arg, out, encode_triples(e->carry, 1, out)) < 0)
			return -1;
		e->n_carry = 0;
	}
	while (n >= 3) {
		size_t triples = n / 3;
		if (triples > B64_CHUNK / 4)
			triples = B64_CHUNK / 4;
		if (e->sink(e->arg, out, encode_triples(p, triples, out)) < 0)
			return -1;
		p += triples * 3;
		n -= triples * 3;
	}
	if (n) /* p may be NULL when there was nothing to add */
		memcpy(e->carry + e->n_carry, p, n);
	e->n_carry += n;
	return 0;
}

int pb64_end(struct pb64 *e)
{
	char out[4];

	if (e->n_carry == 0)
		return 0;
	unsigned char a = e->carry[0], b = e->n_carry > 1 ? e->carry[1] : 0;
	out[0] = codec_b64_char(a >> 2);
	out[1] = codec_b64_char(((a & 3) << 4) | (b >> 4));
	out[2] = e->n_carry > 1 ? codec_b64_char((b & 15) << 2) : '=';
	out[3] = '=';
	e->n_carry = 0;
	return e->sink(e->arg, out, 4);
}

/*
 * Base64 decoding that forgives what mail gets wrong (RFC 2045 section
 * 6.8: characters outside the alphabet are ignored): line breaks and junk
 * are skipped, and a final quantum without its padding still yields its
 * bytes (GMime's decoder drops them). '=' is taken as the end of the data,
 * as section 6.8 allows: what follows the padding is ignored.
 */
struct b64dec {
	uint32_t acc;
	int n;     /* sextets in acc */
	bool done; /* padding seen */
	/*
	 * Whether the text is exactly what pb64 writes for the decoded bytes,
	 * line breaks aside (only the alphabet, CR and LF, the padding the
	 * length calls for and nothing after it, zero bits unused): then it can
	 * be copied into the JSON instead of decoded and encoded again.
	 */
	bool odd;
	int pads_left; /* '=' still expected after the one that ended the data */
};

static signed char b64val[256];
static pthread_once_t b64val_once = PTHREAD_ONCE_INIT;

static void b64val_init(void)
{
	for (int c = 0; c < 256; c++)
		b64val[c] = (signed char)codec_b64_value((unsigned char)c);
}

static size_t b64_flush(struct b64dec *d, unsigned char *out)
{
	size_t n = 0;
	if (d->n == 2) {
		out[n++] = (unsigned char)(d->acc >> 4);
	} else if (d->n == 3) {
		out[n++] = (unsigned char)(d->acc >> 10);
		out[n++] = (unsigned char)(d->acc >> 2);
	}
	d->acc = 0;
	d->n = 0;
	return n;
}

/* One character the fast path did not take: outside the alphabet, '=', or mid-quantum. */
static size_t b64_one(struct b64dec *d, unsigned char ch, unsigned char *o)
{
	signed char v = b64val[ch];
	if (v < 0) {
		if (ch == '=' && d->n >= 2) {
			d->odd |= (d->acc & (d->n == 2 ? 15u : 3u)) != 0; /* unused bits set */
			d->pads_left = 3 - d->n;
			size_t n = b64_flush(d, o);
			d->done = true;
			return n;
		}
		d->odd |= ch != '\r' && ch != '\n';
		return 0;
	}
	d->acc = d->acc << 6 | (uint32_t)v;
	if (++d->n < 4)
		return 0;
	o[0] = (unsigned char)(d->acc >> 16);
	o[1] = (unsigned char)(d->acc >> 8);
	o[2] = (unsigned char)d->acc;
	d->acc = 0;
	d->n = 0;
	return 3;
}

/*
 * Whole quanta of four alphabet characters go three bytes at a time (the
 * lines of a part, between their line breaks); anything else, one
 * character at a time through b64_one(). The same bytes either way: the
 * unit test compares it with the one-character loop on random input.
 */
static size_t b64_step(struct b64dec *d, const unsigned char *in, size_t len, unsigned char *out)
{
	unsigned char *o = out;
	size_t i = 0;
	while (i < len && !d->done) {
		for (; d->n == 0 && i + 4 <= len; i += 4, o += 3) {
			int32_t a = b64val[in[i]], b = b64val[in[i + 1]], c = b64val[in[i + 2]],
			        e = b64val[in[i + 3]];
			if ((a | b | c | e) < 0)
				break;
			uint32_t v =
			    (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)e;
			o[0] = (unsigned char)(v >> 16);
			o[1] = (unsigned char)(v >> 8);
			o[2] = (unsigned char)v;
		}
		if (i < len)
			o += b64_one(d, in[i++], o);
	}
	for (; i < len && !d->odd; i++) { /* after the padding: only the rest of it, or breaks */
		if (in[i] == '=' && d->pads_left > 0)
			d->pads_left--;
		else
			d->odd = in[i] != '\r' && in[i] != '\n';
	}
	return (size_t)(o - out);
}

/* After the last b64_step(): can the text be copied instead (struct b64dec)? */
static bool b64_canonical(const struct b64dec *d)
{
	return !d->odd && d->n == 0 && d->pads_left == 0;
}

/*
 * Quoted-printable (RFC 2045 section 6.7), in place: "=XX" is a byte, "="
 * before a line break is a soft break, trailing white space on a line is
 * deleted (rule 3: transports add it), and a malformed "=" is kept as is
 * (the RFC's advice for robust decoders). Returns the decoded length.
 */
/* Bytes that end a run copied as they are: everything else decodes to itself. */
static const bool qp_stop[256] = {
    ['='] = true, ['\r'] = true, ['\n'] = true, [' '] = true, ['\t'] = true};

size_t pqp_decode(char *buf, size_t len)
{
	size_t r = 0, w = 0, line_w = 0; /* line_w: w where trailing space may start */

	while (r < len) {
		size_t run = r;
		while (run < len && !qp_stop[(unsigned char)buf[run]])
			run++;
		if (run > r) { /* most of a line: one move instead of a byte at a time */
			if (w != r)
				memmove(buf + w, buf + r, run - r);
			w += run - r;
			r = run;
			line_w = w;
			continue;
		}
		unsigned char ch = (unsigned char)buf[r];
		if (ch == '\n' || (ch == '\r' && r + 1 < len && buf[r + 1] == '\n')) {
			w = line_w; /* drop trailing white space */
			size_t nl = ch == '\r' ? 2 : 1;
			memmove(buf + w, buf + r, nl);
			w += nl;
			r += nl;
			line_w = w;
			continue;
		}
		if (ch == '=') {
			size_t e = r + 1;
			while (e < len && (buf[e] == ' ' || buf[e] == '\t'))
				e++;
			if (e == len || buf[e] == '\n' ||
			    (buf[e] == '\r' && e + 1 < len && buf[e + 1] == '\n')) {
				r = e == len ? len
				             : e + (buf[e] == '\r' ? 2 : 1); /* soft line break */
				line_w = w;
				continue;
			}
			int hi = r + 2 < len ? codec_hex_value((unsigned char)buf[r + 1]) : -1;
			int lo = r + 2 < len ? codec_hex_value((unsigned char)buf[r + 2]) : -1;
			if (hi >= 0 && lo >= 0) {
				buf[w++] = (char)(hi << 4 | lo);
				r += 3;
				line_w = w;
				continue;
			}
		}
		buf[w++] = (char)ch;
		r++;
		if (ch != ' ' && ch != '\t')
			line_w = w;
	}
	return line_w == w ? w : line_w; /* trailing space at the very end goes too */
}

static int pbuf_sink_raw(void *arg, const char *p, size_t n)
{
	return pbuf_add(arg, p, n);
}

/*
 * QP needs whole lines for rule 3 (trailing white space): the part is
 * decoded a run of whole lines at a time, what follows the last line break
 * waiting for the next read, so a big part is never held whole (a part
 * without a line break still is, until its end). Decoding whole lines
 * apart gives the bytes decoding them together would: every rule of
 * pqp_decode() ends at a line break (test_decoders.c compares both).
 */
static int qpdecode(GMimeDataWrapper *w, psink_fn sink, void *arg)
{
	GMimeStream *s = g_mime_data_wrapper_get_stream(w);
	struct pbuf b = {.max = SIZE_MAX / 2};
	char chunk[DECODE_CHUNK];
	int rc = 0;

	g_mime_stream_reset(s);
	for (;;) {
		ssize_t r = g_mime_stream_read(s, chunk, sizeof(chunk));
		if (r <= 0)
			break;
		if (pbuf_sink_raw(&b, chunk, (size_t)r) < 0) {
			rc = -1;
			break;
		}
		/* only the new bytes: what was kept has no line break (else a 50 MB line costs n^2)
		 */
		const char *nl = memrchr(b.p + b.len - (size_t)r, '\n', (size_t)r);
		if (!nl)
			continue;
		size_t whole = (size_t)(nl - b.p) + 1, m = pqp_decode(b.p, whole);
		if (m && (rc = sink(arg, b.p, m)) < 0)
			break;
		memmove(b.p, b.p + whole, b.len - whole);
		b.len -= whole;
	}
	if (rc == 0 && b.len) {
		size_t m = pqp_decode(b.p, b.len);
		rc = m ? sink(arg, b.p, m) : 0;
	}
	pbuf_free(&b);
	return rc;
}

size_t pb64_decode(const char *in, size_t len, char *out)
{
	struct b64dec d = {0};
	pthread_once(&b64val_once, b64val_init);
	size_t n = b64_step(&d, (const unsigned char *)in, len, (unsigned char *)out);
	return n + b64_flush(&d, (unsigned char *)out + n);
}

static bool is_identity(GMimeContentEncoding enc)
{
	return enc == GMIME_CONTENT_ENCODING_DEFAULT || enc == GMIME_CONTENT_ENCODING_7BIT ||
	       enc == GMIME_CONTENT_ENCODING_8BIT || enc == GMIME_CONTENT_ENCODING_BINARY;
}

/*
 * uuencode (rare, never standard) needs its "begin" line found first,
 * which GMime's filter does and its step function does not: decode through
 * the filter, into memory.
 */
static int uudecode(GMimeDataWrapper *w, psink_fn sink, void *arg)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	int rc = 0;
	if (g_mime_data_wrapper_write_to_stream(w, mem) >= 0) {
		GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		rc = a && a->len ? sink(arg, (const char *)a->data, a->len) : 0;
	}
	g_object_unref(mem);
	return rc;
}

static int b64decode(GMimeStream *s, psink_fn sink, void *arg, bool *canonical)
{
	/* on the stack: a malloc of this size per part costs more than small messages' parsing */
	char in[DECODE_CHUNK];
	unsigned char out[DECODE_CHUNK];
	struct b64dec d = {0};

	pthread_once(&b64val_once, b64val_init);
	g_mime_stream_reset(s);
	for (;;) {
		ssize_t n = g_mime_stream_read(s, in, DECODE_CHUNK);
		if (n <= 0)
			break;
		size_t m = b64_step(&d, (const unsigned char *)in, (size_t)n, out);
		if (m && sink(arg, (const char *)out, m) < 0)
			return -1;
	}
	if (canonical)
		*canonical = b64_canonical(&d);
	size_t m = b64_flush(&d, out);
	return m ? sink(arg, (const char *)out, m) : 0;
}

int pmime_decode_canon(GMimeDataWrapper *w, psink_fn sink, void *arg, bool *b64_canonical)
{
	GMimeStream *s = w ? g_mime_data_wrapper_get_stream(w) : NULL;
	if (b64_canonical)
		*b64_canonical = false;
	if (!s)
		return 0;
	GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
	GMimeEncoding st;
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return uudecode(w, sink, arg);
	if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
		return qpdecode(w, sink, arg);
	if (enc == GMIME_CONTENT_ENCODING_BASE64)
		return b64decode(s, sink, arg, b64_canonical);
	char in[DECODE_CHUNK], out[DECODE_CHUNK * 2];
	bool identity = is_identity(enc);
	int rc = 0;

	g_mime_encoding_init_decode(&st, enc);
	if (!identity && g_mime_encoding_outlen(&st, DECODE_CHUNK) > sizeof(out))
		return -1; /* cannot happen for the decoders GMime has: output <= input + state */
	g_mime_stream_reset(s);
	for (;;) {
		ssize_t n = g_mime_stream_read(s, in, DECODE_CHUNK);
		if (n <= 0)
			break;
		size_t m = identity ? (size_t)n : g_mime_encoding_step(&st, in, (size_t)n, out);
		rc = m ? sink(arg, identity ? in : out, m) : 0;
		if (rc < 0)
			return rc;
	}
	if (!identity) {
		size_t m = g_mime_encoding_flush(&st, in, 0, out);
		rc = m ? sink(arg, out, m) : 0;
	}
	return rc;
}

int pmime_decode(GMimeDataWrapper *w, psink_fn sink, void *arg)
{
	return pmime_decode_canon(w, sink, arg, NULL);
}

/*
 * A base64 part's text without its line breaks: what decoding and then
 * pb64 would write, when pmime_decode_canon() said the text is canonical.
 */
int pmime_copy_b64(GMimeDataWrapper *w, psink_fn sink, void *arg)
{
	GMimeStream *s = w ? g_mime_data_wrapper_get_stream(w) : NULL;
	char in[DECODE_CHUNK];
	if (!s)
		return 0;
	g_mime_stream_reset(s);
	for (;;) {
		ssize_t n = g_mime_stream_read(s, in, DECODE_CHUNK);
		if (n <= 0)
			return 0;
		char *to = in; /* the lines moved down over their breaks, in place */
		for (char *p = in, *end = in + n; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *cr;
			while ((cr = memchr(p, '\r', (size_t)(e - p)))) { /* CRLF, or a bare CR */
				memmove(to, p, (size_t)(cr - p));
				to += cr - p;
				p = cr + 1;
			}
			memmove(to, p, (size_t)(e - p));
			to += e - p;
			p = nl ? nl + 1 : end;
		}
		if (to > in && sink(arg, in, (size_t)(to - in)) < 0)
			return -1;
	}
}

/* Encoded length of a part's content, to size a buffer once; 0 when unknown. */
size_t pmime_encoded_length(GMimeDataWrapper *w)
{
	GMimeStream *s = w ? g_mime_data_wrapper_get_stream(w) : NULL;
	gint64 n = s ? g_mime_stream_length(s) : -1;
	return n > 0 ? (size_t)n : 0;
}
