/* KVM's own statistics (exits by reason, halts, interrupt injections...)
 * through the binary stats interface, KVM_GET_STATS_FD on the VM fd and on
 * each vCPU fd (Documentation/virt/kvm/api.rst "KVM_GET_STATS_FD"), so they
 * work where debugfs is not mounted. The file holds a header, descriptors
 * naming each statistic, and a data block of u64s; the header and the
 * descriptors are read once, the data on every kvm_stats_emit.
 *
 * The layout comes from the kernel, but it is parsed as untrusted input:
 * a descriptor that points outside the data block, a name that is not a
 * name, a count past the limits below: the file is refused with one line,
 * never read out of bounds. */
#ifndef IOVIRT_KVM_KVM_STATS_H
#define IOVIRT_KVM_KVM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"

/* Limits far above what Linux offers (48-byte names, about 60 stats a
 * vCPU, histograms of 32 buckets), so a hostile header cannot make us
 * allocate or read much. */
#define KVM_STATS_MAX_NAME   256
#define KVM_STATS_MAX_DESC   1024
#define KVM_STATS_MAX_ITEMS  1024               /* u64s of one statistic */
#define KVM_STATS_MAX_DATA   (1024 * 1024)      /* bytes of the data block */

struct kvm_stat {
	char name[KVM_STATS_MAX_NAME];
	uint32_t offset;    /* bytes into the data block */
	uint16_t items;     /* u64s: 1, or a histogram's buckets */
};

struct kvm_stats {
	int fd;             /* -1: closed */
	uint32_t data_offset;
	size_t data_len;    /* bytes of the data block the descriptors cover */
	unsigned n;
	struct kvm_stat *stats;
	uint64_t *data;     /* data_len bytes, filled by each emit */
};

/* Does this kernel offer KVM_GET_STATS_FD (KVM_CAP_BINARY_STATS_FD)? */
bool kvm_stats_supported(int kvm_fd);

/* KVM_GET_STATS_FD on a VM or vCPU fd, then kvm_stats_parse. who names the
 * object in the error line ("vCPU 1"). 0, or -errno after one line. */
int kvm_stats_open(struct kvm_stats *s, int kvm_object_fd, const char *who);

/* Reads the header and descriptors of a stats file (pread: a regular file
 * or memfd does as well as the kernel's). Takes fd over, closing it on
 * failure. 0, or -EINVAL after one line naming who and what is wrong. */
int kvm_stats_parse(struct kvm_stats *s, int fd, const char *who);

/* Reads the data block and emits every statistic to sink under device and
 * scope, by its kernel name: a single value as it is, a histogram as the
 * sum of its buckets (its number of samples). 0, or -EIO if the data block
 * cannot be read whole (nothing is emitted then). */
int kvm_stats_emit(struct kvm_stats *s, const struct counter_sink *sink, const char *device,
		   const char *scope);

void kvm_stats_close(struct kvm_stats *s);

#endif
