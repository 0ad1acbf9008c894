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
 * It never prints and never exits; the caller decides what to do with diag.
 * The routing table is built last, from the finished routes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/tls1.h>

#include "config.h"
#include "config_int.h"
#include "routes.h"
#include "toml.h"

/* Bounds on what one file may declare, so a hostile file cannot exhaust memory. */
#define MAX_LIST_ITEMS  1000000 /* patterns, domains, headers ... per key */
#define MAX_SECRET_FILE 65536   /* bytes */
/* RFC 5322 atext that is not a letter or digit: what a tag separator may be. */
#define PLUS_SEP_CHARS "!#$%&'+-/=?^_`{|}~."

struct load {
	const char *file;
	struct gw_diag *diag;
	struct gw_config *cfg;
};

/* ---------------------------------------------------------------- diag */

__attribute__((format(printf, 6, 0))) static void
diag_vadd(char ***list, size_t *n, const char *file, int line, int col, const char *fmt, va_list ap)
{
	char msg[768];
	char *s = NULL;
	char **grown;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0) {
		if (asprintf(&s, "%s:%d:%d: %s", file ? file : "-", line, col, msg) < 0)
			return;
	} else if (asprintf(&s, "%s: %s", file ? file : "-", msg) < 0) {
		return;
	}
	grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown) {
		free(s);
		return;
	}
	*list = grown;
	(*list)[(*n)++] = s;
}

static void diag_warning_text(struct gw_diag *d, const char *file, int line, int col, ...)
{
	va_list ap;

	va_start(ap, col);
	diag_vadd(&d->warnings, &d->n_warnings, file, line, col, "warning: %s", ap);
	va_end(ap);
}

void diag_add_error(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	diag_vadd(&d->errors, &d->n_errors, file, line, col, fmt, ap);
	va_end(ap);
}

/* Warnings carry their word in the text: "file:line:col: warning: ...". */
void diag_add_warning(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_warning_text(d, file, line, col, msg);
}

void diag_free(struct gw_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_errors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

__attribute__((format(printf, 3, 4))) static void err_at(struct load *L, const toml_value *v,
                                                         const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add_error(L->diag, L->file, v ? toml_line(v) : 0, v ? toml_col(v) : 0, "%s", msg);
}

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

static void *field(void *base, size_t offset)
{
	return (char *)base + offset;
}

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

static bool is_type(struct load *L, const toml_value *v, toml_type t, const char *key)
{
	if (toml_type_of(v) == t)
		return true;
	err_at(L, v, "'%s' must be a %s, not a %s", key, toml_type_name(t),
	       toml_type_name(toml_type_of(v)));
	return false;
}

/* A string value, checked to have no NUL byte (C strings everywhere after). */
static const char *string_of(struct load *L, const toml_value *v, const char *key)
{
	size_t len;
	const char *s;

	if (!is_type(L, v, TOML_STRING, key))
		return NULL;
	s = toml_string(v, &len);
	if (strlen(s) != len) {
		err_at(L, v, "'%s' must not contain a NUL character", key);
		return NULL;
	}
	return s;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void replace_str(char **slot, const char *s)
{
	free(*slot);
	*slot = xstrdup(s);
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A string or a list of strings, as a new char ** (positions optional). */
static int string_list(struct load *L, const toml_value *v, const char *key, bool allow_single,
                       char ***out, size_t *n_out, int **lines, int **cols)
{
	size_t n;
	char **list;

	if (allow_single && toml_type_of(v) == TOML_STRING) {
		const char *s = string_of(L, v, key);

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
		err_at(L, v, "'%s' must be %sa list of strings", key,
		       allow_single ? "a string or " : "");
		return -1;
	}
	n = toml_array_len(v);
	if (n > MAX_LIST_ITEMS) {
		err_at(L, v, "'%s' has more than %d items", key, MAX_LIST_ITEMS);
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
		const char *s = string_of(L, item, key);

		if (!s || !(list[i] = strdup(s))) {
			free_list(list, i);
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

static bool valid_hostname(const char *s)
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

static bool valid_header_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* -------------------------------------------------------------- secrets */

static char *read_secret_file(struct load *L, const toml_value *v, const char *path)
{
	struct stat st;
	char *buf;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		err_at(L, v, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_at(L, v, "'%s' is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		err_at(L, v, "'%s' may be read by others (mode %03o): chmod 600 it", path,
		       (unsigned)(st.st_mode & 0777));
		close(fd);
		return NULL;
	}
	if (st.st_size > MAX_SECRET_FILE) {
		err_at(L, v, "'%s' is larger than %d bytes", path, MAX_SECRET_FILE);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	got = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (got < 0) {
		err_at(L, v, "cannot read '%s': %s", path, strerror(errno));
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	return buf;
}

/* Splits text on white space (env: spaces; file: lines) into a new list. */
static int split_secrets(const char *text, char ***out, size_t *n)
{
	char **list = NULL;
	size_t count = 0;

	for (const char *p = text; *p;) {
		size_t len = strcspn(p, " \t\r\n");
		char **grown;

		if (len == 0) {
			p++;
			continue;
		}
		grown = realloc(list, (count + 1) * sizeof(*list));
		if (!grown || !(grown[count] = strndup(p, len))) {
			free_list(grown ? grown : list, count);
			return -1;
		}
		list = grown;
		count++;
		p += len;
	}
	*out = list;
	*n = count;
	return 0;
}

/*
 * A secret key may be written as NAME, NAME_env or NAME_file. Returns the
 * list of values (one for KT_SECRET), or -1 after reporting.
 */
static int secret_values(struct load *L, const toml_value *v, const char *key, int how, bool multi,
                         char ***out, size_t *n)
{
	const char *s;

	if (how == 0 && multi)
		return string_list(L, v, key, true, out, n, NULL, NULL);
	if (how == 0) {
		if (!(s = string_of(L, v, key)))
			return -1;
		if (!*s) {
			err_at(L, v, "'%s' must not be empty", key);
			return -1;
		}
		*out = calloc(1, sizeof(char *));
		if (!*out || !((*out)[0] = strdup(s))) {
			free(*out);
			return -1;
		}
		*n = 1;
		return 0;
	}
	if (!(s = string_of(L, v, key)))
		return -1;
	if (how == 1) {
		const char *env = getenv(s);

		if (!env || !*env) {
			err_at(L, v, "environment variable '%s' (for '%s') is not set", s, key);
			return -1;
		}
		if (split_secrets(env, out, n) < 0)
			return -1;
	} else {
		char *text = read_secret_file(L, v, s);
		int rc;

		if (!text)
			return -1;
		rc = split_secrets(text, out, n);
		free(text);
		if (rc < 0)
			return -1;
	}
	if (*n == 0 || (!multi && *n != 1)) {
		err_at(L, v, "'%s' must give %s", key, multi ? "at least one value" : "one value");
		free_list(*out, *n);
		return -1;
	}
	return 0;
}

/* -------------------------------------------------------- typed setters */

static int set_u64_ranged(struct load *L, const struct config_key *k, const toml_value *v,
                          uint64_t n, uint64_t *out)
{
	if ((k->min || k->max) && (n < k->min || n > k->max)) {
		err_at(L, v, "'%s' must be between %llu and %llu%s", k->name,
		       (unsigned long long)k->min, (unsigned long long)k->max,
		       k->type == KT_DURATION ? " ms" : (k->type == KT_SIZE ? " bytes" : ""));
		return -1;
	}
	*out = n;
	return 0;
}

static int set_size_or_duration(struct load *L, const struct config_key *k, const toml_value *v,
                                void *slot)
{
	uint64_t n;
	const char *s;

	if (toml_type_of(v) == TOML_INTEGER && (k->type == KT_SIZE || toml_integer(v) == 0)) {
		if (toml_integer(v) < 0) {
			err_at(L, v, "'%s' must not be negative", k->name);
			return -1;
		}
		n = (uint64_t)toml_integer(v);
	} else {
		if (toml_type_of(v) != TOML_STRING) {
			err_at(L, v, "'%s' must be a %s such as %s", k->name,
			       k->type == KT_SIZE ? "size" : "duration",
			       k->type == KT_SIZE ? "\"25MB\"" : "\"30s\"");
			return -1;
		}
		s = toml_string(v, NULL);
		if ((k->type == KT_SIZE ? config_parse_size(s, &n) : config_parse_duration(s, &n)) <
		    0) {
			err_at(L, v, "'%s': '%s' is not a %s (%s)", k->name, s,
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
	const char *s = string_of(L, v, k->name);

	if (!s)
		return -1;
	if (parse_hostport(s, -1, &l->addr, &l->addrlen) < 0) {
		err_at(L, v,
		       "'%s': '%s' is not a numeric \"address:port\" (\"127.0.0.1:2525\", "
		       "\"[::]:25\")",
		       k->name, s);
		return -1;
	}
	replace_str(&l->address, s);
	return 0;
}

static int set_cidrs(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	char **list;
	size_t n;
	struct gw_cidr *c;
	int rc = 0;

	if (string_list(L, v, k->name, false, &list, &n, NULL, NULL) < 0)
		return -1;
	c = calloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++) {
		if (parse_cidr(list[i], &c[i]) < 0) {
			err_at(L, toml_array_at(v, i), "'%s': '%s' is not an address or prefix",
			       k->name, list[i]);
			rc = -1;
		}
	}
	free_list(list, n);
	if (!c || rc < 0) {
		free(c);
		return -1;
	}
	free(*(struct gw_cidr **)field(base, k->offset));
	*(struct gw_cidr **)field(base, k->offset) = c;
	*(size_t *)field(base, k->offset2) = n;
	return 0;
}

static int set_dns_servers(struct load *L, const struct config_key *k, const toml_value *v,
                           void *base)
{
	char **list;
	size_t n;
	int rc = 0;

	if (string_list(L, v, k->name, false, &list, &n, NULL, NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (parse_hostport(list[i], 53, &ss, &len) < 0) {
			err_at(L, toml_array_at(v, i),
			       "'%s': '%s' is not a numeric \"ip\" or \"ip:port\"", k->name,
			       list[i]);
			rc = -1;
		}
	}
	if (rc < 0) {
		free_list(list, n);
		return -1;
	}
	free_list(*(char ***)field(base, k->offset), *(size_t *)field(base, k->offset2));
	*(char ***)field(base, k->offset) = list;
	*(size_t *)field(base, k->offset2) = n;
	return 0;
}

static int set_headers(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	struct gw_route *r = base;
	size_t n;

	if (!is_type(L, v, TOML_TABLE, k->name))
		return -1;
	n = toml_table_len(v);
	r->headers = calloc(n ? n : 1, sizeof(*r->headers));
	if (!r->headers)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = toml_table_key(v, i, NULL);
		const toml_value *hv = toml_table_value(v, i);
		const char *value = string_of(L, hv, name);

		if (!valid_header_name(name)) {
			diag_add_error(L->diag, L->file, toml_table_key_line(v, i),
			               toml_table_key_col(v, i), "'%s' is not a valid header name",
			               name);
			continue;
		}
		if (!value)
			continue;
		if (has_crlf(value)) {
			err_at(L, hv, "header '%s' must not contain CR or LF", name);
			continue;
		}
		r->headers[r->n_headers].name = strdup(name);
		r->headers[r->n_headers].value = strdup(value);
		r->n_headers++;
	}
	return 0;
}

/* "550 5.1.1 text": code and enhanced status of the same class. */
static int parse_reply_text(const char *s, struct gw_reply_override *o)
{
	int code, a, b, c, used = 0;

	if (sscanf(s, "%3d %d.%d.%d%n", &code, &a, &b, &c, &used) != 4)
		return -1;
	if (code < 200 || code > 599 || (code / 100 != 2 && code / 100 != 4 && code / 100 != 5))
		return -1;
	if (a != code / 100 || b < 0 || b > 999 || c < 0 || c > 999)
		return -1;
	if (s[used] && s[used] != ' ')
		return -1;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return -1;
	o->code = code;
	snprintf(o->status, sizeof(o->status), "%c.%d.%d", (char)('0' + a), b % 1000, c % 1000);
	o->text = strdup(s[used] ? s + used + 1 : "");
	return o->text ? 0 : -1;
}

static bool valid_reply_key(const char *k)
{
	if (strcmp(k, "connect") == 0 || strcmp(k, "timeout") == 0)
		return true;
	if (strlen(k) != 3 || k[0] < '1' || k[0] > '5')
		return false;
	if (strcmp(k + 1, "xx") == 0)
		return true;
	return isdigit((unsigned char)k[1]) && isdigit((unsigned char)k[2]);
}

static int set_replies(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	struct gw_route *r = base;
	size_t n;

	if (!is_type(L, v, TOML_TABLE, k->name))
		return -1;
	n = toml_table_len(v);
	r->replies = calloc(n ? n : 1, sizeof(*r->replies));
	if (!r->replies)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *key = toml_table_key(v, i, NULL);
		const toml_value *rv = toml_table_value(v, i);
		const char *text = string_of(L, rv, key);
		struct gw_reply_override *o = &r->replies[r->n_replies];

		if (!valid_reply_key(key)) {
			diag_add_error(L->diag, L->file, toml_table_key_line(v, i),
			               toml_table_key_col(v, i),
			               "'%s' is not an HTTP status (\"404\"), a class (\"4xx\"), "
			               "\"connect\" or \"timeout\"",
			               key);
			continue;
		}
		if (!text)
			continue;
		if (parse_reply_text(text, o) < 0) {
			err_at(L, rv,
			       "reply for '%s' must be \"CODE X.Y.Z text\" with code 2xx, 4xx or "
			       "5xx, X its class, printable ASCII",
			       key);
			continue;
		}
		o->key = strdup(key);
		r->n_replies++;
	}
	return 0;
}

static int set_enum(struct load *L, const struct config_key *k, const toml_value *v, void *slot)
{
	const char *s = string_of(L, v, k->name);
	int i;
	char names[256];

	if (!s)
		return -1;
	i = enum_index(k->names, s);
	if (i < 0) {
		enum_list(k->names, names, sizeof(names));
		err_at(L, v, "'%s' must be one of %s, not \"%s\"", k->name, names, s);
		return -1;
	}
	*(int *)slot = i;
	return 0;
}

static int set_simple(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	void *slot = field(base, k->offset);
	const char *s;

	switch (k->type) {
	case KT_BOOL:
		if (!is_type(L, v, TOML_BOOL, k->name))
			return -1;
		*(bool *)slot = toml_bool(v);
		return 0;
	case KT_U32: {
		uint64_t n;

		if (!is_type(L, v, TOML_INTEGER, k->name))
			return -1;
		if (toml_integer(v) < 0 || toml_integer(v) > UINT32_MAX) {
			err_at(L, v, "'%s' must be between %llu and %llu", k->name,
			       (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		if (set_u64_ranged(L, k, v, (uint64_t)toml_integer(v), &n) < 0)
			return -1;
		*(uint32_t *)slot = (uint32_t)n;
		return 0;
	}
	case KT_SIZE:
	case KT_DURATION:
		return set_size_or_duration(L, k, v, slot);
	case KT_ENUM:
		return set_enum(L, k, v, slot);
	case KT_STRING:
	case KT_PATH:
		if (!(s = string_of(L, v, k->name)))
			return -1;
		if (!*s) {
			err_at(L, v, "'%s' must not be empty", k->name);
			return -1;
		}
		replace_str(slot, s);
		return 0;
	case KT_HOSTNAME:
		if (!(s = string_of(L, v, k->name)))
			return -1;
		if (!valid_hostname(s)) {
			err_at(L, v, "'%s': '%s' is not a host name", k->name, s);
			return -1;
		}
		replace_str(slot, s);
		return 0;
	case KT_WORKERS:
		if (toml_type_of(v) == TOML_STRING && strcmp(toml_string(v, NULL), "auto") == 0) {
			*(uint32_t *)slot = 0;
			return 0;
		}
		if (toml_type_of(v) != TOML_INTEGER || toml_integer(v) < 1 ||
		    toml_integer(v) > (int64_t)k->max) {
			err_at(L, v, "'%s' must be \"auto\" or an integer from 1 to %llu", k->name,
			       (unsigned long long)k->max);
			return -1;
		}
		*(uint32_t *)slot = (uint32_t)toml_integer(v);
		return 0;
	case KT_TLS_VERSION:
		if (!(s = string_of(L, v, k->name)))
			return -1;
		if (strcmp(s, "1.2") == 0) {
			*(uint32_t *)slot = TLS1_2_VERSION;
		} else if (strcmp(s, "1.3") == 0) {
			*(uint32_t *)slot = TLS1_3_VERSION;
		} else {
			err_at(L, v, "'%s' must be \"1.2\" or \"1.3\"", k->name);
			return -1;
		}
		return 0;
	case KT_PLUS_SEP:
		if (!(s = string_of(L, v, k->name)))
			return -1;
		if (strlen(s) > 7 || strspn(s, PLUS_SEP_CHARS) != strlen(s)) {
			err_at(L, v, "'%s' must be up to 7 of the characters %s", k->name,
			       PLUS_SEP_CHARS);
			return -1;
		}
		memcpy(slot, s, strlen(s) + 1);
		return 0;
	case KT_STRING_LIST: {
		char **list;
		size_t n;

		if (string_list(L, v, k->name, false, &list, &n, NULL, NULL) < 0)
			return -1;
		free_list(*(char ***)slot, *(size_t *)field(base, k->offset2));
		*(char ***)slot = list;
		*(size_t *)field(base, k->offset2) = n;
		return 0;
	}
	case KT_LISTEN:
		return set_listen(L, k, v, base);
	case KT_CIDR_LIST:
		return set_cidrs(L, k, v, base);
	case KT_DNS_SERVERS:
		return set_dns_servers(L, k, v, base);
	default:
		return -1;
	}
}

static int set_route_key(struct load *L, const struct config_key *k, const toml_value *v,
                         void *base, int how)
{
	struct gw_route *r = base;
	const char *s;

	switch (k->type) {
	case KT_MATCH:
		if (string_list(L, v, k->name, true, &r->match, &r->n_match, &r->match_line,
		                &r->match_col) < 0)
			return -1;
		if (r->n_match == 0) {
			err_at(L, v, "'match' must name at least one pattern");
			return -1;
		}
		return 0;
	case KT_URL:
		if (!(s = string_of(L, v, k->name)))
			return -1;
		if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
			err_at(L, v, "'url' must start with http:// or https://");
			return -1;
		}
		if (strpbrk(s, " \t\r\n") || strlen(s) < 9) {
			err_at(L, v, "'url' is not a URL: \"%s\"", s);
			return -1;
		}
		replace_str(&r->url, s);
		return 0;
	case KT_HEADERS:
		return set_headers(L, k, v, base);
	case KT_REPLIES:
		return set_replies(L, k, v, base);
	case KT_SECRETS:
	case KT_SECRET: {
		char **list;
		size_t n;

		if (secret_values(L, v, k->name, how, k->type == KT_SECRETS, &list, &n) < 0)
			return -1;
		if (k->type == KT_SECRETS) {
			free_list(r->secrets, r->n_secrets);
			r->secrets = list;
			r->n_secrets = n;
			return 0;
		}
		free(*(char **)field(base, k->offset));
		*(char **)field(base, k->offset) = list[0];
		free(list);
		return 0;
	}
	default:
		return set_simple(L, k, v, base);
	}
}

/* ------------------------------------------------------------- defaults */

static void apply_default(const struct config_key *k, void *base)
{
	void *slot = field(base, k->offset);
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
		*(char **)slot = strdup(k->def);
		break;
	default: /* lists and tables start empty */
		break;
	}
}

static void apply_defaults(const struct config_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++)
		apply_default(&keys[i], base);
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
				set_simple(L, k, v, opts_base);
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
			set_route_key(L, k, v, base, how);
		else
			set_simple(L, k, v, base);
	}
}

static void check_required(struct load *L, const toml_value *t, const char *section,
                           const struct config_key *keys, size_t n, const bool *seen)
{
	for (size_t i = 0; i < n; i++)
		if ((keys[i].flags & KEY_REQUIRED) && !seen[i])
			err_at(L, t, "[[%s]] needs '%s'", section, keys[i].name);
}

static void *section_base(struct gw_config *cfg, const char *name)
{
	if (strcmp(name, "server") == 0)
		return &cfg->server;
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
	*dst = *src;
	dst->ca_file = xstrdup(src->ca_file);
	dst->client_cert = xstrdup(src->client_cert);
	dst->client_key = xstrdup(src->client_key);
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
		err_at(L, arr, "'%s' must be written as [[%s]] tables", s->name, s->name);
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
			err_at(L, t, "'%s' must be written as [[%s]] tables", s->name, s->name);
			continue;
		}
		memset(seen, 0, sizeof(seen));
		apply_defaults(s->keys, s->n_keys, base);
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
		set_simple(L, k, v, L->cfg);
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
				err_at(L, v, "'%s' must be a table: [%s]", name, name);
			} else if (strcmp(name, "tls") == 0) {
				load_tls(L, v);
			} else {
				load_table(L, v, name, s->keys, s->n_keys,
				           section_base(L->cfg, name), NULL, NULL);
			}
		}
	}
}

/* ----------------------------------------------------------- validation */

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

static void validate_certs(struct load *L)
{
	for (size_t i = 0; i < L->cfg->n_certs; i++) {
		struct gw_tls_cert *c = &L->cfg->certs[i];
		struct stat st;

		if (c->cert_file && access(c->cert_file, R_OK) < 0)
			diag_add_error(L->diag, L->file, 0, 0, "certificate '%s': %s", c->cert_file,
			               strerror(errno));
		if (!c->key_file)
			continue;
		if (stat(c->key_file, &st) < 0 || access(c->key_file, R_OK) < 0)
			diag_add_error(L->diag, L->file, 0, 0, "key '%s': %s", c->key_file,
			               strerror(errno));
		else if (st.st_mode & (S_IRWXG | S_IRWXO))
			diag_add_error(L->diag, L->file, 0, 0,
			               "key '%s' may be read by others (mode %03o): chmod 600 it",
			               c->key_file, (unsigned)(st.st_mode & 0777));
	}
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
		for (size_t s = 0; s < r->n_secrets; s++)
			if (strncmp(r->secrets[s], "whsec_", 6) != 0 &&
			    strncmp(r->secrets[s], "whsk_", 5) != 0)
				diag_add_error(L->diag, L->file, r->line, r->col,
				               "route '%s': a secret must start with whsec_ "
				               "(HMAC-SHA256) or whsk_ (Ed25519)",
				               r->name);
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
	fclose(f);
	return buf;
}

/* Routes whose requests are indistinguishable share an endpoint id: sort and number. */
static int assign_endpoints(struct gw_config *c)
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

/* --------------------------------------------------------------- public */

static void default_hostname(struct gw_config *c)
{
	char host[256];

	if (c->server.hostname)
		return;
	if (gethostname(host, sizeof(host)) < 0 || !valid_hostname(host))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	c->server.hostname = strdup(host);
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
			apply_defaults(s->keys, s->n_keys, base);
	}
	return c;
}

static struct gw_config *config_finish(struct gw_config *c, const toml_value *root,
                                       struct gw_diag *diag)
{
	struct load L = {c->path, diag, c};
	size_t errors_before = diag->n_errors;

	load_root(&L, root);
	default_hostname(c);
	validate_listeners(&L);
	validate_certs(&L);
	validate_routes(&L);
	validate_users(&L);
	if (diag->n_errors == errors_before && assign_endpoints(c) < 0)
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
		c = config_finish(c, root, diag);
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

	if (!root) {
		diag_add_error(diag, path, terr.line, terr.col, "%s", terr.msg);
		return NULL;
	}
	c = config_new(path);
	if (c)
		c = config_finish(c, root, diag);
	else
		diag_add_error(diag, path, 0, 0, "out of memory");
	toml_free(root);
	return c;
}

static void route_free(struct gw_route *r)
{
	free(r->name);
	free_list(r->match, r->n_match);
	free(r->match_line);
	free(r->match_col);
	free(r->url);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free_list(r->secrets, r->n_secrets);
	free(r->bearer_token);
	free(r->basic_user);
	free(r->basic_password);
	for (size_t i = 0; i < r->n_replies; i++) {
		free(r->replies[i].key);
		free(r->replies[i].text);
	}
	free(r->replies);
	free(r->opts.ca_file);
	free(r->opts.client_cert);
	free(r->opts.client_key);
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
	free(c->server.hostname);
	free(c->server.user);
	free(c->auth.dmarc_psl_file);
	free_list(c->dns.servers, c->dns.n_servers);
	free_list(c->routing.domains, c->routing.n_domains);
	free(c->webhook.ca_file);
	free(c->webhook.client_cert);
	free(c->webhook.client_key);
	free(c->path);
	free(c);
}
