/*
 * Portcullis: the SMTP command line parser (RFC 5321 §4.1).  Pure: no
 * I/O, no state, so that it is unit tested and fuzzed on its own.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

static const struct {
	enum smtp_verb	 verb;
	const char	*word;		/* the verb as sent */
	const char	*sub;		/* "FROM:" after "MAIL ", or NULL */
	const char	*name;
} verbs[] = {
	{ CMD_HELO,	"HELO",		NULL,		"HELO" },
	{ CMD_EHLO,	"EHLO",		NULL,		"EHLO" },
	{ CMD_STARTTLS,	"STARTTLS",	NULL,		"STARTTLS" },
	{ CMD_AUTH,	"AUTH",		NULL,		"AUTH" },
	{ CMD_MAIL,	"MAIL",		"FROM:",	"MAIL FROM" },
	{ CMD_RCPT,	"RCPT",		"TO:",		"RCPT TO" },
	{ CMD_DATA,	"DATA",		NULL,		"DATA" },
	{ CMD_BDAT,	"BDAT",		NULL,		"BDAT" },
	{ CMD_RSET,	"RSET",		NULL,		"RSET" },
	{ CMD_VRFY,	"VRFY",		NULL,		"VRFY" },
	{ CMD_EXPN,	"EXPN",		NULL,		"EXPN" },
	{ CMD_HELP,	"HELP",		NULL,		"HELP" },
	{ CMD_NOOP,	"NOOP",		NULL,		"NOOP" },
	{ CMD_QUIT,	"QUIT",		NULL,		"QUIT" },
};

int
smtp_cmd_parse(char *line, struct smtp_cmd *cmd, const char **err)
{
	size_t	 wlen, slen, i;
	char	*p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = CMD_UNKNOWN;
	cmd->name = "unknown";
	cmd->args = "";
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*err = "control character in command";
			return -1;
		}
	wlen = strcspn(line, " ");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].word) != wlen ||
		    strncasecmp(line, verbs[i].word, wlen) != 0)
			continue;
		cmd->verb = verbs[i].verb;
		cmd->name = verbs[i].name;
		p = line + wlen;
		if (verbs[i].sub == NULL) {
			if (*p == ' ')
				p++;
			cmd->args = p;
			return 0;
		}
		slen = strlen(verbs[i].sub);
		if (*p != ' ' || strncasecmp(p + 1, verbs[i].sub, slen) != 0) {
			*err = cmd->verb == CMD_MAIL ?
			    "Syntax: MAIL FROM:<address>" :
			    "Syntax: RCPT TO:<address>";
			return -1;
		}
		p += 1 + slen;
		/* "MAIL FROM: <a>" is common enough to be accepted */
		while (*p == ' ')
			p++;
		cmd->args = p;
		return 0;
	}
	*err = "Command unrecognized";
	return -1;
}

int
smtp_bdat_parse(const char *args, uint64_t *size, int *last)
{
	const char	*p = args;
	uint64_t	 n = 0;
	int		 digits = 0;

	*last = 0;
	while (*p >= '0' && *p <= '9') {
		if (n > (UINT64_MAX - 9) / 10 || ++digits > 19)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (digits == 0)
		return -1;
	if (*p == ' ') {
		p++;
		if (strcasecmp(p, "LAST") != 0)
			return -1;
		*last = 1;
	} else if (*p != '\0')
		return -1;
	*size = n;
	return 0;
}
