/*
 * Portcullis: a message body on its way from the client into the spool
 * file the queue handed out.
 *
 * The file holds the message as it will be sent on: lines ending in
 * CRLF, without dot-stuffing.  DATA lines are dot-unstuffed here; BDAT
 * chunks are taken as they are, and a CRLF is added if the last line
 * has none.  Whatever could let a next hop see an end of data where we
 * saw none -- a bare CR or a bare LF, in DATA or in BDAT -- and NUL
 * bytes make the whole message refused at its end (no SMTP smuggling),
 * as do a line over 1000 octets (CRLF included, the transparency dot
 * not) and a size over the limit.  Once a message is refused, nothing
 * more is written.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "smtp.h"

void
body_init(struct smtp_body *b, int fd, uint64_t max)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->max = max;
	if ((b->buf = malloc(SMTP_BODY_BUF)) == NULL)
		b->errors |= BODY_ERR_WRITE;
}

static void
body_flush(struct smtp_body *b)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < b->buflen) {
		n = write(b->fd, b->buf + off, b->buflen - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("spool write");
			b->errors |= BODY_ERR_WRITE;
			break;
		}
		off += n;
	}
	b->buflen = 0;
}

/* count: the octets are the client's, and count toward the limit */
static void
body_put(struct smtp_body *b, const void *data, size_t len, int count)
{
	const uint8_t	*p = data;
	size_t		 n;

	if (b->errors)
		return;
	if (count && b->max != 0 && (len > b->max || b->data > b->max - len)) {
		b->errors |= BODY_ERR_SIZE;
		return;
	}
	if (count)
		b->data += len;
	b->size += len;
	while (len > 0 && !b->errors) {
		n = SMTP_BODY_BUF - b->buflen;
		if (n > len)
			n = len;
		memcpy(b->buf + b->buflen, p, n);
		b->buflen += n;
		p += n;
		len -= n;
		if (b->buflen == SMTP_BODY_BUF)
			body_flush(b);
	}
}

/* Our own text (the Received: line): not the client's octets. */
void
body_add(struct smtp_body *b, const void *data, size_t len)
{
	body_put(b, data, len, 0);
}

void
body_line(struct smtp_body *b, const char *line, size_t len, int bare_lf)
{
	if (bare_lf)
		b->errors |= BODY_ERR_BARE;
	if (memchr(line, '\r', len) != NULL)
		b->errors |= BODY_ERR_BARE;
	if (memchr(line, '\0', len) != NULL)
		b->errors |= BODY_ERR_NUL;
	/* the dot added for transparency is not the message's and does not
	 * count (4.5.2, 4.5.3.1.6): "." and 998 octets is a line of 1000 */
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	if (len + 2 > SMTP_TEXTLINE_MAX)
		b->errors |= BODY_ERR_LONGLINE;
	if (b->errors)
		return;
	body_put(b, line, len, 1);
	body_put(b, "\r\n", 2, 1);
}

void
body_long_line(struct smtp_body *b)
{
	b->errors |= BODY_ERR_LONGLINE;
}

void
body_chunk(struct smtp_body *b, const uint8_t *data, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		switch (data[i]) {
		case '\0':
			/* CR NUL is a bare CR as well (RFC 5321 2.3.8) */
			b->errors |= BODY_ERR_NUL;
			if (b->last_cr)
				b->errors |= BODY_ERR_BARE;
			break;
		case '\n':
			if (!b->last_cr)
				b->errors |= BODY_ERR_BARE;
			break;
		default:
			if (b->last_cr)
				b->errors |= BODY_ERR_BARE;
			break;
		}
		b->last_cr = data[i] == '\r';
	}
	/* the line length, across chunks: the octets before the LF, a CR
	 * among them, may be 999 (1000 with the LF) */
	for (i = 0; i < len; i++) {
		if (data[i] == '\n')
			b->linelen = 0;
		else if (++b->linelen > SMTP_TEXTLINE_MAX - 1)
			b->errors |= BODY_ERR_LONGLINE;
	}
	b->chunked = 1;
	body_put(b, data, len, 1);
}

int
body_finish(struct smtp_body *b)
{
	if (b->last_cr)
		b->errors |= BODY_ERR_BARE;
	/*
	 * A chunked message may end inside a line: BDAT carries octets, and
	 * nothing in RFC 3030 makes the last chunk end in CRLF.  We end it,
	 * as RFC 5321 4.1.1.4 has a sender do with a final line without
	 * CRLF, so that the message can go on with DATA.  The line we end is
	 * judged as DATA judges one (4.5.3.1.6): at most 1000 octets with
	 * its CRLF, so 998 before it.  A last line of 999 octets would leave
	 * here as a line of 1001: it is refused, not passed on too long, cut
	 * or folded.  The CRLF is ours: it does not count toward the size
	 * limit.
	 */
	if (b->chunked && b->linelen > 0) {
		if (b->linelen + 2 > SMTP_TEXTLINE_MAX)
			b->errors |= BODY_ERR_LONGLINE;
		body_put(b, "\r\n", 2, 0);
	}
	if (!b->errors && b->buflen > 0)
		body_flush(b);
	return b->errors;
}

void
body_free(struct smtp_body *b)
{
	free(b->buf);
	b->buf = NULL;
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
}

const char *
body_error_reply(int errors)
{
	if (errors & BODY_ERR_WRITE)
		return "451 4.3.0 Error writing the message, try again later";
	if (errors & BODY_ERR_SIZE)
		return "552 5.3.4 Message too big for system";
	if (errors & BODY_ERR_BARE)
		return "550 5.6.2 Bare CR or LF in message, lines must end in "
		    "CRLF (RFC 5321 2.3.8)";
	if (errors & BODY_ERR_NUL)
		return "550 5.6.0 NUL octet in message";
	if (errors & BODY_ERR_LONGLINE)
		return "550 5.6.0 Line longer than 1000 octets in message "
		    "(RFC 5321 4.5.3.1.6)";
	return NULL;
}
