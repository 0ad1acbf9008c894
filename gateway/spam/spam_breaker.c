/*
 * spam_breaker.c: the circuit breaker in front of rspamd, per worker. The
 * same rule as a webhook route's (gateway/webhook/delivery.c): after
 * [spam] circuit_breaker_threshold consecutive failed checks it opens, and
 * while open every message gets the failure policy at once instead of
 * waiting [spam] timeout for a dead rspamd; every circuit_breaker_probe one
 * check goes through as a probe, and its success closes it.
 *
 * Pure: the clock is an argument, so tests can drive it.
 * Never: let more than one probe run at once; open when threshold is 0.
 */
#include "spam.h"

bool spam_breaker_allow(struct spam_breaker *b, uint64_t now_ms)
{
	if (!b->open)
		return true;
	if (b->probing || now_ms < b->next_probe_ms)
		return false;
	b->probing = true;
	b->next_probe_ms = now_ms + b->probe_ms;
	return true;
}

int spam_breaker_record(struct spam_breaker *b, bool ok, uint64_t now_ms)
{
	b->probing = false;
	if (ok) {
		b->failures = 0;
		if (!b->open)
			return 0;
		b->open = false;
		return -1;
	}
	if (b->failures < UINT32_MAX)
		b->failures++;
	if (b->open) { /* a failed probe: the next one waits a whole period */
		b->next_probe_ms = now_ms + b->probe_ms;
		return 0;
	}
	if (b->threshold == 0 || b->failures < b->threshold)
		return 0;
	b->open = true;
	b->next_probe_ms = now_ms + b->probe_ms;
	return 1;
}
