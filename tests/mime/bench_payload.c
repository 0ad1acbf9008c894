/*
 * bench_payload.c: speed and memory of MIME to JSON. Built, never run as a
 * test (timings are not assertions). Usage:
 *   bench_payload [seconds [text|attachment|peak|textpeak]]
 *   bench_payload seconds reply   message.reply extraction and HTML-to-text alone,
 *        per call, on a 5 KB reply with a quote and on its HTML form
 *   bench_payload seconds file PATH   throughput of one message file (e.g.
 *        tests/bench/multipart.eml, the benchmark's 29 KB multipart message)
 *   bench_payload seconds stages PATH   what reply extraction and
 *        classification cost per message of that file: payload_write() with
 *        all members, without message.reply, without classification and
 *        bounce, and without both, interleaved over 7 rounds (the least of
 *        each: another process's load only ever adds time)
 *        throughput of a 5 KB text message and of a message that is mostly
 *        one 8 MB base64 attachment, then peak RSS for a 50 MB one and for
 *        a 50 MB plain-text one (all four unless one is named)
 * Each case runs payload_write() into a reused in-memory buffer, as the
 * webhook sends it. The peak-memory case runs in a forked child so its
 * ru_maxrss is its own; it reports peak RSS growth over the message size.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_rand.h"
#include "malloc_tune.h"
#include "payload.h"
#include "payload_int.h"
#include "test_buf.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time, so that a shared, loaded machine still measures one core's rate */
static double cpu(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static char *text_message(size_t *len)
{
	static const char head[] = "From: Alice Example <alice@example.com>\r\n"
	                           "To: Bob <bob@example.net>, carol@example.org\r\n"
	                           "Subject: =?UTF-8?Q?Quarterly_r=C3=A9sum=C3=A9?=\r\n"
	                           "Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n"
	                           "Message-ID: <bench-1@example.com>\r\n"
	                           "MIME-Version: 1.0\r\n"
	                           "Content-Type: text/plain; charset=utf-8\r\n"
	                           "Content-Transfer-Encoding: 8bit\r\n\r\n";
	static const char line[] =
	    "The quick brown fox jumps over the lazy dog, d\xC3\xA9j\xC3\xA0 vu. 0123456789\r\n";
	size_t n = sizeof(head) - 1;
	char *m = malloc(6000);
	memcpy(m, head, n);
	while (n + sizeof(line) < 5 * 1024) {
		memcpy(m + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	*len = n;
	return m;
}

/* A message whose attachment is `size` random-looking bytes, base64 in 76-column lines. */
static char *attachment_message(size_t size, size_t *len)
{
	static const char head[] =
	    "From: a@example.com\r\nTo: b@example.net\r\nSubject: file\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
	    "--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
	    "--B\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
	    "Content-Disposition: attachment; filename=data.bin\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n";
	static const char tail[] = "\r\n--B--\r\n";
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t enc = (size + 2) / 3 * 4;
	size_t cap = sizeof(head) + enc + enc / 76 * 2 + sizeof(tail) + 16;
	char *m = malloc(cap);
	size_t n = sizeof(head) - 1;
	uint32_t x = TEST_RAND_SEED;

	if (!m)
		return NULL;
	memcpy(m, head, n);
	for (size_t i = 0; i < enc; i++) {
		m[n++] = b64[test_rand(&x) & 63];
		if (i % 76 == 75)
			m[n++] = '\r', m[n++] = '\n';
	}
	memcpy(m + n, tail, sizeof(tail) - 1);
	*len = n + sizeof(tail) - 1;
	return m;
}

/* A plain-text message of about `size` bytes: 8-bit UTF-8 lines, as large mail text is. */
static char *big_text_message(size_t size, size_t *len)
{
	static const char head[] = "From: a@example.com\r\nTo: b@example.net\r\nSubject: log\r\n"
	                           "MIME-Version: 1.0\r\n"
	                           "Content-Type: text/plain; charset=utf-8\r\n"
	                           "Content-Transfer-Encoding: 8bit\r\n\r\n";
	static const char line[] = "The quick brown fox jumps over the \"lazy\" dog, "
	                           "d\xC3\xA9j\xC3\xA0 vu.\t0123456789\r\n";
	size_t n = sizeof(head) - 1;
	char *m = malloc(size + sizeof(head) + sizeof(line));

	if (!m)
		return NULL;
	memcpy(m, head, n);
	while (n < size) {
		memcpy(m + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	*len = n;
	return m;
}

static void throughput(const char *name, const char *m, size_t len, double seconds)
{
	struct message_bytes msg = {m, len, false};
	struct payload_options o;
	struct test_buf out = {0};
	unsigned long n = 0;

	payload_options_default(&o);
	double t0 = now(), c0 = cpu(), t;
	do {
		out.len = 0;
		if (payload_write(&msg, NULL, NULL, "bench", &o, JSON_COMPACT, test_buf_sink,
		                  &out) < 0) {
			fprintf(stderr, "payload_write failed\n");
			exit(1);
		}
		n++;
		t = now() - t0;
	} while (t < seconds);
	double c = cpu() - c0;
	printf("%-24s %8zu bytes  per CPU second: %8.0f msg/s %7.1f MB/s  (wall: %8.0f msg/s)  "
	       "json %zu bytes\n",
	       name, len, (double)n / c, (double)n * (double)len / c / 1e6, (double)n / t, out.len);
	test_buf_free(&out);
}

/* CPU seconds per message of payload_write_without(skip) over `seconds`. */
static double per_message(const char *m, size_t len, unsigned skip, double seconds)
{
	struct message_bytes msg = {m, len, false};
	struct payload_options o;
	struct test_buf out = {0};
	unsigned long n = 0;

	payload_options_default(&o);
	double c0 = cpu(), c;
	do {
		out.len = 0;
		if (payload_write_without(&msg, &o, JSON_COMPACT, test_buf_sink, &out, skip) < 0) {
			fprintf(stderr, "payload_write failed\n");
			exit(1);
		}
		n++;
		c = cpu() - c0;
	} while (c < seconds);
	test_buf_free(&out);
	return c / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Reply extraction and classification: the difference they make per message. */
static void stage_cost(const char *name, const char *m, size_t len, double seconds)
{
	enum { ROUNDS = 7, VARIANTS = 4 };
	static const unsigned skip[VARIANTS] = {0, PSKIP_REPLY, PSKIP_CLASSIFY,
	                                        PSKIP_REPLY | PSKIP_CLASSIFY};
	static const char *const label[VARIANTS] = {"everything", "without reply",
	                                            "without classification", "without both"};
	double t[VARIANTS][ROUNDS], best[VARIANTS];
	for (int r = 0; r < ROUNDS; r++) /* interleaved: the machine's load hits all alike */
		for (int v = 0; v < VARIANTS; v++)
			t[v][r] = per_message(m, len, skip[v], seconds / (ROUNDS * VARIANTS));
	for (int v = 0; v < VARIANTS; v++) {
		qsort(t[v], ROUNDS, sizeof(double), cmp_double);
		best[v] = t[v][0];
		printf("%s, %s: %.1f us CPU per message (%.0f msg/s)\n", name, label[v],
		       best[v] * 1e6, 1.0 / best[v]);
	}
	printf("reply extraction: %.1f us per message (%.1f%%); classification: %.1f us (%.1f%%); "
	       "both: %.1f us (%.1f%%)\n",
	       (best[0] - best[1]) * 1e6, 100 * (best[0] - best[1]) / best[0],
	       (best[0] - best[2]) * 1e6, 100 * (best[0] - best[2]) / best[0],
	       (best[0] - best[3]) * 1e6, 100 * (best[0] - best[3]) / best[0]);
}

/* The reply extraction alone (payload_reply.c, payload_html2text.c): CPU time per call. */
static void reply_cost(double seconds)
{
	static const char line[] =
	    "The quick brown fox jumps over the lazy dog, d\xC3\xA9j\xC3\xA0 vu.\n";
	static const char head[] =
	    "\nOn Tue, Mar 3, 2026 at 4:30 PM Support <support@example.com> wrote:\n";
	char text[6000], html[12000];
	size_t n = 0, h = 0;
	while (n + 2 * sizeof(line) + sizeof(head) < 2500) {
		memcpy(text + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	memcpy(text + n, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	while (n + sizeof(line) + 2 < 5000) {
		text[n++] = '>', text[n++] = ' ';
		memcpy(text + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	for (size_t i = 0; i < n && h + 16 < sizeof(html); i++) {
		if (text[i] == '\n') {
			memcpy(html + h, "<br>\n", 5);
			h += 5;
		} else {
			html[h++] = text[i];
		}
	}
	unsigned long k = 0;
	double c0 = cpu();
	do {
		struct preply r = {0};
		preply_extract(text, n, 1 << 20, &r);
		preply_free(&r);
		k++;
	} while (cpu() - c0 < seconds / 2);
	double per = (cpu() - c0) / (double)k;
	printf("reply extraction, %zu-byte text with a quote: %.1f us per message\n", n, per * 1e6);
	k = 0;
	c0 = cpu();
	do {
		struct phtml_text t;
		memset(&t, 0, sizeof(t));
		phtml_to_text(html, h, true, &t);
		pbuf_free(&t.text);
		k++;
	} while (cpu() - c0 < seconds / 2);
	per = (cpu() - c0) / (double)k;
	printf("HTML to text, %zu-byte HTML: %.1f us per message\n", h, per * 1e6);
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void peak(size_t size, bool text)
{
	fflush(stdout); /* or the child prints the parent's buffered lines again */
	pid_t pid = fork();
	if (pid == 0) {
		long before = maxrss_kb();
		size_t len;
		char *m = text ? big_text_message(size, &len) : attachment_message(size, &len);
		struct message_bytes msg = {m, len, false};
		struct payload_options o;
		struct test_buf out = {0};
		payload_options_default(&o);
		double t0 = now();
		int rc =
		    payload_write(&msg, NULL, NULL, "bench", &o, JSON_COMPACT, test_buf_sink, &out);
		double t = now() - t0;
		long after = maxrss_kb();
		printf("peak RSS, %zu-byte message (%s): %s, json %zu bytes, %.2f s, "
		       "RSS growth %.1f MB = %.2fx the message\n",
		       len, text ? "plain text" : "one attachment", rc == 0 ? "ok" : "FAILED",
		       out.len, t, (double)(after - before) / 1024.0,
		       (double)(after - before) * 1024.0 / (double)len);
		fflush(stdout);
		_exit(rc == 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
}

int main(int argc, char **argv)
{
	malloc_tune(argv); /* the daemon's allocator (include/malloc_tune.h) */
	double seconds = argc > 1 ? strtod(argv[1], NULL) : 3.0;
	size_t len;
	char *m;

	if (seconds <= 0 || seconds > 600)
		seconds = 3.0;
	const char *only = argc > 2 ? argv[2] : "";
	if (!*only || strcmp(only, "text") == 0) {
		m = text_message(&len);
		throughput("5 KB text/plain", m, len, seconds);
		free(m);
	}
	if (!*only || strcmp(only, "attachment") == 0) {
		m = attachment_message(8u << 20, &len);
		throughput("8 MB base64 attachment", m, len, seconds);
		free(m);
	}
	if (strcmp(only, "reply") == 0) {
		reply_cost(seconds);
		return 0;
	}
	if ((strcmp(only, "file") == 0 || strcmp(only, "stages") == 0) && argc > 3) {
		FILE *f = fopen(argv[3], "rb");
		m = f ? malloc(64u << 20) : NULL;
		len = m ? fread(m, 1, 64u << 20, f) : 0;
		if (f)
			fclose(f);
		if (!m || !len) {
			fprintf(stderr, "%s: cannot read\n", argv[3]);
			return 1;
		}
		if (strcmp(only, "stages") == 0)
			stage_cost(argv[3], m, len, seconds);
		else
			throughput(argv[3], m, len, seconds);
		free(m);
		return 0;
	}
	if (!*only || strcmp(only, "peak") == 0)
		peak(50u << 20, false);
	if (!*only || strcmp(only, "textpeak") == 0)
		peak(50u << 20, true);
	return 0;
}
