/*
 * payload_html2text.c: HTML to plain text, for message.text when a message
 * has only HTML (message.text_from_html) and for finding the new text of an
 * HTML reply (message.reply).
 *
 * One pass over the bytes, no DOM: block elements become line breaks,
 * <p> and headings paragraphs, <li> "* " items, <a href> "text (url)",
 * <blockquote> lines get "> " (as mail clients quote when they convert),
 * entities are decoded (HTML 5 named ones that mail uses, numeric ones),
 * white space collapses outside <pre>; <script>, <style>, <head> and
 * comments give nothing. It also notes where the first quoted-reply
 * container of the common clients starts: Gmail's gmail_quote, Yahoo's
 * yahoo_quoted, Outlook's divRplyFwdMsg / appendonsend and its border-top
 * separator before "From:", Thunderbird's moz-cite-prefix.
 *
 * Must never: run scripts or fetch anything (it only reads bytes), write
 * more than 4 bytes per input byte plus a constant, or backtrack.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "payload_int.h"

#define MAX_QUOTE_DEPTH 8 /* "> " prefixes written per line at most */

struct h2t {
	struct phtml_text *out;
	bool mark_quotes;
	int skip;       /* inside script/style/head/title: text is not content */
	int pre;        /* inside <pre> */
	int quote;      /* blockquote depth */
	int pending_nl; /* line breaks owed before the next text (2 = paragraph) */
	bool space;     /* a space is owed before the next word */
	bool at_line_start;
	char href[512]; /* the open <a>'s target */
	size_t href_len;
	size_t link_text_at; /* offset of the link's text in out */
	bool in_link;
	int oom;
};

static bool ieq(const char *a, size_t n, const char *b)
{
	size_t m = strlen(b);
	if (n != m)
		return false;
	for (size_t i = 0; i < n; i++) {
		char x = a[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (x != b[i])
			return false;
	}
	return true;
}

static bool ihas(const char *p, size_t n, const char *w)
{
	size_t m = strlen(w);
	for (size_t i = 0; i + m <= n; i++) {
		size_t k = 0;
		while (k < m && ((p[i + k] | 0x20) == (w[k] | 0x20) || p[i + k] == w[k]))
			k++;
		if (k == m)
			return true;
	}
	return false;
}

static void put(struct h2t *h, const char *p, size_t n)
{
	if (pbuf_add(&h->out->text, p, n) < 0)
		h->oom = 1;
}

static void flush_breaks(struct h2t *h)
{
	struct pbuf *t = &h->out->text;
	if (t->len == 0) {
		h->pending_nl = 0;
		h->space = false;
		return;
	}
	if (h->pending_nl) {
		/* Count the breaks already there, so paragraphs give one empty line. */
		int have = 0;
		for (size_t i = t->len; i > 0 && t->p[i - 1] == '\n' && have < 2; i--)
			have++;
		for (int i = have; i < h->pending_nl; i++) {
			put(h, "\n", 1);
			h->at_line_start = true;
		}
		if (have < h->pending_nl || have)
			h->at_line_start = true;
		h->pending_nl = 0;
		h->space = false;
	}
}

static void prefix(struct h2t *h)
{
	if (!h->at_line_start)
		return;
	for (int i = 0; i < h->quote && i < MAX_QUOTE_DEPTH; i++)
		put(h, "> ", 2);
	h->at_line_start = false;
}

static void text_out(struct h2t *h, const char *p, size_t n)
{
	if (h->skip)
		return;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (!h->pre && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
			h->space = true;
			continue;
		}
		if (h->pre && ch == '\n') {
			put(h, "\n", 1);
			h->at_line_start = true;
			continue;
		}
		flush_breaks(h);
		struct pbuf *t = &h->out->text;
		if (h->space && t->len && t->p[t->len - 1] != '\n' && t->p[t->len - 1] != ' ')
			put(h, " ", 1);
		h->space = false;
		prefix(h);
		/* the rest of the word in one copy */
		size_t k = i + 1;
		while (k < n && p[k] != ' ' && p[k] != '\t' && p[k] != '\n' && p[k] != '\r')
			k++;
		put(h, p + i, k - i);
		i = k - 1;
	}
}

static void utf8(struct h2t *h, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp == 0xA0) { /* &nbsp; is a space that does not collapse: keep it simple */
		text_out(h, " ", 1);
		return;
	}
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	text_out(h, b, n);
}

/* The HTML 4 Latin-1 and special entities mail uses (HTML 5 has more). */
static const struct named_entity {
	const char *name;
	uint32_t cp;
} named_entities[] = {
    {"AElig", 0xC6},    {"Aacute", 0xC1},   {"Acirc", 0xC2},    {"Agrave", 0xC0},
    {"Aring", 0xC5},    {"Atilde", 0xC3},   {"Auml", 0xC4},     {"Ccedil", 0xC7},
    {"Dagger", 0x2021}, {"ETH", 0xD0},      {"Eacute", 0xC9},   {"Ecirc", 0xCA},
    {"Egrave", 0xC8},   {"Euml", 0xCB},     {"Iacute", 0xCD},   {"Icirc", 0xCE},
    {"Igrave", 0xCC},   {"Iuml", 0xCF},     {"Ntilde", 0xD1},   {"OElig", 0x152},
    {"Oacute", 0xD3},   {"Ocirc", 0xD4},    {"Ograve", 0xD2},   {"Oslash", 0xD8},
    {"Otilde", 0xD5},   {"Ouml", 0xD6},     {"Scaron", 0x160},  {"THORN", 0xDE},
    {"Uacute", 0xDA},   {"Ucirc", 0xDB},    {"Ugrave", 0xD9},   {"Uuml", 0xDC},
    {"Yacute", 0xDD},   {"Yuml", 0x178},    {"aacute", 0xE1},   {"acirc", 0xE2},
    {"acute", 0xB4},    {"aelig", 0xE6},    {"agrave", 0xE0},   {"amp", 0x26},
    {"apos", 0x27},     {"aring", 0xE5},    {"atilde", 0xE3},   {"auml", 0xE4},
    {"bdquo", 0x201E},  {"brvbar", 0xA6},   {"bull", 0x2022},   {"ccedil", 0xE7},
    {"cedil", 0xB8},    {"cent", 0xA2},     {"circ", 0x2C6},    {"copy", 0xA9},
    {"curren", 0xA4},   {"dagger", 0x2020}, {"deg", 0xB0},      {"divide", 0xF7},
    {"eacute", 0xE9},   {"ecirc", 0xEA},    {"egrave", 0xE8},   {"emsp", 0x2003},
    {"ensp", 0x2002},   {"eth", 0xF0},      {"euml", 0xEB},     {"euro", 0x20AC},
    {"fnof", 0x192},    {"frac12", 0xBD},   {"frac14", 0xBC},   {"frac34", 0xBE},
    {"gt", 0x3E},       {"hellip", 0x2026}, {"iacute", 0xED},   {"icirc", 0xEE},
    {"iexcl", 0xA1},    {"igrave", 0xEC},   {"iquest", 0xBF},   {"iuml", 0xEF},
    {"laquo", 0xAB},    {"ldquo", 0x201C},  {"lrm", 0x200E},    {"lsaquo", 0x2039},
    {"lsquo", 0x2018},  {"lt", 0x3C},       {"macr", 0xAF},     {"mdash", 0x2014},
    {"micro", 0xB5},    {"middot", 0xB7},   {"nbsp", 0xA0},     {"ndash", 0x2013},
    {"not", 0xAC},      {"ntilde", 0xF1},   {"oacute", 0xF3},   {"ocirc", 0xF4},
    {"oelig", 0x153},   {"ograve", 0xF2},   {"ordf", 0xAA},     {"ordm", 0xBA},
    {"oslash", 0xF8},   {"otilde", 0xF5},   {"ouml", 0xF6},     {"para", 0xB6},
    {"permil", 0x2030}, {"plusmn", 0xB1},   {"pound", 0xA3},    {"quot", 0x22},
    {"raquo", 0xBB},    {"rdquo", 0x201D},  {"reg", 0xAE},      {"rlm", 0x200F},
    {"rsaquo", 0x203A}, {"rsquo", 0x2019},  {"sbquo", 0x201A},  {"scaron", 0x161},
    {"sect", 0xA7},     {"shy", 0xAD},      {"sup1", 0xB9},     {"sup2", 0xB2},
    {"sup3", 0xB3},     {"szlig", 0xDF},    {"thinsp", 0x2009}, {"thorn", 0xFE},
    {"tilde", 0x2DC},   {"times", 0xD7},    {"trade", 0x2122},  {"uacute", 0xFA},
    {"ucirc", 0xFB},    {"ugrave", 0xF9},   {"uml", 0xA8},      {"uuml", 0xFC},
    {"yacute", 0xFD},   {"yen", 0xA5},      {"yuml", 0xFF},     {"zwj", 0x200D},
    {"zwnj", 0x200C}};

/* The code point of the numeric entity p[0..k) ("#233", "#xE9"); false if malformed. */
static bool numeric_entity(const char *p, size_t k, uint32_t *cp)
{
	bool hex = k > 1 && (p[1] == 'x' || p[1] == 'X');
	size_t i = hex ? 2 : 1;
	if (i >= k)
		return false;
	*cp = 0;
	for (; i < k; i++) {
		char ch = p[i];
		uint32_t d;
		if (ch >= '0' && ch <= '9')
			d = (uint32_t)(ch - '0');
		else if (hex && (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
			d = (uint32_t)((ch | 0x20) - 'a' + 10);
		else
			return false;
		/* Saturate past the last code point: utf8() turns it into U+FFFD. */
		*cp = *cp * (hex ? 16 : 10) + d;
		if (*cp > 0x10FFFF)
			*cp = 0x110000;
	}
	return true;
}

/* The code point of the named entity p[0..k) (case-sensitive, as HTML); false if unknown. */
static bool named_entity(const char *p, size_t k, uint32_t *cp)
{
	for (size_t i = 0; i < sizeof(named_entities) / sizeof(named_entities[0]); i++)
		if (strlen(named_entities[i].name) == k && !memcmp(p, named_entities[i].name, k)) {
			*cp = named_entities[i].cp;
			return true;
		}
	return false;
}

/* Decodes the entity at p (after '&'); returns bytes consumed after '&', 0 if none. */
static size_t entity(struct h2t *h, const char *p, size_t n)
{
	uint32_t cp;
	size_t k = 0;
	/* Only a ';'-terminated name of at most 11 bytes is an entity; else the '&' is text. */
	while (k < n && k < 12 && p[k] != ';')
		k++;
	if (k >= n || p[k] != ';' || k == 0)
		return 0;
	if (!(p[0] == '#' ? numeric_entity(p, k, &cp) : named_entity(p, k, &cp)))
		return 0;
	utf8(h, cp);
	return k + 1;
}

static void block(struct h2t *h, int breaks)
{
	if (h->pending_nl < breaks)
		h->pending_nl = breaks;
}

/* The value of attribute name in attrs (quoted or bare), or NULL. */
static const char *attr(const char *a, size_t n, const char *name, size_t *vlen)
{
	size_t m = strlen(name);
	for (size_t i = 0; i + m < n; i++) {
		if ((i > 0 && a[i - 1] != ' ' && a[i - 1] != '\t' && a[i - 1] != '\n' &&
		     a[i - 1] != '\r') ||
		    !ieq(a + i, m, name))
			continue;
		size_t k = i + m;
		while (k < n && a[k] == ' ')
			k++;
		if (k >= n || a[k] != '=')
			continue;
		k++;
		while (k < n && a[k] == ' ')
			k++;
		if (k < n && (a[k] == '"' || a[k] == '\'')) {
			char q = a[k++];
			const char *e = memchr(a + k, q, n - k);
			*vlen = e ? (size_t)(e - (a + k)) : n - k;
		} else {
			size_t e = k;
			while (e < n && a[e] != ' ' && a[e] != '\t' && a[e] != '>')
				e++;
			*vlen = e - k;
		}
		return a + k;
	}
	return NULL;
}

static void note_quote(struct h2t *h)
{
	if (h->out->quote_at == SIZE_MAX) {
		flush_breaks(h);
		h->out->quote_at = h->out->text.len;
	}
}

static bool quote_container(const char *a, size_t n)
{
	size_t vl;
	const char *v = attr(a, n, "class", &vl);
	if (v && (ihas(v, vl, "gmail_quote") || ihas(v, vl, "yahoo_quoted") ||
	          ihas(v, vl, "moz-cite-prefix") || ihas(v, vl, "divRplyFwdMsg")))
		return true;
	v = attr(a, n, "id", &vl);
	if (v && (ihas(v, vl, "divRplyFwdMsg") || ihas(v, vl, "appendonsend") ||
	          ihas(v, vl, "yahoo_quoted")))
		return true;
	v = attr(a, n, "style", &vl);
	/* Outlook's separator: <div style="border:none;border-top:solid #E1E1E1 1.0pt;..."> */
	return v && ihas(v, vl, "border-top:solid") && ihas(v, vl, "border:none");
}

/* Elements whose content is not text to show (h->skip counts them open). */
static bool skipped_element(const char *name, size_t nl)
{
	return ieq(name, nl, "script") || ieq(name, nl, "style") || ieq(name, nl, "head") ||
	       ieq(name, nl, "title");
}

/* Elements that start and end a paragraph: an empty line around them. */
static bool paragraph_element(const char *name, size_t nl)
{
	return ieq(name, nl, "p") ||
	       (nl == 2 && (name[0] | 0x20) == 'h' && name[1] >= '1' && name[1] <= '6');
}

/* Other block elements: a line break around them. */
static bool line_element(const char *name, size_t nl)
{
	return ieq(name, nl, "div") || ieq(name, nl, "tr") || ieq(name, nl, "table") ||
	       ieq(name, nl, "ul") || ieq(name, nl, "ol") || ieq(name, nl, "hr") ||
	       ieq(name, nl, "section") || ieq(name, nl, "article") || ieq(name, nl, "header") ||
	       ieq(name, nl, "footer");
}

static void line_break(struct h2t *h)
{
	flush_breaks(h);
	put(h, "\n", 1);
	h->at_line_start = true;
	h->space = false;
}

static void list_item(struct h2t *h, bool close)
{
	block(h, 1);
	if (close)
		return;
	flush_breaks(h);
	prefix(h);
	put(h, "* ", 2);
	h->space = false;
}

static void blockquote(struct h2t *h, bool close)
{
	block(h, 1);
	flush_breaks(h);
	if (close && h->quote > 0)
		h->quote--;
	else if (!close) {
		h->quote++;
		h->out->saw_blockquote = true;
	}
}

/* <a href>: remembers the target and where the link's text starts. */
static void link_open(struct h2t *h, const char *a, size_t an)
{
	size_t vl;
	const char *v = attr(a, an, "href", &vl);
	h->in_link = v && vl > 0 && vl < sizeof(h->href);
	if (!h->in_link)
		return;
	memcpy(h->href, v, vl);
	h->href_len = vl;
	h->link_text_at = h->out->text.len;
}

/* </a>: writes " (url)" unless the text already ends with it or it is an in-page anchor. */
static void link_close(struct h2t *h)
{
	struct pbuf *t = &h->out->text;
	const char *txt = t->p ? t->p + h->link_text_at : "";
	size_t tl = t->len - h->link_text_at;
	const char *u = h->href;
	size_t ul = h->href_len;
	if (ul > 7 && ieq(u, 7, "mailto:")) {
		u += 7;
		ul -= 7;
	}
	bool same = tl >= ul && !memcmp(txt + tl - ul, u, ul);
	if (!same && !(ul && u[0] == '#')) {
		text_out(h, " (", 2);
		text_out(h, h->href, h->href_len); /* entities in href kept as written */
		text_out(h, ")", 1);
	}
	h->in_link = false;
}

/* What an element that is shown does to the layout of the text. */
static void layout(struct h2t *h, const char *name, size_t nl, bool close, const char *a, size_t an)
{
	if (ieq(name, nl, "br"))
		line_break(h);
	else if (paragraph_element(name, nl))
		block(h, 2);
	else if (ieq(name, nl, "li"))
		list_item(h, close);
	else if (ieq(name, nl, "blockquote"))
		blockquote(h, close);
	else if (ieq(name, nl, "pre")) {
		block(h, 1);
		h->pre += close ? (h->pre > 0 ? -1 : 0) : 1;
	} else if (line_element(name, nl))
		block(h, 1);
	else if (ieq(name, nl, "td") || ieq(name, nl, "th"))
		h->space = true;
	else if (ieq(name, nl, "a") && !close)
		link_open(h, a, an);
	else if (ieq(name, nl, "a") && close && h->in_link)
		link_close(h);
}

static void tag(struct h2t *h, const char *name, size_t nl, bool close, const char *a, size_t an)
{
	if (skipped_element(name, nl)) {
		h->skip += close ? (h->skip > 0 ? -1 : 0) : 1;
		return;
	}
	if (h->skip)
		return;
	layout(h, name, nl, close, a, an);
	if (h->mark_quotes && !close && quote_container(a, an))
		note_quote(h);
}

/* Skips the comment that starts at s[i] ("<!--"); returns the index after its "-->". */
static size_t skip_comment(const char *s, size_t len, size_t i)
{
	for (size_t k = i + 4; k + 2 < len; k++)
		if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>')
			return k + 3;
	return len; /* unterminated: the rest is comment */
}

/* A '<' that opens a tag; any other '<' ("a < b") is text. */
static bool tag_starts(const char *s, size_t len, size_t i)
{
	if (s[i] != '<' || i + 1 >= len)
		return false;
	char c = s[i + 1];
	return c == '/' || c == '!' || c == '?' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Reads the tag that starts at s[i] and acts on it; returns the index after its '>'. */
static size_t read_tag(struct h2t *h, const char *s, size_t len, size_t i)
{
	size_t k = i + 1;
	bool close = s[k] == '/';
	if (close)
		k++;
	size_t name = k;
	while (k < len && s[k] != '>' && s[k] != ' ' && s[k] != '/' && s[k] != '\t' &&
	       s[k] != '\n' && s[k] != '\r')
		k++;
	size_t nl = k - name;
	size_t a = k;
	/* A '>' inside a quoted attribute value does not end the tag. */
	char q = 0;
	while (k < len && (q || s[k] != '>')) {
		if (q && s[k] == q)
			q = 0;
		else if (!q && (s[k] == '"' || s[k] == '\''))
			q = s[k];
		k++;
	}
	tag(h, s + name, nl, close, s + a, k - a);
	return k < len ? k + 1 : len;
}

/* Trailing white space and breaks are not content. */
static void trim_end(struct phtml_text *out)
{
	struct pbuf *t = &out->text;
	while (t->len && (t->p[t->len - 1] == '\n' || t->p[t->len - 1] == ' '))
		t->len--;
	if (out->quote_at != SIZE_MAX && out->quote_at > t->len)
		out->quote_at = t->len;
}

int phtml_to_text(const char *s, size_t len, bool mark_quotes, struct phtml_text *out)
{
	struct h2t h = {.out = out, .mark_quotes = mark_quotes, .at_line_start = true};
	size_t i = 0;

	out->quote_at = SIZE_MAX;
	out->text.max = 4 * len + 64;
	while (i < len && !h.oom) {
		if (s[i] == '<' && i + 3 < len && !memcmp(s + i, "<!--", 4)) {
			i = skip_comment(s, len, i);
			continue;
		}
		if (tag_starts(s, len, i)) {
			i = read_tag(&h, s, len, i);
			continue;
		}
		if (s[i] == '&') {
			size_t used = h.skip ? 0 : entity(&h, s + i + 1, len - i - 1);
			if (used) {
				i += used + 1;
				continue;
			}
		}
		/* Text up to the next markup, in one call. */
		size_t k = i + 1;
		while (k < len && s[k] != '<' && s[k] != '&')
			k++;
		text_out(&h, s + i, k - i);
		i = k;
	}
	trim_end(out);
	return h.oom ? -1 : 0;
}
