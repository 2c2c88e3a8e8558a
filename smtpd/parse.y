/*
 * Portcullis: the smtpd.conf(5) grammar.
 *
 * OpenBSD layout: a stack of files for "include", macros ("name =
 * value", $name, -D name=value), a sorted keyword table searched with
 * bsearch(3), every error reported as "FILE:LINE: message" and counted;
 * parsing goes on after an error so that one run shows them all.
 * Tables must be defined before they are used, and so must pki names and
 * the secrets tables that hold credentials labels.  The values and the
 * checks that need the whole file live in config.c.
 */

%{
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define LEX_WORD_MAX	8192

struct file {
	TAILQ_ENTRY(file)	 entry;
	FILE			*stream;
	const char		*name;		/* owned by the config */
	int			 lineno;
	dev_t			 dev;
	ino_t			 ino;
};
static TAILQ_HEAD(files_head, file) files = TAILQ_HEAD_INITIALIZER(files);
static struct file	*file;

struct sym {
	TAILQ_ENTRY(sym)	 entry;
	int			 persist;	/* -D: kept across parses */
	char			*nam;
	char			*val;
};
static TAILQ_HEAD(, sym) symhead = TAILQ_HEAD_INITIALIZER(symhead);

/* Every string the lexer hands out; freed when the parse ends. */
struct lexstr {
	SLIST_ENTRY(lexstr)	 entry;
	char			 s[];
};
static SLIST_HEAD(, lexstr) lexstrs = SLIST_HEAD_INITIALIZER(lexstrs);

static int		 yylex(void);
int			 yyparse(void);
static void		 yyerror(const char *, ...)
			    __attribute__((__format__ (printf, 1, 2)));
static void		 errat(int, const char *, ...)
			    __attribute__((__format__ (printf, 2, 3)));
static void		 warnat(int, const char *, ...)
			    __attribute__((__format__ (printf, 2, 3)));
static int		 symset(const char *, const char *, int);
static char		*symget(const char *);
static struct file	*pushfile(const char *, int);
static int		 popfile(void);
static int		 kw_cmp(const void *, const void *);
static int		 lookup(const char *);

static struct config	*conf;

/* Statements that may be given once: where they were. */
enum once {
	ONCE_HOSTNAME, ONCE_SPOOL, ONCE_CTLSOCKET, ONCE_CTLGROUP,
	ONCE_RESOLVER, ONCE_MXPORT, ONCE_AUTHENTICATE, ONCE_CONN_IP,
	ONCE_MSGS_IP, ONCE_MSGS_USER, ONCE_RCPTS, ONCE_UNKNOWN_RCPTS,
	ONCE_FAILED_CMDS, ONCE_AUTH_FAILURES, ONCE_MSGSIZE, ONCE_EXEMPT,
	ONCE_REJECT_USD, ONCE_SPF, ONCE_SENDERID, ONCE_SPAMD, ONCE_RETRY,
	ONCE_WARNAFTER, ONCE_BOUNCEAFTER, ONCE_DELIVERIES, ONCE_MAX
};
static struct {
	const char	*file;
	int		 line;
} once[ONCE_MAX];
static int		 set_once(enum once, int, const char *);

/* The statement being parsed. */
static struct {
	int		 flags;
	int		 port;
	int		 port_line;
	char		 pki[CONFIG_NAME_MAX];
	int		 seen;		/* LISTEN_* given, for "given twice" */
	int		 pki_seen;
} lopts;
static struct accept_rule	 acc;
static struct relay_rule	 rrule;
static struct delivery_rule	*rule;	/* the delivery block, or NULL */
static int		 rule_line;		/* where the block starts */
static int		 rule_relay_line;
static int		 rule_always_line;
static struct {					/* the first enabled always rule */
	char		 name[CONFIG_NAME_MAX];
	const char	*file;
	int		 line;
} always;
static struct match_cond *last_match;	/* of the match line */
static int		 pop3_ctx;	/* port/host after pop3|pop3s */
static struct {
	int		 port, pop3_port, host, tls, auth, pop3, cred;
	int		 insecure;
} rseen;
static struct table	*curtable;
static int		 curtable_bad;	/* an entry was refused */
static struct spamd_check spamd;
static int		 spamd_seen;
static int		 nretry;
static time_t		 retry[CONFIG_RETRY_MAX];
static int		 retry_overflow;

/* Lexer state. */
static char		*pending_include;	/* pushed after its '\n' */
static int		 pending_line;
static int		 last_token = '\n';
static int		 first_token;		/* of the current line */
static int		 first_line;
static int		 line_ntokens;
static int		 lex_error_line;	/* no syntax error there too */
static int		 second_token;
static char		 first_word[64];
static int		 expanding;
static unsigned char	 pbbuf[LEX_WORD_MAX];
static int		 pbpos;

static void		 listen_add(const char *, int);
static void		 accept_domain(const char *, int);
static void		 relay_line_done(int);
static void		 auth_method(int);
static void		 rule_done(void);
static void		 rule_free(struct delivery_rule *);
static int		 check_name(const char *, const char *, int);
static int		 check_path(const char *, const char *, int, int);
static int		 parse_lmtp(const char *, struct accept_rule *, int);
static void		 final_checks(void);

typedef struct {
	union {
		long long	 number;
		char		*string;
		struct table	*table;
		time_t		 duration;
		size_t		 size;
	} v;
	int lineno;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

%}

%token	ACCEPT ALLOW ALWAYS ANY AUTH AUTHFAILURES AUTHINSECURE AUTHREQUIRE
%token	AUTHENTICATE AUTHENTICATED BLOCK BOUNCEAFTER CERT CHECK CONNECTIONS
%token	CONTROL CRAMMD5 CREDENTIALS DELIVER DELIVERIES DELIVERY DISABLED
%token	DOMAIN EXEMPT FAILEDCOMMANDS TFILE FOR FROM GROUP HOST HOSTNAME
%token	INCLUDE INSECURE KEY LIMIT LISTEN LMTP LOGIN MAILDIR MATCH
%token	MESSAGESIZE MESSAGES MX NOVERIFY ON ONERROR PERDOMAIN PERIP
%token	PERMESSAGE PERSESSION PERUSER PKI PLAIN POP3 POP3BEFORESMTP
%token	POP3LOGIN POP3S PORT QUEUE RECIPIENT RECIPIENTS REJECT REJECTABOVE
%token	REJECTFAIL RELAY RESOLVER RETRY SENDER SENDERID SMTPS SOCKET SPAMD
%token	SPF SPOOL TABLE TAG TAGABOVE TEMPFAIL TIMEOUT TLS TLSREQUIRE
%token	UNKNOWNRECIPIENTS UNKNOWNSENDERDOMAIN WARNAFTER WITHIN
%token	<v.string>	STRING
%token	<v.number>	NUMBER
%type	<v.number>	port number optdisabled score onerror checkmode
%type	<v.duration>	duration
%type	<v.size>	size
%type	<v.table>	tableref

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar delivery '\n'
		| grammar error '\n'
		;

include		: INCLUDE STRING {
			free(pending_include);
			if ((pending_include = strdup($2)) == NULL)
				errat($<lineno>1, "out of memory");
			pending_line = $<lineno>1;
		}
		;

varset		: STRING '=' STRING {
			const char *p;

			for (p = $1; *p != '\0'; p++)
				if (!isalnum((unsigned char)*p) && *p != '_')
					break;
			if (*p != '\0' || isdigit((unsigned char)*$1))
				errat($<lineno>1, "invalid macro name \"%s\": "
				    "use letters, digits and '_'", $1);
			else if (symset($1, $3, 0) == -1)
				errat($<lineno>1, "out of memory");
		}
		;

number		: NUMBER {
			if ($1 < 1 || $1 > 1000000) {
				errat($<lineno>1, "invalid number %lld: want 1 "
				    "to 1000000", $1);
				$$ = 1;
			} else
				$$ = $1;
		}
		;

port		: PORT NUMBER {
			if ($2 < 1 || $2 > 65535) {
				errat($<lineno>2, "invalid port %lld: want 1 "
				    "to 65535", $2);
				$$ = 1;
			} else
				$$ = $2;
		}
		;

duration	: STRING {
			char err[256];

			if (parse_duration($1, &$$, err, sizeof(err)) == -1) {
				errat($<lineno>1, "%s", err);
				$$ = 1;
			}
		}
		| NUMBER {
			errat($<lineno>1, "invalid duration \"%lld\": use a "
			    "number followed by s, m, h or d (30s 15m 4h 5d)",
			    $1);
			$$ = 1;
		}
		;

size		: STRING {
			char err[256];

			if (parse_size($1, &$$, err, sizeof(err)) == -1) {
				errat($<lineno>1, "%s", err);
				$$ = 1;
			}
		}
		| NUMBER {
			if ($1 < 1 || $1 > 4LL * 1024 * 1024 * 1024) {
				errat($<lineno>1, "invalid size \"%lld\": want "
				    "1 byte to 4G", $1);
				$$ = 1;
			} else
				$$ = (size_t)$1;
		}
		;

score		: STRING {
			char	err[256];
			int	s;

			if (parse_score($1, &s, err, sizeof(err)) == -1) {
				errat($<lineno>1, "%s", err);
				s = 0;
			}
			$$ = s;
		}
		| NUMBER {
			if ($1 < 0 || $1 > 1000) {
				errat($<lineno>1, "invalid score \"%lld\": "
				    "want 0 to 1000", $1);
				$$ = 0;
			} else
				$$ = $1 * 100;
		}
		;

tableref	: '<' STRING '>' {
			if (($$ = config_table(conf, $2)) == NULL)
				errat($<lineno>2, "unknown table <%s>", $2);
		}
		;

main		: HOSTNAME STRING {
			if (set_once(ONCE_HOSTNAME, $<lineno>1, "hostname"))
				break;
			if (!valid_hostname($2))
				errat($<lineno>2, "invalid hostname \"%s\"", $2);
			else
				(void)strlcpy(conf->hostname, $2,
				    sizeof(conf->hostname));
		}
		| SPOOL STRING {
			if (set_once(ONCE_SPOOL, $<lineno>1, "spool"))
				break;
			if (check_path("spool", $2, $<lineno>2,
			    sizeof(conf->spool)) == 0)
				(void)strlcpy(conf->spool, $2,
				    sizeof(conf->spool));
		}
		| CONTROL SOCKET STRING {
			struct sockaddr_un sun;

			if (set_once(ONCE_CTLSOCKET, $<lineno>1,
			    "control socket"))
				break;
			if (check_path("control socket", $3, $<lineno>3,
			    sizeof(sun.sun_path)) == 0) {
				(void)strlcpy(conf->control_socket, $3,
				    sizeof(conf->control_socket));
				conf->control_file = file->name;
				conf->control_line = $<lineno>1;
			}
		}
		| CONTROL GROUP STRING {
			const char *p;

			if (set_once(ONCE_CTLGROUP, $<lineno>1,
			    "control group"))
				break;
			for (p = $3; *p != '\0'; p++)
				if (!isalnum((unsigned char)*p) &&
				    strchr("_.-", *p) == NULL)
					break;
			if (*p != '\0' || *$3 == '\0' || *$3 == '-' ||
			    strlen($3) >= sizeof(conf->control_group))
				errat($<lineno>3, "invalid group name \"%s\"",
				    $3);
			else {
				(void)strlcpy(conf->control_group, $3,
				    sizeof(conf->control_group));
				if (conf->control_file == NULL) {
					conf->control_file = file->name;
					conf->control_line = $<lineno>1;
				}
			}
		}
		| RESOLVER STRING optresolverport {
			if (set_once(ONCE_RESOLVER, $<lineno>1, "resolver"))
				break;
			if (parse_listen_addr($2, &conf->resolver,
			    &conf->resolver_len, conf->resolver_port) == -1)
				errat($<lineno>2, "invalid resolver address "
				    "\"%s\": want an IPv4 or IPv6 address", $2);
			else
				conf->resolver_set = 1;
		}
		| MX port {
			if (set_once(ONCE_MXPORT, $<lineno>1, "mx port"))
				break;
			conf->mx_port = (in_port_t)$2;
		}
		| TABLE STRING {
			struct table *t;

			curtable = NULL;
			curtable_bad = 0;
			if (check_name("table", $2, $<lineno>2) == -1)
				;
			else if ((t = config_table(conf, $2)) != NULL)
				errat($<lineno>2, "table <%s> is already "
				    "defined at %s:%d", $2, t->file, t->line);
			else if ((curtable = table_new($2)) == NULL)
				errat($<lineno>2, "out of memory");
			else {
				curtable->file = file->name;
				curtable->line = $<lineno>1;
			}
		} tabledef {
			if (curtable != NULL)
				TAILQ_INSERT_TAIL(&conf->tables, curtable,
				    entry);
			curtable = NULL;
		}
		| PKI STRING CERT STRING KEY STRING {
			struct pki	*p;
			struct stat	 st;
			int		 bad = 0;

			if (check_name("pki", $2, $<lineno>2) == -1)
				break;
			if ((p = config_pki(conf, $2)) != NULL) {
				errat($<lineno>2, "pki %s is already defined "
				    "at %s:%d", $2, p->file, p->line);
				break;
			}
			if (stat($4, &st) == -1) {
				errat($<lineno>4, "pki %s: certificate \"%s\": "
				    "%s", $2, $4, strerror(errno));
				bad = 1;
			} else if (!S_ISREG(st.st_mode)) {
				errat($<lineno>4, "pki %s: certificate \"%s\" "
				    "is not a regular file", $2, $4);
				bad = 1;
			}
			if (stat($6, &st) == -1) {
				errat($<lineno>6, "pki %s: key \"%s\": %s", $2,
				    $6, strerror(errno));
				bad = 1;
			} else if (!S_ISREG(st.st_mode)) {
				errat($<lineno>6, "pki %s: key \"%s\" is not a "
				    "regular file", $2, $6);
				bad = 1;
			} else if (st.st_mode & S_IRWXO) {
				errat($<lineno>6, "pki %s: key \"%s\" must not "
				    "be accessible by others (mode %04o): chmod "
				    "o-rwx it", $2, $6,
				    (unsigned int)(st.st_mode & 07777));
				bad = 1;
			}
			if (strlen($4) >= sizeof(p->cert) ||
			    strlen($6) >= sizeof(p->key)) {
				errat($<lineno>1, "pki %s: path too long", $2);
				bad = 1;
			}
			if (bad)
				break;
			if ((p = calloc(1, sizeof(*p))) == NULL) {
				errat($<lineno>1, "out of memory");
				break;
			}
			(void)strlcpy(p->name, $2, sizeof(p->name));
			(void)strlcpy(p->cert, $4, sizeof(p->cert));
			(void)strlcpy(p->key, $6, sizeof(p->key));
			p->file = file->name;
			p->line = $<lineno>1;
			TAILQ_INSERT_TAIL(&conf->pkis, p, entry);
		}
		| LISTEN ON STRING {
			memset(&lopts, 0, sizeof(lopts));
		} listenopts {
			listen_add($3, $<lineno>1);
		}
		| AUTHENTICATE tableref {
			if (set_once(ONCE_AUTHENTICATE, $<lineno>1,
			    "authenticate"))
				break;
			if ($2 == NULL || !table_fits($2, ENTRY_CREDENTIALS,
			    "authenticate", file->name, $<lineno>1))
				break;
			conf->authenticate = $2;
			conf->auth_file = file->name;
			conf->auth_line = $<lineno>1;
		}
		| ACCEPT FOR DOMAIN {
			memset(&acc, 0, sizeof(acc));
			acc.file = file->name;
			acc.line = $<lineno>1;
		} domainspec acceptopts {
			struct accept_rule *a;

			if (acc.line == -1)
				break;
			if ((a = calloc(1, sizeof(*a))) == NULL) {
				errat($<lineno>1, "out of memory");
				break;
			}
			*a = acc;
			TAILQ_INSERT_TAIL(&conf->accepts, a, entry);
		}
		| RELAY ALLOW {
			memset(&rrule, 0, sizeof(rrule));
			rrule.file = file->name;
			rrule.line = $<lineno>1;
		} relayconds {
			struct relay_rule *r;

			if (rrule.line == -1)
				break;
			if (rrule.flags == 0) {
				errat($<lineno>1, "relay allow needs a "
				    "condition: from <table>, authenticated, "
				    "pop3-login within T, or any");
				break;
			}
			if ((rrule.flags & RELAY_ANY) &&
			    rrule.flags != RELAY_ANY) {
				errat($<lineno>1, "relay allow any cannot be "
				    "combined with other conditions");
				break;
			}
			if (rrule.flags & RELAY_ANY)
				warnat($<lineno>1, "relay allow any makes this "
				    "an open relay: anyone may send mail "
				    "anywhere through it");
			if ((r = calloc(1, sizeof(*r))) == NULL) {
				errat($<lineno>1, "out of memory");
				break;
			}
			*r = rrule;
			TAILQ_INSERT_TAIL(&conf->relays, r, entry);
		}
		| LIMIT limit
		| REJECT UNKNOWNSENDERDOMAIN {
			if (set_once(ONCE_REJECT_USD, $<lineno>1,
			    "reject unknown-sender-domain"))
				break;
			conf->reject_unknown_sender_domain = 1;
		}
		| CHECK SPF checkmode {
			if (set_once(ONCE_SPF, $<lineno>1, "check spf"))
				break;
			conf->check_spf = $3;
		}
		| CHECK SENDERID checkmode {
			if (set_once(ONCE_SENDERID, $<lineno>1,
			    "check sender-id"))
				break;
			conf->check_senderid = $3;
		}
		| CHECK SPAMD STRING {
			memset(&spamd, 0, sizeof(spamd));
			spamd.port = DEFAULT_SPAMD_PORT;
			spamd.tag_above = spamd.reject_above = -1;
			spamd.timeout = DEFAULT_SPAMD_TIMEOUT;
			spamd.file = file->name;
			spamd.line = $<lineno>1;
			spamd_seen = 0;
		} spamdopts {
			char a[16], b[16];

			if (set_once(ONCE_SPAMD, $<lineno>1, "check spamd"))
				break;
			if (parse_listen_addr($3, &spamd.ss, &spamd.sslen,
			    spamd.port) == -1) {
				errat($<lineno>3, "invalid spamd address "
				    "\"%s\": want an IPv4 or IPv6 address", $3);
				break;
			}
			if (spamd.tag_above == -1 && spamd.reject_above == -1) {
				errat($<lineno>1, "check spamd needs tag-above "
				    "or reject-above");
				break;
			}
			if (spamd.tag_above != -1 &&
			    spamd.reject_above != -1 &&
			    spamd.reject_above < spamd.tag_above) {
				errat($<lineno>1, "check spamd: reject-above "
				    "%s is below tag-above %s",
				    fmt_score(spamd.reject_above, a, sizeof(a)),
				    fmt_score(spamd.tag_above, b, sizeof(b)));
				break;
			}
			spamd.enabled = 1;
			conf->spamd = spamd;
		}
		| QUEUE queue
		;

optresolverport	: /* empty */		{ conf->resolver_port = 53; }
		| port			{ conf->resolver_port = (in_port_t)$1; }
		;

checkmode	: REJECTFAIL		{ $$ = CHECK_REJECT_FAIL; }
		| TAG			{ $$ = CHECK_TAG; }
		;

tabledef	: '{' tableitems '}' {
			if (curtable != NULL && curtable->count == 0 &&
			    !curtable_bad)
				errat($<lineno>1, "table <%s> has no entries",
				    curtable->name);
		}
		| TFILE STRING {
			if (curtable == NULL)
				break;
			curtable->source = TABLE_FILE;
			if (strlcpy(curtable->path, $2,
			    sizeof(curtable->path)) >= sizeof(curtable->path)) {
				errat($<lineno>2, "table <%s>: path too long",
				    curtable->name);
			} else
				(void)table_load(conf, curtable, file->name,
				    curtable->line);
			/* A table with errors stays defined: no cascade of
			 * "unknown table" errors; the parse fails anyway. */
		}
		;

tableitems	: /* empty */
		| tableitems '\n'
		| tableitems tableitem optcomma
		;

optcomma	: /* empty */
		| ','
		;

tableitem	: STRING {
			char err[512];

			if (curtable != NULL && table_add_string(curtable, $1,
			    0, err, sizeof(err)) == -1) {
				errat($<lineno>1, "table <%s>: %s",
				    curtable->name, err);
				curtable_bad = 1;
			}
		}
		| NUMBER {
			curtable_bad = 1;
			if (curtable != NULL)
				errat($<lineno>1, "table <%s>: invalid table "
				    "entry \"%lld\": not an IP address, network, "
				    "domain or mail address", curtable->name,
				    $1);
		}
		;

listenopts	: /* empty */
		| listenopts listenopt
		;

listenopt	: port {
			if (lopts.port_line != 0)
				errat($<lineno>1, "listen: port given twice");
			lopts.port = (int)$1;
			lopts.port_line = $<lineno>1;
		}
		| TLS			{ lopts.seen |= LISTEN_TLS; }
		| TLSREQUIRE		{ lopts.seen |= LISTEN_TLS_REQUIRE; }
		| SMTPS			{ lopts.seen |= LISTEN_SMTPS; }
		| POP3			{ lopts.seen |= LISTEN_POP3; }
		| POP3S			{ lopts.seen |= LISTEN_POP3S; }
		| AUTHREQUIRE		{ lopts.seen |= LISTEN_AUTH_REQUIRE; }
		| AUTHINSECURE		{ lopts.seen |= LISTEN_AUTH_INSECURE; }
		| PKI STRING {
			if (lopts.pki_seen)
				errat($<lineno>1, "listen: pki given twice");
			lopts.pki_seen = 1;
			if (config_pki(conf, $2) == NULL)
				errat($<lineno>2, "unknown pki %s", $2);
			else
				(void)strlcpy(lopts.pki, $2, sizeof(lopts.pki));
		}
		;

domainspec	: tableref {
			if ($1 == NULL)
				acc.line = -1;
			else if (!table_fits($1, ENTRY_DOMAIN,
			    "accept for domain", file->name, acc.line))
				acc.line = -1;
			else {
				const struct table_entry *e;

				acc.domains = $1;
				TAILQ_FOREACH(e, &$1->entries, entry)
					accept_domain(e->key, $<lineno>1);
			}
		}
		| STRING {
			char *p;

			if (!valid_domain($1)) {
				errat($<lineno>1, "invalid domain \"%s\"", $1);
				acc.line = -1;
				break;
			}
			for (p = $1; *p != '\0'; p++)
				*p = (char)tolower((unsigned char)*p);
			(void)strlcpy(acc.domain, $1, sizeof(acc.domain));
			accept_domain(acc.domain, $<lineno>1);
		}
		;

acceptopts	: /* empty */
		| acceptopts acceptopt
		;

acceptopt	: RECIPIENTS tableref {
			if (acc.recipients != NULL) {
				errat($<lineno>1, "accept: recipients given "
				    "twice");
				acc.line = -1;
			} else if ($2 == NULL)
				acc.line = -1;
			else if (!table_fits($2, ENTRY_ADDRESS, "recipients",
			    file->name, $<lineno>1))
				acc.line = -1;
			else
				acc.recipients = $2;
		}
		| DELIVER MAILDIR STRING {
			char err[512];

			if (acc.deliver != ACCEPT_RELAY) {
				errat($<lineno>1, "accept: deliver given "
				    "twice");
				acc.line = -1;
			} else if (valid_template($3, err, sizeof(err)) ==
			    -1) {
				errat($<lineno>3, "%s", err);
				acc.line = -1;
			} else if (strlcpy(acc.maildir, $3,
			    sizeof(acc.maildir)) >= sizeof(acc.maildir)) {
				errat($<lineno>3, "maildir template too long");
				acc.line = -1;
			} else
				acc.deliver = ACCEPT_MAILDIR;
		}
		| DELIVER LMTP STRING {
			if (acc.deliver != ACCEPT_RELAY) {
				errat($<lineno>1, "accept: deliver given "
				    "twice");
				acc.line = -1;
			} else if (parse_lmtp($3, &acc, $<lineno>3) == -1)
				acc.line = -1;
			else
				acc.deliver = ACCEPT_LMTP;
		}
		;

relayconds	: /* empty */
		| relayconds relaycond
		;

relaycond	: ANY {
			if (rrule.flags & RELAY_ANY) {
				errat($<lineno>1, "relay allow: any given "
				    "twice");
				rrule.line = -1;
			}
			rrule.flags |= RELAY_ANY;
		}
		| FROM tableref {
			if (rrule.flags & RELAY_FROM) {
				errat($<lineno>1, "relay allow: from given "
				    "twice");
				rrule.line = -1;
			} else if ($2 == NULL)
				rrule.line = -1;
			else if (!table_fits($2, ENTRY_NET,
			    "relay allow from", file->name, $<lineno>1))
				rrule.line = -1;
			rrule.flags |= RELAY_FROM;
			rrule.from = $2;
		}
		| AUTHENTICATED {
			if (rrule.flags & RELAY_AUTHENTICATED) {
				errat($<lineno>1, "relay allow: authenticated "
				    "given twice");
				rrule.line = -1;
			}
			rrule.flags |= RELAY_AUTHENTICATED;
		}
		| POP3LOGIN WITHIN duration {
			if (rrule.flags & RELAY_POP3_LOGIN) {
				errat($<lineno>1, "relay allow: pop3-login "
				    "given twice");
				rrule.line = -1;
			}
			rrule.flags |= RELAY_POP3_LOGIN;
			rrule.pop3_within = $3;
		}
		;

limit		: CONNECTIONS number PERIP {
			if (set_once(ONCE_CONN_IP, $<lineno>1,
			    "limit connections"))
				break;
			conf->limits.conn_per_ip = (int)$2;
		}
		| MESSAGES number PERIP WITHIN duration {
			if (set_once(ONCE_MSGS_IP, $<lineno>1,
			    "limit messages per-ip"))
				break;
			conf->limits.msgs_per_ip = (int)$2;
			conf->limits.msgs_per_ip_within = $5;
		}
		| MESSAGES number PERUSER WITHIN duration {
			if (set_once(ONCE_MSGS_USER, $<lineno>1,
			    "limit messages per-user"))
				break;
			conf->limits.msgs_per_user = (int)$2;
			conf->limits.msgs_per_user_within = $5;
		}
		| RECIPIENTS number PERMESSAGE {
			if (set_once(ONCE_RCPTS, $<lineno>1,
			    "limit recipients"))
				break;
			conf->limits.rcpts_per_msg = (int)$2;
		}
		| UNKNOWNRECIPIENTS number PERSESSION {
			if (set_once(ONCE_UNKNOWN_RCPTS, $<lineno>1,
			    "limit unknown-recipients"))
				break;
			conf->limits.unknown_rcpts_per_session = (int)$2;
		}
		| FAILEDCOMMANDS number PERSESSION {
			if (set_once(ONCE_FAILED_CMDS, $<lineno>1,
			    "limit failed-commands"))
				break;
			conf->limits.failed_cmds_per_session = (int)$2;
		}
		| AUTHFAILURES number PERIP WITHIN duration BLOCK duration {
			if (set_once(ONCE_AUTH_FAILURES, $<lineno>1,
			    "limit auth-failures"))
				break;
			conf->limits.auth_failures_per_ip = (int)$2;
			conf->limits.auth_failures_within = $5;
			conf->limits.auth_failures_block = $7;
		}
		| MESSAGESIZE size {
			if (set_once(ONCE_MSGSIZE, $<lineno>1,
			    "limit message-size"))
				break;
			conf->limits.message_size = $2;
		}
		| EXEMPT tableref {
			if (set_once(ONCE_EXEMPT, $<lineno>1, "limit exempt"))
				break;
			if ($2 != NULL && table_fits($2, ENTRY_NET,
			    "limit exempt", file->name, $<lineno>1))
				conf->limits.exempt = $2;
		}
		;

spamdopts	: /* empty */
		| spamdopts spamdopt
		;

spamdopt	: port {
			if (spamd_seen & 0x01)
				errat($<lineno>1, "check spamd: port given "
				    "twice");
			spamd_seen |= 0x01;
			spamd.port = (in_port_t)$1;
		}
		| TAGABOVE score {
			if (spamd_seen & 0x02)
				errat($<lineno>1, "check spamd: tag-above "
				    "given twice");
			spamd_seen |= 0x02;
			spamd.tag_above = (int)$2;
		}
		| REJECTABOVE score {
			if (spamd_seen & 0x04)
				errat($<lineno>1, "check spamd: reject-above "
				    "given twice");
			spamd_seen |= 0x04;
			spamd.reject_above = (int)$2;
		}
		| TIMEOUT duration {
			if (spamd_seen & 0x08)
				errat($<lineno>1, "check spamd: timeout given "
				    "twice");
			spamd_seen |= 0x08;
			spamd.timeout = $2;
		}
		| ONERROR onerror {
			if (spamd_seen & 0x10)
				errat($<lineno>1, "check spamd: on-error "
				    "given twice");
			spamd_seen |= 0x10;
			spamd.on_error = (int)$2;
		}
		;

onerror		: ACCEPT		{ $$ = SPAMD_ONERROR_ACCEPT; }
		| TEMPFAIL		{ $$ = SPAMD_ONERROR_TEMPFAIL; }
		| REJECT		{ $$ = SPAMD_ONERROR_REJECT; }
		;

queue		: RETRY {
			nretry = 0;
			retry_overflow = 0;
		} retrylist {
			if (retry_overflow) {
				errat($<lineno>1, "queue retry: at most %d "
				    "steps", CONFIG_RETRY_MAX);
				break;
			}
			if (set_once(ONCE_RETRY, $<lineno>1, "queue retry"))
				break;
			memcpy(conf->queue.retry, retry, sizeof(retry));
			conf->queue.nretry = nretry;
		}
		| WARNAFTER duration {
			if (set_once(ONCE_WARNAFTER, $<lineno>1,
			    "queue warn-after"))
				break;
			conf->queue.warn_after = $2;
		}
		| BOUNCEAFTER duration {
			if (set_once(ONCE_BOUNCEAFTER, $<lineno>1,
			    "queue bounce-after"))
				break;
			conf->queue.bounce_after = $2;
		}
		| DELIVERIES number PERDOMAIN number {
			if (set_once(ONCE_DELIVERIES, $<lineno>1,
			    "queue deliveries"))
				break;
			if ($4 > $2) {
				errat($<lineno>1, "queue deliveries: "
				    "per-domain %lld is more than the %lld "
				    "deliveries in all", $4, $2);
				break;
			}
			conf->queue.deliveries = (int)$2;
			conf->queue.per_domain = (int)$4;
		}
		;

retrylist	: duration {
			retry[nretry++] = $1;
		}
		| retrylist duration {
			if (nretry == CONFIG_RETRY_MAX)
				retry_overflow = 1;
			else
				retry[nretry++] = $2;
		}
		;

optdisabled	: /* empty */		{ $$ = 0; }
		| DISABLED		{ $$ = 1; }
		;

delivery	: DELIVERY STRING optdisabled '{' {
			if (rule != NULL)
				rule_free(rule);
			if ((rule = calloc(1, sizeof(*rule))) == NULL) {
				errat($<lineno>1, "out of memory");
				break;
			}
			TAILQ_INIT(&rule->matches);
			rule->file = file->name;
			rule->line = rule_line = $<lineno>1;
			rule->disabled = (int)$3;
			rule_relay_line = rule_always_line = 0;
			if (strlcpy(rule->name, $2, sizeof(rule->name)) >=
			    sizeof(rule->name) || $2[0] == '\0') {
				errat($<lineno>2, "delivery rule name \"%s\" "
				    "must have 1 to %d characters", $2,
				    CONFIG_NAME_MAX - 1);
				rule->line = -1;
			}
			if (always.line != 0)
				errat(rule_line, "delivery rule \"%s\" can never "
				    "match: it comes after the enabled always "
				    "rule \"%s\" at %s:%d (use a host list in one "
				    "rule for failover)", $2, always.name,
				    always.file, always.line);
		} rulebody '}' {
			rule_done();
		}
		;

rulebody	: /* empty */
		| rulebody '\n'
		| rulebody ruleline '\n'
		| rulebody error '\n'
		;

ruleline	: MATCH SENDER matchspec {
			if (last_match != NULL)
				last_match->what = MATCH_SENDER;
		}
		| MATCH RECIPIENT matchspec {
			if (last_match != NULL)
				last_match->what = MATCH_RECIPIENT;
		}
		| ALWAYS {
			if (rule == NULL)
				break;
			if (rule_always_line != 0)
				errat($<lineno>1, "delivery rule \"%s\": always "
				    "given twice", rule->name);
			rule->always = 1;
			rule_always_line = $<lineno>1;
		}
		| RELAY {
			if (rule != NULL && rule_relay_line != 0) {
				errat($<lineno>1, "delivery rule \"%s\": only "
				    "one relay line (a list of hosts fails "
				    "over)", rule->name);
				rule->line = -1;
			} else if (rule != NULL) {
				rule_relay_line = $<lineno>1;
				rule->nhosts = 0;
			}
			memset(&rseen, 0, sizeof(rseen));
			pop3_ctx = 0;
		} relayhosts relayopts {
			relay_line_done($<lineno>1);
		}
		;

matchspec	: STRING {
			struct match_cond	*m;
			char			 err[512], *at;

			last_match = NULL;
			if (rule == NULL)
				break;
			if (valid_pattern($1, err, sizeof(err)) == -1) {
				errat($<lineno>1, "%s", err);
				rule->line = -1;
				break;
			}
			if ((m = calloc(1, sizeof(*m))) == NULL) {
				errat($<lineno>1, "out of memory");
				break;
			}
			(void)strlcpy(m->pattern, $1, sizeof(m->pattern));
			for (at = strrchr(m->pattern, '@'); *at != '\0'; at++)
				*at = (char)tolower((unsigned char)*at);
			m->line = $<lineno>1;
			TAILQ_INSERT_TAIL(&rule->matches, m, entry);
			last_match = m;
		}
		| tableref {
			struct match_cond *m;

			last_match = NULL;
			if (rule == NULL)
				break;
			if ($1 == NULL || !table_fits($1, ENTRY_ADDRESS |
			    ENTRY_DOMAIN, "match", file->name, $<lineno>1)) {
				rule->line = -1;
				break;
			}
			if ((m = calloc(1, sizeof(*m))) == NULL) {
				errat($<lineno>1, "out of memory");
				break;
			}
			m->table = $1;
			m->line = $<lineno>1;
			TAILQ_INSERT_TAIL(&rule->matches, m, entry);
			last_match = m;
		}
		;

relayhosts	: relayhost
		| relayhosts ',' relayhost
		;

relayhost	: STRING {
			struct table_entry probe;

			if (rule == NULL)
				break;
			memset(&probe, 0, sizeof(probe));
			if (!valid_hostname($1) && (parse_net($1, &probe) != 0 ||
			    strchr($1, '/') != NULL)) {
				errat($<lineno>1, "invalid relay host \"%s\": "
				    "want a host name or an IP address", $1);
				rule->line = -1;
			} else if (rule->nhosts == CONFIG_RELAYHOSTS_MAX) {
				errat($<lineno>1, "delivery rule \"%s\": at "
				    "most %d relay hosts", rule->name,
				    CONFIG_RELAYHOSTS_MAX);
				rule->line = -1;
			} else
				(void)strlcpy(rule->hosts[rule->nhosts++], $1,
				    sizeof(rule->hosts[0]));
		}
		;

relayopts	: /* empty */
		| relayopts relayopt
		;

relayopt	: port {
			int *seen = pop3_ctx ? &rseen.pop3_port : &rseen.port;

			if (*seen)
				errat($<lineno>1, "relay: %sport given twice",
				    pop3_ctx ? "pop3 " : "");
			*seen = 1;
			if (rule == NULL)
				break;
			if (pop3_ctx)
				rule->pop3_port = (in_port_t)$1;
			else
				rule->port = (in_port_t)$1;
		}
		| HOST STRING {
			if (!pop3_ctx) {
				errat($<lineno>1, "relay: host belongs after "
				    "pop3 or pop3s of auth pop3-before-smtp");
				break;
			}
			if (rseen.host)
				errat($<lineno>1, "relay: host given twice");
			rseen.host = 1;
			if (!valid_hostname($2) && inet_addr($2) == INADDR_NONE)
				errat($<lineno>2, "invalid pop3 host \"%s\"",
				    $2);
			else if (rule != NULL)
				(void)strlcpy(rule->pop3_host, $2,
				    sizeof(rule->pop3_host));
		}
		| TLS optnoverify {
			pop3_ctx = 0;
			if (rseen.tls)
				errat($<lineno>1, "relay: tls or smtps given "
				    "twice");
			rseen.tls = 1;
			if (rule != NULL)
				rule->tls = RELAY_TLS_STARTTLS;
		}
		| SMTPS optnoverify {
			pop3_ctx = 0;
			if (rseen.tls)
				errat($<lineno>1, "relay: tls or smtps given "
				    "twice");
			rseen.tls = 1;
			if (rule != NULL)
				rule->tls = RELAY_TLS_SMTPS;
		}
		| AUTH authmethod {
			if (rseen.auth > 1)
				errat($<lineno>1, "relay: auth given twice");
		}
		| POP3 {
			if (rule != NULL && rule->auth != RELAY_AUTH_POP3)
				errat($<lineno>1, "relay: pop3 belongs after "
				    "auth pop3-before-smtp");
			if (rseen.pop3)
				errat($<lineno>1, "relay: pop3 or pop3s given "
				    "twice");
			rseen.pop3 = 1;
			pop3_ctx = 1;
			if (rule != NULL)
				rule->pop3_tls = POP3_STLS;
		}
		| POP3S {
			if (rule != NULL && rule->auth != RELAY_AUTH_POP3)
				errat($<lineno>1, "relay: pop3s belongs after "
				    "auth pop3-before-smtp");
			if (rseen.pop3)
				errat($<lineno>1, "relay: pop3 or pop3s given "
				    "twice");
			rseen.pop3 = 1;
			pop3_ctx = 1;
			if (rule != NULL)
				rule->pop3_tls = POP3_POP3S;
		}
		| CREDENTIALS STRING {
			pop3_ctx = 0;
			if (rseen.cred)
				errat($<lineno>1, "relay: credentials given "
				    "twice");
			rseen.cred = 1;
			if (rule == NULL)
				break;
			if ((rule->secret = config_secret(conf, $2)) == NULL) {
				errat($<lineno>2, "unknown credentials \"%s\": "
				    "no secrets table defined above has that "
				    "label", $2);
				rule->line = -1;
			} else
				(void)strlcpy(rule->credentials, $2,
				    sizeof(rule->credentials));
		}
		| INSECURE {
			pop3_ctx = 0;
			rseen.insecure = $<lineno>1;
			if (rule != NULL)
				rule->insecure = 1;
		}
		;

optnoverify	: /* empty */
		| NOVERIFY {
			if (rule != NULL)
				rule->noverify = 1;
		}
		;

authmethod	: PLAIN			{ auth_method(RELAY_AUTH_PLAIN); }
		| LOGIN			{ auth_method(RELAY_AUTH_LOGIN); }
		| CRAMMD5		{ auth_method(RELAY_AUTH_CRAM_MD5); }
		| POP3BEFORESMTP	{ auth_method(RELAY_AUTH_POP3); }
		;

%%

struct keyword {
	const char	*k_name;
	int		 k_val;
};

/* Sorted: lookup() uses bsearch(3). */
static const struct keyword keywords[] = {
	{ "accept", ACCEPT },
	{ "allow", ALLOW },
	{ "always", ALWAYS },
	{ "any", ANY },
	{ "auth", AUTH },
	{ "auth-failures", AUTHFAILURES },
	{ "auth-insecure", AUTHINSECURE },
	{ "auth-require", AUTHREQUIRE },
	{ "authenticate", AUTHENTICATE },
	{ "authenticated", AUTHENTICATED },
	{ "block", BLOCK },
	{ "bounce-after", BOUNCEAFTER },
	{ "cert", CERT },
	{ "check", CHECK },
	{ "connections", CONNECTIONS },
	{ "control", CONTROL },
	{ "cram-md5", CRAMMD5 },
	{ "credentials", CREDENTIALS },
	{ "deliver", DELIVER },
	{ "deliveries", DELIVERIES },
	{ "delivery", DELIVERY },
	{ "disabled", DISABLED },
	{ "domain", DOMAIN },
	{ "exempt", EXEMPT },
	{ "failed-commands", FAILEDCOMMANDS },
	{ "file", TFILE },
	{ "for", FOR },
	{ "from", FROM },
	{ "group", GROUP },
	{ "host", HOST },
	{ "hostname", HOSTNAME },
	{ "include", INCLUDE },
	{ "insecure", INSECURE },
	{ "key", KEY },
	{ "limit", LIMIT },
	{ "listen", LISTEN },
	{ "lmtp", LMTP },
	{ "login", LOGIN },
	{ "maildir", MAILDIR },
	{ "match", MATCH },
	{ "message-size", MESSAGESIZE },
	{ "messages", MESSAGES },
	{ "mx", MX },
	{ "noverify", NOVERIFY },
	{ "on", ON },
	{ "on-error", ONERROR },
	{ "per-domain", PERDOMAIN },
	{ "per-ip", PERIP },
	{ "per-message", PERMESSAGE },
	{ "per-session", PERSESSION },
	{ "per-user", PERUSER },
	{ "pki", PKI },
	{ "plain", PLAIN },
	{ "pop3", POP3 },
	{ "pop3-before-smtp", POP3BEFORESMTP },
	{ "pop3-login", POP3LOGIN },
	{ "pop3s", POP3S },
	{ "port", PORT },
	{ "queue", QUEUE },
	{ "recipient", RECIPIENT },
	{ "recipients", RECIPIENTS },
	{ "reject", REJECT },
	{ "reject-above", REJECTABOVE },
	{ "reject-fail", REJECTFAIL },
	{ "relay", RELAY },
	{ "resolver", RESOLVER },
	{ "retry", RETRY },
	{ "sender", SENDER },
	{ "sender-id", SENDERID },
	{ "smtps", SMTPS },
	{ "socket", SOCKET },
	{ "spamd", SPAMD },
	{ "spf", SPF },
	{ "spool", SPOOL },
	{ "table", TABLE },
	{ "tag", TAG },
	{ "tag-above", TAGABOVE },
	{ "tempfail", TEMPFAIL },
	{ "timeout", TIMEOUT },
	{ "tls", TLS },
	{ "tls-require", TLSREQUIRE },
	{ "unknown-recipients", UNKNOWNRECIPIENTS },
	{ "unknown-sender-domain", UNKNOWNSENDERDOMAIN },
	{ "warn-after", WARNAFTER },
	{ "within", WITHIN },
};

static int
kw_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct keyword *)e)->k_name);
}

static int
lookup(const char *s)
{
	const struct keyword	*p;

	p = bsearch(s, keywords, sizeof(keywords) / sizeof(keywords[0]),
	    sizeof(keywords[0]), kw_cmp);
	return p != NULL ? p->k_val : STRING;
}

/* For the tests: is the keyword table sorted and unique? */
int
config_keywords_sorted(void)
{
	size_t	i;

	for (i = 1; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(keywords[i - 1].k_name, keywords[i].k_name) >= 0)
			return 0;
	return 1;
}

static void
vreport(int warn, int line, const char *fmt, va_list ap)
{
	char	msg[1024];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (warn)
		config_warnx(file->name, line, "%s", msg);
	else
		config_errx(file->name, line, "%s", msg);
}

static void
yyerror(const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, "syntax error") != 0) {
		/* From the lexer. */
		config_errx(file->name, yylval.lineno, "%s", msg);
		lex_error_line = yylval.lineno;
		return;
	}
	if (lex_error_line == yylval.lineno)
		return;
	/* A line that starts with an unknown word. */
	if (first_token == STRING && first_line == yylval.lineno &&
	    yychar != '=' && second_token != '=') {
		config_errx(file->name, yylval.lineno, "unknown keyword "
		    "\"%s\"", first_word);
		return;
	}
	/* Name the token the grammar could not take. */
	if (yychar == 0)
		config_errx(file->name, file->lineno, "syntax error: "
		    "unexpected end of file (is a '}' missing?)");
	else if (yychar == '\n')
		config_errx(file->name, yylval.lineno, "syntax error: the "
		    "line ends too early");
	else if (yychar == STRING)
		config_errx(file->name, yylval.lineno, "syntax error at "
		    "\"%s\"", yylval.v.string);
	else if (yychar == NUMBER)
		config_errx(file->name, yylval.lineno, "syntax error at "
		    "\"%lld\"", yylval.v.number);
	else if (yychar > 0 && yychar < 256)
		config_errx(file->name, yylval.lineno, "syntax error at "
		    "\"%c\"", yychar);
	else {
		const char	*name = "?";
		size_t		 i;

		for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
			if (keywords[i].k_val == yychar)
				name = keywords[i].k_name;
		config_errx(file->name, yylval.lineno, "syntax error at "
		    "\"%s\"", name);
	}
}

static void
errat(int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vreport(0, line, fmt, ap);
	va_end(ap);
}

static void
warnat(int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vreport(1, line, fmt, ap);
	va_end(ap);
}

/* 1 (and an error) when the statement was given before. */
static int
set_once(enum once what, int line, const char *name)
{
	if (once[what].line != 0) {
		errat(line, "%s is already set at %s:%d", name,
		    once[what].file, once[what].line);
		return 1;
	}
	once[what].file = file->name;
	once[what].line = line;
	return 0;
}

/* Names of tables and pki: letters, digits, '-', '_', '.'. */
static int
check_name(const char *what, const char *s, int line)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("-_.", *p) == NULL)
			break;
	if (*p != '\0' || !isalpha((unsigned char)*s) ||
	    strlen(s) >= CONFIG_NAME_MAX) {
		errat(line, "invalid %s name \"%s\": use a letter, then up to "
		    "%d letters, digits, '-', '_' or '.'", what, s,
		    CONFIG_NAME_MAX - 2);
		return -1;
	}
	return 0;
}

static int
check_path(const char *what, const char *s, int line, int max)
{
	if (s[0] != '/') {
		errat(line, "%s \"%s\" must be an absolute path", what, s);
		return -1;
	}
	if (strlen(s) >= (size_t)max) {
		errat(line, "%s \"%s\" is too long (at most %d characters)",
		    what, s, max - 1);
		return -1;
	}
	return 0;
}

static void
listen_add_one(struct sockaddr_storage *ss, socklen_t len, int line)
{
	struct listener	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		errat(line, "out of memory");
		return;
	}
	l->ss = *ss;
	l->sslen = len;
	l->port = (in_port_t)lopts.port;
	l->flags = lopts.flags;
	(void)strlcpy(l->pki, lopts.pki, sizeof(l->pki));
	l->file = file->name;
	l->line = line;
	l->fd = -1;
	TAILQ_INSERT_TAIL(&conf->listeners, l, entry);
	if (listener_check(conf, l) == -1) {
		TAILQ_REMOVE(&conf->listeners, l, entry);
		free(l);
	}
}

static void
listen_add(const char *addr, int line)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 s = lopts.seen, modes = 0, tlsmode;

	tlsmode = s & (LISTEN_TLS | LISTEN_TLS_REQUIRE | LISTEN_SMTPS |
	    LISTEN_POP3S);
	for (; tlsmode != 0; tlsmode &= tlsmode - 1)
		modes++;
	if (modes > 1) {
		errat(line, "listen: choose one of tls, tls-require, smtps "
		    "and pop3s");
		return;
	}
	if ((s & LISTEN_POP3) && (s & LISTEN_POP3S)) {
		errat(line, "listen: pop3s already means pop3 (implicit TLS)");
		return;
	}
	if ((s & LISTEN_POP3) && (s & LISTEN_SMTPS)) {
		errat(line, "listen: smtps is SMTP; for POP3 over TLS use "
		    "pop3s");
		return;
	}
	if ((s & (LISTEN_POP3 | LISTEN_POP3S)) && (s & LISTEN_AUTH_REQUIRE)) {
		errat(line, "listen: auth-require is for SMTP; POP3 always "
		    "needs a login");
		return;
	}
	lopts.flags = s;
	if (s & LISTEN_TLS_REQUIRE)
		lopts.flags |= LISTEN_TLS;
	if (s & LISTEN_POP3S)
		lopts.flags |= LISTEN_POP3;
	modes = s & (LISTEN_TLS | LISTEN_TLS_REQUIRE | LISTEN_SMTPS |
	    LISTEN_POP3S);
	if (modes != 0 && !lopts.pki_seen) {
		errat(line, "listen: %s needs a certificate: add pki NAME",
		    (s & LISTEN_SMTPS) ? "smtps" : (s & LISTEN_POP3S) ?
		    "pop3s" : (s & LISTEN_TLS_REQUIRE) ? "tls-require" :
		    "tls");
		return;
	}
	if (modes == 0 && lopts.pki_seen)
		warnat(line, "listen: pki %s is unused without tls, "
		    "tls-require, smtps or pop3s", lopts.pki);
	if (modes == 0 && !(s & LISTEN_AUTH_INSECURE)) {
		if (s & LISTEN_POP3) {
			errat(line, "listen: pop3 without tls or tls-require "
			    "would take passwords in plain text: add tls, "
			    "tls-require or auth-insecure");
			return;
		}
		if (s & LISTEN_AUTH_REQUIRE) {
			errat(line, "listen: auth-require without tls, "
			    "tls-require or smtps: AUTH is offered only over "
			    "TLS unless auth-insecure is given");
			return;
		}
	}
	if (lopts.port_line == 0)
		lopts.port = (s & LISTEN_SMTPS) ? 465 : (s & LISTEN_POP3S) ?
		    995 : (s & LISTEN_POP3) ? 110 : 25;
	if (strcmp(addr, "localhost") == 0) {
		(void)parse_listen_addr("127.0.0.1", &ss, &len, lopts.port);
		listen_add_one(&ss, len, line);
		(void)parse_listen_addr("::1", &ss, &len, lopts.port);
		listen_add_one(&ss, len, line);
		return;
	}
	if (parse_listen_addr(addr, &ss, &len, lopts.port) == -1) {
		errat(line, "invalid listen address \"%s\": want an IPv4 or "
		    "IPv6 address, 0.0.0.0, :: or localhost", addr);
		return;
	}
	listen_add_one(&ss, len, line);
}

/* A domain may be accepted by one line only. */
static void
accept_domain(const char *d, int line)
{
	const struct accept_rule	*a;
	const struct table_entry	*e;

	TAILQ_FOREACH(a, &conf->accepts, entry) {
		if (strcmp(a->domain, d) == 0)
			goto dup;
		if (a->domains == NULL)
			continue;
		TAILQ_FOREACH(e, &a->domains->entries, entry)
			if (strcmp(e->key, d) == 0)
				goto dup;
	}
	return;
 dup:
	errat(line, "domain \"%s\" is already accepted at %s:%d", d, a->file,
	    a->line);
	acc.line = -1;
}

/* "HOST:PORT" or "[IPv6]:PORT". */
static int
parse_lmtp(const char *s, struct accept_rule *a, int line)
{
	char		 host[CONFIG_HOST_MAX], *colon, *h = host;
	const char	*errstr;
	struct table_entry probe;
	long long	 port;

	if (strlcpy(host, s, sizeof(host)) >= sizeof(host))
		goto bad;
	if (host[0] == '[') {
		if ((colon = strstr(host, "]:")) == NULL)
			goto bad;
		*colon = '\0';
		colon++;
		h++;
	} else if ((colon = strrchr(host, ':')) == NULL)
		goto bad;
	*colon++ = '\0';
	port = strtonum(colon, 1, 65535, &errstr);
	if (errstr != NULL)
		goto bad;
	memset(&probe, 0, sizeof(probe));
	if (!valid_hostname(h) && (parse_net(h, &probe) != 0 ||
	    strchr(h, '/') != NULL))
		goto bad;
	if (host[0] != '[' && strchr(h, ':') != NULL)
		goto bad;
	(void)strlcpy(a->lmtp_host, h, sizeof(a->lmtp_host));
	a->lmtp_port = (in_port_t)port;
	return 0;
 bad:
	errat(line, "invalid lmtp destination \"%s\": want HOST:PORT or "
	    "[IPv6]:PORT", s);
	return -1;
}

static void
auth_method(int method)
{
	rseen.auth++;
	pop3_ctx = 0;
	if (rule != NULL)
		rule->auth = method;
}

static void
relay_line_done(int line)
{
	static const char *const methods[] = {
		"", "plain", "login", "cram-md5", "pop3-before-smtp"
	};

	if (rule == NULL)
		return;
	if (rule->port == 0)
		rule->port = rule->tls == RELAY_TLS_SMTPS ? 465 : 25;
	if (rule->auth == RELAY_AUTH_POP3 && rule->pop3_port == 0)
		rule->pop3_port = rule->pop3_tls == POP3_POP3S ? 995 : 110;
	if (rule->auth != RELAY_AUTH_NONE && !rseen.cred) {
		errat(line, "delivery rule \"%s\": auth %s needs credentials "
		    "\"LABEL\"", rule->name, methods[rule->auth]);
		rule->line = -1;
	}
	if (rule->auth == RELAY_AUTH_NONE && rseen.cred) {
		errat(line, "delivery rule \"%s\": credentials without auth",
		    rule->name);
		rule->line = -1;
	}
	if (rule->auth == RELAY_AUTH_POP3 && !rseen.pop3) {
		errat(line, "delivery rule \"%s\": auth pop3-before-smtp needs "
		    "pop3 or pop3s", rule->name);
		rule->line = -1;
	}
	if (rule->auth != RELAY_AUTH_NONE && rule->auth != RELAY_AUTH_POP3 &&
	    rule->tls == RELAY_TLS_NONE && !rule->insecure) {
		errat(line, "delivery rule \"%s\": auth %s over a plain "
		    "connection would send the password in clear: add tls or "
		    "smtps, or end the line with insecure", rule->name,
		    methods[rule->auth]);
		rule->line = -1;
	}
	if (rule->insecure && rule->auth == RELAY_AUTH_NONE)
		warnat(line, "delivery rule \"%s\": insecure without auth has "
		    "no effect", rule->name);
}

static void
rule_free(struct delivery_rule *r)
{
	struct match_cond	*m;

	while ((m = TAILQ_FIRST(&r->matches)) != NULL) {
		TAILQ_REMOVE(&r->matches, m, entry);
		free(m);
	}
	free(r);
}

static void
rule_done(void)
{
	struct delivery_rule	*d;
	int			 bad;

	if (rule == NULL)
		return;
	bad = rule->line == -1;
	if (always.line == 0 && rule->always && !rule->disabled) {
		(void)strlcpy(always.name, rule->name, sizeof(always.name));
		always.file = file->name;
		always.line = rule_line;
	}
	if (!bad) {
		TAILQ_FOREACH(d, &conf->deliveries, entry) {
			if (strcmp(d->name, rule->name) == 0) {
				errat(rule_line, "delivery rule \"%s\" is "
				    "already defined at %s:%d", rule->name,
				    d->file, d->line);
				bad = 1;
				break;
			}
		}
	}
	if (!bad && rule_relay_line == 0) {
		errat(rule_line, "delivery rule \"%s\" has no relay line",
		    rule->name);
		bad = 1;
	}
	if (!bad && rule->always && !TAILQ_EMPTY(&rule->matches)) {
		errat(rule_always_line, "delivery rule \"%s\": always and "
		    "match lines exclude each other", rule->name);
		bad = 1;
	}
	if (!bad && !rule->always && TAILQ_EMPTY(&rule->matches)) {
		errat(rule_line, "delivery rule \"%s\" has no match line and "
		    "no always: it can never match", rule->name);
		bad = 1;
	}
	if (bad)
		rule_free(rule);
	else
		TAILQ_INSERT_TAIL(&conf->deliveries, rule, entry);
	rule = NULL;
}

static void
final_checks(void)
{
	char	a[32], b[32];

	if (conf->queue.warn_after >= conf->queue.bounce_after) {
		int		 line = once[ONCE_WARNAFTER].line;
		const char	*f = once[ONCE_WARNAFTER].file;

		if (once[ONCE_BOUNCEAFTER].line > line) {
			line = once[ONCE_BOUNCEAFTER].line;
			f = once[ONCE_BOUNCEAFTER].file;
		}
		config_errx(f, line, "queue warn-after %s must be shorter "
		    "than bounce-after %s",
		    fmt_duration(conf->queue.warn_after, a, sizeof(a)),
		    fmt_duration(conf->queue.bounce_after, b, sizeof(b)));
	}
	(void)config_validate(conf);
}

/* ---- macros ------------------------------------------------------------ */

static int
symset(const char *nam, const char *val, int persist)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &symhead, entry)
		if (strcmp(nam, sym->nam) == 0)
			break;
	if (sym != NULL) {
		if (sym->persist && !persist)
			return 0;	/* -D wins over the file */
		TAILQ_REMOVE(&symhead, sym, entry);
		free(sym->nam);
		free(sym->val);
		free(sym);
	}
	if ((sym = calloc(1, sizeof(*sym))) == NULL)
		return -1;
	if ((sym->nam = strdup(nam)) == NULL ||
	    (sym->val = strdup(val)) == NULL) {
		free(sym->nam);
		free(sym);
		return -1;
	}
	sym->persist = persist;
	TAILQ_INSERT_TAIL(&symhead, sym, entry);
	return 0;
}

static char *
symget(const char *nam)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &symhead, entry)
		if (strcmp(nam, sym->nam) == 0)
			return sym->val;
	return NULL;
}

int
config_symset(const char *s, int overwrite)
{
	char		*nam;
	const char	*val, *p;
	int		 ret;

	if ((val = strchr(s, '=')) == NULL || val == s)
		return -1;
	for (p = s; p < val; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return -1;
	if ((nam = strndup(s, (size_t)(val - s))) == NULL)
		return -1;
	if (!overwrite && symget(nam) != NULL) {
		free(nam);
		return 0;
	}
	ret = symset(nam, val + 1, 1);
	free(nam);
	return ret;
}

/* ---- files ------------------------------------------------------------- */

static struct file *
pushfile(const char *name, int line)
{
	struct file	*nf, *f;
	struct stat	 st;
	FILE		*fp;
	int		 depth = 0;

	if ((fp = fopen(name, "r")) == NULL) {
		if (file != NULL)
			errat(line, "include \"%s\": %s", name,
			    strerror(errno));
		else
			(void)fprintf(stderr, "%s: %s\n", name,
			    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		if (file != NULL)
			errat(line, "include \"%s\": not a regular file", name);
		else
			(void)fprintf(stderr, "%s: not a regular file\n", name);
		(void)fclose(fp);
		return NULL;
	}
	TAILQ_FOREACH(f, &files, entry) {
		depth++;
		if (f->dev == st.st_dev && f->ino == st.st_ino) {
			errat(line, "include \"%s\": the file includes itself",
			    name);
			(void)fclose(fp);
			return NULL;
		}
	}
	if (depth >= CONFIG_INCLUDE_MAX) {
		errat(line, "include \"%s\": nested more than %d deep", name,
		    CONFIG_INCLUDE_MAX);
		(void)fclose(fp);
		return NULL;
	}
	if ((nf = calloc(1, sizeof(*nf))) == NULL ||
	    (nf->name = config_file_add(conf, name)) == NULL) {
		free(nf);
		(void)fclose(fp);
		(void)fprintf(stderr, "%s: out of memory\n", name);
		return NULL;
	}
	nf->stream = fp;
	nf->lineno = 1;
	nf->dev = st.st_dev;
	nf->ino = st.st_ino;
	TAILQ_INSERT_TAIL(&files, nf, entry);
	file = nf;
	return nf;
}

/* EOF when the last file is done; the main file stays open until the
 * parse ends, for messages about its end. */
static int
popfile(void)
{
	struct file	*prev;

	if ((prev = TAILQ_PREV(file, files_head, entry)) == NULL)
		return EOF;
	TAILQ_REMOVE(&files, file, entry);
	(void)fclose(file->stream);
	free(file);
	file = prev;
	return file != NULL ? 0 : EOF;
}

/* ---- the lexer ----------------------------------------------------------- */

#define START_EXPAND	1
#define DONE_EXPAND	2

static int
lgetc(int quoted)
{
	int	c, next;

	while (pbpos > 0) {
		c = pbbuf[--pbpos];
		if (c == START_EXPAND) {
			expanding = 1;
			continue;
		}
		if (c == DONE_EXPAND) {
			expanding = 0;
			continue;
		}
		return c;
	}
	c = getc(file->stream);
	if (quoted)
		return c;
	/* A backslash at the end of a line joins the next one. */
	while (c == '\\') {
		next = getc(file->stream);
		if (next != '\n') {
			if (next != EOF)
				(void)ungetc(next, file->stream);
			break;
		}
		file->lineno++;
		c = getc(file->stream);
	}
	return c;
}

static int
lungetc(int c)
{
	if (c == EOF)
		return EOF;
	if (pbpos >= (int)sizeof(pbbuf))
		return EOF;
	pbbuf[pbpos++] = (unsigned char)c;
	return c;
}

/* Skip the rest of a line after a lexer error; the '\n' stays. */
static void
findeol(void)
{
	int	c;

	do {
		c = lgetc(0);
	} while (c != '\n' && c != EOF);
	(void)lungetc(c);
}

/* After a word at the start of a line: is it a macro name ("name =")? */
static int
macro_follows(void)
{
	char	skipped[LEX_WORD_MAX];
	int	c, n = 0, eq;

	while ((c = lgetc(0)) == ' ' || c == '\t')
		if (n < (int)sizeof(skipped))
			skipped[n++] = (char)c;
	eq = c == '=';
	(void)lungetc(c);
	while (n > 0)
		(void)lungetc((unsigned char)skipped[--n]);
	return eq;
}

static char *
lexstr(const char *s)
{
	struct lexstr	*l;
	size_t		 len = strlen(s) + 1;

	if ((l = malloc(sizeof(*l) + len)) == NULL)
		return NULL;
	memcpy(l->s, s, len);
	SLIST_INSERT_HEAD(&lexstrs, l, entry);
	return l->s;
}

static int
allowed_in_word(int c)
{
	return isalnum(c) || (ispunct(c) && strchr("(){}<>!=#,\"'$", c) ==
	    NULL);
}

static int
yylex_token(void)
{
	char		 buf[LEX_WORD_MAX], *p, *val;
	const char	*errstr;
	int		 c, quote, next, len, numeric;

 top:
	p = buf;
	while ((c = lgetc(0)) == ' ' || c == '\t')
		;
	yylval.lineno = file->lineno;
	if (c == '#')
		while ((c = lgetc(0)) != '\n' && c != EOF)
			;
	if (c == '$' && !expanding) {
		for (len = 0; ; len++) {
			if ((c = lgetc(0)) == EOF)
				break;
			if (!isalnum(c) && c != '_') {
				(void)lungetc(c);
				break;
			}
			if (len >= (int)sizeof(buf) - 1) {
				yyerror("macro name too long");
				findeol();
				goto top;
			}
			buf[len] = (char)c;
		}
		buf[len] = '\0';
		if (len == 0) {
			yyerror("a '$' must be followed by a macro name");
			findeol();
			goto top;
		}
		if ((val = symget(buf)) == NULL) {
			yyerror("macro \"%s\" is not defined", buf);
			findeol();
			goto top;
		}
		if ((int)strlen(val) + 2 > (int)sizeof(pbbuf) - pbpos) {
			yyerror("macro \"%s\" is too long", buf);
			findeol();
			goto top;
		}
		(void)lungetc(DONE_EXPAND);
		for (p = val + strlen(val); p > val; )
			(void)lungetc((unsigned char)*--p);
		(void)lungetc(START_EXPAND);
		goto top;
	}

	switch (c) {
	case '\'':
	case '"':
		quote = c;
		for (;;) {
			if ((c = lgetc(1)) == EOF || c == '\n') {
				yyerror("unterminated quoted string");
				if (c == '\n')
					(void)lungetc(c);
				else
					(void)lungetc('\n');
				goto top;
			}
			if (c == '\\') {
				next = lgetc(1);
				if (next == EOF) {
					yyerror("unterminated quoted string");
					(void)lungetc('\n');
					goto top;
				}
				if (next == '\n') {
					file->lineno++;
					continue;
				}
				if (next != quote && next != '\\')
					*p++ = '\\';
				c = next;
			} else if (c == quote)
				break;
			if (c == '\0') {
				yyerror("NUL byte in a quoted string");
				findeol();
				goto top;
			}
			if (p + 1 >= buf + sizeof(buf) - 1) {
				yyerror("string too long");
				findeol();
				goto top;
			}
			*p++ = (char)c;
		}
		*p = '\0';
		if ((yylval.v.string = lexstr(buf)) == NULL)
			goto oom;
		return STRING;
	}

	if (c != EOF && allowed_in_word(c)) {
		numeric = 1;
		do {
			if (!isdigit(c))
				numeric = 0;
			*p++ = (char)c;
			if (p - buf >= (int)sizeof(buf) - 1) {
				yyerror("string too long");
				findeol();
				goto top;
			}
		} while ((c = lgetc(0)) != EOF && allowed_in_word(c));
		(void)lungetc(c);
		*p = '\0';
		if (numeric) {
			yylval.v.number = strtonum(buf, 0, LLONG_MAX, &errstr);
			if (errstr != NULL) {
				yyerror("number \"%s\" is %s", buf, errstr);
				yylval.v.number = 0;
			}
			return NUMBER;
		}
		if (last_token != TABLE && last_token != PKI &&
		    last_token != '<' && last_token != GROUP &&
		    !(last_token == '\n' && macro_follows())) {
			int token = lookup(buf);

			if (token != STRING)
				return token;
		}
		if ((yylval.v.string = lexstr(buf)) == NULL)
			goto oom;
		return STRING;
	}
	if (c == '\n') {
		yylval.lineno = file->lineno;
		file->lineno++;
		return '\n';
	}
	if (c == EOF) {
		/* End every file's last statement, then go back up. */
		if (last_token == 0)
			return 0;
		if (last_token != '\n') {
			yylval.lineno = file->lineno;
			return '\n';
		}
		if (popfile() == EOF)
			return 0;
		goto top;
	}
	return c;
 oom:
	yyerror("out of memory");
	return 0;
}

static int
yylex(void)
{
	int	 token;

	if (pending_include != NULL && last_token == '\n') {
		char	*name = pending_include;

		pending_include = NULL;
		(void)pushfile(name, pending_line);
		free(name);
	}
	token = yylex_token();
	if (token != '\n' && ++line_ntokens == 2)
		second_token = token;
	if (last_token == '\n' && token != '\n') {
		line_ntokens = 1;
		second_token = 0;
		first_token = token;
		first_line = yylval.lineno;
		if (token == STRING)
			(void)strlcpy(first_word, yylval.v.string,
			    sizeof(first_word));
	}
	last_token = token;
	return token;
}

/* ---- entry ----------------------------------------------------------- */

static void
parse_reset(void)
{
	struct lexstr	*l;

	while ((l = SLIST_FIRST(&lexstrs)) != NULL) {
		SLIST_REMOVE_HEAD(&lexstrs, entry);
		free(l);
	}
	while ((file = TAILQ_FIRST(&files)) != NULL) {
		TAILQ_REMOVE(&files, file, entry);
		(void)fclose(file->stream);
		free(file);
	}
	if (rule != NULL)
		rule_free(rule);
	rule = NULL;
	if (curtable != NULL)
		table_free(curtable);
	curtable = NULL;
	free(pending_include);
	pending_include = NULL;
	last_token = '\n';
	first_token = first_line = line_ntokens = second_token = 0;
	lex_error_line = 0;
	expanding = 0;
	pbpos = 0;
	memset(once, 0, sizeof(once));
	memset(&always, 0, sizeof(always));
}

struct config *
config_parse(const char *path)
{
	struct sym	*sym, *next;
	int		 failed;

	parse_reset();
	config_reset_counts();
	if ((conf = calloc(1, sizeof(*conf))) == NULL) {
		(void)fprintf(stderr, "%s: out of memory\n", path);
		return NULL;
	}
	config_init(conf);
	if (pushfile(path, 0) == NULL) {
		config_free(conf);
		conf = NULL;
		return NULL;
	}
	(void)yyparse();
	final_checks();
	config_set_defaults(conf);
	failed = config_errors() != 0;
	parse_reset();

	/* Macros of the file go; -D macros stay for the next parse. */
	for (sym = TAILQ_FIRST(&symhead); sym != NULL; sym = next) {
		next = TAILQ_NEXT(sym, entry);
		if (sym->persist)
			continue;
		TAILQ_REMOVE(&symhead, sym, entry);
		free(sym->nam);
		free(sym->val);
		free(sym);
	}
	if (failed) {
		config_free(conf);
		conf = NULL;
		return NULL;
	}
	return conf;
}
