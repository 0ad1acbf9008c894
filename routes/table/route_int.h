/*
 * route_int.h: what the files of the routing table share with each
 * other and with their unit tests, and nobody else: UTF-8 and case folding
 * (idna.c), address and pattern parsing (route_addr.c), the string hash map
 * and arena (route_map.c). Never included from gateway/: the public
 * interface is include/routes.h.
 */
#ifndef ROUTE_INT_H
#define ROUTE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routes.h"

/* --- idna.c: UTF-8, case folding, punycode (RFC 3492) ------------------- */

/* An A-label is at most 63 octets, so a label never has more code points. */
#define IDNA_LABEL_MAX  63
#define IDNA_DOMAIN_MAX 253 /* octets of a domain in A-label form, no root dot */

/* Encodes cp into out (4 bytes at least); returns the length, 0 if invalid. */
size_t idna_utf8_encode(uint32_t cp, char *out);

/*
 * Simple (1:1) lower-case mapping of one code point: ASCII, Latin-1,
 * Latin Extended-A and parts of B, Latin Extended Additional, Greek,
 * Cyrillic, Armenian. Anything else maps to itself; in particular this
 * never turns a non-letter into another character, so ASCII punctuation
 * (a plus separator) keeps its place in a folded local part. Domains also
 * get the fullwidth-to-ASCII mapping (inside idna_to_ascii()).
 */
uint32_t idna_fold_cp(uint32_t cp);

/*
 * Lower-cases UTF-8 text with idna_fold_cp. Returns the output length, or
 * -1 when in is not valid UTF-8 or out (outlen bytes with the NUL) is too
 * small.
 */
int idna_fold_utf8(const char *in, size_t inlen, char *out, size_t outlen);

/*
 * RFC 3492 section 6.3: encodes n code points into out (NUL-terminated,
 * outlen bytes with the NUL), digits in lower case, basic code points as
 * given. Returns the length, or -1 on overflow or a too small buffer.
 */
int idna_punycode_encode(const uint32_t *in, size_t n, char *out, size_t outlen);

/*
 * RFC 3492 section 6.2: decodes inlen bytes into at most cap code points.
 * Returns the count, or -1 on bad input, overflow or a too small buffer.
 */
int idna_punycode_decode(const char *in, size_t inlen, uint32_t *out, size_t cap);

/* --- route_map.c: arena and open-addressing string map ------------------ */

/* Bump allocator: everything a table owns is freed at once. */
struct route_arena {
	struct route_arena_chunk *head;
};

void *route_arena_alloc(struct route_arena *a, size_t size);
char *route_arena_strndup(struct route_arena *a, const char *s, size_t len);
void route_arena_free(struct route_arena *a);

/* Maps a byte string to a non-zero index; keys are owned by the caller. */
struct route_map {
	struct route_map_slot *slots;
	size_t cap; /* a power of two, 0 before the first insert */
	size_t n;
};

uint64_t route_map_hash(const char *key, size_t len);

/* Returns the value, or 0 when absent. */
size_t route_map_get(const struct route_map *m, const char *key, size_t len);

/*
 * Inserts key -> value (value != 0) unless present. Returns the value now
 * stored (the earlier one when present), or 0 when out of memory.
 */
size_t route_map_put(struct route_map *m, const char *key, size_t len, size_t value);

void route_map_free(struct route_map *m);

/* --- route_addr.c: splitting addresses and patterns --------------------- */

enum route_addr_err {
	ADDR_OK,
	ADDR_EMPTY,
	ADDR_NO_AT,
	ADDR_EMPTY_LOCAL,
	ADDR_EMPTY_DOMAIN,
	ADDR_LOCAL_TOO_LONG,
	ADDR_DOMAIN_TOO_LONG,
	ADDR_BAD_LOCAL,  /* a character no local part may hold */
	ADDR_BAD_QUOTES, /* unterminated quoted string, text after it */
	ADDR_BAD_UTF8,
	ADDR_BAD_DOMAIN, /* not a host name, not IDNA-convertible */
	ADDR_LITERAL,    /* [192.0.2.1]: never ours */
	ADDR_ERR_MAX
};

const char *route_addr_err_text(enum route_addr_err e);

/*
 * Splits address into a (local unquoted, domain as written, domain_ascii).
 * A quoted local part ("john doe") is stored and routed by its unquoted
 * content. On ADDR_LITERAL, local and domain are filled, domain_ascii is
 * the literal lower-cased.
 */
enum route_addr_err route_addr_split(const char *address, struct route_addr *a);

/*
 * Splits a match pattern like an address, but also takes the subdomain
 * form local@*.suffix (*subdomain set, a->domain_ascii is the suffix).
 * *quoted says the local part was a quoted-string: its '*' are literal.
 */
enum route_addr_err route_pattern_split(const char *pattern, struct route_addr *a, bool *quoted,
                                        bool *subdomain);

/* Does local (already folded as the table folds) match glob (with '*')? */
bool route_glob_match(const char *glob, const char *s);

#endif
