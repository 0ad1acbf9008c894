/*
 * admin.c: the admin listener (include/admin.h). Owns its socket, its
 * thread, its libevent loop and evhttp server, and the readiness flag.
 *
 * It runs beside the workers, never on their loops, so a slow scraper
 * cannot delay a session; what it reads of them is the metrics registry
 * (which takes no lock a worker takes to count) and one atomic flag.
 * Bounded like every listener: [admin] timeout on each connection, request
 * headers of at most 8 KB, no request body.
 *
 * Never: listen unless [admin] address is set, answer anything but GET and
 * HEAD, write to a worker's state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"

#define ADMIN_MAX_HEADERS 8192

struct admin {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	bool running;
	bool owns_fd; /* evhttp took the socket: evhttp_free closes it */
};

static atomic_bool ready;

void admin_set_ready(bool r)
{
	atomic_store(&ready, r);
}

bool admin_ready(void)
{
	return atomic_load(&ready);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *body)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; charset=utf-8");
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, reason, NULL);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	char *text = NULL;
	size_t len = 0;
	(void)arg;
	FILE *f = open_memstream(&text, &len);
	int rc = f ? metrics_write(f, GATEWAY_VERSION) : -1;
	if (f && fclose(f))
		rc = -1;
	if (rc || !text) {
		free(text);
		reply_text(req, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evbuffer_add(evhttp_request_get_output_buffer(req), text, len);
	free(text);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
	(void)arg;
	reply_text(req, 200, "OK", "ok\n");
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
	(void)arg;
	if (admin_ready())
		reply_text(req, 200, "OK", "ready\n");
	else
		reply_text(req, 503, "Service Unavailable", "not ready\n");
}

static void on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	reply_text(req, 404, "Not Found", "not found\n");
}

static void *admin_thread(void *arg)
{
	struct admin *a = arg;
	event_base_dispatch(a->base);
	return NULL;
}

static int admin_bind(const struct gw_listener *l)
{
	int one = 1;
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) || listen(fd, 64)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int admin_setup(struct admin *a, const struct gw_admin *c, int fd)
{
	a->base = event_base_new();
	a->http = a->base ? evhttp_new(a->base) : NULL;
	if (!a->http || evhttp_accept_socket(a->http, fd))
		return -1;
	a->owns_fd = true;
	evhttp_set_timeout(a->http, (int)((c->timeout_ms + 999) / 1000));
	evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
	evhttp_set_max_body_size(a->http, 0);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(a->http, "/metrics", on_metrics, NULL);
	evhttp_set_cb(a->http, "/healthz", on_healthz, NULL);
	evhttp_set_cb(a->http, "/readyz", on_readyz, NULL);
	evhttp_set_gencb(a->http, on_other, NULL);
	if (pthread_create(&a->thread, NULL, admin_thread, a))
		return -1;
	a->running = true;
	return 0;
}

struct admin *admin_start(const struct gw_config *cfg, bool *failed)
{
	const struct gw_admin *c = &cfg->admin;
	*failed = false;
	if (!c->listener.address)
		return NULL;
	*failed = true;
	int fd = admin_bind(&c->listener);
	if (fd < 0) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "cannot listen on admin address %s: %s",
		        c->listener.address, strerror(errno));
		return NULL;
	}
	struct admin *a = calloc(1, sizeof *a);
	if (!a || admin_setup(a, c, fd)) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "cannot start the admin listener");
		if (!a || !a->owns_fd)
			close(fd);
		admin_stop(a);
		return NULL;
	}
	*failed = false;
	log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "admin listening on %s", c->listener.address);
	return a;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	if (a->running) {
		event_base_loopbreak(a->base);
		pthread_join(a->thread, NULL);
	}
	if (a->http)
		evhttp_free(a->http); /* closes the bound socket */
	if (a->base)
		event_base_free(a->base);
	free(a);
}
