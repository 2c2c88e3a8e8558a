/*
 * Portcullis bench: an SMTP sink that takes every message and throws it
 * away, counting them (the fallback for Postfix's smtp-sink).
 *
 *	sink [-t seconds] host:port
 *
 * It speaks enough ESMTP for an MTA's outbound client: EHLO/HELO (with
 * PIPELINING, 8BITMIME, SIZE, ENHANCEDSTATUSCODES), MAIL, RCPT, DATA,
 * RSET, NOOP, QUIT, and any number of transactions per connection.
 * Pipelined commands are answered in order.  Whenever its count of
 * messages changed, at most every 10 ms, it writes the total as a line
 * "N" to standard output, so a driver can wait for N.  It exits on
 * SIGTERM/SIGINT or after the time limit (default 3600 s).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "benchutil.h"

#define LINE_MAX_LEN	4096

enum sink_state {
	SINK_CMD,
	SINK_BODY
};

struct sink_conn {
	struct bufferevent	*bev;
	enum sink_state		 state;
	int			 bol;	/* the body is at a line start */
	int			 closing;
};

static struct event_base	*base;
static unsigned long		 messages, reported = (unsigned long)-1;

static void	sink_read(struct bufferevent *, void *);
static void	sink_event(struct bufferevent *, short, void *);

static void
usage(void)
{
	fprintf(stderr, "usage: sink [-t seconds] host:port\n");
	exit(2);
}

static void
conn_free(struct sink_conn *c)
{
	bufferevent_free(c->bev);
	free(c);
}

static void
reply(struct sink_conn *c, const char *text)
{
	bufferevent_write(c->bev, text, strlen(text));
}

static void
sink_command(struct sink_conn *c, const char *line)
{
	if (strncasecmp(line, "EHLO", 4) == 0)
		reply(c, "250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
		    "250-SIZE 104857600\r\n250 ENHANCEDSTATUSCODES\r\n");
	else if (strncasecmp(line, "HELO", 4) == 0)
		reply(c, "250 sink\r\n");
	else if (strncasecmp(line, "MAIL", 4) == 0 ||
	    strncasecmp(line, "RCPT", 4) == 0)
		reply(c, "250 2.1.0 Ok\r\n");
	else if (strncasecmp(line, "DATA", 4) == 0) {
		reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		c->state = SINK_BODY;
		c->bol = 1;
	} else if (strncasecmp(line, "RSET", 4) == 0 ||
	    strncasecmp(line, "NOOP", 4) == 0)
		reply(c, "250 2.0.0 Ok\r\n");
	else if (strncasecmp(line, "QUIT", 4) == 0) {
		reply(c, "221 2.0.0 Bye\r\n");
		c->closing = 1;
	} else
		reply(c, "502 5.5.2 Error: command not recognized\r\n");
}

/*
 * Skip body bytes up to the end of data.  Returns 1 at the end of data
 * (consumed), 0 when more input is needed.
 */
static int
sink_body(struct sink_conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr	 p;
	size_t			 len;
	unsigned char		*head;

	len = evbuffer_get_length(in);
	if (c->bol) {
		if (len < 3)
			return 0;
		head = evbuffer_pullup(in, 3);
		if (memcmp(head, ".\r\n", 3) == 0) {
			evbuffer_drain(in, 3);
			return 1;
		}
		c->bol = 0;
	}
	p = evbuffer_search(in, "\r\n.\r\n", 5, NULL);
	if (p.pos != -1) {
		evbuffer_drain(in, p.pos + 5);
		return 1;
	}
	/* keep what could be the start of "\r\n.\r\n" */
	if (len > 4)
		evbuffer_drain(in, len - 4);
	return 0;
}

static void
sink_read(struct bufferevent *bev, void *arg)
{
	struct sink_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 n;

	while (!c->closing) {
		if (c->state == SINK_BODY) {
			if (!sink_body(c, in))
				break;
			messages++;
			c->state = SINK_CMD;
			reply(c, "250 2.0.0 Ok: queued\r\n");
			continue;
		}
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > LINE_MAX_LEN) {
				conn_free(c);
				return;
			}
			break;
		}
		sink_command(c, line);
		free(line);
	}
	if (c->closing) {
		/* close once the reply is out */
		bufferevent_disable(bev, EV_READ);
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(c);
	}
}

static void
sink_write(struct bufferevent *bev, void *arg)
{
	struct sink_conn	*c = arg;

	(void)bev;
	if (c->closing)
		conn_free(c);
}

static void
sink_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void
sink_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct sink_conn	*c;
	int			 one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, sink_read, sink_write, sink_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	reply(c, "220 sink ESMTP\r\n");
}

static void
report(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (messages != reported) {
		reported = messages;
		printf("%lu\n", messages);
		fflush(stdout);
	}
}

static void
stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct evconnlistener	*l;
	struct event		*tick, *sigterm, *sigint, *deadline;
	struct timeval		 tv10ms = { 0, 10000 }, limit = { 3600, 0 };
	int			 ch;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			limit.tv_sec = bench_number(optarg, 1, 86400, "-t");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	bench_addr(argv[0], &ss, &sslen);
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();

	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	l = evconnlistener_new_bind(base, sink_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
	    (struct sockaddr *)&ss, sslen);
	if (l == NULL)
		err(1, "listen on %s", argv[0]);
	tick = event_new(base, -1, EV_PERSIST, report, NULL);
	sigterm = evsignal_new(base, SIGTERM, stop, NULL);
	sigint = evsignal_new(base, SIGINT, stop, NULL);
	deadline = evtimer_new(base, stop, NULL);
	if (tick == NULL || sigterm == NULL || sigint == NULL ||
	    deadline == NULL)
		errx(1, "event_new");
	event_add(tick, &tv10ms);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(deadline, &limit);
	report(-1, 0, NULL);

	event_base_dispatch(base);
	report(-1, 0, NULL);
	return 0;
}
