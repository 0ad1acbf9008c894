/*
 * test_log_json.c: the JSON log output (gateway/log/log.c): every line is
 * one valid JSON object (jansson parses it, UTF-8 checked) whatever octets
 * the text holds; control octets and bytes that are not UTF-8 are escaped,
 * valid UTF-8 passes; the fields of an event keep their types; a field
 * that does not fit is left out whole.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

static json_t *lines[16];
static size_t n_lines;

static void read_lines(const char *path)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	n_lines = 0;
	while (f && n_lines < 16 && fgets(buf, sizeof buf, f)) {
		json_error_t err;
		lines[n_lines] = json_loads(buf, 0, &err);
		if (!lines[n_lines])
			fprintf(stderr, "not JSON (%s): %s", err.text, buf);
		CHECK(lines[n_lines] != NULL);
		n_lines++;
	}
	if (f)
		fclose(f);
}

static const char *str(size_t i, const char *key)
{
	return i < n_lines && lines[i] ? json_string_value(json_object_get(lines[i], key)) : NULL;
}

static void log_some(void)
{
	static const char names[] = "a@x.test\0b\"q@x.test\0";
	char big[3000];
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_msg(GW_LOG_INFO, LS_SMTP, 0x1234, "msg_abc",
	        "ctl\x01 bad\xff\xc3\x28 ok \xc3\xa9 q\" b\\");
	const struct log_field f[] = {
	    LOG_STR("helo", "h\x1b[31m"), LOG_INT("size", 5120), LOG_LIST("rcpts", names, 2),
	    LOG_STR("route", NULL),       LOG_STR("big", big),   LOG_STR("big2", big),
	    LOG_INT("after", -1),
	};
	log_event(GW_LOG_WARN, LS_WEBHOOK, 0, NULL, "message", f, sizeof f / sizeof f[0]);
}

int main(void)
{
	char path[] = "/tmp/test_log_json_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(log_set_output(LOG_FORMAT_JSON, LOG_TARGET_FILE, path), 0);
	log_some();
	read_lines(path);
	CHECK_INT(n_lines, 2);
	CHECK_STR(str(0, "level"), "info");
	CHECK_STR(str(0, "sys"), "smtp");
	CHECK_STR(str(0, "session"), "0000000000001234");
	CHECK_STR(str(0, "delivery"), "msg_abc");
	CHECK_STR(str(0, "msg"), "ctl\x01 bad\xef\xbf\xbd\xef\xbf\xbd( ok \xc3\xa9 q\" b\\");
	CHECK_STR(str(1, "level"), "warn");
	CHECK_STR(str(1, "msg"), "message");
	CHECK_STR(str(1, "helo"), "h\x1b[31m");
	CHECK(n_lines > 1 && json_integer_value(json_object_get(lines[1], "size")) == 5120);
	json_t *r = n_lines > 1 ? json_object_get(lines[1], "rcpts") : NULL;
	CHECK(json_array_size(r) == 2);
	CHECK_STR(json_string_value(json_array_get(r, 1)), "b\"q@x.test");
	CHECK(n_lines > 1 && json_is_null(json_object_get(lines[1], "route")));
	/* the first big field fits, the second does not and is left out whole; later ones stay */
	CHECK(n_lines > 1 && json_object_get(lines[1], "big") != NULL);
	CHECK(n_lines > 1 && json_object_get(lines[1], "big2") == NULL);
	CHECK(n_lines > 1 && json_integer_value(json_object_get(lines[1], "after")) == -1);
	for (size_t i = 0; i < n_lines; i++)
		json_decref(lines[i]);
	/* text: the same event is key=value, quoted when it has spaces */
	CHECK_INT(log_set_output(LOG_FORMAT_TEXT, LOG_TARGET_FILE, path), 0);
	CHECK(truncate(path, 0) == 0);
	const struct log_field t[] = {LOG_STR("reply", "250 2.0.0"), LOG_INT("size", 7)};
	log_event(GW_LOG_INFO, LS_SMTP, 0, NULL, "message", t, 2);
	char buf[512] = "";
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	CHECK(strstr(buf, "info sys=smtp message reply=\"250 2.0.0\" size=7\n") != NULL);
	unlink(path);
	return UNIT_END("log-json");
}
