#include "bus/irq.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "core/log.h"

/* Drives an in-kernel PIC/IOAPIC pin; KVM's default routing sends GSI n
 * (n < 16) to both PIC pin n and IOAPIC pin n. */
static void kvm_set_level(void *opaque, unsigned gsi, bool level)
{
	const int *vm_fd = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
	if (ioctl(*vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE gsi %u: failed", gsi);
}

struct irq_line irq_line_kvm(const int *vm_fd, unsigned gsi)
{
	return (struct irq_line){.set_level = kvm_set_level, .opaque = (void *)vm_fd, .gsi = gsi};
}
