/*
 * routes/toml/toml_int.h: what the files of the TOML parser share and
 * nobody else may see: the tree node (toml_tree.c owns it), the scalar
 * lexer (toml_scalar.c), the parser state and its lexer (toml_lex.c) and
 * the flags the redefinition rules of toml.c hang on. Never included outside routes/toml/toml*.c.
 */
#ifndef TOML_INT_H
#define TOML_INT_H

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

/* Writes the UTF-8 form of scalar value cp (the caller checked it); its length. */
size_t toml_scalar_utf8_encode(uint32_t cp, char out[4]);

/* ---- the parser state and the lexer over it (toml_lex.c) ---- */

/* A growable byte buffer for decoded strings and keys. */
struct sbuf {
	char *d;
	size_t len, cap;
};

struct parser {
	const char *buf, *p, *end;
	int line;               /* line of p */
	const char *line_start; /* first byte of that line */
	toml_error *err;
	bool failed;
	toml_value *root, *cur; /* cur: the table key/value pairs go into */
	char section[128];      /* cur's [header] name for messages, "" at the root */
	struct sbuf sb;
};

/* Records the first error (at byte at) and fails the parse; always -1. */
int toml_lex_fail(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* toml_lex_fail() with "out of memory" at the current position. */
int toml_lex_oom(struct parser *ps);
/* The 1-based column of at on the current line. */
int toml_lex_col_of(const struct parser *ps, const char *at);
/* A printable rendering of the byte at q for messages (out holds n bytes). */
const char *toml_lex_show(const struct parser *ps, const char *q, char *out, size_t n);
/* Appends n bytes to sb (NUL-terminated after); -1 when out of memory. */
int toml_lex_put(struct sbuf *sb, const char *s, size_t n);
/* A malloc'd NUL-terminated copy of sb's content, or NULL. */
char *toml_lex_take(const struct sbuf *sb);
/* 0 when the whole document is UTF-8, else -1 (reported). */
int toml_lex_utf8_check(struct parser *ps);
void toml_lex_skip_ws(struct parser *ps);
/* Skips a comment if one starts here; -1 on a control character in it. */
int toml_lex_skip_comment(struct parser *ps);
/* Consumes LF or CRLF: 1 if one was eaten, 0 if none, -1 on a lone CR. */
int toml_lex_eat_newline(struct parser *ps);
/* After an expression: optional comment, then newline or end of file. */
int toml_lex_end_of_line(struct parser *ps, const char *what);
/* White space, newlines and comments in any number (inside arrays). */
int toml_lex_skip_ws_nl(struct parser *ps);
/* A basic or literal one-line string (a quoted key) into ps->sb. */
int toml_lex_string_line(struct parser *ps);
/* Any of the four string kinds into ps->sb. */
int toml_lex_string_any(struct parser *ps);

#endif
