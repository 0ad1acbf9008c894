/*
 * smtp_cmd.h: the verb table (smtp_cmd.c).
 */
#ifndef SMTP_CMD_H
#define SMTP_CMD_H

#include <stddef.h>

struct smtp_session;

/* ---- commands (smtp_cmd.c) ---- */

/* Handles one complete command line (NUL-terminated, CR LF removed). */
void smtp_cmd_dispatch(struct smtp_session *s, char *line, size_t len);

#endif
