/*
 * Portcullis: messages between the queue and the mailbox process.
 * Served by mailbox (queue/mailbox.c).
 *
 * The same shape as delivery's (delivery_imsg.h): the queue hands the
 * mailbox process a batch, one message (its spool file, read-only, as
 * the descriptor of DELIVER_REQ) and some of its envelopes whose
 * domain is delivered to Maildirs (peerid is the batch id):
 *	DELIVER_REQ	u64 msgid, u32 count; fd: the message
 *	DELIVER_RCPT	envelope (envelope_add), count times
 *	DELIVER_GO	no payload: the batch is complete
 * The mailbox process delivers into each recipient's Maildir (the
 * template of its accept rule, relative to the mail root it lives in)
 * and answers every envelope exactly once:
 *	RESULT		u64 msgid, u32 idx, u32 MAILBOX_* status,
 *			string reply (an SMTP-style reply for logs and
 *			DSNs: "250 2.0.0 ...", "451 4.3.0 ...")
 * then closes the batch:
 *	DONE		u64 msgid
 * A batch is handled at once, to the end: nothing else of the protocol
 * is in flight in between.
 *
 * POP3 (RFC 1939): the front end speaks the protocol, the mailbox
 * process opens the maildrop (queue/maildrop.c).  peerid is the front
 * end's POP3 session id.  After auth accepted the login:
 *	POP3_OPEN	string login ("user@domain")
 * answered by zero or more
 *	POP3_ENTRIES	u32 n, then n times: u64 size (octets with CRLF
 *			line ends, as RETR sends it before dot-stuffing),
 *			string unique id (RFC 1939 UIDL: 1-70 octets of
 *			0x21-0x7e)
 * in message order, then
 *	POP3_OPENED	u32 POP3_OPEN_* status, u32 count, string why
 * Messages are numbered from 0 here (the client sees 1..count).  While
 * the maildrop is open (the lock: one session a Maildir):
 *	POP3_FETCH	u32 index
 *	POP3_FILE	u32 index, u32 status (0: fd is the message, read
 *			only, LF line ends; 1: it is gone)
 *	POP3_DELE	u32 n, then n times u32 index: marked for deletion
 *			(sent at QUIT, before UPDATE, in pieces)
 *	POP3_UPDATE	no payload: remove what was marked, close
 *	POP3_UPDATED	u32 removed, u32 failed
 *	POP3_CLOSE	no payload: close without removing anything (no
 *			answer)
 * A front end that goes away closes all its maildrops.
 */
#ifndef PORTCULLIS_MAILBOX_IMSG_H
#define PORTCULLIS_MAILBOX_IMSG_H

#define IMSG_MAILBOX_BASE	0x0500

enum mailbox_imsg {
	IMSG_MAILBOX_DELIVER_REQ = IMSG_MAILBOX_BASE,
	IMSG_MAILBOX_DELIVER_RCPT,
	IMSG_MAILBOX_DELIVER_GO,
	IMSG_MAILBOX_RESULT,
	IMSG_MAILBOX_DONE,
	IMSG_MAILBOX_POP3_OPEN,
	IMSG_MAILBOX_POP3_ENTRIES,
	IMSG_MAILBOX_POP3_OPENED,
	IMSG_MAILBOX_POP3_FETCH,
	IMSG_MAILBOX_POP3_FILE,
	IMSG_MAILBOX_POP3_DELE,
	IMSG_MAILBOX_POP3_UPDATE,
	IMSG_MAILBOX_POP3_UPDATED,
	IMSG_MAILBOX_POP3_CLOSE,
	IMSG_MAILBOX_END
};

#define IMSG_MAILBOX_COUNT	(IMSG_MAILBOX_END - IMSG_MAILBOX_BASE)

extern const char *const mailbox_imsg_names[IMSG_MAILBOX_COUNT];

/* results: the values of delivery's DELIVERY_* (the scheduler applies
 * both the same way) */
#define MAILBOX_OK		0	/* in new/, durable: the envelope is done */
#define MAILBOX_TEMPFAIL	1	/* try again later */
#define MAILBOX_PERMFAIL	2	/* bounce */

/* at most this many envelopes in one batch */
#define MAILBOX_BATCH_MAX	100

/* POP3_OPENED statuses */
#define POP3_OPEN_OK		0	/* +OK maildrop has N messages */
#define POP3_OPEN_IN_USE	1	/* -ERR [IN-USE]: another session */
#define POP3_OPEN_NO_MAILBOX	2	/* -ERR [SYS/PERM]: not a local login */
#define POP3_OPEN_FAIL		3	/* -ERR [SYS/TEMP]: cannot read it */

#define POP3_UID_MAX		70	/* RFC 1939 7: 1 to 70 characters */
#define POP3_MSGS_MAX		100000	/* a maildrop lists at most these */
#define POP3_ENTRIES_MAX	256	/* entries in one POP3_ENTRIES */
#define POP3_DELE_MAX		1024	/* indices in one POP3_DELE */

#endif
