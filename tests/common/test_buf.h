/*
 * test_buf.h: the growing byte buffer the C test drivers collect output
 * into, written once (the payload's JSON in bench_payload and fuzz_payload,
 * a multipart/form-data body in test_form_data and fuzz_formats), with a
 * callback for each of the two orders of arguments the gateway's writers
 * use.
 */
#ifndef TEST_BUF_H
#define TEST_BUF_H

#include <stddef.h>

struct test_buf {
	char *p; /* NUL-terminated after len bytes once anything was added; owned */
	size_t len, cap;
};

/* Appends n bytes of p (a NUL kept after them); 0, or -1 when out of memory (b unchanged). */
int test_buf_add(struct test_buf *b, const char *p, size_t n);
/* test_buf_add() as a payload_write() / json_dump_callback_t sink: arg is the buffer. */
int test_buf_sink(const char *p, size_t n, void *arg);
/* test_buf_add() as a form_data_each() callback: arg is the buffer. */
int test_buf_each(void *arg, const char *p, size_t n);
/* Frees the bytes; b is empty again. */
void test_buf_free(struct test_buf *b);

#endif
