/*
 * format_postmark.c: format "postmark", Postmark's inbound webhook JSON
 * (docs/formats.md; field list in ../shared/testdata/providers/fields.yaml),
 * made from the payload tree of our json format.
 *
 * Owns: the field names and value conventions: addresses as
 * "\"Name\" <a@b>" lists plus {Email, Name, MailboxHash} objects, the
 * Headers list without the fields that have their own member, attachments
 * as {Name, Content (base64), ContentType, ContentLength, ContentID}, and
 * RawEmail (the message as received) when the route sets include_raw.
 *
 * Must never: invent a value the message does not hold (absent is "" or
 * [], as Postmark sends); put bytes that are not UTF-8 into the JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "webhook_request.h"

/* Header fields Postmark gives their own member: left out of Headers. */
static const char *const own_member[] = {"From",     "To",      "Cc",   "Bcc",
                                         "Reply-To", "Subject", "Date", NULL};

static int set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *addr_full(const json_t *payload, const json_t *a)
{
	char hash[256];
	json_t *o = json_object();
	const char *addr = fmt_str(a, "address");

	if (!o)
		return NULL;
	if (set(o, "Email", json_string(addr)) < 0 ||
	    set(o, "Name", json_string(fmt_str(a, "name"))) < 0 ||
	    set(o, "MailboxHash",
	        json_string(fmt_mailbox_hash(payload, addr, hash, sizeof(hash)))) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* "To" and "ToFull" (and Cc, Bcc) from message.to. */
static int addr_members(json_t *out, const json_t *payload, const char *member, const char *path)
{
	const json_t *list = fmt_get(payload, path);
	char key[16];
	json_t *full = json_array(), *a;
	char *flat = fmt_addr_list(list);
	size_t i;
	int rc = 0;

	if (!full || !flat) {
		json_decref(full);
		free(flat);
		return -1;
	}
	json_array_foreach(list, i, a)
	{
		rc |= json_array_append_new(full, addr_full(payload, a));
	}
	rc |= set(out, member, json_string(flat));
	snprintf(key, sizeof(key), "%sFull", member);
	rc |= set(out, key, full);
	free(flat);
	return rc ? -1 : 0;
}

static json_t *headers(const json_t *payload, const json_t *auth_spf, const struct envelope *env)
{
	json_t *out = json_array(), *h;
	size_t i;
	int rc = 0;

	if (!out)
		return NULL;
	json_array_foreach(fmt_get(payload, "message.headers"), i, h)
	{
		const char *name = fmt_str(h, "name");
		bool skip = false;
		for (const char *const *n = own_member; *n; n++)
			skip |= strcasecmp(*n, name) == 0;
		if (skip)
			continue;
		json_t *o = json_pack("{s:s, s:s}", "Name", name, "Value", fmt_str(h, "value"));
		rc |= json_array_append_new(out, o);
	}
	/* Postmark adds its SPF verdict as Received-SPF (RFC 7208 9.1); ours when SPF ran. */
	if (json_is_object(auth_spf) && env) {
		char v[1024];
		snprintf(v, sizeof(v), "%s client-ip=%s; envelope-from=\"%s\"; helo=%s;",
		         fmt_str(auth_spf, "result"), env->client_ip,
		         env->mail_from ? env->mail_from : "", env->helo ? env->helo : "");
		rc |= json_array_append_new(
		    out, json_pack("{s:s, s:s}", "Name", "Received-SPF", "Value", v));
	}
	if (rc) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *attachments(json_t *payload)
{
	json_t *out = json_array(), *a;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(fmt_get(payload, "message.attachments"), i, a)
	{
		json_t *content = json_object_get(a, "content");
		/* metadata mode has no content: Postmark has no such mode, Content is then "" */
		json_t *c = json_is_string(content) ? json_incref(content) : json_string("");
		json_t *o =
		    json_pack("{s:s, s:o, s:s, s:I, s:s}", "Name", fmt_str(a, "filename"),
		              "Content", c, "ContentType", fmt_str(a, "content_type"),
		              "ContentLength", json_integer_value(json_object_get(a, "size")),
		              "ContentID", fmt_str(a, "content_id"));
		if (json_array_append_new(out, o) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The message as a JSON string: invalid UTF-8 sequences become U+FFFD, byte by byte. */
static json_t *raw_email(const struct message_bytes *msg)
{
	const unsigned char *p = (const unsigned char *)msg->data;
	size_t n = msg->len, o = 0, i = 0;
	json_t *s = json_stringn((const char *)p, n);
	char *fixed;

	if (s || n == 0)
		return s ? s : json_string("");
	fixed = malloc(n * 3 + 1);
	if (!fixed)
		return NULL;
	while (i < n) {
		unsigned char c = p[i];
		size_t len = c < 0x80         ? 1
		             : (c >> 5) == 6  ? 2
		             : (c >> 4) == 14 ? 3
		             : (c >> 3) == 30 ? 4
		                              : 0;
		json_t *probe = len && i + len <= n ? json_stringn((const char *)p + i, len) : NULL;
		if (probe) {
			memcpy(fixed + o, p + i, len);
			o += len;
			i += len;
			json_decref(probe);
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	s = json_stringn(fixed, o);
	free(fixed);
	return s;
}

/* Postmark's MessageID is a UUID of its own: ours is the delivery id's 32 hex digits. */
static json_t *message_uuid(const char *id)
{
	const char *h = strncmp(id, "msg_", 4) == 0 ? id + 4 : id;
	char u[40];

	if (strlen(h) < 32)
		return json_string(id);
	snprintf(u, sizeof(u), "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
	return json_string(u);
}

static int top_members(json_t *o, const json_t *payload, const struct webhook_request *r,
                       const struct envelope *env)
{
	const json_t *from = json_array_get(fmt_get(payload, "message.from"), 0);
	char hash[256] = "";
	char *rcpts = fmt_recipients(env),
	     *reply_to = fmt_addr_list(fmt_get(payload, "message.reply_to"));
	const char *first =
	    env && env->n_rcpts && env->rcpts[0].address ? env->rcpts[0].address : "";
	int rc = 0;

	if (!rcpts || !reply_to) {
		free(rcpts);
		free(reply_to);
		return -1;
	}
	rc |= set(o, "FromName", json_string(fmt_str(from, "name")));
	rc |= set(o, "MessageStream", json_string("inbound"));
	rc |= set(o, "From", json_string(fmt_str(from, "address")));
	rc |= set(o, "FromFull",
	          from ? addr_full(payload, from)
	               : json_pack("{s:s,s:s,s:s}", "Email", "", "Name", "", "MailboxHash", ""));
	rc |= addr_members(o, payload, "To", "message.to");
	rc |= addr_members(o, payload, "Cc", "message.cc");
	rc |= addr_members(o, payload, "Bcc", "message.bcc");
	rc |= set(o, "OriginalRecipient", json_string(rcpts));
	rc |= set(o, "Subject", fmt_strj(payload, "message.subject"));
	rc |= set(o, "MessageID", message_uuid(r->id));
	rc |= set(o, "ReplyTo", json_string(reply_to));
	rc |= set(o, "MailboxHash",
	          json_string(fmt_mailbox_hash(payload, first, hash, sizeof(hash))));
	rc |= set(o, "Date", json_string(fmt_str(payload, "message.date.original")));
	rc |= set(o, "TextBody", fmt_strj(payload, "message.text"));
	rc |= set(o, "HtmlBody", fmt_strj(payload, "message.html"));
	/* message.reply (stripped reply text) where the payload has it; else empty */
	rc |= set(o, "StrippedTextReply", fmt_strj(payload, "message.reply.text"));
	rc |= set(o, "Tag", json_string(""));
	free(rcpts);
	free(reply_to);
	return rc ? -1 : 0;
}

int format_postmark(struct webhook_request *r, json_t *payload, const struct envelope *env,
                    const struct message_bytes *msg)
{
	json_t *o = json_object();
	int rc = -1;

	if (!o)
		return -1;
	if (top_members(o, payload, r, env) < 0 ||
	    set(o, "Headers", headers(payload, fmt_get(payload, "auth.spf"), env)) < 0 ||
	    set(o, "Attachments", attachments(payload)) < 0)
		goto out;
	if (r->opts.include_raw && set(o, "RawEmail", raw_email(msg)) < 0)
		goto out;
	/* sized first, then written once: no doubling buffer beside a 25 MB body */
	r->body_len = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (r->body_len == 0 || !(r->body = malloc(r->body_len + 1)) ||
	    json_dumpb(o, r->body, r->body_len, JSON_COMPACT) != r->body_len)
		goto out;
	r->body[r->body_len] = '\0';
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		errno = ENOMEM;
	return rc;
}
