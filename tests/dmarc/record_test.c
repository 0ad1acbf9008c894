/*
 * record_test.c: the DMARC record grammar (dmarc_record_parse) as a
 * got/want table, plus the From-field author domain extraction.
 */
#include <string.h>

#include "dmarc.h"
#include "unit.h"

/* The tables leave trailing fields out where they are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define U    DMARC_POLICY_UNSET
#define NONE DMARC_POLICY_NONE
#define Q    DMARC_POLICY_QUARANTINE
#define R    DMARC_POLICY_REJECT

struct rec_case {
	const char *txt;
	enum dmarc_parse want;
	enum dmarc_policy p, sp, np;
	bool adkim_s, aspf_s;
	int pct;
	enum dmarc_psd psd;
	bool testing, rua, implied;
};

static const struct rec_case rec_cases[] = {
    {"v=DMARC1; p=reject", DMARC_REC_OK, R, U, U, false, false, 100, DMARC_PSD_U},
    {"v=DMARC1;p=none;", DMARC_REC_OK, NONE, U, U, false, false, 100, DMARC_PSD_U},
    {"v = DMARC1 ; p = Quarantine ; sp=REJECT; np=none", DMARC_REC_OK, Q, R, NONE, false, false,
     100, DMARC_PSD_U},
    {"v=DMARC1; p=reject; adkim=S; aspf=s; pct=50", DMARC_REC_OK, R, U, U, true, true, 50,
     DMARC_PSD_U},
    {"v=DMARC1; p=reject; adkim=x; pct=101", DMARC_REC_OK, R, U, U, false, false, 100, DMARC_PSD_U},
    {"v=DMARC1; p=reject; pct=abc", DMARC_REC_OK, R, U, U, false, false, 100, DMARC_PSD_U},
    {"v=DMARC1; p=reject; psd=y; t=y", DMARC_REC_OK, R, U, U, false, false, 100, DMARC_PSD_Y, true},
    {"v=DMARC1; p=none; psd=n; t=n", DMARC_REC_OK, NONE, U, U, false, false, 100, DMARC_PSD_N},
    {"v=DMARC1; p=none; foo=bar; garbage; =x", DMARC_REC_OK, NONE, U, U, false, false, 100,
     DMARC_PSD_U},
    {"v=DMARC1; p=reject; p=none", DMARC_REC_OK, R, U, U, false, false, 100, DMARC_PSD_U},
    /* no p: rua decides (RFC 7489 6.6.3, RFC 9989 4.7) */
    {"v=DMARC1; rua=mailto:d@example.com", DMARC_REC_OK, NONE, U, U, false, false, 100, DMARC_PSD_U,
     false, true, true},
    {"v=DMARC1; p=bogus; rua=mailto:d@example.com", DMARC_REC_OK, NONE, U, U, false, false, 100,
     DMARC_PSD_U, false, true, true},
    {"v=DMARC1; adkim=s", DMARC_REC_NO_POLICY, U},
    {"v=DMARC1; p=bogus", DMARC_REC_NO_POLICY, U},
    {"v=DMARC1; p=reject; sp=bogus", DMARC_REC_NO_POLICY, R},
    {"v=DMARC1; rua=not a uri", DMARC_REC_NO_POLICY, U},
    {"v=DMARC1; rua=bogus, mailto:a@b.example", DMARC_REC_OK, NONE, U, U, false, false, 100,
     DMARC_PSD_U, false, true, true},
    /* not DMARC at all */
    {"v=dmarc1; p=reject", DMARC_REC_NOT_DMARC},
    {"v=DMARC1x; p=reject", DMARC_REC_NOT_DMARC},
    {"p=reject; v=DMARC1", DMARC_REC_NOT_DMARC},
    {"v=spf1 -all", DMARC_REC_NOT_DMARC},
    {"", DMARC_REC_NOT_DMARC},
    {"v=DMARC1", DMARC_REC_NO_POLICY},
};

static void test_records(void)
{
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const struct rec_case *c = &rec_cases[i];
		struct dmarc_record r;
		enum dmarc_parse got = dmarc_record_parse(c->txt, strlen(c->txt), &r);
		if (got != c->want)
			fprintf(stderr, "record %zu: \"%s\"\n", i, c->txt);
		CHECK_INT(got, c->want);
		if (got == DMARC_REC_NOT_DMARC)
			continue;
		CHECK_INT(r.p, c->p);
		if (got != DMARC_REC_OK)
			continue;
		CHECK_INT(r.sp, c->sp);
		CHECK_INT(r.np, c->np);
		CHECK_INT(r.adkim == DMARC_ALIGN_STRICT, c->adkim_s);
		CHECK_INT(r.aspf == DMARC_ALIGN_STRICT, c->aspf_s);
		CHECK_INT(r.pct, c->pct);
		CHECK_INT(r.psd, c->psd);
		CHECK_INT(r.testing, c->testing);
		CHECK_INT(r.has_rua, c->rua);
		CHECK_INT(r.p_implied, c->implied);
	}
	/* A NUL inside the TXT data ends nothing: the length rules. */
	struct dmarc_record r;
	static const char nul[] = "v=DMARC1; p=none; x=\0; sp=reject";
	CHECK_INT(dmarc_record_parse(nul, sizeof(nul) - 1, &r), DMARC_REC_OK);
	CHECK_INT(r.sp, R);
}

struct from_case {
	const char *hdr;
	int want_n; /* DMARC_FROM_NONE, DMARC_FROM_ERROR, or the domains */
	const char *d0, *d1;
};

static const struct from_case from_cases[] = {
    {"From: user@Example.COM\r\n\r\n", 1, "example.com"},
    {"From: \"Doe, John\" <john@a.example>\r\nTo: x@y.z\r\n\r\n", 1, "a.example"},
    {"From: \"x@evil.example\" <u@good.example>\r\n\r\n", 1, "good.example"},
    {"From: (comment@evil.example) u@good.example\r\n\r\n", 1, "good.example"},
    {"From: a@one.example,\r\n b@two.example\r\n\r\n", 2, "one.example", "two.example"},
    {"From: a@one.example, b@ONE.example\r\n\r\n", 1, "one.example"},
    {"From: Team: a@one.example, b@two.example;\r\n\r\n", 2, "one.example", "two.example"},
    {"From: a@one.example\r\nFrom: b@two.example\r\n\r\n", 2, "one.example", "two.example"},
    {"Subject: hi\r\n\r\nFrom: a@body.example\r\n", -1},
    {"From: bank.example\r\n\r\n", 1, "bank.example"},
    {"From: undisclosed\r\n\r\n", DMARC_FROM_ERROR},
    {"From: u@[192.0.2.1]\r\n\r\n", DMARC_FROM_ERROR},
    {"From: undisclosed-recipients:;\r\n\r\n", 0},
    {"From: u@b\xc3\xbc"
     "cher.example\r\n\r\n",
     1, "xn--bcher-kva.example"},
    {"from : u@x.example\n\n", 1, "x.example"},
    {"From: u@bad..example\r\n\r\n", DMARC_FROM_ERROR},
    {"From: a@one.example b@two.example\r\n\r\n", DMARC_FROM_ERROR},
    {"From: x@evil.example <u@good.example>\r\n\r\n", DMARC_FROM_ERROR},
    {"From: \"unterminated <u@good.example>\r\n\r\n", DMARC_FROM_ERROR},
    {"From: <@route.example:u@good.example>\r\n\r\n", DMARC_FROM_ERROR},
};

static void test_from(void)
{
	for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		const struct from_case *c = &from_cases[i];
		char out[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
		int n = dmarc_from_domains(c->hdr, strlen(c->hdr), out, DMARC_MAX_AUTHORS, NULL);
		if (n != c->want_n)
			fprintf(stderr, "from %zu: %s\n", i, c->hdr);
		CHECK_INT(n, c->want_n);
		if (n >= 1 && c->d0)
			CHECK_STR(out[0], c->d0);
		if (n >= 2 && c->d1)
			CHECK_STR(out[1], c->d1);
	}
	/* More distinct domains than room: counted, not written past max. */
	char out[2][DMARC_DOMAIN_MAX];
	static const char many[] = "From: a@1.example, b@2.example, c@3.example\r\n\r\n";
	CHECK_INT(dmarc_from_domains(many, sizeof(many) - 1, out, 2, NULL), 3);
}

int main(void)
{
	test_records();
	test_from();
	return UNIT_END("dmarc-record");
}
