/*
 * Portcullis: the smtp front end's own interfaces: smtp.c (the process:
 * listeners, TLS contexts, messages from auth and queue), smtp_session.c
 * (the SMTP state machine), smtp_cmd.c (the command line parser) and
 * smtp_body.c (the message body on its way into the spool).
 */
#ifndef PORTCULLIS_SMTP_H
#define PORTCULLIS_SMTP_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>

#include <event.h>

#include "mailaddr.h"

/* RFC 5321 §4.5.3.1: command line 512 and text line 1000 octets, CRLF
 * included; §4.5.3.1.8: at least 100 recipients. */
#define SMTP_CMDLINE_MAX	512
#define SMTP_TEXTLINE_MAX	1000
#define SMTP_RCPT_DEFAULT_MAX	1000
#define SMTP_ERRORS_MAX		10	/* failed commands before 421 */
#define SMTP_TIMEOUT		(300 * 1000)	/* RFC 5321 §4.5.3.2.7 */
#define SMTP_READ_MAX		(64 * 1024)
#define SMTP_BODY_BUF		(16 * 1024)

struct io;
struct tls;
struct config;

/* ---- commands (smtp_cmd.c) ------------------------------------------ */

enum smtp_verb {
	CMD_UNKNOWN,
	CMD_HELO,
	CMD_EHLO,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_BDAT,
	CMD_RSET,
	CMD_VRFY,
	CMD_EXPN,
	CMD_HELP,
	CMD_NOOP,
	CMD_QUIT
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*name;		/* "MAIL FROM" */
	const char	*args;		/* after the verb and its separator */
};

/*
 * Split a command line (without its CRLF, NUL-terminated, no NUL
 * inside) into its verb and arguments.  "MAIL FROM:" and "RCPT TO:"
 * are verbs of their own; args then start right after the colon.
 * Returns 0, or -1 with *err for a line that is not a command.
 */
int	 smtp_cmd_parse(char *, struct smtp_cmd *, const char **);
/* The arguments of "BDAT size [LAST]": 0, or -1 for a syntax error. */
int	 smtp_bdat_parse(const char *, uint64_t *, int *);

/* ---- the message body (smtp_body.c) --------------------------------- */

/* what went wrong with a body: the reply comes at its end */
#define BODY_ERR_WRITE		0x01	/* 451 4.3.0: spool write failed */
#define BODY_ERR_SIZE		0x02	/* 552 5.3.4 */
#define BODY_ERR_BARE		0x04	/* 550 5.6.2: bare CR or LF */
#define BODY_ERR_NUL		0x08	/* 550 5.6.0: NUL */
#define BODY_ERR_LONGLINE	0x10	/* 550 5.6.0: over 1000 octets */

struct smtp_body {
	int		 fd;		/* the spool file, -1 when none */
	uint8_t		*buf;		/* SMTP_BODY_BUF, while receiving */
	size_t		 buflen;
	uint64_t	 size;		/* octets written into the file */
	uint64_t	 data;		/* of them, the client's (the limit) */
	uint64_t	 max;		/* 0: no limit */
	int		 errors;	/* BODY_ERR_* */
	int		 last_cr;	/* BDAT: the previous octet was CR */
	int		 chunked;	/* BDAT: a chunk was taken */
	size_t		 linelen;	/* BDAT: octets since the last LF */
};

void	 body_init(struct smtp_body *, int fd, uint64_t max);
/* Text before the client's data: the Received: line. */
void	 body_add(struct smtp_body *, const void *, size_t);
/* One DATA line without its line end: dot-unstuffed here.  bare_lf:
 * the line ended in LF alone. */
void	 body_line(struct smtp_body *, const char *, size_t, int bare_lf);
/* A DATA line longer than the buffer was cut: mark and skip it. */
void	 body_long_line(struct smtp_body *);
/* A piece of a BDAT chunk, as it is. */
void	 body_chunk(struct smtp_body *, const uint8_t *, size_t);
/* Everything to the file; returns the error bits. */
int	 body_finish(struct smtp_body *);
/* Forget the body (the file is the queue's: the descriptor is closed). */
void	 body_free(struct smtp_body *);
/* The reply for the first error, or NULL. */
const char *body_error_reply(int);

/* ---- sessions (smtp_session.c) -------------------------------------- */

struct smtp_listener {
	TAILQ_ENTRY(smtp_listener) entry;
	int			 fd;
	uint32_t		 flags;	/* LISTEN_* */
	uint32_t		 port;
	char			 pki[64];
	struct tls		*tls;	/* server context, or NULL */
	struct event		 ev;
	struct event		 ev_pause;
};

struct smtp_rcpt {
	TAILQ_ENTRY(smtp_rcpt)	 entry;
	struct mailaddr		 addr;
	uint32_t		 notify;
	char			 orcpt[513];
};

struct smtp_tx {
	uint64_t		 msgid;		/* 0 until the queue gave one */
	struct mailaddr		 sender;
	uint32_t		 flags;		/* EF_* of envelope.h */
	uint32_t		 ret;
	uint32_t		 body_type;
	char			 envid[101];
	TAILQ_HEAD(, smtp_rcpt)	 rcpts;
	unsigned		 nrcpts;
	struct mailaddr		 pending;	/* RCPT asked of auth */
	uint32_t		 pending_notify;
	char			 pending_orcpt[513];
	struct smtp_body	 body;
	int			 bdat;		/* receiving by BDAT */
	int			 bdat_last;
	uint64_t		 bdat_left;	/* octets of this chunk */
	int			 bdat_failed;	/* chunks are read, not kept */
	int			 bare_eol;	/* DATA: the last line ended in a
						 * bare LF */
};

enum smtp_state {
	STATE_NEW,		/* before the greeting (implicit TLS) */
	STATE_CONNECTED,	/* greeted, no HELO yet */
	STATE_TLS,		/* STARTTLS handshake */
	STATE_HELO,		/* HELO/EHLO done, no transaction */
	STATE_MAIL,		/* MAIL done */
	STATE_RCPT,		/* at least one RCPT */
	STATE_BODY,		/* DATA: reading lines */
	STATE_QUIT		/* closing */
};

/* what the session waits for; its input is not processed meanwhile */
enum smtp_wait {
	WAIT_NONE,
	WAIT_RCPT,		/* auth's verdict */
	WAIT_CREATE,		/* the queue's message file */
	WAIT_COMMIT,		/* the queue's durable commit */
	WAIT_LOGIN		/* auth's password check */
};

/* where an AUTH exchange stands (RFC 4954) */
enum smtp_authstep {
	AUTH_NONE,
	AUTH_PLAIN,		/* 334 sent, the PLAIN response comes */
	AUTH_LOGIN_USER,	/* 334 Username: sent */
	AUTH_LOGIN_PASS		/* 334 Password: sent */
};

/* RFC 4954 4: an AUTH response line may be 12288 octets */
#define SMTP_AUTHLINE_MAX	12288

/* facts about a session are flags, not states */
#define SF_EHLO		0x0001
#define SF_TLS		0x0002
#define SF_AUTHENTICATED 0x0004
#define SF_SKIPLINE	0x0008	/* dropping the rest of a too long line */
#define SF_TRUSTED	0x0010	/* may relay: content checks skip it */

struct smtp_session {
	uint32_t		 id;
	RB_ENTRY(smtp_session)	 node;
	struct io		*io;
	struct smtp_listener	*listener;
	enum smtp_state		 state;
	enum smtp_wait		 wait;
	int			 flags;
	unsigned		 errors;
	struct sockaddr_storage	 ss;
	char			 addr[64];	/* the client's address, text */
	char			 helo[256];
	char			 user[256];
	enum smtp_authstep	 authstep;
	char			 authuser[256];	/* during AUTH LOGIN */
	struct smtp_tx		*tx;
};

RB_HEAD(smtp_sessions, smtp_session);
int	 smtp_session_cmp(struct smtp_session *, struct smtp_session *);
RB_PROTOTYPE(smtp_sessions, smtp_session, node, smtp_session_cmp);

extern struct smtp_sessions	 smtp_sessions;
extern struct config		*smtp_conf;

void	 smtp_session_new(struct smtp_listener *, int,
	    const struct sockaddr_storage *);
struct smtp_session *smtp_session_find(uint32_t);
/* Answers from auth and queue. */
void	 smtp_session_rcpt_verdict(struct smtp_session *, int, int,
	    const char *);
void	 smtp_session_created(struct smtp_session *, uint64_t, int fd);
void	 smtp_session_create_failed(struct smtp_session *, const char *);
void	 smtp_session_committed(struct smtp_session *, uint64_t);
void	 smtp_session_commit_failed(struct smtp_session *, const char *);
void	 smtp_session_login_result(struct smtp_session *, int);
/* auth or queue went away: every session waiting for it gets a 451. */
void	 smtp_sessions_peer_lost(enum smtp_wait, enum smtp_wait);
void	 smtp_sessions_queue_lost(void);
/* A new configuration: the hostname and limits in use. */
const char *smtp_hostname(void);

#endif
