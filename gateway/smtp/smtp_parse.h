/*
 * smtp_parse.h: pure parsers of the SMTP front end, shared by the session,
 * the unit tests and the fuzzers: command lines (RFC 5321 4.1.1, 4.1.2),
 * the DATA/BDAT byte stream (RFC 5321 4.1.1.4, 4.5.2; RFC 3030), PROXY
 * protocol headers (HAProxy proxy-protocol.txt v1 and v2) and SASL PLAIN /
 * LOGIN payloads (RFC 4616, RFC 4954). No sockets, no event loop, no globals.
 */
#ifndef SMTP_PARSE_H
#define SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SMTP_PATH_MAX   256 /* RFC 5321 4.5.3.1.3, with the angle brackets */
#define SMTP_LOCAL_MAX  64  /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define SMTP_MAX_PARAMS 16

enum smtp_perr {
	PERR_OK = 0,
	PERR_SYNTAX,    /* not the RFC 5321 grammar */
	PERR_TOO_LONG,  /* a part over its RFC 5321 4.5.3.1 size */
	PERR_BAD_UTF8,  /* non-ASCII bytes that are not well-formed UTF-8 */
	PERR_TOO_MANY,  /* more parameters than SMTP_MAX_PARAMS */
	PERR_DECEPTIVE, /* UTF-8 with C1 controls or bidi controls (smtp_utf8_deceptive) */
};

struct smtp_path {
	char addr[SMTP_PATH_MAX + 1]; /* local@domain, source route dropped; "" for <> */
	bool null;                    /* the null reverse-path <> */
	bool utf8;                    /* has non-ASCII octets (needs SMTPUTF8) */
};

struct smtp_param {
	const char *kw; /* points into the line; not terminated */
	size_t kwlen;
	const char *val; /* NULL when the keyword has no "=value" */
	size_t vallen;
};

/*
 * Splits "VERB rest": *verb gets the verb length, *arg the start of the
 * argument (after one SP) or NULL when there is none.
 */
void smtp_parse_verb(const char *line, size_t *verblen, const char **arg);

/*
 * Parses a Path or Reverse-path ("<...>") at *p, advancing *p past '>'.
 * allow_null: "<>" is accepted (MAIL). Returns PERR_*.
 */
enum smtp_perr smtp_parse_path(const char **p, bool allow_null, struct smtp_path *out);

/*
 * Parses what follows a path: nothing, or SP esmtp-param *(SP esmtp-param).
 * Returns PERR_*; *n gets the count.
 */
enum smtp_perr smtp_parse_params(const char *p, struct smtp_param *out, size_t max, size_t *n);

/* MAIL "FROM:" / RCPT "TO:" prefix (case-insensitive, spaces after ':' tolerated). */
const char *smtp_parse_prefix(const char *arg, const char *prefix);

/* Decimal without sign or spaces, at most 20 digits, no overflow. Returns 0 or -1. */
int smtp_parse_u64(const char *s, size_t len, uint64_t *out);

/*
 * True when well-formed UTF-8 s holds a code point that serves only to
 * mislead a person reading an address: C1 controls (U+0080-009F) and the
 * bidirectional controls (U+061C, U+200E-200F, U+202A-202E, U+2066-2069).
 */
bool smtp_utf8_deceptive(const unsigned char *s, size_t len);

/* ---- DATA / BDAT stream ---- */

enum smtp_dec_flag {
	DEC_BARE_LF = 1 << 0,
	DEC_BARE_CR = 1 << 1,
	DEC_LONG_LINE = 1 << 2,
};

/* Decoder states; the only way out of DATA is DEC_END (CR LF . CR LF). */
enum smtp_dec_state {
	DEC_LINE_START, /* after CR LF (or at the start of DATA) */
	DEC_DOT,        /* "." at line start */
	DEC_DOT_CR,     /* "." CR at line start */
	DEC_MID,        /* inside a line */
	DEC_CR,         /* CR inside or at the end of a line */
	DEC_END,        /* terminator seen (DATA only) */
	DEC_STATE_MAX
};

typedef void (*smtp_emit_fn)(void *ctx, const char *p, size_t n);

struct smtp_dec {
	enum smtp_dec_state st;
	bool chunked;      /* BDAT: no dot-stuffing, no terminator */
	bool normalize;    /* bare CR / LF become CR LF (else flagged only) */
	uint32_t max_line; /* without CR LF; 0 = unlimited */
	uint32_t linelen;
	unsigned flags; /* enum smtp_dec_flag, sticky */
	smtp_emit_fn emit;
	void *ctx;
};

void smtp_dec_init(struct smtp_dec *d, bool chunked, bool normalize, uint32_t max_line,
                   smtp_emit_fn emit, void *ctx);

/*
 * Feeds n bytes. Returns how many were consumed: all of them, or (DATA)
 * up to and including the terminator, after which d->st is DEC_END and the
 * rest belongs to the next command.
 */
size_t smtp_dec_feed(struct smtp_dec *d, const char *in, size_t n);

/* BDAT LAST: a CR left pending at the end of the last chunk is a bare CR. */
void smtp_dec_finish(struct smtp_dec *d);

/* ---- PROXY protocol ---- */

#define PROXY_V1_MAX 107
#define PROXY_V2_MAX (16 + 512) /* header and addresses; bigger TLV blocks are refused */

enum proxy_result { PROXY_NEED_MORE, PROXY_BAD, PROXY_OK };

struct proxy_info {
	size_t header_len; /* bytes to consume */
	bool local;        /* v2 LOCAL / v1 UNKNOWN: keep the connection's own address */
	struct sockaddr_storage src;
	socklen_t srclen;
};

/* Parses a v1 or v2 header at the start of buf. */
enum proxy_result proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *out);

/* ---- SASL (RFC 4616 PLAIN, LOGIN) ---- */

/*
 * Splits a decoded PLAIN message "authzid NUL authcid NUL passwd" into
 * NUL-terminated user and password (authzid must be empty or equal the
 * user). Returns 0 or -1.
 */
int smtp_sasl_plain(const unsigned char *msg, size_t len, char *user, size_t usermax, char *pass,
                    size_t passmax);

#endif
