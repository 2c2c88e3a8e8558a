/*
 * Portcullis: the configuration, from the parent to each worker
 * (smtpd/config_ipc.c).
 */
#ifndef PORTCULLIS_CONFIG_IPC_H
#define PORTCULLIS_CONFIG_IPC_H

#include <stdint.h>

#include "ipc.h"
#include "proc.h"

struct config;

/* Parent: CONF_START and what the role needs of c, then CONF_END. */
void		 config_send(struct ipc *, enum proc_id, const struct config *,
		    uint64_t generation);
void		 config_send_end(struct ipc *, uint64_t generation);

/* Worker: feed every IMSG_PARENT_CONF_* message; returns the complete
 * configuration at CONF_END (the caller owns it), else NULL. */
struct config	*config_recv(struct config **building, struct ipc_msg *);

#endif
