/*
 * Portcullis: the scheduler of the queue process.
 *
 * The index (queue_store.h) keeps every waiting envelope in a tree
 * ordered by next try.  A pass walks it from the earliest: each due
 * envelope's message is dispatched -- its due envelopes of one dest,
 * up to DELIVERY_BATCH_MAX, go as one batch with the message file as a
 * descriptor to the process that serves the dest: relay and LMTP to
 * delivery (delivery_imsg.h), Maildir to mailbox (mailbox_imsg.h).
 * Both protocols have the same shape, so one mechanism (struct bpeer:
 * the peer's process and message types) sends the batches, takes the
 * results and returns what a dead peer had in flight -- as long as the limits
 * allow: `queue deliveries N` envelopes in flight in all and
 * `per-domain M` per recipient domain (counted by the domain hash the
 * index keeps, so no envelope is read to decide).  A pass runs when
 * something may have become due: a commit, a batch done, the config, a
 * timer set to the earliest next try that is in the future.  There is
 * no polling loop, except once a second while a peer is down and
 * something waits for it.
 *
 * Results are applied when the peer says DONE (or its channel closes):
 *	OK		the envelope is deleted (a "delivered" DSN first
 *			when NOTIFY=SUCCESS and we delivered it locally);
 *	TEMPFAIL	attempts+1, the error kept, next try after the
 *			retry step (the last repeats); a delay DSN once,
 *			at warn-after, when NOTIFY allows it (by default
 *			too); failed when bounce-after has passed;
 *	PERMFAIL	failed.
 * The failed recipients of a batch get one DSN.  Its envelopes are
 * deleted only when the DSN is durable (scheduler_committed()): a crash
 * in between bounces twice, never zero times.  A message from the null
 * sender (a DSN) is never bounced: logged and dropped.  An envelope
 * without a result goes back to the schedule as it was
 * (at-least-once).
 */
#include <sys/types.h>
#include <sys/time.h>
#include <sys/tree.h>
#include <sys/queue.h>

#include <errno.h>
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
#include "table.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"
#include "delivery_imsg.h"
#include "mailbox_imsg.h"
#include "queue_store.h"
#include "dsn.h"
#include "scheduler.h"

#define HOST_MAX	256		/* a Remote-MTA we keep */
#define DOWN_RETRY	1		/* s, while a peer is down */

/* A process that takes batches, and its messages: delivery, mailbox. */
struct bpeer {
	enum proc_id	 proc;
	const char	*name;
	uint32_t	 req, rcpt, go, result, done;
	int		 has_host;	/* RESULT ends with the host */
};

static const struct bpeer peer_delivery = {
	PROC_DELIVERY, "delivery",
	IMSG_DELIVERY_DELIVER_REQ, IMSG_DELIVERY_DELIVER_RCPT,
	IMSG_DELIVERY_DELIVER_GO, IMSG_DELIVERY_RESULT, IMSG_DELIVERY_DONE, 1
};
static const struct bpeer peer_mailbox = {
	PROC_MAILBOX, "mailbox",
	IMSG_MAILBOX_DELIVER_REQ, IMSG_MAILBOX_DELIVER_RCPT,
	IMSG_MAILBOX_DELIVER_GO, IMSG_MAILBOX_RESULT, IMSG_MAILBOX_DONE, 0
};

/* Both answer with the same statuses, and take batches of one size. */
_Static_assert(MAILBOX_OK == DELIVERY_OK &&
    MAILBOX_TEMPFAIL == DELIVERY_TEMPFAIL &&
    MAILBOX_PERMFAIL == DELIVERY_PERMFAIL, "result codes differ");
_Static_assert(MAILBOX_BATCH_MAX >= DELIVERY_BATCH_MAX,
    "mailbox takes smaller batches");

/* One envelope of a batch, with its result once it came. */
struct bentry {
	struct envelope	 evp;
	int		 answered;
	uint32_t	 status;	/* DELIVERY_* */
	char		 host[HOST_MAX];
};

struct batch {
	RB_ENTRY(batch)	 entry;
	const struct bpeer *peer;
	uint32_t	 id;		/* the peerid on the wire */
	uint64_t	 msgid;
	size_t		 n;
	struct bentry	 ent[];		/* by ascending idx */
};

/* In-flight envelopes of one recipient domain (by its hash). */
struct dcount {
	RB_ENTRY(dcount) entry;
	uint64_t	 hash;
	uint32_t	 n;
};

/* A failure DSN being committed: the envelopes it reports go when it
 * is durable. */
struct pbounce {
	TAILQ_ENTRY(pbounce) entry;
	uint64_t	 dsnid;
	uint64_t	 msgid;
	size_t		 n;
	uint32_t	 idx[];
};

RB_HEAD(batch_tree, batch);
RB_HEAD(dcount_tree, dcount);
TAILQ_HEAD(pbounceq, pbounce);

static int	 batch_cmp(struct batch *, struct batch *);
static int	 dcount_cmp(struct dcount *, struct dcount *);
RB_PROTOTYPE(batch_tree, batch, entry, batch_cmp);
RB_PROTOTYPE(dcount_tree, dcount, entry, dcount_cmp);
RB_GENERATE(batch_tree, batch, entry, batch_cmp);
RB_GENERATE(dcount_tree, dcount, entry, dcount_cmp);

#ifdef PORTCULLIS_REGRESS
time_t			 queue_test_now;
#endif

static const struct config *conf;
static struct batch_tree batches = RB_INITIALIZER(&batches);
static struct dcount_tree dcounts = RB_INITIALIZER(&dcounts);
static struct pbounceq	 pbounces = TAILQ_HEAD_INITIALIZER(pbounces);
static struct scheduler_stats stats;
static struct event	 ev_sched;
static int		 ev_ready, sched_armed;
static int		 sched_running, sched_again;	/* in sched_run() */
static time_t		 sched_when;
static uint32_t		 next_batch_id;
static int		 paused;	/* smtpctl pause delivery */

static void	 sched_arm(time_t, time_t);
static void	 sched_run(int, short, void *);
static const struct bpeer *peer_for(uint32_t);
static uint32_t	 dispatch(struct qmsg *, time_t);
static int	 send_batch(struct ipc *, struct batch *, int);
static void	 batch_finish(struct batch *, int);
static struct batch *batch_get(const struct bpeer *, struct ipc_msg *,
		    uint64_t);
static void	 batch_imsg(const struct bpeer *, struct ipc_msg *);
static void	 peer_gone(const struct bpeer *);
static struct qevp *evp_find(uint64_t, uint32_t);
static int	 domain_room(uint64_t);
static void	 domain_take(uint64_t);
static void	 domain_release(uint64_t);
static size_t	 limit_deliveries(void);
static time_t	 retry_step(uint32_t);
static int	 dsn_create(struct batch *, struct dsn_rcpt *, size_t, int,
		    time_t, uint64_t *);
static int	 wants(const struct envelope *, uint32_t);
static const char *addr_str(const struct mailaddr *, char *, size_t);

static int
batch_cmp(struct batch *a, struct batch *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

static int
dcount_cmp(struct dcount *a, struct dcount *b)
{
	return a->hash < b->hash ? -1 : a->hash > b->hash;
}

time_t
queue_now(void)
{
#ifdef PORTCULLIS_REGRESS
	if (queue_test_now != 0)
		return queue_test_now;
#endif
	return time(NULL);
}

void
scheduler_init(void)
{
	evtimer_set(&ev_sched, sched_run, NULL);
	ev_ready = 1;
	sched_armed = 0;
}

void
scheduler_conf(const struct config *c)
{
	conf = c;
	scheduler_kick();
}

const struct scheduler_stats *
scheduler_stats(void)
{
	return &stats;
}

uint32_t
scheduler_domain_inflight(const char *domain)
{
	struct dcount	 key, *d;

	key.hash = store_domain_hash(domain);
	d = RB_FIND(dcount_tree, &dcounts, &key);
	return d != NULL ? d->n : 0;
}

static const char *
addr_str(const struct mailaddr *a, char *buf, size_t len)
{
	if (mailaddr_format(a, buf, len) == -1)
		(void)strlcpy(buf, "?", len);
	return buf;
}

/*
 * Where a recipient goes.
 */
void
scheduler_route(struct envelope *e)
{
	struct accept_rule	*ar;
	struct mailaddr		 pm;
	char			 path[MAILADDR_PATH_MAX + 16];
	int			 n;

	e->dest = DEST_RELAY;
	if (conf == NULL)
		return;
	if (e->rcpt.flags & MAILADDR_POSTMASTER) {
		n = snprintf(path, sizeof(path), "<postmaster@%s>",
		    conf->hostname);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    mailaddr_parse_path(path, n, 0, &pm, NULL, NULL) == -1) {
			log_warnx("queue: cannot route <Postmaster> to "
			    "postmaster@%s", conf->hostname);
			return;
		}
		e->rcpt = pm;
	}
	if (e->rcpt.domain[0] == '\0')
		return;
	TAILQ_FOREACH(ar, &conf->accepts, entry) {
		if (ar->domains != NULL) {
			if (!table_match_domain(ar->domains, e->rcpt.domain))
				continue;
		} else if (!mailaddr_domain_eq(ar->domain, e->rcpt.domain))
			continue;
		if (ar->deliver == ACCEPT_MAILDIR)
			e->dest = DEST_MAILDIR;
		else if (ar->deliver == ACCEPT_LMTP)
			e->dest = DEST_LMTP;
		return;
	}
}

/*
 * Limits.
 */
static size_t
limit_deliveries(void)
{
	if (conf == NULL || conf->queue.deliveries <= 0)
		return DEFAULT_DELIVERIES;
	return (size_t)conf->queue.deliveries;
}

static int
domain_room(uint64_t hash)
{
	struct dcount	 key, *d;

	if (conf == NULL || conf->queue.per_domain <= 0)
		return 1;
	key.hash = hash;
	d = RB_FIND(dcount_tree, &dcounts, &key);
	return d == NULL || d->n < (uint32_t)conf->queue.per_domain;
}

static void
domain_take(uint64_t hash)
{
	struct dcount	 key, *d;

	key.hash = hash;
	if ((d = RB_FIND(dcount_tree, &dcounts, &key)) == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			fatal("%s", __func__);
		d->hash = hash;
		RB_INSERT(dcount_tree, &dcounts, d);
	}
	d->n++;
	if (d->n > stats.max_domain)
		stats.max_domain = d->n;
	stats.inflight++;
	if (stats.inflight > stats.max_inflight)
		stats.max_inflight = stats.inflight;
}

static void
domain_release(uint64_t hash)
{
	struct dcount	 key, *d;

	key.hash = hash;
	if ((d = RB_FIND(dcount_tree, &dcounts, &key)) == NULL || d->n == 0)
		fatalx("%s: domain not in flight", __func__);
	if (--d->n == 0) {
		RB_REMOVE(dcount_tree, &dcounts, d);
		free(d);
		d = NULL;
	}
	stats.inflight--;
	/* The slot is free: the domain's first waiting envelopes may go. */
	if (store_sched_unpark(hash, conf == NULL || conf->queue.per_domain <=
	    0 ? SIZE_MAX : (size_t)conf->queue.per_domain - (d ? d->n : 0)) > 0) {
		if (sched_running)
			sched_again = 1;	/* sched_run() decides when */
		else
			scheduler_kick();
	}
}

/* The delay after the attempts-th failure: the last step repeats. */
static time_t
retry_step(uint32_t attempts)
{
	int	 i;

	if (conf == NULL || conf->queue.nretry <= 0)
		return 5 * 60;
	i = attempts == 0 ? 0 : (int)attempts - 1;
	if (i >= conf->queue.nretry)
		i = conf->queue.nretry - 1;
	if (i >= CONFIG_RETRY_MAX)
		i = CONFIG_RETRY_MAX - 1;
	return conf->queue.retry[i] > 0 ? conf->queue.retry[i] : 1;
}

/*
 * The pass.
 */
void
scheduler_pause(int on)
{
	paused = on;
	if (!paused)
		scheduler_kick();
}

int
scheduler_paused(void)
{
	return paused;
}

void
scheduler_kick(void)
{
	if (ev_ready)
		sched_arm(queue_now(), queue_now());
}

/* Run a pass at t (now is the clock): an earlier pending run stays. */
static void
sched_arm(time_t t, time_t now)
{
	struct timeval	 tv = { 0, 0 };

	if (sched_armed && sched_when < t && sched_when > now)
		return;
	if (sched_armed)
		evtimer_del(&ev_sched);
	if (t > now)
		tv.tv_sec = t - now;
	evtimer_add(&ev_sched, &tv);
	sched_armed = 1;
	sched_when = t;
}

static void
sched_run(int fd, short ev, void *arg)
{
	const struct bpeer *p;
	struct qevp	*e, *nx;
	struct qmsg	*m;
	time_t		 now, next = 0;
	size_t		 limit;
	uint32_t	 down = 0;
	const uint32_t	 all = PROCBIT(PROC_DELIVERY) | PROCBIT(PROC_MAILBOX);

	(void)fd;
	(void)ev;
	(void)arg;
	sched_armed = 0;
	if (conf == NULL)
		return;		/* scheduler_conf() runs us again */
	if (paused)
		return;		/* scheduler_pause(0) runs us again */
	sched_running = 1;
	sched_again = 0;
	now = queue_now();
	limit = limit_deliveries();
	for (e = store_sched_first(); e != NULL; e = nx) {
		if (e->nexttry > now) {
			next = e->nexttry;
			break;
		}
		nx = store_sched_next(e);
		p = peer_for(e->dest);
		if (!(down & PROCBIT(p->proc)) && proc_channel(p->proc) == NULL)
			down |= PROCBIT(p->proc);
		if (down == all)
			break;
		if (down & PROCBIT(p->proc))
			continue;	/* waits for its peer */
		if (stats.inflight >= limit)
			break;		/* a batch done runs us again */
		if (!domain_room(e->domhash)) {
			/*
			 * Out of the tree until the domain has a slot free
			 * (domain_release()): else every pass walks again
			 * past all the due envelopes of a busy domain, and
			 * draining a backlog of n costs O(n) a message.
			 */
			store_sched_park(e);
			continue;
		}
		/* Past the other envelopes of this message next to e:
		 * dispatch() may take them out of the tree. */
		m = e->msg;
		while (nx != NULL && nx->msg == m)
			nx = store_sched_next(nx);
		down |= dispatch(m, now);
	}
	sched_running = 0;
	if (down)
		sched_arm(now + DOWN_RETRY, now);
	else if (sched_again)
		sched_arm(now, now);	/* envelopes came off a domain's list */
	else if (next != 0)
		sched_arm(next, now);
}

/* The process that serves a dest. */
static const struct bpeer *
peer_for(uint32_t dest)
{
	return dest == DEST_MAILDIR ? &peer_mailbox : &peer_delivery;
}

/*
 * The due envelopes of m that the limits allow, one batch per dest, to
 * the dest's peer.  Returns the PROCBIT()s of the peers that are down
 * (or whose channel failed): their envelopes wait.
 */
static uint32_t
dispatch(struct qmsg *m, time_t now)
{
	static const uint8_t	 dests[] = {
		DEST_RELAY, DEST_LMTP, DEST_MAILDIR
	};
	const struct bpeer	*p;
	struct ipc		*ch;
	struct qevp		*pick[DELIVERY_BATCH_MAX];
	struct envelope		*evps = NULL;
	struct batch		*b;
	size_t			 limit = limit_deliveries(), n, nevps = 0;
	size_t			 i, j, k, d;
	uint64_t		 msgid = m->msgid;
	uint32_t		 down = 0;
	int			 fd;

	for (d = 0; d < sizeof(dests) / sizeof(dests[0]); d++) {
		p = peer_for(dests[d]);
		if (down & PROCBIT(p->proc))
			continue;
		if ((ch = proc_channel(p->proc)) == NULL) {
			down |= PROCBIT(p->proc);
			continue;
		}
		n = 0;
		for (i = 0; i < m->nevp && n < DELIVERY_BATCH_MAX &&
		    stats.inflight < limit; i++) {
			if (m->evp[i].state != QEVP_SCHEDULED ||
			    m->evp[i].dest != dests[d] ||
			    m->evp[i].nexttry > now ||
			    !domain_room(m->evp[i].domhash))
				continue;
			pick[n++] = &m->evp[i];
			domain_take(m->evp[i].domhash);
		}
		if (n == 0)
			continue;
		if (evps == NULL && store_msg_load(msgid, &evps, &nevps) == -1) {
			log_warn("%016llx queue: cannot read the envelopes",
			    (unsigned long long)msgid);
			goto later;
		}
		if ((b = calloc(1, sizeof(*b) + n * sizeof(b->ent[0]))) ==
		    NULL)
			fatal("%s", __func__);
		b->peer = p;
		b->msgid = msgid;
		b->n = n;
		do {
			b->id = ++next_batch_id;
		} while (b->id == 0 || RB_FIND(batch_tree, &batches, b));
		for (k = 0, j = 0; k < n; k++) {
			while (j < nevps && evps[j].idx < pick[k]->idx)
				j++;
			if (j == nevps || evps[j].idx != pick[k]->idx) {
				log_warnx("%016llx queue: envelope %u is not "
				    "on disk", (unsigned long long)msgid,
				    pick[k]->idx);
				free(b);
				goto later;
			}
			b->ent[k].evp = evps[j];
		}
		if ((fd = store_open_body(msgid)) == -1) {
			log_warn("%016llx queue: cannot open the message",
			    (unsigned long long)msgid);
			free(b);
			goto later;
		}
		if (send_batch(ch, b, fd) == -1) {
			free(b);
			for (k = 0; k < n; k++)
				domain_release(pick[k]->domhash);
			down |= PROCBIT(p->proc);
			continue;
		}
		RB_INSERT(batch_tree, &batches, b);
		stats.nbatch++;
		for (k = 0; k < n; k++)
			store_sched_set(pick[k], QEVP_INFLIGHT);
		stats.batches++;
		log_debug("%016llx queue event=dispatch batch=%u dest=%s "
		    "peer=%s rcpts=%zu", (unsigned long long)msgid, b->id,
		    dests[d] == DEST_LMTP ? "lmtp" : dests[d] == DEST_MAILDIR ?
		    "maildir" : "relay", p->name, n);
		continue;

 later:
		/* Unreadable now: do not spin on it. */
		for (k = 0; k < n; k++) {
			domain_release(pick[k]->domhash);
			store_sched_retime(pick[k], now + retry_step(1));
		}
		break;
	}
	free(evps);
	return down;
}

static int
send_batch(struct ipc *ch, struct batch *b, int fd)
{
	struct ipc_obuf	*o;
	size_t		 i;

	/* The three go back to back: the peer takes a batch whole. */
	o = ipc_create(ch, b->peer->req, b->id, fd);
	ipc_add_u64(o, b->msgid);
	ipc_add_u32(o, (uint32_t)b->n);
	if (ipc_close(o) == -1) {
		log_warn("cannot send %s to %s", ipc_type_name(b->peer->req),
		    b->peer->name);
		close(fd);
		return -1;
	}
	for (i = 0; i < b->n; i++) {
		o = ipc_create(ch, b->peer->rcpt, b->id, -1);
		envelope_add(o, &b->ent[i].evp);
		if (ipc_close(o) == -1)
			fatal("cannot send %s", ipc_type_name(b->peer->rcpt));
	}
	if (ipc_compose(ch, b->peer->go, b->id, -1, NULL, 0) == -1)
		fatal("cannot send %s", ipc_type_name(b->peer->go));
	return 0;
}

/*
 * The peers' answers.
 */
static struct batch *
batch_get(const struct bpeer *p, struct ipc_msg *m, uint64_t msgid)
{
	struct batch	 key, *b;

	key.id = m->hdr.peerid;
	if ((b = RB_FIND(batch_tree, &batches, &key)) == NULL ||
	    b->peer != p)
		fatalx("%s from %s: unknown batch %u",
		    ipc_type_name(m->hdr.type), p->name, m->hdr.peerid);
	if (b->msgid != msgid)
		fatalx("%s from %s: batch %u is %016llx, not %016llx",
		    ipc_type_name(m->hdr.type), p->name, b->id,
		    (unsigned long long)b->msgid, (unsigned long long)msgid);
	return b;
}

void
scheduler_delivery_imsg(struct ipc_msg *m)
{
	batch_imsg(&peer_delivery, m);
}

void
scheduler_mailbox_imsg(struct ipc_msg *m)
{
	batch_imsg(&peer_mailbox, m);
}

static void
batch_imsg(const struct bpeer *p, struct ipc_msg *m)
{
	struct batch	*b;
	struct bentry	*be = NULL;
	const char	*reply, *host = NULL;
	uint64_t	 msgid;
	uint32_t	 idx, status;
	size_t		 lo, hi, mid;

	if (m->hdr.type == p->result) {
		msgid = ipc_get_u64(m);
		idx = ipc_get_u32(m);
		status = ipc_get_u32(m);
		reply = ipc_get_string(m);
		if (p->has_host)
			host = ipc_get_string(m);
		ipc_end(m);
		b = batch_get(p, m, msgid);
		for (lo = 0, hi = b->n; lo < hi; ) {
			mid = (lo + hi) / 2;
			if (b->ent[mid].evp.idx == idx) {
				be = &b->ent[mid];
				break;
			}
			if (b->ent[mid].evp.idx < idx)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (be == NULL || be->answered)
			fatalx("%s from %s: envelope %016llx.%u %s in batch "
			    "%u", ipc_type_name(m->hdr.type), p->name,
			    (unsigned long long)msgid, idx,
			    be == NULL ? "not" : "answered twice", b->id);
		if (status > DELIVERY_PERMFAIL)
			fatalx("%s from %s: status %u",
			    ipc_type_name(m->hdr.type), p->name, status);
		be->answered = 1;
		be->status = status;
		envelope_set_error(&be->evp, reply != NULL ? reply : "");
		(void)strlcpy(be->host, host != NULL ? host : "",
		    sizeof(be->host));
		return;
	}
	if (m->hdr.type == p->done) {
		msgid = ipc_get_u64(m);
		ipc_end(m);
		b = batch_get(p, m, msgid);
		batch_finish(b, 0);
		scheduler_kick();
		return;
	}
	fatalx("%s from %s: not for queue", ipc_type_name(m->hdr.type),
	    p->name);
}

void
scheduler_delivery_gone(void)
{
	peer_gone(&peer_delivery);
}

void
scheduler_mailbox_gone(void)
{
	peer_gone(&peer_mailbox);
}

static void
peer_gone(const struct bpeer *p)
{
	struct batch	*b, *nb;
	size_t		 n = 0;

	RB_FOREACH_SAFE(b, batch_tree, &batches, nb) {
		if (b->peer != p)
			continue;
		batch_finish(b, 1);
		n++;
	}
	if (n > 0)
		log_warnx("queue event=%s-gone batches=%zu: "
		    "unanswered envelopes are scheduled again", p->name, n);
	scheduler_kick();
}

static struct qevp *
evp_find(uint64_t msgid, uint32_t idx)
{
	struct qmsg	*qm;
	size_t		 lo, hi, mid;

	if ((qm = store_msg_find(msgid)) == NULL)
		return NULL;
	for (lo = 0, hi = qm->nevp; lo < hi; ) {
		mid = (lo + hi) / 2;
		if (qm->evp[mid].idx == idx)
			return qm->evp[mid].state == QEVP_DONE ? NULL :
			    &qm->evp[mid];
		if (qm->evp[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* May e have a DSN of this kind (RFC 3461 §4.1: no NOTIFY means
 * FAILURE and, at our choice, DELAY)? */
static int
wants(const struct envelope *e, uint32_t kind)
{
	if ((e->sender.flags & MAILADDR_NULL) || (e->flags & EF_BOUNCE))
		return 0;
	if (e->notify == 0)
		return kind != DSN_NOTIFY_SUCCESS;
	return (e->notify & kind) != 0;
}

/*
 * Apply the results of a batch and forget it.  gone: delivery died,
 * the unanswered envelopes go back as they were.
 */
static void
batch_finish(struct batch *b, int gone)
{
	struct dsn_rcpt	*fail, *delay, *deliv;
	struct bentry	*be;
	struct envelope	*ev;
	struct qevp	*qe;
	struct pbounce	*pb;
	char		 to[MAILADDR_STRSIZE];
	size_t		 i, nfail = 0, ndelay = 0, ndeliv = 0;
	uint64_t	 dsnid;
	time_t		 now = queue_now(), bounce_after, warn_after;
	int		 fail_ok = 0, delay_ok = 0;
	uint8_t		*kind;
	uint32_t	*dels;
	struct envelope	*repls;
	size_t		 ndels = 0, nrepls = 0;
	int		 applied;
	enum { K_BACK, K_OK, K_RETRY, K_DELAY, K_FAIL, K_DROP };

	RB_REMOVE(batch_tree, &batches, b);
	stats.nbatch--;
	bounce_after = conf != NULL ? conf->queue.bounce_after :
	    DEFAULT_BOUNCE_AFTER;
	warn_after = conf != NULL ? conf->queue.warn_after :
	    DEFAULT_WARN_AFTER;
	if ((fail = calloc(b->n, sizeof(*fail))) == NULL ||
	    (delay = calloc(b->n, sizeof(*delay))) == NULL ||
	    (deliv = calloc(b->n, sizeof(*deliv))) == NULL ||
	    (kind = calloc(b->n, sizeof(*kind))) == NULL ||
	    (dels = calloc(b->n, sizeof(*dels))) == NULL ||
	    (repls = calloc(b->n, sizeof(*repls))) == NULL)
		fatal("%s", __func__);

	/* 1. What happened to each. */
	for (i = 0; i < b->n; i++) {
		be = &b->ent[i];
		ev = &be->evp;
		if ((qe = evp_find(b->msgid, ev->idx)) == NULL ||
		    qe->state != QEVP_INFLIGHT)
			fatalx("%s: %016llx.%u is not in flight", __func__,
			    (unsigned long long)b->msgid, ev->idx);
		domain_release(qe->domhash);
		(void)addr_str(&ev->rcpt, to, sizeof(to));
		if (!be->answered) {
			if (!gone)
				log_warnx("%016llx queue: %s said DONE "
				    "without a result for <%s>",
				    (unsigned long long)b->msgid,
				    b->peer->name, to);
			kind[i] = K_BACK;
			continue;
		}
		switch (be->status) {
		case DELIVERY_OK:
			stats.delivered++;
			log_info("%016llx queue event=delivered to=<%s> "
			    "host=%s attempts=%u delay=%llds",
			    (unsigned long long)b->msgid, to,
			    be->host[0] ? be->host : "-", ev->attempts + 1,
			    (long long)(now - ev->ctime));
			kind[i] = K_OK;
			if (ev->dest != DEST_RELAY &&
			    wants(ev, DSN_NOTIFY_SUCCESS)) {
				ev->lasttry = now;
				deliv[ndeliv].evp = ev;
				deliv[ndeliv++].host = be->host;
			}
			break;
		case DELIVERY_TEMPFAIL:
			stats.tempfail++;
			ev->attempts++;
			ev->lasttry = now;
			if (now - ev->ctime >= bounce_after) {
				stats.expired++;
				log_info("%016llx queue event=expired to=<%s> "
				    "attempts=%u error=\"%s\"",
				    (unsigned long long)b->msgid, to,
				    ev->attempts, ev->error);
				fail[nfail].expired = 1;
				kind[i] = K_FAIL;
				break;
			}
			ev->nexttry = now + retry_step(ev->attempts);
			kind[i] = K_RETRY;
			if (!ev->warned && now - ev->ctime >= warn_after &&
			    wants(ev, DSN_NOTIFY_DELAY)) {
				delay[ndelay].evp = ev;
				delay[ndelay++].host = be->host;
				kind[i] = K_DELAY;
			}
			log_info("%016llx queue event=tempfail to=<%s> "
			    "attempts=%u next=%llds error=\"%s\"",
			    (unsigned long long)b->msgid, to, ev->attempts,
			    (long long)(ev->nexttry - now), ev->error);
			break;
		default:
			stats.permfail++;
			ev->lasttry = now;
			kind[i] = K_FAIL;
			log_info("%016llx queue event=permfail to=<%s> "
			    "error=\"%s\"", (unsigned long long)b->msgid, to,
			    ev->error);
			break;
		}
		if (kind[i] == K_FAIL) {
			if (!wants(ev, DSN_NOTIFY_FAILURE)) {
				stats.dropped++;
				log_info("%016llx queue event=drop to=<%s> "
				    "reason=\"%s\"", (unsigned long long)
				    b->msgid, to, (ev->sender.flags &
				    MAILADDR_NULL) ? "null sender: no bounce" :
				    "NOTIFY excludes FAILURE");
				kind[i] = K_DROP;
				fail[nfail].expired = 0;
				continue;
			}
			fail[nfail].evp = ev;
			fail[nfail].action = DSN_ACTION_FAILED;
			fail[nfail++].host = be->host;
		}
	}

	/* 2. The DSNs, while the original is surely there. */
	if (nfail > 0 && dsn_create(b, fail, nfail, DSN_ACTION_FAILED, now,
	    &dsnid) == 0) {
		fail_ok = 1;
		if ((pb = calloc(1, sizeof(*pb) + nfail * sizeof(pb->idx[0]))) ==
		    NULL)
			fatal("%s", __func__);
		pb->dsnid = dsnid;
		pb->msgid = b->msgid;
		pb->n = nfail;
		for (i = 0; i < nfail; i++)
			pb->idx[i] = fail[i].evp->idx;
		TAILQ_INSERT_TAIL(&pbounces, pb, entry);
	}
	if (ndelay > 0 && dsn_create(b, delay, ndelay, DSN_ACTION_DELAYED,
	    now, &dsnid) == 0)
		delay_ok = 1;
	if (ndeliv > 0)
		(void)dsn_create(b, deliv, ndeliv, DSN_ACTION_DELIVERED, now,
		    &dsnid);

	/* 3. The disk: one rewrite of the envelopes for the batch. */
	for (i = 0; i < b->n; i++) {
		ev = &b->ent[i].evp;
		if (kind[i] == K_OK || kind[i] == K_DROP)
			dels[ndels++] = ev->idx;
		else if (kind[i] == K_DELAY || kind[i] == K_RETRY) {
			if (kind[i] == K_DELAY)
				ev->warned = delay_ok;
			repls[nrepls++] = *ev;
		}
	}
	/* (all deleted: the message is gone, and so are its qevps) */
	applied = (ndels > 0 || nrepls > 0) && store_envelopes_apply(
	    b->msgid, repls, nrepls, dels, ndels) == 0;

	/* 4. The index (and the disk one by one if the batch failed). */
	for (i = 0; i < b->n; i++) {
		be = &b->ent[i];
		ev = &be->evp;
		if (kind[i] == K_OK || kind[i] == K_DROP) {
			if (!applied && store_envelope_delete(b->msgid,
			    ev->idx) == -1)
				log_warn("%016llx queue: cannot delete "
				    "envelope %u", (unsigned long long)b->msgid,
				    ev->idx);
			continue;
		}
		qe = evp_find(b->msgid, ev->idx);
		switch (kind[i]) {
		case K_BACK:
			stats.returned++;
			store_sched_set(qe, QEVP_SCHEDULED);
			break;
		case K_DELAY:
		case K_RETRY:
			if (!applied && store_envelope_update(ev) == -1) {
				log_warn("%016llx queue: cannot update "
				    "envelope %u", (unsigned long long)b->msgid,
				    ev->idx);
				store_sched_retime(qe, ev->nexttry);
			}
			store_sched_set(qe, QEVP_SCHEDULED);
			break;
		case K_FAIL:
			if (fail_ok) {
				/* Deleted when the DSN is durable. */
				store_sched_set(qe, QEVP_HELD);
				break;
			}
			/* No DSN now: try the bounce again later. */
			store_sched_retime(qe, now + retry_step(1));
			store_sched_set(qe, QEVP_SCHEDULED);
			break;
		}
	}
	free(dels);
	free(repls);
	queue_sync_request();
	free(fail);
	free(delay);
	free(deliv);
	free(kind);
	free(b);
}

/*
 * Write a DSN about some envelopes of b's message and prepare its
 * commit.  0 with its msgid, or -1 (logged).
 */
static int
dsn_create(struct batch *b, struct dsn_rcpt *rc, size_t n, int action,
    time_t now, uint64_t *dsnidp)
{
	struct dsn_report	 r;
	struct dsn_result	 res;
	struct envelope		 de;
	const struct envelope	*o = rc[0].evp;
	const char		*what;
	char			 to[MAILADDR_STRSIZE];
	uint64_t		 dsnid;
	size_t			 i;
	int			 in, out, saved;

	what = action == DSN_ACTION_FAILED ? "failed" :
	    action == DSN_ACTION_DELAYED ? "delayed" : "delivered";
	(void)addr_str(&o->sender, to, sizeof(to));
	for (i = 0; i < n; i++)
		rc[i].action = action;
	memset(&r, 0, sizeof(r));
	r.hostname = conf != NULL && conf->hostname[0] != '\0' ?
	    conf->hostname : "localhost";
	r.now = now;
	r.retry_until = o->ctime + (conf != NULL ? conf->queue.bounce_after :
	    DEFAULT_BOUNCE_AFTER);
	r.orig = o;
	r.rcpts = rc;
	r.nrcpt = n;

	if (store_create(&dsnid, &out) == -1) {
		log_warn("%016llx queue: cannot create a %s DSN",
		    (unsigned long long)b->msgid, what);
		return -1;
	}
	r.dsnid = dsnid;
	if ((in = store_open_body(b->msgid)) == -1) {
		saved = errno;
		close(out);
		errno = saved;
		goto fail;
	}
	if (dsn_write(out, in, &r, &res) == -1) {
		saved = errno;
		close(in);
		close(out);
		errno = saved;
		goto fail;
	}
	close(in);
	if (close(out) == -1)
		goto fail;
	if (dsn_envelope(&r, &res, &de) == -1) {
		errno = EINVAL;
		goto fail;
	}
	scheduler_route(&de);
	if (store_commit_prepare(dsnid, &de, 1, res.size) == -1)
		goto fail;
	queue_sync_request();
	if (action == DSN_ACTION_FAILED)
		stats.dsn_failed++;
	else if (action == DSN_ACTION_DELAYED)
		stats.dsn_delayed++;
	else
		stats.dsn_delivered++;
	log_info("%016llx queue event=dsn action=%s to=<%s> rcpts=%zu "
	    "dsn=%016llx size=%llu", (unsigned long long)b->msgid, what, to,
	    n, (unsigned long long)dsnid, (unsigned long long)res.size);
	*dsnidp = dsnid;
	return 0;

 fail:
	log_warn("%016llx queue: cannot write a %s DSN to <%s>",
	    (unsigned long long)b->msgid, what, to);
	store_rollback(dsnid);
	return -1;
}

void
scheduler_committed(uint64_t msgid, int err)
{
	struct pbounce	*pb;
	struct qevp	*qe;
	size_t		 i, k;
	time_t		 now;

	TAILQ_FOREACH(pb, &pbounces, entry)
		if (pb->dsnid == msgid)
			break;
	if (pb == NULL)
		return;
	TAILQ_REMOVE(&pbounces, pb, entry);
	now = queue_now();
	if (err == 0) {
		/* the envelopes still there, gone in one rewrite */
		for (i = k = 0; i < pb->n; i++)
			if (evp_find(pb->msgid, pb->idx[i]) != NULL)
				pb->idx[k++] = pb->idx[i];
		pb->n = k;
		if (k > 0 && store_envelopes_apply(pb->msgid, NULL, 0,
		    pb->idx, k) == 0)
			pb->n = 0;
	}
	for (i = 0; i < pb->n; i++) {
		if ((qe = evp_find(pb->msgid, pb->idx[i])) == NULL)
			continue;
		if (err == 0) {
			if (store_envelope_delete(pb->msgid, pb->idx[i]) == -1)
				log_warn("%016llx queue: cannot delete "
				    "envelope %u", (unsigned long long)
				    pb->msgid, pb->idx[i]);
			continue;
		}
		/* The DSN is lost: bounce again later. */
		store_sched_retime(qe, now + retry_step(1));
		store_sched_set(qe, QEVP_SCHEDULED);
	}
	if (err != 0)
		log_warnx("%016llx queue: the DSN %016llx was not committed: "
		    "%s; bouncing again later", (unsigned long long)pb->msgid,
		    (unsigned long long)msgid, strerror(err));
	else
		queue_sync_request();
	free(pb);
}
