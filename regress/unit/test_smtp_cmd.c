/*
 * Portcullis: unit tests for smtpd/smtp_cmd.c -- the SMTP command line
 * parser (smtp_cmd_parse) and the arguments of BDAT (smtp_bdat_parse).
 *
 * Every verb is tried in upper, lower and mixed case, with and without
 * arguments; "MAIL FROM:" and "RCPT TO:" with their separators; lines
 * that are not commands (empty, unknown verbs, prefixes and extensions
 * of verbs, control characters).  On success args must point inside the
 * line, at its tail, and the line must be left as it was; on failure
 * err must be set, and the verb is kept for MAIL and RCPT (the session
 * answers 501 rather than 500).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"
#include "unit.h"


static const char *
verb_name(enum smtp_verb v)
{
	static const char *names[] = {
		"CMD_UNKNOWN", "CMD_HELO", "CMD_EHLO", "CMD_STARTTLS",
		"CMD_AUTH", "CMD_MAIL", "CMD_RCPT", "CMD_DATA", "CMD_BDAT",
		"CMD_RSET", "CMD_VRFY", "CMD_EXPN", "CMD_HELP", "CMD_NOOP",
		"CMD_QUIT"
	};

	if ((unsigned)v < sizeof(names) / sizeof(names[0]))
		return names[v];
	return "(bad verb)";
}

/* ---- smtp_cmd_parse ------------------------------------------------- */

#define E_UNKNOWN	"Command unrecognized"
#define E_CTRL		"control character in command"
#define E_MAIL		"Syntax: MAIL FROM:<address>"
#define E_RCPT		"Syntax: RCPT TO:<address>"

struct cmd_row {
	const char	*name;
	const char	*input;
	int		 want_rc;
	enum smtp_verb	 want_verb;	/* also on failure */
	const char	*want_name;	/* cmd.name */
	const char	*want_args;	/* on success */
	const char	*want_err;	/* on failure */
};

#define OK(nm, in, v, vn, args)	{ nm, in, 0, v, vn, args, NULL }
#define BAD(nm, in, v, vn, err)	{ nm, in, -1, v, vn, NULL, err }
#define UNK(nm, in)		BAD(nm, in, CMD_UNKNOWN, "unknown", E_UNKNOWN)

static const struct cmd_row cmd_rows[] = {
	/* Every verb, in three cases, bare. */
	OK("HELO", "HELO", CMD_HELO, "HELO", ""),
	OK("helo", "helo", CMD_HELO, "HELO", ""),
	OK("HeLo", "HeLo", CMD_HELO, "HELO", ""),
	OK("EHLO", "EHLO", CMD_EHLO, "EHLO", ""),
	OK("ehlo", "ehlo", CMD_EHLO, "EHLO", ""),
	OK("eHlO", "eHlO", CMD_EHLO, "EHLO", ""),
	OK("STARTTLS", "STARTTLS", CMD_STARTTLS, "STARTTLS", ""),
	OK("starttls", "starttls", CMD_STARTTLS, "STARTTLS", ""),
	OK("StartTls", "StartTls", CMD_STARTTLS, "STARTTLS", ""),
	OK("AUTH", "AUTH", CMD_AUTH, "AUTH", ""),
	OK("auth", "auth", CMD_AUTH, "AUTH", ""),
	OK("Auth", "Auth", CMD_AUTH, "AUTH", ""),
	OK("DATA", "DATA", CMD_DATA, "DATA", ""),
	OK("data", "data", CMD_DATA, "DATA", ""),
	OK("DaTa", "DaTa", CMD_DATA, "DATA", ""),
	OK("BDAT", "BDAT", CMD_BDAT, "BDAT", ""),
	OK("bdat", "bdat", CMD_BDAT, "BDAT", ""),
	OK("bDaT", "bDaT", CMD_BDAT, "BDAT", ""),
	OK("RSET", "RSET", CMD_RSET, "RSET", ""),
	OK("rset", "rset", CMD_RSET, "RSET", ""),
	OK("RsEt", "RsEt", CMD_RSET, "RSET", ""),
	OK("VRFY", "VRFY", CMD_VRFY, "VRFY", ""),
	OK("vrfy", "vrfy", CMD_VRFY, "VRFY", ""),
	OK("Vrfy", "Vrfy", CMD_VRFY, "VRFY", ""),
	OK("EXPN", "EXPN", CMD_EXPN, "EXPN", ""),
	OK("expn", "expn", CMD_EXPN, "EXPN", ""),
	OK("ExPn", "ExPn", CMD_EXPN, "EXPN", ""),
	OK("HELP", "HELP", CMD_HELP, "HELP", ""),
	OK("help", "help", CMD_HELP, "HELP", ""),
	OK("hElP", "hElP", CMD_HELP, "HELP", ""),
	OK("NOOP", "NOOP", CMD_NOOP, "NOOP", ""),
	OK("noop", "noop", CMD_NOOP, "NOOP", ""),
	OK("NoOp", "NoOp", CMD_NOOP, "NOOP", ""),
	OK("QUIT", "QUIT", CMD_QUIT, "QUIT", ""),
	OK("quit", "quit", CMD_QUIT, "QUIT", ""),
	OK("qUiT", "qUiT", CMD_QUIT, "QUIT", ""),

	/* MAIL FROM: and RCPT TO:, three cases each. */
	OK("MAIL FROM:<a@b>", "MAIL FROM:<a@b>", CMD_MAIL, "MAIL FROM",
	    "<a@b>"),
	OK("mail from:<a@b>", "mail from:<a@b>", CMD_MAIL, "MAIL FROM",
	    "<a@b>"),
	OK("Mail From:<a@b>", "Mail From:<a@b>", CMD_MAIL, "MAIL FROM",
	    "<a@b>"),
	OK("mAiL fRoM:<a@b>", "mAiL fRoM:<a@b>", CMD_MAIL, "MAIL FROM",
	    "<a@b>"),
	OK("RCPT TO:<a@b>", "RCPT TO:<a@b>", CMD_RCPT, "RCPT TO", "<a@b>"),
	OK("rcpt to:<a@b>", "rcpt to:<a@b>", CMD_RCPT, "RCPT TO", "<a@b>"),
	OK("Rcpt To:<a@b>", "Rcpt To:<a@b>", CMD_RCPT, "RCPT TO", "<a@b>"),
	OK("rCpT tO:<a@b>", "rCpT tO:<a@b>", CMD_RCPT, "RCPT TO", "<a@b>"),

	/* The separators of MAIL and RCPT. */
	OK("MAIL FROM: <a@b> accepted", "MAIL FROM: <a@b>", CMD_MAIL,
	    "MAIL FROM", "<a@b>"),
	OK("MAIL FROM:   <a@b> every space skipped", "MAIL FROM:   <a@b>",
	    CMD_MAIL, "MAIL FROM", "<a@b>"),
	OK("MAIL FROM:<> null sender", "MAIL FROM:<>", CMD_MAIL,
	    "MAIL FROM", "<>"),
	OK("MAIL FROM: params kept as they are",
	    "MAIL FROM:<a@b> SIZE=100 BODY=8BITMIME", CMD_MAIL, "MAIL FROM",
	    "<a@b> SIZE=100 BODY=8BITMIME"),
	OK("MAIL FROM: trailing space kept", "MAIL FROM:<a@b> ", CMD_MAIL,
	    "MAIL FROM", "<a@b> "),
	OK("MAIL FROM: empty path", "MAIL FROM:", CMD_MAIL, "MAIL FROM", ""),
	OK("MAIL FROM: only spaces", "MAIL FROM:   ", CMD_MAIL, "MAIL FROM",
	    ""),
	OK("MAIL FROM:a@b without brackets (for the address parser)",
	    "MAIL FROM:a@b", CMD_MAIL, "MAIL FROM", "a@b"),
	OK("RCPT TO: empty", "RCPT TO:", CMD_RCPT, "RCPT TO", ""),
	OK("RCPT TO: <a@b>", "RCPT TO: <a@b>", CMD_RCPT, "RCPT TO", "<a@b>"),
	OK("RCPT TO:<Postmaster>", "RCPT TO:<Postmaster>", CMD_RCPT,
	    "RCPT TO", "<Postmaster>"),
	OK("RCPT TO: with NOTIFY", "RCPT TO:<a@b> NOTIFY=NEVER", CMD_RCPT,
	    "RCPT TO", "<a@b> NOTIFY=NEVER"),
	OK("MAIL FROM: UTF-8 octets are not control characters",
	    "MAIL FROM:<j\xc3\xb6rg@b\xc3\xa4r.example>", CMD_MAIL,
	    "MAIL FROM", "<j\xc3\xb6rg@b\xc3\xa4r.example>"),

	BAD("MAIL FROM :<a@b>", "MAIL FROM :<a@b>", CMD_MAIL, "MAIL FROM",
	    E_MAIL),
	BAD("MAIL <a@b>", "MAIL <a@b>", CMD_MAIL, "MAIL FROM", E_MAIL),
	BAD("MAIL alone", "MAIL", CMD_MAIL, "MAIL FROM", E_MAIL),
	BAD("MAIL and a space", "MAIL ", CMD_MAIL, "MAIL FROM", E_MAIL),
	BAD("MAIL FROM without colon", "MAIL FROM", CMD_MAIL, "MAIL FROM",
	    E_MAIL),
	BAD("MAIL FROM<a@b>", "MAIL FROM<a@b>", CMD_MAIL, "MAIL FROM",
	    E_MAIL),
	BAD("MAIL  FROM:<a@b> two spaces", "MAIL  FROM:<a@b>", CMD_MAIL,
	    "MAIL FROM", E_MAIL),
	BAD("MAIL TO:<a@b>", "MAIL TO:<a@b>", CMD_MAIL, "MAIL FROM", E_MAIL),
	BAD("MAIL FRO:<a@b>", "MAIL FRO:<a@b>", CMD_MAIL, "MAIL FROM",
	    E_MAIL),
	BAD("RCPT alone", "RCPT", CMD_RCPT, "RCPT TO", E_RCPT),
	BAD("RCPT <a@b>", "RCPT <a@b>", CMD_RCPT, "RCPT TO", E_RCPT),
	BAD("RCPT TO :<a@b>", "RCPT TO :<a@b>", CMD_RCPT, "RCPT TO", E_RCPT),
	BAD("RCPT FROM:<a@b>", "RCPT FROM:<a@b>", CMD_RCPT, "RCPT TO",
	    E_RCPT),
	BAD("RCPT T:<a@b>", "RCPT T:<a@b>", CMD_RCPT, "RCPT TO", E_RCPT),

	/* Arguments of the other verbs: one space skipped, the rest kept. */
	OK("HELO host", "HELO host.example", CMD_HELO, "HELO",
	    "host.example"),
	OK("EHLO host", "EHLO host.example", CMD_EHLO, "EHLO",
	    "host.example"),
	OK("ehlo [literal]", "ehlo [192.0.2.1]", CMD_EHLO, "EHLO",
	    "[192.0.2.1]"),
	OK("EHLO two spaces: the second is an argument", "EHLO  host",
	    CMD_EHLO, "EHLO", " host"),
	OK("EHLO trailing space", "EHLO ", CMD_EHLO, "EHLO", ""),
	OK("HELO two words", "HELO a b", CMD_HELO, "HELO", "a b"),
	OK("NOOP with text", "NOOP anything at all", CMD_NOOP, "NOOP",
	    "anything at all"),
	OK("noop with a space", "noop ", CMD_NOOP, "NOOP", ""),
	OK("QUIT with an argument", "QUIT now", CMD_QUIT, "QUIT", "now"),
	OK("DATA with an argument", "DATA x", CMD_DATA, "DATA", "x"),
	OK("RSET with an argument", "RSET x", CMD_RSET, "RSET", "x"),
	OK("STARTTLS with an argument", "STARTTLS x", CMD_STARTTLS,
	    "STARTTLS", "x"),
	OK("BDAT 100 LAST", "BDAT 100 LAST", CMD_BDAT, "BDAT", "100 LAST"),
	OK("VRFY user", "VRFY user", CMD_VRFY, "VRFY", "user"),
	OK("EXPN list", "EXPN list", CMD_EXPN, "EXPN", "list"),
	OK("HELP topic", "HELP MAIL", CMD_HELP, "HELP", "MAIL"),
	OK("AUTH PLAIN", "AUTH PLAIN AGZvbwBiYXI=", CMD_AUTH, "AUTH",
	    "PLAIN AGZvbwBiYXI="),

	/* Not commands. */
	UNK("empty line", ""),
	UNK("a space", " "),
	UNK("leading space", " HELO host"),
	UNK("unknown verb", "XYZZY"),
	UNK("unknown verb with args", "FOO bar"),
	UNK("TURN", "TURN"),
	UNK("ETRN", "ETRN example.com"),
	UNK("HTTP request", "GET / HTTP/1.1"),
	UNK("MAI, a prefix of MAIL", "MAI"),
	UNK("MAI FROM:", "MAI FROM:<a@b>"),
	UNK("MAILX FROM:", "MAILX FROM:<a@b>"),
	UNK("MAILFROM:", "MAILFROM:<a@b>"),
	UNK("MAIL:", "MAIL:FROM:<a@b>"),
	UNK("RCP", "RCP"),
	UNK("RCPTTO:", "RCPTTO:<a@b>"),
	UNK("HEL", "HEL"),
	UNK("EHLOO", "EHLOO host"),
	UNK("START", "START"),
	UNK("STARTTLSX", "STARTTLSX"),
	UNK("STARTTL", "STARTTL"),
	UNK("DAT", "DAT"),
	UNK("DATAX", "DATAX"),
	UNK("BDA", "BDA 1"),
	UNK("NOOPS", "NOOPS"),
	UNK("QUI", "QUI"),
	UNK("Q", "Q"),

	/* Control characters, wherever they are. */
	BAD("TAB after the verb", "HELO\thost", CMD_UNKNOWN, "unknown",
	    E_CTRL),
	BAD("TAB in MAIL", "MAIL FROM:<a@b>\tSIZE=1", CMD_UNKNOWN, "unknown",
	    E_CTRL),
	BAD("CR at the end", "NOOP\r", CMD_UNKNOWN, "unknown", E_CTRL),
	BAD("CR inside", "NOOP a\rb", CMD_UNKNOWN, "unknown", E_CTRL),
	BAD("LF inside", "RSET\nDATA", CMD_UNKNOWN, "unknown", E_CTRL),
	BAD("ESC", "EHLO \x1b[1mhost", CMD_UNKNOWN, "unknown", E_CTRL),
	BAD("DEL", "EHLO ho\x7fst", CMD_UNKNOWN, "unknown", E_CTRL),
	BAD("control character first", "\x01HELO", CMD_UNKNOWN, "unknown",
	    E_CTRL),
	BAD("control character in an unknown verb", "FO\x02O", CMD_UNKNOWN,
	    "unknown", E_CTRL),
};

static const struct cmd_row *cmd_cur;

static void
test_cmd_parse(void)
{
	const struct cmd_row	*r = cmd_cur;
	struct smtp_cmd		 cmd;
	const char		*err = "(not set)";
	char			*line;
	size_t			 len;
	int			 rc;

	len = strlen(r->input);
	if ((line = malloc(len + 1)) == NULL)
		abort();
	memcpy(line, r->input, len + 1);
	memset(&cmd, 0xa5, sizeof(cmd));
	rc = smtp_cmd_parse(line, &cmd, &err);

	CHECK(rc == r->want_rc, "\"%s\": got rc %d want %d", r->input, rc,
	    r->want_rc);
	CHECK(cmd.verb == r->want_verb, "got %s want %s",
	    verb_name(cmd.verb), verb_name(r->want_verb));
	CHECK(memcmp(line, r->input, len + 1) == 0,
	    "the line was changed: got \"%s\" want \"%s\"", line, r->input);
	if (rc == 0) {
		CHECK_STR(cmd.name, r->want_name);
		CHECK_STR(err, "(not set)");
		/* args is the tail of the line itself */
		CHECK(cmd.args >= line && cmd.args <= line + len,
		    "got args at %p want within [%p, %p]",
		    (const void *)cmd.args, (void *)line,
		    (void *)(line + len));
		if (cmd.args >= line && cmd.args <= line + len)
			CHECK_STR(cmd.args, r->want_args);
	} else {
		CHECK(err != NULL && strcmp(err, "(not set)") != 0,
		    "got err not set want \"%s\"", r->want_err);
		CHECK_STR(err, r->want_err);
		CHECK(cmd.name != NULL && cmd.args != NULL,
		    "got name %p args %p want both set",
		    (const void *)cmd.name, (const void *)cmd.args);
		if (r->want_verb != CMD_UNKNOWN)
			CHECK_STR(cmd.name, r->want_name);
	}
	free(line);
}

/* Every control character, at the start, in the verb and in the args. */
static void
test_cmd_every_control_char(void)
{
	static const char *where[] = { "%cNOOP", "NO%cOP", "NOOP %c",
	    "MAIL FROM:<a@b>%c", "%c" };
	struct smtp_cmd	 cmd;
	const char	*err;
	char		 line[64];
	unsigned	 c, w;
	int		 rc;

	for (c = 1; c < 0x80; c++) {
		if (c >= 0x20 && c != 0x7f)
			continue;
		for (w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
			(void)snprintf(line, sizeof(line), where[w], (int)c);
			err = NULL;
			rc = smtp_cmd_parse(line, &cmd, &err);
			CHECK(rc == -1 && err != NULL &&
			    strcmp(err, E_CTRL) == 0,
			    "0x%02x in \"%s\": got rc %d err \"%s\" want -1 "
			    "\"%s\"", c, where[w], rc, err ? err : "(null)",
			    E_CTRL);
		}
	}
	/* octets 0x80-0xff are not control characters */
	for (c = 0x80; c < 0x100; c++) {
		(void)snprintf(line, sizeof(line), "NOOP %c", (int)c);
		rc = smtp_cmd_parse(line, &cmd, &err);
		CHECK(rc == 0 && cmd.verb == CMD_NOOP && cmd.args == line + 5,
		    "0x%02x: got rc %d verb %s want 0 CMD_NOOP", c, rc,
		    verb_name(cmd.verb));
	}
}

/* A line at the session's limit, and a longer one: the parser has none. */
static void
test_cmd_long_lines(void)
{
	struct smtp_cmd	 cmd;
	const char	*err;
	char		*line;
	size_t		 n = 64 * 1024, i;
	int		 rc;

	if ((line = malloc(n + 1)) == NULL)
		abort();
	memcpy(line, "RCPT TO:<", 9);
	for (i = 9; i < n - 1; i++)
		line[i] = 'a';
	line[n - 1] = '>';
	line[n] = '\0';
	rc = smtp_cmd_parse(line, &cmd, &err);
	CHECK(rc == 0 && cmd.verb == CMD_RCPT && cmd.args == line + 8,
	    "got rc %d verb %s args +%td want 0 CMD_RCPT +8", rc,
	    verb_name(cmd.verb), cmd.args - line);
	memset(line, 'A', n);
	rc = smtp_cmd_parse(line, &cmd, &err);
	CHECK(rc == -1 && cmd.verb == CMD_UNKNOWN, "got rc %d verb %s want -1 "
	    "CMD_UNKNOWN", rc, verb_name(cmd.verb));
	free(line);
}

/* ---- smtp_bdat_parse ------------------------------------------------ */

struct bdat_row {
	const char	*name;
	const char	*input;
	int		 want_rc;
	uint64_t	 want_size;
	int		 want_last;
};

#define BOK(nm, in, sz, last)	{ nm, in, 0, sz, last }
#define BBAD(nm, in)		{ nm, in, -1, 0, 0 }

static const struct bdat_row bdat_rows[] = {
	BOK("0", "0", 0, 0),
	BOK("0 LAST", "0 LAST", 0, 1),
	BOK("123 last", "123 last", 123, 1),
	BOK("123 LaSt", "123 LaSt", 123, 1),
	BOK("1", "1", 1, 0),
	BOK("leading zeros", "007", 7, 0),
	BOK("65536", "65536", 65536, 0),
	BOK("19 digits", "9999999999999999999", 9999999999999999999ULL, 0),
	BOK("19 digits LAST", "1000000000000000000 LAST",
	    1000000000000000000ULL, 1),
	BBAD("empty", ""),
	BBAD("-1", "-1"),
	BBAD("+1", "+1"),
	BBAD("1 2", "1 2"),
	BBAD("1  LAST", "1  LAST"),
	BBAD("1 LAST trailing space", "1 LAST "),
	BBAD("1 LASTX", "1 LASTX"),
	BBAD("1 LAS", "1 LAS"),
	BBAD("1LAST", "1LAST"),
	BBAD("1 trailing space", "1 "),
	BBAD("leading space", " 1"),
	BBAD("LAST alone", "LAST"),
	BBAD("hex", "0x10"),
	BBAD("1.5", "1.5"),
	BBAD("20 digits: UINT64_MAX", "18446744073709551615"),
	BBAD("20 digits: UINT64_MAX + 1", "18446744073709551616"),
	BBAD("20 digits: 99999999999999999999", "99999999999999999999"),
	BBAD("20 digits LAST", "10000000000000000000 LAST"),
	BBAD("30 digits", "123456789012345678901234567890"),
	BBAD("digits then letters", "12ab"),
	BBAD("UTF-8 digit", "\xd9\xa1"),
};

static const struct bdat_row *bdat_cur;

static void
test_bdat_parse(void)
{
	const struct bdat_row	*r = bdat_cur;
	uint64_t		 size = 0xdeadbeef;
	int			 last = 42, rc;

	rc = smtp_bdat_parse(r->input, &size, &last);
	CHECK(rc == r->want_rc, "\"%s\": got rc %d want %d", r->input, rc,
	    r->want_rc);
	if (rc == 0 && r->want_rc == 0) {
		CHECK(size == r->want_size, "got size %llu want %llu",
		    (unsigned long long)size,
		    (unsigned long long)r->want_size);
		CHECK(last == r->want_last, "got last %d want %d", last,
		    r->want_last);
	}
}

/* BDAT from the command line to its size. */
static void
test_bdat_through_cmd(void)
{
	struct smtp_cmd	 cmd;
	const char	*err;
	char		 line[] = "bdat 4096 LAST";
	uint64_t	 size = 0;
	int		 last = 0, rc;

	rc = smtp_cmd_parse(line, &cmd, &err);
	CHECK(rc == 0 && cmd.verb == CMD_BDAT, "got rc %d verb %s want 0 "
	    "CMD_BDAT", rc, verb_name(cmd.verb));
	rc = smtp_bdat_parse(cmd.args, &size, &last);
	CHECK(rc == 0 && size == 4096 && last == 1,
	    "got rc %d size %llu last %d want 0 4096 1", rc,
	    (unsigned long long)size, last);
}

int
main(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(cmd_rows) / sizeof(cmd_rows[0]); i++) {
		cmd_cur = &cmd_rows[i];
		RUN_NAMED(test_cmd_parse, cmd_cur->name);
	}
	RUN(test_cmd_every_control_char);
	RUN(test_cmd_long_lines);
	for (i = 0; i < sizeof(bdat_rows) / sizeof(bdat_rows[0]); i++) {
		bdat_cur = &bdat_rows[i];
		RUN_NAMED(test_bdat_parse, bdat_cur->name);
	}
	RUN(test_bdat_through_cmd);
	return unit_done();
}
