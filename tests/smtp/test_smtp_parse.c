/*
 * test_smtp_parse.c: got/want tables for the pure parsers of gateway/smtp/
 * (paths and parameters, the DATA/BDAT decoder, PROXY headers, base64 and
 * SASL PLAIN). One summary line at the end (tests/unit.h).
 */
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "codec.h"
#include "smtp_parse.h"
#include "utf8.h"

struct path_case {
	const char *in;
	bool allow_null;
	enum smtp_perr want;
	const char *addr; /* when PERR_OK */
	const char *rest; /* what follows the path */
};

static const struct path_case paths[] = {
    {"<a@example.com>", false, PERR_OK, "a@example.com", ""},
    {"<>", true, PERR_OK, "", ""},
    {"<>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@example.com> SIZE=10", false, PERR_OK, "a@example.com", " SIZE=10"},
    {"<@relay.example,@r2.example:a@example.com>", false, PERR_OK, "a@example.com", ""},
    {"<\"wietse venema\"@porcupine.org>", false, PERR_OK, "\"wietse venema\"@porcupine.org", ""},
    {"<\"a\\\"b\"@example.com>", false, PERR_OK, "\"a\\\"b\"@example.com", ""},
    {"<a@[192.0.2.1]>", false, PERR_OK, "a@[192.0.2.1]", ""},
    {"<a@[IPv6:2001:db8::1]>", false, PERR_OK, "a@[IPv6:2001:db8::1]", ""},
    {"<a@[300.0.2.1]>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@[stuff>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@[\"stuff]>", false, PERR_SYNTAX, NULL, NULL},
    {"<\"wietse venema>", false, PERR_SYNTAX, NULL, NULL},
    {"a@example.com", false, PERR_SYNTAX, NULL, NULL},
    {"<wietse @ porcupine.org>", false, PERR_SYNTAX, NULL, NULL},
    {"<\"wietse venema\" <wietse@porcupine.org>>", false, PERR_SYNTAX, NULL, NULL},
    {"<a..b@example.com>", false, PERR_SYNTAX, NULL, NULL},
    {"<.a@example.com>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@-example.com>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@example-.com>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@example..com>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@>", false, PERR_SYNTAX, NULL, NULL},
    {"<@example.com>", false, PERR_SYNTAX, NULL, NULL},
    {"<a@example.com", false, PERR_SYNTAX, NULL, NULL},
    {"<a\x01@example.com>", false, PERR_SYNTAX, NULL, NULL},
    {"<\xc3\xa9l\xc3\xa8ve@\xc3\xa9"
     "cole.example>",
     false, PERR_OK,
     "\xc3\xa9l\xc3\xa8ve@\xc3\xa9"
     "cole.example",
     ""},
    {"<\xc3"
     "A@example.com>",
     false, PERR_BAD_UTF8, NULL, NULL},
    {"<\xed\xa0\x80@example.com>", false, PERR_BAD_UTF8, NULL, NULL},
    {"<\xe2\x80\xae"
     "gpj.exe@example.com>",
     false, PERR_DECEPTIVE, NULL, NULL},
    {"<a\xc2\x85@example.com>", false, PERR_DECEPTIVE, NULL, NULL},
    {"<a\xe2\x80\x8e@example.com>", false, PERR_DECEPTIVE, NULL, NULL},
    {"<a@ex\xe2\x81\xa9"
     "ample.com>",
     false, PERR_DECEPTIVE, NULL, NULL},
    {"<\"a\xe2\x80\xad\"@example.com>", false, PERR_DECEPTIVE, NULL, NULL},
    {"<a\xd8\x9c@example.com>", false, PERR_DECEPTIVE, NULL, NULL},
    {"<a\xc0\xaf@example.com>", false, PERR_BAD_UTF8, NULL, NULL},
    {"<a\xe2\x80\x8d@example.com>", false, PERR_OK, "a\xe2\x80\x8d@example.com", ""},
    {"<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com>", false,
     PERR_TOO_LONG, NULL, NULL},
};

static void test_paths(void)
{
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		const struct path_case *c = &paths[i];
		struct smtp_path p;
		const char *cur = c->in;
		enum smtp_perr e = smtp_parse_path(&cur, c->allow_null, &p);
		if (e != c->want)
			fprintf(stderr, "path case %zu: %s\n", i, c->in);
		CHECK_INT(e, c->want);
		if (c->want == PERR_OK && e == PERR_OK) {
			CHECK_STR(p.addr, c->addr);
			CHECK_STR(cur, c->rest);
		}
	}
}

struct param_case {
	const char *in;
	enum smtp_perr want;
	size_t n;
};

static const struct param_case params[] = {
    {"", PERR_OK, 0},
    {" SIZE=100 BODY=8BITMIME", PERR_OK, 2},
    {" SMTPUTF8", PERR_OK, 1},
    {" SIZE=", PERR_SYNTAX, 0},
    {" =x", PERR_SYNTAX, 0},
    {" A=b=c", PERR_SYNTAX, 0},
    {" A B C D E F G H I J K L M N O P Q", PERR_TOO_MANY, 0},
    {" -X", PERR_SYNTAX, 0},
};

static void test_params(void)
{
	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
		struct smtp_param pm[SMTP_MAX_PARAMS];
		size_t n = 99;
		enum smtp_perr e = smtp_parse_params(params[i].in, pm, SMTP_MAX_PARAMS, &n);
		CHECK_INT(e, params[i].want);
		if (e == PERR_OK)
			CHECK_INT(n, params[i].n);
	}
	uint64_t v;
	CHECK_INT(smtp_parse_u64("18446744073709551615", 20, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_INT(smtp_parse_u64("18446744073709551616", 20, &v), -1);
	CHECK_INT(smtp_parse_u64("12a", 3, &v), -1);
	CHECK_INT(smtp_parse_u64("", 0, &v), -1);
}

struct sink {
	char buf[256];
	size_t len;
};

static void emit(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;
	if (s->len + n < sizeof s->buf) {
		memcpy(s->buf + s->len, p, n);
		s->len += n;
	}
	s->buf[s->len] = '\0';
}

struct dec_case {
	const char *in;
	size_t inlen;
	bool chunked, normalize;
	size_t want_used; /* consumed; (size_t)-1 = all */
	bool want_end;
	const char *want_out;
	size_t want_outlen;
	unsigned want_flags;
};

#define S(x) x, sizeof(x) - 1
static const struct dec_case decs[] = {
    {S("a\r\n.\r\nMAIL"), false, false, 6, true, S("a\r\n"), 0},
    {S(".\r\n"), false, false, 3, true, S(""), 0},
    {S("..x\r\n.\r\n"), false, false, 8, true, S(".x\r\n"), 0},
    {S(".x\r\n.\r\n"), false, false, 7, true, S("x\r\n"), 0},
    {S("a\n.\nb"), false, false, (size_t)-1, false, S("a\n.\nb"), DEC_BARE_LF},
    {S("a\n.\r\nb"), false, false, (size_t)-1, false, S("a\n.\r\nb"), DEC_BARE_LF},
    {S("a\r.\r\nb"), false, false, (size_t)-1, false, S("a\r.\r\nb"), DEC_BARE_CR},
    {S("a\r\n.\rb"), false, false, (size_t)-1, false, S("a\r\n\rb"), DEC_BARE_CR},
    {S("a\r\n\0.\r\nb"), false, false, (size_t)-1, false, S("a\r\n\0.\r\nb"), 0},
    {S("a\r\n.\0\r\nb"), false, false, (size_t)-1, false, S("a\r\n\0\r\nb"), 0},
    {S("a\r\n.\r\r\nb"), false, false, (size_t)-1, false, S("a\r\n\r\r\nb"), DEC_BARE_CR},
    {S("a\n.\nb"), false, true, (size_t)-1, false, S("a\r\n.\r\nb"), DEC_BARE_LF},
    {S("a\r\n.\r\n"), true, false, (size_t)-1, false, S("a\r\n.\r\n"), 0},
    {S("xxxxxxxxxx\r\n.\r\n"), false, false, 15, true, S("xxxxxxxxxx\r\n"), DEC_LONG_LINE},
};

static void test_decoder(void)
{
	for (size_t i = 0; i < sizeof decs / sizeof decs[0]; i++) {
		const struct dec_case *c = &decs[i];
		struct sink s = {{0}, 0};
		struct smtp_dec d;
		smtp_dec_init(&d, c->chunked, c->normalize, 8, emit, &s);
		/* Byte by byte must give the same result as in one piece. */
		size_t used = 0;
		for (size_t k = 0; k < c->inlen && d.st != DEC_END; k++)
			used += smtp_dec_feed(&d, c->in + k, 1);
		size_t want = c->want_used == (size_t)-1 ? c->inlen : c->want_used;
		CHECK_INT(used, want);
		CHECK_INT(d.st == DEC_END, c->want_end);
		CHECK_INT(s.len, c->want_outlen);
		CHECK(memcmp(s.buf, c->want_out, s.len) == 0);
		CHECK_INT(d.flags, c->want_flags);
		struct sink s2 = {{0}, 0};
		smtp_dec_init(&d, c->chunked, c->normalize, 8, emit, &s2);
		CHECK_INT(smtp_dec_feed(&d, c->in, c->inlen), want);
		CHECK_INT(s2.len, s.len);
	}
}

struct proxy_case {
	const char *in;
	size_t len;
	enum proxy_result want;
	size_t hlen;
	bool local;
};

static const unsigned char v2_ipv4[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                        0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192,  0,    2,    7,
                                        198,  51,   100,  1,    0x30, 0x39, 0x00, 0x19, 'E',  'H'};

static const struct proxy_case proxies[] = {
    {S("PROXY TCP4 192.0.2.7 198.51.100.1 12345 25\r\nEHLO"), PROXY_OK, 44, false},
    {S("PROXY TCP6 2001:db8::7 2001:db8::1 12345 25\r\n"), PROXY_OK, 45, false},
    {S("PROXY UNKNOWN\r\n"), PROXY_OK, 15, true},
    {S("PROXY TCP4 192.0.2.7 198.51.100.1 12345"), PROXY_NEED_MORE, 0, false},
    {S("PROXY TCP4 192.0.2.7 198.51.100.1 99999 25\r\n"), PROXY_BAD, 0, false},
    {S("PROXY TCP4 2001:db8::7 198.51.100.1 1 25\r\n"), PROXY_BAD, 0, false},
    {S("PROXY TCP4 192.0.2.7\r\n"), PROXY_BAD, 0, false},
    {S("EHLO x\r\n"), PROXY_BAD, 0, false},
    {S("PROX"), PROXY_NEED_MORE, 0, false},
    {(const char *)v2_ipv4, sizeof v2_ipv4, PROXY_OK, 28, false},
    {(const char *)v2_ipv4, 20, PROXY_NEED_MORE, 0, false},
};

static void test_proxy(void)
{
	for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) {
		struct proxy_info pi;
		enum proxy_result r =
		    proxy_parse((const unsigned char *)proxies[i].in, proxies[i].len, &pi);
		CHECK_INT(r, proxies[i].want);
		if (r == PROXY_OK) {
			CHECK_INT(pi.header_len, proxies[i].hlen);
			CHECK_INT(pi.local, proxies[i].local);
		}
	}
}

static void test_sasl(void)
{
	unsigned char out[64];
	char b64[64], user[32], pass[32];
	size_t n;
	CHECK_INT(codec_b64_decode("AHVzZXIAcGFzcw==", 16, out, sizeof out, &n, CODEC_B64_NEED_PAD),
	          0);
	CHECK_INT((long)n, 10);
	CHECK_INT(smtp_sasl_plain(out, n, user, sizeof user, pass, sizeof pass), 0);
	CHECK_STR(user, "user");
	CHECK_STR(pass, "pass");
	/* SASL's base64 needs the padding and has no FWS (RFC 4954 4) */
	CHECK(codec_b64_decode("AHVzZXIAcGFzcw=", 15, out, sizeof out, &n, CODEC_B64_NEED_PAD) < 0);
	CHECK(codec_b64_decode("A=VzZXIAcGFzcw==", 16, out, sizeof out, &n, CODEC_B64_NEED_PAD) <
	      0);
	codec_b64_encode((const unsigned char *)"\0user\0pass", 10, b64);
	CHECK_STR(b64, "AHVzZXIAcGFzcw==");
	/* authzid different from the user: refused */
	CHECK_INT(smtp_sasl_plain((const unsigned char *)"x\0user\0pass", 11, user, sizeof user,
	                          pass, sizeof pass),
	          -1);
	CHECK_INT(smtp_sasl_plain((const unsigned char *)"user\0user\0pass", 14, user, sizeof user,
	                          pass, sizeof pass),
	          0);
	CHECK_INT(smtp_sasl_plain((const unsigned char *)"\0user", 5, user, sizeof user, pass,
	                          sizeof pass),
	          -1);
	CHECK(utf8_valid("\xe2\x82\xac", 3));
	CHECK(!utf8_valid("\xc0\xaf", 2));
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));
}

int main(void)
{
	test_paths();
	test_params();
	test_decoder();
	test_proxy();
	test_sasl();
	return UNIT_END("smtp_parse");
}
