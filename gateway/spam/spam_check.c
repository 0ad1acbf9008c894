/*
 * spam_check.c: one message's check by rspamd (rspamd's HTTP protocol,
 * POST /checkv2), on the worker's libcurl multi (gateway/webhook/
 * webhook_multi.c: the same loop, the same connection cache as the
 * webhook's requests), and the per-worker client that holds the [spam]
 * configuration and the circuit breaker.
 *
 * The envelope goes in rspamd's protocol headers: IP, Helo, From, one Rcpt
 * per recipient, Queue-Id (our delivery id, so rspamd's log and ours join),
 * Hostname (only when we know the client's verified name: a wrong one
 * would mislead rspamd's checks), User (SMTP AUTH), MTA-Name, Password.
 * The message is posted as it was received, without a copy.
 *
 * Bounds: [spam] timeout and connect_timeout (libcurl's, so the check always
 * ends), max_size (a larger message is not sent at all), max_reply_size
 * (the answer is read up to it; longer is a failure), and the parse's own
 * (spam_reply.c). Every failure, whatever its kind, is one value
 * (SPAM_FAILED with a reason) and one count for the breaker.
 *
 * Never: block; follow a redirect; call back before spam_check_start()
 * returns; call back after spam_check_free().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"
#include "spam.h"
#include "webhook_multi.h"

struct spam_client {
	struct webhook_multi *multi;
	const struct gw_spam *cfg; /* the worker's current configuration */
	struct spam_breaker breaker;
};

struct spam_check {
	struct spam_client *c;
	struct webhook_multi_xfer x; /* x.easy while running, else NULL */
	struct curl_slist *headers;
	char *buf; /* the answer, up to max bytes */
	size_t len, cap, max;
	bool overflow;
	spam_done_fn done;
	void *arg;
	enum spam_status status;
	const char *why;
	char why_buf[CURL_ERROR_SIZE + 64];
	char errbuf[CURL_ERROR_SIZE];
	struct spam_reply reply;
	struct spam_limits lim;
	uint64_t start_ms, end_ms;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the client ---- */

struct spam_client *spam_client_new(struct webhook_multi *m, const struct gw_spam *cfg)
{
	struct spam_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->multi = m;
	spam_client_set_config(c, cfg);
	return c;
}

void spam_client_set_config(struct spam_client *c, const struct gw_spam *cfg)
{
	/* Another rspamd: the old one's failures say nothing of it (the old cfg is still alive). */
	if (c->cfg && strcmp(c->cfg->rspamd_url, cfg->rspamd_url) != 0)
		c->breaker = (struct spam_breaker){0};
	c->cfg = cfg;
	c->breaker.threshold = cfg->circuit_breaker_threshold;
	c->breaker.probe_ms = cfg->circuit_breaker_probe_ms;
	if (c->breaker.threshold == 0)
		c->breaker.open = false; /* turned off: nothing stays refused */
}

void spam_client_free(struct spam_client *c)
{
	free(c);
}

/* ---- the request ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct spam_check *ck = arg;
	size_t len = size * n;
	if (len > ck->max - ck->len) {
		ck->overflow = true;
		return 0; /* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (ck->cap - ck->len < len + 1) {
		size_t cap = ck->cap ? ck->cap : 4096;
		while (cap - ck->len < len + 1)
			cap *= 2;
		char *b = realloc(ck->buf, cap);
		if (!b)
			return 0;
		ck->buf = b;
		ck->cap = cap;
	}
	memcpy(ck->buf + ck->len, p, len);
	ck->len += len;
	return len;
}

/* A header line, when the value is one printable line (the SMTP side checked; this is cheap). */
static int add_header(struct curl_slist **h, const char *name, const char *pre, const char *v,
                      const char *post)
{
	char line[1100];
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			return 0; /* not sent rather than sent broken */
	int n = snprintf(line, sizeof line, "%s: %s%s%s", name, pre, v, post);
	if (n < 0 || (size_t)n >= sizeof line)
		return 0;
	struct curl_slist *l = curl_slist_append(*h, line);
	if (!l)
		return -1;
	*h = l;
	return 0;
}

static struct curl_slist *envelope_headers(const struct spam_envelope *e, const char *password)
{
	struct curl_slist *h = NULL;
	int rc = add_header(&h, "IP", "", e->ip ? e->ip : "", "");
	rc |= add_header(&h, "Helo", "", e->helo ? e->helo : "", "");
	rc |= add_header(&h, "From", "<", e->mail_from ? e->mail_from : "", ">");
	const char *r = e->rcpts;
	for (size_t i = 0; r && i < e->n_rcpts; i++, r += strlen(r) + 1)
		rc |= add_header(&h, "Rcpt", "<", r, ">");
	if (e->queue_id)
		rc |= add_header(&h, "Queue-Id", "", e->queue_id, "");
	if (e->hostname)
		rc |= add_header(&h, "Hostname", "", e->hostname, "");
	if (e->user)
		rc |= add_header(&h, "User", "", e->user, "");
	if (e->mta_name)
		rc |= add_header(&h, "MTA-Name", "", e->mta_name, "");
	if (password)
		rc |= add_header(&h, "Password", "", password, "");
	rc |= add_header(&h, "Expect", "", "", ""); /* no 100-continue round trip */
	if (rc) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

/* rspamd_url + /checkv2, without a doubled slash. */
static int check_url(const char *base, char *out, size_t cap)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	int k = snprintf(out, cap, "%.*s/checkv2", (int)n, base);
	return k < 0 || (size_t)k >= cap ? -1 : 0;
}

static int setup(struct spam_check *ck, CURL *e, const char *msg, size_t len)
{
	const struct gw_spam *cfg = ck->c->cfg;
	char url[2048];
	if (check_url(cfg->rspamd_url, url, sizeof url))
		return -1;
	CURLcode rc = curl_easy_setopt(e, CURLOPT_URL, url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, msg);
	rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, ck->headers);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, ck);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ck->errbuf);
	return rc == CURLE_OK ? 0 : -1;
}

static void fail(struct spam_check *ck, const char *why)
{
	ck->status = SPAM_FAILED;
	ck->why = why;
}

static void read_answer(struct spam_check *ck, CURL *easy, CURLcode rc)
{
	long status = 0;
	if (rc != CURLE_OK) {
		snprintf(ck->why_buf, sizeof ck->why_buf, "%s",
		         ck->overflow    ? "rspamd's answer is longer than max_reply_size"
		         : ck->errbuf[0] ? ck->errbuf
		                         : curl_easy_strerror(rc));
		fail(ck, ck->why_buf);
		return;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(ck->why_buf, sizeof ck->why_buf, "rspamd answered HTTP %ld", status);
		fail(ck, ck->why_buf);
		return;
	}
	const char *why = NULL;
	if (spam_reply_parse(ck->buf ? ck->buf : "", ck->len, &ck->lim, &ck->reply, &why)) {
		fail(ck, why);
		return;
	}
	ck->status = SPAM_OK;
}

static void on_done(void *arg, CURL *easy, CURLcode rc)
{
	struct spam_check *ck = arg;
	struct spam_client *c = ck->c;
	read_answer(ck, easy, rc);
	ck->end_ms = now_ms();
	webhook_multi_release(c->multi, easy);
	ck->x.easy = NULL;
	int moved = spam_breaker_record(&c->breaker, ck->status == SPAM_OK, ck->end_ms);
	if (moved > 0)
		log_msg(
		    GW_LOG_WARN, LS_SPAM, 0, NULL,
		    "spam: circuit breaker open after %u failed checks (%s); next probe in %llums",
		    c->breaker.failures, ck->why, (unsigned long long)c->breaker.probe_ms);
	else if (moved < 0)
		log_msg(GW_LOG_INFO, LS_SPAM, 0, NULL, "spam: circuit breaker closed");
	ck->done(ck->arg, ck);
}

static enum spam_status refuse(const char *reason, const char **why)
{
	*why = reason;
	return SPAM_FAILED;
}

enum spam_status spam_check_start(struct spam_client *c, const struct spam_envelope *env,
                                  const char *msg, size_t len, spam_done_fn done, void *arg,
                                  struct spam_check **out, const char **why)
{
	*out = NULL;
	if (len > c->cfg->max_size) {
		*why = "message larger than [spam] max_size, not scanned";
		return SPAM_SKIPPED;
	}
	if (!c->multi)
		return refuse("no HTTP client on this worker", why);
	uint64_t now = now_ms();
	if (!spam_breaker_allow(&c->breaker, now))
		return refuse("circuit breaker open", why);
	struct spam_check *ck = calloc(1, sizeof *ck);
	if (!ck)
		goto oom;
	ck->c = c;
	ck->done = done;
	ck->arg = arg;
	ck->max = c->cfg->max_reply_size;
	ck->start_ms = now;
	spam_limits_from(&ck->lim, c->cfg);
	ck->headers = envelope_headers(env, c->cfg->password);
	ck->x = (struct webhook_multi_xfer){
	    .easy = webhook_multi_easy(c->multi), .done = on_done, .arg = ck};
	if (!ck->headers || !ck->x.easy || setup(ck, ck->x.easy, msg, len) ||
	    webhook_multi_start_xfer(c->multi, &ck->x))
		goto oom;
	ck->status = SPAM_STARTED;
	*out = ck;
	return SPAM_STARTED;
oom:
	if (ck) {
		webhook_multi_release(c->multi, ck->x.easy);
		curl_slist_free_all(ck->headers);
		free(ck);
	}
	c->breaker.probing = false; /* a probe let through ends here, neither ok nor failed */
	return refuse("could not start the request (out of memory?)", why);
}

enum spam_status spam_check_status(const struct spam_check *ck, const char **why)
{
	*why = ck->why;
	return ck->status;
}

const struct spam_reply *spam_check_reply(const struct spam_check *ck)
{
	return ck->status == SPAM_OK ? &ck->reply : NULL;
}

uint64_t spam_check_ms(const struct spam_check *ck)
{
	return ck->end_ms >= ck->start_ms ? ck->end_ms - ck->start_ms : 0;
}

void spam_check_free(struct spam_check *ck)
{
	if (!ck)
		return;
	if (ck->x.easy) {
		webhook_multi_cancel_xfer(ck->c->multi, &ck->x);
		/* A probe cancelled (its session went away) must not keep the breaker shut. */
		ck->c->breaker.probing = false;
	}
	curl_slist_free_all(ck->headers);
	spam_reply_free(&ck->reply);
	free(ck->buf);
	free(ck);
}
