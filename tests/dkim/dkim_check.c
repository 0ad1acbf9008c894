/*
 * dkim_check.c: the DKIM/ARC test driver. Verifies one message file and
 * prints the results as JSON on stdout, for the pytest suites (vectors,
 * ARC suite, live dkimpy signing).
 *
 *   dkim_check [--arc] [--lf] [--now T] [--min-rsa-bits N]
 *              (--zone FILE | --dns HOST:PORT) MESSAGE
 *   dkim_check --bh simple|relaxed:sha1|sha256[:LENGTH] [--lf] BODY
 *
 * The second form prints the body hash of a file taken as a whole body
 * ({"bh": base64, "total": canonical length}), for the body-hash vectors.
 *
 * --lf turns every bare LF into CRLF first (the test data is stored with
 * LF). --zone serves keys from a zone file (zone_resolver.h), --dns asks a
 * real DNS server through the gateway's c-ares resolver on a libevent
 * loop, bounded by a 10 s deadline. Never talks to anything but the
 * given server.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "arc.h"
#include "config.h"
#include "dkim.h"
#include "dkim_int.h"
#include "opts.h"
#include "test_file.h"
#include "zone_resolver.h"

#define MAX_MESSAGE (64u << 20)

struct run {
	bool done;
	json_t *out;
};

static char *lf_to_crlf(const char *in, size_t len, size_t *outlen)
{
	char *out = malloc(len * 2 + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	*outlen = o;
	return out;
}

static void on_dkim(void *arg, const struct dkim_result *res)
{
	struct run *r = arg;
	json_t *sigs = json_array();

	for (size_t i = 0; i < res->n; i++) {
		const struct dkim_sig_result *s = &res->sigs[i];
		json_array_append_new(
		    sigs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:b, "
		                    "s:b, s:I, s:I}",
		                    "result", dkim_status_name(s->status), "reason", s->reason, "d",
		                    s->domain, "s", s->selector, "a", s->algorithm, "c", s->canon,
		                    "i", s->identity, "b", s->header_b, "key_bits",
		                    (int)s->key_bits, "weak", s->weak, "testing", s->testing, "l",
		                    s->body_length, "body_signed", (json_int_t)s->body_signed,
		                    "body_unsigned", (json_int_t)s->body_unsigned));
	}
	r->out = json_pack("{s:i, s:o, s:I}", "error", res->error, "signatures", sigs, "ignored",
	                   (json_int_t)res->n_ignored);
	r->done = true;
}

static void on_arc(void *arg, const struct arc_result *res)
{
	struct run *r = arg;
	json_t *sets = json_array();

	for (int i = 0; res->sets && i < res->n; i++) {
		const struct arc_set_result *s = &res->sets[i];
		json_array_append_new(
		    sets, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "i", s->instance,
		                    "ams_d", s->ams_domain, "as_d", s->as_domain, "authserv_id",
		                    s->authserv_id, "ams", dkim_status_name(s->ams), "as",
		                    dkim_status_name(s->as), "ams_s", s->ams_selector));
	}
	r->out =
	    json_pack("{s:i, s:s, s:s, s:i, s:i, s:b, s:o}", "error", res->error, "cv",
	              arc_status_name(res->cv), "reason", res->reason, "n", res->n, "oldest_pass",
	              res->oldest_pass, "temporary", res->temporary, "sets", sets);
	r->done = true;
}

struct args {
	bool arc, lf;
	uint64_t now;
	uint32_t min_bits;
	const char *zone, *dns, *file, *bh;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	const struct opt t[] = {
	    OPT_ITEM("arc", OPT_FLAG, &a->arc),  OPT_ITEM("lf", OPT_FLAG, &a->lf),
	    OPT_ITEM("now", OPT_U64, &a->now),   OPT_ITEM("min-rsa-bits", OPT_U32, &a->min_bits),
	    OPT_ITEM("zone", OPT_STR, &a->zone), OPT_ITEM("dns", OPT_STR, &a->dns),
	    OPT_ITEM("bh", OPT_STR, &a->bh),
	};

	memset(a, 0, sizeof(*a));
	a->min_bits = 1024;
	if (opts_parse("dkim_check", t, sizeof(t) / sizeof(t[0]), argc, argv, &a->file, 1) != 1)
		return -1;
	return a->zone || a->dns || a->bh ? 0 : -1;
}

/* Like the daemon: one parsed-key cache per thread, shared by every verification. */
static struct dkim_key_cache *key_cache;

static void start(const struct args *a, const struct dns_resolver *res, const char *msg, size_t len,
                  struct run *run)
{
	if (!key_cache)
		key_cache = dkim_key_cache_new(16);
	if (a->arc) {
		struct arc_options o;
		arc_options_default(&o);
		o.now = (time_t)a->now;
		o.min_rsa_bits = a->min_bits;
		o.cache = key_cache;
		arc_verify_start(res, msg, len, &o, on_arc, run);
	} else {
		struct dkim_options o;
		dkim_options_default(&o);
		o.now = (time_t)a->now;
		o.min_rsa_bits = a->min_bits;
		o.cache = key_cache;
		dkim_verify_start(res, msg, len, &o, on_dkim, run);
	}
}

/* "relaxed:sha256:20" -> the body hash of the whole buffer, as JSON. */
static int body_hash(const char *spec, const char *body, size_t len)
{
	char canon[16] = "", alg[16] = "";
	unsigned long long limit = UINT64_MAX;
	struct dkim_bh_slot tmp;
	unsigned char b64[EVP_MAX_MD_SIZE * 2];

	if (sscanf(spec, "%15[a-z]:%15[a-z0-9]:%llu", canon, alg, &limit) < 2)
		return -1;
	const EVP_MD *md = strcmp(alg, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
	enum dkim_canon c = strcmp(canon, "relaxed") == 0 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	const struct dkim_bh_slot *r = dkim_body_hash(NULL, body, len, c, limit, md, &tmp);
	if (!r)
		return -1;
	EVP_EncodeBlock(b64, r->digest, (int)r->dlen);
	printf("{\"bh\": \"%s\", \"total\": %llu}\n", (const char *)b64,
	       (unsigned long long)r->total);
	return 0;
}

static void deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int run_dns(const struct args *a, const char *msg, size_t len, struct run *run)
{
	struct event_base *base = event_base_new();
	char *servers[1] = {(char *)a->dns};
	struct gw_dns cfg = {.servers = servers,
	                     .n_servers = 1,
	                     .timeout_ms = 2000,
	                     .tries = 2,
	                     .cache_size = 1024,
	                     .cache_max_ttl_ms = 60000,
	                     .negative_ttl_ms = 60000};
	struct timeval tv = {10, 0};
	struct dns_resolver *r = base ? dns_c_ares_new(base, &cfg) : NULL;
	struct event *t = r ? evtimer_new(base, deadline, base) : NULL;

	if (t) {
		evtimer_add(t, &tv);
		start(a, r, msg, len, run);
		while (!run->done && event_base_loop(base, EVLOOP_ONCE) == 0)
			if (!evtimer_pending(t, NULL))
				break;
		event_free(t);
	}
	if (r)
		dns_c_ares_free(r);
	if (base)
		event_base_free(base);
	return run->done ? 0 : -1;
}

static int run_zone(const struct args *a, const char *msg, size_t len, struct run *run)
{
	struct zone *z = zone_new();
	int rc = -1;

	if (z && zone_load_file(z, a->zone) == 0) {
		struct dns_resolver r = zone_resolver(z);
		zone_set_deferred(z, true);
		start(a, &r, msg, len, run);
		zone_run(z);
		rc = run->done ? 0 : -1;
		/* Key lookups made: what a bound saved shows here. */
		if (run->out)
			json_object_set_new(run->out, "queries",
			                    json_integer((json_int_t)zone_queries(z)));
	}
	zone_free(z);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a;
	struct run run = {0};
	size_t len, clen;
	char *msg, *conv = NULL;
	int rc;

	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: dkim_check [--arc] [--lf] [--now T] [--min-rsa-bits N] "
		                "(--zone FILE | --dns HOST:PORT) MESSAGE\n");
		return 2;
	}
	msg = test_read_file(a.file, MAX_MESSAGE, &len);
	if (!msg) {
		perror(a.file);
		return 2;
	}
	if (a.lf && (conv = lf_to_crlf(msg, len, &clen))) {
		free(msg);
		msg = conv;
		len = clen;
	}
	if (a.bh) {
		rc = body_hash(a.bh, msg, len);
		free(msg);
		return rc < 0 ? 2 : 0;
	}
	rc = a.dns ? run_dns(&a, msg, len, &run) : run_zone(&a, msg, len, &run);
	dkim_key_cache_free(key_cache);
	free(msg);
	if (rc < 0 || !run.out) {
		fprintf(stderr, "dkim_check: no result\n");
		return 1;
	}
	json_dumpf(run.out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(run.out);
	return 0;
}
