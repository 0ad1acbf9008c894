/*
 * test_form_data.c: the streamed multipart/form-data writer
 * (gateway/webhook/form_data.c): the body libcurl reads in chunks of any
 * size equals the body form_data_each() gives (the one that is signed),
 * its length is the announced Content-Length, seeking lands anywhere,
 * names are escaped as HTML forms do, and a value that holds the boundary
 * cannot be sent.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "form_data.h"
#include "test_buf.h"
#include "unit.h"
#include "webhook_request.h"

static struct form_data *sample(void)
{
	struct form_data *f = form_data_new();
	char *blob = strdup("From: a@b\r\n\r\nbody with -- dashes\r\n");
	char *file = malloc(4);

	memcpy(file, "\0\1\2\3", 4);
	CHECK_INT(form_data_add0(f, "recipient", "x@example.test"), 0);
	CHECK_INT(form_data_add(f, "nul", "a\0b", 3), 1);
	CHECK_INT(form_data_add_owned(f, "attachment-1", file, 4, "we\"ird\r\n.bin",
	                              "application/octet-stream"),
	          2);
	form_data_set_blob(f, blob, strlen(blob));
	CHECK_INT(form_data_add_blob(f, "body-mime"), 3);
	CHECK_INT(form_data_add0(f, "empty", ""), 4);
	CHECK_INT(form_data_finish(f), 0);
	return f;
}

static void test_chunks_equal_each(void)
{
	struct form_data *f = sample();
	struct test_buf whole = {0};
	static const size_t sizes[] = {1, 2, 3, 7, 64, 100000};

	CHECK_INT(form_data_each(f, test_buf_each, &whole), 0);
	CHECK_INT(whole.len, form_data_length(f));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		char *got = malloc(whole.len + 1);
		size_t n = 0, r;
		form_data_rewind(f);
		while ((r = form_data_read(got + n, 1, sizes[s], f)) > 0)
			n += r;
		CHECK_INT(n, whole.len);
		CHECK(n == whole.len && memcmp(got, whole.p, n) == 0);
		free(got);
	}
	/* shape: first delimiter, escaped file name, closing delimiter */
	CHECK(strncmp(whole.p, "--smtpgw-", 9) == 0);
	{
		static const char want[] =
		    "name=\"attachment-1\"; filename=\"we%22ird%0D%0A.bin\"\r\n"
		    "Content-Type: application/octet-stream\r\n\r\n";
		CHECK(memmem(whole.p, whole.len, want, sizeof(want) - 1) != NULL);
	}
	CHECK(memmem(whole.p, whole.len, "name=\"nul\"\r\n\r\na\0b\r\n--", 18) != NULL);
	CHECK(whole.len > 4 && memcmp(whole.p + whole.len - 4, "--\r\n", 4) == 0);
	test_buf_free(&whole);
	form_data_free(f);
}

static void test_seek(void)
{
	struct form_data *f = sample();
	struct test_buf whole = {0};
	char buf[32];

	form_data_each(f, test_buf_each, &whole);
	for (size_t off = 0; off + 10 <= whole.len; off += 37) {
		CHECK_INT(form_data_seek(f, (curl_off_t)off, SEEK_SET), CURL_SEEKFUNC_OK);
		CHECK_INT(form_data_read(buf, 1, 10, f), 10);
		CHECK(memcmp(buf, whole.p + off, 10) == 0);
	}
	CHECK_INT(form_data_seek(f, (curl_off_t)whole.len + 1, SEEK_SET), CURL_SEEKFUNC_CANTSEEK);
	CHECK_INT(form_data_seek(f, 0, SEEK_CUR), CURL_SEEKFUNC_CANTSEEK);
	test_buf_free(&whole);
	form_data_free(f);
}

/* A per-attempt value of another length changes the length and the body consistently. */
static void test_set(void)
{
	struct form_data *f = sample();
	uint64_t before = form_data_length(f);
	struct test_buf whole = {0};

	form_data_set(f, 0, "longer-value@example.test", 25);
	CHECK_INT(form_data_length(f), before + 25 - 14);
	form_data_each(f, test_buf_each, &whole);
	CHECK_INT(whole.len, form_data_length(f));
	CHECK(memmem(whole.p, whole.len, "\r\n\r\nlonger-value@example.test\r\n", 31) != NULL);
	test_buf_free(&whole);
	form_data_free(f);
}

/* A finished form takes no more parts (its length was announced). */
static void test_no_parts_after_finish(void)
{
	struct form_data *f = sample();

	CHECK_INT(form_data_add0(f, "late", "x"), -1);
	form_data_free(f);
}

static int unrefs;

static void count_unref(void *ref)
{
	(void)ref;
	unrefs++;
}

/* Plain segments (format raw): the values one after another, a borrowed one released once. */
static void test_plain(void)
{
	static const char msg[] = "Received: x\r\n\r\nbody\r\n";
	struct form_data *f = form_data_new_plain();
	struct test_buf whole = {0};
	char got[64];

	CHECK_INT(form_data_add(f, "", "Head: 1\r\n", 9), 0);
	CHECK_INT(form_data_add_ref(f, "", msg, sizeof(msg) - 1, (void *)msg, count_unref), 1);
	CHECK_INT(form_data_add(f, "", "", 0), 2);
	CHECK_INT(form_data_finish(f), 0);
	CHECK_INT(form_data_length(f), 9 + sizeof(msg) - 1);
	CHECK_INT(form_data_each(f, test_buf_each, &whole), 0);
	CHECK_STR(whole.p, "Head: 1\r\nReceived: x\r\n\r\nbody\r\n");
	for (size_t chunk = 1; chunk <= 7; chunk++) {
		size_t n = 0, r;
		form_data_rewind(f);
		while ((r = form_data_read(got + n, 1, chunk, f)) > 0)
			n += r;
		CHECK_INT(n, whole.len);
		CHECK(n == whole.len && memcmp(got, whole.p, n) == 0);
	}
	CHECK_INT(form_data_seek(f, 11, SEEK_SET), CURL_SEEKFUNC_OK);
	CHECK_INT(form_data_read(got, 1, 4, f), 4);
	CHECK(memcmp(got, "ceiv", 4) == 0);
	CHECK_INT(unrefs, 0);
	form_data_free(f);
	CHECK_INT(unrefs, 1);
	test_buf_free(&whole);
}

/*
 * A small body is laid out once for libcurl (CURLOPT_POSTFIELDS), exactly the
 * bytes form_data_each() gives (the signed ones), again after a part changes;
 * what it holds counts that copy, and a raw body's admission counts it too.
 */
static void test_flat(void)
{
	struct form_data *f = sample();
	CURL *easy = curl_easy_init();
	struct test_buf whole = {0};

	CHECK(easy != NULL);
	CHECK_INT(form_data_held(f), 2 * form_data_length(f));
	form_data_setup(f, easy);
	form_data_each(f, test_buf_each, &whole);
	CHECK(f->flat != NULL && whole.len == form_data_length(f) &&
	      memcmp(f->flat, whole.p, whole.len) == 0);
	test_buf_free(&whole);
	form_data_set(f, 0, "longer-value@example.test", 25);
	CHECK(f->flat == NULL);
	form_data_setup(f, easy);
	form_data_each(f, test_buf_each, &whole);
	CHECK(f->flat != NULL && memcmp(f->flat, whole.p, whole.len) == 0);
	test_buf_free(&whole);
	form_data_free(f);

	/* a small form whose copy was not admitted (delivery.c job_ready) streams */
	f = sample();
	f->stream_only = true;
	CHECK_INT(form_data_held(f), form_data_length(f));
	form_data_setup(f, easy);
	CHECK(f->flat == NULL);
	form_data_free(f);

	static char big[FORM_DATA_FLAT_MAX + 1];
	f = form_data_new_plain();
	CHECK_INT(form_data_add_ref(f, "", big, sizeof(big), NULL, NULL), 0);
	CHECK_INT(form_data_finish(f), 0);
	CHECK_INT(form_data_held(f), sizeof(big));
	form_data_setup(f, easy);
	CHECK(f->flat == NULL); /* streamed: never copied */
	form_data_free(f);
	curl_easy_cleanup(easy);

	struct gw_route raw = {.url = "http://127.0.0.1/"}, json = raw;
	raw.opts.format = FORMAT_RAW;
	json.opts.format = FORMAT_JSON;
	struct message_bytes small = {.data = big, .len = 1000},
	                     large = {.data = big, .len = sizeof(big)};
	CHECK_INT(webhook_request_held_cap(&raw, NULL, &small, NULL, NULL),
	          2 * webhook_request_body_cap(&raw, NULL, &small, NULL, NULL));
	CHECK_INT(webhook_request_held_cap(&raw, NULL, &large, NULL, NULL),
	          webhook_request_body_cap(&raw, NULL, &large, NULL, NULL));
	CHECK_INT(webhook_request_held_cap(&json, NULL, &small, NULL, NULL),
	          webhook_request_body_cap(&json, NULL, &small, NULL, NULL));
}

int main(void)
{
	test_plain();
	test_chunks_equal_each();
	test_seek();
	test_set();
	test_no_parts_after_finish();
	test_flat();
	return UNIT_END("webhook_form_data");
}
