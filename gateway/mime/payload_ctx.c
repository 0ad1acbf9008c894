/*
 * payload_ctx.c: what every stage of one payload_build()/payload_write()
 * call shares through its struct pctx: the warning list (deduplicated,
 * bounded by PAYLOAD_MAX_WARNINGS), the values deferred to dump time, and
 * the tree's out-of-memory mark.
 *
 * Below every stage (it calls payload_buf.c and payload_utf8.c only), so
 * that the stages call down to it and never round in a circle (issue 12).
 *
 * It also hands the input's pages back to the kernel as a big message is
 * read (pctx_input_progress), when the caller said it is a file mapping.
 *
 * Must never: keep state outside the pctx, let a warning carry bytes that
 * are not UTF-8, keep more than PAYLOAD_MAX_WARNINGS + 1 warnings, or
 * give back pages of an input that is not a read-only file mapping.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "payload_int.h"

static bool warning_known(json_t *list, const char *code, const char *msg)
{
	size_t i;
	json_t *w;
	json_array_foreach(list, i, w)
	{
		if (strcmp(json_string_value(json_object_get(w, "code")), code) == 0 &&
		    strcmp(json_string_value(json_object_get(w, "message")), msg) == 0)
			return true;
	}
	return false;
}

void pctx_warn(struct pctx *c, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->warn_full)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_array_size(c->warnings) >= PAYLOAD_MAX_WARNINGS) {
		c->warn_full = true;
		code = "warnings_truncated";
		snprintf(msg, sizeof(msg), "more than %d distinct warnings; the rest were dropped",
		         PAYLOAD_MAX_WARNINGS);
	}
	/* msg may hold message bytes (a charset name, a header name): keep it UTF-8 */
	struct pbuf b = {.max = sizeof(msg) * 3};
	size_t replaced;
	if (putf8_sanitize(msg, strlen(msg), &b, &replaced) < 0 || pbuf_add(&b, "", 1) < 0) {
		c->oom = 1;
		pbuf_free(&b);
		return;
	}
	static const char *const keys[] = {"code", "message"};
	if (!warning_known(c->warnings, code, b.p)) {
		json_t *v[] = {json_string(code), json_string(b.p)};
		if (json_array_append_new(c->warnings, json_object_of(keys, v, 2)) < 0)
			c->oom = 1;
	}
	pbuf_free(&b);
}

int pctx_defer(struct pctx *c, json_t *placeholder, GMimeObject *part, const char *raw,
               size_t raw_len)
{
	struct pdeferred *d =
	    parray_room(c->deferred, &c->cap_deferred, c->n_deferred, sizeof(*d), 8);
	if (!d)
		return -1;
	c->deferred = d;
	c->deferred[c->n_deferred++] = (struct pdeferred){
	    .placeholder = placeholder, .part = part, .raw = raw, .raw_len = raw_len};
	return 0;
}

json_t *pctx_defer_list(struct pctx *c, enum pdefer_list list)
{
	json_t *p = json_string(PLACEHOLDER);
	if (!p || pctx_defer(c, p, NULL, NULL, 0) < 0) {
		json_decref(p);
		return NULL;
	}
	c->deferred[c->n_deferred - 1].list = list;
	return p;
}

/* Takes text (malloc'd) on success and on failure alike. */
int pctx_defer_text(struct pctx *c, json_t *placeholder, char *text, size_t len)
{
	if (pctx_defer(c, placeholder, NULL, NULL, 0) < 0) {
		free(text);
		return -1;
	}
	c->deferred[c->n_deferred - 1].text = text;
	c->deferred[c->n_deferred - 1].text_len = len;
	return 0;
}

int pctx_defer_slice(struct pctx *c, json_t *placeholder, const char *text, size_t len)
{
	if (pctx_defer(c, placeholder, NULL, NULL, 0) < 0)
		return -1;
	struct pdeferred *d = &c->deferred[c->n_deferred - 1];
	d->text = (char *)(uintptr_t)text; /* never written through nor freed: borrowed */
	d->text_len = len;
	d->borrowed = true;
	return 0;
}

/* json_object_set_new_nocheck for literal keys; a NULL value marks the tree out of memory */
void pctx_put(struct pctx *c, json_t *o, const char *key, json_t *v)
{
	if (!o || !v || json_object_set_new_nocheck(o, key, v) < 0)
		c->oom = 1;
}

json_t *pctx_placeholder(void)
{
	return json_string(PLACEHOLDER);
}

/*
 * The input is a read-only file mapping (payload_options.input_mapped):
 * dropping its pages loses nothing, a later read faults them back in from
 * the file. Only whole pages inside the input: the bytes around it may be
 * someone else's.
 */
void pctx_give_back_input(struct pctx *c)
{
	if (!c->opt->input_mapped || !c->msg || c->msg->len == 0)
		return;
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
	uintptr_t start = ((uintptr_t)c->msg->data + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)c->msg->data + c->msg->len) & ~(page - 1);
	if (end > start)
		madvise((void *)start, end - start,
		        MADV_DONTNEED); /* a hint: failure is harmless */
	c->input_read = 0;
}

void pctx_input_progress(struct pctx *c, size_t n)
{
	if (!c->opt->input_mapped)
		return;
	c->input_read += n;
	if (c->input_read >= GIVE_BACK_CHUNK)
		pctx_give_back_input(c);
}

int pctx_progress_sink(void *arg, const char *p, size_t n)
{
	struct pprogress *g = arg;
	pctx_input_progress(g->c, n);
	return g->sink(g->arg, p, n);
}
