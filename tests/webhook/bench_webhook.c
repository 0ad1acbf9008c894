/*
 * bench_webhook.c: webhook delivery speed and memory (built, never run as a
 * test; docs/webhook.md "Performance").
 *
 * Measures, on one thread: the delivery id and the signatures over a body
 * of SIZE bytes, then whole deliveries through delivery_submit() to an
 * in-process libevent HTTP sink on 127.0.0.1 (same loop: the loop is the
 * only thread, as in a worker), N messages with at most C in flight.
 * Prints one line per measurement and the peak RSS.
 *
 *   bench_webhook [N=5000] [SIZE=10000] [C=32]
 *
 * Must never: touch anything but 127.0.0.1.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "delivery.h"
#include "webhook_sign.h"

struct bench {
	struct event_base *base;
	struct delivery *d;
	struct gw_route route;
	struct envelope env;
	struct message_bytes msg;
	unsigned n, conc, submitted, done, ok;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	evbuffer_add(out, "{}", 2);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void submit_more(struct bench *b);

static void on_done(void *owner, uint64_t cookie, const struct smtp_reply *r)
{
	struct bench *b = owner;

	b->done++;
	b->ok += r->code == 250;
	if (b->done == b->n)
		event_base_loopexit(b->base, NULL);
	else
		submit_more(b);
}

static void submit_more(struct bench *b)
{
	while (b->submitted < b->n && b->submitted - b->done < b->conc)
		if (delivery_submit(b->d, &b->route, &b->env, &b->msg, NULL, b->submitted++, NULL) <
		    0)
			b->done++;
}

static void bench_sign(const struct message_bytes *m, unsigned n)
{
	struct webhook_key hk, ek;
	char id[WEBHOOK_ID_SIZE];
	double t0;

	webhook_sign_key_parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &hk);
	webhook_sign_key_parse("whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", &ek);
	t0 = now_s();
	for (unsigned i = 0; i < n; i++)
		webhook_sign_id("bench", "http://127.0.0.1/", NULL, m, id);
	printf("id      %8.2f us/op (%zu bytes)\n", (now_s() - t0) / n * 1e6, m->len);
	t0 = now_s();
	for (unsigned i = 0; i < n; i++)
		free(webhook_sign(&hk, 1, id, 1700000000, m->data, m->len));
	printf("hmac    %8.2f us/op\n", (now_s() - t0) / n * 1e6);
	t0 = now_s();
	for (unsigned i = 0; i < n; i++)
		free(webhook_sign(&ek, 1, id, 1700000000, m->data, m->len));
	printf("ed25519 %8.2f us/op\n", (now_s() - t0) / n * 1e6);
	webhook_sign_key_free(&hk);
	webhook_sign_key_free(&ek);
}

static int bench_deliver(struct bench *b)
{
	struct evhttp *http = evhttp_new(b->base);
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char url[64];
	double t0;
	int port;

	if (!http || !(sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)))
		return -1;
	evhttp_set_gencb(http, on_request, NULL);
	if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) < 0)
		return -1;
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
	b->route.url = url;
	b->d = delivery_new(b->base, NULL, on_done, b);
	t0 = now_s();
	submit_more(b);
	event_base_dispatch(b->base);
	printf("deliver %8.0f msg/s (%u of %u answered 250, %u in flight at most)\n",
	       b->n / (now_s() - t0), b->ok, b->n, b->conc);
	delivery_free(b->d);
	evhttp_free(http);
	return b->ok == b->n ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct envelope_rcpt rcpt = {.address = (char *)"user@example.test"};
	size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	char *body = malloc(size + 1);
	struct rusage ru;
	int rc;

	memset(&b, 0, sizeof(b));
	b.n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 5000;
	b.conc = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 32;
	if (!body || b.n == 0 || b.conc == 0)
		return 2;
	memset(body, 'a', size);
	b.msg.data = body;
	b.msg.len = size;
	b.env.mail_from = (char *)"s@sender.test";
	b.env.rcpts = &rcpt;
	b.env.n_rcpts = 1;
	b.route.name = (char *)"bench";
	b.route.opts = (struct gw_route_opts){.timeout_ms = 30000,
	                                      .connect_timeout_ms = 10000,
	                                      .max_in_flight = b.conc,
	                                      .retry_budget_ms = 0,
	                                      .format = FORMAT_RAW,
	                                      .tls_verify = true,
	                                      .standard_webhooks = true};
	char *secrets[] = {(char *)"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
	b.route.secrets = secrets;
	b.route.n_secrets = 1;
	bench_sign(&b.msg, b.n);
	evthread_use_pthreads(); /* large payloads are built on the pool (delivery.h) */
	b.base = event_base_new();
	rc = bench_deliver(&b);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak rss %ld KB\n", ru.ru_maxrss);
	event_base_free(b.base);
	free(body);
	return rc;
}
