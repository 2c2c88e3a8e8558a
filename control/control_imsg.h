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
	IMSG_CTL_END
};

#define IMSG_CTL_COUNT		(IMSG_CTL_END - IMSG_CTL_BASE)

extern const char *const control_imsg_names[IMSG_CTL_COUNT];

#endif
