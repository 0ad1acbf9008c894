/*
 * zone_resolver.h: the in-memory struct dns_resolver of the tests (DKIM,
 * ARC, DMARC, sender authentication, their fuzzers and benchmarks). A zone
 * holds A, AAAA, MX and TXT records, names that exist without records,
 * and statuses (TEMPFAIL, NXDOMAIN ...) for a name, for one type or all.
 * Answers synchronously (inside dns_query(), as a cache hit would) or, in
 * deferred mode, only when zone_run() is called, so that both completion
 * paths of the asynchronous code get exercised. Names are compared without
 * case, a trailing dot ignored. Never touches the network.
 *
 * Answer for name/type: a zone-wide tempfail first; then the first status
 * given for that name and type (or all types); then NXDOMAIN for a name
 * the zone does not hold, NODATA for one without records of the type, or
 * every record of the type in the order added.
 */
#ifndef ZONE_RESOLVER_H
#define ZONE_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define ZONE_MAX_RECORDS 65536 /* records (and statuses) in one zone */
#define ZONE_MAX_PENDING 4096  /* deferred answers; past it a query is answered at once */
#define ZONE_MAX_LOG     256   /* queries kept in the log */

struct zone;

/* A new, empty zone, or NULL when out of memory. */
struct zone *zone_new(void);
void zone_free(struct zone *z);

/* Adds one TXT record (several calls with one name give several RRs). 0 or -1. */
int zone_add_txt(struct zone *z, const char *name, const char *txt, size_t len);

/* Adds an A or AAAA record (type says which) from its text form; -1 if it is not one. */
int zone_add_addr(struct zone *z, const char *name, enum dns_type type, const char *addr);

/* Adds an MX record. 0 or -1. */
int zone_add_mx(struct zone *z, const char *name, uint16_t preference, const char *host);

/* Makes name exist without records (queries answer NODATA). 0 or -1. */
int zone_add_name(struct zone *z, const char *name);

/* Makes name answer with a status instead (DNS_TEMPFAIL, DNS_NXDOMAIN ...), for every type. */
int zone_add_status(struct zone *z, const char *name, enum dns_status st);

/* The same for one type only; the name still exists for the others. */
int zone_add_type_status(struct zone *z, const char *name, enum dns_type type, enum dns_status st);

/*
 * Loads "name text..." TXT lines (the text runs to the end of the line);
 * text "!TEMPFAIL", "!NXDOMAIN", "!PERMFAIL" set a status. '#' starts a
 * comment line. 0, or -1 with a message on stderr.
 */
int zone_load_file(struct zone *z, const char *path);

/* Deferred mode: answers wait for zone_run(). */
void zone_set_deferred(struct zone *z, bool deferred);

/* Every query fails with DNS_TEMPFAIL (a resolver that is down). */
void zone_set_tempfail(struct zone *z, bool tempfail);

/* Delivers the answers queued in deferred mode, and those they cause; returns how many. */
size_t zone_run(struct zone *z);

/* The same, stopping after max answers. */
size_t zone_run_max(struct zone *z, size_t max);

/* Queries received so far. */
size_t zone_queries(const struct zone *z);

/* "name/TYPE" of the i-th query (the first ZONE_MAX_LOG kept), NULL past the last. */
const char *zone_log(const struct zone *z, size_t i);

/* Forgets the logged queries (the count of zone_queries() stays). */
void zone_log_clear(struct zone *z);

struct dns_resolver zone_resolver(struct zone *z);

/* "A", "AAAA", "MX", "TXT", "PTR"; "?" for another value. */
const char *zone_type_name(enum dns_type t);

/* The type named s (one of those); -1 for another name. */
int zone_type_parse(const char *s, enum dns_type *t);

#endif
