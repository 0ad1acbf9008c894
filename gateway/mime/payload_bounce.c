/*
 * payload_bounce.c: message.bounce, the failed (or delayed, relayed,
 * delivered) recipients of a delivery status notification, each with
 * action, status, diagnostic code and remote MTA, and the Message-ID of the
 * message that bounced, so a help desk finds the ticket it belongs to.
 *
 * Reads RFC 3464 message/delivery-status parts (per-message and
 * per-recipient field groups, section 2.2 and 2.3), the returned message or
 * its header (message/rfc822, text/rfc822-headers, RFC 6522), and, when the
 * MTA wrote no RFC 3464 part (qmail, old Exim, Sendmail, provider formats),
 * the human-readable text: addresses near a status code or SMTP reply.
 *
 * Must never: read more than BOUNCE_MAX_SCAN bytes of any part, list more
 * than BOUNCE_MAX_RCPTS recipients, or report a recipient it did not find
 * in the message.
 */
#include <stdbool.h>
#include <string.h>

#include "payload_int.h"

#define BOUNCE_MAX_SCAN  (256 * 1024) /* bytes of a report or text part read */
#define BOUNCE_MAX_RCPTS 100
#define FIELD_MAX        998 /* RFC 5322 line length: longer values are cut */

static size_t status_at(const char *p, size_t n, size_t *len);

struct bnc {
	struct pctx *c;
	json_t *rcpts;
	char *orig_id; /* g_malloc'd */
	const char *self_to, *self_from;
};

static int sink(void *arg, const char *p, size_t n)
{
	struct pbuf *b = arg;
	if (b->len + n > b->max)
		n = b->max - b->len;
	return n ? pbuf_add(b, p, n) : 0;
}

static void part_bytes(GMimeObject *o, struct pbuf *b)
{
	b->max = BOUNCE_MAX_SCAN;
	if (GMIME_IS_PART(o))
		pmime_decode(g_mime_part_get_content(GMIME_PART(o)), sink, b);
}

/* One unfolded field value of a block of fields (RFC 3464 is RFC 822 syntax). */
static char *field(const char *p, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n;) {
		const char *e = memchr(p + i, '\n', n - i);
		size_t end = e ? (size_t)(e - p) : n;
		if (end - i > nl && !g_ascii_strncasecmp(p + i, name, nl) && p[i + nl] == ':') {
			GString *v = g_string_new(NULL);
			size_t k = i + nl + 1;
			for (;;) {
				while (k < end && (p[k] == ' ' || p[k] == '\t'))
					k++;
				size_t vend = end;
				while (vend > k && (p[vend - 1] == '\r' || p[vend - 1] == ' '))
					vend--;
				if (v->len && vend > k)
					g_string_append_c(v, ' ');
				if (v->len + (vend - k) < FIELD_MAX)
					g_string_append_len(v, p + k, (gssize)(vend - k));
				if (end + 1 >= n || (p[end + 1] != ' ' && p[end + 1] != '\t'))
					break;
				k = end + 1;
				e = memchr(p + k, '\n', n - k);
				end = e ? (size_t)(e - p) : n;
			}
			return g_string_free(v, FALSE);
		}
		i = end + 1;
	}
	return NULL;
}

/* "rfc822; a@b" -> "a@b" (RFC 3464 section 2.3.2 address-type). */
static const char *typed(const char *v)
{
	const char *semi = v ? strchr(v, ';') : NULL;
	if (!semi)
		return v;
	semi++;
	while (*semi == ' ')
		semi++;
	return semi;
}

static json_t *str_or_null(struct pctx *c, const char *s)
{
	return s && *s ? ptext_json0(c, s, "bounce") : json_null();
}

static void strip_angle(char *a)
{
	size_t n = strlen(a);
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		memmove(a, a + 1, n - 2);
		a[n - 2] = 0;
	}
}

static void add_rcpt(struct bnc *b, const char *addr, const char *action, const char *status,
                     const char *diag, const char *mta)
{
	if (json_array_size(b->rcpts) >= BOUNCE_MAX_RCPTS)
		return;
	char *a = g_strdup(addr);
	g_strstrip(a);
	strip_angle(a);
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "recipient", str_or_null(b->c, a),
	                      "action", str_or_null(b->c, action), "status",
	                      str_or_null(b->c, status), "diagnostic_code", str_or_null(b->c, diag),
	                      "remote_mta", str_or_null(b->c, typed(mta)));
	g_free(a);
	if (!o || json_array_append_new(b->rcpts, o) < 0)
		b->c->oom = 1;
}

/*
 * The status code of a Status field without its comment ("5.0.0 (permanent
 * failure)"); when it says only X.0.0, the more precise code of the same
 * class the remote server gave in the diagnostic text, as a reader would.
 * Points into a thread-local buffer: used before the next call.
 */
static const char *better_status(const char *status, const char *diag)
{
	static __thread char buf[16];
	size_t sl = 0, so = status ? status_at(status, strlen(status), &sl) : 0;
	size_t dl = 0, d = diag ? status_at(diag, strlen(diag), &dl) : 0;
	const char *s = so ? status + so - 1 : NULL;
	if (s && d && sl == 5 && !memcmp(s + 1, ".0.0", 4) && diag[d - 1] == s[0]) {
		s = diag + d - 1;
		sl = dl;
	} else if (!s && d) {
		s = diag + d - 1;
		sl = dl;
	}
	if (!s || sl >= sizeof(buf))
		return NULL;
	memcpy(buf, s, sl);
	buf[sl] = 0;
	return buf;
}

/* RFC 3464 section 2.1: a per-message group, then per-recipient groups. */
static void delivery_status(struct bnc *b, const char *p, size_t n)
{
	size_t i = 0;
	bool first = true;
	while (i < n) {
		/* one group: up to an empty line */
		size_t j = i;
		for (;;) {
			const char *e = memchr(p + j, '\n', n - j);
			size_t end = e ? (size_t)(e - p) : n;
			bool empty = end == j || (end == j + 1 && p[j] == '\r');
			if (empty || !e) {
				j = empty ? j : n;
				break;
			}
			j = end + 1;
		}
		const char *g = p + i;
		size_t gl = j - i;
		char *fr = field(g, gl, "Final-Recipient");
		if (!fr)
			fr = field(g, gl, "Original-Recipient");
		if (fr && !first) {
			char *action = field(g, gl, "Action"), *status = field(g, gl, "Status");
			char *diag = field(g, gl, "Diagnostic-Code"),
			     *mta = field(g, gl, "Remote-MTA");
			add_rcpt(b, typed(fr), action, better_status(status, diag), typed(diag),
			         mta);
			g_free(action);
			g_free(status);
			g_free(diag);
			g_free(mta);
		} else if (fr && first) {
			/* no per-message group: this is already a recipient; read it again as one
			 */
			g_free(fr);
			first = false;
			continue;
		}
		g_free(fr);
		first = false;
		i = j;
		while (i < n && (p[i] == '\n' || p[i] == '\r'))
			i++;
	}
}

static void headers_id(struct bnc *b, const char *p, size_t n)
{
	if (b->orig_id)
		return;
	char *v = field(p, n, "Message-ID");
	if (v) {
		g_strstrip(v);
		strip_angle(v);
		b->orig_id = v;
	}
}

static void walk(struct bnc *b, GMimeObject *o, int depth)
{
	if (!o || depth > 4)
		return;
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (GMIME_IS_MULTIPART(o)) {
		int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
		for (int i = 0; i < n && i < 16; i++)
			walk(b, g_mime_multipart_get_part(GMIME_MULTIPART(o), i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		const char *id = m ? g_mime_message_get_message_id(m) : NULL;
		if (id && !b->orig_id)
			b->orig_id = g_strdup(id);
		return;
	}
	if (!ct)
		return;
	struct pbuf buf = {0};
	if (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
	    g_mime_content_type_is_type(ct, "message", "global-delivery-status")) {
		part_bytes(o, &buf);
		delivery_status(b, buf.p ? buf.p : "", buf.len);
	} else if (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
	           g_mime_content_type_is_type(ct, "message", "rfc822-headers")) {
		part_bytes(o, &buf);
		headers_id(b, buf.p ? buf.p : "", buf.len);
	}
	pbuf_free(&buf);
}

/* An addr-spec at p (no display name): returns its length, 0 if none. */
static size_t addr_at(const char *p, size_t n)
{
	size_t i = 0, at = 0;
	while (i < n && (g_ascii_isalnum(p[i]) || strchr(".!#$%&'*+/=?^_`{|}~-", p[i])))
		i++;
	if (i == 0 || i >= n || p[i] != '@')
		return 0;
	at = i++;
	size_t dots = 0;
	while (i < n && (g_ascii_isalnum(p[i]) || p[i] == '-' || p[i] == '.')) {
		dots += p[i] == '.';
		i++;
	}
	while (i > at + 1 && p[i - 1] == '.') {
		i--;
		dots--;
	}
	return dots && i > at + 2 ? i : 0;
}

/* An RFC 3463 status "d.ddd.ddd" in p, or 0. */
static size_t status_at(const char *p, size_t n, size_t *len)
{
	for (size_t i = 0; i + 5 <= n; i++) {
		if ((p[i] != '2' && p[i] != '4' && p[i] != '5') || p[i + 1] != '.' ||
		    (i > 0 && (g_ascii_isdigit(p[i - 1]) || p[i - 1] == '.')))
			continue;
		size_t k = i + 2, d1 = 0, d2 = 0;
		while (k < n && g_ascii_isdigit(p[k]) && d1 < 3) {
			k++;
			d1++;
		}
		if (!d1 || k >= n || p[k] != '.')
			continue;
		k++;
		while (k < n && g_ascii_isdigit(p[k]) && d2 < 3) {
			k++;
			d2++;
		}
		if (!d2 || (k < n && (g_ascii_isdigit(p[k]) ||
		                      (p[k] == '.' && k + 1 < n && g_ascii_isdigit(p[k + 1])))))
			continue;
		*len = k - i;
		return i + 1;
	}
	return 0;
}

static bool known(struct bnc *b, const char *a, size_t n)
{
	json_t *r;
	size_t i;
	json_array_foreach(b->rcpts, i, r)
	{
		const char *s = json_string_value(json_object_get(r, "recipient"));
		if (s && strlen(s) == n && !g_ascii_strncasecmp(s, a, n))
			return true;
	}
	return false;
}

/* Is the address one of the bounce's own header addresses (the original sender)? */
static bool self(struct bnc *b, const char *a, size_t n)
{
	const char *h[] = {b->self_to, b->self_from};
	for (int k = 0; k < 2; k++) {
		const char *s = h[k];
		size_t len = s ? strlen(s) : 0; /* once: the scan stays linear in the field */
		for (size_t i = 0; n && i + n <= len; i++)
			if ((s[i] | 0x20) == (a[0] | 0x20) && !g_ascii_strncasecmp(s + i, a, n) &&
			    (i == 0 || !g_ascii_isalnum(s[i - 1])) && !g_ascii_isalnum(s[i + n]) &&
			    s[i + n] != '.')
				return true;
	}
	return false;
}

/* Stops the text scan where the returned message starts. */
static bool returned_message_starts(const char *p, size_t n)
{
	static const char *const w[] = {"Received:",
	                                "Return-Path:",
	                                "------ This is a copy",
	                                "--- Below this line is a copy",
	                                "Original message follows",
	                                "----- Original message -----",
	                                NULL};
	for (int i = 0; w[i]; i++)
		if (n >= strlen(w[i]) && !g_ascii_strncasecmp(p, w[i], strlen(w[i])))
			return true;
	return false;
}

/* Non-RFC 3464 bounces: an address at the start of a line (or in <>), a status near it. */
static void text_bounce(struct bnc *b, const char *p, size_t n)
{
	if (n > BOUNCE_MAX_SCAN)
		n = BOUNCE_MAX_SCAN;
	size_t i = 0;
	while (i < n && json_array_size(b->rcpts) < BOUNCE_MAX_RCPTS) {
		const char *e = memchr(p + i, '\n', n - i);
		size_t end = e ? (size_t)(e - p) : n;
		const char *l = p + i;
		size_t ln = end - i, k = 0;
		while (k < ln && (l[k] == ' ' || l[k] == '\t' || l[k] == '<' || l[k] == '"'))
			k++;
		if (returned_message_starts(l + k, ln - k) && json_array_size(b->rcpts))
			break;
		size_t al = addr_at(l + k, ln - k);
		if (!al) { /* "... to <a@b>:" / "RCPT TO:<a@b>" */
			const char *lt = memchr(l, '<', ln);
			if (lt) {
				k = (size_t)(lt - l) + 1;
				al = addr_at(l + k, ln - k);
				if (al && (k + al >= ln || l[k + al] != '>'))
					al = 0;
			}
		}
		if (al && !self(b, l + k, al) && !known(b, l + k, al)) {
			/* a status within this line and the next few */
			size_t win_end = end, lines = 0;
			while (win_end < n && lines < 6) {
				const char *e2 = memchr(p + win_end + 1, '\n', n - win_end - 1);
				win_end = e2 ? (size_t)(e2 - p) : n;
				lines++;
			}
			size_t sl = 0, so = status_at(p + i, win_end - i, &sl);
			char *addr = g_strndup(l + k, al);
			char *st = so ? g_strndup(p + i + so - 1, sl) : NULL;
			char *diag = NULL;
			if (so) {
				const char *ls = p + i + so - 1;
				while (ls > p && ls[-1] != '\n')
					ls--;
				const char *le = memchr(ls, '\n', (size_t)(p + n - ls));
				diag = g_strndup(ls, (size_t)((le ? le : p + n) - ls));
				g_strstrip(diag);
			}
			if (so || json_array_size(b->rcpts) == 0)
				add_rcpt(b, addr, "failed", st, diag, NULL);
			g_free(addr);
			g_free(st);
			g_free(diag);
		}
		i = end + 1;
	}
}

json_t *pbounce_json(struct pctx *c, GMimeMessage *m, const char *text, size_t text_len)
{
	struct bnc b = {.c = c, .rcpts = json_array()};
	if (!b.rcpts || !m)
		return b.rcpts ? (json_decref(b.rcpts), json_null()) : NULL;
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	const char *hidden_to = pscan_hidden_value(c, m, "To"),
	           *hidden_from = pscan_hidden_value(c, m, "From");
	GMimeHeader *h = hl && !hidden_to ? g_mime_header_list_get_header(hl, "To") : NULL;
	b.self_to = hidden_to ? hidden_to : h ? g_mime_header_get_value(h) : NULL;
	h = hl && !hidden_from ? g_mime_header_list_get_header(hl, "From") : NULL;
	b.self_from = hidden_from ? hidden_from : h ? g_mime_header_get_value(h) : NULL;
	walk(&b, g_mime_message_get_mime_part(m), 0);
	bool from_text = false;
	if (json_array_size(b.rcpts) == 0 && text) {
		text_bounce(&b, text, text_len);
		from_text = json_array_size(b.rcpts) > 0;
		/* the returned message's id, when its header was pasted into the text */
		if (!b.orig_id) {
			const char *mid = g_strstr_len(text, (gssize)MIN(text_len, BOUNCE_MAX_SCAN),
			                               "\nMessage-ID:");
			if (!mid)
				mid = g_strstr_len(text, (gssize)MIN(text_len, BOUNCE_MAX_SCAN),
				                   "\nMessage-Id:");
			if (mid)
				headers_id(
				    &b, mid + 1,
				    (size_t)(text + MIN(text_len, BOUNCE_MAX_SCAN) - mid - 1));
		}
	}
	static const char *const keys[] = {"recipients", "original_message_id", "source"};
	const char *source = from_text ? "text" : json_array_size(b.rcpts) ? "rfc3464" : "none";
	json_t *v[] = {b.rcpts, str_or_null(c, b.orig_id), json_string(source)};
	json_t *o = json_object_of(keys, v, 3);
	g_free(b.orig_id);
	return o;
}
