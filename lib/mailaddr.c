/*
 * Portcullis: mail addresses (RFC 5321 paths, RFC 6531 UTF-8), ESMTP
 * parameters, xtext (RFC 3461) and address patterns.  See mailaddr.h.
 *
 * The parser walks the input once, left to right, with a cursor that
 * never passes the end the caller gave; every buffer it fills is
 * bounded, and every length limit is checked before a byte is copied.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mailaddr.h"

/* Every message the parsers return, with its class. */
enum ma_error {
	E_NOBRACKET,
	E_NOCLOSE,
	E_ANGLE,
	E_EMPTY,
	E_NULLPATH,
	E_NUL,
	E_CRLF,
	E_CTRL,
	E_SPACE,
	E_NODOMAIN,
	E_EMPTYLOCAL,
	E_LOCALDOT1,
	E_LOCALDOT2,
	E_LOCALDOTS,
	E_LOCALCHAR,
	E_QUOTES,
	E_QCHAR,
	E_QPAIR,
	E_BADUTF8,
	E_UTF8,
	E_TWOAT,
	E_EMPTYDOMAIN,
	E_DOMDOT1,
	E_DOMDOT2,
	E_DOMDOTS,
	E_HYPHEN1,
	E_HYPHEN2,
	E_DOMCHAR,
	E_NUMERIC,
	E_FULLSTOP,
	E_SQUARE,
	E_LITCHAR,
	E_IPV4,
	E_IPV6,
	E_GENERAL,
	E_ROUTE,
	E_LOCALLEN,
	E_LABELLEN,
	E_DOMAINLEN,
	E_PATHLEN,
	E_PKEYWORD,
	E_PVALUE,
	E_PEMPTY,
	E_PCHAR,
	E_PDUP,
	E_PCOUNT,
	E_PKEYLEN,
	E_PVALLEN,
	E_MAX
};

static const struct {
	int		 class;
	const char	*msg;
} ma_errors[E_MAX] = {
	[E_NOBRACKET] =	{ MAILADDR_ESYNTAX, "address must be enclosed in <>" },
	[E_NOCLOSE] =	{ MAILADDR_ESYNTAX, "missing '>'" },
	[E_ANGLE] =	{ MAILADDR_ESYNTAX, "unbalanced angle brackets" },
	[E_EMPTY] =	{ MAILADDR_ESYNTAX, "empty address" },
	[E_NULLPATH] =	{ MAILADDR_ESYNTAX, "null path <> not allowed here" },
	[E_NUL] =	{ MAILADDR_ESYNTAX, "NUL byte in address" },
	[E_CRLF] =	{ MAILADDR_ESYNTAX, "CR or LF in address" },
	[E_CTRL] =	{ MAILADDR_ESYNTAX, "control character in address" },
	[E_SPACE] =	{ MAILADDR_ESYNTAX, "space in address" },
	[E_NODOMAIN] =	{ MAILADDR_ESYNTAX, "address has no domain" },
	[E_EMPTYLOCAL] = { MAILADDR_ESYNTAX, "empty local part" },
	[E_LOCALDOT1] =	{ MAILADDR_ESYNTAX, "local part starts with a dot" },
	[E_LOCALDOT2] =	{ MAILADDR_ESYNTAX, "local part ends with a dot" },
	[E_LOCALDOTS] =	{ MAILADDR_ESYNTAX, "consecutive dots in local part" },
	[E_LOCALCHAR] =	{ MAILADDR_ESYNTAX, "invalid character in local part" },
	[E_QUOTES] =	{ MAILADDR_ESYNTAX, "unbalanced quotes" },
	[E_QCHAR] =	{ MAILADDR_ESYNTAX,
			    "invalid character in quoted string" },
	[E_QPAIR] =	{ MAILADDR_ESYNTAX, "invalid quoted pair" },
	[E_BADUTF8] =	{ MAILADDR_ESYNTAX, "invalid UTF-8" },
	[E_UTF8] =	{ MAILADDR_EUTF8,
			    "non-ASCII address without SMTPUTF8" },
	[E_TWOAT] =	{ MAILADDR_ESYNTAX, "more than one '@' outside quotes" },
	[E_EMPTYDOMAIN] = { MAILADDR_ESYNTAX, "empty domain" },
	[E_DOMDOT1] =	{ MAILADDR_ESYNTAX, "domain starts with a dot" },
	[E_DOMDOT2] =	{ MAILADDR_ESYNTAX, "domain ends with a dot" },
	[E_DOMDOTS] =	{ MAILADDR_ESYNTAX, "empty domain label" },
	[E_HYPHEN1] =	{ MAILADDR_ESYNTAX,
			    "domain label starts with a hyphen" },
	[E_HYPHEN2] =	{ MAILADDR_ESYNTAX, "domain label ends with a hyphen" },
	[E_DOMCHAR] =	{ MAILADDR_ESYNTAX, "invalid character in domain" },
	[E_NUMERIC] =	{ MAILADDR_ESYNTAX, "numeric top-level domain "
			    "(write an IP address as [a.b.c.d])" },
	[E_FULLSTOP] =	{ MAILADDR_ESYNTAX, "non-ASCII full stop in domain" },
	[E_SQUARE] =	{ MAILADDR_ESYNTAX, "unbalanced square brackets" },
	[E_LITCHAR] =	{ MAILADDR_ESYNTAX,
			    "invalid character in address literal" },
	[E_IPV4] =	{ MAILADDR_ESYNTAX, "invalid IPv4 address literal" },
	[E_IPV6] =	{ MAILADDR_ESYNTAX, "invalid IPv6 address literal" },
	[E_GENERAL] =	{ MAILADDR_ESYNTAX,
			    "general address literals are not supported" },
	[E_ROUTE] =	{ MAILADDR_ESYNTAX, "invalid source route" },
	[E_LOCALLEN] =	{ MAILADDR_ELENGTH, "local part too long" },
	[E_LABELLEN] =	{ MAILADDR_ELENGTH, "domain label too long" },
	[E_DOMAINLEN] =	{ MAILADDR_ELENGTH, "domain too long" },
	[E_PATHLEN] =	{ MAILADDR_ELENGTH, "path too long" },
	[E_PKEYWORD] =	{ MAILADDR_ESYNTAX, "invalid parameter keyword" },
	[E_PVALUE] =	{ MAILADDR_ESYNTAX, "invalid parameter value" },
	[E_PEMPTY] =	{ MAILADDR_ESYNTAX, "empty parameter value" },
	[E_PCHAR] =	{ MAILADDR_ESYNTAX, "invalid character in parameters" },
	[E_PDUP] =	{ MAILADDR_ESYNTAX, "duplicate parameter" },
	[E_PCOUNT] =	{ MAILADDR_ELENGTH, "too many parameters" },
	[E_PKEYLEN] =	{ MAILADDR_ELENGTH, "parameter keyword too long" },
	[E_PVALLEN] =	{ MAILADDR_ELENGTH, "parameter value too long" },
};

/* The parser's state: a cursor over [p, end) and the first error. */
struct cursor {
	const char	*p;
	const char	*end;
	int		 flags;		/* PARSE_* */
	int		 error;		/* E_*, or -1 */
	int		 utf8;		/* non-ASCII seen */
};

/* A growing string with a hard size; overflow is a length error. */
struct sbuf {
	char	*buf;
	size_t	 size;
	size_t	 len;
};

static int	 fail(struct cursor *, int);
static int	 badchar(struct cursor *, unsigned char, int);
static int	 is_atext(unsigned char);
static int	 is_qtext(unsigned char);
static int	 is_letdig(unsigned char);
static int	 utf8_seqlen(const unsigned char *, size_t);
static int	 sbuf_add(struct sbuf *, const char *, size_t);
static int	 take_utf8(struct cursor *, struct sbuf *, int);
static int	 parse_local(struct cursor *, struct mailaddr *);
static int	 parse_domain(struct cursor *, char *, size_t, int);
static int	 parse_literal(struct cursor *, char *, size_t);
static int	 parse_ipv4(const char *, const char *, uint8_t *);
static int	 hexval(int);
static int	 parse_ipv6(const char *, const char *, uint8_t *);
static int	 format_ipv6(const uint8_t *, char *, size_t);
static int	 is_dotstring(const char *, size_t);
static int	 is_quotedstring(const char *);
static int	 quote_local(const char *, size_t, char *, size_t);
static int	 wire_safe(const char *, size_t, const char *);
static int	 glob_icase(const char *, size_t, const char *);
static int	 lower(int);
static int	 xtext_hex(int);

static int
fail(struct cursor *c, int e)
{
	if (c->error == -1)
		c->error = e;
	return -1;
}

/* An unexpected byte: name the worst thing about it. */
static int
badchar(struct cursor *c, unsigned char ch, int e)
{
	if (ch == '\0')
		return fail(c, E_NUL);
	if (ch == '\r' || ch == '\n')
		return fail(c, E_CRLF);
	if (ch < 0x20 || ch == 0x7f)
		return fail(c, E_CTRL);
	if (ch == ' ')
		return fail(c, E_SPACE);
	return fail(c, e);
}

static int
lower(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A' + 'a';
	return ch;
}

static int
is_letdig(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5321 atext (ASCII). */
static int
is_atext(unsigned char ch)
{
	if (is_letdig(ch))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/* RFC 5321 qtextSMTP (ASCII): %d32-33 / %d35-91 / %d93-126. */
static int
is_qtext(unsigned char ch)
{
	return ch >= 32 && ch <= 126 && ch != '"' && ch != '\\';
}

/*
 * The length of the well-formed UTF-8 sequence of a non-ASCII scalar at
 * s (at most n bytes available), or 0.  Refused: stray continuation
 * bytes, overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED
 * A0-BF), values above U+10FFFF (F4 90-, F5-FF) and the C1 controls
 * U+0080-U+009F (C2 80-9F), which are control characters.
 */
static int
utf8_seqlen(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	int		len, i;

	if (n == 0)
		return 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		if (s[0] == 0xc2)
			lo = 0xa0;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if ((size_t)len > n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static int
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (n >= b->size || b->len > b->size - 1 - n)
		return -1;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

/*
 * The cursor is on a byte >= 0x80: take one UTF-8 scalar into b (when b
 * is not NULL).  lenerr is the error when b is full.
 */
static int
take_utf8(struct cursor *c, struct sbuf *b, int lenerr)
{
	int	n;

	n = utf8_seqlen((const unsigned char *)c->p, c->end - c->p);
	if (n == 0)
		return fail(c, E_BADUTF8);
	if (!(c->flags & PARSE_SMTPUTF8))
		return fail(c, E_UTF8);
	if (b != NULL && sbuf_add(b, c->p, n) == -1)
		return fail(c, lenerr);
	c->p += n;
	c->utf8 = 1;
	return 0;
}

/* A Dot-string of atext (and UTF-8, which the parser already checked). */
static int
is_dotstring(const char *s, size_t len)
{
	size_t	i, atom = 0;
	int	n;

	for (i = 0; i < len; ) {
		if (s[i] == '.') {
			if (atom == 0)
				return 0;
			atom = 0;
			i++;
		} else if ((unsigned char)s[i] >= 0x80) {
			n = utf8_seqlen((const unsigned char *)s + i,
			    len - i);
			if (n == 0)
				return 0;
			i += n;
			atom++;
		} else if (is_atext((unsigned char)s[i])) {
			i++;
			atom++;
		} else
			return 0;
	}
	return atom > 0;
}

/* A Quoted-string, whole, with at least one octet inside. */
static int
is_quotedstring(const char *s)
{
	size_t	len = strlen(s), i;
	int	n;

	if (len < 3 || s[0] != '"' || s[len - 1] != '"')
		return 0;
	for (i = 1; i < len - 1; ) {
		if (s[i] == '\\') {
			if (i + 1 >= len - 1 || s[i + 1] < 32 || s[i + 1] > 126)
				return 0;
			i += 2;
		} else if ((unsigned char)s[i] >= 0x80) {
			n = utf8_seqlen((const unsigned char *)s + i,
			    len - 1 - i);
			if (n == 0)
				return 0;
			i += n;
		} else if (is_qtext((unsigned char)s[i]))
			i++;
		else
			return 0;
	}
	return 1;
}

/*
 * Write text (len octets, no NUL inside) as a Quoted-string: '"' and
 * '\' escaped, nothing else.  -1 when it does not fit in dst.
 */
static int
quote_local(const char *text, size_t len, char *dst, size_t dstsize)
{
	struct sbuf	b = { dst, dstsize, 0 };
	size_t		i;

	if (dstsize == 0)
		return -1;
	dst[0] = '\0';
	if (sbuf_add(&b, "\"", 1) == -1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((text[i] == '"' || text[i] == '\\') &&
		    sbuf_add(&b, "\\", 1) == -1)
			return -1;
		if (sbuf_add(&b, text + i, 1) == -1)
			return -1;
	}
	return sbuf_add(&b, "\"", 1);
}

/*
 * Local-part = Dot-string / Quoted-string, into out->local in canonical
 * form.  Stops on the first byte that is not part of it.
 */
static int
parse_local(struct cursor *c, struct mailaddr *out)
{
	char		 text[MAILADDR_LOCAL_MAX + 1];
	struct sbuf	 b = { text, sizeof(text), 0 };
	const char	*start = c->p;
	unsigned char	 ch;
	size_t		 atom;

	text[0] = '\0';
	if (c->p < c->end && *c->p == '"') {
		c->p++;
		for (;;) {
			if (c->p >= c->end)
				return fail(c, E_QUOTES);
			ch = (unsigned char)*c->p;
			if (ch == '"')
				break;
			if (c->p - start >= MAILADDR_LOCAL_MAX)
				return fail(c, E_LOCALLEN);
			if (ch == '\\') {
				if (c->end - c->p < 2)
					return fail(c, E_QUOTES);
				ch = (unsigned char)c->p[1];
				if (ch < 32 || ch > 126) {
					(void)badchar(c, ch, E_QPAIR);
					return fail(c, E_QPAIR);
				}
				if (sbuf_add(&b, c->p + 1, 1) == -1)
					return fail(c, E_LOCALLEN);
				c->p += 2;
			} else if (ch >= 0x80) {
				if (take_utf8(c, &b, E_LOCALLEN) == -1)
					return -1;
			} else if (is_qtext(ch)) {
				if (sbuf_add(&b, c->p, 1) == -1)
					return fail(c, E_LOCALLEN);
				c->p++;
			} else
				return badchar(c, ch, E_QCHAR);
		}
		c->p++;
		if (c->p - start > MAILADDR_LOCAL_MAX)
			return fail(c, E_LOCALLEN);
		if (b.len == 0)
			return fail(c, E_EMPTYLOCAL);
		out->flags |= MAILADDR_QUOTED;
		if (is_dotstring(text, b.len)) {
			if (strlcpy(out->local, text, sizeof(out->local)) >=
			    sizeof(out->local))
				return fail(c, E_LOCALLEN);
		} else if (quote_local(text, b.len, out->local,
		    sizeof(out->local)) == -1)
			return fail(c, E_LOCALLEN);
		return 0;
	}

	/* Dot-string = Atom *("." Atom) */
	atom = 0;
	for (;;) {
		if (c->p >= c->end)
			break;
		ch = (unsigned char)*c->p;
		if (ch == '.') {
			if (c->p == start)
				return fail(c, E_LOCALDOT1);
			if (atom == 0)
				return fail(c, E_LOCALDOTS);
			atom = 0;
		} else if (ch >= 0x80) {
			if (take_utf8(c, &b, E_LOCALLEN) == -1)
				return -1;
			atom++;
			continue;
		} else if (is_atext(ch))
			atom++;
		else
			break;
		if (sbuf_add(&b, c->p, 1) == -1)
			return fail(c, E_LOCALLEN);
		c->p++;
	}
	if (c->p == start) {
		if (c->p >= c->end || *c->p == '@' || *c->p == '>')
			return fail(c, E_EMPTYLOCAL);
		if (*c->p == '<')
			return fail(c, E_ANGLE);
		return badchar(c, *c->p, E_LOCALCHAR);
	}
	if (atom == 0)
		return fail(c, E_LOCALDOT2);
	if (strlcpy(out->local, text, sizeof(out->local)) >=
	    sizeof(out->local))
		return fail(c, E_LOCALLEN);
	return 0;
}

/*
 * Domain = sub-domain *("." sub-domain), lower-cased into dst, or an
 * address literal when literal_ok.  Stops on the first byte that is not
 * part of it.
 */
static int
parse_domain(struct cursor *c, char *dst, size_t dstsize, int literal_ok)
{
	struct sbuf	 b = { dst, dstsize, 0 };
	const char	*start = c->p, *label;
	unsigned char	 ch;
	char		 lc;
	int		 numeric, last;

	dst[0] = '\0';
	if (c->p >= c->end)
		return fail(c, E_EMPTYDOMAIN);
	if (*c->p == '[') {
		if (!literal_ok)
			return fail(c, E_ROUTE);
		return parse_literal(c, dst, dstsize);
	}
	for (;;) {
		label = c->p;
		numeric = 1;
		last = 0;
		while (c->p < c->end) {
			ch = (unsigned char)*c->p;
			if (ch >= 0x80) {
				if (c->end - c->p >= 3 &&
				    (memcmp(c->p, "\xe3\x80\x82", 3) == 0 ||
				    memcmp(c->p, "\xef\xbc\x8e", 3) == 0 ||
				    memcmp(c->p, "\xef\xbd\xa1", 3) == 0))
					return fail(c, E_FULLSTOP);
				if (take_utf8(c, &b, E_DOMAINLEN) == -1)
					return -1;
				numeric = 0;
				last = 'x';
			} else if (is_letdig(ch) || ch == '-') {
				if (ch == '-' && c->p == label)
					return fail(c, E_HYPHEN1);
				if (!(ch >= '0' && ch <= '9'))
					numeric = 0;
				lc = (char)lower(ch);
				if (sbuf_add(&b, &lc, 1) == -1)
					return fail(c, E_DOMAINLEN);
				c->p++;
				last = ch;
			} else
				break;
			if (c->p - label > MAILADDR_LABEL_MAX)
				return fail(c, E_LABELLEN);
			if (c->p - start > MAILADDR_DOMAIN_MAX)
				return fail(c, E_DOMAINLEN);
		}
		if (c->p == label) {
			if (c->p == start) {
				if (c->p < c->end && *c->p == '.')
					return fail(c, E_DOMDOT1);
				if (c->p >= c->end || *c->p == '>')
					return fail(c, E_EMPTYDOMAIN);
				if (*c->p == '@')
					return fail(c, E_TWOAT);
				return badchar(c, *c->p, E_DOMCHAR);
			}
			if (c->p < c->end && *c->p == '.')
				return fail(c, E_DOMDOTS);
			return fail(c, E_DOMDOT2);
		}
		if (last == '-')
			return fail(c, E_HYPHEN2);
		if (c->p < c->end && *c->p == '.') {
			if (sbuf_add(&b, ".", 1) == -1)
				return fail(c, E_DOMAINLEN);
			c->p++;
			continue;
		}
		break;
	}
	if (c->p - start > MAILADDR_DOMAIN_MAX)
		return fail(c, E_DOMAINLEN);
	if (numeric)
		return fail(c, E_NUMERIC);
	return 0;
}

/* Snum 3("." Snum), exactly [s, e). */
static int
parse_ipv4(const char *s, const char *e, uint8_t *a)
{
	int	i, v, digits;

	for (i = 0; i < 4; i++) {
		if (i > 0) {
			if (s >= e || *s != '.')
				return -1;
			s++;
		}
		v = 0;
		digits = 0;
		while (s < e && *s >= '0' && *s <= '9') {
			if (++digits > 3)
				return -1;
			v = v * 10 + (*s - '0');
			s++;
		}
		if (digits == 0 || v > 255)
			return -1;
		a[i] = (uint8_t)v;
	}
	return s == e ? 0 : -1;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * IPv6-addr of RFC 5321 §4.1.3, exactly [s, e), into a[16]:
 *	IPv6-full   = 8 groups
 *	IPv6-comp   = "::" with at most 6 groups besides it
 *	IPv6v4-full = 6 groups ":" IPv4
 *	IPv6v4-comp = "::" with at most 4 groups besides it and the IPv4
 * so "::" always stands for at least two zero groups.
 */
static int
parse_ipv6(const char *s, const char *e, uint8_t *a)
{
	unsigned int	 g[8];
	const char	*t;
	int		 n = 0, dc = -1, v4 = 0, hex, i, j, v, d;
	uint8_t		 quad[4];

	if (s < e && *s == ':') {
		if (e - s < 2 || s[1] != ':')
			return -1;
		dc = 0;
		s += 2;
	}
	while (s < e) {
		for (t = s; t < e && *t != ':'; t++)
			;
		if (memchr(s, '.', t - s) != NULL) {
			/* The IPv4 tail: last, and two groups' worth. */
			if (t != e || n > 6 || parse_ipv4(s, t, quad) == -1)
				return -1;
			g[n++] = (quad[0] << 8) | quad[1];
			g[n++] = (quad[2] << 8) | quad[3];
			v4 = 1;
			s = t;
			break;
		}
		if (t - s < 1 || t - s > 4 || n >= 8)
			return -1;
		for (v = 0; s < t; s++) {
			if ((d = hexval((unsigned char)*s)) == -1)
				return -1;
			v = (v << 4) | d;
		}
		g[n++] = v;
		if (s == e)
			break;
		s++;			/* ':' */
		if (s < e && *s == ':') {
			if (dc != -1)
				return -1;
			dc = n;
			s++;
		} else if (s == e)
			return -1;	/* a trailing single ':' */
	}
	hex = v4 ? n - 2 : n;
	if (dc == -1) {
		if (n != 8)
			return -1;
	} else if (hex > (v4 ? 4 : 6))
		return -1;
	memset(a, 0, 16);
	for (i = 0; i < (dc == -1 ? n : dc); i++) {
		a[2 * i] = g[i] >> 8;
		a[2 * i + 1] = g[i] & 0xff;
	}
	if (dc != -1)
		for (i = dc, j = 8 - (n - dc); i < n; i++, j++) {
			a[2 * j] = g[i] >> 8;
			a[2 * j + 1] = g[i] & 0xff;
		}
	return 0;
}

/* RFC 5952 text, lower-case hex, the first longest run of >= 2 zero
 * groups as "::", never the dotted IPv4 form. */
static int
format_ipv6(const uint8_t *a, char *dst, size_t dstsize)
{
	static const char	 hexd[] = "0123456789abcdef";
	struct sbuf		 b = { dst, dstsize, 0 };
	unsigned int		 g[8];
	int			 i, best = -1, bestlen = 0, run, k, started;
	char			 digits[4];

	for (i = 0; i < 8; i++)
		g[i] = (a[2 * i] << 8) | a[2 * i + 1];
	for (i = 0; i < 8; i += run ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run >= 2 && run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	dst[0] = '\0';
	for (i = 0; i < 8; i++) {
		if (i == best) {
			if (sbuf_add(&b, "::", 2) == -1)
				return -1;
			i += bestlen - 1;
			continue;
		}
		if (i > 0 && i != best + bestlen && sbuf_add(&b, ":", 1) == -1)
			return -1;
		for (k = 0, started = 0; k < 4; k++) {
			int	nib = (g[i] >> (12 - 4 * k)) & 0xf;

			if (nib == 0 && !started && k < 3)
				continue;
			started = 1;
			digits[0] = hexd[nib];
			if (sbuf_add(&b, digits, 1) == -1)
				return -1;
		}
	}
	return 0;
}

/*
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 * General-address-literal ) "]", the last refused.  Written canonical.
 */
static int
parse_literal(struct cursor *c, char *dst, size_t dstsize)
{
	const char	*open = c->p, *s, *e;
	struct sbuf	 b = { dst, dstsize, 0 };
	uint8_t		 a[16];
	char		 text[64];
	const char	*colon;
	int		 i;

	dst[0] = '\0';
	for (e = open + 1; e < c->end && *e != ']'; e++) {
		/* dcontent = %d33-90 / %d94-126 */
		if (*e == '[' || *e == '\\') {
			c->p = e;
			return fail(c, E_SQUARE);
		}
		if ((unsigned char)*e < 33 || (unsigned char)*e > 126) {
			c->p = e;
			return badchar(c, *e, E_LITCHAR);
		}
		if (e - open > MAILADDR_DOMAIN_MAX)
			return fail(c, E_DOMAINLEN);
	}
	if (e >= c->end)
		return fail(c, E_SQUARE);
	s = open + 1;
	if (e - s >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		if (parse_ipv6(s + 5, e, a) == -1)
			return fail(c, E_IPV6);
		if (format_ipv6(a, text, sizeof(text)) == -1 ||
		    sbuf_add(&b, "[IPv6:", 6) == -1 ||
		    sbuf_add(&b, text, strlen(text)) == -1 ||
		    sbuf_add(&b, "]", 1) == -1)
			return fail(c, E_DOMAINLEN);
	} else if ((colon = memchr(s, ':', e - s)) != NULL) {
		/* Standardized-tag ":" 1*dcontent, or garbage. */
		for (i = 0; s + i < colon; i++)
			if (!is_letdig(s[i]) && s[i] != '-')
				return fail(c, (*s >= '0' && *s <= '9') ?
				    E_IPV4 : E_LITCHAR);
		return fail(c, i > 0 ? E_GENERAL : E_LITCHAR);
	} else {
		if (parse_ipv4(s, e, a) == -1)
			return fail(c, E_IPV4);
		if (sbuf_add(&b, "[", 1) == -1)
			return fail(c, E_DOMAINLEN);
		for (i = 0; i < 4; i++) {
			char	num[4];
			int	v = a[i], k = 0;

			if (v >= 100)
				num[k++] = '0' + v / 100;
			if (v >= 10)
				num[k++] = '0' + v / 10 % 10;
			num[k++] = '0' + v % 10;
			num[k] = '\0';
			if ((i > 0 && sbuf_add(&b, ".", 1) == -1) ||
			    sbuf_add(&b, num, k) == -1)
				return fail(c, E_DOMAINLEN);
		}
		if (sbuf_add(&b, "]", 1) == -1)
			return fail(c, E_DOMAINLEN);
	}
	c->p = e + 1;
	return 0;
}

int
mailaddr_parse_path(const char *s, size_t len, int flags,
    struct mailaddr *out, const char **endp, const char **errp)
{
	struct cursor	 c;
	char		 route[MAILADDR_DOMAIN_MAX + 1];
	const char	*path, *local;
	size_t		 pathlen;
	int		 bracketed = 0;

	memset(out, 0, sizeof(*out));
	c.p = s;
	c.end = s + len;
	c.flags = flags;
	c.error = -1;
	c.utf8 = 0;

	if (flags & PARSE_LENIENT_BRACKETS)
		while (c.p < c.end && *c.p == ' ')
			c.p++;
	path = c.p;
	if (c.p < c.end && *c.p == '<') {
		bracketed = 1;
		c.p++;
	} else if (!(flags & PARSE_LENIENT_BRACKETS)) {
		(void)(c.p < c.end ? badchar(&c, *c.p, E_NOBRACKET) :
		    fail(&c, E_EMPTY));
		goto bad;
	} else if (c.p >= c.end) {
		fail(&c, E_EMPTY);
		goto bad;
	} else if (*c.p == '>') {
		fail(&c, E_ANGLE);
		goto bad;
	}

	if (bracketed && c.p < c.end && *c.p == '>') {
		if (!(flags & PARSE_ALLOW_NULL)) {
			fail(&c, E_NULLPATH);
			goto bad;
		}
		out->flags = MAILADDR_NULL;
		c.p++;
		goto done;
	}

	/* A-d-l ":" : checked, then dropped (RFC 5321 §4.1.1.3, app. C) */
	if (c.p < c.end && *c.p == '@') {
		for (;;) {
			c.p++;
			if (parse_domain(&c, route, sizeof(route), 0) == -1) {
				if (c.error != E_DOMAINLEN &&
				    c.error != E_LABELLEN && c.error != E_NUL &&
				    c.error != E_CRLF && c.error != E_CTRL &&
				    c.error != E_BADUTF8 && c.error != E_UTF8)
					c.error = E_ROUTE;
				goto bad;
			}
			if (c.p < c.end && *c.p == ',') {
				c.p++;
				if (c.p >= c.end || *c.p != '@') {
					fail(&c, E_ROUTE);
					goto bad;
				}
				continue;
			}
			if (c.p < c.end && *c.p == ':') {
				c.p++;
				break;
			}
			fail(&c, E_ROUTE);
			goto bad;
		}
		out->flags |= MAILADDR_ROUTE;
		c.utf8 = 0;	/* MAILADDR_UTF8 describes what is kept */
	}

	if (c.p >= c.end) {
		fail(&c, bracketed ? E_NOCLOSE : E_EMPTY);
		goto bad;
	}
	local = c.p;
	if (parse_local(&c, out) == -1)
		goto bad;
	if (c.p < c.end && *c.p == '@') {
		c.p++;
		if (c.p < c.end && *c.p == '[')
			out->flags |= MAILADDR_LITERAL;
		if (parse_domain(&c, out->domain, sizeof(out->domain),
		    1) == -1)
			goto bad;
	} else if ((flags & PARSE_ALLOW_POSTMASTER) &&
	    !(out->flags & (MAILADDR_ROUTE | MAILADDR_QUOTED)) &&
	    c.p - local == 10 && strncasecmp(local, "postmaster", 10) == 0 &&
	    (bracketed ? (c.p < c.end && *c.p == '>') :
	    (c.p == c.end || *c.p == ' '))) {
		out->flags |= MAILADDR_POSTMASTER;
		(void)strlcpy(out->local, "Postmaster", sizeof(out->local));
	} else {
		if (c.p >= c.end || *c.p == '>' || (!bracketed && *c.p == ' '))
			fail(&c, E_NODOMAIN);
		else if (*c.p == '<')
			fail(&c, E_ANGLE);
		else
			(void)badchar(&c, *c.p, E_LOCALCHAR);
		goto bad;
	}

	/* What ends the path. */
	if (bracketed) {
		if (c.p >= c.end) {
			fail(&c, E_NOCLOSE);
			goto bad;
		}
		if (*c.p != '>') {
			if (*c.p == '@')
				fail(&c, E_TWOAT);
			else if (*c.p == '<')
				fail(&c, E_ANGLE);
			else
				(void)badchar(&c, *c.p, E_DOMCHAR);
			goto bad;
		}
		c.p++;
	} else if (c.p < c.end && *c.p != ' ') {
		if (*c.p == '@')
			fail(&c, E_TWOAT);
		else if (*c.p == '>' || *c.p == '<')
			fail(&c, E_ANGLE);
		else
			(void)badchar(&c, *c.p, E_DOMCHAR);
		goto bad;
	}

 done:
	pathlen = c.p - path;
	if (!bracketed)
		pathlen += 2;
	if (pathlen > MAILADDR_PATH_MAX) {
		fail(&c, E_PATHLEN);
		goto bad;
	}
	if (c.utf8)
		out->flags |= MAILADDR_UTF8;
	if (endp != NULL)
		*endp = c.p;
	if (errp != NULL)
		*errp = NULL;
	return 0;

 bad:
	memset(out, 0, sizeof(*out));
	if (endp != NULL)
		*endp = c.p;
	if (errp != NULL)
		*errp = ma_errors[c.error == -1 ? E_EMPTY : c.error].msg;
	return -1;
}

int
mailaddr_errclass(const char *err)
{
	int	i;

	if (err == NULL)
		return 0;
	for (i = 0; i < E_MAX; i++)
		if (err == ma_errors[i].msg)
			return ma_errors[i].class;
	for (i = 0; i < E_MAX; i++)
		if (strcmp(err, ma_errors[i].msg) == 0)
			return ma_errors[i].class;
	return MAILADDR_ESYNTAX;
}

/*
 * Can these octets go on the wire (inside a Quoted-string, or as a
 * domain when also free of the octets in "bad")?  No controls, no DEL,
 * only well-formed UTF-8, and spaces only where a Quoted-string has them.
 */
static int
wire_safe(const char *s, size_t len, const char *bad)
{
	size_t	i;
	int	n;

	for (i = 0; i < len; ) {
		if ((unsigned char)s[i] >= 0x80) {
			n = utf8_seqlen((const unsigned char *)s + i,
			    len - i);
			if (n == 0)
				return 0;
			i += n;
			continue;
		}
		if ((unsigned char)s[i] < 32 || s[i] == 0x7f ||
		    (*bad != '\0' && (s[i] == ' ' || strchr(bad, s[i]))))
			return 0;
		i++;
	}
	return 1;
}

int
mailaddr_format(const struct mailaddr *a, char *buf, size_t size)
{
	struct sbuf	 b = { buf, size, 0 };
	char		 q[MAILADDR_STRSIZE];
	const char	*local = a->local;
	size_t		 llen, dlen;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	llen = strnlen(a->local, sizeof(a->local));
	dlen = strnlen(a->domain, sizeof(a->domain));
	if (llen == sizeof(a->local) || dlen == sizeof(a->domain))
		return -1;
	if (a->flags & MAILADDR_NULL)
		return 0;
	if (a->flags & MAILADDR_POSTMASTER) {
		if (sbuf_add(&b, "Postmaster", 10) == -1)
			goto toolong;
		return 0;
	}
	if (dlen == 0 || llen == 0 || !wire_safe(a->domain, dlen, "<>@\"\\"))
		return -1;
	if (!is_dotstring(local, llen) && !is_quotedstring(local)) {
		/* Only what a Quoted-string can carry. */
		if (!wire_safe(local, llen, ""))
			return -1;
		if (quote_local(local, llen, q, sizeof(q)) == -1)
			goto toolong;
		local = q;
		llen = strlen(q);
	}
	if (sbuf_add(&b, local, llen) == -1 || sbuf_add(&b, "@", 1) == -1 ||
	    sbuf_add(&b, a->domain, dlen) == -1)
		goto toolong;
	return 0;

 toolong:
	buf[0] = '\0';
	return -1;
}

/*
 * ESMTP parameters.
 */
int
esmtp_params_parse(const char *s, struct esmtp_param *out, size_t max,
    size_t *n, const char **errp)
{
	const char	*kw, *val;
	size_t		 count = 0, kwlen, vallen, i, j;
	int		 e;

	*n = 0;
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		kw = s;
		if (!is_letdig((unsigned char)*s)) {
			e = E_PKEYWORD;
			goto bad_char;
		}
		while (is_letdig((unsigned char)*s) || *s == '-')
			s++;
		kwlen = s - kw;
		val = NULL;
		vallen = 0;
		if (*s == '=') {
			val = ++s;
			while ((unsigned char)*s >= 33 &&
			    (unsigned char)*s <= 126 && *s != '=')
				s++;
			vallen = s - val;
			if (vallen == 0) {
				e = *s == ' ' || *s == '\0' ? E_PEMPTY :
				    E_PVALUE;
				goto bad_char;
			}
			if (*s != ' ' && *s != '\0') {
				e = E_PVALUE;
				goto bad_char;
			}
		} else if (*s != ' ' && *s != '\0') {
			e = E_PKEYWORD;
			goto bad_char;
		}
		if (kwlen >= ESMTP_KEYWORD_MAX) {
			e = E_PKEYLEN;
			goto bad;
		}
		if (vallen >= ESMTP_VALUE_MAX) {
			e = E_PVALLEN;
			goto bad;
		}
		for (i = 0; i < count; i++)
			if (strlen(out[i].keyword) == kwlen &&
			    strncasecmp(out[i].keyword, kw, kwlen) == 0) {
				e = E_PDUP;
				goto bad;
			}
		if (count >= max) {
			e = E_PCOUNT;
			goto bad;
		}
		for (j = 0; j < kwlen; j++)
			out[count].keyword[j] = (kw[j] >= 'a' && kw[j] <= 'z') ?
			    kw[j] - 'a' + 'A' : kw[j];
		out[count].keyword[kwlen] = '\0';
		if (vallen > 0)
			memcpy(out[count].value, val, vallen);
		out[count].value[vallen] = '\0';
		count++;
	}
	*n = count;
	if (errp != NULL)
		*errp = NULL;
	return 0;

 bad_char:
	/* A control or non-ASCII byte is named for what it is. */
	if (*s != '\0' && ((unsigned char)*s < 0x20 ||
	    (unsigned char)*s >= 0x7f))
		e = E_PCHAR;
 bad:
	*n = 0;
	if (errp != NULL)
		*errp = ma_errors[e].msg;
	return -1;
}

/*
 * xtext (RFC 3461 §4).
 */
static int
xtext_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
xtext_decode(const char *in, char *out, size_t outsize)
{
	size_t	len = 0;
	int	hi, lo, ch;

	if (outsize == 0)
		return -1;
	out[0] = '\0';
	while (*in != '\0') {
		ch = (unsigned char)*in;
		if (ch == '+') {
			if ((hi = xtext_hex((unsigned char)in[1])) == -1 ||
			    (lo = xtext_hex((unsigned char)in[2])) == -1)
				goto bad;
			ch = (hi << 4) | lo;
			if (ch == 0)
				goto bad;
			in += 3;
		} else if (ch >= 33 && ch <= 126 && ch != '=')
			in++;
		else
			goto bad;
		if (len >= outsize - 1 || len >= INT_MAX)
			goto bad;
		out[len++] = (char)ch;
	}
	out[len] = '\0';
	return (int)len;

 bad:
	out[0] = '\0';
	return -1;
}

int
xtext_encode(const char *in, char *out, size_t outsize)
{
	static const char	 hexd[] = "0123456789ABCDEF";
	size_t			 len = 0;
	unsigned char		 ch;

	if (outsize == 0)
		return -1;
	out[0] = '\0';
	for (; *in != '\0'; in++) {
		ch = (unsigned char)*in;
		if (ch >= 33 && ch <= 126 && ch != '+' && ch != '=') {
			if (len >= outsize - 1 || len >= INT_MAX)
				goto bad;
			out[len++] = (char)ch;
		} else {
			if (outsize - 1 < 3 || len > outsize - 1 - 3 ||
			    len > INT_MAX - 3)
				goto bad;
			out[len++] = '+';
			out[len++] = hexd[ch >> 4];
			out[len++] = hexd[ch & 0xf];
		}
	}
	out[len] = '\0';
	return (int)len;

 bad:
	out[0] = '\0';
	return -1;
}

/*
 * Patterns.
 */

/*
 * Does the pattern p[0..plen) match the whole string s?  '*' matches
 * any run; everything else one octet, ASCII case-insensitively.  The
 * classic two-pointer walk that backtracks only to the last '*': at most
 * plen * strlen(s) steps.
 */
static int
glob_icase(const char *p, size_t plen, const char *s)
{
	size_t		 pi = 0, star = SIZE_MAX;
	const char	*mark = NULL;

	while (*s != '\0') {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = s;
		} else if (pi < plen && lower((unsigned char)p[pi]) ==
		    lower((unsigned char)*s)) {
			pi++;
			s++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			s = ++mark;
		} else
			return 0;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

int
mailaddr_match(const char *pattern, const struct mailaddr *a)
{
	const char	*at;

	if (pattern == NULL || (at = strrchr(pattern, '@')) == NULL)
		return 0;
	if (at[1] == '\0' || strchr(at + 1, '*') != NULL)
		return 0;
	if (a->flags & (MAILADDR_NULL | MAILADDR_POSTMASTER) ||
	    a->domain[0] == '\0')
		return 0;
	if (!mailaddr_domain_eq(at + 1, a->domain))
		return 0;
	return glob_icase(pattern, at - pattern, a->local);
}

int
mailaddr_domain_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return 0;
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}
