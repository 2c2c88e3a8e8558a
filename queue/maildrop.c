/*
 * Portcullis: POP3 maildrops in the mailbox process (mailbox_imsg.h).
 *
 * The front end speaks POP3; once auth accepted a login, it asks here
 * to open the login's maildrop: the Maildir that "deliver maildir"
 * writes for that address (the login is "user@domain": %{user} and
 * %{domain} made safe exactly as for delivery, maildir.c).  A Maildir
 * that does not exist yet is an empty maildrop: nothing is made.
 *
 * The listing is every regular file of new/ and cur/ (not dot files),
 * oldest first (modification time, then name), at most POP3_MSGS_MAX.
 * A message's size is its size with CRLF line ends: the ",W=" of its
 * name when there is one (this daemon and Dovecot write it), else
 * counted by reading the file.  Its unique id is its name up to the
 * ':' of the Maildir flags, so that it stays the same when a mail
 * reader moves it from new/ to cur/ (pop3_uid()).
 *
 * A maildrop is locked while open (RFC 1939 8): a second session of
 * the same Maildir gets IN-USE.  RETR and TOP get the file as a
 * read-only descriptor; at QUIT the marked files are unlinked and
 * their folders synced.  A front end that goes away closes them all.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <dirent.h>
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
#include "config.h"
#include "mailbox_imsg.h"
#include "maildir.h"
#include "mailbox.h"
#include "pop3.h"

struct mdfile {
	char		*name;		/* "new/NAME" or "cur/NAME" */
	struct timespec	 mtime;
	uint64_t	 size;		/* with CRLF line ends */
	int		 marked;
};

struct maildrop {
	RB_ENTRY(maildrop)	 node;
	uint32_t		 id;	/* the front end's session */
	char			 path[MAILDIR_PATH_MAX];
	struct mdfile		*files;
	uint32_t		 n;
	uint32_t		 allocated;
};

RB_HEAD(maildrops, maildrop);
int	maildrop_cmp(struct maildrop *, struct maildrop *);

int
maildrop_cmp(struct maildrop *a, struct maildrop *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_PROTOTYPE(maildrops, maildrop, node, maildrop_cmp);
RB_GENERATE(maildrops, maildrop, node, maildrop_cmp);

static struct maildrops	 drops = RB_INITIALIZER(&drops);
static char		 readbuf[64 * 1024];

static struct maildrop *
drop_find(uint32_t id)
{
	struct maildrop	 key;

	key.id = id;
	return RB_FIND(maildrops, &drops, &key);
}

static void
drop_free(struct maildrop *d)
{
	uint32_t	 i;

	RB_REMOVE(maildrops, &drops, d);
	for (i = 0; i < d->n; i++)
		free(d->files[i].name);
	free(d->files);
	free(d);
}

void
maildrop_close_all(void)
{
	struct maildrop	*d;

	while ((d = RB_MIN(maildrops, &drops)) != NULL)
		drop_free(d);
}

/* ",W=<digits>" in the name before ':' into *size: 0, or -1. */
static int
name_wsize(const char *name, uint64_t *size)
{
	const char	*p, *end;
	uint64_t	 v = 0;

	end = strchr(name, ':');
	if (end == NULL)
		end = name + strlen(name);
	for (p = name; (p = strstr(p, ",W=")) != NULL && p < end; p += 3) {
		p += 3;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			if (v > (UINT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (p < end && *p != ',')
			return -1;
		*size = v;
		return 0;
	}
	return -1;
}

/* The CRLF size of a file without ",W=": read it. */
static int
count_size(const char *path, uint64_t *size)
{
	ssize_t	 r;
	int	 fd, cr = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	*size = 0;
	while ((r = read(fd, readbuf, sizeof(readbuf))) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		*size += pop3_crlf_size(readbuf, (size_t)r, &cr);
	}
	close(fd);
	return 0;
}

static int
file_add(struct maildrop *d, const char *sub, const char *name,
    const struct stat *st)
{
	struct mdfile	*f;
	char		 path[MAILDIR_PATH_MAX + MAILDIR_FILE_MAX + 8];
	void		*p;
	uint32_t	 want;
	int		 n;

	if (d->n == d->allocated) {
		want = d->allocated == 0 ? 64 : d->allocated * 2;
		if ((p = reallocarray(d->files, want, sizeof(*d->files))) ==
		    NULL)
			return -1;
		d->files = p;
		d->allocated = want;
	}
	f = &d->files[d->n];
	memset(f, 0, sizeof(*f));
	if (asprintf(&f->name, "%s/%s", sub, name) == -1) {
		f->name = NULL;
		return -1;
	}
	f->mtime = st->st_mtim;
	if (name_wsize(name, &f->size) == -1) {
		n = snprintf(path, sizeof(path), "%s/%s", d->path, f->name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    count_size(path, &f->size) == -1) {
			/* gone meanwhile, or unreadable: not listed */
			free(f->name);
			return 0;
		}
	}
	d->n++;
	return 0;
}

/* The regular files of path/sub; a missing folder is empty. */
static int
scan(struct maildrop *d, const char *sub)
{
	DIR		*dir;
	struct dirent	*de;
	struct stat	 st;
	char		 path[MAILDIR_PATH_MAX + 8];
	int		 n, saved;

	n = snprintf(path, sizeof(path), "%s/%s", d->path, sub);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((dir = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (d->n == POP3_MSGS_MAX) {
			log_warnx("maildrop %s: more than %u messages: the "
			    "rest are not listed", d->path, POP3_MSGS_MAX);
			break;
		}
		if (fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;
			goto fail;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (file_add(d, sub, de->d_name, &st) == -1)
			goto fail;
		errno = 0;
	}
	if (errno != 0)
		goto fail;
	closedir(dir);
	return 0;
 fail:
	saved = errno;
	closedir(dir);
	errno = saved;
	return -1;
}

static int
file_cmp(const void *a, const void *b)
{
	const struct mdfile	*x = a, *y = b;
	const char		*nx, *ny;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	/* the name without "new/" or "cur/" */
	nx = x->name + 4;
	ny = y->name + 4;
	return strcmp(nx, ny);
}

/* The Maildir of a login: 0, or -1 with *why (the login is not ours). */
static int
login_maildir(const char *login, char *path, size_t len, const char **why)
{
	const struct accept_rule	*ar;
	const char			*at;
	char				 local[POP3_LOGIN_MAX + 1];
	char				 user[MAILDIR_NAME_MAX + 1];
	char				 domain[MAILDIR_NAME_MAX + 1];

	if ((at = strrchr(login, '@')) == NULL || at == login ||
	    at[1] == '\0' || (size_t)(at - login) >= sizeof(local)) {
		*why = "the login is not an address (user@domain)";
		return -1;
	}
	memcpy(local, login, (size_t)(at - login));
	local[at - login] = '\0';
	if (maildir_user(local, user, sizeof(user), why) == -1 ||
	    maildir_domain(at + 1, domain, sizeof(domain), why) == -1)
		return -1;
	if ((ar = mailbox_rule_for(at + 1)) == NULL ||
	    ar->deliver != ACCEPT_MAILDIR) {
		*why = "its domain is not delivered to Maildirs here";
		return -1;
	}
	if (mailbox_root[0] == '\0') {
		*why = "no mail root";
		return -1;
	}
	return maildir_path(ar->maildir, mailbox_root, user, domain, path,
	    len, why);
}

static void
opened(uint32_t id, uint32_t status, uint32_t count, const char *why)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;

	if ((ch = proc_channel(PROC_SMTP)) == NULL)
		return;
	ob = ipc_create(ch, IMSG_MAILBOX_POP3_OPENED, id, -1);
	ipc_add_u32(ob, status);
	ipc_add_u32(ob, count);
	ipc_add_string(ob, why);
	if (ipc_close(ob) == -1)
		fatal("IMSG_MAILBOX_POP3_OPENED");
}

static void
drop_open(uint32_t id, const char *login)
{
	struct maildrop	*d, *o;
	struct ipc_obuf	*ob = NULL;
	struct ipc	*ch;
	const char	*why = NULL, *name, *colon;
	char		 uid[POP3_UID_MAX + 1];
	uint32_t	 i, k = 0;

	if (drop_find(id) != NULL)
		fatalx("IMSG_MAILBOX_POP3_OPEN: session %08x has a maildrop",
		    id);
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("calloc");
	d->id = id;
	if (login_maildir(login, d->path, sizeof(d->path), &why) == -1) {
		log_info("%08x mailbox event=pop3-open user=\"%s\" "
		    "result=none reason=\"%s\"", id, login, why);
		free(d);
		opened(id, POP3_OPEN_NO_MAILBOX, 0, why);
		return;
	}
	RB_FOREACH(o, maildrops, &drops)
		if (strcmp(o->path, d->path) == 0) {
			free(d);
			opened(id, POP3_OPEN_IN_USE, 0, "locked");
			return;
		}
	RB_INSERT(maildrops, &drops, d);
	if (scan(d, "new") == -1 || scan(d, "cur") == -1) {
		log_warn("%08x mailbox: maildrop %s", id, d->path);
		drop_free(d);
		opened(id, POP3_OPEN_FAIL, 0, "cannot read the Maildir");
		return;
	}
	if (d->n > 0)
		qsort(d->files, d->n, sizeof(*d->files), file_cmp);
	if ((ch = proc_channel(PROC_SMTP)) == NULL) {
		drop_free(d);
		return;
	}
	for (i = 0; i < d->n; i++) {
		if (ob == NULL) {
			k = d->n - i > POP3_ENTRIES_MAX ? POP3_ENTRIES_MAX :
			    d->n - i;
			ob = ipc_create(ch, IMSG_MAILBOX_POP3_ENTRIES, id, -1);
			ipc_add_u32(ob, k);
		}
		name = d->files[i].name + 4;
		colon = strchr(name, ':');
		pop3_uid(name, colon != NULL ? (size_t)(colon - name) :
		    strlen(name), uid);
		ipc_add_u64(ob, d->files[i].size);
		ipc_add_string(ob, uid);
		if (--k == 0) {
			if (ipc_close(ob) == -1)
				fatal("IMSG_MAILBOX_POP3_ENTRIES");
			ob = NULL;
		}
	}
	log_info("%08x mailbox event=pop3-open user=\"%s\" maildir=%s "
	    "messages=%u", id, login, d->path, d->n);
	opened(id, POP3_OPEN_OK, d->n, "");
}

static void
drop_fetch(struct maildrop *d, uint32_t idx)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;
	char		 path[MAILDIR_PATH_MAX + MAILDIR_FILE_MAX + 8];
	uint32_t	 status = 1;
	int		 fd = -1, n;

	if (idx >= d->n)
		fatalx("IMSG_MAILBOX_POP3_FETCH: message %u of %u", idx, d->n);
	n = snprintf(path, sizeof(path), "%s/%s", d->path,
	    d->files[idx].name);
	if (n >= 0 && (size_t)n < sizeof(path) &&
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1)
		status = 0;
	else
		log_warn("%08x mailbox: pop3 message %s", d->id, path);
	if ((ch = proc_channel(PROC_SMTP)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	ob = ipc_create(ch, IMSG_MAILBOX_POP3_FILE, d->id, fd);
	ipc_add_u32(ob, idx);
	ipc_add_u32(ob, status);
	if (ipc_close(ob) == -1)
		fatal("IMSG_MAILBOX_POP3_FILE");
}

static void
drop_update(struct maildrop *d)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;
	char		 path[MAILDIR_PATH_MAX + MAILDIR_FILE_MAX + 8];
	uint32_t	 i, removed = 0, failed = 0;
	int		 n, dirty_new = 0, dirty_cur = 0;

	for (i = 0; i < d->n; i++) {
		if (!d->files[i].marked)
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", d->path,
		    d->files[i].name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    (unlink(path) == -1 && errno != ENOENT)) {
			log_warn("%08x mailbox: cannot remove %s", d->id,
			    path);
			failed++;
			continue;
		}
		removed++;
		if (d->files[i].name[0] == 'n')
			dirty_new = 1;
		else
			dirty_cur = 1;
	}
	(void)snprintf(path, sizeof(path), "%s/new", d->path);
	if (dirty_new && mailbox_dir_sync(path) == -1)
		log_warn("%08x mailbox: fsync %s", d->id, path);
	(void)snprintf(path, sizeof(path), "%s/cur", d->path);
	if (dirty_cur && mailbox_dir_sync(path) == -1)
		log_warn("%08x mailbox: fsync %s", d->id, path);
	log_info("%08x mailbox event=pop3-update maildir=%s removed=%u "
	    "failed=%u", d->id, d->path, removed, failed);
	if ((ch = proc_channel(PROC_SMTP)) != NULL) {
		ob = ipc_create(ch, IMSG_MAILBOX_POP3_UPDATED, d->id, -1);
		ipc_add_u32(ob, removed);
		ipc_add_u32(ob, failed);
		if (ipc_close(ob) == -1)
			fatal("IMSG_MAILBOX_POP3_UPDATED");
	}
	drop_free(d);
}

void
maildrop_imsg(struct ipc_msg *m)
{
	struct maildrop	*d;
	const char	*login;
	uint32_t	 n, idx;

	if (m->hdr.type == IMSG_MAILBOX_POP3_OPEN) {
		login = ipc_get_string(m);
		ipc_end(m);
		if (login == NULL)
			fatalx("IMSG_MAILBOX_POP3_OPEN without a login");
		drop_open(m->hdr.peerid, login);
		return;
	}
	d = drop_find(m->hdr.peerid);
	switch (m->hdr.type) {
	case IMSG_MAILBOX_POP3_FETCH:
		idx = ipc_get_u32(m);
		ipc_end(m);
		if (d == NULL)
			fatalx("IMSG_MAILBOX_POP3_FETCH: no maildrop");
		drop_fetch(d, idx);
		return;
	case IMSG_MAILBOX_POP3_DELE:
		n = ipc_get_u32(m);
		if (d == NULL || n == 0 || n > POP3_DELE_MAX)
			fatalx("IMSG_MAILBOX_POP3_DELE: bad request");
		while (n-- > 0) {
			idx = ipc_get_u32(m);
			if (idx >= d->n)
				fatalx("IMSG_MAILBOX_POP3_DELE: message %u of "
				    "%u", idx, d->n);
			d->files[idx].marked = 1;
		}
		ipc_end(m);
		return;
	case IMSG_MAILBOX_POP3_UPDATE:
		ipc_end(m);
		if (d == NULL)
			fatalx("IMSG_MAILBOX_POP3_UPDATE: no maildrop");
		drop_update(d);
		return;
	case IMSG_MAILBOX_POP3_CLOSE:
		ipc_end(m);
		if (d != NULL)
			drop_free(d);
		return;
	}
	fatalx("%s from smtp: not for mailbox", ipc_type_name(m->hdr.type));
}
