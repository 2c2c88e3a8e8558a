/*
 * Portcullis: CRC-32C.  Reflected polynomial 0x82f63b78, initial value
 * and final xor all ones, as iSCSI and ext4's metadata use it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

#define POLY	0x82f63b78U

static uint32_t	 table[8][256];
static int	 table_ready;

static void
table_init(void)
{
	uint32_t	 c;
	int		 i, j;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	/* table[k][i]: i followed by k zero octets (slicing by 8). */
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			table[j][i] = (table[j - 1][i] >> 8) ^
			    table[0][table[j - 1][i] & 0xff];
	table_ready = 1;
}

uint32_t
crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	uint32_t	 lo, hi;

	if (!table_ready)
		table_init();
	crc = ~crc;
	for (; len >= 8; p += 8, len -= 8) {
		lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		    table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		    table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		    table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t
crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	uint64_t	 c = ~crc, w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, sizeof(w));	/* x86 is little-endian */
		c = _mm_crc32_u64(c, w);
	}
	while (len-- > 0)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	static int	 have = -1;

	if (have == -1) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return have ? crc32c_sse42(crc, buf, len) :
	    crc32c_table(crc, buf, len);
}
#else
uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_table(crc, buf, len);
}
#endif
