/*
 * Portcullis: the DSN builder (queue/dsn.c).  Each test writes an
 * original into a file, builds a DSN from it into another, and parses
 * the result back: the MIME structure, the required fields, RET=HDRS
 * against RET=FULL, 8-bit and UTF-8 octets, the boundary.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"
#include "dsn.h"

#define T0	1764322928	/* Fri, 28 Nov 2025 09:42:08 +0000 */

static char	 dir[] = "/tmp/portcullis-dsn.XXXXXX";

static const char orig_ascii[] =
    "Received: from client.example ([192.0.2.7])\r\n"
    "\tby mx.example.com; Fri, 28 Nov 2025 09:42:08 +0000\r\n"
    "From: <alice@example.org>\r\n"
    "To: <bob@example.net>\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "The body, line 1.\r\n"
    "BODYMARKER\r\n";

static const char orig_8bit[] =
    "From: <alice@example.org>\r\n"
    "Subject: caf\xc3\xa9 cr\xc3\xa8me\r\n"
    "\r\n"
    "na\xc3\xafve body\r\n";

/* A parsed DSN. */
struct parsed {
	char	*buf;
	size_t	 len;
	char	*hdr;		/* top header, NUL-terminated copy */
	char	 boundary[128];
	char	*part[8];	/* each part: its header and content */
	size_t	 partlen[8];
	int	 nparts;
	int	 closed;	/* the close delimiter was found */
};

static void
mkaddr(struct mailaddr *a, const char *path, int flags)
{
	if (mailaddr_parse_path(path, strlen(path), flags, a, NULL, NULL) ==
	    -1) {
		printf("bad test address %s\n", path);
		exit(2);
	}
}

static void
mkevp(struct envelope *e, const char *sender, const char *rcpt, uint32_t idx)
{
	memset(e, 0, sizeof(*e));
	e->msgid = 0x5f00000012345678ULL;
	e->idx = idx;
	mkaddr(&e->sender, sender, PARSE_ALLOW_NULL | PARSE_SMTPUTF8);
	mkaddr(&e->rcpt, rcpt, PARSE_SMTPUTF8);
	(void)strlcpy(e->helo, "client.example", sizeof(e->helo));
	(void)strlcpy(e->client, "192.0.2.7", sizeof(e->client));
	e->ctime = T0;
	e->lasttry = T0 + 3600;
}

static int
write_file(const char *name, const char *data, size_t len)
{
	char	 path[256];
	int	 fd;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
new_out(void)
{
	char	 path[256];
	int	 fd;

	(void)snprintf(path, sizeof(path), "%s/out", dir);
	(void)unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	return fd;
}

static void
parsed_free(struct parsed *p)
{
	free(p->buf);
	free(p->hdr);
	memset(p, 0, sizeof(*p));
}

/* Read the DSN back and split it. */
static int
parse(int fd, struct parsed *p)
{
	struct stat	 st;
	char		*end, *b, *q, *next, delim[160];
	size_t		 dlen;

	memset(p, 0, sizeof(*p));
	if (fstat(fd, &st) == -1 || (p->buf = malloc(st.st_size + 1)) ==
	    NULL)
		return -1;
	if (pread(fd, p->buf, st.st_size, 0) != st.st_size)
		return -1;
	p->len = st.st_size;
	p->buf[p->len] = '\0';
	if ((end = memmem(p->buf, p->len, "\r\n\r\n", 4)) == NULL)
		return -1;
	p->hdr = strndup(p->buf, end - p->buf + 2);
	if ((b = strstr(p->hdr, "boundary=\"")) == NULL)
		return -1;
	b += 10;
	if ((q = strchr(b, '"')) == NULL || (size_t)(q - b) >=
	    sizeof(p->boundary))
		return -1;
	memcpy(p->boundary, b, q - b);
	p->boundary[q - b] = '\0';
	dlen = snprintf(delim, sizeof(delim), "\r\n--%s", p->boundary);
	b = memmem(end, p->buf + p->len - end, delim, dlen);
	while (b != NULL && p->nparts < 8) {
		b += dlen;
		if (strncmp(b, "--\r\n", 4) == 0) {
			p->closed = b + 4 == p->buf + p->len;
			break;
		}
		if (strncmp(b, "\r\n", 2) != 0)
			return -1;
		b += 2;
		next = memmem(b, p->buf + p->len - b, delim, dlen);
		if (next == NULL)
			return -1;
		p->part[p->nparts] = b;
		p->partlen[p->nparts++] = next - b;
		b = next;
	}
	return 0;
}

/* The value of a header field in a NUL-terminated header block, or
 * NULL; the first line only. */
static const char *
field(const char *hdr, size_t len, const char *name, char *buf,
    size_t bufsz)
{
	const char	*p = hdr, *e = hdr + len, *nl;
	size_t		 n = strlen(name), vlen;

	while (p < e) {
		if ((nl = memmem(p, e - p, "\r\n", 2)) == NULL)
			nl = e;
		if ((size_t)(nl - p) > n + 1 && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			vlen = nl - p;
			if (vlen >= bufsz)
				vlen = bufsz - 1;
			memcpy(buf, p, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		if (nl == p)
			break;		/* end of the header */
		p = nl + 2;
	}
	return NULL;
}

/* Every line ends in CRLF and none is longer than 998 octets. */
static int
lines_ok(const struct parsed *p)
{
	size_t	 i, col = 0;

	for (i = 0; i < p->len; i++) {
		if (p->buf[i] == '\n' && (i == 0 || p->buf[i - 1] != '\r'))
			return 0;
		if (p->buf[i] == '\r' && (i + 1 == p->len ||
		    p->buf[i + 1] != '\n'))
			return 0;
		if (p->buf[i] == '\n')
			col = 0;
		else if (++col > 998)
			return 0;
	}
	return p->len > 2 && p->buf[p->len - 1] == '\n';
}

/* The content of a part: after its header. */
static const char *
content(const struct parsed *p, int i, size_t *len)
{
	const char	*c;

	c = memmem(p->part[i], p->partlen[i], "\r\n\r\n", 4);
	if (c == NULL) {
		*len = 0;
		return "";
	}
	c += 4;
	*len = p->part[i] + p->partlen[i] - c;
	return c;
}

static int
build(const char *orig, size_t olen, const struct envelope *o,
    struct dsn_rcpt *rc, size_t n, int action, struct dsn_result *res,
    struct parsed *p)
{
	struct dsn_report	 r;
	size_t			 i;
	int			 in, out, rv;

	memset(p, 0, sizeof(*p));
	memset(&r, 0, sizeof(r));
	r.hostname = "mx.example.com";
	r.dsnid = 0x5f000000abcdef01ULL;
	r.now = T0 + 7200;
	r.retry_until = T0 + 5 * 86400;
	r.orig = o;
	r.rcpts = rc;
	r.nrcpt = n;
	for (i = 0; i < n; i++)
		rc[i].action = action;
	if ((in = write_file("orig", orig, olen)) == -1 ||
	    (out = new_out()) == -1)
		return -1;
	rv = dsn_write(out, in, &r, res);
	if (rv == 0)
		rv = parse(out, p);
	close(in);
	close(out);
	return rv;
}

static void
test_bounce_hdrs(void)
{
	struct envelope		 o, e1, e2;
	struct dsn_rcpt		 rc[2];
	struct dsn_result	 res;
	struct parsed		 p;
	char			 v[256];
	const char		*c, *h;
	size_t			 clen, hlen;

	mkevp(&o, "<alice@example.org>", "<bob@example.net>", 0);
	(void)strlcpy(o.envid, "QQ314159", sizeof(o.envid));
	e1 = o;
	(void)strlcpy(e1.orcpt, "rfc822;Bob@Example.net", sizeof(e1.orcpt));
	envelope_set_error(&e1,
	    "550 5.1.1 <bob@example.net>: no such user");
	mkevp(&e2, "<alice@example.org>", "<carol@example.net>", 1);
	envelope_set_error(&e2, "connection refused");
	memset(rc, 0, sizeof(rc));
	rc[0].evp = &e1;
	rc[0].host = "mx1.example.net";
	rc[1].evp = &e2;
	rc[1].host = "";
	if (build(orig_ascii, sizeof(orig_ascii) - 1, &o, rc, 2,
	    DSN_ACTION_FAILED, &res, &p) == -1) {
		CHECK(0, "build: %s", strerror(errno));
		return;
	}
	CHECK(lines_ok(&p), "a line without CRLF or too long");
	CHECK(res.size == p.len, "size %llu, file %zu",
	    (unsigned long long)res.size, p.len);
	CHECK(res.body == BODY_7BIT && !res.smtputf8 && !res.full,
	    "body %u utf8 %d full %d", res.body, res.smtputf8, res.full);
	CHECK_STR(field(p.hdr, strlen(p.hdr), "From", v, sizeof(v)),
	    "Mail Delivery System <MAILER-DAEMON@mx.example.com>");
	CHECK_STR(field(p.hdr, strlen(p.hdr), "To", v, sizeof(v)),
	    "<alice@example.org>");
	CHECK_STR(field(p.hdr, strlen(p.hdr), "Auto-Submitted", v, sizeof(v)),
	    "auto-replied");
	CHECK_STR(field(p.hdr, strlen(p.hdr), "MIME-Version", v, sizeof(v)),
	    "1.0");
	CHECK_STR(field(p.hdr, strlen(p.hdr), "Date", v, sizeof(v)),
	    "Fri, 28 Nov 2025 11:42:08 +0000");
	CHECK(field(p.hdr, strlen(p.hdr), "Subject", v, sizeof(v)) != NULL,
	    "no Subject");
	CHECK(field(p.hdr, strlen(p.hdr), "Message-ID", v, sizeof(v)) !=
	    NULL && strncmp(v, "<5f000000abcdef01.", 18) == 0 &&
	    strstr(v, "@mx.example.com>") != NULL, "Message-ID %s", v);
	CHECK(strstr(p.hdr, "Content-Type: multipart/report; "
	    "report-type=delivery-status;") != NULL, "Content-Type");
	CHECK(strncmp(p.boundary, "=_portcullis_", 13) == 0 &&
	    strlen(p.boundary) == 45, "boundary %s", p.boundary);
	CHECK(p.nparts == 3 && p.closed, "%d parts, closed %d", p.nparts,
	    p.closed);
	if (p.nparts != 3) {
		parsed_free(&p);
		return;
	}

	/* 1. text */
	CHECK(strstr(p.part[0], "Content-Type: text/plain; charset=utf-8") ==
	    p.part[0] + strlen("Content-Description: Notification\r\n"),
	    "part 1 type");
	c = content(&p, 0, &clen);
	CHECK(memmem(c, clen, "<bob@example.net>: 550 5.1.1", 28) != NULL,
	    "part 1 lacks bob's reply");
	CHECK(memmem(c, clen, "0x", 2) == NULL &&
	    memmem(c, clen, "5f00000012345678", 16) != NULL, "queue id");

	/* 2. delivery-status */
	CHECK(strstr(p.part[1], "Content-Type: message/delivery-status\r\n") !=
	    NULL, "part 2 type");
	c = content(&p, 1, &clen);
	CHECK_STR(field(c, clen, "Reporting-MTA", v, sizeof(v)),
	    "dns; mx.example.com");
	CHECK_STR(field(c, clen, "Original-Envelope-Id", v, sizeof(v)),
	    "QQ314159");
	CHECK_STR(field(c, clen, "Arrival-Date", v, sizeof(v)),
	    "Fri, 28 Nov 2025 09:42:08 +0000");
	h = memmem(c, clen, "\r\n\r\n", 4);
	CHECK(h != NULL, "no per-recipient block");
	if (h != NULL) {
		h += 4;
		hlen = c + clen - h;
		CHECK_STR(field(h, hlen, "Original-Recipient", v, sizeof(v)),
		    "rfc822;Bob@Example.net");
		CHECK_STR(field(h, hlen, "Final-Recipient", v, sizeof(v)),
		    "rfc822; bob@example.net");
		CHECK_STR(field(h, hlen, "Action", v, sizeof(v)), "failed");
		CHECK_STR(field(h, hlen, "Status", v, sizeof(v)), "5.1.1");
		CHECK_STR(field(h, hlen, "Remote-MTA", v, sizeof(v)),
		    "dns; mx1.example.net");
		CHECK_STR(field(h, hlen, "Diagnostic-Code", v, sizeof(v)),
		    "smtp; 550 5.1.1 <bob@example.net>: no such user");
		CHECK_STR(field(h, hlen, "Last-Attempt-Date", v, sizeof(v)),
		    "Fri, 28 Nov 2025 10:42:08 +0000");
		CHECK(field(h, hlen, "Will-Retry-Until", v, sizeof(v)) == NULL,
		    "Will-Retry-Until in a failure");
		h = memmem(h, hlen, "\r\n\r\n", 4);
		CHECK(h != NULL, "no second recipient");
		if (h != NULL) {
			h += 4;
			hlen = c + clen - h;
			CHECK_STR(field(h, hlen, "Final-Recipient", v,
			    sizeof(v)), "rfc822; carol@example.net");
			CHECK_STR(field(h, hlen, "Status", v, sizeof(v)),
			    "5.0.0");
			CHECK_STR(field(h, hlen, "Diagnostic-Code", v,
			    sizeof(v)), "X-Portcullis; connection refused");
			CHECK(field(h, hlen, "Remote-MTA", v, sizeof(v)) ==
			    NULL, "Remote-MTA without a host");
			CHECK(field(h, hlen, "Original-Recipient", v,
			    sizeof(v)) == NULL, "Original-Recipient without "
			    "ORCPT");
		}
	}

	/* 3. the header only */
	CHECK(strstr(p.part[2], "Content-Type: text/rfc822-headers\r\n") !=
	    NULL, "part 3 type");
	c = content(&p, 2, &clen);
	hlen = strstr(orig_ascii, "\r\n\r\n") + 2 - orig_ascii;
	CHECK(clen >= hlen && memcmp(c, orig_ascii, hlen) == 0,
	    "part 3 is not the original header");
	CHECK(memmem(c, clen, "BODYMARKER", 10) == NULL, "the body came "
	    "back with RET=HDRS");
	parsed_free(&p);
}

static void
test_bounce_full(void)
{
	struct envelope		 o, e;
	struct dsn_rcpt		 rc;
	struct dsn_result	 res;
	struct parsed		 p;
	const char		*c;
	size_t			 clen;

	mkevp(&o, "<alice@example.org>", "<bob@example.net>", 0);
	o.ret = DSN_RET_FULL;
	e = o;
	envelope_set_error(&e, "554 5.7.1 rejected");
	memset(&rc, 0, sizeof(rc));
	rc.evp = &e;
	rc.host = "mx1.example.net";
	if (build(orig_ascii, sizeof(orig_ascii) - 1, &o, &rc, 1,
	    DSN_ACTION_FAILED, &res, &p) == -1) {
		CHECK(0, "build: %s", strerror(errno));
		return;
	}
	CHECK(lines_ok(&p), "lines");
	CHECK(res.full && p.nparts == 3 && p.closed, "full %d parts %d",
	    res.full, p.nparts);
	if (p.nparts == 3) {
		CHECK(strstr(p.part[2], "Content-Type: message/rfc822\r\n") !=
		    NULL, "part 3 type");
		c = content(&p, 2, &clen);
		CHECK(clen == sizeof(orig_ascii) - 1 &&
		    memcmp(c, orig_ascii, clen) == 0,
		    "part 3 is not the whole original (%zu)", clen);
	}
	parsed_free(&p);
}

static void
test_8bit_and_utf8(void)
{
	struct envelope		 o, e;
	struct dsn_rcpt		 rc;
	struct dsn_result	 res;
	struct parsed		 p;
	char			 v[256];
	const char		*c;
	size_t			 clen, hlen;

	/* 8BITMIME: the octets come back unchanged, marked 8bit. */
	mkevp(&o, "<alice@example.org>", "<bob@example.net>", 0);
	o.body = BODY_8BITMIME;
	e = o;
	envelope_set_error(&e, "550 5.1.1 unknown \xc3\xa9");
	memset(&rc, 0, sizeof(rc));
	rc.evp = &e;
	if (build(orig_8bit, sizeof(orig_8bit) - 1, &o, &rc, 1,
	    DSN_ACTION_FAILED, &res, &p) == -1) {
		CHECK(0, "build: %s", strerror(errno));
		return;
	}
	CHECK(res.body == BODY_8BITMIME && !res.smtputf8, "body %u utf8 %d",
	    res.body, res.smtputf8);
	CHECK(p.nparts == 3, "parts %d", p.nparts);
	if (p.nparts == 3) {
		CHECK(strstr(p.part[2], "Content-Transfer-Encoding: 8bit") !=
		    NULL, "part 3 not marked 8bit");
		c = content(&p, 2, &clen);
		hlen = strstr(orig_8bit, "\r\n\r\n") + 2 - orig_8bit;
		CHECK(clen >= hlen && memcmp(c, orig_8bit, hlen) == 0,
		    "8-bit header changed");
		c = content(&p, 1, &clen);
		CHECK(memmem(c, clen, "unknown ??", 10) != NULL,
		    "a non-ASCII reply in an ASCII report");
	}
	parsed_free(&p);

	/* SMTPUTF8: RFC 6533 types, UTF-8 addresses kept. */
	mkevp(&o, "<j\xc3\xb6rg@example.org>", "<b\xc3\xb6" "b@example.net>", 0);
	o.flags = EF_SMTPUTF8;
	o.body = BODY_8BITMIME;
	o.ret = DSN_RET_FULL;
	e = o;
	envelope_set_error(&e, "550 5.1.1 unknown \xc3\xa9");
	rc.evp = &e;
	if (build(orig_8bit, sizeof(orig_8bit) - 1, &o, &rc, 1,
	    DSN_ACTION_FAILED, &res, &p) == -1) {
		CHECK(0, "build: %s", strerror(errno));
		return;
	}
	CHECK(res.smtputf8 && res.body == BODY_8BITMIME, "utf8 %d body %u",
	    res.smtputf8, res.body);
	CHECK(strstr(p.hdr, "report-type=global-delivery-status") != NULL,
	    "report type");
	CHECK_STR(field(p.hdr, strlen(p.hdr), "To", v, sizeof(v)),
	    "<j\xc3\xb6rg@example.org>");
	CHECK(p.nparts == 3, "parts %d", p.nparts);
	if (p.nparts == 3) {
		CHECK(strstr(p.part[1], "message/global-delivery-status") !=
		    NULL, "part 2 type");
		c = content(&p, 1, &clen);
		c = memmem(c, clen, "\r\n\r\n", 4);
		CHECK(c != NULL, "no per-recipient block");
		if (c != NULL)
			CHECK_STR(field(c + 4, strlen(c + 4), "Final-Recipient",
			    v, sizeof(v)), "utf-8; b\xc3\xb6" "b@example.net");
		c = content(&p, 1, &clen);
		CHECK(memmem(c, clen, "unknown \xc3\xa9", 10) != NULL,
		    "UTF-8 reply lost");
		CHECK(strstr(p.part[2], "Content-Type: message/global\r\n") !=
		    NULL, "part 3 type");
		c = content(&p, 2, &clen);
		CHECK(clen == sizeof(orig_8bit) - 1 &&
		    memcmp(c, orig_8bit, clen) == 0, "original changed");
	}
	parsed_free(&p);
}

static void
test_delayed_and_delivered(void)
{
	struct envelope		 o, e;
	struct dsn_rcpt		 rc;
	struct dsn_result	 res;
	struct parsed		 p;
	char			 v[256];
	const char		*c;
	size_t			 clen;

	mkevp(&o, "<alice@example.org>", "<bob@example.net>", 0);
	e = o;
	envelope_set_error(&e, "451 4.3.0 try later");
	memset(&rc, 0, sizeof(rc));
	rc.evp = &e;
	rc.host = "mx1.example.net";
	if (build(orig_ascii, sizeof(orig_ascii) - 1, &o, &rc, 1,
	    DSN_ACTION_DELAYED, &res, &p) == -1) {
		CHECK(0, "build: %s", strerror(errno));
		return;
	}
	CHECK(p.nparts == 3 && p.closed, "parts %d", p.nparts);
	if (p.nparts == 3) {
		c = content(&p, 1, &clen);
		CHECK(memmem(c, clen, "Action: delayed\r\n", 17) != NULL,
		    "action");
		CHECK(memmem(c, clen, "Status: 4.3.0\r\n", 15) != NULL,
		    "status");
		CHECK(memmem(c, clen, "Will-Retry-Until: Wed, 03 Dec 2025 "
		    "09:42:08 +0000\r\n", 49) != NULL, "Will-Retry-Until");
	}
	CHECK(field(p.hdr, strlen(p.hdr), "Subject", v, sizeof(v)) != NULL &&
	    strstr(v, "Delayed") != NULL, "subject %s", v);
	parsed_free(&p);

	envelope_set_error(&e, "250 2.0.0 ok");
	if (build(orig_ascii, sizeof(orig_ascii) - 1, &o, &rc, 1,
	    DSN_ACTION_DELIVERED, &res, &p) == -1) {
		CHECK(0, "build: %s", strerror(errno));
		return;
	}
	if (p.nparts == 3) {
		c = content(&p, 1, &clen);
		CHECK(memmem(c, clen, "Action: delivered\r\n", 19) != NULL &&
		    memmem(c, clen, "Status: 2.0.0\r\n", 15) != NULL,
		    "delivered");
	} else
		CHECK(0, "parts %d", p.nparts);
	parsed_free(&p);
}

/* The first boundary drawn occurs in the original: another is used. */
static int	 nrandom;

static void
fixed_random(void *buf, size_t len)
{
	memset(buf, nrandom++ == 0 ? 0 : 0x11, len);
}

static void
test_boundary_safety(void)
{
	struct envelope		 o, e;
	struct dsn_rcpt		 rc;
	struct dsn_result	 res;
	struct parsed		 p;
	char			 orig[512];
	const char		*first =
	    "=_portcullis_00000000000000000000000000000000";
	int			 n;

	/* Across the 8 KiB reads too: the boundary straddles 8192. */
	n = snprintf(orig, sizeof(orig), "Subject: x\r\n\r\n%s\r\n", first);
	mkevp(&o, "<alice@example.org>", "<bob@example.net>", 0);
	o.ret = DSN_RET_FULL;
	e = o;
	envelope_set_error(&e, "550 no");
	memset(&rc, 0, sizeof(rc));
	rc.evp = &e;
	nrandom = 0;
	dsn_test_random = fixed_random;
	if (build(orig, n, &o, &rc, 1, DSN_ACTION_FAILED, &res, &p) == 0) {
		CHECK(nrandom == 2 && strcmp(res.boundary, first) != 0,
		    "boundary %s after %d draws", res.boundary, nrandom);
		CHECK(p.nparts == 3 && p.closed, "parts %d", p.nparts);
	} else
		CHECK(0, "build: %s", strerror(errno));
	parsed_free(&p);

	{
		char	*big;
		size_t	 len = 8192 + 200;

		if ((big = malloc(len)) == NULL)
			return;
		memset(big, 'a', len);
		memcpy(big, "Subject: x\r\n\r\n", 14);
		memcpy(big + 8192 - 20, first, strlen(first));
		big[len - 2] = '\r';
		big[len - 1] = '\n';
		nrandom = 0;
		if (build(big, len, &o, &rc, 1, DSN_ACTION_FAILED, &res,
		    &p) == 0)
			CHECK(nrandom == 2, "straddling: %d draws", nrandom);
		else
			CHECK(0, "build: %s", strerror(errno));
		parsed_free(&p);
		free(big);
	}

	/* In a reply text: also avoided. */
	envelope_set_error(&e, "550 =_portcullis_"
	    "00000000000000000000000000000000");
	nrandom = 0;
	if (build(orig_ascii, sizeof(orig_ascii) - 1, &o, &rc, 1,
	    DSN_ACTION_FAILED, &res, &p) == 0)
		CHECK(nrandom == 2, "reply: %d draws", nrandom);
	parsed_free(&p);
	dsn_test_random = NULL;
}

static void
test_edges(void)
{
	struct envelope		 o, e;
	struct dsn_rcpt		 rc;
	struct dsn_result	 res;
	struct parsed		 p;
	const char		*c;
	size_t			 clen;
	int			 in, out;
	static const char	 nobody[] = "Subject: no body";

	/* Never bounce a bounce. */
	mkevp(&o, "<>", "<bob@example.net>", 0);
	e = o;
	memset(&rc, 0, sizeof(rc));
	rc.evp = &e;
	errno = 0;
	CHECK(build(orig_ascii, sizeof(orig_ascii) - 1, &o, &rc, 1,
	    DSN_ACTION_FAILED, &res, &p) == -1 && errno == EINVAL,
	    "a DSN to the null sender");
	parsed_free(&p);
	{
		struct dsn_report	 r;
		struct envelope		 de;

		memset(&r, 0, sizeof(r));
		r.orig = &o;
		CHECK(dsn_envelope(&r, &res, &de) == -1, "DSN envelope to <>");
	}

	/* A header without an empty line nor a final CRLF. */
	mkevp(&o, "<alice@example.org>", "<bob@example.net>", 0);
	e = o;
	rc.evp = &e;
	if (build(nobody, sizeof(nobody) - 1, &o, &rc, 1, DSN_ACTION_FAILED,
	    &res, &p) == 0) {
		CHECK(lines_ok(&p), "lines");
		CHECK(p.nparts == 3 && p.closed, "parts %d", p.nparts);
		if (p.nparts == 3) {
			c = content(&p, 2, &clen);
			CHECK(clen >= sizeof(nobody) - 1 &&
			    memcmp(c, nobody, sizeof(nobody) - 1) == 0,
			    "header");
		}
	} else
		CHECK(0, "build: %s", strerror(errno));
	parsed_free(&p);

	/* RET=FULL past DSN_FULL_MAX: the header only, said so. */
	o.ret = DSN_RET_FULL;
	if ((in = write_file("orig", orig_ascii, sizeof(orig_ascii) - 1)) ==
	    -1 || ftruncate(in, DSN_FULL_MAX + 1) == -1 ||
	    (out = new_out()) == -1) {
		CHECK(0, "files");
		return;
	}
	{
		struct dsn_report	 r;
		struct envelope		 de;

		memset(&r, 0, sizeof(r));
		r.hostname = "mx.example.com";
		r.now = T0;
		r.orig = &o;
		rc.action = DSN_ACTION_FAILED;
		r.rcpts = &rc;
		r.nrcpt = 1;
		r.dsnid = 42;
		CHECK(dsn_write(out, in, &r, &res) == 0 && !res.full &&
		    res.size < 10000, "big: full %d size %llu", res.full,
		    (unsigned long long)res.size);
		CHECK(parse(out, &p) == 0 && p.nparts == 3 &&
		    strstr(p.part[0], "only its header") != NULL &&
		    strstr(p.part[2], "text/rfc822-headers") != NULL,
		    "big: not headers");
		parsed_free(&p);
		CHECK(dsn_envelope(&r, &res, &de) == 0 &&
		    (de.sender.flags & MAILADDR_NULL) && de.flags == EF_BOUNCE &&
		    de.msgid == 42 && de.idx == 0 &&
		    strcmp(de.rcpt.local, "alice") == 0 &&
		    envelope_check(&de, NULL) == 0, "DSN envelope");
	}
	close(in);
	close(out);
}

static void
test_status(void)
{
	static const struct {
		const char	*reply;
		int		 action, expired;
		const char	*want;
	} rows[] = {
		{ "550 5.1.1 no such user", DSN_ACTION_FAILED, 0, "5.1.1" },
		{ "550-5.7.1 policy", DSN_ACTION_FAILED, 0, "5.7.1" },
		{ "550 4.1.1 mismatch", DSN_ACTION_FAILED, 0, "5.0.0" },
		{ "550 no code", DSN_ACTION_FAILED, 0, "5.0.0" },
		{ "550", DSN_ACTION_FAILED, 0, "5.0.0" },
		{ "", DSN_ACTION_FAILED, 0, "5.0.0" },
		{ "connection refused", DSN_ACTION_FAILED, 1, "4.4.7" },
		{ "451 4.4.1 timeout", DSN_ACTION_FAILED, 1, "4.4.1" },
		{ "451 4.4.1 timeout", DSN_ACTION_DELAYED, 0, "4.4.1" },
		{ "451 busy", DSN_ACTION_DELAYED, 0, "4.0.0" },
		{ "550 5.1.1 x", DSN_ACTION_DELAYED, 0, "4.0.0" },
		{ "250 2.1.5 ok", DSN_ACTION_DELIVERED, 0, "2.1.5" },
		{ "250 ok", DSN_ACTION_DELIVERED, 0, "2.0.0" },
		{ "550 5.1234.1 long", DSN_ACTION_FAILED, 0, "5.0.0" },
		{ "550 5.1.1x junk", DSN_ACTION_FAILED, 0, "5.0.0" },
		{ "5.2.2 mailbox full", DSN_ACTION_FAILED, 0, "5.2.2" },
		{ "55 5.1.1", DSN_ACTION_FAILED, 0, "5.0.0" },
	};
	char	 buf[DSN_STATUS_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		dsn_status(rows[i].reply, rows[i].action, rows[i].expired, buf,
		    sizeof(buf));
		CHECK(strcmp(buf, rows[i].want) == 0, "row %zu \"%s\": got %s "
		    "want %s", i, rows[i].reply, buf, rows[i].want);
	}
	dsn_date(0, buf, sizeof(buf));
	{
		char	 d[64];

		dsn_date(0, d, sizeof(d));
		CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 +0000");
		dsn_date(951782400, d, sizeof(d));	/* a leap day */
		CHECK_STR(d, "Tue, 29 Feb 2000 00:00:00 +0000");
	}
}

int
main(void)
{
	char	 cmd[128];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	RUN(test_bounce_hdrs);
	RUN(test_bounce_full);
	RUN(test_8bit_and_utf8);
	RUN(test_delayed_and_delivered);
	RUN(test_boundary_safety);
	RUN(test_edges);
	RUN(test_status);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
	return unit_done();
}
