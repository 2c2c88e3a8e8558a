/*
 * Portcullis bench: an SMTP load generator (the fallback for Postfix's
 * smtp-source), and the holder of idle sessions.
 *
 *	loadgen [-d] [-s sessions] [-m messages] [-l length] [-f from]
 *	    [-t to] [-M helo] [-T seconds] host:port
 *	loadgen -I count [-C connects] [-W seconds] [-M helo] [-T seconds]
 *	    host:port
 *
 * Send mode works like smtp-source: `sessions' sessions in parallel
 * send `messages' messages in all, each of `length' bytes of body after
 * a few header lines, one per connection, or with -d all of a session's
 * over one connection.  Commands go in lock step (no pipelining):
 * EHLO, MAIL, RCPT, DATA, the body, QUIT.  At the end it prints one
 * JSON line: {"ok": N, "fail": N, "conn_errors": N, "connections": N,
 * "elapsed": SECONDS, "timeout": false}.  A failed reply fails that
 * message (it is not sent again); a failed connect is tried again.
 *
 * Idle mode (-I) opens `count' sessions, at most `connects' (default
 * 200) connecting at once, reads each greeting, says EHLO and reads its
 * reply, then prints {"ready": N, "failed": N, "elapsed": SECONDS} and
 * holds them until standard input closes, SIGTERM, or the time limit;
 * at the end it prints {"dropped": N}: the sessions the server closed.
 * When not all are ready within -W seconds (default 60) it prints what
 * it has with "incomplete": true, stops connecting and holds those.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"

#define REPLY_MAX	4096
#define RETRY_USEC	10000		/* after a failed connect */

enum lg_state {
	LG_CONNECT,
	LG_GREETING,
	LG_EHLO,
	LG_MAIL,
	LG_RCPT,
	LG_DATA,
	LG_DOT,
	LG_QUIT,
	LG_IDLE
};

struct lg_session {
	struct bufferevent	*bev;
	enum lg_state		 state;
	int			 has_msg;	/* holds a reserved message */
};

/* what the command line asked */
static struct sockaddr_storage	 addr;
static socklen_t		 addrlen;
static int			 keep_open;	/* -d */
static long			 nsessions = 1, nmessages = 1, length = 100;
static long			 idle_count;	/* -I */
static long			 max_connects = 200;
static long			 ready_wait = 60;	/* -W */
static const char		*from = "bench@portcullis.test";
static const char		*to = "sink@sink.test";
static const char		*helo = "loadgen.portcullis.test";

static struct event_base	*base;
static struct event		*retry_ev;
static char			*message;	/* headers, body and "." */
static size_t			 message_len;
static double			 started;
static int			 timed_out;

/* counters */
static long	reserved, ok, fail, conn_errors, connections;
static long	open_sessions, connecting, ready, idle_failed, dropped;
static int	reported, ready_reported, gave_up;

static void	session_start(void);
static void	lg_read(struct bufferevent *, void *);
static void	lg_event(struct bufferevent *, short, void *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen [-d] [-s sessions] [-m messages] [-l length] "
	    "[-f from] [-t to]\n"
	    "           [-M helo] [-T seconds] host:port\n"
	    "       loadgen -I count [-C connects] [-W seconds] [-M helo] "
	    "[-T seconds] host:port\n");
	exit(2);
}

/*
 * The message, built once: a few header lines, then `length' bytes of
 * body in lines of 78 characters with CRLF, then the final dot.
 */
static void
build_message(void)
{
	char	head[1024];
	size_t	hlen, pos, left, line, i;
	int	n;

	n = snprintf(head, sizeof(head),
	    "From: <%s>\r\nTo: <%s>\r\nSubject: portcullis bench\r\n"
	    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
	    "Message-ID: <bench@loadgen.portcullis.test>\r\n\r\n", from, to);
	if (n < 0 || (size_t)n >= sizeof(head))
		errx(2, "addresses too long");
	hlen = n;
	if ((message = malloc(hlen + length + 2 + 3)) == NULL)
		err(1, NULL);
	memcpy(message, head, hlen);
	pos = hlen;
	for (left = length; left > 0; left -= line) {
		line = left > 80 ? 80 : left;
		for (i = 0; i + 2 < line; i++)
			message[pos + i] = 'a' + (i + pos / 80) % 26;
		if (line >= 2)
			memcpy(message + pos + line - 2, "\r\n", 2);
		else
			message[pos] = 'z';
		pos += line;
	}
	if (length > 0 && memcmp(message + pos - 2, "\r\n", 2) != 0) {
		memcpy(message + pos, "\r\n", 2);
		pos += 2;
	}
	memcpy(message + pos, ".\r\n", 3);
	message_len = pos + 3;
}

static void
finish(void)
{
	double	elapsed = bench_now() - started;

	if (reported)
		return;
	reported = 1;
	if (idle_count > 0)
		printf("{\"dropped\": %ld, \"timeout\": %s}\n", dropped,
		    timed_out ? "true" : "false");
	else
		printf("{\"ok\": %ld, \"fail\": %ld, \"conn_errors\": %ld, "
		    "\"connections\": %ld, \"elapsed\": %.6f, "
		    "\"timeout\": %s}\n", ok, fail, conn_errors, connections,
		    elapsed, timed_out ? "true" : "false");
	fflush(stdout);
	event_base_loopbreak(base);
}

static int
reserve(void)
{
	if (reserved >= nmessages)
		return 0;
	reserved++;
	return 1;
}

static void
send_line(struct lg_session *s, enum lg_state next, const char *fmt,
    const char *arg)
{
	evbuffer_add_printf(bufferevent_get_output(s->bev), fmt, arg);
	s->state = next;
}

static void
session_free(struct lg_session *s)
{
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s);
	open_sessions--;
}

/* Start new sessions while there is work (send mode). */
static void
refill(void)
{
	if (idle_count > 0)
		return;
	while (open_sessions < nsessions && reserved < nmessages)
		session_start();
	if (open_sessions == 0 && reserved >= nmessages)
		finish();
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	refill();
}

static void
idle_report(int incomplete)
{
	if (ready_reported || reported)
		return;
	ready_reported = 1;
	printf("{\"ready\": %ld, \"failed\": %ld, \"elapsed\": %.6f, "
	    "\"incomplete\": %s}\n", ready, idle_failed, bench_now() - started,
	    incomplete ? "true" : "false");
	fflush(stdout);
}

static void
idle_check(void)
{
	if (ready + idle_failed == idle_count)
		idle_report(0);
}

static void
idle_refill(void)
{
	while (!gave_up && connecting < max_connects &&
	    connections < idle_count)
		session_start();
}

static void
idle_give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	gave_up = 1;
	idle_report(1);
}

/* A session ends: count it, and start what comes next. */
static void
session_end(struct lg_session *s, int failed_connect)
{
	if (idle_count > 0) {
		if (s->state == LG_IDLE)
			dropped++;
		else {
			idle_failed++;
			connecting--;
			idle_check();
		}
		session_free(s);
		idle_refill();
		return;
	}
	if (s->has_msg) {
		if (failed_connect) {
			reserved--;	/* try that message again */
			conn_errors++;
		} else
			fail++;
	}
	session_free(s);
	if (conn_errors > 1000 + nmessages) {
		warnx("too many failed connections");
		finish();
		return;
	}
	if (failed_connect) {
		struct timeval	tv = { 0, RETRY_USEC };

		evtimer_add(retry_ev, &tv);
	} else
		refill();
}

static void
session_start(void)
{
	struct lg_session	*s;
	int			 one = 1;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		err(1, NULL);
	open_sessions++;
	connections++;
	if (idle_count > 0)
		connecting++;
	else
		s->has_msg = reserve();
	s->state = LG_CONNECT;
	s->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		errx(1, "bufferevent_socket_new");
	bufferevent_setcb(s->bev, lg_read, NULL, lg_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&addr,
	    addrlen) == -1) {
		session_end(s, 1);
		return;
	}
	setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one));
}

/* The next message on this connection, or QUIT. */
static void
next_transaction(struct lg_session *s)
{
	if (!s->has_msg)
		s->has_msg = reserve();
	if (s->has_msg)
		send_line(s, LG_MAIL, "MAIL FROM:<%s>\r\n", from);
	else
		send_line(s, LG_QUIT, "QUIT\r\n", NULL);
}

/* One complete reply with its code: the next command. */
static void
lg_reply(struct lg_session *s, int code)
{
	switch (s->state) {
	case LG_GREETING:
		if (code != 220)
			break;
		send_line(s, LG_EHLO, "EHLO %s\r\n", helo);
		return;
	case LG_EHLO:
		if (code != 250)
			break;
		if (idle_count > 0) {
			s->state = LG_IDLE;
			ready++;
			connecting--;
			idle_check();
			idle_refill();
			return;
		}
		next_transaction(s);
		return;
	case LG_MAIL:
		if (code != 250)
			break;
		send_line(s, LG_RCPT, "RCPT TO:<%s>\r\n", to);
		return;
	case LG_RCPT:
		if (code != 250 && code != 251)
			break;
		send_line(s, LG_DATA, "DATA\r\n", NULL);
		return;
	case LG_DATA:
		if (code != 354)
			break;
		evbuffer_add_reference(bufferevent_get_output(s->bev),
		    message, message_len, NULL, NULL);
		s->state = LG_DOT;
		return;
	case LG_DOT:
		s->has_msg = 0;
		if (code == 250)
			ok++;
		else
			fail++;
		if (keep_open)
			next_transaction(s);
		else
			send_line(s, LG_QUIT, "QUIT\r\n", NULL);
		return;
	case LG_QUIT:
		session_end(s, 0);
		return;
	default:
		break;
	}
	/* an unexpected reply: this session is over */
	if (s->state == LG_GREETING && idle_count == 0) {
		session_end(s, 1);
		return;
	}
	session_end(s, 0);
}

static void
lg_read(struct bufferevent *bev, void *arg)
{
	struct lg_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 n;
	int			 code;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		if (n < 3) {
			free(line);
			session_end(s, 0);
			return;
		}
		code = atoi(line);
		if (n > 3 && line[3] == '-') {
			free(line);
			continue;
		}
		free(line);
		if (s->state == LG_IDLE) {
			/* a 421 while idle: the server drops us */
			continue;
		}
		lg_reply(s, code);
		return;		/* lock step: one reply at a time */
	}
	if (evbuffer_get_length(in) > REPLY_MAX)
		session_end(s, 0);
}

static void
lg_event(struct bufferevent *bev, short what, void *arg)
{
	struct lg_session	*s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		s->state = LG_GREETING;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		session_end(s, s->state == LG_CONNECT ||
		    s->state == LG_GREETING);
}

static void
stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	timed_out = arg != NULL;
	finish();
}

static void
stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	char	buf[256];

	(void)what;
	(void)arg;
	if (read(fd, buf, sizeof(buf)) <= 0)
		finish();
}

int
main(int argc, char *argv[])
{
	struct event	*sigterm, *sigint, *deadline, *input = NULL, *wait_ev;
	struct timeval	 wait_tv = { 0, 0 };
	struct timeval	 limit = { 600, 0 };
	int		 ch;

	while ((ch = getopt(argc, argv, "dC:f:I:l:m:M:s:t:T:W:")) != -1) {
		switch (ch) {
		case 'd':
			keep_open = 1;
			break;
		case 'C':
			max_connects = bench_number(optarg, 1, 100000, "-C");
			break;
		case 'f':
			from = optarg;
			break;
		case 'I':
			idle_count = bench_number(optarg, 1, 1000000, "-I");
			break;
		case 'l':
			length = bench_number(optarg, 0, 100 << 20, "-l");
			break;
		case 'm':
			nmessages = bench_number(optarg, 1, 100000000, "-m");
			break;
		case 'M':
			helo = optarg;
			break;
		case 's':
			nsessions = bench_number(optarg, 1, 100000, "-s");
			break;
		case 't':
			to = optarg;
			break;
		case 'T':
			limit.tv_sec = bench_number(optarg, 1, 86400, "-T");
			break;
		case 'W':
			ready_wait = bench_number(optarg, 1, 86400, "-W");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	bench_addr(argv[0], &addr, &addrlen);
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	build_message();

	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	retry_ev = evtimer_new(base, retry_cb, NULL);
	sigterm = evsignal_new(base, SIGTERM, stop, NULL);
	sigint = evsignal_new(base, SIGINT, stop, NULL);
	deadline = evtimer_new(base, stop, base);
	if (retry_ev == NULL || sigterm == NULL || sigint == NULL ||
	    deadline == NULL)
		errx(1, "event_new");
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(deadline, &limit);

	started = bench_now();
	if (idle_count > 0) {
		input = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST,
		    stdin_cb, NULL);
		if (input == NULL || event_add(input, NULL) == -1)
			errx(1, "cannot watch standard input");
		wait_tv.tv_sec = ready_wait;
		if ((wait_ev = evtimer_new(base, idle_give_up, NULL)) == NULL ||
		    evtimer_add(wait_ev, &wait_tv) == -1)
			errx(1, "evtimer_new");
		idle_refill();
	} else
		refill();
	event_base_dispatch(base);
	finish();
	return 0;
}
