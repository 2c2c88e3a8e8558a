/*
 * Portcullis: the control protocol.  The same frames (lib/ipc.h) travel
 * on the control socket between smtpctl and the control process, and
 * between control and the daemon's processes, where the peer id names
 * the smtpctl connection a request belongs to.
 *
 * A client first sends IMSG_CTL_HELLO with CTL_VERSION and waits for
 * IMSG_CTL_OK; a mismatch (or anything else first) is answered with
 * IMSG_CTL_FAIL and the connection is closed.  Every request is answered
 * by zero or more data frames and then exactly one IMSG_CTL_OK or
 * IMSG_CTL_FAIL (string: the reason).  A client has one request at a
 * time: a frame sent before the answer is complete closes it, as does a
 * malformed frame.  An unknown request type is answered with
 * IMSG_CTL_FAIL "unknown request".
 *
 * Between control and the parent, the peer id is the client's id: the
 * parent answers every forwarded request (peer id kept) with its data
 * frames and one IMSG_CTL_OK or IMSG_CTL_FAIL.
 *
 * IMSG_CTL_STATUS: one frame per process, the parent first; state is a
 * word such as "running", "starting", "restarting" or "down" (pid 0 and
 * started 0 while there is no process).
 *
 * Control routes each request by its type: status, reload, log level
 * and stop go to the parent; the queue requests (show queue, show
 * message, schedule, remove, pause|resume delivery, queue stats) go
 * straight to the queue process and the front end's (pause|resume smtp,
 * smtp stats) to the smtp process, always with the client's id as peer
 * id.  A process that is down gets no request: control answers
 * IMSG_CTL_FAIL for it.  When the process dies with the request
 * pending, control answers IMSG_CTL_FAIL too.
 *
 * Message ids are u64 (smtpctl reads and prints them as the logs do:
 * 16 hex digits).  A request about one message names it as "u32 all,
 * u64 msgid" with all 0; all 1 (msgid 0) means every message.  An id
 * the queue does not hold is answered with IMSG_CTL_FAIL "no such
 * message".
 *
 * IMSG_CTL_ENVELOPES: one or more envelope entries, each
 *	u64 msgid, u32 idx, string state ("scheduled", "inflight",
 *	"held"), string dest ("relay", "maildir", "lmtp"), string sender
 *	("" for <>), string recipient, u64 size (of the message), i64
 *	ctime, i64 lasttry (0: never), i64 nexttry, u32 attempts, string
 *	error (the last one, "" when none)
 * back to back until the payload ends (frames stay under 64 KiB).  The
 * answer to IMSG_CTL_QUEUE_SHOW_REQ is a stream of them: the queue
 * sends at most CTL_WINDOW frames ahead, and control gives it credit
 * back with IMSG_CTL_MORE (u32 frames) as the client reads them, so a
 * queue of any size is listed in bounded memory at every hop.
 * IMSG_CTL_CANCEL tells the queue the client went away mid-stream.
 *
 * IMSG_CTL_STATS: (string key, i64 value) pairs until the payload
 * ends; keys are "area.name" words (queue.messages, smtp.paused, ...).
 *
 * The POP3 login requests go to auth, which keeps the logins and checks
 * the user and address (IMSG_CTL_FAIL with the reason when invalid).
 * IMSG_CTL_POP3_LOGINS frames list them newest first, each frame
 * starting with the number kept in all (a listing stops at 128 frames).
 *
 * The limits requests go to auth too, which keeps the auth-failure
 * table (relayd-auth/authfail.h).  The answer to IMSG_CTL_LIMITS_SHOW_REQ
 * is one IMSG_CTL_LIMITS frame at least (a listing stops at 128), each
 *	u32 total (addresses tracked in all; with an address asked: 1 when
 *	it is tracked, else 0), u32 N of "limit auth-failures" (0: none),
 *	i64 T and i64 B in seconds, u32 exempt (1 when the address asked
 *	is in "limit exempt")
 * then entries, the latest failure first, until the payload ends:
 *	string address, u32 failures that count now, i64 seconds since the
 *	last failure, i64 blocked until (unix time, 0: not blocked), i64
 *	seconds of the block left, u32 logins refused while blocked
 */
#ifndef PORTCULLIS_CONTROL_IMSG_H
#define PORTCULLIS_CONTROL_IMSG_H

#define CTL_VERSION		1

/* Where the control socket is unless the config says otherwise: the
 * daemon and smtpctl share these defaults. */
#define CTL_SOCKET_ROOT		"/var/run/portcullis/smtpd.sock"
#define CTL_SOCKET_USER		".portcullis/smtpd.sock" /* under $HOME */

#define IMSG_CTL_BASE		0x0600

enum control_imsg {
	IMSG_CTL_HELLO = IMSG_CTL_BASE,	/* u32 version */
	IMSG_CTL_OK,			/* the request is done */
	IMSG_CTL_FAIL,			/* string reason */
	IMSG_CTL_STATUS_REQ,		/* smtpctl show status */
	IMSG_CTL_STATUS,		/* string name, u32 pid, i64 started
					   (unix time), u32 restarts, string
					   state */
	IMSG_CTL_RELOAD_REQ,		/* smtpctl reload */
	IMSG_CTL_VERBOSE_REQ,		/* u32 level (0 brief, 1 verbose):
					   smtpctl log brief|verbose */
	IMSG_CTL_STOP_REQ,		/* smtpctl stop */
	IMSG_CTL_QUEUE_SHOW_REQ,	/* smtpctl show queue */
	IMSG_CTL_ENVELOPES,		/* envelope entries, see above */
	IMSG_CTL_MESSAGE_REQ,		/* u64 msgid: smtpctl show message */
	IMSG_CTL_MESSAGE,		/* u64 msgid, u64 size, i64 ctime,
					   u32 envelopes, string sender,
					   then header lines (strings) until
					   the end; IMSG_CTL_ENVELOPES
					   follow */
	IMSG_CTL_SCHEDULE_REQ,		/* u32 all, u64 msgid */
	IMSG_CTL_REMOVE_REQ,		/* u32 all, u64 msgid */
	IMSG_CTL_QUEUE_RESULT,		/* u32 messages, u32 envelopes,
					   u32 skipped: what a schedule or
					   remove did (skipped: messages
					   being delivered) */
	IMSG_CTL_DELIVERY_PAUSE_REQ,	/* smtpctl pause delivery */
	IMSG_CTL_DELIVERY_RESUME_REQ,	/* smtpctl resume delivery */
	IMSG_CTL_SMTP_PAUSE_REQ,	/* smtpctl pause smtp */
	IMSG_CTL_SMTP_RESUME_REQ,	/* smtpctl resume smtp */
	IMSG_CTL_QUEUE_STATS_REQ,	/* smtpctl show stats: the queue's */
	IMSG_CTL_SMTP_STATS_REQ,	/* smtpctl show stats: the front
					   end's */
	IMSG_CTL_STATS,			/* (string key, i64 value) pairs */
	IMSG_CTL_MORE,			/* control -> queue: u32 frames the
					   client has read */
	IMSG_CTL_CANCEL,		/* control -> queue: the client of
					   this peer id is gone */
	IMSG_CTL_POP3_LOGIN_REQ,	/* string user, string address:
					   smtpctl pop3-login */
	IMSG_CTL_POP3_SHOW_REQ,		/* smtpctl show pop3-logins */
	IMSG_CTL_POP3_LOGINS,		/* u32 total, then (string address,
					   string user, i64 time, i64 age)
					   until the payload ends */
	IMSG_CTL_POP3_FLUSH_REQ,	/* string address, NULL for all:
					   smtpctl pop3-logins flush */
	IMSG_CTL_POP3_FLUSHED,		/* u32 logins removed */
	IMSG_CTL_LIMITS_SHOW_REQ,	/* string address, NULL for all:
					   smtpctl show limits */
	IMSG_CTL_LIMITS,		/* see above */
	IMSG_CTL_LIMITS_RESET_REQ,	/* string address: smtpctl limits
					   reset */
	IMSG_CTL_LIMITS_CLEARED,	/* u32 addresses forgotten (0 or 1) */
	IMSG_CTL_END
};

#define IMSG_CTL_COUNT		(IMSG_CTL_END - IMSG_CTL_BASE)

#define CTL_WINDOW		8	/* IMSG_CTL_ENVELOPES frames unread */
#define CTL_FRAME_MAX		(60 * 1024)	/* payload of a data frame */

extern const char *const control_imsg_names[IMSG_CTL_COUNT];

#endif
