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
#include "utf8.h"
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

/* rspamd's actions that call a message spam (the others are "no action" and "greylist"). */
static bool spam_yes(const char *action)
{
	static const char *const yes[] = {"add header", "rewrite subject", "soft reject", "reject"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (strcmp(action, yes[i]) == 0)
			return true;
	return false;
}

static int add_header(json_t *out, const char *name, const char *value)
{
	return json_array_append_new(out, json_pack("{s:s, s:s}", "Name", name, "Value", value));
}

/*
 * Postmark's X-Spam-* headers (its SpamAssassin's), from the payload's
 * spam verdict (gateway/spam/) when there is one: the checker, the status,
 * the score and the symbols as the tests.
 */
static int spam_headers(json_t *out, const json_t *spam)
{
	char score[32];
	size_t i;
	const json_t *sym;
	if (!json_is_object(spam))
		return 0;
	char *tests = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&tests, &len);
	if (!o)
		return -1;
	json_array_foreach(fmt_get(spam, "symbols"), i, sym)
	{
		fprintf(o, "%s%s", i ? "," : "", fmt_str(sym, "name"));
	}
	fclose(o);
	snprintf(score, sizeof score, "%.2f", json_number_value(fmt_get(spam, "score")));
	int rc = add_header(out, "X-Spam-Checker-Version", "rspamd");
	rc |= add_header(out, "X-Spam-Status", spam_yes(fmt_str(spam, "action")) ? "Yes" : "No");
	rc |= add_header(out, "X-Spam-Score", score);
	rc |= add_header(out, "X-Spam-Tests", tests ? tests : "");
	free(tests);
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
	rc |= spam_headers(out, fmt_get(payload, "spam"));
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

/*
 * The message as the inside of a JSON string (RFC 8259 7), written into out
 * (NULL: only counted): '"', '\\' and control characters escaped, each byte
 * that does not start a valid UTF-8 sequence replaced by U+FFFD. Written
 * straight from the message: no second copy of it in a JSON tree.
 */
static size_t raw_escape(const struct message_bytes *msg, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)msg->data;
	size_t n = msg->len, o = 0, i = 0;

	while (i < n) {
		unsigned c = p[i];
		char esc[8];
		const char *w = esc;
		size_t len = 1;

		if (c >= 0x80) {
			uint32_t cp;
			len = utf8_decode(p + i, n - i, &cp);
			w = len ? (const char *)p + i : "\xef\xbf\xbd";
			if (out)
				memcpy(out + o, w, len ? len : 3);
			o += len ? len : 3;
			i += len ? len : 1;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c, len = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\', esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't', len = 2;
		} else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4], esc[5] = hex[c & 15], len = 6;
		} else {
			esc[0] = (char)c;
		}
		if (out)
			memcpy(out + o, w, len);
		o += len;
		i++;
	}
	return o;
}

/*
 * The JSON of o, then RawEmail appended as its last member, written from
 * the message itself; both sized first, so the body is allocated once.
 */
static int dump(struct webhook_request *r, json_t *o, const struct message_bytes *msg)
{
	static const char member[] = ",\"RawEmail\":\"";
	size_t head = json_dumpb(o, NULL, 0, JSON_COMPACT), raw = 0, total = head;

	if (head < 2)
		return -1;
	if (r->opts.include_raw) {
		raw = raw_escape(msg, NULL);
		total += sizeof(member) - 1 + raw + 1;
	}
	r->body = malloc(total + 1);
	if (!r->body || json_dumpb(o, r->body, head, JSON_COMPACT) != head)
		return -1;
	if (r->opts.include_raw) { /* replace the final '}' */
		char *w = r->body + head - 1;
		memcpy(w, member, sizeof(member) - 1);
		w += sizeof(member) - 1;
		w += raw_escape(msg, w);
		memcpy(w, "\"}", 2);
	}
	r->body_len = total;
	r->body[total] = '\0';
	return 0;
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
	rc = dump(r, o, msg);
out:
	json_decref(o);
	if (rc < 0)
		errno = ENOMEM;
	return rc;
}
