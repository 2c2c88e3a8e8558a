/*
 * Portcullis: the delivery process's DNS, c-ares under libevent.
 *
 * One c-ares channel.  Its sockets are watched by libevent events that
 * c-ares asks for through its socket state callback, and one timer
 * wakes it for its retransmissions and timeouts.  Only raw queries
 * (ares_query) are made: ares_gethostbyname() and ares_getaddrinfo()
 * would read /etc/hosts, and the name server does the recursion,
 * CNAMEs included.
 *
 * A request is an MX query, then an A and an AAAA query for each MX
 * host (or for the domain: implicit MX, or for the host of dns_host()),
 * all in flight at once.  Each c-ares query carries a small struct
 * dns_q that points back at its request; cancelling a request only
 * unhooks its queries (c-ares cannot cancel one query), and each is
 * freed when c-ares is done with it.  Answers are delivered from a
 * zero timer, never from inside c-ares or from inside a call of ours.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>
#include <event.h>

#include "log.h"
#include "dns.h"

#define DNS_MX_RECORDS	256		/* MX records read from an answer */

struct dns_sock {
	TAILQ_ENTRY(dns_sock)	 entry;
	ares_socket_t		 fd;
	struct event		 ev;
};

/* A host being resolved: an MX host, the implicit MX or dns_host's. */
struct dns_cand {
	char			 name[DNS_NAME_MAX + 1];
	int			 pref;
	int			 st4, st6;	/* DNS_* of each query */
	size_t			 n4, n6;
	struct in_addr		 a4[DNS_HOST_ADDR_MAX];
	struct in6_addr		 a6[DNS_HOST_ADDR_MAX];
};

struct dns_q;

struct dns_req {
	TAILQ_ENTRY(dns_req)	 entry;
	TAILQ_HEAD(, dns_q)	 queries;	/* in flight */
	char			 name[DNS_NAME_MAX + 1];
	dns_cb			 cb;
	void			*arg;
	int			 pending;	/* queries, plus a hold */
	int			 done;		/* ev_done is scheduled */
	int			 status;
	struct event		 ev_done;
	size_t			 ncand;
	struct dns_cand		 cand[DNS_MX_MAX];
	struct mx_list		 list;
};

struct dns_q {
	TAILQ_ENTRY(dns_q)	 entry;
	struct dns_req		*req;		/* NULL: cancelled */
	int			 type;		/* T_MX, T_A, T_AAAA */
	size_t			 cand;
};

struct dns_mxrec {
	int			 pref;
	uint32_t		 rnd;		/* shuffles equal preferences */
	const char		*host;
};

static ares_channel			 dns_channel;
static int				 dns_ready;
static struct ares_addr_port_node	 dns_server;	/* to set when idle */
static int				 dns_server_pending;
static struct event			 dns_timer;
static TAILQ_HEAD(, dns_sock)		 dns_socks =
    TAILQ_HEAD_INITIALIZER(dns_socks);
static TAILQ_HEAD(, dns_req)		 dns_reqs =
    TAILQ_HEAD_INITIALIZER(dns_reqs);

static int	 dns_server_apply(void);
static void	 dns_sock_state(void *, ares_socket_t, int, int);
static void	 dns_sock_event(int, short, void *);
static void	 dns_timer_event(int, short, void *);
static void	 dns_timer_update(void);
static struct dns_req *dns_req_new(const char *, dns_cb, void *);
static void	 dns_query(struct dns_req *, const char *, int, size_t);
static void	 dns_answer(void *, int, int, unsigned char *, int);
static void	 dns_answer_mx(struct dns_req *, int, unsigned char *, int);
static void	 dns_answer_addr(struct dns_req *, struct dns_q *, int,
		    unsigned char *, int);
static void	 dns_resolve(struct dns_req *);
static void	 dns_release(struct dns_req *);
static void	 dns_assemble(struct dns_req *);
static void	 dns_finish(struct dns_req *, int);
static void	 dns_done(int, short, void *);
static void	 dns_unhook(struct dns_req *);
static int	 dns_status(int);
static int	 dns_name(const char *, char *, size_t);
static int	 dns_literal(const char *, int, struct sockaddr_storage *);
static int	 dns_unspecified(const struct sockaddr_storage *);
static int	 dns_add_addr(struct mx_list *, struct mx_host *,
		    const struct sockaddr_storage *);
static int	 dns_mxrec_cmp(const void *, const void *);

/* ---- set-up ---------------------------------------------------------- */

int
dns_init(void)
{
	return dns_init_timeout(DNS_TIMEOUT_MS, DNS_TRIES);
}

int
dns_init_timeout(int timeout_ms, int tries)
{
	struct ares_options	 opts;
	char			 lookups[] = "b";	/* DNS, never hosts */
	int			 rc;

	if (dns_ready) {
		log_warnx("dns: initialised twice");
		return -1;
	}
	if (timeout_ms <= 0 || tries <= 0) {
		log_warnx("dns: bad timeout %d ms or tries %d", timeout_ms,
		    tries);
		return -1;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("dns: ares_library_init: %s", ares_strerror(rc));
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	opts.timeout = timeout_ms;
	opts.tries = tries;
	opts.lookups = lookups;
	opts.sock_state_cb = dns_sock_state;
	opts.sock_state_cb_data = NULL;
	rc = ares_init_options(&dns_channel, &opts, ARES_OPT_FLAGS |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
	    ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		log_warnx("dns: ares_init_options: %s", ares_strerror(rc));
		ares_library_cleanup();
		return -1;
	}
	evtimer_set(&dns_timer, dns_timer_event, NULL);
	dns_ready = 1;
	return 0;
}

int
dns_set_server(const struct sockaddr *sa, socklen_t len)
{
	struct ares_addr_port_node	 node;
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	int				 port, rc;

	if (!dns_ready) {
		log_warnx("dns: %s before dns_init", __func__);
		return -1;
	}
	memset(&node, 0, sizeof(node));
	node.family = sa->sa_family;
	switch (sa->sa_family) {
	case AF_INET:
		if (len < (socklen_t)sizeof(*sin))
			goto bad;
		sin = (const struct sockaddr_in *)sa;
		memcpy(&node.addr.addr4, &sin->sin_addr,
		    sizeof(node.addr.addr4));
		port = ntohs(sin->sin_port);
		break;
	case AF_INET6:
		if (len < (socklen_t)sizeof(*sin6))
			goto bad;
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(&node.addr.addr6, &sin6->sin6_addr,
		    sizeof(node.addr.addr6));
		port = ntohs(sin6->sin6_port);
		break;
	default:
		goto bad;
	}
	if (port == 0)
		port = NAMESERVER_PORT;
	node.udp_port = port;
	node.tcp_port = port;
	node.next = NULL;
	dns_server = node;
	dns_server_pending = 1;
	if ((rc = dns_server_apply()) != ARES_SUCCESS &&
	    rc != ARES_ENOTIMP) {
		dns_server_pending = 0;
		log_warnx("dns: cannot set the name server: %s",
		    ares_strerror(rc));
		return -1;
	}
	return 0;
 bad:
	log_warnx("dns: %s: not an IPv4 or IPv6 address", __func__);
	return -1;
}

/* c-ares changes servers only when no query runs (ARES_ENOTIMP). */
static int
dns_server_apply(void)
{
	int	 rc;

	if (!dns_server_pending)
		return ARES_SUCCESS;
	if ((rc = ares_set_servers_ports(dns_channel, &dns_server)) ==
	    ARES_SUCCESS)
		dns_server_pending = 0;
	else if (rc == ARES_ENOTIMP)
		log_debug("dns: queries running, the name server changes "
		    "when they are done");
	return rc;
}

void
dns_shutdown(void)
{
	struct dns_req	*req;
	struct dns_sock	*ds;

	if (!dns_ready)
		return;
	while ((req = TAILQ_FIRST(&dns_reqs)) != NULL) {
		TAILQ_REMOVE(&dns_reqs, req, entry);
		dns_unhook(req);
		if (req->done)
			evtimer_del(&req->ev_done);
		free(req);
	}
	/* Calls back every query (freed, unhooked) and closes sockets. */
	ares_destroy(dns_channel);
	while ((ds = TAILQ_FIRST(&dns_socks)) != NULL) {
		TAILQ_REMOVE(&dns_socks, ds, entry);
		event_del(&ds->ev);
		free(ds);
	}
	evtimer_del(&dns_timer);
	ares_library_cleanup();
	dns_server_pending = 0;
	dns_ready = 0;
}

/* ---- c-ares under libevent ------------------------------------------- */

static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock	*ds;
	short		 what;

	(void)data;
	TAILQ_FOREACH(ds, &dns_socks, entry)
		if (ds->fd == fd)
			break;
	if (!readable && !writable) {
		if (ds != NULL) {
			event_del(&ds->ev);
			TAILQ_REMOVE(&dns_socks, ds, entry);
			free(ds);
		}
		return;
	}
	if (ds == NULL) {
		if ((ds = calloc(1, sizeof(*ds))) == NULL) {
			/* Its queries will time out. */
			log_warn("dns: %s", __func__);
			return;
		}
		ds->fd = fd;
		TAILQ_INSERT_TAIL(&dns_socks, ds, entry);
	} else
		event_del(&ds->ev);
	what = EV_PERSIST;
	if (readable)
		what |= EV_READ;
	if (writable)
		what |= EV_WRITE;
	event_set(&ds->ev, fd, what, dns_sock_event, ds);
	if (event_add(&ds->ev, NULL) == -1)
		log_warn("dns: event_add");
}

static void
dns_sock_event(int fd, short what, void *arg)
{
	(void)arg;		/* may be freed by ares_process_fd() */
	ares_process_fd(dns_channel,
	    (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_timer_update();
}

static void
dns_timer_event(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ares_process_fd(dns_channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update();
}

static void
dns_timer_update(void)
{
	struct timeval	 tv, *tvp;

	if (!dns_ready)
		return;
	evtimer_del(&dns_timer);
	if ((tvp = ares_timeout(dns_channel, NULL, &tv)) != NULL)
		evtimer_add(&dns_timer, tvp);
	else if (dns_server_pending)	/* idle: no query runs */
		(void)dns_server_apply();
}

/* ---- requests -------------------------------------------------------- */

struct dns_req *
dns_mx(const char *domain, dns_cb cb, void *arg)
{
	struct sockaddr_storage	 ss;
	struct dns_req		*req;
	struct mx_host		*h;

	if ((req = dns_req_new(domain, cb, arg)) == NULL)
		return NULL;

	/* A domain literal: RFC 5321 section 5.1, no MX lookup. */
	if (domain[0] == '[') {
		if (dns_literal(domain, 0, &ss) == -1 ||
		    dns_unspecified(&ss)) {
			dns_finish(req, DNS_INVALID);
			return req;
		}
		h = &req->list.hosts[req->list.nhosts++];
		(void)strlcpy(h->name, domain, sizeof(h->name));
		h->status = DNS_OK;
		(void)dns_add_addr(&req->list, h, &ss);
		dns_finish(req, DNS_OK);
		return req;
	}
	if (dns_name(domain, req->name, sizeof(req->name)) == -1) {
		dns_finish(req, DNS_INVALID);
		return req;
	}
	req->pending++;			/* hold */
	dns_query(req, req->name, T_MX, 0);
	dns_release(req);
	return req;
}

struct dns_req *
dns_host(const char *host, dns_cb cb, void *arg)
{
	struct sockaddr_storage	 ss;
	struct dns_req		*req;
	struct mx_host		*h;

	if ((req = dns_req_new(host, cb, arg)) == NULL)
		return NULL;

	if (dns_literal(host, 1, &ss) == 0) {
		if (dns_unspecified(&ss)) {
			dns_finish(req, DNS_INVALID);
			return req;
		}
		h = &req->list.hosts[req->list.nhosts++];
		if (strlcpy(h->name, host, sizeof(h->name)) >=
		    sizeof(h->name))
			h->name[0] = '\0';
		h->status = DNS_OK;
		(void)dns_add_addr(&req->list, h, &ss);
		dns_finish(req, DNS_OK);
		return req;
	}
	if (dns_name(host, req->name, sizeof(req->name)) == -1) {
		dns_finish(req, DNS_INVALID);
		return req;
	}
	(void)strlcpy(req->cand[0].name, req->name,
	    sizeof(req->cand[0].name));
	req->cand[0].pref = 0;
	req->ncand = 1;
	dns_resolve(req);
	return req;
}

void
dns_cancel(struct dns_req *req)
{
	if (req == NULL)
		return;
	TAILQ_REMOVE(&dns_reqs, req, entry);
	dns_unhook(req);
	if (req->done)
		evtimer_del(&req->ev_done);
	free(req);
}

static struct dns_req *
dns_req_new(const char *name, dns_cb cb, void *arg)
{
	struct dns_req	*req;

	if (!dns_ready) {
		log_warnx("dns: a query before dns_init");
		errno = EINVAL;
		return NULL;
	}
	if (name == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	TAILQ_INIT(&req->queries);
	req->cb = cb;
	req->arg = arg;
	evtimer_set(&req->ev_done, dns_done, req);
	TAILQ_INSERT_TAIL(&dns_reqs, req, entry);
	return req;
}

/* Start one query; its answer may come at once (c-ares errors). */
static void
dns_query(struct dns_req *req, const char *name, int type, size_t cand)
{
	struct dns_q	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		log_warn("dns: %s", __func__);
		if (type == T_MX)
			req->status = DNS_TEMPFAIL;
		else if (type == T_A)
			req->cand[cand].st4 = DNS_TEMPFAIL;
		else
			req->cand[cand].st6 = DNS_TEMPFAIL;
		return;
	}
	q->req = req;
	q->type = type;
	q->cand = cand;
	TAILQ_INSERT_TAIL(&req->queries, q, entry);
	req->pending++;
	ares_query(dns_channel, name, C_IN, type, dns_answer, q);
	dns_timer_update();
}

/* Every c-ares answer, error, cancellation or destruction. */
static void
dns_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_q	*q = arg;
	struct dns_req	*req = q->req;

	(void)timeouts;
	if (req == NULL) {		/* cancelled */
		free(q);
		return;
	}
	/* Its count in pending holds the request while it starts more. */
	TAILQ_REMOVE(&req->queries, q, entry);
	if (q->type == T_MX)
		dns_answer_mx(req, status, abuf, alen);
	else
		dns_answer_addr(req, q, status, abuf, alen);
	free(q);
	dns_release(req);
}

static void
dns_answer_mx(struct dns_req *req, int status, unsigned char *abuf,
    int alen)
{
	struct ares_mx_reply	*reply = NULL, *r;
	struct dns_mxrec	*recs;
	struct dns_cand		*c;
	size_t			 i, j, n, nnull;
	int			 rc;

	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &reply);
	if (status == ARES_ENODATA) {
		/* RFC 5321 section 5.1: the implicit MX. */
		log_debug("dns: %s: no MX, implicit MX", req->name);
		(void)strlcpy(req->cand[0].name, req->name,
		    sizeof(req->cand[0].name));
		req->cand[0].pref = 0;
		req->ncand = 1;
		dns_resolve(req);
		return;
	}
	if (status != ARES_SUCCESS) {
		log_debug("dns: %s: MX: %s", req->name, ares_strerror(status));
		dns_finish(req, dns_status(status));
		return;
	}

	n = 1;
	for (r = reply; r != NULL && n < DNS_MX_RECORDS; r = r->next)
		n++;
	if ((recs = calloc(n, sizeof(*recs))) == NULL) {
		log_warn("dns: %s", __func__);
		ares_free_data(reply);
		dns_finish(req, DNS_TEMPFAIL);
		return;
	}
	n = nnull = 0;
	for (r = reply; r != NULL && n + nnull < DNS_MX_RECORDS;
	    r = r->next) {
		if (r->host[0] == '\0' || strcmp(r->host, ".") == 0) {
			nnull++;	/* RFC 7505 */
			continue;
		}
		recs[n].pref = r->priority;
		recs[n].rnd = arc4random();
		recs[n].host = r->host;
		n++;
	}
	if (n == 0 && nnull > 0) {
		log_debug("dns: %s: null MX", req->name);
		free(recs);
		ares_free_data(reply);
		dns_finish(req, DNS_NULLMX);
		return;
	}
	if (nnull > 0)
		log_debug("dns: %s: null MX among other MX records, ignored",
		    req->name);

	qsort(recs, n, sizeof(*recs), dns_mxrec_cmp);
	for (i = 0; i < n && req->ncand < DNS_MX_MAX; i++) {
		c = &req->cand[req->ncand];
		if (dns_name(recs[i].host, c->name, sizeof(c->name)) == -1) {
			/* Not a name; an address literal is taken. */
			if (dns_literal(recs[i].host, 1, NULL) == -1 ||
			    strlcpy(c->name, recs[i].host, sizeof(c->name)) >=
			    sizeof(c->name)) {
				log_debug("dns: %s: MX host is not a name, "
				    "skipped", req->name);
				continue;
			}
		}
		/* The same host twice: its best preference counts. */
		for (j = 0; j < req->ncand; j++)
			if (strcasecmp(req->cand[j].name, c->name) == 0)
				break;
		if (j < req->ncand)
			continue;
		c->pref = recs[i].pref;
		req->ncand++;
	}
	rc = req->ncand == 0 ? DNS_NOTFOUND : DNS_OK;
	free(recs);
	ares_free_data(reply);
	if (rc != DNS_OK) {
		dns_finish(req, rc);
		return;
	}
	dns_resolve(req);
}

/* The A and AAAA queries of every candidate, or its literal address. */
static void
dns_resolve(struct dns_req *req)
{
	struct sockaddr_storage	 ss;
	struct dns_cand		*c;
	size_t			 i;

	req->pending++;			/* hold */
	for (i = 0; i < req->ncand; i++) {
		c = &req->cand[i];
		c->st4 = c->st6 = DNS_NOTFOUND;
		if (dns_literal(c->name, 1, &ss) == 0) {
			log_debug("dns: %s: MX host %s is an address",
			    req->name, c->name);
			if (ss.ss_family == AF_INET) {
				c->a4[c->n4++] =
				    ((struct sockaddr_in *)&ss)->sin_addr;
				c->st4 = DNS_OK;
			} else {
				c->a6[c->n6++] =
				    ((struct sockaddr_in6 *)&ss)->sin6_addr;
				c->st6 = DNS_OK;
			}
			continue;
		}
		dns_query(req, c->name, T_AAAA, i);
		dns_query(req, c->name, T_A, i);
	}
	dns_release(req);
}

static void
dns_answer_addr(struct dns_req *req, struct dns_q *q, int status,
    unsigned char *abuf, int alen)
{
	struct ares_addrttl	 t4[DNS_HOST_ADDR_MAX];
	struct ares_addr6ttl	 t6[DNS_HOST_ADDR_MAX];
	struct hostent		*he = NULL;
	struct dns_cand		*c = &req->cand[q->cand];
	int			 n = DNS_HOST_ADDR_MAX, i;

	if (status == ARES_SUCCESS) {
		if (q->type == T_A)
			status = ares_parse_a_reply(abuf, alen, &he, t4, &n);
		else
			status = ares_parse_aaaa_reply(abuf, alen, &he, t6,
			    &n);
		if (he != NULL)
			ares_free_hostent(he);
		if (status == ARES_SUCCESS && n <= 0)
			status = ARES_ENODATA;
	}
	if (status != ARES_SUCCESS) {
		log_debug("dns: %s: %s %s: %s", req->name, c->name,
		    q->type == T_A ? "A" : "AAAA", ares_strerror(status));
		if (q->type == T_A)
			c->st4 = dns_status(status);
		else
			c->st6 = dns_status(status);
		return;
	}
	if (n > DNS_HOST_ADDR_MAX)
		n = DNS_HOST_ADDR_MAX;
	if (q->type == T_A) {
		c->st4 = DNS_OK;
		for (i = 0; i < n; i++)
			c->a4[c->n4++] = t4[i].ipaddr;
	} else {
		c->st6 = DNS_OK;
		for (i = 0; i < n; i++)
			memcpy(&c->a6[c->n6++], &t6[i].ip6addr,
			    sizeof(c->a6[0]));
	}
}

/* Drop a hold; when nothing is in flight any more, answer. */
static void
dns_release(struct dns_req *req)
{
	if (--req->pending > 0 || req->done)
		return;
	if (req->ncand == 0) {		/* the MX query could not start */
		dns_finish(req, req->status != DNS_OK ? req->status :
		    DNS_TEMPFAIL);
		return;
	}
	dns_assemble(req);
}

/* The candidates, in order, into the list; the request's status. */
static void
dns_assemble(struct dns_req *req)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	struct dns_cand		*c;
	struct mx_host		*h;
	size_t			 i, j;
	int			 tempfail = 0;

	for (i = 0; i < req->ncand; i++) {
		c = &req->cand[i];
		h = &req->list.hosts[req->list.nhosts++];
		(void)strlcpy(h->name, c->name, sizeof(h->name));
		h->pref = c->pref;
		h->addr = req->list.naddrs;
		/* IPv6 and IPv4 in turn. */
		for (j = 0; j < c->n4 || j < c->n6; j++) {
			if (j < c->n6) {
				memset(&ss, 0, sizeof(ss));
				sin6 = (struct sockaddr_in6 *)&ss;
				sin6->sin6_family = AF_INET6;
				sin6->sin6_addr = c->a6[j];
				(void)dns_add_addr(&req->list, h, &ss);
			}
			if (j < c->n4) {
				memset(&ss, 0, sizeof(ss));
				sin = (struct sockaddr_in *)&ss;
				sin->sin_family = AF_INET;
				sin->sin_addr = c->a4[j];
				(void)dns_add_addr(&req->list, h, &ss);
			}
		}
		if (c->n4 > 0 || c->n6 > 0)
			h->status = DNS_OK;
		else if (c->st4 == DNS_TEMPFAIL || c->st6 == DNS_TEMPFAIL)
			h->status = DNS_TEMPFAIL;
		else
			h->status = DNS_NOTFOUND;
		if (h->status == DNS_TEMPFAIL)
			tempfail = 1;
		if (h->status != DNS_OK)
			log_debug("dns: %s: host %s: %s, skipped", req->name,
			    h->name, dns_strerror(h->status));
	}
	if (req->list.naddrs > 0)
		dns_finish(req, DNS_OK);
	else
		dns_finish(req, tempfail ? DNS_TEMPFAIL : DNS_NOTFOUND);
}

/* Answer from the event loop. */
static void
dns_finish(struct dns_req *req, int status)
{
	struct timeval	 tv = { 0, 0 };

	if (req->done)
		return;
	req->done = 1;
	req->status = status;
	dns_unhook(req);
	evtimer_add(&req->ev_done, &tv);
}

static void
dns_done(int fd, short what, void *arg)
{
	struct dns_req	*req = arg;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&dns_reqs, req, entry);
	req->cb(req->arg, req->status, &req->list);
	free(req);
}

/* Queries still in flight will find no request. */
static void
dns_unhook(struct dns_req *req)
{
	struct dns_q	*q;

	while ((q = TAILQ_FIRST(&req->queries)) != NULL) {
		TAILQ_REMOVE(&req->queries, q, entry);
		q->req = NULL;
	}
}

/* ---- helpers --------------------------------------------------------- */

static int
dns_status(int ares_status)
{
	switch (ares_status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		return DNS_NOTFOUND;
	case ARES_EBADNAME:
		return DNS_INVALID;
	default:	/* SERVFAIL, REFUSED, timeout, bad answer, memory */
		return DNS_TEMPFAIL;
	}
}

const char *
dns_strerror(int status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_TEMPFAIL:
		return "temporary DNS failure";
	case DNS_NOTFOUND:
		return "domain or host not found";
	case DNS_NULLMX:
		return "domain accepts no mail (null MX)";
	case DNS_INVALID:
		return "invalid domain name";
	default:
		return "unknown DNS status";
	}
}

int
dns_permanent(int status)
{
	return status == DNS_NOTFOUND || status == DNS_NULLMX ||
	    status == DNS_INVALID;
}

/*
 * A host name as queried: letters, digits, '-', '_', labels of 1 to 63
 * octets, at most 253 in all; one final dot is dropped.  A-labels only:
 * a UTF-8 name must be converted by the caller.
 */
static int
dns_name(const char *name, char *buf, size_t size)
{
	size_t	 len, label = 0, i;

	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || len >= size)
		return -1;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
			continue;
		}
		if (!isascii((unsigned char)name[i]) ||
		    (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '_'))
			return -1;
		if (++label > 63)
			return -1;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	return 0;
}

/*
 * An address literal: "[192.0.2.1]", "[IPv6:2001:db8::1]", and when
 * bare is set also "192.0.2.1", "2001:db8::1", "[2001:db8::1]".  ss may
 * be NULL.  Port 0.
 */
static int
dns_literal(const char *s, int bare, struct sockaddr_storage *ss)
{
	struct sockaddr_storage	 tmp;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	char			 buf[INET6_ADDRSTRLEN + 8];
	const char		*p = s;
	size_t			 len = strlen(s);
	int			 v6only = 0;

	if (ss == NULL)
		ss = &tmp;
	if (len > 0 && s[0] == '[') {
		if (len < 2 || s[len - 1] != ']')
			return -1;
		p = s + 1;
		len -= 2;
		if (len > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
			p += 5;
			len -= 5;
			v6only = 1;
		} else if (!bare && memchr(p, ':', len) != NULL)
			return -1;	/* RFC 5321 wants the tag */
	} else if (!bare)
		return -1;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';

	memset(ss, 0, sizeof(*ss));
	sin = (struct sockaddr_in *)ss;
	sin6 = (struct sockaddr_in6 *)ss;
	if (!v6only && inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

static int
dns_unspecified(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	sin6 = (const struct sockaddr_in6 *)ss;
	return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* Append an address to host h, the last of the list, within bounds. */
static int
dns_add_addr(struct mx_list *list, struct mx_host *h,
    const struct sockaddr_storage *ss)
{
	size_t	 i, len;

	if (dns_unspecified(ss) || h->naddrs >= DNS_HOST_ADDR_MAX ||
	    list->naddrs >= DNS_ADDR_MAX)
		return -1;
	len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	for (i = 0; i < list->naddrs; i++)
		if (list->addrs[i].ss_family == ss->ss_family &&
		    memcmp(&list->addrs[i], ss, len) == 0)
			return -1;
	list->addrs[list->naddrs++] = *ss;
	h->naddrs++;
	return 0;
}

static int
dns_mxrec_cmp(const void *a, const void *b)
{
	const struct dns_mxrec	*x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	if (x->rnd != y->rnd)
		return x->rnd < y->rnd ? -1 : 1;
	return 0;
}
