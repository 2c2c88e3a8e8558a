/*
 * Portcullis: the smtp front end process.  It takes the listening
 * sockets and the certificates from the parent, accepts connections,
 * and routes the answers of auth and the queue to the sessions waiting
 * for them (smtp_session.c).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>
#include <tls.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "config.h"
#include "tlsconf.h"
#include "auth_imsg.h"
#include "queue_imsg.h"
#include "smtp.h"
#include "smtp_control.h"
#include "pop3.h"

#define SMTP_ACCEPT_PAUSE	1	/* seconds, when out of descriptors */

/* One server TLS context per pki, shared by the listeners using it. */
struct smtp_tls {
	TAILQ_ENTRY(smtp_tls)	 entry;
	char			 name[CONFIG_NAME_MAX];
	struct tls		*ctx;
};
TAILQ_HEAD(smtp_tlsq, smtp_tls);
TAILQ_HEAD(smtp_listeners, smtp_listener);

struct config			*smtp_conf;
static struct smtp_listeners	 listeners = TAILQ_HEAD_INITIALIZER(listeners);
static struct smtp_listeners	 incoming = TAILQ_HEAD_INITIALIZER(incoming);
static struct smtp_tlsq		 tlsq = TAILQ_HEAD_INITIALIZER(tlsq);
static int			 paused;	/* smtpctl pause smtp */

static void	 smtp_imsg(enum proc_id, struct ipc_msg *);
static void	 smtp_config(struct config *);
static void	 smtp_peer_closed(enum proc_id);
static void	 smtp_accept(int, short, void *);
static void	 smtp_resume(int, short, void *);

/* libtls reads its configuration once, before the sandbox. */
void
smtp_init(void)
{
	if (tls_init() == -1)
		fatalx("tls_init");
}

void
smtp(void)
{
	proc_set_dispatch(smtp_imsg);
	proc_set_conf(smtp_config);
	proc_set_peer_closed(smtp_peer_closed);
}

const char *
smtp_hostname(void)
{
	return smtp_conf != NULL ? smtp_conf->hostname : "localhost";
}

static struct tls *
smtp_tls_find(struct smtp_tlsq *q, const char *name)
{
	struct smtp_tls	*t;

	TAILQ_FOREACH(t, q, entry)
		if (strcmp(t->name, name) == 0)
			return t->ctx;
	return NULL;
}

/*
 * A new configuration: new TLS contexts from the certificates the
 * parent read, then the listeners that arrived with it replace the old
 * ones.  Sessions already running keep their own TLS connections.
 */
static void
smtp_config(struct config *conf)
{
	struct smtp_tlsq	 fresh = TAILQ_HEAD_INITIALIZER(fresh);
	struct smtp_listener	*l;
	struct smtp_tls		*t;
	struct tls_config	*cfg;
	struct pki		*p;
	char			 err[256];

	TAILQ_FOREACH(p, &conf->pkis, entry) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			fatal("calloc");
		(void)strlcpy(t->name, p->name, sizeof(t->name));
		cfg = tlsconf_server_mem(p->cert_mem, p->cert_len, p->key_mem,
		    p->key_len, err, sizeof(err));
		if (cfg == NULL ||
		    (t->ctx = tlsconf_server_ctx(cfg, err, sizeof(err))) ==
		    NULL)
			log_warnx("pki %s: %s: TLS is not offered with it",
			    p->name, err);
		if (cfg != NULL)
			tls_config_free(cfg);
		/* the key lives on in libtls only */
		freezero(p->key_mem, p->key_len);
		p->key_mem = NULL;
		p->key_len = 0;
		TAILQ_INSERT_TAIL(&fresh, t, entry);
	}
	while ((t = TAILQ_FIRST(&tlsq)) != NULL) {
		TAILQ_REMOVE(&tlsq, t, entry);
		tls_free(t->ctx);
		free(t);
	}
	TAILQ_CONCAT(&tlsq, &fresh, entry);

	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		event_del(&l->ev);
		evtimer_del(&l->ev_pause);
		close(l->fd);
		free(l);
	}
	while ((l = TAILQ_FIRST(&incoming)) != NULL) {
		TAILQ_REMOVE(&incoming, l, entry);
		if (l->pki[0] != '\0')
			l->tls = smtp_tls_find(&tlsq, l->pki);
		event_set(&l->ev, l->fd, EV_READ | EV_PERSIST, smtp_accept, l);
		if (!paused)
			event_add(&l->ev, NULL);
		evtimer_set(&l->ev_pause, smtp_resume, l);
		TAILQ_INSERT_TAIL(&listeners, l, entry);
	}
	config_free(smtp_conf);
	smtp_conf = conf;
}

static void
smtp_peer_closed(enum proc_id id)
{
	if (id == PROC_AUTH || id == PROC_MAILBOX)
		pop3_peer_lost(id);
	if (id == PROC_AUTH)
		smtp_sessions_peer_lost(WAIT_RCPT, WAIT_LOGIN);
	else if (id == PROC_QUEUE) {
		smtp_sessions_peer_lost(WAIT_CREATE, WAIT_COMMIT);
		smtp_sessions_queue_lost();
	}
}

static void
smtp_listener_add(struct ipc_msg *m)
{
	struct smtp_listener	*l;
	const char		*pki;

	if (m->fd == -1)
		fatalx("IMSG_PARENT_LISTENER without a socket");
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->flags = ipc_get_u32(m);
	l->port = ipc_get_u32(m);
	pki = ipc_get_string(m);
	ipc_end(m);
	if (pki != NULL &&
	    strlcpy(l->pki, pki, sizeof(l->pki)) >= sizeof(l->pki))
		fatalx("IMSG_PARENT_LISTENER: pki name too long");
	l->fd = m->fd;
	m->fd = -1;
	TAILQ_INSERT_TAIL(&incoming, l, entry);
}

/* An answer for a session; it may have gone meanwhile. */
static struct smtp_session *
session_for(struct ipc_msg *m, enum smtp_wait want)
{
	struct smtp_session	*s;

	s = smtp_session_find(m->hdr.peerid);
	if (s == NULL || s->wait != want)
		return NULL;
	return s;
}

static void
smtp_imsg(enum proc_id from, struct ipc_msg *m)
{
	struct smtp_session	*s;
	const char		*reason;
	uint64_t		 msgid;
	uint32_t		 verdict, line, trusted;

	if (from == PROC_CONTROL) {
		smtp_control_imsg(m);
		return;
	}
	/* answers for POP3 sessions: their ids carry POP3_ID_BIT */
	if (from == PROC_MAILBOX ||
	    (from == PROC_AUTH && (m->hdr.peerid & POP3_ID_BIT))) {
		pop3_imsg(from, m);
		return;
	}
	switch (m->hdr.type) {
	case IMSG_PARENT_LISTENER:
		if (from != PROC_PARENT)
			break;
		smtp_listener_add(m);
		return;
	case IMSG_AUTH_RCPT_RES:
		if (from != PROC_AUTH)
			break;
		verdict = ipc_get_u32(m);
		line = ipc_get_u32(m);
		reason = ipc_get_string(m);
		trusted = ipc_get_u32(m);
		ipc_end(m);
		if ((s = session_for(m, WAIT_RCPT)) != NULL) {
			if (trusted)
				s->flags |= SF_TRUSTED;
			smtp_session_rcpt_verdict(s, verdict, line,
			    reason != NULL ? reason : "");
		}
		return;
	case IMSG_AUTH_LOGIN_RES:
		if (from != PROC_AUTH)
			break;
		verdict = ipc_get_u32(m);
		ipc_end(m);
		if ((s = session_for(m, WAIT_LOGIN)) != NULL)
			smtp_session_login_result(s, verdict);
		return;
	case IMSG_QUEUE_CREATE_OK:
		if (from != PROC_QUEUE)
			break;
		msgid = ipc_get_u64(m);
		ipc_end(m);
		if (m->fd == -1)
			fatalx("IMSG_QUEUE_CREATE_OK without a file");
		if ((s = session_for(m, WAIT_CREATE)) == NULL) {
			/* the session went away: give the message back */
			close(m->fd);
			m->fd = -1;
			(void)proc_compose(PROC_QUEUE, IMSG_QUEUE_ROLLBACK,
			    m->hdr.peerid, -1, &msgid, sizeof(msgid));
			return;
		}
		smtp_session_created(s, msgid, m->fd);
		m->fd = -1;
		return;
	case IMSG_QUEUE_CREATE_FAIL:
		if (from != PROC_QUEUE)
			break;
		reason = ipc_get_string(m);
		ipc_end(m);
		if ((s = session_for(m, WAIT_CREATE)) != NULL)
			smtp_session_create_failed(s, reason != NULL ? reason :
			    "unknown");
		return;
	case IMSG_QUEUE_COMMIT_OK:
		if (from != PROC_QUEUE)
			break;
		msgid = ipc_get_u64(m);
		ipc_end(m);
		if ((s = session_for(m, WAIT_COMMIT)) != NULL)
			smtp_session_committed(s, msgid);
		return;
	case IMSG_QUEUE_COMMIT_FAIL:
		if (from != PROC_QUEUE)
			break;
		(void)ipc_get_u64(m);
		reason = ipc_get_string(m);
		ipc_end(m);
		if ((s = session_for(m, WAIT_COMMIT)) != NULL)
			smtp_session_commit_failed(s, reason != NULL ? reason :
			    "unknown");
		return;
	}
	fatalx("%s from %s: not for smtp", ipc_type_name(m->hdr.type),
	    proc_name(from));
}

static void
smtp_resume(int fd, short event, void *arg)
{
	struct smtp_listener	*l = arg;

	(void)fd;
	(void)event;
	if (!paused)
		event_add(&l->ev, NULL);
}

void
smtp_listeners_pause(int on)
{
	struct smtp_listener	*l;

	paused = on;
	TAILQ_FOREACH(l, &listeners, entry) {
		if (paused)
			event_del(&l->ev);
		else
			event_add(&l->ev, NULL);
	}
}

int
smtp_listeners_paused(void)
{
	return paused;
}

size_t
smtp_listeners_count(void)
{
	struct smtp_listener	*l;
	size_t			 n = 0;

	TAILQ_FOREACH(l, &listeners, entry)
		n++;
	return n;
}

static void
smtp_accept(int fd, short event, void *arg)
{
	struct smtp_listener	*l = arg;
	struct timeval		 tv = { SMTP_ACCEPT_PAUSE, 0 };
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 sock, n;

	(void)event;
	/* take what is waiting, a bounded number at a time */
	for (n = 0; n < 64; n++) {
		sslen = sizeof(ss);
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
		if (l->flags & LISTEN_POP3)
			pop3_session_new(l, sock, &ss);
		else
			smtp_session_new(l, sock, &ss);
	}
}
