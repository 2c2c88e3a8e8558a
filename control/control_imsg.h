/*
 * Portcullis: the control protocol.  The same frames (lib/ipc.h) travel
 * on the control socket between smtpctl and the control process, and
 * between control and the daemon's processes, where the peer id names
 * the smtpctl connection a request belongs to.
 *
 * A client first sends IMSG_CTL_HELLO with CTL_VERSION; a mismatch is
 * answered with IMSG_CTL_FAIL and the connection is closed.  Every
 * request is answered by zero or more data frames and then exactly one
 * IMSG_CTL_OK or IMSG_CTL_FAIL (string: the reason).
 */
#ifndef PORTCULLIS_CONTROL_IMSG_H
#define PORTCULLIS_CONTROL_IMSG_H

#define CTL_VERSION		1
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
	IMSG_CTL_VERBOSE_REQ,		/* u32 level: smtpctl log verbose|brief */
	IMSG_CTL_STOP_REQ,		/* smtpctl stop */
	IMSG_CTL_END
};

#define IMSG_CTL_COUNT		(IMSG_CTL_END - IMSG_CTL_BASE)

extern const char *const control_imsg_names[IMSG_CTL_COUNT];

#endif
