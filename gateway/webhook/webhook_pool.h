/*
 * webhook_pool.h: a small pool of threads for the pure, CPU-heavy step of a
 * delivery (building a large payload), shared by every worker of the
 * process (gateway/webhook/webhook_pool.c).
 */
#ifndef WEBHOOK_POOL_H
#define WEBHOOK_POOL_H

#include <stdint.h>

struct event;

enum webhook_pool_state { WEBHOOK_POOL_QUEUED, WEBHOOK_POOL_RUNNING, WEBHOOK_POOL_DONE };

/*
 * One piece of work. The owner fills run and done, and keeps the job (and
 * whatever run reads) alive until done has fired or webhook_pool_cancel()
 * returned.
 */
struct webhook_pool_job {
	void (*run)(struct webhook_pool_job *j); /* on a pool thread: no loop, no globals */
	struct event *done; /* made active (EV_READ) on its own loop once run returned */
	struct webhook_pool_job *qnext; /* the pool's queue */
	enum webhook_pool_state state;  /* under the pool's lock */
};

/*
 * Queues j unless max jobs already run or wait, starting up to threads
 * threads the first time (the count is fixed then, for the life of the
 * process). Returns 0, or -1 (pool full, or no thread could start).
 */
int webhook_pool_submit(struct webhook_pool_job *j, uint32_t threads, uint32_t max);

/*
 * Takes j out of the queue if it has not started, else waits until its run
 * returned (the caller's loop blocks for at most that one run). After it,
 * run will not start and j->done may still be active: free it.
 */
void webhook_pool_cancel(struct webhook_pool_job *j);

/* Jobs running or queued now, whole process. */
uint32_t webhook_pool_in_flight(void);

#endif
