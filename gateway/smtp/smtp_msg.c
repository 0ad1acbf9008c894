/*
 * smtp_msg.c: the bytes of one message while it is received. Kept in
 * memory up to limits.memory_threshold, then spilled to an unlinked
 * temporary file ($TMPDIR or /tmp) that is mmap()ed read-only for the
 * delivery, so a large message costs page cache, not heap.
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
	size_t cap = m->cap ? m->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > m->threshold)
		cap = (size_t)m->threshold;
	char *p = realloc(m->mem, cap);
	if (!p)
		return -1;
	m->mem = p;
	m->cap = cap;
	return 0;
}

int smtp_msg_append(struct smtp_msg *m, const char *p, size_t n)
{
	if (m->failed)
		return -1;
	if (m->fd < 0 && (uint64_t)m->len + n > m->threshold && spill(m))
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

uint64_t smtp_msg_size(const struct smtp_msg *m)
{
	return m->fd >= 0 ? m->flen : m->len;
}

int smtp_msg_view(struct smtp_msg *m, struct message_bytes *out)
{
	if (m->failed)
		return -1;
	if (m->fd < 0) {
		out->data = m->mem ? m->mem : "";
		out->len = m->len;
		return 0;
	}
	if (!m->map) {
		void *p = mmap(NULL, (size_t)m->flen, PROT_READ, MAP_PRIVATE, m->fd, 0);
		if (p == MAP_FAILED)
			return -1;
		m->map = p;
		m->maplen = (size_t)m->flen;
	}
	out->data = m->map;
	out->len = m->maplen;
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
