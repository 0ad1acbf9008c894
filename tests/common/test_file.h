/*
 * test_file.h: reading a whole input file in the C test drivers, written
 * once (dkim_check, webhook-post, toml-decoder).
 */
#ifndef TEST_FILE_H
#define TEST_FILE_H

#include <stddef.h>

/*
 * The whole of path ("-": stdin) in a new buffer, NUL-terminated after its
 * *len bytes; NULL when it cannot be opened or read, or is longer than max
 * bytes (the caller frees).
 */
char *test_read_file(const char *path, size_t max, size_t *len);

#endif
