/* Fake interrupt lines for device tests: an irq_line whose level changes
 * are recorded, alone (one device pin) or as a bank indexed by GSI (what a
 * PCI host's INTx routing hands out). */
#ifndef IOVIRT_TESTS_FAKE_IRQ_H
#define IOVIRT_TESTS_FAKE_IRQ_H

#include <stdbool.h>

#include "bus/irq.h"

/* One line: its level and how many times it went up and down. */
struct fake_irq {
	bool level;
	int rises, falls;
};

struct irq_line fake_irq_line(struct fake_irq *irq, unsigned gsi);

#define FAKE_IRQ_MAX_GSI 64

/* Every GSI below FAKE_IRQ_MAX_GSI: the levels, the calls per GSI (level
 * changed or not) and the rising edges over all of them. */
struct fake_irq_bank {
	bool level[FAKE_IRQ_MAX_GSI];
	unsigned changes[FAKE_IRQ_MAX_GSI];
	unsigned rises;
};

/* The intx_line callback of pci_host_init; opaque is a struct fake_irq_bank. */
struct irq_line fake_irq_bank_line(void *opaque, unsigned gsi);

#endif
