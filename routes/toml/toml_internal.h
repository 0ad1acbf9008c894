/*
 * routes/toml/toml_internal.h: what the files of the TOML parser share and
 * nobody else may see: the tree node (toml_tree.c owns it), the scalar
 * lexer (toml_scalar.c) and the flags the redefinition rules of toml.c
 * hang on. Never included outside routes/toml/toml*.c.
 */
#ifndef TOML_INTERNAL_H
#define TOML_INTERNAL_H

#include "toml.h"

/*
 * Deepest nesting of the tree (tables, arrays, inline tables, dotted keys
 * and header parts all count). The parser recurses once per level and
 * toml_free() does too, so this is what keeps a hostile file from
 * exhausting the stack; no sane configuration comes near it.
 */
#define TOML_MAX_DEPTH 128

/* How a table or array came to exist; the redefinition rules hang on it. */
enum {
	TF_EXPLICIT = 1 << 0, /* defined by a [header] or as a [[header]] element */
	TF_IMPLICIT = 1 << 1, /* created as a prefix of a header; [it] may follow once */
	TF_DOTTED = 1 << 2,   /* created by a dotted key; headers may only pass through */
	TF_INLINE = 1 << 3,   /* an inline table: closed for ever once written */
	TF_AOT = 1 << 4,      /* an array created by [[header]]: more elements may come */
};

struct toml_kv {
	char *key; /* NUL-terminated copy; keylen counts embedded NULs */
	size_t keylen;
	uint64_t hash;
	int line, col; /* where the key was written */
	toml_value *val;
};

struct toml_value {
	toml_type type;
	unsigned flags; /* TF_* for tables and arrays */
	int line, col;
	int depth; /* root is 0 */
	union {
		struct {
			char *ptr;
			size_t len;
		} s;
		int64_t i;
		double f;
		bool b;
		toml_datetime dt;
		struct {
			struct toml_kv *kv; /* document order */
			size_t len, cap;
			uint32_t *slots; /* open addressing: index + 1, 0 empty */
			size_t nslots;   /* power of two, or 0 while small */
		} t;
		struct {
			toml_value **v;
			size_t len, cap;
		} a;
	} u;
};

/* A zeroed node, or NULL when out of memory. */
toml_value *toml_tree_new(toml_type type, int line, int col, int depth);

/* The value of key k (n bytes, may hold NULs) in table t, or NULL. */
toml_value *toml_tree_find(const toml_value *t, const char *k, size_t n);

/*
 * Appends k -> v to table t; the caller checked that k is new. Takes v
 * on success (0); on failure (-1, out of memory) t is unchanged.
 */
int toml_tree_add(toml_value *t, const char *k, size_t n, int line, int col, toml_value *v);

/* Appends v to array a; takes v on success (0), -1 when out of memory. */
int toml_tree_push(toml_value *a, toml_value *v);

/* Why a scalar token was refused: where, and what was expected. */
struct toml_scalar_err {
	const char *at;
	char msg[200];
};

/* Token shapes, decided before a token is parsed. */
bool toml_scalar_is_date(const char *s, size_t n);
bool toml_scalar_is_time(const char *s, size_t n);

/*
 * Parses one number (integer or float, toml.io 1.0) or date/time (RFC 3339
 * section 5.6) token of n bytes into v (type and value). Returns 0, or -1
 * with *e filled; never reads outside tok[0..n).
 */
int toml_scalar_parse(const char *tok, size_t n, toml_value *v, struct toml_scalar_err *e);

/* Offset of the first byte that is not valid UTF-8, or len if all is. */
size_t toml_scalar_utf8_check(const char *buf, size_t len);

/* Writes the UTF-8 form of scalar value cp (the caller checked it); its length. */
size_t toml_scalar_utf8_encode(uint32_t cp, char out[4]);

#endif
