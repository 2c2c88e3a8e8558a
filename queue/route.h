/*
 * Portcullis: where one recipient of one message goes (queue/route.c):
 * the LMTP server of its accepted domain, the relay hosts of the first
 * enabled delivery rule that matches, or the MX of its domain.
 */
#ifndef PORTCULLIS_ROUTE_H
#define PORTCULLIS_ROUTE_H

#include <sys/types.h>

struct config;
struct delivery_rule;
struct envelope;

#define ROUTE_MX	0	/* direct: the domain's MX */
#define ROUTE_RULE	1	/* a delivery rule's relay hosts */
#define ROUTE_LMTP	2	/* the LMTP server of an accepted domain */

struct route {
	int				 kind;
	const struct delivery_rule	*rule;		/* ROUTE_RULE */
	char				 host[256];	/* ROUTE_LMTP; ROUTE_MX:
							 * the domain */
	in_port_t			 port;		/* ROUTE_LMTP */
};

/* The route of an envelope.  Two recipients go together when their
 * routes are route_same(). */
void	 route_for(const struct config *, const struct envelope *,
	    struct route *);
int	 route_same(const struct route *, const struct route *);
/* "rule \"Sales\"", "mx example.com", "lmtp 127.0.0.1:24", for logs. */
const char *route_name(const struct route *, char *, size_t);

#endif
