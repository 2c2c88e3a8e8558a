/*
 * Portcullis: the front end's side of the control protocol.  The
 * control process forwards "pause smtp", "resume smtp" and the front
 * end's part of "show stats" with the smtpctl client's id as peer id;
 * each gets its data frames and one IMSG_CTL_OK on that peer id.
 *
 * Paused, the listeners' events are removed: new connections wait in
 * the kernel's listen queue (not greeted; refused by the kernel once
 * it is full) and are served when smtp resumes, while the sessions
 * already running go on.  A restart of the smtp process forgets the
 * pause.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdlib.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "control_imsg.h"
#include "smtp.h"
#include "smtp_control.h"

struct smtp_ctl_stats	 smtp_ctl_stats;

static void	 smtp_control_reply(uint32_t);
static void	 smtp_control_stats(uint32_t);
static void	 add_stat(struct ipc_obuf *, const char *, int64_t);

void
smtp_control_imsg(struct ipc_msg *m)
{
	int	 on;

	switch (m->hdr.type) {
	case IMSG_CTL_SMTP_PAUSE_REQ:
	case IMSG_CTL_SMTP_RESUME_REQ:
		ipc_end(m);
		on = m->hdr.type == IMSG_CTL_SMTP_PAUSE_REQ;
		if (smtp_listeners_paused() != on)
			log_info("smtp event=%s listeners=%zu by=smtpctl",
			    on ? "pause" : "resume", smtp_listeners_count());
		smtp_listeners_pause(on);
		smtp_control_reply(m->hdr.peerid);
		return;
	case IMSG_CTL_SMTP_STATS_REQ:
		ipc_end(m);
		smtp_control_stats(m->hdr.peerid);
		return;
	}
	fatalx("%s from control: not for smtp", ipc_type_name(m->hdr.type));
}

static void
smtp_control_reply(uint32_t peerid)
{
	if (proc_compose(PROC_CONTROL, IMSG_CTL_OK, peerid, -1, NULL, 0) ==
	    -1)
		log_warnx("smtp: cannot answer control");
}

static void
smtp_control_stats(uint32_t peerid)
{
	struct ipc		*ch;
	struct ipc_obuf		*ob;
	struct smtp_session	*s;
	int64_t			 n = 0;

	if ((ch = proc_channel(PROC_CONTROL)) == NULL)
		return;
	RB_FOREACH(s, smtp_sessions, &smtp_sessions)
		n++;
	ob = ipc_create(ch, IMSG_CTL_STATS, peerid, -1);
	add_stat(ob, "smtp.paused", smtp_listeners_paused());
	add_stat(ob, "smtp.listeners", (int64_t)smtp_listeners_count());
	add_stat(ob, "smtp.sessions", n);
	add_stat(ob, "smtp.connections",
	    (int64_t)smtp_ctl_stats.connections);
	add_stat(ob, "smtp.messages", (int64_t)smtp_ctl_stats.messages);
	if (ipc_close(ob) == -1) {
		log_warn("smtp: cannot send IMSG_CTL_STATS");
		return;
	}
	smtp_control_reply(peerid);
}

static void
add_stat(struct ipc_obuf *ob, const char *key, int64_t value)
{
	ipc_add_string(ob, key);
	ipc_add_i64(ob, value);
}
