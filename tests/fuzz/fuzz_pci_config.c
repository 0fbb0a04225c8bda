// fuzz-sources: src/bus/pci_host.c src/bus/pci.c src/bus/msix.c src/bus/iobus.c src/bus/irq_routing.c src/devices/e1000.c src/kvm/coalesced_mmio.c src/devices/e1000_rx.c src/devices/e1000_tx.c src/devices/e1000_gso.c src/devices/e1000_eeprom.c src/devices/e1000_irq.c src/devices/e1000_phy.c src/devices/e1000_state.c src/virtio/virtio_pci.c src/virtio/virtio_state.c src/core/device.c src/core/counters.c src/bus/pci_state.c src/core/state.c src/virtio/virtio.c src/virtio/virtqueue.c src/virtio/rng.c src/virtio/queue_service.c src/core/iov.c src/core/inet_csum.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c tests/fuzz/net_stub.c
/* PCI configuration space against a hostile guest, through both ways in:
 * the host bridge's 0xCF8/0xCFC ports (any port of the two, any width) and
 * its ECAM window (any offset, 1/2/4/8 bytes), with real functions behind
 * it as the machine builds them: an e1000 (MEM32 + I/O BAR, no
 * capabilities), a virtio-rng on virtio-pci (vendor capabilities, the
 * pci_cfg window onto BAR0, MSI-X in BAR1), and a PCIe function with
 * standard and extended capabilities, an I/O BAR, a MEM64 BAR holding its
 * MSI-X table and PBA beside its registers (as NVMe's BAR0 does) and a
 * prefetchable MEM64 BAR. The
 * guest sizes and moves BARs, flips decoding and INTx disable in the
 * command register, walks capabilities, enables and masks MSI-X, and reads
 * and writes the MSI-X table and PBA (any offset, any width) where it
 * mapped them; devices raise INTx and signal vectors in between.
 *
 * No KVM: MSI-X has no routes, INTx lines are a stub. There is no guest
 * RAM, so whatever a device is told to fetch through BAR writes fails.
 *
 * Checked invariants: no crash, leak or UB; the guest changes only the
 * config bytes the write masks open (identity, capability chains, BAR
 * flags stay); BAR sizing reads back the BAR's size; a claimed BAR sits
 * where its registers say, with decoding on; absent functions read as
 * all-ones; reserved MSI-X vector control bits stay zero. */
/* pci_host.h before <linux/pci_regs.h>: both define PCI_IO_BASE. */
#include "bus/pci_host.h"

#include <linux/pci_regs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "bus/msix.h"
#include "devices/e1000.h"
#include "harness.h"
#include "virtio/rng.h"
#include "virtio/virtio_pci.h"

#define MMIO64_BASE (64ULL << 30)

/* A relocated BAR may land on e1000 registers: whatever it sends is dropped. */
static int port_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	fuzz_touch_iov(iov, iovcnt, 3);
	return 0;
}

static void port_rx_resume(void *opaque)
{
}

static const struct e1000_port e1000_port = {.send = port_send, .rx_resume = port_rx_resume};

/* ---- a PCIe function with extended capabilities and MSI-X ---- */

#define EXP_MSIX_BAR 2
#define EXP_MSIX_BAR_SIZE 0x4000
#define EXP_MSIX_TABLE 0x2000    /* registers below, as in NVMe's BAR0 */
#define EXP_MSIX_PBA 0x3000
#define EXP_NVEC 9

struct express {
	struct pci_dev pci;
	struct msix msix;
	uint8_t regs[EXP_MSIX_TABLE];
};

static void exp_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct express *x = opaque;
	if (x && msix_bar_read(&x->msix, off, data, len))
		return;
	if (x && off < sizeof(x->regs) && len <= sizeof(x->regs) - off)
		memcpy(data, &x->regs[off], len);
	else
		memset(data, 0, len);
}

static void exp_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct express *x = opaque;
	if (x && msix_bar_write(&x->msix, off, data, len))
		return;
	if (x && off < sizeof(x->regs) && len <= sizeof(x->regs) - off)
		memcpy(&x->regs[off], data, len);
}

static const struct iobus_ops bar_ops = {.read = exp_read, .write = exp_write};

static void exp_config_written(struct pci_dev *dev, unsigned offset, unsigned len)
{
	msix_config_written(&((struct express *)dev)->msix, offset, len);
}

static const struct pci_dev_ops exp_ops = {.config_written = exp_config_written};

static void express_init(struct express *x)
{
	struct pci_dev *dev = &x->pci;
	pci_dev_init(dev, "pcie-fn", 0x1234, 0x11e8, 0xff0000, 1, 0x1234, 0x1100);
	dev->is_express = true;
	uint8_t exp[PCI_CAP_EXP_ENDPOINT_SIZEOF_V2 - 2] = {0x02}; /* version 2, endpoint */
	uint8_t pm[PCI_PM_SIZEOF - 2] = {0x03};
	uint8_t aer[PCI_ERR_ROOT_COMMAND - 4] = {0};
	uint8_t dsn[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int exp_off = pci_dev_add_cap(dev, PCI_CAP_ID_EXP, exp, sizeof(exp));
	int pm_off = pci_dev_add_cap(dev, PCI_CAP_ID_PM, pm, sizeof(pm));
	int aer_off = pci_dev_add_ext_cap(dev, PCI_EXT_CAP_ID_ERR, 2, aer, sizeof(aer));
	if (exp_off < 0 || pm_off < 0 || aer_off < 0 ||
	    pci_dev_add_ext_cap(dev, PCI_EXT_CAP_ID_DSN, 1, dsn, sizeof(dsn)) < 0 ||
	    pci_dev_set_bar(dev, 0, PCI_BAR_IO, 0x100, false, &bar_ops, NULL) < 0 ||
	    pci_dev_set_bar(dev, 1, PCI_BAR_MEM32, 16, false, &bar_ops, NULL) < 0 ||
	    pci_dev_set_bar(dev, EXP_MSIX_BAR, PCI_BAR_MEM64, EXP_MSIX_BAR_SIZE, false, &bar_ops,
			    x) < 0 ||
	    pci_dev_set_bar(dev, 4, PCI_BAR_MEM64, 1 << 20, true, &bar_ops, NULL) < 0 ||
	    msix_init(&x->msix, dev, NULL, EXP_NVEC, EXP_MSIX_BAR, EXP_MSIX_TABLE,
		      EXP_MSIX_PBA) < 0)
		abort();
	dev->ops = &exp_ops;
	/* No KVM: vectors deliver into eventfds of our own (msix_destroy
	 * closes them). */
	for (unsigned v = 0; v < EXP_NVEC; v++)
		if ((x->msix.eventfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			abort();
	/* Device control, PM control/status and AER's status (RW1C) and mask
	 * registers, as a real function has them. */
	pci_dev_set_wmask(dev, (unsigned)exp_off + PCI_EXP_DEVCTL, 2, 0x7fff);
	pci_dev_set_w1cmask(dev, (unsigned)exp_off + PCI_EXP_DEVSTA, 2, 0x000f);
	pci_dev_set_wmask(dev, (unsigned)pm_off + PCI_PM_CTRL, 2, PCI_PM_CTRL_STATE_MASK);
	pci_dev_set_w1cmask(dev, (unsigned)aer_off + PCI_ERR_UNCOR_STATUS, 4, 0x03fff030);
	pci_dev_set_wmask(dev, (unsigned)aer_off + PCI_ERR_UNCOR_MASK, 4, 0x03fff030);
	pci_dev_set_w1cmask(dev, (unsigned)aer_off + PCI_ERR_COR_STATUS, 4, 0x0000f1c1);
}

/* ---- the machine ---- */

static struct guest_mem mem;

static void intx_set(void *opaque, unsigned gsi, bool level)
{
	if (gsi < PCI_INTX_GSI_BASE || gsi >= PCI_INTX_GSI_BASE + PCI_INTX_GSI_COUNT)
		abort();
}

static struct irq_line intx_line(void *opaque, unsigned gsi)
{
	return (struct irq_line){.set_level = intx_set, .gsi = gsi};
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	guest_mem_init_empty(&mem);
	return 0;
}

enum { F_E1000, F_VIRTIO, F_EXPRESS, NFUNCS };

struct fn {
	struct pci_dev *pci;
	struct msix *msix;      /* NULL: none */
	int msix_bar;
	uint32_t msix_base, msix_span; /* where in the BAR the guest aims */
	/* The bits the guest cannot change (no write or write-1-to-clear
	 * mask; the status register's INTx bit is the device's) and their
	 * power-on values, 8 bytes at a time. */
	uint64_t fixed[PCI_CFG_SIZE / 8], ro[PCI_CFG_SIZE / 8];
};

static void snapshot(struct fn *f)
{
	const struct pci_dev *d = f->pci;
	for (unsigned w = 0; w < PCI_CFG_SIZE / 8; w++) {
		uint64_t wm, w1c;
		memcpy(&wm, &d->wmask[8 * w], 8);
		memcpy(&w1c, &d->w1cmask[8 * w], 8);
		memcpy(&f->ro[w], &d->cfg[8 * w], 8);
		f->fixed[w] = ~(wm | w1c);
	}
	f->fixed[PCI_STATUS / 8] &= ~((uint64_t)PCI_STATUS_INTERRUPT << 8 * (PCI_STATUS % 8));
}

static struct fn fns[NFUNCS];
static struct pci_host host;
static struct iobus *pio, *mmio;

static void pio_access(uint16_t port, uint8_t *rdata, const uint8_t *wdata, unsigned len)
{
	if (rdata)
		iobus_read(pio, port, rdata, len);
	else
		iobus_write(pio, port, wdata, len);
}

static uint32_t cfg_read(unsigned devfn, unsigned reg, unsigned len)
{
	uint8_t addr[4], data[4] = {0};
	iobus_store_le(addr, 4, 0x80000000u | devfn << 8 | (reg & 0xfc));
	pio_access(0xcf8, NULL, addr, 4);
	pio_access((uint16_t)(0xcfc + (reg & 3)), data, NULL, len);
	return (uint32_t)iobus_load_le(data, len);
}

static void cfg_write(unsigned devfn, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t addr[4], data[4];
	iobus_store_le(addr, 4, 0x80000000u | devfn << 8 | (reg & 0xfc));
	iobus_store_le(data, 4, v);
	pio_access(0xcf8, NULL, addr, 4);
	pio_access((uint16_t)(0xcfc + (reg & 3)), NULL, data, len);
}

/* What the firmware-less guest does to size BAR i of fn: all-ones, read
 * back, restore. The read-back must be the BAR's size mask and flags. */
static void size_bar(const struct fn *f, int i)
{
	const struct pci_bar *bar = &f->pci->bars[i];
	unsigned devfn = f->pci->devfn, reg = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
	uint32_t old = cfg_read(devfn, reg, 4);
	cfg_write(devfn, reg, 4, 0xffffffff);
	uint32_t got = cfg_read(devfn, reg, 4);
	cfg_write(devfn, reg, 4, old);
	uint32_t want = 0;
	if (bar->type == PCI_BAR_IO)
		want = (uint32_t)~(bar->size - 1) | PCI_BASE_ADDRESS_SPACE_IO;
	else if (bar->type != PCI_BAR_NONE)
		want = (uint32_t)~(bar->size - 1) & ~0xfU;
	else if (i > 0 && f->pci->bars[i - 1].type == PCI_BAR_MEM64)
		want = (uint32_t)(~(f->pci->bars[i - 1].size - 1) >> 32);
	if (bar->type == PCI_BAR_MEM64)
		want |= PCI_BASE_ADDRESS_MEM_TYPE_64;
	if (bar->prefetchable)
		want |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	if (got != want || cfg_read(devfn, reg, 4) != old)
		abort();
}

static void check_fn(const struct fn *f)
{
	const struct pci_dev *d = f->pci;
	uint64_t changed = 0;
	for (unsigned w = 0; w < PCI_CFG_SIZE / 8; w++) {
		uint64_t v;
		memcpy(&v, &d->cfg[8 * w], 8);
		changed |= (v ^ f->ro[w]) & f->fixed[w];
	}
	if (changed)
		abort();
	uint16_t cmd = (uint16_t)pci_cfg_get(d, PCI_COMMAND, 2);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bars[i];
		if (!bar->mapped)
			continue;
		uint16_t decode = bar->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
		if (!(cmd & decode) || bar->mapped_addr != pci_bar_address(d, i))
			abort();
	}
	for (unsigned v = 0; f->msix && v < f->msix->nvec; v++) {
		const uint8_t *ctrl = &f->msix->table[v * MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL];
		if ((ctrl[0] & ~PCI_MSIX_ENTRY_CTRL_MASKBIT) || ctrl[1] || ctrl[2] || ctrl[3])
			abort();
	}
}

static bool absent(unsigned devfn)
{
	return (devfn & 7) || !host.slots[devfn >> 3];
}

/* Each operation is 8 bytes: kind, a modifier (width, function...), a
 * 16-bit address and a 32-bit value. */
enum op {
	OP_CF8, OP_CFC_READ, OP_CFC_WRITE, OP_ECAM_READ, OP_ECAM_WRITE,
	OP_MSIX_READ, OP_MSIX_WRITE, OP_SIGNAL, OP_SIZE_BAR, OP_COUNT
};
#define OP_SIZE 8

static void run_op(const uint8_t *op)
{
	unsigned mod = op[1], a = op[2] | op[3] << 8;
	uint32_t val = (uint32_t)iobus_load_le(op + 4, 4);
	unsigned len = 1u << (mod & 3) % 3;            /* 1, 2, 4 */
	uint8_t buf[8];
	memcpy(buf, op + 4, 4);
	memcpy(buf + 4, op + 4, 4);
	switch (op[0] % OP_COUNT) {
	case OP_CF8:
		/* A well-formed address (devfn, register), or anything at any
		 * port of 0xCF8..0xCFB with any width; or a read back. */
		if (mod & 0x20) {
			pio_access((uint16_t)(0xcf8 + (mod >> 2 & 3)), buf, NULL, len);
			break;
		}
		if (mod & 0x80)
			iobus_store_le(buf, 4, 0x80000000u | (a & 0xff) << 8 | (a >> 8 & 0xfc));
		pio_access((uint16_t)(mod & 0x40 ? 0xcf8 + (mod >> 2 & 3) : 0xcf8), NULL, buf,
			   mod & 0x40 ? len : 4);
		break;
	case OP_CFC_READ:
	case OP_CFC_WRITE: {
		uint16_t port = (uint16_t)(0xcfc + (mod >> 2 & 3));
		if (op[0] % OP_COUNT == OP_CFC_WRITE) {
			pio_access(port, NULL, buf, len);
			break;
		}
		memset(buf, 0xa5, sizeof(buf));
		pio_access(port, buf, NULL, len);
		for (unsigned i = len; i < sizeof(buf); i++)
			if (buf[i] != 0xa5)
				abort();
		break;
	}
	case OP_ECAM_READ:
	case OP_ECAM_WRITE: {
		/* devfn in a, register from the modifier's high bits and val's
		 * top byte: 12 bits. */
		unsigned devfn = a & 0xff, reg = (a >> 8 | (mod & 0xf0) << 4) & 0xfff;
		unsigned width = 1u << (mod & 3);              /* 1, 2, 4, 8 */
		uint64_t addr = PCI_ECAM_BASE + ((uint64_t)devfn << 12 | reg);
		if (op[0] % OP_COUNT == OP_ECAM_WRITE) {
			iobus_write(mmio, addr, buf, width);
			break;
		}
		iobus_read(mmio, addr, buf, width);
		if (absent(devfn))
			for (unsigned i = 0; i < width; i++)
				if (buf[i] != 0xff)
					abort();
		break;
	}
	case OP_MSIX_READ:
	case OP_MSIX_WRITE: {
		/* Where the guest put the BAR: unclaimed (all-ones) until it
		 * enables decoding at a sane address. */
		const struct fn *f = &fns[mod & 0x80 ? F_VIRTIO : F_EXPRESS];
		uint64_t addr = pci_bar_address(f->pci, f->msix_bar) + f->msix_base +
				a % f->msix_span;
		unsigned width = 1u << (mod & 3);
		if (op[0] % OP_COUNT == OP_MSIX_WRITE)
			iobus_write(mmio, addr, buf, width);
		else
			iobus_read(mmio, addr, buf, width);
		break;
	}
	case OP_SIGNAL: {
		/* The device side: an interrupt on a vector (pending while
		 * masked) or on its INTx pin; or a vector's eventfd handed to
		 * a signaller outside the VMM (vhost) and back. */
		const struct fn *f = &fns[mod % NFUNCS];
		unsigned v = a % (MSIX_MAX_VECTORS + 2);
		if (f->msix && mod & 0x40)
			msix_direct_get(f->msix, v);
		else if (f->msix && mod & 0x20)
			msix_direct_put(f->msix, v);
		else if (f->msix)
			msix_notify(f->msix, v);
		pci_dev_set_intx(f->pci, val & 1);
		break;
	}
	case OP_SIZE_BAR:
		size_bar(&fns[mod % NFUNCS], (int)(a % PCI_NUM_BARS));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A loop per run: virtio-pci's kick eventfds live on it (it never
	 * runs), and a loop keeps removed handlers until it is destroyed. */
	struct loop *loop = loop_create();
	pio = iobus_create("pio");
	mmio = iobus_create("mmio");
	if (!loop || !pio || !mmio || pci_host_init(&host, pio, mmio, MMIO64_BASE, intx_line, NULL) < 0)
		abort();

	static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
	struct e1000 *e1000 = e1000_create_port(mac, &mem, NULL, &e1000_port);
	struct virtio_rng *rng = virtio_rng_create(&mem, loop);
	static struct virtio_pci vp;
	static struct express x;
	memset(&x, 0, sizeof(x));
	if (!e1000 || !rng || virtio_pci_init(&vp, virtio_rng_dev(rng), NULL, -1) < 0)
		abort();
	express_init(&x);

	fns[F_E1000] = (struct fn){.pci = e1000_pci(e1000)};
	fns[F_VIRTIO] = (struct fn){.pci = &vp.pci, .msix = &vp.msix, .msix_bar = 1,
				    .msix_span = VIRTIO_PCI_MSIX_BAR_SIZE};
	fns[F_EXPRESS] = (struct fn){.pci = &x.pci, .msix = &x.msix, .msix_bar = EXP_MSIX_BAR,
				     .msix_base = EXP_MSIX_TABLE - 0x100,
				     .msix_span = EXP_MSIX_BAR_SIZE - EXP_MSIX_TABLE + 0x100};
	for (int i = 0; i < NFUNCS; i++) {
		if (pci_host_add(&host, fns[i].pci) < 0)
			abort();
		snapshot(&fns[i]);
	}

	for (; size >= OP_SIZE; data += OP_SIZE, size -= OP_SIZE)
		run_op(data);
	for (int i = 0; i < NFUNCS; i++)
		check_fn(&fns[i]);

	pci_host_destroy(&host);
	msix_destroy(&x.msix);
	pci_dev_destroy(&x.pci);
	virtio_pci_destroy(&vp);
	virtio_rng_destroy(rng);
	e1000_destroy(e1000);
	iobus_destroy(mmio);
	iobus_destroy(pio);
	loop_destroy(loop);
	return 0;
}
