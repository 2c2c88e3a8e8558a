/*
 * Portcullis: envelopes on the wire (imsg, field by field) and on disk
 * ("key: value" text).  The rules both forms enforce are in
 * envelope_io.h; envelope_check() is their one implementation.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"

#define EF_ALL		(EF_SMTPUTF8 | EF_BOUNCE | EF_TLS | EF_AUTH | \
			    EF_TRUSTED)
#define DSN_NOTIFY_ALL	(DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS | \
			    DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY)
#define MAILADDR_ALL	(MAILADDR_NULL | MAILADDR_POSTMASTER | \
			    MAILADDR_LITERAL | MAILADDR_QUOTED | \
			    MAILADDR_ROUTE | MAILADDR_UTF8)
/* Facts about how an address was received, which a reparse of its
 * canonical form cannot tell. */
#define MAILADDR_RECEIVED (MAILADDR_QUOTED | MAILADDR_ROUTE)

/*
 * The text form, one row per line, in this order.
 */
enum ftype {
	F_VERSION,	/* "version: 1" */
	F_MSGID,	/* uint64_t, 16 lower-case hex digits */
	F_U32,		/* uint32_t, decimal */
	F_TIME,		/* time_t >= 0, decimal */
	F_STR,		/* char[size] */
	F_ADDR,		/* struct mailaddr, mailaddr_format() */
	F_AFLAGS	/* the int flags of a struct mailaddr, decimal */
};

struct field {
	const char	*key;
	enum ftype	 type;
	size_t		 off;
	size_t		 size;		/* F_STR */
};

#define FIELD(k, t, m)	{ k, t, offsetof(struct envelope, m), \
			    sizeof(((struct envelope *)0)->m) }

static const struct field fields[] = {
	{ "version", F_VERSION, 0, 0 },
	FIELD("msgid", F_MSGID, msgid),
	FIELD("idx", F_U32, idx),
	FIELD("flags", F_U32, flags),
	FIELD("sender", F_ADDR, sender),
	FIELD("sender-flags", F_AFLAGS, sender.flags),
	FIELD("rcpt", F_ADDR, rcpt),
	FIELD("rcpt-flags", F_AFLAGS, rcpt.flags),
	FIELD("notify", F_U32, notify),
	FIELD("ret", F_U32, ret),
	FIELD("body", F_U32, body),
	FIELD("envid", F_STR, envid),
	FIELD("orcpt", F_STR, orcpt),
	FIELD("helo", F_STR, helo),
	FIELD("client", F_STR, client),
	FIELD("user", F_STR, user),
	FIELD("dest", F_U32, dest),
	FIELD("ctime", F_TIME, ctime),
	FIELD("lasttry", F_TIME, lasttry),
	FIELD("nexttry", F_TIME, nexttry),
	FIELD("attempts", F_U32, attempts),
	FIELD("warned", F_U32, warned),
	FIELD("error", F_STR, error),
};

#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

static int	 check_str(const char *, size_t);
static int	 check_addr(const struct mailaddr *, int, const char **);
static void	 add_addr(struct ipc_obuf *, const struct mailaddr *);
static void	 get_addr(struct ipc_msg *, struct mailaddr *);
static void	 get_str(struct ipc_msg *, char *, size_t, const char *);
static int	 parse_u64(const char *, size_t, uint64_t, uint64_t *);
static int	 parse_hex64(const char *, size_t, uint64_t *);

/*
 * 1 when s is NUL-terminated within size and holds no control
 * character.
 */
static int
check_str(const char *s, size_t size)
{
	size_t	 i;

	for (i = 0; i < size; i++) {
		if (s[i] == '\0')
			return 1;
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	}
	return 0;
}

/*
 * An address must be what the parser yields: formatted and parsed
 * again, it comes back with the same local part, domain and flags
 * (except for the facts of reception, which are kept as given).
 */
static int
check_addr(const struct mailaddr *a, int sender, const char **err)
{
	struct mailaddr	 r;
	char		 path[MAILADDR_STRSIZE + 2];
	const char	*end, *perr;
	size_t		 len;
	int		 pflags;

	if (!check_str(a->local, sizeof(a->local)) ||
	    !check_str(a->domain, sizeof(a->domain))) {
		*err = "address field not a string";
		return -1;
	}
	if (a->flags & ~MAILADDR_ALL) {
		*err = "unknown address flags";
		return -1;
	}
	path[0] = '<';
	if (mailaddr_format(a, path + 1, sizeof(path) - 2) == -1) {
		*err = "address cannot be formatted";
		return -1;
	}
	len = strlen(path);
	path[len++] = '>';
	path[len] = '\0';
	pflags = sender ? PARSE_ALLOW_NULL : PARSE_ALLOW_POSTMASTER;
	if (a->flags & MAILADDR_UTF8)
		pflags |= PARSE_SMTPUTF8;
	if (mailaddr_parse_path(path, len, pflags, &r, &end, &perr) == -1) {
		*err = "address does not parse";
		return -1;
	}
	if (end != path + len || strcmp(r.local, a->local) != 0 ||
	    strcmp(r.domain, a->domain) != 0 ||
	    (r.flags & ~MAILADDR_RECEIVED) != (a->flags & ~MAILADDR_RECEIVED) ||
	    ((r.flags & MAILADDR_QUOTED) && !(a->flags & MAILADDR_QUOTED))) {
		*err = "address not in canonical form";
		return -1;
	}
	return 0;
}

int
envelope_check(const struct envelope *e, const char **err)
{
	const char	*dummy;

	if (err == NULL)
		err = &dummy;
	if (e->flags & ~EF_ALL) {
		*err = "unknown envelope flags";
		return -1;
	}
	if (e->notify & ~DSN_NOTIFY_ALL ||
	    ((e->notify & DSN_NOTIFY_NEVER) && e->notify != DSN_NOTIFY_NEVER)) {
		*err = "bad DSN notify";
		return -1;
	}
	if (e->ret > DSN_RET_HDRS) {
		*err = "bad DSN ret";
		return -1;
	}
	if (e->body > BODY_BINARYMIME) {
		*err = "bad body type";
		return -1;
	}
	if (e->dest > DEST_LMTP) {
		*err = "bad destination";
		return -1;
	}
	if (e->warned > 1) {
		*err = "bad warned";
		return -1;
	}
	if (e->ctime < 0 || e->lasttry < 0 || e->nexttry < 0) {
		*err = "negative time";
		return -1;
	}
	if (!check_str(e->envid, sizeof(e->envid)) ||
	    !check_str(e->orcpt, sizeof(e->orcpt)) ||
	    !check_str(e->helo, sizeof(e->helo)) ||
	    !check_str(e->client, sizeof(e->client)) ||
	    !check_str(e->user, sizeof(e->user)) ||
	    !check_str(e->error, sizeof(e->error))) {
		*err = "bad string";
		return -1;
	}
	if (check_addr(&e->sender, 1, err) == -1)
		return -1;
	if (e->sender.flags & MAILADDR_POSTMASTER) {
		*err = "sender is <Postmaster>";
		return -1;
	}
	if (check_addr(&e->rcpt, 0, err) == -1)
		return -1;
	return 0;
}

void
envelope_set_error(struct envelope *e, const char *text)
{
	size_t	 i;

	for (i = 0; i < sizeof(e->error) - 1 && text[i] != '\0'; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			e->error[i] = '?';
		else
			e->error[i] = text[i];
	}
	e->error[i] = '\0';
}

/*
 * imsg form.
 */
static void
add_addr(struct ipc_obuf *b, const struct mailaddr *a)
{
	ipc_add_string(b, a->local);
	ipc_add_string(b, a->domain);
	ipc_add_u32(b, (uint32_t)a->flags);
}

void
envelope_add(struct ipc_obuf *b, const struct envelope *e)
{
	ipc_add_u64(b, e->msgid);
	ipc_add_u32(b, e->idx);
	ipc_add_u32(b, e->flags);
	add_addr(b, &e->sender);
	add_addr(b, &e->rcpt);
	ipc_add_u32(b, e->notify);
	ipc_add_u32(b, e->ret);
	ipc_add_u32(b, e->body);
	ipc_add_string(b, e->envid);
	ipc_add_string(b, e->orcpt);
	ipc_add_string(b, e->helo);
	ipc_add_string(b, e->client);
	ipc_add_string(b, e->user);
	ipc_add_u32(b, e->dest);
	ipc_add_i64(b, (int64_t)e->ctime);
	ipc_add_i64(b, (int64_t)e->lasttry);
	ipc_add_i64(b, (int64_t)e->nexttry);
	ipc_add_u32(b, e->attempts);
	ipc_add_u32(b, e->warned);
	ipc_add_string(b, e->error);
}

static void
get_str(struct ipc_msg *m, char *dst, size_t size, const char *what)
{
	const char	*s;

	if ((s = ipc_get_string(m)) == NULL)
		fatalx("%s from %s: envelope %s is NULL",
		    ipc_type_name(m->hdr.type), m->peer, what);
	if (strlcpy(dst, s, size) >= size)
		fatalx("%s from %s: envelope %s too long",
		    ipc_type_name(m->hdr.type), m->peer, what);
}

static void
get_addr(struct ipc_msg *m, struct mailaddr *a)
{
	uint32_t	 flags;

	get_str(m, a->local, sizeof(a->local), "local part");
	get_str(m, a->domain, sizeof(a->domain), "domain");
	flags = ipc_get_u32(m);
	if (flags & ~MAILADDR_ALL)
		fatalx("%s from %s: envelope address flags %#x",
		    ipc_type_name(m->hdr.type), m->peer, flags);
	a->flags = (int)flags;
}

void
envelope_get(struct ipc_msg *m, struct envelope *e)
{
	const char	*err;
	int64_t		 t;

	memset(e, 0, sizeof(*e));
	e->msgid = ipc_get_u64(m);
	e->idx = ipc_get_u32(m);
	e->flags = ipc_get_u32(m);
	get_addr(m, &e->sender);
	get_addr(m, &e->rcpt);
	e->notify = ipc_get_u32(m);
	e->ret = ipc_get_u32(m);
	e->body = ipc_get_u32(m);
	get_str(m, e->envid, sizeof(e->envid), "envid");
	get_str(m, e->orcpt, sizeof(e->orcpt), "orcpt");
	get_str(m, e->helo, sizeof(e->helo), "helo");
	get_str(m, e->client, sizeof(e->client), "client");
	get_str(m, e->user, sizeof(e->user), "user");
	e->dest = ipc_get_u32(m);
	t = ipc_get_i64(m);
	e->ctime = (time_t)t;
	t = ipc_get_i64(m);
	e->lasttry = (time_t)t;
	t = ipc_get_i64(m);
	e->nexttry = (time_t)t;
	e->attempts = ipc_get_u32(m);
	e->warned = ipc_get_u32(m);
	get_str(m, e->error, sizeof(e->error), "error");
	if (envelope_check(e, &err) == -1)
		fatalx("%s from %s: bad envelope: %s",
		    ipc_type_name(m->hdr.type), m->peer, err);
}

/*
 * Text form.
 */
int
envelope_dump(const struct envelope *e, char *buf, size_t size)
{
	const struct field	*f;
	const char		*p, *val;
	char			 tmp[MAILADDR_STRSIZE];
	size_t			 i, len = 0;
	int			 n;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	if (envelope_check(e, NULL) == -1)
		return -1;
	for (i = 0; i < NFIELDS; i++) {
		f = &fields[i];
		p = (const char *)e + f->off;
		val = tmp;
		switch (f->type) {
		case F_VERSION:
			(void)snprintf(tmp, sizeof(tmp), "%d",
			    ENVELOPE_VERSION);
			break;
		case F_MSGID:
			(void)snprintf(tmp, sizeof(tmp), "%016llx",
			    (unsigned long long)e->msgid);
			break;
		case F_U32:
			(void)snprintf(tmp, sizeof(tmp), "%u",
			    *(const uint32_t *)(const void *)p);
			break;
		case F_TIME:
			(void)snprintf(tmp, sizeof(tmp), "%lld",
			    (long long)*(const time_t *)(const void *)p);
			break;
		case F_AFLAGS:
			(void)snprintf(tmp, sizeof(tmp), "%d",
			    *(const int *)(const void *)p);
			break;
		case F_ADDR:
			if (mailaddr_format((const struct mailaddr *)
			    (const void *)p, tmp, sizeof(tmp)) == -1)
				goto fail;
			break;
		case F_STR:
			val = p;
			break;
		}
		if (val[0] == '\0')
			n = snprintf(buf + len, size - len, "%s:\n", f->key);
		else
			n = snprintf(buf + len, size - len, "%s: %s\n",
			    f->key, val);
		if (n < 0 || (size_t)n >= size - len)
			goto fail;
		len += n;
	}
	return (int)len;

 fail:
	buf[0] = '\0';
	return -1;
}

/* Canonical decimal: no sign, no leading zero, at most max. */
static int
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Exactly 16 lower-case hex digits. */
static int
parse_hex64(const char *s, size_t len, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;
	int		 d;

	if (len != 16)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		v = (v << 4) | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int
envelope_load(struct envelope *e, const char *buf, size_t len,
    const char **errp)
{
	const struct field	*f;
	struct mailaddr		*a;
	const char		*err, *val, *nl, *end;
	char			 path[MAILADDR_STRSIZE + 2];
	uint64_t		 v;
	size_t			 i, klen, vlen, pos = 0;
	char			*p;

	memset(e, 0, sizeof(*e));
	for (i = 0; i < NFIELDS; i++) {
		f = &fields[i];
		p = (char *)e + f->off;
		klen = strlen(f->key);
		if (len - pos < klen + 2 ||
		    memcmp(buf + pos, f->key, klen) != 0 ||
		    buf[pos + klen] != ':') {
			err = "missing or misplaced key";
			goto fail;
		}
		pos += klen + 1;
		if ((nl = memchr(buf + pos, '\n', len - pos)) == NULL) {
			err = "line without a newline";
			goto fail;
		}
		if (nl == buf + pos) {
			val = nl;
			vlen = 0;
		} else if (buf[pos] != ' ' || nl == buf + pos + 1) {
			err = "bad separator";
			goto fail;
		} else {
			val = buf + pos + 1;
			vlen = nl - val;
		}
		pos = nl - buf + 1;
		if (memchr(val, '\0', vlen) != NULL) {
			err = "NUL in a value";
			goto fail;
		}
		switch (f->type) {
		case F_VERSION:
			if (parse_u64(val, vlen, UINT32_MAX, &v) == -1 ||
			    v != ENVELOPE_VERSION) {
				err = "unknown version";
				goto fail;
			}
			break;
		case F_MSGID:
			if (parse_hex64(val, vlen, &e->msgid) == -1) {
				err = "bad msgid";
				goto fail;
			}
			break;
		case F_U32:
			if (parse_u64(val, vlen, UINT32_MAX, &v) == -1) {
				err = "bad number";
				goto fail;
			}
			*(uint32_t *)(void *)p = (uint32_t)v;
			break;
		case F_TIME:
			if (parse_u64(val, vlen, INT64_MAX, &v) == -1) {
				err = "bad time";
				goto fail;
			}
			*(time_t *)(void *)p = (time_t)v;
			break;
		case F_AFLAGS:
			if (parse_u64(val, vlen, MAILADDR_ALL, &v) == -1) {
				err = "bad address flags";
				goto fail;
			}
			*(int *)(void *)p = (int)v;
			break;
		case F_ADDR:
			/* Parsed leniently here; envelope_check() below
			 * holds it to its flags. */
			if (vlen + 2 >= sizeof(path)) {
				err = "address too long";
				goto fail;
			}
			path[0] = '<';
			memcpy(path + 1, val, vlen);
			path[vlen + 1] = '>';
			path[vlen + 2] = '\0';
			a = (struct mailaddr *)(void *)p;
			if (mailaddr_parse_path(path, vlen + 2,
			    PARSE_SMTPUTF8 | PARSE_ALLOW_NULL |
			    PARSE_ALLOW_POSTMASTER, a, &end, NULL) == -1 ||
			    end != path + vlen + 2) {
				err = "bad address";
				goto fail;
			}
			/* Only the form envelope_dump() writes. */
			if (mailaddr_format(a, path, sizeof(path)) == -1 ||
			    strlen(path) != vlen ||
			    memcmp(path, val, vlen) != 0) {
				err = "address not in canonical form";
				goto fail;
			}
			break;
		case F_STR:
			if (vlen >= f->size) {
				err = "value too long";
				goto fail;
			}
			memcpy(p, val, vlen);
			p[vlen] = '\0';
			break;
		}
	}
	if (pos != len) {
		err = "trailing data";
		goto fail;
	}
	if (envelope_check(e, &err) == -1)
		goto fail;
	return 0;

 fail:
	memset(e, 0, sizeof(*e));
	if (errp != NULL)
		*errp = err;
	return -1;
}
