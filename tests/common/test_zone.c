/*
 * test_zone.c: the tests' in-memory resolver (zone_resolver.h, zone_json.h)
 * against what the DKIM, DMARC and auth tests rely on: the order of
 * statuses, NXDOMAIN against NODATA, both completion paths, cancellation,
 * the query log, and a JSON loader that refuses what it does not know.
 */
#include <arpa/inet.h>
#include <string.h>

#include "unit.h"
#include "zone_json.h"

struct seen {
	int calls;
	enum dns_status status;
	size_t n;
	char first[64]; /* TXT text, MX host or address of the first record */
};

static void on_answer(void *arg, const struct dns_result *res)
{
	struct seen *s = arg;

	s->calls++;
	s->status = res->status;
	s->n = res->n;
	s->first[0] = '\0';
	if (res->n && res->type == DNS_T_TXT)
		snprintf(s->first, sizeof(s->first), "%.*s", (int)res->rr[0].u.txt.len,
		         res->rr[0].u.txt.data);
	else if (res->n && res->type == DNS_T_MX)
		snprintf(s->first, sizeof(s->first), "%u %s", res->rr[0].u.mx.preference,
		         res->rr[0].u.mx.host);
	else if (res->n && res->type == DNS_T_A)
		inet_ntop(AF_INET, &res->rr[0].u.a, s->first, sizeof(s->first));
}

static struct seen ask(struct zone *z, const char *name, enum dns_type type)
{
	struct dns_resolver r = zone_resolver(z);
	struct seen s = {0};

	CHECK(dns_query(&r, name, type, on_answer, &s) == NULL); /* answered at once */
	CHECK_INT(s.calls, 1);
	return s;
}

static void test_statuses(void)
{
	struct zone *z = zone_new();

	CHECK_INT(zone_add_txt(z, "Example.COM.", "v=spf1 -all", 11), 0);
	CHECK_INT(zone_add_txt(z, "example.com", "second", 6), 0);
	CHECK_INT(zone_add_addr(z, "example.com", DNS_T_A, "192.0.2.1"), 0);
	CHECK_INT(zone_add_addr(z, "example.com", DNS_T_A, "not an address"), -1);
	CHECK_INT(zone_add_addr(z, "example.com", DNS_T_MX, "192.0.2.1"), -1);
	CHECK_INT(zone_add_mx(z, "example.com", 10, "mx.example.com"), 0);
	CHECK_INT(zone_add_name(z, "empty.example"), 0);
	CHECK_INT(zone_add_type_status(z, "half.example", DNS_T_TXT, DNS_TEMPFAIL), 0);
	CHECK_INT(zone_add_status(z, "down.example", DNS_PERMFAIL), 0);

	struct seen s = ask(z, "EXAMPLE.com.", DNS_T_TXT);
	CHECK_INT(s.status, DNS_OK);
	CHECK_INT(s.n, 2);
	CHECK_STR(s.first, "v=spf1 -all");
	CHECK_STR(ask(z, "example.com", DNS_T_A).first, "192.0.2.1");
	CHECK_STR(ask(z, "example.com", DNS_T_MX).first, "10 mx.example.com");
	CHECK_INT(ask(z, "example.com", DNS_T_AAAA).status, DNS_NODATA);
	CHECK_INT(ask(z, "empty.example", DNS_T_TXT).status, DNS_NODATA);
	CHECK_INT(ask(z, "nowhere.example", DNS_T_TXT).status, DNS_NXDOMAIN);
	CHECK_INT(ask(z, "half.example", DNS_T_TXT).status, DNS_TEMPFAIL);
	CHECK_INT(ask(z, "half.example", DNS_T_A).status, DNS_NODATA);
	CHECK_INT(ask(z, "down.example", DNS_T_MX).status, DNS_PERMFAIL);
	zone_set_tempfail(z, true);
	CHECK_INT(ask(z, "example.com", DNS_T_TXT).status, DNS_TEMPFAIL);
	CHECK_INT(zone_queries(z), 10);
	CHECK_STR(zone_log(z, 0), "EXAMPLE.com./TXT");
	CHECK_STR(zone_log(z, 2), "example.com/MX");
	CHECK(zone_log(z, 10) == NULL);
	zone_log_clear(z);
	CHECK(zone_log(z, 0) == NULL);
	CHECK_INT(zone_queries(z), 10);
	zone_free(z);
}

/* An answer that asks again, as SPF's include: does, from inside its callback. */
static void on_chain(void *arg, const struct dns_result *res)
{
	struct zone *z = arg;
	struct dns_resolver r = zone_resolver(z);
	static struct seen inner;

	if (strcmp(res->name, "a.example") == 0)
		dns_query(&r, "b.example", DNS_T_TXT, on_answer, &inner);
}

static void test_deferred(void)
{
	struct zone *z = zone_new();
	struct dns_resolver r = zone_resolver(z);
	struct seen a = {0}, b = {0};

	zone_add_txt(z, "a.example", "A", 1);
	zone_add_txt(z, "b.example", "B", 1);
	zone_set_deferred(z, true);
	struct dns_query *qa = dns_query(&r, "a.example", DNS_T_TXT, on_answer, &a);
	struct dns_query *qb = dns_query(&r, "b.example", DNS_T_TXT, on_answer, &b);
	CHECK(qa != NULL && qb != NULL);
	CHECK_INT(a.calls + b.calls, 0); /* nothing before zone_run() */
	dns_cancel(&r, qa);
	CHECK_INT(zone_run(z), 1);
	CHECK_INT(a.calls, 0); /* cancelled: never called */
	CHECK_INT(b.calls, 1);
	CHECK_STR(b.first, "B");

	/* answers that queue more are run too, and max bounds the run */
	CHECK(dns_query(&r, "a.example", DNS_T_TXT, on_chain, z) != NULL);
	CHECK_INT(zone_run_max(z, 1), 1);
	CHECK_INT(zone_run_max(z, 10), 1);
	CHECK_INT(zone_run(z), 0);
	CHECK_INT(zone_queries(z), 4);
	zone_free(z);

	/* queries still pending are freed with the zone */
	z = zone_new();
	r = zone_resolver(z);
	zone_set_deferred(z, true);
	CHECK(dns_query(&r, "x.example", DNS_T_A, on_answer, &a) != NULL);
	zone_free(z);
}

static void test_json(void)
{
	static const char *const bad[] = {
	    "[]",
	    "{\"a.example\": []}",
	    "{\"a.example\": {\"CNAME\": [\"b.example\"]}}",
	    "{\"a.example\": {\"TXT\": [\"not chunks\"]}}",
	    "{\"a.example\": {\"A\": [\"::1\"]}}",
	    "{\"a.example\": {\"MX\": [[\"10\", \"mx\"]]}}",
	    "{\"a.example\": {\"TEMPFAIL\": [\"SPF\"]}}",
	};
	json_t *j = json_loads("{\"a.example\": {\"TXT\": [[\"v=DMARC1; \", \"p=reject\"]], "
	                       "\"AAAA\": [\"2001:db8::1\"], \"MX\": [[5, \"mx.a.example\"]], "
	                       "\"TEMPFAIL\": [\"A\"]}, \"b.example\": {}}",
	                       0, NULL);
	struct zone *z = zone_new();

	CHECK_INT(zone_load_json(z, j), 0);
	CHECK_STR(ask(z, "a.example", DNS_T_TXT).first, "v=DMARC1; p=reject");
	CHECK_INT(ask(z, "a.example", DNS_T_AAAA).n, 1);
	CHECK_STR(ask(z, "a.example", DNS_T_MX).first, "5 mx.a.example");
	CHECK_INT(ask(z, "a.example", DNS_T_A).status, DNS_TEMPFAIL);
	CHECK_INT(ask(z, "b.example", DNS_T_TXT).status, DNS_NODATA);
	zone_free(z);
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		z = zone_new();
		j = json_loads(bad[i], 0, NULL);
		CHECK_INT(zone_load_json(z, j), -1);
		json_decref(j);
		zone_free(z);
	}
}

int main(void)
{
	test_statuses();
	test_deferred();
	test_json();
	return UNIT_END("zone-resolver");
}
