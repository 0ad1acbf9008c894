/*
 * smtp_server.c: the daemon's life. Owns start-up in the fixed order
 * (parse, bind, load keys, drop privileges, start workers: STYLE 18), the
 * signal loop of the main thread (SIGTERM/SIGINT drain, SIGHUP reload),
 * the making of the configuration snapshots sessions run under (their
 * references: smtp_registry.c), the log switches of each configuration
 * (include/log.h) and the counters printed at exit.
 *
 * Never: runs a worker before privileges are dropped, frees a
 * configuration a session still references, keeps a failed reload.
 */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/thread.h>

#include "admin.h"
#include "metrics.h"
#include "smtp.h"
#include "smtp_tls.h"
#include "smtp_worker.h"

/* ---- configuration snapshots ---- */

static struct smtp_runtime *runtime_new(struct gw_config *cfg)
{
	struct smtp_runtime *rt = calloc(1, sizeof *rt);
	if (!rt)
		return NULL;
	atomic_init(&rt->refs, 1);
	rt->cfg = cfg;
	if (smtp_tls_check_webhook(cfg) || (cfg->n_certs && !(rt->tls = smtp_tls_new(cfg)))) {
		free(rt);
		return NULL;
	}
	return rt;
}

/* ---- start-up ---- */

static int bind_one(const struct gw_listener *l, int backlog)
{
	int one = 1;
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (l->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) || listen(fd, backlog)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int bind_all(struct smtp_server *srv, const struct gw_config *cfg)
{
	for (size_t wi = 0; wi < srv->n_workers; wi++) {
		struct smtp_worker *w = &srv->workers[wi];
		w->srv = srv;
		w->fds = calloc(cfg->n_listeners, sizeof *w->fds);
		w->listeners = calloc(cfg->n_listeners, sizeof *w->listeners);
		if (!w->fds || !w->listeners)
			return -1;
		for (size_t i = 0; i < cfg->n_listeners; i++)
			w->fds[i] = -1;
		for (size_t i = 0; i < cfg->n_listeners; i++) {
			w->fds[i] = bind_one(&cfg->listeners[i], (int)cfg->server.listen_backlog);
			if (w->fds[i] < 0) {
				log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "cannot listen on %s: %s",
				        cfg->listeners[i].address, strerror(errno));
				return -1;
			}
			if (wi == 0)
				log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "listening on %s backlog=%u",
				        cfg->listeners[i].address, cfg->server.listen_backlog);
		}
	}
	return 0;
}

/* A mail server parses hostile input all day: as root, any parser bug is the
 * whole machine. So root needs either server.user (bind, then drop) or an
 * explicit server.allow_root; checked before anything is bound. */
static int refuse_root(const struct gw_server *s)
{
	if (geteuid() != 0 || (s->user && *s->user) || s->allow_root)
		return 0;
	log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL,
	        "refusing to run as root without server.user: every session would parse untrusted "
	        "mail with full privileges. Set server.user to an unprivileged account (the "
	        "listeners are bound first, then privileges dropped), run as that user, or set "
	        "server.allow_root = true to accept the risk");
	return -1;
}

static int drop_privileges(const char *user)
{
	if (!user || !*user)
		return 0;
	if (geteuid() != 0) {
		log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL,
		        "not running as root; server.user=%s not applied", user);
		return 0;
	}
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "server.user %s does not exist", user);
		return -1;
	}
	if (initgroups(user, pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "cannot become %s: %s", user,
		        strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL,
		        "privileges could be regained; refusing to run");
		return -1;
	}
	log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "running as %s (uid %d)", user, (int)pw->pw_uid);
	return 0;
}

static size_t worker_count(const struct gw_config *cfg)
{
	long n = cfg->server.workers;
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	return n > 256 ? 256 : (size_t)n;
}

/* ---- signals ---- */

static void print_diag(const struct gw_diag *d)
{
	for (size_t i = 0; i < d->n_errors; i++)
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "config: %s", d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		log_msg(GW_LOG_WARN, LS_MAIN, 0, NULL, "config: %s", d->warnings[i]);
}

/*
 * Sessions read their listener's settings from the configuration they
 * start with, so a reload that changed any of them (not only the address)
 * would apply half of it: the sockets stay, the rules change. Such a
 * reload is refused whole; NULL when nothing differs, else what changed.
 */
static const char *listener_change(const struct gw_listener *a, const struct gw_listener *b)
{
	if (strcmp(a->address, b->address) != 0)
		return "address";
	if (a->mode != b->mode)
		return "mode";
	if (a->proxy_protocol != b->proxy_protocol)
		return "proxy_protocol";
	if (a->n_proxy_trusted != b->n_proxy_trusted)
		return "proxy_trusted";
	for (size_t k = 0; k < a->n_proxy_trusted; k++) {
		const struct gw_cidr *x = &a->proxy_trusted[k], *y = &b->proxy_trusted[k];
		size_t n = x->family == AF_INET ? 4 : 16;
		if (x->family != y->family || x->prefix != y->prefix || memcmp(x->addr, y->addr, n))
			return "proxy_trusted";
	}
	return NULL;
}

static bool same_listeners(const struct gw_config *a, const struct gw_config *b)
{
	if (a->n_listeners != b->n_listeners) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "reload: the number of listeners changed");
		return false;
	}
	for (size_t i = 0; i < a->n_listeners; i++) {
		const char *what = listener_change(&a->listeners[i], &b->listeners[i]);
		if (what) {
			log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "reload: listener %s: %s changed",
			        a->listeners[i].address, what);
			return false;
		}
	}
	return true;
}

/* [server] log_format, log_target, log_file; a file that cannot be opened keeps the output. */
static int apply_log_output(const struct gw_config *cfg)
{
	const struct gw_server *sv = &cfg->server;
	if (log_set_output(sv->log_format, sv->log_target, sv->log_file) == 0)
		return 0;
	log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "cannot open log_file %s: %s",
	        sv->log_file ? sv->log_file : "", strerror(errno));
	return -1;
}

static void reload(struct smtp_server *srv)
{
	struct gw_diag diag = {0};
	struct gw_config *cfg = config_load(srv->config_path, &diag);
	print_diag(&diag);
	diag_free(&diag);
	if (!cfg) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL,
		        "reload failed; keeping the running configuration");
		return;
	}
	if (!same_listeners(srv->rt->cfg, cfg)) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL,
		        "reload refused: listeners changed (restart needed)");
		config_free(cfg);
		return;
	}
	struct smtp_runtime *rt = runtime_new(cfg);
	if (!rt) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL,
		        "reload failed (TLS); keeping the running configuration");
		config_free(cfg);
		return;
	}
	for (size_t i = 0; i < srv->n_workers; i++)
		smtp_worker_post(&srv->workers[i], rt, false);
	smtp_runtime_unref(srv->rt);
	srv->rt = rt;
	log_configure(cfg->server.log_level, cfg->server.log_trace, cfg->server.n_log_trace);
	apply_log_output(cfg);
	log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "configuration reloaded from %s", srv->config_path);
}

static void signal_loop(struct smtp_server *srv, const sigset_t *set)
{
	for (;;) {
		int sig;
		if (sigwait(set, &sig))
			continue;
		if (sig == SIGHUP) { /* systemd waits for READY=1 again before reload returns */
			service_notify("RELOADING=1\nSTATUS=reloading the configuration");
			reload(srv);
			service_notify("READY=1\nSTATUS=ready");
			continue;
		}
		if (sig == SIGUSR1) { /* logrotate moved the file: write to a new one */
			if (log_reopen())
				log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL,
				        "cannot reopen the log file: %s", strerror(errno));
			continue;
		}
		admin_set_ready(false); /* /readyz 503: balancers stop sending during the drain */
		service_notify("STOPPING=1\nSTATUS=draining");
		log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "signal %d: draining", sig);
		return;
	}
}

static void log_counters(struct smtp_server *srv)
{
	char buf[900];
	size_t o = 0;
	for (int c = 0; c < C_COUNTER_MAX; c++) {
		unsigned long long sum = 0;
		for (size_t i = 0; i < srv->n_workers; i++)
			sum += atomic_load(&srv->workers[i].counters[c]);
		int n = snprintf(buf + o, sizeof buf - o, " %s=%llu", smtp_counter_names[c], sum);
		if (n < 0 || (size_t)n >= sizeof buf - o)
			break;
		o += (size_t)n;
	}
	log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "counters%s", buf);
}

static void stop_workers(struct smtp_server *srv)
{
	for (size_t i = 0; i < srv->n_workers; i++)
		if (srv->workers[i].thread)
			smtp_worker_post(&srv->workers[i], NULL, true);
	for (size_t i = 0; i < srv->n_workers; i++)
		if (srv->workers[i].thread)
			pthread_join(srv->workers[i].thread, NULL);
}

/* Workers inherit the mask: only the main thread's sigwait() sees these. */
static void block_signals(sigset_t *set)
{
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1); /* reopen log_file */
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int start_workers(struct smtp_server *srv)
{
	for (size_t i = 0; i < srv->n_workers; i++) {
		struct smtp_worker *w = &srv->workers[i];
		w->index = (int)i;
		w->srv = srv;
		w->rt = smtp_runtime_ref(srv->rt);
		if (smtp_worker_start(w))
			return -1;
	}
	return 0;
}

int smtp_serve(struct gw_config *cfg, const char *path)
{
	static struct smtp_server srv;
	struct admin *admin = NULL;
	bool admin_failed = false;
	sigset_t set;
	int rc = 1;
	smtp_srv = &srv;
	log_configure(cfg->server.log_level, cfg->server.log_trace, cfg->server.n_log_trace);
	if (apply_log_output(cfg)) {
		config_free(cfg);
		return 1;
	}
	srv.config_path = strdup(path ? path : "gateway.toml");
	srv.n_listeners = cfg->n_listeners;
	srv.n_workers = worker_count(cfg);
	srv.workers = calloc(srv.n_workers, sizeof *srv.workers);
	if (!srv.workers || !srv.config_path || evthread_use_pthreads())
		return 1;
	block_signals(&set);
	metrics_init(cfg->admin.max_series);
	if (refuse_root(&cfg->server) || bind_all(&srv, cfg))
		goto out_cfg;
	admin = admin_start(cfg, &admin_failed); /* bound with the listeners, before the drop */
	if (admin_failed)
		goto out_cfg;
	srv.rt = runtime_new(cfg); /* loads the keys, still privileged */
	if (!srv.rt) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "cannot load the TLS certificates");
		goto out_cfg;
	}
	cfg = NULL;
	if (drop_privileges(srv.rt->cfg->server.user) || start_workers(&srv))
		goto out;
	admin_set_ready(true);
	service_notify("READY=1\nSTATUS=ready"); /* systemctl start returns: listeners bound */
	log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "ready: %zu workers, %zu listeners", srv.n_workers,
	        srv.n_listeners);
	signal_loop(&srv, &set);
	rc = 0;
out:
	stop_workers(&srv); /* drained; or, when one failed to start, the ones running */
	if (rc == 0)
		log_counters(&srv);
out_cfg:
	admin_set_ready(false);
	admin_stop(admin); /* after the workers: /metrics and /healthz answer through the drain */
	for (size_t i = 0; i < srv.n_workers; i++)
		smtp_worker_free(&srv.workers[i]); /* also closes what bind_all() opened */
	smtp_runtime_unref(srv.rt);
	if (cfg)
		config_free(cfg);
	free(srv.workers);
	free(srv.config_path);
	log_msg(GW_LOG_INFO, LS_MAIN, 0, NULL, "exit %d", rc);
	return rc;
}

int smtp_serve_main(int argc, char **argv)
{
	const char *path = "gateway.toml";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "-f") == 0) {
			continue; /* always in the foreground; kept for compatibility */
		} else {
			log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "unknown option '%s'", argv[i]);
			return 2;
		}
	}
	struct gw_diag diag = {0};
	struct gw_config *cfg = config_load(path, &diag);
	if (cfg) /* the warnings in the format and place the configuration asks for */
		log_set_output(cfg->server.log_format, cfg->server.log_target,
		               cfg->server.log_file);
	print_diag(&diag);
	diag_free(&diag);
	if (!cfg) {
		log_msg(GW_LOG_ERROR, LS_MAIN, 0, NULL, "%s: configuration refused", path);
		return 1;
	}
	return smtp_serve(cfg, path);
}
