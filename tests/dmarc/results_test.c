/*
 * results_test.c: auth_results.c as got/want tables: the verdict under
 * every policy for each kind of outcome (with the reply the SMTP catalogue
 * gives it: the codes are asserted here, the texts live only there), and
 * the Authentication-Results text (comment cleaning, value quoting,
 * folding, "none").
 */
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "smtp_catalog.h"
#include "unit.h"

/* auth_results_json() of test_header()'s facts: byte for byte what json_pack built */
#define EXPECTED_AUTH_JSON                                                                         \
	"{\"spf\":{\"result\":\"pass\",\"domain\":\"example.com\",\"helo\":\"mail.examp"           \
	"le.com\",\"explanation\":null,\"identity\":\"mailfrom\",\"reason\":\"matched ("           \
	"ip4) \\\\ \\u0001 x\"},\"dkim\":[{\"result\":\"pass\",\"domain\":\"example.com"           \
	"\",\"selector\":\"s1\",\"algorithm\":null,\"aligned\":true,\"reason\":null,\"b"           \
	"ody_unsigned\":0},{\"result\":\"fail\",\"domain\":\"bad domain;\",\"selector\""           \
	":null,\"algorithm\":null,\"aligned\":false,\"reason\":\"body hash mismatch (l="           \
	")\",\"body_unsigned\":12}],\"dmarc\":{\"result\":\"fail\",\"domain\":\"example"           \
	".com\",\"policy\":\"reject\",\"disposition\":\"reject\",\"policy_domain\":null"           \
	",\"reason\":null,\"arc_override\":true},\"arc\":{\"result\":\"pass\",\"instanc"           \
	"e\":2,\"reason\":null,\"sealer\":\"lists.example.org\",\"trusted_sealer\":\"li"           \
	"sts.example.org\"},\"authentication_results\":\"mx; none\"}"

#define OFF POLICY_OFF
#define ANN POLICY_ANNOTATE
#define ENF POLICY_ENFORCE

struct verdict_case {
	const char *name;
	enum gw_policy spf, dkim, dmarc, arc;
	bool trust_arc;
	enum spf_result spf_result;
	enum dkim_status dkim_status; /* of the one signature; DKIM_STATUS_MAX: unsigned */
	enum arc_status arc_cv;
	bool arc_temp;
	enum dmarc_result dmarc_result;
	enum dmarc_policy disposition;
	int code;
	const char *status;
	enum auth_action action;
};

static const struct verdict_case verdict_cases[] = {
    {"all pass", ENF, ENF, ENF, ENF, false, SPF_PASS, DKIM_PASS, ARC_PASS, false, DMARC_RESULT_PASS,
     DMARC_POLICY_NONE, 250, "2.0.0", AUTH_ACCEPT},
    {"spf fail enforce", ENF, ANN, ANN, ANN, false, SPF_FAIL, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 550, "5.7.23", AUTH_REJECT},
    {"spf fail annotate", ANN, ANN, ANN, ANN, false, SPF_FAIL, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 250, "2.0.0", AUTH_ACCEPT},
    {"spf softfail enforce", ENF, ANN, ANN, ANN, false, SPF_SOFTFAIL, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 250, "2.0.0", AUTH_ACCEPT},
    {"spf permerror enforce", ENF, ANN, ANN, ANN, false, SPF_PERMERROR, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 250, "2.0.0", AUTH_ACCEPT},
    {"spf temperror enforce", ENF, ANN, ANN, ANN, false, SPF_TEMPERROR, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 451, "4.7.24", AUTH_TEMPFAIL},
    {"dkim fail enforce", ANN, ENF, ANN, ANN, false, SPF_PASS, DKIM_FAIL, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 550, "5.7.20", AUTH_REJECT},
    {"dkim temperror enforce", ANN, ENF, ANN, ANN, false, SPF_PASS, DKIM_TEMPERROR, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 451, "4.7.20", AUTH_TEMPFAIL},
    {"unsigned dkim enforce", ANN, ENF, ANN, ANN, false, SPF_PASS, DKIM_STATUS_MAX, ARC_NONE, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 250, "2.0.0", AUTH_ACCEPT},
    {"arc fail enforce", ANN, ANN, ANN, ENF, false, SPF_PASS, DKIM_PASS, ARC_FAIL, false,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 550, "5.7.29", AUTH_REJECT},
    {"arc temp enforce", ANN, ANN, ANN, ENF, false, SPF_PASS, DKIM_PASS, ARC_FAIL, true,
     DMARC_RESULT_PASS, DMARC_POLICY_NONE, 451, "4.7.29", AUTH_TEMPFAIL},
    {"dmarc reject enforce", ANN, ANN, ENF, ANN, false, SPF_FAIL, DKIM_FAIL, ARC_NONE, false,
     DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, 550, "5.7.1", AUTH_REJECT},
    {"dmarc reject annotate", ANN, ANN, ANN, ANN, false, SPF_FAIL, DKIM_FAIL, ARC_NONE, false,
     DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, 250, "2.0.0", AUTH_ACCEPT},
    {"dmarc quarantine enforce", ANN, ANN, ENF, ANN, false, SPF_FAIL, DKIM_FAIL, ARC_NONE, false,
     DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE, 250, "2.0.0", AUTH_QUARANTINE},
    {"dmarc none-policy fail", ANN, ANN, ENF, ANN, false, SPF_FAIL, DKIM_FAIL, ARC_NONE, false,
     DMARC_RESULT_FAIL, DMARC_POLICY_NONE, 250, "2.0.0", AUTH_ACCEPT},
    {"dmarc temperror enforce", ANN, ANN, ENF, ANN, false, SPF_PASS, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_TEMPERROR, DMARC_POLICY_UNSET, 451, "4.7.1", AUTH_TEMPFAIL},
    {"dmarc permerror enforce", ANN, ANN, ENF, ANN, false, SPF_PASS, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PERMERROR, DMARC_POLICY_UNSET, 550, "5.7.1", AUTH_REJECT},
    {"dmarc permerror annotate", ANN, ANN, ANN, ANN, false, SPF_PASS, DKIM_PASS, ARC_NONE, false,
     DMARC_RESULT_PERMERROR, DMARC_POLICY_UNSET, 250, "2.0.0", AUTH_ACCEPT},
    {"dmarc reject, arc trusted", ANN, ANN, ENF, ANN, true, SPF_FAIL, DKIM_FAIL, ARC_PASS, false,
     DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, 250, "2.0.0", AUTH_ACCEPT},
    {"reject beats tempfail", ENF, ANN, ENF, ANN, false, SPF_TEMPERROR, DKIM_FAIL, ARC_NONE, false,
     DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, 550, "5.7.1", AUTH_REJECT},
    {"tempfail beats quarantine", ENF, ANN, ENF, ANN, false, SPF_TEMPERROR, DKIM_FAIL, ARC_NONE,
     false, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE, 451, "4.7.24", AUTH_TEMPFAIL},
    {"all off", OFF, OFF, OFF, OFF, false, SPF_FAIL, DKIM_FAIL, ARC_FAIL, false, DMARC_RESULT_FAIL,
     DMARC_POLICY_REJECT, 250, "2.0.0", AUTH_ACCEPT},
};

static void fill_facts(struct auth_facts *f, const struct verdict_case *c)
{
	static struct dkim_sig_result sig;
	static bool aligned;
	memset(f, 0, sizeof(*f));
	f->spf_shown = c->spf != OFF || c->dmarc != OFF;
	f->spf_done = true;
	f->spf = c->spf_result;
	f->dkim_shown = c->dkim != OFF || c->dmarc != OFF;
	memset(&sig, 0, sizeof(sig));
	sig.status = c->dkim_status;
	f->dkim = &sig;
	f->dkim_aligned = &aligned;
	f->n_dkim = c->dkim_status == DKIM_STATUS_MAX ? 0 : 1;
	f->arc_shown = c->arc != OFF || (c->dmarc != OFF && c->trust_arc);
	f->arc = c->arc_cv;
	f->arc_temporary = c->arc_temp;
	f->dmarc_shown = c->dmarc != OFF;
	f->dmarc.result = c->dmarc_result;
	f->dmarc.disposition = c->disposition;
	f->arc_override =
	    c->trust_arc && c->arc_cv == ARC_PASS && c->dmarc_result == DMARC_RESULT_FAIL;
}

static void test_verdicts(void)
{
	for (size_t i = 0; i < sizeof(verdict_cases) / sizeof(verdict_cases[0]); i++) {
		const struct verdict_case *c = &verdict_cases[i];
		struct auth_policy pol = {.spf = c->spf,
		                          .dkim = c->dkim,
		                          .dmarc = c->dmarc,
		                          .arc = c->arc,
		                          .trust_arc = c->trust_arc,
		                          .dmarc_discovery = DMARC_TREE_WALK};
		struct auth_facts f;
		struct auth_verdict v;
		fill_facts(&f, c);
		auth_results_verdict(&f, &pol, &v);
		const struct smtp_reply_row *r = smtp_catalog_row(smtp_catalog_auth(v.id));
		CHECK(r != NULL);
		if (!r)
			continue;
		if (r->code != c->code)
			fprintf(stderr, "verdict case \"%s\"\n", c->name);
		CHECK_INT(r->code, c->code);
		CHECK_STR(r->status, c->status);
		CHECK_INT(v.action, c->action);
		CHECK(r->text && r->text[0]);
	}
}

/* Every member of the auth object, in the schema's order (docs/payload.md). */
static void check_json_members(struct auth_facts *f, struct dkim_sig_result *sigs)
{
	snprintf(f->spf_domain, sizeof(f->spf_domain), "%s", "example.com");
	snprintf(f->helo, sizeof(f->helo), "%s", "mail.example.com");
	sigs[1].body_unsigned = 12;
	f->arc_shown = f->dmarc_shown = f->arc_override = true;
	f->arc = ARC_PASS;
	f->arc_instance = 2;
	snprintf(f->arc_sealer, sizeof(f->arc_sealer), "%s", "lists.example.org");
	f->dmarc.result = DMARC_RESULT_FAIL;
	f->dmarc.policy = f->dmarc.disposition = DMARC_POLICY_REJECT;
	snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "%s", "example.com");
	json_t *j = auth_results_json(f, "mx; none");
	char *text = json_dumps(j, JSON_COMPACT);
	CHECK_STR(text, EXPECTED_AUTH_JSON);
	free(text);
	json_decref(j);
}

static void test_header(void)
{
	struct auth_facts f;
	struct dkim_sig_result sigs[2];
	bool aligned[2] = {true, false};
	char value[AUTH_AR_MAX], field[AUTH_AR_MAX + 256];

	memset(&f, 0, sizeof(f));
	memset(sigs, 0, sizeof(sigs));
	auth_results_value(&f, "mx.example.net", value, sizeof(value));
	CHECK_STR(value, "mx.example.net; none"); /* RFC 8601 2.2: nothing checked */

	f.spf_shown = f.spf_done = true;
	f.spf = SPF_PASS;
	snprintf(f.spf_sender, sizeof(f.spf_sender), "%s", "\"odd (local)\"@example.com");
	snprintf(f.spf_reason, sizeof(f.spf_reason), "%s", "matched (ip4) \\ \x01 x");
	f.dkim_shown = true;
	f.dkim = sigs;
	f.dkim_aligned = aligned;
	f.n_dkim = 2;
	sigs[0].status = DKIM_PASS;
	sigs[0].key_bits = 2048;
	snprintf(sigs[0].domain, sizeof(sigs[0].domain), "%s", "example.com");
	snprintf(sigs[0].selector, sizeof(sigs[0].selector), "%s", "s1");
	sigs[1].status = DKIM_FAIL;
	snprintf(sigs[1].reason, sizeof(sigs[1].reason), "%s", "body hash mismatch (l=)");
	snprintf(sigs[1].domain, sizeof(sigs[1].domain), "%s", "bad domain;");
	auth_results_value(&f, "mx.example.net", value, sizeof(value));
	CHECK_STR(value, "mx.example.net; spf=pass (matched  ip4      x) "
	                 "smtp.mailfrom=\"\\\"odd (local)\\\"@example.com\"; "
	                 "dkim=pass (2048-bit key) header.d=example.com header.s=s1; "
	                 "dkim=fail (body hash mismatch  l= )");
	auth_results_field(value, field, sizeof(field));
	CHECK_STR(field, "Authentication-Results: mx.example.net;\r\n"
	                 "\tspf=pass (matched  ip4      x) "
	                 "smtp.mailfrom=\"\\\"odd (local)\\\"@example.com\";\r\n"
	                 "\tdkim=pass (2048-bit key) header.d=example.com header.s=s1;\r\n"
	                 "\tdkim=fail (body hash mismatch  l= )\r\n");

	json_t *j = auth_results_json(&f, value);
	CHECK(j != NULL);
	CHECK(json_is_true(
	    json_object_get(json_array_get(json_object_get(j, "dkim"), 0), "aligned")));
	CHECK(json_is_null(json_object_get(j, "dmarc")));
	CHECK_STR(json_string_value(json_object_get(j, "authentication_results")), value);
	json_decref(j);

	check_json_members(&f, sigs);

	/* A full buffer truncates, never overflows. */
	char small[24];
	auth_results_value(&f, "mx.example.net", small, sizeof(small));
	CHECK_INT(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	test_verdicts();
	test_header();
	return UNIT_END("auth-results");
}
