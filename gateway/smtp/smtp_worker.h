/*
 * smtp_worker.h: the server, its workers and what every file of
 * gateway/smtp/ reaches through them: counters, configuration snapshots,
 * the session-id map and graveyard (smtp_registry.c), the worker's life
 * (smtp_worker.c), and the log of the "smtp" subsystem.
 */
#ifndef SMTP_WORKER_H
#define SMTP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "smtp_tls.h"

struct event_base;
struct event;
struct evconnlistener;
struct smtp_session;

/* ---- counters (smtp_registry.c), summed over workers, logged at exit ---- */

enum smtp_counter {
	C_CONNECTIONS,
	C_REFUSED_TOTAL,
	C_REFUSED_PER_IP,
	C_TIMEOUTS,
	C_TOO_MANY_ERRORS,
	C_TOO_MANY_TX,
	C_LONG_COMMANDS,
	C_EARLY_TALKERS,
	C_AUTH_FAILURES,
	C_MESSAGES,
	C_REJECTED_MESSAGES,
	C_PROXY_REFUSED,
	C_TLS_FAILURES,
	C_AUTH_BUSY,
	C_TOO_MANY_RCPTS,
	C_SIZE_EXCEEDED,
	C_PAYLOAD_TOO_BIG,
	C_DELIVERY_BUSY,
	C_DATA_BUSY, /* DATA/BDAT refused: max_delivery_memory already held */
	C_BARE_NEWLINES,
	C_LONG_LINES,
	C_OUTPUT_PAUSES,
	C_AUTH_IP_BLOCKED,
	C_SPAM_REJECTED, /* [spam] enforce: rspamd's reject, 550 5.7.1 */
	C_SPAM_DEFERRED, /* [spam] enforce: soft reject or greylist, 451 4.7.1 */
	C_SPAM_FAILED,   /* a check that gave no verdict (spam_failure applied) */
	C_SPAM_SKIPPED,  /* a message over [spam] max_size, not scanned */
	C_COUNTER_MAX
};

extern const char *const smtp_counter_names[C_COUNTER_MAX];

/* ---- the configuration a session runs under (refcounted, smtp_registry.c) ---- */

struct smtp_tls;

struct smtp_runtime {
	atomic_int refs;
	struct gw_config *cfg;
	struct smtp_tls *tls; /* NULL when no certificate is configured */
};

struct smtp_runtime *smtp_runtime_ref(struct smtp_runtime *rt);
void smtp_runtime_unref(struct smtp_runtime *rt);

/* ---- server and workers (smtp_server.c, smtp_worker.c) ---- */

struct smtp_server;
struct sasl_job;
struct dns_resolver;
struct smtp_auth;
struct spam_client;
struct smtp_seam_tx;

struct smtp_worker {
	int index;
	pthread_t thread;
	struct smtp_server *srv;
	struct event_base *base;
	struct smtp_runtime *rt; /* current configuration; sessions hold their own ref */
	struct delivery *delivery;
	struct evconnlistener **listeners; /* one per configured listener */
	int *fds;                          /* bound sockets, one per listener */
	void *accept_ctx;                  /* callback arguments of the listeners */
	struct event **relisten;           /* per listener: resumes accept after EMFILE */
	struct event *ctl;                 /* woken by the main thread: reload, stop */
	struct smtp_runtime *pending_rt;   /* handed over under ctl_lock */
	bool stop_requested;
	pthread_mutex_t ctl_lock;
	bool draining;
	struct event *drain_timer;
	struct event *reaper;
	struct smtp_session **id_map; /* hash buckets by session id */
	size_t id_buckets;
	size_t n_sessions;
	uint64_t next_id;
	struct smtp_session *graveyard; /* torn down inside a callback; freed by reaper */
	struct sasl_job *sasl_jobs;     /* password checks running on their threads */
	struct dns_resolver *dns;       /* SPF/DKIM/DMARC/ARC lookups ([dns], read at start) */
	struct smtp_auth *auth;         /* sender authentication under rt (smtp_seam.c) */
	struct spam_client *spam;       /* rspamd checks and their breaker (smtp_seam.c) */
	char *line;                     /* scratch: one command line, max_command_line + 1 */
	size_t line_cap;
	atomic_ullong counters[C_COUNTER_MAX];
};

struct smtp_server {
	char *config_path;
	struct smtp_worker *workers;
	size_t n_workers;
	size_t n_listeners; /* fixed at start: listeners are not reloadable */
	atomic_uint connections;
	struct smtp_runtime *rt;
};

extern struct smtp_server *smtp_srv; /* the one server of the process */

void smtp_worker_count(struct smtp_worker *w, enum smtp_counter c);
struct smtp_session *smtp_worker_find(struct smtp_worker *w, uint64_t id);
void smtp_worker_attach(struct smtp_worker *w, struct smtp_session *s);
void smtp_worker_detach(struct smtp_worker *w, struct smtp_session *s);
void smtp_worker_bury(struct smtp_worker *w, struct smtp_session *s);
int smtp_worker_start(struct smtp_worker *w);
void smtp_worker_post(struct smtp_worker *w, struct smtp_runtime *rt, bool stop);
void smtp_worker_free(struct smtp_worker *w);

/* ---- logging: the daemon's one log (include/log.h), subsystem "smtp" ---- */

#define smtp_log(level, id, ...) log_msg(level, LS_SMTP, id, NULL, __VA_ARGS__)

#endif
