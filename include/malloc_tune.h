/*
 * malloc_tune.h: sizes glibc's per-thread allocation cache for the
 * daemon's allocation pattern; the daemon (gateway/main.c) and the
 * benchmarks that measure its allocator (tests/mime/bench_payload.c) call
 * this one function, so that both run the same allocator.
 *
 * glibc keeps 7 freed chunks per size class in each thread's cache. One
 * message builds and frees a GMime tree and a JSON tree of a few hundred
 * chunks of a few sizes; past the 7th they go through the arena's shared
 * bins and their consolidation, about a tenth of the daemon's instructions
 * per 5 KB message (callgrind, docs/benchmark.md). 256 per class keeps one
 * message's worth; a thread then holds at most 256 chunks in each of the 64
 * classes up to 1,032 bytes (under 9 MB), in practice far less. The count is a
 * tunable read only when a process starts, so the process executes itself
 * again, once, with it set. An operator's own GLIBC_TUNABLES is left as it
 * is (set it empty to measure glibc's default), and so is a process under a
 * preloaded tool (valgrind) or a sanitizer, which the new image would escape
 * or ignore. If the exec fails the process runs as it is.
 */
#ifndef MALLOC_TUNE_H
#define MALLOC_TUNE_H

#include <stdlib.h>
#include <unistd.h>

/* gcc says __SANITIZE_ADDRESS__; clang says __has_feature(address_sanitizer) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MALLOC_TUNE_ASAN 1
#endif
#endif
#ifndef MALLOC_TUNE_ASAN
#define MALLOC_TUNE_ASAN 0
#endif

/*
 * The two thresholds: glibc gives the free top of a thread's heap back to
 * the kernel once it passes 128 KB and moves its mmap threshold as it
 * goes, so a 30 KB message whose buffers reach past the top made the next
 * one fault its pages in again: 5-14 page faults per message of the 29 KB
 * multipart benchmark, about 1 per 5 KB message (/proc minflt). A fixed
 * 4 MB trim threshold keeps that much at most per arena (RSS +1-2 MB with
 * two workers) and a fixed 1 MB mmap threshold still gives every large
 * buffer (a big message's) back the moment it is freed: 0.02 faults per
 * message.
 */
#define MALLOC_TUNABLES                                                                            \
	"glibc.malloc.tcache_count=256:glibc.malloc.trim_threshold=4194304:"                       \
	"glibc.malloc.mmap_threshold=1048576"

/* Re-executes the process (argv) once with MALLOC_TUNABLES; returns if it does not. */
static inline void malloc_tune(char **argv)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !MALLOC_TUNE_ASAN
	if (getenv("GLIBC_TUNABLES") || getenv("LD_PRELOAD"))
		return;
	if (setenv("GLIBC_TUNABLES", MALLOC_TUNABLES, 0) < 0)
		return;
	execv("/proc/self/exe", argv);
	unsetenv("GLIBC_TUNABLES");
#else
	(void)argv;
#endif
}

#endif
