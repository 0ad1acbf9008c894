/*
 * form_data.h: a multipart/form-data body (RFC 7578), or a body of plain
 * segments, that is never written out whole: it is a list of parts, read in
 * order by libcurl's read callback (gateway/webhook/form_data.c).
 */
#ifndef FORM_DATA_H
#define FORM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>

/* "smtpgw-" + 32 hex digits + NUL */
#define FORM_DATA_BOUNDARY_SIZE 40

struct form_part {
	char *head; /* "--boundary" CRLF, Content-Disposition (and Content-Type) CRLF CRLF */
	size_t head_len;
	char *name, *filename, *content_type; /* filename and content_type: file parts only */
	const char *data;                     /* the value: owned or a slice of the form's blob */
	size_t len;
	char *owned; /* data's allocation when the part owns it */
	void *ref;   /* or what keeps data alive (a JSON string), released by unref */
	void (*unref)(void *ref);
};

struct form_data {
	struct form_part *parts;
	size_t n, cap;
	char boundary[FORM_DATA_BOUNDARY_SIZE];
	char *blob; /* one big owned value (the raw message) that parts may slice */
	size_t blob_len;
	bool plain;     /* segments only: no heads, delimiters or boundary (form_data_new_plain) */
	bool finished;  /* heads written: no part may be added any more */
	size_t pos;     /* the read cursor: bytes already handed to libcurl */
	size_t at, seg; /* cursor as part index and segment (0 head, 1 data, 2 CRLF) */
	size_t seg_off; /* bytes of that segment already read */
	char *flat;     /* a small body laid out whole for libcurl (form_data_setup), or NULL */
	bool stream_only; /* never laid out: the copy did not fit max_delivery_memory */
};

/* Returns a new empty form, or NULL. */
struct form_data *form_data_new(void);

/*
 * Returns a new empty body of plain segments, or NULL: the parts' values
 * one after another, nothing between them (format raw: our head fields,
 * then the message itself borrowed through form_data_add_ref). Names are
 * not sent; every other function works as for a form.
 */
struct form_data *form_data_new_plain(void);
void form_data_free(struct form_data *f);

/*
 * Adds a text field, the value copied. Returns the part's index, or -1
 * (out of memory, or the form is finished).
 */
int form_data_add(struct form_data *f, const char *name, const char *value, size_t len);
static inline int form_data_add0(struct form_data *f, const char *name, const char *value)
{
	return form_data_add(f, name, value ? value : "", value ? __builtin_strlen(value) : 0);
}

/* Adds a field whose value the form takes over (value was malloc'd; freed on -1 too). */
int form_data_add_owned(struct form_data *f, const char *name, char *value, size_t len,
                        const char *filename, const char *content_type);

/*
 * Adds a text field whose value is borrowed: data stays valid while ref is
 * held; the form calls unref(ref) when it is freed (and on -1).
 */
int form_data_add_ref(struct form_data *f, const char *name, const char *data, size_t len,
                      void *ref, void (*unref)(void *ref));

/* Adds a text field whose value is the form's blob (form_data_set_blob), not copied. */
int form_data_add_blob(struct form_data *f, const char *name);

/* Hands the form one malloc'd buffer (the message) for form_data_add_blob. */
void form_data_set_blob(struct form_data *f, char *blob, size_t len);

/* Gives part i a Content-Type (before form_data_finish). Returns 0 or -1. */
int form_data_set_type(struct form_data *f, size_t i, const char *content_type);

/*
 * Points part i at another value (per-attempt fields such as Mailgun's
 * timestamp); data must outlive the form's next read. Resets the cursor.
 */
void form_data_set(struct form_data *f, size_t i, const char *data, size_t len);

/*
 * Picks a boundary that occurs in no value (random, up to a few tries;
 * -1 if each one did) and writes each part's head. Returns 0 or -1.
 */
int form_data_finish(struct form_data *f);

/* The body's exact length (after form_data_finish). */
uint64_t form_data_length(const struct form_data *f);

/* Rewinds the read cursor (at each attempt). */
void form_data_rewind(struct form_data *f);

/* CURLOPT_READFUNCTION and CURLOPT_SEEKFUNCTION (arg: the form). */
size_t form_data_read(char *buf, size_t size, size_t nitems, void *arg);
int form_data_seek(void *arg, curl_off_t offset, int origin);

/* The largest body form_data_setup() lays out whole rather than streams. */
#define FORM_DATA_FLAT_MAX (64 * 1024)

/*
 * Rewinds f and makes it easy's request body: up to FORM_DATA_FLAT_MAX
 * bytes laid out whole (kept until f changes or is freed), above that read
 * by the callbacks above.
 */
void form_data_setup(struct form_data *f, CURL *easy);

/* What f holds for its request: its length, and the laid-out copy of a small body. */
uint64_t form_data_held(const struct form_data *f);

/* Hands every byte of the body to cb, in order, chunk by chunk. Returns 0, or cb's -1. */
int form_data_each(const struct form_data *f, int (*cb)(void *arg, const char *p, size_t n),
                   void *arg);

#endif
