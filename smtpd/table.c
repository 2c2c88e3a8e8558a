/*
 * Portcullis: lookups in the configuration's tables.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <string.h>

#include "mailaddr.h"
#include "config.h"
#include "table.h"

/* Do the first bits bits of a and b agree? */
static int
prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int	 full = bits / 8, rest = bits % 8;
	uint8_t	 mask;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int
table_match_net(const struct table *t, const struct sockaddr *sa)
{
	static const uint8_t	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0xff, 0xff };
	const struct table_entry *e;
	const uint8_t		*addr;
	int			 af;

	if (t == NULL || sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		af = AF_INET;
		addr = (const uint8_t *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		af = AF_INET6;
		addr = (const uint8_t *)
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
			af = AF_INET;
			addr += sizeof(mapped);
		}
	} else
		return 0;

	TAILQ_FOREACH(e, &t->entries, entry) {
		if (e->type != ENTRY_NET || e->af != af)
			continue;
		if (prefix_eq(addr, (const uint8_t *)&e->addr, e->prefixlen))
			return 1;
	}
	return 0;
}

int
table_match_domain(const struct table *t, const char *domain)
{
	const struct table_entry *e;

	if (t == NULL || domain == NULL || *domain == '\0')
		return 0;
	TAILQ_FOREACH(e, &t->entries, entry)
		if (e->type == ENTRY_DOMAIN &&
		    mailaddr_domain_eq(e->key, domain))
			return 1;
	return 0;
}

int
table_match_address(const struct table *t, const struct mailaddr *ma)
{
	const struct table_entry *e;

	if (t == NULL || ma == NULL)
		return 0;
	TAILQ_FOREACH(e, &t->entries, entry) {
		if (e->type == ENTRY_ADDRESS && mailaddr_match(e->key, ma))
			return 1;
		if (e->type == ENTRY_DOMAIN && ma->domain[0] != '\0' &&
		    mailaddr_domain_eq(e->key, ma->domain))
			return 1;
	}
	return 0;
}

const struct table_entry *
table_credentials(const struct table *t, const char *login)
{
	const struct table_entry *e;

	if (t == NULL || login == NULL)
		return NULL;
	TAILQ_FOREACH(e, &t->entries, entry)
		if (e->type == ENTRY_CREDENTIALS && strcmp(e->key, login) == 0)
			return e;
	return NULL;
}
