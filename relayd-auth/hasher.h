/*
 * Portcullis: password hashing off the auth process's event loop
 * (relayd-auth/hasher.c).
 *
 * A yescrypt hash takes ~100 ms here, a bcrypt one of cost 12 ~260 ms;
 * run on the event loop, every relay verdict of every other session
 * would wait behind it.  One thread does the hashing instead: the loop
 * hands it a job (the password and the hash to check it against, both
 * copied and wiped after use) and goes on; the thread answers through
 * a pipe the loop watches.  Jobs are done in order.
 *
 * The thread is made before the privilege drop and the sandbox (the
 * filter is synchronised to it: sandbox_linux.c uses TSYNC), so the
 * sandbox need not allow clone(2); hasher_init() returns only once the
 * thread runs, past its own start-up system calls.
 */
#ifndef PORTCULLIS_HASHER_H
#define PORTCULLIS_HASHER_H

#include <stdint.h>

#define HASHER_QUEUE_MAX	256	/* jobs waiting; more are refused */

/* A job is done: ok is 1 when the password matched. */
typedef void (*hasher_done)(uint64_t cookie, int ok);

/* The thread and its pipe (before the sandbox).  0, or -1 with errno. */
int	 hasher_init(void);
/* Watch the answers on the event loop (after event_init()). */
void	 hasher_start(hasher_done);
/*
 * Check password against hash (a crypt(3) string); known is 0 for an
 * unknown login (the hash is a dummy and the answer is "no", at the
 * same cost).  0, or -1 when the queue is full (or out of memory).
 */
int	 hasher_submit(uint64_t cookie, const char *password,
	    const char *hash, int known);
/* Jobs waiting or running. */
unsigned hasher_pending(void);

#endif
