/*
 * payload_int.h: what the files of gateway/mime/ share and nobody else
 * sees. One struct pctx per payload_build()/payload_write() call carries the
 * options, the warnings and the buffers; there is no global state besides
 * GMime's one-time initialisation.
 *
 * Never include this outside gateway/mime/ (and the module's own tests):
 * the public contract is include/payload.h.
 */
#ifndef PAYLOAD_INT_H
#define PAYLOAD_INT_H

#include <gmime/gmime.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_object_of.h"
#include "payload.h"

#define PLACEHOLDER            "gw-deferred-content" /* a deferred value's stand-in in the tree */
#define PAYLOAD_MAX_WARNINGS   64 /* distinct warnings kept; then one "warnings_truncated" */
#define DEFAULT_MAX_REPLY_SCAN (1024 * 1024) /* limits.max_reply_scan's default */
#define GIVE_BACK_CHUNK        (1u << 20)    /* pages already read or written go back this often */

/* A growable byte buffer with a hard ceiling fixed at creation. */
struct pbuf {
	char *p;
	size_t len, cap;
	size_t max; /* pbuf_add fails rather than grow past this */
};

/* payload_buf.c, the module's bottom file: it calls no other. */
int pbuf_add(struct pbuf *b, const void *p, size_t n);
int pbuf_reserve(struct pbuf *b, size_t n);
void pbuf_free(struct pbuf *b);
/* items with room for one more element, or NULL (payload_buf.c). */
void *parray_room(void *items, size_t *cap, size_t n, size_t size, size_t first);

/* payload_utf8.c: UTF-8 (RFC 3629) validation and repair; calls payload_buf.c only. */
size_t putf8_seq(const unsigned char *s, size_t len, size_t *sub); /* 1..4, or 0: invalid */
size_t putf8_ascii_prefix(const unsigned char *u, size_t len);
size_t putf8_valid(const char *s, size_t len); /* length of the valid prefix */
int putf8_sanitize(const char *s, size_t len, struct pbuf *out, size_t *replaced);

/* Where decoded or encoded bytes go, chunk by chunk. Returns 0 or -1. */
typedef int (*psink_fn)(void *arg, const char *p, size_t n);

/*
 * A part whose base64 content payload_write() streams at dump time instead
 * of holding it in the tree: the placeholder string's buffer is recognised
 * by address when jansson hands it to the dump callback.
 */
struct pdeferred {
	json_t *placeholder; /* borrowed: owned by the tree */
	GMimeObject *part;   /* a GMimePart (decoded) or NULL for a raw slice */
	const char *raw;     /* raw slice of the input (message/rfc822, message.raw) */
	size_t raw_len;
	bool crlf;     /* re-serialised parts use the input's line endings */
	bool b64_copy; /* a base64 part whose text is copied without its line breaks */
	char *text;    /* owned, valid UTF-8: a body written JSON-escaped, not base64 */
	size_t text_len;
	bool given_back; /* text's pages were returned to the kernel as written */
	bool borrowed;   /* text is a slice of another value's (message.reply.text of the
	                    body's): never freed here, never given back */
	bool lent;       /* a borrowed slice points into text: its pages are never given back */
	/*
	 * A list of the envelope written one element at a time at dump time
	 * (100,000 recipients as a tree would cost ~1 KB each): an array,
	 * not a string. Only the fast serialiser writes these.
	 */
	enum pdefer_list { PLIST_NONE, PLIST_RCPT_TO, PLIST_RECIPIENTS, PLIST_HEADERS } list;
};

/*
 * One entry of message.headers written at dump time (PLIST_HEADERS,
 * payload_headers.c): a plain field, written from its name and raw value
 * (unfolded as it is written), or one whose value was built already.
 */
struct phref {
	const char *name, *raw; /* borrowed: the input's bytes or GMime's strings */
	size_t name_len, raw_len;
	json_t *built; /* owned; NULL for a plain field */
};

struct pctx {
	const struct payload_options *opt;
	const struct envelope *env; /* may be NULL (parse) */
	const struct message_bytes *msg;
	bool defer;        /* payload_write(): content is streamed at dump time */
	bool defer_text;   /* and bodies are escaped by us (flags jansson-compatible) */
	bool defer_lists;  /* and the envelope's lists too (pjson_fast(): our serialiser) */
	json_t *warnings;  /* the "warnings" array, owned by the tree */
	bool warn_full;    /* PAYLOAD_MAX_WARNINGS reached */
	uint32_t parts;    /* MIME objects visited, against max_mime_parts */
	bool parts_capped; /* max_mime_parts reached: the walk stops */
	bool crlf;         /* the input uses CRLF line endings */
	struct pdeferred *deferred;
	size_t n_deferred, cap_deferred;
	int oom;                /* sticky: an allocation failed somewhere */
	GMimeMessage *m;        /* NULL when GMime found no message at all */
	GByteArray *arr;        /* borrows msg->data for GMime's stream; freed after m */
	char *gm_copy;          /* short pieces laid end to end (payload.c parse()), or NULL */
	GMimeParserOptions *po; /* GMime's parser options (payload.c build()); NULL in some tests */
	struct ppiece *pieces;  /* what GMime reads, in order (payload_scan.c) */
	size_t n_pieces, cap_pieces;
	size_t gm_end;       /* GMime's input stops at this offset of the input */
	struct phref *hrefs; /* message.headers when deferred (PLIST_HEADERS) */
	size_t n_hrefs, cap_hrefs;
	struct phidden *hidden; /* top-level fields GMime was not shown (payload_scan.c) */
	size_t n_hidden, cap_hidden;
	bool cut;         /* ...because of max_mime_parts: GMime's "truncated" is ours */
	unsigned skip;    /* PSKIP_*: stages left out (bench_payload only; 0 otherwise) */
	const char *lent; /* the body text buffer a deferred reply text borrows from, or NULL */
	/*
	 * A decoded part the caller throws away once converted (payload_body.c
	 * add_body): a charset conversion reading it may give back its pages as
	 * it goes (payload_text.c), so the bytes and their UTF-8 are not both
	 * resident. NULL otherwise.
	 */
	const char *consumable;
	size_t consumable_len;
	size_t input_read; /* bytes read from the input since its pages were last given back */
};

/*
 * A field of the message's own header section that the payload only lists
 * and GMime was not shown (payload_scan.c hide_field()): message.headers
 * lists it from the input's bytes.
 */
struct phidden {
	size_t at;       /* offset of its first byte in the input */
	size_t len;      /* its bytes, continuation lines and last line ending included */
	size_t name_len; /* the name, which the colon follows at once */
	bool put_back;   /* a field of the name came again: GMime is shown it after all */
	int addr_type;   /* an address field: its GMimeAddressType, else -1 */
	InternetAddressList *addrs; /* an address field: its list, as GMime parses it (owned) */
	char *value;                /* pscan_hidden_value(), once asked (owned, g_free) */
};

/* A range of the input GMime reads, or (inserted) an empty line it lacks. */
struct ppiece {
	size_t orig; /* offset in the input; for an inserted line, where it goes */
	size_t len;
	bool inserted;
};

/* payload.c */
void pgmime_init(void); /* g_mime_init() once per process, thread-safely */

/*
 * For bench_payload and the tests alone: payload_write() (no envelope, no
 * auth) with message.reply (PSKIP_REPLY) and/or message.classification and
 * message.bounce (PSKIP_CLASSIFY) left null, or with every header field
 * shown to GMime (PSKIP_HIDE: test_prescan.c compares the two payloads).
 * The daemon never calls this; its payloads always have every member.
 */
enum { PSKIP_REPLY = 1, PSKIP_CLASSIFY = 2, PSKIP_HIDE = 4 };
int payload_write_without(const struct message_bytes *msg, const struct payload_options *opt,
                          size_t flags, json_dump_callback_t cb, void *data, unsigned skip);

/*
 * payload_ctx.c: the warnings, the deferred values and the out-of-memory
 * mark of one call; below every stage (calls payload_buf.c, payload_utf8.c).
 */
void pctx_warn(struct pctx *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
json_t *pctx_placeholder(void);
int pctx_defer(struct pctx *c, json_t *placeholder, GMimeObject *part, const char *raw,
               size_t raw_len);
/* A placeholder for a list pjson_write() writes one element at a time (NULL: out of memory). */
json_t *pctx_defer_list(struct pctx *c, enum pdefer_list list);
int pctx_defer_text(struct pctx *c, json_t *placeholder, char *text, size_t len);
/* The same for a slice of a text another deferred value owns (not copied, not freed). */
int pctx_defer_slice(struct pctx *c, json_t *placeholder, const char *text, size_t len);
/* json_object_set_new_nocheck for literal keys; a NULL value marks the tree out of memory */
void pctx_put(struct pctx *c, json_t *o, const char *key, json_t *v);
/*
 * When opt->input_mapped: n more bytes were decoded from the input; every
 * GIVE_BACK_CHUNK of them, the input's pages go back to the kernel
 * (pctx_give_back_input), so a big part and its decoded copy are never
 * both resident. A no-op otherwise.
 */
void pctx_input_progress(struct pctx *c, size_t n);
/* When opt->input_mapped: MADV_DONTNEED over the input's whole pages (a hint). */
void pctx_give_back_input(struct pctx *c);
/* A psink_fn that counts what passes through pctx_input_progress, then hands it on. */
struct pprogress {
	struct pctx *c;
	psink_fn sink;
	void *arg;
};
int pctx_progress_sink(void *arg, const char *p, size_t n);

/* payload_charset.c: the WHATWG Encoding Standard's labels (section 4.2). */
enum pcharset_id {
	PCS_UTF8,
	PCS_IBM866,
	PCS_8859_2,
	PCS_8859_3,
	PCS_8859_4,
	PCS_8859_5,
	PCS_8859_6,
	PCS_8859_7,
	PCS_8859_8,
	PCS_8859_8I,
	PCS_8859_10,
	PCS_8859_13,
	PCS_8859_14,
	PCS_8859_15,
	PCS_8859_16,
	PCS_KOI8_R,
	PCS_KOI8_U,
	PCS_MACINTOSH,
	PCS_WIN874,
	PCS_WIN1250,
	PCS_WIN1251,
	PCS_WIN1252,
	PCS_WIN1253,
	PCS_WIN1254,
	PCS_WIN1255,
	PCS_WIN1256,
	PCS_WIN1257,
	PCS_WIN1258,
	PCS_MAC_CYRILLIC,
	PCS_GBK,
	PCS_GB18030,
	PCS_BIG5,
	PCS_EUC_JP,
	PCS_ISO2022JP,
	PCS_SHIFT_JIS,
	PCS_EUC_KR,
	PCS_REPLACEMENT,
	PCS_UTF16BE,
	PCS_UTF16LE,
	PCS_USER_DEFINED,
	PCS_MAX
};
struct pcharset {
	const char *name;  /* the standard's name, for warnings */
	const char *iconv; /* what glibc iconv calls it; NULL: decoded in payload_text.c */
	enum pcharset_id id;
	bool ascii; /* ASCII bytes mean ASCII characters whatever the state */
};
/* The encoding of a label (case-insensitive, white space trimmed), or NULL: unknown. */
const struct pcharset *pcharset_get(const char *label);
const struct pcharset *pcharset_id(enum pcharset_id id);

/* payload_text.c: UTF-8 and text bodies. */
json_t *ptext_json(struct pctx *c, const char *s, size_t len, const char *where);
json_t *ptext_json0(struct pctx *c, const char *s, const char *where);
bool ptext_is_clean(const char *s, size_t len, const char *charset);
int ptext_to_utf8(struct pctx *c, const char *s, size_t len, const char *charset, struct pbuf *out,
                  const char *where);
void ptext_crlf_to_lf(struct pbuf *b);
int ptext_rfc2047(struct pctx *c, const char *s, size_t len, struct pbuf *out, const char *where);
int ptext_unflow(struct pbuf *b, bool delsp);

/* payload_b64.c: base64 (RFC 4648 section 4, no line breaks) and decoding. */
struct pb64 {
	unsigned char carry[3];
	size_t n_carry;
	psink_fn sink;
	void *arg;
};
void pb64_init(struct pb64 *e, psink_fn sink, void *arg);
int pb64_add(struct pb64 *e, const unsigned char *p, size_t n);
int pb64_end(struct pb64 *e);
size_t pb64_len(size_t n);
int pmime_decode(GMimeDataWrapper *w, psink_fn sink, void *arg);
/* The same; *b64_canonical: the part is base64 that pmime_copy_b64() may copy (payload_b64.c). */
int pmime_decode_canon(GMimeDataWrapper *w, psink_fn sink, void *arg, bool *b64_canonical);
int pmime_copy_b64(GMimeDataWrapper *w, psink_fn sink, void *arg);
size_t pmime_encoded_length(GMimeDataWrapper *w);
size_t pqp_decode(char *buf, size_t len);
size_t pb64_decode(const char *in, size_t len, char *out); /* out: at least len bytes */

/* payload_reply.c: message.reply, the new text of a reply (docs/payload.md). */
/* A slice of text that someone else owns. */
struct pline {
	const char *p;
	size_t n;
};

struct preply {
	struct pline text; /* the reply without quotes and signature: in buf, or (one run
	                      of the input, nothing cut out between) a slice of the input */
	struct pbuf buf;   /* the kept lines when they had to be joined */
	struct pbuf sig;   /* the signature */
	bool has_sig;
	bool sig_is_trailer; /* "Sent from my iPhone" rather than "-- " */
	int quoted;          /* 1 quoted history removed, 0 none found, -1 not looked (limit) */
	const char *method;  /* static: how the boundary was found */
	bool every_test;     /* in: no prose fast path (payload_reply.c prose()); tests compare */
};
int preply_extract(const char *s, size_t len, size_t max_scan, struct preply *out);
void preply_free(struct preply *r);
/* Adds reply, text_from_html, classification and bounce to out; may fill text from html. */
int preply_message(struct pctx *c, GMimeMessage *m, struct pbuf *text, bool *has_text,
                   const struct pbuf *html, bool has_html, json_t *out);

/* payload_html2text.c: HTML to plain text (message.text for HTML-only mail). */
struct phtml_text {
	struct pbuf text;    /* paragraphs, line breaks, lists, links as "text (url)" */
	size_t quote_at;     /* offset in text where a quoted-reply container starts, or SIZE_MAX */
	bool saw_blockquote; /* some text was quoted with <blockquote> ("> " lines) */
};
int phtml_to_text(const char *html, size_t len, bool mark_quotes, struct phtml_text *out);

/* HTML: the text before the quote container (not for a forward); the method it implies. */
size_t preply_html_len(const struct phtml_text *h, bool *cut);
void preply_html_adjust(struct preply *r, bool cut, bool saw_blockquote);
/* message.reply of s (or, when h is not NULL, of the HTML converted into h). */
json_t *preply_json(struct pctx *c, const char *s, size_t len, const struct phtml_text *h);

/* payload_classify.c / payload_bounce.c: message.classification and message.bounce. */
int pclassify_message(struct pctx *c, GMimeMessage *m, const char *text, size_t text_len,
                      json_t *out);
json_t *pbounce_json(struct pctx *c, GMimeMessage *m, const char *text, size_t text_len);

/* payload_msgid.c: the ids of every In-Reply-To or References field, lenient (<> optional). */
json_t *pmsgid_list(struct pctx *c, GMimeObject *o, const char *name, size_t max);

/* payload_json.c: the JSON text with the deferred values streamed in. */
int pjson_write(struct pctx *c, json_t *root, size_t flags, json_dump_callback_t cb, void *data);

/* Does pjson_write() use its own serialiser (not jansson's) for these flags? */
bool pjson_fast(size_t flags);

/* payload_envelope.c: the "envelope" and "recipients" members. */
json_t *penv_json(struct pctx *c, const struct envelope *e);
json_t *penv_recipients(struct pctx *c, const struct envelope *e);
/*
 * Element i of a deferred envelope list: the address of rcpt_to, or the
 * object of recipients[]. NULL when out of memory.
 */
json_t *penv_list_item(struct pctx *c, enum pdefer_list list, size_t i);

/*
 * payload_scan.c: the parts and header bytes GMime may see (c->pieces,
 * c->gm_end), and the fields it is not shown (c->hidden).
 */
int pscan_message(struct pctx *c, size_t len);
size_t pscan_orig_offset(const struct pctx *c, size_t gmime_offset);
/* Puts p at index i of c->pieces (the caller keeps them in input order). */
int pscan_insert_piece(struct pctx *c, size_t i, struct ppiece p);
/*
 * The value GMime would give the field `name` of m's own header section
 * when payload_scan.c left that field out of GMime's input (the field then
 * occurs once there), made by GMime's own functions once and kept until
 * pscan_free() (borrowed). NULL when GMime was shown it.
 */
const char *pscan_hidden_value(struct pctx *c, GMimeMessage *m, const char *name);
/* The same field's raw value (after the colon, line ending included): free() it; or NULL. */
char *pscan_hidden_raw(struct pctx *c, GMimeMessage *m, const char *name);
/* The address list of a field of type t left out of GMime's input (borrowed), or NULL. */
InternetAddressList *pscan_hidden_addresses(struct pctx *c, GMimeMessage *m, GMimeAddressType t);
/* Frees c->pieces and c->hidden with the address lists the latter holds. */
void pscan_free(struct pctx *c);

/* payload_headers.c: the message's header fields. */
int phead_message(struct pctx *c, GMimeMessage *m, json_t *out);
/* Frees c->hrefs and the values they hold. */
void phead_free(struct pctx *c);
/*
 * RFC 5322 unfolding of raw[0..len) as message.headers shows a value: white
 * space before the first line break and at the end goes, line breaks go, a
 * NUL ends it. run gets the kept runs in order (payload_json.c escapes them
 * as it writes); a run's failure stops it and is returned.
 */
int phead_unfold(const char *raw, size_t len, int (*run)(void *arg, const char *p, size_t n),
                 void *arg);

/* payload_body.c: the MIME tree to text, html and attachments. */
int pbody_message(struct pctx *c, GMimeMessage *m, json_t *out);
int pbody_stream_content(struct pctx *c, struct pdeferred *d, psink_fn sink, void *arg);

#endif
