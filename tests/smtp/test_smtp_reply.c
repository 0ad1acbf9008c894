/*
 * test_smtp_reply.c: the reply catalogue is consistent: every id has a
 * row, codes are RFC 5321 4.2 codes, the enhanced status class matches the
 * code class (RFC 3463 2, RFC 2034), every 421 closes, errors are 4xx/5xx;
 * every verdict of auth.h has its reply: a refusal 5xx or 4xx as the check
 * said, the others 2xx, and an unknown verdict a temporary refusal.
 */
#include <string.h>

#include "../unit.h"
#include "smtp_reply.h"

/* The reply class each verdict of auth.h must get: 2 lets the message on. */
static const int auth_class[AUTH_V_MAX] = {
    [AUTH_V_ACCEPT] = 2,          [AUTH_V_QUARANTINE] = 2, [AUTH_V_SPF_FAIL] = 5,
    [AUTH_V_SPF_TEMP] = 4,        [AUTH_V_DKIM_FAIL] = 5,  [AUTH_V_DKIM_TEMP] = 4,
    [AUTH_V_ARC_FAIL] = 5,        [AUTH_V_ARC_TEMP] = 4,   [AUTH_V_DMARC_REJECT] = 5,
    [AUTH_V_DMARC_PERMERROR] = 5, [AUTH_V_DMARC_TEMP] = 4,
};

static void check_auth_verdicts(void)
{
	for (int v = 0; v < AUTH_V_MAX; v++) {
		const struct smtp_reply_row *r = smtp_catalog_row(smtp_catalog_auth(v));
		CHECK(r != NULL);
		if (!r)
			continue;
		CHECK_INT(r->code / 100, auth_class[v]);
		CHECK(*r->status);
		/* A policy refusal is not the client's error, and the session goes on. */
		CHECK(!(r->flags & (RF_ERROR | RF_CLOSE)));
	}
	/* Fails closed: a verdict the catalogue does not know is a temporary refusal. */
	CHECK_INT(smtp_catalog_auth(AUTH_V_MAX), RPL_AUTH_TIMEOUT);
	CHECK_INT(smtp_catalog_auth((enum auth_verdict_id)(AUTH_V_MAX + 7)), RPL_AUTH_TIMEOUT);
}

int main(void)
{
	for (int id = RPL_NONE + 1; id < RPL_MAX; id++) {
		const struct smtp_reply_row *r = smtp_catalog_row((enum smtp_reply_id)id);
		CHECK(r != NULL);
		if (!r)
			continue;
		CHECK_INT(r->id, id);
		CHECK(r->code >= 200 && r->code <= 599);
		CHECK(r->text && *r->text);
		if (*r->status) {
			CHECK_INT(r->status[0] - '0', r->code / 100);
			CHECK(r->status[1] == '.');
		} else {
			/* only the greeting, HELO/EHLO, and the intermediates carry none */
			CHECK(r->code == 220 || r->code == 250 || r->code == 354 || r->code == 334);
		}
		if (r->code == 421)
			CHECK(r->flags & RF_CLOSE);
		if (r->flags & RF_ERROR)
			CHECK(r->code >= 400);
	}
	CHECK(smtp_catalog_row(RPL_NONE) == NULL);
	CHECK(smtp_catalog_row(RPL_MAX) == NULL);
	check_auth_verdicts();
	return UNIT_END("smtp_reply");
}
