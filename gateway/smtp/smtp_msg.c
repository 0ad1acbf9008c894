/*
 * smtp_msg.c: the bytes of one message while it is received. Kept in
 * memory up to limits.memory_threshold, then spilled to an unlinked
 * temporary file ($TMPDIR or /tmp) that is mmap()ed read-only for the
 * delivery, so a large message costs page cache, not heap.
 *
 * The first SMTP_MSG_HEAD_ROOM bytes (memory or file) are kept free for
 * the trace fields written at the end of data (Received:, and
 * Authentication-Results: once sender authentication is wired in): they
 * are written right-aligned in front of the body, so neither the heap nor
 * the file is ever moved to prepend a header.
 *
 * Never: grow the heap buffer past the threshold, leave a named file on
 * disk, read the spill file back into the heap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp_int.h"

void smtp_msg_init(struct smtp_msg *m, uint64_t threshold)
{
	memset(m, 0, sizeof *m);
	m->fd = -1;
	m->threshold = threshold;
}

static int open_spill(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* Filesystems without O_TMPFILE: create, then unlink at once. */
	char path[4096];
	size_t dl = strlen(dir);
	const char tmpl[] = "/smtpgw-XXXXXX";
	if (dl + sizeof tmpl > sizeof path)
		return -1;
	memcpy(path, dir, dl);
	memcpy(path + dl, tmpl, sizeof tmpl);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int spill(struct smtp_msg *m)
{
	m->fd = open_spill();
	if (m->fd < 0 || write_all(m->fd, m->mem, m->len))
		return -1;
	m->flen = m->len;
	free(m->mem);
	m->mem = NULL;
	m->len = m->cap = 0;
	return 0;
}

static int grow(struct smtp_msg *m, size_t need)
{
	size_t cap = m->cap ? m->cap : 4096 + SMTP_MSG_HEAD_ROOM;
	size_t max = (size_t)m->threshold + SMTP_MSG_HEAD_ROOM;
	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	char *p = realloc(m->mem, cap);
	if (!p)
		return -1;
	m->mem = p;
	m->cap = cap;
	return 0;
}

/* The head room exists from the first byte on. */
static int start(struct smtp_msg *m)
{
	if (m->started)
		return 0;
	m->started = true;
	if (grow(m, SMTP_MSG_HEAD_ROOM))
		return -1;
	m->len = SMTP_MSG_HEAD_ROOM;
	return 0;
}

int smtp_msg_append(struct smtp_msg *m, const char *p, size_t n)
{
	if (m->failed || start(m))
		goto fail;
	if (m->fd < 0 && smtp_msg_size(m) + n > m->threshold && spill(m))
		goto fail;
	if (m->fd >= 0) {
		if (write_all(m->fd, p, n))
			goto fail;
		m->flen += n;
		return 0;
	}
	if (m->len + n > m->cap && grow(m, m->len + n))
		goto fail;
	memcpy(m->mem + m->len, p, n);
	m->len += n;
	return 0;
fail:
	m->failed = true;
	return -1;
}

int smtp_msg_prepend(struct smtp_msg *m, const char *p, size_t n)
{
	if (m->failed || start(m) || n > SMTP_MSG_HEAD_ROOM - m->head)
		goto fail;
	size_t off = SMTP_MSG_HEAD_ROOM - m->head - n;
	if (m->fd >= 0) {
		if (pwrite(m->fd, p, n, (off_t)off) != (ssize_t)n)
			goto fail;
	} else {
		memcpy(m->mem + off, p, n);
	}
	m->head += n;
	return 0;
fail:
	m->failed = true;
	return -1;
}

uint64_t smtp_msg_size(const struct smtp_msg *m)
{
	if (!m->started)
		return 0;
	return (m->fd >= 0 ? m->flen : m->len) - SMTP_MSG_HEAD_ROOM;
}

int smtp_msg_view(struct smtp_msg *m, struct message_bytes *out)
{
	if (m->failed || start(m))
		return -1;
	size_t off = SMTP_MSG_HEAD_ROOM - m->head;
	if (m->fd < 0) {
		out->data = m->mem + off;
		out->len = m->len - off;
		return 0;
	}
	if (!m->map) {
		void *p = mmap(NULL, (size_t)m->flen, PROT_READ, MAP_PRIVATE, m->fd, 0);
		if (p == MAP_FAILED)
			return -1;
		m->map = p;
		m->maplen = (size_t)m->flen;
	}
	out->data = (const char *)m->map + off;
	out->len = m->maplen - off;
	return 0;
}

int smtp_msg_body(struct smtp_msg *m, struct message_bytes *out)
{
	if (smtp_msg_view(m, out))
		return -1;
	out->data += m->head;
	out->len -= m->head;
	return 0;
}

void smtp_msg_free(struct smtp_msg *m)
{
	if (m->map)
		munmap(m->map, m->maplen);
	if (m->fd >= 0)
		close(m->fd);
	free(m->mem);
	smtp_msg_init(m, m->threshold);
}
