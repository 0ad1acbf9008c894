/*
 * smtp_record.h: the account of each message and refused recipient: its
 * metrics (include/metrics.h) and the one log line of a message
 * (smtp_record.c). Called by the transaction (smtp_tx.c); calls nothing
 * in gateway/smtp/ but the reply catalogue.
 */
#ifndef SMTP_RECORD_H
#define SMTP_RECORD_H

#include <stdint.h>

#include "delivery.h"
#include "smtp_reply.h"

struct smtp_session;

/* Monotonic microseconds, for the stage times of a message. */
uint64_t smtp_record_now_us(void);

/*
 * The message of s's transaction was answered code/status (before the
 * transaction is reset): smtp_gateway_messages_total, received bytes, the
 * message duration, and the message's log line. r: the delivery's reply
 * (HTTP status, payload and webhook times), NULL when no webhook answered.
 */
void smtp_record_message(struct smtp_session *s, int code, const char *status,
                         const struct smtp_reply *r);

/* A RCPT refused with reply id, or by the named check ("spf"): counted by reason. */
void smtp_record_rcpt_refused(enum smtp_reply_id id, const char *check);

#endif
