/*
 * zone_json.c: a cases.yaml zone (JSON) into a struct zone; see
 * zone_json.h. Refuses a shape it does not know rather than guess, so a
 * case cannot silently test less than it says.
 */
#include <stdio.h>
#include <string.h>

#include "zone_json.h"

static int load_txt(struct zone *z, const char *name, const json_t *recs)
{
	size_t i, k;
	json_t *r, *c;

	json_array_foreach(recs, i, r)
	{
		char buf[8192];
		size_t len = 0;

		if (!json_is_array(r))
			return -1;
		json_array_foreach(r, k, c)
		{
			size_t n = json_string_length(c);

			if (!json_is_string(c) || len + n > sizeof(buf))
				return -1;
			memcpy(buf + len, json_string_value(c), n);
			len += n;
		}
		if (zone_add_txt(z, name, buf, len) < 0)
			return -1;
	}
	return 0;
}

static int load_type(struct zone *z, const char *name, const char *type, const json_t *recs)
{
	size_t i;
	json_t *r;
	enum dns_type t;

	if (!json_is_array(recs))
		return -1;
	if (strcmp(type, "TXT") == 0)
		return load_txt(z, name, recs);
	json_array_foreach(recs, i, r)
	{
		int rc = -1;

		if (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0)
			rc = json_is_string(r)
			         ? zone_add_addr(z, name, type[1] ? DNS_T_AAAA : DNS_T_A,
			                         json_string_value(r))
			         : -1;
		else if (strcmp(type, "MX") == 0 && json_is_integer(json_array_get(r, 0)) &&
		         json_is_string(json_array_get(r, 1)))
			rc =
			    zone_add_mx(z, name, (uint16_t)json_integer_value(json_array_get(r, 0)),
			                json_string_value(json_array_get(r, 1)));
		else if (strcmp(type, "TEMPFAIL") == 0 && json_is_string(r) &&
		         zone_type_parse(json_string_value(r), &t) == 0)
			rc = zone_add_type_status(z, name, t, DNS_TEMPFAIL);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int zone_load_json(struct zone *z, const json_t *zone)
{
	const char *name, *type;
	json_t *node, *recs;

	if (!json_is_object(zone))
		goto bad;
	json_object_foreach((json_t *)zone, name, node)
	{
		if (!json_is_object(node) || zone_add_name(z, name) < 0)
			goto bad;
		json_object_foreach(node, type, recs)
		{
			if (load_type(z, name, type, recs) < 0) {
				fprintf(stderr, "zone: %s: bad or unknown \"%s\" records\n", name,
				        type);
				return -1;
			}
		}
	}
	return 0;
bad:
	fprintf(stderr, "zone: not an object of name -> {TYPE: [records]}\n");
	return -1;
}

struct zone *zone_json_case(const json_t *c)
{
	const json_t *dns = json_object_get(c, "dns");
	struct zone *z = zone_new();

	if (!z || (dns && zone_load_json(z, dns) < 0)) {
		fprintf(stderr, "zone: the case's \"dns\" cannot be served\n");
		zone_free(z);
		return NULL;
	}
	zone_set_tempfail(z, json_is_string(json_object_get(c, "dns_error")));
	zone_set_deferred(z, json_is_true(json_object_get(c, "deferred")));
	return z;
}

json_t *zone_json_read_case(const char *prog, struct zone **z)
{
	json_error_t err;
	json_t *c = json_loadf(stdin, 0, &err);

	if (!c) {
		fprintf(stderr, "%s: bad input: %s\n", prog, err.text);
		return NULL;
	}
	*z = zone_json_case(c);
	if (!*z) {
		json_decref(c);
		return NULL;
	}
	return c;
}
