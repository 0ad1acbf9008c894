/*
 * tests/routes/fuzz_routes.c: libFuzzer target for the router's input side.
 * Arbitrary bytes go to route_lookup() on a fixed table (every pattern
 * kind), to route_domain_is_ours(), and through the IDNA code, checking
 * properties that must hold for any input:
 *   - idna_to_ascii() is idempotent on its own output;
 *   - idna_to_unicode() of an A-label form converts back to the same form;
 *   - punycode: decode(encode(decode(x))) == decode(x).
 * routes/route_*.c and idna.c are compiled into the target; diag_* are
 * defined here (config.c is not linked) and only count.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"

static size_t diag_count;

void diag_add_error(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	diag_count++;
}

void diag_add_warning(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	diag_count++;
}

static char *patterns[] = {
    "support@example.com",      "billing-*@example.com",
    "a*b*c@example.com",        "*@example.org",
    "*@*.example.net",          "info@bücher.example",
    "\"john doe\"@example.com", "user@xn--e1afmkfd.xn--p1ai",
};

static const struct route_table *table(void)
{
	static struct route_table *t;
	static struct gw_route route;
	static struct gw_config cfg;
	if (t)
		return t;
	route.name = "fuzz";
	route.match = patterns;
	route.n_match = sizeof patterns / sizeof patterns[0];
	cfg.path = "fuzz";
	cfg.routes = &route;
	cfg.n_routes = 1;
	memcpy(cfg.routing.plus_separator, "+", 2);
	t = route_table_build(&cfg, NULL);
	if (!t)
		abort();
	return t;
}

static void check_idna(const char *s)
{
	char a[ROUTE_DOMAIN_MAX], a2[ROUTE_DOMAIN_MAX], u[ROUTE_DOMAIN_MAX * 4];
	if (idna_to_ascii(s, a, sizeof a) != 0)
		return;
	if (idna_to_ascii(a, a2, sizeof a2) != 0 || strcmp(a, a2) != 0)
		abort();
	if (idna_to_unicode(a, u, sizeof u) != 0)
		abort();
	if (idna_to_ascii(u, a2, sizeof a2) != 0 || strcmp(a, a2) != 0)
		abort();
}

static void check_punycode(const char *s, size_t len)
{
	uint32_t cp[256], cp2[256];
	char enc[2048];
	int n = idna_punycode_decode(s, len, cp, 256);
	if (n < 0)
		return;
	if (idna_punycode_encode(cp, (size_t)n, enc, sizeof enc) < 0)
		abort();
	int m = idna_punycode_decode(enc, strlen(enc), cp2, 256);
	if (m != n || memcmp(cp, cp2, (size_t)n * sizeof *cp) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[1024];
	size_t len = size < sizeof buf - 1 ? size : sizeof buf - 1;
	memcpy(buf, data, len);
	buf[len] = '\0';
	len = strlen(buf);
	struct route_match m;
	enum route_verdict v = route_lookup(table(), buf, &m);
	if (v == ROUTE_MATCH && (!m.route || !m.pattern))
		abort();
	route_domain_is_ours(table(), buf);
	check_idna(buf);
	check_punycode(buf, len);
	return 0;
}
