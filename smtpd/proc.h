/*
 * Portcullis: the processes, declared once.
 *
 * The parent fork+execs the daemon's own binary once per worker role
 * ("smtpd -P smtp ..."), with its channel to the parent at descriptor
 * PROC_PARENT_FD and its stderr on a pipe the parent relays to the log.
 * In the foreground (smtpd -d, passed on as -d) the worker also gets the
 * parent's own stderr at PROC_LOG_FD and writes its log lines there
 * itself; the pipe then carries only what else it prints (a sanitizer's
 * report, libc's complaints), which the parent relays with the
 * worker's name.
 * Channels between workers are socketpairs the parent creates and hands
 * to both ends (IMSG_PARENT_PEER); when a worker is restarted its peers
 * get a fresh channel.
 */
#ifndef PORTCULLIS_PROC_H
#define PORTCULLIS_PROC_H

#include <stdint.h>

#include "ipc.h"

enum proc_id {
	PROC_PARENT,
	PROC_SMTP,
	PROC_AUTH,
	PROC_QUEUE,
	PROC_DELIVERY,
	PROC_MAILBOX,
	PROC_CONTROL,
	PROC_COUNT
};

#define PROC_PARENT_FD	3
#define PROC_LOG_FD	4

/* Where a worker is chrooted when the daemon runs as root. */
enum proc_root {
	ROOT_NONE,		/* the parent */
	ROOT_EMPTY,		/* an empty directory, SMTPD_EMPTYDIR */
	ROOT_SPOOL,		/* the spool */
	ROOT_MAIL		/* the mail root */
};

#define PROCBIT(p)	(1U << (p))

struct proc_info {
	enum proc_id	 id;
	const char	*name;		/* "smtp": log prefix and -P argument */
	const char	*title;		/* what ps shows after "smtpd: " */
	const char	*user;		/* user to run as under root */
	enum proc_root	 root;
	uint32_t	 peers;		/* PROCBIT()s of the workers it talks to */
	void		(*main)(void);	/* the process's entry */
	void		(*sandbox)(void);
	void		(*init)(void);	/* before the privilege drop and the
					 * sandbox: what needs files, or NULL */
};

extern const struct proc_info procs[PROC_COUNT];

const struct proc_info *proc_byname(const char *);
const char	*proc_name(enum proc_id);

/* The worker side, in proc.c.  worker_main() sets up the process for
 * its role (logging, privilege drop, sandbox, parent channel) and calls
 * the role's entry, which installs handlers and runs the event loop. */
struct worker_opts {
	int		 foreground;	/* -d: log lines to PROC_LOG_FD */
	int		 verbose;
	const char	*rootdir;	/* chroot (as root) or working dir */
};

__attribute__((__noreturn__))
void	 worker_main(const struct proc_info *, const struct worker_opts *);

/* Handlers a role registers for messages from the parent and from its
 * peers.  Types the common code handles (peers, log level) never reach
 * them, nor do the IMSG_PARENT_CONF_* of a configuration transfer (see
 * proc_set_conf()). */
typedef void (*proc_dispatch)(enum proc_id from, struct ipc_msg *);
void	 proc_set_dispatch(proc_dispatch);
/* The configuration the parent sent, complete: the role owns it (and
 * frees the one it replaces).  Called at start and at every reload. */
struct config;
typedef void (*proc_conf_hook)(struct config *);
void	 proc_set_conf(proc_conf_hook);
/* A peer's channel closed (the peer died; the parent will restart it
 * and send a fresh channel). */
typedef void (*proc_peer_hook)(enum proc_id);
void	 proc_set_peer_closed(proc_peer_hook);
/* Called once on the way out (SIGTERM, the parent gone), before exit:
 * write out what must survive. */
void	 proc_set_shutdown(void (*)(void));
/* The channel to a process, NULL while it is down. */
struct ipc *proc_channel(enum proc_id);
/* Queue a message to a process; returns -1 (logged) when it is down. */
int	 proc_compose(enum proc_id, uint32_t type, uint32_t peerid, int fd,
	    const void *, size_t);
/* The calling process's role. */
enum proc_id proc_self(void);
/* Exit cleanly: flush what is queued to the parent, then exit(0). */
__attribute__((__noreturn__))
void	 proc_shutdown(void);

/* The role entries, and the early set-up of those that need one. */
void	 smtp_init(void);
void	 auth_init(void);
void	 delivery_init(void);
void	 queue_init(void);
void	 smtp(void);
void	 auth(void);
void	 queue(void);
void	 delivery(void);
void	 mailbox(void);
void	 control(void);

#endif
