/*
 * smtp_admit.c: connections per client address, shared by all workers.
 *
 * A hash table of {address, count} under one mutex. The lock is taken
 * twice per connection (admit, release), never on the per-command or
 * per-message path, and held for a short bucket walk. Chosen over
 * per-worker shares because SO_REUSEPORT spreads one client's connections
 * over workers unevenly, which would make a per-worker share unfair.
 *
 * Never: allocate without a bound (entries exist only while connections
 * do, so the table holds at most limits.max_connections entries).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_int.h"

#define ADMIT_BUCKETS 4096

struct ip_count {
	struct ip_count *next;
	uint32_t count;
	char ip[64];
};

static struct ip_count *buckets[ADMIT_BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % ADMIT_BUCKETS;
}

bool smtp_admit_ip(const char *ip, uint32_t max)
{
	size_t b = hash(ip);
	bool ok = true;
	pthread_mutex_lock(&lock);
	struct ip_count *e = buckets[b];
	while (e && strcmp(e->ip, ip) != 0)
		e = e->next;
	if (!e) {
		e = calloc(1, sizeof *e);
		if (!e) {
			ok = false;
			goto out;
		}
		snprintf(e->ip, sizeof e->ip, "%s", ip);
		e->next = buckets[b];
		buckets[b] = e;
	}
	if (max && e->count >= max)
		ok = false;
	else
		e->count++;
	if (!e->count) {
		buckets[b] = e->next; /* a fresh entry refused (max reached at 0 cannot happen) */
		free(e);
	}
out:
	pthread_mutex_unlock(&lock);
	return ok;
}

void smtp_release_ip(const char *ip)
{
	size_t b = hash(ip);
	pthread_mutex_lock(&lock);
	struct ip_count **pp = &buckets[b];
	while (*pp && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	struct ip_count *e = *pp;
	if (e && --e->count == 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&lock);
}
