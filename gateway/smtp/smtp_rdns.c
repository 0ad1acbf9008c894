/*
 * smtp_rdns.c: the client's forward-confirmed reverse DNS name (FCrDNS,
 * RFC 8601 section 3 "iprev"), envelope.client.reverse_name of the payload.
 *
 * When the client's address is final (after PROXY), one PTR query starts
 * on the worker's resolver (gateway/dns: cached, coalesced, bounded by
 * [dns] timeout and tries). Each name it gives, up to [dns]
 * reverse_max_names, is looked up forward (A or AAAA); the first whose
 * addresses include the client's is the verified name. Anything else (no
 * PTR, no match, a DNS failure, the lookup still running at the end of
 * data) leaves it NULL: there is no lenience, an unconfirmed name is never
 * reported. A loopback client (this host) is not looked up.
 *
 * Never: delay a session (nothing waits for this), report a name that was
 * not confirmed, or let a callback outlive its session (the query in
 * flight is cancelled when the session is freed).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "smtp_session.h"

#define RDNS_NAME_MAX 253 /* a host name's presentation length, without the trailing dot */

/*
 * Writes the PTR owner name of the textual address ip; -1 when ip is not an
 * address or is loopback (this host: its name says nothing of a sender, and
 * tests on loopback must not ask the system's resolver).
 */
static int ptr_name(const char *ip, char *out, size_t cap, int *family)
{
	unsigned char a[16];
	static const char hex[] = "0123456789abcdef";
	if (inet_pton(AF_INET, ip, a) == 1) {
		*family = AF_INET;
		if (a[0] == 127)
			return -1;
		snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return 0;
	}
	static const unsigned char loop6[16] = {[15] = 1};
	if (inet_pton(AF_INET6, ip, a) != 1 || cap < 16 * 4 + 9 || !memcmp(a, loop6, 16))
		return -1;
	*family = AF_INET6;
	size_t o = 0;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", 9);
	return 0;
}

static void rdns_query(struct smtp_session *s, const char *name, enum dns_type t);

static bool address_matches(const struct smtp_session *s, const struct dns_result *res)
{
	unsigned char a[16];
	if (inet_pton(s->rdns.family, s->ip, a) != 1)
		return false;
	for (size_t i = 0; i < res->n; i++) {
		const struct dns_rr *rr = &res->rr[i];
		if (res->type == DNS_T_A && !memcmp(&rr->u.a, a, 4))
			return true;
		if (res->type == DNS_T_AAAA && !memcmp(&rr->u.aaaa, a, 16))
			return true;
	}
	return false;
}

static void names_free(struct smtp_rdns *r)
{
	for (uint32_t i = 0; r->names && i < r->n_names; i++)
		free(r->names[i]);
	free(r->names);
	r->names = NULL;
	r->n_names = r->next = 0;
}

/* The next PTR name to confirm, or the end of the lookup (no name confirmed). */
static void next_candidate(struct smtp_session *s)
{
	struct smtp_rdns *r = &s->rdns;
	if (r->next >= r->n_names) {
		smtp_log(GW_LOG_DEBUG, s->id, "reverse name of %s: none confirmed", s->ip);
		names_free(r);
		return;
	}
	rdns_query(s, r->names[r->next++], r->family == AF_INET ? DNS_T_A : DNS_T_AAAA);
}

static void on_forward(struct smtp_session *s, const struct dns_result *res)
{
	struct smtp_rdns *r = &s->rdns;
	if (res->status == DNS_OK && address_matches(s, res)) {
		r->verified = r->names[r->next - 1];
		r->names[r->next - 1] = NULL;
		names_free(r);
		smtp_log(GW_LOG_DEBUG, s->id, "reverse name of %s: %s", s->ip, r->verified);
		return;
	}
	next_candidate(s);
}

/* Keeps the PTR names (lower case, no trailing dot), at most reverse_max_names. */
static void on_ptr(struct smtp_session *s, const struct dns_result *res)
{
	struct smtp_rdns *r = &s->rdns;
	uint32_t max = s->cfg->dns.reverse_max_names;
	if (res->status == DNS_OK && res->n)
		r->names = calloc(res->n < max ? res->n : max, sizeof *r->names);
	for (size_t i = 0; r->names && i < res->n && r->n_names < max; i++) {
		const char *p = res->rr[i].u.ptr;
		size_t n = p ? strnlen(p, RDNS_NAME_MAX + 1) : 0;
		if (n && p[n - 1] == '.')
			n--;
		char *name = n && n <= RDNS_NAME_MAX ? strndup(p, n) : NULL;
		for (size_t k = 0; name && k < n; k++)
			name[k] = (char)tolower((unsigned char)name[k]);
		if (name)
			r->names[r->n_names++] = name;
	}
	next_candidate(s);
}

static void on_answer(void *arg, const struct dns_result *res)
{
	struct smtp_session *s = arg;
	s->rdns.q = NULL; /* answered: nothing left to cancel */
	if (res->type == DNS_T_PTR)
		on_ptr(s, res);
	else
		on_forward(s, res);
}

static void rdns_query(struct smtp_session *s, const char *name, enum dns_type t)
{
	/* An answer from the cache runs on_answer inside dns_query, which may start the next
	 * query: only a handle returned for a query still in flight is kept. */
	struct dns_query *q = dns_query(s->w->dns, name, t, on_answer, s);
	if (q)
		s->rdns.q = q;
}

void smtp_rdns_start(struct smtp_session *s)
{
	char name[96];
	if (!s->cfg->dns.reverse_lookup || !s->w->dns || s->rdns.started)
		return;
	s->rdns.started = true;
	if (ptr_name(s->ip, name, sizeof name, &s->rdns.family))
		return;
	rdns_query(s, name, DNS_T_PTR);
}

void smtp_rdns_free(struct smtp_session *s)
{
	if (s->rdns.q)
		dns_cancel(s->w->dns, s->rdns.q);
	s->rdns.q = NULL;
	names_free(&s->rdns);
	free(s->rdns.verified);
	s->rdns.verified = NULL;
}
