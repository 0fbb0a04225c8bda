#include "core/iov.h"

#include <stdint.h>
#include <string.h>

unsigned iov_skip(const struct iovec *src, unsigned n, size_t skip, struct iovec *dst)
{
	unsigned out = 0;
	for (unsigned i = 0; i < n; i++) {
		if (skip >= src[i].iov_len) {
			skip -= src[i].iov_len;
			continue;
		}
		dst[out].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[out].iov_len = src[i].iov_len - skip;
		skip = 0;
		out++;
	}
	return out;
}

size_t iov_copy(const struct iovec *dst, unsigned dn, size_t dskip, const struct iovec *src,
		unsigned sn, size_t sskip, size_t len)
{
	unsigned di = 0, si = 0;
	size_t done = 0;
	while (di < dn && dskip >= dst[di].iov_len)
		dskip -= dst[di++].iov_len;
	while (si < sn && sskip >= src[si].iov_len)
		sskip -= src[si++].iov_len;
	while (done < len && di < dn && si < sn) {
		size_t c = dst[di].iov_len - dskip;
		if (c > src[si].iov_len - sskip)
			c = src[si].iov_len - sskip;
		if (c > len - done)
			c = len - done;
		memcpy((uint8_t *)dst[di].iov_base + dskip,
		       (const uint8_t *)src[si].iov_base + sskip, c);
		done += c;
		dskip += c;
		sskip += c;
		if (dskip == dst[di].iov_len) {
			di++;
			dskip = 0;
		}
		if (sskip == src[si].iov_len) {
			si++;
			sskip = 0;
		}
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	struct iovec b = {.iov_base = buf, .iov_len = len};
	return iov_copy(&b, 1, 0, iov, n, skip, len);
}

size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	struct iovec b = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
	return iov_copy(iov, n, skip, &b, 1, 0, len);
}
