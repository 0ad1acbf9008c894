/*
 * routes/table/route_table.c: the routing table. Builds, from the [[route]]
 * match patterns and [routing], an immutable table that maps an envelope
 * recipient (RFC 5321 4.1.2 addr-spec, RFC 6531 UTF-8) to the route that
 * receives it, and answers which domains are ours (so that RCPT can refuse
 * relaying, RFC 5321 3.6.2 and 7.1).
 *
 * Precedence (docs/routing.md): exact address, plus-address base,
 * local-part wildcard (longest literal part first), domain catch-all,
 * subdomain catch-all (longest suffix first); ties to file order.
 *
 * Lookups cost a bounded number of hash probes: the exact and plus-base
 * keys, the domain (its catch-all and its wildcards, sorted once), then one
 * probe per parent suffix of the domain for subdomain catch-alls. Nothing
 * scans the routes.
 *
 * Never: changes a table after route_table_build() returned it (lookups run
 * on many threads without locks), or keeps a pointer into a route beyond the
 * config that owns both.
 */
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "route_int.h"

/* One pattern that can win a lookup. */
struct route_entry {
	const struct gw_route *route;
	const char *pattern; /* as written, owned by the route */
	const char *glob;    /* wildcards: the folded local part */
	size_t literal;      /* wildcards: bytes other than '*', more wins */
	size_t order;        /* file order, for ties */
	size_t domain;       /* wildcards: index in domains */
	bool plus;           /* exact: user@ also takes user+tag@ */
	int line, col;
};

/* A domain some pattern or routing.domains names. */
struct route_domain {
	size_t catchall;           /* entry index + 1; 0: none */
	size_t wild_first, n_wild; /* slice of route_table.wild */
};

/* A suffix whose proper subdomains are ours (*@*.suffix, "*.suffix"). */
struct route_sub {
	size_t catchall; /* entry index + 1; 0: accepted, nobody routes it */
};

struct route_table {
	struct route_arena arena; /* every string and array below */
	char sep[sizeof((struct gw_routing *)0)->plus_separator];
	size_t seplen;
	bool case_sensitive;
	struct route_entry *entries;
	size_t n_entries, cap_entries;
	struct route_domain *domains;
	size_t n_domains, cap_domains;
	struct route_sub *subs;
	size_t n_subs, cap_subs;
	size_t *wild; /* entry indexes, by domain then precedence */
	size_t n_wild, cap_wild;
	const char **listed; /* accepted domains, first mention first */
	size_t n_listed, cap_listed;
	struct route_map exact;      /* "local@domain" -> entry index + 1 */
	struct route_map domain_map; /* "domain" -> domain index + 1 */
	struct route_map sub_map;    /* "suffix" -> sub index + 1 */
};

/* What the builder needs besides the table; gone when the build ends. */
struct builder {
	struct route_table *t;
	const struct gw_config *cfg;
	struct gw_diag *diag;
	struct route_map wild_keys; /* "glob@domain" -> entry index + 1 */
	size_t errors;
	size_t seq; /* patterns seen: file order */
};

/* The pattern being added, as the builder sees it. */
struct pattern {
	const struct gw_route *route;
	const char *text;
	int line, col;
	size_t order;
};

static const char *const kind_names[] = {
    [MATCH_EXACT] = "exact",
    [MATCH_PLUS] = "plus",
    [MATCH_LOCAL_WILDCARD] = "local-wildcard",
    [MATCH_DOMAIN] = "domain",
    [MATCH_SUBDOMAIN] = "subdomain",
};

const char *route_match_kind_name(enum route_match_kind k)
{
	return (unsigned)k <= MATCH_SUBDOMAIN ? kind_names[k] : "?";
}

/* Room for element n of array a (include/grow.h), assigned back to a: 0, or -1 out of memory. */
#define GROW(a, n, cap) grow_into((void *)&(a), grow_array((a), &(cap), (n), sizeof *(a), 16))

static int grow_into(void *slot, void *grown)
{
	if (!grown)
		return -1;
	memcpy(slot, &grown, sizeof grown);
	return 0;
}

static void oom(struct builder *b)
{
	diag_add_error(b->diag, b->cfg->path, 0, 0, "out of memory building the routing table");
	b->errors++;
}

/* Folds a local part as the table compares it. Returns its length or -1. */
static int fold_local(const struct route_table *t, const char *local, char *out, size_t outlen)
{
	size_t len = strlen(local);
	if (!t->case_sensitive)
		return idna_fold_utf8(local, len, out, outlen);
	if (len + 1 > outlen)
		return -1;
	memcpy(out, local, len + 1);
	return (int)len;
}

static size_t list_domain(struct builder *b, const char *prefix, const char *name)
{
	struct route_table *t = b->t;
	size_t plen = strlen(prefix), nlen = strlen(name);
	char *s = route_arena_alloc(&t->arena, plen + nlen + 1);
	if (!s || GROW(t->listed, t->n_listed, t->cap_listed) < 0)
		return 0;
	memcpy(s, prefix, plen);
	memcpy(s + plen, name, nlen + 1);
	t->listed[t->n_listed++] = s;
	return 1;
}

/* The index + 1 of domain (A-label), added when new; 0 when out of memory. */
static size_t domain_get(struct builder *b, const char *domain)
{
	struct route_table *t = b->t;
	size_t len = strlen(domain);
	size_t d = route_map_get(&t->domain_map, domain, len);
	if (d)
		return d;
	char *key = route_arena_strndup(&t->arena, domain, len);
	if (!key || GROW(t->domains, t->n_domains, t->cap_domains) < 0)
		return 0;
	if (!list_domain(b, "", key))
		return 0;
	t->domains[t->n_domains] = (struct route_domain){0};
	d = route_map_put(&t->domain_map, key, len, t->n_domains + 1);
	if (d)
		t->n_domains++;
	return d;
}

static size_t sub_get(struct builder *b, const char *suffix)
{
	struct route_table *t = b->t;
	size_t len = strlen(suffix);
	size_t s = route_map_get(&t->sub_map, suffix, len);
	if (s)
		return s;
	char *key = route_arena_strndup(&t->arena, suffix, len);
	if (!key || GROW(t->subs, t->n_subs, t->cap_subs) < 0)
		return 0;
	if (!list_domain(b, "*.", key))
		return 0;
	t->subs[t->n_subs] = (struct route_sub){0};
	s = route_map_put(&t->sub_map, key, len, t->n_subs + 1);
	if (s)
		t->n_subs++;
	return s;
}

/* Appends an entry for p; returns its index + 1, or 0 when out of memory. */
static size_t entry_add(struct builder *b, const struct pattern *p)
{
	struct route_table *t = b->t;
	if (GROW(t->entries, t->n_entries, t->cap_entries) < 0)
		return 0;
	t->entries[t->n_entries] = (struct route_entry){
	    .route = p->route,
	    .pattern = p->text,
	    .order = p->order,
	    .line = p->line,
	    .col = p->col,
	};
	return ++t->n_entries;
}

static void warn_shadowed(struct builder *b, const struct pattern *p, size_t winner)
{
	const struct route_entry *w = &b->t->entries[winner - 1];
	diag_add_warning(b->diag, b->cfg->path, p->line, p->col,
	                 "match pattern \"%s\" can never match: \"%s\" of route \"%s\" (line %d) "
	                 "always wins",
	                 p->text, w->pattern, w->route->name ? w->route->name : "?", w->line);
}

static void add_exact(struct builder *b, const struct pattern *p, const char *local,
                      const char *domain, bool plus)
{
	struct route_table *t = b->t;
	size_t llen = strlen(local), dlen = strlen(domain);
	char *key = route_arena_alloc(&t->arena, llen + 1 + dlen + 1);
	size_t e = key ? entry_add(b, p) : 0;
	if (!e || !domain_get(b, domain))
		return oom(b);
	memcpy(key, local, llen);
	key[llen] = '@';
	memcpy(key + llen + 1, domain, dlen + 1);
	t->entries[e - 1].plus = plus;
	size_t got = route_map_put(&t->exact, key, llen + 1 + dlen, e);
	if (!got)
		return oom(b);
	if (got != e)
		warn_shadowed(b, p, got);
}

static void add_wildcard(struct builder *b, const struct pattern *p, const char *glob,
                         const char *domain)
{
	struct route_table *t = b->t;
	size_t glen = strlen(glob), dlen = strlen(domain);
	char *key = route_arena_alloc(&t->arena, glen + 1 + dlen + 1);
	char *copy = route_arena_strndup(&t->arena, glob, glen);
	size_t d = key && copy ? domain_get(b, domain) : 0;
	size_t e = d ? entry_add(b, p) : 0;
	if (!e || GROW(t->wild, t->n_wild, t->cap_wild) < 0)
		return oom(b);
	struct route_entry *en = &t->entries[e - 1];
	en->glob = copy;
	en->domain = d - 1;
	for (const char *c = glob; *c; c++)
		en->literal += *c != '*';
	memcpy(key, glob, glen);
	key[glen] = '@';
	memcpy(key + glen + 1, domain, dlen + 1);
	size_t got = route_map_put(&b->wild_keys, key, glen + 1 + dlen, e);
	if (!got)
		return oom(b);
	if (got != e)
		return warn_shadowed(b, p, got);
	t->wild[t->n_wild++] = e - 1;
}

static void add_catchall(struct builder *b, const struct pattern *p, const char *domain, bool sub)
{
	struct route_table *t = b->t;
	size_t i = sub ? sub_get(b, domain) : domain_get(b, domain);
	size_t e = i ? entry_add(b, p) : 0;
	if (!e)
		return oom(b);
	size_t *slot = sub ? &t->subs[i - 1].catchall : &t->domains[i - 1].catchall;
	if (*slot)
		return warn_shadowed(b, p, *slot);
	*slot = e;
}

/* Runs of '*' mean what one does; removes the extra ones in place. */
static void collapse_stars(char *s)
{
	char *o = s;
	for (const char *i = s; *i; i++)
		if (!(*i == '*' && o > s && o[-1] == '*'))
			*o++ = *i;
	*o = '\0';
}

static void pattern_error(struct builder *b, const struct pattern *p, const char *why)
{
	diag_add_error(b->diag, b->cfg->path, p->line, p->col, "invalid match pattern \"%s\": %s",
	               p->text, why);
	b->errors++;
}

static void add_pattern(struct builder *b, const struct pattern *p)
{
	struct route_addr a;
	bool quoted, sub;
	enum route_addr_err e = route_pattern_split(p->text, &a, &quoted, &sub);
	if (e == ADDR_LITERAL)
		return pattern_error(b, p, "an address literal is never ours");
	if (e == ADDR_BAD_DOMAIN && strchr(strrchr(p->text, '@'), '*'))
		return pattern_error(b, p,
		                     "'*' in a domain is only allowed as '*@*.example.com' "
		                     "(every subdomain of example.com)");
	if (e != ADDR_OK)
		return pattern_error(b, p, route_addr_err_text(e));
	bool wild = !quoted && strchr(a.local, '*');
	if (wild)
		collapse_stars(a.local);
	if (sub && (!wild || strcmp(a.local, "*") != 0))
		return pattern_error(b, p,
		                     "a subdomain wildcard '@*.' needs '*' as the local part");
	if (wild && strcmp(a.local, "*") == 0)
		return add_catchall(b, p, a.domain_ascii, sub);
	char local[ROUTE_LOCAL_MAX];
	if (fold_local(b->t, a.local, local, sizeof local) < 0)
		return pattern_error(b, p, route_addr_err_text(ADDR_BAD_UTF8));
	if (wild)
		return add_wildcard(b, p, local, a.domain_ascii);
	bool plus = b->t->seplen > 0 && !strstr(local, b->t->sep);
	add_exact(b, p, local, a.domain_ascii, plus);
}

/* Patterns in file order: routes as the file lists them, each in its order. */
static void add_route(struct builder *b, const struct gw_route *r)
{
	for (size_t i = 0; i < r->n_match; i++) {
		struct pattern p = {
		    .route = r,
		    .text = r->match[i] ? r->match[i] : "",
		    .line = r->match_line ? r->match_line[i] : r->line,
		    .col = r->match_col ? r->match_col[i] : r->col,
		    .order = b->seq++,
		};
		add_pattern(b, &p);
	}
}

/* routing.domains: "example.com" or "*.example.com", no route behind. */
static void add_accepted(struct builder *b, const char *name)
{
	bool sub = strncmp(name, "*.", 2) == 0;
	char ascii[ROUTE_DOMAIN_MAX];
	if (idna_to_ascii(sub ? name + 2 : name, ascii, sizeof ascii) < 0) {
		diag_add_error(b->diag, b->cfg->path, 0, 0,
		               "routing.domains: invalid domain \"%s\"", name);
		b->errors++;
		return;
	}
	if (!(sub ? sub_get(b, ascii) : domain_get(b, ascii)))
		oom(b);
}

/*
 * The separator must be something a local part holds and a pattern cannot
 * mistake: atext punctuation (RFC 5322 3.2.3), no '*', no letter or digit.
 */
static void set_separator(struct builder *b)
{
	const char *s = b->cfg->routing.plus_separator;
	size_t len = strnlen(s, sizeof b->t->sep);
	if (len == sizeof b->t->sep || strspn(s, "!#$%&'+-/=?^_`{|}~.") != len) {
		diag_add_error(b->diag, b->cfg->path, 0, 0,
		               "routing.plus_separator \"%.*s\": use up to %zu of "
		               "!#$%%&'+-/=?^_`{|}~.",
		               (int)len, s, sizeof b->t->sep - 1);
		b->errors++;
		return;
	}
	memcpy(b->t->sep, s, len + 1);
	b->t->seplen = len;
}

struct wild_key {
	size_t domain, literal, order, entry;
};

static int wild_cmp(const void *x, const void *y)
{
	const struct wild_key *a = x, *b = y;
	if (a->domain != b->domain)
		return a->domain < b->domain ? -1 : 1;
	if (a->literal != b->literal)
		return a->literal > b->literal ? -1 : 1;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	return 0;
}

/* Sorts the wildcards by domain and precedence, and gives each domain its slice. */
static int sort_wildcards(struct route_table *t)
{
	if (t->n_wild == 0)
		return 0;
	struct wild_key *k = malloc(t->n_wild * sizeof *k);
	if (!k)
		return -1;
	for (size_t i = 0; i < t->n_wild; i++) {
		const struct route_entry *e = &t->entries[t->wild[i]];
		k[i] = (struct wild_key){e->domain, e->literal, e->order, t->wild[i]};
	}
	qsort(k, t->n_wild, sizeof *k, wild_cmp);
	for (size_t i = 0; i < t->n_wild; i++) {
		struct route_domain *d = &t->domains[k[i].domain];
		if (d->n_wild++ == 0)
			d->wild_first = i;
		t->wild[i] = k[i].entry;
	}
	free(k);
	return 0;
}

struct route_table *route_table_build(const struct gw_config *cfg, struct gw_diag *diag)
{
	struct route_table *t = calloc(1, sizeof *t);
	struct builder b = {.t = t, .cfg = cfg, .diag = diag};
	if (!t) {
		diag_add_error(diag, cfg->path, 0, 0, "out of memory building the routing table");
		return NULL;
	}
	t->case_sensitive = cfg->routing.local_part_case_sensitive;
	set_separator(&b);
	for (size_t i = 0; i < cfg->n_routes; i++)
		add_route(&b, &cfg->routes[i]);
	for (size_t i = 0; i < cfg->routing.n_domains; i++)
		add_accepted(&b, cfg->routing.domains[i]);
	if (b.errors == 0 && sort_wildcards(t) < 0)
		oom(&b);
	route_map_free(&b.wild_keys);
	if (b.errors) {
		route_table_free(t);
		return NULL;
	}
	return t;
}

void route_table_free(struct route_table *t)
{
	if (!t)
		return;
	route_map_free(&t->exact);
	route_map_free(&t->domain_map);
	route_map_free(&t->sub_map);
	free(t->entries);
	free(t->domains);
	free(t->subs);
	free(t->wild);
	free(t->listed);
	route_arena_free(&t->arena);
	free(t);
}

/* --- lookup ---------------------------------------------------------------- */

static enum route_verdict matched(struct route_match *m, const struct route_entry *e,
                                  enum route_match_kind kind)
{
	m->route = e->route;
	m->pattern = e->pattern;
	m->kind = kind;
	return ROUTE_MATCH;
}

static const struct route_entry *find_exact(const struct route_table *t, const char *local,
                                            size_t llen, const char *domain)
{
	char key[ROUTE_LOCAL_MAX + 1 + ROUTE_DOMAIN_MAX];
	size_t dlen = strlen(domain);
	if (llen >= ROUTE_LOCAL_MAX || dlen >= ROUTE_DOMAIN_MAX)
		return NULL;
	memcpy(key, local, llen);
	key[llen] = '@';
	memcpy(key + llen + 1, domain, dlen);
	size_t e = route_map_get(&t->exact, key, llen + 1 + dlen);
	return e ? &t->entries[e - 1] : NULL;
}

/* user+tag@: the route of user@, unless that pattern had a separator itself. */
static const struct route_entry *find_plus(const struct route_table *t, const char *folded,
                                           struct route_addr *a)
{
	if (t->seplen == 0)
		return NULL;
	const char *sep = strstr(folded, t->sep);
	if (!sep || sep == folded)
		return NULL;
	const struct route_entry *e =
	    find_exact(t, folded, (size_t)(sep - folded), a->domain_ascii);
	if (!e || !e->plus)
		return NULL;
	/* The separator is ASCII punctuation, which folding never moves or makes. */
	const char *tag = strstr(a->local, t->sep);
	if (!tag)
		return NULL;
	size_t n = strlen(tag + t->seplen);
	memcpy(a->tag, tag + t->seplen, n + 1);
	a->has_tag = true;
	a->base_len = (size_t)(tag - a->local);
	return e;
}

/*
 * Wildcard, domain and subdomain routes match the address as written (tag
 * included) and then tell the app the tag too, as a plus route does: a
 * help desk's reply+ticket123@ under *@support.example.com gets "ticket123".
 */
static void tag_after_match(const struct route_table *t, struct route_addr *a)
{
	if (t->seplen == 0 || a->has_tag)
		return;
	const char *tag = strstr(a->local, t->sep);
	if (!tag || tag == a->local)
		return;
	size_t n = strlen(tag + t->seplen);
	memcpy(a->tag, tag + t->seplen, n + 1);
	a->has_tag = true;
	a->base_len = (size_t)(tag - a->local);
}

static const struct route_entry *find_wildcard(const struct route_table *t,
                                               const struct route_domain *d, const char *folded)
{
	for (size_t i = 0; i < d->n_wild; i++) {
		const struct route_entry *e = &t->entries[t->wild[d->wild_first + i]];
		if (route_glob_match(e->glob, folded))
			return e;
	}
	return NULL;
}

/*
 * Walks the parent suffixes of domain, longest first. Returns the first
 * catch-all; *accepted says whether any suffix makes the domain ours.
 */
static const struct route_entry *find_sub(const struct route_table *t, const char *domain,
                                          bool *accepted)
{
	*accepted = false;
	if (t->n_subs == 0)
		return NULL;
	for (const char *dot = strchr(domain, '.'); dot; dot = strchr(dot + 1, '.')) {
		size_t s = route_map_get(&t->sub_map, dot + 1, strlen(dot + 1));
		if (!s)
			continue;
		*accepted = true;
		if (t->subs[s - 1].catchall)
			return &t->entries[t->subs[s - 1].catchall - 1];
	}
	return NULL;
}

/*
 * Exact and plus-base keys first: a hit there (the common case) needs no
 * probe of the domain map. Their entries imply the domain is ours.
 */
static enum route_verdict lookup_local(const struct route_table *t, const char *key, size_t llen,
                                       struct route_match *m)
{
	const struct route_entry *e = find_exact(t, key, llen, m->addr.domain_ascii);
	if (e)
		return matched(m, e, MATCH_EXACT);
	if ((e = find_plus(t, key, &m->addr)))
		return matched(m, e, MATCH_PLUS);
	return ROUTE_UNKNOWN_USER;
}

static enum route_verdict lookup_domain(const struct route_table *t, const struct route_domain *d,
                                        const char *key, struct route_match *m)
{
	const struct route_entry *e = find_wildcard(t, d, key);
	if (e) {
		tag_after_match(t, &m->addr);
		return matched(m, e, MATCH_LOCAL_WILDCARD);
	}
	if (d->catchall) {
		tag_after_match(t, &m->addr);
		return matched(m, &t->entries[d->catchall - 1], MATCH_DOMAIN);
	}
	return ROUTE_UNKNOWN_USER;
}

enum route_verdict route_lookup(const struct route_table *t, const char *address,
                                struct route_match *m)
{
	struct route_match scratch;
	if (!m)
		m = &scratch;
	m->route = NULL;
	m->pattern = NULL;
	m->kind = MATCH_EXACT;
	enum route_addr_err err = route_addr_split(address, &m->addr);
	if (err == ADDR_LITERAL)
		return ROUTE_NOT_OURS;
	if (err != ADDR_OK)
		return ROUTE_BAD_ADDRESS;
	if (!t)
		return ROUTE_NOT_OURS;
	char key[ROUTE_LOCAL_MAX];
	int llen = fold_local(t, m->addr.local, key, sizeof key);
	if (llen < 0)
		return ROUTE_BAD_ADDRESS;
	enum route_verdict v = lookup_local(t, key, (size_t)llen, m);
	if (v == ROUTE_MATCH)
		return v;
	const char *domain = m->addr.domain_ascii;
	size_t d = route_map_get(&t->domain_map, domain, strlen(domain));
	if (d && (v = lookup_domain(t, &t->domains[d - 1], key, m)) == ROUTE_MATCH)
		return v;
	bool accepted;
	const struct route_entry *e = find_sub(t, domain, &accepted);
	if (e) {
		tag_after_match(t, &m->addr);
		return matched(m, e, MATCH_SUBDOMAIN);
	}
	return d || accepted ? ROUTE_UNKNOWN_USER : ROUTE_NOT_OURS;
}

bool route_domain_is_ours(const struct route_table *t, const char *domain)
{
	char ascii[ROUTE_DOMAIN_MAX];
	if (!t || !domain || idna_to_ascii(domain, ascii, sizeof ascii) < 0)
		return false;
	if (route_map_get(&t->domain_map, ascii, strlen(ascii)))
		return true;
	bool accepted;
	find_sub(t, ascii, &accepted);
	return accepted;
}

size_t route_domain_count(const struct route_table *t)
{
	return t ? t->n_listed : 0;
}

const char *route_domain_at(const struct route_table *t, size_t i)
{
	return t && i < t->n_listed ? t->listed[i] : NULL;
}
