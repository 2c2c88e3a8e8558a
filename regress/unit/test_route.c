/*
 * Portcullis: routing each recipient: the first enabled delivery rule
 * that matches wins, else MX; LMTP for its accepted domains.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "mailaddr.h"
#include "config.h"
#include "envelope.h"
#include "route.h"

static const char *const CONF =
    "table partners { \"*@partner.example\", \"vip@example.com\" }\n"
    "accept for domain \"lab.example\" deliver lmtp \"127.0.0.1:24\"\n"
    "accept for domain \"example.com\"\n"
    "delivery \"Sales via provider\" {\n"
    "    match sender \"*@sales.example.com\"\n"
    "    match sender \"sales*@example.com\"\n"
    "    relay smtp.provider.net port 587 tls\n"
    "}\n"
    "delivery \"Internal\" {\n"
    "    match recipient \"*@corp.example\"\n"
    "    relay 10.0.0.5 port 25\n"
    "}\n"
    "delivery \"Partners\" {\n"
    "    match recipient <partners>\n"
    "    relay 10.0.0.6\n"
    "}\n"
    "delivery \"Old\" disabled {\n"
    "    match sender \"*@legacy.example\"\n"
    "    relay 10.0.0.7\n"
    "}\n"
    "delivery \"ISP\" {\n"
    "    match sender \"*@isp-users.example\"\n"
    "    relay smtp-a.isp.example, smtp-b.isp.example port 465 smtps\n"
    "}\n";

static const struct {
	const char	*name;
	const char	*sender;
	const char	*rcpt;
	int		 kind;
	const char	*want;		/* rule name, MX domain, LMTP host */
} rows[] = {
	{ "no rule: MX", "<a@example.org>", "<b@far.example>", ROUTE_MX,
	    "far.example" },
	{ "sender pattern", "<joe@sales.example.com>", "<b@far.example>",
	    ROUTE_RULE, "Sales via provider" },
	{ "second match line", "<sales-team@example.com>",
	    "<b@far.example>", ROUTE_RULE, "Sales via provider" },
	{ "local part wildcard no match", "<team-sales@example.com>",
	    "<b@far.example>", ROUTE_MX, "far.example" },
	{ "recipient pattern", "<a@example.org>", "<x@corp.example>",
	    ROUTE_RULE, "Internal" },
	{ "first match wins", "<joe@sales.example.com>",
	    "<x@corp.example>", ROUTE_RULE, "Sales via provider" },
	{ "recipient table pattern", "<a@example.org>",
	    "<y@partner.example>", ROUTE_RULE, "Partners" },
	{ "recipient table address", "<a@example.org>", "<VIP@example.com>",
	    ROUTE_RULE, "Partners" },
	{ "disabled rule skipped", "<a@legacy.example>", "<b@far.example>",
	    ROUTE_MX, "far.example" },
	{ "host list rule", "<u@isp-users.example>", "<b@far.example>",
	    ROUTE_RULE, "ISP" },
	{ "case-insensitive domain", "<joe@SALES.example.com>",
	    "<b@far.example>", ROUTE_RULE, "Sales via provider" },
	{ "accepted domain without deliver: MX", "<a@example.org>",
	    "<b@example.com>", ROUTE_MX, "example.com" },
	{ "lmtp domain", "<joe@sales.example.com>", "<b@lab.example>",
	    ROUTE_LMTP, "127.0.0.1" },
	{ "null sender", "<>", "<b@far.example>", ROUTE_MX, "far.example" },
};

static struct config *conf;

static void
test_rows(void)
{
	struct envelope	 evp;
	struct route	 r;
	const char	*e;
	size_t		 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&evp, 0, sizeof(evp));
		if (mailaddr_parse_path(rows[i].sender, strlen(rows[i].sender),
		    PARSE_ALLOW_NULL, &evp.sender, NULL, &e) == -1 ||
		    mailaddr_parse_path(rows[i].rcpt, strlen(rows[i].rcpt), 0,
		    &evp.rcpt, NULL, &e) == -1) {
			CHECK(0, "%s: bad address: %s", rows[i].name, e);
			continue;
		}
		route_for(conf, &evp, &r);
		CHECK(r.kind == rows[i].kind, "%s: kind %d want %d",
		    rows[i].name, r.kind, rows[i].kind);
		if (r.kind == ROUTE_RULE)
			CHECK(strcmp(r.rule->name, rows[i].want) == 0,
			    "%s: rule %s want %s", rows[i].name, r.rule->name,
			    rows[i].want);
		else
			CHECK(strcmp(r.host, rows[i].want) == 0,
			    "%s: %s want %s", rows[i].name, r.host,
			    rows[i].want);
	}
}

static void
test_same(void)
{
	struct route	 a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.kind = b.kind = ROUTE_MX;
	(void)strlcpy(a.host, "Example.COM", sizeof(a.host));
	(void)strlcpy(b.host, "example.com", sizeof(b.host));
	CHECK(route_same(&a, &b), "MX routes by domain, any case");
	(void)strlcpy(b.host, "example.org", sizeof(b.host));
	CHECK(!route_same(&a, &b), "different domains");
	b.kind = ROUTE_LMTP;
	CHECK(!route_same(&a, &b), "different kinds");
}

int
main(void)
{
	char	 path[] = "/tmp/test_route.XXXXXX";
	FILE	*f;
	int	 fd;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		err(1, "mkstemp");
	fputs(CONF, f);
	fclose(f);
	conf = config_parse(path);
	unlink(path);
	if (conf == NULL)
		errx(1, "the test configuration does not parse");
	RUN(test_rows);
	RUN(test_same);
	config_free(conf);
	return unit_done();
}
