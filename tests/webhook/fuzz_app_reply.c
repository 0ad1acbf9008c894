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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_answer a = {.outcome = HTTP_OUTCOME_STATUS, .id = "msg_7f3a9c"};
	struct gw_reply_override ov = {0};
	struct smtp_reply r, ref;
	char ov_text[64], status[16], suffix[128];
	struct buf body = {0};
	int app_code;

	if (size < HDR)
		return 0;
	uint8_t f = data[2];
	a.status = 100 + (data[0] << 8 | data[1]) % 550;
	if ((f & 3) == 3)
		a.outcome = (enum http_outcome)(HTTP_OUTCOME_CONNECT + ((f >> 2) & 3));
	if (f & 0x40)
		a.id = "";
	a.retry_after_s = (f & 0x80) ? (long)data[3] * 400 : -1;
	app_code = (data[4] & 0x80) ? (int16_t)(data[4] << 8 | data[5])
	                            : 200 + (data[4] << 8 | data[5]) % 400;
	size_t st_len = data[6] % 16, ovt_len = data[9] % 64;
	size_t small_cap = (size_t)(data[6] >> 4) % 9, small_max = data[9] >> 6;
	ov.key = (char *)ov_keys[data[8] % (sizeof(ov_keys) / sizeof(ov_keys[0]))];
	ov.code = ov_codes[data[7] % (sizeof(ov_codes) / sizeof(ov_codes[0]))];
	snprintf(ov.status, sizeof(ov.status), "%s",
	         ov_status[(data[8] >> 4) % (sizeof(ov_status) / sizeof(ov_status[0]))]);
	data += HDR;
	size -= HDR;
	if (ovt_len > size)
		ovt_len = size;
	/* What the config loader accepts: printable ASCII, empty for the row's text. */
	for (size_t i = 0; i < ovt_len; i++)
		ov_text[i] = (char)(0x20 + data[i] % 95);
	ov_text[ovt_len] = '\0';
	if (ovt_len > 0 && strspn(ov_text, " ") == ovt_len)
		ov_text[0] =
		    'x'; /* all spaces: a finding of its own (empty reply text), kept out */
	ov.text = ov_text;
	data += ovt_len;
	size -= ovt_len;
	size_t n_ov = (f & 0x20) ? 1 : 0;

	/* The table's answer with the same overrides and no body: the class the app must keep. */
	http_reply_map(&a, &ov, n_ov, &ref);

	body.cap = 64 + 6 * size;
	body.p = malloc(body.cap);
	if (!body.p)
		return 0;
	const uint8_t *st = data, *msg;
	size_t msg_len;
	if (f & 0x10) {
		put(&body, (const char *)data, size);
		msg = NULL;
		msg_len = 0;
	} else {
		char head[64];
		if (st_len > size)
			st_len = size;
		msg = data + st_len;
		msg_len = size - st_len;
		put(&body, head,
		    (size_t)snprintf(head, sizeof(head), "{\"smtp\":{\"code\":%d,", app_code));
		put(&body, "\"status\":", 9);
		put_json_string(&body, st, st_len);
		put(&body, ",\"message\":", 11);
		put_json_string(&body, msg, msg_len);
		put(&body, "}}", 2);
	}
	a.body = body.p;
	a.body_len = body.n;
	http_reply_map(&a, &ov, n_ov, &r);

	bool is2xx = a.outcome == HTTP_OUTCOME_STATUS && a.status >= 200 && a.status <= 299;
	bool transient = a.outcome == HTTP_OUTCOME_CONNECT || a.outcome == HTTP_OUTCOME_TIMEOUT ||
	                 a.outcome == HTTP_OUTCOME_RESET ||
	                 (a.outcome == HTTP_OUTCOME_STATUS && a.status >= 502 && a.status <= 504);
	if (http_reply_transient(&a) != transient)
		abort();
	check_sanitize(data, size, small_cap, small_max);
	if (r.code < 200 || r.code > 599 || (r.code / 100 == 2 && !is2xx))
		abort();
	if (n_ov == 0 && (r.code / 100 == 2) != is2xx)
		abort(); /* only a route override may turn an HTTP 2xx into a failure */
	if (r.code / 100 != ref.code / 100 || !status_ok(r.status, r.code))
		abort();
	check_text(r.text);
	want_suffix(&a, &r, suffix, sizeof(suffix));
	size_t tl = strlen(r.text), sl = strlen(suffix);
	if (tl < sl || strcmp(r.text + tl - sl, suffix) != 0)
		abort();

	if (msg && a.outcome == HTTP_OUTCOME_STATUS) {
		bool taken = app_code >= 200 && app_code <= 599 &&
		             app_code / 100 == ref.code / 100 &&
		             !(ref.code / 100 == 2 && app_code != 250) && app_code != 421;
		if (r.code != (taken ? app_code : ref.code))
			abort();
		if (taken) {
			/* jansson hands the status over up to its first NUL. */
			size_t sn = strnlen((const char *)st, st_len);
			if (sn < sizeof(status)) {
				memcpy(status, st, sn);
				status[sn] = '\0';
				if (status_ok(status, app_code) && strcmp(r.status, status) != 0)
					abort();
			}
			check_app_words(&r, &ref, suffix, msg, msg_len);
		} else if (strcmp(r.text, ref.text) != 0 || strcmp(r.status, ref.status) != 0) {
			abort(); /* refused words change nothing */
		}
	}
	free(body.p);
	return 0;
}
