/*
 * config_route_value.c: the values only a [[route]] or [[user]] holds:
 * route patterns, the webhook URL, extra headers, reply overrides and
 * secrets (with their _env and _file forms; a secret file others can read
 * is refused, STYLE.md 18). The other key types are set by
 * config_value.c, which cfg_set_route_key() falls back to.
 *
 * Must never: accept a URL with credentials, a header the gateway writes
 * itself, a value with CR or LF in a header, or keep a half-set field.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "config_int.h"
#include "safe_file.h"
#include "toml.h"

#define MAX_SECRET_FILE 65536 /* bytes */

/* -------------------------------------------------------------- headers */

static bool valid_header_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/* Headers the gateway writes itself (docs/webhook.md); a route may not replace them. */
bool config_header_reserved(const char *name)
{
	static const char *const names[] = {
	    "webhook-id",
	    "webhook-timestamp",
	    "webhook-signature",
	    "idempotency-key",
	    "content-type",
	    "content-length",
	    "host",
	    "transfer-encoding",
	    "expect",
	    "user-agent",
	    "connection",
	    "te",
	    "upgrade",
	    "trailer",
	    "keep-alive",
	    "proxy-authorization",
	};

	if (strncasecmp(name, "x-gateway-", 10) == 0)
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/*
 * What is wrong with the authority of an http(s) URL, or NULL: an empty
 * host, a port that is not 1-65535, characters no host has, or credentials
 * (user:password@), which would sit in the file, the logs and the endpoint
 * key; basic_user/basic_password and bearer_token carry them instead.
 */
static const char *url_problem(const char *url)
{
	const char *a = strstr(url, "://") + 3;
	size_t alen = strcspn(a, "/?#");
	const char *end = a + alen, *h = a, *hend, *port = NULL;

	if (memchr(a, '@', alen))
		return "must not carry credentials (user:password@): use basic_user and "
		       "basic_password, or bearer_token";
	if (*h == '[') {
		hend = memchr(h, ']', alen);
		if (!hend || hend == h + 1)
			return "has an empty or unclosed [IPv6] host";
		for (const char *p = h + 1; p < hend; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return "has a bad [IPv6] host";
		hend++;
		if (hend < end && *hend != ':')
			return "has a bad [IPv6] host";
	} else {
		hend = memchr(h, ':', alen);
		if (!hend)
			hend = end;
		if (hend == h)
			return "has an empty host";
		for (const char *p = h; p < hend; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-._", *p) &&
			    (unsigned char)*p < 0x80)
				return "has a character no host name has";
	}
	if (hend < end) {
		unsigned long n = 0;

		port = hend + 1;
		if (port == end || (size_t)(end - port) > 5)
			return "has an impossible port (1-65535)";
		for (const char *p = port; p < end; p++) {
			if (!isdigit((unsigned char)*p))
				return "has an impossible port (1-65535)";
			n = n * 10 + (unsigned long)(*p - '0');
		}
		if (n < 1 || n > 65535)
			return "has an impossible port (1-65535)";
	}
	return NULL;
}

/* -------------------------------------------------------------- secrets */

static char *read_secret_file(struct load *L, const toml_value *v, const char *path)
{
	char err[512];
	char *buf = safe_file_read(path, MAX_SECRET_FILE, SAFE_FILE_PRIVATE, NULL, err, sizeof err);

	if (!buf)
		cfg_err_at(L, v, "%s", err);
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
			cfg_free_list(grown ? grown : list, count);
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

	if (how == 0 && (L->file_mode & (S_IRWXG | S_IRWXO)))
		diag_add_warning(L->diag, L->file, toml_line(v), toml_col(v),
		                 "'%s' is written inline in a file others can read (mode %03o): "
		                 "use %s_file (mode 600) or %s_env, or chmod 600 the file",
		                 key, L->file_mode, key, key);
	if (how == 0 && multi)
		return cfg_string_list(L, v, key, true, out, n, NULL, NULL);
	if (how == 0) {
		if (!(s = cfg_string_of(L, v, key)))
			return -1;
		if (!*s) {
			cfg_err_at(L, v, "'%s' must not be empty", key);
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
	if (!(s = cfg_string_of(L, v, key)))
		return -1;
	if (how == 1) {
		const char *env = getenv(s);

		if (!env || !*env) {
			cfg_err_at(L, v, "environment variable '%s' (for '%s') is not set", s, key);
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
		cfg_err_at(L, v, "'%s' must give %s", key,
		           multi ? "at least one value" : "one value");
		cfg_free_list(*out, *n);
		return -1;
	}
	return 0;
}

static int set_headers(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	struct gw_route *r = base;
	size_t n;

	if (!cfg_is_type(L, v, TOML_TABLE, k->name))
		return -1;
	n = toml_table_len(v);
	r->headers = calloc(n ? n : 1, sizeof(*r->headers));
	if (!r->headers)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = toml_table_key(v, i, NULL);
		const toml_value *hv = toml_table_value(v, i);
		const char *value = cfg_string_of(L, hv, name);

		if (!valid_header_name(name)) {
			diag_add_error(L->diag, L->file, toml_table_key_line(v, i),
			               toml_table_key_col(v, i), "'%s' is not a valid header name",
			               name);
			continue;
		}
		if (config_header_reserved(name)) {
			diag_add_error(
			    L->diag, L->file, toml_table_key_line(v, i), toml_table_key_col(v, i),
			    "header '%s' is written by the gateway itself (docs/webhook.md)", name);
			continue;
		}
		if (!value)
			continue;
		if (has_crlf(value)) {
			cfg_err_at(L, hv, "header '%s' must not contain CR or LF", name);
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
	static const char *const words[] = {"connect", "timeout", "reset", "config"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(k, words[i]) == 0)
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

	if (!cfg_is_type(L, v, TOML_TABLE, k->name))
		return -1;
	n = toml_table_len(v);
	r->replies = calloc(n ? n : 1, sizeof(*r->replies));
	if (!r->replies)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *key = toml_table_key(v, i, NULL);
		const toml_value *rv = toml_table_value(v, i);
		const char *text = cfg_string_of(L, rv, key);
		struct gw_reply_override *o = &r->replies[r->n_replies];

		if (!valid_reply_key(key)) {
			diag_add_error(L->diag, L->file, toml_table_key_line(v, i),
			               toml_table_key_col(v, i),
			               "'%s' is not an HTTP status (\"404\"), a class (\"4xx\"), "
			               "connect, timeout, reset or config",
			               key);
			continue;
		}
		if (!text)
			continue;
		if (parse_reply_text(text, o) < 0) {
			cfg_err_at(
			    L, rv,
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

/* ------------------------------------------------- the route-only keys */

static int set_match(struct load *L, const struct config_key *k, const toml_value *v,
                     struct gw_route *r)
{
	if (cfg_string_list(L, v, k->name, true, &r->match, &r->n_match, &r->match_line,
	                    &r->match_col) < 0)
		return -1;
	if (r->n_match == 0) {
		cfg_err_at(L, v, "'match' must name at least one pattern");
		return -1;
	}
	return 0;
}

/* A route's url, or [spam] rspamd_url: the key's own field. */
static int set_url(struct load *L, const struct config_key *k, const toml_value *v, void *base)
{
	const char *s = cfg_string_of(L, v, k->name), *why;

	if (!s)
		return -1;
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
		cfg_err_at(L, v, "'%s' must start with http:// or https://", k->name);
		return -1;
	}
	if (strpbrk(s, " \t\r\n") || strlen(s) < 9) {
		cfg_err_at(L, v, "'%s' is not a URL: \"%s\"", k->name, s);
		return -1;
	}
	if ((why = url_problem(s)) != NULL) {
		cfg_err_at(L, v, "'%s' %s", k->name, why);
		return -1;
	}
	cfg_replace_str((char **)cfg_field(base, k->offset), s);
	return 0;
}

static int set_secret(struct load *L, const struct config_key *k, const toml_value *v, void *base,
                      int how)
{
	struct gw_route *r = base;
	char **list;
	size_t n;

	if (secret_values(L, v, k->name, how, k->type == KT_SECRETS, &list, &n) < 0)
		return -1;
	if (k->type == KT_SECRETS) {
		cfg_free_list(r->secrets, r->n_secrets);
		r->secrets = list;
		r->n_secrets = n;
		return 0;
	}
	free(*(char **)cfg_field(base, k->offset));
	*(char **)cfg_field(base, k->offset) = list[0];
	free(list);
	return 0;
}

int cfg_set_route_key(struct load *L, const struct config_key *k, const toml_value *v, void *base,
                      int how)
{
	switch (k->type) {
	case KT_MATCH:
		return set_match(L, k, v, base);
	case KT_URL:
		return set_url(L, k, v, base);
	case KT_HEADERS:
		return set_headers(L, k, v, base);
	case KT_REPLIES:
		return set_replies(L, k, v, base);
	case KT_SECRETS:
	case KT_SECRET:
		return set_secret(L, k, v, base, how);
	default:
		return cfg_set_simple(L, k, v, base);
	}
}
