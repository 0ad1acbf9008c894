/*
 * zone_resolver.c: the in-memory resolver of zone_resolver.h. Names are
 * compared case-insensitively, a trailing dot ignored. Bounded: at most
 * ZONE_MAX_RECORDS records and ZONE_MAX_PENDING queued answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zone_resolver.h"

#define ZONE_MAX_RECORDS 4096
#define ZONE_MAX_PENDING 256
#define ZONE_MAX_RR      16

struct record {
	char *name;
	char *txt;
	size_t len;
	enum dns_status status; /* DNS_OK for a TXT record */
};

struct dns_query {
	char name[300];
	dns_cb cb;
	void *arg;
	bool live;
};

struct zone {
	struct record *r;
	size_t n;
	bool deferred;
	struct dns_query *pending[ZONE_MAX_PENDING];
	size_t npending;
	size_t queries;
};

struct zone *zone_new(void)
{
	struct zone *z = calloc(1, sizeof(*z));

	if (z)
		z->r = calloc(ZONE_MAX_RECORDS, sizeof(*z->r));
	if (z && !z->r) {
		free(z);
		return NULL;
	}
	return z;
}

void zone_free(struct zone *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->r[i].name);
		free(z->r[i].txt);
	}
	for (size_t i = 0; i < z->npending; i++)
		free(z->pending[i]);
	free(z->r);
	free(z);
}

static char *dup_name(const char *name)
{
	size_t n = strlen(name);
	char *d;

	if (n && name[n - 1] == '.')
		n--;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, name, n);
		d[n] = '\0';
	}
	return d;
}

static int add(struct zone *z, const char *name, const char *txt, size_t len, enum dns_status st)
{
	struct record *r;

	if (z->n == ZONE_MAX_RECORDS)
		return -1;
	r = &z->r[z->n];
	r->name = dup_name(name);
	r->txt = malloc(len + 1);
	if (!r->name || !r->txt) {
		free(r->name);
		free(r->txt);
		return -1;
	}
	memcpy(r->txt, txt, len);
	r->txt[len] = '\0';
	r->len = len;
	r->status = st;
	z->n++;
	return 0;
}

int zone_add_txt(struct zone *z, const char *name, const char *txt, size_t len)
{
	return add(z, name, txt, len, DNS_OK);
}

int zone_add_status(struct zone *z, const char *name, enum dns_status st)
{
	return add(z, name, "", 0, st);
}

static int load_line(struct zone *z, char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0 || line[0] == '#')
		return 0;
	char *sp = strpbrk(line, " \t");
	if (!sp)
		return -1;
	*sp++ = '\0';
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (strcmp(sp, "!TEMPFAIL") == 0)
		return zone_add_status(z, line, DNS_TEMPFAIL);
	if (strcmp(sp, "!NXDOMAIN") == 0)
		return zone_add_status(z, line, DNS_NXDOMAIN);
	if (strcmp(sp, "!PERMFAIL") == 0)
		return zone_add_status(z, line, DNS_PERMFAIL);
	return zone_add_txt(z, line, sp, strlen(sp));
}

int zone_load_file(struct zone *z, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0, lineno = 0;

	if (!f) {
		perror(path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (load_line(z, line) < 0) {
			fprintf(stderr, "%s:%d: bad zone line\n", path, lineno);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

void zone_set_deferred(struct zone *z, bool deferred)
{
	z->deferred = deferred;
}

size_t zone_queries(const struct zone *z)
{
	return z->queries;
}

static bool same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static void answer(struct zone *z, const char *name, dns_cb cb, void *arg)
{
	struct dns_rr rr[ZONE_MAX_RR];
	struct dns_result res = {
	    .status = DNS_NXDOMAIN, .type = DNS_T_TXT, .name = name, .rr = rr, .ttl = 300};

	for (size_t i = 0; i < z->n; i++) {
		if (!same_name(z->r[i].name, name))
			continue;
		if (z->r[i].status != DNS_OK) {
			res.status = z->r[i].status;
			res.n = 0;
			break;
		}
		if (res.n < ZONE_MAX_RR) {
			rr[res.n].u.txt.data = z->r[i].txt;
			rr[res.n].u.txt.len = z->r[i].len;
			res.n++;
			res.status = DNS_OK;
		}
	}
	cb(arg, &res);
}

static struct dns_query *zone_query(void *impl, const char *name, enum dns_type type, dns_cb cb,
                                    void *arg)
{
	struct zone *z = impl;
	struct dns_query *q;

	z->queries++;
	if (type != DNS_T_TXT || !z->deferred || z->npending == ZONE_MAX_PENDING) {
		answer(z, name, cb, arg);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		struct dns_result res = {.status = DNS_TEMPFAIL, .type = type, .name = name};
		cb(arg, &res);
		return NULL;
	}
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->cb = cb;
	q->arg = arg;
	q->live = true;
	z->pending[z->npending++] = q;
	return q;
}

static void zone_cancel(void *impl, struct dns_query *q)
{
	(void)impl;
	q->live = false;
}

size_t zone_run(struct zone *z)
{
	size_t done = 0;

	/* answers may start new queries: take the current batch first */
	while (z->npending) {
		struct dns_query *batch[ZONE_MAX_PENDING];
		size_t nb = z->npending;
		memcpy(batch, z->pending, nb * sizeof(*batch));
		z->npending = 0;
		for (size_t i = 0; i < nb; i++) {
			if (batch[i]->live) {
				answer(z, batch[i]->name, batch[i]->cb, batch[i]->arg);
				done++;
			}
			free(batch[i]);
		}
	}
	return done;
}

static const struct dns_ops zone_ops = {.query = zone_query, .cancel = zone_cancel};

struct dns_resolver zone_resolver(struct zone *z)
{
	return (struct dns_resolver){.ops = &zone_ops, .impl = z};
}
