/*
 * Portcullis: the sandboxes (Linux).  Each test forks children that set
 * up as a worker does, install a process's sandbox and then either do
 * that process's realistic work (and must exit 0) or something the
 * sandbox forbids (and must die of SIGSYS, saying so on stderr).
 */
#ifdef __linux__

#include <sys/types.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "log.h"
#include "sandbox.h"
#include "unit.h"

#define P_FILES		0x01	/* may open files in its root */
#define P_INET		0x02	/* makes outbound IPv4/IPv6 sockets */
#define P_ACCEPT_INET	0x04	/* accepts on passed TCP listeners */
#define P_ACCEPT_UNIX	0x08	/* accepts on the control socket */
#define P_LINK		0x10	/* hard links (Maildir) */
#define P_LOCK		0x20	/* flock(2) */
#define P_BIND		0x40	/* binds a source address */

static const struct proc {
	const char	*name;
	void		(*sandbox)(void);
	int		 flags;
} procs[] = {
	{ "smtp",	sandbox_smtp,	  P_INET | P_ACCEPT_INET },
	{ "auth",	sandbox_auth,	  0 },
	{ "queue",	sandbox_queue,	  P_FILES | P_LOCK },
	{ "delivery",	sandbox_delivery, P_INET | P_BIND },
	{ "mailbox",	sandbox_mailbox,  P_FILES | P_LINK },
	{ "control",	sandbox_control,  P_ACCEPT_UNIX },
};
#define NPROCS	(sizeof(procs) / sizeof(procs[0]))

/* What the test's parent prepares for the children, as smtpd's would. */
static struct {
	char			 dir[PATH_MAX];	/* a queue/mailbox root */
	int			 tcp;		/* listening, 127.0.0.1 */
	struct sockaddr_in	 tcp_addr;
	int			 udp;		/* bound, 127.0.0.1 */
	struct sockaddr_in	 udp_addr;
	int			 unix_listen;	/* the control socket */
	int			 unix_client;	/* connected to it */
	pid_t			 pid;		/* the test's own */
} env;

/* ---- running a child ------------------------------------------------- */

struct result {
	int	 status;
	char	 err[8192];		/* its stderr */
};

/* Fork; the child runs fn(p) with stderr on a pipe and exits 0 after. */
static void
run(const struct proc *p, void (*fn)(const struct proc *), struct result *res)
{
	char	 drain[512];
	int	 fds[2], devnull;
	size_t	 len = 0;
	ssize_t	 n;
	pid_t	 pid;

	memset(res, 0, sizeof(*res));
	if (pipe(fds) == -1) {
		perror("pipe");
		exit(1);
	}
	(void)fflush(stdout);
	(void)fflush(stderr);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		close(fds[0]);
		if ((devnull = open("/dev/null", O_RDWR)) == -1 ||
		    dup2(devnull, STDOUT_FILENO) == -1 ||
		    dup2(fds[1], STDERR_FILENO) == -1)
			_exit(99);
		close(devnull);
		close(fds[1]);
		fn(p);
		exit(0);
	}
	close(fds[1]);
	/* keep what fits, drain the rest: the child must not see EPIPE */
	for (;;) {
		if (len < sizeof(res->err) - 1)
			n = read(fds[0], res->err + len,
			    sizeof(res->err) - 1 - len);
		else
			n = read(fds[0], drain, sizeof(drain));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof(res->err) - 1)
			len += (size_t)n;
	}
	res->err[len] = '\0';
	close(fds[0]);
	if (waitpid(pid, &res->status, 0) == -1) {
		perror("waitpid");
		exit(1);
	}
}

static int
exited0(const struct result *res)
{
	return WIFEXITED(res->status) && WEXITSTATUS(res->status) == 0;
}

static int
died_sigsys(const struct result *res)
{
	return WIFSIGNALED(res->status) && WTERMSIG(res->status) == SIGSYS;
}

static const char *
how(const struct result *res)
{
	static char	 buf[sizeof(res->err) + 64];

	if (WIFEXITED(res->status))
		(void)snprintf(buf, sizeof(buf), "exit %d, stderr: %s",
		    WEXITSTATUS(res->status), res->err);
	else if (WIFSIGNALED(res->status))
		(void)snprintf(buf, sizeof(buf), "signal %d, stderr: %s",
		    WTERMSIG(res->status), res->err);
	else
		(void)snprintf(buf, sizeof(buf), "status %#x", res->status);
	return buf;
}

/* In a child: a step of the work failed; say which and exit non-zero. */
#define MUST(cond) do {							\
	if (!(cond)) {							\
		dprintf(STDERR_FILENO, "%s:%d: %s: %s\n", __FILE__,	\
		    __LINE__, #cond, strerror(errno));			\
		_exit(3);						\
	}								\
} while (0)

/* A worker's setup up to its sandbox (privilege drop aside). */
static void
worker_setup(const struct proc *p)
{
	log_init(1, LOG_MAIL);		/* tzset() */
	log_procname(p->name);
	(void)event_init();
	if (p->flags & P_FILES)
		MUST(chdir(env.dir) == 0);
}

/* ---- the work -------------------------------------------------------- */

static struct {
	int		 chan[2];	/* an imsg channel */
	int		 got_msg, got_timer, got_signal;
	struct event	 ev_chan, ev_timer, ev_signal;
} loop;

static void
loop_done(void)
{
	if (loop.got_msg && loop.got_timer && loop.got_signal)
		event_loopexit(NULL);
}

static void
loop_chan(int fd, short ev, void *arg)
{
	char	 buf[64];

	(void)ev;
	(void)arg;
	if (read(fd, buf, sizeof(buf)) > 0)
		loop.got_msg = 1;
	loop_done();
}

static void
loop_timer(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	loop.got_timer = 1;
	loop_done();
}

static void
loop_signal(int sig, short ev, void *arg)
{
	(void)sig;
	(void)ev;
	(void)arg;
	loop.got_signal = 1;
	loop_done();
}

/* Before the sandbox: the channel and the events on it. */
static void
loop_setup(void)
{
	memset(&loop, 0, sizeof(loop));
	MUST(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    loop.chan) == 0);
	event_set(&loop.ev_chan, loop.chan[1], EV_READ | EV_PERSIST,
	    loop_chan, NULL);
	MUST(event_add(&loop.ev_chan, NULL) == 0);
	evtimer_set(&loop.ev_timer, loop_timer, NULL);
	signal_set(&loop.ev_signal, SIGUSR1, loop_signal, NULL);
	MUST(signal_add(&loop.ev_signal, NULL) == 0);
}

/* After it: a message, a timer and a signal through the event loop. */
static void
loop_run(void)
{
	struct timeval	 tv = { 0, 10000 };

	MUST(evtimer_add(&loop.ev_timer, &tv) == 0);
	MUST(write(loop.chan[0], "hello", 5) == 5);
	MUST(raise(SIGUSR1) == 0);
	MUST(event_dispatch() == 0);
	MUST(loop.got_msg && loop.got_timer && loop.got_signal);
}

static void
send_fd(int sock, int fd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	char		 c = 'F';

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	MUST(sendmsg(sock, &msg, 0) == 1);
}

static int
recv_fd(int sock)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	char		 c;
	int		 fd = -1;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	MUST(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) == 1);
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	MUST(fd != -1);
	return fd;
}


static int
cmp_int(const void *a, const void *b)
{
	int	 x = *(const int *)a, y = *(const int *)b;

	return x < y ? -1 : x > y;
}

/* What every worker does: memory, time, logging, randomness, sorting. */
static void
work_runtime(void)
{
	struct timespec	 ts;
	struct timeval	 tv;
	struct tm	 tm;
	time_t		 now;
	char		 buf[64], *small[64], *big, *p;
	int		 i, nums[2048];
	size_t		 j;

	/* small and large blocks; growing a mapped block remaps it */
	for (i = 0; i < 64; i++)
		MUST((small[i] = malloc((size_t)i * 16 + 1)) != NULL);
	MUST((big = malloc(1 << 20)) != NULL);
	memset(big, 'x', 1 << 20);
	MUST((p = realloc(big, 8 << 20)) != NULL);
	big = p;
	MUST((p = calloc(1, 300 << 10)) != NULL);
	free(p);
	free(big);
	for (i = 0; i < 64; i++)
		free(small[i]);

	MUST(gettimeofday(&tv, NULL) == 0);
	MUST(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	MUST(clock_gettime(CLOCK_REALTIME, &ts) == 0);
	now = time(NULL);
	MUST(localtime_r(&now, &tm) != NULL);
	MUST(strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z",
	    &tm) > 0);
	log_info("working at %s", buf);
	log_debug("not shown");

	arc4random_buf(buf, sizeof(buf));
	MUST(getentropy(buf, sizeof(buf)) == 0);
	for (j = 0; j < sizeof(nums) / sizeof(nums[0]); j++)
		nums[j] = (int)arc4random_uniform(100000);
	qsort(nums, sizeof(nums) / sizeof(nums[0]), sizeof(nums[0]),
	    cmp_int);
}

/* Pass a descriptor opened before the sandbox over the channel. */
static void
work_fdpass(int rfd, int wfd)
{
	char	 c;
	int	 got, flags;

	send_fd(loop.chan[0], wfd);
	got = recv_fd(loop.chan[1]);
	MUST((flags = fcntl(got, F_GETFL)) != -1);
	MUST(fcntl(got, F_SETFL, flags | O_NONBLOCK) == 0);
	MUST(fcntl(got, F_SETFD, FD_CLOEXEC) == 0);
	MUST(write(got, "!", 1) == 1);
	MUST(close(got) == 0);
	MUST(read(rfd, &c, 1) == 1 && c == '!');
}

/* queue and mailbox: a spool file's life, relative to the root. */
static void
work_files(const struct proc *p)
{
	struct stat	 sb;
	struct statfs	 sfs;
	struct dirent	*de;
	DIR		*dir;
	FILE		*fp;
	char		 buf[64];
	int		 fd, got, n;

	MUST(mkdir("tmp", 0700) == 0);
	MUST(mkdir("new", 0700) == 0);
	MUST((fd = open("tmp/1", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) != -1);
	MUST(write(fd, "Subject: x\n\nbody\n", 17) == 17);
	MUST(pwrite(fd, "S", 1, 0) == 1);
	MUST(lseek(fd, 0, SEEK_END) == 17);
	MUST(fstat(fd, &sb) == 0 && sb.st_size == 17);
	MUST(fsync(fd) == 0);
	MUST(fdatasync(fd) == 0);
	MUST(ftruncate(fd, 16) == 0);
	if (p->flags & P_LOCK)
		MUST(flock(fd, LOCK_EX | LOCK_NB) == 0);
	MUST(close(fd) == 0);
	MUST(rename("tmp/1", "new/1") == 0);
	MUST(stat("new/1", &sb) == 0 && sb.st_size == 16);
	MUST(statfs(".", &sfs) == 0);

	/* stdio over a spool file */
	MUST((fp = fopen("new/1", "r")) != NULL);
	MUST(fgets(buf, sizeof(buf), fp) != NULL);
	MUST(strcmp(buf, "Subject: x\n") == 0);
	MUST(fclose(fp) == 0);

	/* hand it to another process, as the queue does to smtp */
	MUST((fd = open("new/1", O_RDONLY | O_CLOEXEC)) != -1);
	send_fd(loop.chan[0], fd);
	MUST(close(fd) == 0);
	got = recv_fd(loop.chan[1]);
	MUST(pread(got, buf, 7, 0) == 7 && memcmp(buf, "Subject", 7) == 0);
	MUST(close(got) == 0);

	MUST((dir = opendir("new")) != NULL);
	for (n = 0; (de = readdir(dir)) != NULL; )
		if (de->d_name[0] != '.')
			n++;
	MUST(closedir(dir) == 0);
	MUST(n == 1);

	if (p->flags & P_LINK) {
		MUST(link("new/1", "tmp/2") == 0);
		MUST(unlink("tmp/2") == 0);
	}
	MUST(unlink("new/1") == 0);
	MUST(rmdir("new") == 0);
	MUST(rmdir("tmp") == 0);
}

static void
wait_cb(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	*(int *)arg = 1;
}

/* Wait for fd, through the event loop. */
static void
wait_for(int fd, short what)
{
	struct event	 ev;
	int		 ready = 0;

	event_set(&ev, fd, what, wait_cb, &ready);
	MUST(event_add(&ev, NULL) == 0);
	while (!ready)
		MUST(event_loop(EVLOOP_ONCE) == 0);
}

static struct {
	char	 line[64];
	int	 done;
} session;

static void
session_read(struct bufferevent *bev, void *arg)
{
	size_t	 n;

	(void)arg;
	n = bufferevent_read(bev, session.line, sizeof(session.line) - 1);
	session.line[n] = '\0';
	session.done = 1;
}

static void
session_error(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
	session.done = -1;
}

/* smtp and delivery: a TCP connection out, a DNS-like datagram. */
static void
work_inet(const struct proc *p)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	 src;
	struct bufferevent	*bev;
	socklen_t		 len;
	char			 buf[64];
	int			 s, c, u, on = 1, err;

	MUST((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) != -1);
	MUST(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0);
	if (p->flags & P_BIND) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		MUST(bind(s, (struct sockaddr *)&src, sizeof(src)) == 0);
	}
	MUST(connect(s, (struct sockaddr *)&env.tcp_addr,
	    sizeof(env.tcp_addr)) == 0 || errno == EINPROGRESS);
	wait_for(s, EV_WRITE);
	len = sizeof(err);
	MUST(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
	    err == 0);
	len = sizeof(ss);
	MUST(getsockname(s, (struct sockaddr *)&ss, &len) == 0);
	len = sizeof(ss);
	MUST(getpeername(s, (struct sockaddr *)&ss, &len) == 0);

	if (p->flags & P_ACCEPT_INET) {
		/* the server side, with libevent's buffered I/O */
		len = sizeof(ss);
		MUST((c = accept4(env.tcp, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1);
		MUST((bev = bufferevent_new(c, session_read, NULL,
		    session_error, NULL)) != NULL);
		MUST(bufferevent_enable(bev, EV_READ | EV_WRITE) == 0);
		MUST(bufferevent_write(bev, "220 hi\r\n", 8) == 0);
		MUST(write(s, "EHLO x\r\n", 8) == 8);
		memset(&session, 0, sizeof(session));
		while (session.done == 0)
			MUST(event_loop(EVLOOP_ONCE) == 0);
		MUST(session.done == 1);
		MUST(strcmp(session.line, "EHLO x\r\n") == 0);
		wait_for(s, EV_READ);
		MUST(read(s, buf, sizeof(buf)) == 8);
		bufferevent_free(bev);
		MUST(shutdown(c, SHUT_RDWR) == 0);
		MUST(close(c) == 0);
	} else
		MUST(write(s, "EHLO x\r\n", 8) == 8);
	MUST(shutdown(s, SHUT_WR) == 0);
	MUST(close(s) == 0);

	/* a resolver's query */
	MUST((u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) != -1);
	MUST(connect(u, (struct sockaddr *)&env.udp_addr,
	    sizeof(env.udp_addr)) == 0);
	MUST(send(u, "query", 5, 0) == 5);
	len = sizeof(ss);
	MUST(recvfrom(env.udp, buf, sizeof(buf), 0, (struct sockaddr *)&ss,
	    &len) == 5);
	MUST(close(u) == 0);

	/* IPv6 may be off here; the sandbox must still let us ask */
	if ((u = socket(AF_INET6, SOCK_DGRAM, 0)) != -1)
		MUST(close(u) == 0);
	else
		MUST(errno == EAFNOSUPPORT);
}

/* control: a client of the control socket, and who it is. */
static void
work_control(void)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	char		 buf[64];
	int		 c;

	MUST((c = accept4(env.unix_listen, NULL, NULL, SOCK_CLOEXEC)) != -1);
	MUST(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0);
	MUST(cred.pid == env.pid);
	MUST(read(c, buf, sizeof(buf)) == 11 && memcmp(buf, "show status",
	    11) == 0);
	MUST(write(c, "ok\n", 3) == 3);
	MUST(close(c) == 0);
}

static void
child_work(const struct proc *p)
{
	int	 pipefd[2];

	worker_setup(p);
	loop_setup();
	MUST(pipe(pipefd) == 0);
	p->sandbox();

	work_runtime();
	work_fdpass(pipefd[0], pipefd[1]);
	if (p->flags & P_FILES)
		work_files(p);
	if (p->flags & P_INET)
		work_inet(p);
	if (p->flags & P_ACCEPT_UNIX)
		work_control();
	loop_run();
	log_info("done");
}

/* ---- what must kill ---------------------------------------------------- */

static const struct proc *
sandboxed(const struct proc *p)
{
	worker_setup(p);
	p->sandbox();
	return p;
}

static void
child_open(const struct proc *p)
{
	sandboxed(p);
	(void)open("/etc/passwd", O_RDONLY);
}

static void
child_mmap_exec(const struct proc *p)
{
	sandboxed(p);
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void
child_mprotect_exec(const struct proc *p)
{
	void	*m;

	sandboxed(p);
	MUST((m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) != MAP_FAILED);
	(void)mprotect(m, 4096, PROT_READ | PROT_EXEC);
}

static void
child_exec(const struct proc *p)
{
	char	*argv[] = { (char *)(uintptr_t)"true", NULL };

	sandboxed(p);
	(void)execv("/bin/true", argv);
}

static void
child_fork(const struct proc *p)
{
	sandboxed(p);
	if (fork() == 0)
		_exit(0);
}

static void
child_kill_other(const struct proc *p)
{
	sandboxed(p);
	(void)kill(env.pid, 0);
}

static void
child_unix_socket(const struct proc *p)
{
	sandboxed(p);
	(void)socket(AF_UNIX, SOCK_STREAM, 0);
}

static void
child_inet_socket(const struct proc *p)
{
	sandboxed(p);
	(void)socket(AF_INET, SOCK_STREAM, 0);
}

static void
child_raw_socket(const struct proc *p)
{
	sandboxed(p);
	(void)socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
}

#if defined(__x86_64__)
/*
 * getpid() through the x32 entry point (__X32_SYSCALL_BIT): the same
 * audit architecture as x86_64, a different ABI.  (The i386 entry,
 * int $0x80, is often compiled out of the kernel: SIGSEGV, no test.)
 */
static void
child_bad_arch(const struct proc *p)
{
	long	 ret;

	sandboxed(p);
	__asm__ volatile ("syscall" : "=a" (ret) : "a" (0x40000000L | 39L)
	    : "rcx", "r11", "memory");
	(void)ret;
}
#endif

static const struct violation {
	const char	*what;
	void		(*fn)(const struct proc *);
	int		 except;	/* procs for which it is allowed */
	const char	*call;		/* the name in the report */
} violations[] = {
	{ "open",	 child_open,	       P_FILES,	"openat" },
	{ "mmap exec",	 child_mmap_exec,      0,	"mmap" },
	{ "mprotect exec", child_mprotect_exec, 0,	"mprotect" },
	{ "exec",	 child_exec,	       0,	"execve" },
	{ "fork",	 child_fork,	       0,	"clone" },
	{ "kill",	 child_kill_other,     0,	"kill" },
	{ "unix socket", child_unix_socket,    0,	"socket" },
	{ "inet socket", child_inet_socket,    P_INET,	"socket" },
	{ "raw socket",	 child_raw_socket,     0,	"socket" },
};

/* ---- tests ------------------------------------------------------------- */

static void
test_work(void)
{
	struct result	 res;
	size_t		 i;

	for (i = 0; i < NPROCS; i++) {
		run(&procs[i], child_work, &res);
		CHECK(exited0(&res), "%s: work: got %s want exit 0",
		    procs[i].name, how(&res));
	}
}

static void
test_violations(void)
{
	const struct violation	*v;
	struct result		 res;
	char			 want[128];
	size_t			 i, j;

	for (j = 0; j < sizeof(violations) / sizeof(violations[0]); j++) {
		v = &violations[j];
		for (i = 0; i < NPROCS; i++) {
			if (procs[i].flags & v->except)
				continue;
			run(&procs[i], v->fn, &res);
			CHECK(died_sigsys(&res), "%s: %s: got %s want SIGSYS",
			    procs[i].name, v->what, how(&res));
			(void)snprintf(want, sizeof(want),
			    "smtpd: %s: sandbox violation: system call ",
			    procs[i].name);
			CHECK(strstr(res.err, want) != NULL,
			    "%s: %s: stderr \"%s\" want \"%s\"",
			    procs[i].name, v->what, res.err, want);
			(void)snprintf(want, sizeof(want), " %s (arch 0x",
			    v->call);
			CHECK(strstr(res.err, want) != NULL,
			    "%s: %s: stderr \"%s\" want \"%s\"",
			    procs[i].name, v->what, res.err, want);
		}
	}
}

static void
test_bad_arch(void)
{
#if defined(__x86_64__)
	struct result	 res;
	size_t		 i;

	for (i = 0; i < NPROCS; i++) {
		run(&procs[i], child_bad_arch, &res);
		CHECK(died_sigsys(&res), "%s: x32 call: got %s want SIGSYS",
		    procs[i].name, how(&res));
		/* killed by the architecture check, not trapped */
		CHECK(strstr(res.err, "sandbox violation") == NULL,
		    "%s: x32 call: stderr \"%s\"", procs[i].name, res.err);
	}
#endif
}

/* The parent: it forks and execs workers, which stack their own. */
static void
child_parent_work(const struct proc *p)
{
	char	*argv[] = { (char *)(uintptr_t)"true", NULL };
	pid_t	 pid;
	int	 status;

	(void)p;
	log_init(1, LOG_MAIL);
	log_procname("parent");
	sandbox_parent();

	MUST((pid = fork()) != -1);
	if (pid == 0) {
		execv("/bin/true", argv);
		_exit(127);
	}
	MUST(waitpid(pid, &status, 0) == pid);
	MUST(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	MUST((pid = fork()) != -1);
	if (pid == 0) {
		sandbox_auth();
		(void)open("/etc/passwd", O_RDONLY);
		_exit(0);
	}
	MUST(waitpid(pid, &status, 0) == pid);
	MUST(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
	MUST(unlink("/nonexistent/portcullis") == -1 && errno == ENOENT);
}

static void
child_parent_mount(const struct proc *p)
{
	(void)p;
	log_init(1, LOG_MAIL);
	sandbox_parent();
	(void)mount("none", "/nonexistent", "tmpfs", 0, NULL);
}

static void
test_parent(void)
{
	struct result	 res;

	run(NULL, child_parent_work, &res);
	CHECK(exited0(&res), "parent: work: got %s want exit 0", how(&res));
	run(NULL, child_parent_mount, &res);
	CHECK(died_sigsys(&res), "parent: mount: got %s want SIGSYS",
	    how(&res));
	CHECK(strstr(res.err, "smtpd: parent: sandbox violation: system "
	    "call 165 mount (arch 0x") != NULL || sizeof(long) != 8,
	    "parent: mount: stderr \"%s\"", res.err);
}

static void
test_describe(void)
{
	static const struct {
		const char	*name;
		const char	*has;		/* NULL: the whole answer */
		int		 want;
	} rows[] = {
		{ "smtp",	" accept4",		1 },
		{ "smtp",	" openat",		0 },
		{ "smtp",	"socket(AF_INET,SOCK_STREAM)", 1 },
		{ "auth",	" socket",		0 },
		{ "auth",	" connect",		0 },
		{ "auth",	" openat",		0 },
		{ "auth",	" mmap(!PROT_EXEC)",	1 },
		{ "queue",	" openat",		1 },
		{ "queue",	" link",		0 },
		{ "delivery",	" openat",		0 },
		{ "delivery",	" accept4",		0 },
		{ "mailbox",	" link",		1 },
		{ "control",	" getsockopt(SOL_SOCKET,SO_PEERCRED)", 1 },
		{ "control",	" connect",		0 },
		{ "control",	" openat",		0 },
		{ "parent",	" ptrace",		-1 },
		{ "parent",	" mount",		1 },
	};
	const char	*d;
	size_t		 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		d = sandbox_describe(rows[i].name);
		CHECK(d != NULL, "%s: no description", rows[i].name);
		if (d == NULL || rows[i].want == -1)
			continue;
		CHECK((strstr(d, rows[i].has) != NULL) == rows[i].want,
		    "%s: \"%s\" in \"%s\": got %d want %d", rows[i].name,
		    rows[i].has, d, !rows[i].want, rows[i].want);
	}
	CHECK(sandbox_describe("nonesuch") == NULL, "nonesuch: got \"%s\"",
	    sandbox_describe("nonesuch"));
}

#ifdef __SANITIZE_ADDRESS__
/* A bug in a sandboxed process still gets its full ASan report. */
static void
child_heap_overflow(const struct proc *p)
{
	/* opaque to -Warray-bounds and to UBSan's object-size check */
	char *volatile	 opaque;
	volatile size_t	 past = 8;
	volatile char	*x;

	sandboxed(p);
	MUST((opaque = malloc(8)) != NULL);
	x = opaque;
	x[past] = 1;
	free(opaque);
}

static void
test_sanitizer_report(void)
{
	static const char *const wants[] = {
		"ERROR: AddressSanitizer: heap-buffer-overflow",
		"WRITE of size 1",
		"#0 ",
		"allocated by thread T0 here",
		"SUMMARY: AddressSanitizer: heap-buffer-overflow",
	};
	struct result	 res;
	size_t		 i, j;

	for (i = 0; i < NPROCS; i++) {
		run(&procs[i], child_heap_overflow, &res);
		CHECK(WIFEXITED(res.status) && WEXITSTATUS(res.status) != 0,
		    "%s: heap overflow: got %s want ASan's exit",
		    procs[i].name, how(&res));
		for (j = 0; j < sizeof(wants) / sizeof(wants[0]); j++)
			CHECK(strstr(res.err, wants[j]) != NULL,
			    "%s: heap overflow: stderr \"%s\" want \"%s\"",
			    procs[i].name, res.err, wants[j]);
	}
}

/* And UBSan's, though its runtime reads /proc lazily at the first one. */
static void
child_overflow(const struct proc *p)
{
	volatile int	 i = INT_MAX;

	sandboxed(p);
	i = i + (int)p->flags + 1;
	(void)i;
}

static void
test_ubsan_report(void)
{
	struct result	 res;
	size_t		 i;

	if (dlsym(RTLD_DEFAULT, "__ubsan_handle_add_overflow") == NULL)
		return;			/* ASan without UBSan */
	for (i = 0; i < NPROCS; i++) {
		run(&procs[i], child_overflow, &res);
		CHECK(WIFEXITED(res.status), "%s: overflow: got %s want "
		    "an exit", procs[i].name, how(&res));
		CHECK(strstr(res.err, "runtime error: signed integer "
		    "overflow") != NULL, "%s: overflow: stderr \"%s\"",
		    procs[i].name, res.err);
	}
}
#endif

/* ---- the test's parent: what smtpd's parent would have opened ------- */

static void
setup(void)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	char			 tmpl[] = "/tmp/test_sandbox.XXXXXX";

	env.pid = getpid();
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	(void)strlcpy(env.dir, tmpl, sizeof(env.dir));

	env.tcp_addr.sin_family = AF_INET;
	env.tcp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	env.udp_addr = env.tcp_addr;
	len = sizeof(env.tcp_addr);
	if ((env.tcp = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(env.tcp, (struct sockaddr *)&env.tcp_addr, len) == -1 ||
	    listen(env.tcp, 16) == -1 ||
	    getsockname(env.tcp, (struct sockaddr *)&env.tcp_addr,
	    &len) == -1) {
		perror("tcp listener");
		exit(1);
	}
	len = sizeof(env.udp_addr);
	if ((env.udp = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(env.udp, (struct sockaddr *)&env.udp_addr, len) == -1 ||
	    getsockname(env.udp, (struct sockaddr *)&env.udp_addr,
	    &len) == -1) {
		perror("udp socket");
		exit(1);
	}

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/control.sock", env.dir) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "control socket path too long\n");
		exit(1);
	}
	if ((env.unix_listen = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(env.unix_listen, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 ||
	    listen(env.unix_listen, 4) == -1 ||
	    (env.unix_client = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(env.unix_client, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 ||
	    write(env.unix_client, "show status", 11) != 11) {
		perror("control socket");
		exit(1);
	}
	if (unlink(sun.sun_path) == -1) {
		perror("unlink");
		exit(1);
	}
}

static void
teardown(void)
{
	close(env.tcp);
	close(env.udp);
	close(env.unix_listen);
	close(env.unix_client);
	if (rmdir(env.dir) == -1)
		perror(env.dir);
}

int
main(void)
{
	setup();
	RUN(test_describe);
	RUN(test_work);
	RUN(test_violations);
	RUN(test_bad_arch);
	RUN(test_parent);
#ifdef __SANITIZE_ADDRESS__
	RUN(test_sanitizer_report);
	RUN(test_ubsan_report);
#endif
	teardown();
	return unit_done();
}

#else /* !__linux__ */

#include "unit.h"

int
main(void)
{
	return unit_done();
}

#endif /* __linux__ */
