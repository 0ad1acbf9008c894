/*
 * smtp_tls.c: the server TLS contexts (RFC 3207 STARTTLS, RFC 8314
 * implicit TLS). One SSL_CTX per [[tls]] certificate, the first being the
 * default; the SNI callback picks the certificate whose SAN dNSNames (or,
 * without SANs, whose CN) match the requested name, wildcards covering one
 * label (RFC 6125 6.4.3). TLS 1.2 and 1.3 only (tls_min_version),
 * forward-secret AEAD suites only in TLS 1.2, no renegotiation, no
 * compression, buffers released when idle.
 *
 * Never: load a private key that group or others can read (checked on the
 * descriptor it is read from), open a named file blocking or let OpenSSL
 * open it (safe_file.h), offer SSLv3/TLS 1.0/1.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "safe_file.h"
#include "smtp.h"
#include "smtp_tls.h"
#include "smtp_worker.h"

struct tls_cert {
	SSL_CTX *ctx;
	char **names;
	size_t n_names;
};

struct smtp_tls {
	struct tls_cert *certs;
	size_t n;
};

static void log_ssl(const char *what, const char *file)
{
	char buf[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof buf);
	smtp_log(GW_LOG_ERROR, 0, "tls: %s %s: %s", what, file, buf);
	ERR_clear_error();
}

static int add_name(struct tls_cert *c, const char *name, size_t len)
{
	char **n = realloc(c->names, (c->n_names + 1) * sizeof *n);
	if (!n)
		return -1;
	c->names = n;
	c->names[c->n_names] = strndup(name, len);
	if (!c->names[c->n_names])
		return -1;
	c->n_names++;
	return 0;
}

static void collect_names(struct tls_cert *c)
{
	X509 *x = SSL_CTX_get0_certificate(c->ctx);
	if (!x)
		return;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			         (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (c->n_names)
		return;
	X509_NAME *subj = X509_get_subject_name(x);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx < 0)
		return;
	ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	add_name(c, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
}

static bool name_matches(const char *pattern, const char *name)
{
	if (strcasecmp(pattern, name) == 0)
		return true;
	if (strncmp(pattern, "*.", 2) != 0)
		return false;
	const char *dot = strchr(name, '.');
	return dot && dot != name && strcasecmp(pattern + 1, dot) == 0;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct smtp_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	(void)alert;
	if (!name)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->certs[i].n_names; k++)
			if (name_matches(t->certs[i].names[k], name)) {
				if (i)
					SSL_set_SSL_CTX(ssl, t->certs[i].ctx);
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_OK; /* unknown name: the default certificate */
}

/*
 * Certificate chain and key are read into memory by safe_file_read() (a
 * FIFO or device is refused at once; the key must be a file only its owner
 * can read, checked on the descriptor it is read from) and loaded from a
 * memory BIO: OpenSSL never opens a path itself. 0 or -1 (logged).
 */
static BIO *pem_bio(const char *what, const char *path, unsigned flags, char **buf, size_t *len)
{
	char err[512];
	*buf = safe_file_read(path, SAFE_FILE_PEM_MAX, flags, len, err, sizeof err);
	if (!*buf) {
		smtp_log(GW_LOG_ERROR, 0, "tls: %s %s; refused", what, err);
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(*buf, (int)*len);
	if (!bio) {
		OPENSSL_cleanse(*buf, *len);
		free(*buf);
	}
	return bio;
}

static void pem_done(BIO *bio, char *buf, size_t len)
{
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
}

static int load_chain(SSL_CTX *ctx, const char *path)
{
	char *buf;
	size_t len;
	int rc = -1;
	BIO *bio = pem_bio("certificate", path, 0, &buf, &len);
	if (!bio)
		return -1;
	X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
	if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1)
		goto out;
	SSL_CTX_clear_chain_certs(ctx);
	X509 *ca;
	while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			goto out;
		}
	unsigned long e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		ERR_clear_error(); /* the end of the chain */
	else if (e)
		goto out;
	rc = 0;
out:
	if (rc)
		log_ssl("certificate", path);
	X509_free(leaf);
	pem_done(bio, buf, len);
	return rc;
}

static int load_key(SSL_CTX *ctx, const char *path)
{
	char *buf;
	size_t len;
	int rc = -1;
	BIO *bio = pem_bio("key", path, SAFE_FILE_PRIVATE, &buf, &len);
	if (!bio)
		return -1;
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1)
		rc = 0;
	else
		log_ssl("key", path);
	EVP_PKEY_free(key);
	pem_done(bio, buf, len);
	return rc;
}

/*
 * TLS 1.2 suites: forward secret AEAD only (Mozilla "intermediate"); no
 * static RSA key exchange, no CBC, no SHA-1 MACs. TLS 1.3 keeps OpenSSL's
 * suites, which are all of that kind.
 */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

static SSL_CTX *new_ctx(const struct gw_config *cfg, const struct gw_tls_cert *tc)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	int min = cfg->tls_min_version == TLS1_3_VERSION ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"smtpgw", 6);
	if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 || SSL_CTX_set_dh_auto(ctx, 1) != 1) {
		log_ssl("cipher list", tc->cert_file);
		goto fail;
	}
	if (load_chain(ctx, tc->cert_file))
		goto fail;
	if (load_key(ctx, tc->key_file))
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * libevent makes the BIO method behind bufferevent_openssl_filter_new()
 * (our STARTTLS) on first use, without a lock: two workers whose first
 * STARTTLS comes at the same moment both make one, and one leaks (96 + 12
 * bytes; LeakSanitizer saw it in CI under the AUTH brute-force attack, and
 * 4 threads racing on a barrier leak it in about one run in seven). Making
 * the first filter here, on the main thread before any worker starts, makes
 * it once.
 */
void smtp_tls_warm(SSL_CTX *ctx)
{
	static bool done;
	struct bufferevent *pair[2] = {NULL, NULL};
	struct event_base *base = event_base_new();
	SSL *ssl = SSL_new(ctx);
	if (done || !base || !ssl || bufferevent_pair_new(base, 0, pair) < 0)
		goto out;
	struct bufferevent *f = bufferevent_openssl_filter_new(
	    base, pair[0], ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (f) {
		ssl = NULL; /* f owns it and pair[0] now */
		pair[0] = NULL;
		bufferevent_free(f);
		done = true;
	}
out:
	if (pair[0])
		bufferevent_free(pair[0]);
	if (pair[1])
		bufferevent_free(pair[1]);
	SSL_free(ssl);
	if (base) {
		event_base_loop(base, EVLOOP_NONBLOCK); /* runs the frees' finalizers */
		event_base_free(base);
	}
}

struct smtp_tls *smtp_tls_new(const struct gw_config *cfg)
{
	if (!cfg->n_certs)
		return NULL;
	struct smtp_tls *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->certs = calloc(cfg->n_certs, sizeof *t->certs);
	if (!t->certs)
		goto fail;
	for (size_t i = 0; i < cfg->n_certs; i++) {
		t->certs[i].ctx = new_ctx(cfg, &cfg->certs[i]);
		if (!t->certs[i].ctx)
			goto fail;
		t->n++;
		collect_names(&t->certs[i]);
	}
	SSL_CTX_set_tlsext_servername_callback(t->certs[0].ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->certs[0].ctx, t);
	smtp_tls_warm(t->certs[0].ctx);
	return t;
fail:
	smtp_tls_free(t);
	return NULL;
}

void smtp_tls_free(struct smtp_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		SSL_CTX_free(t->certs[i].ctx);
		for (size_t k = 0; k < t->certs[i].n_names; k++)
			free(t->certs[i].names[k]);
		free(t->certs[i].names);
	}
	free(t->certs);
	free(t);
}

SSL *smtp_tls_ssl(struct smtp_tls *t)
{
	return SSL_new(t->certs[0].ctx);
}

/* A CA file holds at least one PEM certificate and nothing unparsable. */
static int check_ca_file(const char *path)
{
	char *buf;
	size_t len;
	int n = 0;
	BIO *bio = pem_bio("ca_file", path, 0, &buf, &len);
	if (!bio)
		return -1;
	STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
		n += sk_X509_INFO_value(infos, i)->x509 != NULL;
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	pem_done(bio, buf, len);
	if (!infos || n == 0) {
		smtp_log(GW_LOG_ERROR, 0, "tls: ca_file %s holds no PEM certificate", path);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* A webhook client certificate and its key load and match. */
static int check_client_pair(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int rc = ctx && load_chain(ctx, cert) == 0 && load_key(ctx, key) == 0 ? 0 : -1;
	SSL_CTX_free(ctx);
	return rc;
}

static int check_opts(const struct gw_route_opts *o)
{
	int rc = 0;
	if (o->ca_file && check_ca_file(o->ca_file))
		rc = -1;
	if (o->client_cert && o->client_key && check_client_pair(o->client_cert, o->client_key))
		rc = -1;
	return rc;
}

int smtp_tls_check_webhook(const struct gw_config *cfg)
{
	int rc = check_opts(&cfg->webhook);
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct gw_route_opts *o = &cfg->routes[i].opts, *w = &cfg->webhook;
		bool same_ca = !o->ca_file || (w->ca_file && strcmp(o->ca_file, w->ca_file) == 0);
		bool same_pair =
		    !o->client_cert ||
		    (w->client_cert && strcmp(o->client_cert, w->client_cert) == 0 &&
		     o->client_key && w->client_key && strcmp(o->client_key, w->client_key) == 0);
		if (!same_ca && check_ca_file(o->ca_file))
			rc = -1;
		if (!same_pair && o->client_key && check_client_pair(o->client_cert, o->client_key))
			rc = -1;
	}
	return rc;
}

int smtp_tls_check(const struct gw_config *cfg)
{
	int rc = smtp_tls_check_webhook(cfg);
	if (cfg->n_certs) {
		struct smtp_tls *t = smtp_tls_new(cfg);
		if (!t)
			rc = -1;
		smtp_tls_free(t);
	}
	return rc;
}
