/*
 * Portcullis: the auth process: SMTP AUTH and POP3 password checks, relay decisions, the POP3 login tracker and the per-client limits (issue 4).
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

static struct config	*auth_conf;

static void	 auth_imsg(enum proc_id, struct ipc_msg *);
static void	 auth_config(struct config *);

void
auth(void)
{
	proc_set_dispatch(auth_imsg);
	proc_set_conf(auth_config);
}

static void
auth_config(struct config *conf)
{
	config_free(auth_conf);
	auth_conf = conf;
}

static void
auth_imsg(enum proc_id from, struct ipc_msg *m)
{
	fatalx("%s from %s: not for auth", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
