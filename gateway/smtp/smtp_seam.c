/*
 * smtp_seam.c: the seam where sender authentication plugs in (include/
 * auth.h, written by another module): one call when MAIL is accepted (SPF
 * can start while RCPTs arrive) and one at the end of data (DKIM, DMARC,
 * ARC complete; returns the auth object for the payload).
 *
 * The end-of-data call is asynchronous (auth.h's auth_tx_message() is):
 * it answers through smtp_cmd_seam_done(), which prepends the
 * Authentication-Results field, refuses, or delivers. Until auth.h is
 * wired in, both are no-ops and the end of data answers at once with no
 * auth object (delivery.h allows NULL). Never: block, or refuse mail on
 * its own.
 */
#include "smtp_int.h"

void smtp_seam_mail(struct smtp_session *s)
{
	(void)s;
}

void smtp_seam_end_of_data(struct smtp_session *s, const struct message_bytes *body)
{
	struct smtp_seam_outcome o = {NULL, NULL, NULL};
	(void)body;
	smtp_cmd_seam_done(s, &o);
}

void smtp_seam_tx_end(struct smtp_session *s)
{
	(void)s;
}
