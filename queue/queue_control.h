/*
 * Portcullis: the queue's side of the control protocol
 * (control/control_imsg.h), in queue/queue_control.c: show queue, show
 * message, schedule, remove, pause|resume delivery and the queue's
 * stats, asked by the control process for an smtpctl client.
 */
#ifndef PORTCULLIS_QUEUE_CONTROL_H
#define PORTCULLIS_QUEUE_CONTROL_H

struct ipc_msg;

/* A request from the control process (fatal if malformed). */
void	 queue_control_imsg(struct ipc_msg *);
/* The control process went away: the listings in progress are dropped. */
void	 queue_control_gone(void);

#endif
