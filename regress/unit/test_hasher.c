/*
 * Portcullis: the auth process's hashing thread (relayd-auth/hasher.c):
 * answers in order with the right verdicts, an unknown login is never
 * accepted, the queue is bounded, the event loop runs while a slow
 * hash is under way, and it all works inside the auth sandbox (the
 * thread is made first and the filter synchronised to it).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "unit.h"
#include "evloop.h"
#include "sandbox.h"
#include "hasher.h"

#define JOBS	8

static uint64_t	 got_cookie[JOBS * 2];
static int	 got_ok[JOBS * 2];
static int	 ngot, all_done, want_done;
static int	 ticks;

static void
done(uint64_t cookie, int ok)
{
	if (ngot < JOBS * 2) {
		got_cookie[ngot] = cookie;
		got_ok[ngot] = ok;
	}
	if (++ngot == want_done)
		all_done = 1;
}

static void
tick(int fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, 1000 };

	(void)fd;
	(void)ev;
	ticks++;
	evtimer_add((struct event *)arg, &tv);
}

static char *
hash_of(const char *prefix, unsigned long cost, const char *pw)
{
	const char	*salt, *h;

	if ((salt = crypt_gensalt(prefix, cost, NULL, 0)) == NULL ||
	    (h = crypt(pw, salt)) == NULL || h[0] != '$')
		abort();
	return strdup(h);
}

/* The checks, submitted at once, answered in order. */
static void
run_jobs(void)
{
	char		*sha = hash_of("$6$", 0, "right");
	char		*y = hash_of("$y$", 0, "right");
	struct event	 ev;
	struct timeval	 tv = { 0, 1000 };
	int		 i;

	ngot = 0;
	all_done = 0;
	want_done = 6;
	ticks = 0;
	CHECK(hasher_submit(1, "right", sha, 1) == 0, "submit 1");
	CHECK(hasher_submit(2, "wrong", sha, 1) == 0, "submit 2");
	CHECK(hasher_submit(3, "right", sha, 0) == 0, "submit 3");
	CHECK(hasher_submit(4, "right", y, 1) == 0, "submit 4");
	CHECK(hasher_submit(5, "", y, 1) == 0, "submit 5");
	CHECK(hasher_submit(6, "right", "$6$broken", 1) == 0, "submit 6");
	CHECK(hasher_pending() == 6, "pending %u", hasher_pending());
	/* a timer keeps firing while the hashes run */
	evtimer_set(&ev, tick, &ev);
	evtimer_add(&ev, &tv);
	CHECK(loop_until(&all_done, 20000), "only %d answers", ngot);
	evtimer_del(&ev);
	for (i = 0; i < 6 && i < ngot; i++)
		CHECK(got_cookie[i] == (uint64_t)i + 1, "answer %d is job %llu",
		    i, (unsigned long long)got_cookie[i]);
	CHECK(ngot == 6 && got_ok[0] == 1 && got_ok[1] == 0 &&
	    got_ok[2] == 0 && got_ok[3] == 1 && got_ok[4] == 0 &&
	    got_ok[5] == 0, "verdicts %d %d %d %d %d %d", got_ok[0],
	    got_ok[1], got_ok[2], got_ok[3], got_ok[4], got_ok[5]);
	CHECK(ticks > 1, "the loop stood still while hashing (%d ticks)",
	    ticks);
	CHECK(hasher_pending() == 0, "pending %u", hasher_pending());
	free(sha);
	free(y);
}

static void
test_in_order_and_loop_runs(void)
{
	run_jobs();
}

static void
test_queue_is_bounded(void)
{
	char		*sha = hash_of("$6$", 0, "right");
	unsigned	 i, refused = 0;

	ngot = 0;
	all_done = 0;
	want_done = HASHER_QUEUE_MAX;
	for (i = 0; i < HASHER_QUEUE_MAX + 10; i++)
		if (hasher_submit(100 + i, "x", sha, 1) == -1)
			refused++;
	CHECK(refused == 10, "refused %u of %u", refused,
	    HASHER_QUEUE_MAX + 10);
	CHECK(loop_until(&all_done, 60000), "only %d answers", ngot);
	CHECK(hasher_pending() == 0, "pending %u", hasher_pending());
	CHECK(hasher_submit(1, "x", sha, 1) == 0, "a slot again");
	want_done = ngot + 1;
	all_done = 0;
	CHECK(loop_until(&all_done, 10000), "the last one");
	free(sha);
}

/* In a child: the thread, then the auth sandbox, then the jobs. */
static void
test_inside_the_auth_sandbox(void)
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		/* a fresh loop: the parent's is not ours */
		(void)event_init();
		if (hasher_init() == -1)
			_exit(2);
		hasher_start(done);
		sandbox_auth();
		unit_cur_failed = 0;
		run_jobs();
		_exit(unit_cur_failed ? 1 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child failed: status %d", status);
}

int
main(void)
{
	/* the sandbox test forks before this process has a thread */
	RUN(test_inside_the_auth_sandbox);
	(void)event_init();
	if (hasher_init() == -1)
		abort();
	hasher_start(done);
	RUN(test_in_order_and_loop_runs);
	RUN(test_queue_is_bounded);
	return unit_done();
}
