/*
 * spf_int.h: what the files of gateway/spf/ share: the parsed record
 * (spf_record.c), the macro expander (spf_macro.c) and the client address.
 * The unit tests and fuzz targets include it to reach these pure parts.
 */
#ifndef SPF_INT_H
#define SPF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spf.h"

#define SPF_RECORD_MAX 4096 /* bytes of one record; longer is permerror */
#define SPF_MAX_TERMS  256  /* terms in one record; more is permerror */
#define SPF_DOMAIN_MAX 253  /* RFC 7208 section 7.3: expansions are cut to this */
#define SPF_EXPAND_MAX 4096 /* bytes of one macro expansion; longer is an error */
#define SPF_DIGITS_MAX 128  /* a transformer's part count; more means "all" */
#define SPF_VALUE_MAX  512  /* bytes of an input (MAIL FROM, HELO); longer is "none" */

/* The client address; IPv4-mapped IPv6 is stored as IPv4 (section 5). */
struct spf_ip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t b[16];
};

enum spf_mech {
	SPF_M_ALL,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
	SPF_M_MAX
};

enum spf_term_kind { SPF_T_MECH, SPF_T_REDIRECT, SPF_T_EXP, SPF_T_UNKNOWN };

struct spf_term {
	enum spf_term_kind kind;
	enum spf_mech mech;
	enum spf_result qual; /* the result when the mechanism matches */
	const char *text;     /* the whole term, NUL-terminated, in the record's copy */
	const char *spec;     /* domain-spec (macro-string) or NULL: the current domain */
	size_t spec_len;
	int cidr4, cidr6; /* prefix lengths, 32 and 128 when absent */
	uint8_t net[16];  /* ip4 / ip6 network */
	bool uses_p;      /* spec contains %{p}: needs the validated name first */
};

struct spf_record {
	char *text; /* owned copy; terms point into it */
	struct spf_term *terms;
	size_t n;
	int redirect, exp; /* term index, or -1 */
};

/* True when txt (len bytes) is an SPF version 1 record (section 4.5). */
bool spf_record_is_v1(const char *txt, size_t len);

/*
 * Parses a record already selected by spf_record_is_v1. Any syntax error
 * anywhere is -1 with err set (section 4.6: permerror before evaluating).
 * On success rec owns its memory: spf_record_free().
 */
int spf_record_parse(const char *txt, size_t len, struct spf_record *rec, char *err, size_t errlen);
void spf_record_free(struct spf_record *rec);

/* Parses a strict dotted quad (section 5.6 ip4-network: no leading zeros). */
int spf_parse_ip4(const char *s, size_t len, uint8_t out[4]);

enum spf_macro_ctx {
	SPF_MACRO_DOMAIN, /* domain-spec: letters s l o d i p h v */
	SPF_MACRO_EXP,    /* explanation text: also c r t, and spaces */
};

/* What the macros expand to (section 7.3). */
struct spf_macro_env {
	const char *sender;        /* %{s} */
	const char *local;         /* %{l} */
	const char *sender_domain; /* %{o} */
	const char *domain;        /* %{d} */
	const char *helo;          /* %{h} */
	const char *hostname;      /* %{r} */
	const char *p;             /* %{p}: must be set when the string uses it */
	struct spf_ip ip;          /* %{i} %{c} %{v} */
	int64_t now;               /* %{t} */
};

/* Checks macro-string syntax for ctx; *uses_p tells whether %{p} appears. 0 or -1. */
int spf_macro_check(const char *s, size_t len, enum spf_macro_ctx ctx, bool *uses_p);

/*
 * Expands s into out (cap bytes, NUL-terminated). Returns the length, or
 * -1 on a syntax error or when the result would not fit.
 */
int spf_macro_expand(const char *s, size_t len, enum spf_macro_ctx ctx,
                     const struct spf_macro_env *env, char *out, size_t cap);

/*
 * Turns an expanded domain-spec into a target name in place (section
 * 7.3): drops one trailing dot, cuts labels from the left until it is at
 * most 253 bytes. Returns 0, or -1 when the name cannot exist (an empty
 * label, a label over 63 bytes): such targets are treated as non-existent.
 */
int spf_target_name(char *name);

/* The reverse-lookup name of ip under in-addr.arpa or ip6.arpa (section 5.5). */
void spf_reverse_name(const struct spf_ip *ip, char *out, size_t cap);

/* Bytes one check holds before its records: the check and its first frame (benchmarks). */
size_t spf_check_footprint(void);

#endif
