/*
 * Portcullis: the POP3 command parser and the message writer (pop3.h).
 * Pure: no I/O, no state outside the structures passed in.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

static const struct {
	const char	*name;
	enum pop3_verb	 verb;
} verbs[] = {
	{ "CAPA", P3_CAPA },
	{ "STLS", P3_STLS },
	{ "USER", P3_USER },
	{ "PASS", P3_PASS },
	{ "APOP", P3_APOP },
	{ "AUTH", P3_AUTH },
	{ "STAT", P3_STAT },
	{ "LIST", P3_LIST },
	{ "UIDL", P3_UIDL },
	{ "RETR", P3_RETR },
	{ "TOP", P3_TOP },
	{ "DELE", P3_DELE },
	{ "RSET", P3_RSET },
	{ "NOOP", P3_NOOP },
	{ "QUIT", P3_QUIT },
};

/* 1*DIGIT, at most POP3_ARG_MAX of them, into *v (<= UINT32_MAX). */
static int
parse_num(const char *p, size_t len, uint32_t *v)
{
	uint64_t	 n = 0;
	size_t		 i;

	if (len == 0 || len > POP3_ARG_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(p[i] - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	*v = (uint32_t)n;
	return 0;
}

/*
 * Up to max numbers separated by single spaces, the whole of args.
 * Returns how many, or -1.
 */
static int
parse_nums(const char *args, uint32_t *v, int max)
{
	const char	*p = args, *sp;
	int		 n = 0;

	if (*p == '\0')
		return 0;
	for (;;) {
		if (n == max)
			return -1;
		sp = strchr(p, ' ');
		if (parse_num(p, sp != NULL ? (size_t)(sp - p) : strlen(p),
		    &v[n]) == -1)
			return -1;
		n++;
		if (sp == NULL)
			return n;
		p = sp + 1;
	}
}

int
pop3_cmd_parse(char *line, struct pop3_cmd *cmd, const char **err)
{
	const char	*args;
	size_t		 klen, i;
	int		 n;

	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = P3_UNKNOWN;
	cmd->name = "";
	cmd->arg = "";
	klen = strcspn(line, " ");
	if (line[klen] == ' ')
		args = line + klen + 1;
	else
		args = line + klen;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == klen &&
		    strncasecmp(line, verbs[i].name, klen) == 0) {
			cmd->verb = verbs[i].verb;
			cmd->name = verbs[i].name;
			break;
		}
	}
	if (cmd->verb == P3_UNKNOWN)
		return 0;
	/* a keyword followed by a space takes an argument */
	if (line[klen] == ' ' && *args == '\0' && cmd->verb != P3_PASS) {
		*err = "Syntax error: a space without an argument";
		return -1;
	}
	switch (cmd->verb) {
	case P3_UNKNOWN:
	case P3_CAPA:
	case P3_STLS:
	case P3_STAT:
	case P3_RSET:
	case P3_NOOP:
	case P3_QUIT:
		if (*args != '\0') {
			*err = "Syntax error: no argument expected";
			return -1;
		}
		return 0;
	case P3_USER:
		if (*args == '\0') {
			*err = "Syntax: USER name";
			return -1;
		}
		cmd->arg = args;
		return 0;
	case P3_PASS:
		if (line[klen] != ' ') {
			*err = "Syntax: PASS password";
			return -1;
		}
		cmd->arg = args;
		return 0;
	case P3_APOP:
	case P3_AUTH:
		cmd->arg = args;
		return 0;
	case P3_LIST:
	case P3_UIDL:
		if ((n = parse_nums(args, cmd->num, 1)) == -1 ||
		    (n == 1 && cmd->num[0] == 0)) {
			*err = "Invalid message number";
			return -1;
		}
		cmd->nargs = n;
		return 0;
	case P3_RETR:
	case P3_DELE:
		if ((n = parse_nums(args, cmd->num, 1)) != 1 ||
		    cmd->num[0] == 0) {
			*err = n == 0 ? (cmd->verb == P3_RETR ?
			    "Syntax: RETR msg" : "Syntax: DELE msg") :
			    "Invalid message number";
			return -1;
		}
		cmd->nargs = 1;
		return 0;
	case P3_TOP:
		if ((n = parse_nums(args, cmd->num, 2)) != 2 ||
		    cmd->num[0] == 0) {
			*err = n == 2 ? "Invalid message number" :
			    "Syntax: TOP msg n";
			return -1;
		}
		cmd->nargs = 2;
		return 0;
	}
	return 0;
}

void
pop3_out_init(struct pop3_out *o, int top, uint64_t lines)
{
	memset(o, 0, sizeof(*o));
	o->bol = 1;
	o->top = top;
	o->left = lines;
}

size_t
pop3_out_conv(struct pop3_out *o, const char *in, size_t n, char *out,
    size_t *used)
{
	size_t	 i, w = 0;
	char	 c;

	for (i = 0; i < n; i++) {
		c = in[i];
		if (o->bol) {
			if (o->top && o->body && o->left == 0) {
				o->done = 1;
				break;
			}
			if (c == '.')
				out[w++] = '.';
			o->blank = 1;
		}
		if (c == '\n') {
			if (!o->cr)
				out[w++] = '\r';
			out[w++] = '\n';
			if (!o->body) {
				if (o->blank)	/* the header's end */
					o->body = 1;
			} else if (o->top)
				o->left--;
			o->bol = 1;
			o->cr = 0;
			continue;
		}
		out[w++] = c;
		o->bol = 0;
		o->cr = (c == '\r');
		if (c != '\r')
			o->blank = 0;
	}
	*used = i;
	return w;
}

size_t
pop3_out_end(struct pop3_out *o, char *out)
{
	size_t	 w = 0;

	if (!o->bol) {
		if (!o->cr)
			out[w++] = '\r';
		out[w++] = '\n';
	}
	memcpy(out + w, ".\r\n", 3);
	return w + 3;
}

uint64_t
pop3_crlf_size(const char *p, size_t n, int *cr)
{
	uint64_t	 add = n;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && !*cr)
			add++;
		*cr = (p[i] == '\r');
	}
	return add;
}

void
pop3_uid(const char *name, size_t len, char *uid)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	size_t		 i;
	int		 ok = len > 0 && len <= POP3_UID_MAX;

	for (i = 0; ok && i < len; i++)
		if ((unsigned char)name[i] < 0x21 ||
		    (unsigned char)name[i] > 0x7e)
			ok = 0;
	if (ok) {
		memcpy(uid, name, len);
		uid[len] = '\0';
		return;
	}
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	(void)snprintf(uid, POP3_UID_MAX + 1, "~%016llx",
	    (unsigned long long)h);
}
