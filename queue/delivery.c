/*
 * Portcullis: the delivery process: delivery rules, MX resolution and outbound SMTP/LMTP (issue 3).
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

static struct config	*delivery_conf;

static void	 delivery_imsg(enum proc_id, struct ipc_msg *);
static void	 delivery_config(struct config *);

void
delivery(void)
{
	proc_set_dispatch(delivery_imsg);
	proc_set_conf(delivery_config);
}

static void
delivery_config(struct config *conf)
{
	config_free(delivery_conf);
	delivery_conf = conf;
}

static void
delivery_imsg(enum proc_id from, struct ipc_msg *m)
{
	fatalx("%s from %s: not for delivery", ipc_type_name(m->hdr.type),
	    proc_name(from));
}
