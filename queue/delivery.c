/*
 * Portcullis: the delivery process: delivery rules, MX resolution and outbound SMTP/LMTP (issue 3).
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

static void	 delivery_imsg(enum proc_id, struct ipc_msg *);

void
delivery(void)
{
	proc_set_dispatch(delivery_imsg);
}

static void
delivery_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_PARENT) {
		switch (m->hdr.type) {
		case IMSG_PARENT_CONF_START:
		case IMSG_PARENT_CONF_END:
			/* Nothing of the configuration is delivery's yet. */
			return;
		}
	}
	fatalx("%s from %s: not for delivery", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
