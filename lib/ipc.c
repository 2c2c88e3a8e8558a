/*
 * Portcullis: framed messages between processes over socketpairs
 * (imsg-style).  See ipc.h for the wire format and the API.
 *
 * Every length that comes from the peer is distrusted: the frame header
 * is checked before anything is taken out of the read buffer, payload
 * readers check the remaining length before every field, and all
 * arithmetic on lengths is arranged so that it cannot wrap.
 *
 * Descriptors: a sender attaches a frame's descriptor to the frame's
 * first byte (the frame heads the sendmsg() that carries it).  The
 * kernel hands a descriptor out with the recvmsg() that returns the
 * byte it came with, so a receiver holds, at any time, exactly the
 * descriptors of the frames that have started to arrive and have not
 * been taken out yet.  ipc_get() checks that: a frame flagged
 * IPC_F_HASFD takes the oldest queued descriptor, and when no complete
 * frame is left, the descriptors queued must match the one partial
 * frame, if any.  Anything else is a protocol error.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"

#define IPC_OBUF_INIT	128	/* first allocation of an outgoing frame */
#define IPC_IOV_MAX	64	/* frames gathered by one sendmsg() */
#define IPC_STR_NULL	UINT32_MAX /* string length that stands for NULL */

_Static_assert(sizeof(struct ipc_hdr) == IPC_HDR_SIZE,
    "struct ipc_hdr has padding");
_Static_assert(IPC_MAX_FRAME <= UINT16_MAX, "frame length is a u16");
_Static_assert(IPC_READ_BUF >= IPC_MAX_FRAME, "read buffer too small");

struct ipc_obuf {
	TAILQ_ENTRY(ipc_obuf)	 entry;
	struct ipc		*ipc;
	uint8_t			*buf;
	size_t			 len;	/* frame bytes, header included */
	size_t			 cap;
	size_t			 wpos;	/* bytes already sent */
	int			 fd;	/* -1 once sent, or if none */
	int			 err;	/* first error while building */
};

/*
 * The channels whose events are being dispatched, innermost first.
 * ipc_clear() marks a channel's entries gone, so that the dispatcher
 * never touches a channel that a handler has torn down (and maybe
 * freed).  Single-threaded, like the processes.
 */
struct ipc_frame {
	struct ipc		*ipc;
	int			 gone;
	struct ipc_frame	*prev;
};
static struct ipc_frame	*ipc_frames;

struct ipc_names {
	uint32_t		 first;
	uint32_t		 count;
	const char *const	*names;
};
static struct ipc_names	*ipc_names;
static size_t		 ipc_nnames;

/*
 * Output is written at the end of the event loop's pass, not when it
 * is queued: ipc_close() puts the channel on this list and activates
 * ipc_later_ev, which libevent runs after the callbacks already active
 * in this pass.  So the frames that one pass queues on a channel leave
 * in one sendmsg(), and a channel that can take them (the usual case)
 * never has EV_WRITE added and removed: two epoll_ctl() per frame,
 * before.  Only when the socket is full does the channel wait for
 * EV_WRITE.
 */
static TAILQ_HEAD(, ipc) ipc_dirty = TAILQ_HEAD_INITIALIZER(ipc_dirty);
static struct event	 ipc_later_ev;
static int		 ipc_later_active;

static pid_t		 ipc_pid;
static const char	*ipc_badmsg = "malformed frame";

static int	 ipc_protoerr(const char *);
static void	 ipc_obuf_free(struct ipc_obuf *);
static int	 ipc_take(struct ipc_msg *, size_t, const uint8_t **);
static void	 ipc_bad(struct ipc_msg *, const char *, const char *)
		    __attribute__((__noreturn__));
static void	 ipc_teardown(struct ipc *, int);
static void	 ipc_dispatch(int, short, void *);
static void	 ipc_write_later(struct ipc *);
static void	 ipc_write_dirty(int, short, void *);

void
ipc_init(struct ipc *ipc, int fd, const char *name)
{
	memset(ipc, 0, sizeof(*ipc));
	ipc->fd = fd;
	(void)strlcpy(ipc->name, name != NULL ? name : "?", sizeof(ipc->name));
	if ((ipc->rbuf = malloc(IPC_READ_BUF)) == NULL)
		fatal("ipc_init");
	TAILQ_INIT(&ipc->outq);
	/* The sender's pid, refreshed here because processes fork. */
	ipc_pid = getpid();
}

void
ipc_clear(struct ipc *ipc)
{
	struct ipc_obuf		*ob;
	struct ipc_frame	*f;
	int			 i, saved = errno;

	for (f = ipc_frames; f != NULL; f = f->prev)
		if (f->ipc == ipc)
			f->gone = 1;
	if (ipc->dirty) {
		TAILQ_REMOVE(&ipc_dirty, ipc, dirty_entry);
		ipc->dirty = 0;
	}
	if (ipc->evset) {
		event_del(&ipc->ev);
		ipc->evset = 0;
		ipc->events = 0;
	}
	if (ipc->fd != -1) {
		(void)close(ipc->fd);
		ipc->fd = -1;
	}
	for (i = 0; i < ipc->nfds && i < IPC_MAX_FDS; i++)
		(void)close(ipc->fds[i]);
	ipc->nfds = 0;
	while ((ob = TAILQ_FIRST(&ipc->outq)) != NULL) {
		TAILQ_REMOVE(&ipc->outq, ob, entry);
		ipc_obuf_free(ob);
	}
	TAILQ_INIT(&ipc->outq);
	ipc->outcount = 0;
	ipc->outbytes = 0;
	/* Frames may have carried secrets (auth): wipe them. */
	if (ipc->rbuf != NULL)
		freezero(ipc->rbuf, IPC_READ_BUF);
	ipc->rbuf = NULL;
	ipc->rlen = ipc->rpos = 0;
	ipc->handler = NULL;
	ipc->closer = NULL;
	ipc->arg = NULL;
	errno = saved;
}

/* ---- building and queueing ------------------------------------------ */

int
ipc_compose(struct ipc *ipc, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	struct ipc_obuf	*ob;

	ob = ipc_create(ipc, type, peerid, fd);
	ipc_add(ob, data, len);
	return ipc_close(ob);
}

struct ipc_obuf *
ipc_create(struct ipc *ipc, uint32_t type, uint32_t peerid, int fd)
{
	struct ipc_obuf	*ob;
	struct ipc_hdr	 hdr;

	if ((ob = calloc(1, sizeof(*ob))) == NULL)
		return NULL;
	ob->ipc = ipc;
	ob->fd = -1;
	if ((ob->buf = malloc(IPC_OBUF_INIT)) == NULL) {
		ob->err = ENOMEM;
		return ob;
	}
	ob->cap = IPC_OBUF_INIT;
	if (ipc->fd == -1 || ipc->rbuf == NULL)
		ob->err = EBADF;		/* cleared channel */
	else if (fd < -1 || (fd >= 0 && fcntl(fd, F_GETFD) == -1))
		ob->err = EBADF;
	else
		ob->fd = fd;

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = 0;			/* set by ipc_close() */
	hdr.flags = fd >= 0 ? IPC_F_HASFD : 0;
	hdr.peerid = peerid;
	hdr.pid = (uint32_t)ipc_pid;
	memcpy(ob->buf, &hdr, sizeof(hdr));
	ob->len = sizeof(hdr);
	return ob;
}

void
ipc_add(struct ipc_obuf *ob, const void *data, size_t len)
{
	uint8_t	*nbuf;
	size_t	 ncap;

	if (ob == NULL || ob->err != 0 || len == 0)
		return;
	if (data == NULL) {
		ob->err = EINVAL;
		return;
	}
	/* ob->len <= IPC_MAX_FRAME always holds: no wrap below. */
	if (len > IPC_MAX_FRAME - ob->len) {
		ob->err = EMSGSIZE;
		return;
	}
	if (ob->len + len > ob->cap) {
		ncap = ob->cap;
		while (ncap < ob->len + len)
			ncap = ncap <= IPC_MAX_FRAME / 2 ? ncap * 2 :
			    IPC_MAX_FRAME;
		if ((nbuf = recallocarray(ob->buf, ob->cap, ncap, 1)) ==
		    NULL) {
			ob->err = ENOMEM;
			return;
		}
		ob->buf = nbuf;
		ob->cap = ncap;
	}
	memcpy(ob->buf + ob->len, data, len);
	ob->len += len;
}

void
ipc_add_u8(struct ipc_obuf *ob, uint8_t v)
{
	ipc_add(ob, &v, sizeof(v));
}

void
ipc_add_u32(struct ipc_obuf *ob, uint32_t v)
{
	ipc_add(ob, &v, sizeof(v));
}

void
ipc_add_u64(struct ipc_obuf *ob, uint64_t v)
{
	ipc_add(ob, &v, sizeof(v));
}

void
ipc_add_i64(struct ipc_obuf *ob, int64_t v)
{
	ipc_add(ob, &v, sizeof(v));
}

/*
 * A string travels as a u32 length, the bytes and a terminating NUL,
 * so that the receiver can hand out a pointer into its buffer.  NULL
 * travels as the length IPC_STR_NULL alone.
 */
void
ipc_add_string(struct ipc_obuf *ob, const char *s)
{
	size_t	 len;

	if (s == NULL) {
		ipc_add_u32(ob, IPC_STR_NULL);
		return;
	}
	len = strlen(s);
	if (len > IPC_MAX_PAYLOAD) {
		if (ob != NULL && ob->err == 0)
			ob->err = EMSGSIZE;
		return;
	}
	ipc_add_u32(ob, (uint32_t)len);
	ipc_add(ob, s, len + 1);
}

void
ipc_add_data(struct ipc_obuf *ob, const void *data, size_t len)
{
	if (len > IPC_MAX_PAYLOAD) {
		if (ob != NULL && ob->err == 0)
			ob->err = EMSGSIZE;
		return;
	}
	ipc_add_u32(ob, (uint32_t)len);
	ipc_add(ob, data, len);
}

int
ipc_close(struct ipc_obuf *ob)
{
	struct ipc	*ipc;
	uint16_t	 len;

	if (ob == NULL) {
		errno = ENOMEM;
		return -1;
	}
	ipc = ob->ipc;
	if (ob->err == 0 && ob->len > IPC_MAX_QUEUED - ipc->outbytes)
		ob->err = ENOBUFS;
	if (ob->err != 0) {
		/* The descriptor stays the caller's. */
		ob->fd = -1;
		errno = ob->err;
		ipc_obuf_free(ob);
		return -1;
	}
	len = (uint16_t)ob->len;
	memcpy(ob->buf + offsetof(struct ipc_hdr, len), &len, sizeof(len));
	TAILQ_INSERT_TAIL(&ipc->outq, ob, entry);
	ipc->outcount++;
	ipc->outbytes += ob->len;
	if (ipc->evset)
		ipc_write_later(ipc);
	return 0;
}

static void
ipc_write_later(struct ipc *ipc)
{
	if (!ipc->dirty) {
		TAILQ_INSERT_TAIL(&ipc_dirty, ipc, dirty_entry);
		ipc->dirty = 1;
	}
	if (!ipc_later_active) {
		/* Set each time: it binds to the current event base. */
		event_set(&ipc_later_ev, -1, 0, ipc_write_dirty, NULL);
		event_active(&ipc_later_ev, EV_TIMEOUT, 1);
		ipc_later_active = 1;
	}
}

/* The end of the pass: write what each channel queued. */
static void
ipc_write_dirty(int fd, short event, void *arg)
{
	struct ipc	*ipc;

	(void)fd;
	(void)event;
	(void)arg;
	ipc_later_active = 0;
	while ((ipc = TAILQ_FIRST(&ipc_dirty)) != NULL) {
		TAILQ_REMOVE(&ipc_dirty, ipc, dirty_entry);
		ipc->dirty = 0;
		if (ipc->outcount > 0 && ipc_write(ipc) == -1) {
			/* The closer may free it, and clear others. */
			ipc_teardown(ipc, errno);
			continue;
		}
		ipc_event_update(ipc);
	}
}

static void
ipc_obuf_free(struct ipc_obuf *ob)
{
	if (ob->fd != -1)
		(void)close(ob->fd);
	if (ob->buf != NULL)
		freezero(ob->buf, ob->cap);
	free(ob);
}

/* ---- the socket ----------------------------------------------------- */

static int
ipc_protoerr(const char *why)
{
	ipc_badmsg = why;
	errno = EBADMSG;
	return -1;
}

ssize_t
ipc_read(struct ipc *ipc)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	size_t		 i, nfd, left;
	int		 fd, bad = 0;

	if (ipc->fd == -1 || ipc->rbuf == NULL) {
		errno = EBADF;
		return -1;
	}
	/* Compact: move the unparsed tail to the front. */
	if (ipc->rpos > 0) {
		if (ipc->rpos < ipc->rlen)
			memmove(ipc->rbuf, ipc->rbuf + ipc->rpos,
			    ipc->rlen - ipc->rpos);
		ipc->rlen -= ipc->rpos;
		ipc->rpos = 0;
	}
	if (ipc->rlen >= IPC_READ_BUF) {
		errno = ENOBUFS;	/* caller did not drain ipc_get() */
		return -1;
	}

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = ipc->rbuf + ipc->rlen;
	iov.iov_len = IPC_READ_BUF - ipc->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	do {
		n = recvmsg(ipc->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;

	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0))
			continue;
		nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (fd < 0)
				continue;
			if (bad || ipc->nfds < 0 || ipc->nfds >= IPC_MAX_FDS) {
				(void)close(fd);
				bad = 1;
				continue;
			}
			ipc->fds[ipc->nfds++] = fd;
		}
	}
	/* The kernel dropped descriptors that did not fit: too many. */
	if (msg.msg_flags & MSG_CTRUNC)
		bad = 1;
	if (bad)
		return ipc_protoerr("too many descriptors");
	if (n == 0)
		return 0;

	left = IPC_READ_BUF - ipc->rlen;
	if ((size_t)n > left) {		/* cannot happen */
		errno = EIO;
		return -1;
	}
	ipc->rlen += (size_t)n;
	return n;
}

int
ipc_get(struct ipc *ipc, struct ipc_msg *m)
{
	struct ipc_hdr	 hdr;
	size_t		 avail, flen;
	int		 fd = -1;

	if (ipc->rbuf == NULL) {
		errno = EBADF;
		return -1;
	}
	if (ipc->rpos > ipc->rlen || ipc->rlen > IPC_READ_BUF ||
	    ipc->nfds < 0 || ipc->nfds > IPC_MAX_FDS)
		return ipc_protoerr("channel state corrupt");
	avail = ipc->rlen - ipc->rpos;

	if (avail < sizeof(hdr)) {
		/* At most the one partial frame holds a descriptor. */
		if (ipc->nfds > (avail > 0 ? 1 : 0))
			return ipc_protoerr("descriptor without a frame");
		return 0;
	}
	memcpy(&hdr, ipc->rbuf + ipc->rpos, sizeof(hdr));
	flen = hdr.len;
	if (flen < IPC_HDR_SIZE)
		return ipc_protoerr("frame shorter than its header");
	if (flen > IPC_MAX_FRAME)
		return ipc_protoerr("frame too long");
	if (hdr.flags & ~IPC_F_HASFD)
		return ipc_protoerr("unknown flags");
	if (hdr.flags & IPC_F_HASFD) {
		if (ipc->nfds == 0)
			return ipc_protoerr("descriptor missing");
	}
	if (avail < flen) {
		/* Partial: its descriptor, if any, is the only one queued. */
		if (ipc->nfds > ((hdr.flags & IPC_F_HASFD) ? 1 : 0))
			return ipc_protoerr("descriptor without a frame");
		return 0;
	}

	if (hdr.flags & IPC_F_HASFD) {
		fd = ipc->fds[0];
		ipc->nfds--;
		memmove(&ipc->fds[0], &ipc->fds[1],
		    (size_t)ipc->nfds * sizeof(ipc->fds[0]));
	}

	memset(m, 0, sizeof(*m));
	m->hdr = hdr;
	m->fd = fd;
	m->data = ipc->rbuf + ipc->rpos + IPC_HDR_SIZE;
	m->len = flen - IPC_HDR_SIZE;
	m->off = 0;
	m->peer = ipc->name;
	ipc->rpos += flen;
	return 1;
}

int
ipc_write(struct ipc *ipc)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct iovec	 iov[IPC_IOV_MAX];
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct ipc_obuf	*ob, *o;
	ssize_t		 n;
	size_t		 sent, left;
	int		 niov;

	if (ipc->fd == -1) {
		errno = EBADF;
		return -1;
	}
	for (;;) {
		if ((ob = TAILQ_FIRST(&ipc->outq)) == NULL)
			return 1;

		/*
		 * Gather frames; a frame with a descriptor must head its
		 * sendmsg(), so that the descriptor rides on its first byte.
		 */
		niov = 0;
		for (o = ob; o != NULL && niov < IPC_IOV_MAX;
		    o = TAILQ_NEXT(o, entry)) {
			if (o != ob && o->fd != -1)
				break;
			iov[niov].iov_base = o->buf + o->wpos;
			iov[niov].iov_len = o->len - o->wpos;
			niov++;
		}

		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = niov;
		if (ob->fd != -1) {
			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			msg.msg_control = cmsgbuf.buf;
			msg.msg_controllen = sizeof(cmsgbuf.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			memcpy(CMSG_DATA(cmsg), &ob->fd, sizeof(int));
		}

		n = sendmsg(ipc->fd, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 0;
			return -1;
		}
		/* The descriptor went with the first byte: ours to close. */
		if (ob->fd != -1 && n > 0) {
			(void)close(ob->fd);
			ob->fd = -1;
		}

		sent = (size_t)n;
		while (sent > 0 && (o = TAILQ_FIRST(&ipc->outq)) != NULL) {
			left = o->len - o->wpos;
			if (sent < left) {
				o->wpos += sent;
				break;
			}
			sent -= left;
			TAILQ_REMOVE(&ipc->outq, o, entry);
			ipc->outcount--;
			ipc->outbytes -= o->len;
			ipc_obuf_free(o);
		}
	}
}

int
ipc_flush(struct ipc *ipc)
{
	struct pollfd	 pfd;
	int		 r;

	for (;;) {
		if ((r = ipc_write(ipc)) == 1)
			return 0;
		if (r == -1)
			return -1;
		pfd.fd = ipc->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, INFTIM) == -1 && errno != EINTR)
			return -1;
	}
}

/* ---- reading fields ------------------------------------------------- */

static int
ipc_take(struct ipc_msg *m, size_t len, const uint8_t **p)
{
	if (m->off > m->len || len > m->len - m->off) {
		errno = EBADMSG;
		return -1;
	}
	*p = m->data != NULL ? m->data + m->off : NULL;
	m->off += len;
	return 0;
}

static void
ipc_bad(struct ipc_msg *m, const char *fn, const char *why)
{
	fatalx("%s: %s from %s: %s (payload %zu bytes, at %zu)", fn,
	    ipc_type_name(m->hdr.type), m->peer != NULL ? m->peer : "?",
	    why, m->len, m->off);
}

uint8_t
ipc_get_u8(struct ipc_msg *m)
{
	const uint8_t	*p;

	if (ipc_take(m, sizeof(uint8_t), &p) == -1)
		ipc_bad(m, __func__, "message too short");
	return *p;
}

uint32_t
ipc_get_u32(struct ipc_msg *m)
{
	const uint8_t	*p;
	uint32_t	 v;

	if (ipc_take(m, sizeof(v), &p) == -1)
		ipc_bad(m, __func__, "message too short");
	memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t
ipc_get_u64(struct ipc_msg *m)
{
	const uint8_t	*p;
	uint64_t	 v;

	if (ipc_take(m, sizeof(v), &p) == -1)
		ipc_bad(m, __func__, "message too short");
	memcpy(&v, p, sizeof(v));
	return v;
}

int64_t
ipc_get_i64(struct ipc_msg *m)
{
	const uint8_t	*p;
	int64_t		 v;

	if (ipc_take(m, sizeof(v), &p) == -1)
		ipc_bad(m, __func__, "message too short");
	memcpy(&v, p, sizeof(v));
	return v;
}

const char *
ipc_get_string(struct ipc_msg *m)
{
	const char	*s;

	if (ipc_try_string(m, &s) == -1)
		ipc_bad(m, __func__, "bad string");
	return s;
}

const void *
ipc_get_data(struct ipc_msg *m, size_t *len)
{
	const void	*p;

	if (ipc_try_data(m, &p, len) == -1)
		ipc_bad(m, __func__, "bad data");
	return p;
}

void
ipc_get_raw(struct ipc_msg *m, void *buf, size_t len)
{
	const uint8_t	*p;

	if (ipc_take(m, len, &p) == -1)
		ipc_bad(m, __func__, "message too short");
	if (len > 0)
		memcpy(buf, p, len);
}

void
ipc_end(struct ipc_msg *m)
{
	if (ipc_try_end(m) == -1)
		ipc_bad(m, __func__, "bytes left over");
}

/* Fixed-size fields: copy them out, or -1 leaving the cursor. */
static int
ipc_try_copy(struct ipc_msg *m, void *v, size_t len)
{
	const uint8_t	*p;

	if (ipc_take(m, len, &p) == -1)
		return -1;
	memcpy(v, p, len);
	return 0;
}

int
ipc_try_u32(struct ipc_msg *m, uint32_t *v)
{
	return ipc_try_copy(m, v, sizeof(*v));
}

int
ipc_try_u64(struct ipc_msg *m, uint64_t *v)
{
	return ipc_try_copy(m, v, sizeof(*v));
}

int
ipc_try_i64(struct ipc_msg *m, int64_t *v)
{
	return ipc_try_copy(m, v, sizeof(*v));
}

int
ipc_try_string(struct ipc_msg *m, const char **s)
{
	const uint8_t	*p;
	size_t		 save = m->off;
	uint32_t	 len;

	if (ipc_try_u32(m, &len) == -1)
		return -1;
	if (len == IPC_STR_NULL) {
		*s = NULL;
		return 0;
	}
	/* len bytes and a NUL: len < remaining, without len + 1. */
	if (m->off > m->len || len >= m->len - m->off ||
	    ipc_take(m, (size_t)len + 1, &p) == -1)
		goto bad;
	if (p[len] != '\0' || memchr(p, '\0', len) != NULL)
		goto bad;
	*s = (const char *)p;
	return 0;
 bad:
	m->off = save;
	errno = EBADMSG;
	return -1;
}

int
ipc_try_data(struct ipc_msg *m, const void **data, size_t *len)
{
	const uint8_t	*p;
	size_t		 save = m->off;
	uint32_t	 n;

	if (ipc_try_u32(m, &n) == -1)
		return -1;
	if (ipc_take(m, n, &p) == -1) {
		m->off = save;
		return -1;
	}
	*data = p;
	*len = n;
	return 0;
}

int
ipc_try_end(struct ipc_msg *m)
{
	if (m->off != m->len) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

/* ---- libevent glue -------------------------------------------------- */

void
ipc_event_set(struct ipc *ipc, ipc_handler handler, ipc_closer closer,
    void *arg)
{
	int	 flags;

	if (ipc->fd == -1)
		fatalx("ipc_event_set: %s: channel not open", ipc->name);
	if ((flags = fcntl(ipc->fd, F_GETFL)) == -1 ||
	    fcntl(ipc->fd, F_SETFL, flags | O_NONBLOCK) == -1)
		fatal("ipc_event_set: %s: fcntl", ipc->name);
	ipc->handler = handler;
	ipc->closer = closer;
	ipc->arg = arg;
	if (ipc->evset) {
		event_del(&ipc->ev);
		ipc->evset = 0;
	}
	ipc->events = 0;
	ipc_event_update(ipc);
}

void
ipc_event_update(struct ipc *ipc)
{
	short	 want;

	if (ipc->fd == -1 || ipc->handler == NULL)
		return;
	want = EV_READ | EV_PERSIST;
	if (ipc->outcount > 0)
		want |= EV_WRITE;
	if (ipc->evset && ipc->events == want)
		return;
	if (ipc->evset)
		event_del(&ipc->ev);
	event_set(&ipc->ev, ipc->fd, want, ipc_dispatch, ipc);
	if (event_add(&ipc->ev, NULL) == -1)
		fatal("ipc_event_update: %s: event_add", ipc->name);
	ipc->events = want;
	ipc->evset = 1;
}

/* Tear the channel down, then tell its owner, who may free it. */
static void
ipc_teardown(struct ipc *ipc, int err)
{
	ipc_closer	 closer = ipc->closer;
	void		*arg = ipc->arg;

	ipc_clear(ipc);
	if (closer != NULL) {
		errno = err;
		closer(ipc, arg);
	}
}

/*
 * One callback for both directions.  Handlers run with the channel
 * registered in ipc_frames; after each one the frame says whether the
 * handler cleared the channel, in which case nothing here touches it
 * again (its memory may be gone).
 */
static void
ipc_dispatch(int fd, short event, void *arg)
{
	struct ipc		*ipc = arg;
	struct ipc_frame	 frame;
	struct ipc_msg		 m;
	ssize_t			 n;
	int			 r;

	(void)fd;
	frame.ipc = ipc;
	frame.gone = 0;
	frame.prev = ipc_frames;
	ipc_frames = &frame;

	if (event & EV_READ) {
		n = ipc_read(ipc);
		if (n == -1 && errno == EBADMSG)
			fatalx("ipc: bad frame from %s: %s", ipc->name,
			    ipc_badmsg);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			ipc_teardown(ipc, errno);
			goto out;
		}
		if (n == 0) {
			/* A frame cut short: the peer died writing it. */
			ipc_teardown(ipc,
			    ipc->rlen != ipc->rpos ? ECONNRESET : 0);
			goto out;
		}
		for (;;) {
			if ((r = ipc_get(ipc, &m)) == -1)
				fatalx("ipc: bad frame from %s: %s", ipc->name,
				    ipc_badmsg);
			if (r == 0)
				break;
			ipc->handler(ipc, &m, ipc->arg);
			if (frame.gone)
				goto out;
		}
	}
	if (ipc->outcount > 0 && ipc_write(ipc) == -1) {
		ipc_teardown(ipc, errno);
		goto out;
	}
	ipc_event_update(ipc);
 out:
	ipc_frames = frame.prev;
}

/* ---- type names ----------------------------------------------------- */

void
ipc_register_names(uint32_t first, uint32_t count, const char *const *names)
{
	struct ipc_names	*n;
	size_t			 i;

	if (count == 0)
		return;
	if (names == NULL || count - 1 > UINT32_MAX - first)
		fatalx("ipc_register_names: bad range %u+%u", first, count);
	for (i = 0; i < ipc_nnames; i++) {
		n = &ipc_names[i];
		if (n->first == first && n->count == count) {
			n->names = names;	/* registered again */
			return;
		}
		if (first <= n->first + (n->count - 1) &&
		    n->first <= first + (count - 1))
			fatalx("ipc_register_names: %u+%u overlaps %u+%u",
			    first, count, n->first, n->count);
	}
	n = reallocarray(ipc_names, ipc_nnames + 1, sizeof(*ipc_names));
	if (n == NULL)
		fatal("ipc_register_names");
	ipc_names = n;
	ipc_names[ipc_nnames].first = first;
	ipc_names[ipc_nnames].count = count;
	ipc_names[ipc_nnames].names = names;
	ipc_nnames++;
}

const char *
ipc_type_name(uint32_t type)
{
	static char		 buf[sizeof("unknown(4294967295)")];
	const struct ipc_names	*n;
	size_t			 i;

	for (i = 0; i < ipc_nnames; i++) {
		n = &ipc_names[i];
		if (type >= n->first && type - n->first < n->count &&
		    n->names[type - n->first] != NULL)
			return n->names[type - n->first];
	}
	(void)snprintf(buf, sizeof(buf), "unknown(%u)", type);
	return buf;
}
