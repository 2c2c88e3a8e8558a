/*
 * Portcullis: the control process.  It serves the control socket the
 * parent bound for it: each smtpctl connection is a client with an id,
 * speaks the protocol of control_imsg.h, and has its requests forwarded
 * with the client id as peer id to the process that serves them (the
 * routes[] table: the parent, the queue, the smtp front end or auth); the
 * answers come back with the same peer id and are relayed to the
 * client frame by frame, or dropped when the client has gone.
 *
 * A queue listing is a stream: the queue sends at most CTL_WINDOW
 * frames ahead, and each time the client has read all that was relayed
 * to it we credit the queue with IMSG_CTL_MORE; a client that goes away
 * mid-stream is cancelled at the queue (IMSG_CTL_CANCEL).  When the
 * process a request is at dies, its client gets IMSG_CTL_FAIL.
 *
 * A client is untrusted: whatever it sends, the worst outcome is that
 * its own connection is closed.  That is why client channels are driven
 * here with the low-level ipc calls (ipc_read/ipc_get/ipc_try_*) rather
 * than with ipc_event_set(), whose malformed-frame handling is fatal.
 * The daemon's processes are trusted: a malformed frame from them, or
 * an answer from a process the request was not sent to, is fatal.
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
	CLIENT_BUSY,		/* a request is at a process (at) */
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
	enum proc_id		 at;	/* where the request is, when BUSY */
	uint32_t		 relayed; /* queue frames not yet credited */
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
};

TAILQ_HEAD(ctl_clients, ctl_client);

/* What a request carries, checked before it goes on. */
enum ctl_args {
	ARGS_NONE,
	ARGS_LEVEL,		/* u32 0 or 1 */
	ARGS_MSGID,		/* u64 */
	ARGS_TARGET,		/* u32 all, u64 msgid */
	ARGS_LOGIN,		/* string user, string address */
	ARGS_ADDRESS,		/* string address, or NULL */
	ARGS_ONE_ADDRESS	/* string address */
};

/* Where each request goes. */
static const struct ctl_route {
	uint32_t	 type;
	enum proc_id	 to;
	const char	*what;
	enum ctl_args	 args;
	int		 changes;	/* logged as info: it changes things */
} routes[] = {
	{ IMSG_CTL_STATUS_REQ, PROC_PARENT, "status", ARGS_NONE, 0 },
	{ IMSG_CTL_RELOAD_REQ, PROC_PARENT, "reload", ARGS_NONE, 1 },
	{ IMSG_CTL_VERBOSE_REQ, PROC_PARENT, "log level", ARGS_LEVEL, 1 },
	{ IMSG_CTL_STOP_REQ, PROC_PARENT, "stop", ARGS_NONE, 1 },
	{ IMSG_CTL_QUEUE_SHOW_REQ, PROC_QUEUE, "show queue", ARGS_NONE, 0 },
	{ IMSG_CTL_MESSAGE_REQ, PROC_QUEUE, "show message", ARGS_MSGID, 0 },
	{ IMSG_CTL_SCHEDULE_REQ, PROC_QUEUE, "schedule", ARGS_TARGET, 1 },
	{ IMSG_CTL_REMOVE_REQ, PROC_QUEUE, "remove", ARGS_TARGET, 1 },
	{ IMSG_CTL_DELIVERY_PAUSE_REQ, PROC_QUEUE, "pause delivery",
	    ARGS_NONE, 1 },
	{ IMSG_CTL_DELIVERY_RESUME_REQ, PROC_QUEUE, "resume delivery",
	    ARGS_NONE, 1 },
	{ IMSG_CTL_QUEUE_STATS_REQ, PROC_QUEUE, "queue stats", ARGS_NONE,
	    0 },
	{ IMSG_CTL_SMTP_PAUSE_REQ, PROC_SMTP, "pause smtp", ARGS_NONE, 1 },
	{ IMSG_CTL_SMTP_RESUME_REQ, PROC_SMTP, "resume smtp", ARGS_NONE, 1 },
	{ IMSG_CTL_SMTP_STATS_REQ, PROC_SMTP, "smtp stats", ARGS_NONE, 0 },
	{ IMSG_CTL_POP3_LOGIN_REQ, PROC_AUTH, "pop3-login", ARGS_LOGIN, 1 },
	{ IMSG_CTL_POP3_SHOW_REQ, PROC_AUTH, "show pop3-logins", ARGS_NONE,
	    0 },
	{ IMSG_CTL_POP3_FLUSH_REQ, PROC_AUTH, "pop3-logins flush",
	    ARGS_ADDRESS, 1 },
	{ IMSG_CTL_LIMITS_SHOW_REQ, PROC_AUTH, "show limits", ARGS_ADDRESS,
	    0 },
	{ IMSG_CTL_LIMITS_RESET_REQ, PROC_AUTH, "limits reset",
	    ARGS_ONE_ADDRESS, 1 },
};

#define NROUTES		(sizeof(routes) / sizeof(routes[0]))

static struct ctl_clients clients = TAILQ_HEAD_INITIALIZER(clients);
static int		 nclients;
static uint32_t		 next_id = 1;
static int		 listen_fd = -1;
static struct event	 ev_listen;
static struct event	 ev_pause;

static void	 control_imsg(enum proc_id, struct ipc_msg *);
static void	 control_worker_imsg(enum proc_id, struct ipc_msg *);
static void	 control_check_envelopes(struct ipc_msg *);
static void	 control_check_stats(struct ipc_msg *);
static void	 control_peer_closed(enum proc_id);
static void	 control_credit(struct ctl_client *);
static void	 control_listen(int);
static void	 control_accept(int, short, void *);
static void	 control_resume(int, short, void *);
static void	 control_refuse(int, const char *);
static int	 control_peercred(int, uid_t *, gid_t *, pid_t *);
static void	 control_relay(enum proc_id, struct ipc_msg *);
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
	proc_set_peer_closed(control_peer_closed);
	evtimer_set(&ev_pause, control_resume, NULL);
}

/*
 * Messages from the parent: the listening socket, and the answers to
 * the requests we forwarded; from the queue, the front end and auth:
 * answers.
 * Nothing else is expected from anyone.
 */
static void
control_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_QUEUE || from == PROC_SMTP || from == PROC_AUTH) {
		control_worker_imsg(from, m);
		return;
	}
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
		control_relay(PROC_PARENT, m);
		return;
	case IMSG_CTL_OK:
		ipc_end(m);
		control_relay(PROC_PARENT, m);
		return;
	case IMSG_CTL_FAIL:
		(void)ipc_get_string(m);
		ipc_end(m);
		control_relay(PROC_PARENT, m);
		return;
	}
	fatalx("unexpected %s from parent", ipc_type_name(m->hdr.type));
}

/* An answer from the queue or the front end: checked, then relayed. */
static void
control_worker_imsg(enum proc_id from, struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IMSG_CTL_OK:
		ipc_end(m);
		break;
	case IMSG_CTL_FAIL:
		(void)ipc_get_string(m);
		ipc_end(m);
		break;
	case IMSG_CTL_STATS:
		control_check_stats(m);
		break;
	case IMSG_CTL_ENVELOPES:
		if (from != PROC_QUEUE)
			goto bad;
		control_check_envelopes(m);
		break;
	case IMSG_CTL_MESSAGE:
		if (from != PROC_QUEUE)
			goto bad;
		(void)ipc_get_u64(m);		/* msgid */
		(void)ipc_get_u64(m);		/* size */
		(void)ipc_get_i64(m);		/* ctime */
		(void)ipc_get_u32(m);		/* envelopes */
		(void)ipc_get_string(m);	/* sender */
		while (m->off < m->len)
			(void)ipc_get_string(m);	/* header lines */
		ipc_end(m);
		break;
	case IMSG_CTL_QUEUE_RESULT:
		if (from != PROC_QUEUE)
			goto bad;
		(void)ipc_get_u32(m);
		(void)ipc_get_u32(m);
		(void)ipc_get_u32(m);
		ipc_end(m);
		break;
	case IMSG_CTL_POP3_LOGINS:
		if (from != PROC_AUTH)
			goto bad;
		(void)ipc_get_u32(m);		/* total */
		while (m->off < m->len) {
			(void)ipc_get_string(m);	/* address */
			(void)ipc_get_string(m);	/* user */
			(void)ipc_get_i64(m);		/* time */
			(void)ipc_get_i64(m);		/* age */
		}
		ipc_end(m);
		break;
	case IMSG_CTL_POP3_FLUSHED:
	case IMSG_CTL_LIMITS_CLEARED:
		if (from != PROC_AUTH)
			goto bad;
		(void)ipc_get_u32(m);
		ipc_end(m);
		break;
	case IMSG_CTL_LIMITS:
		if (from != PROC_AUTH)
			goto bad;
		(void)ipc_get_u32(m);		/* total */
		(void)ipc_get_u32(m);		/* N */
		(void)ipc_get_i64(m);		/* within */
		(void)ipc_get_i64(m);		/* block */
		(void)ipc_get_u32(m);		/* exempt */
		while (m->off < m->len) {
			(void)ipc_get_string(m);	/* address */
			(void)ipc_get_u32(m);		/* failures */
			(void)ipc_get_i64(m);		/* last failure */
			(void)ipc_get_i64(m);		/* blocked until */
			(void)ipc_get_i64(m);		/* block left */
			(void)ipc_get_u32(m);		/* refused */
		}
		ipc_end(m);
		break;
	default:
		goto bad;
	}
	control_relay(from, m);
	return;
 bad:
	fatalx("unexpected %s from %s", ipc_type_name(m->hdr.type),
	    proc_name(from));
}

/* Envelope entries back to back (control_imsg.h). */
static void
control_check_envelopes(struct ipc_msg *m)
{
	int	 i;

	if (m->len == 0)
		fatalx("IMSG_CTL_ENVELOPES from %s: empty", m->peer);
	while (m->off < m->len) {
		(void)ipc_get_u64(m);		/* msgid */
		(void)ipc_get_u32(m);		/* idx */
		for (i = 0; i < 4; i++)		/* state, dest, from, to */
			(void)ipc_get_string(m);
		(void)ipc_get_u64(m);		/* size */
		(void)ipc_get_i64(m);		/* ctime */
		(void)ipc_get_i64(m);		/* lasttry */
		(void)ipc_get_i64(m);		/* nexttry */
		(void)ipc_get_u32(m);		/* attempts */
		(void)ipc_get_string(m);	/* error */
	}
	ipc_end(m);
}

/* (string key, i64 value) pairs. */
static void
control_check_stats(struct ipc_msg *m)
{
	while (m->off < m->len) {
		if (ipc_get_string(m) == NULL)
			fatalx("IMSG_CTL_STATS from %s: a key is NULL",
			    m->peer);
		(void)ipc_get_i64(m);
	}
	ipc_end(m);
}

/*
 * A process died: the requests it had are answered FAIL.  (Its
 * restart comes with a fresh channel; the request is not sent again.)
 */
static void
control_peer_closed(enum proc_id id)
{
	struct ctl_client	*c;
	char			 reason[128];

	TAILQ_FOREACH(c, &clients, entry) {
		if (c->state != CLIENT_BUSY || c->at != id)
			continue;
		(void)snprintf(reason, sizeof(reason), "the %s process went "
		    "away while answering", proc_name(id));
		c->state = CLIENT_READY;
		c->relayed = 0;
		client_arm(c, CONTROL_IDLE_TIMEOUT);
		/* on failure c is closed: the loop must not go on with it */
		if (client_reply(c, IMSG_CTL_FAIL, reason) == -1)
			break;
	}
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
 * An answer from a process for the client whose id is the peer id: a
 * data frame, or the final OK/FAIL that frees the client for its next
 * request.  A client that went away is not an error; an answer from a
 * process the request was not sent to is.
 */
static void
control_relay(enum proc_id from, struct ipc_msg *m)
{
	struct ctl_client	*c;
	uint32_t		 type = m->hdr.type;

	if ((c = client_byid(m->hdr.peerid)) == NULL ||
	    c->state != CLIENT_BUSY) {
		log_debug("%s for client %u: client gone, dropped",
		    ipc_type_name(type), m->hdr.peerid);
		return;
	}
	if (c->at != from)
		fatalx("%s for client %u from %s: its request is at %s",
		    ipc_type_name(type), c->id, proc_name(from),
		    proc_name(c->at));
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
		c->relayed = 0;
		client_arm(c, CONTROL_IDLE_TIMEOUT);
	} else if (from == PROC_QUEUE)
		c->relayed++;
	client_update(c);
}

/*
 * The client has read everything relayed to it: the queue may send
 * as many frames again.
 */
static void
control_credit(struct ctl_client *c)
{
	uint32_t	 n = c->relayed;

	if (c->state != CLIENT_BUSY || c->at != PROC_QUEUE || n == 0)
		return;
	c->relayed = 0;
	(void)proc_compose(PROC_QUEUE, IMSG_CTL_MORE, c->id, -1, &n,
	    sizeof(n));
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
		if (r == 1)
			control_credit(c);
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
		/* a process is working on it (a reload may take a while, a
		 * listing lasts as long as the client reads) */
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

/* A request: check its shape, then hand it to the process serving it. */
static int
client_request(struct ctl_client *c, struct ipc_msg *m)
{
	const struct ctl_route	*r = NULL;
	uint32_t		 type = m->hdr.type, level = 0, all = 0;
	uint64_t		 msgid = 0;
	const char		*user, *address;
	char			 reason[128], what[64];
	size_t			 i;
	int			 bad = 0;

	for (i = 0; i < NROUTES; i++)
		if (routes[i].type == type)
			r = &routes[i];
	if (r == NULL) {
		log_debug("client %u: unknown request %s", c->id,
		    ipc_type_name(type));
		return client_reply(c, IMSG_CTL_FAIL, "unknown request");
	}
	switch (r->args) {
	case ARGS_NONE:
		break;
	case ARGS_LEVEL:
		bad = ipc_try_u32(m, &level) == -1;
		break;
	case ARGS_MSGID:
		bad = ipc_try_u64(m, &msgid) == -1;
		break;
	case ARGS_TARGET:
		bad = ipc_try_u32(m, &all) == -1 ||
		    ipc_try_u64(m, &msgid) == -1 || all > 1 ||
		    (all && msgid != 0);
		break;
	case ARGS_LOGIN:
		/* what they say is for auth to judge */
		bad = ipc_try_string(m, &user) == -1 ||
		    ipc_try_string(m, &address) == -1 ||
		    user == NULL || address == NULL;
		break;
	case ARGS_ADDRESS:
		bad = ipc_try_string(m, &address) == -1;
		break;
	case ARGS_ONE_ADDRESS:
		bad = ipc_try_string(m, &address) == -1 || address == NULL;
		break;
	}
	if (bad || ipc_try_end(m) == -1) {
		(void)snprintf(reason, sizeof(reason), "malformed %s",
		    ipc_type_name(type));
		client_close(c, reason);
		return -1;
	}

	if (type == IMSG_CTL_VERBOSE_REQ)
		(void)snprintf(what, sizeof(what), "log %s",
		    level ? "verbose" : "brief");
	else if (r->args == ARGS_MSGID || (r->args == ARGS_TARGET && !all))
		(void)snprintf(what, sizeof(what), "%s %016llx", r->what,
		    (unsigned long long)msgid);
	else if (r->args == ARGS_TARGET)
		(void)snprintf(what, sizeof(what), "%s all", r->what);
	else
		(void)strlcpy(what, r->what, sizeof(what));
	if (r->changes)
		log_info("client %u: %s requested by uid=%lu pid=%ld", c->id,
		    what, (unsigned long)c->uid, (long)c->pid);
	else
		log_debug("client %u: %s requested by uid=%lu pid=%ld", c->id,
		    what, (unsigned long)c->uid, (long)c->pid);

	/* the payload has been checked: pass it on as it came */
	if (proc_compose(r->to, type, c->id, -1, m->data, m->len) == -1) {
		if (r->to == PROC_PARENT)
			return client_reply(c, IMSG_CTL_FAIL,
			    "the daemon cannot take requests now");
		(void)snprintf(reason, sizeof(reason), "the %s process is "
		    "not running now, try again", proc_name(r->to));
		return client_reply(c, IMSG_CTL_FAIL, reason);
	}
	c->state = CLIENT_BUSY;
	c->at = r->to;
	c->relayed = 0;
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
	/* a listing the queue would keep for nobody */
	if (c->state == CLIENT_BUSY && c->at == PROC_QUEUE)
		(void)proc_compose(PROC_QUEUE, IMSG_CTL_CANCEL, c->id, -1,
		    NULL, 0);
	if (c->events != 0)
		event_del(&c->ev);
	evtimer_del(&c->timer);
	ipc_clear(&c->ipc);
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	free(c);
}
