/*
 * Portcullis: the delivery process's DNS.  Asynchronous MX and address
 * resolution with c-ares, driven by the libevent loop of the process
 * (the old event_set()/event_add() API on the default base).
 *
 * Life cycle, in the order of a worker's setup:
 *
 *	event_init();
 *	dns_init();		before chroot and sandbox: reads
 *				/etc/resolv.conf, seeds the query ids;
 *				never /etc/hosts or nsswitch.conf
 *	(privilege drop, sandbox_delivery())
 *	dns_set_server(sa, len);	optional, once the configuration
 *				has arrived ("resolver ADDR port N");
 *				opens no file
 *	dns_mx(), dns_host(), dns_cancel() ...
 *	dns_shutdown();
 *
 * After dns_init() the module makes only the system calls of a libevent
 * loop and of UDP/TCP sockets to the name server: socket, connect,
 * sendto/recvfrom, read/writev, setsockopt, fcntl, close.
 *
 * Results.  Every request answers once, through its callback, with a
 * status and a list:
 *
 *	void cb(void *arg, int status, const struct mx_list *mx);
 *
 * mx is never NULL.  It is valid only during the callback (copy what
 * must outlive it).  When status is DNS_OK it has at least one address;
 * otherwise it may still list the hosts that were tried and why each
 * failed (for the log), and has no address.
 *
 * The list is in the order to try: hosts by preference, the ones of
 * equal preference shuffled (RFC 5321 section 5.1), each with its
 * addresses, IPv6 and IPv4 alternating, in the order of the answers.
 * Addresses are struct sockaddr_in/sockaddr_in6 with port 0: the caller
 * sets the port (25, or "mx port").  A host with no address (its name
 * does not resolve) stays in the list with naddrs == 0 and its status;
 * skip it.  No address appears twice, and 0.0.0.0 and :: never appear.
 *
 *	for (i = 0; i < mx->nhosts; i++)
 *		for (j = 0; j < mx->hosts[i].naddrs; j++)
 *			try(&mx->addrs[mx->hosts[i].addr + j]);
 *
 * Status for each answer:
 *
 *	dns_mx(domain)
 *	  MX records			DNS_OK, the MX hosts and their
 *					addresses; DNS_TEMPFAIL when no host
 *					has an address and one of them failed
 *					temporarily, else DNS_NOTFOUND
 *	  one MX "." (RFC 7505)		DNS_NULLMX: 556 5.1.10, no retry
 *	  "." among other MX records	ignored, the others are used
 *	  no MX record (NOERROR, no	implicit MX: the domain itself at
 *	    data)			preference 0, as dns_host()
 *	  NXDOMAIN			DNS_NOTFOUND
 *	  SERVFAIL, REFUSED, timeout,	DNS_TEMPFAIL
 *	    broken answer, no memory
 *	  "[192.0.2.1]",		DNS_OK, that address, no query
 *	    "[IPv6:2001:db8::1]"
 *	  not a domain name		DNS_INVALID
 *	  an MX host that is an		used as the address (a note is logged)
 *	    address literal
 *	  CNAMEs			followed by the name server (for the
 *					domain and for MX hosts)
 *
 *	dns_host(host)
 *	  A and/or AAAA records		DNS_OK
 *	  an address literal, with or	DNS_OK, no query
 *	    without [ ] or IPv6:
 *	  NXDOMAIN, or no address	DNS_NOTFOUND
 *	  SERVFAIL, timeout on both	DNS_TEMPFAIL (one family failing
 *	    or the only one answering	while the other answers with
 *					addresses is DNS_OK)
 *	  not a host name		DNS_INVALID
 *
 * DNS_NOTFOUND, DNS_NULLMX and DNS_INVALID are permanent (5xx),
 * DNS_TEMPFAIL is temporary (4xx): dns_permanent() says which.
 *
 * Bounds: at most DNS_MX_MAX hosts (the best preferences are kept),
 * DNS_HOST_ADDR_MAX addresses a host and DNS_ADDR_MAX in all (earlier
 * hosts first).
 *
 * Callbacks are never called from inside dns_mx(), dns_host(),
 * dns_cancel() or dns_shutdown(): an immediate answer is delivered from
 * the event loop.  A callback may start or cancel other requests.
 */
#ifndef PORTCULLIS_DNS_H
#define PORTCULLIS_DNS_H

#include <sys/types.h>
#include <sys/socket.h>

#define DNS_OK		0
#define DNS_TEMPFAIL	1	/* try again later */
#define DNS_NOTFOUND	2	/* no such domain or host, no address */
#define DNS_NULLMX	3	/* the domain accepts no mail (RFC 7505) */
#define DNS_INVALID	4	/* not a domain name */

#define DNS_NAME_MAX		255	/* a name in text, no final dot */
#define DNS_MX_MAX		16	/* hosts in a list */
#define DNS_HOST_ADDR_MAX	8	/* addresses of one host */
#define DNS_ADDR_MAX		32	/* addresses in a list */

/* Defaults of dns_init(); a query is sent at most DNS_TRIES times. */
#define DNS_TIMEOUT_MS		3000	/* the first try; then doubled */
#define DNS_TRIES		3

struct mx_host {
	char		 name[DNS_NAME_MAX + 1];	/* no final dot */
	int		 pref;		/* 0 for an implicit MX or a host */
	int		 status;	/* DNS_OK, or why no address */
	size_t		 addr;		/* its first address in addrs[] */
	size_t		 naddrs;	/* 0: skip this host */
};

struct mx_list {
	size_t			 nhosts;
	struct mx_host		 hosts[DNS_MX_MAX];
	size_t			 naddrs;
	struct sockaddr_storage	 addrs[DNS_ADDR_MAX];
};

struct dns_req;

typedef void (*dns_cb)(void *, int, const struct mx_list *);

/*
 * 0 on success, -1 if c-ares cannot start (logged).  dns_init_timeout()
 * is the same with the time of a query's first try in milliseconds and
 * the number of tries (tests and labs).  event_init() comes first.
 */
int		 dns_init(void);
int		 dns_init_timeout(int, int);

/*
 * Use this name server (its port set; 0 means 53) instead of the
 * system's.  AF_INET or AF_INET6.  0 on success, -1 if the address is
 * not usable (logged).  While queries run (a reload), the change waits
 * until none does: requests started meanwhile still use the old one.
 */
int		 dns_set_server(const struct sockaddr *, socklen_t);

/*
 * Start a request.  NULL if none can start (no memory, or dns_init()
 * was not called): the callback will not be called.  Otherwise the
 * callback is called exactly once, later, unless the request is
 * cancelled first.
 */
struct dns_req	*dns_mx(const char *, dns_cb, void *);
struct dns_req	*dns_host(const char *, dns_cb, void *);

/*
 * Forget a request that has not answered yet: its callback is never
 * called.  Not to be used after the callback was called (the request
 * is freed when its callback returns).  NULL is ignored.
 */
void		 dns_cancel(struct dns_req *);

/*
 * Free every request without calling its callback (their pointers are
 * dead) and stop c-ares.  dns_init() may start it again.
 */
void		 dns_shutdown(void);

const char	*dns_strerror(int);	/* "ok", "temporary failure", ... */
int		 dns_permanent(int);	/* NOTFOUND, NULLMX, INVALID */

#endif
