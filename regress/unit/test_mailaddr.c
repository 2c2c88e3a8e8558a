/*
 * Portcullis: unit tests for lib/mailaddr.c -- RFC 5321 paths, the
 * address tricks of DESIGN.md §4, literals, length limits, UTF-8, ESMTP
 * parameters, xtext and patterns.  Every successful parse is also
 * formatted, wrapped in <> and parsed again, and must give the same
 * address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"
#include "unit.h"


#define U	PARSE_SMTPUTF8
#define N	PARSE_ALLOW_NULL
#define P	PARSE_ALLOW_POSTMASTER
#define L	PARSE_LENIENT_BRACKETS

#define A_NULL	MAILADDR_NULL
#define A_PM	MAILADDR_POSTMASTER
#define A_LIT	MAILADDR_LITERAL
#define A_Q	MAILADDR_QUOTED
#define A_RT	MAILADDR_ROUTE
#define A_U8	MAILADDR_UTF8

#define SYN	MAILADDR_ESYNTAX
#define LEN	MAILADDR_ELENGTH
#define EU8	MAILADDR_EUTF8

struct path_row {
	const char	*name;
	const char	*input;
	size_t		 len;		/* 0: strlen(input) */
	int		 flags;
	int		 want_rc;
	const char	*want_local;	/* on success */
	const char	*want_domain;
	int		 want_flags;
	int		 want_class;	/* on failure */
	const char	*want_err;
	size_t		 want_tail;	/* bytes left after *end */
};

#define OK(nm, in, fl, lo, dom, af) \
	{ nm, in, 0, fl, 0, lo, dom, af, 0, NULL, 0 }
#define OKT(nm, in, fl, lo, dom, af, tail) \
	{ nm, in, 0, fl, 0, lo, dom, af, 0, NULL, tail }
#define BAD(nm, in, fl, cl, msg) \
	{ nm, in, 0, fl, -1, NULL, NULL, 0, cl, msg, 0 }
#define BADN(nm, in, n, fl, cl, msg) \
	{ nm, in, n, fl, -1, NULL, NULL, 0, cl, msg, 0 }

static const struct path_row path_rows[] = {
	/* The basics. */
	OK("simple", "<user@example.com>", 0, "user", "example.com", 0),
	OK("domain lower-cased, local case kept", "<User@EXAMPLE.Com>", 0,
	    "User", "example.com", 0),
	OK("dots in local part", "<a.b.c@d.example>", 0, "a.b.c",
	    "d.example", 0),
	OK("every atext special", "<!#$%&'*+-/=?^_`{|}~@d.example>", 0,
	    "!#$%&'*+-/=?^_`{|}~", "d.example", 0),
	OK("single-label domain", "<root@localhost>", 0, "root",
	    "localhost", 0),
	OK("numeric label not at the top", "<u@123.example>", 0, "u",
	    "123.example", 0),
	OK("hyphen inside a label", "<u@a-b--c.example>", 0, "u",
	    "a-b--c.example", 0),
	OK("A-label", "<u@xn--bcher-kva.example>", 0, "u",
	    "xn--bcher-kva.example", 0),
	OKT("parameters left to the caller", "<u@d.example> SIZE=10", 0,
	    "u", "d.example", 0, 8),
	OKT("a second '>' left to the caller", "<u@d.example>>", 0, "u",
	    "d.example", 0, 1),

	/* Null path and Postmaster. */
	OK("null path", "<>", N, "", "", A_NULL),
	BAD("null path not allowed", "<>", P, SYN,
	    "null path <> not allowed here"),
	OKT("null path then parameters", "<> BODY=8BITMIME", N, "", "",
	    A_NULL, 14),
	OK("Postmaster", "<Postmaster>", P, "Postmaster", "", A_PM),
	OK("postmaster any case", "<pOSTMASTER>", P, "Postmaster", "",
	    A_PM),
	BAD("Postmaster not allowed", "<Postmaster>", N, SYN,
	    "address has no domain"),
	BAD("Postmaster quoted", "<\"Postmaster\">", P, SYN,
	    "address has no domain"),
	BAD("Postmaster after a route", "<@a.example:Postmaster>", P, SYN,
	    "address has no domain"),
	BAD("Postmaster longer", "<Postmasters>", P, SYN,
	    "address has no domain"),
	OK("postmaster with a domain is an address",
	    "<postmaster@Example.COM>", P, "postmaster", "example.com", 0),

	/* The tricks: each yields the real destination, or is refused. */
	OK("percent hack stays local", "<user%other@local>", 0,
	    "user%other", "local", 0),
	OK("bang path stays local", "<user!other@local>", 0, "user!other",
	    "local", 0),
	BAD("two @", "<user@other@local>", 0, SYN,
	    "more than one '@' outside quotes"),
	OK("quoted @ stays local", "<\"user@other\"@local>", 0,
	    "\"user@other\"", "local", A_Q),
	OK("source route dropped", "<@local:user@other>", 0, "user",
	    "other", A_RT),
	OK("source route of two", "<@a.example,@b.example:user@d.example>",
	    0, "user", "d.example", A_RT),
	OK("quoted percent", "<\"user%other\"@local>", 0, "user%other",
	    "local", A_Q),
	BAD("trailing dot", "<user@local.>", 0, SYN,
	    "domain ends with a dot"),
	BAD("trailing dot, caps", "<USER@LOCAL.>", 0, SYN,
	    "domain ends with a dot"),
	OK("case trick", "<user@LoCaL>", 0, "user", "local", 0),
	BAD("numeric domain", "<user@1.2.3.4>", 0, SYN,
	    "numeric top-level domain (write an IP address as [a.b.c.d])"),
	BAD("numeric single label", "<user@127>", 0, SYN,
	    "numeric top-level domain (write an IP address as [a.b.c.d])"),
	BAD("quoted domain", "<user@\"local\">", 0, SYN,
	    "invalid character in domain"),
	BAD("route without local part", "<@local>", 0, SYN,
	    "invalid source route"),
	BAD("route with empty domain", "<@:user@d>", 0, SYN,
	    "invalid source route"),
	BAD("route missing @", "<@a,b:user@d>", 0, SYN,
	    "invalid source route"),
	BAD("route with a literal", "<@[1.2.3.4]:user@d>", 0, SYN,
	    "invalid source route"),
	BAD("route with trailing dot", "<@a.:user@d>", 0, SYN,
	    "invalid source route"),
	BAD("route then null", "<@a:>", N, SYN, "empty local part"),
	BAD("empty local part", "<@>", 0, SYN, "invalid source route"),
	BAD("@@", "<\"a\"@@d>", 0, SYN, "more than one '@' outside quotes"),

	/* Quoted strings. */
	OK("needless quotes removed", "<\"john\"@d.example>", 0, "john",
	    "d.example", A_Q),
	OK("needless quoted pair removed", "<\"j\\ohn\"@d.example>", 0,
	    "john", "d.example", A_Q),
	OK("quoted dotted atoms", "<\"john.smith\"@d>", 0, "john.smith",
	    "d", A_Q),
	OK("quoted space kept", "<\"john smith\"@d>", 0, "\"john smith\"",
	    "d", A_Q),
	OK("quoted pair space", "<\"john\\ smith\"@d>", 0,
	    "\"john smith\"", "d", A_Q),
	OK("escaped quote", "<\"a\\\"b\"@d>", 0, "\"a\\\"b\"", "d", A_Q),
	OK("escaped backslash", "<\"a\\\\b\"@d>", 0, "\"a\\\\b\"", "d",
	    A_Q),
	OK("quoted double dot", "<\"a..b\"@d>", 0, "\"a..b\"", "d", A_Q),
	OK("quoted leading dot", "<\".a\"@d>", 0, "\".a\"", "d", A_Q),
	OK("quoted angle brackets", "<\"<a>\"@d>", 0, "\"<a>\"", "d", A_Q),
	BAD("unbalanced quotes", "<\"user@d>", 0, SYN, "unbalanced quotes"),
	BAD("unbalanced quotes at end", "<\"user", 0, SYN,
	    "unbalanced quotes"),
	BAD("quoted pair at end", "<\"a\\", 0, SYN, "unbalanced quotes"),
	BAD("empty quoted string", "<\"\"@d>", 0, SYN, "empty local part"),
	BAD("quoted tab", "<\"a\tb\"@d>", 0, SYN,
	    "control character in address"),
	BAD("quoted pair of a tab", "<\"a\\\tb\"@d>", 0, SYN,
	    "control character in address"),
	BAD("quoted CR", "<\"a\rb\"@d>", 0, SYN, "CR or LF in address"),
	BADN("quoted NUL", "<\"a\0b\"@d>", 9, 0, SYN, "NUL byte in address"),
	BAD("text after quotes", "<\"a\"b@d>", 0, SYN,
	    "invalid character in local part"),
	BAD("quotes inside a dot-string", "<a\"b\"@d>", 0, SYN,
	    "invalid character in local part"),

	/* Dot-strings. */
	BAD("leading dot", "<.user@d>", 0, SYN,
	    "local part starts with a dot"),
	BAD("trailing dot in local part", "<user.@d>", 0, SYN,
	    "local part ends with a dot"),
	BAD("double dot", "<us..er@d>", 0, SYN,
	    "consecutive dots in local part"),
	BAD("parenthesis", "<us(er@d>", 0, SYN,
	    "invalid character in local part"),
	BAD("comma", "<us,er@d>", 0, SYN, "invalid character in local part"),
	BAD("space in local part", "<user @d>", 0, SYN, "space in address"),
	BAD("space after <", "< user@d>", 0, SYN, "space in address"),
	BAD("space before >", "<user@d >", 0, SYN, "space in address"),
	BAD("no domain", "<user>", 0, SYN, "address has no domain"),
	BAD("empty domain", "<user@>", 0, SYN, "empty domain"),
	BAD("literal as local part", "<[1.2.3.4]>", 0, SYN,
	    "invalid character in local part"),

	/* Domains. */
	BAD("leading dot in domain", "<user@.local>", 0, SYN,
	    "domain starts with a dot"),
	BAD("empty label", "<user@a..b>", 0, SYN, "empty domain label"),
	BAD("leading hyphen", "<user@-a.example>", 0, SYN,
	    "domain label starts with a hyphen"),
	BAD("trailing hyphen", "<user@a-.example>", 0, SYN,
	    "domain label ends with a hyphen"),
	BAD("trailing hyphen, top", "<user@a.example->", 0, SYN,
	    "domain label ends with a hyphen"),
	BAD("underscore", "<user@a_b.example>", 0, SYN,
	    "invalid character in domain"),
	BAD("slash in domain", "<user@a/b>", 0, SYN,
	    "invalid character in domain"),

	/* Controls everywhere. */
	BAD("CR in local part", "<us\rer@d>", 0, SYN, "CR or LF in address"),
	BAD("LF after domain", "<user@d\n>", 0, SYN, "CR or LF in address"),
	BAD("SOH", "<us\001er@d>", 0, SYN, "control character in address"),
	BAD("DEL", "<us\177er@d>", 0, SYN, "control character in address"),
	BAD("tab in domain", "<user@d\t.example>", 0, SYN,
	    "control character in address"),
	BADN("NUL in local part", "<us\0er@d>", 9, 0, SYN,
	    "NUL byte in address"),
	BADN("NUL in domain", "<user@d\0x>", 10, 0, SYN,
	    "NUL byte in address"),
	BADN("NUL after <", "<\0>", 3, N, SYN, "NUL byte in address"),
	BADN("NUL first", "\0<u@d>", 6, L, SYN, "NUL byte in address"),

	/* Brackets. */
	BAD("no brackets", "user@d.example", 0, SYN,
	    "address must be enclosed in <>"),
	OK("no brackets, lenient", "user@d.example", L, "user", "d.example",
	    0),
	OKT("lenient stops at a space", "  user@d.example SIZE=1", L, "user",
	    "d.example", 0, 7),
	OK("lenient still takes brackets", "<user@d.example>", L, "user",
	    "d.example", 0),
	OK("lenient Postmaster", "Postmaster", L | P, "Postmaster", "",
	    A_PM),
	BAD("lenient no domain", "user", L, SYN, "address has no domain"),
	BAD("lenient empty", "", L, SYN, "empty address"),
	BAD("lenient spaces only", "   ", L, SYN, "empty address"),
	BAD("lenient stray >", "user@d.example>", L, SYN,
	    "unbalanced angle brackets"),
	BAD("lenient stray > first", ">", L, SYN,
	    "unbalanced angle brackets"),
	BAD("lenient two @", "user@other@local", L, SYN,
	    "more than one '@' outside quotes"),
	BAD("missing >", "<user@d.example", 0, SYN, "missing '>'"),
	BAD("lone <", "<", 0, SYN, "missing '>'"),
	BAD("empty input", "", 0, SYN, "empty address"),
	BAD("double <", "<<user@d>>", 0, SYN, "unbalanced angle brackets"),
	BAD("< inside", "<user<@d>", 0, SYN, "unbalanced angle brackets"),
	BAD("< after domain", "<user@d<>", 0, SYN,
	    "unbalanced angle brackets"),
	BAD("leading space, strict", " <user@d>", 0, SYN,
	    "space in address"),

	/* IPv4 literals. */
	OK("IPv4 literal", "<user@[1.2.3.4]>", 0, "user", "[1.2.3.4]",
	    A_LIT),
	OK("IPv4 leading zeros canonical", "<user@[001.002.003.004]>", 0,
	    "user", "[1.2.3.4]", A_LIT),
	OK("IPv4 limits", "<user@[255.0.255.0]>", 0, "user",
	    "[255.0.255.0]", A_LIT),
	BAD("IPv4 octet 300", "<user@[300.1.1.1]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 octet 256", "<user@[1.1.1.256]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 four digits", "<user@[0001.1.1.1]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 three parts", "<user@[1.2.3]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 five parts", "<user@[1.2.3.4.5]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 trailing dot", "<user@[1.2.3.4.]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 empty part", "<user@[1..3.4]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 with port", "<user@[1.2.3.4:25]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("IPv4 hex", "<user@[0x7f.0.0.1]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("empty literal", "<user@[]>", 0, SYN,
	    "invalid IPv4 address literal"),
	BAD("literal not closed", "<user@[1.2.3.4>", 0, SYN,
	    "unbalanced square brackets"),
	BAD("literal not closed at end", "<user@[1.2.3.4", 0, SYN,
	    "unbalanced square brackets"),
	BAD("nested [", "<user@[1.[2.3.4]>", 0, SYN,
	    "unbalanced square brackets"),
	BAD("space in literal", "<user@[1.2.3.4 ]>", 0, SYN,
	    "space in address"),
	BAD("text after literal", "<user@[1.2.3.4]x>", 0, SYN,
	    "invalid character in domain"),
	BAD("general literal", "<user@[x-tag:stuff]>", 0, SYN,
	    "general address literals are not supported"),
	BAD("literal with a colon first", "<user@[:1]>", 0, SYN,
	    "invalid character in address literal"),

	/* IPv6 literals, RFC 5321 §4.1.3. */
	OK("IPv6 loopback", "<u@[IPv6:::1]>", 0, "u", "[IPv6:::1]", A_LIT),
	OK("IPv6 tag any case", "<u@[ipv6:::1]>", 0, "u", "[IPv6:::1]",
	    A_LIT),
	OK("IPv6 hex lower-cased", "<u@[IPv6:2001:DB8::A]>", 0, "u",
	    "[IPv6:2001:db8::a]", A_LIT),
	OK("IPv6 full", "<u@[IPv6:1:2:3:4:5:6:7:8]>", 0, "u",
	    "[IPv6:1:2:3:4:5:6:7:8]", A_LIT),
	OK("IPv6 full with zeros compressed",
	    "<u@[IPv6:2001:0db8:0000:0000:0000:0000:0000:0001]>", 0, "u",
	    "[IPv6:2001:db8::1]", A_LIT),
	OK("IPv6 unspecified", "<u@[IPv6:::]>", 0, "u", "[IPv6:::]", A_LIT),
	OK("IPv6 :: at the end", "<u@[IPv6:1:2:3:4:5:6::]>", 0, "u",
	    "[IPv6:1:2:3:4:5:6::]", A_LIT),
	OK("IPv6 6 groups around ::", "<u@[IPv6:1::2:3:4:5:6]>", 0, "u",
	    "[IPv6:1::2:3:4:5:6]", A_LIT),
	OK("IPv6 single zero group not compressed",
	    "<u@[IPv6:1:0:2:3:4:5:6:7]>", 0, "u",
	    "[IPv6:1:0:2:3:4:5:6:7]", A_LIT),
	OK("IPv6 longest zero run", "<u@[IPv6:0:0:1:0:0:0:1:0]>", 0, "u",
	    "[IPv6:0:0:1::1:0]", A_LIT),
	OK("IPv6 first of equal runs", "<u@[IPv6:1:0:0:2:0:0:3:4]>", 0, "u",
	    "[IPv6:1::2:0:0:3:4]", A_LIT),
	BAD("IPv6 :: for one group", "<u@[IPv6:1::2:3:4:5:6:7]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 7 groups and :: at the end", "<u@[IPv6:1:2:3:4:5:6:7::]>",
	    0, SYN, "invalid IPv6 address literal"),
	BAD("IPv6 7 groups", "<u@[IPv6:1:2:3:4:5:6:7]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 9 groups", "<u@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 two ::", "<u@[IPv6:1::2::3]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 five hex digits", "<u@[IPv6:12345::1]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 leading single colon", "<u@[IPv6::1]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 trailing single colon", "<u@[IPv6:1:]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 empty", "<u@[IPv6:]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 :::", "<u@[IPv6::::1]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 not hex", "<u@[IPv6:g::1]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 zone", "<u@[IPv6:fe80::1%eth0]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6 without the tag", "<u@[::1]>", 0, SYN,
	    "invalid character in address literal"),
	BAD("IPv6 without the tag, full", "<u@[1:2:3:4:5:6:7:8]>", 0, SYN,
	    "general address literals are not supported"),
	OK("IPv4-mapped", "<u@[IPv6:::ffff:1.2.3.4]>", 0, "u",
	    "[IPv6:::ffff:102:304]", A_LIT),
	OK("IPv4-mapped, full form", "<u@[IPv6:0:0:0:0:0:ffff:1.2.3.4]>", 0,
	    "u", "[IPv6:::ffff:102:304]", A_LIT),
	OK("IPv4-compatible", "<u@[IPv6:::1.2.3.4]>", 0, "u",
	    "[IPv6:::102:304]", A_LIT),
	OK("IPv6v4-comp 4 groups", "<u@[IPv6:1:2:3:4::1.2.3.4]>", 0, "u",
	    "[IPv6:1:2:3:4::102:304]", A_LIT),
	BAD("IPv6v4-comp 5 groups", "<u@[IPv6:1:2:3:4:5::1.2.3.4]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6v4 mapped, one colon", "<u@[IPv6::ffff:1.2.3.4]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6v4-full 5 groups", "<u@[IPv6:0:0:0:0:ffff:1.2.3.4]>", 0,
	    SYN, "invalid IPv6 address literal"),
	BAD("IPv6v4 not last", "<u@[IPv6:::1.2.3.4:1]>", 0, SYN,
	    "invalid IPv6 address literal"),
	BAD("IPv6v4 bad octet", "<u@[IPv6:::ffff:1.2.3.256]>", 0, SYN,
	    "invalid IPv6 address literal"),

	/* UTF-8. */
	BAD("UTF-8 local part without SMTPUTF8", "<j\xc3\xb6ran@d.example>",
	    0, EU8, "non-ASCII address without SMTPUTF8"),
	OK("UTF-8 local part", "<j\xc3\xb6ran@d.example>", U,
	    "j\xc3\xb6ran", "d.example", A_U8),
	BAD("U-label without SMTPUTF8", "<u@b\xc3\xbc" "cher.example>", 0,
	    EU8, "non-ASCII address without SMTPUTF8"),
	OK("U-label", "<u@b\xc3\xbc" "cher.Example>", U, "u",
	    "b\xc3\xbc" "cher.example", A_U8),
	OK("U-label: only ASCII lower-cased", "<u@B\xc3\x9c" "CHER.example>",
	    U, "u", "b\xc3\x9c" "cher.example", A_U8),
	OK("4-byte scalar", "<\xf0\x9f\x98\x80@d.example>", U,
	    "\xf0\x9f\x98\x80", "d.example", A_U8),
	OK("U+10FFFF", "<\xf4\x8f\xbf\xbf@d.example>", U,
	    "\xf4\x8f\xbf\xbf", "d.example", A_U8),
	OK("UTF-8 in a quoted string", "<\"j\xc3\xb6 r\"@d>", U,
	    "\"j\xc3\xb6 r\"", "d", A_Q | A_U8),
	BAD("overlong slash", "<a\xc0\xaf" "b@d>", U, SYN, "invalid UTF-8"),
	BAD("overlong slash without SMTPUTF8", "<a\xc0\xaf" "b@d>", 0, SYN,
	    "invalid UTF-8"),
	BAD("overlong 3-byte", "<a\xe0\x80\xaf" "b@d>", U, SYN,
	    "invalid UTF-8"),
	BAD("overlong 4-byte", "<a\xf0\x80\x80\xaf" "b@d>", U, SYN,
	    "invalid UTF-8"),
	BAD("surrogate", "<a\xed\xa0\x80" "b@d>", U, SYN, "invalid UTF-8"),
	BAD("above U+10FFFF", "<a\xf4\x90\x80\x80" "b@d>", U, SYN,
	    "invalid UTF-8"),
	BAD("F5 lead byte", "<a\xf5\x80\x80\x80" "b@d>", U, SYN,
	    "invalid UTF-8"),
	BAD("lone continuation", "<a\x80" "b@d>", U, SYN, "invalid UTF-8"),
	BAD("truncated sequence", "<a\xc3@d>", U, SYN, "invalid UTF-8"),
	BAD("truncated at the end", "<a\xe2\x82", U, SYN, "invalid UTF-8"),
	BAD("C1 control NEL", "<a\xc2\x85" "b@d>", U, SYN, "invalid UTF-8"),
	BAD("FF byte", "<a\xff" "b@d>", U, SYN, "invalid UTF-8"),
	BAD("invalid UTF-8 in a domain", "<u@b\xfc" "cher.example>", U, SYN,
	    "invalid UTF-8"),
	BAD("ideographic full stop", "<u@local\xe3\x80\x82" "com>", U, SYN,
	    "non-ASCII full stop in domain"),
	BAD("fullwidth full stop", "<u@local\xef\xbc\x8e" "com>", U, SYN,
	    "non-ASCII full stop in domain"),
	BAD("halfwidth full stop", "<u@local\xef\xbd\xa1" "com>", U, SYN,
	    "non-ASCII full stop in domain"),
	OK("UTF-8 only in the dropped route", "<@a.b\xc3\xa9:u@d.example>",
	    U, "u", "d.example", A_RT),
	BAD("UTF-8 in the route without SMTPUTF8",
	    "<@a.b\xc3\xa9:u@d.example>", 0, EU8,
	    "non-ASCII address without SMTPUTF8"),
	BAD("UTF-8 in a quoted pair", "<\"a\\\xc3\xb6\"@d>", U, SYN,
	    "invalid quoted pair"),
	BAD("UTF-8 in a literal", "<u@[1.2.3.\xc3\xb6]>", U, SYN,
	    "invalid character in address literal"),
};

/* Parse; compare; on success format, reparse and compare again. */
static void
check_path(const char *input, size_t len, int flags, int want_rc,
    const char *want_local, const char *want_domain, int want_flags,
    int want_class, const char *want_err, size_t want_tail)
{
	struct mailaddr	 a, b;
	const char	*end = NULL, *err = NULL, *end2, *err2;
	char		 text[MAILADDR_STRSIZE], wire[MAILADDR_STRSIZE + 2];
	int		 rc, rc2;

	rc = mailaddr_parse_path(input, len, flags, &a, &end, &err);
	CHECK(rc == want_rc, "rc: got %d (%s) want %d", rc,
	    err ? err : "no error", want_rc);
	if (rc != want_rc)
		return;
	if (rc == -1) {
		CHECK(err != NULL, "got no error message");
		if (err == NULL)
			return;
		if (want_err != NULL)
			CHECK_STR(err, want_err);
		CHECK(mailaddr_errclass(err) == want_class,
		    "class: got %d want %d (%s)", mailaddr_errclass(err),
		    want_class, err);
		CHECK(a.local[0] == '\0' && a.domain[0] == '\0' &&
		    a.flags == 0, "got a non-empty struct on failure");
		return;
	}
	CHECK(err == NULL, "got error \"%s\" on success", err);
	CHECK_STR(a.local, want_local);
	CHECK_STR(a.domain, want_domain);
	CHECK(a.flags == want_flags, "flags: got %#x want %#x", a.flags,
	    want_flags);
	CHECK(end != NULL && end >= input && end <= input + len &&
	    (size_t)(input + len - end) == want_tail,
	    "end: got %td bytes left want %zu", end ? input + len - end : -1,
	    want_tail);

	/* Back to the wire and again: the same address. */
	rc = mailaddr_format(&a, text, sizeof(text));
	CHECK(rc == 0, "format: got %d want 0", rc);
	(void)snprintf(wire, sizeof(wire), "<%s>", text);
	rc2 = mailaddr_parse_path(wire, strlen(wire),
	    flags & ~PARSE_LENIENT_BRACKETS, &b, &end2, &err2);
	CHECK(rc2 == 0, "reparse of %s: got %d (%s) want 0", wire, rc2,
	    err2 ? err2 : "");
	if (rc2 != 0)
		return;
	CHECK_STR(b.local, a.local);
	CHECK_STR(b.domain, a.domain);
	CHECK((b.flags & ~(MAILADDR_ROUTE | MAILADDR_QUOTED)) ==
	    (a.flags & ~(MAILADDR_ROUTE | MAILADDR_QUOTED)),
	    "reparse flags: got %#x want %#x", b.flags, a.flags);
	/* A pattern that is the address itself matches it. */
	if (!(a.flags & (MAILADDR_NULL | MAILADDR_POSTMASTER)))
		CHECK(mailaddr_match(text, &a) == 1,
		    "self-match of %s: got 0 want 1", text);
}

static const struct path_row *cur_path;

static void
test_path(void)
{
	const struct path_row	*r = cur_path;

	check_path(r->input, r->len ? r->len : strlen(r->input), r->flags,
	    r->want_rc, r->want_local, r->want_domain, r->want_flags,
	    r->want_class, r->want_err, r->want_tail);
}

/* A run of n copies of ch, into a static buffer. */
static const char *
rep(char ch, size_t n)
{
	static char	buf[4][1024];
	static int	which;
	char		*b = buf[which++ % 4];

	if (n >= sizeof(buf[0]))
		n = sizeof(buf[0]) - 1;
	memset(b, ch, n);
	b[n] = '\0';
	return b;
}

/* n labels "aaa...a." of w letters, the last without the dot. */
static const char *
labels(size_t n, size_t w)
{
	static char	buf[1024];
	size_t		i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off + w + 1 < sizeof(buf); i++) {
		memset(buf + off, 'a' + (int)(i % 26), w);
		off += w;
		if (i + 1 < n)
			buf[off++] = '.';
	}
	buf[off] = '\0';
	return buf;
}

struct len_row {
	const char	*name;
	char		 input[1100];
	int		 flags;
	int		 want_rc;
	const char	*want_err;
	int		 want_flags;
	char		 want_local[80];
	char		 want_domain[300];
};

static struct len_row	 len_rows[24];
static size_t		 nlen_rows;
static const struct len_row *cur_len;

static void
add_len(const char *name, int flags, int want_rc, const char *want_err,
    const char *local, const char *domain)
{
	struct len_row	*r;

	if (nlen_rows >= sizeof(len_rows) / sizeof(len_rows[0]))
		abort();
	r = &len_rows[nlen_rows++];
	r->name = name;
	r->flags = flags;
	r->want_rc = want_rc;
	r->want_err = want_err;
	r->want_flags = (local[0] == '"' ? MAILADDR_QUOTED : 0) |
	    ((unsigned char)local[0] >= 0x80 ? MAILADDR_UTF8 : 0);
	(void)snprintf(r->input, sizeof(r->input), "<%s@%s>", local, domain);
	(void)snprintf(r->want_local, sizeof(r->want_local), "%s", local);
	(void)snprintf(r->want_domain, sizeof(r->want_domain), "%s", domain);
}

static void
make_len_rows(void)
{
	static char	q64[80], q65[80], qp[80], u64[80], u66[100];
	static char	d[300];

	add_len("local part of 64", 0, 0, NULL, rep('l', 64), "d");
	add_len("local part of 65", 0, -1, "local part too long",
	    rep('l', 65), "d");
	/* A space inside keeps it quoted: 1 + 62 + 1 octets. */
	(void)snprintf(q64, sizeof(q64), "\"%s \"", rep('a', 61));
	add_len("quoted local part of 64 with quotes", 0, 0, NULL, q64, "d");
	(void)snprintf(q65, sizeof(q65), "\"%s \"", rep('a', 62));
	add_len("quoted local part of 65 with quotes", 0, -1,
	    "local part too long", q65, "d");
	(void)snprintf(qp, sizeof(qp), "\"%s\\\"\"", rep('a', 60));
	add_len("quoted local part of 64 with a quoted pair", 0, 0, NULL, qp,
	    "d");
	/* 32 two-octet scalars: 64 octets; one more is 66. */
	u64[0] = '\0';
	while (strlen(u64) < 64)
		(void)strlcat(u64, "\xc3\xa9", sizeof(u64));
	add_len("UTF-8 local part of 64 octets", U, 0, NULL, u64, "d");
	(void)snprintf(u66, sizeof(u66), "%s\xc3\xa9", u64);
	add_len("UTF-8 local part of 66 octets", U, -1,
	    "local part too long", u66, "d");

	add_len("label of 63", 0, 0, NULL, "u", labels(1, 63));
	add_len("label of 64", 0, -1, "domain label too long", "u",
	    labels(1, 64));
	(void)snprintf(d, sizeof(d), "a.%s.example", rep('m', 63));
	add_len("label of 63 in the middle", 0, 0, NULL, "u", d);
	(void)snprintf(d, sizeof(d), "a.%s.example", rep('m', 64));
	add_len("label of 64 in the middle", 0, -1, "domain label too long",
	    "u", d);

	/*
	 * "<u@" D ">" is |D| + 4 octets: a path of 256 holds a domain of
	 * 252, so the domain limit of 255 shows only beyond the path's.
	 * labels(3, 63) is 191 octets.
	 */
	(void)snprintf(d, sizeof(d), "%s.%s", labels(3, 63), rep('x', 60));
	add_len("path of 256", 0, 0, NULL, "u", d);
	(void)snprintf(d, sizeof(d), "%s.%s", labels(3, 63), rep('x', 61));
	add_len("path of 257", 0, -1, "path too long", "u", d);
	(void)snprintf(d, sizeof(d), "%s.%s.b", labels(3, 63),
	    rep('x', 62));
	add_len("domain of 256", 0, -1, "domain too long", "u", d);
	(void)snprintf(d, sizeof(d), "%s.%s", labels(3, 63), rep('x', 63));
	add_len("domain of 255: path too long", 0, -1, "path too long", "u",
	    d);
	/* 1 + 64 + 1 + 189 + 1 = 256 */
	add_len("local part of 64 and path of 256", 0, 0, NULL, rep('l', 64),
	    labels(3, 63) + 2);
	add_len("local part of 64 and path of 257", 0, -1, "path too long",
	    rep('l', 64), labels(3, 63) + 1);
}

static void
test_length(void)
{
	const struct len_row	*r = cur_len;
	size_t			 len = strlen(r->input);

	check_path(r->input, len, r->flags, r->want_rc,
	    r->want_local, r->want_domain, r->want_flags,
	    r->want_rc == 0 ? 0 : MAILADDR_ELENGTH, r->want_err, 0);
}

/* The path limit also holds for a route and for lenient paths. */
static void
test_length_route(void)
{
	char			 in[600], dom[300];
	struct mailaddr		 a;
	const char		*err;
	int			 rc;

	/* "<@" R ":u@d>" = |R| + 7 octets. */
	(void)snprintf(dom, sizeof(dom), "%s.%s", labels(3, 63),
	    rep('r', 57));			/* 249 */
	(void)snprintf(in, sizeof(in), "<@%s:u@d>", dom);
	rc = mailaddr_parse_path(in, strlen(in), 0, &a, NULL, &err);
	CHECK(rc == 0 && strcmp(a.domain, "d") == 0,
	    "route path of %zu: got %d (%s) want 0", strlen(in), rc,
	    rc ? err : "");
	(void)snprintf(dom, sizeof(dom), "%s.%s", labels(3, 63),
	    rep('r', 58));			/* 250 */
	(void)snprintf(in, sizeof(in), "<@%s:u@d>", dom);
	rc = mailaddr_parse_path(in, strlen(in), 0, &a, NULL, &err);
	CHECK(rc == -1 && mailaddr_errclass(err) == MAILADDR_ELENGTH,
	    "route path of %zu: got %d want -1, ELENGTH", strlen(in), rc);

	/* Lenient: counted as if bracketed. */
	(void)snprintf(dom, sizeof(dom), "%s.%s", labels(3, 63),
	    rep('x', 60));			/* 252 */
	(void)snprintf(in, sizeof(in), "u@%s", dom);
	rc = mailaddr_parse_path(in, strlen(in), L, &a, NULL, &err);
	CHECK(rc == 0, "lenient path of 256: got %d want 0", rc);
	(void)snprintf(in, sizeof(in), "u@%sx", dom);
	rc = mailaddr_parse_path(in, strlen(in), L, &a, NULL, &err);
	CHECK(rc == -1 && mailaddr_errclass(err) == MAILADDR_ELENGTH,
	    "lenient path of 257: got %d want -1, ELENGTH", rc);
}

/* The parser reads no byte past len. */
static void
test_bounds(void)
{
	const char	*in = "<user@d.example>";
	size_t		 i, len = strlen(in);
	char		*copy;
	struct mailaddr	 a;
	const char	*end, *err;
	int		 rc, flags;

	for (flags = 0; flags < 16; flags++)
		for (i = 0; i < len; i++) {
			if ((copy = malloc(i ? i : 1)) == NULL)
				abort();
			memcpy(copy, in, i);
			rc = mailaddr_parse_path(copy, i, flags, &a, &end,
			    &err);
			CHECK(rc == -1 || (flags & L) || i == len,
			    "prefix of %zu: got %d want -1", i, rc);
			CHECK(end >= copy && end <= copy + i,
			    "prefix of %zu: end out of bounds", i);
			free(copy);
		}
}

/* A NULL end and err are fine; err is cleared on success. */
static void
test_null_outputs(void)
{
	struct mailaddr	 a;
	const char	*err = "stale";

	CHECK(mailaddr_parse_path("<u@d>", 5, 0, &a, NULL, NULL) == 0,
	    "got -1 want 0");
	CHECK(mailaddr_parse_path("<u@>", 4, 0, &a, NULL, NULL) == -1,
	    "got 0 want -1");
	CHECK(mailaddr_parse_path("<u@d>", 5, 0, &a, NULL, &err) == 0 &&
	    err == NULL, "err: got %s want NULL", err ? err : "NULL");
	CHECK(mailaddr_errclass(NULL) == 0, "class of NULL: got %d want 0",
	    mailaddr_errclass(NULL));
	CHECK(mailaddr_errclass("domain label too long") ==
	    MAILADDR_ELENGTH, "class of a copied message: got %d want %d",
	    mailaddr_errclass("domain label too long"), MAILADDR_ELENGTH);
}

/*
 * mailaddr_format() of structs filled by hand.
 */
struct fmt_row {
	const char	*name;
	const char	*local;
	const char	*domain;
	int		 flags;
	size_t		 size;
	int		 want_rc;
	const char	*want;
};

static const struct fmt_row fmt_rows[] = {
	{ "dot-string", "john.smith", "d.example", 0, 300, 0,
	    "john.smith@d.example" },
	{ "canonical quoted kept", "\"a b\"", "d", A_Q, 300, 0,
	    "\"a b\"@d" },
	{ "space quoted", "a b", "d", 0, 300, 0, "\"a b\"@d" },
	{ "quote escaped", "a\"b", "d", 0, 300, 0, "\"a\\\"b\"@d" },
	{ "backslash escaped", "a\\b", "d", 0, 300, 0, "\"a\\\\b\"@d" },
	{ "at sign quoted", "user@other", "local", 0, 300, 0,
	    "\"user@other\"@local" },
	{ "double dot quoted", "a..b", "d", 0, 300, 0, "\"a..b\"@d" },
	{ "null path", "", "", A_NULL, 300, 0, "" },
	{ "Postmaster", "Postmaster", "", A_PM, 300, 0, "Postmaster" },
	{ "exact fit", "ab", "cd", 0, 6, 0, "ab@cd" },
	{ "one short", "ab", "cd", 0, 5, -1, "" },
	{ "no room for Postmaster", "Postmaster", "", A_PM, 10, -1, "" },
	{ "no domain", "user", "", 0, 300, -1, "" },
	{ "no local part", "", "d", 0, 300, -1, "" },
	{ "control in local part", "a\rb", "d", 0, 300, -1, "" },
	{ "invalid UTF-8 in local part", "a\xc0\xaf" "b", "d", 0, 300, -1,
	    "" },
	{ "UTF-8 quoted", "a \xc3\xa9", "d", 0, 300, 0,
	    "\"a \xc3\xa9\"@d" },
	{ "space in domain", "a", "d e", 0, 300, -1, "" },
	{ "> in domain", "a", "d>", 0, 300, -1, "" },
	{ "@ in domain", "a", "b@d", 0, 300, -1, "" },
};

static const struct fmt_row *cur_fmt;

static void
test_format(void)
{
	const struct fmt_row	*r = cur_fmt;
	struct mailaddr		 a;
	char			 buf[300];
	int			 rc;

	memset(&a, 0, sizeof(a));
	(void)strlcpy(a.local, r->local, sizeof(a.local));
	(void)strlcpy(a.domain, r->domain, sizeof(a.domain));
	a.flags = r->flags;
	memset(buf, 'X', sizeof(buf));
	rc = mailaddr_format(&a, buf, r->size);
	CHECK(rc == r->want_rc, "rc: got %d want %d", rc, r->want_rc);
	CHECK_STR(buf, r->want);
}

/* A local part that is not NUL-terminated is refused, not overread. */
static void
test_format_unterminated(void)
{
	struct mailaddr	 a;
	char		 buf[MAILADDR_STRSIZE];

	memset(&a, 'a', sizeof(a));
	a.flags = 0;
	CHECK(mailaddr_format(&a, buf, sizeof(buf)) == -1,
	    "got 0 want -1");
	CHECK(mailaddr_format(&a, buf, 0) == -1, "size 0: got 0 want -1");
}

/*
 * ESMTP parameters.
 */
struct param_row {
	const char	*name;
	const char	*input;
	size_t		 max;
	int		 want_rc;
	size_t		 want_n;
	const char	*want[8][2];
	int		 want_class;
	const char	*want_err;
};

static const struct param_row param_rows[] = {
	{ "none", "", 8, 0, 0, { { NULL } }, 0, NULL },
	{ "spaces only", "   ", 8, 0, 0, { { NULL } }, 0, NULL },
	{ "two", " SIZE=123 BODY=8BITMIME", 8, 0, 2,
	    { { "SIZE", "123" }, { "BODY", "8BITMIME" } }, 0, NULL },
	{ "every DSN parameter",
	    " SIZE=123 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x "
	    "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b", 8, 0, 7,
	    { { "SIZE", "123" }, { "BODY", "8BITMIME" }, { "SMTPUTF8", "" },
	    { "RET", "HDRS" }, { "ENVID", "x" },
	    { "NOTIFY", "SUCCESS,FAILURE" }, { "ORCPT", "rfc822;a@b" } },
	    0, NULL },
	{ "keywords upper-cased, values kept", " size=1 Envid=AbC+2B", 8, 0,
	    2, { { "SIZE", "1" }, { "ENVID", "AbC+2B" } }, 0, NULL },
	{ "hyphen and digit keyword", "X-FOO=1 8BIT-X", 8, 0, 2,
	    { { "X-FOO", "1" }, { "8BIT-X", "" } }, 0, NULL },
	{ "runs of spaces", "  SIZE=1   BODY=7BIT  ", 8, 0, 2,
	    { { "SIZE", "1" }, { "BODY", "7BIT" } }, 0, NULL },
	{ "value with < and >", " X=<a@b>", 8, 0, 1, { { "X", "<a@b>" } },
	    0, NULL },
	{ "exactly max", " A B", 2, 0, 2, { { "A", "" }, { "B", "" } }, 0,
	    NULL },
	{ "duplicate", " SIZE=1 size=2", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "duplicate parameter" },
	{ "duplicate without values", " SMTPUTF8 smtputf8", 8, -1, 0,
	    { { NULL } }, MAILADDR_ESYNTAX, "duplicate parameter" },
	{ "empty value", " SIZE=", 8, -1, 0, { { NULL } }, MAILADDR_ESYNTAX,
	    "empty parameter value" },
	{ "empty value then more", " SIZE= BODY=7BIT", 8, -1, 0,
	    { { NULL } }, MAILADDR_ESYNTAX, "empty parameter value" },
	{ "= in value", " SIZE=1=2", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "invalid parameter value" },
	{ "keyword starts with -", " -X=1", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "invalid parameter keyword" },
	{ "underscore in keyword", " X_Y=1", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "invalid parameter keyword" },
	{ "no keyword", " =1", 8, -1, 0, { { NULL } }, MAILADDR_ESYNTAX,
	    "invalid parameter keyword" },
	{ "tab separator", " SIZE=1\tBODY=7BIT", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "invalid character in parameters" },
	{ "CRLF", " SIZE=1\r\n", 8, -1, 0, { { NULL } }, MAILADDR_ESYNTAX,
	    "invalid character in parameters" },
	{ "non-ASCII value", " ENVID=\xc3\xa9", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "invalid character in parameters" },
	{ "non-ASCII keyword", " \xc3\xa9=1", 8, -1, 0, { { NULL } },
	    MAILADDR_ESYNTAX, "invalid character in parameters" },
	{ "too many", " A B C", 2, -1, 0, { { NULL } }, MAILADDR_ELENGTH,
	    "too many parameters" },
	{ "max 0", " A", 0, -1, 0, { { NULL } }, MAILADDR_ELENGTH,
	    "too many parameters" },
};

static const struct param_row *cur_param;

static void
test_params(void)
{
	const struct param_row	*r = cur_param;
	struct esmtp_param	 p[8];
	const char		*err = NULL;
	size_t			 n = 99, i;
	int			 rc;

	rc = esmtp_params_parse(r->input, p, r->max, &n, &err);
	CHECK(rc == r->want_rc, "rc: got %d (%s) want %d", rc,
	    err ? err : "", r->want_rc);
	if (rc != r->want_rc)
		return;
	if (rc == -1) {
		CHECK_STR(err, r->want_err);
		CHECK(mailaddr_errclass(err) == r->want_class,
		    "class: got %d want %d", mailaddr_errclass(err),
		    r->want_class);
		CHECK(n == 0, "n: got %zu want 0", n);
		return;
	}
	CHECK(n == r->want_n, "n: got %zu want %zu", n, r->want_n);
	for (i = 0; i < n && i < r->want_n; i++) {
		CHECK_STR(p[i].keyword, r->want[i][0]);
		CHECK_STR(p[i].value, r->want[i][1]);
	}
}

static void
test_params_lengths(void)
{
	struct esmtp_param	 p[2];
	char			 in[1200];
	const char		*err;
	size_t			 n;
	int			 rc;

	(void)snprintf(in, sizeof(in), " %s=1", rep('K', 31));
	rc = esmtp_params_parse(in, p, 2, &n, &err);
	CHECK(rc == 0 && n == 1 && strlen(p[0].keyword) == 31,
	    "keyword of 31: got %d want 0", rc);
	(void)snprintf(in, sizeof(in), " %s=1", rep('K', 32));
	rc = esmtp_params_parse(in, p, 2, &n, &err);
	CHECK(rc == -1 && strcmp(err, "parameter keyword too long") == 0 &&
	    mailaddr_errclass(err) == MAILADDR_ELENGTH,
	    "keyword of 32: got %d want -1", rc);
	(void)snprintf(in, sizeof(in), " ORCPT=%s", rep('v', 511));
	rc = esmtp_params_parse(in, p, 2, &n, &err);
	CHECK(rc == 0 && n == 1 && strlen(p[0].value) == 511,
	    "value of 511: got %d want 0", rc);
	(void)snprintf(in, sizeof(in), " ORCPT=%s", rep('v', 512));
	rc = esmtp_params_parse(in, p, 2, &n, &err);
	CHECK(rc == -1 && strcmp(err, "parameter value too long") == 0 &&
	    mailaddr_errclass(err) == MAILADDR_ELENGTH,
	    "value of 512: got %d want -1", rc);
}

/* A whole MAIL FROM argument: the path, then its parameters. */
static void
test_path_then_params(void)
{
	const char		*arg = "<a@b.example> SIZE=100 BODY=8BITMIME";
	struct mailaddr		 a;
	struct esmtp_param	 p[4];
	const char		*end, *err;
	size_t			 n;

	CHECK(mailaddr_parse_path(arg, strlen(arg), N, &a, &end, &err) == 0,
	    "path: got -1 (%s) want 0", err);
	CHECK(esmtp_params_parse(end, p, 4, &n, &err) == 0 && n == 2,
	    "params: got n %zu want 2", n);
	CHECK_STR(p[1].value, "8BITMIME");
}

/*
 * xtext.
 */
struct xtext_row {
	const char	*name;
	const char	*in;
	int		 want_rc;
	const char	*want;
};

static const struct xtext_row xdecode_rows[] = {
	{ "plain", "abc", 3, "abc" },
	{ "empty", "", 0, "" },
	{ "hexchar", "abc+2Bdef", 7, "abc+def" },
	{ "two hexchars", "+C3+A9", 2, "\xc3\xa9" },
	{ "hexchar of an xchar", "+41", 1, "A" },
	{ "lower-case hex", "a+2b", -1, "" },
	{ "short hexchar", "a+2", -1, "" },
	{ "bare +", "a+", -1, "" },
	{ "+ then non-hex", "+GG", -1, "" },
	{ "=", "a=b", -1, "" },
	{ "space", "a b", -1, "" },
	{ "tab", "a\tb", -1, "" },
	{ "DEL", "a\177", -1, "" },
	{ "non-ASCII", "\xc3\xa9", -1, "" },
	{ "+00", "a+00b", -1, "" },
};

static const struct xtext_row xencode_rows[] = {
	{ "plain", "rfc822;a@b.example", 18, "rfc822;a@b.example" },
	{ "specials", "a+b=c d", 13, "a+2Bb+3Dc+20d" },
	{ "controls and 8 bit", "\t\xff", 6, "+09+FF" },
	{ "empty", "", 0, "" },
};

static const struct xtext_row *cur_xtext;

static void
test_xtext_decode(void)
{
	char	buf[64];
	int	rc;

	memset(buf, 'X', sizeof(buf));
	rc = xtext_decode(cur_xtext->in, buf, sizeof(buf));
	CHECK(rc == cur_xtext->want_rc, "rc: got %d want %d", rc,
	    cur_xtext->want_rc);
	CHECK_STR(buf, cur_xtext->want);
}

static void
test_xtext_encode(void)
{
	char	buf[64];
	int	rc;

	memset(buf, 'X', sizeof(buf));
	rc = xtext_encode(cur_xtext->in, buf, sizeof(buf));
	CHECK(rc == cur_xtext->want_rc, "rc: got %d want %d", rc,
	    cur_xtext->want_rc);
	CHECK_STR(buf, cur_xtext->want);
}

/* Every octet but NUL survives encode then decode. */
static void
test_xtext_roundtrip(void)
{
	char	all[256], enc[800], dec[256];
	int	i, rc;

	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	rc = xtext_encode(all, enc, sizeof(enc));
	CHECK(rc > 0 && (size_t)rc == strlen(enc), "encode: got %d", rc);
	rc = xtext_decode(enc, dec, sizeof(dec));
	CHECK(rc == 255, "decode: got %d want 255", rc);
	CHECK(memcmp(all, dec, 256) == 0, "round trip: got a different "
	    "string");
}

static void
test_xtext_sizes(void)
{
	char	buf[8];

	CHECK(xtext_encode("ab", buf, 3) == 2, "encode in 3: got -1 want 2");
	CHECK(xtext_encode("ab", buf, 2) == -1 && buf[0] == '\0',
	    "encode in 2: got a result want -1");
	CHECK(xtext_encode("a b", buf, 6) == 5, "encode hex in 6: got -1");
	CHECK(xtext_encode("a b", buf, 5) == -1, "encode hex in 5: got 5");
	CHECK(xtext_encode("a", buf, 0) == -1, "encode in 0: got a result");
	CHECK(xtext_decode("a+2Bb", buf, 4) == 3, "decode in 4: got -1");
	CHECK(xtext_decode("a+2Bb", buf, 3) == -1 && buf[0] == '\0',
	    "decode in 3: got a result want -1");
	CHECK(xtext_decode("a", buf, 0) == -1, "decode in 0: got a result");
}

/*
 * Patterns: each row parses the address, then matches.
 */
struct match_row {
	const char	*name;
	const char	*pattern;
	const char	*address;
	int		 flags;
	int		 want;
};

static const struct match_row match_rows[] = {
	{ "any local", "*@d.example", "<user@d.example>", 0, 1 },
	{ "domain case in address", "*@d.example", "<user@D.EXAMPLE>", 0,
	    1 },
	{ "domain case in pattern", "*@D.Example", "<user@d.example>", 0,
	    1 },
	{ "no subdomain match", "*@d.example", "<user@sub.d.example>", 0,
	    0 },
	{ "no suffix match", "*@example", "<user@d.example>", 0, 0 },
	{ "no suffix match without dot", "*@example.com",
	    "<user@badexample.com>", 0, 0 },
	{ "trailing dot in pattern", "*@d.", "<user@d>", 0, 0 },
	{ "prefix", "sales*@d", "<sales@d>", 0, 1 },
	{ "prefix longer", "sales*@d", "<salesforce@d>", 0, 1 },
	{ "prefix, local case", "sales*@d", "<SALES-team@d>", 0, 1 },
	{ "prefix mismatch", "sales*@d", "<presales@d>", 0, 0 },
	{ "suffix", "*ing@d", "<marketing@d>", 0, 1 },
	{ "suffix alone", "*ing@d", "<ing@d>", 0, 1 },
	{ "suffix mismatch", "*ing@d", "<ingx@d>", 0, 0 },
	{ "exact", "user@d", "<user@d>", 0, 1 },
	{ "exact, local case", "user@d", "<User@d>", 0, 1 },
	{ "exact mismatch", "user@d", "<user2@d>", 0, 0 },
	{ "exact is not a prefix", "user@d", "<use@d>", 0, 0 },
	{ "several stars", "a*b*c@d", "<axxbyyc@d>", 0, 1 },
	{ "several stars, backtracking", "a*b*c@d", "<aXbXcXc@d>", 0, 1 },
	{ "several stars, mismatch", "a*b*c@d", "<axxbyy@d>", 0, 0 },
	{ "adjacent stars", "**@d", "<x@d>", 0, 1 },
	{ "null path", "*@d", "<>", N, 0 },
	{ "Postmaster", "*@d", "<Postmaster>", P, 0 },
	{ "wildcard domain", "user@*.com", "<user@a.com>", 0, 0 },
	{ "star domain", "*@*", "<user@a.com>", 0, 0 },
	{ "no @", "user", "<user@d>", 0, 0 },
	{ "empty domain", "user@", "<user@d>", 0, 0 },
	{ "quoted local, canonical", "\"a b\"@d", "<\"a\\ b\"@d>", 0, 1 },
	{ "quoted local, pattern sees the quotes", "a*@d", "<\"a b\"@d>", 0,
	    0 },
	{ "needless quotes", "john@d", "<\"john\"@d>", 0, 1 },
	{ "literal", "*@[1.2.3.4]", "<u@[001.2.3.4]>", 0, 1 },
	{ "IPv6 literal", "*@[ipv6:::1]", "<u@[IPv6:0::1]>", 0, 1 },
	{ "percent hack: real domain", "*@other", "<user%other@local>", 0,
	    0 },
	{ "quoted @: real domain", "*@other", "<\"user@other\"@local>", 0,
	    0 },
	{ "quoted @: local domain", "*@local", "<\"user@other\"@local>", 0,
	    1 },
	{ "route: real domain", "*@other", "<@local:user@other>", 0, 1 },
	{ "route: not the route", "*@local", "<@local:user@other>", 0, 0 },
	{ "pattern split at the last @", "\"a@b\"@local",
	    "<\"a@b\"@local>", 0, 1 },
	{ "UTF-8 bytes exact", "j\xc3\xb6*@d", "<j\xc3\xb6ran@d>", U, 1 },
	{ "UTF-8 not case-folded", "J\xc3\x96*@d", "<j\xc3\xb6ran@d>", U,
	    0 },
};

static const struct match_row *cur_match;

static void
test_match(void)
{
	const struct match_row	*r = cur_match;
	struct mailaddr		 a;
	const char		*err;
	int			 got;

	if (mailaddr_parse_path(r->address, strlen(r->address), r->flags,
	    &a, NULL, &err) == -1) {
		CHECK(0, "parse %s: %s", r->address, err);
		return;
	}
	got = mailaddr_match(r->pattern, &a);
	CHECK(got == r->want, "%s ~ %s: got %d want %d", r->pattern,
	    r->address, got, r->want);
}

static void
test_match_null(void)
{
	struct mailaddr	a;

	memset(&a, 0, sizeof(a));
	(void)strlcpy(a.local, "u", sizeof(a.local));
	(void)strlcpy(a.domain, "d", sizeof(a.domain));
	CHECK(mailaddr_match(NULL, &a) == 0, "NULL pattern: got 1 want 0");
	CHECK(mailaddr_match("u@d", &a) == 1, "got 0 want 1");
}

/* A long pattern against a long local part ends quickly. */
static void
test_match_backtracking(void)
{
	struct mailaddr	 a;
	char		 pat[400];
	int		 i;

	memset(&a, 0, sizeof(a));
	(void)strlcpy(a.local, rep('a', 64), sizeof(a.local));
	(void)strlcpy(a.domain, "d", sizeof(a.domain));
	pat[0] = '\0';
	for (i = 0; i < 60; i++)
		(void)strlcat(pat, "*a", sizeof(pat));
	(void)strlcat(pat, "*b@d", sizeof(pat));
	CHECK(mailaddr_match(pat, &a) == 0, "got 1 want 0");
	pat[strlen(pat) - 3] = 'a';
	CHECK(mailaddr_match(pat, &a) == 1, "got 0 want 1");
}

struct deq_row {
	const char	*a, *b;
	int		 want;
};

static const struct deq_row deq_rows[] = {
	{ "example.com", "example.com", 1 },
	{ "Example.COM", "example.com", 1 },
	{ "example.com", "example.com.", 0 },
	{ "example.com", "example.co", 0 },
	{ "", "", 1 },
	{ "a", "", 0 },
	{ "b\xc3\xbc" "cher", "B\xc3\xbc" "CHER", 1 },
	{ "b\xc3\xbc" "cher", "b\xc3\x9c" "cher", 0 },
	{ "[IPv6:::1]", "[ipv6:::1]", 1 },
};

static void
test_domain_eq(void)
{
	size_t	i;
	int	got;

	for (i = 0; i < sizeof(deq_rows) / sizeof(deq_rows[0]); i++) {
		got = mailaddr_domain_eq(deq_rows[i].a, deq_rows[i].b);
		CHECK(got == deq_rows[i].want, "%s = %s: got %d want %d",
		    deq_rows[i].a, deq_rows[i].b, got, deq_rows[i].want);
		got = mailaddr_domain_eq(deq_rows[i].b, deq_rows[i].a);
		CHECK(got == deq_rows[i].want, "%s = %s: got %d want %d",
		    deq_rows[i].b, deq_rows[i].a, got, deq_rows[i].want);
	}
	CHECK(mailaddr_domain_eq(NULL, "a") == 0, "NULL: got 1 want 0");
}

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

int
main(void)
{
	size_t	i;

	for (i = 0; i < NITEMS(path_rows); i++) {
		cur_path = &path_rows[i];
		RUN_NAMED(test_path, cur_path->name);
	}
	make_len_rows();
	for (i = 0; i < nlen_rows; i++) {
		cur_len = &len_rows[i];
		RUN_NAMED(test_length, cur_len->name);
	}
	RUN(test_length_route);
	RUN(test_bounds);
	RUN(test_null_outputs);
	for (i = 0; i < NITEMS(fmt_rows); i++) {
		cur_fmt = &fmt_rows[i];
		RUN_NAMED(test_format, cur_fmt->name);
	}
	RUN(test_format_unterminated);
	for (i = 0; i < NITEMS(param_rows); i++) {
		cur_param = &param_rows[i];
		RUN_NAMED(test_params, cur_param->name);
	}
	RUN(test_params_lengths);
	RUN(test_path_then_params);
	for (i = 0; i < NITEMS(xdecode_rows); i++) {
		cur_xtext = &xdecode_rows[i];
		RUN_NAMED(test_xtext_decode, cur_xtext->name);
	}
	for (i = 0; i < NITEMS(xencode_rows); i++) {
		cur_xtext = &xencode_rows[i];
		RUN_NAMED(test_xtext_encode, cur_xtext->name);
	}
	RUN(test_xtext_roundtrip);
	RUN(test_xtext_sizes);
	for (i = 0; i < NITEMS(match_rows); i++) {
		cur_match = &match_rows[i];
		RUN_NAMED(test_match, cur_match->name);
	}
	RUN(test_match_null);
	RUN(test_match_backtracking);
	RUN(test_domain_eq);
	return unit_done();
}
