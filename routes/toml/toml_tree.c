/*
 * routes/toml/toml_tree.c: the tree toml_parse() builds and the public
 * accessors of include/toml.h.
 *
 * Owns every toml_value allocation: nodes, keys (copied, may hold NULs),
 * strings, and the per-table hash index that keeps lookups O(1) on big
 * tables (a 100,000-key table must not be quadratic). Tables keep their
 * keys in document order; the index only points into that order.
 *
 * Must never: parse, print, or change a tree once toml_parse() returned
 * it (accessors take const pointers and tolerate NULL and wrong types).
 */
#include "grow.h"
#include "toml_int.h"

#include <stdlib.h>
#include <string.h>

/* A table switches from a linear scan to its hash index at this size. */
#define TABLE_INDEX_MIN 8

toml_value *toml_tree_new(toml_type type, int line, int col, int depth)
{
	toml_value *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->type = type;
	v->line = line;
	v->col = col;
	v->depth = depth;
	return v;
}

static uint64_t key_hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ull;
	}
	return h;
}

static bool kv_is(const struct toml_kv *kv, const char *k, size_t n, uint64_t h)
{
	return kv->hash == h && kv->keylen == n && memcmp(kv->key, k, n) == 0;
}

toml_value *toml_tree_find(const toml_value *t, const char *k, size_t n)
{
	uint64_t h = key_hash(k, n);
	size_t mask, i;

	if (!t->u.t.nslots) {
		for (i = 0; i < t->u.t.len; i++)
			if (kv_is(&t->u.t.kv[i], k, n, h))
				return t->u.t.kv[i].val;
		return NULL;
	}
	mask = t->u.t.nslots - 1;
	for (i = h & mask; t->u.t.slots[i]; i = (i + 1) & mask) {
		const struct toml_kv *kv = &t->u.t.kv[t->u.t.slots[i] - 1];
		if (kv_is(kv, k, n, h))
			return kv->val;
	}
	return NULL;
}

static void slot_put(toml_value *t, size_t idx)
{
	size_t mask = t->u.t.nslots - 1;
	size_t i = t->u.t.kv[idx].hash & mask;

	while (t->u.t.slots[i])
		i = (i + 1) & mask;
	t->u.t.slots[i] = (uint32_t)(idx + 1);
}

/*
 * Makes room in the index for want keys, keeping the load factor at or
 * under one half so probes stay short. Small tables have no index.
 */
static int index_reserve(toml_value *t, size_t want)
{
	size_t n = t->u.t.nslots ? t->u.t.nslots : 16;
	uint32_t *slots;

	if (want < TABLE_INDEX_MIN)
		return 0;
	while (n < want * 2)
		n *= 2;
	if (n == t->u.t.nslots)
		return 0;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -1;
	free(t->u.t.slots);
	t->u.t.slots = slots;
	t->u.t.nslots = n;
	for (size_t i = 0; i < t->u.t.len; i++)
		slot_put(t, i);
	return 0;
}

int toml_tree_add(toml_value *t, const char *k, size_t n, int line, int col, toml_value *v)
{
	struct toml_kv *kv;
	char *key;

	kv = grow_array(t->u.t.kv, &t->u.t.cap, t->u.t.len, sizeof(*kv), 4);
	if (!kv)
		return -1;
	t->u.t.kv = kv;
	if (index_reserve(t, t->u.t.len + 1))
		return -1;
	key = malloc(n + 1);
	if (!key)
		return -1;
	if (n)
		memcpy(key, k, n);
	key[n] = '\0';
	kv = &t->u.t.kv[t->u.t.len];
	kv->key = key;
	kv->keylen = n;
	kv->hash = key_hash(k, n);
	kv->line = line;
	kv->col = col;
	kv->val = v;
	t->u.t.len++;
	if (t->u.t.nslots)
		slot_put(t, t->u.t.len - 1);
	return 0;
}

int toml_tree_push(toml_value *a, toml_value *v)
{
	toml_value **grown = grow_array(a->u.a.v, &a->u.a.cap, a->u.a.len, sizeof(*grown), 4);
	if (!grown)
		return -1;
	a->u.a.v = grown;
	a->u.a.v[a->u.a.len++] = v;
	return 0;
}

void toml_free(toml_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.t.len; i++) {
			free(v->u.t.kv[i].key);
			toml_free(v->u.t.kv[i].val);
		}
		free(v->u.t.kv);
		free(v->u.t.slots);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.a.len; i++)
			toml_free(v->u.a.v[i]);
		free(v->u.a.v);
		break;
	case TOML_STRING:
		free(v->u.s.ptr);
		break;
	default:
		break;
	}
	free(v);
}

toml_type toml_type_of(const toml_value *v)
{
	return v->type;
}

const char *toml_type_name(toml_type t)
{
	static const char *const names[] = {
	    [TOML_TABLE] = "table",           [TOML_ARRAY] = "array",
	    [TOML_STRING] = "string",         [TOML_INTEGER] = "integer",
	    [TOML_FLOAT] = "float",           [TOML_BOOL] = "bool",
	    [TOML_DATETIME] = "datetime",     [TOML_DATETIME_LOCAL] = "datetime-local",
	    [TOML_DATE_LOCAL] = "date-local", [TOML_TIME_LOCAL] = "time-local",
	};

	if ((unsigned)t >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[t];
}

int toml_line(const toml_value *v)
{
	return v ? v->line : 0;
}

int toml_col(const toml_value *v)
{
	return v ? v->col : 0;
}

static bool is_table(const toml_value *v)
{
	return v && v->type == TOML_TABLE;
}

size_t toml_table_len(const toml_value *t)
{
	return is_table(t) ? t->u.t.len : 0;
}

const char *toml_table_key(const toml_value *t, size_t i, size_t *keylen)
{
	if (!is_table(t) || i >= t->u.t.len)
		return NULL;
	if (keylen)
		*keylen = t->u.t.kv[i].keylen;
	return t->u.t.kv[i].key;
}

const toml_value *toml_table_value(const toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.t.len ? t->u.t.kv[i].val : NULL;
}

int toml_table_key_line(const toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.t.len ? t->u.t.kv[i].line : 0;
}

int toml_table_key_col(const toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.t.len ? t->u.t.kv[i].col : 0;
}

const toml_value *toml_table_get(const toml_value *t, const char *key)
{
	if (!is_table(t) || !key)
		return NULL;
	return toml_tree_find(t, key, strlen(key));
}

size_t toml_array_len(const toml_value *a)
{
	return a && a->type == TOML_ARRAY ? a->u.a.len : 0;
}

const toml_value *toml_array_at(const toml_value *a, size_t i)
{
	return a && a->type == TOML_ARRAY && i < a->u.a.len ? a->u.a.v[i] : NULL;
}

const char *toml_string(const toml_value *v, size_t *len)
{
	if (!v || v->type != TOML_STRING)
		return NULL;
	if (len)
		*len = v->u.s.len;
	return v->u.s.ptr;
}

int64_t toml_integer(const toml_value *v)
{
	return v && v->type == TOML_INTEGER ? v->u.i : 0;
}

double toml_float(const toml_value *v)
{
	return v && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool toml_bool(const toml_value *v)
{
	return v && v->type == TOML_BOOL && v->u.b;
}

const toml_datetime *toml_datetime_of(const toml_value *v)
{
	if (!v || v->type < TOML_DATETIME || v->type > TOML_TIME_LOCAL)
		return NULL;
	return &v->u.dt;
}
