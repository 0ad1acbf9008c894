/*
 * test_prescan.c: unit tests of payload_scan.c, what GMime is given: the
 * part and header caps cut where they should, and the fields the payload
 * only lists are left out of GMime's input, never one read through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
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

/*
 * payload_write() streams rcpt_to and recipients[] one element at a time
 * (a tree of 100,000 recipients held ~1 KB each): the same text as the
 * whole tree, compact or indented, one recipient or three.
 */
/* The names of the fields pscan_message() left out of GMime's input, space-separated. */
static void hidden_names_of(struct mbuf *b, const struct payload_options *o, char *out, size_t cap)
{
	struct message_bytes m = {b->p, b->len, false};
	struct pctx c = {.opt = o, .msg = &m};
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
	free(c.pieces);
	free(c.hidden);
}

/*
 * Trace and authentication fields of the message's own header are left out
 * of GMime's input (payload_scan.c hide_field()) when GMime would neither
 * decode nor warn about them: never the first field, never one with 8-bit
 * bytes, an encoded-word, white space before its colon or a blank
 * continuation line, never one the caps would cut, never in a part or an
 * embedded message. tests/mime/cases/trace-fields shows the payload is the
 * same as when GMime parsed them all.
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
	CHECK_STR(names,
	          "Received Received dkim-signature X-MS-Exchange-Organization-SCL X-Mailer");
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
	static const char *const read[] = {"From",
	                                   "Sender",
	                                   "Reply-To",
	                                   "To",
	                                   "Cc",
	                                   "Bcc",
	                                   "Subject",
	                                   "Date",
	                                   "Message-ID",
	                                   "In-Reply-To",
	                                   "References",
	                                   "MIME-Version",
	                                   "Content-Type",
	                                   "Return-Path",
	                                   "List-Id",
	                                   "List-Post",
	                                   "List-Unsubscribe",
	                                   "Precedence",
	                                   "Auto-Submitted",
	                                   "X-Autoreply",
	                                   "X-Autorespond",
	                                   "X-Auto-Response-Suppress"};
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

int main(void)
{
	pgmime_init();
	check_prescan_parts();
	check_prescan_headers();
	check_hidden_fields();
	check_hidden_fields_bounds();
	check_hidden_never();
	return UNIT_END("mime_prescan");
}
