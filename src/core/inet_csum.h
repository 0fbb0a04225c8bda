/* The Internet checksum (RFC 1071), for the NIC models that compute or
 * verify IPv4/TCP/UDP checksums in software (virtio-net without a vnet
 * header, the e1000's checksum offload and TCP segmentation). */
#ifndef IOVIRT_CORE_INET_CSUM_H
#define IOVIRT_CORE_INET_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds buf's big-endian 16-bit words (an odd last byte padded with zero) to
 * sum, unfolded. Pieces of one checksum must be even-length but the last. */
uint32_t inet_csum_add(const uint8_t *buf, size_t len, uint32_t sum);

/* The folded one's-complement sum, complemented: what goes into a header.
 * A correct header checksums to 0 over itself. */
uint16_t inet_csum_fold(uint32_t sum);

/* inet_csum_fold(inet_csum_add(buf, len, sum)). */
uint16_t inet_csum(const uint8_t *buf, size_t len, uint32_t sum);

#endif
