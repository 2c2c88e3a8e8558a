/*
 * Portcullis: the process table and the worker side of the process
 * model: set-up, privilege drop, sandbox, channels to the parent and to
 * peers.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"
#include "sandbox.h"
#include "proc.h"
#include "parent_imsg.h"
#include "imsg_names.h"
#include "config.h"
#include "config_ipc.h"

#define B(p)	PROCBIT(PROC_ ## p)

const struct proc_info procs[PROC_COUNT] = {
	{ PROC_PARENT, "parent", "parent", "root", ROOT_NONE,
	    B(SMTP) | B(AUTH) | B(QUEUE) | B(DELIVERY) | B(MAILBOX) |
	    B(CONTROL), NULL, sandbox_parent, NULL },
	{ PROC_SMTP, "smtp", "smtp front end", SMTPD_USER, ROOT_EMPTY,
	    B(AUTH) | B(QUEUE) | B(MAILBOX) | B(CONTROL), smtp, sandbox_smtp,
	    smtp_init },
	{ PROC_AUTH, "auth", "auth and pop3 login tracker", SMTPD_AUTHUSER,
	    ROOT_EMPTY, B(SMTP) | B(CONTROL), auth, sandbox_auth, auth_init },
	{ PROC_QUEUE, "queue", "queue", SMTPD_QUEUEUSER, ROOT_SPOOL,
	    B(SMTP) | B(DELIVERY) | B(MAILBOX) | B(CONTROL), queue,
	    sandbox_queue, queue_init },
	{ PROC_DELIVERY, "delivery", "delivery", SMTPD_USER, ROOT_EMPTY,
	    B(QUEUE) | B(CONTROL), delivery, sandbox_delivery, delivery_init },
	{ PROC_MAILBOX, "mailbox", "mailbox", SMTPD_MAILUSER, ROOT_MAIL,
	    B(SMTP) | B(QUEUE), mailbox, sandbox_mailbox, NULL },
	{ PROC_CONTROL, "control", "control", SMTPD_USER, ROOT_EMPTY,
	    B(SMTP) | B(AUTH) | B(QUEUE) | B(DELIVERY), control,
	    sandbox_control, NULL },
};

#undef B

const char *const parent_imsg_names[IMSG_PARENT_COUNT] = {
	"IMSG_PARENT_PEER",
	"IMSG_PARENT_CONF_START",
	"IMSG_PARENT_CONF_ITEM",
	"IMSG_PARENT_CONF_END",
	"IMSG_PARENT_LISTENER",
	"IMSG_PARENT_CONTROL_SOCK",
	"IMSG_PARENT_VERBOSE",
	"IMSG_PARENT_POP3_STATE",
	"IMSG_PARENT_READY",
};

static enum proc_id	 self = PROC_PARENT;
static struct ipc	 channels[PROC_COUNT];
static int		 channel_up[PROC_COUNT];
static proc_dispatch	 dispatch;
static proc_conf_hook	 conf_hook;
static proc_peer_hook	 peer_hook;
static void		(*shutdown_hook)(void);
static struct config	*conf_building;
static struct event	 ev_sigterm, ev_sigint;
#ifdef PORTCULLIS_REGRESS
static struct event	 ev_sigusr2;
static void		 worker_test_sandbox(int, short, void *);
#endif

static void	 worker_log(int, const char *);
static void	 worker_privdrop(const struct proc_info *, const char *);
static void	 worker_imsg(struct ipc *, struct ipc_msg *, void *);
static void	 worker_closed(struct ipc *, void *);
static void	 worker_signal(int, short, void *);

const struct proc_info *
proc_byname(const char *name)
{
	int	 i;

	for (i = 0; i < PROC_COUNT; i++)
		if (strcmp(procs[i].name, name) == 0)
			return &procs[i];
	return NULL;
}

const char *
proc_name(enum proc_id id)
{
	if ((unsigned)id >= PROC_COUNT)
		return "unknown";
	return procs[id].name;
}

enum proc_id
proc_self(void)
{
	return self;
}

void
proc_set_dispatch(proc_dispatch fn)
{
	dispatch = fn;
}

void
proc_set_peer_closed(proc_peer_hook fn)
{
	peer_hook = fn;
}

void
proc_set_conf(proc_conf_hook fn)
{
	conf_hook = fn;
}

void
proc_set_shutdown(void (*fn)(void))
{
	shutdown_hook = fn;
}

struct ipc *
proc_channel(enum proc_id id)
{
	if ((unsigned)id >= PROC_COUNT || !channel_up[id])
		return NULL;
	return &channels[id];
}

int
proc_compose(enum proc_id id, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	struct ipc	*ch;

	if ((ch = proc_channel(id)) == NULL) {
		log_warnx("cannot send %s: %s is down", ipc_type_name(type),
		    proc_name(id));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (ipc_compose(ch, type, peerid, fd, data, len) == -1) {
		log_warn("cannot send %s to %s", ipc_type_name(type),
		    proc_name(id));
		if (fd != -1)
			close(fd);
		return -1;
	}
	/* ipc_close() has it written at the end of the loop's pass. */
	return 0;
}

/*
 * A worker's log lines go to its stderr, a pipe the parent reads, as
 * "<priority>line", and the parent hands them to syslog.  In the
 * foreground they go straight to the parent's stderr (PROC_LOG_FD), as
 * the line alone: the parent would only copy them there, and relaying
 * (ten lines a message) cost it a tenth of the daemon's CPU time.  In
 * the event loop they are held (log_hold()) and the lines of one pass
 * written together at its end: one write (and through the pipe one
 * wake-up of the parent) for the pass, not one for each line.  Warnings
 * and worse, and every line when verbose (smtpd -v, smtpctl log
 * verbose: debugging, where each line counts) go at once, after what
 * is held, so the order stays.  exit() writes what is held; a crash
 * loses at most the informational lines of its last pass.
 */
static struct event	 worker_log_ev;
static int		 worker_log_pending;
static int		 worker_log_direct;

static void
worker_log_pass(int fd, short event, void *arg)
{
	(void)fd;
	(void)event;
	(void)arg;
	worker_log_pending = 0;
	log_flush();
}

static void
worker_log(int pri, const char *line)
{
	char	 buf[1024];
	int	 n;

	if (worker_log_direct)
		n = snprintf(buf, sizeof(buf), "%s", line);
	else
		n = snprintf(buf, sizeof(buf), "<%d>%s", pri, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	log_stderr_line(buf, (size_t)n);
	if (pri <= LOG_WARNING || log_getverbose())
		log_flush();
	else if (log_held() > 0 && !worker_log_pending) {
		/* Set each time: it binds to the current event base. */
		event_set(&worker_log_ev, -1, 0, worker_log_pass, NULL);
		event_active(&worker_log_ev, EV_TIMEOUT, 1);
		worker_log_pending = 1;
	}
}

/*
 * Open what is needed, chroot, chdir, setgroups, setresgid, setresuid,
 * verify: always in this order (as root).  Not as root, only move into
 * the working directory.
 */
static void
worker_privdrop(const struct proc_info *pi, const char *rootdir)
{
	struct passwd	*pw;
	uid_t		 ruid, euid, suid;
	gid_t		 rgid, egid, sgid;

	if (geteuid() != 0) {
		if (rootdir != NULL && chdir(rootdir) == -1)
			fatal("chdir %s", rootdir);
		return;
	}
	if ((pw = getpwnam(pi->user)) == NULL)
		fatalx("unknown user %s", pi->user);
	if (pw->pw_uid == 0)
		fatalx("user %s must not be root", pi->user);
	if (rootdir == NULL)
		fatalx("no root directory for %s", pi->name);
	if (chroot(rootdir) == -1)
		fatal("chroot %s", rootdir);
	if (chdir("/") == -1)
		fatal("chdir /");
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", pi->user);
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatal("getresuid");
	if (ruid != pw->pw_uid || euid != pw->pw_uid || suid != pw->pw_uid ||
	    rgid != pw->pw_gid || egid != pw->pw_gid || sgid != pw->pw_gid)
		fatalx("privilege drop to %s did not hold", pi->user);
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("could regain root after dropping to %s", pi->user);
}

void
worker_main(const struct proc_info *pi, const struct worker_opts *opts)
{
	if (fcntl(PROC_PARENT_FD, F_GETFD) == -1) {
		fprintf(stderr, "smtpd: started without a channel to the "
		    "parent: smtpd -P is for the parent's use\n");
		exit(1);
	}
	self = pi->id;
	/* Lines go to the parent through stderr, or in the foreground to
	 * its stderr: no syslog here. */
	log_init(1, LOG_MAIL);
	if (opts->foreground) {
		if (fcntl(PROC_LOG_FD, F_GETFD) == -1) {
			fprintf(stderr, "smtpd: started in the foreground "
			    "without the parent's stderr\n");
			exit(1);
		}
		log_setfd(PROC_LOG_FD);
		worker_log_direct = 1;
	}
	log_procname(pi->name);
	log_setverbose(opts->verbose);
	log_setsink(worker_log);
	setproctitle("%s", pi->title);
	imsg_names_register();

	/* What libc would otherwise open lazily, inside the sandbox. */
	tzset();
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);

	event_init();
	signal_set(&ev_sigterm, SIGTERM, worker_signal, NULL);
	signal_set(&ev_sigint, SIGINT, worker_signal, NULL);
	signal_add(&ev_sigterm, NULL);
	signal_add(&ev_sigint, NULL);
#ifdef PORTCULLIS_REGRESS
	signal_set(&ev_sigusr2, SIGUSR2, worker_test_sandbox, NULL);
	signal_add(&ev_sigusr2, NULL);
#endif

	ipc_init(&channels[PROC_PARENT], PROC_PARENT_FD, "parent");
	channel_up[PROC_PARENT] = 1;

	if (pi->init != NULL)
		pi->init();
	worker_privdrop(pi, opts->rootdir);
	pi->sandbox();

	ipc_event_set(&channels[PROC_PARENT], worker_imsg, worker_closed,
	    NULL);
	pi->main();
	log_debug("started (pid %ld)", (long)getpid());
	if (atexit(log_flush) == 0)
		log_hold(1);
	event_dispatch();
	log_hold(0);
	proc_shutdown();
}

__attribute__((__noreturn__))
void
proc_shutdown(void)
{
	if (shutdown_hook != NULL)
		shutdown_hook();
	if (channel_up[PROC_PARENT])
		(void)ipc_flush(&channels[PROC_PARENT]);
	log_debug("exiting");
	exit(0);
}

static void
worker_signal(int sig, short event, void *arg)
{
	(void)event;
	(void)arg;
	log_debug("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	proc_shutdown();
}

#ifdef PORTCULLIS_REGRESS
/*
 * Test builds only: SIGUSR2 asks a worker to open a file, which its
 * sandbox must punish with death (regress/daemon/test_sandbox.py).
 */
static void
worker_test_sandbox(int sig, short event, void *arg)
{
	int	 fd;

	(void)sig;
	(void)event;
	(void)arg;
	log_info("test hook: opening /etc/passwd");
	fd = open("/etc/passwd", O_RDONLY);
	log_info("test hook: open returned %d", fd);
	if (fd != -1)
		close(fd);
}
#endif

static void
worker_closed(struct ipc *ch, void *arg)
{
	enum proc_id	 id = (enum proc_id)(intptr_t)arg;

	(void)ch;
	channel_up[id] = 0;
	if (id == PROC_PARENT) {
		log_debug("parent went away, exiting");
		proc_shutdown();
	}
	log_debug("channel to %s closed", proc_name(id));
	if (peer_hook != NULL)
		peer_hook(id);
}

static void
worker_peer_imsg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	enum proc_id	 id = (enum proc_id)(intptr_t)arg;

	(void)ch;
	if (dispatch == NULL)
		fatalx("%s from %s: no handler", ipc_type_name(m->hdr.type),
		    proc_name(id));
	dispatch(id, m);
}

static void
worker_imsg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct config	*conf;
	uint64_t	 generation;
	uint32_t	 peer;

	(void)ch;
	(void)arg;
	switch (m->hdr.type) {
	case IMSG_PARENT_PEER:
		peer = ipc_get_u32(m);
		ipc_end(m);
		if (peer >= PROC_COUNT || peer == PROC_PARENT ||
		    !(procs[self].peers & PROCBIT(peer)))
			fatalx("IMSG_PARENT_PEER: %s may not talk to %u",
			    procs[self].name, peer);
		if (m->fd == -1)
			fatalx("IMSG_PARENT_PEER without a descriptor");
		if (channel_up[peer]) {
			/* the old peer is gone even if we missed its EOF */
			ipc_clear(&channels[peer]);
			channel_up[peer] = 0;
			if (peer_hook != NULL)
				peer_hook(peer);
		}
		ipc_init(&channels[peer], m->fd, proc_name(peer));
		m->fd = -1;
		channel_up[peer] = 1;
		ipc_event_set(&channels[peer], worker_peer_imsg, worker_closed,
		    (void *)(intptr_t)peer);
		log_debug("channel to %s up", proc_name(peer));
		return;
	case IMSG_PARENT_VERBOSE:
		log_setverbose(ipc_get_u32(m));
		ipc_end(m);
		return;
	case IMSG_PARENT_CONF_START:
	case IMSG_PARENT_CONF_ITEM:
		(void)config_recv(&conf_building, m);
		return;
	case IMSG_PARENT_CONF_END:
		/* The role takes the configuration, then we say so. */
		generation = ipc_get_u64(m);
		ipc_end(m);
		conf = config_recv(&conf_building, m);
		if (conf_hook != NULL)
			conf_hook(conf);
		else
			config_free(conf);
		proc_compose(PROC_PARENT, IMSG_PARENT_READY, 0, -1,
		    &generation, sizeof(generation));
		return;
	}
	if (dispatch == NULL)
		fatalx("%s from parent: no handler",
		    ipc_type_name(m->hdr.type));
	dispatch(PROC_PARENT, m);
}
