#include "bus/msix.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/state.h"

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

static void set_route(struct msix *m, unsigned v)
{
	uint64_t addr = entry_get(m, v, ENTRY_ADDR_LO) |
			(uint64_t)entry_get(m, v, ENTRY_ADDR_HI) << 32;
	if (irq_routing_set_msi(m->routing, m->gsi[v], addr, entry_get(m, v, ENTRY_DATA)) < 0)
		log_guest_error(m->dev->name, "MSI-X vector %u: KVM refused its route", v);
}

/* External vectors: the irqfd is attached exactly while the vector may
 * deliver. KVM_IRQFD delivers a signal already counted in the eventfd. */
static void update_external(struct msix *m, unsigned v)
{
	if (!m->routing)
		return; /* unit tests: no KVM */
	bool live = m->enabled && !vector_masked(m, v) && m->gsi[v] >= 0;
	if (live)
		set_route(m, v);
	if (live != m->bound[v] &&
	    irq_routing_irqfd(m->routing, m->eventfd[v], m->gsi[v], live) == 0)
		m->bound[v] = live;
}

/* Signalled by writing its eventfd from outside (a passed-through device,
 * or the kernel's vhost): masking works by unbinding the irqfd. */
static bool signalled_outside(const struct msix *m, unsigned v)
{
	return m->external || m->direct[v];
}

/* Re-points vector v's route and delivers what was pending once it is
 * unmasked (§6.8.2.9). The caller holds the lock. */
static void update_vector(struct msix *m, unsigned v)
{
	if (signalled_outside(m, v)) {
		update_external(m, v);
		return;
	}
	if (!m->enabled || vector_masked(m, v))
		return;
	if (m->routing && m->gsi[v] >= 0)
		set_route(m, v);
	if (m->pba & (1ULL << v)) {
		m->pba &= ~(1ULL << v);
		fire(m, v);
	}
}

/* State, masks and vectors for a capability at m->cap. */
static int setup(struct msix *m, struct pci_dev *dev, struct irq_routing *routing, unsigned nvec,
		 uint32_t table_off, uint32_t pba_off, bool external)
{
	m->dev = dev;
	m->routing = routing;
	m->nvec = nvec;
	m->table_off = table_off;
	m->pba_off = pba_off;
	m->external = external;
	/* Every vector starts masked (§6.8.2.9). */
	for (unsigned v = 0; v < nvec; v++)
		m->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	pci_dev_set_wmask(dev, (unsigned)m->cap + PCI_MSIX_FLAGS, 2,
			  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);

	for (unsigned v = 0; v < nvec && routing; v++) {
		m->eventfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		m->gsi[v] = irq_routing_alloc_gsi(routing);
		/* External vectors get their irqfd when unmasked. */
		if (m->eventfd[v] < 0 || m->gsi[v] < 0 ||
		    (!external && irq_routing_irqfd(routing, m->eventfd[v], m->gsi[v], true) < 0)) {
			log_error("%s: cannot set up MSI-X vector %u (irqfd)", dev->name, v);
			msix_destroy(m);
			return -ENOSPC;
		}
		m->bound[v] = !external;
	}
	return 0;
}

static void clear(struct msix *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
		m->gsi[v] = -1;
		m->eventfd[v] = -1;
	}
}

int msix_init(struct msix *m, struct pci_dev *dev, struct irq_routing *routing, unsigned nvec,
	      int bar, uint32_t table_off, uint32_t pba_off)
{
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || (table_off & 7) || (pba_off & 7))
		return -EINVAL;
	clear(m);
	uint8_t body[10] = {0};
	uint16_t control = (uint16_t)(nvec - 1);
	uint32_t table = table_off | (uint32_t)bar, pba = pba_off | (uint32_t)bar;
	memcpy(body, &control, 2);
	memcpy(body + 2, &table, 4);
	memcpy(body + 6, &pba, 4);
	m->cap = pci_dev_add_cap(dev, PCI_CAP_ID_MSIX, body, sizeof(body));
	if (m->cap < 0) {
		pthread_mutex_destroy(&m->lock);
		return m->cap;
	}
	return setup(m, dev, routing, nvec, table_off, pba_off, false);
}

int msix_init_external(struct msix *m, struct pci_dev *dev, struct irq_routing *routing,
		       unsigned nvec, int cap, uint32_t table_off, uint32_t pba_off)
{
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || (table_off & 7) || (pba_off & 7) ||
	    cap < PCI_STD_HEADER_SIZEOF || cap > PCI_CFG_LEGACY_SIZE - PCI_CAP_MSIX_SIZEOF)
		return -EINVAL;
	clear(m);
	m->cap = cap;
	uint16_t control = (uint16_t)pci_cfg_get(dev, (unsigned)cap + PCI_MSIX_FLAGS, 2);
	control = (uint16_t)((control & ~(PCI_MSIX_FLAGS_QSIZE | PCI_MSIX_FLAGS_ENABLE |
					  PCI_MSIX_FLAGS_MASKALL)) | (nvec - 1));
	pci_cfg_set(dev, (unsigned)cap + PCI_MSIX_FLAGS, 2, control);
	return setup(m, dev, routing, nvec, table_off, pba_off, true);
}

void msix_destroy(struct msix *m)
{
	if (!m->dev)
		return; /* never initialised */
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
		if (m->routing && m->gsi[v] >= 0) {
			if (m->eventfd[v] >= 0 && m->bound[v])
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
		/* Unbound while masked: the count waits in the eventfd. */
		if (vector_masked(m, v) && !m->direct[v])
			m->pba |= 1ULL << v;
		else
			fire(m, v);
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

int msix_direct_get(struct msix *m, unsigned v)
{
	int fd = -1;
	pthread_mutex_lock(&m->lock);
	if (!m->external && v < m->nvec && m->eventfd[v] >= 0 && m->direct[v] < UINT8_MAX) {
		if (m->direct[v]++ == 0) {
			/* Unbound first if masked: then what was pending waits
			 * in the eventfd, to be delivered on unmask. */
			update_external(m, v);
			if (m->pba & (1ULL << v)) {
				m->pba &= ~(1ULL << v);
				fire(m, v);
			}
		}
		fd = m->eventfd[v];
	}
	pthread_mutex_unlock(&m->lock);
	return fd;
}

void msix_direct_put(struct msix *m, unsigned v)
{
	pthread_mutex_lock(&m->lock);
	if (v < m->nvec && m->direct[v] && --m->direct[v] == 0) {
		if (m->routing && !m->bound[v]) {
			/* Back to an irqfd that is always bound: what waits in
			 * the eventfd of a masked vector becomes its pending bit. */
			uint64_t count = 0;
			if (read(m->eventfd[v], &count, sizeof(count)) == sizeof(count) && count)
				m->pba |= 1ULL << v;
			if (irq_routing_irqfd(m->routing, m->eventfd[v], m->gsi[v], true) == 0)
				m->bound[v] = true;
		}
		update_vector(m, v);
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- state ---- */

#define MSIX_STATE_VERSION 1

int msix_save(struct msix *m, struct state_writer *w)
{
	pthread_mutex_lock(&m->lock);
	state_begin(w, "msix", MSIX_STATE_VERSION);
	state_put_u32(w, "vectors", m->nvec);
	state_put_bytes(w, "table", m->table, (size_t)m->nvec * MSIX_ENTRY_SIZE);
	state_put_u64(w, "pba", m->pba);
	state_put_bool(w, "enabled", m->enabled);
	state_put_bool(w, "masked", m->function_masked);
	state_end(w);
	pthread_mutex_unlock(&m->lock);
	return w->error;
}

int msix_state_read(struct msix *m, struct state_reader *r, struct msix_state *s)
{
	uint32_t nvec;
	memset(s, 0, sizeof(*s));
	state_enter(r, "msix", MSIX_STATE_VERSION, NULL);
	if (state_get_u32(r, "vectors", &nvec) == 0 && nvec != m->nvec)
		state_invalid(r, "vectors", "%u, this device has %u", nvec, m->nvec);
	state_get_bytes(r, "table", s->table, (size_t)m->nvec * MSIX_ENTRY_SIZE);
	for (unsigned v = 0; v < m->nvec && !state_failed(r); v++) {
		/* What a guest write leaves: only the mask bit of control. */
		uint32_t ctrl = (uint32_t)iobus_load_le(&s->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL], 4);
		if (ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT)
			state_invalid(r, "table", "vector %u control 0x%x has reserved bits set", v,
				      ctrl);
	}
	if (state_get_u64(r, "pba", &s->pba) == 0 && m->nvec < 64 && (s->pba >> m->nvec))
		state_invalid(r, "pba", "0x%llx has bits beyond the %u vectors",
			      (unsigned long long)s->pba, m->nvec);
	state_get_bool(r, "enabled", &s->enabled);
	state_get_bool(r, "masked", &s->masked);
	return state_leave(r);
}

void msix_state_apply(struct msix *m, const struct msix_state *s)
{
	/* The capability's flags first, so a later msix_config_written agrees. */
	unsigned flags = (unsigned)m->cap + PCI_MSIX_FLAGS;
	pthread_mutex_lock(&m->dev->lock);
	uint16_t control = (uint16_t)pci_cfg_get(m->dev, flags, 2);
	control &= (uint16_t)~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	control |= (uint16_t)((s->enabled ? PCI_MSIX_FLAGS_ENABLE : 0) |
			      (s->masked ? PCI_MSIX_FLAGS_MASKALL : 0));
	pci_cfg_set(m->dev, flags, 2, control);
	pthread_mutex_unlock(&m->dev->lock);

	pthread_mutex_lock(&m->lock);
	memcpy(m->table, s->table, (size_t)m->nvec * MSIX_ENTRY_SIZE);
	m->pba = s->pba;
	m->enabled = s->enabled;
	m->function_masked = s->masked;
	for (unsigned v = 0; v < m->nvec; v++)
		update_vector(m, v);
	pthread_mutex_unlock(&m->lock);
}

int msix_load(struct msix *m, struct state_reader *r)
{
	struct msix_state s;
	if (msix_state_read(m, r, &s) < 0)
		return -EINVAL;
	msix_state_apply(m, &s);
	return 0;
}
