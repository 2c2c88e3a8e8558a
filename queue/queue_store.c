/*
 * Portcullis: the durable message store and its in-memory index.
 * Layout and file format: queue_store.h.
 *
 * Commit protocol and crash consistency.
 *
 * A message is committed iff its folder queue/<hh>/<msgid>/ exists; the
 * folder gets there by one rename(2) of the folder it was received in,
 * free/<f>/ (store_create(): <f> is another id, or this one), and
 * rename is atomic in the namespace: after a crash exactly one of the
 * two names exists.  A batch of new messages is made durable with a
 * single syncfs():
 *
 *	1. the front end writes free/<f>/message; at COMMIT_REQ we read
 *	   it back for its CRC-32C and write free/<f>/envelopes, which
 *	   holds that check and one of its own (no sync yet).
 *	2. rename free/<f> -> queue/<hh>/<id>, for each message.
 *	3. syncfs(): the files, their data, and the renames are on stable
 *	   storage.
 *	4. only now COMMIT_OK, and the client gets its 250.
 *
 * A crash before 2 leaves the messages in free/ (or gone): recovery
 * empties every folder there into the pool, and none was acknowledged
 * (versions before this one received in incoming/, which recovery
 * deletes).  A crash
 * between 2 and the end of 3 may leave a folder under queue/ some of
 * whose blocks never reached the disk: an envelopes file cut short or
 * reading as zeros, a body too.  Recovery reads each such message's
 * body and compares both checks (recover_message()): a message that
 * fails them moves to corrupt/, and was never acknowledged.  A message
 * that passes is whole and is delivered though the client saw no 250
 * (it will send it again: at-least-once, the accepted window around a
 * crash).  After 3 the message survives anything short of the disk
 * lying about its cache flushes.
 *
 * Reading every body at each start would make a restart of a large
 * queue slow, so recovery reads only those that may be torn: the ones
 * whose id's time is at or after the durable point (F_DURABLE,
 * durable_read()), a time written after a sync when every message
 * committed so far is on disk.  A batch that holds a message with an
 * older id (a slow client's, begun before the point was written) or an
 * update takes two syncs instead, as every batch once did: 2. syncfs()
 * of the files, then the renames, then 3. syncfs() of the renames, so
 * that nothing under queue/ is ever torn (batch_one_sync()).  Measured
 * on the development machine, 50 sessions of 1 KiB: one sync instead
 * of two made the end-to-end relay 9 % faster (4 alternating pairs,
 * median 3,370 against 3,098 msg/s).  The single sync may run on
 * another thread (store_sync_begin(), store_sync_io(), store_sync_end()):
 * the batch is renamed first and answered after, and in between the
 * store goes on with everything but another batch.
 *
 * Updates (attempts, next try, errors; an envelope deleted) write
 * envelopes.new and join the next batch, which takes two syncs: it is
 * synced by the first and renamed over envelopes before the second.  A
 * crash before the rename keeps the old envelopes (recovery deletes
 * envelopes.new): a retry counter goes back, a recipient may be tried
 * again, nothing is lost.  The rename never exposes a torn file because
 * its data was synced first.
 *
 * Removal renames queue/<hh>/<msgid> to free/<msgid> (the message is
 * no longer committed), unlinks any envelopes.new there and clears the
 * envelopes and the body (file_clear()): the folder and its two
 * files, the three inodes of a message, wait in free/ for the next
 * store_create(), which receives the next message in one instead of
 * making a folder and a body.  Why: inode allocation was most of the
 * queue's CPU time (ext4 scans past every inode freed in the last
 * seconds, minutes when its table is dirty, before it reuses one: a
 * relay that deletes as fast as it accepts paid that scan three times a
 * message, and acceptance after "remove all" ran at half speed).
 *
 * Clearing a file keeps its blocks where the file system can: on Linux
 * fallocate(FALLOC_FL_ZERO_RANGE) turns them into unwritten extents,
 * which read as zeros and are written over in place by the next
 * message, up to STORE_BODY_KEEP bytes (past that the file is cut).
 * Freeing the blocks and allocating them again (and, on a disk mounted
 * with discard, trimming them) cost more than the data itself: on the
 * development machine a 1 KiB body written and synced took 0.10 ms
 * after ftruncate(0) and 0.008 ms after a zero range; 100 KiB took 0.22
 * against 0.08 ms.  Truncating a 1 KiB envelopes file, as removal
 * once did, blocked the queue 0.13 ms a message: a relay's every
 * delivery paid that.  The envelopes are written over by the queue
 * itself and cut to their length (write_file()).  Where there is no
 * zero range (OpenBSD, tmpfs) the file is truncated to nothing.  So a
 * reused body may be longer than
 * what the front end writes into it.  store_create() notes the length
 * it was given the body with (struct txn), and store_commit_prepare()
 * checks the size the front end reports against it: past that length
 * the file must be exactly that size, as a new body must; within it,
 * nothing may have been written past the length, and the body is cut
 * to the size.  Whatever the front end did not write reads as zeros,
 * never as an earlier message's text (its descriptor is write-only, so
 * it cannot read those zeros either).
 *
 * The body is emptied only when no one else has it open: another
 * process (delivery, the mailbox, control showing the message) may
 * still read a removed message through the descriptor it was given,
 * and must not see it cut short, or another message's text.  The
 * kernel knows: a write lease (F_SETLEASE, F_WRLCK) is granted only
 * when the file has no other open description, for reading or writing,
 * in any process (body_unshared()).  When it is refused, or leases do
 * not exist here (OpenBSD, some file systems), the body is unlinked as
 * before and its reader keeps it.  Nothing opens a body of the pool
 * but store_create(), which takes the folder out of the pool first (the
 * queue opens other bodies only of its own transactions and indexed
 * messages, and other processes only get descriptors from the queue),
 * so an empty body found there is the next message's alone.
 *
 * At most STORE_FREE_MAX folders wait for reuse.  Past that a removed
 * folder is still renamed into free/, as it is, and noted as trash:
 * store_trim(), which the queue runs on a timer a few milliseconds at a
 * time, deletes it later.  Deleting a message's files frees their
 * blocks and its folder's, and on a disk mounted with discard each
 * freed block is trimmed while the caller waits: on the development
 * machine unlinking an empty file took 3 us and one of 1 KiB 70 us.
 * Done in line, that made a backlog of 100,000 drain at half the rate
 * of one of 5,000.  Trash holds no more than the queue held before the
 * removals, and recovery notes what it finds past the bound in free/
 * as trash without reading it.  When the rename fails or there is no
 * memory to note the trash, removal deletes at once: it unlinks
 * envelopes first (the message is then no longer readable as
 * committed), then the body, then the folder; a crash in between
 * leaves a folder without envelopes, which recovery finishes removing.
 * Recovery empties what it finds in free/ the same way and keeps it
 * for reuse.  Removals are not synced: after a power cut a delivered
 * message may come back and be delivered again, never the reverse.
 *
 * syncfs() reports writeback errors since Linux 5.8 (errseq on the
 * superblock).  It also writes back whatever else is dirty on the
 * spool's filesystem: give the spool its own filesystem on a busy
 * host.  Measured on the development machine (ext4 on virtio), a
 * batch of 50 1 KiB messages took 4.3 ms with two syncfs(), against
 * 32 ms with an fdatasync() per file and one fsync() of the folder.
 *
 * Where there is no syncfs() (OpenBSD), every batch takes the two
 * syncs, each an fsync() of every file and folder the batch touched
 * (sync_files()): first each message's body, envelopes and folder, and
 * each envelopes.new; then each bucket a message was renamed into,
 * free/, and each folder where envelopes.new was renamed.  Such a
 * sync covers only what it names, not what a crashed process left
 * unwritten, so no batch takes one sync there; as nothing under queue/
 * can then be torn, the durable point is still written, and spares
 * recovery the reading.  Callers see no difference: fs_sync() is the
 * one place the platform shows.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "envelope.h"
#include "envelope_io.h"
#include "queue_store.h"

#define STORE_VERSION	2	/* 1: no checks; still read */
#define PATH_LEN	64

#define DIR_INCOMING	"incoming"
#define DIR_QUEUE	"queue"
#define DIR_CORRUPT	"corrupt"
#define DIR_FREE	"free"
#define F_MESSAGE	"message"
#define F_ENVELOPES	"envelopes"
#define F_NEW		"envelopes.new"
#define F_DURABLE	"durable"
#define DURABLE_LEN	18	/* "%08x %08x\n" */

/* A commit written and waiting for store_sync(). */
struct pending {
	TAILQ_ENTRY(pending)	 entry;
	struct qmsg		*qm;	/* not in the index yet */
	uint64_t		 fid;	/* its folder: free/<fid> */
};
TAILQ_HEAD(pendingq, pending);

/*
 * A transaction, from store_create() to its commit (then struct
 * pending) or its rollback: the folder free/<fid> it is received in,
 * and the length its body was reused at (0: a new body).
 */
struct txn {
	RB_ENTRY(txn)		 entry;
	uint64_t		 msgid;
	uint64_t		 fid;
	off_t			 len;
};
RB_HEAD(txn_tree, txn);
RB_PROTOTYPE(txn_tree, txn, entry, txn_cmp);

/* The parked envelopes of one domain (store_sched_park()). */
struct parkq {
	RB_ENTRY(parkq)		 entry;
	uint64_t		 domhash;
	TAILQ_HEAD(, qevp)	 list;
};
RB_HEAD(park_tree, parkq);
RB_PROTOTYPE(park_tree, parkq, entry, parkq_cmp);

/* Reads an envelopes file. */
struct fcursor {
	const char	*buf;
	size_t		 len;
	size_t		 pos;
	uint64_t	 msgid;
	uint64_t	 size;
	uint32_t	 count;
	uint32_t	 seen;
	int		 version;
	uint32_t	 bodysum;	/* version 2 */
	uint32_t	 lastidx;
};

static struct qmsg_tree		 msgs = RB_INITIALIZER(&msgs);
static struct qsched_tree	 sched = RB_INITIALIZER(&sched);
static struct pendingq		 prepared = TAILQ_HEAD_INITIALIZER(prepared);
/* A one-sync batch renamed, its sync under way (store_sync_begin()). */
static struct pendingq		 inflight = TAILQ_HEAD_INITIALIZER(inflight);
static int			 inflight_on;
static struct txn_tree		 txns = RB_INITIALIZER(&txns);
static struct park_tree		 parks = RB_INITIALIZER(&parks);
static size_t			 nparked;
static uint64_t			*updates;	/* msgids with envelopes.new */
static size_t			 nupdates, updates_cap;
static size_t			 nmsgs;
static size_t			 nstate[QEVP_DONE];	/* live envelopes, by state */
/* The folders in free/, a heap: the one whose inode is highest first. */
struct freeent {
	uint64_t	 id;
	uint64_t	 ino;	/* its envelopes file's */
};
static struct freeent		 freeq[STORE_FREE_MAX];
static size_t			 nfree, free_max = STORE_FREE_MAX;
static uint64_t			*trashq;	/* in free/, to delete */
static size_t			 ntrash, trash_cap;
static int			 spoolfd = -1;
static struct store_stats	 stats;
/* The durable point: every message under queue/ whose id's time is
 * before it is whole on disk (F_DURABLE; store_sync()). */
static uint32_t			 durable_t;
static int			 durablefd = -1;
/* syncfs() works here (1), it does not (-1: fsync() each file), not
 * known yet (0). */
static int			 sync_mode;
/* A sync failed: what it was to make durable may or may not be, so
 * the durable point stays where it is until a restart. */
static int			 durable_broken;
/* A lower point written (the clock went back), not on disk yet. */
static uint32_t			 durable_lower;
static int			 durable_lowering;

#ifdef PORTCULLIS_REGRESS
void	(*store_test_step)(int);
int	 store_test_per_file_sync;

size_t	 store_test_trash_max = SIZE_MAX;
uint32_t (*store_test_random)(void);
int	 store_test_sync_fail;
void	(*store_test_fsynced)(const char *);

void
store_test_free_max(size_t n)
{
	free_max = n < STORE_FREE_MAX ? n : STORE_FREE_MAX;
}

#define STEP(n)	do {							\
	if (store_test_step != NULL)					\
		store_test_step(n);					\
} while (0)
#define RANDOM()	(store_test_random != NULL ? store_test_random() : \
			    arc4random())
#else
#define STEP(n)	do { } while (0)
#define RANDOM()	arc4random()
#endif

static int	 qevp_cmp(struct qevp *, struct qevp *);
static int	 qmsg_cmp(struct qmsg *, struct qmsg *);
static void	 path_queue(char *, uint64_t, const char *);
static void	 path_free(char *, uint64_t, const char *);
static int	 rm_msgdir(const char *);
static int	 read_file(const char *, char **, size_t *);
static int	 write_file(const char *, const char *, size_t, int);
static int	 file_open(struct fcursor *, const char *, size_t,
		    const char **);
static int	 file_next(struct fcursor *, struct envelope *,
		    const char **);
static int	 file_build(uint64_t, uint64_t, uint32_t, const struct envelope *,
		    size_t, char **, size_t *);
static int	 body_sum(int, uint64_t, uint32_t *);
static int	 body_sum_path(const char *, uint64_t, uint32_t *);
static int	 header_line(struct fcursor *, const char *, uint64_t *, int);
static struct qmsg *qmsg_new(uint64_t, uint64_t, const struct envelope *,
		    size_t);
static void	 index_insert(struct qmsg *);
static void	 index_remove(struct qmsg *);
static int	 rewrite(struct qmsg *, const struct envelope *, size_t,
	    const uint32_t *, size_t);
static int	 recover_incoming(void);
static int	 recover_free(void);
static void	 durable_read(void);
static void	 durable_note(void);
static int	 batch_one_sync(struct pendingq *);
static int	 txn_cmp(struct txn *, struct txn *);
static int	 parkq_cmp(struct parkq *, struct parkq *);
static void	 sched_remove(struct qevp *);
static struct txn *txn_find(uint64_t);
static struct pending *pending_find(struct pendingq *, uint64_t);
static void	 pending_drop(struct pending *, const char *, int,
		    void (*)(uint64_t, int, void *), void *);
static int	 file_clear(int, uint64_t *);
static int	 free_put(uint64_t);
static void	 free_push(uint64_t, uint64_t);
static void	 free_pop(void);
static void	 txn_release(uint64_t);
static int	 recycle(const char *, uint64_t);
static int	 trash_note(uint64_t);
static int	 trash(const char *, uint64_t);
static void	 recover_bucket(int);
static void	 recover_message(int, const char *, uint64_t);
static void	 move_corrupt(int, const char *, const char *);
static int	 parse_hex(const char *, int, uint64_t *);
static int	 parse_msgid(const char *, uint64_t *);
static int	 fs_sync(void);
static int	 sync_batch(struct pendingq *, int);
static int	 sync_files(struct pendingq *, int);
static int	 fsync_path(const char *, int);

RB_GENERATE(qsched_tree, qevp, sched, qevp_cmp);
RB_GENERATE(qmsg_tree, qmsg, entry, qmsg_cmp);
RB_GENERATE(txn_tree, txn, entry, txn_cmp);
RB_GENERATE(park_tree, parkq, entry, parkq_cmp);

static int
parkq_cmp(struct parkq *a, struct parkq *b)
{
	if (a->domhash != b->domhash)
		return a->domhash < b->domhash ? -1 : 1;
	return 0;
}

static int
txn_cmp(struct txn *a, struct txn *b)
{
	if (a->msgid != b->msgid)
		return a->msgid < b->msgid ? -1 : 1;
	return 0;
}

/* The commit of msgid waiting in q (prepared, inflight), or NULL. */
static struct pending *
pending_find(struct pendingq *q, uint64_t msgid)
{
	struct pending	*p;

	TAILQ_FOREACH(p, q, entry)
		if (p->qm->msgid == msgid)
			return p;
	return NULL;
}

/*
 * A commit that will not be: the folder at path deleted (the message's,
 * in free/ or under queue/), the caller told err, p freed (off its
 * list, or in one the caller drops whole).
 */
static void
pending_drop(struct pending *p, const char *path, int err,
    void (*done)(uint64_t, int, void *), void *arg)
{
	(void)rm_msgdir(path);
	done(p->qm->msgid, err, arg);
	free(p->qm);
	free(p);
}

static struct txn *
txn_find(uint64_t msgid)
{
	struct txn	 key;

	key.msgid = msgid;
	return RB_FIND(txn_tree, &txns, &key);
}

static int
qevp_cmp(struct qevp *a, struct qevp *b)
{
	if (a->nexttry != b->nexttry)
		return a->nexttry < b->nexttry ? -1 : 1;
	if (a->msg->msgid != b->msg->msgid)
		return a->msg->msgid < b->msg->msgid ? -1 : 1;
	if (a->idx != b->idx)
		return a->idx < b->idx ? -1 : 1;
	return 0;
}

static int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	if (a->msgid != b->msgid)
		return a->msgid < b->msgid ? -1 : 1;
	return 0;
}

/*
 * Paths.  PATH_LEN always suffices: "queue/hh/<16>/envelopes.new".
 */
static void
path_queue(char *buf, uint64_t id, const char *file)
{
	(void)snprintf(buf, PATH_LEN, DIR_QUEUE "/%02x/%016llx%s%s",
	    (unsigned)(id & 0xff), (unsigned long long)id, file ? "/" : "",
	    file ? file : "");
}

static void
path_free(char *buf, uint64_t id, const char *file)
{
	(void)snprintf(buf, PATH_LEN, DIR_FREE "/%016llx%s%s",
	    (unsigned long long)id, file ? "/" : "", file ? file : "");
}

static int
parse_msgid(const char *s, uint64_t *id)
{
	if (parse_hex(s, 16, id) == -1 || s[16] != '\0')
		return -1;
	return 0;
}

/* Exactly n (<= 16) lowercase hex digits at s, as we write them. */
static int
parse_hex(const char *s, int n, uint64_t *vp)
{
	uint64_t	 v = 0;
	int		 i, d;

	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		v = (v << 4) | (uint64_t)d;
	}
	*vp = v;
	return 0;
}

/* Remove a message folder and the files in it (no subfolders). */
static int
rm_msgdir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOTDIR)
			return unlink(dir);
		return errno == ENOENT ? 0 : -1;
	}
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == -1 && errno != ENOENT) {
			saved = errno;
			closedir(d);
			errno = saved;
			return -1;
		}
	}
	closedir(d);
	if (rmdir(dir) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

static int
read_file(const char *path, char **bufp, size_t *lenp)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size > STORE_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL)
		goto fail;
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shrank under us */
			saved = errno;
			free(buf);
			errno = saved;
			goto fail;
		}
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;

 fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Write a whole file; O_EXCL or O_TRUNC in flags, or neither to write
 * over what is there from the start and cut it to len (no block of it
 * freed and allocated again).  Not synced.
 */
static int
write_file(const char *path, const char *buf, size_t len, int flags)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd, saved;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags,
	    0600)) == -1)
		return -1;
	while (off < len) {
		n = write(fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			(void)unlink(path);
			errno = saved;
			return -1;
		}
		off += n;
	}
	if ((flags & (O_EXCL | O_TRUNC)) == 0 &&
	    ftruncate(fd, (off_t)len) == -1) {
		saved = errno;
		close(fd);
		(void)unlink(path);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1) {
		saved = errno;
		(void)unlink(path);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * The envelopes file.  Its "check" line is the CRC-32C of everything
 * after that line, its "body" line the CRC-32C of the body: recovery
 * tells by them a file or a body whose blocks did not all reach the
 * disk (store_sync()).
 */
#define CHECK_AT	16	/* "queue: 2\ncheck: " */
#define CHECK_END	25	/* and "%08x\n" */

static int
file_build(uint64_t msgid, uint64_t size, uint32_t bodysum,
    const struct envelope *evp, size_t n, char **bufp, size_t *lenp)
{
	char	*buf, hex[9];
	size_t	 cap, len, i;
	int	 r;

	cap = 160 + n * (ENVELOPE_DUMP_MAX + 1);
	if ((buf = malloc(cap)) == NULL)
		return -1;
	r = snprintf(buf, cap, "queue: %d\ncheck: 00000000\nmsgid: %016llx\n"
	    "size: %llu\nbody: %08x\nenvelopes: %zu\n", STORE_VERSION,
	    (unsigned long long)msgid, (unsigned long long)size,
	    (unsigned)bodysum, n);
	if (r < 0 || (size_t)r >= cap)
		goto inval;
	len = r;
	for (i = 0; i < n; i++) {
		if (evp[i].msgid != msgid)
			goto inval;
		buf[len++] = '\n';
		if ((r = envelope_dump(&evp[i], buf + len, cap - len)) == -1)
			goto inval;
		len += r;
	}
	(void)snprintf(hex, sizeof(hex), "%08x",
	    (unsigned)crc32c(0, buf + CHECK_END, len - CHECK_END));
	memcpy(buf + CHECK_AT, hex, 8);
	*bufp = buf;
	*lenp = len;
	return 0;

 inval:
	free(buf);
	errno = EINVAL;
	return -1;
}

/*
 * "key: value\n" with value in canonical decimal (hex 0), or in hex of
 * exactly hex digits.
 */
static int
header_line(struct fcursor *c, const char *key, uint64_t *v, int hex)
{
	char		 want[PATH_LEN];
	const char	*nl, *p;
	size_t		 klen = strlen(key), llen;
	char		*end;

	p = c->buf + c->pos;
	if ((nl = memchr(p, '\n', c->len - c->pos)) == NULL)
		return -1;
	llen = nl - p + 1;
	if (llen < klen + 4 || memcmp(p, key, klen) != 0 ||
	    p[klen] != ':' || p[klen + 1] != ' ')
		return -1;
	errno = 0;
	*v = strtoull(p + klen + 2, &end, hex ? 16 : 10);
	if (errno != 0 || end != nl)
		return -1;
	/* Only the form we write. */
	if (hex)
		(void)snprintf(want, sizeof(want), "%s: %0*llx\n", key, hex,
		    (unsigned long long)*v);
	else
		(void)snprintf(want, sizeof(want), "%s: %llu\n", key,
		    (unsigned long long)*v);
	if (strlen(want) != llen || memcmp(want, p, llen) != 0)
		return -1;
	c->pos += llen;
	return 0;
}

/* Version 1 (before the checks) is still read: it was written under
 * the two-sync commit, so what recovery finds of it is whole. */
static int
file_open(struct fcursor *c, const char *buf, size_t len, const char **err)
{
	uint64_t	 v, check;

	memset(c, 0, sizeof(*c));
	c->buf = buf;
	c->len = len;
	if (header_line(c, "queue", &v, 0) == -1 ||
	    (v != 1 && v != STORE_VERSION)) {
		*err = "bad or unknown header";
		return -1;
	}
	c->version = (int)v;
	if (c->version >= 2) {
		if (header_line(c, "check", &check, 8) == -1) {
			*err = "bad header";
			return -1;
		}
		if (crc32c(0, buf + c->pos, len - c->pos) != check) {
			*err = "envelopes check differs";
			return -1;
		}
	}
	if (header_line(c, "msgid", &c->msgid, 16) == -1 ||
	    header_line(c, "size", &c->size, 0) == -1) {
		*err = "bad header";
		return -1;
	}
	if (c->version >= 2) {
		if (header_line(c, "body", &v, 8) == -1) {
			*err = "bad header";
			return -1;
		}
		c->bodysum = (uint32_t)v;
	}
	if (header_line(c, "envelopes", &v, 0) == -1) {
		*err = "bad header";
		return -1;
	}
	if (v == 0 || v > STORE_MAX_RCPTS) {
		*err = "bad envelope count";
		return -1;
	}
	c->count = (uint32_t)v;
	return 0;
}

/*
 * The CRC-32C of the body open on fd, which must be exactly size bytes
 * long from where fd is.  -1 with errno (EMSGSIZE when it is not).
 */
static int
body_sum(int fd, uint64_t size, uint32_t *sump)
{
	static char	 buf[64 * 1024];
	uint64_t	 got = 0;
	uint32_t	 sum = 0;
	ssize_t		 n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		if ((uint64_t)n > size - got) {
			errno = EMSGSIZE;
			return -1;
		}
		sum = crc32c(sum, buf, n);
		got += n;
	}
	if (got != size) {
		errno = EMSGSIZE;
		return -1;
	}
	*sump = sum;
	return 0;
}

/* The same, of the body at path. */
static int
body_sum_path(const char *path, uint64_t size, uint32_t *sump)
{
	int	 fd, r, saved;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	r = body_sum(fd, size, sump);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return r;
}

/* 1 and the next envelope, 0 at the (checked) end, -1 on error. */
static int
file_next(struct fcursor *c, struct envelope *evp, const char **err)
{
	const char	*p, *end;
	size_t		 blen;

	if (c->seen == c->count) {
		if (c->pos != c->len) {
			*err = "trailing data";
			return -1;
		}
		return 0;
	}
	if (c->pos >= c->len || c->buf[c->pos] != '\n') {
		*err = "missing envelope";
		return -1;
	}
	c->pos++;
	p = c->buf + c->pos;
	if ((end = memmem(p, c->len - c->pos, "\n\n", 2)) != NULL)
		blen = end - p + 1;
	else
		blen = c->len - c->pos;
	if (envelope_load(evp, p, blen, err) == -1)
		return -1;
	if (evp->msgid != c->msgid) {
		*err = "envelope of another message";
		return -1;
	}
	if (c->seen > 0 && evp->idx <= c->lastidx) {
		*err = "envelopes out of order";
		return -1;
	}
	c->lastidx = evp->idx;
	c->seen++;
	c->pos += blen;
	return 1;
}

/*
 * The index.
 */
static struct qmsg *
qmsg_new(uint64_t msgid, uint64_t size, const struct envelope *evp,
    size_t n)
{
	struct qmsg	*qm;
	size_t		 i;

	if ((qm = calloc(1, sizeof(*qm) + n * sizeof(qm->evp[0]))) == NULL)
		return NULL;
	qm->msgid = msgid;
	qm->size = size;
	qm->ctime = evp[0].ctime;
	qm->flags = evp[0].flags;
	qm->nevp = qm->nlive = n;
	for (i = 0; i < n; i++) {
		qm->evp[i].msg = qm;
		qm->evp[i].idx = evp[i].idx;
		qm->evp[i].nexttry = evp[i].nexttry;
		qm->evp[i].attempts = evp[i].attempts;
		qm->evp[i].dest = evp[i].dest;
		qm->evp[i].domhash = store_domain_hash(evp[i].rcpt.domain);
		qm->evp[i].state = QEVP_SCHEDULED;
	}
	return qm;
}

static void
index_insert(struct qmsg *qm)
{
	uint32_t	 i;

	if (RB_INSERT(qmsg_tree, &msgs, qm) != NULL)
		fatalx("%016llx: in the index twice",
		    (unsigned long long)qm->msgid);
	nmsgs++;
	for (i = 0; i < qm->nevp; i++) {
		if (qm->evp[i].state == QEVP_DONE)
			continue;
		nstate[qm->evp[i].state]++;
		if (qm->evp[i].state == QEVP_SCHEDULED)
			RB_INSERT(qsched_tree, &sched, &qm->evp[i]);
	}
}

static void
index_remove(struct qmsg *qm)
{
	uint32_t	 i;

	for (i = 0; i < qm->nevp; i++) {
		if (qm->evp[i].state == QEVP_DONE)
			continue;
		nstate[qm->evp[i].state]--;
		if (qm->evp[i].state == QEVP_SCHEDULED)
			sched_remove(&qm->evp[i]);
	}
	RB_REMOVE(qmsg_tree, &msgs, qm);
	nmsgs--;
}

struct qevp *
store_msg_evp(struct qmsg *qm, uint32_t idx)
{
	size_t	 lo = 0, hi = qm->nevp, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (qm->evp[mid].idx == idx)
			return &qm->evp[mid];
		if (qm->evp[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct qmsg *
store_msg_find(uint64_t msgid)
{
	struct qmsg	 key;

	key.msgid = msgid;
	return RB_FIND(qmsg_tree, &msgs, &key);
}

struct qmsg *
store_msg_nfind(uint64_t msgid)
{
	struct qmsg	 key;

	key.msgid = msgid;
	return RB_NFIND(qmsg_tree, &msgs, &key);
}

struct qmsg *
store_msg_first(void)
{
	return RB_MIN(qmsg_tree, &msgs);
}

struct qmsg *
store_msg_next(struct qmsg *qm)
{
	return RB_NEXT(qmsg_tree, &msgs, qm);
}

size_t
store_msg_count(void)
{
	return nmsgs;
}

size_t
store_state_count(int state)
{
	if (state < 0 || state >= QEVP_DONE)
		return 0;
	return nstate[state];
}

size_t
store_free_count(void)
{
	return nfree;
}

size_t
store_evp_count(void)
{
	return nstate[QEVP_SCHEDULED] + nstate[QEVP_INFLIGHT] +
	    nstate[QEVP_HELD];
}

struct qevp *
store_sched_first(void)
{
	return RB_MIN(qsched_tree, &sched);
}

struct qevp *
store_sched_next(struct qevp *e)
{
	return RB_NEXT(qsched_tree, &sched, e);
}

/* A QEVP_SCHEDULED envelope out of the tree, or off its domain's list. */
static void
sched_remove(struct qevp *e)
{
	struct parkq	 key, *p;

	if (!e->parked) {
		RB_REMOVE(qsched_tree, &sched, e);
		return;
	}
	key.domhash = e->domhash;
	if ((p = RB_FIND(park_tree, &parks, &key)) == NULL)
		fatalx("%s: parked on no list", __func__);
	TAILQ_REMOVE(&p->list, e, park);
	if (TAILQ_EMPTY(&p->list)) {
		RB_REMOVE(park_tree, &parks, p);
		free(p);
	}
	e->parked = 0;
	nparked--;
}

void
store_sched_set(struct qevp *e, int state)
{
	if (e->state == QEVP_DONE || state == QEVP_DONE)
		fatalx("%s: envelope done", __func__);
	if (e->state == QEVP_SCHEDULED && state != QEVP_SCHEDULED)
		sched_remove(e);
	else if (e->state != QEVP_SCHEDULED && state == QEVP_SCHEDULED)
		RB_INSERT(qsched_tree, &sched, e);
	nstate[e->state]--;
	nstate[state]++;
	e->state = state;
}

void
store_sched_retime(struct qevp *e, time_t t)
{
	if (e->state == QEVP_SCHEDULED) {
		sched_remove(e);
		e->nexttry = t;
		RB_INSERT(qsched_tree, &sched, e);
	} else
		e->nexttry = t;
}

void
store_sched_park(struct qevp *e)
{
	struct parkq	 key, *p;

	if (e->state != QEVP_SCHEDULED || e->parked)
		fatalx("%s: not in the tree", __func__);
	key.domhash = e->domhash;
	if ((p = RB_FIND(park_tree, &parks, &key)) == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return;		/* it stays in the tree: slower only */
		p->domhash = e->domhash;
		TAILQ_INIT(&p->list);
		RB_INSERT(park_tree, &parks, p);
	}
	RB_REMOVE(qsched_tree, &sched, e);
	TAILQ_INSERT_TAIL(&p->list, e, park);
	e->parked = 1;
	nparked++;
}

size_t
store_sched_unpark(uint64_t domhash, size_t n)
{
	struct parkq	 key, *p;
	struct qevp	*e;
	size_t		 done = 0;

	key.domhash = domhash;
	if ((p = RB_FIND(park_tree, &parks, &key)) == NULL)
		return 0;
	while (done < n && (e = TAILQ_FIRST(&p->list)) != NULL) {
		TAILQ_REMOVE(&p->list, e, park);
		e->parked = 0;
		nparked--;
		RB_INSERT(qsched_tree, &sched, e);
		done++;
	}
	if (TAILQ_EMPTY(&p->list)) {
		RB_REMOVE(park_tree, &parks, p);
		free(p);
	}
	return done;
}

size_t
store_parked_count(void)
{
	return nparked;
}

const struct store_stats *
store_stats(void)
{
	return &stats;
}

/*
 * Set-up and recovery.
 */
int
store_init(void)
{
	char	 path[PATH_LEN];
	int	 i;
	size_t	 before;

	if ((mkdir(DIR_QUEUE, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(DIR_CORRUPT, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(DIR_FREE, 0700) == -1 && errno != EEXIST)) {
		log_warn("spool: mkdir");
		return -1;
	}
	for (i = 0; i < 256; i++) {
		(void)snprintf(path, sizeof(path), DIR_QUEUE "/%02x", i);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			log_warn("spool: mkdir %s", path);
			return -1;
		}
	}
	if (spoolfd == -1 &&
	    (spoolfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("spool: open");
		return -1;
	}
	if (recover_incoming() == -1 || recover_free() == -1)
		return -1;
	durable_read();
	before = nmsgs;
	for (i = 0; i < 256; i++)
		recover_bucket(i);
	stats.recovered += nmsgs - before;
	/*
	 * What recovery kept is on disk from here on, whatever a crash of
	 * this process left unwritten; and this tells whether syncfs()
	 * works here.  (It cannot report a write the disk failed before
	 * this start: a torn message whose pages are still cached would
	 * pass recovery's checks then.  The kernel logged that failure.)
	 */
	if (sync_mode >= 0) {
		if (fs_sync() == 0)
			sync_mode = 1;
		else if (errno == ENOSYS)
			sync_mode = -1;
		else {
			log_warn("spool: sync");
			durable_broken = 1;
		}
	}
	durable_note();
	return 0;
}

void
store_close(void)
{
	struct pending	*p;
	struct qmsg	*qm;
	struct txn	*t;

	while ((p = TAILQ_FIRST(&prepared)) != NULL) {
		TAILQ_REMOVE(&prepared, p, entry);
		free(p->qm);
		free(p);
	}
	while ((p = TAILQ_FIRST(&inflight)) != NULL) {
		TAILQ_REMOVE(&inflight, p, entry);
		free(p->qm);
		free(p);
	}
	inflight_on = 0;
	while ((qm = RB_MIN(qmsg_tree, &msgs)) != NULL) {
		index_remove(qm);
		free(qm);
	}
	while ((t = RB_MIN(txn_tree, &txns)) != NULL) {
		RB_REMOVE(txn_tree, &txns, t);
		free(t);
	}
	free(updates);
	updates = NULL;
	nupdates = updates_cap = 0;
	nfree = 0;
	free(trashq);
	trashq = NULL;
	ntrash = trash_cap = 0;
	if (spoolfd != -1)
		close(spoolfd);
	spoolfd = -1;
	if (durablefd != -1)
		close(durablefd);
	durablefd = -1;
	durable_t = 0;
	durable_broken = 0;
	durable_lowering = 0;
	memset(&stats, 0, sizeof(stats));
}

/*
 * The durable point, in F_DURABLE: "%08x %08x\n", a time in seconds
 * and the CRC-32C of its eight digits.  It is written after a sync,
 * with the time then: every message committed so far is on disk, and
 * every message to be committed with a single sync (store_sync()) has
 * an id of that time or later.  So recovery needs to read the bodies
 * only of messages whose id's time is not before it.  Missing or
 * unreadable, it is 0: every body is read.  The file is written over
 * in place, at most once a second, and reaches the disk with the next
 * sync; until then the one before holds, which asks no less of
 * recovery (a point lowered after the clock went back takes effect
 * only then: durable_note()).
 */
static void
durable_read(void)
{
	char		 buf[DURABLE_LEN + 1];
	uint64_t	 t, sum;
	ssize_t		 n;

	durable_t = 0;
	if ((durablefd = open(F_DURABLE, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: %s", F_DURABLE);
		return;
	}
	if ((n = pread(durablefd, buf, sizeof(buf), 0)) == 0)
		return;		/* a new spool */
	if (n != DURABLE_LEN || parse_hex(buf, 8, &t) == -1 ||
	    buf[8] != ' ' || parse_hex(buf + 9, 8, &sum) == -1 ||
	    buf[17] != '\n' || crc32c(0, buf, 8) != sum)
		goto bad;
	durable_t = (uint32_t)t;
	return;

 bad:
	log_warnx("spool: %s unreadable: every message's body is checked",
	    F_DURABLE);
	/* Cut, so that the next point written reads back. */
	if (ftruncate(durablefd, 0) == -1)
		log_warn("spool: %s", F_DURABLE);
}

/*
 * After a sync: the durable point is now.  When the clock went back,
 * new ids are older than the point and every batch would take two
 * syncs, so the point is lowered too, but only once the lower one is
 * on disk (after the next sync): until then the disk may hold the
 * higher one, under which recovery would not read the bodies of
 * messages between the two.
 */
static void
durable_note(void)
{
	char		 buf[DURABLE_LEN + 1];
	uint32_t	 now = (uint32_t)time(NULL);

	if (durablefd == -1 || durable_broken || sync_mode == 0)
		return;
	if (durable_lowering) {
		durable_t = durable_lower;	/* written before this sync */
		durable_lowering = 0;
	}
	if (now == durable_t)
		return;
	(void)snprintf(buf, sizeof(buf), "%08x", (unsigned)now);
	(void)snprintf(buf + 8, sizeof(buf) - 8, " %08x\n",
	    (unsigned)crc32c(0, buf, 8));
	if (pwrite(durablefd, buf, DURABLE_LEN, 0) != DURABLE_LEN) {
		log_warn("spool: write %s", F_DURABLE);
		return;
	}
	if (now > durable_t)
		durable_t = now;
	else {
		durable_lower = now;
		durable_lowering = 1;
	}
}

/*
 * incoming/ is where earlier versions received messages: nothing in
 * it was committed.  Remove it all, and the folder.
 */
static int
recover_incoming(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_LEN + 256];
	int		 n;

	if ((d = opendir(DIR_INCOMING)) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("spool: opendir " DIR_INCOMING);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n = snprintf(path, sizeof(path), DIR_INCOMING "/%s",
		    de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (rm_msgdir(path) == -1) {
			log_warn("spool: cannot remove %s", path);
			continue;
		}
		log_debug("spool: removed uncommitted %s", path);
		stats.removed_incoming++;
	}
	closedir(d);
	if (rmdir(DIR_INCOMING) == -1)
		log_warn("spool: cannot remove " DIR_INCOMING);
	return 0;
}

/*
 * What waits in free/ for reuse, after a restart: empty each folder
 * (a crash may have left a removed message whole there) and keep it;
 * past the bound note it as trash, unread; remove what is not ours.
 */
static int
recover_free(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_LEN + 256];
	uint64_t	 id;
	int		 n;

	if ((d = opendir(DIR_FREE)) == NULL) {
		log_warn("spool: opendir " DIR_FREE);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (parse_msgid(de->d_name, &id) == 0 &&
		    ((nfree < free_max && free_put(id) == 0) ||
		    trash_note(id) == 0))
			continue;
		n = snprintf(path, sizeof(path), DIR_FREE "/%s", de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (rm_msgdir(path) == -1)
			log_warn("spool: cannot remove %s", path);
	}
	closedir(d);
	return 0;
}

/* 1 when fd's file is open nowhere else (see the top of this file). */
static int
body_unshared(int fd)
{
#ifdef F_SETLEASE
	if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
		return 1;
	}
#else
	(void)fd;
#endif
	return 0;
}

/*
 * No byte of the message a file held may be read again: zero it,
 * keeping its blocks up to STORE_BODY_KEEP, or truncate it to nothing.
 * For the body and the envelopes file alike.  Its inode number in
 * *inop when inop is not NULL.
 */
static int
file_clear(int fd, uint64_t *inop)
{
	struct stat	 st;
#ifdef FALLOC_FL_ZERO_RANGE
	off_t		 len;
#endif

	if (fstat(fd, &st) == -1)
		return -1;
	if (inop != NULL)
		*inop = (uint64_t)st.st_ino;
#ifdef FALLOC_FL_ZERO_RANGE
	len = st.st_size;
	if (len > STORE_BODY_KEEP) {
		if (ftruncate(fd, STORE_BODY_KEEP) == -1)
			return -1;
		len = STORE_BODY_KEEP;
	}
	if (len == 0 || fallocate(fd, FALLOC_FL_ZERO_RANGE |
	    FALLOC_FL_KEEP_SIZE, 0, len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
#endif
	return ftruncate(fd, 0);
}

/*
 * free/<id> is a removed message's folder: empty its body when no one
 * else reads it (else unlink it), unlink any envelopes.new, leave an
 * empty envelopes file, and keep it.  0, or -1 when it was not kept
 * (full, or something there we cannot empty: the caller removes it).
 */
static int
free_put(uint64_t id)
{
	char		 path[PATH_LEN];
	uint64_t	 ino;
	int		 fd, kept = 0;

	if (nfree >= free_max)
		return -1;
	path_free(path, id, F_MESSAGE);
	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) != -1) {
		kept = body_unshared(fd) && file_clear(fd, NULL) == 0;
		(void)close(fd);
	}
	if (!kept && unlink(path) == -1 && errno != ENOENT)
		return -1;
	path_free(path, id, F_NEW);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	/* Only the queue opens envelopes: no one else can be reading. */
	path_free(path, id, F_ENVELOPES);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (file_clear(fd, &ino) == -1) {
		(void)close(fd);
		return -1;
	}
	(void)close(fd);
	free_push(id, ino);
	return 0;
}

/*
 * The pool hands out folders by inode number, highest first, not in
 * the order they were removed: the messages of one batch then have
 * their inodes in the same few blocks of the inode table, and each
 * syncfs() writes those blocks once for all of them.
 */
static void
free_push(uint64_t id, uint64_t ino)
{
	size_t		 i = nfree++, up;
	struct freeent	 e = { id, ino };

	while (i > 0) {
		up = (i - 1) / 2;
		if (freeq[up].ino >= ino)
			break;
		freeq[i] = freeq[up];
		i = up;
	}
	freeq[i] = e;
}

static void
free_pop(void)
{
	struct freeent	 last;
	size_t		 i = 0, c;

	if (nfree == 0)
		return;
	last = freeq[--nfree];
	while ((c = 2 * i + 1) < nfree) {
		if (c + 1 < nfree && freeq[c + 1].ino > freeq[c].ino)
			c++;
		if (freeq[c].ino <= last.ino)
			break;
		freeq[i] = freeq[c];
		i = c;
	}
	if (nfree > 0)
		freeq[i] = last;
}

/*
 * Move the folder `from' (a removed or rolled back message <id>) to
 * free/ for reuse.  -1 when the pool is full or the rename failed:
 * `from' is as it was.  Otherwise 0, and `from' is gone: kept in
 * free/, or removed when it could not be emptied.
 */
static int
recycle(const char *from, uint64_t id)
{
	char	 to[PATH_LEN];

	if (nfree >= free_max)
		return -1;
	path_free(to, id, NULL);
	if (rename(from, to) == -1) {
		if (errno != ENOENT)
			log_warn("spool: rename %s", from);
		return -1;
	}
	STEP(STORE_STEP_REMOVE);
	if (free_put(id) == 0)
		return 0;
	if (rm_msgdir(to) == -1)
		log_warn("spool: cannot remove %s", to);
	return 0;
}

/*
 * A transaction's folder free/<fid> back to the pool; or, when the pool
 * is full or the folder cannot be emptied, deleted.
 */
static void
txn_release(uint64_t fid)
{
	char	 path[PATH_LEN];

	if (free_put(fid) == 0)
		return;
	path_free(path, fid, NULL);
	if (rm_msgdir(path) == -1)
		log_warn("spool: cannot remove %s", path);
}

/* Note free/<id> as trash, for store_trim().  0, or -1 (no memory). */
static int
trash_note(uint64_t id)
{
	uint64_t	*nq;
	size_t		 ncap;

#ifdef PORTCULLIS_REGRESS
	if (ntrash >= store_test_trash_max) {
		errno = ENOMEM;
		return -1;
	}
#endif
	if (ntrash == trash_cap) {
		ncap = trash_cap ? trash_cap * 2 : 256;
		if ((nq = reallocarray(trashq, ncap, sizeof(*nq))) == NULL)
			return -1;
		trashq = nq;
		trash_cap = ncap;
	}
	trashq[ntrash++] = id;
	return 0;
}

/*
 * Move the folder `from' (a removed message <id>) to free/ as trash,
 * to be deleted by store_trim().  0: `from' is gone; -1: it is as it
 * was.
 */
static int
trash(const char *from, uint64_t id)
{
	char	 to[PATH_LEN];

	if (trash_note(id) == -1)
		return -1;
	path_free(to, id, NULL);
	if (rename(from, to) == -1) {
		if (errno != ENOENT)
			log_warn("spool: rename %s", from);
		ntrash--;
		return -1;
	}
	STEP(STORE_STEP_REMOVE);
	return 0;
}

size_t
store_trim(int ms)
{
	struct timespec	 start, now;
	char		 path[PATH_LEN];

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (ntrash > 0) {
		path_free(path, trashq[--ntrash], NULL);
		if (rm_msgdir(path) == -1)
			log_warn("spool: cannot remove %s", path);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000 >= ms)
			break;
	}
	if (ntrash == 0 && trash_cap > 1024) {
		free(trashq);
		trashq = NULL;
		trash_cap = 0;
	}
	return ntrash;
}

size_t
store_trash_count(void)
{
	return ntrash;
}

static void
recover_bucket(int b)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_LEN];
	uint64_t	 id;
	int		 fd;

	(void)snprintf(path, sizeof(path), DIR_QUEUE "/%02x", b);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		log_warn("spool: cannot read %s", path);
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (parse_msgid(de->d_name, &id) == -1 ||
		    (int)(id & 0xff) != b) {
			move_corrupt(fd, de->d_name, "not a message id here");
			continue;
		}
		recover_message(fd, de->d_name, id);
	}
	closedir(d);
}

static void
recover_message(int bfd, const char *name, uint64_t id)
{
	struct fcursor	 c;
	struct envelope	 evp;
	struct qmsg	*qm = NULL;
	struct stat	 st;
	char		 path[PATH_LEN];
	char		*buf = NULL;
	const char	*err;
	size_t		 len, n = 0;
	uint32_t	 sum;
	int		 r;

	path_queue(path, id, F_NEW);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("spool: unlink %s", path);
	path_queue(path, id, F_ENVELOPES);
	if (read_file(path, &buf, &len) == -1) {
		if (errno == ENOENT) {
			/* A removal interrupted: finish it. */
			path_queue(path, id, NULL);
			if (rm_msgdir(path) == -1)
				log_warn("spool: cannot remove %s", path);
			return;
		}
		err = strerror(errno);
		goto corrupt;
	}
	if (file_open(&c, buf, len, &err) == -1)
		goto corrupt;
	if (c.msgid != id) {
		err = "envelopes of another message";
		goto corrupt;
	}
	path_queue(path, id, F_MESSAGE);
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
		err = "no body";
		goto corrupt;
	}
	if ((uint64_t)st.st_size != c.size) {
		err = "body size differs";
		goto corrupt;
	}
	if (c.version == 1) {
		/* Committed with two syncs: whole.  Its sum, for updates. */
		if (body_sum_path(path, c.size, &sum) == -1) {
			err = "body unreadable";
			goto corrupt;
		}
	} else if ((uint32_t)(id >> 32) >= durable_t) {
		/* Past the durable point: its blocks may not all be there. */
		stats.verified++;
		if (body_sum_path(path, c.size, &sum) == -1 ||
		    sum != c.bodysum) {
			err = "body check differs: a commit cut short";
			goto corrupt;
		}
	} else
		sum = c.bodysum;
	/* Two passes: count, then fill, with no envelope array. */
	if ((qm = calloc(1, sizeof(*qm) + c.count * sizeof(qm->evp[0]))) ==
	    NULL)
		fatal("%s", __func__);
	qm->msgid = id;
	qm->size = c.size;
	qm->bodysum = sum;
	while ((r = file_next(&c, &evp, &err)) == 1) {
		if (n == 0) {
			qm->ctime = evp.ctime;
			qm->flags = evp.flags;
		}
		qm->evp[n].msg = qm;
		qm->evp[n].idx = evp.idx;
		qm->evp[n].nexttry = evp.nexttry;
		qm->evp[n].attempts = evp.attempts;
		qm->evp[n].dest = evp.dest;
		qm->evp[n].domhash = store_domain_hash(evp.rcpt.domain);
		qm->evp[n].state = QEVP_SCHEDULED;
		n++;
	}
	if (r == -1)
		goto corrupt;
	qm->nevp = qm->nlive = n;
	free(buf);
	index_insert(qm);
	return;

 corrupt:
	free(buf);
	free(qm);
	move_corrupt(bfd, name, err);
}

static void
move_corrupt(int bfd, const char *name, const char *why)
{
	char	 to[PATH_LEN + 256];
	int	 n;

	n = snprintf(to, sizeof(to), DIR_CORRUPT "/%s", name);
	if (n < 0 || (size_t)n >= sizeof(to))
		return;
	if (renameat(bfd, name, spoolfd, to) == -1) {
		n = snprintf(to, sizeof(to), DIR_CORRUPT "/%s.%08x", name,
		    arc4random());
		if (n < 0 || (size_t)n >= sizeof(to) ||
		    renameat(bfd, name, spoolfd, to) == -1) {
			log_warn("spool: %s (%s): cannot move to "
			    DIR_CORRUPT, name, why);
			return;
		}
	}
	stats.corrupt++;
	log_warnx("%s queue event=corrupt reason=\"%s\" moved=%s", name, why,
	    to);
}

/*
 * Transactions.
 */
/* An id the store knows: indexed, being received, or committed and
 * waiting for its sync. */
static int
id_in_use(uint64_t id)
{
	return store_msg_find(id) != NULL || txn_find(id) != NULL ||
	    pending_find(&prepared, id) != NULL ||
	    pending_find(&inflight, id) != NULL;
}

/*
 * A new transaction: a folder from the pool, which a removal emptied,
 * or a new one, named by the message's id, both in free/.  Either way
 * it is received where it is and renamed only once, into queue/ at its
 * commit.  The pool's folders are handed out in place: a rename to a
 * name of the new message's own cost the queue as much as the commit's
 * (7 to 8 % of its time when relaying, each).  The folder's name is
 * then the id of the message it last held, which the transaction
 * remembers (struct txn); nothing else reads it.  A new id is one the
 * store does not know (id_in_use()), so no two live messages share one.
 * It may still be the name of a folder in the pool or the trash, a
 * removed message's id: mkdir() then fails with EEXIST and another id
 * is drawn, and at its own removal the message finds free/<id> taken
 * and is deleted in place (recycle(), trash()).
 */

int
store_create(uint64_t *msgidp, int *fdp)
{
	char		 path[PATH_LEN];
	struct txn	*t;
	struct freeent	 e;
	struct stat	 st;
	uint64_t	 id, fid;
	int		 tries, fd, saved, reused;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	for (tries = 0; tries < 100; tries++) {
		id = ((uint64_t)(uint32_t)time(NULL) << 32) | RANDOM();
		if (id_in_use(id))
			continue;
		if ((reused = nfree > 0)) {
			e = freeq[0];
			fid = e.id;
			free_pop();
		} else {
			fid = id;
			path_free(path, fid, NULL);
			if (mkdir(path, 0700) == -1) {
				if (errno == EEXIST)
					continue;
				goto fail;
			}
		}
		path_free(path, fid, F_MESSAGE);
		/* The emptied body of a folder from the pool, else a new
		 * one.  Its length, which file_clear() kept, is what the
		 * commit checks the front end's size against. */
		if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1 && errno == ENOENT)
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
		if (fd == -1 || fstat(fd, &st) == -1) {
			saved = errno;
			if (fd != -1)
				(void)close(fd);
			path_free(path, fid, NULL);
			if (reused && (saved == ENOENT || saved == ENOTDIR ||
			    saved == ELOOP)) {
				/* Not the folder the pool had: gone, or
				 * not ours.  The next one. */
				errno = saved;
				log_warn("spool: %s", path);
				(void)rm_msgdir(path);
				continue;
			}
			/* No descriptor, no room: the pool keeps its
			 * folder for a later try. */
			if (reused)
				free_push(e.id, e.ino);
			else
				(void)rm_msgdir(path);
			errno = saved;
			goto fail;
		}
		if (reused)
			stats.recycled++;
		t->msgid = id;
		t->fid = fid;
		t->len = st.st_size;
		RB_INSERT(txn_tree, &txns, t);
		*msgidp = id;
		*fdp = fd;
		return 0;
	}
	errno = EEXIST;
 fail:
	saved = errno;
	free(t);
	errno = saved;
	return -1;
}

void
store_rollback(uint64_t id)
{
	struct pending	*p;
	struct txn	*t;
	uint64_t	 fid;

	if ((p = pending_find(&prepared, id)) != NULL) {
		TAILQ_REMOVE(&prepared, p, entry);
		fid = p->fid;
		free(p->qm);
		free(p);
	} else if ((t = txn_find(id)) != NULL) {
		RB_REMOVE(txn_tree, &txns, t);
		fid = t->fid;
		free(t);
	} else
		return;		/* unknown, or renamed for its commit */
	txn_release(fid);
}

int
store_commit_prepare(uint64_t id, const struct envelope *evp, size_t n,
    uint64_t size)
{
	struct pending	*p;
	struct txn	*t;
	struct stat	 st;
	char		 path[PATH_LEN];
	char		*buf;
	size_t		 blen, i;
	off_t		 len;
	uint32_t	 sum;
	int		 fd, saved;

	if (n == 0 || n > STORE_MAX_RCPTS) {
		errno = EINVAL;
		return -1;
	}
	for (i = 1; i < n; i++)
		if (evp[i].idx <= evp[i - 1].idx) {
			errno = EINVAL;
			return -1;
		}
	if ((t = txn_find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	len = t->len;
	if (size > INT64_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	path_free(path, t->fid, F_MESSAGE);
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	/*
	 * Exactly size bytes; or, in a body reused at len >= size bytes,
	 * nothing written past len, and then cut to size.  Its check is
	 * of what is left.
	 */
	if (fstat(fd, &st) == -1)
		goto fail;
	if ((uint64_t)st.st_size != ((uint64_t)len > size ? (uint64_t)len :
	    size)) {
		errno = EMSGSIZE;
		goto fail;
	}
	if ((uint64_t)st.st_size > size && ftruncate(fd, (off_t)size) == -1)
		goto fail;
	if (body_sum(fd, size, &sum) == -1)
		goto fail;
	(void)close(fd);
	if (file_build(id, size, sum, evp, n, &buf, &blen) == -1)
		return -1;
	/*
	 * A folder from the pool has one, zeros that kept their blocks:
	 * written over and cut to length, not truncated first.
	 */
	path_free(path, t->fid, F_ENVELOPES);
	if (write_file(path, buf, blen, 0) == -1) {
		saved = errno;
		free(buf);
		errno = saved;
		return -1;
	}
	free(buf);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->qm = qmsg_new(id, size, evp, n)) == NULL) {
		saved = errno;
		free(p);
		(void)unlink(path);
		errno = saved;
		return -1;
	}
	p->qm->bodysum = sum;
	p->fid = t->fid;
	RB_REMOVE(txn_tree, &txns, t);
	free(t);
	TAILQ_INSERT_TAIL(&prepared, p, entry);
	STEP(STORE_STEP_PREPARED);
	return 0;

 fail:
	saved = errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

int
store_sync_pending(void)
{
	return !inflight_on && (!TAILQ_EMPTY(&prepared) || nupdates > 0);
}

/* 2. The commit points: each message of the batch renamed into queue/;
 * one that cannot be is answered and dropped.  How many were. */
static size_t
batch_rename(struct pendingq *batch, void (*done)(uint64_t, int, void *),
    void *arg)
{
	struct pending	*p, *tmp;
	char		 from[PATH_LEN], to[PATH_LEN];
	size_t		 nrenamed = 0;
	int		 err;

	TAILQ_FOREACH_SAFE(p, batch, entry, tmp) {
		path_free(from, p->fid, NULL);
		path_queue(to, p->qm->msgid, NULL);
		if (rename(from, to) == -1) {
			err = errno;
			log_warn("spool: rename %s", from);
			TAILQ_REMOVE(batch, p, entry);
			pending_drop(p, from, err, done, arg);
			continue;
		}
		nrenamed++;
		STEP(STORE_STEP_RENAMED);
	}
	return nrenamed;
}

/* The sync after the renames failed: durable or not, we cannot tell,
 * so take them back. */
static void
batch_fail(struct pendingq *batch, int err,
    void (*done)(uint64_t, int, void *), void *arg)
{
	struct pending	*p, *tmp;
	char		 path[PATH_LEN];

	errno = err;
	log_warn("spool: sync");
	durable_broken = 1;
	TAILQ_FOREACH_SAFE(p, batch, entry, tmp) {
		TAILQ_REMOVE(batch, p, entry);
		/* Its envelopes first: no longer committed, then gone. */
		path_queue(path, p->qm->msgid, F_ENVELOPES);
		(void)unlink(path);
		path_queue(path, p->qm->msgid, NULL);
		pending_drop(p, path, err, done, arg);
	}
}

/* 4. Acknowledge: the batch is durable. */
static size_t
batch_ack(struct pendingq *batch, void (*done)(uint64_t, int, void *),
    void *arg)
{
	struct pending	*p, *tmp;
	size_t		 ncommit = 0;

	TAILQ_FOREACH_SAFE(p, batch, entry, tmp) {
		TAILQ_REMOVE(batch, p, entry);
		index_insert(p->qm);
		stats.commits++;
		ncommit++;
		done(p->qm->msgid, 0, arg);
		free(p);
	}
	durable_note();
	return ncommit;
}

int
store_sync_begin(void (*done)(uint64_t, int, void *), void *arg)
{
	if (inflight_on || TAILQ_EMPTY(&prepared) ||
	    !batch_one_sync(&prepared))
		return 0;
	TAILQ_CONCAT(&inflight, &prepared, entry);
	inflight_on = 1;
	(void)batch_rename(&inflight, done, arg);
	stats.syncs++;
	return 1;
}

int
store_sync_io(void)
{
	return fs_sync() == -1 ? errno : 0;
}

size_t
store_sync_end(int err, void (*done)(uint64_t, int, void *), void *arg)
{
	if (!inflight_on)
		return 0;
	inflight_on = 0;
	if (err != 0) {
		batch_fail(&inflight, err, done, arg);
		return 0;
	}
	STEP(STORE_STEP_NAMES_SYNCED);
	return batch_ack(&inflight, done, arg);
}

size_t
store_sync(void (*done)(uint64_t, int, void *), void *arg)
{
	struct pendingq	 batch = TAILQ_HEAD_INITIALIZER(batch);
	struct pending	*p, *tmp;
	struct qmsg	*qm;
	char		 from[PATH_LEN], to[PATH_LEN];
	size_t		 i, nrenamed;
	int		 err;

	if (!store_sync_pending())
		return 0;
	if (store_sync_begin(done, arg))
		return store_sync_end(sync_batch(&inflight, 4) == -1 ? errno :
		    0, done, arg);
	TAILQ_CONCAT(&batch, &prepared, entry);

	/* Two syncs (batch_one_sync()): first the files of the batch. */
	stats.syncs++;
	if (sync_batch(&batch, 2) == -1) {
		err = errno;
		log_warn("spool: sync");
		durable_broken = 1;
		TAILQ_FOREACH_SAFE(p, &batch, entry, tmp) {
			path_free(from, p->fid, NULL);
			pending_drop(p, from, err, done, arg);
		}
		/* Updates stay pending: the next sync tries again. */
		return 0;
	}
	STEP(STORE_STEP_DATA_SYNCED);
	nrenamed = batch_rename(&batch, done, arg);
	for (i = 0; i < nupdates; i++) {
		if ((qm = store_msg_find(updates[i])) == NULL || !qm->dirty)
			continue;
		path_queue(from, qm->msgid, F_NEW);
		path_queue(to, qm->msgid, F_ENVELOPES);
		if (rename(from, to) == -1) {
			/* The old envelopes stay; the index is ahead. */
			log_warn("spool: rename %s", from);
			(void)unlink(from);
		}
		qm->dirty = 0;
		STEP(STORE_STEP_UPDATE_RENAMED);
	}

	/* 3. The renames; with one sync, the files too. */
	if (nrenamed > 0) {
		stats.syncs++;
		if (sync_batch(&batch, 4) == -1) {
			nupdates = 0;
			batch_fail(&batch, errno, done, arg);
			return 0;
		}
		STEP(STORE_STEP_NAMES_SYNCED);
	}
	nupdates = 0;
	return batch_ack(&batch, done, arg);
}

/*
 * A batch of new messages only, all with ids of the durable point or
 * later, needs a single sync, after the renames: a crash before it
 * ends may leave a message under queue/ with some of its blocks not
 * written, and recovery, which reads the bodies of every message from
 * the durable point on, tells it by its checks and moves it to
 * corrupt/ (it was not acknowledged).  Updates need their data on disk
 * before the rename that replaces the envelopes, so a batch with any
 * takes the two syncs; so does a message older than the durable point
 * (a slow client's), which recovery would not check, and the per-file
 * path, whose syncs cover only the files they name.
 */
static int
batch_one_sync(struct pendingq *batch)
{
	struct pending	*p;

#ifdef PORTCULLIS_REGRESS
	if (store_test_per_file_sync)
		return 0;
#endif
	if (sync_mode != 1 || nupdates > 0)
		return 0;
	TAILQ_FOREACH(p, batch, entry)
		if ((uint32_t)(p->qm->msgid >> 32) < durable_t)
			return 0;
	return 1;
}

/*
 * Making a batch durable: syncfs() where there is one, else an fsync()
 * of each file and folder the batch touched.  step is 2 (the files,
 * before the renames) or 4 (the renames).  The platform shows only in
 * fs_sync().
 */
#ifdef __linux__
static int
fs_sync(void)
{
	return syncfs(spoolfd);
}
#else
static int
fs_sync(void)
{
	errno = ENOSYS;
	return -1;
}
#endif

static int
sync_batch(struct pendingq *batch, int step)
{
#ifdef PORTCULLIS_REGRESS
	if (store_test_sync_fail > 0) {
		store_test_sync_fail--;
		errno = EIO;
		return -1;
	}
	if (store_test_per_file_sync)
		return sync_files(batch, step);
#endif
	if (sync_mode >= 0) {
		if (fs_sync() == 0) {
			sync_mode = 1;
			return 0;
		}
		if (errno != ENOSYS)
			return -1;
		sync_mode = -1;
	}
	return sync_files(batch, step);
}

/* fsync() a file or folder (FSYNC_DIR); with FSYNC_GONE_OK a missing
 * one is not an error (a message removed since its update was
 * queued). */
#define FSYNC_DIR	0x01
#define FSYNC_GONE_OK	0x02
static int
fsync_path(const char *path, int flags)
{
	int	 fd, saved;

	if ((fd = open(path, (flags & FSYNC_DIR ? O_RDONLY | O_DIRECTORY :
	    O_RDONLY) | O_CLOEXEC)) == -1)
		return errno == ENOENT && (flags & FSYNC_GONE_OK) ? 0 : -1;
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
#ifdef PORTCULLIS_REGRESS
	if (store_test_fsynced != NULL)
		store_test_fsynced(path);
#endif
	return close(fd);
}

static int
sync_files(struct pendingq *batch, int step)
{
	struct pending	*p;
	struct qmsg	*qm;
	char		 path[PATH_LEN];
	size_t		 i;

	TAILQ_FOREACH(p, batch, entry) {
		if (step == 2) {
			path_free(path, p->fid, F_MESSAGE);
			if (fsync_path(path, 0) == -1)
				return -1;
			path_free(path, p->fid, F_ENVELOPES);
			if (fsync_path(path, 0) == -1)
				return -1;
			path_free(path, p->fid, NULL);
		} else {
			/* queue/<hh>: the new name of the folder */
			path_queue(path, p->qm->msgid, NULL);
			path[sizeof(DIR_QUEUE "/hh") - 1] = '\0';
		}
		if (fsync_path(path, FSYNC_DIR) == -1)
			return -1;
	}
	for (i = 0; i < nupdates; i++) {
		if ((qm = store_msg_find(updates[i])) == NULL)
			continue;
		path_queue(path, qm->msgid, step == 2 ? F_NEW : NULL);
		if (fsync_path(path, FSYNC_GONE_OK |
		    (step == 2 ? 0 : FSYNC_DIR)) == -1)
			return -1;
	}
	/* free/: where the batch's folders were renamed from */
	if (step == 4 && fsync_path(DIR_FREE, FSYNC_DIR) == -1)
		return -1;
	return 0;
}

/*
 * Committed messages.
 */
int
store_remove(uint64_t id)
{
	struct qmsg	*qm;
	char		 path[PATH_LEN];

	if ((qm = store_msg_find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	path_queue(path, id, NULL);
	if (recycle(path, id) == 0 || trash(path, id) == 0)
		goto done;
	path_queue(path, id, F_ENVELOPES);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	STEP(STORE_STEP_REMOVE);
	path_queue(path, id, F_NEW);
	(void)unlink(path);
	path_queue(path, id, F_MESSAGE);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("spool: unlink %s", path);
	STEP(STORE_STEP_REMOVE);
	path_queue(path, id, NULL);
	if (rmdir(path) == -1)
		log_warn("spool: rmdir %s", path);
 done:
	index_remove(qm);
	free(qm);
	return 0;
}

/* Is idx among the n of set? */
static int
idx_in(uint32_t idx, const uint32_t *set, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (set[i] == idx)
			return 1;
	return 0;
}

/*
 * Write envelopes.new from the current envelopes, with each of repl in
 * place of its idx and without those of del, then mark the message for
 * the next sync.  One read and one write however many change: a batch
 * of results costs one rewrite, not one each.
 */
static int
rewrite(struct qmsg *qm, const struct envelope *repl, size_t nrepl,
    const uint32_t *del, size_t ndel)
{
	struct fcursor	 c;
	struct envelope	*evps;
	char		 path[PATH_LEN];
	char		*in, *out;
	const char	*err;
	size_t		 len, n = 0, i, found = 0;
	int		 r, saved;

	path_queue(path, qm->msgid, qm->dirty ? F_NEW : F_ENVELOPES);
	if (read_file(path, &in, &len) == -1)
		return -1;
	if (file_open(&c, in, len, &err) == -1 || c.msgid != qm->msgid) {
		free(in);
		log_warnx("%016llx queue: envelopes unreadable: %s",
		    (unsigned long long)qm->msgid, err);
		errno = EINVAL;
		return -1;
	}
	if ((evps = reallocarray(NULL, c.count, sizeof(*evps))) == NULL) {
		free(in);
		return -1;
	}
	while ((r = file_next(&c, &evps[n], &err)) == 1) {
		if (idx_in(evps[n].idx, del, ndel)) {
			found++;
			continue;
		}
		for (i = 0; i < nrepl; i++)
			if (evps[n].idx == repl[i].idx) {
				evps[n] = repl[i];
				found++;
				break;
			}
		n++;
	}
	free(in);
	if (r == -1 || found != nrepl + ndel || n == 0) {
		free(evps);
		errno = r == -1 ? EINVAL : ENOENT;
		return -1;
	}
	r = file_build(qm->msgid, qm->size, qm->bodysum, evps, n, &out, &len);
	saved = errno;
	free(evps);
	if (r == -1) {
		errno = saved;
		return -1;
	}
	path_queue(path, qm->msgid, F_NEW);
	r = write_file(path, out, len, O_TRUNC);
	saved = errno;
	free(out);
	if (r == -1) {
		errno = saved;
		return -1;
	}
	STEP(STORE_STEP_UPDATE_WRITTEN);
	if (!qm->dirty) {
		if (nupdates == updates_cap) {
			uint64_t	*nu;
			size_t		 ncap = updates_cap ? updates_cap * 2 : 64;

			if ((nu = reallocarray(updates, ncap,
			    sizeof(*updates))) == NULL)
				fatal("%s", __func__);
			updates = nu;
			updates_cap = ncap;
		}
		updates[nupdates++] = qm->msgid;
		qm->dirty = 1;
	}
	return 0;
}

int
store_envelopes_apply(uint64_t id, const struct envelope *repl,
    size_t nrepl, const uint32_t *del, size_t ndel)
{
	struct qmsg	*qm;
	struct qevp	*e;
	size_t		 i, j;

	if ((qm = store_msg_find(id)) == NULL || nrepl + ndel == 0) {
		errno = ENOENT;
		return -1;
	}
	/* each named once, live, and not both replaced and deleted */
	for (i = 0; i < ndel; i++)
		if ((e = store_msg_evp(qm, del[i])) == NULL ||
		    e->state == QEVP_DONE || idx_in(del[i], del, i)) {
			errno = ENOENT;
			return -1;
		}
	for (i = 0; i < nrepl; i++) {
		if (repl[i].msgid != id ||
		    (e = store_msg_evp(qm, repl[i].idx)) == NULL ||
		    e->state == QEVP_DONE || idx_in(repl[i].idx, del, ndel)) {
			errno = ENOENT;
			return -1;
		}
		for (j = 0; j < i; j++)
			if (repl[j].idx == repl[i].idx) {
				errno = ENOENT;
				return -1;
			}
	}
	if (ndel == qm->nlive)
		return store_remove(id);
	if (rewrite(qm, repl, nrepl, del, ndel) == -1)
		return -1;
	for (i = 0; i < ndel; i++) {
		e = store_msg_evp(qm, del[i]);
		if (e->state == QEVP_SCHEDULED)
			sched_remove(e);
		nstate[e->state]--;
		e->state = QEVP_DONE;
		qm->nlive--;
	}
	for (i = 0; i < nrepl; i++) {
		e = store_msg_evp(qm, repl[i].idx);
		e->attempts = repl[i].attempts;
		store_sched_retime(e, repl[i].nexttry);
	}
	return 0;
}

int
store_envelope_update(const struct envelope *evp)
{
	return store_envelopes_apply(evp->msgid, evp, 1, NULL, 0);
}

int
store_envelope_delete(uint64_t id, uint32_t idx)
{
	return store_envelopes_apply(id, NULL, 0, &idx, 1);
}

int
store_envelope_load(uint64_t id, uint32_t idx, struct envelope *evp)
{
	struct fcursor	 c;
	struct qmsg	*qm;
	char		 path[PATH_LEN];
	char		*buf;
	const char	*err;
	size_t		 len;
	int		 r;

	if ((qm = store_msg_find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	path_queue(path, id, qm->dirty ? F_NEW : F_ENVELOPES);
	if (read_file(path, &buf, &len) == -1)
		return -1;
	if (file_open(&c, buf, len, &err) == -1) {
		free(buf);
		errno = EINVAL;
		return -1;
	}
	while ((r = file_next(&c, evp, &err)) == 1)
		if (evp->idx == idx)
			break;
	free(buf);
	if (r != 1) {
		memset(evp, 0, sizeof(*evp));
		errno = r == 0 ? ENOENT : EINVAL;
		return -1;
	}
	return 0;
}

int
store_msg_load(uint64_t id, struct envelope **evpp, size_t *np)
{
	struct fcursor	 c;
	struct qmsg	*qm;
	struct envelope	*evps;
	char		 path[PATH_LEN];
	char		*buf;
	const char	*err;
	size_t		 len, n = 0;
	int		 r;

	*evpp = NULL;
	*np = 0;
	if ((qm = store_msg_find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	path_queue(path, id, qm->dirty ? F_NEW : F_ENVELOPES);
	if (read_file(path, &buf, &len) == -1)
		return -1;
	if (file_open(&c, buf, len, &err) == -1 || c.msgid != id) {
		free(buf);
		errno = EINVAL;
		return -1;
	}
	if ((evps = reallocarray(NULL, c.count, sizeof(*evps))) == NULL) {
		free(buf);
		return -1;
	}
	while ((r = file_next(&c, &evps[n], &err)) == 1)
		n++;
	free(buf);
	if (r == -1) {
		free(evps);
		errno = EINVAL;
		return -1;
	}
	*evpp = evps;
	*np = n;
	return 0;
}

uint64_t
store_domain_hash(const char *s)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;
	unsigned char	 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	return h;
}

int
store_open_body(uint64_t id)
{
	char	 path[PATH_LEN];

	if (store_msg_find(id) == NULL) {
		errno = ENOENT;
		return -1;
	}
	path_queue(path, id, F_MESSAGE);
	return open(path, O_RDONLY | O_CLOEXEC);
}

#ifdef PORTCULLIS_REGRESS
const char *
store_test_folder(uint64_t id)
{
	static char	 path[PATH_LEN];
	struct pending	*p;
	struct txn	*t;

	if ((t = txn_find(id)) != NULL) {
		path_free(path, t->fid, NULL);
		return path;
	}
	if ((p = pending_find(&prepared, id)) != NULL) {
		path_free(path, p->fid, NULL);
		return path;
	}
	return NULL;
}
#endif
