/*
 * Portcullis: sandboxes on OpenBSD, pledge(2) and unveil(2).
 *
 * A process that holds no file promise (rpath, wpath, cpath) can open
 * nothing, so only queue and mailbox unveil: their root, which is the
 * current directory when the sandbox goes on (the chroot, or the
 * configured directory when not run as root).  The "dns" promise lets
 * libc's resolver read resolv.conf and hosts by itself.
 *
 * The parent rereads any config file (and its includes and tables) on
 * reload and execs the workers, so it is pledged but not unveiled.
 * Workers start from exec with no promises and pledge for themselves.
 */
#ifdef __OpenBSD__

#include <sys/types.h>

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

struct sb_unveil {
	const char	*path;
	const char	*perm;
};

static const struct sb_proc {
	const char		*name;
	const char		*promises;
	struct sb_unveil	 unveil[2];	/* up to { NULL, NULL } */
} sb_procs[] = {
	{ "parent",
	    "stdio rpath wpath cpath fattr flock chown unix inet "
	    "proc exec getpw sendfd",
	    { { NULL, NULL } } },
	{ "smtp",	"stdio inet dns recvfd sendfd",	{ { NULL, NULL } } },
	{ "auth",	"stdio recvfd",			{ { NULL, NULL } } },
	{ "queue",	"stdio rpath wpath cpath flock recvfd sendfd",
	    { { ".", "rwc" }, { NULL, NULL } } },
	{ "delivery",	"stdio inet dns recvfd",	{ { NULL, NULL } } },
	{ "mailbox",	"stdio rpath wpath cpath recvfd sendfd",
	    { { ".", "rwc" }, { NULL, NULL } } },
	{ "control",	"stdio unix recvfd sendfd",	{ { NULL, NULL } } },
};

static const struct sb_proc *sb_lookup(const char *);
static void	 sb_install(const char *);

void
sandbox_parent(void)
{
	sb_install("parent");
}

void
sandbox_smtp(void)
{
	sb_install("smtp");
}

void
sandbox_auth(void)
{
	sb_install("auth");
}

void
sandbox_queue(void)
{
	sb_install("queue");
}

void
sandbox_delivery(void)
{
	sb_install("delivery");
}

void
sandbox_mailbox(void)
{
	sb_install("mailbox");
}

void
sandbox_control(void)
{
	sb_install("control");
}

const char *
sandbox_describe(const char *name)
{
	static char		 buf[512];
	const struct sb_proc	*p;
	const struct sb_unveil	*u;

	if ((p = sb_lookup(name)) == NULL)
		return NULL;
	(void)strlcpy(buf, "pledge: ", sizeof(buf));
	(void)strlcat(buf, p->promises, sizeof(buf));
	for (u = p->unveil; u->path != NULL; u++) {
		(void)strlcat(buf, "; unveil: ", sizeof(buf));
		(void)strlcat(buf, u->path, sizeof(buf));
		(void)strlcat(buf, " ", sizeof(buf));
		(void)strlcat(buf, u->perm, sizeof(buf));
	}
	return buf;
}

static const struct sb_proc *
sb_lookup(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(sb_procs) / sizeof(sb_procs[0]); i++)
		if (strcmp(sb_procs[i].name, name) == 0)
			return &sb_procs[i];
	return NULL;
}

static void
sb_install(const char *name)
{
	const struct sb_proc	*p;
	const struct sb_unveil	*u;

	if ((p = sb_lookup(name)) == NULL)
		fatalx("%s: no sandbox for %s", __func__, name);
	if (p->unveil[0].path != NULL) {
		for (u = p->unveil; u->path != NULL; u++)
			if (unveil(u->path, u->perm) == -1)
				fatal("%s: unveil %s", name, u->path);
		if (unveil(NULL, NULL) == -1)
			fatal("%s: unveil", name);
	}
	if (pledge(p->promises, NULL) == -1)
		fatal("%s: pledge", name);
}

#endif /* __OpenBSD__ */
