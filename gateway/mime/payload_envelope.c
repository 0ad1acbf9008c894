/*
 * payload_envelope.c: the payload's "envelope" and "recipients" members
 * (docs/payload.md), from the SMTP envelope (RFC 5321 MAIL, RCPT, HELO and
 * the session's client and TLS facts) and each recipient's route match.
 *
 * With payload_write()'s own serialiser the recipient lists are deferred
 * and penv_list_item() builds one element at a time at dump time, so
 * 100,000 recipients never stand in the tree at once.
 *
 * Must never: put a string in the tree that is not valid UTF-8 (envelope
 * bytes pass ptext_json), or fail on a missing envelope (parse: nulls).
 */
#include <stdio.h>
#include <string.h>

#include "payload_int.h"

static const char *body_type_name(enum body_type t)
{
	switch (t) {
	case BODY_7BIT:
		return "7bit";
	case BODY_8BITMIME:
		return "8bitmime";
	case BODY_BINARYMIME:
		return "binarymime";
	}
	return NULL;
}

static const char *match_kind_name(enum route_match_kind k)
{
	static const char *const names[] = {
	    [MATCH_EXACT] = "exact",
	    [MATCH_PLUS] = "plus",
	    [MATCH_LOCAL_WILDCARD] = "local_wildcard",
	    [MATCH_DOMAIN] = "domain",
	    [MATCH_SUBDOMAIN] = "subdomain",
	};
	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

/*
 * An envelope list: an empty array to fill now, or (payload_write() with
 * our serialiser, and recipients to list) a placeholder whose elements
 * pjson_write() builds one at a time.
 */
static json_t *defer_list(struct pctx *c, enum pdefer_list list)
{
	if (!c->defer_lists || !c->env || !c->env->n_rcpts)
		return json_array();
	return pctx_defer_list(c, list);
}

json_t *penv_json(struct pctx *c, const struct envelope *e)
{
	json_t *o = json_object(), *client = json_object();
	const char *bt = e ? body_type_name(e->body) : NULL;
	json_t *rcpt = defer_list(c, PLIST_RCPT_TO);

	for (size_t i = 0; json_is_array(rcpt) && e && i < e->n_rcpts; i++)
		if (json_array_append_new(rcpt, ptext_json0(c, e->rcpts[i].address, "envelope")) <
		    0)
			c->oom = 1;
	pctx_put(c, o, "mail_from", e ? ptext_json0(c, e->mail_from, "envelope") : json_null());
	pctx_put(c, o, "rcpt_to", rcpt);
	pctx_put(c, o, "helo", e ? ptext_json0(c, e->helo, "envelope") : json_null());
	pctx_put(c, client, "ip",
	         e && e->client_ip[0] ? ptext_json0(c, e->client_ip, "envelope") : json_null());
	pctx_put(c, client, "port", e ? json_integer(e->client_port) : json_null());
	pctx_put(c, client, "reverse_name",
	         e ? ptext_json0(c, e->client_name, "envelope") : json_null());
	pctx_put(c, o, "client", client);
	json_t *tls = json_null();
	if (e && e->tls_protocol) {
		tls = json_object();
		pctx_put(c, tls, "protocol", ptext_json0(c, e->tls_protocol, "envelope"));
		pctx_put(c, tls, "cipher", ptext_json0(c, e->tls_cipher, "envelope"));
	}
	pctx_put(c, o, "tls", tls);
	pctx_put(c, o, "authenticated_user",
	         e ? ptext_json0(c, e->auth_user, "envelope") : json_null());
	pctx_put(c, o, "body_type", bt ? json_string(bt) : json_null());
	pctx_put(c, o, "smtputf8", json_boolean(e && e->smtputf8));
	pctx_put(c, o, "size", e ? json_integer((json_int_t)e->size) : json_null());
	return o;
}

/* The address without its plus tag: local before the separator, "@", domain. */
static json_t *base_json(struct pctx *c, const struct envelope_addr *a)
{
	size_t len = a->local ? strlen(a->local) : 0;
	size_t l = a->has_tag && a->base_len < len ? a->base_len : len;
	char buf[ROUTE_LOCAL_MAX + 1 + ROUTE_DOMAIN_MAX];
	int n = snprintf(buf, sizeof(buf), "%.*s@%s", (int)l, a->local ? a->local : "",
	                 a->domain ? a->domain : "");
	return ptext_json(c, buf, n > 0 ? (size_t)n : 0, "recipient");
}

static json_t *recipient_json(struct pctx *c, const struct envelope_rcpt *r)
{
	static const char *const route_keys[] = {"name", "pattern", "kind"};
	static const char *const keys[] = {"address", "local", "domain", "tag", "base", "route"};
	const struct envelope_match *m = &r->match;
	const char *kind = match_kind_name(m->kind);
	json_t *route = json_null();
	if (m->route) {
		json_t *rv[] = {ptext_json0(c, m->route->name, "route"),
		                ptext_json0(c, m->pattern, "route"),
		                kind ? json_string(kind) : json_null()};
		route = json_object_of(route_keys, rv, 3);
	}
	json_t *v[] = {ptext_json0(c, r->address, "recipient"),
	               ptext_json0(c, m->addr.local ? m->addr.local : "", "recipient"),
	               ptext_json0(c, m->addr.domain ? m->addr.domain : "", "recipient"),
	               m->addr.has_tag ? ptext_json0(c, m->addr.tag, "recipient") : json_null(),
	               base_json(c, &m->addr),
	               route};
	return json_object_of(keys, v, 6);
}

json_t *penv_list_item(struct pctx *c, enum pdefer_list list, size_t i)
{
	const struct envelope *e = c->env;
	if (!e || i >= e->n_rcpts)
		return NULL;
	if (list == PLIST_RCPT_TO)
		return ptext_json0(c, e->rcpts[i].address, "envelope");
	return recipient_json(c, &e->rcpts[i]);
}

json_t *penv_recipients(struct pctx *c, const struct envelope *e)
{
	json_t *a = defer_list(c, PLIST_RECIPIENTS);
	for (size_t i = 0; json_is_array(a) && e && i < e->n_rcpts; i++)
		if (json_array_append_new(a, recipient_json(c, &e->rcpts[i])) < 0)
			c->oom = 1;
	return a;
}
