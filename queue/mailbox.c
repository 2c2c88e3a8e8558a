/*
 * Portcullis: the mailbox process: Maildir delivery and mailbox descriptors for POP3 (issues 3 and 4).
 *
 * The foundation: the process starts, drops its privileges, enters its
 * sandbox, takes its channels and the part of the configuration that is
 * its own, and waits.
 */
#include <sys/types.h>

#include <stdint.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"
#include "config.h"

static struct config	*mailbox_conf;

static void	 mailbox_imsg(enum proc_id, struct ipc_msg *);
static void	 mailbox_config(struct config *);

void
mailbox(void)
{
	proc_set_dispatch(mailbox_imsg);
	proc_set_conf(mailbox_config);
}

static void
mailbox_config(struct config *conf)
{
	config_free(mailbox_conf);
	mailbox_conf = conf;
}

static void
mailbox_imsg(enum proc_id from, struct ipc_msg *m)
{
	fatalx("%s from %s: not for mailbox", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
