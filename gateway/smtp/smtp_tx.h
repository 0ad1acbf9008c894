/*
 * smtp_tx.h: the mail transaction's one owner (smtp_tx.c).
 */
#ifndef SMTP_TX_H
#define SMTP_TX_H

#include <stdbool.h>
#include <stdint.h>

#include "delivery.h"
#include "routes.h"
#include "smtp_reply.h"

struct smtp_session;

/* ---- the transaction (smtp_tx.c): its one owner ---- */

/* Ends the transaction (RSET, EHLO, STARTTLS, end of message, teardown). */
void smtp_tx_reset(struct smtp_session *s);
/* MAIL passed its checks (mail_from, parameters set): starts it and answers, now or later. */
void smtp_tx_mail(struct smtp_session *s);
/* RCPT: a recipient the routing table accepted; added and answered, now or once SPF is known. */
void smtp_tx_rcpt(struct smtp_session *s, const char *addr, const struct route_match *m);
/* The answer to a RCPT (r: RPL_NONE accepts), with its log line and counter. */
void smtp_tx_rcpt_answer(struct smtp_session *s, const char *addr, enum smtp_reply_id r);
/*
 * Builds tx->rcpts from the compact list for the envelope (end of data);
 * 0, or -1 when out of memory.
 */
int smtp_tx_envelope_rcpts(struct smtp_session *s);
/* DATA accepted: the store, the decoder, the data deadline; 354. */
void smtp_tx_data(struct smtp_session *s);
/*
 * A BDAT chunk of size octets. refuse (not RPL_NONE): the chunk is read
 * only to stay in sync and answered refuse after it (RFC 3030 2).
 */
void smtp_tx_bdat(struct smtp_session *s, uint64_t size, bool last, enum smtp_reply_id refuse);
/* Feeds DATA / BDAT bytes to the store (the decoder's emit callback); faults are sticky. */
void smtp_tx_data_emit(void *ctx, const char *p, size_t n);
/* End of DATA / of a BDAT chunk: checks, sender authentication, Received:, delivery. */
void smtp_tx_message_end(struct smtp_session *s);
/* The delivery's reply (delivery.h callback, found by session id): answers, next command. */
void smtp_tx_delivered(struct smtp_session *s, const struct smtp_reply *r);

#endif
