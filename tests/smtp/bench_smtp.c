/*
 * bench_smtp.c: throughput of the SMTP front end's hot pure paths, the
 * DATA decoder (dot-unstuffing, bare CR/LF and line-length checks) and the
 * MAIL/RCPT command parsers. Built, not run as a test: prints MB/s and
 * commands/s. usage: bench_smtp [MEGABYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp_parse.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink_bytes;

static void sink(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	(void)p;
	sink_bytes += n;
}

static char *make_message(size_t size)
{
	char *m = malloc(size + 5);
	size_t o = 0;
	for (unsigned line = 0; o + 80 < size; line++) {
		if (line % 100 == 0)
			m[o++] = '.'; /* a stuffed dot now and then */
		for (int i = 0; i < 76; i++)
			m[o++] = (char)('a' + (line + (unsigned)i) % 26);
		m[o++] = '\r';
		m[o++] = '\n';
	}
	memcpy(m + o, ".\r\n", 3);
	return m;
}

static void bench_decoder(size_t mb)
{
	size_t size = mb << 20;
	char *m = make_message(size);
	size_t len = strlen(m);
	for (int normalize = 0; normalize < 2; normalize++) {
		struct smtp_dec d;
		smtp_dec_init(&d, false, normalize, 998, sink, NULL);
		double t0 = now();
		size_t used = 0;
		for (size_t off = 0; off < len && d.st != DEC_END; off += 16384) {
			size_t n = len - off < 16384 ? len - off : 16384;
			used += smtp_dec_feed(&d, m + off, n);
		}
		double dt = now() - t0;
		printf("decoder (%s, 16 KiB reads): %zu MB in %.3f s = %.0f MB/s%s\n",
		       normalize ? "normalize" : "reject", mb, dt, (double)used / dt / 1e6,
		       d.st == DEC_END ? "" : " (no end?)");
	}
	free(m);
}

static void bench_commands(void)
{
	static const char *const lines[] = {
	    "FROM:<someone.long-name@sub.example.com> SIZE=123456 BODY=8BITMIME",
	    "TO:<\"quoted local\"@example.org>",
	    "TO:<user+tag@[IPv6:2001:db8::1]>",
	};
	size_t n = 3000000;
	double t0 = now();
	for (size_t i = 0; i < n; i++) {
		const char *p = lines[i % 3];
		p += p[0] == 'F' ? 5 : 3;
		struct smtp_path path;
		struct smtp_param pm[SMTP_MAX_PARAMS];
		size_t np;
		if (smtp_parse_path(&p, true, &path) ||
		    smtp_parse_params(p, pm, SMTP_MAX_PARAMS, &np))
			abort();
	}
	double dt = now() - t0;
	printf("MAIL/RCPT argument parsing: %zu in %.3f s = %.2f M/s\n", n, dt,
	       (double)n / dt / 1e6);
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	if (mb == 0 || mb > 4096)
		mb = 256;
	bench_decoder(mb);
	bench_commands();
	return 0;
}
