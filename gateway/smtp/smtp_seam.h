/*
 * smtp_seam.h: sender authentication and the spam check in the session
 * (smtp_seam.c): checks that return verdicts.
 */
#ifndef SMTP_SEAM_H
#define SMTP_SEAM_H

#include <jansson.h>

#include "envelope.h"
#include "routes.h"
#include "smtp_reply.h"

struct smtp_session;
struct smtp_worker;
struct smtp_auth;

/* ---- sender authentication seam (smtp_seam.c) ---- */

/*
 * Per worker: the resolver ([dns]), an auth context for w->rt and the spam
 * client (rspamd, on the delivery's libcurl multi: call after delivery_new);
 * after a configuration swap, smtp_seam_worker_reload() makes an auth
 * context for the new rt and points the spam client at it (its breaker
 * stays). Sessions hold a reference to the auth context they started with.
 */
int smtp_seam_worker_init(struct smtp_worker *w);
void smtp_seam_worker_reload(struct smtp_worker *w);
void smtp_seam_worker_fini(struct smtp_worker *w);
struct smtp_auth *smtp_seam_ref(struct smtp_worker *w);
void smtp_seam_unref(struct smtp_auth *a);

/*
 * What a check decided (STYLE 10b): a value for the transaction's owner,
 * never an action. refuse is a row of the reply catalogue (RPL_NONE: go
 * on). The pointers are valid during the call only.
 */
enum smtp_seam_step { SEAM_MAIL, SEAM_RCPT, SEAM_MESSAGE, SEAM_GONE /* the client left */ };

struct smtp_seam_verdict {
	enum smtp_seam_step step;
	enum smtp_reply_id refuse;       /* RPL_NONE: accept MAIL/RCPT, deliver the message */
	const char *check;               /* who refused ("spf", "dmarc" ...), for the log */
	const char *rcpt;                /* SEAM_RCPT: the recipient */
	const struct route_match *match; /* SEAM_RCPT: its route */
	const json_t *auth;              /* SEAM_MESSAGE: the payload's auth object, or NULL */
	const char *ar_field;            /* SEAM_MESSAGE: Authentication-Results + CRLF, or NULL */
	const char *detail;              /* refuse: the text for the row's {} (rspamd's), or NULL */
	const json_t *spam;              /* SEAM_MESSAGE: the payload's spam object, or NULL */
	const char *spam_warning;        /* SEAM_MESSAGE: why spam is null though a check was due */
	bool spam_skipped;               /* SEAM_MESSAGE: not scanned (too large), not failed */
	const char *spam_fields;         /* SEAM_MESSAGE: fields rspamd adds (CRLF each), or NULL */
};

/* The owner's one callback, for the verdicts that come later than the command. */
typedef void (*smtp_seam_fn)(struct smtp_session *s, const struct smtp_seam_verdict *v);

/* SEAM_NOW: *out holds the verdict. SEAM_LATER: it comes through done, exactly once. */
enum smtp_seam_wait { SEAM_NOW, SEAM_LATER };

/*
 * At MAIL (accepted so far): SPF starts and runs while RCPTs arrive. Waits
 * (SEAM_LATER) only under [auth] spf = "enforce" while SPF is unknown.
 */
enum smtp_seam_wait smtp_seam_mail(struct smtp_session *s, smtp_seam_fn done,
                                   struct smtp_seam_verdict *out);
/*
 * At RCPT, for a recipient the routing table accepted: a route with
 * spf = "enforce" refuses it when SPF failed; waits while SPF is unknown.
 */
enum smtp_seam_wait smtp_seam_rcpt(struct smtp_session *s, const char *addr,
                                   const struct route_match *m, struct smtp_seam_verdict *out);
/*
 * At the end of data, with the body as received: the checks of the route,
 * sender authentication and rspamd side by side (forged
 * Authentication-Results are cut from the store, and a subject rewrite
 * made, once both answered). With SEAM_LATER, done may run before this
 * returns.
 */
enum smtp_seam_wait smtp_seam_end_of_data(struct smtp_session *s, const struct message_bytes *body,
                                          smtp_seam_fn done, struct smtp_seam_verdict *out);
/* Cancels what still runs (from smtp_tx_reset()): no callback after it. */
void smtp_seam_tx_end(struct smtp_session *s);
/* [auth] timeout ran out while the transaction waited (the session timer): a verdict through done.
 */
void smtp_seam_timeout(struct smtp_session *s);

#endif
