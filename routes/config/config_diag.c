/*
 * config_diag.c: the list of configuration errors and warnings.
 *
 * Every mistake found while loading is kept as "file:line:col: message"
 * (warnings as "file:line:col: warning: message") instead of stopping at
 * the first, so that `check` shows them all (STYLE.md 16). Never prints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "toml.h"

__attribute__((format(printf, 6, 0))) static void
diag_vadd(char ***list, size_t *n, const char *file, int line, int col, const char *fmt, va_list ap)
{
	char msg[768];
	char *s = NULL;
	char **grown;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0) {
		if (asprintf(&s, "%s:%d:%d: %s", file ? file : "-", line, col, msg) < 0)
			return;
	} else if (asprintf(&s, "%s: %s", file ? file : "-", msg) < 0) {
		return;
	}
	grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown) {
		free(s);
		return;
	}
	*list = grown;
	(*list)[(*n)++] = s;
}

static void diag_warning_text(struct gw_diag *d, const char *file, int line, int col, ...)
{
	va_list ap;

	va_start(ap, col);
	diag_vadd(&d->warnings, &d->n_warnings, file, line, col, "warning: %s", ap);
	va_end(ap);
}

void diag_add_error(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	diag_vadd(&d->errors, &d->n_errors, file, line, col, fmt, ap);
	va_end(ap);
}

/* Warnings carry their word in the text: "file:line:col: warning: ...". */
void diag_add_warning(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_warning_text(d, file, line, col, msg);
}

void diag_free(struct gw_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_errors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

__attribute__((format(printf, 3, 4))) void cfg_err_at(struct load *L, const toml_value *v,
                                                      const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add_error(L->diag, L->file, v ? toml_line(v) : 0, v ? toml_col(v) : 0, "%s", msg);
}
