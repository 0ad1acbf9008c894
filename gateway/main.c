/*
 * main.c: the smtp-gateway command line. Dispatches to one subcommand; with
 * none, runs the daemon, after sizing glibc's per-thread allocation cache
 * for it (malloc_tune()). Owns nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "smtp.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
    {"check", cli_check, "check [-c FILE]           validate the configuration and summarise it"},
    {"route", cli_route,
     "route [-c FILE] ADDRESS... show the route (or SMTP reply) of each address"},
    {"config-doc", cli_config_doc, "config-doc                print docs/configuration.md"},
    {"parse", payload_cli, "parse [--pretty] FILE|-   print the webhook payload of a message"},
    {"auth", auth_cli, "auth --ip IP --helo NAME --from ADDR [-c FILE] FILE  SPF/DKIM/ARC/DMARC"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: smtp-gateway [-c FILE]          run the gateway\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "       smtp-gateway %s\n", commands[i].usage);
	fprintf(f, "       smtp-gateway --help | --version\n"
	           "-c FILE defaults to ./gateway.toml\n");
}

/* gcc says __SANITIZE_ADDRESS__; clang says __has_feature(address_sanitizer) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAS_ASAN 1
#endif
#endif
#ifndef HAS_ASAN
#define HAS_ASAN 0
#endif

/*
 * glibc keeps 7 freed chunks per size class in each thread's cache. One
 * message builds and frees a GMime tree and a JSON tree of a few hundred
 * chunks of a few sizes; past the 7th they go through the arena's shared
 * bins and their consolidation, about a tenth of the daemon's instructions
 * per 5 KB message (callgrind, docs/benchmark.md). 256 per class keeps one
 * message's worth; a thread then holds at most 256 chunks in each of the 64
 * classes up to 1,032 bytes (under 9 MB), in practice far less. The count is a
 * tunable read only when a process starts, so the daemon executes itself
 * again, once, with it set. An operator's own GLIBC_TUNABLES is left as it
 * is, and so is a process under a preloaded tool (valgrind) or a sanitizer,
 * which the new image would escape or ignore. If the exec fails the daemon
 * runs as it is.
 */
#define MALLOC_TUNABLES "glibc.malloc.tcache_count=256"

static void malloc_tune(char **argv)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !HAS_ASAN
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

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("smtp-gateway %s\n", GATEWAY_VERSION);
		return 0;
	}
	if (argc >= 2 && argv[1][0] != '-') {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].run(argc - 1, argv + 1);
		fprintf(stderr, "smtp-gateway: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	malloc_tune(argv);
	return smtp_serve_main(argc, argv);
}
