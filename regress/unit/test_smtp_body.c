/*
 * Portcullis: unit tests for smtpd/smtp_body.c -- a message body on its
 * way into the spool.
 *
 * Each test writes a body into a temporary file (unlinked at once) and
 * reads the file back: it must hold exactly the message as it will be
 * sent on, lines ending in CRLF and no dot-stuffing, and nothing at all
 * once the message is refused.  DATA lines are given as the session
 * gives them (without their line end; "." alone never reaches
 * body_line, ".." does); BDAT chunks as they came.  A line of L octets
 * is valid when L + 2 <= 1000 (RFC 5321 4.5.3.1.6, the stuffed dot not
 * counted), and so is the last line of a BDAT message that gets its CRLF
 * from us; a CR not followed by LF is a bare CR, also before a NUL.  The
 * size limit counts the client's octets only: not the Received: text
 * given with body_add, nor a CRLF we add (RFC 1870).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp.h"
#include "unit.h"


#define W	BODY_ERR_WRITE
#define S	BODY_ERR_SIZE
#define B	BODY_ERR_BARE
#define N	BODY_ERR_NUL
#define L	BODY_ERR_LONGLINE

#define RECEIVED	"Received: from x by y; now\r\n"	/* 28 octets */
#define RLEN		(sizeof(RECEIVED) - 1)

/* ---- helpers -------------------------------------------------------- */

/* A temporary file, already unlinked; the body gets a dup of it. */
static int
spool_open(void)
{
	char	 path[] = "/tmp/test_smtp_body.XXXXXX";
	int	 fd;

	if ((fd = mkstemp(path)) == -1) {
		perror("mkstemp");
		exit(2);
	}
	(void)unlink(path);
	return fd;
}

static void
body_start(struct smtp_body *b, int fd, uint64_t max)
{
	int	 dfd;

	if ((dfd = dup(fd)) == -1) {
		perror("dup");
		exit(2);
	}
	body_init(b, dfd, max);
}

/* What the file holds; *lenp its length.  NUL-terminated. */
static char *
spool_read(int fd, size_t *lenp)
{
	struct stat	 st;
	char		*s;
	ssize_t		 n;

	if (fstat(fd, &st) == -1) {
		perror("fstat");
		exit(2);
	}
	if ((s = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	n = pread(fd, s, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		perror("pread");
		exit(2);
	}
	s[n] = '\0';
	*lenp = (size_t)n;
	return s;
}

/* Printable text for a message: CR, LF, NUL shown. */
static const char *
show(const char *s, size_t len)
{
	static char	 out[4][256];
	static int	 slot;
	char		*o = out[slot++ % 4];
	size_t		 i, j = 0;

	for (i = 0; i < len && j < 250; i++) {
		switch (s[i]) {
		case '\r':
			o[j++] = '\\'; o[j++] = 'r';
			break;
		case '\n':
			o[j++] = '\\'; o[j++] = 'n';
			break;
		case '\0':
			o[j++] = '\\'; o[j++] = '0';
			break;
		default:
			o[j++] = s[i];
		}
	}
	if (i < len) {
		o[j++] = '.'; o[j++] = '.'; o[j++] = '.';
	}
	o[j] = '\0';
	return out[(slot - 1) % 4];
}

static const char *
errs(int e)
{
	static char	 out[4][64];
	static int	 slot;
	char		*o = out[slot++ % 4];

	if (e == 0)
		return "0";
	(void)snprintf(o, 64, "%s%s%s%s%s%s",
	    e & W ? "WRITE " : "", e & S ? "SIZE " : "",
	    e & B ? "BARE " : "", e & N ? "NUL " : "",
	    e & L ? "LONGLINE " : "", e & ~(W | S | B | N | L) ? "? " : "");
	return o;
}

/* Finish, read back, compare: errors and the exact file. */
static void
check_body(struct smtp_body *b, int fd, int want_err, const char *want,
    size_t wantlen)
{
	char	*got;
	size_t	 gotlen;
	int	 e;

	e = body_finish(b);
	CHECK(e == want_err, "got errors %s want %s", errs(e),
	    errs(want_err));
	got = spool_read(fd, &gotlen);
	if (want_err != 0) {
		want = "";
		wantlen = 0;
	}
	CHECK(gotlen == wantlen && memcmp(got, want, gotlen) == 0,
	    "got file (%zu) \"%s\" want (%zu) \"%s\"", gotlen,
	    show(got, gotlen), wantlen, show(want, wantlen));
	if (e == 0)
		CHECK(b->size == gotlen, "got size %llu want %zu",
		    (unsigned long long)b->size, gotlen);
	free(got);
	body_free(b);
	CHECK(b->fd == -1 && b->buf == NULL, "got fd %d buf %p after "
	    "body_free want -1 NULL", b->fd, (void *)b->buf);
}

/* ---- DATA lines ----------------------------------------------------- */

struct dline {
	const char	*s;
	size_t		 len;
	int		 bare_lf;
};

struct data_row {
	const char	*name;
	int		 received;	/* body_add(RECEIVED) first */
	struct dline	 lines[6];	/* up to s == NULL */
	uint64_t	 max;
	int		 want_err;
	const char	*want;		/* the file, when no error */
};

#define LN(s)	{ s, sizeof(s) - 1, 0 }
#define LF(s)	{ s, sizeof(s) - 1, 1 }

static const struct data_row data_rows[] = {
	{ "one line, CRLF added", 0, { LN("hello") }, 0, 0, "hello\r\n" },
	{ "no lines at all", 0, { { NULL, 0, 0 } }, 0, 0, "" },
	{ "empty lines", 0, { LN(""), LN(""), LN("x") }, 0, 0,
	    "\r\n\r\nx\r\n" },
	{ "headers and body", 0, { LN("Subject: hi"), LN(""), LN("text") },
	    0, 0, "Subject: hi\r\n\r\ntext\r\n" },
	{ "Received first", 1, { LN("a") }, 0, 0, RECEIVED "a\r\n" },
	{ "..x unstuffed to .x", 0, { LN("..x") }, 0, 0, ".x\r\n" },
	{ ".. unstuffed to .", 0, { LN("a"), LN(".."), LN("b") }, 0, 0,
	    "a\r\n.\r\nb\r\n" },
	{ "... unstuffed to ..", 0, { LN("...") }, 0, 0, "..\r\n" },
	{ "only the first dot goes", 0, { LN("..."), LN(".a.b") }, 0, 0,
	    "..\r\na.b\r\n" },
	{ "dot inside a line kept", 0, { LN("a.b"), LN(" ..") }, 0, 0,
	    "a.b\r\n ..\r\n" },
	{ "8-bit octets kept", 0, { LN("caf\xc3\xa9 \xff") }, 0, 0,
	    "caf\xc3\xa9 \xff\r\n" },
	{ "TAB and other controls kept", 0, { LN("a\tb\x01\x1b\x7f") }, 0,
	    0, "a\tb\x01\x1b\x7f\r\n" },

	/* bare LF, bare CR, NUL: the whole message refused */
	{ "bare LF flagged", 0, { LN("a"), LF("b"), LN("c") }, 0, B, NULL },
	{ "bare LF on an empty line", 0, { LF("") }, 0, B, NULL },
	{ "bare LF after dot (<LF>.<LF> smuggling)", 0,
	    { LN("a"), LF(""), LF("."), LN("MAIL FROM:<x@y>") }, 0, B,
	    NULL },
	{ ".<CR> (<CR>.<CR> smuggling)", 0, { LN("a\r.\rMAIL FROM:<x@y>") },
	    0, B, NULL },
	{ "CR inside a line", 0, { LN("a\rb") }, 0, B, NULL },
	{ "CR at the end of a line (CRCRLF)", 0, { LN("a\r") }, 0, B, NULL },
	{ "CR alone", 0, { LN("\r") }, 0, B, NULL },
	{ ".<CR> alone", 0, { LN(".\r") }, 0, B, NULL },
	{ "NUL in a line", 0, { LN("a\0b") }, 0, N, NULL },
	{ "NUL alone", 0, { LN("\0") }, 0, N, NULL },
	{ "NUL after the dot", 0, { LN(".\0") }, 0, N, NULL },
	{ "NUL and CR", 0, { LN("\r\0") }, 0, B | N, NULL },
	{ "CR then NUL", 0, { LN("a\r\0b") }, 0, B | N, NULL },
	{ "NUL and bare LF", 0, { LF("\0") }, 0, B | N, NULL },
	{ "errors stay: good lines after", 0,
	    { LN("a"), LN("b\0"), LN("c"), LN("d") }, 0, N, NULL },
	{ "errors add up", 0, { LN("\0"), LF("a"), LN("b") }, 0, N | B,
	    NULL },

	/* the size limit counts the client's octets (RFC 1870): CRLF
	 * included, the stuffed dot and our Received: line not */
	{ "size: exactly at the limit", 1, { LN("abc") }, 5, 0,
	    RECEIVED "abc\r\n" },
	{ "size: one over", 1, { LN("abc") }, 4, S, NULL },
	{ "size: CRLF counts (line fits, CRLF not)", 1, { LN("abc") },
	    3, S, NULL },
	{ "size: Received does not count", 1, { LN("") }, 2, 0,
	    RECEIVED "\r\n" },
	{ "size: an empty line over", 1, { LN("") }, 1, S, NULL },
	{ "size: stuffed dot not counted", 0, { LN("..ab") }, 5, 0,
	    ".ab\r\n" },
	{ "size: several lines at the limit", 0,
	    { LN("a"), LN("bc"), LN("") }, 3 + 4 + 2, 0, "a\r\nbc\r\n\r\n" },
	{ "size: several lines one over", 0,
	    { LN("a"), LN("bc"), LN("") }, 3 + 4 + 1, S, NULL },
	{ "size: 0 is no limit", 1, { LN("abc") }, 0, 0,
	    RECEIVED "abc\r\n" },
	{ "size: and a bare LF", 0, { LN("abcdef"), LF("x") }, 4, S | B,
	    NULL },
};

static const struct data_row *data_cur;

static void
test_data(void)
{
	const struct data_row	*r = data_cur;
	struct smtp_body	 b;
	const struct dline	*l;
	int			 fd;

	fd = spool_open();
	body_start(&b, fd, r->max);
	if (r->received)
		body_add(&b, RECEIVED, RLEN);
	for (l = r->lines; l < r->lines + 6 && l->s != NULL; l++)
		body_line(&b, l->s, l->len, l->bare_lf);
	check_body(&b, fd, r->want_err, r->want ? r->want : "",
	    r->want ? strlen(r->want) : 0);
	close(fd);
}

/* A line of n octets: c then 'x's. */
static char *
mkline(size_t n, char first)
{
	char	*s;

	if ((s = malloc(n + 3)) == NULL)
		abort();
	memset(s, 'x', n);
	if (n > 0)
		s[0] = first;
	s[n] = '\0';
	return s;
}

/* Append CRLF to a line from mkline (which left room for it). */
static char *
crlf(char *s, size_t n)
{
	memcpy(s + n, "\r\n", 3);
	return s;
}

struct long_row {
	const char	*name;
	size_t		 len;		/* the line as sent */
	char		 first;
	int		 want_err;
};

static const struct long_row long_rows[] = {
	{ "997 octets", 997, 'x', 0 },
	{ "998 octets: 1000 with CRLF", 998, 'x', 0 },
	{ "999 octets", 999, 'x', L },
	{ "1000 octets", 1000, 'x', L },
	{ "64k octets", 65536, 'x', L },
	/* RFC 5321 4.5.3.1.6: "not counting the leading dot duplicated
	 * for transparency" */
	{ "stuffed: dot and 997 octets", 998, '.', 0 },
	{ "stuffed: dot and 998 octets", 999, '.', 0 },
	{ "stuffed: dot and 999 octets", 1000, '.', L },
	{ "stuffed: dot and 64k octets", 65537, '.', L },
};

static const struct long_row *long_cur;

static void
test_data_long_line(void)
{
	const struct long_row	*r = long_cur;
	struct smtp_body	 b;
	char			*line, *want;
	size_t			 wlen;
	int			 fd;

	fd = spool_open();
	line = mkline(r->len, r->first);
	body_start(&b, fd, 0);
	body_line(&b, "before", 6, 0);
	body_line(&b, line, r->len, 0);
	body_line(&b, "after", 5, 0);
	/* the file: before, the line unstuffed, after */
	wlen = 8 + r->len - (r->first == '.') + 2 + 7;
	if ((want = malloc(wlen + 1)) == NULL)
		abort();
	(void)snprintf(want, wlen + 1, "before\r\n%s\r\nafter\r\n",
	    line + (r->first == '.'));
	check_body(&b, fd, r->want_err, want, wlen);
	free(want);
	free(line);
	close(fd);
}

/* The session cut a line longer than it holds. */
static void
test_data_body_long_line(void)
{
	struct smtp_body	 b;
	int			 fd;

	fd = spool_open();
	body_start(&b, fd, 0);
	body_line(&b, "a", 1, 0);
	body_long_line(&b);
	body_line(&b, "b", 1, 0);
	check_body(&b, fd, L, NULL, 0);
	close(fd);
}

/*
 * A message larger than the buffer: it reaches the file as it comes, and
 * once refused nothing more is written (what was written before stays;
 * the queue throws the file away).
 */
static void
test_data_big(void)
{
	struct smtp_body	 b;
	char			*line, *got, *want;
	size_t			 gotlen, wlen, i, nlines = 100, before;
	int			 fd, e;

	fd = spool_open();
	line = mkline(998, 'y');
	body_start(&b, fd, 0);
	body_add(&b, RECEIVED, RLEN);
	for (i = 0; i < nlines; i++)
		body_line(&b, line, 998, 0);
	e = body_finish(&b);
	got = spool_read(fd, &gotlen);
	wlen = RLEN + nlines * 1000;
	CHECK(e == 0, "got errors %s want 0", errs(e));
	CHECK(gotlen == wlen && b.size == wlen, "got file %zu size %llu "
	    "want %zu", gotlen, (unsigned long long)b.size, wlen);
	if ((want = malloc(wlen)) == NULL)
		abort();
	memcpy(want, RECEIVED, RLEN);
	for (i = 0; i < nlines; i++) {
		memcpy(want + RLEN + i * 1000, line, 998);
		memcpy(want + RLEN + i * 1000 + 998, "\r\n", 2);
	}
	CHECK(gotlen == wlen && memcmp(got, want, wlen) == 0,
	    "got a file that is not the message");
	free(got);
	free(want);
	body_free(&b);
	close(fd);

	/* refused after the first buffer went out */
	fd = spool_open();
	body_start(&b, fd, 0);
	for (i = 0; i < 20; i++)
		body_line(&b, line, 998, 0);
	got = spool_read(fd, &before);
	free(got);
	CHECK(before == SMTP_BODY_BUF, "got %zu octets in the file want %d",
	    before, SMTP_BODY_BUF);
	body_line(&b, "bare", 4, 1);
	for (i = 0; i < 40; i++)
		body_line(&b, line, 998, 0);
	e = body_finish(&b);
	CHECK(e == B, "got errors %s want BARE", errs(e));
	got = spool_read(fd, &gotlen);
	CHECK(gotlen == before, "got %zu octets in the file want %zu: "
	    "written after the error", gotlen, before);
	free(got);
	body_free(&b);
	close(fd);
	free(line);
}

/* ---- BDAT chunks ---------------------------------------------------- */

struct chunk {
	const char	*s;
	size_t		 len;
};

struct chunk_row {
	const char	*name;
	int		 received;
	struct chunk	 chunks[6];	/* up to s == NULL */
	uint64_t	 max;
	int		 want_err;
	const char	*want;
};

#define C(s)	{ s, sizeof(s) - 1 }

static const struct chunk_row chunk_rows[] = {
	{ "one chunk", 0, { C("a\r\nb\r\n") }, 0, 0, "a\r\nb\r\n" },
	{ "BDAT 0 LAST alone: empty", 0, { C("") }, 0, 0, "" },
	{ "empty chunks between", 0, { C("a\r\n"), C(""), C("b\r\n"), C("") },
	    0, 0, "a\r\nb\r\n" },
	{ "Received first", 1, { C("a\r\n") }, 0, 0, RECEIVED "a\r\n" },
	{ "no dot-unstuffing in BDAT", 0, { C("..x\r\n.\r\n") }, 0, 0,
	    "..x\r\n.\r\n" },
	{ "CRLF split across chunks", 0, { C("a\r"), C("\nb\r\n") }, 0, 0,
	    "a\r\nb\r\n" },
	{ "a chunk of CR, a chunk of LF", 0, { C("a"), C("\r"), C("\n") }, 0,
	    0, "a\r\n" },
	{ "not ending in CRLF: CRLF appended", 0, { C("a\r\nb") }, 0, 0,
	    "a\r\nb\r\n" },
	{ "one line without CRLF", 0, { C("abc") }, 0, 0, "abc\r\n" },
	{ "split line without CRLF", 0, { C("a"), C("bc") }, 0, 0,
	    "abc\r\n" },
	{ "CR at the end of the message", 0, { C("a\r\nb\r") }, 0, B, NULL },
	{ "CR alone", 0, { C("\r") }, 0, B, NULL },
	{ "CR at the end of a chunk, then not LF", 0, { C("a\r"), C("b\r\n") },
	    0, B, NULL },
	{ "LF without CR", 0, { C("a\nb\r\n") }, 0, B, NULL },
	{ "LF first", 0, { C("\n") }, 0, B, NULL },
	{ "LF first in the second chunk after LF", 0, { C("a\r\n"), C("\n") },
	    0, B, NULL },
	{ "CR inside a line", 0, { C("a\rb\r\n") }, 0, B, NULL },
	{ "CR CR LF", 0, { C("a\r\r\n") }, 0, B, NULL },
	{ "<LF>.<LF> smuggling", 0, { C("a\r\n\n.\nMAIL\r\n") }, 0, B, NULL },
	{ "<CR>.<CR> smuggling", 0, { C("a\r\n\r.\rMAIL\r\n") }, 0, B, NULL },
	{ "<LF>.<CR><LF> smuggling", 0, { C("a\n.\r\nMAIL\r\n") }, 0, B,
	    NULL },
	{ "NUL", 0, { C("a\0b\r\n") }, 0, N, NULL },
	{ "NUL in a later chunk", 0, { C("a\r\n"), C("\0\r\n") }, 0, N, NULL },
	/* a CR followed by NUL is a bare CR as well as a NUL, as in DATA */
	{ "CR then NUL", 0, { C("a\r\0\r\n") }, 0, B | N, NULL },
	{ "CR at the end of a chunk, NUL next", 0, { C("a\r"), C("\0\r\n") },
	    0, B | N, NULL },
	{ "CR NUL first", 0, { C("\r\0\r\n") }, 0, B | N, NULL },
	{ "CR NUL LF", 0, { C("a\r\0\nb\r\n") }, 0, B | N, NULL },
	{ "CR then NUL at the end", 0, { C("a\r\n\r"), C("\0") }, 0, B | N,
	    NULL },
	{ "CR, empty chunk, NUL", 0, { C("a\r"), C(""), C("\0\r\n") }, 0,
	    B | N, NULL },
	{ "good chunk after an error", 0, { C("\n"), C("a\r\n") }, 0, B,
	    NULL },

	/* size: the client's octets, not Received */
	{ "size: exactly at the limit", 1, { C("ab\r\n") }, 4, 0,
	    RECEIVED "ab\r\n" },
	{ "size: one over", 1, { C("ab\r\n") }, 3, S, NULL },
	{ "size: over in the second chunk", 0, { C("ab\r\n"), C("cd\r\n") },
	    7, S, NULL },
	{ "size: two chunks at the limit", 0, { C("ab\r\n"), C("cd\r\n") },
	    8, 0, "ab\r\ncd\r\n" },
	{ "size: the appended CRLF does not count", 0, { C("ab\r\nc") }, 5,
	    0, "ab\r\nc\r\n" },
};

static const struct chunk_row *chunk_cur;

static void
test_chunk(void)
{
	const struct chunk_row	*r = chunk_cur;
	struct smtp_body	 b;
	const struct chunk	*c;
	int			 fd;

	fd = spool_open();
	body_start(&b, fd, r->max);
	if (r->received)
		body_add(&b, RECEIVED, RLEN);
	for (c = r->chunks; c < r->chunks + 6 && c->s != NULL; c++)
		body_chunk(&b, (const uint8_t *)c->s, c->len);
	check_body(&b, fd, r->want_err, r->want ? r->want : "",
	    r->want ? strlen(r->want) : 0);
	close(fd);
}

/* A line of len octets in BDAT, cut into chunks at split (0: none). */
struct clong_row {
	const char	*name;
	size_t		 len;
	size_t		 split;
	int		 with_crlf;	/* the line ends in CRLF */
	int		 want_err;
};

static const struct clong_row clong_rows[] = {
	{ "998 and CRLF", 998, 0, 1, 0 },
	{ "999 and CRLF", 999, 0, 1, L },
	{ "998 split, CRLF", 998, 500, 1, 0 },
	{ "999 split, CRLF", 999, 500, 1, L },
	{ "998 split before the CR", 998, 998, 1, 0 },
	{ "999 split before the CR", 999, 999, 1, L },
	{ "998 split before the LF", 998, 999, 1, 0 },
	{ "999 split before the LF", 999, 1000, 1, L },
	{ "2000 split, CRLF", 2000, 1000, 1, L },
	{ "998, no CRLF: one is appended", 998, 0, 0, 0 },
	{ "998 split, no CRLF", 998, 400, 0, 0 },
	/* with the appended CRLF the line is 1001 octets */
	{ "999, no CRLF", 999, 0, 0, L },
	{ "999 split, no CRLF", 999, 400, 0, L },
	{ "999 split before its last octet, no CRLF", 999, 998, 0, L },
	{ "1000, no CRLF", 1000, 0, 0, L },
};

static const struct clong_row *clong_cur;

static void
test_chunk_long_line(void)
{
	const struct clong_row	*r = clong_cur;
	struct smtp_body	 b;
	char			*line, *want;
	size_t			 n, wlen;
	int			 fd;

	fd = spool_open();
	line = mkline(r->len, 'x');
	n = r->len;
	if (r->with_crlf) {
		crlf(line, r->len);
		n += 2;
	}
	body_start(&b, fd, 0);
	body_chunk(&b, (const uint8_t *)"a\r\n", 3);
	if (r->split != 0) {
		body_chunk(&b, (const uint8_t *)line, r->split);
		body_chunk(&b, (const uint8_t *)line + r->split, n - r->split);
	} else
		body_chunk(&b, (const uint8_t *)line, n);
	/* a last line without CRLF after a line that had one */
	if (r->with_crlf)
		body_chunk(&b, (const uint8_t *)"b", 1);
	line[r->len] = '\0';
	wlen = 3 + r->len + 2 + (r->with_crlf ? 3 : 0);
	if ((want = malloc(wlen + 1)) == NULL)
		abort();
	(void)snprintf(want, wlen + 1, "a\r\n%s\r\n%s", line,
	    r->with_crlf ? "b\r\n" : "");
	check_body(&b, fd, r->want_err, want, wlen);
	free(want);
	free(line);
	close(fd);
}

/*
 * A message of one line without CRLF: by BDAT it gets the CRLF from us
 * and is judged as the same line sent by DATA (RFC 5321 4.1.1.4,
 * 4.5.3.1.6): the same answer and the same file.
 */
struct last_row {
	const char	*name;
	size_t		 len;
	int		 want_err;
};

static const struct last_row last_rows[] = {
	{ "1 octet", 1, 0 },
	{ "998 octets", 998, 0 },
	{ "999 octets: 1001 with CRLF", 999, L },
	{ "1000 octets", 1000, L },
};

static const struct last_row *last_cur;

static void
test_last_line_as_data(void)
{
	const struct last_row	*r = last_cur;
	struct smtp_body	 b;
	char			*line, *want;
	size_t			 wlen;
	int			 fd;

	line = mkline(r->len, 'x');
	wlen = r->len + 2;
	if ((want = malloc(wlen + 1)) == NULL)
		abort();
	(void)snprintf(want, wlen + 1, "%s\r\n", line);

	fd = spool_open();
	body_start(&b, fd, 0);
	body_line(&b, line, r->len, 0);
	check_body(&b, fd, r->want_err, want, wlen);
	close(fd);

	fd = spool_open();
	body_start(&b, fd, 0);
	body_chunk(&b, (const uint8_t *)line, r->len);
	check_body(&b, fd, r->want_err, want, wlen);
	close(fd);
	free(want);
	free(line);
}

/* A big chunked message, and a refusal after the first buffer. */
static void
test_chunk_big(void)
{
	struct smtp_body	 b;
	uint8_t			*msg;
	char			*got;
	size_t			 len = 200000, i, gotlen, before;
	int			 fd, e;

	if ((msg = malloc(len)) == NULL)
		abort();
	for (i = 0; i < len; i++)
		msg[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' :
		    'a' + i % 26;
	fd = spool_open();
	body_start(&b, fd, len);
	/* chunks of every size from 1 up */
	for (i = 0; i < len; ) {
		size_t	 n = 1 + i % 7919;

		if (n > len - i)
			n = len - i;
		body_chunk(&b, msg + i, n);
		i += n;
	}
	e = body_finish(&b);
	got = spool_read(fd, &gotlen);
	CHECK(e == 0, "got errors %s want 0", errs(e));
	CHECK(gotlen == len && memcmp(got, msg, len) == 0,
	    "got a file of %zu octets want the message of %zu", gotlen, len);
	CHECK(b.size == len, "got size %llu want %zu",
	    (unsigned long long)b.size, len);
	free(got);
	body_free(&b);
	close(fd);

	fd = spool_open();
	body_start(&b, fd, 0);
	body_chunk(&b, msg, 20000);
	got = spool_read(fd, &before);
	free(got);
	CHECK(before == SMTP_BODY_BUF, "got %zu octets in the file want %d",
	    before, SMTP_BODY_BUF);
	body_chunk(&b, (const uint8_t *)"\n", 1);
	body_chunk(&b, msg + 20000, 50000);
	e = body_finish(&b);
	CHECK(e == B, "got errors %s want BARE", errs(e));
	got = spool_read(fd, &gotlen);
	CHECK(gotlen == before, "got %zu octets in the file want %zu: "
	    "written after the error", gotlen, before);
	free(got);
	body_free(&b);
	close(fd);
	free(msg);
}

/* ---- the spool file fails ------------------------------------------- */

static void
test_write_error(void)
{
	struct smtp_body	 b;
	char			*line;
	int			 fd, e, i;

	/* a descriptor that cannot be written: at the end */
	if ((fd = open("/dev/null", O_RDONLY)) == -1)
		abort();
	body_init(&b, fd, 0);
	body_line(&b, "a", 1, 0);
	e = body_finish(&b);
	CHECK(e == W, "read-only: got errors %s want WRITE", errs(e));
	body_free(&b);

	/* a full disk, in the middle */
	if ((fd = open("/dev/full", O_WRONLY)) == -1) {
		printf("skip /dev/full: %s\n", strerror(errno));
		return;
	}
	line = mkline(998, 'z');
	body_init(&b, fd, 0);
	for (i = 0; i < 40; i++)
		body_line(&b, line, 998, 0);
	CHECK(b.errors == W, "full: got errors %s before the end want WRITE",
	    errs(b.errors));
	body_line(&b, "\0", 1, 1);
	e = body_finish(&b);
	CHECK(e & W, "full: got errors %s want WRITE among them", errs(e));
	CHECK_STR(body_error_reply(e),
	    "451 4.3.0 Error writing the message, try again later");
	body_free(&b);
	free(line);
}

/* ---- body_error_reply ----------------------------------------------- */

#define R_W	"451 4.3.0 Error writing the message, try again later"
#define R_S	"552 5.3.4 Message too big for system"
#define R_B	"550 5.6.2 Bare CR or LF in message, lines must end in " \
		"CRLF (RFC 5321 2.3.8)"
#define R_N	"550 5.6.0 NUL octet in message"
#define R_L	"550 5.6.0 Line longer than 1000 octets in message " \
		"(RFC 5321 4.5.3.1.6)"

struct reply_row {
	const char	*name;
	int		 errors;
	const char	*want;
};

static const struct reply_row reply_rows[] = {
	{ "none", 0, NULL },
	{ "WRITE", W, R_W },
	{ "SIZE", S, R_S },
	{ "BARE", B, R_B },
	{ "NUL", N, R_N },
	{ "LONGLINE", L, R_L },
	{ "all: WRITE first", W | S | B | N | L, R_W },
	{ "SIZE before BARE", S | B | N | L, R_S },
	{ "BARE before NUL", B | N | L, R_B },
	{ "NUL before LONGLINE", N | L, R_N },
	{ "WRITE and LONGLINE", W | L, R_W },
	{ "SIZE and NUL", S | N, R_S },
	{ "BARE and LONGLINE", B | L, R_B },
};

static const struct reply_row *reply_cur;

static void
test_error_reply(void)
{
	const struct reply_row	*r = reply_cur;

	CHECK_STR(body_error_reply(r->errors), r->want);
}

/* Every reply is a permanent or temporary failure with its class. */
static void
test_error_reply_every_bit(void)
{
	const char	*s;
	int		 e;

	for (e = 1; e < 32; e++) {
		s = body_error_reply(e);
		CHECK(s != NULL && (s[0] == '4' || s[0] == '5') &&
		    s[3] == ' ' && s[4] == s[0] && s[5] == '.',
		    "errors 0x%x: got \"%s\"", e, s ? s : "(null)");
	}
}

int
main(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(data_rows) / sizeof(data_rows[0]); i++) {
		data_cur = &data_rows[i];
		RUN_NAMED(test_data, data_cur->name);
	}
	for (i = 0; i < sizeof(long_rows) / sizeof(long_rows[0]); i++) {
		long_cur = &long_rows[i];
		RUN_NAMED(test_data_long_line, long_cur->name);
	}
	RUN(test_data_body_long_line);
	RUN(test_data_big);
	for (i = 0; i < sizeof(chunk_rows) / sizeof(chunk_rows[0]); i++) {
		chunk_cur = &chunk_rows[i];
		RUN_NAMED(test_chunk, chunk_cur->name);
	}
	for (i = 0; i < sizeof(clong_rows) / sizeof(clong_rows[0]); i++) {
		clong_cur = &clong_rows[i];
		RUN_NAMED(test_chunk_long_line, clong_cur->name);
	}
	for (i = 0; i < sizeof(last_rows) / sizeof(last_rows[0]); i++) {
		last_cur = &last_rows[i];
		RUN_NAMED(test_last_line_as_data, last_cur->name);
	}
	RUN(test_chunk_big);
	RUN(test_write_error);
	for (i = 0; i < sizeof(reply_rows) / sizeof(reply_rows[0]); i++) {
		reply_cur = &reply_rows[i];
		RUN_NAMED(test_error_reply, reply_cur->name);
	}
	RUN(test_error_reply_every_bit);
	return unit_done();
}
