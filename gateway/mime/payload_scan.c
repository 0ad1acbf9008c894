/*
 * payload_scan.c: the bounds on what GMime is given, found before GMime
 * builds anything.
 *
 * GMime builds the whole MIME tree before we can count its parts, and
 * every part, header field and folded line costs it memory (about 1.3 KB
 * per empty part, several times the bytes of a long header). So one pass
 * over the bytes, in our code, decides which ranges GMime sees:
 *
 * - parts: each delimiter line (RFC 2046 section 5.1.1) of a boundary
 *   declared anywhere in the message, and each header section of an
 *   embedded message/rfc822 (or other message/) body, counts as a part; GMime's input ends before
 *   the line that would make more than max_mime_parts (warning
 *   mime_part_limit, the same contract as the walk's cap). The count is an
 *   over-estimate of GMime's parts, never an under-estimate: a boundary
 *   parameter this scan cannot read (RFC 2231 "boundary*", a malformed
 *   value) makes every line starting with "--" count.
 * - header fields (RFC 5322 section 2.2): the folded lines of one field
 *   beyond max_header_field_size bytes are left out; the fields of one
 *   header section beyond max_header_section_size bytes are left out, and
 *   beyond max_header_count fields all but the first Content-Type,
 *   Content-Transfer-Encoding and Content-Disposition (which shape the
 *   tree) are left out (warnings header_size_limit, header_count_limit).
 *
 * - the fields of the message's own header section that the payload only
 *   lists (trace, authentication, list-management and client fields:
 *   hide_field()) are left out of GMime's input, and listed by
 *   payload_headers.c from the bytes; so are the subject, date, id and
 *   address fields when the section holds one of the name (once_names[]),
 *   read from the bytes through GMime's own functions (an address field is
 *   parsed here, with GMime's parser and options, and left out only when
 *   that parse warns about nothing).
 *
 * Depth needs no bound of its own: each level is a part, and GMime stops
 * nesting by itself (GMIME_CRIT_NESTING_OVERFLOW).
 *
 * Must never: copy the message (the result is a list of byte ranges), or
 * let GMime see more parts or header bytes than the caps allow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "payload_int.h"

#define BOUNDARY_PREFIX 72 /* longer boundaries are compared on their first 72 bytes */
#define BSET_SMALL      16 /* boundary slots held in the scan itself, before any allocation */

/*
 * The declared boundaries, by (length, hash) with djb2 so that the hashes
 * of all prefixes of a line come in one pass: a line costs at most
 * BOUNDARY_PREFIX probes, whatever the boundaries.
 */
struct bset {
	struct bentry {
		uint32_t h;
		uint8_t len; /* 0: free */
		const char *s;
	} * e;                           /* small, or the heap once it outgrew it */
	struct bentry small[BSET_SMALL]; /* most messages declare a few boundaries */
	size_t mask, n, max;
	uint8_t lens[BOUNDARY_PREFIX + 1]; /* lengths present */
};

static uint32_t djb2_step(uint32_t h, unsigned char ch)
{
	return h * 33 + ch;
}

/* Doubles the table; false when the set is full or out of memory. */
static bool bset_grow(struct bset *b)
{
	/* the cap is checked from 256 slots on, where the first table used to start */
	if (b->mask + 1 >= 256 && b->n >= b->max)
		return false;
	size_t mask = b->mask * 2 + 1;
	struct bentry *e = calloc(mask + 1, sizeof(*e));
	if (!e)
		return false;
	for (size_t i = 0; i <= b->mask; i++) {
		if (!b->e[i].len)
			continue;
		size_t j = b->e[i].h & mask;
		while (e[j].len)
			j = (j + 1) & mask;
		e[j] = b->e[i];
	}
	if (b->e != b->small)
		free(b->e);
	b->e = e;
	b->mask = mask;
	return true;
}

/* Adds s[0..len); false when the set is full (the caller then counts every "--" line). */
static bool bset_add(struct bset *b, const char *s, size_t len)
{
	if (len > BOUNDARY_PREFIX)
		len = BOUNDARY_PREFIX;
	uint32_t h = 5381;
	for (size_t i = 0; i < len; i++)
		h = djb2_step(h, (unsigned char)s[i]);
	if (!b->e) {
		b->e = b->small;
		b->mask = BSET_SMALL - 1;
	}
	if ((b->n + 1) * 2 > b->mask + 1 && !bset_grow(b))
		return false;
	size_t j = h & b->mask;
	for (; b->e[j].len; j = (j + 1) & b->mask)
		if (b->e[j].h == h && b->e[j].len == len && memcmp(b->e[j].s, s, len) == 0)
			return true;
	b->e[j] = (struct bentry){.h = h, .len = (uint8_t)len, .s = s};
	b->lens[len] = 1;
	b->n++;
	return true;
}

static void bset_free(struct bset *b)
{
	if (b->e != b->small)
		free(b->e);
	b->e = NULL;
}

static bool bset_has(const struct bset *b, uint32_t h, const char *s, size_t len)
{
	if (!b->e || !b->lens[len])
		return false;
	for (size_t j = h & b->mask; b->e[j].len; j = (j + 1) & b->mask)
		if (b->e[j].h == h && b->e[j].len == len && memcmp(b->e[j].s, s, len) == 0)
			return true;
	return false;
}

/*
 * Fields GMime reads into the message object, each allowed once (RFC 5322
 * section 3.6; GMime warns when one repeats): left out like hidden_names[]
 * only while the section holds one of the name. A second puts the first
 * back (pscan_message()), so GMime sees both and warns as before.
 * payload_headers.c, payload_classify.c and payload_bounce.c read one left
 * out from the bytes (pscan_hidden_value()), through the GMime functions
 * GMime itself would have applied. The address fields follow in
 * GMimeAddressType's order from ONCE_ADDRESS; each is parsed here, as
 * GMime's message would parse it, and left out only when that parse warns
 * about nothing (a warning keeps its place among GMime's).
 */
static const char *const once_names[] = {"Subject",  "Date", "Message-ID", "Sender", "From",
                                         "Reply-To", "To",   "Cc",         "Bcc"};
enum { ONCE_ADDRESS = 3, N_ONCE = sizeof(once_names) / sizeof(once_names[0]) };

struct scan {
	struct pctx *c;
	const char *p;
	size_t len;
	struct bset bounds; /* the part of each declared boundary before any white space */
	bool any_dash;      /* a boundary could not be read: every "--" line counts */
	uint32_t parts;
	/* the header section being read */
	bool in_header, next_is_message;
	bool top;       /* it is the message's own (the first) */
	bool top_shown; /* GMime was shown a field of it: its input has a header section */
	size_t section_bytes;
	uint32_t section_fields;
	unsigned seen; /* SEEN_* fields kept beyond the count */
	size_t field_bytes;
	unsigned field_kind; /* SEEN_* of the current field, 0 for others */
	bool exempt;         /* the field is kept beyond the section's caps */
	bool section_full;   /* max_header_section_size reached */
	bool skipping_field;
	size_t skip_from; /* SIZE_MAX: not in a skipped range */
	/* per once_names[] in the top section: fields seen, and the one left out (index + 1) */
	uint32_t once_seen[N_ONCE];
	size_t once_hidden[N_ONCE];
};

enum { SEEN_TYPE = 1, SEEN_TE = 2, SEEN_DISPOSITION = 4 };

static bool wsp(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int add_piece(struct pctx *c, size_t orig, size_t len, bool inserted)
{
	if (len == 0)
		return 0;
	if (c->n_pieces && !inserted && !c->pieces[c->n_pieces - 1].inserted &&
	    c->pieces[c->n_pieces - 1].orig + c->pieces[c->n_pieces - 1].len == orig) {
		c->pieces[c->n_pieces - 1].len += len;
		return 0;
	}
	return pscan_insert_piece(c, c->n_pieces,
	                          (struct ppiece){.orig = orig, .len = len, .inserted = inserted});
}

/* Reads the boundary value at p (after "boundary"); false when it cannot be read. */
static bool boundary_value(struct scan *s, size_t i)
{
	const char *p = s->p;
	size_t n = s->len;
	while (i < n && wsp(p[i]))
		i++;
	if (i >= n || p[i] != '=')
		return i >= n || p[i] != '*'; /* "boundary*": RFC 2231, not read here */
	i++;
	while (i < n && wsp(p[i]))
		i++;
	size_t from = i, to;
	if (i < n && p[i] == '"') {
		from = ++i;
		while (i < n && p[i] != '"' && p[i] != '\\' && p[i] != '\n')
			i++;
		if (i >= n || p[i] != '"')
			return false;
		to = i;
	} else {
		while (i < n && !wsp(p[i]) && p[i] != ';' && p[i] != '\r' && p[i] != '\n' &&
		       p[i] != '(' && p[i] != '"')
			i++;
		to = i;
	}
	size_t k = from;
	while (k < to && !wsp(p[k]))
		k++;
	return k > from && bset_add(&s->bounds, p + from, k - from);
}

/* p[0..8) is "boundary" in any case (ASCII letters: bit 0x20 is the case) */
static bool is_boundary_word(const char *p)
{
	static const char key[8] = {'b', 'o', 'u', 'n', 'd', 'a', 'r', 'y'};
	uint64_t v, k;
	memcpy(&v, p, 8);
	memcpy(&k, key, 8);
	return (v | 0x2020202020202020ull) == k;
}

/* Bit k set when byte k of p[0..16) is ch in either case (ch a lower-case letter). */
static uint32_t ci_hits16(const char *p, char ch)
{
#ifdef __SSE2__
	__m128i v =
	    _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)p), _mm_set1_epi8(0x20));
	return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(ch)));
#else
	uint32_t m = 0;
	for (unsigned k = 0; k < 16; k++)
		m |= (uint32_t)((p[k] | 0x20) == ch) << k;
	return m;
#endif
}

/*
 * Pass 1: every boundary parameter of the message, wherever it is. The
 * bytes go sixteen at a time, looking only for "bo" in any case (two SSE2
 * compares): a byte-by-byte loop here cost as much as GMime's parse of a
 * 29 KB message with an attachment.
 */
static void find_boundaries(struct scan *s)
{
	const char *p = s->p;
	size_t n = s->len;
	for (size_t i = 0; i + 8 <= n; i += 16) {
		uint32_t hit;
		if (i + 17 <= n) {
			hit = ci_hits16(p + i, 'b') & ci_hits16(p + i + 1, 'o');
		} else {
			char tail[17] = {0}; /* the last bytes, zero-padded */
			memcpy(tail, p + i, n - i);
			hit = ci_hits16(tail, 'b') & ci_hits16(tail + 1, 'o');
		}
		for (; hit; hit &= hit - 1) {
			size_t at = i + (size_t)__builtin_ctz(hit);
			if (at + 8 <= n && is_boundary_word(p + at) && !boundary_value(s, at + 8))
				s->any_dash = true;
		}
	}
}

/*
 * Is the line p[0..n) (no line ending) a delimiter of a declared
 * boundary? Any declared boundary that is a prefix of the line counts, as
 * GMime compares prefixes; *end: it is followed by "--".
 */
static bool delimiter(struct scan *s, const char *p, size_t n, bool *end)
{
	*end = false;
	if (n < 2 || p[0] != '-' || p[1] != '-')
		return false;
	if (s->any_dash)
		return true;
	uint32_t h = 5381;
	bool found = false;
	for (size_t l = 1; l <= BOUNDARY_PREFIX && 2 + l <= n; l++) {
		h = djb2_step(h, (unsigned char)p[1 + l]);
		if (bset_has(&s->bounds, h, p + 2, l)) {
			found = true;
			*end = n >= l + 4 && p[2 + l] == '-' && p[3 + l] == '-';
		}
	}
	return found;
}

/* The length of the name of the field whose first line is p[0..n): white space may precede the
 * colon. */
static size_t field_name(const char *p, size_t n)
{
	size_t k = 0;
	while (k < n && p[k] > 32 && p[k] < 127 && p[k] != ':')
		k++;
	size_t name = k;
	while (k < n && wsp(p[k]))
		k++;
	return k < n && p[k] == ':' ? name : 0;
}

/* p[0..k) (no NUL in it) is name, in any case: the first byte rules out most names at once. */
static bool name_is(const char *p, size_t k, const char *name)
{
	return k && ((p[0] ^ name[0]) & ~0x20) == 0 && strncasecmp(p, name, k) == 0 &&
	       name[k] == '\0';
}

static bool is_field(const char *p, size_t n)
{
	return field_name(p, n) > 0;
}

static void skip_begin(struct scan *s, size_t at)
{
	if (s->skip_from == SIZE_MAX)
		s->skip_from = at;
}

static void new_section(struct scan *s)
{
	s->top = false; /* scan_lines() marks the first */
	s->in_header = true;
	s->next_is_message = false;
	s->section_bytes = 0;
	s->section_fields = 0;
	s->seen = 0;
	s->section_full = false;
	s->field_kind = 0;
	s->skipping_field = false;
}

/* The body of message/rfc822 (and the like) is a header section too. */
static void message_type(struct scan *s, const char *p, size_t n)
{
	static const char key[] = "message/";
	if (s->field_kind != SEEN_TYPE)
		return;
	for (size_t i = 0; i + sizeof(key) - 1 <= n; i++)
		if ((p[i] | 0x20) == 'm' && strncasecmp(p + i, key, sizeof(key) - 1) == 0)
			s->next_is_message = true;
}

/*
 * Fields the payload only lists: trace and authentication fields (RFC 5321
 * section 4.4, RFC 6376, RFC 8601, RFC 8617 and the providers' own), and
 * list-management and client fields no member is built from. They are most
 * of the fields of delivered mail, and the longest; GMime builds, decodes
 * and frees an object for each (about 17,000 instructions a field under
 * callgrind, docs/benchmark.md). In the message's own header section such a
 * field is left out of GMime's input when GMime would neither decode it nor
 * warn about it: a valid name the colon follows at once, printable ASCII
 * with no encoded-word ("=?"), no blank continuation line. It must fit the
 * caps whole (else the usual path cuts it, as before). GMime must be shown
 * at least one field of the section: with none (all hidden, the rest cut)
 * its input could be empty, which is no message to GMime, so then the first
 * hidden field is shown after all (show_needed()). Its bytes count
 * against the caps as if shown. MIME-Version is here too: neither GMime's
 * parser nor the payload reads it. A field read through GMime must never
 * be here: the address and id-list fields, the Content-* fields, and those
 * the classification reads (payload_classify.c: Return-Path, List-Id,
 * List-Post, List-Unsubscribe, Precedence, the auto-reply fields); the
 * subject, date and Message-ID are once_names[] below.
 */
static const char *const hidden_names[] = {
    "Received",
    "Received-SPF",
    "Authentication-Results",
    "ARC-Seal",
    "ARC-Message-Signature",
    "ARC-Authentication-Results",
    "DKIM-Signature",
    "DomainKey-Signature",
    "X-Received",
    "X-Google-Smtp-Source",
    "X-Google-DKIM-Signature",
    "X-Gm-Message-State",
    "X-Forefront-Antispam-Report",
    "X-Originating-IP",
    "X-Virus-Scanned",
    "Feedback-ID",
    "List-Archive",
    "List-Help",
    "List-Owner",
    "List-Subscribe",
    "List-Unsubscribe-Post",
    "X-Mailer",
    "User-Agent",
    "Thread-Index",
    "X-MS-Has-Attach",
    "X-MS-TNEF-Correlator",
    "MIME-Version",
};
static const char *const hidden_prefixes[] = {"X-MS-Exchange-", "X-Microsoft-Antispam", "X-Spam-"};

/* Which of once_names[] the field named p[0..k) is, or -1. */
static int once_index(const char *p, size_t k)
{
	for (int i = 0; i < N_ONCE; i++)
		if (name_is(p, k, once_names[i]))
			return i;
	return -1;
}

/*
 * k, the length of p's field name, when the name is one of hidden_names[]
 * or (once, from once_index()) once_names[] and the colon follows it at
 * once; else 0.
 */
static size_t hidden_name(const char *p, size_t n, size_t k, int once)
{
	if (k == 0 || k >= n || p[k] != ':')
		return 0;
	if (once >= 0)
		return k;
	for (size_t i = 0; i < sizeof(hidden_names) / sizeof(hidden_names[0]); i++)
		if (name_is(p, k, hidden_names[i]))
			return k;
	for (size_t i = 0; i < sizeof(hidden_prefixes) / sizeof(hidden_prefixes[0]); i++) {
		size_t l = strlen(hidden_prefixes[i]);
		if (k > l && strncasecmp(p, hidden_prefixes[i], l) == 0)
			return k;
	}
	return 0;
}

/* Where the field whose first line ends at i ends: after its continuation lines. */
static size_t field_end(const struct scan *s, size_t i)
{
	while (i < s->len && wsp(s->p[i])) {
		const char *nl = memchr(s->p + i, '\n', s->len - i);
		i = nl ? (size_t)(nl - s->p) + 1 : s->len;
	}
	return i;
}

/*
 * Bytes from p that plain_field() passes without a second look (printable
 * ASCII but '='), sixteen at a time; the rest of a block is left to it.
 */
static size_t printable_run(const char *p, size_t len)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i ctl = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f), eq = _mm_set1_epi8('=');
	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i bad = _mm_or_si128(
		    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v),
		    _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, del), v), _mm_cmpeq_epi8(v, eq)));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#else
	(void)p, (void)len;
#endif
	return i;
}

/* Printable ASCII and folding only: no encoded-word, no blank continuation line. */
static bool plain_field(const char *p, size_t len)
{
	for (size_t k = 0; k < len; k++) {
		k += printable_run(p + k, len - k);
		if (k >= len)
			break;
		unsigned char ch = (unsigned char)p[k];
		if (ch == '=' && k + 1 < len && p[k + 1] == '?')
			return false;
		if (ch == '\r' && (k + 1 >= len || p[k + 1] != '\n'))
			return false;
		if (ch == '\n' && k + 1 < len) {
			size_t j = k + 1;
			while (j < len && wsp(p[j]))
				j++;
			if (j >= len || p[j] == '\r' || p[j] == '\n')
				return false;
		}
		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch > 0x7e)
			return false;
	}
	return true;
}

static int add_hidden(struct pctx *c, struct phidden f)
{
	struct phidden *h =
	    parray_room(c->hidden, &c->cap_hidden, c->n_hidden, sizeof(*c->hidden), 16);
	if (!h)
		return -1;
	c->hidden = h;
	c->hidden[c->n_hidden++] = f;
	return 0;
}

static void count_warning(gint64 offset, GMimeParserWarning code, const char *item, gpointer data)
{
	(void)offset, (void)code, (void)item;
	(*(unsigned *)data)++;
}

/*
 * The list GMime's message would make of an address field's raw value
 * v[0..len) (internet_address_list_parse() with the same options, as its
 * message_update_addresses() does), or NULL when that parse warns.
 */
static InternetAddressList *quiet_addresses(struct pctx *c, const char *v, size_t len)
{
	if (!c->po)
		return NULL;
	char *raw = g_strndup(v, len);
	unsigned warned = 0;
	GMimeParserWarningFunc cb = g_mime_parser_options_get_warning_callback(c->po);
	g_mime_parser_options_set_warning_callback(c->po, count_warning, &warned);
	InternetAddressList *l = internet_address_list_parse(c->po, raw);
	g_mime_parser_options_set_warning_callback(c->po, cb, c); /* build() registers it with c */
	g_free(raw);
	if (l && warned) {
		g_object_unref(l);
		l = NULL;
	}
	return l;
}

/*
 * A field of once_names[] in the top section: a second of the name marks
 * the first left out, if it was, to be put back. Returns whether this one
 * may be left out (it is the first).
 */
static bool once_field(struct scan *s, int once)
{
	if (once < 0)
		return true;
	if (s->once_seen[once]++ == 0)
		return true;
	if (s->once_hidden[once])
		s->c->hidden[s->once_hidden[once] - 1].put_back = true;
	s->once_hidden[once] = 0;
	return false;
}

/*
 * A delimiter line inside the message's own header section: GMime may read
 * it as a field ("--b: x") and its header section go on past it, where this
 * scan counts no more names. Every field of once_names[] left out goes back.
 */
static void once_put_back(struct scan *s)
{
	for (int i = 0; i < N_ONCE; i++) {
		if (s->once_hidden[i])
			s->c->hidden[s->once_hidden[i] - 1].put_back = true;
		s->once_hidden[i] = 0;
	}
}

/* The field whose first line is p[0..n) (full with its line ending): left out of GMime's input? */
static bool hide_field(struct scan *s, const char *p, size_t n, size_t full, size_t k, int once)
{
	const struct payload_options *o = s->c->opt;
	if (!s->top || !once_field(s, once))
		return false;
	size_t name = s->c->skip & PSKIP_HIDE ? 0 : hidden_name(p, n, k, once);
	if (!name)
		return false;
	size_t at = (size_t)(p - s->p), len = field_end(s, at + full) - at;
	if (len > o->max_header_field_size || s->section_bytes + len > o->max_header_section_size ||
	    !plain_field(p, len))
		return false;
	struct phidden f = {.at = at, .len = len, .name_len = name, .addr_type = -1};
	if (once >= ONCE_ADDRESS) {
		f.addrs = quiet_addresses(s->c, p + name + 1, len - name - 1);
		if (!f.addrs)
			return false;
		f.addr_type = once - ONCE_ADDRESS;
	}
	if (add_hidden(s->c, f) < 0) {
		if (f.addrs)
			g_object_unref(f.addrs);
		return false;
	}
	if (once >= 0)
		s->once_hidden[once] = s->c->n_hidden;
	s->section_bytes += len;
	s->skipping_field = true; /* its continuation lines are left out with it */
	return true;
}

/* A field's first line in a header section: kept (true) or left out. */
static bool header_field(struct scan *s, const char *p, size_t n, size_t full)
{
	const struct payload_options *o = s->c->opt;
	size_t k = field_name(p, n);
	int once = s->top ? once_index(p, k) : -1;
	unsigned kind = name_is(p, k, "Content-Type")                ? SEEN_TYPE
	                : name_is(p, k, "Content-Transfer-Encoding") ? SEEN_TE
	                : name_is(p, k, "Content-Disposition")       ? SEEN_DISPOSITION
	                                                             : 0;
	bool keep = true;
	s->section_fields++;
	s->field_bytes = full;
	s->field_kind = kind;
	s->exempt = false;
	if (s->section_bytes + full > o->max_header_section_size)
		s->section_full = true; /* sticky: no later, shorter field slips in */
	if (s->section_fields > o->max_header_count || s->section_full) {
		/* beyond the caps, only what shapes the tree is still parsed, once */
		keep = s->exempt = kind && !(s->seen & kind);
		if (s->section_fields > o->max_header_count)
			pctx_warn(
			    s->c, "header_count_limit",
			    "more than %u header fields in a section: the rest were not parsed",
			    o->max_header_count);
		else
			pctx_warn(s->c, "header_size_limit",
			          "header section over %u bytes: the fields beyond were not parsed",
			          o->max_header_section_size);
	}
	if (keep && full > o->max_header_field_size) {
		keep = false;
		pctx_warn(s->c, "header_size_limit", "header field over %u bytes: left out",
		          o->max_header_field_size);
	}
	s->skipping_field = !keep;
	if (!keep) {
		once_field(s, once); /* cut, but counted: the first of the name goes back */
		return false;
	}
	if (hide_field(s, p, n, full, k, once))
		return false;
	s->top_shown |= s->top;
	s->seen |= kind;
	s->section_bytes += full;
	if (kind == SEEN_TYPE)
		s->next_is_message = false;
	message_type(s, p, n);
	return true;
}

/* A continuation line of the current field: kept (true) or left out. */
static bool header_continuation(struct scan *s, const char *p, size_t n, size_t full)
{
	const struct payload_options *o = s->c->opt;
	if (s->skipping_field)
		return false;
	s->field_bytes += full;
	if (s->field_bytes > o->max_header_field_size ||
	    (!s->exempt && s->section_bytes + full > o->max_header_section_size)) {
		if (!s->exempt && s->section_bytes + full > o->max_header_section_size)
			s->section_full = true;
		/* the field keeps its first lines: cut at a line, it stays well formed */
		s->skipping_field = true;
		pctx_warn(s->c, "header_size_limit",
		          "header field over %u bytes: its further lines were not parsed",
		          o->max_header_field_size);
		return false;
	}
	s->section_bytes += full;
	message_type(s, p, n);
	return true;
}

/* Closes a skipped range at `at`; the range is not shown to GMime. */
static int keep_from(struct scan *s, size_t *kept, size_t at)
{
	if (s->skip_from == SIZE_MAX)
		return 0;
	int rc = add_piece(s->c, *kept, s->skip_from - *kept, false);
	*kept = at;
	s->skip_from = SIZE_MAX;
	return rc;
}

static bool count_part(struct scan *s)
{
	if (++s->parts <= s->c->opt->max_mime_parts)
		return true;
	pctx_warn(s->c, "mime_part_limit", "more than %u MIME parts; the rest are not listed",
	          s->c->opt->max_mime_parts);
	return false;
}

/*
 * The start of the first line at or after the line start i that begins
 * with "--", or n. In a body only such a line (a delimiter) changes
 * anything, and most bodies have few '-': memchr passes over the rest.
 */
static size_t next_dash_line(const char *p, size_t i, size_t n)
{
	while (i + 1 < n) {
		if (p[i] == '-' && p[i + 1] == '-' && (i == 0 || p[i - 1] == '\n'))
			return i;
		const char *q = memchr(p + i + 1, '-', n - i - 1);
		if (!q)
			return n;
		i = (size_t)(q - p);
	}
	return n;
}

/* Pass 2: the lines. Returns the offset where GMime's input ends, or SIZE_MAX when out of memory.
 */
static size_t scan_lines(struct scan *s, size_t *kept)
{
	const char *p = s->p;
	size_t i = 0, n = s->len;
	new_section(s);
	s->top = true;
	while (i < n) {
		/* a body line that is no delimiter is kept and changes nothing: skip to the next */
		if (!s->in_header && s->skip_from == SIZE_MAX && (i = next_dash_line(p, i, n)) >= n)
			break;
		const char *nl = memchr(p + i, '\n', n - i);
		size_t next = nl ? (size_t)(nl - p) + 1 : n;
		size_t l = (nl ? (size_t)(nl - p) : n) - i;
		if (l && p[i + l - 1] == '\r')
			l--;
		bool end, keep = true;
		if (delimiter(s, p + i, l, &end)) {
			if (s->top && s->in_header)
				once_put_back(s);
			if (!end && !count_part(s))
				return i;
			if (end)
				s->in_header = false;
			else
				new_section(s);
		} else if (s->in_header && l == 0) {
			if (s->next_is_message && !count_part(s))
				return i;
			if (s->next_is_message)
				new_section(s);
			else
				s->in_header = false;
		} else if (s->in_header && wsp(p[i]) && s->section_fields) {
			keep = header_continuation(s, p + i, l, next - i);
		} else if (s->in_header && is_field(p + i, l)) {
			keep = header_field(s, p + i, l, next - i);
		} else {
			s->in_header = false;
		}
		if (!keep)
			skip_begin(s, i);
		else if (keep_from(s, kept, i) < 0)
			return SIZE_MAX;
		i = next;
	}
	return n;
}

int pscan_insert_piece(struct pctx *c, size_t i, struct ppiece p)
{
	struct ppiece *a = parray_room(c->pieces, &c->cap_pieces, c->n_pieces, sizeof(*a), 16);
	if (!a)
		return -1;
	c->pieces = a;
	memmove(c->pieces + i + 1, c->pieces + i, (c->n_pieces - i) * sizeof(*c->pieces));
	c->pieces[i] = p;
	c->n_pieces++;
	return 0;
}

/*
 * Field k left out goes back into GMime's input after all, in its place
 * among the pieces (and GMime's input then reaches at least its end).
 */
static int show_hidden(struct pctx *c, size_t k)
{
	const struct phidden h = c->hidden[k];
	size_t i = 0;
	while (i < c->n_pieces && c->pieces[i].orig < h.at)
		i++;
	if (pscan_insert_piece(c, i, (struct ppiece){.orig = h.at, .len = h.len}) < 0)
		return -1;
	if (c->gm_end < h.at + h.len)
		c->gm_end = h.at + h.len;
	if (h.addrs)
		g_object_unref(h.addrs); /* GMime parses it now */
	g_free(h.value);
	memmove(c->hidden + k, c->hidden + k + 1, (c->n_hidden - k - 1) * sizeof(*c->hidden));
	c->n_hidden--;
	return 0;
}

/*
 * The fields of once_names[] whose name came again go back; and when GMime
 * was shown no field of the message's own header section, the first left
 * out does.
 */
static int show_needed(struct pctx *c, bool shown)
{
	for (size_t k = c->n_hidden; k-- > 0;) {
		if (!c->hidden[k].put_back)
			continue;
		if (show_hidden(c, k) < 0)
			return -1;
		shown = true;
	}
	return c->n_hidden && !shown ? show_hidden(c, 0) : 0;
}

int pscan_message(struct pctx *c, size_t len)
{
	struct scan s = {.c = c, .p = c->msg->data, .len = len, .skip_from = SIZE_MAX};
	s.bounds.max = 2 * (size_t)c->opt->max_mime_parts + 64; /* each multipart has one */
	find_boundaries(&s);
	size_t kept = 0, end = scan_lines(&s, &kept);
	bset_free(&s.bounds);
	if (end == SIZE_MAX)
		return -1;
	c->cut = end < len && s.parts > c->opt->max_mime_parts;
	if (s.skip_from != SIZE_MAX && s.skip_from < end)
		end = s.skip_from; /* the input ends inside a skipped range */
	c->gm_end = end;
	if (add_piece(c, kept, end > kept ? end - kept : 0, false) < 0)
		return -1;
	return show_needed(c, s.top_shown);
}

static struct phidden *hidden_field(struct pctx *c, GMimeMessage *m, const char *name)
{
	size_t nl = strlen(name);
	if (!m || m != c->m)
		return NULL;
	for (size_t i = 0; i < c->n_hidden; i++) {
		struct phidden *h = &c->hidden[i];
		if (h->name_len == nl && g_ascii_strncasecmp(c->msg->data + h->at, name, nl) == 0)
			return h;
	}
	return NULL;
}

char *pscan_hidden_raw(struct pctx *c, GMimeMessage *m, const char *name)
{
	const struct phidden *h = hidden_field(c, m, name);
	if (!h)
		return NULL;
	size_t n = h->len - h->name_len - 1;
	char *u = malloc(n + 1);
	if (!u) {
		c->oom = 1;
		return NULL;
	}
	memcpy(u, c->msg->data + h->at + h->name_len + 1, n);
	u[n] = '\0';
	return u;
}

/*
 * What g_mime_header_get_value() makes of the raw value: unfolded, then
 * decoded as text; made once (the subject is read by the headers and the
 * classification).
 */
const char *pscan_hidden_value(struct pctx *c, GMimeMessage *m, const char *name)
{
	struct phidden *h = hidden_field(c, m, name);
	if (!h || h->value)
		return h ? h->value : NULL;
	char *raw = pscan_hidden_raw(c, m, name);
	if (!raw)
		return NULL;
	char *u = g_mime_utils_header_unfold(raw);
	free(raw);
	h->value = u ? g_mime_utils_header_decode_text(c->po, u) : NULL;
	g_free(u);
	return h->value;
}

InternetAddressList *pscan_hidden_addresses(struct pctx *c, GMimeMessage *m, GMimeAddressType t)
{
	if (!m || m != c->m)
		return NULL;
	for (size_t i = 0; i < c->n_hidden; i++)
		if (c->hidden[i].addrs && c->hidden[i].addr_type == (int)t)
			return c->hidden[i].addrs;
	return NULL;
}

void pscan_free(struct pctx *c)
{
	for (size_t i = 0; i < c->n_hidden; i++) {
		if (c->hidden[i].addrs)
			g_object_unref(c->hidden[i].addrs);
		g_free(c->hidden[i].value);
	}
	free(c->hidden);
	free(c->pieces);
	c->hidden = NULL;
	c->pieces = NULL;
	c->n_hidden = c->n_pieces = 0;
}

size_t pscan_orig_offset(const struct pctx *c, size_t off)
{
	size_t acc = 0;
	for (size_t i = 0; i < c->n_pieces; i++) {
		const struct ppiece *p = &c->pieces[i];
		if (off < acc + p->len)
			return p->inserted
			           ? (i + 1 < c->n_pieces ? c->pieces[i + 1].orig : c->gm_end)
			           : p->orig + (off - acc);
		acc += p->len;
	}
	return c->gm_end;
}
