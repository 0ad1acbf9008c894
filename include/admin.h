/*
 * admin.h: the admin listener ([admin] address): an HTTP server on its own
 * thread and libevent loop (gateway/admin/admin.c) answering
 *   GET /metrics  the Prometheus exposition (include/metrics.h)
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when the listeners are bound and the configuration
 *                 loaded; 503 before that and while draining after SIGTERM
 * Anything else is 404; a method but GET and HEAD gets evhttp's 501.
 *
 * Never: run on a worker's loop (a scrape must not delay a session), or
 * listen when [admin] address is not set.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <stdbool.h>

#include "config.h"

struct admin;

/*
 * Binds [admin] address and starts the thread (start-up, before privileges
 * are dropped). Returns NULL with nothing started when no address is
 * configured (*failed false) or on an error, logged (*failed true).
 */
struct admin *admin_start(const struct gw_config *cfg, bool *failed);

/* /readyz answers 200 when ready, 503 otherwise. Any thread. */
void admin_set_ready(bool ready);

/*
 * Tells systemd (Type=notify) a change of state, e.g. "READY=1",
 * "RELOADING=1", "STOPPING=1" (gateway/admin/notify.c). 0 when sent or when
 * no manager listens (NOTIFY_SOCKET unset); -1 when sending failed. Any thread.
 */
int service_notify(const char *state);
bool admin_ready(void);

/* Stops the thread and frees everything (after the workers are gone). NULL is a no-op. */
void admin_stop(struct admin *a);

#endif
