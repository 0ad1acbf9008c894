/*
 * smtp_sasl.h: SMTP AUTH, that is SASL (smtp_sasl.c), and its limits per client
 * address (smtp_authip.c). Not sender authentication (smtp_seam.h).
 */
#ifndef SMTP_SASL_H
#define SMTP_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "smtp_reply.h"

struct smtp_session;
struct smtp_worker;

/* ---- SMTP AUTH, that is SASL (smtp_sasl.c); not sender authentication (the seam) ---- */

/* The AUTH verb's check and run (the verb table of smtp_cmd.c). */
enum smtp_reply_id smtp_sasl_check(struct smtp_session *s, const char *arg);
void smtp_sasl_cmd(struct smtp_session *s, char *arg);
/* One line of an AUTH exchange (state auth). */
void smtp_sasl_line(struct smtp_session *s, char *line, size_t len);
/*
 * Ends an AUTH exchange that cannot go on (a response line too long): the
 * session is back in the command state and r is the one reply (RFC 4954 4).
 */
void smtp_sasl_abort(struct smtp_session *s, enum smtp_reply_id r);

/* Checks user/password against cfg->users (crypt(3), constant time). */
bool smtp_sasl_verify(const struct gw_config *cfg, const char *user, const char *pass);
/* The hash an unknown user is checked against: the costliest of cfg->users (NULL: none). */
const char *smtp_sasl_dummy_hash(const struct gw_config *cfg);
/* Waits for the password checks still running (worker teardown). */
void smtp_sasl_jobs_join(struct smtp_worker *w);

/* ---- AUTH per client address (smtp_authip.c), process-wide ---- */

enum smtp_authip_verdict {
	AUTHIP_OK,       /* a check slot was taken: give it back with smtp_authip_end() */
	AUTHIP_FAILURES, /* max_auth_failures_per_ip reached */
	AUTHIP_BUSY,     /* max_auth_checks_per_ip running or queued */
	AUTHIP_FULL,     /* no room in the table for this address (fails closed) */
};

/* May key (smtp_session.ip_key) have a password checked now? */
enum smtp_authip_verdict smtp_authip_begin(const struct gw_limits *lim, const char *key);
void smtp_authip_end(const struct gw_limits *lim, const char *key);
/* One more failed AUTH from key. */
void smtp_authip_failed(const struct gw_limits *lim, const char *key);

#endif
