/*
 * smtp_admit.c: connections per client address, shared by all workers.
 *
 * A hash table of {address, count} under one mutex. IPv6 clients are
 * counted per limits.ipv6_prefix_per_ip (a /64 is one subscriber's
 * network: counting whole addresses would let one client take them all). The lock is taken
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_admit.h"

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

void smtp_admit_key(const char *ip, uint32_t v6_prefix, char *out, size_t outlen)
{
	struct in6_addr a;
	char txt[INET6_ADDRSTRLEN];
	if (v6_prefix >= 128 || inet_pton(AF_INET6, ip, &a) != 1 ||
	    !inet_ntop(AF_INET6, &a, txt, sizeof txt)) {
		snprintf(out, outlen, "%s", ip);
		return;
	}
	for (uint32_t bit = v6_prefix; bit < 128; bit++)
		a.s6_addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	inet_ntop(AF_INET6, &a, txt, sizeof txt);
	snprintf(out, outlen, "%s/%u", txt, v6_prefix);
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
