/*
 * safe_file.h: the one way to read a file the configuration names
 * (gateway.toml, secret and password-hash files, TLS certificates, keys and
 * CA files, the Public Suffix List). A FIFO, a device or a directory named
 * there must give an error at once, never block the loader or the signal
 * loop that reloads it, and nothing may be read without a size bound.
 */
#ifndef SAFE_FILE_H
#define SAFE_FILE_H

#include <stddef.h>

enum {
	SAFE_FILE_PRIVATE = 1 << 0, /* refused when group or others have any permission on it */
};

/* Maximum sizes of what configurations name (bytes). */
#define SAFE_FILE_PEM_MAX (1u << 20)  /* a certificate chain, key or CA bundle */
#define SAFE_FILE_PSL_MAX (16u << 20) /* the Public Suffix List (about 250 KB in 2026) */

/*
 * Opens path with O_NONBLOCK|O_CLOEXEC|O_NOCTTY (a FIFO opens without a
 * writer), checks on that descriptor that it is a regular file (and, with
 * SAFE_FILE_PRIVATE, that only its owner may read it) and not over max
 * bytes, and reads it whole. Returns a malloc'd copy with a NUL after the
 * *len bytes; NULL with a one-line reason in err ("'PATH' is not a regular
 * file", ...) on any failure.
 */
char *safe_file_read(const char *path, size_t max, unsigned flags, size_t *len, char *err,
                     size_t errlen);

/* The same checks without keeping the bytes (a file a library reads itself): 0 or -1. */
int safe_file_check(const char *path, size_t max, unsigned flags, char *err, size_t errlen);

#endif
