/*
 * payload_reply.c: message.reply, the text the sender wrote in this message
 * without the quoted earlier messages and without the signature (what
 * help desks call the stripped reply; docs/payload.md "Reply").
 *
 * Works on lines of the UTF-8 body text (LF line endings). Recognises:
 * - quote headers as the common clients write them ("On <date>, <name>
 *   wrote:", "Am ... schrieb ...:", "Le ... a écrit :", "El ... escribió:",
 *   Italian, Dutch, Portuguese, Swedish/Danish/Norwegian, Polish, Japanese,
 *   Chinese, Korean ...), also wrapped over two lines;
 * - Outlook's "-----Original Message-----" separator (and its translations)
 *   and its "From: / Sent: / To: / Subject:" block in those languages;
 * - '>' quoting (RFC 3676 section 4.5), inline replies kept;
 * - forwarded-message markers: a forward is not a reply, its content is kept;
 * - the RFC 3676 section 4.3 signature delimiter "-- " and "Sent from my
 *   iPhone"-style trailers.
 *
 * Must never: cut when unsure (a wrong cut loses what the customer wrote;
 * keeping a quote is the lesser harm), scan more than max_scan bytes (the
 * caller's bound; past it the result is all null rather than a guess), or
 * do any work that is not linear in the scanned bytes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"

#define LINE_MAX_HEADER 400 /* a quote header line longer than this is prose */
#define HEADER_BLOCK    6   /* lines after From: searched for Sent:/To:/Subject: */
#define SIG_MAX_LINES   40  /* a "-- " block longer than this is not a signature */

static bool ascii_ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

/*
 * Case-insensitive (ASCII) substring search, bounded by n. A word that does
 * not start with a letter (the CJK phrases) has one first byte: memchr
 * finds its candidates, as most lines hold none.
 */
static bool has(const char *p, size_t n, const char *word)
{
	size_t w = strlen(word);
	unsigned char lo = (unsigned char)word[0], up = lo;
	if (lo >= 'a' && lo <= 'z')
		up = (unsigned char)(lo - 32);
	if (w > n)
		return false;
	if (lo == up) {
		for (const char *q = p, *last = p + n - w; q <= last;) {
			q = memchr(q, lo, (size_t)(last - q) + 1);
			if (!q)
				return false;
			if (ascii_ieq(q, word, w))
				return true;
			q++;
		}
		return false;
	}
	for (size_t i = 0; i + w <= n; i++)
		if (((unsigned char)p[i] == lo || (unsigned char)p[i] == up) &&
		    ascii_ieq(p + i, word, w))
			return true;
	return false;
}

/* A phrase of a table with its length, counted when compiled rather than per line. */
struct phrase {
	const char *s;
	size_t n;
};
#define PHRASE(lit)                                                                                \
	{                                                                                          \
		"" lit, sizeof(lit) - 1                                                            \
	}

static bool starts_n(const char *p, size_t n, const char *word, size_t w)
{
	return n >= w && ascii_ieq(p, word, w);
}

/* Does p start with the literal lit (any case)? */
#define starts(p, n, lit) starts_n(p, n, "" lit, sizeof(lit) - 1)

static struct pline trim(struct pline l)
{
	/* most lines: nothing to trim (' ', '\t' and '\r' are all at most ' ') */
	if (l.n && (unsigned char)l.p[0] > ' ' && (unsigned char)l.p[l.n - 1] > ' ')
		return l;
	while (l.n && (*l.p == ' ' || *l.p == '\t' || *l.p == '\r')) {
		l.p++;
		l.n--;
	}
	while (l.n && (l.p[l.n - 1] == ' ' || l.p[l.n - 1] == '\t' || l.p[l.n - 1] == '\r'))
		l.n--;
	return l;
}

static bool blank(struct pline l)
{
	return trim(l).n == 0;
}

static bool quoted(struct pline l)
{
	struct pline t = trim(l);
	return t.n && t.p[0] == '>';
}

static bool any_of(const char *p, size_t n, const char *const *words)
{
	for (size_t i = 0; words[i]; i++)
		if (has(p, n, words[i]))
			return true;
	return false;
}

/* "wrote" in the languages of the common clients (stems, so inflections match). */
static const char *const wrote_words[] = {
    "wrote",
    "writes",
    "schrieb",
    "crit",
    "escribi",
    "escrit",
    "scritto",
    "scrisse",
    "schreef",
    "geschreven",
    "escreveu",
    "skrev",
    "napisa",
    "pisze",
    "kirjoitti",
    "\xd0\xbf\xd0\xb8\xd1\x88\xd0\xb5",                                         /* пише */
    "\xe3\x81\xae\xe3\x83\xa1\xe3\x83\x83\xe3\x82\xbb\xe3\x83\xbc\xe3\x82\xb8", /* のメッセージ */
    "napsal",
    "\xd0\xbd\xd0\xb0\xd0\xbf\xd0\xb8\xd1\x81\xd0\xb0",             /* написа */
    "\xe6\x9b\xb8\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x97\xe3\x81\x9f", /* 書きました */
    "\xe5\x86\x99\xe9\x81\x93",                                     /* 写道 */
    "\xe5\xaf\xab\xe9\x81\x93",                                     /* 寫道 */
    "\xec\x9e\x91\xec\x84\xb1",                                     /* 작성 */
    "vi\xe1\xba\xbft",                                              /* viết */
    NULL};

static bool ends_colon(struct pline t)
{
	if (t.n && t.p[t.n - 1] == ':')
		return true;
	return t.n >= 3 && !memcmp(t.p + t.n - 3, "\xef\xbc\x9a", 3); /* full-width colon */
}

static bool has_digit_or_at(struct pline t)
{
	for (size_t i = 0; i < t.n; i++)
		if ((t.p[i] >= '0' && t.p[i] <= '9') || t.p[i] == '@')
			return true;
	return false;
}

static bool header_prefix(struct pline t)
{
	static const struct phrase pre[] = {PHRASE("On "),     PHRASE("Am "),  PHRASE("Le "),
	                                    PHRASE("El "),     PHRASE("Il "),  PHRASE("Op "),
	                                    PHRASE("Em "),     PHRASE("Den "), PHRASE("P\xc3\xa5 "),
	                                    PHRASE("W dniu "), PHRASE("Dnia ")};
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (starts_n(t.p, t.n, pre[i].s, pre[i].n))
			return true;
	return t.n && t.p[0] >= '0' && t.p[0] <= '9';
}

/* "On <date>, <name> wrote:" and its kin, on one (already joined) line. */
static bool quote_header_text(struct pline t)
{
	if (t.n > 6 && t.n <= LINE_MAX_HEADER && ascii_ieq(t.p + t.n - 6, " wrote", 6) &&
	    header_prefix(t) && has_digit_or_at(t))
		return true; /* "On <date> <name> <addr> wrote" without the colon */
	if (t.n == 0 || t.n > LINE_MAX_HEADER || !ends_colon(t) || t.p[0] == '>')
		return false;
	if (any_of(t.p, t.n, wrote_words))
		return has_digit_or_at(t) || starts(t.p, t.n, "On ") || starts(t.p, t.n, "Am ") ||
		       starts(t.p, t.n, "Le ") || starts(t.p, t.n, "El ");
	if (starts(t.p, t.n, "On ") && t.n > 6 && ascii_ieq(t.p + t.n - 6, " sent:", 6))
		return has_digit_or_at(t);
	/* Gmail's date-first form "2014-03-20 20:48 GMT+01:00 Name <a@b>:", mail.ru's */
	bool digit = false;
	for (size_t i = 0; i < t.n && !digit; i++)
		digit = t.p[i] >= '0' && t.p[i] <= '9';
	return t.n > 2 && digit && t.p[t.n - 2] == '>' && memchr(t.p, '@', t.n) != NULL;
}

/* How a quote header ends, on its last line: a colon, or "wrote" (quote_header()). */
static bool header_end(struct pline u)
{
	return ends_colon(u) || (u.n >= 5 && ascii_ieq(u.p + u.n - 5, "wrote", 5));
}

/* Lines a quote header at i spans (1 to 3, joined when wrapped), 0 for none. */
static int quote_header(const struct pline *l, size_t n, size_t i, char *scratch)
{
	struct pline t = trim(l[i]);
	if (quote_header_text(t))
		return 1;
	if (t.n == 0 || t.n > LINE_MAX_HEADER || ends_colon(t) || quoted(t))
		return 0;
	/* cheap first: a wrapped header ends with a colon (or "wrote") on one of the next 2 lines
	 */
	bool ends = false;
	for (size_t k = i + 1; k < n && k <= i + 2 && !ends; k++)
		ends = header_end(trim(l[k]));
	if (!ends || !(header_prefix(t) || (has_digit_or_at(t) && !strchr(".!?", t.p[t.n - 1])) ||
	               any_of(t.p, t.n, wrote_words)))
		return 0;
	size_t len = t.n;
	memcpy(scratch, t.p, t.n);
	for (size_t k = i + 1; k < n && k <= i + 2; k++) {
		struct pline u = trim(l[k]);
		/* "<a@b" wrapped before its ">:" looks like a quoted line; it is not */
		bool close = u.n <= 4 && u.p[0] == '>' && ends_colon(u);
		if (u.n == 0 || (quoted(u) && !close) || len + 1 + u.n > 3 * LINE_MAX_HEADER)
			return 0;
		if (!close)
			scratch[len++] = ' ';
		memcpy(scratch + len, u.p, u.n);
		len += u.n;
		struct pline j = {scratch, len};
		if (j.n <= LINE_MAX_HEADER && quote_header_text(j))
			return (int)(k - i + 1);
		if (ends_colon(u))
			return 0;
	}
	return 0;
}

static const char *const forward_words[] = {
    "forwarded message",
    "begin forwarded message",
    "weitergeleitete nachricht",
    "message transf\xc3\xa9r\xc3\xa9",
    "mensaje reenviado",
    "messaggio inoltrato",
    "doorgestuurd bericht",
    "mensagem encaminhada",
    "vidarebefordrat meddelande",
    "przekazana wiadomo",
    "videresendt melding",
    "\xe8\xbb\xa2\xe9\x80\x81\xe3\x81\x95\xe3\x82\x8c\xe3\x81\x9f\xe3\x83\xa1\xe3\x83\x83\xe3\x82"
    "\xbb\xe3\x83\xbc\xe3\x82\xb8", /* 転送されたメッセージ */
    "\xe8\xbd\xac\xe5\x8f\x91\xe7\x9a\x84\xe9\x82\xae\xe4\xbb\xb6", /* 转发的邮件 */
    NULL};

static bool forward_marker(struct pline t)
{
	if (t.n == 0 || t.n > 120)
		return false;
	/* markers are dashed ("---- Forwarded message ----") or end with a colon */
	if (t.p[0] != '-' && t.p[0] != '*' && t.p[0] != '_' && !ends_colon(t))
		return false;
	return any_of(t.p, t.n, forward_words);
}

/* "-----Original Message-----", "-----Ursprüngliche Nachricht-----" ... */
static bool original_message(struct pline t)
{
	if (t.n < 8 || t.n > 120)
		return false;
	if (!(starts(t.p, t.n, "---") || starts(t.p, t.n, "___")) ||
	    !(t.p[t.n - 1] == '-' || t.p[t.n - 1] == '_') || forward_marker(t))
		return false;
	for (size_t i = 0; i < t.n; i++)
		if ((t.p[i] | 0x20) >= 'a' && (t.p[i] | 0x20) <= 'z')
			return true;
	return false;
}

/* A header-field name of Outlook's quote block: word then ':' (bold '*' allowed). */
static bool field_is(struct pline t, const char *const *names)
{
	if (t.n && t.p[0] == '*') {
		t.p++;
		t.n--;
	}
	for (size_t i = 0; names[i]; i++) {
		size_t w = strlen(names[i]);
		if (t.n <= w || !ascii_ieq(t.p, names[i], w))
			continue;
		size_t k = w;
		while (k < t.n && (t.p[k] == ' ' || t.p[k] == '*'))
			k++;
		if (k < t.n &&
		    (t.p[k] == ':' || (t.n - k >= 3 && !memcmp(t.p + k, "\xef\xbc\x9a", 3))))
			return true;
	}
	return false;
}

static const char *const from_names[] = {"From",
                                         "Von",
                                         "De",
                                         "Da",
                                         "Van",
                                         "Fr\xc3\xa5n",
                                         "Fra",
                                         "Od",
                                         "Exp\xc3\xa9"
                                         "diteur",
                                         "Remitente",
                                         "Mittente",
                                         "Afzender",
                                         "Remetente",
                                         "Avs\xc3\xa4ndare",
                                         "Nadawca",
                                         "L\xc3\xa4hett\xc3\xa4j\xc3\xa4",
                                         "\xd0\x9e\xd1\x82",
                                         "\xe5\x8f\x91\xe4\xbb\xb6\xe4\xba\xba",
                                         "\xe5\xaf\x84\xe4\xbb\xb6\xe8\x80\x85",
                                         "\xe5\xb7\xae\xe5\x87\xba\xe4\xba\xba",
                                         NULL};
static const char *const other_names[] = {"\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb"
                                          "\xd0\xb5\xd0\xbd\xd0\xbe", /* Отправлено
                                                                       */
                                          "\xd0\x9a\xd0\xbe\xd0\xbc\xd1\x83", /* Кому */
                                          "\xd0\xa2\xd0\xb5\xd0\xbc\xd0\xb0",
                                          /* Тема */ "Sent",
                                          "Date",
                                          "To",
                                          "Subject",
                                          "Cc",
                                          "Gesendet",
                                          "Datum",
                                          "An",
                                          "Betreff",
                                          "Envoy\xc3\xa9",
                                          "\xc3\x80",
                                          "Objet",
                                          "Enviado",
                                          "Fecha",
                                          "Para",
                                          "Asunto",
                                          "Inviato",
                                          "Data",
                                          "A",
                                          "Oggetto",
                                          "Verzonden",
                                          "Aan",
                                          "Onderwerp",
                                          "Enviada",
                                          "Assunto",
                                          "Skickat",
                                          "Till",
                                          "\xc3\x84mne",
                                          "Wys\xc5\x82"
                                          "ano",
                                          "Do",
                                          "Temat",
                                          "Sendt",
                                          "Til",
                                          "Emne",
                                          "\xe5\x8f\x91\xe9\x80\x81\xe6\x97\xb6\xe9\x97\xb4",
                                          "\xe6\x94\xb6\xe4\xbb\xb6\xe4\xba\xba",
                                          "\xe4\xb8\xbb\xe9\xa2\x98",
                                          "\xe6\x97\xa5\xe6\x9c\x9f",
                                          "\xe9\x80\x81\xe4\xbf\xa1\xe6\x97\xa5\xe6\x99\x82",
                                          "\xe5\xae\x9b\xe5\x85\x88",
                                          "\xe4\xbb\xb6\xe5\x90\x8d",
                                          NULL};

/* Outlook's "From: / Sent: / To: / Subject:" block starting at line i. */
static bool header_block(const struct pline *l, size_t n, size_t i)
{
	static const char *const date_names[] = {"Date",
	                                         "Sent",
	                                         "Datum",
	                                         "Gesendet",
	                                         "Fecha",
	                                         "Data",
	                                         "Envoy\xc3\xa9",
	                                         "Enviado",
	                                         "Inviato",
	                                         "Verzonden",
	                                         "Skickat",
	                                         "Wys\xc5\x82"
	                                         "ano",
	                                         NULL};
	struct pline t = trim(l[i]);
	size_t head = t.n < 40 ? t.n : 40; /* a field name and its colon come first */
	if (!memchr(t.p, ':', head) &&
	    (!memchr(t.p, 0xef, head) || !memmem(t.p, head, "\xef\xbc\x9a", 3)))
		return false;
	bool from = field_is(t, from_names);
	if (!from && !field_is(t, date_names))
		return false;
	/* From: then Sent:/To:/Subject: within a few lines; Date: then From:/To: next. */
	for (size_t k = i + 1; k < n && k <= i + (from ? HEADER_BLOCK : 2); k++) {
		struct pline u = trim(l[k]);
		if (field_is(u, other_names) || field_is(u, from_names))
			return true;
	}
	return false;
}

/* The first letters of the trailer phrases below, either case: S E V G I W D. */
static bool trailer_initial(unsigned char c)
{
	switch (c | 0x20) {
	case 's':
	case 'e':
	case 'v':
	case 'g':
	case 'i':
	case 'w':
	case 'd':
		return true;
	default:
		return false;
	}
}

/* "Sent from my iPhone" and the like, as the last line of the text. */
static bool trailer(struct pline t)
{
	static const struct phrase w[] = {
	    PHRASE("Sent from my "),
	    PHRASE("Sent from "),
	    PHRASE("Gesendet von "),
	    PHRASE("Envoy\xc3\xa9 \xc3\xa0 partir de "),
	    PHRASE("Enviado desde "),
	    PHRASE("Envoy\xc3\xa9 de mon "),
	    PHRASE("Envoy\xc3\xa9 depuis mon "),
	    PHRASE("Von meinem "),
	    PHRASE("Gesendet von meinem "),
	    PHRASE("Enviado desde mi "),
	    PHRASE("Enviado do meu "),
	    PHRASE("Enviado de meu "),
	    PHRASE("Inviato da "),
	    PHRASE("Verzonden vanaf mijn "),
	    PHRASE("Verstuurd vanaf mijn "),
	    PHRASE("Skickat fr\xc3\xa5n min "),
	    PHRASE("Wys\xc5\x82"
	           "ane z "),
	    PHRASE("Get Outlook for "),
	    PHRASE("Sendt fra min "),
	    PHRASE("Sent wirelessly from my "),
	    PHRASE("Envoy\xc3\xa9 sans fil par mon "),
	    PHRASE("Diese Nachricht wurde von meinem "),
	};
	if (t.n == 0 || t.n > 100 || !trailer_initial((unsigned char)t.p[0]) ||
	    memchr(t.p, ',', t.n)) {
		/* 从我的iPhone发送, iPhoneから送信: non-ASCII, no comma */
		return t.n && t.n <= 100 && (unsigned char)t.p[t.n - 1] >= 0x80 &&
		       (has(t.p, t.n, "\xe4\xbb\x8e\xe6\x88\x91\xe7\x9a\x84") ||
		        has(t.p, t.n, "\xe3\x81\x8b\xe3\x82\x89\xe9\x80\x81\xe4\xbf\xa1"));
	}
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if ((t.p[0] | 0x20) == (w[i].s[0] | 0x20) && starts_n(t.p, t.n, w[i].s, w[i].n))
			return true;
	/* 从我的iPhone发送, iPhoneから送信 */
	return has(t.p, t.n, "\xe4\xbb\x8e\xe6\x88\x91\xe7\x9a\x84") ||
	       has(t.p, t.n, "\xe3\x81\x8b\xe3\x82\x89\xe9\x80\x81\xe4\xbf\xa1");
}

static bool sig_delim(struct pline l)
{
	/* RFC 3676 section 4.3: "-- "; many clients drop the space. */
	size_t n = l.n;
	if (n && l.p[n - 1] == '\r')
		n--;
	return (n == 3 && !memcmp(l.p, "-- ", 3)) || (n == 2 && !memcmp(l.p, "--", 2)) ||
	       (n == 3 && !memcmp(l.p, "---", 3));
}

static int add_line(struct pbuf *b, struct pline l)
{
	if (pbuf_add(b, l.p, l.n) < 0 || pbuf_add(b, "\n", 1) < 0)
		return -1;
	return 0;
}

/* Kept lines that follow each other in the input, copied in one go. */
struct run {
	const char *p;
	size_t n;
};

static int run_flush(struct pbuf *b, struct run *r)
{
	int rc = r->n ? pbuf_add(b, r->p, r->n) : 0;
	r->n = 0;
	return rc;
}

static int run_add(struct pbuf *b, struct run *r, struct pline l, const char *end)
{
	bool nl = l.p + l.n < end; /* the line's '\n' is in the input */
	if (r->n && r->p + r->n == l.p && nl) {
		r->n += l.n + 1;
		return 0;
	}
	if (run_flush(b, r) < 0)
		return -1;
	if (!nl)
		return add_line(b, l);
	r->p = l.p;
	r->n = l.n + 1;
	return 0;
}

static void rtrim_view(struct pline *v)
{
	while (v->n && (v->p[v->n - 1] == '\n' || v->p[v->n - 1] == ' ' || v->p[v->n - 1] == '\t' ||
	                v->p[v->n - 1] == '\r'))
		v->n--;
}

static void rtrim_buf(struct pbuf *b)
{
	while (b->len && (b->p[b->len - 1] == '\n' || b->p[b->len - 1] == ' ' ||
	                  b->p[b->len - 1] == '\t' || b->p[b->len - 1] == '\r'))
		b->len--;
}

static size_t split_lines(const char *s, size_t len, struct pline *l, size_t max)
{
	size_t n = 0, i = 0;
	while (i < len && n < max) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - s) : len;
		l[n].p = s + i;
		l[n].n = e - i;
		n++;
		i = e + 1;
	}
	return n;
}

/* "-Abhishek Kona", "- roman": a short dash-led name closing the text. */
static bool dash_name(struct pline t)
{
	if (t.n < 2 || t.n > 30 || t.p[0] != '-' || (t.n >= 2 && t.p[1] == '-'))
		return false;
	size_t i = 1;
	while (i < t.n && t.p[i] == ' ')
		i++;
	if (i >= t.n ||
	    !(((t.p[i] | 0x20) >= 'a' && (t.p[i] | 0x20) <= 'z') || (unsigned char)t.p[i] >= 0x80))
		return false;
	for (; i < t.n; i++)
		if (t.p[i] == ':' || t.p[i] == '-' || t.p[i] == '>' || t.p[i] == '/')
			return false;
	return true;
}

/* Moves a trailing signature of out->text (delimiter line included) into out->sig. */
static int split_signature(struct preply *out)
{
	struct pline *t = &out->text;
	size_t end = t->n, k = 0, nonblank = 0, at = SIZE_MAX;
	bool trailing = true; /* still in the run of trailer/blank lines at the end */

	/* Walk back over at most SIG_MAX_LINES lines looking for the delimiter. */
	while (end > 0 && k < SIG_MAX_LINES + 1) {
		const char *nl = memrchr(t->p, '\n', end);
		size_t b = nl ? (size_t)(nl - t->p) + 1 : 0;
		struct pline l = {t->p + b, end - b};
		struct pline tl = trim(l);
		if (b == 0)
			break; /* a signature never starts the text */
		if (tl.n)
			nonblank++;
		if (trailing && tl.n && trailer(tl)) {
			at = b;
			out->sig_is_trailer = true;
		} else if (tl.n) {
			trailing = false;
		}
		if (sig_delim(l) || (nonblank <= 3 && l.n && l.p[0] == '-' && dash_name(tl))) {
			at = b;
			out->sig_is_trailer = false;
			break;
		}
		k++;
		end = b - 1;
	}
	if (at == SIZE_MAX)
		return 0;
	if (pbuf_add(&out->sig, t->p + at, t->n - at) < 0)
		return -1;
	out->has_sig = true;
	rtrim_buf(&out->sig);
	t->n = at;
	rtrim_view(t);
	return 0;
}

/* Drops trailing blank lines and a separator line ("-----", "_____") left above a cut. */
static void drop_separator(struct pline *v)
{
	rtrim_view(v);
	const char *nl = memrchr(v->p, '\n', v->n);
	size_t e = v->n, s = nl ? (size_t)(nl - v->p) + 1 : 0;
	size_t marks = 0;
	for (size_t i = s; i < e; i++) {
		char ch = v->p[i];
		if (ch == '-' || ch == '_' || ch == '=' || ch == '*')
			marks++;
		else if (ch != ' ' && ch != '\t')
			return;
	}
	if (marks >= 3) {
		v->n = s;
		rtrim_view(v);
	}
}

/* Skips blank lines from i. */
static size_t skip_blank(const struct pline *l, size_t n, size_t i)
{
	while (i < n && blank(l[i]))
		i++;
	return i;
}

/* The state of the walk down the lines that cuts the quoted history out. */
struct cut {
	struct preply *out;
	struct pline *l; /* the body's lines */
	size_t n;
	const char *end; /* the end of the body, to tell a last line without '\n' */
	struct run run;  /* kept lines not yet copied to out->buf */
	bool forward;    /* a forwarded message: kept whole */
	bool after_quote;
	char scratch[3 * LINE_MAX_HEADER + 4]; /* quote_header()'s joined lines */
};

/* What the walk does after a line. */
enum step {
	STEP_ON,   /* go on at the index the step left */
	STEP_STOP, /* the rest is history (or kept whole) */
	STEP_OOM,
};

/* The first boundary found names the method; any later one only confirms the cut. */
static void mark_quoted(struct preply *out, const char *method)
{
	if (!out->quoted)
		out->method = method;
	out->quoted = 1;
}

/* The lines of s, calloc'ed (*n of them), or NULL. */
static struct pline *body_lines(const char *s, size_t len, size_t *n)
{
	size_t cap = 0;
	for (const char *q = s, *e = s + len; (q = memchr(q, '\n', (size_t)(e - q))); q++)
		cap++;
	struct pline *l = calloc(cap + 1, sizeof(*l));
	if (l)
		*n = split_lines(s, len, l, cap + 1);
	return l;
}

/* A forward marker: a forward is not a reply, keep it and everything after it. */
static enum step keep_forward(struct cut *c, size_t i)
{
	c->forward = true;
	for (; i < c->n; i++)
		if (run_add(&c->out->buf, &c->run, c->l[i], c->end) < 0)
			return STEP_OOM;
	return STEP_STOP;
}

/* A quote header of h lines at *i. */
static enum step at_quote_header(struct cut *c, size_t *i, int h)
{
	mark_quoted(c->out, "quote-header");
	size_t k = skip_blank(c->l, c->n, *i + (size_t)h);
	if (k >= c->n || !quoted(c->l[k]))
		return STEP_STOP; /* unmarked quote: everything below is history */
	*i = k; /* header over a '>' block: drop both, inline replies may follow */
	c->after_quote = true;
	return STEP_ON;
}

/* "Sent from my iPhone" then more text: mobile clients put the quote below it. */
static bool trailer_above_quote(const struct pline *l, size_t n, size_t i)
{
	size_t next;
	return i > 0 && trailer(trim(l[i])) && (next = skip_blank(l, n, i + 1)) < n &&
	       !trailer(trim(l[next]));
}

/* The end of the '>' block at i, with the lines a client's wrapping left unmarked inside it. */
static size_t quote_block_end(const struct pline *l, size_t n, size_t i)
{
	while (i < n && (quoted(l[i]) ||
	                 (!blank(l[i]) && i + 1 < n && quoted(l[i + 1]) && quoted(l[i - 1]))))
		i++;
	return i;
}

/* Text the sender wrote: kept, with one empty line where a quote was cut out between paragraphs. */
static enum step keep_line(struct cut *c, size_t *i)
{
	struct pbuf *t = &c->out->buf;
	if (c->after_quote && run_flush(t, &c->run) < 0)
		return STEP_OOM;
	if (c->after_quote && blank(c->l[*i]) &&
	    (t->len == 0 ||
	     (t->len >= 2 && t->p[t->len - 1] == '\n' && t->p[t->len - 2] == '\n'))) {
		(*i)++;
		return STEP_ON;
	}
	c->after_quote = false;
	if (run_add(t, &c->run, c->l[*i], c->end) < 0)
		return STEP_OOM;
	(*i)++;
	return STEP_ON;
}

/*
 * A line none of cut_line()'s tests can fire on, kept without running them (every_test: run
 * them): no quote mark or marker ('>', '-', '*', '_'), no field name (':' or the full-width
 * colon's 0xef in 40 bytes: header_block()), no trailer, and neither it nor the next two lines
 * (all quote_header() reads) end as a quote header does. Most lines of a reply are such prose.
 */
static bool prose(const struct cut *c, size_t i)
{
	struct pline t = trim(c->l[i]);
	if (c->out->every_test || t.n == 0 || memchr(">-*_", t.p[0], 4))
		return false;
	size_t head = t.n < 40 ? t.n : 40;
	if (memchr(t.p, ':', head) || memchr(t.p, 0xef, head) || header_end(t))
		return false;
	for (size_t k = i + 1; k < c->n && k <= i + 2; k++)
		if (header_end(trim(c->l[k])))
			return false;
	return !trailer(t);
}

/* Looks at line *i and moves *i past what it decided about. */
static enum step cut_line(struct cut *c, size_t *i)
{
	if (prose(c, *i))
		return keep_line(c, i);
	struct pline t = trim(c->l[*i]);
	int h;
	if (!c->out->quoted && forward_marker(t))
		return keep_forward(c, *i);
	if ((h = quote_header(c->l, c->n, *i, c->scratch)) > 0)
		return at_quote_header(c, i, h);
	if (original_message(t) || header_block(c->l, c->n, *i)) {
		mark_quoted(c->out, original_message(t) ? "original-message" : "header-block");
		return STEP_STOP;
	}
	if (trailer_above_quote(c->l, c->n, *i)) {
		if (run_add(&c->out->buf, &c->run, c->l[*i], c->end) < 0)
			return STEP_OOM;
		mark_quoted(c->out, "signature-trailer");
		return STEP_STOP;
	}
	if (quoted(c->l[*i])) {
		*i = quote_block_end(c->l, c->n, *i);
		c->after_quote = true;
		mark_quoted(c->out, "quote-marks");
		return STEP_ON;
	}
	return keep_line(c, i);
}

/*
 * Walks the lines, keeping what the sender wrote in out->text; 0 or -1 (out
 * of memory). Kept lines that follow each other in the input are one run:
 * when the whole reply is one run (nothing was cut out between, the usual
 * case) out->text is that slice of the input and nothing is copied.
 */
static int cut_quotes(struct cut *c)
{
	for (size_t i = 0; i < c->n;) {
		enum step st = cut_line(c, &i);
		if (st == STEP_OOM)
			return -1;
		if (st == STEP_STOP)
			break;
	}
	struct preply *out = c->out;
	if (out->buf.len == 0) {
		out->text = (struct pline){c->run.n ? c->run.p : "", c->run.n};
		return 0;
	}
	if (run_flush(&out->buf, &c->run) < 0)
		return -1;
	out->text = (struct pline){out->buf.p, out->buf.len};
	return 0;
}

/* Leading blank lines (top of a bottom-posted reply) are not content. */
static void drop_leading_blank(struct pline *v)
{
	size_t lead = 0;
	while (lead < v->n && (v->p[lead] == '\n' || v->p[lead] == ' '))
		lead++;
	while (lead && v->p[lead - 1] == ' ')
		lead--; /* the indent of the first line is content */
	v->p += lead;
	v->n -= lead;
}

/* Nothing but quotes: the cut is wrong or the reply is the quote; keep all. */
static void keep_all(struct preply *out, const char *s, size_t len)
{
	out->text = (struct pline){s, len};
	rtrim_view(&out->text);
	out->quoted = 0;
	out->method = "none";
}

int preply_extract(const char *s, size_t len, size_t max_scan, struct preply *out)
{
	struct cut c = {.out = out, .end = s + len};
	int rc = -1;

	out->method = "none";
	out->quoted = 0;
	if (len > max_scan) {
		out->method = "scan_limit";
		out->quoted = -1;
		return 0;
	}
	c.l = body_lines(s, len, &c.n);
	if (!c.l)
		return -1;
	out->buf.max = len + 2;
	out->sig.max = len + 2;
	if (cut_quotes(&c) < 0)
		goto out;
	drop_separator(&out->text);
	drop_leading_blank(&out->text);
	if (out->text.n == 0 && out->quoted > 0)
		keep_all(out, s, len);
	if (c.forward)
		out->method = "forward";
	else if (split_signature(out) < 0)
		goto out;
	if (out->has_sig && !out->quoted)
		out->method = out->sig_is_trailer ? "signature-trailer" : "signature-delimiter";
	rc = 0;
out:
	free(c.l);
	return rc;
}

void preply_free(struct preply *r)
{
	pbuf_free(&r->buf);
	pbuf_free(&r->sig);
	r->text = (struct pline){"", 0};
}

/*
 * In payload_write() mode a long reply text is escaped at dump time like the
 * bodies (payload_body.c body_json()): the fast escaper, and no copy. A
 * slice of the body text s is borrowed from it (the body's deferred value
 * owns the bytes and outlives the dump); joined lines are handed over.
 */
static json_t *text_json(struct pctx *c, struct preply *r, const char *s)
{
	struct pline t = r->text;
	if (!c->defer_text || t.n < 64)
		return json_stringn_nocheck(t.p ? t.p : "", t.n);
	json_t *j = pctx_placeholder();
	if (!j)
		return NULL;
	bool in_buf = r->buf.p && t.p >= r->buf.p && t.p < r->buf.p + r->buf.len;
	int rc;
	if (in_buf) {
		memmove(r->buf.p, t.p, t.n);
		rc = pctx_defer_text(c, j, r->buf.p, t.n);
		r->buf.p = NULL; /* owned by the deferred list now (freed by it on failure) */
		r->buf.len = r->buf.cap = 0;
	} else {
		rc = pctx_defer_slice(c, j, t.p, t.n);
		c->lent = s;
	}
	r->text = (struct pline){"", 0};
	if (rc < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

size_t preply_html_len(const struct phtml_text *h, bool *cut)
{
	*cut = false;
	if (h->quote_at == SIZE_MAX)
		return h->text.len;
	/* Gmail marks a forward with gmail_quote too: a forward is not a reply. */
	size_t i = h->quote_at;
	while (i < h->text.len && (h->text.p[i] == '\n' || h->text.p[i] == ' '))
		i++;
	/* nothing after the mark (the text may be empty, its pointer NULL): an empty line */
	const char *rest = i < h->text.len ? h->text.p + i : "";
	size_t left = i < h->text.len ? h->text.len - i : 0;
	const char *nl = left ? memchr(rest, '\n', left) : NULL;
	struct pline l = {rest, nl ? (size_t)(nl - rest) : left};
	if (forward_marker(trim(l)))
		return h->text.len;
	*cut = true;
	return h->quote_at;
}

void preply_html_adjust(struct preply *r, bool cut, bool saw_blockquote)
{
	if (r->quoted < 0)
		return;
	if (cut || (saw_blockquote && r->quoted > 0 && !strcmp(r->method, "quote-marks"))) {
		r->quoted = 1;
		r->method = "html-blockquote";
	}
}

json_t *preply_json(struct pctx *c, const char *s, size_t len, const struct phtml_text *h)
{
	static const char *const keys[] = {"text", "signature", "quoted", "method"};
	struct preply r = {0};
	json_t *o = NULL;
	size_t max = c->opt->max_reply_scan ? c->opt->max_reply_scan : DEFAULT_MAX_REPLY_SCAN;
	bool cut = false;

	if (h) {
		s = h->text.p ? h->text.p : "";
		len = preply_html_len(h, &cut);
	}
	if (preply_extract(s, len, max, &r) < 0)
		goto out;
	if (r.quoted < 0)
		pctx_warn(
		    c, "reply_scan_limit",
		    "body text over limits.max_reply_scan (%zu bytes): message.reply not computed",
		    max);
	if (h)
		preply_html_adjust(&r, cut, h->saw_blockquote);
	json_t *v[] = {
	    r.quoted < 0 ? json_null() : text_json(c, &r, s),
	    r.has_sig ? json_stringn_nocheck(r.sig.p ? r.sig.p : "", r.sig.len) : json_null(),
	    r.quoted < 0 ? json_null() : json_boolean(r.quoted > 0), json_string_nocheck(r.method)};
	o = json_object_of(keys, v, sizeof(v) / sizeof(v[0]));
out:
	preply_free(&r);
	if (!o)
		c->oom = 1;
	return o;
}

int preply_message(struct pctx *c, GMimeMessage *m, struct pbuf *text, bool *has_text,
                   const struct pbuf *html, bool has_html, json_t *out)
{
	json_t *reply = json_null();
	bool from_html = false;

	if (!*has_text && has_html) {
		struct phtml_text h;
		memset(&h, 0, sizeof(h));
		if (phtml_to_text(html->p ? html->p : "", html->len, true, &h) < 0) {
			pbuf_free(&h.text);
			return -1;
		}
		json_decref(reply);
		reply = c->skip & PSKIP_REPLY ? json_null() : preply_json(c, NULL, 0, &h);
		pbuf_free(text);
		*text = h.text;
		text->max = text->len + 1;
		*has_text = from_html = true;
	} else if (*has_text && !(c->skip & PSKIP_REPLY)) {
		json_decref(reply);
		reply = preply_json(c, text->p ? text->p : "", text->len, NULL);
	}
	if (!reply || json_object_set_new_nocheck(out, "reply", reply) < 0 ||
	    json_object_set_new_nocheck(out, "text_from_html", json_boolean(from_html)) < 0)
		return -1;
	if (c->skip & PSKIP_CLASSIFY)
		return json_object_set_new_nocheck(out, "classification", json_null()) < 0 ||
		               json_object_set_new_nocheck(out, "bounce", json_null()) < 0
		           ? -1
		           : 0;
	return pclassify_message(c, m, *has_text && text->p ? text->p : NULL,
	                         *has_text ? text->len : 0, out);
}
