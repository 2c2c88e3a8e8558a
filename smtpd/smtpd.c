/*
 * Portcullis: smtpd, the parent process.
 *
 *	smtpd [-dnv] [-D name=value] [-f file]
 *
 * The parent parses the configuration, opens what needs privileges
 * (listening sockets, the control socket, the spool), starts one worker
 * per role by re-executing this binary ("smtpd -P role"), and then only
 * supervises: it restarts workers, reloads the configuration on SIGHUP
 * or "smtpctl reload", and stops everything on SIGTERM.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "parent.h"
#include "parent_imsg.h"
#include "control_imsg.h"
#include "imsg_names.h"
#include "config.h"

struct parent_opts	 popts;
struct config		*pconf;
uint64_t		 pconf_generation = 1;

static time_t		 started;
static int		 exit_status;
static int		 shutting_down;
static struct event	 ev_sigterm, ev_sigint, ev_sighup, ev_sigchld;

static void	 parent_signal(int, short, void *);
static int	 parent_reload(char *, size_t);
static void	 parent_control(struct worker *, struct ipc_msg *);
static void	 descriptors_raise(void);
static struct config *parent_load(FILE *);

__attribute__((__noreturn__))
static void
usage(void)
{
	fprintf(stderr, "usage: smtpd [-dnv] [-D name=value] [-f file]\n");
	exit(1);
}

static void
find_self(const char *argv0)
{
	ssize_t	 n;

	n = readlink("/proc/self/exe", popts.self, sizeof(popts.self) - 1);
	if (n > 0 && (size_t)n < sizeof(popts.self) - 1) {
		popts.self[n] = '\0';
		return;
	}
	if (strchr(argv0, '/') == NULL ||
	    realpath(argv0, popts.self) == NULL)
		errx(1, "cannot find my own binary to start the workers: "
		    "run smtpd by its path");
}

/*
 * The configuration: the named file, else the installed one, else the
 * built-in default.  Errors go to err (stderr at start; a capture file
 * during a reload).
 */
static struct config *
parent_load(FILE *err)
{
	struct config	*conf;
	struct stat	 st;
	int		 saved = -1;

	if (popts.conffile == NULL && !popts.conf_is_default &&
	    stat(PATH_SMTPD_CONF, &st) == 0)
		popts.conffile = PATH_SMTPD_CONF;
	if (popts.conffile == NULL) {
		popts.conf_is_default = 1;
		return config_default();
	}
	if (err != stderr) {
		fflush(stderr);
		if ((saved = dup(STDERR_FILENO)) == -1 ||
		    dup2(fileno(err), STDERR_FILENO) == -1) {
			log_warn("dup");
			if (saved != -1)
				close(saved);
			return NULL;
		}
	}
	conf = config_parse(popts.conffile);
	if (conf != NULL && pki_load_all(conf) == -1) {
		config_free(conf);
		conf = NULL;
	}
	if (saved != -1) {
		fflush(stderr);
		(void)dup2(saved, STDERR_FILENO);
		close(saved);
	}
	return conf;
}

/*
 * Every session costs the front end a descriptor: the soft limit goes
 * up to the hard one (often 1024 and 524288 under systemd), for every
 * worker, which inherits it.
 */
static void
descriptors_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
}

/*
 * Started with stdin, stdout or stderr closed (2>&-), the first file
 * we opened would take its number, and log lines meant for stderr
 * would be written into it: a spool file, a socket.  /dev/null holds
 * the place instead.
 */
static void
descriptors_std(void)
{
	int	 fd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* the lowest free number: fd itself */
		if (open("/dev/null", O_RDWR) != fd) {
			if (fcntl(STDERR_FILENO, F_GETFD) != -1)
				dprintf(STDERR_FILENO, "smtpd: /dev/null: %s\n",
				    strerror(errno));
			_exit(1);
		}
	}
}

int
main(int argc, char *argv[])
{
	struct worker_opts	 wopts;
	const struct proc_info	*pi = NULL;
	const char		*rootdir = NULL;
	int			 ch, checkonly = 0;

	descriptors_std();
	memset(&popts, 0, sizeof(popts));
	log_init(1, LOG_MAIL);
	setproctitle_init(argc, argv, environ);

	while ((ch = getopt(argc, argv, "C:dD:f:nP:v")) != -1) {
		switch (ch) {
		case 'C':
			rootdir = optarg;
			break;
		case 'd':
			popts.foreground = 1;
			break;
		case 'D':
			if (config_symset(optarg, 1) == -1)
				errx(1, "cannot define macro: %s", optarg);
			break;
		case 'f':
			popts.conffile = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'P':
			if ((pi = proc_byname(optarg)) == NULL ||
			    pi->id == PROC_PARENT)
				errx(1, "unknown process %s", optarg);
			break;
		case 'v':
			popts.verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	if (argc != 0)
		usage();

	if (pi != NULL) {
		memset(&wopts, 0, sizeof(wopts));
		wopts.foreground = popts.foreground;
		wopts.verbose = popts.verbose;
		wopts.rootdir = rootdir;
		worker_main(pi, &wopts);
	}

	if ((pconf = parent_load(stderr)) == NULL)
		exit(1);
	if (checkonly) {
		if (popts.verbose)
			config_print(stdout, pconf);
		printf("configuration OK\n");
		exit(0);
	}
	log_setverbose(popts.verbose);
	log_procname("parent");
	imsg_names_register();
	find_self(argv[0]);

	if (geteuid() == 0) {
		for (ch = 1; ch < PROC_COUNT; ch++)
			if (getpwnam(procs[ch].user) == NULL)
				errx(1, "user %s does not exist: run \"make "
				    "install-users\" (see README)",
				    procs[ch].user);
	}
	if (dirs_prepare(pconf) == -1 || pop3_state_open(pconf) == -1 ||
	    listen_open_all(pconf, NULL) == -1 || control_open(pconf) == -1)
		exit(1);

	if (!popts.foreground) {
		log_init(0, LOG_MAIL);
		if (daemon(0, 0) == -1)
			fatal("daemon");
	}
	setproctitle("parent");
	started = time(NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	descriptors_raise();

	event_init();
	signal_set(&ev_sigterm, SIGTERM, parent_signal, NULL);
	signal_set(&ev_sigint, SIGINT, parent_signal, NULL);
	signal_set(&ev_sighup, SIGHUP, parent_signal, NULL);
	signal_set(&ev_sigchld, SIGCHLD, parent_signal, NULL);
	signal_add(&ev_sigterm, NULL);
	signal_add(&ev_sigint, NULL);
	signal_add(&ev_sighup, NULL);
	signal_add(&ev_sigchld, NULL);

	/* Before the first worker, so that all of them inherit it. */
	sandbox_parent();
	supervise_start();
	log_info("started (pid %ld), configuration %s", (long)getpid(),
	    popts.conf_is_default ? "built-in default" : popts.conffile);

	event_dispatch();
	parent_exit();
}

static void
parent_signal(int sig, short event, void *arg)
{
	char	 reason[256];

	(void)event;
	(void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("received %s", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		parent_shutdown();
		break;
	case SIGHUP:
		log_info("received SIGHUP: reloading the configuration");
		(void)parent_reload(reason, sizeof(reason));
		break;
	case SIGCHLD:
		supervise_reap();
		break;
	}
}

void
parent_shutdown(void)
{
	parent_shutdown_status(0);
}

void
parent_shutdown_status(int status)
{
	if (status != 0)
		exit_status = status;
	if (shutting_down)
		return;
	shutting_down = 1;
	log_info("shutting down");
	supervise_stop();
}

void
parent_exit(void)
{
	control_cleanup();
	log_info("exiting");
	exit(exit_status);
}

/*
 * Read the configuration again.  A configuration with errors changes
 * nothing: the old one stays, and reason says why.  Listeners common to
 * both keep their sockets, so no connection is refused meanwhile.
 */
static int
parent_reload(char *reason, size_t len)
{
	struct config	*conf;
	FILE		*err;
	char		 line[1024];
	int		 first = 1;

	if (shutting_down) {
		(void)strlcpy(reason, "shutting down", len);
		return -1;
	}
	if ((err = tmpfile()) == NULL) {
		log_warn("reload: tmpfile");
		(void)strlcpy(reason, "cannot capture errors", len);
		return -1;
	}
	conf = parent_load(err);
	rewind(err);
	(void)strlcpy(reason, "configuration has errors", len);
	while (fgets(line, sizeof(line), err) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		log_warnx("reload: %s", line);
		if (first && conf == NULL)
			(void)strlcpy(reason, line, len);
		first = 0;
	}
	fclose(err);
	if (conf == NULL) {
		log_warnx("reload failed, configuration unchanged: %s",
		    reason);
		return -1;
	}
	if (listen_open_all(conf, pconf) == -1) {
		(void)strlcpy(reason, "cannot listen on a new address "
		    "(see the log)", len);
		log_warnx("reload failed, configuration unchanged: %s",
		    reason);
		config_free(conf);
		return -1;
	}
	if (strcmp(conf->spool, pconf->spool) != 0 ||
	    strcmp(conf->control_socket, pconf->control_socket) != 0) {
		log_warnx("reload: a new spool or control socket takes a "
		    "restart; keeping %s and %s", pconf->spool,
		    pconf->control_socket);
		(void)strlcpy(conf->spool, pconf->spool, sizeof(conf->spool));
		(void)strlcpy(conf->control_socket, pconf->control_socket,
		    sizeof(conf->control_socket));
	}
	listen_close_all(pconf);
	config_free(pconf);
	pconf = conf;
	pconf_generation++;
	for (first = 1; first < PROC_COUNT; first++)
		supervise_send_config(&workers[first]);
	log_info("configuration reloaded");
	return 0;
}

void
parent_imsg(struct worker *w, struct ipc_msg *m)
{
	uint64_t	 gen;

	switch (m->hdr.type) {
	case IMSG_PARENT_READY:
		gen = ipc_get_u64(m);
		ipc_end(m);
		if (w->state == WORKER_STARTING)
			log_debug("%s ready", w->info->name);
		if (gen == pconf_generation)
			w->state = WORKER_RUNNING;
		return;
	}
	if (w->info->id == PROC_CONTROL) {
		parent_control(w, m);
		return;
	}
	fatalx("%s from %s: not for the parent", ipc_type_name(m->hdr.type),
	    w->info->name);
}

static void
parent_status_entry(struct worker *w, uint32_t peerid, const char *name,
    pid_t pid, time_t since, unsigned restarts, const char *state)
{
	struct ipc_obuf	*ob;

	ob = ipc_create(&w->ipc, IMSG_CTL_STATUS, peerid, -1);
	ipc_add_string(ob, name);
	ipc_add_u32(ob, (uint32_t)pid);
	ipc_add_i64(ob, since);
	ipc_add_u32(ob, restarts);
	ipc_add_string(ob, state);
	if (ipc_close(ob) == -1)
		fatal("IMSG_CTL_STATUS");
}

static void
parent_reply(struct worker *w, uint32_t peerid, const char *fail)
{
	if (fail == NULL)
		(void)ipc_compose(&w->ipc, IMSG_CTL_OK, peerid, -1, NULL, 0);
	else {
		struct ipc_obuf *ob;

		ob = ipc_create(&w->ipc, IMSG_CTL_FAIL, peerid, -1);
		ipc_add_string(ob, fail);
		if (ipc_close(ob) == -1)
			fatal("IMSG_CTL_FAIL");
	}
	ipc_event_update(&w->ipc);
}

/* Requests from smtpctl, relayed by the control process. */
static void
parent_control(struct worker *w, struct ipc_msg *m)
{
	struct worker	*x;
	char		 reason[256];
	uint32_t	 peerid = m->hdr.peerid, v;
	int		 i;

	switch (m->hdr.type) {
	case IMSG_CTL_STATUS_REQ:
		ipc_end(m);
		parent_status_entry(w, peerid, "parent", getpid(), started,
		    0, shutting_down ? "stopping" : "running");
		for (i = 1; i < PROC_COUNT; i++) {
			x = &workers[i];
			parent_status_entry(w, peerid, x->info->name, x->pid,
			    x->started, x->restarts,
			    worker_state_name(x->state));
		}
		parent_reply(w, peerid, NULL);
		return;
	case IMSG_CTL_RELOAD_REQ:
		ipc_end(m);
		log_info("reload requested by smtpctl");
		if (parent_reload(reason, sizeof(reason)) == -1)
			parent_reply(w, peerid, reason);
		else
			parent_reply(w, peerid, NULL);
		return;
	case IMSG_CTL_VERBOSE_REQ:
		v = ipc_get_u32(m);
		ipc_end(m);
		if (v > 3)
			v = 3;
		log_setverbose(v);
		supervise_broadcast_verbose(v);
		log_info("log level %s", v ? "verbose" : "brief");
		parent_reply(w, peerid, NULL);
		return;
	case IMSG_CTL_STOP_REQ:
		ipc_end(m);
		log_info("stop requested by smtpctl");
		parent_reply(w, peerid, NULL);
		(void)ipc_flush(&w->ipc);
		parent_shutdown();
		return;
	}
	fatalx("%s from control: not for the parent",
	    ipc_type_name(m->hdr.type));
}
