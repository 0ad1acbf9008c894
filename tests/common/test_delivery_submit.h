/*
 * test_delivery_submit.h: the one small message the C tests of delivery.c
 * submit (tests/webhook/test_delivery.c, tests/smtp/test_delivery_oom.c):
 * one recipient, a 20-octet message, no auth object. Header-only like
 * test_rand.h.
 */
#ifndef TEST_DELIVERY_SUBMIT_H
#define TEST_DELIVERY_SUBMIT_H

#include <stdint.h>

#include "delivery.h"
#include "envelope.h"

/* delivery_submit() of the small message to route r under cookie; its return value. */
static inline int test_delivery_submit(struct delivery *d, const struct gw_route *r,
                                       uint64_t cookie)
{
	static struct envelope_rcpt rcpt = {.address = (char *)"user@example.test"};
	static struct envelope env = {.mail_from = (char *)"s@sender.test",
	                              .rcpts = &rcpt,
	                              .n_rcpts = 1,
	                              .client_ip = "192.0.2.1"};
	static const struct message_bytes msg = {"Subject: t\r\n\r\nbody\r\n", 20, false};
	return delivery_submit(d, r, &env, &msg, NULL, cookie, NULL);
}

#endif
