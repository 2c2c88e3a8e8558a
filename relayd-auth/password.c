/*
 * Portcullis: password checks.  Hashes are crypt(3) strings (yescrypt,
 * bcrypt, sha512-crypt: the parser refuses anything else); the result
 * is compared in constant time, and the work buffer is wiped.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <crypt.h>
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

int
password_check(const struct table *creds, const char *login,
    const char *password)
{
	static struct crypt_data	 cd;
	const struct table_entry	*e;
	const char			*hash, *out;
	int				 ok;

	if (strlen(password) > PASSWORD_MAX)
		return 0;
	e = table_credentials(creds, login);
	hash = e != NULL ? e->value : dummy_hash;
	out = crypt_r(password, hash, &cd);
	ok = out != NULL && out[0] != '*' && equal_ct(out, hash) && e != NULL;
	explicit_bzero(&cd, sizeof(cd));
	return ok;
}
