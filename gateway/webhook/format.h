/*
 * format.h: the provider formats of docs/formats.md (postmark, mailgun,
 * mailgun-mime, sendgrid, sendgrid-raw), built from the same parsed message
 * as our json format (payload_build()). gateway/webhook/format.c
 * dispatches; format_postmark.c, format_mailgun.c and format_sendgrid.c
 * each own one provider's fields.
 */
#ifndef FORMAT_H
#define FORMAT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "form_data.h"
#include "payload.h"

struct webhook_request;

/* A request's provider-format state (NULL for json and raw). */
struct format_state {
	struct form_data *form; /* multipart formats; NULL for postmark (body in r->body) */
	int ts_part, token_part, sig_part; /* mailgun: fields re-made at each attempt, else -1 */
	char ts[24], token[64], sig[72];
	char *mailgun_key;     /* mailgun*: the signing key as Mailgun issues it */
	char content_type[96]; /* the request's Content-Type */
};

bool format_is_provider(enum gw_format f);
/* Whether secret is the Mailgun signing key of a mailgun* route (a plain, not whsec_/whsk_, key).
 */
bool format_mailgun_key(enum gw_format f, const char *secret);
const char *format_name(enum gw_format f);

/*
 * Builds r's body (postmark: r->body; the others: r->fmt->form) for the
 * route's format. Returns 0, or -1 with errno ENOMEM (or EINVAL: a mailgun
 * route without its key, which the configuration refuses).
 */
int format_build(struct webhook_request *r, const struct gw_route *route,
                 const struct envelope *env, const struct message_bytes *msg, const json_t *auth,
                 const struct payload_options *o);

/* Per attempt: re-makes Mailgun's timestamp, token and signature for ts. Returns 0 or -1. */
int format_attempt(const struct webhook_request *r, int64_t ts);

/* The Standard Webhooks signature of a multipart body (streamed through the keys). */
char *format_sign(const struct webhook_request *r, int64_t ts);

/* Sets the body options of one attempt on easy (multipart: the read callback). */
void format_setup(const struct webhook_request *r, CURL *easy);

void format_free(struct format_state *s);

/* ----- shared by format_*.c ----- */

/* Member lookups that tolerate a missing or mistyped member (NULL / ""). */
json_t *fmt_get(const json_t *o, const char *path); /* "message.reply.text" */
const char *fmt_str(const json_t *o, const char *path);
/* The string at path as a new reference ("" when absent): keeps NUL bytes, unlike fmt_str. */
json_t *fmt_strj(const json_t *o, const char *path);
/* Adds the string at path (NUL bytes kept) as a form field. Returns 0 or -1. */
int fmt_add_str(struct form_data *f, const char *name, const json_t *o, const char *path);

/* The address list at path as "Name <a@b>, c@d" (display names quoted when needed). */
char *fmt_addr_list(const json_t *list);
/* The plus-address tag of a@b ("" when none), as the payload's recipients give it. */
const char *fmt_mailbox_hash(const json_t *payload, const char *address, char *buf, size_t sz);
/* The first header field named name (decoded value), or NULL. */
const char *fmt_header(const json_t *payload, const char *name);
/* The envelope recipients joined with ", ". */
char *fmt_recipients(const struct envelope *env);
/* Length of the header section (through the last field's line break; all when no empty line). */
size_t fmt_header_len(const struct message_bytes *msg);
/* The header block of the message as received (up to the empty line), malloc'd. */
char *fmt_raw_header(const struct message_bytes *msg, size_t *len);
/* Decodes an attachment's base64 content into a malloc'd buffer; frees the tree's copy. */
char *fmt_take_content(json_t *att, size_t *len);
/*
 * Adds the message (or its header block) as a plain field: raw bytes, as
 * the providers send it; labelled text/plain; charset=ISO-8859-1 when it is
 * not UTF-8, so that receivers that check text fields' encoding (Rack and
 * Rails answer 400) take the bytes as they are. blob: the form's blob.
 */
int fmt_add_message_field(struct form_data *f, const char *name, char *copy, size_t len, bool blob);
/* A copy of the message (valid UTF-8 or not: for form fields). */
char *fmt_message_copy(const struct message_bytes *msg);

int format_postmark(struct webhook_request *r, json_t *payload, const struct envelope *env,
                    const struct message_bytes *msg);
int format_mailgun(struct format_state *s, json_t *payload, const struct envelope *env,
                   const struct message_bytes *msg, bool mime);
int format_sendgrid(struct format_state *s, json_t *payload, const struct envelope *env,
                    const struct message_bytes *msg, bool raw);

#endif
