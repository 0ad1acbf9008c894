/*
 * zone_json.h: fills a zone (zone_resolver.h) from a JSON object in the
 * format of testdata/dmarc/cases.yaml: name -> {"TXT": [[chunk, ...], ...],
 * "A": ["192.0.2.1"], "AAAA": [...], "MX": [[pref, "host"]],
 * "TEMPFAIL": ["TXT", ...]}. A name with none of them exists without
 * records; "TEMPFAIL" makes the listed types answer DNS_TEMPFAIL.
 */
#ifndef ZONE_JSON_H
#define ZONE_JSON_H

#include <jansson.h>

#include "zone_resolver.h"

/* 0, or -1 with a message on stderr for a shape it does not know. */
int zone_load_json(struct zone *z, const json_t *zone);

/*
 * The zone of a case of the DMARC and auth drivers: "dns" (a zone as
 * above, none for an empty one), "dns_error" (any string: every query
 * answers DNS_TEMPFAIL), "deferred" (true: answers wait for zone_run()).
 * NULL (reported on stderr) for a bad zone or out of memory.
 */
struct zone *zone_json_case(const json_t *c);

/*
 * A case of those drivers read from stdin (one JSON object), and its zone
 * in *z. NULL, said on stderr under prog's name, when the input is not
 * JSON or its zone cannot be served. The caller frees both.
 */
json_t *zone_json_read_case(const char *prog, struct zone **z);

#endif
