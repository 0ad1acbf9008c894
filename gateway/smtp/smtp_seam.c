/*
 * smtp_seam.c: the seam where sender authentication plugs in (include/
 * auth.h, written by another module): one call when MAIL is accepted (SPF
 * can start while RCPTs arrive) and one at the end of data (DKIM, DMARC,
 * ARC complete; returns the auth object for the payload).
 *
 * Until that module lands both are no-ops: the payload's auth object is
 * NULL (delivery.h allows it). Never: block, or refuse mail on its own.
 */
#include "smtp_int.h"

void smtp_seam_mail(struct smtp_session *s)
{
	(void)s;
}

const json_t *smtp_seam_end_of_data(struct smtp_session *s)
{
	(void)s;
	return NULL;
}
