/*
 * Portcullis: the configuration, as parsed from smtpd.conf(5).
 *
 * The parent parses and validates the file (smtpd/parse.y) into the
 * typed structures below, and hands each worker what its role needs.
 * Every object that can cause a later runtime error (a listener that
 * cannot bind, a table, a delivery rule, a pki whose files cannot be
 * loaded) records the file and line it came from, so the parent can say
 * "FILE:LINE: message".  The file names are owned by the config
 * (struct config_file) and live as long as it does.
 *
 * Numbers are in host byte order; durations are in seconds; sizes in
 * bytes; spamd scores in hundredths of a point.
 */
#ifndef PORTCULLIS_CONFIG_H
#define PORTCULLIS_CONFIG_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define CONFIG_NAME_MAX		64	/* table, pki, rule, label names */
#define CONFIG_HOST_MAX		256	/* a host or domain name, + NUL */
#define CONFIG_PATH_MAX		1024
#define CONFIG_RETRY_MAX	16	/* steps of "queue retry" */
#define CONFIG_RELAYHOSTS_MAX	8	/* hosts of one "relay" line */
#define CONFIG_INCLUDE_MAX	16	/* nesting of "include" */

/* A file the configuration was read from (the main file, includes). */
struct config_file {
	TAILQ_ENTRY(config_file) entry;
	char			*name;
};

/* ---- tables ---------------------------------------------------------- */

/* What a table entry is.  A table holds list entries (any mix of the
 * first three), or credentials, or secrets; never a mix of kinds. */
#define ENTRY_NET		0x01	/* IPv4/IPv6 address or CIDR network */
#define ENTRY_DOMAIN		0x02	/* a domain name, lower case */
#define ENTRY_ADDRESS		0x04	/* a mail address; '*' in local part */
#define ENTRY_CREDENTIALS	0x08	/* login:crypt-hash */
#define ENTRY_SECRET		0x10	/* label:username:password */
#define ENTRY_LIST		(ENTRY_NET | ENTRY_DOMAIN | ENTRY_ADDRESS)

struct table_entry {
	TAILQ_ENTRY(table_entry) entry;
	int			 type;		/* one ENTRY_* */
	char			*key;		/* entry as written (domains and
						 * address domains lower-cased),
						 * login, or secret label */
	char			*value;		/* crypt hash, or secret username */
	char			*secret;	/* secret password (freezero'd) */
	/* ENTRY_NET: the network, host bits clear. */
	int			 af;		/* AF_INET or AF_INET6 */
	int			 prefixlen;
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	}			 addr;
	int			 line;		/* line in a file table, else 0 */
};

#define TABLE_INLINE		0	/* table NAME { ... } */
#define TABLE_FILE		1	/* table NAME file "PATH" */

struct table {
	TAILQ_ENTRY(table)	 entry;
	char			 name[CONFIG_NAME_MAX];
	int			 source;	/* TABLE_INLINE or TABLE_FILE */
	char			 path[CONFIG_PATH_MAX];	/* TABLE_FILE */
	int			 types;		/* OR of the entries' ENTRY_* */
	size_t			 count;
	TAILQ_HEAD(, table_entry) entries;
	const char		*file;
	int			 line;
};

/* ---- TLS certificates ------------------------------------------------- */

struct pki {
	TAILQ_ENTRY(pki)	 entry;
	char			 name[CONFIG_NAME_MAX];
	char			 cert[CONFIG_PATH_MAX];
	char			 key[CONFIG_PATH_MAX];
	/* The files' contents, read by the parent (pki_load_all()) for the
	 * front end, which cannot open files; the key is wiped on free. */
	uint8_t			*cert_mem;
	size_t			 cert_len;
	uint8_t			*key_mem;
	size_t			 key_len;
	const char		*file;
	int			 line;
};

/* ---- listeners -------------------------------------------------------- */

#define LISTEN_TLS		0x0001	/* STARTTLS (SMTP) / STLS (POP3) offered */
#define LISTEN_TLS_REQUIRE	0x0002	/* ... and required; implies LISTEN_TLS */
#define LISTEN_SMTPS		0x0004	/* implicit TLS SMTP (465) */
#define LISTEN_POP3		0x0008	/* the POP3 protocol (also set for pop3s) */
#define LISTEN_POP3S		0x0010	/* implicit TLS POP3 (995); implies POP3 */
#define LISTEN_AUTH_REQUIRE	0x0020	/* SMTP: no MAIL before AUTH */
#define LISTEN_AUTH_INSECURE	0x0040	/* AUTH/USER/PASS offered without TLS */

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	struct sockaddr_storage	 ss;		/* address, port set too */
	socklen_t		 sslen;
	in_port_t		 port;		/* host byte order */
	int			 flags;		/* LISTEN_* */
	char			 pki[CONFIG_NAME_MAX];	/* "" when none */
	const char		*file;
	int			 line;
	int			 fd;		/* -1; the parent binds */
};

/* ---- accepted domains ------------------------------------------------- */

#define ACCEPT_RELAY		0	/* through the delivery rules / MX */
#define ACCEPT_MAILDIR		1	/* deliver maildir "TEMPLATE" */
#define ACCEPT_LMTP		2	/* deliver lmtp "HOST:PORT" */

struct accept_rule {
	TAILQ_ENTRY(accept_rule) entry;
	char			 domain[CONFIG_HOST_MAX]; /* "" when a table */
	struct table		*domains;	/* or NULL */
	struct table		*recipients;	/* or NULL: any local part */
	int			 deliver;	/* ACCEPT_* */
	char			 maildir[CONFIG_PATH_MAX]; /* %{user} %{domain} */
	char			 lmtp_host[CONFIG_HOST_MAX];
	in_port_t		 lmtp_port;
	const char		*file;
	int			 line;
};

/* ---- relay control ----------------------------------------------------- */

#define RELAY_ANY		0x01	/* relay allow any: an open relay */
#define RELAY_FROM		0x02	/* client address in the "from" table */
#define RELAY_AUTHENTICATED	0x04	/* SMTP AUTH succeeded */
#define RELAY_POP3_LOGIN	0x08	/* POP3 login from the address within T */

/* Allows when every condition in flags holds. */
struct relay_rule {
	TAILQ_ENTRY(relay_rule)	 entry;
	int			 flags;		/* RELAY_* */
	struct table		*from;		/* RELAY_FROM */
	time_t			 pop3_within;	/* RELAY_POP3_LOGIN, seconds */
	const char		*file;
	int			 line;
};

/* ---- delivery rules ---------------------------------------------------- */

#define MATCH_SENDER		0
#define MATCH_RECIPIENT		1

struct match_cond {
	TAILQ_ENTRY(match_cond)	 entry;
	int			 what;		/* MATCH_SENDER/MATCH_RECIPIENT */
	char			 pattern[CONFIG_HOST_MAX * 2]; /* or "" */
	struct table		*table;		/* or NULL */
	int			 line;
};

#define RELAY_TLS_NONE		0	/* plain; opportunistic never assumed */
#define RELAY_TLS_STARTTLS	1	/* STARTTLS required */
#define RELAY_TLS_SMTPS		2	/* implicit TLS */

#define RELAY_AUTH_NONE		0
#define RELAY_AUTH_PLAIN	1
#define RELAY_AUTH_LOGIN	2
#define RELAY_AUTH_CRAM_MD5	3
#define RELAY_AUTH_POP3		4	/* pop3-before-smtp */

#define POP3_STLS		0	/* pop3: STLS required (unless insecure) */
#define POP3_POP3S		1	/* pop3s: implicit TLS */

struct delivery_rule {
	TAILQ_ENTRY(delivery_rule) entry;
	char			 name[CONFIG_NAME_MAX];
	int			 disabled;
	int			 always;
	TAILQ_HEAD(, match_cond) matches;	/* any one suffices */
	char			 hosts[CONFIG_RELAYHOSTS_MAX][CONFIG_HOST_MAX];
	int			 nhosts;	/* tried in order: failover */
	in_port_t		 port;
	int			 tls;		/* RELAY_TLS_* */
	int			 noverify;	/* do not verify the certificate */
	int			 auth;		/* RELAY_AUTH_* */
	int			 pop3_tls;	/* POP3_* */
	in_port_t		 pop3_port;
	char			 pop3_host[CONFIG_HOST_MAX]; /* "": each relay host */
	char			 credentials[CONFIG_NAME_MAX]; /* label or "" */
	struct table_entry	*secret;	/* the label's entry, or NULL */
	int			 insecure;	/* credentials over plain text ok */
	const char		*file;
	int			 line;
};

/* ---- limits, checks, queue -------------------------------------------- */

/* 0 means "no limit" for each count. */
struct limits {
	int			 conn_per_ip;
	int			 msgs_per_ip;
	time_t			 msgs_per_ip_within;
	int			 msgs_per_user;
	time_t			 msgs_per_user_within;
	int			 rcpts_per_msg;
	int			 unknown_rcpts_per_session;
	int			 failed_cmds_per_session;
	int			 auth_failures_per_ip;
	time_t			 auth_failures_within;
	time_t			 auth_failures_block;
	size_t			 message_size;
	struct table		*exempt;	/* or NULL */
};

#define CHECK_OFF		0
#define CHECK_TAG		1	/* add a header only */
#define CHECK_REJECT_FAIL	2	/* reject on "fail", tag otherwise */

#define SPAMD_ONERROR_ACCEPT	0
#define SPAMD_ONERROR_TEMPFAIL	1
#define SPAMD_ONERROR_REJECT	2

struct spamd_check {
	int			 enabled;
	struct sockaddr_storage	 ss;		/* address, port set too */
	socklen_t		 sslen;
	in_port_t		 port;
	int			 tag_above;	/* hundredths; -1: never */
	int			 reject_above;	/* hundredths; -1: never */
	time_t			 timeout;
	int			 on_error;	/* SPAMD_ONERROR_* */
	const char		*file;
	int			 line;
};

struct queue_conf {
	time_t			 retry[CONFIG_RETRY_MAX]; /* last one repeats */
	int			 nretry;
	time_t			 warn_after;
	time_t			 bounce_after;
	int			 deliveries;	/* concurrent, in all */
	int			 per_domain;	/* concurrent, per domain */
};

/* ---- the whole ----------------------------------------------------------- */

struct config {
	char			 hostname[CONFIG_HOST_MAX];
	char			 spool[CONFIG_PATH_MAX];
	char			 control_socket[CONFIG_PATH_MAX];
	char			 control_group[CONFIG_NAME_MAX];
	const char		*control_file;	/* where "control" was, or NULL */
	int			 control_line;

	TAILQ_HEAD(, config_file) files;	/* read, in order */
	TAILQ_HEAD(config_tables, table) tables;
	TAILQ_HEAD(config_pkis, pki) pkis;
	TAILQ_HEAD(, listener)	 listeners;
	struct table		*authenticate;	/* credentials, or NULL */
	int			 auth_enabled;	/* workers: "authenticate" set
						 * (the front end has no table) */
	const char		*auth_file;
	int			 auth_line;
	TAILQ_HEAD(, accept_rule) accepts;
	TAILQ_HEAD(, relay_rule) relays;
	TAILQ_HEAD(config_deliveries, delivery_rule) deliveries;

	struct limits		 limits;
	int			 reject_unknown_sender_domain;
	int			 check_spf;	/* CHECK_* */
	int			 check_senderid; /* CHECK_* */
	struct spamd_check	 spamd;
	struct queue_conf	 queue;

	int			 resolver_set;	/* else the system's */
	struct sockaddr_storage	 resolver;	/* address, port set too */
	socklen_t		 resolver_len;
	in_port_t		 resolver_port;
	in_port_t		 mx_port;	/* direct delivery; default 25 */
};

/* Parse a file; print each error as "FILE:LINE: message" on stderr
 * (warnings as "FILE:LINE: warning: message"); NULL if any error. */
struct config	*config_parse(const char *);
/* The built-in default: loopback listeners, relay from loopback. */
struct config	*config_default(void);
void		 config_free(struct config *);
/* The normalised config; it parses again to the same output. */
void		 config_print(FILE *, const struct config *);
/* -D name=value: define a macro before config_parse().  0 or -1. */
int		 config_symset(const char *, int);
/* Warnings of the last config_parse() (0 when it printed none). */
int		 config_check_warnings(void);

struct table	*config_table(const struct config *, const char *);
struct pki	*config_pki(const struct config *, const char *);
struct table_entry *config_secret(const struct config *, const char *);

/* Defaults, for the man page and the tests. */
#define DEFAULT_PORT_ROOT	25
#define DEFAULT_PORT_USER	2525
#define DEFAULT_SPOOL		"/var/spool/portcullis"
#define DEFAULT_CONTROL_SOCKET	"/var/run/portcullis/smtpd.sock"
#define DEFAULT_USER_DIR	".portcullis"	/* under $HOME, not root */
#ifdef SMTPD_CTLGROUP
#define DEFAULT_CONTROL_GROUP	SMTPD_CTLGROUP
#else
#define DEFAULT_CONTROL_GROUP	"_smtpctl"
#endif
#define DEFAULT_MESSAGE_SIZE	(35 * 1024 * 1024)
#define DEFAULT_SPAMD_PORT	783
#define DEFAULT_SPAMD_TIMEOUT	15
#define DEFAULT_WARN_AFTER	(4 * 3600)
#define DEFAULT_BOUNCE_AFTER	(5 * 86400)
#define DEFAULT_DELIVERIES	100
#define DEFAULT_PER_DOMAIN	10

/*
 * ---- Internal to the parser (parse.y, config.c, printconf.c). -----------
 */
void		 config_init(struct config *);
void		 config_set_defaults(struct config *);
const char	*config_file_add(struct config *, const char *);
void		 config_errx(const char *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
void		 config_warnx(const char *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
int		 config_errors(void);
void		 config_reset_counts(void);

/* Values: 0 on success, else -1 with a message in the buffer. */
int		 parse_duration(const char *, time_t *, char *, size_t);
int		 parse_size(const char *, size_t *, char *, size_t);
int		 parse_score(const char *, int *, char *, size_t);
int		 parse_net(const char *, struct table_entry *);
int		 parse_listen_addr(const char *, struct sockaddr_storage *,
		    socklen_t *, int);
int		 valid_domain(const char *);
int		 valid_hostname(const char *);
int		 valid_pattern(const char *, char *, size_t);
int		 valid_template(const char *, char *, size_t);
int		 valid_crypt_hash(const char *);
void		 set_port(struct sockaddr_storage *, in_port_t);

struct table	*table_new(const char *);
int		 table_add_string(struct table *, const char *, int, char *,
		    size_t);
int		 table_fits(const struct table *, int, const char *,
		    const char *, int);
int		 table_load(struct config *, struct table *, const char *, int);
void		 table_free(struct table *);
const char	*table_types_str(int);

int		 config_validate(struct config *);
int		 listener_check(const struct config *, const struct listener *);
int		 config_keywords_sorted(void);	/* parse.y, for the tests */

/* printconf.c helpers */
const char	*fmt_duration(time_t, char *, size_t);
const char	*fmt_size(size_t, char *, size_t);
const char	*fmt_score(int, char *, size_t);
const char	*fmt_sockaddr(const struct sockaddr_storage *, char *, size_t);

#endif
