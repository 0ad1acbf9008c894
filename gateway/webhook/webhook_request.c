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
 * pointer into the session's envelope or message.
 */
#include "webhook_request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "payload.h"

/*
 * The largest JSON body a message can produce: every octet of text may be
 * a control character escaped as \u00XX (6 octets); a header field may
 * appear three times (value, "raw", and subject); inline attachments and
 * include_raw each carry the message once more in base64 (4/3, line
 * breaks included); the fixed part (envelope, auth, keys) fits in SLACK.
 * A body that still overflows fails with errno EMSGSIZE, so the session
 * answers a permanent 552 5.3.4, never a 451 that repeats forever.
 */
#define WEBHOOK_BODY_ESCAPE 6
#define WEBHOOK_BODY_SLACK  (1024 * 1024)
/* What the envelope, recipients and header fields add to the first guess. */
#define WEBHOOK_BODY_RESERVE 4096

static size_t body_max(const struct message_bytes *msg)
{
	size_t len = msg->len, head = len;
	const char *end = memmem(msg->data, len, "\r\n\r\n", 4);
	if (end)
		head = (size_t)(end - (const char *)msg->data);
	size_t b64 = (len + 2) / 3 * 4 + len / 38 + 4; /* with CRLF every 76 */
	return WEBHOOK_BODY_ESCAPE * (len + 2 * head) + 2 * b64 + WEBHOOK_BODY_SLACK;
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
		if (webhook_sign_key_parse(route->secrets[i], &r->keys[r->n_keys]) < 0) {
			snprintf(err, errsz, "secret %zu is not a whsec_/whsk_ key", i + 1);
			return -1;
		}
		r->n_keys++;
	}
	return 0;
}

struct body_buf {
	char *data;
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
		nb = realloc(b->data, cap);
		if (!nb)
			return -1;
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int build_body(struct webhook_request *r, const struct gw_route *route,
                      const struct envelope *env, const struct message_bytes *msg,
                      const json_t *auth, const struct gw_limits *limits)
{
	struct payload_options o;
	struct body_buf b = {NULL, 0, 0, 0, false};

	if (r->opts.format == FORMAT_RAW) {
		r->body = malloc(msg->len ? msg->len : 1);
		if (!r->body)
			return -1;
		if (msg->len)
			memcpy(r->body, msg->data, msg->len);
		r->body_len = msg->len;
		return 0;
	}
	if (limits) {
		payload_options_from_route(&o, route, limits);
	} else {
		payload_options_default(&o);
		o.attachments = route->opts.attachments;
		o.include_raw = route->opts.include_raw;
	}
	if (format_is_provider(r->opts.format))
		return format_build(r, route, env, msg, auth, &o);
	b.max = body_max(msg);
	/*
	 * Sized for the usual payload (the text once, escaped, plus the
	 * envelope and header fields) so that it is written without a realloc
	 * chain, each step of which copies the whole body again.
	 */
	b.cap = msg->len + msg->len / 2 + WEBHOOK_BODY_RESERVE;
	if (b.cap > b.max)
		b.cap = b.max;
	b.data = malloc(b.cap);
	if (!b.data)
		return -1;
	if (payload_write(msg, env, auth, r->id, &o, JSON_COMPACT, body_append, &b) < 0 ||
	    !b.data) {
		free(b.data);
		errno = b.too_big ? EMSGSIZE : ENOMEM;
		return -1;
	}
	r->body = b.data;
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
	webhook_sign_id(r->route_name, r->url, env, msg, r->id);
	if (build_body(r, route, env, msg, auth, limits) < 0) {
		snprintf(err, errsz, "could not build the %s payload", format_name(r->opts.format));
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
	free(r->body);
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
		sig = r->fmt && r->fmt->form
		          ? format_sign(r, ts)
		          : webhook_sign(r->keys, r->n_keys, r->id, ts, r->body, r->body_len);
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
                           uint64_t timeout_ms)
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
	/* wait for a connection being set up rather than open another: it may multiplex (h2) */
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
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
	format_setup(r, easy);
}
