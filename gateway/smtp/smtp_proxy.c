/*
 * smtp_proxy.c: PROXY protocol header parsing (HAProxy "The PROXY
 * protocol" versions 1 and 2, sections 2.1 and 2.2).
 *
 * Pure: looks at the bytes a listener peeked and says how long the header
 * is and which client it names. Never reads beyond PROXY_V1_MAX /
 * PROXY_V2_MAX bytes, never accepts a v1 line without CR LF, a v2 header
 * with another version, or an address that does not parse.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "smtp_parse.h"

static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int parse_port(const char *s, uint16_t *out)
{
	uint64_t v;
	if (smtp_parse_u64(s, strlen(s), &v) || v > 65535 || (s[0] == '0' && s[1]))
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* Splits the v1 line into at most max space-separated fields in place. */
static size_t v1_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		f[n++] = p;
		char *sp = strchr(p, ' ');
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return n;
}

static enum proxy_result v1_addr(char **f, struct proxy_info *out)
{
	bool six = strcmp(f[1], "TCP6") == 0;
	uint16_t sport, dport;
	unsigned char dst[16];
	if (!six && strcmp(f[1], "TCP4") != 0)
		return PROXY_BAD;
	if (parse_port(f[4], &sport) || parse_port(f[5], &dport))
		return PROXY_BAD;
	if (six) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->src;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(sport);
		if (inet_pton(AF_INET6, f[2], &a->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, f[3], dst) != 1)
			return PROXY_BAD;
		out->srclen = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->src;
		a->sin_family = AF_INET;
		a->sin_port = htons(sport);
		if (inet_pton(AF_INET, f[2], &a->sin_addr) != 1 ||
		    inet_pton(AF_INET, f[3], dst) != 1)
			return PROXY_BAD;
		out->srclen = sizeof *a;
	}
	return PROXY_OK;
}

static enum proxy_result parse_v1(const unsigned char *buf, size_t len, struct proxy_info *out)
{
	char line[PROXY_V1_MAX + 1];
	char *f[7];
	const unsigned char *cr = NULL;
	for (size_t i = 0; i + 1 < len && i + 2 <= PROXY_V1_MAX; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			cr = buf + i;
			break;
		}
		if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\0')
			return PROXY_BAD;
	}
	if (!cr)
		return len >= PROXY_V1_MAX ? PROXY_BAD : PROXY_NEED_MORE;
	size_t n = (size_t)(cr - buf);
	memcpy(line, buf, n);
	line[n] = '\0';
	out->header_len = n + 2;
	size_t nf = v1_fields(line, f, 7);
	if (nf >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
		out->local = true;
		return PROXY_OK;
	}
	if (nf != 6)
		return PROXY_BAD;
	return v1_addr(f, out);
}

static enum proxy_result parse_v2(const unsigned char *buf, size_t len, struct proxy_info *out)
{
	if (len < 16)
		return PROXY_NEED_MORE;
	unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0f, fam = buf[13];
	size_t alen = ((size_t)buf[14] << 8) | buf[15];
	if (ver != 2 || cmd > 1 || 16 + alen > PROXY_V2_MAX)
		return PROXY_BAD;
	if (len < 16 + alen)
		return PROXY_NEED_MORE;
	out->header_len = 16 + alen;
	const unsigned char *a = buf + 16;
	if (cmd == 0 || (fam != 0x11 && fam != 0x21)) {
		/* LOCAL, or a family we do not route on: the connection's own address. */
		out->local = true;
		return PROXY_OK;
	}
	if (fam == 0x11) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		if (alen < 12)
			return PROXY_BAD;
		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&s->sin_port, a + 8, 2);
		out->srclen = sizeof *s;
		return PROXY_OK;
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
	if (alen < 36)
		return PROXY_BAD;
	s6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, a, 16);
	memcpy(&s6->sin6_port, a + 32, 2);
	out->srclen = sizeof *s6;
	return PROXY_OK;
}

enum proxy_result proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *out)
{
	memset(out, 0, sizeof *out);
	if (len == 0)
		return PROXY_NEED_MORE;
	size_t k = len < sizeof v2_sig ? len : sizeof v2_sig;
	if (memcmp(buf, v2_sig, k) == 0)
		return k < sizeof v2_sig ? PROXY_NEED_MORE : parse_v2(buf, len, out);
	k = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", k) != 0)
		return PROXY_BAD;
	return k < 6 ? PROXY_NEED_MORE : parse_v1(buf, len, out);
}
