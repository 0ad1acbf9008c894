/*
 * dkim_canon.c: the "simple" and "relaxed" canonicalisations of RFC 6376
 * section 3.4 (header 3.4.1/3.4.2, body 3.4.3/3.4.4), the l= body length
 * limit (3.5, 3.4.5), and body hashing in one streaming pass per distinct
 * (canonicalisation, length, hash) tuple.
 *
 * Canonical bytes go straight into the digest through a small staging
 * buffer: no copy of the body is ever made. A bare LF counts as a line
 * end, as every common verifier does (the SMTP front end has normally
 * turned it into CRLF or refused it already). Must never allocate per
 * line nor read outside [body, body+len).
 */
#include <pthread.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "dkim_int.h"

/*
 * SHA-1 and SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the
 * implementation up (under a lock) at every EVP_DigestInit_ex().
 */
static EVP_MD *md_sha1, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *dkim_md(bool sha1)
{
	pthread_once(&md_once, md_fetch);
	if (sha1)
		return md_sha1 ? md_sha1 : EVP_sha1();
	return md_sha256 ? md_sha256 : EVP_sha256();
}

/* ---- a digest sink with a byte budget ------------------------------ */

struct sink {
	EVP_MD_CTX *md;
	uint64_t limit; /* bytes that may still be hashed */
	uint64_t total; /* canonical bytes produced, hashed or not */
	unsigned char buf[2048];
	size_t n;
	int err;
};

static void sink_flush(struct sink *s)
{
	if (s->n && EVP_DigestUpdate(s->md, s->buf, s->n) != 1)
		s->err = -1;
	s->n = 0;
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
	s->total += n;
	if (n > s->limit)
		n = (size_t)s->limit;
	s->limit -= n;
	if (n == 0)
		return;
	if (n > sizeof(s->buf) / 2) {
		sink_flush(s);
		if (EVP_DigestUpdate(s->md, p, n) != 1)
			s->err = -1;
		return;
	}
	if (s->n + n > sizeof(s->buf))
		sink_flush(s);
	memcpy(s->buf + s->n, p, n);
	s->n += n;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- headers -------------------------------------------------------- */

static void relaxed_header(struct sink *s, const char *p, size_t len, size_t nlen, size_t colon)
{
	char low[64];
	size_t i, start;
	bool space = false, any = false;

	for (i = 0; i < nlen; i += sizeof(low)) {
		size_t k, m = nlen - i < sizeof(low) ? nlen - i : sizeof(low);
		for (k = 0; k < m; k++) {
			char c = p[i + k];
			low[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		sink_put(s, low, m);
	}
	sink_put(s, ":", 1);
	/* unfold (drop CR/LF), squeeze WSP runs, drop leading and trailing WSP */
	i = colon + 1;
	while (i < len) {
		char c = p[i];
		if (c == '\r' || c == '\n' || is_wsp(c)) {
			space = space || is_wsp(c);
			i++;
			continue;
		}
		if (space && any)
			sink_put(s, " ", 1);
		space = false;
		any = true;
		start = i;
		while (i < len && p[i] != '\r' && p[i] != '\n' && !is_wsp(p[i]))
			i++;
		sink_put(s, p + start, i - start);
	}
}

int dkim_canon_header(EVP_MD_CTX *md, enum dkim_canon c, const char *p, size_t len, bool with_crlf)
{
	struct sink s = {.md = md, .limit = UINT64_MAX};

	if (c == DKIM_CANON_SIMPLE) {
		sink_put(&s, p, len);
	} else {
		const char *cp = memchr(p, ':', len);
		size_t colon = cp ? (size_t)(cp - p) : len, nlen = colon;
		while (nlen > 0 && is_wsp(p[nlen - 1]))
			nlen--;
		relaxed_header(&s, p, len, nlen, colon);
	}
	if (with_crlf)
		sink_put(&s, "\r\n", 2);
	sink_flush(&s);
	return s.err;
}

/* ---- bodies --------------------------------------------------------- */

static void simple_body(struct sink *s, const char *b, size_t len)
{
	size_t end = len;

	/* trailing empty lines are ignored; an empty body is one CRLF */
	while (end > 0 && b[end - 1] == '\n') {
		end--;
		if (end > 0 && b[end - 1] == '\r')
			end--;
	}
	sink_put(s, b, end);
	sink_put(s, "\r\n", 2);
}

/*
 * The first byte at or after i of p[0..n) where relaxed changes something:
 * a TAB, or an SP followed by WSP (a lone SP between words is canonical
 * already). Sixteen bytes at a time with SSE2: mail text has an SP every
 * few bytes, and one test per byte was most of a signed message's hashing
 * outside SHA-256.
 */
static size_t next_squeeze(const char *p, size_t i, size_t n)
{
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
	for (; i + 17 <= n; i += 16) { /* the next chunk is loaded from i + 1 */
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
		__m128i wsp_next = _mm_or_si128(_mm_cmpeq_epi8(w, sp), _mm_cmpeq_epi8(w, tab));
		__m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, tab),
		                           _mm_and_si128(_mm_cmpeq_epi8(v, sp), wsp_next));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	for (; i < n; i++)
		if (p[i] == '\t' || (p[i] == ' ' && i + 1 < n && is_wsp(p[i + 1])))
			return i;
	return n;
}

/*
 * One line without its trailing WSP (n > 0), WSP runs squeezed to one SP
 * (3.4.4 a): most lines go to the sink in one piece.
 */
static void relaxed_line(struct sink *s, const char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = next_squeeze(p, 0, n); i < n; i = next_squeeze(p, i, n)) {
		sink_put(s, p + start, i - start);
		sink_put(s, " ", 1);
		while (i < n && is_wsp(p[i]))
			i++;
		start = i;
	}
	sink_put(s, p + start, n - start);
}

static void relaxed_body(struct sink *s, const char *b, size_t len)
{
	size_t i = 0, pending = 0;

	while (i < len) {
		const char *nl = memchr(b + i, '\n', len - i);
		size_t ce = nl ? (size_t)(nl - b) : len, next = nl ? ce + 1 : len;
		if (nl && ce > i && b[ce - 1] == '\r')
			ce--;
		while (ce > i && is_wsp(b[ce - 1])) /* WSP at the end of a line goes (3.4.4 a) */
			ce--;
		if (ce == i) { /* nothing but WSP: empty, and dropped if none follows (3.4.4 b) */
			if (nl)
				pending++;
		} else {
			for (; pending; pending--)
				sink_put(s, "\r\n", 2);
			relaxed_line(s, b + i, ce - i);
			sink_put(s, "\r\n", 2);
		}
		i = next;
	}
}

static int body_hash(struct dkim_bh_slot *o, const char *body, size_t len)
{
	struct sink s = {.limit = o->limit};
	int rc = -1;

	s.md = EVP_MD_CTX_new();
	if (!s.md)
		return -1;
	if (EVP_DigestInit_ex(s.md, o->md, NULL) != 1)
		goto out;
	if (o->canon == DKIM_CANON_SIMPLE)
		simple_body(&s, body, len);
	else
		relaxed_body(&s, body, len);
	sink_flush(&s);
	if (s.err || EVP_DigestFinal_ex(s.md, o->digest, &o->dlen) != 1)
		goto out;
	o->total = s.total;
	rc = 0;
out:
	EVP_MD_CTX_free(s.md);
	return rc;
}

const struct dkim_bh_slot *dkim_body_hash(struct dkim_bh_cache *cache, const char *body, size_t len,
                                          enum dkim_canon c, uint64_t limit, const EVP_MD *md,
                                          struct dkim_bh_slot *tmp)
{
	struct dkim_bh_slot *o;

	for (size_t k = 0; cache && k < cache->n; k++) {
		o = &cache->slot[k];
		if (o->canon == c && o->limit == limit && o->md == md)
			return o;
	}
	if (cache && cache->max && cache->n >= cache->max) {
		cache->over = true;
		return NULL;
	}
	o = (cache && cache->n < DKIM_BH_SLOTS) ? &cache->slot[cache->n] : tmp;
	o->canon = c;
	o->limit = limit;
	o->md = md;
	if (body_hash(o, body, len) < 0)
		return NULL;
	if (cache && o != tmp)
		cache->n++;
	return o;
}
