/*
 * Portcullis: unit tests for lib/io.c and lib/tlsconf.c: lines (CRLF,
 * bare LF, NUL, one byte at a time), read_max back-pressure, large
 * writes with partial writes, low-water marks, timeouts, EOF, pause,
 * close after flush, io_free() inside the callback, connect success
 * and refusal, and TLS: implicit TLS, STARTTLS with injected plaintext,
 * version and cipher, a large transfer, verification, garbage instead
 * of a ClientHello.  Every io runs on the test's own event loop, each
 * wait bounded by a guard timer.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>
#include <tls.h>

#include "io.h"
#include "log.h"
#include "tlsconf.h"
#include "unit.h"
#include "evloop.h"

#define WAIT_MS		5000	/* the longest any wait may take */
#define BIG		(8 * 1024 * 1024)
#define MAXLINES	32

/* ---- the event loop, bounded: evloop.h ---- */

/* ---- a test peer: one io and what happened to it -------------------- */

struct peer {
	struct io	*io;
	int		 ev[IO_ERROR + 1];
	int		 order[64];	/* events in order */
	int		 norder;
	int		 done;
	int		 done_mask;	/* events that set done */
	int		 free_on;	/* event that frees the io, or -1 */
	int		 getlines;	/* drain lines on IO_DATAIN */
	int		 drain;		/* drop all input on IO_DATAIN */
	int		 hold;		/* consume nothing */
	char		 lines[MAXLINES][128];
	size_t		 linelen[MAXLINES];
	int		 bare[MAXLINES];
	int		 nlines;
	size_t		 got;		/* bytes drained */
	int		 patbad;	/* drained bytes off the pattern */
	size_t		 lowat_queued;	/* io_queued() at IO_LOWAT */
	char		 err[160];
	void		(*hook)(struct peer *, int);
	void		*ctx;
};

#define M(e)	(1 << (e))

static unsigned char
pat(size_t i)
{
	return ((unsigned char)(i * 7 + i / 251));
}

static void
peer_init(struct peer *p, struct io *io)
{
	memset(p, 0, sizeof(*p));
	p->io = io;
	p->free_on = -1;
	p->done_mask = M(IO_ERROR) | M(IO_DISCONNECTED);
}

static void
peer_cb(struct io *io, int event, void *arg)
{
	struct peer	*p = arg;
	char		*line;
	unsigned char	*d;
	size_t		 len, i;

	if (io != p->io)
		printf("callback for a foreign io\n");
	p->ev[event]++;
	if (p->norder < 64)
		p->order[p->norder++] = event;
	if ((event == IO_ERROR || event == IO_TIMEOUT) && io_error(io))
		(void)strlcpy(p->err, io_error(io), sizeof(p->err));
	if (event == IO_LOWAT)
		p->lowat_queued = io_queued(io);
	if (event == IO_DATAIN && !p->hold) {
		if (p->getlines) {
			while ((line = io_getline(io, &len)) != NULL) {
				if (p->nlines == MAXLINES)
					continue;
				if (len >= sizeof(p->lines[0]))
					len = sizeof(p->lines[0]) - 1;
				memcpy(p->lines[p->nlines], line, len + 1);
				p->lines[p->nlines][len] = '\0';
				p->linelen[p->nlines] = len;
				p->bare[p->nlines] = io_getline_bare_lf(io);
				p->nlines++;
			}
		}
		if (p->drain) {
			d = io_data(io);
			len = io_datalen(io);
			for (i = 0; i < len; i++)
				if (d[i] != pat(p->got + i))
					p->patbad++;
			p->got += len;
			io_drop(io, len);
		}
	}
	if (p->hook != NULL) {
		p->hook(p, event);
		if (p->io == NULL)
			return;
	}
	if (event == p->free_on) {
		io_free(io);
		p->io = NULL;
		p->done = 1;
		return;
	}
	if (p->done_mask & M(event))
		p->done = 1;
}

static struct io *
peer_io(struct peer *p, int fd)
{
	struct io	*io;

	if ((io = io_new()) == NULL)
		fatal("io_new");
	peer_init(p, io);
	io_set_callback(io, peer_cb, p);
	if (fd != -1)
		io_set_fd(io, fd);
	return (io);
}

static void
peer_free(struct peer *p)
{
	io_free(p->io);
	p->io = NULL;
}

/* ---- sockets -------------------------------------------------------- */

static void
mkpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		fatal("socketpair");
}

static int
tcp_listener(struct sockaddr_in *sin)
{
	socklen_t	 len = sizeof(*sin);
	int		 s;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(s, (struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    listen(s, 16) == -1 ||
	    getsockname(s, (struct sockaddr *)sin, &len) == -1)
		fatal("tcp listener");
	return (s);
}

/* A connected loopback TCP pair, made with blocking calls. */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in	 sin;
	int			 l;

	l = tcp_listener(&sin);
	if ((sv[0] = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(sv[0], (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (sv[1] = accept(l, NULL, NULL)) == -1)
		fatal("tcp pair");
	close(l);
}

static void
writeall(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("write");
		}
		p += n;
		len -= n;
	}
}

/* ---- plain lines ------------------------------------------------------ */

static void
test_lines_crlf(void)
{
	struct peer	 p;
	int		 sv[2];
	static const char in[] =
	    "EHLO a.example\r\nMAIL FROM:<x@y>\nNUL\0X\r\n\r\nCR\rmid\r\n"
	    "partial";

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.getlines = 1;
	writeall(sv[1], in, sizeof(in) - 1);
	loop_for(50);
	CHECK(p.nlines == 5, "got %d lines want 5", p.nlines);
	CHECK_STR(p.lines[0], "EHLO a.example");
	CHECK(p.bare[0] == 0, "line 0 flagged bare");
	CHECK_STR(p.lines[1], "MAIL FROM:<x@y>");
	CHECK(p.bare[1] == 1, "line 1 not flagged bare");
	CHECK(p.linelen[2] == 5 && memcmp(p.lines[2], "NUL\0X", 5) == 0,
	    "NUL line: len %zu", p.linelen[2]);
	CHECK(p.bare[2] == 0, "line 2 flagged bare");
	CHECK(p.linelen[3] == 0 && p.bare[3] == 0, "empty line len %zu",
	    p.linelen[3]);
	CHECK(p.linelen[4] == 6 && memcmp(p.lines[4], "CR\rmid", 6) == 0,
	    "bare CR inside a line is kept: len %zu", p.linelen[4]);
	CHECK(io_datalen(p.io) == 7, "partial left %zu want 7",
	    io_datalen(p.io));
	CHECK(io_data(p.io) != NULL &&
	    memcmp(io_data(p.io), "partial", 7) == 0, "partial data");
	CHECK(io_getline(p.io, NULL) == NULL, "no line in partial");
	writeall(sv[1], "\n", 1);
	loop_for(20);
	CHECK(p.nlines == 6 && strcmp(p.lines[5], "partial") == 0 &&
	    p.bare[5] == 1, "completed partial line");
	peer_free(&p);
	close(sv[1]);
}

static void
test_lines_bytewise(void)
{
	struct peer	 p;
	int		 sv[2];
	size_t		 i;
	static const char in[] = "EHLO one.example\r\nDATA\r\n.\r\nQUIT\n";

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.getlines = 1;
	for (i = 0; i < sizeof(in) - 1; i++) {
		writeall(sv[1], in + i, 1);
		loop_for(2);
	}
	loop_for(20);
	CHECK(p.nlines == 4, "got %d lines want 4", p.nlines);
	CHECK_STR(p.lines[0], "EHLO one.example");
	CHECK_STR(p.lines[1], "DATA");
	CHECK_STR(p.lines[2], ".");
	CHECK_STR(p.lines[3], "QUIT");
	CHECK(p.bare[0] == 0 && p.bare[2] == 0 && p.bare[3] == 1,
	    "bare flags %d %d %d", p.bare[0], p.bare[2], p.bare[3]);
	CHECK(p.ev[IO_DATAIN] >= 20, "IO_DATAIN %d times for %zu bytes",
	    p.ev[IO_DATAIN], sizeof(in) - 1);
	CHECK(io_datalen(p.io) == 0, "left %zu", io_datalen(p.io));
	peer_free(&p);
	close(sv[1]);
}

/* A long line without LF stops at read_max and reading pauses. */
static void
test_read_max(void)
{
	struct peer	 p;
	char		 buf[10000];
	int		 sv[2], n;

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.hold = 1;
	io_set_read_max(p.io, 100);
	memset(buf, 'x', sizeof(buf));
	writeall(sv[1], buf, sizeof(buf));
	loop_for(50);
	CHECK(io_datalen(p.io) == 100, "buffered %zu want 100",
	    io_datalen(p.io));
	CHECK(io_getline(p.io, NULL) == NULL, "a line without LF");
	n = p.ev[IO_DATAIN];
	loop_for(50);
	CHECK(p.ev[IO_DATAIN] == n, "IO_DATAIN went on while full: %d -> %d",
	    n, p.ev[IO_DATAIN]);
	CHECK(n <= 100, "IO_DATAIN %d times for 100 bytes", n);

	/* Consuming resumes reading, 100 bytes at a time at most. */
	p.hold = 0;
	p.drain = 1;
	io_drop(p.io, 100);
	p.got = 100;
	loop_for(100);
	CHECK(p.got == sizeof(buf), "drained %zu want %zu", p.got,
	    sizeof(buf));
	CHECK(p.ev[IO_DATAIN] >= 99, "IO_DATAIN %d, want one per 100 bytes",
	    p.ev[IO_DATAIN]);
	peer_free(&p);
	close(sv[1]);
}

/* ---- output ------------------------------------------------------------ */

static unsigned char *
bigbuf(size_t len, size_t off)
{
	unsigned char	*b;
	size_t		 i;

	if ((b = malloc(len)) == NULL)
		fatal("malloc");
	for (i = 0; i < len; i++)
		b[i] = pat(off + i);
	return (b);
}

static int	 xfer_done;

static void
xfer_hook(struct peer *p, int event)
{
	size_t	*want = p->ctx;

	if (event == IO_DATAIN && p->got >= *want)
		xfer_done = 1;
}

/* Several MiB through io_write(), over a socketpair or TCP. */
static void
large_write(int tcp)
{
	struct peer	 w, r;
	unsigned char	*b;
	size_t		 want = BIG, part = 3 * 1024 * 1024 + 17;
	int		 sv[2];

	if (tcp)
		tcp_pair(sv);
	else
		mkpair(sv);
	peer_io(&w, sv[0]);
	peer_io(&r, sv[1]);
	r.drain = 1;
	r.hook = xfer_hook;
	r.ctx = &want;
	xfer_done = 0;

	b = bigbuf(want, 0);
	CHECK(io_write(w.io, b, part) == 0, "io_write");
	CHECK(io_write(w.io, b + part, 1) == 0, "io_write 1 byte");
	CHECK(io_write(w.io, b + part + 1, want - part - 1) == 0, "io_write");
	CHECK(io_queued(w.io) == want, "queued %zu want %zu",
	    io_queued(w.io), want);
	free(b);
	CHECK(loop_until(&xfer_done, WAIT_MS), "transfer timed out at %zu",
	    r.got);
	CHECK(r.got == want, "received %zu want %zu", r.got, want);
	CHECK(r.patbad == 0, "%d bytes off the pattern", r.patbad);
	loop_for(10);
	CHECK(io_queued(w.io) == 0, "still queued %zu", io_queued(w.io));
	CHECK(w.ev[IO_LOWAT] == 1, "IO_LOWAT %d times want 1",
	    w.ev[IO_LOWAT]);
	CHECK(w.ev[IO_ERROR] == 0 && r.ev[IO_ERROR] == 0, "errors");
	peer_free(&w);
	peer_free(&r);
}

static void
test_large_write_pair(void)
{
	large_write(0);
}

static void
test_large_write_tcp(void)
{
	large_write(1);
}

static void
test_lowat(void)
{
	struct peer	 w, r;
	unsigned char	*b;
	size_t		 want = 2 * 1024 * 1024;
	int		 sv[2];

	mkpair(sv);
	peer_io(&w, sv[0]);
	peer_io(&r, sv[1]);
	io_set_lowat(w.io, 256 * 1024);
	w.done_mask = M(IO_LOWAT);
	r.drain = 1;
	b = bigbuf(want, 0);
	CHECK(io_write(w.io, b, want) == 0, "io_write");
	free(b);
	CHECK(loop_until(&w.done, WAIT_MS), "no IO_LOWAT");
	CHECK(w.lowat_queued <= 256 * 1024 && w.lowat_queued > 0,
	    "queued %zu at IO_LOWAT", w.lowat_queued);
	loop_for(100);
	CHECK(w.ev[IO_LOWAT] == 1, "IO_LOWAT %d times want 1",
	    w.ev[IO_LOWAT]);
	CHECK(r.got == want, "received %zu want %zu", r.got, want);
	CHECK(r.patbad == 0, "%d bytes off the pattern", r.patbad);
	peer_free(&w);
	peer_free(&r);
}

static void
test_printf(void)
{
	struct peer	 p;
	char		 big[3000], buf[4000];
	int		 sv[2];
	ssize_t		 n;
	size_t		 have = 0;

	mkpair(sv);
	peer_io(&p, sv[0]);
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(io_printf(p.io, "250-%s\r\n", "a.example") == 0, "io_printf");
	CHECK(io_printf(p.io, "250 %s %d\r\n", big, 42) == 0, "io_printf");
	CHECK(io_queued(p.io) == 15 + 4 + 2999 + 5, "queued %zu",
	    io_queued(p.io));
	CHECK(p.norder == 0, "an event from inside io_printf");
	loop_for(20);
	while (have < sizeof(buf) && (n = recv(sv[1], buf + have,
	    sizeof(buf) - have, MSG_DONTWAIT)) > 0)
		have += n;
	CHECK(have == 15 + 4 + 2999 + 5, "read %zu", have);
	CHECK(memcmp(buf, "250-a.example\r\n250 yyy", 22) == 0, "text");
	CHECK(memcmp(buf + have - 5, " 42\r\n", 5) == 0, "tail");
	peer_free(&p);
	close(sv[1]);
}

/* ---- timeouts, EOF, pause, close ------------------------------------ */

static void
test_timeout(void)
{
	struct peer	 p;
	struct timespec	 t0, t1;
	long		 ms;
	int		 sv[2];

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.done_mask = M(IO_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	io_set_timeout(p.io, 100);
	CHECK(loop_until(&p.done, WAIT_MS), "no IO_TIMEOUT");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 90 && ms < 1000, "timeout after %ld ms want 100", ms);
	CHECK_STR(io_error(p.io), "timeout");

	/* Activity restarts the timer; the io stays usable after one. */
	p.done = 0;
	p.getlines = 1;
	writeall(sv[1], "NOOP\r\n", 6);
	loop_for(60);
	writeall(sv[1], "NOOP\r\n", 6);
	loop_for(60);
	CHECK(p.ev[IO_TIMEOUT] == 1, "IO_TIMEOUT %d times despite activity",
	    p.ev[IO_TIMEOUT]);
	CHECK(p.nlines == 2, "lines %d want 2", p.nlines);
	CHECK(loop_until(&p.done, WAIT_MS), "no second IO_TIMEOUT");
	io_set_timeout(p.io, -1);
	p.done = 0;
	loop_for(150);
	CHECK(p.ev[IO_TIMEOUT] == 2, "IO_TIMEOUT after -1");

	/* A new timeout replaces a pending one (the timer alone is
	 * rescheduled), shorter or longer. */
	io_set_timeout(p.io, 5000);
	io_set_timeout(p.io, 100);
	p.done = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(loop_until(&p.done, WAIT_MS), "no IO_TIMEOUT after 5000, 100");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms < 1000, "the 5000 ms timeout held: %ld ms", ms);
	io_set_timeout(p.io, 100);
	io_set_timeout(p.io, 5000);
	p.done = 0;
	loop_for(300);
	CHECK(p.ev[IO_TIMEOUT] == 3, "the 100 ms timeout held: %d",
	    p.ev[IO_TIMEOUT]);
	peer_free(&p);
	close(sv[1]);
}

static void
test_eof(void)
{
	struct peer	 p;
	int		 sv[2];

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.getlines = 1;
	writeall(sv[1], "QUIT\r\n", 6);
	close(sv[1]);
	CHECK(loop_until(&p.done, WAIT_MS), "no IO_DISCONNECTED");
	CHECK(p.ev[IO_DISCONNECTED] == 1, "IO_DISCONNECTED %d",
	    p.ev[IO_DISCONNECTED]);
	CHECK(p.nlines == 1 && strcmp(p.lines[0], "QUIT") == 0,
	    "line before EOF");
	CHECK(p.order[0] == IO_DATAIN, "first event %d", p.order[0]);
	CHECK_STR(io_error(p.io), "connection closed");
	CHECK(io_write(p.io, "x", 1) == -1, "io_write on a dead io");
	loop_for(20);
	CHECK(p.norder == 2, "%d events after EOF", p.norder);
	peer_free(&p);
}

static void
test_pause(void)
{
	struct peer	 p;
	char		 buf[64];
	int		 sv[2];

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.getlines = 1;
	io_pause(p.io, IO_IN);
	writeall(sv[1], "RSET\r\n", 6);
	loop_for(30);
	CHECK(p.ev[IO_DATAIN] == 0, "IO_DATAIN while paused");
	io_resume(p.io, IO_IN);
	loop_for(30);
	CHECK(p.nlines == 1 && strcmp(p.lines[0], "RSET") == 0, "resumed");

	io_pause(p.io, IO_OUT);
	io_printf(p.io, "250 ok\r\n");
	loop_for(30);
	CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == -1,
	    "written while paused");
	CHECK(io_queued(p.io) == 8, "queued %zu", io_queued(p.io));
	io_resume(p.io, IO_OUT);
	loop_for(30);
	CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 8, "resumed");
	peer_free(&p);
	close(sv[1]);
}

static void
test_close_after_flush(void)
{
	struct peer	 w, r;
	unsigned char	*b;
	size_t		 want = 1024 * 1024;
	int		 sv[2];

	mkpair(sv);
	peer_io(&w, sv[0]);
	peer_io(&r, sv[1]);
	r.drain = 1;
	b = bigbuf(want, 0);
	io_write(w.io, b, want);
	free(b);
	io_close_after_flush(w.io);
	CHECK(io_write(w.io, "", 0) == 0, "io_write after close request");
	CHECK(loop_until(&w.done, WAIT_MS), "no IO_DISCONNECTED");
	CHECK(w.ev[IO_DISCONNECTED] == 1 && w.ev[IO_ERROR] == 0,
	    "writer events %d %d", w.ev[IO_DISCONNECTED], w.ev[IO_ERROR]);
	CHECK(loop_until(&r.done, WAIT_MS), "reader saw no EOF");
	CHECK(r.got == want && r.patbad == 0, "received %zu bad %d", r.got,
	    r.patbad);
	CHECK(r.ev[IO_DISCONNECTED] == 1, "reader not disconnected");
	peer_free(&w);
	peer_free(&r);

	/* Nothing queued: it ends at once. */
	mkpair(sv);
	peer_io(&w, sv[0]);
	io_close_after_flush(w.io);
	CHECK(w.ev[IO_DISCONNECTED] == 0, "event from inside the call");
	CHECK(loop_until(&w.done, WAIT_MS), "no IO_DISCONNECTED");
	peer_free(&w);
	close(sv[1]);
}

/* ---- io_free() inside the callback ----------------------------------- */

static void
free_other_hook(struct peer *p, int event)
{
	struct peer	*other = p->ctx;

	if (event == IO_DATAIN && other->io != NULL) {
		io_free(other->io);
		other->io = NULL;
	}
}

static void
test_free_in_callback(void)
{
	struct peer	 p, q;
	unsigned char	*b;
	int		 sv[2], sv2[2];

	/* On IO_DATAIN, with more input buffered and output queued. */
	mkpair(sv);
	peer_io(&p, sv[0]);
	p.free_on = IO_DATAIN;
	io_printf(p.io, "220 hello\r\n");
	b = bigbuf(BIG / 8, 0);
	io_write(p.io, b, BIG / 8);
	free(b);
	writeall(sv[1], "EHLO x\r\nMAIL FROM:<>\r\n", 22);
	CHECK(loop_until(&p.done, WAIT_MS), "not freed");
	CHECK(p.io == NULL && p.ev[IO_DATAIN] == 1, "freed once");
	loop_for(20);
	close(sv[1]);

	/* On IO_DISCONNECTED, IO_TIMEOUT, IO_LOWAT. */
	mkpair(sv);
	peer_io(&p, sv[0]);
	p.free_on = IO_DISCONNECTED;
	writeall(sv[1], "x", 1);
	close(sv[1]);
	CHECK(loop_until(&p.done, WAIT_MS), "not freed on EOF");

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.free_on = IO_TIMEOUT;
	io_set_timeout(p.io, 10);
	CHECK(loop_until(&p.done, WAIT_MS), "not freed on timeout");
	close(sv[1]);

	mkpair(sv);
	peer_io(&p, sv[0]);
	p.free_on = IO_LOWAT;
	io_printf(p.io, "221 bye\r\n");
	CHECK(loop_until(&p.done, WAIT_MS), "not freed on IO_LOWAT");
	close(sv[1]);

	/* One io's callback frees another io. */
	mkpair(sv);
	mkpair(sv2);
	peer_io(&p, sv[0]);
	peer_io(&q, sv2[0]);
	p.ctx = &q;
	p.hook = free_other_hook;
	p.done_mask = M(IO_DATAIN);
	writeall(sv2[1], "late\r\n", 6);
	writeall(sv[1], "now\r\n", 5);
	CHECK(loop_until(&p.done, WAIT_MS), "no IO_DATAIN");
	loop_for(20);
	CHECK(q.io == NULL && q.ev[IO_DATAIN] <= 1, "other io");
	peer_free(&p);
	close(sv[1]);
	close(sv2[1]);
}

/* ---- connect ---------------------------------------------------------- */

static void
test_connect(void)
{
	struct peer		 c, s;
	struct sockaddr_in	 sin, bind4;
	struct sockaddr_un	 sun;
	int			 l, fd;

	l = tcp_listener(&sin);
	peer_io(&c, -1);
	c.done_mask = M(IO_CONNECTED) | M(IO_ERROR);
	memset(&bind4, 0, sizeof(bind4));
	bind4.sin_family = AF_INET;
	bind4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	io_printf(c.io, "EHLO early\r\n");	/* queued before connect */
	CHECK(io_connect(c.io, (struct sockaddr *)&sin,
	    (struct sockaddr *)&bind4) == 0, "io_connect: %s",
	    io_error(c.io));
	CHECK(c.ev[IO_CONNECTED] == 0, "event from inside io_connect");
	CHECK(loop_until(&c.done, WAIT_MS), "no IO_CONNECTED");
	CHECK(c.ev[IO_CONNECTED] == 1, "IO_CONNECTED %d, error %s",
	    c.ev[IO_CONNECTED], c.err);
	if ((fd = accept(l, NULL, NULL)) == -1)
		fatal("accept");
	peer_io(&s, fd);
	s.getlines = 1;
	s.done_mask = M(IO_DATAIN);
	CHECK(loop_until(&s.done, WAIT_MS), "server got nothing");
	CHECK(s.nlines == 1 && strcmp(s.lines[0], "EHLO early") == 0,
	    "early line");
	CHECK(io_connect(c.io, (struct sockaddr *)&sin, NULL) == -1,
	    "second io_connect accepted");
	peer_free(&c);
	peer_free(&s);
	close(l);

	/* A closed port: IO_ERROR, asynchronously. */
	l = tcp_listener(&sin);
	close(l);
	peer_io(&c, -1);
	CHECK(io_connect(c.io, (struct sockaddr *)&sin, NULL) == 0,
	    "io_connect: %s", io_error(c.io));
	CHECK(c.ev[IO_ERROR] == 0, "event from inside io_connect");
	CHECK(loop_until(&c.done, WAIT_MS), "no IO_ERROR");
	CHECK(c.ev[IO_ERROR] == 1 && c.ev[IO_CONNECTED] == 0,
	    "events %d %d", c.ev[IO_ERROR], c.ev[IO_CONNECTED]);
	CHECK(strstr(c.err, "refused") != NULL, "error \"%s\"", c.err);
	peer_free(&c);

	/* connect(2) fails at once (no such socket): still an event. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, "/nonexistent/test_io.sock",
	    sizeof(sun.sun_path));
	peer_io(&c, -1);
	CHECK(io_connect(c.io, (struct sockaddr *)&sun, NULL) == 0,
	    "io_connect: %s", io_error(c.io));
	CHECK(c.ev[IO_ERROR] == 0, "event from inside io_connect");
	CHECK(loop_until(&c.done, WAIT_MS), "no IO_ERROR");
	CHECK(c.ev[IO_ERROR] == 1 && strstr(c.err, "No such file") != NULL,
	    "error \"%s\"", c.err);
	peer_free(&c);

	/* A family the io does not know: -1 at once, no event. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_APPLETALK;
	peer_io(&c, -1);
	CHECK(io_connect(c.io, (struct sockaddr *)&sun, NULL) == -1,
	    "bad family accepted");
	CHECK(io_error(c.io) != NULL, "no error text");
	loop_for(10);
	CHECK(c.norder == 0, "an event after a failed io_connect");
	peer_free(&c);
}

/* ---- memory ----------------------------------------------------------- */

#define NIDLE	64

static size_t
heap_used(void)
{
	struct mallinfo2	 mi = mallinfo2();

	return (mi.uordblks + mi.hblkhd);
}

static void
test_idle_memory(void)
{
	struct peer	*p;
	int		 sv[NIDLE][2], i;
	size_t		 before, after, per;

	if ((p = calloc(NIDLE, sizeof(*p))) == NULL)
		fatal("calloc");
	for (i = 0; i < NIDLE; i++)
		mkpair(sv[i]);
	loop_for(1);
	before = heap_used();
	for (i = 0; i < NIDLE; i++) {
		peer_io(&p[i], sv[i][0]);
		p[i].getlines = 1;
		io_set_timeout(p[i].io, 300000);
		writeall(sv[i][1], "EHLO x\r\n", 8);
		io_printf(p[i].io, "250 ok\r\n");
	}
	loop_for(50);
	after = heap_used();
	per = after > before ? (after - before) / NIDLE : 0;
	if (per == 0)
		printf("     idle plain io: not measurable (sanitizer?)\n");
	else
		printf("     idle plain io: %zu bytes (libevent included)\n",
		    per);
	CHECK(per <= 1024, "an idle io holds %zu bytes", per);
	for (i = 0; i < NIDLE; i++) {
		CHECK(p[i].nlines == 1 && io_queued(p[i].io) == 0 &&
		    io_datalen(p[i].io) == 0, "io %d not idle", i);
		peer_free(&p[i]);
		close(sv[i][1]);
	}
	free(p);
}

/* ---- TLS ------------------------------------------------------------- */

static char	 tlsdir[64], cert[80], key[80], cert2[80], key2[80];
static struct tls_config	*srvcfg;
static struct tls		*srvctx;

static int
tls_setup(void)
{
	char	 cmd[1024];
	char	 err[256];

	(void)strlcpy(tlsdir, "/tmp/test_io.XXXXXX", sizeof(tlsdir));
	if (mkdtemp(tlsdir) == NULL)
		fatal("mkdtemp");
	snprintf(cert, sizeof(cert), "%s/c", tlsdir);
	snprintf(key, sizeof(key), "%s/k", tlsdir);
	snprintf(cert2, sizeof(cert2), "%s/c2", tlsdir);
	snprintf(key2, sizeof(key2), "%s/k2", tlsdir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 "
	    "-nodes -subj /CN=localhost -days 1 -keyout %s -out %s "
	    ">/dev/null 2>&1 && openssl req -x509 -newkey rsa:2048 "
	    "-nodes -subj /CN=other -days 1 -keyout %s -out %s "
	    ">/dev/null 2>&1", key, cert, key2, cert2);
	if (system(cmd) != 0) {
		printf("openssl could not make a test certificate\n");
		return (-1);
	}
	if ((srvcfg = tlsconf_server(cert, key, err, sizeof(err))) == NULL ||
	    (srvctx = tlsconf_server_ctx(srvcfg, err, sizeof(err))) == NULL) {
		printf("server TLS: %s\n", err);
		return (-1);
	}
	return (0);
}

static void
tls_teardown(void)
{
	char	 cmd[128];

	tls_free(srvctx);
	tls_config_free(srvcfg);
	if (tlsdir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tlsdir);
		(void)system(cmd);
	}
}

static struct tls *
client_ctx(int noverify, const char *cafile)
{
	struct tls_config	*cfg;
	struct tls		*ctx;
	char			 err[256];

	if ((cfg = tlsconf_client(noverify, cafile, err, sizeof(err))) ==
	    NULL)
		fatalx("tlsconf_client: %s", err);
	if ((ctx = tlsconf_client_ctx(cfg, err, sizeof(err))) == NULL)
		fatalx("tlsconf_client_ctx: %s", err);
	tls_config_free(cfg);
	return (ctx);
}

static int	 both_ready, pair_done;

static void
ready_hook(struct peer *p, int event)
{
	(void)p;
	if (event == IO_TLSREADY && ++both_ready == 2)
		pair_done = 1;
	if (event == IO_ERROR || event == IO_DISCONNECTED)
		pair_done = 1;
}

/*
 * Implicit TLS over TCP: s is the server, c the client.  1 when both
 * got IO_TLSREADY; the hooks are cleared afterwards.
 */
static int
tls_pair(struct peer *s, struct peer *c, struct tls *cctx, const char *name)
{
	int	 sv[2];

	tcp_pair(sv);
	peer_io(s, sv[1]);
	peer_io(c, sv[0]);
	s->hook = c->hook = ready_hook;
	both_ready = pair_done = 0;
	if (io_accept_tls(s->io, srvctx) == -1)
		printf("io_accept_tls: %s\n", io_error(s->io));
	if (io_connect_tls(c->io, cctx, name) == -1)
		printf("io_connect_tls: %s\n", io_error(c->io));
	(void)loop_until(&pair_done, WAIT_MS);
	if (both_ready != 2)
		loop_for(20);	/* let the other side see the failure */
	s->hook = c->hook = NULL;
	s->done = c->done = 0;
	return (both_ready == 2);
}

static void
test_tls_implicit(void)
{
	struct peer	 s, c;

	CHECK(tls_pair(&s, &c, client_ctx(1, NULL), "localhost"),
	    "handshake: server \"%s\" client \"%s\"", s.err, c.err);
	CHECK(io_is_tls(s.io) && io_is_tls(c.io), "io_is_tls");
	CHECK_STR(io_tls_version(s.io), "TLSv1.3");
	CHECK_STR(io_tls_version(c.io), "TLSv1.3");
	CHECK(io_tls_cipher(s.io) != NULL && io_tls_cipher(c.io) != NULL &&
	    strcmp(io_tls_cipher(s.io), io_tls_cipher(c.io)) == 0,
	    "ciphers %s %s", io_tls_cipher(s.io), io_tls_cipher(c.io));
	CHECK(io_tls_bits(s.io) >= 128, "bits %d", io_tls_bits(s.io));
	printf("     %s %s %d bits\n", io_tls_version(s.io),
	    io_tls_cipher(s.io), io_tls_bits(s.io));

	s.getlines = c.getlines = 1;
	s.done_mask = c.done_mask = M(IO_DATAIN);
	io_printf(c.io, "EHLO client.example\r\n");
	CHECK(loop_until(&s.done, WAIT_MS), "server got nothing");
	CHECK(s.nlines == 1 && strcmp(s.lines[0], "EHLO client.example") ==
	    0, "server line \"%s\"", s.lines[0]);
	io_printf(s.io, "250 hi\r\n");
	CHECK(loop_until(&c.done, WAIT_MS), "client got nothing");
	CHECK(c.nlines == 1 && strcmp(c.lines[0], "250 hi") == 0,
	    "client line");

	/* io_free() sends close_notify: the server sees a clean EOF. */
	s.done = 0;
	s.done_mask = M(IO_DISCONNECTED) | M(IO_ERROR);
	peer_free(&c);
	CHECK(loop_until(&s.done, WAIT_MS), "server saw no end");
	CHECK(s.ev[IO_DISCONNECTED] == 1, "server: %s", s.err);
	peer_free(&s);
}

/*
 * The server's STARTTLS, line by line as a session does it: after the
 * STARTTLS line it upgrades at once, and what followed in clear is
 * dropped by io_accept_tls().
 */
static void
starttls_server_hook(struct peer *p, int event)
{
	char	*line;
	size_t	 len;

	if (event != IO_DATAIN)
		return;
	while ((line = io_getline(p->io, &len)) != NULL) {
		if (p->nlines < MAXLINES)
			(void)strlcpy(p->lines[p->nlines++], line,
			    sizeof(p->lines[0]));
		if (strcmp(line, "STARTTLS") == 0 && !io_is_tls(p->io)) {
			io_printf(p->io, "220 2.0.0 Ready to start TLS\r\n");
			if (io_accept_tls(p->io, srvctx) == -1)
				printf("io_accept_tls: %s\n",
				    io_error(p->io));
			CHECK(io_datalen(p->io) == 0, "input kept: %zu",
			    io_datalen(p->io));
			break;
		}
	}
}

static void
starttls_client_hook(struct peer *p, int event)
{
	if (event == IO_DATAIN && p->nlines == 1 && p->ctx == NULL &&
	    strncmp(p->lines[0], "220 ", 4) == 0) {
		if (io_connect_tls(p->io, client_ctx(1, NULL), "localhost") ==
		    -1)
			printf("io_connect_tls: %s\n", io_error(p->io));
		p->ctx = p;
	}
	if (event == IO_TLSREADY)
		io_printf(p->io, "EHLO secure.example\r\n");
}

static void
test_tls_starttls(void)
{
	struct peer	 s, c;
	int		 sv[2], i;

	tcp_pair(sv);
	peer_io(&s, sv[1]);
	peer_io(&c, sv[0]);
	c.getlines = 1;
	s.hook = starttls_server_hook;
	c.hook = starttls_client_hook;
	/* A man in the middle appends a command after STARTTLS. */
	io_printf(c.io, "EHLO plain.example\r\nSTARTTLS\r\n"
	    "MAIL FROM:<injected@evil.example>\r\n");
	/* (It arrives with STARTTLS, in the same read.) */
	for (i = 0; i < 250 && s.nlines < 3 && !s.done; i++)
		loop_for(20);
	loop_for(50);
	CHECK(s.ev[IO_TLSREADY] == 1 && c.ev[IO_TLSREADY] == 1,
	    "TLS not up: server \"%s\" client \"%s\"", s.err, c.err);
	CHECK(s.nlines == 3, "server lines %d want 3", s.nlines);
	CHECK_STR(s.lines[0], "EHLO plain.example");
	CHECK_STR(s.lines[1], "STARTTLS");
	CHECK_STR(s.lines[2], "EHLO secure.example");
	for (i = 0; i < s.nlines; i++)
		CHECK(strstr(s.lines[i], "injected") == NULL,
		    "injected plaintext taken as TLS: \"%s\"", s.lines[i]);
	CHECK(c.nlines == 1, "client lines %d", c.nlines);
	CHECK(io_is_tls(s.io) && io_is_tls(c.io), "io_is_tls");
	peer_free(&s);
	peer_free(&c);
}

/* A client that injects plaintext after the 220 (reversed roles). */
static void
test_tls_starttls_client_injection(void)
{
	struct peer	 c, s;
	char		 buf[256];
	int		 sv[2];
	ssize_t		 n;

	tcp_pair(sv);
	peer_io(&c, sv[0]);
	c.getlines = 1;
	c.done_mask |= M(IO_DATAIN);
	writeall(sv[1], "220 go ahead\r\n250 injected\r\n", 28);
	CHECK(loop_until(&c.done, WAIT_MS), "client got nothing");
	CHECK(c.nlines == 2, "lines %d", c.nlines);
	/* The client upgrades after the first line only. */
	(void)io_getline(c.io, NULL);
	CHECK(io_connect_tls(c.io, client_ctx(1, NULL), "localhost") == 0,
	    "io_connect_tls: %s", io_error(c.io));
	CHECK(io_datalen(c.io) == 0, "plaintext kept");
	peer_io(&s, sv[1]);
	io_accept_tls(s.io, srvctx);
	s.done_mask = M(IO_TLSREADY) | M(IO_ERROR);
	c.done = 0;
	c.done_mask = M(IO_TLSREADY) | M(IO_ERROR);
	CHECK(loop_until(&s.done, WAIT_MS) && loop_until(&c.done, WAIT_MS),
	    "handshake");
	CHECK(c.ev[IO_TLSREADY] == 1 && s.ev[IO_TLSREADY] == 1,
	    "TLS: client \"%s\" server \"%s\"", c.err, s.err);
	(void)buf;
	(void)n;
	peer_free(&c);
	peer_free(&s);
}

static void
tls_large(size_t read_max)
{
	struct peer	 s, c;
	unsigned char	*b;
	size_t		 want = BIG;

	CHECK(tls_pair(&s, &c, client_ctx(1, NULL), "localhost"),
	    "handshake: %s %s", s.err, c.err);
	c.drain = 1;
	c.hook = xfer_hook;
	c.ctx = &want;
	io_set_read_max(c.io, read_max);
	xfer_done = 0;
	b = bigbuf(want, 0);
	CHECK(io_write(s.io, b, want / 2) == 0, "io_write");
	CHECK(io_write(s.io, b + want / 2, want - want / 2) == 0, "io_write");
	free(b);
	CHECK(loop_until(&xfer_done, 3 * WAIT_MS), "transfer stopped at %zu",
	    c.got);
	CHECK(c.got == want && c.patbad == 0, "received %zu bad %d", c.got,
	    c.patbad);
	loop_for(10);
	CHECK(s.ev[IO_LOWAT] == 1 && io_queued(s.io) == 0, "LOWAT %d queued "
	    "%zu", s.ev[IO_LOWAT], io_queued(s.io));
	CHECK(s.ev[IO_ERROR] == 0 && c.ev[IO_ERROR] == 0, "errors %s %s",
	    s.err, c.err);
	peer_free(&s);
	peer_free(&c);
}

static void
test_tls_large(void)
{
	tls_large(0);
}

/* A read_max far below a TLS record: bytes left inside libtls. */
static void
test_tls_large_small_read_max(void)
{
	tls_large(1000);
}

static void
test_tls_close_after_flush(void)
{
	struct peer	 s, c;
	unsigned char	*b;
	size_t		 want = 512 * 1024;

	CHECK(tls_pair(&s, &c, client_ctx(1, NULL), "localhost"),
	    "handshake");
	c.drain = 1;
	b = bigbuf(want, 0);
	io_write(s.io, b, want);
	free(b);
	io_close_after_flush(s.io);
	CHECK(loop_until(&s.done, WAIT_MS), "server did not finish");
	CHECK(s.ev[IO_DISCONNECTED] == 1, "server: %s", s.err);
	CHECK(loop_until(&c.done, WAIT_MS), "client saw no end");
	CHECK(c.ev[IO_DISCONNECTED] == 1, "client: %s", c.err);
	CHECK(c.got == want && c.patbad == 0, "received %zu", c.got);
	peer_free(&s);
	peer_free(&c);
}

static void
mem_checks(void)
{
	struct tls_config	*cfg;
	struct tls		*ctx;
	struct peer		 s, c;
	char			 err[256];
	uint8_t			*cm, *km;
	size_t			 cl, kl;

	if ((cm = tls_load_file(cert, &cl, NULL)) == NULL ||
	    (km = tls_load_file(key, &kl, NULL)) == NULL)
		fatal("tls_load_file");
	cfg = tlsconf_server_mem(cm, cl, km, kl, err, sizeof(err));
	CHECK(cfg != NULL, "tlsconf_server_mem: %s", err);
	tls_config_free(cfg);
	CHECK(tlsconf_server_mem(cm, cl, cm, cl, err, sizeof(err)) == NULL,
	    "a certificate as the key");
	CHECK(tlsconf_server_mem((const uint8_t *)"junk", 4, km, kl, err,
	    sizeof(err)) == NULL, "junk as the certificate");

	cfg = tlsconf_client_mem(0, cm, cl, err, sizeof(err));
	CHECK(cfg != NULL, "tlsconf_client_mem: %s", err);
	CHECK(tlsconf_client_mem(0, NULL, 0, err, sizeof(err)) == NULL,
	    "verify without CAs");
	tls_unload_file(cm, cl);
	tls_unload_file(km, kl);
	if (cfg == NULL)
		return;
	ctx = tlsconf_client_ctx(cfg, err, sizeof(err));
	tls_config_free(cfg);	/* the context keeps a reference */
	CHECK(ctx != NULL, "tlsconf_client_ctx: %s", err);
	if (ctx == NULL)
		return;
	CHECK(tls_pair(&s, &c, ctx, "localhost"), "CA from memory: %s",
	    c.err);
	peer_free(&s);
	peer_free(&c);
}

static void
test_tls_verify(void)
{
	struct peer	 s, c;
	char		 err[256];

	/* The system CAs do not know our self-signed certificate. */
	CHECK(!tls_pair(&s, &c, client_ctx(0, NULL), "localhost"),
	    "verified a self-signed certificate");
	CHECK(c.ev[IO_ERROR] == 1, "client events: error %d ready %d",
	    c.ev[IO_ERROR], c.ev[IO_TLSREADY]);
	CHECK(strstr(c.err, "handshake") != NULL, "client error \"%s\"",
	    c.err);
	printf("     verify failure: %s\n", c.err);
	loop_for(50);
	CHECK(s.ev[IO_TLSREADY] == 0, "server went on");
	peer_free(&s);
	peer_free(&c);

	/* Our certificate as the CA: verified, name checked. */
	CHECK(tls_pair(&s, &c, client_ctx(0, cert), "localhost"),
	    "with the CA: %s", c.err);
	peer_free(&s);
	peer_free(&c);
	CHECK(!tls_pair(&s, &c, client_ctx(0, cert), "mx.other.example"),
	    "wrong name verified");
	CHECK(c.ev[IO_ERROR] == 1, "no client error for a wrong name");
	peer_free(&s);
	peer_free(&c);

	/* From memory, as the front end gets its pki from the parent. */
	mem_checks();

	/* tlsconf errors. */
	CHECK(tlsconf_server(cert, key2, err, sizeof(err)) == NULL,
	    "a key that does not match");
	CHECK(strstr(err, cert) != NULL, "error \"%s\"", err);
	CHECK(tlsconf_server("/nonexistent/c", key, err, sizeof(err)) ==
	    NULL, "missing certificate");
	CHECK(strstr(err, "/nonexistent/c") != NULL, "error \"%s\"", err);
	CHECK(tlsconf_client(0, "/nonexistent/ca", err, sizeof(err)) == NULL,
	    "missing CA file");
}

static void
test_tls_garbage(void)
{
	struct peer	 s;
	int		 sv[2];
	char		 junk[600];

	tcp_pair(sv);
	peer_io(&s, sv[1]);
	CHECK(io_accept_tls(s.io, srvctx) == 0, "io_accept_tls");
	memset(junk, 'G', sizeof(junk));
	memcpy(junk, "EHLO not-tls\r\n", 14);
	writeall(sv[0], junk, sizeof(junk));
	CHECK(loop_until(&s.done, WAIT_MS), "no end");
	CHECK(s.ev[IO_ERROR] == 1 && s.ev[IO_TLSREADY] == 0,
	    "events error %d ready %d", s.ev[IO_ERROR], s.ev[IO_TLSREADY]);
	printf("     garbage: %s\n", s.err);
	peer_free(&s);
	close(sv[0]);

	/* A client that hangs up mid-handshake. */
	tcp_pair(sv);
	peer_io(&s, sv[1]);
	io_accept_tls(s.io, srvctx);
	writeall(sv[0], "\x16\x03\x01\x02\x00\x01", 6);
	close(sv[0]);
	CHECK(loop_until(&s.done, WAIT_MS), "no end");
	CHECK(s.ev[IO_ERROR] + s.ev[IO_DISCONNECTED] == 1, "events");
	peer_free(&s);
}

/* The peer drops TCP without close_notify; a silent client times out. */
/*
 * What an idle TLS session costs, printed for the memory budget: N
 * pairs up and idle, then the clients freed; what stays is the
 * servers' share.
 */
static void
test_tls_idle_memory(void)
{
	struct peer	*s, *c;
	size_t		 before, after;
	int		 i, n = 16;

	if ((s = calloc(n, sizeof(*s))) == NULL ||
	    (c = calloc(n, sizeof(*c))) == NULL)
		fatal("calloc");
	loop_for(1);
	before = heap_used();
	for (i = 0; i < n; i++) {
		CHECK(tls_pair(&s[i], &c[i], client_ctx(1, NULL), "localhost"),
		    "handshake %d", i);
		s[i].getlines = 1;
		io_set_timeout(s[i].io, 300000);
		io_printf(c[i].io, "EHLO x\r\n");
	}
	loop_for(50);
	for (i = 0; i < n; i++) {
		io_free(c[i].io);
		c[i].io = NULL;
	}
	after = heap_used();
	if (after > before)
		printf("     idle TLS server session: %zu bytes\n",
		    (after - before) / n);
	for (i = 0; i < n; i++) {
		CHECK(s[i].nlines == 1 && io_datalen(s[i].io) == 0,
		    "session %d", i);
		peer_free(&s[i]);
	}
	free(s);
	free(c);
}

static void
test_tls_eof_timeout(void)
{
	struct peer	 s, c;
	int		 sv[2];

	CHECK(tls_pair(&s, &c, client_ctx(1, NULL), "localhost"),
	    "handshake");
	s.getlines = 1;
	io_printf(c.io, "QUIT\r\n");
	loop_for(30);
	CHECK(s.nlines == 1, "line before EOF");
	(void)shutdown(io_fd(c.io), SHUT_RDWR);
	CHECK(loop_until(&s.done, WAIT_MS), "no end");
	CHECK(s.ev[IO_DISCONNECTED] + s.ev[IO_ERROR] == 1,
	    "events %d %d", s.ev[IO_DISCONNECTED], s.ev[IO_ERROR]);
	printf("     EOF without close_notify: %s\n", s.err[0] ? s.err :
	    io_error(s.io));
	peer_free(&s);
	peer_free(&c);

	tcp_pair(sv);
	peer_io(&s, sv[1]);
	s.done_mask = M(IO_TIMEOUT) | M(IO_ERROR);
	io_accept_tls(s.io, srvctx);
	io_set_timeout(s.io, 50);
	CHECK(loop_until(&s.done, WAIT_MS), "no timeout");
	CHECK(s.ev[IO_TIMEOUT] == 1, "handshake did not time out");
	peer_free(&s);
	close(sv[0]);
}

static void
test_tls_free_in_callback(void)
{
	struct peer	 s, c;

	CHECK(tls_pair(&s, &c, client_ctx(1, NULL), "localhost"),
	    "handshake");
	s.free_on = IO_DATAIN;
	io_printf(c.io, "QUIT\r\nMORE\r\n");
	CHECK(loop_until(&s.done, WAIT_MS), "server not freed");
	CHECK(loop_until(&c.done, WAIT_MS), "client saw no end");
	peer_free(&c);

	/* Freed on IO_TLSREADY. */
	memset(&s, 0, sizeof(s));
	(void)tls_pair(&s, &c, client_ctx(1, NULL), "localhost");
	peer_free(&s);
	peer_free(&c);
}

static void
tlsready_free_hook(struct peer *p, int event)
{
	if (event == IO_TLSREADY) {
		io_free(p->io);
		p->io = NULL;
		p->done = 1;
	}
}

static void
test_tls_free_on_ready(void)
{
	struct peer	 s, c;
	int		 sv[2];

	tcp_pair(sv);
	peer_io(&s, sv[1]);
	peer_io(&c, sv[0]);
	s.hook = tlsready_free_hook;
	io_accept_tls(s.io, srvctx);
	io_connect_tls(c.io, client_ctx(1, NULL), "localhost");
	CHECK(loop_until(&s.done, WAIT_MS), "server not freed");
	CHECK(s.io == NULL, "io left");
	loop_until(&c.done, WAIT_MS);
	peer_free(&c);
}

int
main(void)
{
	int	 tls_ok;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procname("test_io");
	event_init();

	RUN(test_lines_crlf);
	RUN(test_lines_bytewise);
	RUN(test_read_max);
	RUN(test_large_write_pair);
	RUN(test_large_write_tcp);
	RUN(test_lowat);
	RUN(test_printf);
	RUN(test_timeout);
	RUN(test_eof);
	RUN(test_pause);
	RUN(test_close_after_flush);
	RUN(test_free_in_callback);
	RUN(test_connect);
	RUN(test_idle_memory);

	tls_ok = tls_setup() == 0;
	CHECK(tls_ok, "TLS set-up");
	if (tls_ok) {
		RUN(test_tls_implicit);
		RUN(test_tls_starttls);
		RUN(test_tls_starttls_client_injection);
		RUN(test_tls_large);
		RUN(test_tls_large_small_read_max);
		RUN(test_tls_close_after_flush);
		RUN(test_tls_verify);
		RUN(test_tls_garbage);
		RUN(test_tls_eof_timeout);
		RUN(test_tls_idle_memory);
		RUN(test_tls_free_in_callback);
		RUN(test_tls_free_on_ready);
	} else
		unit_failed++;
	tls_teardown();
	return (unit_done());
}
