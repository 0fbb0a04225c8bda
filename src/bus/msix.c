#include "bus/msix.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 4
#define ENTRY_DATA    8
#define ENTRY_CTRL    12

static uint32_t entry_get(const struct msix *m, unsigned v, unsigned field)
{
	const uint8_t *p = &m->table[v * MSIX_ENTRY_SIZE + field];
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool vector_masked(const struct msix *m, unsigned v)
{
	return m->function_masked || (entry_get(m, v, ENTRY_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void fire(struct msix *m, unsigned v)
{
	uint64_t one = 1;
	if (m->eventfd[v] >= 0 && write(m->eventfd[v], &one, sizeof(one)) == sizeof(one))
		m->delivered++;
}

/* Re-points vector v's route and delivers what was pending once it is
 * unmasked (§6.8.2.9). The caller holds the lock. */
static void update_vector(struct msix *m, unsigned v)
{
	if (!m->enabled || vector_masked(m, v))
		return;
	if (m->routing && m->gsi[v] >= 0) {
		uint64_t addr = entry_get(m, v, ENTRY_ADDR_LO) |
				(uint64_t)entry_get(m, v, ENTRY_ADDR_HI) << 32;
		if (irq_routing_set_msi(m->routing, m->gsi[v], addr, entry_get(m, v, ENTRY_DATA)) < 0)
			log_guest_error_once("%s: MSI-X vector %u: KVM refused its route",
					     m->dev->name, v);
	}
	if (m->pba & (1ULL << v)) {
		m->pba &= ~(1ULL << v);
		fire(m, v);
	}
}

int msix_init(struct msix *m, struct pci_dev *dev, struct irq_routing *routing, unsigned nvec,
	      int bar, uint32_t table_off, uint32_t pba_off)
{
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || (table_off & 7) || (pba_off & 7))
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->dev = dev;
	m->routing = routing;
	m->nvec = nvec;
	m->table_off = table_off;
	m->pba_off = pba_off;
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
		m->gsi[v] = -1;
		m->eventfd[v] = -1;
	}
	/* Every vector starts masked (§6.8.2.9). */
	for (unsigned v = 0; v < nvec; v++)
		m->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL] = PCI_MSIX_ENTRY_CTRL_MASKBIT;

	uint8_t body[10] = {0};
	uint16_t control = (uint16_t)(nvec - 1);
	uint32_t table = table_off | (uint32_t)bar, pba = pba_off | (uint32_t)bar;
	memcpy(body, &control, 2);
	memcpy(body + 2, &table, 4);
	memcpy(body + 6, &pba, 4);
	m->cap = pci_dev_add_cap(dev, PCI_CAP_ID_MSIX, body, sizeof(body));
	if (m->cap < 0)
		return m->cap;
	pci_dev_set_wmask(dev, (unsigned)m->cap + PCI_MSIX_FLAGS, 2,
			  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);

	for (unsigned v = 0; v < nvec && routing; v++) {
		m->eventfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		m->gsi[v] = irq_routing_alloc_gsi(routing);
		if (m->eventfd[v] < 0 || m->gsi[v] < 0 ||
		    irq_routing_irqfd(routing, m->eventfd[v], m->gsi[v], true) < 0) {
			log_error("%s: cannot set up MSI-X vector %u (irqfd)", dev->name, v);
			msix_destroy(m);
			return -ENOSPC;
		}
	}
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (!m->dev)
		return; /* never initialised */
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
		if (m->routing && m->gsi[v] >= 0) {
			if (m->eventfd[v] >= 0)
				irq_routing_irqfd(m->routing, m->eventfd[v], m->gsi[v], false);
			irq_routing_free_gsi(m->routing, m->gsi[v]);
		}
		if (m->eventfd[v] >= 0)
			close(m->eventfd[v]);
		m->gsi[v] = m->eventfd[v] = -1;
	}
	pthread_mutex_destroy(&m->lock);
}

static bool in_range(uint64_t off, unsigned len, uint64_t start, uint64_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

bool msix_bar_read(struct msix *m, uint64_t off, uint8_t *data, unsigned len)
{
	uint64_t table_size = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	uint64_t pba_size = ((m->nvec + 63) / 64) * 8;
	pthread_mutex_lock(&m->lock);
	bool handled = true;
	if (in_range(off, len, m->table_off, table_size))
		memcpy(data, &m->table[off - m->table_off], len);
	else if (in_range(off, len, m->pba_off, pba_size))
		iobus_store_le(data, len, m->pba >> (8 * (off - m->pba_off)));
	else
		handled = false;
	pthread_mutex_unlock(&m->lock);
	return handled;
}

bool msix_bar_write(struct msix *m, uint64_t off, const uint8_t *data, unsigned len)
{
	uint64_t table_size = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	uint64_t pba_size = ((m->nvec + 63) / 64) * 8;
	if (in_range(off, len, m->pba_off, pba_size))
		return true; /* the PBA is read-only */
	if (!in_range(off, len, m->table_off, table_size))
		return false;
	pthread_mutex_lock(&m->lock);
	uint64_t rel = off - m->table_off;
	memcpy(&m->table[rel], data, len);
	/* Reserved control bits read as zero. */
	for (unsigned v = (unsigned)(rel / MSIX_ENTRY_SIZE);
	     v <= (rel + len - 1) / MSIX_ENTRY_SIZE && v < m->nvec; v++) {
		m->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL] &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
		memset(&m->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL + 1], 0, 3);
		update_vector(m, v);
	}
	pthread_mutex_unlock(&m->lock);
	return true;
}

void msix_config_written(struct msix *m, unsigned offset, unsigned len)
{
	unsigned flags = (unsigned)m->cap + PCI_MSIX_FLAGS;
	if (offset >= flags + 2 || offset + len <= flags)
		return;
	uint16_t control = (uint16_t)pci_cfg_get(m->dev, flags, 2);
	pthread_mutex_lock(&m->lock);
	m->enabled = control & PCI_MSIX_FLAGS_ENABLE;
	m->function_masked = control & PCI_MSIX_FLAGS_MASKALL;
	for (unsigned v = 0; v < m->nvec; v++)
		update_vector(m, v);
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	bool e = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return e;
}

bool msix_notify(struct msix *m, unsigned v)
{
	pthread_mutex_lock(&m->lock);
	bool ok = m->enabled && v < m->nvec;
	if (ok) {
		if (vector_masked(m, v))
			m->pba |= 1ULL << v;
		else
			fire(m, v);
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}
