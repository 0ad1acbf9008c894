/*
 * from-domains: the author domains DMARC takes from header blocks, for
 * test_from_property.py. Reads one header block per line, hex-encoded (so
 * that any byte may appear); writes one JSON object per line:
 * {"rc": n, "domains": [...], "error": "..." or null}.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "test_json.h"

#define LINE_MAX_BYTES (1u << 20)

int main(void)
{
	static char line[LINE_MAX_BYTES * 2 + 2];
	static unsigned char hdr[LINE_MAX_BYTES];
	while (fgets(line, sizeof(line), stdin)) {
		size_t n = strcspn(line, "\r\n");
		size_t hl = n / 2;
		if (n % 2 || hl > sizeof(hdr))
			return 2;
		for (size_t i = 0; i < hl; i++) {
			unsigned v;
			if (sscanf(line + 2 * i, "%2x", &v) != 1)
				return 2;
			hdr[i] = (unsigned char)v;
		}
		char out[DMARC_MAX_AUTHORS][DMARC_DOMAIN_MAX];
		struct dmarc_from_info fi;
		int rc = dmarc_from_domains((const char *)hdr, hl, out, DMARC_MAX_AUTHORS, &fi);
		json_t *d = json_array();
		for (int i = 0; i < rc && i < DMARC_MAX_AUTHORS; i++)
			json_array_append_new(d, json_string(out[i]));
		json_t *j = json_pack("{s:i, s:o, s:o}", "rc", rc, "domains", d, "error",
		                      rc == DMARC_FROM_ERROR ? json_string(fi.error) : json_null());
		test_json_line(j);
	}
	return 0;
}
