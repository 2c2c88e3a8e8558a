/*
 * Portcullis: messages between the smtp front end and the queue.
 * Served by the queue (queue/queue.c).  peerid is the front end's
 * session id; the queue echoes it.
 *
 * A transaction: CREATE_REQ -> CREATE_OK (u64 msgid, fd: the message
 * file, open for writing) or CREATE_FAIL (string reason); the front end
 * writes the message (its Received: line and the data, dot-unstuffed,
 * CRLF line ends) into the descriptor itself; then one ENVELOPE per
 * accepted recipient, then COMMIT_REQ (u64 msgid, u64 size).  The queue
 * makes the message and its envelopes durable (group commit: one sync
 * for every commit that arrived meanwhile) and only then answers
 * COMMIT_OK (u64 msgid), or COMMIT_FAIL (u64 msgid, string reason) and
 * the message is gone.  ROLLBACK (u64 msgid) drops a transaction the
 * front end abandons; it has no answer.
 */
#ifndef PORTCULLIS_QUEUE_IMSG_H
#define PORTCULLIS_QUEUE_IMSG_H

#define IMSG_QUEUE_BASE		0x0300

enum queue_imsg {
	IMSG_QUEUE_CREATE_REQ = IMSG_QUEUE_BASE,
	IMSG_QUEUE_CREATE_OK,
	IMSG_QUEUE_CREATE_FAIL,
	IMSG_QUEUE_ENVELOPE,		/* u64 msgid, envelope (envelope_add) */
	IMSG_QUEUE_COMMIT_REQ,
	IMSG_QUEUE_COMMIT_OK,
	IMSG_QUEUE_COMMIT_FAIL,
	IMSG_QUEUE_ROLLBACK,
	IMSG_QUEUE_END
};

#define IMSG_QUEUE_COUNT	(IMSG_QUEUE_END - IMSG_QUEUE_BASE)

extern const char *const queue_imsg_names[IMSG_QUEUE_COUNT];

#endif
