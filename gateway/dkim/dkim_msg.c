/*
 * dkim_msg.c: splits a message (RFC 5322 section 2.1, CRLF line endings)
 * into its header fields and its body, the view every DKIM and ARC
 * computation works on (RFC 6376 5.4: fields are hashed as they appear,
 * continuation lines included).
 *
 * A line that starts with WSP continues the previous field; the header
 * ends at the first empty line. No copy of the message is made: fields
 * point into the caller's buffer, so a dkim_msg must never outlive it.
 * At most max_fields fields are recorded.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_int.h"

/* Offset of the next line's start (after CRLF, or a bare LF), or len. */
static size_t line_end(const char *buf, size_t len, size_t i, size_t *content_end)
{
	const char *nl = memchr(buf + i, '\n', len - i);

	if (!nl) {
		*content_end = len;
		return len;
	}
	size_t e = (size_t)(nl - buf);
	*content_end = (e > i && buf[e - 1] == '\r') ? e - 1 : e;
	return e + 1;
}

static void field_name(struct dkim_field *f)
{
	const char *c = memchr(f->p, ':', f->len);

	f->colon = c ? (size_t)(c - f->p) : f->len;
	f->nlen = f->colon;
	while (f->nlen > 0 && (f->p[f->nlen - 1] == ' ' || f->p[f->nlen - 1] == '\t'))
		f->nlen--;
}

static int grow(struct dkim_msg *m, size_t *cap)
{
	size_t nc = *cap ? *cap * 2 : 32;
	struct dkim_field *nf = realloc(m->f, nc * sizeof(*nf));

	if (!nf)
		return -1;
	m->f = nf;
	*cap = nc;
	return 0;
}

int dkim_msg_parse(struct dkim_msg *m, const char *buf, size_t len, size_t max_fields)
{
	size_t i = 0, cap = 0;
	struct dkim_field *cur = NULL;

	memset(m, 0, sizeof(*m));
	while (i < len) {
		size_t ce, next = line_end(buf, len, i, &ce);
		if (ce == i) { /* the empty line */
			m->body = buf + next;
			m->blen = len - next;
			break;
		}
		if ((buf[i] == ' ' || buf[i] == '\t') && cur) {
			cur->len = ce - (size_t)(cur->p - buf);
		} else if (m->nf >= max_fields) {
			m->truncated = true;
			cur = NULL;
		} else {
			if (m->nf == cap && grow(m, &cap) < 0) {
				dkim_msg_free(m);
				return -1;
			}
			cur = &m->f[m->nf++];
			cur->p = buf + i;
			cur->len = ce - i;
		}
		i = next;
	}
	for (size_t k = 0; k < m->nf; k++)
		field_name(&m->f[k]);
	if (!m->body)
		m->body = buf + len;
	return 0;
}

void dkim_msg_free(struct dkim_msg *m)
{
	free(m->f);
	m->f = NULL;
	m->nf = 0;
}

bool dkim_field_is(const struct dkim_field *f, const char *name, size_t nlen)
{
	return f->colon < f->len && f->nlen == nlen && strncasecmp(f->p, name, nlen) == 0;
}
