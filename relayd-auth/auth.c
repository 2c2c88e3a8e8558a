/*
 * Portcullis: the auth process.  It holds what the front end must not:
 * the tables, the relay rules and (with issue 4) the password hashes,
 * the POP3 login tracker and the per-client limits, and makes every
 * decision about them for all front-end sessions in one place.
 *
 * Now: the relay decision for each recipient, password checks, the
 * POP3 login tracker (tracker.c) with its state file, which the
 * parent opens in the spool and passes here with the configuration:
 * read once at start, written back (whole) at most once a second after
 * a change and at shutdown; and the auth-failure limit (authfail.c), in
 * memory only, swept on a timer.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "control_imsg.h"
#include "mailaddr.h"
#include "config.h"
#include "auth_imsg.h"
#include "relay.h"
#include "password.h"
#include "tracker.h"
#include "authfail.h"
#include "hasher.h"

#define AUTH_SAVE_DELAY		1	/* seconds: batch state file writes */
#define AUTH_CTL_FRAME		(60 * 1024)	/* payload of a data frame */
#define AUTH_SHOW_FRAMES	128	/* a listing's frames, at most */

static struct config	*auth_conf;
static struct tracker	 logins;
static int		 logins_fd = -1;	/* the state file */
static int		 logins_loaded;
static int		 logins_dirty;
static struct event	 ev_save;
static struct authfail	 fails;		/* limit auth-failures */
static struct event	 ev_fails;

/*
 * Password checks in flight, in arrival order.  The hashing thread
 * (hasher.h) checks one at a time; a client address has at most one
 * check there at once, the next of the same address waits here until
 * its result is counted, so that parallel guesses from one address
 * meet the auth-failure limit exactly as sequential ones do.
 */
#define AUTH_LOGINS_MAX		1024	/* waiting; more: LOGIN_TEMPFAIL */

struct plogin {
	TAILQ_ENTRY(plogin)	 entry;
	uint64_t		 cookie;
	uint32_t		 peerid;
	int			 submitted;
	struct sockaddr_storage	 ss;
	char			 service[8];
	char			*login;
	char			*password;
};
TAILQ_HEAD(plogins, plogin);
static struct plogins	 plogins = TAILQ_HEAD_INITIALIZER(plogins);
static unsigned		 nplogins;
static uint64_t		 plogin_cookies;

static void	 auth_imsg(enum proc_id, struct ipc_msg *);
static void	 auth_config(struct config *);
static void	 auth_shutdown(void);
static void	 auth_rcpt(struct ipc_msg *);
static void	 auth_login(struct ipc_msg *);
static int	 auth_login_blocked(const struct sockaddr_storage *);
static void	 auth_login_done(uint32_t, const struct sockaddr_storage *,
	    const char *, const char *, uint32_t);
static void	 auth_state_fd(struct ipc_msg *);
static void	 auth_logins_load(void);
static void	 auth_logins_changed(void);
static void	 auth_logins_save(int, short, void *);
static int	 auth_pop3_record(const struct tracker_addr *, const char *,
	    const char *, uint32_t);
static void	 auth_ctl_pop3_login(struct ipc_msg *);
static void	 auth_ctl_pop3_show(struct ipc_msg *);
static void	 auth_ctl_pop3_flush(struct ipc_msg *);
static void	 auth_ctl_reply(uint32_t, const char *);
static int64_t	 auth_mono(void);
static void	 auth_fails_arm(void);
static void	 auth_fails_sweep(int, short, void *);
static void	 auth_ctl_limits_show(struct ipc_msg *);
static void	 auth_ctl_limits_reset(struct ipc_msg *);
static void	 auth_hashed(uint64_t, int);
static void	 auth_logins_pump(void);

/* The hashing thread, before the privilege drop and the sandbox. */
void
auth_init(void)
{
	if (hasher_init() == -1)
		fatal("auth: cannot start the hashing thread");
}

void
auth(void)
{
	hasher_start(auth_hashed);
	tracker_init(&logins, TRACKER_MAX, TRACKER_TTL_DEFAULT);
	evtimer_set(&ev_save, auth_logins_save, NULL);
	authfail_init(&fails, AUTHFAIL_ADDRS_MAX, AUTHFAIL_STAMPS_MAX);
	evtimer_set(&ev_fails, auth_fails_sweep, NULL);
	proc_set_dispatch(auth_imsg);
	proc_set_conf(auth_config);
	proc_set_shutdown(auth_shutdown);
}

/* The tracker's clock (tests use short windows rather than a fake one). */
static time_t
auth_now(void)
{
	return time(NULL);
}

/*
 * Logins count for the longest "pop3-login within" of the rules (for
 * "smtpctl show pop3-logins", TRACKER_TTL_DEFAULT without one).
 */
static time_t
auth_logins_ttl(const struct config *conf)
{
	const struct relay_rule	*r;
	time_t			 ttl = 0;

	TAILQ_FOREACH(r, &conf->relays, entry)
		if ((r->flags & RELAY_POP3_LOGIN) && r->pop3_within > ttl)
			ttl = r->pop3_within;
	return ttl > 0 ? ttl : TRACKER_TTL_DEFAULT;
}

static void
auth_config(struct config *conf)
{
	config_free(auth_conf);
	auth_conf = conf;
	tracker_set_ttl(&logins, auth_logins_ttl(conf));
	authfail_configure(&fails, &conf->limits);
	if (!logins_loaded)
		auth_logins_load();
}

static void
auth_shutdown(void)
{
	if (logins_dirty)
		auth_logins_save(-1, 0, NULL);
}

static void
auth_imsg(enum proc_id from, struct ipc_msg *m)
{
	switch (from) {
	case PROC_SMTP:
		switch (m->hdr.type) {
		case IMSG_AUTH_RCPT_REQ:
			auth_rcpt(m);
			return;
		case IMSG_AUTH_LOGIN_REQ:
			auth_login(m);
			return;
		}
		break;
	case PROC_PARENT:
		if (m->hdr.type == IMSG_PARENT_POP3_STATE) {
			auth_state_fd(m);
			return;
		}
		break;
	case PROC_CONTROL:
		switch (m->hdr.type) {
		case IMSG_CTL_POP3_LOGIN_REQ:
			auth_ctl_pop3_login(m);
			return;
		case IMSG_CTL_POP3_SHOW_REQ:
			auth_ctl_pop3_show(m);
			return;
		case IMSG_CTL_POP3_FLUSH_REQ:
			auth_ctl_pop3_flush(m);
			return;
		case IMSG_CTL_LIMITS_SHOW_REQ:
			auth_ctl_limits_show(m);
			return;
		case IMSG_CTL_LIMITS_RESET_REQ:
			auth_ctl_limits_reset(m);
			return;
		}
		break;
	default:
		break;
	}
	fatalx("%s from %s: not for auth", ipc_type_name(m->hdr.type),
	    proc_name(from));
}

/* ---- the POP3 login tracker ------------------------------------------ */

/*
 * The state file comes with every configuration (the same file): keep
 * the first descriptor.
 */
static void
auth_state_fd(struct ipc_msg *m)
{
	ipc_end(m);
	if (m->fd == -1)
		fatalx("IMSG_PARENT_POP3_STATE without a descriptor");
	if (logins_fd != -1) {
		close(m->fd);
		m->fd = -1;
		return;
	}
	logins_fd = m->fd;
	m->fd = -1;
}

static void
auth_logins_load(void)
{
	char	 err[128];

	if (logins_fd == -1)
		fatalx("the configuration came without the POP3 login "
		    "state file");
	logins_loaded = 1;
	if (tracker_file_load(&logins, logins_fd, auth_now(), err,
	    sizeof(err)) == -1) {
		log_warnx("pop3 login tracker: state file %s unusable (%s): "
		    "starting empty", POP3_STATE_FILE, err);
		/* rewritten at the next change */
		return;
	}
	log_info("pop3 login tracker: loaded %zu login%s from %s",
	    logins.count, logins.count == 1 ? "" : "s",
	    POP3_STATE_FILE);
}

static void
auth_logins_changed(void)
{
	struct timeval	 tv = { AUTH_SAVE_DELAY, 0 };

	logins_dirty = 1;
	if (!evtimer_pending(&ev_save, NULL))
		evtimer_add(&ev_save, &tv);
}

static void
auth_logins_save(int fd, short event, void *arg)
{
	(void)fd;
	(void)event;
	(void)arg;
	if (logins_fd == -1)
		return;
	if (evtimer_pending(&ev_save, NULL))
		evtimer_del(&ev_save);
	logins_dirty = 0;
	if (tracker_file_save(&logins, logins_fd, auth_now()) == -1)
		log_warn("pop3 login tracker: cannot write %s",
		    POP3_STATE_FILE);
	else
		log_debug("pop3 login tracker: %zu login%s written",
		    logins.count, logins.count == 1 ? "" : "s");
}

/*
 * A successful POP3 login: the built-in POP3 service's (auth_login) or
 * an external server's (smtpctl pop3-login).  Returns 0, or -1 when it
 * could not be kept (logged).
 */
static int
auth_pop3_record(const struct tracker_addr *ta, const char *user,
    const char *source, uint32_t id)
{
	char	 addr[TRACKER_ADDR_STRSIZE];

	tracker_addr_format(ta, addr, sizeof(addr));
	(void)tracker_expire(&logins, auth_now());
	if (tracker_record(&logins, ta, user, auth_now()) == -1) {
		log_warn("%08x auth event=pop3-login client=%s user=\"%s\" "
		    "source=%s result=failed", id, addr, user, source);
		return -1;
	}
	log_info("%08x auth event=pop3-login client=%s user=\"%s\" "
	    "source=%s", id, addr, user, source);
	auth_logins_changed();
	return 0;
}

static void
auth_ctl_reply(uint32_t peerid, const char *fail)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;

	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	if (fail == NULL) {
		(void)proc_compose(PROC_CONTROL, IMSG_CTL_OK, peerid, -1,
		    NULL, 0);
		return;
	}
	ob = ipc_create(ch, IMSG_CTL_FAIL, peerid, -1);
	ipc_add_string(ob, fail);
	if (ipc_close(ob) == -1)
		fatal("IMSG_CTL_FAIL");
}

/* Checked again here: control only checks the shape of a request. */
static int
auth_ctl_address(const char *s, struct tracker_addr *ta, char *err,
    size_t errlen)
{
	if (s == NULL || tracker_addr_parse(ta, s) == -1) {
		(void)snprintf(err, errlen, "invalid address: not an IPv4 "
		    "or IPv6 address");
		return -1;
	}
	return 0;
}

static void
auth_ctl_pop3_login(struct ipc_msg *m)
{
	struct tracker_addr	 ta;
	const char		*user, *address;
	char			 err[128];

	user = ipc_get_string(m);
	address = ipc_get_string(m);
	ipc_end(m);
	if (user == NULL || !tracker_user_valid(user)) {
		auth_ctl_reply(m->hdr.peerid, "invalid user: 1 to 255 "
		    "characters without spaces or control characters");
		return;
	}
	if (auth_ctl_address(address, &ta, err, sizeof(err)) == -1) {
		auth_ctl_reply(m->hdr.peerid, err);
		return;
	}
	if (auth_pop3_record(&ta, user, "smtpctl", m->hdr.peerid) == -1)
		auth_ctl_reply(m->hdr.peerid, "cannot record the login: "
		    "out of memory");
	else
		auth_ctl_reply(m->hdr.peerid, NULL);
}

/*
 * The logins, newest first, in frames of entries; a listing stops at
 * AUTH_SHOW_FRAMES frames (control relays no more to a client at
 * once), and each frame says how many there are in all.
 */
static void
auth_ctl_pop3_show(struct ipc_msg *m)
{
	struct tracker_entry	*e;
	struct ipc_obuf		*ob = NULL;
	struct ipc		*ch;
	char			 addr[TRACKER_ADDR_STRSIZE];
	size_t			 size = 0, need, frames = 0;
	time_t			 now = auth_now();
	uint32_t		 total;

	ipc_end(m);
	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	(void)tracker_expire(&logins, now);
	total = logins.count;
	TAILQ_FOREACH_REVERSE(e, &logins.list, tracker_list, order) {
		tracker_addr_format(&e->addr, addr, sizeof(addr));
		need = 4 + strlen(addr) + 1 + 4 + strlen(e->user) + 1 + 16;
		if (ob != NULL && size + need > AUTH_CTL_FRAME) {
			if (ipc_close(ob) == -1)
				fatal("IMSG_CTL_POP3_LOGINS");
			ob = NULL;
		}
		if (ob == NULL) {
			if (frames++ >= AUTH_SHOW_FRAMES)
				break;
			ob = ipc_create(ch, IMSG_CTL_POP3_LOGINS,
			    m->hdr.peerid, -1);
			ipc_add_u32(ob, total);
			size = 4;
		}
		ipc_add_string(ob, addr);
		ipc_add_string(ob, e->user);
		ipc_add_i64(ob, e->when);
		ipc_add_i64(ob, now > e->when ? now - e->when : 0);
		size += need;
	}
	if (ob != NULL && ipc_close(ob) == -1)
		fatal("IMSG_CTL_POP3_LOGINS");
	auth_ctl_reply(m->hdr.peerid, NULL);
}

static void
auth_ctl_pop3_flush(struct ipc_msg *m)
{
	struct tracker_addr	 ta;
	const char		*address;
	char			 err[128], addr[TRACKER_ADDR_STRSIZE];
	uint32_t		 n;

	address = ipc_get_string(m);
	ipc_end(m);
	if (address != NULL &&
	    auth_ctl_address(address, &ta, err, sizeof(err)) == -1) {
		auth_ctl_reply(m->hdr.peerid, err);
		return;
	}
	n = tracker_flush(&logins, address != NULL ? &ta : NULL);
	if (address != NULL)
		tracker_addr_format(&ta, addr, sizeof(addr));
	else
		(void)strlcpy(addr, "all", sizeof(addr));
	log_info("%08x auth event=pop3-flush client=%s removed=%u",
	    m->hdr.peerid, addr, n);
	if (n > 0)
		auth_logins_changed();
	(void)proc_compose(PROC_CONTROL, IMSG_CTL_POP3_FLUSHED, m->hdr.peerid,
	    -1, &n, sizeof(n));
	auth_ctl_reply(m->hdr.peerid, NULL);
}

/* ---- limit auth-failures --------------------------------------------- */

/* Milliseconds of the monotonic clock: blocks do not follow the wall
 * clock when it is set. */
static int64_t
auth_mono(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whole seconds from now until a later time, rounded up. */
static int64_t
auth_secs_until(int64_t later, int64_t now)
{
	return later > now ? (later - now + 999) / 1000 : 0;
}

/* The sweep runs while the table holds something. */
static void
auth_fails_arm(void)
{
	struct timeval	 tv = { AUTHFAIL_EXPIRE_EVERY, 0 };

	if (fails.count > 0 && !evtimer_pending(&ev_fails, NULL))
		evtimer_add(&ev_fails, &tv);
}

static void
auth_fails_sweep(int fd, short event, void *arg)
{
	size_t	 n;

	(void)fd;
	(void)event;
	(void)arg;
	n = authfail_expire(&fails, auth_mono());
	if (n > 0)
		log_debug("limit auth-failures: %zu address%s forgotten, %zu "
		    "tracked", n, n == 1 ? "" : "es", fails.count);
	if (fails.evicted > 0) {
		log_warnx("limit auth-failures: the table was full: %zu "
		    "address%s forgotten early, %zu of them blocked",
		    fails.evicted, fails.evicted == 1 ? "" : "es",
		    fails.evicted_blocked);
		fails.evicted = fails.evicted_blocked = 0;
	}
	auth_fails_arm();
}

/* The header of each IMSG_CTL_LIMITS frame (control_imsg.h). */
static struct ipc_obuf *
auth_limits_frame(struct ipc *ch, uint32_t peerid, uint32_t total,
    int exempt)
{
	struct ipc_obuf	*ob;

	ob = ipc_create(ch, IMSG_CTL_LIMITS, peerid, -1);
	ipc_add_u32(ob, total);
	ipc_add_u32(ob, fails.limit);
	ipc_add_i64(ob, fails.within / 1000);
	ipc_add_i64(ob, fails.block / 1000);
	ipc_add_u32(ob, exempt);
	return ob;
}

static void
auth_limits_entry(struct ipc_obuf *ob, struct authfail_entry *e,
    int64_t now, time_t wall)
{
	char	 addr[TRACKER_ADDR_STRSIZE];
	int64_t	 left;

	tracker_addr_format(&e->addr, addr, sizeof(addr));
	ipc_add_string(ob, addr);
	ipc_add_u32(ob, authfail_count(&fails, e, now));
	ipc_add_i64(ob, e->last > 0 && now > e->last ?
	    (now - e->last) / 1000 : 0);
	left = authfail_is_blocked(e, now) ?
	    auth_secs_until(e->until, now) : 0;
	ipc_add_i64(ob, left > 0 ? (int64_t)wall + left : 0);
	ipc_add_i64(ob, left);
	ipc_add_u32(ob, e->refused);
}

/*
 * The addresses tracked, the latest failure first, in frames like the
 * POP3 logins' (at most AUTH_SHOW_FRAMES); always one frame at least,
 * for the limit's settings.  With an address, only that one.
 */
static void
auth_ctl_limits_show(struct ipc_msg *m)
{
	struct tracker_addr	 ta;
	struct authfail_entry	*e;
	struct ipc_obuf		*ob;
	struct ipc		*ch;
	const char		*address;
	char			 err[128];
	size_t			 size, need, frames = 1;
	int64_t			 now = auth_mono();
	time_t			 wall = time(NULL);
	uint32_t		 total;
	int			 exempt = 0;

	address = ipc_get_string(m);
	ipc_end(m);
	if (address != NULL &&
	    auth_ctl_address(address, &ta, err, sizeof(err)) == -1) {
		auth_ctl_reply(m->hdr.peerid, err);
		return;
	}
	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	(void)authfail_expire(&fails, now);
	if (address != NULL) {
		if (auth_conf != NULL)
			exempt = authfail_exempt(&auth_conf->limits, &ta);
		e = authfail_find(&fails, &ta);
		ob = auth_limits_frame(ch, m->hdr.peerid, e != NULL, exempt);
		if (e != NULL)
			auth_limits_entry(ob, e, now, wall);
		if (ipc_close(ob) == -1)
			fatal("IMSG_CTL_LIMITS");
		auth_ctl_reply(m->hdr.peerid, NULL);
		return;
	}
	total = fails.count;
	ob = auth_limits_frame(ch, m->hdr.peerid, total, 0);
	size = 4 + 4 + 8 + 8 + 4;
	TAILQ_FOREACH_REVERSE(e, &fails.list, authfail_list, order) {
		need = 4 + TRACKER_ADDR_STRSIZE + 4 + 8 + 8 + 8 + 4;
		if (size + need > AUTH_CTL_FRAME) {
			if (ipc_close(ob) == -1)
				fatal("IMSG_CTL_LIMITS");
			ob = NULL;
			if (frames++ >= AUTH_SHOW_FRAMES)
				break;
			ob = auth_limits_frame(ch, m->hdr.peerid, total, 0);
			size = 4 + 4 + 8 + 8 + 4;
		}
		auth_limits_entry(ob, e, now, wall);
		size += need;
	}
	if (ob != NULL && ipc_close(ob) == -1)
		fatal("IMSG_CTL_LIMITS");
	auth_ctl_reply(m->hdr.peerid, NULL);
}

static void
auth_ctl_limits_reset(struct ipc_msg *m)
{
	struct tracker_addr	 ta;
	const char		*address;
	char			 err[128], addr[TRACKER_ADDR_STRSIZE];
	uint32_t		 n;

	address = ipc_get_string(m);
	ipc_end(m);
	if (address == NULL) {
		auth_ctl_reply(m->hdr.peerid, "an address is needed");
		return;
	}
	if (auth_ctl_address(address, &ta, err, sizeof(err)) == -1) {
		auth_ctl_reply(m->hdr.peerid, err);
		return;
	}
	n = authfail_reset(&fails, &ta);
	tracker_addr_format(&ta, addr, sizeof(addr));
	log_info("%08x auth event=limits-reset client=%s removed=%u",
	    m->hdr.peerid, addr, n);
	(void)proc_compose(PROC_CONTROL, IMSG_CTL_LIMITS_CLEARED,
	    m->hdr.peerid, -1, &n, sizeof(n));
	auth_ctl_reply(m->hdr.peerid, NULL);
}

/* ---- relay decisions and passwords ----------------------------------- */

static const char *
verdict_name(int v)
{
	switch (v) {
	case RCPT_LOCAL:
		return "local";
	case RCPT_RELAY:
		return "relay";
	case RCPT_DENIED:
		return "denied";
	case RCPT_UNKNOWN:
		return "unknown";
	}
	return "?";
}

static void
get_into(struct ipc_msg *m, char *buf, size_t len)
{
	const char	*s = ipc_get_string(m);

	if (s == NULL || strlcpy(buf, s, len) >= len)
		fatalx("IMSG_AUTH_RCPT_REQ: bad address");
}

static void
auth_rcpt(struct ipc_msg *m)
{
	struct sockaddr_storage	 ss;
	struct relay_facts	 facts;
	struct relay_verdict	 v;
	struct mailaddr		 rcpt;
	struct tracker_addr	 ta;
	struct ipc_obuf		*ob;
	struct ipc		*ch;
	const void		*p;
	const char		*user;
	char			 addr[INET6_ADDRSTRLEN];
	char			 rcpttext[MAILADDR_STRSIZE];
	char			 rule[32];
	size_t			 len;
	int			 trusted;

	p = ipc_get_data(m, &len);
	if (len != sizeof(ss))
		fatalx("IMSG_AUTH_RCPT_REQ: bad client address");
	memcpy(&ss, p, sizeof(ss));
	(void)ipc_get_u32(m);		/* listener flags: for limits */
	user = ipc_get_string(m);
	memset(&rcpt, 0, sizeof(rcpt));
	get_into(m, rcpt.local, sizeof(rcpt.local));
	get_into(m, rcpt.domain, sizeof(rcpt.domain));
	rcpt.flags = ipc_get_u32(m);
	ipc_end(m);

	memset(&facts, 0, sizeof(facts));
	facts.client = (struct sockaddr *)&ss;
	facts.user = user;
	facts.pop3_age = -1;
	if (tracker_addr_set(&ta, (struct sockaddr *)&ss) == 0)
		facts.pop3_age = tracker_age(&logins, &ta, auth_now());
	facts.rcpt = &rcpt;
	if (auth_conf == NULL)
		fatalx("a recipient before the configuration");
	relay_decide(auth_conf, &facts, &v);
	/* a client that may relay is trusted: content checks skip it */
	trusted = relay_allowed(auth_conf, &facts, NULL);

	fmt_sockaddr(&ss, addr, sizeof(addr));
	if (mailaddr_format(&rcpt, rcpttext, sizeof(rcpttext)) == -1)
		(void)strlcpy(rcpttext, "?", sizeof(rcpttext));
	if (v.line > 0)
		(void)snprintf(rule, sizeof(rule), "line %d", v.line);
	else
		(void)strlcpy(rule, "none", sizeof(rule));
	log_info("%08x auth event=rcpt client=%s to=<%s> result=%s "
	    "rule=%s trusted=%d reason=\"%s\"", m->hdr.peerid, addr,
	    rcpttext, verdict_name(v.verdict), rule, trusted, v.reason);

	if ((ch = proc_channel(PROC_SMTP)) == NULL)
		return;
	ob = ipc_create(ch, IMSG_AUTH_RCPT_RES, m->hdr.peerid, -1);
	ipc_add_u32(ob, v.verdict);
	ipc_add_u32(ob, v.line);
	ipc_add_string(ob, v.reason);
	ipc_add_u32(ob, trusted);
	if (ipc_close(ob) == -1)
		fatal("IMSG_AUTH_RCPT_RES");
}

/*
 * A password check.  The hash runs here, never in the front end, and
 * not at all for an address that "limit auth-failures" blocks; the
 * password is wiped from the message buffer once checked.  The limit
 * has two steps around the check, auth_login_blocked() before it and
 * auth_login_done() with its result (which also answers): a check that
 * ends later (another thread) keeps both.
 */
static void
auth_login(struct ipc_msg *m)
{
	struct sockaddr_storage	 ss;
	const void		*p;
	const char		*service, *login, *password;
	struct plogin		*pl = NULL;
	size_t			 len;

	p = ipc_get_data(m, &len);
	if (len != sizeof(ss))
		fatalx("IMSG_AUTH_LOGIN_REQ: bad client address");
	memcpy(&ss, p, sizeof(ss));
	service = ipc_get_string(m);
	login = ipc_get_string(m);
	password = ipc_get_string(m);
	ipc_end(m);
	if (service == NULL || login == NULL || password == NULL)
		fatalx("IMSG_AUTH_LOGIN_REQ: missing field");
	if (auth_conf == NULL || auth_conf->authenticate == NULL ||
	    nplogins >= AUTH_LOGINS_MAX ||
	    (pl = calloc(1, sizeof(*pl))) == NULL ||
	    (pl->login = strdup(login)) == NULL ||
	    (pl->password = strdup(password)) == NULL) {
		explicit_bzero((void *)(uintptr_t)password, strlen(password));
		if (pl != NULL) {
			free(pl->login);
			free(pl);
		}
		auth_login_done(m->hdr.peerid, &ss, service, login,
		    LOGIN_TEMPFAIL);
		return;
	}
	explicit_bzero((void *)(uintptr_t)password, strlen(password));
	pl->cookie = ++plogin_cookies;
	pl->peerid = m->hdr.peerid;
	pl->ss = ss;
	(void)strlcpy(pl->service, strcmp(service, "pop3") == 0 ? "pop3" :
	    "smtp", sizeof(pl->service));
	TAILQ_INSERT_TAIL(&plogins, pl, entry);
	nplogins++;
	auth_logins_pump();
}

static void
plogin_free(struct plogin *pl)
{
	TAILQ_REMOVE(&plogins, pl, entry);
	nplogins--;
	if (pl->password != NULL) {
		explicit_bzero(pl->password, strlen(pl->password));
		free(pl->password);
	}
	free(pl->login);
	free(pl);
}

static int
same_client(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	struct tracker_addr	 x, y;

	if (tracker_addr_set(&x, (const struct sockaddr *)a) == -1 ||
	    tracker_addr_set(&y, (const struct sockaddr *)b) == -1)
		return 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

/*
 * Hand the waiting checks to the hashing thread, but never two of one
 * address at once; a blocked address is answered without a hash.
 */
static void
auth_logins_pump(void)
{
	struct plogin	*pl, *next, *o;
	const char	*hash;
	int		 known, busy;

	for (pl = TAILQ_FIRST(&plogins); pl != NULL; pl = next) {
		next = TAILQ_NEXT(pl, entry);
		if (pl->submitted)
			continue;
		busy = 0;
		TAILQ_FOREACH(o, &plogins, entry) {
			if (o == pl)
				break;
			if (same_client(&o->ss, &pl->ss)) {
				busy = 1;
				break;
			}
		}
		if (busy)
			continue;
		if (auth_conf == NULL || auth_conf->authenticate == NULL) {
			auth_login_done(pl->peerid, &pl->ss, pl->service,
			    pl->login, LOGIN_TEMPFAIL);
			plogin_free(pl);
			continue;
		}
		if (auth_login_blocked(&pl->ss)) {
			/* and no hash run */
			auth_login_done(pl->peerid, &pl->ss, pl->service,
			    pl->login, LOGIN_BLOCKED);
			plogin_free(pl);
			continue;
		}
		hash = password_lookup(auth_conf->authenticate, pl->login,
		    &known);
		if (hasher_submit(pl->cookie, pl->password, hash, known) ==
		    -1) {
			auth_login_done(pl->peerid, &pl->ss, pl->service,
			    pl->login, LOGIN_TEMPFAIL);
			plogin_free(pl);
			continue;
		}
		explicit_bzero(pl->password, strlen(pl->password));
		free(pl->password);
		pl->password = NULL;
		pl->submitted = 1;
	}
}

/* The hashing thread's answer. */
static void
auth_hashed(uint64_t cookie, int ok)
{
	struct plogin	*pl;

	TAILQ_FOREACH(pl, &plogins, entry)
		if (pl->cookie == cookie)
			break;
	if (pl == NULL || !pl->submitted)
		fatalx("auth: a password check nobody asked for");
	auth_login_done(pl->peerid, &pl->ss, pl->service, pl->login,
	    ok ? LOGIN_OK : LOGIN_FAIL);
	plogin_free(pl);
	auth_logins_pump();
}

/*
 * limit auth-failures before a password check: 1 when the client's
 * address is blocked (the refusal is counted): answer LOGIN_BLOCKED
 * and run no hash.
 */
static int
auth_login_blocked(const struct sockaddr_storage *ss)
{
	struct tracker_addr	 ta;

	if (tracker_addr_set(&ta, (const struct sockaddr *)ss) == -1)
		return 0;
	return authfail_check(&fails, &ta, auth_mono(), NULL);
}

/*
 * The result of a login: a failure counts towards limit auth-failures
 * (SMTP AUTH and POP3 alike, per address) and may block the address; a
 * POP3 success is a login for the tracker.  Logged, then answered.
 */
static void
auth_login_done(uint32_t id, const struct sockaddr_storage *ss,
    const char *service, const char *login, uint32_t result)
{
	struct tracker_addr	 ta;
	struct authfail_entry	*e;
	char			 addr[INET6_ADDRSTRLEN], extra[64];
	int64_t			 now = auth_mono(), until = 0;
	int			 have_ta, counted = AUTHFAIL_IGNORED;

	have_ta = tracker_addr_set(&ta, (const struct sockaddr *)ss) == 0;
	if (result == LOGIN_OK && strcmp(service, "pop3") == 0 && have_ta)
		(void)auth_pop3_record(&ta, login, "pop3", id);

	fmt_sockaddr(ss, addr, sizeof(addr));
	extra[0] = '\0';
	if (result == LOGIN_FAIL && have_ta && auth_conf != NULL) {
		counted = authfail_failed(&fails, &auth_conf->limits, &ta, now);
		if (counted == -1)
			log_warn("%08x auth: limit auth-failures: cannot "
			    "count a failure of %s", id, addr);
		else if (counted != AUTHFAIL_IGNORED &&
		    (e = authfail_find(&fails, &ta)) != NULL) {
			(void)snprintf(extra, sizeof(extra), " failures=%u/%u",
			    authfail_count(&fails, e, now), fails.limit);
			until = e->until;
		}
		auth_fails_arm();
	} else if (result == LOGIN_BLOCKED && have_ta &&
	    (e = authfail_find(&fails, &ta)) != NULL)
		(void)snprintf(extra, sizeof(extra), " blocked-for=%llds",
		    (long long)auth_secs_until(e->until, now));
	log_info("%08x auth event=login service=%s client=%s user=\"%s\" "
	    "result=%s%s", id, service, addr, login,
	    result == LOGIN_OK ? "ok" : result == LOGIN_FAIL ? "failed" :
	    result == LOGIN_BLOCKED ? "blocked" : "unavailable", extra);
	if (counted == AUTHFAIL_BLOCKS)
		log_info("%08x auth event=block client=%s failures=%u "
		    "within=%llds block=%llds until=+%llds", id, addr,
		    fails.limit, (long long)(fails.within / 1000),
		    (long long)(fails.block / 1000),
		    (long long)auth_secs_until(until, now));
	(void)proc_compose(PROC_SMTP, IMSG_AUTH_LOGIN_RES, id, -1, &result,
	    sizeof(result));
}
