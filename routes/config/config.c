/*
 * config.c: gateway.toml to struct gw_config.
 *
 * Driven by the key tables of config_keys.c: defaults first, then every key
 * of the file is looked up in its section's table and converted by its
 * type. Every mistake (unknown key, wrong type, value out of range, missing
 * required key, unreadable secret file) is collected as
 * "file:line:col: message" rather than stopping at the first, so that
 * `check` shows them all (STYLE.md 16). Any error fails the load.
 *
 * This file walks the document and its sections; config_value.c converts
 * single values, config_check.c checks across keys, config_diag.c keeps
 * the messages. It never prints and never exits; the caller decides what
 * to do with diag. The routing table is built last, from the finished
 * routes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "config_int.h"
#include "routes.h"
#include "toml.h"

/* Levenshtein distance, for "did you mean" on unknown keys. Bounded inputs. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

static const char *suggest(const struct config_key *keys, size_t n, const char *name)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(keys[i].name, name);

		if (d < best_d) {
			best_d = d;
			best = keys[i].name;
		}
	}
	return best;
}

/* --------------------------------------------------------------- tables */

/* Splits "secret_env" into the key "secret" and how = 1 (env) or 2 (file). */
static const struct config_key *find_key(const struct config_key *keys, size_t n, const char *name,
                                         int *how)
{
	size_t len = strlen(name);

	*how = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(keys[i].name);

		if (keys[i].type != KT_SECRET && keys[i].type != KT_SECRETS)
			continue;
		if (len == kl + 4 && strncmp(name, keys[i].name, kl) == 0 &&
		    strcmp(name + kl, "_env") == 0) {
			*how = 1;
			return &keys[i];
		}
		if (len == kl + 5 && strncmp(name, keys[i].name, kl) == 0 &&
		    strcmp(name + kl, "_file") == 0) {
			*how = 2;
			return &keys[i];
		}
	}
	return NULL;
}

static void unknown_key(struct load *L, const toml_value *t, size_t i, const char *section,
                        const struct config_key *keys, size_t n)
{
	const char *name = toml_table_key(t, i, NULL);
	const char *hint = suggest(keys, n, name);

	if (!hint && strcmp(section, "route") == 0)
		hint = suggest(config_route_opt_keys, config_n_route_opt_keys, name);
	diag_add_error(L->diag, L->file, toml_table_key_line(t, i), toml_table_key_col(t, i),
	               "unknown key '%s' in [%s]%s%s%s", name, section,
	               hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}

/*
 * Sets every key of TOML table t on base, from keys[]. For routes, keys not
 * in keys[] are looked up among the route options (base2). seen[] marks the
 * keys given, for the required check.
 */
static void load_table(struct load *L, const toml_value *t, const char *section,
                       const struct config_key *keys, size_t n, void *base, void *opts_base,
                       bool *seen)
{
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const char *name = toml_table_key(t, i, NULL);
		const toml_value *v = toml_table_value(t, i);
		int how;
		const struct config_key *k = find_key(keys, n, name, &how);

		if (!k && opts_base) {
			k = find_key(config_route_opt_keys, config_n_route_opt_keys, name, &how);
			if (k) {
				cfg_set_simple(L, k, v, opts_base);
				continue;
			}
		}
		if (!k || (strcmp(section, "webhook") == 0 && (k->flags & KEY_ROUTE_ONLY))) {
			unknown_key(L, t, i, section, keys, n);
			continue;
		}
		if (seen && seen[k - keys] && (k->type == KT_SECRET || k->type == KT_SECRETS)) {
			diag_add_error(L->diag, L->file, toml_table_key_line(t, i),
			               toml_table_key_col(t, i),
			               "'%s' is given twice (%s, %s_env and %s_file are one key)",
			               k->name, k->name, k->name, k->name);
			continue;
		}
		if (seen)
			seen[k - keys] = true;
		if (strcmp(section, "route") == 0 || strcmp(section, "user") == 0)
			cfg_set_route_key(L, k, v, base, how);
		else
			cfg_set_simple(L, k, v, base);
	}
}

static void check_required(struct load *L, const toml_value *t, const char *section,
                           const struct config_key *keys, size_t n, const bool *seen)
{
	for (size_t i = 0; i < n; i++)
		if ((keys[i].flags & KEY_REQUIRED) && !seen[i])
			cfg_err_at(L, t, "[[%s]] needs '%s'", section, keys[i].name);
}

static void *section_base(struct gw_config *cfg, const char *name)
{
	if (strcmp(name, "server") == 0)
		return &cfg->server;
	if (strcmp(name, "admin") == 0)
		return &cfg->admin;
	if (strcmp(name, "tls") == 0)
		return cfg;
	if (strcmp(name, "limits") == 0)
		return &cfg->limits;
	if (strcmp(name, "dns") == 0)
		return &cfg->dns;
	if (strcmp(name, "auth") == 0)
		return &cfg->auth;
	if (strcmp(name, "routing") == 0)
		return &cfg->routing;
	if (strcmp(name, "webhook") == 0)
		return &cfg->webhook;
	return NULL;
}

/* Allocates the array of an [[array]] section and returns element i's base. */
static void *array_alloc(struct load *L, const char *section, size_t n)
{
	struct gw_config *c = L->cfg;

	if (strcmp(section, "listener") == 0)
		return (c->listeners = calloc(n, sizeof(*c->listeners)));
	if (strcmp(section, "tls.certificate") == 0)
		return (c->certs = calloc(n, sizeof(*c->certs)));
	if (strcmp(section, "user") == 0)
		return (c->users = calloc(n, sizeof(*c->users)));
	if (strcmp(section, "route") == 0)
		return (c->routes = calloc(n, sizeof(*c->routes)));
	return NULL;
}

static size_t array_elem_size(const char *section)
{
	if (strcmp(section, "listener") == 0)
		return sizeof(struct gw_listener);
	if (strcmp(section, "tls.certificate") == 0)
		return sizeof(struct gw_tls_cert);
	if (strcmp(section, "user") == 0)
		return sizeof(struct gw_user);
	return sizeof(struct gw_route);
}

static size_t *array_count(struct gw_config *c, const char *section)
{
	if (strcmp(section, "listener") == 0)
		return &c->n_listeners;
	if (strcmp(section, "tls.certificate") == 0)
		return &c->n_certs;
	if (strcmp(section, "user") == 0)
		return &c->n_users;
	return &c->n_routes;
}

static void route_opts_copy(struct gw_route_opts *dst, const struct gw_route_opts *src,
                            const struct gw_auth *auth)
{
	/* Out of memory leaves a NULL path: the same as not set; checked later. */
	(void)config_route_opts_dup(dst, src);
	dst->spf = auth->spf;
	dst->dkim = auth->dkim;
	dst->dmarc = auth->dmarc;
}

static void load_array(struct load *L, const toml_value *arr, const struct config_section *s)
{
	size_t n;
	char *elems;
	bool seen[32];

	if (toml_type_of(arr) != TOML_ARRAY ||
	    (toml_array_len(arr) && toml_type_of(toml_array_at(arr, 0)) != TOML_TABLE)) {
		cfg_err_at(L, arr, "'%s' must be written as [[%s]] tables", s->name, s->name);
		return;
	}
	n = toml_array_len(arr);
	if (n == 0)
		return;
	elems = array_alloc(L, s->name, n);
	if (!elems)
		return;
	*array_count(L->cfg, s->name) = n;
	for (size_t i = 0; i < n; i++) {
		const toml_value *t = toml_array_at(arr, i);
		void *base = elems + i * array_elem_size(s->name);
		void *opts = NULL;

		if (toml_type_of(t) != TOML_TABLE) {
			cfg_err_at(L, t, "'%s' must be written as [[%s]] tables", s->name, s->name);
			continue;
		}
		memset(seen, 0, sizeof(seen));
		cfg_apply_defaults(s->keys, s->n_keys, base);
		if (strcmp(s->name, "route") == 0) {
			struct gw_route *r = base;

			r->index = i;
			r->line = toml_line(t);
			r->col = toml_col(t);
			route_opts_copy(&r->opts, &L->cfg->webhook, &L->cfg->auth);
			opts = &r->opts;
		} else if (strcmp(s->name, "listener") == 0) {
			((struct gw_listener *)base)->line = toml_line(t);
			((struct gw_listener *)base)->col = toml_col(t);
		}
		load_table(L, t, s->name, s->keys, s->n_keys, base, opts, seen);
		check_required(L, t, s->name, s->keys, s->n_keys, seen);
	}
}

/* [tls] holds min_version and the [[tls.certificate]] array. */
static void load_tls(struct load *L, const toml_value *t)
{
	const struct config_section *s = config_section_find("tls");

	for (size_t i = 0; i < toml_table_len(t); i++) {
		const char *name = toml_table_key(t, i, NULL);
		const toml_value *v = toml_table_value(t, i);
		int how;
		const struct config_key *k;

		if (strcmp(name, "certificate") == 0) {
			load_array(L, v, config_section_find("tls.certificate"));
			continue;
		}
		k = find_key(s->keys, s->n_keys, name, &how);
		if (!k) {
			unknown_key(L, t, i, "tls", s->keys, s->n_keys);
			continue;
		}
		cfg_set_simple(L, k, v, L->cfg);
	}
}

static void load_root(struct load *L, const toml_value *root)
{
	/* Tables first: [webhook] and [auth] give the routes their defaults. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < toml_table_len(root); i++) {
			const char *name = toml_table_key(root, i, NULL);
			const toml_value *v = toml_table_value(root, i);
			const struct config_section *s = config_section_find(name);

			if (!s || strcmp(name, "tls.certificate") == 0) {
				if (pass == 0)
					diag_add_error(L->diag, L->file,
					               toml_table_key_line(root, i),
					               toml_table_key_col(root, i),
					               "unknown section '%s' (sections: server, "
					               "listener, tls, limits, dns, auth, routing, "
					               "webhook, user, route)",
					               name);
				continue;
			}
			if ((s->kind == SECTION_ARRAY) != (pass == 1))
				continue;
			if (s->kind == SECTION_ARRAY) {
				load_array(L, v, s);
			} else if (toml_type_of(v) != TOML_TABLE) {
				cfg_err_at(L, v, "'%s' must be a table: [%s]", name, name);
			} else if (strcmp(name, "tls") == 0) {
				load_tls(L, v);
			} else {
				load_table(L, v, name, s->keys, s->n_keys,
				           section_base(L->cfg, name), NULL, NULL);
			}
		}
	}
}

static struct gw_config *config_new(const char *name)
{
	struct gw_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->path = strdup(name);
	for (size_t i = 0; i < config_n_sections; i++) {
		const struct config_section *s = &config_sections[i];
		void *base = section_base(c, s->name);

		if (s->kind == SECTION_TABLE && base)
			cfg_apply_defaults(s->keys, s->n_keys, base);
	}
	return c;
}

static struct gw_config *config_finish(struct gw_config *c, const toml_value *root,
                                       struct gw_diag *diag, unsigned file_mode)
{
	struct load L = {c->path, diag, c, file_mode};
	size_t errors_before = diag->n_errors;

	load_root(&L, root);
	cfg_validate(&L);
	if (diag->n_errors == errors_before && cfg_assign_endpoints(c) < 0)
		diag_add_error(diag, c->path, 0, 0, "out of memory");
	if (diag->n_errors == errors_before)
		c->table = route_table_build(c, diag);
	if (diag->n_errors != errors_before) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct gw_config *config_load_buffer(const char *buf, size_t len, const char *name,
                                     struct gw_diag *diag)
{
	toml_error terr = {0};
	toml_value *root = toml_parse(buf, len, name, &terr);
	struct gw_config *c;

	if (!root) {
		diag_add_error(diag, name, terr.line, terr.col, "%s", terr.msg);
		return NULL;
	}
	c = config_new(name);
	if (c)
		c = config_finish(c, root, diag, 0);
	else
		diag_add_error(diag, name, 0, 0, "out of memory");
	toml_free(root);
	return c;
}

struct gw_config *config_load(const char *path, struct gw_diag *diag)
{
	toml_error terr = {0};
	toml_value *root = toml_parse_file(path, &terr);
	struct gw_config *c;
	struct stat st;
	unsigned mode = 0;

	if (!root) {
		diag_add_error(diag, path, terr.line, terr.col, "%s", terr.msg);
		return NULL;
	}
	/* Only for the warning on inline secrets: the file was read (and checked) already. */
	if (stat(path, &st) == 0)
		mode = (unsigned)(st.st_mode & 0777);
	c = config_new(path);
	if (c)
		c = config_finish(c, root, diag, mode);
	else
		diag_add_error(diag, path, 0, 0, "out of memory");
	toml_free(root);
	return c;
}

int config_route_opts_dup(struct gw_route_opts *dst, const struct gw_route_opts *src)
{
	*dst = *src;
	dst->ca_file = cfg_strdup(src->ca_file);
	dst->client_cert = cfg_strdup(src->client_cert);
	dst->client_key = cfg_strdup(src->client_key);
	if ((src->ca_file && !dst->ca_file) || (src->client_cert && !dst->client_cert) ||
	    (src->client_key && !dst->client_key))
		return -1;
	return 0;
}

void config_route_opts_free(struct gw_route_opts *o)
{
	free(o->ca_file);
	free(o->client_cert);
	free(o->client_key);
	o->ca_file = o->client_cert = o->client_key = NULL;
}

int config_replies_dup(struct gw_reply_override **dst, size_t *n_dst,
                       const struct gw_reply_override *src, size_t n)
{
	*dst = NULL;
	*n_dst = 0;
	if (n == 0)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return -1;
	*n_dst = n;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = src[i];
		(*dst)[i].key = cfg_strdup(src[i].key);
		(*dst)[i].text = cfg_strdup(src[i].text);
		if ((src[i].key && !(*dst)[i].key) || (src[i].text && !(*dst)[i].text))
			return -1;
	}
	return 0;
}

void config_replies_free(struct gw_reply_override *r, size_t n)
{
	for (size_t i = 0; i < n && r; i++) {
		free(r[i].key);
		free(r[i].text);
	}
	free(r);
}

static void route_free(struct gw_route *r)
{
	free(r->name);
	cfg_free_list(r->match, r->n_match);
	free(r->match_line);
	free(r->match_col);
	free(r->url);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	cfg_free_list(r->secrets, r->n_secrets);
	free(r->bearer_token);
	free(r->basic_user);
	free(r->basic_password);
	free(r->mailgun_signing_key);
	config_replies_free(r->replies, r->n_replies);
	config_route_opts_free(&r->opts);
}

void config_free(struct gw_config *c)
{
	if (!c)
		return;
	route_table_free(c->table);
	for (size_t i = 0; i < c->n_routes; i++)
		route_free(&c->routes[i]);
	free(c->routes);
	for (size_t i = 0; i < c->n_listeners; i++) {
		free(c->listeners[i].address);
		free(c->listeners[i].proxy_trusted);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->n_certs; i++) {
		free(c->certs[i].cert_file);
		free(c->certs[i].key_file);
	}
	free(c->certs);
	for (size_t i = 0; i < c->n_users; i++) {
		free(c->users[i].name);
		free(c->users[i].password_hash);
	}
	free(c->users);
	free(c->admin.listener.address);
	free(c->server.hostname);
	free(c->server.user);
	free(c->server.log_file);
	free(c->auth.dmarc_psl_file);
	cfg_free_list(c->auth.trusted_arc_sealers, c->auth.n_trusted_arc_sealers);
	cfg_free_list(c->dns.servers, c->dns.n_servers);
	cfg_free_list(c->routing.domains, c->routing.n_domains);
	cfg_free_list(c->server.log_trace, c->server.n_log_trace);
	free(c->webhook.ca_file);
	free(c->webhook.client_cert);
	free(c->webhook.client_key);
	free(c->path);
	free(c);
}
