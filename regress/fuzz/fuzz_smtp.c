/*
 * Portcullis: libFuzzer target for the SMTP command/line parser
 * (smtpd/smtp_cmd.c) and the message body writer (smtpd/smtp_body.c).
 *
 * The first four octets steer, the rest is what a client sent:
 *	ctl[0]	bare_lf of DATA line i is bit i % 8
 *	ctl[1]	how BDAT chunks are cut (fixed or varying sizes)
 *	ctl[2]	the length of the Received: text added first (up to a
 *		buffer and beyond, so that flushes fall inside the data)
 *	ctl[3]	the size limit: none, a few octets around the message size,
 *		or small
 * The text is split into lines at LF, as the session does (one CR before
 * the LF is the line end).  Each line goes, NULs cut and NUL-terminated,
 * to smtp_cmd_parse() and smtp_bdat_parse(); and, with its NULs, to
 * body_line() of a DATA body, until a "." line ends it.  The whole text
 * also goes, cut into chunks, to body_chunk() of a BDAT body.  Both
 * bodies write into one memfd opened once, read back after body_finish().
 *
 * Invariants, enforced with abort():
 *	- smtp_cmd_parse() answers what an independent model of RFC 5321
 *	  verbs says; args points inside the line, at its tail; the line is
 *	  not changed; err is set on failure
 *	- smtp_bdat_parse() accepts exactly 1*19DIGIT [SP "LAST"] (LAST in
 *	  any case), with the right size
 *	- the error bits of each body are exactly what a model computed on
 *	  the whole message says (SIZE: only when reached before another
 *	  error); no write error
 *	- without an error the file is exactly the Received: text and the
 *	  message (dot-unstuffed, CRLF line ends), its length is the body's
 *	  size, and it holds no bare CR or LF, no NUL, no line over 1000
 *	- with an error the file is a prefix of that, whole buffers only
 *
 * The model's rules (RFC 5321 2.3.8, 4.5.2, 4.5.3.1.6), also pinned by
 * regress/unit/test_smtp_body.c:
 *	- a line is at most 1000 octets with its CRLF; in DATA the dot
 *	  added for transparency does not count ("." and 998 octets is
 *	  good, "." and 999 is not)
 *	- in BDAT a CR not followed by LF is a bare CR, also before a NUL
 *	- a BDAT message whose last line has no CRLF gets one, and that
 *	  line is judged with it: 998 octets are good, 999 are not
 *
 *	make fuzz FUZZ_TIME=60	(obj-fuzz/fuzz/fuzz_smtp)
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #x);				\
		abort();						\
	}								\
} while (0)

#define MAX_INPUT	(64 * 1024)
#define NCTL		4

#define BNL	(BODY_ERR_BARE | BODY_ERR_NUL | BODY_ERR_LONGLINE)

static int	 spool = -1;

/* ---- commands ------------------------------------------------------- */

static const struct {
	enum smtp_verb	 verb;
	const char	*word;
	const char	*sub;
} model_verbs[] = {
	{ CMD_HELO, "HELO", NULL }, { CMD_EHLO, "EHLO", NULL },
	{ CMD_STARTTLS, "STARTTLS", NULL }, { CMD_AUTH, "AUTH", NULL },
	{ CMD_MAIL, "MAIL", " FROM:" }, { CMD_RCPT, "RCPT", " TO:" },
	{ CMD_DATA, "DATA", NULL }, { CMD_BDAT, "BDAT", NULL },
	{ CMD_RSET, "RSET", NULL }, { CMD_VRFY, "VRFY", NULL },
	{ CMD_EXPN, "EXPN", NULL }, { CMD_HELP, "HELP", NULL },
	{ CMD_NOOP, "NOOP", NULL }, { CMD_QUIT, "QUIT", NULL },
};

/* The BDAT arguments, by hand: 1*19DIGIT [SP "LAST"]. */
static void
check_bdat(const char *s)
{
	uint64_t	 size = 12345, want = 0;
	size_t		 nd = 0;
	int		 last = 7, rc, valid, want_last = 0;

	while (s[nd] >= '0' && s[nd] <= '9') {
		if (nd < 19)
			want = want * 10 + (uint64_t)(s[nd] - '0');
		nd++;
	}
	valid = nd >= 1 && nd <= 19;
	if (valid && s[nd] != '\0') {
		if (strcasecmp(s + nd, " LAST") == 0)
			want_last = 1;
		else
			valid = 0;
	}
	rc = smtp_bdat_parse(s, &size, &last);
	ASSERT(rc == 0 || rc == -1);
	ASSERT((rc == 0) == valid);
	if (rc == 0) {
		ASSERT(size == want);
		ASSERT(last == want_last);
	}
}

static void
check_cmd(const uint8_t *data, size_t len)
{
	struct smtp_cmd	 cmd;
	const char	*err = NULL;
	char		*line, *copy;
	size_t		 n = 0, i, wlen, slen;
	int		 rc, ctrl = 0, want_rc = -1;
	enum smtp_verb	 want_verb = CMD_UNKNOWN;

	/* an exact-size copy, NULs cut */
	if ((line = malloc(len + 1)) == NULL || (copy = malloc(len + 1)) ==
	    NULL)
		abort();
	for (i = 0; i < len; i++)
		if (data[i] != '\0')
			line[n++] = (char)data[i];
	line[n] = '\0';
	memcpy(copy, line, n + 1);

	/* the model */
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			ctrl = 1;
	wlen = strcspn(line, " ");
	for (i = 0; !ctrl && i < sizeof(model_verbs) / sizeof(model_verbs[0]);
	    i++) {
		if (strlen(model_verbs[i].word) != wlen ||
		    strncasecmp(line, model_verbs[i].word, wlen) != 0)
			continue;
		want_verb = model_verbs[i].verb;
		want_rc = 0;
		if (model_verbs[i].sub != NULL) {
			slen = strlen(model_verbs[i].sub);
			if (strncasecmp(line + wlen, model_verbs[i].sub,
			    slen) != 0)
				want_rc = -1;
		}
		break;
	}

	memset(&cmd, 0x5a, sizeof(cmd));
	rc = smtp_cmd_parse(line, &cmd, &err);
	ASSERT(rc == 0 || rc == -1);
	ASSERT(memcmp(line, copy, n + 1) == 0);
	ASSERT(cmd.name != NULL && cmd.args != NULL);
	ASSERT(rc == want_rc);
	ASSERT(cmd.verb == want_verb);
	if (rc == -1) {
		ASSERT(err != NULL && *err != '\0');
	} else {
		ASSERT(cmd.verb != CMD_UNKNOWN);
		/* args: the tail of the line */
		ASSERT(cmd.args >= line && cmd.args <= line + n);
		ASSERT(strlen(cmd.args) == (size_t)(line + n - cmd.args));
		ASSERT(strncasecmp(line, cmd.name, wlen) == 0);
		if (cmd.verb == CMD_MAIL || cmd.verb == CMD_RCPT) {
			ASSERT(cmd.args > line + wlen);
			ASSERT(cmd.args[-1] == ':' || cmd.args[-1] == ' ');
			ASSERT(cmd.args[0] != ' ');
		} else
			ASSERT(cmd.args == line + wlen ||
			    (cmd.args == line + wlen + 1 &&
			    line[wlen] == ' '));
		if (cmd.verb == CMD_BDAT)
			check_bdat(cmd.args);
	}
	check_bdat(line);
	free(copy);
	free(line);
}

/* ---- bodies --------------------------------------------------------- */

struct model {
	uint8_t		*out;		/* Received: text and the message */
	size_t		 len, cap;
	size_t		 client;	/* the client's octets: the limit */
	int		 errors;	/* without SIZE */
};

static void
model_put(struct model *m, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 64;
		if ((m->out = realloc(m->out, m->cap)) == NULL)
			abort();
	}
	memcpy(m->out + m->len, p, n);
	m->len += n;
}

static uint64_t
pick_max(uint8_t c, size_t total)
{
	int64_t	 max;

	if (c == 0)
		return 0;
	if (c < 0x80)
		max = (int64_t)total + (int)(c % 9) - 4;
	else
		max = (int64_t)(c - 0x7f) * 97;
	return max < 1 ? 1 : (uint64_t)max;
}

static uint8_t *
spool_read(size_t *lenp)
{
	struct stat	 st;
	uint8_t		*s;

	ASSERT(fstat(spool, &st) == 0);
	if ((s = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	ASSERT(pread(spool, s, (size_t)st.st_size, 0) == st.st_size);
	*lenp = (size_t)st.st_size;
	return s;
}

/* The file holds only CRLF lines of at most 1000 octets, no NUL. */
static void
check_wire(const uint8_t *p, size_t len)
{
	size_t	 i, linelen = 0;

	for (i = 0; i < len; i++) {
		ASSERT(p[i] != '\0');
		if (p[i] == '\r')
			ASSERT(i + 1 < len && p[i + 1] == '\n');
		if (p[i] == '\n') {
			ASSERT(i > 0 && p[i - 1] == '\r');
			ASSERT(linelen + 1 <= SMTP_TEXTLINE_MAX);
			linelen = 0;
		} else
			linelen++;
	}
	ASSERT(linelen == 0);
}

static void
body_start(struct smtp_body *b, uint64_t max, const uint8_t *recv,
    size_t rlen)
{
	int	 fd;

	/* the dup shares the offset */
	ASSERT(ftruncate(spool, 0) == 0 && lseek(spool, 0, SEEK_SET) == 0);
	ASSERT((fd = dup(spool)) != -1);
	body_init(b, fd, max);
	body_add(b, recv, rlen);
}

/* Finish a body and hold it against the model. */
static void
body_check(struct smtp_body *b, struct model *m, uint64_t max, size_t rlen)
{
	uint8_t	*got;
	size_t	 gotlen;
	int	 e, over;

	e = body_finish(b);
	ASSERT(!(e & BODY_ERR_WRITE));
	ASSERT((e & ~(BNL | BODY_ERR_SIZE)) == 0);
	over = max != 0 && m->client > max;
	ASSERT((e & BNL) == (m->errors & BNL));
	/* SIZE only when over, and always when over with nothing else */
	if (e & BODY_ERR_SIZE)
		ASSERT(over);
	if (over && !(e & BNL))
		ASSERT(e & BODY_ERR_SIZE);
	if (!over)
		ASSERT(!(e & BODY_ERR_SIZE));

	got = spool_read(&gotlen);
	if (e == 0) {
		ASSERT(gotlen == m->len);
		ASSERT(memcmp(got, m->out, gotlen) == 0);
		ASSERT(b->size == gotlen);
		check_wire(got + rlen, gotlen - rlen);
	} else {
		/* whole buffers written before the error, nothing after */
		ASSERT(gotlen % SMTP_BODY_BUF == 0);
		ASSERT(gotlen <= b->size && gotlen <= m->len);
		ASSERT(memcmp(got, m->out, gotlen) == 0);
	}
	free(got);
	body_free(b);
	ASSERT(b->fd == -1 && b->buf == NULL);
}

static void
fuzz_data(const uint8_t *ctl, const uint8_t *text, size_t len,
    const uint8_t *recv, size_t rlen)
{
	struct smtp_body	 b;
	struct model		 m;
	const uint8_t		*p = text, *end = text + len, *nl;
	size_t			 n, line, ulen;
	int			 bare_lf, stuffed;
	struct lines {
		const uint8_t	*s;
		size_t		 len;
		int		 bare_lf;
	}			*lv;
	size_t			 nlv = 0;
	uint64_t		 max;

	memset(&m, 0, sizeof(m));
	model_put(&m, recv, rlen);
	if ((lv = calloc(len + 1, sizeof(*lv))) == NULL)
		abort();
	for (line = 0; p < end; line++) {
		if ((nl = memchr(p, '\n', end - p)) != NULL) {
			n = nl - p;
			if (n > 0 && p[n - 1] == '\r')
				n--;
		} else
			n = end - p;
		bare_lf = (ctl[0] >> (line % 8)) & 1;
		if (n == 1 && p[0] == '.' && !bare_lf)
			break;		/* the end of the message */
		lv[nlv].s = p;
		lv[nlv].len = n;
		lv[nlv].bare_lf = bare_lf;
		nlv++;

		/* the model */
		if (bare_lf || memchr(p, '\r', n) != NULL)
			m.errors |= BODY_ERR_BARE;
		if (memchr(p, '\0', n) != NULL)
			m.errors |= BODY_ERR_NUL;
		stuffed = n > 0 && p[0] == '.';
		ulen = n - stuffed;
		if (ulen + 2 > SMTP_TEXTLINE_MAX)
			m.errors |= BODY_ERR_LONGLINE;
		model_put(&m, p + stuffed, ulen);
		model_put(&m, "\r\n", 2);

		if (nl == NULL)
			break;
		p = nl + 1;
	}

	m.client = m.len - rlen;
	max = pick_max(ctl[3], m.client);
	body_start(&b, max, recv, rlen);
	for (n = 0; n < nlv; n++)
		body_line(&b, (const char *)lv[n].s, lv[n].len,
		    lv[n].bare_lf);
	body_check(&b, &m, max, rlen);
	free(lv);
	free(m.out);
}

static void
fuzz_bdat(const uint8_t *ctl, const uint8_t *text, size_t len,
    const uint8_t *recv, size_t rlen)
{
	struct smtp_body	 b;
	struct model		 m;
	size_t			 i, n, k, seg = 0;
	uint64_t		 max;

	memset(&m, 0, sizeof(m));
	model_put(&m, recv, rlen);
	model_put(&m, text, len);
	for (i = 0; i < len; i++) {
		if (text[i] == '\0')
			m.errors |= BODY_ERR_NUL;
		if (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'))
			m.errors |= BODY_ERR_BARE;
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			m.errors |= BODY_ERR_BARE;
		if (text[i] == '\n') {
			if (seg + 1 > SMTP_TEXTLINE_MAX)
				m.errors |= BODY_ERR_LONGLINE;
			seg = 0;
		} else
			seg++;
	}
	if (seg > 0) {
		/* the last line gets a CRLF, and is judged with it */
		if (seg + 2 > SMTP_TEXTLINE_MAX)
			m.errors |= BODY_ERR_LONGLINE;
		model_put(&m, "\r\n", 2);
	}

	m.client = len;		/* not Received, not an added CRLF */
	max = pick_max(ctl[3], m.client);
	body_start(&b, max, recv, rlen);
	for (i = 0, k = 0; i < len; i += n, k++) {
		if (ctl[1] & 1)
			n = 1 + (ctl[1] >> 1);
		else
			n = 1 + ((size_t)ctl[1] * (k + 7)) % 1031;
		if (n > len - i)
			n = len - i;
		body_chunk(&b, text + i, n);
		if (ctl[1] == 0x40)
			body_chunk(&b, text + i, 0);
	}
	body_check(&b, &m, max, rlen);
	free(m.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t	 recv[SMTP_BODY_BUF + 600];
	const uint8_t	*ctl = data, *text, *p, *end, *nl;
	size_t		 len, rlen, i, n;

	if (size < NCTL || size > MAX_INPUT)
		return 0;
	if (spool == -1) {
		if ((spool = memfd_create("fuzz_smtp", 0)) == -1) {
			perror("memfd_create");
			abort();
		}
		/* Received: text in lines of 78 octets and CRLF */
		for (i = 0; i < sizeof(recv); i++)
			recv[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' :
			    'R';
	}
	text = data + NCTL;
	len = size - NCTL;

	/* up to 1 KB, or around a buffer */
	if (ctl[2] & 0x80)
		rlen = SMTP_BODY_BUF - 256 + (size_t)(ctl[2] & 0x7f) * 4;
	else
		rlen = (size_t)ctl[2] * 8;
	rlen -= rlen % 80;	/* whole lines */

	for (p = text, end = text + len; p < end; ) {
		if ((nl = memchr(p, '\n', end - p)) != NULL) {
			n = nl - p;
			if (n > 0 && p[n - 1] == '\r')
				n--;
		} else
			n = end - p;
		check_cmd(p, n);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	fuzz_data(ctl, text, len, recv, rlen);
	fuzz_bdat(ctl, text, len, recv, rlen);
	return 0;
}
