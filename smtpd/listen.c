/*
 * Portcullis: what the parent opens with its privileges for the
 * workers: the listening sockets, the control socket, the spool and the
 * directories the workers are chrooted into.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "parent.h"
#include "parent_imsg.h"
#include "config.h"

#define LISTEN_BACKLOG	1024
#define PKI_FILE_MAX	(256 * 1024)

int		 control_fd = -1;
int		 pop3_state_fd = -1;
static char	 control_path[CONFIG_PATH_MAX];
static char	 mailroot_buf[CONFIG_PATH_MAX];

static int
listener_same(const struct listener *a, const struct listener *b)
{
	return a->sslen == b->sslen && memcmp(&a->ss, &b->ss, a->sslen) == 0;
}

static int
listener_bind(struct listener *l)
{
	char	 addr[128];
	int	 fd, on = 1;

	fmt_sockaddr(&l->ss, addr, sizeof(addr));
	fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd == -1) {
		log_warn("%s:%d: cannot listen on %s port %u", l->file,
		    l->line, addr, l->port);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		log_warn("setsockopt SO_REUSEADDR");
	if (l->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		log_warn("setsockopt IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&l->ss, l->sslen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("%s:%d: cannot listen on %s port %u", l->file,
		    l->line, addr, l->port);
		close(fd);
		return -1;
	}
	l->fd = fd;
	log_debug("listening on %s port %u", addr, l->port);
	return 0;
}

/*
 * Bind every listener of conf, taking over the sockets of old (a
 * reload) for the addresses both have, so that no connection is
 * refused in between.  All or nothing: on failure conf has no sockets
 * and old keeps all of its own.
 */
int
listen_open_all(struct config *conf, struct config *old)
{
	struct listener	*l, *o;

	TAILQ_FOREACH(l, &conf->listeners, entry) {
		l->fd = -1;
		if (old != NULL)
			TAILQ_FOREACH(o, &old->listeners, entry)
				if (o->fd != -1 && listener_same(l, o))
					break;
		if (old != NULL && o != NULL)
			continue;	/* taken over below */
		if (listener_bind(l) == -1)
			goto fail;
	}
	if (old == NULL)
		return 0;
	TAILQ_FOREACH(l, &conf->listeners, entry) {
		if (l->fd != -1)
			continue;
		TAILQ_FOREACH(o, &old->listeners, entry)
			if (o->fd != -1 && listener_same(l, o)) {
				l->fd = o->fd;
				o->fd = -1;
				break;
			}
	}
	return 0;
fail:
	listen_close_all(conf);
	return -1;
}

void
listen_close_all(struct config *conf)
{
	struct listener	*l;

	TAILQ_FOREACH(l, &conf->listeners, entry)
		if (l->fd != -1) {
			close(l->fd);
			l->fd = -1;
		}
}

/* Create a directory and its parents (as mkdir -p), mode for the last. */
static int
mkdir_p(const char *path, mode_t mode)
{
	char	 buf[CONFIG_PATH_MAX], *p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
parent_dir(const char *path, char *buf, size_t len)
{
	char	*slash;

	if (strlcpy(buf, path, len) >= len)
		return -1;
	if ((slash = strrchr(buf, '/')) == NULL)
		return -1;
	if (slash == buf)
		slash[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

/*
 * The mail root: made when missing, for the mail user (as root) who
 * makes the Maildirs in it.  One that exists is the administrator's
 * (/var/mail, /home): left as it is.
 */
static int
mailroot_prepare(const char *dir)
{
	struct passwd	*pw;
	struct stat	 st;

	if (stat(dir, &st) == 0)
		return 0;
	if (errno != ENOENT || mkdir_p(dir, 0700) == -1) {
		log_warn("mail root %s", dir);
		return -1;
	}
	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(SMTPD_MAILUSER)) == NULL) {
		log_warnx("user %s does not exist: run \"make install-users\" "
		    "(see README)", SMTPD_MAILUSER);
		return -1;
	}
	if (chown(dir, pw->pw_uid, pw->pw_gid) == -1) {
		log_warn("mail root %s", dir);
		return -1;
	}
	return 0;
}

/*
 * The spool belongs to the queue user and nobody else may write to it;
 * the chroot for the workers without files is root's and empty.
 */
int
dirs_prepare(struct config *conf)
{
	struct passwd	*pw;
	struct stat	 st;
	char		 dir[CONFIG_PATH_MAX];

	if (mkdir_p(conf->spool, 0700) == -1) {
		log_warn("spool %s", conf->spool);
		return -1;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam(SMTPD_QUEUEUSER)) == NULL) {
			log_warnx("user %s does not exist: run \"make "
			    "install-users\" (see README)", SMTPD_QUEUEUSER);
			return -1;
		}
		if (chown(conf->spool, pw->pw_uid, pw->pw_gid) == -1 ||
		    chmod(conf->spool, 0700) == -1) {
			log_warn("spool %s", conf->spool);
			return -1;
		}
		if (mkdir_p(SMTPD_EMPTYDIR, 0755) == -1 ||
		    stat(SMTPD_EMPTYDIR, &st) == -1) {
			log_warn("%s", SMTPD_EMPTYDIR);
			return -1;
		}
		if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
			log_warnx("%s must belong to root and be writable by "
			    "nobody else", SMTPD_EMPTYDIR);
			return -1;
		}
	}
	if (stat(conf->spool, &st) == -1) {
		log_warn("spool %s", conf->spool);
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_mode & 022) != 0) {
		log_warnx("spool %s must be a directory writable only by its "
		    "owner", conf->spool);
		return -1;
	}
	if (mailroot(conf, dir, sizeof(dir)) == 0 && mailroot_prepare(dir) ==
	    -1)
		return -1;
	if (parent_dir(conf->control_socket, dir, sizeof(dir)) == -1 ||
	    mkdir_p(dir, geteuid() == 0 ? 0755 : 0700) == -1) {
		log_warn("directory of %s", conf->control_socket);
		return -1;
	}
	return 0;
}

/*
 * The control socket: refuse to take it from a running daemon, clear a
 * stale one, and let only root and the control group connect.
 */
int
control_open(struct config *conf)
{
	struct sockaddr_un	 sun;
	struct group		*gr;
	mode_t			 old_umask;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, conf->control_socket,
	    sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		log_warnx("control socket path too long: %s",
		    conf->control_socket);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		log_warnx("another smtpd is running on %s",
		    conf->control_socket);
		close(fd);
		return -1;
	}
	close(fd);
	if (unlink(conf->control_socket) == -1 && errno != ENOENT) {
		log_warn("unlink %s", conf->control_socket);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	old_umask = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", conf->control_socket);
		(void)umask(old_umask);
		close(fd);
		return -1;
	}
	(void)umask(old_umask);
	if (chmod(conf->control_socket, 0660) == -1) {
		log_warn("chmod %s", conf->control_socket);
		goto fail;
	}
	if (geteuid() == 0) {
		if ((gr = getgrnam(conf->control_group)) == NULL)
			log_warnx("control group %s does not exist: only "
			    "root may use smtpctl", conf->control_group);
		else if (chown(conf->control_socket, 0, gr->gr_gid) == -1) {
			log_warn("chown %s", conf->control_socket);
			goto fail;
		}
	}
	if (listen(fd, 16) == -1) {
		log_warn("listen %s", conf->control_socket);
		goto fail;
	}
	(void)strlcpy(control_path, conf->control_socket,
	    sizeof(control_path));
	control_fd = fd;
	return 0;
fail:
	(void)unlink(conf->control_socket);
	close(fd);
	return -1;
}

void
control_cleanup(void)
{
	if (control_path[0] != '\0')
		(void)unlink(control_path);
}

/* Read a whole file of at most max bytes. */
static int
read_file(const char *path, size_t max, uint8_t **out, size_t *outlen)
{
	struct stat	 st;
	uint8_t		*buf;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (size_t)st.st_size > max) {
		if (errno == 0 || S_ISREG(st.st_mode))
			errno = EFBIG;
		close(fd);
		return -1;
	}
	if ((buf = malloc(st.st_size)) == NULL) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			freezero(buf, st.st_size);
			close(fd);
			errno = n == 0 ? EIO : errno;
			return -1;
		}
		got += n;
	}
	close(fd);
	*out = buf;
	*outlen = got;
	return 0;
}

/*
 * The certificates and keys, read with the parent's privileges so that
 * the front end gets them without ever opening a file.
 */
int
pki_load_all(struct config *conf)
{
	struct pki	*p;

	TAILQ_FOREACH(p, &conf->pkis, entry) {
		if (p->cert_mem == NULL && read_file(p->cert, PKI_FILE_MAX,
		    &p->cert_mem, &p->cert_len) == -1) {
			log_warn("%s:%d: pki %s: cannot read %s", p->file,
			    p->line, p->name, p->cert);
			return -1;
		}
		if (p->key_mem == NULL && read_file(p->key, PKI_FILE_MAX,
		    &p->key_mem, &p->key_len) == -1) {
			log_warn("%s:%d: pki %s: cannot read %s", p->file,
			    p->line, p->name, p->key);
			return -1;
		}
	}
	return 0;
}

/*
 * The directory a worker lives in: its chroot as root, its working
 * directory otherwise (NULL: stay where it is).
 */
const char *
worker_rootdir(const struct proc_info *pi, const struct config *conf)
{
	switch (pi->root) {
	case ROOT_NONE:
		return NULL;
	case ROOT_SPOOL:
		return conf->spool;
	case ROOT_MAIL:
		if (mailroot(conf, mailroot_buf, sizeof(mailroot_buf)) == 0)
			return mailroot_buf;
		/* FALLTHROUGH */
	case ROOT_EMPTY:
		return geteuid() == 0 ? SMTPD_EMPTYDIR : NULL;
	}
	return NULL;
}

/*
 * The mail root: the deepest folder that holds every "deliver maildir"
 * path, i.e. the common part of the templates before their first
 * %{...}, cut at a '/'.  -1 when no domain is delivered to Maildirs.
 */
int
mailroot(const struct config *conf, char *buf, size_t len)
{
	const struct accept_rule *a;
	char			 t[CONFIG_PATH_MAX], *p;
	size_t			 n;
	int			 found = 0;

	TAILQ_FOREACH(a, &conf->accepts, entry) {
		if (a->deliver != ACCEPT_MAILDIR)
			continue;
		if (strlcpy(t, a->maildir, sizeof(t)) >= sizeof(t))
			return -1;
		if ((p = strstr(t, "%{")) != NULL)
			*p = '\0';
		if ((p = strrchr(t, '/')) == NULL)
			return -1;
		p[p == t ? 1 : 0] = '\0';
		if (!found) {
			if (strlcpy(buf, t, len) >= len)
				return -1;
			found = 1;
			continue;
		}
		/* keep the common folders of buf and t */
		for (n = 0; buf[n] != '\0' && buf[n] == t[n]; n++)
			;
		if (buf[n] != '\0' || (t[n] != '\0' && t[n] != '/')) {
			buf[n] = '\0';
			if ((p = strrchr(buf, '/')) == NULL)
				return -1;
			p[p == buf ? 1 : 0] = '\0';
		}
	}
	return found ? 0 : -1;
}

/*
 * The POP3 login tracker's state file in the spool, for auth, which
 * opens no files: made when missing, 0600, and (as root) the auth
 * user's.  Opened once; every configuration sent to auth carries a
 * copy of the descriptor.
 */
int
pop3_state_open(const struct config *conf)
{
	struct passwd	*pw;
	struct stat	 st;
	char		 path[CONFIG_PATH_MAX];
	int		 fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", conf->spool,
	    POP3_STATE_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		log_warnx("spool %s: path too long", conf->spool);
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK, 0600)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, 0) == -1 || fchmod(fd, 0600) == -1) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam(SMTPD_AUTHUSER)) == NULL) {
			log_warnx("user %s does not exist: run \"make "
			    "install-users\" (see README)", SMTPD_AUTHUSER);
			close(fd);
			return -1;
		}
		if (fchown(fd, pw->pw_uid, pw->pw_gid) == -1) {
			log_warn("%s", path);
			close(fd);
			return -1;
		}
	}
	pop3_state_fd = fd;
	return 0;
}
