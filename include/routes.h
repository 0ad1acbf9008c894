/*
 * routes.h: the routing table. Maps an envelope recipient to the [[route]]
 * that receives it, or says why none does.
 *
 * Built once from the loaded routes and [routing] settings, immutable after
 * (a reload builds a new table). Lookups hash exact addresses and domains:
 * no lookup scans every route.
 *
 * Precedence (documented in docs/routing.md): exact address, then
 * plus-address base, then local-part wildcard (longest literal part first),
 * then domain catch-all, then subdomain catch-all (most specific domain
 * first); ties go to file order.
 *
 * Domains compare case-insensitively and as IDNA: a UTF-8 domain and its
 * punycode (xn--) form are the same. Local parts compare case-insensitively
 * unless routing.local_part_case_sensitive.
 */
#ifndef ROUTES_H
#define ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct route_table;

enum route_verdict {
	ROUTE_MATCH,        /* deliver to match->route */
	ROUTE_UNKNOWN_USER, /* our domain, nobody there: 550 5.1.1 */
	ROUTE_NOT_OURS,     /* not a domain we accept: 550 5.7.1 relay refused */
	ROUTE_BAD_ADDRESS,  /* not an addr-spec we can route: 501 5.1.3 */
};

enum route_match_kind {
	MATCH_EXACT,
	MATCH_PLUS,           /* user+tag@ matched the route of user@ */
	MATCH_LOCAL_WILDCARD, /* billing-*@example.com */
	MATCH_DOMAIN,         /* *@example.com */
	MATCH_SUBDOMAIN,      /* *@*.example.com */
};

#define ROUTE_LOCAL_MAX  256 /* bytes, including NUL; RFC 5321 allows 64 octets */
#define ROUTE_DOMAIN_MAX 256 /* bytes, including NUL; RFC 5321 allows 255 octets */

/* An address split as the router saw it. */
struct route_addr {
	char local[ROUTE_LOCAL_MAX];         /* case kept, tag included; unquoted */
	char domain[ROUTE_DOMAIN_MAX];       /* as written */
	char domain_ascii[ROUTE_DOMAIN_MAX]; /* lower-case A-label form */
	char tag[ROUTE_LOCAL_MAX];           /* the plus tag without the separator */
	bool has_tag;
	size_t base_len; /* with has_tag: bytes of local before the separator */
};

struct route_match {
	const struct gw_route *route;
	enum route_match_kind kind;
	const char *pattern; /* the pattern as written in the file (owned by the route) */
	struct route_addr addr;
};

/*
 * Builds the table. Errors (a malformed pattern) and warnings (a pattern
 * that can never match because another one always wins) go to diag with the
 * pattern's position in file. Returns NULL when there was an error.
 */
struct route_table *route_table_build(const struct gw_config *cfg, struct gw_diag *diag);
void route_table_free(struct route_table *t);

/*
 * Routes one address (the addr-spec of a RCPT path, without angle
 * brackets; UTF-8 allowed). Fills *m on ROUTE_MATCH and m->addr always
 * when the address could be split; m may be NULL. A quoted local part is
 * routed by its unquoted content; an address literal is ROUTE_NOT_OURS.
 * Never blocks or allocates; safe from any thread while t lives.
 */
enum route_verdict route_lookup(const struct route_table *t, const char *address,
                                struct route_match *m);

/* Is domain (any case, UTF-8 or A-label) one we accept mail for? */
bool route_domain_is_ours(const struct route_table *t, const char *domain);

/*
 * Number of accepted domains, and the i-th one (A-label form, in order of
 * first mention); "*.example.com" stands for every subdomain of example.com.
 */
size_t route_domain_count(const struct route_table *t);
const char *route_domain_at(const struct route_table *t, size_t i);

const char *route_match_kind_name(enum route_match_kind k);

/*
 * IDNA helpers (RFC 3492 punycode, RFC 5891 A-labels). Convert a domain to
 * its lower-case A-label form, or back to UTF-8. Return 0, or -1 when the
 * input is not a valid domain. out gets at most outlen bytes with the NUL.
 */
int idna_to_ascii(const char *domain, char *out, size_t outlen);
int idna_to_unicode(const char *domain, char *out, size_t outlen);

#endif
