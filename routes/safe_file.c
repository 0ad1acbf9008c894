/*
 * safe_file.c: reading a file the configuration names (include/safe_file.h).
 * Opened non-blocking and checked on the descriptor it is read from (no
 * stat-then-open race): a FIFO or device is refused before any read, a file
 * over its bound before any allocation.
 *
 * Never: block on open or read of something that is not a regular file,
 * read more than the bound, accept a private file others can read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_file.h"

static int open_checked(const char *path, size_t max, unsigned flags, struct stat *st, char *err,
                        size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		goto fail;
	}
	if ((flags & SAFE_FILE_PRIVATE) && (st->st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen, "'%s' may be read by others (mode %03o): chmod 600 it", path,
		         (unsigned)(st->st_mode & 0777));
		goto fail;
	}
	if ((unsigned long long)st->st_size > max) {
		snprintf(err, errlen, "'%s' is larger than %zu bytes", path, max);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int safe_file_check(const char *path, size_t max, unsigned flags, char *err, size_t errlen)
{
	struct stat st;
	int fd = open_checked(path, max, flags, &st, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

char *safe_file_read(const char *path, size_t max, unsigned flags, size_t *len, char *err,
                     size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd = open_checked(path, max, flags, &st, err, errlen);
	if (fd < 0)
		return NULL;
	size_t want = (size_t)st.st_size;
	char *buf = malloc(want + 1);
	if (!buf) {
		snprintf(err, errlen, "'%s': out of memory", path);
		close(fd);
		return NULL;
	}
	while (got < want) { /* a file that shrank meanwhile ends early; one that grew is cut */
		ssize_t n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (len)
		*len = got;
	return buf;
}
