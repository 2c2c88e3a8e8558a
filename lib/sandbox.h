/*
 * Portcullis: the sandbox layer.  One function per process; each one
 * either installs that process's sandbox or does not return.
 *
 *	Linux	 a seccomp-bpf allow-list built with libseccomp, after
 *		 PR_SET_NO_NEW_PRIVS (lib/sandbox_linux.c).  A forbidden
 *		 system call kills the process: one line
 *		 "smtpd: <proc>: sandbox violation: system call N name
 *		 (arch 0x...)" goes to stderr and the process dies of SIGSYS,
 *		 so that the parent's waitpid() sees WTERMSIG == SIGSYS.
 *	OpenBSD	 pledge(2) promises and unveil(2) paths (lib/sandbox_openbsd.c).
 *
 * Call it last in a worker's setup, after the privilege drop (chroot,
 * chdir, setgroups, setresgid, setresuid, verified) and before the first
 * untrusted byte is read.  Before it, a worker must have done everything
 * that needs a file or a new kind of descriptor:
 *
 *	- tzset() (log_init() does it), and use localtime_r()/gmtime_r()
 *	  only: localtime()/ctime()/mktime() may reopen /etc/localtime;
 *	- event_init() / event_base_new(), the signal events (libevent's
 *	  signal socketpair), evdns initialised with its nameservers (no
 *	  getaddrinfo(): glibc's resolver opens nsswitch.conf and
 *	  resolv.conf); tls_init() and every tls_config_*_file();
 *	- no syslog() afterwards: workers log through their channel to the
 *	  parent or to stderr;
 *	- queue and mailbox: chdir() into their root (the chroot, or the
 *	  configured directory when not run as root) and use relative
 *	  paths: on OpenBSD that directory is what is unveiled.
 *
 * The parent's sandbox is a floor, not an allow-list: it runs as root,
 * forks and execs the workers and rereads any config file on reload.
 * On Linux it is a short deny-list that every worker inherits.
 */
#ifndef PORTCULLIS_SANDBOX_H
#define PORTCULLIS_SANDBOX_H

void	 sandbox_parent(void);
void	 sandbox_smtp(void);
void	 sandbox_auth(void);
void	 sandbox_queue(void);
void	 sandbox_delivery(void);
void	 sandbox_mailbox(void);
void	 sandbox_control(void);

/*
 * What process name allows, as one line of text ("stdio inet ..." on
 * OpenBSD, the system calls on Linux), for -nv style output and tests;
 * NULL for an unknown name.  The string is static.
 */
const char	*sandbox_describe(const char *name);

#endif
