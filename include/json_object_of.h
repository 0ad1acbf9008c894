/*
 * json_object_of.h: the one way smtp-gateway builds a JSON object of known
 * members in order, as json_pack("{s:o, ...}") would, without parsing a
 * format string on every call (json_pack's parse was a measurable share of
 * each message: docs/benchmark.md). Used by the payload (gateway/mime) and
 * the authentication results (gateway/auth).
 *
 * Header-only (static inline) for the reason codec.h is: its users sit in
 * module libraries that do not all link one another.
 *
 * Must never: leak a value it was given, or return a partial object.
 */
#ifndef JSON_OBJECT_OF_H
#define JSON_OBJECT_OF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * An object of the n members keys[i]: values[i], in this order. Takes the
 * values (NULL ones included); returns NULL when any was NULL or out of
 * memory, having released the others, as json_pack does.
 */
static inline json_t *json_object_of(const char *const *keys, json_t *const *values, size_t n)
{
	json_t *o = json_object();
	bool whole = o != NULL;
	for (size_t i = 0; i < n; i++) {
		if (!o || !values[i]) {
			json_decref(values[i]); /* NULL-safe */
			whole = false;
		} else if (json_object_set_new_nocheck(o, keys[i], values[i]) < 0) {
			whole = false; /* the value was released by jansson */
		}
	}
	if (!whole) {
		json_decref(o);
		return NULL;
	}
	return o;
}

#endif
