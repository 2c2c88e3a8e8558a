/*
 * Portcullis: an envelope on the wire (imsg) and on disk (text).
 *
 * The imsg form is field by field in the order of struct envelope.
 * envelope_get() validates what it reads and is fatal (naming the
 * message type and the peer) on anything out of range: envelopes only
 * travel between our own processes, so a bad one is a bug.  Rules:
 *	- strings are NUL-terminated, fit their fields, and hold no
 *	  control character (0x00-0x1f, 0x7f); UTF-8 octets are allowed;
 *	- flags, notify, ret, body and dest hold only the values of
 *	  envelope.h; DSN_NOTIFY_NEVER stands alone; warned is 0 or 1;
 *	- times are >= 0;
 *	- sender and rcpt are what mailaddr_parse_path() yields: formatted
 *	  with mailaddr_format() and parsed again they come back equal (the
 *	  sender may be the null path, the recipient <Postmaster>).
 *
 * The text form, envelope_dump(), is "key: value" lines in a fixed
 * order, the first "version: 1", each line ending in "\n", and no
 * empty line: an empty value is written "key:".  envelope_load() is
 * strict: every key once, in order, numbers in their canonical decimal
 * form, the same rules as above, nothing after the last line.
 */
#ifndef PORTCULLIS_ENVELOPE_IO_H
#define PORTCULLIS_ENVELOPE_IO_H

#include <stddef.h>

#include "envelope.h"

#define ENVELOPE_VERSION	1
/* A buffer that holds any envelope_dump() result, with its NUL. */
#define ENVELOPE_DUMP_MAX	4096

struct ipc_obuf;
struct ipc_msg;

void	 envelope_add(struct ipc_obuf *, const struct envelope *);
void	 envelope_get(struct ipc_msg *, struct envelope *);

/* Returns the length written (without the NUL), or -1 when the
 * envelope breaks a rule above or buf is too small. */
int	 envelope_dump(const struct envelope *, char *, size_t);
/* Returns 0, or -1 with *err (may be NULL) set to a static message;
 * the envelope is then zeroed. */
int	 envelope_load(struct envelope *, const char *, size_t,
	    const char **);
/* The checks of envelope_get() and envelope_dump(): 0 or -1 with *err. */
int	 envelope_check(const struct envelope *, const char **);
/* Copy a result text into evp->error, control characters made '?',
 * truncated to fit. */
void	 envelope_set_error(struct envelope *, const char *);

#endif
