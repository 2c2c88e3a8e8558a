/*
 * Portcullis: messages between the smtp front end and auth.  Served by
 * auth (relayd-auth/auth.c); peerid is the front end's session id.
 *
 * RCPT_REQ asks whether a recipient may be taken from this client:
 *	data	client address (struct sockaddr_storage)
 *	u32	listener flags (LISTEN_*)
 *	string	authenticated login, or NULL
 *	string	recipient local part (canonical, mailaddr.h)
 *	string	recipient domain ("" for <Postmaster>)
 *	u32	recipient MAILADDR_* flags
 * RCPT_RES answers:
 *	u32	RCPT_* verdict
 *	u32	line of the rule that decided (0: none)
 *	string	why, for the log
 *	u32	1 when the client may relay at all: it is trusted, and
 *		content checks (SPF, Sender ID, spamd) skip its mail
 *
 * LOGIN_REQ checks a password (SMTP AUTH, POP3 USER/PASS):
 *	data	client address (struct sockaddr_storage)
 *	string	service: "smtp" or "pop3"
 *	string	login
 *	string	password (both ends wipe it after use)
 * LOGIN_RES answers:
 *	u32	LOGIN_* result
 * LOGIN_BLOCKED: the client's address is blocked by "limit auth-failures"
 * (relayd-auth/authfail.h) and the password was not checked at all.  The
 * service answers it as a temporary refusal (SMTP: 454 4.7.0, counted
 * as a failed command); it never authenticates the session.
 */
#ifndef PORTCULLIS_AUTH_IMSG_H
#define PORTCULLIS_AUTH_IMSG_H

#define IMSG_AUTH_BASE		0x0200

enum auth_imsg {
	IMSG_AUTH_RCPT_REQ = IMSG_AUTH_BASE,
	IMSG_AUTH_RCPT_RES,
	IMSG_AUTH_LOGIN_REQ,
	IMSG_AUTH_LOGIN_RES,
	IMSG_AUTH_END
};

#define IMSG_AUTH_COUNT		(IMSG_AUTH_END - IMSG_AUTH_BASE)

extern const char *const auth_imsg_names[IMSG_AUTH_COUNT];

/* verdicts */
#define RCPT_LOCAL		1	/* an accepted domain: from anyone */
#define RCPT_RELAY		2	/* a relay rule allowed it */
#define RCPT_DENIED		3	/* 554 5.7.1 Relay access denied */
#define RCPT_UNKNOWN		4	/* 550 5.1.1 not a known recipient */

/* login results */
#define LOGIN_OK		1	/* 235 2.7.0 */
#define LOGIN_FAIL		2	/* 535 5.7.8 */
#define LOGIN_TEMPFAIL		3	/* 454 4.7.0: no credentials table */
#define LOGIN_BLOCKED		4	/* 454 4.7.0: too many failures from
					   the address; not checked */

#endif
