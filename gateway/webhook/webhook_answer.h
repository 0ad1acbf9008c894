/*
 * webhook_answer.h: one attempt's answer as libcurl hands it over
 * (gateway/webhook/webhook_answer.c), and the verdict on it.
 */
#ifndef WEBHOOK_ANSWER_H
#define WEBHOOK_ANSWER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "http_reply.h"

/* Response bytes kept (for the app's JSON reply override); a larger body ends the read. */
#define WEBHOOK_RESPONSE_MAX (64 * 1024)

/* Embedded in a job; valid from webhook_answer_start() to the attempt's end. */
struct webhook_answer {
	CURL *easy;
	char *resp; /* response body, at most WEBHOOK_RESPONSE_MAX */
	size_t resp_len, resp_cap;
	bool resp_capped;
	/* What the header callback saw (curl_easy_header cannot tell these). */
	long status;       /* status of the response being read, 1xx included */
	bool headers_done; /* the empty line ending the FINAL response's header block */
	bool chunked;      /* Transfer-Encoding: chunked */
	int64_t length;    /* Content-Length, -1 when absent */
	uint64_t body;     /* body bytes curl handed over, kept or not */
	char errbuf[CURL_ERROR_SIZE];
	char why[CURL_ERROR_SIZE + 64];
};

/* A new attempt on easy: resets a, sets the header/write callbacks and the error buffer. */
void webhook_answer_start(struct webhook_answer *a, CURL *easy);

/*
 * The transfer ended with rc: fills out (body pointing into a) and returns
 * NULL for a complete answer, else why the exchange broke (valid until the
 * next call), with out->outcome the failure's class.
 */
const char *webhook_answer_read(struct webhook_answer *a, CURLcode rc, struct http_answer *out);

void webhook_answer_free(struct webhook_answer *a);

#endif
