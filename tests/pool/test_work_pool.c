/*
 * test_work_pool.c: the bounded pool of include/work_pool.h. A gate job
 * holds the pool's one thread so that the queue can be seen: the bound
 * (running + queued <= max, the next refused), FIFO order, a cancel that
 * takes a queued job out, a cancel that waits for a running job, and the
 * completion made active on the submitter's loop. Waits are on condition
 * variables and on the loop, never on a clock.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdbool.h>

#include "unit.h"
#include "work_pool.h"

static struct work_pool pool = WORK_POOL_INIT("test_threads", LS_MAIN);

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open, gate_entered;

struct tjob {
	struct work_job pj; /* first */
	int id;
	bool gate; /* waits for gate_open */
};

static int order[8], n_order, n_done;

static void run(struct work_job *pj)
{
	struct tjob *t = (struct tjob *)pj;

	if (t->gate) {
		pthread_mutex_lock(&gate_lock);
		gate_entered = true;
		pthread_cond_broadcast(&gate_cond);
		while (!gate_open)
			pthread_cond_wait(&gate_cond, &gate_lock);
		pthread_mutex_unlock(&gate_lock);
	}
	order[n_order++] = t->id; /* one thread: no race */
}

static void done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	n_done++;
}

static void wait_entered(void)
{
	pthread_mutex_lock(&gate_lock);
	while (!gate_entered)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void open_gate(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void job_init(struct tjob *t, struct event_base *base, int id, bool gate)
{
	t->pj.run = run;
	t->pj.done = event_new(base, -1, 0, done, t);
	t->id = id;
	t->gate = gate;
}

int main(void)
{
	struct tjob j[5];

	evthread_use_pthreads();
	struct event_base *base = event_base_new();
	CHECK(base != NULL);
	for (int i = 0; i < 5; i++)
		job_init(&j[i], base, i, i == 0);

	/* max 3: the gate runs, 1 and 2 wait, 3 is refused. */
	CHECK_INT(work_pool_submit(&pool, &j[0].pj, 1, 3), 0);
	wait_entered();
	CHECK_INT(work_pool_submit(&pool, &j[1].pj, 1, 3), 0);
	CHECK_INT(work_pool_submit(&pool, &j[2].pj, 1, 3), 0);
	CHECK_INT(work_pool_submit(&pool, &j[3].pj, 1, 3), -1);
	CHECK_INT(work_pool_in_flight(&pool), 3);
	/* The thread count was fixed by the first job: a later ask for more starts none. */
	CHECK_INT(work_pool_threads(&pool), 1);

	/* A queued job cancelled leaves the queue at once and frees its place. */
	work_pool_cancel(&pool, &j[1].pj);
	CHECK_INT(j[1].pj.state, WORK_JOB_DONE);
	CHECK_INT(work_pool_in_flight(&pool), 2);
	CHECK_INT(work_pool_submit(&pool, &j[3].pj, 4, 3), 0);
	CHECK_INT(work_pool_threads(&pool), 1);

	/* Cancelling the running gate waits until its run returned. */
	open_gate();
	work_pool_cancel(&pool, &j[0].pj);
	CHECK_INT(j[0].pj.state, WORK_JOB_DONE);
	CHECK(n_order >= 1 && order[0] == 0);

	/* The rest finish in FIFO order; each completion comes on the loop. */
	work_pool_cancel(&pool, &j[2].pj);
	work_pool_cancel(&pool, &j[3].pj);
	CHECK_INT(work_pool_in_flight(&pool), 0);
	CHECK_INT(n_order, 3);
	CHECK_INT(order[1], 2);
	CHECK_INT(order[2], 3);
	while (n_done < 3 && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	CHECK_INT(n_done, 3); /* 0, 2, 3: the cancelled queued job 1 never fires */

	/* Empty again: max 1 takes a job. */
	j[4].gate = false;
	CHECK_INT(work_pool_submit(&pool, &j[4].pj, 1, 1), 0);
	/* Not done yet maybe: wait on the loop (event_active wakes it from the pool's thread). */
	while (n_done < 4 && event_base_loop(base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) == 0)
		;
	work_pool_cancel(&pool, &j[4].pj); /* done already: returns at once */
	CHECK_INT(n_done, 4);
	CHECK_INT(order[3], 4);

	for (int i = 0; i < 5; i++)
		event_free(j[i].pj.done);
	event_base_free(base);
	return UNIT_END("work_pool");
}
