/*
 * tests/routes/test_route_table.c: the routing table as data. Runs every
 * *.routes case file of the directory given as argv[1] (format below and in
 * docs/routing.md), then a few got/want tables on the API itself.
 *
 * A case file builds one table by hand (no config loader involved) and says
 * what it must answer:
 *   separator +            routing.plus_separator ("separator" alone: "")
 *   case-sensitive         routing.local_part_case_sensitive = true
 *   domain NAME            a routing.domains entry
 *   route NAME PATTERN...  a [[route]]; a pattern's position is its own
 *                          line:column in the case file
 *   warning LINE:COL       the build warns at exactly these positions
 *   error LINE:COL         the build fails, with errors at exactly these
 *   ours DOMAIN / not-ours DOMAIN   route_domain_is_ours()
 *   domains A B ...        route_domain_at(), in order, and the count
 *   ADDRESS -> NAME KIND [tag=TAG] [pattern=PATTERN]
 *   ADDRESS -> unknown|not-ours|bad
 *                          (<empty> stands for the empty address)
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"
#include "unit.h"

#define CASE_ROUTES    64
#define CASE_PATTERNS  16
#define CASE_POSITIONS 32
#define CASE_DOMAINS   16
#define CASE_BYTES     65536

struct position {
	int line, col;
};

struct case_file {
	const char *path;
	char text[CASE_BYTES];
	struct gw_config cfg;
	struct gw_route routes[CASE_ROUTES];
	char *match[CASE_ROUTES][CASE_PATTERNS];
	int match_line[CASE_ROUTES][CASE_PATTERNS], match_col[CASE_ROUTES][CASE_PATTERNS];
	char *domains[CASE_DOMAINS];
	struct position warnings[CASE_POSITIONS], errors[CASE_POSITIONS];
	size_t n_warnings, n_errors;
	bool bad; /* the case file itself is malformed */
};

static void case_fail(struct case_file *c, int line, const char *what)
{
	fprintf(stderr, "%s:%d: %s\n", c->path, line, what);
	unit_failed++;
	c->bad = true;
}

/* The next pattern token: a quoted local part may hold spaces. */
static char *next_token(char **p)
{
	char *s = *p + strspn(*p, " \t");
	if (*s == '\0')
		return NULL;
	char *e = s;
	if (*e == '"') {
		for (e++; *e && *e != '"'; e++)
			if (*e == '\\' && e[1])
				e++;
	}
	e += strcspn(e, " \t");
	if (*e)
		*e++ = '\0';
	*p = e;
	return s;
}

static void parse_route(struct case_file *c, char *line_start, char *rest, int line)
{
	size_t i = c->cfg.n_routes;
	if (i >= CASE_ROUTES)
		return case_fail(c, line, "too many routes");
	struct gw_route *r = &c->routes[i];
	r->name = next_token(&rest);
	r->index = i;
	r->line = line;
	r->col = 1;
	r->match = c->match[i];
	r->match_line = c->match_line[i];
	r->match_col = c->match_col[i];
	char *tok;
	while ((tok = next_token(&rest))) {
		if (r->n_match >= CASE_PATTERNS)
			return case_fail(c, line, "too many patterns");
		c->match[i][r->n_match] = tok;
		c->match_line[i][r->n_match] = line;
		c->match_col[i][r->n_match] = (int)(tok - line_start) + 1;
		r->n_match++;
	}
	if (!r->name || r->n_match == 0)
		return case_fail(c, line, "route needs a name and patterns");
	c->cfg.n_routes++;
}

static void parse_position(struct case_file *c, const char *s, struct position *list, size_t *n,
                           int line)
{
	struct position p;
	if (*n >= CASE_POSITIONS || sscanf(s, "%d:%d", &p.line, &p.col) != 2)
		return case_fail(c, line, "bad position");
	list[(*n)++] = p;
}

/* First pass: the configuration and the expected diagnostics. */
static void parse_config_line(struct case_file *c, char *s, int line)
{
	char *line_start = s;
	if (strncmp(s, "route ", 6) == 0)
		return parse_route(c, line_start, s + 6, line);
	if (strcmp(s, "separator") == 0) {
		c->cfg.routing.plus_separator[0] = '\0';
	} else if (strncmp(s, "separator ", 10) == 0) {
		snprintf(c->cfg.routing.plus_separator, sizeof c->cfg.routing.plus_separator, "%s",
		         s + 10);
	} else if (strcmp(s, "case-sensitive") == 0) {
		c->cfg.routing.local_part_case_sensitive = true;
	} else if (strncmp(s, "domain ", 7) == 0) {
		if (c->cfg.routing.n_domains >= CASE_DOMAINS)
			return case_fail(c, line, "too many domains");
		c->domains[c->cfg.routing.n_domains++] = s + 7;
	} else if (strncmp(s, "warning ", 8) == 0) {
		parse_position(c, s + 8, c->warnings, &c->n_warnings, line);
	} else if (strncmp(s, "error ", 6) == 0) {
		parse_position(c, s + 6, c->errors, &c->n_errors, line);
	}
}

/* Each diagnostic must be at a listed position, and each position used. */
static void check_positions(struct case_file *c, char **msgs, size_t n, const struct position *want,
                            size_t n_want, const char *kind)
{
	size_t plen = strlen(c->path);
	bool used[CASE_POSITIONS] = {false};
	for (size_t i = 0; i < n; i++) {
		struct position p = {0, 0};
		if (strncmp(msgs[i], c->path, plen) == 0 && msgs[i][plen] == ':')
			sscanf(msgs[i] + plen + 1, "%d:%d", &p.line, &p.col);
		bool found = false;
		for (size_t j = 0; j < n_want && !found; j++)
			if (!used[j] && want[j].line == p.line && want[j].col == p.col)
				found = used[j] = true;
		if (!found)
			fprintf(stderr, "%s: unexpected %s: %s\n", c->path, kind, msgs[i]);
		CHECK(found);
	}
	for (size_t j = 0; j < n_want; j++) {
		if (!used[j])
			fprintf(stderr, "%s: missing %s at %d:%d\n", c->path, kind, want[j].line,
			        want[j].col);
		CHECK(used[j]);
	}
}

static const char *const verdict_names[] = {
    [ROUTE_MATCH] = "match",
    [ROUTE_UNKNOWN_USER] = "unknown",
    [ROUTE_NOT_OURS] = "not-ours",
    [ROUTE_BAD_ADDRESS] = "bad",
};

/* "NAME KIND [tag=T] [pattern=P]": what a match is written as in both columns. */
static void describe_want(char *rest, char *out, size_t len)
{
	char *name = next_token(&rest), *kind = next_token(&rest), *tok;
	const char *tag = "(none)", *pattern = NULL;
	while ((tok = next_token(&rest))) {
		if (strncmp(tok, "tag=", 4) == 0)
			tag = tok + 4;
		else if (strncmp(tok, "pattern=", 8) == 0)
			pattern = tok + 8;
	}
	if (!kind) {
		snprintf(out, len, "%s", name ? name : "?");
		return;
	}
	int n = snprintf(out, len, "%s %s tag=%s", name, kind, tag);
	if (pattern && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, " pattern=%s", pattern);
}

static void check_lookup(struct case_file *c, const struct route_table *t, char *s, int line)
{
	char *arrow = strstr(s, " -> ");
	*arrow = '\0';
	const char *addr = strcmp(s, "<empty>") == 0 ? "" : s;
	char want[512], got[512];
	describe_want(arrow + 4, want, sizeof want);
	struct route_match m;
	enum route_verdict v = route_lookup(t, addr, &m);
	if (v != ROUTE_MATCH) {
		snprintf(got, sizeof got, "%s", verdict_names[v]);
	} else {
		int n =
		    snprintf(got, sizeof got, "%s %s tag=%s", m.route->name,
		             route_match_kind_name(m.kind), m.addr.has_tag ? m.addr.tag : "(none)");
		if (strstr(want, " pattern=") && n > 0 && (size_t)n < sizeof got)
			snprintf(got + n, sizeof got - (size_t)n, " pattern=%s", m.pattern);
	}
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n", c->path, line, addr, got,
		        want);
		unit_failed++;
	} else {
		unit_passed++;
	}
}

static void check_domains(const struct route_table *t, char *rest, const char *path, int line)
{
	size_t i = 0;
	char *tok;
	while ((tok = next_token(&rest))) {
		const char *got = route_domain_at(t, i++);
		if (!got || strcmp(got, tok) != 0)
			fprintf(stderr, "%s:%d: domain %zu: got %s, want %s\n", path, line, i - 1,
			        got ? got : "(none)", tok);
		CHECK_STR(got, tok);
	}
	CHECK_INT(route_domain_count(t), i);
	CHECK(route_domain_at(t, i) == NULL);
}

/* Second pass: the questions to the built table. */
static void check_line(struct case_file *c, const struct route_table *t, char *s, int line)
{
	if (strstr(s, " -> "))
		return check_lookup(c, t, s, line);
	bool want_ours = strncmp(s, "ours ", 5) == 0;
	if (want_ours || strncmp(s, "not-ours ", 9) == 0) {
		const char *d = s + (want_ours ? 5 : 9);
		bool got = route_domain_is_ours(t, d);
		if (got != want_ours)
			fprintf(stderr, "%s:%d: route_domain_is_ours(%s) = %d\n", c->path, line, d,
			        got);
		CHECK(got == want_ours);
	} else if (strncmp(s, "domains", 7) == 0) {
		check_domains(t, s + 7, c->path, line);
	}
}

/* Splits text into lines in place; returns the count. */
static size_t split_lines(char *text, char **lines, size_t cap)
{
	size_t n = 0;
	for (char *p = text; *p && n < cap;) {
		char *nl = strchr(p, '\n');
		lines[n++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

static void run_case(const char *path)
{
	static struct case_file c;
	memset(&c, 0, sizeof c);
	c.path = path;
	FILE *f = fopen(path, "r");
	size_t len = f ? fread(c.text, 1, sizeof c.text - 1, f) : 0;
	if (f)
		fclose(f);
	if (!f || len == sizeof c.text - 1)
		return case_fail(&c, 0, "cannot read (or too big)");
	c.text[len] = '\0';

	static char *lines[4096];
	static char copy[CASE_BYTES];
	memcpy(copy, c.text, len + 1);
	size_t n = split_lines(c.text, lines, 4096);
	snprintf(c.cfg.routing.plus_separator, sizeof c.cfg.routing.plus_separator, "+");
	for (size_t i = 0; i < n; i++)
		if (lines[i][0] != '#' && !strstr(lines[i], " -> "))
			parse_config_line(&c, lines[i], (int)i + 1);
	if (c.bad)
		return;
	c.cfg.path = (char *)path;
	c.cfg.routes = c.routes;
	c.cfg.routing.domains = c.domains;

	struct gw_diag diag = {0};
	struct route_table *t = route_table_build(&c.cfg, &diag);
	CHECK((t == NULL) == (c.n_errors > 0));
	check_positions(&c, diag.errors, diag.n_errors, c.errors, c.n_errors, "error");
	check_positions(&c, diag.warnings, diag.n_warnings, c.warnings, c.n_warnings, "warning");
	diag_free(&diag);
	if (t) {
		n = split_lines(copy, lines, 4096);
		for (size_t i = 0; i < n; i++)
			if (lines[i][0] != '#')
				check_line(&c, t, lines[i], (int)i + 1);
	}
	route_table_free(t);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_cases(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		return -1;
	}
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256) {
		size_t len = strlen(e->d_name);
		if (len > 7 && strcmp(e->d_name + len - 7, ".routes") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		run_case(path);
		free(names[i]);
	}
	CHECK(n >= 8); /* the directory really held the cases */
	return 0;
}

/* --- the API beyond the case files ----------------------------------------- */

static struct gw_route api_route(const char *name, char **patterns, size_t n, size_t index)
{
	return (struct gw_route){
	    .name = (char *)name, .index = index, .match = patterns, .n_match = n};
}

static void run_api(void)
{
	char *p1[] = {"Support@Example.COM", "\"john doe\"@example.com"};
	char *p2[] = {"*@*.bücher.example"};
	struct gw_route routes[] = {api_route("one", p1, 2, 0), api_route("two", p2, 1, 1)};
	struct gw_config cfg = {.path = "api", .routes = routes, .n_routes = 2};
	snprintf(cfg.routing.plus_separator, sizeof cfg.routing.plus_separator, "+");
	struct gw_diag diag = {0};
	struct route_table *t = route_table_build(&cfg, &diag);
	CHECK(t != NULL);
	CHECK_INT(diag.n_errors + diag.n_warnings, 0);
	diag_free(&diag);

	struct route_match m;
	CHECK_INT(route_lookup(t, "SUPPORT+Urgent@EXAMPLE.com", &m), ROUTE_MATCH);
	CHECK(m.route == &routes[0]);
	CHECK_INT(m.kind, MATCH_PLUS);
	CHECK_STR(m.pattern, "Support@Example.COM");
	CHECK_STR(m.addr.local, "SUPPORT+Urgent"); /* case kept */
	CHECK_STR(m.addr.tag, "Urgent");
	CHECK_STR(m.addr.domain, "EXAMPLE.com");
	CHECK_STR(m.addr.domain_ascii, "example.com");

	CHECK_INT(route_lookup(t, "\"John Doe\"@example.com", &m), ROUTE_MATCH);
	CHECK_STR(m.addr.local, "John Doe"); /* routed by the unquoted content */
	CHECK_STR(m.pattern, "\"john doe\"@example.com");

	CHECK_INT(route_lookup(t, "x@Mail.BÜCHER.example", &m), ROUTE_MATCH);
	CHECK(m.route == &routes[1]);
	CHECK_STR(m.addr.domain, "Mail.BÜCHER.example");
	CHECK_STR(m.addr.domain_ascii, "mail.xn--bcher-kva.example");
	CHECK_STR(route_match_kind_name(m.kind), "subdomain");

	CHECK_INT(route_lookup(t, "x@[192.0.2.1]", &m), ROUTE_NOT_OURS);
	CHECK_STR(m.addr.domain, "[192.0.2.1]");
	CHECK(m.route == NULL && m.pattern == NULL);
	CHECK_INT(route_lookup(t, "nobody@example.com", NULL), ROUTE_UNKNOWN_USER);
	CHECK_INT(route_lookup(NULL, "support@example.com", NULL), ROUTE_NOT_OURS);
	CHECK_INT(route_lookup(NULL, "nope", NULL), ROUTE_BAD_ADDRESS);
	CHECK_INT(route_lookup(t, NULL, NULL), ROUTE_BAD_ADDRESS);
	CHECK(!route_domain_is_ours(t, NULL));
	CHECK(!route_domain_is_ours(t, "bücher.example")); /* the bare domain is not */
	CHECK(route_domain_is_ours(t, "a.b.XN--BCHER-KVA.example"));
	CHECK_INT(route_domain_count(NULL), 0);
	CHECK(route_domain_at(NULL, 0) == NULL);
	CHECK_STR(route_match_kind_name(MATCH_EXACT), "exact");
	CHECK_STR(route_match_kind_name(MATCH_PLUS), "plus");
	CHECK_STR(route_match_kind_name(MATCH_LOCAL_WILDCARD), "local-wildcard");
	CHECK_STR(route_match_kind_name(MATCH_DOMAIN), "domain");
	route_table_free(t);
	route_table_free(NULL);
}

/* Enough routes that every map grows many times; each must still resolve. */
static void run_many(void)
{
	enum { N = 5000 };
	static char text[N][40];
	static char *pats[N];
	static struct gw_route routes[N];
	for (size_t i = 0; i < N; i++) {
		snprintf(text[i], sizeof text[i], "user%zu@d%zu.example", i, i % 97);
		pats[i] = text[i];
		routes[i] = api_route(text[i], &pats[i], 1, i);
	}
	struct gw_config cfg = {.path = "many", .routes = routes, .n_routes = N};
	snprintf(cfg.routing.plus_separator, sizeof cfg.routing.plus_separator, "+");
	struct gw_diag diag = {0};
	struct route_table *t = route_table_build(&cfg, &diag);
	CHECK(t != NULL);
	diag_free(&diag);
	size_t ok = 0;
	for (size_t i = 0; i < N; i++) {
		struct route_match m;
		ok += route_lookup(t, text[i], &m) == ROUTE_MATCH && m.route == &routes[i];
	}
	CHECK_INT(ok, N);
	CHECK_INT(route_domain_count(t), 97);
	CHECK_INT(route_lookup(t, "user1@d2.example", NULL), ROUTE_UNKNOWN_USER);
	route_table_free(t);
}

static const struct {
	const char *glob, *s;
	bool want;
} globs[] = {
    {"billing-*", "billing-eu", true},
    {"billing-*", "billing-", true},
    {"billing-*", "billing", false},
    {"*-team", "dev-team", true},
    {"*-team", "dev-teams", false},
    {"a*b*c", "abc", true},
    {"a*b*c", "axxbyyc", true},
    {"a*b*c", "axxbyy", false},
    {"*a*a*a*a*b", "aaaaaaaaaaaaa", false},
    {"x*", "y", false},
};

static void run_glob(void)
{
	for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++) {
		bool got = route_glob_match(globs[i].glob, globs[i].s);
		if (got != globs[i].want)
			fprintf(stderr, "glob %s ~ %s: got %d\n", globs[i].glob, globs[i].s, got);
		CHECK(got == globs[i].want);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_route_table CASES_DIR\n");
		return 2;
	}
	if (run_cases(argv[1]) < 0)
		return 1;
	run_api();
	run_many();
	run_glob();
	return UNIT_END("routes-table");
}
