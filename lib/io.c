/*
 * Portcullis: event-driven buffered I/O on one socket, plain or TLS.
 * See io.h for the API and its rules.
 *
 * Shape.  An io is in one state at a time:
 *
 *	NONE		no descriptor yet
 *	CONNECTING	io_connect() in progress: waits for writability
 *	HANDSHAKE	TLS requested: first the clear output queued before
 *			the request is written, then tls_handshake() runs
 *	UP		reading and writing, in clear or through TLS
 *	CLOSING		io_close_after_flush(): writing what is queued, then
 *			tls_close(), then shutdown(SHUT_WR)
 *	DEAD		after IO_DISCONNECTED or IO_ERROR: nothing more
 *
 * One persistent libevent event per io.  io_dispatch() handles one
 * wake-up and io_reload() re-arms the event for what the state waits
 * for, only when that changed: a session that goes on waiting to read
 * costs no epoll_ctl() per command (libevent restarts a persistent
 * event's timeout at each wake-up, so the timeout stays one of
 * inactivity; io_set_timeout() re-arms it).  While a dispatch runs (the callback included)
 * re-arming is left to its end, so an application writing fifty
 * replies from its callback costs one re-arm at most, not fifty.
 *
 * With TLS, a read may need writability and a write readability:
 * rwant and wwant hold what each side waits for (EV_READ / EV_WRITE,
 * the plain values when there is no TLS), and the event is armed for
 * their union.  libtls may hold decrypted bytes that the socket no
 * longer signals: when a TLS read stopped because the input buffer was
 * full, IO_F_TLS_PENDING asks the next re-arm to activate the event by
 * hand once reading is allowed again.
 *
 * The callback frame.  io_callback() points io->frame at a flag on its
 * stack; io_free() sets that flag, and io_callback() returns 1 so that
 * every caller returns at once without touching the io again.
 *
 * Buffers.  Input: one buffer, allocated when a read needs it, grown
 * up to read_max, freed (zeroed: it may hold an AUTH line) when the
 * application has drained it and the callback has returned, shrunk
 * when mostly empty.  The read size adapts between IO_IBUF_INIT and
 * IO_IBUF_BURST: it doubles when a read fills it and halves when a
 * read comes back less than half full.  Output: a chain of chunks of
 * at most IO_CHUNK_MAX bytes, written with one writev-like sendmsg()
 * of up to IO_IOV_MAX chunks, each chunk freed (zeroed) once sent.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>
#include <tls.h>

#include "io.h"
#include "log.h"

#define IO_IBUF_INIT	2048		/* first read size */
#define IO_IBUF_BURST	(64 * 1024)	/* largest read size */
#define IO_CHUNK_MIN	1024		/* smallest output chunk */
#define IO_CHUNK_MAX	(64 * 1024)	/* largest output chunk */
#define IO_IOV_MAX	16		/* chunks per sendmsg() */
#define IO_TLS_WRITES	16		/* tls_write() calls per wake-up */
#define IO_PRINTF_STACK	512		/* io_printf() without malloc */
#define IO_ERRLEN	160

_Static_assert(IO_READ_MAX_LIMIT <= SIZE_MAX / 2, "read_max doubles");
_Static_assert(IO_IBUF_INIT <= IO_IBUF_BURST, "read sizes");

enum io_state {
	IO_S_NONE,
	IO_S_CONNECTING,
	IO_S_HANDSHAKE,
	IO_S_UP,
	IO_S_CLOSING,
	IO_S_DEAD
};

#define IO_F_PAUSE_IN		0x0001
#define IO_F_PAUSE_OUT		0x0002
#define IO_F_BARE_LF		0x0004	/* last io_getline() line */
#define IO_F_TLS_READY		0x0008	/* handshake done */
#define IO_F_TLS_PENDING	0x0010	/* libtls may hold input */
#define IO_F_TLS_CLOSED		0x0020	/* tls_close() done */
#define IO_F_HS_STARTED		0x0040	/* tls_handshake() called */
#define IO_F_NOSOCK		0x0080	/* not a socket: writev() */
#define IO_F_EVSET		0x0100	/* event_set() done once */
#define IO_F_REARM		0x0200	/* timeout set in a dispatch */

struct io_chunk {
	TAILQ_ENTRY(io_chunk)	 entry;
	size_t			 pos;	/* first byte not yet sent */
	size_t			 len;	/* bytes held */
	size_t			 cap;
	unsigned char		 data[];
};
TAILQ_HEAD(io_chunkq, io_chunk);

struct io_frame {
	int			 freed;
};

struct io {
	int			 fd;
	enum io_state		 state;
	int			 flags;
	struct event		 ev;
	io_callback		 cb;
	void			*arg;
	int			 timeout;	/* msec, -1 none */
	int			 connerr;	/* errno of connect(2) */
	short			 rwant;		/* what a read waits for */
	short			 wwant;		/* what a write waits for */
	short			 hswant;	/* handshake, tls_close */
	struct io_frame		*frame;		/* callback running */
	int			 dispatching;

	size_t			 lowat;
	size_t			 read_max;

	unsigned char		*ibuf;
	size_t			 isize;
	size_t			 ipos;		/* first unconsumed byte */
	size_t			 iend;		/* end of the data */
	size_t			 iscan;		/* from ipos: bytes without LF */
	size_t			 ihint;		/* next read size */

	struct io_chunkq	 outq;
	size_t			 queued;

	struct tls		*tls;
	char			 err[IO_ERRLEN];
	int			 haserr;
};

static void	io_dispatch(int, short, void *);
static void	io_nodelay(int);
static void	io_reload(struct io *);
static void	io_arm(struct io *, int);
static int	io_callback_(struct io *, int);
static void	io_seterr(struct io *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static int	io_fail(struct io *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static int	io_can_read(struct io *);
static int	io_can_write(struct io *);
static void	io_ibuf_release(struct io *);
static void	io_ibuf_shrink(struct io *);
static int	io_ibuf_reserve(struct io *, size_t *);
static void	io_out_consume(struct io *, size_t);
static void	io_out_clear(struct io *);

enum io_rw {
	IO_RW_NONE,		/* nothing done, would block */
	IO_RW_DONE,		/* progress */
	IO_RW_EOF,
	IO_RW_ERROR		/* io_seterr() done */
};

static enum io_rw	io_read_plain(struct io *);
static enum io_rw	io_read_tls(struct io *, int *);
static enum io_rw	io_write_plain(struct io *);
static enum io_rw	io_write_tls(struct io *);
static enum io_rw	io_write_any(struct io *);

struct io *
io_new(void)
{
	struct io	*io;

	if ((io = calloc(1, sizeof(*io))) == NULL)
		return (NULL);
	io->fd = -1;
	io->state = IO_S_NONE;
	io->timeout = -1;
	io->rwant = EV_READ;
	io->wwant = EV_WRITE;
	io->hswant = EV_WRITE;
	io->read_max = IO_READ_MAX_DEFAULT;
	io->ihint = IO_IBUF_INIT;
	TAILQ_INIT(&io->outq);
	return (io);
}

void
io_free(struct io *io)
{
	if (io == NULL)
		return;
	if (io->frame != NULL)
		io->frame->freed = 1;
	if (io->flags & IO_F_EVSET)
		event_del(&io->ev);
	if (io->tls != NULL) {
		/* A courtesy close_notify: one try, never blocking. */
		if ((io->flags & IO_F_TLS_READY) &&
		    !(io->flags & IO_F_TLS_CLOSED) &&
		    (io->state == IO_S_UP || io->state == IO_S_CLOSING))
			(void)tls_close(io->tls);
		tls_free(io->tls);
	}
	if (io->fd != -1)
		close(io->fd);
	io_ibuf_release(io);
	io_out_clear(io);
	free(io);
}

void
io_set_callback(struct io *io, io_callback cb, void *arg)
{
	io->cb = cb;
	io->arg = arg;
}

void
io_set_fd(struct io *io, int fd)
{
	int	 fl;

	if (io->fd != -1 || io->state != IO_S_NONE)
		fatalx("io_set_fd: the io already has a descriptor");
	if (fd < 0)
		fatalx("io_set_fd: bad descriptor %d", fd);
	/* Most callers made it non-blocking already (accept4, socket). */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1))
		fatal("io_set_fd: fcntl");
	io_nodelay(fd);
	io->fd = fd;
	io->state = IO_S_UP;
	io_reload(io);
}

int
io_fd(struct io *io)
{
	return (io->fd);
}

/*
 * Nagle's algorithm off (TCP_NODELAY) on every TCP socket the io drives.
 * The io writes whole replies and whole buffers, never a byte at a
 * time, and Nagle held back each write smaller than a segment until the
 * peer acknowledged the one before: a reply that followed another of
 * the same batch of pipelined commands, or the last piece of a message,
 * waited for the peer's delayed ACK (40 ms on Linux).  Not a TCP socket
 * (a socketpair in the tests) or a failure: nothing to do, or latency
 * lost, never the connection.
 */
static void
io_nodelay(int fd)
{
	int	 on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

void
io_set_timeout(struct io *io, int msec)
{
	io->timeout = msec < 0 ? -1 : msec;
	if (!io->dispatching)
		io_arm(io, 1);
	else
		io->flags |= IO_F_REARM;
}

void
io_set_lowat(struct io *io, size_t lowat)
{
	io->lowat = lowat;
}

void
io_set_read_max(struct io *io, size_t max)
{
	if (max == 0)
		max = IO_READ_MAX_DEFAULT;
	if (max > IO_READ_MAX_LIMIT)
		max = IO_READ_MAX_LIMIT;
	io->read_max = max;
	io_reload(io);
}

void
io_pause(struct io *io, int dir)
{
	if (dir & IO_IN)
		io->flags |= IO_F_PAUSE_IN;
	if (dir & IO_OUT)
		io->flags |= IO_F_PAUSE_OUT;
	io_reload(io);
}

void
io_resume(struct io *io, int dir)
{
	if (dir & IO_IN)
		io->flags &= ~IO_F_PAUSE_IN;
	if (dir & IO_OUT)
		io->flags &= ~IO_F_PAUSE_OUT;
	io_reload(io);
}

/* ---- output ------------------------------------------------------- */

int
io_write(struct io *io, const void *buf, size_t len)
{
	struct io_chunkq	 fresh;
	struct io_chunk		*c, *last;
	const unsigned char	*p = buf;
	size_t			 room, n, left;

	if (io->state == IO_S_DEAD) {
		errno = EPIPE;
		return (-1);
	}
	if (len == 0)
		return (0);
	if (len > SIZE_MAX - io->queued) {
		errno = ENOMEM;
		return (-1);
	}

	/* Room left in the last chunk, then fresh chunks: all or nothing. */
	last = TAILQ_LAST(&io->outq, io_chunkq);
	room = last != NULL ? last->cap - last->len : 0;
	if (room > len)
		room = len;
	TAILQ_INIT(&fresh);
	for (left = len - room; left > 0; left -= n) {
		n = left < IO_CHUNK_MAX ? left : IO_CHUNK_MAX;
		room = n < IO_CHUNK_MIN ? IO_CHUNK_MIN : n;
		if ((c = malloc(sizeof(*c) + room)) == NULL) {
			while ((c = TAILQ_FIRST(&fresh)) != NULL) {
				TAILQ_REMOVE(&fresh, c, entry);
				free(c);
			}
			errno = ENOMEM;
			return (-1);
		}
		c->pos = c->len = 0;
		c->cap = room;
		TAILQ_INSERT_TAIL(&fresh, c, entry);
	}

	left = len;
	if (last != NULL) {
		n = last->cap - last->len;
		if (n > left)
			n = left;
		memcpy(last->data + last->len, p, n);
		last->len += n;
		p += n;
		left -= n;
	}
	while ((c = TAILQ_FIRST(&fresh)) != NULL) {
		TAILQ_REMOVE(&fresh, c, entry);
		n = left < c->cap ? left : c->cap;
		memcpy(c->data, p, n);
		c->len = n;
		p += n;
		left -= n;
		TAILQ_INSERT_TAIL(&io->outq, c, entry);
	}
	io->queued += len;
	io_reload(io);
	return (0);
}

int
io_printf(struct io *io, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = io_vprintf(io, fmt, ap);
	va_end(ap);
	return (r);
}

int
io_vprintf(struct io *io, const char *fmt, va_list ap)
{
	char	 sbuf[IO_PRINTF_STACK], *buf;
	va_list	 ap2;
	int	 n, r;

	va_copy(ap2, ap);
	n = vsnprintf(sbuf, sizeof(sbuf), fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		errno = EINVAL;
		return (-1);
	}
	if ((size_t)n < sizeof(sbuf))
		return (io_write(io, sbuf, n));

	if ((buf = malloc((size_t)n + 1)) == NULL)
		return (-1);
	va_copy(ap2, ap);
	r = vsnprintf(buf, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	if (r != n) {
		free(buf);
		errno = EINVAL;
		return (-1);
	}
	r = io_write(io, buf, n);
	freezero(buf, (size_t)n + 1);
	return (r);
}

size_t
io_queued(struct io *io)
{
	return (io->queued);
}

void
io_close_after_flush(struct io *io)
{
	switch (io->state) {
	case IO_S_NONE:
	case IO_S_DEAD:
	case IO_S_CLOSING:
		return;
	case IO_S_CONNECTING:
		/* Nothing was sent: end as soon as the socket answers. */
		io_out_clear(io);
		break;
	case IO_S_HANDSHAKE:
		/* Clear output queued before TLS goes out; anything queued
		 * once the handshake started was meant for TLS: dropped. */
		if (io->flags & IO_F_HS_STARTED)
			io_out_clear(io);
		break;
	case IO_S_UP:
		break;
	}
	io->state = IO_S_CLOSING;
	io->hswant = EV_WRITE;
	io_clear_input(io);
	io_reload(io);
}

static void
io_out_consume(struct io *io, size_t n)
{
	struct io_chunk	*c;
	size_t		 k;

	if (n > io->queued)
		fatalx("io_out_consume: %zu > %zu queued", n, io->queued);
	io->queued -= n;
	while (n > 0 && (c = TAILQ_FIRST(&io->outq)) != NULL) {
		k = c->len - c->pos;
		if (k > n)
			k = n;
		c->pos += k;
		n -= k;
		if (c->pos == c->len) {
			TAILQ_REMOVE(&io->outq, c, entry);
			freezero(c, sizeof(*c) + c->cap);
		}
	}
}

static void
io_out_clear(struct io *io)
{
	struct io_chunk	*c;

	while ((c = TAILQ_FIRST(&io->outq)) != NULL) {
		TAILQ_REMOVE(&io->outq, c, entry);
		freezero(c, sizeof(*c) + c->cap);
	}
	io->queued = 0;
}

/* ---- input -------------------------------------------------------- */

void *
io_data(struct io *io)
{
	if (io->ibuf == NULL || io->iend == io->ipos)
		return (NULL);
	return (io->ibuf + io->ipos);
}

size_t
io_datalen(struct io *io)
{
	return (io->iend - io->ipos);
}

void
io_drop(struct io *io, size_t n)
{
	size_t	 have = io->iend - io->ipos;

	if (n > have)
		n = have;
	io->ipos += n;
	io->iscan = io->iscan > n ? io->iscan - n : 0;
	if (io->ipos == io->iend)
		io->ipos = io->iend = 0;
	io_reload(io);
}

char *
io_getline(struct io *io, size_t *len)
{
	unsigned char	*line, *lf;
	size_t		 have = io->iend - io->ipos, n;

	if (io->ibuf == NULL || io->iscan >= have) {
		if (io->ibuf != NULL)
			io->iscan = have;
		return (NULL);
	}
	line = io->ibuf + io->ipos;
	lf = memchr(line + io->iscan, '\n', have - io->iscan);
	if (lf == NULL) {
		io->iscan = have;
		return (NULL);
	}
	n = lf - line;
	io->ipos += n + 1;
	io->iscan = 0;
	if (n > 0 && line[n - 1] == '\r') {
		n--;
		io->flags &= ~IO_F_BARE_LF;
	} else
		io->flags |= IO_F_BARE_LF;
	line[n] = '\0';
	if (len != NULL)
		*len = n;
	/* The line stays where it is: the buffer moves only in a read. */
	io_reload(io);
	return ((char *)line);
}

int
io_getline_bare_lf(struct io *io)
{
	return ((io->flags & IO_F_BARE_LF) ? 1 : 0);
}

void
io_clear_input(struct io *io)
{
	io->ipos = io->iend = io->iscan = 0;
	io_reload(io);
}

static void
io_ibuf_release(struct io *io)
{
	if (io->ibuf != NULL)
		freezero(io->ibuf, io->isize);
	io->ibuf = NULL;
	io->isize = io->ipos = io->iend = io->iscan = 0;
}

/*
 * After a dispatch: free the drained buffer, shrink a mostly empty one
 * so that an idle io does not sit on a burst-sized buffer.
 */
static void
io_ibuf_shrink(struct io *io)
{
	unsigned char	*nbuf;
	size_t		 have = io->iend - io->ipos, want;

	if (io->ibuf == NULL)
		return;
	if (have == 0) {
		io_ibuf_release(io);
		return;
	}
	if (io->isize <= IO_IBUF_INIT || have > io->isize / 4)
		return;
	for (want = IO_IBUF_INIT; want < have * 2; want *= 2)
		;
	if (want >= io->isize)
		return;
	if (io->ipos > 0) {
		memmove(io->ibuf, io->ibuf + io->ipos, have);
		io->ipos = 0;
		io->iend = have;
	}
	if ((nbuf = recallocarray(io->ibuf, io->isize, want, 1)) == NULL)
		return;		/* keep the big one */
	io->ibuf = nbuf;
	io->isize = want;
}

/*
 * Make room for the next read: *room bytes at ibuf + iend, at most the
 * read size and never past read_max.  -1 when out of memory.
 */
static int
io_ibuf_reserve(struct io *io, size_t *room)
{
	unsigned char	*nbuf;
	size_t		 have = io->iend - io->ipos, want, need;

	if (have >= io->read_max) {
		*room = 0;
		return (0);
	}
	want = io->read_max - have;
	if (want > io->ihint)
		want = io->ihint;
	if (io->isize - io->iend >= want) {
		*room = want;
		return (0);
	}
	if (io->ipos > 0) {
		if (have > 0)
			memmove(io->ibuf, io->ibuf + io->ipos, have);
		io->ipos = 0;
		io->iend = have;
	}
	need = have + want;		/* <= read_max: cannot wrap */
	if (io->isize < need) {
		if ((nbuf = recallocarray(io->ibuf, io->isize, need, 1)) ==
		    NULL)
			return (-1);
		io->ibuf = nbuf;
		io->isize = need;
	}
	*room = want;
	return (0);
}

/* Adapt the read size to what the last read brought. */
static void
io_ihint(struct io *io, size_t got, size_t room)
{
	if (got == room && room == io->ihint) {
		if (io->ihint < IO_IBUF_BURST)
			io->ihint *= 2;
	} else if (got < room / 2 && io->ihint > IO_IBUF_INIT)
		io->ihint /= 2;
}

/* ---- connect and TLS ---------------------------------------------- */

int
io_connect(struct io *io, const struct sockaddr *sa,
    const struct sockaddr *bindaddr)
{
	socklen_t	 salen;
	int		 s;

	if (io->fd != -1 || io->state != IO_S_NONE) {
		io_seterr(io, "connect: the io already has a descriptor");
		return (-1);
	}
	switch (sa->sa_family) {
	case AF_INET:
		salen = sizeof(struct sockaddr_in);
		break;
	case AF_INET6:
		salen = sizeof(struct sockaddr_in6);
		break;
	case AF_UNIX:
		salen = sizeof(struct sockaddr_un);
		break;
	default:
		io_seterr(io, "connect: address family %d not supported",
		    sa->sa_family);
		return (-1);
	}
	if (bindaddr != NULL && bindaddr->sa_family != sa->sa_family) {
		io_seterr(io, "connect: bind address of another family");
		return (-1);
	}
	if ((s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		io_seterr(io, "socket: %s", strerror(errno));
		return (-1);
	}
	if (bindaddr != NULL && bind(s, bindaddr, salen) == -1) {
		io_seterr(io, "bind: %s", strerror(errno));
		close(s);
		return (-1);
	}
	if (sa->sa_family != AF_UNIX)
		io_nodelay(s);
	io->fd = s;
	io->state = IO_S_CONNECTING;
	io->connerr = 0;
	if (connect(s, sa, salen) == -1 && errno != EINPROGRESS)
		io->connerr = errno;
	io_reload(io);
	return (0);
}

static int
io_start_tls(struct io *io)
{
	io_clear_input(io);
	io->state = IO_S_HANDSHAKE;
	io->hswant = EV_WRITE;
	io->flags &= ~(IO_F_HS_STARTED | IO_F_TLS_PENDING);
	io_reload(io);
	return (0);
}

int
io_accept_tls(struct io *io, struct tls *server_ctx)
{
	struct tls	*cctx = NULL;

	if (io->state != IO_S_UP || io->tls != NULL) {
		io_seterr(io, "TLS: the io is not a clear connection");
		return (-1);
	}
	if (tls_accept_socket(server_ctx, &cctx, io->fd) == -1) {
		io_seterr(io, "TLS accept: %s", tls_error(server_ctx) ?
		    tls_error(server_ctx) : "failed");
		return (-1);
	}
	io->tls = cctx;
	return (io_start_tls(io));
}

int
io_connect_tls(struct io *io, struct tls *ctx, const char *servername)
{
	if (io->state != IO_S_UP || io->tls != NULL) {
		io_seterr(io, "TLS: the io is not a clear connection");
		tls_free(ctx);
		return (-1);
	}
	if (tls_connect_socket(ctx, io->fd, servername) == -1) {
		io_seterr(io, "TLS connect: %s", tls_error(ctx) ?
		    tls_error(ctx) : "failed");
		tls_free(ctx);
		return (-1);
	}
	io->tls = ctx;
	return (io_start_tls(io));
}

/* ---- facts -------------------------------------------------------- */

const char *
io_error(struct io *io)
{
	return (io->haserr ? io->err : NULL);
}

const char *
io_tls_version(struct io *io)
{
	if (!(io->flags & IO_F_TLS_READY))
		return (NULL);
	return (tls_conn_version(io->tls));
}

const char *
io_tls_cipher(struct io *io)
{
	if (!(io->flags & IO_F_TLS_READY))
		return (NULL);
	return (tls_conn_cipher(io->tls));
}

int
io_tls_bits(struct io *io)
{
	int	 bits;

	if (!(io->flags & IO_F_TLS_READY))
		return (0);
	bits = tls_conn_cipher_strength(io->tls);
	return (bits < 0 ? 0 : bits);
}

int
io_is_tls(struct io *io)
{
	return ((io->flags & IO_F_TLS_READY) ? 1 : 0);
}

struct tls *
io_tls(struct io *io)
{
	return (io->tls);
}

static void
io_seterr(struct io *io, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(io->err, sizeof(io->err), fmt, ap);
	va_end(ap);
	io->haserr = 1;
}

/* ---- the event loop side ------------------------------------------ */

/*
 * Call the application.  1 when it freed the io: the caller returns
 * at once and touches nothing.
 */
static int
io_callback_(struct io *io, int event)
{
	struct io_frame	 frame;

	if (io->frame != NULL)
		fatalx("io: callback called recursively");
	if (io->cb == NULL)
		return (0);
	frame.freed = 0;
	io->frame = &frame;
	io->cb(io, event, io->arg);
	if (frame.freed)
		return (1);
	io->frame = NULL;
	return (0);
}

/* The io is dead: say why, tell the application. */
static int
io_fail(struct io *io, const char *fmt, ...)
{
	va_list	 ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		(void)vsnprintf(io->err, sizeof(io->err), fmt, ap);
		va_end(ap);
		io->haserr = 1;
	}
	io->state = IO_S_DEAD;
	return (io_callback_(io, IO_ERROR));
}

static int
io_eof(struct io *io)
{
	io_seterr(io, "connection closed");
	io->state = IO_S_DEAD;
	return (io_callback_(io, IO_DISCONNECTED));
}

static int
io_can_read(struct io *io)
{
	return (io->state == IO_S_UP && !(io->flags & IO_F_PAUSE_IN) &&
	    io->iend - io->ipos < io->read_max);
}

static int
io_can_write(struct io *io)
{
	return ((io->state == IO_S_UP || io->state == IO_S_CLOSING) &&
	    !(io->flags & IO_F_PAUSE_OUT) && io->queued > 0);
}

static enum io_rw
io_read_plain(struct io *io)
{
	ssize_t	 n;
	size_t	 room;

	if (io_ibuf_reserve(io, &room) == -1) {
		io_seterr(io, "read: %s", strerror(ENOMEM));
		return (IO_RW_ERROR);
	}
	if (room == 0)
		return (IO_RW_NONE);
	n = read(io->fd, io->ibuf + io->iend, room);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (IO_RW_NONE);
		io_seterr(io, "read: %s", strerror(errno));
		return (IO_RW_ERROR);
	}
	if (n == 0)
		return (IO_RW_EOF);
	io->iend += n;
	io_ihint(io, n, room);
	return (IO_RW_DONE);
}

/*
 * Read through TLS until libtls wants the socket or the buffer is
 * full.  *got is set when bytes arrived (they come before an EOF or
 * an error the same call reports).
 */
static enum io_rw
io_read_tls(struct io *io, int *got)
{
	ssize_t	 n;
	size_t	 room;

	*got = 0;
	io->flags &= ~IO_F_TLS_PENDING;
	for (;;) {
		if (io_ibuf_reserve(io, &room) == -1) {
			io_seterr(io, "read: %s", strerror(ENOMEM));
			return (IO_RW_ERROR);
		}
		if (room == 0) {
			io->flags |= IO_F_TLS_PENDING;
			return (*got ? IO_RW_DONE : IO_RW_NONE);
		}
		n = tls_read(io->tls, io->ibuf + io->iend, room);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			io->rwant = n == TLS_WANT_POLLIN ? EV_READ : EV_WRITE;
			return (*got ? IO_RW_DONE : IO_RW_NONE);
		}
		if (n == -1) {
			io_seterr(io, "TLS read: %s", tls_error(io->tls) ?
			    tls_error(io->tls) : "failed");
			return (IO_RW_ERROR);
		}
		if (n == 0)
			return (IO_RW_EOF);
		io->rwant = EV_READ;
		io->iend += n;
		io_ihint(io, n, room);
		*got = 1;
	}
}

static enum io_rw
io_write_plain(struct io *io)
{
	struct iovec	 iov[IO_IOV_MAX];
	struct msghdr	 msg;
	struct io_chunk	*c;
	ssize_t		 n;
	int		 i = 0;

	TAILQ_FOREACH(c, &io->outq, entry) {
		if (i == IO_IOV_MAX)
			break;
		iov[i].iov_base = c->data + c->pos;
		iov[i].iov_len = c->len - c->pos;
		i++;
	}
	if (i == 0)
		return (IO_RW_NONE);
	n = -1;
	if (!(io->flags & IO_F_NOSOCK)) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = i;
		n = sendmsg(io->fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == ENOTSOCK)
			io->flags |= IO_F_NOSOCK;
	}
	if (io->flags & IO_F_NOSOCK)
		n = writev(io->fd, iov, i);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR || errno == ENOBUFS)
			return (IO_RW_NONE);
		io_seterr(io, "write: %s", strerror(errno));
		return (IO_RW_ERROR);
	}
	io_out_consume(io, n);
	return (n > 0 ? IO_RW_DONE : IO_RW_NONE);
}

static enum io_rw
io_write_tls(struct io *io)
{
	struct io_chunk	*c;
	ssize_t		 n;
	int		 i, done = 0;

	for (i = 0; i < IO_TLS_WRITES; i++) {
		if ((c = TAILQ_FIRST(&io->outq)) == NULL)
			break;
		n = tls_write(io->tls, c->data + c->pos, c->len - c->pos);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			io->wwant = n == TLS_WANT_POLLIN ? EV_READ : EV_WRITE;
			break;
		}
		if (n < 0) {
			io_seterr(io, "TLS write: %s", tls_error(io->tls) ?
			    tls_error(io->tls) : "failed");
			return (IO_RW_ERROR);
		}
		io->wwant = EV_WRITE;
		io_out_consume(io, n);
		done = 1;
	}
	return (done ? IO_RW_DONE : IO_RW_NONE);
}

static enum io_rw
io_write_any(struct io *io)
{
	if (io->flags & IO_F_TLS_READY)
		return (io_write_tls(io));
	return (io_write_plain(io));
}

/* Write, then IO_LOWAT if the queue crossed the mark.  1: freed. */
static int
io_flush(struct io *io)
{
	size_t		 before = io->queued;

	switch (io_write_any(io)) {
	case IO_RW_ERROR:
		return (io_fail(io, NULL));
	case IO_RW_DONE:
		if (before > io->lowat && io->queued <= io->lowat)
			return (io_callback_(io, IO_LOWAT));
		break;
	default:
		break;
	}
	return (0);
}

static int
io_dispatch_connect(struct io *io)
{
	socklen_t	 len;
	int		 err;

	err = io->connerr;
	if (err == 0) {
		len = sizeof(err);
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
	}
	if (err != 0)
		return (io_fail(io, "connect: %s", strerror(err)));
	io->state = IO_S_UP;
	return (io_callback_(io, IO_CONNECTED));
}

static int
io_dispatch_handshake(struct io *io)
{
	int	 r;

	if (!(io->flags & IO_F_HS_STARTED) && io->queued > 0) {
		/* The clear reply that precedes the handshake. */
		if (io_write_plain(io) == IO_RW_ERROR)
			return (io_fail(io, NULL));
		if (io->queued > 0)
			return (0);
	}
	io->flags |= IO_F_HS_STARTED;
	r = tls_handshake(io->tls);
	if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
		io->hswant = r == TLS_WANT_POLLIN ? EV_READ : EV_WRITE;
		return (0);
	}
	if (r == -1)
		return (io_fail(io, "TLS handshake: %s", tls_error(io->tls) ?
		    tls_error(io->tls) : "failed"));
	io->state = IO_S_UP;
	io->rwant = EV_READ;
	io->wwant = EV_WRITE;
	/* The handshake may have left application data inside libtls. */
	io->flags |= IO_F_TLS_READY | IO_F_TLS_PENDING;
	return (io_callback_(io, IO_TLSREADY));
}

static int
io_dispatch_up(struct io *io, short ev)
{
	enum io_rw	 r;
	int		 got = 0, called = 0;

	if (io_can_read(io) && ((ev & io->rwant) ||
	    ((io->flags & IO_F_TLS_PENDING) && (ev & EV_READ)))) {
		if (io->flags & IO_F_TLS_READY)
			r = io_read_tls(io, &got);
		else {
			r = io_read_plain(io);
			got = r == IO_RW_DONE;
		}
		if (got) {
			if (io_callback_(io, IO_DATAIN))
				return (1);
			called = 1;
		}
		/* The callback may have moved on (STARTTLS, close). */
		if (io->state != IO_S_UP)
			return (0);
		if (r == IO_RW_EOF)
			return (io_eof(io));
		if (r == IO_RW_ERROR)
			return (io_fail(io, NULL));
	}
	/* Write when the socket said so, or at once after the callback
	 * queued its replies: most often the socket can take them. */
	if (io_can_write(io) &&
	    ((ev & io->wwant) || (called && io->wwant == EV_WRITE)))
		return (io_flush(io));
	return (0);
}

static int
io_dispatch_closing(struct io *io)
{
	int	 r;

	if (io->queued > 0) {
		if (io->flags & IO_F_PAUSE_OUT)
			return (0);
		if (io_write_any(io) == IO_RW_ERROR)
			return (io_fail(io, NULL));
		if (io->queued > 0)
			return (0);
	}
	if ((io->flags & (IO_F_TLS_READY | IO_F_TLS_CLOSED)) ==
	    IO_F_TLS_READY) {
		r = tls_close(io->tls);
		if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
			io->hswant = r == TLS_WANT_POLLIN ? EV_READ : EV_WRITE;
			return (0);
		}
		/* An error here changes nothing: we are leaving. */
		io->flags |= IO_F_TLS_CLOSED;
	}
	(void)shutdown(io->fd, SHUT_WR);
	return (io_eof(io));
}

static void
io_dispatch(int fd, short ev, void *arg)
{
	struct io	*io = arg;
	int		 freed = 0, force;

	(void)fd;
	io->dispatching = 1;
	if (ev & EV_TIMEOUT) {
		io_seterr(io, "timeout");
		freed = io_callback_(io, IO_TIMEOUT);
	} else {
		switch (io->state) {
		case IO_S_CONNECTING:
			freed = io_dispatch_connect(io);
			break;
		case IO_S_HANDSHAKE:
			freed = io_dispatch_handshake(io);
			break;
		case IO_S_UP:
			freed = io_dispatch_up(io, ev);
			/* Closed by the callback (QUIT, 421): the last reply
			 * goes now, without arming EV_WRITE to send it. */
			if (!freed && io->state == IO_S_CLOSING)
				freed = io_dispatch_closing(io);
			break;
		case IO_S_CLOSING:
			freed = io_dispatch_closing(io);
			break;
		case IO_S_NONE:
		case IO_S_DEAD:
			break;
		}
	}
	if (freed)
		return;
	io->dispatching = 0;
	io_ibuf_shrink(io);
	force = (io->flags & IO_F_REARM) != 0;
	io->flags &= ~IO_F_REARM;
	io_arm(io, force);
}

/*
 * Output queued outside a dispatch (a reply after an answer from
 * another process, a greeting) is written at the end of the event
 * loop's pass: the event is activated as if the socket had said it
 * was writable, which it nearly always is.  Arming EV_WRITE instead
 * would cost an epoll_ctl() to add it and another to take it away.
 * Only UP and CLOSING write from a dispatch: CONNECTING and HANDSHAKE
 * wait for the socket itself.
 */
static void
io_reload(struct io *io)
{
	if (io->dispatching)
		return;
	if ((io->flags & IO_F_EVSET) && io_can_write(io) &&
	    (io->state == IO_S_UP || io->state == IO_S_CLOSING)) {
		event_active(&io->ev, EV_WRITE, 1);
		return;
	}
	io_arm(io, 0);
}

/*
 * Arm the event for what the state waits for.  Unless forced, an event
 * already pending for the same events is left alone (its timer keeps
 * running).
 */
static void
io_arm(struct io *io, int force)
{
	struct timeval	 tv, *tvp = NULL;
	short		 events = 0, kick = 0, cur;

	if (io->fd == -1)
		return;
	switch (io->state) {
	case IO_S_NONE:
		return;
	case IO_S_DEAD:
		if (io->flags & IO_F_EVSET)
			event_del(&io->ev);
		return;
	case IO_S_CONNECTING:
		events = EV_WRITE;
		if (io->connerr)
			kick = EV_WRITE;
		break;
	case IO_S_HANDSHAKE:
		if (!(io->flags & IO_F_HS_STARTED) && io->queued > 0)
			events = EV_WRITE;
		else
			events = io->hswant;
		break;
	case IO_S_UP:
		if (io_can_read(io)) {
			events |= io->rwant;
			if (io->flags & IO_F_TLS_PENDING)
				kick = EV_READ;
		}
		if (io_can_write(io))
			events |= io->wwant;
		break;
	case IO_S_CLOSING:
		if (io->queued > 0) {
			if (!(io->flags & IO_F_PAUSE_OUT))
				events = (io->flags & IO_F_TLS_READY) ?
				    io->wwant : EV_WRITE;
		} else
			events = io->hswant;
		break;
	}
	if (io->timeout >= 0) {
		tv.tv_sec = io->timeout / 1000;
		tv.tv_usec = (io->timeout % 1000) * 1000;
		tvp = &tv;
	}

	cur = (io->flags & IO_F_EVSET) ? event_pending(&io->ev,
	    EV_READ | EV_WRITE | EV_TIMEOUT, NULL) : 0;
	if (cur != 0 && (cur & (EV_READ | EV_WRITE)) == events &&
	    events != 0 && tvp != NULL && (force || !(cur & EV_TIMEOUT))) {
		/* Only the timer changes: adding a pending event again
		 * reschedules its timeout and leaves epoll alone. */
		event_add(&io->ev, tvp);
	} else if (force || cur == 0 ||
	    (cur & (EV_READ | EV_WRITE)) != events ||
	    ((cur & EV_TIMEOUT) != 0) != (tvp != NULL)) {
		if (io->flags & IO_F_EVSET)
			event_del(&io->ev);
		event_set(&io->ev, io->fd, events | EV_PERSIST, io_dispatch,
		    io);
		io->flags |= IO_F_EVSET;
		if (events != 0 || tvp != NULL)
			event_add(&io->ev, tvp);
	}
	if (kick)
		event_active(&io->ev, kick, 1);
}
