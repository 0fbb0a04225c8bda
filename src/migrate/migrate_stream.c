/* The live-migration stream; see migrate_stream.h. */
#include "migrate/migrate_stream.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "migrate/snapshot_file.h"

/* ---- sending ---- */

static void put_header(uint8_t *b, enum mig_type type, uint64_t len)
{
	uint32_t t = htole32((uint32_t)type), zero = 0;
	uint64_t l = htole64(len);
	memcpy(b, &t, 4);
	memcpy(b + 4, &zero, 4);
	memcpy(b + 8, &l, 8);
}

/* All of iov, through short writes. MSG_NOSIGNAL: a peer gone is -EPIPE,
 * not a signal. */
static int send_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		size_t done = (size_t)w;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

int mig_send(int fd, enum mig_type type, const void *payload, size_t len)
{
	uint8_t h[MIG_HEADER_BYTES];
	put_header(h, type, len);
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)payload, len}};
	return send_all(fd, iov, len ? 2 : 1);
}

int mig_send_pages(int fd, uint64_t gpa, const void *hva, uint64_t count)
{
	uint8_t h[MIG_HEADER_BYTES + 8];
	put_header(h, MIG_PAGES, 8 + count * MIG_PAGE_SIZE);
	uint64_t g = htole64(gpa);
	memcpy(h + MIG_HEADER_BYTES, &g, 8);
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)hva, count * MIG_PAGE_SIZE}};
	return send_all(fd, iov, 2);
}

int mig_send_zero(int fd, uint64_t gpa, uint64_t count)
{
	uint64_t p[2] = {htole64(gpa), htole64(count)};
	return mig_send(fd, MIG_ZERO, p, sizeof(p));
}

int mig_send_text(int fd, enum mig_type type, const char *fmt, ...)
{
	char text[MIG_MAX_TEXT];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
	return mig_send(fd, type, text, len);
}

/* ---- receiving ---- */

int mig_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static const char *type_name(uint32_t t)
{
	static const char *const names[] = {NULL,    "HELLO", "ACCEPT", "REFUSE", "PAGES",
					    "ZERO",  "STATE", "CANCEL", "DONE",   "FAILED"};
	return t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "unknown";
}

/* Whether len is a length type may have. */
static bool length_ok(uint32_t type, uint64_t len)
{
	switch (type) {
	case MIG_HELLO:
		return len >= 12 && len <= MIG_MAX_HELLO;
	case MIG_ACCEPT:
	case MIG_DONE:
		return len == 0;
	case MIG_REFUSE:
	case MIG_FAILED:
	case MIG_CANCEL:
		return len <= MIG_MAX_TEXT;
	case MIG_PAGES:
		return len >= 8 + MIG_PAGE_SIZE && (len - 8) % MIG_PAGE_SIZE == 0 &&
		       (len - 8) / MIG_PAGE_SIZE <= MIG_MAX_PAGES;
	case MIG_ZERO:
		return len == 16;
	case MIG_STATE:
		return len >= 1 && len <= SNAP_MAX_FILE;
	default:
		return false;
	}
}

int mig_recv_header(int fd, bool from_source, struct mig_header *h, char *why, size_t why_len)
{
	uint8_t b[MIG_HEADER_BYTES];
	int ret = mig_read_full(fd, b, sizeof(b));
	if (ret < 0) {
		snprintf(why, why_len, "the stream ended: %s",
			 ret == -EPIPE ? "the other side closed it" : strerror(-ret));
		return ret;
	}
	uint32_t type, reserved;
	uint64_t len;
	memcpy(&type, b, 4);
	memcpy(&reserved, b + 4, 4);
	memcpy(&len, b + 8, 8);
	h->type = le32toh(type);
	h->len = le64toh(len);
	bool ours = from_source ? (h->type == MIG_HELLO || h->type == MIG_PAGES ||
				   h->type == MIG_ZERO || h->type == MIG_STATE ||
				   h->type == MIG_CANCEL)
				: (h->type == MIG_ACCEPT || h->type == MIG_REFUSE ||
				   h->type == MIG_DONE || h->type == MIG_FAILED);
	if (!ours || reserved != 0) {
		snprintf(why, why_len, "the stream has a message of type %u (%s) the %s never sends",
			 h->type, type_name(h->type), from_source ? "source" : "destination");
		return -EINVAL;
	}
	if (!length_ok(h->type, h->len)) {
		snprintf(why, why_len, "the stream has a %s message of %llu bytes, not a length it "
			 "may have", type_name(h->type), (unsigned long long)h->len);
		return -EINVAL;
	}
	return 0;
}

int mig_recv_text(int fd, const struct mig_header *h, char *buf, size_t cap)
{
	char text[MIG_MAX_TEXT];
	size_t len = h->len < sizeof(text) ? (size_t)h->len : sizeof(text);
	int ret = mig_read_full(fd, text, len);
	if (ret < 0)
		return ret;
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < cap; i++)
		buf[n++] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	if (cap)
		buf[n] = 0;
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[MIG_PAGE_SIZE];
	return memcmp(p, zero, sizeof(zero)) == 0;
}

int mig_recv_memory(int fd, const struct mig_header *h, const struct guest_mem *mem,
		    uint64_t *pages, char *why, size_t why_len)
{
	uint64_t gpa, count;
	int ret = mig_read_full(fd, &gpa, 8);
	if (ret < 0)
		goto cut;
	gpa = le64toh(gpa);
	if (h->type == MIG_ZERO) {
		if ((ret = mig_read_full(fd, &count, 8)) < 0)
			goto cut;
		count = le64toh(count);
	} else {
		count = (h->len - 8) / MIG_PAGE_SIZE;
	}
	uint8_t *dst = count && count <= UINT64_MAX / MIG_PAGE_SIZE && !(gpa % MIG_PAGE_SIZE)
			       ? guest_mem_ptr(mem, gpa, count * MIG_PAGE_SIZE)
			       : NULL;
	if (!dst) {
		snprintf(why, why_len, "the stream has %llu pages at 0x%llx: not whole pages inside "
			 "one RAM region", (unsigned long long)count, (unsigned long long)gpa);
		return -EINVAL;
	}
	*pages = count;
	if (h->type == MIG_PAGES) {
		ret = mig_read_full(fd, dst, count * MIG_PAGE_SIZE);
		if (ret < 0)
			goto cut;
		return 0;
	}
	/* Zero pages: written only where not zero already, so RAM the guest
	 * never touched is never allocated here either. */
	for (uint64_t i = 0; i < count; i++, dst += MIG_PAGE_SIZE)
		if (!page_is_zero(dst))
			memset(dst, 0, MIG_PAGE_SIZE);
	return 0;
cut:
	snprintf(why, why_len, "the stream ended inside a %s message: %s",
		 type_name(h->type), ret == -EPIPE ? "the other side closed it" : strerror(-ret));
	return ret;
}
