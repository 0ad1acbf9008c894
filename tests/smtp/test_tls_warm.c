/*
 * test_tls_warm: the STARTTLS filter BIO is made once, before the workers.
 *
 * libevent makes the BIO method of bufferevent_openssl_filter_new() on
 * first use without a lock; threads whose first filter comes at the same
 * moment each make one and all but one leak. Each round is a child process
 * in which four threads, released by one barrier, make their first filter
 * after smtp_tls_warm(): in the sanitizer build LeakSanitizer fails a child
 * that leaked (without the warm-up, about one round in seven did). The
 * normal build checks only that the filters work after the warm-up.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smtp_tls.h"

enum { THREADS = 4, ROUNDS = 48 };

static SSL_CTX *ctx;
static pthread_barrier_t start;

static void *first_filter(void *arg)
{
	(void)arg;
	struct event_base *base = event_base_new();
	struct bufferevent *pair[2];
	SSL *ssl = SSL_new(ctx);
	if (!base || !ssl || bufferevent_pair_new(base, 0, pair) < 0)
		return (void *)1;
	pthread_barrier_wait(&start);
	struct bufferevent *f = bufferevent_openssl_filter_new(
	    base, pair[0], ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!f)
		return (void *)1;
	bufferevent_free(f);
	bufferevent_free(pair[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	return NULL;
}

static int round_in_child(void)
{
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return 1;
	smtp_tls_warm(ctx);
	pthread_barrier_init(&start, NULL, THREADS);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, first_filter, NULL))
			return 1;
	int bad = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad |= r != NULL;
	}
	pthread_barrier_destroy(&start);
	SSL_CTX_free(ctx);
	return bad;
}

int main(void)
{
	int failed = 0;
	for (int r = 0; r < ROUNDS; r++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			exit(round_in_child()); /* not _exit: LeakSanitizer checks at exit */
		int st = 0;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "round %d: child status %d\n", r, st);
			failed++;
		}
	}
	printf("%d rounds, %d failed\n", ROUNDS, failed);
	return failed != 0;
}
