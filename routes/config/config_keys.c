/*
 * config_keys.c: every gateway.toml key, declared once.
 *
 * Each row gives the key's type, default, range, whether SIGHUP applies it,
 * and its documentation. The loader (config.c) is driven by these rows, and
 * docs/configuration.md is generated from them (smtp-gateway config-doc),
 * so a key cannot exist without a default and a line of documentation.
 * Timeout defaults follow RFC 5321 section 4.5.3.2.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "log.h"

#define MS(x)  ((uint64_t)(x))
#define SEC(x) ((uint64_t)(x)*1000)
#define KB(x)  ((uint64_t)(x)*1024)
#define MB(x)  ((uint64_t)(x)*1024 * 1024)
#define GB(x)  ((uint64_t)(x)*1024 * 1024 * 1024)

static const char *const listener_modes[] = {"smtp", "smtps", "submission", NULL};
static const char *const policies[] = {"off", "annotate", "enforce", NULL};
static const char *const bare_newlines[] = {"reject", "normalize", NULL};
static const char *const long_lines[] = {"reject", "accept", NULL};
static const char *const formats[] = {"json",         "raw",      "postmark",     "mailgun",
                                      "mailgun-mime", "sendgrid", "sendgrid-raw", NULL};
static const char *const attachments[] = {"inline", "metadata", "omit", NULL};
static const char *const auto_replies[] = {"deliver", "accept-and-drop", NULL};
static const char *const discoveries[] = {"tree-walk", "psl", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const log_targets[] = {"stderr", "syslog", "file", NULL};
#define LOG_TRACE_NAME(e, name) name,
static const char *const log_trace_names[] = {LOG_SUBSYSTEMS(LOG_TRACE_NAME) NULL};
#undef LOG_TRACE_NAME

#define SRV(f) offsetof(struct gw_server, f)
static const struct config_key server_keys[] = {
    {"hostname", KT_HOSTNAME, NULL, 0, 0, SRV(hostname), 0, NULL, KEY_RELOADABLE,
     "Our name in the greeting, in Received: and as the Authentication-Results authserv-id. "
     "Default: the system's host name."},
    {"workers", KT_WORKERS, "auto", 0, 1024, SRV(workers), 0, NULL, 0,
     "Worker threads, each with its own event loop and SO_REUSEPORT socket; \"auto\" is one "
     "per core."},
    {"user", KT_STRING, NULL, 0, 0, SRV(user), 0, NULL, 0,
     "After binding the listeners as root, run as this user. Default: stay who we are; as "
     "root that is refused unless allow_root is set."},
    {"allow_root", KT_BOOL, "false", 0, 0, SRV(allow_root), 0, NULL, 0,
     "Let the daemon run as root when user is not set. Off: every session would parse "
     "untrusted mail with full privileges, so starting as root without user is refused."},
    {"listen_backlog", KT_U32, "1024", 16, 65535, SRV(listen_backlog), 0, NULL, 0,
     "Connections the kernel queues on each listener socket before we accept them "
     "(listen(2) backlog; the kernel caps it at net.core.somaxconn)."},
    {"log_level", KT_ENUM, "info", 0, 0, SRV(log_level), 0, log_levels, KEY_RELOADABLE,
     "error, warn, info or debug."},
    {"log_trace", KT_STRING_LIST, "[]", 0, 0, SRV(log_trace), SRV(n_log_trace), log_trace_names,
     KEY_RELOADABLE,
     "Tracing per subsystem: the debug lines of these subsystems are written whatever "
     "log_level says, e.g. [\"smtp\", \"webhook\"]."},
    {"log_format", KT_ENUM, "text", 0, 0, SRV(log_format), 0, log_formats, KEY_RELOADABLE,
     "text (key=value lines) or json (one object per line); docs/logging.md."},
    {"log_target", KT_ENUM, "stderr", 0, 0, SRV(log_target), 0, log_targets, KEY_RELOADABLE,
     "stderr, syslog (facility mail) or file (log_file, reopened on SIGUSR1)."},
    {"log_file", KT_STRING, NULL, 0, 0, SRV(log_file), 0, NULL, KEY_RELOADABLE,
     "The file log_target = \"file\" appends to; created mode 0640 when missing."},
};

/* [admin] (include/admin.h, docs/operations.md) */
#define ADM(f) offsetof(struct gw_admin, f)
static const struct config_key admin_keys[] = {
    {"address", KT_LISTEN, NULL, 0, 0, ADM(listener.addr), 0, NULL, 0,
     "Where the admin HTTP listener serves /metrics (Prometheus), /healthz and /readyz, e.g. "
     "\"127.0.0.1:9025\". Not set: no admin listener. It has no authentication: keep it on "
     "loopback or a private network."},
    {"max_series", KT_U32, "1024", 16, 1000000, ADM(max_series), 0, NULL, 0,
     "Metric series (a metric and its label values) each worker keeps; a new one beyond this "
     "is counted in smtp_gateway_metrics_dropped_total instead."},
    {"timeout", KT_DURATION, "10s", SEC(1), SEC(300), ADM(timeout_ms), 0, NULL, 0,
     "An admin connection idle this long is closed (whole seconds)."},
};

#define LST(f) offsetof(struct gw_listener, f)
static const struct config_key listener_keys[] = {
    {"address", KT_LISTEN, NULL, 0, 0, LST(addr), 0, NULL, KEY_REQUIRED,
     "Where to listen: \"127.0.0.1:2525\", \"[::]:25\", \"0.0.0.0:465\"."},
    {"mode", KT_ENUM, "smtp", 0, 0, LST(mode), 0, listener_modes, 0,
     "smtp (port 25; STARTTLS offered when a certificate is configured), smtps (implicit TLS, "
     "RFC 8314) or submission (STARTTLS, then AUTH before MAIL)."},
    {"proxy_protocol", KT_BOOL, "false", 0, 0, LST(proxy_protocol), 0, NULL, 0,
     "Expect a HAProxy PROXY protocol v1 or v2 header first; the address it gives is the "
     "client's. A connection without a valid header is closed."},
    {"proxy_trusted", KT_CIDR_LIST, "[]", 0, 0, LST(proxy_trusted), LST(n_proxy_trusted), NULL, 0,
     "Sources allowed to send a PROXY header (\"10.0.0.0/8\", \"::1\"); required with "
     "proxy_protocol, others are closed."},
};

static const struct config_key tls_keys[] = {
    {"min_version", KT_TLS_VERSION, "1.2", 0, 0, offsetof(struct gw_config, tls_min_version), 0,
     NULL, KEY_RELOADABLE, "Oldest TLS version accepted: \"1.2\" or \"1.3\"."},
};

#define CRT(f) offsetof(struct gw_tls_cert, f)
static const struct config_key cert_keys[] = {
    {"cert", KT_PATH, NULL, 0, 0, CRT(cert_file), 0, NULL, KEY_REQUIRED | KEY_RELOADABLE,
     "PEM certificate chain. Several [[tls.certificate]] are chosen by SNI."},
    {"key", KT_PATH, NULL, 0, 0, CRT(key_file), 0, NULL, KEY_REQUIRED | KEY_RELOADABLE,
     "PEM private key; refused when group or others can read it."},
};

#define LIM(f) offsetof(struct gw_limits, f)
static const struct config_key limits_keys[] = {
    {"max_connections", KT_U32, "1000", 1, 1000000, LIM(max_connections), 0, NULL, KEY_RELOADABLE,
     "Connections at once, all clients; beyond it 421 4.7.0 and close."},
    {"max_connections_per_ip", KT_U32, "20", 1, 1000000, LIM(max_connections_per_ip), 0, NULL,
     KEY_RELOADABLE, "Connections at once from one client address; beyond it 421 4.7.0."},
    {"max_message_size", KT_SIZE, "25MB", KB(1), GB(2), LIM(max_message_size), 0, NULL,
     KEY_RELOADABLE,
     "Largest message accepted, advertised with SIZE (RFC 1870); beyond it 552 5.3.4."},
    {"max_payload_size", KT_SIZE, "64MB", KB(64), GB(4), LIM(max_payload_size), 0, NULL,
     KEY_RELOADABLE,
     "Largest webhook request body (the JSON payload, or format raw's message); a message "
     "whose body would be larger gets 552 5.3.4 at the end of data, before it is built past "
     "this."},
    {"max_delivery_memory", KT_SIZE, "1GB", MB(1), GB(64), LIM(max_delivery_memory), 0, NULL,
     KEY_RELOADABLE,
     "Request body bytes held by all deliveries in flight, whole process (each lives until its "
     "answer or the end of its retry budget). A body's cap (at most max_payload_size) is "
     "counted before it is built: a message whose cap does not fit gets 451 4.3.1 at the end "
     "of data. Keep it well above max_payload_size (docs/webhook.md)."},
    {"payload_offload_threshold", KT_SIZE, "256KB", 0, GB(4), LIM(payload_offload_threshold), 0,
     NULL, KEY_RELOADABLE,
     "A message of at least this many octets has its webhook payload (MIME parse and JSON) "
     "built on the payload build threads, so that its worker keeps serving its other sessions "
     "meanwhile; smaller ones are built on the worker's loop, which is cheaper. 0: none (every "
     "payload is built on the loop)."},
    {"payload_build_threads", KT_U32, "2", 1, 64, LIM(payload_build_threads), 0, NULL, 0,
     "Threads building the payloads of messages over payload_offload_threshold, for the whole "
     "process; started with the first such message, read at start."},
    {"max_payload_builds", KT_U32, "64", 1, 100000, LIM(max_payload_builds), 0, NULL,
     KEY_RELOADABLE,
     "Payload builds running or waiting on the payload build threads at once, whole process "
     "(each also holds its body's cap in max_delivery_memory); beyond it the message gets 451 "
     "4.3.0 at the end of data."},
    {"max_recipients", KT_U32, "100", 1, 100000, LIM(max_recipients), 0, NULL, KEY_RELOADABLE,
     "Recipients in one transaction (RFC 5321 4.5.3.1.8 asks for at least 100); beyond it "
     "452 4.5.3."},
    {"max_errors", KT_U32, "10", 1, 1000, LIM(max_errors), 0, NULL, KEY_RELOADABLE,
     "Error replies in one session before 421 4.7.0 and close."},
    {"max_transactions", KT_U32, "100", 1, 1000000, LIM(max_transactions), 0, NULL, KEY_RELOADABLE,
     "Messages in one connection before 421 4.7.0 and close."},
    {"max_command_line", KT_U32, "2048", 512, 65536, LIM(max_command_line), 0, NULL, KEY_RELOADABLE,
     "Longest command line in octets with CRLF (RFC 5321 4.5.3.1.4 says at least 512; "
     "extensions need more); beyond it 500 5.5.6."},
    {"max_line_length", KT_U32, "998", 78, 1000000, LIM(max_line_length), 0, NULL, KEY_RELOADABLE,
     "Longest message line without CRLF (RFC 5322 2.1.1: 998)."},
    {"long_lines", KT_ENUM, "accept", 0, 0, LIM(long_lines), 0, long_lines, KEY_RELOADABLE,
     "What to do with a message line over max_line_length: reject (550 5.5.2 at the end of "
     "data) or accept."},
    {"bare_newlines", KT_ENUM, "reject", 0, 0, LIM(bare_newlines), 0, bare_newlines, KEY_RELOADABLE,
     "A bare LF or CR in a message (the SMTP smuggling attacks): reject (550 5.5.2) or "
     "normalize to CRLF."},
    {"memory_threshold", KT_SIZE, "1MB", KB(4), GB(2), LIM(memory_threshold), 0, NULL,
     KEY_RELOADABLE,
     "Message bytes kept in memory while receiving; beyond it the message spills to an "
     "unlinked temporary file."},
    {"greeting_delay", KT_DURATION, "0s", 0, SEC(300), LIM(greeting_delay_ms), 0, NULL,
     KEY_RELOADABLE,
     "Wait this long before the 220 greeting; a client that talks first is dropped."},
    {"command_timeout", KT_DURATION, "5m", SEC(1), SEC(3600), LIM(command_timeout_ms), 0, NULL,
     KEY_RELOADABLE, "Longest time to receive one whole command line (RFC 5321 4.5.3.2.7)."},
    {"idle_timeout", KT_DURATION, "5m", SEC(1), SEC(3600), LIM(idle_timeout_ms), 0, NULL,
     KEY_RELOADABLE, "Longest wait for the next command; then 421 4.4.2 and close."},
    {"data_timeout", KT_DURATION, "3m", SEC(1), SEC(3600), LIM(data_timeout_ms), 0, NULL,
     KEY_RELOADABLE, "Longest silence while receiving DATA or BDAT content (RFC 5321 4.5.3.2.5)."},
    {"data_deadline", KT_DURATION, "10m", SEC(1), SEC(3600), LIM(data_deadline_ms), 0, NULL,
     KEY_RELOADABLE,
     "Longest time to receive one message's content, however it trickles (RFC 5321 4.5.3.2.6: "
     "a client waits 10 minutes for the reply); then 421 4.4.2 and close."},
    {"tls_handshake_timeout", KT_DURATION, "30s", SEC(1), SEC(600), LIM(tls_handshake_timeout_ms),
     0, NULL, KEY_RELOADABLE, "Longest time for a TLS handshake."},
    {"proxy_timeout", KT_DURATION, "10s", SEC(1), SEC(600), LIM(proxy_timeout_ms), 0, NULL,
     KEY_RELOADABLE, "Longest wait for the PROXY protocol header."},
    {"drain_timeout", KT_DURATION, "30s", 0, SEC(3600), LIM(drain_timeout_ms), 0, NULL,
     KEY_RELOADABLE,
     "On SIGTERM, how long transactions in flight may take to finish before we exit. Webhook "
     "requests are cut at drain_timeout minus a fifth (at most 2s): still unanswered, the "
     "message gets 451 4.3.2 (docs/webhook.md)."},
    {"max_auth_failures", KT_U32, "3", 1, 100, LIM(max_auth_failures), 0, NULL, KEY_RELOADABLE,
     "Failed AUTH attempts in one session before 421 and close."},
    {"auth_failure_delay", KT_DURATION, "2s", 0, SEC(60), LIM(auth_failure_delay_ms), 0, NULL,
     KEY_RELOADABLE, "Delay before answering a failed AUTH."},
    {"max_auth_checks", KT_U32, "8", 1, 1024, LIM(max_auth_checks), 0, NULL, KEY_RELOADABLE,
     "Password checks (crypt) running or queued at once; beyond it AUTH gets 454 4.7.0."},
    {"max_auth_failures_per_ip", KT_U32, "20", 1, 100000, LIM(max_auth_failures_per_ip), 0, NULL,
     KEY_RELOADABLE,
     "Failed AUTH attempts from one client address (IPv6: per ipv6_prefix_per_ip), over all its "
     "sessions, before its AUTH gets 454 4.7.0 without a password check; they drain at this "
     "many per auth_failure_window."},
    {"auth_failure_window", KT_DURATION, "15m", SEC(1), SEC(86400), LIM(auth_failure_window_ms), 0,
     NULL, KEY_RELOADABLE,
     "Time in which an address's count of failed AUTH attempts drains from "
     "max_auth_failures_per_ip to 0."},
    {"max_auth_checks_per_ip", KT_U32, "2", 1, 1024, LIM(max_auth_checks_per_ip), 0, NULL,
     KEY_RELOADABLE,
     "Password checks from one client address running or queued at once, so that one address "
     "cannot take the whole of max_auth_checks; beyond it AUTH gets 454 4.7.0."},
    {"auth_ip_table_size", KT_U32, "16384", 64, 1048576, LIM(auth_ip_table_size), 0, NULL, 0,
     "Client addresses whose AUTH failures and checks are tracked (read at start). When every "
     "slot an address may use holds failures or checks, its AUTH gets 454 4.7.0 (fails closed)."},
    {"ipv6_prefix_per_ip", KT_U32, "64", 32, 128, LIM(ipv6_prefix_per_ip), 0, NULL, KEY_RELOADABLE,
     "IPv6 clients are counted per this prefix for max_connections_per_ip."},
    {"max_pipelined_commands", KT_U32, "64", 1, 10000, LIM(max_pipelined_commands), 0, NULL,
     KEY_RELOADABLE,
     "Pipelined commands handled per read wake-up before the session yields to others."},
    {"output_high_water", KT_SIZE, "64KB", KB(4), MB(16), LIM(output_high_water), 0, NULL,
     KEY_RELOADABLE,
     "Replies queued for a client that does not read them; beyond it reading pauses."},
    {"input_high_water", KT_SIZE, "256KB", KB(4), MB(64), LIM(input_high_water), 0, NULL,
     KEY_RELOADABLE, "Unread input buffered per session; beyond it the socket is not read."},
    {"max_header_count", KT_U32, "1000", 10, 100000, LIM(max_header_count), 0, NULL, KEY_RELOADABLE,
     "Header fields parsed per message or part; the rest is a warning."},
    {"max_mime_depth", KT_U32, "32", 1, 1000, LIM(max_mime_depth), 0, NULL, KEY_RELOADABLE,
     "Deepest multipart nesting parsed; deeper parts are kept as opaque attachments."},
    {"max_mime_parts", KT_U32, "1000", 1, 1000000, LIM(max_mime_parts), 0, NULL, KEY_RELOADABLE,
     "MIME parts parsed per message (counted before parsing, so memory stays bounded); the "
     "rest is a warning."},
    {"max_header_field_size", KT_SIZE, "100KB", KB(1), MB(16), LIM(max_header_field_size), 0, NULL,
     KEY_RELOADABLE,
     "Bytes of one header field (folded lines included) parsed; its further lines are left "
     "out with a warning."},
    {"max_header_section_size", KT_SIZE, "1MB", KB(4), MB(64), LIM(max_header_section_size), 0,
     NULL, KEY_RELOADABLE,
     "Bytes of the header section of a message or part parsed; the fields beyond are left out "
     "with a warning."},
    {"max_reply_scan", KT_SIZE, "1MB", KB(4), MB(64), LIM(max_reply_scan), 0, NULL, KEY_RELOADABLE,
     "Body text read to find the new text of a reply (message.reply); a longer body gets "
     "message.reply with null members and a reply_scan_limit warning."},
};

#define DNS(f) offsetof(struct gw_dns, f)
static const struct config_key dns_keys[] = {
    {"servers", KT_DNS_SERVERS, "[]", 0, 0, DNS(servers), DNS(n_servers), NULL, 0,
     "Resolvers as \"ip\" or \"ip:port\" (\"[::1]:53\"). Empty: those of /etc/resolv.conf."},
    {"timeout", KT_DURATION, "2s", MS(100), SEC(60), DNS(timeout_ms), 0, NULL, 0,
     "Wait for one answer before trying again."},
    {"tries", KT_U32, "3", 1, 10, DNS(tries), 0, NULL, 0, "Attempts per query."},
    {"cache_size", KT_U32, "10000", 0, 10000000, DNS(cache_size), 0, NULL, 0,
     "Answers cached per worker (0: no cache). Negative answers are cached too (RFC 2308)."},
    {"cache_max_bytes", KT_SIZE, "32MB", KB(64), GB(4), DNS(cache_max_bytes), 0, NULL, 0,
     "Memory the cached answers may take per worker (a TXT answer over TCP can be 64 KB); the "
     "least recently used go first, an answer larger than this is not cached."},
    {"cache_max_ttl", KT_DURATION, "1h", 0, SEC(86400 * 7), DNS(cache_max_ttl_ms), 0, NULL, 0,
     "Cap on the TTL an answer is cached for."},
    {"negative_ttl", KT_DURATION, "5m", 0, SEC(86400), DNS(negative_ttl_ms), 0, NULL, 0,
     "Cap on how long NXDOMAIN and no-data answers are cached."},
    {"reverse_lookup", KT_BOOL, "true", 0, 0, DNS(reverse_lookup), 0, NULL, KEY_RELOADABLE,
     "Look up each client's reverse DNS name while the session runs and confirm it forward "
     "(FCrDNS): envelope.client.reverse_name is that name, or null when there is none, it "
     "does not confirm, or the lookup has not finished by the end of data."},
    {"reverse_max_names", KT_U32, "3", 1, 10, DNS(reverse_max_names), 0, NULL, KEY_RELOADABLE,
     "PTR names of one client looked up forward at most; the others are ignored."},
};

#define AUT(f) offsetof(struct gw_auth, f)
static const struct config_key auth_keys[] = {
    {"spf", KT_ENUM, "annotate", 0, 0, AUT(spf), 0, policies, KEY_RELOADABLE,
     "SPF (RFC 7208): off, annotate (check and report) or enforce (a fail gets 550 5.7.23 at "
     "MAIL FROM). Routes may override it."},
    {"dkim", KT_ENUM, "annotate", 0, 0, AUT(dkim), 0, policies, KEY_RELOADABLE,
     "DKIM (RFC 6376, RFC 8463): off, annotate or enforce. Routes may override it."},
    {"dmarc", KT_ENUM, "annotate", 0, 0, AUT(dmarc), 0, policies, KEY_RELOADABLE,
     "DMARC: off, annotate or enforce (a fail under p=reject gets 550 5.7.1 at the end of "
     "data; quarantine is accepted and marked). Routes may override it."},
    {"arc", KT_ENUM, "annotate", 0, 0, AUT(arc), 0, policies, KEY_RELOADABLE,
     "ARC (RFC 8617) chain validation: off, annotate, or enforce: a chain that fails is "
     "refused 550 5.7.29 at the end of data (451 4.7.29 when a DNS failure caused it), see "
     "docs/authentication.md."},
    {"dmarc_discovery", KT_ENUM, "tree-walk", 0, 0, AUT(dmarc_discovery), 0, discoveries,
     KEY_RELOADABLE,
     "How DMARC finds the policy and organizational domain: tree-walk (RFC 9989) or psl "
     "(RFC 7489, Public Suffix List)."},
    {"dmarc_psl_file", KT_PATH, NULL, 0, 0, AUT(dmarc_psl_file), 0, NULL, KEY_RELOADABLE,
     "Public Suffix List file (publicsuffix.org format) for dmarc_discovery = \"psl\". "
     "Default: libpsl's built-in list."},
    {"dkim_max_signatures", KT_U32, "10", 1, 10, AUT(dkim_max_signatures), 0, NULL, KEY_RELOADABLE,
     "DKIM-Signature fields verified per message; the rest are ignored."},
    {"dkim_min_rsa_bits", KT_U32, "1024", 1024, 8192, AUT(dkim_min_rsa_bits), 0, NULL,
     KEY_RELOADABLE, "Shorter RSA keys give dkim=policy (RFC 8301 forbids keys under 1024 bits)."},
    {"dkim_clock_skew", KT_DURATION, "5m", 0, SEC(86400), AUT(dkim_clock_skew_ms), 0, NULL,
     KEY_RELOADABLE, "Tolerance on a signature's t= (in the future) and x= (expired)."},
    {"dkim_key_cache_size", KT_U32, "1024", 1, 1000000, AUT(dkim_key_cache_size), 0, NULL,
     KEY_RELOADABLE,
     "Parsed DKIM public keys kept per worker (their DNS answers are cached by [dns])."},
    {"dkim_max_body_hashes", KT_U32, "4", 1, 16, AUT(dkim_max_body_hashes), 0, NULL, KEY_RELOADABLE,
     "Passes over the body per message: distinct (canonicalisation, hash, l=) body hashes, "
     "shared by DKIM and ARC; signatures needing more are permerror \"not evaluated\", never "
     "pass."},
    {"dkim_partial_body_aligns", KT_BOOL, "false", 0, 0, AUT(dkim_partial_body_aligns), 0, NULL,
     KEY_RELOADABLE,
     "Let a DKIM signature whose l= leaves body bytes unsigned count for DMARC alignment "
     "(anyone can append to such a body). Off: it still shows as a pass, but DMARC ignores it."},
    {"dkim_offload_threshold", KT_SIZE, "64KB", 0, GB(4), AUT(dkim_offload_threshold), 0, NULL,
     KEY_RELOADABLE,
     "A message of at least this many octets has its DKIM and ARC work (parsing, hashing, "
     "public-key operations) done on the verification threads, so that its worker keeps "
     "serving its other sessions meanwhile; smaller ones are checked on the worker's loop (a "
     "millisecond or two at most), so that ordinary mail never waits for, nor is refused by, "
     "threads an attack keeps busy. 0: none (all on the loop)."},
    {"dkim_verify_threads", KT_U32, "2", 1, 64, AUT(dkim_verify_threads), 0, NULL, 0,
     "Threads hashing the messages over dkim_offload_threshold for DKIM and ARC, for the whole "
     "process; started with the first such message, read at start."},
    {"dkim_max_verifies", KT_U32, "64", 1, 100000, AUT(dkim_max_verifies), 0, NULL, KEY_RELOADABLE,
     "Messages hashing or waiting on the verification threads at once, whole process; beyond "
     "it a message's signatures are not evaluated: dkim=temperror and arc=temperror (fail "
     "closed, never a pass; enforce answers 451)."},
    {"trust_arc", KT_BOOL, "false", 0, 0, AUT(trust_arc), 0, NULL, KEY_RELOADABLE,
     "Let a passing ARC chain override a DMARC failure, when its newest seal is by one of "
     "trusted_arc_sealers (no sealers: no override)."},
    {"trusted_arc_sealers", KT_STRING_LIST, "[]", 0, 0, AUT(trusted_arc_sealers),
     AUT(n_trusted_arc_sealers), NULL, KEY_RELOADABLE,
     "ARC-Seal d= domains (exact, case-insensitive) whose passing chains trust_arc believes, "
     "e.g. [\"lists.example.org\"]."},
    {"timeout", KT_DURATION, "30s", SEC(1), SEC(600), AUT(timeout_ms), 0, NULL, KEY_RELOADABLE,
     "Longest wait for sender authentication of one message (SPF at MAIL/RCPT, the checks at "
     "the end of data); then temperror: 451 under enforce, else delivered without results."},
};

#define RTG(f) offsetof(struct gw_routing, f)
static const struct config_key routing_keys[] = {
    {"plus_separator", KT_PLUS_SEP, "+", 0, 0, RTG(plus_separator), 0, NULL, KEY_RELOADABLE,
     "user+tag@ also matches the route of user@ (the tag goes in the payload). \"\" turns "
     "plus-addressing off."},
    {"local_part_case_sensitive", KT_BOOL, "false", 0, 0, RTG(local_part_case_sensitive), 0, NULL,
     KEY_RELOADABLE, "Compare local parts case-sensitively (domains never are)."},
    {"domains", KT_STRING_LIST, "[]", 0, 0, RTG(domains), RTG(n_domains), NULL, KEY_RELOADABLE,
     "Accepted domains besides those the routes name (\"example.org\", \"*.example.org\"); "
     "their unknown users get 550 5.1.1."},
};

#define OPT(f) offsetof(struct gw_route_opts, f)
const struct config_key config_route_opt_keys[] = {
    {"timeout", KT_DURATION, "30s", SEC(1), SEC(600), OPT(timeout_ms), 0, NULL, KEY_RELOADABLE,
     "Whole HTTP request, one attempt."},
    {"connect_timeout", KT_DURATION, "10s", MS(100), SEC(300), OPT(connect_timeout_ms), 0, NULL,
     KEY_RELOADABLE, "TCP and TLS connection set-up."},
    {"max_in_flight", KT_U32, "64", 1, 100000, OPT(max_in_flight), 0, NULL, KEY_RELOADABLE,
     "Requests at once to this route per worker; a message that finds it full waits its turn "
     "within its retry budget."},
    {"retry_budget", KT_DURATION, "60s", 0, SEC(540), OPT(retry_budget_ms), 0, NULL, KEY_RELOADABLE,
     "Time per message for retrying transient failures before 451 (a sender waits 10 minutes "
     "after DATA, RFC 5321 4.5.3.2.6)."},
    {"circuit_breaker_threshold", KT_U32, "5", 0, 100000, OPT(circuit_breaker_threshold), 0, NULL,
     KEY_RELOADABLE,
     "Consecutive transient failures that open the route's breaker: new transactions get 451 "
     "4.3.0 at RCPT until a probe succeeds. 0 turns it off."},
    {"circuit_breaker_probe", KT_DURATION, "30s", SEC(1), SEC(3600), OPT(circuit_breaker_probe_ms),
     0, NULL, KEY_RELOADABLE, "How often an open breaker lets one message through as a probe."},
    {"format", KT_ENUM, "json", 0, 0, OPT(format), 0, formats, KEY_RELOADABLE,
     "json (the payload of docs/payload.md) or raw (the message as message/rfc822, envelope in "
     "headers); for apps written against a provider: postmark, mailgun, mailgun-mime, sendgrid, "
     "sendgrid-raw (docs/formats.md)."},
    {"attachments", KT_ENUM, "inline", 0, 0, OPT(attachments), 0, attachments, KEY_RELOADABLE,
     "inline (content as base64), metadata (no content) or omit."},
    {"include_raw", KT_BOOL, "false", 0, 0, OPT(include_raw), 0, NULL, KEY_RELOADABLE,
     "Add the whole original message, base64-encoded, to the payload (format postmark: as "
     "RawEmail)."},
    {"auto_replies", KT_ENUM, "deliver", 0, 0, OPT(auto_replies), 0, auto_replies, KEY_RELOADABLE,
     "deliver, or accept-and-drop: a message classified auto_reply or bounce "
     "(message.classification) gets 250 and is not POSTed; it is logged with its delivery id "
     "and counted. Only with format = \"json\"; raw messages are always delivered."},
    {"standard_webhooks", KT_BOOL, "true", 0, 0, OPT(standard_webhooks), 0, NULL, KEY_RELOADABLE,
     "Send the Standard Webhooks headers webhook-id, webhook-timestamp and (with a whsec_/whsk_ "
     "secret) webhook-signature, in every format."},
    {"tls_verify", KT_BOOL, "true", 0, 0, OPT(tls_verify), 0, NULL, KEY_RELOADABLE,
     "Verify the webhook's TLS certificate and host name."},
    {"ca_file", KT_PATH, NULL, 0, 0, OPT(ca_file), 0, NULL, KEY_RELOADABLE,
     "CA certificates (PEM) to verify the webhook with. Default: the system's."},
    {"client_cert", KT_PATH, NULL, 0, 0, OPT(client_cert), 0, NULL, KEY_RELOADABLE,
     "Client certificate (PEM) presented to the webhook."},
    {"client_key", KT_PATH, NULL, 0, 0, OPT(client_key), 0, NULL, KEY_RELOADABLE,
     "Key of client_cert."},
    {"spf", KT_ENUM, NULL, 0, 0, OPT(spf), 0, policies, KEY_RELOADABLE | KEY_ROUTE_ONLY,
     "Overrides [auth] spf for this route."},
    {"dkim", KT_ENUM, NULL, 0, 0, OPT(dkim), 0, policies, KEY_RELOADABLE | KEY_ROUTE_ONLY,
     "Overrides [auth] dkim for this route."},
    {"dmarc", KT_ENUM, NULL, 0, 0, OPT(dmarc), 0, policies, KEY_RELOADABLE | KEY_ROUTE_ONLY,
     "Overrides [auth] dmarc for this route."},
};
const size_t config_n_route_opt_keys =
    sizeof(config_route_opt_keys) / sizeof(config_route_opt_keys[0]);

#define RTE(f) offsetof(struct gw_route, f)
static const struct config_key route_keys[] = {
    {"name", KT_STRING, NULL, 0, 0, RTE(name), 0, NULL, KEY_RELOADABLE,
     "A unique name for logs and the payload. Default: \"route-N\" (N from 1, file order)."},
    {"match", KT_MATCH, NULL, 0, 0, RTE(match), RTE(n_match), NULL, KEY_REQUIRED | KEY_RELOADABLE,
     "Recipient patterns, one or a list: \"support@example.com\", \"billing-*@example.com\", "
     "\"*@example.com\", \"*@*.example.com\". See docs/routing.md."},
    {"url", KT_URL, NULL, 0, 0, RTE(url), 0, NULL, KEY_REQUIRED | KEY_RELOADABLE,
     "The webhook: an http:// or https:// URL."},
    {"headers", KT_HEADERS, "{}", 0, 0, RTE(headers), RTE(n_headers), NULL, KEY_RELOADABLE,
     "Extra request headers: { \"X-Team\" = \"support\" }."},
    {"secret", KT_SECRETS, NULL, 0, 0, RTE(secrets), RTE(n_secrets), NULL, KEY_RELOADABLE,
     "Signing key(s) (Standard Webhooks): \"whsec_...\" (HMAC-SHA256) or \"whsk_...\" "
     "(Ed25519); a list signs with each, for rotation. Also secret_env (an environment "
     "variable, keys separated by spaces) or secret_file (one key a line)."},
    {"bearer_token", KT_SECRET, NULL, 0, 0, RTE(bearer_token), 0, NULL, KEY_RELOADABLE,
     "Send Authorization: Bearer TOKEN. Also bearer_token_env, bearer_token_file."},
    {"basic_user", KT_STRING, NULL, 0, 0, RTE(basic_user), 0, NULL, KEY_RELOADABLE,
     "Send HTTP basic authentication as this user (with basic_password)."},
    {"basic_password", KT_SECRET, NULL, 0, 0, RTE(basic_password), 0, NULL, KEY_RELOADABLE,
     "Password for basic_user. Also basic_password_env, basic_password_file."},
    {"mailgun_signing_key", KT_SECRET, NULL, 0, 0, RTE(mailgun_signing_key), 0, NULL,
     KEY_RELOADABLE,
     "Formats mailgun and mailgun-mime: the Mailgun HTTP webhook signing key, as Mailgun issues "
     "it (a plain string); the timestamp, token and signature fields are made with it. A plain "
     "(not whsec_/whsk_) secret is taken as this key too. Also mailgun_signing_key_env, "
     "mailgun_signing_key_file."},
    {"replies", KT_REPLIES, "{}", 0, 0, RTE(replies), RTE(n_replies), NULL, KEY_RELOADABLE,
     "Overrides of the HTTP-to-SMTP table: { \"404\" = \"550 5.1.1 No such ticket\", \"5xx\" "
     "= \"451 4.3.0\", \"timeout\" = \"451 4.4.2\" }. Keys: an HTTP status, a class (2xx to "
     "5xx), connect (refused, DNS or TLS failure), timeout, reset (connection lost "
     "mid-request), config (the request could not be made). See docs/webhook.md."},
};

#define USR(f) offsetof(struct gw_user, f)
static const struct config_key user_keys[] = {
    {"name", KT_STRING, NULL, 0, 0, USR(name), 0, NULL, KEY_REQUIRED | KEY_RELOADABLE,
     "SMTP AUTH user name (submission listeners)."},
    {"password_hash", KT_SECRET, NULL, 0, 0, USR(password_hash), 0, NULL,
     KEY_REQUIRED | KEY_RELOADABLE,
     "crypt(3) hash, as mkpasswd makes: yescrypt ($y$), bcrypt ($2b$), sha512-crypt ($6$). "
     "Also password_hash_env, password_hash_file."},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
const struct config_section config_sections[] = {
    {"server", SECTION_TABLE, server_keys, N(server_keys), "The daemon itself."},
    {"admin", SECTION_TABLE, admin_keys, N(admin_keys),
     "The admin HTTP listener: metrics, health and readiness (docs/operations.md)."},
    {"listener", SECTION_ARRAY, listener_keys, N(listener_keys),
     "One [[listener]] per address to accept SMTP on."},
    {"tls", SECTION_TABLE, tls_keys, N(tls_keys),
     "TLS for STARTTLS and smtps listeners (TLS 1.2 and 1.3 only)."},
    {"tls.certificate", SECTION_ARRAY, cert_keys, N(cert_keys),
     "One [[tls.certificate]] per certificate; chosen by SNI, the first is the default."},
    {"limits", SECTION_TABLE, limits_keys, N(limits_keys),
     "Limits and timeouts of the SMTP front end and the MIME parser."},
    {"dns", SECTION_TABLE, dns_keys, N(dns_keys), "The resolver used by SPF, DKIM, DMARC, ARC."},
    {"auth", SECTION_TABLE, auth_keys, N(auth_keys),
     "Sender authentication policy (docs/authentication.md)."},
    {"routing", SECTION_TABLE, routing_keys, N(routing_keys),
     "How recipients are matched to routes (docs/routing.md)."},
    {"webhook", SECTION_TABLE, config_route_opt_keys, N(config_route_opt_keys),
     "Defaults for every route's requests (docs/webhook.md); a [[route]] may override each."},
    {"user", SECTION_ARRAY, user_keys, N(user_keys), "SMTP AUTH users."},
    {"route", SECTION_ARRAY, route_keys, N(route_keys),
     "One [[route]] per webhook. Besides these keys, a route takes every [webhook] key and "
     "spf, dkim, dmarc."},
};
const size_t config_n_sections = N(config_sections);

const struct config_section *config_section_find(const char *name)
{
	for (size_t i = 0; i < config_n_sections; i++)
		if (strcmp(config_sections[i].name, name) == 0)
			return &config_sections[i];
	return NULL;
}

const char *config_key_type_name(enum key_type t)
{
	static const char *const names[] = {
	    [KT_BOOL] = "boolean",
	    [KT_U32] = "integer",
	    [KT_SIZE] = "size",
	    [KT_DURATION] = "duration",
	    [KT_STRING] = "string",
	    [KT_PATH] = "path",
	    [KT_ENUM] = "enum",
	    [KT_STRING_LIST] = "list of strings",
	    [KT_WORKERS] = "\"auto\" or integer",
	    [KT_TLS_VERSION] = "string",
	    [KT_PLUS_SEP] = "string",
	    [KT_HOSTNAME] = "host name",
	    [KT_LISTEN] = "address:port",
	    [KT_CIDR_LIST] = "list of prefixes",
	    [KT_DNS_SERVERS] = "list of addresses",
	    [KT_MATCH] = "string or list",
	    [KT_URL] = "URL",
	    [KT_HEADERS] = "table",
	    [KT_SECRETS] = "secret or list",
	    [KT_SECRET] = "secret",
	    [KT_REPLIES] = "table",
	};
	return names[t];
}

void config_key_write_range(FILE *f, const struct config_key *k)
{
	if (k->min == 0 && k->max == 0)
		return;
	if (k->type == KT_DURATION)
		fprintf(f, " (%llums to %llums)", (unsigned long long)k->min,
		        (unsigned long long)k->max);
	else if (k->type == KT_SIZE)
		fprintf(f, " (%llu to %llu bytes)", (unsigned long long)k->min,
		        (unsigned long long)k->max);
	else
		fprintf(f, " (%llu to %llu)", (unsigned long long)k->min,
		        (unsigned long long)k->max);
}

static void doc_key(FILE *f, const struct config_key *k)
{
	fprintf(f, "| `%s` | %s", k->name, config_key_type_name(k->type));
	if (k->names) {
		fputs(": ", f);
		for (size_t i = 0; k->names[i]; i++)
			fprintf(f, "%s`%s`", i ? ", " : "", k->names[i]);
	}
	config_key_write_range(f, k);
	if (k->flags & KEY_REQUIRED)
		fputs(" | required", f);
	else if (k->def)
		fprintf(f, " | `%s`", k->def);
	else
		fputs(" | (none)", f);
	fprintf(f, " | %s | %s |\n", (k->flags & KEY_RELOADABLE) ? "yes" : "restart", k->doc);
}

void config_write_doc(FILE *f)
{
	fputs(
	    "# gateway.toml reference\n\n"
	    "<!-- Generated by `smtp-gateway config-doc` from routes/config/config_keys.c; a test "
	    "checks that it is current. -->\n\n"
	    "The configuration is one TOML 1.0 file (`-c FILE`, default `./gateway.toml`). "
	    "Unknown keys, wrong types and values out of range are errors reported as "
	    "`file:line:column: message`; `smtp-gateway check` prints every one (`check -c -` "
	    "reads the file from standard input, `check -c /dev/fd/N` from descriptor N, once: a "
	    "pipe works).\n\n"
	    "- **size**: an integer of bytes or a string with a unit: `\"512KB\"`, `\"25MB\"`, "
	    "`\"1GB\"` (KB = 1024 bytes; `B`, `KiB`, `MiB`, `GiB` are accepted too).\n"
	    "- **duration**: a string with a unit: `\"500ms\"`, `\"30s\"`, `\"5m\"`, `\"1h\"`, "
	    "or a sum such as `\"1m30s\"`; the integer `0` means zero.\n"
	    "- **secret**: a string, or the same key with `_env` (the name of an environment "
	    "variable) or `_file` (a regular file of at most 64 KB that group and others "
	    "cannot read; one value a line) so that secrets need not sit in the TOML. A secret "
	    "written inline in a file that group or others can read is warned about.\n"
	    "- **path**: every file the configuration names (certificates, keys, CA files, the "
	    "PSL, `_file` secrets) must be a regular file: a FIFO or device is refused at once "
	    "(opened non-blocking, checked with fstat). `check` also loads the TLS certificates, "
	    "keys and CA files.\n"
	    "- **reload**: `yes` when SIGHUP applies a change to the running daemon; `restart` "
	    "when it takes a restart.\n\n",
	    f);
	for (size_t i = 0; i < config_n_sections; i++) {
		const struct config_section *s = &config_sections[i];
		fprintf(f, "## %s%s%s\n\n%s\n\n", s->kind == SECTION_ARRAY ? "[[" : "[", s->name,
		        s->kind == SECTION_ARRAY ? "]]" : "]", s->doc);
		fputs("| key | type | default | reload | meaning |\n|---|---|---|---|---|\n", f);
		for (size_t j = 0; j < s->n_keys; j++) {
			if (strcmp(s->name, "webhook") == 0 && (s->keys[j].flags & KEY_ROUTE_ONLY))
				continue;
			doc_key(f, &s->keys[j]);
		}
		if (strcmp(s->name, "route") == 0)
			for (size_t j = 0; j < config_n_route_opt_keys; j++)
				if (config_route_opt_keys[j].flags & KEY_ROUTE_ONLY)
					doc_key(f, &config_route_opt_keys[j]);
		fputs("\n", f);
	}
}
