#include "kvm/coalesced_mmio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "bus/iobus.h"

/* linux/kvm.h sizes the ring with the kernel's PAGE_SIZE: 4 KiB on x86. */
#define RING_PAGE 4096L
#define RING_ENTRIES                                                                      \
	((uint32_t)((RING_PAGE - sizeof(struct kvm_coalesced_mmio_ring)) /               \
		    sizeof(struct kvm_coalesced_mmio)))

struct kvm_coalesced_mmio_ring *coalesced_mmio_find_ring(int kvm_fd, void *run, long run_size)
{
	int page = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (page <= 0 || !run || (page + 1L) * RING_PAGE > run_size)
		return NULL;
	return (struct kvm_coalesced_mmio_ring *)((uint8_t *)run + page * RING_PAGE);
}

void coalesced_mmio_init(struct coalesced_mmio *c)
{
	c->vm_fd = -1;
	c->ring = NULL;
	c->mmio = c->pio = NULL;
	c->writes = 0;
	pthread_mutex_init(&c->lock, NULL);
}

void coalesced_mmio_attach(struct coalesced_mmio *c, int vm_fd,
			   struct kvm_coalesced_mmio_ring *ring, struct iobus *mmio,
			   struct iobus *pio)
{
	c->vm_fd = vm_fd;
	c->mmio = mmio;
	c->pio = pio;
	c->ring = ring;
}

void coalesced_mmio_destroy(struct coalesced_mmio *c)
{
	pthread_mutex_destroy(&c->lock);
	c->ring = NULL;
}

int coalesced_mmio_zone(struct coalesced_mmio *c, uint64_t addr, uint32_t size, bool add)
{
	if (!c || !c->ring)
		return -ENOTSUP;
	struct kvm_coalesced_mmio_zone zone = {.addr = addr, .size = size};
	if (ioctl(c->vm_fd, add ? KVM_REGISTER_COALESCED_MMIO : KVM_UNREGISTER_COALESCED_MMIO,
		  &zone) < 0)
		return -errno;
	return 0;
}

void coalesced_mmio_drain(struct coalesced_mmio *c)
{
	struct kvm_coalesced_mmio_ring *ring = c->ring;
	if (!ring || __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE) ==
			     __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&c->lock);
	uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE);
	/* The kernel keeps both indices below RING_ENTRIES and never writes
	 * first; the bounds keep a damaged page from sending this loop
	 * outside the ring or round it for ever. */
	for (uint32_t n = 0; first < RING_ENTRIES && n < RING_ENTRIES; n++) {
		uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
		if (first == last || last >= RING_ENTRIES)
			break;
		const struct kvm_coalesced_mmio *w = &ring->coalesced_mmio[first];
		unsigned len = w->len > sizeof(w->data) ? (unsigned)sizeof(w->data) : w->len;
		iobus_write(w->pio ? c->pio : c->mmio, w->phys_addr, w->data, len);
		first = (first + 1) % RING_ENTRIES;
		/* The slot is the kernel's again once first has passed it. */
		__atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
		__atomic_fetch_add(&c->writes, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->lock);
}
