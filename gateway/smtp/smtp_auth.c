/*
 * smtp_auth.c: SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, on submission listeners and over TLS only. Passwords are
 * checked with crypt_rn() against the crypt(3) hashes of [[user]] and
 * compared in constant time, on a thread per check so that a slow hash
 * never stalls the worker's loop; an unknown user costs the same hash as
 * a known one. Failures are answered after limits.auth_failure_delay_ms (an
 * event timer, smtp_session.c) and limits.max_auth_failures closes.
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

#include "smtp_int.h"

#define AUTH_FIELD_MAX 256

bool smtp_auth_verify(const struct gw_config *cfg, const char *user, const char *pass)
{
	/* Unknown users are checked against a real hash too: same cost, same timing. */
	const char *hash = cfg->n_users ? cfg->users[0].password_hash : NULL;
	bool known = false;
	for (size_t i = 0; i < cfg->n_users; i++) {
		if (strcmp(cfg->users[i].name, user) == 0 && cfg->users[i].password_hash) {
			hash = cfg->users[i].password_hash;
			known = true;
			break;
		}
	}
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

enum smtp_reply_id smtp_cmd_auth_check(struct smtp_session *s, const char *arg);
void smtp_cmd_auth(struct smtp_session *s, char *arg);

enum smtp_reply_id smtp_cmd_auth_check(struct smtp_session *s, const char *arg)
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
	s->auth_step = AUTH_NONE;
	free(s->auth_login_name);
	s->auth_login_name = NULL;
	smtp_session_state(s, ST_COMMAND);
	if (ok) {
		s->auth_user = strdup(user);
		if (!s->auth_user) {
			smtp_reply(s, RPL_NO_MEMORY, NULL);
			return;
		}
		smtp_log(LOG_INFO_, s->id, "auth ok user=%s", user);
		smtp_reply(s, RPL_AUTH_OK, NULL);
		if (s->shutdown_pending)
			smtp_reply(s, RPL_SHUTDOWN, NULL);
		else
			smtp_session_resume(s);
		return;
	}
	s->n_auth_failures++;
	smtp_worker_count(s->w, C_AUTH_FAILURES);
	smtp_log(LOG_INFO_, s->id, "auth failed ip=%s failures=%u", s->ip, s->n_auth_failures);
	/* The answer comes from the timer (smtp_session.c timer_cb, ST_AUTH_DELAY). */
	smtp_session_state(s, ST_AUTH_DELAY);
	uint64_t delay = s->cfg->limits.auth_failure_delay_ms;
	smtp_session_arm(s, delay ? delay : 1);
}

/*
 * One password check on a thread of its own: crypt(3) (yescrypt, bcrypt)
 * takes milliseconds to seconds and must not stall the loop. The job holds
 * its own copy of the credentials and a reference to the configuration;
 * the completion finds the session by id (it may have gone).
 */
struct auth_job {
	struct auth_job *next;
	struct smtp_worker *w;
	uint64_t sid;
	struct smtp_runtime *rt;
	struct event *done;
	pthread_t thread;
	bool ok;
	char user[AUTH_FIELD_MAX];
	char pass[AUTH_FIELD_MAX];
};

static void *job_run(void *arg)
{
	struct auth_job *j = arg;
	j->ok = smtp_auth_verify(j->rt->cfg, j->user, j->pass);
	OPENSSL_cleanse(j->pass, sizeof j->pass);
	event_active(j->done, EV_READ, 0);
	return NULL;
}

static void job_free(struct smtp_worker *w, struct auth_job *j)
{
	struct auth_job **pp = &w->auth_jobs;
	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
	pthread_join(j->thread, NULL);
	event_free(j->done);
	smtp_runtime_unref(j->rt);
	OPENSSL_cleanse(j, sizeof *j);
	free(j);
}

static void job_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth_job *j = arg;
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
		smtp_log(LOG_INFO_, sid, "auth result for a session that is gone; dropped");
		return;
	}
	auth_result(s, user, ok);
}

void smtp_auth_jobs_join(struct smtp_worker *w)
{
	while (w->auth_jobs)
		job_free(w, w->auth_jobs);
}

static void auth_done(struct smtp_session *s, const char *user, char *pass)
{
	struct auth_job *j = calloc(1, sizeof *j);
	size_t pl = strlen(pass);
	if (!j || strlen(user) >= sizeof j->user || pl >= sizeof j->pass) {
		free(j);
		OPENSSL_cleanse(pass, pl);
		auth_result(s, user, false);
		return;
	}
	j->w = s->w;
	j->sid = s->id;
	memcpy(j->user, user, strlen(user) + 1);
	memcpy(j->pass, pass, pl + 1);
	OPENSSL_cleanse(pass, pl);
	j->rt = smtp_runtime_ref(s->rt);
	j->done = event_new(s->w->base, -1, 0, job_done, j);
	if (!j->done || pthread_create(&j->thread, NULL, job_run, j)) {
		if (j->done)
			event_free(j->done);
		smtp_runtime_unref(j->rt);
		OPENSSL_cleanse(j, sizeof *j);
		free(j);
		smtp_reply(s, RPL_NO_MEMORY, NULL);
		return;
	}
	j->next = s->w->auth_jobs;
	s->w->auth_jobs = j;
	smtp_session_state(s, ST_AUTH_CHECK);
	smtp_session_arm(s, 0);
	bufferevent_disable(s->bev, EV_READ);
}

static int decode(const char *b64, unsigned char *out, size_t max, size_t *len)
{
	long n = smtp_b64_decode(b64, strlen(b64), out, max - 1);
	if (n < 0)
		return -1;
	out[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static void auth_fail_syntax(struct smtp_session *s, enum smtp_reply_id r)
{
	s->auth_step = AUTH_NONE;
	free(s->auth_login_name);
	s->auth_login_name = NULL;
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
	if (s->auth_step == AUTH_LOGIN_USER) {
		s->auth_login_name = strdup((char *)v);
		if (!s->auth_login_name) {
			smtp_reply(s, RPL_NO_MEMORY, NULL);
			return;
		}
		s->auth_step = AUTH_LOGIN_PASS;
		smtp_session_state(s, ST_AUTH);
		smtp_reply(s, RPL_AUTH_CONT, "UGFzc3dvcmQ6"); /* "Password:" */
		return;
	}
	char user[AUTH_FIELD_MAX];
	snprintf(user, sizeof user, "%s", s->auth_login_name);
	auth_done(s, user, (char *)v);
	OPENSSL_cleanse(v, sizeof v);
}

void smtp_cmd_auth(struct smtp_session *s, char *arg)
{
	char *sp = strchr(arg, ' ');
	const char *initial = NULL;
	if (sp) {
		*sp = '\0';
		initial = sp + 1;
	}
	if (strcasecmp(arg, "PLAIN") == 0) {
		s->auth_step = AUTH_PLAIN_WAIT;
		if (initial) {
			plain(s, initial);
			return;
		}
		smtp_session_state(s, ST_AUTH);
		smtp_reply(s, RPL_AUTH_CONT, "");
		return;
	}
	if (strcasecmp(arg, "LOGIN") == 0) {
		s->auth_step = AUTH_LOGIN_USER;
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

void smtp_cmd_auth_line(struct smtp_session *s, char *line, size_t len)
{
	if (strlen(line) != len) {
		auth_fail_syntax(s, RPL_AUTH_BAD_B64);
		return;
	}
	if (strcmp(line, "*") == 0) {
		auth_fail_syntax(s, RPL_AUTH_CANCEL);
		return;
	}
	if (s->auth_step == AUTH_PLAIN_WAIT)
		plain(s, line);
	else
		login_step(s, line);
	OPENSSL_cleanse(line, len);
}
