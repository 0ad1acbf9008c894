/*
 * smtp_tls.h: TLS contexts of the listeners (smtp_tls.c).
 */
#ifndef SMTP_TLS_H
#define SMTP_TLS_H

#include <openssl/ssl.h>

#include "config.h"

struct smtp_tls;

/* ---- TLS (smtp_tls.c) ---- */

/* Builds the contexts of cfg->certs (SNI by SAN/CN). NULL and a log line on failure. */
struct smtp_tls *smtp_tls_new(const struct gw_config *cfg);
void smtp_tls_free(struct smtp_tls *t);
/* The webhook's CA files and client certificate pairs load (smtp_tls_check() without [[tls]]). */
int smtp_tls_check_webhook(const struct gw_config *cfg);
SSL *smtp_tls_ssl(struct smtp_tls *t);
/* Makes libevent's STARTTLS filter BIO method once, on the calling thread:
 * call before any worker runs (smtp_tls_new() does). */
void smtp_tls_warm(SSL_CTX *ctx);

#endif
