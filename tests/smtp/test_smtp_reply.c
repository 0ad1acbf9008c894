/*
 * test_smtp_reply.c: the reply catalogue is consistent: every id has a
 * row, codes are RFC 5321 4.2 codes, the enhanced status class matches the
 * code class (RFC 3463 2, RFC 2034), every 421 closes, errors are 4xx/5xx.
 */
#include <string.h>

#include "../unit.h"
#include "smtp_reply.h"

int main(void)
{
	for (int id = RPL_NONE + 1; id < RPL_MAX; id++) {
		const struct smtp_reply_row *r = smtp_reply_row((enum smtp_reply_id)id);
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
	CHECK(smtp_reply_row(RPL_NONE) == NULL);
	CHECK(smtp_reply_row(RPL_MAX) == NULL);
	return UNIT_END("smtp_reply");
}
