/*
 * Portcullis: the delivery process.  It takes batches from the queue
 * (one message, some of its recipients, the message file as a
 * descriptor), routes each recipient (queue/route.c), resolves the
 * route's hosts (queue/dns.c), hands each group of recipients that go
 * the same way to the outbound client (queue/mta.c), and answers the
 * queue once per recipient.
 *
 * It holds the relay credentials and nothing of the spool: it never
 * opens a file, and talks to the network only to deliver.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>
#include <tls.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "mailaddr.h"
#include "config.h"
#include "envelope.h"
#include "envelope_io.h"
#include "delivery_imsg.h"
#include "tlsconf.h"
#include "route.h"
#include "dns.h"
#include "mta.h"

struct dlv_batch;

/* The recipients of a batch that go the same way: one outbound job. */
struct dlv_group {
	TAILQ_ENTRY(dlv_group)	 entry;
	struct dlv_batch	*batch;
	struct route		 route;
	struct envelope		**evps;
	size_t			 nevp;
	struct dns_req		*dns;
	int			 nexthost;	/* rule hosts resolved so far */
	int			 dnsstatus;	/* worst failure seen */
	in_port_t		 port;
	struct mta_host		 hosts[MTA_HOSTS_MAX];
	size_t			 nhost;
	struct mta_rcpt		*rcpts;
	struct mta_job		 job;
	int			 running;	/* the job is started */
};

struct dlv_batch {
	TAILQ_ENTRY(dlv_batch)	 entry;
	uint32_t		 id;		/* the queue's batch id */
	uint64_t		 msgid;
	int			 fd;
	off_t			 size;		/* of the message file */
	uint32_t		 expected;
	uint32_t		 got;
	struct envelope		*evps;
	unsigned		 pending;	/* groups not finished */
	TAILQ_HEAD(, dlv_group)	 groups;
};

static TAILQ_HEAD(, dlv_batch)	 batches = TAILQ_HEAD_INITIALIZER(batches);
static struct config		*delivery_conf;
static struct tls_config	*verify_cfg;	/* system CAs, loaded early */

static void	 delivery_imsg(enum proc_id, struct ipc_msg *);
static void	 delivery_config(struct config *);
static void	 delivery_peer_closed(enum proc_id);
static void	 group_resolve(struct dlv_group *);
static void	 group_finish(struct dlv_group *);

/*
 * Before the sandbox: c-ares reads resolv.conf, libtls its
 * configuration and the system's certificate authorities.
 */
void
delivery_init(void)
{
	char	 err[256];

	if (tls_init() == -1)
		fatalx("tls_init");
	if (dns_init() == -1)
		fatalx("cannot start the resolver");
	if ((verify_cfg = tlsconf_client(0, NULL, err, sizeof(err))) == NULL)
		log_warnx("no certificate authorities (%s): relay rules that "
		    "verify certificates will fail", err);
	if (mta_init(NULL, err, sizeof(err)) == -1)
		fatalx("outbound SMTP: %s", err);
}

void
delivery(void)
{
	proc_set_dispatch(delivery_imsg);
	proc_set_conf(delivery_config);
	proc_set_peer_closed(delivery_peer_closed);
}

static void
delivery_config(struct config *conf)
{
	struct sockaddr_storage	 ss;

	if (conf->resolver_set) {
		ss = conf->resolver;
		if (dns_set_server((struct sockaddr *)&ss,
		    conf->resolver_len) == -1)
			log_warnx("the resolver is busy: the new name server "
			    "is used after a restart of delivery");
	}
	config_free(delivery_conf);
	delivery_conf = conf;
}

static struct dlv_batch *
batch_find(uint32_t id)
{
	struct dlv_batch	*b;

	TAILQ_FOREACH(b, &batches, entry)
		if (b->id == id)
			return b;
	return NULL;
}

static void
batch_free(struct dlv_batch *b)
{
	struct dlv_group	*g;

	while ((g = TAILQ_FIRST(&b->groups)) != NULL) {
		TAILQ_REMOVE(&b->groups, g, entry);
		if (g->dns != NULL)
			dns_cancel(g->dns);
		if (g->running)
			mta_cancel(&g->job);
		free(g->evps);
		free(g->rcpts);
		free(g);
	}
	TAILQ_REMOVE(&batches, b, entry);
	if (b->fd != -1)
		close(b->fd);
	free(b->evps);
	free(b);
}

/* The queue is gone: it reschedules everything that was in flight. */
static void
delivery_peer_closed(enum proc_id id)
{
	struct dlv_batch	*b;

	if (id != PROC_QUEUE)
		return;
	while ((b = TAILQ_FIRST(&batches)) != NULL)
		batch_free(b);
}

static void
send_result(struct dlv_batch *b, const struct envelope *evp, int status,
    const char *reply, const char *host)
{
	struct ipc_obuf	*ob;
	struct ipc	*ch;

	if ((ch = proc_channel(PROC_QUEUE)) == NULL)
		return;
	ob = ipc_create(ch, IMSG_DELIVERY_RESULT, b->id, -1);
	ipc_add_u64(ob, b->msgid);
	ipc_add_u32(ob, evp->idx);
	ipc_add_u32(ob, status);
	ipc_add_string(ob, reply);
	ipc_add_string(ob, host);
	if (ipc_close(ob) == -1)
		fatal("IMSG_DELIVERY_RESULT");
}

static void
batch_done(struct dlv_batch *b)
{
	(void)proc_compose(PROC_QUEUE, IMSG_DELIVERY_DONE, b->id, -1,
	    &b->msgid, sizeof(b->msgid));
	batch_free(b);
}

/* Every recipient of a group gets the same answer. */
static void
group_fail(struct dlv_group *g, int status, const char *reply)
{
	size_t	 i;

	for (i = 0; i < g->nevp; i++)
		send_result(g->batch, g->evps[i], status, reply, "");
	group_finish(g);
}

static void
group_finish(struct dlv_group *g)
{
	struct dlv_batch	*b = g->batch;

	g->running = 0;
	if (--b->pending == 0)
		batch_done(b);
}

static void
group_mta_done(struct mta_job *job, void *arg)
{
	struct dlv_group	*g = arg;
	size_t			 i;
	int			 status;

	(void)job;
	g->running = 0;
	for (i = 0; i < g->nevp; i++) {
		switch (g->rcpts[i].status) {
		case MTA_OK:
			status = DELIVERY_OK;
			break;
		case MTA_PERMFAIL:
			status = DELIVERY_PERMFAIL;
			break;
		default:
			status = DELIVERY_TEMPFAIL;
			break;
		}
		send_result(g->batch, g->evps[i], status, g->rcpts[i].reply,
		    g->job.relay);
	}
	group_finish(g);
}

static void
group_start(struct dlv_group *g)
{
	struct dlv_batch		*b = g->batch;
	const struct delivery_rule	*d = g->route.rule;
	struct mta_job			*job = &g->job;
	const struct envelope		*first = g->evps[0];
	size_t				 i;

	if ((g->rcpts = calloc(g->nevp, sizeof(*g->rcpts))) == NULL) {
		group_fail(g, DELIVERY_TEMPFAIL,
		    "451 4.3.0 Out of memory in delivery");
		return;
	}
	for (i = 0; i < g->nevp; i++) {
		g->rcpts[i].idx = g->evps[i]->idx;
		g->rcpts[i].notify = g->evps[i]->notify;
		(void)strlcpy(g->rcpts[i].orcpt, g->evps[i]->orcpt,
		    sizeof(g->rcpts[i].orcpt));
		if (mailaddr_format(&g->evps[i]->rcpt, g->rcpts[i].addr,
		    sizeof(g->rcpts[i].addr)) == -1)
			fatalx("a recipient that does not format");
	}
	memset(job, 0, sizeof(*job));
	job->msgid = b->msgid;
	if (!(first->sender.flags & MAILADDR_NULL) &&
	    mailaddr_format(&first->sender, job->sender,
	    sizeof(job->sender)) == -1)
		fatalx("a sender that does not format");
	job->body = first->body;
	job->smtputf8 = (first->flags & EF_SMTPUTF8) != 0;
	job->ret = first->ret;
	(void)strlcpy(job->envid, first->envid, sizeof(job->envid));
	job->fd = b->fd;
	job->size = b->size;
	job->rcpts = g->rcpts;
	job->nrcpt = g->nevp;
	job->hosts = g->hosts;
	job->nhost = g->nhost;
	(void)strlcpy(job->helo, delivery_conf->hostname, sizeof(job->helo));
	job->done = group_mta_done;
	job->arg = g;
	switch (g->route.kind) {
	case ROUTE_LMTP:
		job->lmtp = 1;
		job->tls = MTA_TLS_NONE;
		break;
	case ROUTE_RULE:
		if (d->tls == RELAY_TLS_STARTTLS)
			job->tls = MTA_TLS_REQUIRE;
		else if (d->tls == RELAY_TLS_SMTPS)
			job->tls = MTA_TLS_SMTPS;
		else
			job->tls = MTA_TLS_OPPORTUNISTIC;
		job->noverify = d->noverify;
		if (job->tls != MTA_TLS_OPPORTUNISTIC && !d->noverify) {
			if (verify_cfg == NULL) {
				group_fail(g, DELIVERY_TEMPFAIL, "454 4.7.5 "
				    "No certificate authorities to verify "
				    "the relay with");
				return;
			}
			job->tlscfg = verify_cfg;
		}
		break;
	default:
		job->tls = MTA_TLS_OPPORTUNISTIC;
		break;
	}
	if (mta_start(job) == -1) {
		group_fail(g, DELIVERY_TEMPFAIL,
		    "451 4.3.0 Delivery could not start");
		return;
	}
	g->running = 1;
}

/* Add the addresses of one answer, with the route's port. */
static void
group_add_hosts(struct dlv_group *g, const struct mx_list *mx)
{
	struct sockaddr_storage	*ss;
	size_t			 i, j;

	for (i = 0; i < mx->nhosts; i++)
		for (j = 0; j < mx->hosts[i].naddrs; j++) {
			if (g->nhost == MTA_HOSTS_MAX)
				return;
			ss = &g->hosts[g->nhost].ss;
			*ss = mx->addrs[mx->hosts[i].addr + j];
			if (ss->ss_family == AF_INET)
				((struct sockaddr_in *)ss)->sin_port =
				    htons(g->port);
			else
				((struct sockaddr_in6 *)ss)->sin6_port =
				    htons(g->port);
			(void)strlcpy(g->hosts[g->nhost].name,
			    mx->hosts[i].name, sizeof(g->hosts[0].name));
			g->nhost++;
		}
}

static void
group_dns_failed(struct dlv_group *g, int status)
{
	char	 reply[512];

	switch (status) {
	case DNS_NULLMX:
		(void)snprintf(reply, sizeof(reply), "556 5.1.10 %s does not "
		    "accept mail (null MX)", g->route.host);
		group_fail(g, DELIVERY_PERMFAIL, reply);
		return;
	case DNS_NOTFOUND:
	case DNS_INVALID:
		(void)snprintf(reply, sizeof(reply), "550 5.1.2 %s: host or "
		    "domain name not found", g->route.kind == ROUTE_RULE ?
		    g->route.rule->hosts[0] : g->route.host);
		group_fail(g, DELIVERY_PERMFAIL, reply);
		return;
	default:
		(void)snprintf(reply, sizeof(reply), "451 4.4.3 %s: temporary "
		    "DNS failure", g->route.kind == ROUTE_RULE ?
		    g->route.rule->hosts[0] : g->route.host);
		group_fail(g, DELIVERY_TEMPFAIL, reply);
		return;
	}
}

static void
group_dns_cb(void *arg, int status, const struct mx_list *mx)
{
	struct dlv_group	*g = arg;

	g->dns = NULL;
	if (status == DNS_OK)
		group_add_hosts(g, mx);
	else if (g->dnsstatus == DNS_OK || status == DNS_TEMPFAIL)
		g->dnsstatus = status;
	if (g->route.kind == ROUTE_RULE &&
	    g->nexthost < g->route.rule->nhosts) {
		/* the relay hosts in order: failover */
		group_resolve(g);
		return;
	}
	if (g->nhost == 0) {
		group_dns_failed(g, g->dnsstatus != DNS_OK ? g->dnsstatus :
		    DNS_NOTFOUND);
		return;
	}
	group_start(g);
}

static void
group_resolve(struct dlv_group *g)
{
	const struct delivery_rule	*d = g->route.rule;

	switch (g->route.kind) {
	case ROUTE_MX:
		g->port = delivery_conf->mx_port;
		g->dns = dns_mx(g->route.host, group_dns_cb, g);
		break;
	case ROUTE_LMTP:
		g->port = g->route.port;
		g->dns = dns_host(g->route.host, group_dns_cb, g);
		break;
	case ROUTE_RULE:
		if (d->auth != RELAY_AUTH_NONE) {
			/* relay authentication comes with the delivery
			 * rules issue: never send without it */
			log_warnx("%016" PRIx64 " delivery: rule \"%s\" needs "
			    "relay authentication, which is not available "
			    "yet", g->batch->msgid, d->name);
			group_fail(g, DELIVERY_TEMPFAIL, "454 4.7.0 Relay "
			    "authentication is not available yet");
			return;
		}
		g->port = d->port != 0 ? d->port :
		    (d->tls == RELAY_TLS_SMTPS ? 465 : 25);
		g->dns = dns_host(d->hosts[g->nexthost++], group_dns_cb, g);
		break;
	}
	if (g->dns == NULL)
		group_dns_failed(g, DNS_TEMPFAIL);
}

/* All envelopes are in: group them by route and start each group. */
static void
batch_go(struct dlv_batch *b)
{
	struct dlv_group	*g, *next;
	struct envelope		*evp;
	struct route		 r;
	struct envelope		**n;
	char			 name[300];
	uint32_t		 i;

	for (i = 0; i < b->got; i++) {
		evp = &b->evps[i];
		route_for(delivery_conf, evp, &r);
		TAILQ_FOREACH(g, &b->groups, entry)
			if (route_same(&g->route, &r))
				break;
		if (g == NULL) {
			if ((g = calloc(1, sizeof(*g))) == NULL)
				fatal("calloc");
			g->batch = b;
			g->route = r;
			TAILQ_INSERT_TAIL(&b->groups, g, entry);
			b->pending++;
			log_info("%016" PRIx64 " delivery event=route %s",
			    b->msgid, route_name(&r, name, sizeof(name)));
		}
		n = reallocarray(g->evps, g->nevp + 1, sizeof(*g->evps));
		if (n == NULL)
			fatal("reallocarray");
		g->evps = n;
		g->evps[g->nevp++] = evp;
	}
	if (b->pending == 0) {
		batch_done(b);
		return;
	}
	/* a group that fails at once may free the batch with the last */
	for (g = TAILQ_FIRST(&b->groups); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (b->pending == 1 && next != NULL)
			fatalx("delivery: group accounting");
		if (b->pending == 1) {
			group_resolve(g);
			return;
		}
		group_resolve(g);
	}
}

static void
delivery_imsg(enum proc_id from, struct ipc_msg *m)
{
	struct dlv_batch	*b;
	struct stat		 st;
	uint64_t		 msgid;
	uint32_t		 count;

	if (from != PROC_QUEUE)
		fatalx("%s from %s: not for delivery",
		    ipc_type_name(m->hdr.type), proc_name(from));
	if (delivery_conf == NULL)
		fatalx("%s before the configuration",
		    ipc_type_name(m->hdr.type));
	switch (m->hdr.type) {
	case IMSG_DELIVERY_DELIVER_REQ:
		msgid = ipc_get_u64(m);
		count = ipc_get_u32(m);
		ipc_end(m);
		if (m->fd == -1 || count == 0 || count > DELIVERY_BATCH_MAX ||
		    batch_find(m->hdr.peerid) != NULL)
			fatalx("IMSG_DELIVERY_DELIVER_REQ: bad batch");
		if ((b = calloc(1, sizeof(*b))) == NULL ||
		    (b->evps = calloc(count, sizeof(*b->evps))) == NULL)
			fatal("calloc");
		b->id = m->hdr.peerid;
		b->msgid = msgid;
		b->expected = count;
		b->fd = m->fd;
		m->fd = -1;
		if (fstat(b->fd, &st) == 0)
			b->size = st.st_size;
		TAILQ_INIT(&b->groups);
		TAILQ_INSERT_TAIL(&batches, b, entry);
		return;
	case IMSG_DELIVERY_DELIVER_RCPT:
		if ((b = batch_find(m->hdr.peerid)) == NULL ||
		    b->got == b->expected)
			fatalx("IMSG_DELIVERY_DELIVER_RCPT: no room");
		envelope_get(m, &b->evps[b->got]);
		if (b->evps[b->got].msgid != b->msgid)
			fatalx("IMSG_DELIVERY_DELIVER_RCPT: wrong message");
		b->got++;
		return;
	case IMSG_DELIVERY_DELIVER_GO:
		ipc_end(m);
		if ((b = batch_find(m->hdr.peerid)) == NULL ||
		    b->got != b->expected)
			fatalx("IMSG_DELIVERY_DELIVER_GO: incomplete batch");
		batch_go(b);
		return;
	}
	fatalx("%s from queue: not for delivery", ipc_type_name(m->hdr.type));
}
