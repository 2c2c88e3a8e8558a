/*
 * Portcullis: the queue's scheduler, in-process.  The queue's
 * dispatcher runs over three socketpairs, the test playing the front
 * end, delivery and the mailbox process, with a test clock (queue_test_now):
 * commits are routed and sent as batches with the body descriptor,
 * results delete, retry at the configured steps, warn and bounce, the
 * limits hold, and what delivery or mailbox had in flight when it died
 * comes back.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "unit.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "config.h"
#include "queue_imsg.h"
#include "delivery_imsg.h"
#include "mailbox_imsg.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"
#include "queue_store.h"
#include "scheduler.h"

#define T0	1764322928

static char	 topdir[] = "/tmp/portcullis-sched.XXXXXX";
static const char body[] = "Received: from x\r\nSubject: hi\r\n\r\nhello\r\n";

/* The process model, replaced: these stand in for smtpd/proc.c. */
static proc_dispatch	 qdispatch;
static proc_conf_hook	 qconf;
static proc_peer_hook	 qpeer_closed;
static struct ipc	 q_smtp, t_smtp, q_del, t_del, q_mbx, t_mbx;
static int		 delivery_up, mailbox_up;

void
proc_set_dispatch(proc_dispatch fn)
{
	qdispatch = fn;
}

void
proc_set_conf(proc_conf_hook fn)
{
	qconf = fn;
}

void
proc_set_peer_closed(proc_peer_hook fn)
{
	qpeer_closed = fn;
}

struct ipc *
proc_channel(enum proc_id id)
{
	if (id == PROC_SMTP)
		return &q_smtp;
	if (id == PROC_DELIVERY && delivery_up)
		return &q_del;
	if (id == PROC_MAILBOX && mailbox_up)
		return &q_mbx;
	return NULL;
}

const char *
proc_name(enum proc_id id)
{
	return id == PROC_SMTP ? "smtp" : id == PROC_DELIVERY ? "delivery" :
	    id == PROC_MAILBOX ? "mailbox" : "other";
}

/* Deliver what the test side wrote to the queue's dispatcher. */
static void
feed(struct ipc *t, struct ipc *q, enum proc_id from)
{
	struct ipc_msg	 m;

	(void)ipc_flush(t);
	while (ipc_read(q) > 0) {
		while (ipc_get(q, &m) == 1) {
			qdispatch(from, &m);
			if (m.fd != -1)
				close(m.fd);
		}
	}
}

/* Let the queue run: its zero-delay timers (sync, scheduling pass). */
static void
settle(void)
{
	int	 i;

	for (i = 0; i < 6; i++) {
		feed(&t_smtp, &q_smtp, PROC_SMTP);
		feed(&t_del, &q_del, PROC_DELIVERY);
		feed(&t_mbx, &q_mbx, PROC_MAILBOX);
		(void)event_loop(EVLOOP_NONBLOCK);
		(void)ipc_flush(&q_smtp);
		if (delivery_up)
			(void)ipc_flush(&q_del);
		if (mailbox_up)
			(void)ipc_flush(&q_mbx);
	}
}

static void
at(time_t t)
{
	queue_test_now = t;
	scheduler_kick();
	settle();
}

/* A batch as delivery (or mailbox) receives it. */
struct rbatch {
	struct ipc	*t;		/* the test's end */
	uint32_t	 id;
	uint64_t	 msgid;
	uint32_t	 count;
	int		 fd;
	struct envelope	 evp[DELIVERY_BATCH_MAX];
	size_t		 n;
	int		 complete;
};

static int	 next_any(struct ipc *, struct rbatch *);

static int
next_batch(struct rbatch *b)
{
	return next_any(&t_del, b);
}

/* The same protocol, from the mailbox side. */
static int
next_mbatch(struct rbatch *b)
{
	return next_any(&t_mbx, b);
}

static int
next_any(struct ipc *t, struct rbatch *b)
{
	struct ipc_msg	 m;
	int		 mbx = t == &t_mbx;

	memset(b, 0, sizeof(*b));
	b->t = t;
	b->fd = -1;
	for (;;) {
		if (ipc_get(t, &m) != 1) {
			if (ipc_read(t) <= 0 || ipc_get(t, &m) != 1)
				return 0;
		}
		if (m.hdr.type == (mbx ? IMSG_MAILBOX_DELIVER_REQ :
		    IMSG_DELIVERY_DELIVER_REQ)) {
			b->id = m.hdr.peerid;
			b->msgid = ipc_get_u64(&m);
			b->count = ipc_get_u32(&m);
			ipc_end(&m);
			b->fd = m.fd;
		} else if (m.hdr.type == (mbx ? IMSG_MAILBOX_DELIVER_RCPT :
		    IMSG_DELIVERY_DELIVER_RCPT)) {
			if (b->n < DELIVERY_BATCH_MAX)
				envelope_get(&m, &b->evp[b->n++]);
		} else if (m.hdr.type == (mbx ? IMSG_MAILBOX_DELIVER_GO :
		    IMSG_DELIVERY_DELIVER_GO)) {
			ipc_end(&m);
			b->complete = m.hdr.peerid == b->id &&
			    b->n == b->count;
			return 1;
		} else {
			printf("unexpected type %x\n", m.hdr.type);
			return 0;
		}
	}
}

static void
result(struct rbatch *b, size_t i, uint32_t status, const char *reply,
    const char *host)
{
	struct ipc_obuf	*o;

	if (b->t == &t_mbx) {
		o = ipc_create(b->t, IMSG_MAILBOX_RESULT, b->id, -1);
		ipc_add_u64(o, b->msgid);
		ipc_add_u32(o, b->evp[i].idx);
		ipc_add_u32(o, status);
		ipc_add_string(o, reply);
		(void)ipc_close(o);
		return;
	}
	o = ipc_create(&t_del, IMSG_DELIVERY_RESULT, b->id, -1);
	ipc_add_u64(o, b->msgid);
	ipc_add_u32(o, b->evp[i].idx);
	ipc_add_u32(o, status);
	ipc_add_string(o, reply);
	ipc_add_string(o, host);
	(void)ipc_close(o);
}

static void
done(struct rbatch *b)
{
	struct ipc_obuf	*o;

	o = ipc_create(b->t, b->t == &t_mbx ? IMSG_MAILBOX_DONE :
	    IMSG_DELIVERY_DONE, b->id, -1);
	ipc_add_u64(o, b->msgid);
	(void)ipc_close(o);
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
}

/* The whole batch answered with one status. */
static void
answer_all(struct rbatch *b, uint32_t status, const char *reply)
{
	size_t	 i;

	for (i = 0; i < b->n; i++)
		result(b, i, status, reply, "mx.remote.test");
	done(b);
	settle();
}

/* Commit a message through the front-end protocol; its msgid or 0. */
static uint64_t
commit(const char *sender, const char **rcpts, size_t n, uint32_t notify,
    uint32_t ret)
{
	static uint32_t	 session = 1;
	struct ipc_obuf	*o;
	struct ipc_msg	 m;
	struct envelope	 e;
	uint64_t	 msgid = 0;
	size_t		 i;
	int		 fd = -1;

	session++;
	o = ipc_create(&t_smtp, IMSG_QUEUE_CREATE_REQ, session, -1);
	(void)ipc_close(o);
	feed(&t_smtp, &q_smtp, PROC_SMTP);
	(void)ipc_flush(&q_smtp);
	if (ipc_read(&t_smtp) <= 0 || ipc_get(&t_smtp, &m) != 1 ||
	    m.hdr.type != IMSG_QUEUE_CREATE_OK)
		return 0;
	msgid = ipc_get_u64(&m);
	ipc_end(&m);
	fd = m.fd;
	if (fd == -1 || write(fd, body, sizeof(body) - 1) !=
	    sizeof(body) - 1)
		return 0;
	close(fd);
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		(void)mailaddr_parse_path(sender, strlen(sender),
		    PARSE_ALLOW_NULL, &e.sender, NULL, NULL);
		(void)mailaddr_parse_path(rcpts[i], strlen(rcpts[i]),
		    PARSE_ALLOW_POSTMASTER, &e.rcpt, NULL, NULL);
		e.notify = notify;
		e.ret = ret;
		(void)strlcpy(e.helo, "client.test", sizeof(e.helo));
		(void)strlcpy(e.client, "192.0.2.7", sizeof(e.client));
		o = ipc_create(&t_smtp, IMSG_QUEUE_ENVELOPE, session, -1);
		ipc_add_u64(o, msgid);
		envelope_add(o, &e);
		(void)ipc_close(o);
	}
	o = ipc_create(&t_smtp, IMSG_QUEUE_COMMIT_REQ, session, -1);
	ipc_add_u64(o, msgid);
	ipc_add_u64(o, sizeof(body) - 1);
	(void)ipc_close(o);
	settle();
	if (ipc_read(&t_smtp) < 0)
		return 0;
	if (ipc_get(&t_smtp, &m) != 1 || m.hdr.type != IMSG_QUEUE_COMMIT_OK)
		return 0;
	if (ipc_get_u64(&m) != msgid)
		return 0;
	ipc_end(&m);
	return msgid;
}

static struct config *
test_conf(void)
{
	struct config		*c;
	struct accept_rule	*a;
	static const struct {
		const char	*domain;
		int		 deliver;
	} acc[] = {
		{ "local.test", ACCEPT_LMTP },
		{ "box.test", ACCEPT_MAILDIR },
		{ "relay.test", ACCEPT_RELAY },
		{ "mx.test", ACCEPT_LMTP },
	};
	size_t			 i;

	if ((c = config_default()) == NULL)
		exit(2);
	(void)strlcpy(c->hostname, "mx.test", sizeof(c->hostname));
	c->queue.retry[0] = 300;
	c->queue.retry[1] = 900;
	c->queue.nretry = 2;
	c->queue.warn_after = 3600;
	c->queue.bounce_after = 7200;
	c->queue.deliveries = 4;
	c->queue.per_domain = 2;
	for (i = 0; i < sizeof(acc) / sizeof(acc[0]); i++) {
		if ((a = calloc(1, sizeof(*a))) == NULL)
			exit(2);
		(void)strlcpy(a->domain, acc[i].domain, sizeof(a->domain));
		a->deliver = acc[i].deliver;
		TAILQ_INSERT_TAIL(&c->accepts, a, entry);
	}
	return c;
}

/* The DSN messages in the queue (EF_BOUNCE), at most max. */
static size_t
dsns(uint64_t *ids, size_t max)
{
	struct qmsg	*qm;
	size_t		 n = 0;

	for (qm = store_msg_first(); qm != NULL; qm = store_msg_next(qm))
		if ((qm->flags & EF_BOUNCE) && n < max)
			ids[n++] = qm->msgid;
	return n;
}

/* The body of a message, NUL-terminated, into buf. */
static const char *
read_body(uint64_t msgid, char *buf, size_t len)
{
	ssize_t	 n;
	int	 fd;

	buf[0] = '\0';
	if ((fd = store_open_body(msgid)) == -1)
		return buf;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
setup(void)
{
	int	 sp[2], dp[2], mp[2];

	if (mkdtemp(topdir) == NULL || chdir(topdir) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, dp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, mp) == -1) {
		perror("setup");
		exit(2);
	}
	ipc_init(&q_smtp, sp[0], "smtp");
	ipc_init(&t_smtp, sp[1], "queue");
	ipc_init(&q_del, dp[0], "delivery");
	ipc_init(&t_del, dp[1], "queue");
	ipc_init(&q_mbx, mp[0], "mailbox");
	ipc_init(&t_mbx, mp[1], "queue");
	delivery_up = 1;
	mailbox_up = 1;
	queue_test_now = T0;
	queue();
}

static void
test_route_and_batches(void)
{
	static const char *rcpts[] = {
		"<bob@relay.test>", "<carol@relay.test>", "<dave@local.test>",
		"<erin@box.test>", "<Postmaster>"
	};
	struct rbatch	 b, b2, mb;
	struct envelope	 e;
	char		 buf[512], dsn[8192];
	uint64_t	 id, ids[4];
	size_t		 nd;
	ssize_t		 n;

	CHECK(qdispatch != NULL && qconf != NULL && qpeer_closed != NULL,
	    "hooks not set");
	/* No config yet: nothing goes out. */
	id = commit("<alice@example.org>", rcpts, 1, 0, 0);
	CHECK(id != 0, "commit");
	CHECK(!next_batch(&b), "a batch before the config");
	qconf(test_conf());
	settle();
	CHECK(next_batch(&b) && b.complete && b.msgid == id && b.n == 1,
	    "the waiting message was not sent after the config");
	answer_all(&b, DELIVERY_OK, "250 ok");
	CHECK(store_msg_find(id) == NULL, "delivered message still here");

	id = commit("<alice@example.org>", rcpts, 5, 0, 0);
	CHECK(id != 0, "commit");
	CHECK(store_envelope_load(id, 0, &e) == 0 && e.dest == DEST_RELAY,
	    "relay.test dest %u", e.dest);
	CHECK(store_envelope_load(id, 2, &e) == 0 && e.dest == DEST_LMTP,
	    "local.test dest %u", e.dest);
	CHECK(store_envelope_load(id, 3, &e) == 0 && e.dest == DEST_MAILDIR,
	    "box.test dest %u", e.dest);
	CHECK(store_envelope_load(id, 4, &e) == 0 && e.dest == DEST_LMTP &&
	    strcmp(e.rcpt.local, "postmaster") == 0 &&
	    strcmp(e.rcpt.domain, "mx.test") == 0,
	    "<Postmaster> went to %s@%s dest %u", e.rcpt.local, e.rcpt.domain,
	    e.dest);

	/* Relay: bob and carol; LMTP: dave and postmaster (delivery);
	 * Maildir: erin (mailbox). */
	CHECK(next_batch(&b) && b.complete && b.msgid == id && b.n == 2 &&
	    b.evp[0].idx == 0 && b.evp[1].idx == 1 && b.fd != -1,
	    "relay batch: n %zu", b.n);
	CHECK(next_batch(&b2) && b2.complete && b2.n == 2 &&
	    b2.evp[0].idx == 2 && b2.evp[1].idx == 4, "lmtp batch: n %zu",
	    b2.n);
	n = pread(b.fd, buf, sizeof(buf), 0);
	CHECK(n == sizeof(body) - 1 && memcmp(buf, body, n) == 0,
	    "the descriptor is not the message");
	/* erin waits: `queue deliveries 4` holds for mailbox too */
	CHECK(!next_mbatch(&mb), "over the limit");
	CHECK(scheduler_stats()->inflight == 4, "inflight %zu",
	    scheduler_stats()->inflight);

	/* bob OK, carol 451; dave and postmaster 550: one DSN. */
	result(&b, 0, DELIVERY_OK, "250 2.0.0 ok", "mx.remote.test");
	result(&b, 1, DELIVERY_TEMPFAIL, "451 4.3.0 later", "mx.remote.test");
	done(&b);
	result(&b2, 0, DELIVERY_PERMFAIL, "550 5.1.1 no such user",
	    "127.0.0.1");
	result(&b2, 1, DELIVERY_PERMFAIL, "550 5.1.1 no such user",
	    "127.0.0.1");
	done(&b2);
	settle();
	CHECK(store_envelope_load(id, 0, &e) == -1, "bob still here");
	CHECK(store_envelope_load(id, 1, &e) == 0 && e.attempts == 1 &&
	    e.lasttry == T0 && e.nexttry == T0 + 300 &&
	    strcmp(e.error, "451 4.3.0 later") == 0,
	    "carol: attempts %u next %lld error %s", e.attempts,
	    (long long)e.nexttry, e.error);
	CHECK(store_envelope_load(id, 2, &e) == -1 &&
	    store_envelope_load(id, 4, &e) == -1, "bounced ones still here");
	CHECK(next_mbatch(&mb) && mb.complete && mb.msgid == id &&
	    mb.n == 1 && mb.evp[0].idx == 3 && mb.evp[0].dest ==
	    DEST_MAILDIR && mb.fd != -1, "maildir batch: n %zu", mb.n);
	CHECK(!next_mbatch(&b2), "a second batch to mailbox");
	if (mb.fd != -1) {
		n = pread(mb.fd, buf, sizeof(buf), 0);
		CHECK(n == sizeof(body) - 1 && memcmp(buf, body, n) == 0,
		    "mailbox's descriptor is not the message");
	}
	answer_all(&mb, DELIVERY_OK, "250 2.0.0 Delivered to the Maildir");
	CHECK(store_envelope_load(id, 3, &e) == -1, "erin still here");
	nd = dsns(ids, 4);
	CHECK(nd == 1 && scheduler_stats()->dsn_failed == 1, "%zu DSNs", nd);
	if (nd == 1) {
		read_body(ids[0], dsn, sizeof(dsn));
		CHECK(strstr(dsn, "To: <alice@example.org>") != NULL,
		    "DSN To:");
		/* Both failed recipients are in the one report. */
		CHECK(strstr(dsn, "Final-Recipient: rfc822; dave@local.test") !=
		    NULL && strstr(dsn, "Final-Recipient: rfc822; "
		    "postmaster@mx.test") != NULL, "DSN recipients");
		CHECK(store_envelope_load(ids[0], 0, &e) == 0 &&
		    (e.sender.flags & MAILADDR_NULL) &&
		    strcmp(e.rcpt.local, "alice") == 0 &&
		    e.flags == EF_BOUNCE && e.dest == DEST_RELAY,
		    "DSN envelope");
		/* It goes out at once, and goes away when delivered. */
		CHECK(next_batch(&b) && b.msgid == ids[0] && b.n == 1 &&
		    (b.evp[0].sender.flags & MAILADDR_NULL), "DSN not sent");
		answer_all(&b, DELIVERY_OK, "250 ok");
		CHECK(store_msg_find(ids[0]) == NULL, "DSN still queued");
	}
	CHECK(!next_batch(&b), "a batch nobody asked for");
	at(T0 + 300);
	CHECK(next_batch(&b) && b.msgid == id && b.n == 1 &&
	    b.evp[0].idx == 1 && b.evp[0].attempts == 1, "carol not retried");
	answer_all(&b, DELIVERY_OK, "250 ok");
	CHECK(store_msg_find(id) == NULL, "the message is still queued");
}

static void
test_retry_warn_bounce(void)
{
	static const char *rcpts[] = { "<carol@relay.test>" };
	struct rbatch	 b;
	struct envelope	 e;
	char		 buf[8192];
	uint64_t	 id, ids[4];
	time_t		 t = T0 + 10000;
	size_t		 nd;

	at(t);
	id = commit("<alice@example.org>", rcpts, 1, 0, DSN_RET_FULL);
	CHECK(id != 0, "commit");
	CHECK(next_batch(&b) && b.n == 1, "first try");
	answer_all(&b, DELIVERY_TEMPFAIL, "451 4.3.0 later");
	at(t + 299);
	CHECK(!next_batch(&b), "retried before the first step");
	at(t + 300);
	CHECK(next_batch(&b) && b.n == 1 && b.evp[0].attempts == 1,
	    "not retried at the first step");
	answer_all(&b, DELIVERY_TEMPFAIL, "451 4.3.0 later");
	CHECK(store_envelope_load(id, 0, &e) == 0 && e.attempts == 2 &&
	    e.nexttry == t + 300 + 900, "second step: next %lld",
	    (long long)(e.nexttry - t));
	at(t + 1200);
	CHECK(next_batch(&b), "not retried at the second step");
	answer_all(&b, DELIVERY_TEMPFAIL, "451 4.3.0 later");
	CHECK(store_envelope_load(id, 0, &e) == 0 && e.attempts == 3 &&
	    e.nexttry == t + 1200 + 900, "the last step does not repeat");
	CHECK(scheduler_stats()->dsn_delayed == 0, "warned too early");

	/* Past warn-after: one delay DSN, once. */
	at(t + 3700);
	CHECK(next_batch(&b), "not retried");
	answer_all(&b, DELIVERY_TEMPFAIL, "451 4.3.0 later");
	CHECK(scheduler_stats()->dsn_delayed == 1, "no delay DSN");
	CHECK(store_envelope_load(id, 0, &e) == 0 && e.warned == 1,
	    "not marked warned");
	nd = dsns(ids, 4);
	CHECK(nd == 1, "%zu DSNs", nd);
	if (nd == 1) {
		read_body(ids[0], buf, sizeof(buf));
		CHECK(strstr(buf, "Action: delayed") != NULL &&
		    strstr(buf, "Will-Retry-Until: ") != NULL, "delay DSN");
		CHECK(next_batch(&b) && b.msgid == ids[0], "delay DSN sent");
		answer_all(&b, DELIVERY_OK, "250 ok");
	}
	at(t + 4600);
	CHECK(next_batch(&b), "not retried");
	answer_all(&b, DELIVERY_TEMPFAIL, "451 4.3.0 later");
	CHECK(scheduler_stats()->dsn_delayed == 1, "warned twice");

	/* Past bounce-after: failed, with the whole message (RET=FULL). */
	at(t + 7300);
	CHECK(next_batch(&b), "not retried");
	answer_all(&b, DELIVERY_TEMPFAIL, "451 4.4.1 timeout");
	CHECK(store_msg_find(id) == NULL, "expired message still here");
	CHECK(scheduler_stats()->expired == 1 &&
	    scheduler_stats()->dsn_failed == 2, "expired %llu failed %llu",
	    (unsigned long long)scheduler_stats()->expired,
	    (unsigned long long)scheduler_stats()->dsn_failed);
	nd = dsns(ids, 4);
	CHECK(nd == 1, "%zu DSNs", nd);
	if (nd == 1) {
		read_body(ids[0], buf, sizeof(buf));
		CHECK(strstr(buf, "Action: failed") != NULL &&
		    strstr(buf, "Status: 4.4.1") != NULL &&
		    strstr(buf, "Content-Type: message/rfc822") != NULL &&
		    strstr(buf, "hello\r\n") != NULL, "expiry DSN");
		CHECK(next_batch(&b) && b.msgid == ids[0], "DSN sent");
		answer_all(&b, DELIVERY_OK, "250 ok");
	}
}

static void
test_no_bounce(void)
{
	static const char *rcpts[] = { "<x@relay.test>", "<y@local.test>" };
	struct rbatch	 b;
	uint64_t	 id, ids[4];
	uint64_t	 dropped = scheduler_stats()->dropped;

	at(T0 + 20000);
	/* The null sender: dropped, never bounced. */
	id = commit("<>", rcpts, 1, 0, 0);
	CHECK(next_batch(&b) && b.msgid == id, "not sent");
	answer_all(&b, DELIVERY_PERMFAIL, "550 5.1.1 unknown");
	CHECK(store_msg_find(id) == NULL && dsns(ids, 4) == 0 &&
	    scheduler_stats()->dropped == dropped + 1,
	    "a bounce of a bounce");

	/* NOTIFY=NEVER. */
	id = commit("<alice@example.org>", rcpts, 1, DSN_NOTIFY_NEVER, 0);
	CHECK(next_batch(&b) && b.msgid == id, "not sent");
	answer_all(&b, DELIVERY_PERMFAIL, "550 5.1.1 unknown");
	CHECK(store_msg_find(id) == NULL && dsns(ids, 4) == 0,
	    "NOTIFY=NEVER bounced");

	/* NOTIFY=SUCCESS, delivered over LMTP: a "delivered" DSN. */
	id = commit("<alice@example.org>", rcpts + 1, 1, DSN_NOTIFY_SUCCESS,
	    0);
	CHECK(next_batch(&b) && b.msgid == id, "not sent");
	answer_all(&b, DELIVERY_OK, "250 2.1.5 ok");
	CHECK(store_msg_find(id) == NULL && dsns(ids, 4) == 1 &&
	    scheduler_stats()->dsn_delivered == 1, "no success DSN");
	if (next_batch(&b))
		answer_all(&b, DELIVERY_OK, "250 ok");
}

static void
test_limits(void)
{
	static const char *rcpts[] = {
		"<a@relay.test>", "<b@relay.test>", "<c@relay.test>",
		"<d@relay.test>", "<e@relay.test>", "<f@relay.test>",
		"<a@other.test>", "<b@other.test>", "<c@other.test>",
		"<a@third.test>",
	};
	struct rbatch	 b[8];
	uint64_t	 id;
	size_t		 got = 0, i, nb;
	int		 rounds = 0;

	at(T0 + 30000);
	id = commit("<alice@example.org>", rcpts, 10, 0, 0);
	CHECK(id != 0, "commit");
	while (got < 10 && rounds++ < 10) {
		for (nb = 0; nb < 8 && next_batch(&b[nb]); nb++)
			;
		CHECK(nb > 0, "round %d: nothing sent, %zu of 10", rounds,
		    got);
		if (nb == 0)
			break;
		CHECK(scheduler_stats()->inflight <= 4, "inflight %zu",
		    scheduler_stats()->inflight);
		CHECK(scheduler_domain_inflight("relay.test") <= 2 &&
		    scheduler_domain_inflight("other.test") <= 2,
		    "per domain %u %u",
		    scheduler_domain_inflight("relay.test"),
		    scheduler_domain_inflight("other.test"));
		for (i = 0; i < nb; i++) {
			got += b[i].n;
			answer_all(&b[i], DELIVERY_OK, "250 ok");
		}
	}
	CHECK(got == 10 && store_msg_find(id) == NULL, "%zu delivered", got);
	CHECK(scheduler_stats()->max_inflight <= 4 &&
	    scheduler_stats()->max_domain <= 2, "high water %zu %u",
	    scheduler_stats()->max_inflight, scheduler_stats()->max_domain);
}

/*
 * A backlog for one domain, at its limit: the due envelopes the pass
 * cannot send wait on the domain's list, out of the schedule (a pass
 * would otherwise walk past all of them for every message sent), and
 * go in the order they came, one for each slot freed.  Removing one,
 * or scheduling it later, takes it off the list.
 */
static void
test_busy_domain_waits(void)
{
	static const char *rcpt[] = { "<x@busy.test>" };
	struct rbatch	 b[4];
	struct qevp	*qe;
	uint64_t	 ids[12], order[12];
	size_t		 i, nb, got = 0, k;
	int		 rounds = 0;

	at(T0 + 60000);
	for (i = 0; i < 12; i++) {
		ids[i] = commit("<alice@example.org>", rcpt, 1, 0, 0);
		CHECK(ids[i] != 0, "commit %zu", i);
	}
	settle();
	/* Two in flight (per-domain 2), the other ten wait. */
	CHECK(scheduler_domain_inflight("busy.test") == 2,
	    "in flight %u", scheduler_domain_inflight("busy.test"));
	CHECK(store_parked_count() == 10, "%zu waiting, not 10",
	    store_parked_count());
	for (nb = 0; nb < 4 && next_batch(&b[nb]); nb++)
		;
	CHECK(nb == 2 && b[0].msgid == ids[0] && b[1].msgid == ids[1],
	    "the first two were not sent first");
	for (i = 0; i < nb; i++)
		order[got++] = b[i].msgid;

	/* Taken off the list: one removed, one put off by an hour. */
	CHECK(store_remove(ids[5]) == 0, "remove a waiting message");
	qe = &store_msg_find(ids[6])->evp[0];
	CHECK(qe->parked, "not waiting");
	store_sched_retime(qe, T0 + 60000 + 3600);
	CHECK(!qe->parked && store_parked_count() == 8, "%zu waiting",
	    store_parked_count());

	/* Each slot freed sends the next in line. */
	while (nb > 0 && rounds++ < 20) {
		for (i = 0; i < nb; i++)
			answer_all(&b[i], DELIVERY_OK, "250 ok");
		for (nb = 0; nb < 4 && next_batch(&b[nb]); nb++)
			order[got < 12 ? got++ : got] = b[nb].msgid;
		CHECK(scheduler_domain_inflight("busy.test") <= 2,
		    "in flight %u", scheduler_domain_inflight("busy.test"));
	}
	CHECK(got == 10, "%zu sent, not 10", got);
	for (i = 0, k = 0; i < 12 && k < got; i++) {
		if (i == 5 || i == 6)
			continue;
		CHECK(order[k] == ids[i], "sent %zu-th: not message %zu", k,
		    i);
		k++;
	}
	CHECK(store_parked_count() == 0, "%zu still waiting",
	    store_parked_count());
	CHECK(store_msg_find(ids[6]) != NULL && !next_batch(&b[0]),
	    "the one put off went early");
	at(T0 + 60000 + 3600);
	CHECK(next_batch(&b[0]) && b[0].msgid == ids[6],
	    "the one put off did not go at its time");
	answer_all(&b[0], DELIVERY_OK, "250 ok");
	CHECK(scheduler_stats()->max_domain <= 2, "high water %u",
	    scheduler_stats()->max_domain);
}

/*
 * Maildir recipients go to mailbox, with the same results: one bounced,
 * one retried; when mailbox dies what it had not answered comes back
 * and goes to the new one; delivery's batches are not touched by it.
 */
static void
test_mailbox(void)
{
	static const char *rcpts[] = {
		"<a/b@box.test>", "<c@box.test>", "<d@relay.test>"
	};
	struct rbatch	 mb, b, db;
	struct envelope	 e;
	uint64_t	 id, ids[4];
	size_t		 nd;

	at(T0 + 45000);
	id = commit("<alice@example.org>", rcpts, 3, 0, 0);
	CHECK(id != 0, "commit");
	CHECK(next_batch(&db) && db.complete && db.n == 1 &&
	    db.evp[0].idx == 2, "relay batch");
	CHECK(next_mbatch(&mb) && mb.complete && mb.n == 2 &&
	    mb.evp[0].idx == 0 && mb.evp[1].idx == 1, "maildir batch");
	result(&mb, 0, DELIVERY_PERMFAIL, "550 5.1.1 Mailbox name refused: "
	    "a local part with '/'", "");
	settle();
	/* mailbox dies before c and before DONE */
	if (mb.fd != -1)
		close(mb.fd);
	mailbox_up = 0;
	qpeer_closed(PROC_MAILBOX);
	settle();
	CHECK(store_envelope_load(id, 1, &e) == 0 && e.attempts == 0,
	    "c is not back as it was");
	nd = dsns(ids, 4);
	CHECK(nd == 1, "%zu DSNs for a/b", nd);
	/* delivery's batch is still in flight: it answers. */
	answer_all(&db, DELIVERY_OK, "250 ok");
	CHECK(store_envelope_load(id, 2, &e) == -1, "d still here");
	CHECK(store_envelope_load(id, 0, &e) == -1, "a/b still here");
	/* The DSN goes out (relay), c waits for mailbox. */
	if (nd == 1) {
		CHECK(next_batch(&b) && b.msgid == ids[0], "DSN not sent");
		answer_all(&b, DELIVERY_OK, "250 ok");
	}
	CHECK(!next_mbatch(&mb), "a batch to a dead mailbox");
	CHECK(scheduler_stats()->inflight == 0, "inflight %zu",
	    scheduler_stats()->inflight);
	mailbox_up = 1;
	scheduler_kick();
	settle();
	CHECK(next_mbatch(&mb) && mb.n == 1 && mb.evp[0].idx == 1,
	    "c not sent again");
	answer_all(&mb, DELIVERY_TEMPFAIL, "451 4.3.0 cannot make the "
	    "Maildir");
	CHECK(store_envelope_load(id, 1, &e) == 0 && e.attempts == 1 &&
	    strncmp(e.error, "451 4.3.0", 9) == 0, "c: attempts %u error %s",
	    e.attempts, e.error);
	at(T0 + 45000 + 300);
	CHECK(next_mbatch(&mb) && mb.n == 1 && mb.evp[0].attempts == 1,
	    "c not retried");
	answer_all(&mb, DELIVERY_OK, "250 2.0.0 Delivered");
	CHECK(store_msg_find(id) == NULL, "not all delivered");
}

static void
test_delivery_dies(void)
{
	static const char *rcpts[] = { "<a@relay.test>", "<b@relay.test>" };
	struct rbatch	 b;
	struct envelope	 e;
	uint64_t	 id;

	at(T0 + 40000);
	id = commit("<alice@example.org>", rcpts, 2, 0, 0);
	CHECK(next_batch(&b) && b.n == 2, "not sent");
	/* One result, then delivery dies. */
	result(&b, 0, DELIVERY_OK, "250 ok", "mx.remote.test");
	settle();
	if (b.fd != -1)
		close(b.fd);
	delivery_up = 0;
	qpeer_closed(PROC_DELIVERY);
	settle();
	CHECK(scheduler_stats()->inflight == 0, "still in flight");
	CHECK(store_envelope_load(id, 0, &e) == -1, "the answered one stays");
	CHECK(store_envelope_load(id, 1, &e) == 0 && e.attempts == 0,
	    "the unanswered one is not back as it was");
	/* Back up: sent again. */
	delivery_up = 1;
	scheduler_kick();
	settle();
	CHECK(next_batch(&b) && b.n == 1 && b.evp[0].idx == 1,
	    "not sent again");
	answer_all(&b, DELIVERY_OK, "250 ok");
	CHECK(store_msg_find(id) == NULL, "not delivered");
}

static void
test_recovered_are_sent(void)
{
	static const char *rcpts[] = { "<a@relay.test>" };
	struct rbatch	 b;
	uint64_t	 id;

	/* A message committed while delivery is down waits for it. */
	at(T0 + 50000);
	delivery_up = 0;
	id = commit("<alice@example.org>", rcpts, 1, 0, 0);
	CHECK(id != 0, "commit");
	delivery_up = 1;
	at(T0 + 50001);
	CHECK(next_batch(&b) && b.msgid == id, "not sent when back");
	answer_all(&b, DELIVERY_OK, "250 ok");
}

int
main(void)
{
	int	 devnull;
	char	 cmd[128];

	log_init(1, 0);
	log_procname("test");
	if (getenv("TEST_VERBOSE") == NULL &&
	    (devnull = open("/dev/null", O_WRONLY)) != -1)
		dup2(devnull, STDERR_FILENO);
	event_init();
	ipc_register_names(IMSG_QUEUE_BASE, IMSG_QUEUE_COUNT,
	    queue_imsg_names);
	ipc_register_names(IMSG_DELIVERY_BASE, IMSG_DELIVERY_COUNT,
	    delivery_imsg_names);
	ipc_register_names(IMSG_MAILBOX_BASE, IMSG_MAILBOX_COUNT,
	    mailbox_imsg_names);
	setup();
	RUN(test_route_and_batches);
	RUN(test_retry_warn_bounce);
	RUN(test_no_bounce);
	RUN(test_limits);
	RUN(test_busy_domain_waits);
	RUN(test_mailbox);
	RUN(test_delivery_dies);
	RUN(test_recovered_are_sent);
	if (chdir("/") == 0) {
		(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", topdir);
		(void)system(cmd);
	}
	return unit_done();
}
