/*
 * Portcullis: the configuration, from the parent to each worker.
 *
 * The parent sends IMSG_PARENT_CONF_START, then one IMSG_PARENT_CONF_ITEM
 * per object, then IMSG_PARENT_CONF_END; the worker rebuilds the same
 * typed structures (struct config) from them and swaps them in at the
 * end.  Each role gets only what it needs: password hashes go to auth
 * alone, relay secrets to delivery alone, and the front end gets no
 * tables at all (auth makes its decisions).  Tables travel before the
 * rules that name them.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "config.h"
#include "config_ipc.h"

enum conf_item {
	CONF_GLOBAL = 1,
	CONF_TABLE,
	CONF_TABLE_ENTRY,
	CONF_ACCEPT,
	CONF_RELAY,
	CONF_DELIVERY,
	CONF_MATCH,
	CONF_PKI,
	CONF_PKI_CERT,
	CONF_PKI_KEY
};

/* Certificates and keys travel in pieces that fit a frame. */
#define PKI_CHUNK	(32 * 1024)

/* Which roles get which objects. */
#define FOR_TABLES	(PROCBIT(PROC_AUTH) | PROCBIT(PROC_QUEUE) | \
			 PROCBIT(PROC_DELIVERY) | PROCBIT(PROC_MAILBOX))
#define FOR_ACCEPTS	(PROCBIT(PROC_AUTH) | PROCBIT(PROC_QUEUE) | \
			 PROCBIT(PROC_MAILBOX) | PROCBIT(PROC_DELIVERY))
#define FOR_RELAYS	(PROCBIT(PROC_AUTH))
#define FOR_DELIVERIES	(PROCBIT(PROC_DELIVERY))

static int
table_for(const struct table *t, enum proc_id role)
{
	if (t->types & ENTRY_CREDENTIALS)
		return role == PROC_AUTH;
	if (t->types & ENTRY_SECRET)
		return role == PROC_DELIVERY;
	return (FOR_TABLES & PROCBIT(role)) != 0;
}

static struct ipc_obuf *
item(struct ipc *ipc, enum conf_item kind)
{
	struct ipc_obuf	*ob;

	ob = ipc_create(ipc, IMSG_PARENT_CONF_ITEM, 0, -1);
	ipc_add_u32(ob, kind);
	return ob;
}

static void
item_close(struct ipc_obuf *ob)
{
	if (ipc_close(ob) == -1)
		fatal("cannot send the configuration");
}

static const char *
tname(const struct table *t)
{
	return t != NULL ? t->name : NULL;
}

/* A table name when the role holds that table, else NULL. */
static const char *
table_for_role_name(const struct table *t, enum proc_id role)
{
	if (t == NULL || !table_for(t, role))
		return NULL;
	return t->name;
}

static void
send_global(struct ipc *ipc, enum proc_id role, const struct config *c)
{
	struct ipc_obuf	*ob;
	int		 i;

	ob = item(ipc, CONF_GLOBAL);
	ipc_add_string(ob, c->hostname);
	ipc_add_string(ob, c->spool);
	ipc_add_string(ob, role == PROC_AUTH ? tname(c->authenticate) : NULL);
	ipc_add_u32(ob, c->authenticate != NULL);
	/* limits */
	ipc_add_u32(ob, c->limits.conn_per_ip);
	ipc_add_u32(ob, c->limits.msgs_per_ip);
	ipc_add_i64(ob, c->limits.msgs_per_ip_within);
	ipc_add_u32(ob, c->limits.msgs_per_user);
	ipc_add_i64(ob, c->limits.msgs_per_user_within);
	ipc_add_u32(ob, c->limits.rcpts_per_msg);
	ipc_add_u32(ob, c->limits.unknown_rcpts_per_session);
	ipc_add_u32(ob, c->limits.failed_cmds_per_session);
	ipc_add_u32(ob, c->limits.auth_failures_per_ip);
	ipc_add_i64(ob, c->limits.auth_failures_within);
	ipc_add_i64(ob, c->limits.auth_failures_block);
	ipc_add_u64(ob, c->limits.message_size);
	ipc_add_string(ob, table_for_role_name(c->limits.exempt, role));
	/* checks */
	ipc_add_u32(ob, c->reject_unknown_sender_domain);
	ipc_add_u32(ob, c->check_spf);
	ipc_add_u32(ob, c->check_senderid);
	ipc_add_u32(ob, c->spamd.enabled);
	ipc_add_data(ob, &c->spamd.ss, sizeof(c->spamd.ss));
	ipc_add_u32(ob, c->spamd.sslen);
	ipc_add_u32(ob, c->spamd.port);
	ipc_add_i64(ob, c->spamd.tag_above);
	ipc_add_i64(ob, c->spamd.reject_above);
	ipc_add_i64(ob, c->spamd.timeout);
	ipc_add_u32(ob, c->spamd.on_error);
	/* queue */
	ipc_add_u32(ob, c->queue.nretry);
	for (i = 0; i < c->queue.nretry && i < CONFIG_RETRY_MAX; i++)
		ipc_add_i64(ob, c->queue.retry[i]);
	ipc_add_i64(ob, c->queue.warn_after);
	ipc_add_i64(ob, c->queue.bounce_after);
	ipc_add_u32(ob, c->queue.deliveries);
	ipc_add_u32(ob, c->queue.per_domain);
	/* resolution */
	ipc_add_u32(ob, c->resolver_set);
	ipc_add_data(ob, &c->resolver, sizeof(c->resolver));
	ipc_add_u32(ob, c->resolver_len);
	ipc_add_u32(ob, c->resolver_port);
	ipc_add_u32(ob, c->mx_port);
	item_close(ob);
}

static void
send_table(struct ipc *ipc, const struct table *t)
{
	struct table_entry	*e;
	struct ipc_obuf		*ob;

	ob = item(ipc, CONF_TABLE);
	ipc_add_string(ob, t->name);
	ipc_add_u32(ob, t->source);
	ipc_add_string(ob, t->path);
	ipc_add_u32(ob, t->types);
	item_close(ob);
	TAILQ_FOREACH(e, &t->entries, entry) {
		ob = item(ipc, CONF_TABLE_ENTRY);
		ipc_add_u32(ob, e->type);
		ipc_add_string(ob, e->key);
		ipc_add_string(ob, e->value);
		ipc_add_string(ob, e->secret);
		ipc_add_u32(ob, e->af);
		ipc_add_u32(ob, e->prefixlen);
		ipc_add_data(ob, &e->addr, sizeof(e->addr));
		ipc_add_u32(ob, e->line);
		item_close(ob);
	}
}

static void
send_delivery(struct ipc *ipc, enum proc_id role, const struct delivery_rule *d)
{
	struct match_cond	*m;
	struct ipc_obuf		*ob;
	int			 i;

	ob = item(ipc, CONF_DELIVERY);
	ipc_add_string(ob, d->name);
	ipc_add_u32(ob, d->disabled);
	ipc_add_u32(ob, d->always);
	ipc_add_u32(ob, d->nhosts);
	for (i = 0; i < d->nhosts && i < CONFIG_RELAYHOSTS_MAX; i++)
		ipc_add_string(ob, d->hosts[i]);
	ipc_add_u32(ob, d->port);
	ipc_add_u32(ob, d->tls);
	ipc_add_u32(ob, d->noverify);
	ipc_add_u32(ob, d->auth);
	ipc_add_u32(ob, d->pop3_tls);
	ipc_add_u32(ob, d->pop3_port);
	ipc_add_string(ob, d->pop3_host);
	ipc_add_string(ob, role == PROC_DELIVERY ? d->credentials : "");
	ipc_add_u32(ob, d->insecure);
	ipc_add_u32(ob, d->line);
	item_close(ob);
	TAILQ_FOREACH(m, &d->matches, entry) {
		ob = item(ipc, CONF_MATCH);
		ipc_add_u32(ob, m->what);
		ipc_add_string(ob, m->pattern);
		ipc_add_string(ob, tname(m->table));
		ipc_add_u32(ob, m->line);
		item_close(ob);
	}
}

static void
send_chunks(struct ipc *ipc, enum conf_item kind, const uint8_t *p,
    size_t len)
{
	struct ipc_obuf	*ob;
	size_t		 n;

	while (len > 0) {
		n = len > PKI_CHUNK ? PKI_CHUNK : len;
		ob = item(ipc, kind);
		ipc_add_data(ob, p, n);
		item_close(ob);
		p += n;
		len -= n;
	}
}

/* Only the front end serves TLS: only it gets certificates and keys. */
static void
send_pki(struct ipc *ipc, const struct pki *p)
{
	struct ipc_obuf	*ob;

	ob = item(ipc, CONF_PKI);
	ipc_add_string(ob, p->name);
	item_close(ob);
	send_chunks(ipc, CONF_PKI_CERT, p->cert_mem, p->cert_len);
	send_chunks(ipc, CONF_PKI_KEY, p->key_mem, p->key_len);
}

void
config_send(struct ipc *ipc, enum proc_id role, const struct config *c,
    uint64_t generation)
{
	struct table		*t;
	struct accept_rule	*a;
	struct relay_rule	*r;
	struct delivery_rule	*d;
	struct pki		*p;
	struct ipc_obuf		*ob;
	uint32_t		 bit = PROCBIT(role);

	ob = ipc_create(ipc, IMSG_PARENT_CONF_START, 0, -1);
	ipc_add_u64(ob, generation);
	ipc_add_string(ob, c->hostname);
	item_close(ob);

	TAILQ_FOREACH(t, &c->tables, entry)
		if (table_for(t, role))
			send_table(ipc, t);
	send_global(ipc, role, c);
	if (bit & FOR_ACCEPTS)
		TAILQ_FOREACH(a, &c->accepts, entry) {
			ob = item(ipc, CONF_ACCEPT);
			ipc_add_string(ob, a->domain);
			ipc_add_string(ob, tname(a->domains));
			ipc_add_string(ob, tname(a->recipients));
			ipc_add_u32(ob, a->deliver);
			ipc_add_string(ob, a->maildir);
			ipc_add_string(ob, a->lmtp_host);
			ipc_add_u32(ob, a->lmtp_port);
			ipc_add_u32(ob, a->line);
			item_close(ob);
		}
	if (bit & FOR_RELAYS)
		TAILQ_FOREACH(r, &c->relays, entry) {
			ob = item(ipc, CONF_RELAY);
			ipc_add_u32(ob, r->flags);
			ipc_add_string(ob, tname(r->from));
			ipc_add_i64(ob, r->pop3_within);
			ipc_add_u32(ob, r->line);
			item_close(ob);
		}
	if (bit & FOR_DELIVERIES)
		TAILQ_FOREACH(d, &c->deliveries, entry)
			send_delivery(ipc, role, d);
	if (role == PROC_SMTP)
		TAILQ_FOREACH(p, &c->pkis, entry)
			send_pki(ipc, p);
}

void
config_send_end(struct ipc *ipc, uint64_t generation)
{
	struct ipc_obuf	*ob;

	ob = ipc_create(ipc, IMSG_PARENT_CONF_END, 0, -1);
	ipc_add_u64(ob, generation);
	item_close(ob);
}

/* ---- the worker side --------------------------------------------------- */

static void
get_str(struct ipc_msg *m, char *buf, size_t len, const char *what)
{
	const char	*s;

	s = ipc_get_string(m);
	if (s == NULL)
		s = "";
	if (strlcpy(buf, s, len) >= len)
		fatalx("configuration from the parent: %s too long", what);
}

static char *
dup_str(struct ipc_msg *m)
{
	const char	*s;
	char		*d;

	if ((s = ipc_get_string(m)) == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		fatal("strdup");
	return d;
}

static struct table *
get_table(struct ipc_msg *m, struct config *c)
{
	const char	*name;
	struct table	*t;

	if ((name = ipc_get_string(m)) == NULL)
		return NULL;
	if ((t = config_table(c, name)) == NULL)
		fatalx("configuration from the parent: unknown table <%s>",
		    name);
	return t;
}

static void
get_blob(struct ipc_msg *m, void *dst, size_t len, const char *what)
{
	const void	*p;
	size_t		 n;

	p = ipc_get_data(m, &n);
	if (n != len)
		fatalx("configuration from the parent: bad %s", what);
	memcpy(dst, p, len);
}

static void
recv_global(struct ipc_msg *m, struct config *c)
{
	uint32_t	 n, i;

	get_str(m, c->hostname, sizeof(c->hostname), "hostname");
	get_str(m, c->spool, sizeof(c->spool), "spool");
	c->authenticate = get_table(m, c);
	c->auth_enabled = ipc_get_u32(m);
	c->limits.conn_per_ip = ipc_get_u32(m);
	c->limits.msgs_per_ip = ipc_get_u32(m);
	c->limits.msgs_per_ip_within = ipc_get_i64(m);
	c->limits.msgs_per_user = ipc_get_u32(m);
	c->limits.msgs_per_user_within = ipc_get_i64(m);
	c->limits.rcpts_per_msg = ipc_get_u32(m);
	c->limits.unknown_rcpts_per_session = ipc_get_u32(m);
	c->limits.failed_cmds_per_session = ipc_get_u32(m);
	c->limits.auth_failures_per_ip = ipc_get_u32(m);
	c->limits.auth_failures_within = ipc_get_i64(m);
	c->limits.auth_failures_block = ipc_get_i64(m);
	c->limits.message_size = ipc_get_u64(m);
	c->limits.exempt = get_table(m, c);
	c->reject_unknown_sender_domain = ipc_get_u32(m);
	c->check_spf = ipc_get_u32(m);
	c->check_senderid = ipc_get_u32(m);
	c->spamd.enabled = ipc_get_u32(m);
	get_blob(m, &c->spamd.ss, sizeof(c->spamd.ss), "spamd address");
	c->spamd.sslen = ipc_get_u32(m);
	c->spamd.port = ipc_get_u32(m);
	c->spamd.tag_above = ipc_get_i64(m);
	c->spamd.reject_above = ipc_get_i64(m);
	c->spamd.timeout = ipc_get_i64(m);
	c->spamd.on_error = ipc_get_u32(m);
	n = ipc_get_u32(m);
	if (n > CONFIG_RETRY_MAX)
		fatalx("configuration from the parent: %u retry steps", n);
	c->queue.nretry = n;
	for (i = 0; i < n; i++)
		c->queue.retry[i] = ipc_get_i64(m);
	c->queue.warn_after = ipc_get_i64(m);
	c->queue.bounce_after = ipc_get_i64(m);
	c->queue.deliveries = ipc_get_u32(m);
	c->queue.per_domain = ipc_get_u32(m);
	c->resolver_set = ipc_get_u32(m);
	get_blob(m, &c->resolver, sizeof(c->resolver), "resolver");
	c->resolver_len = ipc_get_u32(m);
	c->resolver_port = ipc_get_u32(m);
	c->mx_port = ipc_get_u32(m);
	ipc_end(m);
	if (c->spamd.sslen > sizeof(c->spamd.ss) ||
	    c->resolver_len > sizeof(c->resolver))
		fatalx("configuration from the parent: bad address length");
}

static void
recv_table(struct ipc_msg *m, struct config *c)
{
	struct table	*t;
	char		 name[CONFIG_NAME_MAX];

	get_str(m, name, sizeof(name), "table name");
	if (config_table(c, name) != NULL)
		fatalx("configuration from the parent: table <%s> twice",
		    name);
	if ((t = table_new(name)) == NULL)
		fatal("table_new");
	t->source = ipc_get_u32(m);
	get_str(m, t->path, sizeof(t->path), "table path");
	t->types = ipc_get_u32(m);
	ipc_end(m);
	TAILQ_INSERT_TAIL(&c->tables, t, entry);
}

static void
recv_table_entry(struct ipc_msg *m, struct config *c)
{
	struct table		*t;
	struct table_entry	*e;

	if ((t = TAILQ_LAST(&c->tables, config_tables)) == NULL)
		fatalx("configuration from the parent: entry without a table");
	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("calloc");
	e->type = ipc_get_u32(m);
	e->key = dup_str(m);
	e->value = dup_str(m);
	e->secret = dup_str(m);
	e->af = ipc_get_u32(m);
	e->prefixlen = ipc_get_u32(m);
	get_blob(m, &e->addr, sizeof(e->addr), "table entry address");
	e->line = ipc_get_u32(m);
	ipc_end(m);
	if (e->key == NULL)
		fatalx("configuration from the parent: entry without a key");
	TAILQ_INSERT_TAIL(&t->entries, e, entry);
	t->count++;
}

static void
recv_accept(struct ipc_msg *m, struct config *c)
{
	struct accept_rule	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("calloc");
	get_str(m, a->domain, sizeof(a->domain), "accept domain");
	a->domains = get_table(m, c);
	a->recipients = get_table(m, c);
	a->deliver = ipc_get_u32(m);
	get_str(m, a->maildir, sizeof(a->maildir), "maildir");
	get_str(m, a->lmtp_host, sizeof(a->lmtp_host), "lmtp host");
	a->lmtp_port = ipc_get_u32(m);
	a->line = ipc_get_u32(m);
	ipc_end(m);
	TAILQ_INSERT_TAIL(&c->accepts, a, entry);
}

static void
recv_relay(struct ipc_msg *m, struct config *c)
{
	struct relay_rule	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	r->flags = ipc_get_u32(m);
	r->from = get_table(m, c);
	r->pop3_within = ipc_get_i64(m);
	r->line = ipc_get_u32(m);
	ipc_end(m);
	TAILQ_INSERT_TAIL(&c->relays, r, entry);
}

static void
recv_delivery(struct ipc_msg *m, struct config *c)
{
	struct delivery_rule	*d;
	uint32_t		 i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("calloc");
	TAILQ_INIT(&d->matches);
	get_str(m, d->name, sizeof(d->name), "rule name");
	d->disabled = ipc_get_u32(m);
	d->always = ipc_get_u32(m);
	d->nhosts = ipc_get_u32(m);
	if (d->nhosts > CONFIG_RELAYHOSTS_MAX)
		fatalx("configuration from the parent: %d relay hosts",
		    d->nhosts);
	for (i = 0; i < (uint32_t)d->nhosts; i++)
		get_str(m, d->hosts[i], sizeof(d->hosts[i]), "relay host");
	d->port = ipc_get_u32(m);
	d->tls = ipc_get_u32(m);
	d->noverify = ipc_get_u32(m);
	d->auth = ipc_get_u32(m);
	d->pop3_tls = ipc_get_u32(m);
	d->pop3_port = ipc_get_u32(m);
	get_str(m, d->pop3_host, sizeof(d->pop3_host), "pop3 host");
	get_str(m, d->credentials, sizeof(d->credentials), "credentials");
	d->insecure = ipc_get_u32(m);
	d->line = ipc_get_u32(m);
	ipc_end(m);
	if (d->credentials[0] != '\0' &&
	    (d->secret = config_secret(c, d->credentials)) == NULL)
		fatalx("configuration from the parent: no secret \"%s\"",
		    d->credentials);
	TAILQ_INSERT_TAIL(&c->deliveries, d, entry);
}

static void
recv_match(struct ipc_msg *m, struct config *c)
{
	struct delivery_rule	*d;
	struct match_cond	*mc;

	if ((d = TAILQ_LAST(&c->deliveries, config_deliveries)) == NULL)
		fatalx("configuration from the parent: match without a rule");
	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		fatal("calloc");
	mc->what = ipc_get_u32(m);
	get_str(m, mc->pattern, sizeof(mc->pattern), "pattern");
	mc->table = get_table(m, c);
	mc->line = ipc_get_u32(m);
	ipc_end(m);
	TAILQ_INSERT_TAIL(&d->matches, mc, entry);
}

static void
recv_pki(struct ipc_msg *m, struct config *c)
{
	struct pki	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("calloc");
	get_str(m, p->name, sizeof(p->name), "pki name");
	ipc_end(m);
	TAILQ_INSERT_TAIL(&c->pkis, p, entry);
}

/* Append a piece of the last pki's certificate or key. */
static void
recv_pki_chunk(struct ipc_msg *m, struct config *c, int key)
{
	struct pki	*p;
	const void	*data;
	uint8_t		**mem, *n;
	size_t		*len, dlen;

	if ((p = TAILQ_LAST(&c->pkis, config_pkis)) == NULL)
		fatalx("configuration from the parent: pki data without pki");
	data = ipc_get_data(m, &dlen);
	ipc_end(m);
	mem = key ? &p->key_mem : &p->cert_mem;
	len = key ? &p->key_len : &p->cert_len;
	if (dlen > PKI_CHUNK || *len > SIZE_MAX / 2)
		fatalx("configuration from the parent: pki data too large");
	/* the old buffer may hold a key: copy, then wipe it */
	if ((n = malloc(*len + dlen)) == NULL)
		fatal("malloc");
	if (*len > 0)
		memcpy(n, *mem, *len);
	memcpy(n + *len, data, dlen);
	freezero(*mem, *len);
	*mem = n;
	*len += dlen;
}

/*
 * Feed one message of a configuration transfer.  Returns the finished
 * configuration at IMSG_PARENT_CONF_END (the caller owns it), else NULL.
 */
struct config *
config_recv(struct config **building, struct ipc_msg *m)
{
	struct config	*c;

	switch (m->hdr.type) {
	case IMSG_PARENT_CONF_START:
		if (*building != NULL)
			config_free(*building);
		if ((*building = calloc(1, sizeof(**building))) == NULL)
			fatal("calloc");
		config_init(*building);
		(void)ipc_get_u64(m);
		get_str(m, (*building)->hostname,
		    sizeof((*building)->hostname), "hostname");
		ipc_end(m);
		return NULL;
	case IMSG_PARENT_CONF_ITEM:
		if ((c = *building) == NULL)
			fatalx("configuration item outside a transfer");
		switch (ipc_get_u32(m)) {
		case CONF_GLOBAL:
			recv_global(m, c);
			break;
		case CONF_TABLE:
			recv_table(m, c);
			break;
		case CONF_TABLE_ENTRY:
			recv_table_entry(m, c);
			break;
		case CONF_ACCEPT:
			recv_accept(m, c);
			break;
		case CONF_RELAY:
			recv_relay(m, c);
			break;
		case CONF_DELIVERY:
			recv_delivery(m, c);
			break;
		case CONF_MATCH:
			recv_match(m, c);
			break;
		case CONF_PKI:
			recv_pki(m, c);
			break;
		case CONF_PKI_CERT:
			recv_pki_chunk(m, c, 0);
			break;
		case CONF_PKI_KEY:
			recv_pki_chunk(m, c, 1);
			break;
		default:
			fatalx("configuration from the parent: unknown item");
		}
		return NULL;
	case IMSG_PARENT_CONF_END:
		if ((c = *building) == NULL)
			fatalx("configuration end outside a transfer");
		*building = NULL;
		return c;
	}
	fatalx("%s is not part of a configuration",
	    ipc_type_name(m->hdr.type));
}
