/*
 * Portcullis: the built-in POP3 service of the front end (RFC 1939,
 * CAPA RFC 2449, STLS RFC 2595, response codes RFC 2449/3206):
 * pop3_cmd.c (the command parser and the message writer: pure, unit
 * tested and fuzzed) and pop3_session.c (the sessions).
 *
 * The front end speaks the protocol; auth checks USER/PASS and records
 * the login for "relay allow pop3-login"; the mailbox process opens the
 * Maildir and passes each message as a descriptor (mailbox_imsg.h).
 */
#ifndef PORTCULLIS_POP3_H
#define PORTCULLIS_POP3_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "proc.h"
#include "mailbox_imsg.h"	/* POP3_UID_MAX */

/* RFC 2449 4: a command line is at most 255 octets with its CRLF; a
 * keyword 3 or 4 characters, each argument at most 40.  RFC 1939 3:
 * the autologout timer is at least 10 minutes. */
#define POP3_CMDLINE_MAX	255
#define POP3_ARG_MAX		40
#define POP3_ERRORS_MAX		10	/* failed commands before closing */
#define POP3_TIMEOUT		(10 * 60 * 1000)
#define POP3_LOGIN_MAX		255

/* POP3 session ids carry this bit: answers from auth and the mailbox
 * process are routed by it (SMTP session ids never have it). */
#define POP3_ID_BIT		0x80000000U

enum pop3_verb {
	P3_UNKNOWN,
	P3_CAPA,
	P3_STLS,
	P3_USER,
	P3_PASS,
	P3_APOP,
	P3_AUTH,
	P3_STAT,
	P3_LIST,
	P3_UIDL,
	P3_RETR,
	P3_TOP,
	P3_DELE,
	P3_RSET,
	P3_NOOP,
	P3_QUIT
};

struct pop3_cmd {
	enum pop3_verb	 verb;
	const char	*name;		/* "RETR", upper case */
	const char	*arg;		/* USER, PASS: the rest of the line */
	int		 nargs;		/* numbers given (LIST, UIDL: 0 or 1) */
	uint32_t	 num[2];	/* msg, and TOP's line count */
};

/*
 * Split a command line (without its CRLF, NUL-terminated, no NUL
 * inside) into its keyword and arguments, checked for the keyword:
 * message numbers are 1*DIGIT from 1 to UINT32_MAX (TOP's line count
 * may be 0), USER needs a name, PASS takes the rest of the line as it
 * is (a password may hold spaces).  Returns 0, or -1 with *err set to
 * the text of the -ERR reply.  An unknown keyword is verb P3_UNKNOWN
 * and 0.
 */
int	 pop3_cmd_parse(char *, struct pop3_cmd *, const char **);

/*
 * The message on its way out (RETR, TOP): a Maildir file has LF line
 * ends; the client gets CRLF line ends (a CR already before the LF is
 * kept, not doubled), a "." doubled at the start of a line (RFC 1939
 * 3, byte-stuffing), and, for TOP, the header, the blank line and at
 * most n lines of the body.
 */
struct pop3_out {
	int		 bol;		/* at the start of a line */
	int		 cr;		/* the last octet was CR */
	int		 blank;		/* this line is empty so far (or CR) */
	int		 body;		/* past the header's blank line */
	int		 top;		/* TOP: count body lines */
	uint64_t	 left;		/* TOP: body lines still to send */
	int		 done;		/* TOP: enough sent */
};

void	 pop3_out_init(struct pop3_out *, int top, uint64_t lines);
/*
 * in[0..n) into out, which has room for 2 * n octets.  Returns the
 * octets written; *used is what was taken of in (less than n only when
 * TOP has sent enough: done is set, the rest is not sent).
 */
size_t	 pop3_out_conv(struct pop3_out *, const char *, size_t, char *,
	    size_t *);
/* The end: CRLF when the last line had none, then ".CRLF" (at most 5
 * octets into out).  Returns the octets written. */
size_t	 pop3_out_end(struct pop3_out *, char *);

/*
 * The size a file with LF line ends has with CRLF ones (what LIST
 * says): in pieces, *cr carrying whether the previous piece ended in
 * CR (start with 0).  Returns what to add for this piece.
 */
uint64_t pop3_crlf_size(const char *, size_t, int *);

/* A unique id for a Maildir file name (its part before ':'): the name
 * itself when it is 1-70 octets of 0x21-0x7e, else "~" and 16 hex
 * digits of a hash of it.  uid has room for POP3_UID_MAX + 1. */
void	 pop3_uid(const char *, size_t, char *);

/* ---- sessions (pop3_session.c) ----------------------------------------- */

struct smtp_listener;
struct ipc_msg;

void	 pop3_session_new(struct smtp_listener *, int,
	    const struct sockaddr_storage *);
/* An answer for a POP3 session (peerid has POP3_ID_BIT). */
void	 pop3_imsg(enum proc_id, struct ipc_msg *);
/* auth or the mailbox process went away. */
void	 pop3_peer_lost(enum proc_id);
size_t	 pop3_sessions_count(void);

#endif
