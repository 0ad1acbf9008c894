/*
 * smtp_reply.h: the one reply funnel (smtp_reply.c). Every reply the SMTP
 * front end sends leaves through these functions; the texts are the
 * catalogue's (smtp_catalog.h).
 */
#ifndef SMTP_REPLY_H
#define SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_catalog.h"

struct smtp_session;

/* ---- reply funnel (smtp_reply.c): the only writer of replies ---- */

void smtp_reply(struct smtp_session *s, enum smtp_reply_id id, const char *detail);
void smtp_reply_raw(struct smtp_session *s, int code, const char *status, const char *text,
                    bool is_error);
void smtp_reply_lines(struct smtp_session *s, int code, const char *const *lines, size_t n);

/* The EHLO reply: "host greets helo", then the catalogue's keyword lines. max_size 0: no limit. */
void smtp_reply_ehlo(struct smtp_session *s, const char *host, const char *helo, uint64_t max_size,
                     unsigned offers);

#endif
