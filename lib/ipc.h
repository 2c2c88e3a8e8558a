/*
 * Portcullis: framed messages between processes over socketpairs
 * (imsg-style).  Each frame is a fixed header followed by at most
 * IPC_MAX_PAYLOAD bytes; a frame may carry one file descriptor.
 *
 * Wire header (host byte order: both ends are the same binary):
 *	uint32_t type;		message type, see the per-boundary headers
 *	uint16_t len;		header + payload, in bytes
 *	uint16_t flags;		IPC_F_HASFD when a descriptor accompanies it
 *	uint32_t peerid;	the sender's id for a session or request
 *	uint32_t pid;		the sending process
 *
 * Anything malformed (len < header, len > IPC_MAX_FRAME, unknown flag
 * bits, a frame that says it carries a descriptor when none arrived, a
 * descriptor that no frame claims, more than IPC_MAX_FDS queued
 * descriptors) is a protocol error: the low-level calls return -1 with
 * errno set to EBADMSG, and the event glue treats it as fatal for the
 * receiver, naming the peer.
 */
#ifndef PORTCULLIS_IPC_H
#define PORTCULLIS_IPC_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event.h>

#define IPC_HDR_SIZE	16
#define IPC_MAX_FRAME	65535
#define IPC_MAX_PAYLOAD	(IPC_MAX_FRAME - IPC_HDR_SIZE)
#define IPC_MAX_FDS	16		/* descriptors queued, not yet claimed */
#define IPC_READ_BUF	(4 * IPC_MAX_FRAME)
#define IPC_MAX_QUEUED	(128 * 1024 * 1024)	/* output bytes queued */

#define IPC_F_HASFD	0x0001

struct ipc_hdr {
	uint32_t	type;
	uint16_t	len;
	uint16_t	flags;
	uint32_t	peerid;
	uint32_t	pid;
};

/* One received message.  data points into the channel's read buffer and
 * is valid until the next ipc_get() or ipc_read() on the same channel,
 * or ipc_clear().  A descriptor in fd belongs to the receiver, who must
 * use or close it. */
struct ipc_msg {
	struct ipc_hdr	 hdr;
	int		 fd;		/* -1 unless IPC_F_HASFD */
	const uint8_t	*data;
	size_t		 len;		/* payload length */
	size_t		 off;		/* read cursor for ipc_get_*() */
	const char	*peer;		/* name of the channel, for errors */
};

struct ipc_obuf;			/* one queued outgoing frame */
TAILQ_HEAD(ipc_obufq, ipc_obuf);

struct ipc;
typedef void (*ipc_handler)(struct ipc *, struct ipc_msg *, void *);
/* called once when the peer closes the channel or it fails (errno set,
 * 0 for an orderly close); the channel is already torn down */
typedef void (*ipc_closer)(struct ipc *, void *);

struct ipc {
	int		 fd;
	char		 name[32];	/* peer name for logs: "queue", ... */
	uint8_t		*rbuf;		/* IPC_READ_BUF bytes */
	size_t		 rlen;		/* bytes held in rbuf */
	size_t		 rpos;		/* start of the next unparsed frame */
	int		 fds[IPC_MAX_FDS];
	int		 nfds;
	struct ipc_obufq outq;
	size_t		 outcount;	/* frames queued */
	size_t		 outbytes;	/* bytes queued, <= IPC_MAX_QUEUED */
	struct event	 ev;
	short		 events;	/* current event mask */
	int		 evset;		/* event registered */
	int		 dirty;		/* on the list of ipc_write_later() */
	TAILQ_ENTRY(ipc) dirty_entry;
	ipc_handler	 handler;
	ipc_closer	 closer;
	void		*arg;
};

/* Set up a channel on a connected, non-blocking-capable socket.  Does
 * not register events: see ipc_event_set(). */
void	 ipc_init(struct ipc *, int fd, const char *name);
/* Free buffers, close the socket and any unclaimed descriptors, drop
 * the queued output and the events.  Idempotent.  A struct ipc must be
 * cleared before its memory is freed or reused.  Safe to call from the
 * channel's own handler (or any handler): the dispatcher notices and
 * stops touching the channel, delivers none of its remaining buffered
 * frames, and does not call the closer; the handler may free the
 * memory right after ipc_clear(). */
void	 ipc_clear(struct ipc *);

/* Queue a message: payload copied, fd (if >= 0) passed and closed after
 * sending.  Returns 0, or -1 with errno (EMSGSIZE for len too large,
 * ENOBUFS past IPC_MAX_QUEUED, EBADF for a bad fd or a cleared channel);
 * on failure the fd is not closed and stays the caller's.  While events
 * are set, queueing re-arms write interest by itself. */
int	 ipc_compose(struct ipc *, uint32_t type, uint32_t peerid, int fd,
	    const void *data, size_t len);

/* Build a message field by field, then ipc_close() queues it.  Errors
 * (too large, no memory) are remembered and reported by ipc_close() as
 * -1 with errno, as for ipc_compose(); ipc_create() may return NULL (no
 * memory), which ipc_add*() ignore and ipc_close() reports.  Strings
 * travel as a u32 length, the bytes and a NUL (NULL as length
 * UINT32_MAX alone); data as a u32 length and the bytes. */
struct ipc_obuf *ipc_create(struct ipc *, uint32_t type, uint32_t peerid,
	    int fd);
void	 ipc_add(struct ipc_obuf *, const void *, size_t);
void	 ipc_add_u8(struct ipc_obuf *, uint8_t);
void	 ipc_add_u32(struct ipc_obuf *, uint32_t);
void	 ipc_add_u64(struct ipc_obuf *, uint64_t);
void	 ipc_add_i64(struct ipc_obuf *, int64_t);
void	 ipc_add_string(struct ipc_obuf *, const char *);	/* NULL ok */
void	 ipc_add_data(struct ipc_obuf *, const void *, size_t); /* len-prefixed */
int	 ipc_close(struct ipc_obuf *);

/* Low level, no libevent: read what is available from the socket into
 * the buffer (returns bytes read, 0 on EOF, -1 on error; EAGAIN is an
 * error the caller may ignore; ENOBUFS when the caller did not take
 * the complete frames out first), then take out complete frames one by
 * one (returns 1 and fills msg, 0 when no complete frame is buffered,
 * -1 with errno EBADMSG on a malformed frame). */
ssize_t	 ipc_read(struct ipc *);
int	 ipc_get(struct ipc *, struct ipc_msg *);
/* Write as much of the queue as the socket takes: returns 1 when the
 * queue is empty, 0 when data remains, -1 on error. */
int	 ipc_write(struct ipc *);
/* Blocking: write until the queue is empty (used at shutdown). */
int	 ipc_flush(struct ipc *);

/* Consume fields of a received message.  The ipc_get_*() calls are
 * fatal (they log the message type's name and the peer, then exit) when
 * the payload is too short or malformed (a string with an embedded NUL,
 * no terminating NUL or a length past the end); ipc_end() is fatal when
 * bytes are left over.  The ipc_try_*() variants return -1 with errno
 * EBADMSG instead, and leave the read cursor where it was.  Strings and
 * data point into the read buffer (see struct ipc_msg). */
uint8_t	 ipc_get_u8(struct ipc_msg *);
uint32_t ipc_get_u32(struct ipc_msg *);
uint64_t ipc_get_u64(struct ipc_msg *);
int64_t	 ipc_get_i64(struct ipc_msg *);
const char *ipc_get_string(struct ipc_msg *);	/* NULL if NULL was sent */
const void *ipc_get_data(struct ipc_msg *, size_t *);
void	 ipc_get_raw(struct ipc_msg *, void *, size_t);
void	 ipc_end(struct ipc_msg *);
int	 ipc_try_u32(struct ipc_msg *, uint32_t *);
int	 ipc_try_u64(struct ipc_msg *, uint64_t *);
int	 ipc_try_i64(struct ipc_msg *, int64_t *);
int	 ipc_try_string(struct ipc_msg *, const char **);
int	 ipc_try_data(struct ipc_msg *, const void **, size_t *);
int	 ipc_try_end(struct ipc_msg *);

/* libevent glue: set the socket non-blocking, register read (and write
 * while output is queued) events on the current event base; every
 * complete frame goes to the handler; a malformed frame is fatal; EOF or
 * an error calls closer (errno 0 for an orderly close, ECONNRESET when
 * the peer closed in the middle of a frame). */
void	 ipc_event_set(struct ipc *, ipc_handler, ipc_closer, void *);
/* Re-arm write interest after queueing outside of the handler.
 * ipc_close() and ipc_compose() already do this while events are set,
 * so calling it again is harmless. */
void	 ipc_event_update(struct ipc *);

/* Names of message types, for logs and fatal errors.  Each boundary
 * header registers its enum range once per process (registering the
 * same range again replaces it; an overlapping range is fatal).  The
 * "unknown(N)" string is static: valid until the next call. */
void	 ipc_register_names(uint32_t first, uint32_t count,
	    const char *const *names);
const char *ipc_type_name(uint32_t);	/* "IMSG_..." or "unknown(N)" */

#endif
