/*
 * Portcullis: the POP3 login tracker (relayd-auth/tracker.c).
 *
 * Every successful POP3 login (the built-in service, or an external
 * server through "smtpctl pop3-login") is recorded as (address, user,
 * time); "relay allow pop3-login within T" asks for the age of the
 * newest login from the client's address.  One entry per (address,
 * user), bounded in number (the oldest is evicted), expired after the
 * longest window of the configuration.  Pure functions of the table
 * and a time the caller passes, so that they can be tested; the auth
 * process owns the one table and its state file.
 *
 * The state file, written whole (oldest login first) and validated
 * whole when read:
 *
 *	portcullis pop3-logins 1\n
 *	TIME ADDRESS USER\n		one line per login
 *	end COUNT\n
 *
 * TIME is the login's unix time in decimal, ADDRESS an IPv4 or IPv6
 * address as inet_ntop(3) writes it (IPv4-mapped IPv6 as IPv4), USER
 * 1 to TRACKER_USER_MAX bytes without controls or spaces.  COUNT is
 * the number of login lines.  Anything else is a corrupt file, which
 * is refused as a whole; bytes after the end line are ignored (what is
 * left of a longer table written over, should the writer stop before
 * it truncates the file).
 */
#ifndef PORTCULLIS_TRACKER_H
#define PORTCULLIS_TRACKER_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <stdint.h>
#include <time.h>

#define TRACKER_MAX		100000	/* logins kept; the oldest goes */
#define TRACKER_USER_MAX	255	/* bytes of a login name */
#define TRACKER_ADDR_STRSIZE	46	/* INET6_ADDRSTRLEN */
#define TRACKER_TTL_DEFAULT	(30 * 60)	/* no pop3-login rule */
#define TRACKER_LINE_MAX	(20 + 1 + TRACKER_ADDR_STRSIZE + 1 + \
				 TRACKER_USER_MAX + 1)
#define TRACKER_FILE_MAX	((size_t)TRACKER_MAX * TRACKER_LINE_MAX + \
				 64)
#define TRACKER_MAGIC		"portcullis pop3-logins 1"

struct sockaddr;

/* An address as the tracker compares it: IPv4-mapped IPv6 is IPv4. */
struct tracker_addr {
	uint8_t			 family;	/* AF_INET or AF_INET6 */
	uint8_t			 addr[16];	/* 4 bytes for AF_INET */
};

struct tracker_entry {
	RB_ENTRY(tracker_entry)	 node;		/* by (address, user) */
	TAILQ_ENTRY(tracker_entry) order;	/* by time recorded */
	struct tracker_addr	 addr;
	time_t			 when;
	char			*user;
};

RB_HEAD(tracker_tree, tracker_entry);
TAILQ_HEAD(tracker_list, tracker_entry);

struct tracker {
	struct tracker_tree	 tree;
	struct tracker_list	 list;		/* oldest first */
	size_t			 count;
	size_t			 max;
	time_t			 ttl;		/* seconds a login counts */
};

void	 tracker_init(struct tracker *, size_t max, time_t ttl);
void	 tracker_clear(struct tracker *);
void	 tracker_set_ttl(struct tracker *, time_t);

/* Addresses and users: 0, or -1 for what is not one. */
int	 tracker_addr_set(struct tracker_addr *, const struct sockaddr *);
int	 tracker_addr_parse(struct tracker_addr *, const char *);
void	 tracker_addr_format(const struct tracker_addr *, char *, size_t);
int	 tracker_user_valid(const char *);

/* A login at now: 0, or -1 (errno ENOMEM, EINVAL for a bad user). */
int	 tracker_record(struct tracker *, const struct tracker_addr *,
	    const char *, time_t now);
/* Seconds since the newest login from the address, -1 for none. */
time_t	 tracker_age(struct tracker *, const struct tracker_addr *,
	    time_t now);
/* Drop the logins older than the ttl; returns how many went. */
size_t	 tracker_expire(struct tracker *, time_t now);
/* Drop the logins from the address (NULL: all); returns how many. */
size_t	 tracker_flush(struct tracker *, const struct tracker_addr *);

/* The state file (see above).  tracker_serialise() returns a buffer
 * the caller frees, NULL with errno on failure.  tracker_load() adds
 * the logins not yet expired at now and returns 0, or leaves the table
 * empty and returns -1 with the reason in err. */
char	*tracker_serialise(struct tracker *, time_t now, size_t *);
int	 tracker_load(struct tracker *, const char *, size_t, time_t now,
	    char *err, size_t errlen);
/* The same through a descriptor: pread from offset 0; pwrite,
 * ftruncate and fdatasync. */
int	 tracker_file_load(struct tracker *, int, time_t now, char *err,
	    size_t errlen);
int	 tracker_file_save(struct tracker *, int, time_t now);

#endif
