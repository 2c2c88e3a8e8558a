/*
 * Portcullis: the relay decision (relayd-auth/relay.c).  A pure
 * function of the configuration and the facts of one recipient, so that
 * the table of DESIGN.md can be tested row by row.
 */
#ifndef PORTCULLIS_RELAY_H
#define PORTCULLIS_RELAY_H

#include <sys/types.h>
#include <sys/socket.h>

#include <time.h>

struct config;
struct mailaddr;

struct relay_facts {
	const struct sockaddr	*client;
	const char		*user;		/* SMTP AUTH login, or NULL */
	time_t			 pop3_age;	/* since the address's last POP3
						 * login, -1 for none */
	const struct mailaddr	*rcpt;
};

struct relay_verdict {
	int			 verdict;	/* RCPT_* of auth_imsg.h */
	int			 line;		/* the deciding rule's line */
	char			 reason[128];
};

void	 relay_decide(const struct config *, const struct relay_facts *,
	    struct relay_verdict *);
/* May this client relay at all (the trusted mark): does a relay rule
 * hold for it, whatever the recipient? */
int	 relay_allowed(const struct config *, const struct relay_facts *,
	    int *line);

#endif
