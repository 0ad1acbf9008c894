/*
 * payload_headers.c: the message's header fields in the payload.
 *
 * Owns: message.headers (every field in order, unfolded per RFC 5322
 * section 2.2.3, RFC 2047 encoded-words decoded, with "raw" when decoding
 * changed the text), the address fields (RFC 5322 section 3.4, groups
 * flattened with a "group" name), message_id, in_reply_to and references
 * (section 3.6.4), date (section 3.3, normalised to RFC 3339 UTC) and
 * subject.
 *
 * Must never: emit more than max_header_count fields (the rest is a
 * warning), or a string that is not UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define ADDRESS_MAX 10000 /* entries per address field; a bound against pathological lists */

static int set(struct pctx *c, json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new_nocheck(o, key, v) < 0) {
		c->oom = 1;
		return -1;
	}
	return 0;
}

static json_t *name_json(struct pctx *c, const char *s)
{
	return s && *s ? ptext_json0(c, s, "address name") : json_null();
}

static int add_mailboxes(struct pctx *c, json_t *a, InternetAddressList *l, const char *group,
                         int depth)
{
	int n = l ? internet_address_list_length(l) : 0;

	for (int i = 0; i < n && json_array_size(a) < ADDRESS_MAX; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (depth >
			    0) /* RFC 5322 groups do not nest; flatten what a parser allowed */
				continue;
			InternetAddressList *mem =
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
			const char *gname = internet_address_get_name(ia);
			if (add_mailboxes(c, a, mem, gname ? gname : "", depth + 1) < 0)
				return -1;
			continue;
		}
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		json_t *o = json_object();
		if (!o || json_array_append_new(a, o) < 0 ||
		    set(c, o, "name", name_json(c, internet_address_get_name(ia))) < 0 ||
		    set(c, o, "address", ptext_json0(c, addr ? addr : "", "address")) < 0 ||
		    set(c, o, "group",
		        group ? ptext_json0(c, group, "address group") : json_null()) < 0)
			return -1;
	}
	return 0;
}

/* A field left out of GMime's input was parsed by payload_scan.c, as GMime would have. */
static json_t *addresses(struct pctx *c, GMimeMessage *m, GMimeAddressType type)
{
	json_t *a = json_array();
	InternetAddressList *l = pscan_hidden_addresses(c, m, type);
	if (!l && m)
		l = g_mime_message_get_addresses(m, type);
	if (a && m && add_mailboxes(c, a, l, NULL, 0) < 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *first_or_null(json_t *list)
{
	json_t *first = json_array_get(list, 0);
	json_t *r = first ? json_incref(first) : json_null();
	json_decref(list);
	return r;
}

static json_t *date_json_of(struct pctx *c, const char *orig, GDateTime *d)
{
	if (!orig)
		return json_null();
	json_t *iso = json_null();
	if (d) {
		GDateTime *u = g_date_time_to_utc(d);
		char s[32];
		if (u && g_date_time_get_year(u) >= 0 && g_date_time_get_year(u) <= 9999) {
			snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02dZ",
			         g_date_time_get_year(u), g_date_time_get_month(u),
			         g_date_time_get_day_of_month(u), g_date_time_get_hour(u),
			         g_date_time_get_minute(u), g_date_time_get_second(u));
			iso = json_string(s);
		}
		if (u)
			g_date_time_unref(u);
	} else {
		pctx_warn(c, "invalid_date", "Date header could not be parsed: %.100s", orig);
	}
	static const char *const keys[] = {"iso", "original"};
	json_t *v[] = {iso, ptext_json0(c, orig, "Date")};
	return json_object_of(keys, v, 2);
}

/*
 * GMime's message date is that of the last Date field (g_mime_message_get_date);
 * one left out of its input is the only one, parsed here by the same function.
 */
static json_t *date_json(struct pctx *c, GMimeMessage *m)
{
	const char *own = pscan_hidden_value(c, m, "Date");
	GDateTime *own_d = own ? g_mime_utils_header_decode_date(own) : NULL;
	json_t *r = date_json_of(c, own ? own : g_mime_object_get_header(GMIME_OBJECT(m), "Date"),
	                         own ? own_d : g_mime_message_get_date(m));
	if (own_d)
		g_date_time_unref(own_d);
	return r;
}

static json_t *msgids(struct pctx *c, GMimeMessage *m, const char *header)
{
	return pmsgid_list(c, m ? GMIME_OBJECT(m) : NULL, header, ADDRESS_MAX);
}

/* Bytes from p before the first CR or LF, sixteen at a time. */
static size_t line_run(const char *p, size_t len)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		unsigned mask = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	while (i < len && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

static bool wsp_or_break(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int phead_unfold(const char *raw, size_t len, int (*run)(void *arg, const char *p, size_t n),
                 void *arg)
{
	const char *nul = memchr(raw, '\0', len);
	size_t i = 0, end = nul ? (size_t)(nul - raw) : len;
	while (i < end && (raw[i] == ' ' || raw[i] == '\t'))
		i++;
	while (end > i && wsp_or_break(raw[end - 1]))
		end--;
	while (i < end) {
		size_t r = line_run(raw + i, end - i);
		if (run(arg, raw + i, r) < 0)
			return -1;
		for (i += r; i < end && (raw[i] == '\r' || raw[i] == '\n'); i++)
			;
	}
	return 0;
}

struct unfold_out {
	char *p;
	size_t n;
};

static int copy_run(void *arg, const char *p, size_t n)
{
	struct unfold_out *o = arg;
	memcpy(o->p + o->n, p, n);
	o->n += n;
	return 0;
}

/* phead_unfold() into out, which has room for len + 1 bytes. */
static size_t unfold_n(const char *raw, size_t len, char *out)
{
	struct unfold_out o = {out, 0};
	phead_unfold(raw, len, copy_run, &o);
	out[o.n] = '\0';
	return o.n;
}

static size_t unfold(const char *raw, char *out)
{
	return unfold_n(raw, strlen(raw), out);
}

/*
 * Fields whose value is free text (RFC 5322 section 3.6.5 and the like):
 * decoded here rather than by GMime, see ptext_rfc2047().
 */
static bool unstructured(const char *name)
{
	return name && (g_ascii_strcasecmp(name, "Subject") == 0 ||
	                g_ascii_strcasecmp(name, "Comments") == 0 ||
	                g_ascii_strcasecmp(name, "Content-Description") == 0 ||
	                g_ascii_strcasecmp(name, "Thread-Topic") == 0 ||
	                g_ascii_strncasecmp(name, "X-", 2) == 0);
}

/* The decoded value of h, in *own when we decoded it (free with g_free). */
static const char *decoded_value(struct pctx *c, GMimeHeader *h, char **own)
{
	const char *name = g_mime_header_get_name(h);
	const char *raw = g_mime_header_get_raw_value(h);

	*own = NULL;
	if (!raw || !unstructured(name) || !strstr(raw, "=?"))
		return g_mime_header_get_value(h);
	size_t rl = strlen(raw);
	char *u = g_malloc(rl + 1);
	size_t n = unfold(raw, u);
	struct pbuf b = {.max = 3 * n + 16};
	if (ptext_rfc2047(c, u, n, &b, name) < 0 || pbuf_add(&b, "", 1) < 0) {
		pbuf_free(&b);
		g_free(u);
		return g_mime_header_get_value(h);
	}
	g_free(u);
	*own = b.p; /* malloc'd; the caller frees with free() */
	return b.p;
}

static bool plain_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80 || (s[0] == '=' && s[1] == '?'))
			return false;
	return true;
}

/* Nothing to decode: the value is the unfolded field, without asking GMime. */
static json_t *plain_header_jsonn(struct pctx *c, const char *name, size_t name_len,
                                  const char *raw, size_t rl)
{
	char small[512];
	char *u = rl < sizeof(small) ? small : g_malloc(rl + 1);
	size_t n = unfold_n(raw, rl, u);
	json_t *o = json_object();
	set(c, o, "name", ptext_json(c, name, name_len, "header name"));
	set(c, o, "value", json_stringn_nocheck(u, n));
	if (u != small)
		g_free(u);
	return o;
}

static json_t *plain_header_json(struct pctx *c, const char *name, const char *raw)
{
	name = name ? name : "";
	return plain_header_jsonn(c, name, strlen(name), raw, strlen(raw));
}

static json_t *header_json(struct pctx *c, GMimeHeader *h)
{
	const char *name = g_mime_header_get_name(h);
	const char *raw0 = g_mime_header_get_raw_value(h);
	if (raw0 && plain_ascii(raw0))
		return plain_header_json(c, name, raw0);
	char *own;
	const char *value = decoded_value(c, h, &own);
	const char *raw = g_mime_header_get_raw_value(h);
	const char *where = name ? name : "header";
	json_t *o = json_object();
	if (!o || set(c, o, "name", ptext_json0(c, name ? name : "", "header name")) < 0 ||
	    set(c, o, "value", ptext_json0(c, value ? value : "", where)) < 0 || !raw) {
		free(own);
		return o;
	}
	char small[512];
	size_t rl = strlen(raw);
	char *u = rl < sizeof(small) ? small : g_malloc(rl + 1);
	size_t n = unfold(raw, u);
	struct pbuf b = {.max = 3 * n + 16};
	/* 8-bit bytes that are not UTF-8: shown as GMime decoded them (Windows-1252) */
	bool conv =
	    putf8_valid(u, n) != n && ptext_to_utf8(c, u, n, "windows-1252", &b, where) == 0;
	const char *r = conv ? b.p : u;
	size_t rn = conv ? b.len : n;
	if (!value || strlen(value) != rn || memcmp(value, r, rn) != 0)
		set(c, o, "raw", ptext_json(c, r, rn, where));
	pbuf_free(&b);
	if (u != small)
		g_free(u);
	free(own);
	return o;
}

/* Where field i of l starts in the input (GMime counts in its own input: payload_scan.c). */
static size_t offset_of(struct pctx *c, GMimeHeaderList *l, int i, int n)
{
	if (i >= n)
		return SIZE_MAX;
	gint64 off = g_mime_header_get_offset(g_mime_header_list_get_header_at(l, i));
	return off < 0 ? SIZE_MAX - 1 : pscan_orig_offset(c, (size_t)off);
}

static int add_href(struct pctx *c, struct phref r)
{
	struct phref *a = parray_room(c->hrefs, &c->cap_hrefs, c->n_hrefs, sizeof(*a), 16);
	if (!a) {
		json_decref(r.built);
		return -1;
	}
	c->hrefs = a;
	c->hrefs[c->n_hrefs++] = r;
	return 0;
}

/*
 * A field of message.headers, plain (r: its name and raw value) or parsed
 * by GMime (g): into the array a or, when a is NULL
 * (deferred), into c->hrefs, written by payload_json.c at dump time
 * without a tree of its own. A field GMime parsed is built now either way:
 * its warnings keep their order, and GMime may replace its raw value
 * before the dump (a Content-Type it corrects).
 */
static void add_field(struct pctx *c, json_t *a, struct phref r, GMimeHeader *g)
{
	if (a) {
		json_t *v = g ? header_json(c, g)
		              : plain_header_jsonn(c, r.name, r.name_len, r.raw, r.raw_len);
		if (json_array_append_new(a, v) < 0)
			c->oom = 1;
		return;
	}
	if (g && !(r.built = header_json(c, g)))
		c->oom = 1;
	else if (add_href(c, r) < 0)
		c->oom = 1;
}

/* A field GMime was not shown (payload_scan.c hide_field()): plain ASCII, from the input. */
static struct phref left_out(struct pctx *c, const struct phidden *h)
{
	const char *f = c->msg->data + h->at;
	return (struct phref){.name = f,
	                      .name_len = h->name_len,
	                      .raw = f + h->name_len + 1,
	                      .raw_len = h->len - h->name_len - 1};
}

/*
 * The array, or (payload_write() with our serialiser, the message's own
 * fields) a placeholder whose entries pjson_write() writes from c->hrefs.
 */
static json_t *headers_array(struct pctx *c, GMimeMessage *m, bool *deferred)
{
	*deferred = c->defer_lists && m && m == c->m; /* one list: the message's own */
	return *deferred ? pctx_defer_list(c, PLIST_HEADERS) : json_array();
}

/*
 * GMime files the Content-* fields under the body part and the rest under
 * the message, and was not shown the fields payload_scan.c left out of its
 * input; the payload lists them all in the order they were sent, merging the
 * three lists by their offsets in the input.
 */
static json_t *headers_json(struct pctx *c, GMimeMessage *m)
{
	bool deferred;
	json_t *r = headers_array(c, m, &deferred), *a = deferred ? NULL : r;
	GMimeHeaderList *hm = m ? g_mime_object_get_header_list(GMIME_OBJECT(m)) : NULL;
	GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
	GMimeHeaderList *hb = body ? g_mime_object_get_header_list(body) : NULL;
	int nm = hm ? g_mime_header_list_get_count(hm) : 0;
	int nb = hb ? g_mime_header_list_get_count(hb) : 0;
	size_t nh = m && m == c->m ? c->n_hidden : 0, listed = 0;
	int im = 0, ib = 0;
	size_t ih = 0;

	if ((uint64_t)nm + (uint64_t)nb + nh > c->opt->max_header_count)
		pctx_warn(c, "header_count_limit",
		          "%llu header fields; only the first %u are listed in message.headers",
		          (unsigned long long)nm + (unsigned long long)nb + nh,
		          c->opt->max_header_count);
	size_t om = offset_of(c, hm, im, nm), ob = offset_of(c, hb, ib, nb);
	for (; r && (im < nm || ib < nb || ih < nh) && listed < c->opt->max_header_count;
	     listed++) {
		size_t oh = ih < nh ? c->hidden[ih].at : SIZE_MAX;
		if (ih < nh && oh < om && oh < ob) {
			add_field(c, a, left_out(c, &c->hidden[ih++]), NULL);
		} else if (om <= ob) {
			add_field(c, a, (struct phref){0},
			          g_mime_header_list_get_header_at(hm, im++));
			om = offset_of(c, hm, im, nm);
		} else {
			add_field(c, a, (struct phref){0},
			          g_mime_header_list_get_header_at(hb, ib++));
			ob = offset_of(c, hb, ib, nb);
		}
	}
	return r;
}

void phead_free(struct pctx *c)
{
	for (size_t i = 0; i < c->n_hrefs; i++)
		json_decref(c->hrefs[i].built);
	free(c->hrefs);
	c->hrefs = NULL;
	c->n_hrefs = c->cap_hrefs = 0;
}

/* GMime's message id is the last Message-ID field's; one left out of its input is the only one. */
static json_t *message_id_json(struct pctx *c, GMimeMessage *m)
{
	const char *own = pscan_hidden_value(c, m, "Message-ID");
	char *id = own ? g_mime_utils_decode_message_id(own) : NULL;
	const char *mid = own ? id : m ? g_mime_message_get_message_id(m) : NULL;
	json_t *r = mid ? ptext_json0(c, mid, "Message-ID") : json_null();
	g_free(id);
	return r;
}

/* The first Subject field, decoded (message.subject). */
static json_t *subject_json(struct pctx *c, GMimeMessage *m)
{
	const char *own = pscan_hidden_value(c, m, "Subject");
	GMimeHeaderList *hl = m && !own ? g_mime_object_get_header_list(GMIME_OBJECT(m)) : NULL;
	GMimeHeader *sh = hl ? g_mime_header_list_get_header(hl, "Subject") : NULL;
	char *dec = NULL;
	const char *subject = own ? own : sh ? decoded_value(c, sh, &dec) : NULL;
	json_t *r = subject ? ptext_json0(c, subject, "Subject") : json_null();
	free(dec);
	return r;
}

int phead_message(struct pctx *c, GMimeMessage *m, json_t *out)
{
	json_t *irt = msgids(c, m, "In-Reply-To");

	set(c, out, "message_id", message_id_json(c, m));
	set(c, out, "date", m ? date_json(c, m) : json_null());
	set(c, out, "subject", subject_json(c, m));
	set(c, out, "from", addresses(c, m, GMIME_ADDRESS_TYPE_FROM));
	set(c, out, "sender", first_or_null(addresses(c, m, GMIME_ADDRESS_TYPE_SENDER)));
	set(c, out, "reply_to", addresses(c, m, GMIME_ADDRESS_TYPE_REPLY_TO));
	set(c, out, "to", addresses(c, m, GMIME_ADDRESS_TYPE_TO));
	set(c, out, "cc", addresses(c, m, GMIME_ADDRESS_TYPE_CC));
	set(c, out, "bcc", addresses(c, m, GMIME_ADDRESS_TYPE_BCC));
	set(c, out, "in_reply_to", irt ? first_or_null(irt) : NULL);
	set(c, out, "references", msgids(c, m, "References"));
	set(c, out, "headers", headers_json(c, m));
	return c->oom ? -1 : 0;
}
