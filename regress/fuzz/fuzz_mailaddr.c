/*
 * Portcullis: libFuzzer target for lib/mailaddr.c.
 *
 * The input goes, as it is, to mailaddr_parse_path() under every
 * combination of the PARSE_* flags, and, NUL-terminated, to
 * esmtp_params_parse() and xtext_decode().  Invariants, enforced with
 * abort():
 *	- end stays within the input; err is set exactly on failure and
 *	  has a class; on failure the struct is zeroed
 *	- on success local and domain are NUL-terminated within bounds
 *	  and within the RFC 5321 limits, the flags are consistent, the
 *	  domain has no upper-case ASCII, and mailaddr_format() output
 *	  wrapped in <> parses again, with the same flags, to the same
 *	  struct (the route and the original quoting excepted), formats to
 *	  the same text, and matches itself as a pattern
 *	- ESMTP parameters are well-formed, upper-cased, without
 *	  duplicates
 *	- xtext: decode then encode then decode gives the same text
 *
 *	clang -D_GNU_SOURCE $(pkg-config --cflags libbsd-overlay) -Ilib \
 *	    -fsanitize=fuzzer,address,undefined regress/fuzz/fuzz_mailaddr.c \
 *	    lib/mailaddr.c lib/log.c $(pkg-config --libs libbsd-overlay)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #x);				\
		abort();						\
	}								\
} while (0)

#define MAX_INPUT	4096

static void
check_path(const char *s, size_t len, int flags)
{
	struct mailaddr	 a, b;
	const char	*end = NULL, *err = NULL, *end2, *err2;
	char		 text[MAILADDR_STRSIZE], text2[MAILADDR_STRSIZE];
	char		 wire[MAILADDR_STRSIZE + 2];
	size_t		 llen, dlen, i;
	int		 rc, mask;

	rc = mailaddr_parse_path(s, len, flags, &a, &end, &err);
	ASSERT(end != NULL && end >= s && end <= s + len);
	if (rc == -1) {
		ASSERT(err != NULL);
		ASSERT(mailaddr_errclass(err) >= MAILADDR_ESYNTAX &&
		    mailaddr_errclass(err) <= MAILADDR_EUTF8);
		ASSERT(a.local[0] == '\0' && a.domain[0] == '\0' &&
		    a.flags == 0);
		return;
	}
	ASSERT(rc == 0 && err == NULL);

	llen = strnlen(a.local, sizeof(a.local));
	dlen = strnlen(a.domain, sizeof(a.domain));
	ASSERT(llen < sizeof(a.local) && llen <= MAILADDR_LOCAL_MAX);
	ASSERT(dlen < sizeof(a.domain) && dlen <= MAILADDR_DOMAIN_MAX);
	ASSERT(llen + dlen + 3 <= MAILADDR_PATH_MAX);
	for (i = 0; i < dlen; i++)
		ASSERT(!(a.domain[i] >= 'A' && a.domain[i] <= 'Z') ||
		    (a.flags & MAILADDR_LITERAL));
	for (i = 0; i < llen; i++)
		ASSERT(((unsigned char)a.local[i] > ' ' && a.local[i] != 0x7f) ||
		    (a.local[i] == ' ' && a.local[0] == '"'));
	if (a.flags & MAILADDR_NULL)
		ASSERT((flags & PARSE_ALLOW_NULL) && a.flags == MAILADDR_NULL &&
		    llen == 0 && dlen == 0);
	else if (a.flags & MAILADDR_POSTMASTER)
		ASSERT((flags & PARSE_ALLOW_POSTMASTER) &&
		    strcmp(a.local, "Postmaster") == 0 && dlen == 0);
	else
		ASSERT(llen > 0 && dlen > 0 && a.domain[dlen - 1] != '.' &&
		    memchr(a.domain, '@', dlen) == NULL);
	if (a.flags & MAILADDR_UTF8)
		ASSERT(flags & PARSE_SMTPUTF8);
	if (a.flags & MAILADDR_LITERAL)
		ASSERT(a.domain[0] == '[' && a.domain[dlen - 1] == ']');
	if (!(flags & PARSE_LENIENT_BRACKETS))
		ASSERT(end > s && end[-1] == '>');

	/* Back to the wire, and again. */
	ASSERT(mailaddr_format(&a, text, sizeof(text)) == 0);
	(void)snprintf(wire, sizeof(wire), "<%s>", text);
	rc = mailaddr_parse_path(wire, strlen(wire),
	    flags & ~PARSE_LENIENT_BRACKETS, &b, &end2, &err2);
	if (rc != 0)
		fprintf(stderr, "reparse of %s: %s\n", wire, err2);
	ASSERT(rc == 0);
	ASSERT(end2 == wire + strlen(wire));
	ASSERT(strcmp(a.local, b.local) == 0);
	ASSERT(strcmp(a.domain, b.domain) == 0);
	mask = MAILADDR_ROUTE | MAILADDR_QUOTED;
	ASSERT((a.flags & ~mask) == (b.flags & ~mask));
	ASSERT(!(b.flags & MAILADDR_ROUTE));
	ASSERT(!!(b.flags & MAILADDR_QUOTED) == (b.local[0] == '"'));
	ASSERT(mailaddr_format(&b, text2, sizeof(text2)) == 0);
	ASSERT(strcmp(text, text2) == 0);
	if (!(a.flags & (MAILADDR_NULL | MAILADDR_POSTMASTER)))
		ASSERT(mailaddr_match(text, &a) == 1);
}

static void
check_params(const char *s)
{
	struct esmtp_param	 p[8];
	const char		*err = NULL;
	size_t			 n = 99, i, j;
	int			 rc;

	rc = esmtp_params_parse(s, p, 8, &n, &err);
	if (rc == -1) {
		ASSERT(err != NULL && n == 0);
		ASSERT(mailaddr_errclass(err) == MAILADDR_ESYNTAX ||
		    mailaddr_errclass(err) == MAILADDR_ELENGTH);
		return;
	}
	ASSERT(rc == 0 && err == NULL && n <= 8);
	for (i = 0; i < n; i++) {
		ASSERT(strnlen(p[i].keyword, sizeof(p[i].keyword)) <
		    sizeof(p[i].keyword));
		ASSERT(strnlen(p[i].value, sizeof(p[i].value)) <
		    sizeof(p[i].value));
		ASSERT(p[i].keyword[0] != '\0');
		ASSERT(strpbrk(p[i].keyword, "abcdefghijklmnopqrstuvwxyz= ")
		    == NULL);
		ASSERT(strpbrk(p[i].value, "= ") == NULL);
		for (j = 0; j < i; j++)
			ASSERT(strcmp(p[i].keyword, p[j].keyword) != 0);
	}
}

static void
check_xtext(const char *s)
{
	char	dec[MAX_INPUT + 1], enc[3 * MAX_INPUT + 1], dec2[MAX_INPUT + 1];
	int	n, m, k;

	if ((n = xtext_decode(s, dec, sizeof(dec))) == -1) {
		ASSERT(dec[0] == '\0');
		return;
	}
	ASSERT((size_t)n == strlen(dec) && (size_t)n <= strlen(s));
	m = xtext_encode(dec, enc, sizeof(enc));
	ASSERT(m >= n && (size_t)m == strlen(enc));
	k = xtext_decode(enc, dec2, sizeof(dec2));
	ASSERT(k == n && strcmp(dec, dec2) == 0);
	/* Encoding is canonical: re-encoding the input's text gives enc. */
	ASSERT(xtext_encode(dec2, dec, sizeof(dec)) == -1 ||
	    strcmp(dec, enc) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	int	 flags;

	if (size > MAX_INPUT)
		return 0;
	/* An exact-size copy, so that ASan sees any read past the end. */
	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	for (flags = 0; flags < 16; flags++)
		check_path(s, size, flags);
	free(s);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_params(s);
	check_xtext(s);
	free(s);
	return 0;
}
