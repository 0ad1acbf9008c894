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
 * the file is moved to prepend a header, unless the fields outgrow the
 * head room (then the message moves once, widen_head()).
 *
 * Forged Authentication-Results fields are cut out of the header the same
 * way (smtp_msg_cut()): the header bytes before them move towards the body,
 * the body itself never moves, and the body's start (skip) moves forward.
 *
 * Never: grow the heap buffer past the threshold, leave a named file on
 * disk, read the spill file back into the heap (cut moves bounded chunks).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp_msg.h"

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

/* Moves len bytes from file offset from to offset to (to > from), last chunk first. */
static int file_move_up(int fd, size_t from, size_t to, size_t len)
{
	char buf[16384];
	while (len) {
		size_t n = len < sizeof buf ? len : sizeof buf;
		len -= n;
		if (pread(fd, buf, n, (off_t)(from + len)) != (ssize_t)n ||
		    pwrite(fd, buf, n, (off_t)(to + len)) != (ssize_t)n)
			return -1;
	}
	return 0;
}

static int move_up(struct smtp_msg *m, size_t from, size_t to, size_t len)
{
	size_t base = SMTP_MSG_HEAD_ROOM + m->skip;
	if (m->fd >= 0)
		return file_move_up(m->fd, base + from, base + to, len);
	memmove(m->mem + base + to, m->mem + base + from, len);
	return 0;
}

int smtp_msg_cut(struct smtp_msg *m, const size_t *ranges, size_t n)
{
	uint64_t size = smtp_msg_size(m);
	size_t removed = 0, prev = 0;
	if (m->failed || m->head)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (ranges[2 * i] < prev || ranges[2 * i + 1] < ranges[2 * i] ||
		    ranges[2 * i + 1] > size)
			goto fail;
		removed += ranges[2 * i + 1] - ranges[2 * i];
		prev = ranges[2 * i + 1];
	}
	/* Segment i (between range i-1 and range i) moves up by what ranges i.. remove. */
	size_t shift = 0;
	for (size_t i = n; i-- > 0;) {
		size_t seg_start = i ? ranges[2 * i - 1] : 0, seg_end = ranges[2 * i];
		shift += ranges[2 * i + 1] - ranges[2 * i];
		if (move_up(m, seg_start, seg_start + shift, seg_end - seg_start))
			goto fail;
	}
	if (m->map) { /* the mapping may predate the moves: map again when viewed */
		munmap(m->map, m->maplen);
		m->map = NULL;
	}
	m->skip += removed;
	return 0;
fail:
	m->failed = true;
	return -1;
}

/*
 * The rare fields that do not fit the head room (many long DKIM results in
 * Authentication-Results): everything from the prepended fields on moves
 * up by extra octets, once, and skip grows by as much, so the body keeps
 * its offsets relative to SMTP_MSG_HEAD_ROOM + skip.
 */
static int widen_head(struct smtp_msg *m, size_t extra)
{
	size_t from = SMTP_MSG_HEAD_ROOM + m->skip - m->head;
	if (m->fd >= 0) {
		if (file_move_up(m->fd, from, from + extra, (size_t)m->flen - from))
			return -1;
		m->flen += extra;
		if (m->map) {
			munmap(m->map, m->maplen);
			m->map = NULL;
		}
	} else {
		char *p = realloc(m->mem, m->len + extra);
		if (!p)
			return -1;
		m->mem = p;
		m->cap = m->len + extra;
		memmove(m->mem + from + extra, m->mem + from, m->len - from);
		m->len += extra;
	}
	m->skip += extra;
	return 0;
}

int smtp_msg_prepend(struct smtp_msg *m, const char *p, size_t n)
{
	if (m->failed || start(m))
		goto fail;
	size_t room = SMTP_MSG_HEAD_ROOM + m->skip - m->head;
	if (n > room && widen_head(m, (n - room + 4095) / 4096 * 4096))
		goto fail;
	size_t off = SMTP_MSG_HEAD_ROOM + m->skip - m->head - n;
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
	return (m->fd >= 0 ? m->flen : m->len) - SMTP_MSG_HEAD_ROOM - m->skip;
}

int smtp_msg_view(struct smtp_msg *m, struct message_bytes *out)
{
	if (m->failed || start(m))
		return -1;
	size_t off = SMTP_MSG_HEAD_ROOM + m->skip - m->head;
	if (m->fd < 0) {
		out->data = m->mem + off;
		out->len = m->len - off;
		out->mapped = false;
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
	out->mapped = true; /* PROT_READ, MAP_PRIVATE: never written, so never a private copy */
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

/* The bytes of a held message: the heap buffer or the mapping, whichever it had. */
struct msg_hold {
	struct message_hold h;
	char *mem;
	void *map;
	size_t maplen;
};

static void hold_release(struct message_hold *h)
{
	struct msg_hold *mh = (struct msg_hold *)h;

	if (mh->map)
		munmap(mh->map, mh->maplen);
	free(mh->mem);
	free(mh);
}

struct message_hold *smtp_msg_hold(struct smtp_msg *m)
{
	struct msg_hold *mh;

	if (m->hold)
		return m->hold;
	if (m->failed || !m->started || (m->fd >= 0 && !m->map) || !(mh = calloc(1, sizeof(*mh))))
		return NULL;
	atomic_init(&mh->h.refs, 1); /* the store's own, dropped by smtp_msg_free() */
	mh->h.release = hold_release;
	mh->mem = m->mem;
	mh->map = m->map;
	mh->maplen = m->maplen;
	m->hold = &mh->h;
	return m->hold;
}

void smtp_msg_free(struct smtp_msg *m)
{
	if (m->hold) { /* the bytes are the hold's: a delivery may still read them */
		message_hold_unref(m->hold);
	} else {
		if (m->map)
			munmap(m->map, m->maplen);
		free(m->mem);
	}
	if (m->fd >= 0)
		close(m->fd); /* a mapping outlives its descriptor */
	smtp_msg_init(m, m->threshold);
}
