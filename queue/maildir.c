/*
 * Portcullis: Maildir names and paths: the rules of maildir.h.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "maildir.h"

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
maildir_name_ok(const char *s, const char **why)
{
	const unsigned char	*p;

	if (s[0] == '\0') {
		*why = "an empty name";
		return -1;
	}
	if (s[0] == '.') {
		*why = "a name that starts with '.'";
		return -1;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '/') {
			*why = "a name with '/'";
			return -1;
		}
		if (*p < 0x20 || *p == 0x7f) {
			*why = "a name with a control character";
			return -1;
		}
	}
	if ((size_t)(p - (const unsigned char *)s) > MAILDIR_NAME_MAX) {
		*why = "a name too long";
		return -1;
	}
	return 0;
}

int
maildir_user(const char *local, char *buf, size_t len, const char **why)
{
	size_t	 i, n, o = 0, end;
	int	 quoted;

	n = strlen(local);
	quoted = n >= 2 && local[0] == '"' && local[n - 1] == '"';
	i = quoted ? 1 : 0;
	end = quoted ? n - 1 : n;
	for (; i < end; i++) {
		if (quoted && local[i] == '\\' && i + 1 < end)
			i++;
		if (o + 1 >= len) {
			*why = "a local part too long";
			return -1;
		}
		buf[o++] = lower(local[i]);
	}
	if (len == 0) {
		*why = "a local part too long";
		return -1;
	}
	buf[o] = '\0';
	if (strlen(buf) != o) {
		*why = "a local part with NUL";
		return -1;
	}
	if (maildir_name_ok(buf, why) == -1) {
		*why = buf[0] == '\0' ? "an empty local part" :
		    buf[0] == '.' ? "a local part that starts with '.'" :
		    strchr(buf, '/') != NULL ? "a local part with '/'" :
		    strlen(buf) > MAILDIR_NAME_MAX ? "a local part too long" :
		    "a local part with a control character";
		return -1;
	}
	return 0;
}

int
maildir_domain(const char *domain, char *buf, size_t len, const char **why)
{
	size_t	 i;

	for (i = 0; domain[i] != '\0'; i++) {
		if (i + 1 >= len) {
			*why = "a domain too long";
			return -1;
		}
		buf[i] = lower(domain[i]);
	}
	if (len == 0) {
		*why = "a domain too long";
		return -1;
	}
	buf[i] = '\0';
	if (maildir_name_ok(buf, why) == -1) {
		*why = buf[0] == '\0' ? "an empty domain" :
		    buf[0] == '.' ? "a domain that starts with '.'" :
		    strchr(buf, '/') != NULL ? "a domain with '/'" :
		    strlen(buf) > MAILDIR_NAME_MAX ? "a domain too long" :
		    "a domain with a control character";
		return -1;
	}
	return 0;
}

/* Append s to buf at *o; -1 when it does not fit. */
static int
append(char *buf, size_t len, size_t *o, const char *s, size_t n)
{
	if (n >= len - *o)
		return -1;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
	return 0;
}

int
maildir_path(const char *tmpl, const char *root, const char *user,
    const char *domain, char *buf, size_t len, const char **why)
{
	const char	*p, *c;
	size_t		 rlen, o = 0;
	int		 r;

	if (len == 0) {
		*why = "no room";
		return -1;
	}
	buf[0] = '\0';
	rlen = strlen(root);
	if (root[0] != '/' || tmpl[0] != '/') {
		*why = "the template or the mail root is not absolute";
		return -1;
	}
	if (strcmp(root, "/") == 0)
		p = tmpl;
	else if (strncmp(tmpl, root, rlen) == 0 &&
	    (tmpl[rlen] == '/' || tmpl[rlen] == '\0'))
		p = tmpl + rlen;
	else {
		*why = "the template is not under the mail root";
		return -1;
	}
	while (*p == '/')
		p++;
	while (*p != '\0') {
		if (strncmp(p, "%{user}", 7) == 0) {
			r = append(buf, len, &o, user, strlen(user));
			p += 7;
		} else if (strncmp(p, "%{domain}", 9) == 0) {
			r = append(buf, len, &o, domain, strlen(domain));
			p += 9;
		} else if (strncmp(p, "%{", 2) == 0) {
			*why = "an unknown %{...} in the template";
			return -1;
		} else
			r = append(buf, len, &o, p++, 1);
		if (r == -1) {
			*why = "the Maildir path is too long";
			return -1;
		}
	}
	/* No trailing '/', and no ".." anywhere: never above the root. */
	while (o > 0 && buf[o - 1] == '/')
		buf[--o] = '\0';
	for (c = buf; *c != '\0'; c = p) {
		p = strchr(c, '/');
		if (p == NULL)
			p = c + strlen(c);
		if (p - c == 2 && c[0] == '.' && c[1] == '.') {
			*why = "the template climbs out of the mail root";
			return -1;
		}
		while (*p == '/')
			p++;
	}
	if (o == 0 && append(buf, len, &o, ".", 1) == -1) {
		*why = "no room";
		return -1;
	}
	return 0;
}

int
maildir_filename(char *buf, size_t len, long long sec, long usec, long pid,
    unsigned long long counter, const char *host)
{
	char	 h[MAILDIR_FILE_MAX];
	size_t	 i, o = 0;
	int	 n;

	for (i = 0; host[i] != '\0'; i++) {
		if (o + 5 >= sizeof(h))
			return -1;
		if (host[i] == '/') {
			memcpy(h + o, "\\057", 4);
			o += 4;
		} else if (host[i] == ':') {
			memcpy(h + o, "\\072", 4);
			o += 4;
		} else if ((unsigned char)host[i] < 0x20 ||
		    (unsigned char)host[i] == 0x7f)
			h[o++] = '_';
		else
			h[o++] = host[i];
	}
	h[o] = '\0';
	if (o == 0)
		(void)strlcpy(h, "localhost", sizeof(h));
	n = snprintf(buf, len, "%lld.M%ldP%ldQ%llu.%s", sec, usec, pid,
	    counter, h);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return 0;
}

int
maildir_newname(char *buf, size_t len, const char *name, uint64_t size,
    uint64_t wsize)
{
	int	 n;

	n = snprintf(buf, len, "%s,S=%llu,W=%llu", name,
	    (unsigned long long)size, (unsigned long long)wsize);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return 0;
}

size_t
maildir_lf(const char *in, size_t n, char *out, int *cr, uint64_t *lines)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (*cr) {
			*cr = 0;
			if (in[i] != '\n')
				out[o++] = '\r';
		}
		if (in[i] == '\r') {
			*cr = 1;
			continue;
		}
		if (in[i] == '\n')
			(*lines)++;
		out[o++] = in[i];
	}
	return o;
}
