/*
 * Unit tests of the auth-failure limit (relayd-auth/authfail.c) on a
 * clock the tests drive (milliseconds): counting, the sliding window,
 * the block and its end, refusals, expiry, the exemption from a parsed
 * configuration, addresses (IPv4-mapped, IPv6 one by one), the bounds
 * and what is evicted first, and reset.
 */
#include <sys/types.h>
#include <sys/socket.h>

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
#include "authfail.h"

#define S	1000LL			/* a second on the test clock */
#define T0	(1000 * S)		/* any monotonic start */

static struct tracker_addr
A(const char *s)
{
	struct tracker_addr	 ta;

	if (tracker_addr_parse(&ta, s) == -1)
		errx(2, "bad test address %s", s);
	return ta;
}

/* N 3 within 10s block 5s, room for plenty. */
static void
setup(struct authfail *t)
{
	authfail_init(t, 100, 1000);
	authfail_set(t, 3, 10, 5);
}

static int
blocked(struct authfail *t, const char *addr, int64_t now)
{
	struct tracker_addr	 ta = A(addr);

	return authfail_check(t, &ta, now, NULL);
}

static int
fail(struct authfail *t, const char *addr, int64_t now)
{
	struct tracker_addr	 ta = A(addr);

	return authfail_record(t, &ta, now);
}

static uint32_t
count(struct authfail *t, const char *addr, int64_t now)
{
	struct tracker_addr	 ta = A(addr);
	struct authfail_entry	*e;

	if ((e = authfail_find(t, &ta)) == NULL)
		return 0;
	return authfail_count(t, e, now);
}

static void
test_nth_failure_blocks(void)
{
	struct authfail		 t;
	struct tracker_addr	 a = A("192.0.2.1");
	int64_t			 until = 0;
	int			 r;

	setup(&t);
	CHECK(!blocked(&t, "192.0.2.1", T0), "blocked before any failure");
	CHECK((r = fail(&t, "192.0.2.1", T0)) == AUTHFAIL_COUNTED,
	    "1st: got %d", r);
	CHECK((r = fail(&t, "192.0.2.1", T0 + 1 * S)) == AUTHFAIL_COUNTED,
	    "2nd: got %d", r);
	CHECK(!blocked(&t, "192.0.2.1", T0 + 2 * S), "blocked after 2 of 3");
	CHECK((r = fail(&t, "192.0.2.1", T0 + 2 * S)) == AUTHFAIL_BLOCKS,
	    "3rd: got %d want AUTHFAIL_BLOCKS", r);
	CHECK(authfail_check(&t, &a, T0 + 2 * S, &until) == 1,
	    "not blocked after the 3rd");
	CHECK(until == T0 + 7 * S, "until %lld want %lld (B from the "
	    "last failure)", (long long)until, (long long)(T0 + 7 * S));
	CHECK(count(&t, "192.0.2.1", T0 + 2 * S) == 3, "count %u",
	    count(&t, "192.0.2.1", T0 + 2 * S));
	/* another address is not touched */
	CHECK(!blocked(&t, "192.0.2.2", T0 + 2 * S), "another address");
	CHECK(t.count == 1, "count %zu", t.count);
	authfail_clear(&t);
	CHECK(t.count == 0 && t.stamps == 0, "clear: %zu %zu", t.count,
	    t.stamps);
}

static void
test_limit_of_one(void)
{
	struct authfail	 t;

	authfail_init(&t, 10, 10);
	authfail_set(&t, 1, 60, 60);
	CHECK(fail(&t, "192.0.2.1", T0) == AUTHFAIL_BLOCKS, "N 1: the "
	    "first failure blocks");
	CHECK(blocked(&t, "192.0.2.1", T0 + 59 * S), "not blocked");
	authfail_clear(&t);
}

/* A failure counts for T (not at T): N within T, not in all. */
static void
test_sliding_window(void)
{
	struct authfail	 t;

	setup(&t);
	CHECK(fail(&t, "192.0.2.1", T0) == AUTHFAIL_COUNTED, "1");
	CHECK(fail(&t, "192.0.2.1", T0 + 5 * S) == AUTHFAIL_COUNTED, "2");
	/* the first is exactly T old: it no longer counts */
	CHECK(fail(&t, "192.0.2.1", T0 + 10 * S) == AUTHFAIL_COUNTED,
	    "3rd at T: the first should have aged out");
	CHECK(count(&t, "192.0.2.1", T0 + 10 * S) == 2, "count %u want 2",
	    count(&t, "192.0.2.1", T0 + 10 * S));
	/* T0+5, T0+10 and now T0+14.999: three within T */
	CHECK(fail(&t, "192.0.2.1", T0 + 15 * S - 1) == AUTHFAIL_BLOCKS,
	    "three within T did not block");
	authfail_clear(&t);

	/* one failure every T: never blocked however many */
	setup(&t);
	CHECK(fail(&t, "192.0.2.9", T0) == AUTHFAIL_COUNTED, "first");
	CHECK(fail(&t, "192.0.2.9", T0 + 10 * S) == AUTHFAIL_COUNTED, "a");
	CHECK(fail(&t, "192.0.2.9", T0 + 20 * S) == AUTHFAIL_COUNTED, "b");
	CHECK(fail(&t, "192.0.2.9", T0 + 30 * S) == AUTHFAIL_COUNTED, "c");
	CHECK(!blocked(&t, "192.0.2.9", T0 + 30 * S), "spaced failures "
	    "blocked");
	authfail_clear(&t);
}

static void
test_block_ends_after_b(void)
{
	struct authfail	 t;

	setup(&t);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0 + 1 * S);	/* blocks to T0+6s */
	CHECK(blocked(&t, "192.0.2.1", T0 + 6 * S - 1), "ended early");
	CHECK(!blocked(&t, "192.0.2.1", T0 + 6 * S), "still blocked at B");
	authfail_clear(&t);
}

/* Refusals while blocked are no failures: they neither extend the
 * block nor count. */
static void
test_refusals_do_not_extend(void)
{
	struct authfail		 t;
	struct tracker_addr	 a = A("192.0.2.1");
	struct authfail_entry	*e;
	int64_t			 now;

	setup(&t);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0);		/* blocks to T0+5s */
	for (now = T0; now < T0 + 5 * S; now += S / 2)
		CHECK(blocked(&t, "192.0.2.1", now), "at +%lld ms",
		    (long long)(now - T0));
	CHECK(!blocked(&t, "192.0.2.1", T0 + 5 * S), "refusals extended "
	    "the block");
	e = authfail_find(&t, &a);
	CHECK(e != NULL && e->refused == 10, "refused %u want 10",
	    e != NULL ? e->refused : 0);
	CHECK(count(&t, "192.0.2.1", T0 + 5 * S) == 3, "refusals counted "
	    "as failures: %u", count(&t, "192.0.2.1", T0 + 5 * S));
	authfail_clear(&t);
}

/* The block does not clear the failures: with T > B, one more failure
 * while N - 1 others count blocks again at once. */
static void
test_probation_after_block(void)
{
	struct authfail	 t;

	setup(&t);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0 + 1 * S);
	(void)fail(&t, "192.0.2.1", T0 + 2 * S);	/* blocks to T0+7s */
	CHECK(!blocked(&t, "192.0.2.1", T0 + 7 * S), "block too long");
	CHECK(fail(&t, "192.0.2.1", T0 + 8 * S) == AUTHFAIL_BLOCKS,
	    "a failure on probation did not block again");
	CHECK(blocked(&t, "192.0.2.1", T0 + 12 * S), "second block short");
	CHECK(!blocked(&t, "192.0.2.1", T0 + 13 * S), "second block long");
	/* past T of all of them: a fresh start */
	CHECK(fail(&t, "192.0.2.1", T0 + 30 * S) == AUTHFAIL_COUNTED,
	    "old failures still counted");
	authfail_clear(&t);
}

static void
test_addresses(void)
{
	struct authfail	 t;

	setup(&t);
	/* IPv4-mapped IPv6 is the IPv4 address */
	(void)fail(&t, "::ffff:192.0.2.7", T0);
	(void)fail(&t, "192.0.2.7", T0);
	CHECK(fail(&t, "::ffff:192.0.2.7", T0) == AUTHFAIL_BLOCKS,
	    "mapped and plain counted apart");
	CHECK(blocked(&t, "192.0.2.7", T0), "plain not blocked");
	/* IPv6: address by address, whatever the spelling */
	(void)fail(&t, "2001:db8::1", T0);
	(void)fail(&t, "2001:db8:0::1", T0);
	CHECK(fail(&t, "2001:db8::0:1", T0) == AUTHFAIL_BLOCKS,
	    "one IPv6 address spelt three ways");
	CHECK(!blocked(&t, "2001:db8::2", T0), "the neighbour is blocked");
	CHECK(t.count == 2, "count %zu want 2", t.count);
	authfail_clear(&t);
}

static void
test_expire(void)
{
	struct authfail	 t;
	size_t		 n;

	authfail_init(&t, 100, 1000);
	authfail_set(&t, 2, 10, 60);		/* B > T */
	(void)fail(&t, "192.0.2.1", T0);		/* counts to T0+10s */
	(void)fail(&t, "192.0.2.2", T0);
	(void)fail(&t, "192.0.2.2", T0);		/* blocked to T0+60s */
	CHECK((n = authfail_expire(&t, T0 + 10 * S - 1)) == 0, "expired "
	    "%zu early", n);
	CHECK((n = authfail_expire(&t, T0 + 10 * S)) == 1, "expired %zu "
	    "want 1", n);
	CHECK(t.count == 1, "the blocked one went: %zu", t.count);
	CHECK(blocked(&t, "192.0.2.2", T0 + 30 * S), "the block went with "
	    "its failures");
	CHECK(authfail_expire(&t, T0 + 60 * S) == 1 && t.count == 0,
	    "not forgotten after its block: %zu", t.count);
	CHECK(t.stamps == 0, "failure times left: %zu", t.stamps);
	authfail_clear(&t);
}

/* The oldest last failure goes first, blocked or not. */
static void
test_bound_on_addresses(void)
{
	struct authfail	 t;
	char		 a[32];
	int		 i;

	authfail_init(&t, 3, 1000);
	authfail_set(&t, 1, 60, 60);
	CHECK(fail(&t, "192.0.2.1", T0) == AUTHFAIL_BLOCKS, "1");
	CHECK(fail(&t, "192.0.2.2", T0 + 1) == AUTHFAIL_BLOCKS, "2");
	CHECK(fail(&t, "192.0.2.3", T0 + 2) == AUTHFAIL_BLOCKS, "3");
	CHECK(fail(&t, "192.0.2.4", T0 + 3) == AUTHFAIL_BLOCKS, "4");
	CHECK(t.count == 3, "count %zu want 3", t.count);
	CHECK(!blocked(&t, "192.0.2.1", T0 + 4), "the oldest was kept");
	CHECK(blocked(&t, "192.0.2.2", T0 + 4), "the second went");
	CHECK(t.evicted == 1 && t.evicted_blocked == 1, "evicted %zu/%zu",
	    t.evicted, t.evicted_blocked);
	authfail_clear(&t);

	/* a failure makes its address the newest */
	authfail_init(&t, 2, 1000);
	authfail_set(&t, 5, 60, 60);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.2", T0 + 1);
	(void)fail(&t, "192.0.2.1", T0 + 2);
	(void)fail(&t, "192.0.2.3", T0 + 3);
	CHECK(count(&t, "192.0.2.1", T0 + 3) == 2, "the renewed one went");
	CHECK(count(&t, "192.0.2.2", T0 + 3) == 0, "the oldest stayed");
	authfail_clear(&t);

	/* many addresses: never more than the bound */
	authfail_init(&t, 50, 1000);
	authfail_set(&t, 3, 60, 60);
	for (i = 0; i < 1000; i++) {
		(void)snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
		(void)fail(&t, a, T0 + i);
	}
	CHECK(t.count == 50, "count %zu want 50", t.count);
	CHECK(t.stamps <= 1000, "stamps %zu", t.stamps);
	authfail_clear(&t);
}

/* The bound on failure times in all: old addresses go, never the one
 * that is failing, and each keeps at most N. */
static void
test_bound_on_failure_times(void)
{
	struct authfail	 t;
	char		 a[32];
	int		 i;

	authfail_init(&t, 1000, 12);
	authfail_set(&t, 8, 60, 60);
	for (i = 0; i < 7; i++)
		(void)fail(&t, "192.0.2.1", T0 + i);
	for (i = 0; i < 7; i++)
		(void)fail(&t, "192.0.2.2", T0 + 10 + i);
	CHECK(t.stamps <= 12, "stamps %zu over the bound", t.stamps);
	CHECK(count(&t, "192.0.2.2", T0 + 20) == 7, "the failing one lost "
	    "failures: %u", count(&t, "192.0.2.2", T0 + 20));
	CHECK(count(&t, "192.0.2.1", T0 + 20) == 0, "the older one stayed");
	CHECK(fail(&t, "192.0.2.2", T0 + 20) == AUTHFAIL_BLOCKS, "8th");
	authfail_clear(&t);

	/* many failures of one address: N times kept, not more */
	authfail_init(&t, 10, 1000);
	authfail_set(&t, 5, 3600, 1);
	for (i = 0; i < 100; i++) {
		(void)snprintf(a, sizeof(a), "192.0.2.1");
		(void)fail(&t, a, T0 + (int64_t)i * 2 * S);
	}
	CHECK(t.stamps <= 5, "stamps %zu want at most 5", t.stamps);
	CHECK(count(&t, "192.0.2.1", T0 + 200 * S) == 5, "count %u",
	    count(&t, "192.0.2.1", T0 + 200 * S));
	/* a smaller N on reload trims */
	authfail_set(&t, 2, 3600, 1);
	CHECK(t.stamps <= 2, "stamps %zu after N 2", t.stamps);
	CHECK(count(&t, "192.0.2.1", T0 + 200 * S) == 2, "count %u after "
	    "N 2", count(&t, "192.0.2.1", T0 + 200 * S));
	/* the limit turned off forgets everything */
	authfail_set(&t, 0, 0, 0);
	CHECK(t.count == 0 && t.stamps == 0, "off: %zu %zu", t.count,
	    t.stamps);
	CHECK(fail(&t, "192.0.2.1", T0) == AUTHFAIL_IGNORED, "counted "
	    "with the limit off");
	CHECK(!blocked(&t, "192.0.2.1", T0), "blocked with the limit off");
	authfail_clear(&t);
}

static void
test_reset(void)
{
	struct authfail		 t;
	struct tracker_addr	 a = A("192.0.2.1");

	setup(&t);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0);
	(void)fail(&t, "192.0.2.1", T0);
	CHECK(blocked(&t, "192.0.2.1", T0), "not blocked");
	CHECK(authfail_reset(&t, &a) == 1, "reset found nothing");
	CHECK(!blocked(&t, "192.0.2.1", T0), "blocked after reset");
	CHECK(authfail_reset(&t, &a) == 0, "reset twice");
	CHECK(fail(&t, "192.0.2.1", T0) == AUTHFAIL_COUNTED, "the count "
	    "did not start again");
	authfail_clear(&t);
}

static struct config *
load(const char *text)
{
	char		 path[] = "/tmp/test_limits.XXXXXX";
	struct config	*c;
	FILE		*f;
	int		 fd;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		err(1, "mkstemp");
	fputs(text, f);
	fclose(f);
	c = config_parse(path);
	unlink(path);
	if (c == NULL)
		errx(1, "config does not parse:\n%s", text);
	return c;
}

static void
test_exempt_from_config(void)
{
	struct authfail		 t;
	struct config		*c, *c2;
	struct tracker_addr	 in = A("192.0.2.5"), mapped =
				    A("::ffff:192.0.2.6"), in6 =
				    A("2001:db8:1::9"), out = A("198.51.100.1");
	int			 i;

	c = load("table lan { 192.0.2.0/24, 2001:db8:1::/48 }\n"
	    "limit auth-failures 2 per-ip within 1m block 10m\n"
	    "limit exempt <lan>\n");
	authfail_init(&t, 100, 1000);
	authfail_configure(&t, &c->limits);
	CHECK(t.limit == 2 && t.within == 60 * S && t.block == 600 * S,
	    "settings %u %lld %lld", t.limit, (long long)t.within,
	    (long long)t.block);
	for (i = 0; i < 10; i++) {
		CHECK(authfail_failed(&t, &c->limits, &in, T0 + i) ==
		    AUTHFAIL_IGNORED, "an exempt address was counted");
		CHECK(authfail_failed(&t, &c->limits, &mapped, T0 + i) ==
		    AUTHFAIL_IGNORED, "an exempt mapped address was counted");
		CHECK(authfail_failed(&t, &c->limits, &in6, T0 + i) ==
		    AUTHFAIL_IGNORED, "an exempt IPv6 address was counted");
	}
	CHECK(!authfail_check(&t, &in, T0 + 10, NULL), "exempt blocked");
	CHECK(t.count == 0, "exempt addresses tracked: %zu", t.count);
	CHECK(authfail_failed(&t, &c->limits, &out, T0) == AUTHFAIL_COUNTED,
	    "outside: not counted");
	CHECK(authfail_failed(&t, &c->limits, &out, T0) == AUTHFAIL_BLOCKS,
	    "outside: not blocked");

	/* a reload that exempts a blocked address frees it */
	c2 = load("table lan { 198.51.100.0/24 }\n"
	    "limit auth-failures 2 per-ip within 1m block 10m\n"
	    "limit exempt <lan>\n");
	authfail_configure(&t, &c2->limits);
	CHECK(!authfail_check(&t, &out, T0 + 1, NULL), "still blocked once "
	    "exempt");
	CHECK(t.count == 0, "tracked once exempt: %zu", t.count);
	/* and one that drops the limit counts nothing */
	config_free(c);
	c = load("table lan { 192.0.2.0/24 }\n");
	authfail_configure(&t, &c->limits);
	CHECK(authfail_failed(&t, &c->limits, &out, T0) == AUTHFAIL_IGNORED,
	    "counted without the limit");
	authfail_clear(&t);
	config_free(c);
	config_free(c2);
}

int
main(void)
{
	RUN(test_nth_failure_blocks);
	RUN(test_limit_of_one);
	RUN(test_sliding_window);
	RUN(test_block_ends_after_b);
	RUN(test_refusals_do_not_extend);
	RUN(test_probation_after_block);
	RUN(test_addresses);
	RUN(test_expire);
	RUN(test_bound_on_addresses);
	RUN(test_bound_on_failure_times);
	RUN(test_reset);
	RUN(test_exempt_from_config);
	return unit_done();
}
