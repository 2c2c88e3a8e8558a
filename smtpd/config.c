/*
 * Portcullis: the configuration's values, tables and rules: parsing of
 * the small value syntaxes (durations, sizes, networks, patterns), file
 * tables, the checks that need the whole file, the built-in default.
 * The grammar itself is in parse.y; printing in printconf.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define TABLE_LINE_MAX	4096

static int	 nerrors;
static int	 nwarnings;

void
config_errx(const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;

	nerrors++;
	va_start(ap, fmt);
	(void)fprintf(stderr, "%s:%d: ", file, line);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
	va_end(ap);
	(void)fflush(stderr);
}

void
config_warnx(const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;

	nwarnings++;
	va_start(ap, fmt);
	(void)fprintf(stderr, "%s:%d: warning: ", file, line);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
	va_end(ap);
	(void)fflush(stderr);
}

int
config_errors(void)
{
	return nerrors;
}

int
config_check_warnings(void)
{
	return nwarnings;
}

void
config_reset_counts(void)
{
	nerrors = nwarnings = 0;
}

/* ---- values ------------------------------------------------------------ */

int
parse_duration(const char *s, time_t *out, char *err, size_t errlen)
{
	const char	*p;
	long long	 n, mult;
	size_t		 len = strlen(s);

	for (p = s; isdigit((unsigned char)*p); p++)
		;
	if (p == s || len - (size_t)(p - s) != 1 || p - s > 9)
		goto bad;
	switch (*p) {
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		goto bad;
	}
	n = strtoll(s, NULL, 10);
	if (n == 0) {
		(void)snprintf(err, errlen, "invalid duration \"%s\": "
		    "must be more than 0", s);
		return -1;
	}
	if (n * mult > 366LL * 86400) {
		(void)snprintf(err, errlen, "invalid duration \"%s\": "
		    "more than 366 days", s);
		return -1;
	}
	*out = (time_t)(n * mult);
	return 0;
 bad:
	(void)snprintf(err, errlen, "invalid duration \"%s\": "
	    "use a number followed by s, m, h or d (30s 15m 4h 5d)", s);
	return -1;
}

int
parse_size(const char *s, size_t *out, char *err, size_t errlen)
{
	const char		*p;
	unsigned long long	 n, mult = 1;

	for (p = s; isdigit((unsigned char)*p); p++)
		;
	if (p == s || p - s > 12)
		goto bad;
	if (*p != '\0') {
		if (p[1] != '\0')
			goto bad;
		switch (*p) {
		case 'k':
		case 'K':
			mult = 1024;
			break;
		case 'm':
		case 'M':
			mult = 1024 * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			goto bad;
		}
	}
	n = strtoull(s, NULL, 10);
	if (n == 0) {
		(void)snprintf(err, errlen, "invalid size \"%s\": "
		    "must be more than 0", s);
		return -1;
	}
	if (n * mult > 4ULL * 1024 * 1024 * 1024) {
		(void)snprintf(err, errlen, "invalid size \"%s\": "
		    "more than 4G", s);
		return -1;
	}
	*out = (size_t)(n * mult);
	return 0;
 bad:
	(void)snprintf(err, errlen, "invalid size \"%s\": use bytes or a "
	    "number followed by K, M or G (512K 35M)", s);
	return -1;
}

/* "5", "5.0", "7.25": a spamd score in hundredths, 0 to 1000. */
int
parse_score(const char *s, int *out, char *err, size_t errlen)
{
	const char	*p = s;
	int		 whole = 0, frac = 0, nd = 0, nw = 0;

	while (isdigit((unsigned char)*p) && nw < 5) {
		whole = whole * 10 + (*p++ - '0');
		nw++;
	}
	if (nw == 0)
		goto bad;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p) && nd < 2) {
			frac = frac * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0)
			goto bad;
		if (nd == 1)
			frac *= 10;
	}
	if (*p != '\0')
		goto bad;
	if (whole > 1000) {
		(void)snprintf(err, errlen, "invalid score \"%s\": "
		    "more than 1000", s);
		return -1;
	}
	*out = whole * 100 + frac;
	return 0;
 bad:
	(void)snprintf(err, errlen, "invalid score \"%s\": use a number "
	    "with at most two decimals (5.0)", s);
	return -1;
}

void
set_port(struct sockaddr_storage *ss, in_port_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* An IPv4 or IPv6 literal (no names) into ss, with the port. */
int
parse_listen_addr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len, int port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
	} else
		return -1;
	set_port(ss, (in_port_t)port);
	return 0;
}

/* "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n"; host bits must be clear. */
int
parse_net(const char *s, struct table_entry *e)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash;
	const char	*errstr;
	unsigned char	*b;
	int		 max, i, bits;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	e->prefixlen = -1;
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash++ = '\0';
		if (*slash == '\0' || !isdigit((unsigned char)*slash))
			return -1;
		e->prefixlen = (int)strtonum(slash, 0, 128, &errstr);
		if (errstr != NULL)
			return -1;
	}
	memset(&e->addr, 0, sizeof(e->addr));
	if (inet_pton(AF_INET, buf, &e->addr.v4) == 1) {
		e->af = AF_INET;
		max = 32;
		b = (unsigned char *)&e->addr.v4;
	} else if (inet_pton(AF_INET6, buf, &e->addr.v6) == 1) {
		e->af = AF_INET6;
		max = 128;
		b = (unsigned char *)&e->addr.v6;
	} else
		return -1;
	if (e->prefixlen == -1)
		e->prefixlen = max;
	if (e->prefixlen > max)
		return -1;
	/* Host bits. */
	for (i = 0; i < max / 8; i++) {
		bits = e->prefixlen - i * 8;
		if (bits >= 8)
			continue;
		if (bits <= 0) {
			if (b[i] != 0)
				return -2;
		} else if ((b[i] & (0xff >> bits)) != 0)
			return -2;
	}
	return 0;
}

/* A host name: labels of letters, digits and '-', not all-numeric. */
int
valid_hostname(const char *s)
{
	const char	*p, *label = s;
	int		 alpha = 0;
	size_t		 len = strlen(s);

	if (len == 0 || len >= CONFIG_HOST_MAX - 1)
		return 0;
	for (p = s; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63)
				return 0;
			if (label[0] == '-' || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = p + 1;
			alpha = 0;
			continue;
		}
		if (isalpha((unsigned char)*p))
			alpha = 1;
		else if (!isdigit((unsigned char)*p) && *p != '-')
			return 0;
	}
	/* The last label decides: "300.1.1.1" is no name. */
	return alpha || strchr(label, '-') != NULL;
}

/* A mail domain: a host name with at least one letter in the top label. */
int
valid_domain(const char *s)
{
	return valid_hostname(s);
}

/* A sender/recipient pattern: '*' only in the local part. */
int
valid_pattern(const char *s, char *err, size_t errlen)
{
	const char	*at = strrchr(s, '@'), *p;

	if (at == NULL || at == s || at[1] == '\0' ||
	    strlen(s) >= CONFIG_HOST_MAX * 2 - 1) {
		(void)snprintf(err, errlen, "invalid address pattern \"%s\": "
		    "want local@domain, with '*' allowed in the local part",
		    s);
		return -1;
	}
	if (strchr(at + 1, '*') != NULL) {
		(void)snprintf(err, errlen, "invalid address pattern \"%s\": "
		    "a wildcard is allowed only in the local part", s);
		return -1;
	}
	for (p = s; p < at; p++) {
		if (isspace((unsigned char)*p) || *p == '@' || *p == '<' ||
		    *p == '>' || !isprint((unsigned char)*p)) {
			(void)snprintf(err, errlen, "invalid address pattern "
			    "\"%s\": bad character in the local part", s);
			return -1;
		}
	}
	if (!valid_domain(at + 1)) {
		(void)snprintf(err, errlen, "invalid address pattern \"%s\": "
		    "\"%s\" is not a domain name", s, at + 1);
		return -1;
	}
	return 0;
}

/* A maildir template: absolute, only %{user} and %{domain}. */
int
valid_template(const char *s, char *err, size_t errlen)
{
	const char	*p, *end;

	if (s[0] != '/') {
		(void)snprintf(err, errlen, "maildir template \"%s\" must be "
		    "an absolute path", s);
		return -1;
	}
	for (p = s; (p = strchr(p, '%')) != NULL; p = end + 1) {
		if (p[1] != '{' || (end = strchr(p, '}')) == NULL) {
			(void)snprintf(err, errlen, "maildir template \"%s\": "
			    "a '%%' must start %%{user} or %%{domain}", s);
			return -1;
		}
		if (strncmp(p, "%{user}", 7) != 0 &&
		    strncmp(p, "%{domain}", 9) != 0) {
			(void)snprintf(err, errlen, "maildir template \"%s\": "
			    "unknown token \"%.*s\": only %%{user} and "
			    "%%{domain} are known", s, (int)(end - p + 1), p);
			return -1;
		}
	}
	if (strstr(s, "%{user}") == NULL) {
		(void)snprintf(err, errlen, "maildir template \"%s\" must "
		    "contain %%{user}", s);
		return -1;
	}
	if (strstr(s, "/../") != NULL || strstr(s, "/./") != NULL) {
		(void)snprintf(err, errlen, "maildir template \"%s\" must not "
		    "contain \"..\" or \".\" components", s);
		return -1;
	}
	return 0;
}

/* crypt(3) output: yescrypt, bcrypt, sha512-crypt, sha256-crypt. */
int
valid_crypt_hash(const char *h)
{
	static const char *const prefixes[] = {
		"$y$", "$2b$", "$2a$", "$2y$", "$6$", "$5$"
	};
	size_t	 i, n;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		n = strlen(prefixes[i]);
		if (strncmp(h, prefixes[i], n) == 0)
			break;
	}
	if (i == sizeof(prefixes) / sizeof(prefixes[0]))
		return 0;
	if (strlen(h) < n + 20)
		return 0;
	for (h += n; *h != '\0'; h++)
		if (!isalnum((unsigned char)*h) && strchr("./$=", *h) == NULL)
			return 0;
	return 1;
}

/* ---- tables ------------------------------------------------------------ */

struct table *
table_new(const char *name)
{
	struct table	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	TAILQ_INIT(&t->entries);
	if (strlcpy(t->name, name, sizeof(t->name)) >= sizeof(t->name)) {
		free(t);
		return NULL;
	}
	return t;
}

static void
entry_free(struct table_entry *e)
{
	free(e->key);
	if (e->value != NULL)
		freezero(e->value, strlen(e->value));
	if (e->secret != NULL)
		freezero(e->secret, strlen(e->secret));
	free(e);
}

void
table_free(struct table *t)
{
	struct table_entry	*e;

	while ((e = TAILQ_FIRST(&t->entries)) != NULL) {
		TAILQ_REMOVE(&t->entries, e, entry);
		entry_free(e);
	}
	free(t);
}

const char *
table_types_str(int types)
{
	if (types & ENTRY_CREDENTIALS)
		return "login:crypt-hash lines";
	if (types & ENTRY_SECRET)
		return "label:username:password lines";
	return "list entries";
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
table_append(struct table *t, struct table_entry *e)
{
	TAILQ_INSERT_TAIL(&t->entries, e, entry);
	t->types |= e->type;
	t->count++;
	return 0;
}

/* A list entry: network, domain or address pattern. */
int
table_add_string(struct table *t, const char *s, int line, char *err,
    size_t errlen)
{
	struct table_entry	*e;
	const char		*at;
	int			 r;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->key = strdup(s)) == NULL) {
		free(e);
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->line = line;
	if ((r = parse_net(s, e)) == 0)
		e->type = ENTRY_NET;
	else if (r == -2) {
		(void)snprintf(err, errlen, "invalid network \"%s\": "
		    "host bits are set beyond the prefix length", s);
		goto fail;
	} else if ((at = strchr(s, '@')) != NULL) {
		if (valid_pattern(s, err, errlen) == -1)
			goto fail;
		lower(e->key + (at - s));
		e->type = ENTRY_ADDRESS;
	} else if (strchr(s, '*') != NULL) {
		(void)snprintf(err, errlen, "invalid table entry \"%s\": "
		    "a wildcard is allowed only in the local part of an "
		    "address", s);
		goto fail;
	} else if (valid_domain(s)) {
		lower(e->key);
		e->type = ENTRY_DOMAIN;
	} else {
		(void)snprintf(err, errlen, "invalid table entry \"%s\": "
		    "not an IP address, network, domain or mail address", s);
		goto fail;
	}
	return table_append(t, e);
 fail:
	entry_free(e);
	return -1;
}

static int
table_has_key(const struct table *t, const char *key)
{
	const struct table_entry	*e;

	TAILQ_FOREACH(e, &t->entries, entry)
		if (strcmp(e->key, key) == 0)
			return 1;
	return 0;
}

/* One line of a file table; the table's first entry decides its kind. */
static int
table_load_line(struct config *conf, struct table *t, char *s,
    const char *path, int lineno)
{
	struct table_entry	 probe, *e;
	struct table		*o;
	char			 err[512], *c1, *c2;
	int			 kind;

	c1 = strchr(s, ':');
	memset(&probe, 0, sizeof(probe));
	if (c1 == NULL || parse_net(s, &probe) != -1)
		kind = ENTRY_LIST;
	else if ((c2 = strchr(c1 + 1, ':')) == NULL)
		kind = ENTRY_CREDENTIALS;
	else
		kind = ENTRY_SECRET;
	if (t->types != 0 && (t->types & kind) == 0) {
		config_errx(path, lineno, "not one of the table's %s (its "
		    "first line decides the kind)", table_types_str(t->types));
		return -1;
	}
	if (kind == ENTRY_LIST) {
		if (table_add_string(t, s, lineno, err, sizeof(err)) == -1) {
			config_errx(path, lineno, "%s", err);
			return -1;
		}
		return 0;
	}
	*c1++ = '\0';
	if (kind == ENTRY_CREDENTIALS) {
		if (*s == '\0') {
			config_errx(path, lineno, "empty login");
			return -1;
		}
		if (!valid_crypt_hash(c1)) {
			config_errx(path, lineno, "the password of \"%s\" is "
			    "not a crypt(3) hash ($y$, $2b$, $6$ or $5$): "
			    "plain-text passwords are refused", s);
			return -1;
		}
	} else {
		c2 = strchr(c1, ':');
		*c2++ = '\0';
		if (*s == '\0' || strlen(s) >= CONFIG_NAME_MAX) {
			config_errx(path, lineno, "a secret needs a label of "
			    "1 to %d characters", CONFIG_NAME_MAX - 1);
			return -1;
		}
		if (*c1 == '\0' || *c2 == '\0') {
			config_errx(path, lineno, "secret \"%s\": want "
			    "label:username:password", s);
			return -1;
		}
		TAILQ_FOREACH(o, &conf->tables, entry) {
			if (o != t && (o->types & ENTRY_SECRET) &&
			    table_has_key(o, s)) {
				config_errx(path, lineno, "secret label \"%s\" "
				    "is also in table <%s>", s, o->name);
				return -1;
			}
		}
	}
	if (table_has_key(t, s)) {
		config_errx(path, lineno, "%s \"%s\" is given twice",
		    kind == ENTRY_SECRET ? "secret label" : "login", s);
		return -1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->key = strdup(s)) == NULL || (e->value = strdup(c1)) == NULL ||
	    (kind == ENTRY_SECRET && (e->secret = strdup(c2)) == NULL)) {
		if (e != NULL)
			entry_free(e);
		config_errx(path, lineno, "out of memory");
		return -1;
	}
	e->type = kind;
	e->line = lineno;
	return table_append(t, e);
}

/*
 * Load a file table at parse time.  Blank lines and lines starting with
 * '#' are skipped.  Errors name the table file and its line; a secrets
 * file readable by group or others is an error at the "table" line.
 */
int
table_load(struct config *conf, struct table *t, const char *cfile,
    int cline)
{
	FILE		*fp;
	struct stat	 st;
	char		*line = NULL, *s, *end;
	size_t		 cap = 0;
	ssize_t		 len;
	int		 lineno = 0, bad = 0;

	if ((fp = fopen(t->path, "r")) == NULL) {
		config_errx(cfile, cline, "table <%s>: cannot open \"%s\": %s",
		    t->name, t->path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		config_errx(cfile, cline, "table <%s>: \"%s\" is not a "
		    "regular file", t->name, t->path);
		(void)fclose(fp);
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (len > TABLE_LINE_MAX) {
			config_errx(t->path, lineno, "line longer than %d "
			    "characters", TABLE_LINE_MAX);
			bad = 1;
			continue;
		}
		for (s = line; isspace((unsigned char)*s); s++)
			;
		if (*s == '#' || *s == '\0')
			continue;
		end = s + strlen(s);
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (table_load_line(conf, t, s, t->path, lineno) == -1)
			bad = 1;
	}
	if (line != NULL)
		freezero(line, cap);
	(void)fclose(fp);
	if (bad)
		return -1;
	if ((t->types & ENTRY_SECRET) &&
	    (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		config_errx(cfile, cline, "table <%s>: secrets file \"%s\" "
		    "must not be accessible by group or others (mode %04o): "
		    "chmod 600 it", t->name, t->path,
		    (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	if ((t->types & ENTRY_CREDENTIALS) && (st.st_mode & S_IROTH) != 0)
		config_warnx(cfile, cline, "table <%s>: credentials file "
		    "\"%s\" is readable by others: chmod o-r it", t->name,
		    t->path);
	return 0;
}

struct table *
config_table(const struct config *conf, const char *name)
{
	struct table	*t;

	TAILQ_FOREACH(t, &conf->tables, entry)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

struct pki *
config_pki(const struct config *conf, const char *name)
{
	struct pki	*p;

	TAILQ_FOREACH(p, &conf->pkis, entry)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* A credentials label: looked up in every table loaded as secrets. */
struct table_entry *
config_secret(const struct config *conf, const char *label)
{
	struct table		*t;
	struct table_entry	*e;

	TAILQ_FOREACH(t, &conf->tables, entry) {
		if ((t->types & ENTRY_SECRET) == 0)
			continue;
		TAILQ_FOREACH(e, &t->entries, entry)
			if (strcmp(e->key, label) == 0)
				return e;
	}
	return NULL;
}

/* ---- whole-config ------------------------------------------------------ */

const char *
config_file_add(struct config *conf, const char *name)
{
	struct config_file	*f;

	TAILQ_FOREACH(f, &conf->files, entry)
		if (strcmp(f->name, name) == 0)
			return f->name;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	if ((f->name = strdup(name)) == NULL) {
		free(f);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&conf->files, f, entry);
	return f->name;
}

void
config_init(struct config *conf)
{
	memset(conf, 0, sizeof(*conf));
	TAILQ_INIT(&conf->files);
	TAILQ_INIT(&conf->tables);
	TAILQ_INIT(&conf->pkis);
	TAILQ_INIT(&conf->listeners);
	TAILQ_INIT(&conf->accepts);
	TAILQ_INIT(&conf->relays);
	TAILQ_INIT(&conf->deliveries);
	conf->mx_port = 25;
	conf->limits.message_size = DEFAULT_MESSAGE_SIZE;
	conf->spamd.port = DEFAULT_SPAMD_PORT;
	conf->spamd.tag_above = -1;
	conf->spamd.reject_above = -1;
	conf->spamd.timeout = DEFAULT_SPAMD_TIMEOUT;
	conf->queue.warn_after = DEFAULT_WARN_AFTER;
	conf->queue.bounce_after = DEFAULT_BOUNCE_AFTER;
	conf->queue.deliveries = DEFAULT_DELIVERIES;
	conf->queue.per_domain = DEFAULT_PER_DOMAIN;
	conf->queue.retry[0] = 5 * 60;
	conf->queue.retry[1] = 15 * 60;
	conf->queue.retry[2] = 30 * 60;
	conf->queue.retry[3] = 3600;
	conf->queue.retry[4] = 2 * 3600;
	conf->queue.retry[5] = 4 * 3600;
	conf->queue.nretry = 6;
	(void)strlcpy(conf->control_group, DEFAULT_CONTROL_GROUP,
	    sizeof(conf->control_group));
}

static void
user_path(char *buf, size_t len, const char *leaf)
{
	const char	*home = getenv("HOME");
	struct passwd	*pw;

	if (home == NULL || *home != '/') {
		pw = getpwuid(geteuid());
		home = pw != NULL ? pw->pw_dir : "/tmp";
	}
	if ((size_t)snprintf(buf, len, "%s/%s/%s", home, DEFAULT_USER_DIR,
	    leaf) >= len)
		(void)snprintf(buf, len, "/tmp/%s/%s", DEFAULT_USER_DIR, leaf);
}

/* What a file leaves unset: hostname, spool, control socket. */
void
config_set_defaults(struct config *conf)
{
	if (conf->hostname[0] == '\0') {
		if (gethostname(conf->hostname, sizeof(conf->hostname)) == -1 ||
		    conf->hostname[0] == '\0')
			(void)strlcpy(conf->hostname, "localhost",
			    sizeof(conf->hostname));
		conf->hostname[sizeof(conf->hostname) - 1] = '\0';
	}
	if (conf->spool[0] == '\0') {
		if (geteuid() == 0)
			(void)strlcpy(conf->spool, DEFAULT_SPOOL,
			    sizeof(conf->spool));
		else
			user_path(conf->spool, sizeof(conf->spool), "spool");
	}
	if (conf->control_socket[0] == '\0') {
		if (geteuid() == 0)
			(void)strlcpy(conf->control_socket,
			    DEFAULT_CONTROL_SOCKET,
			    sizeof(conf->control_socket));
		else
			user_path(conf->control_socket,
			    sizeof(conf->control_socket), "smtpd.sock");
	}
}

static int
add_default_listener(struct config *conf, const char *addr, int port)
{
	struct listener	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	if (parse_listen_addr(addr, &l->ss, &l->sslen, port) == -1) {
		free(l);
		return -1;
	}
	l->port = (in_port_t)port;
	l->fd = -1;
	l->file = "(default)";
	l->line = 0;
	TAILQ_INSERT_TAIL(&conf->listeners, l, entry);
	return 0;
}

struct config *
config_default(void)
{
	struct config		*conf;
	struct table		*t;
	struct relay_rule	*r;
	char			 err[256];
	int			 port;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		return NULL;
	config_init(conf);
	port = geteuid() == 0 ? DEFAULT_PORT_ROOT : DEFAULT_PORT_USER;
	if (add_default_listener(conf, "127.0.0.1", port) == -1 ||
	    add_default_listener(conf, "::1", port) == -1)
		goto fail;
	if ((t = table_new("loopback")) == NULL)
		goto fail;
	t->file = "(default)";
	TAILQ_INSERT_TAIL(&conf->tables, t, entry);
	if (table_add_string(t, "127.0.0.0/8", 0, err, sizeof(err)) == -1 ||
	    table_add_string(t, "::1", 0, err, sizeof(err)) == -1)
		goto fail;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->flags = RELAY_FROM;
	r->from = t;
	r->file = "(default)";
	TAILQ_INSERT_TAIL(&conf->relays, r, entry);
	config_set_defaults(conf);
	return conf;
 fail:
	config_free(conf);
	return NULL;
}

void
config_free(struct config *conf)
{
	struct config_file	*f;
	struct table		*t;
	struct pki		*p;
	struct listener		*l;
	struct accept_rule	*a;
	struct relay_rule	*r;
	struct delivery_rule	*d;
	struct match_cond	*m;

	if (conf == NULL)
		return;
	while ((t = TAILQ_FIRST(&conf->tables)) != NULL) {
		TAILQ_REMOVE(&conf->tables, t, entry);
		table_free(t);
	}
	while ((p = TAILQ_FIRST(&conf->pkis)) != NULL) {
		TAILQ_REMOVE(&conf->pkis, p, entry);
		free(p->cert_mem);
		freezero(p->key_mem, p->key_len);
		free(p);
	}
	while ((l = TAILQ_FIRST(&conf->listeners)) != NULL) {
		TAILQ_REMOVE(&conf->listeners, l, entry);
		free(l);
	}
	while ((a = TAILQ_FIRST(&conf->accepts)) != NULL) {
		TAILQ_REMOVE(&conf->accepts, a, entry);
		free(a);
	}
	while ((r = TAILQ_FIRST(&conf->relays)) != NULL) {
		TAILQ_REMOVE(&conf->relays, r, entry);
		free(r);
	}
	while ((d = TAILQ_FIRST(&conf->deliveries)) != NULL) {
		TAILQ_REMOVE(&conf->deliveries, d, entry);
		while ((m = TAILQ_FIRST(&d->matches)) != NULL) {
			TAILQ_REMOVE(&d->matches, m, entry);
			free(m);
		}
		free(d);
	}
	while ((f = TAILQ_FIRST(&conf->files)) != NULL) {
		TAILQ_REMOVE(&conf->files, f, entry);
		free(f->name);
		free(f);
	}
	free(conf);
}

/* Does a table hold only entries of the allowed types?  Else an error. */
int
table_fits(const struct table *t, int allowed, const char *use,
    const char *file, int line)
{
	if ((t->types & ~allowed) == 0)
		return 1;
	if (allowed == ENTRY_CREDENTIALS)
		config_errx(file, line, "table <%s> used by %s must hold "
		    "login:crypt-hash lines, not %s", t->name, use,
		    table_types_str(t->types));
	else if (allowed == ENTRY_NET)
		config_errx(file, line, "table <%s> used by %s must hold only "
		    "IP addresses and networks", t->name, use);
	else if (allowed == ENTRY_DOMAIN)
		config_errx(file, line, "table <%s> used by %s must hold only "
		    "domain names", t->name, use);
	else if (allowed == (ENTRY_ADDRESS | ENTRY_DOMAIN))
		config_errx(file, line, "table <%s> used by %s must hold only "
		    "mail addresses and domain names", t->name, use);
	else
		config_errx(file, line, "table <%s> used by %s must hold only "
		    "mail addresses", t->name, use);
	return 0;
}

static int
listen_overlap(const struct listener *a, const struct listener *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;

	if (a->port != b->port || a->ss.ss_family != b->ss.ss_family)
		return 0;
	if (a->ss.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->ss;
		b4 = (const struct sockaddr_in *)&b->ss;
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == INADDR_ANY ||
		    b4->sin_addr.s_addr == INADDR_ANY;
	}
	a6 = (const struct sockaddr_in6 *)&a->ss;
	b6 = (const struct sockaddr_in6 *)&b->ss;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr,
	    sizeof(a6->sin6_addr)) == 0 ||
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr);
}

/* A listener's address and port against those before it: an error. */
int
listener_check(const struct config *conf, const struct listener *l)
{
	const struct listener	*o;
	char			 b1[INET6_ADDRSTRLEN], b2[INET6_ADDRSTRLEN];

	for (o = TAILQ_FIRST(&conf->listeners); o != NULL && o != l;
	    o = TAILQ_NEXT(o, entry)) {
		if (!listen_overlap(l, o))
			continue;
		(void)fmt_sockaddr(&l->ss, b1, sizeof(b1));
		(void)fmt_sockaddr(&o->ss, b2, sizeof(b2));
		if (strcmp(b1, b2) == 0)
			config_errx(l->file, l->line, "listen on %s port %d: "
			    "already in use by the listener at %s:%d", b1,
			    l->port, o->file, o->line);
		else
			config_errx(l->file, l->line, "listen on %s port %d: "
			    "overlaps listen on %s port %d at %s:%d", b1,
			    l->port, b2, o->port, o->file, o->line);
		return -1;
	}
	return 0;
}

/*
 * The checks that need the whole file, run once it is read: what needs
 * an "authenticate" line, which may come later.  Errors are reported at
 * the line of the object concerned.  Returns the number of errors.
 */
int
config_validate(struct config *conf)
{
	struct listener		*l;
	struct relay_rule	*r;
	int			 before = config_errors();

	TAILQ_FOREACH(l, &conf->listeners, entry) {
		if (conf->authenticate == NULL &&
		    (l->flags & (LISTEN_POP3 | LISTEN_AUTH_REQUIRE)))
			config_errx(l->file, l->line, "%s needs an "
			    "\"authenticate <table>\" line",
			    (l->flags & LISTEN_POP3) ? "a pop3 listener" :
			    "auth-require");
	}
	TAILQ_FOREACH(r, &conf->relays, entry) {
		if ((r->flags & RELAY_AUTHENTICATED) &&
		    conf->authenticate == NULL)
			config_errx(r->file, r->line, "relay allow "
			    "authenticated needs an \"authenticate <table>\" "
			    "line");
	}
	return config_errors() - before;
}
