/*
 * spf_unit.c: got/want tables for the pure parts of gateway/spf: macro
 * expansion (RFC 7208 section 7.4's examples), target-name truncation
 * (section 7.3), the record parser (sections 4.6, 5, 6, 7.1, 12) and
 * reverse names (section 5.5).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../unit.h"
#include "spf_int.h"

static struct spf_macro_env env4(void)
{
	struct spf_macro_env e = {
	    .sender = "strong-bad@email.example.com",
	    .local = "strong-bad",
	    .sender_domain = "email.example.com",
	    .domain = "email.example.com",
	    .helo = "mx.example.org",
	    .hostname = "gw.example.net",
	    .p = "mx.example.org",
	    .ip = {.family = AF_INET, .b = {192, 0, 2, 3}},
	    .now = 1700000000,
	};
	return e;
}

static void test_macros(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"%{s}", "strong-bad@email.example.com"},
	    {"%{o}", "email.example.com"},
	    {"%{d}", "email.example.com"},
	    {"%{d4}", "email.example.com"},
	    {"%{d3}", "email.example.com"},
	    {"%{d2}", "example.com"},
	    {"%{d1}", "com"},
	    {"%{dr}", "com.example.email"},
	    {"%{d2r}", "example.email"},
	    {"%{l}", "strong-bad"},
	    {"%{l-}", "strong.bad"},
	    {"%{lr}", "strong-bad"},
	    {"%{lr-}", "bad.strong"},
	    {"%{l1r-}", "strong"},
	    {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
	    {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
	    {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
	    {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
	    {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
	    {"%%%_%-", "% %20"},
	    {"%{S}", "strong-bad%40email.example.com"},
	    {"%{p}.%{h}", "mx.example.org.mx.example.org"},
	    {"%{d999}", "email.example.com"},
	    {"%{l+-}", "strong.bad"},
	};
	struct spf_macro_env e = env4();
	char out[SPF_EXPAND_MAX + 1];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = spf_macro_expand(t[i].in, strlen(t[i].in), SPF_MACRO_DOMAIN, &e, out,
		                         sizeof(out));
		CHECK_INT(n, (long long)strlen(t[i].want));
		CHECK_STR(out, t[i].want);
	}
}

static void test_macros_exp_and_ipv6(void)
{
	struct spf_macro_env e = env4();
	char out[SPF_EXPAND_MAX + 1];
	const char *s = "%{c} %{r} %{t} %{v}";
	CHECK(spf_macro_expand(s, strlen(s), SPF_MACRO_EXP, &e, out, sizeof(out)) > 0);
	CHECK_STR(out, "192.0.2.3 gw.example.net 1700000000 in-addr");
	/* c r t belong to explanations only (section 7.2). */
	CHECK(spf_macro_expand(s, strlen(s), SPF_MACRO_DOMAIN, &e, out, sizeof(out)) < 0);

	e.ip.family = AF_INET6;
	CHECK(inet_pton(AF_INET6, "2001:db8::cb01", e.ip.b) == 1);
	s = "%{ir}.%{v}._spf.%{d2}";
	CHECK(spf_macro_expand(s, strlen(s), SPF_MACRO_DOMAIN, &e, out, sizeof(out)) > 0);
	/* Section 7.4 prints the nibbles in lower case; DNS ignores case (we print upper). */
	CHECK(strcasecmp(out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	                      "ip6._spf.example.com") == 0);
	s = "%{c}";
	CHECK(spf_macro_expand(s, strlen(s), SPF_MACRO_EXP, &e, out, sizeof(out)) > 0);
	CHECK_STR(out, "2001:db8::cb01");
}

static void test_macro_errors(void)
{
	static const char *const bad[] = {
	    "%", "%{", "%{d", "%{x}", "%{d0}", "%{d2r+x}", "%a", "foo%", "%{}", "a b", "\x80",
	};
	struct spf_macro_env e = env4();
	char out[64];
	bool p;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(spf_macro_check(bad[i], strlen(bad[i]), SPF_MACRO_DOMAIN, &p) < 0);
		CHECK(spf_macro_expand(bad[i], strlen(bad[i]), SPF_MACRO_DOMAIN, &e, out,
		                       sizeof(out)) < 0);
	}
	CHECK(spf_macro_check("a %{p} b", 8, SPF_MACRO_EXP, &p) == 0 && p);
	/* Too long for the buffer is an error, never a silent cut. */
	CHECK(spf_macro_expand("%{s}%{s}%{s}", 12, SPF_MACRO_DOMAIN, &e, out, sizeof(out)) < 0);
}

static void test_target_names(void)
{
	char name[SPF_EXPAND_MAX + 1];
	char want[300];

	snprintf(name, sizeof(name), "example.com.");
	CHECK(spf_target_name(name) == 0);
	CHECK_STR(name, "example.com");
	/* 20 labels of 13 bytes = 280 bytes: cut from the left to <= 253. */
	size_t n = 0, w = 0;
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "abcdefghijkl.");
	snprintf(name + n, sizeof(name) - n, "com");
	CHECK(spf_target_name(name) == 0);
	CHECK(strlen(name) <= 253);
	for (int i = 0; i < 19; i++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, "abcdefghijkl.");
	snprintf(want + w, sizeof(want) - w, "com");
	CHECK_STR(name, want);
	snprintf(name, sizeof(name), "a..example.com");
	CHECK(spf_target_name(name) < 0);
	snprintf(name, sizeof(name), "%s.com",
	         "a123456789012345678901234567890123456789012345678901234567890123");
	CHECK(spf_target_name(name) < 0);
}

static void test_records(void)
{
	static const struct {
		const char *rec;
		int ok;
		size_t terms;
	} t[] = {
	    {"v=spf1", 1, 0},
	    {"v=spf1 -all", 1, 1},
	    {"V=SPF1 A MX -ALL", 1, 3},
	    {"v=spf1  a   -all ", 1, 2},
	    {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all", 1, 3},
	    {"v=spf1 a:foo.example.com/24//64 mx//0 ptr:example.com exists:%{i}.x.example", 1, 4},
	    {"v=spf1 include:_spf.example.com redirect=x.example.com exp=e.example.com", 1, 3},
	    {"v=spf1 foo=bar moo.cow-far_out=man:dog/cat", 1, 2},
	    {"v=spf1 a:%{d}", 1, 1},
	    {"v=spf10", 0, 0},
	    {"v=spf1 -all.", 0, 0},
	    {"v=spf1 all:x", 0, 0},
	    {"v=spf1 ip4:1.2.3.4/33", 0, 0},
	    {"v=spf1 ip4:1.2.3.04", 0, 0},
	    {"v=spf1 ip4:1.2.3.4/032", 0, 0},
	    {"v=spf1 ip4:1.2.3", 0, 0},
	    {"v=spf1 ip6:::1/129", 0, 0},
	    {"v=spf1 ip6:::1//64", 0, 0},
	    {"v=spf1 a/33", 0, 0},
	    {"v=spf1 a/24/64", 0, 0},
	    {"v=spf1 a:museum", 0, 0},
	    {"v=spf1 a:abc.123", 0, 0},
	    {"v=spf1 a:example.-com", 0, 0},
	    {"v=spf1 a:", 0, 0},
	    {"v=spf1 include", 0, 0},
	    {"v=spf1 include:x.example.com/24", 0, 0},
	    {"v=spf1 ptr/0", 0, 0},
	    {"v=spf1 exists", 0, 0},
	    {"v=spf1 redirect=a.example redirect=b.example", 0, 0},
	    {"v=spf1 exp=a.example exp=b.example", 0, 0},
	    {"v=spf1 exp=", 0, 0},
	    {"v=spf1 redirect:x.example.com", 0, 0},
	    {"v=spf1 1up=foo", 0, 0},
	    {"v=spf1 =all", 0, 0},
	    {"v=spf1 foo=%x", 0, 0},
	    {"v=spf1 exp=%{r}.example.com", 0, 0},
	    {"v=spf1 a:b.example.com\rptr", 0, 0},
	    {"v=spf1 \x80"
	     "a",
	     0, 0},
	    {"v=spf1 bogus", 0, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct spf_record r;
		char err[128];
		int rc = spf_record_parse(t[i].rec, strlen(t[i].rec), &r, err, sizeof(err));
		if ((rc == 0) != t[i].ok)
			fprintf(stderr, "record %zu \"%s\": rc %d (%s)\n", i, t[i].rec, rc,
			        rc ? err : "");
		CHECK_INT(rc == 0, t[i].ok);
		if (rc == 0) {
			CHECK_INT(r.n, t[i].terms);
			spf_record_free(&r);
		}
	}
	/* NUL bytes hide the rest of a record from C strings: refuse them. */
	struct spf_record r;
	char err[64];
	CHECK(spf_record_parse("v=spf1 a\0 -all", 14, &r, err, sizeof(err)) < 0);
}

static void test_record_fields(void)
{
	struct spf_record r;
	char err[64];
	const char *s = "v=spf1 ~a:x.example.com/24//64 ?ip4:192.0.2.0/25 -all exp=e.%{d}";
	CHECK(spf_record_parse(s, strlen(s), &r, err, sizeof(err)) == 0);
	CHECK_INT(r.n, 4);
	CHECK_INT(r.terms[0].mech, SPF_M_A);
	CHECK_INT(r.terms[0].qual, SPF_SOFTFAIL);
	CHECK_INT(r.terms[0].cidr4, 24);
	CHECK_INT(r.terms[0].cidr6, 64);
	CHECK_INT(r.terms[0].spec_len, strlen("x.example.com"));
	CHECK_INT(r.terms[1].qual, SPF_NEUTRAL);
	CHECK_INT(r.terms[1].cidr4, 25);
	CHECK_INT(r.terms[1].net[3], 0);
	CHECK_INT(r.terms[2].qual, SPF_FAIL);
	CHECK_INT(r.exp, 3);
	CHECK_INT(r.redirect, -1);
	CHECK_STR(r.terms[2].text, "-all");
	spf_record_free(&r);
}

static void test_reverse_and_names(void)
{
	struct spf_ip ip = {.family = AF_INET, .b = {192, 0, 2, 3}};
	char out[128];
	spf_reverse_name(&ip, out, sizeof(out));
	CHECK_STR(out, "3.2.0.192.in-addr.arpa");
	ip.family = AF_INET6;
	CHECK(inet_pton(AF_INET6, "2001:db8::cb01", ip.b) == 1);
	spf_reverse_name(&ip, out, sizeof(out));
	CHECK_STR(out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	for (int r = SPF_NONE; r < SPF_RESULT_MAX; r++)
		CHECK(strcmp(spf_result_name((enum spf_result)r), "unknown") != 0);
	CHECK_STR(spf_result_name(SPF_SOFTFAIL), "softfail");
	CHECK_STR(spf_result_name(SPF_RESULT_MAX), "unknown");
}

int main(void)
{
	test_macros();
	test_macros_exp_and_ipv6();
	test_macro_errors();
	test_target_names();
	test_records();
	test_record_fields();
	test_reverse_and_names();
	return UNIT_END("spf");
}
