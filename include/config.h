/*
 * config.h: the gateway.toml model.
 *
 * routes/config/config.c turns a TOML tree into a gw_config. Every key is declared
 * once, in the key tables of routes/config/config_keys.c, with its type, default,
 * range and documentation; docs/configuration.md is generated from those
 * tables (smtp-gateway config-doc). A gw_config is immutable once loaded:
 * a reload builds a new one and swaps it whole.
 *
 * Sizes are bytes, durations milliseconds, everywhere in this struct.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct route_table;

enum gw_listener_mode {
	LISTEN_SMTP,       /* port 25 style; STARTTLS offered when a certificate exists */
	LISTEN_SMTPS,      /* implicit TLS (RFC 8314) */
	LISTEN_SUBMISSION, /* STARTTLS, then AUTH before MAIL */
};

enum gw_policy {
	POLICY_OFF,      /* no DNS work at all */
	POLICY_ANNOTATE, /* check and report in the payload and Authentication-Results */
	POLICY_ENFORCE,  /* check, report, and refuse what fails */
};

enum gw_bare_newlines { BARE_NL_REJECT, BARE_NL_NORMALIZE };
enum gw_long_lines { LONG_LINES_REJECT, LONG_LINES_ACCEPT };
/* The provider formats (docs/formats.md) come after FORMAT_RAW: gateway/webhook/format*.c. */
enum gw_format {
	FORMAT_JSON,
	FORMAT_RAW,
	FORMAT_POSTMARK,
	FORMAT_MAILGUN,
	FORMAT_MAILGUN_MIME,
	FORMAT_SENDGRID,
	FORMAT_SENDGRID_RAW
};
enum gw_attachments { ATTACH_INLINE, ATTACH_METADATA, ATTACH_OMIT };
enum gw_auto_replies { AUTO_REPLIES_DELIVER, AUTO_REPLIES_DROP }; /* route auto_replies */
enum gw_dmarc_discovery { DMARC_TREE_WALK, DMARC_PSL };
enum gw_webhook_auth { WEBHOOK_AUTH_NONE, WEBHOOK_AUTH_BEARER, WEBHOOK_AUTH_BASIC };
enum gw_log_level { GW_LOG_ERROR, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };
enum gw_log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum gw_log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG, LOG_TARGET_FILE };

/* A network prefix, for trusted PROXY sources. */
struct gw_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

struct gw_listener {
	char *address; /* as written: "127.0.0.1:2525", "[::]:25" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum gw_listener_mode mode;
	bool proxy_protocol;
	struct gw_cidr *proxy_trusted; /* who may send a header; required with proxy_protocol */
	size_t n_proxy_trusted;
	int line, col; /* of the [[listener]] table, for messages */
};

struct gw_tls_cert {
	char *cert_file; /* PEM chain */
	char *key_file;  /* PEM key; refused when others can read it */
};

struct gw_user { /* SMTP AUTH users (submission listeners) */
	char *name;
	char *password_hash; /* crypt(3): yescrypt, bcrypt, sha512-crypt */
};

struct gw_header {
	char *name, *value;
};

/*
 * One row of a route's HTTP-to-SMTP table override. key is an HTTP status
 * ("404"), a class ("4xx"), or one of "connect" (refused, DNS, TLS failure)
 * and "timeout".
 */
struct gw_reply_override {
	char *key;
	int code;        /* 250, 451, 550 ... */
	char status[16]; /* enhanced status "5.1.1" */
	char *text;      /* may be empty: the default text of the row is used */
};

/*
 * Per-route request settings. [webhook] holds the defaults, each [[route]]
 * may override any of them.
 */
struct gw_route_opts {
	uint64_t timeout_ms; /* whole request */
	uint64_t connect_timeout_ms;
	uint32_t max_in_flight;             /* requests at once to this route */
	uint64_t retry_budget_ms;           /* per message, retries of transient failures */
	uint32_t circuit_breaker_threshold; /* consecutive transient failures; 0 = off */
	uint64_t circuit_breaker_probe_ms;  /* how often an open breaker lets one try */
	enum gw_format format;
	enum gw_attachments attachments;
	bool include_raw;
	enum gw_auto_replies auto_replies; /* accept-and-drop: 250 and no POST */
	bool standard_webhooks; /* send webhook-id/-timestamp/-signature (every format) */
	bool tls_verify;
	char *ca_file;     /* NULL: the system store */
	char *client_cert; /* NULL: none */
	char *client_key;
	enum gw_policy spf, dkim, dmarc; /* defaults from [auth] */
};

struct gw_route {
	char *name;   /* "route-3" when the file gives none */
	size_t index; /* 0-based position in the file */
	int line, col;
	char **match; /* patterns as written */
	size_t n_match;
	int *match_line, *match_col;
	char *url;
	struct gw_header *headers;
	size_t n_headers;
	char **secrets; /* whsec_... or whsk_...; several for rotation */
	size_t n_secrets;
	enum gw_webhook_auth auth;
	char *bearer_token;
	char *basic_user, *basic_password;
	char *mailgun_signing_key; /* formats mailgun*: plain key, as Mailgun issues it */
	struct gw_reply_override *replies;
	size_t n_replies;
	struct gw_route_opts opts;
	/*
	 * Routes whose requests are indistinguishable (URL, headers, secrets,
	 * auth, options) share one endpoint id; one SMTP transaction delivers
	 * to one endpoint.
	 */
	uint32_t endpoint_id;
};

struct gw_limits {
	uint32_t max_connections;
	uint32_t max_connections_per_ip;
	uint64_t max_message_size;
	uint64_t max_payload_size;    /* one webhook request body (552 5.3.4 beyond) */
	uint64_t max_delivery_memory; /* request bodies of all deliveries in flight (451 4.3.1) */
	uint64_t payload_offload_threshold; /* message octets from which the payload is built off
	                                       the loop, on the payload build threads */
	uint32_t payload_build_threads;     /* those threads, whole process; read at start */
	uint32_t
	    max_payload_builds; /* builds running or queued on them at once (451 4.3.0 beyond) */
	uint32_t max_recipients;
	uint32_t max_errors;
	uint32_t max_transactions;
	uint32_t max_command_line;
	uint32_t max_line_length; /* message lines, without CRLF (RFC 5322: 998) */
	enum gw_long_lines long_lines;
	enum gw_bare_newlines bare_newlines;
	uint64_t memory_threshold; /* message bytes kept in memory before spilling to a file */
	uint64_t greeting_delay_ms;
	uint64_t command_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t data_timeout_ms;
	uint64_t data_deadline_ms; /* one message's content, however it trickles */
	uint64_t tls_handshake_timeout_ms;
	uint64_t proxy_timeout_ms;
	uint64_t drain_timeout_ms;
	uint32_t max_auth_failures;
	uint64_t auth_failure_delay_ms;
	uint32_t max_auth_checks; /* password checks running or queued at once (454 beyond) */
	uint32_t max_auth_failures_per_ip; /* failed AUTHs of one address (decaying) before 454 */
	uint64_t auth_failure_window_ms;   /* the per-address failure count drains in this time */
	uint32_t max_auth_checks_per_ip;   /* one address's checks running or queued (454 beyond) */
	uint32_t auth_ip_table_size;       /* addresses tracked; read at start */
	uint32_t ipv6_prefix_per_ip; /* IPv6 clients counted per this prefix for the per-IP limit */
	uint32_t max_header_count;   /* MIME parsing */
	uint32_t max_mime_depth;
	uint32_t max_mime_parts;
	uint64_t max_header_field_size;   /* bytes of one folded header field GMime gets */
	uint64_t max_header_section_size; /* bytes of one header section GMime gets */
	uint64_t max_reply_scan; /* body bytes message.reply extraction reads (docs/payload.md) */
	/* SMTP front end back-pressure (docs/smtp.md) */
	uint32_t max_pipelined_commands; /* commands handled per read wake-up (64) */
	uint64_t output_high_water;      /* queued reply bytes before reading pauses (64KB) */
	uint64_t input_high_water;       /* unread input bytes before reading pauses (256KB) */
};

struct gw_dns {
	char **servers; /* "127.0.0.1:5353"; empty: /etc/resolv.conf */
	size_t n_servers;
	uint64_t timeout_ms;
	uint32_t tries;
	uint32_t cache_size; /* entries */
	uint64_t cache_max_ttl_ms;
	uint64_t negative_ttl_ms; /* cap for RFC 2308 negative caching */

	uint64_t cache_max_bytes;   /* memory of the cached answers, per worker */
	bool reverse_lookup;        /* envelope.client.reverse_name: forward-confirmed PTR */
	uint32_t reverse_max_names; /* PTR names of one client checked forward */
};

struct gw_auth {
	enum gw_policy spf, dkim, dmarc, arc;
	enum gw_dmarc_discovery dmarc_discovery;
	bool trust_arc;       /* let a passing ARC chain override a DMARC failure */
	char *dmarc_psl_file; /* Public Suffix List for dmarc_discovery = "psl"; NULL: built-in */
	/* DKIM/ARC (gateway/dkim/); 0 means the built-in default */
	uint32_t dkim_max_signatures; /* DKIM-Signature fields verified per message, 1..10 */
	uint32_t dkim_min_rsa_bits;   /* shorter RSA keys give dkim=policy; default 1024 */
	uint64_t dkim_clock_skew_ms;  /* tolerance on t= (future) and x= (expired); 300 s */
	uint32_t dkim_key_cache_size; /* parsed public keys kept per worker; default 1024 */
	uint64_t timeout_ms;          /* longest wait for one message's checks; then temperror */

	/* Bounds that fail closed (issue 10) */
	uint32_t dkim_max_body_hashes; /* distinct body hashes per message, DKIM and ARC together */
	bool dkim_partial_body_aligns; /* a DKIM pass with l= short of the body may align */
	/* DKIM/ARC hashing off the loop (gateway/auth/auth.c, gateway/pool/) */
	uint64_t dkim_offload_threshold; /* message octets from which it runs on the threads */
	uint32_t dkim_verify_threads;    /* those threads, whole process; read at start */
	uint32_t dkim_max_verifies;      /* messages on them at once; beyond: temperror */
	char **trusted_arc_sealers;      /* ARC-Seal d= domains trust_arc believes (lower case) */
	size_t n_trusted_arc_sealers;
};

struct gw_routing {
	char plus_separator[8]; /* "+" by default; "" disables plus-addressing */
	bool local_part_case_sensitive;
	char **domains; /* explicit extra accepted domains */
	size_t n_domains;
};

struct gw_server {
	char *hostname;          /* greeting, Received:, authserv-id */
	uint32_t workers;        /* 0 = one per core ("auto") */
	char *user;              /* drop privileges to this user after binding */
	bool allow_root;         /* run as root when user is unset (refused otherwise) */
	uint32_t listen_backlog; /* listen(2) queue of each listener socket */
	enum gw_log_level log_level;
	char **log_trace; /* subsystems whose debug lines are written (include/log.h names) */
	size_t n_log_trace;
	enum gw_log_format log_format;
	enum gw_log_target log_target;
	char *log_file; /* log_target = "file": appended to, reopened on SIGUSR1 */
};

/* [admin]: the HTTP listener of /metrics, /healthz, /readyz (include/admin.h). */
struct gw_admin {
	struct gw_listener listener; /* first: the address setter writes a gw_listener;
	                                listener.address NULL = no admin listener */
	uint32_t max_series;         /* metric series kept per thread (include/metrics.h) */
	uint64_t timeout_ms;         /* one admin connection's inactivity limit */
};

struct gw_config {
	char *path; /* the file it was loaded from */
	struct gw_server server;
	struct gw_admin admin;
	struct gw_listener *listeners;
	size_t n_listeners;
	struct gw_tls_cert *certs;
	size_t n_certs;
	uint32_t tls_min_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
	struct gw_limits limits;
	struct gw_dns dns;
	struct gw_auth auth;
	struct gw_routing routing;
	struct gw_route_opts webhook; /* defaults for every route */
	struct gw_user *users;
	size_t n_users;
	struct gw_route *routes;
	size_t n_routes;
	struct route_table *table; /* built from routes and routing */
};

/*
 * Collected configuration errors ("file:line:col: message"), so that check
 * prints every one. Warnings ("can never match") go in the same list.
 */
struct gw_diag {
	char **errors;
	size_t n_errors;
	char **warnings;
	size_t n_warnings;
};

/*
 * Loads and validates path. Returns the config, or NULL when any error was
 * found; diag gets every error and warning either way.
 */
struct gw_config *config_load(const char *path, struct gw_diag *diag);

/* Same, from a buffer (tests, fuzzing). name is used in messages. */
struct gw_config *config_load_buffer(const char *buf, size_t len, const char *name,
                                     struct gw_diag *diag);

void config_free(struct gw_config *cfg);

/*
 * Deep copies of the parts of a route a request keeps after a reload frees
 * the configuration (the webhook's copy and the loader use the same code).
 * On -1 (out of memory) dst holds what was copied: free it all the same.
 */
int config_route_opts_dup(struct gw_route_opts *dst, const struct gw_route_opts *src);
void config_route_opts_free(struct gw_route_opts *o);
int config_replies_dup(struct gw_reply_override **dst, size_t *n_dst,
                       const struct gw_reply_override *src, size_t n);
void config_replies_free(struct gw_reply_override *r, size_t n);

void diag_add_error(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_add_warning(struct gw_diag *d, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_free(struct gw_diag *d);

/* Writes docs/configuration.md's text (generated from the key tables) to f. */
void config_write_doc(FILE *f);
/* Writes the gateway.toml(5) manual page (roff, from the same key tables) to f; the
 * version names the release in the page footer. */
void config_write_man(FILE *f, const char *version);

/* "25MB" -> bytes, "30s" -> ms. Return 0, or -1 on a malformed value. */
/*
 * Headers the gateway writes on a webhook request itself (webhook-*,
 * Idempotency-Key, Content-Type, User-Agent, X-Gateway-*, hop-by-hop ones):
 * a route's headers may not name them. Case-insensitive.
 */
bool config_header_reserved(const char *name);

int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out_ms);

#endif
