/*
 * Portcullis: event-driven buffered I/O on one socket, plain or TLS.
 *
 * Used by the front end (SMTP and POP3 server side: STARTTLS/STLS and
 * implicit TLS) and by delivery (SMTP/LMTP client side: opportunistic
 * STARTTLS and SMTPS).  One struct io wraps one descriptor, one
 * libevent event (the default base: event_init()), an input buffer, a
 * chain of output buffers and, once upgraded, a libtls context.
 *
 * Events.  The application gets everything through one callback,
 * cb(io, event, arg), with event one of enum io_event:
 *
 *	IO_CONNECTED	io_connect() succeeded.
 *	IO_TLSREADY	the TLS handshake of io_accept_tls() or
 *			io_connect_tls() completed; io_tls_*() now answer.
 *	IO_DATAIN	new input was appended to the input buffer.  Drain
 *			it with io_getline() or io_data()/io_drop().  Data
 *			left in the buffer stays there; IO_DATAIN comes
 *			again only when more bytes arrive (never a spin).
 *	IO_LOWAT	a write brought io_queued() from above the low-water
 *			mark to at or below it (default mark 0: "all sent").
 *	IO_TIMEOUT	nothing happened for the io_set_timeout() delay.
 *			The io stays usable; the timer restarts.
 *	IO_DISCONNECTED	the peer closed the connection (EOF, or a TLS
 *			close_notify), or io_close_after_flush() has
 *			finished.  A TLS peer that drops TCP without
 *			close_notify is an IO_ERROR ("unexpected eof"
 *			with OpenSSL 3).
 *	IO_ERROR	connect, read, write or TLS failure; io_error()
 *			says what.
 *
 * After IO_DISCONNECTED or IO_ERROR the io is dead: no more events, no
 * more reads or writes; the application frees it.
 *
 * Rules the io keeps:
 *  - the callback is never called from an io_*() function, only from
 *    the event loop, and never recursively; io_write(), io_printf()
 *    and the rest only queue and (re)arm;
 *  - io_free() may be called from inside the callback, on the io the
 *    callback is about or on any other io;
 *  - one libevent event per io, armed for exactly what the io waits
 *    for (with TLS, a read may wait for writability and a write for
 *    readability; both are tracked);
 *  - input is never read beyond io_set_read_max() buffered bytes:
 *    reading pauses until the application consumes;
 *  - output is queued without a limit set by the io (allocation and
 *    size_t overflow aside): io_queued() lets the application apply
 *    back-pressure (pause its producer, or use IO_LOWAT);
 *  - an idle io holds no buffers: the input buffer is freed once the
 *    application has drained it and its callback has returned (else at
 *    the next event), output chunks as soon as they are sent; both are
 *    zeroed when freed (they may hold AUTH lines).  Without TLS an
 *    idle io costs about 600 bytes (struct io, its libevent event,
 *    malloc overhead; measured by regress/unit/test_io.c).  With TLS
 *    add the libtls/OpenSSL connection: about 52 KiB measured with
 *    Debian's libretls on OpenSSL 3, whose buffers libtls keeps.
 *
 * The process must ignore SIGPIPE (libtls writes with write(2)).
 */
#ifndef PORTCULLIS_IO_H
#define PORTCULLIS_IO_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>

struct io;
struct tls;

enum io_event {
	IO_CONNECTED,
	IO_TLSREADY,
	IO_DATAIN,
	IO_LOWAT,
	IO_TIMEOUT,
	IO_DISCONNECTED,
	IO_ERROR
};

/* Directions for io_pause() and io_resume(); they may be or'ed. */
#define IO_IN		0x01
#define IO_OUT		0x02

/* io_set_read_max(): the default, and the largest value accepted. */
#define IO_READ_MAX_DEFAULT	(64 * 1024)
#define IO_READ_MAX_LIMIT	(16 * 1024 * 1024)

typedef void (*io_callback)(struct io *, int, void *);

/*
 * A new io without a descriptor.  NULL (errno set) when out of memory.
 */
struct io	*io_new(void);

/*
 * Free the io: delete its event, send a TLS close_notify if it can be
 * done without blocking, free the TLS context, close the descriptor
 * and free the buffers.  Safe inside the callback (the io notices and
 * touches nothing once the callback returns).  NULL is a no-op.
 */
void		 io_free(struct io *);

/* The callback and its argument; set it before the io can fire. */
void		 io_set_callback(struct io *, io_callback, void *);

/*
 * Give the io a connected socket.  The io owns fd from now on (closes
 * it in io_free()), sets it non-blocking (and, on TCP, turns Nagle's
 * algorithm off, as io_connect() does) and starts reading.  An io
 * takes one descriptor in its life: a second call is a fatal bug.
 */
void		 io_set_fd(struct io *, int fd);

/* The descriptor, or -1. */
int		 io_fd(struct io *);

/*
 * Inactivity timeout in milliseconds, -1 (the default) for none.  The
 * timer restarts after every I/O event and on each call.
 */
void		 io_set_timeout(struct io *, int msec);

/* IO_LOWAT when io_queued() drops from above lowat to <= lowat. */
void		 io_set_lowat(struct io *, size_t lowat);

/*
 * Read no further once this many input bytes are buffered (0 means
 * IO_READ_MAX_DEFAULT; larger than IO_READ_MAX_LIMIT is clamped).
 * Reading resumes when the application has consumed some.  With
 * io_getline(), a full buffer without a line feed means the line is
 * longer than read_max: the application must drop data or close.
 */
void		 io_set_read_max(struct io *, size_t);

/*
 * Stop reading (IO_IN) and/or writing (IO_OUT) until io_resume().
 * Output still queues while writing is paused.
 */
void		 io_pause(struct io *, int dir);
void		 io_resume(struct io *, int dir);

/*
 * Queue output.  0 on success; -1 when out of memory (errno ENOMEM),
 * when the queue would overflow size_t, or when the io is dead or has
 * no descriptor (errno EPIPE); nothing is queued then.  io_printf()
 * formats like printf(3).
 */
int		 io_write(struct io *, const void *, size_t);
int		 io_printf(struct io *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
int		 io_vprintf(struct io *, const char *, va_list)
		    __attribute__((__format__ (printf, 2, 0)));

/* Bytes queued for output and not yet written. */
size_t		 io_queued(struct io *);

/*
 * Ask for the connection to end once the output is written: reading
 * stops and buffered input is discarded; when the queue is empty (and,
 * with TLS, close_notify has been sent) the io shuts the socket down
 * for writing and delivers IO_DISCONNECTED (or IO_ERROR if a write
 * fails; IO_TIMEOUT still applies).  Typical after a 221 or 421.
 */
void		 io_close_after_flush(struct io *);

/*
 * Buffered input.  io_data() points at io_datalen() bytes (NULL when
 * nothing is buffered); the pointer is valid until the next io_*()
 * call on this io or the return of the callback.  io_drop() consumes
 * n bytes from the front (more than io_datalen() drops everything).
 */
void		*io_data(struct io *);
size_t		 io_datalen(struct io *);
void		 io_drop(struct io *, size_t n);

/*
 * Take one complete line (one ending in LF) off the input buffer.  The
 * LF and one CR just before it are removed and the line is returned
 * NUL-terminated, with its length (NUL bytes inside are possible and
 * counted: the caller rejects them; so is a CR elsewhere in the line)
 * in *len if len is not NULL.  NULL when no complete line is buffered.
 * The line is valid until the next io_*() call on this io or the
 * return of the callback.  io_getline_bare_lf() tells whether the last
 * line returned ended in a bare LF (no CR before it): SMTP refuses
 * those in DATA.
 */
char		*io_getline(struct io *, size_t *len);
int		 io_getline_bare_lf(struct io *);

/* Discard all buffered input.  io_accept_tls()/io_connect_tls() do. */
void		 io_clear_input(struct io *);

/*
 * Start a non-blocking connection to sa (a socket of its family; on
 * TCP with Nagle's algorithm off), bound first to bindaddr unless it is
 * NULL.  0 when the attempt is
 * under way: exactly one IO_CONNECTED or IO_ERROR follows (a refusal
 * too, even one that connect(2) reports at once).  -1 when it could
 * not start (socket(2) or bind(2) failed, a bad address, or the io
 * already has a descriptor): io_error() says why, no event follows.
 */
int		 io_connect(struct io *, const struct sockaddr *sa,
		    const struct sockaddr *bindaddr);

/*
 * Server side TLS: create the connection context from server_ctx (a
 * configured tls_server(), shared by many ios and not owned by them)
 * and run the handshake; IO_TLSREADY or IO_ERROR follows.  Usable at
 * accept for implicit TLS, and for STARTTLS/STLS: all buffered input
 * is discarded at once (plaintext that followed the STARTTLS command
 * must never be taken as sent under TLS: RFC 3207, CVE-2011-0411) and
 * no plaintext is read afterwards.  Output queued before the call (the
 * "220 Ready to start TLS" reply) is written first, in clear, and the
 * handshake starts once it is all sent.  -1 when the io has no
 * descriptor, is already TLS, or the context cannot be created
 * (io_error() says why); no event follows then.
 */
int		 io_accept_tls(struct io *, struct tls *server_ctx);

/*
 * Client side TLS, with the same input and output rules as
 * io_accept_tls().  ctx is a configured tls_client() context: the io
 * takes ownership of it in every case (it is freed with the io, or at
 * once when the call fails).  servername is sent as SNI and checked
 * against the certificate unless the config says noverify; it may be
 * NULL only with noverify.
 */
int		 io_connect_tls(struct io *, struct tls *ctx,
		    const char *servername);

/*
 * What ended or troubles the io: the text of the last IO_ERROR
 * ("read: Connection reset by peer", "TLS handshake: ..."), "timeout"
 * after IO_TIMEOUT, "connection closed" after IO_DISCONNECTED; NULL
 * before any of them.  Valid until the next event or io_free().
 */
const char	*io_error(struct io *);

/*
 * TLS facts once IO_TLSREADY has been delivered: the protocol version
 * ("TLSv1.3"), the cipher name, the cipher strength in bits.  NULL or
 * 0 without TLS.  io_is_tls() is 1 from IO_TLSREADY on.
 */
const char	*io_tls_version(struct io *);
const char	*io_tls_cipher(struct io *);
int		 io_tls_bits(struct io *);
int		 io_is_tls(struct io *);

/* The libtls connection context (for peer certificate checks), or NULL. */
struct tls	*io_tls(struct io *);

#endif
