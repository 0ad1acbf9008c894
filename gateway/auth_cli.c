/*
 * auth_cli.c: `smtp-gateway auth`, the way a user asks "why did this
 * fail?": runs SPF, DKIM, ARC and DMARC on one message against the DNS
 * servers of gateway.toml ([dns]) and prints the auth object (plus the
 * verdict the configured policies would give, with the reply the SMTP
 * front end's catalogue gives it) as JSON. It lives beside main.c, above
 * both gateway/auth/ and gateway/smtp/, because it speaks for both.
 *
 * Every check runs, whatever [auth] says ("off" becomes "annotate"), so
 * that the answer is complete; "enforce" stays, so the verdict is the
 * daemon's. The whole run has a deadline (--timeout, default 60 s).
 *
 * Must never: write anything but the JSON to stdout, or wait unbounded.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cli.h"
#include "config.h"
#include "dns.h"
#include "smtp_catalog.h"
#include "sockaddr_text.h"

#define CLI_MESSAGE_MAX (64u << 20) /* bytes of FILE.eml read, when [limits] has no cap */

struct cli_run {
	struct event_base *base;
	json_t *out;
	bool done;
};

static int usage(void)
{
	fprintf(stderr, "usage: smtp-gateway auth --ip ADDR --helo NAME --from ADDRESS "
	                "[-c gateway.toml] [--timeout SECONDS] FILE.eml\n");
	return 2;
}

/* Reads path whole, bare LF turned into CRLF (files on disk rarely keep CRLF). */
static char *read_message(const char *path, size_t max, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	int c, prev = 0;
	while (buf && (c = getc(f)) != EOF && n < max) {
		if (n + 2 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		if (c == '\n' && prev != '\r')
			buf[n++] = '\r';
		buf[n++] = (char)c;
		prev = c;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

static const char *action_name(enum auth_action a)
{
	static const char *const names[] = {"accept", "quarantine", "reject", "tempfail"};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

static void on_done(void *arg, const struct auth_outcome *o)
{
	struct cli_run *run = arg;
	const struct smtp_reply_row *r = smtp_catalog_row(smtp_catalog_auth(o->verdict.id));
	run->out = json_deep_copy(o->auth);
	json_object_set_new(
	    run->out, "verdict",
	    json_pack("{s:s, s:i, s:s, s:s, s:o}", "action", action_name(o->verdict.action), "code",
	              r->code, "status", r->status, "text", r->text, "check",
	              o->verdict.check ? json_string(o->verdict.check) : json_null()));
	run->done = true;
	event_base_loopbreak(run->base);
}

static void raise_off(enum gw_policy *p)
{
	if (*p == POLICY_OFF)
		*p = POLICY_ANNOTATE;
}

struct cli_args {
	const char *ip, *helo, *from, *config, *file;
	long timeout_s;
};

static int parse_args(int argc, char **argv, struct cli_args *a)
{
	*a = (struct cli_args){.config = "gateway.toml", .timeout_s = 60};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(arg, "--ip") && next)
			a->ip = argv[++i];
		else if (!strcmp(arg, "--helo") && next)
			a->helo = argv[++i];
		else if (!strcmp(arg, "--from") && next)
			a->from = argv[++i];
		else if (!strcmp(arg, "-c") && next)
			a->config = argv[++i];
		else if (!strcmp(arg, "--timeout") && next)
			a->timeout_s = strtol(argv[++i], NULL, 10);
		else if (arg[0] == '-' && arg[1])
			return -1;
		else if (!a->file)
			a->file = arg;
		else
			return -1;
	}
	if (!a->ip || !a->helo || !a->from || !a->file || a->timeout_s < 1 || a->timeout_s > 3600)
		return -1;
	return 0;
}

static int evaluate(const struct cli_args *a, struct gw_config *cfg, const char *msg, size_t len)
{
	struct sockaddr_storage ip;
	struct cli_run run = {0};
	struct auth_ctx ctx;
	if (!sockaddr_text_parse(a->ip, &ip)) {
		fprintf(stderr, "smtp-gateway auth: --ip %s is not an IP address\n", a->ip);
		return 2;
	}
	run.base = event_base_new();
	struct dns_resolver *dns = run.base ? dns_c_ares_new(run.base, &cfg->dns) : NULL;
	if (!dns || auth_ctx_init(&ctx, dns, cfg) < 0) {
		fprintf(stderr, "smtp-gateway auth: cannot start the resolver\n");
		if (dns)
			dns_c_ares_free(dns);
		if (run.base)
			event_base_free(run.base);
		return 1;
	}
	struct auth_policy pol = ctx.policy;
	raise_off(&pol.spf);
	raise_off(&pol.dkim);
	raise_off(&pol.dmarc);
	raise_off(&pol.arc);
	ctx.policy = pol;
	ctx.any_spf = true;
	const char *from = strcmp(a->from, "<>") == 0 ? "" : a->from;
	struct auth_tx *tx = auth_tx_start(&ctx, (struct sockaddr *)&ip, a->helo, from, NULL, NULL);
	if (tx)
		auth_tx_message(tx, msg, len, &pol, on_done, &run);
	struct timeval tv = {.tv_sec = a->timeout_s};
	if (tx && !run.done) {
		event_base_loopexit(run.base, &tv);
		event_base_dispatch(run.base);
	}
	auth_tx_free(tx);
	auth_ctx_fini(&ctx);
	dns_c_ares_free(dns);
	event_base_free(run.base);
	if (!run.done) {
		fprintf(stderr, "smtp-gateway auth: no answer within %ld s\n", a->timeout_s);
		return 1;
	}
	json_dumpf(run.out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(run.out);
	return 0;
}

int auth_cli(int argc, char **argv)
{
	struct cli_args a;
	struct gw_diag diag = {0};
	if (parse_args(argc, argv, &a) < 0)
		return usage();
	struct gw_config *cfg = config_load(a.config, &diag);
	for (size_t i = 0; i < diag.n_errors; i++)
		fprintf(stderr, "%s\n", diag.errors[i]);
	diag_free(&diag);
	if (!cfg)
		return 2;
	size_t len = 0,
	       max = cfg->limits.max_message_size ? cfg->limits.max_message_size : CLI_MESSAGE_MAX;
	char *msg = read_message(a.file, max, &len);
	if (!msg) {
		fprintf(stderr, "smtp-gateway auth: cannot read %s\n", a.file);
		config_free(cfg);
		return 2;
	}
	int rc = evaluate(&a, cfg, msg, len);
	free(msg);
	config_free(cfg);
	return rc;
}
