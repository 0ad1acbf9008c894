/*
 * fuzz_payload.c: libFuzzer target of MIME to JSON. The input is a
 * message; its first byte picks the options (attachments mode, raw, small
 * caps) so the limits are fuzzed too. With bit 16 of that byte set, the
 * input is instead "LABEL\nBYTES": the target builds a message whose
 * Subject is an RFC 2047 word in charset LABEL (base64 of the first bytes)
 * and whose text/plain body is BYTES labelled LABEL, so any label reaches
 * the charset code directly (tests/mime/fuzz_payload.dict lists labels).
 * Checks, beyond "no crash, no leak, no UB": payload_build() never
 * returns NULL (only out of memory may), payload_write() produces exactly
 * json_dumps() of the tree, the same with every field shown to GMime, and
 * that text is valid UTF-8 (RFC 3629,
 * strictly, by include/utf8.h: what a webhook receiver's JSON parser
 * demands; the MIME code repairs text with decoders of its own).
 * Build and run: docs/fuzzing.md, "MIME to JSON".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "payload.h"
#include "payload_int.h"
#include "test_buf.h"
#include "utf8.h"

/* "LABEL\nBYTES" -> a message using LABEL for a Subject word and the body. */
static char *charset_message(const uint8_t *data, size_t size, size_t *len)
{
	const uint8_t *nl = memchr(data, '\n', size < 100 ? size : 100);
	size_t ll = nl ? (size_t)(nl - data) : 0, rest = size - ll - (nl ? 1 : 0);
	const uint8_t *body = data + size - rest;
	size_t wn = rest < 60 ? rest : 60;
	char label[101], word[81];
	memcpy(label, data, ll);
	label[ll] = '\0';
	for (size_t i = 0; i < ll; i++)
		if (label[i] == '?' || label[i] == '"' || label[i] == '\r' || label[i] == '\\')
			label[i] = '_';
	codec_b64_encode(body, wn, word);
	size_t cap = 512 + rest;
	char *m = malloc(cap);
	if (!m)
		return NULL;
	int n = snprintf(m, cap,
	                 "Subject: =?%s?B?%s?=\r\nContent-Type: text/plain; charset=\"%s\"\r\n"
	                 "Content-Transfer-Encoding: 8bit\r\n\r\n",
	                 label, word, label);
	memcpy(m + n, body, rest);
	*len = (size_t)n + rest;
	return m;
}

/*
 * The fields payload_scan.c leaves out of GMime's input change nothing:
 * the payload is the same with all of them shown to GMime (PSKIP_HIDE).
 */
static void same_hidden_or_shown(const struct message_bytes *m, const struct payload_options *o)
{
	struct test_buf hidden = {0}, shown = {0};
	if (payload_write_without(m, o, JSON_COMPACT, test_buf_sink, &hidden, 0) != 0 ||
	    payload_write_without(m, o, JSON_COMPACT, test_buf_sink, &shown, PSKIP_HIDE) != 0 ||
	    hidden.len != shown.len || memcmp(hidden.p, shown.p, hidden.len) != 0)
		abort();
	test_buf_free(&hidden);
	test_buf_free(&shown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payload_options o;
	payload_options_default(&o);
	bool charset_mode = false;
	if (size > 0) {
		charset_mode = data[0] & 16;
		o.attachments = (enum gw_attachments)(data[0] % 3);
		o.include_raw = data[0] & 4;
		if (data[0] & 8) {
			o.max_header_count = 10;
			o.max_mime_depth = 3;
			o.max_mime_parts = 8;
		}
		data++;
		size--;
	}
	char *own = NULL;
	if (charset_mode) {
		own = charset_message(data, size, &size);
		if (!own)
			return 0;
		data = (const uint8_t *)own;
	}
	struct message_bytes m = {(const char *)data, size, false};
	json_t *tree = payload_build(&m, NULL, NULL, "fuzz", &o);
	if (!tree)
		abort();
	char *want = json_dumps(tree, JSON_COMPACT);
	struct test_buf got = {0};
	if (!want ||
	    payload_write(&m, NULL, NULL, "fuzz", &o, JSON_COMPACT, test_buf_sink, &got) != 0 ||
	    got.len != strlen(want) || memcmp(got.p, want, got.len) != 0 ||
	    !utf8_valid(got.p, got.len))
		abort();
	same_hidden_or_shown(&m, &o);
	free(own);
	test_buf_free(&got);
	free(want);
	json_decref(tree);
	return 0;
}
