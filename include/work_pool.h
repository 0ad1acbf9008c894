/*
 * work_pool.h: a bounded pool of threads for pure, CPU-heavy work that
 * must not run on a worker's event loop (gateway/pool/work_pool.c): the
 * password checks of SMTP AUTH, the payload builds of large messages, the
 * DKIM/ARC hashing of large messages. Each user has its own pool (its own
 * threads, queue and bound), so that one kind of work cannot starve
 * another.
 *
 * Below smtp, auth and webhook: it knows libevent (to wake the submitting
 * loop) and nothing of theirs.
 */
#ifndef WORK_POOL_H
#define WORK_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

struct event;

enum work_job_state { WORK_JOB_QUEUED, WORK_JOB_RUNNING, WORK_JOB_DONE, WORK_JOB_STATE_MAX };

/*
 * One piece of work, embedded in its owner's object. The owner fills run
 * and done, and keeps the job (and whatever run reads or writes) alive
 * until done has fired or work_pool_cancel() returned; then the owner
 * frees it (the pool never frees a job).
 */
struct work_job {
	void (*run)(struct work_job *j); /* on a pool thread: no loop, no DNS, no shared state */
	struct event *done;        /* made active (EV_READ) on its own loop once run returned */
	struct work_job *qnext;    /* the pool's queue */
	enum work_job_state state; /* under the pool's lock */
};

/* A pool: define one per kind of work with WORK_POOL_INIT; never copied. */
struct work_pool {
	const char *name; /* the config key of its thread count, for the log */
	enum log_subsys sys;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued */
	pthread_cond_t done; /* a job finished (a cancel waits for it) */
	struct work_job *head, *tail;
	uint32_t in_flight; /* queued + running */
	uint32_t threads;   /* started; fixed once started is set */
	bool started;
};

#define WORK_POOL_INIT(key, subsys)                                                                \
	{                                                                                          \
		.name = (key), .sys = (subsys), .lock = PTHREAD_MUTEX_INITIALIZER,                 \
		.work = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER                 \
	}

/*
 * Queues j unless max jobs already run or wait in p (FIFO), starting up
 * to threads threads the first time (0 counts as 1; the count is fixed
 * then, for the life of the process). Returns 0, or -1: p is full (or no
 * thread could start) and j was not queued; the caller maps that to its
 * own refusal.
 */
int work_pool_submit(struct work_pool *p, struct work_job *j, uint32_t threads, uint32_t max);

/*
 * Takes j out of the queue if it has not started, else waits until its run
 * returned (the caller's loop blocks for at most that one run). After it,
 * run will not start and j->done may still be active: the owner frees it.
 */
void work_pool_cancel(struct work_pool *p, struct work_job *j);

/* Jobs running or queued in p now. */
uint32_t work_pool_in_flight(struct work_pool *p);

/* Threads p started (0 before its first job). */
uint32_t work_pool_threads(struct work_pool *p);

#endif
