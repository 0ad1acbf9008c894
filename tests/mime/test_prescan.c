/*
 * test_prescan.c: unit tests of payload_scan.c, what GMime is given: the
 * part and header caps cut where they should, and the fields the payload
 * only lists are left out of GMime's input, never one read through it,
 * and the payload is the same byte for byte as when GMime is shown them
 * all: on every fixture of tests/mime/cases/ (argv[1]) and on generated
 * header sections under random caps.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "test_buf.h"
#include "test_file.h"
#include "test_rand.h"
#include "payload_int.h"
#include "payload_test.h"

static void check_prescan_parts(void)
{
	struct payload_options o;
	payload_options_default(&o);
	o.max_mime_parts = 4;
	/* 3,000 parts, cap 4: the multipart and 3 parts, as the walk's cap gives */
	struct mbuf b = {0};
	mb_add(&b, "Subject: many\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n");
	mb_parts(&b, 3000);
	json_t *root = build_with(&b, &o);
	CHECK_STR(json_string_value(json_object_get(msg_of(root), "text")),
	          "part 0\npart 1\npart 2");
	CHECK_STR(first_warning_code(root, "mime_part_limit"), "mime_part_limit");
	CHECK_STR(first_warning_code(root, "truncated_message"), "absent");
	CHECK_STR(first_warning_code(root, "malformed_multipart"), "absent");
	json_decref(root);
	free(b.p);

	/* an RFC 2231 boundary the scan does not read: every "--" line counts */
	b = (struct mbuf){0};
	mb_add(&b, "Content-Type: multipart/mixed; boundary*0=B\r\n\r\n");
	mb_parts(&b, 3000);
	root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "mime_part_limit"), "mime_part_limit");
	CHECK(json_string_length(json_object_get(msg_of(root), "text")) <= 22);
	json_decref(root);
	free(b.p);

	/* message/rfc822 nested 50 deep: each embedded header section is a part */
	b = (struct mbuf){0};
	mb_repeat(&b, "Subject: x\r\nContent-Type: message/rfc822\r\n\r\n", 50);
	mb_add(&b, "Subject: inner\r\n\r\nbody\r\n");
	root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "mime_part_limit"), "mime_part_limit");
	json_decref(root);
	free(b.p);

	/* a text that mentions "--" lines but declares no such boundary is not cut */
	b = (struct mbuf){0};
	mb_add(&b, "Subject: dashes\r\nContent-Type: text/plain\r\n\r\n");
	mb_repeat(&b, "-- \r\n--x\r\n", 100);
	root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "mime_part_limit"), "absent");
	CHECK_INT(json_string_length(json_object_get(msg_of(root), "text")), 100 * 8);
	json_decref(root);
	free(b.p);
}

static void check_prescan_headers(void)
{
	struct payload_options o;
	payload_options_default(&o);
	o.max_header_field_size = 1024;
	o.max_header_section_size = 4096;
	o.max_header_count = 10;

	/* a folded Subject keeps its first lines; the next field is still read */
	struct mbuf b = {0};
	mb_add(&b, "Subject: start\r\n");
	mb_repeat(&b, " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 200);
	mb_add(&b, "To: b@example.com\r\n\r\nbody\r\n");
	json_t *root = build_with(&b, &o);
	size_t sl = strlen(subject_of(root));
	CHECK(sl > 900 && sl <= 1024);
	CHECK_STR(first_warning_code(root, "header_size_limit"), "header_size_limit");
	CHECK_STR(json_string_value(json_object_get(
	              json_array_get(json_object_get(msg_of(root), "to"), 0), "address")),
	          "b@example.com");
	CHECK_STR(json_string_value(json_object_get(msg_of(root), "text")), "body\n");
	json_decref(root);
	free(b.p);

	/* a section over its byte cap: the later Subject is dropped, Content-Type still read */
	b = (struct mbuf){0};
	mb_repeat(&b, "X-F: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n",
	          8);
	o.max_header_count = 1000;
	mb_repeat(&b, "X-G: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n",
	          100);
	mb_add(&b, "Subject: late\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n");
	mb_parts(&b, 2);
	root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "header_size_limit"), "header_size_limit");
	CHECK_STR(subject_of(root), "(null)");
	CHECK_STR(json_string_value(json_object_get(msg_of(root), "text")), "part 0\npart 1");
	json_decref(root);
	free(b.p);

	/* over the field count: only the first Content-Type still counts */
	b = (struct mbuf){0};
	o.max_header_count = 10;
	mb_repeat(&b, "X-H: v\r\n", 50);
	mb_add(&b, "Content-Type: multipart/mixed; boundary=B\r\n\r\n");
	mb_parts(&b, 2);
	root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "header_count_limit"), "header_count_limit");
	CHECK_STR(json_string_value(json_object_get(msg_of(root), "text")), "part 0\npart 1");
	json_decref(root);
	free(b.p);

	/*
	 * A skipped range and a missing empty line in one header section; then a
	 * message/rfc822 part whose bytes must still be the input's (GMime's
	 * offsets are mapped back through the pieces).
	 */
	b = (struct mbuf){0};
	o.max_header_count = 1000;
	const char *inner = "Subject: inner\r\n\r\ninner body\r\n";
	mb_add(&b, "X-Long: a\r\n");
	mb_repeat(&b, " zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\r\n", 40);
	mb_add(&b, "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
	           "Content-Type: message/rfc822\r\n\r\n");
	mb_add(&b, inner);
	mb_add(&b, "--B--\r\n");
	root = build_with(&b, &o);
	json_t *att = json_array_get(json_object_get(msg_of(root), "attachments"), 0);
	CHECK_STR(json_string_value(json_object_get(att, "content_type")), "message/rfc822");
	CHECK_INT(json_integer_value(json_object_get(att, "size")), strlen(inner) - 2);
	CHECK_STR(first_warning_code(root, "header_size_limit"), "header_size_limit");
	json_decref(root);
	free(b.p);

	b = (struct mbuf){0};
	mb_add(&b, "Subject: a\r\n");
	mb_repeat(&b, " wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\r\n", 40);
	mb_add(&b, "not a header line\r\nbody\r\n");
	root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "header_separator_missing"), "header_separator_missing");
	CHECK_STR(json_string_value(json_object_get(msg_of(root), "text")),
	          "not a header line\nbody\n");
	json_decref(root);
	free(b.p);
}

/* The names of the fields pscan_message() left out of GMime's input, space-separated. */
static void hidden_names_of(struct mbuf *b, const struct payload_options *o, char *out, size_t cap)
{
	struct message_bytes m = {b->p, b->len, false};
	struct pctx c = {.opt = o, .msg = &m, .po = g_mime_parser_options_new()};
	out[0] = '\0';
	CHECK(pscan_message(&c, b->len) == 0);
	for (size_t i = 0; i < c.n_hidden; i++) {
		size_t at = strlen(out);
		snprintf(out + at, cap - at, "%s%.*s", at ? " " : "", (int)c.hidden[i].name_len,
		         b->p + c.hidden[i].at);
		/* a hidden field is whole: it ends at a line end, where the next field starts */
		const char *end = b->p + c.hidden[i].at + c.hidden[i].len;
		CHECK(end[-1] == '\n' && end[0] != ' ' && end[0] != '\t');
	}
	json_decref(c.warnings);
	pscan_free(&c);
	g_mime_parser_options_free(c.po);
}

/*
 * The fields of the message's own header that the payload only lists are
 * left out of GMime's input (payload_scan.c hide_field()) when GMime would
 * neither decode nor warn about them: never one with 8-bit bytes, an
 * encoded-word, white space before its colon or a blank continuation line,
 * never one the caps would cut, never in a part or an embedded message.
 * check_generated_same() and check_fixtures_same() show the payload is the
 * same as when GMime parses them all.
 */
static void check_hidden_fields(void)
{
	struct payload_options o;
	payload_options_default(&o);
	char names[512];
	struct mbuf b = {0};
	mb_add(&b, "Received: from first.example.net; Sun, 29 Nov 2026 12:00:05 +0000\r\n"
	           "Received: from second.example.net\r\n\tby first.example.net;\r\n"
	           " Sun, 29 Nov 2026 12:00:04 +0000\r\n"
	           "Received : spaced\r\n"
	           "Received: from caf\xC3\xA9.example.net\r\n"
	           "X-Received: =?utf-8?q?caf=C3=A9?=\r\n"
	           "Received: from blank\r\n \r\n\tby first.example.net\r\n"
	           "Received: bare\rcr\r\n"
	           "dkim-signature: v=1; d=client.test;\r\n\tb=AAAA\r\n"
	           "X-MS-Exchange-Organization-SCL: -1\r\n"
	           "X-MS-Exchange-: prefix alone\r\n"
	           "X-Mailer: listed only\r\n"
	           "Subject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
	           "--B\r\nReceived: from part.example.net\r\n\r\npart\r\n"
	           "--B\r\nContent-Type: message/rfc822\r\n\r\n"
	           "From: a@example.com\r\nReceived: from inner.example.net\r\n\r\ninner\r\n"
	           "--B--\r\n");
	hidden_names_of(&b, &o, names, sizeof(names));
	CHECK_STR(
	    names,
	    "Received Received dkim-signature X-MS-Exchange-Organization-SCL X-Mailer Subject");
	json_t *root = build_with(&b, &o);
	json_t *h = json_object_get(msg_of(root), "headers");
	CHECK_INT((long)json_array_size(h), 13);
	CHECK_STR(json_string_value(json_object_get(json_array_get(h, 1), "value")),
	          "from second.example.net\tby first.example.net; Sun, 29 Nov 2026 12:00:04 +0000");
	CHECK_STR(json_string_value(json_object_get(json_array_get(h, 7), "name")),
	          "dkim-signature");
	CHECK_STR(json_string_value(json_object_get(json_array_get(h, 10), "name")), "X-Mailer");
	json_decref(root);
	free(b.p);
}

/* The bounds of hiding: GMime always gets a header section, the caps cut as before. */
static void check_hidden_fields_bounds(void)
{
	struct payload_options o;
	payload_options_default(&o);
	char names[512];
	struct mbuf b;

	/*
	 * GMime is shown a field of the section before any is hidden: a section of
	 * trace fields alone would leave it no input, which it reads as no message.
	 */
	b = (struct mbuf){0};
	mb_add(&b, "Received: from only.example.net\r\n");
	hidden_names_of(&b, &o, names, sizeof(names));
	CHECK_STR(names, "");
	free(b.p);
	b = (struct mbuf){0};
	o.max_header_field_size = 64;
	mb_add(&b, "X-Long: long long long long long long long long long long long long\r\n"
	           "Received: a\r\nReceived: b\r\n");
	hidden_names_of(&b, &o, names, sizeof(names));
	CHECK_STR(names, "Received"); /* b: a was shown first */
	free(b.p);

	/* a field the caps would cut is not hidden: the usual path cuts it, as before */
	b = (struct mbuf){0};
	mb_add(&b, "From: a@example.com\r\nReceived: short\r\n"
	           "Received: long long long long long long long long long long long long\r\n"
	           "\r\nbody\r\n");
	hidden_names_of(&b, &o, names, sizeof(names));
	CHECK_STR(names, "Received");
	json_t *root = build_with(&b, &o);
	CHECK_STR(first_warning_code(root, "header_size_limit"), "header_size_limit");
	CHECK_INT((long)json_array_size(json_object_get(msg_of(root), "headers")), 2);
	json_decref(root);
	free(b.p);
}

/* The fields read through GMime are never left out of its input (payload_scan.c). */
static void check_hidden_never(void)
{
	static const char *const read[] = {
	    "In-Reply-To",    "References",  "Content-Type",     "Return-Path",
	    "List-Id",        "List-Post",   "List-Unsubscribe", "Precedence",
	    "Auto-Submitted", "X-Autoreply", "X-Autorespond",    "X-Auto-Response-Suppress"};
	struct payload_options o;
	payload_options_default(&o);
	char names[512], line[128];
	for (size_t i = 0; i < sizeof(read) / sizeof(read[0]); i++) {
		struct mbuf b = {0};
		snprintf(line, sizeof(line), "Received: first\r\n%s: v\r\nX-Mailer: m\r\n\r\nb\r\n",
		         read[i]);
		mb_add(&b, line);
		hidden_names_of(&b, &o, names, sizeof(names));
		CHECK_STR(names, "Received X-Mailer");
		free(b.p);
	}
}

static void check_same_payload(const char *p, size_t len, const struct payload_options *o,
                               const char *what);

/*
 * Subject, Date and Message-ID are left out only while the section holds
 * one of the name: GMime warns when one repeats, so a second (shown, left
 * out or cut by the caps) puts the first back.
 */
static void check_hidden_once(void)
{
	static const struct {
		const char *fields, *hidden;
	} cases[] = {
	    {"Subject: s\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\nMessage-ID: <a@b>\r\n",
	     "Subject Date Message-ID"},
	    {"Subject: one\r\nSubject: two\r\n", ""},
	    {"subject: one\r\nSUBJECT : two\r\nDate: d\r\n", "Date"},
	    {"Subject: =?utf-8?q?caf=C3=A9?=\r\nSubject: plain\r\n", ""},
	    {"Message-ID: <a@b>\r\nX-Mailer: m\r\nMessage-ID: <c@d>\r\nSubject: s\r\n",
	     "X-Mailer Subject"},
	    {"Date: d\r\nX-Long: long long long long long long long long long long long long\r\n"
	     "Date: long long long long long long long long long long long long long long\r\n",
	     ""},
	    /* an address field is left out only when GMime's parse of it warns about nothing */
	    {"From: A <a@example.com>\r\nTo: b@example.com, \"C, D\" <c@example.com>\r\n"
	     "Cc: g: e@example.com;\r\n",
	     "From To Cc"},
	    {"From: a@b@c\r\nCc: x <a@b.c> y\r\nTo: b@example.com\r\nTo: c@example.com\r\n"
	     "Bcc: <<lenient\r\n",
	     "Bcc"},
	    {"Sender: s@example.com\r\nReply-To: r@example.com\r\nreply-to: r@example.com\r\n",
	     "Sender"},
	    /* a delimiter line in the section, which GMime may read as a field: all go back */
	    {"X-B: boundary=q\r\nSubject: hi\r\nTo: a@b.c\r\nX-Mailer: m\r\n--q: x\r\n"
	     "Subject: two\r\nTo: d@e.f\r\n",
	     "X-Mailer"},
	    {"X-B: boundary*=q\r\nSubject: hi\r\n--: y\r\nSubject: z\r\n", ""},
	};
	struct payload_options o;
	payload_options_default(&o);
	o.max_header_field_size = 64;
	char names[512];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mbuf b = {0};
		mb_add(&b, "Return-Path: <r@example.com>\r\n");
		mb_add(&b, cases[i].fields);
		mb_add(&b, "\r\nbody\r\n");
		hidden_names_of(&b, &o, names, sizeof(names));
		CHECK_STR(names, cases[i].hidden);
		check_same_payload(b.p, b.len, &o, cases[i].fields);
		free(b.p);
	}
}

/* The payload of b under o, with (0) or without (PSKIP_HIDE) fields left out of GMime. */
static void payload_of(const char *p, size_t len, const struct payload_options *o, unsigned skip,
                       struct test_buf *out)
{
	struct message_bytes m = {p, len, false};
	test_buf_free(out);
	CHECK(payload_write_without(&m, o, JSON_COMPACT, test_buf_sink, out, skip) == 0);
}

static void check_same_payload(const char *p, size_t len, const struct payload_options *o,
                               const char *what)
{
	struct test_buf shown = {0}, hidden = {0};
	payload_of(p, len, o, PSKIP_HIDE, &shown);
	payload_of(p, len, o, 0, &hidden);
	if (shown.len != hidden.len || memcmp(shown.p, hidden.p, shown.len) != 0) {
		fprintf(stderr,
		        "%s: the payload changed when fields were left out of GMime\n"
		        "input:\n%.*s\nall shown:\n%.*s\nleft out:\n%.*s\n",
		        what, (int)len, p, (int)shown.len, shown.p, (int)hidden.len, hidden.p);
		CHECK(0);
	}
	test_buf_free(&shown);
	test_buf_free(&hidden);
}

/*
 * payload_write() (our serialiser, deferred values and lists: the fields
 * left out of GMime are written from the bytes at dump time) writes what
 * json_dumps() writes of payload_build()'s tree, compact and indented.
 */
static void check_write_is_build(const char *p, size_t len, const struct payload_options *o,
                                 const char *what)
{
	static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2)};
	struct message_bytes m = {p, len, false};
	json_t *tree = payload_build(&m, NULL, NULL, "id", o);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char *want = json_dumps(tree, flags[i]);
		struct test_buf got = {0};
		CHECK(payload_write(&m, NULL, NULL, "id", o, flags[i], test_buf_sink, &got) == 0);
		if (!want || got.len != strlen(want) || memcmp(got.p, want, got.len) != 0) {
			fprintf(stderr, "%s: payload_write differs from the tree (flags %zu)\n",
			        what, flags[i]);
			CHECK(0);
		}
		free(want);
		test_buf_free(&got);
	}
	json_decref(tree);
}

static void check_fixtures_same(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	CHECK(d != NULL);
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), len;
		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		char *p = test_read_file(path, 1 << 24, &len);
		CHECK(p != NULL);
		struct payload_options o;
		payload_options_default(&o);
		check_same_payload(p, len, &o, path);
		check_write_is_build(p, len, &o, path);
		free(p);
		n++;
	}
	if (d)
		closedir(d);
	CHECK(n >= 40);
}

/* One generated header field: a name left out or read through GMime, and an awkward value. */
static void random_field(struct mbuf *b, uint32_t *r)
{
	static const char *const names[] = {"Received",
	                                    "DKIM-Signature",
	                                    "X-Mailer",
	                                    "List-Archive",
	                                    "X-Spam-Score",
	                                    "ARC-Seal",
	                                    "From",
	                                    "To",
	                                    "Subject",
	                                    "Date",
	                                    "Cc",
	                                    "List-Id",
	                                    "Return-Path",
	                                    "Content-Type",
	                                    "X-Other",
	                                    "Message-ID",
	                                    "MIME-Version",
	                                    "subject",
	                                    "DATE",
	                                    "Reply-To",
	                                    "Sender",
	                                    "Bcc",
	                                    "from",
	                                    "--B",
	                                    "--"};
	static const char *const values[] = {"plain value",
	                                     "  spaced \t  words  ",
	                                     "<id@example.com>",
	                                     "not a date",
	                                     "Auto: out of office",
	                                     "A <a@example.com>, \"B, C\" <b@example.com>",
	                                     "g: a@example.com, b@example.com;",
	                                     "<<broken",
	                                     "a@b@c",
	                                     "x <a@b.c> y",
	                                     "MAILER-DAEMON@example.com (Mail Delivery System)",
	                                     "a@example.com,,b@example.com",
	                                     "\"quoted \\\" name\" <q@example.com>",
	                                     "name\r\n <folded@example.com>",
	                                     "caf\xC3\xA9",
	                                     "=?utf-8?q?caf=C3=A9?=",
	                                     "a@example.com",
	                                     "Sun, 29 Nov 2026 12:00:00 +0000",
	                                     "multipart/mixed; boundary=B",
	                                     "",
	                                     "text/plain",
	                                     "x\ry"};
	static const char *const folds[] = {"", "\r\n\tmore", "\r\n \r\n\tblank", "\n more"};
	static const char *const colons[] = {":", ": ", " : "};
	mb_add(b, names[test_rand(r) % (sizeof(names) / sizeof(names[0]))]);
	mb_add(b, colons[test_rand(r) % 3]);
	mb_add(b, values[test_rand(r) % (sizeof(values) / sizeof(values[0]))]);
	mb_add(b, folds[test_rand(r) % 4]);
	mb_add(b, test_rand(r) % 4 ? "\r\n" : "\n");
}

/* Generated header sections and bodies, under random caps: the same payload either way. */
static void check_generated_same(void)
{
	static const char *const bodies[] = {
	    "\r\nbody\r\n", "", "no blank line\r\n",
	    "\r\n--B\r\nContent-Type: text/plain\r\n--B--\r\n",
	    ("\r\n--B\r\n\r\nx\r\n--B\r\nContent-Type: "
	     "message/rfc822\r\n\r\nReceived: inner\r\n\r\ni\r\n")};
	uint32_t r = TEST_RAND_SEED;
	for (int i = 0; i < 3000; i++) {
		struct mbuf b = {0};
		int fields = (int)(test_rand(&r) % 12);
		for (int k = 0; k < fields; k++)
			random_field(&b, &r);
		mb_add(&b, bodies[test_rand(&r) % (sizeof(bodies) / sizeof(bodies[0]))]);
		struct payload_options o;
		payload_options_default(&o);
		o.max_header_count = 1 + test_rand(&r) % 12;
		o.max_header_field_size = 8 + test_rand(&r) % 64;
		o.max_header_section_size = 16 + test_rand(&r) % 400;
		if (b.p)
			check_same_payload(b.p, b.len, &o, "a generated message");
		free(b.p);
	}
}

/*
 * GMime's input in its three layouts (payload.c parse()): one piece read in
 * place, short pieces copied end to end, long ones chained in a cat
 * stream. The bodies straddle the copy's 64 KiB bound; a shown field sits
 * between left-out ones, a separator is missing, a part is empty (GMime's
 * warnings give offsets). Each payload must be the one with every field
 * shown, and its streamed JSON the tree's.
 */
static void check_input_layouts(void)
{
	static const char *const heads[] = {
	    "From: a@example.com\r\nContent-Type: text/plain\r\nSubject: s\r\nX-Mailer: m\r\n\r\n",
	    "From: a@example.com\r\nContent-Type: text/plain\r\nSubject: s\r\nX-Mailer: m\r\n",
	    ("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\nSubject: s\r\n"
	     "X-Mailer: m\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"),
	    "Subject: only left-out fields\r\nX-Mailer: m\r\n\r\n",
	};
	static const int lines[] = {10, 830, 900}; /* about 1 KB, just under and over 64 KiB */
	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
		for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
			struct mbuf b = {0};
			mb_add(&b, heads[h]);
			mb_repeat(&b,
			          "text of the body, seventy-eight bytes on each of its lines, or "
			          "so...\r\n",
			          lines[k]);
			if (h == 2)
				mb_add(&b, "--B\r\n\r\n--B--\r\n");
			struct payload_options o;
			payload_options_default(&o);
			char what[64];
			snprintf(what, sizeof(what), "layout %zu, %d lines", h, lines[k]);
			check_same_payload(b.p, b.len, &o, what);
			check_write_is_build(b.p, b.len, &o, what);
			free(b.p);
		}
	}
}

int main(int argc, char **argv)
{
	pgmime_init();
	check_prescan_parts();
	check_prescan_headers();
	check_hidden_fields();
	check_hidden_fields_bounds();
	check_hidden_never();
	check_hidden_once();
	check_generated_same();
	check_input_layouts();
	if (argc > 1)
		check_fixtures_same(argv[1]);
	return UNIT_END("mime_prescan");
}
