/*
 * Portcullis: messages between the queue and delivery.  Served by
 * delivery (queue/delivery.c).
 *
 * The queue hands delivery a batch: one message (its file, read-only,
 * as the descriptor of DELIVER_REQ) and some of its envelopes that go
 * the same way (peerid is the batch id):
 *	DELIVER_REQ	u64 msgid, u32 count; fd: the message
 *	DELIVER_RCPT	envelope (envelope_add), count times
 *	DELIVER_GO	no payload: the batch is complete
 * Delivery routes each recipient (the first enabled delivery rule that
 * matches, else MX; or the LMTP server of its accepted domain), and
 * answers every envelope exactly once:
 *	RESULT		u64 msgid, u32 idx, u32 DELIVERY_* status,
 *			string reply (the remote's, or our diagnostic),
 *			string the host that answered ("" if none)
 * then closes the batch:
 *	DONE		u64 msgid
 */
#ifndef PORTCULLIS_DELIVERY_IMSG_H
#define PORTCULLIS_DELIVERY_IMSG_H

#define IMSG_DELIVERY_BASE	0x0400

enum delivery_imsg {
	IMSG_DELIVERY_DELIVER_REQ = IMSG_DELIVERY_BASE,
	IMSG_DELIVERY_DELIVER_RCPT,
	IMSG_DELIVERY_DELIVER_GO,
	IMSG_DELIVERY_RESULT,
	IMSG_DELIVERY_DONE,
	IMSG_DELIVERY_END
};

#define IMSG_DELIVERY_COUNT	(IMSG_DELIVERY_END - IMSG_DELIVERY_BASE)

extern const char *const delivery_imsg_names[IMSG_DELIVERY_COUNT];

/* results */
#define DELIVERY_OK		0	/* delivered: the envelope is done */
#define DELIVERY_TEMPFAIL	1	/* try again later */
#define DELIVERY_PERMFAIL	2	/* bounce */

/* at most this many envelopes in one batch */
#define DELIVERY_BATCH_MAX	100

#endif
