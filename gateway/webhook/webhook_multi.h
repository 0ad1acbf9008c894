/*
 * webhook_multi.h: libcurl's multi interface on a libevent loop
 * (gateway/webhook/webhook_multi.c). One per worker: the multi handle owns
 * the connection cache, so keep-alive and HTTP/2 streams are shared by
 * every request of the worker.
 */
#ifndef WEBHOOK_MULTI_H
#define WEBHOOK_MULTI_H

#include <curl/curl.h>

struct event_base;
struct webhook_multi;

/* A transfer finished (rc is its CURLcode); the handle is already out of the multi. */
typedef void (*webhook_multi_done_fn)(void *arg, CURL *easy, CURLcode rc);

struct webhook_multi *webhook_multi_new(struct event_base *base, webhook_multi_done_fn done,
                                        void *arg);
/* Every easy handle must have been cancelled or have finished. */
void webhook_multi_free(struct webhook_multi *m);

/* An easy handle from the pool (options reset, connections kept), or a new one. */
CURL *webhook_multi_easy(struct webhook_multi *m);
/* Back to the pool (or freed when the pool is full). */
void webhook_multi_release(struct webhook_multi *m, CURL *easy);

/* Starts a configured transfer. Returns 0 or -1. */
int webhook_multi_start(struct webhook_multi *m, CURL *easy);
/* Stops a running transfer without calling done; the handle goes back to the pool. */
void webhook_multi_cancel(struct webhook_multi *m, CURL *easy);

/*
 * A transfer with a completion of its own, for another module on the
 * worker's multi (gateway/spam/): its done runs instead of the multi's,
 * and the connection cache is shared. The caller owns x (and x->easy,
 * from webhook_multi_easy()) until done runs or
 * webhook_multi_cancel_xfer() returns; done gets the handle back.
 */
struct webhook_multi_xfer {
	CURL *easy;
	webhook_multi_done_fn done;
	void *arg;
	struct webhook_multi_xfer *prev, *next; /* the multi's list of them */
};

int webhook_multi_start_xfer(struct webhook_multi *m, struct webhook_multi_xfer *x);
/* Stops x without calling its done; its handle goes back to the pool. */
void webhook_multi_cancel_xfer(struct webhook_multi *m, struct webhook_multi_xfer *x);

#endif
