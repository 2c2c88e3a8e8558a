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

#endif
