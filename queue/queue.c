/*
 * Portcullis: the queue process: the durable spool (queue_store.c),
 * the queue side of queue_imsg.h, delivery_imsg.h and mailbox_imsg.h,
 * group commit.
 * Scheduling, retries and bounces are scheduler.c's; DSNs dsn.c's.
 *
 * Transactions.  CREATE_REQ creates the message's body (in a folder of
 * free/: queue_store.c) and hands the front end a descriptor; ENVELOPE
 * frames are collected per msgid; COMMIT_REQ routes each envelope
 * (scheduler_route(): its dest from the accept rules), writes the
 * envelopes and joins the next batch.
 *
 * Group commit.  When a commit arrives and no sync is scheduled, a
 * zero-delay timer is armed: libevent runs timers after it has polled
 * and dispatched every readable channel, so the commits already in the
 * socket buffers join the batch.  The store then makes the whole batch
 * durable (one syncfs(), two with updates or an old message, whatever
 * its size: queue_store.c) and COMMIT_OK goes out for each message.  A
 * batch of one syncfs() has it done by the sync thread (sync_thread()),
 * and the queue goes on meanwhile; commits that arrive then form the
 * next batch.  A batch of two is synced in line, and what arrives
 * meanwhile waits in the socket buffers.  No per-message process,
 * thread or fsync.  The scheduler's writes (DSNs, envelope updates)
 * join the same batches (queue_sync_request()), and every sync is
 * followed by a scheduling pass: new mail goes out at once.
 *
 * Bounds.  The front end is trusted but a bug there must not exhaust
 * us.  A malformed frame, an unknown msgid or a frame out of sequence
 * is fatal (our own process speaks nonsense).  Beyond the bounds the
 * queue answers instead: at most QUEUE_MAX_TX open transactions (then
 * CREATE_FAIL), at most STORE_MAX_RCPTS envelopes in one and
 * QUEUE_MAX_EVPS buffered in all (then the envelopes are dropped and
 * the commit gets COMMIT_FAIL), so one runaway session cannot take the
 * queue, and every other session's mail, down with it.
 *
 * When the front end's channel closes (proc_set_peer_closed()) its
 * open transactions are rolled back.  Commits already in a batch
 * complete: the message is delivered though the client saw no 250
 * (at-least-once), and nobody is told.  When the channel of delivery
 * or of the mailbox process closes, what it had in flight goes back to
 * the schedule.
 */
#include <sys/types.h>
#include <sys/time.h>
#include <sys/tree.h>

#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "config.h"
#include "queue_imsg.h"
#include "delivery_imsg.h"
#include "envelope.h"
#include "envelope_io.h"
#include "mailaddr.h"
#include "queue_store.h"
#include "scheduler.h"
#include "queue_control.h"

#define QUEUE_MAX_TX	16384		/* open transactions */
#define QUEUE_MAX_EVPS	65536		/* envelopes buffered, all tx */

enum tx_state {
	TX_OPEN,		/* body being written, envelopes arriving */
	TX_COMMITTING		/* in the batch of the next store_sync() */
};

struct qtx {
	RB_ENTRY(qtx)	 entry;
	uint64_t	 msgid;
	uint32_t	 peerid;	/* the front end's session */
	int		 orphan;	/* its front end is gone */
	enum tx_state	 state;
	const char	*fail;		/* a bound was hit: COMMIT_FAIL */
	uint64_t	 size;
	size_t		 nrcpt;
	struct envelope	*evp;
	size_t		 nevp, cap;
	char		 sender[MAILADDR_STRSIZE];
};

RB_HEAD(qtx_tree, qtx);

static int	 qtx_cmp(struct qtx *, struct qtx *);
RB_PROTOTYPE(qtx_tree, qtx, entry, qtx_cmp);
RB_GENERATE(qtx_tree, qtx, entry, qtx_cmp);

static struct qtx_tree	 txs = RB_INITIALIZER(&txs);
static size_t		 ntx_open, nevp_buffered;
static struct event	 ev_sync;
static int		 sync_scheduled;
/* The sync thread (queue_init()): its end of a socketpair, and the
 * event on ours.  While it syncs a batch, store_sync_pending() is 0. */
static int		 syncsock[2] = { -1, -1 };
static struct event	 ev_synced;
static struct event	 ev_trim;
static int		 trim_scheduled, queue_busy;
static struct config	*queue_conf;

static void	 queue_imsg(enum proc_id, struct ipc_msg *);
static void	 queue_create(struct ipc_msg *);
static void	 queue_envelope(struct ipc_msg *);
static void	 queue_commit(struct ipc_msg *);
static void	 queue_rollback(struct ipc_msg *);
static void	 queue_sync(int, short, void *);
static void	 queue_synced(int, short, void *);
static void	 queue_dispatch(enum proc_id, struct ipc_msg *);
static void	 queue_trim_request(void);
static void	 queue_trim(int, short, void *);
static void	 queue_committed(uint64_t, int, void *);
static void	 queue_config(struct config *);
static void	 queue_peer_closed(enum proc_id);
static void	 queue_frontend_gone(void);
static void	 tx_free(struct qtx *);
static void	 tx_drop_envelopes(struct qtx *, const char *);
static struct qtx *tx_find(struct ipc_msg *, uint64_t);
static void	 reply_fail(uint32_t, uint32_t, uint64_t, int, const char *);

static int
qtx_cmp(struct qtx *a, struct qtx *b)
{
	if (a->msgid != b->msgid)
		return a->msgid < b->msgid ? -1 : 1;
	return 0;
}

/*
 * The sync thread.  A batch that takes one sync (queue_store.c) is
 * renamed in place and its syncfs() is done here, so that the queue
 * goes on meanwhile: deliveries end and start, removals and commits
 * for the next batch are made.  On the development machine the queue
 * spent half of its time in syncfs() when it relayed at 50 sessions,
 * and dispatched nothing in that time.  The thread does nothing but
 * sync: it takes a byte, calls store_sync_io() and answers the errno.
 * It is started before the sandbox, which covers it too (TSYNC).  Only
 * where there is syncfs(): elsewhere every batch takes two syncs.
 */
#ifdef __linux__
static void *
sync_thread(void *arg)
{
	char	 c;
	ssize_t	 n;
	int	 err;

	(void)arg;
	c = 1;
	if (write(syncsock[1], &c, 1) != 1) {	/* started */
		close(syncsock[1]);
		return NULL;
	}
	for (;;) {
		n = read(syncsock[1], &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n != 1)
			break;
		err = store_sync_io();
		do
			n = write(syncsock[1], &err, sizeof(err));
		while (n == -1 && errno == EINTR);
		if (n != sizeof(err))
			break;
	}
	/* The queue sees the end of its socket and stops (queue_synced()). */
	close(syncsock[1]);
	return NULL;
}

void
queue_init(void)
{
	pthread_t	 t;
	sigset_t	 all, old;
	char		 c;
	ssize_t		 n;
	int		 rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    syncsock) == -1) {
		log_warn("queue: sync thread: socketpair");
		return;
	}
	/* Signals are the main thread's. */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, NULL, sync_thread, NULL);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("queue: sync thread: %s", strerror(rc));
		close(syncsock[0]);
		close(syncsock[1]);
		syncsock[0] = syncsock[1] = -1;
		return;
	}
	(void)pthread_detach(t);
	/* Its start-up calls are behind it before the sandbox. */
	do
		n = read(syncsock[0], &c, 1);
	while (n == -1 && errno == EINTR);
	if (n != 1)
		fatalx("queue: the sync thread did not start");
}
#else
void
queue_init(void)
{
}
#endif

void
queue(void)
{
	struct timespec	 t0, t1;
	const struct store_stats *st;
	long long	 ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (store_init() == -1)
		fatalx("cannot set up the spool");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000LL +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	st = store_stats();
	log_info("queue event=recover messages=%zu envelopes=%zu "
	    "removed-incoming=%llu corrupt=%llu time=%lldms",
	    store_msg_count(), store_evp_count(),
	    (unsigned long long)st->removed_incoming,
	    (unsigned long long)st->corrupt, ms);

	evtimer_set(&ev_sync, queue_sync, NULL);
	if (syncsock[0] != -1) {
		event_set(&ev_synced, syncsock[0], EV_READ | EV_PERSIST,
		    queue_synced, NULL);
		event_add(&ev_synced, NULL);
	}
	evtimer_set(&ev_trim, queue_trim, NULL);
	queue_trim_request();
	scheduler_init();
	proc_set_dispatch(queue_imsg);
	proc_set_conf(queue_config);
	proc_set_peer_closed(queue_peer_closed);
	/* What was recovered goes out as soon as the config is here. */
	scheduler_kick();
}

static void
queue_config(struct config *conf)
{
	/* The scheduler drops its pointer before the old one goes. */
	scheduler_conf(conf);
	config_free(queue_conf);
	queue_conf = conf;
	log_debug("queue: configuration: retry steps %d, warn-after %llds, "
	    "bounce-after %llds, deliveries %d per-domain %d",
	    conf->queue.nretry, (long long)conf->queue.warn_after,
	    (long long)conf->queue.bounce_after, conf->queue.deliveries,
	    conf->queue.per_domain);
}

static void
queue_peer_closed(enum proc_id id)
{
	if (id == PROC_SMTP)
		queue_frontend_gone();
	else if (id == PROC_DELIVERY)
		scheduler_delivery_gone();
	else if (id == PROC_CONTROL)
		queue_control_gone();
	else if (id == PROC_MAILBOX)
		scheduler_mailbox_gone();
}

void
queue_sync_request(void)
{
	struct timeval	 tv = { 0, 0 };

	if (!sync_scheduled && store_sync_pending()) {
		evtimer_add(&ev_sync, &tv);
		sync_scheduled = 1;
	}
	queue_trim_request();
}

/*
 * Removed folders past the free/ pool wait as trash (queue_store.c):
 * delete them TRIM_MS at a time, every TRIM_BUSY_MS while messages come
 * and go, every TRIM_IDLE_MS once the queue has had nothing else to do
 * since the last pass.  A busy queue gives a tenth of its time to it,
 * an idle one half.
 */
#define TRIM_MS		10
#define TRIM_BUSY_MS	100
#define TRIM_IDLE_MS	10

static void
queue_trim_request(void)
{
	struct timeval	 tv = { 0, TRIM_BUSY_MS * 1000 };

	if (!trim_scheduled && store_trash_count() > 0) {
		queue_busy = 0;
		evtimer_add(&ev_trim, &tv);
		trim_scheduled = 1;
	}
}

static void
queue_trim(int fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, 0 };

	(void)fd;
	(void)ev;
	(void)arg;
	trim_scheduled = 0;
	if (store_trim(TRIM_MS) == 0)
		return;
	tv.tv_usec = (queue_busy ? TRIM_BUSY_MS : TRIM_IDLE_MS) * 1000;
	queue_busy = 0;
	evtimer_add(&ev_trim, &tv);
	trim_scheduled = 1;
}

static void
queue_imsg(enum proc_id from, struct ipc_msg *m)
{
	queue_busy = 1;
	queue_dispatch(from, m);
	queue_trim_request();
}

static void
queue_dispatch(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_DELIVERY) {
		scheduler_delivery_imsg(m);
		return;
	}
	if (from == PROC_CONTROL) {
		queue_control_imsg(m);
		return;
	}
	if (from == PROC_MAILBOX) {
		scheduler_mailbox_imsg(m);
		return;
	}
	if (from != PROC_SMTP)
		fatalx("%s from %s: not for queue", ipc_type_name(m->hdr.type),
		    proc_name(from));

	switch (m->hdr.type) {
	case IMSG_QUEUE_CREATE_REQ:
		queue_create(m);
		return;
	case IMSG_QUEUE_ENVELOPE:
		queue_envelope(m);
		return;
	case IMSG_QUEUE_COMMIT_REQ:
		queue_commit(m);
		return;
	case IMSG_QUEUE_ROLLBACK:
		queue_rollback(m);
		return;
	}
	fatalx("%s from %s: not for queue", ipc_type_name(m->hdr.type),
	    proc_name(from));
}

/*
 * The open transaction msgid of the sender's session; NULL when there is
 * none.  Our front end forgets the ids of the queue before when this
 * process restarts (smtp_sessions_queue_lost()), so an unknown id is a
 * front end's mistake; it costs that message (COMMIT_FAIL), not the
 * queue, and never another session's transaction.
 */
static struct qtx *
tx_find(struct ipc_msg *m, uint64_t msgid)
{
	struct qtx	 key, *tx;

	key.msgid = msgid;
	if ((tx = RB_FIND(qtx_tree, &txs, &key)) == NULL)
		return NULL;
	if (tx->peerid != m->hdr.peerid) {
		log_warnx("%s from %s: message %016llx is not session %08x's",
		    ipc_type_name(m->hdr.type), m->peer,
		    (unsigned long long)msgid, m->hdr.peerid);
		return NULL;
	}
	return tx;
}

static void
tx_drop_envelopes(struct qtx *tx, const char *why)
{
	if (tx->fail == NULL)
		tx->fail = why;
	nevp_buffered -= tx->nevp;
	free(tx->evp);
	tx->evp = NULL;
	tx->nevp = tx->cap = 0;
}

static void
tx_free(struct qtx *tx)
{
	RB_REMOVE(qtx_tree, &txs, tx);
	if (tx->state == TX_OPEN)
		ntx_open--;
	nevp_buffered -= tx->nevp;
	free(tx->evp);
	free(tx);
}

static void
reply_fail(uint32_t type, uint32_t peerid, uint64_t msgid, int withid,
    const char *reason)
{
	struct ipc	*ch;
	struct ipc_obuf	*b;

	if ((ch = proc_channel(PROC_SMTP)) == NULL)
		return;
	b = ipc_create(ch, type, peerid, -1);
	if (withid)
		ipc_add_u64(b, msgid);
	ipc_add_string(b, reason);
	if (ipc_close(b) == -1)
		log_warn("cannot send %s to smtp", ipc_type_name(type));
}

static void
queue_create(struct ipc_msg *m)
{
	struct ipc	*ch;
	struct ipc_obuf	*b;
	struct qtx	*tx;
	char		 reason[128];
	uint64_t	 msgid;
	int		 fd;

	ipc_end(m);
	if (ntx_open >= QUEUE_MAX_TX) {
		log_warnx("queue event=create-fail session=%08x "
		    "reason=\"too many open transactions\"", m->hdr.peerid);
		reply_fail(IMSG_QUEUE_CREATE_FAIL, m->hdr.peerid, 0, 0,
		    "cannot create a message: too many open transactions");
		return;
	}
	if (store_create(&msgid, &fd) == -1) {
		(void)snprintf(reason, sizeof(reason),
		    "cannot create a message: %s", strerror(errno));
		log_warnx("queue event=create-fail session=%08x reason=\"%s\"",
		    m->hdr.peerid, reason);
		reply_fail(IMSG_QUEUE_CREATE_FAIL, m->hdr.peerid, 0, 0, reason);
		return;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		fatal("%s", __func__);
	ch = proc_channel(PROC_SMTP);
	tx->msgid = msgid;
	tx->peerid = m->hdr.peerid;
	tx->state = TX_OPEN;
	RB_INSERT(qtx_tree, &txs, tx);
	ntx_open++;

	b = ch != NULL ? ipc_create(ch, IMSG_QUEUE_CREATE_OK, tx->peerid, fd) :
	    NULL;
	ipc_add_u64(b, msgid);
	if (ch == NULL || ipc_close(b) == -1) {
		log_warn("cannot send IMSG_QUEUE_CREATE_OK to smtp");
		close(fd);
		store_rollback(msgid);
		tx_free(tx);
		return;
	}
	log_debug("%016llx queue event=create session=%08x",
	    (unsigned long long)msgid, tx->peerid);
}

static void
queue_envelope(struct ipc_msg *m)
{
	struct envelope	 evp;
	struct envelope	*nv;
	struct qtx	*tx;
	uint64_t	 msgid;
	size_t		 ncap;

	msgid = ipc_get_u64(m);
	envelope_get(m, &evp);
	ipc_end(m);
	if ((tx = tx_find(m, msgid)) == NULL)
		return;		/* its commit is answered */
	if (tx->state != TX_OPEN)
		fatalx("%s from %s: message %016llx is being committed",
		    ipc_type_name(m->hdr.type), m->peer,
		    (unsigned long long)msgid);
	tx->nrcpt++;
	if (tx->fail != NULL)
		return;
	if (tx->nevp >= STORE_MAX_RCPTS) {
		log_warnx("%016llx queue: more than %d recipients",
		    (unsigned long long)msgid, STORE_MAX_RCPTS);
		tx_drop_envelopes(tx, "too many recipients");
		return;
	}
	if (nevp_buffered >= QUEUE_MAX_EVPS) {
		log_warnx("%016llx queue: %d envelopes buffered",
		    (unsigned long long)msgid, QUEUE_MAX_EVPS);
		tx_drop_envelopes(tx, "too many recipients pending");
		return;
	}
	if (tx->nevp == tx->cap) {
		ncap = tx->cap ? tx->cap * 2 : 4;
		if (ncap > STORE_MAX_RCPTS)
			ncap = STORE_MAX_RCPTS;
		if ((nv = reallocarray(tx->evp, ncap, sizeof(*nv))) == NULL)
			fatal("%s", __func__);
		tx->evp = nv;
		tx->cap = ncap;
	}
	/* The identity and the bookkeeping are the queue's. */
	evp.msgid = msgid;
	evp.idx = (uint32_t)tx->nevp;
	evp.lasttry = 0;
	evp.attempts = 0;
	evp.warned = 0;
	evp.error[0] = '\0';
	tx->evp[tx->nevp++] = evp;
	nevp_buffered++;
}

static void
queue_commit(struct ipc_msg *m)
{
	struct qtx	*tx;
	char		 reason[128];
	uint64_t	 msgid, size;
	time_t		 now;
	size_t		 i;

	msgid = ipc_get_u64(m);
	size = ipc_get_u64(m);
	ipc_end(m);
	if ((tx = tx_find(m, msgid)) == NULL) {
		log_warnx("%016llx queue event=commit-fail session=%08x "
		    "reason=\"unknown message\"", (unsigned long long)msgid,
		    m->hdr.peerid);
		reply_fail(IMSG_QUEUE_COMMIT_FAIL, m->hdr.peerid, msgid, 1,
		    "cannot commit: unknown message");
		return;
	}
	if (tx->state != TX_OPEN)
		fatalx("%s from %s: message %016llx committed twice",
		    ipc_type_name(m->hdr.type), m->peer,
		    (unsigned long long)msgid);
	if (tx->fail == NULL && tx->nevp == 0)
		tx->fail = "no recipients";
	if (tx->fail != NULL) {
		(void)snprintf(reason, sizeof(reason), "cannot commit: %s",
		    tx->fail);
		goto fail;
	}
	now = queue_now();
	for (i = 0; i < tx->nevp; i++) {
		tx->evp[i].ctime = now;
		tx->evp[i].nexttry = now;
		scheduler_route(&tx->evp[i]);
	}
	if (store_commit_prepare(msgid, tx->evp, tx->nevp, size) == -1) {
		if (errno == EMSGSIZE)
			(void)snprintf(reason, sizeof(reason), "cannot commit: "
			    "the message file is not %llu bytes",
			    (unsigned long long)size);
		else
			(void)snprintf(reason, sizeof(reason),
			    "cannot commit: %s", strerror(errno));
		goto fail;
	}
	if (mailaddr_format(&tx->evp[0].sender, tx->sender,
	    sizeof(tx->sender)) == -1)
		(void)strlcpy(tx->sender, "?", sizeof(tx->sender));
	tx->size = size;
	tx->state = TX_COMMITTING;
	ntx_open--;
	nevp_buffered -= tx->nevp;
	free(tx->evp);
	tx->evp = NULL;
	tx->nevp = tx->cap = 0;
	queue_sync_request();
	return;

 fail:
	log_warnx("%016llx queue event=commit-fail session=%08x rcpts=%zu "
	    "reason=\"%s\"", (unsigned long long)msgid, tx->peerid, tx->nrcpt,
	    reason);
	reply_fail(IMSG_QUEUE_COMMIT_FAIL, tx->peerid, msgid, 1, reason);
	store_rollback(msgid);
	tx_free(tx);
}

static void
queue_rollback(struct ipc_msg *m)
{
	struct qtx	*tx;
	uint64_t	 msgid;

	msgid = ipc_get_u64(m);
	ipc_end(m);
	/* The front end may abandon what we already failed or dropped. */
	if ((tx = tx_find(m, msgid)) == NULL) {
		log_debug("%016llx queue: rollback of an unknown message",
		    (unsigned long long)msgid);
		return;
	}
	if (tx->state != TX_OPEN) {
		/* Too late: it is in a batch and will be delivered. */
		log_debug("%016llx queue: rollback during commit",
		    (unsigned long long)msgid);
		return;
	}
	log_debug("%016llx queue event=rollback session=%08x",
	    (unsigned long long)tx->msgid, tx->peerid);
	store_rollback(tx->msgid);
	tx_free(tx);
}

static void
queue_sync(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	sync_scheduled = 0;
	if (syncsock[0] != -1 && store_sync_begin(queue_committed, NULL)) {
		char	 c = 1;

		if (write(syncsock[0], &c, 1) == 1)
			return;		/* queue_synced() asks again */
		log_warn("queue: sync thread");
		(void)store_sync_end(store_sync_io(), queue_committed, NULL);
	} else
		(void)store_sync(queue_committed, NULL);
	queue_sync_request();
	scheduler_kick();
}

/* The sync thread answered: the batch is durable, or failed. */
static void
queue_synced(int fd, short ev, void *arg)
{
	ssize_t	 n;
	int	 err;

	(void)ev;
	(void)arg;
	do
		n = read(fd, &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	if (n != sizeof(err))
		fatalx("queue: the sync thread is gone");
	(void)store_sync_end(err, queue_committed, NULL);
	queue_sync_request();
	scheduler_kick();
}

static void
queue_committed(uint64_t msgid, int err, void *arg)
{
	struct qtx	 key, *tx;
	struct ipc	*ch;
	struct ipc_obuf	*b;
	char		 reason[128];

	(void)arg;
	key.msgid = msgid;
	if ((tx = RB_FIND(qtx_tree, &txs, &key)) == NULL) {
		/* Not the front end's: a DSN of the scheduler. */
		scheduler_committed(msgid, err);
		return;
	}
	ch = proc_channel(PROC_SMTP);
	if (err != 0) {
		(void)snprintf(reason, sizeof(reason), "cannot commit: %s",
		    strerror(err));
		log_warnx("%016llx queue event=commit-fail session=%08x "
		    "reason=\"%s\"", (unsigned long long)msgid, tx->peerid,
		    reason);
		if (!tx->orphan)
			reply_fail(IMSG_QUEUE_COMMIT_FAIL, tx->peerid, msgid, 1,
			    reason);
		tx_free(tx);
		return;
	}
	log_info("%016llx queue event=commit from=<%s> rcpts=%zu size=%llu",
	    (unsigned long long)msgid, tx->sender, tx->nrcpt,
	    (unsigned long long)tx->size);
	if (ch != NULL && !tx->orphan) {
		b = ipc_create(ch, IMSG_QUEUE_COMMIT_OK, tx->peerid, -1);
		ipc_add_u64(b, msgid);
		if (ipc_close(b) == -1)
			log_warn("cannot send IMSG_QUEUE_COMMIT_OK to smtp");
	}
	tx_free(tx);
}

/*
 * The front end went away: roll back its open transactions; those
 * already in a batch are committed anyway, and answered to nobody.
 */
static void
queue_frontend_gone(void)
{
	struct qtx	*tx, *next;
	size_t		 n = 0;

	RB_FOREACH_SAFE(tx, qtx_tree, &txs, next) {
		if (tx->state != TX_OPEN) {
			tx->orphan = 1;
			continue;
		}
		store_rollback(tx->msgid);
		tx_free(tx);
		n++;
	}
	if (n > 0)
		log_info("queue event=rollback reason=\"front end gone\" "
		    "messages=%zu", n);
}
