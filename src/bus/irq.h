/* Interrupt lines (docs/ARCHITECTURE.md "Interrupts"): devices never touch vCPUs. A
 * device holds an irq_line and raises or lowers it; the KVM implementation
 * drives the in-kernel PIC/IOAPIC pin (KVM_IRQ_LINE), tests use a fake. */
#ifndef IOVIRT_BUS_IRQ_H
#define IOVIRT_BUS_IRQ_H

#include <stdbool.h>

struct irq_line {
	void (*set_level)(void *opaque, unsigned gsi, bool level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *line, bool level)
{
	if (line && line->set_level)
		line->set_level(line->opaque, line->gsi, level);
}

/* Edge-triggered ISA devices pulse: raise then lower. */
static inline void irq_line_pulse(const struct irq_line *line)
{
	irq_line_set(line, true);
	irq_line_set(line, false);
}

/* A pin of KVM's in-kernel PIC/IOAPIC, driven with KVM_IRQ_LINE on the VM
 * whose fd *vm_fd holds (the pointer must outlive the line). */
struct irq_line irq_line_kvm(const int *vm_fd, unsigned gsi);

#endif
