#include "bus/irq_routing.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"

#define PIC_PINS 16
#define IOAPIC_PINS 24

struct msi_route {
	bool used;      /* GSI allocated */
	bool routed;    /* has an MSI entry in the table */
	uint64_t addr;
	uint32_t data;
};

struct irq_routing {
	int vm_fd;
	pthread_mutex_t lock;
	struct msi_route msi[IRQ_ROUTING_MAX_GSI - IRQ_ROUTING_FIRST_MSI_GSI];
	struct kvm_irq_routing *table; /* scratch, rebuilt on each commit */
};

enum { MAX_ENTRIES = PIC_PINS + IOAPIC_PINS + IRQ_ROUTING_MAX_GSI };

/* Rebuilds and installs the whole table; the caller holds the lock. */
static int commit(struct irq_routing *r)
{
	struct kvm_irq_routing *t = r->table;
	unsigned n = 0;
	/* KVM's own defaults: ISA IRQs to the PIC pair and the IOAPIC. */
	for (unsigned gsi = 0; gsi < PIC_PINS; gsi++) {
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
							  : KVM_IRQCHIP_PIC_SLAVE,
				      .pin = gsi % 8}};
	}
	for (unsigned gsi = 0; gsi < IOAPIC_PINS; gsi++) {
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi}};
	}
	for (unsigned i = 0; i < IRQ_ROUTING_MAX_GSI - IRQ_ROUTING_FIRST_MSI_GSI; i++) {
		const struct msi_route *m = &r->msi[i];
		if (!m->routed)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = IRQ_ROUTING_FIRST_MSI_GSI + i, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = {.address_lo = (uint32_t)m->addr,
				  .address_hi = (uint32_t)(m->addr >> 32),
				  .data = m->data}};
	}
	t->nr = n;
	t->flags = 0;
	return ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
}

struct irq_routing *irq_routing_create(int vm_fd)
{
	struct irq_routing *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->vm_fd = vm_fd;
	pthread_mutex_init(&r->lock, NULL);
	r->table = calloc(1, sizeof(*r->table) + MAX_ENTRIES * sizeof(r->table->entries[0]));
	if (!r->table || commit(r) < 0) {
		log_error("/dev/kvm: KVM_SET_GSI_ROUTING failed");
		irq_routing_destroy(r);
		return NULL;
	}
	return r;
}

void irq_routing_destroy(struct irq_routing *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->table);
	free(r);
}

static struct msi_route *route_of(struct irq_routing *r, int gsi)
{
	if (gsi < IRQ_ROUTING_FIRST_MSI_GSI || gsi >= IRQ_ROUTING_MAX_GSI)
		return NULL;
	return &r->msi[gsi - IRQ_ROUTING_FIRST_MSI_GSI];
}

int irq_routing_alloc_gsi(struct irq_routing *r)
{
	int ret = -ENOSPC;
	pthread_mutex_lock(&r->lock);
	for (int gsi = IRQ_ROUTING_FIRST_MSI_GSI; gsi < IRQ_ROUTING_MAX_GSI; gsi++) {
		struct msi_route *m = route_of(r, gsi);
		if (!m->used) {
			*m = (struct msi_route){.used = true};
			ret = gsi;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void irq_routing_free_gsi(struct irq_routing *r, int gsi)
{
	pthread_mutex_lock(&r->lock);
	struct msi_route *m = route_of(r, gsi);
	if (m) {
		bool was_routed = m->routed;
		*m = (struct msi_route){0};
		if (was_routed)
			commit(r);
	}
	pthread_mutex_unlock(&r->lock);
}

int irq_routing_set_msi(struct irq_routing *r, int gsi, uint64_t addr, uint32_t data)
{
	int ret = -EINVAL;
	pthread_mutex_lock(&r->lock);
	struct msi_route *m = route_of(r, gsi);
	if (m && m->used) {
		ret = 0;
		/* Unchanged routes skip the ioctl: drivers rewrite vectors often. */
		if (!m->routed || m->addr != addr || m->data != data) {
			m->routed = true;
			m->addr = addr;
			m->data = data;
			ret = commit(r);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_routing_clear(struct irq_routing *r, int gsi)
{
	int ret = -EINVAL;
	pthread_mutex_lock(&r->lock);
	struct msi_route *m = route_of(r, gsi);
	if (m && m->used) {
		ret = 0;
		if (m->routed) {
			m->routed = false;
			ret = commit(r);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_routing_irqfd(struct irq_routing *r, int eventfd, int gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)eventfd, .gsi = (uint32_t)gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	return ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int irq_routing_irqfd_level(struct irq_routing *r, int eventfd, int gsi, int resamplefd)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)eventfd, .gsi = (uint32_t)gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE, .resamplefd = (uint32_t)resamplefd,
	};
	return ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}
