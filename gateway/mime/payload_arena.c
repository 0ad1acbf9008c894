/*
 * payload_arena.c: the JSON tree of one payload_write(), cut from blocks of
 * its own and given back whole.
 *
 * The tree of a 5 KB message is about 200 small jansson allocations, all
 * made while it is built and all freed together once it is written. glibc's
 * per-thread cache keeps only 7 free chunks of a size, so most of them took
 * malloc's slow, locked path: with GMime's own, malloc and free were a
 * quarter of the gateway's instructions (docs/benchmark.md, fifth pass).
 * While a thread's arena is open, jansson's small allocations on that thread
 * are cut from its blocks and their frees do nothing; parena_close() frees
 * the blocks. Everything else goes to malloc and free as before: other
 * threads, a thread with no arena open, anything over PARENA_SMALL, and
 * everything once PARENA_MAX is cut.
 *
 * Owns: the blocks of the open arena, and jansson's allocation functions
 * (installed once per process, before any thread starts, by pgmime_init()).
 *
 * Must never: hand out memory past PARENA_MAX, or let an arena's memory be
 * freed by free(): parena_free() tells it by its address, so a value cut
 * from the arena must die before parena_close() (payload.c's
 * write_payload() releases the whole tree first).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"

#if defined(__SANITIZE_ADDRESS__)
#define PARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARENA_ASAN 1
#endif
#endif
#ifdef PARENA_ASAN
/*
 * So that the sanitizer build still finds a value used after its free: each
 * value carries its size in front, unused and freed bytes are poisoned.
 */
#include <sanitizer/asan_interface.h>
#define PARENA_HEAD PARENA_ALIGN
#else
#define PARENA_HEAD                       0
#define ASAN_POISON_MEMORY_REGION(p, n)   ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#define PARENA_BLOCK (64 * 1024) /* one block holds a typical message's tree */
#define PARENA_SMALL 1024        /* bigger values (long texts) go to malloc */
#define PARENA_MAX   (1u << 20)  /* then malloc: the arena never holds more */
#define PARENA_ALIGN 16          /* what malloc guarantees, so jansson gets the same */

struct parena_block {
	struct parena_block *next;
	size_t used; /* bytes cut from data[] */
	_Alignas(PARENA_ALIGN) unsigned char data[];
};

static __thread struct parena *open_arena;

static int owns(const struct parena *a, const void *p)
{
	for (const struct parena_block *b = a->blocks; b; b = b->next)
		if ((const unsigned char *)p >= b->data &&
		    (const unsigned char *)p < b->data + PARENA_BLOCK)
			return 1;
	return 0;
}

static void *cut(struct parena *a, size_t want)
{
	size_t size = PARENA_HEAD + ((want + PARENA_ALIGN - 1) & ~(size_t)(PARENA_ALIGN - 1));
	struct parena_block *b = a->blocks;
	if (!b || PARENA_BLOCK - b->used < size) {
		if (a->total + PARENA_BLOCK > PARENA_MAX)
			return NULL;
		b = malloc(sizeof(*b) + PARENA_BLOCK);
		if (!b)
			return NULL;
		b->next = a->blocks;
		b->used = 0;
		a->blocks = b;
		a->total += PARENA_BLOCK;
		ASAN_POISON_MEMORY_REGION(b->data, PARENA_BLOCK);
	}
	unsigned char *p = b->data + b->used;
	b->used += size;
	a->cut += size;
	ASAN_UNPOISON_MEMORY_REGION(p, PARENA_HEAD + want);
	if (PARENA_HEAD)
		memcpy(p, &want, sizeof(want));
	return p + PARENA_HEAD;
}

static void *parena_malloc(size_t size)
{
	struct parena *a = open_arena;
	if (a && size && size <= PARENA_SMALL) {
		void *p = cut(a, size);
		if (p)
			return p;
	}
	return malloc(size);
}

static void parena_free(void *p)
{
	struct parena *a = open_arena;
	if (p && a && owns(a, p)) { /* parena_close() frees the block */
		if (PARENA_HEAD) {
			size_t n;
			memcpy(&n, (unsigned char *)p - PARENA_HEAD, sizeof(n));
			ASAN_POISON_MEMORY_REGION(p, n);
		}
		return;
	}
	free(p);
}

void parena_install(void)
{
	json_set_alloc_funcs(parena_malloc, parena_free);
}

void parena_open(struct parena *a)
{
	a->blocks = NULL;
	a->total = 0;
	a->cut = 0;
	a->active = !open_arena; /* a nested open shares nothing: it stays closed */
	if (a->active)
		open_arena = a;
}

void parena_close(struct parena *a)
{
	if (!a->active)
		return;
	open_arena = NULL;
	a->active = false;
	while (a->blocks) {
		struct parena_block *b = a->blocks;
		a->blocks = b->next;
		ASAN_UNPOISON_MEMORY_REGION(b->data, PARENA_BLOCK);
		free(b);
	}
	a->total = 0;
}
