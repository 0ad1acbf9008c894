/*
 * format.c: dispatch of the provider formats (docs/formats.md) and what
 * they share: member lookups in the payload tree, address lists, the
 * per-attempt Mailgun signature, the Standard Webhooks signature of a
 * streamed multipart body, and libcurl's body options for it.
 *
 * Every provider format is built from payload_build()'s tree, the very
 * parse our json format sends, so the two never disagree on a subject, an
 * address, a body or an attachment.
 *
 * Must never: hold a multipart body whole (it is streamed, form_data.c);
 * send a Mailgun POST without a signature; keep a pointer into the
 * session's envelope or message.
 */
#include "format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "utf8.h"
#include "webhook_request.h"

static const char *const names[] = {
    [FORMAT_JSON] = "json",
    [FORMAT_RAW] = "raw",
    [FORMAT_POSTMARK] = "postmark",
    [FORMAT_MAILGUN] = "mailgun",
    [FORMAT_MAILGUN_MIME] = "mailgun-mime",
    [FORMAT_SENDGRID] = "sendgrid",
    [FORMAT_SENDGRID_RAW] = "sendgrid-raw",
};

bool format_is_provider(enum gw_format f)
{
	return f >= FORMAT_POSTMARK && f <= FORMAT_SENDGRID_RAW;
}

bool format_mailgun_key(enum gw_format f, const char *secret)
{
	return (f == FORMAT_MAILGUN || f == FORMAT_MAILGUN_MIME) &&
	       strncmp(secret, "whsec_", 6) != 0 && strncmp(secret, "whsk_", 5) != 0;
}

const char *format_name(enum gw_format f)
{
	return (size_t)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

/* ------------------------------------------------------------ lookups */

json_t *fmt_get(const json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_is_object(o) ? json_object_get(o, key) : NULL;
		path += n + (dot ? 1 : 0);
	}
	return (json_t *)o;
}

const char *fmt_str(const json_t *o, const char *path)
{
	const char *s = json_string_value(fmt_get(o, path));

	return s ? s : "";
}

json_t *fmt_strj(const json_t *o, const char *path)
{
	json_t *v = fmt_get(o, path);

	return json_is_string(v) ? json_incref(v) : json_string("");
}

static void unref_json(void *ref)
{
	json_decref(ref);
}

/* The value is the tree's own string, not a copy: a 25 MB body is held once. */
int fmt_add_str(struct form_data *f, const char *name, const json_t *o, const char *path)
{
	json_t *v = fmt_get(o, path);

	if (!json_is_string(v))
		return form_data_add(f, name, "", 0) < 0 ? -1 : 0;
	return form_data_add_ref(f, name, json_string_value(v), json_string_length(v),
	                         json_incref(v), unref_json) < 0
	           ? -1
	           : 0;
}

/* A display name as one quoted-string (RFC 5322 3.2.4): '"' and '\' escaped. */
static void put_name(FILE *o, const char *name)
{
	fputc('"', o);
	for (; *name; name++) {
		if (*name == '"' || *name == '\\')
			fputc('\\', o);
		fputc(*name, o);
	}
	fputc('"', o);
}

char *fmt_addr_list(const json_t *list)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);
	size_t i;
	json_t *a;

	if (!o)
		return NULL;
	json_array_foreach(list, i, a)
	{
		const char *name = fmt_str(a, "name"), *addr = fmt_str(a, "address");
		if (i)
			fputs(", ", o);
		if (name[0]) {
			put_name(o, name);
			fprintf(o, " <%s>", addr);
		} else {
			fputs(addr, o);
		}
	}
	if (fclose(o) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

const char *fmt_mailbox_hash(const json_t *payload, const char *address, char *buf, size_t sz)
{
	const json_t *rcpts = fmt_get(payload, "recipients");
	const char *plus, *at;
	size_t i;
	json_t *r;

	json_array_foreach(rcpts, i, r)
	{
		const char *tag = json_string_value(json_object_get(r, "tag"));
		if (tag && strcasecmp(fmt_str(r, "address"), address) == 0) {
			snprintf(buf, sz, "%s", tag);
			return buf;
		}
	}
	plus = strchr(address, '+');
	at = strrchr(address, '@');
	if (!plus || (at && plus > at)) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, sz, "%.*s", (int)((at ? at : plus + strlen(plus)) - plus - 1), plus + 1);
	return buf;
}

const char *fmt_header(const json_t *payload, const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach(fmt_get(payload, "message.headers"), i, h)
	{
		if (strcasecmp(fmt_str(h, "name"), name) == 0)
			return fmt_str(h, "value");
	}
	return NULL;
}

char *fmt_recipients(const struct envelope *env)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);

	if (!o)
		return NULL;
	for (size_t i = 0; env && i < env->n_rcpts; i++)
		fprintf(o, "%s%s", i ? ", " : "",
		        env->rcpts[i].address ? env->rcpts[i].address : "");
	if (fclose(o) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

size_t fmt_header_len(const struct message_bytes *msg)
{
	const char *d = msg->data;
	const char *crlf = memmem(d, msg->len, "\r\n\r\n", 4);
	const char *lf = memmem(d, msg->len, "\n\n", 2);

	if (crlf && (!lf || crlf < lf))
		return (size_t)(crlf - d) + 2;
	if (lf)
		return (size_t)(lf - d) + 1;
	return msg->len;
}

char *fmt_raw_header(const struct message_bytes *msg, size_t *len)
{
	size_t n = fmt_header_len(msg);
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	memcpy(out, msg->data, n);
	out[n] = '\0';
	*len = n;
	return out;
}

char *fmt_take_content(json_t *att, size_t *len)
{
	const char *b64 = json_string_value(json_object_get(att, "content"));
	size_t n = b64 ? strlen(b64) : 0;
	char *out = malloc(n / 4 * 3 + 3);
	int got;

	if (!out)
		return NULL;
	*len = 0;
	if (n % 4 != 0) { /* the payload writes padded base64: anything else is a bug, fail */
		free(out);
		return NULL;
	}
	if (n == 0)
		return out;
	got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	got -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
	*len = (size_t)got;
	json_object_set_new(att, "content", json_null()); /* the base64 copy goes now */
	return out;
}

int fmt_add_message_field(struct form_data *f, const char *name, char *copy, size_t len, bool blob)
{
	int i;

	if (blob) {
		form_data_set_blob(f, copy, len);
		i = form_data_add_blob(f, name);
	} else {
		i = form_data_add_owned(f, name, copy, len, NULL, NULL);
	}
	if (i < 0)
		return -1;
	if (!utf8_valid(f->parts[i].data, f->parts[i].len))
		return form_data_set_type(f, (size_t)i, "text/plain; charset=ISO-8859-1");
	return 0;
}

char *fmt_message_copy(const struct message_bytes *msg)
{
	char *c = malloc(msg->len + 1);

	if (!c)
		return NULL;
	if (msg->len)
		memcpy(c, msg->data, msg->len);
	c[msg->len] = '\0';
	return c;
}

/* ------------------------------------------------------------- build */

/* Formats mailgun*: mailgun_signing_key, else the one plain (not whsec_/whsk_) secret. */
static const char *mailgun_key(const struct gw_route *route)
{
	if (route->mailgun_signing_key && route->mailgun_signing_key[0])
		return route->mailgun_signing_key;
	for (size_t i = 0; i < route->n_secrets; i++)
		if (format_mailgun_key(route->opts.format, route->secrets[i]))
			return route->secrets[i];
	return NULL;
}

static int build(struct webhook_request *r, const struct gw_route *route,
                 const struct envelope *env, const struct message_bytes *msg, const json_t *auth,
                 const struct payload_options *o)
{
	enum gw_format f = r->opts.format;
	struct payload_options po = *o;
	struct format_state *s;
	json_t *payload;
	int rc;

	s = r->fmt = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->ts_part = s->token_part = s->sig_part = -1;
	if (f == FORMAT_MAILGUN || f == FORMAT_MAILGUN_MIME) {
		const char *k = mailgun_key(route);
		if (!k) { /* the configuration refuses this; a route built by hand may not */
			errno = EINVAL;
			return -1;
		}
		s->mailgun_key = strdup(k);
		if (!s->mailgun_key)
			return -1;
	}
	po.include_raw = false; /* RawEmail, body-mime and email are the message itself */
	if (f == FORMAT_MAILGUN_MIME || f == FORMAT_SENDGRID_RAW) {
		/* only header fields are taken from the parse: parse the header section alone */
		struct message_bytes head = {msg->data, fmt_header_len(msg), false};
		po.attachments = ATTACH_OMIT;
		payload = payload_build(&head, env, auth, r->id, &po);
	} else {
		payload = payload_build(msg, env, auth, r->id, &po);
	}
	if (!payload)
		return -1;
	if (f != FORMAT_POSTMARK) {
		s->form = form_data_new();
		if (!s->form) {
			json_decref(payload);
			return -1;
		}
	}
	if (f == FORMAT_POSTMARK)
		rc = format_postmark(r, payload, env, msg);
	else if (f == FORMAT_MAILGUN || f == FORMAT_MAILGUN_MIME)
		rc = format_mailgun(s, payload, env, msg, f == FORMAT_MAILGUN_MIME);
	else
		rc = format_sendgrid(s, payload, env, msg, f == FORMAT_SENDGRID_RAW);
	json_decref(payload);
	if (rc < 0)
		return -1;
	if (!s->form) {
		snprintf(s->content_type, sizeof(s->content_type), "application/json");
		return 0;
	}
	if (form_data_finish(s->form) < 0)
		return -1;
	snprintf(s->content_type, sizeof(s->content_type), "multipart/form-data; boundary=%s",
	         s->form->boundary);
	return format_attempt(r, 0);
}

int format_build(struct webhook_request *r, const struct gw_route *route,
                 const struct envelope *env, const struct message_bytes *msg, const json_t *auth,
                 const struct payload_options *o)
{
	errno = 0;
	if (build(r, route, env, msg, auth, o) == 0)
		return 0;
	if (errno != EINVAL)
		errno = ENOMEM; /* never a stale EMSGSIZE: that would answer 552 */
	return -1;
}

void format_free(struct format_state *s)
{
	if (!s)
		return;
	form_data_free(s->form);
	free(s->mailgun_key);
	free(s);
}

/* ------------------------------------------------------- per attempt */

static int hmac_hex(const char *key, const char *a, const char *b, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
	                       OSSL_PARAM_construct_end()};
	int rc = -1;

	if (ctx && EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) &&
	    EVP_MAC_update(ctx, (const unsigned char *)a, strlen(a)) &&
	    EVP_MAC_update(ctx, (const unsigned char *)b, strlen(b)) &&
	    EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) && mdlen == 32) {
		for (size_t i = 0; i < 32; i++) {
			out[2 * i] = hex[md[i] >> 4];
			out[2 * i + 1] = hex[md[i] & 15];
		}
		out[64] = '\0';
		rc = 0;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

/* Mailgun's token: 50 random characters from [a-z0-9]. */
static int make_token(char *out, size_t n)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[64];

	if (n > sizeof(rnd) || RAND_bytes(rnd, (int)n) != 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = alnum[rnd[i] % 36]; /* 256 % 36 = 4: a slight bias, harmless for a nonce */
	out[n] = '\0';
	return 0;
}

int format_attempt(const struct webhook_request *r, int64_t ts)
{
	struct format_state *s = r->fmt;

	if (!s || !s->form || s->ts_part < 0)
		return 0;
	snprintf(s->ts, sizeof(s->ts), "%lld", (long long)ts);
	if (make_token(s->token, 50) < 0 || hmac_hex(s->mailgun_key, s->ts, s->token, s->sig) < 0)
		return -1;
	form_data_set(s->form, (size_t)s->ts_part, s->ts, strlen(s->ts));
	form_data_set(s->form, (size_t)s->token_part, s->token, strlen(s->token));
	form_data_set(s->form, (size_t)s->sig_part, s->sig, strlen(s->sig));
	return 0;
}

/* ------------------------------------------- Standard Webhooks, streamed */

char *format_sign(const struct webhook_request *r, int64_t ts)
{
	return webhook_sign_form(r->keys, r->n_keys, r->id, ts, r->fmt->form);
}

void format_setup(const struct webhook_request *r, CURL *easy)
{
	struct form_data *f = r->fmt ? r->fmt->form : NULL;

	if (f)
		form_data_setup(f, easy);
}
