/*
 * fuzz_smtp_command.c: libFuzzer target for the command-line parsers of
 * gateway/smtp/ (verb split, MAIL/RCPT paths, ESMTP parameters, BDAT size,
 * base64 and SASL PLAIN), fed exactly what a session hands them: one line
 * without CR LF, NUL-terminated, at most 64 KiB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_line(const char *line)
{
	size_t vlen;
	const char *arg;
	struct smtp_path path;
	struct smtp_param pm[SMTP_MAX_PARAMS];
	size_t n;
	smtp_parse_verb(line, &vlen, &arg);
	if (!arg)
		return;
	const char *p = smtp_parse_prefix(arg, "FROM:");
	if (!p)
		p = smtp_parse_prefix(arg, "TO:");
	if (!p)
		p = arg;
	if (smtp_parse_path(&p, true, &path) == PERR_OK) {
		if (strlen(path.addr) > SMTP_PATH_MAX)
			abort();
		if (smtp_parse_params(p, pm, SMTP_MAX_PARAMS, &n) == PERR_OK)
			for (size_t i = 0; i < n; i++)
				if (pm[i].kwlen == 0 || (pm[i].val && pm[i].vallen == 0))
					abort();
	}
	unsigned char out[512];
	char user[256], pass[256];
	size_t dl;
	if (codec_b64_decode(arg, strlen(arg), out, sizeof out, &dl, CODEC_B64_NEED_PAD) == 0) {
		if (dl > sizeof out)
			abort();
		smtp_sasl_plain(out, dl, user, sizeof user, pass, sizeof pass);
	}
	uint64_t v;
	smtp_parse_u64(arg, strlen(arg), &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	parse_line(line);
	free(line);
	return 0;
}
