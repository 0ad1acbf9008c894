/*
 * format_sendgrid.c: formats "sendgrid" and "sendgrid-raw", SendGrid's
 * Inbound Parse POST (docs/formats.md; field list in
 * ../shared/testdata/providers/fields.yaml), as multipart/form-data.
 *
 * Owns: the default variant (headers, dkim, content-ids, to, cc, from,
 * subject, text, html, sender_ip, envelope, attachments, attachment-info,
 * attachment1..N as file parts, charsets, SPF) and the raw one ("Post the
 * raw, full MIME message": email, a plain field, instead of text, html and
 * the attachments). Authentication is HTTP Basic, as SendGrid users do it.
 *
 * spam_score and spam_report come from the payload's spam verdict
 * (rspamd, gateway/spam/) when a check ran.
 *
 * Must never: post spam_score or spam_report without a spam verdict; post
 * the message as a file part.
 */
#include <stdlib.h>
#include <string.h>

#include "format.h"

static int add_json(struct form_data *f, const char *name, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	if (!s)
		return -1;
	return form_data_add_owned(f, name, s, strlen(s), NULL, NULL) < 0 ? -1 : 0;
}

/* SendGrid's dkim value: "{@domain : result, ...}" (not JSON), "{}" when unsigned. */
static int dkim_field(struct form_data *f, json_t *payload)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *o = open_memstream(&buf, &len);
	json_t *d;

	if (!o)
		return -1;
	fputc('{', o);
	json_array_foreach(fmt_get(payload, "auth.dkim"), i, d)
	{
		fprintf(o, "%s@%s : %s", i ? ", " : "", fmt_str(d, "domain"), fmt_str(d, "result"));
	}
	fputc('}', o);
	if (fclose(o) != 0) {
		free(buf);
		return -1;
	}
	return form_data_add_owned(f, "dkim", buf, len, NULL, NULL) < 0 ? -1 : 0;
}

static json_t *envelope_json(const struct envelope *env)
{
	json_t *to = json_array();

	for (size_t i = 0; env && to && i < env->n_rcpts; i++)
		json_array_append_new(
		    to, json_string(env->rcpts[i].address ? env->rcpts[i].address : ""));
	return json_pack("{s:o?, s:s}", "to", to, "from",
	                 env && env->mail_from ? env->mail_from : "");
}

/* The header fields SendGrid sends as their own fields, when the message has them. */
static int address_fields(struct form_data *f, json_t *payload, json_t *charsets)
{
	static const char *const fields[][2] = {
	    {"to", "To"}, {"cc", "Cc"}, {"from", "From"}, {"subject", "Subject"}};
	int rc = 0;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = fmt_header(payload, fields[i][1]);
		if (!v && i == 1)
			continue; /* cc only when present */
		if (i == 3)       /* subject: decoded, as the payload has it */
			rc |= fmt_add_str(f, "subject", payload, "message.subject") < 0;
		else
			rc |= form_data_add0(f, fields[i][0], v ? v : "") < 0;
		rc |= json_object_set_new(charsets, fields[i][0], json_string("UTF-8"));
	}
	return rc ? -1 : 0;
}

static int text_fields(struct form_data *f, json_t *payload, json_t *charsets)
{
	const char *text = json_string_value(fmt_get(payload, "message.text"));
	const char *html = json_string_value(fmt_get(payload, "message.html"));
	int rc = 0;

	if (text) {
		rc |= fmt_add_str(f, "text", payload, "message.text") < 0;
		rc |= json_object_set_new(charsets, "text", json_string("UTF-8"));
	}
	if (html) {
		rc |= fmt_add_str(f, "html", payload, "message.html") < 0;
		rc |= json_object_set_new(charsets, "html", json_string("UTF-8"));
	}
	return rc ? -1 : 0;
}

static int attachment_fields(struct form_data *f, json_t *payload)
{
	json_t *info = json_object(), *cids = json_object(), *a;
	size_t i, n = 0;
	char name[32];
	int rc = 0;

	if (!info || !cids)
		goto fail;
	json_array_foreach(fmt_get(payload, "message.attachments"), i, a)
	{
		size_t len;
		char *data;
		const char *fn = fmt_str(a, "filename"), *cid = fmt_str(a, "content_id");
		json_t *one;

		if (!json_is_string(json_object_get(a, "content")))
			continue; /* attachments = metadata: nothing to post */
		data = fmt_take_content(a, &len);
		snprintf(name, sizeof(name), "attachment%zu", n + 1);
		if (!data || form_data_add_owned(f, name, data, len, fn[0] ? fn : name,
		                                 fmt_str(a, "content_type")) < 0)
			goto fail;
		n++;
		one = json_pack("{s:s, s:s}", "filename", fn[0] ? fn : name, "type",
		                fmt_str(a, "content_type"));
		if (one && cid[0]) {
			json_object_set_new(one, "content-id", json_string(cid));
			rc |= json_object_set_new(cids, cid, json_string(name));
		}
		rc |= json_object_set_new(info, name, one);
	}
	snprintf(name, sizeof(name), "%zu", n);
	rc |= form_data_add0(f, "attachments", name) < 0;
	if (rc)
		goto fail;
	if (n)
		rc |= add_json(f, "attachment-info", json_incref(info));
	if (json_object_size(cids))
		rc |= add_json(f, "content-ids", json_incref(cids));
	json_decref(info);
	json_decref(cids);
	return rc ? -1 : 0;
fail:
	json_decref(info);
	json_decref(cids);
	return -1;
}

/* SendGrid's spam_score and spam_report (its SpamAssassin's), from rspamd's verdict. */
static int spam_fields(struct form_data *f, const json_t *spam)
{
	char score[32];
	char *report = NULL;
	size_t len = 0, i;
	const json_t *sym;
	if (!json_is_object(spam))
		return 0;
	FILE *o = open_memstream(&report, &len);
	if (!o)
		return -1;
	fprintf(o, "rspamd: action \"%s\", score %.2f, required %.2f\n", fmt_str(spam, "action"),
	        json_number_value(fmt_get(spam, "score")),
	        json_number_value(fmt_get(spam, "required_score")));
	json_array_foreach(fmt_get(spam, "symbols"), i, sym)
	{
		fprintf(o, "%6.2f %s\n", json_number_value(fmt_get(sym, "score")),
		        fmt_str(sym, "name"));
	}
	fclose(o);
	snprintf(score, sizeof score, "%.3f", json_number_value(fmt_get(spam, "score")));
	int rc = form_data_add0(f, "spam_score", score) < 0;
	/* The form takes report over, and frees it on failure too. */
	if (!report || form_data_add_owned(f, "spam_report", report, len, NULL, NULL) < 0)
		rc = 1;
	return rc ? -1 : 0;
}

int format_sendgrid(struct format_state *s, json_t *payload, const struct envelope *env,
                    const struct message_bytes *msg, bool raw)
{
	struct form_data *f = s->form;
	json_t *charsets = json_object();
	const char *spf = json_string_value(fmt_get(payload, "auth.spf.result"));
	int rc = 0;

	if (!charsets)
		return -1;
	if (!raw) {
		size_t len;
		char *head = fmt_raw_header(msg, &len);
		rc |= !head || fmt_add_message_field(f, "headers", head, len, false) < 0;
	}
	rc |= dkim_field(f, payload) < 0;
	rc |= address_fields(f, payload, charsets) < 0;
	if (!raw)
		rc |= text_fields(f, payload, charsets) < 0;
	rc |= form_data_add0(f, "sender_ip", env ? env->client_ip : "") < 0;
	rc |= add_json(f, "envelope", envelope_json(env)) < 0;
	rc |= form_data_add0(f, "SPF", spf ? spf : "none") < 0;
	rc |= spam_fields(f, fmt_get(payload, "spam")) < 0;
	if (rc) {
		json_decref(charsets);
		return -1;
	}
	if (add_json(f, "charsets", charsets) < 0)
		return -1;
	if (!raw)
		return attachment_fields(f, payload);
	{
		char *copy = fmt_message_copy(msg);
		return copy ? fmt_add_message_field(f, "email", copy, msg->len, true) : -1;
	}
}
