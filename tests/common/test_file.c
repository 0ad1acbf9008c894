/*
 * test_file.c: test_read_file() of test_file.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_file.h"

char *test_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (n + 1 >= cap) { /* room for max + 1 bytes (to see one too many) and the NUL */
			size_t want = cap ? cap * 2 : 65536;

			if (want > max + 2)
				want = max + 2;
			if (!(nb = realloc(buf, want)))
				goto fail;
			buf = nb;
			cap = want;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (n > max)
			goto fail;
	} while (got > 0);
	if (ferror(f))
		goto fail;
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}
