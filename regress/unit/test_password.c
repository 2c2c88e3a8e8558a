/*
 * Portcullis: password checks against crypt(3) hashes of every kind the
 * parser takes (yescrypt, bcrypt, sha512-crypt), also inside the auth
 * process's sandbox.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "sandbox.h"
#include "config.h"
#include "password.h"

static struct table *
table_with(const char *login, const char *hash)
{
	struct table		*t;
	struct table_entry	*e;

	t = table_new("users");
	e = calloc(1, sizeof(*e));
	if (t == NULL || e == NULL)
		abort();
	e->type = ENTRY_CREDENTIALS;
	e->key = strdup(login);
	e->value = strdup(hash);
	TAILQ_INSERT_TAIL(&t->entries, e, entry);
	t->types = ENTRY_CREDENTIALS;
	t->count = 1;
	return t;
}

static const char *const prefixes[] = { "$y$", "$2b$", "$6$" };

static void
test_each_hash_kind(void)
{
	struct table	*t;
	const char	*salt, *hash;
	size_t		 i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		salt = crypt_gensalt(prefixes[i], 0, NULL, 0);
		CHECK(salt != NULL, "%s: no salt", prefixes[i]);
		if (salt == NULL)
			continue;
		hash = crypt("s3cret pass", salt);
		CHECK(hash != NULL && hash[0] == '$', "%s: no hash",
		    prefixes[i]);
		if (hash == NULL)
			continue;
		t = table_with("alice@example.com", hash);
		CHECK(password_check(t, "alice@example.com", "s3cret pass"),
		    "%s: the right password fails", prefixes[i]);
		CHECK(!password_check(t, "alice@example.com", "s3cret pasS"),
		    "%s: a wrong password passes", prefixes[i]);
		CHECK(!password_check(t, "alice@example.com", ""),
		    "%s: an empty password passes", prefixes[i]);
		CHECK(!password_check(t, "bob@example.com", "s3cret pass"),
		    "%s: an unknown login passes", prefixes[i]);
		CHECK(!password_check(t, "ALICE@example.com", "s3cret pass"),
		    "%s: logins are exact", prefixes[i]);
		table_free(t);
	}
}

static void
test_too_long_password(void)
{
	struct table	*t;
	char		*pw;

	pw = malloc(PASSWORD_MAX + 2);
	memset(pw, 'a', PASSWORD_MAX + 1);
	pw[PASSWORD_MAX + 1] = '\0';
	t = table_with("a", crypt(pw, crypt_gensalt("$6$", 0, NULL, 0)));
	CHECK(!password_check(t, "a", pw), "an over-long password passes");
	table_free(t);
	free(pw);
}

/* The hash runs in auth: under its sandbox, yescrypt included. */
static void
test_inside_the_auth_sandbox(void)
{
	struct table	*t;
	const char	*hash;
	pid_t		 pid;
	int		 status;

	hash = crypt("pw", crypt_gensalt("$y$", 0, NULL, 0));
	t = table_with("a", hash);
	if ((pid = fork()) == 0) {
		sandbox_auth();
		_exit(password_check(t, "a", "pw") &&
		    !password_check(t, "a", "px") ? 0 : 3);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "sandboxed check: status 0x%x", status);
	table_free(t);
}

int
main(void)
{
	RUN(test_each_hash_kind);
	RUN(test_too_long_password);
	RUN(test_inside_the_auth_sandbox);
	return unit_done();
}
