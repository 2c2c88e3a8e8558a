/*
 * Portcullis: CRC-32C (Castagnoli, RFC 3720 appendix B.4), the check
 * the spool writes with each envelopes file and body so that recovery
 * can tell a message whose blocks did not all reach the disk.
 */
#ifndef PORTCULLIS_CRC32C_H
#define PORTCULLIS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of len octets following crc, the CRC of what came before
 * them (0 to start): crc32c(crc32c(0, a, n), b, m) is the CRC of a then
 * b.  With SSE 4.2 where the CPU has it, else from a table. */
uint32_t	 crc32c(uint32_t, const void *, size_t);
/* The table alone, for tests to compare the two. */
uint32_t	 crc32c_table(uint32_t, const void *, size_t);

#endif
