/*
 * spf.h: Sender Policy Framework (RFC 7208), asynchronous, over dns.h.
 *
 * The gateway starts a check at MAIL FROM (RFC 7208 section 2.4: the
 * "MAIL FROM" identity, or postmaster@<HELO> when the reverse-path is
 * null, section 2.4 and 2.3) and reads the outcome in a callback while the
 * RCPTs arrive. gateway/spf/ is pure logic: no sockets, no event loop, no
 * globals; every DNS query goes through the dns_resolver it is given.
 *
 * The callback runs exactly once unless the check is cancelled; it may run
 * before spf_check_start() returns (every answer cached, or nothing to
 * look up). The outcome and its strings are valid only during the callback.
 */
#ifndef SPF_H
#define SPF_H

#include <stdint.h>
#include <sys/socket.h>

#include "dns.h"

/* RFC 7208 section 2.6 */
enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
	SPF_RESULT_MAX
};

enum spf_identity {
	SPF_ID_MAILFROM, /* RFC 7208 section 2.4 */
	SPF_ID_HELO,     /* RFC 7208 section 2.3 */
};

struct spf_outcome {
	enum spf_result result;
	enum spf_identity identity; /* HELO when MAIL FROM was null or a HELO check was asked */
	const char *domain;         /* the domain checked: MAIL FROM's, or the HELO name */
	const char *sender;         /* <sender> as evaluated: "postmaster@helo" for null senders */
	const char *explanation;    /* result fail only: exp= text or the default; else NULL */
	const char *reason;         /* one line for logs and Authentication-Results comments */
	const char *mechanism;      /* the mechanism that matched ("ip4:192.0.2.0/24"), or NULL */
	unsigned dns_lookups;       /* terms that caused DNS queries (limit 10, section 4.6.4) */
	unsigned void_lookups;      /* of those, answers with no records (limit 2) */
};

typedef void (*spf_cb)(void *arg, const struct spf_outcome *out);

/* Limits and choices; spf_options_default() fills the RFC's recommendations. */
struct spf_options {
	unsigned max_dns_lookups;        /* 10, RFC 7208 section 4.6.4; capped at 20 */
	unsigned max_void_lookups;       /* 2, section 4.6.4 */
	const char *default_explanation; /* a macro-string (section 7); NULL: the built-in one */
	int64_t now;                     /* %{t}; 0: time(NULL) */
};

void spf_options_default(struct spf_options *o);

struct spf_check; /* a handle to cancel a check */

/*
 * Starts check_host() for the client ip (AF_INET or AF_INET6; IPv4-mapped
 * IPv6 is treated as IPv4, section 5), the HELO/EHLO name helo, the
 * reverse-path mail_from without angle brackets ("" for the null sender:
 * the HELO identity is then checked as postmaster@helo) and hostname, our
 * own name (%{r}). opts may be NULL for the defaults. Returns a handle, or
 * NULL when cb already ran (or ran with temperror on out of memory).
 */
struct spf_check *spf_check_start(const struct dns_resolver *r, const struct sockaddr *ip,
                                  const char *helo, const char *mail_from, const char *hostname,
                                  spf_cb cb, void *arg);
struct spf_check *spf_check_start_opts(const struct dns_resolver *r, const struct sockaddr *ip,
                                       const char *helo, const char *mail_from,
                                       const char *hostname, const struct spf_options *opts,
                                       spf_cb cb, void *arg);

/* The HELO identity alone (section 2.3): check_host(ip, helo, postmaster@helo). */
struct spf_check *spf_check_helo_start(const struct dns_resolver *r, const struct sockaddr *ip,
                                       const char *helo, const char *hostname,
                                       const struct spf_options *opts, spf_cb cb, void *arg);

/*
 * Cancels a check whose callback has not run: its queries are cancelled, cb
 * never runs. The handle is invalid once the callback has started (the
 * check frees itself when the callback returns): never cancel from inside it.
 */
void spf_check_cancel(struct spf_check *c);

/* "none" "neutral" "pass" "fail" "softfail" "temperror" "permerror" (RFC 8601 names). */
const char *spf_result_name(enum spf_result r);

#endif
