/*
 * tests/routes/idna_tool.c: routes/table/idna.c on stdin and stdout, so that
 * test_idna_oracle.py can hold it against an independent implementation
 * (Python's punycode codec). One request per line, one answer per line:
 *   A domain   -> idna_to_ascii(domain), or "ERROR"
 *   U domain   -> idna_to_unicode(domain), or "ERROR"
 *   E text     -> idna_punycode_encode of the UTF-8 text's code points
 *   D punycode -> idna_punycode_decode, as UTF-8, or "ERROR"
 * Lines are at most 4 KiB; anything else answers "ERROR".
 */
#include <string.h>

#include "route_int.h"
#include "utf8.h"

#define LINE_MAX_BYTES 4096
#define CPS_MAX        1024

static int utf8_to_cps(const char *s, uint32_t *cp, size_t cap)
{
	size_t n = 0, len = strlen(s);
	for (size_t i = 0; i < len; n++) {
		size_t k = n < cap ? utf8_decode((const unsigned char *)s + i, len - i, &cp[n]) : 0;
		if (k == 0)
			return -1;
		i += k;
	}
	return (int)n;
}

static void answer(char op, const char *arg)
{
	static char out[LINE_MAX_BYTES * 4];
	static uint32_t cp[CPS_MAX];
	int rc = -1, n;
	switch (op) {
	case 'A':
		rc = idna_to_ascii(arg, out, sizeof out);
		break;
	case 'U':
		rc = idna_to_unicode(arg, out, sizeof out);
		break;
	case 'E':
		n = utf8_to_cps(arg, cp, CPS_MAX);
		rc = n < 0 ? -1 : idna_punycode_encode(cp, (size_t)n, out, sizeof out);
		break;
	case 'D':
		n = idna_punycode_decode(arg, strlen(arg), cp, CPS_MAX);
		rc = n < 0 ? -1 : 0;
		for (size_t i = 0, o = 0; rc == 0 && i < (size_t)n; i++) {
			size_t k = idna_utf8_encode(cp[i], out + o);
			rc = k == 0 ? -1 : 0;
			o += k;
			out[o] = '\0';
		}
		if (n == 0)
			out[0] = '\0';
		break;
	}
	puts(rc < 0 ? "ERROR" : out);
}

int main(void)
{
	char line[LINE_MAX_BYTES + 2];
	while (fgets(line, sizeof line, stdin)) {
		size_t len = strcspn(line, "\n");
		if (len > LINE_MAX_BYTES || len < 2 || line[1] != ' ') {
			puts("ERROR");
			continue;
		}
		line[len] = '\0';
		answer(line[0], line + 2);
	}
	return 0;
}
