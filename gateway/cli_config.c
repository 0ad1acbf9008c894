/*
 * cli_config.c: the subcommands that only read the configuration:
 * `check` (validate, load the TLS files it names, summarise), `route`
 * (what each address would get) and `config-doc` (docs/configuration.md
 * from the key tables). They never touch the network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "routes.h"
#include "smtp.h"

#define DEFAULT_CONFIG "gateway.toml"

/* Takes "-c FILE" / "--config FILE" out of argv; returns the file. */
static const char *config_arg(int *argc, char **argv)
{
	const char *file = DEFAULT_CONFIG;
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
		    i + 1 < *argc) {
			file = argv[++i];
			continue;
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	return file;
}

/* The TOML parser's own cap on a document (routes/toml/toml.c). */
#define CLI_CONFIG_MAX (64u << 20)

/*
 * "-" is standard input and "/dev/fd/N" descriptor N: a pipe or a
 * process substitution, which can be read only once and is no regular
 * file. Returns the descriptor, or -1 for a path to open as a file.
 */
static int stream_fd(const char *file)
{
	char *end;
	if (strcmp(file, "-") == 0)
		return STDIN_FILENO;
	if (strncmp(file, "/dev/fd/", 8) != 0 || !file[8])
		return -1;
	errno = 0;
	long n = strtol(file + 8, &end, 10);
	return *end || errno || n < 0 || n > 65535 ? -1 : (int)n;
}

/* Reads fd to its end, once, at most CLI_CONFIG_MAX octets; then loads the buffer. */
static struct gw_config *load_stream(const char *file, int fd, struct gw_diag *diag)
{
	size_t len = 0, cap = 64 * 1024;
	char *buf = malloc(cap);
	struct gw_config *cfg = NULL;
	for (ssize_t r = 1; buf && r > 0;) {
		if (len == cap && cap < CLI_CONFIG_MAX) {
			char *b = realloc(buf, cap *= 2);
			if (!b)
				break;
			buf = b;
		}
		if (len == cap) {
			diag_add_error(diag, file, 0, 0, "larger than %u bytes", CLI_CONFIG_MAX);
			goto out;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			r = 1;
		else if (r < 0) {
			diag_add_error(diag, file, 0, 0, "cannot read: %s", strerror(errno));
			goto out;
		} else
			len += (size_t)r;
	}
	if (buf)
		cfg = config_load_buffer(buf, len, file, diag);
	else
		diag_add_error(diag, file, 0, 0, "out of memory");
out:
	free(buf);
	return cfg;
}

static struct gw_config *load_or_report(const char *file)
{
	struct gw_diag diag = {0};
	int fd = stream_fd(file);
	struct gw_config *cfg = fd >= 0 ? load_stream(file, fd, &diag) : config_load(file, &diag);

	for (size_t i = 0; i < diag.n_errors; i++)
		fprintf(stderr, "%s\n", diag.errors[i]);
	for (size_t i = 0; i < diag.n_warnings; i++)
		fprintf(stderr, "%s\n", diag.warnings[i]);
	if (!cfg)
		fprintf(stderr, "%s: %zu error%s\n", file, diag.n_errors,
		        diag.n_errors == 1 ? "" : "s");
	diag_free(&diag);
	return cfg;
}

static const char *mode_name(enum gw_listener_mode m)
{
	static const char *const names[] = {"smtp", "smtps", "submission"};

	return names[m];
}

static void summary(const struct gw_config *cfg)
{
	size_t nd = route_domain_count(cfg->table);

	printf("%s: OK\n", cfg->path);
	printf("hostname: %s\n", cfg->server.hostname);
	printf("listeners: %zu\n", cfg->n_listeners);
	for (size_t i = 0; i < cfg->n_listeners; i++)
		printf("  %s %s%s\n", cfg->listeners[i].address, mode_name(cfg->listeners[i].mode),
		       cfg->listeners[i].proxy_protocol ? " proxy_protocol" : "");
	printf("tls certificates: %zu\n", cfg->n_certs);
	printf("domains: %zu\n", nd);
	for (size_t i = 0; i < nd && i < 20; i++)
		printf("  %s\n", route_domain_at(cfg->table, i));
	if (nd > 20)
		printf("  ... and %zu more\n", nd - 20);
	printf("routes: %zu\n", cfg->n_routes);
	for (size_t i = 0; i < cfg->n_routes && i < 20; i++) {
		const struct gw_route *r = &cfg->routes[i];

		printf("  %s: %s%s -> %s\n", r->name, r->match[0], r->n_match > 1 ? " ..." : "",
		       r->url);
	}
	if (cfg->n_routes > 20)
		printf("  ... and %zu more\n", cfg->n_routes - 20);
}

int cli_check(int argc, char **argv)
{
	const char *file = config_arg(&argc, argv);
	struct gw_config *cfg;

	if (argc > 1) {
		fprintf(stderr, "usage: smtp-gateway check [-c FILE|-]\n");
		return 2;
	}
	cfg = load_or_report(file);
	if (!cfg)
		return 1;
	if (smtp_tls_check(cfg) < 0) {
		fprintf(stderr, "%s: TLS files refused\n", file);
		config_free(cfg);
		return 1;
	}
	summary(cfg);
	config_free(cfg);
	return 0;
}

static void print_route(const char *address, const struct route_table *t)
{
	struct route_match m;

	memset(&m, 0, sizeof(m));
	switch (route_lookup(t, address, &m)) {
	case ROUTE_MATCH:
		printf("%s: route %s (%s \"%s\"", address, m.route->name,
		       route_match_kind_name(m.kind), m.pattern);
		if (m.addr.has_tag)
			printf(", tag \"%s\"", m.addr.tag);
		printf(") -> %s\n", m.route->url);
		break;
	case ROUTE_UNKNOWN_USER:
		printf("%s: 550 5.1.1 unknown user: no route for this address in %s\n", address,
		       m.addr.domain);
		break;
	case ROUTE_NOT_OURS:
		printf("%s: 550 5.7.1 relay refused: %s is not a domain we accept\n", address,
		       m.addr.domain[0] ? m.addr.domain : "this");
		break;
	case ROUTE_BAD_ADDRESS:
		printf("%s: 501 5.1.3 bad recipient address syntax\n", address);
		break;
	}
}

int cli_route(int argc, char **argv)
{
	const char *file = config_arg(&argc, argv);
	struct gw_config *cfg;

	if (argc < 2) {
		fprintf(stderr, "usage: smtp-gateway route [-c FILE] ADDRESS...\n");
		return 2;
	}
	cfg = load_or_report(file);
	if (!cfg)
		return 1;
	for (int i = 1; i < argc; i++)
		print_route(argv[i], cfg->table);
	config_free(cfg);
	return 0;
}

int cli_config_doc(int argc, char **argv)
{
	bool man = argc == 2 && strcmp(argv[1], "--man") == 0;
	if (argc > 2 || (argc == 2 && !man)) {
		fprintf(stderr, "usage: smtp-gateway config-doc [--man]\n");
		return 2;
	}
	if (man)
		config_write_man(stdout, GATEWAY_VERSION);
	else
		config_write_doc(stdout);
	return 0;
}
