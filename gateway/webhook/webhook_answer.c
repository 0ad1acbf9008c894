/*
 * webhook_answer.c: what libcurl hands over of one attempt's answer, and
 * what it amounts to (gateway/webhook/webhook_answer.h).
 *
 * Owns: the header and write callbacks (the final response's status, the
 * end of its header block, Content-Length, chunking, the first
 * WEBHOOK_RESPONSE_MAX body bytes), connection reuse after an answer that
 * leaves bytes unread, and the verdict: a complete answer (its status and
 * body), or why the exchange broke (CURLcode classes, cut-off answers).
 * RFC 9112 2.1 and 6 (message framing), RFC 9110 15.2 (1xx) and 6.4.1
 * (204/304 carry no body), 10.2.3 (Retry-After).
 *
 * Must never: take an answer cut inside its headers, or shorter than its
 * Content-Length, for a complete one; let a connection with unread answer
 * bytes carry another request; call "config" an exchange whose request went
 * out.
 */
#include "webhook_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Retry-After larger than this is not waited for (the budget is smaller anyway). */
#define WEBHOOK_RETRY_AFTER_MAX_S 86400

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct webhook_answer *w = arg;
	size_t len = size * n, room = WEBHOOK_RESPONSE_MAX - w->resp_len;

	w->body += len;
	if (len > room) {
		w->resp_capped = true;
		len = room;
	}
	if (w->resp_len + len > w->resp_cap) {
		size_t cap = w->resp_cap ? w->resp_cap : 1024;
		char *nb;
		while (cap < w->resp_len + len)
			cap *= 2;
		if (cap > WEBHOOK_RESPONSE_MAX)
			cap = WEBHOOK_RESPONSE_MAX;
		nb = realloc(w->resp, cap);
		if (!nb) {
			/*
			 * The status has arrived: a body cut short, not a lost connection,
			 * or a retry could POST again a message the app accepted.
			 */
			w->resp_capped = true;
			curl_easy_setopt(w->easy, CURLOPT_FORBID_REUSE,
			                 1L); /* the rest is unread */
			return 0;
		}
		w->resp = nb;
		w->resp_cap = cap;
	}
	memcpy(w->resp + w->resp_len, p, len);
	w->resp_len += len;
	if (!w->resp_capped)
		return size * n;
	/* 0 stops the read: the status is all we need, but the rest of the body is left unread */
	curl_easy_setopt(w->easy, CURLOPT_FORBID_REUSE, 1L);
	return 0;
}

static bool header_is(const char *p, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len > n && p[n] == ':' && strncasecmp(p, name, n) == 0;
}

/* A header value as a NUL-terminated string without the surrounding blanks and CRLF. */
static void header_value(const char *p, size_t len, size_t skip, char *out, size_t cap)
{
	size_t n = 0;

	while (skip < len && (p[skip] == ' ' || p[skip] == '\t'))
		skip++;
	while (len > skip && strchr(" \t\r\n", p[len - 1]))
		len--;
	for (; skip < len && n + 1 < cap; skip++)
		out[n++] = p[skip];
	out[n] = '\0';
}

/*
 * The empty line that ends the FINAL response's header block (RFC 9112 2.1;
 * 1xx responses have their own, RFC 9110 15.2) is what makes an answer
 * complete up to its body: libcurl 7.88 reports success for an answer cut
 * inside its headers. A 204 or 304 that announces a body (RFC 9110 6.4.1
 * says it has none) leaves bytes on the connection that curl does not read:
 * that connection must not carry another request.
 */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct webhook_answer *w = arg;
	size_t len = size * n;
	char v[32], *end;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);
		w->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		w->headers_done = false;
		w->chunked = false;
		w->length = -1;
		w->body = 0;
	} else if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n')) {
		if (w->status >= 200) /* not an interim 1xx, not a line before any status */
			w->headers_done = true;
		if ((w->status == 204 || w->status == 304) && (w->length > 0 || w->chunked))
			curl_easy_setopt(w->easy, CURLOPT_FORBID_REUSE, 1L);
	} else if (header_is(p, len, "Content-Length")) {
		header_value(p, len, sizeof("Content-Length"), v, sizeof(v));
		long long cl = strtoll(v, &end, 10);
		w->length = (end != v && *end == '\0' && cl >= 0) ? (int64_t)cl : -1;
	} else if (header_is(p, len, "Transfer-Encoding")) {
		header_value(p, len, sizeof("Transfer-Encoding"), v, sizeof(v));
		w->chunked = strcasestr(v, "chunked") != NULL;
	}
	return len;
}

static enum http_outcome classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_OUTCOME_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CLIENTCERT:
		return HTTP_OUTCOME_CONNECT;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FILE_COULDNT_READ_FILE:
		return HTTP_OUTCOME_CONFIG;
	default: /* GOT_NOTHING, RECV_ERROR, SEND_ERROR, PARTIAL_FILE, HTTP2...: a broken exchange
	          */
		return HTTP_OUTCOME_RESET;
	}
}

static long retry_after_seconds(CURL *easy)
{
	struct curl_header *h = NULL;
	char *end;
	long v;
	time_t t;

	if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
		return -1;
	v = strtol(h->value, &end, 10);
	if (end != h->value && *end == '\0' && v >= 0) /* RFC 9110 10.2.3 delay-seconds */
		return v > WEBHOOK_RETRY_AFTER_MAX_S ? WEBHOOK_RETRY_AFTER_MAX_S : v;
	t = curl_getdate(h->value, NULL); /* or an HTTP-date */
	if (t < 0)
		return -1;
	v = (long)(t - time(NULL));
	return v < 0 ? 0 : (v > WEBHOOK_RETRY_AFTER_MAX_S ? WEBHOOK_RETRY_AFTER_MAX_S : v);
}

/*
 * Why a transfer curl calls finished is still a broken exchange, or NULL:
 * the header block of the final answer never ended, or the body is shorter
 * than its Content-Length. (A chunked body cut short, curl reports itself.)
 * Our own stop at WEBHOOK_RESPONSE_MAX is not a cut: the headers were whole.
 */
static const char *answer_incomplete(const struct webhook_answer *w)
{
	if (!w->headers_done)
		return "the answer ended inside its header block";
	if (w->resp_capped || w->status == 204 || w->status == 304)
		return NULL;
	if (w->length >= 0 && w->body < (uint64_t)w->length)
		return "the answer's body is shorter than its Content-Length";
	return NULL;
}

/*
 * curl's "configuration" errors are only ours when nothing went out: once
 * the request was sent (a reused connection holding another answer's bytes
 * gives UNSUPPORTED_PROTOCOL "Received HTTP/0.9"), it is the exchange that
 * broke, and that is retried.
 */
static enum http_outcome classify_attempt(struct webhook_answer *w, CURLcode rc)
{
	enum http_outcome o = classify(rc);
	long sent = 0, got = 0;

	if (o != HTTP_OUTCOME_CONFIG)
		return o;
	curl_easy_getinfo(w->easy, CURLINFO_REQUEST_SIZE, &sent);
	curl_easy_getinfo(w->easy, CURLINFO_HEADER_SIZE, &got);
	return (sent > 0 || got > 0) ? HTTP_OUTCOME_RESET : o;
}

void webhook_answer_start(struct webhook_answer *w, CURL *easy)
{
	w->easy = easy;
	w->resp_len = 0;
	w->resp_capped = false;
	w->status = 0;
	w->headers_done = false;
	w->chunked = false;
	w->length = -1;
	w->body = 0;
	w->errbuf[0] = '\0';
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, w->errbuf);
}

const char *webhook_answer_read(struct webhook_answer *w, CURLcode rc, struct http_answer *a)
{
	long status = 0;
	const char *cut = NULL;

	memset(a, 0, sizeof(*a));
	a->retry_after_s = -1;
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && w->resp_capped && status > 0)) {
		cut = answer_incomplete(w);
		if (!cut) {
			a->outcome = HTTP_OUTCOME_STATUS;
			a->status = status;
			a->body = w->resp;
			a->body_len = w->resp_len;
			a->retry_after_s = retry_after_seconds(w->easy);
			return NULL;
		}
	}
	a->outcome = cut ? HTTP_OUTCOME_RESET : classify_attempt(w, rc);
	if (cut)
		return cut;
	snprintf(w->why, sizeof(w->why), "%s%s%s", curl_easy_strerror(rc), w->errbuf[0] ? ": " : "",
	         w->errbuf);
	return w->why;
}

void webhook_answer_free(struct webhook_answer *w)
{
	free(w->resp);
	w->resp = NULL;
	w->resp_len = w->resp_cap = 0;
}
