/* Intel 82540EM: the PCI function, the register file behind BAR0 and BAR1,
 * the statistics registers, reset, and the device's life cycle and
 * contract (kind "e1000"). See e1000.h; interrupts and their moderation
 * are e1000_irq.c, receive e1000_rx.c, transmit e1000_tx.c, the EEPROM
 * e1000_eeprom.c, the PHY e1000_phy.c, the state record e1000_state.c.
 * Section numbers are the 8254x SDM's (e1000_regs.h). */
#include "devices/e1000_priv.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "kvm/coalesced_mmio.h"

const struct e1000_reg_info e1000_regs[E1000_NREGS] = {
#define E1000_REG_INFO(reg, o, r, m) \
	[R_##reg] = {.name = #reg, .reset = (r), .wmask = (uint32_t)(m)},
	E1000_REG_LIST(E1000_REG_INFO)
#undef E1000_REG_INFO
};

static int reg_index(uint32_t off)
{
	switch (off) {
#define E1000_REG_CASE(name, o, r, m) case (o): return R_##name;
	E1000_REG_LIST(E1000_REG_CASE)
#undef E1000_REG_CASE
	default:
		return -1;
	}
}

/* Registers a driver touches that this model does not implement: wake-up
 * and manageability (§13.6-13.7), the flexible filters, the FIFO pointers
 * and flash. They read 0 without a debug line each. */
static bool known_unimplemented(uint32_t off)
{
	return (off >= E1000_WUC && off < E1000_WAKEUP_END) ||
	       (off >= E1000_FFMT && off < E1000_FFT_END) ||
	       (off >= 0x2400 && off < 0x2500) || /* receive data FIFO */
	       (off >= 0x3400 && off < 0x3500) || /* transmit data FIFO */
	       off == E1000_FLA;
}

int64_t e1000_now_ns(const struct e1000 *e)
{
	struct timespec ts;
	if (e->port.clock_ns)
		return e->port.clock_ns(e->port.opaque);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool e1000_bus_master(const struct e1000 *e)
{
	/* No DMA unless the driver enabled bus mastering (PCI 3.0 §6.2.2). */
	return pci_cfg_get(&e->pci, PCI_COMMAND, 2) & PCI_COMMAND_MASTER;
}

/* ---- Statistics (§13.8): saturating, cleared when read ---- */

/* A 32-bit counter, n more. */
static void stat_add(struct e1000 *e, unsigned idx, uint64_t n)
{
	e->stats[idx] = n > UINT32_MAX - e->stats[idx] ? UINT32_MAX : e->stats[idx] + (uint32_t)n;
}

void e1000_stat_inc(struct e1000 *e, unsigned idx)
{
	stat_add(e, idx, 1);
}

/* A 64-bit counter kept as a low/high register pair. */
static void stat_add64(struct e1000 *e, unsigned lo, uint64_t n)
{
	uint64_t v = (uint64_t)e->stats[lo + 1] << 32 | e->stats[lo];
	v = v + n < v ? UINT64_MAX : v + n;
	e->stats[lo] = (uint32_t)v;
	e->stats[lo + 1] = (uint32_t)(v >> 32);
}

void e1000_count_packets(struct e1000 *e, bool rx, const uint8_t *dst, size_t wire_len,
			 uint64_t n)
{
	/* The size buckets PRC64..PRC1522 / PTC64..PTC1522; longer frames
	 * (jumbo) are counted in none. */
	static const size_t bucket_max[] = {64, 127, 255, 511, 1023, 1522};
	unsigned b = 0;
	while (b < 6 && wire_len > bucket_max[b])
		b++;
	bool bcast = !memcmp(dst, "\xff\xff\xff\xff\xff\xff", 6), mcast = dst[0] & 1;
	uint64_t bytes = n > UINT64_MAX / (wire_len ? wire_len : 1) ? UINT64_MAX : n * wire_len;
	if (!n)
		return;
	stat_add(e, rx ? ST_GPRC : ST_GPTC, n);
	stat_add(e, rx ? ST_TPR : ST_TPT, n);
	stat_add64(e, rx ? ST_GORCL : ST_GOTCL, bytes);
	stat_add64(e, rx ? ST_TORL : ST_TOTL, bytes);
	if (b < 6)
		stat_add(e, (rx ? ST_PRC64 : ST_PTC64) + b, n);
	if (bcast)
		stat_add(e, rx ? ST_BPRC : ST_BPTC, n);
	else if (mcast)
		stat_add(e, rx ? ST_MPRC : ST_MPTC, n);
}

void e1000_count_packet(struct e1000 *e, bool rx, const uint8_t *dst, size_t wire_len)
{
	e1000_count_packets(e, rx, dst, wire_len, 1);
}

static bool stat_is_high_half(unsigned idx)
{
	return idx == ST_GORCH || idx == ST_GOTCH || idx == ST_TORH || idx == ST_TOTH;
}

static bool stat_is_low_half(unsigned idx)
{
	return idx == ST_GORCL || idx == ST_GOTCL || idx == ST_TORL || idx == ST_TOTL;
}

/* Reading a counter clears it; a 64-bit pair is read low then high, and
 * reading the high half clears both (so no carry is lost in between). */
static uint32_t stat_read(struct e1000 *e, unsigned idx, bool side_effects)
{
	uint32_t v = e->stats[idx];
	if (!side_effects || stat_is_low_half(idx))
		return v;
	e->stats[idx] = 0;
	if (stat_is_high_half(idx))
		e->stats[idx - 1] = 0;
	return v;
}

/* ---- Reset (§13.4.1 CTRL.RST; power-on) ---- */

static void reset(struct e1000 *e)
{
	for (unsigned i = 0; i < E1000_NREGS; i++)
		e->reg[i] = e1000_regs[i].reset;
	memset(e->mta, 0, sizeof(e->mta));
	memset(e->vfta, 0, sizeof(e->vfta));
	memset(e->ra, 0, sizeof(e->ra));
	memset(e->stats, 0, sizeof(e->stats));
	/* RAL0/RAH0 are loaded from the EEPROM's address (§5). */
	e->ra[0] = (uint32_t)e->mac[0] | e->mac[1] << 8 | e->mac[2] << 16 | (uint32_t)e->mac[3] << 24;
	e->ra[1] = (uint32_t)e->mac[4] | e->mac[5] << 8 | RAH_AV;
	e->ioaddr = 0;
	e1000_eeprom_reset(&e->eeprom);
	e1000_phy_reset(&e->phy);
	e1000_tx_reset(e);
	e1000_irq_reset(e);
	e1000_irq_update(e); /* ICR and IMS are 0: the line drops */
	e1000_rx_kick(e); /* a held frame is retried (and dropped: RX is off) */
}

/* ---- The register file ---- */

static uint32_t status_value(const struct e1000 *e)
{
	uint32_t v = STATUS_FD | STATUS_SPEED_1000 | STATUS_ASDV_1000;
	if (e1000_phy_link_up(&e->phy))
		v |= STATUS_LU;
	return v;
}

static void log_unknown(uint32_t off, bool write)
{
	static int logged;
	if (!known_unimplemented(off) && !__atomic_exchange_n(&logged, 1, __ATOMIC_RELAXED))
		log_debug("e1000: %s of unimplemented register 0x%05x (reads 0, writes ignored;"
			  " logged once)", write ? "write" : "read", off);
}

/* A dword register at off (4-aligned, below 128 KiB). side_effects false:
 * the value a partial write merges with (no clear-on-read; ICR reads 0 so
 * that writing one byte of it clears nothing else). */
static uint32_t reg_read(struct e1000 *e, uint32_t off, bool side_effects)
{
	if (off >= E1000_STATS && off < E1000_STATS_END)
		return stat_read(e, (off - E1000_STATS) / 4, side_effects);
	if (off >= E1000_MTA && off < E1000_MTA_END)
		return e->mta[(off - E1000_MTA) / 4];
	if (off >= E1000_RA && off < E1000_RA_END)
		return e->ra[(off - E1000_RA) / 4];
	if (off >= E1000_VFTA && off < E1000_VFTA_END)
		return e->vfta[(off - E1000_VFTA) / 4];
	int r = reg_index(off);
	if (r < 0) {
		log_unknown(off, false);
		return 0;
	}
	switch (r) {
	case R_STATUS:
		return status_value(e);
	case R_EECD:
		return e1000_eecd_read(&e->eeprom);
	case R_ICR: {
		/* §13.4.17: reading ICR clears it, and with it the interrupt. */
		uint32_t v = e->reg[R_ICR];
		if (side_effects) {
			e->reg[R_ICR] = 0;
			e1000_irq_update(e);
		}
		return side_effects ? v : 0;
	}
	case R_ICS:
	case R_IMC:
		return 0; /* write-only */
	default:
		return e->reg[r];
	}
}

static void ctrl_write(struct e1000 *e, uint32_t old, uint32_t v)
{
	if (v & CTRL_RST) {
		/* §13.4.1: a full reset, RST clears itself. PCI configuration
		 * space is not touched. */
		reset(e);
		return;
	}
	if ((v & CTRL_PHY_RST) && !(old & CTRL_PHY_RST)) {
		bool up = e1000_phy_link_up(&e->phy);
		e1000_phy_reset(&e->phy);
		if (up != e1000_phy_link_up(&e->phy))
			e1000_set_cause(e, ICR_LSC);
	}
}

static void reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	if (off >= E1000_STATS && off < E1000_STATS_END)
		return; /* read-only */
	if (off >= E1000_MTA && off < E1000_MTA_END) {
		e->mta[(off - E1000_MTA) / 4] = v;
		return;
	}
	if (off >= E1000_RA && off < E1000_RA_END) {
		unsigned i = (off - E1000_RA) / 4;
		e->ra[i] = i & 1 ? v & (RAH_AV | RAH_AS_MASK | 0xFFFF) : v;
		return;
	}
	if (off >= E1000_VFTA && off < E1000_VFTA_END) {
		e->vfta[(off - E1000_VFTA) / 4] = v;
		return;
	}
	int r = reg_index(off);
	if (r < 0) {
		log_unknown(off, true);
		return;
	}
	uint32_t old = e->reg[r];
	e->reg[r] = (old & ~e1000_regs[r].wmask) | (v & e1000_regs[r].wmask);
	switch (r) {
	case R_CTRL:
		ctrl_write(e, old, v);
		break;
	case R_EECD:
		e1000_eecd_write(&e->eeprom, v);
		break;
	case R_EERD:
		e->reg[R_EERD] = e1000_eerd_write(&e->eeprom, v);
		break;
	case R_MDIC: {
		bool up = e1000_phy_link_up(&e->phy);
		e->reg[R_MDIC] = e1000_mdic_write(&e->phy, v);
		uint32_t cause = v & MDIC_INT_EN ? ICR_MDAC : 0;
		if (up != e1000_phy_link_up(&e->phy))
			cause |= ICR_LSC; /* powered down or up: the link changed */
		if (cause)
			e1000_set_cause(e, cause);
		break;
	}
	case R_ICR: /* writing 1s clears them too */
		e->reg[R_ICR] = old & ~v;
		e1000_irq_update(e);
		break;
	case R_ICS:
		e1000_set_cause(e, v);
		break;
	case R_IMS:
		e->reg[R_IMS] |= v & ICR_VALID;
		e1000_irq_update(e);
		break;
	case R_IMC:
		e->reg[R_IMS] &= ~v;
		e1000_irq_update(e);
		break;
	case R_ITR:
		e1000_irq_update(e);
		break;
	case R_RDTR:
		if (v & RDTR_FPD)
			e1000_delay_flush(e, E1000_DELAY_RX);
		break;
	case R_RDT:
		counter_inc(&e->rxq.kicks);
		e1000_rx_kick(e);
		break;
	case R_RCTL:
		e1000_rx_kick(e);
		break;
	case R_TDT:
		counter_inc(&e->txq.kicks);
		e1000_tx_schedule(e);
		break;
	case R_TCTL:
		e1000_tx_schedule(e);
		break;
	default:
		break;
	}
}

/* One access of 1, 2 or 4 bytes within the dword at off & ~3 (drivers use
 * dwords; narrower writes merge with the register's current value). */
static uint32_t access_read(struct e1000 *e, uint32_t off, unsigned len)
{
	unsigned shift = (off & 3) * 8;
	if (shift + len * 8 > 32)
		return 0;
	uint32_t v = reg_read(e, off & ~3u, true) >> shift;
	return len == 4 ? v : v & ((1u << (len * 8)) - 1);
}

static void access_write(struct e1000 *e, uint32_t off, unsigned len, uint32_t v)
{
	unsigned shift = (off & 3) * 8;
	if (shift + len * 8 > 32)
		return;
	if (len < 4) {
		uint32_t mask = ((1u << (len * 8)) - 1) << shift;
		v = (reg_read(e, off & ~3u, false) & ~mask) | ((v << shift) & mask);
	}
	reg_write(e, off & ~3u, v);
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct e1000 *e = opaque;
	uint64_t v = 0;
	pthread_mutex_lock(&e->lock);
	if (len == 8 && offset + 8 <= E1000_MMIO_SIZE)
		v = access_read(e, (uint32_t)offset, 4) |
		    (uint64_t)access_read(e, (uint32_t)offset + 4, 4) << 32;
	else if (len <= 4 && offset + len <= E1000_MMIO_SIZE)
		v = access_read(e, (uint32_t)offset, len);
	pthread_mutex_unlock(&e->lock);
	iobus_store_le(data, len, v);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct e1000 *e = opaque;
	uint64_t v = iobus_load_le(data, len);
	pthread_mutex_lock(&e->lock);
	if (len == 8 && offset + 8 <= E1000_MMIO_SIZE) {
		access_write(e, (uint32_t)offset, 4, (uint32_t)v);
		access_write(e, (uint32_t)offset + 4, 4, (uint32_t)(v >> 32));
	} else if (len <= 4 && offset + len <= E1000_MMIO_SIZE) {
		access_write(e, (uint32_t)offset, len, (uint32_t)v);
	}
	pthread_mutex_unlock(&e->lock);
}

static const struct iobus_ops mmio_ops = {.read = mmio_read, .write = mmio_write};

/* BAR 0 moved (pci_dev lock held): RDT's coalesced zone moves with it. The
 * driver writes RDT after each receive poll and waits on nothing it
 * does; the write reaches the device at the vCPU's next exit, which the
 * driver's IMS write at the end of its poll makes at the latest. */
static void bar_mapped(struct pci_dev *pci, int bar, uint64_t addr, bool mapped)
{
	struct e1000 *e = container_of(pci, struct e1000, pci);
	if (bar != 0 || !e->coalesced)
		return;
	if (e->rdt_zone) {
		coalesced_mmio_zone(e->coalesced, e->rdt_zone, 4, false);
		e->rdt_zone = 0;
	}
	if (!mapped)
		return;
	int err = coalesced_mmio_zone(e->coalesced, addr + E1000_RDT, 4, true);
	if (err == 0)
		e->rdt_zone = addr + E1000_RDT;
	else if (err != -ENOTSUP)
		log_warn("%s: KVM_REGISTER_COALESCED_MMIO failed (%s); RDT writes exit",
			 e->dev.id, strerror(-err));
}

static const struct pci_dev_ops pci_ops = {.bar_mapped = bar_mapped};

/* BAR1 (§13.2, I/O-mapped access): IOADDR at 0 selects a register, IODATA
 * at 4 reads or writes it. Linux's e1000 issues CTRL.RST through it. */

static void io_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct e1000 *e = opaque;
	uint32_t v = 0;
	pthread_mutex_lock(&e->lock);
	if (len == 4 && offset == 0)
		v = e->ioaddr;
	else if (len == 4 && offset == 4)
		v = access_read(e, e->ioaddr & ~3u, 4);
	pthread_mutex_unlock(&e->lock);
	iobus_store_le(data, len, v);
}

static void io_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct e1000 *e = opaque;
	uint32_t v = (uint32_t)iobus_load_le(data, len);
	pthread_mutex_lock(&e->lock);
	if (len == 4 && offset == 0)
		e->ioaddr = v & E1000_IOADDR_MASK;
	else if (len == 4 && offset == 4)
		access_write(e, e->ioaddr & ~3u, 4, v);
	pthread_mutex_unlock(&e->lock);
}

static const struct iobus_ops io_ops = {.read = io_read, .write = io_write};

/* ---- The device contract (core/device.h) ---- */

static struct e1000 *to_e1000(struct device *dev)
{
	return container_of(dev, struct e1000, dev);
}

/* Power-on reset, as CTRL.RST does it (PCI configuration space is the
 * machine's to reset). */
static void dev_reset(struct device *dev)
{
	struct e1000 *e = to_e1000(dev);
	pthread_mutex_lock(&e->lock);
	reset(e);
	pthread_mutex_unlock(&e->lock);
}

/* The device: exits (its PCI function's) and every INTx assertion.
 * "rx0": kicks are RDT writes; interrupts, assertions with a receive cause
 * pending; requests, frames placed in guest buffers; bytes_out, the bytes
 * written into them; errors, frames the device could not take for lack of
 * receive buffers (each refusal: the backend holds the frame and retries)
 * and runts or over-long frames from the backend; rejected, the guest's
 * mistakes (ring unusable, a buffer outside RAM, a frame longer than the
 * whole ring). "tx0": kicks are TDT writes; requests, frames the backend
 * took (TSO: each segment, also when the packet went whole as one GSO
 * frame); bytes_in, their bytes; errors, frames the
 * backend refused; rejected, the guest's mistakes (ring unusable, bad
 * descriptors or contexts, buffers outside RAM, oversized packets). */
static void dev_counters(struct device *dev, const struct counter_sink *sink)
{
	struct e1000 *e = to_e1000(dev);
	struct dev_counters c = {
		.exits = counter_read(&e->pci.exits),
		.interrupts = counter_read(&e->dev.counters.interrupts),
	};
	counters_emit(sink, dev->id, "", &c);
	counters_emit(sink, dev->id, "rx0", &e->rxq);
	counters_emit(sink, dev->id, "tx0", &e->txq);
}

static int dev_save(struct device *dev, struct state_writer *w)
{
	return e1000_save(to_e1000(dev), w);
}

static int dev_load(struct device *dev, struct state_reader *r)
{
	return e1000_load(to_e1000(dev), r);
}

static void dev_destroy(struct device *dev)
{
	e1000_destroy(to_e1000(dev));
}

static void dev_announce(struct device *dev)
{
	struct e1000 *e = to_e1000(dev);
	if (e->backend)
		net_announce(e->backend, e->mac);
}

static const struct device_ops e1000_ops = {
	.kind = "e1000",
	.reset = dev_reset,
	.counters = dev_counters,
	.save = dev_save,
	.load = dev_load,
	.announce = dev_announce,
	.destroy = dev_destroy,
};

struct device *e1000_device(struct e1000 *e)
{
	return &e->dev;
}

/* ---- Life cycle ---- */

static struct e1000 *create(const char *id, const uint8_t mac[6], const struct guest_mem *mem,
			    struct loop *loop, const struct e1000_port *port,
			    struct coalesced_mmio *coalesced)
{
	pthread_mutexattr_t attr;
	struct e1000 *e = calloc(1, sizeof(*e));
	if (!e) {
		log_error("e1000: out of memory");
		return NULL;
	}
	device_init(&e->dev, &e1000_ops, id ? id : "e1000");
	e->mem = mem;
	e->loop = loop;
	e->timer_fd = e->tx_fd = -1;
	e->timer_at = E1000_NEVER;
	if (port)
		e->port = *port;
	memcpy(e->mac, mac, 6);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&e->lock, &attr);
	pthread_mutexattr_destroy(&attr);

	pci_dev_init(&e->pci, "e1000", E1000_VENDOR_INTEL, E1000_DEV_82540EM, E1000_CLASS_ETHERNET,
		     E1000_REVISION, E1000_SUBSYS_VENDOR, E1000_SUBSYS_ID);
	e->coalesced = coalesced;
	e->pci.ops = &pci_ops;
	if (pci_dev_set_bar(&e->pci, 0, PCI_BAR_MEM32, E1000_MMIO_SIZE, false, &mmio_ops, e) < 0 ||
	    pci_dev_set_bar(&e->pci, 1, PCI_BAR_IO, E1000_IO_SIZE, false, &io_ops, e) < 0) {
		log_error("e1000: cannot declare the BARs");
		goto fail;
	}
	if (loop) {
		e->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (e->timer_fd < 0) {
			log_error("e1000: timerfd_create: %s", strerror(errno));
			goto fail;
		}
		int err = loop_add_fd(loop, e->timer_fd, EPOLLIN, e1000_irq_timer, e);
		if (err < 0) {
			log_error("e1000: adding the interrupt timer to the loop: %s", strerror(-err));
			close(e->timer_fd);
			e->timer_fd = -1;
			goto fail;
		}
		e->tx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		err = e->tx_fd < 0 ? -errno : loop_add_fd(loop, e->tx_fd, EPOLLIN, e1000_tx_event, e);
		if (err < 0) {
			log_error("e1000: adding the transmit eventfd to the loop: %s", strerror(-err));
			goto fail;
		}
	}
	e1000_eeprom_init(&e->eeprom, mac);
	reset(e);
	return e;
fail:
	if (e->tx_fd >= 0)
		close(e->tx_fd);
	if (e->timer_fd >= 0) {
		loop_del_fd(loop, e->timer_fd);
		close(e->timer_fd);
	}
	pci_dev_destroy(&e->pci);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return NULL;
}

struct e1000 *e1000_create_port(const uint8_t mac[6], const struct guest_mem *mem,
				struct loop *loop, const struct e1000_port *port)
{
	return create(NULL, mac, mem, loop, port, NULL);
}

static int backend_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	return net_send(opaque, iov, iovcnt);
}

static void backend_rx_resume(void *opaque)
{
	net_rx_resume(opaque);
}

struct e1000 *e1000_create(const struct e1000_options *o, const struct guest_mem *mem,
			   struct loop *loop)
{
	struct net_options bo = o->backend;
	/* Checksums are done here in software. A tap carries the vnet header
	 * so that a segmentation packet goes in one write, as a GSO frame
	 * (e1000_gso.c); offloads stay 0, so received frames are never GSO or
	 * partially checksummed. User-mode networking has no header. */
	bo.vnet_hdr = bo.kind == NET_TAP;
	bo.offloads = 0;
	/* The device is complete, and knows the framing, before the backend
	 * can deliver to it. */
	struct e1000_port early = {.vnet_hdr = bo.vnet_hdr};
	struct e1000 *e = create(o->id, o->mac, mem, loop, &early, o->coalesced);
	if (!e)
		return NULL;
	e->backend = net_open(&bo, loop, e1000_receive, e);
	if (!e->backend) {
		e1000_destroy(e);
		return NULL;
	}
	pthread_mutex_lock(&e->lock);
	e->port = (struct e1000_port){backend_send, backend_rx_resume, e->backend, NULL,
				      net_has_vnet_hdr(e->backend)};
	pthread_mutex_unlock(&e->lock);
	return e;
}

struct pci_dev *e1000_pci(struct e1000 *e)
{
	return &e->pci;
}

void e1000_destroy(struct e1000 *e)
{
	if (!e)
		return;
	log_debug("e1000: %llu frames received, %llu sent (%llu TSO packets, %llu of them as GSO "
		  "frames); %llu interrupts, %llu causes held by a delay timer, %llu assertions "
		  "postponed by ITR",
		  (unsigned long long)e->st.rx_frames, (unsigned long long)e->st.tx_frames,
		  (unsigned long long)e->st.tx_tso_packets, (unsigned long long)e->st.tx_gso_frames,
		  (unsigned long long)e->st.irqs, (unsigned long long)e->st.irqs_delayed,
		  (unsigned long long)e->st.irqs_throttled);
	if (e->backend)
		net_close(e->backend);
	if (e->timer_fd >= 0) {
		loop_del_fd(e->loop, e->timer_fd);
		close(e->timer_fd);
	}
	if (e->tx_fd >= 0) {
		loop_del_fd(e->loop, e->tx_fd);
		close(e->tx_fd);
	}
	pci_dev_destroy(&e->pci);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void e1000_get_stats(struct e1000 *e, struct e1000_stats *st)
{
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	pthread_mutex_unlock(&e->lock);
}
