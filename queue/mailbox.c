/*
 * Portcullis: the mailbox process: Maildir delivery and mailbox descriptors for POP3 (issues 3 and 4).
 *
 * The foundation: the process starts, drops its privileges, enters its
 * sandbox, takes its channels and its configuration, and waits.
 */
#include <sys/types.h>

#include <stdint.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "parent_imsg.h"

static void	 mailbox_imsg(enum proc_id, struct ipc_msg *);

void
mailbox(void)
{
	proc_set_dispatch(mailbox_imsg);
}

static void
mailbox_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_PARENT) {
		switch (m->hdr.type) {
		case IMSG_PARENT_CONF_START:
		case IMSG_PARENT_CONF_END:
			/* Nothing of the configuration is mailbox's yet. */
			return;
		}
	}
	fatalx("%s from %s: not for mailbox", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
