/*
 * smtp_data.c: the DATA and BDAT byte-stream decoder. Owns end-of-data
 * detection (RFC 5321 4.1.1.4: CR LF "." CR LF and nothing else),
 * dot-unstuffing (RFC 5321 4.5.2), bare CR / bare LF detection (RFC 5321
 * 2.3.8; the SMTP smuggling family of attacks) and the message line length
 * limit (RFC 5321 4.5.3.1.6). BDAT chunks (RFC 3030) go through the same
 * checks without dot-unstuffing or terminator.
 *
 * Pure: bytes in, bytes out through the emit callback. Must never treat
 * anything but the five raw octets CR LF . CR LF as the end of data, never
 * let normalisation create a line start (so a normalised bare LF can
 * neither unstuff a dot nor end the data).
 */
#include <string.h>

#include "smtp_parse.h"

void smtp_dec_init(struct smtp_dec *d, bool chunked, bool normalize, uint32_t max_line,
                   smtp_emit_fn emit, void *ctx)
{
	d->st = DEC_LINE_START;
	d->chunked = chunked;
	d->normalize = normalize;
	d->max_line = max_line;
	d->linelen = 0;
	d->flags = 0;
	d->emit = emit;
	d->ctx = ctx;
}

static void line_add(struct smtp_dec *d, size_t n)
{
	if (d->linelen > UINT32_MAX - n)
		d->linelen = UINT32_MAX;
	else
		d->linelen += (uint32_t)n;
	if (d->max_line && d->linelen > d->max_line)
		d->flags |= DEC_LONG_LINE;
}

/* A CR or LF that is not part of CR LF. */
static void bare(struct smtp_dec *d, unsigned flag, const char *raw)
{
	d->flags |= flag;
	if (d->normalize) {
		d->emit(d->ctx, "\r\n", 2);
		d->linelen = 0;
		return;
	}
	d->emit(d->ctx, raw, 1);
	line_add(d, 1);
}

/*
 * Inside a line: passes on, in one emit, everything up to the first octet
 * that needs a decision: a CR LF followed by "." (DATA) or by the end of
 * the input, or a lone CR or LF. The complete lines in between are copied
 * as they are, so a normal message costs one emit per read, not per line.
 */
static size_t span(struct smtp_dec *d, const char *in, size_t n, size_t *line)
{
	size_t j = 0;
	for (;;) {
		/* memchr is vectorised: two scans beat one octet loop on real text */
		const char *cr = memchr(in + j, '\r', n - j);
		size_t lim = cr ? (size_t)(cr - in) : n;
		const char *lf = memchr(in + j, '\n', lim - j);
		size_t k = lf ? (size_t)(lf - in) : lim;
		*line += k - j;
		if (d->max_line && *line > d->max_line)
			d->flags |= DEC_LONG_LINE;
		j = k;
		if (k + 2 >= n || in[k] != '\r' || in[k + 1] != '\n' ||
		    (in[k + 2] == '.' && !d->chunked))
			return j;
		j = k + 2;
		*line = 0;
	}
}

static size_t mid_run(struct smtp_dec *d, const char *in, size_t n)
{
	size_t line = d->linelen;
	size_t j = span(d, in, n, &line);
	if (j) {
		d->emit(d->ctx, in, j);
		d->linelen = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
		return j;
	}
	if (in[0] == '\r')
		d->st = DEC_CR;
	else
		bare(d, DEC_BARE_LF, "\n");
	return 1;
}

size_t smtp_dec_feed(struct smtp_dec *d, const char *in, size_t n)
{
	size_t i = 0;
	while (i < n && d->st != DEC_END) {
		char c = in[i];
		switch (d->st) {
		case DEC_MID:
			i += mid_run(d, in + i, n - i);
			break;
		case DEC_LINE_START:
			if (c == '.' && !d->chunked) {
				d->st = DEC_DOT;
				i++;
			} else {
				d->st = DEC_MID;
			}
			break;
		case DEC_DOT:
			if (c == '\r') {
				d->st = DEC_DOT_CR;
				i++;
			} else {
				d->st = DEC_MID; /* the stuffed dot is dropped */
			}
			break;
		case DEC_DOT_CR:
			if (c == '\n') {
				d->st = DEC_END;
				i++;
			} else {
				bare(d, DEC_BARE_CR, "\r");
				d->st = DEC_MID;
			}
			break;
		case DEC_CR:
			if (c == '\n') {
				d->emit(d->ctx, "\r\n", 2);
				d->linelen = 0;
				d->st = DEC_LINE_START;
				i++;
			} else {
				bare(d, DEC_BARE_CR, "\r");
				d->st = DEC_MID;
			}
			break;
		case DEC_END:
		case DEC_STATE_MAX:
			return i;
		}
	}
	return i;
}

void smtp_dec_finish(struct smtp_dec *d)
{
	if (d->st == DEC_CR || d->st == DEC_DOT_CR) {
		bare(d, DEC_BARE_CR, "\r");
		d->st = DEC_MID;
	}
}
