/*
 * Portcullis: the configuration transfer from the parent to each
 * worker.  The complete example (regress/config/02.conf) goes through a
 * socketpair to each role; each must get what its role needs, equal to
 * what the parent parsed, and nothing that is not its own.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "ipc.h"
#include "proc.h"
#include "parent_imsg.h"
#include "imsg_names.h"
#include "config.h"
#include "config_ipc.h"
#include "parent.h"

static struct config *parsed;

/* Send parsed to role through a socketpair; return what arrives. */
static struct config *
transfer(enum proc_id role)
{
	struct ipc	 tx, rx;
	struct ipc_msg	 m;
	struct config	*building = NULL, *got = NULL;
	int		 sp[2], r, rounds;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		err(1, "socketpair");
	ipc_init(&tx, sp[0], "parent");
	ipc_init(&rx, sp[1], "worker");
	config_send(&tx, role, parsed, 7);
	config_send_end(&tx, 7);
	for (rounds = 0; got == NULL && rounds < 100000; rounds++) {
		if (tx.outcount > 0 && ipc_write(&tx) == -1)
			err(1, "ipc_write");
		if (ipc_read(&rx) <= 0)
			errx(1, "ipc_read");
		while (got == NULL && (r = ipc_get(&rx, &m)) == 1)
			got = config_recv(&building, &m);
		if (r == -1)
			errx(1, "bad frame");
	}
	ipc_clear(&tx);
	ipc_clear(&rx);
	return got;
}

static int
has_entry_type(const struct config *c, int type)
{
	struct table		*t;
	struct table_entry	*e;

	TAILQ_FOREACH(t, &c->tables, entry)
		TAILQ_FOREACH(e, &t->entries, entry)
			if (e->type == type)
				return 1;
	return 0;
}

static void
test_auth_gets_relay_control(void)
{
	struct config		*c = transfer(PROC_AUTH);
	struct relay_rule	*r, *pr;
	struct table		*t;

	CHECK(c != NULL, "nothing arrived");
	if (c == NULL)
		return;
	CHECK_STR(c->hostname, parsed->hostname);
	CHECK(c->authenticate != NULL &&
	    strcmp(c->authenticate->name, "users") == 0, "authenticate");
	CHECK(has_entry_type(c, ENTRY_CREDENTIALS), "no password hashes");
	CHECK(!has_entry_type(c, ENTRY_SECRET), "auth got relay secrets");
	CHECK(TAILQ_EMPTY(&c->deliveries), "auth got delivery rules");
	/* the relay rules, in order, with their tables */
	pr = TAILQ_FIRST(&parsed->relays);
	TAILQ_FOREACH(r, &c->relays, entry) {
		CHECK(pr != NULL && r->flags == pr->flags &&
		    r->pop3_within == pr->pop3_within &&
		    (r->from == NULL) == (pr->from == NULL), "relay rule");
		if (pr != NULL)
			pr = TAILQ_NEXT(pr, entry);
	}
	CHECK(pr == NULL, "relay rules missing");
	t = config_table(c, "lan");
	CHECK(t != NULL && t->count == config_table(parsed, "lan")->count,
	    "table lan");
	CHECK(!TAILQ_EMPTY(&c->accepts), "accept rules");
	CHECK(c->limits.message_size == parsed->limits.message_size,
	    "limits");
	config_free(c);
}

static void
test_delivery_gets_rules_and_secrets(void)
{
	struct config		*c = transfer(PROC_DELIVERY);
	struct delivery_rule	*d, *pd;

	CHECK(c != NULL, "nothing arrived");
	if (c == NULL)
		return;
	CHECK(!has_entry_type(c, ENTRY_CREDENTIALS), "delivery got hashes");
	CHECK(has_entry_type(c, ENTRY_SECRET), "no relay secrets");
	CHECK(TAILQ_EMPTY(&c->relays), "delivery got relay rules");
	CHECK(c->authenticate == NULL, "delivery got authenticate");
	pd = TAILQ_FIRST(&parsed->deliveries);
	TAILQ_FOREACH(d, &c->deliveries, entry) {
		CHECK(pd != NULL, "extra rule %s", d->name);
		if (pd == NULL)
			break;
		CHECK_STR(d->name, pd->name);
		CHECK(d->nhosts == pd->nhosts && d->port == pd->port &&
		    d->tls == pd->tls && d->auth == pd->auth &&
		    d->disabled == pd->disabled && d->always == pd->always,
		    "rule %s differs", d->name);
		CHECK((d->secret != NULL) == (pd->secret != NULL) &&
		    (d->secret == NULL ||
		    strcmp(d->secret->secret, pd->secret->secret) == 0),
		    "rule %s: secret", d->name);
		pd = TAILQ_NEXT(pd, entry);
	}
	CHECK(pd == NULL, "delivery rules missing");
	CHECK(c->queue.nretry == parsed->queue.nretry &&
	    c->mx_port == parsed->mx_port, "globals");
	config_free(c);
}

static void
test_front_end_gets_no_tables(void)
{
	struct config	*c = transfer(PROC_SMTP);

	CHECK(c != NULL, "nothing arrived");
	if (c == NULL)
		return;
	CHECK(TAILQ_EMPTY(&c->tables), "smtp got tables");
	CHECK(TAILQ_EMPTY(&c->relays) && TAILQ_EMPTY(&c->accepts) &&
	    TAILQ_EMPTY(&c->deliveries), "smtp got rules");
	CHECK(c->authenticate == NULL && c->limits.exempt == NULL,
	    "smtp got table references");
	CHECK_STR(c->hostname, parsed->hostname);
	config_free(c);
}

/* The front end gets the certificates and keys, and nobody else. */
static void
test_only_the_front_end_gets_keys(void)
{
	struct config	*c = transfer(PROC_SMTP), *a = transfer(PROC_AUTH);
	struct pki	*p, *pp;

	CHECK(c != NULL && a != NULL, "nothing arrived");
	if (c == NULL || a == NULL)
		return;
	pp = TAILQ_FIRST(&parsed->pkis);
	p = TAILQ_FIRST(&c->pkis);
	CHECK(pp != NULL && pp->key_len > 0, "parent has no key loaded");
	CHECK(p != NULL && pp != NULL && strcmp(p->name, pp->name) == 0 &&
	    p->cert_len == pp->cert_len && p->key_len == pp->key_len &&
	    memcmp(p->cert_mem, pp->cert_mem, p->cert_len) == 0 &&
	    memcmp(p->key_mem, pp->key_mem, p->key_len) == 0,
	    "pki differs");
	CHECK(TAILQ_EMPTY(&a->pkis), "auth got a pki");
	config_free(c);
	config_free(a);
}

static void
test_queue_and_mailbox_get_accepts(void)
{
	struct config	*q = transfer(PROC_QUEUE), *mb = transfer(PROC_MAILBOX);

	CHECK(q != NULL && mb != NULL, "nothing arrived");
	if (q == NULL || mb == NULL)
		return;
	CHECK(!has_entry_type(q, ENTRY_CREDENTIALS | ENTRY_SECRET) &&
	    !has_entry_type(q, ENTRY_SECRET), "queue got secrets");
	CHECK(!TAILQ_EMPTY(&q->accepts) && !TAILQ_EMPTY(&mb->accepts),
	    "accept rules");
	CHECK(!has_entry_type(mb, ENTRY_CREDENTIALS) &&
	    !has_entry_type(mb, ENTRY_SECRET), "mailbox got secrets");
	config_free(q);
	config_free(mb);
}

int
main(void)
{
	if (chdir("regress/config") == -1)
		err(1, "run from the top of the tree: chdir regress/config");
	/* git does not keep modes: the secrets file must be private */
	(void)chmod("secrets", 0600);
	(void)chmod("users", 0600);
	(void)chmod("mx.key", 0600);
	imsg_names_register();
	if ((parsed = config_parse("02.conf")) == NULL)
		errx(1, "02.conf does not parse");
	if (pki_load_all(parsed) == -1)
		errx(1, "02.conf: cannot load its pki");
	RUN(test_auth_gets_relay_control);
	RUN(test_delivery_gets_rules_and_secrets);
	RUN(test_front_end_gets_no_tables);
	RUN(test_only_the_front_end_gets_keys);
	RUN(test_queue_and_mailbox_get_accepts);
	config_free(parsed);
	return unit_done();
}
