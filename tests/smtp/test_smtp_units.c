/*
 * test_smtp_units.c: got/want tables for small pure pieces of the SMTP
 * front end: the per-IP admission key (IPv6 counted per prefix), the
 * hash an unknown AUTH user is checked against (the costliest configured),
 * the TLS key that group or others can read (refused on the descriptor),
 * and trace fields larger than the message store's head room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../unit.h"
#include "smtp_admit.h"
#include "smtp_msg.h"
#include "smtp_sasl.h"
#include "smtp_tls.h"

static void admit_keys(void)
{
	static const struct {
		const char *ip;
		uint32_t prefix;
		const char *want;
	} t[] = {
	    {"192.0.2.7", 64, "192.0.2.7"},
	    {"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
	    {"2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"},
	    {"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
	    {"2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56"},
	    {"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56"},
	    {"2001:db8::7", 128, "2001:db8::7"},
	    {"::1", 64, "::/64"},
	    {"unknown", 64, "unknown"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char got[72];
		smtp_admit_key(t[i].ip, t[i].prefix, got, sizeof got);
		CHECK_STR(got, t[i].want);
	}
	/* Two addresses of one /64 share a slot; the third connection of the prefix is refused. */
	char a[72], b[72];
	smtp_admit_key("2001:db8::1", 64, a, sizeof a);
	smtp_admit_key("2001:db8::2", 64, b, sizeof b);
	CHECK(smtp_admit_ip(a, 2));
	CHECK(smtp_admit_ip(b, 2));
	CHECK(!smtp_admit_ip(a, 2));
	smtp_release_ip(a);
	CHECK(smtp_admit_ip(b, 2));
	smtp_release_ip(a);
	smtp_release_ip(b);
}

static void dummy_hashes(void)
{
	static const char sha512[] = "$6$saltsalt$abc", sha_r[] = "$6$rounds=90000$salt$abc",
	                  bc10[] = "$2b$10$abcdefghijklmnopqrstuu", bc12[] = "$2b$12$abcdefghijk",
	                  yes[] = "$y$j9T$salt$hash";
	static const struct {
		const char *h[3];
		const char *want;
	} t[] = {
	    {{sha512, bc12, NULL}, bc12}, {{bc12, sha512, NULL}, bc12},
	    {{bc10, bc12, sha512}, bc12}, {{sha512, sha_r, NULL}, sha_r},
	    {{bc12, yes, sha512}, yes},   {{sha512, NULL, NULL}, sha512},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct gw_user u[3];
		struct gw_config cfg;
		memset(&cfg, 0, sizeof cfg);
		cfg.users = u;
		for (size_t k = 0; k < 3 && t[i].h[k]; k++) {
			u[k].name = (char *)"u";
			u[k].password_hash = (char *)t[i].h[k];
			cfg.n_users++;
		}
		CHECK_STR(smtp_sasl_dummy_hash(&cfg), t[i].want);
	}
	struct gw_config none;
	memset(&none, 0, sizeof none);
	CHECK(smtp_sasl_dummy_hash(&none) == NULL);
}

/* A throw-away key and self-signed certificate, written to key and cert: 0 or -1. */
static int write_pair(const char *cert, const char *key)
{
	int rc = -1;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *fc = fopen(cert, "w"), *fk = fopen(key, "w");
	if (!k || !x || !fc || !fk)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"mx.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	if (X509_sign(x, k, EVP_sha256()) > 0 && PEM_write_X509(fc, x) == 1 &&
	    PEM_write_PrivateKey(fk, k, NULL, NULL, 0, NULL, NULL) == 1)
		rc = 0;
out:
	if (fc)
		fclose(fc);
	if (fk)
		fclose(fk);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static void tls_key_modes(void)
{
	char dir[] = "/tmp/smtp-units-XXXXXX", cert[64], key[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(cert, sizeof cert, "%s/c.pem", dir);
	snprintf(key, sizeof key, "%s/k.pem", dir);
	CHECK(write_pair(cert, key) == 0);
	struct gw_tls_cert tc = {cert, key};
	struct gw_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.certs = &tc;
	cfg.n_certs = 1;
	static const struct {
		mode_t mode;
		bool ok;
	} t[] = {{0600, true}, {0400, true}, {0640, false}, {0604, false}, {0000, false}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		chmod(key, t[i].mode);
		struct smtp_tls *tls = geteuid() == 0 && t[i].mode == 0 ? NULL : smtp_tls_new(&cfg);
		CHECK_INT(tls != NULL, t[i].ok);
		smtp_tls_free(tls);
	}
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

/* Fields larger than the head room still go in front, in memory and in the spill file. */
static void big_prepend(void)
{
	static const uint64_t thresholds[] = {1 << 20, 4096};
	const char body[] = "Subject: x\r\n\r\nbody\r\n";
	size_t big = SMTP_MSG_HEAD_ROOM + 5000;
	char *field = malloc(big), *want = malloc(big + 20 + 10000 + sizeof body);
	CHECK(field && want);
	if (!field || !want)
		goto out;
	memset(field, 'A', big);
	for (size_t t = 0; t < 2; t++) {
		struct smtp_msg m;
		struct message_bytes v;
		smtp_msg_init(&m, thresholds[t]);
		bool ok = true;
		for (int i = 0; i < 500; i++) /* 10,000 octets: past the 4 KiB threshold */
			ok = ok && smtp_msg_append(&m, "0123456789abcdef\r\n", 18) == 0 &&
			     smtp_msg_append(&m, "..", 2) == 0;
		CHECK(ok);
		CHECK(smtp_msg_append(&m, body, sizeof body - 1) == 0);
		CHECK(smtp_msg_prepend(&m, "Received: r\r\n", 13) == 0);
		CHECK(smtp_msg_prepend(&m, field, big) == 0);
		CHECK_INT(smtp_msg_size(&m), 10000 + sizeof body - 1);
		CHECK_INT(m.fd >= 0, t == 1);
		size_t o = 0;
		memcpy(want + o, field, big), o += big;
		memcpy(want + o, "Received: r\r\n", 13), o += 13;
		for (int i = 0; i < 500; i++)
			memcpy(want + o, "0123456789abcdef\r\n..", 20), o += 20;
		memcpy(want + o, body, sizeof body - 1), o += sizeof body - 1;
		CHECK(smtp_msg_view(&m, &v) == 0 && v.len == o && memcmp(v.data, want, o) == 0);
		CHECK(smtp_msg_body(&m, &v) == 0 && v.len == o - big - 13 &&
		      memcmp(v.data, want + big + 13, v.len) == 0);
		smtp_msg_free(&m);
	}
out:
	free(field);
	free(want);
}

int main(void)
{
	big_prepend();
	admit_keys();
	dummy_hashes();
	tls_key_modes();
	return UNIT_END("smtp_units");
}
