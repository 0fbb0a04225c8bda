/* Scatter-gather helpers shared by the NIC models and the virtqueue: views
 * and copies over struct iovec arrays, bounded by the arrays' lengths. */
#ifndef IOVIRT_CORE_IOV_H
#define IOVIRT_CORE_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* dst = src without its first skip bytes (dst has room for n entries);
 * returns dst's entry count. */
unsigned iov_skip(const struct iovec *src, unsigned n, size_t skip, struct iovec *dst);

/* Copies up to len bytes from src (from sskip on) to dst (from dskip on);
 * returns the bytes copied (less if either side ends first). */
size_t iov_copy(const struct iovec *dst, unsigned dn, size_t dskip, const struct iovec *src,
		unsigned sn, size_t sskip, size_t len);

/* Between an iovec array (from skip on) and a flat buffer: up to len bytes;
 * returns the bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

#endif
