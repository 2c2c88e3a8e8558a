/*
 * Portcullis: logging.  Every line names its process.  In the
 * foreground (-d) lines go to stderr, or the descriptor log_setfd()
 * names; otherwise to syslog.  A worker sets a sink (smtpd/proc.c): its
 * lines go to the parent over its stderr, or in the foreground straight
 * to the parent's stderr.
 */
#ifndef PORTCULLIS_LOG_H
#define PORTCULLIS_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Where a worker's lines go when it is not in the foreground. */
typedef void (*log_sink)(int priority, const char *line);

void	 log_init(int foreground, int facility);
void	 log_procname(const char *);	/* "parent", "smtp", ... */
void	 log_setverbose(int);
int	 log_getverbose(void);
void	 log_setsink(log_sink);
int	 log_foreground(void);
void	 log_hold(int);
void	 log_flush(void);
/* Where the foreground lines go: stderr unless set. */
void	 log_setfd(int);
size_t	 log_held(void);
void	 log_stderr_line(const char *, size_t);

void	 log_warn(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 log_warnx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 log_info(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 log_debug(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 vlog(int, const char *, va_list)
	    __attribute__((__format__ (printf, 2, 0)));
/* Write a line as given, no process prefix added (lines relayed from a
 * worker already carry theirs). */
void	 log_raw(int, const char *);
__attribute__((__noreturn__))
void	 fatal(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
__attribute__((__noreturn__))
void	 fatalx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));

#endif
