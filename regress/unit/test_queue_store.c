/*
 * Portcullis: the durable store.  Every test runs in a fresh spool
 * (mkdtemp, chdir into it).  Recovery is checked by forgetting the
 * index (store_close()) and running store_init() again; crashes by a
 * child that _exit()s at a step boundary (store_test_step), after which
 * the parent recovers and finds each message whole or absent.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event.h>

#include "unit.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "queue_imsg.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"
#include "queue_store.h"
#include "crc32c.h"

static char	 topdir[] = "/tmp/portcullis-store.XXXXXX";
static int	 nspool;
static int	 ndone, nfailed;
static uint64_t	 lastdone;

static const char body[] = "Received: from x\r\nSubject: hi\r\n\r\nhello\r\n";

static void
fresh_spool(void)
{
	char	 path[256];

	store_close();
	(void)snprintf(path, sizeof(path), "%s/%d", topdir, ++nspool);
	if (mkdir(path, 0700) == -1 || chdir(path) == -1) {
		perror(path);
		exit(2);
	}
	if (store_init() == -1) {
		printf("store_init failed in %s\n", path);
		exit(2);
	}
}

static int
recover(void)
{
	store_close();
	return store_init();
}

/* The spool's durable point, when it reads right. */
static int
durable_get(uint32_t *t)
{
	char	 buf[64];
	FILE	*f;
	int	 ok;

	if ((f = fopen("durable", "r")) == NULL)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL && strlen(buf) == 18 &&
	    crc32c(0, buf, 8) == strtoul(buf + 9, NULL, 16);
	fclose(f);
	*t = ok ? (uint32_t)strtoul(buf, NULL, 16) : 0;
	return ok ? 0 : -1;
}

/* Write the spool's durable point (queue_store.c durable_read()). */
static int
durable_set(time_t t)
{
	char		 buf[32];
	uint32_t	 sum;
	FILE		*f;

	(void)snprintf(buf, sizeof(buf), "%08x", (unsigned)t);
	sum = crc32c(0, buf, 8);
	if ((f = fopen("durable", "w")) == NULL)
		return -1;
	fprintf(f, "%s %08x\n", buf, (unsigned)sum);
	return fclose(f) == 0 ? 0 : -1;
}

/* A point of time t with s written over it at off. */
static int
durable_spoil(time_t t, const char *s, off_t off)
{
	ssize_t	 n;
	int	 fd;

	if (durable_set(t) == -1 || (fd = open("durable", O_WRONLY)) == -1)
		return -1;
	n = pwrite(fd, s, strlen(s), off);
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void
done(uint64_t msgid, int err, void *arg)
{
	(void)arg;
	lastdone = msgid;
	if (err == 0)
		ndone++;
	else
		nfailed++;
}

static void
mkevp(struct envelope *e, uint64_t msgid, uint32_t idx, time_t t)
{
	char	 rcpt[64];

	memset(e, 0, sizeof(*e));
	e->msgid = msgid;
	e->idx = idx;
	(void)mailaddr_parse_path("<sender@example.org>", 20, 0, &e->sender,
	    NULL, NULL);
	(void)snprintf(rcpt, sizeof(rcpt), "<rcpt%u@example.com>", idx);
	(void)mailaddr_parse_path(rcpt, strlen(rcpt), 0, &e->rcpt, NULL,
	    NULL);
	(void)strlcpy(e->helo, "client.example", sizeof(e->helo));
	(void)strlcpy(e->client, "192.0.2.7", sizeof(e->client));
	e->ctime = t;
	e->nexttry = t;
}

/* Create, write and prepare a message of n recipients; its id. */
static uint64_t
make_message(int n, time_t t)
{
	struct envelope	 evp[8];
	uint64_t	 id;
	int		 fd, i;

	if (store_create(&id, &fd) == -1) {
		printf("store_create: %s\n", strerror(errno));
		return 0;
	}
	if (write(fd, body, sizeof(body) - 1) != sizeof(body) - 1)
		return 0;
	close(fd);
	for (i = 0; i < n; i++)
		mkevp(&evp[i], id, i, t);
	if (store_commit_prepare(id, evp, n, sizeof(body) - 1) == -1) {
		printf("store_commit_prepare: %s\n", strerror(errno));
		return 0;
	}
	return id;
}

static int
count_entries(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int	 file_cleared(const char *);

/* fmt (one %016llx) with id, in a buffer of its own. */
static const char *
path_of(const char *fmt, uint64_t id)
{
	static char	 path[128];

	(void)snprintf(path, sizeof(path), fmt, (unsigned long long)id);
	return path;
}

/*
 * The folders in free/ that are neither in the pool nor trash: those of
 * messages being received (store_create() until the commit's rename).
 */
static int
open_folders(void)
{
	int	 n = count_entries("free");

	return n < 0 ? n : n - (int)store_free_count() -
	    (int)store_trash_count();
}

/* 1 when the message is in the index with n envelopes and its body. */
static int
message_whole(uint64_t id, int n)
{
	struct qmsg	*qm;
	struct envelope	 e;
	char		 buf[256];
	ssize_t		 r;
	int		 fd, i;

	if ((qm = store_msg_find(id)) == NULL || (int)qm->nlive != n)
		return 0;
	for (i = 0; i < n; i++)
		if (store_envelope_load(id, i, &e) == -1 || e.idx != (uint32_t)i)
			return 0;
	if ((fd = store_open_body(id)) == -1)
		return 0;
	r = read(fd, buf, sizeof(buf));
	close(fd);
	return r == sizeof(body) - 1 && memcmp(buf, body, r) == 0;
}

static void
test_commit_recover(void)
{
	struct envelope	 e, want;
	uint64_t	 id, syncs;
	char		 path[128];
	struct stat	 st;

	fresh_spool();
	syncs = store_stats()->syncs;
	ndone = nfailed = 0;
	id = make_message(2, 1700000000);
	CHECK(id != 0, "make_message");
	CHECK(store_sync_pending(), "nothing pending");
	CHECK(store_msg_find(id) == NULL, "in the index before the sync");
	CHECK(store_sync(done, NULL) == 1, "sync");
	CHECK(ndone == 1 && nfailed == 0 && lastdone == id, "done %d/%d",
	    ndone, nfailed);
	/* New messages only, none older than the durable point: one. */
	CHECK(store_stats()->syncs - syncs == 1, "syncs %llu",
	    (unsigned long long)(store_stats()->syncs - syncs));
	CHECK(!store_sync_pending(), "still pending");
	CHECK(message_whole(id, 2), "not whole after commit");
	(void)snprintf(path, sizeof(path), "queue/%02x/%016llx/envelopes",
	    (unsigned)(id & 0xff), (unsigned long long)id);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "%s missing or mode %o", path, st.st_mode & 0777);
	CHECK(open_folders() == 0, "%d folders open in free/",
	    open_folders());
	CHECK(count_entries("incoming") == -1, "a new spool has incoming/");
	CHECK((id >> 32) >= 1700000000ULL, "msgid %016llx has no time",
	    (unsigned long long)id);

	CHECK(recover() == 0, "recover");
	CHECK(store_msg_count() == 1 && store_evp_count() == 2,
	    "recovered %zu/%zu", store_msg_count(), store_evp_count());
	CHECK(store_stats()->recovered == 1, "recovered count");
	CHECK(message_whole(id, 2), "not whole after recovery");
	mkevp(&want, id, 1, 1700000000);
	CHECK(store_envelope_load(id, 1, &e) == 0 &&
	    memcmp(&e, &want, sizeof(e)) == 0, "envelope 1 differs");
	CHECK(store_envelope_load(id, 2, &e) == -1 && errno == ENOENT,
	    "envelope 2 found");
	CHECK(store_open_body(id + 1) == -1 && errno == ENOENT,
	    "body of an unknown message");
}

/*
 * A crash while messages are received: their folders in free/ are
 * emptied into the pool, and what an earlier version left in
 * incoming/ is removed, with incoming/ itself.
 */
static void
test_uncommitted_removed(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX];
	uint64_t	 a, b;
	int		 fd, n = 0;

	fresh_spool();
	CHECK(store_create(&a, &fd) == 0, "create");
	CHECK(write(fd, body, 10) == 10, "write");
	close(fd);
	b = make_message(1, 1700000000);	/* prepared, never synced */
	CHECK(b != 0 && a != b, "ids");
	CHECK(open_folders() == 2, "%d folders open", open_folders());
	CHECK(mkdir("incoming", 0700) == 0 &&
	    mkdir("incoming/0000000100000001", 0700) == 0 &&
	    (fd = open("incoming/0000000100000001/message",
	    O_WRONLY | O_CREAT, 0600)) != -1, "an old incoming/");
	CHECK(write(fd, body, 10) == 10, "write");
	close(fd);
	CHECK(recover() == 0, "recover");
	CHECK(open_folders() == 0 && store_free_count() == 2,
	    "%d folders open, %zu in the pool", open_folders(),
	    store_free_count());
	CHECK(count_entries("incoming") == -1, "incoming/ is still there");
	CHECK(store_msg_count() == 0, "%zu messages", store_msg_count());
	CHECK(store_stats()->removed_incoming == 1, "removed %llu",
	    (unsigned long long)store_stats()->removed_incoming);
	/* both bodies and both envelopes files read as nothing now */
	CHECK((d = opendir("free")) != NULL, "opendir free");
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "free/%s/message",
		    de->d_name);
		CHECK(access(path, F_OK) == -1 || file_cleared(path),
		    "%s not emptied", path);
		(void)snprintf(path, sizeof(path), "free/%s/envelopes",
		    de->d_name);
		CHECK(file_cleared(path), "%s not emptied", path);
		n++;
	}
	if (d != NULL)
		closedir(d);
	CHECK(n == 2, "%d folders in free/", n);
}

static void
test_rollback_and_checks(void)
{
	struct envelope	 evp[2];
	uint64_t	 id;
	int		 fd;

	fresh_spool();
	CHECK(store_create(&id, &fd) == 0, "create");
	CHECK(write(fd, body, 5) == 5, "write");
	close(fd);
	mkevp(&evp[0], id, 0, 1);
	mkevp(&evp[1], id, 1, 1);
	CHECK(store_commit_prepare(id, evp, 2, 6) == -1 && errno == EMSGSIZE,
	    "size mismatch accepted");
	CHECK(store_commit_prepare(id, evp, 0, 5) == -1 && errno == EINVAL,
	    "no envelopes accepted");
	evp[1].idx = 0;
	CHECK(store_commit_prepare(id, evp, 2, 5) == -1 && errno == EINVAL,
	    "idx out of order accepted");
	evp[1].idx = 1;
	evp[1].msgid = id + 1;
	CHECK(store_commit_prepare(id, evp, 2, 5) == -1 && errno == EINVAL,
	    "foreign envelope accepted");
	evp[1].msgid = id;
	evp[1].ret = 9;
	CHECK(store_commit_prepare(id, evp, 2, 5) == -1 && errno == EINVAL,
	    "bad envelope accepted");
	evp[1].ret = 0;
	CHECK(store_commit_prepare(id, evp, 2, 5) == 0, "good refused: %s",
	    strerror(errno));
	store_rollback(id);
	CHECK(!store_sync_pending(), "pending after rollback");
	CHECK(open_folders() == 0, "%d folders open", open_folders());
	CHECK(store_test_folder(id) == NULL, "still received");
	ndone = nfailed = 0;
	CHECK(store_sync(done, NULL) == 0 && ndone == 0, "sync");
}

static void
test_group_commit(void)
{
	uint64_t	 ids[50], syncs;
	uint32_t	 t, t0;
	int		 i, whole = 0;

	fresh_spool();
	for (i = 0; i < 50; i++)
		ids[i] = make_message(1 + i % 3, 1700000000 + i);
	syncs = store_stats()->syncs;
	ndone = nfailed = 0;
	CHECK(store_sync(done, NULL) == 50, "committed");
	CHECK(ndone == 50 && nfailed == 0, "done %d failed %d", ndone,
	    nfailed);
	CHECK(store_stats()->syncs - syncs == 1, "%llu syncs for 50 commits",
	    (unsigned long long)(store_stats()->syncs - syncs));
	CHECK(recover() == 0, "recover");
	for (i = 0; i < 50; i++)
		whole += message_whole(ids[i], 1 + i % 3);
	CHECK(whole == 50, "%d whole of 50", whole);
	CHECK(store_evp_count() == 50 + 50 / 3 * 3 + 1,
	    "%zu envelopes", store_evp_count());

	/* A batch with a message begun before the durable point (here: a
	 * point an hour ahead) takes the two syncs; so does one with an
	 * update. */
	fresh_spool();
	store_close();
	CHECK(durable_set(time(NULL) + 3600) == 0, "durable");
	CHECK(store_init() == 0, "init");
	for (i = 0; i < 10; i++)
		ids[i] = make_message(2, 1700000000 + i);
	syncs = store_stats()->syncs;
	CHECK(store_sync(done, NULL) == 10, "committed");
	CHECK(store_stats()->syncs - syncs == 2, "%llu syncs, ids before "
	    "the durable point", (unsigned long long)(store_stats()->syncs -
	    syncs));
	/* As after a clock set back: the start wrote the point lower, to
	 * its time, but the batch above still took two syncs: the lower
	 * point was not on disk before that batch's sync.  After it, one
	 * sync again. */
	t = (uint32_t)time(NULL);
	CHECK(durable_get(&t0) == 0 && t0 >= t - 1 && t0 <= t + 1,
	    "point %08x at %08x: not lowered", t0, t);
	for (i = 0; i < 2; i++) {
		ids[i] = make_message(1, 1700000000);
		syncs = store_stats()->syncs;
		CHECK(store_sync(done, NULL) == 1, "committed");
		CHECK(store_stats()->syncs - syncs == 1,
		    "batch %d after lowering: %llu syncs", i,
		    (unsigned long long)(store_stats()->syncs - syncs));
	}
	fresh_spool();
	ids[0] = make_message(2, 1700000000);
	CHECK(store_sync(done, NULL) == 1, "committed");
	CHECK(store_envelope_delete(ids[0], 1) == 0, "delete");
	ids[1] = make_message(1, 1700000000);
	syncs = store_stats()->syncs;
	CHECK(store_sync(done, NULL) == 1, "committed");
	CHECK(store_stats()->syncs - syncs == 2, "%llu syncs with an update",
	    (unsigned long long)(store_stats()->syncs - syncs));
	CHECK(recover() == 0 && message_whole(ids[0], 1) &&
	    message_whole(ids[1], 1), "not whole");
}

/* The path of systems without syncfs(): fsync() of each file and
 * folder, same results; and the loader of a message's envelopes. */
static void
test_per_file_sync(void)
{
	struct envelope	 e, *all;
	uint64_t	 ids[20], syncs;
	size_t		 n;
	int		 i, whole = 0;

	fresh_spool();
	store_test_per_file_sync = 1;
	for (i = 0; i < 20; i++)
		ids[i] = make_message(3, 1700000000 + i);
	syncs = store_stats()->syncs;
	CHECK(store_sync(done, NULL) == 20, "committed");
	CHECK(store_stats()->syncs - syncs == 2, "syncs");
	CHECK(store_envelope_load(ids[0], 1, &e) == 0, "load");
	e.attempts = 7;
	CHECK(store_envelope_update(&e) == 0 &&
	    store_envelope_delete(ids[0], 2) == 0, "update, delete");
	CHECK(store_msg_load(ids[0], &all, &n) == 0 && n == 2 &&
	    all[0].idx == 0 && all[1].idx == 1 && all[1].attempts == 7,
	    "store_msg_load before the sync: %zu", n);
	free(all);
	(void)make_message(1, 1700000100);
	CHECK(store_sync(done, NULL) == 1, "second batch");
	store_test_per_file_sync = 0;
	CHECK(recover() == 0, "recover");
	for (i = 1; i < 20; i++)
		whole += message_whole(ids[i], 3);
	CHECK(whole == 19 && message_whole(ids[0], 2), "%d whole", whole);
	CHECK(store_msg_load(ids[0], &all, &n) == 0 && n == 2 &&
	    all[1].attempts == 7, "store_msg_load after recovery");
	free(all);
	CHECK(store_msg_load(12345, &all, &n) == -1 && errno == ENOENT,
	    "store_msg_load of nothing");
	CHECK(store_domain_hash("Example.COM") ==
	    store_domain_hash("example.com") &&
	    store_domain_hash("example.com") != store_domain_hash("example.org"),
	    "domain hash");
	CHECK(store_msg_find(ids[1])->evp[0].domhash ==
	    store_domain_hash("example.com"), "the index's domain hash");
}

/* The per-file sync path names what a batch received in a folder of
 * the pool touched: its files and folder, then the bucket it was
 * renamed into and free/, which it was renamed out of. */
static char	 synced[64][64];
static int	 nsynced;

static void
note_synced(const char *path)
{
	if (nsynced < 64)
		(void)strlcpy(synced[nsynced++], path, sizeof(synced[0]));
}

static int
was_synced(const char *path)
{
	int	 i;

	for (i = 0; i < nsynced; i++)
		if (strcmp(synced[i], path) == 0)
			return 1;
	return 0;
}

static void
test_per_file_sync_names(void)
{
	char		 folder[64], want[80];
	uint64_t	 a, b;

	fresh_spool();
	a = make_message(1, 1700000000);
	CHECK(a != 0 && store_sync(done, NULL) == 1 && store_remove(a) == 0,
	    "a message removed into the pool");
	store_test_per_file_sync = 1;
	store_test_fsynced = note_synced;
	nsynced = 0;
	b = make_message(1, 1700000000);
	CHECK(b != 0 && store_test_folder(b) != NULL, "received");
	(void)strlcpy(folder, store_test_folder(b) ? store_test_folder(b) :
	    "", sizeof(folder));
	CHECK(strcmp(folder, path_of("free/%016llx", a)) == 0,
	    "received in %s", folder);
	CHECK(store_sync(done, NULL) == 1 && message_whole(b, 1), "commit");
	store_test_fsynced = NULL;
	store_test_per_file_sync = 0;
	(void)snprintf(want, sizeof(want), "%s/message", folder);
	CHECK(was_synced(want), "%s not synced", want);
	(void)snprintf(want, sizeof(want), "%s/envelopes", folder);
	CHECK(was_synced(want), "%s not synced", want);
	CHECK(was_synced(folder), "%s not synced", folder);
	(void)snprintf(want, sizeof(want), "queue/%02x",
	    (unsigned)(b & 0xff));
	CHECK(was_synced(want), "%s not synced", want);
	CHECK(was_synced("free"), "free/ not synced");
}

/*
 * A new id is none the store knows, a message committed and waiting
 * for its sync included: the pool's folders are taken without looking
 * at the name on disk, so only the store can tell.
 */
static uint32_t	 rnd_seq[4];
static int	 rnd_next;

static uint32_t
fixed_random(void)
{
	return rnd_seq[rnd_next < 3 ? rnd_next++ : 3];
}

static void
test_ids_unique_while_syncing(void)
{
	uint64_t	 a, b, c, d;
	int		 i;

	fresh_spool();
	/* a warm pool, so that no mkdir would notice a clash */
	for (i = 0; i < 3; i++)
		CHECK((a = make_message(1, 2)) != 0 &&
		    store_sync(done, NULL) == 1 && store_remove(a) == 0,
		    "pool %d", i);
	store_test_random = fixed_random;
	rnd_seq[0] = rnd_seq[1] = 0x5eed;
	rnd_seq[2] = 0x5eee;
	rnd_seq[3] = 0x5eef;
	rnd_next = 0;
	a = make_message(1, 2);			/* prepared, not synced */
	b = make_message(1, 2);
	CHECK(a != 0 && b != 0 && a != b, "prepared: %016llx twice",
	    (unsigned long long)a);
	/* and while the batch's sync is under way */
	ndone = nfailed = 0;
	CHECK(store_sync_begin(done, NULL) == 1, "begin");
	rnd_next = 0;
	c = make_message(1, 2);
	CHECK(c != 0 && c != a && c != b, "in flight: %016llx again",
	    (unsigned long long)c);
	CHECK(store_sync_end(0, done, NULL) == 2 && ndone == 2, "end");
	store_test_random = NULL;
	d = make_message(1, 2);
	CHECK(store_sync(done, NULL) == 2 && message_whole(a, 1) &&
	    message_whole(b, 1) && message_whole(c, 1) &&
	    message_whole(d, 1), "all four whole");
}

/* The first of two syncs fails: the batch is answered as failed, and
 * each folder it was received in (here the pool's) goes. */
static void
test_first_sync_fails(void)
{
	uint64_t	 a, b;

	fresh_spool();
	a = make_message(1, 2);
	CHECK(a != 0 && store_sync(done, NULL) == 1 && store_remove(a) == 0,
	    "a message removed into the pool");
	b = make_message(1, 2);
	CHECK(b != 0 && store_test_folder(b) != NULL &&
	    strcmp(store_test_folder(b), path_of("free/%016llx", a)) == 0,
	    "not received in the pool's folder");
	store_test_per_file_sync = 1;	/* two syncs */
	store_test_sync_fail = 1;
	ndone = nfailed = 0;
	CHECK(store_sync(done, NULL) == 0 && nfailed == 1 && ndone == 0,
	    "done %d failed %d", ndone, nfailed);
	store_test_per_file_sync = 0;
	store_test_sync_fail = 0;
	CHECK(store_msg_find(b) == NULL && open_folders() == 0 &&
	    count_entries("free") == 0, "%d folders left open, %d in free/",
	    open_folders(), count_entries("free"));
	/* the store goes on */
	b = make_message(1, 2);
	CHECK(b != 0 && store_sync(done, NULL) == 1 && message_whole(b, 1),
	    "after the failure");
}

static void	 qpath(char *, size_t, uint64_t, const char *);

/*
 * A message of the batch whose commit rename fails (something stands
 * at its name under queue/): it alone is answered as failed, its
 * folder goes, and the rest of the batch is committed.
 */
static void
test_batch_rename_fails_for_one(void)
{
	char		 path[128], dir[128];
	uint64_t	 a, b;
	int		 fd;

	fresh_spool();
	a = make_message(1, 2);
	b = make_message(1, 2);
	CHECK(a != 0 && b != 0, "two prepared");
	/* a folder that is not empty cannot be renamed over */
	qpath(dir, sizeof(dir), b, "");
	qpath(path, sizeof(path), b, "in-the-way");
	CHECK(mkdir(dir, 0700) == 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1 &&
	    close(fd) == 0, "in the way");
	ndone = nfailed = 0;
	CHECK(store_sync(done, NULL) == 1 && ndone == 1 && nfailed == 1,
	    "done %d failed %d", ndone, nfailed);
	CHECK(message_whole(a, 1) && store_msg_find(b) == NULL,
	    "a committed, b not");
	CHECK(open_folders() == 0 && count_entries("free") == 0,
	    "%d folders left open, %d in free/", open_folders(),
	    count_entries("free"));
	/* what stood there is not ours to delete */
	CHECK(access(path, F_OK) == 0, "%s removed", path);
}

/*
 * A pooled folder that is no longer what the pool noted (deleted by
 * hand, or a file in its place): store_create() drops it, says so, and
 * takes a new folder; nothing of it is left in free/.
 */
static void
test_create_drops_a_vanished_pool_folder(void)
{
	uint64_t	 a, id;
	int		 fd, asfile;
	char		 path[128];

	for (asfile = 0; asfile <= 1; asfile++) {
		fresh_spool();
		a = make_message(1, 2);
		CHECK(a != 0 && store_sync(done, NULL) == 1 &&
		    store_remove(a) == 0 && store_free_count() == 1,
		    "a message removed into the pool");
		(void)snprintf(path, sizeof(path), "%s",
		    path_of("free/%016llx", a));
		CHECK(unlink(path_of("free/%016llx/message", a)) == 0 &&
		    unlink(path_of("free/%016llx/envelopes", a)) == 0 &&
		    rmdir(path) == 0, "remove %s", path);
		if (asfile)
			CHECK((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1 &&
			    close(fd) == 0, "a file at %s", path);
		CHECK(store_create(&id, &fd) == 0, "create: %s",
		    strerror(errno));
		CHECK(store_free_count() == 0, "pool %zu", store_free_count());
		CHECK(store_test_folder(id) != NULL &&
		    strcmp(store_test_folder(id),
		    path_of("free/%016llx", id)) == 0,
		    "a new folder: %s", store_test_folder(id));
		CHECK(access(path, F_OK) == -1 && errno == ENOENT,
		    "%s still there", path);
		CHECK(open_folders() == 1, "%d open", open_folders());
		close(fd);
		store_rollback(id);
		CHECK(open_folders() == 0 && store_free_count() == 1,
		    "after the rollback: %d open, pool %zu", open_folders(),
		    store_free_count());
	}
}

/* No descriptor left: store_create() fails, and the pool keeps the
 * folder it would have used for the next try. */
static void
test_create_fails_keeps_pool(void)
{
	struct rlimit	 rl, low;
	uint64_t	 a, id;
	size_t		 pooled;
	int		 fd, top, ret, saved;

	fresh_spool();
	a = make_message(1, 2);
	CHECK(a != 0 && store_sync(done, NULL) == 1 && store_remove(a) == 0,
	    "a message removed into the pool");
	pooled = store_free_count();
	CHECK(pooled == 1, "pool %zu", pooled);
	/* the lowest free descriptor is the last one allowed */
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    (top = open("/dev/null", O_RDONLY)) != -1, "rlimit");
	close(top);
	low = rl;
	low.rlim_cur = top;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
	ret = store_create(&id, &fd);
	saved = errno;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit back");
	CHECK(ret == -1 && saved == EMFILE, "create: %d, %s", ret,
	    strerror(saved));
	CHECK(store_free_count() == pooled && open_folders() == 0,
	    "pool %zu, %d open", store_free_count(), open_folders());
	CHECK(store_create(&id, &fd) == 0 && store_test_folder(id) != NULL &&
	    strcmp(store_test_folder(id), path_of("free/%016llx", a)) == 0,
	    "the next create did not take the pooled folder");
	close(fd);
	store_rollback(id);
}

static void
test_remove(void)
{
	uint64_t	 a, b;
	char		 path[128];
	struct stat	 st;

	fresh_spool();
	a = make_message(2, 1);
	b = make_message(1, 1);
	CHECK(store_sync(done, NULL) == 2, "sync");
	CHECK(store_remove(a) == 0, "remove");
	CHECK(store_remove(a) == -1 && errno == ENOENT, "removed twice");
	(void)snprintf(path, sizeof(path), "queue/%02x/%016llx",
	    (unsigned)(a & 0xff), (unsigned long long)a);
	CHECK(stat(path, &st) == -1 && errno == ENOENT, "%s still there",
	    path);
	CHECK(store_msg_count() == 1 && store_evp_count() == 1,
	    "%zu/%zu left", store_msg_count(), store_evp_count());
	CHECK(recover() == 0, "recover");
	CHECK(store_msg_find(a) == NULL && message_whole(b, 1),
	    "wrong messages after recovery");
}

static ino_t
inode_of(const char *fmt, uint64_t id)
{
	char		 path[128];
	struct stat	 st;

	(void)snprintf(path, sizeof(path), fmt, (unsigned)(id & 0xff),
	    (unsigned long long)id);
	return stat(path, &st) == -1 ? 0 : st.st_ino;
}

/*
 * A cleared body or envelopes file in free/: no byte of what it held
 * can be read; it is empty, or zeros that keep their blocks (never
 * longer than STORE_BODY_KEEP).
 */
static int
file_cleared(const char *path)
{
	char		 buf[4096];
	struct stat	 st;
	ssize_t		 n, i;
	off_t		 total = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	if (fstat(fd, &st) == -1 || st.st_size > STORE_BODY_KEEP ||
	    (st.st_size > 0 && st.st_blocks == 0)) {
		close(fd);
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++)
			if (buf[i] != 0) {
				close(fd);
				return 0;
			}
		total += n;
	}
	close(fd);
	return n == 0 && total == st.st_size;
}

/*
 * The pool hands out the folder whose envelopes inode is highest,
 * whatever the order of the removals: the messages of a batch get
 * neighbouring inodes (blocks of the inode table written once).
 */
static int
ino_desc(const void *a, const void *b)
{
	ino_t	 x = *(const ino_t *)a, y = *(const ino_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void
test_pool_order(void)
{
	/* by rank of inode (0 highest): what a stack would hand out last */
	static const int order[4] = { 0, 3, 2, 1 };
	uint64_t	 m[4], n;
	ino_t		 env[4], want[4];
	char		 path[128];
	struct stat	 st;
	int		 i, j;

	fresh_spool();
	for (i = 0; i < 4; i++)
		m[i] = make_message(1, 1);
	CHECK(store_sync(done, NULL) == 4, "four");
	for (i = 0; i < 4; i++)
		want[i] = env[i] = inode_of("queue/%02x/%016llx/envelopes",
		    m[i]);
	qsort(want, 4, sizeof(want[0]), ino_desc);
	/*
	 * Removed highest first, then from the lowest up: a stack would
	 * hand out the second highest first, the highest last.
	 */
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			if (env[j] == want[order[i]])
				CHECK(store_remove(m[j]) == 0, "remove");
	CHECK(store_free_count() == 4, "pool %zu", store_free_count());
	for (i = 0; i < 4; i++) {
		n = make_message(1, 2);
		(void)snprintf(path, sizeof(path), "%s/envelopes",
		    store_test_folder(n) ? store_test_folder(n) : "none");
		CHECK(n != 0 && stat(path, &st) == 0 && st.st_ino == want[i],
		    "take %d: inode %llu, want %llu", i,
		    (unsigned long long)st.st_ino,
		    (unsigned long long)want[i]);
	}
	CHECK(store_sync(done, NULL) == 4 && store_free_count() == 0,
	    "four again");
}

/*
 * The counts by state that show stats gives agree with a walk of the
 * index through every change: commit, state changes, a deletion, a
 * batch, a removal, a restart.
 */
static int
counts_agree(const char *when)
{
	struct qmsg	*qm;
	size_t		 walk[QEVP_DONE] = { 0 };
	uint32_t	 i;
	int		 st;

	for (qm = store_msg_first(); qm != NULL; qm = store_msg_next(qm))
		for (i = 0; i < qm->nevp; i++)
			if (qm->evp[i].state != QEVP_DONE)
				walk[qm->evp[i].state]++;
	for (st = 0; st < QEVP_DONE; st++)
		if (store_state_count(st) != walk[st]) {
			printf("%s: state %d counted %zu, walked %zu\n", when,
			    st, store_state_count(st), walk[st]);
			return 0;
		}
	return 1;
}

static void
test_state_counts(void)
{
	struct envelope	 repl;
	struct qmsg	*qm;
	uint64_t	 a, b;
	uint32_t	 del = 0;

	fresh_spool();
	CHECK(counts_agree("empty") && store_state_count(QEVP_SCHEDULED) ==
	    0, "empty");
	a = make_message(3, 1);
	b = make_message(2, 1);
	CHECK(store_state_count(QEVP_SCHEDULED) == 0, "prepared counted");
	CHECK(store_sync(done, NULL) == 2 && counts_agree("committed") &&
	    store_state_count(QEVP_SCHEDULED) == 5, "committed: %zu",
	    store_state_count(QEVP_SCHEDULED));
	qm = store_msg_find(a);
	store_sched_set(&qm->evp[0], QEVP_INFLIGHT);
	store_sched_set(&qm->evp[1], QEVP_HELD);
	store_sched_set(&qm->evp[2], QEVP_INFLIGHT);
	CHECK(counts_agree("set") && store_state_count(QEVP_INFLIGHT) == 2 &&
	    store_state_count(QEVP_HELD) == 1, "set");
	CHECK(store_envelope_delete(a, 2) == 0 && counts_agree("deleted") &&
	    store_state_count(QEVP_INFLIGHT) == 1, "delete");
	store_sched_set(&qm->evp[1], QEVP_SCHEDULED);
	/* a batch: one rewritten back to the schedule, one deleted */
	CHECK(store_envelope_load(a, 1, &repl) == 0, "load");
	repl.attempts++;
	CHECK(store_envelopes_apply(a, &repl, 1, &del, 1) == 0 &&
	    counts_agree("applied") && store_state_count(QEVP_INFLIGHT) == 0 &&
	    store_state_count(QEVP_SCHEDULED) == 3, "apply");
	CHECK(store_remove(b) == 0 && counts_agree("removed") &&
	    store_state_count(QEVP_SCHEDULED) == 1, "remove");
	store_sched_set(&store_msg_find(a)->evp[1], QEVP_HELD);
	(void)store_sync(done, NULL);
	CHECK(recover() == 0 && counts_agree("recovered") &&
	    store_state_count(QEVP_SCHEDULED) == 1 &&
	    store_state_count(QEVP_HELD) == 0, "recovered");
	CHECK(store_remove(a) == 0 && counts_agree("all gone") &&
	    store_state_count(QEVP_SCHEDULED) == 0, "all gone");
}

/*
 * A removed message's folder, envelopes file and body wait in free/,
 * emptied, and are the next message's: no inode made or freed.  A body
 * someone still reads is unlinked instead, and the reader keeps it.
 */
static void
test_recycle(void)
{
	uint64_t	 a, b, c, d, e;
	ino_t		 dir, env, msg;
	char		 path[128], buf[256], big[4096];
	ssize_t		 n;
	struct stat	 st;
	int		 fd, rfd;

	fresh_spool();
	a = make_message(2, 1);
	CHECK(store_sync(done, NULL) == 1, "sync");
	dir = inode_of("queue/%02x/%016llx", a);
	env = inode_of("queue/%02x/%016llx/envelopes", a);
	msg = inode_of("queue/%02x/%016llx/message", a);
	CHECK(dir != 0 && env != 0 && msg != 0, "no folder");
	CHECK(store_remove(a) == 0, "remove");
	CHECK(store_msg_find(a) == NULL, "removed message in the index");
	CHECK(inode_of("queue/%02x/%016llx", a) == 0, "still in queue/");
	CHECK(count_entries("free") == 1 && store_free_count() == 1,
	    "free/ has %d", count_entries("free"));
	(void)snprintf(path, sizeof(path), "free/%016llx/message",
	    (unsigned long long)a);
	CHECK(stat(path, &st) == 0 && st.st_ino == msg && file_cleared(path),
	    "the body not kept cleared in free/");
	(void)snprintf(path, sizeof(path), "free/%016llx/envelopes",
	    (unsigned long long)a);
	CHECK(stat(path, &st) == 0 && st.st_ino == env && file_cleared(path),
	    "the envelopes not kept cleared in free/");

	b = make_message(1, 2);
	CHECK(b != 0 && b != a, "no second message");
	/* received in the pool's folder as it is, under its old name */
	CHECK(store_test_folder(b) != NULL &&
	    strcmp(store_test_folder(b), path_of("free/%016llx", a)) == 0,
	    "received in %s", store_test_folder(b) ?
	    store_test_folder(b) : "(none)");
	CHECK(stat(path_of("free/%016llx", a), &st) == 0 && st.st_ino == dir,
	    "the new message got a new folder");
	CHECK(store_sync(done, NULL) == 1, "sync 2");
	CHECK(message_whole(b, 1), "the second message is not whole");
	CHECK(inode_of("queue/%02x/%016llx/envelopes", b) == env,
	    "the envelopes file was not reused");
	/* a's two recipients made a longer file: b's is cut to its own */
	(void)snprintf(path, sizeof(path), "queue/%02x/%016llx/envelopes",
	    (unsigned)(b & 0xff), (unsigned long long)b);
	CHECK((fd = open(path, O_RDONLY)) != -1, "open b's envelopes");
	n = read(fd, big, sizeof(big));
	(void)close(fd);
	CHECK(n > 0 && (size_t)n < sizeof(big) && memchr(big, 0, n) == NULL &&
	    big[n - 1] == '\n', "b's envelopes hold %zd bytes, zeros or "
	    "an unfinished line", n);
	CHECK(inode_of("queue/%02x/%016llx/message", b) == msg,
	    "the body was not reused");
	CHECK(count_entries("free") == 0 && store_free_count() == 0,
	    "free/ not empty");
	CHECK(store_stats()->recycled == 1, "recycled %llu",
	    (unsigned long long)store_stats()->recycled);

	/* A rollback keeps its folder too. */
	CHECK(store_create(&c, &fd) == 0, "create");
	close(fd);
	store_rollback(c);
	CHECK(count_entries("free") == 1 && store_free_count() == 1 &&
	    open_folders() == 0, "rollback: free/ %d, pool %zu",
	    count_entries("free"), store_free_count());

	/*
	 * Recovery: a crash right after a removal's rename leaves the
	 * whole message in free/; recovery empties it and keeps it, and
	 * removes what is not a folder of ours.
	 */
	d = make_message(3, 3);
	CHECK(store_sync(done, NULL) == 1, "sync 3");
	(void)snprintf(path, sizeof(path), "queue/%02x/%016llx",
	    (unsigned)(d & 0xff), (unsigned long long)d);
	{
		char	 to[128];

		(void)snprintf(to, sizeof(to), "free/%016llx",
		    (unsigned long long)d);
		CHECK(rename(path, to) == 0, "rename into free/");
	}
	fd = open("free/junk", O_WRONLY | O_CREAT, 0600);
	CHECK(fd != -1, "junk");
	close(fd);
	CHECK(recover() == 0, "recover");
	CHECK(store_msg_find(d) == NULL && store_msg_find(b) != NULL,
	    "recovery: wrong messages");
	/* d took the rolled back folder: d's is the one left. */
	CHECK(store_free_count() == 1 && count_entries("free") == 1,
	    "recovery: %zu kept, free/ has %d", store_free_count(),
	    count_entries("free"));
	(void)snprintf(path, sizeof(path), "free/%016llx/message",
	    (unsigned long long)d);
	CHECK(file_cleared(path), "recovery did not clear the body");
	(void)snprintf(path, sizeof(path), "free/%016llx/envelopes",
	    (unsigned long long)d);
	CHECK(file_cleared(path), "recovery did not clear the envelopes");
	CHECK(store_stats()->corrupt == 0, "corrupt");

	/* A body still being read (delivery, show message) is not
	 * emptied: its reader sees it whole; the next message gets a new
	 * one. */
	e = make_message(1, 4);
	CHECK(store_sync(done, NULL) == 1, "sync 4");
	CHECK((rfd = store_open_body(e)) != -1, "open body");
	msg = inode_of("queue/%02x/%016llx/message", e);
	CHECK(store_remove(e) == 0, "remove while read");
	(void)snprintf(path, sizeof(path), "free/%016llx/message",
	    (unsigned long long)e);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT,
	    "a body being read kept in free/");
	CHECK(pread(rfd, buf, sizeof(buf), 0) == sizeof(body) - 1 &&
	    memcmp(buf, body, sizeof(body) - 1) == 0,
	    "the reader lost the body");
	c = make_message(1, 5);
	CHECK(store_sync(done, NULL) == 1 && message_whole(c, 1),
	    "the message after");
	/* (still open: its inode number cannot have been given again) */
	CHECK(inode_of("queue/%02x/%016llx/message", c) != msg,
	    "the body being read was reused");
	CHECK(pread(rfd, buf, sizeof(buf), 0) == sizeof(body) - 1 &&
	    memcmp(buf, body, sizeof(body) - 1) == 0,
	    "the reader's body changed");
	close(rfd);

	/*
	 * The bound: past it, a removed folder waits in free/ as trash,
	 * as it is, until a trim deletes it.
	 */
	store_test_free_max(1);
	CHECK(store_remove(b) == 0 && store_free_count() == 1 &&
	    store_trash_count() == 0, "remove up to the bound");
	CHECK(store_remove(c) == 0, "remove past the bound");
	CHECK(inode_of("queue/%02x/%016llx", c) == 0, "not removed");
	CHECK(count_entries("free") == 2 && store_free_count() == 1 &&
	    store_trash_count() == 1, "past the bound: free/ has %d, "
	    "%zu kept, %zu trash", count_entries("free"), store_free_count(),
	    store_trash_count());
	d = make_message(1, 6);
	e = make_message(1, 6);
	CHECK(store_sync(done, NULL) == 2 && store_remove(d) == 0 &&
	    store_remove(e) == 0 && store_trash_count() == 2, "trash 2");
	/* one at least, however short the time given */
	CHECK(store_trim(0) == 1 && count_entries("free") == 2,
	    "a trim of 0 ms: free/ has %d", count_entries("free"));
	/* a restart finds the trash past the bound and notes it again */
	CHECK(recover() == 0 && store_free_count() == 1 &&
	    store_trash_count() == 1 && count_entries("free") == 2,
	    "restart: %zu kept, %zu trash, free/ has %d", store_free_count(),
	    store_trash_count(), count_entries("free"));
	CHECK(store_trim(1000) == 0 && count_entries("free") == 1,
	    "trimmed: free/ has %d", count_entries("free"));
	/* with no room to note it as trash, removal deletes at once */
	e = make_message(1, 7);
	a = make_message(1, 8);
	CHECK(store_sync(done, NULL) == 2 && store_remove(e) == 0 &&
	    count_entries("free") == 1, "e and a");
	store_test_trash_max = 0;
	CHECK(store_remove(a) == 0 && store_trash_count() == 0 &&
	    count_entries("free") == 1 &&
	    inode_of("queue/%02x/%016llx", a) == 0,
	    "no trash: free/ has %d", count_entries("free"));
	store_test_trash_max = SIZE_MAX;
	store_test_free_max(STORE_FREE_MAX);
}

/* A message of len bytes of c claiming size claim; its id, or 0. */
static uint64_t
make_sized(char c, size_t len, uint64_t claim)
{
	static char	 big[300 * 1024];
	struct envelope	 evp;
	uint64_t	 id;
	int		 fd, saved;

	if (len > sizeof(big) || store_create(&id, &fd) == -1)
		return 0;
	memset(big, c, len);
	if (write(fd, big, len) != (ssize_t)len) {
		close(fd);
		return 0;
	}
	close(fd);
	mkevp(&evp, id, 0, 1);
	if (store_commit_prepare(id, &evp, 1, claim) == -1) {
		saved = errno;
		store_rollback(id);
		errno = saved;
		return 0;
	}
	return id;
}

/* The committed body of id is len bytes of c, then zeros to size. */
static int
body_is(uint64_t id, char c, size_t len, size_t size)
{
	static char	 buf[300 * 1024];
	struct stat	 st;
	ssize_t		 n;
	size_t		 i;
	int		 fd;

	if ((fd = store_open_body(id)) == -1)
		return 0;
	n = pread(fd, buf, sizeof(buf), 0);
	if (fstat(fd, &st) == -1 || st.st_size != (off_t)size ||
	    n != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	for (i = 0; i < size; i++)
		if (buf[i] != (i < len ? c : 0))
			return 0;
	return 1;
}

/*
 * A reused body keeps its blocks and is written over in place: the
 * next message is cut to its own length, and what its writer did not
 * write reads as zeros, never as the earlier message's text.  A body
 * longer than STORE_BODY_KEEP keeps only that much in free/.
 */
static void
test_reuse_body(void)
{
	uint64_t	 a, b;
	ino_t		 msg;
	char		 path[128];

	fresh_spool();
	a = make_sized('A', 5000, 5000);
	CHECK(a != 0 && store_sync(done, NULL) == 1, "a");
	msg = inode_of("queue/%02x/%016llx/message", a);
	CHECK(store_remove(a) == 0, "remove a");
	(void)snprintf(path, sizeof(path), "free/%016llx/message",
	    (unsigned long long)a);
	CHECK(file_cleared(path), "a's body not cleared");

	/* Shorter than the body it reuses: cut to its length. */
	b = make_sized('B', 100, 100);
	CHECK(b != 0 && store_sync(done, NULL) == 1, "b");
	CHECK(inode_of("queue/%02x/%016llx/message", b) == msg,
	    "the body was not reused");
	CHECK(body_is(b, 'B', 100, 100), "b's body is not its 100 bytes");
	CHECK(store_remove(b) == 0, "remove b");

	/*
	 * A writer that claims more than it wrote, within the old
	 * length, gets zeros where it wrote nothing: none of A's bytes.
	 */
	a = make_sized('A', 5000, 5000);
	CHECK(a != 0 && store_sync(done, NULL) == 1, "a again");
	CHECK(store_remove(a) == 0, "remove a again");
	b = make_sized('C', 10, 3000);
	CHECK(b != 0 && store_sync(done, NULL) == 1, "short write");
	CHECK(body_is(b, 'C', 10, 3000), "a short write reads A's text");
	CHECK(store_remove(b) == 0, "remove the short write");

	/*
	 * What the size cannot account for is refused, as in a new body:
	 * a claim past the reused body's length and what was written, or
	 * more written past that length than claimed.
	 */
	errno = 0;
	CHECK(make_sized('D', 10, 5000) == 0 && errno == EMSGSIZE,
	    "a claim past the body accepted: %s", strerror(errno));
	errno = 0;
	CHECK(make_sized('D', 4000, 1000) == 0 && errno == EMSGSIZE,
	    "a write past the body and the claim accepted: %s",
	    strerror(errno));
	CHECK(!store_sync_pending(), "a refused message is pending");

	/* A long body keeps at most STORE_BODY_KEEP bytes in free/. */
	a = make_sized('E', 200 * 1024, 200 * 1024);
	CHECK(a != 0 && store_sync(done, NULL) == 1, "long");
	CHECK(store_remove(a) == 0, "remove long");
	(void)snprintf(path, sizeof(path), "free/%016llx/message",
	    (unsigned long long)a);
	CHECK(file_cleared(path), "a long body not cleared to the bound");
	b = make_sized('F', 150 * 1024, 150 * 1024);
	CHECK(b != 0 && store_sync(done, NULL) == 1 &&
	    body_is(b, 'F', 150 * 1024, 150 * 1024),
	    "a message longer than the kept body");
}

/*
 * Parking: a parked envelope is out of the tree, still scheduled; it
 * comes back first parked first, and leaves its list on any change of
 * state, on deletion, on removal and when the store closes.
 */
static void
test_park(void)
{
	struct qmsg	*qm;
	uint64_t	 a, h;

	fresh_spool();
	a = make_message(3, 1);
	CHECK(a != 0 && store_sync(done, NULL) == 1, "a");
	qm = store_msg_find(a);
	h = qm->evp[0].domhash;
	CHECK(qm->evp[1].domhash == h && qm->evp[2].domhash == h,
	    "one domain");
	store_sched_park(&qm->evp[2]);
	store_sched_park(&qm->evp[0]);
	store_sched_park(&qm->evp[1]);
	CHECK(store_parked_count() == 3 && store_sched_first() == NULL,
	    "parked %zu, tree not empty", store_parked_count());
	CHECK(qm->evp[0].state == QEVP_SCHEDULED, "parked: not scheduled");
	CHECK(store_sched_unpark(h + 1, 5) == 0, "another domain's");
	CHECK(store_sched_unpark(h, 1) == 1 && store_sched_first() ==
	    &qm->evp[2] && !qm->evp[2].parked, "not the first parked back");
	CHECK(store_parked_count() == 2, "parked %zu", store_parked_count());

	/* Off the list: a change of state, a deletion. */
	store_sched_set(&qm->evp[0], QEVP_INFLIGHT);
	CHECK(!qm->evp[0].parked && store_parked_count() == 1,
	    "in flight but parked");
	CHECK(store_envelope_delete(a, 1) == 0, "delete");
	CHECK(store_parked_count() == 0, "a deleted envelope parked");
	store_sched_set(&qm->evp[0], QEVP_SCHEDULED);

	/* A removal and a close with parked envelopes; then recovery. */
	store_sched_park(&qm->evp[0]);
	CHECK(store_remove(a) == 0 && store_parked_count() == 0,
	    "a removed message parked");
	a = make_message(2, 1);
	CHECK(a != 0 && store_sync(done, NULL) == 1, "a again");
	store_sched_park(&store_msg_find(a)->evp[0]);
	CHECK(recover() == 0, "recover");
	CHECK(store_parked_count() == 0 && store_msg_find(a) != NULL &&
	    store_sched_first() != NULL, "after recovery: %zu parked",
	    store_parked_count());
}

static void
test_update_delete_sched(void)
{
	struct envelope	 e;
	struct qevp	*q;
	uint64_t	 a, b, syncs;
	time_t		 last;
	int		 n;

	fresh_spool();
	a = make_message(3, 1000);
	b = make_message(1, 500);
	CHECK(store_sync(done, NULL) == 2, "sync");

	/* Due order: b first (500), then a's three (1000) by idx. */
	q = store_sched_first();
	CHECK(q != NULL && q->msg->msgid == b, "first due is not b");
	for (n = 0, last = 0; q != NULL; q = store_sched_next(q), n++) {
		CHECK(q->nexttry >= last, "out of order");
		last = q->nexttry;
	}
	CHECK(n == 4, "%d scheduled", n);

	CHECK(store_envelope_load(a, 1, &e) == 0, "load");
	e.attempts = 2;
	e.lasttry = 1100;
	e.nexttry = 400;
	envelope_set_error(&e, "451 4.3.0 try later");
	CHECK(store_envelope_update(&e) == 0, "update: %s", strerror(errno));
	CHECK(store_sync_pending(), "update not pending");
	q = store_sched_first();
	CHECK(q != NULL && q->msg->msgid == a && q->idx == 1 &&
	    q->attempts == 2, "retimed envelope not first");
	syncs = store_stats()->syncs;
	CHECK(store_sync(done, NULL) == 0, "sync");
	CHECK(store_stats()->syncs - syncs == 1, "an update costs %llu syncs",
	    (unsigned long long)(store_stats()->syncs - syncs));

	/* Hold one, delete one. */
	store_sched_set(q, QEVP_INFLIGHT);
	CHECK(store_sched_first()->msg->msgid == b, "in-flight still due");
	CHECK(store_envelope_delete(a, 0) == 0, "delete");
	CHECK(store_envelope_delete(a, 0) == -1 && errno == ENOENT,
	    "deleted twice");
	CHECK(store_msg_find(a)->nlive == 2 && store_evp_count() == 3,
	    "counts after delete");
	CHECK(store_sync(done, NULL) == 0, "sync");

	CHECK(recover() == 0, "recover");
	CHECK(store_envelope_load(a, 1, &e) == 0 && e.attempts == 2 &&
	    e.nexttry == 400 && strcmp(e.error, "451 4.3.0 try later") == 0,
	    "update lost");
	CHECK(store_envelope_load(a, 0, &e) == -1, "deleted envelope back");
	CHECK(store_msg_find(a)->nlive == 2, "nlive %u",
	    store_msg_find(a)->nlive);
	CHECK(store_envelope_delete(a, 1) == 0 &&
	    store_envelope_delete(a, 2) == 0, "delete the rest");
	CHECK(store_msg_find(a) == NULL, "message outlived its envelopes");
	CHECK(recover() == 0 && store_msg_count() == 1, "after recovery");
}

/* A batch of results in one rewrite: updates and deletes together,
 * refused whole when one is wrong, the message gone with its last. */
static void
test_apply_batch(void)
{
	struct envelope	 e, repl[2];
	uint32_t	 del[3];
	uint64_t	 a;

	fresh_spool();
	a = make_message(6, 1000);
	CHECK(store_sync(done, NULL) == 1, "sync");

	CHECK(store_envelope_load(a, 1, &repl[0]) == 0 &&
	    store_envelope_load(a, 4, &repl[1]) == 0, "load");
	repl[0].attempts = repl[1].attempts = 3;
	repl[0].nexttry = 2000;
	repl[1].nexttry = 3000;
	envelope_set_error(&repl[0], "451 4.4.1 later");
	del[0] = 0;
	del[1] = 5;
	del[2] = 2;
	CHECK(store_envelopes_apply(a, repl, 2, del, 3) == 0, "apply: %s",
	    strerror(errno));
	CHECK(store_msg_find(a)->nlive == 3 && store_evp_count() == 3,
	    "counts %u %zu", store_msg_find(a)->nlive, store_evp_count());
	/* refused whole: a deleted one, one named twice, both ways */
	CHECK(store_envelopes_apply(a, NULL, 0, del, 1) == -1 &&
	    errno == ENOENT, "a deleted envelope again");
	del[0] = 3;
	del[1] = 3;
	CHECK(store_envelopes_apply(a, NULL, 0, del, 2) == -1 &&
	    errno == ENOENT, "one deleted twice");
	CHECK(store_envelopes_apply(a, repl, 1, (uint32_t[]){ 1 }, 1) ==
	    -1 && errno == ENOENT, "replaced and deleted");
	CHECK(store_msg_find(a)->nlive == 3, "changed by a refusal");
	CHECK(store_sync(done, NULL) == 0, "sync");

	CHECK(recover() == 0, "recover");
	CHECK(store_envelope_load(a, 1, &e) == 0 && e.attempts == 3 &&
	    e.nexttry == 2000 && strcmp(e.error, "451 4.4.1 later") == 0,
	    "update 1 lost");
	CHECK(store_envelope_load(a, 4, &e) == 0 && e.nexttry == 3000,
	    "update 4 lost");
	CHECK(store_envelope_load(a, 0, &e) == -1 &&
	    store_envelope_load(a, 2, &e) == -1 &&
	    store_envelope_load(a, 5, &e) == -1, "a deleted one is back");
	CHECK(store_envelope_load(a, 3, &e) == 0 && e.attempts == 0,
	    "an untouched one changed");
	CHECK(store_msg_find(a)->nlive == 3, "nlive %u after recovery",
	    store_msg_find(a)->nlive);
	/* the last three at once: the message goes */
	del[0] = 1;
	del[1] = 3;
	del[2] = 4;
	CHECK(store_envelopes_apply(a, NULL, 0, del, 3) == 0, "last ones");
	CHECK(store_msg_find(a) == NULL && store_msg_count() == 0,
	    "message outlived its envelopes");
	CHECK(recover() == 0 && store_msg_count() == 0, "back after recovery");
}

static void
test_corrupt(void)
{
	uint64_t	 a, b, c;
	char		 path[128];
	int		 fd;

	fresh_spool();
	a = make_message(1, 1);
	b = make_message(1, 1);
	c = make_message(1, 1);
	CHECK(store_sync(done, NULL) == 3, "sync");
	/* a: envelopes cut short; b: body shorter than recorded;
	 * c: fine, plus junk in a bucket. */
	(void)snprintf(path, sizeof(path), "queue/%02x/%016llx/envelopes",
	    (unsigned)(a & 0xff), (unsigned long long)a);
	CHECK(truncate(path, 100) == 0, "truncate");
	(void)snprintf(path, sizeof(path), "queue/%02x/%016llx/message",
	    (unsigned)(b & 0xff), (unsigned long long)b);
	CHECK(truncate(path, 3) == 0, "truncate");
	CHECK((fd = open("queue/00/junk", O_CREAT | O_WRONLY, 0600)) != -1,
	    "junk");
	close(fd);
	CHECK(recover() == 0, "recover");
	CHECK(store_msg_count() == 1 && message_whole(c, 1), "c lost");
	CHECK(store_stats()->corrupt == 3, "%llu corrupt",
	    (unsigned long long)store_stats()->corrupt);
	CHECK(count_entries("corrupt") == 3, "corrupt/ has %d",
	    count_entries("corrupt"));
	CHECK(count_entries("queue/00") == (int)((c & 0xff) == 0),
	    "junk left in queue/00");
}

/*
 * Crashes.  The child commits a batch of three messages (or updates,
 * or removes) and _exit()s at one step boundary; it tells the parent
 * the ids through a pipe first.
 */
static int	 crash_step, crash_nth, crash_seen;
/* Called between the crash and recovery, with the ids. */
static void	(*crash_then)(const uint64_t *);

static void
crash_hook(int step)
{
	if (step == crash_step && ++crash_seen == crash_nth)
		_exit(0);
}

enum crash_op { OP_COMMIT, OP_UPDATE, OP_REMOVE };

static void
crash_child(int wfd, enum crash_op op, uint64_t *ids)
{
	struct envelope	 e;

	store_close();
	if (store_init() == -1)
		_exit(3);
	crash_seen = 0;
	if (op == OP_COMMIT) {
		/* A crash while preparing leaves the parent no ids: it
		 * then checks that nothing at all was recovered. */
		store_test_step = crash_hook;
		ids[0] = make_message(2, 1);
		ids[1] = make_message(1, 1);
		ids[2] = make_message(3, 1);
		if (write(wfd, ids, 3 * sizeof(*ids)) != 3 * sizeof(*ids))
			_exit(3);
		(void)store_sync(done, NULL);
	} else if (op == OP_UPDATE) {
		if (store_envelope_load(ids[0], 1, &e) == -1)
			_exit(3);
		e.attempts = 9;
		store_test_step = crash_hook;
		(void)store_envelope_update(&e);
		(void)store_sync(done, NULL);
	} else {
		store_test_step = crash_hook;
		(void)store_remove(ids[0]);
	}
	_exit(crash_step == 0 ? 0 : 4);	/* step 0: crash after all */
}

static int
crash_run(enum crash_op op, int step, int nth, uint64_t *ids)
{
	pid_t	 pid;
	int	 p[2], status;

	if (pipe(p) == -1)
		return -1;
	fflush(stdout);
	crash_step = step;
	crash_nth = nth;
	if ((pid = fork()) == 0) {
		close(p[0]);
		crash_child(p[1], op, ids);
	}
	close(p[1]);
	if (op == OP_COMMIT &&
	    read(p[0], ids, 3 * sizeof(*ids)) != 3 * sizeof(*ids))
		ids[0] = ids[1] = ids[2] = 0;
	close(p[0]);
	if (pid == -1 || waitpid(pid, &status, 0) == -1)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	if (crash_then != NULL)
		crash_then(ids);
	return recover();
}

static void
test_crash_commit(void)
{
	/* two: the durable point is ahead of the ids, so the batch takes
	 * the two syncs; else the one (store_sync()). */
	static const struct {
		int	 two, step, nth;
		int	 want;		/* messages whole */
	} rows[] = {
		{ 1, STORE_STEP_PREPARED, 1, 0 },
		{ 1, STORE_STEP_PREPARED, 3, 0 },
		{ 1, STORE_STEP_DATA_SYNCED, 1, 0 },
		{ 1, STORE_STEP_RENAMED, 1, 1 },
		{ 1, STORE_STEP_RENAMED, 2, 2 },
		{ 1, STORE_STEP_RENAMED, 3, 3 },
		{ 1, STORE_STEP_NAMES_SYNCED, 1, 3 },
		{ 1, 0, 0, 3 },
		{ 0, STORE_STEP_PREPARED, 1, 0 },
		{ 0, STORE_STEP_PREPARED, 3, 0 },
		{ 0, STORE_STEP_RENAMED, 1, 1 },
		{ 0, STORE_STEP_RENAMED, 2, 2 },
		{ 0, STORE_STEP_RENAMED, 3, 3 },
		{ 0, STORE_STEP_NAMES_SYNCED, 1, 3 },
		{ 0, 0, 0, 3 },
	};
	static const int nrcpt[3] = { 2, 1, 3 };
	uint64_t	 ids[3];
	size_t		 i;
	int		 j, whole, absent;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fresh_spool();
		if (rows[i].two && durable_set(time(NULL) + 3600) == -1)
			CHECK(0, "row %zu: durable", i);
		if (crash_run(OP_COMMIT, rows[i].step, rows[i].nth, ids) == -1) {
			CHECK(0, "row %zu: child or recovery failed", i);
			continue;
		}
		whole = absent = 0;
		for (j = 0; j < 3; j++) {
			if (message_whole(ids[j], nrcpt[j]))
				whole++;
			else if (store_msg_find(ids[j]) == NULL)
				absent++;
		}
		CHECK(whole + absent == 3, "row %zu: a partial message", i);
		CHECK(store_msg_count() == (size_t)whole, "row %zu: %zu "
		    "messages recovered", i, store_msg_count());
		CHECK(whole == rows[i].want, "row %zu: %d whole, want %d", i,
		    whole, rows[i].want);
		CHECK(open_folders() == 0, "row %zu: %d folders open", i,
		    open_folders());
		CHECK(store_stats()->corrupt == 0, "row %zu: corrupt", i);
	}
}

static void
test_crash_update_remove(void)
{
	struct envelope	 e;
	uint64_t	 ids[3];
	char		 path[128];
	int		 i;
	static const struct {
		enum crash_op	 op;
		int		 step;
		int		 want;	/* attempts; -1: message gone */
		int		 nth;
		size_t		 freemax;	/* 0: no reuse */
		size_t		 trashmax;	/* 0: removal deletes */
	} rows[] = {
		{ OP_UPDATE, STORE_STEP_UPDATE_WRITTEN, 0, 1, STORE_FREE_MAX,
		    SIZE_MAX },
		{ OP_UPDATE, STORE_STEP_DATA_SYNCED, 0, 1, STORE_FREE_MAX,
		    SIZE_MAX },
		{ OP_UPDATE, STORE_STEP_UPDATE_RENAMED, 9, 1, STORE_FREE_MAX,
		    SIZE_MAX },
		{ OP_UPDATE, 0, 9, 1, STORE_FREE_MAX, SIZE_MAX },
		/* after the rename into free/ */
		{ OP_REMOVE, STORE_STEP_REMOVE, -1, 1, STORE_FREE_MAX,
		    SIZE_MAX },
		{ OP_REMOVE, 0, -1, 1, STORE_FREE_MAX, SIZE_MAX },
		/* free/ full: after the rename into free/ as trash */
		{ OP_REMOVE, STORE_STEP_REMOVE, -1, 1, 0, SIZE_MAX },
		{ OP_REMOVE, 0, -1, 1, 0, SIZE_MAX },
		/* no trash either: after the envelopes' unlink, the body's */
		{ OP_REMOVE, STORE_STEP_REMOVE, -1, 1, 0, 0 },
		{ OP_REMOVE, STORE_STEP_REMOVE, -1, 2, 0, 0 },
		{ OP_REMOVE, 0, -1, 1, 0, 0 },
	};

	for (i = 0; i < (int)(sizeof(rows) / sizeof(rows[0])); i++) {
		store_test_free_max(rows[i].freemax);
		store_test_trash_max = rows[i].trashmax;
		fresh_spool();
		ids[0] = make_message(2, 1);
		if (store_sync(done, NULL) != 1) {
			CHECK(0, "row %d: setup", i);
			continue;
		}
		if (crash_run(rows[i].op, rows[i].step, rows[i].nth,
		    ids) == -1) {
			CHECK(0, "row %d: child or recovery failed", i);
			continue;
		}
		if (rows[i].want == -1) {
			CHECK(store_msg_find(ids[0]) == NULL,
			    "row %d: removed message back", i);
			(void)snprintf(path, sizeof(path), "queue/%02x/%016llx",
			    (unsigned)(ids[0] & 0xff),
			    (unsigned long long)ids[0]);
			CHECK(access(path, F_OK) == -1 &&
			    count_entries("corrupt") == 0,
			    "row %d: leftovers", i);
			/* kept: the folder with its files emptied */
			(void)snprintf(path, sizeof(path), "free/%016llx/"
			    "message", (unsigned long long)ids[0]);
			CHECK(!rows[i].freemax || file_cleared(path),
			    "row %d: the body in free/", i);
			(void)snprintf(path, sizeof(path), "free/%016llx/"
			    "envelopes", (unsigned long long)ids[0]);
			CHECK(!rows[i].freemax || file_cleared(path),
			    "row %d: the envelopes in free/", i);
			CHECK(count_entries("free") == (rows[i].freemax ||
			    rows[i].trashmax ? 1 : 0),
			    "row %d: free/ has %d", i, count_entries("free"));
			/* trash, whole or not: deleted by a trim */
			CHECK(store_trash_count() == (!rows[i].freemax &&
			    rows[i].trashmax ? 1 : 0), "row %d: trash %zu", i,
			    store_trash_count());
			CHECK(store_trim(1000) == 0 && count_entries("free") ==
			    (rows[i].freemax ? 1 : 0), "row %d: trimmed, free/ "
			    "has %d", i, count_entries("free"));
			(void)snprintf(path, sizeof(path), "free/%016llx",
			    (unsigned long long)ids[0]);
			CHECK(rows[i].freemax || access(path, F_OK) == -1,
			    "row %d: the folder left in free/", i);
			continue;
		}
		CHECK(message_whole(ids[0], 2), "row %d: not whole", i);
		CHECK(store_envelope_load(ids[0], 1, &e) == 0 &&
		    (int)e.attempts == rows[i].want, "row %d: attempts %u "
		    "want %d", i, e.attempts, rows[i].want);
	}
	store_test_free_max(STORE_FREE_MAX);
	store_test_trash_max = SIZE_MAX;
}

static void
test_recover_10000(void)
{
	struct timespec	 t0, t1;
	uint64_t	 syncs;
	int		 i, j, committed = 0;
	double		 ms;

	fresh_spool();
	syncs = store_stats()->syncs;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 20; i++) {
		for (j = 0; j < 500; j++)
			if (make_message(1, 1700000000 + j) == 0)
				break;
		committed += store_sync(done, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("     10000 commits in %.0f ms with %llu syncs\n", ms,
	    (unsigned long long)(store_stats()->syncs - syncs));
	CHECK(committed == 10000, "%d committed", committed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(recover() == 0, "recover");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("     10000 messages recovered in %.0f ms\n", ms);
	CHECK(store_msg_count() == 10000 && store_evp_count() == 10000,
	    "%zu recovered", store_msg_count());
	CHECK(store_stats()->corrupt == 0, "corrupt");
}

/*
 * The queue process's side of queue_imsg.h, with the process model
 * replaced by a socketpair: these stand in for smtpd/proc.c (which is
 * then not linked in).
 */
static proc_dispatch	 qdispatch;
static proc_peer_hook	 qpeer_closed;
static struct ipc	 qside, tside;

void
proc_set_dispatch(proc_dispatch fn)
{
	qdispatch = fn;
}

void
proc_set_conf(proc_conf_hook fn)
{
	(void)fn;
}

void
proc_set_peer_closed(proc_peer_hook fn)
{
	qpeer_closed = fn;
}

struct ipc *
proc_channel(enum proc_id id)
{
	return id == PROC_SMTP ? &qside : NULL;
}

const char *
proc_name(enum proc_id id)
{
	return id == PROC_SMTP ? "smtp" : "other";
}

/* Deliver what the test side queued to the queue's dispatcher. */
static void
pump(pid_t pid)
{
	struct ipc_msg	 m;

	(void)ipc_flush(&tside);
	while (ipc_read(&qside) > 0) {
		while (ipc_get(&qside, &m) == 1) {
			if (pid != 0)
				m.hdr.pid = pid;
			qdispatch(PROC_SMTP, &m);
			if (m.fd != -1)
				close(m.fd);
		}
		if (ipc_read(&qside) <= 0)
			break;
	}
	(void)ipc_flush(&qside);
}

struct reply {
	uint32_t	 type, peerid;
	uint64_t	 msgid;
	int		 fd;
	char		 reason[256];
};

static int
next_reply(struct reply *r)
{
	struct ipc_msg	 m;
	const char	*s;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (ipc_get(&tside, &m) != 1) {
		if (ipc_read(&tside) <= 0 || ipc_get(&tside, &m) != 1)
			return 0;
	}
	r->type = m.hdr.type;
	r->peerid = m.hdr.peerid;
	r->fd = m.fd;
	if (r->type != IMSG_QUEUE_CREATE_FAIL)
		r->msgid = ipc_get_u64(&m);
	if (r->type == IMSG_QUEUE_CREATE_FAIL ||
	    r->type == IMSG_QUEUE_COMMIT_FAIL) {
		s = ipc_get_string(&m);
		(void)strlcpy(r->reason, s ? s : "(null)", sizeof(r->reason));
	}
	ipc_end(&m);
	return 1;
}

static void
send_simple(uint32_t type, uint32_t peerid, uint64_t msgid, int withsize,
    uint64_t size)
{
	struct ipc_obuf	*b;

	b = ipc_create(&tside, type, peerid, -1);
	if (type != IMSG_QUEUE_CREATE_REQ)
		ipc_add_u64(b, msgid);
	if (withsize)
		ipc_add_u64(b, size);
	(void)ipc_close(b);
}

static void
send_envelope(uint32_t peerid, uint64_t msgid, uint32_t idx)
{
	struct ipc_obuf	*b;
	struct envelope	 e;

	mkevp(&e, 0, idx, 0);
	b = ipc_create(&tside, IMSG_QUEUE_ENVELOPE, peerid, -1);
	ipc_add_u64(b, msgid);
	envelope_add(b, &e);
	(void)ipc_close(b);
}

/* CREATE_REQ for sessions first..first+n-1; their msgids, bodies
 * written. */
static int
open_sessions(uint32_t first, int n, uint64_t *ids, pid_t pid)
{
	struct reply	 r;
	int		 i, ok = 0;

	for (i = 0; i < n; i++)
		send_simple(IMSG_QUEUE_CREATE_REQ, first + i, 0, 0, 0);
	pump(pid);
	for (i = 0; i < n && next_reply(&r); i++) {
		if (r.type != IMSG_QUEUE_CREATE_OK || r.peerid != first + i ||
		    r.fd == -1)
			continue;
		if (write(r.fd, body, sizeof(body) - 1) == sizeof(body) - 1)
			ok++;
		close(r.fd);
		ids[i] = r.msgid;
	}
	return ok;
}

static void
test_queue_process(void)
{
	struct reply	 r;
	uint64_t	 ids[20], syncs;
	int		 sp[2], i, n;

	fresh_spool();
	store_close();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1)
		return;
	ipc_init(&qside, sp[0], "smtp");
	ipc_init(&tside, sp[1], "queue");
	queue();
	CHECK(qdispatch != NULL, "no dispatcher");

	/* One message, two recipients. */
	CHECK(open_sessions(1, 1, ids, 0) == 1, "create");
	send_envelope(1, ids[0], 0);
	send_envelope(1, ids[0], 1);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 1, ids[0], 1, sizeof(body) - 1);
	pump(0);
	CHECK(!next_reply(&r), "answered before the sync");
	syncs = store_stats()->syncs;
	(void)event_loop(EVLOOP_NONBLOCK);
	(void)ipc_flush(&qside);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_OK &&
	    r.msgid == ids[0] && r.peerid == 1, "commit: type %x", r.type);
	CHECK(store_stats()->syncs - syncs == 1, "syncs");
	CHECK(message_whole(ids[0], 2), "not whole");

	/* Group commit: 20 sessions, one batch. */
	CHECK(open_sessions(100, 20, ids, 0) == 20, "create 20");
	for (i = 0; i < 20; i++) {
		send_envelope(100 + i, ids[i], 0);
		send_simple(IMSG_QUEUE_COMMIT_REQ, 100 + i, ids[i], 1,
		    sizeof(body) - 1);
	}
	pump(0);
	syncs = store_stats()->syncs;
	(void)event_loop(EVLOOP_NONBLOCK);
	(void)ipc_flush(&qside);
	for (n = 0; next_reply(&r); )
		n += r.type == IMSG_QUEUE_COMMIT_OK;
	CHECK(n == 20, "%d of 20 committed", n);
	CHECK(store_stats()->syncs - syncs == 1, "%llu syncs for 20",
	    (unsigned long long)(store_stats()->syncs - syncs));

	/* Failures are answered, and leave nothing behind. */
	CHECK(open_sessions(200, 4, ids, 0) == 4, "create 4");
	send_envelope(200, ids[0], 0);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 200, ids[0], 1, 3);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 201, ids[1], 1, sizeof(body) - 1);
	for (i = 0; i <= STORE_MAX_RCPTS; i++) {
		send_envelope(202, ids[2], i);
		if (i % 50 == 0)
			pump(0);
	}
	send_simple(IMSG_QUEUE_COMMIT_REQ, 202, ids[2], 1, sizeof(body) - 1);
	send_simple(IMSG_QUEUE_ROLLBACK, 203, ids[3], 0, 0);
	send_simple(IMSG_QUEUE_ROLLBACK, 203, ids[3], 0, 0);
	pump(0);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_FAIL &&
	    r.peerid == 200 && strstr(r.reason, "not 3 bytes") != NULL,
	    "size: %s", r.reason);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_FAIL &&
	    r.peerid == 201 && strcmp(r.reason, "cannot commit: no recipients")
	    == 0, "none: %s", r.reason);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_FAIL &&
	    r.peerid == 202 && strstr(r.reason, "too many") != NULL,
	    "many: %s", r.reason);
	CHECK(!next_reply(&r), "rollback answered");
	/* A session that began its message with the queue before a
	 * restart: its envelopes are dropped and its commit fails, and
	 * the queue goes on. */
	send_envelope(204, 0x1234567800000001ULL, 0);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 204, 0x1234567800000001ULL, 1,
	    sizeof(body) - 1);
	pump(0);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_FAIL &&
	    r.peerid == 204 && r.msgid == 0x1234567800000001ULL &&
	    strstr(r.reason, "unknown message") != NULL,
	    "unknown: %s", r.reason);
	CHECK(!next_reply(&r), "more answers");
	/* An old id that is now another session's: that transaction is
	 * left alone, the stale session's commit fails. */
	CHECK(open_sessions(205, 1, ids, 0) == 1, "create for 205");
	send_envelope(206, ids[0], 0);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 206, ids[0], 1, sizeof(body) - 1);
	send_simple(IMSG_QUEUE_ROLLBACK, 206, ids[0], 0, 0);
	pump(0);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_FAIL &&
	    r.peerid == 206 && r.msgid == ids[0], "stale session: %s",
	    r.reason);
	send_envelope(205, ids[0], 0);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 205, ids[0], 1, sizeof(body) - 1);
	pump(0);
	(void)event_loop(EVLOOP_NONBLOCK);
	(void)ipc_flush(&qside);
	CHECK(next_reply(&r) && r.type == IMSG_QUEUE_COMMIT_OK &&
	    r.peerid == 205 && r.msgid == ids[0], "owner: type %x %s",
	    r.type, r.reason);
	CHECK(message_whole(ids[0], 1), "the owner's message is not whole");
	CHECK(open_folders() == 0, "%d folders open", open_folders());

	/* The front end's channel closes: its transactions go; one
	 * being committed completes and is answered to nobody. */
	CHECK(open_sessions(300, 3, ids, 0) == 3, "create 3");
	CHECK(open_folders() == 3, "%d folders open", open_folders());
	send_envelope(302, ids[2], 0);
	send_simple(IMSG_QUEUE_COMMIT_REQ, 302, ids[2], 1, sizeof(body) - 1);
	pump(0);
	CHECK(qpeer_closed != NULL, "no peer-closed hook");
	if (qpeer_closed != NULL)
		qpeer_closed(PROC_SMTP);
	CHECK(open_folders() == 1, "%d folders open after the front end "
	    "went away", open_folders());
	(void)event_loop(EVLOOP_NONBLOCK);
	(void)ipc_flush(&qside);
	CHECK(!next_reply(&r), "an orphan commit was answered");
	CHECK(message_whole(ids[2], 1), "the orphan commit is not whole");

	ipc_clear(&qside);
	ipc_clear(&tside);
}

static void
cleanup(void)
{
	char	 cmd[128];

	if (chdir("/") == 0) {
		(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", topdir);
		(void)system(cmd);
	}
}

/* Zero a file's bytes from off on, keeping its size: what a block the
 * disk never got reads as (an unwritten extent). */
static int
zero_file(const char *path, off_t off)
{
	struct stat	 st;
	char		 z[4096];
	int		 fd, r = 0;

	memset(z, 0, sizeof(z));
	if ((fd = open(path, O_WRONLY)) == -1 || fstat(fd, &st) == -1)
		return -1;
	for (; off < st.st_size && r == 0; off += sizeof(z))
		if (pwrite(fd, z, (size_t)(st.st_size - off) < sizeof(z) ?
		    (size_t)(st.st_size - off) : sizeof(z), off) == -1)
			r = -1;
	close(fd);
	return r;
}

static void
qpath(char *buf, size_t len, uint64_t id, const char *file)
{
	(void)snprintf(buf, len, "queue/%02x/%016llx/%s",
	    (unsigned)(id & 0xff), (unsigned long long)id, file);
}

/* A power cut after the renames of a one-sync batch, before its sync:
 * the folders are under queue/, some blocks never written. */
static void
tear(const uint64_t *ids)
{
	char	 path[128];

	qpath(path, sizeof(path), ids[0], "message");
	if (zero_file(path, 10) == -1)
		printf("tear: %s: %s\n", path, strerror(errno));
	qpath(path, sizeof(path), ids[1], "envelopes");
	if (zero_file(path, 0) == -1)
		printf("tear: %s: %s\n", path, strerror(errno));
}

static void
test_torn_commit(void)
{
	static const int nrcpt[3] = { 2, 1, 3 };
	uint64_t	 ids[3];

	fresh_spool();
	crash_then = tear;
	if (crash_run(OP_COMMIT, STORE_STEP_RENAMED, 3, ids) == -1) {
		crash_then = NULL;
		CHECK(0, "child or recovery failed");
		return;
	}
	crash_then = NULL;
	CHECK(store_msg_find(ids[0]) == NULL, "a torn body recovered");
	CHECK(store_msg_find(ids[1]) == NULL, "torn envelopes recovered");
	CHECK(message_whole(ids[2], nrcpt[2]), "the whole one lost");
	CHECK(store_msg_count() == 1, "%zu recovered", store_msg_count());
	CHECK(store_stats()->corrupt == 2 && count_entries("corrupt") == 2,
	    "%llu corrupt, %d in corrupt/",
	    (unsigned long long)store_stats()->corrupt,
	    count_entries("corrupt"));
	/* The bodies of ids[0] and ids[2] were read; ids[1]'s envelopes
	 * failed first. */
	CHECK(store_stats()->verified == 2, "%llu bodies read",
	    (unsigned long long)store_stats()->verified);
}


/*
 * The durable point is written after syncs; recovery reads the bodies
 * of messages from it on, and of all when it is missing or unreadable.
 */
static void
test_durable_point(void)
{
	uint64_t	 ids[4];
	uint32_t	 t, t0, lo, hi;
	struct stat	 st;
	char		 path[128];
	FILE		*f;
	int		 i;

	t0 = (uint32_t)time(NULL);
	fresh_spool();
	CHECK(durable_get(&t) == 0 && t >= t0 && t <= (uint32_t)time(NULL),
	    "after start: %08x, started %08x", t, t0);
	for (i = 0; i < 4; i++)
		ids[i] = make_message(1, 1700000000);
	CHECK(store_sync(done, NULL) == 4, "committed");
	CHECK(durable_get(&t) == 0 && t >= t0 && t <= (uint32_t)time(NULL),
	    "after a sync: %08x", t);
	lo = hi = (uint32_t)(ids[0] >> 32);
	for (i = 1; i < 4; i++) {
		if ((uint32_t)(ids[i] >> 32) < lo)
			lo = (uint32_t)(ids[i] >> 32);
		if ((uint32_t)(ids[i] >> 32) > hi)
			hi = (uint32_t)(ids[i] >> 32);
	}

	/* Ids from the point on are read. */
	store_close();
	CHECK(durable_set(lo) == 0, "durable");
	CHECK(store_init() == 0 && store_stats()->verified == 4, "%llu read "
	    "with ids from the point on", (unsigned long long)
	    store_stats()->verified);

	/* Ids before the point are not read: a body zeroed there is not
	 * seen (the point says it was on disk whole). */
	store_close();
	CHECK(durable_set((time_t)hi + 1) == 0, "durable");
	qpath(path, sizeof(path), ids[0], "message");
	CHECK(zero_file(path, 0) == 0, "zero");
	CHECK(store_init() == 0 && store_stats()->verified == 0 &&
	    store_msg_count() == 4, "%llu read, %zu recovered, ids before "
	    "the point", (unsigned long long)store_stats()->verified,
	    store_msg_count());

	/* Unreadable or missing: every body is read. */
	store_close();
	CHECK(durable_spoil((time_t)hi + 1, "x", 3) == 0, "garble");
	CHECK(store_init() == 0 && store_stats()->verified == 4 &&
	    store_msg_count() == 3 && store_stats()->corrupt == 1,
	    "garbled point: %llu read, %zu recovered",
	    (unsigned long long)store_stats()->verified, store_msg_count());
	CHECK(durable_get(&t) == 0 && t >= t0, "no point written after the "
	    "garbled one");
	store_close();
	CHECK(unlink("durable") == 0, "unlink");
	CHECK(store_init() == 0 && store_stats()->verified == 3 &&
	    store_msg_count() == 3, "no point: %llu read",
	    (unsigned long long)store_stats()->verified);
	/* A point whose check differs is no point. */
	store_close();
	CHECK(durable_spoil((time_t)hi + 1, "00000000", 9) == 0, "check");
	CHECK(store_init() == 0 && store_stats()->verified == 3,
	    "point with a wrong check: %llu read",
	    (unsigned long long)store_stats()->verified);
	/* Longer than a point: cut, and the next point reads back. */
	store_close();
	if ((f = fopen("durable", "w")) != NULL) {
		fputs("00000000 00000000\n00000000 00000000\n", f);
		fclose(f);
	}
	CHECK(store_init() == 0 && store_stats()->verified == 3,
	    "overlong point: %llu read",
	    (unsigned long long)store_stats()->verified);
	CHECK(durable_get(&t) == 0 && t >= t0 && stat("durable", &st) == 0 &&
	    st.st_size == 18, "no point alone after the overlong one: %lld "
	    "bytes", (long long)st.st_size);
}

/* Envelopes written before the checks (version 1) are still read, and
 * an update of such a message writes the checks. */
static void
test_version_1(void)
{
	uint64_t	 id;
	char		 path[128], *buf, *p;
	FILE		*f;
	long		 len;

	fresh_spool();
	id = make_message(2, 1700000000);
	CHECK(store_sync(done, NULL) == 1, "committed");
	store_close();
	qpath(path, sizeof(path), id, "envelopes");
	if ((f = fopen(path, "r+")) == NULL) {
		CHECK(0, "%s", path);
		return;
	}
	(void)fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	if ((buf = calloc(1, len + 1)) == NULL ||
	    fread(buf, 1, len, f) != (size_t)len)
		abort();
	/* "queue: 2\ncheck: x\nmsgid..size\nbody: x\n..." -> version 1 */
	CHECK(strncmp(buf, "queue: 2\ncheck: ", 16) == 0, "header: %.20s",
	    buf);
	memmove(buf + 9, buf + 25, len - 25 + 1);
	len -= 16;
	buf[7] = '1';
	CHECK((p = strstr(buf, "body: ")) != NULL, "no body line");
	if (p != NULL) {
		memmove(p, p + 15, len - (p + 15 - buf) + 1);
		len -= 15;
	}
	rewind(f);
	if (ftruncate(fileno(f), 0) == -1 ||
	    fwrite(buf, 1, len, f) != (size_t)len)
		abort();
	fclose(f);
	free(buf);
	CHECK(unlink("durable") == 0, "unlink");
	CHECK(store_init() == 0 && message_whole(id, 2) &&
	    store_stats()->corrupt == 0, "version 1 not read");
	CHECK(store_stats()->verified == 0, "a version 1 body checked");
	CHECK(store_envelope_delete(id, 0) == 0 &&
	    store_sync(done, NULL) == 0, "update");
	store_close();
	CHECK(unlink("durable") == 0, "unlink");
	CHECK(store_init() == 0 && store_msg_count() == 1 &&
	    store_stats()->corrupt == 0 && store_stats()->verified == 1,
	    "the update's body check: %llu corrupt",
	    (unsigned long long)store_stats()->corrupt);
}

/* A one-sync batch whose sync is done elsewhere (the queue's thread):
 * the store goes on meanwhile, and the batch is answered at the end. */
static void
test_sync_in_flight(void)
{
	const struct store_stats *st;
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };
	uint64_t	 ids[4], u, syncs;
	uint32_t	 t, t2;
	char		 path[128];
	int		 i, whole = 0;

	fresh_spool();
	st = store_stats();
	u = make_message(2, 1700000000);
	CHECK(store_sync(done, NULL) == 1, "first");
	for (i = 0; i < 3; i++)
		ids[i] = make_message(1, 1700000000);
	ndone = nfailed = 0;
	CHECK(store_sync_begin(done, NULL) == 1, "begin");
	CHECK(!store_sync_pending() && open_folders() == 0 &&
	    store_test_folder(ids[0]) == NULL, "not renamed");
	CHECK(store_msg_find(ids[0]) == NULL && ndone == 0,
	    "answered before the sync");
	/* meanwhile: a new commit and an update wait for the next batch */
	ids[3] = make_message(1, 1700000000);
	CHECK(store_envelope_delete(u, 1) == 0, "update");
	CHECK(store_sync_begin(done, NULL) == 0, "a second batch in flight");
	CHECK(!store_sync_pending(), "pending with a batch in flight");
	CHECK(store_sync(done, NULL) == 0 && ndone == 0,
	    "store_sync() with a batch in flight");
	CHECK(store_sync_end(store_sync_io(), done, NULL) == 3 &&
	    ndone == 3 && nfailed == 0, "end: %d done", ndone);
	for (i = 0; i < 3; i++)
		whole += message_whole(ids[i], 1);
	CHECK(whole == 3, "%d whole", whole);
	CHECK(store_sync_pending() && store_msg_find(ids[3]) == NULL,
	    "the next batch");
	/* with an update it takes two syncs, and no thread */
	CHECK(store_sync_begin(done, NULL) == 0, "begun with an update");
	syncs = st->syncs;
	CHECK(store_sync(done, NULL) == 1 && st->syncs - syncs == 2,
	    "next batch: %llu syncs", (unsigned long long)(st->syncs - syncs));
	CHECK(recover() == 0 && store_msg_count() == 5 &&
	    message_whole(u, 1) && message_whole(ids[3], 1), "recovered");

	/* A failed sync takes the batch back: nothing is left of it. */
	ids[0] = make_message(1, 1700000000);
	ids[1] = make_message(2, 1700000000);
	ndone = nfailed = 0;
	CHECK(store_sync_begin(done, NULL) == 1, "begin");
	CHECK(store_sync_end(EIO, done, NULL) == 0 && nfailed == 2 &&
	    ndone == 0, "failed: %d", nfailed);
	for (i = 0; i < 2; i++) {
		qpath(path, sizeof(path), ids[i], "");
		CHECK(access(path, F_OK) == -1 && errno == ENOENT,
		    "%s left", path);
		CHECK(store_msg_find(ids[i]) == NULL, "indexed");
	}
	/* What that sync wrote may or may not be on disk: the durable
	 * point stays where it was, even once the clock has moved on and
	 * a later sync succeeds, until a restart. */
	CHECK(durable_get(&t) == 0, "durable");
	for (i = 0; i < 60 && (uint32_t)time(NULL) <= t; i++)
		(void)nanosleep(&ts, NULL);
	CHECK((uint32_t)time(NULL) > t, "the clock did not move");
	(void)make_message(1, 1700000000);
	CHECK(store_sync(done, NULL) == 1, "after the failure");
	CHECK(durable_get(&t2) == 0 && t2 == t, "the point moved after a "
	    "failed sync: %08x -> %08x", t, t2);
	CHECK(recover() == 0 && store_msg_count() == 6 &&
	    store_stats()->corrupt == 0, "after a failed sync: %zu",
	    store_msg_count());
	CHECK(durable_get(&t2) == 0 && t2 > t, "not moved after a restart");
}

int
main(void)
{
	int	 devnull;

	log_init(1, 0);
	log_procname("test");
	/* The store logs what recovery finds; the tests check it. */
	if ((devnull = open("/dev/null", O_WRONLY)) != -1)
		dup2(devnull, STDERR_FILENO);
	event_init();
	if (mkdtemp(topdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	RUN(test_commit_recover);
	RUN(test_uncommitted_removed);
	RUN(test_rollback_and_checks);
	RUN(test_group_commit);
	RUN(test_per_file_sync);
	RUN(test_per_file_sync_names);
	RUN(test_ids_unique_while_syncing);
	RUN(test_first_sync_fails);
	RUN(test_batch_rename_fails_for_one);
	RUN(test_create_drops_a_vanished_pool_folder);
	RUN(test_create_fails_keeps_pool);
	RUN(test_remove);
	RUN(test_recycle);
	RUN(test_pool_order);
	RUN(test_reuse_body);
	RUN(test_park);
	RUN(test_state_counts);
	RUN(test_update_delete_sched);
	RUN(test_apply_batch);
	RUN(test_corrupt);
	RUN(test_crash_commit);
	RUN(test_crash_update_remove);
	RUN(test_torn_commit);
	RUN(test_durable_point);
	RUN(test_version_1);
	RUN(test_sync_in_flight);
	RUN(test_recover_10000);
	RUN(test_queue_process);
	cleanup();
	return unit_done();
}
