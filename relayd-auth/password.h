/*
 * Portcullis: password checks against the credentials table, in the
 * auth process only (relayd-auth/password.c).
 */
#ifndef PORTCULLIS_PASSWORD_H
#define PORTCULLIS_PASSWORD_H

struct table;

#define PASSWORD_MAX	1024	/* longer passwords are refused */

/* 1 when the login exists and the password matches its crypt(3) hash,
 * else 0.  An unknown login costs a hash all the same, so that timing
 * does not tell which logins exist. */
int	 password_check(const struct table *, const char *, const char *);

/* The two halves of password_check(): the hash of a login (a dummy
 * one, *known = 0, for an unknown login), and crypt(3) of a password
 * against a hash in constant-time comparison (thread-safe: the
 * hashing thread runs it, hasher.c). */
const char *password_lookup(const struct table *, const char *, int *);
int	 password_verify(const char *, const char *);

#endif
