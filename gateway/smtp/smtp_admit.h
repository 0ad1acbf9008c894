/*
 * smtp_admit.h: per-IP admission (smtp_admit.c), process-wide.
 */
#ifndef SMTP_ADMIT_H
#define SMTP_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- per-IP admission (smtp_admit.c) ---- */

/*
 * The key a client is counted under: an IPv4 address as it is, an IPv6
 * address cut to v6_prefix bits ("2001:db8::/64"); 128 keeps it whole.
 */
void smtp_admit_key(const char *ip, uint32_t v6_prefix, char *out, size_t outlen);
/* Takes one slot for ip; false when max (0 = unlimited) is reached. */
bool smtp_admit_ip(const char *ip, uint32_t max);
void smtp_release_ip(const char *ip);

#endif
