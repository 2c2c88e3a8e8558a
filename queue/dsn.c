/*
 * Portcullis: delivery status notifications.  Format: dsn.h.
 *
 * The DSN is written straight into its spool file through a small
 * buffer; the original is read with pread() in DSN_CHUNK pieces, twice
 * at most (once to check the boundary and find the end of the header
 * and 8-bit octets, once to copy), so memory stays bounded whatever the
 * size of the original.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailaddr.h"
#include "envelope.h"
#include "dsn.h"

#define DSN_CHUNK	8192
#define DSN_LINE_MAX	2048	/* a line we format ourselves */
#define BOUNDARY_TRIES	16

#ifdef PORTCULLIS_REGRESS
void	(*dsn_test_random)(void *, size_t);
#endif

struct wr {
	int		 fd;
	int		 err;		/* errno of the first failure */
	size_t		 len;
	uint64_t	 total;
	char		 buf[DSN_CHUNK];
};

/* What the first pass over the original finds. */
struct scan {
	off_t		 size;		/* of the original */
	off_t		 hdr_end;	/* length of its header */
	int		 hdr_nl;	/* the header ends with a newline */
	int		 eightbit;	/* an octet >= 0x80 in what is copied */
};

static void	 wr_put(struct wr *, const void *, size_t);
static void	 wr_str(struct wr *, const char *);
static void	 wr_fmt(struct wr *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 wr_text(struct wr *, const char *, int);
static int	 wr_flush(struct wr *);
static ssize_t	 rd(int, void *, size_t, off_t);
static int	 scan_original(int, off_t, struct scan *);
static int	 contains(int, off_t, const char *);
static int	 copy_original(struct wr *, int, off_t);
static void	 new_boundary(char *, size_t);
static int	 is_ascii(const char *);
static int	 parse_enhanced(const char *, int *, char *, size_t);
static int	 reply_code(const char *);
static void	 fmt_addr(const struct mailaddr *, char *, size_t);

static const char *const days[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/*
 * The writer: errors are remembered and reported by wr_flush().
 */
static void
wr_put(struct wr *w, const void *data, size_t len)
{
	const char	*p = data;
	size_t		 n;
	ssize_t		 r;

	while (len > 0 && w->err == 0) {
		n = sizeof(w->buf) - w->len;
		if (n > len)
			n = len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
		if (w->len < sizeof(w->buf))
			break;
		while (w->len > 0) {
			r = write(w->fd, w->buf, w->len);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0) {
				w->err = r == 0 ? EIO : errno;
				return;
			}
			memmove(w->buf, w->buf + r, w->len - r);
			w->len -= r;
			w->total += r;
		}
	}
}

static void
wr_str(struct wr *w, const char *s)
{
	wr_put(w, s, strlen(s));
}

static void
wr_fmt(struct wr *w, const char *fmt, ...)
{
	char	 line[DSN_LINE_MAX];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		if (w->err == 0)
			w->err = EOVERFLOW;
		return;
	}
	wr_put(w, line, n);
}

/* Text from the outside (a reply, ORCPT, an address): never a control
 * character, and ASCII only unless utf8. */
static void
wr_text(struct wr *w, const char *s, int utf8)
{
	char		 c;
	size_t		 i;

	for (i = 0; s[i] != '\0'; i++) {
		c = s[i];
		if ((unsigned char)c < 0x20 || c == 0x7f ||
		    ((unsigned char)c >= 0x80 && !utf8))
			c = '?';
		wr_put(w, &c, 1);
	}
}

static int
wr_flush(struct wr *w)
{
	ssize_t	 r;

	while (w->err == 0 && w->len > 0) {
		r = write(w->fd, w->buf, w->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			w->err = r == 0 ? EIO : errno;
			break;
		}
		memmove(w->buf, w->buf + r, w->len - r);
		w->len -= r;
		w->total += r;
	}
	if (w->err != 0) {
		errno = w->err;
		return -1;
	}
	return 0;
}

/*
 * The original.
 */
static ssize_t
rd(int fd, void *buf, size_t len, off_t off)
{
	ssize_t	 n;

	do {
		n = pread(fd, buf, len, off);
	} while (n == -1 && errno == EINTR);
	return n;
}

/* Find where the header ends (the first empty line, CRLF or LF) and
 * whether the first len octets hold 8-bit data: one pass.  With len
 * -1 the part to copy is the header. */
static int
scan_original(int fd, off_t len, struct scan *sc)
{
	char		 buf[DSN_CHUNK];
	off_t		 off = 0, end;
	ssize_t		 n, i;
	enum { BOL, BOL_CR, MID } st = BOL;
	int		 found = 0;
	char		 last = '\n';

	sc->hdr_end = sc->size;
	sc->eightbit = 0;
	end = len == -1 ? sc->size : len;
	while (off < sc->size && (!found || off < end)) {
		if ((n = rd(fd, buf, sizeof(buf), off)) == -1)
			return -1;
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			if (!found) {
				switch (st) {
				case BOL:
					if (buf[i] == '\n') {
						sc->hdr_end = off + i;
						found = 1;
					} else
						st = buf[i] == '\r' ? BOL_CR :
						    MID;
					break;
				case BOL_CR:
					if (buf[i] == '\n') {
						sc->hdr_end = off + i - 1;
						found = 1;
					} else
						st = MID;
					break;
				case MID:
					if (buf[i] == '\n')
						st = BOL;
					break;
				}
				if (!found)
					last = buf[i];
				if (found && len == -1)
					end = sc->hdr_end;
			}
			if (off + i < end && (unsigned char)buf[i] >= 0x80)
				sc->eightbit = 1;
		}
		off += n;
	}
	if (len == -1)
		end = sc->hdr_end;
	/* The header as copied: does it end in a newline? */
	sc->hdr_nl = sc->hdr_end == 0 || found || last == '\n';
	return 0;
}

/* 1 when needle occurs in the first len octets of fd, 0 if not, -1. */
static int
contains(int fd, off_t len, const char *needle)
{
	char		 buf[DSN_CHUNK + DSN_BOUNDARY_MAX];
	size_t		 nlen = strlen(needle), keep = 0, want;
	off_t		 off = 0;
	ssize_t		 n;

	if (nlen == 0 || nlen > DSN_BOUNDARY_MAX)
		return 1;
	while (off < len) {
		want = DSN_CHUNK;
		if ((off_t)want > len - off)
			want = len - off;
		if ((n = rd(fd, buf + keep, want, off)) == -1)
			return -1;
		if (n == 0)
			break;
		if (memmem(buf, keep + n, needle, nlen) != NULL)
			return 1;
		off += n;
		/* Keep the tail: a match may straddle two pieces. */
		if (keep + n >= nlen - 1) {
			memmove(buf, buf + keep + n - (nlen - 1), nlen - 1);
			keep = nlen - 1;
		} else
			keep += n;
	}
	return 0;
}

static int
copy_original(struct wr *w, int fd, off_t len)
{
	char		 buf[DSN_CHUNK];
	off_t		 off = 0;
	size_t		 want;
	ssize_t		 n;

	while (off < len && w->err == 0) {
		want = sizeof(buf);
		if ((off_t)want > len - off)
			want = len - off;
		if ((n = rd(fd, buf, want, off)) == -1)
			return -1;
		if (n == 0) {
			errno = EIO;	/* it shrank under us */
			return -1;
		}
		wr_put(w, buf, n);
		off += n;
	}
	return 0;
}

static void
new_boundary(char *buf, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 r[16];
	char			 h[sizeof(r) * 2 + 1];
	size_t			 i;

#ifdef PORTCULLIS_REGRESS
	if (dsn_test_random != NULL)
		dsn_test_random(r, sizeof(r));
	else
#endif
		arc4random_buf(r, sizeof(r));
	for (i = 0; i < sizeof(r); i++) {
		h[i * 2] = hex[r[i] >> 4];
		h[i * 2 + 1] = hex[r[i] & 0xf];
	}
	h[sizeof(h) - 1] = '\0';
	(void)snprintf(buf, len, "=_portcullis_%s", h);
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* The basic reply code at the start of s ("550 ...", "550-...",
 * "550"), or 0. */
static int
reply_code(const char *s)
{
	if (s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return 0;
	if (s[3] != '\0' && s[3] != ' ' && s[3] != '-')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* An RFC 3463 code "c.s.d" at s, followed by a space or the end:
 * class 2, 4 or 5, subject and detail of 1 to 3 digits.  0 with the
 * code in buf, or -1. */
static int
parse_enhanced(const char *s, int *class, char *buf, size_t len)
{
	size_t	 i = 0, part, ndig;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return -1;
	if (s[1] != '.')
		return -1;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (ndig = 0; s[i] >= '0' && s[i] <= '9'; i++)
			ndig++;
		if (ndig < 1 || ndig > 3)
			return -1;
		if (part == 0) {
			if (s[i] != '.')
				return -1;
			i++;
		}
	}
	if (s[i] != '\0' && s[i] != ' ')
		return -1;
	if (i >= len)
		return -1;
	memcpy(buf, s, i);
	buf[i] = '\0';
	*class = s[0] - '0';
	return 0;
}

void
dsn_status(const char *reply, int action, int expired, char *buf,
    size_t len)
{
	const char	*p = reply, *def;
	char		 code[DSN_STATUS_MAX];
	int		 basic, class, ok = 0;

	if (action == DSN_ACTION_DELIVERED)
		def = "2.0.0";
	else if (action == DSN_ACTION_DELAYED)
		def = "4.0.0";
	else
		def = expired ? "4.4.7" : "5.0.0";
	if (reply == NULL)
		reply = p = "";
	if ((basic = reply_code(reply)) != 0)
		p = reply[3] == '\0' ? reply + 3 : reply + 4;
	if (parse_enhanced(p, &class, code, sizeof(code)) == 0 &&
	    (basic == 0 || basic / 100 == class)) {
		switch (action) {
		case DSN_ACTION_DELIVERED:
			ok = class == 2;
			break;
		case DSN_ACTION_DELAYED:
			ok = class == 4;
			break;
		default:
			ok = class == 4 || class == 5;
			break;
		}
	}
	(void)strlcpy(buf, ok ? code : def, len);
}

void
dsn_date(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL) {
		(void)strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", len);
		return;
	}
	(void)snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
fmt_addr(const struct mailaddr *a, char *buf, size_t len)
{
	if (mailaddr_format(a, buf, len) == -1)
		(void)strlcpy(buf, "?", len);
}

int
dsn_write(int out, int in, const struct dsn_report *r,
    struct dsn_result *res)
{
	struct wr	*w;
	struct scan	 sc;
	struct stat	 st;
	const struct envelope *o = r->orig, *e;
	char		 date[64], addr[MAILADDR_STRSIZE], status[DSN_STATUS_MAX];
	char		 b[DSN_BOUNDARY_MAX];
	const char	*subject, *part3, *cte3;
	off_t		 copylen;
	size_t		 i;
	int		 action, global, utf8text, tries, hit, saved;

	memset(res, 0, sizeof(*res));
	if (r->nrcpt == 0 || r->hostname == NULL || r->hostname[0] == '\0' ||
	    o == NULL || (o->sender.flags & MAILADDR_NULL)) {
		errno = EINVAL;
		return -1;
	}
	action = r->rcpts[0].action;
	for (i = 0; i < r->nrcpt; i++)
		if (r->rcpts[i].action != action ||
		    action < DSN_ACTION_FAILED ||
		    action > DSN_ACTION_DELIVERED) {
			errno = EINVAL;
			return -1;
		}
	/*
	 * A global report (RFC 6533), sent with SMTPUTF8, only when the
	 * sender's own address needs it: an ASCII sender gets a report any
	 * server takes (UTF-8 in our text shown as '?'), since a bounce that
	 * cannot reach its sender is lost.
	 */
	global = (o->flags & EF_SMTPUTF8) != 0 &&
	    (!is_ascii(o->sender.local) || !is_ascii(o->sender.domain));

	/* What of the original goes in, and what it holds. */
	if (fstat(in, &st) == -1)
		return -1;
	memset(&sc, 0, sizeof(sc));
	sc.size = st.st_size;
	res->full = o->ret == DSN_RET_FULL && st.st_size <= DSN_FULL_MAX;
	if (scan_original(in, res->full ? st.st_size : -1, &sc) == -1)
		return -1;
	copylen = res->full ? sc.size : sc.hdr_end;

	/* Does our own text need UTF-8?  (Only a global report has it.) */
	utf8text = 0;
	if (global) {
		utf8text = !is_ascii(o->sender.local) ||
		    !is_ascii(o->sender.domain);
		for (i = 0; i < r->nrcpt; i++) {
			e = r->rcpts[i].evp;
			if (!is_ascii(e->error) || !is_ascii(e->orcpt) ||
			    !is_ascii(e->rcpt.local) ||
			    !is_ascii(e->rcpt.domain))
				utf8text = 1;
		}
	}

	/* A boundary that occurs nowhere in the content. */
	for (tries = 0; ; tries++) {
		if (tries == BOUNDARY_TRIES) {
			errno = EEXIST;
			return -1;
		}
		new_boundary(b, sizeof(b));
		hit = strstr(o->envid, b) != NULL;
		for (i = 0; i < r->nrcpt && !hit; i++) {
			e = r->rcpts[i].evp;
			hit = strstr(e->error, b) != NULL ||
			    strstr(e->orcpt, b) != NULL ||
			    (r->rcpts[i].host != NULL &&
			    strstr(r->rcpts[i].host, b) != NULL);
		}
		if (!hit && (hit = contains(in, copylen, b)) == -1)
			return -1;
		if (!hit)
			break;
	}
	(void)strlcpy(res->boundary, b, sizeof(res->boundary));
	res->smtputf8 = global;
	if (res->full && o->body == BODY_BINARYMIME)
		res->body = BODY_BINARYMIME;
	else if (sc.eightbit || utf8text)
		res->body = BODY_8BITMIME;
	else
		res->body = BODY_7BIT;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->fd = out;

	/* The header. */
	switch (action) {
	case DSN_ACTION_FAILED:
		subject = "Undelivered Mail Returned to Sender";
		break;
	case DSN_ACTION_DELAYED:
		subject = "Delayed Mail (still being retried)";
		break;
	default:
		subject = "Successful Mail Delivery Report";
		break;
	}
	dsn_date(r->now, date, sizeof(date));
	fmt_addr(&o->sender, addr, sizeof(addr));
	wr_fmt(w, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    r->hostname);
	wr_str(w, "To: <");
	wr_text(w, addr, global);
	wr_str(w, ">\r\n");
	wr_fmt(w, "Subject: %s\r\n", subject);
	wr_fmt(w, "Date: %s\r\n", date);
	wr_fmt(w, "Message-ID: <%016llx.%08x@%s>\r\n",
	    (unsigned long long)r->dsnid, (unsigned)arc4random(), r->hostname);
	wr_str(w, "Auto-Submitted: auto-replied\r\n");
	wr_str(w, "MIME-Version: 1.0\r\n");
	wr_fmt(w, "Content-Type: multipart/report; report-type=%s;\r\n"
	    "\tboundary=\"%s\"\r\n", global ? "global-delivery-status" :
	    "delivery-status", b);
	if (res->body != BODY_7BIT)
		wr_fmt(w, "Content-Transfer-Encoding: %s\r\n",
		    res->body == BODY_BINARYMIME ? "binary" : "8bit");
	wr_str(w, "\r\nThis is a MIME-encapsulated message.\r\n");

	/* 1. For people. */
	wr_fmt(w, "\r\n--%s\r\n", b);
	wr_str(w, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n");
	wr_fmt(w, "Content-Transfer-Encoding: %s\r\n\r\n",
	    utf8text ? "8bit" : "7bit");
	wr_fmt(w, "This is the mail system at host %s.\r\n\r\n", r->hostname);
	switch (action) {
	case DSN_ACTION_FAILED:
		wr_str(w, "Your message could not be delivered to one or "
		    "more recipients.\r\n");
		break;
	case DSN_ACTION_DELAYED:
		dsn_date(r->retry_until, date, sizeof(date));
		wr_str(w, "Your message could not be delivered yet to one "
		    "or more recipients.\r\n");
		wr_fmt(w, "The mail system will keep trying until %s;\r\n"
		    "you do not need to send it again.\r\n", date);
		break;
	default:
		wr_str(w, "Your message was delivered to the recipients "
		    "below.\r\n");
		break;
	}
	wr_fmt(w, "Queue ID: %016llx\r\n\r\n", (unsigned long long)o->msgid);
	for (i = 0; i < r->nrcpt; i++) {
		e = r->rcpts[i].evp;
		fmt_addr(&e->rcpt, addr, sizeof(addr));
		wr_str(w, "<");
		wr_text(w, addr, global);
		wr_str(w, ">:");
		if (r->rcpts[i].expired)
			wr_str(w, " delivery time expired;");
		if (e->error[0] != '\0') {
			wr_str(w, " ");
			wr_text(w, e->error, global);
		}
		if (r->rcpts[i].host != NULL && r->rcpts[i].host[0] != '\0') {
			wr_str(w, " (host ");
			wr_text(w, r->rcpts[i].host, 0);
			wr_str(w, ")");
		}
		wr_str(w, "\r\n");
	}
	if (action != DSN_ACTION_DELIVERED) {
		if (res->full)
			wr_str(w, "\r\nYour message is attached below.\r\n");
		else if (o->ret == DSN_RET_FULL)
			wr_fmt(w, "\r\nYour message is larger than %d bytes: "
			    "only its header is attached below.\r\n",
			    DSN_FULL_MAX);
		else
			wr_str(w, "\r\nThe header of your message is "
			    "attached below.\r\n");
	}

	/* 2. For programs. */
	wr_fmt(w, "\r\n--%s\r\n", b);
	wr_fmt(w, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/%s\r\n",
	    global ? "global-delivery-status" : "delivery-status");
	if (utf8text)
		wr_str(w, "Content-Transfer-Encoding: 8bit\r\n");
	wr_str(w, "\r\n");
	wr_fmt(w, "Reporting-MTA: dns; %s\r\n", r->hostname);
	wr_fmt(w, "X-Portcullis-Queue-ID: %016llx\r\n",
	    (unsigned long long)o->msgid);
	if (o->envid[0] != '\0') {
		wr_str(w, "Original-Envelope-Id: ");
		wr_text(w, o->envid, 0);
		wr_str(w, "\r\n");
	}
	dsn_date(o->ctime, date, sizeof(date));
	wr_fmt(w, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < r->nrcpt; i++) {
		e = r->rcpts[i].evp;
		wr_str(w, "\r\n");
		if (e->orcpt[0] != '\0') {
			wr_str(w, "Original-Recipient: ");
			wr_text(w, e->orcpt, global);
			wr_str(w, "\r\n");
		}
		fmt_addr(&e->rcpt, addr, sizeof(addr));
		wr_fmt(w, "Final-Recipient: %s; ",
		    is_ascii(addr) ? "rfc822" : "utf-8");
		wr_text(w, addr, global);
		wr_str(w, "\r\n");
		wr_fmt(w, "Action: %s\r\n", action == DSN_ACTION_FAILED ?
		    "failed" : action == DSN_ACTION_DELAYED ? "delayed" :
		    "delivered");
		dsn_status(e->error, action, r->rcpts[i].expired, status,
		    sizeof(status));
		wr_fmt(w, "Status: %s\r\n", status);
		if (r->rcpts[i].host != NULL && r->rcpts[i].host[0] != '\0') {
			wr_str(w, "Remote-MTA: dns; ");
			wr_text(w, r->rcpts[i].host, 0);
			wr_str(w, "\r\n");
		}
		if (e->error[0] != '\0') {
			wr_fmt(w, "Diagnostic-Code: %s; ",
			    reply_code(e->error) ? "smtp" : "X-Portcullis");
			wr_text(w, e->error, global);
			wr_str(w, "\r\n");
		}
		if (e->lasttry > 0) {
			dsn_date(e->lasttry, date, sizeof(date));
			wr_fmt(w, "Last-Attempt-Date: %s\r\n", date);
		}
		if (action == DSN_ACTION_DELAYED) {
			dsn_date(r->retry_until, date, sizeof(date));
			wr_fmt(w, "Will-Retry-Until: %s\r\n", date);
		}
	}

	/* 3. The original, or its header. */
	if (res->full) {
		part3 = global ? "message/global" : "message/rfc822";
		cte3 = o->body == BODY_BINARYMIME ? "binary" :
		    sc.eightbit ? "8bit" : NULL;
	} else {
		part3 = global ? "message/global-headers" :
		    "text/rfc822-headers";
		cte3 = sc.eightbit ? "8bit" : NULL;
	}
	wr_fmt(w, "\r\n--%s\r\n", b);
	wr_fmt(w, "Content-Description: %s %s\r\nContent-Type: %s\r\n",
	    action == DSN_ACTION_DELIVERED ? "Delivered" : "Undelivered",
	    res->full ? "Message" : "Message Headers", part3);
	if (cte3 != NULL)
		wr_fmt(w, "Content-Transfer-Encoding: %s\r\n", cte3);
	wr_str(w, "\r\n");
	if (copy_original(w, in, copylen) == -1) {
		saved = errno;
		free(w);
		errno = saved;
		return -1;
	}
	if (!res->full && !sc.hdr_nl)
		wr_str(w, "\r\n");
	wr_fmt(w, "\r\n--%s--\r\n", b);

	if (wr_flush(w) == -1) {
		saved = errno;
		free(w);
		errno = saved;
		return -1;
	}
	res->size = w->total;
	free(w);
	return 0;
}

int
dsn_envelope(const struct dsn_report *r, const struct dsn_result *res,
    struct envelope *e)
{
	const struct envelope	*o = r->orig;

	if (o->sender.flags & MAILADDR_NULL)
		return -1;
	memset(e, 0, sizeof(*e));
	e->msgid = r->dsnid;
	e->idx = 0;
	e->flags = EF_BOUNCE | (res->smtputf8 ? EF_SMTPUTF8 : 0);
	e->sender.flags = MAILADDR_NULL;
	e->rcpt = o->sender;
	e->notify = 0;
	e->ret = DSN_RET_DEFAULT;
	e->body = res->body;
	(void)strlcpy(e->helo, "localhost", sizeof(e->helo));
	(void)strlcpy(e->client, "localhost", sizeof(e->client));
	e->ctime = r->now;
	e->nexttry = r->now;
	return 0;
}
