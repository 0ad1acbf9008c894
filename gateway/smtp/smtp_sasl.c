/*
 * smtp_sasl.c: SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, on submission listeners and over TLS only. Passwords are
 * checked with crypt_rn() against the crypt(3) hashes of [[user]] and
 * compared in constant time, on a small pool of threads so that a slow
 * hash never stalls the worker's loop (limits.max_auth_checks bounds the
 * checks in flight: 454 4.7.0 beyond); an unknown user costs the hash of
 * the costliest configured user. Failures are answered after limits.auth_failure_delay_ms (an
 * event timer, smtp_session.c) and limits.max_auth_failures closes. Per client
 * address, over all sessions (smtp_authip.c): max_auth_failures_per_ip
 * failures (draining over auth_failure_window) and max_auth_checks_per_ip
 * checks in flight; beyond either, 454 4.7.0 without a check.
 *
 * Never: accept AUTH before TLS, log a password, keep a password after the
 * check, sleep.
 */
#include <crypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "codec.h"
#include "smtp_sasl.h"
#include "smtp_session.h"
#include "work_pool.h"

#define AUTH_FIELD_MAX 256

/* Rough cost rank of a crypt(3) setting: the family first, then its cost parameter. */
static uint64_t hash_cost(const char *h)
{
	static const char itoa64[] =
	    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint64_t family = 0, param = 0;
	if (strncmp(h, "$y$", 3) == 0 || strncmp(h, "$gy$", 4) == 0 || strncmp(h, "$7$", 3) == 0) {
		family = 5;
		const char *p = strchr(h + 1, '$') + 1; /* yescrypt: N's log2 is the 2nd char */
		const char *c = p[0] && p[1] ? strchr(itoa64, p[1]) : NULL;
		param = c ? (uint64_t)(c - itoa64) : 0;
	} else if (strncmp(h, "$2", 2) == 0) {
		family = 4;
		const char *p = strchr(h + 1, '$');
		param = p ? strtoul(p + 1, NULL, 10) : 0;
	} else if (strncmp(h, "$6$", 3) == 0 || strncmp(h, "$5$", 3) == 0) {
		family = h[1] == '6' ? 3 : 2;
		param = strncmp(h + 3, "rounds=", 7) == 0 ? strtoul(h + 10, NULL, 10) : 5000;
	} else if (h[0] == '$') {
		family = 1;
	}
	return family << 32 | (param & 0xffffffffu);
}

/*
 * The hash an unknown user is checked against: the costliest configured
 * one, so that a name that does not exist takes as long as the slowest
 * that does (with users[0]'s, a cheap first hash would reveal the rest).
 */
const char *smtp_sasl_dummy_hash(const struct gw_config *cfg)
{
	const char *best = NULL;
	uint64_t best_cost = 0;
	for (size_t i = 0; i < cfg->n_users; i++) {
		const char *h = cfg->users[i].password_hash;
		if (!h)
			continue;
		uint64_t c = hash_cost(h);
		if (!best || c > best_cost) {
			best = h;
			best_cost = c;
		}
	}
	return best;
}

bool smtp_sasl_verify(const struct gw_config *cfg, const char *user, const char *pass)
{
	const char *hash = NULL;
	bool known = false;
	for (size_t i = 0; i < cfg->n_users; i++) {
		if (strcmp(cfg->users[i].name, user) == 0 && cfg->users[i].password_hash) {
			hash = cfg->users[i].password_hash;
			known = true;
			break;
		}
	}
	if (!hash)
		hash = smtp_sasl_dummy_hash(cfg);
	if (!hash)
		return false;
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (!cd)
		return false;
	bool ok = false;
	const char *out = crypt_rn(pass, hash, cd, (int)sizeof *cd);
	size_t hl = strlen(hash);
	if (out && out[0] != '*' && strlen(out) == hl)
		ok = CRYPTO_memcmp(out, hash, hl) == 0;
	OPENSSL_cleanse(cd, sizeof *cd);
	free(cd);
	return ok && known;
}

enum smtp_reply_id smtp_sasl_check(struct smtp_session *s, const char *arg);
void smtp_sasl_cmd(struct smtp_session *s, char *arg);

enum smtp_reply_id smtp_sasl_check(struct smtp_session *s, const char *arg)
{
	if (s->lst->mode != LISTEN_SUBMISSION)
		return RPL_NOT_IMPL;
	if (!s->esmtp)
		return RPL_NO_HELO;
	if (!s->tls)
		return RPL_AUTH_NEED_TLS;
	if (s->auth_user || s->tx.active)
		return RPL_BAD_SEQUENCE;
	if (!arg || !*arg)
		return RPL_SYNTAX_ARGS;
	return RPL_NONE;
}

/* The verdict, back on the session's loop. */
static void auth_result(struct smtp_session *s, const char *user, bool ok)
{
	s->sasl_step = SASL_NONE;
	free(s->sasl_login_name);
	s->sasl_login_name = NULL;
	smtp_session_state(s, ST_COMMAND);
	if (ok) {
		s->auth_user = strdup(user);
		if (!s->auth_user) {
			smtp_reply(s, RPL_NO_MEMORY, NULL);
			return;
		}
		smtp_log(GW_LOG_INFO, s->id, "auth ok user=%s", user);
		smtp_reply(s, RPL_AUTH_OK, NULL);
		if (s->shutdown_pending)
			smtp_reply(s, RPL_SHUTDOWN, NULL);
		else
			smtp_session_resume(s);
		return;
	}
	s->n_auth_failures++;
	smtp_authip_failed(&s->cfg->limits, s->ip_key);
	smtp_worker_count(s->w, C_AUTH_FAILURES);
	smtp_log(GW_LOG_INFO, s->id, "auth failed ip=%s failures=%u", s->ip, s->n_auth_failures);
	/* The answer comes from the timer (smtp_session.c timer_cb, ST_AUTH_DELAY). */
	smtp_session_state(s, ST_AUTH_DELAY);
	uint64_t delay = s->cfg->limits.auth_failure_delay_ms;
	smtp_session_arm(s, delay ? delay : 1);
}

/*
 * Password checks run on a small pool of threads shared by the process:
 * crypt(3) (yescrypt, bcrypt) takes milliseconds to seconds and must not
 * stall a loop, and one thread per AUTH would let clients start threads
 * without bound. At most limits.max_auth_checks checks run or wait at once;
 * beyond it AUTH gets 454 4.7.0 (RFC 4954 6). A job holds its own copy of
 * the credentials and a reference to the configuration; its completion
 * finds the session by id (it may have gone). Jobs belong to their worker
 * (w->sasl_jobs, touched by its loop only); the pool lock guards the queue,
 * the count and each job's state.
 */
#define AUTH_POOL_THREADS 2

static struct work_pool pool = WORK_POOL_INIT("auth password checks", LS_SMTP);

struct sasl_job {
	struct work_job pj;    /* first: the pool's handle */
	struct sasl_job *next; /* the worker's list */
	struct smtp_worker *w;
	uint64_t sid;
	struct smtp_runtime *rt;
	bool ok;      /* written by run, read on the loop once done fired */
	bool ip_slot; /* holds one of its address's max_auth_checks_per_ip (smtp_authip.c) */
	char ip_key[72];
	char user[AUTH_FIELD_MAX];
	char pass[AUTH_FIELD_MAX];
};

/* On a pool thread: the hash, then the password is wiped. */
static void job_run(struct work_job *pj)
{
	struct sasl_job *j = (struct sasl_job *)pj;

	j->ok = smtp_sasl_verify(j->rt->cfg, j->user, j->pass);
	OPENSSL_cleanse(j->pass, sizeof j->pass);
}

static void job_free(struct smtp_worker *w, struct sasl_job *j)
{
	struct sasl_job **pp = &w->sasl_jobs;
	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
	work_pool_cancel(&pool, &j->pj);
	event_free(j->pj.done);
	if (j->ip_slot)
		smtp_authip_end(&j->rt->cfg->limits, j->ip_key);
	smtp_runtime_unref(j->rt);
	OPENSSL_cleanse(j, sizeof *j);
	free(j);
}

static void job_done(evutil_socket_t fd, short what, void *arg)
{
	struct sasl_job *j = arg;
	struct smtp_worker *w = j->w;
	char user[AUTH_FIELD_MAX];
	(void)fd;
	(void)what;
	bool ok = j->ok;
	uint64_t sid = j->sid;
	memcpy(user, j->user, sizeof user);
	job_free(w, j);
	struct smtp_session *s = smtp_worker_find(w, sid);
	if (!s || s->dead || s->state != ST_AUTH_CHECK) {
		smtp_log(GW_LOG_INFO, sid, "auth result for a session that is gone; dropped");
		return;
	}
	auth_result(s, user, ok);
}

void smtp_sasl_jobs_join(struct smtp_worker *w)
{
	while (w->sasl_jobs)
		job_free(w, w->sasl_jobs);
}

static void auth_busy(struct smtp_session *s)
{
	s->sasl_step = SASL_NONE;
	free(s->sasl_login_name);
	s->sasl_login_name = NULL;
	smtp_session_state(s, ST_COMMAND);
	smtp_worker_count(s->w, C_AUTH_BUSY);
	smtp_log(GW_LOG_WARN, s->id, "limit max_auth_checks=%u reached ip=%s",
	         s->cfg->limits.max_auth_checks, s->ip);
	smtp_reply(s, RPL_AUTH_BUSY, NULL);
}

/* The client's address may not have a password checked now (smtp_authip.c). */
static void auth_refused(struct smtp_session *s, enum smtp_authip_verdict v)
{
	const struct gw_limits *lim = &s->cfg->limits;
	s->sasl_step = SASL_NONE;
	free(s->sasl_login_name);
	s->sasl_login_name = NULL;
	smtp_session_state(s, ST_COMMAND);
	if (v == AUTHIP_FAILURES) {
		smtp_worker_count(s->w, C_AUTH_IP_BLOCKED);
		smtp_log(GW_LOG_WARN, s->id, "limit max_auth_failures_per_ip=%u reached ip=%s",
		         lim->max_auth_failures_per_ip, s->ip);
		smtp_reply(s, RPL_AUTH_IP_FAILURES, NULL);
		return;
	}
	smtp_worker_count(s->w, C_AUTH_BUSY);
	if (v == AUTHIP_BUSY)
		smtp_log(GW_LOG_WARN, s->id, "limit max_auth_checks_per_ip=%u reached ip=%s",
		         lim->max_auth_checks_per_ip, s->ip);
	else
		smtp_log(GW_LOG_WARN, s->id, "limit auth_ip_table_size=%u reached ip=%s",
		         lim->auth_ip_table_size, s->ip);
	smtp_reply(s, RPL_AUTH_BUSY, NULL);
}

static void auth_done(struct smtp_session *s, const char *user, char *pass)
{
	size_t pl = strlen(pass);
	/* Before any check: an address over its failures gets no answer on the password. */
	enum smtp_authip_verdict v = smtp_authip_begin(&s->cfg->limits, s->ip_key);
	if (v != AUTHIP_OK) {
		OPENSSL_cleanse(pass, pl);
		auth_refused(s, v);
		return;
	}
	struct sasl_job *j = calloc(1, sizeof *j);
	if (!j || strlen(user) >= sizeof j->user || pl >= sizeof j->pass) {
		free(j);
		smtp_authip_end(&s->cfg->limits, s->ip_key);
		OPENSSL_cleanse(pass, pl);
		auth_result(s, user, false);
		return;
	}
	j->ip_slot = true;
	snprintf(j->ip_key, sizeof j->ip_key, "%s", s->ip_key);
	j->w = s->w;
	j->sid = s->id;
	memcpy(j->user, user, strlen(user) + 1);
	memcpy(j->pass, pass, pl + 1);
	OPENSSL_cleanse(pass, pl);
	j->rt = smtp_runtime_ref(s->rt);
	j->pj.run = job_run;
	j->pj.done = event_new(s->w->base, -1, 0, job_done, j);
	if (!j->pj.done ||
	    work_pool_submit(&pool, &j->pj, AUTH_POOL_THREADS, s->cfg->limits.max_auth_checks)) {
		if (j->pj.done)
			event_free(j->pj.done);
		smtp_authip_end(&j->rt->cfg->limits, j->ip_key);
		smtp_runtime_unref(j->rt);
		OPENSSL_cleanse(j, sizeof *j);
		free(j);
		auth_busy(s);
		return;
	}
	j->next = s->w->sasl_jobs;
	s->w->sasl_jobs = j;
	smtp_session_state(s, ST_AUTH_CHECK);
	smtp_session_arm(s, 0);
	bufferevent_disable(s->bev, EV_READ);
}

static int decode(const char *b64, unsigned char *out, size_t max, size_t *len)
{
	size_t n;
	/* SASL (RFC 4954 section 4) allows no FWS and needs the padding. */
	if (codec_b64_decode(b64, strlen(b64), out, max - 1, &n, CODEC_B64_NEED_PAD) < 0)
		return -1;
	out[n] = '\0';
	*len = n;
	return 0;
}

static void auth_fail_syntax(struct smtp_session *s, enum smtp_reply_id r)
{
	s->sasl_step = SASL_NONE;
	free(s->sasl_login_name);
	s->sasl_login_name = NULL;
	smtp_session_state(s, ST_COMMAND);
	smtp_reply(s, r, NULL);
}

static void plain(struct smtp_session *s, const char *b64)
{
	unsigned char msg[3 * AUTH_FIELD_MAX];
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	size_t len;
	if (strcmp(b64, "=") == 0) {
		auth_fail_syntax(s, RPL_AUTH_FAIL); /* RFC 4954 4: empty response */
		return;
	}
	if (decode(b64, msg, sizeof msg, &len)) {
		auth_fail_syntax(s, RPL_AUTH_BAD_B64);
		return;
	}
	int bad = smtp_sasl_plain(msg, len, user, sizeof user, pass, sizeof pass);
	OPENSSL_cleanse(msg, sizeof msg);
	if (bad) {
		auth_fail_syntax(s, RPL_AUTH_BAD_B64);
		return;
	}
	auth_done(s, user, pass);
}

static void login_step(struct smtp_session *s, const char *b64)
{
	unsigned char v[AUTH_FIELD_MAX];
	size_t len;
	if (decode(b64, v, sizeof v, &len) || len == 0 || memchr(v, '\0', len)) {
		auth_fail_syntax(s, RPL_AUTH_BAD_B64);
		return;
	}
	if (s->sasl_step == SASL_LOGIN_USER) {
		s->sasl_login_name = strdup((char *)v);
		if (!s->sasl_login_name) {
			smtp_reply(s, RPL_NO_MEMORY, NULL);
			return;
		}
		s->sasl_step = SASL_LOGIN_PASS;
		smtp_session_state(s, ST_AUTH);
		smtp_reply(s, RPL_AUTH_CONT, "UGFzc3dvcmQ6"); /* "Password:" */
		return;
	}
	char user[AUTH_FIELD_MAX];
	snprintf(user, sizeof user, "%s", s->sasl_login_name);
	auth_done(s, user, (char *)v);
	OPENSSL_cleanse(v, sizeof v);
}

void smtp_sasl_cmd(struct smtp_session *s, char *arg)
{
	char *sp = strchr(arg, ' ');
	const char *initial = NULL;
	if (sp) {
		*sp = '\0';
		initial = sp + 1;
	}
	if (strcasecmp(arg, "PLAIN") == 0) {
		s->sasl_step = SASL_PLAIN_WAIT;
		if (initial) {
			plain(s, initial);
			return;
		}
		smtp_session_state(s, ST_AUTH);
		smtp_reply(s, RPL_AUTH_CONT, "");
		return;
	}
	if (strcasecmp(arg, "LOGIN") == 0) {
		s->sasl_step = SASL_LOGIN_USER;
		if (initial) {
			login_step(s, initial);
			return;
		}
		smtp_session_state(s, ST_AUTH);
		smtp_reply(s, RPL_AUTH_CONT, "VXNlcm5hbWU6"); /* "Username:" */
		return;
	}
	smtp_reply(s, RPL_AUTH_MECH, NULL);
}

void smtp_sasl_abort(struct smtp_session *s, enum smtp_reply_id r)
{
	auth_fail_syntax(s, r);
}

void smtp_sasl_line(struct smtp_session *s, char *line, size_t len)
{
	if (strlen(line) != len) {
		auth_fail_syntax(s, RPL_AUTH_BAD_B64);
		return;
	}
	if (strcmp(line, "*") == 0) {
		auth_fail_syntax(s, RPL_AUTH_CANCEL);
		return;
	}
	if (s->sasl_step == SASL_PLAIN_WAIT)
		plain(s, line);
	else
		login_step(s, line);
	OPENSSL_cleanse(line, len);
}
