/*
 * Portcullis: routing one recipient.  Top-down, the first enabled
 * delivery rule that matches wins; a rule matches when any of its
 * "match" lines holds (a sender or recipient pattern or table) or it
 * says "always".  No rule: the domain's MX.  A domain accepted with
 * "deliver lmtp" goes to its LMTP server, whatever the rules.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <string.h>

#include "mailaddr.h"
#include "config.h"
#include "table.h"
#include "envelope.h"
#include "route.h"

static int
cond_holds(const struct match_cond *m, const struct envelope *evp)
{
	const struct mailaddr	*a;

	a = m->what == MATCH_SENDER ? &evp->sender : &evp->rcpt;
	if (m->table != NULL)
		return table_match_address(m->table, a);
	return mailaddr_match(m->pattern, a);
}

static int
rule_matches(const struct delivery_rule *d, const struct envelope *evp)
{
	const struct match_cond	*m;

	if (d->always)
		return 1;
	TAILQ_FOREACH(m, &d->matches, entry)
		if (cond_holds(m, evp))
			return 1;
	return 0;
}

static const struct accept_rule *
accept_for(const struct config *conf, const struct mailaddr *rcpt)
{
	const struct accept_rule *a;

	if (rcpt->flags & MAILADDR_LITERAL)
		return NULL;
	TAILQ_FOREACH(a, &conf->accepts, entry) {
		if (a->domain[0] != '\0' ?
		    mailaddr_domain_eq(a->domain, rcpt->domain) :
		    table_match_domain(a->domains, rcpt->domain))
			return a;
	}
	return NULL;
}

void
route_for(const struct config *conf, const struct envelope *evp,
    struct route *r)
{
	const struct delivery_rule	*d;
	const struct accept_rule	*a;

	memset(r, 0, sizeof(*r));
	a = accept_for(conf, &evp->rcpt);
	if (a != NULL && a->deliver == ACCEPT_LMTP) {
		r->kind = ROUTE_LMTP;
		(void)strlcpy(r->host, a->lmtp_host, sizeof(r->host));
		r->port = a->lmtp_port;
		return;
	}
	TAILQ_FOREACH(d, &conf->deliveries, entry) {
		if (d->disabled || !rule_matches(d, evp))
			continue;
		r->kind = ROUTE_RULE;
		r->rule = d;
		return;
	}
	r->kind = ROUTE_MX;
	(void)strlcpy(r->host, evp->rcpt.domain, sizeof(r->host));
}

int
route_same(const struct route *a, const struct route *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case ROUTE_RULE:
		return a->rule == b->rule;
	case ROUTE_LMTP:
		return a->port == b->port && strcmp(a->host, b->host) == 0;
	default:
		return mailaddr_domain_eq(a->host, b->host);
	}
}

const char *
route_name(const struct route *r, char *buf, size_t len)
{
	switch (r->kind) {
	case ROUTE_RULE:
		(void)snprintf(buf, len, "rule \"%s\"", r->rule->name);
		break;
	case ROUTE_LMTP:
		(void)snprintf(buf, len, "lmtp %s:%u", r->host, r->port);
		break;
	default:
		(void)snprintf(buf, len, "mx %s", r->host);
		break;
	}
	return buf;
}
