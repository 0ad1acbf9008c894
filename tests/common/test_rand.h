/*
 * test_rand.h: the pseudo-random numbers of the C tests and benchmarks,
 * written once: xorshift32 (Marsaglia, "Xorshift RNGs", 2003) from a fixed
 * seed, so that every run generates the same data and a failure repeats.
 * Never for anything that must be unpredictable.
 */
#ifndef TEST_RAND_H
#define TEST_RAND_H

#include <stdint.h>

#define TEST_RAND_SEED 2463534242u /* Marsaglia's example seed; any non-zero value works */

/* The next number of the stream whose state is *s (never 0). */
static inline uint32_t test_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

#endif
