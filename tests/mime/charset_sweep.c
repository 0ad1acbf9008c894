/*
 * charset_sweep.c: the driver of test_charset_sweep.py. Reads charset
 * labels from stdin, one a line; for each builds a message whose Subject
 * is an RFC 2047 encoded-word in that charset and whose text/plain body is
 * labelled with it, both made of pseudo-random high bytes (fixed seed per
 * label), and writes the payload on one line of stdout through
 * payload_write(), as the daemon does. The Python side checks every line
 * is UTF-8 and JSON. One process for all labels keeps the sweep quick.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "../common/test_rand.h"
#include "payload.h"

static int out(const char *buf, size_t size, void *data)
{
	return fwrite(buf, 1, size, data) == size ? 0 : -1;
}

static size_t message(char *m, size_t cap, const char *label, uint32_t seed)
{
	unsigned char hdr[48], body[512];
	char b64[80];
	for (size_t i = 0; i < sizeof(hdr); i++)
		hdr[i] = (unsigned char)(0x80 | test_rand(&seed));
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)(i % 64 == 63 ? '\n' : 0x80 | test_rand(&seed));
	codec_b64_encode(hdr, sizeof(hdr), b64);
	int n = snprintf(m, cap,
	                 "From: a@example.com\r\nSubject: =?%s?B?%s?=\r\n"
	                 "Content-Type: text/plain; charset=\"%s\"\r\n"
	                 "Content-Transfer-Encoding: 8bit\r\n\r\n",
	                 label, b64, label);
	if (n < 0 || (size_t)n + sizeof(body) > cap)
		return 0;
	memcpy(m + n, body, sizeof(body));
	return (size_t)n + sizeof(body);
}

int main(void)
{
	char label[256], m[2048];
	uint32_t seed = TEST_RAND_SEED;
	struct payload_options o;

	payload_options_default(&o);
	while (fgets(label, sizeof(label), stdin)) {
		label[strcspn(label, "\r\n")] = '\0';
		if (!label[0])
			continue;
		size_t len = message(m, sizeof(m), label, seed + (uint32_t)strlen(label));
		struct message_bytes msg = {m, len, false};
		if (!len ||
		    payload_write(&msg, NULL, NULL, label, &o, JSON_COMPACT, out, stdout) < 0)
			return 1;
		fputc('\n', stdout);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
