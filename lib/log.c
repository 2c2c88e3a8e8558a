/*
 * Portcullis: logging.
 */
#include <errno.h>
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

/* Lines to stderr held by log_hold(1), written by log_hold(0). */
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

/* Lines to stderr, whole (a pipe may take them in parts). */
void
log_write_stderr(const char *buf, size_t len)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < len) {
		n = write(STDERR_FILENO, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
}

static void
log_hold_write(void)
{
	log_write_stderr(holdbuf, holdlen);
	holdlen = 0;
}

/*
 * In the foreground, hold the lines logged until log_hold(0) and write
 * them at once: the parent relays its workers' lines a pipe read at a
 * time.  Syslog gets each line as it comes.
 */
void
log_hold(int on)
{
	int	 saved = errno;

	holding = on;
	if (!on && holdlen > 0)
		log_hold_write();
	errno = saved;
}

void
log_raw(int pri, const char *line)
{
	int	 saved = errno;
	size_t	 len;

	if (pri == LOG_DEBUG && !verbose)
		return;
	if (sink != NULL)
		sink(pri, line);
	else if (foreground && holding &&
	    (len = strlen(line)) < sizeof(holdbuf)) {
		if (len + 1 > sizeof(holdbuf) - holdlen)
			log_hold_write();
		memcpy(holdbuf + holdlen, line, len);
		holdbuf[holdlen + len] = '\n';
		holdlen += len + 1;
	} else if (foreground) {
		if (holdlen > 0)
			log_hold_write();
		(void)fprintf(stderr, "%s\n", line);
		(void)fflush(stderr);
	} else
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
