/*
 * form_data.c: multipart/form-data bodies (RFC 7578, RFC 2046 5.1.1) for
 * the provider formats of docs/formats.md.
 *
 * Owns: the parts (name, optional file name and media type, value), the
 * boundary, and a read cursor that hands the body to libcurl piece by
 * piece, so that a 25 MB message is never copied into one body buffer.
 * Field names and file names are written as HTML's form submission does
 * (WHATWG "multipart/form-data encoding algorithm"): '"' as %22, CR as %0D,
 * LF as %0A; values are sent as they are, with no Content-Transfer-Encoding
 * (RFC 7578 4.7).
 *
 * Must never: emit a boundary that occurs in a value (the body would be
 * cut); change the body between computing its length and reading it.
 */
#include "form_data.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define FORM_DATA_BOUNDARY_TRIES 4

struct form_data *form_data_new(void)
{
	return calloc(1, sizeof(struct form_data));
}

struct form_data *form_data_new_plain(void)
{
	struct form_data *f = form_data_new();

	if (f)
		f->plain = true;
	return f;
}

static void part_free(struct form_part *p)
{
	free(p->head);
	free(p->name);
	free(p->filename);
	free(p->content_type);
	free(p->owned);
	if (p->unref)
		p->unref(p->ref);
}

void form_data_free(struct form_data *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		part_free(&f->parts[i]);
	free(f->parts);
	free(f->blob);
	free(f->flat);
	free(f);
}

static struct form_part *part_new(struct form_data *f, const char *name, const char *filename,
                                  const char *content_type)
{
	struct form_part *p;

	if (f->finished)
		return NULL;
	struct form_part *parts = grow_array(f->parts, &f->cap, f->n, sizeof(*parts), 16);
	if (!parts)
		return NULL;
	f->parts = parts;
	p = &parts[f->n];
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	p->filename = filename ? strdup(filename) : NULL;
	p->content_type = content_type ? strdup(content_type) : NULL;
	if (!p->name || (filename && !p->filename) || (content_type && !p->content_type)) {
		part_free(p);
		return NULL;
	}
	f->n++;
	return p;
}

int form_data_add_owned(struct form_data *f, const char *name, char *value, size_t len,
                        const char *filename, const char *content_type)
{
	struct form_part *p = part_new(f, name, filename, content_type);

	if (!p) {
		free(value);
		return -1;
	}
	p->owned = value;
	p->data = value ? value : "";
	p->len = value ? len : 0;
	return (int)(f->n - 1);
}

int form_data_add_ref(struct form_data *f, const char *name, const char *data, size_t len,
                      void *ref, void (*unref)(void *ref))
{
	struct form_part *p = part_new(f, name, NULL, NULL);

	if (!p) {
		unref(ref);
		return -1;
	}
	p->data = data;
	p->len = len;
	p->ref = ref;
	p->unref = unref;
	return (int)(f->n - 1);
}

int form_data_add(struct form_data *f, const char *name, const char *value, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -1;
	if (len)
		memcpy(copy, value, len);
	copy[len] = '\0';
	return form_data_add_owned(f, name, copy, len, NULL, NULL);
}

/* The laid-out copy no longer says what the parts do: made again at the next setup. */
static void forget_flat(struct form_data *f)
{
	free(f->flat);
	f->flat = NULL;
}

void form_data_set_blob(struct form_data *f, char *blob, size_t len)
{
	forget_flat(f);
	free(f->blob);
	f->blob = blob;
	f->blob_len = len;
}

int form_data_add_blob(struct form_data *f, const char *name)
{
	struct form_part *p = part_new(f, name, NULL, NULL);

	if (!p)
		return -1;
	p->data = f->blob ? f->blob : "";
	p->len = f->blob ? f->blob_len : 0;
	return (int)(f->n - 1);
}

int form_data_set_type(struct form_data *f, size_t i, const char *content_type)
{
	char *t;

	if (i >= f->n || f->finished || !(t = strdup(content_type)))
		return -1;
	free(f->parts[i].content_type);
	f->parts[i].content_type = t;
	return 0;
}

void form_data_set(struct form_data *f, size_t i, const char *data, size_t len)
{
	if (i >= f->n)
		return;
	f->parts[i].data = data;
	f->parts[i].len = len;
	forget_flat(f);
	form_data_rewind(f);
}

/* A name or file name inside the quoted Content-Disposition parameter. */
static void put_quoted(FILE *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '"')
			fputs("%22", o);
		else if (*s == '\r')
			fputs("%0D", o);
		else if (*s == '\n')
			fputs("%0A", o);
		else
			fputc(*s, o);
	}
}

/* Media types come from the parsed message or from us: no control character gets through. */
static void put_token(FILE *o, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '_' : *s, o);
}

static int write_head(const struct form_data *f, struct form_part *p)
{
	FILE *o = open_memstream(&p->head, &p->head_len);

	if (!o)
		return -1;
	fprintf(o, "--%s\r\nContent-Disposition: form-data; name=\"", f->boundary);
	put_quoted(o, p->name);
	fputc('"', o);
	if (p->filename) {
		fputs("; filename=\"", o);
		put_quoted(o, p->filename);
		fputc('"', o);
	}
	fputs("\r\n", o);
	if (p->content_type) {
		fputs("Content-Type: ", o);
		put_token(o, p->content_type);
		fputs("\r\n", o);
	}
	fputs("\r\n", o);
	if (fclose(o) != 0)
		return -1;
	return p->head ? 0 : -1;
}

static bool boundary_used(const struct form_data *f)
{
	size_t bl = strlen(f->boundary);

	for (size_t i = 0; i < f->n; i++)
		if (f->parts[i].len >= bl &&
		    memmem(f->parts[i].data, f->parts[i].len, f->boundary, bl))
			return true;
	return false;
}

static int pick_boundary(struct form_data *f)
{
	static const char hex[] = "0123456789abcdef";

	for (int t = 0; t < FORM_DATA_BOUNDARY_TRIES; t++) {
		unsigned char rnd[16];
		char *b = f->boundary;

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return -1;
		memcpy(b, "smtpgw-", 7);
		for (size_t i = 0; i < sizeof(rnd); i++) {
			b[7 + 2 * i] = hex[rnd[i] >> 4];
			b[8 + 2 * i] = hex[rnd[i] & 15];
		}
		b[7 + 2 * sizeof(rnd)] = '\0';
		if (!boundary_used(f))
			return 0;
	}
	return -1; /* a value holds every boundary we drew: refuse rather than cut it */
}

int form_data_finish(struct form_data *f)
{
	if (f->finished)
		return 0;
	if (f->plain) { /* nothing delimits the segments: no boundary, no heads */
		f->finished = true;
		form_data_rewind(f);
		return 0;
	}
	if (pick_boundary(f) < 0)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		if (write_head(f, &f->parts[i]) < 0)
			return -1;
	f->finished = true;
	form_data_rewind(f);
	return 0;
}

/* "--" boundary "--" CRLF after the last part. */
static size_t tail_len(const struct form_data *f)
{
	return f->plain ? 0 : 2 + strlen(f->boundary) + 4;
}

uint64_t form_data_length(const struct form_data *f)
{
	uint64_t n = tail_len(f);

	for (size_t i = 0; i < f->n; i++)
		n += f->parts[i].head_len + f->parts[i].len + (f->plain ? 0 : 2);
	return n;
}

void form_data_rewind(struct form_data *f)
{
	f->pos = f->at = f->seg = f->seg_off = 0;
}

/* Segment seg of part at (at == n: the closing delimiter). */
static const char *segment(const struct form_data *f, size_t at, size_t seg, size_t *len,
                           char *tail, size_t tailsz)
{
	if (at == f->n) {
		*len = f->plain ? 0 : (size_t)snprintf(tail, tailsz, "--%s--\r\n", f->boundary);
		return tail;
	}
	if (seg == 0) {
		*len = f->parts[at].head_len;
		return f->parts[at].head ? f->parts[at].head : ""; /* plain: no head */
	}
	if (seg == 1) {
		*len = f->parts[at].len;
		return f->parts[at].data;
	}
	*len = f->plain ? 0 : 2;
	return "\r\n";
}

size_t form_data_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct form_data *f = arg;
	size_t want = size * nitems, got = 0;
	char tail[FORM_DATA_BOUNDARY_SIZE + 8];

	while (got < want && f->at <= f->n) {
		size_t len, n;
		const char *s = segment(f, f->at, f->seg, &len, tail, sizeof(tail));

		n = len - f->seg_off;
		if (n > want - got)
			n = want - got;
		memcpy(buf + got, s + f->seg_off, n);
		got += n;
		f->seg_off += n;
		if (f->seg_off == len) {
			f->seg_off = 0;
			if (f->at == f->n || ++f->seg == 3) {
				f->seg = 0;
				f->at++;
			}
		}
	}
	f->pos += got;
	return got;
}

int form_data_seek(void *arg, curl_off_t offset, int origin)
{
	struct form_data *f = arg;
	char sink[16384];

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > form_data_length(f))
		return CURL_SEEKFUNC_CANTSEEK;
	form_data_rewind(f);
	while (f->pos < (size_t)offset) {
		size_t n = (size_t)offset - f->pos;
		if (form_data_read(sink, 1, n < sizeof(sink) ? n : sizeof(sink), f) == 0)
			return CURL_SEEKFUNC_FAIL;
	}
	return CURL_SEEKFUNC_OK;
}

int form_data_each(const struct form_data *f, int (*cb)(void *arg, const char *p, size_t n),
                   void *arg)
{
	char tail[FORM_DATA_BOUNDARY_SIZE + 8];

	for (size_t at = 0; at <= f->n; at++)
		for (size_t seg = 0; seg < (at == f->n ? 1u : 3u); seg++) {
			size_t len;
			const char *s = segment(f, at, seg, &len, tail, sizeof(tail));
			if (len && cb(arg, s, len) < 0)
				return -1;
		}
	return 0;
}

static int flat_chunk(void *arg, const char *p, size_t n)
{
	char **at = arg;
	memcpy(*at, p, n);
	*at += n;
	return 0;
}

uint64_t form_data_held(const struct form_data *f)
{
	uint64_t n = form_data_length(f);
	return n <= FORM_DATA_FLAT_MAX && !f->stream_only ? 2 * n : n;
}

/*
 * A small body is given to libcurl whole (CURLOPT_POSTFIELDS): it then
 * leaves in one send with the request's headers. Through the read callback
 * libcurl sends the headers first and the body after, two segments and two
 * wake-ups of the receiver for every message. A bigger body streams, as a
 * copy would double what it holds.
 */
void form_data_setup(struct form_data *f, CURL *easy)
{
	uint64_t len = form_data_length(f);

	form_data_rewind(f);
	if (len <= FORM_DATA_FLAT_MAX && !f->stream_only && !f->flat &&
	    (f->flat = malloc((size_t)len + 1)) != NULL) {
		char *at = f->flat;
		form_data_each(f, flat_chunk, &at);
	}
	if (f->flat) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, f->flat);
		return;
	}
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(easy, CURLOPT_READFUNCTION, form_data_read);
	curl_easy_setopt(easy, CURLOPT_READDATA, f);
	curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, form_data_seek);
	curl_easy_setopt(easy, CURLOPT_SEEKDATA, f);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_data_length(f));
}
