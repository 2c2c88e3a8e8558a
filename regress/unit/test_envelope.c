/*
 * Portcullis: envelopes through imsg (a socketpair and lib/ipc) and
 * through their text form; every malformed text is refused, every bad
 * envelope on the wire is fatal.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "ipc.h"
#include "log.h"
#include "mailaddr.h"
#include "envelope.h"
#include "envelope_io.h"

#define T_TYPE	0x0303		/* IMSG_QUEUE_ENVELOPE */

static void
addr(struct mailaddr *a, const char *path, int flags)
{
	if (mailaddr_parse_path(path, strlen(path), flags, a, NULL,
	    NULL) == -1) {
		printf("bad test address %s\n", path);
		exit(2);
	}
}

/* A full envelope: every field set to something but its zero. */
static void
sample(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->msgid = 0x5f0e1a2b3c4d5e6fULL;
	e->idx = 7;
	e->flags = EF_TLS | EF_AUTH | EF_SMTPUTF8;
	addr(&e->sender, "<\"john\"@Example.COM>", 0);
	addr(&e->rcpt, "<@relay.example:j\xc3\xa4ger@m\xc3\xbcnchen.example>",
	    PARSE_SMTPUTF8);
	e->notify = DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	e->ret = DSN_RET_HDRS;
	e->body = BODY_8BITMIME;
	(void)strlcpy(e->envid, "QQ314159 with spaces", sizeof(e->envid));
	(void)strlcpy(e->orcpt, "rfc822;j@example.org", sizeof(e->orcpt));
	(void)strlcpy(e->helo, "[192.0.2.1]", sizeof(e->helo));
	(void)strlcpy(e->client, "2001:db8::1", sizeof(e->client));
	(void)strlcpy(e->user, "alice@example.com", sizeof(e->user));
	e->dest = DEST_LMTP;
	e->ctime = 1700000000;
	e->lasttry = 1700000600;
	e->nexttry = 1700001500;
	e->attempts = 3;
	e->warned = 1;
	(void)strlcpy(e->error, "451 4.7.1 try again later",
	    sizeof(e->error));
}

static void
fill(char *s, size_t size, char c)
{
	memset(s, c, size - 1);
	s[size - 1] = '\0';
}

/* Variants that round-trip: a table of modifiers on sample(). */
static void
v_plain(struct envelope *e)
{
	(void)e;
}

static void
v_null(struct envelope *e)
{
	addr(&e->sender, "<>", PARSE_ALLOW_NULL);
	addr(&e->rcpt, "<postmaster>", PARSE_ALLOW_POSTMASTER);
	e->notify = DSN_NOTIFY_NEVER;
	e->flags = EF_BOUNCE;
}

static void
v_zero(struct envelope *e)
{
	uint64_t id = e->msgid;
	struct mailaddr s = e->sender, r = e->rcpt;

	memset(e, 0, sizeof(*e));
	e->msgid = id;
	e->sender = s;
	e->rcpt = r;
}

static void
v_long(struct envelope *e)
{
	fill(e->envid, sizeof(e->envid), 'e');
	fill(e->orcpt, sizeof(e->orcpt), 'o');
	fill(e->helo, sizeof(e->helo), 'h');
	fill(e->client, sizeof(e->client), 'c');
	fill(e->user, sizeof(e->user), 'u');
	fill(e->error, sizeof(e->error), 'x');
	e->idx = UINT32_MAX;
	e->attempts = UINT32_MAX;
	e->msgid = UINT64_MAX;
	e->flags = EF_SMTPUTF8 | EF_BOUNCE | EF_TLS | EF_AUTH | EF_TRUSTED;
	e->ctime = INT64_MAX;
	addr(&e->sender, "<\"a very long quoted local part with spaces "
	    "in it\"@[IPv6:2001:DB8:0:0:0:0:0:1]>", 0);
}

static void
v_quoted(struct envelope *e)
{
	addr(&e->rcpt, "<\"a\\\"b c\"@example.net>", 0);
	addr(&e->sender, "<user@[10.0.0.1]>", 0);
}

static const struct {
	const char	*name;
	void		(*fn)(struct envelope *);
} variants[] = {
	{ "plain", v_plain },
	{ "null sender, postmaster", v_null },
	{ "zero fields", v_zero },
	{ "longest fields", v_long },
	{ "quoted and literal", v_quoted },
};

#define NVARIANTS	(sizeof(variants) / sizeof(variants[0]))

/* Send one frame through a socketpair and read it back. */
static int
roundtrip_imsg(struct ipc *a, struct ipc *b, const struct envelope *in,
    struct envelope *out)
{
	struct ipc_obuf	*ob;
	struct ipc_msg	 m;

	ob = ipc_create(a, T_TYPE, 42, -1);
	ipc_add_u64(ob, in->msgid);
	envelope_add(ob, in);
	if (ipc_close(ob) == -1 || ipc_flush(a) == -1)
		return -1;
	if (ipc_read(b) <= 0 || ipc_get(b, &m) != 1)
		return -1;
	if (ipc_get_u64(&m) != in->msgid)
		return -1;
	envelope_get(&m, out);
	ipc_end(&m);
	return 0;
}

static void
pair(struct ipc *a, struct ipc *b)
{
	int	 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1) {
		perror("socketpair");
		exit(2);
	}
	ipc_init(a, sp[0], "a");
	ipc_init(b, sp[1], "smtp");
}

static void
test_imsg_roundtrip(void)
{
	struct ipc	 a, b;
	struct envelope	 in, out;
	size_t		 i;

	pair(&a, &b);
	for (i = 0; i < NVARIANTS; i++) {
		sample(&in);
		variants[i].fn(&in);
		CHECK(envelope_check(&in, NULL) == 0, "%s: not valid",
		    variants[i].name);
		if (roundtrip_imsg(&a, &b, &in, &out) == -1) {
			CHECK(0, "%s: transfer failed", variants[i].name);
			continue;
		}
		CHECK(memcmp(&in, &out, sizeof(in)) == 0,
		    "%s: differs after imsg", variants[i].name);
	}
	ipc_clear(&a);
	ipc_clear(&b);
}

static void
test_text_roundtrip(void)
{
	struct envelope	 in, out;
	char		 buf[ENVELOPE_DUMP_MAX];
	const char	*err = NULL;
	size_t		 i;
	int		 n;

	for (i = 0; i < NVARIANTS; i++) {
		sample(&in);
		variants[i].fn(&in);
		n = envelope_dump(&in, buf, sizeof(buf));
		CHECK(n > 0, "%s: dump failed", variants[i].name);
		if (n <= 0)
			continue;
		CHECK((size_t)n == strlen(buf), "%s: length %d",
		    variants[i].name, n);
		CHECK(envelope_load(&out, buf, n, &err) == 0, "%s: load: %s",
		    variants[i].name, err);
		CHECK(memcmp(&in, &out, sizeof(in)) == 0,
		    "%s: differs after text", variants[i].name);
		/* Too small a buffer fails cleanly. */
		CHECK(envelope_dump(&in, buf, n) == -1 && buf[0] == '\0',
		    "%s: dump into %d bytes", variants[i].name, n);
	}
}

static void
test_text_form(void)
{
	struct envelope	 e;
	char		 buf[ENVELOPE_DUMP_MAX];

	sample(&e);
	v_null(&e);
	CHECK(envelope_dump(&e, buf, sizeof(buf)) > 0, "dump");
	CHECK(strncmp(buf, "version: 1\nmsgid: 5f0e1a2b3c4d5e6f\nidx: 7\n",
	    42) == 0, "head: %.60s", buf);
	CHECK(strstr(buf, "\nsender:\nsender-flags: 1\n") != NULL,
	    "null sender: %s", buf);
	CHECK(strstr(buf, "\nrcpt: Postmaster\n") != NULL, "postmaster");
	sample(&e);
	CHECK(envelope_dump(&e, buf, sizeof(buf)) > 0, "dump");
	CHECK(strstr(buf, "\nsender: john@example.com\nsender-flags: 8\n") !=
	    NULL, "quoted sender keeps its flag: %s", buf);
	CHECK(strstr(buf, "\nerror: 451 4.7.1 try again later\n") != NULL,
	    "error line");
}

/* Invalid envelopes are refused by dump (and by check). */
static void
test_dump_refuses(void)
{
	static const struct {
		const char	*name;
		int		 field;
	} bad[] = {
		{ "flags", 0 }, { "notify", 1 }, { "notify never+", 2 },
		{ "ret", 3 }, { "body", 4 }, { "dest", 5 }, { "warned", 6 },
		{ "time", 7 }, { "helo control", 8 }, { "client unterminated", 9 },
		{ "sender postmaster", 10 }, { "rcpt null", 11 },
		{ "domain upper case", 12 }, { "address flags", 13 },
		{ "literal flag missing", 14 }, { "error DEL", 15 },
	};
	struct envelope	 e;
	char		 buf[ENVELOPE_DUMP_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sample(&e);
		switch (bad[i].field) {
		case 0: e.flags = 0x100; break;
		case 1: e.notify = 0x10; break;
		case 2: e.notify = DSN_NOTIFY_NEVER | DSN_NOTIFY_DELAY; break;
		case 3: e.ret = 3; break;
		case 4: e.body = 3; break;
		case 5: e.dest = 3; break;
		case 6: e.warned = 2; break;
		case 7: e.lasttry = -1; break;
		case 8: e.helo[2] = '\t'; break;
		case 9: memset(e.client, 'a', sizeof(e.client)); break;
		case 10: addr(&e.sender, "<Postmaster>",
		    PARSE_ALLOW_POSTMASTER); break;
		case 11: addr(&e.rcpt, "<>", PARSE_ALLOW_NULL); break;
		case 12: e.rcpt.domain[0] = 'M'; break;
		case 13: e.sender.flags |= 0x40; break;
		case 14: addr(&e.sender, "<u@[10.0.0.1]>", 0);
		    e.sender.flags &= ~MAILADDR_LITERAL; break;
		case 15: e.error[0] = 0x7f; break;
		}
		CHECK(envelope_check(&e, NULL) == -1, "%s: check accepts",
		    bad[i].name);
		CHECK(envelope_dump(&e, buf, sizeof(buf)) == -1,
		    "%s: dump accepts", bad[i].name);
	}
}

/* Replace the first occurrence of from by to in s (of size). */
static int
subst(char *s, size_t size, const char *from, const char *to)
{
	char	*p, tmp[ENVELOPE_DUMP_MAX * 2];

	if ((p = strstr(s, from)) == NULL)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - s), s, to,
	    p + strlen(from)) >= (int)sizeof(tmp) || strlen(tmp) >= size)
		return -1;
	strlcpy(s, tmp, size);
	return 0;
}

static void
test_load_refuses(void)
{
	static const struct {
		const char	*from, *to;
	} edits[] = {
		{ "version: 1\n", "version: 2\n" },
		{ "version: 1\n", "version: 01\n" },
		{ "version: 1\n", "" },
		{ "version: 1\n", "Version: 1\n" },
		{ "msgid: 5f0e1a2b3c4d5e6f\n", "msgid: 5F0E1A2B3C4D5E6F\n" },
		{ "msgid: 5f0e1a2b3c4d5e6f\n", "msgid: 5f0e1a2b3c4d5e6\n" },
		{ "msgid: 5f0e1a2b3c4d5e6f\n", "msgid: 05f0e1a2b3c4d5e6f\n" },
		{ "msgid: 5f0e1a2b3c4d5e6f\n", "msgid: 0x5f0e1a2b3c4d5e\n" },
		{ "idx: 7\n", "idx: 07\n" },
		{ "idx: 7\n", "idx: +7\n" },
		{ "idx: 7\n", "idx: -7\n" },
		{ "idx: 7\n", "idx:  7\n" },
		{ "idx: 7\n", "idx: 7 \n" },
		{ "idx: 7\n", "idx:7\n" },
		{ "idx: 7\n", "idx: \n" },
		{ "idx: 7\n", "idx:\n" },
		{ "idx: 7\n", "idx: 4294967296\n" },
		{ "idx: 7\n", "idx: 99999999999999999999999\n" },
		{ "idx: 7\n", "idx: 7\r\n" },
		{ "idx: 7\n", "" },
		{ "idx: 7\n", "idx: 7\nidx: 7\n" },
		{ "idx: 7\nflags", "flags" },
		{ "flags: 13\n", "flags: 13\nextra: 1\n" },
		{ "flags: 13\n", "flags: 256\n" },
		{ "sender: john@example.com\n", "sender: <john@example.com>\n" },
		{ "sender: john@example.com\n", "sender: john@EXAMPLE.com\n" },
		{ "sender: john@example.com\n", "sender: \"john\"@example.com\n" },
		{ "sender: john@example.com\n", "sender: john@\n" },
		{ "sender: john@example.com\n", "sender: Postmaster\n" },
		{ "sender-flags: 8\n", "sender-flags: 9\n" },
		{ "sender-flags: 8\n", "sender-flags: 64\n" },
		{ "rcpt-flags: 48\n", "rcpt-flags: 16\n" },
		{ "rcpt-flags: 48\n", "rcpt-flags: 52\n" },
		{ "notify: 12\n", "notify: 13\n" },
		{ "notify: 12\n", "notify: 16\n" },
		{ "ret: 2\n", "ret: 3\n" },
		{ "body: 1\n", "body: 3\n" },
		{ "dest: 2\n", "dest: 3\n" },
		{ "warned: 1\n", "warned: 2\n" },
		{ "ctime: 1700000000\n", "ctime: -1700000000\n" },
		{ "ctime: 1700000000\n", "ctime: 9223372036854775808\n" },
		{ "helo: [192.0.2.1]\n", "helo: [192.0.2.1]\t\n" },
		{ "helo: [192.0.2.1]\n", "helo: [192.0.2.1]\x7f\n" },
		{ "client: 2001:db8::1\n", "client: "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaa\n" },
		{ "error: 451 4.7.1 try again later\n", "error: 451\n\n" },
		{ "error: 451 4.7.1 try again later\n",
		    "error: 451 4.7.1 try again later" },
		{ "error: 451 4.7.1 try again later\n",
		    "error: 451 4.7.1 try again later\nx" },
	};
	struct envelope	 e, out;
	char		 good[ENVELOPE_DUMP_MAX], buf[ENVELOPE_DUMP_MAX];
	const char	*err;
	size_t		 i, len;
	int		 n;

	sample(&e);
	n = envelope_dump(&e, good, sizeof(good));
	CHECK(n > 0, "dump");
	if (n <= 0)
		return;
	CHECK(strstr(good, "sender-flags: 8\n") != NULL &&
	    strstr(good, "rcpt-flags: 48\n") != NULL &&
	    strstr(good, "flags: 13\n") != NULL &&
	    strstr(good, "notify: 12\n") != NULL, "sample as expected: %s",
	    good);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		strlcpy(buf, good, sizeof(buf));
		if (subst(buf, sizeof(buf), edits[i].from, edits[i].to) == -1) {
			CHECK(0, "edit %zu does not apply", i);
			continue;
		}
		err = NULL;
		CHECK(envelope_load(&out, buf, strlen(buf), &err) == -1,
		    "edit %zu (%s -> %s) accepted", i, edits[i].from,
		    edits[i].to);
		CHECK(out.msgid == 0 && out.rcpt.domain[0] == '\0',
		    "edit %zu: envelope not zeroed", i);
	}
	/* Every proper prefix, and a NUL anywhere. */
	len = n;
	for (i = 0; i < len; i++) {
		CHECK(envelope_load(&out, good, i, NULL) == -1,
		    "prefix of %zu bytes accepted", i);
		memcpy(buf, good, len);
		buf[i] = '\0';
		CHECK(envelope_load(&out, buf, len, NULL) == -1,
		    "NUL at %zu accepted", i);
	}
	/* Each line missing, each line twice, two lines swapped. */
	{
		const char	*p = good, *nl, *nl2;
		size_t		 off, l1, l2;

		for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			off = p - good;
			l1 = nl - p + 1;
			memcpy(buf, good, off);
			memcpy(buf + off, p + l1, len - off - l1);
			CHECK(envelope_load(&out, buf, len - l1, NULL) == -1,
			    "line %.*s missing: accepted", (int)l1 - 1, p);
			memcpy(buf, good, off + l1);
			memcpy(buf + off + l1, p, len - off);
			CHECK(envelope_load(&out, buf, len + l1, NULL) == -1,
			    "line %.*s twice: accepted", (int)l1 - 1, p);
			if ((nl2 = strchr(nl + 1, '\n')) == NULL)
				continue;
			l2 = nl2 - nl;
			memcpy(buf, good, off);
			memcpy(buf + off, nl + 1, l2);
			memcpy(buf + off + l2, p, l1);
			memcpy(buf + off + l1 + l2, nl2 + 1,
			    len - off - l1 - l2);
			CHECK(envelope_load(&out, buf, len, NULL) == -1,
			    "line %.*s swapped: accepted", (int)l1 - 1, p);
		}
	}
	CHECK(envelope_load(&out, good, len, &err) == 0, "good: %s", err);
}

/*
 * A bad envelope on the wire is fatal for the receiver: run the
 * receive in a child and look at how it ended.
 */
static int
child_receives(const struct envelope *in, int raw)
{
	struct ipc	 a, b;
	struct ipc_obuf	*ob;
	struct ipc_msg	 m;
	struct envelope	 out;
	pid_t		 pid;
	int		 status, devnull;

	pair(&a, &b);
	ob = ipc_create(&a, T_TYPE, 42, -1);
	if (raw == 1) {
		/* truncated: the fields stop after the flags */
		ipc_add_u64(ob, in->msgid);
		ipc_add_u32(ob, in->idx);
		ipc_add_u32(ob, in->flags);
	} else if (raw == 2) {
		/* a NULL string for the local part */
		ipc_add_u64(ob, in->msgid);
		ipc_add_u32(ob, in->idx);
		ipc_add_u32(ob, in->flags);
		ipc_add_string(ob, NULL);
	} else if (raw == 3) {
		/* a local part longer than its field */
		ipc_add_u64(ob, in->msgid);
		ipc_add_u32(ob, in->idx);
		ipc_add_u32(ob, in->flags);
		ipc_add_string(ob, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaa");
	} else
		envelope_add(ob, in);
	if (ipc_close(ob) == -1 || ipc_flush(&a) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if ((devnull = open("/dev/null", O_WRONLY)) != -1)
			dup2(devnull, STDERR_FILENO);
		if (ipc_read(&b) <= 0 || ipc_get(&b, &m) != 1)
			_exit(3);
		envelope_get(&m, &out);
		ipc_end(&m);
		_exit(0);
	}
	ipc_clear(&a);
	ipc_clear(&b);
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
test_imsg_refuses(void)
{
	struct envelope	 e;
	int		 i, rc;

	sample(&e);
	CHECK((rc = child_receives(&e, 0)) == 0, "good envelope: exit %d",
	    rc);
	for (i = 1; i <= 3; i++)
		CHECK((rc = child_receives(&e, i)) == 1, "raw %d: exit %d", i,
		    rc);
	for (i = 0; i < 16; i++) {
		sample(&e);
		switch (i) {
		case 0: e.flags = 0x100; break;
		case 1: e.notify = 0x10; break;
		case 2: e.notify = DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS; break;
		case 3: e.ret = 3; break;
		case 4: e.body = 7; break;
		case 5: e.dest = 9; break;
		case 6: e.warned = 5; break;
		case 7: e.nexttry = -5; break;
		case 8: e.helo[0] = '\n'; break;
		case 9: e.user[3] = '\r'; break;
		case 10: addr(&e.sender, "<Postmaster>",
		    PARSE_ALLOW_POSTMASTER); break;
		case 11: addr(&e.rcpt, "<>", PARSE_ALLOW_NULL); break;
		case 12: e.sender.domain[0] = 'E'; break;
		case 13: e.rcpt.flags = 0x80; break;
		case 14: e.rcpt.flags &= ~MAILADDR_UTF8; break;
		case 15: e.envid[0] = 0x1b; break;
		}
		CHECK((rc = child_receives(&e, 0)) == 1, "case %d: exit %d",
		    i, rc);
	}
}

static void
test_set_error(void)
{
	struct envelope	 e;
	char		 big[ENVELOPE_ERROR_MAX * 2];

	sample(&e);
	envelope_set_error(&e, "550 5.1.1 no\r\nsuch\tuser");
	CHECK_STR(e.error, "550 5.1.1 no??such?user");
	CHECK(envelope_check(&e, NULL) == 0, "valid after set_error");
	fill(big, sizeof(big), 'z');
	envelope_set_error(&e, big);
	CHECK(strlen(e.error) == ENVELOPE_ERROR_MAX, "truncated to %zu",
	    strlen(e.error));
}

int
main(void)
{
	log_init(1, 0);
	log_procname("test");
	RUN(test_imsg_roundtrip);
	RUN(test_text_roundtrip);
	RUN(test_text_form);
	RUN(test_dump_refuses);
	RUN(test_load_refuses);
	RUN(test_imsg_refuses);
	RUN(test_set_error);
	return unit_done();
}
