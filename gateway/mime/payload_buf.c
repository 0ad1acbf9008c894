/*
 * payload_buf.c: the bounded byte buffer every file of gateway/mime/ writes
 * into (STYLE 12: every buffer gets its maximum when it is created).
 *
 * The bottom of the module: it calls no other file of it, so that every
 * stage can use it without a call circle (issue 12).
 *
 * Must never: grow a buffer past its ceiling (b->max), or leave it in a
 * state that pbuf_free() cannot release.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"

int pbuf_reserve(struct pbuf *b, size_t n)
{
	if (n <= b->cap - b->len)
		return 0;
	if (n > b->max - b->len)
		return -1;
	size_t want = b->len + n;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (cap > b->max)
		cap = b->max;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int pbuf_add(struct pbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (pbuf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void pbuf_free(struct pbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/*
 * items (an array of *cap elements of size bytes, n used) with room for one
 * more: itself, or moved and doubled from first elements. NULL when out of
 * memory or past what size_t counts; items is then unchanged and still
 * the caller's.
 */
void *parray_room(void *items, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return items;
	size_t want = *cap ? *cap * 2 : first;
	if (want < *cap || want > SIZE_MAX / size)
		return NULL;
	void *p = realloc(items, want * size);
	if (p)
		*cap = want;
	return p;
}
