/*
 * Portcullis: the mail root, where the mailbox process is chrooted: the
 * deepest folder holding every "deliver maildir" path.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "config.h"
#include "parent.h"

static const struct {
	const char	*name;
	const char	*templates[3];
	const char	*want;		/* NULL: no mail root */
} rows[] = {
	{ "one template", { "/var/mail/%{domain}/%{user}" }, "/var/mail" },
	{ "two under one root", { "/var/mail/%{domain}/%{user}",
	    "/var/mail/lab/%{user}" }, "/var/mail" },
	{ "siblings", { "/srv/a/%{user}", "/srv/b/%{user}" }, "/srv" },
	{ "user in the middle", { "/home/%{user}/Maildir" }, "/home" },
	{ "token inside a name", { "/var/vmail/x%{user}" }, "/var/vmail" },
	{ "a name that is a prefix", { "/var/mail/%{user}",
	    "/var/mailx/%{user}" }, "/var" },
	{ "nothing in common", { "/a/%{user}", "/b/%{user}" }, "/" },
	{ "no maildir", { NULL }, NULL },
};

static void
test_rows(void)
{
	char		 path[] = "/tmp/test_mailroot.XXXXXX", buf[1024];
	struct config	*c;
	FILE		*f;
	size_t		 i, j;
	int		 fd, r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		(void)strlcpy(path, "/tmp/test_mailroot.XXXXXX", sizeof(path));
		if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
			err(1, "mkstemp");
		for (j = 0; j < 3 && rows[i].templates[j] != NULL; j++)
			fprintf(f, "accept for domain \"d%zu.example\" deliver "
			    "maildir \"%s\"\n", j, rows[i].templates[j]);
		fprintf(f, "accept for domain \"lmtp.example\" deliver lmtp "
		    "\"127.0.0.1:24\"\n");
		fclose(f);
		c = config_parse(path);
		unlink(path);
		CHECK(c != NULL, "%s: config does not parse", rows[i].name);
		if (c == NULL)
			continue;
		r = mailroot(c, buf, sizeof(buf));
		if (rows[i].want == NULL)
			CHECK(r == -1, "%s: got %s want none", rows[i].name,
			    buf);
		else {
			CHECK(r == 0, "%s: no mail root", rows[i].name);
			if (r == 0)
				CHECK_STR(buf, rows[i].want);
		}
		config_free(c);
	}
}

int
main(void)
{
	RUN(test_rows);
	return unit_done();
}
