/*
 * spam_fields.c: header fields of the message by name, for rspamd's
 * "rewrite subject" (the message's Subject fields are cut and the new one
 * prepended). Pure: bytes in, byte ranges out.
 *
 * RFC 5322 2.2 and 2.2.3: a field is a line "name:" (the name may be
 * followed by spaces before the colon, as obsolete syntax allows) and every
 * following line that starts with a space or a tab; the header section
 * ends at the first empty line. LF alone is taken as a line end too.
 *
 * Never: report a range past len, or one in the body.
 */
#include <string.h>
#include <strings.h>

#include "spam.h"

/* The end of the line at p (after its LF), or end. */
static const char *line_end(const char *p, const char *end)
{
	while (p < end && *p != '\n')
		p++;
	return p < end ? p + 1 : end;
}

/* Does the line at p start field name? */
static bool is_field(const char *p, const char *end, const char *name, size_t n)
{
	if ((size_t)(end - p) <= n || strncasecmp(p, name, n) != 0)
		return false;
	for (p += n; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	return p < end && *p == ':';
}

size_t spam_field_ranges(const char *msg, size_t len, const char *name, size_t *ranges, size_t max)
{
	const char *p = msg, *end = msg + len;
	size_t n = strlen(name), found = 0;
	while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
		const char *start = p;
		bool match = is_field(p, end, name, n);
		p = line_end(p, end);
		while (p < end && (*p == ' ' || *p == '\t'))
			p = line_end(p, end); /* folded continuation lines */
		if (!match)
			continue;
		if (found < max) {
			ranges[2 * found] = (size_t)(start - msg);
			ranges[2 * found + 1] = (size_t)(p - msg);
		}
		found++;
	}
	return found;
}
