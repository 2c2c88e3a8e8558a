/*
 * Portcullis: the smtp front end process.  It takes the listening
 * sockets from the parent, accepts connections and speaks to clients.
 *
 * The foundation: connections are accepted on every listener and
 * greeted; the SMTP protocol itself (commands, TLS, the mail
 * transaction) comes with the core mail path.  Until then every command
 * but NOOP and QUIT is answered with 502 so that a client knows where it
 * stands, and idle sessions are closed after the RFC 5321 command
 * timeout.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "config.h"

#define SMTP_LINE_MAX		512	/* RFC 5321 4.5.3.1.4, with CRLF */
#define SMTP_CMD_TIMEOUT	300	/* RFC 5321 4.5.3.2.7 */
#define SMTP_ACCEPT_PAUSE	1	/* seconds, when out of descriptors */

struct smtp_listener {
	TAILQ_ENTRY(smtp_listener) entry;
	int			 fd;
	uint32_t		 flags;
	uint32_t		 port;
	struct event		 ev;
	struct event		 ev_pause;
};
TAILQ_HEAD(smtp_listeners, smtp_listener);

struct smtp_session {
	uint64_t		 id;
	struct bufferevent	*bev;
};

static struct smtp_listeners	 listeners = TAILQ_HEAD_INITIALIZER(listeners);
static struct smtp_listeners	 incoming = TAILQ_HEAD_INITIALIZER(incoming);
static char			 hostname[CONFIG_HOST_MAX] = "localhost";
static uint64_t			 session_ids;

static struct config		*smtp_conf;

static void	 smtp_imsg(enum proc_id, struct ipc_msg *);
static void	 smtp_config(struct config *);
static void	 smtp_accept(int, short, void *);
static void	 smtp_resume(int, short, void *);
static void	 smtp_listeners_swap(void);
static void	 smtp_session_read(struct bufferevent *, void *);
static void	 smtp_session_event(struct bufferevent *, short, void *);
static void	 smtp_session_close(struct smtp_session *, const char *);
static void	 smtp_reply(struct smtp_session *, const char *);

void
smtp(void)
{
	proc_set_dispatch(smtp_imsg);
	proc_set_conf(smtp_config);
}

/* A new configuration: its listeners have arrived before it. */
static void
smtp_config(struct config *conf)
{
	config_free(smtp_conf);
	smtp_conf = conf;
	if (strlcpy(hostname, conf->hostname, sizeof(hostname)) >=
	    sizeof(hostname))
		fatalx("hostname too long");
	smtp_listeners_swap();
}

static void
smtp_imsg(enum proc_id from, struct ipc_msg *m)
{
	struct smtp_listener	*l;

	if (from != PROC_PARENT)
		fatalx("%s from %s: not for smtp",
		    ipc_type_name(m->hdr.type), proc_name(from));
	switch (m->hdr.type) {
	case IMSG_PARENT_LISTENER:
		if (m->fd == -1)
			fatalx("IMSG_PARENT_LISTENER without a socket");
		if ((l = calloc(1, sizeof(*l))) == NULL)
			fatal("calloc");
		l->flags = ipc_get_u32(m);
		l->port = ipc_get_u32(m);
		(void)ipc_get_string(m);	/* pki: TLS comes with issue 3 */
		ipc_end(m);
		l->fd = m->fd;
		m->fd = -1;
		TAILQ_INSERT_TAIL(&incoming, l, entry);
		return;
	}
	fatalx("%s from parent: not for smtp", ipc_type_name(m->hdr.type));
}

/* A new configuration brings the whole set of listeners anew. */
static void
smtp_listeners_swap(void)
{
	struct smtp_listener	*l;

	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		event_del(&l->ev);
		if (evtimer_initialized(&l->ev_pause))
			evtimer_del(&l->ev_pause);
		close(l->fd);
		free(l);
	}
	while ((l = TAILQ_FIRST(&incoming)) != NULL) {
		TAILQ_REMOVE(&incoming, l, entry);
		event_set(&l->ev, l->fd, EV_READ | EV_PERSIST, smtp_accept, l);
		event_add(&l->ev, NULL);
		evtimer_set(&l->ev_pause, smtp_resume, l);
		TAILQ_INSERT_TAIL(&listeners, l, entry);
	}
}

static void
smtp_resume(int fd, short event, void *arg)
{
	struct smtp_listener	*l = arg;

	(void)fd;
	(void)event;
	event_add(&l->ev, NULL);
}

static void
smtp_accept(int fd, short event, void *arg)
{
	struct smtp_listener	*l = arg;
	struct smtp_session	*s;
	struct timeval		 tv = { SMTP_ACCEPT_PAUSE, 0 };
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	int			 sock;

	(void)event;
	sock = accept4(fd, (struct sockaddr *)&ss, &sslen,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sock == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("accept: pausing the listener");
			event_del(&l->ev);
			evtimer_add(&l->ev_pause, &tv);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->bev = bufferevent_socket_new(NULL, sock,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn("session");
		free(s);
		close(sock);
		return;
	}
	s->id = ++session_ids;
	tv.tv_sec = SMTP_CMD_TIMEOUT;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_setcb(s->bev, smtp_session_read, NULL, smtp_session_event,
	    s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_debug("%016llx smtp event=connect port=%u",
	    (unsigned long long)s->id, l->port);
	smtp_reply(s, "220 ");
}

static void
smtp_reply(struct smtp_session *s, const char *code)
{
	if (strcmp(code, "220 ") == 0)
		evbuffer_add_printf(bufferevent_get_output(s->bev),
		    "220 %s ESMTP Portcullis\r\n", hostname);
	else
		evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\r\n",
		    code);
}

static void
smtp_session_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (len + 2 > SMTP_LINE_MAX)
			smtp_reply(s, "500 5.5.2 Line too long");
		else if (strcasecmp(line, "QUIT") == 0) {
			free(line);
			smtp_reply(s, "221 2.0.0 Bye");
			smtp_session_close(s, "quit");
			return;
		} else if (strcasecmp(line, "NOOP") == 0)
			smtp_reply(s, "250 2.0.0 Ok");
		else
			smtp_reply(s, "502 5.5.1 Command not implemented");
		free(line);
	}
	if (evbuffer_get_length(in) > SMTP_LINE_MAX) {
		smtp_reply(s, "500 5.5.2 Line too long");
		smtp_session_close(s, "line too long");
	}
}

static void
smtp_session_flushed(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;

	(void)bev;
	bufferevent_free(s->bev);
	free(s);
}

/* Close once what is queued has been written. */
static void
smtp_session_close(struct smtp_session *s, const char *why)
{
	log_debug("%016llx smtp event=closed reason=\"%s\"",
	    (unsigned long long)s->id, why);
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		smtp_session_flushed(s->bev, s);
		return;
	}
	bufferevent_setcb(s->bev, NULL, smtp_session_flushed,
	    smtp_session_event, s);
}

static void
smtp_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session	*s = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		smtp_reply(s, "421 4.4.2 Timeout, closing the connection");
		bufferevent_setcb(s->bev, NULL, smtp_session_flushed,
		    smtp_session_event, s);
		bufferevent_disable(s->bev, EV_READ);
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	log_debug("%016llx smtp event=closed reason=\"%s\"",
	    (unsigned long long)s->id,
	    (what & BEV_EVENT_EOF) ? "client closed" : "error");
	bufferevent_free(s->bev);
	free(s);
}
