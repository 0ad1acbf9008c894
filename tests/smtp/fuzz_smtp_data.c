/*
 * fuzz_smtp_data.c: libFuzzer target for the DATA/BDAT decoder. The first
 * byte picks the mode (DATA or BDAT, reject or normalize) and a split
 * point; the rest is the stream. Checks the invariants the session relies
 * on: fed in two pieces it decodes exactly as in one; DATA ends only right
 * after the raw octets CR LF . CR LF (or ". CR LF" at the very start); the
 * output of normalize has no bare CR or LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct buf {
	char *p;
	size_t len, cap;
};

static void emit(void *ctx, const char *p, size_t n)
{
	struct buf *b = ctx;
	if (b->len + n > b->cap)
		abort(); /* normalize at most doubles the input */
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static size_t run(const char *in, size_t n, size_t split, unsigned mode, struct buf *out,
                  unsigned *flags, int *end)
{
	struct smtp_dec d;
	smtp_dec_init(&d, mode & 1, mode & 2, (mode & 4) ? 78 : 0, emit, out);
	size_t used = smtp_dec_feed(&d, in, split);
	if (d.st != DEC_END)
		used += smtp_dec_feed(&d, in + split, n - split);
	if (mode & 1)
		smtp_dec_finish(&d);
	*flags = d.flags;
	*end = d.st == DEC_END;
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 20)
		return 0;
	unsigned mode = data[0];
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	size_t split = n ? (size_t)data[0] * 7919 % (n + 1) : 0;
	struct buf a = {malloc(2 * n + 2), 0, 2 * n + 2}, b = {malloc(2 * n + 2), 0, 2 * n + 2};
	unsigned fa, fb;
	int ea, eb;
	size_t ua = run(in, n, 0, mode, &a, &fa, &ea);
	size_t ub = run(in, n, split, mode, &b, &fb, &eb);
	if (ua != ub || ea != eb || fa != fb || a.len != b.len || memcmp(a.p, b.p, a.len))
		abort();
	if (ea) {
		if (mode & 1)
			abort(); /* BDAT has no terminator */
		int at_start = ua == 3 && memcmp(in, ".\r\n", 3) == 0;
		if (!at_start && (ua < 5 || memcmp(in + ua - 5, "\r\n.\r\n", 5) != 0))
			abort();
	} else if (ua != n) {
		abort();
	}
	if (mode & 2)
		for (size_t i = 0; i < a.len; i++)
			if ((a.p[i] == '\r') != (i + 1 < a.len && a.p[i + 1] == '\n') ||
			    (a.p[i] == '\n' && (i == 0 || a.p[i - 1] != '\r')))
				abort();
	free(a.p);
	free(b.p);
	return 0;
}
