/*
 * Portcullis: strict base64.
 */
#include <stddef.h>
#include <stdint.h>

#include "base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *src, size_t len, uint8_t *dst, size_t dstlen)
{
	size_t		 i, out = 0, pad = 0;
	uint32_t	 acc;
	int		 v[4], k;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			if (src[i + k] == '=') {
				/* only at the very end, one or two */
				if (i + 4 != len || k < 2)
					return -1;
				v[k] = 0;
				pad++;
			} else {
				if (pad > 0 || (v[k] = value(src[i + k])) < 0)
					return -1;
			}
		}
		acc = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* the bits under the padding must be zero */
		if ((pad == 1 && (acc & 0xff) != 0) ||
		    (pad == 2 && (acc & 0xffff) != 0))
			return -1;
		if (dstlen - out < 3 - pad || out > dstlen)
			return -1;
		dst[out++] = acc >> 16;
		if (pad < 2)
			dst[out++] = (acc >> 8) & 0xff;
		if (pad < 1)
			dst[out++] = acc & 0xff;
	}
	if (out > (size_t)INT32_MAX)
		return -1;
	return (int)out;
}

int
base64_encode(const uint8_t *src, size_t len, char *dst, size_t dstlen)
{
	size_t		 i, out = 0;
	uint32_t	 acc;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3 || dstlen < (len + 2) / 3 * 4 + 1 ||
	    (len + 2) / 3 * 4 > (size_t)INT32_MAX)
		return -1;
	for (i = 0; i < len; i += 3) {
		acc = (uint32_t)src[i] << 16;
		if (i + 1 < len)
			acc |= (uint32_t)src[i + 1] << 8;
		if (i + 2 < len)
			acc |= src[i + 2];
		dst[out++] = alphabet[acc >> 18];
		dst[out++] = alphabet[(acc >> 12) & 0x3f];
		dst[out++] = i + 1 < len ? alphabet[(acc >> 6) & 0x3f] : '=';
		dst[out++] = i + 2 < len ? alphabet[acc & 0x3f] : '=';
	}
	dst[out] = '\0';
	return (int)out;
}
