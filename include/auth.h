/*
 * auth.h: sender authentication of one SMTP transaction (gateway/auth/).
 *
 * Orchestrates SPF (spf.h), DKIM (dkim.h), ARC (arc.h) and DMARC
 * (dmarc.h) over one dns_resolver, and yields what the rest of the
 * gateway needs: the `auth` object of the payload (docs/authentication.md),
 * the Authentication-Results header field (RFC 8601) with our hostname as
 * authserv-id, and a verdict under the configured policies
 * (off | annotate | enforce; [auth] and per route).
 *
 * The SMTP session calls auth_tx_start() at MAIL (SPF starts at once and
 * runs while the RCPTs arrive; an early callback gives its result so that
 * enforce can refuse at MAIL/RCPT), then auth_tx_message() at the end of
 * data, and auth_tx_free() when the transaction ends (RSET, a new MAIL,
 * the end of the session): that cancels whatever is still running.
 *
 * Policy "off" does no DNS work for that check. DMARC needs SPF and DKIM
 * results, so they run whenever DMARC does (their own policy then only
 * decides whether they can refuse a message by themselves).
 *
 * One auth_ctx per worker thread (event loop); nothing here is shared
 * between threads.
 */
#ifndef AUTH_H
#define AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "dns.h"
#include "spf.h"

/* The policies that apply to one message. */
struct auth_policy {
	enum gw_policy spf, dkim, dmarc, arc;
	bool trust_arc; /* a passing ARC chain overrides a DMARC failure */
	enum gw_dmarc_discovery dmarc_discovery;
	bool partial_body_aligns; /* [auth] dkim_partial_body_aligns */
	char *const *arc_sealers; /* [auth] trusted_arc_sealers (the config's) */
	size_t n_arc_sealers;
};

/* [auth] alone (before the route is known). */
void auth_policy_global(struct auth_policy *p, const struct gw_auth *a);
/* [auth] with a route's spf/dkim/dmarc (the loader already filled them from [auth]). */
void auth_policy_route(struct auth_policy *p, const struct gw_auth *a,
                       const struct gw_route_opts *r);

struct event_base;

struct auth_ctx {
	const struct dns_resolver *dns;
	const char *hostname;      /* authserv-id; also SPF's %{r} */
	struct auth_policy policy; /* global */
	bool any_spf;              /* some route runs SPF or DMARC: SPF starts at MAIL */
	struct psl_ctx_st *psl;    /* RFC 7489 mode; NULL: libpsl's built-in list */
	bool psl_owned;
	struct dkim_key_cache *keys;    /* may be NULL; sized by [auth] dkim_key_cache_size */
	const struct gw_auth *auth_cfg; /* [auth] dkim_* limits; NULL: the defaults */
	/*
	 * The worker's loop, where hash jobs of the verification threads come
	 * back ([auth] dkim_offload_threshold); NULL: everything on the caller's
	 * loop (the CLI, tests).
	 */
	struct event_base *base;
};

/*
 * Fills ctx from the configuration: hostname, [auth], whether any route
 * needs SPF, and the PSL file of [auth] dmarc_psl_file (NULL or "": the
 * built-in list). cfg must outlive ctx. Returns 0, or -1 when the PSL
 * file cannot be loaded (message on stderr).
 */
int auth_ctx_init(struct auth_ctx *ctx, const struct dns_resolver *dns,
                  const struct gw_config *cfg);
void auth_ctx_fini(struct auth_ctx *ctx);

enum auth_action {
	AUTH_ACCEPT,
	AUTH_QUARANTINE, /* accept; the payload says disposition "quarantine" */
	AUTH_REJECT,     /* 5xx */
	AUTH_TEMPFAIL,   /* 4xx */
};

/*
 * Which verdict: the SMTP front end answers each from its reply catalogue
 * (gateway/smtp/smtp_reply.c), by this id.
 */
enum auth_verdict_id {
	AUTH_V_ACCEPT,
	AUTH_V_QUARANTINE,
	AUTH_V_SPF_FAIL,
	AUTH_V_SPF_TEMP,
	AUTH_V_DKIM_FAIL,
	AUTH_V_DKIM_TEMP,
	AUTH_V_ARC_FAIL,
	AUTH_V_ARC_TEMP,
	AUTH_V_DMARC_REJECT,
	AUTH_V_DMARC_PERMERROR,
	AUTH_V_DMARC_TEMP,
	AUTH_V_MAX
};

struct auth_verdict {
	enum auth_verdict_id id;
	enum auth_action action;
	int code;          /* 250, 550, 451 */
	char status[12];   /* enhanced status: "5.7.23" */
	const char *text;  /* static reply text */
	const char *check; /* "spf", "dkim", "dmarc", "arc", or NULL: who decided */
};

/* The SPF result at MAIL time, for the early decision. */
struct auth_spf_info {
	enum spf_result result;
	const char *domain;          /* checked domain */
	const char *explanation;     /* fail only, else NULL */
	struct auth_verdict verdict; /* under the global policy */
};

typedef void (*auth_spf_cb)(void *arg, const struct auth_spf_info *info);

/* Everything the end of data yields. Valid during the callback only (incref auth to keep it). */
struct auth_outcome {
	json_t *auth;         /* the payload's auth object */
	const char *ar_value; /* Authentication-Results value: "host; spf=pass ..." */
	const char *ar_field; /* the whole field, folded, with its CRLF: prepend it */
	struct auth_verdict verdict;
};

typedef void (*auth_done_cb)(void *arg, const struct auth_outcome *out);

struct auth_tx;

/*
 * At MAIL. ip is the client's address; helo the HELO/EHLO argument;
 * mail_from the reverse-path without <> ("" for the null path: SPF then
 * checks the HELO identity). on_spf_result (may be NULL) runs once with the SPF
 * result, possibly before this returns. Returns NULL only when out of
 * memory.
 */
struct auth_tx *auth_tx_start(struct auth_ctx *ctx, const struct sockaddr *ip, const char *helo,
                              const char *mail_from, auth_spf_cb on_spf_result, void *arg);

/* The SPF verdict again, under another policy (the route's, once RCPT knows it). */
void auth_spf_verdict(const struct auth_policy *p, enum spf_result r, struct auth_verdict *v);

/*
 * At the end of data: msg is the message as received (CRLF); it must stay
 * valid until done ran or auth_tx_free() returned (a large message is
 * hashed on the verification threads meanwhile). pol is the policy of the message's route. done
 * runs exactly once (maybe before this returns) unless auth_tx_free() comes first. Call it once per
 * transaction.
 */
void auth_tx_message(struct auth_tx *tx, const char *msg, size_t len, const struct auth_policy *pol,
                     auth_done_cb done, void *arg);

/* Ends the transaction: cancels what runs; no callback runs after. NULL is a no-op. */
void auth_tx_free(struct auth_tx *tx);

/*
 * RFC 8601 section 5: Authentication-Results fields already in the
 * message that claim our authserv-id must go. Writes the byte ranges of
 * those fields (whole fields with their CRLF, header only) to
 * ranges[2*i], ranges[2*i+1] (start, end), at most max of them; returns
 * how many there are (may exceed max).
 */
size_t auth_ar_ranges(const char *msg, size_t len, const char *authserv_id, size_t *ranges,
                      size_t max);

/*
 * The message without those fields, in a new buffer (*out_len bytes,
 * caller frees); NULL when out of memory. No field to drop still copies.
 */
char *auth_strip_ar(const char *msg, size_t len, const char *authserv_id, size_t *out_len);

#endif
