/*
 * Portcullis: libFuzzer target for the receiving side of lib/ipc.c.
 *
 * The input is what a hostile peer writes on a channel.  Its first byte
 * picks the mode: even, the rest goes onto the socket as it is; odd,
 * the rest is a list of records
 *
 *	ctl(1) len(2, little-endian) bytes(len)
 *
 * each sent by one sendmsg() with (ctl & 3) descriptors attached, or
 * IPC_MAX_FDS + 1 when ctl & 4, and read by the receiver right away
 * when ctl & 8.  The receiver drains ipc_read()/ipc_get() and takes
 * every message apart with the try-readers (and the fatal readers where
 * the length is known to suffice), then sends what it read back through
 * a second channel and checks that it arrives intact.  Nothing may
 * crash, leak a descriptor or hang.
 *
 *	clang -D_GNU_SOURCE $(pkg-config --cflags libbsd-overlay libevent) \
 *	    -Ilib -g -O1 -fsanitize=fuzzer,address,undefined \
 *	    regress/fuzz/fuzz_ipc.c lib/ipc.c lib/log.c \
 *	    $(pkg-config --libs libbsd-overlay libevent) -o obj-fuzz/fuzz_ipc
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 devnull = -1;

static void
nonblock(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		abort();
}

/* Send what the socket takes now; the rest of buf is dropped. */
static void
send_chunk(int s, const uint8_t *buf, size_t len, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) *
				    (IPC_MAX_FDS + 1))];
	}		 cmsgbuf;
	int		 fds[IPC_MAX_FDS + 1];
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	int		 i;

	if (len == 0)
		return;
	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		for (i = 0; i < nfds; i++)
			fds[i] = devnull;
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	(void)sendmsg(s, &msg, MSG_NOSIGNAL);
}

/* Send a message back through a second channel: it must arrive intact. */
static void
echo(struct ipc *out, struct ipc *in, const struct ipc_msg *m)
{
	struct ipc_msg	 e;
	int		 r;

	if (ipc_compose(out, m->hdr.type, m->hdr.peerid, -1, m->data,
	    m->len) == -1)
		abort();
	if (ipc_write(out) != 1)
		abort();
	if (ipc_read(in) <= 0)
		abort();
	while ((r = ipc_get(in, &e)) == 0)
		if (ipc_read(in) <= 0)
			abort();
	if (r != 1 || e.hdr.type != m->hdr.type ||
	    e.hdr.peerid != m->hdr.peerid || e.len != m->len ||
	    e.fd != -1 || (e.len > 0 && memcmp(e.data, m->data, e.len) != 0))
		abort();
}

/* Take a message apart, as a handler that expects type-driven fields. */
static void
consume(struct ipc_msg *m, struct ipc *out)
{
	struct ipc_obuf	*ob;
	const char	*s;
	const void	*d;
	size_t		 len, save;
	uint32_t	 v;
	int		 i;

	if (m->fd != -1)
		(void)close(m->fd);
	if (m->hdr.len != IPC_HDR_SIZE + m->len || m->len > IPC_MAX_PAYLOAD)
		abort();

	ob = ipc_create(out, m->hdr.type, m->hdr.peerid, -1);
	for (i = 0; i < 64; i++) {
		save = m->off;
		switch ((m->hdr.type + (uint32_t)i) % 5) {
		case 0:
			if (ipc_try_u32(m, &v) == 0) {
				ipc_add_u32(ob, v);
				continue;
			}
			break;
		case 1:
			if (ipc_try_string(m, &s) == 0) {
				if (s != NULL && strlen(s) > m->len)
					abort();
				ipc_add_string(ob, s);
				continue;
			}
			break;
		case 2:
			if (ipc_try_data(m, &d, &len) == 0) {
				if (len > m->len)
					abort();
				ipc_add_data(ob, d, len);
				continue;
			}
			break;
		case 3:
			if (m->len - m->off >= 8) {
				ipc_add_u64(ob, ipc_get_u64(m));
				continue;
			}
			break;
		default:
			if (m->len - m->off >= 1) {
				ipc_add_u8(ob, ipc_get_u8(m));
				continue;
			}
			break;
		}
		if (m->off != save)	/* a failed try moved the cursor */
			abort();
	}
	/* What was read re-encodes to the same bytes (strings are
	 * canonical, so this holds). */
	if (ipc_close(ob) == -1)
		abort();
	if ((ipc_try_end(m) == 0) != (m->off == m->len))
		abort();
}

/* Read once and handle every complete frame; returns what ipc_read()
 * did (0 at EOF). */
static ssize_t
drain(struct ipc *in, struct ipc *out, struct ipc *back, int *dead)
{
	struct ipc_msg	 m;
	ssize_t		 n;
	int		 r;

	if (*dead)
		return 0;
	if ((n = ipc_read(in)) == -1 && errno != EAGAIN) {
		if (errno != EBADMSG)
			abort();
		*dead = 1;
		return 0;
	}
	while ((r = ipc_get(in, &m)) == 1) {
		echo(out, back, &m);
		consume(&m, out);
		/* the re-encoded copy is queued on out: read it back */
		if (ipc_write(out) != 1)
			abort();
		while (ipc_read(back) > 0)
			while (ipc_get(back, &m) == 1)
				if (m.fd != -1)
					abort();
	}
	if (r == -1) {
		if (errno != EBADMSG)
			abort();
		*dead = 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc	 in, out, back;
	size_t		 off, len;
	int		 sv[2], ev[2], lowest, probe, dead = 0, nfds;
	uint8_t		 ctl;

	if (devnull == -1) {
		signal(SIGPIPE, SIG_IGN);
		log_init(1, 0);
		log_procname("fuzz_ipc");
		if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
			abort();
	}
	if ((lowest = dup(devnull)) == -1)
		abort();
	close(lowest);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, ev) == -1)
		abort();
	nonblock(sv[0]);
	nonblock(sv[1]);
	nonblock(ev[1]);
	ipc_init(&in, sv[1], "fuzz");
	ipc_init(&out, ev[0], "out");
	ipc_init(&back, ev[1], "back");

	if (size > 0 && (data[0] & 1) == 0) {
		for (off = 1; off < size; off += len) {
			len = size - off < 4096 ? size - off : 4096;
			send_chunk(sv[0], data + off, len, 0);
			drain(&in, &out, &back, &dead);
		}
	} else {
		for (off = 1; off + 3 <= size; off += len) {
			ctl = data[off];
			len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
			off += 3;
			if (len > size - off)
				len = size - off;
			nfds = (ctl & 4) ? IPC_MAX_FDS + 1 : ctl & 3;
			send_chunk(sv[0], data + off, len, nfds);
			if (ctl & 8)
				drain(&in, &out, &back, &dead);
		}
	}
	close(sv[0]);
	while (!dead && drain(&in, &out, &back, &dead) != 0)
		;
	ipc_clear(&in);
	ipc_clear(&out);
	ipc_clear(&back);

	/* every descriptor received or created is closed again */
	if ((probe = dup(devnull)) == -1)
		abort();
	close(probe);
	if (probe != lowest)
		abort();
	return 0;
}
