/*
 * Portcullis: the hashing thread of the auth process (hasher.h).
 *
 * Two lists under one mutex: jobs to do (the thread waits on a
 * condition variable for them) and jobs done.  After each job the
 * thread writes one octet into a pipe; the event loop reads the pipe
 * and takes every job done.  The thread touches nothing but the job
 * and its own crypt(3) work area: no config, no table, no log.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "log.h"
#include "password.h"
#include "hasher.h"

struct hjob {
	TAILQ_ENTRY(hjob)	 entry;
	uint64_t		 cookie;
	char			*password;
	char			*hash;
	int			 known;
	int			 ok;
};
TAILQ_HEAD(hjobs, hjob);

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cond = PTHREAD_COND_INITIALIZER;
static struct hjobs	 todo = TAILQ_HEAD_INITIALIZER(todo);
static struct hjobs	 done = TAILQ_HEAD_INITIALIZER(done);
static unsigned		 pending;	/* todo, running and done */
static int		 pipefd[2] = { -1, -1 };
static struct event	 ev_done;
static hasher_done	 done_cb;
static int		 running;	/* the thread has started */

static void
job_free(struct hjob *j)
{
	if (j->password != NULL) {
		explicit_bzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->hash);
	free(j);
}

static void *
hasher_thread(void *arg)
{
	struct hjob	*j;
	char		 one = 1;
	ssize_t		 w;

	(void)arg;
	/* the thread's own start-up calls (rseq, set_robust_list) are
	 * behind us: hasher_init() may go on to the sandbox */
	(void)pthread_mutex_lock(&mtx);
	running = 1;
	(void)pthread_cond_broadcast(&cond);
	(void)pthread_mutex_unlock(&mtx);
	for (;;) {
		(void)pthread_mutex_lock(&mtx);
		while ((j = TAILQ_FIRST(&todo)) == NULL)
			(void)pthread_cond_wait(&cond, &mtx);
		TAILQ_REMOVE(&todo, j, entry);
		(void)pthread_mutex_unlock(&mtx);

		j->ok = password_verify(j->password, j->hash) && j->known;
		explicit_bzero(j->password, strlen(j->password));

		(void)pthread_mutex_lock(&mtx);
		TAILQ_INSERT_TAIL(&done, j, entry);
		(void)pthread_mutex_unlock(&mtx);
		do
			w = write(pipefd[1], &one, 1);
		while (w == -1 && errno == EINTR);
		/* EAGAIN: the pipe is full of wake-ups already */
	}
	return NULL;
}

int
hasher_init(void)
{
	pthread_t	 t;
	sigset_t	 all, old;
	int		 rc;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	/* signals are the event loop's: the thread takes none */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&t, NULL, hasher_thread, NULL);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	(void)pthread_detach(t);
	/* not before the thread runs: the filter would meet its start */
	(void)pthread_mutex_lock(&mtx);
	while (!running)
		(void)pthread_cond_wait(&cond, &mtx);
	(void)pthread_mutex_unlock(&mtx);
	return 0;
}

static void
hasher_read(int fd, short event, void *arg)
{
	struct hjobs	 ready = TAILQ_HEAD_INITIALIZER(ready);
	struct hjob	*j;
	char		 buf[256];

	(void)event;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
	(void)pthread_mutex_lock(&mtx);
	TAILQ_CONCAT(&ready, &done, entry);
	(void)pthread_mutex_unlock(&mtx);
	while ((j = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, j, entry);
		pending--;
		done_cb(j->cookie, j->ok);
		job_free(j);
	}
}

void
hasher_start(hasher_done cb)
{
	if (pipefd[0] == -1)
		fatalx("hasher_start before hasher_init");
	done_cb = cb;
	event_set(&ev_done, pipefd[0], EV_READ | EV_PERSIST, hasher_read,
	    NULL);
	if (event_add(&ev_done, NULL) == -1)
		fatal("hasher: event_add");
}

int
hasher_submit(uint64_t cookie, const char *password, const char *hash,
    int known)
{
	struct hjob	*j;

	if (pending >= HASHER_QUEUE_MAX)
		return -1;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->password = strdup(password)) == NULL ||
	    (j->hash = strdup(hash)) == NULL) {
		if (j != NULL)
			job_free(j);
		return -1;
	}
	j->cookie = cookie;
	j->known = known;
	pending++;
	(void)pthread_mutex_lock(&mtx);
	TAILQ_INSERT_TAIL(&todo, j, entry);
	(void)pthread_cond_signal(&cond);
	(void)pthread_mutex_unlock(&mtx);
	return 0;
}

unsigned
hasher_pending(void)
{
	return pending;
}
