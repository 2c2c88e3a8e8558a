/*
 * Portcullis: the queue's scheduler (queue/scheduler.c): where each
 * recipient goes, batches to delivery and to the mailbox process
 * within the concurrency limits, results, retries, expiry and DSNs.
 * queue.c feeds it the config, their messages and commit completions;
 * it asks queue.c for a
 * group-commit sync when it has written something (a DSN, an update).
 */
#ifndef PORTCULLIS_SCHEDULER_H
#define PORTCULLIS_SCHEDULER_H

#include <stdint.h>
#include <time.h>

struct config;
struct envelope;
struct ipc_msg;

/* The queue's clock, in seconds. */
time_t	 queue_now(void);
#ifdef PORTCULLIS_REGRESS
/* Test builds: when not 0, the value of queue_now(). */
extern time_t	 queue_test_now;
#endif

void	 scheduler_init(void);
/* The configuration to use from now on (queue.c owns it); NULL while
 * none has arrived: nothing is sent to delivery then. */
void	 scheduler_conf(const struct config *);
/* Set the envelope's dest from the accept rules: a domain accepted
 * with "deliver maildir" is DEST_MAILDIR, with "deliver lmtp"
 * DEST_LMTP, anything else DEST_RELAY.  <Postmaster> becomes
 * postmaster@<hostname> first (the config must accept that domain for
 * local delivery).  Without a config: DEST_RELAY. */
void	 scheduler_route(struct envelope *);
/* Something may be due: run a scheduling pass soon (coalesced). */
void	 scheduler_kick(void);
/* smtpctl pause|resume delivery: while paused no pass dispatches
 * anything (batches in flight finish and their results apply); resuming
 * runs a pass.  Not kept across a restart of the queue process. */
void	 scheduler_pause(int);
int	 scheduler_paused(void);
/* A message from delivery (delivery_imsg.h) or from the mailbox
 * process (mailbox_imsg.h): fatal if malformed. */
void	 scheduler_delivery_imsg(struct ipc_msg *);
void	 scheduler_mailbox_imsg(struct ipc_msg *);
/* Its channel closed: what it answered is applied, the rest of what
 * was in flight to it goes back to the schedule. */
void	 scheduler_delivery_gone(void);
void	 scheduler_mailbox_gone(void);
/* store_sync() finished a commit that is not a front-end transaction:
 * perhaps one of our DSNs (err 0: durable; else it is gone). */
void	 scheduler_committed(uint64_t, int);

struct scheduler_stats {
	uint64_t	 batches;	/* sent to delivery and mailbox */
	uint64_t	 delivered;
	uint64_t	 tempfail;
	uint64_t	 permfail;
	uint64_t	 expired;
	uint64_t	 dsn_failed;	/* DSNs committed, by action */
	uint64_t	 dsn_delayed;
	uint64_t	 dsn_delivered;
	uint64_t	 dropped;	/* failed, no DSN (null sender, NEVER) */
	uint64_t	 returned;	/* back to the schedule unanswered */
	size_t		 inflight;	/* envelopes now */
	size_t		 nbatch;	/* batches now */
	size_t		 max_inflight;	/* high-water marks */
	uint32_t	 max_domain;
};
const struct scheduler_stats *scheduler_stats(void);
/* Envelopes in flight now to a recipient domain. */
uint32_t scheduler_domain_inflight(const char *);

/* Provided by queue.c: make what was written durable at the next group
 * commit. */
void	 queue_sync_request(void);

#endif
