/*
 * Portcullis: smtpctl, the client of the control socket.
 *
 * Commands are a table of word sequences and handlers.  Each command
 * connects, says hello with the protocol version, sends one request and
 * reads its answer (data frames, then OK or FAIL) with lib/ipc used
 * blocking-style under a deadline.  smtpctl links lib/ and the control
 * protocol's names only, never daemon code.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "control_imsg.h"

#define CTL_TIMEOUT	10		/* seconds for one request, or
					   between two frames of a stream */
#define CTL_MAXWORDS	4
#define CTL_MAXSTATS	256		/* counters in show stats */

struct ctl_conn {
	struct ipc	 ipc;
	const char	*path;
	struct timespec	 deadline;
	int		 json;
};

/* What a request's answer turned out to be. */
enum ctl_result {
	CTL_DONE,		/* IMSG_CTL_OK */
	CTL_FAILED,		/* IMSG_CTL_FAIL, reason kept */
	CTL_CLOSED		/* the daemon closed the connection */
};

/* Called for each data frame of an answer. */
typedef void (*ctl_data_cb)(struct ctl_conn *, struct ipc_msg *, void *);

struct ctl_command {
	const char	*words[CTL_MAXWORDS + 1];
	const char	*help;
	int		(*handler)(struct ctl_conn *, int, char **);
	int		 maxargs;
	int		 minargs;
	const char	*argname;	/* for the list of commands */
};

static int	 cmd_show_status(struct ctl_conn *, int, char **);
static int	 cmd_reload(struct ctl_conn *, int, char **);
static int	 cmd_log_verbose(struct ctl_conn *, int, char **);
static int	 cmd_log_brief(struct ctl_conn *, int, char **);
static int	 cmd_stop(struct ctl_conn *, int, char **);
static int	 cmd_show_queue(struct ctl_conn *, int, char **);
static int	 cmd_show_message(struct ctl_conn *, int, char **);
static int	 cmd_show_stats(struct ctl_conn *, int, char **);
static int	 cmd_schedule(struct ctl_conn *, int, char **);
static int	 cmd_remove(struct ctl_conn *, int, char **);
static int	 cmd_pause_smtp(struct ctl_conn *, int, char **);
static int	 cmd_resume_smtp(struct ctl_conn *, int, char **);
static int	 cmd_pause_delivery(struct ctl_conn *, int, char **);
static int	 cmd_resume_delivery(struct ctl_conn *, int, char **);
static int	 cmd_pop3_login(struct ctl_conn *, int, char **);
static int	 cmd_show_pop3_logins(struct ctl_conn *, int, char **);
static int	 cmd_pop3_logins_flush(struct ctl_conn *, int, char **);
static int	 cmd_show_limits(struct ctl_conn *, int, char **);
static int	 cmd_limits_reset(struct ctl_conn *, int, char **);

static const struct ctl_command commands[] = {
	{ { "show", "status" },	"show each process, its pid and uptime",
	    cmd_show_status, 0, 0, NULL },
	{ { "show", "queue" },	"list every envelope in the queue",
	    cmd_show_queue, 0, 0, NULL },
	{ { "show", "message" }, "show a message and its envelopes",
	    cmd_show_message, 1, 1, "ID" },
	{ { "show", "stats" },	"counters of the queue, delivery and smtp",
	    cmd_show_stats, 0, 0, NULL },
	{ { "schedule" },	"try a message, or all, now", cmd_schedule,
	    1, 1, "ID|all" },
	{ { "remove" },		"remove a message, or all, from the queue",
	    cmd_remove, 1, 1, "ID|all" },
	{ { "pause", "smtp" },	"stop accepting connections",
	    cmd_pause_smtp, 0, 0, NULL },
	{ { "resume", "smtp" },	"accept connections again",
	    cmd_resume_smtp, 0, 0, NULL },
	{ { "pause", "delivery" }, "stop sending mail from the queue",
	    cmd_pause_delivery, 0, 0, NULL },
	{ { "resume", "delivery" }, "send mail from the queue again",
	    cmd_resume_delivery, 0, 0, NULL },
	{ { "reload" },		"re-read the configuration", cmd_reload, 0, 0,
	    NULL },
	{ { "log", "verbose" },	"log debug messages too", cmd_log_verbose, 0,
	    0, NULL },
	{ { "log", "brief" },	"stop logging debug messages",
	    cmd_log_brief, 0, 0, NULL },
	{ { "stop" },		"stop the daemon", cmd_stop, 0, 0, NULL },
	{ { "pop3-login" },	"record a POP3 login (POP3 before SMTP)",
	    cmd_pop3_login, 2, 2, "USER ADDRESS" },
	{ { "show", "pop3-logins" }, "list the recent POP3 logins",
	    cmd_show_pop3_logins, 0, 0, NULL },
	{ { "pop3-logins", "flush" }, "forget the POP3 logins (of ADDRESS)",
	    cmd_pop3_logins_flush, 1, 0, "[ADDRESS]" },
	{ { "show", "limits" }, "auth failures and blocked addresses",
	    cmd_show_limits, 1, 0, "[ADDRESS]" },
	{ { "limits", "reset" }, "forget the auth failures of ADDRESS, "
	    "unblock it", cmd_limits_reset, 1, 1, "ADDRESS" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static char	 fail_reason[IPC_MAX_PAYLOAD + 1];

__attribute__((__noreturn__))
static void	 usage(void);
static void	 list_commands(FILE *);
static const struct ctl_command *lookup(int, char **, int *);
static const char *default_socket(void);
static void	 ctl_connect(struct ctl_conn *, const char *);
static void	 ctl_hello(struct ctl_conn *);
static enum ctl_result ctl_request(struct ctl_conn *, uint32_t,
	    const uint32_t *, ctl_data_cb, void *);
static enum ctl_result ctl_answer(struct ctl_conn *, ctl_data_cb, void *);
static struct ipc_obuf *ctl_begin(struct ctl_conn *, uint32_t);
static void	 ctl_flush(struct ctl_conn *, struct ipc_obuf *);
static void	 ctl_send(struct ctl_conn *, uint32_t, const uint32_t *);
static void	 ctl_refused(struct ctl_conn *);
static int	 ctl_next(struct ctl_conn *, struct ipc_msg *);
static int	 ctl_wait(struct ctl_conn *, short);
static const char *fail_string(struct ipc_msg *);
static int	 simple_request(struct ctl_conn *, const char *, uint32_t,
	    const uint32_t *, const char *);
static void	 print_safe(const char *, char *, size_t);
static void	 print_json_string(const char *);
static void	 format_uptime(int64_t, char *, size_t);
static void	 format_duration(int64_t, char *, size_t);

int
main(int argc, char *argv[])
{
	const struct ctl_command	*cmd;
	struct ctl_conn			 conn;
	const char			*path = NULL;
	int				 ch, i, nwords, rv, json = 0;

	log_init(1, LOG_USER);
	log_procname("smtpctl");
	ipc_register_names(IMSG_CTL_BASE, IMSG_CTL_COUNT, control_imsg_names);
	(void)signal(SIGPIPE, SIG_IGN);

	while ((ch = getopt(argc, argv, "js:")) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();

	cmd = lookup(argc, argv, &nwords);
	if (argc - nwords > cmd->maxargs) {
		fprintf(stderr, "smtpctl: too many arguments for \"");
		for (i = 0; i < nwords; i++)
			fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
		fprintf(stderr, "\": %s\n", argv[nwords + cmd->maxargs]);
		exit(1);
	}
	if (argc - nwords < cmd->minargs) {
		fprintf(stderr, "smtpctl: missing argument for \"");
		for (i = 0; i < nwords; i++)
			fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
		fprintf(stderr, "\": %s\n", cmd->argname);
		exit(1);
	}

	if (path == NULL)
		path = default_socket();
	memset(&conn, 0, sizeof(conn));
	conn.json = json;
	ctl_connect(&conn, path);
	ctl_hello(&conn);
	rv = cmd->handler(&conn, argc - nwords, argv + nwords);
	ipc_clear(&conn.ipc);
	return rv;
}

__attribute__((__noreturn__))
static void
usage(void)
{
	fprintf(stderr, "usage: smtpctl [-j] [-s socket] command [args]\n");
	list_commands(stderr);
	exit(1);
}

static void
list_commands(FILE *fp)
{
	size_t	 i;
	int	 j, n;

	fprintf(fp, "commands:\n");
	for (i = 0; i < NCOMMANDS; i++) {
		n = fprintf(fp, "  ");
		for (j = 0; commands[i].words[j] != NULL; j++)
			n += fprintf(fp, "%s%s", j ? " " : "",
			    commands[i].words[j]);
		if (commands[i].argname != NULL)
			n += fprintf(fp, " %s", commands[i].argname);
		fprintf(fp, "%*s%s\n", n < 22 ? 22 - n : 1, "",
		    commands[i].help);
	}
}

/*
 * The command whose words start argv.  Unknown or incomplete commands
 * are reported with the list of commands, and smtpctl exits 1.
 */
static const struct ctl_command *
lookup(int argc, char **argv, int *nwords)
{
	size_t	 i;
	int	 j, prefix = 0;

	for (i = 0; i < NCOMMANDS; i++) {
		for (j = 0; commands[i].words[j] != NULL; j++)
			if (j >= argc || strcmp(commands[i].words[j],
			    argv[j]) != 0)
				break;
		if (commands[i].words[j] == NULL) {
			*nwords = j;
			return &commands[i];
		}
		if (j == argc)
			prefix = 1;	/* argv is the start of a command */
	}

	fprintf(stderr, "smtpctl: %s command: ",
	    prefix ? "incomplete" : "unknown");
	for (j = 0; j < argc; j++)
		fprintf(stderr, "%s%s", j ? " " : "", argv[j]);
	fprintf(stderr, "\n");
	list_commands(stderr);
	exit(1);
}

/*
 * The daemon's default (smtpd/config.c): the system's socket as root,
 * else the one under the user's home directory.
 */
static const char *
default_socket(void)
{
	static char	 buf[1024];	/* the daemon's CONFIG_PATH_MAX */
	struct passwd	*pw;
	const char	*home;
	int		 n;

	if (geteuid() == 0)
		return CTL_SOCKET_ROOT;
	if ((home = getenv("HOME")) == NULL || *home != '/') {
		pw = getpwuid(geteuid());
		home = pw != NULL ? pw->pw_dir : "/tmp";
	}
	n = snprintf(buf, sizeof(buf), "%s/%s", home, CTL_SOCKET_USER);
	if (n < 0 || (size_t)n >= sizeof(buf))
		(void)snprintf(buf, sizeof(buf), "/tmp/%s", CTL_SOCKET_USER);
	return buf;
}

static void
ctl_connect(struct ctl_conn *conn, const char *path)
{
	struct sockaddr_un	 sun;
	int			 s, flags;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: socket path too long", path);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		switch (errno) {
		case ENOENT:
		case ECONNREFUSED:
			errx(1, "cannot connect to %s: %s (is smtpd running?)",
			    path, strerror(errno));
		case EACCES:
			errx(1, "cannot connect to %s: %s (root and the "
			    "control group only)", path, strerror(errno));
		default:
			err(1, "cannot connect to %s", path);
		}
	}
	if ((flags = fcntl(s, F_GETFL)) == -1 ||
	    fcntl(s, F_SETFL, flags | O_NONBLOCK) == -1)
		err(1, "fcntl");
	ipc_init(&conn->ipc, s, "smtpd");
	conn->path = path;
}

static void
ctl_hello(struct ctl_conn *conn)
{
	struct ipc_msg	 m;
	uint32_t	 version = CTL_VERSION;

	ctl_send(conn, IMSG_CTL_HELLO, &version);
	if (!ctl_next(conn, &m))
		errx(1, "%s: smtpd closed the connection", conn->path);
	switch (m.hdr.type) {
	case IMSG_CTL_OK:
		if (ipc_try_end(&m) == -1)
			errx(1, "malformed IMSG_CTL_OK from smtpd");
		return;
	case IMSG_CTL_FAIL:
		errx(1, "smtpd refused the connection: %s", fail_string(&m));
	default:
		errx(1, "unexpected %s from smtpd",
		    ipc_type_name(m.hdr.type));
	}
}

/*
 * Send a request and read its answer: data frames go to cb, the final
 * OK or FAIL is the result (the reason of a FAIL in fail_reason).
 */
static enum ctl_result
ctl_request(struct ctl_conn *conn, uint32_t type, const uint32_t *arg,
    ctl_data_cb cb, void *cbarg)
{
	ctl_send(conn, type, arg);
	return ctl_answer(conn, cb, cbarg);
}

/* The answer to the request just sent; a stream may take long, as long
 * as each frame comes within CTL_TIMEOUT of the previous one. */
static enum ctl_result
ctl_answer(struct ctl_conn *conn, ctl_data_cb cb, void *cbarg)
{
	struct ipc_msg	 m;

	for (;;) {
		if (!ctl_next(conn, &m))
			return CTL_CLOSED;
		clock_gettime(CLOCK_MONOTONIC, &conn->deadline);
		conn->deadline.tv_sec += CTL_TIMEOUT;
		switch (m.hdr.type) {
		case IMSG_CTL_OK:
			if (ipc_try_end(&m) == -1)
				errx(1, "malformed IMSG_CTL_OK from smtpd");
			return CTL_DONE;
		case IMSG_CTL_FAIL:
			(void)strlcpy(fail_reason, fail_string(&m),
			    sizeof(fail_reason));
			return CTL_FAILED;
		default:
			if (cb == NULL)
				errx(1, "unexpected %s from smtpd",
				    ipc_type_name(m.hdr.type));
			cb(conn, &m, cbarg);
		}
	}
}

/* Queue one frame (an optional u32 argument) and write it out. */
static void
ctl_send(struct ctl_conn *conn, uint32_t type, const uint32_t *arg)
{
	struct ipc_obuf	*ob;

	ob = ctl_begin(conn, type);
	if (arg != NULL)
		ipc_add_u32(ob, *arg);
	ctl_flush(conn, ob);
}

/* A request frame to fill, then ctl_flush(). */
static struct ipc_obuf *
ctl_begin(struct ctl_conn *conn, uint32_t type)
{
	struct ipc_obuf	*ob;

	clock_gettime(CLOCK_MONOTONIC, &conn->deadline);
	conn->deadline.tv_sec += CTL_TIMEOUT;
	if ((ob = ipc_create(&conn->ipc, type, 0, -1)) == NULL)
		err(1, "ipc_create");
	return ob;
}

static void
ctl_flush(struct ctl_conn *conn, struct ipc_obuf *ob)
{
	int	 r;

	if (ipc_close(ob) == -1)
		err(1, "ipc_close");
	while ((r = ipc_write(&conn->ipc)) != 1) {
		if (r == -1 && errno != EAGAIN && errno != EINTR) {
			ctl_refused(conn);
			err(1, "%s: lost the connection to smtpd",
			    conn->path);
		}
		if (!ctl_wait(conn, POLLOUT))
			errx(1, "%s: smtpd does not take requests",
			    conn->path);
	}
}

/*
 * The daemon closed the connection while we were writing: it may have
 * said why first (too many connections).
 */
static void
ctl_refused(struct ctl_conn *conn)
{
	struct ipc_msg	 m;
	int		 saved = errno;

	if (ipc_read(&conn->ipc) > 0 && ipc_get(&conn->ipc, &m) == 1 &&
	    m.hdr.type == IMSG_CTL_FAIL)
		errx(1, "smtpd refused the connection: %s", fail_string(&m));
	errno = saved;
}

/* The next frame from the daemon: 1, or 0 when it closed the socket. */
static int
ctl_next(struct ctl_conn *conn, struct ipc_msg *m)
{
	ssize_t	 n;
	int	 r;

	for (;;) {
		memset(m, 0, sizeof(*m));
		m->fd = -1;
		if ((r = ipc_get(&conn->ipc, m)) == -1)
			errx(1, "%s: malformed answer from smtpd", conn->path);
		if (r == 1) {
			if (m->fd != -1) {
				close(m->fd);
				errx(1, "%s: unexpected descriptor from smtpd",
				    conn->path);
			}
			return 1;
		}
		if (!ctl_wait(conn, POLLIN))
			errx(1, "%s: no answer from smtpd within %d seconds",
			    conn->path, CTL_TIMEOUT);
		if ((n = ipc_read(&conn->ipc)) == 0)
			return 0;
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				return 0;
			if (errno == EBADMSG)
				errx(1, "%s: malformed answer from smtpd",
				    conn->path);
			err(1, "%s: read", conn->path);
		}
	}
}

/* Wait until the socket is ready: 1, or 0 past the deadline. */
static int
ctl_wait(struct ctl_conn *conn, short events)
{
	struct pollfd	 pfd;
	struct timespec	 now;
	long long	 ms;
	int		 r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(conn->deadline.tv_sec - now.tv_sec) * 1000 +
		    (conn->deadline.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return 0;
		pfd.fd = conn->ipc.fd;
		pfd.events = events;
		pfd.revents = 0;
		if ((r = poll(&pfd, 1, (int)ms)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (r == 1)
			return 1;
	}
}

static const char *
fail_string(struct ipc_msg *m)
{
	const char	*s;

	if (ipc_try_string(m, &s) == -1 || ipc_try_end(m) == -1)
		errx(1, "malformed IMSG_CTL_FAIL from smtpd");
	return s != NULL ? s : "unknown reason";
}

/* ---- commands ---------------------------------------------------------- */

struct status_row {
	char		 name[32];
	char		 state[32];
	uint32_t	 pid;
	int64_t		 started;
	uint32_t	 restarts;
};

struct status_list {
	struct status_row	*rows;
	size_t			 n;
};

static void
status_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct status_list	*list = arg;
	struct status_row	*row;
	const char		*name, *state;

	(void)conn;
	if (m->hdr.type != IMSG_CTL_STATUS)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	if (list->n >= 1024)
		errx(1, "too many processes in the answer from smtpd");
	if ((row = reallocarray(list->rows, list->n + 1,
	    sizeof(*row))) == NULL)
		err(1, NULL);
	list->rows = row;
	row = &list->rows[list->n];
	memset(row, 0, sizeof(*row));

	if (ipc_try_string(m, &name) == -1 ||
	    ipc_try_u32(m, &row->pid) == -1)
		errx(1, "malformed IMSG_CTL_STATUS from smtpd");
	row->started = ipc_get_i64(m);
	if (ipc_try_u32(m, &row->restarts) == -1 ||
	    ipc_try_string(m, &state) == -1 || ipc_try_end(m) == -1)
		errx(1, "malformed IMSG_CTL_STATUS from smtpd");
	print_safe(name != NULL ? name : "?", row->name, sizeof(row->name));
	print_safe(state != NULL ? state : "?", row->state,
	    sizeof(row->state));
	list->n++;
}

static int
cmd_show_status(struct ctl_conn *conn, int argc, char **argv)
{
	struct status_list	 list = { NULL, 0 };
	struct status_row	*row;
	char			 up[32], pid[16];
	int64_t			 now, uptime;
	size_t			 i;

	(void)argc;
	(void)argv;
	switch (ctl_request(conn, IMSG_CTL_STATUS_REQ, NULL, status_frame,
	    &list)) {
	case CTL_DONE:
		break;
	case CTL_FAILED:
		errx(1, "show status: %s", fail_reason);
	case CTL_CLOSED:
		errx(1, "show status: smtpd closed the connection");
	}

	now = time(NULL);
	if (conn->json)
		printf("{\"processes\": [");
	else
		printf("%-10s %7s %8s %8s  %s\n", "PROCESS", "PID", "UPTIME",
		    "RESTARTS", "STATE");
	for (i = 0; i < list.n; i++) {
		row = &list.rows[i];
		uptime = row->started > 0 && now > row->started ?
		    now - row->started : 0;
		if (conn->json) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			print_json_string(row->name);
			printf(", \"pid\": %lu, \"started\": %lld, "
			    "\"uptime\": %lld, \"restarts\": %lu, "
			    "\"state\": ", (unsigned long)row->pid,
			    (long long)row->started, (long long)uptime,
			    (unsigned long)row->restarts);
			print_json_string(row->state);
			printf("}");
			continue;
		}
		if (row->started > 0)
			format_uptime(uptime, up, sizeof(up));
		else
			(void)strlcpy(up, "-", sizeof(up));
		if (row->pid != 0)
			(void)snprintf(pid, sizeof(pid), "%lu",
			    (unsigned long)row->pid);
		else
			(void)strlcpy(pid, "-", sizeof(pid));
		printf("%-10s %7s %8s %8lu  %s\n", row->name, pid, up,
		    (unsigned long)row->restarts, row->state);
	}
	if (conn->json)
		printf("%s]}\n", list.n ? "\n" : "");
	free(list.rows);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return 0;
}

static int
cmd_reload(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple_request(conn, "reload", IMSG_CTL_RELOAD_REQ, NULL,
	    "reload requested");
}

static int
cmd_log_verbose(struct ctl_conn *conn, int argc, char **argv)
{
	uint32_t	 level = 1;

	(void)argc;
	(void)argv;
	return simple_request(conn, "log verbose", IMSG_CTL_VERBOSE_REQ,
	    &level, "log level set to verbose");
}

static int
cmd_log_brief(struct ctl_conn *conn, int argc, char **argv)
{
	uint32_t	 level = 0;

	(void)argc;
	(void)argv;
	return simple_request(conn, "log brief", IMSG_CTL_VERBOSE_REQ,
	    &level, "log level set to brief");
}

static int
cmd_stop(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple_request(conn, "stop", IMSG_CTL_STOP_REQ, NULL,
	    "stop requested");
}

/*
 * A request answered by OK or FAIL alone.  A stop may close the
 * connection before its answer arrives: the daemon is going away, which
 * is what was asked.
 */
static int
simple_request(struct ctl_conn *conn, const char *what, uint32_t type,
    const uint32_t *arg, const char *done)
{
	enum ctl_result	 r;
	char		 reason[512];

	r = ctl_request(conn, type, arg, NULL, NULL);
	if (r == CTL_CLOSED && type == IMSG_CTL_STOP_REQ)
		r = CTL_DONE;
	if (r == CTL_CLOSED)
		(void)strlcpy(fail_reason, "smtpd closed the connection",
		    sizeof(fail_reason));
	if (conn->json) {
		if (r == CTL_DONE)
			printf("{\"ok\": true}\n");
		else {
			printf("{\"ok\": false, \"error\": ");
			print_json_string(fail_reason);
			printf("}\n");
		}
	} else if (r == CTL_DONE)
		printf("%s\n", done);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	if (r != CTL_DONE) {
		print_safe(fail_reason, reason, sizeof(reason));
		fprintf(stderr, "smtpctl: %s failed: %s\n", what, reason);
		return 1;
	}
	return 0;
}

/* ---- the queue ----------------------------------------------------------- */

/* One envelope entry of IMSG_CTL_ENVELOPES, strings made safe to print. */
struct evp_row {
	uint64_t	 msgid;
	uint32_t	 idx;
	char		 state[16];
	char		 dest[16];
	char		 sender[600];
	char		 rcpt[600];
	uint64_t	 size;
	int64_t		 ctime;
	int64_t		 lasttry;
	int64_t		 nexttry;
	uint32_t	 attempts;
	char		 error[1024];
};

struct evp_list {
	size_t		 n;		/* printed so far */
	int		 header;	/* show message: its frame came */
	int		 opened;	/* JSON: the envelopes' [ is out */
};

static int
get_row(struct ipc_msg *m, struct evp_row *r)
{
	const char	*state, *dest, *from, *to, *error;

	memset(r, 0, sizeof(*r));
	if (ipc_try_u64(m, &r->msgid) == -1 ||
	    ipc_try_u32(m, &r->idx) == -1 ||
	    ipc_try_string(m, &state) == -1 ||
	    ipc_try_string(m, &dest) == -1 ||
	    ipc_try_string(m, &from) == -1 ||
	    ipc_try_string(m, &to) == -1 ||
	    ipc_try_u64(m, &r->size) == -1 ||
	    ipc_try_i64(m, &r->ctime) == -1 ||
	    ipc_try_i64(m, &r->lasttry) == -1 ||
	    ipc_try_i64(m, &r->nexttry) == -1 ||
	    ipc_try_u32(m, &r->attempts) == -1 ||
	    ipc_try_string(m, &error) == -1 ||
	    state == NULL || dest == NULL || from == NULL || to == NULL ||
	    error == NULL)
		return -1;
	print_safe(state, r->state, sizeof(r->state));
	print_safe(dest, r->dest, sizeof(r->dest));
	print_safe(from, r->sender, sizeof(r->sender));
	print_safe(to, r->rcpt, sizeof(r->rcpt));
	print_safe(error, r->error, sizeof(r->error));
	return 0;
}

/* "now", "in 5m07s" or "-" (in flight, held). */
static void
format_next(const struct evp_row *r, int64_t now, char *buf, size_t size)
{
	char	 t[32];

	if (strcmp(r->state, "scheduled") != 0)
		(void)strlcpy(buf, "-", size);
	else if (r->nexttry <= now)
		(void)strlcpy(buf, "now", size);
	else {
		format_uptime(r->nexttry - now, t, sizeof(t));
		(void)snprintf(buf, size, "in %s", t);
	}
}

static void
print_row(struct ctl_conn *conn, const struct evp_row *r, size_t n)
{
	char		 age[32], next[48];
	int64_t		 now = time(NULL);

	if (conn->json) {
		printf("%s\n  {\"msgid\": \"%016llx\", \"idx\": %lu, "
		    "\"state\": ", n ? "," : "", (unsigned long long)r->msgid,
		    (unsigned long)r->idx);
		print_json_string(r->state);
		printf(", \"dest\": ");
		print_json_string(r->dest);
		printf(", \"sender\": ");
		print_json_string(r->sender);
		printf(", \"recipient\": ");
		print_json_string(r->rcpt);
		printf(", \"size\": %llu, \"ctime\": %lld, \"age\": %lld, "
		    "\"attempts\": %lu, \"lasttry\": %lld, \"nexttry\": %lld, "
		    "\"error\": ", (unsigned long long)r->size,
		    (long long)r->ctime, (long long)(now > r->ctime ?
		    now - r->ctime : 0), (unsigned long)r->attempts,
		    (long long)r->lasttry, (long long)r->nexttry);
		print_json_string(r->error);
		printf("}");
		return;
	}
	if (n == 0)
		printf("%-16s %-9s %7s %5s %-10s %s\n", "MSGID", "STATE",
		    "AGE", "TRIES", "NEXT", "SENDER -> RECIPIENT  \"ERROR\"");
	format_uptime(now > r->ctime ? now - r->ctime : 0, age, sizeof(age));
	format_next(r, now, next, sizeof(next));
	printf("%016llx %-9s %7s %5lu %-10s <%s> -> <%s>",
	    (unsigned long long)r->msgid, r->state, age,
	    (unsigned long)r->attempts, next, r->sender, r->rcpt);
	if (r->error[0] != '\0')
		printf("  \"%s\"", r->error);
	printf("\n");
}

/* Envelopes are printed as their frames come: a queue of any size. */
static void
envelopes_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct evp_list	*list = arg;
	struct evp_row	 r;

	if (m->hdr.type != IMSG_CTL_ENVELOPES)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	if (m->len == 0)
		errx(1, "malformed IMSG_CTL_ENVELOPES from smtpd");
	while (m->off < m->len) {
		if (get_row(m, &r) == -1)
			errx(1, "malformed IMSG_CTL_ENVELOPES from smtpd");
		if (conn->json && !list->opened) {
			printf("%s\"envelopes\": [", list->header ? ", " :
			    "{");
			list->opened = 1;
		}
		print_row(conn, &r, list->n);
		list->n++;
	}
	if (ipc_try_end(m) == -1)
		errx(1, "malformed IMSG_CTL_ENVELOPES from smtpd");
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
}

/* The end of a listing: close the JSON, say why it failed. */
static int
envelopes_end(struct ctl_conn *conn, const char *what, enum ctl_result res,
    struct evp_list *list)
{
	char	 reason[512];

	/* JSON: what was begun is closed, so that it still parses */
	if (conn->json && !list->opened && (list->header || res == CTL_DONE)) {
		printf("%s\"envelopes\": [", list->header ? ", " : "{");
		list->opened = 1;
	}
	if (conn->json && list->opened)
		printf("%s]}\n", list->n ? "\n" : "");
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	switch (res) {
	case CTL_DONE:
		return 0;
	case CTL_FAILED:
		print_safe(fail_reason, reason, sizeof(reason));
		fprintf(stderr, "smtpctl: %s failed: %s\n", what, reason);
		return 1;
	case CTL_CLOSED:
		fprintf(stderr, "smtpctl: %s failed: smtpd closed the "
		    "connection\n", what);
		return 1;
	}
	return 1;
}

static int
cmd_show_queue(struct ctl_conn *conn, int argc, char **argv)
{
	struct evp_list	 list = { 0, 0, 0 };
	enum ctl_result	 res;

	(void)argc;
	(void)argv;
	res = ctl_request(conn, IMSG_CTL_QUEUE_SHOW_REQ, NULL,
	    envelopes_frame, &list);
	return envelopes_end(conn, "show queue", res, &list);
}

/* The message's own frame first, then its envelopes. */
static void
message_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct evp_list	*list = arg;
	const char	*sender, *line;
	char		 buf[1024], age[32];
	uint64_t	 msgid, size;
	int64_t		 ctime, now = time(NULL);
	uint32_t	 nevp;
	int		 n = 0;

	if (m->hdr.type != IMSG_CTL_MESSAGE || list->header) {
		envelopes_frame(conn, m, arg);
		return;
	}
	if (ipc_try_u64(m, &msgid) == -1 || ipc_try_u64(m, &size) == -1 ||
	    ipc_try_i64(m, &ctime) == -1 || ipc_try_u32(m, &nevp) == -1 ||
	    ipc_try_string(m, &sender) == -1 || sender == NULL)
		errx(1, "malformed IMSG_CTL_MESSAGE from smtpd");
	list->header = 1;
	print_safe(sender, buf, sizeof(buf));
	format_uptime(now > ctime ? now - ctime : 0, age, sizeof(age));
	if (conn->json) {
		printf("{\"msgid\": \"%016llx\", \"size\": %llu, "
		    "\"ctime\": %lld, \"age\": %lld, \"envelope_count\": %lu, "
		    "\"sender\": ", (unsigned long long)msgid,
		    (unsigned long long)size, (long long)ctime,
		    (long long)(now > ctime ? now - ctime : 0),
		    (unsigned long)nevp);
		print_json_string(buf);
		printf(", \"headers\": [");
	} else {
		printf("message:   %016llx\n", (unsigned long long)msgid);
		printf("size:      %llu bytes\n", (unsigned long long)size);
		printf("age:       %s\n", age);
		printf("sender:    <%s>\n", buf);
		printf("envelopes: %lu\n", (unsigned long)nevp);
	}
	while (m->off < m->len) {
		if (ipc_try_string(m, &line) == -1 || line == NULL)
			errx(1, "malformed IMSG_CTL_MESSAGE from smtpd");
		print_safe(line, buf, sizeof(buf));
		if (conn->json) {
			printf("%s", n ? ", " : "");
			print_json_string(buf);
		} else
			printf("%s%s\n", n ? "           " : "headers:   ",
			    buf);
		n++;
	}
	if (ipc_try_end(m) == -1)
		errx(1, "malformed IMSG_CTL_MESSAGE from smtpd");
	if (conn->json)
		printf("]");
	else
		printf("\n");
}

/* A message id as the logs print it: 16 hex digits. */
static uint64_t
parse_msgid(const char *s)
{
	unsigned long long	 v;
	char			*end;
	size_t			 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			break;
	if (i != 16 || s[i] != '\0')
		errx(1, "invalid message id \"%.32s\": 16 hex digits "
		    "expected", s);
	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno != 0 || *end != '\0' || v == 0)
		errx(1, "invalid message id \"%.32s\"", s);
	return (uint64_t)v;
}

static int
cmd_show_message(struct ctl_conn *conn, int argc, char **argv)
{
	struct evp_list	 list = { 0, 0, 0 };
	struct ipc_obuf	*ob;
	enum ctl_result	 res;
	uint64_t	 msgid;

	(void)argc;
	msgid = parse_msgid(argv[0]);
	ob = ctl_begin(conn, IMSG_CTL_MESSAGE_REQ);
	ipc_add_u64(ob, msgid);
	ctl_flush(conn, ob);
	res = ctl_answer(conn, message_frame, &list);
	return envelopes_end(conn, "show message", res, &list);
}

struct queue_result {
	int		 got;
	uint32_t	 messages, envelopes, skipped;
};

static void
result_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct queue_result	*qr = arg;

	(void)conn;
	if (m->hdr.type != IMSG_CTL_QUEUE_RESULT || qr->got ||
	    ipc_try_u32(m, &qr->messages) == -1 ||
	    ipc_try_u32(m, &qr->envelopes) == -1 ||
	    ipc_try_u32(m, &qr->skipped) == -1 || ipc_try_end(m) == -1)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	qr->got = 1;
}

/* schedule and remove: ID or "all". */
static int
target_request(struct ctl_conn *conn, const char *what, uint32_t type,
    const char *arg)
{
	struct queue_result	 qr;
	struct ipc_obuf		*ob;
	enum ctl_result		 res;
	char			 reason[512];
	uint32_t		 all = strcmp(arg, "all") == 0;
	uint64_t		 msgid = all ? 0 : parse_msgid(arg);

	memset(&qr, 0, sizeof(qr));
	ob = ctl_begin(conn, type);
	ipc_add_u32(ob, all);
	ipc_add_u64(ob, msgid);
	ctl_flush(conn, ob);
	res = ctl_answer(conn, result_frame, &qr);
	if (res == CTL_DONE && !qr.got)
		errx(1, "%s: smtpd answered without a result", what);
	if (res == CTL_CLOSED)
		(void)strlcpy(fail_reason, "smtpd closed the connection",
		    sizeof(fail_reason));
	if (conn->json) {
		if (res == CTL_DONE)
			printf("{\"ok\": true, \"messages\": %lu, "
			    "\"envelopes\": %lu, \"skipped\": %lu}\n",
			    (unsigned long)qr.messages,
			    (unsigned long)qr.envelopes,
			    (unsigned long)qr.skipped);
		else {
			printf("{\"ok\": false, \"error\": ");
			print_json_string(fail_reason);
			printf("}\n");
		}
	} else if (res == CTL_DONE && type == IMSG_CTL_SCHEDULE_REQ) {
		printf("%lu envelope%s of %lu message%s scheduled",
		    (unsigned long)qr.envelopes, qr.envelopes == 1 ? "" : "s",
		    (unsigned long)qr.messages, qr.messages == 1 ? "" : "s");
		if (qr.skipped > 0)
			printf("; %lu in flight or held, not scheduled",
			    (unsigned long)qr.skipped);
		printf("\n");
	} else if (res == CTL_DONE) {
		printf("%lu message%s removed (%lu envelope%s)",
		    (unsigned long)qr.messages, qr.messages == 1 ? "" : "s",
		    (unsigned long)qr.envelopes, qr.envelopes == 1 ? "" : "s");
		if (qr.skipped > 0)
			printf("; %lu being delivered, not removed",
			    (unsigned long)qr.skipped);
		printf("\n");
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	if (res != CTL_DONE) {
		print_safe(fail_reason, reason, sizeof(reason));
		fprintf(stderr, "smtpctl: %s failed: %s\n", what, reason);
		return 1;
	}
	return 0;
}

static int
cmd_schedule(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	return target_request(conn, "schedule", IMSG_CTL_SCHEDULE_REQ,
	    argv[0]);
}

static int
cmd_remove(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	return target_request(conn, "remove", IMSG_CTL_REMOVE_REQ, argv[0]);
}

static int
cmd_pause_smtp(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple_request(conn, "pause smtp", IMSG_CTL_SMTP_PAUSE_REQ,
	    NULL, "smtp paused: no new connections are accepted");
}

static int
cmd_resume_smtp(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple_request(conn, "resume smtp", IMSG_CTL_SMTP_RESUME_REQ,
	    NULL, "smtp resumed");
}

static int
cmd_pause_delivery(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple_request(conn, "pause delivery",
	    IMSG_CTL_DELIVERY_PAUSE_REQ, NULL,
	    "delivery paused: nothing leaves the queue");
}

static int
cmd_resume_delivery(struct ctl_conn *conn, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple_request(conn, "resume delivery",
	    IMSG_CTL_DELIVERY_RESUME_REQ, NULL, "delivery resumed");
}

/* ---- show stats ---------------------------------------------------------- */

struct stat_row {
	char		 key[64];
	int64_t		 value;
};

struct stat_list {
	struct stat_row	 rows[CTL_MAXSTATS];
	size_t		 n;
};

static void
stat_add(struct stat_list *list, const char *key, int64_t value)
{
	if (list->n >= CTL_MAXSTATS)
		errx(1, "too many counters in the answer from smtpd");
	(void)strlcpy(list->rows[list->n].key, key,
	    sizeof(list->rows[list->n].key));
	list->rows[list->n++].value = value;
}

static void
stats_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct stat_list	*list = arg;
	const char		*key, *p;
	int64_t			 value;

	(void)conn;
	if (m->hdr.type != IMSG_CTL_STATS)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	while (m->off < m->len) {
		if (ipc_try_string(m, &key) == -1 || key == NULL ||
		    ipc_try_i64(m, &value) == -1)
			errx(1, "malformed IMSG_CTL_STATS from smtpd");
		/* keys are words: nothing to escape, nothing to hide */
		if (*key == '\0' || strlen(key) >= sizeof(list->rows[0].key))
			errx(1, "malformed IMSG_CTL_STATS from smtpd");
		for (p = key; *p != '\0'; p++)
			if (!islower((unsigned char)*p) &&
			    !isdigit((unsigned char)*p) && *p != '.' &&
			    *p != '_')
				errx(1, "malformed IMSG_CTL_STATS from smtpd");
		stat_add(list, key, value);
	}
	if (ipc_try_end(m) == -1)
		errx(1, "malformed IMSG_CTL_STATS from smtpd");
}

/*
 * Three requests on one connection: the parent's status (the daemon's
 * uptime), then the front end's and the queue's counters.  What a
 * process that is down cannot say is missing, and smtpctl exits 1.
 */
static int
cmd_show_stats(struct ctl_conn *conn, int argc, char **argv)
{
	static struct stat_list	 list;
	struct status_list	 status = { NULL, 0 };
	const uint32_t		 types[] = { IMSG_CTL_SMTP_STATS_REQ,
				    IMSG_CTL_QUEUE_STATS_REQ };
	char			 reason[512];
	int64_t			 now = time(NULL);
	size_t			 i;
	int			 rv = 0;

	(void)argc;
	(void)argv;
	list.n = 0;
	switch (ctl_request(conn, IMSG_CTL_STATUS_REQ, NULL, status_frame,
	    &status)) {
	case CTL_DONE:
		break;
	case CTL_FAILED:
		errx(1, "show stats: %s", fail_reason);
	case CTL_CLOSED:
		errx(1, "show stats: smtpd closed the connection");
	}
	for (i = 0; i < status.n; i++)
		if (strcmp(status.rows[i].name, "parent") == 0 &&
		    status.rows[i].started > 0) {
			stat_add(&list, "daemon.started",
			    status.rows[i].started);
			stat_add(&list, "daemon.uptime",
			    now > status.rows[i].started ?
			    now - status.rows[i].started : 0);
		}
	free(status.rows);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		switch (ctl_request(conn, types[i], NULL, stats_frame,
		    &list)) {
		case CTL_DONE:
			continue;
		case CTL_FAILED:
			print_safe(fail_reason, reason, sizeof(reason));
			fprintf(stderr, "smtpctl: show stats: %s\n", reason);
			rv = 1;
			continue;
		case CTL_CLOSED:
			errx(1, "show stats: smtpd closed the connection");
		}
	}

	if (conn->json)
		printf("{");
	for (i = 0; i < list.n; i++) {
		if (conn->json)
			printf("%s\n  \"%s\": %lld", i ? "," : "",
			    list.rows[i].key, (long long)list.rows[i].value);
		else
			printf("%s=%lld\n", list.rows[i].key,
			    (long long)list.rows[i].value);
	}
	if (conn->json)
		printf("%s}\n", list.n ? "\n" : "");
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return rv;
}

/* ---- POP3 logins ------------------------------------------------------- */

#define POP3_USER_MAX	255	/* relayd-auth/tracker.h TRACKER_USER_MAX */
#define POP3_ADDR_MAX	46	/* INET6_ADDRSTRLEN */

/* The checks auth makes again, here for a clear message at once. */
static void
pop3_check_address(const char *s)
{
	unsigned char	 buf[sizeof(struct in6_addr)];
	char		 safe[64];

	if (strlen(s) < POP3_ADDR_MAX && (inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1))
		return;
	print_safe(s, safe, sizeof(safe));
	errx(1, "invalid address \"%s\": not an IPv4 or IPv6 address", safe);
}

static void
pop3_check_user(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= POP3_USER_MAX || (unsigned char)s[i] <= 0x20 ||
		    (unsigned char)s[i] == 0x7f)
			break;
	if (i == 0 || s[i] != '\0')
		errx(1, "invalid user: 1 to %d characters without spaces or "
		    "control characters", POP3_USER_MAX);
}

/* What a request about POP3 logins came to: say so, or why not. */
static int
pop3_result(struct ctl_conn *conn, const char *what, enum ctl_result res,
    const char *done, long removed)
{
	char	 reason[512];

	if (res == CTL_CLOSED)
		(void)strlcpy(fail_reason, "smtpd closed the connection",
		    sizeof(fail_reason));
	if (conn->json) {
		if (res != CTL_DONE) {
			printf("{\"ok\": false, \"error\": ");
			print_json_string(fail_reason);
			printf("}\n");
		} else if (removed >= 0)
			printf("{\"ok\": true, \"removed\": %ld}\n", removed);
		else
			printf("{\"ok\": true}\n");
	} else if (res == CTL_DONE)
		printf("%s\n", done);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	if (res != CTL_DONE) {
		print_safe(fail_reason, reason, sizeof(reason));
		fprintf(stderr, "smtpctl: %s failed: %s\n", what, reason);
		return 1;
	}
	return 0;
}

static int
cmd_pop3_login(struct ctl_conn *conn, int argc, char **argv)
{
	struct ipc_obuf	*ob;
	char		 done[512], user[POP3_USER_MAX + 1];

	(void)argc;
	pop3_check_user(argv[0]);
	pop3_check_address(argv[1]);
	ob = ctl_begin(conn, IMSG_CTL_POP3_LOGIN_REQ);
	ipc_add_string(ob, argv[0]);
	ipc_add_string(ob, argv[1]);
	ctl_flush(conn, ob);
	print_safe(argv[0], user, sizeof(user));
	(void)snprintf(done, sizeof(done), "POP3 login of %s from %s recorded",
	    user, argv[1]);
	return pop3_result(conn, "pop3-login", ctl_answer(conn, NULL, NULL),
	    done, -1);
}

struct pop3_list {
	size_t		 n;		/* printed */
	uint32_t	 total;		/* in the table */
};

static void
pop3_logins_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct pop3_list	*list = arg;
	const char		*address, *user;
	char			 a[POP3_ADDR_MAX + 1], u[POP3_USER_MAX + 1];
	char			 age[32];
	int64_t			 when, secs;

	if (m->hdr.type != IMSG_CTL_POP3_LOGINS)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	if (ipc_try_u32(m, &list->total) == -1)
		errx(1, "malformed IMSG_CTL_POP3_LOGINS from smtpd");
	while (m->off < m->len) {
		if (ipc_try_string(m, &address) == -1 ||
		    ipc_try_string(m, &user) == -1 ||
		    ipc_try_i64(m, &when) == -1 ||
		    ipc_try_i64(m, &secs) == -1 ||
		    address == NULL || user == NULL)
			errx(1, "malformed IMSG_CTL_POP3_LOGINS from smtpd");
		print_safe(address, a, sizeof(a));
		print_safe(user, u, sizeof(u));
		if (conn->json) {
			printf("%s\n  {\"address\": ", list->n ? "," : "");
			print_json_string(a);
			printf(", \"user\": ");
			print_json_string(u);
			printf(", \"time\": %lld, \"age\": %lld}",
			    (long long)when, (long long)secs);
		} else {
			if (list->n == 0)
				printf("%-39s %-24s %s\n", "ADDRESS", "USER",
				    "AGE");
			format_uptime(secs, age, sizeof(age));
			printf("%-39s %-24s %s\n", a, u, age);
		}
		list->n++;
	}
}

static int
cmd_show_pop3_logins(struct ctl_conn *conn, int argc, char **argv)
{
	struct pop3_list	 list = { 0, 0 };
	enum ctl_result		 res;
	char			 reason[512];

	(void)argc;
	(void)argv;
	if (conn->json)
		printf("{\"pop3_logins\": [");
	ctl_send(conn, IMSG_CTL_POP3_SHOW_REQ, NULL);
	res = ctl_answer(conn, pop3_logins_frame, &list);
	if (res == CTL_CLOSED)
		(void)strlcpy(fail_reason, "smtpd closed the connection",
		    sizeof(fail_reason));
	if (conn->json) {
		printf("%s], \"total\": %lu", list.n ? "\n" : "",
		    (unsigned long)(list.total > list.n ? list.total : list.n));
		if (res != CTL_DONE) {
			printf(", \"error\": ");
			print_json_string(fail_reason);
		}
		printf("}\n");
	} else if (res == CTL_DONE && list.n == 0)
		printf("no POP3 logins\n");
	else if (res == CTL_DONE && list.total > list.n)
		printf("(the newest %zu of %lu logins)\n", list.n,
		    (unsigned long)list.total);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	if (res != CTL_DONE) {
		print_safe(fail_reason, reason, sizeof(reason));
		fprintf(stderr, "smtpctl: show pop3-logins failed: %s\n",
		    reason);
		return 1;
	}
	return 0;
}

static void
pop3_flushed_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	long	*removed = arg;
	uint32_t n;

	(void)conn;
	if (m->hdr.type != IMSG_CTL_POP3_FLUSHED ||
	    ipc_try_u32(m, &n) == -1 || ipc_try_end(m) == -1)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	*removed = n;
}

static int
cmd_pop3_logins_flush(struct ctl_conn *conn, int argc, char **argv)
{
	struct ipc_obuf	*ob;
	enum ctl_result	 res;
	char		 done[128];
	long		 removed = -1;

	if (argc > 0)
		pop3_check_address(argv[0]);
	ob = ctl_begin(conn, IMSG_CTL_POP3_FLUSH_REQ);
	ipc_add_string(ob, argc > 0 ? argv[0] : NULL);
	ctl_flush(conn, ob);
	res = ctl_answer(conn, pop3_flushed_frame, &removed);
	if (res == CTL_DONE && removed < 0)
		errx(1, "pop3-logins flush: smtpd answered without a count");
	(void)snprintf(done, sizeof(done), "%ld login%s forgotten", removed,
	    removed == 1 ? "" : "s");
	return pop3_result(conn, "pop3-logins flush", res, done, removed);
}

/* ---- limits ------------------------------------------------------------ */

struct limits_list {
	int		 started;	/* the first frame was printed */
	const char	*address;	/* asked about, or NULL */
	size_t		 n;		/* entries printed */
	uint32_t	 total;
	uint32_t	 limit;
	int64_t		 within, block;
	uint32_t	 exempt;
};

/* The settings, once, before the first entry. */
static void
limits_start(struct ctl_conn *conn, struct limits_list *list)
{
	char	 w[32], b[32], a[POP3_ADDR_MAX + 1];

	list->started = 1;
	if (conn->json) {
		if (list->limit > 0)
			printf("{\"auth_failures\": {\"limit\": %lu, "
			    "\"within\": %lld, \"block\": %lld}",
			    (unsigned long)list->limit,
			    (long long)list->within, (long long)list->block);
		else
			printf("{\"auth_failures\": null");
		if (list->address != NULL)
			printf(", \"exempt\": %s", list->exempt ? "true" :
			    "false");
		printf(", \"addresses\": [");
		return;
	}
	if (list->limit > 0) {
		format_duration(list->within, w, sizeof(w));
		format_duration(list->block, b, sizeof(b));
		printf("limit auth-failures %lu per-ip within %s block %s\n",
		    (unsigned long)list->limit, w, b);
	} else
		printf("no limit auth-failures: nothing is counted\n");
	if (list->address != NULL && list->exempt) {
		print_safe(list->address, a, sizeof(a));
		printf("%s is exempt (limit exempt): never counted or "
		    "blocked\n", a);
	}
}

static void
limits_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	struct limits_list	*list = arg;
	const char		*address;
	char			 a[POP3_ADDR_MAX + 1], last[32], left[32];
	uint32_t		 failures, refused;
	int64_t			 age, until, secs;

	if (m->hdr.type != IMSG_CTL_LIMITS)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	if (ipc_try_u32(m, &list->total) == -1 ||
	    ipc_try_u32(m, &list->limit) == -1 ||
	    ipc_try_i64(m, &list->within) == -1 ||
	    ipc_try_i64(m, &list->block) == -1 ||
	    ipc_try_u32(m, &list->exempt) == -1)
		errx(1, "malformed IMSG_CTL_LIMITS from smtpd");
	if (!list->started)
		limits_start(conn, list);
	while (m->off < m->len) {
		if (ipc_try_string(m, &address) == -1 ||
		    ipc_try_u32(m, &failures) == -1 ||
		    ipc_try_i64(m, &age) == -1 ||
		    ipc_try_i64(m, &until) == -1 ||
		    ipc_try_i64(m, &secs) == -1 ||
		    ipc_try_u32(m, &refused) == -1 || address == NULL)
			errx(1, "malformed IMSG_CTL_LIMITS from smtpd");
		print_safe(address, a, sizeof(a));
		if (conn->json) {
			printf("%s\n  {\"address\": ", list->n ? "," : "");
			print_json_string(a);
			printf(", \"failures\": %lu, \"last_failure_age\": "
			    "%lld, \"blocked\": %s, \"blocked_until\": %lld, "
			    "\"blocked_for\": %lld, \"refused\": %lu}",
			    (unsigned long)failures, (long long)age,
			    secs > 0 ? "true" : "false", (long long)until,
			    (long long)secs, (unsigned long)refused);
		} else {
			if (list->n == 0)
				printf("%-39s %8s %8s %8s %7s\n", "ADDRESS",
				    "FAILURES", "LAST", "BLOCKED", "REFUSED");
			format_uptime(age, last, sizeof(last));
			if (secs > 0)
				format_uptime(secs, left, sizeof(left));
			else
				(void)strlcpy(left, "-", sizeof(left));
			printf("%-39s %8lu %8s %8s %7lu\n", a,
			    (unsigned long)failures, last, left,
			    (unsigned long)refused);
		}
		list->n++;
	}
}

static int
cmd_show_limits(struct ctl_conn *conn, int argc, char **argv)
{
	struct limits_list	 list;
	struct ipc_obuf		*ob;
	enum ctl_result		 res;
	char			 reason[512], a[POP3_ADDR_MAX + 1];

	memset(&list, 0, sizeof(list));
	if (argc > 0) {
		pop3_check_address(argv[0]);
		list.address = argv[0];
	}
	ob = ctl_begin(conn, IMSG_CTL_LIMITS_SHOW_REQ);
	ipc_add_string(ob, list.address);
	ctl_flush(conn, ob);
	res = ctl_answer(conn, limits_frame, &list);
	if (res == CTL_DONE && !list.started)
		errx(1, "show limits: smtpd answered without the limits");
	if (res == CTL_CLOSED)
		(void)strlcpy(fail_reason, "smtpd closed the connection",
		    sizeof(fail_reason));
	if (conn->json && list.started) {
		printf("%s], \"total\": %lu", list.n ? "\n" : "",
		    (unsigned long)(list.total > list.n ? list.total :
		    list.n));
		if (res != CTL_DONE) {
			printf(", \"error\": ");
			print_json_string(fail_reason);
		}
		printf("}\n");
	} else if (conn->json) {
		printf("{\"ok\": false, \"error\": ");
		print_json_string(fail_reason);
		printf("}\n");
	} else if (res == CTL_DONE && list.n == 0 && list.address != NULL) {
		print_safe(list.address, a, sizeof(a));
		printf("no auth failures from %s\n", a);
	} else if (res == CTL_DONE && list.n == 0)
		printf("no auth failures recorded\n");
	else if (res == CTL_DONE && list.total > list.n)
		printf("(the latest %zu of %lu addresses)\n", list.n,
		    (unsigned long)list.total);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	if (res != CTL_DONE) {
		print_safe(fail_reason, reason, sizeof(reason));
		fprintf(stderr, "smtpctl: show limits failed: %s\n", reason);
		return 1;
	}
	return 0;
}

static void
limits_cleared_frame(struct ctl_conn *conn, struct ipc_msg *m, void *arg)
{
	long	*removed = arg;
	uint32_t n;

	(void)conn;
	if (m->hdr.type != IMSG_CTL_LIMITS_CLEARED ||
	    ipc_try_u32(m, &n) == -1 || ipc_try_end(m) == -1)
		errx(1, "unexpected %s from smtpd", ipc_type_name(m->hdr.type));
	*removed = n;
}

static int
cmd_limits_reset(struct ctl_conn *conn, int argc, char **argv)
{
	struct ipc_obuf	*ob;
	enum ctl_result	 res;
	char		 done[128];
	long		 removed = -1;

	(void)argc;
	pop3_check_address(argv[0]);
	ob = ctl_begin(conn, IMSG_CTL_LIMITS_RESET_REQ);
	ipc_add_string(ob, argv[0]);
	ctl_flush(conn, ob);
	res = ctl_answer(conn, limits_cleared_frame, &removed);
	if (res == CTL_DONE && removed < 0)
		errx(1, "limits reset: smtpd answered without a count");
	if (removed > 0)
		(void)snprintf(done, sizeof(done), "auth failures of %s "
		    "forgotten: it may log in again", argv[0]);
	else
		(void)snprintf(done, sizeof(done), "no auth failures from %s: "
		    "nothing to reset", argv[0]);
	return pop3_result(conn, "limits reset", res, done, removed);
}

/* ---- output ------------------------------------------------------------ */

/* Copy for a terminal: control characters become '?' (newlines stay). */
static void
print_safe(const char *s, char *dst, size_t size)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		dst[i] = ((unsigned char)s[i] < 0x20 && s[i] != '\n') ||
		    s[i] == 0x7f ? '?' : s[i];
	dst[i] = '\0';
}

static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		default:
			if ((unsigned char)*s < 0x20)
				printf("\\u%04x", (unsigned char)*s);
			else
				putchar(*s);
		}
	}
	putchar('"');
}

/* A configuration's duration as it would be written: "90s", "15m", "4h". */
static void
format_duration(int64_t t, char *buf, size_t size)
{
	long long	 s = t;

	if (s > 0 && s % 86400 == 0)
		(void)snprintf(buf, size, "%lldd", s / 86400);
	else if (s > 0 && s % 3600 == 0)
		(void)snprintf(buf, size, "%lldh", s / 3600);
	else if (s > 0 && s % 60 == 0)
		(void)snprintf(buf, size, "%lldm", s / 60);
	else
		(void)snprintf(buf, size, "%llds", s);
}

/* "42s", "5m07s", "2h03m", "3d04h" */
static void
format_uptime(int64_t t, char *buf, size_t size)
{
	long long	 s = t;

	if (s < 60)
		(void)snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		(void)snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		(void)snprintf(buf, size, "%lldh%02lldm", s / 3600,
		    s % 3600 / 60);
	else
		(void)snprintf(buf, size, "%lldd%02lldh", s / 86400,
		    s % 86400 / 3600);
}
