/*
 * Portcullis: the control process.  It serves the control socket the
 * parent bound for it: each smtpctl connection is a client with an id,
 * speaks the protocol of control_imsg.h, and has its requests forwarded
 * to the parent with the client id as peer id; the answers come back
 * with the same peer id and are relayed to the client, or dropped when
 * the client has gone.
 *
 * A client is untrusted: whatever it sends, the worst outcome is that
 * its own connection is closed.  That is why client channels are driven
 * here with the low-level ipc calls (ipc_read/ipc_get/ipc_try_*) rather
 * than with ipc_event_set(), whose malformed-frame handling is fatal.
 * The parent is trusted: a malformed frame from it is fatal.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "control_imsg.h"

#define CONTROL_MAX_CLIENTS	32
#define CONTROL_IDLE_TIMEOUT	60	/* seconds without a frame */
#define CONTROL_CLOSE_TIMEOUT	5	/* seconds to flush a last answer */
#define CONTROL_ACCEPT_PAUSE	1	/* seconds, when out of descriptors */
#define CONTROL_MAX_QUEUED	256	/* frames waiting for a slow client */

enum client_state {
	CLIENT_NEW,		/* connected, HELLO expected */
	CLIENT_READY,		/* may send a request */
	CLIENT_BUSY,		/* a request is at the parent */
	CLIENT_CLOSING		/* flushing a last answer, then closed */
};

struct ctl_client {
	TAILQ_ENTRY(ctl_client)	 entry;
	uint32_t		 id;	/* the peer id of its requests */
	struct ipc		 ipc;
	struct event		 ev;
	short			 events;	/* registered EV_READ|EV_WRITE */
	struct event		 timer;
	enum client_state	 state;
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
};

TAILQ_HEAD(ctl_clients, ctl_client);

static struct ctl_clients clients = TAILQ_HEAD_INITIALIZER(clients);
static int		 nclients;
static uint32_t		 next_id = 1;
static int		 listen_fd = -1;
static struct event	 ev_listen;
static struct event	 ev_pause;

static void	 control_imsg(enum proc_id, struct ipc_msg *);
static void	 control_listen(int);
static void	 control_accept(int, short, void *);
static void	 control_resume(int, short, void *);
static void	 control_refuse(int, const char *);
static int	 control_peercred(int, uid_t *, gid_t *, pid_t *);
static void	 control_relay(struct ipc_msg *);
static struct ctl_client *client_byid(uint32_t);
static uint32_t	 client_newid(void);
static void	 client_io(int, short, void *);
static void	 client_timeout(int, short, void *);
static int	 client_frame(struct ctl_client *, struct ipc_msg *);
static int	 client_hello(struct ctl_client *, struct ipc_msg *);
static int	 client_request(struct ctl_client *, struct ipc_msg *);
static int	 client_reply(struct ctl_client *, uint32_t, const char *);
static void	 client_update(struct ctl_client *);
static void	 client_arm(struct ctl_client *, int);
static void	 client_close(struct ctl_client *, const char *);

void
control(void)
{
	proc_set_dispatch(control_imsg);
	evtimer_set(&ev_pause, control_resume, NULL);
}

/*
 * Messages from the parent: the listening socket, and the answers to
 * the requests we forwarded.  Nothing else is expected from anyone.
 */
static void
control_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from != PROC_PARENT)
		fatalx("%s not from parent (from %s)",
		    ipc_type_name(m->hdr.type), proc_name(from));

	switch (m->hdr.type) {
	case IMSG_PARENT_CONTROL_SOCK:
		ipc_end(m);
		if (m->fd == -1)
			fatalx("IMSG_PARENT_CONTROL_SOCK without a descriptor");
		control_listen(m->fd);
		m->fd = -1;
		return;
	case IMSG_PARENT_CONF_START:
	case IMSG_PARENT_CONF_ITEM:
	case IMSG_PARENT_CONF_END:
		/* nothing to configure; proc.c answers CONF_END */
		return;
	case IMSG_CTL_STATUS:
		(void)ipc_get_string(m);	/* name */
		(void)ipc_get_u32(m);		/* pid */
		(void)ipc_get_i64(m);		/* started */
		(void)ipc_get_u32(m);		/* restarts */
		(void)ipc_get_string(m);	/* state */
		ipc_end(m);
		control_relay(m);
		return;
	case IMSG_CTL_OK:
		ipc_end(m);
		control_relay(m);
		return;
	case IMSG_CTL_FAIL:
		(void)ipc_get_string(m);
		ipc_end(m);
		control_relay(m);
		return;
	}
	fatalx("unexpected %s from parent", ipc_type_name(m->hdr.type));
}

static void
control_listen(int fd)
{
	int	 flags;

	/* Every configuration (a reload too) comes with the socket, which
	 * stays the same until a restart: keep serving the one we have. */
	if (listen_fd != -1) {
		close(fd);
		return;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		fatal("control socket: fcntl");
	listen_fd = fd;
	event_set(&ev_listen, listen_fd, EV_READ | EV_PERSIST, control_accept,
	    NULL);
	if (event_add(&ev_listen, NULL) == -1)
		fatal("event_add control socket");
	log_debug("serving the control socket");
}

/*
 * An answer from the parent for the client whose id is the peer id: a
 * data frame, or the final OK/FAIL that frees the client for its next
 * request.  A client that went away is not an error.
 */
static void
control_relay(struct ipc_msg *m)
{
	struct ctl_client	*c;
	uint32_t		 type = m->hdr.type;

	if ((c = client_byid(m->hdr.peerid)) == NULL ||
	    c->state != CLIENT_BUSY) {
		log_debug("%s for client %u: client gone, dropped",
		    ipc_type_name(type), m->hdr.peerid);
		return;
	}
	if (c->ipc.outcount >= CONTROL_MAX_QUEUED) {
		client_close(c, "not reading its answers");
		return;
	}
	if (ipc_compose(&c->ipc, type, c->id, -1, m->data, m->len) == -1) {
		log_warn("client %u: %s", c->id, ipc_type_name(type));
		client_close(c, "cannot queue an answer");
		return;
	}
	if (type == IMSG_CTL_OK || type == IMSG_CTL_FAIL) {
		c->state = CLIENT_READY;
		client_arm(c, CONTROL_IDLE_TIMEOUT);
	}
	client_update(c);
}

static void
control_accept(int fd, short event, void *arg)
{
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { CONTROL_ACCEPT_PAUSE, 0 };
	socklen_t		 len = sizeof(ss);
	struct ctl_client	*c;
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
	int			 s;

	(void)event;
	(void)arg;
	if ((s = accept4(fd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		switch (errno) {
		case EINTR:
		case EAGAIN:
		case ECONNABORTED:
			return;
		case EMFILE:
		case ENFILE:
			log_warn("control accept, pausing");
			event_del(&ev_listen);
			evtimer_add(&ev_pause, &tv);
			return;
		default:
			log_warn("control accept");
			return;
		}
	}
	if (control_peercred(s, &uid, &gid, &pid) == -1) {
		log_warn("control client: SO_PEERCRED");
		close(s);
		return;
	}
	if (nclients >= CONTROL_MAX_CLIENTS) {
		log_warnx("control client refused: uid=%lu pid=%ld: "
		    "%d connections already", (unsigned long)uid, (long)pid,
		    nclients);
		control_refuse(s, "too many control connections, "
		    "try again later");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("control client");
		control_refuse(s, "out of memory");
		return;
	}
	c->id = client_newid();
	c->uid = uid;
	c->gid = gid;
	c->pid = pid;
	c->state = CLIENT_NEW;
	ipc_init(&c->ipc, s, "smtpctl");
	evtimer_set(&c->timer, client_timeout, c);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
	log_debug("client %u connected: uid=%lu gid=%lu pid=%ld", c->id,
	    (unsigned long)uid, (unsigned long)gid, (long)pid);
	client_arm(c, CONTROL_IDLE_TIMEOUT);
	client_update(c);
}

static void
control_resume(int fd, short event, void *arg)
{
	(void)fd;
	(void)event;
	(void)arg;
	if (listen_fd != -1 && event_add(&ev_listen, NULL) == -1)
		fatal("event_add control socket");
}

/* Tell a connection we cannot serve why, if it can take it now. */
static void
control_refuse(int s, const char *reason)
{
	struct ipc	 ch;
	struct ipc_obuf	*ob;

	ipc_init(&ch, s, "smtpctl");
	if ((ob = ipc_create(&ch, IMSG_CTL_FAIL, 0, -1)) != NULL) {
		ipc_add_string(ob, reason);
		if (ipc_close(ob) == 0)
			(void)ipc_write(&ch);
	}
	ipc_clear(&ch);
}

static int
control_peercred(int s, uid_t *uid, gid_t *gid, pid_t *pid)
{
#ifdef __OpenBSD__
	struct sockpeercred	 cred;
#else
	struct ucred		 cred;
#endif
	socklen_t		 len = sizeof(cred);

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	if (len != sizeof(cred)) {
		errno = EINVAL;
		return -1;
	}
	*uid = cred.uid;
	*gid = cred.gid;
	*pid = cred.pid;
	return 0;
}

static struct ctl_client *
client_byid(uint32_t id)
{
	struct ctl_client	*c;

	TAILQ_FOREACH(c, &clients, entry)
		if (c->id == id)
			return c;
	return NULL;
}

/* Ids are not reused soon, so a late answer never finds a new client. */
static uint32_t
client_newid(void)
{
	uint32_t	 id;

	do {
		id = next_id++;
	} while (id == 0 || client_byid(id) != NULL);
	return id;
}

static void
client_io(int fd, short event, void *arg)
{
	struct ctl_client	*c = arg;
	struct ipc_msg		 m;
	ssize_t			 n;
	int			 r;

	(void)fd;
	if (event & EV_WRITE) {
		if ((r = ipc_write(&c->ipc)) == -1 && errno != EAGAIN &&
		    errno != EINTR) {
			client_close(c, strerror(errno));
			return;
		}
		if (r == 1 && c->state == CLIENT_CLOSING) {
			client_close(c, NULL);
			return;
		}
	}
	if (event & EV_READ) {
		if ((n = ipc_read(&c->ipc)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				goto done;
			client_close(c, errno == EBADMSG ? "malformed frame" :
			    strerror(errno));
			return;
		}
		if (n == 0) {
			client_close(c, NULL);
			return;
		}
		for (;;) {
			memset(&m, 0, sizeof(m));
			m.fd = -1;
			if ((r = ipc_get(&c->ipc, &m)) == 0)
				break;
			if (r == -1) {
				client_close(c, "malformed frame");
				return;
			}
			r = client_frame(c, &m);
			if (m.fd != -1)
				close(m.fd);
			if (r == -1)
				return;		/* c is gone */
			if (c->state == CLIENT_CLOSING)
				break;
		}
	}
 done:
	client_update(c);
}

static void
client_timeout(int fd, short event, void *arg)
{
	struct ctl_client	*c = arg;

	(void)fd;
	(void)event;
	switch (c->state) {
	case CLIENT_BUSY:
		/* the parent is working on it (a reload may take a while) */
		client_arm(c, CONTROL_IDLE_TIMEOUT);
		return;
	case CLIENT_CLOSING:
		client_close(c, "could not deliver its last answer");
		return;
	default:
		client_close(c, "idle timeout");
		return;
	}
}

/*
 * One frame from a client.  Returns -1 when the client was closed (and
 * freed), else 0.
 */
static int
client_frame(struct ctl_client *c, struct ipc_msg *m)
{
	if (m->fd != -1) {
		client_close(c, "sent a descriptor");
		return -1;
	}
	switch (c->state) {
	case CLIENT_NEW:
		return client_hello(c, m);
	case CLIENT_READY:
		client_arm(c, CONTROL_IDLE_TIMEOUT);
		return client_request(c, m);
	case CLIENT_BUSY:
		client_close(c, "sent a request while one was pending");
		return -1;
	case CLIENT_CLOSING:
		return 0;
	}
	return 0;
}

static int
client_hello(struct ctl_client *c, struct ipc_msg *m)
{
	char		 reason[128];
	uint32_t	 version;

	if (m->hdr.type != IMSG_CTL_HELLO) {
		log_warnx("client %u: %s before IMSG_CTL_HELLO", c->id,
		    ipc_type_name(m->hdr.type));
		c->state = CLIENT_CLOSING;
		client_arm(c, CONTROL_CLOSE_TIMEOUT);
		return client_reply(c, IMSG_CTL_FAIL,
		    "protocol error: expected hello");
	}
	if (ipc_try_u32(m, &version) == -1 || ipc_try_end(m) == -1) {
		client_close(c, "malformed IMSG_CTL_HELLO");
		return -1;
	}
	if (version != CTL_VERSION) {
		log_warnx("client %u: protocol version %u, expected %u",
		    c->id, version, CTL_VERSION);
		(void)snprintf(reason, sizeof(reason), "protocol version "
		    "mismatch: smtpctl speaks %u, smtpd speaks %u", version,
		    CTL_VERSION);
		c->state = CLIENT_CLOSING;
		client_arm(c, CONTROL_CLOSE_TIMEOUT);
		return client_reply(c, IMSG_CTL_FAIL, reason);
	}
	c->state = CLIENT_READY;
	client_arm(c, CONTROL_IDLE_TIMEOUT);
	return client_reply(c, IMSG_CTL_OK, NULL);
}

/* A request: check its shape, then hand it to the parent. */
static int
client_request(struct ctl_client *c, struct ipc_msg *m)
{
	uint32_t	 type = m->hdr.type, level = 0;
	const char	*what;
	char		 reason[64];

	switch (type) {
	case IMSG_CTL_STATUS_REQ:
		what = "status";
		break;
	case IMSG_CTL_RELOAD_REQ:
		what = "reload";
		break;
	case IMSG_CTL_STOP_REQ:
		what = "stop";
		break;
	case IMSG_CTL_VERBOSE_REQ:
		what = "log level";
		if (ipc_try_u32(m, &level) == -1) {
			client_close(c, "malformed IMSG_CTL_VERBOSE_REQ");
			return -1;
		}
		break;
	default:
		log_debug("client %u: unknown request %s", c->id,
		    ipc_type_name(type));
		return client_reply(c, IMSG_CTL_FAIL, "unknown request");
	}
	if (ipc_try_end(m) == -1) {
		(void)snprintf(reason, sizeof(reason), "malformed %s",
		    ipc_type_name(type));
		client_close(c, reason);
		return -1;
	}

	if (type == IMSG_CTL_STATUS_REQ)
		log_debug("client %u: %s requested by uid=%lu pid=%ld", c->id,
		    what, (unsigned long)c->uid, (long)c->pid);
	else if (type == IMSG_CTL_VERBOSE_REQ)
		log_info("client %u: log %s requested by uid=%lu pid=%ld",
		    c->id, level ? "verbose" : "brief",
		    (unsigned long)c->uid, (long)c->pid);
	else
		log_info("client %u: %s requested by uid=%lu pid=%ld", c->id,
		    what, (unsigned long)c->uid, (long)c->pid);

	/* the payload has been checked: pass it on as it came */
	if (proc_compose(PROC_PARENT, type, c->id, -1, m->data, m->len) == -1)
		return client_reply(c, IMSG_CTL_FAIL,
		    "the daemon cannot take requests now");
	c->state = CLIENT_BUSY;
	return 0;
}

/* Queue an OK (reason NULL) or a FAIL for the client. */
static int
client_reply(struct ctl_client *c, uint32_t type, const char *reason)
{
	struct ipc_obuf	*ob;

	if ((ob = ipc_create(&c->ipc, type, c->id, -1)) == NULL) {
		client_close(c, "cannot queue an answer");
		return -1;
	}
	if (reason != NULL)
		ipc_add_string(ob, reason);
	if (ipc_close(ob) == -1) {
		client_close(c, "cannot queue an answer");
		return -1;
	}
	client_update(c);
	return 0;
}

/* Register the events the client's state calls for. */
static void
client_update(struct ctl_client *c)
{
	short	 events = 0;

	if (c->state != CLIENT_CLOSING)
		events |= EV_READ;
	if (c->ipc.outcount > 0)
		events |= EV_WRITE;
	if (events == c->events)
		return;
	if (c->events != 0)
		event_del(&c->ev);
	c->events = events;
	if (events == 0)
		return;
	event_set(&c->ev, c->ipc.fd, events | EV_PERSIST, client_io, c);
	if (event_add(&c->ev, NULL) == -1)
		fatal("event_add control client");
}

static void
client_arm(struct ctl_client *c, int seconds)
{
	struct timeval	 tv = { seconds, 0 };

	evtimer_del(&c->timer);
	evtimer_add(&c->timer, &tv);
}

/* Close and free a client; reason NULL for an orderly end. */
static void
client_close(struct ctl_client *c, const char *reason)
{
	if (reason != NULL)
		log_warnx("client %u (uid=%lu pid=%ld) closed: %s", c->id,
		    (unsigned long)c->uid, (long)c->pid, reason);
	else
		log_debug("client %u disconnected", c->id);
	if (c->events != 0)
		event_del(&c->ev);
	evtimer_del(&c->timer);
	ipc_clear(&c->ipc);
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	free(c);
}
