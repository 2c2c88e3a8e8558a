/*
 * Portcullis: messages between the parent and every worker.
 * Served by the parent (smtpd/smtpd.c); the worker side is smtpd/proc.c.
 */
#ifndef PORTCULLIS_PARENT_IMSG_H
#define PORTCULLIS_PARENT_IMSG_H

#define IMSG_PARENT_BASE	0x0100

enum parent_imsg {
	/* parent -> worker */
	IMSG_PARENT_PEER = IMSG_PARENT_BASE,	/* u32 proc id; fd: channel */
	IMSG_PARENT_CONF_START,		/* u64 generation */
	IMSG_PARENT_CONF_ITEM,		/* role-specific, see config_ipc.c */
	IMSG_PARENT_CONF_END,		/* u64 generation */
	IMSG_PARENT_LISTENER,		/* listener; fd: bound socket */
	IMSG_PARENT_CONTROL_SOCK,	/* fd: listening control socket */
	IMSG_PARENT_VERBOSE,		/* u32 level */
	IMSG_PARENT_POP3_STATE,		/* fd: the POP3 login tracker's
					   state file, to auth */
	/* worker -> parent (log lines travel on the worker's stderr) */
	IMSG_PARENT_READY,		/* u64 generation applied */
	IMSG_PARENT_END
};

/* The POP3 login tracker's state file, in the spool: the parent opens
 * it, auth reads and writes it (relayd-auth/tracker.h). */
#define POP3_STATE_FILE		"pop3-logins"

#define IMSG_PARENT_COUNT	(IMSG_PARENT_END - IMSG_PARENT_BASE)

extern const char *const parent_imsg_names[IMSG_PARENT_COUNT];

#endif
