/*
 * payload_cli.c: `smtp-gateway parse [--pretty] [--attachments=MODE]
 * [--raw] FILE.eml|-`, the preview of what a route's webhook receives for
 * a message (envelope and auth empty, as no SMTP session produced them).
 *
 * Owns: reading the file (bounded by PARSE_MAX_INPUT) and printing the
 * payload through payload_write(), the very function the daemon uses.
 *
 * Must never: read more than PARSE_MAX_INPUT bytes, or print a partial
 * payload without a non-zero exit status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "payload.h"

#define PARSE_MAX_INPUT ((size_t)1 << 31) /* GMime's memory streams count in 32 bits */

static int usage(void)
{
	fprintf(stderr, "usage: smtp-gateway parse [--pretty] [--attachments=inline|metadata|omit] "
	                "[--raw] FILE.eml|-\n");
	return 2;
}

static int read_all(FILE *f, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *p = malloc(cap);

	while (p) {
		size_t r = fread(p + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			if (cap >= PARSE_MAX_INPUT) {
				errno = EFBIG;
				free(p);
				return -1;
			}
			char *q = realloc(p, cap * 2);
			if (!q)
				break;
			p = q;
			cap *= 2;
		}
	}
	if (!p || ferror(f)) {
		free(p);
		return -1;
	}
	*out = p;
	*len = n;
	return 0;
}

static int write_stdout(const char *buf, size_t size, void *data)
{
	return fwrite(buf, 1, size, data) == size ? 0 : -1;
}

static int parse_mode(const char *s, struct payload_options *o)
{
	if (strcmp(s, "inline") == 0)
		o->attachments = ATTACH_INLINE;
	else if (strcmp(s, "metadata") == 0)
		o->attachments = ATTACH_METADATA;
	else if (strcmp(s, "omit") == 0)
		o->attachments = ATTACH_OMIT;
	else
		return -1;
	return 0;
}

int payload_cli(int argc, char **argv)
{
	struct payload_options opt;
	size_t flags = JSON_COMPACT;
	const char *path = NULL;

	payload_options_default(&opt);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pretty") == 0)
			flags = JSON_INDENT(2);
		else if (strcmp(argv[i], "--raw") == 0)
			opt.include_raw = true;
		else if (strncmp(argv[i], "--attachments=", 14) == 0) {
			if (parse_mode(argv[i] + 14, &opt) < 0)
				return usage();
		} else if (!path && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			path = argv[i];
		else
			return usage();
	}
	if (!path)
		return usage();
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *data = NULL;
	size_t len = 0;
	if (!f || read_all(f, &data, &len) < 0) {
		fprintf(stderr, "smtp-gateway parse: %s: %s\n", path, strerror(errno));
		if (f && f != stdin)
			fclose(f);
		return 1;
	}
	if (f != stdin)
		fclose(f);
	struct message_bytes msg = {.data = data, .len = len};
	int rc = payload_write(&msg, NULL, NULL, NULL, &opt, flags | JSON_PRESERVE_ORDER,
	                       write_stdout, stdout);
	free(data);
	if (rc < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "smtp-gateway parse: could not write the payload\n");
		return 1;
	}
	return 0;
}
