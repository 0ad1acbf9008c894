/*
 * webhook_pool.c: the payload build threads (include webhook_pool.h).
 *
 * Owns: the threads, started with the first job and living as long as the
 * process, and one FIFO of jobs bounded by the caller's max (running and
 * queued together). Shaped like the AUTH pool of smtp_sasl.c: the lock
 * guards the queue, the count and each job's state; a job's completion is
 * an event made active under the lock, so a job's owner frees it only once
 * it is done and the lock is free.
 *
 * Must never: run a job on a worker's loop; let the queue grow past max;
 * touch a job after its run returned and its state became DONE.
 */
#include "webhook_pool.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "log.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued */
	pthread_cond_t done; /* a job finished (a cancel waits for it) */
	struct webhook_pool_job *head, *tail;
	uint32_t in_flight; /* queued + running */
	uint32_t threads;
	bool started; /* the thread count is fixed */
} pool = {PTHREAD_MUTEX_INITIALIZER,
          PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER,
          NULL,
          NULL,
          0,
          0,
          false};

static struct webhook_pool_job *take(void)
{
	while (!pool.head)
		pthread_cond_wait(&pool.work, &pool.lock);
	struct webhook_pool_job *j = pool.head;
	pool.head = j->qnext;
	if (!pool.head)
		pool.tail = NULL;
	j->state = WEBHOOK_POOL_RUNNING;
	return j;
}

static void *thread_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct webhook_pool_job *j = take();
		pthread_mutex_unlock(&pool.lock);
		j->run(j);
		pthread_mutex_lock(&pool.lock);
		j->state = WEBHOOK_POOL_DONE;
		pool.in_flight--;
		event_active(j->done, EV_READ, 0);
		pthread_cond_broadcast(&pool.done);
	}
	return NULL;
}

static int start(uint32_t threads)
{
	if (pool.started)
		return pool.threads ? 0 : -1;
	pool.started = true;
	while (pool.threads < threads) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread_main, NULL)) {
			log_msg(GW_LOG_WARN, LS_WEBHOOK, 0, NULL,
			        "payload_build_threads: %u of %u threads started", pool.threads,
			        threads);
			break;
		}
		pthread_detach(t);
		pool.threads++;
	}
	return pool.threads ? 0 : -1;
}

int webhook_pool_submit(struct webhook_pool_job *j, uint32_t threads, uint32_t max)
{
	int rc = -1;
	pthread_mutex_lock(&pool.lock);
	if (pool.in_flight >= max || start(threads ? threads : 1))
		goto out;
	j->state = WEBHOOK_POOL_QUEUED;
	j->qnext = NULL;
	if (pool.tail)
		pool.tail->qnext = j;
	else
		pool.head = j;
	pool.tail = j;
	pool.in_flight++;
	pthread_cond_signal(&pool.work);
	rc = 0;
out:
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

void webhook_pool_cancel(struct webhook_pool_job *j)
{
	pthread_mutex_lock(&pool.lock);
	if (j->state == WEBHOOK_POOL_QUEUED) {
		struct webhook_pool_job **pp = &pool.head, *prev = NULL;
		while (*pp && *pp != j) {
			prev = *pp;
			pp = &(*pp)->qnext;
		}
		if (*pp) {
			*pp = j->qnext;
			if (pool.tail == j)
				pool.tail = prev;
			pool.in_flight--;
		}
		j->state = WEBHOOK_POOL_DONE;
	}
	while (j->state != WEBHOOK_POOL_DONE)
		pthread_cond_wait(&pool.done, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
}

uint32_t webhook_pool_in_flight(void)
{
	pthread_mutex_lock(&pool.lock);
	uint32_t n = pool.in_flight;
	pthread_mutex_unlock(&pool.lock);
	return n;
}
