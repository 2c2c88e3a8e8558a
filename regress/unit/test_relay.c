/*
 * Portcullis: the relay decision, row by row: every row of the Kerio
 * mapping table of DESIGN.md, every combination of conditions, and the
 * address tricks, judged on the real destination.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "mailaddr.h"
#include "config.h"
#include "auth_imsg.h"
#include "relay.h"

static const char *const CONFIG_TEXT =
    "table users file \"/tmp/test_relay.users\"\n"
    "authenticate <users>\n"
    "table lan { 192.168.1.0/24, 10.0.0.0/8, 2001:db8::/32 }\n"
    "table localdom { \"example.com\", \"example.org\" }\n"
    "table corp { \"alice@corp.example\", \"*@ops.example\" }\n"
    "accept for domain <localdom>\n"
    "accept for domain \"corp.example\" recipients <corp>\n"
    "accept for domain \"ops.example\" recipients <corp>\n"
    "%s\n";

static struct config *
load(const char *rules)
{
	char		 path[] = "/tmp/test_relay.XXXXXX", text[2048];
	struct config	*c;
	FILE		*f;
	int		 fd;

	if ((f = fopen("/tmp/test_relay.users", "w")) == NULL)
		err(1, "users");
	fputs("alice:$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\n", f);
	fclose(f);
	(void)chmod("/tmp/test_relay.users", 0600);

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		err(1, "mkstemp");
	(void)snprintf(text, sizeof(text), CONFIG_TEXT, rules);
	fputs(text, f);
	fclose(f);
	c = config_parse(path);
	unlink(path);
	if (c == NULL)
		errx(1, "config does not parse:\n%s", text);
	return c;
}

static void
sa(const char *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			errx(1, "bad address %s", addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			errx(1, "bad address %s", addr);
	}
}

struct row {
	const char	*name;
	const char	*rules;		/* relay allow lines */
	const char	*client;
	const char	*user;		/* NULL: not authenticated */
	long		 pop3_age;	/* -1: no POP3 login */
	const char	*rcpt;		/* a forward path */
	int		 want;		/* RCPT_* */
};

#define FROM_LAN	"relay allow from <lan>"
#define AUTHED		"relay allow authenticated"
#define BOTH		"relay allow from <lan> authenticated"
#define POP3		"relay allow pop3-login within 30m"
#define ANY		"relay allow any"

static const struct row rows[] = {
	/* accepted domains: from anyone, whatever the rules */
	{ "local domain, outsider", "", "203.0.113.9", NULL, -1,
	    "<bob@example.com>", RCPT_LOCAL },
	{ "local domain, case", "", "203.0.113.9", NULL, -1,
	    "<bob@EXAMPLE.Org>", RCPT_LOCAL },
	{ "postmaster", "", "203.0.113.9", NULL, -1, "<Postmaster>",
	    RCPT_LOCAL },
	{ "recipients table: listed", "", "203.0.113.9", NULL, -1,
	    "<alice@corp.example>", RCPT_LOCAL },
	{ "recipients table: pattern", "", "203.0.113.9", NULL, -1,
	    "<anyone@ops.example>", RCPT_LOCAL },
	{ "recipients table: unknown", "", "203.0.113.9", NULL, -1,
	    "<mallory@corp.example>", RCPT_UNKNOWN },
	{ "recipients table: unknown even from lan", FROM_LAN,
	    "192.168.1.5", NULL, -1, "<mallory@corp.example>", RCPT_UNKNOWN },
	/* no rule: nobody relays */
	{ "no rules, lan", "", "192.168.1.5", "alice", 0,
	    "<x@other.example>", RCPT_DENIED },
	/* Kerio: users from IP address group */
	{ "ip group: inside", FROM_LAN, "192.168.1.5", NULL, -1,
	    "<x@other.example>", RCPT_RELAY },
	{ "ip group: outside", FROM_LAN, "192.168.2.5", NULL, -1,
	    "<x@other.example>", RCPT_DENIED },
	{ "ip group: v6 inside", FROM_LAN, "2001:db8::7", NULL, -1,
	    "<x@other.example>", RCPT_RELAY },
	{ "ip group: v6 outside", FROM_LAN, "2001:db9::7", NULL, -1,
	    "<x@other.example>", RCPT_DENIED },
	{ "ip group: v4-mapped v6 inside", FROM_LAN, "::ffff:10.1.2.3",
	    NULL, -1, "<x@other.example>", RCPT_RELAY },
	{ "ip group: v4-mapped v6 outside", FROM_LAN, "::ffff:11.1.2.3",
	    NULL, -1, "<x@other.example>", RCPT_DENIED },
	{ "ip group: authenticated outsider", FROM_LAN, "203.0.113.9",
	    "alice", -1, "<x@other.example>", RCPT_DENIED },
	/* Kerio: users authenticated through SMTP */
	{ "auth: yes", AUTHED, "203.0.113.9", "alice", -1,
	    "<x@other.example>", RCPT_RELAY },
	{ "auth: no", AUTHED, "192.168.1.5", NULL, -1,
	    "<x@other.example>", RCPT_DENIED },
	/* Kerio: both ticked -- IP group users must also authenticate */
	{ "both: lan + auth", BOTH, "192.168.1.5", "alice", -1,
	    "<x@other.example>", RCPT_RELAY },
	{ "both: lan, no auth", BOTH, "192.168.1.5", NULL, -1,
	    "<x@other.example>", RCPT_DENIED },
	{ "both: auth, outsider", BOTH, "203.0.113.9", "alice", -1,
	    "<x@other.example>", RCPT_DENIED },
	/* Kerio: POP3 before SMTP from the same address within N */
	{ "pop3: recent", POP3, "203.0.113.9", NULL, 60,
	    "<x@other.example>", RCPT_RELAY },
	{ "pop3: at the limit", POP3, "203.0.113.9", NULL, 1800,
	    "<x@other.example>", RCPT_RELAY },
	{ "pop3: too old", POP3, "203.0.113.9", NULL, 1801,
	    "<x@other.example>", RCPT_DENIED },
	{ "pop3: none", POP3, "203.0.113.9", NULL, -1,
	    "<x@other.example>", RCPT_DENIED },
	/* any allowing line suffices */
	{ "either: second line", BOTH "\n" AUTHED, "203.0.113.9", "alice",
	    -1, "<x@other.example>", RCPT_RELAY },
	{ "either: none holds", BOTH "\n" POP3, "192.168.1.5", NULL, -1,
	    "<x@other.example>", RCPT_DENIED },
	{ "open relay", ANY, "203.0.113.9", NULL, -1, "<x@other.example>",
	    RCPT_RELAY },
	/* address tricks are judged on the real destination */
	{ "percent hack", "", "203.0.113.9", NULL, -1,
	    "<user%other.example@example.com>", RCPT_LOCAL },
	{ "bang path", "", "203.0.113.9", NULL, -1,
	    "<other.example!user@example.com>", RCPT_LOCAL },
	{ "quoted at", "", "203.0.113.9", NULL, -1,
	    "<\"user@other.example\"@example.com>", RCPT_LOCAL },
	{ "source route to outside", "", "203.0.113.9", NULL, -1,
	    "<@example.com:user@other.example>", RCPT_DENIED },
	{ "source route to inside", "", "203.0.113.9", NULL, -1,
	    "<@other.example:user@example.com>", RCPT_LOCAL },
	{ "address literal", "", "203.0.113.9", NULL, -1,
	    "<user@[192.0.2.1]>", RCPT_DENIED },
	{ "look-alike domain", "", "203.0.113.9", NULL, -1,
	    "<user@example.com.evil.example>", RCPT_DENIED },
	{ "suffix domain", "", "203.0.113.9", NULL, -1,
	    "<user@notexample.com>", RCPT_DENIED },
	{ "sub-domain", "", "203.0.113.9", NULL, -1,
	    "<user@mail.example.com>", RCPT_DENIED },
};

static void
test_rows(void)
{
	struct sockaddr_storage	 ss;
	struct relay_facts	 f;
	struct relay_verdict	 v;
	struct mailaddr		 rcpt;
	struct config		*c;
	const char		*e;
	size_t			 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];

		c = load(r->rules);
		sa(r->client, &ss);
		if (mailaddr_parse_path(r->rcpt, strlen(r->rcpt),
		    PARSE_ALLOW_POSTMASTER, &rcpt, NULL, &e) == -1) {
			CHECK(0, "%s: %s does not parse: %s", r->name, r->rcpt,
			    e);
			config_free(c);
			continue;
		}
		memset(&f, 0, sizeof(f));
		f.client = (struct sockaddr *)&ss;
		f.user = r->user;
		f.pop3_age = r->pop3_age;
		f.rcpt = &rcpt;
		relay_decide(c, &f, &v);
		CHECK(v.verdict == r->want, "%s: got %d (%s) want %d",
		    r->name, v.verdict, v.reason, r->want);
		config_free(c);
	}
}

/* The rule that decided is named by its line. */
static void
test_deciding_line(void)
{
	struct sockaddr_storage	 ss;
	struct relay_facts	 f;
	struct relay_verdict	 v;
	struct mailaddr		 rcpt;
	struct config		*c;

	c = load(BOTH "\n" FROM_LAN);
	sa("192.168.1.5", &ss);
	(void)mailaddr_parse_path("<x@other.example>", 17, 0, &rcpt, NULL,
	    NULL);
	memset(&f, 0, sizeof(f));
	f.client = (struct sockaddr *)&ss;
	f.pop3_age = -1;
	f.rcpt = &rcpt;
	relay_decide(c, &f, &v);
	CHECK(v.verdict == RCPT_RELAY && v.line == 10, "got %d line %d",
	    v.verdict, v.line);
	CHECK_STR(v.reason, "relay allowed");
	sa("203.0.113.9", &ss);
	relay_decide(c, &f, &v);
	CHECK(v.verdict == RCPT_DENIED && v.line == 0, "got %d line %d",
	    v.verdict, v.line);
	CHECK_STR(v.reason, "no rule allowed");
	config_free(c);
}

int
main(void)
{
	RUN(test_rows);
	RUN(test_deciding_line);
	unlink("/tmp/test_relay.users");
	return unit_done();
}
