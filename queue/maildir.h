/*
 * Portcullis: Maildir names and paths (queue/maildir.c), the pure part
 * of the mailbox process: no I/O, no state, so that the unit tests
 * (regress/unit/test_maildir.c) and, for POP3 logins, the mailbox
 * process itself use the same rules.
 *
 * Where a recipient's mail goes: the "deliver maildir" template of its
 * accept rule with %{user} = the local part and %{domain} = the domain,
 * made relative to the mail root (the mailbox process lives there:
 * chrooted as root, its working directory otherwise).
 *
 *	%{user}		the local part, unquoted (a Quoted-string's
 *			quotes and backslashes removed) and lower-cased
 *			(ASCII), so that Alice@ and alice@ share one
 *			Maildir and the login alice@example.com finds it
 *	%{domain}	the domain, lower-cased (as the parser keeps it)
 *
 * Each must be one safe path component, or the recipient is refused
 * for good: not empty, no '/', no leading '.' (so neither "." nor ".."
 * nor a hidden name), no NUL, no control character (0x01-0x1f, 0x7f),
 * at most MAILDIR_NAME_MAX octets.
 *
 * Line ends.  The spool keeps the message with CRLF line ends (the
 * SMTP form); a Maildir file has LF line ends, as Dovecot, Courier,
 * mutt and qmail write and expect.  Only a CR right before a LF is
 * dropped: a lone CR (which the front end never lets in) would stay.
 * The file's name carries both sizes (the Maildir++ ",S=" of the file
 * and Dovecot's ",W=" with CRLF line ends), and POP3 (issue 4) turns
 * LF back into CRLF on the way out, so RETR gives the client exactly
 * the CRLF message, W octets long.
 */
#ifndef PORTCULLIS_MAILDIR_H
#define PORTCULLIS_MAILDIR_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define MAILDIR_NAME_MAX	255	/* one path component */
#define MAILDIR_PATH_MAX	1024	/* a Maildir, relative */
#define MAILDIR_FILE_MAX	256	/* a file name in tmp/ or new/ */

struct mailaddr;

/* 0 when s is a safe path component, else -1 with *why set. */
int	 maildir_name_ok(const char *, const char **);

/*
 * %{user} of a local part (struct mailaddr's canonical form: bare, or
 * quoted with '"' and '\' escaped): unquoted, lower-cased, checked.
 * 0, or -1 with *why set ("a local part that starts with '.'", ...).
 */
int	 maildir_user(const char *, char *, size_t, const char **);

/* %{domain}: lower-cased, checked.  0, or -1 with *why set. */
int	 maildir_domain(const char *, char *, size_t, const char **);

/*
 * The Maildir of (user, domain), already made safe by the two above,
 * from a template and the mail root it lives under (both absolute, as
 * mailroot() computes them): the path relative to the root, without a
 * leading '/' ("." when it is the root itself).  Unknown %{...} tokens
 * are an error.  0, or -1 with *why set (the template is not under the
 * root, a bad token, too long).
 */
int	 maildir_path(const char *, const char *, const char *, const char *,
	    char *, size_t, const char **);

/*
 * A unique file name: "SEC.M<usec>P<pid>Q<counter>.HOST", the host's
 * '/' written "\057" and ':' "\072" (the Maildir convention).  0, or -1
 * when it does not fit.
 */
int	 maildir_filename(char *, size_t, long long, long, long,
	    unsigned long long, const char *);

/*
 * Its name in new/: the same with ",S=<size>,W=<size with CRLF>"
 * appended.  0, or -1 when it does not fit.
 */
int	 maildir_newname(char *, size_t, const char *, uint64_t, uint64_t);

/*
 * CRLF to LF, in pieces: in[0..n) into out (room for n + 1 octets),
 * *cr carrying a CR seen at the end of the previous piece (start with
 * 0; at the end, a *cr still set is a final lone CR: write it).
 * Returns the octets written; *lines counts the LFs written.
 */
size_t	 maildir_lf(const char *, size_t, char *, int *, uint64_t *);

#endif
