/*
 * delivery.c: include/delivery.h on libcurl's multi interface.
 *
 * Owns: the jobs (one per submitted message) and their state machine
 * (queued -> running -> backoff -> queued ... -> done), each route's
 * admission (max_in_flight, a FIFO of waiting jobs), the retry schedule
 * (jittered exponential backoff on an event timer, inside the message's
 * retry budget) and each route's circuit breaker. Per worker: nothing here
 * is shared between threads.
 *
 * RFC 5321 4.5.3.2.6 (a client waits 10 minutes for the reply to DATA)
 * bounds what a retry budget may sensibly be; RFC 3463 codes come from
 * http_reply.c.
 *
 * A large message's request is built on the payload build threads
 * (a work_pool.h pool of its own): the MIME parse and JSON of a 10 MB header section take
 * a few hundred ms, which would stall every other session of the worker.
 * Such a build borrows the session's route, envelope and message (the
 * session keeps them until its reply or delivery_forget()); only its id
 * (a SHA-256 of the message) is computed on the loop, so that the session
 * can log it at once. Forgetting, draining or freeing a job whose build
 * runs waits for that build: the one place here that blocks, for one
 * build at most, and only when a session goes away meanwhile.
 *
 * Must never: block or sleep (but for the wait above); answer 250 unless the app answered 2xx for
 * this very message; call the done callback from inside delivery_submit,
 * delivery_forget or delivery_free; call it for a forgotten cookie; touch
 * the session's envelope or message after delivery_submit returns.
 */
#include "delivery.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "http_reply.h"
#include "log.h"
#include "metrics.h"
#include "webhook_answer.h"
#include "webhook_multi.h"
#include "work_pool.h"
#include "webhook_request.h"

/* First retry after about this, doubling each time (half of it random jitter). */
#define WEBHOOK_BACKOFF_BASE_MS 200
#define WEBHOOK_BACKOFF_MAX_MS  10000
/* At most this much of drain_timeout is kept for the replies to reach the clients. */
#define WEBHOOK_DRAIN_MARGIN_MS 2000
/* A retry is not worth starting with less than this left before the deadline. */
#define WEBHOOK_MIN_ATTEMPT_MS 250
/* A route's identity for its state: name, newline, URL (longer ones are cut, still distinct
 * enough). */
#define ROUTE_KEY_MAX 4096

/* The payload build threads, whole process (payload_build_threads, max_payload_builds). */
static struct work_pool build_pool = WORK_POOL_INIT("payload_build_threads", LS_WEBHOOK);

enum job_state {
	JOB_NEW,      /* being set up in delivery_submit */
	JOB_BUILDING, /* its request is being built on the payload build threads */
	JOB_QUEUED,   /* waiting for a max_in_flight slot of its route */
	JOB_RUNNING,  /* an attempt is in libcurl */
	JOB_BACKOFF,  /* a transient failure; the timer starts the next attempt */
	JOB_FAILED,   /* could not start; the timer delivers the reply on the next loop turn */
	JOB_STATE_MAX
};

static const char *const job_state_names[JOB_STATE_MAX] = {"new",     "building", "queued",
                                                           "running", "backoff",  "failed"};

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_STATE_MAX };

struct job;
TAILQ_HEAD(job_list, job);

/* Admission and health of one route (by name and URL), per worker. */
struct route_state {
	char *key;
	uint32_t max_in_flight; /* from the latest submission's route */
	uint32_t threshold;     /* circuit_breaker_threshold; 0 = off */
	uint64_t probe_ms;
	uint32_t running;  /* attempts in libcurl */
	uint32_t jobs;     /* jobs pointing here, whatever their state */
	uint32_t failures; /* consecutive transient failures */
	enum breaker_state breaker;
	bool http1; /* answered over HTTP/1.x: never wait for a connection to multiplex */
	int64_t next_probe_us; /* when an open breaker lets the next message through */
	struct job_list queue;
	struct route_state *next;
};

struct job {
	struct delivery *d;
	uint64_t cookie;
	enum job_state state;
	bool forgotten; /* the session is gone: finish quietly */
	bool in_queue;  /* linked in rs->queue */
	struct route_state *rs;
	struct webhook_request req;
	uint64_t held;        /* bytes counted in memory_held while the job lives */
	int64_t submitted_us; /* delivery_submit(): the payload build starts */
	int64_t started_us;
	int64_t attempt_us;     /* the attempt in flight started (its duration metric) */
	int64_t retry_until_us; /* started + retry_budget: no new attempt after this */
	int64_t deadline_us;    /* started + max(retry_budget, timeout): nothing after this */
	unsigned attempts;
	struct event *timer; /* backoff, queue expiry, or the deferred failure */
	CURL *easy;
	struct curl_slist *headers; /* of the attempt in flight */
	struct webhook_answer ans;  /* what the attempt in flight was answered */
	struct smtp_reply failed;   /* JOB_FAILED's reply */
	/* JOB_BUILDING: the build on the pool, and what it borrows (see the file's comment) */
	struct work_job build;
	const struct gw_route *route; /* the session's */
	struct envelope env;          /* a shallow copy: its pointers are the session's */
	const struct envelope *envp;  /* &env, or NULL when the session gave none */
	struct message_bytes msg;     /* the session's bytes */
	json_t *auth;                 /* our own deep copy */
	struct gw_limits limits;      /* a copy: a reload may free d->cfg meanwhile */
	int build_rc, build_errno;
	char build_err[256];
	TAILQ_ENTRY(job) qlink; /* in rs->queue while in_queue */
	TAILQ_ENTRY(job) link;  /* in d->jobs always */
};

struct delivery {
	struct event_base *base;
	const struct gw_config *cfg;
	delivery_done_fn done;
	void *owner;
	struct webhook_multi *multi;
	struct route_state *routes;
	struct job_list jobs;
	unsigned n_jobs;
	unsigned drained_cut;   /* answered 451 4.3.2 at the drain deadline */
	int64_t drain_until_us; /* SIGTERM: nothing runs past this; 0 = not draining */
	struct event *drain_ev; /* at drain_until_us: what is still open gets its reply */
	uint64_t rng;           /* backoff jitter only: not a secret */
	uint64_t n_dropped;     /* auto-replies and bounces accepted and dropped (auto_replies) */
};

static void route_pump(struct delivery *d, struct route_state *rs);

/*
 * Request bodies held by the deliveries of the whole process (all workers):
 * each lives until its answer or the end of its retry budget, so this is
 * what max_delivery_memory bounds.
 */
static _Atomic uint64_t memory_held;
static _Atomic uint64_t memory_peak;

static uint64_t memory_budget(const struct delivery *d)
{
	return d->cfg && d->cfg->limits.max_delivery_memory ? d->cfg->limits.max_delivery_memory
	                                                    : UINT64_MAX;
}

/* Counts n more bytes unless that passes the budget. */
static bool memory_take(const struct delivery *d, uint64_t n)
{
	uint64_t now = atomic_fetch_add(&memory_held, n) + n, peak;

	if (now > memory_budget(d)) {
		atomic_fetch_sub(&memory_held, n);
		return false;
	}
	peak = atomic_load(&memory_peak);
	while (now > peak && !atomic_compare_exchange_weak(&memory_peak, &peak, now))
		;
	return true;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rng_next(struct delivery *d)
{
	/* xorshift64: jitter needs spread, not secrecy */
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return d->rng;
}

static void job_set_state(struct job *j, enum job_state s)
{
	log_msg(GW_LOG_DEBUG, LS_WEBHOOK, j->cookie, j->req.id, "job %s -> %s",
	        job_state_names[j->state], job_state_names[s]);
	j->state = s;
}

static void timer_after_us(struct event *ev, int64_t us)
{
	struct timeval tv;

	if (us < 0)
		us = 0;
	tv.tv_sec = us / 1000000;
	tv.tv_usec = us % 1000000;
	evtimer_add(ev, &tv);
}

/* ---- route state ---- */

static void route_key(const struct gw_route *route, char *key, size_t keysz)
{
	snprintf(key, keysz, "%s\n%s", route->name ? route->name : "",
	         route->url ? route->url : "");
}

static struct route_state *route_state_get(struct delivery *d, const struct gw_route *route)
{
	char key[ROUTE_KEY_MAX];
	struct route_state *rs;

	route_key(route, key, sizeof(key));
	for (rs = d->routes; rs; rs = rs->next)
		if (strcmp(rs->key, key) == 0)
			break;
	if (!rs) {
		rs = calloc(1, sizeof(*rs));
		if (!rs || !(rs->key = strdup(key))) {
			free(rs);
			return NULL;
		}
		TAILQ_INIT(&rs->queue);
		rs->next = d->routes;
		d->routes = rs;
	}
	rs->max_in_flight = route->opts.max_in_flight ? route->opts.max_in_flight : 1;
	rs->threshold = route->opts.circuit_breaker_threshold;
	rs->probe_ms = route->opts.circuit_breaker_probe_ms;
	return rs;
}

static void breaker_record(struct route_state *rs, const char *name, bool transient)
{
	if (!transient) {
		if (rs->breaker == BREAKER_OPEN)
			log_msg(GW_LOG_INFO, LS_WEBHOOK, 0, NULL, "route=%s circuit breaker closed",
			        name);
		if (rs->breaker == BREAKER_OPEN)
			metrics_set(M_BREAKER_OPEN, name, 0);
		rs->breaker = BREAKER_CLOSED;
		rs->failures = 0;
		return;
	}
	if (rs->failures < UINT32_MAX)
		rs->failures++;
	if (rs->threshold == 0)
		return;
	if (rs->breaker == BREAKER_CLOSED && rs->failures >= rs->threshold) {
		rs->breaker = BREAKER_OPEN;
		metrics_set(M_BREAKER_OPEN, name, 1);
		log_msg(GW_LOG_WARN, LS_WEBHOOK, 0, NULL,
		        "route=%s circuit breaker open after %u transient failures", name,
		        rs->failures);
	}
	if (rs->breaker == BREAKER_OPEN) /* a failed probe waits a whole period again */
		rs->next_probe_us = now_us() + (int64_t)rs->probe_ms * 1000;
}

/* ---- jobs ---- */

/* Stops j's build (dequeued, or waited for): after it nothing reads what j borrows. */
static void job_build_stop(struct job *j)
{
	if (!j->build.done)
		return;
	work_pool_cancel(&build_pool, &j->build);
	event_free(j->build.done);
	j->build.done = NULL;
	json_decref(j->auth);
	j->auth = NULL;
}

static void job_free(struct job *j)
{
	job_build_stop(j);
	if (j->rs)
		j->rs->jobs--;
	if (j->held)
		atomic_fetch_sub(&memory_held, j->held);
	if (j->timer)
		event_free(j->timer);
	curl_slist_free_all(j->headers);
	webhook_request_free(&j->req);
	webhook_answer_free(&j->ans);
	free(j);
}

static void job_unqueue(struct job *j)
{
	if (j->in_queue)
		TAILQ_REMOVE(&j->rs->queue, j, qlink);
	j->in_queue = false;
}

/* A delivered message is an INFO event; refusals and deferrals are WARN. */
static void log_reply(const struct job *j, const struct http_answer *a, const struct smtp_reply *r)
{
	log_msg(r->code / 100 == 2 ? GW_LOG_INFO : GW_LOG_WARN, LS_WEBHOOK, j->cookie, j->req.id,
	        "reply route=%s attempts=%u http=%ld outcome=%d%s -> %d %s %s",
	        j->req.route_name ? j->req.route_name : "?", j->attempts, a ? a->status : 0L,
	        a ? (int)a->outcome : -1, j->forgotten ? " (forgotten)" : "", r->code, r->status,
	        r->text);
}

/* The one way out: unlink, tell the session (unless it left), free. */
static void job_finish(struct job *j, const struct smtp_reply *reply)
{
	struct delivery *d = j->d;

	job_build_stop(j); /* before the session hears of it and frees what the build reads */
	job_unqueue(j);
	TAILQ_REMOVE(&d->jobs, j, link);
	d->n_jobs--;
	if (!j->forgotten)
		d->done(d->owner, j->cookie, reply);
	job_free(j);
}

static void job_finish_answer(struct job *j, const struct http_answer *a)
{
	struct smtp_reply r;

	http_reply_map(a, j->req.replies, j->req.n_replies, &r);
	r.http_status = a && a->outcome == HTTP_OUTCOME_STATUS ? a->status : 0;
	r.payload_us =
	    j->started_us > j->submitted_us ? (uint64_t)(j->started_us - j->submitted_us) : 0;
	r.webhook_us = j->started_us ? (uint64_t)(now_us() - j->started_us) : 0;
	log_reply(j, a, &r);
	job_finish(j, &r);
}

/* A failure before libcurl ran: the reply goes out on the next loop turn, never inline. */
static void job_fail_later(struct job *j, enum http_outcome outcome, const char *why)
{
	struct http_answer a = {.outcome = outcome, .retry_after_s = -1};

	log_msg(GW_LOG_WARN, LS_WEBHOOK, j->cookie, j->req.id, "route=%s %s", j->req.route_name,
	        why);
	http_reply_map(&a, j->req.replies, j->req.n_replies, &j->failed);
	job_unqueue(j);
	job_set_state(j, JOB_FAILED);
	timer_after_us(j->timer, 0);
}

static void job_enqueue(struct job *j)
{
	TAILQ_INSERT_TAIL(&j->rs->queue, j, qlink);
	j->in_queue = true;
	job_set_state(j, JOB_QUEUED);
	timer_after_us(j->timer, j->deadline_us - now_us()); /* the wait is inside the budget */
}

static int64_t min_attempt_ms(const struct job *j)
{
	int64_t half = (int64_t)j->req.opts.timeout_ms / 2;
	return half < WEBHOOK_MIN_ATTEMPT_MS ? half : WEBHOOK_MIN_ATTEMPT_MS;
}

/* While draining, a job's whole life ends by the drain deadline. */
static void job_clamp_to_drain(struct job *j)
{
	int64_t until = j->d->drain_until_us;

	if (!until)
		return;
	if (j->retry_until_us > until)
		j->retry_until_us = until;
	if (j->deadline_us > until)
		j->deadline_us = until;
}

static void job_start(struct job *j)
{
	struct delivery *d = j->d;
	int64_t left_ms = (j->deadline_us - now_us()) / 1000;
	uint64_t timeout = j->req.opts.timeout_ms;

	job_unqueue(j);
	if (left_ms < min_attempt_ms(j)) { /* waited its turn too long to make a useful try */
		job_fail_later(j, HTTP_OUTCOME_TIMEOUT, "no time left for an attempt");
		return;
	}
	if (timeout == 0 || timeout > (uint64_t)left_ms)
		timeout = (uint64_t)left_ms;
	j->easy = webhook_multi_easy(d->multi);
	j->headers = webhook_request_headers(&j->req, (int64_t)time(NULL));
	if (!j->easy || !j->headers)
		goto fail;
	webhook_request_setup(&j->req, j->easy, j->headers, timeout, !j->rs->http1);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	webhook_answer_start(&j->ans, j->easy);
	if (webhook_multi_start(d->multi, j->easy) < 0)
		goto fail;
	evtimer_del(j->timer);
	j->attempt_us = now_us();
	j->attempts++;
	j->rs->running++;
	job_set_state(j, JOB_RUNNING);
	return;
fail:
	webhook_multi_release(d->multi, j->easy);
	j->easy = NULL;
	curl_slist_free_all(j->headers);
	j->headers = NULL;
	job_fail_later(j, HTTP_OUTCOME_CONFIG, "could not start the request (out of memory?)");
}

static void route_pump(struct delivery *d, struct route_state *rs)
{
	while (rs->running < rs->max_in_flight && !TAILQ_EMPTY(&rs->queue))
		job_start(TAILQ_FIRST(&rs->queue));
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct route_state *rs = j->rs;
	struct http_answer a = {.outcome = HTTP_OUTCOME_TIMEOUT, .retry_after_s = -1};

	switch (j->state) {
	case JOB_QUEUED: /* waited for a slot until the deadline */
		job_finish_answer(j, &a);
		break;
	case JOB_BACKOFF:
		job_enqueue(j);
		route_pump(j->d, rs);
		break;
	case JOB_FAILED:
		job_finish(j, &j->failed);
		break;
	default:
		break;
	}
}

/* ---- completion of one attempt ---- */

static void read_answer(struct job *j, CURLcode rc, struct http_answer *a)
{
	const char *why = webhook_answer_read(&j->ans, rc, a);

	a->id = j->req.id;
	if (why)
		log_msg(GW_LOG_WARN, LS_WEBHOOK, j->cookie, j->req.id, "route=%s attempt %u: %s",
		        j->req.route_name, j->attempts, why);
}

static void log_redirect(struct job *j, const struct http_answer *a)
{
	char *to = NULL;

	curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_URL, &to);
	log_msg(GW_LOG_ERROR, LS_WEBHOOK, j->cookie, j->req.id,
	        "route=%s %s answered %ld redirecting to %s; redirects are not followed: fix the "
	        "route's url (messages get 451 4.3.0 meanwhile)",
	        j->req.route_name, j->req.url, a->status, to ? to : "(no Location)");
}

/* Jittered exponential backoff, or -1 when no retry fits in the budget. */
static int64_t retry_delay_us(struct job *j, const struct http_answer *a)
{
	uint64_t base = WEBHOOK_BACKOFF_BASE_MS;
	int64_t delay, now = now_us();

	for (unsigned i = 1; i < j->attempts && base < WEBHOOK_BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > WEBHOOK_BACKOFF_MAX_MS)
		base = WEBHOOK_BACKOFF_MAX_MS;
	delay = (int64_t)(base / 2 + rng_next(j->d) % (base / 2 + 1)) * 1000;
	if (a->retry_after_s >= 0 && a->retry_after_s * 1000000 > delay)
		delay = a->retry_after_s * 1000000;
	if (now + delay > j->retry_until_us ||
	    now + delay + min_attempt_ms(j) * 1000 > j->deadline_us)
		return -1;
	return delay;
}

/* One attempt's metrics: its status (or why it has none) and its time. */
static void count_attempt(const struct job *j, const struct http_answer *a)
{
	static const char *const outcomes[HTTP_OUTCOME_MAX] = {"status", "connect", "timeout",
	                                                       "reset", "config"};
	char st[24];
	snprintf(st, sizeof st, "%ld", a->status);
	const char *route = j->req.route_name ? j->req.route_name : "?";
	metrics_add(
	    M_WEBHOOK_REQUESTS, route,
	    a->outcome == HTTP_OUTCOME_STATUS ? st : outcomes[a->outcome % HTTP_OUTCOME_MAX], 1);
	metrics_observe(M_WEBHOOK_DURATION, route, (uint64_t)(now_us() - j->attempt_us));
}

static void on_transfer_done(void *arg, CURL *easy, CURLcode rc)
{
	struct delivery *d = arg;
	struct job *j = NULL;
	struct route_state *rs;
	struct http_answer a;
	bool transient;
	int64_t delay = -1;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&j);
	if (!j) { /* not ours: cannot happen, but the handle must not leak */
		webhook_multi_release(d->multi, easy);
		return;
	}
	rs = j->rs;
	rs->jobs++; /* keeps rs alive through the done callback (set_config prunes idle states) */
	read_answer(j, rc, &a);
	if (a.outcome == HTTP_OUTCOME_STATUS) { /* what the receiver speaks decides PIPEWAIT */
		long v = 0;
		curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &v);
		rs->http1 = v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1;
	}
	if (a.outcome == HTTP_OUTCOME_STATUS && a.status >= 300 && a.status <= 399)
		log_redirect(j, &a);
	rs->running--;
	count_attempt(j, &a);
	transient = http_reply_transient(&a);
	breaker_record(rs, j->req.route_name, transient);
	if (transient && !j->forgotten && rs->breaker == BREAKER_CLOSED)
		delay = retry_delay_us(j, &a);
	if (delay >= 0) {
		job_set_state(j, JOB_BACKOFF);
		timer_after_us(j->timer, delay);
	} else {
		job_finish_answer(j, &a); /* a is read before the handle goes back below */
		j = NULL;
	}
	curl_slist_free_all(j ? j->headers : NULL);
	if (j) {
		j->headers = NULL;
		j->easy = NULL;
	}
	webhook_multi_release(d->multi, easy);
	route_pump(d, rs);
	rs->jobs--;
}

/* ---- the interface ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct delivery *delivery_new(struct event_base *base, const struct gw_config *cfg,
                              delivery_done_fn done, void *owner)
{
	struct delivery *d;
	struct timespec ts;

	pthread_once(&curl_once, curl_init_once);
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->base = base;
	d->cfg = cfg;
	d->done = done;
	d->owner = owner;
	TAILQ_INIT(&d->jobs);
	clock_gettime(CLOCK_REALTIME, &ts);
	d->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)d;
	if (d->rng == 0)
		d->rng = 0x9e3779b97f4a7c15ULL;
	d->multi = webhook_multi_new(base, on_transfer_done, d);
	if (!d->multi) {
		free(d);
		return NULL;
	}
	return d;
}

void delivery_free(struct delivery *d)
{
	struct job *j;

	if (!d)
		return;
	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, link);
		job_unqueue(j);
		if (j->state == JOB_RUNNING && j->easy)
			webhook_multi_cancel(d->multi, j->easy);
		job_free(j);
	}
	webhook_multi_free(d->multi);
	if (d->drain_ev)
		event_free(d->drain_ev);
	while (d->routes) {
		struct route_state *rs = d->routes;
		d->routes = rs->next;
		free(rs->key);
		free(rs);
	}
	free(d);
}

static bool route_in_config(const struct gw_config *cfg, const char *key)
{
	char k[ROUTE_KEY_MAX];

	for (size_t i = 0; cfg && i < cfg->n_routes; i++) {
		route_key(&cfg->routes[i], k, sizeof(k));
		if (strcmp(k, key) == 0)
			return true;
	}
	return false;
}

/* Routes gone from the config leave idle states behind: drop them, but keep open breakers. */
static void route_states_prune(struct delivery *d)
{
	struct route_state **pp = &d->routes;

	while (*pp) {
		struct route_state *rs = *pp;
		if (d->cfg && rs->jobs == 0 && rs->breaker == BREAKER_CLOSED &&
		    !route_in_config(d->cfg, rs->key)) {
			*pp = rs->next;
			free(rs->key);
			free(rs);
		} else {
			pp = &rs->next;
		}
	}
}

void delivery_set_config(struct delivery *d, const struct gw_config *cfg)
{
	d->cfg = cfg;
	route_states_prune(d);
	webhook_sign_keys_forget(); /* a secret the new configuration dropped is not kept */
}

/*
 * Route auto_replies = "accept-and-drop": an auto-reply or bounce gets 250
 * without a POST, on the next loop turn. The one 250 not backed by a 2xx,
 * and only because the operator asked for it; logged and counted.
 */
static bool drop_auto_reply(struct delivery *d, struct job *j)
{
	if (j->req.opts.auto_replies != AUTO_REPLIES_DROP ||
	    (j->req.kind != PAYLOAD_AUTO_REPLY && j->req.kind != PAYLOAD_BOUNCE))
		return false;
	d->n_dropped++;
	log_msg(GW_LOG_INFO, LS_WEBHOOK, j->cookie, j->req.id,
	        "route=%s dropped kind=%s dropped_total=%llu -> 250", j->req.route_name,
	        j->req.kind == PAYLOAD_BOUNCE ? "bounce" : "auto_reply",
	        (unsigned long long)d->n_dropped);
	http_reply_own(HTTP_OWN_DROPPED, &j->failed);
	job_set_state(j, JOB_FAILED);
	timer_after_us(j->timer, 0);
	return true;
}

uint64_t delivery_dropped(const struct delivery *d)
{
	return d->n_dropped;
}

_Static_assert(DELIVERY_ID_SIZE == WEBHOOK_ID_SIZE, "the delivery id is the webhook id");

/*
 * The request is built: its route state, budget and first place in the
 * queue (or the auto-reply drop). j is in d->jobs. Returns 0, or -1 (out
 * of memory; nothing started).
 */
static int job_ready(struct job *j, const struct gw_route *route)
{
	struct delivery *d = j->d;
	int64_t now = now_us();
	uint64_t budget, whole;

	uint64_t body = webhook_request_held_bytes(&j->req);
	if (body > j->held && webhook_request_body_bytes(&j->req) <= j->held) {
		/* a small form whose laid-out copy was not admitted: it streams instead */
		webhook_request_stream_only(&j->req);
		body = webhook_request_held_bytes(&j->req);
	}
	/* a form may hold more than its cap guessed: count what it holds */
	if (body > j->held)
		atomic_fetch_add(&memory_held, body - j->held);
	else
		atomic_fetch_sub(&memory_held, j->held - body);
	j->held = body;
	j->rs = route_state_get(d, route);
	if (!j->rs)
		return -1;
	j->rs->jobs++;
	budget = j->req.opts.retry_budget_ms;
	whole = j->req.opts.timeout_ms > budget ? j->req.opts.timeout_ms : budget;
	j->started_us = now;
	j->retry_until_us = now + (int64_t)budget * 1000;
	j->deadline_us = now + (int64_t)whole * 1000;
	job_clamp_to_drain(j);
	if (!drop_auto_reply(d, j)) {
		job_enqueue(j);
		route_pump(d, j->rs);
	}
	return 0;
}

/* On a payload build thread: nothing but the pure build. */
static void build_run(struct work_job *pj)
{
	struct job *j = (struct job *)((char *)pj - offsetof(struct job, build));

	errno = 0;
	j->build_rc = webhook_request_build(&j->req, j->route, j->envp, &j->msg, j->auth,
	                                    &j->limits, j->build_err, sizeof(j->build_err));
	j->build_errno = errno;
}

/* Back on the loop: the build is over; the session is still there (else j was freed). */
static void on_built(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	const struct gw_route *route = j->route;
	(void)fd;
	(void)what;

	job_build_stop(j); /* done: frees the event and the auth copy */
	if (j->build_rc == 0 && job_ready(j, route) == 0) {
		log_msg(GW_LOG_INFO, LS_WEBHOOK, j->cookie, j->req.id,
		        "route=%s payload built off the loop octets=%zu body=%llu",
		        j->req.route_name, j->msg.len,
		        (unsigned long long)webhook_request_body_bytes(&j->req));
		return;
	}
	if (j->build_rc == 0)
		snprintf(j->build_err, sizeof(j->build_err), "cannot set up the delivery");
	log_msg(GW_LOG_WARN, LS_WEBHOOK, j->cookie, j->req.id, "route=%s %s", j->req.route_name,
	        j->build_err);
	http_reply_own(j->build_rc < 0 && j->build_errno == EMSGSIZE ? HTTP_OWN_TOO_BIG
	                                                             : HTTP_OWN_SETUP,
	               &j->failed);
	job_set_state(j, JOB_FAILED);
	timer_after_us(j->timer, 0);
}

/*
 * Starts j's build on the pool; the id is computed here, on the loop.
 * Returns 0 (j is in d->jobs, building), or -1 with a reason in err.
 */
static int build_later(struct job *j, const struct gw_route *route, const struct envelope *env,
                       const struct message_bytes *msg, const json_t *auth,
                       const struct gw_limits *limits, char *err, size_t errsz)
{
	struct delivery *d = j->d;

	webhook_sign_id(route->name ? route->name : "", route->url, env, msg, j->req.id);
	j->route = route;
	if (env) {
		j->env = *env;
		j->envp = &j->env;
	}
	j->msg = *msg;
	j->limits = *limits;
	j->auth =
	    auth ? json_incref((json_t *)(uintptr_t)auth) : NULL; /* shared: include/payload.h */
	j->build.run = build_run;
	j->build.done = event_new(d->base, -1, 0, on_built, j);
	if ((auth && !j->auth) || !j->build.done)
		return -1;
	if (work_pool_submit(&build_pool, &j->build, limits->payload_build_threads,
	                     limits->max_payload_builds) < 0) {
		event_free(j->build.done);
		j->build.done = NULL;
		snprintf(err, errsz, "limit max_payload_builds=%u reached (or no build thread)",
		         limits->max_payload_builds);
		return -1;
	}
	job_set_state(j, JOB_BUILDING);
	TAILQ_INSERT_TAIL(&d->jobs, j, link);
	d->n_jobs++;
	return 0;
}

/* Large messages are built off the loop (payload_offload_threshold; 0: none is). */
static bool offload(const struct gw_route *route, const struct message_bytes *msg,
                    const struct gw_limits *limits)
{
	return limits && limits->payload_offload_threshold && route && route->url && msg &&
	       msg->len >= limits->payload_offload_threshold;
}

int delivery_submit(struct delivery *d, const struct gw_route *route, const struct envelope *env,
                    const struct message_bytes *msg, const json_t *auth, uint64_t cookie,
                    char id[DELIVERY_ID_SIZE])
{
	struct job *j;
	char err[256] = "cannot set up the delivery";
	int rc = DELIVERY_FAILED;
	const struct gw_limits *limits = d->cfg ? &d->cfg->limits : NULL;

	j = calloc(1, sizeof(*j));
	if (!j)
		return DELIVERY_FAILED;
	j->d = d;
	j->cookie = cookie;
	j->submitted_us = now_us();
	/*
	 * The body's cap is counted before a byte of it is built, so that
	 * bodies being built are inside max_delivery_memory too; what the body
	 * did not use is given back at once.
	 */
	j->held = webhook_request_held_cap(route, env, msg, auth, limits);
	if (!memory_take(d, j->held)) {
		snprintf(err, sizeof(err),
		         "max_delivery_memory: %llu bytes held, this body may need %llu",
		         (unsigned long long)atomic_load(&memory_held),
		         (unsigned long long)j->held);
		j->held = 0;
		rc = DELIVERY_BUSY;
		goto fail;
	}
	j->timer = evtimer_new(d->base, on_job_timer, j);
	if (!j->timer)
		goto fail;
	if (offload(route, msg, limits)) {
		if (build_later(j, route, env, msg, auth, limits, err, sizeof(err)) < 0)
			goto fail;
		if (id)
			memcpy(id, j->req.id, DELIVERY_ID_SIZE);
		return DELIVERY_QUEUED;
	}
	errno = 0;
	if (webhook_request_build(&j->req, route, env, msg, auth, limits, err, sizeof(err)) < 0) {
		rc = errno == EMSGSIZE ? DELIVERY_TOO_BIG : DELIVERY_FAILED;
		goto fail;
	}
	if (id)
		memcpy(id, j->req.id, DELIVERY_ID_SIZE);
	TAILQ_INSERT_TAIL(&d->jobs, j, link);
	d->n_jobs++;
	if (job_ready(j, route) < 0) {
		TAILQ_REMOVE(&d->jobs, j, link);
		d->n_jobs--;
		goto fail;
	}
	return DELIVERY_QUEUED;
fail:
	log_msg(GW_LOG_WARN, LS_WEBHOOK, cookie, j->req.id[0] ? j->req.id : NULL, "route=%s %s",
	        route && route->name ? route->name : "?", err);
	job_free(j);
	return rc;
}

void delivery_message_id(const struct gw_route *route, const struct envelope *env,
                         const struct message_bytes *msg, char id[DELIVERY_ID_SIZE])
{
	webhook_sign_id(route->name ? route->name : "", route->url, env, msg, id);
}

struct webhook_multi *delivery_multi(struct delivery *d)
{
	return d ? d->multi : NULL;
}

void delivery_forget(struct delivery *d, uint64_t cookie)
{
	struct job *j, *next;

	for (j = TAILQ_FIRST(&d->jobs); j; j = next) {
		next = TAILQ_NEXT(j, link);
		if (j->cookie != cookie)
			continue;
		j->forgotten = true;
		if (j->state == JOB_RUNNING)
			continue; /* completes quietly: no retry, no callback */
		job_unqueue(j);
		TAILQ_REMOVE(&d->jobs, j, link);
		d->n_jobs--;
		job_free(j);
	}
}

bool delivery_route_available(struct delivery *d, const struct gw_route *route)
{
	struct route_state *rs = route_state_get(d, route);
	int64_t now;

	if (!rs || rs->threshold == 0 || rs->breaker == BREAKER_CLOSED)
		return true;
	now = now_us();
	if (now < rs->next_probe_us)
		return false;
	rs->next_probe_us = now + (int64_t)rs->probe_ms * 1000; /* one probe per period */
	return true;
}

uint64_t delivery_memory_held(void)
{
	return atomic_load(&memory_held);
}

uint64_t delivery_memory_peak(void)
{
	return atomic_load(&memory_peak);
}

unsigned delivery_in_flight(const struct delivery *d)
{
	return d->n_jobs;
}

/*
 * The drain deadline: every job still open is answered now, 451 4.3.2, its
 * attempt (if one runs) cancelled; the app may have taken the message, and
 * the sender's retry carries the same Idempotency-Key.
 */
static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	struct smtp_reply r;
	struct job *j;
	unsigned cut = 0, running = 0;

	http_reply_own(HTTP_OWN_DRAIN_CUT, &r);
	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		if (j->state == JOB_RUNNING && j->easy) {
			j->rs->running--;
			webhook_multi_cancel(d->multi, j->easy);
			j->easy = NULL;
			running++;
		}
		cut += !j->forgotten;
		log_reply(j, NULL, &r);
		job_finish(j, &r);
	}
	d->drained_cut += cut;
	log_msg(GW_LOG_WARN, LS_WEBHOOK, 0, NULL,
	        "drain deadline: %u deliveries answered 451 4.3.2 unconfirmed (%u had a request in "
	        "flight)",
	        cut, running);
}

void delivery_drain(struct delivery *d, uint64_t drain_timeout_ms)
{
	uint64_t margin = drain_timeout_ms / 5;
	struct job *j;

	if (d->drain_until_us)
		return;
	if (margin > WEBHOOK_DRAIN_MARGIN_MS)
		margin = WEBHOOK_DRAIN_MARGIN_MS;
	d->drain_until_us = now_us() + (int64_t)(drain_timeout_ms - margin) * 1000;
	TAILQ_FOREACH(j, &d->jobs, link)
	{
		job_clamp_to_drain(j);
		if (j->state == JOB_QUEUED) /* its expiry timer follows the new deadline */
			timer_after_us(j->timer, j->deadline_us - now_us());
	}
	d->drain_ev = evtimer_new(d->base, on_drain_deadline, d);
	if (d->drain_ev)
		timer_after_us(d->drain_ev, d->drain_until_us - now_us());
}

unsigned delivery_drain_cut(const struct delivery *d)
{
	return d->drained_cut;
}
