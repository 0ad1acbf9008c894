/*
 * dmarc_case.c: runs one DMARC case and prints what the evaluator said.
 *
 * Input (stdin): one JSON object, a case of testdata/dmarc/cases.yaml
 * converted to JSON, plus "mode" ("rfc9989" or "rfc7489"), "psl_file"
 * (optional) and "deferred" (answer DNS later rather than at once).
 * Output (stdout): {"result", "policy", "disposition", "p", "sp", "np",
 * "pct", "policy_domain", "header_from_domain", "org_domain",
 * "dkim_strict", "spf_strict", "dkim_aligned_domain",
 * "spf_aligned_domain", "dmarc_queries", "rr", "reason", "n_authors"}.
 * The pytest driver (test_dmarc_cases.py) compares it with "expect".
 */
#include <jansson.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "zone_json.h"

struct got {
	bool done;
	json_t *out;
};

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *policy_json(enum dmarc_policy p)
{
	const char *n = dmarc_policy_name(p);
	return n ? json_string(n) : json_null();
}

static void on_done(void *arg, const struct dmarc_outcome *o)
{
	struct got *g = arg;
	json_t *j = json_object();
	json_object_set_new(j, "result", json_string(dmarc_result_name(o->result)));
	json_object_set_new(j, "policy", policy_json(o->policy));
	json_object_set_new(j, "disposition", policy_json(o->disposition));
	json_object_set_new(j, "p", o->rr[0] ? policy_json(o->record.p) : json_null());
	json_object_set_new(j, "sp", o->rr[0] ? policy_json(o->record.sp) : json_null());
	json_object_set_new(j, "np", o->rr[0] ? policy_json(o->record.np) : json_null());
	json_object_set_new(j, "pct", o->rr[0] ? json_integer(o->record.pct) : json_null());
	json_object_set_new(j, "policy_domain", str_or_null(o->policy_domain));
	json_object_set_new(j, "header_from_domain", str_or_null(o->domain));
	json_object_set_new(j, "org_domain", str_or_null(o->org_domain));
	json_object_set_new(j, "dkim_strict", json_boolean(o->dkim_strict));
	json_object_set_new(j, "spf_strict", json_boolean(o->spf_strict));
	json_object_set_new(j, "dkim_aligned_domain", str_or_null(o->dkim_aligned));
	json_object_set_new(j, "spf_aligned_domain", str_or_null(o->spf_aligned));
	json_object_set_new(j, "rr", str_or_null(o->rr));
	json_object_set_new(j, "reason", str_or_null(o->reason));
	json_object_set_new(j, "n_authors", json_integer((json_int_t)o->n_authors));
	g->out = j;
	g->done = true;
}

/* "From: a, b\r\n\r\n" from header_from (a string or a list). */
static size_t from_header(json_t *hf, char *buf, size_t cap)
{
	size_t o = (size_t)snprintf(buf, cap, "From: ");
	if (json_is_string(hf)) {
		o += (size_t)snprintf(buf + o, cap - o, "%s", json_string_value(hf));
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(hf, i, v) o +=
		    (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", json_string_value(v));
	}
	o += (size_t)snprintf(buf + o, cap - o, "\r\n\r\n");
	return o < cap ? o : cap - 1;
}

static unsigned sample_fixed(void *arg)
{
	return *(unsigned *)arg;
}

int main(void)
{
	struct zone *z;
	json_t *c = zone_json_read_case("dmarc-case", &z);
	if (!c)
		return 2;
	struct dns_resolver resolver = zone_resolver(z);

	char hdr[4096], authors[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
	size_t hl = from_header(json_object_get(c, "header_from"), hdr, sizeof(hdr));
	struct dmarc_from_info fi;
	int n = dmarc_from_domains(hdr, hl, authors, DMARC_MAX_AUTHORS, &fi);
	const char *ap[DMARC_MAX_AUTHORS], *dk[DMARC_MAX_DKIM];
	for (size_t i = 0; i < DMARC_MAX_AUTHORS; i++)
		ap[i] = authors[i];
	size_t nd = 0, i;
	json_t *v;
	json_array_foreach(json_object_get(c, "dkim_pass"), i, v) if (nd < DMARC_MAX_DKIM)
	    dk[nd++] = json_string_value(v);
	json_t *spf = json_array_get(json_object_get(c, "spf_pass"), 0);

	struct dmarc_input in = {
	    .authors = ap,
	    .n_authors = n > 0 ? (size_t)n : 0,
	    .spf_domain = spf ? json_string_value(spf) : NULL,
	    .spf_pass = spf != NULL,
	    .dkim_domains = dk,
	    .n_dkim = nd,
	    .from_error = n == DMARC_FROM_ERROR ? fi.error : NULL,
	};
	const char *mode = json_string_value(json_object_get(c, "mode"));
	const char *psl_file = json_string_value(json_object_get(c, "psl_file"));
	unsigned sample = (unsigned)json_integer_value(json_object_get(c, "sample"));
	psl_ctx_t *psl = psl_file ? psl_load_file(psl_file) : NULL;
	struct dmarc_options opt = {
	    .discovery = mode && strcmp(mode, "rfc7489") == 0 ? DMARC_PSL : DMARC_TREE_WALK,
	    .psl = psl,
	    .sample = sample_fixed,
	    .sample_arg = &sample,
	};
	struct got g = {0};
	struct dmarc_eval *ev = dmarc_start(&resolver, &opt, &in, on_done, &g);
	zone_run_max(z, 1000);
	if (!g.done) {
		fprintf(stderr, "dmarc-case: evaluation did not finish\n");
		dmarc_cancel(ev);
		return 1;
	}
	if (ev && !json_is_true(json_object_get(c, "deferred"))) {
		fprintf(stderr, "dmarc-case: synchronous evaluation returned a handle\n");
		return 1;
	}
	json_t *q = json_array();
	for (i = 0; zone_log(z, i); i++)
		if (strncmp(zone_log(z, i), "_dmarc.", 7) == 0) {
			const char *slash = strrchr(zone_log(z, i), '/');
			json_array_append_new(
			    q, json_stringn(zone_log(z, i), (size_t)(slash - zone_log(z, i))));
		}
	json_object_set_new(g.out, "dmarc_queries", q);
	json_t *all = json_array();
	for (i = 0; zone_log(z, i); i++)
		json_array_append_new(all, json_string(zone_log(z, i)));
	json_object_set_new(g.out, "queries", all);
	json_dumpf(g.out, stdout, JSON_SORT_KEYS);
	putchar('\n');
	json_decref(g.out);
	zone_free(z);
	psl_free(psl);
	json_decref(c);
	return 0;
}
