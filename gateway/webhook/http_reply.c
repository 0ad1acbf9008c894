/*
 * http_reply.c: the HTTP-to-SMTP answer table, in one place, as data.
 *
 * Owns: the table rows, the per-route override lookup (gw_route.replies),
 * the app's JSON reply override and the sanitising of reply text.
 * Implements the reply syntax of RFC 5321 4.2 (code SP text, one line) and
 * the enhanced status codes of RFC 3463 / RFC 5248.
 *
 * Must never: yield a 2xx reply for anything but an HTTP 2xx answer; let
 * CR, LF or any non-printable byte into reply text; read past a body's
 * length (bodies are not NUL-terminated).
 */
#include "http_reply.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct reply_row {
	long lo, hi; /* HTTP statuses, inclusive; 0 for the outcome rows */
	enum http_outcome outcome;
	const char *class_key; /* the override key of the row's class */
	int code;
	const char *status;
	const char *text;
	bool transient; /* retried within the message's budget */
};

/* First match wins: exact statuses before their class. */
static const struct reply_row rows[] = {
    {200, 299, HTTP_OUTCOME_STATUS, "2xx", 250, "2.0.0", "Delivered", false},
    {300, 399, HTTP_OUTCOME_STATUS, "3xx", 451, "4.3.0",
     "Webhook misconfigured (redirect), try again later", false},
    {400, 400, HTTP_OUTCOME_STATUS, "4xx", 554, "5.6.0",
     "Message refused by the webhook as invalid", false},
    {415, 415, HTTP_OUTCOME_STATUS, "4xx", 554, "5.6.0",
     "Message refused by the webhook as invalid", false},
    {422, 422, HTTP_OUTCOME_STATUS, "4xx", 554, "5.6.0",
     "Message refused by the webhook as invalid", false},
    {401, 401, HTTP_OUTCOME_STATUS, "4xx", 550, "5.7.1", "Message refused by the webhook", false},
    {403, 403, HTTP_OUTCOME_STATUS, "4xx", 550, "5.7.1", "Message refused by the webhook", false},
    {404, 404, HTTP_OUTCOME_STATUS, "4xx", 550, "5.1.1", "Mailbox unavailable", false},
    {410, 410, HTTP_OUTCOME_STATUS, "4xx", 550, "5.1.1", "Mailbox unavailable", false},
    {408, 408, HTTP_OUTCOME_STATUS, "4xx", 451, "4.4.2", "Webhook timed out, try again later",
     false},
    {413, 413, HTTP_OUTCOME_STATUS, "4xx", 552, "5.3.4", "Message too big for the webhook", false},
    {429, 429, HTTP_OUTCOME_STATUS, "4xx", 451, "4.7.0", "Webhook rate limit, try again later",
     false},
    {400, 499, HTTP_OUTCOME_STATUS, "4xx", 554, "5.0.0", "Message refused by the webhook", false},
    {507, 507, HTTP_OUTCOME_STATUS, "5xx", 452, "4.3.1", "Webhook out of storage, try again later",
     false},
    {502, 504, HTTP_OUTCOME_STATUS, "5xx", 451, "4.3.0",
     "Webhook temporarily unavailable, try again later", true},
    {500, 599, HTTP_OUTCOME_STATUS, "5xx", 451, "4.3.0", "Webhook error, try again later", false},
    {0, 0, HTTP_OUTCOME_CONNECT, "connect", 451, "4.4.1", "Webhook unreachable, try again later",
     true},
    {0, 0, HTTP_OUTCOME_TIMEOUT, "timeout", 451, "4.4.2", "Webhook timed out, try again later",
     true},
    {0, 0, HTTP_OUTCOME_RESET, "reset", 451, "4.4.2", "Webhook connection lost, try again later",
     true},
    {0, 0, HTTP_OUTCOME_CONFIG, "config", 451, "4.3.0", "Webhook misconfigured, try again later",
     false},
};

/* A status outside 200..599 (1xx as a final answer, 600+): the app is broken. */
static const struct reply_row row_invalid = {0,
                                             0,
                                             HTTP_OUTCOME_STATUS,
                                             "invalid",
                                             451,
                                             "4.3.0",
                                             "Webhook answered badly, try again later",
                                             false};

/* Delivery's own replies (enum http_reply_own); refused: the enum delivery_result, or 0. */
static const struct {
	int code;
	const char *status, *text;
	int refused;
} own_rows[HTTP_OWN_MAX] = {
    /* The one 250 not backed by a 2xx, and only because the operator asked for it. */
    [HTTP_OWN_DROPPED] = {250, "2.0.0", "Accepted (automatic reply dropped)", 0},
    [HTTP_OWN_TOO_BIG] = {552, "5.3.4", "Message too big for the webhook", DELIVERY_TOO_BIG},
    [HTTP_OWN_SETUP] = {451, "4.3.0", "Delivery could not be set up", DELIVERY_FAILED},
    /* The app may have taken the message; the sender's retry carries the same id. */
    [HTTP_OWN_DRAIN_CUT] = {451, "4.3.2", "Service shutting down, delivery not confirmed", 0},
};

static const struct reply_row *row_find(const struct http_answer *a)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct reply_row *r = &rows[i];
		if (r->outcome != a->outcome)
			continue;
		if (a->outcome != HTTP_OUTCOME_STATUS)
			return r;
		if (a->status >= r->lo && a->status <= r->hi)
			return r;
	}
	return &row_invalid;
}

bool http_reply_transient(const struct http_answer *a)
{
	return row_find(a)->transient;
}

const char *http_reply_class_key(const struct http_answer *a, char *buf, size_t bufsz)
{
	const struct reply_row *r = row_find(a);
	if (a->outcome == HTTP_OUTCOME_STATUS && bufsz > 0)
		snprintf(buf, bufsz, "%ld", a->status);
	else if (bufsz > 0)
		buf[0] = '\0';
	return r->class_key;
}

size_t http_reply_sanitize(const char *in, size_t len, char *out, size_t cap, size_t max)
{
	size_t n = 0;
	bool space = false, other = false;

	if (cap == 0)
		return 0;
	if (max > cap - 1)
		max = cap - 1;
	for (size_t i = 0; in && i < len && n < max; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c < 0x20 || c == 0x7f) {
			space = n > 0; /* leading spaces dropped, runs collapsed */
			other = false;
			continue;
		}
		if (c > 0x7f && other)
			continue;
		if (space && n + 1 < max)
			out[n++] = ' ';
		space = false;
		other = c > 0x7f;
		out[n++] = other ? '?' : (char)c;
	}
	out[n] = '\0';
	return n;
}

/* RFC 3463 2: class "." subject "." detail, class matching the reply code. */
static bool status_valid(const char *s, int code)
{
	int digits[3] = {0, 0, 0}, part = 0;

	if (!s || s[0] - '0' != code / 100)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (digits[part] == 0 || ++part > 2)
				return false;
		} else if (isdigit((unsigned char)*p) && digits[part] < 3) {
			digits[part]++;
		} else {
			return false;
		}
	}
	return part == 2 && digits[0] == 1 && digits[2] > 0;
}

static void reply_set(struct smtp_reply *out, int code, const char *status, const char *text)
{
	out->code = code;
	if (status_valid(status, code))
		snprintf(out->status, sizeof(out->status), "%s", status);
	else
		snprintf(out->status, sizeof(out->status), "%d.0.0", code / 100);
	if (text && text[strspn(text, " \t")]) /* blank words would leave the reply without text */
		http_reply_sanitize(text, strlen(text), out->text, sizeof(out->text),
		                    HTTP_REPLY_TEXT_MAX);
}

static const struct gw_reply_override *override_find(const struct gw_reply_override *ov,
                                                     size_t n_ov, const char *key)
{
	for (size_t i = 0; key && key[0] && i < n_ov; i++)
		if (ov[i].key && strcmp(ov[i].key, key) == 0)
			return &ov[i];
	return NULL;
}

static bool is_2xx(const struct http_answer *a)
{
	return a->outcome == HTTP_OUTCOME_STATUS && a->status >= 200 && a->status <= 299;
}

/* A route override may change any row, but never turn a failure into a 2xx. */
static void apply_route_override(const struct http_answer *a, const struct gw_reply_override *ov,
                                 size_t n_ov, struct smtp_reply *out)
{
	char exact[24];
	const char *cls = http_reply_class_key(a, exact, sizeof(exact));
	const struct gw_reply_override *o = override_find(ov, n_ov, exact);

	if (!o)
		o = override_find(ov, n_ov, cls);
	if (!o || o->code < 200 || o->code > 599)
		return;
	if (o->code / 100 == 2 && !is_2xx(a))
		return;
	reply_set(out, o->code, o->status, o->text);
}

/* The app's words, only when they keep the reply's class (a 2xx only as 250). */
static void apply_app_override(const struct http_answer *a, struct smtp_reply *out)
{
	json_error_t err;
	json_t *root, *smtp, *jcode, *jstatus, *jmsg;
	int code;

	if (!a->body || a->body_len == 0 || a->body_len > 65536)
		return;
	size_t i = 0; /* only an object can hold "smtp": plain text or HTML is not parsed */
	while (i < a->body_len && (a->body[i] == ' ' || a->body[i] == '\t' || a->body[i] == '\r' ||
	                           a->body[i] == '\n'))
		i++;
	if (i == a->body_len || a->body[i] != '{')
		return;
	root = json_loadb(a->body, a->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!root)
		return;
	smtp = json_object_get(root, "smtp");
	jcode = json_object_get(smtp, "code");
	jstatus = json_object_get(smtp, "status");
	jmsg = json_object_get(smtp, "message");
	if (!json_is_integer(jcode))
		goto out;
	code = (int)json_integer_value(jcode);
	if (code < 200 || code > 599 || code / 100 != out->code / 100)
		goto out;
	if (out->code / 100 == 2 && code != 250)
		goto out;
	if (code == 421) /* would promise a close the session does not make */
		goto out;
	out->code = code;
	if (json_is_string(jstatus) && status_valid(json_string_value(jstatus), code))
		snprintf(out->status, sizeof(out->status), "%s", json_string_value(jstatus));
	else if (out->status[0] - '0' != code / 100)
		snprintf(out->status, sizeof(out->status), "%d.0.0", code / 100);
	if (json_is_string(jmsg)) {
		char clean[HTTP_REPLY_TEXT_MAX + 1];
		if (http_reply_sanitize(json_string_value(jmsg), json_string_length(jmsg), clean,
		                        sizeof(clean), HTTP_REPLY_TEXT_MAX) > 0)
			snprintf(out->text, sizeof(out->text), "%s", clean);
	}
out:
	json_decref(root);
}

/* Suffixes that must survive the length cap: the id of a 250, a Retry-After. */
static void add_suffix(const struct http_answer *a, struct smtp_reply *out)
{
	char suffix[96] = "";
	size_t room;

	if (out->code / 100 == 2 && a->id && a->id[0])
		snprintf(suffix, sizeof(suffix), " (%.64s)", a->id);
	else if (a->retry_after_s >= 0 && out->code / 100 == 4)
		snprintf(suffix, sizeof(suffix), " (retry after %ld seconds)",
		         a->retry_after_s > 86400 ? 86400 : a->retry_after_s);
	if (!suffix[0])
		return;
	room = HTTP_REPLY_TEXT_MAX - strlen(suffix);
	if (strlen(out->text) > room)
		out->text[room] = '\0';
	while (room > 0 && out->text[0] && out->text[strlen(out->text) - 1] == ' ')
		out->text[strlen(out->text) - 1] = '\0';
	snprintf(out->text + strlen(out->text), sizeof(out->text) - strlen(out->text), "%s",
	         suffix);
}

void http_reply_own(enum http_reply_own id, struct smtp_reply *out)
{
	memset(out, 0, sizeof(*out));
	if ((unsigned)id >= HTTP_OWN_MAX)
		id = HTTP_OWN_SETUP; /* fails closed: a temporary failure, never a 250 */
	reply_set(out, own_rows[id].code, own_rows[id].status, own_rows[id].text);
	out->refused = own_rows[id].refused;
}

void http_reply_map(const struct http_answer *a, const struct gw_reply_override *ov, size_t n_ov,
                    struct smtp_reply *out)
{
	const struct reply_row *r = row_find(a);

	memset(out, 0, sizeof(*out));
	reply_set(out, r->code, r->status, r->text);
	apply_route_override(a, ov, n_ov, out);
	if (a->outcome == HTTP_OUTCOME_STATUS)
		apply_app_override(a, out);
	if (out->code / 100 == 2 && !is_2xx(a)) { /* belt and braces: never 250 without 2xx */
		reply_set(out, 451, "4.3.0", row_invalid.text);
	}
	add_suffix(a, out);
}
