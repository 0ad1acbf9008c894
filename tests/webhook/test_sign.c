/*
 * test_sign.c: Standard Webhooks signatures against published vectors
 * (the spec's HMAC example; RFC 8032 7.1 TEST 1 keys for Ed25519, verified
 * with OpenSSL's verifier), key parsing, and the delivery id contract.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form_data.h"
#include "unit.h"
#include "webhook_sign.h"

/* The reference vector of the Standard Webhooks libraries ("sign function works"). */
#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS     1614265330
#define SPEC_BODY   "{\"test\": 2432232314}"
#define SPEC_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* RFC 8032 7.1 TEST 1: secret seed and public key. */
static const unsigned char rfc_seed[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
static const unsigned char rfc_pub[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};

static void test_hmac_vector(void)
{
	struct webhook_key k;
	char *sig;

	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &k), 0);
	sig = webhook_sign(&k, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
	CHECK_STR(sig, SPEC_SIG);
	free(sig);
	webhook_sign_key_free(&k);
}

/*
 * A whsec_ key is keyed once and every signature starts from a copy of that
 * state, and parsed keys are shared by their text: signing must leave a key
 * as it was, however many threads take, sign with and give back the same
 * one at once. Four threads, 500 rounds each, every signature the spec's.
 */
enum { SIGN_THREADS = 4, SIGNS_EACH = 500 };

static void *sign_many(void *arg)
{
	size_t bad = 0;
	(void)arg;
	for (int i = 0; i < SIGNS_EACH; i++) {
		struct webhook_key k;
		if (webhook_sign_key_parse(SPEC_SECRET, &k) < 0) {
			bad++;
			continue;
		}
		char *sig = webhook_sign(&k, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
		bad += !sig || strcmp(sig, SPEC_SIG) != 0;
		free(sig);
		webhook_sign_key_free(&k);
	}
	return (void *)bad;
}

static void test_hmac_shared_key(void)
{
	pthread_t t[SIGN_THREADS];

	for (int i = 0; i < SIGN_THREADS; i++)
		CHECK_INT(pthread_create(&t[i], NULL, sign_many, NULL), 0);
	for (int i = 0; i < SIGN_THREADS; i++) {
		void *bad = NULL;
		CHECK_INT(pthread_join(t[i], &bad), 0);
		CHECK_INT((size_t)bad, 0);
	}
}

/*
 * The cache: one text, one parsed key; 200 distinct whsec_ keys, all held at
 * once, each parsed and signing as its own.
 */
static void test_key_cache(void)
{
	struct webhook_key a, b;
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &a), 0);
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &b), 0);
	CHECK(a.hmac != NULL && a.hmac == b.hmac);
	webhook_sign_key_free(&a);
	webhook_sign_key_free(&b);

	enum { N = 200 };
	static struct webhook_key k[N];
	char *first[N];
	for (int i = 0; i < N; i++) {
		unsigned char raw[32];
		memset(raw, i + 1, sizeof(raw));
		char *b64 = webhook_sign_base64(raw, sizeof(raw)), secret[100];
		snprintf(secret, sizeof(secret), "whsec_%s", b64);
		free(b64);
		CHECK_INT(webhook_sign_key_parse(secret, &k[i]), 0);
		first[i] = webhook_sign(&k[i], 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
		CHECK(first[i] != NULL);
	}
	for (int i = 1; i < N; i++) /* each key its own signature */
		CHECK(strcmp(first[i], first[i - 1]) != 0);
	for (int i = 0; i < N; i++) {
		char *again =
		    webhook_sign(&k[i], 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
		CHECK_STR(again, first[i]);
		free(again);
		webhook_sign_key_free(&k[i]);
		free(first[i]);
	}
	/* a reload: the held key is not handed out again, and both still sign right */
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &a), 0);
	webhook_sign_keys_forget();
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &b), 0);
	CHECK(a.hmac != b.hmac);
	for (int i = 0; i < 2; i++) {
		char *s =
		    webhook_sign(i ? &b : &a, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
		CHECK_STR(s, SPEC_SIG);
		free(s);
	}
	webhook_sign_key_free(&a); /* the last holder of the old one: wiped now */
	webhook_sign_key_free(&b);
	/* all given back: a new key finds room again, and the spec's key still signs right */
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &a), 0);
	char *sig = webhook_sign(&a, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
	CHECK_STR(sig, SPEC_SIG);
	free(sig);
	webhook_sign_key_free(&a);
}

/* The body in segments (a plain form_data, as format raw streams it): the same signatures. */
static struct form_data *spec_body_in_pieces(void)
{
	struct form_data *f = form_data_new_plain();
	const char *b = SPEC_BODY;

	CHECK(f != NULL);
	CHECK_INT(form_data_add(f, "", b, 3), 0);
	CHECK_INT(form_data_add(f, "", b + 3, 0), 1);
	CHECK_INT(form_data_add(f, "", b + 3, strlen(b) - 3), 2);
	CHECK_INT(form_data_finish(f), 0);
	CHECK_INT(form_data_length(f), strlen(b));
	return f;
}

static void test_streamed_body(void)
{
	struct webhook_key k[2];
	struct form_data *f = spec_body_in_pieces();
	char *b64 = webhook_sign_base64(rfc_seed, 32), secret[200], *flat, *streamed;

	snprintf(secret, sizeof(secret), "whsk_%s", b64);
	free(b64);
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &k[0]), 0);
	CHECK_INT(webhook_sign_key_parse(secret, &k[1]), 0);
	streamed = webhook_sign_form(k, 1, SPEC_ID, SPEC_TS, f);
	CHECK_STR(streamed, SPEC_SIG); /* HMAC fed segment by segment */
	free(streamed);
	/* Ed25519 is deterministic (RFC 8032): laid out from the segments, the same signature */
	flat = webhook_sign(k, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
	streamed = webhook_sign_form(k, 2, SPEC_ID, SPEC_TS, f);
	CHECK(flat && streamed && strncmp(streamed, SPEC_SIG " v1a,", strlen(SPEC_SIG) + 5) == 0);
	CHECK_STR(streamed, flat);
	free(flat);
	free(streamed);
	/* in place: the prefix written in the room before the body, the body untouched */
	{
		char buf[WEBHOOK_SIGN_PREFIX_MAX + sizeof(SPEC_BODY)];
		char *body = buf + WEBHOOK_SIGN_PREFIX_MAX, *in_place;
		memcpy(body, SPEC_BODY, sizeof(SPEC_BODY));
		flat = webhook_sign(k, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
		in_place = webhook_sign_in_place(k, 2, SPEC_ID, SPEC_TS, body, strlen(SPEC_BODY),
		                                 WEBHOOK_SIGN_PREFIX_MAX);
		CHECK_STR(in_place, flat);
		CHECK_STR(body, SPEC_BODY);
		free(in_place);
		/* too little room: the copy, the same signature */
		in_place =
		    webhook_sign_in_place(k, 2, SPEC_ID, SPEC_TS, body, strlen(SPEC_BODY), 4);
		CHECK_STR(in_place, flat);
		free(in_place);
		free(flat);
	}
	form_data_free(f);
	webhook_sign_key_free(&k[0]);
	webhook_sign_key_free(&k[1]);
}

static void test_rotation(void)
{
	struct webhook_key k[2];
	char *sig;

	CHECK_INT(webhook_sign_key_parse("whsec_c2Vjb25kLXNlY3JldC1rZXktYnl0ZXM=", &k[0]), 0);
	CHECK_INT(webhook_sign_key_parse(SPEC_SECRET, &k[1]), 0);
	sig = webhook_sign(k, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
	CHECK(sig && strncmp(sig, "v1,", 3) == 0);
	CHECK(sig && strstr(sig, " " SPEC_SIG) != NULL);
	free(sig);
	webhook_sign_key_free(&k[0]);
	webhook_sign_key_free(&k[1]);
}

static int verify_ed25519(const char *header, const char *signed_text)
{
	unsigned char sig[96]; /* EVP_DecodeBlock writes whole groups: 66 bytes for 88 chars */
	EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, rfc_pub, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int n, ok;

	if (strncmp(header, "v1a,", 4) != 0 || strlen(header + 4) > 4 * sizeof(sig) / 3)
		return 0;
	n = EVP_DecodeBlock(sig, (const unsigned char *)header + 4, (int)strlen(header + 4));
	ok = n >= 64 && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	     EVP_DigestVerify(md, sig, 64, (const unsigned char *)signed_text,
	                      strlen(signed_text)) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	return ok;
}

static void test_ed25519(void)
{
	unsigned char both[64];
	char *b64, secret[200], *sig;
	struct webhook_key k;

	b64 = webhook_sign_base64(rfc_seed, 32);
	snprintf(secret, sizeof(secret), "whsk_%s", b64);
	free(b64);
	CHECK_INT(webhook_sign_key_parse(secret, &k), 0);
	CHECK_INT(k.type, WEBHOOK_KEY_ED25519);
	sig = webhook_sign(&k, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
	CHECK(sig && verify_ed25519(sig, SPEC_ID "."
	                                         "1614265330"
	                                         "." SPEC_BODY));
	CHECK(sig && !verify_ed25519(sig, SPEC_ID "."
	                                          "1614265331"
	                                          "." SPEC_BODY));
	free(sig);
	webhook_sign_key_free(&k);

	/* the 64-byte form (seed || public key) */
	memcpy(both, rfc_seed, 32);
	memcpy(both + 32, rfc_pub, 32);
	b64 = webhook_sign_base64(both, 64);
	snprintf(secret, sizeof(secret), "whsk_%s", b64);
	free(b64);
	CHECK_INT(webhook_sign_key_parse(secret, &k), 0);
	webhook_sign_key_free(&k);
	/* ... whose halves must match */
	both[40] ^= 1;
	b64 = webhook_sign_base64(both, 64);
	snprintf(secret, sizeof(secret), "whsk_%s", b64);
	free(b64);
	CHECK_INT(webhook_sign_key_parse(secret, &k), -1);
}

static void test_bad_keys(void)
{
	static const char *const bad[] = {
	    "",          "whsec_",        "whsec_!!!!",  "whsec_QUJD=A", "MfKQ9r8GKYqrTwjUPD8I",
	    "whsk_QUJD", "whpk_QUJDRA==", "whsec_QQ===", "whsec_Q",
	};
	struct webhook_key k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = webhook_sign_key_parse(bad[i], &k);
		CHECK_INT(rc, -1);
		if (rc == 0)
			webhook_sign_key_free(&k);
	}
	CHECK_INT(webhook_sign_key_parse("whsec_QUJD", &k), 0); /* unpadded base64 is accepted */
	CHECK_INT(k.secret_len, 3);
	CHECK(memcmp(k.secret, "ABC", 3) == 0);
	webhook_sign_key_free(&k);
}

static void test_base64(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {{"", ""},
	             {"f", "Zg=="},
	             {"fo", "Zm8="},
	             {"foo", "Zm9v"},
	             {"foob", "Zm9vYg=="},
	             {"fooba", "Zm9vYmE="},
	             {"foobar", "Zm9vYmFy"}}; /* RFC 4648 10 */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got =
		    webhook_sign_base64((const unsigned char *)cases[i].in, strlen(cases[i].in));
		CHECK_STR(got, cases[i].want);
		free(got);
	}
}

static void test_id(void)
{
	struct envelope_rcpt r1[2] = {{.address = (char *)"a@example.test"},
	                              {.address = (char *)"b@example.test"}};
	struct envelope_rcpt r2[2] = {{.address = (char *)"b@example.test"},
	                              {.address = (char *)"a@example.test"}};
	struct envelope e1 = {.mail_from = (char *)"s@sender.test",
	                      .rcpts = r1,
	                      .n_rcpts = 2,
	                      .client_port = 1111,
	                      .received_at_us = 1};
	struct envelope e2 = e1;
	struct message_bytes m = {"Subject: x\r\n\r\nbody\r\n", 20, false};
	struct message_bytes m2 = {"Subject: x\r\n\r\nbody!\r\n", 21, false};
	char a[WEBHOOK_ID_SIZE], b[WEBHOOK_ID_SIZE];

	webhook_sign_id("r", "http://h/", &e1, &m, a);
	CHECK_INT(strlen(a), WEBHOOK_ID_SIZE - 1);
	CHECK(strncmp(a, "msg_", 4) == 0);
	CHECK(strspn(a + 4, "0123456789abcdef") == 32);
	/* port, time, recipient order: no effect */
	e2.client_port = 2222;
	e2.received_at_us = 99;
	e2.rcpts = r2;
	webhook_sign_id("r", "http://h/", &e2, &m, b);
	CHECK_STR(b, a);
	/* message, sender, recipients, route: each changes it */
	webhook_sign_id("r", "http://h/", &e1, &m2, b);
	CHECK(strcmp(a, b) != 0);
	e2 = e1;
	e2.mail_from = (char *)"t@sender.test";
	webhook_sign_id("r", "http://h/", &e2, &m, b);
	CHECK(strcmp(a, b) != 0);
	e2 = e1;
	e2.n_rcpts = 1;
	webhook_sign_id("r", "http://h/", &e2, &m, b);
	CHECK(strcmp(a, b) != 0);
	/* the trace fields the gateway prepends (before the last env.size bytes) do not count */
	{
		static const char with_a[] = "Received: from a by mx; 1 Jan\r\n"
		                             "Subject: x\r\n\r\nbody\r\n";
		static const char with_b[] = "Authentication-Results: mx; spf=pass\r\n"
		                             "Received: from b by mx; 2 Jan\r\n"
		                             "Subject: x\r\n\r\nbody\r\n";
		struct message_bytes ma = {with_a, sizeof(with_a) - 1, false};
		struct message_bytes mb = {with_b, sizeof(with_b) - 1, false};
		char c[WEBHOOK_ID_SIZE];
		e2 = e1;
		e2.size = m.len;
		webhook_sign_id("r", "http://h/", &e2, &m, b);
		CHECK_STR(b, a);
		webhook_sign_id("r", "http://h/", &e2, &ma, c);
		CHECK_STR(c, a);
		webhook_sign_id("r", "http://h/", &e2, &mb, c);
		CHECK_STR(c, a);
		e2.size = m2.len; /* the received part differs: so does the id */
		webhook_sign_id("r", "http://h/", &e2, &m2, c);
		CHECK(strcmp(c, a) != 0);
	}
	webhook_sign_id("r2", "http://h/", &e1, &m, b);
	CHECK(strcmp(a, b) != 0);
	webhook_sign_id("r", "http://h2/", &e1, &m, b);
	CHECK(strcmp(a, b) != 0);
}

int main(void)
{
	test_hmac_vector();
	test_hmac_shared_key();
	test_key_cache();
	test_streamed_body();
	test_rotation();
	test_ed25519();
	test_bad_keys();
	test_base64();
	test_id();
	return UNIT_END("webhook_sign");
}
