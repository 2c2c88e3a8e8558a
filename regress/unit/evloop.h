/*
 * Portcullis: a bounded libevent loop for unit tests that drive real
 * sockets: run until a flag is set or a time is up, never longer.
 */
#ifndef PORTCULLIS_EVLOOP_H
#define PORTCULLIS_EVLOOP_H

#include <sys/time.h>

#include <event.h>

static int	 loop_expired;

static void
loop_guard(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	loop_expired = 1;
}

/* Run the loop until *done or ms elapse.  Returns *done. */
static int
loop_until(int *done, int ms)
{
	struct event	 guard;
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	loop_expired = 0;
	evtimer_set(&guard, loop_guard, NULL);
	evtimer_add(&guard, &tv);
	while (!*done && !loop_expired)
		event_loop(EVLOOP_ONCE);
	evtimer_del(&guard);
	return (*done);
}

/* Run the loop for ms. */
static inline void
loop_for(int ms)
{
	int	 never = 0;

	(void)loop_until(&never, ms);
}

#endif
