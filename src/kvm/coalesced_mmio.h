/* KVM's coalesced MMIO (KVM_REGISTER_COALESCED_MMIO): a guest write to a
 * registered zone does not exit to iovirt. KVM appends it to a ring page
 * shared with user space and resumes the guest; iovirt replays the ring on
 * the bus, in order, whenever a vCPU comes out of KVM_RUN, before it
 * handles that exit. So the writes reach their device before any access
 * that exits after them (a read of any register, a write outside the
 * zones), as QEMU does for the e1000's receive tail.
 *
 * Only for registers whose write the guest does not wait on: the device
 * sees it late, at some vCPU's next exit to user space. A full ring makes
 * KVM exit as usual, so nothing is lost. A pause replays the ring as the
 * vCPUs park, so a snapshot finds it empty. */
#ifndef IOVIRT_KVM_COALESCED_MMIO_H
#define IOVIRT_KVM_COALESCED_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct iobus;
struct kvm_coalesced_mmio_ring;

struct coalesced_mmio {
	int vm_fd;
	struct kvm_coalesced_mmio_ring *ring; /* NULL: none; zones are refused */
	struct iobus *mmio, *pio;             /* where the writes are replayed */
	pthread_mutex_t lock;                 /* one replayer at a time */
	uint64_t writes;                      /* replayed so far (atomic) */
};

/* The ring KVM maps at page KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO) of
 * a vCPU's mapping (run, run_size bytes), or NULL without it. */
struct kvm_coalesced_mmio_ring *coalesced_mmio_find_ring(int kvm_fd, void *run, long run_size);

/* Without a ring until coalesced_mmio_attach: zones refused. */
void coalesced_mmio_init(struct coalesced_mmio *c);
/* ring may be NULL: then every zone is refused and writes exit as usual. */
void coalesced_mmio_attach(struct coalesced_mmio *c, int vm_fd,
			   struct kvm_coalesced_mmio_ring *ring, struct iobus *mmio,
			   struct iobus *pio);
void coalesced_mmio_destroy(struct coalesced_mmio *c);

/* Adds (add) or removes the MMIO zone [addr, addr + size). Any thread (a
 * BAR moves on a vCPU's config write). 0 or -errno; -ENOTSUP with no ring
 * (c NULL, or a kernel without the capability). */
int coalesced_mmio_zone(struct coalesced_mmio *c, uint64_t addr, uint32_t size, bool add);

/* Replays what the ring holds, oldest first. One thread at a time; another
 * waits, so that the exit it then handles comes after every earlier write.
 * Cheap when the ring is empty. */
void coalesced_mmio_drain(struct coalesced_mmio *c);

#endif
