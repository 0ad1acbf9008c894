/*
 * payload_classify.c: message.classification, whether a message was written
 * by a person or by a machine (docs/payload.md "Classification"), so a help
 * desk does not reopen a ticket on an out-of-office reply or answer a bounce
 * (mail loops).
 *
 * Evidence, each listed in "signals": RFC 3834 Auto-Submitted, X-Autoreply,
 * X-Autorespond, X-Auto-Response-Suppress, Precedence (auto_reply, bulk,
 * junk, list), RFC 2369 List-Unsubscribe/List-Post and RFC 2919 List-Id,
 * the null reverse path, RFC 6522 multipart/report with RFC 3464
 * message/delivery-status, RFC 8098 message/disposition-notification or
 * RFC 5965 feedback-report, the sender (MAILER-DAEMON, postmaster), and the
 * subjects the common clients and MTAs give auto-replies and bounces.
 * Strongest kind wins: bounce, auto_reply, list, bulk, human.
 *
 * Must never: read more than the header fields and the subject; the body is
 * only read by payload_bounce.c when the message looks like a bounce.
 */
#include <stdbool.h>
#include <string.h>

#include "payload_int.h"

enum kind { K_HUMAN, K_BULK, K_LIST, K_AUTO, K_BOUNCE };
static const char *const kind_names[] = {"human", "bulk", "list", "auto_reply", "bounce"};

struct cls {
	struct pctx *c;
	json_t *signals;
	enum kind kind;
};

static void sig(struct cls *s, const char *name, enum kind k)
{
	json_t *v;
	size_t i;
	json_array_foreach(s->signals, i, v) if (!strcmp(json_string_value(v), name)) goto kind;
	if (json_array_append_new(s->signals, json_string(name)) < 0)
		s->c->oom = 1;
kind:
	if (k > s->kind)
		s->kind = k;
}

static bool ihas(const char *p, const char *w)
{
	size_t n = strlen(p), m = strlen(w);
	char lo = w[0] >= 'A' && w[0] <= 'Z' ? (char)(w[0] + 32) : w[0];
	char up = lo >= 'a' && lo <= 'z' ? (char)(lo - 32) : lo;
	for (size_t i = 0; i + m <= n; i++)
		if ((p[i] == lo || p[i] == up) && !g_ascii_strncasecmp(p + i, w, m))
			return true;
	return false;
}

/* The fields classification reads, in the order of struct fields' v[]. */
enum field {
	F_AUTO_SUBMITTED,
	F_X_AUTOREPLY,
	F_X_AUTORESPOND,
	F_X_AUTO_RESPONSE_SUPPRESS,
	F_PRECEDENCE,
	F_LIST_ID,
	F_LIST_POST,
	F_LIST_UNSUBSCRIBE,
	F_FROM,
	F_RETURN_PATH,
	F_MAX
};
static const char *const field_names[F_MAX] = {
    "Auto-Submitted", "X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress",
    "Precedence",     "List-Id",     "List-Post",     "List-Unsubscribe",
    "From",           "Return-Path"};

/* The raw value of the first of each field (leading white space skipped), or NULL. */
struct fields {
	const char *v[F_MAX];
	char *own_from; /* From's raw value when payload_scan.c left it out of GMime's input */
};

/*
 * One pass over the message's header fields instead of a lookup per name:
 * most fields (Received, DKIM-Signature, Content-Type ...) are told apart
 * from the ten by their first letter alone.
 */
static void read_fields(struct pctx *c, GMimeMessage *m, struct fields *f)
{
	memset(f, 0, sizeof(*f));
	f->own_from = pscan_hidden_raw(c, m, "From");
	const char *from = f->own_from;
	while (from && (*from == ' ' || *from == '\t' || *from == '\r' || *from == '\n'))
		from++;
	f->v[F_FROM] = from;
	GMimeHeaderList *l = g_mime_object_get_header_list(GMIME_OBJECT(m));
	int n = l ? g_mime_header_list_get_count(l) : 0;
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(l, i);
		const char *name = h ? g_mime_header_get_name(h) : NULL;
		char first = name ? (char)(name[0] | 0x20) : 0;
		if (!strchr("axplfr", first) || !first)
			continue;
		for (int k = 0; k < F_MAX; k++) {
			if ((field_names[k][0] | 0x20) != first || f->v[k] ||
			    g_ascii_strcasecmp(name, field_names[k]))
				continue;
			const char *v = g_mime_header_get_raw_value(h); /* tokens are ASCII */
			while (v && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
				v++;
			f->v[k] = v;
			break;
		}
	}
}

/* Subjects that open an auto-reply as the common clients write them ("Automatic reply: ..."). */
static const char *const auto_subjects[] = {
    "out of office",
    "out of the office",
    "automatic reply",
    "auto-reply",
    "autoreply",
    "auto reply",
    "auto response",
    "autoresponse",
    "abwesenheitsnotiz",
    "abwesend",
    "automatische antwort",
    "r\xc3\xa9ponse automatique",
    "absence du bureau",
    "respuesta autom\xc3\xa1tica",
    "fuera de la oficina",
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    "automatisch antwoord",
    "afwezig",
    "resposta autom\xc3\xa1tica",
    "fora do escrit",
    "automatiskt svar",
    "fr\xc3\xa5nvarande",
    "odpowied\xc5\xba automatyczna",
    "autoodpowied",
    "nieobecno",
    "\xe8\x87\xaa\xe5\x8b\x95\xe5\xbf\x9c\xe7\xad\x94", /* 自動応答 */
    "\xe4\xb8\x8d\xe5\x9c\xa8",                         /* 不在 */
    "\xe8\x87\xaa\xe5\x8a\xa8\xe5\x9b\x9e\xe5\xa4\x8d", /* 自动回复 */
    "\xe8\x87\xaa\xe5\x8b\x95\xe5\x9b\x9e\xe8\xa6\x86", /* 自動回覆 */
    "vacation",
    "on vacation",
    "away from the office",
    NULL};

/* The subject starts with one of words (after blanks): a reply "Re: out of office?" does not. */
/*
 * 0: no; 1: the subject starts with one of words ("Vacation request ..."
 * also does: evidence only); 2: the word is the whole subject or is followed
 * by a colon, as clients write it ("Automatic reply: Ticket 123").
 */
static int subject_starts(const char *s, const char *const *words)
{
	while (s && (*s == ' ' || *s == '\t'))
		s++;
	for (size_t i = 0; s && words[i]; i++) {
		/* the first byte first, as g_ascii_strncasecmp() compares it: most words differ
		 * there */
		if (g_ascii_tolower(*s) != g_ascii_tolower(words[i][0]))
			continue;
		size_t n = strlen(words[i]);
		if (g_ascii_strncasecmp(s, words[i], n))
			continue;
		const char *r = s + n;
		while (*r == ' ' || *r == '\t')
			r++;
		return *r == 0 || *r == ':' || !strncmp(r, "\xef\xbc\x9a", 3) ? 2 : 1;
	}
	return 0;
}

static const char *const bounce_subjects[] = {
    "undeliverable",        "undelivered mail",    "delivery status notification",
    "mail delivery failed", "delivery failure",    "returned mail",
    "failure notice",       "delivery has failed", "could not be delivered",
    "mail system error",    "nondeliverable",      "non-delivery",
    "unzustellbar",         "non remis",           "no se puede entregar",
    "non recapitabile",     "onbestelbaar",        "n\xc3\xa3o entregue",
    "ej levererat",         "niedostarczon",       NULL};

static bool subject_has(const char *s, const char *const *words)
{
	for (size_t i = 0; s && words[i]; i++)
		if (ihas(s, words[i]))
			return true;
	return false;
}

/* The report-type of a multipart/report anywhere in the first two levels. */
static void report(struct cls *s, GMimeObject *o, int depth)
{
	if (!o || depth > 2)
		return;
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
		const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
		if (rt && !g_ascii_strcasecmp(rt, "delivery-status"))
			sig(s, "report:delivery-status", K_BOUNCE);
		else if (rt && !g_ascii_strcasecmp(rt, "disposition-notification"))
			sig(s, "report:disposition-notification", K_AUTO);
		else if (rt && !g_ascii_strcasecmp(rt, "feedback-report"))
			sig(s, "report:feedback-report", K_AUTO);
	}
	if (ct && g_mime_content_type_is_type(ct, "message", "delivery-status"))
		sig(s, "report:delivery-status", K_BOUNCE);
	if (GMIME_IS_MULTIPART(o)) {
		int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
		for (int i = 0; i < n && i < 8; i++)
			report(s, g_mime_multipart_get_part(GMIME_MULTIPART(o), i), depth + 1);
	}
}

static void headers(struct cls *s, const struct fields *f)
{
	const char *v;
	if ((v = f->v[F_AUTO_SUBMITTED]) && g_ascii_strncasecmp(v, "no", 2)) {
		if (ihas(v, "auto-replied"))
			sig(s, "auto-submitted:auto-replied", K_AUTO);
		else if (ihas(v, "auto-notified"))
			sig(s, "auto-submitted:auto-notified", K_AUTO);
		else
			sig(s, "auto-submitted:auto-generated", K_AUTO);
	}
	if (f->v[F_X_AUTOREPLY])
		sig(s, "x-autoreply", K_AUTO);
	if (f->v[F_X_AUTORESPOND])
		sig(s, "x-autorespond", K_AUTO);
	if ((v = f->v[F_X_AUTO_RESPONSE_SUPPRESS]))
		sig(s, "x-auto-response-suppress", K_HUMAN); /* Exchange sets it on much mail */
	if ((v = f->v[F_PRECEDENCE])) {
		if (ihas(v, "auto_reply"))
			sig(s, "precedence:auto_reply", K_AUTO);
		else if (ihas(v, "list"))
			sig(s, "precedence:list", K_LIST);
		else if (ihas(v, "bulk"))
			sig(s, "precedence:bulk", K_BULK);
		else if (ihas(v, "junk"))
			sig(s, "precedence:junk", K_BULK);
	}
	if (f->v[F_LIST_ID])
		sig(s, "list-id", K_LIST);
	if (f->v[F_LIST_POST])
		sig(s, "list-post", K_LIST);
	if (f->v[F_LIST_UNSUBSCRIBE])
		sig(s, "list-unsubscribe", K_BULK);
}

/* Return-Path: <> (RFC 5321 section 4.4: the reverse path a bounce is sent with). */
static bool empty_path(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (strncmp(v, "<>", 2))
		return false;
	for (v += 2; *v == ' ' || *v == '\t' || *v == '\r' || *v == '\n';)
		v++;
	return *v == 0;
}

static bool daemon_sender(const struct fields *fs)
{
	const char *f = fs->v[F_FROM];
	return f &&
	       (ihas(f, "mailer-daemon") || ihas(f, "postmaster@") || ihas(f, "mail delivery"));
}

int pclassify_message(struct pctx *c, GMimeMessage *m, const char *text, size_t text_len,
                      json_t *out)
{
	struct cls s = {.c = c, .signals = json_array(), .kind = K_HUMAN};
	bool null_path = c->env && c->env->mail_from && !c->env->mail_from[0];
	if (!s.signals)
		return -1;
	if (null_path)
		sig(&s, "null-reverse-path", K_HUMAN);
	if (m) {
		const char *hidden = pscan_hidden_value(c, m, "Subject");
		const char *subject = hidden ? hidden : g_mime_message_get_subject(m);
		struct fields f;
		read_fields(c, m, &f);
		headers(&s, &f);
		report(&s, g_mime_message_get_mime_part(m), 0);
		bool daemon = daemon_sender(&f);
		if (daemon)
			sig(&s, "from:mailer-daemon", K_HUMAN);
		int vacation = subject_starts(subject, auto_subjects);
		if (vacation)
			sig(&s, "subject:auto-reply", K_HUMAN);
		bool bsubj = subject_has(subject, bounce_subjects);
		free(f.own_from);
		f.v[F_FROM] = NULL;
		if (bsubj)
			sig(&s, "subject:bounce", K_HUMAN);
		const char *rp = f.v[F_RETURN_PATH];
		if (!null_path && rp && empty_path(rp)) {
			null_path = true;
			sig(&s, "null-reverse-path", K_HUMAN);
		}
		/* An auto-reply subject counts alone as clients write it ("...: subject"), else
		 * with <> */
		if (s.kind < K_AUTO && (vacation == 2 || (vacation && null_path)))
			s.kind = K_AUTO;
		/* A bounce subject sent with the null reverse path is a bounce (RFC 3464 section 2)
		 */
		if (bsubj && null_path)
			s.kind = K_BOUNCE;
		/* A machine sender: a bounce when a failed recipient can be read. */
		if (s.kind != K_BOUNCE && daemon) {
			json_t *b = pbounce_json(c, m, text, text_len);
			if (b && json_array_size(json_object_get(b, "recipients")))
				s.kind = K_BOUNCE;
			json_decref(b);
		}
	}
	json_t *bounce = s.kind == K_BOUNCE ? pbounce_json(c, m, text, text_len) : json_null();
	if (c->opt->kind_out)
		*c->opt->kind_out = (enum payload_kind)s.kind; /* enum kind has the same order */
	static const char *const keys[] = {"kind", "signals"};
	json_t *v[] = {json_string_nocheck(kind_names[s.kind]), s.signals};
	json_t *o = json_object_of(keys, v, 2);
	if (!o || !bounce || json_object_set_new_nocheck(out, "classification", o) < 0 ||
	    json_object_set_new_nocheck(out, "bounce", bounce) < 0)
		c->oom = 1;
	return c->oom ? -1 : 0;
}
