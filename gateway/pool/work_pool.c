/*
 * work_pool.c: bounded pools of threads (include/work_pool.h) for work
 * that must leave a worker's loop.
 *
 * Owns: each pool's threads, started with its first job and living as long
 * as the process, and its FIFO of jobs bounded by the caller's max (running
 * and queued together). The lock guards the queue, the count and each
 * job's state. A job's completion is its owner's event made active under
 * the lock: the owner frees a job only once it is DONE and the lock is
 * free (work_pool_cancel() takes the lock), so the pool never touches a
 * freed job.
 *
 * Must never: run a job on a worker's loop; let a queue grow past max;
 * touch a job after its run returned and its state became DONE; free a job.
 */
#include "work_pool.h"

#include <event2/event.h>
#include <stddef.h>

static struct work_job *take(struct work_pool *p)
{
	while (!p->head)
		pthread_cond_wait(&p->work, &p->lock);
	struct work_job *j = p->head;
	p->head = j->qnext;
	if (!p->head)
		p->tail = NULL;
	j->state = WORK_JOB_RUNNING;
	return j;
}

static void *thread_main(void *arg)
{
	struct work_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct work_job *j = take(p);
		pthread_mutex_unlock(&p->lock);
		j->run(j);
		pthread_mutex_lock(&p->lock);
		j->state = WORK_JOB_DONE;
		p->in_flight--;
		/* Under the lock: the owner frees j only once it is done and the lock is free. */
		event_active(j->done, EV_READ, 0);
		pthread_cond_broadcast(&p->done);
	}
	return NULL;
}

/* Under p->lock. The first call fixes the thread count for good. */
static int start(struct work_pool *p, uint32_t threads)
{
	if (p->started)
		return p->threads ? 0 : -1;
	p->started = true;
	while (p->threads < threads) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread_main, p)) {
			log_msg(GW_LOG_WARN, p->sys, 0, NULL, "%s: %u of %u threads started",
			        p->name, p->threads, threads);
			break;
		}
		pthread_detach(t);
		p->threads++;
	}
	return p->threads ? 0 : -1;
}

int work_pool_submit(struct work_pool *p, struct work_job *j, uint32_t threads, uint32_t max)
{
	int rc = -1;

	pthread_mutex_lock(&p->lock);
	if (p->in_flight >= max || start(p, threads ? threads : 1))
		goto out;
	j->state = WORK_JOB_QUEUED;
	j->qnext = NULL;
	if (p->tail)
		p->tail->qnext = j;
	else
		p->head = j;
	p->tail = j;
	p->in_flight++;
	pthread_cond_signal(&p->work);
	rc = 0;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Under p->lock: unlinks a queued j. */
static void dequeue(struct work_pool *p, struct work_job *j)
{
	struct work_job **pp = &p->head, *prev = NULL;

	while (*pp && *pp != j) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (!*pp)
		return;
	*pp = j->qnext;
	if (p->tail == j)
		p->tail = prev;
	p->in_flight--;
}

void work_pool_cancel(struct work_pool *p, struct work_job *j)
{
	pthread_mutex_lock(&p->lock);
	if (j->state == WORK_JOB_QUEUED) {
		dequeue(p, j);
		j->state = WORK_JOB_DONE;
	}
	while (j->state != WORK_JOB_DONE)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

uint32_t work_pool_in_flight(struct work_pool *p)
{
	pthread_mutex_lock(&p->lock);
	uint32_t n = p->in_flight;
	pthread_mutex_unlock(&p->lock);
	return n;
}

uint32_t work_pool_threads(struct work_pool *p)
{
	pthread_mutex_lock(&p->lock);
	uint32_t n = p->threads;
	pthread_mutex_unlock(&p->lock);
	return n;
}
