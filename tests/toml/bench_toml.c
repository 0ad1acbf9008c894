/*
 * tests/toml/bench_toml.c: speed check of routes/toml/toml.c (a benchmark,
 * never run as a test). Generates a document in memory, parses it a few
 * times and prints the best wall time:
 *   toml-bench keys N      N top-level "kI = I" pairs
 *   toml-bench routes N    N [[route]] tables with three keys each
 *   toml-bench file PATH   an existing file
 * Must never be used to assert anything: timings depend on the machine.
 */
#include "toml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_ROUNDS 5
#define BENCH_MAX_N  10000000L

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *generate(const char *mode, long n, size_t *len)
{
	size_t cap = (size_t)n * 96 + 64, o = 0;
	char *doc = malloc(cap);
	bool routes = strcmp(mode, "routes") == 0;

	if (!doc)
		return NULL;
	for (long i = 0; i < n; i++) {
		if (routes)
			o += (size_t)snprintf(doc + o, cap - o,
			                      "[[route]]\ndomain = \"d%ld.example\"\n"
			                      "url = \"https://hook.example/%ld\"\nretries = %ld\n",
			                      i, i, i % 7);
		else
			o += (size_t)snprintf(doc + o, cap - o, "key%ld = %ld\n", i, i);
	}
	*len = o;
	return doc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)size + 1);
	if (buf)
		*len = fread(buf, 1, (size_t)size, f);
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	double best = 1e9;
	size_t len = 0;
	char *doc, *end;
	long n = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: toml-bench keys|routes N | file PATH\n");
		return 2;
	}
	if (strcmp(argv[1], "file") == 0) {
		doc = slurp(argv[2], &len);
	} else {
		errno = 0;
		n = strtol(argv[2], &end, 10);
		if (errno || *end || n < 1 || n > BENCH_MAX_N) {
			fprintf(stderr, "N must be 1..%ld\n", BENCH_MAX_N);
			return 2;
		}
		doc = generate(argv[1], n, &len);
	}
	if (!doc) {
		fprintf(stderr, "cannot get the document\n");
		return 1;
	}
	for (int r = 0; r < BENCH_ROUNDS; r++) {
		toml_error err;
		double t0 = now();
		toml_value *root = toml_parse(doc, len, argv[1], &err);
		double dt = now() - t0;
		if (!root) {
			fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
			free(doc);
			return 1;
		}
		toml_free(root);
		if (dt < best)
			best = dt;
	}
	printf("%s %s: %zu bytes parsed in %.3f ms (best of %d)\n", argv[1], argv[2], len,
	       best * 1e3, BENCH_ROUNDS);
	free(doc);
	return 0;
}
