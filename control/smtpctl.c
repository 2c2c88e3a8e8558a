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

#define CTL_TIMEOUT	10		/* seconds for one request */
#define CTL_MAXWORDS	4

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
};

static int	 cmd_show_status(struct ctl_conn *, int, char **);
static int	 cmd_reload(struct ctl_conn *, int, char **);
static int	 cmd_log_verbose(struct ctl_conn *, int, char **);
static int	 cmd_log_brief(struct ctl_conn *, int, char **);
static int	 cmd_stop(struct ctl_conn *, int, char **);

static const struct ctl_command commands[] = {
	{ { "show", "status" },	"show each process, its pid and uptime",
	    cmd_show_status, 0 },
	{ { "reload" },		"re-read the configuration", cmd_reload, 0 },
	{ { "log", "verbose" },	"log debug messages too", cmd_log_verbose, 0 },
	{ { "log", "brief" },	"stop logging debug messages",
	    cmd_log_brief, 0 },
	{ { "stop" },		"stop the daemon", cmd_stop, 0 },
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
		fprintf(stderr, "\": %s\n", argv[nwords]);
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
		fprintf(fp, "%*s%s\n", n < 18 ? 18 - n : 1, "",
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
	struct ipc_msg	 m;

	ctl_send(conn, type, arg);
	for (;;) {
		if (!ctl_next(conn, &m))
			return CTL_CLOSED;
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
	int		 r;

	clock_gettime(CLOCK_MONOTONIC, &conn->deadline);
	conn->deadline.tv_sec += CTL_TIMEOUT;

	if ((ob = ipc_create(&conn->ipc, type, 0, -1)) == NULL)
		err(1, "ipc_create");
	if (arg != NULL)
		ipc_add_u32(ob, *arg);
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
