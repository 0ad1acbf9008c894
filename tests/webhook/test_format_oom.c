/*
 * test_format_oom.c: every allocation of the provider formats' own code
 * (format*.c, form_data.c, webhook_request.c; injected with -Wl,--wrap,
 * which reaches the project's static objects, not jansson or GMime) fails
 * in turn. Each time the request build either fails (the session answers
 * 451) or succeeds with exactly the body it builds when memory is
 * plentiful: never a crash, never a shorter body (no silent loss). Run
 * under ASan, it also checks that every failure path frees what it took.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "unit.h"
#include "webhook_request.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long fail_at = -1; /* the allocation number that fails; -1: none */
static long n_allocs;

static bool fail_now(void)
{
	return fail_at >= 0 && n_allocs++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return fail_now() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

static const char MSG[] =
    "From: \"Zo\xc3\xab\" <zoe@sender.test>\r\nTo: a@example.test, b@example.test\r\n"
    "Cc: c@example.test\r\nSubject: oom\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
    "--a\r\nContent-Type: text/plain\r\n\r\nplain \xe9 8-bit\r\n"
    "--a\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--a--\r\n"
    "--b\r\nContent-Type: image/png\r\nContent-ID: <img@x>\r\nContent-Transfer-Encoding: "
    "base64\r\n\r\niVBORw0KGgo=\r\n"
    "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    "filename=\"r.pdf\"\r\n\r\n%PDF-1.4\r\n--b--\r\n";

struct flat {
	char *p;
	size_t len;
};

static int append(void *arg, const char *p, size_t n)
{
	struct flat *f = arg;
	char *np = __real_realloc(f->p, f->len + n);

	if (!np)
		return -1;
	memcpy(np + f->len, p, n);
	f->p = np;
	f->len += n;
	return 0;
}

/* The body as sent, the random boundary blanked so that two builds compare equal. */
static struct flat body_of(const struct webhook_request *r)
{
	struct flat f = {NULL, 0};

	if (r->fmt && r->fmt->form) {
		const char *b = r->fmt->form->boundary;
		size_t bl = strlen(b);
		form_data_each(r->fmt->form, append, &f);
		for (char *p = f.p; f.p && (p = memmem(p, f.len - (size_t)(p - f.p), b, bl));
		     p += bl)
			memset(p, 'B', bl);
		/* Mailgun's token is random: blank the per-attempt values too */
		if (r->fmt->token_part >= 0) {
			char *t = memmem(f.p, f.len, r->fmt->token, strlen(r->fmt->token));
			if (t)
				memset(t, 'T', strlen(r->fmt->token));
			t = memmem(f.p, f.len, r->fmt->sig, strlen(r->fmt->sig));
			if (t)
				memset(t, 'S', strlen(r->fmt->sig));
		}
	} else {
		append(&f, r->body, r->body_len);
	}
	return f;
}

static void sweep(enum gw_format fmt)
{
	char *secrets[] = {(char *)"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
	struct envelope_rcpt rcpts[] = {{.address = (char *)"a+tag@example.test"},
	                                {.address = (char *)"b@example.test"}};
	struct envelope env = {.mail_from = (char *)"s@sender.test", .rcpts = rcpts, .n_rcpts = 2};
	struct gw_route route = {.name = (char *)"oom",
	                         .url = (char *)"http://127.0.0.1:9/",
	                         .secrets = secrets,
	                         .n_secrets = 1,
	                         .mailgun_signing_key = (char *)"key-1"};
	struct message_bytes msg = {MSG, sizeof(MSG) - 1, false};
	struct webhook_request ref = {0};
	struct flat want;
	char err[256];
	long failed = 0, ok_after_fault = 0;

	route.opts.format = fmt;
	route.opts.include_raw = true;
	route.opts.standard_webhooks = true;
	snprintf(env.client_ip, sizeof(env.client_ip), "192.0.2.1");
	fail_at = -1;
	CHECK_INT(webhook_request_build(&ref, &route, &env, &msg, NULL, NULL, err, sizeof(err)), 0);
	want = body_of(&ref);
	CHECK(want.len > 0);
	for (long n = 0; n < 100000; n++) {
		struct webhook_request r = {0};
		int rc;

		n_allocs = 0;
		fail_at = n;
		rc = webhook_request_build(&r, &route, &env, &msg, NULL, NULL, err, sizeof(err));
		fail_at = -1;
		if (n_allocs <= n) { /* no allocation failed: the sweep is complete */
			CHECK_INT(rc, 0);
			webhook_request_free(&r);
			break;
		}
		if (rc == 0) {
			struct flat got = body_of(&r);
			ok_after_fault++;
			CHECK(got.len == want.len && memcmp(got.p, want.p, want.len) == 0);
			free(got.p);
		} else {
			failed++;
		}
		webhook_request_free(&r);
	}
	CHECK(failed > 0); /* the sweep reached the formats' allocations */
	printf("%s: %ld allocations failed in turn, %ld builds refused, %ld still whole\n",
	       format_name(fmt), failed + ok_after_fault, failed, ok_after_fault);
	free(want.p);
	webhook_request_free(&ref);
}

int main(void)
{
	for (enum gw_format f = FORMAT_POSTMARK; f <= FORMAT_SENDGRID_RAW; f++)
		sweep(f);
	return UNIT_END("webhook_format_oom");
}
