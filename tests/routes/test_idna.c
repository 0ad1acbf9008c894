/*
 * tests/routes/test_idna.c: got/want tables for routes/table/idna.c: the RFC 3492
 * section 7.1 sample strings (read from the data file given as argv[1]),
 * domain conversion to and from A-labels, the lower-case mapping, UTF-8
 * decoding and the punycode overflow and buffer checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route_int.h"
#include "utf8.h"
#include "unit.h"

#define SAMPLE_MAX 64

/* "0644 064A ..." -> code points; returns the count or -1. */
static int parse_cps(char *s, uint32_t *cp, size_t cap)
{
	int n = 0;
	for (char *p = s; *p;) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 16);
		if (end == p || errno || (size_t)n >= cap)
			return -1;
		cp[n++] = (uint32_t)v;
		p = end + strspn(end, " ");
	}
	return n;
}

static void check_sample(const char *name, uint32_t *cp, int n, const char *puny)
{
	char enc[256];
	int m = idna_punycode_encode(cp, (size_t)n, enc, sizeof enc);
	CHECK(m >= 0);
	if (m < 0 || strcasecmp(enc, puny) != 0)
		fprintf(stderr, "sample %s: encoded \"%s\", want \"%s\"\n", name, m < 0 ? "" : enc,
		        puny);
	else
		unit_passed++;

	uint32_t dec[SAMPLE_MAX];
	int k = idna_punycode_decode(puny, strlen(puny), dec, SAMPLE_MAX);
	CHECK_INT(k, n);
	CHECK(k == n && memcmp(dec, cp, (size_t)n * sizeof *cp) == 0);
}

static int run_samples(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	char line[1024];
	int samples = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2) {
			fprintf(stderr, "%s: bad line \"%s\"\n", path, line);
			unit_failed++;
			continue;
		}
		*t1 = *t2 = '\0';
		uint32_t cp[SAMPLE_MAX];
		int n = parse_cps(t1 + 1, cp, SAMPLE_MAX);
		CHECK(n > 0);
		if (n > 0)
			check_sample(line, cp, n, t2 + 1);
		samples++;
	}
	fclose(f);
	CHECK_INT(samples, 19); /* (A) to (S) */
	return 0;
}

static const struct {
	const char *in, *want; /* want NULL: must be refused */
} to_ascii[] = {
    {"example.com", "example.com"},
    {"EXAMPLE.Com", "example.com"},
    {"bücher.example", "xn--bcher-kva.example"},
    {"BÜCHER.EXAMPLE", "xn--bcher-kva.example"},
    {"xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"XN--BCHER-KVA.Example", "xn--bcher-kva.example"},
    {"xn--Bcher-kva.example", "xn--bcher-kva.example"}, /* "Bücher": folded */
    {"münchen.de", "xn--mnchen-3ya.de"},
    {"пример.рф", "xn--e1afmkfd.xn--p1ai"},
    {"ПРИМЕР.РФ", "xn--e1afmkfd.xn--p1ai"},
    {"例え.テスト", "xn--r8jz45g.xn--zckzah"},
    {"δοκιμή.gr", "xn--jxalpdlp.gr"},
    {"ΔΟΚΙΜΉ.gr", "xn--jxalpdlp.gr"},
    {"ελληνικά.gr", "xn--hxargifdar.gr"},
    {"MAÑANA.com", "xn--maana-pta.com"},
    {"faß.de", "xn--fa-hia.de"}, /* IDNA2008: ß stays */
    {"FAẞ.de", "xn--fa-hia.de"},
    {"bücher。example", "xn--bcher-kva.example"},
    {"bücher．example", "xn--bcher-kva.example"},
    {"ｅｘａｍｐｌｅ.com", "example.com"},
    {"İSTANBUL.tr", "istanbul.tr"},
    {"ab--cd.com", "ab--cd.com"},
    {"a.b.c.d", "a.b.c.d"},
    {"123.example", "123.example"},
    {"☃.example", "xn--n3h.example"}, /* no RFC 5892 tables: symbols pass */
    {"ｂｕｃｈｅｒ－ｘ.example", "bucher-x.example"},
    {"", NULL},
    {".", NULL},
    {"a..b", NULL},
    {".a", NULL},
    {"a.", NULL},
    {"-a.com", NULL},
    {"a-.com", NULL},
    {"a_b.com", NULL},
    {"a b.com", NULL},
    {"a@b.com", NULL},
    {"*.example.com", NULL},
    {"xn--.com", NULL},
    {"xn--ab-r13a.example", NULL}, /* decodes to "a\u3002b": a dot inside a label */
    {"xn--ab-yu3n.example", NULL}, /* "a\uFF0Eb" */
    {"xn--mi7cc.example", NULL},   /* fullwidth "ab": an ASCII label in disguise */
    {"xn--ab-.com", NULL},         /* decodes to plain ASCII: not an A-label */
    {"xn--a-zzzzzzzzzzzzzz.com", NULL},
    {"ab--ü.com", NULL}, /* RFC 5891 4.2.3.1: "--" in positions 3 and 4 */
    {"\xff.com", NULL},
    {"\xc0\xaf.com", NULL},
    {"b\xc3.com", NULL},
    {"a\u00A0b.com", NULL}, /* no-break space */
    {"a\u200Bb.com", NULL}, /* zero-width space */
    {"a\u00ADb.com", NULL}, /* soft hyphen */
    {"a\uFFFFb.com", NULL}, /* noncharacter */
};

static void run_to_ascii(void)
{
	for (size_t i = 0; i < sizeof to_ascii / sizeof to_ascii[0]; i++) {
		char out[ROUTE_DOMAIN_MAX];
		int rc = idna_to_ascii(to_ascii[i].in, out, sizeof out);
		if (!to_ascii[i].want) {
			if (rc == 0)
				fprintf(stderr, "idna_to_ascii(\"%s\") = \"%s\", want refusal\n",
				        to_ascii[i].in, out);
			CHECK_INT(rc, -1);
			continue;
		}
		CHECK_INT(rc, 0);
		CHECK_STR(rc == 0 ? out : "(refused)", to_ascii[i].want);
	}
}

static void run_lengths(void)
{
	char label[80], dom[300], out[ROUTE_DOMAIN_MAX];
	memset(label, 'a', 63);
	label[63] = '\0';
	CHECK_INT(idna_to_ascii(label, out, sizeof out), 0);
	label[63] = 'a';
	label[64] = '\0';
	CHECK_INT(idna_to_ascii(label, out, sizeof out), -1);

	/* 4 x 63 + 1 = 253 octets with the dots is the most a domain may have. */
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		memset(dom + o, 'a' + i, i == 3 ? 61 : 63);
		o += i == 3 ? 61 : 63;
		dom[o++] = '.';
	}
	dom[o - 1] = '\0';
	CHECK_INT(strlen(dom), 253);
	CHECK_INT(idna_to_ascii(dom, out, sizeof out), 0);
	dom[o - 1] = 'x';
	dom[o] = '\0';
	CHECK_INT(idna_to_ascii(dom, out, sizeof out), -1);

	/* U-labels of 26 and 28 CJK characters: A-labels of 60 and 66 octets. */
	uint32_t cjk[28];
	char big[200];
	size_t bo = 0;
	for (int i = 0; i < 28; i++) {
		cjk[i] = 0x4E00 + (uint32_t)i * 37;
		bo += idna_utf8_encode(cjk[i], big + bo);
		if (i == 25) {
			big[bo] = '\0';
			CHECK_INT(idna_to_ascii(big, out, sizeof out), 0);
			CHECK_INT(strlen(out), 60);
		}
	}
	big[bo] = '\0';
	CHECK_INT(idna_to_ascii(big, out, sizeof out), -1);
	char enc[100];
	CHECK_INT(idna_punycode_encode(cjk, 28, enc, sizeof enc), 62);

	/* No NFC: u + U+0308 is a different label from the precomposed ü. */
	CHECK_INT(idna_to_ascii("bu\xcc\x88"
	                        "cher.example",
	                        out, sizeof out),
	          0);
	CHECK(strcmp(out, "xn--bcher-kva.example") != 0);

	/* The output buffer is a hard bound. */
	CHECK_INT(idna_to_ascii("example.com", out, 11), -1);
	CHECK_INT(idna_to_ascii("example.com", out, 12), 0);
}

static const struct {
	const char *in, *want;
} to_unicode[] = {
    {"xn--bcher-kva.example", "bücher.example"},
    {"XN--E1AFMKFD.XN--P1AI", "пример.рф"},
    {"Example.COM", "example.com"},
    {"bücher.example", "bücher.example"},
    {"xn--fa-hia.de", "faß.de"},
};

static void run_to_unicode(void)
{
	for (size_t i = 0; i < sizeof to_unicode / sizeof to_unicode[0]; i++) {
		char out[ROUTE_DOMAIN_MAX * 2];
		int rc = idna_to_unicode(to_unicode[i].in, out, sizeof out);
		CHECK_INT(rc, 0);
		CHECK_STR(rc == 0 ? out : "(refused)", to_unicode[i].want);
	}
	char out[8];
	CHECK_INT(idna_to_unicode("xn--bcher-kva.example", out, sizeof out), -1);
}

static const uint32_t fold[][2] = {
    {'A', 'a'},       {'Z', 'z'},         {'a', 'a'},       {'@', '@'},       {0xC0, 0xE0},
    {0xDE, 0xFE},     {0xD7, 0xD7},       {0xDF, 0xDF},     {0x100, 0x101},   {0x101, 0x101},
    {0x130, 'i'},     {0x131, 0x131},     {0x139, 0x13A},   {0x178, 0xFF},    {0x17D, 0x17E},
    {0x386, 0x3AC},   {0x391, 0x3B1},     {0x3A3, 0x3C3},   {0x3C2, 0x3C2},   {0x3A9, 0x3C9},
    {0x400, 0x450},   {0x410, 0x430},     {0x42F, 0x44F},   {0x460, 0x461},   {0x4C1, 0x4C2},
    {0x531, 0x561},   {0x1E9E, 0xDF},     {0x1EA0, 0x1EA1}, {0x1EA1, 0x1EA1}, {0x212A, 'k'},
    {0x212B, 0xE5},   {0xFF0D, 0xFF0D},   {0xFF21, 0xFF21}, {0xFF41, 0xFF41}, {0xFF10, 0xFF10},
    {0x4E00, 0x4E00}, {0x1F600, 0x1F600},
};

static void run_fold(void)
{
	for (size_t i = 0; i < sizeof fold / sizeof fold[0]; i++) {
		uint32_t got = idna_fold_cp(fold[i][0]);
		if (got != fold[i][1])
			fprintf(stderr, "fold U+%04X: got U+%04X, want U+%04X\n", fold[i][0], got,
			        fold[i][1]);
		CHECK(got == fold[i][1]);
	}
	char out[64];
	CHECK_INT(idna_fold_utf8("JOSÉ.Ñandú", strlen("JOSÉ.Ñandú"), out, sizeof out),
	          (int)strlen("josé.ñandú"));
	CHECK_STR(out, "josé.ñandú");
	CHECK_INT(idna_fold_utf8("ИВАН", strlen("ИВАН"), out, sizeof out), 8);
	CHECK_STR(out, "иван");
	CHECK_INT(idna_fold_utf8("\xff", 1, out, sizeof out), -1);
	CHECK_INT(idna_fold_utf8("abcdef", 6, out, 6), -1);
}

static const struct {
	const char *in;
	size_t len;
	uint32_t cp; /* len 0: must be refused */
} utf8[] = {
    {"A", 1, 'A'},
    {"\xc3\xa9", 2, 0xE9},
    {"\xe2\x82\xac", 3, 0x20AC},
    {"\xf0\x9f\x98\x80", 4, 0x1F600},
    {"\xc0\x80", 0, 0},         /* overlong NUL */
    {"\xe0\x80\xaf", 0, 0},     /* overlong '/' */
    {"\xed\xa0\x80", 0, 0},     /* surrogate */
    {"\xf4\x90\x80\x80", 0, 0}, /* beyond U+10FFFF */
    {"\xe2\x82", 0, 0},         /* truncated */
    {"\x80", 0, 0},
    {"\xfe", 0, 0},
};

static void run_utf8(void)
{
	for (size_t i = 0; i < sizeof utf8 / sizeof utf8[0]; i++) {
		uint32_t cp = 0;
		size_t n = utf8_decode((const unsigned char *)utf8[i].in, strlen(utf8[i].in), &cp);
		CHECK_INT(n, utf8[i].len);
		if (n)
			CHECK_INT(cp, utf8[i].cp);
		char out[4];
		if (n)
			CHECK_INT(idna_utf8_encode(cp, out), n);
	}
	char out[4];
	CHECK_INT(idna_utf8_encode(0xD800, out), 0);
	CHECK_INT(idna_utf8_encode(0x110000, out), 0);
}

static void run_punycode_limits(void)
{
	uint32_t cp[8];
	/* Digits that overflow the 32-bit delta: refused, not wrapped. */
	CHECK_INT(idna_punycode_decode("99999999999999", 14, cp, 8), -1);
	CHECK_INT(idna_punycode_decode("abc!", 4, cp, 8), -1);
	CHECK_INT(idna_punycode_decode("a\x80-bc", 5, cp, 8), -1);
	/* More code points than the caller has room for. */
	CHECK_INT(idna_punycode_decode("ihqwcrb4cv8a8dqg056pqjye", 24, cp, 8), -1);
	/* The smallest delta: the first non-basic code point, U+0080. */
	CHECK_INT(idna_punycode_decode("a", 1, cp, 8), 1);
	CHECK_INT(cp[0], 0x80);

	uint32_t big[2] = {0x10FFFF, 0x80};
	char out[64];
	CHECK(idna_punycode_encode(big, 2, out, sizeof out) > 0);
	uint32_t back[2];
	CHECK_INT(idna_punycode_decode(out, strlen(out), back, 2), 2);
	CHECK(back[0] == 0x10FFFF && back[1] == 0x80);
	uint32_t bucher[] = {'b', 0xFC, 'c', 'h', 'e', 'r'};
	CHECK_INT(idna_punycode_encode(bucher, 6, out, 10), 9);
	CHECK_STR(out, "bcher-kva");
	CHECK_INT(idna_punycode_encode(bucher, 6, out, 9), -1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_idna punycode_rfc3492.txt\n");
		return 2;
	}
	if (run_samples(argv[1]) < 0)
		return 1;
	run_to_ascii();
	run_lengths();
	run_to_unicode();
	run_fold();
	run_utf8();
	run_punycode_limits();
	return UNIT_END("routes-idna");
}
