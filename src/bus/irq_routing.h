/* The VM's GSI routing table and irqfds (docs/ARCHITECTURE.md "Interrupts").
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so this module owns it: the
 * PIC/IOAPIC pin routes KVM starts with are kept, and MSI routes (one GSI per
 * MSI-X vector) are added beside them. A device signals an MSI by writing an
 * eventfd that KVM_IRQFD has bound to the vector's GSI: no VMM hop. */
#ifndef IOVIRT_BUS_IRQ_ROUTING_H
#define IOVIRT_BUS_IRQ_ROUTING_H

#include <stdbool.h>
#include <stdint.h>

#define IRQ_ROUTING_FIRST_MSI_GSI 24  /* after the IOAPIC's 24 pins */
#define IRQ_ROUTING_MAX_GSI 1024

struct irq_routing;

/* Installs the default irqchip routes; NULL (logged) on failure. */
struct irq_routing *irq_routing_create(int vm_fd);
void irq_routing_destroy(struct irq_routing *r);

/* A free GSI for an MSI route, or -ENOSPC. */
int irq_routing_alloc_gsi(struct irq_routing *r);
void irq_routing_free_gsi(struct irq_routing *r, int gsi);

/* Points gsi at an MSI (address, data) and commits the table; 0 or -errno. */
int irq_routing_set_msi(struct irq_routing *r, int gsi, uint64_t addr, uint32_t data);
/* Removes gsi's route (the vector is masked or disabled). */
int irq_routing_clear(struct irq_routing *r, int gsi);

/* Binds / unbinds an eventfd to a GSI (KVM_IRQFD). */
int irq_routing_irqfd(struct irq_routing *r, int eventfd, int gsi, bool assign);
/* A level-triggered line (INTx of a passed-through device): a signal on
 * eventfd asserts IOAPIC pin gsi; when the guest EOIs it, KVM deasserts it
 * and signals resamplefd (so the device's source can be unmasked and
 * re-evaluated). Unbind with irq_routing_irqfd(..., false). */
int irq_routing_irqfd_level(struct irq_routing *r, int eventfd, int gsi, int resamplefd);

#endif
