/*
 * test_spam_units.c: got/want tables for gateway/spam/'s pure parts: rspamd's
 * answer (spam_reply.c), the message's fields by name (spam_fields.c), and
 * the circuit breaker (spam_breaker.c) on a clock of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "spam.h"
#include "unit.h"

static const struct spam_limits LIM = {.max_symbols = 3,
                                       .max_options = 2,
                                       .max_option_length = 8,
                                       .max_headers = 3,
                                       .max_header_length = 64};

/* ---- the answer ---- */

static const struct {
	const char *answer;
	int rc;             /* 0 or -1 */
	const char *action; /* spam_action_name, when parsed */
	const char *fields; /* what is prepended, or NULL */
	const char *message;
	const char *subject;
} replies[] = {
    {"{\"action\":\"reject\",\"score\":15,\"required_score\":15,\"messages\":{\"smtp_message\":"
     "\"Gtube  pattern\\r\\nBcc: x\"}}",
     0, "reject", NULL, "Gtube pattern Bcc: x", NULL},
    {"{\"action\":\"no action\",\"score\":-1.5}", 0, "no action", NULL, NULL, NULL},
    {"{\"action\":\"soft reject\",\"score\":1}", 0, "soft reject", NULL, NULL, NULL},
    {"{\"action\":\"greylist\",\"score\":1}", 0, "greylist", NULL, NULL, NULL},
    {"{\"action\":\"add header\",\"score\":1,\"milter\":{\"add_headers\":{\"X-A\":{\"value\":\"1;"
     "\\n\\t2\",\"order\":0},\"X-B\":\"v\\r\\nBcc: evil\",\"Bad:Name\":\"z\",\"X-C\":[\"c1\","
     "{\"value\":\"c2\"},\"c3\"]}}}",
     0, "add header", "X-A: 1;\r\n\t2\r\nX-C: c1\r\nX-C: c2\r\n", NULL, NULL},
    {"{\"action\":\"add header\",\"score\":1,\"milter\":{\"add_headers\":{\"X-Long\":\""
     "0123456789012345678901234567890123456789012345678901234567890123456789\"}}}",
     0, "add header", NULL, NULL, NULL},
    {"{\"action\":\"rewrite subject\",\"score\":9,\"subject\":\"[SPAM]\\r\\nhi\"}", 0,
     "rewrite subject", NULL, NULL, "[SPAM]  hi"},
    {"{\"action\":\"obliterate\",\"score\":1}", -1, NULL, NULL, NULL, NULL},
    {"{\"action\":\"reject\"}", -1, NULL, NULL, NULL, NULL},
    {"{\"score\":1}", -1, NULL, NULL, NULL, NULL},
    {"[1,2]", -1, NULL, NULL, NULL, NULL},
    {"not json", -1, NULL, NULL, NULL, NULL},
    {"", -1, NULL, NULL, NULL, NULL},
    {"{\"action\":\"reject\",\"score\":1,\"action\":\"no action\"}", -1, NULL, NULL, NULL, NULL},
};

static void test_replies(void)
{
	for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
		struct spam_reply r;
		const char *why = NULL;
		int rc =
		    spam_reply_parse(replies[i].answer, strlen(replies[i].answer), &LIM, &r, &why);
		CHECK_INT(rc, replies[i].rc);
		if (rc) {
			CHECK(why != NULL && r.verdict == NULL);
			continue;
		}
		CHECK_STR(spam_action_name(r.action), replies[i].action);
		CHECK_STR(json_string_value(json_object_get(r.verdict, "action")),
		          replies[i].action);
		CHECK(replies[i].fields ? r.fields && strcmp(r.fields, replies[i].fields) == 0
		                        : r.fields == NULL);
		CHECK(replies[i].message ? r.message && strcmp(r.message, replies[i].message) == 0
		                         : r.message == NULL);
		CHECK(replies[i].subject ? r.subject && strcmp(r.subject, replies[i].subject) == 0
		                         : r.subject == NULL);
		spam_reply_free(&r);
	}
}

/* Highest scores first, max_symbols of them, options bounded and cut on a character. */
static void test_symbols(void)
{
	const char *a =
	    "{\"action\":\"add header\",\"score\":6.1,\"required_score\":15,\"symbols\":{"
	    "\"LOW\":{\"score\":0.1},\"HIGH\":{\"score\":5,\"options\":["
	    "\"\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\",\"b\",\"c\"]},\"MID\":{\"score\":1},\"NEG\":{\"score\":-2},\"BAD\":{\"x\":1}"
	    "}}";
	struct spam_reply r;
	const char *why;
	CHECK_INT(spam_reply_parse(a, strlen(a), &LIM, &r, &why), 0);
	const json_t *s = json_object_get(r.verdict, "symbols");
	CHECK_INT(json_array_size(s), 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(s, 0), "name")), "HIGH");
	CHECK_STR(json_string_value(json_object_get(json_array_get(s, 1), "name")), "MID");
	CHECK_STR(json_string_value(json_object_get(json_array_get(s, 2), "name")), "LOW");
	const json_t *o = json_object_get(json_array_get(s, 0), "options");
	CHECK_INT(json_array_size(o), 2);
	CHECK_STR(json_string_value(json_array_get(o, 0)), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	CHECK(json_is_true(json_object_get(r.verdict, "truncated")));
	CHECK_STR(json_string_value(json_object_get(r.verdict, "engine")), "rspamd");
	spam_reply_free(&r);
}

/* milter remove_headers: the names (valid ones, at most max_headers), every field of each. */
static void test_removals(void)
{
	const char *a = "{\"action\":\"no action\",\"score\":0,\"milter\":{\"remove_headers\":{"
	                "\"X-Spam\":0,\"Bad Name\":1,\"X-Spamd-Result\":1,\"X-A\":0,\"X-B\":0}}}";
	struct spam_reply r;
	const char *why;
	CHECK_INT(spam_reply_parse(a, strlen(a), &LIM, &r, &why), 0);
	CHECK_INT(r.n_remove, 3);
	CHECK_STR(r.n_remove > 0 ? r.remove[0] : NULL, "X-Spam");
	CHECK_STR(r.n_remove > 1 ? r.remove[1] : NULL, "X-Spamd-Result");
	CHECK_STR(r.n_remove > 2 ? r.remove[2] : NULL, "X-A");
	spam_reply_free(&r);
}

/* ---- fields by name ---- */

static const struct {
	const char *msg;
	size_t n;
	size_t r[4];
} fields[] = {
    {"Subject: a\r\nFrom: x\r\n\r\nSubject: body\r\n", 1, {0, 12}},
    {"From: x\r\nsubject : a\r\n b\r\nTo: y\r\n\r\n", 1, {9, 26}},
    {"Subject: a\nSubject: b\n\nx", 2, {0, 11, 11, 22}},
    {"Subjects: no\r\nX-Subject: no\r\n\r\n", 0, {0}},
    {"\r\nSubject: body only\r\n", 0, {0}},
    {"Subject: no end", 1, {0, 15}},
    {"", 0, {0}},
};

static void test_fields(void)
{
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		size_t r[8] = {0};
		size_t n = spam_field_ranges(fields[i].msg, strlen(fields[i].msg), "Subject", r, 4);
		CHECK_INT(n, fields[i].n);
		for (size_t j = 0; j < 2 * n && j < 4; j++)
			CHECK_INT(r[j], fields[i].r[j]);
	}
}

/* ---- the breaker: threshold 2, one probe per 100 ms ---- */

static void test_breaker(void)
{
	struct spam_breaker b = {.threshold = 2, .probe_ms = 100};
	CHECK(spam_breaker_allow(&b, 0));
	CHECK_INT(spam_breaker_record(&b, false, 0), 0);
	CHECK_INT(spam_breaker_record(&b, true, 1), 0); /* a success resets the count */
	CHECK_INT(spam_breaker_record(&b, false, 2), 0);
	CHECK_INT(spam_breaker_record(&b, false, 3), 1); /* opens */
	CHECK(!spam_breaker_allow(&b, 50));
	CHECK(spam_breaker_allow(&b, 103));  /* the probe */
	CHECK(!spam_breaker_allow(&b, 104)); /* one at a time */
	CHECK_INT(spam_breaker_record(&b, false, 110), 0);
	CHECK(!spam_breaker_allow(&b, 150)); /* a failed probe waits a whole period */
	CHECK(spam_breaker_allow(&b, 210));
	CHECK_INT(spam_breaker_record(&b, true, 211), -1); /* closes */
	CHECK(spam_breaker_allow(&b, 212));
	struct spam_breaker off = {.threshold = 0, .probe_ms = 100};
	for (int i = 0; i < 10; i++)
		CHECK_INT(spam_breaker_record(&off, false, (uint64_t)i), 0);
	CHECK(spam_breaker_allow(&off, 11));
}

int main(void)
{
	test_replies();
	test_symbols();
	test_removals();
	test_fields();
	test_breaker();
	return UNIT_END("spam");
}
