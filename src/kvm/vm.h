/* The VM: KVM file descriptors, guest RAM and its memslots, the in-kernel
 * irqchip and PIT, the two buses, the vCPUs, and why the VM stopped. */
#ifndef IOVIRT_KVM_VM_H
#define IOVIRT_KVM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/iobus.h"
#include "core/counters.h"
#include "core/guest_mem.h"
#include "core/loop.h"

/* Why the VM stopped: what callers decide on. The detail text beside it
 * (struct vm's exit_detail) is for people only; nothing compares it. */
enum vm_exit_reason {
	VM_RUNNING = 0,
	VM_EXIT_POWEROFF,   /* guest powered off: status 0 */
	VM_EXIT_RESET,      /* guest rebooted: status 0, or restart with --reboot */
	VM_EXIT_QUIT,       /* the user pressed Ctrl-A x: status 0 */
	VM_EXIT_PANIC,      /* guest kernel panicked (pvpanic) */
	VM_EXIT_CRASH,      /* triple fault, KVM internal error */
	VM_EXIT_ERROR,      /* the VMM itself failed */
	VM_EXIT_SIGNAL,     /* iovirt was told to stop (SIGTERM, SIGINT, SIGHUP) */
	VM_EXIT_TIMEOUT,    /* a caller's deadline ran out (the speed probe) */
};

struct vcpu;
struct kvm_stats;

struct vm {
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	struct iobus *pio;
	struct iobus *mmio;
	struct loop *loop;
	struct irq_routing *routing;
	unsigned ncpus;
	struct vcpu *vcpus;
	int run_mmap_size;
	uint32_t device_slots;  /* memslots in use above the RAM ones (bitmap) */
	int exit_reason;      /* enum vm_exit_reason; first request wins */
	char exit_detail[256]; /* the reason in words, for the log */
	struct kvm_stats *stats; /* vm_stats_open: [0] the VM, [1 + i] vCPU i */
};

/* Opens /dev/kvm and checks the API; logs one line and returns -errno. */
int vm_open_kvm(void);

/* kvm_fd is taken over. Logs one line and returns -errno on failure. */
int vm_create(struct vm *vm, int kvm_fd, uint64_t ram_size, enum guest_mem_backing backing,
	      unsigned ncpus);
void vm_destroy(struct vm *vm);

/* Device memory (a passed-through BAR mmapped from VFIO) as a KVM memslot,
 * so guest accesses to it take no exit. gpa, size and hva page-aligned.
 * Returns the slot (for vm_unmap_device_memory) or -errno. Any thread. */
#define VM_MAX_DEVICE_SLOTS 32
int vm_map_device_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *hva);
void vm_unmap_device_memory(struct vm *vm, int slot);

/* Records why the VM stops (the first reason wins), stops the event loop and
 * kicks every vCPU out of KVM_RUN. Safe from any thread. */
void vm_request_exit(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* KVM's own statistics (kvm/kvm_stats.h) of the VM and of each vCPU, for
 * vm_stats_emit; closed by vm_destroy. Needs an unconfined thread (the
 * ioctl). -ENOTSUP, silently, when the kernel lacks KVM_CAP_BINARY_STATS_FD;
 * another -errno after one line. */
int vm_stats_open(struct vm *vm);
/* Emits them as device "kvm", scopes "vm" and "vcpu0", "vcpu1"...; nothing
 * before vm_stats_open. Any thread (pread only). */
void vm_stats_emit(struct vm *vm, const struct counter_sink *sink);

static inline enum vm_exit_reason vm_exit_reason(const struct vm *vm)
{
	return (enum vm_exit_reason)__atomic_load_n(&vm->exit_reason, __ATOMIC_ACQUIRE);
}

#endif
