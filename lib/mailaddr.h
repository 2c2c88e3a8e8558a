/*
 * Portcullis: mail addresses (RFC 5321 paths), ESMTP parameters, xtext
 * and address patterns.  Shared by the smtp front end, auth (relay
 * decisions), delivery (rules) and the queue.
 *
 * The parser is strict RFC 5321 (plus RFC 6531 with PARSE_SMTPUTF8) and
 * always yields the REAL destination: a source route is dropped, and
 * the domain is what follows the last '@' outside a quoted string, so
 * "user%other@local", "user!other@local" and "\"user@other\"@local" all
 * have the domain "local"; "user@other@local", a trailing dot
 * ("user@local.") and a numeric top-level label ("user@1.2.3.4") are
 * refused.  Nothing in this file allocates or logs.
 *
 * struct mailaddr, after a successful parse:
 *
 *	local	the local part in canonical form.  A Dot-string is kept as
 *		received (case preserved: local parts are case-sensitive).
 *		A Quoted-string has its quoted-pairs resolved; when the
 *		resulting text is a valid Dot-string it is stored bare
 *		("\"john\"" -> john, "\"j\\ohn\"" -> john), otherwise it is
 *		stored quoted again, with only '"' and '\' escaped
 *		("\"a b\"" stays "\"a b\"", "\"a\\ b\"" -> "\"a b\"").  So
 *		two spellings of one mailbox give the same string, and the
 *		string is valid on the wire as it is.  Never longer than
 *		the local part as received (at most MAILADDR_LOCAL_MAX).
 *		"" for the null path, "Postmaster" for <Postmaster>.
 *	domain	lower-cased (ASCII letters only; U-labels are kept as
 *		received) for matching.  The original case is not kept:
 *		domains are case-insensitive, and what goes back on the
 *		wire or into logs is this form.  An address literal is
 *		canonical: "[1.2.3.4]" (decimal, no leading zeros) or
 *		"[IPv6:2001:db8::1]" (the tag spelled "IPv6", then the
 *		RFC 5952 text in lower-case hex, never the dotted form), so
 *		one address has one spelling.  "" for the null path and
 *		for <Postmaster>.
 *	flags	MAILADDR_* below.
 */
#ifndef PORTCULLIS_MAILADDR_H
#define PORTCULLIS_MAILADDR_H

#include <stddef.h>

/* RFC 5321 §4.5.3.1, in octets. */
#define MAILADDR_LOCAL_MAX	64	/* local part, as received */
#define MAILADDR_DOMAIN_MAX	255	/* domain, as received */
#define MAILADDR_LABEL_MAX	63	/* one domain label */
#define MAILADDR_PATH_MAX	256	/* "<" ... ">", route included */
/* A buffer that holds any mailaddr_format() result, with its NUL. */
#define MAILADDR_STRSIZE	(MAILADDR_LOCAL_MAX + 1 + MAILADDR_DOMAIN_MAX + 1)

/* struct mailaddr flags: facts about the address as received. */
#define MAILADDR_NULL		0x01	/* the null path "<>" */
#define MAILADDR_POSTMASTER	0x02	/* "<Postmaster>", no domain */
#define MAILADDR_LITERAL	0x04	/* domain is an address literal */
#define MAILADDR_QUOTED		0x08	/* local part was a Quoted-string */
#define MAILADDR_ROUTE		0x10	/* a source route was dropped */
#define MAILADDR_UTF8		0x20	/* non-ASCII in local part or domain */

struct mailaddr {
	char	local[MAILADDR_LOCAL_MAX + 1];
	char	domain[MAILADDR_DOMAIN_MAX + 1];
	int	flags;
};

/* mailaddr_parse_path() flags. */
#define PARSE_SMTPUTF8		0x01	/* RFC 6531: UTF-8 local, U-labels */
#define PARSE_ALLOW_NULL	0x02	/* "<>" accepted (MAIL FROM) */
#define PARSE_ALLOW_POSTMASTER	0x04	/* "<Postmaster>" accepted (RCPT TO) */
#define PARSE_LENIENT_BRACKETS	0x08	/* "user@d" without <> accepted */

/*
 * Error classes, from mailaddr_errclass(err), so that the front end
 * can pick its reply:
 *	MAILADDR_ESYNTAX	malformed: "501 5.1.3" (5.1.7 for a sender;
 *				5.5.4 for an ESMTP parameter)
 *	MAILADDR_ELENGTH	an RFC 5321 §4.5.3.1 limit exceeded (or a
 *				buffer of this API): "553 5.1.3" / "5.1.7"
 *				("501 5.5.4" for an ESMTP parameter)
 *	MAILADDR_EUTF8		well-formed UTF-8 in an address without
 *				PARSE_SMTPUTF8: "553 5.6.7" (RFC 6531 §3.6)
 */
#define MAILADDR_ESYNTAX	1
#define MAILADDR_ELENGTH	2
#define MAILADDR_EUTF8		3

/*
 * Parse an RFC 5321 Reverse-path or Forward-path: s[0..len) need not
 * be NUL-terminated and may continue after the path (" SIZE=..."), which
 * is left to the caller at *end.
 *
 * The path starts at s[0] with '<'.  With PARSE_LENIENT_BRACKETS (off
 * by default: a client that omits the brackets is broken, and guessing
 * where its address ends is how relays get tricked), leading spaces are
 * skipped and an address without brackets is accepted up to the next
 * space or the end; its length is counted as if it had the brackets.
 *
 * Accepted: "<>" with PARSE_ALLOW_NULL; "<Postmaster>" (any case, no
 * route) with PARSE_ALLOW_POSTMASTER; a source route "<@a,@b:u@d>"
 * (route domains checked, then dropped: MAILADDR_ROUTE); a Dot-string or
 * a Quoted-string local part; a domain of LDH labels (the top label not
 * all digits) or an IPv4 or IPv6 address literal (general literals are
 * refused).  The empty Quoted-string ("\"\"@d") is refused.  With
 * PARSE_SMTPUTF8, strict UTF-8 (no overlong forms, no surrogates, no C1
 * controls, nothing above U+10FFFF) in the local part and in domain
 * labels; the label limit of 63 then applies to the UTF-8 octets, and
 * the look-alike full stops U+3002, U+FF0E and U+FF61 are refused.
 * NUL, CR, LF, other controls and DEL are refused everywhere.
 *
 * Returns 0 with *out filled and *end just past the '>' (just past the
 * address when it had no brackets).  Returns -1 with *err set to a short
 * human message (a static string, e.g. "domain label too long"), *out
 * zeroed and *end where the parser stopped (for logs only);
 * mailaddr_errclass(*err) gives its class.  end and err may be NULL.
 */
int	 mailaddr_parse_path(const char *, size_t, int, struct mailaddr *,
	    const char **, const char **);

/* The class (MAILADDR_E*) of an error message from this file. */
int	 mailaddr_errclass(const char *);

/*
 * Write the address as it goes between "<" and ">" on the wire (no
 * brackets): "" for the null path, "Postmaster", or local@domain.  The
 * local part is written as it is when it is a valid Dot-string or
 * Quoted-string (always so after mailaddr_parse_path()), and quoted
 * otherwise (for a struct filled by hand).  Returns 0, or -1 when it
 * does not fit (buf is then "") or the struct has no domain.
 * MAILADDR_STRSIZE always suffices.
 */
int	 mailaddr_format(const struct mailaddr *, char *, size_t);

/*
 * ESMTP parameters after a MAIL or RCPT path (RFC 5321 §4.1.2):
 *	esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *	esmtp-value   = 1*(%d33-60 / %d62-126)
 * s is the NUL-terminated rest of the line after the path: "" or
 * " SIZE=123 BODY=8BITMIME".  Parameters are separated by one or more
 * spaces (leading and trailing spaces allowed; tabs are not).  Keywords
 * are case-insensitive and stored upper-cased; a keyword given twice is
 * refused.  Values are kept as received and must be ASCII (the DSN
 * values are xtext; decode them with xtext_decode()).  A keyword without
 * "=value" has value "" (a value is never empty otherwise).  Returns 0
 * with *n parameters in out[0..*n), or -1 with *err set (classes as
 * above): more than max parameters, a keyword longer than
 * ESMTP_KEYWORD_MAX - 1 or a value longer than ESMTP_VALUE_MAX - 1 is
 * an error.
 */
#define ESMTP_KEYWORD_MAX	32
#define ESMTP_VALUE_MAX		512	/* ORCPT may reach 500 (RFC 3461) */

struct esmtp_param {
	char	keyword[ESMTP_KEYWORD_MAX];
	char	value[ESMTP_VALUE_MAX];
};

int	 esmtp_params_parse(const char *, struct esmtp_param *, size_t,
	    size_t *, const char **);

/*
 * xtext (RFC 3461 §4), strict: xchar is %d33-126 except "+" and "=",
 * hexchar is "+" and two UPPER-case hex digits.  xtext_decode() refuses
 * anything else, and "+00" (the result is a C string).  xtext_encode()
 * writes every octet that is not an xchar as +HH.  Both return the
 * length written (without the NUL), or -1 on bad input or when the
 * result (and its NUL) does not fit in the buffer.
 */
int	 xtext_decode(const char *, char *, size_t);
int	 xtext_encode(const char *, char *, size_t);

/*
 * Address patterns for rules and tables: "*@d", "sales*@d", "*ing@d",
 * "a*b*c@d", "user@d".  The pattern splits at its last '@'.  The domain
 * must equal the address's domain, compared case-insensitively (ASCII)
 * and exactly: no wildcard, no suffix match, no trailing-dot folding.
 * The local part is matched against the canonical local part (the form
 * mailaddr_format() writes and the logs show, so "\"a b\"@d" is matched
 * with its quotes), case-insensitively (ASCII); each '*' matches any
 * run of octets, the empty run included.  Returns 1 on a match, 0
 * otherwise -- also for a pattern with no '@', an empty domain or a '*'
 * in the domain, and for the null path and <Postmaster>, which have no
 * domain.
 */
int	 mailaddr_match(const char *, const struct mailaddr *);

/* 1 when two domains are equal, ASCII case-insensitively; 0 otherwise. */
int	 mailaddr_domain_eq(const char *, const char *);

#endif
