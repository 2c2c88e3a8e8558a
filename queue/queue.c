/*
 * Portcullis: the queue process: the durable spool, scheduling, retries and bounces (issue 3).
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

static void	 queue_imsg(enum proc_id, struct ipc_msg *);

void
queue(void)
{
	proc_set_dispatch(queue_imsg);
}

static void
queue_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_PARENT) {
		switch (m->hdr.type) {
		case IMSG_PARENT_CONF_START:
		case IMSG_PARENT_CONF_END:
			/* Nothing of the configuration is queue's yet. */
			return;
		}
	}
	fatalx("%s from %s: not for queue", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
