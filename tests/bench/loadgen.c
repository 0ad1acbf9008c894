/*
 * loadgen.c: the benchmark's own SMTP load client.
 *
 * Postfix's smtp-source gives throughput but no latency. This client runs
 * S sessions on one libevent loop, sends M messages in all (pipelining
 * MAIL, RCPT and DATA as an MTA does, RFC 2920), and times each message
 * from the write of its final "." to the reply. It counts every final
 * reply code, so a scenario can check that every reply was the expected
 * one. It prints one JSON object on standard output.
 *
 * -F may be given up to MAX_FILES times and -f as many: message k (counted
 * over all sessions) is the (k mod files)-th file, sent from the (k mod
 * senders)-th address, so a run can rotate signed messages of several
 * sender domains, each with its own envelope (SPF and DMARC look at both).
 *
 * It also holds idle connections (-i N) for the memory-per-connection
 * measurement: it connects N sessions, reads their greetings, prints
 * {"idle": N} and waits for standard input to close.
 *
 * Test traffic only: it refuses any address outside 127.0.0.0/8 and ::1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS        20000
#define MAX_MESSAGES        10000000
#define MAX_REPLY_LINE      4096
#define IDLE_CONNECT_WINDOW 256 /* connects in flight at once, so the listen backlog holds */
#define MAX_FILES           16

enum sess_state {
	S_GREETING,
	S_EHLO,
	S_ENVELOPE, /* waiting for the MAIL, RCPT and DATA replies */
	S_BODY,     /* waiting for the final reply */
	S_QUIT,
	S_IDLE,
	S_DONE,
};

struct session {
	struct bufferevent *bev;
	enum sess_state state;
	int replies_wanted; /* in S_ENVELOPE */
	int envelope_ok;
	long msg; /* the message being sent: picks its file */
	double t_sent;
};

struct options {
	int sessions;
	long messages;
	int idle;
	int new_conn;
	int expect;
	const char *from[MAX_FILES], *to;
	int nfrom;
	char *message[MAX_FILES]; /* dot-stuffed, CRLF, ends with CRLF */
	size_t message_len[MAX_FILES];
	int nmessages;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static struct options opt = {
    .sessions = 1, .messages = 1, .expect = 250, .to = "bench@example.test"};
static struct event_base *base;
static struct session *sessions;
static long started, finished, unexpected, failed_sessions;
static int idle_started; /* -i: connections opened so far (a window of them at once) */
static long codes[600];
static double *latencies;
static int active;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void session_start(struct session *s);

static void idle_next(void);

static void session_end(struct session *s)
{
	int was_idle = s->state == S_IDLE;

	if (s->bev)
		bufferevent_free(s->bev);
	s->bev = NULL;
	s->state = S_DONE;
	if (opt.idle && !was_idle) {
		active--;
		idle_next(); /* a connection that failed before its greeting */
		return;
	}
	if (--active == 0 && !opt.idle)
		event_base_loopexit(base, NULL);
}

static void send_envelope(struct session *s)
{
	if (started >= opt.messages) {
		s->state = S_QUIT;
		bufferevent_write(s->bev, "QUIT\r\n", 6);
		return;
	}
	s->msg = started++;
	evbuffer_add_printf(bufferevent_get_output(s->bev),
	                    "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n",
	                    opt.from[s->msg % opt.nfrom], opt.to);
	s->state = S_ENVELOPE;
	s->replies_wanted = 3;
	s->envelope_ok = 1;
}

static void message_done(struct session *s, int code)
{
	if (code >= 0 && code < 600)
		codes[code]++;
	if (code != opt.expect)
		unexpected++;
	if (finished < opt.messages)
		latencies[finished] = now() - s->t_sent;
	finished++;
	if (opt.new_conn) {
		int again = started < opt.messages;

		if (again)
			active++;
		session_end(s);
		if (again)
			session_start(s);
		return;
	}
	send_envelope(s);
}

/* A complete reply's code, when its last line is in; -1 while more lines come. */
static int reply_code(const char *line, size_t len)
{
	if (len < 3)
		return 0;
	if (len > 3 && line[3] == '-')
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* -i: one more connection settled (idle or failed): open the next, or report. */
static void idle_next(void)
{
	if (idle_started < opt.idle) {
		active++;
		session_start(&sessions[idle_started++]);
		return;
	}
	if (finished + failed_sessions == opt.idle) {
		printf("{\"idle\": %ld, \"failed\": %ld}\n", finished, failed_sessions);
		fflush(stdout);
	}
}

static void on_reply(struct session *s, int code)
{
	switch (s->state) {
	case S_GREETING:
		if (code != 220)
			goto fail;
		if (opt.idle) {
			s->state = S_IDLE;
			finished++;
			idle_next();
			return;
		}
		evbuffer_add_printf(bufferevent_get_output(s->bev), "EHLO client.test\r\n");
		s->state = S_EHLO;
		return;
	case S_EHLO:
		if (code != 250)
			goto fail;
		send_envelope(s);
		return;
	case S_ENVELOPE:
		if (--s->replies_wanted > 0) {
			if (code != 250)
				s->envelope_ok = 0;
			return;
		}
		if (code != 354 || !s->envelope_ok) {
			/* Refused before the body: count it, reset, go on. */
			message_done(s, code == 354 ? 0 : code);
			if (code == 354)
				bufferevent_write(s->bev, ".\r\n", 3);
			return;
		}
		bufferevent_write(s->bev, opt.message[s->msg % opt.nmessages],
		                  opt.message_len[s->msg % opt.nmessages]);
		bufferevent_write(s->bev, ".\r\n", 3);
		s->t_sent = now();
		s->state = S_BODY;
		return;
	case S_BODY:
		message_done(s, code);
		return;
	case S_QUIT:
		session_end(s);
		return;
	default:
		return;
	}
fail:
	failed_sessions++;
	session_end(s);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (s->bev == bev && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
		int code = reply_code(line, len);

		free(line);
		if (code >= 0)
			on_reply(s, code);
	}
	if (s->bev == bev && evbuffer_get_length(in) > MAX_REPLY_LINE) {
		failed_sessions++;
		session_end(s);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return;
	}
	if (s->state != S_QUIT && s->state != S_DONE) {
		failed_sessions++;
		if (s->state == S_BODY || s->state == S_ENVELOPE) {
			s->state = S_DONE;
			codes[0]++; /* a message lost with its connection is unexpected */
			unexpected++;
			finished++;
		}
	}
	if (s->bev)
		session_end(s);
}

static void session_start(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->state = S_GREETING;
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&opt.addr, opt.addrlen) < 0) {
		failed_sessions++;
		session_end(s);
	}
}

/* A message of about size bytes: headers, then 76-column lines of text. */
static void make_message(size_t size)
{
	size_t cap = size + 1024, len;
	char *m = malloc(cap);

	len = (size_t)snprintf(m, cap,
	                       "From: Bench <%s>\r\nTo: <%s>\r\nSubject: benchmark message\r\n"
	                       "Message-ID: <bench@client.test>\r\nDate: Sun, 29 Nov 2026 "
	                       "12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
	                       "charset=us-ascii\r\n\r\n",
	                       opt.from[0], opt.to);
	while (len + 80 < size) {
		for (size_t i = 0; i < 76; i++, len++)
			m[len] = (char)('a' + (len + i) % 26);
		m[len++] = '\r';
		m[len++] = '\n';
	}
	opt.message[0] = m;
	opt.message_len[0] = len;
	opt.nmessages = 1;
}

/* Reads an .eml, makes its line endings CRLF and dot-stuffs it. */
static int load_message(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *m;
	size_t cap, len = 0;
	int c, bol = 1, prev = 0;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	cap = (size_t)ftell(f) * 2 + 16;
	rewind(f);
	m = malloc(cap);
	while ((c = getc(f)) != EOF && len + 4 < cap) {
		if (c == '\n' && prev != '\r')
			m[len++] = '\r';
		if (bol && c == '.')
			m[len++] = '.';
		m[len++] = (char)c;
		bol = c == '\n';
		prev = c;
	}
	fclose(f);
	if (!bol) {
		m[len++] = '\r';
		m[len++] = '\n';
	}
	opt.message[opt.nmessages] = m;
	opt.message_len[opt.nmessages++] = len;
	return 0;
}

static int parse_target(const char *s)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *v4 = (struct sockaddr_in *)&opt.addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&opt.addr;
	size_t hl;

	if (!colon || (hl = (size_t)(colon - s)) >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127)
			return -1;
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
		opt.addrlen = sizeof(*v4);
		return 0;
	}
	if (strcmp(host, "[::1]") == 0 && inet_pton(AF_INET6, "::1", &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
		opt.addrlen = sizeof(*v6);
		return 0;
	}
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void report(double seconds)
{
	long n = finished < opt.messages ? finished : opt.messages;

	qsort(latencies, (size_t)n, sizeof(double), cmp_double);
	printf("{\"messages\": %ld, \"replies\": {", n);
	for (int c = 0, first = 1; c < 600; c++)
		if (codes[c]) {
			printf("%s\"%d\": %ld", first ? "" : ", ", c, codes[c]);
			first = 0;
		}
	printf("}, \"unexpected\": %ld, \"failed_sessions\": %ld, \"seconds\": %.3f, "
	       "\"rate\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
	       unexpected, failed_sessions, seconds, seconds > 0 ? (double)n / seconds : 0.0,
	       n ? latencies[n / 2] * 1000 : 0.0, n ? latencies[(n * 99) / 100] * 1000 : 0.0,
	       n ? latencies[n - 1] * 1000 : 0.0);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: loadgen [-s sessions] [-m messages] [-l size | -F file.eml] "
	        "[-f from] [-t to] [-n] [-e code] [-i idle] 127.0.0.1:PORT\n"
	        "       -F and -f may be repeated (up to %d): message k is file k mod "
	        "files, from sender k mod senders\n",
	        MAX_FILES);
	exit(2);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];

	(void)what;
	(void)arg;
	if (read(fd, buf, sizeof(buf)) <= 0)
		event_base_loopexit(base, NULL);
}

/* The message files of -F (read in order), or one generated message of -l's size. */
static void load_messages(const char **files, int nfiles, size_t size)
{
	if (nfiles == 0) {
		make_message(size);
		return;
	}
	for (int i = 0; i < nfiles; i++)
		if (load_message(files[i]) < 0) {
			fprintf(stderr, "loadgen: cannot read %s\n", files[i]);
			exit(2);
		}
}

static void parse_options(int argc, char **argv)
{
	int c, nfiles = 0;
	size_t size = 5120;
	const char *files[MAX_FILES];

	while ((c = getopt(argc, argv, "s:m:l:F:f:t:ne:i:")) != -1) {
		if (c == 's')
			opt.sessions = (int)strtol(optarg, NULL, 10);
		else if (c == 'm')
			opt.messages = strtol(optarg, NULL, 10);
		else if (c == 'l')
			size = strtoul(optarg, NULL, 10);
		else if (c == 'F' && nfiles < MAX_FILES)
			files[nfiles++] = optarg;
		else if (c == 'f' && opt.nfrom < MAX_FILES)
			opt.from[opt.nfrom++] = optarg;
		else if (c == 't')
			opt.to = optarg;
		else if (c == 'n')
			opt.new_conn = 1;
		else if (c == 'e')
			opt.expect = (int)strtol(optarg, NULL, 10);
		else if (c == 'i')
			opt.idle = (int)strtol(optarg, NULL, 10);
		else
			usage();
	}
	if (optind != argc - 1 || parse_target(argv[optind]) < 0)
		usage();
	if (opt.idle)
		opt.sessions = opt.idle;
	if (opt.sessions < 1 || opt.sessions > MAX_SESSIONS || opt.messages < 1 ||
	    opt.messages > MAX_MESSAGES)
		usage();
	if (opt.nfrom == 0)
		opt.from[opt.nfrom++] = "bench@client.test";
	load_messages(files, nfiles, size);
}

int main(int argc, char **argv)
{
	double t0;
	struct rlimit rl;

	parse_options(argc, argv);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	latencies = calloc((size_t)opt.messages, sizeof(double));
	sessions = calloc((size_t)opt.sessions, sizeof(*sessions));
	base = event_base_new();
	if (!latencies || !sessions || !base)
		return 2;
	if (opt.idle) {
		struct event *ev = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, NULL);

		event_add(ev, NULL);
	}
	t0 = now();
	if (opt.idle) {
		for (int i = 0; i < IDLE_CONNECT_WINDOW && idle_started < opt.idle; i++) {
			active++;
			session_start(&sessions[idle_started++]);
		}
	} else {
		for (int i = 0; i < opt.sessions; i++) {
			active++;
			session_start(&sessions[i]);
		}
	}
	event_base_dispatch(base);
	if (!opt.idle)
		report(now() - t0);
	return (unexpected || failed_sessions) ? 1 : 0;
}
