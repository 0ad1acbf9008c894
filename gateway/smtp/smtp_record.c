/*
 * smtp_record.c: what is recorded of each message and each refused
 * recipient (smtp_record.h): the counters and histograms of /metrics and
 * the message's one log line, with its envelope, route, size, HTTP status,
 * SMTP reply and the time spent in each stage (SMTP data, sender
 * authentication, payload, webhook). docs/logging.md shows the line.
 *
 * Never: log the message's content or an AUTH secret (only the envelope
 * and the reply are named), or keep anything after the call.
 */
#include <stdio.h>
#include <time.h>

#include "metrics.h"
#include "smtp_record.h"
#include "smtp_session.h"

uint64_t smtp_record_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static long long span(uint64_t from, uint64_t to)
{
	return from && to > from ? (long long)(to - from) : 0;
}

void smtp_record_message(struct smtp_session *s, int code, const char *status,
                         const struct smtp_reply *r)
{
	const struct smtp_tx *tx = &s->tx;
	uint64_t now = smtp_record_now_us();
	const char *route = tx->route && tx->route->name ? tx->route->name : "none";
	char c[16], reply[48];
	snprintf(c, sizeof c, "%d", code);
	snprintf(reply, sizeof reply, "%d %s", code, status ? status : "");
	metrics_add(M_MESSAGES, route, c, 1);
	metrics_add(M_RECEIVED_BYTES, NULL, NULL, tx->received);
	if (tx->end_us)
		metrics_observe(M_MESSAGE_DURATION, NULL, now - tx->end_us);
	uint64_t checked = tx->checked_us ? tx->checked_us : now;
	const struct log_field f[] = {
	    LOG_STR("client", s->ip),
	    LOG_STR("helo", s->helo),
	    LOG_STR("from", tx->mail_from),
	    LOG_LIST("rcpts", tx->rcpt_addrs, tx->n_rcpts),
	    LOG_STR("route", tx->route ? route : NULL),
	    LOG_INT("size", tx->received),
	    LOG_INT("http_status", r ? r->http_status : 0),
	    LOG_STR("reply", reply),
	    LOG_INT("data_us", span(tx->data_us, tx->end_us ? tx->end_us : now)),
	    LOG_INT("auth_us", span(tx->end_us, checked)),
	    LOG_INT("payload_us", r ? (long long)r->payload_us : 0),
	    LOG_INT("webhook_us", r ? (long long)r->webhook_us : 0),
	    LOG_INT("total_us", span(tx->data_us, now)),
	};
	log_event(GW_LOG_INFO, LS_SMTP, s->id, tx->delivery_id[0] ? tx->delivery_id : NULL,
	          "message", f, sizeof f / sizeof f[0]);
}

/* The reason label of a refused recipient: the refusal's meaning, not its text. */
static const char *rcpt_reason(enum smtp_reply_id id)
{
	switch (id) {
	case RPL_RELAY_DENIED:
		return "relay_denied";
	case RPL_UNKNOWN_USER:
		return "unknown_user";
	case RPL_BAD_ADDRESS:
	case RPL_RCPT_SYNTAX:
	case RPL_UTF8_REQUIRED:
		return "bad_address";
	case RPL_RCPT_DECEPTIVE:
		return "deceptive";
	case RPL_OTHER_ENDPOINT:
		return "other_endpoint";
	case RPL_TOO_MANY_RCPTS:
		return "max_recipients";
	case RPL_ROUTE_UNAVAILABLE:
		return "circuit_breaker";
	case RPL_NO_MEMORY:
		return "no_memory";
	default:
		return "other";
	}
}

void smtp_record_rcpt_refused(enum smtp_reply_id id, const char *check)
{
	metrics_add(M_RCPT_REFUSED, check ? check : rcpt_reason(id), NULL, 1);
}
