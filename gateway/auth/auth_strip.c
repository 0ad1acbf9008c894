/*
 * auth_strip.c: RFC 8601 section 5: a border MTA removes the
 * Authentication-Results fields that claim its own authserv-id before it
 * adds its own, so that a sender cannot forge our verdict. This file finds
 * those fields (in the header only) and copies the message without them.
 *
 * Must never: look past the header's empty line, read past len, or drop a
 * field whose authserv-id is not exactly ours (compared without case).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "dmarc.h"

#define AR_NAME   "Authentication-Results"
#define AR_ID_MAX 256

/* Skips whitespace, line breaks and (nested) comments from v[i]. */
static size_t skip_cfws(const char *v, size_t n, size_t i)
{
	int depth = 0;
	for (; i < n; i++) {
		char c = v[i];
		if (depth > 0) {
			if (c == '\\')
				i++;
			else
				depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			continue;
		}
		if (c == '(')
			depth = 1;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
	return i;
}

/* The authserv-id of a field value (token or quoted-string) into id; false if none. */
static bool authserv_id_of(const char *v, size_t n, char *id)
{
	size_t i = skip_cfws(v, n, 0), o = 0;
	if (i < n && v[i] == '"') {
		for (i++; i < n && v[i] != '"' && o + 1 < AR_ID_MAX; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			id[o++] = v[i];
		}
	} else {
		for (; i < n && o + 1 < AR_ID_MAX; i++) {
			char c = v[i];
			if (c == ';' || c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n')
				break;
			id[o++] = c;
		}
	}
	id[o] = '\0';
	return o > 0;
}

/* If the field at p (flen bytes) is an Authentication-Results field, its value offset. */
static size_t ar_value_offset(const char *p, size_t flen)
{
	size_t nl = strlen(AR_NAME), k = nl;
	if (flen <= nl || strncasecmp(p, AR_NAME, nl) != 0)
		return 0;
	while (k < flen && (p[k] == ' ' || p[k] == '\t'))
		k++;
	return k < flen && p[k] == ':' ? k + 1 : 0;
}

size_t auth_ar_ranges(const char *msg, size_t len, const char *authserv_id, size_t *ranges,
                      size_t max)
{
	size_t count = 0, i = 0;
	while (i < len) {
		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
			break; /* the empty line: the body is not ours to touch */
		size_t flen = dmarc_field_len(msg + i, len - i);
		size_t off = ar_value_offset(msg + i, flen);
		char id[AR_ID_MAX];
		if (off && authserv_id_of(msg + i + off, flen - off, id) &&
		    strcasecmp(id, authserv_id) == 0) {
			if (count < max) {
				ranges[2 * count] = i;
				ranges[2 * count + 1] = i + flen;
			}
			count++;
		}
		i += flen;
	}
	return count;
}

char *auth_strip_ar(const char *msg, size_t len, const char *authserv_id, size_t *out_len)
{
	size_t n = auth_ar_ranges(msg, len, authserv_id, NULL, 0), o = 0, prev = 0;
	size_t *r = calloc(2 * n + 2, sizeof(*r));
	char *out = malloc(len + 1);
	if (!out || !r) {
		free(r);
		free(out);
		return NULL;
	}
	auth_ar_ranges(msg, len, authserv_id, r, n);
	for (size_t k = 0; k < n; k++) {
		memcpy(out + o, msg + prev, r[2 * k] - prev);
		o += r[2 * k] - prev;
		prev = r[2 * k + 1];
	}
	memcpy(out + o, msg + prev, len - prev);
	o += len - prev;
	out[o] = '\0';
	*out_len = o;
	free(r);
	return out;
}
