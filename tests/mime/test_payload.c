/*
 * test_payload.c: unit tests of gateway/mime/ as got/want tables: UTF-8
 * repair, charset conversion, format=flowed (RFC 3676), base64 (RFC 4648
 * section 10 vectors), the caps (parts, depth, headers), and that
 * payload_write() streams exactly the JSON payload_build() returns, from
 * memory or from a file mapping whose pages it gives back.
 * Whole-message cases are data: tests/mime/cases/ (test_cases.py).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../unit.h"
#include "payload_int.h"
#include "payload_test.h"
#include "rfc4648_vectors.h"
#include "test_rand.h"

static void check_utf8(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		size_t replaced;
	} t[] = {
	    {"plain", 5, "plain", 0},
	    {"caf\xC3\xA9", 5, "caf\xC3\xA9", 0},
	    {"a\xFF"
	     "b",
	     3,
	     "a\xEF\xBF\xBD"
	     "b",
	     1},
	    {"\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2},                 /* overlong */
	    {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3}, /* surrogate */
	    {"\xE2\x82"
	     "x",
	     3,
	     "\xEF\xBF\xBD"
	     "x",
	     1}, /* truncated: one U+FFFD */
	    {"\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 4},
	    {"\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80", 0},
	    {"nul\0x", 5, "nul\0x", 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pbuf b = {.max = 64};
		size_t replaced = 99;
		CHECK_INT(putf8_sanitize(t[i].in, t[i].len, &b, &replaced), 0);
		CHECK_INT(replaced, t[i].replaced);
		CHECK_INT(b.len, strlen(t[i].want) + (i == 8 ? 2 : 0));
		CHECK(b.p && memcmp(b.p, t[i].want, b.len) == 0);
		CHECK_INT(putf8_valid(t[i].in, t[i].len) == t[i].len, t[i].replaced == 0);
		pbuf_free(&b);
	}
}

static void check_charsets(void)
{
	static const struct {
		const char *in, *charset, *want, *warning;
	} t[] = {
	    {"caf\xE9", "iso-8859-1", "caf\xC3\xA9", NULL},
	    {"\x80 5", "iso-8859-1", "\xE2\x82\xAC 5", NULL}, /* labelled Latin-1, is 1252 */
	    {"\xA4", "iso-8859-15", "\xE2\x82\xAC", NULL},
	    {"\xF0\xD2\xC9\xD7\xC5\xD4", "koi8-r",
	     "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", NULL},
	    {"\xCF\xF0\xE8\xE2\xE5\xF2", "windows-1251",
	     "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", NULL},
	    {"\x1B$B$3$s$K$A$O\x1B(B", "iso-2022-jp",
	     "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF", NULL},
	    {"\x82\xB1\x82\xF1", "shift_jis", "\xE3\x81\x93\xE3\x82\x93", NULL},
	    {"\xC4\xE3\xBA\xC3", "gb2312", "\xE4\xBD\xA0\xE5\xA5\xBD", NULL},
	    {"caf\xC3\xA9", NULL, "caf\xC3\xA9", "charset_fallback"}, /* undeclared, is UTF-8 */
	    {"caf\xE9", NULL, "caf\xC3\xA9", "charset_fallback"},     /* undeclared, is not */
	    {"caf\xE9", "utf-8", "caf\xC3\xA9", "charset_fallback"},  /* wrong label */
	    {"\xC3\xA9\xFF", "utf-8", "\xC3\xA9\xEF\xBF\xBD", "invalid_utf8"},
	    {"caf\xE9", "x-no-such-charset", "caf\xC3\xA9", "charset_fallback"},
	    {"plain", "x-no-such-charset", "plain", "charset_fallback"},
	    /* outside the WHATWG labels: unknown, never handed to iconv */
	    {"\x82\x82", "TSCII", "\xE2\x80\x9A\xE2\x80\x9A", "charset_fallback"},
	    {"+AGEAYgBj-", "utf-7", "+AGEAYgBj-", "charset_fallback"},
	    {"\x80\xFF", "UCS-4LE", "\xE2\x82\xAC\xC3\xBF", "charset_fallback"},
	    {"\xC3\xA9", "ISO-IR-193", "\xC3\xA9", "charset_fallback"},
	    /* WHATWG labels and their decoders */
	    {"\xFD", " Latin5 ", "\xC4\xB1", NULL},        /* iso-8859-9 is windows-1254 */
	    {"\x80", "iso-8859-11", "\xE2\x82\xAC", NULL}, /* windows-874 */
	    {"\x1B$)C\x0E!!", "iso-2022-kr", "\xEF\xBF\xBD", "invalid_bytes"}, /* replacement */
	    {"a\x80\xFF", "x-user-defined", "a\xEF\x9E\x80\xEF\x9F\xBF", NULL},
	    {"\xEF\xBB\xBF\xC3\xA9", "windows-1252", "\xC3\xA9", NULL}, /* a BOM wins */
	    {"\x4E\x2D", "unicodefffe", "\xE4\xB8\xAD", NULL},          /* UTF-16BE */
	    /* an unpaired surrogate is one U+FFFD; the next code unit stays aligned */
	    {"\xD8\x01\x4E\x2D", "utf-16be", "\xEF\xBF\xBD\xE4\xB8\xAD", "invalid_bytes"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct payload_options o;
		payload_options_default(&o);
		struct pctx c = {.opt = &o, .warnings = json_array()};
		struct pbuf b = {.max = 1024};
		CHECK_INT(ptext_to_utf8(&c, t[i].in, strlen(t[i].in), t[i].charset, &b, "t"), 0);
		CHECK(pbuf_add(&b, "", 1) == 0);
		CHECK_STR(b.p, t[i].want);
		json_t *w = json_array_get(c.warnings, 0);
		CHECK_STR(w ? json_string_value(json_object_get(w, "code")) : "none",
		          t[i].warning ? t[i].warning : "none");
		pbuf_free(&b);
		json_decref(c.warnings);
	}
}

static const char *first_code(json_t *warnings)
{
	json_t *w = json_array_get(warnings, 0);
	return w ? json_string_value(json_object_get(w, "code")) : "none";
}

/*
 * A conversion whose output reaches the buffer's ceiling stops with a
 * warning: before, iconv's E2BIG with no room for one more character was
 * retried for ever (one message froze a worker).
 */
static void check_conversion_bound(void)
{
	char in[40];
	memset(in, 0x82, sizeof(in)); /* U+201A: three bytes of UTF-8 each */
	struct payload_options o;
	payload_options_default(&o);
	for (size_t max = 1; max <= 130; max++) {
		struct pctx c = {.opt = &o, .warnings = json_array()};
		struct pbuf b = {.max = max};
		CHECK_INT(ptext_to_utf8(&c, in, sizeof(in), "windows-1252", &b, "t"), 0);
		CHECK(b.len <= max);
		CHECK(b.len % 3 == 0 && putf8_valid(b.p ? b.p : "", b.len) == b.len);
		CHECK_STR(first_code(c.warnings), max < 120 ? "conversion_limit" : "none");
		pbuf_free(&b);
		json_decref(c.warnings);
	}
}

static void check_flowed(void)
{
	static const struct {
		const char *in;
		bool delsp;
		const char *want;
	} t[] = {
	    {"one \ntwo\n", false, "one two\n"},
	    {"one \ntwo\n", true, "onetwo\n"},
	    {"a \nb \nc\nd\n", false, "a b c\nd\n"},
	    {"> quoted \n> more\nplain\n", false, "> quoted more\nplain\n"},
	    {"> deep \n>> deeper\n", false, "> deep \n>> deeper\n"},
	    {" From stuffed\n", false, "From stuffed\n"},
	    {"sig\n-- \nme\n", false, "sig\n-- \nme\n"},
	    {"no newline at end ", false, "no newline at end "},
	    {">>x\n", false, ">>x\n"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pbuf b = {.max = 256};
		CHECK(pbuf_add(&b, t[i].in, strlen(t[i].in)) == 0);
		ptext_unflow(&b, t[i].delsp);
		CHECK(pbuf_add(&b, "", 1) == 0);
		CHECK_STR(b.p, t[i].want);
		pbuf_free(&b);
	}
}

static int sink(void *arg, const char *p, size_t n)
{
	return pbuf_add(arg, p, n);
}

static void check_base64(void)
{
	for (size_t i = 0; i < RFC4648_N_VECTORS; i++) {
		const char *in = rfc4648_vectors[i].plain, *want = rfc4648_vectors[i].b64;
		/* fed one byte at a time, so the carry between chunks is exercised */
		struct pbuf b = {.max = 64};
		struct pb64 e;
		pb64_init(&e, sink, &b);
		for (const char *p = in; *p; p++)
			CHECK_INT(pb64_add(&e, (const unsigned char *)p, 1), 0);
		CHECK_INT(pb64_end(&e), 0);
		CHECK(pbuf_add(&b, "", 1) == 0);
		CHECK_STR(b.p, want);
		CHECK_INT(pb64_len(strlen(in)), strlen(want));
		pbuf_free(&b);
	}
}

static void check_qp(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"caf=C3=A9", "caf\xC3\xA9"},
	    {"soft=\r\nbreak", "softbreak"},
	    {"soft=  \nbreak", "softbreak"},
	    {"trailing   \r\nspace\t\n", "trailing\r\nspace\n"}, /* RFC 2045 6.7 rule 3 */
	    {"keep = and =ZZ and =4", "keep = and =ZZ and =4"},  /* malformed: kept */
	    {"end  ", "end"},
	    {"=3D=3d", "=="},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[64];
		size_t n = strlen(t[i].in);
		memcpy(buf, t[i].in, n);
		n = pqp_decode(buf, n);
		buf[n] = '\0';
		CHECK_STR(buf, t[i].want);
	}
}

static void check_rfc2047(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?=", "Hello world"}, /* padded words */
	    {"=?utf-8?q?a?=  \t =?utf-8?q?b?=", "ab"},                    /* space between words */
	    {"x =?utf-8?q?a?= y", "x a y"},
	    {"=?UTF-8?B?4pw=?= =?UTF-8?B?lA==?=", "\xE2\x9C\x94"}, /* a character split in two */
	    {"=?ISO-8859-1*fr?Q?caf=E9?=", "caf\xC3\xA9"},         /* RFC 2231 language */
	    {"=?utf-8?x?bad?= text", "=?utf-8?x?bad?= text"},      /* not an encoded-word */
	    {"=?unterminated", "=?unterminated"},
	    {"raw Caf\xE9", "raw Caf\xC3\xA9"}, /* 8-bit: Windows-1252 */
	    {"=?iso-8859-1?q?Copy of R=E5fisklag=2Edoc?=", "Copy of R\xC3\xA5"
	                                                   "fisklag.doc"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct payload_options o;
		payload_options_default(&o);
		struct pctx c = {.opt = &o, .warnings = json_array()};
		struct pbuf b = {.max = 256};
		CHECK_INT(ptext_rfc2047(&c, t[i].in, strlen(t[i].in), &b, "t"), 0);
		CHECK(pbuf_add(&b, "", 1) == 0);
		CHECK_STR(b.p, t[i].want);
		pbuf_free(&b);
		json_decref(c.warnings);
	}
}

static const char *mixed_msg =
    "From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.com>\r\n"
    "To: a@example.com\r\n"
    "Subject: write vs build\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "body with \"quotes\", back\\slash, tab\t, bell\x07, unit separator\x1f, and more text\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream; name=a.bin\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQFBgcICQ==\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "inner body\r\n"
    "--XX--\r\n";

static int dump_sink(const char *p, size_t n, void *arg)
{
	return pbuf_add(arg, p, n);
}

static int failing_sink(const char *p, size_t n, void *arg)
{
	size_t *budget = arg;
	(void)p;
	if (n > *budget)
		return 1; /* any non-zero is a failure, as for json_dump_callback */
	*budget -= n;
	return 0;
}

/*
 * message.reply.text borrows the body's bytes and is escaped once for both
 * (payload_reply.c, payload_json.c): whatever the slice (whole text, after
 * leading blank lines, before a signature or a quote, from HTML), the
 * streamed JSON is the tree's.
 */
static void check_reply_shapes(void)
{
	static const char *const bodies[] = {
	    "Content-Type: text/plain\r\n\r\nThanks, the \"fix\" works\tfine for us; we\\ll "
	    "deploy it tomorrow morning.\r\n\r\n",
	    "Content-Type: text/plain\r\n\r\n\r\n\r\n   indented first line of a reply that "
	    "is long enough to be deferred\r\nsecond line\r\n",
	    "Content-Type: text/plain\r\n\r\nA reply long enough to be written at dump time, "
	    "with a signature.\r\n-- \r\nAlice\r\n",
	    "Content-Type: text/plain\r\n\r\nThe new text of this reply, long enough to be "
	    "deferred too.\r\n\r\nOn Tue, 3 Mar 2026 at 16:30, Bob <b@example.com> wrote:\r\n> "
	    "old\r\n",
	    "Content-Type: text/plain\r\n\r\n> quoted first\r\n\r\nthen an answer below the "
	    "quote, long enough to be deferred\r\n> more quote\r\nand a second answer\r\n",
	    "Content-Type: text/html\r\n\r\n<p>An HTML-only reply, long enough to be "
	    "deferred, &amp; escaped</p><blockquote>old</blockquote>\r\n",
	};
	static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2)};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char msg[1024];
		int n =
		    snprintf(msg, sizeof(msg), "Subject: r\r\nMIME-Version: 1.0\r\n%s", bodies[i]);
		struct message_bytes m = {msg, (size_t)n, false};
		json_t *tree = payload_build(&m, NULL, NULL, "r", NULL);
		CHECK(json_is_string(
		    json_object_get(json_object_get(msg_of(tree), "reply"), "text")));
		for (size_t k = 0; k < 2; k++) {
			char *want = json_dumps(tree, flags[k]);
			struct pbuf got = {.max = 1 << 20};
			CHECK_INT(
			    payload_write(&m, NULL, NULL, "r", NULL, flags[k], dump_sink, &got), 0);
			CHECK(pbuf_add(&got, "", 1) == 0);
			CHECK_STR(got.p, want);
			free(want);
			pbuf_free(&got);
		}
		json_decref(tree);
	}
}

/*
 * Integers are written without snprintf (payload_json.c integer()): the
 * caller's auth object carries any json_int_t, the bounds included.
 */
static void check_write_integers(void)
{
	static const json_int_t ints[] = {0,  1,         -1,        9,         10,        -10,
	                                  42, 123456789, INT64_MAX, INT64_MIN, -INT64_MAX};
	static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2)};
	static const char msg[] = "Subject: n\r\n\r\nbody\r\n";
	struct message_bytes m = {msg, sizeof(msg) - 1, false};
	json_t *auth = json_object(), *list = json_array();
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		CHECK(json_array_append_new(list, json_integer(ints[i])) == 0);
	CHECK(json_object_set_new(auth, "n", list) == 0);
	json_t *tree = payload_build(&m, NULL, auth, "n", NULL);
	for (size_t k = 0; k < 2; k++) {
		char *want = json_dumps(tree, flags[k]);
		struct pbuf got = {.max = 1 << 20};
		CHECK_INT(payload_write(&m, NULL, auth, "n", NULL, flags[k], dump_sink, &got), 0);
		CHECK(pbuf_add(&got, "", 1) == 0);
		CHECK(want && strstr(want, "-9223372036854775808") != NULL);
		CHECK_STR(got.p, want);
		free(want);
		pbuf_free(&got);
	}
	json_decref(tree);
	json_decref(auth);
}

static void check_write_equals_build(void)
{
	struct message_bytes m = {mixed_msg, strlen(mixed_msg), false};
	static const enum gw_attachments modes[] = {ATTACH_INLINE, ATTACH_METADATA, ATTACH_OMIT};
	for (size_t i = 0; i < 3; i++) {
		struct payload_options o;
		payload_options_default(&o);
		o.attachments = modes[i];
		o.include_raw = i == 0;
		json_t *tree = payload_build(&m, NULL, NULL, "id-1", &o);
		char *want = json_dumps(tree, JSON_COMPACT);
		struct pbuf got = {.max = 1 << 20};
		CHECK_INT(payload_write(&m, NULL, NULL, "id-1", &o, JSON_COMPACT, dump_sink, &got),
		          0);
		CHECK(pbuf_add(&got, "", 1) == 0);
		CHECK_STR(got.p, want);
		CHECK(strstr(got.p, "gw-deferred-content") == NULL);
		CHECK_INT(json_integer_value(json_object_get(msg_of(tree), "attachment_count")), 2);
		CHECK_INT(json_array_size(json_object_get(msg_of(tree), "attachments")),
		          i == 2 ? 0 : 2);
		free(want);
		pbuf_free(&got);
		json_decref(tree);
	}
	/* a failing callback fails the write, wherever it fails (tree, body, attachment) */
	struct payload_options ro;
	payload_options_default(&ro);
	ro.include_raw = true;
	json_t *whole = payload_build(&m, NULL, NULL, NULL, &ro);
	char *text = json_dumps(whole, JSON_COMPACT);
	size_t total = strlen(text);
	free(text);
	json_decref(whole);
	for (size_t i = 0; i < 8; i++) {
		struct payload_options o = ro;
		size_t budget = total * i / 8 + (i == 7 ? total / 8 - 1 : 0);
		CHECK_INT(
		    payload_write(&m, NULL, NULL, NULL, &o, JSON_COMPACT, failing_sink, &budget),
		    -1);
	}
	/* flags that change escaping: bodies stay in the tree, output still identical */
	static const size_t flags[] = {0,
	                               JSON_INDENT(2),
	                               JSON_INDENT(3) | JSON_COMPACT,
	                               JSON_ENSURE_ASCII,
	                               JSON_ESCAPE_SLASH | JSON_INDENT(2),
	                               JSON_INDENT(4) | JSON_SORT_KEYS};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct payload_options o;
		payload_options_default(&o);
		json_t *tree = payload_build(&m, NULL, NULL, NULL, &o);
		char *want = json_dumps(tree, flags[i]);
		struct pbuf got = {.max = 1 << 20};
		CHECK_INT(payload_write(&m, NULL, NULL, NULL, &o, flags[i], dump_sink, &got), 0);
		CHECK(pbuf_add(&got, "", 1) == 0);
		CHECK_STR(got.p, want);
		free(want);
		pbuf_free(&got);
		json_decref(tree);
	}
	/* the embedded message is its original bytes, from its first header to the CRLF before the
	 * delimiter */
	struct payload_options o;
	payload_options_default(&o);
	json_t *tree = payload_build(&m, NULL, NULL, NULL, &o);
	json_t *att = json_array_get(json_object_get(msg_of(tree), "attachments"), 1);
	CHECK_STR(
	    json_string_value(json_object_get(att, "content")),
	    "U3ViamVjdDogaW5uZXINCg0KaW5uZXIgYm9keQ=="); /* "Subject: inner\r\n\r\ninner body" */
	CHECK_INT(json_integer_value(json_object_get(att, "size")), 28);
	json_decref(tree);
}

/*
 * A body long enough to be written in chunks whose pages are given back
 * (payload_json.c): every chunk boundary falls somewhere different within
 * a line of quotes, backslashes, tabs and control characters, and the
 * output must still be json_dumps() of the tree, on both serialisers.
 */
static void check_long_body(void)
{
	static const char head[] = "Subject: long\r\nMIME-Version: 1.0\r\n"
	                           "Content-Type: multipart/alternative; boundary=B\r\n\r\n"
	                           "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
	static const char mid[] = "\r\n--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n";
	static const char line[] = "\"q\" \\b\\ \ttab \x01\x1f caf\xC3\xA9 </p>\r\n";
	struct pbuf in = {.max = 8u << 20};
	int rc = 0;
	for (int part = 0; part < 2; part++) {
		rc |= pbuf_add(&in, part ? mid : head, part ? sizeof(mid) - 1 : sizeof(head) - 1);
		for (size_t n = 0; n < (part ? 1300000u : 3100000u); n += sizeof(line) - 1)
			rc |= pbuf_add(&in, line, sizeof(line) - 1);
	}
	rc |= pbuf_add(&in, "\r\n--B--\r\n", 10);
	CHECK_INT(rc, 0);
	struct message_bytes m = {in.p, in.len, false};
	static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2), JSON_SORT_KEYS};
	/* i >= 3: message.reply computed too, its text a slice of the long body's (not copied) */
	for (size_t i = 0; i < 2 * sizeof(flags) / sizeof(flags[0]); i++) {
		struct payload_options o;
		payload_options_default(&o);
		o.max_reply_scan = i < 3 ? o.max_reply_scan : 8u << 20;
		json_t *tree = payload_build(&m, NULL, NULL, "long", &o);
		CHECK(json_string_length(json_object_get(msg_of(tree), "text")) > 2900000);
		CHECK(json_string_length(json_object_get(msg_of(tree), "html")) > 1200000);
		json_t *reply = json_object_get(json_object_get(msg_of(tree), "reply"), "text");
		CHECK(i < 3 ? json_is_null(reply) : json_string_length(reply) > 2900000);
		char *want = json_dumps(tree, flags[i % 3]);
		struct pbuf got = {.max = 40u << 20};
		CHECK_INT(payload_write(&m, NULL, NULL, "long", &o, flags[i % 3], dump_sink, &got),
		          0);
		CHECK(pbuf_add(&got, "", 1) == 0);
		CHECK(want && got.p && strcmp(got.p, want) == 0);
		/* a callback failing inside the long body fails the write */
		size_t budget = strlen(want) / 2;
		CHECK_INT(
		    payload_write(&m, NULL, NULL, "long", &o, flags[i % 3], failing_sink, &budget),
		    -1);
		free(want);
		pbuf_free(&got);
		json_decref(tree);
	}
	pbuf_free(&in);
}

/* A long body's pages are given back as it is written: a second write must fail. */
static void check_given_back(void)
{
	struct pctx c = {0};
	size_t len = 2u << 20;
	char *text = malloc(len);
	json_t *ph = pctx_placeholder();
	CHECK(text && ph);
	memset(text, 'a', len);
	CHECK_INT(pctx_defer_text(&c, ph, text, len), 0);
	json_t *root = json_pack("{s:o}", "t", ph);
	struct pbuf got = {.max = 4u << 20};
	CHECK_INT(pjson_write(&c, root, JSON_COMPACT, dump_sink, &got), 0);
	CHECK_INT(got.len, len + 8); /* {"t":"..."} */
	CHECK(got.len > 7 && got.p[6] == 'a' && got.p[got.len - 3] == 'a');
	got.len = 0;
	CHECK_INT(pjson_write(&c, root, JSON_COMPACT, dump_sink, &got), -1);
	free(c.deferred[0].text);
	free(c.deferred);
	json_decref(root);
	pbuf_free(&got);
}

/* Resident kilobytes of the mapping that starts at p (/proc/self/smaps), or -1. */
static long mapping_rss_kb(const void *p)
{
	char want[32], line[512];
	long kb = -1;
	bool in = false;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)p);
	FILE *f = fopen("/proc/self/smaps", "r");
	while (f && kb < 0 && fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
			in = strncmp(line, want, strlen(want)) == 0;
		else if (in && strncmp(line, "Rss:", 4) == 0)
			kb = strtol(line + 4, NULL, 10);
	}
	if (f)
		fclose(f);
	return kb;
}

static int add0(struct pbuf *b, const char *s)
{
	return pbuf_add(b, s, strlen(s));
}

/*
 * input_mapped (a read-only file mapping, the daemon's spill file): the
 * input's pages go back to the kernel as it is decoded and streamed, and
 * the JSON is the same bytes as from memory: a long 7bit body, a base64
 * attachment, a message/rfc822 slice and message.raw.
 */
static void check_mapped_input(void)
{
	struct pbuf in = {.max = 16u << 20};
	int rc = add0(&in, "Subject: mapped\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n"
	                   "--M\r\nContent-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 40000; i++)
		rc |= add0(&in, "a \"line\" of the body, \\ and \x01 too.\r\n");
	rc |= add0(&in, "--M\r\nContent-Type: application/octet-stream\r\n"
	                "Content-Transfer-Encoding: base64\r\n\r\n");
	for (int i = 0; i < 30000; i++)
		rc |= add0(&in, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygp\r\n");
	rc |= add0(&in, "--M\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		rc |= add0(&in, "inner body line of the embedded message\r\n");
	rc |= add0(&in, "--M--\r\n");
	CHECK_INT(rc, 0);
	char path[] = "/tmp/test_payload_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, in.p, in.len) == (ssize_t)in.len);
	unlink(path);
	char *map = mmap(NULL, in.len, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(map != MAP_FAILED);
	struct message_bytes heap = {in.p, in.len, false}, mapped = {map, in.len, true};
	struct payload_options o;
	payload_options_default(&o);
	o.include_raw = true;
	for (size_t i = 0; i < 2; i++) {
		size_t flags = i ? JSON_SORT_KEYS : JSON_COMPACT;
		struct pbuf want = {.max = 64u << 20}, got = {.max = 64u << 20};
		unsigned sum = 0;
		for (size_t k = 0; k < in.len; k += 4096)
			sum += (unsigned char)map[k]; /* every page resident */
		CHECK(sum > 0 && mapping_rss_kb(map) >= (long)(in.len >> 10) - 8);
		o.input_mapped = false;
		CHECK_INT(payload_write(&heap, NULL, NULL, "m", &o, flags, dump_sink, &want), 0);
		o.input_mapped = true;
		CHECK_INT(payload_write(&mapped, NULL, NULL, "m", &o, flags, dump_sink, &got), 0);
		CHECK(want.len > in.len && got.len == want.len &&
		      memcmp(got.p, want.p, want.len) == 0);
		CHECK(mapping_rss_kb(map) >= 0 && mapping_rss_kb(map) < (long)(in.len >> 11));
		pbuf_free(&want);
		pbuf_free(&got);
	}
	munmap(map, in.len);
	close(fd);
	pbuf_free(&in);
}

static void check_limits(void)
{
	char big[8192];
	size_t n = 0;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "Subject: many\r\n");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-H%d: v\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n,
	                      "Content-Type: multipart/mixed; boundary=B\r\n\r\n");
	for (int i = 0; i < 10; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "--B\r\n\r\npart %d\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "--B--\r\n");
	struct message_bytes m = {big, n, false};
	struct payload_options o;
	payload_options_default(&o);
	o.max_header_count = 5;
	o.max_mime_parts = 4;
	json_t *root = payload_build(&m, NULL, NULL, NULL, &o);
	CHECK(root != NULL);
	CHECK_INT(json_array_size(json_object_get(msg_of(root), "headers")), 5);
	CHECK_STR(first_warning_code(root, "header_count_limit"), "header_count_limit");
	CHECK_STR(first_warning_code(root, "mime_part_limit"), "mime_part_limit");
	/* the multipart and 3 text parts fit under the cap of 4 */
	CHECK_STR(json_string_value(json_object_get(msg_of(root), "text")),
	          "part 0\npart 1\npart 2");
	json_decref(root);

	const char *deep = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
	                   "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	                   "Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\ndeep\r\n"
	                   "--c--\r\n--b--\r\n--a--\r\n";
	struct message_bytes d = {deep, strlen(deep), false};
	o.max_mime_parts = 100;
	o.max_mime_depth = 2;
	root = payload_build(&d, NULL, NULL, NULL, &o);
	CHECK_STR(first_warning_code(root, "mime_depth_limit"), "mime_depth_limit");
	json_t *att = json_array_get(json_object_get(msg_of(root), "attachments"), 0);
	CHECK_STR(json_string_value(json_object_get(att, "content_type")), "multipart/mixed");
	CHECK(json_is_null(json_object_get(msg_of(root), "text")));
	json_decref(root);
}

/*
 * payload_write() streams rcpt_to and recipients[] one element at a time
 * (a tree of 100,000 recipients held ~1 KB each): the same text as the
 * whole tree, compact or indented, one recipient or three.
 */
static void check_envelope_streamed(struct envelope *e, const struct envelope_rcpt *r,
                                    const struct message_bytes *m, const json_t *auth)
{
	struct envelope_rcpt three[3] = {*r, *r, *r};
	three[1].address = "x\"y@example.com";
	three[2].match.route = NULL;
	static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2), 0, JSON_ENSURE_ASCII};
	for (size_t n = 1; n <= 3; n += 2)
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			e->rcpts = n == 1 ? (struct envelope_rcpt *)r : three;
			e->n_rcpts = n;
			json_t *tree = payload_build(m, e, auth, "d-1", NULL);
			char *want = json_dumps(tree, flags[i]);
			struct pbuf got = {.max = 1 << 20};
			CHECK_INT(payload_write(m, e, auth, "d-1", NULL, flags[i], dump_sink, &got),
			          0);
			CHECK(pbuf_add(&got, "", 1) == 0);
			CHECK_STR(got.p, want);
			CHECK(strstr(got.p, "gw-deferred-content") == NULL);
			free(want);
			pbuf_free(&got);
			json_decref(tree);
		}
}

static void check_envelope(void)
{
	struct gw_route route = {.name = "billing"};
	struct envelope_rcpt r = {.address = "bill+q3@example.com"};
	r.match.route = &route;
	r.match.kind = MATCH_PLUS;
	r.match.pattern = "bill@example.com";
	r.match.addr.local = "bill+q3";
	r.match.addr.domain = "example.com";
	r.match.addr.tag = "q3";
	r.match.addr.has_tag = true;
	r.match.addr.base_len = 4;
	struct envelope e = {.mail_from = "",
	                     .rcpts = &r,
	                     .n_rcpts = 1,
	                     .helo = "mx.example.net",
	                     .client_ip = "192.0.2.1",
	                     .client_port = 40000,
	                     .tls_protocol = "TLSv1.3",
	                     .tls_cipher = "TLS_AES_128_GCM_SHA256",
	                     .body = BODY_8BITMIME,
	                     .size = 42,
	                     .received_at_us = 1764000000123456};
	struct message_bytes m = {"Subject: x\r\n\r\nhi\r\n", 18, false};
	json_t *auth = json_pack("{s:s}", "spf", "pass");
	json_t *root = payload_build(&m, &e, auth, "d-1", NULL);
	json_t *env = json_object_get(root, "envelope");
	CHECK_STR(json_string_value(json_object_get(root, "received_at")),
	          "2025-11-24T16:00:00.123456Z");
	CHECK_STR(json_string_value(json_object_get(env, "mail_from")), "");
	CHECK_STR(json_string_value(json_object_get(env, "body_type")), "8bitmime");
	CHECK_STR(json_string_value(json_object_get(json_object_get(env, "tls"), "protocol")),
	          "TLSv1.3");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(env, "client"), "port")),
	          40000);
	json_t *rc = json_array_get(json_object_get(root, "recipients"), 0);
	CHECK_STR(json_string_value(json_object_get(rc, "tag")), "q3");
	CHECK_STR(json_string_value(json_object_get(rc, "base")), "bill@example.com");
	/* the null reverse path is evidence of a machine sender (RFC 3834 section 2) */
	json_t *sig = json_object_get(json_object_get(msg_of(root), "classification"), "signals");
	CHECK_STR(json_string_value(json_array_get(sig, 0)), "null-reverse-path");
	CHECK_STR(json_string_value(json_object_get(json_object_get(rc, "route"), "kind")), "plus");
	CHECK_STR(json_string_value(json_object_get(json_object_get(rc, "route"), "name")),
	          "billing");
	CHECK_STR(json_string_value(json_object_get(json_object_get(root, "auth"), "spf")), "pass");
	check_envelope_streamed(&e, &r, &m, auth);
	json_decref(auth);
	json_decref(root);
}

static bool same_reply(const struct preply *a, const struct preply *b)
{
	return a->quoted == b->quoted && !strcmp(a->method, b->method) &&
	       a->has_sig == b->has_sig && a->text.n == b->text.n &&
	       (a->text.n == 0 || !memcmp(a->text.p, b->text.p, a->text.n)) &&
	       a->sig.len == b->sig.len &&
	       (a->sig.len == 0 || !memcmp(a->sig.p, b->sig.p, a->sig.len));
}

/* Lines for check_reply_prose_same(): what trips cut_line()'s tests, near misses, prose. */
static const char *const reply_lines[] = {
    "Thanks, that works for me.",
    "I will look at it tomorrow",
    "Sent from my iPhone",
    "Sent from my phone, sorry",
    "On Mon, 2 Dec 2026 at 10:00, Ann <ann@example.com> wrote:",
    "On Mon, 2 Dec 2026 at 10:00, Ann <ann@example.com>",
    "wrote:",
    "Ann Example wrote",
    "> quoted text",
    "  > indented quote",
    "-- ",
    "--",
    "-----Original Message-----",
    "From: Ann <ann@example.com>",
    "Sent: Monday, December 2, 2026 10:00 AM",
    "To: Bob",
    "Subject: Re: order",
    "---------- Forwarded message ---------",
    "Begin forwarded message:",
    "Note: the meeting moved",
    "Am 02.12.2026 um 10:00 schrieb Ann:",
    "2026-12-02 10:00 GMT+01:00 Ann <ann@example.com>:",
    "*From:* Ann",
    "___",
    "",
    "   ",
    "Best regards",
    "Ann",
    "\xe5\x8f\x91\xe4\xbb\xb6\xe4\xba\xba\xef\xbc\x9a Ann",
    "\xe4\xbb\x8e\xe6\x88\x91\xe7\x9a\x84iPhone\xe5\x8f\x91\xe9\x80\x81",
    "Gesendet von meinem iPhone",
    "a line that ends with a colon:",
    "Did you see what she wrote",
    /* quote headers wrapped over two and three lines */
    "On Monday 2 December 2026 Ann Example\n<ann@example.com> wrote:",
    "On Monday 2 December 2026\nAnn Example\n<ann@example.com> wrote:",
    ("Le lundi 2 d\xc3\xa9\x63\x65mbre 2026, Ann Example\n<ann@example.com>\na "
     "\xc3\xa9\x63rit :"),
};

/*
 * payload_reply.c keeps a prose line without running its tests one by one
 * (prose()): over generated bodies of lines that trip those tests, near
 * misses and prose, the reply is the same as with every test run.
 */
static void check_reply_prose_same(void)
{
	uint32_t r = TEST_RAND_SEED;
	char body[4096];
	for (int i = 0; i < 20000; i++) {
		size_t len = 0, n = 1 + test_rand(&r) % 12;
		for (size_t k = 0; k < n; k++) {
			const char *l = reply_lines[test_rand(&r) %
			                            (sizeof(reply_lines) / sizeof(reply_lines[0]))];
			size_t ll = strlen(l);
			memcpy(body + len, l, ll);
			len += ll;
			if (k + 1 < n || test_rand(&r) % 2)
				body[len++] = '\n';
		}
		struct preply fast = {0}, slow = {.every_test = true};
		CHECK(preply_extract(body, len, 1 << 20, &fast) == 0);
		CHECK(preply_extract(body, len, 1 << 20, &slow) == 0);
		if (!same_reply(&fast, &slow)) {
			fprintf(stderr, "the prose fast path changed the reply of:\n%.*s\n",
			        (int)len, body);
			CHECK(0);
		}
		preply_free(&fast);
		preply_free(&slow);
	}
}

int main(void)
{
	pgmime_init();
	check_utf8();
	check_charsets();
	check_conversion_bound();
	check_flowed();
	check_base64();
	check_qp();
	check_rfc2047();
	check_write_equals_build();
	check_write_integers();
	check_long_body();
	check_reply_shapes();
	check_reply_prose_same();
	check_given_back();
	check_mapped_input();
	check_limits();
	check_envelope();
	return UNIT_END("mime_payload");
}
