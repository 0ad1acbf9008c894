/*
 * routes/toml/toml_lex.c: the lexical layer of the TOML parser: error
 * positions, the scratch buffer for decoded strings and keys, UTF-8
 * validation of the whole document, white space, comments and newlines
 * (CRLF accepted, a lone CR refused), and the four string kinds with every
 * escape and the line-ending backslash (toml.io 1.0, "String").
 *
 * Must never: read outside [ps->buf, ps->end), accept a control character
 * the specification forbids, or report more than the first error.
 */
#include "codec.h"
#include "toml_int.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Errors and positions                                                 */
/* ------------------------------------------------------------------ */

/* Positions of errors are recomputed from the start: it happens once. */
static void locate(const struct parser *ps, const char *at, int *line, int *col)
{
	const char *ls = ps->buf;
	int ln = 1;

	if (at > ps->end)
		at = ps->end;
	for (const char *q = ps->buf; q < at; q++) {
		if (*q == '\n') {
			ln++;
			ls = q + 1;
		}
	}
	*line = ln;
	*col = (int)(at - ls) + 1;
}

int toml_lex_fail(struct parser *ps, const char *at, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return -1;
	ps->failed = true;
	locate(ps, at, &ps->err->line, &ps->err->col);
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int toml_lex_oom(struct parser *ps)
{
	return toml_lex_fail(ps, ps->p, "out of memory");
}

int toml_lex_col_of(const struct parser *ps, const char *at)
{
	return (int)(at - ps->line_start) + 1;
}

static void newline_at(struct parser *ps, const char *after)
{
	ps->line++;
	ps->line_start = after;
}

/* A printable rendering of the byte at q for messages. */
const char *toml_lex_show(const struct parser *ps, const char *q, char *out, size_t n)
{
	unsigned char c;

	if (q >= ps->end)
		return "end of file";
	c = (unsigned char)*q;
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c < 0x20 || c == 0x7f || c >= 0x80)
		snprintf(out, n, "byte 0x%02x", c);
	else
		snprintf(out, n, "'%c'", c);
	return out;
}

/* ------------------------------------------------------------------ */
/* Scratch buffer                                                       */
/* ------------------------------------------------------------------ */

int toml_lex_put(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 64;
		char *d;
		while (cap < sb->len + n + 1)
			cap *= 2;
		d = realloc(sb->d, cap);
		if (!d)
			return -1;
		sb->d = d;
		sb->cap = cap;
	}
	memcpy(sb->d + sb->len, s, n);
	sb->len += n;
	sb->d[sb->len] = '\0';
	return 0;
}

/* A copy of the buffer's content, NUL-terminated. */
char *toml_lex_take(const struct sbuf *sb)
{
	char *s = malloc(sb->len + 1);

	if (!s)
		return NULL;
	if (sb->len)
		memcpy(s, sb->d, sb->len);
	s[sb->len] = '\0';
	return s;
}

static int sb_utf8(struct sbuf *sb, uint32_t cp)
{
	char b[4];

	return toml_lex_put(sb, b, toml_scalar_utf8_encode(cp, b));
}

/* ------------------------------------------------------------------ */
/* UTF-8 (RFC 3629 section 4): no overlongs, no surrogates, <= U+10FFFF  */
/* ------------------------------------------------------------------ */

int toml_lex_utf8_check(struct parser *ps)
{
	size_t bad = utf8_valid_prefix(ps->buf, (size_t)(ps->end - ps->buf));

	if (bad == (size_t)(ps->end - ps->buf))
		return 0;
	return toml_lex_fail(ps, ps->buf + bad, "invalid UTF-8 byte 0x%02x",
	                     (unsigned char)ps->buf[bad]);
}

/* ------------------------------------------------------------------ */
/* Whitespace, comments, newlines                                       */
/* ------------------------------------------------------------------ */

void toml_lex_skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* Control characters other than tab are not allowed in comments (1.0). */
static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

int toml_lex_skip_comment(struct parser *ps)
{
	if (ps->p >= ps->end || *ps->p != '#')
		return 0;
	for (ps->p++; ps->p < ps->end && *ps->p != '\n'; ps->p++) {
		if (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
			break;
		if (is_ctl((unsigned char)*ps->p))
			return toml_lex_fail(ps, ps->p, "control character 0x%02x in comment",
			                     (unsigned char)*ps->p);
	}
	return 0;
}

/* Consumes LF or CRLF. Returns 1 if one was eaten, 0 if none, -1 on lone CR. */
int toml_lex_eat_newline(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '\n') {
		ps->p++;
		newline_at(ps, ps->p);
		return 1;
	}
	if (ps->p < ps->end && *ps->p == '\r') {
		if (ps->p + 1 < ps->end && ps->p[1] == '\n') {
			ps->p += 2;
			newline_at(ps, ps->p);
			return 1;
		}
		return toml_lex_fail(ps, ps->p, "carriage return not followed by a newline");
	}
	return 0;
}

/* After an expression: optional comment, then newline or end of file. */
int toml_lex_end_of_line(struct parser *ps, const char *what)
{
	char tmp[16];
	int r;

	toml_lex_skip_ws(ps);
	if (toml_lex_skip_comment(ps))
		return -1;
	if (ps->p >= ps->end)
		return 0;
	r = toml_lex_eat_newline(ps);
	if (r)
		return r < 0 ? -1 : 0;
	return toml_lex_fail(ps, ps->p, "expected newline after %s, found %s", what,
	                     toml_lex_show(ps, ps->p, tmp, sizeof(tmp)));
}

/* Inside arrays: whitespace, newlines and comments in any number. */
int toml_lex_skip_ws_nl(struct parser *ps)
{
	for (;;) {
		int r;
		toml_lex_skip_ws(ps);
		if (toml_lex_skip_comment(ps))
			return -1;
		r = toml_lex_eat_newline(ps);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
	}
}

/* ------------------------------------------------------------------ */
/* Strings (toml.io 1.0 "String")                                       */
/* ------------------------------------------------------------------ */

static int unicode_escape(struct parser *ps, const char *at, int ndig)
{
	uint32_t cp = 0;

	for (int i = 0; i < ndig; i++) {
		int h = ps->p + i < ps->end ? codec_hex_value((unsigned char)ps->p[i]) : -1;
		if (h < 0)
			return toml_lex_fail(ps, at, "escape '\\%c' needs %d hex digits", at[1],
			                     ndig);
		cp = cp << 4 | (uint32_t)h;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return toml_lex_fail(ps, at, "escape '\\%c' is not a Unicode scalar value (U+%04X)",
		                     at[1], (unsigned)cp);
	ps->p += ndig;
	return sb_utf8(&ps->sb, cp) ? toml_lex_oom(ps) : 0;
}

/* The one-character escapes of TOML 1.0; \e and \xHH are TOML 1.1 only. */
static const char short_escapes[][2] = {
    {'b', '\b'}, {'t', '\t'}, {'n', '\n'}, {'f', '\f'}, {'r', '\r'}, {'"', '"'}, {'\\', '\\'},
};

/* ps->p is on the backslash. */
static int escape(struct parser *ps)
{
	const char *at = ps->p;
	char c, tmp[16];

	if (++ps->p >= ps->end)
		return toml_lex_fail(ps, at, "unterminated escape");
	c = *ps->p++;
	if (c == 'u' || c == 'U')
		return unicode_escape(ps, at, c == 'u' ? 4 : 8);
	for (size_t i = 0; i < sizeof(short_escapes) / sizeof(short_escapes[0]); i++)
		if (short_escapes[i][0] == c)
			return toml_lex_put(&ps->sb, &short_escapes[i][1], 1) ? toml_lex_oom(ps)
			                                                      : 0;
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		return toml_lex_fail(ps, at, "invalid escape '\\%c'", c);
	return toml_lex_fail(ps, at, "invalid escape: backslash followed by %s",
	                     toml_lex_show(ps, at + 1, tmp, sizeof(tmp)));
}

static int string_ctl(struct parser *ps, const char *what)
{
	return toml_lex_fail(ps, ps->p, "control character 0x%02x in %s", (unsigned char)*ps->p,
	                     what);
}

/* Copies the run of plain bytes at p up to the next special byte. */
static int copy_run(struct parser *ps, char quote, bool escapes)
{
	const char *s = ps->p;

	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;
		if (c == (unsigned char)quote || (escapes && c == '\\') || is_ctl(c))
			break;
		ps->p++;
	}
	return toml_lex_put(&ps->sb, s, (size_t)(ps->p - s)) ? toml_lex_oom(ps) : 0;
}

/* "basic" or 'literal', one line. p is on the opening quote. */
int toml_lex_string_line(struct parser *ps)
{
	char q = *ps->p;
	const char *open = ps->p;
	bool basic = q == '"';

	ps->p++;
	for (;;) {
		if (copy_run(ps, q, basic))
			return -1;
		if (ps->p >= ps->end)
			return toml_lex_fail(ps, open, "unterminated string");
		if (*ps->p == q) {
			ps->p++;
			return 0;
		}
		if (*ps->p == '\\') {
			if (escape(ps))
				return -1;
			continue;
		}
		if (*ps->p == '\n' || *ps->p == '\r')
			return toml_lex_fail(
			    ps, ps->p, "newline in single-line string (missing closing %c?)", q);
		return string_ctl(ps, "string");
	}
}

/* A backslash at the end of a line eats all following whitespace. */
static int line_ending_backslash(struct parser *ps)
{
	const char *q = ps->p + 1;
	int r;

	while (q < ps->end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= ps->end || (*q != '\n' && *q != '\r'))
		return 1; /* not one: an ordinary (invalid) escape */
	ps->p = q;
	for (;;) {
		toml_lex_skip_ws(ps);
		r = toml_lex_eat_newline(ps);
		if (r <= 0)
			return r;
	}
}

/* The closing delimiter: 3 quotes, up to 2 more belong to the content. */
static int ml_close(struct parser *ps, char q, bool *done)
{
	size_t n = 0;

	while (ps->p + n < ps->end && ps->p[n] == q)
		n++;
	*done = false;
	if (n < 3) {
		ps->p += n;
		return toml_lex_put(&ps->sb, ps->p - n, n) ? toml_lex_oom(ps) : 0;
	}
	if (n > 5)
		return toml_lex_fail(ps, ps->p + 5, "too many quotes closing a multi-line string");
	if (toml_lex_put(&ps->sb, ps->p, n - 3))
		return toml_lex_oom(ps);
	ps->p += n;
	*done = true;
	return 0;
}

static int ml_newline(struct parser *ps)
{
	int r = toml_lex_eat_newline(ps);

	if (r < 0)
		return -1;
	if (r == 0)
		return string_ctl(ps, "multi-line string");
	return toml_lex_put(&ps->sb, "\n", 1) ? toml_lex_oom(ps) : 0;
}

/* """basic""" or '''literal''', p on the first quote. */
static int string_multi(struct parser *ps)
{
	char q = *ps->p;
	const char *open = ps->p;
	bool basic = q == '"', done = false;

	ps->p += 3;
	if (toml_lex_eat_newline(ps) < 0) /* a newline right after the opening is trimmed */
		return -1;
	while (!done) {
		if (copy_run(ps, q, basic))
			return -1;
		if (ps->p >= ps->end)
			return toml_lex_fail(ps, open, "unterminated multi-line string");
		if (*ps->p == q) {
			if (ml_close(ps, q, &done))
				return -1;
		} else if (*ps->p == '\\') {
			int r = line_ending_backslash(ps);
			if (r < 0 || (r > 0 && escape(ps)))
				return -1;
		} else if (ml_newline(ps)) {
			return -1;
		}
	}
	return 0;
}

/* Any string; the decoded bytes are left in ps->sb. */
int toml_lex_string_any(struct parser *ps)
{
	char q = *ps->p;

	ps->sb.len = 0;
	if (ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q)
		return string_multi(ps);
	return toml_lex_string_line(ps);
}
