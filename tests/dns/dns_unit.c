/*
 * dns_unit.c: got/want tables for the pure parts of gateway/dns: the raw
 * answer parser (RFC 1035 section 4.1, compression 4.1.4, CNAME chains,
 * RFC 2308 negative TTLs, malformed packets) and the cache (TTL expiry,
 * LRU eviction, reference counts), with hand-built packets and a fake clock.
 */
#include <string.h>

#include "../unit.h"
#include "dns_int.h"

/* A tiny packet builder: bounded, names without compression unless asked. */
struct pkt {
	unsigned char b[4096];
	size_t n;
};

static void u8(struct pkt *p, unsigned v)
{
	if (p->n < sizeof(p->b))
		p->b[p->n++] = (unsigned char)v;
}

static void u16(struct pkt *p, unsigned v)
{
	u8(p, v >> 8);
	u8(p, v & 0xff);
}

static void u32(struct pkt *p, unsigned long v)
{
	u16(p, (unsigned)(v >> 16));
	u16(p, (unsigned)(v & 0xffff));
}

static void name(struct pkt *p, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		u8(p, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			u8(p, (unsigned char)s[i]);
		s += l + (dot ? 1 : 0);
	}
	u8(p, 0);
}

static void header(struct pkt *p, unsigned rcode, unsigned an, unsigned ns, const char *q,
                   unsigned qtype)
{
	p->n = 0;
	u16(p, 0x1234);
	u16(p, 0x8180 | rcode);
	u16(p, 1);
	u16(p, an);
	u16(p, ns);
	u16(p, 0);
	name(p, q);
	u16(p, qtype);
	u16(p, 1);
}

/* An RR whose owner is the question name (pointer to offset 12). */
static void rr_head(struct pkt *p, unsigned type, unsigned long ttl, unsigned rdlen)
{
	u16(p, 0xc00c);
	u16(p, type);
	u16(p, 1);
	u32(p, ttl);
	u16(p, rdlen);
}

static void test_a_and_ttl(void)
{
	struct pkt p;
	header(&p, 0, 2, 0, "example.com", DNS_T_A);
	rr_head(&p, DNS_T_A, 300, 4);
	u32(&p, 0xc0000201);
	rr_head(&p, DNS_T_A, 60, 4);
	u32(&p, 0xc0000202);
	struct dns_answer *a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_OK);
	CHECK_INT(a->n, 2);
	CHECK_INT(a->ttl, 60);
	CHECK_INT(((unsigned char *)&a->rr[1].u.a)[3], 2);
	dns_answer_unref(a);
}

static void test_txt_mx_ptr(void)
{
	struct pkt p;
	header(&p, 0, 1, 0, "example.com", DNS_T_TXT);
	rr_head(&p, DNS_T_TXT, 10, 9);
	u8(&p, 3);
	u8(&p, 'a');
	u8(&p, 0);
	u8(&p, 'b');
	u8(&p, 0); /* an empty character-string */
	u8(&p, 3);
	u8(&p, 'c');
	u8(&p, 'd');
	u8(&p, 'e');
	struct dns_answer *a = dns_wire_parse(p.b, p.n, DNS_T_TXT);
	CHECK_INT(a->status, DNS_OK);
	CHECK_INT(a->rr[0].u.txt.len, 6);
	CHECK(memcmp(a->rr[0].u.txt.data, "a\0bcde", 7) == 0);
	dns_answer_unref(a);

	header(&p, 0, 1, 0, "example.com", DNS_T_MX);
	rr_head(&p, DNS_T_MX, 10, 2 + 6);
	u16(&p, 5);
	u8(&p, 3);
	u8(&p, 'M');
	u8(&p, 'x');
	u8(&p, '1');
	u16(&p, 0xc00c); /* mx1.<question> by compression */
	a = dns_wire_parse(p.b, p.n, DNS_T_MX);
	CHECK_INT(a->status, DNS_OK);
	CHECK_INT(a->rr[0].u.mx.preference, 5);
	CHECK_STR(a->rr[0].u.mx.host, "mx1.example.com");
	dns_answer_unref(a);

	header(&p, 0, 1, 0, "1.2.0.192.in-addr.arpa", DNS_T_PTR);
	rr_head(&p, DNS_T_PTR, 10, 1);
	u8(&p, 0); /* the root */
	a = dns_wire_parse(p.b, p.n, DNS_T_PTR);
	CHECK_INT(a->status, DNS_OK);
	CHECK_STR(a->rr[0].u.ptr, "");
	dns_answer_unref(a);
}

static void test_cname_chain(void)
{
	struct pkt p;
	header(&p, 0, 2, 0, "alias.example", DNS_T_A);
	size_t target = p.n + 12; /* where the CNAME's rdata name starts */
	rr_head(&p, 5, 30, 11);
	name(&p, "t.example");
	u8(&p, 1); /* owner "t.example" as labels again */
	u8(&p, 't');
	u16(&p, 0xc000 | (unsigned)(target + 2)); /* ".example" from the rdata */
	u16(&p, DNS_T_A);
	u16(&p, 1);
	u32(&p, 100);
	u16(&p, 4);
	u32(&p, 0x01020304);
	struct dns_answer *a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_OK);
	CHECK_INT(a->n, 1);
	CHECK_INT(a->ttl, 30); /* the chain's smallest TTL */
	dns_answer_unref(a);
}

static void test_negative(void)
{
	struct pkt p;
	header(&p, 3, 0, 1, "nx.example", DNS_T_A);
	u16(&p, 0xc00c);
	u16(&p, 6);
	u16(&p, 1);
	u32(&p, 900);
	u16(&p, 2 + 2 + 20);
	u16(&p, 0xc00c);
	u16(&p, 0xc00c);
	u32(&p, 1);
	u32(&p, 2);
	u32(&p, 3);
	u32(&p, 4);
	u32(&p, 120); /* MINIMUM */
	struct dns_answer *a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_NXDOMAIN);
	CHECK(a->has_soa);
	CHECK_INT(a->neg_ttl, 120);
	dns_answer_unref(a);

	header(&p, 0, 0, 0, "nodata.example", DNS_T_A);
	a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_NODATA);
	CHECK(!a->has_soa);
	dns_answer_unref(a);

	header(&p, 2, 0, 0, "servfail.example", DNS_T_A);
	a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_TEMPFAIL);
	dns_answer_unref(a);
}

static void test_malformed(void)
{
	struct pkt p;
	struct dns_answer *a;

	header(&p, 0, 1, 0, "example.com", DNS_T_A);
	rr_head(&p, DNS_T_A, 10, 4);
	u16(&p, 0); /* two of four rdata bytes */
	for (size_t cut = 0; cut < p.n; cut++) {
		a = dns_wire_parse(p.b, cut, DNS_T_A);
		CHECK_INT(a->status, DNS_TEMPFAIL);
		dns_answer_unref(a);
	}
	/* A compression pointer to itself must not loop. */
	header(&p, 0, 1, 0, "example.com", DNS_T_MX);
	size_t self = p.n + 12 + 2;
	rr_head(&p, DNS_T_MX, 10, 4);
	u16(&p, 1);
	u16(&p, 0xc000 | (unsigned)self);
	a = dns_wire_parse(p.b, p.n, DNS_T_MX);
	CHECK_INT(a->status, DNS_NODATA); /* the bad record is dropped */
	dns_answer_unref(a);
	/* A label holding a dot could not be told from two labels: dropped. */
	header(&p, 0, 1, 0, "example.com", DNS_T_PTR);
	rr_head(&p, DNS_T_PTR, 10, 5);
	u8(&p, 3);
	u8(&p, 'a');
	u8(&p, '.');
	u8(&p, 'b');
	u8(&p, 0);
	a = dns_wire_parse(p.b, p.n, DNS_T_PTR);
	CHECK_INT(a->status, DNS_NODATA);
	dns_answer_unref(a);
	/* At most DNS_MAX_RR records are kept. */
	header(&p, 0, DNS_MAX_RR + 5, 0, "example.com", DNS_T_A);
	for (unsigned i = 0; i < DNS_MAX_RR + 5; i++) {
		rr_head(&p, DNS_T_A, 10, 4);
		u32(&p, i);
	}
	a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_OK);
	CHECK_INT(a->n, DNS_MAX_RR);
	dns_answer_unref(a);
	/* A query, not a response. */
	header(&p, 0, 0, 0, "example.com", DNS_T_A);
	p.b[2] &= 0x7f;
	a = dns_wire_parse(p.b, p.n, DNS_T_A);
	CHECK_INT(a->status, DNS_TEMPFAIL);
	dns_answer_unref(a);
}

static void test_normalise(void)
{
	char out[DNS_NAME_MAX + 1];
	CHECK(dns_name_normalise("Example.COM.", out) == 0);
	CHECK_STR(out, "example.com");
	CHECK(dns_name_normalise("", out) < 0);
	CHECK(dns_name_normalise(".", out) < 0);
	CHECK(dns_name_normalise("a..b", out) < 0);
	CHECK(dns_name_normalise(".a", out) < 0);
	CHECK(dns_name_normalise("a123456789012345678901234567890123456789012345678901234567890123."
	                         "com",
	                         out) < 0);
	CHECK(dns_name_normalise("macro%percent  space.example", out) == 0);
	CHECK(dns_name_normalise("a\\.b.example", out) < 0);
}

static void test_cache(void)
{
	struct dns_cache *c = dns_cache_new(2, DNS_CACHE_MAX_BYTES);
	struct dns_answer *a1 = dns_answer_status(DNS_NXDOMAIN), *a2 = dns_answer_status(DNS_OK),
	                  *a3 = dns_answer_status(DNS_NODATA), *got;
	uint64_t left = 0;

	CHECK_INT(dns_cache_put(c, "a.example", DNS_T_A, a1, 1000), 0);
	CHECK_INT(dns_cache_put(c, "b.example", DNS_T_A, a2, 2000), 0);
	got = dns_cache_get(c, "a.example", DNS_T_A, 500, &left);
	CHECK(got == a1);
	CHECK_INT(left, 500);
	dns_answer_unref(got);
	CHECK(dns_cache_get(c, "a.example", DNS_T_TXT, 500, &left) == NULL);
	/* a was used last: c evicts b. */
	CHECK_INT(dns_cache_put(c, "c.example", DNS_T_A, a3, 3000), 1);
	CHECK(dns_cache_get(c, "b.example", DNS_T_A, 600, &left) == NULL);
	got = dns_cache_get(c, "c.example", DNS_T_A, 600, &left);
	CHECK(got == a3);
	dns_answer_unref(got);
	/* Expired entries go away on lookup; a held answer outlives its entry. */
	got = dns_cache_get(c, "a.example", DNS_T_A, 999, &left);
	CHECK(got == a1);
	CHECK(dns_cache_get(c, "a.example", DNS_T_A, 1000, &left) == NULL);
	CHECK_INT(dns_cache_count(c), 1);
	CHECK_INT(got->status, DNS_NXDOMAIN);
	dns_answer_unref(got);
	/* Replacing keeps one entry. */
	CHECK_INT(dns_cache_put(c, "c.example", DNS_T_A, a2, 5000), 0);
	CHECK_INT(dns_cache_count(c), 1);
	dns_answer_unref(a1);
	dns_answer_unref(a2);
	dns_answer_unref(a3);
	dns_cache_free(c);

	c = dns_cache_new(0, DNS_CACHE_MAX_BYTES); /* a disabled cache stores nothing */
	a1 = dns_answer_status(DNS_OK);
	dns_cache_put(c, "a.example", DNS_T_A, a1, 1000);
	CHECK(dns_cache_get(c, "a.example", DNS_T_A, 0, &left) == NULL);
	dns_answer_unref(a1);
	dns_cache_free(c);
}

/* A TXT answer of n bytes, as dns_wire_parse() makes it from a packet. */
static struct dns_answer *txt_answer(size_t n)
{
	static unsigned char pkt[70000];
	size_t o = 0;
	static const unsigned char hdr[] = {0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
	memcpy(pkt, hdr, sizeof(hdr));
	o = sizeof(hdr);
	static const unsigned char q[] = {1,   'x', 7, 'e', 'x', 'a', 'm', 'p',
	                                  'l', 'e', 0, 0,   16,  0,   1};
	memcpy(pkt + o, q, sizeof(q));
	o += sizeof(q);
	size_t strings = (n + 254) / 255, rdlen = n + strings;
	unsigned char rr[] = {0xc0,
	                      12,
	                      0,
	                      16,
	                      0,
	                      1,
	                      0,
	                      0,
	                      0x0e,
	                      0x10,
	                      (unsigned char)(rdlen >> 8),
	                      (unsigned char)rdlen};
	memcpy(pkt + o, rr, sizeof(rr));
	o += sizeof(rr);
	for (size_t left = n; left > 0;) {
		size_t k = left < 255 ? left : 255;
		pkt[o++] = (unsigned char)k;
		memset(pkt + o, 'v', k);
		o += k;
		left -= k;
	}
	return dns_wire_parse(pkt, o, DNS_T_TXT);
}

/* The cache is bounded in bytes: big TXT answers evict, one larger than the cache is not kept. */
static void test_cache_bytes(void)
{
	struct dns_cache *c = dns_cache_new(10000, 256 * 1024);
	uint64_t left;
	char name[32];
	for (int i = 0; i < 100; i++) {
		struct dns_answer *a = txt_answer(60000);
		CHECK(a && a->status == DNS_OK && a->bytes > 60000);
		snprintf(name, sizeof(name), "n%d.example", i);
		dns_cache_put(c, name, DNS_T_TXT, a, 1000000);
		dns_answer_unref(a);
		CHECK(dns_cache_bytes(c) <= 256 * 1024);
	}
	CHECK(dns_cache_count(c) >= 1 && dns_cache_count(c) <= 4);
	/* The newest are kept, the oldest went. */
	struct dns_answer *got = dns_cache_get(c, "n99.example", DNS_T_TXT, 0, &left);
	CHECK(got != NULL);
	dns_answer_unref(got);
	CHECK(dns_cache_get(c, "n0.example", DNS_T_TXT, 0, &left) == NULL);
	dns_cache_free(c);

	c = dns_cache_new(10000, 64 * 1024); /* smaller than one 64 KB answer */
	struct dns_answer *big = txt_answer(65000);
	CHECK(big != NULL);
	CHECK_INT(dns_cache_put(c, "big.example", DNS_T_TXT, big, 1000000), 0);
	CHECK_INT(dns_cache_count(c), 0);
	CHECK_INT(dns_cache_bytes(c), 0);
	dns_answer_unref(big);
	dns_cache_free(c);
}

int main(void)
{
	test_a_and_ttl();
	test_txt_mx_ptr();
	test_cname_chain();
	test_negative();
	test_malformed();
	test_normalise();
	test_cache();
	test_cache_bytes();
	CHECK_STR(dns_status_name(DNS_NXDOMAIN), "nxdomain");
	return UNIT_END("dns");
}
