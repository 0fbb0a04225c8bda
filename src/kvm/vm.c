#include "kvm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "bus/irq_routing.h"
#include "core/log.h"
#include "kvm/kvm_stats.h"
#include "kvm/vcpu.h"

/* Three pages below 4 GiB that Intel's VMX needs for real-mode emulation;
 * AMD ignores them. Set unconditionally, as on real hosts. */
#define KVM_IDENTITY_MAP_GPA 0xfeffc000ULL
#define KVM_TSS_GPA          0xfeffd000ULL

int vm_open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT)
			log_error("/dev/kvm: not found (no KVM on this host: load kvm-intel or kvm-amd)");
		else if (err == EACCES || err == EPERM)
			log_error("/dev/kvm: permission denied (add yourself to the kvm group)");
		else
			log_error("/dev/kvm: %s", strerror(err));
		return -err;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("/dev/kvm: unsupported KVM API version %d (need %d)", version,
			  KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	static const struct { int cap; const char *name; } needed[] = {
		{KVM_CAP_IRQCHIP, "in-kernel irqchip"},
		{KVM_CAP_USER_MEMORY, "user memory"},
		{KVM_CAP_SET_TSS_ADDR, "TSS address"},
		{KVM_CAP_PIT2, "in-kernel PIT"},
		{KVM_CAP_IMMEDIATE_EXIT, "immediate exit"},
		{KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID"},
	};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
			log_error("/dev/kvm: the host's KVM lacks %s", needed[i].name);
			close(fd);
			return -ENOTSUP;
		}
	}
	return fd;
}

static int set_memslots(struct vm *vm)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

static int map_device_slot(struct vm *vm, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
	uint32_t used = __atomic_load_n(&vm->device_slots, __ATOMIC_ACQUIRE);
	int i;
	do {
		if (used == UINT32_MAX)
			return -ENOSPC;
		i = __builtin_ctz(~used);
	} while (!__atomic_compare_exchange_n(&vm->device_slots, &used, used | (1U << i), false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	struct kvm_userspace_memory_region slot = {
		.slot = GUEST_MEM_MAX_REGIONS + (unsigned)i,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
		.flags = flags,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
		int err = -errno;
		__atomic_fetch_and(&vm->device_slots, ~(1U << i), __ATOMIC_ACQ_REL);
		return err;
	}
	return GUEST_MEM_MAX_REGIONS + i;
}

int vm_map_device_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *hva)
{
	return map_device_slot(vm, gpa, size, hva, 0);
}

int vm_map_rom(struct vm *vm, uint64_t gpa, uint64_t size, void *hva)
{
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return -ENOTSUP;
	return map_device_slot(vm, gpa, size, hva, KVM_MEM_READONLY);
}

void vm_unmap_device_memory(struct vm *vm, int slot)
{
	int i = slot - GUEST_MEM_MAX_REGIONS;
	if (i < 0 || i >= VM_MAX_DEVICE_SLOTS)
		return;
	/* Size 0 deletes the slot. */
	struct kvm_userspace_memory_region r = {.slot = (uint32_t)slot};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		log_warn("/dev/kvm: removing memslot %d: %s", slot, strerror(errno));
	__atomic_fetch_and(&vm->device_slots, ~(1U << i), __ATOMIC_ACQ_REL);
}

int vm_create(struct vm *vm, int kvm_fd, uint64_t ram_size, enum guest_mem_backing backing,
	      unsigned ncpus)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = kvm_fd;
	vm->vm_fd = -1;
	vm->park_fd = -1;
	vm->ncpus = ncpus;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_mutex_init(&vm->stats_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	coalesced_mmio_init(&vm->coalesced);
	guest_mem_init_empty(&vm->mem);
	int ret;

	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		log_error("/dev/kvm: KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	vm->run_mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_mmap_size <= 0) {
		ret = -EINVAL;
		log_error("/dev/kvm: KVM_GET_VCPU_MMAP_SIZE failed");
		goto fail;
	}
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){KVM_IDENTITY_MAP_GPA}) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_GPA) < 0) {
		ret = -errno;
		log_error("/dev/kvm: setting the TSS/identity-map pages: %s", strerror(errno));
		goto fail;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		ret = -errno;
		log_error("/dev/kvm: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		goto fail;
	}
	vm->routing = irq_routing_create(vm->vm_fd);
	if (!vm->routing) {
		ret = -ENOTSUP;
		goto fail;
	}
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		ret = -errno;
		log_error("/dev/kvm: KVM_CREATE_PIT2: %s", strerror(errno));
		goto fail;
	}

	ret = guest_mem_init(&vm->mem, ram_size, backing);
	if (ret < 0) {
		log_error("--memory: cannot allocate %llu MiB of guest RAM%s: %s",
			  (unsigned long long)(ram_size >> 20),
			  backing == GUEST_MEM_HUGETLB ? " from hugepages" : "", strerror(-ret));
		goto fail;
	}
	ret = set_memslots(vm);
	if (ret < 0) {
		log_error("/dev/kvm: KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
		goto fail;
	}

	vm->pio = iobus_create("pio");
	vm->mmio = iobus_create("mmio");
	vm->loop = loop_create();
	vm->vcpus = calloc(ncpus, sizeof(*vm->vcpus));
	if (!vm->pio || !vm->mmio || !vm->loop || !vm->vcpus) {
		ret = -ENOMEM;
		log_error("out of memory creating the VM");
		goto fail;
	}
	for (unsigned i = 0; i < ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < ncpus; i++) {
		ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret < 0) {
			log_error("/dev/kvm: creating vCPU %u: %s", i, strerror(-ret));
			goto fail;
		}
	}
	coalesced_mmio_attach(&vm->coalesced, vm->vm_fd,
			      coalesced_mmio_find_ring(kvm_fd, vm->vcpus[0].run, vm->run_mmap_size),
			      vm->mmio, vm->pio);
	return 0;
fail:
	vm_destroy(vm);
	return ret;
}

static void stats_free(struct kvm_stats *stats, unsigned n)
{
	if (!stats)
		return;
	for (unsigned i = 0; i < n; i++)
		kvm_stats_close(&stats[i]);
	free(stats);
}

static void stats_close(struct vm *vm)
{
	stats_free(vm->stats, vm->ncpus + 1);
	vm->stats = NULL;
}

int vm_stats_open(struct vm *vm)
{
	if (!kvm_stats_supported(vm->kvm_fd))
		return -ENOTSUP;
	struct kvm_stats *stats = calloc(vm->ncpus + 1, sizeof(*stats));
	if (!stats)
		return -ENOMEM;
	for (unsigned i = 0; i <= vm->ncpus; i++)
		stats[i].fd = -1;
	int ret = kvm_stats_open(&stats[0], vm->vm_fd, "VM");
	for (unsigned i = 0; ret == 0 && i < vm->ncpus; i++) {
		char who[24];
		snprintf(who, sizeof(who), "vCPU %u", i);
		ret = kvm_stats_open(&stats[1 + i], vm->vcpus[i].fd, who);
	}
	if (ret < 0) {
		stats_free(stats, vm->ncpus + 1);
		return ret;
	}
	/* Published whole: a reader on another thread may be looking. */
	pthread_mutex_lock(&vm->stats_lock);
	struct kvm_stats *old = vm->stats;
	vm->stats = stats;
	pthread_mutex_unlock(&vm->stats_lock);
	stats_free(old, vm->ncpus + 1);
	return 0;
}

void vm_stats_emit(struct vm *vm, const struct counter_sink *sink)
{
	/* Each kvm_stats reads into its own data block: one reader at a time. */
	pthread_mutex_lock(&vm->stats_lock);
	for (unsigned i = 0; vm->stats && i <= vm->ncpus; i++) {
		char scope[16];
		if (i == 0)
			snprintf(scope, sizeof(scope), "vm");
		else
			snprintf(scope, sizeof(scope), "vcpu%u", i - 1);
		if (kvm_stats_emit(&vm->stats[i], sink, "kvm", scope) < 0)
			log_warn("KVM stats of %s: cannot read the data block", scope);
	}
	pthread_mutex_unlock(&vm->stats_lock);
}

void vm_destroy(struct vm *vm)
{
	stats_close(vm);
	if (vm->coalesced.writes)
		log_debug("kvm: %llu guest writes buffered by KVM (coalesced MMIO) and replayed",
			  (unsigned long long)vm->coalesced.writes);
	coalesced_mmio_destroy(&vm->coalesced); /* the ring goes with vCPU 0's mapping */
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	loop_destroy(vm->loop);
	vm->loop = NULL;
	irq_routing_destroy(vm->routing);
	vm->routing = NULL;
	iobus_destroy(vm->pio);
	iobus_destroy(vm->mmio);
	vm->pio = vm->mmio = NULL;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
	guest_mem_destroy(&vm->mem);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->stats_lock);
}

void vm_request_exit(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
{
	int expected = VM_RUNNING;
	if (__atomic_compare_exchange_n(&vm->exit_reason, &expected, (int)reason, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->exit_detail, sizeof(vm->exit_detail), fmt, ap);
		va_end(ap);
	}
	if (vm->loop)
		loop_stop(vm->loop);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	/* Parked vCPUs see the reason once woken (they check it under the
	 * lock, so none goes back to sleep after this). */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_pause_vcpus(struct vm *vm, int notify_fd)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->park_fd = notify_fd;
	/* Sequentially consistent with the vCPU's check after it clears
	 * immediate_exit (vcpu.c): it sees pause, or the kick's immediate_exit. */
	__atomic_store_n(&vm->pause, true, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

bool vm_vcpus_parked(struct vm *vm)
{
	unsigned started = 0;
	for (unsigned i = 0; i < vm->ncpus; i++)
		started += vm->vcpus[i].started;
	pthread_mutex_lock(&vm->pause_lock);
	bool all = vm->pause && vm->parked == started;
	pthread_mutex_unlock(&vm->pause_lock);
	return all;
}

void vm_resume_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	__atomic_store_n(&vm->pause, false, __ATOMIC_SEQ_CST);
	vm->park_fd = -1;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_clock_save(struct vm *vm)
{
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	vm->clock_saved = false;
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	vm->paused_clock = clock.clock;
	vm->clock_saved = true;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	vm->paused_realtime = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	return 0;
}

int vm_clock_restore(struct vm *vm)
{
	/* flags 0: the value as saved (KVM_CLOCK_REALTIME would add the
	 * host time that passed, the very thing to hide). */
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	clock.clock = vm->paused_clock;
	return ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0 ? -errno : 0;
}
