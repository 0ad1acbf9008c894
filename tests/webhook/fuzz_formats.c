/*
 * fuzz_formats.c: libFuzzer target of the provider formats (docs/formats.md).
 * The input is a message; its first byte picks the format, the attachments
 * mode and include_raw. Checks, beyond "no crash, no leak, no UB": a build
 * never fails on malformed mail (only out of memory may); a multipart body
 * read by libcurl's callback in uneven chunks is byte for byte the body
 * that is signed, its length is the announced Content-Length, and no value
 * contains the boundary; a Postmark body is valid JSON (jansson reads it)
 * with every documented member.
 * Build and run: docs/fuzzing.md, "Provider formats".
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format.h"
#include "test_buf.h"
#include "webhook_request.h"

static void check_form(struct form_data *f)
{
	struct test_buf whole = {0};
	size_t bl = strlen(f->boundary), n = 0, step = 1, got;
	char *read = NULL;

	form_data_each(f, test_buf_each, &whole);
	if (whole.len != form_data_length(f))
		abort();
	for (size_t i = 0; i < f->n; i++)
		if (memmem(f->parts[i].data, f->parts[i].len, f->boundary, bl))
			abort();
	read = malloc(whole.len + 1);
	form_data_rewind(f);
	while ((got = form_data_read(read + n, 1, step, f)) > 0) {
		n += got;
		step = step * 3 % 1021 + 1; /* uneven chunk sizes */
	}
	if (n != whole.len || memcmp(read, whole.p, n) != 0)
		abort();
	free(read);
	test_buf_free(&whole);
}

static void check_postmark(const struct webhook_request *r)
{
	static const char *const members[] = {"From",        "FromName",
	                                      "FromFull",    "To",
	                                      "ToFull",      "Cc",
	                                      "CcFull",      "Bcc",
	                                      "BccFull",     "OriginalRecipient",
	                                      "ReplyTo",     "Subject",
	                                      "MessageID",   "Date",
	                                      "MailboxHash", "TextBody",
	                                      "HtmlBody",    "StrippedTextReply",
	                                      "Tag",         "Headers",
	                                      "Attachments", "MessageStream"};
	json_error_t e;
	json_t *j = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, &e);

	if (!j)
		abort();
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (!json_object_get(j, members[i]))
			abort();
	if (!r->opts.include_raw != !json_object_get(j, "RawEmail"))
		abort();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *secrets[] = {(char *)"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
	struct envelope_rcpt rcpt = {.address = (char *)"in+tag@example.test"};
	struct envelope env = {.mail_from = (char *)"s@sender.test", .rcpts = &rcpt, .n_rcpts = 1};
	struct gw_route route = {.name = (char *)"fuzz",
	                         .url = (char *)"http://127.0.0.1:9/",
	                         .secrets = secrets,
	                         .n_secrets = 1,
	                         .mailgun_signing_key = (char *)"key-1"};
	struct webhook_request r = {0};
	struct message_bytes msg = {0}; /* not a mapping: its pages are never given back */
	char err[256];

	if (size < 1)
		return 0;
	route.opts.format = (enum gw_format)(FORMAT_POSTMARK + data[0] % 5);
	route.opts.attachments = (enum gw_attachments)(data[0] / 5 % 3);
	route.opts.include_raw = data[0] & 0x80;
	route.opts.standard_webhooks = true;
	msg.data = (const char *)data + 1;
	msg.len = size - 1;
	if (webhook_request_build(&r, &route, &env, &msg, NULL, NULL, err, sizeof(err)) < 0)
		abort(); /* never for malformed mail */
	if (r.fmt && r.fmt->form)
		check_form(r.fmt->form);
	else
		check_postmark(&r);
	webhook_request_free(&r);
	return 0;
}
