/*
 * Portcullis: the parent's workers.  Spawn each one (fork + exec of our
 * own binary, a fresh address space), wire the socketpairs between
 * peers, relay their stderr into the log, and when one dies: say how,
 * restart it with a back-off, give its peers fresh channels, and stop
 * the daemon if it keeps dying.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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
#include "proc.h"
#include "parent.h"
#include "parent_imsg.h"
#include "config.h"
#include "config_ipc.h"

struct worker	 workers[PROC_COUNT];

static int	 stopping;
static struct event ev_grace;

static void	 worker_spawn(struct worker *);
static void	 worker_wire(enum proc_id, enum proc_id);
static void	 worker_err_read(int, short, void *);
static void	 worker_err_flush(struct worker *, int);
static void	 worker_imsg_cb(struct ipc *, struct ipc_msg *, void *);
static void	 worker_closed_cb(struct ipc *, void *);
static void	 worker_restart_cb(int, short, void *);
static void	 worker_grace_cb(int, short, void *);

const char *
worker_state_name(enum worker_state st)
{
	switch (st) {
	case WORKER_DOWN:
		return "down";
	case WORKER_STARTING:
		return "starting";
	case WORKER_RUNNING:
		return "running";
	case WORKER_STOPPING:
		return "stopping";
	}
	return "unknown";
}

void
supervise_start(void)
{
	int	 i, j;

	for (i = 1; i < PROC_COUNT; i++) {
		workers[i].info = &procs[i];
		workers[i].errfd = -1;
		for (j = 1; j < PROC_COUNT; j++)
			if (!(procs[i].peers & PROCBIT(j)) !=
			    !(procs[j].peers & PROCBIT(i)))
				fatalx("process table: %s and %s disagree "
				    "about being peers", procs[i].name,
				    procs[j].name);
	}
	for (i = 1; i < PROC_COUNT; i++)
		worker_spawn(&workers[i]);
	for (i = 1; i < PROC_COUNT; i++)
		for (j = i + 1; j < PROC_COUNT; j++)
			if (procs[i].peers & PROCBIT(j))
				worker_wire(i, j);
	for (i = 1; i < PROC_COUNT; i++)
		supervise_send_config(&workers[i]);
}

static void
worker_spawn(struct worker *w)
{
	const char	*argv[16], *rootdir;
	int		 sp[2], ep[2], a, b, c = -1, devnull, argc = 0, v;
	/* In the foreground the worker writes its lines to our stderr. */
	int		 fg = log_foreground();
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	if (pipe2(ep, O_CLOEXEC) == -1)
		fatal("pipe2");

#ifdef PORTCULLIS_REGRESS
	/* Test builds: the lines through us, as without -d (where they go
	 * on to syslog), so that the black-box tests can see that path. */
	if (getenv("PORTCULLIS_TEST_LOG_RELAY") != NULL)
		fg = 0;
#endif
	rootdir = worker_rootdir(w->info, pconf);
	argv[argc++] = "smtpd";
	argv[argc++] = "-P";
	argv[argc++] = w->info->name;
	if (fg)
		argv[argc++] = "-d";
	/* The level now (smtpctl log verbose|brief), not the one at start:
	 * in the foreground a worker filters its own debug lines. */
	for (v = 0; v < log_getverbose() && v < 3; v++)
		argv[argc++] = "-v";
	if (rootdir != NULL) {
		argv[argc++] = "-C";
		argv[argc++] = rootdir;
	}
	argv[argc] = NULL;

	switch ((pid = fork())) {
	case -1:
		fatal("fork");
	case 0:
		/* Signals from the terminal are the parent's to handle. */
		(void)setsid();
		/* Move the ends (and in the foreground our stderr, for
		 * the worker's log lines) out of the way, then into place. */
		if ((a = fcntl(sp[1], F_DUPFD_CLOEXEC, 10)) == -1 ||
		    (b = fcntl(ep[1], F_DUPFD_CLOEXEC, 10)) == -1 ||
		    (fg && (c = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC,
		    10)) == -1) ||
		    dup2(a, PROC_PARENT_FD) == -1 ||
		    (fg && dup2(c, PROC_LOG_FD) == -1) ||
		    dup2(b, STDERR_FILENO) == -1)
			_exit(127);
		if ((devnull = open("/dev/null", O_RDWR)) == -1 ||
		    dup2(devnull, STDIN_FILENO) == -1 ||
		    dup2(devnull, STDOUT_FILENO) == -1)
			_exit(127);
		closefrom((fg ? PROC_LOG_FD : PROC_PARENT_FD) + 1);
		execv(popts.self, (char *const *)(uintptr_t)argv);
		dprintf(STDERR_FILENO, "<%d>parent: exec %s: %s\n", LOG_CRIT,
		    popts.self, strerror(errno));
		_exit(127);
	}

	close(sp[1]);
	close(ep[1]);
	w->pid = pid;
	w->state = WORKER_STARTING;
	w->started = time(NULL);
	ipc_init(&w->ipc, sp[0], w->info->name);
	w->ipc_up = 1;
	ipc_event_set(&w->ipc, worker_imsg_cb, worker_closed_cb, w);
	w->errfd = ep[0];
	w->errlen = 0;
	if (fcntl(w->errfd, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	event_set(&w->ev_err, w->errfd, EV_READ | EV_PERSIST,
	    worker_err_read, w);
	event_add(&w->ev_err, NULL);
	log_debug("started %s (pid %ld)", w->info->name, (long)pid);
}

/* A fresh channel between two running workers. */
static void
worker_wire(enum proc_id a, enum proc_id b)
{
	int	 sp[2];
	uint32_t id;

	if (!workers[a].ipc_up || !workers[b].ipc_up)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	id = b;
	if (ipc_compose(&workers[a].ipc, IMSG_PARENT_PEER, 0, sp[0], &id,
	    sizeof(id)) == -1)
		fatal("cannot send a channel to %s", proc_name(a));
	id = a;
	if (ipc_compose(&workers[b].ipc, IMSG_PARENT_PEER, 0, sp[1], &id,
	    sizeof(id)) == -1)
		fatal("cannot send a channel to %s", proc_name(b));
	ipc_event_update(&workers[a].ipc);
	ipc_event_update(&workers[b].ipc);
}

/*
 * Everything a worker needs of the configuration, then CONF_END; it
 * answers READY once it has applied it.
 */
void
supervise_send_config(struct worker *w)
{
	struct listener	*l;
	struct ipc_obuf	*ob;
	int		 fd;

	if (!w->ipc_up)
		return;
	config_send(&w->ipc, w->info->id, pconf, pconf_generation);
	switch (w->info->id) {
	case PROC_SMTP:
		TAILQ_FOREACH(l, &pconf->listeners, entry) {
			if (l->fd == -1)
				continue;
			if ((fd = dup(l->fd)) == -1)
				fatal("dup");
			ob = ipc_create(&w->ipc, IMSG_PARENT_LISTENER, 0, fd);
			ipc_add_u32(ob, l->flags);
			ipc_add_u32(ob, l->port);
			ipc_add_string(ob, l->pki[0] ? l->pki : NULL);
			if (ipc_close(ob) == -1)
				fatal("IMSG_PARENT_LISTENER");
		}
		break;
	case PROC_AUTH:
		if ((fd = dup(pop3_state_fd)) == -1)
			fatal("dup");
		if (ipc_compose(&w->ipc, IMSG_PARENT_POP3_STATE, 0, fd,
		    NULL, 0) == -1)
			fatal("IMSG_PARENT_POP3_STATE");
		break;
	case PROC_CONTROL:
		if ((fd = dup(control_fd)) == -1)
			fatal("dup");
		if (ipc_compose(&w->ipc, IMSG_PARENT_CONTROL_SOCK, 0, fd,
		    NULL, 0) == -1)
			fatal("IMSG_PARENT_CONTROL_SOCK");
		break;
	default:
		break;
	}
	config_send_end(&w->ipc, pconf_generation);
	ipc_event_update(&w->ipc);
}

void
supervise_broadcast_verbose(int level)
{
	uint32_t v = level;
	int	 i;

	for (i = 1; i < PROC_COUNT; i++)
		if (workers[i].ipc_up) {
			(void)ipc_compose(&workers[i].ipc, IMSG_PARENT_VERBOSE,
			    0, -1, &v, sizeof(v));
			ipc_event_update(&workers[i].ipc);
		}
}

static void
worker_imsg_cb(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	parent_imsg(arg, m);
}

static void
worker_closed_cb(struct ipc *ch, void *arg)
{
	struct worker	*w = arg;

	(void)ch;
	w->ipc_up = 0;
	log_debug("channel to %s closed", w->info->name);
}

/*
 * Relay a worker's stderr: "<pri>line" from its log, anything else
 * (a sandbox violation, a sanitizer report, libc) as an error.
 */
static void
worker_err_line(struct worker *w, char *line)
{
	char	 buf[1200];
	char	*end;
	long	 pri;

	if (line[0] == '<' && (pri = strtol(line + 1, &end, 10)) >= 0 &&
	    pri <= LOG_DEBUG && *end == '>') {
		log_raw((int)pri, end + 1);
		return;
	}
	(void)snprintf(buf, sizeof(buf), "%s[%ld]: %s", w->info->name,
	    (long)w->pid, line);
	log_raw(LOG_ERR, buf);
}

static void
worker_err_flush(struct worker *w, int all)
{
	char	*p, *nl;
	size_t	 left;

	p = w->errbuf;
	left = w->errlen;
	while ((nl = memchr(p, '\n', left)) != NULL) {
		*nl = '\0';
		worker_err_line(w, p);
		left -= nl + 1 - p;
		p = nl + 1;
	}
	if (left > 0 && (all || left == sizeof(w->errbuf) - 1)) {
		p[left] = '\0';
		worker_err_line(w, p);
		left = 0;
	}
	memmove(w->errbuf, p, left);
	w->errlen = left;
}

static void
worker_err_read(int fd, short event, void *arg)
{
	struct worker	*w = arg;
	ssize_t		 n;
	size_t		 room;
	int		 rounds;

	(void)event;
	log_hold(1);
	for (rounds = 0; rounds < 64; rounds++) {
		room = sizeof(w->errbuf) - 1 - w->errlen;
		n = read(fd, w->errbuf + w->errlen, room);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			worker_err_flush(w, 1);
			event_del(&w->ev_err);
			close(fd);
			w->errfd = -1;
			break;
		}
		w->errlen += n;
		worker_err_flush(w, 0);
		/* Short: the pipe is empty; more or EOF wakes us again. */
		if ((size_t)n < room)
			break;
	}
	log_hold(0);
}

static void
worker_describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		(void)snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		(void)snprintf(buf, len, "was killed by SIGSYS: "
		    "sandbox violation");
	else if (WIFSIGNALED(status))
		(void)snprintf(buf, len, "was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		(void)snprintf(buf, len, "stopped with status 0x%x", status);
}

/* Deaths within the window, this one included. */
static unsigned
worker_count_death(struct worker *w, time_t now)
{
	unsigned i, n = 0;

	w->deaths[w->ndeaths++ % RESTART_MAX] = now;
	for (i = 0; i < RESTART_MAX && i < w->ndeaths; i++)
		if (now - w->deaths[i] < RESTART_WINDOW)
			n++;
	return n;
}

void
supervise_reap(void)
{
	struct worker	*w;
	struct timeval	 tv;
	char		 how[128];
	pid_t		 pid;
	unsigned	 n;
	int		 status, i, delay;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		w = NULL;
		for (i = 1; i < PROC_COUNT; i++)
			if (workers[i].pid == pid)
				w = &workers[i];
		if (w == NULL)
			continue;
		/* Its last words first. */
		if (w->errfd != -1)
			worker_err_read(w->errfd, EV_READ, w);
		worker_describe(status, how, sizeof(how));
		if (stopping)
			log_debug("%s (pid %ld) %s", w->info->name, (long)pid,
			    how);
		else
			log_warnx("%s (pid %ld) %s", w->info->name, (long)pid,
			    how);
		if (w->errfd != -1) {
			event_del(&w->ev_err);
			close(w->errfd);
			w->errfd = -1;
		}
		if (w->ipc_up) {
			ipc_clear(&w->ipc);
			w->ipc_up = 0;
		}
		w->pid = 0;
		w->state = WORKER_DOWN;
		if (stopping)
			continue;

		n = worker_count_death(w, time(NULL));
		if (n >= RESTART_MAX) {
			log_warnx("%s died %u times within %d seconds: "
			    "shutting down", w->info->name, n,
			    RESTART_WINDOW);
			parent_shutdown_status(1);
			continue;
		}
		delay = n <= 1 ? 0 : 1 << (n - 2);
		if (delay > RESTART_DELAY_MAX)
			delay = RESTART_DELAY_MAX;
		log_info("restarting %s in %d second%s", w->info->name, delay,
		    delay == 1 ? "" : "s");
		tv.tv_sec = delay;
		tv.tv_usec = 0;
		evtimer_set(&w->ev_restart, worker_restart_cb, w);
		evtimer_add(&w->ev_restart, &tv);
	}
	if (stopping && supervise_all_down())
		parent_exit();
}

static void
worker_restart_cb(int fd, short event, void *arg)
{
	struct worker	*w = arg;
	int		 i;

	(void)fd;
	(void)event;
	if (stopping)
		return;
	worker_spawn(w);
	w->restarts++;
	for (i = 1; i < PROC_COUNT; i++)
		if (w->info->peers & PROCBIT(i))
			worker_wire(w->info->id, i);
	supervise_send_config(w);
}

int
supervise_all_down(void)
{
	int	 i;

	for (i = 1; i < PROC_COUNT; i++)
		if (workers[i].pid != 0)
			return 0;
	return 1;
}

/* SIGTERM to every worker; SIGKILL to those still there after a grace. */
void
supervise_stop(void)
{
	struct timeval	 tv = { SHUTDOWN_GRACE, 0 };
	int		 i;

	if (stopping)
		return;
	stopping = 1;
	for (i = 1; i < PROC_COUNT; i++) {
		if (workers[i].info != NULL &&
		    evtimer_initialized(&workers[i].ev_restart))
			evtimer_del(&workers[i].ev_restart);
		if (workers[i].pid != 0) {
			workers[i].state = WORKER_STOPPING;
			(void)kill(workers[i].pid, SIGTERM);
		}
	}
	evtimer_set(&ev_grace, worker_grace_cb, NULL);
	evtimer_add(&ev_grace, &tv);
	if (supervise_all_down())
		parent_exit();
}

static void
worker_grace_cb(int fd, short event, void *arg)
{
	int	 i;

	(void)fd;
	(void)event;
	(void)arg;
	for (i = 1; i < PROC_COUNT; i++)
		if (workers[i].pid != 0) {
			log_warnx("%s (pid %ld) did not stop: killing it",
			    workers[i].info->name, (long)workers[i].pid);
			(void)kill(workers[i].pid, SIGKILL);
		}
}
