/*
 * dns_wire.c: a DNS response, as c-ares hands it over, to a dns_answer.
 *
 * RFC 1035 sections 4.1 (message format) and 4.1.4 (compression), RFC 2308
 * section 5 (negative answers carry their TTL in the SOA of the authority
 * section), RFC 1034 section 3.6.2 (CNAME chains). Parsing the raw answer
 * ourselves gives TTLs, rcode and SOA uniformly for every type.
 *
 * Never reads past len, never follows a compression pointer forward or
 * more than DNS_PTR_HOPS times, never keeps more than DNS_MAX_RR records.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dns_int.h"

#define DNS_HDR_LEN        12
#define DNS_PTR_HOPS       64
#define DNS_RCODE_NXDOMAIN 3
#define DNS_TYPE_CNAME     5
#define DNS_TYPE_SOA       6
#define DNS_CLASS_IN       1

struct wire {
	const unsigned char *buf;
	size_t len;
};

/* One resource record's header, with where its owner name and rdata start. */
struct wire_rr {
	size_t owner;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata;
	uint16_t rdlen;
};

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Offset just past the (possibly compressed) name at off, or 0 when malformed. */
static size_t wire_skip_name(const struct wire *w, size_t off)
{
	while (off < w->len) {
		unsigned char l = w->buf[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= w->len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1u + l;
	}
	return 0;
}

/*
 * Expands the name at off into out (DNS_NAME_MAX + 1 bytes), lower case,
 * without the trailing dot; the root is "". Returns 0 or -1. A label holding
 * a dot or a NUL could not be told apart from two labels, so it is refused.
 */
static int wire_name(const struct wire *w, size_t off, char *out)
{
	size_t n = 0;
	int hops = 0;

	for (;;) {
		if (off >= w->len)
			return -1;
		unsigned char l = w->buf[off];
		if (l == 0)
			break;
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= w->len || ++hops > DNS_PTR_HOPS)
				return -1;
			size_t to = (size_t)((l & 0x3f) << 8) | w->buf[off + 1];
			if (to >= off)
				return -1; /* forward or self pointers make loops */
			off = to;
			continue;
		}
		if (l & 0xc0 || off + 1 + l > w->len)
			return -1;
		if (n + (n ? 1u : 0u) + l > DNS_NAME_MAX)
			return -1;
		if (n)
			out[n++] = '.';
		for (unsigned i = 0; i < l; i++) {
			unsigned char c = w->buf[off + 1 + i];
			if (c == '.' || c == 0)
				return -1;
			out[n++] = (char)tolower(c);
		}
		off += 1u + l;
	}
	out[n] = '\0';
	return 0;
}

/* Reads the record header at *off and moves *off past the record. */
static int wire_rr_at(const struct wire *w, size_t *off, struct wire_rr *rr)
{
	size_t p = wire_skip_name(w, *off);
	if (!p || p + 10 > w->len)
		return -1;
	rr->owner = *off;
	rr->type = get16(w->buf + p);
	rr->class = get16(w->buf + p + 2);
	rr->ttl = get32(w->buf + p + 4);
	if (rr->ttl > 0x7fffffffu)
		rr->ttl = 0; /* RFC 2181 section 8 */
	rr->rdlen = get16(w->buf + p + 8);
	rr->rdata = p + 10;
	if (rr->rdata + rr->rdlen > w->len)
		return -1;
	*off = rr->rdata + rr->rdlen;
	return 0;
}

struct parse {
	struct wire w;
	size_t an, ns; /* offsets of the answer and authority sections */
	unsigned ancount, nscount;
	char cur[DNS_NAME_MAX + 1]; /* the name the chain has reached */
	uint32_t ttl;
};

static int parse_header(struct parse *p, int *rcode)
{
	const struct wire *w = &p->w;
	if (w->len < DNS_HDR_LEN || !(w->buf[2] & 0x80))
		return -1;
	*rcode = w->buf[3] & 0x0f;
	unsigned qd = get16(w->buf + 4);
	p->ancount = get16(w->buf + 6);
	p->nscount = get16(w->buf + 8);
	if (qd != 1)
		return -1;
	size_t off = wire_skip_name(w, DNS_HDR_LEN);
	if (!off || off + 4 > w->len)
		return -1;
	if (wire_name(w, DNS_HDR_LEN, p->cur) < 0)
		return -1;
	p->an = off + 4;
	struct wire_rr rr;
	off = p->an;
	for (unsigned i = 0; i < p->ancount; i++)
		if (wire_rr_at(w, &off, &rr) < 0)
			return -1;
	p->ns = off;
	return 0;
}

/* Follows CNAMEs owned by p->cur; bounded by DNS_MAX_CNAME. */
static int parse_chain(struct parse *p)
{
	char owner[DNS_NAME_MAX + 1];
	for (int hop = 0; hop < DNS_MAX_CNAME; hop++) {
		size_t off = p->an;
		bool moved = false;
		for (unsigned i = 0; i < p->ancount && !moved; i++) {
			struct wire_rr rr;
			if (wire_rr_at(&p->w, &off, &rr) < 0)
				return -1;
			if (rr.type != DNS_TYPE_CNAME || rr.class != DNS_CLASS_IN)
				continue;
			if (wire_name(&p->w, rr.owner, owner) < 0 || strcmp(owner, p->cur) != 0)
				continue;
			if (wire_name(&p->w, rr.rdata, p->cur) < 0)
				return -1;
			if (rr.ttl < p->ttl)
				p->ttl = rr.ttl;
			moved = true;
		}
		if (!moved)
			return 0;
	}
	return 0;
}

static bool rr_wanted(const struct parse *p, const struct wire_rr *rr, enum dns_type type)
{
	char owner[DNS_NAME_MAX + 1];
	if (rr->type != (uint16_t)type || rr->class != DNS_CLASS_IN)
		return false;
	return wire_name(&p->w, rr->owner, owner) == 0 && strcmp(owner, p->cur) == 0;
}

/* Decodes one record's rdata into out, strings into the arena at *used. */
static int rr_decode(const struct parse *p, const struct wire_rr *rr, enum dns_type type,
                     struct dns_rr *out, char *arena, size_t *used)
{
	const unsigned char *d = p->w.buf + rr->rdata;
	char *s = arena + *used;

	switch (type) {
	case DNS_T_A:
		if (rr->rdlen != 4)
			return -1;
		memcpy(&out->u.a, d, 4);
		return 0;
	case DNS_T_AAAA:
		if (rr->rdlen != 16)
			return -1;
		memcpy(&out->u.aaaa, d, 16);
		return 0;
	case DNS_T_MX:
		if (rr->rdlen < 3 || wire_name(&p->w, rr->rdata + 2, s) < 0)
			return -1;
		out->u.mx.preference = get16(d);
		out->u.mx.host = s;
		break;
	case DNS_T_PTR:
		if (wire_name(&p->w, rr->rdata, s) < 0)
			return -1;
		out->u.ptr = s;
		break;
	case DNS_T_TXT: {
		size_t n = 0;
		for (size_t i = 0; i < rr->rdlen;) {
			size_t l = d[i];
			if (i + 1 + l > rr->rdlen)
				return -1;
			memcpy(s + n, d + i + 1, l);
			n += l;
			i += 1 + l;
		}
		s[n] = '\0';
		out->u.txt.data = s;
		out->u.txt.len = n;
		*used += n + 1;
		return 0;
	}
	}
	*used += strlen(s) + 1;
	return 0;
}

static int parse_records(struct parse *p, enum dns_type type, struct dns_answer *a)
{
	size_t off = p->an, used = 0;
	unsigned want = p->ancount < DNS_MAX_RR ? p->ancount : DNS_MAX_RR;

	if (want == 0)
		return 0;
	size_t arena = p->w.len + 1 + (size_t)want * (DNS_NAME_MAX + 1);
	a->rr = calloc(want, sizeof(*a->rr));
	/* TXT data never outgrows the packet; each expanded name fits 254 bytes. */
	a->arena = malloc(arena);
	if (!a->rr || !a->arena)
		return -1;
	a->bytes += (size_t)want * sizeof(*a->rr) + arena;
	for (unsigned i = 0; i < p->ancount && a->n < want; i++) {
		struct wire_rr rr;
		if (wire_rr_at(&p->w, &off, &rr) < 0)
			return -1;
		if (!rr_wanted(p, &rr, type))
			continue;
		if (rr_decode(p, &rr, type, &a->rr[a->n], a->arena, &used) < 0)
			continue; /* one bad record does not spoil its siblings */
		if (rr.ttl < p->ttl)
			p->ttl = rr.ttl;
		a->n++;
	}
	return 0;
}

/* RFC 2308 section 5: the negative TTL is min(SOA TTL, SOA MINIMUM). */
static void parse_soa(struct parse *p, struct dns_answer *a)
{
	size_t off = p->ns;
	for (unsigned i = 0; i < p->nscount; i++) {
		struct wire_rr rr;
		if (wire_rr_at(&p->w, &off, &rr) < 0)
			return;
		if (rr.type != DNS_TYPE_SOA || rr.class != DNS_CLASS_IN)
			continue;
		size_t q = wire_skip_name(&p->w, rr.rdata);
		q = q ? wire_skip_name(&p->w, q) : 0;
		if (!q || q + 20 > rr.rdata + rr.rdlen)
			return;
		uint32_t min = get32(p->w.buf + q + 16);
		a->has_soa = true;
		a->neg_ttl = min < rr.ttl ? min : rr.ttl;
		return;
	}
}

struct dns_answer *dns_answer_status(enum dns_status status)
{
	struct dns_answer *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->refs = 1;
	a->status = status;
	a->bytes = sizeof(*a);
	return a;
}

void dns_answer_ref(struct dns_answer *a)
{
	a->refs++;
}

void dns_answer_unref(struct dns_answer *a)
{
	if (!a || --a->refs > 0)
		return;
	free(a->rr);
	free(a->arena);
	free(a);
}

struct dns_answer *dns_wire_parse(const unsigned char *buf, size_t len, enum dns_type type)
{
	struct parse p = {.w = {buf, len}, .ttl = UINT32_MAX};
	struct dns_answer *a = dns_answer_status(DNS_TEMPFAIL);
	int rcode;

	if (!a)
		return NULL;
	if (!buf || parse_header(&p, &rcode) < 0)
		return a;
	if (rcode == DNS_RCODE_NXDOMAIN) {
		a->status = DNS_NXDOMAIN;
		parse_soa(&p, a);
		return a;
	}
	if (rcode != 0)
		return a;
	if (parse_chain(&p) < 0)
		return a;
	if (parse_records(&p, type, a) < 0) {
		dns_answer_unref(a);
		return NULL;
	}
	if (a->n == 0) {
		a->status = DNS_NODATA;
		parse_soa(&p, a);
		return a;
	}
	a->status = DNS_OK;
	a->ttl = p.ttl;
	return a;
}

int dns_name_normalise(const char *name, char *out)
{
	size_t len = strlen(name), label = 0;

	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '\\')
			return -1; /* c-ares would read an escape: not part of our interface */
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (++label > DNS_LABEL_MAX) {
			return -1;
		}
		out[i] = (char)tolower(c);
	}
	if (label == 0)
		return -1;
	out[len] = '\0';
	return 0;
}
