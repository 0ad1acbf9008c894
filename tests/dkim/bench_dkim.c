/*
 * bench_dkim.c: DKIM verification throughput on one core (built, never run
 * as a test). Makes an RSA-2048 and an Ed25519 key, signs a 5 KB message
 * with each (relaxed/relaxed, using the library's own canonicalisation),
 * then verifies it in a loop through dkim_verify_start() over the
 * synchronous zone resolver, with and without the parsed-key cache.
 *
 *   bench_dkim [SECONDS_PER_CASE [rsa|ed25519]]     (default 2, both)
 *
 * Prints one line per case: verifications per CPU second (process CPU
 * time, so the figure holds for one core on a busy machine). Every verification
 * must pass, or the benchmark exits 1.
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"
#include "dkim_int.h"
#include "zone_resolver.h"

#define BODY_SIZE 5000

static char *make_message(const char *alg, size_t *len)
{
	size_t cap = BODY_SIZE + 4096, n = 0;
	char *m = malloc(cap);

	if (!m)
		return NULL;
	n += (size_t)snprintf(
	    m + n, cap - n,
	    "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=example.com; s=sel;\r\n"
	    "\tt=1700000000; h=from:to:subject:date:message-id; bh=QUJD; b=QUJD\r\n"
	    "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\n"
	    "Subject: benchmark\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
	    "Message-ID: <bench@example.com>\r\n\r\n",
	    alg);
	while (n < BODY_SIZE + 300) {
		n += (size_t)snprintf(m + n, cap - n,
		                      "The quick brown fox  jumps over the lazy dog. %05zu\r\n", n);
	}
	*len = n;
	return m;
}

/* Replaces the first "QUJD" after tag (bh= or b=) with the base64 of data. */
static char *set_tag(char *m, size_t *len, const char *tag, const unsigned char *data, size_t dl)
{
	unsigned char b64[1024];
	int bl = EVP_EncodeBlock(b64, data, (int)dl);
	char *at = strstr(m, tag);
	char *out = malloc(*len + (size_t)bl + 1);

	if (!at || !out)
		return NULL;
	at += strlen(tag);
	size_t pre = (size_t)(at - m);
	memcpy(out, m, pre);
	memcpy(out + pre, b64, (size_t)bl);
	memcpy(out + pre + (size_t)bl, at + 4, *len - pre - 4);
	*len = *len - 4 + (size_t)bl;
	free(m);
	return out;
}

static char *sign(EVP_PKEY *key, const char *alg, size_t *len)
{
	char *m = make_message(alg, len);
	struct dkim_msg msg;
	struct dkim_sig *s = calloc(1, sizeof(*s));
	char err[96];
	unsigned char sig[1024];
	size_t sl = sizeof(sig);

	dkim_msg_parse(&msg, m, *len, 100);
	if (dkim_sig_parse(s, &msg.f[0], DKIM_KIND_SIG, err, sizeof(err)) < 0)
		return NULL;
	struct dkim_bh_slot tmp;
	const struct dkim_bh_slot *bh = dkim_body_hash(NULL, msg.body, msg.blen, DKIM_CANON_RELAXED,
	                                               UINT64_MAX, EVP_sha256(), &tmp);
	m = set_tag(m, len, "bh=", bh->digest, bh->dlen);
	dkim_msg_free(&msg);
	dkim_msg_parse(&msg, m, *len, 100);
	dkim_sig_parse(s, &msg.f[0], DKIM_KIND_SIG, err, sizeof(err));
	dkim_sig_header_hash(s, &msg);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
		EVP_PKEY_sign_init(c);
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING);
		EVP_PKEY_CTX_set_signature_md(c, EVP_sha256());
		EVP_PKEY_sign(c, sig, &sl, s->hhash, s->hhlen);
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_DigestSignInit(c, NULL, NULL, NULL, key);
		EVP_DigestSign(c, sig, &sl, s->hhash, s->hhlen);
		EVP_MD_CTX_free(c);
	}
	dkim_msg_free(&msg);
	free(s);
	return set_tag(m, len, "; b=", sig, sl);
}

static char *key_record(EVP_PKEY *key)
{
	unsigned char der[1024], b64[2048];
	size_t dl = sizeof(der);
	char *rec = malloc(2200);

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		unsigned char *p = der;
		dl = (size_t)i2d_PUBKEY(key, &p);
		EVP_EncodeBlock(b64, der, (int)dl);
		snprintf(rec, 2200, "v=DKIM1; k=rsa; p=%s", (char *)b64);
	} else {
		EVP_PKEY_get_raw_public_key(key, der, &dl);
		EVP_EncodeBlock(b64, der, (int)dl);
		snprintf(rec, 2200, "v=DKIM1; k=ed25519; p=%s", (char *)b64);
	}
	return rec;
}

struct tally {
	long pass, other;
};

static void on_result(void *arg, const struct dkim_result *r)
{
	struct tally *t = arg;

	if (r->n == 1 && r->sigs[0].status == DKIM_PASS)
		t->pass++;
	else
		t->other++;
}

/* CPU time of this process: the figure is per core, whatever else the machine runs. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *name, EVP_PKEY *key, const char *alg, bool cached, double secs)
{
	size_t len = 0;
	char *msg = sign(key, alg, &len), *rec = key_record(key);
	struct zone *z = zone_new();
	struct dns_resolver r = zone_resolver(z);
	struct dkim_options o;
	struct tally t = {0};
	long n = 0;

	if (!msg)
		return -1;
	zone_add_txt(z, "sel._domainkey.example.com", rec, strlen(rec));
	dkim_options_default(&o);
	o.now = 1700000100;
	o.cache = cached ? dkim_key_cache_new(64) : NULL;
	double start = now_s(), el;
	do {
		for (int i = 0; i < 200; i++, n++)
			dkim_verify_start(&r, msg, len, &o, on_result, &t);
		el = now_s() - start;
	} while (el < secs);
	printf("%-28s %5zu-byte message: %9.0f verifications/s (%ld in %.2f s CPU)\n", name, len,
	       (double)n / el, n, el);
	dkim_key_cache_free(o.cache);
	zone_free(z);
	free(msg);
	free(rec);
	return t.other == 0 && t.pass == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int rc = 0;

	if (!rsa || !ed)
		return 1;
	const char *only = argc > 2 ? argv[2] : "";
	if (strcmp(only, "ed25519") != 0) {
		rc |= run("rsa-sha256 2048, key cache", rsa, "rsa-sha256", true, secs);
		rc |= run("rsa-sha256 2048, no cache", rsa, "rsa-sha256", false, secs);
	}
	if (strcmp(only, "rsa") != 0) {
		rc |= run("ed25519-sha256, key cache", ed, "ed25519-sha256", true, secs);
		rc |= run("ed25519-sha256, no cache", ed, "ed25519-sha256", false, secs);
	}
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	if (rc)
		fprintf(stderr, "bench_dkim: a verification did not pass\n");
	return rc ? 1 : 0;
}
