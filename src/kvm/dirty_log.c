/* KVM's dirty page log over guest RAM; see dirty_log.h. */
#include "kvm/dirty_log.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/guest_mem_log.h"
#include "core/log.h"
#include "kvm/vm.h"

#define PAGE_SHIFT 12

/* Sets or clears KVM_MEM_LOG_DIRTY_PAGES on RAM slot i (slot i is region
 * i: vm.c's set_memslots). */
static int set_logging(struct vm *vm, unsigned i, bool on)
{
	const struct guest_mem_region *r = &vm->mem.regions[i];
	struct kvm_userspace_memory_region slot = {
		.slot = i,
		.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)r->hva,
	};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ? -errno : 0;
}

void dirty_log_stop(struct vm *vm, struct dirty_log *dl)
{
	for (unsigned i = 0; i < dl->nregions; i++) {
		if (set_logging(vm, i, false) < 0)
			log_warn("/dev/kvm: turning the dirty log off on slot %u: %s", i,
				 strerror(errno));
		free(dl->bits[i]);
	}
	memset(dl, 0, sizeof(*dl));
}

int dirty_log_start(struct vm *vm, struct dirty_log *dl)
{
	memset(dl, 0, sizeof(*dl));
	int caps = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
					     .args = {KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE}};
		dl->manual = ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
	}
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		dl->pages[i] = vm->mem.regions[i].size >> PAGE_SHIFT;
		/* KVM's bitmaps are arrays of 64-bit words. */
		dl->bits[i] = calloc((dl->pages[i] + 63) / 64, sizeof(uint64_t));
		int ret = dl->bits[i] ? set_logging(vm, i, true) : -ENOMEM;
		dl->nregions = i + 1;
		if (ret < 0) {
			log_error("/dev/kvm: turning the dirty log on for RAM slot %u: %s", i,
				  strerror(-ret));
			dirty_log_stop(vm, dl);
			return ret;
		}
	}
	return 0;
}

int dirty_log_sync(struct vm *vm, struct dirty_log *dl, uint64_t *dirty)
{
	*dirty = 0;
	for (unsigned i = 0; i < dl->nregions; i++) {
		size_t words = (dl->pages[i] + 63) / 64;
		uint64_t *fresh = calloc(words, sizeof(uint64_t));
		if (!fresh)
			return -ENOMEM;
		struct kvm_dirty_log get = {.slot = i, .dirty_bitmap = fresh};
		int ret = ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &get) < 0 ? -errno : 0;
		if (ret == 0 && dl->manual) {
			/* Re-protect what was just reported, no more: a page
			 * written since is reported again next time. */
			struct kvm_clear_dirty_log clear = {.slot = i, .num_pages = dl->pages[i],
							    .first_page = 0, .dirty_bitmap = fresh};
			if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
				ret = -errno;
		}
		if (ret < 0) {
			log_error("/dev/kvm: reading the dirty log of RAM slot %u: %s", i,
				  strerror(-ret));
			free(fresh);
			return ret;
		}
		/* And what iovirt and vhost wrote (guest_mem_log.h): the
		 * region's pages from its first, a multiple of 64 (RAM regions
		 * start at 0 and 4 GiB). */
		uint64_t first = vm->mem.regions[i].gpa >> PAGE_SHIFT;
		for (size_t w = 0; w < words; w++) {
			dl->bits[i][w] |= fresh[w] | guest_mem_log_take(&vm->mem, first + w * 64);
			*dirty += (uint64_t)__builtin_popcountll(dl->bits[i][w]);
		}
		free(fresh);
	}
	return 0;
}

bool dirty_log_take(struct dirty_log *dl, unsigned region, uint64_t page)
{
	if (region >= dl->nregions || page >= dl->pages[region])
		return false;
	uint64_t bit = 1ULL << (page % 64);
	bool set = dl->bits[region][page / 64] & bit;
	dl->bits[region][page / 64] &= ~bit;
	return set;
}
