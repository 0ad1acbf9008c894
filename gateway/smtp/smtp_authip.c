/*
 * smtp_authip.c: AUTH bookkeeping per client address (the key of
 * smtp_admit_key(): IPv6 cut to ipv6_prefix_per_ip), across the sessions
 * and workers of the process. Two things are counted: failed attempts, in
 * a leaky bucket that drains max_auth_failures_per_ip per
 * auth_failure_window, and password checks running or queued, at most
 * max_auth_checks_per_ip, so that one address cannot hold the whole
 * password-check pool (smtp_sasl.c) while others wait.
 *
 * One table of auth_ip_table_size entries, allocated at the first AUTH,
 * 8-way set associative under a hash keyed at random per process (a
 * client cannot aim its addresses at one set); one mutex, held for a few
 * comparisons.
 *
 * Never: forget an address that still has failures or checks to make room
 * (an address that finds no free way is refused: the bound fails closed),
 * allocate after the first use, block.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "smtp_admit.h"
#include "smtp_sasl.h"
#include "smtp_session.h"

#define AUTHIP_WAYS 8

struct authip_entry {
	char key[72];    /* smtp_session.ip_key; "" when free */
	double failures; /* drained to the time of at_ms */
	uint64_t at_ms;
	uint32_t checks; /* running or queued */
};

static struct {
	pthread_mutex_t lock;
	struct authip_entry *e;
	size_t n_sets;
	uint64_t seed;
	bool failed; /* allocation failed: every AUTH is refused */
} table = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, false};

static bool table_ready(const struct gw_limits *lim)
{
	if (table.e || table.failed)
		return table.e != NULL;
	size_t sets = (lim->auth_ip_table_size + AUTHIP_WAYS - 1) / AUTHIP_WAYS;
	table.e = calloc(sets * AUTHIP_WAYS, sizeof *table.e);
	if (!table.e || RAND_bytes((unsigned char *)&table.seed, sizeof table.seed) != 1) {
		free(table.e);
		table.e = NULL;
		table.failed = true;
		return false;
	}
	table.n_sets = sets;
	return true;
}

static uint64_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull ^ table.seed;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static void drain(struct authip_entry *e, const struct gw_limits *lim, uint64_t now)
{
	if (now > e->at_ms && e->failures > 0) {
		double rate =
		    (double)lim->max_auth_failures_per_ip / (double)lim->auth_failure_window_ms;
		e->failures -= (double)(now - e->at_ms) * rate;
		if (e->failures < 0)
			e->failures = 0;
	}
	e->at_ms = now;
}

/* The entry of key, or a new one in a free or clean way; NULL when the set is full. */
static struct authip_entry *find(const struct gw_limits *lim, const char *key, bool create)
{
	uint64_t now = smtp_mono_ms();
	struct authip_entry *set = table.e + (key_hash(key) % table.n_sets) * AUTHIP_WAYS;
	struct authip_entry *room = NULL;
	for (size_t i = 0; i < AUTHIP_WAYS; i++) {
		struct authip_entry *e = &set[i];
		if (e->key[0] && strcmp(e->key, key) == 0) {
			drain(e, lim, now);
			return e;
		}
		if (!e->key[0]) {
			room = room ? room : e;
			continue;
		}
		drain(e, lim, now);
		if (!room && e->failures <= 0 && e->checks == 0)
			room = e; /* nothing left to remember about that address */
	}
	if (!create || !room)
		return NULL;
	memset(room, 0, sizeof *room);
	snprintf(room->key, sizeof room->key, "%s", key);
	room->at_ms = now;
	return room;
}

enum smtp_authip_verdict smtp_authip_begin(const struct gw_limits *lim, const char *key)
{
	enum smtp_authip_verdict v = AUTHIP_FULL;
	pthread_mutex_lock(&table.lock);
	struct authip_entry *e = table_ready(lim) ? find(lim, key, true) : NULL;
	if (!e)
		v = AUTHIP_FULL;
	else if (e->failures > (double)lim->max_auth_failures_per_ip - 1.0)
		/* max failures, drained by less than one: blocked until one whole has gone */
		v = AUTHIP_FAILURES;
	else if (e->checks >= lim->max_auth_checks_per_ip)
		v = AUTHIP_BUSY;
	else {
		e->checks++;
		v = AUTHIP_OK;
	}
	pthread_mutex_unlock(&table.lock);
	return v;
}

void smtp_authip_end(const struct gw_limits *lim, const char *key)
{
	pthread_mutex_lock(&table.lock);
	struct authip_entry *e = table.e ? find(lim, key, false) : NULL;
	if (e && e->checks)
		e->checks--;
	pthread_mutex_unlock(&table.lock);
}

void smtp_authip_failed(const struct gw_limits *lim, const char *key)
{
	pthread_mutex_lock(&table.lock);
	struct authip_entry *e = table_ready(lim) ? find(lim, key, true) : NULL;
	if (e)
		e->failures += 1;
	pthread_mutex_unlock(&table.lock);
}
