/*
 * format_mailgun.c: formats "mailgun" and "mailgun-mime", the POST of a
 * Mailgun route's forward() action (docs/formats.md; field list in
 * ../shared/testdata/providers/fields.yaml), as multipart/form-data.
 *
 * Owns: the parsed variant (recipient, sender, from, subject, body-plain,
 * stripped-*, body-html, attachment-count, attachment-1..N as file parts,
 * content-id-map, message-headers, every header as its own field) and the
 * raw one (body-mime: the message as received, a plain field as Mailgun
 * sends it). timestamp, token and signature are remade at each attempt
 * (format.c) with Mailgun's scheme: hex HMAC-SHA256(key, timestamp token).
 *
 * Must never: post body-mime as a file part (Rails' ingress answers 500);
 * let a message header replace a documented field of the same name.
 */
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* The form fields Mailgun documents: a header of the same name is not posted again. */
static const char *const documented[] = {"recipient",
                                         "sender",
                                         "from",
                                         "subject",
                                         "body-plain",
                                         "stripped-text",
                                         "stripped-signature",
                                         "body-html",
                                         "stripped-html",
                                         "attachment-count",
                                         "content-id-map",
                                         "message-headers",
                                         "timestamp",
                                         "token",
                                         "signature",
                                         "body-mime",
                                         NULL};

static bool is_documented(const char *name)
{
	for (const char *const *d = documented; *d; d++)
		if (strcmp(*d, name) == 0)
			return true;
	return strncmp(name, "attachment-", 11) == 0;
}

static int add_json(struct form_data *f, const char *name, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	int rc;

	json_decref(v);
	if (!s)
		return -1;
	rc = form_data_add_owned(f, name, s, strlen(s), NULL, NULL);
	return rc < 0 ? -1 : 0;
}

static int envelope_fields(struct form_data *f, json_t *payload, const struct envelope *env)
{
	char *rcpts = fmt_recipients(env);
	const char *from = fmt_header(payload, "From");
	int rc = 0;

	if (!rcpts)
		return -1;
	rc |= form_data_add0(f, "recipient", rcpts) < 0;
	rc |= form_data_add0(f, "sender", env && env->mail_from ? env->mail_from : "") < 0;
	rc |= form_data_add0(f, "from", from ? from : "") < 0;
	rc |= fmt_add_str(f, "subject", payload, "message.subject") < 0;
	free(rcpts);
	return rc ? -1 : 0;
}

static int signature_fields(struct format_state *s)
{
	s->ts_part = form_data_add0(s->form, "timestamp", "");
	s->token_part = form_data_add0(s->form, "token", "");
	s->sig_part = form_data_add0(s->form, "signature", "");
	return s->ts_part < 0 || s->token_part < 0 || s->sig_part < 0 ? -1 : 0;
}

static int body_fields(struct form_data *f, json_t *payload)
{
	const char *html = json_string_value(fmt_get(payload, "message.html"));
	int rc = 0;

	/* Mailgun makes body-plain from the HTML when there is no text part; we do not convert */
	rc |= fmt_add_str(f, "body-plain", payload, "message.text") < 0;
	rc |= fmt_add_str(f, "stripped-text", payload, "message.reply.text") < 0;
	rc |= fmt_add_str(f, "stripped-signature", payload, "message.reply.signature") < 0;
	if (html) {
		rc |= fmt_add_str(f, "body-html", payload, "message.html") < 0;
		/* no quote stripping in HTML: stripped-html is body-html */
		rc |= fmt_add_str(f, "stripped-html", payload, "message.html") < 0;
	}
	return rc ? -1 : 0;
}

static int attachment_fields(struct form_data *f, json_t *payload)
{
	json_t *cids = json_object(), *a;
	size_t i, n = 0;
	char name[32], cid[1024];

	if (!cids)
		return -1;
	json_array_foreach(fmt_get(payload, "message.attachments"), i, a)
	{
		size_t len;
		char *data;
		const char *fn = fmt_str(a, "filename");

		if (!json_is_string(json_object_get(a, "content")))
			continue; /* attachments = metadata: nothing to post */
		data = fmt_take_content(a, &len);
		snprintf(name, sizeof(name), "attachment-%zu", n + 1);
		if (!data || form_data_add_owned(f, name, data, len, fn[0] ? fn : name,
		                                 fmt_str(a, "content_type")) < 0)
			goto fail;
		n++;
		if (json_is_string(json_object_get(a, "content_id"))) {
			snprintf(cid, sizeof(cid), "<%s>", fmt_str(a, "content_id"));
			json_object_set_new(cids, cid, json_string(name));
		}
	}
	snprintf(name, sizeof(name), "%zu", n);
	if (form_data_add0(f, "attachment-count", name) < 0)
		goto fail;
	return add_json(f, "content-id-map", cids);
fail:
	json_decref(cids);
	return -1;
}

/* message-headers as [[name, value], ...], and each header as its own field. */
static int header_fields(struct form_data *f, json_t *payload)
{
	json_t *pairs = json_array(), *h;
	size_t i;
	int rc = 0;

	if (!pairs)
		return -1;
	json_array_foreach(fmt_get(payload, "message.headers"), i, h)
	{
		const char *name = fmt_str(h, "name"), *value = fmt_str(h, "value");
		rc |= json_array_append_new(pairs, json_pack("[s,s]", name, value));
		if (name[0] && !is_documented(name))
			rc |= form_data_add0(f, name, value) < 0;
	}
	if (rc) {
		json_decref(pairs);
		return -1;
	}
	return add_json(f, "message-headers", pairs);
}

int format_mailgun(struct format_state *s, json_t *payload, const struct envelope *env,
                   const struct message_bytes *msg, bool mime)
{
	struct form_data *f = s->form;

	if (envelope_fields(f, payload, env) < 0)
		return -1;
	if (mime) {
		char *copy = fmt_message_copy(msg);
		if (!copy || fmt_add_message_field(f, "body-mime", copy, msg->len, true) < 0)
			return -1;
	} else if (body_fields(f, payload) < 0 || attachment_fields(f, payload) < 0 ||
	           header_fields(f, payload) < 0) {
		return -1;
	}
	return signature_fields(s);
}
