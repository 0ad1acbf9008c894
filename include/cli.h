/*
 * cli.h: the subcommands of smtp-gateway. Each takes the arguments after
 * its name (argv[0] is the subcommand) and returns the exit status.
 * Common option: -c FILE (default ./gateway.toml).
 */
#ifndef CLI_H
#define CLI_H

int cli_check(int argc, char **argv);      /* gateway/cli_config.c */
int cli_route(int argc, char **argv);      /* gateway/cli_config.c */
int cli_config_doc(int argc, char **argv); /* gateway/cli_config.c */

#endif
