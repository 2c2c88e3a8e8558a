/*
 * Portcullis: the outbound SMTP/LMTP client of the delivery process.
 *
 * One job is one message for some of its recipients to one destination:
 * an ordered list of addresses (the MX hosts of a domain by preference,
 * each host's addresses in turn, or the hosts of a relay rule for
 * failover).  mta takes the job, talks SMTP (or LMTP) to the first
 * address that works, and reports each recipient's result in its
 * struct mta_rcpt, then calls job->done from the event loop.  All I/O
 * is lib/io.h on the default libevent base; nothing blocks, nothing
 * opens a file (the delivery process runs in a sandbox).
 *
 * Addresses.  They are tried in order.  A session-level failure moves
 * the recipients still without a result to the next address:
 *  - connection refused or failed, timeout, connection lost or a reply
 *    that is not SMTP, before the message data was sent;
 *  - a 4xx greeting, 4xx to EHLO/HELO/LHLO, 4xx to MAIL;
 *  - with MTA_TLS_REQUIRE: STARTTLS not offered, refused, or a failed
 *    handshake or certificate check; with MTA_TLS_SMTPS: a failed
 *    handshake;
 *  - a 5xx greeting (a 554 banner refuses this client at this host, not
 *    the message: another MX may take it, as Postfix's default
 *    smtp_skip_5xx_greeting does), a 5xx to HELO after the EHLO
 *    fallback, the server naming our own hostname in its greeting or
 *    EHLO reply (a mail loop, RFC 5321 section 5.1), and an SMTPUTF8
 *    message at a server that does not offer SMTPUTF8: these fail the
 *    address permanently, and the next address is tried.
 * When no address is left, the recipients without a result get the
 * last failure: permanent only when every address tried failed
 * permanently (so a loop or a 554 banner at every MX bounces), else
 * temporary (a retry may reach a host that was down).
 * Definitive, no other address tried:
 *  - 5xx to MAIL FROM: every recipient without a result fails
 *    permanently (the sender is refused; RFC 5321 section 4.2.1, a
 *    permanent reply to the transaction);
 *  - RCPT replies, per recipient: 2xx accepted, 4xx MTA_TEMPFAIL, 5xx
 *    MTA_PERMFAIL;
 *  - the reply to DATA and the reply after the final dot apply to every
 *    accepted recipient (2xx MTA_OK, 4xx temporary, 5xx permanent);
 *    LMTP gives one reply after the dot per accepted recipient, in
 *    RCPT order (RFC 2033 section 4.2);
 *  - once the server said 354, a timeout or a lost connection is a
 *    temporary failure for every accepted recipient (it may have the
 *    message: at-least-once, never "try another MX now").
 *
 * The conversation.  EHLO (LHLO with lmtp), and HELO when EHLO gets a
 * 5xx (not with LMTP).  STARTTLS per the job's tls mode (opportunistic:
 * when offered, never verified; a 4xx/5xx to STARTTLS continues in
 * clear, a failed handshake retries the same address once in clear),
 * then EHLO again.  PIPELINING when offered: MAIL, every RCPT and DATA
 * are sent together and the replies read in order (RFC 2920).  Extension
 * parameters only when offered: SIZE=job->size (when known), BODY=
 * 8BITMIME, SMTPUTF8, and the DSN parameters (RET, ENVID, NOTIFY,
 * ORCPT).  An 8BITMIME message to a server that does not offer 8BITMIME
 * is sent as it is, without BODY= (as Postfix and most MTAs do: there
 * is no converter here, and a bounce helps nobody).  An SMTPUTF8
 * message to a server without SMTPUTF8 is not sent there (RFC 6531
 * section 3.2): "553 5.6.7", permanent for that address, see above.
 * Replies are parsed strictly: three digits 2-5xx, the same code on
 * every line, "-" on every line but the last, at most MTA_REPLY_LINES
 * lines of at most MTA_LINE_MAX bytes; anything else ends the session
 * as a protocol error.
 *
 * The message.  job->fd is read with pread(2) in MTA_CHUNK pieces (the
 * file offset is not used), the whole message never in memory.  It
 * holds CRLF line ends, not dot-stuffed: a line starting with "." gets
 * another "." on the wire, a bare CR or bare LF is sent as CRLF (no
 * next hop can mistake it for an end of data), a missing final CRLF is
 * added, and ".CRLF" ends the data.  Output is bounded: the file is
 * read again only when less than MTA_CHUNK bytes wait to be sent.
 *
 * Connection reuse.  After a message, a session that is still healthy
 * (and has carried fewer than reuse_max messages) is parked in an idle
 * pool, bounded in size (pool_max; the oldest is closed first) and in
 * time (idle_ms, then QUIT).  A job takes a pooled session when one
 * matches the session key of any of its addresses (host name, address
 * and port, tls mode, noverify, tls config, lmtp, our hostname), the
 * earliest address in the job's order first; the session is reset with
 * RSET first, and a pooled session that fails before MAIL is dropped and
 * costs the job nothing (it goes on as if the pool were empty).  A
 * session that fails, or whose server closes it, leaves the pool.
 * mta_pool_flush() QUITs every pooled session (at shutdown, in tests).
 *
 * Timeouts, per RFC 5321 section 4.5.3.2 by default (the connect
 * timeout is ours): see struct mta_params.
 *
 * Logging.  One line per recipient result and one per failed address:
 *	MSGID mta event=delivery relay=HOST[ADDR]:PORT tls=TLSv1.3
 *	    rcpt=<a@b> result=250 reply="250 2.0.0 Ok"
 *	MSGID mta event=failover relay=... tls=none result=421
 *	    reply="421 4.4.1 connect: Connection refused"
 * ("tls=none" in clear; relay=none when no address was tried.)
 *
 * Synthetic replies.  Failures that have no server reply get one made
 * here, always "CODE X.Y.Z text" so that a DSN can quote it: 421 4.4.1
 * (connection failed), 421 4.4.2 (lost, timeout, protocol error), 421
 * 4.7.0 / 4.7.5 (TLS required but not offered / failed), 554 5.4.6 (a
 * loop), 553 5.6.7 (SMTPUTF8 not offered), 421 4.3.0 (no memory).
 */
#ifndef PORTCULLIS_MTA_H
#define PORTCULLIS_MTA_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "mailaddr.h"

struct tls_config;
struct mta_run;

/* mta_rcpt.status */
#define MTA_PENDING	(-1)	/* no result yet (set by mta_start()) */
#define MTA_OK		0
#define MTA_TEMPFAIL	1
#define MTA_PERMFAIL	2

/* mta_job.tls */
#define MTA_TLS_OPPORTUNISTIC	0	/* STARTTLS if offered, no verify */
#define MTA_TLS_REQUIRE		1	/* STARTTLS or fail; verify unless
					 * noverify */
#define MTA_TLS_SMTPS		2	/* implicit TLS; verify unless
					 * noverify */
#define MTA_TLS_NONE		3	/* never TLS */

#define MTA_ADDR_MAX	MAILADDR_STRSIZE	/* wire form, no <> */
#define MTA_HOST_MAX	256			/* a host name and its NUL */
#define MTA_REPLY_MAX	512			/* one reply, lines joined */
#define MTA_HOSTS_MAX	32			/* addresses of one job */
#define MTA_RCPTS_MAX	1000			/* recipients of one job */
#define MTA_LINE_MAX	2048			/* one reply line */
#define MTA_REPLY_LINES	64			/* lines of one reply */
#define MTA_CHUNK	(16 * 1024)		/* message read size */

struct mta_rcpt {
	uint32_t	 idx;			/* the envelope's index */
	char		 addr[MTA_ADDR_MAX];	/* wire form without <> */
	uint32_t	 notify;		/* DSN_NOTIFY_*, 0: none */
	char		 orcpt[ENVELOPE_ORCPT_MAX + 1];	/* "rfc822;a@b",
						 * decoded; "": none */
	/* filled by mta: */
	int		 status;		/* MTA_OK, MTA_*FAIL */
	char		 reply[MTA_REPLY_MAX];	/* "250 2.0.0 Ok ..." */
	int		 accepted;		/* private: RCPT got 2xx */
};

struct mta_host {
	char			 name[MTA_HOST_MAX];	/* logs, SNI, verify */
	struct sockaddr_storage	 ss;		/* AF_INET(6), port set */
};

struct mta_job {
	uint64_t	 msgid;			/* for the logs */
	char		 sender[MTA_ADDR_MAX];	/* wire form, "" for <> */
	int		 body;			/* BODY_7BIT, BODY_8BITMIME */
	int		 smtputf8;		/* MAIL ... SMTPUTF8 */
	uint32_t	 ret;			/* DSN_RET_*, 0: none */
	char		 envid[ENVELOPE_ENVID_MAX + 1];	/* decoded, "": none */
	int		 fd;			/* the message, read-only */
	off_t		 size;			/* for SIZE=, 0: unknown */

	struct mta_rcpt	*rcpts;			/* 1..MTA_RCPTS_MAX */
	size_t		 nrcpt;
	struct mta_host	*hosts;			/* 1..MTA_HOSTS_MAX, ordered */
	size_t		 nhost;

	int		 tls;			/* MTA_TLS_* */
	int		 noverify;		/* REQUIRE/SMTPS: no verify */
	struct tls_config *tlscfg;		/* REQUIRE/SMTPS with verify:
						 * a tlsconf_client*() config
						 * with the CAs in memory, the
						 * caller's, alive until done */
	int		 lmtp;			/* LHLO, replies per rcpt */
	char		 helo[MTA_HOST_MAX];	/* our name for EHLO/LHLO,
						 * and for loop detection */
	int		 noreuse;		/* neither take nor park a
						 * pooled session */

	void		(*done)(struct mta_job *, void *);
	void		*arg;

	/* filled by mta: where the last attempt went, "none" before */
	char		 relay[MTA_HOST_MAX + 64];	/* h[addr]:port */
	char		 tlsver[32];		/* "TLSv1.3", "none" */

	struct mta_run	*run;			/* private */
};

/*
 * Timeouts in milliseconds and the pool's bounds.  The defaults
 * (mta_params_default()) are RFC 5321 section 4.5.3.2's: greeting 5
 * min, EHLO/HELO/STARTTLS/RSET/QUIT 5 min, MAIL 5 min, RCPT 5 min,
 * DATA 2 min, each block of data 3 min, the final dot 10 min; connect
 * and TLS handshake 1 min; a pooled session idles 5 s, at most 32 of
 * them, each carries at most 100 messages.
 */
struct mta_params {
	int	 connect_ms;		/* also each TLS handshake */
	int	 greeting_ms;
	int	 helo_ms;		/* STARTTLS, RSET, QUIT (<= 30s) */
	int	 mail_ms;
	int	 rcpt_ms;
	int	 data_ms;
	int	 block_ms;
	int	 dot_ms;
	int	 idle_ms;
	size_t	 pool_max;		/* 0: no connection reuse */
	size_t	 reuse_max;		/* messages per connection */
};

void	 mta_params_default(struct mta_params *);

/*
 * Set the parameters (NULL: the defaults) and build the client TLS
 * config of opportunistic STARTTLS.  Call it before the sandbox: libtls
 * may read the OpenSSL config file when first used.  The parameters
 * apply to what starts afterwards (the pool's bounds at once).  May be
 * called again.  -1 and a reason in err when the TLS config cannot be
 * built.  mta_start() calls mta_init(NULL) when nobody did.
 */
int	 mta_init(const struct mta_params *, char *err, size_t errlen);

/*
 * Start a job (zeroed first, then filled: run must be NULL).  The job,
 * its rcpts[] and hosts[] and the descriptor must stay valid until
 * job->done is called or mta_cancel() returns; mta neither frees nor
 * closes them.  Every rcpt's status is set to
 * MTA_PENDING.  Returns 0: done follows, always from the event loop
 * (never from inside mta_start()), with every status set.  Returns -1
 * (errno EINVAL) for a job that breaks the limits above (no recipient,
 * no address, too many, an address not AF_INET/AF_INET6, a bad tls
 * mode, verify without a config, a descriptor < 0, an unterminated
 * string or one with a control character, an empty helo or one with a
 * space, an empty recipient), or ENOMEM: done is not called then.
 */
int	 mta_start(struct mta_job *);

/*
 * Abandon a started job: its session is closed (not pooled), done is
 * not called, statuses already set stay as they are.  A job that is not
 * running (done called already) is a no-op.
 */
void	 mta_cancel(struct mta_job *);

/* QUIT and close every pooled session; the number of them. */
size_t	 mta_pool_flush(void);
size_t	 mta_pool_count(void);

/*
 * Running jobs (started, done not yet called), and live connections
 * (carrying a job, pooled, or saying QUIT): for tests and stats.
 */
size_t	 mta_running(void);
size_t	 mta_sessions(void);

/*
 * The body's conversion for the wire, as above: n bytes of the message
 * from in, at most 3n bytes to out; the number written.  *st carries
 * where a line stands from one piece to the next: MTA_BODY_BOL at the
 * start of a line (as the body starts), MTA_BODY_CR after a CR whose LF
 * is not yet sent.  Other bits of *st are left alone.  What ends the
 * data is the caller's.
 */
#define MTA_BODY_BOL	0x20
#define MTA_BODY_CR	0x40
size_t	 mta_body_stuff(const unsigned char *in, size_t n, unsigned char *out,
	    int *st);

#endif
