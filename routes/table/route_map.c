/*
 * routes/table/route_map.c: the storage under the routing table. An arena (one
 * owner for every string and entry of a table, freed at once) and an
 * open-addressing hash map from byte strings to indexes, so that a lookup
 * costs a few probes whatever the number of routes.
 *
 * The map is written only while a table is built and read-only after, so
 * lookups from many worker threads need no lock. Never: stores a key it
 * does not get from the caller (keys live in the arena), or grows past
 * half full (probe sequences stay short).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"

#define ARENA_CHUNK 65536

struct route_arena_chunk {
	struct route_arena_chunk *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
};

void *route_arena_alloc(struct route_arena *a, size_t size)
{
	size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	struct route_arena_chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		size_t want = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		c = malloc(sizeof *c + want);
		if (!c)
			return NULL;
		c->size = want;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	return p;
}

char *route_arena_strndup(struct route_arena *a, const char *s, size_t len)
{
	char *p = route_arena_alloc(a, len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void route_arena_free(struct route_arena *a)
{
	while (a->head) {
		struct route_arena_chunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

struct route_map_slot {
	uint64_t hash;
	const char *key; /* NULL: empty slot */
	size_t len;
	size_t value;
};

/* FNV-1a with a final mix, so that the low bits used as index are good. */
uint64_t route_map_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static struct route_map_slot *map_find(const struct route_map *m, uint64_t h, const char *key,
                                       size_t len)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct route_map_slot *s = &m->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

size_t route_map_get(const struct route_map *m, const char *key, size_t len)
{
	if (m->cap == 0)
		return 0;
	const struct route_map_slot *s = map_find(m, route_map_hash(key, len), key, len);
	return s->key ? s->value : 0;
}

static int map_grow(struct route_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct route_map_slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return -1;
	struct route_map old = *m;
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++) {
		struct route_map_slot *s = &old.slots[i];
		if (s->key)
			*map_find(m, s->hash, s->key, s->len) = *s;
	}
	free(old.slots);
	return 0;
}

size_t route_map_put(struct route_map *m, const char *key, size_t len, size_t value)
{
	if ((m->n + 1) * 2 > m->cap && map_grow(m) < 0)
		return 0;
	uint64_t h = route_map_hash(key, len);
	struct route_map_slot *s = map_find(m, h, key, len);
	if (s->key)
		return s->value;
	s->hash = h;
	s->key = key;
	s->len = len;
	s->value = value;
	m->n++;
	return value;
}

void route_map_free(struct route_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
