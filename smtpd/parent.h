/*
 * Portcullis: the parent's own interfaces between its files:
 * smtpd.c (main, signals, reload, control requests), supervise.c
 * (spawning, wiring and restarting workers) and listen.c (sockets and
 * directories opened with privileges).
 */
#ifndef PORTCULLIS_PARENT_H
#define PORTCULLIS_PARENT_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "ipc.h"
#include "proc.h"

struct config;

/* A restart storm: this many deaths within the window stops the daemon. */
#define RESTART_MAX		5
#define RESTART_WINDOW		60	/* seconds */
#define RESTART_DELAY_MAX	16	/* seconds */
#define SHUTDOWN_GRACE		5	/* seconds before SIGKILL */

enum worker_state {
	WORKER_DOWN,		/* not running; a restart may be pending */
	WORKER_STARTING,	/* running, configuration not yet applied */
	WORKER_RUNNING,
	WORKER_STOPPING
};

struct worker {
	const struct proc_info	*info;
	pid_t			 pid;
	enum worker_state	 state;
	time_t			 started;	/* unix time of the last start */
	unsigned		 restarts;
	time_t			 deaths[RESTART_MAX];	/* ring of death times */
	unsigned		 ndeaths;
	struct ipc		 ipc;
	int			 ipc_up;
	int			 errfd;		/* read end of its stderr */
	struct event		 ev_err;
	char			 errbuf[1024];	/* partial line from stderr */
	size_t			 errlen;
	struct event		 ev_restart;
};

struct parent_opts {
	const char	*conffile;	/* NULL: the default */
	int		 conf_is_default;
	int		 foreground;
	int		 verbose;
	char		 self[1024];	/* our own binary, for exec */
};

extern struct parent_opts	 popts;
extern struct config		*pconf;
extern uint64_t			 pconf_generation;
extern int			 control_fd;
extern int			 pop3_state_fd;
extern struct worker		 workers[PROC_COUNT];

/* supervise.c */
void	 supervise_start(void);
void	 supervise_reap(void);
void	 supervise_stop(void);
int	 supervise_all_down(void);
void	 supervise_send_config(struct worker *);
void	 supervise_broadcast_verbose(int);
const char *worker_state_name(enum worker_state);

/* listen.c */
int	 listen_open_all(struct config *, struct config *old);
void	 listen_close_all(struct config *);
int	 control_open(struct config *);
void	 control_cleanup(void);
int	 dirs_prepare(struct config *);
int	 pop3_state_open(const struct config *);
int	 pki_load_all(struct config *);
int	 mailroot(const struct config *, char *, size_t);
const char *worker_rootdir(const struct proc_info *, const struct config *);

/* smtpd.c */
void	 parent_imsg(struct worker *, struct ipc_msg *);
void	 parent_shutdown(void);
void	 parent_shutdown_status(int);
__attribute__((__noreturn__))
void	 parent_exit(void);

#endif
