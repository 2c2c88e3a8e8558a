/*
 * Portcullis: unit tests for the config language (smtpd/parse.y,
 * config.c, printconf.c).
 *
 * Each test writes a snippet to t.conf in a private temporary folder
 * (the current directory while the tests run, so messages read
 * "t.conf:LINE: ..."), parses it with stderr captured, and compares
 * either the structures it built or the exact error text.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#define HASH6	"$6$saltsalt$Vh0Eay0yHjyc0JzBE1cb5hXVtqhwF2ejpWjEpXmDDbW" \
		"OesAvGD1Ac8vLV5lPfw3cN3nhxwhiS8lg1UbU.3y0F."
#define HASHY	"$y$j9T$abcdefghijklmnopqrstuv$ABCDEFGHIJKLMNOPQRSTUVWXYZ012" \
		"3456789abcdefg"
#define HASH2B	"$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"


static char	 tmpdir[PATH_MAX];
static char	 errout[16384];

static void
writefile(const char *name, const char *text, mode_t mode)
{
	FILE	*fp;

	if ((fp = fopen(name, "w")) == NULL) {
		perror(name);
		exit(2);
	}
	(void)fputs(text, fp);
	(void)fclose(fp);
	(void)chmod(name, mode);
}

/* Parse a file, stderr captured into errout. */
static struct config *
parse_file(const char *path)
{
	struct config	*conf;
	int		 saved, fd;
	ssize_t		 n;

	(void)fflush(stderr);
	saved = dup(2);
	fd = open("stderr.out", O_RDWR | O_CREAT | O_TRUNC, 0600);
	(void)dup2(fd, 2);
	conf = config_parse(path);
	(void)fflush(stderr);
	(void)dup2(saved, 2);
	(void)close(saved);
	(void)lseek(fd, 0, SEEK_SET);
	n = read(fd, errout, sizeof(errout) - 1);
	errout[n < 0 ? 0 : n] = '\0';
	(void)close(fd);
	return conf;
}

static struct config *
parse(const char *text)
{
	writefile("t.conf", text, 0644);
	return parse_file("t.conf");
}

/* Parse text that must be valid (no output at all on stderr). */
static struct config *
parse_ok(const char *text)
{
	struct config	*conf = parse(text);

	CHECK(conf != NULL, "config rejected: %s", errout);
	CHECK(errout[0] == '\0', "unexpected stderr: %s", errout);
	return conf;
}

static const char *
addrstr(const struct sockaddr_storage *ss)
{
	static char	buf[INET6_ADDRSTRLEN];

	return fmt_sockaddr(ss, buf, sizeof(buf));
}

static void
fixtures(void)
{
	char	buf[5000];
	int	i;

	(void)snprintf(buf, sizeof(buf),
	    "# logins and hashes\n"
	    "alice@example.com:%s\n"
	    "\n"
	    "bob@example.com:%s\n"
	    "carol@example.com:%s\n", HASH6, HASHY, HASH2B);
	writefile("users", buf, 0640);
	writefile("users-open", buf, 0644);
	writefile("users-plain", "alice@example.com:" HASH6 "\n"
	    "bob@example.com:secret\n", 0600);
	writefile("users-dup", "a:" HASH6 "\na:" HASH6 "\n", 0600);
	writefile("users-empty", ":" HASH6 "\n", 0600);
	writefile("users-mixed", "a:" HASH6 "\nisp:u:p\n", 0600);
	writefile("secrets", "# label:username:password\n"
	    "provider:user1:pa:ss\nisp:u2:p2\nlegacy:u3:p3\n", 0600);
	writefile("secrets-open", "x:u:p\n", 0644);
	writefile("secrets2", "isp:u:p\n", 0600);
	writefile("secrets-nopw", "x:u:\n", 0600);
	writefile("secrets-dup", "x:u:p\nx:v:q\n", 0600);
	writefile("secrets-longlabel",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ":u:p\n", 0600);
	writefile("recipients", "sales@corp.example\n  info@Corp.Example  \n"
	    "*-list@corp.example\n", 0644);
	writefile("domains", "example.com\nExample.ORG\n", 0644);
	writefile("nets", "10.0.0.0/8\n2001:db8::/32\n::1\n", 0644);
	writefile("bad-entry", "ok.example\nuser@*.com\n", 0644);
	writefile("bad-net", "10.0.0.1/8\n", 0644);
	writefile("bad-wild", "*.example.com\n", 0644);
	writefile("bad-junk", "300.1.1.1\n", 0644);
	writefile("empty", "# nothing yet\n", 0644);
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	buf[sizeof(buf) - 2] = '\n';
	writefile("long", buf, 0644);
	writefile("cert.pem", "not parsed at parse time\n", 0644);
	writefile("key.pem", "not parsed at parse time\n", 0600);
	writefile("key-group.pem", "group may read\n", 0640);
	writefile("key-open.pem", "anyone may read\n", 0644);
	(void)mkdir("adir", 0755);
	writefile("inc1.conf", "hostname \"inc.example\"\n"
	    "include \"inc2.conf\"\n", 0644);
	writefile("inc2.conf", "table lan { 10.0.0.0/8 }\n"
	    "relay allow from <lan>", 0644);	/* no final newline */
	writefile("inc-bad.conf", "\n\nbogus line\n", 0644);
	writefile("inc-self.conf", "include \"inc-self.conf\"\n", 0644);
	for (i = 0; i < 20; i++) {
		char	name[32], text[64];

		(void)snprintf(name, sizeof(name), "deep%d.conf", i);
		(void)snprintf(text, sizeof(text), "include \"deep%d.conf\"\n",
		    i + 1);
		writefile(name, text, 0644);
	}
}

/* ---- values ------------------------------------------------------------ */

static void
test_keywords_sorted(void)
{
	CHECK(config_keywords_sorted(), "keyword table not sorted/unique");
}

static void
test_durations(void)
{
	static const struct {
		const char	*in;
		long long	 want;	/* -1: error */
		const char	*print;
	} rows[] = {
		{ "30s", 30, "30s" }, { "15m", 900, "15m" },
		{ "4h", 14400, "4h" }, { "5d", 432000, "5d" },
		{ "90s", 90, "90s" }, { "120m", 7200, "2h" },
		{ "48h", 172800, "2d" }, { "366d", 366 * 86400, "366d" },
		{ "0s", -1, NULL }, { "367d", -1, NULL }, { "30", -1, NULL },
		{ "m", -1, NULL }, { "5w", -1, NULL }, { "5mm", -1, NULL },
		{ "-5m", -1, NULL }, { "1234567890s", -1, NULL },
	};
	size_t	i;
	time_t	t;
	char	err[256], buf[32];
	int	r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		t = 0;
		r = parse_duration(rows[i].in, &t, err, sizeof(err));
		if (rows[i].want == -1) {
			CHECK(r == -1, "%s: got %lld want an error",
			    rows[i].in, (long long)t);
			continue;
		}
		CHECK(r == 0 && t == rows[i].want, "%s: got %lld want %lld",
		    rows[i].in, (long long)t, rows[i].want);
		CHECK_STR(fmt_duration(t, buf, sizeof(buf)), rows[i].print);
	}
	(void)parse_duration("30", &t, err, sizeof(err));
	CHECK_STR(err, "invalid duration \"30\": use a number followed by "
	    "s, m, h or d (30s 15m 4h 5d)");
}

static void
test_sizes(void)
{
	static const struct {
		const char		*in;
		unsigned long long	 want;	/* 0: error */
		const char		*print;
	} rows[] = {
		{ "512K", 524288, "512K" }, { "35M", 36700160, "35M" },
		{ "35m", 36700160, "35M" }, { "1G", 1073741824, "1G" },
		{ "4G", 4294967296ULL, "4G" }, { "1000", 1000, "1000" },
		{ "2048", 2048, "2K" }, { "1536K", 1572864, "1536K" },
		{ "0", 0, NULL }, { "5G", 0, NULL }, { "35X", 0, NULL },
		{ "M", 0, NULL }, { "35MB", 0, NULL }, { "3.5M", 0, NULL },
	};
	size_t	i, n;
	char	err[256], buf[32];
	int	r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = 0;
		r = parse_size(rows[i].in, &n, err, sizeof(err));
		if (rows[i].want == 0) {
			CHECK(r == -1, "%s: got %zu want an error",
			    rows[i].in, n);
			continue;
		}
		CHECK(r == 0 && n == rows[i].want, "%s: got %zu want %llu",
		    rows[i].in, n, rows[i].want);
		CHECK_STR(fmt_size(n, buf, sizeof(buf)), rows[i].print);
	}
}

static void
test_scores(void)
{
	static const struct {
		const char	*in;
		int		 want;	/* -1: error */
		const char	*print;
	} rows[] = {
		{ "5", 500, "5.0" }, { "5.0", 500, "5.0" },
		{ "7.5", 750, "7.5" }, { "7.25", 725, "7.25" },
		{ "0.05", 5, "0.05" }, { "1000", 100000, "1000.0" },
		{ "1001", -1, NULL }, { "5.", -1, NULL }, { ".5", -1, NULL },
		{ "5.123", -1, NULL }, { "x", -1, NULL }, { "-1", -1, NULL },
	};
	size_t	i;
	char	err[256], buf[32];
	int	s, r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s = 0;
		r = parse_score(rows[i].in, &s, err, sizeof(err));
		if (rows[i].want == -1) {
			CHECK(r == -1, "%s: got %d want an error",
			    rows[i].in, s);
			continue;
		}
		CHECK(r == 0 && s == rows[i].want, "%s: got %d want %d",
		    rows[i].in, s, rows[i].want);
		CHECK_STR(fmt_score(s, buf, sizeof(buf)), rows[i].print);
	}
}

static void
test_patterns(void)
{
	static const struct {
		const char	*in;
		int		 ok;
	} rows[] = {
		{ "*@d.example", 1 }, { "sales*@d.example", 1 },
		{ "*ing@d.example", 1 }, { "user@d.example", 1 },
		{ "user@*.com", 0 }, { "user@d*.com", 0 }, { "*", 0 },
		{ "user", 0 }, { "@d.example", 0 }, { "user@", 0 },
		{ "us er@d.example", 0 }, { "user@300.1.1.1", 0 },
	};
	size_t	i;
	char	err[256];

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK((valid_pattern(rows[i].in, err, sizeof(err)) == 0) ==
		    rows[i].ok, "%s: got %s want %s", rows[i].in,
		    rows[i].ok ? "an error" : "ok", rows[i].ok ? "ok" :
		    "an error");
	(void)valid_pattern("user@*.com", err, sizeof(err));
	CHECK_STR(err, "invalid address pattern \"user@*.com\": a wildcard "
	    "is allowed only in the local part");
}

static void
test_crypt_hashes(void)
{
	static const struct {
		const char	*in;
		int		 ok;
	} rows[] = {
		{ HASH6, 1 }, { HASHY, 1 }, { HASH2B, 1 },
		{ "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ0", 1 },
		{ "$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ0", 1 },
		{ "$5$rounds=5000$salt$abcdefghijklmnopqrstuvwxyz0123", 1 },
		{ "secret", 0 }, { "$6$short", 0 }, { "$1$saltsalt$abcdefghijklmnopqrstuv", 0 },
		{ "$6$salt salt$abcdefghijklmnopqrstuvwxyz", 0 }, { "", 0 },
		{ "{SHA}abcdefghijklmnopqrstuvwxyz0123", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(valid_crypt_hash(rows[i].in) == rows[i].ok,
		    "%s: got %d want %d", rows[i].in,
		    valid_crypt_hash(rows[i].in), rows[i].ok);
}

static void
test_templates(void)
{
	char	err[256];

	CHECK(valid_template("/var/mail/%{domain}/%{user}", err,
	    sizeof(err)) == 0, "%s", err);
	CHECK(valid_template("/m/%{user}", err, sizeof(err)) == 0, "%s", err);
	CHECK(valid_template("m/%{user}", err, sizeof(err)) == -1, "relative");
	CHECK(valid_template("/m/%{domain}", err, sizeof(err)) == -1,
	    "no user");
	CHECK(valid_template("/m/%u", err, sizeof(err)) == -1, "bad %%");
	CHECK(valid_template("/m/%{user}/%{host}", err, sizeof(err)) == -1,
	    "unknown token");
	CHECK(valid_template("/m/../%{user}", err, sizeof(err)) == -1, "..");
}

/* ---- statements -------------------------------------------------------- */

static void
test_default(void)
{
	struct config		*conf;
	struct listener		*l;
	struct relay_rule	*r;
	struct table		*t;
	struct passwd		*pw;
	int			 port = geteuid() == 0 ? 25 : 2525;
	char			 want[PATH_MAX];

	if ((conf = config_default()) == NULL) {
		CHECK(0, "config_default failed");
		return;
	}
	l = TAILQ_FIRST(&conf->listeners);
	CHECK(l != NULL && strcmp(addrstr(&l->ss), "127.0.0.1") == 0 &&
	    l->port == port && l->fd == -1 && l->flags == 0, "listener 1");
	l = l != NULL ? TAILQ_NEXT(l, entry) : NULL;
	CHECK(l != NULL && strcmp(addrstr(&l->ss), "::1") == 0 &&
	    l->port == port && l->fd == -1, "listener 2");
	CHECK(l != NULL && TAILQ_NEXT(l, entry) == NULL, "two listeners");
	t = config_table(conf, "loopback");
	CHECK(t != NULL && t->count == 2 && t->types == ENTRY_NET,
	    "table loopback");
	r = TAILQ_FIRST(&conf->relays);
	CHECK(r != NULL && r->flags == RELAY_FROM && r->from == t,
	    "relay allow from <loopback>");
	CHECK(TAILQ_EMPTY(&conf->accepts), "no accept");
	CHECK(TAILQ_EMPTY(&conf->deliveries), "no delivery rules");
	CHECK(conf->hostname[0] != '\0', "hostname set");
	if (geteuid() == 0) {
		CHECK_STR(conf->spool, "/var/spool/portcullis");
		CHECK_STR(conf->control_socket,
		    "/var/run/portcullis/smtpd.sock");
	}
	config_free(conf);

	/* Not root: under $HOME, port 2525. */
	if (geteuid() == 0 && (pw = getpwnam("nobody")) != NULL) {
		(void)setenv("HOME", "/nonexistent-home", 1);
		if (seteuid(pw->pw_uid) == 0) {
			conf = config_default();
			(void)seteuid(0);
			CHECK(conf != NULL, "config_default as nobody");
			if (conf != NULL) {
				CHECK_STR(conf->spool,
				    "/nonexistent-home/.portcullis/spool");
				CHECK_STR(conf->control_socket,
				    "/nonexistent-home/.portcullis/smtpd.sock");
				l = TAILQ_FIRST(&conf->listeners);
				CHECK(l != NULL && l->port == 2525,
				    "port 2525 when not root");
				config_free(conf);
			}
		}
	} else if (geteuid() != 0 && getenv("HOME") != NULL) {
		conf = config_default();
		(void)snprintf(want, sizeof(want), "%s/.portcullis/spool",
		    getenv("HOME"));
		CHECK(conf != NULL && strcmp(conf->spool, want) == 0,
		    "user spool");
		config_free(conf);
	}
}

static void
test_globals(void)
{
	struct config	*conf;

	conf = parse_ok("hostname \"mx.example.com\"\n"
	    "spool \"/tmp/spool\"\n"
	    "control socket \"/tmp/s.sock\"\n"
	    "control group wheel\n"
	    "resolver 127.0.0.53 port 5353\n"
	    "mx port 2526\n");
	if (conf == NULL)
		return;
	CHECK_STR(conf->hostname, "mx.example.com");
	CHECK_STR(conf->spool, "/tmp/spool");
	CHECK_STR(conf->control_socket, "/tmp/s.sock");
	CHECK_STR(conf->control_group, "wheel");
	CHECK_STR(conf->control_file, "t.conf");
	CHECK(conf->control_line == 3, "control line %d", conf->control_line);
	CHECK(conf->resolver_set && conf->resolver_port == 5353 &&
	    strcmp(addrstr(&conf->resolver), "127.0.0.53") == 0 &&
	    ntohs(((struct sockaddr_in *)&conf->resolver)->sin_port) == 5353,
	    "resolver");
	CHECK(conf->mx_port == 2526, "mx port %d", conf->mx_port);
	config_free(conf);

	/* Defaults when the file says nothing. */
	conf = parse_ok("# nothing\n");
	if (conf == NULL)
		return;
	CHECK(conf->hostname[0] != '\0', "default hostname");
	CHECK(conf->spool[0] == '/', "default spool");
	CHECK(conf->control_socket[0] == '/', "default socket");
	CHECK_STR(conf->control_group, DEFAULT_CONTROL_GROUP);
	CHECK(conf->mx_port == 25 && !conf->resolver_set, "mx/resolver");
	CHECK(TAILQ_EMPTY(&conf->listeners), "no listeners");
	CHECK(conf->limits.message_size == 35 * 1024 * 1024, "35M");
	CHECK(conf->queue.nretry == 6 && conf->queue.retry[5] == 14400 &&
	    conf->queue.warn_after == 14400 &&
	    conf->queue.bounce_after == 5 * 86400 &&
	    conf->queue.deliveries == 100 && conf->queue.per_domain == 10,
	    "queue defaults");
	CHECK(conf->check_spf == CHECK_OFF && !conf->spamd.enabled,
	    "checks off");
	config_free(conf);

	conf = parse_ok("resolver ::1\n");
	CHECK(conf != NULL && conf->resolver_port == 53 &&
	    conf->resolver.ss_family == AF_INET6, "resolver default port");
	config_free(conf);
}

static void
test_macros(void)
{
	struct config	*conf;

	conf = parse_ok("name = \"mx.example.org\"\n"
	    "dir = \"/var/spool/x\"\n"
	    "ports = \"port 2525 tls-require\"\n"
	    "hostname $name\n"
	    "spool $dir\n"
	    "pki p cert \"cert.pem\" key \"key.pem\"\n"
	    "listen on 127.0.0.1 $ports pki p\n");
	if (conf == NULL)
		return;
	CHECK_STR(conf->hostname, "mx.example.org");
	CHECK_STR(conf->spool, "/var/spool/x");
	CHECK(TAILQ_FIRST(&conf->listeners) != NULL &&
	    TAILQ_FIRST(&conf->listeners)->port == 2525 &&
	    TAILQ_FIRST(&conf->listeners)->line == 7, "macro in listen");
	config_free(conf);

	/* -D wins over the file, and lasts for later parses. */
	CHECK(config_symset("name=d.example", 1) == 0, "symset");
	CHECK(config_symset("bad name=x", 1) == -1, "bad symset");
	CHECK(config_symset("noequals", 1) == -1, "no =");
	conf = parse_ok("name = \"file.example\"\nhostname $name\n");
	CHECK(conf != NULL && strcmp(conf->hostname, "d.example") == 0,
	    "-D wins: %s", conf ? conf->hostname : "");
	config_free(conf);
	CHECK(config_symset("name=other.example", 0) == 0, "no overwrite");
	conf = parse_ok("hostname $name\n");
	CHECK(conf != NULL && strcmp(conf->hostname, "d.example") == 0,
	    "kept: %s", conf ? conf->hostname : "");
	config_free(conf);
	CHECK(config_symset("name=x.example", 1) == 0, "overwrite");
	conf = parse_ok("hostname $name\n");
	CHECK(conf != NULL && strcmp(conf->hostname, "x.example") == 0,
	    "overwritten: %s", conf ? conf->hostname : "");
	config_free(conf);

	/* A macro may be named like a keyword. */
	conf = parse_ok("host = \"kw.example\"\nhostname $host\n");
	CHECK(conf != NULL && strcmp(conf->hostname, "kw.example") == 0,
	    "keyword macro name");
	config_free(conf);

	/* Macros are not expanded inside quotes. */
	conf = parse_ok("x = \"y\"\nspool \"/a/$x\"\n");
	CHECK(conf != NULL && strcmp(conf->spool, "/a/$x") == 0, "quoted $");
	config_free(conf);

	/* A file's own macros do not outlive its parse. */
	conf = parse("hostname $dir\n");
	CHECK(conf == NULL, "file macro leaked into the next parse");
	config_free(conf);
}

static void
test_lexer(void)
{
	struct config		*conf;
	struct table		*t;
	struct table_entry	*e;

	conf = parse_ok("# comment\n"
	    "   # indented comment\n"
	    "hostname \\\n"
	    "    \"cont.example\"   # trailing comment\n"
	    "table t {\n"
	    "    10.0.0.0/8,\n"
	    "    \"a.example\"  b.example\n"
	    "    'x@y.example'\n"
	    "}\n"
	    "spool \"/tmp/sp\\\"q\"\n"
	    "listen on ::1 port 2525");	/* no final newline */
	if (conf == NULL)
		return;
	CHECK_STR(conf->hostname, "cont.example");
	CHECK_STR(conf->spool, "/tmp/sp\"q");
	t = config_table(conf, "t");
	CHECK(t != NULL && t->count == 4 && t->line == 5, "table t");
	if (t != NULL) {
		e = TAILQ_FIRST(&t->entries);
		CHECK(e->type == ENTRY_NET && e->af == AF_INET &&
		    e->prefixlen == 8, "net entry");
		e = TAILQ_NEXT(e, entry);
		CHECK(e->type == ENTRY_DOMAIN, "domain");
		e = TAILQ_NEXT(e, entry);
		CHECK(e->type == ENTRY_DOMAIN, "unquoted domain");
		e = TAILQ_NEXT(e, entry);
		CHECK(e->type == ENTRY_ADDRESS && strcmp(e->key,
		    "x@y.example") == 0, "address");
	}
	CHECK(TAILQ_FIRST(&conf->listeners) != NULL &&
	    TAILQ_FIRST(&conf->listeners)->line == 11, "line count");
	config_free(conf);

	/* Keywords are names after table, pki and '<'. */
	conf = parse_ok("table mx { 10.0.0.0/8 }\n"
	    "pki tls cert \"cert.pem\" key \"key.pem\"\n"
	    "relay allow from <mx>\n"
	    "listen on 127.0.0.1 tls pki tls\n");
	CHECK(conf != NULL && config_table(conf, "mx") != NULL &&
	    config_pki(conf, "tls") != NULL, "keyword names");
	config_free(conf);
}

static void
test_include(void)
{
	struct config		*conf;
	struct relay_rule	*r;

	conf = parse_ok("include \"inc1.conf\"\nspool \"/tmp/x\"\n");
	if (conf == NULL)
		return;
	CHECK_STR(conf->hostname, "inc.example");
	CHECK_STR(conf->spool, "/tmp/x");
	r = TAILQ_FIRST(&conf->relays);
	CHECK(r != NULL && strcmp(r->file, "inc2.conf") == 0 && r->line == 2,
	    "relay from the include: %s:%d", r ? r->file : "", r ? r->line :
	    0);
	CHECK(config_table(conf, "lan") != NULL &&
	    strcmp(config_table(conf, "lan")->file, "inc2.conf") == 0,
	    "table file name");
	config_free(conf);
}

static void
test_tables(void)
{
	struct config		*conf;
	struct table		*t;
	struct table_entry	*e;

	conf = parse_ok("table lan { 127.0.0.0/8, ::1, 192.168.1.0/24, "
	    "2001:db8::/32 }\n"
	    "table dom { \"Example.COM\", \"example.org\" }\n"
	    "table users file \"users\"\n"
	    "table rcpts file \"recipients\"\n"
	    "table doms file \"domains\"\n"
	    "table nets file \"nets\"\n"
	    "table secrets file \"secrets\"\n"
	    "table none file \"empty\"\n");
	if (conf == NULL)
		return;
	t = config_table(conf, "lan");
	CHECK(t != NULL && t->source == TABLE_INLINE && t->count == 4 &&
	    t->types == ENTRY_NET && t->line == 1, "lan");
	if (t != NULL) {
		e = TAILQ_FIRST(&t->entries);
		CHECK(e->af == AF_INET && e->prefixlen == 8 &&
		    e->addr.v4.s_addr == htonl(0x7f000000), "127/8");
		e = TAILQ_NEXT(e, entry);
		CHECK(e->af == AF_INET6 && e->prefixlen == 128 &&
		    IN6_IS_ADDR_LOOPBACK(&e->addr.v6), "::1");
	}
	t = config_table(conf, "dom");
	CHECK(t != NULL && t->types == ENTRY_DOMAIN &&
	    strcmp(TAILQ_FIRST(&t->entries)->key, "example.com") == 0,
	    "domains are lower-cased");
	t = config_table(conf, "users");
	CHECK(t != NULL && t->source == TABLE_FILE && t->count == 3 &&
	    t->types == ENTRY_CREDENTIALS && strcmp(t->path, "users") == 0,
	    "users");
	if (t != NULL) {
		e = TAILQ_FIRST(&t->entries);
		CHECK(strcmp(e->key, "alice@example.com") == 0 &&
		    strcmp(e->value, HASH6) == 0 && e->line == 2,
		    "alice: %s line %d", e->key, e->line);
	}
	t = config_table(conf, "rcpts");
	CHECK(t != NULL && t->types == ENTRY_ADDRESS && t->count == 3,
	    "recipients");
	if (t != NULL) {
		e = TAILQ_NEXT(TAILQ_FIRST(&t->entries), entry);
		CHECK_STR(e->key, "info@corp.example");
	}
	t = config_table(conf, "doms");
	CHECK(t != NULL && t->types == ENTRY_DOMAIN && t->count == 2,
	    "domain file");
	t = config_table(conf, "nets");
	CHECK(t != NULL && t->types == ENTRY_NET && t->count == 3,
	    "net file");
	t = config_table(conf, "secrets");
	CHECK(t != NULL && t->types == ENTRY_SECRET && t->count == 3,
	    "secrets");
	e = config_secret(conf, "provider");
	CHECK(e != NULL && strcmp(e->value, "user1") == 0 &&
	    strcmp(e->secret, "pa:ss") == 0 && e->line == 2,
	    "secret provider (a ':' in a password)");
	CHECK(config_secret(conf, "nope") == NULL, "no such label");
	t = config_table(conf, "none");
	CHECK(t != NULL && t->count == 0 && t->types == 0, "empty file");
	config_free(conf);

	/* A credentials file others may read: a warning, not an error. */
	conf = parse("table u file \"users-open\"\n");
	CHECK(conf != NULL, "users-open rejected");
	CHECK_STR(errout, "t.conf:1: warning: table <u>: credentials file "
	    "\"users-open\" is readable by others: chmod o-r it\n");
	CHECK(config_check_warnings() == 1, "one warning");
	config_free(conf);
}

static void
test_pki_listen(void)
{
	struct config	*conf;
	struct listener	*l;
	struct pki	*p;
	int		 i;
	static const struct {
		const char	*addr;
		int		 port;
		int		 flags;
		const char	*pki;
	} want[] = {
		{ "0.0.0.0", 25, LISTEN_TLS, "mx" },
		{ "::", 25, LISTEN_TLS, "mx" },
		{ "0.0.0.0", 587, LISTEN_TLS | LISTEN_TLS_REQUIRE |
		    LISTEN_AUTH_REQUIRE, "mx" },
		{ "0.0.0.0", 465, LISTEN_SMTPS, "mx" },
		{ "0.0.0.0", 110, LISTEN_POP3 | LISTEN_TLS, "mx" },
		{ "0.0.0.0", 995, LISTEN_POP3 | LISTEN_POP3S, "mx" },
		{ "127.0.0.1", 2525, 0, "" },
		{ "::1", 2525, 0, "" },
		{ "192.0.2.1", 2526, LISTEN_AUTH_REQUIRE |
		    LISTEN_AUTH_INSECURE, "" },
		{ "192.0.2.1", 1110, LISTEN_POP3 | LISTEN_AUTH_INSECURE, "" },
		{ "2001:db8::1", 465, LISTEN_SMTPS, "g" },
	};

	conf = parse_ok("pki mx cert \"cert.pem\" key \"key.pem\"\n"
	    "pki g cert \"cert.pem\" key \"key-group.pem\"\n"
	    "table users file \"users\"\n"
	    "authenticate <users>\n"
	    "listen on 0.0.0.0 port 25 tls pki mx\n"
	    "listen on :: port 25 tls pki mx\n"
	    "listen on 0.0.0.0 port 587 tls-require pki mx auth-require\n"
	    "listen on 0.0.0.0 smtps pki mx\n"
	    "listen on 0.0.0.0 pop3 tls pki mx\n"
	    "listen on 0.0.0.0 pop3s pki mx\n"
	    "listen on localhost port 2525\n"
	    "listen on 192.0.2.1 port 2526 auth-require auth-insecure\n"
	    "listen on 192.0.2.1 port 1110 pop3 auth-insecure\n"
	    "listen on 2001:db8::1 pki g smtps\n");
	if (conf == NULL)
		return;
	p = config_pki(conf, "mx");
	CHECK(p != NULL && strcmp(p->cert, "cert.pem") == 0 &&
	    strcmp(p->key, "key.pem") == 0 && p->line == 1, "pki mx");
	CHECK(conf->authenticate == config_table(conf, "users"),
	    "authenticate");
	l = TAILQ_FIRST(&conf->listeners);
	for (i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++) {
		if (l == NULL) {
			CHECK(0, "listener %d missing", i);
			break;
		}
		CHECK(strcmp(addrstr(&l->ss), want[i].addr) == 0 &&
		    l->port == want[i].port && l->flags == want[i].flags &&
		    strcmp(l->pki, want[i].pki) == 0 && l->fd == -1,
		    "listener %d: got %s port %d flags %#x pki %s", i,
		    addrstr(&l->ss), l->port, l->flags, l->pki);
		CHECK(ntohs(l->ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&l->ss)->sin_port :
		    ((struct sockaddr_in6 *)&l->ss)->sin6_port) == l->port &&
		    l->sslen == (l->ss.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)),
		    "listener %d: sockaddr port/len", i);
		CHECK_STR(l->file, "t.conf");
		l = TAILQ_NEXT(l, entry);
	}
	CHECK(l == NULL, "too many listeners");
	config_free(conf);
}

static void
test_accept(void)
{
	struct config		*conf;
	struct accept_rule	*a;

	conf = parse_ok("table localdom { \"example.com\", \"example.org\" }\n"
	    "table valid file \"recipients\"\n"
	    "accept for domain <localdom> deliver maildir "
	    "\"/var/mail/%{domain}/%{user}\"\n"
	    "accept for domain \"Corp.Example\" recipients <valid>\n"
	    "accept for domain lab.example deliver lmtp \"127.0.0.1:24\"\n"
	    "accept for domain \"v6.example\" deliver lmtp \"[::1]:2424\"\n"
	    "accept for domain \"name.example\" deliver lmtp "
	    "\"lmtp.internal:24\" recipients <valid>\n");
	if (conf == NULL)
		return;
	a = TAILQ_FIRST(&conf->accepts);
	CHECK(a->domains == config_table(conf, "localdom") &&
	    a->domain[0] == '\0' && a->deliver == ACCEPT_MAILDIR &&
	    strcmp(a->maildir, "/var/mail/%{domain}/%{user}") == 0 &&
	    a->recipients == NULL && a->line == 3, "accept 1");
	a = TAILQ_NEXT(a, entry);
	CHECK(strcmp(a->domain, "corp.example") == 0 && a->domains == NULL &&
	    a->recipients == config_table(conf, "valid") &&
	    a->deliver == ACCEPT_RELAY, "accept 2");
	a = TAILQ_NEXT(a, entry);
	CHECK(a->deliver == ACCEPT_LMTP && strcmp(a->lmtp_host,
	    "127.0.0.1") == 0 && a->lmtp_port == 24, "accept 3");
	a = TAILQ_NEXT(a, entry);
	CHECK(a->deliver == ACCEPT_LMTP && strcmp(a->lmtp_host, "::1") == 0 &&
	    a->lmtp_port == 2424, "accept 4");
	a = TAILQ_NEXT(a, entry);
	CHECK(a->deliver == ACCEPT_LMTP && strcmp(a->lmtp_host,
	    "lmtp.internal") == 0 && a->recipients != NULL, "accept 5");
	config_free(conf);
}

static void
test_relay_allow(void)
{
	struct config		*conf;
	struct relay_rule	*r;

	conf = parse_ok("table lan { 192.168.1.0/24 }\n"
	    "table users file \"users\"\n"
	    "authenticate <users>\n"
	    "relay allow from <lan> authenticated\n"
	    "relay allow authenticated\n"
	    "relay allow pop3-login within 30m\n"
	    "relay allow from <lan>\n"
	    "relay allow authenticated from <lan> pop3-login within 1h\n");
	if (conf == NULL)
		return;
	r = TAILQ_FIRST(&conf->relays);
	CHECK(r->flags == (RELAY_FROM | RELAY_AUTHENTICATED) &&
	    r->from == config_table(conf, "lan") && r->line == 4, "rule 1");
	r = TAILQ_NEXT(r, entry);
	CHECK(r->flags == RELAY_AUTHENTICATED && r->from == NULL, "rule 2");
	r = TAILQ_NEXT(r, entry);
	CHECK(r->flags == RELAY_POP3_LOGIN && r->pop3_within == 1800,
	    "rule 3");
	r = TAILQ_NEXT(r, entry);
	CHECK(r->flags == RELAY_FROM, "rule 4");
	r = TAILQ_NEXT(r, entry);
	CHECK(r->flags == (RELAY_FROM | RELAY_AUTHENTICATED |
	    RELAY_POP3_LOGIN) && r->pop3_within == 3600, "rule 5");
	config_free(conf);

	conf = parse("relay allow any\n");
	CHECK(conf != NULL && TAILQ_FIRST(&conf->relays)->flags == RELAY_ANY,
	    "relay allow any accepted");
	CHECK_STR(errout, "t.conf:1: warning: relay allow any makes this an "
	    "open relay: anyone may send mail anywhere through it\n");
	config_free(conf);
}

static void
test_delivery(void)
{
	struct config		*conf;
	struct delivery_rule	*d;
	struct match_cond	*m;

	conf = parse_ok("table secrets file \"secrets\"\n"
	    "table vip { \"boss@example.com\", \"example.net\" }\n"
	    "delivery \"Sales via provider\" {\n"
	    "    match sender \"*@Sales.Example.com\"   # any one suffices\n"
	    "    match sender \"sales*@example.com\"\n"
	    "    relay smtp.provider.net port 587 tls auth login "
	    "credentials \"provider\"\n"
	    "}\n"
	    "delivery \"Internal\" {\n"
	    "\n"
	    "    match recipient \"*@corp.example\"\n"
	    "    match recipient <vip>\n"
	    "    relay 10.0.0.5\n"
	    "}\n"
	    "delivery \"ISP\" disabled {\n"
	    "    always\n"
	    "    relay smtp-a.isp.example, smtp-b.isp.example port 465 "
	    "smtps auth plain credentials \"isp\"\n"
	    "}\n"
	    "delivery \"Old provider\" {\n"
	    "    match sender \"*@legacy.example\"\n"
	    "    relay mail.legacy.example port 25 auth pop3-before-smtp "
	    "pop3s port 995 credentials \"legacy\"\n"
	    "}\n"
	    "delivery \"Lab\" {\n"
	    "    match sender \"*@lab.example\"\n"
	    "    relay lab.example tls noverify auth cram-md5 "
	    "credentials \"isp\"\n"
	    "}\n"
	    "delivery \"Old2\" {\n"
	    "    match sender \"*@old2.example\"\n"
	    "    relay mx.old2.example auth pop3-before-smtp pop3 host "
	    "pop.old2.example credentials \"legacy\" insecure\n"
	    "}\n"
	    "delivery \"Plain\" {\n"
	    "    match sender \"*@plain.example\"\n"
	    "    relay plain.example smtps noverify auth plain credentials "
	    "\"isp\"\n"
	    "}\n"
	    "delivery \"Clear\" {\n"
	    "    match sender \"*@clear.example\"\n"
	    "    relay clear.example auth login credentials \"isp\" "
	    "insecure\n"
	    "}\n"
	    "delivery \"Last\" {\n"
	    "    always\n"
	    "    relay ::1 port 10025\n"
	    "}\n");
	if (conf == NULL)
		return;
	d = TAILQ_FIRST(&conf->deliveries);
	CHECK(strcmp(d->name, "Sales via provider") == 0 && !d->disabled &&
	    !d->always && d->nhosts == 1 &&
	    strcmp(d->hosts[0], "smtp.provider.net") == 0 && d->port == 587 &&
	    d->tls == RELAY_TLS_STARTTLS && !d->noverify &&
	    d->auth == RELAY_AUTH_LOGIN &&
	    strcmp(d->credentials, "provider") == 0 &&
	    d->secret == config_secret(conf, "provider") && !d->insecure &&
	    d->line == 3 && strcmp(d->file, "t.conf") == 0, "rule 1");
	m = TAILQ_FIRST(&d->matches);
	CHECK(m->what == MATCH_SENDER &&
	    strcmp(m->pattern, "*@sales.example.com") == 0 && m->line == 4,
	    "match 1: %s", m->pattern);
	m = TAILQ_NEXT(m, entry);
	CHECK(m->what == MATCH_SENDER && strcmp(m->pattern,
	    "sales*@example.com") == 0 && TAILQ_NEXT(m, entry) == NULL,
	    "match 2");
	d = TAILQ_NEXT(d, entry);
	m = TAILQ_FIRST(&d->matches);
	CHECK(m->what == MATCH_RECIPIENT && m->table == NULL &&
	    TAILQ_NEXT(m, entry)->table == config_table(conf, "vip") &&
	    TAILQ_NEXT(m, entry)->what == MATCH_RECIPIENT, "Internal matches");
	CHECK(d->port == 25 && d->tls == RELAY_TLS_NONE &&
	    d->auth == RELAY_AUTH_NONE && d->secret == NULL, "Internal");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->disabled && d->always && TAILQ_EMPTY(&d->matches) &&
	    d->nhosts == 2 && strcmp(d->hosts[1], "smtp-b.isp.example") == 0 &&
	    d->port == 465 && d->tls == RELAY_TLS_SMTPS &&
	    d->auth == RELAY_AUTH_PLAIN, "ISP");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->auth == RELAY_AUTH_POP3 && d->pop3_tls == POP3_POP3S &&
	    d->pop3_port == 995 && d->port == 25 && d->pop3_host[0] == '\0' &&
	    d->tls == RELAY_TLS_NONE, "Old provider");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->tls == RELAY_TLS_STARTTLS && d->noverify &&
	    d->auth == RELAY_AUTH_CRAM_MD5, "Lab");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->auth == RELAY_AUTH_POP3 && d->pop3_tls == POP3_STLS &&
	    d->pop3_port == 110 && strcmp(d->pop3_host,
	    "pop.old2.example") == 0 && d->insecure, "Old2");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->tls == RELAY_TLS_SMTPS && d->noverify && d->port == 465,
	    "Plain");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->tls == RELAY_TLS_NONE && d->insecure, "Clear");
	d = TAILQ_NEXT(d, entry);
	CHECK(d->always && strcmp(d->hosts[0], "::1") == 0 &&
	    d->port == 10025 && TAILQ_NEXT(d, entry) == NULL, "Last");
	config_free(conf);
}

static void
test_limits_checks_queue(void)
{
	struct config	*conf;
	struct limits	*l;

	conf = parse_ok("table lan { 10.0.0.0/8 }\n"
	    "limit connections 20 per-ip\n"
	    "limit messages 500 per-ip within 1h\n"
	    "limit messages 1000 per-user within 1h\n"
	    "limit recipients 100 per-message\n"
	    "limit unknown-recipients 5 per-session\n"
	    "limit failed-commands 10 per-session\n"
	    "limit auth-failures 5 per-ip within 1h block 2h\n"
	    "limit message-size 512K\n"
	    "limit exempt <lan>\n"
	    "reject unknown-sender-domain\n"
	    "check spf reject-fail\n"
	    "check sender-id tag\n"
	    "check spamd 127.0.0.1 port 783 tag-above 5.0 reject-above 10 "
	    "timeout 15s on-error tempfail\n"
	    "queue retry 5m 15m 30m 1h\n"
	    "queue warn-after 2h\n"
	    "queue bounce-after 3d\n"
	    "queue deliveries 50 per-domain 5\n");
	if (conf == NULL)
		return;
	l = &conf->limits;
	CHECK(l->conn_per_ip == 20 && l->msgs_per_ip == 500 &&
	    l->msgs_per_ip_within == 3600 && l->msgs_per_user == 1000 &&
	    l->msgs_per_user_within == 3600 && l->rcpts_per_msg == 100 &&
	    l->unknown_rcpts_per_session == 5 &&
	    l->failed_cmds_per_session == 10 &&
	    l->auth_failures_per_ip == 5 && l->auth_failures_within == 3600 &&
	    l->auth_failures_block == 7200 && l->message_size == 524288 &&
	    l->exempt == config_table(conf, "lan"), "limits");
	CHECK(conf->reject_unknown_sender_domain, "reject");
	CHECK(conf->check_spf == CHECK_REJECT_FAIL &&
	    conf->check_senderid == CHECK_TAG, "spf/sender-id");
	CHECK(conf->spamd.enabled && conf->spamd.port == 783 &&
	    conf->spamd.tag_above == 500 && conf->spamd.reject_above == 1000 &&
	    conf->spamd.timeout == 15 &&
	    conf->spamd.on_error == SPAMD_ONERROR_TEMPFAIL &&
	    conf->spamd.line == 14, "spamd");
	CHECK(conf->queue.nretry == 4 && conf->queue.retry[3] == 3600 &&
	    conf->queue.warn_after == 7200 &&
	    conf->queue.bounce_after == 3 * 86400 &&
	    conf->queue.deliveries == 50 && conf->queue.per_domain == 5,
	    "queue");
	config_free(conf);

	conf = parse_ok("check spamd ::1 reject-above 8\n");
	CHECK(conf != NULL && conf->spamd.tag_above == -1 &&
	    conf->spamd.reject_above == 800 && conf->spamd.port == 783 &&
	    conf->spamd.timeout == 15 &&
	    conf->spamd.on_error == SPAMD_ONERROR_ACCEPT, "spamd defaults");
	config_free(conf);
	conf = parse_ok("limit message-size 1000000\n");
	CHECK(conf != NULL && conf->limits.message_size == 1000000, "bytes");
	config_free(conf);
}

/* config_print output parses again to the same output. */
static void
test_print_roundtrip(void)
{
	struct config	*conf;
	FILE		*fp;
	char		*p1 = NULL, *p2 = NULL;
	size_t		 n1 = 0, n2 = 0;

	conf = parse_ok("hostname \"mx.example.com\"\n"
	    "table lan { 127.0.0.0/8, ::1 }\n"
	    "table dom { \"example.com\" }\n"
	    "table users file \"users\"\n"
	    "table secrets file \"secrets\"\n"
	    "pki mx cert \"cert.pem\" key \"key.pem\"\n"
	    "listen on localhost port 25 tls pki mx\n"
	    "listen on 0.0.0.0 port 995 pop3s pki mx\n"
	    "authenticate <users>\n"
	    "accept for domain <dom> deliver maildir \"/m/%{user}\"\n"
	    "accept for domain \"v6.example\" deliver lmtp \"[::1]:24\"\n"
	    "relay allow from <lan> authenticated\n"
	    "relay allow pop3-login within 90s\n"
	    "delivery \"a\" {\n match sender \"*@a.example\"\n"
	    " relay \"mx\", b.example port 587 tls noverify auth login "
	    "credentials \"isp\"\n}\n"
	    "delivery \"b\" disabled {\n always\n relay 10.0.0.1 auth "
	    "pop3-before-smtp pop3 port 1110 host pop credentials "
	    "\"legacy\" insecure\n}\n"
	    "limit auth-failures 5 per-ip within 1h block 1d\n"
	    "check spamd 127.0.0.1 tag-above 5.25\n"
	    "queue retry 1m\n");
	if (conf == NULL)
		return;
	fp = open_memstream(&p1, &n1);
	config_print(fp, conf);
	(void)fclose(fp);
	config_free(conf);
	writefile("printed.conf", p1, 0644);
	conf = parse_file("printed.conf");
	CHECK(conf != NULL, "printed config rejected: %s", errout);
	if (conf == NULL) {
		free(p1);
		return;
	}
	fp = open_memstream(&p2, &n2);
	config_print(fp, conf);
	(void)fclose(fp);
	config_free(conf);
	CHECK(strcmp(p1, p2) == 0, "round trip differs:\n%s\n----\n%s", p1,
	    p2);
	CHECK(strstr(p1, "\trelay \"mx\", b.example port 587 tls noverify "
	    "auth login credentials \"isp\"\n") != NULL, "relay line: %s", p1);
	CHECK(strstr(p1, "\trelay 10.0.0.1 port 25 auth pop3-before-smtp "
	    "pop3 port 1110 host \"pop\" credentials \"legacy\" insecure\n") !=
	    NULL, "pop3 relay line");
	CHECK(strstr(p1, "listen on ::1 port 25 tls pki mx\n") != NULL,
	    "localhost listener");
	CHECK(strstr(p1, "check spamd 127.0.0.1 port 783 tag-above 5.25 "
	    "timeout 15s on-error accept\n") != NULL, "spamd line");
	CHECK(strstr(p1, "limit auth-failures 5 per-ip within 1h block 1d\n")
	    != NULL, "limit line");
	CHECK(strstr(p1, "relay allow pop3-login within 90s\n") != NULL,
	    "pop3-login line");
	CHECK(strstr(p1, "table users file \"users\"\n") != NULL &&
	    strstr(p1, HASH6) == NULL && strstr(p1, "pa:ss") == NULL,
	    "no secrets printed");
	free(p1);
	free(p2);
}

/* ---- errors ------------------------------------------------------------ */

/* Each snippet must be rejected with exactly this stderr. */
static const struct {
	const char	*name;
	const char	*in;
	const char	*want;
} bad[] = {
	/* lexer, syntax */
	{ "unknown keyword", "hostname \"a.example\"\nfoo bar\n",
	  "t.conf:2: unknown keyword \"foo\"\n" },
	{ "keyword alone", "frobnicate\n",
	  "t.conf:1: unknown keyword \"frobnicate\"\n" },
	{ "syntax error", "listen 127.0.0.1\n",
	  "t.conf:1: syntax error at \"127.0.0.1\"\n" },
	{ "line ends early", "listen on\n",
	  "t.conf:1: syntax error: the line ends too early\n" },
	{ "syntax error keyword", "hostname spool\n",
	  "t.conf:1: syntax error at \"spool\"\n" },
	{ "syntax error number", "spool 25\n",
	  "t.conf:1: syntax error at \"25\"\n" },
	{ "syntax error char", "spool {\n",
	  "t.conf:1: syntax error at \"{\"\n" },
	{ "errors go on", "listen on\nspool \"rel\"\nhostname \"-x\"\n",
	  "t.conf:1: syntax error: the line ends too early\n"
	  "t.conf:2: spool \"rel\" must be an absolute path\n"
	  "t.conf:3: invalid hostname \"-x\"\n" },
	{ "unterminated quote", "hostname \"abc\nspool \"/x\"\n",
	  "t.conf:1: unterminated quoted string\n" },
	{ "unterminated at eof", "hostname \"abc",
	  "t.conf:1: unterminated quoted string\n" },
	{ "missing brace", "delivery \"a\" {\n match sender \"*@x.example\"\n"
	  " relay x.example\n",
	  "t.conf:4: syntax error: unexpected end of file (is a '}' "
	  "missing?)\n" },
	{ "number too large", "mx port 99999999999999999999\n",
	  "t.conf:1: number \"99999999999999999999\" is too large\n"
	  "t.conf:1: invalid port 0: want 1 to 65535\n" },
	{ "undefined macro", "hostname $nope\nspool \"/x\"\n",
	  "t.conf:1: macro \"nope\" is not defined\n" },
	{ "bare dollar", "hostname $\n",
	  "t.conf:1: a '$' must be followed by a macro name\n" },
	{ "bad macro name", "a-b = \"x\"\n",
	  "t.conf:1: invalid macro name \"a-b\": use letters, digits and "
	  "'_'\n" },
	{ "macro line error", "a =\n",
	  "t.conf:1: syntax error: the line ends too early\n" },
	/* include */
	{ "include missing", "include \"nonexistent.conf\"\n",
	  "t.conf:1: include \"nonexistent.conf\": No such file or "
	  "directory\n" },
	{ "include dir", "include \"adir\"\n",
	  "t.conf:1: include \"adir\": not a regular file\n" },
	{ "include error names the file", "include \"inc-bad.conf\"\n",
	  "inc-bad.conf:3: unknown keyword \"bogus\"\n" },
	{ "include self", "include \"inc-self.conf\"\n",
	  "inc-self.conf:1: include \"inc-self.conf\": the file includes "
	  "itself\n" },
	{ "include deep", "include \"deep0.conf\"\n",
	  "deep14.conf:1: include \"deep15.conf\": nested more than 16 "
	  "deep\n" },
	/* globals */
	{ "hostname twice", "hostname \"a.example\"\nhostname \"b.example\"\n",
	  "t.conf:2: hostname is already set at t.conf:1\n" },
	{ "hostname invalid", "hostname \"a..example\"\n",
	  "t.conf:1: invalid hostname \"a..example\"\n" },
	{ "spool relative", "spool \"spool\"\n",
	  "t.conf:1: spool \"spool\" must be an absolute path\n" },
	{ "spool twice", "spool \"/a\"\nspool \"/b\"\n",
	  "t.conf:2: spool is already set at t.conf:1\n" },
	{ "socket relative", "control socket \"s.sock\"\n",
	  "t.conf:1: control socket \"s.sock\" must be an absolute path\n" },
	{ "socket too long", "control socket \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaa\"\n",
	  "t.conf:1: control socket \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaa\" is too long (at most 107 characters)\n" },
	{ "group invalid", "control group \"a b\"\n",
	  "t.conf:1: invalid group name \"a b\"\n" },
	{ "group twice", "control group a\ncontrol group b\n",
	  "t.conf:2: control group is already set at t.conf:1\n" },
	{ "resolver name", "resolver dns.example\n",
	  "t.conf:1: invalid resolver address \"dns.example\": want an IPv4 "
	  "or IPv6 address\n" },
	{ "resolver twice", "resolver 127.0.0.1\nresolver ::1\n",
	  "t.conf:2: resolver is already set at t.conf:1\n" },
	{ "mx port twice", "mx port 25\nmx port 26\n",
	  "t.conf:2: mx port is already set at t.conf:1\n" },
	{ "port range", "mx port 0\n",
	  "t.conf:1: invalid port 0: want 1 to 65535\n" },
	{ "port range high", "mx port 65536\n",
	  "t.conf:1: invalid port 65536: want 1 to 65535\n" },
	/* tables */
	{ "table dup", "table a { 10.0.0.0/8 }\ntable a { ::1 }\n",
	  "t.conf:2: table <a> is already defined at t.conf:1\n" },
	{ "table name", "table \"a b\" { ::1 }\n",
	  "t.conf:1: invalid table name \"a b\": use a letter, then up to 62 "
	  "letters, digits, '-', '_' or '.'\n" },
	{ "table empty", "table a { }\n",
	  "t.conf:1: table <a> has no entries\n" },
	{ "table host bits", "table a { 10.0.0.1/8 }\n",
	  "t.conf:1: table <a>: invalid network \"10.0.0.1/8\": host bits are "
	  "set beyond the prefix length\n" },
	{ "table bad entry", "table a { 300.1.1.1 }\n",
	  "t.conf:1: table <a>: invalid table entry \"300.1.1.1\": not an IP "
	  "address, network, domain or mail address\n" },
	{ "table number entry", "table a { 42 }\n",
	  "t.conf:1: table <a>: invalid table entry \"42\": not an IP "
	  "address, network, domain or mail address\n" },
	{ "table wildcard domain", "table a { \"*.example.com\" }\n",
	  "t.conf:1: table <a>: invalid table entry \"*.example.com\": a "
	  "wildcard is allowed only in the local part of an address\n" },
	{ "table bad pattern", "table a {\n \"ok.example\",\n \"u@*.com\" }\n",
	  "t.conf:3: table <a>: invalid address pattern \"u@*.com\": a "
	  "wildcard is allowed only in the local part\n" },
	{ "unknown table", "relay allow from <nope>\n",
	  "t.conf:1: unknown table <nope>\n" },
	{ "table used before defined", "relay allow from <lan>\n"
	  "table lan { ::1 }\n",
	  "t.conf:1: unknown table <lan>\n" },
	{ "table file missing", "table a file \"nonexistent\"\n",
	  "t.conf:1: table <a>: cannot open \"nonexistent\": No such file or "
	  "directory\n" },
	{ "table file dir", "table a file \"adir\"\n",
	  "t.conf:1: table <a>: \"adir\" is not a regular file\n" },
	{ "table file long line", "table a file \"long\"\n",
	  "long:1: line longer than 4096 characters\n" },
	{ "table file bad entry", "table a file \"bad-entry\"\n",
	  "bad-entry:2: invalid address pattern \"user@*.com\": a wildcard is "
	  "allowed only in the local part\n" },
	{ "table file host bits", "table a file \"bad-net\"\n",
	  "bad-net:1: invalid network \"10.0.0.1/8\": host bits are set "
	  "beyond the prefix length\n" },
	{ "table file wildcard", "table a file \"bad-wild\"\n",
	  "bad-wild:1: invalid table entry \"*.example.com\": a wildcard is "
	  "allowed only in the local part of an address\n" },
	{ "table file junk", "table a file \"bad-junk\"\n",
	  "bad-junk:1: invalid table entry \"300.1.1.1\": not an IP address, "
	  "network, domain or mail address\n" },
	{ "plaintext password", "table u file \"users-plain\"\n",
	  "users-plain:2: the password of \"bob@example.com\" is not a "
	  "crypt(3) hash ($y$, $2b$, $6$ or $5$): plain-text passwords are "
	  "refused\n" },
	{ "login twice", "table u file \"users-dup\"\n",
	  "users-dup:2: login \"a\" is given twice\n" },
	{ "empty login", "table u file \"users-empty\"\n",
	  "users-empty:1: empty login\n" },
	{ "mixed kinds", "table u file \"users-mixed\"\n",
	  "users-mixed:2: not one of the table's login:crypt-hash lines (its "
	  "first line decides the kind)\n" },
	{ "secrets readable", "table s file \"secrets-open\"\n",
	  "t.conf:1: table <s>: secrets file \"secrets-open\" must not be "
	  "accessible by group or others (mode 0644): chmod 600 it\n" },
	{ "secret no password", "table s file \"secrets-nopw\"\n",
	  "secrets-nopw:1: secret \"x\": want label:username:password\n" },
	{ "secret label twice", "table s file \"secrets-dup\"\n",
	  "secrets-dup:2: secret label \"x\" is given twice\n" },
	{ "secret label long", "table s file \"secrets-longlabel\"\n",
	  "secrets-longlabel:1: a secret needs a label of 1 to 63 "
	  "characters\n" },
	{ "secret label in two tables", "table s file \"secrets\"\n"
	  "table s2 file \"secrets2\"\n",
	  "secrets2:1: secret label \"isp\" is also in table <s>\n" },
	/* pki */
	{ "pki dup", "pki a cert \"cert.pem\" key \"key.pem\"\n"
	  "pki a cert \"cert.pem\" key \"key.pem\"\n",
	  "t.conf:2: pki a is already defined at t.conf:1\n" },
	{ "pki name", "pki \"-a\" cert \"cert.pem\" key \"key.pem\"\n",
	  "t.conf:1: invalid pki name \"-a\": use a letter, then up to 62 "
	  "letters, digits, '-', '_' or '.'\n" },
	{ "pki no cert", "pki a cert \"nocert.pem\" key \"key.pem\"\n",
	  "t.conf:1: pki a: certificate \"nocert.pem\": No such file or "
	  "directory\n" },
	{ "pki cert dir", "pki a cert \"adir\" key \"key.pem\"\n",
	  "t.conf:1: pki a: certificate \"adir\" is not a regular file\n" },
	{ "pki no key", "pki a cert \"cert.pem\" key \"nokey.pem\"\n",
	  "t.conf:1: pki a: key \"nokey.pem\": No such file or directory\n" },
	{ "pki key dir", "pki a cert \"cert.pem\" key \"adir\"\n",
	  "t.conf:1: pki a: key \"adir\" is not a regular file\n" },
	{ "pki key readable", "pki a cert \"cert.pem\" key \"key-open.pem\"\n",
	  "t.conf:1: pki a: key \"key-open.pem\" must not be accessible by "
	  "others (mode 0644): chmod o-rwx it\n" },
	/* listen */
	{ "listen address", "listen on mail.example.com\n",
	  "t.conf:1: invalid listen address \"mail.example.com\": want an "
	  "IPv4 or IPv6 address, 0.0.0.0, :: or localhost\n" },
	{ "listen dup", "listen on 127.0.0.1 port 2525\n"
	  "listen on 127.0.0.1 port 2525\n",
	  "t.conf:2: listen on 127.0.0.1 port 2525: already in use by the "
	  "listener at t.conf:1\n" },
	{ "listen dup localhost", "listen on ::1\nlisten on localhost\n",
	  "t.conf:2: listen on ::1 port 25: already in use by the listener "
	  "at t.conf:1\n" },
	{ "listen overlap", "listen on 127.0.0.1\nlisten on 0.0.0.0 port 25\n",
	  "t.conf:2: listen on 0.0.0.0 port 25: overlaps listen on 127.0.0.1 "
	  "port 25 at t.conf:1\n" },
	{ "listen overlap v6", "listen on ::\nlisten on ::1\n",
	  "t.conf:2: listen on ::1 port 25: overlaps listen on :: port 25 at "
	  "t.conf:1\n" },
	{ "listen port twice", "listen on ::1 port 25 port 26\n",
	  "t.conf:1: listen: port given twice\n" },
	{ "listen two modes", "pki a cert \"cert.pem\" key \"key.pem\"\n"
	  "listen on ::1 tls smtps pki a\n",
	  "t.conf:2: listen: choose one of tls, tls-require, smtps and "
	  "pop3s\n" },
	{ "listen pop3 pop3s", "pki a cert \"cert.pem\" key \"key.pem\"\n"
	  "listen on ::1 pop3 pop3s pki a\n",
	  "t.conf:2: listen: pop3s already means pop3 (implicit TLS)\n" },
	{ "listen pop3 smtps", "pki a cert \"cert.pem\" key \"key.pem\"\n"
	  "listen on ::1 pop3 smtps pki a\n",
	  "t.conf:2: listen: smtps is SMTP; for POP3 over TLS use pop3s\n" },
	{ "listen pop3 auth-require", "pki a cert \"cert.pem\" key "
	  "\"key.pem\"\nlisten on ::1 pop3s pki a auth-require\n",
	  "t.conf:2: listen: auth-require is for SMTP; POP3 always needs a "
	  "login\n" },
	{ "listen tls no pki", "listen on ::1 tls\n",
	  "t.conf:1: listen: tls needs a certificate: add pki NAME\n" },
	{ "listen smtps no pki", "listen on ::1 smtps\n",
	  "t.conf:1: listen: smtps needs a certificate: add pki NAME\n" },
	{ "listen unknown pki", "listen on ::1 tls pki nope\n",
	  "t.conf:1: unknown pki nope\n" },
	{ "listen pki twice", "pki a cert \"cert.pem\" key \"key.pem\"\n"
	  "listen on ::1 tls pki a pki a\n",
	  "t.conf:2: listen: pki given twice\n" },
	{ "listen pop3 plain", "table u file \"users\"\nauthenticate <u>\n"
	  "listen on ::1 pop3\n",
	  "t.conf:3: listen: pop3 without tls or tls-require would take "
	  "passwords in plain text: add tls, tls-require or auth-insecure\n" },
	{ "listen auth-require plain", "table u file \"users\"\n"
	  "authenticate <u>\nlisten on ::1 auth-require\n",
	  "t.conf:3: listen: auth-require without tls, tls-require or smtps: "
	  "AUTH is offered only over TLS unless auth-insecure is given\n" },
	{ "listen pop3 needs authenticate", "pki a cert \"cert.pem\" key "
	  "\"key.pem\"\nlisten on ::1 pop3s pki a\n",
	  "t.conf:2: a pop3 listener needs an \"authenticate <table>\" "
	  "line\n" },
	{ "listen auth-require needs authenticate", "pki a cert \"cert.pem\" "
	  "key \"key.pem\"\nlisten on ::1 port 587 tls-require pki a "
	  "auth-require\n",
	  "t.conf:2: auth-require needs an \"authenticate <table>\" line\n" },
	/* authenticate */
	{ "authenticate list", "table a file \"recipients\"\n"
	  "authenticate <a>\n",
	  "t.conf:2: table <a> used by authenticate must hold login:crypt-hash "
	  "lines, not list entries\n" },
	{ "authenticate secrets", "table a file \"secrets\"\n"
	  "authenticate <a>\n",
	  "t.conf:2: table <a> used by authenticate must hold login:crypt-hash "
	  "lines, not label:username:password lines\n" },
	{ "authenticate twice", "table a file \"users\"\nauthenticate <a>\n"
	  "authenticate <a>\n",
	  "t.conf:3: authenticate is already set at t.conf:2\n" },
	/* accept */
	{ "accept bad domain", "accept for domain \"a_b\"\n",
	  "t.conf:1: invalid domain \"a_b\"\n" },
	{ "accept dup domain", "accept for domain \"a.example\"\n"
	  "table d { \"A.example\" }\naccept for domain <d>\n",
	  "t.conf:3: domain \"a.example\" is already accepted at t.conf:1\n" },
	{ "accept domain table kind", "table d { 10.0.0.0/8 }\n"
	  "accept for domain <d>\n",
	  "t.conf:2: table <d> used by accept for domain must hold only "
	  "domain names\n" },
	{ "accept recipients kind", "table r { \"a.example\" }\n"
	  "accept for domain \"b.example\" recipients <r>\n",
	  "t.conf:2: table <r> used by recipients must hold only mail "
	  "addresses\n" },
	{ "accept recipients twice", "table r { \"a@b.example\" }\n"
	  "accept for domain \"b.example\" recipients <r> recipients <r>\n",
	  "t.conf:2: accept: recipients given twice\n" },
	{ "accept deliver twice", "accept for domain \"b.example\" deliver "
	  "maildir \"/m/%{user}\" deliver lmtp \"127.0.0.1:24\"\n",
	  "t.conf:1: accept: deliver given twice\n" },
	{ "maildir token", "accept for domain \"b.example\" deliver maildir "
	  "\"/m/%{domain}/%{login}\"\n",
	  "t.conf:1: maildir template \"/m/%{domain}/%{login}\": unknown "
	  "token \"%{login}\": only %{user} and %{domain} are known\n" },
	{ "maildir percent", "accept for domain \"b.example\" deliver maildir "
	  "\"/m/%u\"\n",
	  "t.conf:1: maildir template \"/m/%u\": a '%' must start %{user} or "
	  "%{domain}\n" },
	{ "maildir relative", "accept for domain \"b.example\" deliver maildir "
	  "\"m/%{user}\"\n",
	  "t.conf:1: maildir template \"m/%{user}\" must be an absolute "
	  "path\n" },
	{ "maildir no user", "accept for domain \"b.example\" deliver maildir "
	  "\"/m/%{domain}\"\n",
	  "t.conf:1: maildir template \"/m/%{domain}\" must contain "
	  "%{user}\n" },
	{ "maildir dotdot", "accept for domain \"b.example\" deliver maildir "
	  "\"/m/../%{user}\"\n",
	  "t.conf:1: maildir template \"/m/../%{user}\" must not contain "
	  "\"..\" or \".\" components\n" },
	{ "lmtp no port", "accept for domain \"b.example\" deliver lmtp "
	  "\"127.0.0.1\"\n",
	  "t.conf:1: invalid lmtp destination \"127.0.0.1\": want HOST:PORT "
	  "or [IPv6]:PORT\n" },
	{ "lmtp bare v6", "accept for domain \"b.example\" deliver lmtp "
	  "\"::1:24\"\n",
	  "t.conf:1: invalid lmtp destination \"::1:24\": want HOST:PORT or "
	  "[IPv6]:PORT\n" },
	{ "lmtp bad port", "accept for domain \"b.example\" deliver lmtp "
	  "\"h.example:0\"\n",
	  "t.conf:1: invalid lmtp destination \"h.example:0\": want HOST:PORT "
	  "or [IPv6]:PORT\n" },
	/* relay allow */
	{ "relay allow empty", "relay allow\n",
	  "t.conf:1: relay allow needs a condition: from <table>, "
	  "authenticated, pop3-login within T, or any\n" },
	{ "relay allow any combined", "table users file \"users\"\n"
	  "authenticate <users>\nrelay allow any authenticated\n",
	  "t.conf:3: relay allow any cannot be combined with other "
	  "conditions\n" },
	{ "relay allow any twice", "relay allow any any\n",
	  "t.conf:1: relay allow: any given twice\n" },
	{ "relay allow from twice", "table a { ::1 }\n"
	  "relay allow from <a> from <a>\n",
	  "t.conf:2: relay allow: from given twice\n" },
	{ "relay allow authenticated twice", "table users file \"users\"\n"
	  "authenticate <users>\nrelay allow authenticated authenticated\n",
	  "t.conf:3: relay allow: authenticated given twice\n" },
	{ "relay allow pop3-login twice",
	  "relay allow pop3-login within 1m pop3-login within 2m\n",
	  "t.conf:1: relay allow: pop3-login given twice\n" },
	{ "relay allow from kind", "table a { \"example.com\" }\n"
	  "relay allow from <a>\n",
	  "t.conf:2: table <a> used by relay allow from must hold only IP "
	  "addresses and networks\n" },
	{ "relay allow needs authenticate", "relay allow authenticated\n",
	  "t.conf:1: relay allow authenticated needs an \"authenticate "
	  "<table>\" line\n" },
	{ "relay allow duration", "relay allow pop3-login within 30\n",
	  "t.conf:1: invalid duration \"30\": use a number followed by s, m, "
	  "h or d (30s 15m 4h 5d)\n" },
	{ "relay allow duration unit", "relay allow pop3-login within 30y\n",
	  "t.conf:1: invalid duration \"30y\": use a number followed by s, m, "
	  "h or d (30s 15m 4h 5d)\n" },
	{ "duration zero", "relay allow pop3-login within 0m\n",
	  "t.conf:1: invalid duration \"0m\": must be more than 0\n" },
	{ "duration too long", "relay allow pop3-login within 400d\n",
	  "t.conf:1: invalid duration \"400d\": more than 366 days\n" },
	/* delivery rules */
	{ "wildcard in domain", "delivery \"a\" {\n"
	  "  match sender \"user@*.com\"\n  relay x.example\n}\n",
	  "t.conf:2: invalid address pattern \"user@*.com\": a wildcard is "
	  "allowed only in the local part\n" },
	{ "pattern without at", "delivery \"a\" {\n"
	  "  match recipient \"sales\"\n  relay x.example\n}\n",
	  "t.conf:2: invalid address pattern \"sales\": want local@domain, "
	  "with '*' allowed in the local part\n" },
	{ "pattern bad domain", "delivery \"a\" {\n"
	  "  match recipient \"a@b_c\"\n  relay x.example\n}\n",
	  "t.conf:2: invalid address pattern \"a@b_c\": \"b_c\" is not a "
	  "domain name\n" },
	{ "after always", "delivery \"ISP\" {\n  always\n  relay a.example\n"
	  "}\ndelivery \"Internal\" {\n  match recipient \"*@corp.example\"\n"
	  "  relay b.example\n}\n",
	  "t.conf:5: delivery rule \"Internal\" can never match: it comes "
	  "after the enabled always rule \"ISP\" at t.conf:1 (use a host list "
	  "in one rule for failover)\n" },
	{ "after always disabled later", "delivery \"ISP\" {\n  always\n"
	  "  relay a.example\n}\ndelivery \"Off\" disabled {\n"
	  "  match recipient \"*@corp.example\"\n  relay b.example\n}\n",
	  "t.conf:5: delivery rule \"Off\" can never match: it comes after "
	  "the enabled always rule \"ISP\" at t.conf:1 (use a host list in "
	  "one rule for failover)\n" },
	{ "bad rule after always", "table s file \"secrets\"\n"
	  "delivery \"ISP\" {\n  always\n  relay a.example\n}\n"
	  "delivery \"Internal\" {\n  match recipient \"*@corp.example\"\n"
	  "  relay b.example auth plain credentials \"isp\"\n}\n",
	  "t.conf:6: delivery rule \"Internal\" can never match: it comes "
	  "after the enabled always rule \"ISP\" at t.conf:2 (use a host list "
	  "in one rule for failover)\n"
	  "t.conf:8: delivery rule \"Internal\": auth plain over a plain "
	  "connection would send the password in clear: add tls or smtps, or "
	  "end the line with insecure\n" },
	{ "listen errors in order", "listen on ::1 port 2525\n"
	  "listen on ::1 port 2525\nrelay allow from <none>\n",
	  "t.conf:2: listen on ::1 port 2525: already in use by the listener "
	  "at t.conf:1\n"
	  "t.conf:3: unknown table <none>\n" },
	{ "rule dup", "delivery \"a\" {\n match sender \"*@a.example\"\n"
	  " relay x.example\n}\ndelivery \"a\" {\n"
	  " match sender \"*@b.example\"\n relay y.example\n}\n",
	  "t.conf:5: delivery rule \"a\" is already defined at t.conf:1\n" },
	{ "rule name empty", "delivery \"\" {\n always\n relay x.example\n}\n",
	  "t.conf:1: delivery rule name \"\" must have 1 to 63 characters\n" },
	{ "rule no relay", "delivery \"a\" {\n match sender \"*@a.example\"\n"
	  "}\n",
	  "t.conf:1: delivery rule \"a\" has no relay line\n" },
	{ "rule no match", "delivery \"a\" {\n relay x.example\n}\n",
	  "t.conf:1: delivery rule \"a\" has no match line and no always: it "
	  "can never match\n" },
	{ "rule always and match", "delivery \"a\" {\n always\n"
	  " match sender \"*@a.example\"\n relay x.example\n}\n",
	  "t.conf:2: delivery rule \"a\": always and match lines exclude each "
	  "other\n" },
	{ "rule always twice", "delivery \"a\" {\n always\n always\n"
	  " relay x.example\n}\n",
	  "t.conf:3: delivery rule \"a\": always given twice\n" },
	{ "rule two relay lines", "delivery \"a\" {\n always\n"
	  " relay x.example\n relay y.example\n}\n",
	  "t.conf:4: delivery rule \"a\": only one relay line (a list of "
	  "hosts fails over)\n" },
	{ "rule bad line", "delivery \"a\" {\n always\n bogus\n"
	  " relay x.example\n}\nspool \"rel\"\n",
	  "t.conf:3: unknown keyword \"bogus\"\n"
	  "t.conf:6: spool \"rel\" must be an absolute path\n" },
	{ "relay host invalid", "delivery \"a\" {\n always\n"
	  " relay bad_host\n}\n",
	  "t.conf:3: invalid relay host \"bad_host\": want a host name or an "
	  "IP address\n" },
	{ "relay too many hosts", "delivery \"a\" {\n always\n"
	  " relay a.ex, b.ex, c.ex, d.ex, e.ex, f.ex, g.ex, h.ex, i.ex\n}\n",
	  "t.conf:3: delivery rule \"a\": at most 8 relay hosts\n" },
	{ "relay port twice", "delivery \"a\" {\n always\n"
	  " relay x.example port 25 port 26\n}\n",
	  "t.conf:3: relay: port given twice\n" },
	{ "relay tls twice", "delivery \"a\" {\n always\n"
	  " relay x.example tls smtps\n}\n",
	  "t.conf:3: relay: tls or smtps given twice\n" },
	{ "relay auth twice", "table s file \"secrets\"\ndelivery \"a\" {\n"
	  " always\n relay x.example tls auth plain auth login credentials "
	  "\"isp\"\n}\n",
	  "t.conf:4: relay: auth given twice\n" },
	{ "relay credentials twice", "table s file \"secrets\"\n"
	  "delivery \"a\" {\n always\n relay x.example tls auth plain "
	  "credentials \"isp\" credentials \"isp\"\n}\n",
	  "t.conf:4: relay: credentials given twice\n" },
	{ "unknown credentials", "table s file \"secrets\"\n"
	  "delivery \"a\" {\n always\n relay x.example tls auth login "
	  "credentials \"nope\"\n}\n",
	  "t.conf:4: unknown credentials \"nope\": no secrets table defined "
	  "above has that label\n" },
	{ "credentials not in a secrets table", "table u file \"users\"\n"
	  "delivery \"a\" {\n always\n relay x.example tls auth login "
	  "credentials \"alice@example.com\"\n}\n",
	  "t.conf:4: unknown credentials \"alice@example.com\": no secrets "
	  "table defined above has that label\n" },
	{ "auth needs credentials", "delivery \"a\" {\n always\n"
	  " relay x.example tls auth cram-md5\n}\n",
	  "t.conf:3: delivery rule \"a\": auth cram-md5 needs credentials "
	  "\"LABEL\"\n" },
	{ "credentials without auth", "table s file \"secrets\"\n"
	  "delivery \"a\" {\n always\n relay x.example tls credentials "
	  "\"isp\"\n}\n",
	  "t.conf:4: delivery rule \"a\": credentials without auth\n" },
	{ "auth over plain", "table s file \"secrets\"\ndelivery \"a\" {\n"
	  " always\n relay x.example port 587 auth login credentials "
	  "\"isp\"\n}\n",
	  "t.conf:4: delivery rule \"a\": auth login over a plain connection "
	  "would send the password in clear: add tls or smtps, or end the "
	  "line with insecure\n" },
	{ "pop3-before-smtp needs pop3", "table s file \"secrets\"\n"
	  "delivery \"a\" {\n always\n relay x.example auth "
	  "pop3-before-smtp credentials \"legacy\"\n}\n",
	  "t.conf:4: delivery rule \"a\": auth pop3-before-smtp needs pop3 or "
	  "pop3s\n" },
	{ "pop3 without pop3-before-smtp", "table s file \"secrets\"\n"
	  "delivery \"a\" {\n always\n relay x.example tls pop3s auth login "
	  "credentials \"isp\"\n}\n",
	  "t.conf:4: relay: pop3s belongs after auth pop3-before-smtp\n" },
	{ "pop3 twice", "table s file \"secrets\"\ndelivery \"a\" {\n always\n"
	  " relay x.example auth pop3-before-smtp pop3 pop3s credentials "
	  "\"legacy\"\n}\n",
	  "t.conf:4: relay: pop3 or pop3s given twice\n" },
	{ "host outside pop3", "delivery \"a\" {\n always\n"
	  " relay x.example host y.example\n}\n",
	  "t.conf:3: relay: host belongs after pop3 or pop3s of auth "
	  "pop3-before-smtp\n" },
	{ "pop3 host invalid", "table s file \"secrets\"\ndelivery \"a\" {\n"
	  " always\n relay x.example auth pop3-before-smtp pop3 host bad_host "
	  "credentials \"legacy\"\n}\n",
	  "t.conf:4: invalid pop3 host \"bad_host\"\n" },
	{ "pop3 host twice", "table s file \"secrets\"\ndelivery \"a\" {\n"
	  " always\n relay x.example auth pop3-before-smtp pop3 host "
	  "p.example host q.example credentials \"legacy\"\n}\n",
	  "t.conf:4: relay: host given twice\n" },
	{ "pop3 without auth", "delivery \"a\" {\n always\n"
	  " relay x.example pop3\n}\n",
	  "t.conf:3: relay: pop3 belongs after auth pop3-before-smtp\n" },
	{ "pop3 port twice", "table s file \"secrets\"\ndelivery \"a\" {\n"
	  " always\n relay x.example auth pop3-before-smtp pop3 port 110 "
	  "port 111 credentials \"legacy\"\n}\n",
	  "t.conf:4: relay: pop3 port given twice\n" },
	{ "insecure without auth", "delivery \"a\" {\n always\n"
	  " relay x.example insecure\n}\n", NULL },
	{ "match table kind", "table n { 10.0.0.0/8 }\ndelivery \"a\" {\n"
	  " match sender <n>\n relay x.example\n}\n",
	  "t.conf:3: table <n> used by match must hold only mail addresses "
	  "and domain names\n" },
	/* limits */
	{ "limit zero", "limit connections 0 per-ip\n",
	  "t.conf:1: invalid number 0: want 1 to 1000000\n" },
	{ "limit twice", "limit connections 5 per-ip\n"
	  "limit connections 6 per-ip\n",
	  "t.conf:2: limit connections is already set at t.conf:1\n" },
	{ "limit messages twice", "limit messages 5 per-user within 1h\n"
	  "limit messages 6 per-user within 2h\n",
	  "t.conf:2: limit messages per-user is already set at t.conf:1\n" },
	{ "limit size", "limit message-size 35X\n",
	  "t.conf:1: invalid size \"35X\": use bytes or a number followed by "
	  "K, M or G (512K 35M)\n" },
	{ "limit size zero", "limit message-size 0\n",
	  "t.conf:1: invalid size \"0\": want 1 byte to 4G\n" },
	{ "limit size big", "limit message-size 5G\n",
	  "t.conf:1: invalid size \"5G\": more than 4G\n" },
	{ "limit exempt kind", "table a { \"a.example\" }\nlimit exempt <a>\n",
	  "t.conf:2: table <a> used by limit exempt must hold only IP "
	  "addresses and networks\n" },
	{ "limit syntax", "limit connections 5 per-session\n",
	  "t.conf:1: syntax error at \"per-session\"\n" },
	{ "reject twice", "reject unknown-sender-domain\n"
	  "reject unknown-sender-domain\n",
	  "t.conf:2: reject unknown-sender-domain is already set at "
	  "t.conf:1\n" },
	/* checks */
	{ "check spf twice", "check spf tag\ncheck spf reject-fail\n",
	  "t.conf:2: check spf is already set at t.conf:1\n" },
	{ "check sender-id twice", "check sender-id tag\n"
	  "check sender-id tag\n",
	  "t.conf:2: check sender-id is already set at t.conf:1\n" },
	{ "spamd address", "check spamd spamd.example tag-above 5\n",
	  "t.conf:1: invalid spamd address \"spamd.example\": want an IPv4 or "
	  "IPv6 address\n" },
	{ "spamd no threshold", "check spamd 127.0.0.1 port 783\n",
	  "t.conf:1: check spamd needs tag-above or reject-above\n" },
	{ "spamd order", "check spamd 127.0.0.1 tag-above 5.5 reject-above 3\n",
	  "t.conf:1: check spamd: reject-above 3.0 is below tag-above 5.5\n" },
	{ "spamd score", "check spamd 127.0.0.1 tag-above 5.123\n",
	  "t.conf:1: invalid score \"5.123\": use a number with at most two "
	  "decimals (5.0)\n" },
	{ "spamd score range", "check spamd 127.0.0.1 tag-above 2000\n",
	  "t.conf:1: invalid score \"2000\": want 0 to 1000\n" },
	{ "spamd option twice", "check spamd 127.0.0.1 tag-above 5 "
	  "timeout 5s timeout 6s\n",
	  "t.conf:1: check spamd: timeout given twice\n" },
	{ "spamd port twice", "check spamd ::1 port 1 port 2 tag-above 5\n",
	  "t.conf:1: check spamd: port given twice\n" },
	{ "spamd tag-above twice", "check spamd ::1 tag-above 5 "
	  "tag-above 6\n",
	  "t.conf:1: check spamd: tag-above given twice\n" },
	{ "spamd reject-above twice", "check spamd ::1 reject-above 5 "
	  "reject-above 6\n",
	  "t.conf:1: check spamd: reject-above given twice\n" },
	{ "spamd on-error twice", "check spamd ::1 tag-above 5 on-error "
	  "accept on-error reject\n",
	  "t.conf:1: check spamd: on-error given twice\n" },
	{ "spamd twice", "check spamd 127.0.0.1 tag-above 5\n"
	  "check spamd ::1 tag-above 5\n",
	  "t.conf:2: check spamd is already set at t.conf:1\n" },
	/* queue */
	{ "queue retry steps", "queue retry 1m 1m 1m 1m 1m 1m 1m 1m 1m 1m 1m "
	  "1m 1m 1m 1m 1m 1m\n",
	  "t.conf:1: queue retry: at most 16 steps\n" },
	{ "queue warn after bounce", "queue warn-after 5d\n"
	  "queue bounce-after 4h\n",
	  "t.conf:2: queue warn-after 5d must be shorter than bounce-after "
	  "4h\n" },
	{ "queue per-domain", "queue deliveries 10 per-domain 20\n",
	  "t.conf:1: queue deliveries: per-domain 20 is more than the 10 "
	  "deliveries in all\n" },
	{ "queue twice", "queue warn-after 1h\nqueue warn-after 2h\n",
	  "t.conf:2: queue warn-after is already set at t.conf:1\n" },
};

static size_t	 bad_row;

/* One row of bad[]: run as its own test, named after the row. */
static void
test_error_row(void)
{
	struct config	*conf;
	size_t		 i = bad_row;

	conf = parse(bad[i].in);
	if (bad[i].want == NULL) {	/* a warning only */
		CHECK(conf != NULL, "rejected: %s", errout);
		config_free(conf);
		return;
	}
	CHECK(conf == NULL, "accepted");
	CHECK(strcmp(errout, bad[i].want) == 0, "\ngot  \"%s\"\nwant \"%s\"",
	    errout, bad[i].want);
	config_free(conf);
}

static void
test_warnings(void)
{
	struct config	*conf;

	conf = parse("delivery \"a\" {\n always\n relay x.example insecure\n"
	    "}\n");
	CHECK(conf != NULL, "insecure without auth rejected");
	CHECK_STR(errout, "t.conf:3: warning: delivery rule \"a\": insecure "
	    "without auth has no effect\n");
	config_free(conf);
	conf = parse("pki a cert \"cert.pem\" key \"key.pem\"\n"
	    "listen on ::1 pki a\n");
	CHECK(conf != NULL, "unused pki rejected");
	CHECK_STR(errout, "t.conf:2: warning: listen: pki a is unused without "
	    "tls, tls-require, smtps or pop3s\n");
	config_free(conf);
}

/* Inputs past the lexer's and the structures' limits. */
static void
test_long_inputs(void)
{
	struct config	*conf;
	char		*big, *text;
	size_t		 n = 9000;
	FILE		*fp;

	if ((big = malloc(n + 1)) == NULL || (text = malloc(n + 64)) == NULL)
		return;
	memset(big, 'a', n);
	big[n] = '\0';

	(void)snprintf(text, n + 64, "hostname %s\nspool \"rel\"\n", big);
	conf = parse(text);
	CHECK(conf == NULL, "long word accepted");
	CHECK_STR(errout, "t.conf:1: string too long\n"
	    "t.conf:2: spool \"rel\" must be an absolute path\n");

	(void)snprintf(text, n + 64, "hostname \"%s\"\n", big);
	conf = parse(text);
	CHECK(conf == NULL, "long quoted string accepted");
	CHECK_STR(errout, "t.conf:1: string too long\n");

	(void)snprintf(text, n + 64, "hostname $%s\n", big);
	conf = parse(text);
	CHECK(conf == NULL, "long macro name accepted");
	CHECK_STR(errout, "t.conf:1: macro name too long\n");

	/* A long path that exists: "./" again and again. */
	for (n = 0; n < 1100; n += 2)
		memcpy(big + n, "./", 2);
	(void)strlcpy(big + n, "key.pem", 8);
	(void)snprintf(text, 9000 + 64, "pki a cert \"cert.pem\" key \"%s\"\n",
	    big);
	conf = parse(text);
	CHECK(conf == NULL, "long pki path accepted");
	CHECK_STR(errout, "t.conf:1: pki a: path too long\n");

	(void)snprintf(text, n + 64, "table a file \"%s\"\n", big);
	conf = parse(text);
	CHECK(conf == NULL, "long table path accepted");
	CHECK_STR(errout, "t.conf:1: table <a>: path too long\n");

	n = 9000;
	memset(big, 'a', 1100);
	big[1100] = '\0';
	(void)snprintf(text, n + 64, "accept for domain \"a.example\" deliver "
	    "maildir \"/%%{user}/%s\"\n", big);
	conf = parse(text);
	CHECK(conf == NULL, "long maildir template accepted");
	CHECK_STR(errout, "t.conf:1: maildir template too long\n");

	/* A NUL byte inside quotes. */
	if ((fp = fopen("t.conf", "w")) != NULL) {
		(void)fwrite("hostname \"a\0b\"\n", 1, 15, fp);
		(void)fclose(fp);
	}
	conf = parse_file("t.conf");
	CHECK(conf == NULL, "NUL accepted");
	CHECK_STR(errout, "t.conf:1: NUL byte in a quoted string\n");
	free(big);
	free(text);
}

static void
test_missing_file(void)
{
	struct config	*conf;

	conf = parse_file("does-not-exist.conf");
	CHECK(conf == NULL, "accepted");
	CHECK_STR(errout, "does-not-exist.conf: No such file or directory\n");
}

static void
cleanup(void)
{
	char	cmd[PATH_MAX + 16];

	if (chdir("/") == 0 && tmpdir[0] != '\0') {
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		(void)system(cmd);
	}
}

int
main(void)
{
	(void)strlcpy(tmpdir, "/tmp/test_parse.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) == -1) {
		perror("mkdtemp");
		return 2;
	}
	(void)umask(022);
	fixtures();

	RUN(test_keywords_sorted);
	RUN(test_durations);
	RUN(test_sizes);
	RUN(test_scores);
	RUN(test_patterns);
	RUN(test_crypt_hashes);
	RUN(test_templates);
	RUN(test_default);
	RUN(test_globals);
	RUN(test_macros);
	RUN(test_lexer);
	RUN(test_include);
	RUN(test_tables);
	RUN(test_pki_listen);
	RUN(test_accept);
	RUN(test_relay_allow);
	RUN(test_delivery);
	RUN(test_limits_checks_queue);
	RUN(test_print_roundtrip);
	for (bad_row = 0; bad_row < sizeof(bad) / sizeof(bad[0]); bad_row++)
		RUN_NAMED(test_error_row, bad[bad_row].name);
	RUN(test_warnings);
	RUN(test_long_inputs);
	RUN(test_missing_file);
	cleanup();
	return unit_done();
}
