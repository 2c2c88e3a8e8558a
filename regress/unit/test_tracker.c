/*
 * Unit tests of the POP3 login tracker (relayd-auth/tracker.c): record
 * and look up, IPv4-mapped IPv6, expiry, the bound, the newest login
 * winning, and the state file's round trip and refusals.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "tracker.h"

#define T0	1700000000

static struct tracker_addr
A(const char *s)
{
	struct tracker_addr	 ta;

	if (tracker_addr_parse(&ta, s) == -1) {
		printf("bad test address %s\n", s);
		exit(2);
	}
	return ta;
}

static void
test_record_lookup(void)
{
	struct tracker		 t;
	struct tracker_addr	 a = A("192.0.2.1"), b = A("192.0.2.2");

	tracker_init(&t, 10, 1800);
	CHECK(tracker_age(&t, &a, T0) == -1, "age before any login");
	CHECK(tracker_record(&t, &a, "alice", T0) == 0, "record");
	CHECK(tracker_age(&t, &a, T0 + 5) == 5, "got %lld want 5",
	    (long long)tracker_age(&t, &a, T0 + 5));
	CHECK(tracker_age(&t, &b, T0 + 5) == -1, "another address matched");
	CHECK(t.count == 1, "count %zu", t.count);
	tracker_clear(&t);
	CHECK(t.count == 0, "count %zu after clear", t.count);
}

static void
test_ipv4_mapped(void)
{
	struct tracker		 t;
	struct tracker_addr	 v4 = A("192.0.2.7"), mapped = A("::ffff:192.0.2.7");
	struct tracker_addr	 v6 = A("2001:db8::7"), v6b = A("2001:db8::0:7");
	struct sockaddr_in6	 sin6;
	struct tracker_addr	 fromsa;
	char			 buf[TRACKER_ADDR_STRSIZE];

	tracker_init(&t, 10, 1800);
	tracker_addr_format(&mapped, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.7");
	CHECK(tracker_record(&t, &mapped, "bob", T0) == 0, "record");
	CHECK(tracker_age(&t, &v4, T0 + 1) == 1, "mapped login not found "
	    "by its IPv4 address");

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	(void)inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr);
	CHECK(tracker_addr_set(&fromsa, (struct sockaddr *)&sin6) == 0,
	    "addr_set");
	CHECK(tracker_age(&t, &fromsa, T0 + 2) == 2, "mapped client");

	CHECK(tracker_record(&t, &v6, "carol", T0) == 0, "record v6");
	CHECK(tracker_age(&t, &v6b, T0 + 3) == 3, "same v6, other spelling");
	tracker_addr_format(&v6, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db8::7");
	tracker_clear(&t);
}

static void
test_exact_match(void)
{
	struct tracker		 t;
	struct tracker_addr	 a = A("10.0.0.1");
	struct tracker_addr	 others[] = { A("10.0.0.2"), A("10.0.0.0"),
	    A("::ffff:10.0.0.2"), A("::a00:1"), A("::10.0.0.1") };
	size_t			 i;

	tracker_init(&t, 10, 1800);
	(void)tracker_record(&t, &a, "alice", T0);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		CHECK(tracker_age(&t, &others[i], T0) == -1,
		    "other address %zu matched", i);
	tracker_clear(&t);
}

static void
test_expiry(void)
{
	struct tracker		 t;
	struct tracker_addr	 a = A("192.0.2.1"), b = A("192.0.2.2");

	tracker_init(&t, 10, 60);
	(void)tracker_record(&t, &a, "alice", T0);
	(void)tracker_record(&t, &b, "bob", T0 + 30);
	CHECK(tracker_age(&t, &a, T0 + 60) == 60, "at the window's edge");
	CHECK(tracker_age(&t, &a, T0 + 61) == -1, "past the window");
	CHECK(tracker_expire(&t, T0 + 61) == 1, "one to expire");
	CHECK(t.count == 1, "count %zu", t.count);
	CHECK(tracker_age(&t, &b, T0 + 61) == 31, "the other one stays");
	tracker_set_ttl(&t, 10);
	CHECK(tracker_age(&t, &b, T0 + 61) == -1, "a shorter ttl counts");
	CHECK(tracker_expire(&t, T0 + 61) == 1, "expired by the new ttl");
	tracker_clear(&t);
}

static void
test_bound(void)
{
	struct tracker		 t;
	struct tracker_addr	 a;
	char			 s[32];
	int			 i;

	tracker_init(&t, 100, 1800);
	for (i = 0; i < 150; i++) {
		(void)snprintf(s, sizeof(s), "10.0.%d.%d", i / 250, i % 250);
		a = A(s);
		CHECK(tracker_record(&t, &a, "u", T0 + i) == 0, "record %d", i);
	}
	CHECK(t.count == 100, "count %zu want 100", t.count);
	a = A("10.0.0.49");
	CHECK(tracker_age(&t, &a, T0 + 150) == -1, "the oldest not evicted");
	a = A("10.0.0.50");
	CHECK(tracker_age(&t, &a, T0 + 150) == 100, "got %lld want 100",
	    (long long)tracker_age(&t, &a, T0 + 150));
	/* a new login of a kept entry moves it to the back of the line */
	(void)tracker_record(&t, &a, "u", T0 + 151);
	a = A("10.0.9.9");
	(void)tracker_record(&t, &a, "u", T0 + 152);
	a = A("10.0.0.50");
	CHECK(tracker_age(&t, &a, T0 + 152) == 1, "renewed entry evicted");
	a = A("10.0.0.51");
	CHECK(tracker_age(&t, &a, T0 + 152) == -1, "the next oldest not evicted");
	tracker_clear(&t);
}

static void
test_newest_wins(void)
{
	struct tracker		 t;
	struct tracker_addr	 a = A("192.0.2.1");

	tracker_init(&t, 10, 1800);
	(void)tracker_record(&t, &a, "alice", T0);
	(void)tracker_record(&t, &a, "bob", T0 + 100);
	(void)tracker_record(&t, &a, "carol", T0 + 50);
	CHECK(tracker_age(&t, &a, T0 + 110) == 10, "got %lld want 10",
	    (long long)tracker_age(&t, &a, T0 + 110));
	(void)tracker_record(&t, &a, "alice", T0 + 105);
	CHECK(tracker_age(&t, &a, T0 + 110) == 5, "alice again");
	CHECK(t.count == 3, "one entry per user: %zu", t.count);
	/* a clock set back does not make a login older */
	(void)tracker_record(&t, &a, "alice", T0 + 1);
	CHECK(tracker_age(&t, &a, T0 + 110) == 5, "went back in time");
	CHECK(tracker_flush(&t, &a) == 3, "flush the address");
	CHECK(tracker_age(&t, &a, T0 + 110) == -1, "flushed");
	tracker_clear(&t);
}

static void
test_flush(void)
{
	struct tracker		 t;
	struct tracker_addr	 a = A("192.0.2.1"), b = A("192.0.2.2");
	struct tracker_addr	 c = A("192.0.2.3");

	tracker_init(&t, 10, 1800);
	(void)tracker_record(&t, &a, "alice", T0);
	(void)tracker_record(&t, &b, "bob", T0);
	(void)tracker_record(&t, &b, "bert", T0);
	CHECK(tracker_flush(&t, &c) == 0, "nothing from c");
	CHECK(tracker_flush(&t, &b) == 2, "both of b");
	CHECK(tracker_age(&t, &a, T0) == 0, "a stays");
	(void)tracker_record(&t, &c, "carol", T0);
	CHECK(tracker_flush(&t, NULL) == 2, "all");
	CHECK(t.count == 0, "count %zu", t.count);
}

static void
test_users(void)
{
	static const struct {
		const char	*user;
		int		 ok;
	} rows[] = {
		{ "alice", 1 },
		{ "alice@example.com", 1 },
		{ "j\xc3\xb6rg", 1 },
		{ "", 0 },
		{ "al ice", 0 },
		{ "al\tice", 0 },
		{ "alice\n", 0 },
		{ "a\x7f", 0 },
	};
	char	 big[TRACKER_USER_MAX + 2];
	size_t	 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(tracker_user_valid(rows[i].user) == rows[i].ok,
		    "user row %zu: got %d want %d", i,
		    tracker_user_valid(rows[i].user), rows[i].ok);
	memset(big, 'x', sizeof(big));
	big[TRACKER_USER_MAX] = '\0';
	CHECK(tracker_user_valid(big), "%d bytes refused", TRACKER_USER_MAX);
	big[TRACKER_USER_MAX] = 'x';
	big[TRACKER_USER_MAX + 1] = '\0';
	CHECK(!tracker_user_valid(big), "%d bytes taken",
	    TRACKER_USER_MAX + 1);
}

static void
test_addresses(void)
{
	static const struct {
		const char	*in;
		const char	*want;	/* NULL: refused */
	} rows[] = {
		{ "127.0.0.2", "127.0.0.2" },
		{ "::1", "::1" },
		{ "::FFFF:10.1.2.3", "10.1.2.3" },
		{ "2001:DB8:0::1", "2001:db8::1" },
		{ "", NULL },
		{ "localhost", NULL },
		{ "10.0.0.256", NULL },
		{ "10.0.0.1/24", NULL },
		{ " 10.0.0.1", NULL },
		{ "fe80::1%eth0", NULL },
		{ "1.2.3", NULL },
	};
	struct tracker_addr	 ta;
	char			 buf[TRACKER_ADDR_STRSIZE];
	size_t			 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].want == NULL) {
			CHECK(tracker_addr_parse(&ta, rows[i].in) == -1,
			    "\"%s\" taken", rows[i].in);
			continue;
		}
		CHECK(tracker_addr_parse(&ta, rows[i].in) == 0,
		    "\"%s\" refused", rows[i].in);
		tracker_addr_format(&ta, buf, sizeof(buf));
		CHECK_STR(buf, rows[i].want);
	}
}

static void
test_round_trip(void)
{
	struct tracker		 t, u;
	struct tracker_addr	 a = A("192.0.2.1"), b = A("2001:db8::2");
	struct tracker_addr	 c = A("192.0.2.3");
	char			*buf, *again, err[128];
	size_t			 len, len2;

	tracker_init(&t, 10, 100);
	(void)tracker_record(&t, &c, "old", T0 - 200);	/* expired */
	(void)tracker_record(&t, &a, "alice@example.com", T0 - 10);
	(void)tracker_record(&t, &b, "bob", T0 - 5);
	(void)tracker_record(&t, &a, "carol", T0);
	buf = tracker_serialise(&t, T0, &len);
	CHECK(buf != NULL, "serialise");
	if (buf == NULL)
		return;
	CHECK(len == strlen(TRACKER_MAGIC "\n"
	    "1699999990 192.0.2.1 alice@example.com\n"
	    "1699999995 2001:db8::2 bob\n"
	    "1700000000 192.0.2.1 carol\n"
	    "end 3\n") && memcmp(buf, TRACKER_MAGIC "\n"
	    "1699999990 192.0.2.1 alice@example.com\n"
	    "1699999995 2001:db8::2 bob\n"
	    "1700000000 192.0.2.1 carol\n"
	    "end 3\n", len) == 0, "got \"%.*s\"", (int)len, buf);

	tracker_init(&u, 10, 100);
	CHECK(tracker_load(&u, buf, len, T0 + 1, err, sizeof(err)) == 0,
	    "load: %s", err);
	CHECK(u.count == 3, "loaded %zu want 3", u.count);
	CHECK(tracker_age(&u, &a, T0 + 1) == 1, "a after load");
	CHECK(tracker_age(&u, &b, T0 + 1) == 6, "b after load");
	again = tracker_serialise(&u, T0 + 1, &len2);
	CHECK(again != NULL && len2 == len && memcmp(buf, again, len) == 0,
	    "second round differs");
	free(again);

	/* what expired meanwhile is not loaded */
	CHECK(tracker_load(&u, buf, len, T0 + 92, err, sizeof(err)) == 0,
	    "load later: %s", err);
	CHECK(u.count == 2, "loaded %zu want 2", u.count);
	/* an empty (new) file is an empty table */
	CHECK(tracker_load(&u, "", 0, T0, err, sizeof(err)) == 0,
	    "empty: %s", err);
	CHECK(u.count == 0, "empty: %zu", u.count);
	/* what a longer table left after the end line is ignored */
	again = malloc(len + 20);
	if (again != NULL) {
		memcpy(again, buf, len);
		memcpy(again + len, "1 10.0.0.1 x\nend 9\n", 19);
		CHECK(tracker_load(&u, again, len + 19, T0, err,
		    sizeof(err)) == 0 && u.count == 3, "tail: %s", err);
		free(again);
	}
	tracker_clear(&u);
	tracker_clear(&t);
	free(buf);
}

static void
test_corrupt(void)
{
	static const struct {
		const char	*name;
		const char	*text;
	} rows[] = {
		{ "no magic", "1700000000 192.0.2.1 alice\nend 1\n" },
		{ "other version", "portcullis pop3-logins 2\nend 0\n" },
		{ "no end", TRACKER_MAGIC "\n1700000000 192.0.2.1 alice\n" },
		{ "cut short", TRACKER_MAGIC "\n1700000000 192.0.2.1 ali" },
		{ "wrong count", TRACKER_MAGIC "\n"
		    "1700000000 192.0.2.1 alice\nend 2\n" },
		{ "bad count", TRACKER_MAGIC "\nend x\n" },
		{ "bad time", TRACKER_MAGIC "\n"
		    "17e9 192.0.2.1 alice\nend 1\n" },
		{ "negative time", TRACKER_MAGIC "\n"
		    "-1 192.0.2.1 alice\nend 1\n" },
		{ "huge time", TRACKER_MAGIC "\n"
		    "99999999999999999999 192.0.2.1 alice\nend 1\n" },
		{ "bad address", TRACKER_MAGIC "\n"
		    "1700000000 192.0.2.999 alice\nend 1\n" },
		{ "no user", TRACKER_MAGIC "\n1700000000 192.0.2.1 \nend 1\n" },
		{ "two fields", TRACKER_MAGIC "\n1700000000 192.0.2.1\nend 1\n" },
		{ "space in user", TRACKER_MAGIC "\n"
		    "1700000000 192.0.2.1 al ice\nend 1\n" },
		{ "control in user", TRACKER_MAGIC "\n"
		    "1700000000 192.0.2.1 al\rice\nend 1\n" },
		{ "blank line", TRACKER_MAGIC "\n\nend 0\n" },
		{ "CRLF", TRACKER_MAGIC "\r\nend 0\r\n" },
	};
	struct tracker		 t;
	struct tracker_addr	 a = A("192.0.2.1");
	char			 err[128], buf[512];
	size_t			 i;

	tracker_init(&t, 10, 1800);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		(void)tracker_record(&t, &a, "stale", T0);
		err[0] = '\0';
		CHECK(tracker_load(&t, rows[i].text, strlen(rows[i].text), T0,
		    err, sizeof(err)) == -1, "%s: taken", rows[i].name);
		CHECK(t.count == 0, "%s: %zu entries left", rows[i].name,
		    t.count);
		CHECK(err[0] != '\0', "%s: no reason", rows[i].name);
	}
	/* a NUL byte inside */
	(void)snprintf(buf, sizeof(buf), "%s\n1700000000 192.0.2.1 a",
	    TRACKER_MAGIC);
	i = strlen(buf);
	memcpy(buf + i, "\0b\nend 1\n", 9);
	CHECK(tracker_load(&t, buf, i + 9, T0, err, sizeof(err)) == -1,
	    "NUL taken");
	/* a user one byte too long */
	i = (size_t)snprintf(buf, sizeof(buf), "%s\n1700000000 192.0.2.1 ",
	    TRACKER_MAGIC);
	memset(buf + i, 'u', TRACKER_USER_MAX + 1);
	i += TRACKER_USER_MAX + 1;
	memcpy(buf + i, "\nend 1\n", 7);
	CHECK(tracker_load(&t, buf, i + 7, T0, err, sizeof(err)) == -1,
	    "long user taken");
	CHECK(tracker_load(&t, buf, i - 1 + 7, T0, err, sizeof(err)) == -1,
	    "the same cut");
	memmove(buf + i - 1, buf + i, 7);
	CHECK(tracker_load(&t, buf, i - 1 + 7, T0, err, sizeof(err)) == 0,
	    "a user of the longest length refused: %s", err);
	tracker_clear(&t);
}

static void
test_file(void)
{
	struct tracker		 t, u;
	struct tracker_addr	 a = A("192.0.2.1"), b = A("192.0.2.2");
	char			 path[] = "/tmp/test_tracker.XXXXXX", err[128];
	char			 buf[256];
	ssize_t			 n;
	int			 fd;

	if ((fd = mkstemp(path)) == -1) {
		CHECK(0, "mkstemp: %s", strerror(errno));
		return;
	}
	(void)unlink(path);
	tracker_init(&t, 10, 1800);
	tracker_init(&u, 10, 1800);
	CHECK(tracker_file_load(&u, fd, T0, err, sizeof(err)) == 0 &&
	    u.count == 0, "new file: %s", err);
	(void)tracker_record(&t, &a, "alice", T0);
	(void)tracker_record(&t, &b, "bob", T0);
	CHECK(tracker_file_save(&t, fd, T0) == 0, "save: %s",
	    strerror(errno));
	/* a shorter table truncates the file */
	(void)tracker_flush(&t, &b);
	CHECK(tracker_file_save(&t, fd, T0) == 0, "save again");
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, TRACKER_MAGIC "\n1700000000 192.0.2.1 alice\nend 1\n");
	CHECK(tracker_file_load(&u, fd, T0 + 1, err, sizeof(err)) == 0,
	    "load: %s", err);
	CHECK(tracker_age(&u, &a, T0 + 1) == 1 &&
	    tracker_age(&u, &b, T0 + 1) == -1, "loaded the wrong logins");
	(void)pwrite(fd, "garbage", 7, 0);
	CHECK(tracker_file_load(&u, fd, T0 + 1, err, sizeof(err)) == -1 &&
	    u.count == 0, "corrupt file taken");
	close(fd);
	tracker_clear(&t);
	tracker_clear(&u);
}

int
main(void)
{
	RUN(test_record_lookup);
	RUN(test_ipv4_mapped);
	RUN(test_exact_match);
	RUN(test_expiry);
	RUN(test_bound);
	RUN(test_newest_wins);
	RUN(test_flush);
	RUN(test_users);
	RUN(test_addresses);
	RUN(test_round_trip);
	RUN(test_corrupt);
	RUN(test_file);
	return unit_done();
}
