/*
 * Portcullis: the auth-failure limit, "limit auth-failures N per-ip
 * within T block B" (relayd-auth/authfail.c), which auth keeps for every
 * front-end session in one place.  (Not "limits.h": that name would
 * hide the system's <limits.h> behind -Irelayd-auth.)
 *
 * Every failed login (SMTP AUTH and POP3 together) from an address that
 * is not in "limit exempt" is recorded with its time, and counts for T.
 * The failure that makes N of them count at once blocks the address for
 * B from that failure.  A login from a blocked address is refused
 * (LOGIN_BLOCKED) before its password is looked at: no hash is run for
 * it.  Such a refusal is counted (for smtpctl) but is not a failure: it
 * neither extends the block nor counts towards the next one.
 *
 * A successful login changes nothing: the failures of its address age
 * out after T, so that an attacker who knows one password cannot use it
 * to reset the count and go on guessing others.  A block does not clear
 * the failures either: when it is over, one more failure while N - 1
 * others still count blocks the address again.
 *
 * Addresses are counted one by one, IPv6 ones too; an IPv4-mapped IPv6
 * address is its IPv4 address.  The table is bounded: at most max_addrs
 * addresses and max_stamps failure times in all; past either, the
 * address whose last failure is the oldest is forgotten, blocked or
 * not.  An address is forgotten as soon as it is not blocked and none of
 * its failures counts any more (authfail_expire(), which auth runs on a
 * timer).  Times are milliseconds of a monotonic clock that the caller
 * passes, so that the wall clock being set cannot lift or stretch a
 * block, and tests can drive the clock.  The table lives in memory
 * only: a restart of auth starts it empty.
 */
#ifndef PORTCULLIS_AUTHFAIL_H
#define PORTCULLIS_AUTHFAIL_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <time.h>

#include "tracker.h"

#define AUTHFAIL_ADDRS_MAX	50000		/* addresses tracked */
#define AUTHFAIL_STAMPS_MAX	(1 << 20)	/* failure times in all (8 MiB);
						 * more than the largest N */
#define AUTHFAIL_EXPIRE_EVERY	30		/* seconds between sweeps */

struct limits;

struct authfail_entry {
	RB_ENTRY(authfail_entry)	 node;		/* by address */
	TAILQ_ENTRY(authfail_entry)	 order;		/* by last failure */
	struct tracker_addr		 addr;
	int64_t				*stamps;	/* a ring, oldest first */
	uint32_t			 head;
	uint32_t			 len;
	uint32_t			 cap;
	int64_t				 last;		/* the newest failure */
	int64_t				 until;		/* blocked before; 0: not */
	uint32_t			 refused;	/* logins refused blocked */
};

RB_HEAD(authfail_tree, authfail_entry);
TAILQ_HEAD(authfail_list, authfail_entry);

struct authfail {
	struct authfail_tree	 tree;
	struct authfail_list	 list;		/* oldest last failure first */
	size_t			 count;		/* addresses */
	size_t			 stamps;	/* failure times allocated */
	size_t			 max_addrs;
	size_t			 max_stamps;
	uint32_t		 limit;		/* N; 0: the limit is off */
	int64_t			 within;	/* T, milliseconds */
	int64_t			 block;		/* B, milliseconds */
	size_t			 evicted;	/* forgotten for room, */
	size_t			 evicted_blocked; /* of them blocked */
};

/* What authfail_failed() made of a failure. */
#define AUTHFAIL_IGNORED	0	/* the limit is off, or exempt */
#define AUTHFAIL_COUNTED	1
#define AUTHFAIL_BLOCKS		2	/* counted, and the address is now
					 * blocked */

void	 authfail_init(struct authfail *, size_t max_addrs,
	    size_t max_stamps);
void	 authfail_clear(struct authfail *);
/* N, T and B in seconds; n 0 turns the limit off and empties the table. */
void	 authfail_set(struct authfail *, uint32_t n, time_t within,
	    time_t block);
/* The same from a configuration; also forgets the exempt addresses. */
void	 authfail_configure(struct authfail *, const struct limits *);
/* 1 when the address is in "limit exempt". */
int	 authfail_exempt(const struct limits *, const struct tracker_addr *);

/*
 * Before a password check: 1 when the address is blocked (the refusal
 * is counted; *until, if not NULL, is the end of the block), else 0.
 */
int	 authfail_check(struct authfail *, const struct tracker_addr *,
	    int64_t now, int64_t *until);
/*
 * After a failed password check: AUTHFAIL_*, or -1 (ENOMEM) when it
 * could not be recorded.  authfail_record() is the same without the
 * exemption (no configuration).
 */
int	 authfail_failed(struct authfail *, const struct limits *,
	    const struct tracker_addr *, int64_t now);
int	 authfail_record(struct authfail *, const struct tracker_addr *,
	    int64_t now);

struct authfail_entry *authfail_find(struct authfail *,
	    const struct tracker_addr *);
/* The failures of an entry that count at now. */
uint32_t authfail_count(struct authfail *, struct authfail_entry *,
	    int64_t now);
/* 1 when the entry is blocked at now. */
int	 authfail_is_blocked(const struct authfail_entry *, int64_t now);
/* Forget the addresses with nothing that counts; returns how many. */
size_t	 authfail_expire(struct authfail *, int64_t now);
/* Forget one address (smtpctl limits reset): 1, or 0 if not there. */
int	 authfail_reset(struct authfail *, const struct tracker_addr *);

#endif
