/*
 * main.c: the smtp-gateway command line. Dispatches to one subcommand; with
 * none, runs the daemon, after sizing glibc's per-thread allocation cache
 * for it (malloc_tune(), include/malloc_tune.h). Owns nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "malloc_tune.h"
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
    {"config-doc", cli_config_doc,
     "config-doc [--man]        print docs/configuration.md (or gateway.toml(5))"},
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
