/*
 * Portcullis: password checks.  Hashes are crypt(3) strings (yescrypt,
 * bcrypt, sha512-crypt: the parser refuses anything else); the result
 * is compared in constant time, and the work buffer is wiped.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "table.h"
#include "password.h"

/* Hashed for unknown logins, so that they cost as much as known ones. */
static const char dummy_hash[] =
    "$6$Pxv4X0yrkLRbNcFJ$jb2ZlNcE4AwjYcZ5Do1I7/6HMEaI6NOpwQFnkgP4VX0n1"
    "2PngF1oHoqSnKqrcB4QYgfSqcyiPovzbLx0aCw.e/";

static int
equal_ct(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i;
	unsigned char	 diff = la != lb;

	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

const char *
password_lookup(const struct table *creds, const char *login, int *known)
{
	const struct table_entry	*e;

	e = table_credentials(creds, login);
	*known = e != NULL;
	return e != NULL ? e->value : dummy_hash;
}

int
password_verify(const char *password, const char *hash)
{
	struct crypt_data	*cd;
	const char		*out;
	int			 ok;

	if (strlen(password) > PASSWORD_MAX)
		return 0;
	/* ~32 KiB: not on a thread's stack */
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
	out = crypt_r(password, hash, cd);
	ok = out != NULL && out[0] != '*' && equal_ct(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
password_check(const struct table *creds, const char *login,
    const char *password)
{
	const char	*hash;
	int		 known;

	hash = password_lookup(creds, login, &known);
	return password_verify(password, hash) && known;
}
