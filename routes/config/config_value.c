/*
 * config_value.c: one TOML value to one configuration field.
 *
 * The typed setters behind the key tables, one per key type in one table
 * (setters[]): booleans, integers, sizes ("25MB"), durations ("30s"),
 * enums, strings, host names, listen addresses, prefixes, resolver
 * addresses; and the defaults declared in config_keys.c. The values only a
 * [[route]] or [[user]] holds (patterns, URL, headers, reply overrides,
 * secrets) are in config_route_value.c. Each mistake is reported at the
 * value's file:line:col and leaves the field as it was.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/tls1.h>

#include "config.h"
#include "config_int.h"
#include "safe_file.h"
#include "toml.h"

/* Bounds on what one file may declare, so a hostile file cannot exhaust memory. */
#define MAX_LIST_ITEMS 1000000 /* patterns, domains, headers ... per key */
/* RFC 5322 atext that is not a letter or digit: what a tag separator may be. */
#define PLUS_SEP_CHARS "!#$%&'+-/=?^_`{|}~."

/* ------------------------------------------------------ sizes, durations */

int config_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
	    {"", 1},        {"b", 1},        {"k", 1024},      {"kb", 1024},
	    {"kib", 1024},  {"m", 1 << 20},  {"mb", 1 << 20},  {"mib", 1 << 20},
	    {"g", 1 << 30}, {"gb", 1 << 30}, {"gib", 1 << 30},
	};
	char *end;
	unsigned long long n;
	char unit[8];
	size_t ul = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	while (*end == ' ')
		end++;
	for (; end[ul] && ul < sizeof(unit) - 1; ul++)
		unit[ul] = (char)tolower((unsigned char)end[ul]);
	if (end[ul])
		return -1;
	unit[ul] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].unit) != 0)
			continue;
		if (n > UINT64_MAX / units[i].mult)
			return -1;
		*out = n * units[i].mult;
		return 0;
	}
	return -1;
}

int config_parse_duration(const char *s, uint64_t *out_ms)
{
	uint64_t total = 0;

	if (!s || !*s)
		return -1;
	if (strcmp(s, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	while (*s) {
		char *end;
		unsigned long long n;
		uint64_t mult;

		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		n = strtoull(s, &end, 10);
		if (errno || end == s)
			return -1;
		if (strncmp(end, "ms", 2) == 0) {
			mult = 1;
			end += 2;
		} else if (*end == 's') {
			mult = 1000;
			end++;
		} else if (*end == 'm') {
			mult = 60 * 1000;
			end++;
		} else if (*end == 'h') {
			mult = 3600 * 1000;
			end++;
		} else if (*end == 'd') {
			mult = 86400 * 1000;
			end++;
		} else {
			return -1;
		}
		if (n > (UINT64_MAX - total) / mult)
			return -1;
		total += n * mult;
		s = end;
	}
	*out_ms = total;
	return 0;
}

/* ------------------------------------------------------------ helpers */

static int enum_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static void enum_list(const char *const *names, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s\"%s\"", i ? ", " : "", names[i]);
}

bool cfg_is_type(struct load *L, const toml_value *v, toml_type t, const char *key)
{
	if (toml_type_of(v) == t)
		return true;
	cfg_err_at(L, v, "'%s' must be a %s, not a %s", key, toml_type_name(t),
	           toml_type_name(toml_type_of(v)));
	return false;
}

/* A string value, checked to have no NUL byte (C strings everywhere after). */
const char *cfg_string_of(struct load *L, const toml_value *v, const char *key)
{
	size_t len;
	const char *s;

	if (!cfg_is_type(L, v, TOML_STRING, key))
		return NULL;
	s = toml_string(v, &len);
	if (strlen(s) != len) {
		cfg_err_at(L, v, "'%s' must not contain a NUL character", key);
		return NULL;
	}
	return s;
}

char *cfg_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void cfg_replace_str(char **slot, const char *s)
{
	free(*slot);
	*slot = cfg_strdup(s);
}

void cfg_free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A string or a list of strings, as a new char ** (positions optional). */
int cfg_string_list(struct load *L, const toml_value *v, const char *key, bool allow_single,
                    char ***out, size_t *n_out, int **lines, int **cols)
{
	size_t n;
	char **list;

	if (allow_single && toml_type_of(v) == TOML_STRING) {
		const char *s = cfg_string_of(L, v, key);

		if (!s)
			return -1;
		list = calloc(1, sizeof(*list));
		if (!list || !(list[0] = strdup(s))) {
			free(list);
			return -1;
		}
		if (lines) {
			*lines = malloc(sizeof(int));
			*cols = malloc(sizeof(int));
			if (*lines && *cols) {
				(*lines)[0] = toml_line(v);
				(*cols)[0] = toml_col(v);
			}
		}
		*out = list;
		*n_out = 1;
		return 0;
	}
	if (toml_type_of(v) != TOML_ARRAY) {
		cfg_err_at(L, v, "'%s' must be %sa list of strings", key,
		           allow_single ? "a string or " : "");
		return -1;
	}
	n = toml_array_len(v);
	if (n > MAX_LIST_ITEMS) {
		cfg_err_at(L, v, "'%s' has more than %d items", key, MAX_LIST_ITEMS);
		return -1;
	}
	list = calloc(n ? n : 1, sizeof(*list));
	if (lines) {
		*lines = calloc(n ? n : 1, sizeof(int));
		*cols = calloc(n ? n : 1, sizeof(int));
	}
	if (!list || (lines && (!*lines || !*cols))) {
		free(list);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const toml_value *item = toml_array_at(v, i);
		const char *s = cfg_string_of(L, item, key);

		if (!s || !(list[i] = strdup(s))) {
			cfg_free_list(list, i);
			return -1;
		}
		if (lines) {
			(*lines)[i] = toml_line(item);
			(*cols)[i] = toml_col(item);
		}
	}
	*out = list;
	*n_out = n;
	return 0;
}

/* ------------------------------------------------------------ addresses */

/* "host:port", "[v6]:port", or with default_port "host" / "[v6]". */
static int parse_hostport(const char *s, int default_port, struct sockaddr_storage *ss,
                          socklen_t *len)
{
	char host[256];
	const char *port = NULL;
	struct addrinfo hints = {0}, *res = NULL;
	char portbuf[16];
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			return -1;
		hl = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return -1;
		s++;
	} else {
		const char *colon = strrchr(s, ':');

		if (colon && strchr(s, ':') != colon)
			return -1; /* a bare IPv6 address must be bracketed */
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!port) {
		if (default_port < 0)
			return -1;
		snprintf(portbuf, sizeof(portbuf), "%d", default_port);
		port = portbuf;
	}
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    strtoul(port, NULL, 10) > 65535)
		return -1;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int parse_cidr(const char *s, struct gw_cidr *c)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t al = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (al == 0 || al >= sizeof(buf))
		return -1;
	memcpy(buf, s, al);
	buf[al] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	c->prefix = max;
	if (slash) {
		char *end;
		long p;

		if (!isdigit((unsigned char)slash[1]))
			return -1;
		p = strtol(slash + 1, &end, 10);
		if (*end || p < 0 || p > max)
			return -1;
		c->prefix = (int)p;
	}
	return 0;
}

bool cfg_valid_hostname(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* -------------------------------------------------------- typed setters */

static int set_u64_ranged(struct load *L, const struct config_key *k, const toml_value *v,
                          uint64_t n, uint64_t *out)
{
	if ((k->min || k->max) && (n < k->min || n > k->max)) {
		cfg_err_at(L, v, "'%s' must be between %llu and %llu%s", k->name,
		           (unsigned long long)k->min, (unsigned long long)k->max,
		           k->type == KT_DURATION ? " ms" : (k->type == KT_SIZE ? " bytes" : ""));
		return -1;
	}
	*out = n;
	return 0;
}

static int set_size_or_duration(struct load *L, const struct config_key *k, const toml_value *v,
                                void *base)
{
	uint64_t *slot = cfg_field(base, k->offset);
	uint64_t n;
	const char *s;

	if (toml_type_of(v) == TOML_INTEGER && (k->type == KT_SIZE || toml_integer(v) == 0)) {
		if (toml_integer(v) < 0) {
			cfg_err_at(L, v, "'%s' must not be negative", k->name);
			return -1;
		}
		n = (uint64_t)toml_integer(v);
	} else {
		if (toml_type_of(v) != TOML_STRING) {
			cfg_err_at(L, v, "'%s' must be a %s such as %s", k->name,
			           k->type == KT_SIZE ? "size" : "duration",
			           k->type == KT_SIZE ? "\"25MB\"" : "\"30s\"");
			return -1;
		}
		s = toml_string(v, NULL);
		if ((k->type == KT_SIZE ? config_parse_size(s, &n) : config_parse_duration(s, &n)) <
		    0) {
			cfg_err_at(L, v, "'%s': '%s' is not a %s (%s)", k->name, s,
			           k->type == KT_SIZE ? "size" : "duration",
			           k->type == KT_SIZE ? "e.g. \"512KB\", \"25MB\""
			                              : "e.g. \"500ms\", \"30s\", \"5m\"");
			return -1;
		}
	}
	return set_u64_ranged(L, k, v, n, slot);
}

static int set_listen(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	struct gw_listener *l = base;
	const char *s = cfg_string_of(L, v, k->name);

	if (!s)
		return -1;
	if (parse_hostport(s, -1, &l->addr, &l->addrlen) < 0) {
		cfg_err_at(L, v,
		           "'%s': '%s' is not a numeric \"address:port\" (\"127.0.0.1:2525\", "
		           "\"[::]:25\")",
		           k->name, s);
		return -1;
	}
	cfg_replace_str(&l->address, s);
	return 0;
}

static int set_cidrs(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	char **list;
	size_t n;
	struct gw_cidr *c;
	int rc = 0;

	if (cfg_string_list(L, v, k->name, false, &list, &n, NULL, NULL) < 0)
		return -1;
	c = calloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++) {
		if (parse_cidr(list[i], &c[i]) < 0) {
			cfg_err_at(L, toml_array_at(v, i), "'%s': '%s' is not an address or prefix",
			           k->name, list[i]);
			rc = -1;
		}
	}
	cfg_free_list(list, n);
	if (!c || rc < 0) {
		free(c);
		return -1;
	}
	free(*(struct gw_cidr **)cfg_field(base, k->offset));
	*(struct gw_cidr **)cfg_field(base, k->offset) = c;
	*(size_t *)cfg_field(base, k->offset2) = n;
	return 0;
}

static int set_dns_servers(struct load *L, const struct config_key *k, const toml_value *v,
                           void *base)
{
	char **list;
	size_t n;
	int rc = 0;

	if (cfg_string_list(L, v, k->name, false, &list, &n, NULL, NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (parse_hostport(list[i], 53, &ss, &len) < 0) {
			cfg_err_at(L, toml_array_at(v, i),
			           "'%s': '%s' is not a numeric \"ip\" or \"ip:port\"", k->name,
			           list[i]);
			rc = -1;
		}
	}
	if (rc < 0) {
		cfg_free_list(list, n);
		return -1;
	}
	cfg_free_list(*(char ***)cfg_field(base, k->offset),
	              *(size_t *)cfg_field(base, k->offset2));
	*(char ***)cfg_field(base, k->offset) = list;
	*(size_t *)cfg_field(base, k->offset2) = n;
	return 0;
}

static int set_enum(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	int *slot = cfg_field(base, k->offset);
	const char *s = cfg_string_of(L, v, k->name);
	int i;
	char names[256];

	if (!s)
		return -1;
	i = enum_index(k->names, s);
	if (i < 0) {
		enum_list(k->names, names, sizeof(names));
		cfg_err_at(L, v, "'%s' must be one of %s, not \"%s\"", k->name, names, s);
		return -1;
	}
	*slot = i;
	return 0;
}

static int set_bool(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	if (!cfg_is_type(L, v, TOML_BOOL, k->name))
		return -1;
	*(bool *)cfg_field(base, k->offset) = toml_bool(v);
	return 0;
}

static int set_u32(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	uint64_t n;

	if (!cfg_is_type(L, v, TOML_INTEGER, k->name))
		return -1;
	if (toml_integer(v) < 0 || toml_integer(v) > UINT32_MAX) {
		cfg_err_at(L, v, "'%s' must be between %llu and %llu", k->name,
		           (unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	if (set_u64_ranged(L, k, v, (uint64_t)toml_integer(v), &n) < 0)
		return -1;
	*(uint32_t *)cfg_field(base, k->offset) = (uint32_t)n;
	return 0;
}

/* KT_STRING and KT_PATH: any string but the empty one. */
static int set_string(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	const char *s = cfg_string_of(L, v, k->name);

	if (!s)
		return -1;
	if (!*s) {
		cfg_err_at(L, v, "'%s' must not be empty", k->name);
		return -1;
	}
	cfg_replace_str(cfg_field(base, k->offset), s);
	return 0;
}

static int set_hostname(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	const char *s = cfg_string_of(L, v, k->name);

	if (!s)
		return -1;
	if (!cfg_valid_hostname(s)) {
		cfg_err_at(L, v, "'%s': '%s' is not a host name", k->name, s);
		return -1;
	}
	cfg_replace_str(cfg_field(base, k->offset), s);
	return 0;
}

/* "auto" (stored as 0) or 1 to k->max. */
static int set_workers(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	uint32_t *slot = cfg_field(base, k->offset);

	if (toml_type_of(v) == TOML_STRING && strcmp(toml_string(v, NULL), "auto") == 0) {
		*slot = 0;
		return 0;
	}
	if (toml_type_of(v) != TOML_INTEGER || toml_integer(v) < 1 ||
	    toml_integer(v) > (int64_t)k->max) {
		cfg_err_at(L, v, "'%s' must be \"auto\" or an integer from 1 to %llu", k->name,
		           (unsigned long long)k->max);
		return -1;
	}
	*slot = (uint32_t)toml_integer(v);
	return 0;
}

static int set_tls_version(struct load *L, const struct config_key *k, const toml_value *v,
                           void *base)
{
	uint32_t *slot = cfg_field(base, k->offset);
	const char *s = cfg_string_of(L, v, k->name);

	if (!s)
		return -1;
	if (strcmp(s, "1.2") == 0) {
		*slot = TLS1_2_VERSION;
	} else if (strcmp(s, "1.3") == 0) {
		*slot = TLS1_3_VERSION;
	} else {
		cfg_err_at(L, v, "'%s' must be \"1.2\" or \"1.3\"", k->name);
		return -1;
	}
	return 0;
}

/* Stored inline (char[8]): up to 7 separator characters. */
static int set_plus_sep(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	const char *s = cfg_string_of(L, v, k->name);

	if (!s)
		return -1;
	if (strlen(s) > 7 || strspn(s, PLUS_SEP_CHARS) != strlen(s)) {
		cfg_err_at(L, v, "'%s' must be up to 7 of the characters %s", k->name,
		           PLUS_SEP_CHARS);
		return -1;
	}
	memcpy(cfg_field(base, k->offset), s, strlen(s) + 1);
	return 0;
}

static int set_string_list(struct load *L, const struct config_key *k, const toml_value *v,
                           void *base)
{
	char **list;
	size_t n;

	if (cfg_string_list(L, v, k->name, false, &list, &n, NULL, NULL) < 0)
		return -1;
	for (size_t i = 0; k->names && i < n; i++)
		if (enum_index(k->names, list[i]) < 0) {
			cfg_err_at(L, v, "'%s': unknown name '%s'", k->name, list[i]);
			cfg_free_list(list, n);
			return -1;
		}
	cfg_free_list(*(char ***)cfg_field(base, k->offset),
	              *(size_t *)cfg_field(base, k->offset2));
	*(char ***)cfg_field(base, k->offset) = list;
	*(size_t *)cfg_field(base, k->offset2) = n;
	return 0;
}

typedef int (*key_setter)(struct load *L, const struct config_key *k, const toml_value *v,
                          void *base);

/* One setter per key type; the types only a route holds have none here. */
static const key_setter setters[KT_MAX] = {
    [KT_BOOL] = set_bool,
    [KT_U32] = set_u32,
    [KT_SIZE] = set_size_or_duration,
    [KT_DURATION] = set_size_or_duration,
    [KT_STRING] = set_string,
    [KT_PATH] = set_string,
    [KT_ENUM] = set_enum,
    [KT_STRING_LIST] = set_string_list,
    [KT_WORKERS] = set_workers,
    [KT_TLS_VERSION] = set_tls_version,
    [KT_PLUS_SEP] = set_plus_sep,
    [KT_HOSTNAME] = set_hostname,
    [KT_LISTEN] = set_listen,
    [KT_CIDR_LIST] = set_cidrs,
    [KT_DNS_SERVERS] = set_dns_servers,
};

int cfg_set_simple(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	if ((unsigned)k->type >= KT_MAX || !setters[k->type])
		return -1;
	return setters[k->type](L, k, v, base);
}

/* ------------------------------------------------------------- defaults */

static void apply_default(const struct config_key *k, void *base)
{
	void *slot = cfg_field(base, k->offset);
	uint64_t n = 0;

	if (!k->def)
		return;
	switch (k->type) {
	case KT_BOOL:
		*(bool *)slot = strcmp(k->def, "true") == 0;
		break;
	case KT_U32:
		*(uint32_t *)slot = (uint32_t)strtoul(k->def, NULL, 10);
		break;
	case KT_SIZE:
		config_parse_size(k->def, &n);
		*(uint64_t *)slot = n;
		break;
	case KT_DURATION:
		config_parse_duration(k->def, &n);
		*(uint64_t *)slot = n;
		break;
	case KT_ENUM:
		*(int *)slot = enum_index(k->names, k->def);
		break;
	case KT_WORKERS:
		*(uint32_t *)slot = 0;
		break;
	case KT_TLS_VERSION:
		*(uint32_t *)slot = strcmp(k->def, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
		break;
	case KT_PLUS_SEP:
		memcpy(slot, k->def, strlen(k->def) + 1);
		break;
	case KT_STRING:
	case KT_PATH:
	case KT_HOSTNAME:
	case KT_URL: /* [spam] rspamd_url; a route's url has no default */
		*(char **)slot = strdup(k->def);
		break;
	default: /* lists and tables start empty */
		break;
	}
}

void cfg_apply_defaults(const struct config_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++)
		apply_default(&keys[i], base);
}
