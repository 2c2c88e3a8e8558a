/*
 * Portcullis: sandboxes on Linux, seccomp-bpf through libseccomp.
 *
 * Each worker's filter is an allow-list: the worker base (its C runtime
 * and a libevent loop over descriptors it already holds) plus a short
 * list of its own below.  Anything else traps: the SIGSYS handler
 * writes one line to stderr, which the parent relays into its log, and
 * the process dies of SIGSYS.  A system call from another architecture
 * (the i386 or x32 entry points on x86_64) kills the process at once:
 * libseccomp checks the architecture before anything else.  mmap() and
 * mprotect() never get PROT_EXEC.
 *
 * The parent's filter is the reverse, a deny-list of what no mail
 * server needs, for it runs as root, forks, execs the workers (and the
 * dynamic loader maps code), binds sockets and rereads the config.  It
 * is installed before the first worker starts and every worker inherits
 * it beneath its own.
 *
 * Sanitizer builds (ASan, UBSan): the runtime is told before the
 * filter goes on (it caches the memory map) and gets the few calls it
 * makes on its own (sanitizer_base).  A forbidden call made by the
 * sanitizer runtime itself (its code, not libc called from an
 * interceptor), or made while ASan writes an error report, fails with
 * EPERM instead of killing: reports read /proc, readlink() the program
 * and fork a symbolizer, and the report must still be written in full,
 * its stack unsymbolized (addr2line -e smtpd 0x...).  LeakSanitizer,
 * which needs ptrace, clone and /proc, is off in a sandboxed process
 * (__lsan_is_turned_off()): its at-exit check would die.
 */
#ifdef __linux__

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <seccomp.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

#include "log.h"
#include "sandbox.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP	1		/* si_code of a seccomp trap */
#endif

/*
 * One rule: a system call, allowed (or, in the parent's deny-list,
 * refused) when every comparison (arg & mask) == value holds.
 */
struct sb_cmp {
	unsigned int	 arg;
	uint64_t	 mask;
	uint64_t	 value;
};

struct sb_rule {
	const char	*name;		/* as sandbox_describe() shows it */
	int		 nr;		/* < 0: not a call on this arch */
	int		 ncmp;
	struct sb_cmp	 cmp[2];
};

#define SB_INT		0xffffffffULL	/* an int argument: low half only */
#define SB_SELF		(~0ULL)		/* value: this process's pid */

#define ALLOW(sys)							\
	{ #sys, SCMP_SYS(sys), 0, { { 0, 0, 0 }, { 0, 0, 0 } } }
#define ALLOW_ARG(sys, a, v)						\
	{ #sys "(" #v ")", SCMP_SYS(sys), 1,				\
	    { { a, SB_INT, v }, { 0, 0, 0 } } }
#define ALLOW_ARG2(sys, a, v, b, w)					\
	{ #sys "(" #v "," #w ")", SCMP_SYS(sys), 2,			\
	    { { a, SB_INT, v }, { b, SB_INT, w } } }
#define ALLOW_FLAG(sys, a, f)						\
	{ #sys "(" #f ")", SCMP_SYS(sys), 1, { { a, f, f }, { 0, 0, 0 } } }
#define NOEXEC(sys)							\
	{ #sys "(!PROT_EXEC)", SCMP_SYS(sys), 1,			\
	    { { 2, PROT_EXEC, 0 }, { 0, 0, 0 } } }
#define SELF(sys)							\
	{ #sys "(self)", SCMP_SYS(sys), 1,				\
	    { { 0, SB_INT, SB_SELF }, { 0, 0, 0 } } }
#define SOCKET(d, t)							\
	{ "socket(" #d "," #t ")", SCMP_SYS(socket), 2,		\
	    { { 0, SB_INT, d },						\
	    { 1, SB_INT & ~(uint64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC), t } } }
#define DENY(sys)	ALLOW(sys)
#define SB_END		{ NULL, 0, 0, { { 0, 0, 0 }, { 0, 0, 0 } } }

/*
 * Every worker: its C runtime and a libevent loop over the descriptors
 * it already holds, among them its imsg channel (descriptor passing).
 * Nothing here opens a file or makes a new descriptor.
 */
static const struct sb_rule worker_base[] = {
	/* memory: malloc, never executable */
	ALLOW(brk),
	NOEXEC(mmap),
	NOEXEC(mprotect),
	ALLOW(munmap),
	ALLOW(mremap),
	ALLOW(madvise),
	/* time: the vDSO falls back to these */
	ALLOW(clock_gettime),
	ALLOW(gettimeofday),
	ALLOW(time),
	/* signals; raise() and abort() reach this process only */
	ALLOW(rt_sigaction),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigreturn),
	ALLOW(restart_syscall),
	ALLOW(getpid),
	ALLOW(gettid),
	SELF(tgkill),
	ALLOW(exit),
	ALLOW(exit_group),
	/* libc and libraries */
	ALLOW(futex),
	ALLOW(getrandom),		/* arc4random, libtls */
	ALLOW(sysinfo),			/* glibc qsort() */
	/* the event loop */
	ALLOW(epoll_wait),
	ALLOW(epoll_pwait),
	ALLOW(epoll_ctl),
	ALLOW(read),
	ALLOW(readv),
	ALLOW(write),
	ALLOW(writev),
	ALLOW(recvfrom),		/* recv(): libevent's signal pipe */
	ALLOW(sendto),			/* send() */
	ALLOW(recvmsg),			/* imsg, SCM_RIGHTS */
	ALLOW(sendmsg),
	ALLOW(close),
	ALLOW(lseek),
	ALLOW(fstat),
	ALLOW_FLAG(newfstatat, 3, AT_EMPTY_PATH),	/* fstat() */
	ALLOW_ARG(fcntl, 1, F_GETFL),
	ALLOW_ARG(fcntl, 1, F_SETFL),
	ALLOW_ARG(fcntl, 1, F_GETFD),
	ALLOW_ARG(fcntl, 1, F_SETFD),
	ALLOW_ARG(ioctl, 1, FIONREAD),	/* libevent's evbuffer_read() */
	SB_END
};

/* What ASan and UBSan do at run time, in sanitizer builds only. */
static const struct sb_rule sanitizer_base[] = {
	ALLOW(sigaltstack),
	ALLOW(sched_yield),
	ALLOW(prlimit64),
	ALLOW_ARG(ioctl, 1, TCGETS),	/* isatty(2): colours */
	ALLOW(pipe2),			/* IsAccessibleMemoryRange() */
	SB_END
};

/* smtp: SMTP and POP3 sessions, DNS (evdns) and spamd. */
static const struct sb_rule smtp_rules[] = {
	ALLOW(accept4),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(getsockopt),
	ALLOW(setsockopt),
	ALLOW(shutdown),
	SOCKET(AF_INET, SOCK_STREAM),
	SOCKET(AF_INET, SOCK_DGRAM),
	SOCKET(AF_INET6, SOCK_STREAM),
	SOCKET(AF_INET6, SOCK_DGRAM),
	ALLOW(connect),
	ALLOW(pread64),			/* spool and mailbox descriptors */
	SB_END
};

/*
 * auth: password checks and counters over its channels, and the POP3
 * login tracker's state file, whose descriptor the parent passes: read
 * at start, rewritten in place.  No open: the file is never named here.
 */
static const struct sb_rule auth_rules[] = {
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(ftruncate),
	ALLOW(fdatasync),
	SB_END
};

/* queue: the spool, relative to its root (the cwd). */
static const struct sb_rule queue_rules[] = {
	ALLOW(openat),
	ALLOW(newfstatat),
	ALLOW(fstatfs),
	ALLOW(statfs),
	ALLOW(getdents64),
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(ftruncate),
	ALLOW_ARG(fcntl, 1, F_SETLEASE),	/* is a body shared: queue_store.c */
	/* clear a body, keeping its blocks: queue_store.c body_clear() */
	ALLOW_ARG(fallocate, 1, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE),
	ALLOW(fsync),
	ALLOW(fdatasync),
	ALLOW(syncfs),			/* group commit: queue_store.c */
	ALLOW(flock),
	ALLOW(mkdir),
	ALLOW(mkdirat),
	ALLOW(rename),
	ALLOW(renameat),
	ALLOW(renameat2),
	ALLOW(unlink),
	ALLOW(unlinkat),
	ALLOW(rmdir),
	SB_END
};

/* delivery: outbound SMTP and LMTP, DNS (evdns). */
static const struct sb_rule delivery_rules[] = {
	SOCKET(AF_INET, SOCK_STREAM),
	SOCKET(AF_INET, SOCK_DGRAM),
	SOCKET(AF_INET6, SOCK_STREAM),
	SOCKET(AF_INET6, SOCK_DGRAM),
	ALLOW(bind),			/* a configured source address */
	ALLOW(connect),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(getsockopt),
	ALLOW(setsockopt),
	ALLOW(shutdown),
	ALLOW(pread64),			/* message descriptors */
	SB_END
};

/* mailbox: Maildir files under the mail root (the cwd). */
static const struct sb_rule mailbox_rules[] = {
	ALLOW(openat),
	ALLOW(newfstatat),
	ALLOW(fstatfs),
	ALLOW(statfs),
	ALLOW(getdents64),
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(ftruncate),
	ALLOW(fsync),
	ALLOW(fdatasync),
	ALLOW(mkdir),
	ALLOW(mkdirat),
	ALLOW(link),			/* tmp/ -> new/ */
	ALLOW(linkat),
	ALLOW(rename),
	ALLOW(renameat),
	ALLOW(renameat2),
	ALLOW(unlink),
	ALLOW(unlinkat),
	ALLOW(rmdir),
	SB_END
};

/* control: clients of the control socket, who they are. */
static const struct sb_rule control_rules[] = {
	ALLOW(accept4),
	ALLOW_ARG2(getsockopt, 1, SOL_SOCKET, 2, SO_PEERCRED),
	ALLOW(shutdown),
	SB_END
};

/*
 * The parent: a deny-list.  The workers inherit it.  ptrace stays open
 * in sanitizer builds: LeakSanitizer stops the world with it at exit.
 */
static const struct sb_rule parent_deny[] = {
	/* other processes' memory */
#ifndef __SANITIZE_ADDRESS__
	DENY(ptrace),
#endif
	DENY(process_vm_readv),
	DENY(process_vm_writev),
	/* the kernel and the machine */
	DENY(init_module),
	DENY(finit_module),
	DENY(delete_module),
	DENY(kexec_load),
	DENY(kexec_file_load),
	DENY(reboot),
	DENY(swapon),
	DENY(swapoff),
	DENY(iopl),
	DENY(ioperm),
	DENY(acct),
	DENY(quotactl),
	DENY(syslog),			/* the kernel's log */
	DENY(mknod),
	DENY(mknodat),
	/* mounts and namespaces */
	DENY(mount),
	DENY(umount2),
	DENY(pivot_root),
	DENY(unshare),
	DENY(setns),
	DENY(open_tree),
	DENY(move_mount),
	DENY(fsopen),
	DENY(fsconfig),
	DENY(fsmount),
	DENY(fspick),
	/* the clock and the host's name */
	DENY(settimeofday),
	DENY(clock_settime),
	DENY(adjtimex),
	DENY(clock_adjtime),
	DENY(sethostname),
	DENY(setdomainname),
	/* interfaces that have been ways into the kernel */
	DENY(bpf),
	DENY(perf_event_open),
	DENY(userfaultfd),
	DENY(keyctl),
	DENY(add_key),
	DENY(request_key),
	DENY(io_uring_setup),
	DENY(io_uring_enter),
	DENY(io_uring_register),
	DENY(open_by_handle_at),
	DENY(name_to_handle_at),
	DENY(uselib),
	SB_END
};

static const struct {
	const char		*name;
	const struct sb_rule	*rules;
} sb_procs[] = {
	{ "smtp",	smtp_rules },
	{ "auth",	auth_rules },
	{ "queue",	queue_rules },
	{ "delivery",	delivery_rules },
	{ "mailbox",	mailbox_rules },
	{ "control",	control_rules },
};

static void	 sb_install(const char *, const struct sb_rule *);
static void	 sb_add(scmp_filter_ctx, uint32_t, const struct sb_rule *);
static void	 sb_trap_init(const char *);
static void	 sb_trap(int, siginfo_t *, void *);
static int	 sb_sanitizer_init(void);
static int	 sb_sanitizer_refuses(const void *);
static const struct sb_rule *sb_lookup(const char *);

void
sandbox_parent(void)
{
	scmp_filter_ctx	 ctx;
	int		 rc;

	sb_trap_init("parent");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("sandbox: PR_SET_NO_NEW_PRIVS");
	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		fatalx("sandbox: seccomp_init failed");
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0)
		fatalx("sandbox: cannot kill on a foreign architecture");
	sb_add(ctx, SCMP_ACT_TRAP, parent_deny);
	if ((rc = seccomp_load(ctx)) < 0)
		fatalx("sandbox: seccomp_load: %s", strerror(-rc));
	seccomp_release(ctx);
}

void
sandbox_smtp(void)
{
	sb_install("smtp", smtp_rules);
}

void
sandbox_auth(void)
{
	sb_install("auth", auth_rules);
}

void
sandbox_queue(void)
{
	sb_install("queue", queue_rules);
}

void
sandbox_delivery(void)
{
	sb_install("delivery", delivery_rules);
}

void
sandbox_mailbox(void)
{
	sb_install("mailbox", mailbox_rules);
}

void
sandbox_control(void)
{
	sb_install("control", control_rules);
}

const char *
sandbox_describe(const char *name)
{
	static char		 buf[4096];
	const struct sb_rule	*lists[3], *r;
	size_t			 i;

	buf[0] = '\0';
	if (strcmp(name, "parent") == 0) {
		(void)strlcpy(buf, "seccomp deny:", sizeof(buf));
		lists[0] = parent_deny;
		lists[1] = NULL;
	} else {
		if ((lists[0] = sb_lookup(name)) == NULL)
			return NULL;
		(void)strlcpy(buf, "seccomp allow:", sizeof(buf));
		lists[1] = worker_base;
		lists[2] = NULL;
	}
	for (i = 0; lists[i] != NULL; i++) {
		for (r = lists[i]; r->name != NULL; r++) {
			if (r->nr < 0)
				continue;
			(void)strlcat(buf, " ", sizeof(buf));
			if (strlcat(buf, r->name, sizeof(buf)) >= sizeof(buf))
				fatalx("%s: description too long", __func__);
		}
	}
	return buf;
}

/* ---- installing a filter --------------------------------------------- */

static int	 sb_active;		/* a filter is on */

/* Sanitizer builds. */
#define SB_RUNTIME_MAX	8

static struct {
	uintptr_t	 lo, hi;
} sb_runtime[SB_RUNTIME_MAX];		/* sanitizer runtimes' code */
static int		 sb_nruntime;
static volatile sig_atomic_t sb_in_report;
static volatile sig_atomic_t sb_refused;

static const struct sb_rule *
sb_lookup(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(sb_procs) / sizeof(sb_procs[0]); i++)
		if (strcmp(sb_procs[i].name, name) == 0)
			return sb_procs[i].rules;
	return NULL;
}

static void
sb_install(const char *name, const struct sb_rule *rules)
{
	scmp_filter_ctx	 ctx;
	int		 rc;

	if (sb_active)
		fatalx("%s: sandbox installed twice", name);
	sb_trap_init(name);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: sandbox: PR_SET_NO_NEW_PRIVS", name);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fatalx("%s: sandbox: no_new_privs did not stick", name);

	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		fatalx("%s: sandbox: seccomp_init failed", name);
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0)
		fatalx("%s: sandbox: cannot kill on a foreign architecture",
		    name);
	/* every thread gets the filter (auth's hashing thread is made
	 * before it: hasher.h), and no_new_privs with it */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0)
		fatalx("%s: sandbox: cannot synchronise threads", name);
	sb_add(ctx, SCMP_ACT_ALLOW, worker_base);
	sb_add(ctx, SCMP_ACT_ALLOW, rules);
	if (sb_sanitizer_init())
		sb_add(ctx, SCMP_ACT_ALLOW, sanitizer_base);
	if ((rc = seccomp_load(ctx)) < 0)
		fatalx("%s: sandbox: seccomp_load: %s", name, strerror(-rc));
	seccomp_release(ctx);
	sb_active = 1;
}

static void
sb_add(scmp_filter_ctx ctx, uint32_t action, const struct sb_rule *r)
{
	struct scmp_arg_cmp	 cmp[2];
	uint64_t		 value;
	int			 i, rc;

	for (; r->name != NULL; r++) {
		if (r->nr < 0)
			continue;
		for (i = 0; i < r->ncmp; i++) {
			value = r->cmp[i].value;
			if (value == SB_SELF)
				value = (uint64_t)getpid();
			cmp[i].arg = r->cmp[i].arg;
			cmp[i].op = SCMP_CMP_MASKED_EQ;
			cmp[i].datum_a = r->cmp[i].mask;
			cmp[i].datum_b = value;
		}
		rc = seccomp_rule_add_array(ctx, action, r->nr,
		    (unsigned int)r->ncmp, cmp);
		if (rc < 0)
			fatalx("sandbox: rule %s: %s", r->name, strerror(-rc));
	}
}

/* ---- the trap: report, then die of SIGSYS ---------------------------- */

#define SB_NAMES	512		/* system call numbers we name */

static char		 sb_prefix[80];	/* "smtpd: smtp: sandbox ..." */
static char		*sb_names[SB_NAMES];

static void
sb_trap_init(const char *name)
{
	struct sigaction sa;
	int		 i, n;

	n = snprintf(sb_prefix, sizeof(sb_prefix),
	    "smtpd: %s: sandbox violation: system call ", name);
	if (n < 0 || (size_t)n >= sizeof(sb_prefix))
		fatalx("%s: sandbox: process name too long", __func__);

	/* The handler may not allocate: name every call now. */
	for (i = 0; i < SB_NAMES; i++)
		if (sb_names[i] == NULL)
			sb_names[i] = seccomp_syscall_resolve_num_arch(
			    SCMP_ARCH_NATIVE, i);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sb_trap;
	sa.sa_flags = SA_SIGINFO;
	(void)sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		fatal("%s: sandbox: sigaction", name);
}

static size_t
sb_append(char *buf, size_t len, size_t size, const char *s)
{
	while (*s != '\0' && len < size)
		buf[len++] = *s++;
	return len;
}

static size_t
sb_append_num(char *buf, size_t len, size_t size, unsigned long v,
    unsigned int base)
{
	char	 tmp[24];
	size_t	 n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0 && n < sizeof(tmp));
	while (n > 0 && len < size)
		buf[len++] = tmp[--n];
	return len;
}

/* Async-signal-safe: write(2), sigaction(2), sigprocmask(2), raise(3). */
static void
sb_trap(int sig, siginfo_t *si, void *uctx)
{
	static const struct sigaction dfl = { .sa_handler = SIG_DFL };
	char		 line[256];
	size_t		 len;
	sigset_t	 set;
	int		 saved = errno, nr;

	(void)sig;
	if (si->si_code != SYS_SECCOMP) {
		len = sb_append(line, 0, sizeof(line), "smtpd: SIGSYS\n");
		goto die;
	}
	nr = si->si_syscall;
	len = sb_append(line, 0, sizeof(line), sb_prefix);
	len = sb_append_num(line, len, sizeof(line), (unsigned long)nr, 10);
	if (nr >= 0 && nr < SB_NAMES && sb_names[nr] != NULL) {
		len = sb_append(line, len, sizeof(line), " ");
		len = sb_append(line, len, sizeof(line), sb_names[nr]);
	}
	len = sb_append(line, len, sizeof(line), " (arch 0x");
	len = sb_append_num(line, len, sizeof(line),
	    (unsigned long)si->si_arch, 16);
	len = sb_append(line, len, sizeof(line), ")");

	/* The sanitizer's own calls, or ASan reporting a bug: refuse. */
	if (sb_sanitizer_refuses(si->si_call_addr)) {
		ucontext_t	*uc = uctx;

		if (!sb_refused) {
			sb_refused = 1;
			len = sb_append(line, len, sizeof(line), ", refused "
			    "to the sanitizer (and any more)\n");
			(void)write(STDERR_FILENO, line, len);
		}
#if defined(__x86_64__)
		uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
		errno = saved;
		return;
#elif defined(__aarch64__)
		uc->uc_mcontext.regs[0] = (unsigned long)-EPERM;
		errno = saved;
		return;
#else
		(void)uc;
#endif
	}
	len = sb_append(line, len, sizeof(line), "\n");

 die:
	(void)write(STDERR_FILENO, line, len);
	(void)sigaction(SIGSYS, &dfl, NULL);
	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGSYS);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void)raise(SIGSYS);
	errno = saved;
	_exit(128 + SIGSYS);
}

/* ---- sanitizer builds ------------------------------------------------ */

static int
sb_find_runtime(struct dl_phdr_info *info, size_t size, void *arg)
{
	static const char *const names[] = {
		"libasan.so", "libubsan.so", "liblsan.so", "libtsan.so",
	};
	const char	*base;
	size_t		 i;
	int		 j, found = 0;

	(void)size;
	(void)arg;
	if (info->dlpi_name == NULL)
		return 0;
	if ((base = strrchr(info->dlpi_name, '/')) != NULL)
		base++;
	else
		base = info->dlpi_name;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(base, names[i], strlen(names[i])) == 0)
			found = 1;
	if (!found)
		return 0;
	for (j = 0; j < info->dlpi_phnum; j++) {
		if (info->dlpi_phdr[j].p_type != PT_LOAD ||
		    !(info->dlpi_phdr[j].p_flags & PF_X))
			continue;
		if (sb_nruntime == SB_RUNTIME_MAX)
			break;
		sb_runtime[sb_nruntime].lo = info->dlpi_addr +
		    info->dlpi_phdr[j].p_vaddr;
		sb_runtime[sb_nruntime].hi = sb_runtime[sb_nruntime].lo +
		    info->dlpi_phdr[j].p_memsz;
		sb_nruntime++;
	}
	return 0;
}

/*
 * Is this a sanitizer build?  Find the runtimes' code (gcc links them
 * as shared objects; clang links them into the program, where only
 * ASan's report hook helps) and let them prepare for the sandbox.
 */
static int
sb_sanitizer_init(void)
{
	void	(*notify)(void *);
	int	 sanitized = 0;

	sb_nruntime = 0;
	(void)dl_iterate_phdr(sb_find_runtime, NULL);
#ifdef __SANITIZE_ADDRESS__
	sanitized = 1;
#endif
	if (sb_nruntime == 0 && !sanitized)
		return 0;
	notify = (void (*)(void *))dlsym(RTLD_DEFAULT,
	    "__sanitizer_sandbox_on_notify");
	if (notify != NULL)
		notify(NULL);
	return 1;
}

/* From the SIGSYS handler: async-signal-safe. */
static int
sb_sanitizer_refuses(const void *addr)
{
	uintptr_t	 pc = (uintptr_t)addr;
	int		 i;

	if (sb_in_report)
		return 1;
	for (i = 0; i < sb_nruntime; i++)
		if (pc >= sb_runtime[i].lo && pc < sb_runtime[i].hi)
			return 1;
	return 0;
}

#ifdef __SANITIZE_ADDRESS__
/* Called by ASan as an error report begins. */
void
__asan_on_error(void)
{
	sb_in_report = 1;
}

/* LeakSanitizer needs ptrace, clone and /proc: none of it in a sandbox. */
int
__lsan_is_turned_off(void)
{
	return sb_active;
}
#endif

#endif /* __linux__ */
