/*
 * auth_case.c: runs one sender-authentication case through auth.c over
 * the in-memory zone (tests/common/zone_resolver.h) and prints what came out; the pytest driver
 * test_auth_cases.py holds the cases (auth_cases.yaml) and the checks.
 *
 * Input (stdin), JSON: {"dns": zone, "dns_error": "TIMEOUT"?, "deferred":
 * bool, "ip", "helo", "mail_from", "message" (LF or CRLF), "hostname",
 * "policy": {"spf","dkim","dmarc","arc": "off|annotate|enforce",
 * "trust_arc": bool, "discovery": "tree-walk|psl"}, "psl_file": path
 * ([auth] dmarc_psl_file, relative to tests/dmarc/), "cancel": bool (free
 * the transaction before the DNS answers), "message_before_spf": bool (end
 * of data comes before SPF answered)}.
 * Output: {"auth", "ar_field", "verdict": {...}, "spf_early": {...} or
 * null, "queries": [...], "stripped": the message without our AR fields}.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "smtp_catalog.h"
#include "sockaddr_text.h"
#include "zone_json.h"

struct got {
	json_t *out, *early;
	int done_calls;
};

static const char *const actions[] = {"accept", "quarantine", "reject", "tempfail"};

/* The verdict with the reply the SMTP catalogue gives it: the bytes the client would read. */
static json_t *verdict_json(const struct auth_verdict *v)
{
	const struct smtp_reply_row *r = smtp_catalog_row(smtp_catalog_auth(v->id));
	return json_pack("{s:s, s:i, s:s, s:o}", "action", actions[v->action], "code", r->code,
	                 "status", r->status, "check",
	                 v->check ? json_string(v->check) : json_null());
}

static void on_spf(void *arg, const struct auth_spf_info *i)
{
	struct got *g = arg;
	json_decref(g->early);
	g->early = json_pack("{s:s, s:o}", "result", spf_result_name(i->result), "verdict",
	                     verdict_json(&i->verdict));
}

static void on_done(void *arg, const struct auth_outcome *o)
{
	struct got *g = arg;
	g->done_calls++;
	json_decref(g->out);
	g->out = json_pack("{s:O, s:s, s:s, s:o}", "auth", o->auth, "ar_field", o->ar_field,
	                   "ar_value", o->ar_value, "verdict", verdict_json(&o->verdict));
}

static enum gw_policy policy_of(json_t *p, const char *key, enum gw_policy def)
{
	const char *v = json_string_value(json_object_get(p, key));
	if (!v)
		return def;
	return !strcmp(v, "off")       ? POLICY_OFF
	       : !strcmp(v, "enforce") ? POLICY_ENFORCE
	                               : POLICY_ANNOTATE;
}

/* LF -> CRLF, as the SMTP session hands messages over. */
static char *crlf(const char *s, size_t *len)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = s[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
}

int main(void)
{
	struct zone *z;
	json_t *c = zone_json_read_case("auth-case", &z);
	if (!c)
		return 2;
	struct dns_resolver resolver = zone_resolver(z);

	json_t *p = json_object_get(c, "policy");
	const char *disc = json_string_value(json_object_get(p, "discovery"));
	struct gw_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.server.hostname = (char *)json_string_value(json_object_get(c, "hostname"));
	cfg.auth.spf = policy_of(p, "spf", POLICY_ANNOTATE);
	cfg.auth.dkim = policy_of(p, "dkim", POLICY_ANNOTATE);
	cfg.auth.dmarc = policy_of(p, "dmarc", POLICY_ANNOTATE);
	cfg.auth.arc = policy_of(p, "arc", POLICY_ANNOTATE);
	cfg.auth.trust_arc = json_is_true(json_object_get(p, "trust_arc"));
	cfg.auth.dmarc_discovery = disc && !strcmp(disc, "psl") ? DMARC_PSL : DMARC_TREE_WALK;

	cfg.auth.dmarc_psl_file = (char *)json_string_value(json_object_get(c, "psl_file"));
	struct auth_ctx ctx;
	if (auth_ctx_init(&ctx, &resolver, &cfg) < 0) {
		printf("{\"init_error\": true}\n");
		zone_free(z);
		json_decref(c);
		return 0;
	}
	struct sockaddr_storage ss;
	/* an address that does not parse stays AF_UNSPEC: auth.c must cope with it */
	(void)sockaddr_text_parse(json_string_value(json_object_get(c, "ip")), &ss);

	struct got g = {0};
	size_t len;
	char *msg = crlf(json_string_value(json_object_get(c, "message")), &len);
	struct auth_tx *tx = auth_tx_start(
	    &ctx, (struct sockaddr *)&ss, json_string_value(json_object_get(c, "helo")),
	    json_string_value(json_object_get(c, "mail_from")), on_spf, &g);
	if (json_is_true(json_object_get(c, "cancel"))) {
		auth_tx_message(tx, msg, len, &ctx.policy, on_done, &g);
		auth_tx_free(tx);
		tx = NULL;
		zone_run_max(z, 1000);
	} else if (json_is_true(json_object_get(c, "message_before_spf"))) {
		/* End of data before SPF answered: DMARC must wait for it. */
		auth_tx_message(tx, msg, len, &ctx.policy, on_done, &g);
		zone_run_max(z, 1000);
	} else {
		zone_run_max(z, 1000); /* SPF runs while the RCPTs would arrive */
		auth_tx_message(tx, msg, len, &ctx.policy, on_done, &g);
		zone_run_max(z, 1000);
	}
	json_t *res = json_object();
	json_object_set_new(res, "result", g.out ? g.out : json_null());
	json_object_set_new(res, "spf_early", g.early ? g.early : json_null());
	json_object_set_new(res, "done_calls", json_integer(g.done_calls));
	json_t *q = json_array();
	for (size_t i = 0; zone_log(z, i); i++)
		json_array_append_new(q, json_string(zone_log(z, i)));
	json_object_set_new(res, "queries", q);
	size_t slen;
	char *stripped = auth_strip_ar(msg, len, ctx.hostname, &slen);
	json_object_set_new(res, "stripped", json_stringn(stripped, slen));
	size_t ranges[8];
	json_object_set_new(
	    res, "n_ar_ours",
	    json_integer((json_int_t)auth_ar_ranges(msg, len, ctx.hostname, ranges, 4)));
	free(stripped);
	json_dumpf(res, stdout, JSON_SORT_KEYS);
	putchar('\n');
	json_decref(res);
	auth_tx_free(tx);
	auth_ctx_fini(&ctx);
	free(msg);
	zone_free(z);
	json_decref(c);
	return 0;
}
