/*
 * Portcullis: one POP3 session in the front end (RFC 1939, CAPA and
 * response codes RFC 2449, STLS RFC 2595, RFC 3206 codes).
 *
 * AUTHORIZATION: CAPA, STLS, USER, PASS, QUIT.  USER/PASS only over
 * TLS unless the listener says auth-insecure; PASS asks auth (which
 * checks the password, counts failures and records the login for
 * "relay allow pop3-login"), then the mailbox process opens the
 * maildrop and sends its listing: TRANSACTION.  There STAT, LIST,
 * UIDL, RETR, TOP, DELE, RSET, NOOP and QUIT: RETR and TOP ask the
 * mailbox process for the message's descriptor and stream the file
 * (LF to CRLF, byte-stuffed: pop3_cmd.c); QUIT is the UPDATE state:
 * the marked messages are removed, then the session ends.  A session
 * that ends any other way removes nothing.
 *
 * Like SMTP sessions, a session that waits for an answer does not read
 * its input meanwhile, so pipelined commands (RFC 2449 PIPELINING)
 * wait their turn.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "config.h"
#include "auth_imsg.h"
#include "mailbox_imsg.h"
#include "smtp.h"
#include "smtp_control.h"
#include "pop3.h"

#define POP3_FILE_CHUNK		(16 * 1024)
#define POP3_OUT_HIWAT		(64 * 1024)	/* stop reading the file */
#define POP3_READ_MAX		(4 * 1024)	/* input held; a longer line
						 * closes the session */

enum pop3_state {
	P3S_NEW,		/* before the greeting (pop3s) */
	P3S_AUTH,		/* AUTHORIZATION */
	P3S_TLS,		/* STLS handshake */
	P3S_TRANS,		/* TRANSACTION */
	P3S_QUIT		/* closing */
};

enum pop3_wait {
	P3W_NONE,
	P3W_LOGIN,		/* auth's verdict on PASS */
	P3W_OPEN,		/* the mailbox process's listing */
	P3W_FETCH,		/* a message's descriptor */
	P3W_SEND,		/* streaming the message */
	P3W_UPDATE		/* removing at QUIT */
};

#define P3M_DELETED	0x01

struct pop3_msg {
	uint64_t	 size;
	uint32_t	 flags;
	char		 uid[POP3_UID_MAX + 1];
};

struct pop3_session {
	uint32_t		 id;
	RB_ENTRY(pop3_session)	 node;
	struct io		*io;
	struct smtp_listener	*listener;
	enum pop3_state		 state;
	enum pop3_wait		 wait;
	int			 tls;
	int			 maildrop;	/* open in the mailbox process */
	unsigned		 errors;
	struct sockaddr_storage	 ss;
	char			 addr[64];
	char			 user[POP3_LOGIN_MAX + 1];
	struct pop3_msg		*msgs;
	uint32_t		 nmsgs;
	uint32_t		 allocated;
	/* RETR / TOP */
	uint32_t		 fetch_idx;
	int			 fetch_top;
	uint32_t		 fetch_lines;
	int			 fd;
	off_t			 off;
	struct pop3_out		 out;
};

RB_HEAD(pop3_sessions, pop3_session);
int	pop3_session_cmp(struct pop3_session *, struct pop3_session *);

int
pop3_session_cmp(struct pop3_session *a, struct pop3_session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_PROTOTYPE(pop3_sessions, pop3_session, node, pop3_session_cmp);
RB_GENERATE(pop3_sessions, pop3_session, node, pop3_session_cmp);

static struct pop3_sessions	 sessions = RB_INITIALIZER(&sessions);
static uint32_t			 session_ids;
static size_t			 nsessions;
static char			 filebuf[POP3_FILE_CHUNK];
static char			 wirebuf[2 * POP3_FILE_CHUNK];

static void	 pop3_io(struct io *, int, void *);
static void	 pop3_process(struct pop3_session *);
static void	 pop3_command(struct pop3_session *, char *);
static void	 pop3_greet(struct pop3_session *);
static void	 pop3_reply(struct pop3_session *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 pop3_error(struct pop3_session *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 pop3_close(struct pop3_session *);
static void	 pop3_free(struct pop3_session *, const char *);
static void	 pop3_send(struct pop3_session *);

size_t
pop3_sessions_count(void)
{
	return nsessions;
}

static struct pop3_session *
pop3_find(uint32_t id)
{
	struct pop3_session	 key;

	key.id = id;
	return RB_FIND(pop3_sessions, &sessions, &key);
}

void
pop3_session_new(struct smtp_listener *l, int fd,
    const struct sockaddr_storage *ss)
{
	struct pop3_session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->io = io_new()) == NULL) {
		log_warn("new pop3 session");
		free(s);
		close(fd);
		return;
	}
	do {
		s->id = ++session_ids | POP3_ID_BIT;
	} while (s->id == POP3_ID_BIT || pop3_find(s->id) != NULL);
	s->listener = l;
	s->ss = *ss;
	s->fd = -1;
	fmt_sockaddr(ss, s->addr, sizeof(s->addr));
	RB_INSERT(pop3_sessions, &sessions, s);
	nsessions++;
	io_set_callback(s->io, pop3_io, s);
	io_set_fd(s->io, fd);
	io_set_timeout(s->io, POP3_TIMEOUT);
	io_set_read_max(s->io, POP3_READ_MAX);
	log_info("%08x pop3 event=connect address=%s port=%u", s->id,
	    s->addr, l->port);
	if (l->flags & LISTEN_POP3S) {
		if (l->tls == NULL || io_accept_tls(s->io, l->tls) == -1) {
			log_warnx("%08x pop3: cannot start TLS: %s", s->id,
			    l->tls == NULL ? "no pki" : io_error(s->io));
			pop3_free(s, "tls unavailable");
		}
		return;		/* the greeting comes over TLS */
	}
	pop3_greet(s);
}

static void
pop3_greet(struct pop3_session *s)
{
	s->state = P3S_AUTH;
	pop3_reply(s, "+OK %s POP3 Portcullis ready", smtp_hostname());
}

static void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (io_vprintf(s->io, fmt, ap) == -1 ||
	    io_write(s->io, "\r\n", 2) == -1)
		log_warn("%08x pop3: reply", s->id);
	va_end(ap);
}

/* A -ERR for a failed command; too many of them end the session. */
static void
pop3_error(struct pop3_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (io_write(s->io, "-ERR ", 5) == -1 ||
	    io_vprintf(s->io, fmt, ap) == -1 ||
	    io_write(s->io, "\r\n", 2) == -1)
		log_warn("%08x pop3: reply", s->id);
	va_end(ap);
	if (++s->errors >= POP3_ERRORS_MAX) {
		log_info("%08x pop3 event=close address=%s reason=\"too many "
		    "errors\"", s->id, s->addr);
		pop3_reply(s, "-ERR Too many errors, closing");
		pop3_close(s);
	}
}

static void
pop3_close(struct pop3_session *s)
{
	s->state = P3S_QUIT;
	io_close_after_flush(s->io);
}

/* Let the mailbox process forget the maildrop (nothing removed). */
static void
maildrop_release(struct pop3_session *s)
{
	if (s->maildrop) {
		(void)proc_compose(PROC_MAILBOX, IMSG_MAILBOX_POP3_CLOSE,
		    s->id, -1, NULL, 0);
		s->maildrop = 0;
	}
}

static void
pop3_free(struct pop3_session *s, const char *reason)
{
	log_info("%08x pop3 event=disconnect address=%s user=\"%s\" "
	    "reason=\"%s\"", s->id, s->addr, s->user, reason);
	maildrop_release(s);
	if (s->fd != -1)
		close(s->fd);
	RB_REMOVE(pop3_sessions, &sessions, s);
	nsessions--;
	io_free(s->io);
	free(s->msgs);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

static void
pop3_io(struct io *io, int event, void *arg)
{
	struct pop3_session	*s = arg;

	(void)io;
	switch (event) {
	case IO_TLSREADY:
		s->tls = 1;
		log_info("%08x pop3 event=starttls address=%s version=%s "
		    "cipher=%s bits=%d", s->id, s->addr,
		    io_tls_version(s->io), io_tls_cipher(s->io),
		    io_tls_bits(s->io));
		if (s->state == P3S_NEW) {
			pop3_greet(s);
			return;
		}
		/* RFC 2595 4: the session starts over, in AUTHORIZATION */
		s->user[0] = '\0';
		s->state = P3S_AUTH;
		pop3_process(s);
		return;
	case IO_DATAIN:
		pop3_process(s);
		return;
	case IO_LOWAT:
		if (s->wait == P3W_SEND)
			pop3_send(s);
		return;
	case IO_TIMEOUT:
		if (s->state == P3S_QUIT) {
			pop3_free(s, "timeout while closing");
			return;
		}
		log_info("%08x pop3 event=timeout address=%s", s->id,
		    s->addr);
		pop3_reply(s, "-ERR Autologout timer expired");
		pop3_close(s);
		return;
	case IO_DISCONNECTED:
		pop3_free(s, s->state == P3S_QUIT ? "quit" : "client closed");
		return;
	case IO_ERROR:
		pop3_free(s, io_error(s->io) ? io_error(s->io) : "error");
		return;
	}
}

static void
pop3_process(struct pop3_session *s)
{
	char	*line;
	size_t	 len;

	while (s->wait == P3W_NONE && s->state != P3S_QUIT &&
	    s->state != P3S_TLS && s->state != P3S_NEW) {
		if ((line = io_getline(s->io, &len)) == NULL) {
			if (io_datalen(s->io) >= POP3_READ_MAX) {
				io_drop(s->io, io_datalen(s->io));
				pop3_error(s, "Line too long");
				pop3_close(s);
			}
			return;
		}
		if (memchr(line, '\0', len) != NULL) {
			pop3_error(s, "NUL octet in command");
			continue;
		}
		if (len + 2 > POP3_CMDLINE_MAX) {
			pop3_error(s, "Line too long");
			continue;
		}
		pop3_command(s, line);
	}
}

/* ---- AUTHORIZATION ----------------------------------------------------- */

static int
has_tls(const struct pop3_session *s)
{
	return (s->listener->flags & (LISTEN_TLS | LISTEN_TLS_REQUIRE)) &&
	    s->listener->tls != NULL;
}

/* USER/PASS in clear only where the listener says auth-insecure (and
 * never on a tls-require listener). */
static int
login_allowed(const struct pop3_session *s)
{
	uint32_t	 f = s->listener->flags;

	return s->tls || ((f & LISTEN_AUTH_INSECURE) &&
	    !(f & LISTEN_TLS_REQUIRE));
}

static void
cmd_capa(struct pop3_session *s)
{
	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	if (s->state == P3S_AUTH && login_allowed(s))
		pop3_reply(s, "USER");
	if (s->state == P3S_AUTH && has_tls(s) && !s->tls)
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION Portcullis");
	pop3_reply(s, ".");
}

static void
cmd_stls(struct pop3_session *s)
{
	if (!has_tls(s) || s->tls) {
		pop3_error(s, "%s", s->tls ? "TLS already active" :
		    "STLS not available");
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation");
	s->state = P3S_TLS;
	if (io_accept_tls(s->io, s->listener->tls) == -1) {
		log_warnx("%08x pop3: STLS: %s", s->id, io_error(s->io));
		pop3_close(s);
	}
}

static void
cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t	 i, len = strlen(cmd->arg);

	s->user[0] = '\0';
	if (!login_allowed(s)) {
		pop3_error(s, "[AUTH] Plain-text logins are refused here: "
		    "issue STLS first");
		return;
	}
	if (smtp_conf == NULL || !smtp_conf->auth_enabled) {
		pop3_error(s, "[SYS/PERM] No logins are configured");
		return;
	}
	if (len > POP3_LOGIN_MAX) {
		pop3_error(s, "[AUTH] Login name too long");
		return;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)cmd->arg[i] < 0x20 ||
		    cmd->arg[i] == 0x7f) {
			pop3_error(s, "[AUTH] Invalid login name");
			return;
		}
	(void)strlcpy(s->user, cmd->arg, sizeof(s->user));
	pop3_reply(s, "+OK Send your password");
}

static void
cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;

	if (s->user[0] == '\0') {
		pop3_error(s, "USER first");
		return;
	}
	if ((ch = proc_channel(PROC_AUTH)) == NULL) {
		pop3_error(s, "[SYS/TEMP] Temporary authentication failure");
		s->user[0] = '\0';
		return;
	}
	ob = ipc_create(ch, IMSG_AUTH_LOGIN_REQ, s->id, -1);
	ipc_add_data(ob, &s->ss, sizeof(s->ss));
	ipc_add_string(ob, "pop3");
	ipc_add_string(ob, s->user);
	ipc_add_string(ob, cmd->arg);
	if (ipc_close(ob) == -1) {
		pop3_error(s, "[SYS/TEMP] Temporary authentication failure");
		s->user[0] = '\0';
		return;
	}
	s->wait = P3W_LOGIN;
}

static void
login_result(struct pop3_session *s, uint32_t result)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;

	log_info("%08x pop3 event=auth address=%s user=\"%s\" result=%s",
	    s->id, s->addr, s->user, result == LOGIN_OK ? "ok" :
	    result == LOGIN_FAIL ? "failed" : result == LOGIN_BLOCKED ?
	    "blocked" : "unavailable");
	switch (result) {
	case LOGIN_OK:
		if ((ch = proc_channel(PROC_MAILBOX)) == NULL)
			break;
		ob = ipc_create(ch, IMSG_MAILBOX_POP3_OPEN, s->id, -1);
		ipc_add_string(ob, s->user);
		if (ipc_close(ob) == -1)
			break;
		s->nmsgs = 0;
		s->wait = P3W_OPEN;
		return;
	case LOGIN_FAIL:
		s->user[0] = '\0';
		pop3_error(s, "[AUTH] Invalid login or password");
		return;
	case LOGIN_BLOCKED:
		s->user[0] = '\0';
		pop3_error(s, "[SYS/TEMP] Too many authentication failures "
		    "from your address; try again later");
		return;
	}
	s->user[0] = '\0';
	pop3_error(s, "[SYS/TEMP] Temporary authentication failure");
}

/* ---- TRANSACTION ----------------------------------------------------- */

/* The message a number names, or NULL after an -ERR. */
static struct pop3_msg *
msg_get(struct pop3_session *s, uint32_t n)
{
	struct pop3_msg	*m;

	if (n == 0 || n > s->nmsgs) {
		pop3_error(s, "No such message");
		return NULL;
	}
	m = &s->msgs[n - 1];
	if (m->flags & P3M_DELETED) {
		pop3_error(s, "Message %u is deleted", n);
		return NULL;
	}
	return m;
}

static void
drop_totals(const struct pop3_session *s, uint32_t *count, uint64_t *size)
{
	uint32_t	 i;

	*count = 0;
	*size = 0;
	for (i = 0; i < s->nmsgs; i++)
		if (!(s->msgs[i].flags & P3M_DELETED)) {
			(*count)++;
			*size += s->msgs[i].size;
		}
}

static void
cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd, int uidl)
{
	struct pop3_msg	*m;
	uint32_t	 i, count;
	uint64_t	 size;

	if (cmd->nargs == 1) {
		if ((m = msg_get(s, cmd->num[0])) == NULL)
			return;
		if (uidl)
			pop3_reply(s, "+OK %u %s", cmd->num[0], m->uid);
		else
			pop3_reply(s, "+OK %u %llu", cmd->num[0],
			    (unsigned long long)m->size);
		return;
	}
	drop_totals(s, &count, &size);
	if (uidl)
		pop3_reply(s, "+OK Unique-ID listing follows");
	else
		pop3_reply(s, "+OK %u messages (%llu octets)", count,
		    (unsigned long long)size);
	for (i = 0; i < s->nmsgs; i++) {
		m = &s->msgs[i];
		if (m->flags & P3M_DELETED)
			continue;
		if (uidl)
			pop3_reply(s, "%u %s", i + 1, m->uid);
		else
			pop3_reply(s, "%u %llu", i + 1,
			    (unsigned long long)m->size);
	}
	pop3_reply(s, ".");
}

static void
cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	uint32_t	 idx;

	if (msg_get(s, cmd->num[0]) == NULL)
		return;
	idx = cmd->num[0] - 1;
	if (proc_compose(PROC_MAILBOX, IMSG_MAILBOX_POP3_FETCH, s->id, -1,
	    &idx, sizeof(idx)) == -1) {
		pop3_error(s, "[SYS/TEMP] Mailbox unavailable");
		return;
	}
	s->fetch_idx = idx;
	s->fetch_top = (cmd->verb == P3_TOP);
	s->fetch_lines = cmd->verb == P3_TOP ? cmd->num[1] : 0;
	s->wait = P3W_FETCH;
}

static void
cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct pop3_msg	*m;

	if ((m = msg_get(s, cmd->num[0])) == NULL)
		return;
	m->flags |= P3M_DELETED;
	pop3_reply(s, "+OK Message %u deleted", cmd->num[0]);
}

static void
cmd_rset(struct pop3_session *s)
{
	uint32_t	 i, count;
	uint64_t	 size;

	for (i = 0; i < s->nmsgs; i++)
		s->msgs[i].flags &= ~P3M_DELETED;
	drop_totals(s, &count, &size);
	pop3_reply(s, "+OK Maildrop has %u messages (%llu octets)", count,
	    (unsigned long long)size);
}

/* QUIT in TRANSACTION: the UPDATE state (RFC 1939 6). */
static void
cmd_quit_update(struct pop3_session *s)
{
	struct ipc_obuf	*ob = NULL;
	struct ipc	*ch;
	uint32_t	 i, n = 0, marked = 0;

	for (i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].flags & P3M_DELETED)
			marked++;
	if (marked == 0) {
		maildrop_release(s);
		pop3_reply(s, "+OK Bye");
		pop3_close(s);
		return;
	}
	if ((ch = proc_channel(PROC_MAILBOX)) == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Mailbox unavailable: nothing "
		    "was removed");
		pop3_close(s);
		return;
	}
	for (i = 0; i < s->nmsgs; i++) {
		if (!(s->msgs[i].flags & P3M_DELETED))
			continue;
		if (ob == NULL) {
			ob = ipc_create(ch, IMSG_MAILBOX_POP3_DELE, s->id,
			    -1);
			n = marked > POP3_DELE_MAX ? POP3_DELE_MAX : marked;
			ipc_add_u32(ob, n);
		}
		ipc_add_u32(ob, i);
		marked--;
		if (--n == 0) {
			if (ipc_close(ob) == -1)
				fatal("IMSG_MAILBOX_POP3_DELE");
			ob = NULL;
		}
	}
	if (proc_compose(PROC_MAILBOX, IMSG_MAILBOX_POP3_UPDATE, s->id, -1,
	    NULL, 0) == -1)
		fatal("IMSG_MAILBOX_POP3_UPDATE");
	s->wait = P3W_UPDATE;
}

static void
pop3_command(struct pop3_session *s, char *line)
{
	struct pop3_cmd	 cmd;
	const char	*err = NULL;

	if (pop3_cmd_parse(line, &cmd, &err) == -1) {
		pop3_error(s, "%s", err);
		return;
	}
	if (cmd.verb == P3_UNKNOWN) {
		pop3_error(s, "Unknown command");
		return;
	}
	/* RFC 1939 7: PASS only right after USER */
	if (s->state == P3S_AUTH && cmd.verb != P3_PASS)
		s->user[0] = '\0';
	switch (cmd.verb) {
	case P3_CAPA:
		cmd_capa(s);
		return;
	case P3_NOOP:
		if (s->state != P3S_TRANS)
			break;
		pop3_reply(s, "+OK");
		return;
	case P3_QUIT:
		if (s->state == P3S_TRANS) {
			cmd_quit_update(s);
			return;
		}
		pop3_reply(s, "+OK Bye");
		pop3_close(s);
		return;
	default:
		break;
	}
	if (s->state == P3S_AUTH) {
		switch (cmd.verb) {
		case P3_STLS:
			cmd_stls(s);
			return;
		case P3_USER:
			cmd_user(s, &cmd);
			return;
		case P3_PASS:
			cmd_pass(s, &cmd);
			return;
		case P3_APOP:
		case P3_AUTH:
			pop3_error(s, "%s is not supported: use USER and PASS",
			    cmd.name);
			return;
		default:
			pop3_error(s, "Log in first (USER and PASS)");
			return;
		}
	}
	switch (cmd.verb) {
	case P3_STAT: {
		uint32_t	 count;
		uint64_t	 size;

		drop_totals(s, &count, &size);
		pop3_reply(s, "+OK %u %llu", count, (unsigned long long)size);
		return;
	}
	case P3_LIST:
		cmd_list(s, &cmd, 0);
		return;
	case P3_UIDL:
		cmd_list(s, &cmd, 1);
		return;
	case P3_RETR:
	case P3_TOP:
		cmd_retr(s, &cmd);
		return;
	case P3_DELE:
		cmd_dele(s, &cmd);
		return;
	case P3_RSET:
		cmd_rset(s);
		return;
	default:
		pop3_error(s, "Not in the TRANSACTION state");
		return;
	}
}

/* ---- streaming a message --------------------------------------------- */

/* The file to the client as long as the output queue is short. */
static void
pop3_send(struct pop3_session *s)
{
	ssize_t	 r;
	size_t	 w, used;

	while (io_queued(s->io) < POP3_OUT_HIWAT) {
		if (s->out.done)
			r = 0;
		else
			r = pread(s->fd, filebuf, sizeof(filebuf), s->off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			/* the +OK is out: only closing tells the client */
			log_warn("%08x pop3: reading message %u", s->id,
			    s->fetch_idx + 1);
			close(s->fd);
			s->fd = -1;
			s->wait = P3W_NONE;
			pop3_close(s);
			return;
		}
		if (r == 0) {
			w = pop3_out_end(&s->out, wirebuf);
			if (io_write(s->io, wirebuf, w) == -1)
				log_warn("%08x pop3: reply", s->id);
			close(s->fd);
			s->fd = -1;
			s->wait = P3W_NONE;
			io_set_lowat(s->io, 0);
			if (!s->maildrop) {
				/* the mailbox process restarted meanwhile
				 * (pop3_peer_lost): the lock and the
				 * listing are gone */
				pop3_reply(s, "-ERR [SYS/TEMP] The maildrop "
				    "was closed by a server restart; log in "
				    "again");
				pop3_close(s);
				return;
			}
			pop3_process(s);
			return;
		}
		w = pop3_out_conv(&s->out, filebuf, (size_t)r, wirebuf, &used);
		s->off += (off_t)used;
		if (w > 0 && io_write(s->io, wirebuf, w) == -1) {
			log_warn("%08x pop3: reply", s->id);
			close(s->fd);
			s->fd = -1;
			s->wait = P3W_NONE;
			pop3_close(s);
			return;
		}
	}
	io_set_lowat(s->io, POP3_OUT_HIWAT / 2);
}

static void
fetch_result(struct pop3_session *s, uint32_t idx, uint32_t status, int fd)
{
	struct pop3_msg	*m = &s->msgs[s->fetch_idx];

	if (idx != s->fetch_idx || status != 0 || fd == -1) {
		if (fd != -1)
			close(fd);
		s->wait = P3W_NONE;
		pop3_error(s, "[SYS/TEMP] Message %u is gone", s->fetch_idx +
		    1);
		return;
	}
	s->fd = fd;
	s->off = 0;
	pop3_out_init(&s->out, s->fetch_top, s->fetch_lines);
	if (s->fetch_top)
		pop3_reply(s, "+OK Top of message %u follows",
		    s->fetch_idx + 1);
	else
		pop3_reply(s, "+OK %llu octets", (unsigned long long)m->size);
	log_info("%08x pop3 event=%s address=%s user=\"%s\" msg=%u "
	    "uid=%s size=%llu", s->id, s->fetch_top ? "top" : "retr",
	    s->addr, s->user, s->fetch_idx + 1, m->uid,
	    (unsigned long long)m->size);
	s->wait = P3W_SEND;
	pop3_send(s);
}

/* ---- answers from auth and the mailbox process ---------------------- */

static void
entries(struct pop3_session *s, struct ipc_msg *m)
{
	struct pop3_msg	*msg;
	const char	*uid;
	uint32_t	 n, i, want;
	void		*p;

	n = ipc_get_u32(m);
	if (n > POP3_ENTRIES_MAX)
		fatalx("IMSG_MAILBOX_POP3_ENTRIES: %u entries", n);
	if (s->nmsgs + n > POP3_MSGS_MAX)
		fatalx("IMSG_MAILBOX_POP3_ENTRIES: over %u messages",
		    POP3_MSGS_MAX);
	if (s->nmsgs + n > s->allocated) {
		want = s->allocated == 0 ? 64 : s->allocated;
		while (want < s->nmsgs + n)
			want *= 2;
		if ((p = reallocarray(s->msgs, want, sizeof(*s->msgs))) ==
		    NULL)
			fatal("reallocarray");
		s->msgs = p;
		s->allocated = want;
	}
	for (i = 0; i < n; i++) {
		msg = &s->msgs[s->nmsgs];
		memset(msg, 0, sizeof(*msg));
		msg->size = ipc_get_u64(m);
		uid = ipc_get_string(m);
		if (uid == NULL || strlcpy(msg->uid, uid, sizeof(msg->uid)) >=
		    sizeof(msg->uid))
			fatalx("IMSG_MAILBOX_POP3_ENTRIES: bad unique id");
		s->nmsgs++;
	}
	ipc_end(m);
}

static void
opened(struct pop3_session *s, uint32_t status, uint32_t count,
    const char *why)
{
	uint32_t	 n;
	uint64_t	 size;

	s->wait = P3W_NONE;
	if (status == POP3_OPEN_OK && count != s->nmsgs)
		fatalx("IMSG_MAILBOX_POP3_OPENED: %u messages, %u listed",
		    count, s->nmsgs);
	if (status != POP3_OPEN_OK) {
		log_info("%08x pop3 event=maildrop address=%s user=\"%s\" "
		    "result=%s reason=\"%s\"", s->id, s->addr, s->user,
		    status == POP3_OPEN_IN_USE ? "in-use" :
		    status == POP3_OPEN_NO_MAILBOX ? "none" : "failed", why);
		s->user[0] = '\0';
		s->nmsgs = 0;
		if (status == POP3_OPEN_IN_USE)
			pop3_error(s, "[IN-USE] The maildrop is in use by "
			    "another session");
		else if (status == POP3_OPEN_NO_MAILBOX)
			pop3_error(s, "[SYS/PERM] No local mailbox for this "
			    "login");
		else
			pop3_error(s, "[SYS/TEMP] Cannot open the maildrop");
		return;
	}
	s->maildrop = 1;
	s->state = P3S_TRANS;
	drop_totals(s, &n, &size);
	log_info("%08x pop3 event=login address=%s user=\"%s\" messages=%u "
	    "size=%llu", s->id, s->addr, s->user, n,
	    (unsigned long long)size);
	pop3_reply(s, "+OK Maildrop has %u messages (%llu octets)", n,
	    (unsigned long long)size);
}

static void
updated(struct pop3_session *s, uint32_t removed, uint32_t failed)
{
	s->wait = P3W_NONE;
	s->maildrop = 0;	/* the mailbox process closed it */
	log_info("%08x pop3 event=update address=%s user=\"%s\" removed=%u "
	    "failed=%u", s->id, s->addr, s->user, removed, failed);
	if (failed > 0)
		pop3_reply(s, "-ERR [SYS/TEMP] %u of the deleted messages "
		    "could not be removed", failed);
	else
		pop3_reply(s, "+OK Bye (%u messages removed)", removed);
	pop3_close(s);
}

void
pop3_imsg(enum proc_id from, struct ipc_msg *m)
{
	struct pop3_session	*s;
	const char		*why;
	uint32_t		 a, b;

	s = pop3_find(m->hdr.peerid);
	switch (m->hdr.type) {
	case IMSG_AUTH_LOGIN_RES:
		if (from != PROC_AUTH)
			break;
		a = ipc_get_u32(m);
		ipc_end(m);
		if (s != NULL && s->wait == P3W_LOGIN) {
			s->wait = P3W_NONE;
			login_result(s, a);
			pop3_process(s);
		}
		return;
	case IMSG_MAILBOX_POP3_ENTRIES:
		if (from != PROC_MAILBOX)
			break;
		if (s != NULL && s->wait == P3W_OPEN)
			entries(s, m);
		return;
	case IMSG_MAILBOX_POP3_OPENED:
		if (from != PROC_MAILBOX)
			break;
		a = ipc_get_u32(m);
		b = ipc_get_u32(m);
		why = ipc_get_string(m);
		ipc_end(m);
		if (s == NULL || s->wait != P3W_OPEN) {
			/* the session went away meanwhile */
			if (a == POP3_OPEN_OK)
				(void)proc_compose(PROC_MAILBOX,
				    IMSG_MAILBOX_POP3_CLOSE, m->hdr.peerid, -1,
				    NULL, 0);
			return;
		}
		opened(s, a, b, why != NULL ? why : "");
		pop3_process(s);
		return;
	case IMSG_MAILBOX_POP3_FILE:
		if (from != PROC_MAILBOX)
			break;
		a = ipc_get_u32(m);
		b = ipc_get_u32(m);
		ipc_end(m);
		if (s == NULL || s->wait != P3W_FETCH) {
			if (m->fd != -1)
				close(m->fd);
			m->fd = -1;
			return;
		}
		fetch_result(s, a, b, m->fd);
		m->fd = -1;
		if (s->wait == P3W_NONE)
			pop3_process(s);
		return;
	case IMSG_MAILBOX_POP3_UPDATED:
		if (from != PROC_MAILBOX)
			break;
		a = ipc_get_u32(m);
		b = ipc_get_u32(m);
		ipc_end(m);
		if (s != NULL && s->wait == P3W_UPDATE)
			updated(s, a, b);
		return;
	}
	fatalx("%s from %s: not for a pop3 session",
	    ipc_type_name(m->hdr.type), proc_name(from));
}

/* auth or the mailbox process went away: whoever waits for it fails. */
void
pop3_peer_lost(enum proc_id id)
{
	struct pop3_session	*s, *next;

	RB_FOREACH_SAFE(s, pop3_sessions, &sessions, next) {
		if (id == PROC_MAILBOX)
			s->maildrop = 0;	/* its maildrops are gone */
		if (id == PROC_AUTH && s->wait == P3W_LOGIN) {
			s->wait = P3W_NONE;
			login_result(s, LOGIN_TEMPFAIL);
			pop3_process(s);
		} else if (id == PROC_MAILBOX && s->wait == P3W_OPEN) {
			s->wait = P3W_NONE;
			s->nmsgs = 0;
			s->user[0] = '\0';
			pop3_error(s, "[SYS/TEMP] Cannot open the maildrop");
			pop3_process(s);
		} else if (id == PROC_MAILBOX && s->state == P3S_TRANS &&
		    s->wait != P3W_SEND) {
			/* the lock is gone: the listing may lie (a message
			 * on its way ends first: pop3_send) */
			s->wait = P3W_NONE;
			pop3_reply(s, "-ERR [SYS/TEMP] The maildrop was closed "
			    "by a server restart; log in again");
			pop3_close(s);
		}
	}
}
