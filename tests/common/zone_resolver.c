/*
 * zone_resolver.c: the in-memory resolver of zone_resolver.h. Bounded: at
 * most ZONE_MAX_RECORDS records, ZONE_MAX_PENDING queued answers and
 * ZONE_MAX_LOG logged queries. Answers are built per query and freed after
 * the callback, as dns.h promises.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"
#include "zone_resolver.h"

enum rec_kind {
	REC_DATA,   /* a record of rec.type */
	REC_NAME,   /* the name exists */
	REC_STATUS, /* rec.status for rec.type, or for every type when rec.type is 0 */
};

struct record {
	char *name; /* without a trailing dot */
	enum rec_kind kind;
	enum dns_type type;
	enum dns_status status;
	struct dns_rr rr; /* REC_DATA; owns u.txt.data and u.mx.host */
};

struct dns_query {
	char *name;
	enum dns_type type;
	dns_cb cb;
	void *arg;
	bool live; /* false once cancelled */
};

struct zone {
	struct record *r;
	size_t n, cap;
	bool deferred, tempfail;
	struct dns_query **pending;
	size_t npending;
	size_t queries;
	char *log[ZONE_MAX_LOG];
	size_t n_log;
};

struct zone *zone_new(void)
{
	return calloc(1, sizeof(struct zone));
}

static void query_free(struct dns_query *q)
{
	free(q->name);
	free(q);
}

void zone_free(struct zone *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->r[i].name);
		if (z->r[i].kind == REC_DATA && z->r[i].type == DNS_T_TXT)
			free(z->r[i].rr.u.txt.data);
		if (z->r[i].kind == REC_DATA && z->r[i].type == DNS_T_MX)
			free(z->r[i].rr.u.mx.host);
	}
	for (size_t i = 0; i < z->npending; i++)
		query_free(z->pending[i]);
	zone_log_clear(z);
	free(z->pending);
	free(z->r);
	free(z);
}

static char *dup_name(const char *name)
{
	size_t n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	return strndup(name, n);
}

/* A new record for name (kind and type set), or NULL when full or out of memory. */
static struct record *add(struct zone *z, const char *name, enum rec_kind kind, enum dns_type type)
{
	struct record *r;

	if (z->n == ZONE_MAX_RECORDS)
		return NULL;
	struct record *grown = grow_array(z->r, &z->cap, z->n, sizeof(*grown), 64);
	if (!grown)
		return NULL;
	z->r = grown;
	r = &z->r[z->n];
	memset(r, 0, sizeof(*r));
	r->name = dup_name(name);
	if (!r->name)
		return NULL;
	r->kind = kind;
	r->type = type;
	z->n++;
	return r;
}

int zone_add_txt(struct zone *z, const char *name, const char *txt, size_t len)
{
	char *data = malloc(len + 1);
	struct record *r = data ? add(z, name, REC_DATA, DNS_T_TXT) : NULL;

	if (!r) {
		free(data);
		return -1;
	}
	memcpy(data, txt, len);
	data[len] = '\0';
	r->rr.u.txt.data = data;
	r->rr.u.txt.len = len;
	return 0;
}

int zone_add_addr(struct zone *z, const char *name, enum dns_type type, const char *addr)
{
	struct dns_rr rr;
	struct record *r;

	if (type == DNS_T_A ? inet_pton(AF_INET, addr, &rr.u.a) != 1
	                    : (type != DNS_T_AAAA || inet_pton(AF_INET6, addr, &rr.u.aaaa) != 1))
		return -1;
	if (!(r = add(z, name, REC_DATA, type)))
		return -1;
	r->rr = rr;
	return 0;
}

int zone_add_mx(struct zone *z, const char *name, uint16_t preference, const char *host)
{
	char *h = strdup(host);
	struct record *r = h ? add(z, name, REC_DATA, DNS_T_MX) : NULL;

	if (!r) {
		free(h);
		return -1;
	}
	r->rr.u.mx.preference = preference;
	r->rr.u.mx.host = h;
	return 0;
}

int zone_add_name(struct zone *z, const char *name)
{
	return add(z, name, REC_NAME, 0) ? 0 : -1;
}

int zone_add_type_status(struct zone *z, const char *name, enum dns_type type, enum dns_status st)
{
	struct record *r = add(z, name, REC_STATUS, type);

	if (!r)
		return -1;
	r->status = st;
	return 0;
}

int zone_add_status(struct zone *z, const char *name, enum dns_status st)
{
	return zone_add_type_status(z, name, 0, st);
}

static int load_line(struct zone *z, char *line)
{
	size_t n = strlen(line);
	char *sp;

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0 || line[0] == '#')
		return 0;
	sp = strpbrk(line, " \t");
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

void zone_set_tempfail(struct zone *z, bool tempfail)
{
	z->tempfail = tempfail;
}

size_t zone_queries(const struct zone *z)
{
	return z->queries;
}

const char *zone_log(const struct zone *z, size_t i)
{
	return i < z->n_log ? z->log[i] : NULL;
}

void zone_log_clear(struct zone *z)
{
	for (size_t i = 0; i < z->n_log; i++)
		free(z->log[i]);
	z->n_log = 0;
}

const char *zone_type_name(enum dns_type t)
{
	switch (t) {
	case DNS_T_A:
		return "A";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_PTR:
		return "PTR";
	}
	return "?";
}

int zone_type_parse(const char *s, enum dns_type *t)
{
	static const enum dns_type all[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, zone_type_name(all[i])) == 0) {
			*t = all[i];
			return 0;
		}
	return -1;
}

static bool same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* The status of name/type and, for DNS_OK, its records in *rr (caller frees). */
static enum dns_status lookup(const struct zone *z, const char *name, enum dns_type type,
                              struct dns_rr **rr, size_t *n)
{
	bool exists = false;

	*n = 0;
	*rr = NULL;
	if (z->tempfail)
		return DNS_TEMPFAIL;
	for (size_t i = 0; i < z->n; i++) {
		const struct record *r = &z->r[i];

		if (!same_name(r->name, name))
			continue;
		exists = true;
		if (r->kind == REC_STATUS && (r->type == 0 || r->type == type)) {
			free(*rr);
			*rr = NULL;
			*n = 0;
			return r->status;
		}
		if (r->kind == REC_DATA && r->type == type) {
			struct dns_rr *g = realloc(*rr, (*n + 1) * sizeof(*g));

			if (!g) {
				free(*rr);
				*rr = NULL;
				*n = 0;
				return DNS_TEMPFAIL;
			}
			*rr = g;
			g[(*n)++] = r->rr;
		}
	}
	if (!exists)
		return DNS_NXDOMAIN;
	return *n ? DNS_OK : DNS_NODATA;
}

static void answer(struct zone *z, const char *name, enum dns_type type, dns_cb cb, void *arg)
{
	struct dns_rr *rr;
	struct dns_result res = {.type = type, .name = name, .ttl = 300};

	res.status = lookup(z, name, type, &rr, &res.n);
	res.rr = rr;
	cb(arg, &res);
	free(rr);
}

static void log_query(struct zone *z, const char *name, enum dns_type type)
{
	size_t n = strlen(name) + 8;

	z->queries++;
	if (z->n_log == ZONE_MAX_LOG || !(z->log[z->n_log] = malloc(n)))
		return;
	snprintf(z->log[z->n_log++], n, "%s/%s", name, zone_type_name(type));
}

static struct dns_query *zone_query(void *impl, const char *name, enum dns_type type, dns_cb cb,
                                    void *arg)
{
	struct zone *z = impl;
	struct dns_query *q, **g;

	log_query(z, name, type);
	if (!z->deferred || z->npending == ZONE_MAX_PENDING) {
		answer(z, name, type, cb, arg);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	g = q ? realloc(z->pending, (z->npending + 1) * sizeof(*g)) : NULL;
	if (!g || !(q->name = strdup(name))) {
		struct dns_result res = {.status = DNS_TEMPFAIL, .type = type, .name = name};

		free(q);
		if (g)
			z->pending = g;
		cb(arg, &res);
		return NULL;
	}
	z->pending = g;
	q->type = type;
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

size_t zone_run_max(struct zone *z, size_t max)
{
	size_t done = 0;

	/* first in, first out; an answer may queue new queries behind the rest */
	while (z->npending && done < max) {
		struct dns_query *q = z->pending[0];

		memmove(z->pending, z->pending + 1, --z->npending * sizeof(*z->pending));
		if (q->live) {
			answer(z, q->name, q->type, q->cb, q->arg);
			done++;
		}
		query_free(q);
	}
	return done;
}

size_t zone_run(struct zone *z)
{
	return zone_run_max(z, SIZE_MAX);
}

static const struct dns_ops zone_ops = {.query = zone_query, .cancel = zone_cancel};

struct dns_resolver zone_resolver(struct zone *z)
{
	return (struct dns_resolver){.ops = &zone_ops, .impl = z};
}
