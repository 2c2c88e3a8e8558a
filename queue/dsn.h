/*
 * Portcullis: delivery status notifications (RFC 3461, RFC 3464; RFC
 * 6533 for SMTPUTF8 messages), built by the queue (queue/dsn.c).  Pure
 * functions: no state, no logging, no allocation beyond the call.
 *
 * A DSN is a multipart/report; report-type=delivery-status message,
 * CRLF line ends (the spool format), From: MAILER-DAEMON@hostname, To:
 * the original sender, Auto-Submitted: auto-replied (RFC 3834):
 *
 *	1. text/plain; charset=utf-8: what happened, for people;
 *	2. message/delivery-status: Reporting-MTA, Original-Envelope-Id
 *	   (ENVID), Arrival-Date, then per recipient Original-Recipient
 *	   (ORCPT), Final-Recipient, Action, Status, Remote-MTA,
 *	   Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until (delayed);
 *	3. the original's header (RET=HDRS, or RET not given) as
 *	   text/rfc822-headers, or the whole original (RET=FULL) as
 *	   message/rfc822 -- unless it exceeds DSN_FULL_MAX, when the
 *	   header is returned and the text says so.
 *
 * For a message received with SMTPUTF8 the parts are the RFC 6533
 * types (message/global-delivery-status, message/global,
 * message/global-headers) and the DSN itself travels with SMTPUTF8;
 * otherwise the delivery-status fields are ASCII (other octets of a
 * remote's reply are written '?').  The original is copied unchanged,
 * 8-bit octets included: the part is then marked 8bit and the DSN
 * travels with BODY=8BITMIME.
 *
 * The boundary is "=_portcullis_" and 32 random hex digits, checked
 * against everything the DSN contains (the original, replies, ENVID,
 * ORCPT): another is drawn if it occurs anywhere.
 */
#ifndef PORTCULLIS_DSN_H
#define PORTCULLIS_DSN_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "envelope.h"

#define DSN_ACTION_FAILED	1
#define DSN_ACTION_DELAYED	2
#define DSN_ACTION_DELIVERED	3

#define DSN_FULL_MAX		(10 * 1024 * 1024) /* RET=FULL up to this */
#define DSN_BOUNDARY_MAX	64
#define DSN_STATUS_MAX		16	/* "5.123.123" and a NUL */

/* One recipient of the report.  The reply is evp->error (the remote's
 * reply, or our diagnostic), the date evp->lasttry. */
struct dsn_rcpt {
	const struct envelope	*evp;
	int			 action;	/* DSN_ACTION_* */
	int			 expired;	/* failed at bounce-after */
	const char		*host;		/* remote MTA, or "" */
};

struct dsn_report {
	const char		*hostname;	/* Reporting-MTA, From: */
	uint64_t		 dsnid;		/* the DSN's msgid */
	time_t			 now;
	time_t			 retry_until;	/* delayed: bounce time */
	const struct envelope	*orig;		/* of the original: sender,
						 * ctime, envid, ret, body,
						 * flags, msgid */
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpt;		/* >= 1, one action */
};

/* What dsn_write() produced. */
struct dsn_result {
	uint64_t		 size;		/* bytes written */
	uint32_t		 body;		/* BODY_* the DSN needs */
	int			 smtputf8;	/* it needs SMTPUTF8 */
	int			 full;		/* the whole original is in */
	char			 boundary[DSN_BOUNDARY_MAX];
};

/*
 * Write the DSN to out (at its current offset), reading the original
 * from in with pread() in bounded pieces.  0 with *res filled, or -1
 * with errno (EINVAL for a report that makes no sense).
 */
int	 dsn_write(int out, int in, const struct dsn_report *,
	    struct dsn_result *);

/*
 * The envelope of the DSN: the null sender, one recipient (the
 * original sender), EF_BOUNCE, no NOTIFY, the body type and SMTPUTF8
 * from res, msgid dsnid, idx 0, helo and client "localhost", times now.
 * dest is the caller's to set.  0, or -1 when the original's sender is
 * the null path (never bounce a bounce).
 */
int	 dsn_envelope(const struct dsn_report *, const struct dsn_result *,
	    struct envelope *);

/* The Status of a recipient (RFC 3463): the reply's enhanced code when
 * it agrees with the reply code and the action, else a default (5.0.0,
 * 4.4.7 when expired, 4.0.0 delayed, 2.0.0 delivered). */
void	 dsn_status(const char *, int, int, char *, size_t);

/* An RFC 5322 date in UTC: "Tue, 01 Dec 2026 09:22:08 +0000". */
void	 dsn_date(time_t, char *, size_t);

#ifdef PORTCULLIS_REGRESS
/* Test builds: the source of the boundary's random octets. */
extern void	(*dsn_test_random)(void *, size_t);
#endif

#endif
