/*
 * Portcullis: CRC-32C, the check of the spool's files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "crc32c.h"

/* RFC 3720 appendix B.4, and the usual check value. */
static void
test_vectors(void)
{
	uint8_t		 buf[32];
	uint32_t	 got;
	int		 i, sw;

	for (sw = 0; sw < 2; sw++) {
		uint32_t (*f)(uint32_t, const void *, size_t) =
		    sw ? crc32c_table : crc32c;

		memset(buf, 0, sizeof(buf));
		CHECK((got = f(0, buf, 32)) == 0x8a9136aa,
		    "%s: 32 zeros: %08x", sw ? "table" : "crc32c", got);
		memset(buf, 0xff, sizeof(buf));
		CHECK((got = f(0, buf, 32)) == 0x62a8ab43,
		    "%s: 32 ones: %08x", sw ? "table" : "crc32c", got);
		for (i = 0; i < 32; i++)
			buf[i] = (uint8_t)i;
		CHECK((got = f(0, buf, 32)) == 0x46dd794e,
		    "%s: ascending: %08x", sw ? "table" : "crc32c", got);
		for (i = 0; i < 32; i++)
			buf[i] = (uint8_t)(31 - i);
		CHECK((got = f(0, buf, 32)) == 0x113fdb5c,
		    "%s: descending: %08x", sw ? "table" : "crc32c", got);
		CHECK((got = f(0, "123456789", 9)) == 0xe3069283,
		    "%s: 123456789: %08x", sw ? "table" : "crc32c", got);
		CHECK((got = f(0, "", 0)) == 0, "%s: empty: %08x",
		    sw ? "table" : "crc32c", got);
	}
}

/* Any length, any alignment, in pieces or whole: the same value both
 * ways. */
static void
test_pieces(void)
{
	uint8_t		*buf;
	uint32_t	 whole, a, b;
	size_t		 len, off, cut, bad = 0;

	if ((buf = malloc(4096 + 16)) == NULL)
		abort();
	for (len = 0; len < 4096 + 16; len++)
		buf[len] = (uint8_t)(len * 131 + 7);
	for (off = 0; off < 8; off++)
		for (len = 0; len < 300; len += 7) {
			whole = crc32c_table(0, buf + off, len);
			if (crc32c(0, buf + off, len) != whole)
				bad++;
			for (cut = 0; cut <= len; cut += 5) {
				a = crc32c(crc32c(0, buf + off, cut),
				    buf + off + cut, len - cut);
				b = crc32c_table(crc32c_table(0, buf + off,
				    cut), buf + off + cut, len - cut);
				if (a != whole || b != whole)
					bad++;
			}
		}
	CHECK(bad == 0, "%zu lengths or cuts differ", bad);
	/* One bit changed anywhere changes it. */
	whole = crc32c(0, buf, 4096);
	for (off = 0; off < 4096; off += 97) {
		buf[off] ^= 0x10;
		if (crc32c(0, buf, 4096) == whole)
			bad++;
		buf[off] ^= 0x10;
	}
	CHECK(bad == 0, "%zu flipped bits not seen", bad);
	free(buf);
}

int
main(void)
{
	RUN(test_vectors);
	RUN(test_pieces);
	return unit_done();
}
