/*
 * Portcullis: the mailbox process: Maildir delivery, and the maildrops
 * of POP3 sessions (maildrop.c).
 *
 * It runs as the mail user in the mail root (chrooted as root, its
 * working directory otherwise): the deepest folder that holds every
 * "deliver maildir" template (mailroot()), so every path here is
 * relative to it.  It takes batches from the queue (mailbox_imsg.h):
 * one message as a read-only descriptor and the envelopes to deliver
 * it to.  For each recipient:
 *
 *	1. its accept rule (the domain, or a domain table: ASCII
 *	   case-insensitive), which must still be "deliver maildir";
 *	2. %{user} and %{domain} made safe, the template expanded
 *	   (maildir.c: a name that could escape is refused for good);
 *	3. the Maildir and its tmp, new and cur made if missing (0700;
 *	   a folder made is fsync'ed into its parent);
 *	4. the Maildir protocol: a unique name, tmp/NAME created with
 *	   O_CREAT|O_EXCL (0600), "Return-Path:" and "Delivered-To:"
 *	   first, then the message with LF line ends (maildir.h), fsync,
 *	   rename to new/NAME,S=..,W=.., fsync new/.  On any error the
 *	   tmp file is removed.
 *
 * The answer: MAILBOX_OK once the file is durable in new/; TEMPFAIL
 * for what may pass (no space, quota, I/O, a Maildir that cannot be
 * made, a config that changed); PERMFAIL for a recipient whose name is
 * unsafe.  One log line per delivery.
 *
 * A batch is delivered when its DELIVER_GO arrives, to the end; the
 * file system is local, so this is short, and nothing else waits.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent.h"
#include "config.h"
#include "table.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"
#include "mailbox_imsg.h"
#include "maildir.h"
#include "mailbox.h"

#define COPY_CHUNK	(64 * 1024)
#define REPLY_MAX	512

/* The batch being received: the queue sends one whole, back to back. */
struct mbx_batch {
	uint32_t	 id;
	uint64_t	 msgid;
	int		 fd;
	uint32_t	 expected;
	uint32_t	 got;
	struct envelope	*evps;
};

struct config		*mailbox_conf;
char			 mailbox_root[CONFIG_PATH_MAX];	/* "" when none */
static struct mbx_batch	*cur;
static unsigned long long counter;
static char		 inbuf[COPY_CHUNK];
static char		 outbuf[COPY_CHUNK + 1];

static void	 mailbox_imsg(enum proc_id, struct ipc_msg *);
static void	 mailbox_config(struct config *);
static void	 mailbox_peer_closed(enum proc_id);
static void	 batch_free(struct mbx_batch *);
static void	 batch_go(struct mbx_batch *);
static int	 deliver(struct mbx_batch *, const struct envelope *, char *,
		    char *, size_t);
static int	 maildir_prepare(const char *);
static int	 maildir_write(struct mbx_batch *, const struct envelope *,
		    const char *, char *, size_t);
static int	 mkdir_one(const char *, int *);
static int	 write_all(int, const char *, size_t);
static int	 errno_status(int, char *, const char *, const char *);

void
mailbox(void)
{
	proc_set_dispatch(mailbox_imsg);
	proc_set_conf(mailbox_config);
	proc_set_peer_closed(mailbox_peer_closed);
}

/*
 * The mail root is where the parent put us, from the first config: a
 * reload that moves it takes effect when this process is restarted.
 */
static void
mailbox_config(struct config *conf)
{
	char	 r[CONFIG_PATH_MAX];

	if (mailroot(conf, r, sizeof(r)) == -1)
		r[0] = '\0';
	if (mailbox_conf == NULL)
		(void)strlcpy(mailbox_root, r, sizeof(mailbox_root));
	else if (strcmp(mailbox_root, r) != 0)
		log_warnx("the mail root is now %s, but this process lives "
		    "in %s until it is restarted: Maildirs outside it fail "
		    "temporarily", r[0] != '\0' ? r : "(none)",
		    mailbox_root[0] != '\0' ? mailbox_root : "(none)");
	config_free(mailbox_conf);
	mailbox_conf = conf;
}

static void
mailbox_peer_closed(enum proc_id id)
{
	if (id == PROC_SMTP)
		maildrop_close_all();
	/* The queue reschedules what it had sent. */
	if (id == PROC_QUEUE && cur != NULL) {
		batch_free(cur);
		cur = NULL;
	}
}

static void
batch_free(struct mbx_batch *b)
{
	if (b->fd != -1)
		close(b->fd);
	free(b->evps);
	free(b);
}

static void
mailbox_imsg(enum proc_id from, struct ipc_msg *m)
{
	struct mbx_batch	*b;
	uint64_t		 msgid;
	uint32_t		 count;

	if (mailbox_conf == NULL)
		fatalx("%s before the configuration",
		    ipc_type_name(m->hdr.type));
	if (from == PROC_SMTP) {
		maildrop_imsg(m);
		return;
	}
	if (from != PROC_QUEUE)
		fatalx("%s from %s: not for mailbox",
		    ipc_type_name(m->hdr.type), proc_name(from));
	switch (m->hdr.type) {
	case IMSG_MAILBOX_DELIVER_REQ:
		msgid = ipc_get_u64(m);
		count = ipc_get_u32(m);
		ipc_end(m);
		if (m->fd == -1 || count == 0 || count > MAILBOX_BATCH_MAX ||
		    cur != NULL)
			fatalx("IMSG_MAILBOX_DELIVER_REQ from queue: bad batch");
		if ((b = calloc(1, sizeof(*b))) == NULL ||
		    (b->evps = calloc(count, sizeof(*b->evps))) == NULL)
			fatal("calloc");
		b->id = m->hdr.peerid;
		b->msgid = msgid;
		b->expected = count;
		b->fd = m->fd;
		m->fd = -1;
		cur = b;
		return;
	case IMSG_MAILBOX_DELIVER_RCPT:
		if ((b = cur) == NULL || b->id != m->hdr.peerid ||
		    b->got == b->expected)
			fatalx("IMSG_MAILBOX_DELIVER_RCPT from queue: no room");
		envelope_get(m, &b->evps[b->got]);
		if (b->evps[b->got].msgid != b->msgid ||
		    b->evps[b->got].dest != DEST_MAILDIR)
			fatalx("IMSG_MAILBOX_DELIVER_RCPT from queue: not a "
			    "Maildir envelope of %016llx",
			    (unsigned long long)b->msgid);
		b->got++;
		return;
	case IMSG_MAILBOX_DELIVER_GO:
		ipc_end(m);
		if ((b = cur) == NULL || b->id != m->hdr.peerid ||
		    b->got != b->expected)
			fatalx("IMSG_MAILBOX_DELIVER_GO from queue: incomplete "
			    "batch");
		cur = NULL;
		batch_go(b);
		batch_free(b);
		return;
	}
	fatalx("%s from queue: not for mailbox", ipc_type_name(m->hdr.type));
}

static void
batch_go(struct mbx_batch *b)
{
	struct ipc_obuf	*o;
	struct ipc	*ch;
	char		 reply[REPLY_MAX], where[MAILDIR_PATH_MAX];
	char		 to[MAILADDR_STRSIZE], path[CONFIG_PATH_MAX +
			    MAILDIR_PATH_MAX + 2];
	uint32_t	 i;
	int		 status;

	for (i = 0; i < b->got; i++) {
		where[0] = '\0';
		status = deliver(b, &b->evps[i], reply, where, sizeof(where));
		if (mailaddr_format(&b->evps[i].rcpt, to, sizeof(to)) == -1)
			(void)strlcpy(to, "?", sizeof(to));
		if (where[0] == '\0')
			(void)strlcpy(path, "-", sizeof(path));
		else
			(void)snprintf(path, sizeof(path), "%s%s%s",
			    mailbox_root, strcmp(mailbox_root, "/") == 0 ?
			    "" : "/", where);
		if (status == MAILBOX_OK)
			log_info("%016llx mailbox event=delivery rcpt=<%s> "
			    "maildir=%s result=ok", (unsigned long long)
			    b->msgid, to, path);
		else
			log_info("%016llx mailbox event=delivery rcpt=<%s> "
			    "maildir=%s result=%s reason=\"%s\"",
			    (unsigned long long)b->msgid, to, path,
			    status == MAILBOX_TEMPFAIL ? "tempfail" :
			    "permfail", reply);
		if ((ch = proc_channel(PROC_QUEUE)) == NULL)
			return;		/* it reschedules the batch */
		o = ipc_create(ch, IMSG_MAILBOX_RESULT, b->id, -1);
		ipc_add_u64(o, b->msgid);
		ipc_add_u32(o, b->evps[i].idx);
		ipc_add_u32(o, (uint32_t)status);
		ipc_add_string(o, reply);
		if (ipc_close(o) == -1)
			fatal("cannot send IMSG_MAILBOX_RESULT");
	}
	(void)proc_compose(PROC_QUEUE, IMSG_MAILBOX_DONE, b->id, -1,
	    &b->msgid, sizeof(b->msgid));
}

/* The accept rule of a domain, as the queue routed it. */
const struct accept_rule *
mailbox_rule_for(const char *domain)
{
	const struct accept_rule	*ar;

	TAILQ_FOREACH(ar, &mailbox_conf->accepts, entry) {
		if (ar->domains != NULL) {
			if (!table_match_domain(ar->domains, domain))
				continue;
		} else if (!mailaddr_domain_eq(ar->domain, domain))
			continue;
		return ar;
	}
	return NULL;
}

/*
 * One recipient: a MAILBOX_* status and its reply; where: the Maildir,
 * relative to the root, once known.
 */
static int
deliver(struct mbx_batch *b, const struct envelope *e, char *reply,
    char *where, size_t wlen)
{
	const struct accept_rule	*ar;
	const char			*why;
	char				 user[MAILDIR_NAME_MAX + 1];
	char				 domain[MAILDIR_NAME_MAX + 1];

	if (maildir_user(e->rcpt.local, user, sizeof(user), &why) == -1 ||
	    maildir_domain(e->rcpt.domain, domain, sizeof(domain),
	    &why) == -1) {
		(void)snprintf(reply, REPLY_MAX, "550 5.1.1 Mailbox name "
		    "refused: %s", why);
		return MAILBOX_PERMFAIL;
	}
	if ((ar = mailbox_rule_for(e->rcpt.domain)) == NULL ||
	    ar->deliver != ACCEPT_MAILDIR) {
		(void)snprintf(reply, REPLY_MAX, "451 4.3.5 The domain %s is "
		    "not delivered to Maildirs (any more)", e->rcpt.domain);
		return MAILBOX_TEMPFAIL;
	}
	if (mailbox_root[0] == '\0' || maildir_path(ar->maildir,
	    mailbox_root, user, domain, where, wlen, &why) == -1) {
		if (mailbox_root[0] == '\0')
			why = "no mail root";
		(void)snprintf(reply, REPLY_MAX, "451 4.3.5 Maildir of "
		    "\"%.256s\": %s", ar->maildir, why);
		where[0] = '\0';
		return MAILBOX_TEMPFAIL;
	}
	if (maildir_prepare(where) == -1)
		return errno_status(errno, reply, "cannot make the Maildir",
		    where);
	return maildir_write(b, e, where, reply, REPLY_MAX);
}

/* The status and reply for a failed system call. */
static int
errno_status(int err, char *reply, const char *what, const char *where)
{
	switch (err) {
	case ENOSPC:
		(void)snprintf(reply, REPLY_MAX, "452 4.3.1 %s %s: %s", what,
		    where, strerror(err));
		return MAILBOX_TEMPFAIL;
	case EDQUOT:
		(void)snprintf(reply, REPLY_MAX, "452 4.2.2 %s %s: %s", what,
		    where, strerror(err));
		return MAILBOX_TEMPFAIL;
	case ENAMETOOLONG:
		(void)snprintf(reply, REPLY_MAX, "550 5.1.1 %s %s: %s", what,
		    where, strerror(err));
		return MAILBOX_PERMFAIL;
	default:
		(void)snprintf(reply, REPLY_MAX, "451 4.3.0 %s %s: %s", what,
		    where, strerror(err));
		return MAILBOX_TEMPFAIL;
	}
}

/* fsync a folder, so that the names in it are durable. */
int
mailbox_dir_sync(const char *path)
{
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/*
 * Make one folder (0700) unless it is there; *made when we did.  A
 * non-folder in its place is ENOTDIR.
 */
static int
mkdir_one(const char *path, int *made)
{
	struct stat	 st;

	*made = 0;
	if (mkdir(path, 0700) == 0) {
		*made = 1;
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * The Maildir at path (relative) and its tmp, new and cur: made when
 * missing, each new folder made durable in its parent.
 */
static int
maildir_prepare(const char *path)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	struct stat	 st;
	char		 buf[MAILDIR_PATH_MAX + 8], *p, *c0, *last, c;
	size_t		 i;
	int		 made, n, missing = 0;

	for (i = 0; i < 3; i++) {
		n = snprintf(buf, sizeof(buf), "%s/%s", path, subs[i]);
		if (n < 0 || (size_t)n >= sizeof(buf)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (stat(buf, &st) == -1 || !S_ISDIR(st.st_mode))
			missing = 1;
	}
	if (!missing)
		return 0;

	/* Each folder of the path in turn, then the three. */
	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	last = NULL;
	for (p = buf; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c0 = last != NULL ? last + 1 : buf;
		if (p == c0 || (p - c0 == 1 && c0[0] == '.')) {
			if (*p == '\0')
				break;
			last = p;
			continue;
		}
		c = *p;
		*p = '\0';
		if (mkdir_one(buf, &made) == -1)
			return -1;
		if (made) {
			/* its name in its parent */
			if (last != NULL)
				*last = '\0';
			if (mailbox_dir_sync(last != NULL ? buf : ".") == -1)
				return -1;
			if (last != NULL)
				*last = '/';
		}
		*p = c;
		if (c == '\0')
			break;
		last = p;
	}
	for (i = 0; i < 3; i++) {
		(void)snprintf(buf, sizeof(buf), "%s/%s", path, subs[i]);
		if (mkdir_one(buf, &made) == -1)
			return -1;
	}
	return mailbox_dir_sync(path);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The Maildir protocol: tmp/NAME, written and synced, renamed into
 * new/, new/ synced.  On failure tmp/NAME is gone.
 */
static int
maildir_write(struct mbx_batch *b, const struct envelope *e,
    const char *dir, char *reply, size_t rlen)
{
	struct timeval	 tv;
	char		 name[MAILDIR_FILE_MAX], newname[MAILDIR_FILE_MAX];
	char		 tmp[MAILDIR_PATH_MAX + MAILDIR_FILE_MAX + 8];
	char		 dst[MAILDIR_PATH_MAX + MAILDIR_FILE_MAX + 8];
	char		 from[MAILADDR_STRSIZE], to[MAILADDR_STRSIZE];
	char		 hdr[2 * MAILADDR_STRSIZE + 64];
	const char	*what = "cannot write";
	uint64_t	 size = 0, lines = 0;
	off_t		 off = 0;
	ssize_t		 r;
	size_t		 o, hlen;
	int		 fd, n, cr = 0, saved;

	if (e->sender.flags & MAILADDR_NULL)
		from[0] = '\0';
	else if (mailaddr_format(&e->sender, from, sizeof(from)) == -1)
		(void)strlcpy(from, "", sizeof(from));
	if (mailaddr_format(&e->rcpt, to, sizeof(to)) == -1)
		fatalx("%s: a recipient that does not format", __func__);
	n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: "
	    "%s\n", from, to);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		fatalx("%s: header too long", __func__);
	hlen = (size_t)n;

	(void)gettimeofday(&tv, NULL);
	if (maildir_filename(name, sizeof(name), (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), ++counter,
	    mailbox_conf->hostname) == -1 ||
	    (n = snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name)) < 0 ||
	    (size_t)n >= sizeof(tmp))
		return errno_status(ENAMETOOLONG, reply, "cannot name a file "
		    "in", dir);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return errno_status(errno, reply, "cannot create a file in",
		    dir);

	if (write_all(fd, hdr, hlen) == -1)
		goto fail;
	size = hlen;
	lines = 2;
	for (;;) {
		r = pread(b->fd, inbuf, sizeof(inbuf), off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			what = "cannot read the spooled message for";
			goto fail;
		}
		if (r == 0)
			break;
		off += r;
		o = maildir_lf(inbuf, (size_t)r, outbuf, &cr, &lines);
		if (write_all(fd, outbuf, o) == -1)
			goto fail;
		size += o;
	}
	if (cr) {
		if (write_all(fd, "\r", 1) == -1)
			goto fail;
		size++;
	}
	if (fsync(fd) == -1) {
		what = "cannot sync";
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (maildir_newname(newname, sizeof(newname), name, size,
	    size + lines) == -1 ||
	    (n = snprintf(dst, sizeof(dst), "%s/new/%s", dir, newname)) < 0 ||
	    (size_t)n >= sizeof(dst)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if (rename(tmp, dst) == -1) {
		what = "cannot move the file into new/ of";
		goto fail;
	}
	(void)snprintf(dst, sizeof(dst), "%s/new", dir);
	if (mailbox_dir_sync(dst) == -1) {
		/* The rename may not survive a crash: deliver again. */
		saved = errno;
		(void)snprintf(dst, sizeof(dst), "%s/new/%s", dir, newname);
		(void)unlink(dst);
		return errno_status(saved, reply, "cannot sync new/ of", dir);
	}
	(void)snprintf(reply, rlen, "250 2.0.0 Delivered to the Maildir");
	return MAILBOX_OK;

 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (unlink(tmp) == -1 && errno != ENOENT)
		log_warn("%016llx mailbox: cannot remove %s",
		    (unsigned long long)b->msgid, tmp);
	return errno_status(saved, reply, what, dir);
}
