/*
 * Portcullis: the queue's side of the control protocol.  The control
 * process forwards an smtpctl client's queue requests here, with the
 * client's id as peer id; each is answered on that peer id by data
 * frames and one IMSG_CTL_OK or IMSG_CTL_FAIL (control_imsg.h).
 *
 * Listings.  "show queue" walks the index by message id and sends each
 * live envelope (sender, recipient and last error read back from the
 * spool, state, attempts and next try from the index) packed into
 * IMSG_CTL_ENVELOPES frames of at most CTL_FRAME_MAX bytes.  A walk is
 * a cursor (message id, envelope index), not a snapshot: it never holds
 * more than one message's envelopes in memory, and whatever is removed
 * or added while it runs is simply listed or not.  It sends at most
 * CTL_WINDOW frames ahead of what the client has read; control credits
 * it back with IMSG_CTL_MORE as the client reads, so a slow smtpctl
 * never makes us, or control, buffer the whole queue.  "show message"
 * is the same walk over one message, after a header frame.
 *
 * schedule: every envelope waiting in the schedule (not in flight, not
 * held) gets its next try now and the scheduler runs.  remove: the
 * message leaves the spool; a message with envelopes in flight is not
 * removed (its batch would come back for envelopes that are gone): one
 * such message is refused with a reason, "remove all" skips them and
 * says how many.  The removal is not synced: after a crash a removed
 * message may come back (never the reverse).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "mailaddr.h"
#include "envelope.h"
#include "queue_store.h"
#include "scheduler.h"
#include "control_imsg.h"
#include "queue_control.h"

#define QCTL_MAX_WALKS	64		/* listings at once */
#define QCTL_HDR_READ	(16 * 1024)	/* of a body, for its headers */
#define QCTL_HDR_LINE	998		/* RFC 5322 §2.1.1 */
#define QCTL_STR(s)	(sizeof(uint32_t) + strlen(s) + 1)

/* A listing in progress for one client. */
struct qctl_walk {
	TAILQ_ENTRY(qctl_walk)	 entry;
	uint32_t		 peerid;
	uint64_t		 only;	/* show message: its id; else 0 */
	uint64_t		 msgid;	/* the next message to list ... */
	uint32_t		 idx;	/* ... from this envelope on */
	uint32_t		 unread; /* frames sent, not credited yet */
};
TAILQ_HEAD(qctl_walks, qctl_walk);

static struct qctl_walks walks = TAILQ_HEAD_INITIALIZER(walks);
static size_t		 nwalks;

static void	 qctl_reply(uint32_t, const char *);
static struct qctl_walk *walk_find(uint32_t);
static void	 walk_free(struct qctl_walk *);
static void	 walk_start(uint32_t, uint64_t, uint32_t);
static void	 walk_run(struct qctl_walk *);
static int	 walk_frame(struct qctl_walk *, int *);
static const char *state_name(int);
static const char *dest_name(uint32_t);
static void	 addr_text(const struct mailaddr *, char *, size_t);
static void	 show_message(uint32_t, uint64_t);
static void	 add_headers(struct ipc_obuf *, uint64_t);
static void	 schedule(uint32_t, int, uint64_t);
static void	 remove_msgs(uint32_t, int, uint64_t);
static int	 inflight(const struct qmsg *);
static void	 send_result(uint32_t, uint32_t, uint32_t, uint32_t);
static void	 send_stats(uint32_t);
static void	 add_stat(struct ipc_obuf *, const char *, int64_t);
static void	 pause_delivery(uint32_t, int);

void
queue_control_imsg(struct ipc_msg *m)
{
	struct qctl_walk	*w;
	uint32_t		 peerid = m->hdr.peerid, all, n;
	uint64_t		 msgid;

	switch (m->hdr.type) {
	case IMSG_CTL_QUEUE_SHOW_REQ:
		ipc_end(m);
		walk_start(peerid, 0, 0);
		return;
	case IMSG_CTL_MESSAGE_REQ:
		msgid = ipc_get_u64(m);
		ipc_end(m);
		show_message(peerid, msgid);
		return;
	case IMSG_CTL_SCHEDULE_REQ:
	case IMSG_CTL_REMOVE_REQ:
		all = ipc_get_u32(m);
		msgid = ipc_get_u64(m);
		ipc_end(m);
		if (all > 1)
			fatalx("%s from control: all is %u",
			    ipc_type_name(m->hdr.type), all);
		if (m->hdr.type == IMSG_CTL_SCHEDULE_REQ)
			schedule(peerid, all, msgid);
		else
			remove_msgs(peerid, all, msgid);
		return;
	case IMSG_CTL_DELIVERY_PAUSE_REQ:
	case IMSG_CTL_DELIVERY_RESUME_REQ:
		ipc_end(m);
		pause_delivery(peerid,
		    m->hdr.type == IMSG_CTL_DELIVERY_PAUSE_REQ);
		return;
	case IMSG_CTL_QUEUE_STATS_REQ:
		ipc_end(m);
		send_stats(peerid);
		return;
	case IMSG_CTL_MORE:
		n = ipc_get_u32(m);
		ipc_end(m);
		/* The credit may come after the listing ended: nothing to
		 * do then. */
		if ((w = walk_find(peerid)) == NULL)
			return;
		w->unread = n < w->unread ? w->unread - n : 0;
		walk_run(w);
		return;
	case IMSG_CTL_CANCEL:
		ipc_end(m);
		if ((w = walk_find(peerid)) != NULL) {
			log_debug("queue: listing for client %u cancelled",
			    peerid);
			walk_free(w);
		}
		return;
	}
	fatalx("%s from control: not for queue", ipc_type_name(m->hdr.type));
}

void
queue_control_gone(void)
{
	struct qctl_walk	*w;

	while ((w = TAILQ_FIRST(&walks)) != NULL)
		walk_free(w);
}

/* The final answer: OK (fail NULL) or FAIL. */
static void
qctl_reply(uint32_t peerid, const char *fail)
{
	struct ipc	*ch;
	struct ipc_obuf	*ob;

	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	ob = ipc_create(ch, fail == NULL ? IMSG_CTL_OK : IMSG_CTL_FAIL,
	    peerid, -1);
	if (fail != NULL)
		ipc_add_string(ob, fail);
	if (ipc_close(ob) == -1)
		log_warn("queue: cannot answer control");
}

/*
 * Listings.
 */
static struct qctl_walk *
walk_find(uint32_t peerid)
{
	struct qctl_walk	*w;

	TAILQ_FOREACH(w, &walks, entry)
		if (w->peerid == peerid)
			return w;
	return NULL;
}

static void
walk_free(struct qctl_walk *w)
{
	TAILQ_REMOVE(&walks, w, entry);
	nwalks--;
	free(w);
}

/* A listing of every message (only 0) or of one, unread frames sent. */
static void
walk_start(uint32_t peerid, uint64_t only, uint32_t unread)
{
	struct qctl_walk	*w;

	/* Control sends one request per client at a time; a new control
	 * process numbers its clients from 1 again. */
	if ((w = walk_find(peerid)) != NULL) {
		log_warnx("queue: a listing for client %u was still running: "
		    "dropped", peerid);
		walk_free(w);
	}
	if (nwalks >= QCTL_MAX_WALKS) {
		qctl_reply(peerid, "too many listings at once, try again");
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s", __func__);
	w->peerid = peerid;
	w->only = only;
	w->msgid = only;
	w->unread = unread;
	TAILQ_INSERT_TAIL(&walks, w, entry);
	nwalks++;
	walk_run(w);
}

/* Send frames while the window allows; the end is answered OK. */
static void
walk_run(struct qctl_walk *w)
{
	int	 done = 0;

	while (w->unread < CTL_WINDOW && !done) {
		if (walk_frame(w, &done) == -1) {
			walk_free(w);
			return;
		}
	}
	if (done) {
		qctl_reply(w->peerid, NULL);
		walk_free(w);
	}
}

/*
 * Fill one IMSG_CTL_ENVELOPES frame from the cursor on and send it;
 * *done when the walk has reached its end.  -1 when control's channel
 * is gone or failed.
 */
static int
walk_frame(struct qctl_walk *w, int *done)
{
	struct ipc		*ch;
	struct ipc_obuf		*ob = NULL;
	struct qmsg		*qm;
	struct qevp		*qe;
	struct envelope		*evps, *e;
	char			 from[MAILADDR_STRSIZE], to[MAILADDR_STRSIZE];
	const char		*state, *dest;
	size_t			 nevps, i, len, size = 0;

	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return -1;
	*done = 1;
	while ((qm = store_msg_nfind(w->msgid)) != NULL) {
		if (w->only != 0 && qm->msgid != w->only)
			break;
		if (store_msg_load(qm->msgid, &evps, &nevps) == -1) {
			log_warn("%016llx queue: cannot read the envelopes "
			    "to list them", (unsigned long long)qm->msgid);
			nevps = 0;
			evps = NULL;
		}
		for (i = 0; i < nevps; i++) {
			e = &evps[i];
			if (e->idx < w->idx ||
			    (qe = store_msg_evp(qm, e->idx)) == NULL ||
			    qe->state == QEVP_DONE)
				continue;
			addr_text(&e->sender, from, sizeof(from));
			addr_text(&e->rcpt, to, sizeof(to));
			state = state_name(qe->state);
			dest = dest_name(e->dest);
			len = 8 + 4 + QCTL_STR(state) + QCTL_STR(dest) +
			    QCTL_STR(from) + QCTL_STR(to) + 8 + 8 + 8 + 8 +
			    4 + QCTL_STR(e->error);
			if (ob != NULL && size + len > CTL_FRAME_MAX) {
				/* full: this envelope starts the next */
				w->msgid = qm->msgid;
				w->idx = e->idx;
				free(evps);
				*done = 0;
				goto send;
			}
			if (ob == NULL)
				ob = ipc_create(ch, IMSG_CTL_ENVELOPES,
				    w->peerid, -1);
			ipc_add_u64(ob, qm->msgid);
			ipc_add_u32(ob, e->idx);
			ipc_add_string(ob, state);
			ipc_add_string(ob, dest);
			ipc_add_string(ob, from);
			ipc_add_string(ob, to);
			ipc_add_u64(ob, qm->size);
			ipc_add_i64(ob, (int64_t)e->ctime);
			ipc_add_i64(ob, (int64_t)e->lasttry);
			ipc_add_i64(ob, (int64_t)qe->nexttry);
			ipc_add_u32(ob, qe->attempts);
			ipc_add_string(ob, e->error);
			size += len;
		}
		free(evps);
		w->idx = 0;
		if (qm->msgid == UINT64_MAX)
			break;
		w->msgid = qm->msgid + 1;
	}
	if (ob == NULL)
		return 0;
 send:
	if (ipc_close(ob) == -1) {
		log_warn("queue: cannot send IMSG_CTL_ENVELOPES");
		return -1;
	}
	w->unread++;
	return 0;
}

static const char *
state_name(int state)
{
	switch (state) {
	case QEVP_SCHEDULED:
		return "scheduled";
	case QEVP_INFLIGHT:
		return "inflight";
	case QEVP_HELD:
		return "held";
	}
	return "done";
}

static const char *
dest_name(uint32_t dest)
{
	switch (dest) {
	case DEST_MAILDIR:
		return "maildir";
	case DEST_LMTP:
		return "lmtp";
	}
	return "relay";
}

/* An address as the logs show it between <>; "" for the null path. */
static void
addr_text(const struct mailaddr *a, char *buf, size_t size)
{
	if (mailaddr_format(a, buf, size) == -1)
		(void)strlcpy(buf, "?", size);
}

/*
 * show message: a header frame, then the envelopes.
 */
static void
show_message(uint32_t peerid, uint64_t msgid)
{
	struct ipc		*ch;
	struct ipc_obuf		*ob;
	struct qmsg		*qm;
	struct envelope		*evps;
	char			 from[MAILADDR_STRSIZE];
	size_t			 nevps;

	if ((qm = store_msg_find(msgid)) == NULL) {
		qctl_reply(peerid, "no such message");
		return;
	}
	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	from[0] = '\0';
	if (store_msg_load(msgid, &evps, &nevps) == 0) {
		if (nevps > 0)
			addr_text(&evps[0].sender, from, sizeof(from));
		free(evps);
	} else
		log_warn("%016llx queue: cannot read the envelopes",
		    (unsigned long long)msgid);
	ob = ipc_create(ch, IMSG_CTL_MESSAGE, peerid, -1);
	ipc_add_u64(ob, msgid);
	ipc_add_u64(ob, qm->size);
	ipc_add_i64(ob, (int64_t)qm->ctime);
	ipc_add_u32(ob, qm->nlive);
	ipc_add_string(ob, from);
	add_headers(ob, msgid);
	if (ipc_close(ob) == -1) {
		log_warn("queue: cannot send IMSG_CTL_MESSAGE");
		return;
	}
	walk_start(peerid, msgid, 1);
}

/*
 * The header lines an operator looks for (the first of each name, in
 * the order of the message, unfolded), from the start of the body: what
 * the header section holds past QCTL_HDR_READ bytes is not looked at.
 */
static void
add_headers(struct ipc_obuf *ob, uint64_t msgid)
{
	static const char *const names[] = {
		"From", "To", "Cc", "Subject", "Date", "Message-ID"
	};
	char		 buf[QCTL_HDR_READ];
	char		 line[QCTL_HDR_LINE + 1];
	const char	*p, *end, *eol, *colon;
	size_t		 have = 0, len = 0, i, n, nl;
	ssize_t		 r;
	int		 fd, seen[sizeof(names) / sizeof(names[0])];
	int		 cur = -1;

	memset(seen, 0, sizeof(seen));
	if ((fd = store_open_body(msgid)) == -1) {
		log_warn("%016llx queue: cannot open the message",
		    (unsigned long long)msgid);
		return;
	}
	while (have < sizeof(buf)) {
		if ((r = read(fd, buf + have, sizeof(buf) - have)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%016llx queue: read", (unsigned long long)
			    msgid);
			break;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	close(fd);

	for (p = buf, end = buf + have; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', end - p)) == NULL)
			eol = end;	/* cut short: taken as it is */
		nl = eol - p;
		if (nl > 0 && p[nl - 1] == '\r')
			nl--;
		if (nl > 0 && (p[0] == ' ' || p[0] == '\t')) {
			/* a continuation: one space for the fold */
			if (cur == -1)
				continue;
			while (nl > 0 && (*p == ' ' || *p == '\t')) {
				p++;
				nl--;
			}
			if (len < QCTL_HDR_LINE)
				line[len++] = ' ';
		} else {
			if (cur != -1) {
				line[len] = '\0';
				ipc_add_string(ob, line);
				cur = -1;
			}
			if (nl == 0)
				break;		/* the end of the header */
			colon = memchr(p, ':', nl);
			for (i = 0; colon != NULL &&
			    i < sizeof(names) / sizeof(names[0]); i++)
				if (!seen[i] &&
				    (size_t)(colon - p) == strlen(names[i]) &&
				    strncasecmp(p, names[i], colon - p) == 0)
					break;
			if (colon == NULL || i == sizeof(names) /
			    sizeof(names[0]))
				continue;
			seen[i] = 1;
			cur = (int)i;
			len = 0;
		}
		for (n = 0; n < nl && len < QCTL_HDR_LINE; n++) {
			/* control characters do not reach a terminal */
			line[len++] = ((unsigned char)p[n] < 0x20 ||
			    p[n] == 0x7f) ? '?' : p[n];
		}
		if (eol == end)
			break;
	}
	if (cur != -1) {
		line[len] = '\0';
		ipc_add_string(ob, line);
	}
}

/*
 * schedule and remove.
 */
static void
schedule(uint32_t peerid, int all, uint64_t msgid)
{
	struct qmsg	*qm;
	time_t		 now = queue_now();
	uint32_t	 nmsg = 0, nevp = 0, skipped = 0, i, k;

	if (!all && (qm = store_msg_find(msgid)) == NULL) {
		qctl_reply(peerid, "no such message");
		return;
	}
	for (qm = all ? store_msg_first() : store_msg_find(msgid);
	    qm != NULL; qm = all ? store_msg_next(qm) : NULL) {
		for (i = 0, k = 0; i < qm->nevp; i++) {
			switch (qm->evp[i].state) {
			case QEVP_SCHEDULED:
				store_sched_retime(&qm->evp[i], now);
				k++;
				break;
			case QEVP_INFLIGHT:
			case QEVP_HELD:
				skipped++;
				break;
			}
		}
		if (k > 0) {
			nmsg++;
			nevp += k;
			log_info("%016llx queue event=schedule envelopes=%u "
			    "by=smtpctl", (unsigned long long)qm->msgid, k);
		}
	}
	if (nevp > 0)
		scheduler_kick();
	send_result(peerid, nmsg, nevp, skipped);
}

static int
inflight(const struct qmsg *qm)
{
	uint32_t	 i;

	for (i = 0; i < qm->nevp; i++)
		if (qm->evp[i].state == QEVP_INFLIGHT)
			return 1;
	return 0;
}

static void
remove_msgs(uint32_t peerid, int all, uint64_t msgid)
{
	struct qmsg	*qm, *next;
	char		 reason[128];
	uint32_t	 nmsg = 0, nevp = 0, skipped = 0, live;
	uint64_t	 id;

	if (!all) {
		if ((qm = store_msg_find(msgid)) == NULL) {
			qctl_reply(peerid, "no such message");
			return;
		}
		if (inflight(qm)) {
			(void)snprintf(reason, sizeof(reason), "message "
			    "%016llx is being delivered: remove it when the "
			    "attempt is over", (unsigned long long)msgid);
			qctl_reply(peerid, reason);
			return;
		}
	}
	for (qm = all ? store_msg_first() : store_msg_find(msgid);
	    qm != NULL; qm = next) {
		next = all ? store_msg_next(qm) : NULL;
		if (inflight(qm)) {
			skipped++;
			continue;
		}
		id = qm->msgid;
		live = qm->nlive;
		if (store_remove(id) == -1) {
			log_warn("%016llx queue: cannot remove",
			    (unsigned long long)id);
			skipped++;
			continue;
		}
		nmsg++;
		nevp += live;
		log_info("%016llx queue event=remove envelopes=%u by=smtpctl",
		    (unsigned long long)id, live);
	}
	send_result(peerid, nmsg, nevp, skipped);
}

static void
send_result(uint32_t peerid, uint32_t nmsg, uint32_t nevp, uint32_t skipped)
{
	struct ipc	*ch;
	struct ipc_obuf	*ob;

	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	ob = ipc_create(ch, IMSG_CTL_QUEUE_RESULT, peerid, -1);
	ipc_add_u32(ob, nmsg);
	ipc_add_u32(ob, nevp);
	ipc_add_u32(ob, skipped);
	if (ipc_close(ob) == -1) {
		log_warn("queue: cannot send IMSG_CTL_QUEUE_RESULT");
		return;
	}
	qctl_reply(peerid, NULL);
}

/*
 * pause|resume delivery, stats.
 */
static void
pause_delivery(uint32_t peerid, int on)
{
	if (scheduler_paused() != on)
		log_info("queue event=%s what=delivery by=smtpctl",
		    on ? "pause" : "resume");
	scheduler_pause(on);
	qctl_reply(peerid, NULL);
}

static void
send_stats(uint32_t peerid)
{
	const struct store_stats	*st = store_stats();
	const struct scheduler_stats	*ss = scheduler_stats();
	struct ipc			*ch;
	struct ipc_obuf			*ob;

	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	ob = ipc_create(ch, IMSG_CTL_STATS, peerid, -1);
	add_stat(ob, "queue.messages", (int64_t)store_msg_count());
	add_stat(ob, "queue.envelopes", (int64_t)store_evp_count());
	add_stat(ob, "queue.scheduled",
	    (int64_t)store_state_count(QEVP_SCHEDULED));
	add_stat(ob, "queue.waiting", (int64_t)store_parked_count());
	add_stat(ob, "queue.inflight",
	    (int64_t)store_state_count(QEVP_INFLIGHT));
	add_stat(ob, "queue.held", (int64_t)store_state_count(QEVP_HELD));
	add_stat(ob, "store.commits", (int64_t)st->commits);
	add_stat(ob, "store.syncs", (int64_t)st->syncs);
	add_stat(ob, "store.recovered", (int64_t)st->recovered);
	add_stat(ob, "store.corrupt", (int64_t)st->corrupt);
	add_stat(ob, "store.verified", (int64_t)st->verified);
	add_stat(ob, "store.recycled", (int64_t)st->recycled);
	add_stat(ob, "store.free", (int64_t)store_free_count());
	add_stat(ob, "store.trash", (int64_t)store_trash_count());
	add_stat(ob, "delivery.paused", scheduler_paused());
	add_stat(ob, "delivery.batches", (int64_t)ss->batches);
	add_stat(ob, "delivery.batches_now", (int64_t)ss->nbatch);
	add_stat(ob, "delivery.ok", (int64_t)ss->delivered);
	add_stat(ob, "delivery.tempfail", (int64_t)ss->tempfail);
	add_stat(ob, "delivery.permfail", (int64_t)ss->permfail);
	add_stat(ob, "delivery.expired", (int64_t)ss->expired);
	add_stat(ob, "delivery.bounces", (int64_t)ss->dsn_failed);
	add_stat(ob, "delivery.delay_notices", (int64_t)ss->dsn_delayed);
	if (ipc_close(ob) == -1) {
		log_warn("queue: cannot send IMSG_CTL_STATS");
		return;
	}
	qctl_reply(peerid, NULL);
}

static void
add_stat(struct ipc_obuf *ob, const char *key, int64_t value)
{
	ipc_add_string(ob, key);
	ipc_add_i64(ob, value);
}
