/*
 * fuzz_app_reply.c: libFuzzer target of the app's JSON answer, the body
 * {"smtp": {"code", "status", "message"}} from which http_reply_map()
 * (gateway/webhook/http_reply.c) takes the SMTP reply. fuzz_http_reply
 * feeds raw bodies, which are almost never that JSON; here the JSON is
 * built from the input, so every run reaches the app override with an
 * arbitrary code, enhanced status and message (NUL, CR, LF, control and
 * non-ASCII characters, as JSON escapes), under route overrides as the
 * config loader accepts them (printable ASCII text), arbitrary
 * HTTP statuses, outcomes and Retry-After values.
 *
 * Input: 10 bytes of parameters, then the status string, the override
 * text and the message (lengths from the parameters). Flag 0x10 sends
 * the rest as a raw body instead.
 *
 * Invariants (abort on violation), beyond no crash, leak or UB:
 *   - the reply is 200..599, never a 2xx but for an HTTP 2xx answer, and
 *     (without a route override) always a 2xx for one;
 *   - the enhanced status is class.subject.detail of the reply's class;
 *   - the text that reaches the SMTP reply is non-empty printable ASCII
 *     (never CR or LF), at most HTTP_REPLY_TEXT_MAX characters, without
 *     leading or doubled spaces;
 *   - the app never changes the reply's class; its code is taken exactly
 *     when the contract allows (same class, 2xx only as 250, never 421),
 *     with its status when well formed and its words, cleaned, as the text;
 *   - the delivery id of a 2xx and the Retry-After of a 4xx survive the cap;
 *   - http_reply_transient() holds for connect, timeout, reset, 502..504 only;
 *   - http_reply_sanitize() into a buffer of 0..8 bytes (exactly that size)
 *     stays inside it and keeps its promises.
 * Build and run: docs/fuzzing.md, "Webhook" (scripts/fuzz fuzz_app_reply).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 10

static const int ov_codes[] = {250, 251, 421, 450, 451, 452, 550, 552, 554, 599, 200, 199, 600};
static const char *const ov_keys[] = {"2xx", "4xx", "5xx",     "404",     "500",   "200",
                                      "3xx", "503", "connect", "timeout", "reset", "config"};
static const char *const ov_status[] = {"5.1.1", "4.7.1", "2.0.0", "", "5.x.1", "4.4.04"};

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n <= b->cap) {
		memcpy(b->p + b->n, s, n);
		b->n += n;
	}
}

/* A JSON string of arbitrary bytes: printable ASCII as is, the rest as \u00XX. */
static void put_json_string(struct buf *b, const uint8_t *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char esc[8];
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
			put(b, (const char *)s + i, 1);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			put(b, esc, 6);
		}
	}
	put(b, "\"", 1);
}

/* The enhanced status RFC 3463 allows for code: c.d{1,3}.d{1,3}, c the class. */
static int status_ok(const char *s, int code)
{
	size_t n = strlen(s), i = 2, part;

	if (n < 5 || s[0] - '0' != code / 100 || s[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		size_t digits = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && (i >= n || s[i++] != '.'))
			return 0;
	}
	return i == n;
}

static void check_text(const char *t)
{
	size_t len = strlen(t);

	if (len == 0 || len > HTTP_REPLY_TEXT_MAX || t[0] == ' ')
		abort();
	for (size_t i = 0; i < len; i++)
		if (t[i] < 0x20 || t[i] > 0x7e || (t[i] == ' ' && i > 0 && t[i - 1] == ' '))
			abort();
}

/* What the session would get as the message after jansson decoded the JSON string. */
static size_t decoded(const uint8_t *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x80) {
			out[o++] = (char)s[i];
		} else {
			out[o++] = (char)(0xc0 | s[i] >> 6);
			out[o++] = (char)(0x80 | (s[i] & 0x3f));
		}
	}
	return o;
}

/* The cleaner on its own, with tiny buffers: cap bytes with the NUL, at most max characters. */
static void check_sanitize(const uint8_t *in, size_t len, size_t cap, size_t max)
{
	char *out = malloc(cap ? cap : 1);
	size_t n;

	if (!out)
		return;
	n = http_reply_sanitize((const char *)in, len, out, cap, max);
	if (cap == 0 ? n != 0 : n >= cap || n > max || strlen(out) != n)
		abort();
	if (cap > 0 && n > 0)
		check_text(out);
	free(out);
}

/* The suffix the reply must end with, or "" when none. */
static void want_suffix(const struct http_answer *a, const struct smtp_reply *r, char *s,
                        size_t cap)
{
	s[0] = '\0';
	if (r->code / 100 == 2 && a->id && a->id[0])
		snprintf(s, cap, " (%s)", a->id);
	else if (a->retry_after_s >= 0 && r->code / 100 == 4)
		snprintf(s, cap, " (retry after %ld seconds)",
		         a->retry_after_s > 86400 ? 86400 : a->retry_after_s);
}

static void check_app_words(const struct smtp_reply *r, const struct smtp_reply *ref,
                            const char *suffix, const uint8_t *msg, size_t msg_len)
{
	char *raw = malloc(2 * msg_len + 1), clean[HTTP_REPLY_TEXT_MAX + 1];
	size_t n, tl = strlen(r->text) - strlen(suffix);

	if (!raw)
		return;
	n = http_reply_sanitize(raw, decoded(msg, msg_len, raw), clean, sizeof(clean),
	                        HTTP_REPLY_TEXT_MAX);
	/* The app's cleaned words, possibly cut to leave room for the suffix. */
	if (n > 0 && (tl > n || memcmp(r->text, clean, tl) != 0))
		abort();
	if (n == 0 && strcmp(r->text, ref->text) != 0)
		abort(); /* no words left after cleaning: the table's text stays */
	free(raw);
}

/* One run's parameters, read from the input's first HDR bytes and the override text. */
struct fcase {
	struct http_answer a;
	struct gw_reply_override ov;
	char ov_text[64];
	int app_code;
	size_t st_len, small_cap, small_max, n_ov;
	uint8_t f;
};

/* Fills *c; returns the bytes it read, 0 when the input is too short. */
static size_t read_case(const uint8_t *data, size_t size, struct fcase *c)
{
	if (size < HDR)
		return 0;
	c->a = (struct http_answer){.outcome = HTTP_OUTCOME_STATUS, .id = "msg_7f3a9c"};
	c->f = data[2];
	c->a.status = 100 + (data[0] << 8 | data[1]) % 550;
	if ((c->f & 3) == 3)
		c->a.outcome = (enum http_outcome)(HTTP_OUTCOME_CONNECT + ((c->f >> 2) & 3));
	if (c->f & 0x40)
		c->a.id = "";
	c->a.retry_after_s = (c->f & 0x80) ? (long)data[3] * 400 : -1;
	c->app_code = (data[4] & 0x80) ? (int16_t)(data[4] << 8 | data[5])
	                               : 200 + (data[4] << 8 | data[5]) % 400;
	c->st_len = data[6] % 16;
	c->small_cap = (size_t)(data[6] >> 4) % 9;
	c->small_max = data[9] >> 6;
	c->ov.key = (char *)ov_keys[data[8] % (sizeof(ov_keys) / sizeof(ov_keys[0]))];
	c->ov.code = ov_codes[data[7] % (sizeof(ov_codes) / sizeof(ov_codes[0]))];
	snprintf(c->ov.status, sizeof(c->ov.status), "%s",
	         ov_status[(data[8] >> 4) % (sizeof(ov_status) / sizeof(ov_status[0]))]);
	size_t ovt_len = data[9] % 64;
	if (ovt_len > size - HDR)
		ovt_len = size - HDR;
	/* What the config loader accepts: printable ASCII, blank or empty for the row's text. */
	for (size_t i = 0; i < ovt_len; i++)
		c->ov_text[i] = (char)(0x20 + data[HDR + i] % 95);
	c->ov_text[ovt_len] = '\0';
	c->ov.text = c->ov_text;
	c->n_ov = (c->f & 0x20) ? 1 : 0;
	return HDR + ovt_len;
}

/* The app's JSON answer built from the input, or the input as a raw body (flag 0x10). */
static void build_answer(struct buf *body, const struct fcase *c, const uint8_t *data, size_t size,
                         const uint8_t **msg, size_t *msg_len)
{
	char head[64];
	size_t st_len = c->st_len; /* at most size: the caller clamps it */

	*msg = NULL;
	*msg_len = 0;
	if (c->f & 0x10) {
		put(body, (const char *)data, size);
		return;
	}
	*msg = data + st_len;
	*msg_len = size - st_len;
	put(body, head,
	    (size_t)snprintf(head, sizeof(head), "{\"smtp\":{\"code\":%d,", c->app_code));
	put(body, "\"status\":", 9);
	put_json_string(body, data, st_len);
	put(body, ",\"message\":", 11);
	put_json_string(body, *msg, *msg_len);
	put(body, "}}", 2);
}

/* The app's code is taken exactly when the contract allows, with its status and words. */
static void check_app_answer(const struct fcase *c, const struct smtp_reply *r,
                             const struct smtp_reply *ref, const char *suffix, const uint8_t *st,
                             const uint8_t *msg, size_t msg_len)
{
	char status[16];
	int code = c->app_code;
	bool taken = code >= 200 && code <= 599 && code / 100 == ref->code / 100 &&
	             !(ref->code / 100 == 2 && code != 250) && code != 421;

	if (r->code != (taken ? code : ref->code))
		abort();
	if (!taken) {
		if (strcmp(r->text, ref->text) != 0 || strcmp(r->status, ref->status) != 0)
			abort(); /* refused words change nothing */
		return;
	}
	/* jansson hands the status over up to its first NUL. */
	size_t sn = strnlen((const char *)st, c->st_len);
	if (sn < sizeof(status)) {
		memcpy(status, st, sn);
		status[sn] = '\0';
		if (status_ok(status, code) && strcmp(r->status, status) != 0)
			abort();
	}
	check_app_words(r, ref, suffix, msg, msg_len);
}

/* The invariants every mapped reply keeps, whatever the app said. */
static void check_reply(const struct http_answer *a, size_t n_ov, const struct smtp_reply *r,
                        const struct smtp_reply *ref, char *suffix, size_t suffix_cap)
{
	bool is2xx = a->outcome == HTTP_OUTCOME_STATUS && a->status >= 200 && a->status <= 299;
	bool transient =
	    a->outcome == HTTP_OUTCOME_CONNECT || a->outcome == HTTP_OUTCOME_TIMEOUT ||
	    a->outcome == HTTP_OUTCOME_RESET ||
	    (a->outcome == HTTP_OUTCOME_STATUS && a->status >= 502 && a->status <= 504);

	if (http_reply_transient(a) != transient)
		abort();
	if (r->code < 200 || r->code > 599 || (r->code / 100 == 2 && !is2xx))
		abort();
	if (n_ov == 0 && (r->code / 100 == 2) != is2xx)
		abort(); /* only a route override may turn an HTTP 2xx into a failure */
	if (r->code / 100 != ref->code / 100 || !status_ok(r->status, r->code))
		abort();
	check_text(r->text);
	want_suffix(a, r, suffix, suffix_cap);
	size_t tl = strlen(r->text), sl = strlen(suffix);
	if (tl < sl || strcmp(r->text + tl - sl, suffix) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcase c;
	struct smtp_reply r, ref;
	char suffix[128];
	struct buf body = {0};
	const uint8_t *msg;
	size_t msg_len, used = read_case(data, size, &c);

	if (used == 0)
		return 0;
	data += used;
	size -= used;
	/* The table's answer with the same overrides and no body: the class the app must keep. */
	http_reply_map(&c.a, &c.ov, c.n_ov, &ref);
	body.cap = 64 + 6 * size;
	body.p = malloc(body.cap);
	if (!body.p)
		return 0;
	if (c.st_len > size)
		c.st_len = size;
	build_answer(&body, &c, data, size, &msg, &msg_len);
	c.a.body = body.p;
	c.a.body_len = body.n;
	http_reply_map(&c.a, &c.ov, c.n_ov, &r);
	check_sanitize(data, size, c.small_cap, c.small_max);
	check_reply(&c.a, c.n_ov, &r, &ref, suffix, sizeof(suffix));
	if (msg && c.a.outcome == HTTP_OUTCOME_STATUS)
		check_app_answer(&c, &r, &ref, suffix, data, msg, msg_len);
	free(body.p);
	return 0;
}
