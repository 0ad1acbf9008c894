/*
 * grow.h: the one way an array of smtp-gateway gets room for one more
 * element: its capacity doubles, from a first capacity the caller picks,
 * and the byte count is checked before realloc(). Used by the DNS socket
 * list, the form-data parts, the TOML tree, the routing table and the
 * tests' in-memory zone.
 *
 * Header-only (static inline) for the reason codec.h is: its users sit in
 * module libraries that do not all link one another.
 *
 * Must never: lose the old array (on failure it is still the caller's,
 * unchanged), or let capacity * size wrap.
 */
#ifndef GROW_H
#define GROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * base itself when it has room for element n (n < *cap); else base
 * reallocated to twice *cap (first when *cap is 0), *cap updated. NULL when
 * out of memory or the size would overflow: base is then untouched and
 * still the caller's. The caller assigns the result, so no pointer is
 * written through a void ** of the wrong type.
 */
static inline void *grow_array(void *base, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return base;
	size_t want = *cap ? *cap * 2 : first;
	if (want <= *cap || want > SIZE_MAX / size)
		return NULL;
	void *grown = realloc(base, want * size);
	if (grown)
		*cap = want;
	return grown;
}

#endif
