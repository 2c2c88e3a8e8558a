/*
 * Portcullis: print the configuration in its normalised form (smtpd
 * -nv).  Everything is printed, defaults included, in a fixed order;
 * macros and includes are already expanded.  The output parses again to
 * the same output.  Secrets and password hashes are never printed: file
 * tables print as their path.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "config.h"

const char *
fmt_duration(time_t t, char *buf, size_t len)
{
	if (t % 86400 == 0)
		(void)snprintf(buf, len, "%lldd", (long long)t / 86400);
	else if (t % 3600 == 0)
		(void)snprintf(buf, len, "%lldh", (long long)t / 3600);
	else if (t % 60 == 0)
		(void)snprintf(buf, len, "%lldm", (long long)t / 60);
	else
		(void)snprintf(buf, len, "%llds", (long long)t);
	return buf;
}

const char *
fmt_size(size_t n, char *buf, size_t len)
{
	if (n % (1024 * 1024 * 1024) == 0)
		(void)snprintf(buf, len, "%zuG", n / (1024 * 1024 * 1024));
	else if (n % (1024 * 1024) == 0)
		(void)snprintf(buf, len, "%zuM", n / (1024 * 1024));
	else if (n % 1024 == 0)
		(void)snprintf(buf, len, "%zuK", n / 1024);
	else
		(void)snprintf(buf, len, "%zu", n);
	return buf;
}

const char *
fmt_score(int hundredths, char *buf, size_t len)
{
	if (hundredths % 10 == 0)
		(void)snprintf(buf, len, "%d.%d", hundredths / 100,
		    (hundredths % 100) / 10);
	else
		(void)snprintf(buf, len, "%d.%02d", hundredths / 100,
		    hundredths % 100);
	return buf;
}

const char *
fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void	*a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else
		a = NULL;
	if (a == NULL || inet_ntop(ss->ss_family, a, buf, len) == NULL)
		(void)strlcpy(buf, "?", len);
	return buf;
}

/* A quoted string, '"' and '\\' escaped as the lexer reads them. */
static void
pq(FILE *fp, const char *s)
{
	(void)fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			(void)fputc('\\', fp);
		(void)fputc(*s, fp);
	}
	(void)fputc('"', fp);
}

/* A host name; a single label is quoted, as it might be a keyword. */
static void
ph(FILE *fp, const char *s)
{
	if (strchr(s, '.') == NULL && strchr(s, ':') == NULL)
		pq(fp, s);
	else
		(void)fprintf(fp, "%s", s);
}

static void
print_tables(FILE *fp, const struct config *conf)
{
	const struct table		*t;
	const struct table_entry	*e;

	TAILQ_FOREACH(t, &conf->tables, entry) {
		(void)fprintf(fp, "table %s ", t->name);
		if (t->source == TABLE_FILE) {
			(void)fprintf(fp, "file ");
			pq(fp, t->path);
			(void)fprintf(fp, "\n");
			continue;
		}
		(void)fprintf(fp, "{");
		TAILQ_FOREACH(e, &t->entries, entry) {
			(void)fprintf(fp, " ");
			if (e->type == ENTRY_NET)
				(void)fprintf(fp, "%s", e->key);
			else
				pq(fp, e->key);
			if (TAILQ_NEXT(e, entry) != NULL)
				(void)fprintf(fp, ",");
		}
		(void)fprintf(fp, " }\n");
	}
}

static void
print_listeners(FILE *fp, const struct config *conf)
{
	const struct listener	*l;
	char			 buf[INET6_ADDRSTRLEN];
	int			 f;

	TAILQ_FOREACH(l, &conf->listeners, entry) {
		f = l->flags;
		(void)fprintf(fp, "listen on %s port %d",
		    fmt_sockaddr(&l->ss, buf, sizeof(buf)), l->port);
		if (f & LISTEN_POP3S)
			(void)fprintf(fp, " pop3s");
		else if (f & LISTEN_POP3)
			(void)fprintf(fp, " pop3");
		if (f & LISTEN_SMTPS)
			(void)fprintf(fp, " smtps");
		else if (f & LISTEN_TLS_REQUIRE)
			(void)fprintf(fp, " tls-require");
		else if (f & LISTEN_TLS)
			(void)fprintf(fp, " tls");
		if (l->pki[0] != '\0')
			(void)fprintf(fp, " pki %s", l->pki);
		if (f & LISTEN_AUTH_REQUIRE)
			(void)fprintf(fp, " auth-require");
		if (f & LISTEN_AUTH_INSECURE)
			(void)fprintf(fp, " auth-insecure");
		(void)fprintf(fp, "\n");
	}
}

static void
print_accepts(FILE *fp, const struct config *conf)
{
	const struct accept_rule	*a;

	TAILQ_FOREACH(a, &conf->accepts, entry) {
		(void)fprintf(fp, "accept for domain ");
		if (a->domains != NULL)
			(void)fprintf(fp, "<%s>", a->domains->name);
		else
			pq(fp, a->domain);
		if (a->recipients != NULL)
			(void)fprintf(fp, " recipients <%s>",
			    a->recipients->name);
		if (a->deliver == ACCEPT_MAILDIR) {
			(void)fprintf(fp, " deliver maildir ");
			pq(fp, a->maildir);
		} else if (a->deliver == ACCEPT_LMTP) {
			if (strchr(a->lmtp_host, ':') != NULL)
				(void)fprintf(fp, " deliver lmtp \"[%s]:%d\"",
				    a->lmtp_host, a->lmtp_port);
			else
				(void)fprintf(fp, " deliver lmtp \"%s:%d\"",
				    a->lmtp_host, a->lmtp_port);
		}
		(void)fprintf(fp, "\n");
	}
}

static void
print_relays(FILE *fp, const struct config *conf)
{
	const struct relay_rule	*r;
	char			 buf[32];

	TAILQ_FOREACH(r, &conf->relays, entry) {
		(void)fprintf(fp, "relay allow");
		if (r->flags & RELAY_ANY)
			(void)fprintf(fp, " any");
		if (r->flags & RELAY_FROM)
			(void)fprintf(fp, " from <%s>", r->from->name);
		if (r->flags & RELAY_AUTHENTICATED)
			(void)fprintf(fp, " authenticated");
		if (r->flags & RELAY_POP3_LOGIN)
			(void)fprintf(fp, " pop3-login within %s",
			    fmt_duration(r->pop3_within, buf, sizeof(buf)));
		(void)fprintf(fp, "\n");
	}
}

static void
print_delivery(FILE *fp, const struct delivery_rule *d)
{
	static const char *const methods[] = {
		"", "plain", "login", "cram-md5", "pop3-before-smtp"
	};
	const struct match_cond	*m;
	int			 i;

	(void)fprintf(fp, "delivery ");
	pq(fp, d->name);
	(void)fprintf(fp, "%s {\n", d->disabled ? " disabled" : "");
	TAILQ_FOREACH(m, &d->matches, entry) {
		(void)fprintf(fp, "\tmatch %s ",
		    m->what == MATCH_SENDER ? "sender" : "recipient");
		if (m->table != NULL)
			(void)fprintf(fp, "<%s>", m->table->name);
		else
			pq(fp, m->pattern);
		(void)fprintf(fp, "\n");
	}
	if (d->always)
		(void)fprintf(fp, "\talways\n");
	(void)fprintf(fp, "\trelay ");
	for (i = 0; i < d->nhosts; i++) {
		if (i > 0)
			(void)fprintf(fp, ", ");
		ph(fp, d->hosts[i]);
	}
	(void)fprintf(fp, " port %d", d->port);
	if (d->tls == RELAY_TLS_STARTTLS)
		(void)fprintf(fp, " tls");
	else if (d->tls == RELAY_TLS_SMTPS)
		(void)fprintf(fp, " smtps");
	if (d->tls != RELAY_TLS_NONE && d->noverify)
		(void)fprintf(fp, " noverify");
	if (d->auth != RELAY_AUTH_NONE)
		(void)fprintf(fp, " auth %s", methods[d->auth]);
	if (d->auth == RELAY_AUTH_POP3) {
		(void)fprintf(fp, " %s port %d",
		    d->pop3_tls == POP3_POP3S ? "pop3s" : "pop3", d->pop3_port);
		if (d->pop3_host[0] != '\0') {
			(void)fprintf(fp, " host ");
			ph(fp, d->pop3_host);
		}
	}
	if (d->credentials[0] != '\0') {
		(void)fprintf(fp, " credentials ");
		pq(fp, d->credentials);
	}
	if (d->insecure)
		(void)fprintf(fp, " insecure");
	(void)fprintf(fp, "\n}\n");
}

static void
print_limits(FILE *fp, const struct config *conf)
{
	const struct limits	*l = &conf->limits;
	char			 a[32], b[32];

	if (l->conn_per_ip)
		(void)fprintf(fp, "limit connections %d per-ip\n",
		    l->conn_per_ip);
	if (l->msgs_per_ip)
		(void)fprintf(fp, "limit messages %d per-ip within %s\n",
		    l->msgs_per_ip,
		    fmt_duration(l->msgs_per_ip_within, a, sizeof(a)));
	if (l->msgs_per_user)
		(void)fprintf(fp, "limit messages %d per-user within %s\n",
		    l->msgs_per_user,
		    fmt_duration(l->msgs_per_user_within, a, sizeof(a)));
	if (l->rcpts_per_msg)
		(void)fprintf(fp, "limit recipients %d per-message\n",
		    l->rcpts_per_msg);
	if (l->unknown_rcpts_per_session)
		(void)fprintf(fp, "limit unknown-recipients %d per-session\n",
		    l->unknown_rcpts_per_session);
	if (l->failed_cmds_per_session)
		(void)fprintf(fp, "limit failed-commands %d per-session\n",
		    l->failed_cmds_per_session);
	if (l->auth_failures_per_ip)
		(void)fprintf(fp, "limit auth-failures %d per-ip within %s "
		    "block %s\n", l->auth_failures_per_ip,
		    fmt_duration(l->auth_failures_within, a, sizeof(a)),
		    fmt_duration(l->auth_failures_block, b, sizeof(b)));
	(void)fprintf(fp, "limit message-size %s\n",
	    fmt_size(l->message_size, a, sizeof(a)));
	if (l->exempt != NULL)
		(void)fprintf(fp, "limit exempt <%s>\n", l->exempt->name);
}

static void
print_checks(FILE *fp, const struct config *conf)
{
	const struct spamd_check	*s = &conf->spamd;
	static const char *const onerror[] = { "accept", "tempfail", "reject" };
	char				 buf[INET6_ADDRSTRLEN], a[32];

	if (conf->reject_unknown_sender_domain)
		(void)fprintf(fp, "reject unknown-sender-domain\n");
	if (conf->check_spf != CHECK_OFF)
		(void)fprintf(fp, "check spf %s\n",
		    conf->check_spf == CHECK_TAG ? "tag" : "reject-fail");
	if (conf->check_senderid != CHECK_OFF)
		(void)fprintf(fp, "check sender-id %s\n",
		    conf->check_senderid == CHECK_TAG ? "tag" : "reject-fail");
	if (!s->enabled)
		return;
	(void)fprintf(fp, "check spamd %s port %d",
	    fmt_sockaddr(&s->ss, buf, sizeof(buf)), s->port);
	if (s->tag_above != -1)
		(void)fprintf(fp, " tag-above %s",
		    fmt_score(s->tag_above, a, sizeof(a)));
	if (s->reject_above != -1)
		(void)fprintf(fp, " reject-above %s",
		    fmt_score(s->reject_above, a, sizeof(a)));
	(void)fprintf(fp, " timeout %s on-error %s\n",
	    fmt_duration(s->timeout, a, sizeof(a)), onerror[s->on_error]);
}

static void
print_queue(FILE *fp, const struct config *conf)
{
	const struct queue_conf	*q = &conf->queue;
	char			 a[32];
	int			 i;

	(void)fprintf(fp, "queue retry");
	for (i = 0; i < q->nretry; i++)
		(void)fprintf(fp, " %s", fmt_duration(q->retry[i], a,
		    sizeof(a)));
	(void)fprintf(fp, "\n");
	(void)fprintf(fp, "queue warn-after %s\n",
	    fmt_duration(q->warn_after, a, sizeof(a)));
	(void)fprintf(fp, "queue bounce-after %s\n",
	    fmt_duration(q->bounce_after, a, sizeof(a)));
	(void)fprintf(fp, "queue deliveries %d per-domain %d\n",
	    q->deliveries, q->per_domain);
}

void
config_print(FILE *fp, const struct config *conf)
{
	const struct pki		*p;
	const struct delivery_rule	*d;
	char				 buf[INET6_ADDRSTRLEN];

	(void)fprintf(fp, "hostname ");
	pq(fp, conf->hostname);
	(void)fprintf(fp, "\nspool ");
	pq(fp, conf->spool);
	(void)fprintf(fp, "\ncontrol socket ");
	pq(fp, conf->control_socket);
	(void)fprintf(fp, "\ncontrol group ");
	pq(fp, conf->control_group);
	(void)fprintf(fp, "\n");
	if (conf->resolver_set)
		(void)fprintf(fp, "resolver %s port %d\n",
		    fmt_sockaddr(&conf->resolver, buf, sizeof(buf)),
		    conf->resolver_port);
	(void)fprintf(fp, "mx port %d\n", conf->mx_port);

	if (!TAILQ_EMPTY(&conf->tables))
		(void)fprintf(fp, "\n");
	print_tables(fp, conf);
	if (!TAILQ_EMPTY(&conf->pkis))
		(void)fprintf(fp, "\n");
	TAILQ_FOREACH(p, &conf->pkis, entry) {
		(void)fprintf(fp, "pki %s cert ", p->name);
		pq(fp, p->cert);
		(void)fprintf(fp, " key ");
		pq(fp, p->key);
		(void)fprintf(fp, "\n");
	}
	if (!TAILQ_EMPTY(&conf->listeners) || conf->authenticate != NULL)
		(void)fprintf(fp, "\n");
	print_listeners(fp, conf);
	if (conf->authenticate != NULL)
		(void)fprintf(fp, "authenticate <%s>\n",
		    conf->authenticate->name);

	if (!TAILQ_EMPTY(&conf->accepts))
		(void)fprintf(fp, "\n");
	print_accepts(fp, conf);
	if (!TAILQ_EMPTY(&conf->relays))
		(void)fprintf(fp, "\n");
	print_relays(fp, conf);
	TAILQ_FOREACH(d, &conf->deliveries, entry) {
		(void)fprintf(fp, "\n");
		print_delivery(fp, d);
	}
	(void)fprintf(fp, "\n");
	print_limits(fp, conf);
	print_checks(fp, conf);
	(void)fprintf(fp, "\n");
	print_queue(fp, conf);
}
