/*
 * routes/toml/toml_scalar.c: UTF-8, and the number and date/time tokens of
 * TOML 1.0.
 *
 * Owns the lexical pieces that need no parser state: UTF-8 (RFC 3629
 * section 4: no overlongs, no surrogates, nothing above U+10FFFF),
 * integers (decimal, 0x, 0o, 0b; underscores only between digits;
 * no leading zeros; the full int64 range including -9223372036854775808),
 * floats (exponents, inf and nan with signs; converted by strtod on a copy
 * without underscores) and the four date/time kinds of RFC 3339 section
 * 5.6 as TOML 1.0 profiles them (seconds required, 60 allowed as a leap
 * second per section 5.7, days checked against the month and leap year).
 *
 * Must never: read outside the token it is given, accept a token it did
 * not consume whole, or depend on the locale's decimal point (TOML floats
 * always use '.', and the daemon never calls setlocale()).
 */
#include "codec.h"
#include "toml_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest number token converted; longer ones are not sane configuration. */
#define NUMBER_MAX 256

__attribute__((format(printf, 3, 4))) static int serr(struct toml_scalar_err *e, const char *at,
                                                      const char *fmt, ...)
{
	va_list ap;

	e->at = at;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Numbers (toml.io 1.0 "Integer", "Float")                            */
/* ------------------------------------------------------------------ */

/*
 * digits ( '_'? digits )*: underscores only between two digits. Returns
 * the number of characters taken, 0 if none, -1 on a misplaced '_'.
 */
static long digit_run(const char *s, size_t n, int base)
{
	size_t i = 0;

	while (i < n) {
		int d = codec_hex_value((unsigned char)s[i]);
		if (d >= 0 && d < base) {
			i++;
			continue;
		}
		if (s[i] != '_')
			break;
		if (i == 0 || i + 1 >= n || codec_hex_value((unsigned char)s[i + 1]) < 0 ||
		    codec_hex_value((unsigned char)s[i + 1]) >= base)
			return -1;
		i++;
	}
	return (long)i;
}

static int int_prefixed(struct toml_scalar_err *e, const char *tok, size_t n, int64_t *out)
{
	int base = tok[1] == 'x' ? 16 : tok[1] == 'o' ? 8 : 2;
	long run = digit_run(tok + 2, n - 2, base);
	uint64_t acc = 0;

	if (run <= 0 || (size_t)run != n - 2)
		return serr(e, tok, "invalid %s integer '%.*s'",
		            base == 16  ? "hexadecimal"
		            : base == 8 ? "octal"
		                        : "binary",
		            (int)n, tok);
	for (size_t i = 2; i < n; i++) {
		if (tok[i] == '_')
			continue;
		if (acc > ((uint64_t)INT64_MAX - (uint64_t)codec_hex_value((unsigned char)tok[i])) /
		              (uint64_t)base)
			return serr(e, tok, "integer out of range");
		acc = acc * (uint64_t)base + (uint64_t)codec_hex_value((unsigned char)tok[i]);
	}
	*out = (int64_t)acc;
	return 0;
}

static int int_decimal(struct toml_scalar_err *e, const char *tok, size_t n, int64_t *out)
{
	bool neg = tok[0] == '-';
	uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	for (size_t i = (tok[0] == '+' || neg) ? 1 : 0; i < n; i++) {
		unsigned d;
		if (tok[i] == '_')
			continue;
		d = (unsigned)(tok[i] - '0');
		if (acc > (limit - d) / 10)
			return serr(e, tok, "integer out of range");
		acc = acc * 10 + d;
	}
	*out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return 0;
}

static int float_special(const char *s, size_t n, double *out)
{
	double sign = s[0] == '-' ? -1.0 : 1.0;

	if (s[0] == '+' || s[0] == '-') {
		s++;
		n--;
	}
	if (n == 3 && memcmp(s, "inf", 3) == 0) {
		*out = sign * __builtin_inf();
		return 1;
	}
	if (n == 3 && memcmp(s, "nan", 3) == 0) {
		*out = sign < 0 ? -__builtin_nan("") : __builtin_nan("");
		return 1;
	}
	return 0;
}

/* strtod on a copy without underscores; the grammar was checked before. */
static int float_convert(struct toml_scalar_err *e, const char *tok, size_t n, double *out)
{
	char clean[NUMBER_MAX + 1], *endp;
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (tok[i] != '_')
			clean[o++] = tok[i];
	clean[o] = '\0';
	errno = 0;
	*out = strtod(clean, &endp);
	if (*endp != '\0')
		return serr(e, tok, "invalid float '%.*s'", (int)n, tok);
	if (errno == ERANGE && (*out == __builtin_inf() || *out == -__builtin_inf()))
		return serr(e, tok, "float out of range");
	return 0;
}

/*
 * dec-int [ '.' digits ] [ [eE] [+-] digits ]: sets *is_float and checks
 * the whole token against the grammar.
 */
static int decimal_shape(struct toml_scalar_err *e, const char *tok, size_t n, bool *is_float)
{
	size_t i = (tok[0] == '+' || tok[0] == '-') ? 1 : 0;
	long run = digit_run(tok + i, n - i, 10);

	*is_float = false;
	if (run <= 0)
		return serr(e, tok, "invalid number '%.*s'", (int)n, tok);
	if (tok[i] == '0' && run > 1)
		return serr(e, tok, "leading zeros are not allowed in '%.*s'", (int)n, tok);
	i += (size_t)run;
	if (i < n && tok[i] == '.') {
		*is_float = true;
		run = digit_run(tok + i + 1, n - i - 1, 10);
		if (run <= 0)
			return serr(e, tok + i, "expected digits after '.' in '%.*s'", (int)n, tok);
		i += 1 + (size_t)run;
	}
	if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
		*is_float = true;
		i++;
		if (i < n && (tok[i] == '+' || tok[i] == '-'))
			i++;
		run = digit_run(tok + i, n - i, 10);
		if (run <= 0)
			return serr(e, tok + i, "expected digits in exponent of '%.*s'", (int)n,
			            tok);
		i += (size_t)run;
	}
	if (i != n)
		return serr(e, tok + i, "invalid number '%.*s'", (int)n, tok);
	return 0;
}

static int number(struct toml_scalar_err *e, const char *tok, size_t n, toml_value *v)
{
	bool is_float;

	if (float_special(tok, n, &v->u.f)) {
		v->type = TOML_FLOAT;
		return 0;
	}
	if (n > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'o' || tok[1] == 'b')) {
		v->type = TOML_INTEGER;
		return int_prefixed(e, tok, n, &v->u.i);
	}
	if (n > 2 && (tok[0] == '+' || tok[0] == '-') && tok[1] == '0' &&
	    (tok[2] == 'x' || tok[2] == 'o' || tok[2] == 'b'))
		return serr(e, tok, "a sign is not allowed on hexadecimal, octal or binary");
	if (decimal_shape(e, tok, n, &is_float))
		return -1;
	if (n > NUMBER_MAX)
		return serr(e, tok, "number longer than %d characters", NUMBER_MAX);
	if (is_float) {
		v->type = TOML_FLOAT;
		return float_convert(e, tok, n, &v->u.f);
	}
	v->type = TOML_INTEGER;
	return int_decimal(e, tok, n, &v->u.i);
}

/* ------------------------------------------------------------------ */
/* Dates and times (RFC 3339 section 5.6 as profiled by TOML 1.0)       */
/* ------------------------------------------------------------------ */

/* Exactly n digits at s[*i]; -1 if not. */
static int fixed_digits(const char *s, size_t len, size_t *i, int n)
{
	int v = 0;

	if (*i + (size_t)n > len)
		return -1;
	for (int k = 0; k < n; k++) {
		char c = s[*i + (size_t)k];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*i += (size_t)n;
	return v;
}

static bool expect_char(const char *s, size_t len, size_t *i, char c)
{
	if (*i < len && s[*i] == c) {
		(*i)++;
		return true;
	}
	return false;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

static bool parse_date(const char *s, size_t n, size_t *i, toml_datetime *dt)
{
	dt->year = fixed_digits(s, n, i, 4);
	if (dt->year < 0 || !expect_char(s, n, i, '-'))
		return false;
	dt->month = fixed_digits(s, n, i, 2);
	if (dt->month < 1 || dt->month > 12 || !expect_char(s, n, i, '-'))
		return false;
	dt->day = fixed_digits(s, n, i, 2);
	return dt->day >= 1 && dt->day <= days_in_month(dt->year, dt->month);
}

/* Seconds are required in TOML 1.0; 60 is a leap second (RFC 3339 5.7). */
static bool parse_time(const char *s, size_t n, size_t *i, toml_datetime *dt)
{
	dt->hour = fixed_digits(s, n, i, 2);
	if (dt->hour < 0 || dt->hour > 23 || !expect_char(s, n, i, ':'))
		return false;
	dt->minute = fixed_digits(s, n, i, 2);
	if (dt->minute < 0 || dt->minute > 59 || !expect_char(s, n, i, ':'))
		return false;
	dt->second = fixed_digits(s, n, i, 2);
	if (dt->second < 0 || dt->second > 60)
		return false;
	if (!expect_char(s, n, i, '.'))
		return true;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		if (dt->frac_digits < 9)
			dt->nanosecond = dt->nanosecond * 10 + (s[*i] - '0');
		if (dt->frac_digits < INT_MAX)
			dt->frac_digits++;
		(*i)++;
	}
	for (int k = dt->frac_digits; k < 9; k++)
		dt->nanosecond *= 10;
	return dt->frac_digits > 0;
}

static bool parse_offset(const char *s, size_t n, size_t *i, toml_datetime *dt)
{
	int sign, h, m;

	if (s[*i] == 'Z' || s[*i] == 'z') {
		(*i)++;
		dt->offset_z = true;
		return true;
	}
	sign = s[*i] == '-' ? -1 : 1;
	if (s[*i] != '+' && s[*i] != '-')
		return false;
	(*i)++;
	h = fixed_digits(s, n, i, 2);
	if (h < 0 || h > 23 || !expect_char(s, n, i, ':'))
		return false;
	m = fixed_digits(s, n, i, 2);
	if (m < 0 || m > 59)
		return false;
	dt->offset_minutes = sign * (h * 60 + m);
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "DDDD-": a float such as 1.5e-3 also has a '-' at index 4. */
bool toml_scalar_is_date(const char *s, size_t n)
{
	return n >= 5 && all_digits(s, 4) && s[4] == '-';
}

bool toml_scalar_is_time(const char *s, size_t n)
{
	return n >= 3 && all_digits(s, 2) && s[2] == ':';
}

static int datetime(struct toml_scalar_err *e, const char *tok, size_t n, toml_value *v)
{
	toml_datetime *dt = &v->u.dt;
	size_t i = 0;
	bool ok;

	memset(dt, 0, sizeof(*dt));
	if (toml_scalar_is_time(tok, n)) {
		v->type = TOML_TIME_LOCAL;
		ok = parse_time(tok, n, &i, dt);
	} else {
		v->type = TOML_DATE_LOCAL;
		ok = parse_date(tok, n, &i, dt);
		if (ok && i < n && (tok[i] == 'T' || tok[i] == 't' || tok[i] == ' ')) {
			i++;
			v->type = TOML_DATETIME_LOCAL;
			ok = parse_time(tok, n, &i, dt);
			if (ok && i < n) {
				v->type = TOML_DATETIME;
				ok = parse_offset(tok, n, &i, dt);
			}
		}
	}
	if (!ok || i != n)
		return serr(e, tok, "invalid date or time '%.*s'", (int)n, tok);
	return 0;
}

int toml_scalar_parse(const char *tok, size_t n, toml_value *v, struct toml_scalar_err *e)
{
	if (toml_scalar_is_date(tok, n) || toml_scalar_is_time(tok, n))
		return datetime(e, tok, n, v);
	return number(e, tok, n, v);
}

size_t toml_scalar_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}
