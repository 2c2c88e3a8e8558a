/*
 * Portcullis: one SMTP session in the front end (RFC 5321, with
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING,
 * DSN and STARTTLS).
 *
 * Each command is checked (syntax and state: reply and stop on
 * failure), then may ask auth or the queue and park the session until
 * the answer comes (its input is not processed meanwhile, so pipelined
 * commands wait their turn), then proceeds.  Every transition goes
 * through smtp_enter_state(), every reply through smtp_reply().
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "mailaddr.h"
#include "config.h"
#include "envelope.h"
#include "envelope_io.h"
#include "auth_imsg.h"
#include "queue_imsg.h"
#include "base64.h"
#include "smtp.h"
#include "smtp_control.h"

struct smtp_sessions	 smtp_sessions = RB_INITIALIZER(&smtp_sessions);
static uint32_t		 session_ids;

static const char *const state_names[] = {
	"new", "connected", "tls", "helo", "mail", "rcpt", "body", "quit"
};

static void	 smtp_io(struct io *, int, void *);
static void	 smtp_process(struct smtp_session *);
static void	 smtp_command(struct smtp_session *, char *);
static void	 smtp_data_line(struct smtp_session *, const char *, size_t,
		    int);
static void	 smtp_message_end(struct smtp_session *);
static void	 smtp_auth_response(struct smtp_session *, const char *,
		    size_t);
static void	 smtp_bdat_chunk_done(struct smtp_session *);
static void	 smtp_reply(struct smtp_session *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 smtp_error(struct smtp_session *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 smtp_enter_state(struct smtp_session *, enum smtp_state);
static void	 smtp_greet(struct smtp_session *);
static void	 smtp_close(struct smtp_session *);
static void	 smtp_free(struct smtp_session *, const char *);
static void	 smtp_tx_free(struct smtp_session *);
static struct smtp_tx *smtp_tx_new(void);

int
smtp_session_cmp(struct smtp_session *a, struct smtp_session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(smtp_sessions, smtp_session, node, smtp_session_cmp);

struct smtp_session *
smtp_session_find(uint32_t id)
{
	struct smtp_session	 key;

	key.id = id;
	return RB_FIND(smtp_sessions, &smtp_sessions, &key);
}

void
smtp_session_new(struct smtp_listener *l, int fd,
    const struct sockaddr_storage *ss)
{
	struct smtp_session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->io = io_new()) == NULL) {
		log_warn("new session");
		free(s);
		close(fd);
		return;
	}
	/* POP3 session ids have the top bit (pop3.h): these never */
	do {
		s->id = ++session_ids & 0x7fffffffU;
	} while (s->id == 0 || smtp_session_find(s->id) != NULL);
	s->listener = l;
	s->ss = *ss;
	fmt_sockaddr(ss, s->addr, sizeof(s->addr));
	RB_INSERT(smtp_sessions, &smtp_sessions, s);
	smtp_ctl_stats.connections++;
	io_set_callback(s->io, smtp_io, s);
	io_set_fd(s->io, fd);
	io_set_timeout(s->io, SMTP_TIMEOUT);
	io_set_read_max(s->io, SMTP_READ_MAX);
	log_info("%08x smtp event=connect address=%s port=%u", s->id,
	    s->addr, l->port);

	if (l->flags & LISTEN_SMTPS) {
		if (l->tls == NULL || io_accept_tls(s->io, l->tls) == -1) {
			log_warnx("%08x smtp: cannot start TLS: %s", s->id,
			    l->tls == NULL ? "no pki" : io_error(s->io));
			smtp_free(s, "tls unavailable");
			return;
		}
		return;		/* the greeting comes over TLS */
	}
	smtp_greet(s);
}

static void
smtp_greet(struct smtp_session *s)
{
	smtp_enter_state(s, STATE_CONNECTED);
	smtp_reply(s, "220 %s ESMTP Portcullis", smtp_hostname());
}

static void
smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (log_getverbose() > 1)
		log_debug("%08x smtp state %s -> %s", s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

static void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (io_vprintf(s->io, fmt, ap) == -1 ||
	    io_write(s->io, "\r\n", 2) == -1)
		log_warn("%08x smtp: reply", s->id);
	va_end(ap);
}

/* A reply to a failed command; too many of them end the session. */
static void
smtp_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list		 ap;
	unsigned	 max = SMTP_ERRORS_MAX;

	va_start(ap, fmt);
	if (io_vprintf(s->io, fmt, ap) == -1 ||
	    io_write(s->io, "\r\n", 2) == -1)
		log_warn("%08x smtp: reply", s->id);
	va_end(ap);
	if (smtp_conf != NULL && smtp_conf->limits.failed_cmds_per_session > 0)
		max = smtp_conf->limits.failed_cmds_per_session;
	if (++s->errors >= max) {
		log_info("%08x smtp event=close address=%s reason=\"too many "
		    "errors\"", s->id, s->addr);
		smtp_reply(s, "421 4.7.0 %s Error: too many errors",
		    smtp_hostname());
		smtp_close(s);
	}
}

static void
smtp_close(struct smtp_session *s)
{
	smtp_enter_state(s, STATE_QUIT);
	io_close_after_flush(s->io);
}

static void
smtp_free(struct smtp_session *s, const char *reason)
{
	log_info("%08x smtp event=disconnect address=%s reason=\"%s\"",
	    s->id, s->addr, reason);
	smtp_tx_free(s);
	RB_REMOVE(smtp_sessions, &smtp_sessions, s);
	io_free(s->io);
	free(s);
}

static struct smtp_tx *
smtp_tx_new(void)
{
	struct smtp_tx	*tx;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return NULL;
	TAILQ_INIT(&tx->rcpts);
	tx->body.fd = -1;
	return tx;
}

/* Forget the transaction; a message the queue gave us is dropped. */
static void
smtp_tx_free(struct smtp_session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct smtp_rcpt	*r;

	if (tx == NULL)
		return;
	if (tx->msgid != 0)
		(void)proc_compose(PROC_QUEUE, IMSG_QUEUE_ROLLBACK, s->id, -1,
		    &tx->msgid, sizeof(tx->msgid));
	body_free(&tx->body);
	while ((r = TAILQ_FIRST(&tx->rcpts)) != NULL) {
		TAILQ_REMOVE(&tx->rcpts, r, entry);
		free(r);
	}
	free(tx);
	s->tx = NULL;
}

static void
smtp_io(struct io *io, int event, void *arg)
{
	struct smtp_session	*s = arg;

	(void)io;
	switch (event) {
	case IO_TLSREADY:
		s->flags |= SF_TLS;
		log_info("%08x smtp event=starttls address=%s version=%s "
		    "cipher=%s bits=%d", s->id, s->addr,
		    io_tls_version(s->io), io_tls_cipher(s->io),
		    io_tls_bits(s->io));
		if (s->state == STATE_NEW) {
			smtp_greet(s);
			return;
		}
		/* RFC 3207 4.2: forget everything learned before TLS */
		smtp_tx_free(s);
		s->helo[0] = '\0';
		s->flags &= ~(SF_EHLO | SF_AUTHENTICATED | SF_TRUSTED);
		s->user[0] = '\0';
		smtp_enter_state(s, STATE_CONNECTED);
		smtp_process(s);
		return;
	case IO_DATAIN:
		smtp_process(s);
		return;
	case IO_LOWAT:
		return;
	case IO_TIMEOUT:
		if (s->state == STATE_QUIT) {
			smtp_free(s, "timeout while closing");
			return;
		}
		log_info("%08x smtp event=timeout address=%s state=%s", s->id,
		    s->addr, state_names[s->state]);
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    smtp_hostname());
		smtp_close(s);
		return;
	case IO_DISCONNECTED:
		smtp_free(s, s->state == STATE_QUIT ? "quit" :
		    "client closed");
		return;
	case IO_ERROR:
		smtp_free(s, io_error(s->io) ? io_error(s->io) : "error");
		return;
	}
}

/*
 * Take what the client sent, as long as nothing is pending: a BDAT
 * chunk's octets, DATA lines, commands.
 */
static void
smtp_process(struct smtp_session *s)
{
	struct smtp_tx	*tx;
	char		*line;
	size_t		 len, n;

	while (s->wait == WAIT_NONE && s->state != STATE_QUIT &&
	    s->state != STATE_TLS && s->state != STATE_NEW) {
		tx = s->tx;
		if (tx != NULL && tx->bdat && tx->bdat_left > 0) {
			if ((n = io_datalen(s->io)) == 0)
				return;
			if (n > tx->bdat_left)
				n = tx->bdat_left;
			if (!tx->bdat_failed)
				body_chunk(&tx->body, io_data(s->io), n);
			io_drop(s->io, n);
			tx->bdat_left -= n;
			if (tx->bdat_left == 0)
				smtp_bdat_chunk_done(s);
			continue;
		}
		if ((line = io_getline(s->io, &len)) == NULL) {
			if (io_datalen(s->io) >= SMTP_READ_MAX) {
				/* a line longer than we hold: drop it all */
				io_drop(s->io, io_datalen(s->io));
				if (s->state == STATE_BODY)
					body_long_line(&s->tx->body);
				else if (!(s->flags & SF_SKIPLINE))
					smtp_error(s, "500 5.5.2 Line too "
					    "long");
				s->flags |= SF_SKIPLINE;
			}
			return;
		}
		if (s->flags & SF_SKIPLINE) {
			/* the end of a line too long to hold */
			s->flags &= ~SF_SKIPLINE;
			continue;
		}
		if (s->state == STATE_BODY) {
			smtp_data_line(s, line, len, io_getline_bare_lf(s->io));
			continue;
		}
		if (s->authstep != AUTH_NONE) {
			smtp_auth_response(s, line, len);
			continue;
		}
		if (memchr(line, '\0', len) != NULL) {
			smtp_error(s, "500 5.5.2 NUL octet in command");
			continue;
		}
		if (len + 2 > SMTP_CMDLINE_MAX) {
			smtp_error(s, "500 5.5.2 Line too long");
			continue;
		}
		smtp_command(s, line);
	}
}

/* ---- commands -------------------------------------------------------- */

static int
listener_has_tls(const struct smtp_session *s)
{
	return (s->listener->flags & (LISTEN_TLS | LISTEN_TLS_REQUIRE)) &&
	    s->listener->tls != NULL;
}

/* AUTH is offered with a credentials table, over TLS or where the
 * listener says auth-insecure (RFC 4954 4: never in clear otherwise). */
static int
auth_offered(const struct smtp_session *s)
{
	return smtp_conf != NULL && smtp_conf->auth_enabled &&
	    ((s->flags & SF_TLS) ||
	    (s->listener->flags & LISTEN_AUTH_INSECURE));
}

static void
helo_copy(char *dst, size_t len, const char *src)
{
	size_t	 i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = ((unsigned char)src[i] > 0x20 &&
		    (unsigned char)src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static void
cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (*cmd->args == '\0' || strchr(cmd->args, ' ') != NULL) {
		smtp_error(s, "501 5.5.4 Syntax: %s hostname", cmd->name);
		return;
	}
	smtp_tx_free(s);
	helo_copy(s->helo, sizeof(s->helo), cmd->args);
	if (cmd->verb == CMD_HELO) {
		s->flags &= ~SF_EHLO;
		smtp_enter_state(s, STATE_HELO);
		smtp_reply(s, "250 %s Hello %s [%s]", smtp_hostname(),
		    s->helo, s->addr);
		return;
	}
	s->flags |= SF_EHLO;
	smtp_enter_state(s, STATE_HELO);
	smtp_reply(s, "250-%s Hello %s [%s]", smtp_hostname(), s->helo,
	    s->addr);
	smtp_reply(s, "250-PIPELINING");
	if (smtp_conf != NULL && smtp_conf->limits.message_size > 0)
		smtp_reply(s, "250-SIZE %zu", smtp_conf->limits.message_size);
	else
		smtp_reply(s, "250-SIZE");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-CHUNKING");
	if (listener_has_tls(s) && !(s->flags & SF_TLS))
		smtp_reply(s, "250-STARTTLS");
	if (auth_offered(s))
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250-DSN");
	smtp_reply(s, "250 HELP");
}

static void
cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (!listener_has_tls(s)) {
		smtp_error(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (s->flags & SF_TLS) {
		smtp_error(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (*cmd->args != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->state == STATE_CONNECTED) {
		smtp_error(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_enter_state(s, STATE_TLS);
	if (io_accept_tls(s->io, s->listener->tls) == -1) {
		log_warnx("%08x smtp: STARTTLS: %s", s->id, io_error(s->io));
		smtp_close(s);
	}
}

/* A decoded DSN parameter may hold no control character. */
static int
has_ctl(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

/* The reply code for an address the parser refused. */
static void
bad_address(struct smtp_session *s, int sender, const char *err)
{
	switch (mailaddr_errclass(err)) {
	case MAILADDR_ELENGTH:
		smtp_error(s, "553 5.1.%d %s", sender ? 7 : 3, err);
		break;
	case MAILADDR_EUTF8:
		smtp_error(s, "553 5.6.7 %s: SMTPUTF8 is required", err);
		break;
	default:
		smtp_error(s, "501 5.1.%d Bad %s address syntax: %s",
		    sender ? 7 : 3, sender ? "sender" : "recipient", err);
		break;
	}
}

static int
mail_size(const char *v, uint64_t *out)
{
	uint64_t	 n = 0;
	int		 digits = 0;

	for (; *v >= '0' && *v <= '9'; v++) {
		if (++digits > 19)
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (digits == 0 || *v != '\0')
		return -1;
	*out = n;
	return 0;
}

#define PARAMS_MAX	16

static void
cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct esmtp_param	 params[PARAMS_MAX];
	struct mailaddr		 sender;
	struct smtp_tx		*tx;
	const char		*end, *err;
	uint64_t		 size;
	size_t			 n, i;
	uint32_t		 flags = 0, ret = DSN_RET_DEFAULT;
	uint32_t		 body = BODY_7BIT;
	char			 envid[101] = "";

	if (s->state == STATE_CONNECTED) {
		smtp_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->state != STATE_HELO) {
		smtp_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((s->listener->flags & LISTEN_AUTH_REQUIRE) &&
	    !(s->flags & SF_AUTHENTICATED)) {
		smtp_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (mailaddr_parse_path(cmd->args, strlen(cmd->args),
	    PARSE_ALLOW_NULL | PARSE_SMTPUTF8, &sender, &end, &err) == -1) {
		bad_address(s, 1, err);
		return;
	}
	if (esmtp_params_parse(end, params, PARAMS_MAX, &n, &err) == -1) {
		smtp_error(s, "501 5.5.4 %s", err);
		return;
	}
	if (n > 0 && !(s->flags & SF_EHLO)) {
		smtp_error(s, "555 5.5.4 MAIL parameters need EHLO");
		return;
	}
	for (i = 0; i < n; i++) {
		const char *k = params[i].keyword, *v = params[i].value;

		if (strcmp(k, "SIZE") == 0) {
			if (mail_size(v, &size) == -1) {
				smtp_error(s, "501 5.5.4 Bad SIZE value");
				return;
			}
			if (smtp_conf != NULL &&
			    smtp_conf->limits.message_size > 0 &&
			    size > smtp_conf->limits.message_size) {
				smtp_error(s, "552 5.3.4 Message size exceeds "
				    "fixed maximum message size");
				return;
			}
		} else if (strcmp(k, "BODY") == 0) {
			if (strcasecmp(v, "7BIT") == 0)
				body = BODY_7BIT;
			else if (strcasecmp(v, "8BITMIME") == 0)
				body = BODY_8BITMIME;
			else {
				smtp_error(s, "555 5.5.4 Unsupported BODY "
				    "type");
				return;
			}
		} else if (strcmp(k, "SMTPUTF8") == 0 && *v == '\0')
			flags |= EF_SMTPUTF8;
		else if (strcmp(k, "RET") == 0) {
			if (strcasecmp(v, "FULL") == 0)
				ret = DSN_RET_FULL;
			else if (strcasecmp(v, "HDRS") == 0)
				ret = DSN_RET_HDRS;
			else {
				smtp_error(s, "501 5.5.4 Bad RET value");
				return;
			}
		} else if (strcmp(k, "ENVID") == 0) {
			if (xtext_decode(v, envid, sizeof(envid)) <= 0 ||
			    has_ctl(envid)) {
				smtp_error(s, "501 5.5.4 Bad ENVID value");
				return;
			}
		} else if (strcmp(k, "AUTH") == 0 && auth_offered(s)) {
			/* RFC 4954 5: we do not relay the identity */
		} else {
			smtp_error(s, "555 5.5.4 Unsupported option: %s", k);
			return;
		}
	}
	if ((sender.flags & MAILADDR_UTF8) && !(flags & EF_SMTPUTF8)) {
		smtp_error(s, "553 5.6.7 Non-ASCII sender address needs "
		    "SMTPUTF8");
		return;
	}
	if ((tx = smtp_tx_new()) == NULL) {
		smtp_reply(s, "451 4.3.0 Out of memory, try again later");
		return;
	}
	tx->sender = sender;
	tx->flags = flags;
	tx->ret = ret;
	tx->body_type = body;
	(void)strlcpy(tx->envid, envid, sizeof(tx->envid));
	s->tx = tx;
	smtp_enter_state(s, STATE_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

static int
parse_notify(const char *v, uint32_t *out)
{
	char		 buf[64], *p, *tok;
	uint32_t	 n = 0;

	if (strlcpy(buf, v, sizeof(buf)) >= sizeof(buf))
		return -1;
	p = buf;
	while ((tok = strsep(&p, ",")) != NULL) {
		if (strcasecmp(tok, "NEVER") == 0)
			n |= DSN_NOTIFY_NEVER;
		else if (strcasecmp(tok, "SUCCESS") == 0)
			n |= DSN_NOTIFY_SUCCESS;
		else if (strcasecmp(tok, "FAILURE") == 0)
			n |= DSN_NOTIFY_FAILURE;
		else if (strcasecmp(tok, "DELAY") == 0)
			n |= DSN_NOTIFY_DELAY;
		else
			return -1;
	}
	/* NEVER stands alone (RFC 3461 4.1) */
	if ((n & DSN_NOTIFY_NEVER) && n != DSN_NOTIFY_NEVER)
		return -1;
	*out = n;
	return 0;
}

static void
cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct esmtp_param	 params[PARAMS_MAX];
	struct smtp_tx		*tx = s->tx;
	struct ipc_obuf		*ob;
	struct ipc		*ch;
	const char		*end, *err;
	size_t			 n, i;
	unsigned		 max = SMTP_RCPT_DEFAULT_MAX;
	int			 pflags = PARSE_ALLOW_POSTMASTER;

	if (s->state != STATE_MAIL && s->state != STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (tx->bdat) {
		smtp_error(s, "503 5.5.1 Error: RCPT after BDAT");
		return;
	}
	if (tx->flags & EF_SMTPUTF8)
		pflags |= PARSE_SMTPUTF8;
	if (mailaddr_parse_path(cmd->args, strlen(cmd->args), pflags,
	    &tx->pending, &end, &err) == -1) {
		bad_address(s, 0, err);
		return;
	}
	if (esmtp_params_parse(end, params, PARAMS_MAX, &n, &err) == -1) {
		smtp_error(s, "501 5.5.4 %s", err);
		return;
	}
	tx->pending_notify = 0;
	tx->pending_orcpt[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *k = params[i].keyword, *v = params[i].value;

		if (strcmp(k, "NOTIFY") == 0) {
			if (parse_notify(v, &tx->pending_notify) == -1) {
				smtp_error(s, "501 5.5.4 Bad NOTIFY value");
				return;
			}
		} else if (strcmp(k, "ORCPT") == 0) {
			if (strchr(v, ';') == NULL || xtext_decode(v,
			    tx->pending_orcpt, sizeof(tx->pending_orcpt)) <= 0 ||
			    has_ctl(tx->pending_orcpt)) {
				smtp_error(s, "501 5.5.4 Bad ORCPT value");
				return;
			}
		} else {
			smtp_error(s, "555 5.5.4 Unsupported option: %s", k);
			return;
		}
	}
	if (smtp_conf != NULL && smtp_conf->limits.rcpts_per_msg > 0)
		max = smtp_conf->limits.rcpts_per_msg;
	if (tx->nrcpts >= max) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if ((ch = proc_channel(PROC_AUTH)) == NULL) {
		smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	ob = ipc_create(ch, IMSG_AUTH_RCPT_REQ, s->id, -1);
	ipc_add_data(ob, &s->ss, sizeof(s->ss));
	ipc_add_u32(ob, s->listener->flags);
	ipc_add_string(ob, (s->flags & SF_AUTHENTICATED) ? s->user : NULL);
	ipc_add_string(ob, tx->pending.local);
	ipc_add_string(ob, tx->pending.domain);
	ipc_add_u32(ob, tx->pending.flags);
	if (ipc_close(ob) == -1) {
		smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	s->wait = WAIT_RCPT;
}

void
smtp_session_rcpt_verdict(struct smtp_session *s, int verdict, int line,
    const char *reason)
{
	struct smtp_tx		*tx = s->tx;
	struct smtp_rcpt	*r;
	char			 addr[MAILADDR_STRSIZE];

	if (s->wait != WAIT_RCPT || tx == NULL)
		fatalx("%08x: a recipient verdict out of turn", s->id);
	s->wait = WAIT_NONE;
	if (mailaddr_format(&tx->pending, addr, sizeof(addr)) == -1)
		(void)strlcpy(addr, "?", sizeof(addr));
	log_info("%08x smtp event=rcpt address=%s to=<%s> result=%s rule=%d "
	    "reason=\"%s\"", s->id, s->addr, addr,
	    verdict == RCPT_LOCAL || verdict == RCPT_RELAY ? "250" :
	    verdict == RCPT_UNKNOWN ? "550" : "554", line, reason);
	switch (verdict) {
	case RCPT_LOCAL:
	case RCPT_RELAY:
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			smtp_reply(s, "451 4.3.0 Out of memory, try again "
			    "later");
			break;
		}
		r->addr = tx->pending;
		r->notify = tx->pending_notify;
		(void)strlcpy(r->orcpt, tx->pending_orcpt, sizeof(r->orcpt));
		TAILQ_INSERT_TAIL(&tx->rcpts, r, entry);
		tx->nrcpts++;
		smtp_enter_state(s, STATE_RCPT);
		smtp_reply(s, "250 2.1.5 Ok");
		break;
	case RCPT_UNKNOWN:
		smtp_error(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown", addr);
		break;
	default:
		smtp_error(s, "554 5.7.1 <%s>: Relay access denied", addr);
		break;
	}
	smtp_process(s);
}

/* DATA and the first BDAT ask the queue for a message file. */
static int
smtp_create(struct smtp_session *s)
{
	if (proc_compose(PROC_QUEUE, IMSG_QUEUE_CREATE_REQ, s->id, -1, NULL,
	    0) == -1)
		return -1;
	s->wait = WAIT_CREATE;
	return 0;
}

static void
smtp_received(struct smtp_session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct smtp_rcpt	*r;
	struct tm		 tm;
	time_t			 now = time(NULL);
	char			 date[64], proto[16], addr[MAILADDR_STRSIZE];
	char			 buf[2048];
	int			 n;

	(void)snprintf(proto, sizeof(proto), "%s%s%s%s",
	    (tx->flags & EF_SMTPUTF8) ? "UTF8" : "",
	    (s->flags & SF_EHLO) ? ((tx->flags & EF_SMTPUTF8) ? "SMTP" :
	    "ESMTP") : "SMTP",
	    (s->flags & SF_TLS) ? "S" : "",
	    (s->flags & SF_AUTHENTICATED) ? "A" : "");
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		(void)strlcpy(date, "unknown", sizeof(date));
	n = snprintf(buf, sizeof(buf), "Received: from %s ([%s])\r\n"
	    "\tby %s (Portcullis) with %s id %016" PRIx64 "\r\n",
	    s->helo[0] ? s->helo : "unknown", s->addr, smtp_hostname(), proto,
	    tx->msgid);
	if (n > 0 && (size_t)n < sizeof(buf) && (s->flags & SF_TLS))
		n += snprintf(buf + n, sizeof(buf) - n,
		    "\t(using %s with cipher %s (%d bits))\r\n",
		    io_tls_version(s->io), io_tls_cipher(s->io),
		    io_tls_bits(s->io));
	r = TAILQ_FIRST(&tx->rcpts);
	if (n > 0 && (size_t)n < sizeof(buf) && tx->nrcpts == 1 &&
	    mailaddr_format(&r->addr, addr, sizeof(addr)) == 0)
		n += snprintf(buf + n, sizeof(buf) - n, "\tfor <%s>;", addr);
	else if (n > 0 && (size_t)n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, "\t;");
	if (n > 0 && (size_t)n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, " %s\r\n", date);
	if (n <= 0 || (size_t)n >= sizeof(buf))
		fatalx("Received: line too long");
	body_add(&tx->body, buf, n);
}

void
smtp_session_created(struct smtp_session *s, uint64_t msgid, int fd)
{
	struct smtp_tx	*tx = s->tx;

	if (s->wait != WAIT_CREATE || tx == NULL)
		fatalx("%08x: a message file out of turn", s->id);
	s->wait = WAIT_NONE;
	tx->msgid = msgid;
	body_init(&tx->body, fd, smtp_conf != NULL ?
	    smtp_conf->limits.message_size : 0);
	smtp_received(s);
	if (!tx->bdat) {
		smtp_enter_state(s, STATE_BODY);
		smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	} else if (tx->bdat_left == 0)
		smtp_bdat_chunk_done(s);	/* BDAT 0 came first */
	smtp_process(s);
}

void
smtp_session_create_failed(struct smtp_session *s, const char *reason)
{
	struct smtp_tx	*tx = s->tx;

	if (s->wait != WAIT_CREATE || tx == NULL)
		fatalx("%08x: a message file failure out of turn", s->id);
	s->wait = WAIT_NONE;
	log_warnx("%08x smtp: the queue cannot take a message: %s", s->id,
	    reason);
	if (tx->bdat) {
		/* the chunk still comes: read it, keep nothing */
		tx->bdat_failed = 1;
		tx->bdat_last = 0;
	}
	smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
	if (!tx->bdat) {
		smtp_tx_free(s);
		smtp_enter_state(s, STATE_HELO);
	}
	smtp_process(s);
}

static void
cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (*cmd->args != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->state == STATE_MAIL) {
		smtp_error(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (s->state != STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (s->tx->bdat) {
		smtp_error(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	if (smtp_create(s) == -1)
		smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
}

static void
smtp_data_line(struct smtp_session *s, const char *line, size_t len,
    int bare_lf)
{
	/* CRLF . CRLF: the line end before the dot must be a CRLF too */
	if (len == 1 && line[0] == '.' && !bare_lf && !s->tx->bare_eol) {
		smtp_message_end(s);
		return;
	}
	s->tx->bare_eol = bare_lf;
	body_line(&s->tx->body, line, len, bare_lf);
}

/*
 * A BDAT that cannot be taken: its chunk still comes and is read and
 * dropped (RFC 3030 2), so that its octets are never taken as commands.
 */
static void
bdat_refuse(struct smtp_session *s, const char *args, const char *reply)
{
	struct smtp_tx	*tx = s->tx;
	uint64_t	 size;
	int		 last;

	if (smtp_bdat_parse(args, &size, &last) == -1) {
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		smtp_close(s);
		return;
	}
	if (tx == NULL) {
		if ((tx = smtp_tx_new()) == NULL) {
			smtp_close(s);
			return;
		}
		s->tx = tx;
	}
	tx->bdat = 1;
	tx->bdat_failed = 1;
	tx->bdat_left = size;
	tx->bdat_last = 0;
	smtp_error(s, "%s", reply);
	if (size == 0 && s->state != STATE_MAIL && s->state != STATE_RCPT)
		smtp_tx_free(s);
}

static void
cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_tx	*tx = s->tx;
	uint64_t	 size;
	int		 last;

	if (smtp_bdat_parse(cmd->args, &size, &last) == -1) {
		/* the size is unknown: the session cannot go on */
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		smtp_close(s);
		return;
	}
	if (s->state != STATE_RCPT || tx == NULL) {
		bdat_refuse(s, cmd->args, s->state == STATE_MAIL ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command");
		return;
	}
	tx->bdat_left = size;
	tx->bdat_last = last;
	if (tx->bdat_failed) {
		smtp_reply(s, "503 5.5.1 Error: this message failed");
		if (size == 0)
			smtp_bdat_chunk_done(s);
		return;
	}
	if (!tx->bdat) {
		tx->bdat = 1;
		if (smtp_create(s) == -1) {
			tx->bdat_failed = 1;
			smtp_reply(s, "451 4.3.0 Temporary failure, try "
			    "again later");
			if (size == 0)
				smtp_bdat_chunk_done(s);
		}
		/* size 0 is handled once the file is there */
		if (size == 0 && s->wait == WAIT_CREATE)
			return;
		return;
	}
	if (size == 0)
		smtp_bdat_chunk_done(s);
}

/* A whole chunk has been read. */
static void
smtp_bdat_chunk_done(struct smtp_session *s)
{
	struct smtp_tx	*tx = s->tx;

	if (tx->bdat_failed) {
		/* the reply was sent with the command; a failed message
		 * ends with its LAST chunk or goes on failing */
		if (tx->bdat_last || s->state != STATE_RCPT) {
			smtp_tx_free(s);
			if (s->state != STATE_CONNECTED)
				smtp_enter_state(s, STATE_HELO);
		}
		return;
	}
	if (tx->bdat_last) {
		smtp_message_end(s);
		return;
	}
	smtp_reply(s, "250 2.0.0 Ok: %" PRIu64 " octets received",
	    tx->body.data);
}

/* The end of a message: refuse it, or have the queue commit it. */
static void
smtp_message_end(struct smtp_session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct smtp_rcpt	*r;
	struct envelope		 evp;
	struct ipc_obuf		*ob;
	struct ipc		*ch;
	const char		*reply;
	uint32_t		 idx = 0;
	int			 errors;

	errors = body_finish(&tx->body);
	smtp_enter_state(s, STATE_HELO);
	if (errors) {
		reply = body_error_reply(errors);
		log_info("%08x smtp event=message address=%s result=refused "
		    "reason=\"%s\"", s->id, s->addr, reply);
		smtp_reply(s, "%s", reply);
		smtp_tx_free(s);
		return;
	}
	if (tx->msgid == 0 || (ch = proc_channel(PROC_QUEUE)) == NULL) {
		/* the queue that opened the message file is gone */
		log_warnx("%08x smtp event=message address=%s result=451 "
		    "reason=\"%s\"", s->id, s->addr, tx->msgid == 0 ?
		    "the queue restarted during the data" : "no queue");
		smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
		tx->msgid = 0;
		smtp_tx_free(s);
		return;
	}
	TAILQ_FOREACH(r, &tx->rcpts, entry) {
		memset(&evp, 0, sizeof(evp));
		evp.msgid = tx->msgid;
		evp.idx = idx++;
		evp.flags = tx->flags;
		if (s->flags & SF_TLS)
			evp.flags |= EF_TLS;
		if (s->flags & SF_AUTHENTICATED)
			evp.flags |= EF_AUTH;
		if (s->flags & SF_TRUSTED)
			evp.flags |= EF_TRUSTED;
		evp.sender = tx->sender;
		evp.rcpt = r->addr;
		evp.notify = r->notify;
		evp.ret = tx->ret;
		evp.body = tx->body_type;
		(void)strlcpy(evp.envid, tx->envid, sizeof(evp.envid));
		(void)strlcpy(evp.orcpt, r->orcpt, sizeof(evp.orcpt));
		(void)strlcpy(evp.helo, s->helo, sizeof(evp.helo));
		(void)strlcpy(evp.client, s->addr, sizeof(evp.client));
		if (s->flags & SF_AUTHENTICATED)
			(void)strlcpy(evp.user, s->user, sizeof(evp.user));
		ob = ipc_create(ch, IMSG_QUEUE_ENVELOPE, s->id, -1);
		ipc_add_u64(ob, tx->msgid);
		envelope_add(ob, &evp);
		if (ipc_close(ob) == -1)
			fatal("IMSG_QUEUE_ENVELOPE");
	}
	ob = ipc_create(ch, IMSG_QUEUE_COMMIT_REQ, s->id, -1);
	ipc_add_u64(ob, tx->msgid);
	ipc_add_u64(ob, tx->body.size);
	if (ipc_close(ob) == -1)
		fatal("IMSG_QUEUE_COMMIT_REQ");
	/* the file is the queue's now */
	body_free(&tx->body);
	s->wait = WAIT_COMMIT;
}

void
smtp_session_committed(struct smtp_session *s, uint64_t msgid)
{
	struct smtp_tx	*tx = s->tx;
	char		 from[MAILADDR_STRSIZE];

	if (s->wait != WAIT_COMMIT || tx == NULL || tx->msgid != msgid)
		fatalx("%08x: a commit out of turn", s->id);
	s->wait = WAIT_NONE;
	if (mailaddr_format(&tx->sender, from, sizeof(from)) == -1)
		(void)strlcpy(from, "?", sizeof(from));
	log_info("%08x smtp event=message address=%s msgid=%016" PRIx64
	    " from=<%s> rcpts=%u size=%" PRIu64 " result=250", s->id,
	    s->addr, msgid, from, tx->nrcpts, tx->body.size);
	smtp_reply(s, "250 2.0.0 Ok: queued as %016" PRIx64, msgid);
	smtp_ctl_stats.messages++;
	tx->msgid = 0;		/* committed: nothing to roll back */
	smtp_tx_free(s);
	smtp_process(s);
}

void
smtp_session_commit_failed(struct smtp_session *s, const char *reason)
{
	if (s->wait != WAIT_COMMIT || s->tx == NULL)
		fatalx("%08x: a commit failure out of turn", s->id);
	s->wait = WAIT_NONE;
	log_warnx("%08x smtp event=message address=%s result=451 "
	    "reason=\"%s\"", s->id, s->addr, reason);
	smtp_reply(s, "451 4.3.0 Error: queue: %s", reason);
	s->tx->msgid = 0;	/* the queue dropped it */
	smtp_tx_free(s);
	smtp_process(s);
}

/*
 * The queue is gone, and the messages it had opened for sessions still
 * receiving their data with it: the next queue empties their folders
 * and knows nothing of their ids.  Forget the ids: no envelope, commit
 * or rollback goes to the next queue with one, and the end of the data
 * gets a 451 (smtp_message_end()).  Run after smtp_sessions_peer_lost(),
 * which answers the sessions that were waiting for that queue.
 */
void
smtp_sessions_queue_lost(void)
{
	struct smtp_session	*s;

	RB_FOREACH(s, smtp_sessions, &smtp_sessions)
		if (s->tx != NULL)
			s->tx->msgid = 0;
}

/* auth or the queue is gone: what waited for it fails, for now. */
void
smtp_sessions_peer_lost(enum smtp_wait a, enum smtp_wait b)
{
	struct smtp_session	*s, *next;

	RB_FOREACH_SAFE(s, smtp_sessions, &smtp_sessions, next) {
		if (s->wait != a && s->wait != b)
			continue;
		if (s->wait == WAIT_LOGIN) {
			s->wait = WAIT_NONE;
			s->authuser[0] = '\0';
			smtp_reply(s, "454 4.7.0 Temporary authentication "
			    "failure");
			smtp_process(s);
			continue;
		}
		s->wait = WAIT_NONE;
		smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
		if (s->tx != NULL && s->state != STATE_RCPT &&
		    s->state != STATE_MAIL) {
			s->tx->msgid = 0;
			smtp_tx_free(s);
			smtp_enter_state(s, STATE_HELO);
		} else if (s->tx != NULL && s->tx->bdat) {
			s->tx->msgid = 0;
			s->tx->bdat_failed = 1;
		}
		smtp_process(s);
	}
}

/* ---- SMTP AUTH (RFC 4954; PLAIN RFC 4616, LOGIN) ---------------------- */

/* A login name we pass on: printable, no control characters. */
static int
login_ok(const char *p, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 255)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

static void
smtp_login(struct smtp_session *s, const char *login, size_t loginlen,
    const char *password, size_t passlen)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;
	char		 pass[1025];

	s->authstep = AUTH_NONE;
	if (!login_ok(login, loginlen) || passlen >= sizeof(pass) ||
	    memchr(password, '\0', passlen) != NULL) {
		smtp_error(s, "535 5.7.8 Authentication credentials invalid");
		return;
	}
	memmove(s->authuser, login, loginlen);	/* LOGIN: login is authuser */
	s->authuser[loginlen] = '\0';
	memcpy(pass, password, passlen);
	pass[passlen] = '\0';
	if ((ch = proc_channel(PROC_AUTH)) == NULL) {
		explicit_bzero(pass, sizeof(pass));
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	ob = ipc_create(ch, IMSG_AUTH_LOGIN_REQ, s->id, -1);
	ipc_add_data(ob, &s->ss, sizeof(s->ss));
	ipc_add_string(ob, "smtp");
	ipc_add_string(ob, s->authuser);
	ipc_add_string(ob, pass);
	explicit_bzero(pass, sizeof(pass));
	if (ipc_close(ob) == -1) {
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->wait = WAIT_LOGIN;
}

/* PLAIN: [authzid] NUL authcid NUL passwd; authzid empty or authcid. */
static void
auth_plain(struct smtp_session *s, const uint8_t *buf, size_t len)
{
	const uint8_t	*nul1, *nul2, *authcid, *pass;
	size_t		 zlen, clen;

	if ((nul1 = memchr(buf, '\0', len)) == NULL ||
	    (nul2 = memchr(nul1 + 1, '\0', len - (nul1 + 1 - buf))) == NULL) {
		s->authstep = AUTH_NONE;
		smtp_error(s, "501 5.5.2 Malformed PLAIN response");
		return;
	}
	zlen = nul1 - buf;
	authcid = nul1 + 1;
	clen = nul2 - authcid;
	pass = nul2 + 1;
	if (zlen != 0 && (zlen != clen || memcmp(buf, authcid, clen) != 0)) {
		s->authstep = AUTH_NONE;
		smtp_error(s, "535 5.7.8 Authentication credentials invalid");
		return;
	}
	smtp_login(s, (const char *)authcid, clen, (const char *)pass,
	    len - (pass - buf));
}

static void
smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	uint8_t	 buf[SMTP_AUTHLINE_MAX];
	int	 n;

	if (len == 1 && line[0] == '*') {
		s->authstep = AUTH_NONE;
		smtp_error(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	if (len > SMTP_AUTHLINE_MAX ||
	    (n = base64_decode(line, len, buf, sizeof(buf))) == -1) {
		s->authstep = AUTH_NONE;
		smtp_error(s, "501 5.5.2 Cannot decode response");
		return;
	}
	switch (s->authstep) {
	case AUTH_PLAIN:
		auth_plain(s, buf, n);
		break;
	case AUTH_LOGIN_USER:
		if (!login_ok((const char *)buf, n)) {
			s->authstep = AUTH_NONE;
			smtp_error(s, "535 5.7.8 Authentication credentials "
			    "invalid");
			break;
		}
		memcpy(s->authuser, buf, n);
		s->authuser[n] = '\0';
		s->authstep = AUTH_LOGIN_PASS;
		smtp_reply(s, "334 UGFzc3dvcmQ6");	/* Password: */
		break;
	case AUTH_LOGIN_PASS:
		smtp_login(s, s->authuser, strlen(s->authuser),
		    (const char *)buf, n);
		break;
	case AUTH_NONE:
		break;
	}
	explicit_bzero(buf, sizeof(buf));
}

static void
cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char	 mech[16], *sp;
	size_t	 mlen;

	if (smtp_conf == NULL || !smtp_conf->auth_enabled) {
		smtp_error(s, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (s->state == STATE_CONNECTED) {
		smtp_error(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->flags & SF_AUTHENTICATED) {
		smtp_error(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->state != STATE_HELO) {
		smtp_error(s, "503 5.5.1 Error: AUTH not allowed during a mail "
		    "transaction");
		return;
	}
	if (!auth_offered(s)) {
		smtp_error(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	sp = strchr(cmd->args, ' ');
	mlen = sp != NULL ? (size_t)(sp - cmd->args) : strlen(cmd->args);
	if (mlen == 0 || mlen >= sizeof(mech)) {
		smtp_error(s, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, cmd->args, mlen);
	mech[mlen] = '\0';
	if (strcasecmp(mech, "PLAIN") == 0)
		s->authstep = AUTH_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0)
		s->authstep = AUTH_LOGIN_USER;
	else {
		smtp_error(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (sp == NULL) {
		smtp_reply(s, s->authstep == AUTH_PLAIN ? "334 " :
		    "334 VXNlcm5hbWU6");		/* Username: */
		return;
	}
	/* an initial response; "=" is the empty one (RFC 4954 4) */
	if (strcmp(sp + 1, "=") == 0) {
		if (s->authstep == AUTH_PLAIN)
			auth_plain(s, (const uint8_t *)"", 0);
		else {
			s->authstep = AUTH_NONE;
			smtp_error(s, "535 5.7.8 Authentication credentials "
			    "invalid");
		}
		return;
	}
	smtp_auth_response(s, sp + 1, strlen(sp + 1));
}

void
smtp_session_login_result(struct smtp_session *s, int result)
{
	if (s->wait != WAIT_LOGIN)
		fatalx("%08x: a login result out of turn", s->id);
	s->wait = WAIT_NONE;
	log_info("%08x smtp event=auth address=%s user=\"%s\" result=%s",
	    s->id, s->addr, s->authuser, result == LOGIN_OK ? "ok" :
	    result == LOGIN_FAIL ? "failed" : result == LOGIN_BLOCKED ?
	    "blocked" : "unavailable");
	switch (result) {
	case LOGIN_OK:
		s->flags |= SF_AUTHENTICATED;
		(void)strlcpy(s->user, s->authuser, sizeof(s->user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case LOGIN_FAIL:
		/* the session stays unauthenticated: no IP group rescues
		 * a "from <lan> authenticated" rule */
		smtp_error(s, "535 5.7.8 Authentication credentials invalid");
		break;
	case LOGIN_BLOCKED:
		/* limit auth-failures: auth did not even look at the
		 * password; unauthenticated, like a failure */
		smtp_error(s, "454 4.7.0 Too many authentication failures "
		    "from your address; try again later");
		break;
	default:
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	s->authuser[0] = '\0';
	smtp_process(s);
}

static void
cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (*cmd->args != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	smtp_tx_free(s);
	if (s->state != STATE_CONNECTED)
		smtp_enter_state(s, STATE_HELO);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_command(struct smtp_session *s, char *line)
{
	struct smtp_cmd	 cmd;
	const char	*err;

	if (smtp_cmd_parse(line, &cmd, &err) == -1) {
		if (cmd.verb == CMD_UNKNOWN)
			smtp_error(s, "500 5.5.1 %s", err);
		else
			smtp_error(s, "501 5.5.4 %s", err);
		return;
	}
	if (log_getverbose() > 1)
		log_debug("%08x smtp <<< %s", s->id, cmd.name);
	if ((s->listener->flags & LISTEN_TLS_REQUIRE) &&
	    !(s->flags & SF_TLS)) {
		switch (cmd.verb) {
		case CMD_HELO:
		case CMD_EHLO:
		case CMD_STARTTLS:
		case CMD_NOOP:
		case CMD_RSET:
		case CMD_QUIT:
			break;
		case CMD_BDAT:
			bdat_refuse(s, cmd.args,
			    "530 5.7.0 Must issue a STARTTLS command first");
			return;
		default:
			smtp_error(s, "530 5.7.0 Must issue a STARTTLS "
			    "command first");
			return;
		}
	}
	switch (cmd.verb) {
	case CMD_HELO:
	case CMD_EHLO:
		cmd_helo(s, &cmd);
		break;
	case CMD_STARTTLS:
		cmd_starttls(s, &cmd);
		break;
	case CMD_AUTH:
		cmd_auth(s, &cmd);
		break;
	case CMD_MAIL:
		cmd_mail(s, &cmd);
		break;
	case CMD_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case CMD_DATA:
		cmd_data(s, &cmd);
		break;
	case CMD_BDAT:
		cmd_bdat(s, &cmd);
		break;
	case CMD_RSET:
		cmd_rset(s, &cmd);
		break;
	case CMD_VRFY:
		smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case CMD_EXPN:
		smtp_error(s, "502 5.5.1 EXPN not supported");
		break;
	case CMD_HELP:
		smtp_reply(s, "214 2.0.0 Commands: HELO EHLO STARTTLS MAIL "
		    "RCPT DATA BDAT RSET NOOP VRFY HELP QUIT");
		break;
	case CMD_NOOP:
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case CMD_QUIT:
		smtp_reply(s, "221 2.0.0 Bye");
		smtp_close(s);
		break;
	case CMD_UNKNOWN:
		smtp_error(s, "500 5.5.1 Command unrecognized");
		break;
	}
}
