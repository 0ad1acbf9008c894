/*
 * rfc4648_vectors.h: the base64 test vectors of RFC 4648 section 10,
 * typed once for the two encoders that must meet them: include/codec.h
 * (tests/routes/test_codec.c) and the MIME streaming encoder
 * (tests/mime/test_payload.c).
 */
#ifndef RFC4648_VECTORS_H
#define RFC4648_VECTORS_H

#include <stddef.h>

static const struct {
	const char *plain, *b64;
} rfc4648_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

#define RFC4648_N_VECTORS (sizeof rfc4648_vectors / sizeof rfc4648_vectors[0])

#endif
