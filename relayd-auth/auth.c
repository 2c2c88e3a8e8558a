/*
 * Portcullis: the auth process: SMTP AUTH and POP3 password checks, relay decisions, the POP3 login tracker and the per-client limits (issue 4).
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

static void	 auth_imsg(enum proc_id, struct ipc_msg *);

void
auth(void)
{
	proc_set_dispatch(auth_imsg);
}

static void
auth_imsg(enum proc_id from, struct ipc_msg *m)
{
	if (from == PROC_PARENT) {
		switch (m->hdr.type) {
		case IMSG_PARENT_CONF_START:
		case IMSG_PARENT_CONF_END:
			/* Nothing of the configuration is auth's yet. */
			return;
		}
	}
	fatalx("%s from %s: not for auth", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
