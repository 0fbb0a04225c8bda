/* KVM's binary statistics: see kvm_stats.h. */
#include "kvm/kvm_stats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

bool kvm_stats_supported(int kvm_fd)
{
	return ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;
}

int kvm_stats_open(struct kvm_stats *s, int kvm_object_fd, const char *who)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	int fd = ioctl(kvm_object_fd, KVM_GET_STATS_FD, 0);
	if (fd < 0) {
		int err = errno;
		log_error("%s: KVM_GET_STATS_FD: %s", who, strerror(err));
		return -err;
	}
	return kvm_stats_parse(s, fd, who);
}

/* A statistic's name as the kernel writes them: [A-Za-z0-9_], not empty,
 * NUL-terminated within name_size. Anything else is not a name to print. */
static bool valid_name(const char *name, size_t size)
{
	size_t len = strnlen(name, size);
	if (len == 0 || len == size)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

static int refuse(struct kvm_stats *s, const char *who, const char *what)
{
	log_error("%s: KVM stats: %s; not read", who, what);
	kvm_stats_close(s);
	return -EINVAL;
}

/* Fills one kvm_stat from its raw descriptor, checking it against the
 * limits; the data block grows to cover it. */
static int take_desc(struct kvm_stats *s, const struct kvm_stats_desc *d, uint32_t name_size,
		     const char *who)
{
	if (!valid_name(d->name, name_size))
		return refuse(s, who, "a descriptor's name is empty, unterminated or not a name");
	if (d->size == 0 || d->size > KVM_STATS_MAX_ITEMS)
		return refuse(s, who, "a descriptor's size is 0 or too large");
	if (d->offset % sizeof(uint64_t))
		return refuse(s, who, "a descriptor's offset is not 8-byte aligned");
	uint64_t end = (uint64_t)d->offset + (uint64_t)d->size * sizeof(uint64_t);
	if (end > KVM_STATS_MAX_DATA)
		return refuse(s, who, "a descriptor points past the data block's limit");
	struct kvm_stat *st = &s->stats[s->n++];
	memcpy(st->name, d->name, strlen(d->name) + 1);
	st->offset = d->offset;
	st->items = d->size;
	if (end > s->data_len)
		s->data_len = (size_t)end;
	return 0;
}

/* The descriptors: num_desc of them, desc_size bytes apart from
 * desc_offset. Each is copied out of raw into d, whose fields are then
 * aligned. */
static int take_descs(struct kvm_stats *s, const struct kvm_stats_header *h, const char *who)
{
	size_t desc_size = sizeof(struct kvm_stats_desc) + h->name_size;
	size_t total = desc_size * h->num_desc; /* bounded by the header checks */
	uint8_t *raw = malloc(total);
	struct kvm_stats_desc *d = malloc(desc_size);
	s->stats = calloc(h->num_desc, sizeof(*s->stats));
	int ret = 0;
	if (!raw || !d || !s->stats)
		ret = refuse(s, who, "out of memory");
	else if (pread(s->fd, raw, total, h->desc_offset) != (ssize_t)total)
		ret = refuse(s, who, "the descriptors lie past the end of the file");
	for (uint32_t i = 0; ret == 0 && i < h->num_desc; i++) {
		memcpy(d, raw + i * desc_size, desc_size);
		ret = take_desc(s, d, h->name_size, who);
	}
	free(raw);
	free(d);
	return ret;
}

int kvm_stats_parse(struct kvm_stats *s, int fd, const char *who)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	struct kvm_stats_header h;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return refuse(s, who, "the header cannot be read");
	if (h.name_size == 0 || h.name_size > KVM_STATS_MAX_NAME)
		return refuse(s, who, "the header's name size is 0 or too large");
	if (h.num_desc > KVM_STATS_MAX_DESC)
		return refuse(s, who, "the header counts too many descriptors");
	if (h.num_desc) {
		int ret = take_descs(s, &h, who);
		if (ret < 0)
			return ret;
	}
	s->data_offset = h.data_offset;
	s->data = s->data_len ? malloc(s->data_len) : NULL;
	if (s->data_len && !s->data)
		return refuse(s, who, "out of memory");
	/* Read it once now, so a block past the end of the file is refused
	 * here rather than at every emit. */
	if (s->data_len &&
	    pread(fd, s->data, s->data_len, s->data_offset) != (ssize_t)s->data_len)
		return refuse(s, who, "the data block lies past the end of the file");
	return 0;
}

int kvm_stats_emit(struct kvm_stats *s, const struct counter_sink *sink, const char *device,
		   const char *scope)
{
	if (s->data_len &&
	    pread(s->fd, s->data, s->data_len, s->data_offset) != (ssize_t)s->data_len)
		return -EIO;
	for (unsigned i = 0; i < s->n; i++) {
		const struct kvm_stat *st = &s->stats[i];
		const uint64_t *v = s->data + st->offset / sizeof(uint64_t);
		uint64_t sum = 0;
		for (unsigned k = 0; k < st->items; k++)
			sum += v[k];
		sink->emit(sink->opaque, device, scope, st->name, sum);
	}
	return 0;
}

void kvm_stats_close(struct kvm_stats *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->stats);
	free(s->data);
	s->fd = -1;
	s->stats = NULL;
	s->data = NULL;
	s->n = 0;
	s->data_len = 0;
}
