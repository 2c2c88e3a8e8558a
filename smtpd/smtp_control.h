/*
 * Portcullis: the front end's side of the control protocol
 * (control/control_imsg.h): pause|resume smtp and its counters for
 * `smtpctl show stats`, in smtpd/smtp_control.c.
 */
#ifndef PORTCULLIS_SMTP_CONTROL_H
#define PORTCULLIS_SMTP_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct ipc_msg;

/* Counted by smtp_session.c since the process started. */
struct smtp_ctl_stats {
	uint64_t	 connections;	/* sessions accepted */
	uint64_t	 messages;	/* answered 250 after the data */
};
extern struct smtp_ctl_stats	 smtp_ctl_stats;

/* A request from the control process (fatal if malformed). */
void	 smtp_control_imsg(struct ipc_msg *);

/* In smtp.c: stop or start accepting on every listener (sessions go
 * on; connections wait in the listen queue), the state kept across
 * reloads. */
void	 smtp_listeners_pause(int);
int	 smtp_listeners_paused(void);
size_t	 smtp_listeners_count(void);

#endif
