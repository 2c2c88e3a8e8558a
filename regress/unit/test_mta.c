/*
 * Portcullis: unit tests for queue/mta.c, the outbound SMTP/LMTP
 * client, against regress/daemon/sink.py sinks on loopback: each sink
 * is a child process (started by pid, killed at the end of its test),
 * each wait bounded.  What a sink received is read back from its
 * folder (msg-N.eml, msg-N.env, log).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>
#include <tls.h>

#include "log.h"
#include "mta.h"
#include "tlsconf.h"
#include "unit.h"
#include "evloop.h"

#define WAIT_MS		10000	/* the longest a job may take */
#define SINK		"regress/daemon/sink.py"
#define PYTHON		"/usr/bin/python3"
#define HELO		"client.test"
#define MAXARGS		32
#define FILEMAX		(4 * 1024 * 1024)

static char	 tmpdir[] = "/tmp/test_mta.XXXXXX";
static char	 certfile[256], keyfile[256];
static int	 have_cert;
static int	 nsinks;

/* ---- the log, captured ---------------------------------------------- */

static char	 logbuf[64 * 1024];
static int	 logecho;

static void
log_capture(int pri, const char *line)
{
	size_t	 len = strlen(logbuf);

	(void)pri;
	if (logecho)
		fprintf(stderr, "%s\n", line);
	if (len + strlen(line) + 2 > sizeof(logbuf))
		len = 0;	/* start over: tests look at recent lines */
	(void)snprintf(logbuf + len, sizeof(logbuf) - len, "%s\n", line);
}

/* ---- the event loop, bounded: evloop.h ---- */

/* Until every connection is closed (QUITs answered), bounded. */
static void
loop_drain(void)
{
	int	 i;

	for (i = 0; i < 100 && mta_sessions() > 0; i++)
		loop_for(50);
}

/* ---- sinks ---------------------------------------------------------- */

struct sink {
	pid_t	 pid;
	int	 port;
	char	 dir[256];
};

/* Start a sink with the given options (NULL-terminated). */
static int
sink_start(struct sink *k, const char *opt, ...)
{
	const char	*argv[MAXARGS + 6];
	va_list		 ap;
	struct pollfd	 pfd;
	char		 buf[64];
	char		 errpath[300];
	size_t		 n = 0, got = 0;
	ssize_t		 r;
	int		 p[2], efd;

	memset(k, 0, sizeof(*k));
	k->pid = -1;
	(void)snprintf(k->dir, sizeof(k->dir), "%s/sink%d", tmpdir, ++nsinks);
	argv[n++] = PYTHON;
	argv[n++] = SINK;
	argv[n++] = "--dir";
	argv[n++] = k->dir;
	va_start(ap, opt);
	for (; opt != NULL && n < MAXARGS; opt = va_arg(ap, const char *))
		argv[n++] = opt;
	va_end(ap);
	argv[n] = NULL;
	if (pipe(p) == -1)
		fatal("pipe");
	if ((k->pid = fork()) == -1)
		fatal("fork");
	if (k->pid == 0) {
		/* Its stdout says the port; its stderr goes to a file. */
		close(p[0]);
		(void)snprintf(errpath, sizeof(errpath), "%s.err", k->dir);
		if (dup2(p[1], STDOUT_FILENO) == -1 ||
		    (efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC,
		    0600)) == -1 || dup2(efd, STDERR_FILENO) == -1)
			_exit(127);
		execv(PYTHON, (char * const *)(uintptr_t)argv);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if ((r = read(p[0], buf + got, sizeof(buf) - 1 - got)) <= 0)
			break;
		got += r;
		buf[got] = '\0';
	}
	close(p[0]);
	buf[got] = '\0';
	k->port = atoi(buf);
	if (k->port <= 0) {
		printf("sink did not start (%s)\n", buf);
		return (-1);
	}
	return (0);
}

static void
sink_stop(struct sink *k)
{
	int	 i, status;

	if (k->pid <= 0)
		return;
	(void)kill(k->pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(k->pid, &status, WNOHANG) == k->pid) {
			k->pid = -1;
			return;
		}
		usleep(20000);
	}
	(void)kill(k->pid, SIGKILL);
	(void)waitpid(k->pid, &status, 0);
	k->pid = -1;
}

/* A file of the sink's folder, NUL-terminated, or NULL. */
static char *
sink_file(struct sink *k, const char *name, size_t *lenp)
{
	char	 path[512], *buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd;

	(void)snprintf(path, sizeof(path), "%s/%s", k->dir, name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return (NULL);
	if ((buf = malloc(FILEMAX + 1)) == NULL)
		fatal("malloc");
	while (len < FILEMAX &&
	    (n = read(fd, buf + len, FILEMAX - len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

static int
count(const char *hay, const char *needle)
{
	int	 n = 0;

	if (hay == NULL)
		return (0);
	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return (n);
}

/* How many lines of the sink's log contain s. */
static int
sink_count(struct sink *k, const char *s)
{
	char	*log;
	int	 n;

	log = sink_file(k, "log", NULL);
	n = count(log, s);
	free(log);
	return (n);
}

/* ---- jobs ----------------------------------------------------------- */

struct tjob {
	struct mta_job	 job;
	struct mta_rcpt	 rcpts[8];
	struct mta_host	 hosts[4];
	int		 done;
	char		 path[256];
};

static void
tjob_done(struct mta_job *job, void *arg)
{
	struct tjob	*t = arg;

	(void)job;
	t->done++;
}

static void
host_set(struct mta_host *h, const char *name, int port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&h->ss;

	memset(h, 0, sizeof(*h));
	(void)strlcpy(h->name, name, sizeof(h->name));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A job for the message msg (len bytes) to rcpts "a@x b@x ...". */
static void
tjob_init(struct tjob *t, const char *msg, size_t len, const char *rcpts)
{
	static int	 n;
	char		 list[256], *p, *a;
	int		 fd;

	memset(t, 0, sizeof(*t));
	(void)snprintf(t->path, sizeof(t->path), "%s/msg%d", tmpdir, ++n);
	if ((fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, msg, len) != (ssize_t)len || close(fd) == -1)
		fatal("%s", t->path);
	t->job.fd = open(t->path, O_RDONLY);
	if (t->job.fd == -1)
		fatal("%s", t->path);
	t->job.msgid = 0x1234abcd00000000ULL + n;
	(void)strlcpy(t->job.sender, "sender@example.org",
	    sizeof(t->job.sender));
	(void)strlcpy(t->job.helo, HELO, sizeof(t->job.helo));
	t->job.size = len;
	t->job.rcpts = t->rcpts;
	t->job.hosts = t->hosts;
	t->job.tls = MTA_TLS_OPPORTUNISTIC;
	t->job.done = tjob_done;
	t->job.arg = t;
	(void)strlcpy(list, rcpts, sizeof(list));
	for (p = list; (a = strsep(&p, " ")) != NULL && t->job.nrcpt < 8;) {
		t->rcpts[t->job.nrcpt].idx = t->job.nrcpt;
		(void)strlcpy(t->rcpts[t->job.nrcpt].addr, a,
		    sizeof(t->rcpts[0].addr));
		t->job.nrcpt++;
	}
}

static void
tjob_host(struct tjob *t, int port)
{
	host_set(&t->hosts[t->job.nhost++], "sink.test", port);
}

/* Start, run until done; 1 when done came exactly once. */
static int
tjob_run(struct tjob *t)
{
	if (mta_start(&t->job) == -1) {
		printf("mta_start: %s\n", strerror(errno));
		return (0);
	}
	(void)loop_until(&t->done, WAIT_MS);
	loop_for(20);		/* done is never called twice */
	return (t->done == 1);
}

static void
tjob_free(struct tjob *t)
{
	if (t->job.fd != -1)
		close(t->job.fd);
	t->job.fd = -1;
	unlink(t->path);
}

static const char *status_names[] = { "ok", "tempfail", "permfail" };

static const char *
sname(int st)
{
	return (st >= 0 && st <= 2 ? status_names[st] : "pending");
}

#define CHECK_RCPT(t, i, st, prefix) do {				\
	CHECK((t)->rcpts[i].status == (st) &&				\
	    strncmp((t)->rcpts[i].reply, (prefix), strlen(prefix)) == 0,\
	    "rcpt %s: got %s \"%s\" want %s \"%s...\"",			\
	    (t)->rcpts[i].addr, sname((t)->rcpts[i].status),		\
	    (t)->rcpts[i].reply, sname(st), (prefix));			\
} while (0)

/* A port nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 s, port;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		fatal("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(s, (struct sockaddr *)&sin, &len) == -1)
		fatal("bind");
	port = ntohs(sin.sin_port);
	close(s);
	return (port);
}

/* ---- tests ---------------------------------------------------------- */

static const char MSG[] =
    "Subject: test\r\n"
    "\r\n"
    ".leading dot\r\n"
    "..two dots\r\n"
    ".\r\n"
    "a line\r\n"
    ". \r\n";

/* Dot-stuffing and line ends: what the sink gets back, byte for byte. */
static void
test_body(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		const char	*want;
	} rows[] = {
		{ "dots", MSG, MSG },
		{ "no final CRLF", "a\r\n.b", "a\r\n.b\r\n" },
		{ "empty", "", "" },
		{ "only a dot", ".", ".\r\n" },
		{ "bare LF", "a\nb\n.\n", "a\r\nb\r\n.\r\n" },
		{ "bare CR", "a\r.\rb", "a\r\n.\r\nb\r\n" },
		{ "CR at end", "a\r", "a\r\n" },
	};
	struct sink	 k;
	struct tjob	 t;
	char		*got, name[32];
	size_t		 i, len;

	if (sink_start(&k, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tjob_init(&t, rows[i].in, strlen(rows[i].in), "a@x.test");
		tjob_host(&t, k.port);
		t.job.noreuse = 1;
		CHECK(tjob_run(&t), "%s: done %d", rows[i].name, t.done);
		CHECK_RCPT(&t, 0, MTA_OK, "250 2.0.0");
		(void)snprintf(name, sizeof(name), "msg-%zu.eml", i + 1);
		got = sink_file(&k, name, &len);
		CHECK(got != NULL && len == strlen(rows[i].want) &&
		    memcmp(got, rows[i].want, len) == 0,
		    "%s: got \"%s\" want \"%s\"", rows[i].name,
		    got ? got : "(none)", rows[i].want);
		free(got);
		tjob_free(&t);
	}
	loop_drain();
	sink_stop(&k);
}

/*
 * The body's conversion against the plain rule, a byte at a time: the
 * same bytes out and the same state after, for random bodies made of
 * the bytes that matter, cut into random pieces.
 */
static size_t
stuff_by_byte(const unsigned char *in, size_t n, unsigned char *out,
    int *st)
{
	size_t	 i, o = 0;
	int	 f = *st;

	for (i = 0; i < n; i++) {
		if (f & MTA_BODY_CR) {
			f &= ~MTA_BODY_CR;
			out[o++] = '\n';
			f |= MTA_BODY_BOL;
			if (in[i] == '\n')
				continue;
		}
		if (in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			f |= MTA_BODY_BOL;
			continue;
		}
		if ((f & MTA_BODY_BOL) && in[i] == '.')
			out[o++] = '.';
		f &= ~MTA_BODY_BOL;
		out[o++] = in[i];
		if (in[i] == '\r')
			f |= MTA_BODY_CR;
	}
	*st = f;
	return o;
}

static void
test_body_stuff(void)
{
	static const unsigned char alphabet[] = "ab.\r\n\0";
	unsigned char	 in[600], want[1800], got[1800];
	size_t		 n, i, off, piece, wn, gn, k;
	int		 round, wst, gst, bad = 0;

	for (round = 0; round < 20000 && bad < 5; round++) {
		n = arc4random_uniform(sizeof(in) + 1);
		for (i = 0; i < n; i++)
			in[i] = round % 3 == 0 ?
			    alphabet[arc4random_uniform(sizeof(alphabet))] :
			    /* mostly text: long runs between line ends */
			    arc4random_uniform(8) == 0 ?
			    alphabet[arc4random_uniform(sizeof(alphabet))] :
			    'x';
		wst = gst = MTA_BODY_BOL | 0x1000;	/* other bits stay */
		wn = stuff_by_byte(in, n, want, &wst);
		gn = 0;
		for (off = 0; off < n; off += piece) {
			piece = 1 + arc4random_uniform(n - off);
			k = mta_body_stuff(in + off, piece, got + gn, &gst);
			CHECK(k <= 3 * piece, "%zu out of %zu in", k, piece);
			gn += k;
		}
		if (gn != wn || memcmp(got, want, wn) != 0 || gst != wst) {
			bad++;
			CHECK(0, "round %d: %zu bytes in, %zu out want %zu, "
			    "state %x want %x", round, n, gn, wn, gst, wst);
		}
	}
}

/* A large message: the body is pumped in chunks, never all at once. */
static void
test_big(void)
{
	struct sink	 k;
	struct tjob	 t;
	char		*msg, *got;
	size_t		 len = 1024 * 1024 + 7, i, glen;

	if ((msg = malloc(len)) == NULL)
		fatal("malloc");
	for (i = 0; i < len; i++)
		msg[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' :
		    (i % 80 == 0 && i % 160 == 0) ? '.' : 'a' + i % 26;
	msg[len - 2] = '\r';
	msg[len - 1] = '\n';
	if (sink_start(&k, NULL) == -1) {
		CHECK(0, "no sink");
		free(msg);
		return;
	}
	tjob_init(&t, msg, len, "a@x.test");
	tjob_host(&t, k.port);
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	got = sink_file(&k, "msg-1.eml", &glen);
	CHECK(got != NULL && glen == len && memcmp(got, msg, len) == 0,
	    "got %zu bytes want %zu", got ? glen : 0, len);
	free(got);
	free(msg);
	tjob_free(&t);
	mta_pool_flush();
	loop_drain();
	sink_stop(&k);
}

/* PIPELINING on and off, with per-recipient 250/450/550. */
static void
test_pipelining(void)
{
	struct sink	 k;
	struct tjob	 t;
	char		*env;
	int		 pipe;

	for (pipe = 1; pipe >= 0; pipe--) {
		if (sink_start(&k, "--rcpt-reply",
		    "temp@x.test=450 4.2.1 mailbox busy", "--rcpt-reply",
		    "perm@x.test=550 5.1.1 no such user",
		    pipe ? NULL : "--no-pipelining", NULL) == -1) {
			CHECK(0, "no sink");
			return;
		}
		tjob_init(&t, MSG, strlen(MSG),
		    "a@x.test temp@x.test perm@x.test b@x.test");
		tjob_host(&t, k.port);
		t.job.noreuse = 1;
		CHECK(tjob_run(&t), "pipelining %d: done %d", pipe, t.done);
		CHECK_RCPT(&t, 0, MTA_OK, "250 2.0.0");
		CHECK_RCPT(&t, 1, MTA_TEMPFAIL, "450 4.2.1 mailbox busy");
		CHECK_RCPT(&t, 2, MTA_PERMFAIL, "550 5.1.1 no such user");
		CHECK_RCPT(&t, 3, MTA_OK, "250 2.0.0");
		env = sink_file(&k, "msg-1.env", NULL);
		CHECK(env != NULL && count(env, "rcpt <") == 2 &&
		    strstr(env, "mail <sender@example.org>") != NULL,
		    "env: %s", env ? env : "(none)");
		if (pipe)
			CHECK(env != NULL && strstr(env, "pipelined 0") ==
			    NULL, "not pipelined: %s", env ? env : "");
		else
			CHECK(env != NULL && strstr(env, "pipelined 0\n") !=
			    NULL, "pipelined without PIPELINING: %s",
			    env ? env : "");
		free(env);
		tjob_free(&t);
		loop_drain();
		CHECK(sink_count(&k, "cmd QUIT") == 1, "no QUIT");
		sink_stop(&k);
	}
}

/* Every recipient refused: no DATA is sent (or it is refused). */
static void
test_all_refused(void)
{
	struct sink	 k;
	struct tjob	 t;
	int		 pipe;

	for (pipe = 1; pipe >= 0; pipe--) {
		if (sink_start(&k, "--reply", "RCPT=550 5.1.1 nobody",
		    pipe ? NULL : "--no-pipelining", NULL) == -1) {
			CHECK(0, "no sink");
			return;
		}
		tjob_init(&t, MSG, strlen(MSG), "a@x.test b@x.test");
		tjob_host(&t, k.port);
		t.job.noreuse = 1;
		CHECK(tjob_run(&t), "done %d", t.done);
		CHECK_RCPT(&t, 0, MTA_PERMFAIL, "550 5.1.1 nobody");
		CHECK_RCPT(&t, 1, MTA_PERMFAIL, "550 5.1.1 nobody");
		CHECK(sink_count(&k, "message") == 0, "a message arrived");
		if (!pipe)
			CHECK(sink_count(&k, "cmd DATA") == 0, "DATA sent");
		tjob_free(&t);
		loop_drain();
		sink_stop(&k);
	}
}

/* 451 at MAIL at the first address: the second one takes it. */
static void
test_mail_451_next(void)
{
	struct sink	 a, b;
	struct tjob	 t;
	char		 want[64];

	if (sink_start(&a, "--reply", "MAIL=451 4.3.0 try later", NULL) ==
	    -1 || sink_start(&b, NULL) == -1) {
		CHECK(0, "no sink");
		sink_stop(&a);
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test b@x.test");
	tjob_host(&t, a.port);
	tjob_host(&t, b.port);
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK_RCPT(&t, 1, MTA_OK, "250 ");
	CHECK(sink_count(&a, "message") == 0, "message at the first");
	CHECK(sink_count(&b, "message") == 1, "no message at the second");
	CHECK(sink_count(&a, "cmd QUIT") == 1, "no QUIT at the first");
	(void)snprintf(want, sizeof(want), "sink.test[127.0.0.1]:%d", b.port);
	CHECK_STR(t.job.relay, want);
	tjob_free(&t);
	mta_pool_flush();
	loop_drain();
	sink_stop(&a);
	sink_stop(&b);
}

/* Connection refused at the first address, the second one used. */
static void
test_refused_next(void)
{
	struct sink	 b;
	struct tjob	 t;

	if (sink_start(&b, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, closed_port());
	tjob_host(&t, b.port);
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK(sink_count(&b, "message") == 1, "no message");
	tjob_free(&t);

	/* Only refusing addresses: temporary, with the reason. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test b@x.test");
	tjob_host(&t, closed_port());
	tjob_host(&t, closed_port());
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.4.1 connect: Connection "
	    "refused");
	CHECK_RCPT(&t, 1, MTA_TEMPFAIL, "421 4.4.1 ");
	tjob_free(&t);
	mta_pool_flush();
	loop_drain();
	sink_stop(&b);
}

/* 5xx to MAIL is definitive: the second address is not tried. */
static void
test_mail_5xx(void)
{
	struct sink	 a, b;
	struct tjob	 t;

	if (sink_start(&a, "--reply", "MAIL=550 5.7.1 sender refused",
	    NULL) == -1 || sink_start(&b, NULL) == -1) {
		CHECK(0, "no sink");
		sink_stop(&a);
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test b@x.test");
	tjob_host(&t, a.port);
	tjob_host(&t, b.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "550 5.7.1 sender refused");
	CHECK_RCPT(&t, 1, MTA_PERMFAIL, "550 5.7.1 sender refused");
	loop_drain();
	CHECK(sink_count(&b, "connect") == 0, "second address tried");
	CHECK(sink_count(&a, "cmd QUIT") == 1, "no QUIT");
	tjob_free(&t);
	sink_stop(&a);
	sink_stop(&b);
}

/* A 554 banner: next address; at the only address: permanent. */
static void
test_greeting(void)
{
	struct sink	 a, b;
	struct tjob	 t;

	if (sink_start(&a, "--reply", "GREETING=554 5.7.1 go away",
	    NULL) == -1 || sink_start(&b, "--reply",
	    "GREETING=421 4.3.2 busy", NULL) == -1) {
		CHECK(0, "no sink");
		sink_stop(&a);
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, a.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "554 5.7.1 go away");
	tjob_free(&t);

	/* 554 then 421: one soft failure makes it temporary. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, a.port);
	tjob_host(&t, b.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.3.2 busy");
	CHECK(sink_count(&b, "connect") == 1, "second address not tried");
	tjob_free(&t);
	loop_drain();
	sink_stop(&a);
	sink_stop(&b);
}

/* EHLO refused with 5xx: HELO, no extensions, still delivered. */
static void
test_helo_fallback(void)
{
	struct sink	 k;
	struct tjob	 t;

	if (sink_start(&k, "--reply", "EHLO=502 5.5.2 what", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.body = BODY_8BITMIME;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK(sink_count(&k, "cmd HELO " HELO) == 1, "no HELO");
	/* 8BITMIME not offered (no EHLO): sent without BODY=. */
	CHECK(sink_count(&k, "cmd MAIL FROM:<sender@example.org>\n") == 1,
	    "MAIL with parameters");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
}

/* LMTP: one reply per accepted recipient after the dot. */
static void
test_lmtp(void)
{
	struct sink	 k;
	struct tjob	 t;

	if (sink_start(&k, "--lmtp", "--dot-reply",
	    "b@x.test=452 4.2.2 mailbox full", "--dot-reply",
	    "c@x.test=550 5.2.1 mailbox disabled", "--rcpt-reply",
	    "d@x.test=550 5.1.1 unknown", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG),
	    "a@x.test b@x.test d@x.test c@x.test e@x.test");
	tjob_host(&t, k.port);
	t.job.lmtp = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 2.0.0 <a@x.test>");
	CHECK_RCPT(&t, 1, MTA_TEMPFAIL, "452 4.2.2 mailbox full");
	CHECK_RCPT(&t, 2, MTA_PERMFAIL, "550 5.1.1 unknown");
	CHECK_RCPT(&t, 3, MTA_PERMFAIL, "550 5.2.1 mailbox disabled");
	CHECK_RCPT(&t, 4, MTA_OK, "250 2.0.0 <e@x.test>");
	CHECK(sink_count(&k, "cmd LHLO " HELO) == 1, "no LHLO");
	tjob_free(&t);
	mta_pool_flush();
	loop_drain();
	sink_stop(&k);
}

static struct tls_config *
ca_config(void)
{
	struct tls_config	*cfg;
	char			 err[256];

	if ((cfg = tlsconf_client(0, certfile, err, sizeof(err))) == NULL)
		fatalx("tlsconf_client: %s", err);
	return (cfg);
}

/* Opportunistic STARTTLS; refused STARTTLS goes on in clear. */
static void
test_starttls(void)
{
	struct sink	 k;
	struct tjob	 t;
	char		*env;

	if (!have_cert) {
		CHECK(0, "no test certificate");
		return;
	}
	if (sink_start(&k, "--starttls", certfile, keyfile, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK(strncmp(t.job.tlsver, "TLSv1.", 6) == 0, "tls %s",
	    t.job.tlsver);
	env = sink_file(&k, "msg-1.env", NULL);
	CHECK(env != NULL && strstr(env, "tls TLSv1.") != NULL,
	    "env: %s", env ? env : "(none)");
	free(env);
	/* EHLO twice: before and after STARTTLS. */
	CHECK(sink_count(&k, "cmd EHLO") == 2, "EHLO count");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);

	if (sink_start(&k, "--starttls", certfile, keyfile, "--reply",
	    "STARTTLS=454 4.7.0 not now", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK_STR(t.job.tlsver, "none");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
}

/* Opportunistic STARTTLS whose handshake fails: again, in clear. */
static void
test_starttls_fallback(void)
{
	struct sink	 k;
	struct tjob	 t;

	if (!have_cert) {
		CHECK(0, "no test certificate");
		return;
	}
	if (sink_start(&k, "--starttls", certfile, keyfile, "--reply",
	    "STARTTLS=220 2.0.0 go ahead\\nDROP", "--reply",
	    "STARTTLS=502 5.5.1 never twice", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK_STR(t.job.tlsver, "none");
	CHECK(sink_count(&k, "connect") == 2, "connections %d",
	    sink_count(&k, "connect"));
	CHECK(sink_count(&k, "cmd STARTTLS") == 1, "STARTTLS %d",
	    sink_count(&k, "cmd STARTTLS"));
	tjob_free(&t);

	/* Required: no clear retry, a temporary failure. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.tls = MTA_TLS_REQUIRE;
	t.job.noverify = 1;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.7.5 STARTTLS refused: 502");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
}

/* STARTTLS required: verified, failed verification, not offered. */
static void
test_starttls_require(void)
{
	struct sink		 k, plain;
	struct tjob		 t;
	struct tls_config	*ca, *sys;
	char			 err[256];

	if (!have_cert) {
		CHECK(0, "no test certificate");
		return;
	}
	if (sink_start(&k, "--starttls", certfile, keyfile, NULL) == -1 ||
	    sink_start(&plain, NULL) == -1) {
		CHECK(0, "no sink");
		sink_stop(&k);
		return;
	}
	ca = ca_config();
	/* The system's CAs do not know the self-signed certificate. */
	if ((sys = tlsconf_client(0, NULL, err, sizeof(err))) == NULL)
		sys = tlsconf_client_mem(0, (const uint8_t *)"x", 1, err,
		    sizeof(err));

	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.tls = MTA_TLS_REQUIRE;
	t.job.tlscfg = ca;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	tjob_free(&t);

	if (sys != NULL) {
		tjob_init(&t, MSG, strlen(MSG), "a@x.test");
		tjob_host(&t, k.port);
		t.job.tls = MTA_TLS_REQUIRE;
		t.job.tlscfg = sys;
		t.job.noreuse = 1;
		CHECK(tjob_run(&t), "done %d", t.done);
		CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.7.5 ");
		tjob_free(&t);
	} else
		CHECK(0, "no system CA config: %s", err);

	/* Verified against the right CA, but the wrong name. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	host_set(&t.hosts[t.job.nhost++], "other.test", k.port);
	t.job.tls = MTA_TLS_REQUIRE;
	t.job.tlscfg = ca;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.7.5 ");
	tjob_free(&t);

	/* noverify: any certificate. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.tls = MTA_TLS_REQUIRE;
	t.job.noverify = 1;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	tjob_free(&t);

	/* Not offered: temporary, and nothing sent in clear. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, plain.port);
	t.job.tls = MTA_TLS_REQUIRE;
	t.job.noverify = 1;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.7.0 ");
	CHECK(sink_count(&plain, "cmd MAIL") == 0, "MAIL in clear");
	tjob_free(&t);

	loop_drain();
	CHECK(sink_count(&k, "message") == 2, "messages %d",
	    sink_count(&k, "message"));
	tls_config_free(ca);
	tls_config_free(sys);
	sink_stop(&k);
	sink_stop(&plain);
}

/* Implicit TLS. */
static void
test_smtps(void)
{
	struct sink	 k;
	struct tjob	 t;
	char		*env;

	if (!have_cert) {
		CHECK(0, "no test certificate");
		return;
	}
	if (sink_start(&k, "--smtps", certfile, keyfile, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.tls = MTA_TLS_SMTPS;
	t.job.noverify = 1;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	CHECK(strncmp(t.job.tlsver, "TLSv1.", 6) == 0, "tls %s",
	    t.job.tlsver);
	env = sink_file(&k, "msg-1.env", NULL);
	CHECK(env != NULL && strstr(env, "tls TLSv1.") != NULL, "env: %s",
	    env ? env : "(none)");
	free(env);
	CHECK(sink_count(&k, "cmd STARTTLS") == 0, "STARTTLS in SMTPS");
	tjob_free(&t);

	/* SMTPS to a server speaking clear text: a TLS failure. */
	loop_drain();
	sink_stop(&k);
	if (sink_start(&k, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	t.job.tls = MTA_TLS_SMTPS;
	t.job.noverify = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.7.5 ");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
}

/* The server greets or answers EHLO with our name: a loop. */
static void
test_loop(void)
{
	struct sink	 a, b;
	struct tjob	 t;

	if (sink_start(&a, "--hostname", HELO, NULL) == -1 ||
	    sink_start(&b, "--reply", "EHLO=250-" HELO " hi\\n250 8BITMIME",
	    NULL) == -1) {
		CHECK(0, "no sink");
		sink_stop(&a);
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, a.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "554 5.4.6 mail loops back to "
	    "myself");
	CHECK(sink_count(&a, "cmd EHLO") == 0, "EHLO after a loop banner");
	tjob_free(&t);

	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, a.port);
	tjob_host(&t, b.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "554 5.4.6 mail loops back to "
	    "myself");
	CHECK(sink_count(&b, "cmd MAIL") == 0, "MAIL after a loop EHLO");
	tjob_free(&t);
	loop_drain();
	sink_stop(&a);
	sink_stop(&b);
}

/* The server drops the connection after the data, or at DATA. */
static void
test_drop(void)
{
	static const char	*replies[] = { "DOT=DROP", "DATA=DROP" };
	struct sink		 k;
	struct tjob		 t;
	size_t			 i;

	for (i = 0; i < 2; i++) {
		if (sink_start(&k, "--reply", replies[i], "--rcpt-reply",
		    "no@x.test=550 5.1.1 unknown", NULL) == -1) {
			CHECK(0, "no sink");
			return;
		}
		tjob_init(&t, MSG, strlen(MSG), "a@x.test no@x.test b@x.test");
		tjob_host(&t, k.port);
		CHECK(tjob_run(&t), "%s: done %d", replies[i], t.done);
		CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.4.2 ");
		CHECK_RCPT(&t, 1, MTA_PERMFAIL, "550 5.1.1 unknown");
		CHECK_RCPT(&t, 2, MTA_TEMPFAIL, "421 4.4.2 ");
		CHECK(mta_pool_count() == 0, "a dead session pooled");
		tjob_free(&t);
		loop_drain();
		sink_stop(&k);
	}
}

/* A server that never answers MAIL: the timeout. */
static void
test_timeout(void)
{
	struct mta_params	 p;
	struct sink		 k;
	struct tjob		 t;
	char			 err[128];

	if (sink_start(&k, "--reply", "MAIL=HANG", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	mta_params_default(&p);
	p.mail_ms = 300;
	p.helo_ms = 2000;
	if (mta_init(&p, err, sizeof(err)) == -1)
		fatalx("mta_init: %s", err);
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.4.2 timeout in mail");
	tjob_free(&t);
	mta_params_default(&p);
	p.connect_ms = p.greeting_ms = p.helo_ms = p.mail_ms = p.rcpt_ms =
	    p.data_ms = p.block_ms = p.dot_ms = 5000;
	if (mta_init(&p, err, sizeof(err)) == -1)
		fatalx("mta_init: %s", err);
	loop_drain();
	sink_stop(&k);
}

/* Multiline replies, and broken ones. */
static void
test_multiline(void)
{
	struct sink	 k;
	struct tjob	 t;

	if (sink_start(&k, "--reply",
	    "GREETING=220-sink.test first\\n220-second\\n220 third",
	    "--reply", "MAIL=250-2.1.0 one\\n250 2.1.0 two",
	    "--rcpt-reply", "a@x.test=550-5.1.1 first\\n550 5.1.1 second",
	    "--rcpt-reply", "b@x.test=450-4.2.1 a\\n451 4.2.1 b",
	    "--no-pipelining", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test c@x.test");
	tjob_host(&t, k.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "550 5.1.1 first 5.1.1 second");
	CHECK_RCPT(&t, 1, MTA_OK, "250 ");
	tjob_free(&t);

	/* The code changes inside a reply: a protocol error. */
	tjob_init(&t, MSG, strlen(MSG), "b@x.test c@x.test");
	tjob_host(&t, k.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.4.2 bad reply");
	CHECK_RCPT(&t, 1, MTA_TEMPFAIL, "421 4.4.2 bad reply");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);

	/* Not SMTP at all. */
	if (sink_start(&k, "--reply", "GREETING=hello there", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_TEMPFAIL, "421 4.4.2 bad reply (syntax)");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
}

/* Two jobs, one connection: RSET between them, QUIT at the end. */
static void
test_reuse(void)
{
	struct sink	 k;
	struct tjob	 t1, t2;
	char		*env;

	if (sink_start(&k, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t1, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t1, k.port);
	CHECK(tjob_run(&t1), "done %d", t1.done);
	CHECK_RCPT(&t1, 0, MTA_OK, "250 ");
	CHECK(mta_pool_count() == 1, "pool %zu", mta_pool_count());

	/* The pooled address is the second of this job: still taken. */
	tjob_init(&t2, "second\r\n", 8, "b@x.test c@x.test");
	tjob_host(&t2, closed_port());
	tjob_host(&t2, k.port);
	CHECK(tjob_run(&t2), "done %d", t2.done);
	CHECK_RCPT(&t2, 0, MTA_OK, "250 ");
	CHECK_RCPT(&t2, 1, MTA_OK, "250 ");
	CHECK(sink_count(&k, "connect") == 1, "connections %d",
	    sink_count(&k, "connect"));
	CHECK(sink_count(&k, "cmd RSET") == 1, "RSET %d",
	    sink_count(&k, "cmd RSET"));
	env = sink_file(&k, "msg-2.env", NULL);
	CHECK(env != NULL && strstr(env, "conn 1\n") != NULL, "env: %s",
	    env ? env : "(none)");
	free(env);
	CHECK(mta_pool_flush() == 1, "flush");
	loop_drain();
	CHECK(mta_sessions() == 0, "sessions %zu", mta_sessions());
	CHECK(sink_count(&k, "cmd QUIT") == 1, "no QUIT");
	tjob_free(&t1);
	tjob_free(&t2);

	/* The server closed the pooled session: a new connection. */
	tjob_init(&t1, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t1, k.port);
	CHECK(tjob_run(&t1), "done %d", t1.done);
	CHECK(mta_pool_count() == 1, "pool %zu", mta_pool_count());
	sink_stop(&k);
	loop_for(200);
	CHECK(mta_pool_count() == 0, "a closed session stays pooled");
	tjob_free(&t1);
	loop_drain();
}

/* Jobs at once: one connection each, then all reused. */
static void
test_concurrent(void)
{
	struct sink	 k;
	struct tjob	 t[5];
	int		 i, round, all;

	if (sink_start(&k, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 5; i++) {
			tjob_init(&t[i], MSG, strlen(MSG), "a@x.test b@x.test");
			tjob_host(&t[i], k.port);
			CHECK(mta_start(&t[i].job) == 0, "mta_start");
		}
		CHECK(mta_running() == 5, "running %zu", mta_running());
		for (i = 0; i < 5; i++) {
			(void)loop_until(&t[i].done, WAIT_MS);
			CHECK_RCPT(&t[i], 0, MTA_OK, "250 ");
			CHECK_RCPT(&t[i], 1, MTA_OK, "250 ");
		}
		for (i = 0, all = 0; i < 5; i++) {
			all += t[i].done;
			tjob_free(&t[i]);
		}
		CHECK(all == 5, "done %d", all);
		CHECK(mta_pool_count() == 5, "pool %zu", mta_pool_count());
	}
	CHECK(sink_count(&k, "connect") == 5, "connections %d",
	    sink_count(&k, "connect"));
	CHECK(sink_count(&k, "message") == 10, "messages %d",
	    sink_count(&k, "message"));
	mta_pool_flush();
	loop_drain();
	sink_stop(&k);
}

/* Idle sessions leave after idle_ms. */
static void
test_idle(void)
{
	struct mta_params	 p, save;
	struct sink		 k;
	struct tjob		 t;
	char			 err[128];

	if (sink_start(&k, NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	mta_params_default(&p);
	save = p;
	p.idle_ms = 200;
	if (mta_init(&p, err, sizeof(err)) == -1)
		fatalx("mta_init: %s", err);
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK(mta_pool_count() == 1, "pool %zu", mta_pool_count());
	loop_for(600);
	CHECK(mta_pool_count() == 0, "pool %zu", mta_pool_count());
	loop_drain();
	CHECK(sink_count(&k, "cmd QUIT") == 1, "no QUIT at idle timeout");
	tjob_free(&t);
	(void)save;
	p.idle_ms = 5000;
	if (mta_init(&p, err, sizeof(err)) == -1)
		fatalx("mta_init: %s", err);
	sink_stop(&k);
}

/* SMTPUTF8, SIZE and the DSN parameters, only when offered. */
static void
test_params(void)
{
	struct sink	 k, plain;
	struct tjob	 t;
	char		 want[256];

	if (sink_start(&k, "--smtputf8", "--dsn", "--size", "100000",
	    NULL) == -1 || sink_start(&plain, "--size", "10", NULL) == -1) {
		CHECK(0, "no sink");
		sink_stop(&k);
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test b@x.test");
	tjob_host(&t, k.port);
	t.job.body = BODY_8BITMIME;
	t.job.smtputf8 = 1;
	t.job.ret = DSN_RET_HDRS;
	(void)strlcpy(t.job.envid, "id+1=2", sizeof(t.job.envid));
	t.rcpts[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	(void)strlcpy(t.rcpts[0].orcpt, "rfc822;A+b@x.test",
	    sizeof(t.rcpts[0].orcpt));
	t.rcpts[1].notify = DSN_NOTIFY_NEVER;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_OK, "250 ");
	(void)snprintf(want, sizeof(want), "cmd MAIL FROM:<sender@example.org> "
	    "SIZE=%zu BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3D2\n",
	    strlen(MSG));
	CHECK(sink_count(&k, want) == 1, "MAIL parameters");
	CHECK(sink_count(&k, "cmd RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;A+2Bb@x.test\n") == 1, "RCPT parameters");
	CHECK(sink_count(&k, "cmd RCPT TO:<b@x.test> NOTIFY=NEVER\n") == 1,
	    "RCPT NOTIFY=NEVER");
	tjob_free(&t);

	/* SMTPUTF8 not offered: permanent, nothing sent. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, plain.port);
	t.job.smtputf8 = 1;
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "553 5.6.7 ");
	CHECK(sink_count(&plain, "cmd MAIL") == 0, "MAIL sent");
	tjob_free(&t);

	/* Larger than the server's SIZE: permanent, nothing sent. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, plain.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	CHECK_RCPT(&t, 0, MTA_PERMFAIL, "552 5.3.4 ");
	CHECK(sink_count(&plain, "cmd MAIL") == 0, "MAIL sent");
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
	sink_stop(&plain);
}

/* One line per recipient result and per failed address. */
static void
test_log(void)
{
	struct sink	 k;
	struct tjob	 t;
	char		 want[512];
	int		 refused = closed_port();

	if (sink_start(&k, "--rcpt-reply", "b@x.test=550 5.1.1 \"no\" user",
	    NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	logbuf[0] = '\0';
	tjob_init(&t, MSG, strlen(MSG), "a@x.test b@x.test");
	tjob_host(&t, refused);
	tjob_host(&t, k.port);
	t.job.noreuse = 1;
	CHECK(tjob_run(&t), "done %d", t.done);
	(void)snprintf(want, sizeof(want), "test_mta: %016llx mta "
	    "event=failover relay=sink.test[127.0.0.1]:%d tls=none result=421 "
	    "reply=\"421 4.4.1 connect: Connection refused\"\n",
	    (unsigned long long)t.job.msgid, refused);
	CHECK(strstr(logbuf, want) != NULL, "want %s in\n%s", want, logbuf);
	(void)snprintf(want, sizeof(want), "test_mta: %016llx mta "
	    "event=delivery relay=sink.test[127.0.0.1]:%d tls=none "
	    "rcpt=<a@x.test> result=250 reply=\"250 2.0.0 Ok: queued\"\n",
	    (unsigned long long)t.job.msgid, k.port);
	CHECK(strstr(logbuf, want) != NULL, "want %s in\n%s", want, logbuf);
	(void)snprintf(want, sizeof(want), "test_mta: %016llx mta "
	    "event=delivery relay=sink.test[127.0.0.1]:%d tls=none "
	    "rcpt=<b@x.test> result=550 reply=\"550 5.1.1 'no' user\"\n",
	    (unsigned long long)t.job.msgid, k.port);
	CHECK(strstr(logbuf, want) != NULL, "want %s in\n%s", want, logbuf);
	CHECK(count(logbuf, "event=delivery") == 2, "delivery lines:\n%s",
	    logbuf);
	tjob_free(&t);
	loop_drain();
	sink_stop(&k);
}

/* mta_cancel(): done never comes, the session is closed. */
static void
test_cancel(void)
{
	struct sink	 k;
	struct tjob	 t;

	if (sink_start(&k, "--reply", "MAIL=HANG", NULL) == -1) {
		CHECK(0, "no sink");
		return;
	}
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	CHECK(mta_start(&t.job) == 0, "mta_start");
	loop_for(300);
	CHECK(mta_running() == 1, "running %zu", mta_running());
	mta_cancel(&t.job);
	CHECK(mta_running() == 0, "running %zu", mta_running());
	CHECK(mta_sessions() == 0, "sessions %zu", mta_sessions());
	loop_for(100);
	CHECK(t.done == 0, "done after cancel");
	mta_cancel(&t.job);		/* a no-op now */
	tjob_free(&t);

	/* Cancelled before the loop ran: nothing at all happens. */
	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	tjob_host(&t, k.port);
	CHECK(mta_start(&t.job) == 0, "mta_start");
	mta_cancel(&t.job);
	loop_for(100);
	CHECK(t.done == 0 && mta_sessions() == 0, "done %d sessions %zu",
	    t.done, mta_sessions());
	tjob_free(&t);
	sink_stop(&k);
}

/* Bad jobs are refused at once; done is never called for them. */
static void
test_invalid(void)
{
	struct tjob	 t;

	tjob_init(&t, MSG, strlen(MSG), "a@x.test");
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "no host");
	tjob_host(&t, 25);
	t.job.nrcpt = 0;
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "no rcpt");
	t.job.nrcpt = 1;
	t.job.tls = MTA_TLS_REQUIRE;
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "verify, no cfg");
	t.job.tls = 42;
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "tls mode");
	t.job.tls = MTA_TLS_NONE;
	t.hosts[0].ss.ss_family = AF_UNIX;
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "family");
	host_set(&t.hosts[0], "h", 25);
	(void)strlcpy(t.rcpts[0].addr, "a@x\r\nDATA", sizeof(t.rcpts[0].addr));
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "CRLF in rcpt");
	(void)strlcpy(t.rcpts[0].addr, "a@x", sizeof(t.rcpts[0].addr));
	(void)strlcpy(t.job.helo, "a b", sizeof(t.job.helo));
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "space in helo");
	(void)strlcpy(t.job.helo, HELO, sizeof(t.job.helo));
	memset(t.job.sender, 'a', sizeof(t.job.sender));
	CHECK(mta_start(&t.job) == -1 && errno == EINVAL, "unterminated");
	loop_for(50);
	CHECK(t.done == 0, "done for a refused job");
	tjob_free(&t);
}

static void
make_cert(void)
{
	char	 cmd[1024];

	(void)snprintf(certfile, sizeof(certfile), "%s/cert.pem", tmpdir);
	(void)snprintf(keyfile, sizeof(keyfile), "%s/key.pem", tmpdir);
	(void)snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
	    "-subj /CN=sink.test -addext subjectAltName=DNS:sink.test "
	    "-keyout %s -out %s >/dev/null 2>&1", keyfile, certfile);
	have_cert = system(cmd) == 0;
	if (!have_cert)
		printf("openssl could not make a test certificate\n");
}

int
main(void)
{
	struct mta_params	 p;
	char			 err[256], cmd[512];

	log_init(1, 0);
	log_procname("test_mta");
	logecho = getenv("VERBOSE") != NULL;
	log_setverbose(logecho);
	log_setsink(log_capture);
	signal(SIGPIPE, SIG_IGN);
	if (access(SINK, R_OK) == -1 || access(PYTHON, X_OK) == -1) {
		printf("run from the top folder: %s and %s needed\n", SINK,
		    PYTHON);
		return (1);
	}
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	event_init();
	make_cert();
	mta_params_default(&p);
	p.connect_ms = p.greeting_ms = p.helo_ms = p.mail_ms = p.rcpt_ms =
	    p.data_ms = p.block_ms = p.dot_ms = 5000;
	if (mta_init(&p, err, sizeof(err)) == -1)
		fatalx("mta_init: %s", err);

	RUN(test_invalid);
	RUN(test_body);
	RUN(test_body_stuff);
	RUN(test_big);
	RUN(test_pipelining);
	RUN(test_all_refused);
	RUN(test_mail_451_next);
	RUN(test_refused_next);
	RUN(test_mail_5xx);
	RUN(test_greeting);
	RUN(test_helo_fallback);
	RUN(test_lmtp);
	RUN(test_starttls);
	RUN(test_starttls_fallback);
	RUN(test_starttls_require);
	RUN(test_smtps);
	RUN(test_loop);
	RUN(test_drop);
	RUN(test_timeout);
	RUN(test_multiline);
	RUN(test_reuse);
	RUN(test_concurrent);
	RUN(test_idle);
	RUN(test_params);
	RUN(test_log);
	RUN(test_cancel);

	mta_pool_flush();
	loop_drain();
	if (unit_failed == 0) {
		(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		(void)system(cmd);
	} else
		printf("sink folders kept in %s\n", tmpdir);
	return (unit_done());
}
