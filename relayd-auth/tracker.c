/*
 * Portcullis: the POP3 login tracker.  See tracker.h for what it keeps
 * and the format of its state file.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracker.h"

static int	 tracker_cmp(struct tracker_entry *, struct tracker_entry *);
static void	 tracker_remove(struct tracker *, struct tracker_entry *);

RB_PROTOTYPE(tracker_tree, tracker_entry, node, tracker_cmp);
RB_GENERATE(tracker_tree, tracker_entry, node, tracker_cmp);

static int
addr_cmp(const struct tracker_addr *a, const struct tracker_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* By address, then user: the logins of one address are neighbours. */
static int
tracker_cmp(struct tracker_entry *a, struct tracker_entry *b)
{
	int	 c;

	if ((c = addr_cmp(&a->addr, &b->addr)) != 0)
		return c;
	return strcmp(a->user, b->user);
}

void
tracker_init(struct tracker *t, size_t max, time_t ttl)
{
	RB_INIT(&t->tree);
	TAILQ_INIT(&t->list);
	t->count = 0;
	t->max = max > 0 ? max : 1;
	t->ttl = ttl;
}

void
tracker_clear(struct tracker *t)
{
	struct tracker_entry	*e;

	while ((e = TAILQ_FIRST(&t->list)) != NULL)
		tracker_remove(t, e);
}

void
tracker_set_ttl(struct tracker *t, time_t ttl)
{
	t->ttl = ttl;
}

static void
tracker_remove(struct tracker *t, struct tracker_entry *e)
{
	RB_REMOVE(tracker_tree, &t->tree, e);
	TAILQ_REMOVE(&t->list, e, order);
	t->count--;
	free(e->user);
	free(e);
}

/* ---- addresses and users --------------------------------------------- */

/* family and the address's bytes; IPv4-mapped IPv6 becomes IPv4 */
static int
addr_from(struct tracker_addr *ta, int family, const void *bytes)
{
	static const uint8_t	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	memset(ta, 0, sizeof(*ta));
	switch (family) {
	case AF_INET:
		ta->family = AF_INET;
		memcpy(ta->addr, bytes, 4);
		return 0;
	case AF_INET6:
		if (memcmp(bytes, mapped, sizeof(mapped)) == 0) {
			ta->family = AF_INET;
			memcpy(ta->addr, (const uint8_t *)bytes + 12, 4);
		} else {
			ta->family = AF_INET6;
			memcpy(ta->addr, bytes, 16);
		}
		return 0;
	}
	return -1;
}

int
tracker_addr_set(struct tracker_addr *ta, const struct sockaddr *sa)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	sa_family_t		 family;

	/* copies: the caller's storage may be any sockaddr type */
	memcpy(&family, (const char *)sa + offsetof(struct sockaddr,
	    sa_family), sizeof(family));
	switch (family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		return addr_from(ta, AF_INET, &sin.sin_addr);
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		return addr_from(ta, AF_INET6, &sin6.sin6_addr);
	}
	memset(ta, 0, sizeof(*ta));
	return -1;
}

int
tracker_addr_parse(struct tracker_addr *ta, const char *s)
{
	uint8_t	 bytes[16];

	if (strlen(s) >= TRACKER_ADDR_STRSIZE)
		return -1;
	if (inet_pton(AF_INET, s, bytes) == 1)
		return addr_from(ta, AF_INET, bytes);
	if (inet_pton(AF_INET6, s, bytes) == 1)
		return addr_from(ta, AF_INET6, bytes);
	return -1;
}

void
tracker_addr_format(const struct tracker_addr *ta, char *buf, size_t len)
{
	if (inet_ntop(ta->family, ta->addr, buf, len) == NULL)
		(void)strlcpy(buf, "?", len);
}

/* 1 to TRACKER_USER_MAX bytes, no controls, spaces or DEL (UTF-8 ok). */
int
tracker_user_valid(const char *user)
{
	size_t	 i;

	for (i = 0; user[i] != '\0'; i++) {
		if (i >= TRACKER_USER_MAX)
			return 0;
		if ((unsigned char)user[i] <= 0x20 ||
		    (unsigned char)user[i] == 0x7f)
			return 0;
	}
	return i > 0;
}

/* ---- the table ------------------------------------------------------- */

int
tracker_record(struct tracker *t, const struct tracker_addr *ta,
    const char *user, time_t now)
{
	struct tracker_entry	 key, *e;

	if (!tracker_user_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	memset(&key, 0, sizeof(key));
	key.addr = *ta;
	key.user = (char *)(uintptr_t)user;
	if ((e = RB_FIND(tracker_tree, &t->tree, &key)) != NULL) {
		/* the newest login of this user from there */
		if (now > e->when)
			e->when = now;
		TAILQ_REMOVE(&t->list, e, order);
		TAILQ_INSERT_TAIL(&t->list, e, order);
		return 0;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	if ((e->user = strdup(user)) == NULL) {
		free(e);
		return -1;
	}
	e->addr = *ta;
	e->when = now;
	while (t->count >= t->max)
		tracker_remove(t, TAILQ_FIRST(&t->list));
	RB_INSERT(tracker_tree, &t->tree, e);
	TAILQ_INSERT_TAIL(&t->list, e, order);
	t->count++;
	return 0;
}

static int
expired(const struct tracker *t, const struct tracker_entry *e, time_t now)
{
	return now > e->when && now - e->when > t->ttl;
}

time_t
tracker_age(struct tracker *t, const struct tracker_addr *ta, time_t now)
{
	struct tracker_entry	 key, *e;
	time_t			 newest = -1;
	int			 found = 0;

	memset(&key, 0, sizeof(key));
	key.addr = *ta;
	key.user = "";
	for (e = RB_NFIND(tracker_tree, &t->tree, &key);
	    e != NULL && addr_cmp(&e->addr, ta) == 0;
	    e = RB_NEXT(tracker_tree, &t->tree, e)) {
		if (expired(t, e, now))
			continue;
		if (!found || e->when > newest)
			newest = e->when;
		found = 1;
	}
	if (!found)
		return -1;
	return now > newest ? now - newest : 0;
}

size_t
tracker_expire(struct tracker *t, time_t now)
{
	struct tracker_entry	*e, *next;
	size_t			 n = 0;

	/* Oldest first; a clock set back may leave one out of order,
	 * so look at them all (lookups skip the expired anyway). */
	TAILQ_FOREACH_SAFE(e, &t->list, order, next)
		if (expired(t, e, now)) {
			tracker_remove(t, e);
			n++;
		}
	return n;
}

size_t
tracker_flush(struct tracker *t, const struct tracker_addr *ta)
{
	struct tracker_entry	 key, *e, *next;
	size_t			 n = 0;

	if (ta == NULL) {
		n = t->count;
		tracker_clear(t);
		return n;
	}
	memset(&key, 0, sizeof(key));
	key.addr = *ta;
	key.user = "";
	for (e = RB_NFIND(tracker_tree, &t->tree, &key);
	    e != NULL && addr_cmp(&e->addr, ta) == 0; e = next) {
		next = RB_NEXT(tracker_tree, &t->tree, e);
		tracker_remove(t, e);
		n++;
	}
	return n;
}

/* ---- the state file -------------------------------------------------- */

char *
tracker_serialise(struct tracker *t, time_t now, size_t *lenp)
{
	struct tracker_entry	*e;
	char			 addr[TRACKER_ADDR_STRSIZE];
	char			*buf;
	size_t			 size, len = 0, n = 0;
	int			 w;

	(void)tracker_expire(t, now);
	size = sizeof(TRACKER_MAGIC) + 1 + t->count * TRACKER_LINE_MAX + 32;
	if ((buf = malloc(size)) == NULL)
		return NULL;
	w = snprintf(buf, size, "%s\n", TRACKER_MAGIC);
	len = w;
	TAILQ_FOREACH(e, &t->list, order) {
		tracker_addr_format(&e->addr, addr, sizeof(addr));
		w = snprintf(buf + len, size - len, "%lld %s %s\n",
		    (long long)e->when, addr, e->user);
		if (w < 0 || (size_t)w >= size - len)
			goto toolong;
		len += w;
		n++;
	}
	w = snprintf(buf + len, size - len, "end %zu\n", n);
	if (w < 0 || (size_t)w >= size - len)
		goto toolong;
	*lenp = len + w;
	return buf;
 toolong:
	free(buf);
	errno = EOVERFLOW;
	return NULL;
}

/* A decimal number of at most 18 digits: it fits in a long long. */
static int
parse_number(const char *s, size_t len, long long *out)
{
	long long	 v = 0;
	size_t		 i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "TIME ADDRESS USER" (no newline): 0, or -1 with the reason. */
static int
parse_login(const char *line, size_t len, long long *when,
    struct tracker_addr *ta, char *user, const char **why)
{
	const char	*sp1, *sp2, *end = line + len;
	char		 addr[TRACKER_ADDR_STRSIZE];

	if ((sp1 = memchr(line, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1)) == NULL) {
		*why = "not TIME ADDRESS USER";
		return -1;
	}
	if (parse_number(line, sp1 - line, when) == -1) {
		*why = "bad time";
		return -1;
	}
	if ((size_t)(sp2 - sp1 - 1) >= sizeof(addr)) {
		*why = "bad address";
		return -1;
	}
	memcpy(addr, sp1 + 1, sp2 - sp1 - 1);
	addr[sp2 - sp1 - 1] = '\0';
	if (tracker_addr_parse(ta, addr) == -1) {
		*why = "bad address";
		return -1;
	}
	if ((size_t)(end - sp2 - 1) > TRACKER_USER_MAX) {
		*why = "bad user";
		return -1;
	}
	memcpy(user, sp2 + 1, end - sp2 - 1);
	user[end - sp2 - 1] = '\0';
	if (!tracker_user_valid(user)) {
		*why = "bad user";
		return -1;
	}
	return 0;
}

int
tracker_load(struct tracker *t, const char *buf, size_t len, time_t now,
    char *err, size_t errlen)
{
	struct tracker_addr	 ta;
	const char		*p = buf, *end = buf + len, *nl, *why;
	char			 user[TRACKER_USER_MAX + 1];
	long long		 when, count;
	size_t			 lineno = 0, n = 0, l;

	tracker_clear(t);
	if (len == 0)
		return 0;		/* a new file */
	for (;;) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			why = "no end line (cut short?)";
			goto bad;
		}
		l = nl - p;
		if (memchr(p, '\0', l) != NULL) {
			why = "a NUL byte";
			goto bad;
		}
		if (lineno == 1) {
			if (l != strlen(TRACKER_MAGIC) ||
			    memcmp(p, TRACKER_MAGIC, l) != 0) {
				why = "not a \"" TRACKER_MAGIC "\" file";
				goto bad;
			}
		} else if (l >= 4 && memcmp(p, "end ", 4) == 0) {
			if (parse_number(p + 4, l - 4, &count) == -1 ||
			    (size_t)count != n) {
				why = "the end line's count is wrong";
				goto bad;
			}
			return 0;
		} else {
			if (parse_login(p, l, &when, &ta, user, &why) == -1)
				goto bad;
			n++;
			if (when > now)
				when = now;	/* the clock went back */
			if (now - when <= t->ttl &&
			    tracker_record(t, &ta, user, (time_t)when) == -1) {
				why = "out of memory";
				goto bad;
			}
		}
		p = nl + 1;
	}
 bad:
	tracker_clear(t);
	(void)snprintf(err, errlen, "line %zu: %s", lineno, why);
	return -1;
}

int
tracker_file_load(struct tracker *t, int fd, time_t now, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 got = 0;
	ssize_t		 r;
	int		 rv;

	tracker_clear(t);
	if (fstat(fd, &st) == -1) {
		(void)snprintf(err, errlen, "fstat: %s", strerror(errno));
		return -1;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > TRACKER_FILE_MAX) {
		(void)snprintf(err, errlen, "too large (%lld bytes)",
		    (long long)st.st_size);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (got < (size_t)st.st_size) {
		r = pread(fd, buf + got, (size_t)st.st_size - got, got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			(void)snprintf(err, errlen, "read: %s",
			    strerror(errno));
			free(buf);
			return -1;
		}
		if (r == 0)
			break;		/* shrank meanwhile: parse what is */
		got += r;
	}
	rv = tracker_load(t, buf, got, now, err, errlen);
	free(buf);
	return rv;
}

int
tracker_file_save(struct tracker *t, int fd, time_t now)
{
	char	*buf;
	size_t	 len, done = 0;
	ssize_t	 w;
	int	 saved;

	if ((buf = tracker_serialise(t, now, &len)) == NULL)
		return -1;
	while (done < len) {
		w = pwrite(fd, buf + done, len - done, done);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			goto fail;
		done += w;
	}
	if (ftruncate(fd, len) == -1 || fdatasync(fd) == -1)
		goto fail;
	free(buf);
	return 0;
 fail:
	saved = errno;
	free(buf);
	errno = saved;
	return -1;
}
