#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/fake_irq.h"

static void line_set_level(void *opaque, unsigned gsi, bool level)
{
	struct fake_irq *irq = opaque;
	if (level && !irq->level)
		irq->rises++;
	if (!level && irq->level)
		irq->falls++;
	irq->level = level;
}

struct irq_line fake_irq_line(struct fake_irq *irq, unsigned gsi)
{
	return (struct irq_line){.set_level = line_set_level, .opaque = irq, .gsi = gsi};
}

static void bank_set_level(void *opaque, unsigned gsi, bool level)
{
	struct fake_irq_bank *bank = opaque;
	assert_true(gsi < FAKE_IRQ_MAX_GSI);
	if (level && !bank->level[gsi])
		bank->rises++;
	bank->level[gsi] = level;
	bank->changes[gsi]++;
}

struct irq_line fake_irq_bank_line(void *opaque, unsigned gsi)
{
	return (struct irq_line){.set_level = bank_set_level, .opaque = opaque, .gsi = gsi};
}
