/*
 * psl_test.c: the RFC 7489 Organizational Domain (dmarc_psl_org_domain)
 * against the Public Suffix List's own test vectors (tests.txt: "input
 * expected" pairs, "null" for none), with the list of the same snapshot.
 * Usage: dmarc-psl-test public_suffix_list.dat tests.txt
 */
#include <libpsl.h>
#include <stdio.h>
#include <string.h>

#include "dmarc.h"
#include "unit.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: dmarc-psl-test LIST.dat tests.txt\n");
		return 2;
	}
	psl_ctx_t *psl = psl_load_file(argv[1]);
	FILE *f = fopen(argv[2], "r");
	if (!psl || !f) {
		fprintf(stderr, "dmarc-psl-test: cannot load %s or %s\n", argv[1], argv[2]);
		return 2;
	}
	char line[1024];
	int cases = 0;
	while (fgets(line, sizeof(line), f) && cases < 10000) {
		char in[512], want[512];
		if (line[0] == '/' || line[0] == '\n' || sscanf(line, "%511s %511s", in, want) != 2)
			continue;
		cases++;
		char got[DMARC_DOMAIN_MAX];
		int rc = dmarc_psl_org_domain(psl, strcmp(in, "null") == 0 ? NULL : in, got);
		if (strcmp(want, "null") == 0) {
			if (rc != -1)
				fprintf(stderr, "%s: got %s, want none\n", in, got);
			CHECK_INT(rc, -1);
		} else {
			CHECK_STR(rc == 0 ? got : "(none)", want);
		}
	}
	fclose(f);
	psl_free(psl);
	printf("psl vectors: %d\n", cases);
	CHECK(cases > 0);
	return UNIT_END("dmarc-psl");
}
