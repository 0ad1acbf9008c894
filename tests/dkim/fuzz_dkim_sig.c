/*
 * fuzz_dkim_sig.c: libFuzzer target for the tag=value parser (RFC 6376 3.2)
 * and the signature field parser (DKIM-Signature, ARC-Message-Signature,
 * ARC-Seal), followed by the header and body hashes a parsed signature
 * leads to. The input is the field value. Must never crash, leak or read
 * outside the input.
 */
#include <stdlib.h>
#include <string.h>

#include "dkim_int.h"

#define HEAD "DKIM-Signature:"
#define TAIL "\r\nFrom: a@example.com\r\nSubject: x\r\n\r\nbody  \r\n\r\n"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct dkim_taglist tl;
	struct dkim_msg m;
	struct dkim_sig *s;
	struct dkim_bh_cache bc = {0};
	char err[96];
	size_t hl = strlen(HEAD), tl_len = strlen(TAIL), len = hl + size + tl_len;
	char *buf;

	if (size > 65536)
		return 0;
	dkim_tags_parse((const char *)data, size, &tl);
	buf = malloc(len);
	s = malloc(sizeof(*s));
	if (!buf || !s)
		goto out;
	memcpy(buf, HEAD, hl);
	memcpy(buf + hl, data, size);
	memcpy(buf + hl + size, TAIL, tl_len);
	if (dkim_msg_parse(&m, buf, len, 16) < 0)
		goto out;
	for (int kind = DKIM_KIND_SIG; m.nf > 0 && kind <= DKIM_KIND_AS; kind++) {
		if (dkim_sig_parse(s, &m.f[0], (enum dkim_kind)kind, err, sizeof(err)) < 0)
			continue;
		if (kind != DKIM_KIND_AS)
			dkim_sig_body_hash(s, &m, &bc);
		dkim_sig_header_hash(s, &m);
	}
	dkim_msg_free(&m);
out:
	free(s);
	free(buf);
	return 0;
}
