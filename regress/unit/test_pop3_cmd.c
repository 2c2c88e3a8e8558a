/*
 * Portcullis: unit tests for smtpd/pop3_cmd.c -- the POP3 command
 * parser (pop3_cmd_parse), the message writer (pop3_out_*: LF to CRLF,
 * byte-stuffing, TOP), the CRLF size (pop3_crlf_size) and unique ids
 * (pop3_uid).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3.h"
#include "unit.h"

/* ---- pop3_cmd_parse -------------------------------------------------- */

struct cmd_row {
	const char	*input;
	int		 rc;
	enum pop3_verb	 verb;
	int		 nargs;
	uint32_t	 n0, n1;
	const char	*arg;		/* USER, PASS: NULL to skip */
	const char	*err;		/* on failure */
};

static const struct cmd_row cmd_rows[] = {
	{ "CAPA", 0, P3_CAPA, 0, 0, 0, NULL, NULL },
	{ "capa", 0, P3_CAPA, 0, 0, 0, NULL, NULL },
	{ "CaPa", 0, P3_CAPA, 0, 0, 0, NULL, NULL },
	{ "CAPA x", -1, P3_CAPA, 0, 0, 0, NULL,
	    "Syntax error: no argument expected" },
	{ "CAPA ", -1, P3_CAPA, 0, 0, 0, NULL,
	    "Syntax error: a space without an argument" },
	{ "STLS", 0, P3_STLS, 0, 0, 0, NULL, NULL },
	{ "QUIT", 0, P3_QUIT, 0, 0, 0, NULL, NULL },
	{ "quit now", -1, P3_QUIT, 0, 0, 0, NULL,
	    "Syntax error: no argument expected" },
	{ "NOOP", 0, P3_NOOP, 0, 0, 0, NULL, NULL },
	{ "RSET", 0, P3_RSET, 0, 0, 0, NULL, NULL },
	{ "STAT", 0, P3_STAT, 0, 0, 0, NULL, NULL },
	{ "USER alice@example.com", 0, P3_USER, 0, 0, 0, "alice@example.com",
	    NULL },
	{ "user Bob", 0, P3_USER, 0, 0, 0, "Bob", NULL },
	{ "USER", -1, P3_USER, 0, 0, 0, NULL, "Syntax: USER name" },
	{ "USER ", -1, P3_USER, 0, 0, 0, NULL,
	    "Syntax error: a space without an argument" },
	{ "PASS secret", 0, P3_PASS, 0, 0, 0, "secret", NULL },
	{ "PASS two words ", 0, P3_PASS, 0, 0, 0, "two words ", NULL },
	{ "PASS ", 0, P3_PASS, 0, 0, 0, "", NULL },	/* an empty password */
	{ "PASS", -1, P3_PASS, 0, 0, 0, NULL, "Syntax: PASS password" },
	{ "LIST", 0, P3_LIST, 0, 0, 0, NULL, NULL },
	{ "LIST 1", 0, P3_LIST, 1, 1, 0, NULL, NULL },
	{ "LIST 007", 0, P3_LIST, 1, 7, 0, NULL, NULL },
	{ "LIST 4294967295", 0, P3_LIST, 1, 4294967295U, 0, NULL, NULL },
	{ "LIST 4294967296", -1, P3_LIST, 0, 0, 0, NULL,
	    "Invalid message number" },
	{ "LIST 0", -1, P3_LIST, 0, 0, 0, NULL, "Invalid message number" },
	{ "LIST -1", -1, P3_LIST, 0, 0, 0, NULL, "Invalid message number" },
	{ "LIST +1", -1, P3_LIST, 0, 0, 0, NULL, "Invalid message number" },
	{ "LIST 1 2", -1, P3_LIST, 0, 0, 0, NULL, "Invalid message number" },
	{ "LIST a", -1, P3_LIST, 0, 0, 0, NULL, "Invalid message number" },
	{ "LIST 1  ", -1, P3_LIST, 0, 0, 0, NULL, "Invalid message number" },
	{ "LIST 12345678901234567890123456789012345678901", -1, P3_LIST, 0,
	    0, 0, NULL, "Invalid message number" },
	{ "UIDL", 0, P3_UIDL, 0, 0, 0, NULL, NULL },
	{ "UIDL 3", 0, P3_UIDL, 1, 3, 0, NULL, NULL },
	{ "RETR 2", 0, P3_RETR, 1, 2, 0, NULL, NULL },
	{ "retr 2", 0, P3_RETR, 1, 2, 0, NULL, NULL },
	{ "RETR", -1, P3_RETR, 0, 0, 0, NULL, "Syntax: RETR msg" },
	{ "RETR 0", -1, P3_RETR, 0, 0, 0, NULL, "Invalid message number" },
	{ "RETR 1 2", -1, P3_RETR, 0, 0, 0, NULL, "Invalid message number" },
	{ "RETR  1", -1, P3_RETR, 0, 0, 0, NULL, "Invalid message number" },
	{ "DELE 9", 0, P3_DELE, 1, 9, 0, NULL, NULL },
	{ "DELE", -1, P3_DELE, 0, 0, 0, NULL, "Syntax: DELE msg" },
	{ "DELE x", -1, P3_DELE, 0, 0, 0, NULL, "Invalid message number" },
	{ "TOP 1 0", 0, P3_TOP, 2, 1, 0, NULL, NULL },
	{ "TOP 1 10", 0, P3_TOP, 2, 1, 10, NULL, NULL },
	{ "top 3 4294967295", 0, P3_TOP, 2, 3, 4294967295U, NULL, NULL },
	{ "TOP 1", -1, P3_TOP, 0, 0, 0, NULL, "Syntax: TOP msg n" },
	{ "TOP", -1, P3_TOP, 0, 0, 0, NULL, "Syntax: TOP msg n" },
	{ "TOP 0 1", -1, P3_TOP, 0, 0, 0, NULL, "Invalid message number" },
	{ "TOP 1 2 3", -1, P3_TOP, 0, 0, 0, NULL, "Syntax: TOP msg n" },
	{ "TOP 1 x", -1, P3_TOP, 0, 0, 0, NULL, "Syntax: TOP msg n" },
	{ "APOP alice 0123", 0, P3_APOP, 0, 0, 0, NULL, NULL },
	{ "AUTH PLAIN", 0, P3_AUTH, 0, 0, 0, NULL, NULL },
	/* not commands */
	{ "", 0, P3_UNKNOWN, 0, 0, 0, NULL, NULL },
	{ "RETRX 1", 0, P3_UNKNOWN, 0, 0, 0, NULL, NULL },
	{ "RET 1", 0, P3_UNKNOWN, 0, 0, 0, NULL, NULL },
	{ "XTND XMIT", 0, P3_UNKNOWN, 0, 0, 0, NULL, NULL },
	{ " LIST", 0, P3_UNKNOWN, 0, 0, 0, NULL, NULL },
	{ "LIST\t1", 0, P3_UNKNOWN, 0, 0, 0, NULL, NULL },
};

static const struct cmd_row	*cur_row;

static void
test_cmd_row(void)
{
	const struct cmd_row	*r = cur_row;
	struct pop3_cmd		 cmd;
	const char		*err = NULL;
	char			 line[128];
	int			 rc;

	(void)strlcpy(line, r->input, sizeof(line));
	rc = pop3_cmd_parse(line, &cmd, &err);
	CHECK(rc == r->rc, "rc %d want %d", rc, r->rc);
	CHECK(cmd.verb == r->verb, "verb %d want %d", cmd.verb, r->verb);
	CHECK(strcmp(line, r->input) == 0, "the line was changed");
	if (rc == -1) {
		CHECK_STR(err, r->err);
		return;
	}
	CHECK(cmd.nargs == r->nargs, "nargs %d want %d", cmd.nargs, r->nargs);
	if (r->nargs > 0)
		CHECK(cmd.num[0] == r->n0, "num[0] %u want %u", cmd.num[0],
		    r->n0);
	if (r->nargs > 1)
		CHECK(cmd.num[1] == r->n1, "num[1] %u want %u", cmd.num[1],
		    r->n1);
	if (r->arg != NULL)
		CHECK_STR(cmd.arg, r->arg);
}

/* ---- the writer --------------------------------------------------------- */

/* The whole file through the writer, in pieces of step octets. */
static char *
convert(const char *in, int top, uint64_t lines, size_t step, size_t *outlen)
{
	struct pop3_out	 o;
	size_t		 n = strlen(in), off = 0, used, w, len = 0, k;
	char		*out;

	out = malloc(2 * n + 8);
	if (out == NULL)
		abort();
	pop3_out_init(&o, top, lines);
	while (off < n && !o.done) {
		k = n - off < step ? n - off : step;
		w = pop3_out_conv(&o, in + off, k, out + len, &used);
		CHECK(w <= 2 * k, "wrote %zu of %zu", w, k);
		len += w;
		off += used;
		if (used < k)
			CHECK(o.done, "stopped early without done");
	}
	len += pop3_out_end(&o, out + len);
	out[len] = '\0';
	*outlen = len;
	return out;
}

struct out_row {
	const char	*label;
	const char	*in;
	int		 top;
	uint64_t	 lines;
	const char	*want;
};

static const struct out_row out_rows[] = {
	{ "LF to CRLF", "a\nb\n", 0, 0, "a\r\nb\r\n.\r\n" },
	{ "CRLF kept", "a\r\nb\r\n", 0, 0, "a\r\nb\r\n.\r\n" },
	{ "a lone CR kept", "a\rb\n", 0, 0, "a\rb\r\n.\r\n" },
	{ "dots stuffed", ".\n..x\nx.\n.", 0, 0,
	    "..\r\n...x\r\nx.\r\n..\r\n.\r\n" },
	{ "no final LF", "a\nlast", 0, 0, "a\r\nlast\r\n.\r\n" },
	{ "a final CR", "a\r", 0, 0, "a\r\n.\r\n" },
	{ "empty", "", 0, 0, ".\r\n" },
	{ "TOP 0", "H: 1\nH: 2\n\nb1\nb2\n", 1, 0,
	    "H: 1\r\nH: 2\r\n\r\n.\r\n" },
	{ "TOP 1", "H: 1\n\nb1\nb2\n", 1, 1, "H: 1\r\n\r\nb1\r\n.\r\n" },
	{ "TOP more than there is", "H: 1\n\nb1\n", 1, 5,
	    "H: 1\r\n\r\nb1\r\n.\r\n" },
	{ "TOP with CRLF in the file", "H: 1\r\n\r\nb1\r\nb2\r\n", 1, 1,
	    "H: 1\r\n\r\nb1\r\n.\r\n" },
	{ "TOP without a body", "H: 1\nH: 2\n", 1, 0,
	    "H: 1\r\nH: 2\r\n.\r\n" },
	{ "TOP stuffs dots", "H: 1\n\n.b1\n.b2\n", 1, 1,
	    "H: 1\r\n\r\n..b1\r\n.\r\n" },
	{ "TOP, a header line with spaces only is no end", "H: 1\n \nb\n\nc\n",
	    1, 0, "H: 1\r\n \r\nb\r\n\r\n.\r\n" },
};

static const struct out_row	*cur_out;

static void
test_out_row(void)
{
	const struct out_row	*r = cur_out;
	static const size_t	 steps[] = { 1, 2, 3, 7, 4096 };
	size_t			 i, len;
	char			*got;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		got = convert(r->in, r->top, r->lines, steps[i], &len);
		CHECK(strcmp(got, r->want) == 0, "pieces of %zu: got \"%s\"",
		    steps[i], got);
		CHECK(len == strlen(r->want), "length %zu", len);
		free(got);
	}
}

/* RETR of a file: the client's unstuffed lines are the CRLF message,
 * exactly pop3_crlf_size() octets. */
static void
test_retr_size_matches_crlf_size(void)
{
	static const char *const files[] = {
		"Subject: x\n\nbody\n.\n..\n",
		"a\r\nb\nc\r\n",
		"x\ry\n",
		"no end",
		"\n\n\n",
	};
	size_t		 i, j, len, got_size;
	uint64_t	 want;
	int		 cr;
	char		*wire;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cr = 0;
		want = 0;
		/* in two pieces, split everywhere */
		for (j = 0; j <= strlen(files[i]); j++) {
			cr = 0;
			want = pop3_crlf_size(files[i], j, &cr) +
			    pop3_crlf_size(files[i] + j, strlen(files[i]) - j,
			    &cr);
			if (j > 0)
				CHECK(want == pop3_crlf_size(files[i],
				    strlen(files[i]), &(int){0}),
				    "file %zu split at %zu: %llu", i, j,
				    (unsigned long long)want);
		}
		wire = convert(files[i], 0, 0, 5, &len);
		/* unstuff and drop the ".\r\n": what a client keeps */
		got_size = 0;
		for (j = 0; j + 3 < len; j++) {
			if ((j == 0 || wire[j - 1] == '\n') && wire[j] == '.')
				continue;
			got_size++;
		}
		/* a file without a final line end gets one on the wire */
		if (files[i][strlen(files[i]) - 1] != '\n')
			want += files[i][strlen(files[i]) - 1] == '\r' ? 1 : 2;
		CHECK(got_size == want, "file %zu: %zu octets on the wire, "
		    "size %llu", i, got_size, (unsigned long long)want);
		free(wire);
	}
}

static void
test_uid(void)
{
	char	 uid[POP3_UID_MAX + 1], uid2[POP3_UID_MAX + 1];
	char	 longname[200];
	size_t	 i;

	pop3_uid("1700000000.M1P2Q3.host,S=10,W=12", 32, uid);
	CHECK_STR(uid, "1700000000.M1P2Q3.host,S=10,W=12");
	/* only the given length */
	pop3_uid("abc:2,S", 3, uid);
	CHECK_STR(uid, "abc");
	/* too long, or not printable: a hash, stable and in range */
	memset(longname, 'x', sizeof(longname));
	pop3_uid(longname, sizeof(longname), uid);
	CHECK(uid[0] == '~' && strlen(uid) == 17, "long: %s", uid);
	pop3_uid(longname, sizeof(longname), uid2);
	CHECK_STR(uid, uid2);
	longname[100] = 'y';
	pop3_uid(longname, sizeof(longname), uid2);
	CHECK(strcmp(uid, uid2) != 0, "different names, one id %s", uid);
	pop3_uid("a b", 3, uid);
	CHECK(uid[0] == '~', "a space: %s", uid);
	pop3_uid("", 0, uid);
	CHECK(uid[0] == '~', "empty: %s", uid);
	for (i = 0; uid[i] != '\0'; i++)
		CHECK(uid[i] >= 0x21 && uid[i] <= 0x7e, "octet %zu", i);
	memset(longname, 'z', POP3_UID_MAX);
	pop3_uid(longname, POP3_UID_MAX, uid);
	CHECK(strlen(uid) == POP3_UID_MAX && uid[0] == 'z', "70 octets: %s",
	    uid);
}

int
main(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(cmd_rows) / sizeof(cmd_rows[0]); i++) {
		cur_row = &cmd_rows[i];
		RUN_NAMED(test_cmd_row, cmd_rows[i].input);
	}
	for (i = 0; i < sizeof(out_rows) / sizeof(out_rows[0]); i++) {
		cur_out = &out_rows[i];
		RUN_NAMED(test_out_row, out_rows[i].label);
	}
	RUN(test_retr_size_matches_crlf_size);
	RUN(test_uid);
	return unit_done();
}
