/*
 * Portcullis: the outbound SMTP/LMTP client (see mta.h for what it
 * promises).
 *
 * A job runs as a struct mta_run: the addresses tried so far and the
 * last failure.  A connection is a struct mta_session: one io, the
 * protocol state, the server's extensions and, while it carries a job,
 * the transaction.  enter_state() sends what a state sends and arms its
 * timeout; response() reads a complete reply and decides the next
 * state.  A session outlives its job when it is parked in the pool or
 * says QUIT.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tls.h>

#include "io.h"
#include "log.h"
#include "mailaddr.h"
#include "mta.h"
#include "tlsconf.h"

enum mta_state {
	MTA_S_INIT,
	MTA_S_CONNECT,
	MTA_S_SMTPS,		/* implicit TLS handshake */
	MTA_S_BANNER,
	MTA_S_EHLO,
	MTA_S_HELO,
	MTA_S_STARTTLS,
	MTA_S_TLS,		/* handshake after STARTTLS */
	MTA_S_RSET,		/* a pooled session, before MAIL */
	MTA_S_MAIL,
	MTA_S_RCPT,
	MTA_S_DATA,
	MTA_S_BODY,
	MTA_S_EOM,
	MTA_S_IDLE,		/* in the pool */
	MTA_S_QUIT
};

static const char *mta_state_names[] = {
	"init", "connect", "smtps", "banner", "ehlo", "helo", "starttls",
	"tls", "rset", "mail", "rcpt", "data", "body", "eom", "idle", "quit"
};

/* Server extensions: facts, not states. */
#define EXT_PIPELINING	0x01
#define EXT_8BITMIME	0x02
#define EXT_SIZE	0x04
#define EXT_SMTPUTF8	0x08
#define EXT_DSN		0x10
#define EXT_STARTTLS	0x20

/* Session flags. */
#define SF_PIPELINED	0x01	/* this transaction was sent as a group */
#define SF_POOLED	0x02	/* taken from the pool: RSET first */
#define SF_CLEAR	0x04	/* opportunistic: no STARTTLS this time */
#define SF_INCB		0x08	/* inside the io callback */
#define SF_DEAD		0x10	/* freed; struct goes at callback end */
#define SF_EOF		0x80	/* body: all of it queued */
#define SF_HELO		0x100	/* HELO, not EHLO: no extensions */
#define SF_RSETPIPE	0x200	/* RSET sent ahead of MAIL (PIPELINING):
				 * its reply comes first */

/* mta_addr_fail() */
#define AF_PERM		0x01	/* permanent for this address */
#define AF_CLEAR	0x02	/* opportunistic TLS failed: again in clear */
#define AF_QUIT		0x04	/* the link is sane: say QUIT */

/* Per-address marks of a run. */
#define HF_TRIED	0x01
#define HF_CLEAR	0x02	/* retry in clear after a failed STARTTLS */

struct mta_run {
	struct mta_job		*job;
	struct mta_session	*s;
	struct event		 kick;
	int			 pooltried;
	int			 anytemp;	/* an address failed softly */
	int			 hf[MTA_HOSTS_MAX];
	char			 temp[MTA_REPLY_MAX];
	char			 perm[MTA_REPLY_MAX];
};

struct mta_session {
	TAILQ_ENTRY(mta_session)  entry;	/* pool or closing list */
	int			  listed;	/* 0, 1 pool, 2 closing */
	struct io		 *io;
	struct mta_run		 *run;		/* NULL when idle */
	enum mta_state		  state;
	int			  flags;
	int			  ext;
	uint64_t		  sizemax;	/* SIZE n; 0: no limit */
	size_t			  nmsg;		/* transactions done */
	size_t			  hostidx;	/* in run->job->hosts */
	uint64_t		  id;		/* for the debug traces */

	/* the session key */
	char			  name[MTA_HOST_MAX];
	struct sockaddr_storage	  ss;
	int			  tls;
	int			  noverify;
	struct tls_config	 *tlscfg;
	int			  lmtp;
	char			  helo[MTA_HOST_MAX];
	char			  relay[MTA_HOST_MAX + 64];

	/* the reply being read */
	int			  rcode;
	size_t			  rlines;
	char			  rbuf[MTA_REPLY_MAX];
	char			  rfirst[MTA_LINE_MAX];	/* first line's text */

	/* the transaction */
	size_t			 *txn;		/* indices of job->rcpts */
	size_t			  ntxn;
	size_t			  rcpt_sent;
	size_t			  rcpt_reply;
	size_t			  naccepted;
	size_t			  eom_reply;	/* LMTP: replies read */
	size_t			  ignore;	/* replies to skip */
	off_t			  off;		/* body: next byte to read */
	int			  bodyst;	/* body: where the line stands,
						 * MTA_BODY_BOL, MTA_BODY_CR */
};

TAILQ_HEAD(mta_sessions, mta_session);

static struct mta_sessions	 mta_pool = TAILQ_HEAD_INITIALIZER(mta_pool);
static struct mta_sessions	 mta_closing =
				    TAILQ_HEAD_INITIALIZER(mta_closing);
static size_t			 mta_npool;
static size_t			 mta_nrunning;
static size_t			 mta_nsessions;
static uint64_t			 mta_nextid;
static struct mta_params	 mta_params;
static int			 mta_inited;
static struct tls_config	*mta_noverify_cfg;

/* The body is stuffed here: at most 3 bytes out per byte in. */
static unsigned char		 mta_obuf[3 * MTA_CHUNK + 8];
static unsigned char		 mta_ibuf[MTA_CHUNK];

static void	 mta_kick(int, short, void *);
static void	 mta_next(struct mta_run *);
static void	 mta_finish(struct mta_run *);
static void	 mta_io(struct io *, int, void *);
static void	 mta_read(struct mta_session *);
static void	 mta_lost(struct mta_session *, const char *);
static void	 mta_lost_data(struct mta_session *, const char *,
		    const char *);
static void	 mta_ready(struct mta_session *);
static void	 enter_state(struct mta_session *, enum mta_state);
static void	 response(struct mta_session *);
static void	 mta_connect(struct mta_run *, size_t);
static void	 mta_addr_fail(struct mta_session *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static void	 mta_txn_fail(struct mta_session *, int, const char *);
static void	 mta_abort(struct mta_session *, int, const char *);
static void	 mta_job_done(struct mta_session *);
static void	 mta_quit(struct mta_session *);
static void	 mta_session_free(struct mta_session *);
static void	 mta_unlist(struct mta_session *);
static void	 mta_pump(struct mta_session *);
static int	 mta_send_mail(struct mta_session *);
static int	 mta_send_rcpt(struct mta_session *, size_t);
static void	 mta_rcpt_result(struct mta_session *, struct mta_rcpt *,
		    int, const char *);
static void	 mta_log(struct mta_session *, const char *,
		    const struct mta_rcpt *, const char *);
static void	 mta_set_reply(char *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));

/* ---- parameters --------------------------------------------------- */

void
mta_params_default(struct mta_params *p)
{
	memset(p, 0, sizeof(*p));
	p->connect_ms = 60 * 1000;
	p->greeting_ms = 5 * 60 * 1000;
	p->helo_ms = 5 * 60 * 1000;
	p->mail_ms = 5 * 60 * 1000;
	p->rcpt_ms = 5 * 60 * 1000;
	p->data_ms = 2 * 60 * 1000;
	p->block_ms = 3 * 60 * 1000;
	p->dot_ms = 10 * 60 * 1000;
	p->idle_ms = 5 * 1000;
	p->pool_max = 32;
	p->reuse_max = 100;
}

int
mta_init(const struct mta_params *p, char *err, size_t errlen)
{
	struct mta_session	*s;

	if (p == NULL)
		mta_params_default(&mta_params);
	else
		mta_params = *p;
	if (mta_noverify_cfg == NULL &&
	    (mta_noverify_cfg = tlsconf_client_mem(1, NULL, 0, err,
	    errlen)) == NULL)
		return (-1);
	mta_inited = 1;
	/* A smaller pool takes effect at once: the oldest go first. */
	while (mta_npool > mta_params.pool_max &&
	    (s = TAILQ_FIRST(&mta_pool)) != NULL)
		mta_quit(s);
	return (0);
}

/* ---- small helpers ------------------------------------------------ */

static void
mta_set_reply(char *buf, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, MTA_REPLY_MAX, fmt, ap);
	va_end(ap);
}

static int
mta_timeout(enum mta_state st)
{
	switch (st) {
	case MTA_S_CONNECT:
	case MTA_S_SMTPS:
	case MTA_S_TLS:
		return (mta_params.connect_ms);
	case MTA_S_BANNER:
		return (mta_params.greeting_ms);
	case MTA_S_MAIL:
		return (mta_params.mail_ms);
	case MTA_S_RCPT:
		return (mta_params.rcpt_ms);
	case MTA_S_DATA:
		return (mta_params.data_ms);
	case MTA_S_BODY:
		return (mta_params.block_ms);
	case MTA_S_EOM:
		return (mta_params.dot_ms);
	case MTA_S_IDLE:
		return (mta_params.idle_ms);
	case MTA_S_QUIT:
		return (mta_params.helo_ms < 30000 ? mta_params.helo_ms :
		    30000);
	default:
		return (mta_params.helo_ms);
	}
}

static int
sa_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;

	if (a->ss_family != b->ss_family)
		return (0);
	if (a->ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return (a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr);
	}
	if (a->ss_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)a;
		b6 = (const struct sockaddr_in6 *)b;
		return (a6->sin6_port == b6->sin6_port &&
		    a6->sin6_scope_id == b6->sin6_scope_id &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0);
	}
	return (0);
}

/* "name[addr]:port" */
static void
fmt_relay(const struct mta_host *h, char *buf, size_t len)
{
	char		 a[INET6_ADDRSTRLEN];
	const void	*p;
	int		 port;

	if (h->ss.ss_family == AF_INET6) {
		p = &((const struct sockaddr_in6 *)&h->ss)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *)&h->ss)->sin6_port);
	} else {
		p = &((const struct sockaddr_in *)&h->ss)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)&h->ss)->sin_port);
	}
	if (inet_ntop(h->ss.ss_family, p, a, sizeof(a)) == NULL)
		(void)strlcpy(a, "?", sizeof(a));
	(void)snprintf(buf, len, "%s[%s]:%d", h->name[0] ? h->name : "",
	    a, port);
}

/* A copy fit for a log line or a DSN: printable ASCII, no '"'. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"')
			*s = *s == '"' ? '\'' : '?';
}

static int
reply_code(const char *r)
{
	if (isdigit((unsigned char)r[0]) && isdigit((unsigned char)r[1]) &&
	    isdigit((unsigned char)r[2]))
		return ((r[0] - '0') * 100 + (r[1] - '0') * 10 + (r[2] - '0'));
	return (0);
}

static const char *
mta_tlsver(struct mta_session *s)
{
	const char	*v;

	if (s == NULL || s->io == NULL || (v = io_tls_version(s->io)) == NULL)
		return ("none");
	return (v);
}

static void
mta_log(struct mta_session *s, const char *event,
    const struct mta_rcpt *r, const char *reply)
{
	struct mta_job	*job = s->run->job;

	if (r != NULL)
		log_info("%016llx mta event=%s relay=%s tls=%s rcpt=<%s> "
		    "result=%d reply=\"%s\"", (unsigned long long)job->msgid,
		    event, s->relay, mta_tlsver(s), r->addr,
		    reply_code(reply), reply);
	else
		log_info("%016llx mta event=%s relay=%s tls=%s result=%d "
		    "reply=\"%s\"", (unsigned long long)job->msgid, event,
		    s->relay, mta_tlsver(s), reply_code(reply), reply);
}

/* ---- jobs --------------------------------------------------------- */

/* A terminated string without controls (UTF-8 is fine). */
static int
wire_safe(const char *s, size_t size)
{
	size_t	 i;

	for (i = 0; i < size; i++) {
		if (s[i] == '\0')
			return (1);
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (0);
	}
	return (0);
}

int
mta_start(struct mta_job *job)
{
	struct mta_run	*run;
	size_t		 i;
	char		 err[256];

	if (job->nrcpt == 0 || job->nrcpt > MTA_RCPTS_MAX ||
	    job->nhost == 0 || job->nhost > MTA_HOSTS_MAX ||
	    job->rcpts == NULL || job->hosts == NULL || job->fd < 0 ||
	    job->tls < MTA_TLS_OPPORTUNISTIC || job->tls > MTA_TLS_NONE ||
	    ((job->tls == MTA_TLS_REQUIRE || job->tls == MTA_TLS_SMTPS) &&
	    !job->noverify && job->tlscfg == NULL) || job->done == NULL ||
	    job->run != NULL || job->size < 0) {
		errno = EINVAL;
		return (-1);
	}
	for (i = 0; i < job->nhost; i++)
		if (job->hosts[i].ss.ss_family != AF_INET &&
		    job->hosts[i].ss.ss_family != AF_INET6) {
			errno = EINVAL;
			return (-1);
		}
	/* Nothing that could end a command line early or inject one. */
	if (!wire_safe(job->sender, sizeof(job->sender)) ||
	    !wire_safe(job->helo, sizeof(job->helo)) || job->helo[0] == '\0' ||
	    strchr(job->helo, ' ') != NULL ||
	    !wire_safe(job->envid, sizeof(job->envid))) {
		errno = EINVAL;
		return (-1);
	}
	for (i = 0; i < job->nrcpt; i++)
		if (!wire_safe(job->rcpts[i].addr,
		    sizeof(job->rcpts[i].addr)) ||
		    job->rcpts[i].addr[0] == '\0' ||
		    !wire_safe(job->rcpts[i].orcpt,
		    sizeof(job->rcpts[i].orcpt))) {
			errno = EINVAL;
			return (-1);
		}
	if (!mta_inited && mta_init(NULL, err, sizeof(err)) == -1) {
		log_warnx("mta: %s", err);
		errno = ENOMEM;
		return (-1);
	}
	if ((run = calloc(1, sizeof(*run))) == NULL)
		return (-1);
	run->job = job;
	job->run = run;
	for (i = 0; i < job->nrcpt; i++) {
		job->rcpts[i].status = MTA_PENDING;
		job->rcpts[i].accepted = 0;
		job->rcpts[i].reply[0] = '\0';
	}
	(void)strlcpy(job->relay, "none", sizeof(job->relay));
	(void)strlcpy(job->tlsver, "none", sizeof(job->tlsver));
	mta_set_reply(run->temp, "421 4.4.1 no address could be tried");
	mta_set_reply(run->perm, "554 5.4.4 no address could be tried");
	mta_nrunning++;
	/* Everything happens from the event loop, done included. */
	evtimer_set(&run->kick, mta_kick, run);
	event_active(&run->kick, EV_TIMEOUT, 1);
	return (0);
}

void
mta_cancel(struct mta_job *job)
{
	struct mta_run		*run = job->run;
	struct mta_session	*s;

	if (run == NULL)
		return;
	event_del(&run->kick);
	if ((s = run->s) != NULL) {
		s->run = NULL;
		run->s = NULL;
		mta_session_free(s);
	}
	job->run = NULL;
	free(run);
	mta_nrunning--;
}

size_t
mta_running(void)
{
	return (mta_nrunning);
}

static void
mta_kick(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	mta_next(arg);
}

static int
mta_key_eq(struct mta_session *s, struct mta_job *job, size_t i)
{
	const struct mta_host	*h = &job->hosts[i];

	return (strcmp(s->name, h->name) == 0 && sa_eq(&s->ss, &h->ss) &&
	    s->tls == job->tls && s->noverify == job->noverify &&
	    s->tlscfg == job->tlscfg && s->lmtp == job->lmtp &&
	    strcasecmp(s->helo, job->helo) == 0);
}

static int
mta_pending(struct mta_job *job)
{
	size_t	 i;

	for (i = 0; i < job->nrcpt; i++)
		if (job->rcpts[i].status == MTA_PENDING)
			return (1);
	return (0);
}

/*
 * Find a way on for the recipients still pending: a pooled session
 * (once per run), else the first address not tried yet, else the end.
 */
static void
mta_next(struct mta_run *run)
{
	struct mta_job		*job = run->job;
	struct mta_session	*s;
	size_t			 i;

	if (!mta_pending(job)) {
		mta_finish(run);
		return;
	}
	if (!run->pooltried && !job->noreuse) {
		run->pooltried = 1;
		for (i = 0; i < job->nhost; i++) {
			TAILQ_FOREACH(s, &mta_pool, entry)
				if (mta_key_eq(s, job, i))
					break;
			if (s == NULL)
				continue;
			mta_unlist(s);
			s->run = run;
			s->hostidx = i;
			s->flags |= SF_POOLED;
			run->s = s;
			(void)strlcpy(job->relay, s->relay, sizeof(job->relay));
			(void)strlcpy(job->tlsver, mta_tlsver(s),
			    sizeof(job->tlsver));
			/* With PIPELINING the RSET that proves the
			 * session alive goes ahead of MAIL, in one
			 * write: no round trip of its own. */
			if (s->ext & EXT_PIPELINING) {
				s->flags |= SF_RSETPIPE;
				mta_ready(s);
			} else
				enter_state(s, MTA_S_RSET);
			return;
		}
	}
	for (i = 0; i < job->nhost; i++)
		if (!(run->hf[i] & HF_TRIED)) {
			mta_connect(run, i);
			return;
		}
	/* Nothing left: the recipients take the last failure. */
	for (i = 0; i < job->nrcpt; i++) {
		if (job->rcpts[i].status != MTA_PENDING)
			continue;
		job->rcpts[i].status = run->anytemp ? MTA_TEMPFAIL :
		    MTA_PERMFAIL;
		(void)strlcpy(job->rcpts[i].reply, run->anytemp ? run->temp :
		    run->perm, sizeof(job->rcpts[i].reply));
		log_info("%016llx mta event=delivery relay=%s tls=%s rcpt=<%s> "
		    "result=%d reply=\"%s\"", (unsigned long long)job->msgid,
		    job->relay, job->tlsver, job->rcpts[i].addr,
		    reply_code(job->rcpts[i].reply), job->rcpts[i].reply);
	}
	mta_finish(run);
}

static void
mta_finish(struct mta_run *run)
{
	struct mta_job	*job = run->job;

	event_del(&run->kick);
	job->run = NULL;
	free(run);
	mta_nrunning--;
	job->done(job, job->arg);
}

/* ---- sessions ----------------------------------------------------- */

static void
mta_connect(struct mta_run *run, size_t i)
{
	struct mta_job		*job = run->job;
	struct mta_host		*h = &job->hosts[i];
	struct mta_session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->io = io_new()) == NULL) {
		free(s);
		run->hf[i] |= HF_TRIED;
		run->anytemp = 1;
		mta_set_reply(run->temp, "421 4.3.0 out of memory");
		event_active(&run->kick, EV_TIMEOUT, 1);
		return;
	}
	s->id = ++mta_nextid;
	mta_nsessions++;
	s->run = run;
	s->hostidx = i;
	s->state = MTA_S_INIT;
	(void)strlcpy(s->name, h->name, sizeof(s->name));
	s->ss = h->ss;
	s->tls = job->tls;
	s->noverify = job->noverify;
	s->tlscfg = job->tlscfg;
	s->lmtp = job->lmtp;
	(void)strlcpy(s->helo, job->helo, sizeof(s->helo));
	fmt_relay(h, s->relay, sizeof(s->relay));
	if (run->hf[i] & HF_CLEAR)
		s->flags |= SF_CLEAR;
	run->s = s;
	(void)strlcpy(job->relay, s->relay, sizeof(job->relay));
	(void)strlcpy(job->tlsver, "none", sizeof(job->tlsver));
	io_set_callback(s->io, mta_io, s);
	enter_state(s, MTA_S_CONNECT);
}

static void
mta_unlist(struct mta_session *s)
{
	if (s->listed == 1) {
		TAILQ_REMOVE(&mta_pool, s, entry);
		mta_npool--;
	} else if (s->listed == 2)
		TAILQ_REMOVE(&mta_closing, s, entry);
	s->listed = 0;
}

static void
mta_session_free(struct mta_session *s)
{
	if (s->flags & SF_DEAD)
		return;
	mta_unlist(s);
	if (s->run != NULL && s->run->s == s)
		s->run->s = NULL;
	io_free(s->io);
	s->io = NULL;
	free(s->txn);
	s->txn = NULL;
	s->flags |= SF_DEAD;
	mta_nsessions--;
	if (!(s->flags & SF_INCB))
		free(s);
}

/* Leave politely: QUIT, read its reply (after any skipped), close. */
static void
mta_quit(struct mta_session *s)
{
	mta_unlist(s);
	if (s->run != NULL && s->run->s == s)
		s->run->s = NULL;
	s->run = NULL;
	if (s->io == NULL || io_printf(s->io, "QUIT\r\n") == -1) {
		mta_session_free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&mta_closing, s, entry);
	s->listed = 2;
	s->state = MTA_S_QUIT;
	io_set_timeout(s->io, mta_timeout(MTA_S_QUIT));
}

size_t
mta_pool_flush(void)
{
	struct mta_session	*s;
	size_t			 n = 0;

	while ((s = TAILQ_FIRST(&mta_pool)) != NULL) {
		mta_quit(s);
		n++;
	}
	return (n);
}

size_t
mta_pool_count(void)
{
	return (mta_npool);
}

size_t
mta_sessions(void)
{
	return (mta_nsessions);
}

/*
 * This address failed before the message was sent: the recipients
 * accepted so far are pending again, the failure is remembered, and
 * the run goes on (AF_* in how).  A pooled session that fails before
 * MAIL costs nothing: the run goes on as if the pool had been empty.
 */
static void
mta_addr_fail(struct mta_session *s, int how, const char *fmt, ...)
{
	struct mta_run	*run = s->run;
	struct mta_job	*job;
	char		 reply[MTA_REPLY_MAX];
	va_list		 ap;
	size_t		 i;

	va_start(ap, fmt);
	(void)vsnprintf(reply, sizeof(reply), fmt, ap);
	va_end(ap);
	sanitize(reply);
	if (run == NULL) {
		mta_session_free(s);
		return;
	}
	job = run->job;
	if ((s->flags & SF_POOLED) && (s->state == MTA_S_RSET ||
	    (s->flags & SF_RSETPIPE))) {
		log_debug("%016llx mta pooled session to %s lost: %s",
		    (unsigned long long)job->msgid, s->relay, reply);
		mta_session_free(s);
		mta_next(run);
		return;
	}
	if (how & AF_CLEAR)
		run->hf[s->hostidx] |= HF_CLEAR;
	else
		run->hf[s->hostidx] |= HF_TRIED;
	mta_log(s, "failover", NULL, reply);
	if (how & AF_PERM)
		(void)strlcpy(run->perm, reply, sizeof(run->perm));
	else {
		(void)strlcpy(run->temp, reply, sizeof(run->temp));
		run->anytemp = 1;
	}
	for (i = 0; i < job->nrcpt; i++)
		if (job->rcpts[i].status == MTA_PENDING)
			job->rcpts[i].accepted = 0;
	if ((how & AF_QUIT) && s->io != NULL)
		mta_quit(s);
	else
		mta_session_free(s);
	mta_next(run);
}

/*
 * The session cannot go on in the middle of a transaction (its data
 * started, or reading the message failed): every recipient still
 * pending gets status and reply, the link is closed without QUIT (the
 * server must not take a half message), and the run goes on.
 */
static void
mta_abort(struct mta_session *s, int status, const char *reply)
{
	struct mta_run	*run = s->run;

	if (run != NULL)
		mta_txn_fail(s, status, reply);
	mta_session_free(s);
	if (run != NULL)
		mta_next(run);
}

/*
 * A definitive result for every recipient still pending (those of the
 * transaction that were accepted, or all of them before RCPT).
 */
static void
mta_txn_fail(struct mta_session *s, int status, const char *reply)
{
	struct mta_job	*job = s->run->job;
	size_t		 i;

	for (i = 0; i < job->nrcpt; i++)
		if (job->rcpts[i].status == MTA_PENDING)
			mta_rcpt_result(s, &job->rcpts[i], status, reply);
}

static void
mta_rcpt_result(struct mta_session *s, struct mta_rcpt *r, int status,
    const char *reply)
{
	r->status = status;
	(void)strlcpy(r->reply, reply, sizeof(r->reply));
	sanitize(r->reply);
	mta_log(s, "delivery", r, r->reply);
}

/* The job is over on this session; park it or QUIT. */
static void
mta_job_done(struct mta_session *s)
{
	struct mta_run		*run = s->run;
	struct mta_session	*old;

	s->nmsg++;
	free(s->txn);
	s->txn = NULL;
	s->ntxn = 0;
	s->flags &= ~(SF_PIPELINED | SF_POOLED | SF_RSETPIPE);
	run->s = NULL;
	s->run = NULL;
	if (run->job->noreuse || mta_params.pool_max == 0 ||
	    s->nmsg >= mta_params.reuse_max || s->ignore > 0 ||
	    s->io == NULL)
		mta_quit(s);
	else {
		while (mta_npool >= mta_params.pool_max &&
		    (old = TAILQ_FIRST(&mta_pool)) != NULL)
			mta_quit(old);
		enter_state(s, MTA_S_IDLE);
		TAILQ_INSERT_TAIL(&mta_pool, s, entry);
		s->listed = 1;
		mta_npool++;
	}
	/* A pending recipient here never happens; mta_next() checks. */
	mta_next(run);
}

/* ---- sending ------------------------------------------------------ */

static void
enter_state(struct mta_session *s, enum mta_state new)
{
	struct mta_job	*job = s->run != NULL ? s->run->job : NULL;
	struct mta_host	*h;
	struct tls	*ctx;
	const char	*sni;
	char		 err[256];
	int		 r = 0;

	log_debug("mta %llu %s: %s -> %s", (unsigned long long)s->id,
	    s->relay, mta_state_names[s->state], mta_state_names[new]);
	s->state = new;
	io_set_timeout(s->io, mta_timeout(new));

	switch (new) {
	case MTA_S_CONNECT:
		h = &job->hosts[s->hostidx];
		if (io_connect(s->io, (struct sockaddr *)&h->ss, NULL) == -1)
			mta_addr_fail(s, 0, "421 4.4.1 %s", io_error(s->io));
		return;
	case MTA_S_SMTPS:
	case MTA_S_TLS:
		if ((ctx = tlsconf_client_ctx(s->noverify ? mta_noverify_cfg :
		    s->tlscfg != NULL && s->tls != MTA_TLS_OPPORTUNISTIC ?
		    s->tlscfg : mta_noverify_cfg, err, sizeof(err))) == NULL) {
			mta_addr_fail(s, 0, "421 4.7.5 TLS: %s", err);
			return;
		}
		sni = s->name[0] != '\0' ? s->name : NULL;
		if (io_connect_tls(s->io, ctx, sni) == -1) {
			mta_addr_fail(s, s->tls == MTA_TLS_OPPORTUNISTIC ?
			    AF_CLEAR : 0, "421 4.7.5 %s", io_error(s->io));
		}
		return;
	case MTA_S_EHLO:
		s->ext = 0;
		s->sizemax = 0;
		s->flags &= ~SF_HELO;
		r = io_printf(s->io, "%s %s\r\n", s->lmtp ? "LHLO" : "EHLO",
		    s->helo);
		break;
	case MTA_S_HELO:
		s->flags |= SF_HELO;
		r = io_printf(s->io, "HELO %s\r\n", s->helo);
		break;
	case MTA_S_STARTTLS:
		r = io_printf(s->io, "STARTTLS\r\n");
		break;
	case MTA_S_RSET:
		r = io_printf(s->io, "RSET\r\n");
		break;
	case MTA_S_MAIL:
		r = mta_send_mail(s);
		break;
	case MTA_S_RCPT:
		if (!(s->flags & SF_PIPELINED))
			r = mta_send_rcpt(s, s->rcpt_sent++);
		break;
	case MTA_S_DATA:
		if (!(s->flags & SF_PIPELINED))
			r = io_printf(s->io, "DATA\r\n");
		break;
	case MTA_S_BODY:
		s->off = 0;
		s->bodyst = MTA_BODY_BOL;
		s->flags &= ~SF_EOF;
		io_set_lowat(s->io, MTA_CHUNK);
		mta_pump(s);
		return;
	case MTA_S_IDLE:
		io_set_lowat(s->io, 0);
		break;
	default:
		break;
	}
	if (r == -1 && s->state >= MTA_S_BODY)
		mta_abort(s, MTA_TEMPFAIL, "421 4.3.0 cannot queue output");
	else if (r == -1)
		mta_addr_fail(s, 0, "421 4.3.0 cannot queue output: %s",
		    strerror(errno));
}

static size_t
fmt_notify(uint32_t n, char *buf, size_t len)
{
	buf[0] = '\0';
	if (n & DSN_NOTIFY_NEVER)
		return (strlcpy(buf, "NEVER", len));
	if (n & DSN_NOTIFY_SUCCESS)
		(void)strlcat(buf, ",SUCCESS", len);
	if (n & DSN_NOTIFY_FAILURE)
		(void)strlcat(buf, ",FAILURE", len);
	if (n & DSN_NOTIFY_DELAY)
		(void)strlcat(buf, ",DELAY", len);
	if (buf[0] == ',')
		memmove(buf, buf + 1, strlen(buf));
	return (strlen(buf));
}

static int
mta_send_rcpt(struct mta_session *s, size_t i)
{
	struct mta_rcpt	*r = &s->run->job->rcpts[s->txn[i]];
	char		 notify[64], orcpt[ESMTP_VALUE_MAX * 3 + 8];
	char		 xaddr[ESMTP_VALUE_MAX * 3 + 8], type[32];
	const char	*semi;
	size_t		 tlen;
	int		 n;

	notify[0] = orcpt[0] = '\0';
	if ((s->ext & EXT_DSN) && r->notify != 0) {
		(void)strlcpy(notify, " NOTIFY=", sizeof(notify));
		fmt_notify(r->notify, notify + 8, sizeof(notify) - 8);
	}
	/* ORCPT=type;xtext(address), at most 500 characters (RFC 3461). */
	if ((s->ext & EXT_DSN) && r->orcpt[0] != '\0' &&
	    (semi = strchr(r->orcpt, ';')) != NULL &&
	    (tlen = (size_t)(semi - r->orcpt)) > 0 && tlen < sizeof(type) &&
	    strspn(r->orcpt, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == tlen) {
		memcpy(type, r->orcpt, tlen);
		type[tlen] = '\0';
		if (xtext_encode(semi + 1, xaddr, sizeof(xaddr)) != -1) {
			n = snprintf(orcpt, sizeof(orcpt), " ORCPT=%s;%s",
			    type, xaddr);
			if (n < 0 || (size_t)n >= sizeof(orcpt) ||
			    (size_t)n - strlen(" ORCPT=") > 500)
				orcpt[0] = '\0';
		}
	}
	return (io_printf(s->io, "RCPT TO:<%s>%s%s\r\n", r->addr, notify,
	    orcpt));
}

/* MAIL (and with PIPELINING every RCPT and DATA). */
static int
mta_send_mail(struct mta_session *s)
{
	struct mta_job	*job = s->run->job;
	char		 params[ESMTP_VALUE_MAX * 3 + 128];
	char		 buf[ESMTP_VALUE_MAX * 3 + 8];
	size_t		 i, n;

	free(s->txn);
	s->txn = NULL;
	s->ntxn = s->rcpt_sent = s->rcpt_reply = s->naccepted = 0;
	s->eom_reply = 0;
	if ((s->txn = reallocarray(NULL, job->nrcpt, sizeof(*s->txn))) ==
	    NULL)
		return (-1);
	for (i = 0, n = 0; i < job->nrcpt; i++)
		if (job->rcpts[i].status == MTA_PENDING) {
			job->rcpts[i].accepted = 0;
			s->txn[n++] = i;
		}
	s->ntxn = n;

	params[0] = '\0';
	if ((s->ext & EXT_SIZE) && job->size > 0) {
		(void)snprintf(buf, sizeof(buf), " SIZE=%lld",
		    (long long)job->size);
		(void)strlcat(params, buf, sizeof(params));
	}
	if ((s->ext & EXT_8BITMIME) && job->body == BODY_8BITMIME)
		(void)strlcat(params, " BODY=8BITMIME", sizeof(params));
	if ((s->ext & EXT_SMTPUTF8) && job->smtputf8)
		(void)strlcat(params, " SMTPUTF8", sizeof(params));
	if ((s->ext & EXT_DSN) && job->ret != DSN_RET_DEFAULT)
		(void)strlcat(params, job->ret == DSN_RET_FULL ? " RET=FULL" :
		    " RET=HDRS", sizeof(params));
	if ((s->ext & EXT_DSN) && job->envid[0] != '\0' &&
	    xtext_encode(job->envid, buf, sizeof(buf)) != -1 &&
	    strlen(buf) <= 100) {
		(void)strlcat(params, " ENVID=", sizeof(params));
		(void)strlcat(params, buf, sizeof(params));
	}
	if ((s->flags & SF_RSETPIPE) && io_printf(s->io, "RSET\r\n") == -1)
		return (-1);
	if (io_printf(s->io, "MAIL FROM:<%s>%s\r\n", job->sender, params) ==
	    -1)
		return (-1);
	if (!(s->ext & EXT_PIPELINING))
		return (0);
	s->flags |= SF_PIPELINED;
	for (; s->rcpt_sent < s->ntxn; s->rcpt_sent++)
		if (mta_send_rcpt(s, s->rcpt_sent) == -1)
			return (-1);
	return (io_printf(s->io, "DATA\r\n"));
}

/*
 * Inside a line (not at its start, no CR pending) the bytes up to the
 * next CR or LF go as they are: two memchr() and a memcpy() a line
 * instead of a test of every byte, which cost delivery about half of
 * its time per 100 KiB message.  The line ends and line starts go one
 * byte at a time.  Where the next LF and CR are is kept until they are
 * passed, so that each byte is searched once: bare CRs without an LF
 * would otherwise have every one of them search to the end again.
 */
size_t
mta_body_stuff(const unsigned char *in, size_t n, unsigned char *out,
    int *st)
{
	const unsigned char	*end = in + n, *stop;
	const unsigned char	*nl = NULL;	/* next LF, or end */
	const unsigned char	*cr = NULL;	/* next CR before nl, or nl */
	unsigned char		*o = out;
	unsigned char		 b;
	int			 f = *st;

	while (in < end) {
		if (!(f & (MTA_BODY_BOL | MTA_BODY_CR))) {
			if (nl == NULL || nl < in) {
				nl = memchr(in, '\n', (size_t)(end - in));
				if (nl == NULL)
					nl = end;
			}
			if (cr == NULL || cr < in) {
				cr = memchr(in, '\r', (size_t)(nl - in));
				if (cr == NULL)
					cr = nl;
			}
			stop = cr;
			memcpy(o, in, (size_t)(stop - in));
			o += stop - in;
			if ((in = stop) == end)
				break;
		}
		b = *in++;
		if (f & MTA_BODY_CR) {
			f &= ~MTA_BODY_CR;
			*o++ = '\n';
			f |= MTA_BODY_BOL;
			if (b == '\n')
				continue;
		}
		if (b == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			f |= MTA_BODY_BOL;
			continue;
		}
		if ((f & MTA_BODY_BOL) && b == '.')
			*o++ = '.';
		f &= ~MTA_BODY_BOL;
		*o++ = b;
		if (b == '\r')
			f |= MTA_BODY_CR;
	}
	*st = f;
	return (size_t)(o - out);
}

/*
 * Queue more of the message while less than MTA_CHUNK bytes wait:
 * dot-stuffed, bare CR and LF made CRLF, then the end of data.
 */
static void
mta_pump(struct mta_session *s)
{
	struct mta_job	*job = s->run->job;
	ssize_t		 n;
	size_t		 o;

	while (!(s->flags & SF_EOF) && io_queued(s->io) <= MTA_CHUNK) {
		n = pread(job->fd, mta_ibuf, sizeof(mta_ibuf), s->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("%016llx mta read message",
			    (unsigned long long)job->msgid);
			/* Close without the dot: the server drops it. */
			mta_abort(s, MTA_TEMPFAIL,
			    "421 4.3.0 cannot read the message");
			return;
		}
		o = mta_body_stuff(mta_ibuf, (size_t)n, mta_obuf, &s->bodyst);
		if (n == 0) {
			if (s->bodyst & MTA_BODY_CR) {
				mta_obuf[o++] = '\n';
				s->bodyst |= MTA_BODY_BOL;
			}
			if (!(s->bodyst & MTA_BODY_BOL)) {
				mta_obuf[o++] = '\r';
				mta_obuf[o++] = '\n';
			}
			mta_obuf[o++] = '.';
			mta_obuf[o++] = '\r';
			mta_obuf[o++] = '\n';
			s->flags |= SF_EOF;
		} else
			s->off += n;
		if (o > 0 && io_write(s->io, mta_obuf, o) == -1) {
			mta_abort(s, MTA_TEMPFAIL,
			    "421 4.3.0 cannot queue output");
			return;
		}
	}
	if (s->flags & SF_EOF) {
		io_set_lowat(s->io, 0);
		enter_state(s, MTA_S_EOM);
	}
}

/* ---- receiving ---------------------------------------------------- */

static void
mta_io(struct io *io, int event, void *arg)
{
	struct mta_session	*s = arg;
	struct mta_job		*job;

	s->flags |= SF_INCB;
	switch (event) {
	case IO_CONNECTED:
		enter_state(s, s->tls == MTA_TLS_SMTPS ? MTA_S_SMTPS :
		    MTA_S_BANNER);
		break;
	case IO_TLSREADY:
		if (s->run != NULL) {
			job = s->run->job;
			(void)strlcpy(job->tlsver, mta_tlsver(s),
			    sizeof(job->tlsver));
		}
		enter_state(s, s->state == MTA_S_SMTPS ? MTA_S_BANNER :
		    MTA_S_EHLO);
		break;
	case IO_DATAIN:
		mta_read(s);
		break;
	case IO_LOWAT:
		if (s->state == MTA_S_BODY)
			mta_pump(s);
		break;
	case IO_TIMEOUT:
		if (s->state == MTA_S_IDLE)
			mta_quit(s);	/* idle long enough */
		else
			mta_lost(s, "timeout");
		break;
	default:
		mta_lost(s, io_error(io) != NULL ? io_error(io) :
		    "connection lost");
		break;
	}
	if (s->flags & SF_DEAD)
		free(s);
	else
		s->flags &= ~SF_INCB;
}

/* The link failed (error, close or timeout) in the session's state. */
static void
mta_lost(struct mta_session *s, const char *why)
{
	const char	*st = mta_state_names[s->state];

	switch (s->state) {
	case MTA_S_IDLE:
	case MTA_S_QUIT:
	case MTA_S_INIT:
		mta_session_free(s);
		break;
	case MTA_S_CONNECT:
		mta_addr_fail(s, 0, "421 4.4.1 %s", why);
		break;
	case MTA_S_SMTPS:
		mta_addr_fail(s, 0, "421 4.7.5 %s", why);
		break;
	case MTA_S_TLS:
		mta_addr_fail(s, s->tls == MTA_TLS_OPPORTUNISTIC ? AF_CLEAR :
		    0, "421 4.7.5 %s", why);
		break;
	case MTA_S_BODY:
	case MTA_S_EOM:
		mta_lost_data(s, st, why);
		break;
	default:
		mta_addr_fail(s, 0, "421 4.4.2 %s in %s", why, st);
		break;
	}
}

static void
mta_lost_data(struct mta_session *s, const char *st, const char *why)
{
	char	 reply[MTA_REPLY_MAX];

	mta_set_reply(reply, "421 4.4.2 %s in %s", why, st);
	sanitize(reply);
	mta_abort(s, MTA_TEMPFAIL, reply);
}

/* A reply that is not SMTP: the session is over. */
static void
mta_badreply(struct mta_session *s, const char *what)
{
	char	 why[128];

	(void)snprintf(why, sizeof(why), "bad reply (%s)", what);
	mta_lost(s, why);
}

static void
mta_ext(struct mta_session *s, const char *text)
{
	char		 kw[32];
	const char	*errstr;
	size_t		 n;

	n = strcspn(text, " ");
	if (n == 0 || n >= sizeof(kw))
		return;
	memcpy(kw, text, n);
	kw[n] = '\0';
	if (strcasecmp(kw, "PIPELINING") == 0)
		s->ext |= EXT_PIPELINING;
	else if (strcasecmp(kw, "8BITMIME") == 0)
		s->ext |= EXT_8BITMIME;
	else if (strcasecmp(kw, "SMTPUTF8") == 0)
		s->ext |= EXT_SMTPUTF8;
	else if (strcasecmp(kw, "DSN") == 0)
		s->ext |= EXT_DSN;
	else if (strcasecmp(kw, "STARTTLS") == 0)
		s->ext |= EXT_STARTTLS;
	else if (strcasecmp(kw, "SIZE") == 0) {
		s->ext |= EXT_SIZE;
		s->sizemax = 0;
		if (text[n] == ' ')
			s->sizemax = strtonum(text + n + 1, 0, INT64_MAX,
			    &errstr);
	}
}

/*
 * Read reply lines: three digits of 2xx-5xx, then ' ' on the last line
 * or '-' on the others (or nothing at all), the same code on every
 * line, bounded in length and count.  A complete reply goes to
 * response().
 */
static void
mta_read(struct mta_session *s)
{
	char		*line, *text;
	size_t		 len, rlen;
	int		 code;

	while (!(s->flags & SF_DEAD) && s->io != NULL &&
	    (line = io_getline(s->io, &len)) != NULL) {
		if (s->state == MTA_S_IDLE) {
			/* A 421 at idle, or garbage: either way, goodbye. */
			mta_session_free(s);
			return;
		}
		if (len > MTA_LINE_MAX) {
			mta_badreply(s, "line too long");
			return;
		}
		if (len < 3 || memchr(line, '\0', len) != NULL ||
		    (len > 3 && line[3] != ' ' && line[3] != '-') ||
		    (code = reply_code(line)) < 200 || code > 599) {
			mta_badreply(s, "syntax");
			return;
		}
		text = len > 3 ? line + 4 : line + 3;
		if (s->rlines == 0) {
			s->rcode = code;
			(void)strlcpy(s->rfirst, text, sizeof(s->rfirst));
			(void)snprintf(s->rbuf, sizeof(s->rbuf), "%d %s", code,
			    text);
		} else if (code != s->rcode) {
			mta_badreply(s, "code changed in a multiline reply");
			return;
		} else if ((rlen = strlen(s->rbuf)) < sizeof(s->rbuf) - 1)
			(void)snprintf(s->rbuf + rlen, sizeof(s->rbuf) - rlen,
			    " %s", text);
		if (++s->rlines > MTA_REPLY_LINES) {
			mta_badreply(s, "too many lines");
			return;
		}
		if (s->state == MTA_S_EHLO && s->rlines > 1 && code / 100 == 2)
			mta_ext(s, text);
		if (len == 3 || line[3] == ' ') {
			s->rlines = 0;
			sanitize(s->rbuf);
			response(s);
		}
	}
	if (!(s->flags & SF_DEAD) && s->io != NULL &&
	    io_datalen(s->io) > MTA_LINE_MAX)
		mta_badreply(s, "line too long");
}

/* The first word of the greeting or EHLO reply is our own name. */
static int
mta_loops(struct mta_session *s)
{
	size_t	 n = strcspn(s->rfirst, " ");

	return (s->helo[0] != '\0' && n == strlen(s->helo) &&
	    strncasecmp(s->rfirst, s->helo, n) == 0);
}

static int
mta_status(int code)
{
	if (code / 100 == 2)
		return (MTA_OK);
	if (code / 100 == 5)
		return (MTA_PERMFAIL);
	return (MTA_TEMPFAIL);
}

/* The session is ready for a transaction: checks, then MAIL. */
static void
mta_ready(struct mta_session *s)
{
	struct mta_job	*job = s->run->job;
	char		 reply[MTA_REPLY_MAX];
	size_t		 i;

	if (s->tls == MTA_TLS_REQUIRE && !io_is_tls(s->io)) {
		mta_addr_fail(s, AF_QUIT, "421 4.7.0 TLS is required, "
		    "but the server does not offer STARTTLS");
		return;
	}
	if (job->smtputf8 && !(s->ext & EXT_SMTPUTF8)) {
		mta_addr_fail(s, AF_PERM | AF_QUIT, "553 5.6.7 SMTPUTF8 is "
		    "required, but the server does not offer it");
		return;
	}
	if ((s->ext & EXT_SIZE) && s->sizemax > 0 && job->size > 0 &&
	    (uint64_t)job->size > s->sizemax) {
		mta_set_reply(reply, "552 5.3.4 message size %lld exceeds "
		    "the server's limit of %llu", (long long)job->size,
		    (unsigned long long)s->sizemax);
		mta_txn_fail(s, MTA_PERMFAIL, reply);
		mta_job_done(s);
		return;
	}
	for (i = 0; i < job->nrcpt; i++)
		if (job->rcpts[i].status == MTA_PENDING)
			break;
	if (i == job->nrcpt) {
		mta_job_done(s);
		return;
	}
	enter_state(s, MTA_S_MAIL);
}

/* The next accepted recipient still waiting for its LMTP reply. */
static struct mta_rcpt *
mta_lmtp_next(struct mta_session *s)
{
	struct mta_job	*job = s->run->job;
	struct mta_rcpt	*r;
	size_t		 i;

	for (i = 0; i < s->ntxn; i++) {
		r = &job->rcpts[s->txn[i]];
		if (r->accepted && r->status == MTA_PENDING)
			return (r);
	}
	return (NULL);
}

/* A complete reply in s->rcode, s->rbuf: decide the next state. */
static void
response(struct mta_session *s)
{
	struct mta_rcpt	*r;
	int		 code = s->rcode, class = code / 100;

	if (s->state == MTA_S_QUIT) {
		if (s->ignore > 0)
			s->ignore--;
		else
			mta_session_free(s);
		return;
	}
	if (s->run == NULL) {
		mta_session_free(s);
		return;
	}

	switch (s->state) {
	case MTA_S_BANNER:
		if (class == 2 && mta_loops(s))
			mta_addr_fail(s, AF_PERM | AF_QUIT, "554 5.4.6 mail "
			    "loops back to myself (%s greets as %s)",
			    s->relay, s->helo);
		else if (class == 2)
			enter_state(s, MTA_S_EHLO);
		else
			mta_addr_fail(s, (class == 5 ? AF_PERM : 0) | AF_QUIT,
			    "%s", s->rbuf);
		break;

	case MTA_S_EHLO:
	case MTA_S_HELO:
		if (class == 2 && mta_loops(s))
			mta_addr_fail(s, AF_PERM | AF_QUIT, "554 5.4.6 mail "
			    "loops back to myself (%s answers %s as %s)",
			    s->relay, s->lmtp ? "LHLO" : s->state ==
			    MTA_S_EHLO ? "EHLO" : "HELO", s->helo);
		else if (class == 2 && !io_is_tls(s->io) &&
		    (s->ext & EXT_STARTTLS) && (s->tls == MTA_TLS_REQUIRE ||
		    (s->tls == MTA_TLS_OPPORTUNISTIC &&
		    !(s->flags & SF_CLEAR))))
			enter_state(s, MTA_S_STARTTLS);
		else if (class == 2)
			mta_ready(s);
		else if (class == 5 && s->state == MTA_S_EHLO && !s->lmtp)
			enter_state(s, MTA_S_HELO);
		else
			mta_addr_fail(s, (class == 5 ? AF_PERM : 0) | AF_QUIT,
			    "%s", s->rbuf);
		break;

	case MTA_S_STARTTLS:
		if (class == 2)
			enter_state(s, MTA_S_TLS);
		else if (s->tls == MTA_TLS_REQUIRE)
			mta_addr_fail(s, AF_QUIT, "421 4.7.5 STARTTLS "
			    "refused: %s", s->rbuf);
		else
			mta_ready(s);	/* RFC 3207: go on in clear */
		break;

	case MTA_S_RSET:
		if (class == 2)
			mta_ready(s);
		else
			mta_addr_fail(s, AF_QUIT, "%s", s->rbuf);
		break;

	case MTA_S_MAIL:
		if (s->flags & SF_RSETPIPE) {
			/* the reply to the RSET sent ahead of MAIL: a
			 * failure is a pooled session lost (mta_addr_fail) */
			if (class != 2)
				mta_addr_fail(s, AF_QUIT, "%s", s->rbuf);
			else
				s->flags &= ~SF_RSETPIPE;
			break;
		}
		/* With PIPELINING the RCPT and DATA replies follow. */
		if (class != 2 && (s->flags & SF_PIPELINED))
			s->ignore = s->rcpt_sent + 1;
		if (class == 2)
			enter_state(s, MTA_S_RCPT);
		else if (class == 5) {
			mta_txn_fail(s, MTA_PERMFAIL, s->rbuf);
			mta_job_done(s);
		} else
			mta_addr_fail(s, AF_QUIT, "%s", s->rbuf);
		break;

	case MTA_S_RCPT:
		r = &s->run->job->rcpts[s->txn[s->rcpt_reply++]];
		if (class == 2) {
			r->accepted = 1;
			s->naccepted++;
		} else
			mta_rcpt_result(s, r, mta_status(code), s->rbuf);
		if (s->rcpt_reply < s->ntxn)
			enter_state(s, MTA_S_RCPT);
		else if (s->naccepted > 0 || (s->flags & SF_PIPELINED))
			enter_state(s, MTA_S_DATA);
		else
			mta_job_done(s);
		break;

	case MTA_S_DATA:
		if (code == 354 && s->naccepted == 0) {
			/* A server that takes DATA without recipients. */
			if (io_printf(s->io, ".\r\n") == 0)
				s->ignore++;
			mta_job_done(s);
		} else if (code == 354)
			enter_state(s, MTA_S_BODY);
		else if (s->naccepted == 0)
			mta_job_done(s);
		else if (class == 4 || class == 5) {
			mta_txn_fail(s, mta_status(code), s->rbuf);
			mta_job_done(s);
		} else
			mta_badreply(s, "unexpected reply to DATA");
		break;

	case MTA_S_BODY:
		/* A reply before the end of data: it ends the session. */
		mta_abort(s, class == 5 ? MTA_PERMFAIL : MTA_TEMPFAIL,
		    s->rbuf);
		break;

	case MTA_S_EOM:
		if (!s->lmtp) {
			mta_txn_fail(s, mta_status(code), s->rbuf);
			mta_job_done(s);
			break;
		}
		if ((r = mta_lmtp_next(s)) == NULL) {
			mta_badreply(s, "more LMTP replies than recipients");
			break;
		}
		mta_rcpt_result(s, r, mta_status(code), s->rbuf);
		if (mta_lmtp_next(s) == NULL)
			mta_job_done(s);
		break;

	default:
		mta_badreply(s, "unexpected reply");
		break;
	}
}
