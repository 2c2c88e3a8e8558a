/*
 * Portcullis: the auth process.  It holds what the front end must not:
 * the tables, the relay rules and (with issue 4) the password hashes,
 * the POP3 login tracker and the per-client limits, and makes every
 * decision about them for all front-end sessions in one place.
 *
 * Now: the relay decision for each recipient.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "mailaddr.h"
#include "config.h"
#include "auth_imsg.h"
#include "relay.h"
#include "password.h"

static struct config	*auth_conf;

static void	 auth_imsg(enum proc_id, struct ipc_msg *);
static void	 auth_config(struct config *);
static void	 auth_rcpt(struct ipc_msg *);
static void	 auth_login(struct ipc_msg *);

void
auth(void)
{
	proc_set_dispatch(auth_imsg);
	proc_set_conf(auth_config);
}

static void
auth_config(struct config *conf)
{
	config_free(auth_conf);
	auth_conf = conf;
}

static void
auth_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_SMTP) {
		switch (m->hdr.type) {
		case IMSG_AUTH_RCPT_REQ:
			auth_rcpt(m);
			return;
		case IMSG_AUTH_LOGIN_REQ:
			auth_login(m);
			return;
		}
	}
	fatalx("%s from %s: not for auth", ipc_type_name(m->hdr.type),
	    proc_name(from));
}

static const char *
verdict_name(int v)
{
	switch (v) {
	case RCPT_LOCAL:
		return "local";
	case RCPT_RELAY:
		return "relay";
	case RCPT_DENIED:
		return "denied";
	case RCPT_UNKNOWN:
		return "unknown";
	}
	return "?";
}

static void
get_into(struct ipc_msg *m, char *buf, size_t len)
{
	const char	*s = ipc_get_string(m);

	if (s == NULL || strlcpy(buf, s, len) >= len)
		fatalx("IMSG_AUTH_RCPT_REQ: bad address");
}

static void
auth_rcpt(struct ipc_msg *m)
{
	struct sockaddr_storage	 ss;
	struct relay_facts	 facts;
	struct relay_verdict	 v;
	struct mailaddr		 rcpt;
	struct ipc_obuf		*ob;
	struct ipc		*ch;
	const void		*p;
	const char		*user;
	char			 addr[INET6_ADDRSTRLEN];
	char			 rcpttext[MAILADDR_STRSIZE];
	size_t			 len;

	p = ipc_get_data(m, &len);
	if (len != sizeof(ss))
		fatalx("IMSG_AUTH_RCPT_REQ: bad client address");
	memcpy(&ss, p, sizeof(ss));
	(void)ipc_get_u32(m);		/* listener flags: for limits */
	user = ipc_get_string(m);
	memset(&rcpt, 0, sizeof(rcpt));
	get_into(m, rcpt.local, sizeof(rcpt.local));
	get_into(m, rcpt.domain, sizeof(rcpt.domain));
	rcpt.flags = ipc_get_u32(m);
	ipc_end(m);

	memset(&facts, 0, sizeof(facts));
	facts.client = (struct sockaddr *)&ss;
	facts.user = user;
	facts.pop3_age = -1;
	facts.rcpt = &rcpt;
	if (auth_conf == NULL)
		fatalx("a recipient before the configuration");
	relay_decide(auth_conf, &facts, &v);

	fmt_sockaddr(&ss, addr, sizeof(addr));
	if (mailaddr_format(&rcpt, rcpttext, sizeof(rcpttext)) == -1)
		(void)strlcpy(rcpttext, "?", sizeof(rcpttext));
	log_info("%08x auth event=rcpt client=%s to=<%s> result=%s "
	    "rule=%s%d reason=\"%s\"", m->hdr.peerid, addr, rcpttext,
	    verdict_name(v.verdict), v.line ? "line " : "none", v.line,
	    v.reason);

	if ((ch = proc_channel(PROC_SMTP)) == NULL)
		return;
	ob = ipc_create(ch, IMSG_AUTH_RCPT_RES, m->hdr.peerid, -1);
	ipc_add_u32(ob, v.verdict);
	ipc_add_u32(ob, v.line);
	ipc_add_string(ob, v.reason);
	if (ipc_close(ob) == -1)
		fatal("IMSG_AUTH_RCPT_RES");
}

/*
 * A password check.  The hash runs here, never in the front end; the
 * password is wiped from the message buffer once checked.
 */
static void
auth_login(struct ipc_msg *m)
{
	struct sockaddr_storage	 ss;
	const void		*p;
	const char		*service, *login, *password;
	char			 addr[INET6_ADDRSTRLEN];
	size_t			 len;
	uint32_t		 result;

	p = ipc_get_data(m, &len);
	if (len != sizeof(ss))
		fatalx("IMSG_AUTH_LOGIN_REQ: bad client address");
	memcpy(&ss, p, sizeof(ss));
	service = ipc_get_string(m);
	login = ipc_get_string(m);
	password = ipc_get_string(m);
	ipc_end(m);
	if (service == NULL || login == NULL || password == NULL)
		fatalx("IMSG_AUTH_LOGIN_REQ: missing field");
	if (auth_conf == NULL || auth_conf->authenticate == NULL)
		result = LOGIN_TEMPFAIL;
	else if (password_check(auth_conf->authenticate, login, password))
		result = LOGIN_OK;
	else
		result = LOGIN_FAIL;
	explicit_bzero((void *)(uintptr_t)password, strlen(password));

	fmt_sockaddr(&ss, addr, sizeof(addr));
	log_info("%08x auth event=login service=%s client=%s user=\"%s\" "
	    "result=%s", m->hdr.peerid, service, addr, login,
	    result == LOGIN_OK ? "ok" : result == LOGIN_FAIL ? "failed" :
	    "unavailable");
	(void)proc_compose(PROC_SMTP, IMSG_AUTH_LOGIN_RES, m->hdr.peerid, -1,
	    &result, sizeof(result));
}
