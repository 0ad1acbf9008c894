/*
 * smtp_msg.h: the message store of one transaction (smtp_msg.c): memory,
 * then an unlinked temporary file; head room for the trace fields.
 */
#ifndef SMTP_MSG_H
#define SMTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/* ---- message store (smtp_msg.c) ---- */

#define SMTP_MSG_HEAD_ROOM 8192 /* bytes reserved for the trace fields written at the end */

struct smtp_msg {
	char *mem;
	size_t len, cap;    /* len includes the head room */
	uint64_t threshold; /* body bytes in memory before the spill */
	int fd;             /* spill file (unlinked), -1 while in memory */
	uint64_t flen;      /* file length, head room included */
	void *map;
	size_t maplen;
	size_t head;               /* bytes of the head room used (right-aligned) */
	size_t skip;               /* octets cut from the front of the body by smtp_msg_cut() */
	struct message_hold *hold; /* smtp_msg_hold(): owns mem or map from then on */
	bool started;              /* head room allocated */
	bool failed;               /* a write failed: the transaction answers 451 */
};

void smtp_msg_init(struct smtp_msg *m, uint64_t threshold);
int smtp_msg_append(struct smtp_msg *m, const char *p, size_t n);
/*
 * Puts p in front of what is there (headers written at the end of data);
 * beyond the head room the message is moved once to make room.
 */
int smtp_msg_prepend(struct smtp_msg *m, const char *p, size_t n);
/* The whole message (prepended fields and body), mapped or in memory; 0 or -1. */
int smtp_msg_view(struct smtp_msg *m, struct message_bytes *out);
/* The body as received, without what was prepended. */
int smtp_msg_body(struct smtp_msg *m, struct message_bytes *out);
uint64_t smtp_msg_size(const struct smtp_msg *m); /* body bytes */
/*
 * Removes n byte ranges (ranges[2i], ranges[2i+1]: start, end in body
 * offsets, ascending, disjoint) by moving what precedes them towards the
 * end: only the header bytes before the last range move, never the rest
 * of the body. Before any prepend. 0 or -1 (the store is then failed).
 */
int smtp_msg_cut(struct smtp_msg *m, const size_t *ranges, size_t n);
/*
 * The bytes of the last smtp_msg_view() as a reference-counted hold (the
 * store keeps one reference, dropped by smtp_msg_free()), so that a
 * delivery may read them after the transaction ends. From then on the
 * store must not change: nothing may be appended, prepended or cut. NULL
 * when out of memory or there is no view (the receiver copies instead).
 */
struct message_hold *smtp_msg_hold(struct smtp_msg *m);
void smtp_msg_free(struct smtp_msg *m);

#endif
