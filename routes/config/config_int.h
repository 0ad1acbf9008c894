/*
 * config_int.h: the configuration key tables, shared by the loader
 * (config.c) and the tables themselves (config_keys.c). Not exported
 * outside routes/.
 */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum key_type {
	KT_BOOL,
	KT_U32,
	KT_SIZE,        /* "25MB" or an integer of bytes */
	KT_DURATION,    /* "30s", "5m", "500ms" */
	KT_STRING,      /* stored as char * */
	KT_PATH,        /* a file name, stored as char * */
	KT_ENUM,        /* one of names[], stored as int */
	KT_STRING_LIST, /* char ** at offset, size_t count at offset2 */
	KT_WORKERS,     /* "auto" or an integer */
	KT_TLS_VERSION, /* "1.2" or "1.3" */
	KT_PLUS_SEP,    /* a short string, stored inline (char[8]) */
	KT_HOSTNAME,    /* a domain name, stored as char * */
	KT_LISTEN,      /* "host:port", parsed to a sockaddr */
	KT_CIDR_LIST,   /* ["10.0.0.0/8", "::1"] */
	KT_DNS_SERVERS, /* ["127.0.0.1:5353", "[::1]"] */
	KT_MATCH,       /* route patterns: a string or a list of strings */
	KT_URL,         /* http:// or https:// */
	KT_HEADERS,     /* inline table of header name -> value */
	KT_SECRETS,     /* a string or a list; also NAME_env and NAME_file */
	KT_SECRET,      /* a string; also NAME_env and NAME_file */
	KT_REPLIES,     /* inline table: "404" = "550 5.1.1 text" */
	KT_MAX
};

/* The flags of a key. */
#define KEY_REQUIRED   0x01 /* no default; the table must give it */
#define KEY_RELOADABLE 0x02 /* SIGHUP applies it to live workers */
#define KEY_ROUTE_ONLY 0x04 /* a route key with no [webhook] default */

struct config_key {
	const char *name;
	enum key_type type;
	const char *def;          /* the default as a user would write it; NULL = none */
	uint64_t min, max;        /* for KT_U32, KT_SIZE, KT_DURATION (ms); 0,0 = unbounded */
	size_t offset;            /* into the section's struct */
	size_t offset2;           /* KT_STRING_LIST, KT_CIDR_LIST ...: the count */
	const char *const *names; /* KT_ENUM */
	unsigned flags;
	const char *doc;
};

enum section_kind {
	SECTION_TABLE, /* [server] */
	SECTION_ARRAY, /* [[route]] */
};

struct config_section {
	const char *name; /* "server", "route", "tls.certificate" */
	enum section_kind kind;
	const struct config_key *keys;
	size_t n_keys;
	const char *doc;
};

extern const struct config_section config_sections[];
extern const size_t config_n_sections;

/* The per-route request options, used both by [webhook] and [[route]]. */
extern const struct config_key config_route_opt_keys[];
extern const size_t config_n_route_opt_keys;

const struct config_section *config_section_find(const char *name);

/* ---- shared by config.c, config_value.c, config_route_value.c, config_check.c,
 * config_diag.c ---- */

#include "config.h"
#include "toml.h"

/* One load in progress. */
struct load {
	const char *file;
	struct gw_diag *diag;
	struct gw_config *cfg;
	unsigned file_mode; /* permission bits of the file read; 0 for a buffer */
};

/* Records "file:line:col: message" at value v (at no position when v is NULL). */
void cfg_err_at(struct load *L, const toml_value *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets key k from v on the struct at base; -1 (reported) when v is wrong. */
int cfg_set_simple(struct load *L, const struct config_key *k, const toml_value *v, void *base);
/* The same for [[route]] and [[user]] keys; how: 0 NAME, 1 NAME_env, 2 NAME_file. */
int cfg_set_route_key(struct load *L, const struct config_key *k, const toml_value *v, void *base,
                      int how);
void cfg_apply_defaults(const struct config_key *keys, size_t n, void *base);

char *cfg_strdup(const char *s); /* NULL stays NULL */
/* The field at offset bytes into the struct at base. */
static inline void *cfg_field(void *base, size_t offset)
{
	return (char *)base + offset;
}
/* Whether v has type t; when not, reported as an error of key. */
bool cfg_is_type(struct load *L, const toml_value *v, toml_type t, const char *key);
/* A string value without NUL bytes, or NULL (reported). */
const char *cfg_string_of(struct load *L, const toml_value *v, const char *key);
/* Frees *slot and stores a copy of s (NULL stays NULL). */
void cfg_replace_str(char **slot, const char *s);
/* A string (allow_single) or a list of strings, as a new char **, with their positions
 * when lines is not NULL; -1 (reported) when v is neither or too long. */
int cfg_string_list(struct load *L, const toml_value *v, const char *key, bool allow_single,
                    char ***out, size_t *n_out, int **lines, int **cols);
void cfg_free_list(char **list, size_t n);
bool cfg_valid_hostname(const char *s);

/* Cross-key checks after loading, and the default host name. */
void cfg_validate(struct load *L);
/* Numbers the routes' endpoints; -1 when out of memory. */
int cfg_assign_endpoints(struct gw_config *c);
const char *config_key_type_name(enum key_type t);
/* " (MIN to MAX)" with the key's unit, or nothing for an unbounded key; shared by the
 * two renderings of the table (docs/configuration.md and gateway.toml(5)). */
void config_key_write_range(FILE *f, const struct config_key *k);

#endif
