/*
 * Portcullis: the envelope of one recipient of one message, as the
 * front end hands it to the queue, the queue stores it, and delivery
 * and the mailbox process receive it.
 *
 * A message has an id (msgid, 64 bits, printed as 16 hex digits) and
 * one envelope per recipient (evpid = msgid and the recipient's index).
 */
#ifndef PORTCULLIS_ENVELOPE_H
#define PORTCULLIS_ENVELOPE_H

#include <stdint.h>
#include <time.h>

#include "mailaddr.h"

#define ENVELOPE_HELO_MAX	256
#define ENVELOPE_ADDR_MAX	64	/* client address as text */
#define ENVELOPE_USER_MAX	256	/* authenticated login */
#define ENVELOPE_ENVID_MAX	100	/* RFC 3461 ENVID, xtext-decoded */
#define ENVELOPE_ORCPT_MAX	512	/* RFC 3461 ORCPT, "type;address" */
#define ENVELOPE_ERROR_MAX	512	/* last result, for logs and DSNs */

/* DSN NOTIFY (RFC 3461 §4.1); 0 means not given (the default applies) */
#define DSN_NOTIFY_NEVER	0x01
#define DSN_NOTIFY_SUCCESS	0x02
#define DSN_NOTIFY_FAILURE	0x04
#define DSN_NOTIFY_DELAY	0x08

#define DSN_RET_DEFAULT		0
#define DSN_RET_FULL		1
#define DSN_RET_HDRS		2

#define BODY_7BIT		0
#define BODY_8BITMIME		1
#define BODY_BINARYMIME		2

/* envelope flags */
#define EF_SMTPUTF8		0x0001	/* MAIL FROM ... SMTPUTF8 */
#define EF_BOUNCE		0x0002	/* this message is a DSN we made */
#define EF_TLS			0x0004	/* received over TLS */
#define EF_AUTH			0x0008	/* the client authenticated */
#define EF_TRUSTED		0x0010	/* the client may relay */

/* where the recipient goes, decided by the queue from the config */
#define DEST_RELAY		0	/* delivery rules, else MX */
#define DEST_MAILDIR		1	/* local Maildir (mailbox process) */
#define DEST_LMTP		2	/* local LMTP (delivery process) */

struct envelope {
	uint64_t	 msgid;
	uint32_t	 idx;		/* recipient index within msgid */
	uint32_t	 flags;		/* EF_* */
	struct mailaddr	 sender;	/* MAILADDR_NULL for <> */
	struct mailaddr	 rcpt;
	/* DSN parameters (RFC 3461) */
	uint32_t	 notify;	/* DSN_NOTIFY_* */
	uint32_t	 ret;		/* DSN_RET_* */
	uint32_t	 body;		/* BODY_* */
	char		 envid[ENVELOPE_ENVID_MAX + 1];
	char		 orcpt[ENVELOPE_ORCPT_MAX + 1];
	/* where it came from */
	char		 helo[ENVELOPE_HELO_MAX + 1];
	char		 client[ENVELOPE_ADDR_MAX];
	char		 user[ENVELOPE_USER_MAX + 1];
	/* the queue's bookkeeping */
	uint32_t	 dest;		/* DEST_* */
	time_t		 ctime;		/* when it was committed */
	time_t		 lasttry;
	time_t		 nexttry;
	uint32_t	 attempts;
	uint32_t	 warned;	/* a delay DSN was sent */
	char		 error[ENVELOPE_ERROR_MAX + 1];
};

#endif
