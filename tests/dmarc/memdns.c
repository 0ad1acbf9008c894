/*
 * memdns.c: dns.h over a JSON zone, for tests (see memdns.h). Answers are
 * built per query and freed after the callback, as dns.h promises.
 * Must never touch the network.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memdns.h"

struct memdns_q {
	struct memdns *d;
	char *name;
	enum dns_type type;
	dns_cb cb;
	void *arg;
	struct memdns_q *next;
};

static const char *type_name(enum dns_type t)
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

static json_t *lookup_name(json_t *zone, const char *name)
{
	const char *key;
	json_t *v;
	json_object_foreach(zone, key, v)
	{
		size_t kl = strlen(key), nl = strlen(name);
		if (kl && key[kl - 1] == '.')
			kl--;
		if (nl && name[nl - 1] == '.')
			nl--;
		if (kl == nl && strncasecmp(key, name, kl) == 0)
			return v;
	}
	return NULL;
}

/* Builds the rr array for one type; returns the count (0: none). */
static size_t build_rrs(json_t *recs, enum dns_type type, struct dns_rr **out)
{
	size_t n = json_array_size(recs), i;
	struct dns_rr *rr = calloc(n ? n : 1, sizeof(*rr));
	*out = rr;
	for (i = 0; i < n; i++) {
		json_t *r = json_array_get(recs, i);
		if (type == DNS_T_TXT) {
			size_t len = 0, k;
			json_t *c;
			json_array_foreach(r, k, c) len += json_string_length(c);
			rr[i].u.txt.data = calloc(1, len + 1);
			rr[i].u.txt.len = len;
			len = 0;
			json_array_foreach(r, k, c)
			{
				memcpy(rr[i].u.txt.data + len, json_string_value(c),
				       json_string_length(c));
				len += json_string_length(c);
			}
		} else if (type == DNS_T_A) {
			inet_pton(AF_INET, json_string_value(r), &rr[i].u.a);
		} else if (type == DNS_T_AAAA) {
			inet_pton(AF_INET6, json_string_value(r), &rr[i].u.aaaa);
		} else if (type == DNS_T_MX) {
			rr[i].u.mx.preference = (uint16_t)json_integer_value(json_array_get(r, 0));
			rr[i].u.mx.host = (char *)json_string_value(json_array_get(r, 1));
		}
	}
	return n;
}

static void answer(struct memdns *d, const char *name, enum dns_type type, dns_cb cb, void *arg)
{
	struct dns_result res = {.type = type, .name = name, .ttl = 300};
	struct dns_rr *rr = NULL;
	json_t *node = lookup_name(d->zone, name);
	json_t *recs = node ? json_object_get(node, type_name(type)) : NULL;
	json_t *tf = node ? json_object_get(node, "TEMPFAIL") : NULL;
	size_t i;
	json_t *t;
	json_array_foreach(tf, i, t) if (json_is_string(t) &&
	                                 strcmp(json_string_value(t), type_name(type)) == 0)
	    res.status = DNS_TEMPFAIL;
	if (d->tempfail || res.status == DNS_TEMPFAIL)
		res.status = DNS_TEMPFAIL;
	else if (!node)
		res.status = DNS_NXDOMAIN;
	else if (!recs || json_array_size(recs) == 0)
		res.status = DNS_NODATA;
	else
		res.status = DNS_OK;
	if (res.status == DNS_OK)
		res.n = build_rrs(recs, type, &rr);
	res.rr = rr;
	cb(arg, &res);
	if (type == DNS_T_TXT)
		for (size_t k = 0; k < res.n; k++)
			free(rr[k].u.txt.data);
	free(rr);
}

static struct dns_query *mem_query(void *impl, const char *name, enum dns_type type, dns_cb cb,
                                   void *arg)
{
	struct memdns *d = impl;
	if (d->n_log < MEMDNS_LOG_MAX) {
		size_t n = strlen(name) + 8;
		d->log[d->n_log] = malloc(n);
		snprintf(d->log[d->n_log++], n, "%s/%s", name, type_name(type));
	}
	if (!d->deferred) {
		answer(d, name, type, cb, arg);
		return NULL;
	}
	struct memdns_q *q = calloc(1, sizeof(*q)), **tail = &d->queue;
	q->d = d;
	q->name = strdup(name);
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	while (*tail)
		tail = &(*tail)->next;
	*tail = q;
	return (struct dns_query *)q;
}

static void mem_cancel(void *impl, struct dns_query *handle)
{
	struct memdns *d = impl;
	for (struct memdns_q **p = &d->queue; *p; p = &(*p)->next) {
		if ((struct dns_query *)*p == handle) {
			struct memdns_q *q = *p;
			*p = q->next;
			free(q->name);
			free(q);
			return;
		}
	}
}

static const struct dns_ops mem_ops = {mem_query, mem_cancel};

void memdns_init(struct memdns *d, json_t *zone)
{
	memset(d, 0, sizeof(*d));
	d->zone = zone;
	d->resolver.ops = &mem_ops;
	d->resolver.impl = d;
}

size_t memdns_pump(struct memdns *d, size_t max)
{
	size_t n = 0;
	while (d->queue && n < max) {
		struct memdns_q *q = d->queue;
		d->queue = q->next;
		answer(d, q->name, q->type, q->cb, q->arg);
		free(q->name);
		free(q);
		n++;
	}
	return n;
}

void memdns_free(struct memdns *d)
{
	while (d->queue) {
		struct memdns_q *q = d->queue;
		d->queue = q->next;
		free(q->name);
		free(q);
	}
	for (size_t i = 0; i < d->n_log; i++)
		free(d->log[i]);
	d->n_log = 0;
}
