/*
 * Portcullis: libFuzzer target for the base64 decoder that reads SMTP
 * AUTH (and POP3) responses from the network: never a crash or an
 * out-of-bounds write, and whatever decodes encodes back to the same
 * text (the decoder accepts exactly one spelling of each octet string).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t	 out[12288];
	static char	 again[16400];
	size_t		 cap;
	int		 n, m;

	if (size > 16384)
		return 0;
	/* a small output buffer too, to test the bound */
	cap = size > 0 ? data[0] % 64 : 0;
	(void)base64_decode((const char *)data, size, out, cap);
	n = base64_decode((const char *)data, size, out, sizeof(out));
	if (n < 0)
		return 0;
	m = base64_encode(out, n, again, sizeof(again));
	if (m < 0 || (size_t)m != size || memcmp(again, data, size) != 0)
		abort();
	return 0;
}
