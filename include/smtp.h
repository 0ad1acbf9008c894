/*
 * smtp.h: the public door of the SMTP front end (gateway/smtp/).
 *
 * The daemon: listeners from gateway.toml, one libevent loop per worker
 * thread, each with its own SO_REUSEPORT socket per listener; RFC 5321
 * sessions with PIPELINING, CHUNKING, STARTTLS, AUTH, PROXY protocol.
 * At the end of a message the session calls delivery_submit() (delivery.h)
 * and answers with the reply that comes back. docs/smtp.md describes it.
 *
 * Never: blocks a worker loop on the network, relays for a domain the
 * routing table does not own.
 */
#ifndef SMTP_H
#define SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * The daemon entry: parses [-c FILE] [-f] (FILE defaults to ./gateway.toml),
 * loads the configuration, binds, loads TLS keys, drops privileges, starts
 * the workers and runs until SIGTERM/SIGINT (drains, then returns 0).
 * SIGHUP reloads the configuration. Returns the process exit status.
 */
int smtp_serve_main(int argc, char **argv);

/*
 * Runs the server on an already loaded configuration (takes ownership of
 * cfg). Same lifecycle as smtp_serve_main(); path is used for reloads.
 */
int smtp_serve(struct gw_config *cfg, const char *path);

/*
 * Loads what the file checks of config_load() cannot judge: every
 * [[tls.certificate]] chain and key (they must match), every CA file of
 * [webhook] and the routes (at least one PEM certificate) and every webhook
 * client certificate with its key. Used by `check`, at start and on reload.
 * Errors are logged; 0 or -1.
 */
int smtp_tls_check(const struct gw_config *cfg);

#endif
