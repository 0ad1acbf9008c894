/*
 * zone_resolver.h: an in-memory struct dns_resolver over a table of TXT
 * records, for the DKIM/ARC unit tests, the vector driver and the
 * benchmark. Answers synchronously (inside dns_query(), as a cache hit
 * would) or, in deferred mode, only when zone_run() is called, so that
 * both completion paths of the asynchronous code get exercised.
 * Never touches the network.
 */
#ifndef ZONE_RESOLVER_H
#define ZONE_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"

struct zone;

struct zone *zone_new(void);
void zone_free(struct zone *z);

/* Adds a TXT record (one RR; several calls with one name give several RRs). */
int zone_add_txt(struct zone *z, const char *name, const char *txt, size_t len);

/* Makes name answer with a status instead (DNS_TEMPFAIL, DNS_NXDOMAIN ...). */
int zone_add_status(struct zone *z, const char *name, enum dns_status st);

/*
 * Loads "name text..." lines (the text runs to the end of the line);
 * text "!TEMPFAIL", "!NXDOMAIN", "!PERMFAIL" set a status. '#' starts a
 * comment line. 0, or -1 with a message on stderr.
 */
int zone_load_file(struct zone *z, const char *path);

void zone_set_deferred(struct zone *z, bool deferred);

/* Delivers the answers queued in deferred mode; returns how many. */
size_t zone_run(struct zone *z);

/* Queries received so far. */
size_t zone_queries(const struct zone *z);

struct dns_resolver zone_resolver(struct zone *z);

#endif
