/*
 * sockaddr_text.h: an IPv4 or IPv6 address in text (inet_pton(3) forms,
 * no port, no brackets) into a struct sockaddr, written once for the SMTP
 * session's client address (smtp_seam.c), `smtp-gateway auth --ip` and the
 * drivers of the SPF and auth tests. Header-only like codec.h: its users
 * sit in libraries that do not link one another.
 */
#ifndef SOCKADDR_TEXT_H
#define SOCKADDR_TEXT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* ss (zeroed first) holding the address s as a sockaddr, or NULL when s is no address. */
static inline const struct sockaddr *sockaddr_text_parse(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return (const struct sockaddr *)ss;
	}
	if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return (const struct sockaddr *)ss;
	}
	return NULL;
}

#endif
