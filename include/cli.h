/*
 * cli.h: the five subcommands of smtp-gateway, dispatched by
 * gateway/main.c. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the exit status; each lives in the folder of
 * the stage it drives. Common option: -c FILE (default ./gateway.toml).
 * Their own output (stdout, and usage or errors on stderr) is the one
 * place outside the log module where gateway/ writes to a stream itself.
 */
#ifndef CLI_H
#define CLI_H

int cli_check(int argc, char **argv);      /* gateway/cli_config.c */
int cli_route(int argc, char **argv);      /* gateway/cli_config.c */
int cli_config_doc(int argc, char **argv); /* gateway/cli_config.c */

/* smtp-gateway parse [--pretty] FILE|- (gateway/mime/payload_cli.c) */
int payload_cli(int argc, char **argv);

/* smtp-gateway auth --ip ADDR --helo NAME --from ADDRESS [-c FILE] FILE.eml
 * (gateway/auth_cli.c: it answers with the SMTP reply catalogue, so it sits
 * above gateway/auth/ and gateway/smtp/) */
int auth_cli(int argc, char **argv);

#endif
