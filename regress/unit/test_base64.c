/*
 * Portcullis: strict base64, as SMTP AUTH and POP3 read it.
 */
#include <string.h>

#include "unit.h"
#include "base64.h"

static const struct {
	const char	*enc;
	const char	*dec;		/* NULL: must be refused */
	size_t		 declen;
} rows[] = {
	{ "", "", 0 },
	{ "Zg==", "f", 1 },
	{ "Zm8=", "fo", 2 },
	{ "Zm9v", "foo", 3 },
	{ "Zm9vYg==", "foob", 4 },
	{ "Zm9vYmE=", "fooba", 5 },
	{ "Zm9vYmFy", "foobar", 6 },
	{ "AGFsaWNlAHNlY3JldA==", "\0alice\0secret", 13 },
	{ "Zg", NULL, 0 },		/* padding missing */
	{ "Zg=", NULL, 0 },
	{ "Zg===", NULL, 0 },
	{ "Z===", NULL, 0 },
	{ "Zh==", NULL, 0 },		/* bits under the padding */
	{ "Zm9=", NULL, 0 },
	{ "Zg==Zg==", NULL, 0 },	/* padding in the middle */
	{ "Zm9v\r\n", NULL, 0 },
	{ "Zm 9v", NULL, 0 },
	{ "Zm9v!", NULL, 0 },
	{ "Zm-_", NULL, 0 },		/* the URL alphabet is not base64 */
};

static void
test_decode(void)
{
	uint8_t	 buf[64];
	size_t	 i;
	int	 n;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = base64_decode(rows[i].enc, strlen(rows[i].enc), buf,
		    sizeof(buf));
		if (rows[i].dec == NULL) {
			CHECK(n == -1, "\"%s\": got %d want refused",
			    rows[i].enc, n);
			continue;
		}
		CHECK(n == (int)rows[i].declen &&
		    memcmp(buf, rows[i].dec, rows[i].declen) == 0,
		    "\"%s\": got %d octets want %zu", rows[i].enc, n,
		    rows[i].declen);
	}
}

static void
test_encode_round_trip(void)
{
	uint8_t	 in[40], out[40];
	char	 enc[64];
	size_t	 len, i;
	int	 n;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (len = 0; len <= sizeof(in); len++) {
		n = base64_encode(in, len, enc, sizeof(enc));
		CHECK(n == (int)((len + 2) / 3 * 4), "len %zu: encoded %d",
		    len, n);
		n = base64_decode(enc, strlen(enc), out, sizeof(out));
		CHECK(n == (int)len && memcmp(in, out, len) == 0,
		    "len %zu: round trip %d", len, n);
	}
}

static void
test_bounds(void)
{
	uint8_t	 small[2];
	char	 enc[5];

	CHECK(base64_decode("Zm9v", 4, small, sizeof(small)) == -1,
	    "decoded past the buffer");
	CHECK(base64_encode((const uint8_t *)"foob", 4, enc, sizeof(enc)) ==
	    -1, "encoded past the buffer");
	CHECK(base64_encode((const uint8_t *)"foo", 3, enc, sizeof(enc)) ==
	    4, "exact fit refused");
}

int
main(void)
{
	RUN(test_decode);
	RUN(test_encode_round_trip);
	RUN(test_bounds);
	return unit_done();
}
