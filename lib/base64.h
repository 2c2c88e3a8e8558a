/*
 * Portcullis: base64 (RFC 4648 section 4), strict, for SMTP AUTH and
 * POP3: no white space, no missing padding, no bits left over.
 */
#ifndef PORTCULLIS_BASE64_H
#define PORTCULLIS_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decode len characters of src into dst; the length decoded, or -1 for
 * malformed input or when dst (dstlen octets) is too small. */
int	 base64_decode(const char *, size_t, uint8_t *, size_t);
/* Encode, NUL-terminated; the length written (no NUL), or -1 when dst
 * is too small. */
int	 base64_encode(const uint8_t *, size_t, char *, size_t);

#endif
