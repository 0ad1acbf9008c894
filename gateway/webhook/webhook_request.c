/*
 * webhook_request.c: builds the HTTP request of one message.
 *
 * Owns: the request body (the payload JSON of docs/payload.md, or the
 * message itself as message/rfc822 for format "raw"; the provider formats
 * of docs/formats.md are format.c's), the request headers
 * (Content-Type, User-Agent, Idempotency-Key, auth, the route's extra
 * headers, the X-Gateway-* envelope headers of format "raw") and the
 * per-attempt Standard Webhooks headers webhook-id, webhook-timestamp,
 * webhook-signature. HTTP field syntax: RFC 9110 5.5 (values never carry
 * CR or LF: RFC 9110 5.5 forbids them, and they would inject headers).
 *
 * Must never: send a header value with a control character; let a route's
 * extra header replace the signing headers; follow a redirect; keep a
 * pointer into the session's envelope, or into its message without a
 * reference to the message's hold (format raw streams the message itself).
 */
#include "webhook_request.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form_data.h"
#include "format.h"
#include "payload.h"

/*
 * The largest JSON body a message can produce: every octet of text may be
 * a control character escaped as \u00XX (6 octets); a header field may
 * appear three times (value, "raw", and subject); inline attachments and
 * include_raw each carry the message once more in base64 (4/3, line
 * breaks included). The envelope is counted from what it holds: each
 * recipient appears in rcpt_to and in recipients[] (address, its local
 * part, domain and tag, the route's name and pattern), each escaped; the
 * auth object is written as it is. What is left (key names, the message's
 * structure, warnings) fits in SLACK. A body that still overflows fails
 * with errno EMSGSIZE, so the session answers a permanent 552 5.3.4, never
 * a 451 that repeats forever.
 */
#define WEBHOOK_BODY_ESCAPE 6
#define WEBHOOK_BODY_SLACK  (1024 * 1024)
/* Key names and punctuation of one recipient's entries ("address", "local", ...). */
#define WEBHOOK_BODY_PER_RCPT 256
/* What the envelope, recipients and header fields add to the first guess. */
#define WEBHOOK_BODY_RESERVE 4096
/* webhook_json_bound(): nesting past this is measured exactly (the auth object has 4 levels). */
#define WEBHOOK_JSON_BOUND_DEPTH 32
/* Format raw: the JSON header fields of the body are folded once a line is this long. */
#define WEBHOOK_RAW_FOLD 76

static size_t str_len0(const char *s)
{
	return s ? strlen(s) : 0;
}

static size_t envelope_max(const struct envelope *env)
{
	size_t n;

	if (!env)
		return 0;
	n = str_len0(env->mail_from) + str_len0(env->helo) + str_len0(env->client_name) +
	    str_len0(env->tls_protocol) + str_len0(env->tls_cipher) + str_len0(env->auth_user) +
	    sizeof(env->client_ip);
	n *= WEBHOOK_BODY_ESCAPE;
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];
		size_t one = 4 * str_len0(r->address); /* rcpt_to, address, local+domain, tag */
		if (r->match.route)
			one += str_len0(r->match.route->name) + str_len0(r->match.pattern);
		n += WEBHOOK_BODY_ESCAPE * one + WEBHOOK_BODY_PER_RCPT;
	}
	/* rspamd's verdict is written as it is (ASCII-escaped: the longest form), its warning too.
	 */
	if (env->spam)
		n += json_dumpb(env->spam, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII);
	n += WEBHOOK_BODY_ESCAPE * str_len0(env->spam_warning);
	return n;
}

static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t json_bound(const json_t *v, unsigned depth)
{
	const char *k;
	json_t *x;
	size_t i, n = 2; /* the brackets of a container */

	if (depth > WEBHOOK_JSON_BOUND_DEPTH) /* deeper than the auth object ever is: exact */
		return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)(uintptr_t)v, k, x) n =
		    add_sat(n, add_sat(6 * strlen(k) + 4, json_bound(x, depth + 1)));
		return n;
	case JSON_ARRAY:
		json_array_foreach(v, i, x) n = add_sat(n, add_sat(1, json_bound(x, depth + 1)));
		return n;
	case JSON_STRING: /* "\u00XX" for a control byte; 12 characters for 4 UTF-8 bytes */
		return add_sat(2, json_string_length(v) > SIZE_MAX / 6 ? SIZE_MAX
		                                                       : 6 * json_string_length(v));
	case JSON_INTEGER:
		return 24;
	case JSON_REAL:
		return 40;
	default:
		return 5; /* true, false, null */
	}
}

size_t webhook_json_bound(const json_t *v)
{
	return v ? json_bound(v, 0) : 0;
}

/*
 * Where the first CRLF CRLF of p[0..len) starts, or len: memmem's answer,
 * found by the line feeds (a line at a time) rather than byte by byte.
 */
static size_t crlf_crlf(const char *p, size_t len)
{
	for (const char *q = p, *e = p + len; (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++)
		if (q > p && q[-1] == '\r' && e - q >= 3 && q[1] == '\r' && q[2] == '\n')
			return (size_t)(q - 1 - p);
	return len;
}

static size_t body_max(const struct message_bytes *msg, const struct envelope *env,
                       const json_t *auth)
{
	size_t len = msg->len, head = crlf_crlf(msg->data, len);
	size_t b64 = (len + 2) / 3 * 4 + len / 38 + 4; /* with CRLF every 76 */
	size_t authlen = webhook_json_bound(auth);
	return WEBHOOK_BODY_ESCAPE * (len + 2 * head) + 2 * b64 + envelope_max(env) + authlen +
	       WEBHOOK_BODY_SLACK;
}

static size_t payload_size_max(const struct gw_limits *limits)
{
	if (!limits || !limits->max_payload_size || limits->max_payload_size >= SIZE_MAX)
		return SIZE_MAX;
	return (size_t)limits->max_payload_size;
}

size_t webhook_request_body_cap(const struct gw_route *route, const struct envelope *env,
                                const struct message_bytes *msg, const json_t *auth,
                                const struct gw_limits *limits)
{
	size_t max = payload_size_max(limits), cap;

	if (!route || !msg) /* webhook_request_build() refuses these */
		return 0;
	if (route->opts.format == FORMAT_RAW) {
		/* the message, then the envelope and auth fields (folding adds 3 octets per 76) */
		size_t authlen = webhook_json_bound(auth);
		cap = msg->len + envelope_max(env) + authlen + authlen / 16 + WEBHOOK_BODY_RESERVE;
	} else {
		cap = body_max(msg, env, auth);
	}
	return cap < max ? cap : max;
}

size_t webhook_request_held_cap(const struct gw_route *route, const struct envelope *env,
                                const struct message_bytes *msg, const json_t *auth,
                                const struct gw_limits *limits)
{
	size_t cap = webhook_request_body_cap(route, env, msg, auth, limits);
	/* a small form is also laid out whole for libcurl (form_data_setup) */
	if (route && route->opts.format != FORMAT_JSON && cap <= FORM_DATA_FLAT_MAX)
		cap *= 2;
	return cap;
}

uint64_t webhook_request_body_bytes(const struct webhook_request *r)
{
	if (r->segs)
		return form_data_length(r->segs);
	return r->fmt && r->fmt->form ? form_data_length(r->fmt->form) : r->body_len;
}

uint64_t webhook_request_held_bytes(const struct webhook_request *r)
{
	if (r->segs)
		return form_data_held(r->segs);
	return r->fmt && r->fmt->form ? form_data_held(r->fmt->form) : r->body_len;
}

void webhook_request_stream_only(struct webhook_request *r)
{
	struct form_data *f = r->segs ? r->segs : r->fmt ? r->fmt->form : NULL;
	if (f)
		f->stream_only = true;
}

void webhook_request_header_value(char *out, size_t cap, const char *in)
{
	size_t n = 0;

	if (cap == 0)
		return;
	for (; in && *in && n + 1 < cap; in++) {
		unsigned char c = (unsigned char)*in;
		out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[n] = '\0';
}

static int append_line(struct curl_slist **list, const char *line)
{
	struct curl_slist *n = curl_slist_append(*list, line);

	if (!n)
		return -1;
	*list = n;
	return 0;
}

/* Appends "Name: value" (value sanitised); an empty value is sent as "Name;" per curl. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	char clean[WEBHOOK_HEADER_VALUE_MAX];
	char line[WEBHOOK_HEADER_VALUE_MAX + 128];

	webhook_request_header_value(clean, sizeof(clean), value ? value : "");
	if (clean[0])
		snprintf(line, sizeof(line), "%s: %s", name, clean);
	else
		snprintf(line, sizeof(line), "%s;", name);
	return append_line(list, line);
}

/* RFC 9110 5.6.2 token characters only. */
static bool header_name_ok(const char *name)
{
	if (!name || !name[0] || strlen(name) > 100)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return false;
	/* The configuration refuses these already; a route built by hand may not. */
	return !config_header_reserved(name);
}

static int add_json_header(struct curl_slist **list, const char *name, const json_t *v)
{
	/* ASCII-only JSON: unambiguous whatever the receiver does with header bytes */
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	int rc;

	if (!s)
		return -1;
	rc = strlen(s) < WEBHOOK_HEADER_VALUE_MAX ? add_header(list, name, s) : 0;
	free(s);
	return rc;
}

static json_t *envelope_json(const struct envelope *env, const char *route)
{
	json_t *o = json_object(), *rcpts = json_array();

	for (size_t i = 0; i < env->n_rcpts; i++)
		json_array_append_new(
		    rcpts, json_string(env->rcpts[i].address ? env->rcpts[i].address : ""));
	json_object_set_new(o, "mail_from", json_string(env->mail_from ? env->mail_from : ""));
	json_object_set_new(o, "rcpt_to", rcpts);
	json_object_set_new(o, "helo", env->helo ? json_string(env->helo) : json_null());
	json_object_set_new(o, "client_ip", json_string(env->client_ip));
	json_object_set_new(o, "client_name",
	                    env->client_name ? json_string(env->client_name) : json_null());
	json_object_set_new(o, "tls_protocol",
	                    env->tls_protocol ? json_string(env->tls_protocol) : json_null());
	json_object_set_new(o, "tls_cipher",
	                    env->tls_cipher ? json_string(env->tls_cipher) : json_null());
	json_object_set_new(o, "auth_user",
	                    env->auth_user ? json_string(env->auth_user) : json_null());
	json_object_set_new(o, "route", json_string(route ? route : ""));
	return o;
}

/* Format "raw": the envelope and the auth results travel in X-Gateway-* headers. */
static int add_raw_headers(struct curl_slist **h, const struct envelope *env, const json_t *auth,
                           const char *route)
{
	json_t *ej;
	int rc = 0;

	if (!env)
		return 0;
	rc |= add_header(h, "X-Gateway-Mail-From", env->mail_from);
	for (size_t i = 0; i < env->n_rcpts; i++)
		rc |= add_header(h, "X-Gateway-Rcpt-To", env->rcpts[i].address);
	rc |= add_header(h, "X-Gateway-Client-Ip", env->client_ip);
	rc |= add_header(h, "X-Gateway-Helo", env->helo);
	if (env->tls_protocol)
		rc |= add_header(h, "X-Gateway-Tls", env->tls_protocol);
	if (env->auth_user)
		rc |= add_header(h, "X-Gateway-Auth-User", env->auth_user);
	rc |= add_header(h, "X-Gateway-Route", route);
	ej = envelope_json(env, route);
	if (ej)
		rc |= add_json_header(h, "X-Gateway-Envelope", ej);
	json_decref(ej);
	if (auth)
		rc |= add_json_header(h, "X-Gateway-Auth", auth);
	return rc ? -1 : 0;
}

static int build_headers(struct webhook_request *r, const struct gw_route *route,
                         const struct envelope *env, const json_t *auth)
{
	struct curl_slist **h = &r->headers;
	int rc = 0;

	rc |= add_header(h, "Content-Type",
	                 r->fmt                         ? r->fmt->content_type
	                 : r->opts.format == FORMAT_RAW ? "message/rfc822"
	                                                : "application/json");
	rc |= add_header(h, "Idempotency-Key", r->id);
	rc |= append_line(h, "Expect:"); /* curl's way to drop Expect: no 100-continue wait */
	if (r->auth == WEBHOOK_AUTH_BEARER && route->bearer_token) {
		char v[WEBHOOK_HEADER_VALUE_MAX];
		snprintf(v, sizeof(v), "Bearer %s", route->bearer_token);
		rc |= add_header(h, "Authorization", v);
	}
	for (size_t i = 0; i < route->n_headers; i++)
		if (header_name_ok(route->headers[i].name))
			rc |= add_header(h, route->headers[i].name, route->headers[i].value);
	if (r->opts.format == FORMAT_RAW)
		rc |= add_raw_headers(h, env, auth, r->route_name);
	return rc ? -1 : 0;
}

static int copy_route(struct webhook_request *r, const struct gw_route *route)
{
	r->route_name = strdup(route->name ? route->name : "");
	r->url = strdup(route->url);
	if (config_route_opts_dup(&r->opts, &route->opts) < 0)
		return -1;
	r->auth = route->auth;
	if (route->auth == WEBHOOK_AUTH_BASIC) {
		r->basic_user = strdup(route->basic_user ? route->basic_user : "");
		r->basic_password = strdup(route->basic_password ? route->basic_password : "");
		if (!r->basic_user || !r->basic_password)
			return -1;
	}
	if (!r->route_name || !r->url)
		return -1;
	return config_replies_dup(&r->replies, &r->n_replies, route->replies, route->n_replies);
}

static int parse_keys(struct webhook_request *r, const struct gw_route *route, char *err,
                      size_t errsz)
{
	if (route->n_secrets == 0)
		return 0;
	r->keys = calloc(route->n_secrets, sizeof(*r->keys));
	if (!r->keys)
		return -1;
	for (size_t i = 0; i < route->n_secrets; i++) {
		if (format_mailgun_key(route->opts.format, route->secrets[i]))
			continue; /* Mailgun's signing key, not a Standard Webhooks key */
		int rc = webhook_sign_key_parse(route->secrets[i], &r->keys[r->n_keys]);
		if (rc < 0) {
			snprintf(err, errsz,
			         rc == -1
			             ? "secret %zu is not a whsec_/whsk_ key"
			             : "secret %zu could not be loaded (out of memory or OpenSSL)",
			         i + 1);
			return -1;
		}
		r->n_keys++;
	}
	return 0;
}

struct body_buf {
	char *data;  /* the allocation: room bytes, then the body */
	size_t room; /* kept free in front (the JSON body: webhook_sign_in_place) */
	size_t len, cap, max;
	bool too_big; /* the cap, not memory, stopped it */
};

static int body_append(const char *p, size_t n, void *arg)
{
	struct body_buf *b = arg;

	if (n > b->max - b->len) {
		b->too_big = true;
		return -1;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *nb;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->max) /* the cap is what max_delivery_memory counted */
			cap = b->max;
		nb = realloc(b->data, b->room + cap);
		if (!nb)
			return -1;
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->room + b->len, p, n);
	b->len += n;
	return 0;
}

/* Appends "Name: json" folded after commas outside strings (RFC 5322 2.2.3), CRLF-ended. */
static int raw_field(struct body_buf *b, const char *name, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	size_t line, start = 0;
	bool in_str = false, esc = false;
	int rc = 0;

	if (!s)
		return -1;
	rc |= body_append(name, strlen(name), b);
	rc |= body_append(": ", 2, b);
	line = strlen(name) + 2;
	for (size_t i = 0; s[i] && rc == 0; i++, line++) {
		char c = s[i];
		if (in_str) {
			in_str = esc || c != '"';
			esc = !esc && c == '\\';
			continue;
		}
		in_str = c == '"';
		if (c == ',' && line >= WEBHOOK_RAW_FOLD) {
			rc |= body_append(s + start, i + 1 - start, b);
			rc |= body_append("\r\n ", 3, b);
			start = i + 1;
			line = 0;
		}
	}
	rc |= body_append(s + start, strlen(s + start), b);
	rc |= body_append("\r\n", 2, b);
	free(s);
	return rc ? -1 : 0;
}

static void hold_unref(void *ref)
{
	message_hold_unref(ref);
}

/*
 * Bytes [off, off + n) of the message as one segment: borrowed, with a
 * reference to the message's hold, or copied when the caller gave none.
 */
static int add_message_slice(struct form_data *f, const struct envelope *env,
                             const struct message_bytes *msg, size_t off, size_t n)
{
	struct message_hold *hold = env ? env->hold : NULL;

	if (n == 0)
		return 0;
	if (!hold)
		return form_data_add(f, "", msg->data + off, n) < 0 ? -1 : 0;
	return form_data_add_ref(f, "", msg->data + off, n, message_hold_ref(hold), hold_unref) < 0
	           ? -1
	           : 0;
}

/*
 * Format "raw": the envelope and the auth results go in as header fields of
 * the message, right below the trace fields the gateway prepended
 * (env->prepended octets: Received:, Authentication-Results:) and above
 * everything the client sent, so that the first field of each name is
 * ours and the signature (over the body) covers them. The X-Gateway-*
 * request headers repeat them unsigned. The message is otherwise unchanged.
 *
 * The body is three segments streamed to libcurl (form_data_new_plain):
 * the trace fields and the message are slices of the session's bytes,
 * kept alive by their hold, and only our fields are written out; so a
 * 50 MB message is never copied into a second 50 MB buffer.
 */
static int build_raw_body(struct webhook_request *r, const struct envelope *env, const json_t *auth,
                          const struct message_bytes *msg, size_t max)
{
	struct body_buf b = {NULL, 0, 0, 0, max - msg->len, false};
	json_t *ej = env ? envelope_json(env, r->route_name) : NULL;
	size_t trace = env && env->prepended <= msg->len ? (size_t)env->prepended : 0;
	int rc = 0;

	if ((env && !ej) || !(r->segs = form_data_new_plain())) {
		json_decref(ej);
		return -1;
	}
	if (ej)
		rc |= raw_field(&b, "X-Gateway-Envelope", ej);
	if (auth && rc == 0)
		rc |= raw_field(&b, "X-Gateway-Auth", auth);
	json_decref(ej);
	if (rc < 0) {
		free(b.data);
		errno = b.too_big ? EMSGSIZE : ENOMEM;
		return -1;
	}
	rc |= add_message_slice(r->segs, env, msg, 0, trace);
	if (b.len && form_data_add_owned(r->segs, "", b.data, b.len, NULL, NULL) < 0)
		rc = -1; /* b.data is freed by the form, on failure too */
	else if (!b.len)
		free(b.data);
	if (rc == 0)
		rc = add_message_slice(r->segs, env, msg, trace, msg->len - trace);
	if (rc == 0)
		rc = form_data_finish(r->segs);
	if (rc < 0)
		errno = ENOMEM;
	return rc;
}

/*
 * A provider format (docs/formats.md) is built from the same parse; a
 * multipart body is streamed, its length known before the first byte, and
 * max_payload_size bounds it as it bounds our own format.
 */
static int build_provider_body(struct webhook_request *r, const struct gw_route *route,
                               const struct envelope *env, const struct message_bytes *msg,
                               const json_t *auth, const struct payload_options *o, size_t max)
{
	uint64_t len;

	if (format_build(r, route, env, msg, auth, o) < 0)
		return -1;
	len = webhook_request_body_bytes(r);
	if (len > max) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static int build_body(struct webhook_request *r, const struct gw_route *route,
                      const struct envelope *env, const struct message_bytes *msg,
                      const json_t *auth, const struct gw_limits *limits)
{
	struct payload_options o;
	/* room for "id.ts." in front: an Ed25519 key signs the body where it is */
	struct body_buf b = {NULL, WEBHOOK_SIGN_PREFIX_MAX, 0, 0, 0, false};
	size_t max = webhook_request_body_cap(route, env, msg, auth, limits);

	if (r->opts.format == FORMAT_RAW) {
		if (msg->len > max) { /* refused before a byte is copied */
			errno = EMSGSIZE;
			return -1;
		}
		return build_raw_body(r, env, auth, msg, max);
	}
	if (limits) {
		payload_options_from_route(&o, route, limits);
	} else {
		payload_options_default(&o);
		o.attachments = route->opts.attachments;
		o.include_raw = route->opts.include_raw;
	}
	o.input_mapped = msg->mapped; /* the spill file: its pages may go back as it is read */
	if (format_is_provider(r->opts.format))
		return build_provider_body(r, route, env, msg, auth, &o, max);
	b.max = max; /* max_payload_size or less: the build stops there, never past it */
	o.kind_out = &r->kind;
	/*
	 * Sized for the usual payload (the text once, escaped, plus the
	 * envelope and header fields) so that it is written without a realloc
	 * chain, each step of which copies the whole body again.
	 */
	b.cap = msg->len + msg->len / 2 + WEBHOOK_BODY_RESERVE;
	if (b.cap > b.max)
		b.cap = b.max;
	b.data = malloc(b.room + b.cap);
	if (!b.data)
		return -1;
	if (payload_write(msg, env, auth, r->id, &o, JSON_COMPACT, body_append, &b) < 0 ||
	    !b.data) {
		free(b.data);
		errno = b.too_big ? EMSGSIZE : ENOMEM;
		return -1;
	}
	if (b.cap - b.len > b.len / 8 + 4096) { /* it lives for the retry budget: no slack */
		char *nb = realloc(b.data, b.room + b.len);
		if (nb)
			b.data = nb;
	}
	r->body = b.data + b.room;
	r->body_room = b.room;
	r->body_len = b.len;
	return 0;
}

int webhook_request_build(struct webhook_request *r, const struct gw_route *route,
                          const struct envelope *env, const struct message_bytes *msg,
                          const json_t *auth, const struct gw_limits *limits, char *err,
                          size_t errsz)
{
	snprintf(err, errsz, "out of memory");
	if (!route || !route->url || !msg) {
		snprintf(err, errsz, "no route URL or no message");
		return -1;
	}
	if (copy_route(r, route) < 0 || parse_keys(r, route, err, errsz) < 0)
		return -1;
	if (!r->id[0]) /* the caller may have computed it already (delivery.c, offloaded builds) */
		webhook_sign_id(r->route_name, r->url, env, msg, r->id);
	if (build_body(r, route, env, msg, auth, limits) < 0) {
		snprintf(err, errsz, "could not build the %s payload%s",
		         format_name(r->opts.format),
		         errno == EMSGSIZE ? ": larger than max_payload_size or its cap" : "");
		return -1;
	}
	if (build_headers(r, route, env, auth) < 0)
		return -1;
	return 0;
}

void webhook_request_free(struct webhook_request *r)
{
	free(r->route_name);
	free(r->url);
	free(r->body ? r->body - r->body_room : NULL);
	form_data_free(r->segs);
	format_free(r->fmt);
	curl_slist_free_all(r->headers);
	for (size_t i = 0; i < r->n_keys; i++)
		webhook_sign_key_free(&r->keys[i]);
	free(r->keys);
	free(r->basic_user);
	free(r->basic_password);
	config_replies_free(r->replies, r->n_replies);
	config_route_opts_free(&r->opts);
	memset(r, 0, sizeof(*r));
}

struct curl_slist *webhook_request_headers(const struct webhook_request *r, int64_t ts)
{
	struct curl_slist *h = NULL;
	char tsbuf[32];
	char *sig = NULL;
	int rc = 0;

	for (const struct curl_slist *p = r->headers; p; p = p->next) {
		struct curl_slist *n = curl_slist_append(h, p->data);
		if (!n)
			goto fail;
		h = n;
	}
	if (format_attempt(r, ts) < 0)
		goto fail;
	if (!r->opts.standard_webhooks)
		return h;
	snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
	rc |= add_header(&h, "webhook-id", r->id);
	rc |= add_header(&h, "webhook-timestamp", tsbuf);
	if (r->n_keys) {
		if (r->segs)
			sig = webhook_sign_form(r->keys, r->n_keys, r->id, ts, r->segs);
		else if (r->fmt && r->fmt->form)
			sig = format_sign(r, ts);
		else
			sig = webhook_sign_in_place(r->keys, r->n_keys, r->id, ts, r->body,
			                            r->body_len, r->body_room);
		if (!sig)
			goto fail;
		rc |= add_header(&h, "webhook-signature", sig);
		free(sig);
	}
	if (rc == 0)
		return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

void webhook_request_setup(const struct webhook_request *r, CURL *easy, struct curl_slist *headers,
                           uint64_t timeout_ms, bool pipewait)
{
	curl_easy_setopt(easy, CURLOPT_URL, r->url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "smtp-gateway/" GATEWAY_VERSION);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/*
	 * Wait for a connection being set up rather than open another only when
	 * it may multiplex: h2 is negotiated over TLS alone (CURL_HTTP_VERSION_2TLS).
	 * Over http:// every queued request would wait for the one connection,
	 * one at a time when the receiver closes it after each answer.
	 */
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, pipewait && strncasecmp(r->url, "https:", 6) == 0);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)r->opts.connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, r->opts.tls_verify ? 1L : 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, r->opts.tls_verify ? 2L : 0L);
	if (r->opts.ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, r->opts.ca_file);
	if (r->opts.client_cert)
		curl_easy_setopt(easy, CURLOPT_SSLCERT, r->opts.client_cert);
	if (r->opts.client_key)
		curl_easy_setopt(easy, CURLOPT_SSLKEY, r->opts.client_key);
	if (r->auth == WEBHOOK_AUTH_BASIC) {
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(easy, CURLOPT_USERNAME, r->basic_user);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, r->basic_password);
	}
	if (r->segs)
		form_data_setup(r->segs, easy);
	format_setup(r, easy);
}
