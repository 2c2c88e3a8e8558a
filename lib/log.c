/*
 * Portcullis: logging.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	2048

static int	 foreground = 1;
static int	 verbose;
static const char *procname = "smtpd";
static log_sink	 sink;
static int	 logfd = STDERR_FILENO;

/*
 * Lines for stderr go through one buffer: written at once, or, while
 * log_hold(1) is on, held and written together by log_flush() or
 * log_hold(0).  The parent holds while it relays one read of a
 * worker's pipe (supervise.c), a worker for one pass of its event loop
 * (proc.c): one write instead of one a line.  Syslog gets each line as
 * it comes.  A line longer than the buffer is cut to it.
 *
 * Several processes may write to the same descriptor (in the
 * foreground every worker writes straight to the parent's stderr), so
 * a write ends at a line's end and is at most PIPE_BUF octets where
 * the lines allow: a pipe then takes each whole, and no process's line
 * is cut by another's.  A single line longer than PIPE_BUF goes in one
 * larger write, which a pipe may interleave with another's: on Linux
 * (PIPE_BUF 4096) none of ours is that long (a worker cuts its lines
 * to 1 KiB, the parent to 2 KiB), on OpenBSD (512) a long one may be.
 */
#define LOG_HOLD_MAX	16384
static char	 holdbuf[LOG_HOLD_MAX];
static size_t	 holdlen;
static int	 holding;

void
log_init(int fg, int facility)
{
	foreground = fg;
	if (!foreground)
		openlog("smtpd", LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_procname(const char *name)
{
	procname = name;
}

void
log_setverbose(int v)
{
	verbose = v;
}

int
log_getverbose(void)
{
	return verbose;
}

void
log_setsink(log_sink s)
{
	sink = s;
}

int
log_foreground(void)
{
	return foreground;
}

void
log_setfd(int fd)
{
	log_flush();
	logfd = fd;
}

/* How much of buf[0..len) to write at once: whole lines, PIPE_BUF. */
static size_t
log_chunk(const char *buf, size_t len)
{
	const char	*nl;

	if (len <= PIPE_BUF)
		return len;
	/* The last line end within the first PIPE_BUF octets. */
	if ((nl = memrchr(buf, '\n', PIPE_BUF)) != NULL)
		return (size_t)(nl - buf) + 1;
	/* One line longer than PIPE_BUF: to its end. */
	if ((nl = memchr(buf, '\n', len)) != NULL)
		return (size_t)(nl - buf) + 1;
	return len;
}

void
log_flush(void)
{
	size_t	 off = 0, chunk, done;
	ssize_t	 n;
	int	 saved = errno;

	while (off < holdlen) {
		chunk = log_chunk(holdbuf + off, holdlen - off);
		/* whole: a pipe may take it in parts */
		for (done = 0; done < chunk; done += (size_t)n) {
			n = write(logfd, holdbuf + off + done, chunk - done);
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n <= 0)
				goto out;
		}
		off += chunk;
	}
 out:
	holdlen = 0;
	errno = saved;
}

void
log_hold(int on)
{
	holding = on;
	if (!on)
		log_flush();
}

size_t
log_held(void)
{
	return holdlen;
}

/* line (len octets, no newline) and a newline to stderr. */
void
log_stderr_line(const char *line, size_t len)
{
	if (len > sizeof(holdbuf) - 1)
		len = sizeof(holdbuf) - 1;
	if (len + 1 > sizeof(holdbuf) - holdlen)
		log_flush();
	memcpy(holdbuf + holdlen, line, len);
	holdbuf[holdlen + len] = '\n';
	holdlen += len + 1;
	if (!holding)
		log_flush();
}

void
log_raw(int pri, const char *line)
{
	int	 saved = errno;

	if (pri == LOG_DEBUG && !verbose)
		return;
	if (sink != NULL)
		sink(pri, line);
	else if (foreground)
		log_stderr_line(line, strlen(line));
	else
		syslog(pri, "%s", line);
	errno = saved;
}

/* "process: message[: strerror]" into line. */
static void
log_format(char *line, size_t len, int with_errno, int saved_errno,
    const char *fmt, va_list ap)
{
	int	 n;

	n = snprintf(line, len, "%s: ", procname);
	if (n < 0 || (size_t)n >= len)
		n = 0;
	(void)vsnprintf(line + n, len - n, fmt, ap);
	if (with_errno) {
		(void)strlcat(line, ": ", len);
		(void)strlcat(line, strerror(saved_errno), len);
	}
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX];
	int	 saved = errno;

	if (pri == LOG_DEBUG && !verbose)
		return;
	log_format(line, sizeof(line), 0, saved, fmt, ap);
	log_raw(pri, line);
	errno = saved;
}

static void
vlog_err(int pri, int with_errno, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX];
	int	 saved = errno;

	log_format(line, sizeof(line), with_errno, saved, fmt, ap);
	log_raw(pri, line);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_err(LOG_ERR, 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_err(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
