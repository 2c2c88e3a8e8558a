/*
 * Portcullis: lookups in the configuration's tables (smtpd/table.c),
 * for the processes that hold tables: auth, queue, delivery, mailbox.
 */
#ifndef PORTCULLIS_TABLE_H
#define PORTCULLIS_TABLE_H

#include <sys/types.h>
#include <sys/socket.h>

struct table;
struct table_entry;
struct mailaddr;

/* 1 when the address is in one of the table's networks.  An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched as IPv4. */
int	 table_match_net(const struct table *, const struct sockaddr *);
/* 1 when the domain (case-insensitive, exact) is a domain entry. */
int	 table_match_domain(const struct table *, const char *);
/* 1 when an address entry (a pattern) matches, or a domain entry is
 * the address's domain. */
int	 table_match_address(const struct table *, const struct mailaddr *);
/* The credentials entry of a login, or NULL. */
const struct table_entry *table_credentials(const struct table *,
	    const char *);

#endif
