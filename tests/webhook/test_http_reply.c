/*
 * test_http_reply.c: the HTTP-to-SMTP table, route overrides, the app's
 * JSON override, the reply-text sanitiser and delivery's own replies, as
 * got/want tables.
 * Never touches the network.
 */
#include <stdlib.h>
#include <string.h>

#include "http_reply.h"
#include "unit.h"

#define ID "msg_00112233445566778899aabbccddeeff"

struct map_case {
	enum http_outcome outcome;
	long status;
	const char *body;
	long retry_after;
	int code;
	const char *enh;
	const char *text_has; /* a substring the text must contain, or NULL */
	int transient;
};

/* Every row of the table (docs/webhook.md), plus its edges. */
static const struct map_case table_cases[] = {
    {HTTP_OUTCOME_STATUS, 200, NULL, -1, 250, "2.0.0", ID, 0},
    {HTTP_OUTCOME_STATUS, 201, NULL, -1, 250, "2.0.0", ID, 0},
    {HTTP_OUTCOME_STATUS, 204, NULL, -1, 250, "2.0.0", ID, 0},
    {HTTP_OUTCOME_STATUS, 299, NULL, -1, 250, "2.0.0", ID, 0},
    {HTTP_OUTCOME_STATUS, 301, NULL, -1, 451, "4.3.0", "redirect", 0},
    {HTTP_OUTCOME_STATUS, 302, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 307, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 400, NULL, -1, 554, "5.6.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 415, NULL, -1, 554, "5.6.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 422, NULL, -1, 554, "5.6.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 401, NULL, -1, 550, "5.7.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 403, NULL, -1, 550, "5.7.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 404, NULL, -1, 550, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 410, NULL, -1, 550, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 408, NULL, -1, 451, "4.4.2", NULL, 0},
    {HTTP_OUTCOME_STATUS, 413, NULL, -1, 552, "5.3.4", NULL, 0},
    {HTTP_OUTCOME_STATUS, 429, NULL, -1, 451, "4.7.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 429, NULL, 30, 451, "4.7.0", "retry after 30 seconds", 0},
    {HTTP_OUTCOME_STATUS, 402, NULL, -1, 554, "5.0.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 405, NULL, -1, 554, "5.0.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 409, NULL, -1, 554, "5.0.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 451, NULL, -1, 554, "5.0.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 499, NULL, -1, 554, "5.0.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 507, NULL, -1, 452, "4.3.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 500, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 501, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 502, NULL, -1, 451, "4.3.0", NULL, 1},
    {HTTP_OUTCOME_STATUS, 503, NULL, -1, 451, "4.3.0", NULL, 1},
    {HTTP_OUTCOME_STATUS, 503, NULL, 5, 451, "4.3.0", "retry after 5 seconds", 1},
    {HTTP_OUTCOME_STATUS, 504, NULL, -1, 451, "4.3.0", NULL, 1},
    {HTTP_OUTCOME_STATUS, 505, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 599, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 100, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 600, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_STATUS, 0, NULL, -1, 451, "4.3.0", NULL, 0},
    {HTTP_OUTCOME_CONNECT, 0, NULL, -1, 451, "4.4.1", NULL, 1},
    {HTTP_OUTCOME_TIMEOUT, 0, NULL, -1, 451, "4.4.2", NULL, 1},
    {HTTP_OUTCOME_RESET, 0, NULL, -1, 451, "4.4.2", NULL, 1},
    {HTTP_OUTCOME_CONFIG, 0, NULL, -1, 451, "4.3.0", NULL, 0},
};

/* The app's {"smtp": {...}} body: used only when it keeps the class. */
static const struct map_case app_cases[] = {
    {HTTP_OUTCOME_STATUS, 404,
     "{\"smtp\":{\"code\":550,\"status\":\"5.1.2\",\"message\":\"No "
     "such ticket\"}}",
     -1, 550, "5.1.2", "No such ticket", 0},
    {HTTP_OUTCOME_STATUS, 403, "{\"smtp\":{\"code\":553,\"message\":\"Sender not allowed\"}}", -1,
     553, "5.7.1", "Sender not allowed", 0},
    /* a 5xx reply cannot become a 4xx one through the body */
    {HTTP_OUTCOME_STATUS, 404, "{\"smtp\":{\"code\":450,\"status\":\"4.2.0\"}}", -1, 550, "5.1.1",
     NULL, 0},
    /* 2xx keeps 250 only; a 2xx body may reword it, and the id stays */
    {HTTP_OUTCOME_STATUS, 200, "{\"smtp\":{\"code\":250,\"message\":\"Ticket 42 opened\"}}", -1,
     250, "2.0.0", "Ticket 42 opened (" ID ")", 0},
    {HTTP_OUTCOME_STATUS, 200, "{\"smtp\":{\"code\":550,\"message\":\"no\"}}", -1, 250, "2.0.0", ID,
     0},
    /* a failure can never become 250 */
    {HTTP_OUTCOME_STATUS, 500, "{\"smtp\":{\"code\":250,\"message\":\"fine\"}}", -1, 451, "4.3.0",
     NULL, 0},
    {HTTP_OUTCOME_STATUS, 422, "{\"smtp\":{\"code\":250}}", -1, 554, "5.6.0", NULL, 0},
    /* status of the wrong class is replaced by the class default */
    {HTTP_OUTCOME_STATUS, 429, "{\"smtp\":{\"code\":452,\"status\":\"5.2.2\"}}", -1, 452, "4.7.0",
     NULL, 0},
    {HTTP_OUTCOME_STATUS, 500,
     "{\"smtp\":{\"code\":452,\"status\":\"4.2.2\",\"message\":"
     "\"Mailbox full\"}}",
     -1, 452, "4.2.2", "Mailbox full", 0},
    /* 421 would promise a close */
    {HTTP_OUTCOME_STATUS, 503, "{\"smtp\":{\"code\":421}}", -1, 451, "4.3.0", NULL, 1},
    /* malformed bodies are ignored */
    {HTTP_OUTCOME_STATUS, 404, "{\"smtp\":{\"code\":\"550\"}}", -1, 550, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 404, "not json", -1, 550, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 404, "[{\"smtp\":{\"code\":553}}]", -1, 550, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 404, " \t\r\n", -1, 550, "5.1.1", NULL, 0},
    /* white space before the object (RFC 8259 section 2) and an escaped key still count */
    {HTTP_OUTCOME_STATUS, 404, " \r\n\t{\"smtp\":{\"code\":553}}", -1, 553, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 404, "{\"\\u0073mtp\":{\"code\":553}}", -1, 553, "5.1.1", NULL, 0},
    {HTTP_OUTCOME_STATUS, 404, "{\"smtp\":{\"code\":550,\"status\":\"5.1\"}}", -1, 550, "5.1.1",
     NULL, 0},
    /* injection attempts are flattened */
    {HTTP_OUTCOME_STATUS, 404, "{\"smtp\":{\"code\":550,\"message\":\"a\\r\\n250 ok\"}}", -1, 550,
     "5.1.1", "a 250 ok", 0},
};

static void check_map(const struct map_case *c, const struct gw_reply_override *ov, size_t n_ov)
{
	struct http_answer a = {.outcome = c->outcome,
	                        .status = c->status,
	                        .body = c->body,
	                        .body_len = c->body ? strlen(c->body) : 0,
	                        .retry_after_s = c->retry_after,
	                        .id = ID};
	struct smtp_reply r;

	http_reply_map(&a, ov, n_ov, &r);
	CHECK_INT(r.code, c->code);
	CHECK_STR(r.status, c->enh);
	if (c->text_has && !strstr(r.text, c->text_has)) {
		unit_failed++;
		fprintf(stderr, "status %ld: text \"%s\" lacks \"%s\"\n", c->status, r.text,
		        c->text_has);
	}
	CHECK(strlen(r.text) > 0 && strlen(r.text) <= HTTP_REPLY_TEXT_MAX);
	CHECK(!strpbrk(r.text, "\r\n"));
	CHECK_INT(http_reply_transient(&a), c->transient);
	if (c->code != 250)
		CHECK(!strstr(r.text, ID));
}

struct ov_case {
	enum http_outcome outcome;
	long status;
	int code;
	const char *enh;
	const char *text;
};

static void test_overrides(void)
{
	static const struct gw_reply_override ov[] = {
	    {(char *)"404", 550, "5.1.1", (char *)"No such ticket"},
	    {(char *)"4xx", 450, "4.2.0", (char *)"   "},         /* blank: the row's text stays */
	    {(char *)"5xx", 250, "2.0.0", (char *)"always fine"}, /* refused: never 250 */
	    {(char *)"timeout", 421, "4.4.2", (char *)"slow"},
	    {(char *)"connect", 452, "4.4.1", NULL},
	    {(char *)"reset", 451, "4.4.3", (char *)"Connection to the app lost"},
	    {(char *)"config", 454, "4.3.5", (char *)"Misconfigured"},
	};
	static const struct ov_case cases[] = {
	    {HTTP_OUTCOME_STATUS, 404, 550, "5.1.1", "No such ticket"},
	    {HTTP_OUTCOME_STATUS, 403, 450, "4.2.0", "Message refused by the webhook"},
	    {HTTP_OUTCOME_STATUS, 500, 451, "4.3.0", "Webhook error, try again later"},
	    {HTTP_OUTCOME_STATUS, 200, 250, "2.0.0", "Delivered (" ID ")"},
	    {HTTP_OUTCOME_TIMEOUT, 0, 421, "4.4.2", "slow"},
	    {HTTP_OUTCOME_CONNECT, 0, 452, "4.4.1", "Webhook unreachable, try again later"},
	    {HTTP_OUTCOME_RESET, 0, 451, "4.4.3", "Connection to the app lost"},
	    {HTTP_OUTCOME_CONFIG, 0, 454, "4.3.5", "Misconfigured"},
	    {HTTP_OUTCOME_STATUS, 410, 450, "4.2.0", "Mailbox unavailable"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_answer a = {.outcome = cases[i].outcome,
		                        .status = cases[i].status,
		                        .retry_after_s = -1,
		                        .id = ID};
		struct smtp_reply r;
		http_reply_map(&a, ov, sizeof(ov) / sizeof(ov[0]), &r);
		CHECK_INT(r.code, cases[i].code);
		CHECK_STR(r.status, cases[i].enh);
		CHECK_STR(r.text, cases[i].text);
	}
}

struct san_case {
	const char *in;
	const char *want;
};

/* Delivery's own replies: the bytes the webhook-post tool and the logs show, and refused. */
static const struct {
	enum http_reply_own id;
	int code;
	const char *status, *text;
	int refused;
} own_cases[] = {
    {HTTP_OWN_DROPPED, 250, "2.0.0", "Accepted (automatic reply dropped)", 0},
    {HTTP_OWN_TOO_BIG, 552, "5.3.4", "Message too big for the webhook", DELIVERY_TOO_BIG},
    {HTTP_OWN_SETUP, 451, "4.3.0", "Delivery could not be set up", DELIVERY_FAILED},
    {HTTP_OWN_DRAIN_CUT, 451, "4.3.2", "Service shutting down, delivery not confirmed", 0},
    {HTTP_OWN_MAX, 451, "4.3.0", "Delivery could not be set up", DELIVERY_FAILED}, /* unknown */
};

static void test_own(void)
{
	for (size_t i = 0; i < sizeof(own_cases) / sizeof(own_cases[0]); i++) {
		struct smtp_reply r;
		http_reply_own(own_cases[i].id, &r);
		CHECK_INT(r.code, own_cases[i].code);
		CHECK_STR(r.status, own_cases[i].status);
		CHECK_STR(r.text, own_cases[i].text);
		CHECK_INT(r.refused, own_cases[i].refused);
	}
}

static void test_sanitize(void)
{
	static const struct san_case cases[] = {
	    {"plain text", "plain text"},
	    {"  lead and trail  ", "lead and trail"},
	    {"a\r\nb", "a b"},
	    {"a\r\n250 2.0.0 ok", "a 250 2.0.0 ok"},
	    {"tab\there", "tab here"},
	    {"multi    space", "multi space"},
	    {"caf\xc3\xa9 ok", "caf? ok"},
	    {"\xe2\x9c\x93\xe2\x9c\x93 done", "? done"},
	    {"nul\x01"
	     "ctl\x7f"
	     "del",
	     "nul ctl del"},
	    {"\r\n\r\n", ""},
	    {"", ""},
	};
	char out[HTTP_REPLY_TEXT_MAX + 1], big[1000];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_reply_sanitize(cases[i].in, strlen(cases[i].in), out, sizeof(out),
		                    HTTP_REPLY_TEXT_MAX);
		CHECK_STR(out, cases[i].want);
	}
	memset(big, 'x', sizeof(big));
	CHECK_INT(http_reply_sanitize(big, sizeof(big), out, sizeof(out), HTTP_REPLY_TEXT_MAX),
	          HTTP_REPLY_TEXT_MAX);
	CHECK_INT(strlen(out), HTTP_REPLY_TEXT_MAX);
	/* not NUL-terminated input: only len bytes are read */
	CHECK_INT(http_reply_sanitize("abcdef", 3, out, sizeof(out), HTTP_REPLY_TEXT_MAX), 3);
	CHECK_STR(out, "abc");
	/* a tiny output buffer is respected */
	CHECK_INT(http_reply_sanitize("abcdef", 6, out, 4, HTTP_REPLY_TEXT_MAX), 3);
	CHECK_STR(out, "abc");
}

static void test_long_app_text(void)
{
	/* a 2xx with a long message: the id survives the 200-character cap */
	char body[1200];
	char msg[800];
	struct smtp_reply r;
	struct http_answer a = {
	    .outcome = HTTP_OUTCOME_STATUS, .status = 200, .retry_after_s = -1, .id = ID};

	memset(msg, 'y', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"smtp\":{\"code\":250,\"message\":\"%s\"}}", msg);
	a.body = body;
	a.body_len = strlen(body);
	http_reply_map(&a, NULL, 0, &r);
	CHECK_INT(r.code, 250);
	CHECK(strlen(r.text) <= HTTP_REPLY_TEXT_MAX);
	CHECK(strstr(r.text, ID) != NULL);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(table_cases) / sizeof(table_cases[0]); i++)
		check_map(&table_cases[i], NULL, 0);
	for (size_t i = 0; i < sizeof(app_cases) / sizeof(app_cases[0]); i++)
		check_map(&app_cases[i], NULL, 0);
	test_overrides();
	test_sanitize();
	test_long_app_text();
	test_own();
	return UNIT_END("webhook_http_reply");
}
