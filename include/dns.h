/*
 * dns.h: the small asynchronous DNS interface that SPF, DKIM, DMARC and ARC
 * are written against. gateway/dns/dns.c implements it with c-ares on a
 * worker's libevent loop, with a bounded TTL-honouring cache that also
 * keeps negative answers (RFC 2308). Tests may implement dns_ops over an
 * in-memory zone.
 *
 * A callback may run before dns_query() returns (a cache hit). The result
 * and everything it points to is valid only during the callback.
 */
#ifndef DNS_H
#define DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

enum dns_type {
	DNS_T_A = 1,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_OK,       /* n records (n >= 1) */
	DNS_NODATA,   /* the name exists, no record of this type (n == 0) */
	DNS_NXDOMAIN, /* the name does not exist (n == 0) */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, REFUSED, network error */
	DNS_PERMFAIL, /* malformed name or answer */
};

struct dns_rr {
	union {
		struct in_addr a;
		struct in6_addr aaaa;
		struct {
			uint16_t preference;
			char *host;
		} mx;
		char *ptr;
		struct {
			char *data; /* the RR's character-strings concatenated, NUL-terminated */
			size_t len; /* may contain NUL bytes */
		} txt;
	} u;
};

struct dns_result {
	enum dns_status status;
	enum dns_type type;
	const char *name;
	size_t n;
	const struct dns_rr *rr;
	uint32_t ttl; /* seconds */
};

typedef void (*dns_cb)(void *arg, const struct dns_result *res);

struct dns_query; /* a handle to cancel a query */

struct dns_ops {
	/* Starts a query; returns a handle (NULL when cb already ran or on error, after cb). */
	struct dns_query *(*query)(void *impl, const char *name, enum dns_type type, dns_cb cb,
	                           void *arg);
	/* Cancels a query whose callback has not run; its callback never runs. */
	void (*cancel)(void *impl, struct dns_query *q);
};

struct dns_resolver {
	const struct dns_ops *ops;
	void *impl;
};

static inline struct dns_query *dns_query(const struct dns_resolver *r, const char *name,
                                          enum dns_type type, dns_cb cb, void *arg)
{
	return r->ops->query(r->impl, name, type, cb, arg);
}

static inline void dns_cancel(const struct dns_resolver *r, struct dns_query *q)
{
	if (q)
		r->ops->cancel(r->impl, q);
}

const char *dns_status_name(enum dns_status s);

/*
 * The c-ares binding (gateway/dns/dns.c). Added by the dns module; the
 * declarations above are the lead's and stay unchanged.
 */
struct event_base;
struct gw_dns;

/* Counters of one resolver, for logs and tests. */
struct dns_stats {
	uint64_t queries;    /* dns_query() calls */
	uint64_t cache_hits; /* answered from the cache */
	uint64_t coalesced;  /* joined an identical query already in flight */
	uint64_t sent;       /* handed to c-ares */
	uint64_t tempfail;   /* answers that were DNS_TEMPFAIL */
	uint64_t cache_evictions;
	uint32_t cache_entries;
};

/*
 * Creates a resolver on base: servers from cfg->servers ("127.0.0.1:5353",
 * "[::1]:53"), or /etc/resolv.conf when there are none; timeout, tries and
 * cache limits from cfg. NULL on error (logged to stderr). Never blocks.
 * One resolver per event loop (per worker thread): it is not thread-safe.
 */
struct dns_resolver *dns_c_ares_new(struct event_base *base, const struct gw_dns *cfg);

/*
 * Frees the resolver. Queries still in flight are dropped: their callbacks
 * never run. Must not be called from inside a dns callback.
 */
void dns_c_ares_free(struct dns_resolver *r);

/* Copies r's counters into out (r must come from dns_c_ares_new). */
void dns_c_ares_stats(const struct dns_resolver *r, struct dns_stats *out);

#endif
