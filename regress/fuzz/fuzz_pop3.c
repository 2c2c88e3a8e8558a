/*
 * Portcullis: libFuzzer target for the POP3 command parser and the
 * message writer (smtpd/pop3_cmd.c).
 *
 * The first octet steers, the rest is a client's text and a message:
 *	ctl	the piece size of the writer's input (1 to 64), and TOP
 *		or RETR with the line count
 * Every LF-terminated line (NULs cut) goes to pop3_cmd_parse().  The
 * whole text is also a Maildir file through the writer.
 *
 * Invariants, enforced with abort():
 *	- the line is not changed; a verb is known only when the keyword
 *	  (up to the first space) is one, in any case; message numbers
 *	  are 1..UINT32_MAX and printed back they are the argument's
 *	  digits without leading zeros; USER/PASS args point inside the
 *	  line at its tail; failures set err
 *	- RETR output, unstuffed and without the final ".CRLF", is the
 *	  input with each LF not after a CR made CRLF (and a CRLF at the
 *	  end when the input had no final LF), pop3_crlf_size() octets
 *	  (+ that end); it holds no line "." before the end, and ends in
 *	  CRLF ".CRLF"
 *	- TOP output is a prefix of RETR output (before its terminator),
 *	  ending at a line end, then ".CRLF"
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAXIN	8192

static const char *const keywords[] = {
	"CAPA", "STLS", "USER", "PASS", "APOP", "AUTH", "STAT", "LIST",
	"UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP", "QUIT"
};

static void
check_line(char *line)
{
	struct pop3_cmd	 cmd;
	const char	*err = NULL;
	char		 copy[MAXIN + 1], num[16];
	size_t		 klen, i, len = strlen(line);
	int		 rc, known = 0;

	memcpy(copy, line, len + 1);
	rc = pop3_cmd_parse(line, &cmd, &err);
	if (strcmp(copy, line) != 0)
		abort();
	klen = strcspn(line, " ");
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strlen(keywords[i]) == klen &&
		    strncasecmp(line, keywords[i], klen) == 0)
			known = 1;
	if (known != (cmd.verb != P3_UNKNOWN))
		abort();
	if (rc == -1) {
		if (err == NULL || cmd.verb == P3_UNKNOWN)
			abort();
		return;
	}
	if (rc != 0)
		abort();
	for (i = 0; i < (size_t)cmd.nargs; i++) {
		if (cmd.num[i] == 0 && !(cmd.verb == P3_TOP && i == 1))
			abort();
		(void)snprintf(num, sizeof(num), "%u", cmd.num[i]);
		if (strstr(line, num) == NULL)
			abort();
	}
	if (cmd.verb == P3_USER || cmd.verb == P3_PASS) {
		if (cmd.arg < line || cmd.arg > line + len ||
		    strcmp(cmd.arg, line + (cmd.arg - line)) != 0 ||
		    cmd.arg + strlen(cmd.arg) != line + len)
			abort();
		if (cmd.verb == P3_USER && *cmd.arg == '\0')
			abort();
	}
}

static size_t
write_all(const char *in, size_t n, size_t step, int top, uint64_t lines,
    char *out)
{
	struct pop3_out	 o;
	size_t		 off = 0, len = 0, used, k, w;

	pop3_out_init(&o, top, lines);
	while (off < n && !o.done) {
		k = n - off < step ? n - off : step;
		w = pop3_out_conv(&o, in + off, k, out + len, &used);
		if (w > 2 * k || used > k || (used < k && !o.done))
			abort();
		len += w;
		off += used;
	}
	if (!top && off != n)
		abort();
	return len + pop3_out_end(&o, out + len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 in[MAXIN + 1], line[MAXIN + 1];
	static char	 retr[2 * MAXIN + 8], top[2 * MAXIN + 8];
	static char	 plain[2 * MAXIN + 8];
	const char	*p, *end, *nl;
	size_t		 n, step, rlen, tlen, plen, i, j, l;
	uint64_t	 want;
	int		 cr = 0;

	if (size < 1 || size - 1 > MAXIN)
		return 0;
	step = (size_t)(data[0] & 0x3f) + 1;
	n = size - 1;
	memcpy(in, data + 1, n);
	in[n] = '\0';

	/* the commands */
	for (p = in, end = in + n; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		l = (size_t)(nl - p);
		if (l > 0 && p[l - 1] == '\r')
			l--;
		for (i = j = 0; i < l; i++)
			if (p[i] != '\0')
				line[j++] = p[i];
		line[j] = '\0';
		check_line(line);
	}

	/* RETR: the model of the file with CRLF line ends */
	rlen = write_all(in, n, step, 0, 0, retr);
	for (i = plen = 0; i < n; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			plain[plen++] = '\r';
		plain[plen++] = in[i];
	}
	if (n > 0 && in[n - 1] != '\n') {
		if (in[n - 1] != '\r')
			plain[plen++] = '\r';
		plain[plen++] = '\n';
	}
	want = pop3_crlf_size(in, n, &cr);
	if (n > 0 && in[n - 1] != '\n')
		want += in[n - 1] == '\r' ? 1 : 2;
	if (want != plen)
		abort();
	/* unstuff the wire form and compare */
	if (rlen < 3 || memcmp(retr + rlen - 3, ".\r\n", 3) != 0)
		abort();
	if (rlen > 3 && (rlen < 5 || retr[rlen - 4] != '\n'))
		abort();
	for (i = j = 0; i + 3 < rlen; i++) {
		if ((i == 0 || retr[i - 1] == '\n') && retr[i] == '.') {
			/* a stuffed dot: another "." follows, never a line
			 * of its own */
			if (i + 1 >= rlen - 3 || retr[i + 1] != '.')
				abort();
			continue;
		}
		if (j >= plen || retr[i] != plain[j])
			abort();
		j++;
	}
	if (j != plen)
		abort();

	/* TOP: a prefix of RETR at a line end */
	tlen = write_all(in, n, step, 1, (uint64_t)(data[0] >> 6), top);
	if (tlen < 3 || tlen - 3 > rlen - 3 ||
	    memcmp(top + tlen - 3, ".\r\n", 3) != 0)
		abort();
	if (tlen > 3 && top[tlen - 4] != '\n')
		abort();
	if (memcmp(top, retr, tlen - 3) != 0) {
		/* only the last line may differ: RETR's added CRLF when the
		 * file had no final LF is also TOP's */
		abort();
	}
	return 0;
}
