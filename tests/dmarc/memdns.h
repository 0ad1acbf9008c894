/*
 * memdns.h: an in-memory implementation of dns.h for the DMARC and auth
 * tests. The zone is a JSON object in the format of
 * testdata/dmarc/cases.yaml: name -> {"TXT": [[chunk, ...], ...],
 * "A": ["192.0.2.1"], "AAAA": [...], "MX": [[pref, "host"]]}; an absent
 * name answers NXDOMAIN, a present name without the type NODATA; a name
 * with "TEMPFAIL": ["TXT", ...] answers DNS_TEMPFAIL for those types.
 *
 * Two ways to answer: at once, inside dns_query() (a cache hit), or
 * deferred until memdns_pump() (a real resolver). Every query is logged.
 */
#ifndef MEMDNS_H
#define MEMDNS_H

#include <jansson.h>
#include <stdbool.h>

#include "dns.h"

#define MEMDNS_LOG_MAX 256

struct memdns {
	json_t *zone;              /* borrowed */
	bool deferred;             /* answer in memdns_pump(), not inside dns_query() */
	bool tempfail;             /* every query fails with DNS_TEMPFAIL */
	char *log[MEMDNS_LOG_MAX]; /* "name/TYPE" of every query, in order */
	size_t n_log;
	struct memdns_q *queue; /* deferred queries, oldest first */
	struct dns_resolver resolver;
};

void memdns_init(struct memdns *d, json_t *zone);
/* Answers deferred queries (and those they cause) until none is left or max ran. */
size_t memdns_pump(struct memdns *d, size_t max);
void memdns_free(struct memdns *d);

#endif
