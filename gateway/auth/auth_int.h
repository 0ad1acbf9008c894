/*
 * auth_int.h: what auth.c gathered about one message, shared with
 * auth_results.c (the JSON object, the Authentication-Results field and the
 * verdict). Copies only: nothing points into a callback's result.
 */
#ifndef AUTH_INT_H
#define AUTH_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "arc.h"
#include "auth.h"
#include "dkim.h"
#include "dmarc.h"
#include "spf.h"

#define AUTH_AR_MAX 8192 /* bytes of the Authentication-Results value, and of its field */

struct auth_facts {
	/* SPF: reported when shown */
	bool spf_shown, spf_done;
	enum spf_result spf;
	enum spf_identity spf_identity;
	char spf_domain[256];
	char spf_sender[512];
	char helo[256];
	char spf_explanation[512];
	char spf_reason[256];
	/* DKIM: one entry per signature, top to bottom */
	bool dkim_shown;
	size_t n_dkim;
	struct dkim_sig_result *dkim; /* owned */
	bool *dkim_aligned;           /* owned, n_dkim entries */
	/* ARC */
	bool arc_shown;
	enum arc_status arc;
	bool arc_temporary;
	int arc_instance;
	char arc_reason[128];
	char arc_sealer[256]; /* d= of the newest ARC-Seal, "" when none */
	/* DMARC */
	bool dmarc_shown;
	struct dmarc_outcome dmarc;
	bool arc_override; /* trust_arc (a trusted arc_sealer) turned a DMARC failure into an accept
	                    */
};

/* The Authentication-Results value ("authserv-id; method=result ..."), into buf. */
void auth_results_value(const struct auth_facts *f, const char *authserv_id, char *buf, size_t cap);
/* The folded field "Authentication-Results: ...\r\n" of value, into buf. */
void auth_results_field(const char *value, char *buf, size_t cap);
/* The payload's auth object. NULL when out of memory. */
json_t *auth_results_json(const struct auth_facts *f, const char *ar_value);
/* The verdict under pol. */
void auth_results_verdict(const struct auth_facts *f, const struct auth_policy *pol,
                          struct auth_verdict *v);

#endif
