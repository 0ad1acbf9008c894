/*
 * test_decoders.c: the transfer decoders of gateway/mime/payload_b64.c
 * against the one-character-at-a-time loops they replaced, on random
 * input drawn mostly from the characters that take the slow paths (line
 * breaks, '=', white space, junk), so that every branch a message can
 * choose is compared: base64 fed whole (pb64_decode) and through
 * pmime_decode()'s 16 KB chunks (state carried between them), and
 * quoted-printable (pqp_decode); and that a base64 text is copied instead
 * of decoded and encoded again only where both write the same characters.
 */
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "../common/test_rand.h"
#include "../unit.h"
#include "codec.h"
#include "payload_int.h"

#define ROUNDS 3000

/* The base64 loop as it was: RFC 2045 6.8, junk skipped, '=' ends the data. */
static size_t ref_b64(const unsigned char *in, size_t len, unsigned char *out)
{
	uint32_t acc = 0;
	int n = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = codec_b64_value(in[i]);
		if (v < 0) {
			if (in[i] == '=' && n >= 2)
				break;
			continue;
		}
		acc = acc << 6 | (uint32_t)v;
		if (++n == 4) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
			n = 0;
		}
	}
	if (n == 2) {
		out[o++] = (unsigned char)(acc >> 4);
	} else if (n == 3) {
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	return o;
}

/* The quoted-printable loop as it was (RFC 2045 6.7 with rule 3). */
static size_t ref_qp(char *buf, size_t len)
{
	size_t r = 0, w = 0, line_w = 0;
	while (r < len) {
		unsigned char ch = (unsigned char)buf[r];
		if (ch == '\n' || (ch == '\r' && r + 1 < len && buf[r + 1] == '\n')) {
			w = line_w;
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
				r = e == len ? len : e + (buf[e] == '\r' ? 2 : 1);
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
	return line_w == w ? w : line_w;
}

/* Random text: mostly from alphabet, the rest from the slow path's characters. */
static size_t fill(uint32_t *x, char *buf, size_t max, const char *alphabet, const char *odd)
{
	size_t len = test_rand(x) % max, na = strlen(alphabet), no = strlen(odd);
	unsigned odd_rate = 1 + test_rand(x) % 40; /* in 64ths: from rare to frequent */
	for (size_t i = 0; i < len; i++) {
		if ((test_rand(x) & 63) < odd_rate)
			buf[i] = odd[test_rand(x) % no];
		else
			buf[i] = alphabet[test_rand(x) % na];
	}
	return len;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_ODD[] = "\r\n\r\n= \t!*-\x80\xff";

static void check_b64_whole(void)
{
	static char in[4096];
	static unsigned char got[4096], want[4096];
	uint32_t x = TEST_RAND_SEED;
	int bad = 0;
	for (int r = 0; r < ROUNDS; r++) {
		size_t len = fill(&x, in, sizeof(in), B64, B64_ODD);
		size_t g = pb64_decode(in, len, (char *)got),
		       w = ref_b64((unsigned char *)in, len, want);
		if (g != w || memcmp(got, want, g) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
}

static int collect(void *arg, const char *p, size_t n)
{
	return pbuf_add(arg, p, n);
}

/* Does pmime_decode(), reading in through GMime as a part of this encoding, give want? */
static bool decodes_to(const char *in, size_t len, GMimeContentEncoding enc, const char *want,
                       size_t wlen)
{
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(in, len);
	GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(s, enc);
	struct pbuf b = {.max = len + 16};
	bool same = pmime_decode(dw, collect, &b) == 0 && b.len == wlen &&
	            (!wlen || memcmp(b.p, want, wlen) == 0);
	pbuf_free(&b);
	g_object_unref(dw);
	g_object_unref(s);
	return same;
}

/* Through pmime_decode: inputs past its 16 KB chunk, so a quantum spans two reads. */
static void check_b64_chunked(void)
{
	size_t cap = 80000;
	char *in = malloc(cap);
	unsigned char *want = malloc(cap);
	uint32_t x = TEST_RAND_SEED ^ 0x5bd1e995u;
	int bad = 0;
	for (int r = 0; r < 60 && in && want; r++) {
		size_t len = fill(&x, in, cap, B64, B64_ODD);
		size_t w = ref_b64((unsigned char *)in, len, want);
		bad += !decodes_to(in, len, GMIME_CONTENT_ENCODING_BASE64, (const char *)want, w);
	}
	CHECK(in && want);
	CHECK_INT(bad, 0);
	free(in);
	free(want);
}

/* What pb64 writes for the decoded bytes of in: the JSON's content when nothing is copied. */
static void encode_decoded(GMimeDataWrapper *dw, struct pbuf *enc, bool *canonical)
{
	struct pbuf dec = {.max = SIZE_MAX / 2};
	struct pb64 e;
	pb64_init(&e, collect, enc);
	CHECK_INT(pmime_decode_canon(dw, collect, &dec, canonical), 0);
	CHECK_INT(dec.len ? pb64_add(&e, (const unsigned char *)dec.p, dec.len) : 0, 0);
	CHECK_INT(pb64_end(&e), 0);
	pbuf_free(&dec);
}

/* Random bytes, encoded, wrapped at width columns with CRLF or LF. */
static size_t wrapped(uint32_t *x, char *out, size_t cap)
{
	unsigned char raw[3000];
	char flat[4100];
	size_t n = test_rand(x) % sizeof(raw), width = 4 + test_rand(x) % 90, o = 0;
	for (size_t i = 0; i < n; i++)
		raw[i] = (unsigned char)test_rand(x);
	size_t fl = codec_b64_encode(raw, n, flat);
	const char *nl = test_rand(x) & 1 ? "\r\n" : "\n";
	for (size_t i = 0; i < fl && o + width + 2 < cap; i += width) {
		size_t k = fl - i < width ? fl - i : width;
		memcpy(out + o, flat + i, k);
		o += k;
		memcpy(out + o, nl, strlen(nl));
		o += strlen(nl);
	}
	return o;
}

/*
 * pmime_copy_b64() may stand in for decode-then-encode only where it writes
 * the same characters: every text said canonical must copy to exactly that,
 * and every well-formed wrapped encoding must be said canonical.
 */
static void check_b64_copy(void)
{
	static char in[8192];
	uint32_t x = TEST_RAND_SEED ^ 0x27d4eb2fu;
	int wrong = 0, missed = 0, copied = 0, refused = 0;
	for (int r = 0; r < ROUNDS; r++) {
		bool well_formed = r & 1;
		size_t len = well_formed ? wrapped(&x, in, sizeof(in))
		                         : fill(&x, in, sizeof(in), B64, B64_ODD);
		GMimeStream *s = g_mime_stream_mem_new_with_buffer(in, len);
		GMimeDataWrapper *dw =
		    g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_BASE64);
		struct pbuf enc = {.max = SIZE_MAX / 2}, copy = {.max = SIZE_MAX / 2};
		bool canonical = false;
		encode_decoded(dw, &enc, &canonical);
		if (canonical) {
			copied++;
			CHECK_INT(pmime_copy_b64(dw, collect, &copy), 0);
			wrong += copy.len != enc.len || (enc.len && memcmp(copy.p, enc.p, enc.len));
		} else {
			refused++;
			missed += well_formed;
		}
		pbuf_free(&enc);
		pbuf_free(&copy);
		g_object_unref(dw);
		g_object_unref(s);
	}
	CHECK_INT(wrong, 0);
	CHECK_INT(missed, 0);
	CHECK(copied >= ROUNDS / 2 && refused > ROUNDS / 4); /* both ways were taken */
}

/* The edges of "canonical", one by one (RFC 4648 sections 3.3 and 3.5, RFC 2045 6.8). */
static void check_b64_copy_edges(void)
{
	static const struct {
		const char *in;
		bool canonical;
	} t[] = {
	    {"", true},          {"\r\n", true}, {"QUJD\r\nRA==\r\n", true},
	    {"QQ==", true},      {"QUI=", true}, {"QUJD", true},
	    {"QR==", false},     /* unused bits set: decodes to "A", which is "QQ==" */
	    {"QUJ=", false},     /* the same with one pad */
	    {"QQ=", false},      /* a pad missing */
	    {"QQ===", false},    /* a pad too many */
	    {"QQ", false},       /* no padding: pb64 would add it */
	    {"QUJDR", false},    /* a lone sextet: dropped by the decoder */
	    {"QQ==QQ==", false}, /* data after the padding: ignored by the decoder */
	    {"QU JD", false},    /* white space other than line breaks */
	    {"QUJD!", false},    /* junk */
	    {"=QUJD", false},    /* '=' before any data: skipped by the decoder */
	    {"QU\rJD\n", true},  /* a bare CR is a break like any other */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		GMimeStream *s = g_mime_stream_mem_new_with_buffer(t[i].in, strlen(t[i].in));
		GMimeDataWrapper *dw =
		    g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_BASE64);
		struct pbuf enc = {.max = 256}, copy = {.max = 256};
		bool canonical = !t[i].canonical;
		encode_decoded(dw, &enc, &canonical);
		CHECK_INT(canonical, t[i].canonical);
		if (canonical) {
			CHECK_INT(pmime_copy_b64(dw, collect, &copy), 0);
			CHECK(copy.len == enc.len &&
			      (!enc.len || memcmp(copy.p, enc.p, enc.len) == 0));
		}
		pbuf_free(&enc);
		pbuf_free(&copy);
		g_object_unref(dw);
		g_object_unref(s);
	}
}

static void check_qp_random(void)
{
	static char a[2048], b[2048];
	uint32_t x = TEST_RAND_SEED ^ 0x9e3779b9u;
	int bad = 0;
	for (int r = 0; r < ROUNDS; r++) {
		size_t len =
		    fill(&x, a, sizeof(a), "abcXYZ019.,;:<>\xc3\xa9", "=\r\n \t=3D=C3=A9=\r\n=ZZ");
		memcpy(b, a, len);
		size_t g = pqp_decode(a, len), w = ref_qp(b, len);
		if (g != w || memcmp(a, b, g) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
}

/* Through pmime_decode: a quoted-printable part read in 16 KB pieces, decoded by whole lines. */
static void check_qp_chunked(void)
{
	size_t cap = 100000;
	char *in = malloc(cap), *want = malloc(cap);
	uint32_t x = TEST_RAND_SEED ^ 0x85ebca6bu;
	int bad = 0;
	for (int r = 0; r < 80 && in && want; r++) {
		size_t len =
		    fill(&x, in, cap, "abcXYZ019.,;:<>\xc3\xa9", "=\r\n \t=3D=C3=A9=\r\n=ZZ");
		memcpy(want, in, len);
		size_t w = ref_qp(want, len);
		bad += !decodes_to(in, len, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE, want, w);
	}
	CHECK(in && want);
	CHECK_INT(bad, 0);
	free(in);
	free(want);
}

/*
 * A charset conversion that may give back its input's pages (pctx.consumable,
 * converted 1 MB at a time) writes what the whole conversion writes: 2.5 MB
 * of mixed text in multi-byte and stateful charsets, so that chunks end
 * inside a sequence and inside a shift state, with a few invalid bytes.
 */
static void check_conversion_chunked(void)
{
	static const char *const charsets[] = {"shift_jis", "iso-2022-jp", "gb18030",
	                                       "utf-16le",  "iso-8859-1",  "euc-kr"};
	static const char *const pieces[] = {"abc ",         "\xe6\x97\xa5\xe6\x9c\xac ",
	                                     "caf\xc3\xa9 ", "\xed\x95\x9c ",
	                                     "\n",           "\xe4\xb8\xad "};
	size_t cap = 2600000;
	char *utf8 = malloc(cap);
	size_t n = 0;
	uint32_t x = TEST_RAND_SEED ^ 0xc2b2ae35u;
	while (utf8 && n + 16 < cap) {
		const char *p = pieces[test_rand(&x) % (sizeof(pieces) / sizeof(pieces[0]))];
		memcpy(utf8 + n, p, strlen(p));
		n += strlen(p);
	}
	CHECK(utf8 != NULL);
	for (size_t k = 0; utf8 && k < sizeof(charsets) / sizeof(charsets[0]); k++) {
		iconv_t cd = iconv_open(charsets[k], "UTF-8");
		char *enc = malloc(cap * 2), *copy = malloc(cap * 2), *in = utf8, *o = enc;
		size_t inleft = n, oleft = cap * 2;
		while (cd != (iconv_t)-1 && enc && inleft &&
		       iconv(cd, &in, &inleft, &o, &oleft) == (size_t)-1 && inleft) {
			in++; /* a character the charset lacks: left out */
			inleft--;
		}
		size_t len = (size_t)(o - enc);
		if (len > 100000 && k != 3) /* an invalid byte in the middle of the text */
			enc[100000] = (char)0xff;
		struct payload_options opt;
		payload_options_default(&opt);
		struct pctx whole = {.opt = &opt, .warnings = json_array()};
		struct pctx chunked = {.opt = &opt, .warnings = json_array()};
		struct pbuf want = {.max = SIZE_MAX / 2}, got = {.max = SIZE_MAX / 2};
		CHECK(cd != (iconv_t)-1 && copy != NULL);
		if (copy) {
			memcpy(copy, enc, len);
			chunked.consumable = copy;
			chunked.consumable_len = len;
		}
		CHECK_INT(ptext_to_utf8(&whole, enc, len, charsets[k], &want, "t"), 0);
		CHECK_INT(ptext_to_utf8(&chunked, copy ? copy : enc, len, charsets[k], &got, "t"),
		          0);
		CHECK(want.len > n / 2 && got.len == want.len && !memcmp(got.p, want.p, want.len));
		CHECK_INT(json_array_size(chunked.warnings), json_array_size(whole.warnings));
		pbuf_free(&want);
		pbuf_free(&got);
		json_decref(whole.warnings);
		json_decref(chunked.warnings);
		free(enc);
		free(copy);
		if (cd != (iconv_t)-1)
			iconv_close(cd);
	}
	free(utf8);
}

/*
 * Text declared UTF-8 but not valid, repaired with U+FFFD 1 MB at a time when
 * consumable: the same bytes and warnings as the whole repair. 2.5 MB of
 * valid characters of every length, stray bytes, truncated sequences and
 * runs of continuation bytes, shifted by 0 to 4 bytes so that the chunks'
 * ends fall at every place inside a sequence.
 */
static void check_utf8_repair_chunked(void)
{
	static const char *const pieces[] = {"abc ",
	                                     "caf\xc3\xa9 ",
	                                     "\xe6\x97\xa5\xe6\x9c\xac ",
	                                     "\xf0\x9f\x98\x80",
	                                     "\n",
	                                     "\xff",
	                                     "\x80\x80\x80\x80\x80",
	                                     "\xe6\x97 ",
	                                     "\xf0\x9f\x98",
	                                     "\xc3",
	                                     "\xed\xa0\x80",
	                                     "\xc0\xaf"};
	size_t cap = 2600000;
	char *text = malloc(cap + 8);
	size_t n = 4;
	uint32_t x = TEST_RAND_SEED ^ 0x27d4eb2fu;
	CHECK(text != NULL);
	if (!text)
		return;
	memset(text, 'a', 4);
	while (n + 16 < cap) {
		const char *p = pieces[test_rand(&x) % (sizeof(pieces) / sizeof(pieces[0]))];
		memcpy(text + n, p, strlen(p));
		n += strlen(p);
	}
	for (size_t shift = 0; shift <= 4; shift++) {
		const char *in = text + 4 - shift;
		size_t len = n - 4 + shift;
		char *copy = malloc(len);
		struct payload_options opt;
		payload_options_default(&opt);
		struct pctx whole = {.opt = &opt, .warnings = json_array()};
		struct pctx chunked = {.opt = &opt, .warnings = json_array()};
		struct pbuf want = {.max = SIZE_MAX / 2}, got = {.max = SIZE_MAX / 2};
		CHECK(copy != NULL);
		if (!copy)
			break;
		memcpy(copy, in, len);
		chunked.consumable = copy;
		chunked.consumable_len = len;
		CHECK_INT(ptext_to_utf8(&whole, in, len, "utf-8", &want, "t"), 0);
		CHECK_INT(ptext_to_utf8(&chunked, copy, len, "utf-8", &got, "t"), 0);
		CHECK(want.len > len / 2 && got.len == want.len &&
		      !memcmp(got.p, want.p, want.len));
		CHECK_INT(json_array_size(chunked.warnings), json_array_size(whole.warnings));
		CHECK(json_equal(chunked.warnings, whole.warnings));
		pbuf_free(&want);
		pbuf_free(&got);
		json_decref(whole.warnings);
		json_decref(chunked.warnings);
		free(copy);
	}
	free(text);
}

/*
 * The same, with each awkward run placed across the first chunk's end at
 * every offset: a character followed by more continuation bytes than any
 * sequence has, a truncated sequence, a sequence of each length.
 */
static void check_utf8_repair_chunk_ends(void)
{
	static const char *const runs[] = {"\xc3\x80\x80\x80\x80\x80",
	                                   "\xf0\x9f\x98\x80\x80\x80\x80\x80",
	                                   "\xe6\x97x",
	                                   "\xf0\x9f\x98\x80",
	                                   "\xe6\x97\xa5\xc3\xa9",
	                                   "\x80\xff\x80\xc3"};
	size_t chunk = 1u << 20, len = chunk + 64;
	char *text = malloc(len), *copy = malloc(len);
	CHECK(text != NULL && copy != NULL);
	for (size_t r = 0; text && copy && r < sizeof(runs) / sizeof(runs[0]); r++) {
		size_t rl = strlen(runs[r]);
		for (size_t off = chunk - 10; off <= chunk + 2; off++) {
			memset(text, 'a', len);
			memcpy(text + 8, "caf\xc3\xa9", 5); /* one good multi-byte character */
			memcpy(text + off, runs[r], rl);
			memcpy(copy, text, len);
			struct payload_options opt;
			payload_options_default(&opt);
			struct pctx whole = {.opt = &opt, .warnings = json_array()};
			struct pctx chunked = {.opt = &opt, .warnings = json_array()};
			struct pbuf want = {.max = SIZE_MAX / 2}, got = {.max = SIZE_MAX / 2};
			chunked.consumable = copy;
			chunked.consumable_len = len;
			CHECK_INT(ptext_to_utf8(&whole, text, len, "utf-8", &want, "t"), 0);
			CHECK_INT(ptext_to_utf8(&chunked, copy, len, "utf-8", &got, "t"), 0);
			CHECK(got.len == want.len && !memcmp(got.p, want.p, want.len));
			CHECK(json_equal(chunked.warnings, whole.warnings));
			pbuf_free(&want);
			pbuf_free(&got);
			json_decref(whole.warnings);
			json_decref(chunked.warnings);
		}
	}
	free(text);
	free(copy);
}

int main(void)
{
	pgmime_init();
	check_b64_whole();
	check_b64_chunked();
	check_b64_copy();
	check_b64_copy_edges();
	check_qp_random();
	check_qp_chunked();
	check_conversion_chunked();
	check_utf8_repair_chunked();
	check_utf8_repair_chunk_ends();
	return UNIT_END("mime_decoders");
}
