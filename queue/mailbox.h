/*
 * Portcullis: what the two halves of the mailbox process share:
 * mailbox.c (Maildir delivery) and maildrop.c (POP3 maildrops).
 */
#ifndef PORTCULLIS_MAILBOX_H
#define PORTCULLIS_MAILBOX_H

#include "config.h"

struct ipc_msg;

/* The configuration in use, and the mail root this process lives in
 * ("" when none): every Maildir path is relative to it. */
extern struct config	*mailbox_conf;
extern char		 mailbox_root[CONFIG_PATH_MAX];

/* fsync a folder (its names are durable): 0, or -1 with errno. */
int	 mailbox_dir_sync(const char *);

/* The accept rule of a domain (ASCII case-insensitive), or NULL. */
const struct accept_rule *mailbox_rule_for(const char *);

/* maildrop.c: a POP3 request from the front end (fatal if malformed),
 * and the front end went away: every maildrop is closed. */
void	 maildrop_imsg(struct ipc_msg *);
void	 maildrop_close_all(void);

#endif
