/*
 * Portcullis: the durable message store of the queue process, and the
 * in-memory index of its envelopes that the scheduler walks.
 *
 * Everything is relative to the current directory, the spool (the
 * queue process is chrooted or chdir'ed there).  Layout:
 *
 *	queue/<hh>/<msgid>/message	a committed message ...
 *	queue/<hh>/<msgid>/envelopes	... and its envelopes: the
 *					message is committed iff this
 *					directory exists under queue/
 *	queue/<hh>/<msgid>/envelopes.new  an update not yet renamed
 *	corrupt/<msgid>			what recovery could not read
 *	durable				the durable point: a time in
 *					hex and its CRC-32C
 *	free/<id>/envelopes		a removed message's folder, with
 *	free/<id>/message		an empty envelopes file and (when
 *					no one else had it open) an empty
 *					body, waiting for store_create()
 *					to reuse them; or the folder of a
 *					message being received: the front
 *					end writes its body through a
 *					passed fd, the queue its envelopes
 *					at commit time.  <id> is the id of
 *					the message the folder last held,
 *					or of the new one
 *
 * msgid is 64 bits: the high 32 the time in seconds (so ids sort by
 * age), the low 32 random; <msgid> is %016llx and <hh> its lowest byte
 * in hex, so 256 buckets keep 100,000 messages at ~400 a folder.  One
 * folder per message makes the commit a single rename.
 *
 * The envelopes file is a header, then one envelope_dump() block per
 * live recipient, each after an empty line:
 *
 *	queue: 2
 *	check: 89abcdef		CRC-32C of all that follows this line
 *	msgid: 0123456789abcdef
 *	size: 1234
 *	body: 01234567		CRC-32C of the body
 *	envelopes: 2
 *
 *	version: 1
 *	...
 *
 * Version 1 (no check and body lines) is still read.  See queue_store.c
 * for the commit protocol and why recovery finds either nothing or the
 * whole message.
 */
#ifndef PORTCULLIS_QUEUE_STORE_H
#define PORTCULLIS_QUEUE_STORE_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <time.h>

#include "envelope.h"
#include "envelope_io.h"

#define STORE_MAX_RCPTS		1000	/* envelopes of one message */
#define STORE_FREE_MAX		4096	/* folders kept in free/ */
#define STORE_BODY_KEEP		(128 * 1024)	/* bytes a cleared body keeps
						 * allocated in free/ */
#define STORE_FILE_MAX		(64 + STORE_MAX_RCPTS * (ENVELOPE_DUMP_MAX + 1))

/*
 * The index: a compact entry per live envelope, the full envelope
 * stays on disk (store_envelope_load()).  Envelopes waiting for a
 * delivery attempt are in a tree ordered by (nexttry, msgid, idx):
 * RB_MIN is the next one due, O(log n) to take out or put back.
 */
#define QEVP_SCHEDULED	0	/* in the schedule tree */
#define QEVP_INFLIGHT	1	/* handed to delivery, out of the tree */
#define QEVP_HELD	2	/* paused or held by the operator */
#define QEVP_DONE	3	/* delivered or bounced: gone from disk */

struct qmsg;

struct qevp {
	RB_ENTRY(qevp)	 sched;
	TAILQ_ENTRY(qevp) park;		/* when parked */
	struct qmsg	*msg;
	time_t		 nexttry;
	uint64_t	 domhash;	/* store_domain_hash() of the rcpt */
	uint32_t	 idx;
	uint32_t	 attempts;
	uint8_t		 dest;		/* DEST_* */
	uint8_t		 state;		/* QEVP_* */
	uint8_t		 parked;	/* QEVP_SCHEDULED, but waiting on its
					 * domain's list, out of the tree */
};

struct qmsg {
	RB_ENTRY(qmsg)	 entry;
	uint64_t	 msgid;
	uint64_t	 size;		/* of the body, in bytes */
	uint32_t	 bodysum;	/* its CRC-32C */
	time_t		 ctime;
	uint32_t	 flags;		/* EF_* of the first envelope */
	uint32_t	 nlive;		/* envelopes not QEVP_DONE */
	uint32_t	 nevp;
	int		 dirty;		/* envelopes.new awaits a sync */
	struct qevp	 evp[];		/* nevp, by ascending idx */
};

RB_HEAD(qsched_tree, qevp);
RB_HEAD(qmsg_tree, qmsg);
RB_PROTOTYPE(qsched_tree, qevp, sched, qevp_cmp);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp);

/* Set up the folders and recover the spool into the index: committed
 * messages are loaded, uncommitted ones emptied into the pool (or, from
 * an earlier version's incoming/, removed), unreadable ones moved to
 * corrupt/.  0, or -1 (logged) when the spool is unusable. */
int	 store_init(void);
/* Forget the index and anything prepared (nothing on disk changes). */
void	 store_close(void);

/* A new message: the body of a folder of free/, opened for writing
 * (O_CLOEXEC): a folder from the pool with its emptied body when one
 * waits there, else free/<msgid> made (O_CREAT|O_EXCL, 0600).  0, or
 * -1 with errno. */
int	 store_create(uint64_t *, int *);
/* Drop a message that was created and not committed. */
void	 store_rollback(uint64_t);

/* Write the envelopes of a created message (n >= 1, their msgid and
 * idx already set, idx ascending) and queue it for the next
 * store_sync(); size is what the front end says it wrote, checked.  0,
 * or -1 with errno (the message is still the caller's to roll back). */
int	 store_commit_prepare(uint64_t, const struct envelope *, size_t,
	    uint64_t);
/* Make every prepared commit and pending update durable, with one
 * syncfs() (two with updates or a message begun before the durable
 * point: queue_store.c) whatever their number, and put the committed
 * messages in the index.  done(msgid, 0) for each message committed,
 * done(msgid, errno) for each that failed (it is gone).  Returns the
 * number of messages committed. */
size_t	 store_sync(void (*)(uint64_t, int, void *), void *);
/*
 * The same for a batch that takes one sync, with the sync done by the
 * caller, on another thread if it likes, while the store goes on
 * (removals, new commits, which wait for the next batch):
 * store_sync_begin() takes the prepared messages and renames them, and
 * says 1 when it did; store_sync_io() is the sync, the one call here
 * that may run on another thread (0 or an errno); store_sync_end(err)
 * acknowledges the batch (or takes it back when err is not 0), and
 * returns the number committed.  0 from store_sync_begin(): nothing
 * was taken (no batch, one in flight already, or one that needs two
 * syncs): use store_sync(), which does nothing while one is in flight.
 */
int	 store_sync_begin(void (*)(uint64_t, int, void *), void *);
int	 store_sync_io(void);
size_t	 store_sync_end(int, void (*)(uint64_t, int, void *), void *);
/* 1 when prepared commits or updates wait for store_sync(), and no
 * batch is in flight (which store_sync_end() ends). */
int	 store_sync_pending(void);

/* Remove a committed message and its envelopes. */
int	 store_remove(uint64_t);
/* Rewrite a committed envelope (attempts, lasttry, nexttry, warned,
 * error; the rest must not change) and update the index.  Durable at
 * the next store_sync(); until then a crash keeps the old version. */
int	 store_envelope_update(const struct envelope *);
/* Delete one envelope (delivered or bounced); the message goes with
 * its last envelope. */
int	 store_envelope_delete(uint64_t, uint32_t);
/* Both at once for a batch of results of one message: the envelopes
 * of repl rewritten (as store_envelope_update) and those idx of del
 * deleted, in one rewrite of the file (the message goes when del holds
 * all its live envelopes).  0, or -1 with errno (ENOENT: a message or
 * envelope that is not live, named twice) and nothing changed. */
int	 store_envelopes_apply(uint64_t, const struct envelope *, size_t,
	    const uint32_t *, size_t);
/* Read one envelope back from disk.  0, or -1 with errno. */
int	 store_envelope_load(uint64_t, uint32_t, struct envelope *);
/* Every live envelope of a message, by ascending idx, in one read of
 * its file: *evps is allocated (the caller frees it), *n set.  0, or -1
 * with errno. */
int	 store_msg_load(uint64_t, struct envelope **, size_t *);
/* The body, read-only, for delivery.  A descriptor, or -1 with errno. */
int	 store_open_body(uint64_t);
/* The hash the index keeps of a recipient domain (lower case), so that
 * the scheduler counts deliveries per domain without reading envelopes.
 * 64-bit FNV-1a: a collision only makes two domains share a limit. */
uint64_t store_domain_hash(const char *);

/* The index. */
struct qmsg	*store_msg_find(uint64_t);
/* The index entry of a message's envelope, by its idx, or NULL. */
struct qevp	*store_msg_evp(struct qmsg *, uint32_t);
struct qmsg	*store_msg_first(void);		/* by msgid */
struct qmsg	*store_msg_next(struct qmsg *);
/* The first message whose id is msgid or after it, or NULL: a listing
 * resumes there whatever was removed meanwhile. */
struct qmsg	*store_msg_nfind(uint64_t);
size_t		 store_msg_count(void);
size_t		 store_evp_count(void);		/* live envelopes */
/* Live envelopes in a state (QEVP_SCHEDULED, _INFLIGHT, _HELD), kept
 * as they change: show stats costs nothing however large the queue. */
size_t		 store_state_count(int);
size_t		 store_free_count(void);	/* folders in free/ */
/* Removed folders past STORE_FREE_MAX wait in free/ as trash: delete
 * them, for about ms milliseconds at most (one at least).  How many
 * are left. */
size_t		 store_trim(int);
size_t		 store_trash_count(void);
/* The next envelope due (smallest nexttry), or NULL; then the next. */
struct qevp	*store_sched_first(void);
struct qevp	*store_sched_next(struct qevp *);
/* Move an envelope between states; back to QEVP_SCHEDULED it goes
 * into the tree at its nexttry. */
void		 store_sched_set(struct qevp *, int);
void		 store_sched_retime(struct qevp *, time_t);
/*
 * A due envelope whose domain has no delivery slot free waits on that
 * domain's list instead of in the tree, so that a pass of the scheduler
 * does not walk past it again and again (store_sched_park()); it stays
 * QEVP_SCHEDULED to everyone else.  store_sched_unpark() puts back up to
 * n of a domain's, the first parked first, and says how many.  Any
 * other change of state or time (store_sched_set(), _retime(), removal)
 * takes a parked envelope off its list as it would out of the tree.
 */
void		 store_sched_park(struct qevp *);
size_t		 store_sched_unpark(uint64_t, size_t);
size_t		 store_parked_count(void);

/* Counters, for tests and `smtpctl show stats`. */
struct store_stats {
	uint64_t	 syncs;		/* syncfs() calls */
	uint64_t	 commits;
	uint64_t	 recovered;
	uint64_t	 removed_incoming;
	uint64_t	 corrupt;
	uint64_t	 verified;	/* bodies read by recovery */
	uint64_t	 recycled;	/* folders reused from free/ */
};
const struct store_stats *store_stats(void);

#ifdef PORTCULLIS_REGRESS
/* Test builds: called at each step boundary of the commit, update and
 * remove paths (STORE_STEP_*), so that a test can _exit() there. */
#define STORE_STEP_PREPARED	1	/* envelopes written */
#define STORE_STEP_DATA_SYNCED	2	/* first of two syncfs done */
#define STORE_STEP_RENAMED	3	/* after each commit rename */
#define STORE_STEP_NAMES_SYNCED	4	/* last syncfs done */
#define STORE_STEP_UPDATE_WRITTEN 5	/* envelopes.new written */
#define STORE_STEP_UPDATE_RENAMED 6
#define STORE_STEP_REMOVE	7	/* after each unlink of a remove */
extern void	(*store_test_step)(int);
/* Test builds: 1 forces the per-file fsync() path of systems without
 * syncfs() (OpenBSD), so that Linux runs it too. */
extern int	 store_test_per_file_sync;
/* Test builds: keep at most n folders in free/ (STORE_FREE_MAX). */
void		 store_test_free_max(size_t);
/* Test builds: note at most this many as trash (else delete at once). */
extern size_t	 store_test_trash_max;
/* Test builds: the random half of the next ids, when set. */
extern uint32_t	(*store_test_random)(void);
/* Test builds: fail the next n syncs of a batch with EIO. */
extern int	 store_test_sync_fail;
/* Test builds: each path the per-file sync path fsync()ed. */
extern void	(*store_test_fsynced)(const char *);
/* Test builds: the folder (free/<f>) a message is being received in,
 * from store_create() until its commit renames it; else NULL. */
const char	*store_test_folder(uint64_t);
#endif

#endif
