/*
 * Portcullis: who may send where.
 *
 * A recipient in an accepted domain is taken from anyone (if the domain
 * has a recipients table, only the addresses in it).  Any other
 * recipient needs a relay rule: a rule allows when every one of its
 * conditions holds, and any allowing rule suffices.  The domain judged
 * is the real destination as the address parser found it: source routes
 * are gone, quoted or %-hacked local parts are local parts, and an
 * address literal is never an accepted domain.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "mailaddr.h"
#include "config.h"
#include "table.h"
#include "auth_imsg.h"
#include "relay.h"

static int
accept_matches(const struct accept_rule *a, const struct mailaddr *rcpt)
{
	if (rcpt->flags & MAILADDR_LITERAL)
		return 0;
	if (a->domain[0] != '\0')
		return mailaddr_domain_eq(a->domain, rcpt->domain);
	return table_match_domain(a->domains, rcpt->domain);
}

static int
rule_holds(const struct relay_rule *r, const struct relay_facts *f)
{
	if (r->flags & RELAY_ANY)
		return 1;
	if ((r->flags & RELAY_FROM) && !table_match_net(r->from, f->client))
		return 0;
	if ((r->flags & RELAY_AUTHENTICATED) && f->user == NULL)
		return 0;
	if ((r->flags & RELAY_POP3_LOGIN) &&
	    (f->pop3_age < 0 || f->pop3_age > r->pop3_within))
		return 0;
	return (r->flags & (RELAY_FROM | RELAY_AUTHENTICATED |
	    RELAY_POP3_LOGIN)) != 0;
}

int
relay_allowed(const struct config *conf, const struct relay_facts *f,
    int *line)
{
	const struct relay_rule	*r;

	TAILQ_FOREACH(r, &conf->relays, entry)
		if (rule_holds(r, f)) {
			if (line != NULL)
				*line = r->line;
			return 1;
		}
	return 0;
}

void
relay_decide(const struct config *conf, const struct relay_facts *f,
    struct relay_verdict *v)
{
	const struct accept_rule *a;
	const struct mailaddr	*rcpt = f->rcpt;

	memset(v, 0, sizeof(*v));
	if (rcpt->flags & MAILADDR_POSTMASTER) {
		v->verdict = RCPT_LOCAL;
		(void)strlcpy(v->reason, "postmaster", sizeof(v->reason));
		return;
	}
	TAILQ_FOREACH(a, &conf->accepts, entry) {
		if (!accept_matches(a, rcpt))
			continue;
		v->line = a->line;
		if (a->recipients != NULL &&
		    !table_match_address(a->recipients, rcpt)) {
			v->verdict = RCPT_UNKNOWN;
			(void)snprintf(v->reason, sizeof(v->reason),
			    "not in <%s>", a->recipients->name);
			return;
		}
		v->verdict = RCPT_LOCAL;
		(void)strlcpy(v->reason, "accepted domain",
		    sizeof(v->reason));
		return;
	}
	if (relay_allowed(conf, f, &v->line)) {
		v->verdict = RCPT_RELAY;
		(void)strlcpy(v->reason, "relay allowed", sizeof(v->reason));
		return;
	}
	v->verdict = RCPT_DENIED;
	(void)strlcpy(v->reason, "no rule allowed", sizeof(v->reason));
}
