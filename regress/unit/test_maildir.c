/*
 * Portcullis: Maildir names and paths (queue/maildir.c): %{user} and
 * %{domain} made safe, the template expanded relative to the mail
 * root, unique file names, CRLF to LF in pieces.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "maildir.h"

static const struct {
	const char	*name;
	const char	*local;		/* canonical, as mailaddr keeps it */
	const char	*want;		/* NULL: refused */
} users[] = {
	{ "plain", "alice", "alice" },
	{ "lower-cased", "Alice.Smith", "alice.smith" },
	{ "dots and plus", "a.b+tag", "a.b+tag" },
	{ "quoted, unquoted", "\"a b\"", "a b" },
	{ "quoted escapes", "\"a\\\"b\\\\c\"", "a\"b\\c" },
	{ "utf-8 kept", "j\xc3\xb6rg", "j\xc3\xb6rg" },
	{ "slash", "a/b", NULL },
	{ "quoted climb", "\"../x\"", NULL },
	{ "quoted dot dot", "\"..\"", NULL },
	{ "hidden", "\".hidden\"", NULL },
	{ "leading dot", "\".x\"", NULL },
	{ "control", "\"a\\\tb\"", NULL },
	{ "DEL", "a\x7f", NULL },
	{ "escape char", "a\x1b", NULL },
	{ "empty", "", NULL },
	{ "empty quoted", "\"\"", NULL },
	{ "quoted slash", "\"x/y\"", NULL },
};

static void
test_user(void)
{
	char		 buf[MAILDIR_NAME_MAX + 1];
	const char	*why;
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		why = NULL;
		r = maildir_user(users[i].local, buf, sizeof(buf), &why);
		if (users[i].want == NULL) {
			CHECK(r == -1 && why != NULL, "%s: got \"%s\" want "
			    "refused", users[i].name, buf);
			continue;
		}
		CHECK(r == 0, "%s: refused (%s)", users[i].name,
		    why ? why : "?");
		if (r == 0)
			CHECK_STR(buf, users[i].want);
	}
	/* too long for the buffer */
	CHECK(maildir_user("abcdef", buf, 4, &why) == -1, "no bound");
}

static const struct {
	const char	*name;
	const char	*domain;
	const char	*want;
} domains[] = {
	{ "plain", "example.com", "example.com" },
	{ "lower-cased", "Example.COM", "example.com" },
	{ "literal", "[IPv6:2001:db8::1]", "[ipv6:2001:db8::1]" },
	{ "empty", "", NULL },
	{ "dot dot", "..", NULL },
	{ "leading dot", ".example.com", NULL },
	{ "slash", "a/b", NULL },
	{ "newline", "a\nb", NULL },
};

static void
test_domain(void)
{
	char		 buf[MAILDIR_NAME_MAX + 1];
	const char	*why;
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		r = maildir_domain(domains[i].domain, buf, sizeof(buf), &why);
		if (domains[i].want == NULL) {
			CHECK(r == -1, "%s: got \"%s\" want refused",
			    domains[i].name, buf);
			continue;
		}
		CHECK(r == 0, "%s: refused (%s)", domains[i].name, why);
		if (r == 0)
			CHECK_STR(buf, domains[i].want);
	}
}

static const struct {
	const char	*name;
	const char	*tmpl;
	const char	*root;
	const char	*want;		/* NULL: an error */
} paths[] = {
	{ "domain and user", "/var/mail/%{domain}/%{user}", "/var/mail",
	    "example.com/alice" },
	{ "under a user", "/home/%{user}/Maildir", "/home",
	    "alice/Maildir" },
	{ "token in a name", "/var/vmail/x%{user}", "/var/vmail",
	    "xalice" },
	{ "root is /", "/%{domain}/%{user}", "/", "example.com/alice" },
	{ "deeper than the root", "/srv/mail/lab/%{user}", "/srv",
	    "mail/lab/alice" },
	{ "trailing slash", "/var/mail/%{user}/", "/var/mail", "alice" },
	{ "double slash", "/var/mail//%{user}", "/var/mail", "alice" },
	{ "the root itself", "/var/mail", "/var/mail", "." },
	{ "a percent", "/var/mail/100%/%{user}", "/var/mail",
	    "100%/alice" },
	{ "not under the root", "/var/mailx/%{user}", "/var/mail", NULL },
	{ "elsewhere", "/srv/%{user}", "/var/mail", NULL },
	{ "unknown token", "/var/mail/%{rcpt}", "/var/mail", NULL },
	{ "climbs", "/var/mail/../etc/%{user}", "/var/mail", NULL },
	{ "relative", "var/mail/%{user}", "/var/mail", NULL },
};

static void
test_path(void)
{
	char		 buf[MAILDIR_PATH_MAX];
	const char	*why;
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		r = maildir_path(paths[i].tmpl, paths[i].root, "alice",
		    "example.com", buf, sizeof(buf), &why);
		if (paths[i].want == NULL) {
			CHECK(r == -1, "%s: got \"%s\" want an error",
			    paths[i].name, buf);
			continue;
		}
		CHECK(r == 0, "%s: %s", paths[i].name, why);
		if (r == 0)
			CHECK_STR(buf, paths[i].want);
	}
	CHECK(maildir_path("/var/mail/%{user}", "/var/mail", "alice", "d",
	    buf, 4, &why) == -1, "no bound on the path");
}

static void
test_names(void)
{
	char	 buf[MAILDIR_FILE_MAX], nn[MAILDIR_FILE_MAX];

	CHECK(maildir_filename(buf, sizeof(buf), 1764322928, 12345, 678, 9,
	    "mx.example.com") == 0, "filename");
	CHECK_STR(buf, "1764322928.M12345P678Q9.mx.example.com");
	CHECK(maildir_filename(buf, sizeof(buf), 1, 2, 3, 4, "a/b:c") == 0,
	    "filename with / and :");
	CHECK_STR(buf, "1.M2P3Q4.a\\057b\\072c");
	CHECK(strchr(buf, '/') == NULL, "a slash in %s", buf);
	CHECK(maildir_filename(buf, sizeof(buf), 1, 2, 3, 4, "") == 0,
	    "no host");
	CHECK_STR(buf, "1.M2P3Q4.localhost");
	CHECK(maildir_filename(buf, 10, 1, 2, 3, 4, "host") == -1,
	    "no bound on the name");
	CHECK(maildir_newname(nn, sizeof(nn), "1.M2P3Q4.h", 100, 104) == 0,
	    "new name");
	CHECK_STR(nn, "1.M2P3Q4.h,S=100,W=104");
}

static void
test_lf(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		const char	*want;
		uint64_t	 lines;
	} rows[] = {
		{ "crlf", "a\r\nb\r\n", "a\nb\n", 2 },
		{ "empty lines", "\r\n\r\n", "\n\n", 2 },
		{ "lone cr kept", "a\rb\r\n", "a\rb\n", 1 },
		{ "cr cr lf", "a\r\r\n", "a\r\n", 1 },
		{ "no line end", "abc", "abc", 0 },
		{ "final cr", "abc\r", "abc", 0 },	/* caller adds it */
	};
	char		 out[64], tmp[64];
	size_t		 i, n, k, m, w, o, len;
	uint64_t	 lines;
	int		 cr;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		len = strlen(rows[i].in);
		/* every piece size, so a CR at a piece's end is covered */
		for (n = 1; n <= len; n++) {
			o = 0;
			cr = 0;
			lines = 0;
			for (k = 0; k < len; k += n) {
				m = len - k < n ? len - k : n;
				w = maildir_lf(rows[i].in + k, m, tmp, &cr,
				    &lines);
				CHECK(w <= m + 1, "%s: wrote %zu of %zu",
				    rows[i].name, w, m);
				memcpy(out + o, tmp, w);
				o += w;
			}
			out[o] = '\0';
			CHECK(strcmp(out, rows[i].want) == 0 &&
			    lines == rows[i].lines, "%s (pieces of %zu): got "
			    "\"%s\" %llu lines", rows[i].name, n, out,
			    (unsigned long long)lines);
			CHECK(cr == (strcmp(rows[i].name, "final cr") == 0),
			    "%s: pending CR %d", rows[i].name, cr);
		}
	}
}

int
main(void)
{
	RUN(test_user);
	RUN(test_domain);
	RUN(test_path);
	RUN(test_names);
	RUN(test_lf);
	return unit_done();
}
