/*
 * dns_cache.c: the resolver's answer cache. Bounded to a fixed number of
 * entries and of bytes (an answer over TCP can be 64 KB), indexed by a
 * hash of (type, name), evicting the least recently used entry; each entry expires at the time
 * dns.c computed from the TTLs (RFC 1035 section 3.2.1, negative answers RFC 2308 section 5).
 *
 * Never grows past its capacity; never frees an answer somebody still holds
 * (answers are reference-counted); knows nothing of sockets or clocks.
 */
#include <stdlib.h>
#include <string.h>

#include "dns_int.h"

struct dns_entry {
	struct dns_entry *hnext;       /* hash chain */
	struct dns_entry *prev, *next; /* LRU list, most recent first */
	uint64_t expires;
	enum dns_type type;
	struct dns_answer *answer;
	char name[DNS_NAME_MAX + 1];
};

struct dns_cache {
	uint32_t capacity, count;
	size_t max_bytes, bytes; /* entries with their answers */
	size_t nbuckets;         /* a power of two */
	struct dns_entry **buckets;
	struct dns_entry *head, *tail;
};

static size_t cache_hash(const char *name, enum dns_type type)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)type; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 29));
}

/* What an entry costs against max_bytes. */
static size_t entry_bytes(const struct dns_answer *a)
{
	return sizeof(struct dns_entry) + a->bytes;
}

struct dns_cache *dns_cache_new(uint32_t capacity, size_t max_bytes)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->capacity = capacity;
	c->max_bytes = max_bytes;
	c->nbuckets = 16;
	while (c->nbuckets < capacity && c->nbuckets < ((size_t)1 << 30))
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	return c;
}

static void lru_unlink(struct dns_cache *c, struct dns_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct dns_cache *c, struct dns_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static struct dns_entry **cache_slot(struct dns_cache *c, const char *name, enum dns_type type)
{
	struct dns_entry **pp = &c->buckets[cache_hash(name, type) & (c->nbuckets - 1)];
	while (*pp && ((*pp)->type != type || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static void cache_remove(struct dns_cache *c, struct dns_entry *e)
{
	struct dns_entry **pp = cache_slot(c, e->name, e->type);
	*pp = e->hnext;
	lru_unlink(c, e);
	c->bytes -= entry_bytes(e->answer);
	dns_answer_unref(e->answer);
	free(e);
	c->count--;
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	while (c->head)
		cache_remove(c, c->head);
	free(c->buckets);
	free(c);
}

struct dns_answer *dns_cache_get(struct dns_cache *c, const char *name, enum dns_type type,
                                 uint64_t now, uint64_t *left_ms)
{
	struct dns_entry *e = *cache_slot(c, name, type);
	if (!e)
		return NULL;
	if (e->expires <= now) {
		cache_remove(c, e);
		return NULL;
	}
	lru_unlink(c, e);
	lru_push(c, e);
	*left_ms = e->expires - now;
	dns_answer_ref(e->answer);
	return e->answer;
}

unsigned dns_cache_put(struct dns_cache *c, const char *name, enum dns_type type,
                       struct dns_answer *a, uint64_t expires)
{
	unsigned evicted = 0;
	struct dns_entry **pp, *e;

	if (c->capacity == 0 || strlen(name) > DNS_NAME_MAX)
		return 0;
	if (*(pp = cache_slot(c, name, type)))
		cache_remove(c, *pp); /* replaced: counted afresh below */
	if (entry_bytes(a) > c->max_bytes)
		return 0; /* larger than the whole cache: not kept */
	while ((c->count >= c->capacity || c->bytes + entry_bytes(a) > c->max_bytes) && c->tail) {
		cache_remove(c, c->tail);
		evicted++;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return evicted;
	memcpy(e->name, name, strlen(name) + 1);
	e->type = type;
	e->expires = expires;
	dns_answer_ref(a);
	e->answer = a;
	pp = cache_slot(c, name, type); /* evictions may have changed the chain */
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e);
	c->count++;
	c->bytes += entry_bytes(a);
	return evicted;
}

uint32_t dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}

size_t dns_cache_bytes(const struct dns_cache *c)
{
	return c->bytes;
}
