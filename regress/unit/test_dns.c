/*
 * Portcullis: the delivery process's DNS (queue/dns.c) against a fake
 * name server, regress/daemon/fakedns.py, run as a child process on
 * loopback.  Run from the top of the tree.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "dns.h"
#include "log.h"
#include "sandbox.h"
#include "unit.h"

#define FAKEDNS		"regress/daemon/fakedns.py"
#define PYTHON		"/usr/bin/python3"
#define TIMEOUT_MS	300	/* c-ares: first try, then doubled */
#define TRIES		2	/* so a dead server takes 0.9 s */
#define WAIT_MAX	10	/* seconds for any one answer */

static const char zone[] =
	"# order: distinct preferences, listed out of order\n"
	"order.test		MX	30 c.hosts.test\n"
	"order.test		MX	10 a.hosts.test\n"
	"order.test		MX	20 b.hosts.test\n"
	"a.hosts.test		A	192.0.2.1\n"
	"b.hosts.test		A	192.0.2.2\n"
	"c.hosts.test		A	192.0.2.3\n"
	"d.hosts.test		A	192.0.2.4\n"
	"e.hosts.test		A	192.0.2.5\n"
	"f.hosts.test		AAAA	2001:db8::6\n"
	"# shuffle: e, then a b c d in any order, then f\n"
	"shuffle.test		MX	20 f.hosts.test\n"
	"shuffle.test		MX	10 a.hosts.test\n"
	"shuffle.test		MX	10 b.hosts.test\n"
	"shuffle.test		MX	5 e.hosts.test\n"
	"shuffle.test		MX	10 c.hosts.test\n"
	"shuffle.test		MX	10 d.hosts.test\n"
	"implicit.test		A	192.0.2.20\n"
	"implicit.test		AAAA	2001:db8::20\n"
	"noaddr.test		TXT	nothing but text\n"
	"zero.test		A	0.0.0.0\n"
	"nullmx.test		MX	0 .\n"
	"nullmx-mixed.test	MX	0 .\n"
	"nullmx-mixed.test	MX	10 a.hosts.test\n"
	"gone.test		NXDOMAIN\n"
	"broken.test		SERVFAIL\n"
	"refused.test		REFUSED\n"
	"dead.test		DROP\n"
	"multi.test		MX	10 multi.hosts.test\n"
	"multi.hosts.test	A	192.0.2.31\n"
	"multi.hosts.test	A	192.0.2.32\n"
	"multi.hosts.test	AAAA	2001:db8::31\n"
	"multi.hosts.test	AAAA	2001:db8::32\n"
	"skip.test		MX	10 missing.hosts.test\n"
	"skip.test		MX	20 b.hosts.test\n"
	"allgone.test		MX	10 missing.hosts.test\n"
	"allgone.test		MX	20 missing2.hosts.test\n"
	"mxdead.test		MX	10 dead.hosts.test\n"
	"halfdead.test		MX	10 missing.hosts.test\n"
	"halfdead.test		MX	20 dead.hosts.test\n"
	"dead.hosts.test		DROP\n"
	"alias.test		CNAME	order.test\n"
	"cnamemx.test		MX	10 alias.hosts.test\n"
	"alias.hosts.test	CNAME	a.hosts.test\n"
	"dangling.test		CNAME	missing.hosts.test\n"
	"literal.test		MX	10 192.0.2.99\n"
	"literal6.test		MX	10 2001:db8::99\n"
	"big.test		TC\n"
	"big.test		MX	10 a.hosts.test\n"
	"dup.test		MX	10 a.hosts.test\n"
	"dup.test		MX	20 A.hosts.test\n"
	"dup.test		MX	30 dupa.hosts.test\n"
	"dupa.hosts.test		A	192.0.2.1\n"
	"slow.test		DELAY	0.5\n"
	"slow.test		MX	10 a.hosts.test\n"
	"slowaddr.test		MX	10 slow.hosts.test\n"
	"slow.hosts.test		DELAY	0.5\n"
	"slow.hosts.test		A	192.0.2.77\n"
	"relay.test		A	192.0.2.40\n"
	"relay.test		A	192.0.2.41\n"
	"relay.test		AAAA	2001:db8::40\n"
	"v6only.test		AAAA	2001:db8::50\n";

/* Generated: many.test, 20 MX hosts of 4 addresses; wide.test, 12. */
#define MANY		20

static struct {
	char		 dir[64];
	char		 zone[PATH_MAX];
	char		 log[PATH_MAX];
	pid_t		 pid;
	int		 port;
} fake = { .pid = -1 };

/* ---- the fake name server -------------------------------------------- */

static void
fake_write_zone(void)
{
	FILE	*f;
	int	 i, j;

	if ((f = fopen(fake.zone, "w")) == NULL) {
		perror(fake.zone);
		exit(1);
	}
	fputs(zone, f);
	for (i = 1; i <= MANY; i++) {
		fprintf(f, "many.test MX %d h%02d.many.test\n", i, i);
		for (j = 1; j <= 2; j++) {
			fprintf(f, "h%02d.many.test A 198.51.100.%d\n", i,
			    i * 2 + j);
			fprintf(f, "h%02d.many.test AAAA 2001:db8:1::%d\n", i,
			    i * 2 + j);
		}
	}
	for (i = 1; i <= 12; i++)
		fprintf(f, "wide.test A 203.0.113.%d\n", i);
	if (fclose(f) == EOF) {
		perror(fake.zone);
		exit(1);
	}
}

static void
fake_stop(void)
{
	int	 i, status;

	if (fake.pid == -1)
		return;
	(void)kill(fake.pid, SIGTERM);
	for (i = 0; i < 50; i++) {
		if (waitpid(fake.pid, &status, WNOHANG) == fake.pid)
			break;
		usleep(100000);
	}
	if (i == 50) {
		(void)kill(fake.pid, SIGKILL);
		(void)waitpid(fake.pid, &status, 0);
	}
	fake.pid = -1;
	(void)unlink(fake.zone);
	(void)unlink(fake.log);
	(void)rmdir(fake.dir);
}

static void
fake_start(void)
{
	struct pollfd	 pfd;
	char		 line[64];
	size_t		 len = 0;
	ssize_t		 n;
	int		 fds[2], logfd, devnull;
	const char	*errstr;

	(void)strlcpy(fake.dir, "/tmp/test_dns.XXXXXX", sizeof(fake.dir));
	if (mkdtemp(fake.dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	(void)snprintf(fake.zone, sizeof(fake.zone), "%s/zone", fake.dir);
	(void)snprintf(fake.log, sizeof(fake.log), "%s/log", fake.dir);
	fake_write_zone();
	if (pipe(fds) == -1) {
		perror("pipe");
		exit(1);
	}
	(void)fflush(stdout);
	if ((fake.pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (fake.pid == 0) {
		if ((logfd = open(fake.log, O_WRONLY | O_CREAT | O_TRUNC,
		    0600)) == -1 ||
		    (devnull = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(devnull, STDIN_FILENO) == -1 ||
		    dup2(fds[1], STDOUT_FILENO) == -1 ||
		    dup2(logfd, STDERR_FILENO) == -1)
			_exit(99);
		close(fds[0]);
		close(fds[1]);
		execl(PYTHON, "python3", FAKEDNS, "--zone", fake.zone,
		    "--port", "0", "-v", (char *)NULL);
		_exit(98);
	}
	close(fds[1]);
	atexit(fake_stop);

	/* "PORT n\n", within 10 seconds. */
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
		if (poll(&pfd, 1, 10000) <= 0) {
			printf("fakedns: no port within 10 s\n");
			exit(1);
		}
		if ((n = read(fds[0], line + len, sizeof(line) - 1 - len)) <=
		    0) {
			printf("fakedns: exited before its port (see %s)\n",
			    fake.log);
			exit(1);
		}
		len += (size_t)n;
	}
	line[len] = '\0';
	close(fds[0]);
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, "PORT ", 5) != 0) {
		printf("fakedns: said \"%s\"\n", line);
		exit(1);
	}
	fake.port = (int)strtonum(line + 5, 1, 65535, &errstr);
	if (errstr != NULL) {
		printf("fakedns: port %s: %s\n", line + 5, errstr);
		exit(1);
	}
}

static int
fake_set_server(void)
{
	struct sockaddr_in	 sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(fake.port);
	return dns_set_server((struct sockaddr *)&sin, sizeof(sin));
}

/* Did the fake server see a query whose name contains s? */
static int
fake_saw(const char *s)
{
	char	 buf[1 << 16];
	ssize_t	 n;
	int	 fd;

	if ((fd = open(fake.log, O_RDONLY)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/* ---- waiting for answers --------------------------------------------- */

struct got {
	int		 ncalls;
	int		 status;
	struct mx_list	 mx;
	struct timespec	 when;
};

static void
got_cb(void *arg, int status, const struct mx_list *mx)
{
	struct got	*g = arg;

	g->ncalls++;
	g->status = status;
	if (mx != NULL)
		g->mx = *mx;
	else
		g->mx.nhosts = (size_t)-1;
	clock_gettime(CLOCK_MONOTONIC, &g->when);
}

static void
expired(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	*(int *)arg = 1;
}

/* Run the loop until *done or for the given milliseconds. */
static void
loop_for(const int *done, int ms)
{
	struct event	 ev;
	struct timeval	 tv;
	int		 over = 0;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_set(&ev, expired, &over);
	evtimer_add(&ev, &tv);
	while (!over && (done == NULL || !*done))
		if (event_loop(EVLOOP_ONCE) != 0)
			break;
	evtimer_del(&ev);
}

static double
elapsed(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) +
	    (double)(t1->tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *
status_name(int status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_NOTFOUND:
		return "notfound";
	case DNS_NULLMX:
		return "nullmx";
	case DNS_INVALID:
		return "invalid";
	}
	return "?";
}

/*
 * The list as one line: "PREF NAME ADDR ADDR|..."; a host's status
 * after "!" when it is not ok.  Every port must be 0.
 */
static const char *
render(const struct mx_list *mx)
{
	static char			 buf[8192];
	char				 a[INET6_ADDRSTRLEN], tmp[320];
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const struct mx_host		*h;
	size_t				 i, j;

	buf[0] = '\0';
	if (mx->nhosts > DNS_MX_MAX || mx->naddrs > DNS_ADDR_MAX)
		return "(out of bounds)";
	for (i = 0; i < mx->nhosts; i++) {
		h = &mx->hosts[i];
		(void)snprintf(tmp, sizeof(tmp), "%s%d %s", i ? "|" : "",
		    h->pref, h->name);
		(void)strlcat(buf, tmp, sizeof(buf));
		if (h->status != DNS_OK) {
			(void)strlcat(buf, " !", sizeof(buf));
			(void)strlcat(buf, status_name(h->status),
			    sizeof(buf));
		}
		if (h->addr + h->naddrs > mx->naddrs)
			return "(address index out of bounds)";
		for (j = h->addr; j < h->addr + h->naddrs; j++) {
			if (mx->addrs[j].ss_family == AF_INET) {
				sin = (const struct sockaddr_in *)
				    &mx->addrs[j];
				if (sin->sin_port != 0)
					return "(port set)";
				inet_ntop(AF_INET, &sin->sin_addr, a,
				    sizeof(a));
			} else if (mx->addrs[j].ss_family == AF_INET6) {
				sin6 = (const struct sockaddr_in6 *)
				    &mx->addrs[j];
				if (sin6->sin6_port != 0)
					return "(port set)";
				inet_ntop(AF_INET6, &sin6->sin6_addr, a,
				    sizeof(a));
			} else
				return "(bad family)";
			(void)strlcat(buf, " ", sizeof(buf));
			(void)strlcat(buf, a, sizeof(buf));
		}
	}
	return buf;
}

/* Ask, check the answer is not synchronous, wait for it. */
static void
ask(int mx, const char *name, struct got *g)
{
	struct dns_req	*req;

	memset(g, 0, sizeof(*g));
	if (mx)
		req = dns_mx(name, got_cb, g);
	else
		req = dns_host(name, got_cb, g);
	CHECK(req != NULL, "%s: no request", name);
	CHECK(g->ncalls == 0, "%s: called back from inside the call", name);
	if (req == NULL)
		return;
	loop_for(&g->ncalls, WAIT_MAX * 1000);
	CHECK(g->ncalls == 1, "%s: %d answers, want 1", name, g->ncalls);
}

/* ---- tests ----------------------------------------------------------- */

struct row {
	const char	*name;
	int		 status;
	const char	*want;		/* render(), NULL: not checked */
};

static void
check_rows(int mx, const struct row *rows, size_t n)
{
	struct got	 g;
	size_t		 i;

	for (i = 0; i < n; i++) {
		ask(mx, rows[i].name, &g);
		CHECK(g.status == rows[i].status, "%s: got %s want %s",
		    rows[i].name, status_name(g.status),
		    status_name(rows[i].status));
		if (g.status == DNS_OK)
			CHECK(g.mx.naddrs > 0, "%s: ok without an address",
			    rows[i].name);
		else
			CHECK(g.mx.naddrs == 0, "%s: %s with addresses",
			    rows[i].name, status_name(g.status));
		if (rows[i].want != NULL) {
			CHECK(strcmp(render(&g.mx), rows[i].want) == 0,
			    "%s: got \"%s\" want \"%s\"", rows[i].name,
			    render(&g.mx), rows[i].want);
		}
	}
}

static void
test_mx(void)
{
	static const struct row rows[] = {
		{ "order.test", DNS_OK, "10 a.hosts.test 192.0.2.1|"
		    "20 b.hosts.test 192.0.2.2|30 c.hosts.test 192.0.2.3" },
		{ "ORDER.test.", DNS_OK, "10 a.hosts.test 192.0.2.1|"
		    "20 b.hosts.test 192.0.2.2|30 c.hosts.test 192.0.2.3" },
		{ "multi.test", DNS_OK, "10 multi.hosts.test 2001:db8::31 "
		    "192.0.2.31 2001:db8::32 192.0.2.32" },
		{ "implicit.test", DNS_OK,
		    "0 implicit.test 2001:db8::20 192.0.2.20" },
		{ "noaddr.test", DNS_NOTFOUND, "0 noaddr.test !notfound" },
		{ "zero.test", DNS_NOTFOUND, "0 zero.test" },
		{ "nullmx.test", DNS_NULLMX, "" },
		{ "nullmx-mixed.test", DNS_OK, "10 a.hosts.test 192.0.2.1" },
		{ "gone.test", DNS_NOTFOUND, "" },
		{ "nowhere.test", DNS_NOTFOUND, "" },
		{ "broken.test", DNS_TEMPFAIL, "" },
		{ "refused.test", DNS_TEMPFAIL, "" },
		{ "skip.test", DNS_OK, "10 missing.hosts.test !notfound|"
		    "20 b.hosts.test 192.0.2.2" },
		{ "allgone.test", DNS_NOTFOUND, "10 missing.hosts.test "
		    "!notfound|20 missing2.hosts.test !notfound" },
		{ "alias.test", DNS_OK, "10 a.hosts.test 192.0.2.1|"
		    "20 b.hosts.test 192.0.2.2|30 c.hosts.test 192.0.2.3" },
		{ "cnamemx.test", DNS_OK, "10 alias.hosts.test 192.0.2.1" },
		{ "dangling.test", DNS_NOTFOUND, "" },
		{ "literal.test", DNS_OK, "10 192.0.2.99 192.0.2.99" },
		{ "literal6.test", DNS_OK, "10 2001:db8::99 2001:db8::99" },
		{ "big.test", DNS_OK, "10 a.hosts.test 192.0.2.1" },
		{ "dup.test", DNS_OK, "10 a.hosts.test 192.0.2.1|"
		    "30 dupa.hosts.test" },
		{ "[192.0.2.5]", DNS_OK, "0 [192.0.2.5] 192.0.2.5" },
		{ "[IPv6:2001:db8::7]", DNS_OK,
		    "0 [IPv6:2001:db8::7] 2001:db8::7" },
		{ "[2001:db8::7]", DNS_INVALID, "" },
		{ "[0.0.0.0]", DNS_INVALID, "" },
		{ "[192.0.2.5", DNS_INVALID, "" },
		{ "", DNS_INVALID, "" },
		{ ".", DNS_INVALID, "" },
		{ "a..test", DNS_INVALID, "" },
		{ "bad name.test", DNS_INVALID, "" },
		{ "b\303\244d.test", DNS_INVALID, "" },
		{ "a1234567890123456789012345678901234567890123456789012345"
		    "67890123.test", DNS_INVALID, "" },
	};

	check_rows(1, rows, sizeof(rows) / sizeof(rows[0]));
	CHECK(fake_saw("udp big.test MX") == 1 &&
	    fake_saw("tcp big.test MX") == 1,
	    "big.test: no TCP retry after a truncated answer");
}

static void
test_host(void)
{
	static const struct row rows[] = {
		{ "relay.test", DNS_OK,
		    "0 relay.test 2001:db8::40 192.0.2.40 192.0.2.41" },
		{ "v6only.test", DNS_OK, "0 v6only.test 2001:db8::50" },
		{ "alias.hosts.test", DNS_OK, "0 alias.hosts.test 192.0.2.1" },
		{ "wide.test", DNS_OK, "0 wide.test 203.0.113.1 203.0.113.2 "
		    "203.0.113.3 203.0.113.4 203.0.113.5 203.0.113.6 "
		    "203.0.113.7 203.0.113.8" },
		{ "192.0.2.8", DNS_OK, "0 192.0.2.8 192.0.2.8" },
		{ "[192.0.2.8]", DNS_OK, "0 [192.0.2.8] 192.0.2.8" },
		{ "2001:db8::9", DNS_OK, "0 2001:db8::9 2001:db8::9" },
		{ "[2001:db8::9]", DNS_OK, "0 [2001:db8::9] 2001:db8::9" },
		{ "[IPv6:2001:db8::9]", DNS_OK,
		    "0 [IPv6:2001:db8::9] 2001:db8::9" },
		{ "gone.test", DNS_NOTFOUND, "0 gone.test !notfound" },
		{ "noaddr.test", DNS_NOTFOUND, "0 noaddr.test !notfound" },
		{ "broken.test", DNS_TEMPFAIL, "0 broken.test !tempfail" },
		{ "0.0.0.0", DNS_INVALID, "" },
		{ "::", DNS_INVALID, "" },
		{ "", DNS_INVALID, "" },
		{ "bad/name", DNS_INVALID, "" },
	};

	check_rows(0, rows, sizeof(rows) / sizeof(rows[0]));
	CHECK(fake_saw("192.0.2.8") == 0 && fake_saw("2001:db8::9") == 0,
	    "an address literal was sent as a query");
}

/* Preference 5 first, 20 last, the four of 10 in every order. */
static void
test_shuffle(void)
{
	static const char *const mid[] = {
		"a.hosts.test", "b.hosts.test", "c.hosts.test", "d.hosts.test"
	};
	struct got	 g;
	int		 first[4] = { 0, 0, 0, 0 }, i, j, k, seen;

	for (i = 0; i < 60; i++) {
		ask(1, "shuffle.test", &g);
		CHECK(g.status == DNS_OK && g.mx.nhosts == 6,
		    "run %d: %s, %zu hosts", i, status_name(g.status),
		    g.mx.nhosts);
		if (g.status != DNS_OK || g.mx.nhosts != 6)
			return;
		CHECK_STR(g.mx.hosts[0].name, "e.hosts.test");
		CHECK_STR(g.mx.hosts[5].name, "f.hosts.test");
		CHECK(g.mx.hosts[0].pref == 5 && g.mx.hosts[5].pref == 20,
		    "prefs %d %d", g.mx.hosts[0].pref, g.mx.hosts[5].pref);
		for (k = 0; k < 4; k++) {
			seen = 0;
			for (j = 1; j < 5; j++) {
				CHECK(g.mx.hosts[j].pref == 10, "pref %d",
				    g.mx.hosts[j].pref);
				if (strcmp(g.mx.hosts[j].name, mid[k]) == 0)
					seen++;
			}
			CHECK(seen == 1, "%s seen %d times", mid[k], seen);
			if (strcmp(g.mx.hosts[1].name, mid[k]) == 0)
				first[k]++;
		}
	}
	/* Each is first with p = 1/4: never in 60 runs, p < 1e-6. */
	for (k = 0; k < 4; k++)
		CHECK(first[k] > 0, "%s never first of its preference in 60 "
		    "runs", mid[k]);
}

/* 16 hosts of the 20, and 32 addresses, the best ones. */
static void
test_limits(void)
{
	struct got	 g;
	char		 want[32];
	size_t		 i;

	ask(1, "many.test", &g);
	CHECK(g.status == DNS_OK, "got %s", status_name(g.status));
	CHECK(g.mx.nhosts == DNS_MX_MAX, "%zu hosts, want %d", g.mx.nhosts,
	    DNS_MX_MAX);
	CHECK(g.mx.naddrs == DNS_ADDR_MAX, "%zu addresses, want %d",
	    g.mx.naddrs, DNS_ADDR_MAX);
	for (i = 0; i < g.mx.nhosts && i < DNS_MX_MAX; i++) {
		(void)snprintf(want, sizeof(want), "h%02zu.many.test", i + 1);
		CHECK_STR(g.mx.hosts[i].name, want);
		CHECK(g.mx.hosts[i].pref == (int)i + 1, "pref %d want %zu",
		    g.mx.hosts[i].pref, i + 1);
		CHECK(g.mx.hosts[i].naddrs == (i < 8 ? 4U : 0U),
		    "host %zu: %zu addresses", i, g.mx.hosts[i].naddrs);
	}
	CHECK(strlen(render(&g.mx)) > 0 && render(&g.mx)[0] != '(', "%s",
	    render(&g.mx));
}

/* A server that never answers: a temporary failure, soon. */
static void
test_timeout(void)
{
	static const char *const names[] = {
		"dead.test", "mxdead.test", "halfdead.test"
	};
	struct timespec	 t0;
	struct got	 g;
	size_t		 i;
	double		 s;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ask(1, names[i], &g);
		s = elapsed(&t0, &g.when);
		CHECK(g.status == DNS_TEMPFAIL, "%s: got %s want tempfail",
		    names[i], status_name(g.status));
		CHECK(s >= 0.5 && s < 3.0, "%s: answered in %.2f s", names[i],
		    s);
	}
	ask(1, "halfdead.test", &g);
	CHECK(strcmp(render(&g.mx), "10 missing.hosts.test !notfound|"
	    "20 dead.hosts.test !tempfail") == 0, "got \"%s\"",
	    render(&g.mx));
	/* The server still works for others after timeouts. */
	ask(1, "order.test", &g);
	CHECK(g.status == DNS_OK, "order.test after timeouts: %s",
	    status_name(g.status));
}

/* Cancelled requests never call back, whatever stage they are in. */
static void
test_cancel(void)
{
	struct dns_req	*req[12];
	struct got	 g[12], late;
	int		 i;

	/* Before the MX answer (it comes after 0.5 s). */
	memset(g, 0, sizeof(g));
	req[0] = dns_mx("slow.test", got_cb, &g[0]);
	CHECK(req[0] != NULL, "no request");
	loop_for(NULL, 100);
	dns_cancel(req[0]);
	/* After the MX answer, before the A/AAAA ones (0.5 s). */
	req[1] = dns_mx("slowaddr.test", got_cb, &g[1]);
	CHECK(req[1] != NULL, "no request");
	loop_for(NULL, 200);
	dns_cancel(req[1]);
	/* Answered at once, not yet delivered. */
	req[2] = dns_host("192.0.2.1", got_cb, &g[2]);
	req[3] = dns_mx("[192.0.2.1]", got_cb, &g[3]);
	req[4] = dns_mx("", got_cb, &g[4]);
	dns_cancel(req[2]);
	dns_cancel(req[3]);
	dns_cancel(req[4]);
	dns_cancel(NULL);
	/* Every answer has come and gone. */
	loop_for(NULL, 1500);
	for (i = 0; i < 5; i++)
		CHECK(g[i].ncalls == 0, "request %d called back %d times", i,
		    g[i].ncalls);

	/* Many at once, every other one cancelled. */
	memset(g, 0, sizeof(g));
	for (i = 0; i < 12; i++)
		req[i] = dns_mx(i % 3 == 0 ? "order.test" : i % 3 == 1 ?
		    "multi.test" : "gone.test", got_cb, &g[i]);
	for (i = 0; i < 12; i += 2)
		dns_cancel(req[i]);
	memset(&late, 0, sizeof(late));
	(void)dns_mx("slow.test", got_cb, &late);
	loop_for(&late.ncalls, WAIT_MAX * 1000);
	for (i = 0; i < 12; i++) {
		if (i % 2 == 0) {
			CHECK(g[i].ncalls == 0, "cancelled %d called back",
			    i);
			continue;
		}
		CHECK(g[i].ncalls == 1, "request %d: %d answers", i,
		    g[i].ncalls);
		CHECK(g[i].status == (i % 3 == 2 ? DNS_NOTFOUND : DNS_OK),
		    "request %d: %s", i, status_name(g[i].status));
	}
	CHECK(late.ncalls == 1 && late.status == DNS_OK, "slow.test: %d %s",
	    late.ncalls, status_name(late.status));
}

/* A callback may start and cancel requests. */
static struct dns_req	*chain_victim;
static struct got	 chain_got[2];

static void
chain_cb(void *arg, int status, const struct mx_list *mx)
{
	got_cb(arg, status, mx);
	dns_cancel(chain_victim);
	chain_victim = NULL;
	(void)dns_mx("order.test", got_cb, &chain_got[1]);
}

static void
test_reentry(void)
{
	struct got	 victim;

	memset(chain_got, 0, sizeof(chain_got));
	memset(&victim, 0, sizeof(victim));
	chain_victim = dns_mx("slow.test", got_cb, &victim);
	CHECK(dns_mx("multi.test", chain_cb, &chain_got[0]) != NULL,
	    "no request");
	loop_for(&chain_got[1].ncalls, WAIT_MAX * 1000);
	CHECK(chain_got[0].ncalls == 1 && chain_got[1].ncalls == 1,
	    "answers %d %d", chain_got[0].ncalls, chain_got[1].ncalls);
	CHECK(chain_got[1].status == DNS_OK, "got %s",
	    status_name(chain_got[1].status));
	loop_for(NULL, 1000);
	CHECK(victim.ncalls == 0, "cancelled from a callback, called back");
}

/* A new server while a query runs takes effect once it is done. */
static void
test_set_server(void)
{
	struct sockaddr_in	 sin;
	struct got		 g;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	CHECK(dns_set_server((struct sockaddr *)&sin, 4) == -1,
	    "a short address taken");
	sin.sin_family = AF_UNIX;
	CHECK(dns_set_server((struct sockaddr *)&sin, sizeof(sin)) == -1,
	    "AF_UNIX taken");

	memset(&g, 0, sizeof(g));
	CHECK(dns_mx("slow.test", got_cb, &g) != NULL, "no request");
	loop_for(NULL, 100);
	CHECK(fake_set_server() == 0, "refused while a query runs");
	loop_for(&g.ncalls, WAIT_MAX * 1000);
	CHECK(g.ncalls == 1 && g.status == DNS_OK, "slow.test: %s",
	    status_name(g.status));
	ask(1, "order.test", &g);
	CHECK(g.status == DNS_OK, "after: %s", status_name(g.status));
}

/* Shut down with requests in flight: no callback; then start again. */
static void
test_shutdown(void)
{
	struct got	 g[3];

	memset(g, 0, sizeof(g));
	CHECK(dns_mx("slow.test", got_cb, &g[0]) != NULL, "no request");
	CHECK(dns_mx("slowaddr.test", got_cb, &g[1]) != NULL, "no request");
	loop_for(NULL, 200);
	/* Answered, the answer not delivered yet. */
	CHECK(dns_host("192.0.2.1", got_cb, &g[2]) != NULL, "no request");
	dns_shutdown();
	loop_for(NULL, 1200);
	CHECK(g[0].ncalls == 0 && g[1].ncalls == 0 && g[2].ncalls == 0,
	    "called back after shutdown: %d %d %d", g[0].ncalls,
	    g[1].ncalls, g[2].ncalls);
	CHECK(dns_mx("order.test", got_cb, &g[0]) == NULL,
	    "a request after shutdown");

	CHECK(dns_init_timeout(TIMEOUT_MS, TRIES) == 0, "dns_init again");
	CHECK(fake_set_server() == 0, "dns_set_server again");
	ask(1, "order.test", &g[0]);
	CHECK(g[0].status == DNS_OK, "after restart: %s",
	    status_name(g[0].status));
	dns_shutdown();
	dns_shutdown();
}

/*
 * Under sandbox_delivery(): dns_init() before it, dns_set_server() and
 * queries after it, UDP, TCP and timeouts.  In a child, before this
 * process has an event loop or a channel of its own.
 */
#define MUST(c) do {							\
	if (!(c)) {							\
		dprintf(STDERR_FILENO, "line %d: %s\n", __LINE__, #c);	\
		_exit(3);						\
	}								\
} while (0)

static void
sandbox_child(void)
{
	static const struct {
		int		 mx;
		const char	*name;
		int		 status;
	} q[] = {
		{ 1, "multi.test", DNS_OK },
		{ 1, "big.test", DNS_OK },		/* TCP */
		{ 1, "implicit.test", DNS_OK },
		{ 1, "nullmx.test", DNS_NULLMX },
		{ 1, "gone.test", DNS_NOTFOUND },
		{ 1, "dead.test", DNS_TEMPFAIL },	/* timeout */
		{ 0, "relay.test", DNS_OK },
		{ 0, "[IPv6:2001:db8::1]", DNS_OK },
	};
	struct got	 g;
	size_t		 i;

	log_init(1, LOG_MAIL);
	log_procname("delivery");
	(void)event_init();
	MUST(dns_init_timeout(TIMEOUT_MS, TRIES) == 0);
	sandbox_delivery();
	MUST(fake_set_server() == 0);
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		memset(&g, 0, sizeof(g));
		if (q[i].mx)
			MUST(dns_mx(q[i].name, got_cb, &g) != NULL);
		else
			MUST(dns_host(q[i].name, got_cb, &g) != NULL);
		loop_for(&g.ncalls, WAIT_MAX * 1000);
		if (g.ncalls != 1 || g.status != q[i].status) {
			dprintf(STDERR_FILENO, "%s: %d answers, %s\n",
			    q[i].name, g.ncalls, status_name(g.status));
			_exit(4);
		}
	}
	dns_shutdown();
	_exit(0);
}

static void
test_sandbox(void)
{
	char	 err[4096];
	size_t	 len = 0;
	ssize_t	 n;
	pid_t	 pid;
	int	 fds[2], status = 0, i;

	if (pipe(fds) == -1) {
		CHECK(0, "pipe: %s", strerror(errno));
		return;
	}
	(void)fflush(stdout);
	if ((pid = fork()) == -1) {
		CHECK(0, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) == -1)
			_exit(99);
		close(fds[1]);
		sandbox_child();
	}
	close(fds[1]);
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	for (i = 0; i < 300; i++) {		/* 30 s */
		while (len < sizeof(err) - 1 &&
		    (n = read(fds[0], err + len, sizeof(err) - 1 - len)) > 0)
			len += (size_t)n;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (i == 300) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		CHECK(0, "the sandboxed child did not finish in 30 s");
	}
	while (len < sizeof(err) - 1 &&
	    (n = read(fds[0], err + len, sizeof(err) - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = '\0';
	close(fds[0]);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child: %s %d, stderr: %s", WIFEXITED(status) ? "exit" :
	    "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
	    WTERMSIG(status), err);
}

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	fake_start();

	/* First: the child must not share this process's event loop. */
	RUN(test_sandbox);

	log_init(1, LOG_MAIL);
	log_procname("test_dns");
	if (getenv("TEST_DNS_VERBOSE") != NULL)
		log_setverbose(1);
	(void)event_init();
	if (dns_init_timeout(TIMEOUT_MS, TRIES) == -1 ||
	    fake_set_server() == -1) {
		printf("dns_init or dns_set_server failed\n");
		return 1;
	}
	RUN(test_mx);
	RUN(test_host);
	RUN(test_shuffle);
	RUN(test_limits);
	RUN(test_timeout);
	RUN(test_cancel);
	RUN(test_reentry);
	RUN(test_set_server);
	RUN(test_shutdown);
	fake_stop();
	return unit_done();
}
