/*
 * dns_int.h: what the files of gateway/dns/ share and nothing else
 * includes (the unit tests and fuzz targets do, to reach the pure parts).
 *
 * dns_wire.c turns a raw DNS response into a dns_answer; dns_cache.c keeps
 * answers by (name, type) with an expiry; dns.c drives c-ares. An answer is
 * reference-counted because the cache and a callback in progress may both
 * hold it: an eviction during a callback must not free what the callback
 * is reading.
 */
#ifndef DNS_INT_H
#define DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define DNS_NAME_MAX        253 /* presentation length without the trailing dot */
#define DNS_LABEL_MAX       63
#define DNS_MAX_RR          128                /* records kept per answer; more are dropped */
#define DNS_MAX_CNAME       8                  /* CNAME hops followed inside one answer */
#define DNS_CACHE_MAX_BYTES ((size_t)32 << 20) /* [dns] cache_max_bytes when 0 (not set) */

struct dns_answer {
	unsigned refs;
	enum dns_status status;
	uint32_t ttl;     /* positive answers: the smallest TTL of the chain */
	bool has_soa;     /* negative answers: an SOA was in the authority section */
	uint32_t neg_ttl; /* min(SOA TTL, SOA MINIMUM), RFC 2308 section 5 */
	size_t n;
	struct dns_rr *rr; /* n records; strings point into arena */
	char *arena;
	size_t bytes; /* memory allocated for this answer, for the cache's byte bound */
};

/*
 * Parses the response buf (len bytes) to a query of type. Follows CNAMEs
 * from the question name. Returns a new answer (refs 1) or NULL when out of
 * memory. A malformed packet gives status DNS_TEMPFAIL: the server, not the
 * name, is at fault.
 */
struct dns_answer *dns_wire_parse(const unsigned char *buf, size_t len, enum dns_type type);

/* An answer carrying only a status (timeouts, errors). NULL when out of memory. */
struct dns_answer *dns_answer_status(enum dns_status status);

void dns_answer_ref(struct dns_answer *a);
void dns_answer_unref(struct dns_answer *a);

/*
 * Normalises name into out (DNS_NAME_MAX + 1 bytes): ASCII lower case, one
 * trailing dot removed. Returns 0, or -1 when it cannot be queried (empty,
 * too long, an empty or over-long label, a backslash, which c-ares would
 * take for an escape).
 */
int dns_name_normalise(const char *name, char *out);

/*
 * The cache: at most capacity entries and max_bytes of memory (entries
 * and their answers), hash-indexed, least recently used evicted first.
 * Times are milliseconds on any monotonic clock.
 */
struct dns_cache;

struct dns_cache *dns_cache_new(uint32_t capacity, size_t max_bytes);
void dns_cache_free(struct dns_cache *c);

/*
 * The live answer for (name, type) at now, with a new reference the caller
 * must drop, and the milliseconds it has left in *left_ms; NULL on a miss.
 * name must be normalised.
 */
struct dns_answer *dns_cache_get(struct dns_cache *c, const char *name, enum dns_type type,
                                 uint64_t now, uint64_t *left_ms);

/* Stores a (taking a new reference) until expires. Returns the number of entries evicted. */
unsigned dns_cache_put(struct dns_cache *c, const char *name, enum dns_type type,
                       struct dns_answer *a, uint64_t expires);

uint32_t dns_cache_count(const struct dns_cache *c);
size_t dns_cache_bytes(const struct dns_cache *c); /* memory the entries take now */

#endif
