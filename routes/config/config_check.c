/*
 * config_check.c: what no single key can say is wrong.
 *
 * Checks across keys after loading: listeners declared twice or needing a
 * certificate, PROXY protocol without trusted sources, unreadable
 * certificates and keys others can read, route names used twice, secrets
 * of the wrong kind, contradicting webhook authentication; and the
 * endpoint ids that tell which routes send indistinguishable requests (one
 * SMTP transaction delivers to one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "safe_file.h"

static void validate_listeners(struct load *L)
{
	struct gw_config *c = L->cfg;

	for (size_t i = 0; i < c->n_listeners; i++) {
		struct gw_listener *l = &c->listeners[i];

		if (l->mode != LISTEN_SMTP && c->n_certs == 0)
			diag_add_error(L->diag, L->file, l->line, l->col,
			               "listener '%s' is %s: it needs a [[tls.certificate]]",
			               l->address ? l->address : "?",
			               l->mode == LISTEN_SMTPS ? "smtps" : "submission");
		if (l->mode == LISTEN_SUBMISSION && c->n_users == 0)
			diag_add_warning(L->diag, L->file, l->line, l->col,
			                 "submission listener '%s' without [[user]]: nobody can "
			                 "authenticate",
			                 l->address ? l->address : "?");
		/* Without the list anyone could name any client address, dodging every limit. */
		if (l->proxy_protocol && !l->n_proxy_trusted)
			diag_add_error(L->diag, L->file, l->line, l->col,
			               "proxy_protocol needs proxy_trusted: the addresses of your "
			               "proxies, e.g. [\"127.0.0.1\"]");
		if (l->n_proxy_trusted && !l->proxy_protocol)
			diag_add_warning(L->diag, L->file, l->line, l->col,
			                 "proxy_trusted is set but proxy_protocol is false");
		for (size_t j = 0; j < i; j++)
			if (l->address && c->listeners[j].address &&
			    l->addrlen == c->listeners[j].addrlen &&
			    memcmp(&l->addr, &c->listeners[j].addr, l->addrlen) == 0)
				diag_add_error(L->diag, L->file, l->line, l->col,
				               "listener '%s' is declared twice", l->address);
	}
	if (c->n_listeners == 0)
		diag_add_warning(L->diag, L->file, 0, 0,
		                 "no [[listener]]: the daemon would not accept any mail");
}

/*
 * A file the configuration names, checked as it will be read (safe_file.h):
 * it exists, is a regular file (a FIFO would hang whoever opens it), fits
 * its bound and, when private, nobody but its owner may read it.
 */
static void check_named_file(struct load *L, int line, int col, const char *what, const char *path,
                             size_t max, unsigned flags)
{
	char err[512];

	if (path && safe_file_check(path, max, flags, err, sizeof(err)) < 0)
		diag_add_error(L->diag, L->file, line, col, "%s: %s", what, err);
}

static void validate_certs(struct load *L)
{
	struct gw_config *c = L->cfg;

	for (size_t i = 0; i < c->n_certs; i++) {
		check_named_file(L, 0, 0, "certificate", c->certs[i].cert_file, SAFE_FILE_PEM_MAX,
		                 0);
		check_named_file(L, 0, 0, "key", c->certs[i].key_file, SAFE_FILE_PEM_MAX,
		                 SAFE_FILE_PRIVATE);
	}
	check_named_file(L, 0, 0, "webhook ca_file", c->webhook.ca_file, SAFE_FILE_PEM_MAX, 0);
	check_named_file(L, 0, 0, "webhook client_cert", c->webhook.client_cert, SAFE_FILE_PEM_MAX,
	                 0);
	check_named_file(L, 0, 0, "webhook client_key", c->webhook.client_key, SAFE_FILE_PEM_MAX,
	                 SAFE_FILE_PRIVATE);
	if (c->auth.dmarc_psl_file && c->auth.dmarc_psl_file[0])
		check_named_file(L, 0, 0, "dmarc_psl_file", c->auth.dmarc_psl_file,
		                 SAFE_FILE_PSL_MAX, 0);
}

/* The TLS files of a route (its own or inherited from [webhook]). */
static void validate_route_files(struct load *L, const struct gw_route *r)
{
	const struct gw_route_opts *o = &r->opts, *w = &L->cfg->webhook;

	if (o->ca_file && (!w->ca_file || strcmp(o->ca_file, w->ca_file) != 0))
		check_named_file(L, r->line, r->col, "ca_file", o->ca_file, SAFE_FILE_PEM_MAX, 0);
	if (o->client_cert && (!w->client_cert || strcmp(o->client_cert, w->client_cert) != 0))
		check_named_file(L, r->line, r->col, "client_cert", o->client_cert,
		                 SAFE_FILE_PEM_MAX, 0);
	if (o->client_key && (!w->client_key || strcmp(o->client_key, w->client_key) != 0))
		check_named_file(L, r->line, r->col, "client_key", o->client_key, SAFE_FILE_PEM_MAX,
		                 SAFE_FILE_PRIVATE);
}

static int route_name_cmp(const void *a, const void *b)
{
	const struct gw_route *x = *(const struct gw_route *const *)a;
	const struct gw_route *y = *(const struct gw_route *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Route names are unique (delivery finds a route again by name after a reload). */
static void check_route_names(struct load *L)
{
	struct gw_config *c = L->cfg;
	const struct gw_route **sorted = calloc(c->n_routes ? c->n_routes : 1, sizeof(*sorted));
	size_t n = 0;

	if (!sorted)
		return;
	for (size_t i = 0; i < c->n_routes; i++)
		if (c->routes[i].name)
			sorted[n++] = &c->routes[i];
	qsort(sorted, n, sizeof(*sorted), route_name_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0)
			diag_add_error(L->diag, L->file, sorted[i]->line, sorted[i]->col,
			               "route name '%s' is used twice", sorted[i]->name);
	free(sorted);
}

static bool is_mailgun(const struct gw_route *r)
{
	return r->opts.format == FORMAT_MAILGUN || r->opts.format == FORMAT_MAILGUN_MIME;
}

/*
 * Standard Webhooks secrets are whsec_/whsk_ keys. The mailgun formats also
 * take one plain secret, Mailgun's signing key as Mailgun issues it, and
 * need a key: Mailgun's receivers refuse an unsigned POST, so fail closed.
 */
static void validate_route_secrets(struct load *L, struct gw_route *r)
{
	size_t plain = 0;

	for (size_t s = 0; s < r->n_secrets; s++)
		if (strncmp(r->secrets[s], "whsec_", 6) != 0 &&
		    strncmp(r->secrets[s], "whsk_", 5) != 0)
			plain++;
	if (plain && (!is_mailgun(r) || plain > 1 || r->mailgun_signing_key))
		diag_add_error(L->diag, L->file, r->line, r->col,
		               "route '%s': a secret must start with whsec_ (HMAC-SHA256) or whsk_ "
		               "(Ed25519)%s",
		               r->name,
		               is_mailgun(r)
		                   ? "; formats mailgun* take one plain secret (the Mailgun "
		                     "signing key) when mailgun_signing_key is not set"
		                   : "");
	if (is_mailgun(r) && !plain && !(r->mailgun_signing_key && r->mailgun_signing_key[0]))
		diag_add_error(L->diag, L->file, r->line, r->col,
		               "route '%s': format %s needs the Mailgun signing key "
		               "(mailgun_signing_key, or a plain secret)",
		               r->name,
		               r->opts.format == FORMAT_MAILGUN ? "mailgun" : "mailgun-mime");
	if (r->mailgun_signing_key && !is_mailgun(r))
		diag_add_error(
		    L->diag, L->file, r->line, r->col,
		    "route '%s': mailgun_signing_key is for formats mailgun and mailgun-mime",
		    r->name);
}

static void validate_routes(struct load *L)
{
	struct gw_config *c = L->cfg;

	for (size_t i = 0; i < c->n_routes; i++) {
		struct gw_route *r = &c->routes[i];

		if (!r->name && asprintf(&r->name, "route-%zu", i + 1) < 0)
			r->name = NULL;
		if (r->bearer_token && r->basic_user)
			diag_add_error(L->diag, L->file, r->line, r->col,
			               "route '%s' has both bearer_token and basic_user", r->name);
		for (size_t h = 0; h < r->n_headers; h++)
			if ((r->bearer_token || r->basic_user) &&
			    strcasecmp(r->headers[h].name, "Authorization") == 0)
				diag_add_error(
				    L->diag, L->file, r->line, r->col,
				    "route '%s': an Authorization header and %s conflict", r->name,
				    r->bearer_token ? "bearer_token" : "basic_user");
		if (!r->basic_user != !r->basic_password)
			diag_add_error(L->diag, L->file, r->line, r->col,
			               "route '%s': basic_user and basic_password go together",
			               r->name);
		r->auth = r->bearer_token ? WEBHOOK_AUTH_BEARER
		          : r->basic_user ? WEBHOOK_AUTH_BASIC
		                          : WEBHOOK_AUTH_NONE;
		if (!!r->opts.client_cert != !!r->opts.client_key)
			diag_add_error(L->diag, L->file, r->line, r->col,
			               "route '%s': client_cert and client_key go together",
			               r->name);
		validate_route_secrets(L, r);
		validate_route_files(L, r);
	}
	check_route_names(L);
}

static void validate_users(struct load *L)
{
	for (size_t i = 0; i < L->cfg->n_users; i++) {
		const char *h = L->cfg->users[i].password_hash;

		if (h && h[0] != '$')
			diag_add_error(L->diag, L->file, 0, 0,
			               "user '%s': password_hash must be a crypt(3) hash such as "
			               "mkpasswd makes ($y$..., $2b$..., $6$...)",
			               L->cfg->users[i].name ? L->cfg->users[i].name : "?");
	}
}

/* ------------------------------------------------------------- endpoints */

struct endpoint_key {
	char *text;
	size_t route;
};

static int endpoint_cmp(const void *a, const void *b)
{
	const struct endpoint_key *x = a, *y = b;
	int c = strcmp(x->text, y->text);

	if (c)
		return c;
	return x->route < y->route ? -1 : x->route > y->route;
}

/* Everything that makes two routes' requests differ, as one string. */
static char *endpoint_text(const struct gw_route *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const struct gw_route_opts *o = &r->opts;

	if (!f)
		return NULL;
	fprintf(f, "%s\x1f%d\x1f%s\x1f%s\x1f%s", r->url ? r->url : "", (int)r->auth,
	        r->bearer_token ? r->bearer_token : "", r->basic_user ? r->basic_user : "",
	        r->basic_password ? r->basic_password : "");
	for (size_t i = 0; i < r->n_headers; i++)
		fprintf(f, "\x1fH%s:%s", r->headers[i].name, r->headers[i].value);
	for (size_t i = 0; i < r->n_secrets; i++)
		fprintf(f, "\x1fS%s", r->secrets[i]);
	fprintf(f, "\x1fM%s\x1f%d", r->mailgun_signing_key ? r->mailgun_signing_key : "",
	        (int)o->standard_webhooks);
	for (size_t i = 0; i < r->n_replies; i++)
		fprintf(f, "\x1fR%s=%d %s %s", r->replies[i].key, r->replies[i].code,
		        r->replies[i].status, r->replies[i].text);
	fprintf(f, "\x1f%llu,%llu,%u,%llu,%u,%llu,%d,%d,%d,%d,%s,%s,%s,%d,%d,%d",
	        (unsigned long long)o->timeout_ms, (unsigned long long)o->connect_timeout_ms,
	        o->max_in_flight, (unsigned long long)o->retry_budget_ms,
	        o->circuit_breaker_threshold, (unsigned long long)o->circuit_breaker_probe_ms,
	        (int)o->format, (int)o->attachments, (int)o->include_raw, (int)o->tls_verify,
	        o->ca_file ? o->ca_file : "", o->client_cert ? o->client_cert : "",
	        o->client_key ? o->client_key : "", (int)o->spf, (int)o->dkim, (int)o->dmarc);
	/* a route that drops auto-replies is another endpoint */
	fprintf(f, "\x1f%d", (int)o->auto_replies);
	fclose(f);
	return buf;
}

/* Routes whose requests are indistinguishable share an endpoint id: sort and number. */
int cfg_assign_endpoints(struct gw_config *c)
{
	struct endpoint_key *keys = calloc(c->n_routes ? c->n_routes : 1, sizeof(*keys));
	uint32_t id = 0;
	int rc = 0;

	if (!keys)
		return -1;
	for (size_t i = 0; i < c->n_routes; i++) {
		keys[i].text = endpoint_text(&c->routes[i]);
		keys[i].route = i;
		if (!keys[i].text)
			rc = -1;
	}
	if (rc == 0) {
		qsort(keys, c->n_routes, sizeof(*keys), endpoint_cmp);
		for (size_t i = 0; i < c->n_routes; i++) {
			if (i > 0 && strcmp(keys[i].text, keys[i - 1].text) != 0)
				id++;
			c->routes[keys[i].route].endpoint_id = id;
		}
	}
	for (size_t i = 0; i < c->n_routes; i++)
		free(keys[i].text);
	free(keys);
	return rc;
}

static void default_hostname(struct gw_config *c)
{
	char host[256];

	if (c->server.hostname)
		return;
	if (gethostname(host, sizeof(host)) < 0 || !cfg_valid_hostname(host))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	c->server.hostname = strdup(host);
}

/* trust_arc without sealers trusts nobody (fail closed); say so, it is surely not meant. */
static void validate_auth(struct load *L)
{
	const struct gw_auth *a = &L->cfg->auth;

	if (a->trust_arc && a->n_trusted_arc_sealers == 0)
		diag_add_warning(L->diag, L->file, 0, 0,
		                 "trust_arc is true but trusted_arc_sealers is empty: no ARC chain "
		                 "will override DMARC; name the sealers you trust");
}

static void validate_log(struct load *L)
{
	const struct gw_server *sv = &L->cfg->server;
	if (sv->log_target == LOG_TARGET_FILE && (!sv->log_file || !*sv->log_file))
		diag_add_error(L->diag, L->file, 0, 0,
		               "[server] log_target = \"file\" needs log_file");
}

void cfg_validate(struct load *L)
{
	validate_log(L);
	default_hostname(L->cfg);
	validate_listeners(L);
	validate_certs(L);
	validate_routes(L);
	validate_users(L);
	validate_auth(L);
}
