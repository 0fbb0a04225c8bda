/* The VM: KVM file descriptors, guest RAM and its memslots, the in-kernel
 * irqchip and PIT, the two buses, the vCPUs, and why the VM stopped. */
#ifndef IOVIRT_KVM_VM_H
#define IOVIRT_KVM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/iobus.h"
#include "core/counters.h"
#include "core/guest_mem.h"
#include "core/loop.h"
#include "kvm/coalesced_mmio.h"

/* Why the VM stopped: what callers decide on. The detail text beside it
 * (struct vm's exit_detail) is for people only; nothing compares it. */
enum vm_exit_reason {
	VM_RUNNING = 0,
	VM_EXIT_POWEROFF,   /* guest powered off: status 0 */
	VM_EXIT_RESET,      /* guest rebooted: status 0, or restart with --reboot */
	VM_EXIT_QUIT,       /* the user pressed Ctrl-A x: status 0 */
	VM_EXIT_API_SHUTDOWN, /* the control plane stopped it (vm.shutdown): status 0 */
	VM_EXIT_PANIC,      /* guest kernel panicked (pvpanic) */
	VM_EXIT_CRASH,      /* triple fault, KVM internal error */
	VM_EXIT_ERROR,      /* the VMM itself failed */
	VM_EXIT_SIGNAL,     /* iovirt was told to stop (SIGTERM, SIGINT, SIGHUP) */
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
	pthread_mutex_t stats_lock; /* one reader of their data blocks at a time */
	/* Pausing (vm_pause_vcpus): while pause is set, each vCPU parks on
	 * pause_cond before its next KVM_RUN. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause;
	unsigned parked;        /* vCPU threads parked now */
	int park_fd;            /* an eventfd each parking vCPU writes; -1: none */
	uint64_t paused_clock;  /* kvmclock (ns) when vm_clock_save ran */
	uint64_t paused_realtime; /* the host's CLOCK_REALTIME (ns) then */
	bool clock_saved;       /* the last vm_clock_save read it */
	unsigned throttle_pct;  /* vm_throttle_vcpus (atomic) */
	/* Writes KVM buffered instead of exiting (kvm/coalesced_mmio.h):
	 * each vCPU replays them after KVM_RUN; devices register zones. */
	struct coalesced_mmio coalesced;
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
/* The same, read-only to the guest (a firmware image): its writes exit as
 * MMIO and reach no device. -ENOTSUP without KVM_CAP_READONLY_MEM. */
int vm_map_rom(struct vm *vm, uint64_t gpa, uint64_t size, void *hva);

/* Records why the VM stops (the first reason wins), stops the event loop,
 * kicks every vCPU out of KVM_RUN and lets parked ones go. Safe from any
 * thread (not from a signal handler). */
void vm_request_exit(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* KVM's own statistics (kvm/kvm_stats.h) of the VM and of each vCPU, for
 * vm_stats_emit; closed by vm_destroy. Needs an unconfined thread (the
 * ioctl). -ENOTSUP, silently, when the kernel lacks KVM_CAP_BINARY_STATS_FD;
 * another -errno after one line. */
int vm_stats_open(struct vm *vm);
/* Emits them as device "kvm", scopes "vm" and "vcpu0", "vcpu1"...; nothing
 * before vm_stats_open. Any thread (pread only), several at once (the
 * --counters report on the loop, vm.counters on the API thread). */
void vm_stats_emit(struct vm *vm, const struct counter_sink *sink);

/* Pausing, for the control plane (machine/machine_control.c). From any
 * thread but a vCPU's; none of them waits for a vCPU.
 *
 * vm_pause_vcpus asks every vCPU to park before its next KVM_RUN and kicks
 * it out of the one it is in; each vCPU writes notify_fd (an eventfd, or
 * -1) as it parks, and vm_vcpus_parked says when every started one has. A
 * parked vCPU leaves the park when vm_resume_vcpus lets it run again, or
 * when the VM stops (vm_request_exit). What a vCPU was doing is kept:
 * KVM_RUN completes a port or MMIO read's data on re-entry as usual. */
void vm_pause_vcpus(struct vm *vm, int notify_fd);
bool vm_vcpus_parked(struct vm *vm);
void vm_resume_vcpus(struct vm *vm);

/* Auto-converge for a live migration: while pct (0..99) is not 0, each
 * vCPU that is kicked out of KVM_RUN (the migration kicks them every
 * VM_THROTTLE_PERIOD_MS) sleeps pct% of that period before it runs on. */
#define VM_THROTTLE_PERIOD_MS 10
void vm_throttle_vcpus(struct vm *vm, unsigned pct);

/* The guest's clock across a pause, as QEMU keeps it: vm_clock_save reads
 * kvmclock (KVM_GET_CLOCK) once the vCPUs are parked, vm_clock_restore
 * sets it back (KVM_SET_CLOCK) before they run, so kvmclock (Linux's
 * clocksource under KVM) does not count the pause. The TSC itself runs on:
 * a guest on clocksource=tsc sees the pause. 0, or -errno (no
 * KVM_CAP_ADJUST_CLOCK: the guest then sees the pause). */
int vm_clock_save(struct vm *vm);
int vm_clock_restore(struct vm *vm);

static inline enum vm_exit_reason vm_exit_reason(const struct vm *vm)
{
	return (enum vm_exit_reason)__atomic_load_n(&vm->exit_reason, __ATOMIC_ACQUIRE);
}

#endif
