/*
 * dmarc.h: DMARC policy evaluation (gateway/dmarc/).
 *
 * RFC 9989 (DMARC, the DNS tree walk of section 4.10) by default; the
 * RFC 7489 way (Organizational Domain from the Public Suffix List, pct=)
 * when the configuration says dmarc_discovery = "psl".
 *
 * Pure logic over the asynchronous DNS interface of dns.h: no sockets, no
 * event loop, no globals. The caller gives the author domains (from the
 * RFC5322.From field, see dmarc_from_domains()), the SPF result and the
 * d= domains of the DKIM signatures that verified, and gets one
 * struct dmarc_outcome in a callback.
 */
#ifndef DMARC_H
#define DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dns.h"

#define DMARC_DOMAIN_MAX  256 /* bytes with the NUL; a DNS name is at most 253 octets */
#define DMARC_RR_MAX      512 /* raw record text kept for the report, truncated beyond */
#define DMARC_MAX_AUTHORS 4   /* distinct RFC5322.From domains evaluated; more: permerror */
#define DMARC_MAX_DKIM    8   /* passing DKIM d= domains considered for alignment */
#define DMARC_WALK_MAX    8   /* RFC 9989 section 4.10: queries of one tree walk */

enum dmarc_result {
	DMARC_RESULT_NONE,      /* no policy, or no author domain to evaluate */
	DMARC_RESULT_PASS,      /* an aligned identifier passed */
	DMARC_RESULT_FAIL,      /* a policy exists and nothing aligned passed */
	DMARC_RESULT_TEMPERROR, /* a DNS answer needed was a temporary failure */
	DMARC_RESULT_PERMERROR, /* cannot be evaluated (From unreadable, too many authors) */
	DMARC_RESULT_MAX,
};

enum dmarc_policy {
	DMARC_POLICY_UNSET, /* tag absent, or no policy applies */
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
	DMARC_POLICY_MAX,
};

enum dmarc_align { DMARC_ALIGN_RELAXED, DMARC_ALIGN_STRICT };

enum dmarc_psd { DMARC_PSD_U, DMARC_PSD_Y, DMARC_PSD_N }; /* RFC 9989 psd=; u is the default */

/* What dmarc_record_parse() made of one TXT record. */
enum dmarc_parse {
	DMARC_REC_OK,        /* a policy record (p= may be implied: see p_implied) */
	DMARC_REC_NOT_DMARC, /* does not start with v=DMARC1: discarded, never counted */
	DMARC_REC_NO_POLICY, /* v=DMARC1 but no usable p= and no valid rua=: no DMARC processing */
};

struct dmarc_record {
	enum dmarc_policy p, sp, np; /* UNSET when absent */
	bool p_implied;              /* p absent or invalid, a valid rua= made it p=none */
	enum dmarc_align adkim, aspf;
	uint8_t pct;        /* 0..100; RFC 7489 only (RFC 9989 made it historic) */
	bool pct_set;       /* pct= was given and valid */
	enum dmarc_psd psd; /* RFC 9989 only */
	bool testing;       /* t=y (RFC 9989 only) */
	bool has_rua;       /* at least one syntactically valid rua URI */
	bool has_ruf;       /* at least one syntactically valid ruf URI */
};

/*
 * Parses one DMARC TXT record (the character-strings already joined).
 * Unknown tags and malformed tag-specs are ignored (RFC 9989 section 4.7);
 * an invalid value of adkim, aspf, pct, psd or t leaves its default; an
 * invalid or missing p, sp or np is handled as RFC 7489 section 6.6.3 and
 * RFC 9989 section 4.7 say (p=none when a valid rua exists, else no
 * processing). Never reads past len.
 */
enum dmarc_parse dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *rec);

/* True when txt starts with a v=DMARC1 tag (exact case, RFC 9989 section 4.7). */
bool dmarc_record_is_dmarc(const char *txt, size_t len);

/*
 * Normalises a domain for DMARC: lower case, no trailing dot, U-labels
 * converted to A-labels (RFC 7489 section 6.6.1). Returns 0, or -1 when it
 * is not a usable domain name (empty label, label over 63 octets, name
 * over 253, an IP literal).
 */
int dmarc_domain_normalize(const char *in, size_t inlen, char out[DMARC_DOMAIN_MAX]);

#define DMARC_FROM_NONE  (-1) /* dmarc_from_domains(): no From field at all */
#define DMARC_FROM_ERROR (-2) /* dmarc_from_domains(): the authors cannot all be named */

struct dmarc_from_info {
	size_t n_fields;   /* From fields seen */
	const char *error; /* with DMARC_FROM_ERROR: why, a static phrase */
};

/*
 * The author domains of a message: every address of every From header
 * field in the header block hdr (the bytes before the empty line; the
 * whole message may be given, parsing stops at the empty line).
 * Distinct domains only, normalised. A From mailbox without '@' whose text
 * is a domain name counts as that domain (a spoofed "From: bank.example"
 * then meets bank.example's policy). Returns the number of domains found
 * (up to max written to out), DMARC_FROM_NONE when there is no From field,
 * or DMARC_FROM_ERROR when not every author can be named with certainty:
 * more than 8 From fields, 32 addresses or 8 KB in a field, a mailbox
 * without a usable domain, or anything outside the RFC 5322 address
 * grammar (the caller then passes the reason as dmarc_input.from_error).
 * info may be NULL.
 */
int dmarc_from_domains(const char *hdr, size_t len, char (*out)[DMARC_DOMAIN_MAX], size_t max,
                       struct dmarc_from_info *info);

/*
 * The RFC 7489 Organizational Domain: the registrable domain (public
 * suffix plus one label) of domain under psl, written to out. Returns 0,
 * or -1 when domain has none (it is a public suffix, empty, or starts with
 * a dot): callers then use the domain itself.
 */
struct psl_ctx_st;
int dmarc_psl_org_domain(const struct psl_ctx_st *psl, const char *domain,
                         char out[DMARC_DOMAIN_MAX]);

/*
 * What DMARC judges. Domains may come as written: dmarc_start() normalises
 * them and drops those that are no domain name. authors[] holds n_authors
 * entries when n_authors <= DMARC_MAX_AUTHORS; a larger count (the return
 * of dmarc_from_domains()) gives permerror without reading past the
 * limit. Of dkim_domains[], the first 32 are looked at and the first
 * DMARC_MAX_DKIM valid ones used.
 */
struct dmarc_input {
	const char *const *authors; /* RFC5322.From domains, distinct */
	size_t n_authors;
	const char *spf_domain; /* the domain SPF authenticated (MAIL FROM, else HELO), or NULL */
	bool spf_pass;
	const char *const *dkim_domains; /* d= of the signatures that verified */
	size_t n_dkim;
	const char *from_error; /* non-NULL: the From field could not be read; permerror */
};

struct dmarc_options {
	enum gw_dmarc_discovery discovery; /* DMARC_TREE_WALK (RFC 9989) or DMARC_PSL (RFC 7489) */
	const struct psl_ctx_st *psl;      /* PSL mode; NULL: libpsl's built-in list */
	/* pct= sampling in PSL mode: a number in 0..99; NULL: random(). */
	unsigned (*sample)(void *arg);
	void *sample_arg;
};

/* The evaluation of one message. Strings are empty when unknown. */
struct dmarc_outcome {
	enum dmarc_result result;
	enum dmarc_policy policy;      /* what the record asks for this author domain */
	enum dmarc_policy disposition; /* what to do: policy on fail (after pct), else none */
	char domain[DMARC_DOMAIN_MAX]; /* the author domain (header.from) */
	char policy_domain[DMARC_DOMAIN_MAX]; /* where the record was found */
	char org_domain[DMARC_DOMAIN_MAX];    /* the author's Organizational Domain */
	char rr[DMARC_RR_MAX];                /* the record as published */
	struct dmarc_record record;           /* valid when rr[0] */
	bool dkim_strict, spf_strict;
	/*
	 * Where a passing identifier aligned, or "": the author domain when
	 * identical, else their common Organizational Domain (relaxed mode).
	 */
	char dkim_aligned[DMARC_DOMAIN_MAX];
	char spf_aligned[DMARC_DOMAIN_MAX];
	int dkim_aligned_index;     /* the first input dkim_domains[] that aligned, or -1 */
	uint32_t dkim_aligned_mask; /* bit i: input dkim_domains[i] aligned (i < 32) */
	bool nonexistent;           /* RFC 9989 np: the author domain does not exist */
	bool sampled_out;           /* RFC 7489 pct: not selected, policy relaxed */
	size_t n_authors;           /* author domains evaluated */
	const char *reason;         /* a static phrase for none/temperror/permerror */
};

typedef void (*dmarc_cb)(void *arg, const struct dmarc_outcome *out);

struct dmarc_eval;

/*
 * Starts the evaluation. The input is copied. cb runs exactly once, perhaps
 * before dmarc_start() returns (every answer cached, or nothing to ask);
 * then dmarc_start() returns NULL. Otherwise it returns a handle valid
 * until cb has run or dmarc_cancel(). The outcome is valid during cb only.
 * Returns NULL without calling cb only when out of memory (errno ENOMEM).
 */
struct dmarc_eval *dmarc_start(const struct dns_resolver *dns, const struct dmarc_options *opt,
                               const struct dmarc_input *in, dmarc_cb cb, void *arg);

/* Cancels an evaluation whose callback has not run; its callback never runs. */
void dmarc_cancel(struct dmarc_eval *ev);

const char *dmarc_result_name(enum dmarc_result r); /* "pass", "fail", ... */
const char *dmarc_policy_name(enum dmarc_policy p); /* "none", "quarantine", "reject", NULL */

/*
 * Length of the header field starting at p: up to and with its last line's
 * LF, folded lines included (RFC 5322 section 2.2.3). len when unterminated.
 */
size_t dmarc_field_len(const char *p, size_t len);

#endif
