/*
 * Portcullis: unit tests for lib/ipc.c, the framed messages between
 * processes: framing, partial reads, descriptor passing, bad frames
 * from a peer, the field readers, the libevent glue and type names.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"
#include "unit.h"

enum {
	T_HELLO = 7100,
	T_DATA,
	T_EMPTY,
	T_PING,
	T_PONG,
	T_BYE,
	T_FD,
	T_UNNAMED,
	T_LAST
};

static const char *const type_names[] = {
	"T_HELLO",
	"T_DATA",
	"T_EMPTY",
	"T_PING",
	"T_PONG",
	"T_BYE",
	"T_FD",
	NULL,
};

static int	 in_child;

/* Forked children exit through fatalx(): no leak report there. */
int	 __lsan_is_turned_off(void);
int
__lsan_is_turned_off(void)
{
	return in_child;
}

static void
mkpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		fatal("socketpair");
}

static void
nonblock(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		fatal("fcntl");
}

static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the directory's own descriptor */
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Send bytes, and optionally descriptors, raw on a socket. */
static ssize_t
send_raw(int s, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 32)];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	return sendmsg(s, &msg, MSG_NOSIGNAL);
}

static size_t
mkhdr(uint8_t *buf, uint32_t type, uint16_t len, uint16_t flags)
{
	struct ipc_hdr	 hdr;

	hdr.type = type;
	hdr.len = len;
	hdr.flags = flags;
	hdr.peerid = 1;
	hdr.pid = (uint32_t)getpid();
	memcpy(buf, &hdr, sizeof(hdr));
	return sizeof(hdr);
}

/*
 * Run fn in a child with stderr captured: it must exit with status 1
 * (fatalx) and its output must contain each of the wanted strings.
 */
static void
expect_fatal(const char *what, void (*fn)(void *), void *arg,
    const char *want1, const char *want2)
{
	char	 out[4096];
	size_t	 off = 0;
	ssize_t	 n;
	pid_t	 pid;
	int	 p[2], status;

	if (pipe(p) == -1)
		fatal("pipe");
	fflush(stdout);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		in_child = 1;
		close(p[0]);
		if (dup2(p[1], STDERR_FILENO) == -1)
			_exit(99);
		fn(arg);
		_exit(98);		/* should not return */
	}
	close(p[1]);
	while (off < sizeof(out) - 1 &&
	    (n = read(p[0], out + off, sizeof(out) - 1 - off)) > 0)
		off += (size_t)n;
	out[off] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) == -1)
		fatal("waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "%s: got status %#x want exit 1 (output \"%s\")", what, status,
	    out);
	CHECK(want1 == NULL || strstr(out, want1) != NULL,
	    "%s: got \"%s\" want it to name \"%s\"", what, out, want1);
	CHECK(want2 == NULL || strstr(out, want2) != NULL,
	    "%s: got \"%s\" want it to name \"%s\"", what, out, want2);
}

/* Drain everything a channel can read now into msgs via fn. */
static int
get_one(struct ipc *ipc, struct ipc_msg *m)
{
	int	 r;

	for (;;) {
		if ((r = ipc_get(ipc, m)) != 0)
			return r;
		if (ipc_read(ipc) <= 0)
			return 0;
	}
}

/* ---- framing -------------------------------------------------------- */

static void
test_roundtrip(void)
{
	struct ipc	 a, b;
	struct ipc_obuf	*ob;
	struct ipc_msg	 m;
	const void	*data;
	size_t		 len;
	uint8_t		 raw[5] = { 1, 2, 3, 4, 5 }, rawin[5];
	int		 sv[2];

	mkpair(sv);
	ipc_init(&a, sv[0], "queue");
	ipc_init(&b, sv[1], "smtp");

	ob = ipc_create(&a, T_HELLO, 42, -1);
	ipc_add_u8(ob, 0xfe);
	ipc_add_u32(ob, 0xdeadbeef);
	ipc_add_u64(ob, UINT64_MAX - 1);
	ipc_add_i64(ob, INT64_MIN);
	ipc_add_string(ob, "hello, world");
	ipc_add_string(ob, NULL);
	ipc_add_string(ob, "");
	ipc_add_data(ob, "\0\1\2", 3);
	ipc_add_data(ob, NULL, 0);
	ipc_add(ob, raw, sizeof(raw));
	CHECK(ipc_close(ob) == 0, "ipc_close: %s", strerror(errno));
	CHECK(ipc_compose(&a, T_DATA, 7, -1, "abc", 3) == 0, "compose");
	CHECK(ipc_compose(&a, T_EMPTY, 0, -1, NULL, 0) == 0, "compose");
	CHECK(a.outcount == 3, "got outcount %zu want 3", a.outcount);
	CHECK(ipc_flush(&a) == 0, "ipc_flush: %s", strerror(errno));
	CHECK(a.outcount == 0 && a.outbytes == 0, "queue not empty");

	CHECK(get_one(&b, &m) == 1, "no T_HELLO");
	CHECK(m.hdr.type == T_HELLO, "got type %u", m.hdr.type);
	CHECK(m.hdr.peerid == 42, "got peerid %u", m.hdr.peerid);
	CHECK(m.hdr.pid == (uint32_t)getpid(), "got pid %u", m.hdr.pid);
	CHECK(m.hdr.flags == 0 && m.fd == -1, "got flags %u fd %d",
	    m.hdr.flags, m.fd);
	CHECK(m.hdr.len == IPC_HDR_SIZE + m.len, "got len %u payload %zu",
	    m.hdr.len, m.len);
	CHECK_STR(m.peer, "smtp");
	CHECK(ipc_get_u8(&m) == 0xfe, "u8");
	CHECK(ipc_get_u32(&m) == 0xdeadbeef, "u32");
	CHECK(ipc_get_u64(&m) == UINT64_MAX - 1, "u64");
	CHECK(ipc_get_i64(&m) == INT64_MIN, "i64");
	CHECK_STR(ipc_get_string(&m), "hello, world");
	CHECK_STR(ipc_get_string(&m), NULL);
	CHECK_STR(ipc_get_string(&m), "");
	data = ipc_get_data(&m, &len);
	CHECK(len == 3 && memcmp(data, "\0\1\2", 3) == 0, "data len %zu", len);
	data = ipc_get_data(&m, &len);
	CHECK(len == 0 && data != NULL, "empty data len %zu", len);
	ipc_get_raw(&m, rawin, sizeof(rawin));
	CHECK(memcmp(raw, rawin, sizeof(raw)) == 0, "raw bytes differ");
	ipc_end(&m);

	CHECK(get_one(&b, &m) == 1, "no T_DATA");
	CHECK(m.hdr.type == T_DATA && m.hdr.peerid == 7 && m.len == 3 &&
	    memcmp(m.data, "abc", 3) == 0, "got type %u len %zu",
	    m.hdr.type, m.len);
	CHECK(get_one(&b, &m) == 1, "no T_EMPTY");
	CHECK(m.hdr.type == T_EMPTY && m.len == 0, "got type %u len %zu",
	    m.hdr.type, m.len);
	ipc_end(&m);
	CHECK(ipc_get(&b, &m) == 0, "a fourth frame");

	ipc_clear(&a);
	ipc_clear(&b);
	ipc_clear(&b);		/* idempotent */
}

static void
test_many_frames_one_read(void)
{
	struct ipc	 a, b;
	struct ipc_msg	 m;
	ssize_t		 n;
	uint32_t	 i, v;
	int		 sv[2], got = 0;

	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	ipc_init(&b, sv[1], "b");
	for (i = 0; i < 200; i++)
		CHECK(ipc_compose(&a, T_PING, i, -1, &i, sizeof(i)) == 0,
		    "compose %u", i);
	CHECK(ipc_flush(&a) == 0, "flush");
	n = ipc_read(&b);
	CHECK(n == 200 * (IPC_HDR_SIZE + 4), "one read got %zd bytes", n);
	while (ipc_get(&b, &m) == 1) {
		v = ipc_get_u32(&m);
		ipc_end(&m);
		CHECK(v == (uint32_t)got && m.hdr.peerid == (uint32_t)got,
		    "got %u want %d", v, got);
		got++;
	}
	CHECK(got == 200, "got %d frames want 200", got);
	ipc_clear(&a);
	ipc_clear(&b);
}

/* Big frames through a non-blocking pair: partial writes, partial
 * reads, and the read buffer compacted between them. */
static void
test_many_big_frames(void)
{
	static uint8_t	 buf[IPC_MAX_PAYLOAD];
	struct ipc	 a, b;
	struct ipc_msg	 m;
	size_t		 i, len;
	int		 sv[2], sent = 0, got = 0, bad = 0, r;
	const int	 want = 60;

	mkpair(sv);
	nonblock(sv[0]);
	nonblock(sv[1]);
	ipc_init(&a, sv[0], "a");
	ipc_init(&b, sv[1], "b");
	while (got < want) {
		while (sent < want && a.outcount < 4) {
			len = IPC_MAX_PAYLOAD - (size_t)sent * 997;
			for (i = 0; i < len; i++)
				buf[i] = (uint8_t)(i * 31 + (size_t)sent);
			CHECK(ipc_compose(&a, T_DATA, sent, -1, buf, len) == 0,
			    "compose");
			sent++;
		}
		r = ipc_write(&a);
		CHECK(r != -1, "ipc_write: %s", strerror(errno));
		if (ipc_read(&b) == -1 && errno != EAGAIN)
			CHECK(0, "ipc_read: %s", strerror(errno));
		while ((r = ipc_get(&b, &m)) == 1) {
			len = IPC_MAX_PAYLOAD - (size_t)got * 997;
			if (m.len != len || m.hdr.peerid != (uint32_t)got)
				bad++;
			for (i = 0; i < m.len; i++)
				if (m.data[i] != (uint8_t)(i * 31 + (size_t)got))
					bad++;
			got++;
		}
		CHECK(r == 0, "ipc_get: %s", strerror(errno));
		if (r == -1 || unit_cur_failed)
			break;
	}
	CHECK(got == want && bad == 0, "got %d frames, %d bad bytes", got,
	    bad);
	ipc_clear(&a);
	ipc_clear(&b);
}

/* What a channel puts on the wire, captured from the other end. */
static size_t
wire(uint8_t *out, size_t outsz, int nframes)
{
	struct ipc	 a;
	struct ipc_obuf	*ob;
	ssize_t		 n;
	size_t		 off = 0;
	int		 sv[2], i;

	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	for (i = 0; i < nframes; i++) {
		ob = ipc_create(&a, T_HELLO + i, i, -1);
		ipc_add_string(ob, "partial");
		ipc_add_u32(ob, (uint32_t)i);
		if (ipc_close(ob) == -1)
			fatal("ipc_close");
	}
	if (ipc_flush(&a) == -1)
		fatal("ipc_flush");
	ipc_clear(&a);
	while (off < outsz && (n = read(sv[1], out + off, outsz - off)) > 0)
		off += (size_t)n;
	close(sv[1]);
	return off;
}

static void
test_one_byte_at_a_time(void)
{
	uint8_t		 buf[1024];
	struct ipc	 b;
	struct ipc_msg	 m;
	size_t		 len, i;
	int		 sv[2], got = 0, r;

	len = wire(buf, sizeof(buf), 3);
	CHECK(len == 3 * (IPC_HDR_SIZE + 4 + 8 + 4), "wire %zu bytes", len);
	mkpair(sv);
	ipc_init(&b, sv[1], "b");
	for (i = 0; i < len; i++) {
		CHECK(write(sv[0], buf + i, 1) == 1, "write");
		CHECK(ipc_read(&b) == 1, "read byte %zu", i);
		while ((r = ipc_get(&b, &m)) == 1) {
			CHECK(m.hdr.type == (uint32_t)(T_HELLO + got),
			    "got type %u", m.hdr.type);
			/* a frame completes only with its last byte */
			CHECK(i + 1 == (size_t)(got + 1) * (len / 3),
			    "frame %d complete at byte %zu", got, i);
			CHECK_STR(ipc_get_string(&m), "partial");
			CHECK(ipc_get_u32(&m) == (uint32_t)got, "u32");
			ipc_end(&m);
			got++;
		}
		CHECK(r == 0, "ipc_get: %s", strerror(errno));
	}
	CHECK(got == 3, "got %d frames want 3", got);
	close(sv[0]);
	CHECK(ipc_read(&b) == 0, "want EOF");
	ipc_clear(&b);
}

static void
test_max_payload(void)
{
	static uint8_t	 buf[IPC_MAX_PAYLOAD + 1];
	struct ipc	 a, b;
	struct ipc_obuf	*ob;
	struct ipc_msg	 m;
	size_t		 i;
	int		 sv[2];

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ (i >> 8));
	memset(&m, 0, sizeof(m));
	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	ipc_init(&b, sv[1], "b");

	errno = 0;
	CHECK(ipc_compose(&a, T_DATA, 0, -1, buf, IPC_MAX_PAYLOAD + 1) == -1 &&
	    errno == EMSGSIZE, "over by one: errno %d want EMSGSIZE", errno);
	errno = 0;
	CHECK(ipc_compose(&a, T_DATA, 0, -1, buf, SIZE_MAX) == -1 &&
	    errno == EMSGSIZE, "SIZE_MAX: errno %d want EMSGSIZE", errno);
	CHECK(a.outcount == 0, "a failed compose was queued");

	/* The builder remembers the first error and reports it. */
	ob = ipc_create(&a, T_DATA, 0, -1);
	ipc_add(ob, buf, IPC_MAX_PAYLOAD);
	ipc_add_u8(ob, 1);
	ipc_add_u32(ob, 2);
	errno = 0;
	CHECK(ipc_close(ob) == -1 && errno == EMSGSIZE,
	    "builder over by one: errno %d", errno);
	ob = ipc_create(&a, T_DATA, 0, -1);
	ipc_add(ob, buf, IPC_MAX_PAYLOAD - 4);
	ipc_add_string(ob, "");		/* 5 bytes: over by one */
	CHECK(ipc_close(ob) == -1 && errno == EMSGSIZE, "string over");
	CHECK(a.outcount == 0, "a failed build was queued");

	CHECK(ipc_compose(&a, T_DATA, 0, -1, buf, IPC_MAX_PAYLOAD) == 0,
	    "exactly max: %s", strerror(errno));
	ob = ipc_create(&a, T_DATA, 1, -1);
	ipc_add(ob, buf, IPC_MAX_PAYLOAD - 1);
	ipc_add_u8(ob, buf[IPC_MAX_PAYLOAD - 1]);
	CHECK(ipc_close(ob) == 0, "builder exactly max");
	nonblock(sv[0]);
	for (i = 0; i < 2; i++) {
		while (ipc_get(&b, &m) == 0) {
			if (ipc_write(&a) == -1 || ipc_read(&b) <= 0)
				break;
		}
		CHECK(m.hdr.len == IPC_MAX_FRAME && m.len == IPC_MAX_PAYLOAD &&
		    memcmp(m.data, buf, IPC_MAX_PAYLOAD) == 0,
		    "frame %zu: got len %u", i, m.hdr.len);
	}
	ipc_clear(&a);
	ipc_clear(&b);
}

static void
test_queue_bound(void)
{
	static uint8_t	 buf[IPC_MAX_PAYLOAD];
	struct ipc	 a;
	int		 sv[2], n = 0, r;

	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	while ((r = ipc_compose(&a, T_DATA, 0, -1, buf, sizeof(buf))) == 0)
		n++;
	CHECK(r == -1 && errno == ENOBUFS, "got errno %d want ENOBUFS", errno);
	CHECK(a.outbytes <= IPC_MAX_QUEUED &&
	    a.outbytes + IPC_MAX_FRAME > IPC_MAX_QUEUED,
	    "stopped at %zu bytes (%d frames)", a.outbytes, n);
	ipc_clear(&a);
	CHECK(a.outcount == 0 && a.outbytes == 0, "clear kept the queue");
	close(sv[1]);
}

static void
test_compose_errors(void)
{
	struct ipc	 a;
	int		 sv[2], p[2];

	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	errno = 0;
	CHECK(ipc_compose(&a, T_FD, 0, 1000, NULL, 0) == -1 && errno == EBADF,
	    "bad fd: errno %d", errno);
	CHECK(ipc_close(NULL) == -1 && errno == ENOMEM, "ipc_close(NULL)");
	ipc_add_u32(NULL, 1);		/* ignored */
	ipc_add_string(NULL, "x");
	ipc_clear(&a);
	if (pipe(p) == -1)
		fatal("pipe");
	errno = 0;
	CHECK(ipc_compose(&a, T_FD, 0, p[0], "x", 1) == -1 && errno == EBADF,
	    "cleared channel: errno %d", errno);
	CHECK(fd_is_open(p[0]), "a failed compose closed the caller's fd");
	close(p[0]);
	close(p[1]);
	close(sv[1]);
}

/* ---- descriptor passing --------------------------------------------- */

static void
test_fd_pass(void)
{
	struct ipc	 a, b;
	struct ipc_msg	 m;
	char		 buf[32];
	int		 sv[2], p[2], rfd, base;

	base = count_fds();
	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	ipc_init(&b, sv[1], "b");
	if (pipe(p) == -1)
		fatal("pipe");
	rfd = p[0];
	CHECK(ipc_compose(&a, T_FD, 9, p[0], "pipe", 4) == 0, "compose");
	CHECK(fd_is_open(rfd), "closed before sending");
	CHECK(ipc_flush(&a) == 0, "flush");
	CHECK(!fd_is_open(rfd), "passed fd not closed after sending");
	CHECK(write(p[1], "through", 7) == 7, "write pipe");
	close(p[1]);
	CHECK(get_one(&b, &m) == 1, "no frame");
	CHECK(m.hdr.type == T_FD && (m.hdr.flags & IPC_F_HASFD) && m.fd >= 0,
	    "got type %u flags %u fd %d", m.hdr.type, m.hdr.flags, m.fd);
	CHECK(m.len == 4 && memcmp(m.data, "pipe", 4) == 0, "payload");
	memset(buf, 0, sizeof(buf));
	CHECK(read(m.fd, buf, sizeof(buf)) == 7 && strcmp(buf, "through") == 0,
	    "read through passed fd: \"%s\"", buf);
	CHECK((fcntl(m.fd, F_GETFD) & FD_CLOEXEC) != 0, "no close-on-exec");
	close(m.fd);
	ipc_clear(&a);
	ipc_clear(&b);
	CHECK(count_fds() == base, "leaked: %d fds want %d", count_fds(), base);
}

static void
test_fd_several(void)
{
	struct ipc	 a, b;
	struct ipc_msg	 m;
	char		 c;
	int		 sv[2], p[8][2], i, got = 0, fds = 0, base;

	base = count_fds();
	mkpair(sv);
	ipc_init(&a, sv[0], "a");
	ipc_init(&b, sv[1], "b");
	/* frames with and without descriptors, interleaved */
	for (i = 0; i < 8; i++) {
		if (pipe(p[i]) == -1)
			fatal("pipe");
		c = 'A' + i;
		CHECK(write(p[i][1], &c, 1) == 1, "write");
		close(p[i][1]);
		CHECK(ipc_compose(&a, T_FD, i, p[i][0], &c, 1) == 0, "fd");
		if (i % 3 == 0)
			CHECK(ipc_compose(&a, T_EMPTY, i, -1, NULL, 0) == 0,
			    "no fd");
	}
	CHECK(ipc_flush(&a) == 0, "flush");
	nonblock(sv[1]);
	while (get_one(&b, &m) == 1) {
		got++;
		if (m.hdr.type == T_EMPTY) {
			CHECK(m.fd == -1, "fd %d on a frame without", m.fd);
			continue;
		}
		CHECK(m.fd >= 0 && read(m.fd, &c, 1) == 1 &&
		    c == 'A' + (int)m.hdr.peerid && m.data[0] == c,
		    "frame %u carried the wrong pipe", m.hdr.peerid);
		close(m.fd);
		fds++;
	}
	CHECK(got == 11 && fds == 8, "got %d frames %d fds", got, fds);
	ipc_clear(&a);
	ipc_clear(&b);
	CHECK(count_fds() == base, "leaked: %d fds want %d", count_fds(), base);
}

/* The descriptor arrives with the first byte, the rest later. */
static void
test_fd_split_frame(void)
{
	uint8_t		 buf[64];
	struct ipc	 b;
	struct ipc_msg	 m;
	char		 c = 0;
	size_t		 len;
	int		 sv[2], p[2], base;

	base = count_fds();
	mkpair(sv);
	ipc_init(&b, sv[1], "b");
	if (pipe(p) == -1)
		fatal("pipe");
	CHECK(write(p[1], "z", 1) == 1, "write");
	len = mkhdr(buf, T_FD, IPC_HDR_SIZE + 3, IPC_F_HASFD);
	memcpy(buf + len, "xyz", 3);
	len += 3;
	CHECK(send_raw(sv[0], buf, 1, &p[0], 1) == 1, "send first byte");
	close(p[0]);
	CHECK(ipc_read(&b) == 1, "read first byte");
	CHECK(ipc_get(&b, &m) == 0 && b.nfds == 1, "partial: nfds %d",
	    b.nfds);
	CHECK(write(sv[0], buf + 1, 10) == 10, "write middle");
	CHECK(ipc_read(&b) == 10 && ipc_get(&b, &m) == 0, "still partial");
	CHECK(write(sv[0], buf + 11, len - 11) == (ssize_t)(len - 11), "rest");
	CHECK(ipc_read(&b) > 0 && ipc_get(&b, &m) == 1, "complete");
	CHECK(m.fd >= 0 && read(m.fd, &c, 1) == 1 && c == 'z',
	    "read through fd: %c", c);
	CHECK(m.len == 3 && memcmp(m.data, "xyz", 3) == 0, "payload");
	if (m.fd >= 0)
		close(m.fd);
	close(p[1]);
	close(sv[0]);
	ipc_clear(&b);
	CHECK(count_fds() == base, "leaked: %d fds want %d", count_fds(), base);
}

/* ---- bad frames from the peer --------------------------------------- */

static void
test_bad_frames(void)
{
	static const struct {
		const char	*name;
		uint16_t	 len;
		uint16_t	 flags;
		size_t		 send;	/* bytes actually written */
	} rows[] = {
		{ "len 0", 0, 0, IPC_HDR_SIZE },
		{ "len 1", 1, 0, IPC_HDR_SIZE },
		{ "len 15", 15, 0, IPC_HDR_SIZE + 8 },
		{ "len 15, partial payload", 15, 0, IPC_HDR_SIZE },
		{ "HASFD without a descriptor", 20, IPC_F_HASFD, 20 },
		{ "HASFD, frame incomplete", 200, IPC_F_HASFD, 30 },
		{ "unknown flag 0x2", 16, 0x2, 16 },
		{ "unknown flag 0x8000", 16, 0x8000, 16 },
		{ "unknown and HASFD", 16, 0x8001, 16 },
	};
	uint8_t		 buf[64];
	struct ipc	 b;
	struct ipc_msg	 m;
	size_t		 i;
	int		 sv[2], r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mkpair(sv);
		ipc_init(&b, sv[1], "b");
		memset(buf, 'x', sizeof(buf));
		mkhdr(buf, T_DATA, rows[i].len, rows[i].flags);
		CHECK(write(sv[0], buf, rows[i].send) ==
		    (ssize_t)rows[i].send, "write");
		CHECK(ipc_read(&b) == (ssize_t)rows[i].send, "read");
		errno = 0;
		r = ipc_get(&b, &m);
		CHECK(r == -1 && errno == EBADMSG,
		    "%s: got %d errno %d want -1 EBADMSG", rows[i].name, r,
		    errno);
		/* and it stays an error */
		r = ipc_get(&b, &m);
		CHECK(r == -1, "%s: again got %d", rows[i].name, r);
		close(sv[0]);
		ipc_clear(&b);
	}
}

/* A descriptor that came with a frame that does not claim it. */
static void
test_orphan_fd(void)
{
	uint8_t		 buf[64];
	struct ipc	 b;
	struct ipc_msg	 m;
	int		 sv[2], p[2], base, r;

	base = count_fds();
	mkpair(sv);
	ipc_init(&b, sv[1], "b");
	if (pipe(p) == -1)
		fatal("pipe");
	mkhdr(buf, T_DATA, IPC_HDR_SIZE, 0);
	CHECK(send_raw(sv[0], buf, IPC_HDR_SIZE, &p[0], 1) == IPC_HDR_SIZE,
	    "send");
	CHECK(ipc_read(&b) == IPC_HDR_SIZE, "read");
	CHECK(ipc_get(&b, &m) == 1 && m.fd == -1, "the frame itself");
	errno = 0;
	r = ipc_get(&b, &m);
	CHECK(r == -1 && errno == EBADMSG, "got %d errno %d", r, errno);
	ipc_clear(&b);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
	CHECK(count_fds() == base, "leaked: %d fds want %d", count_fds(), base);
}

static void
test_too_many_fds(void)
{
	uint8_t		 buf[IPC_HDR_SIZE];
	struct ipc	 b;
	int		 sv[2], fds[32], i, n, base;
	ssize_t		 r;

	base = count_fds();
	for (i = 0; i < 32; i++)
		if ((fds[i] = dup(STDIN_FILENO)) == -1)
			fatal("dup");
	mkhdr(buf, T_FD, IPC_HDR_SIZE, IPC_F_HASFD);

	/* one sendmsg with more than IPC_MAX_FDS */
	mkpair(sv);
	ipc_init(&b, sv[1], "b");
	CHECK(send_raw(sv[0], buf, 1, fds, IPC_MAX_FDS + 1) == 1, "send");
	errno = 0;
	r = ipc_read(&b);
	CHECK(r == -1 && errno == EBADMSG, "got %zd errno %d", r, errno);
	ipc_clear(&b);
	close(sv[0]);

	/* one at a time, never claimed */
	mkpair(sv);
	ipc_init(&b, sv[1], "b");
	for (n = 0; n < IPC_MAX_FDS + 1; n++) {
		CHECK(send_raw(sv[0], buf + n % IPC_HDR_SIZE, 1, &fds[n], 1) ==
		    1, "send");
		r = ipc_read(&b);
		if (r == -1)
			break;
	}
	CHECK(n == IPC_MAX_FDS && r == -1 && errno == EBADMSG,
	    "failed at %d: got %zd errno %d", n, r, errno);
	ipc_clear(&b);
	close(sv[0]);

	for (i = 0; i < 32; i++)
		close(fds[i]);
	CHECK(count_fds() == base, "leaked: %d fds want %d", count_fds(), base);
}

/* ---- field readers -------------------------------------------------- */

static void
fill_msg(struct ipc_msg *m, uint32_t type, const void *data, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = type;
	m->hdr.len = (uint16_t)(IPC_HDR_SIZE + len);
	m->fd = -1;
	m->data = data;
	m->len = len;
	m->peer = "queue";
}

static void
do_get_u32(void *arg)
{
	struct ipc_msg	 m;

	fill_msg(&m, T_PING, arg, 3);
	(void)ipc_get_u32(&m);
}

static void
do_get_u64(void *arg)
{
	struct ipc_msg	 m;

	fill_msg(&m, T_HELLO, arg, 7);
	(void)ipc_get_u64(&m);
}

static void
do_get_u8(void *arg)
{
	struct ipc_msg	 m;

	fill_msg(&m, T_EMPTY, arg, 0);
	(void)ipc_get_u8(&m);
}

static void
do_get_i64_after(void *arg)
{
	struct ipc_msg	 m;

	fill_msg(&m, T_DATA, arg, 12);
	(void)ipc_get_u32(&m);
	(void)ipc_get_u32(&m);
	(void)ipc_get_i64(&m);
}

static void
do_get_raw(void *arg)
{
	struct ipc_msg	 m;
	uint8_t		 out[16];

	fill_msg(&m, T_BYE, arg, 15);
	ipc_get_raw(&m, out, sizeof(out));
}

static void
do_get_string(void *arg)
{
	struct ipc_msg	 m;
	static const uint8_t s[] = { 3, 0, 0, 0, 'a', 0, 'b', 0 };

	(void)arg;
	fill_msg(&m, T_HELLO, s, sizeof(s));
	(void)ipc_get_string(&m);
}

static void
do_get_data(void *arg)
{
	struct ipc_msg	 m;
	static const uint8_t d[] = { 0xff, 0xff, 0xff, 0x7f, 'a' };

	(void)arg;
	fill_msg(&m, T_DATA, d, sizeof(d));
	(void)ipc_get_data(&m, NULL);
}

static void
do_end(void *arg)
{
	struct ipc_msg	 m;

	fill_msg(&m, T_PONG, arg, 8);
	(void)ipc_get_u32(&m);
	ipc_end(&m);
}

static void
do_unnamed(void *arg)
{
	struct ipc_msg	 m;

	fill_msg(&m, 99999, arg, 0);
	ipc_end(&m);
	(void)ipc_get_u32(&m);
}

static void
test_get_fatal(void)
{
	static uint8_t	 zero[64];
	static const struct {
		const char	*name;
		void		(*fn)(void *);
		const char	*want;
	} rows[] = {
		{ "u32 of 3 bytes", do_get_u32, "T_PING" },
		{ "u64 of 7 bytes", do_get_u64, "T_HELLO" },
		{ "u8 of nothing", do_get_u8, "T_EMPTY" },
		{ "i64 after 8 of 12", do_get_i64_after, "T_DATA" },
		{ "raw 16 of 15", do_get_raw, "T_BYE" },
		{ "string with a NUL", do_get_string, "T_HELLO" },
		{ "data past the end", do_get_data, "T_DATA" },
		{ "ipc_end with 4 left", do_end, "T_PONG" },
		{ "unknown type", do_unnamed, "unknown(99999)" },
	};
	size_t		 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		expect_fatal(rows[i].name, rows[i].fn, zero, rows[i].want,
		    "queue");
}

static void
test_try(void)
{
	static const struct {
		const char	*name;
		uint8_t		 in[16];
		size_t		 len;
		int		 want;	/* ipc_try_string */
	} rows[] = {
		{ "empty", { 0 }, 0, -1 },
		{ "short length", { 1, 0, 0 }, 3, -1 },
		{ "embedded NUL", { 3, 0, 0, 0, 'a', 0, 'b', 0 }, 8, -1 },
		{ "no NUL", { 3, 0, 0, 0, 'a', 'b', 'c', 'd' }, 8, -1 },
		{ "length to the end", { 3, 0, 0, 0, 'a', 'b', 'c' }, 7, -1 },
		{ "absurd length", { 0xfe, 0xff, 0xff, 0xff, 'a', 0 }, 6, -1 },
		{ "length 2^31", { 0, 0, 0, 0x80, 'a', 0 }, 6, -1 },
		{ "ok", { 3, 0, 0, 0, 'a', 'b', 'c', 0 }, 8, 0 },
		{ "empty string", { 0, 0, 0, 0, 0 }, 5, 0 },
		{ "NULL", { 0xff, 0xff, 0xff, 0xff }, 4, 0 },
	};
	struct ipc_msg	 m;
	const char	*s;
	const void	*d;
	size_t		 i, len;
	uint32_t	 v;
	int		 r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fill_msg(&m, T_DATA, rows[i].in, rows[i].len);
		r = ipc_try_string(&m, &s);
		CHECK(r == rows[i].want, "%s: got %d want %d", rows[i].name, r,
		    rows[i].want);
		if (r == -1)
			CHECK(m.off == 0 && errno == EBADMSG,
			    "%s: cursor moved to %zu", rows[i].name, m.off);
		else
			CHECK(ipc_try_end(&m) == 0, "%s: bytes left",
			    rows[i].name);
	}

	fill_msg(&m, T_DATA, "\1\0\0\0\2\0\0", 7);
	CHECK(ipc_try_u32(&m, &v) == 0 && v == 1, "u32");
	CHECK(ipc_try_end(&m) == -1, "try_end with 3 left");
	CHECK(ipc_try_u32(&m, &v) == -1 && m.off == 4, "u32 of 3 bytes");
	CHECK(ipc_try_data(&m, &d, &len) == -1 && m.off == 4, "data of 3");

	fill_msg(&m, T_DATA, "\2\0\0\0ab\5\0\0\0abcd", 14);
	CHECK(ipc_try_data(&m, &d, &len) == 0 && len == 2 &&
	    memcmp(d, "ab", 2) == 0, "data ab");
	CHECK(ipc_try_data(&m, &d, &len) == -1 && m.off == 6,
	    "data 5 of 4: off %zu", m.off);
	fill_msg(&m, T_DATA, "\xff\xff\xff\xff", 4);
	CHECK(ipc_try_data(&m, &d, &len) == -1 && m.off == 0, "data 2^32-1");
	/* a cursor past the end (a corrupt msg) is underflow, not a wrap */
	fill_msg(&m, T_DATA, "abcd", 4);
	m.off = 10;
	CHECK(ipc_try_u32(&m, &v) == -1 && ipc_try_string(&m, &s) == -1 &&
	    ipc_try_end(&m) == -1, "cursor past the end");
}

/* ---- libevent glue --------------------------------------------------- */

struct echo {
	int	 pings;
	int	 after_bye;
	int	 bye;
	int	 closed;
	int	 err;
	int	 pongs;
	int	 bad;
	pid_t	 peerpid;
};

static void
echo_closer(struct ipc *ipc, void *arg)
{
	struct echo	*e = arg;

	(void)ipc;
	e->closed++;
	e->err = errno;
}

static void
child_handler(struct ipc *ipc, struct ipc_msg *m, void *arg)
{
	struct echo	*e = arg;
	struct ipc_obuf	*ob;
	uint32_t	 v;
	int		 p[2];

	if (e->bye)
		e->after_bye++;
	switch (m->hdr.type) {
	case T_PING:
		v = ipc_get_u32(m);
		ipc_end(m);
		e->pings++;
		/* reply from inside the handler, on the same channel */
		ob = ipc_create(ipc, T_PONG, m->hdr.peerid, -1);
		ipc_add_u32(ob, v + 1);
		if (ipc_close(ob) == -1)
			fatal("ipc_close");
		if (v % 10 == 0) {
			if (pipe(p) == -1)
				fatal("pipe");
			if (write(p[1], &v, sizeof(v)) != sizeof(v))
				fatal("write");
			close(p[1]);
			if (ipc_compose(ipc, T_FD, v, p[0], NULL, 0) == -1)
				fatal("ipc_compose");
		}
		break;
	case T_BYE:
		ipc_end(m);
		e->bye = 1;
		/* flush the replies, then tear down from the handler */
		if (ipc_flush(ipc) == -1)
			fatal("ipc_flush");
		ipc_clear(ipc);
		free(ipc);
		break;
	default:
		fatalx("unexpected %s", ipc_type_name(m->hdr.type));
	}
}

static void
parent_handler(struct ipc *ipc, struct ipc_msg *m, void *arg)
{
	struct echo	*e = arg;
	uint32_t	 v, w = 0;

	(void)ipc;
	if (m->hdr.pid != (uint32_t)e->peerpid)
		e->bad++;
	switch (m->hdr.type) {
	case T_PONG:
		v = ipc_get_u32(m);
		ipc_end(m);
		if (v != m->hdr.peerid + 1 || (int)m->hdr.peerid != e->pongs)
			e->bad++;
		e->pongs++;
		break;
	case T_FD:
		ipc_end(m);
		if (m->fd == -1 || read(m->fd, &w, sizeof(w)) != sizeof(w) ||
		    w != m->hdr.peerid)
			e->bad++;
		if (m->fd != -1)
			close(m->fd);
		e->pings++;	/* counts descriptors here */
		break;
	default:
		e->bad++;
	}
}

static void
test_event_end_to_end(void)
{
	struct event_base	*base;
	struct ipc		 p, *c;
	struct echo		 pe, ce;
	pid_t			 pid;
	uint32_t		 i;
	int			 sv[2], status;
	const uint32_t		 n = 300;

	mkpair(sv);
	fflush(stdout);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		in_child = 1;
		close(sv[0]);
		base = event_init();
		memset(&ce, 0, sizeof(ce));
		if ((c = malloc(sizeof(*c))) == NULL)
			_exit(2);
		ipc_init(c, sv[1], "parent");
		ipc_event_set(c, child_handler, echo_closer, &ce);
		event_dispatch();
		/* no events left: the handler cleared the channel */
		if (ce.pings != (int)n || ce.bye != 1 || ce.after_bye != 0 ||
		    ce.closed != 0)
			_exit(3);
		event_base_free(base);
		_exit(0);
	}
	close(sv[1]);
	base = event_init();
	memset(&pe, 0, sizeof(pe));
	pe.peerpid = pid;
	ipc_init(&p, sv[0], "child");
	ipc_event_set(&p, parent_handler, echo_closer, &pe);
	for (i = 0; i < n; i++)
		CHECK(ipc_compose(&p, T_PING, i, -1, &i, sizeof(i)) == 0,
		    "compose");
	CHECK(ipc_compose(&p, T_BYE, 0, -1, NULL, 0) == 0, "bye");
	/* sent after BYE: the child must never see these */
	for (i = 0; i < 5; i++)
		CHECK(ipc_compose(&p, T_PING, i, -1, &i, sizeof(i)) == 0,
		    "compose");
	event_dispatch();
	CHECK(pe.pongs == (int)n, "got %d pongs want %u", pe.pongs, n);
	CHECK(pe.pings == (int)(n / 10), "got %d fds want %u", pe.pings,
	    n / 10);
	CHECK(pe.bad == 0, "%d bad replies", pe.bad);
	CHECK(pe.closed == 1 && pe.err == 0, "closer called %d times, errno %d",
	    pe.closed, pe.err);
	CHECK(p.fd == -1 && p.evset == 0, "closer saw a live channel");
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "child status %#x", status);
	ipc_clear(&p);
	event_base_free(base);
}

static void
test_event_eof_mid_frame(void)
{
	struct event_base	*base;
	struct ipc		 p;
	struct echo		 pe;
	uint8_t			 buf[IPC_HDR_SIZE];
	int			 sv[2];

	mkpair(sv);
	base = event_init();
	memset(&pe, 0, sizeof(pe));
	ipc_init(&p, sv[0], "child");
	ipc_event_set(&p, parent_handler, echo_closer, &pe);
	mkhdr(buf, T_PONG, IPC_HDR_SIZE + 4, 0);
	CHECK(write(sv[1], buf, sizeof(buf)) == sizeof(buf), "write");
	close(sv[1]);
	event_dispatch();
	CHECK(pe.closed == 1 && pe.err == ECONNRESET,
	    "closer called %d times, errno %d want ECONNRESET", pe.closed,
	    pe.err);
	CHECK(pe.pongs == 0 && pe.bad == 0, "handler was called");
	event_base_free(base);
}

/* Two channels in one loop; the handler of one frees it mid-batch. */
struct freer {
	struct ipc	*b;
	int		 calls;
};

static void
freer_handler(struct ipc *ipc, struct ipc_msg *m, void *arg)
{
	struct freer	*f = arg;

	(void)m;
	f->calls++;
	ipc_clear(ipc);
	memset(ipc, 0xa5, sizeof(*ipc));
	free(ipc);
	f->b = NULL;
}

static void
test_event_clear_in_handler(void)
{
	struct event_base	*base;
	struct ipc		 a;
	struct freer		 f;
	struct echo		 ae;
	int			 sv[2], i;

	mkpair(sv);
	base = event_init();
	memset(&f, 0, sizeof(f));
	memset(&ae, 0, sizeof(ae));
	if ((f.b = malloc(sizeof(*f.b))) == NULL)
		fatal("malloc");
	ipc_init(&a, sv[0], "a");
	ipc_init(f.b, sv[1], "b");
	ipc_event_set(&a, parent_handler, echo_closer, &ae);
	ipc_event_set(f.b, freer_handler, echo_closer, &f);
	for (i = 0; i < 3; i++)
		CHECK(ipc_compose(&a, T_PING, i, -1, NULL, 0) == 0, "compose");
	event_dispatch();
	CHECK(f.calls == 1, "handler called %d times after clearing",
	    f.calls);
	CHECK(ae.closed == 1 && ae.err == 0, "a's closer %d errno %d",
	    ae.closed, ae.err);
	ipc_clear(&a);
	event_base_free(base);
}

static void
do_event_bad_frame(void *arg)
{
	struct ipc	 c;
	struct echo	 ce;
	int		*sv = arg;

	memset(&ce, 0, sizeof(ce));
	event_init();
	ipc_init(&c, sv[1], "smtp");
	ipc_event_set(&c, child_handler, echo_closer, &ce);
	event_dispatch();
}

static void
test_event_bad_frame_fatal(void)
{
	uint8_t		 buf[IPC_HDR_SIZE];
	int		 sv[2];

	mkpair(sv);
	mkhdr(buf, T_PING, 3, 0);
	CHECK(write(sv[0], buf, sizeof(buf)) == sizeof(buf), "write");
	expect_fatal("len 3 through the event loop", do_event_bad_frame, sv,
	    "smtp", "shorter than its header");
	close(sv[0]);
	close(sv[1]);
}

/* ---- names ---------------------------------------------------------- */

static void
do_overlap(void *arg)
{
	static const char *const names[] = { "X", "Y" };

	(void)arg;
	ipc_register_names(T_LAST - 1, 2, names);
}

static void
test_names(void)
{
	static const char *const other[] = { "O_ONE", "O_TWO" };
	uint32_t	 t;

	for (t = T_HELLO; t < T_UNNAMED; t++)
		CHECK(strncmp(ipc_type_name(t), "T_", 2) == 0,
		    "type %u has no name: %s", t, ipc_type_name(t));
	CHECK_STR(ipc_type_name(T_FD), "T_FD");
	CHECK_STR(ipc_type_name(T_UNNAMED), "unknown(7107)");
	CHECK_STR(ipc_type_name(0), "unknown(0)");
	CHECK_STR(ipc_type_name(UINT32_MAX), "unknown(4294967295)");
	ipc_register_names(UINT32_MAX - 1, 2, other);
	CHECK_STR(ipc_type_name(UINT32_MAX), "O_TWO");
	ipc_register_names(UINT32_MAX - 1, 2, other);	/* again: fine */
	CHECK_STR(ipc_type_name(UINT32_MAX - 1), "O_ONE");
	ipc_register_names(5, 0, NULL);			/* nothing */
	expect_fatal("overlapping range", do_overlap, NULL, "overlaps", NULL);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procname("test_ipc");
	ipc_register_names(T_HELLO, T_LAST - T_HELLO, type_names);

	RUN(test_roundtrip);
	RUN(test_many_frames_one_read);
	RUN(test_many_big_frames);
	RUN(test_one_byte_at_a_time);
	RUN(test_max_payload);
	RUN(test_queue_bound);
	RUN(test_compose_errors);
	RUN(test_fd_pass);
	RUN(test_fd_several);
	RUN(test_fd_split_frame);
	RUN(test_bad_frames);
	RUN(test_orphan_fd);
	RUN(test_too_many_fds);
	RUN(test_get_fatal);
	RUN(test_try);
	RUN(test_event_end_to_end);
	RUN(test_event_eof_mid_frame);
	RUN(test_event_clear_in_handler);
	RUN(test_event_bad_frame_fatal);
	RUN(test_names);
	return unit_done();
}
