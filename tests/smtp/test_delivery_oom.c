/*
 * test_delivery_oom.c: the webhook answered 200 and its body cannot be
 * stored (realloc fails, injected with -Wl,--wrap=realloc, which reaches
 * only the project's static objects, not libcurl): the status already
 * received decides (250), the message is not POSTed twice. A one-thread
 * HTTP server on 127.0.0.1 counts the POSTs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "../unit.h"
#include "delivery.h"
#include "test_delivery_submit.h"

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static atomic_bool fail_realloc;

void *__wrap_realloc(void *p, size_t n)
{
	if (atomic_load(&fail_realloc))
		return NULL;
	return __real_realloc(p, n);
}

static int listen_fd;
static atomic_int posts;

/* Reads one request (headers, then Content-Length octets) and answers 200 with a body. */
static void serve_one(int fd)
{
	char buf[8192];
	size_t have = 0;
	char *end = NULL;
	while (have < sizeof buf - 1 && !end) {
		ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end)
		return;
	const char *cl = strcasestr(buf, "content-length:");
	size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
	size_t got = have - (size_t)(end + 4 - buf);
	while (got < want) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			return;
		got += (size_t)n;
	}
	atomic_fetch_add(&posts, 1);
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	                           "Content-Length: 3000\r\nConnection: close\r\n\r\n";
	char body[3000];
	memset(body, 'b', sizeof body);
	if (send(fd, head, sizeof head - 1, MSG_NOSIGNAL) > 0)
		(void)send(fd, body, sizeof body, MSG_NOSIGNAL);
}

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		serve_one(fd);
		close(fd);
	}
}

static int open_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) ||
	    listen(listen_fd, 8) || getsockname(listen_fd, (struct sockaddr *)&a, &len))
		return -1;
	return ntohs(a.sin_port);
}

struct seen {
	int n;
	struct smtp_reply reply;
};

static void on_done(void *owner, uint64_t cookie, const struct smtp_reply *r)
{
	struct seen *s = owner;
	(void)cookie;
	s->n++;
	s->reply = *r;
}

int main(void)
{
	char url[64];
	struct gw_route route;
	struct gw_config cfg;
	struct seen s = {0};
	pthread_t t;
	int port = open_server();
	CHECK(port > 0);
	if (port <= 0 || pthread_create(&t, NULL, server, NULL))
		return UNIT_END("delivery_oom");
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
	memset(&route, 0, sizeof route);
	route.name = (char *)"oom";
	route.url = url;
	route.opts.timeout_ms = 3000;
	route.opts.connect_timeout_ms = 1000;
	route.opts.max_in_flight = 1;
	route.opts.retry_budget_ms = 2000; /* a retry would have time to POST again */
	route.opts.format = FORMAT_RAW;
	memset(&cfg, 0, sizeof cfg);
	cfg.routes = &route;
	cfg.n_routes = 1;
	struct event_base *base = event_base_new();
	struct delivery *d = delivery_new(base, &cfg, on_done, &s);
	CHECK(base && d);
	CHECK_INT(test_delivery_submit(d, &route, 7), 0);
	atomic_store(&fail_realloc,
	             true); /* the request is built: only the answer's body is left */
	for (int i = 0; i < 100 && (s.n < 1 || delivery_in_flight(d) > 0); i++) {
		struct timeval tv = {0, 50000}; /* bounded: 100 turns of at most 50 ms */
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	atomic_store(&fail_realloc, false);
	CHECK_INT(s.n, 1);
	CHECK_INT(s.reply.code, 250);
	CHECK_INT(atomic_load(&posts), 1);
	delivery_free(d);
	event_base_free(base);
	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(t, NULL);
	return UNIT_END("delivery_oom");
}
