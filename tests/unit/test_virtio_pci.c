/* The virtio-pci modern transport (src/virtio/virtio_pci.c) and the virtio
 * state machine (src/virtio/virtio.c), driven the way Linux's
 * virtio_pci_modern driver does: find the vendor capabilities, then through
 * BAR0 (mapped on an MMIO bus by a host bridge once the command register
 * enables it) negotiate features, set up queues, set DRIVER_OK, kick, take
 * interrupts, reset. The device is a dummy that records what the transport
 * asks of it (a hostile driver's tests also bind a real virtio-console);
 * guest RAM is a malloc'd buffer; there is no KVM (vm_fd -1, no MSI
 * routes). */
/* pci_host.h before <linux/pci_regs.h>: both define PCI_IO_BASE. */
#include "bus/pci_host.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/iobus.h"
#include "core/device.h"
#include "core/guest_mem.h"
#include "core/loop.h"
#include "support/fake_irq.h"
#include "support/loop_wait.h"
#include "support/tap_ns.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"

#define RAM_SIZE    0x10000ULL
#define NQ          2
#define QMAX        8
#define CONFIG_SIZE 8
#define DEV_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << 3) | \
		      (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << 40))

#define DESC_GPA  0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA  0x3000ULL
#define QSTRIDE   0x4000ULL /* queue q's rings: + q * QSTRIDE */

/* ISR status bits (virtio 1.x §4.1.4.5). */
#define ISR_QUEUE  0x1
#define ISR_CONFIG 0x2

struct fx {
	struct iobus *pio, *mmio;
	struct pci_host host;
	struct fake_irq_bank irq;
	struct guest_mem mem;
	uint8_t *ram;
	struct loop *loop;
	struct virtio_dev vdev;  /* the dummy */
	struct virtio_console *con; /* or a real device */
	int con_fds[2];
	struct virtio_pci *vp;
	unsigned slot;
	uint64_t bar0, bar1;
	/* what the device saw */
	unsigned activates, resets, config_reads, config_writes, notifies, irq_moves;
	unsigned last_cfg_off, last_cfg_len, last_q;
	uint64_t last_cfg_val;
	int activate_ret;
	uint8_t config[CONFIG_SIZE];
	bool stop_on_notify;
};

/* ---- the dummy device ------------------------------------------------------- */

static void dev_config_read(struct virtio_dev *vdev, unsigned off, uint8_t *data, unsigned len)
{
	struct fx *f = container_of(vdev, struct fx, vdev);
	assert_true(off + len <= CONFIG_SIZE);
	f->config_reads++;
	f->last_cfg_off = off;
	f->last_cfg_len = len;
	memcpy(data, &f->config[off], len);
}

static void dev_config_write(struct virtio_dev *vdev, unsigned off, const uint8_t *data,
			     unsigned len)
{
	struct fx *f = container_of(vdev, struct fx, vdev);
	assert_true(off + len <= CONFIG_SIZE);
	f->config_writes++;
	f->last_cfg_off = off;
	f->last_cfg_len = len;
	f->last_cfg_val = iobus_load_le(data, len);
}

static int dev_activate(struct virtio_dev *vdev)
{
	struct fx *f = container_of(vdev, struct fx, vdev);
	f->activates++;
	return f->activate_ret;
}

static void dev_reset(struct virtio_dev *vdev)
{
	struct fx *f = container_of(vdev, struct fx, vdev);
	f->resets++;
}

static void dev_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fx *f = container_of(vdev, struct fx, vdev);
	/* A device runs the queue's rings: the transport may hand it only a
	 * queue that DRIVER_OK validated. */
	assert_non_null(vdev->queues[q].vq.avail);
	f->notifies++;
	f->last_q = q;
	if (f->stop_on_notify)
		loop_stop(vdev->loop);
}

static void dev_irq_moved(struct virtio_dev *vdev)
{
	struct fx *f = container_of(vdev, struct fx, vdev);
	f->irq_moves++;
}

static const struct virtio_dev_ops dev_ops = {
	.config_read = dev_config_read,
	.config_write = dev_config_write,
	.activate = dev_activate,
	.reset = dev_reset,
	.queue_notify = dev_queue_notify,
	.irq_moved = dev_irq_moved,
};

/* For a virtio_dev outside struct fx (the tests that only bind one): the
 * transport may call these, and they must not reach for an fx. */
static void bare_config_read(struct virtio_dev *vdev, unsigned off, uint8_t *data, unsigned len)
{
	memset(data, 0, len);
}
static void bare_config_write(struct virtio_dev *vdev, unsigned off, const uint8_t *data,
			      unsigned len)
{
}
static void bare_reset(struct virtio_dev *vdev)
{
}
static void bare_queue_notify(struct virtio_dev *vdev, unsigned q)
{
}

static const struct virtio_dev_ops bare_ops = {
	.config_read = bare_config_read,
	.config_write = bare_config_write,
	.reset = bare_reset,
	.queue_notify = bare_queue_notify,
};

/* ---- config space (0xCF8/0xCFC) -------------------------------------------- */

static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned len)
{
	uint8_t b[4] = {0}, a[4];
	iobus_store_le(a, 4, 0x80000000U | f->slot << 11 | (reg & 0xfc));
	pci_host_cf8_ops.write(&f->host, 0, a, 4);
	pci_host_cfc_ops.read(&f->host, reg & 3, b, len);
	return (uint32_t)iobus_load_le(b, len);
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t b[4], a[4];
	iobus_store_le(a, 4, 0x80000000U | f->slot << 11 | (reg & 0xfc));
	pci_host_cf8_ops.write(&f->host, 0, a, 4);
	iobus_store_le(b, len, v);
	pci_host_cfc_ops.write(&f->host, reg & 3, b, len);
}

/* ---- BAR0 ----------------------------------------------------------------- */

static uint64_t rd(struct fx *f, uint64_t off, unsigned len)
{
	uint8_t b[8];
	memset(b, 0xcc, sizeof(b));
	assert_true(iobus_read(f->mmio, f->bar0 + off, b, len));
	return iobus_load_le(b, len);
}

static void wr(struct fx *f, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t b[8];
	iobus_store_le(b, len, v);
	assert_true(iobus_write(f->mmio, f->bar0 + off, b, len));
}

#define COMMON(field) (VIRTIO_PCI_COMMON_OFF + (field))

static uint8_t status(struct fx *f)
{
	return (uint8_t)rd(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1);
}

static void set_status(struct fx *f, uint8_t s)
{
	wr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, s);
}

static uint64_t device_features(struct fx *f)
{
	wr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 0);
	uint64_t lo = rd(f, COMMON(VIRTIO_PCI_COMMON_DF), 4);
	wr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 1);
	uint64_t hi = rd(f, COMMON(VIRTIO_PCI_COMMON_DF), 4);
	return lo | hi << 32;
}

static void write_features(struct fx *f, uint64_t feat)
{
	wr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_GF), 4, (uint32_t)feat);
	wr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	wr(f, COMMON(VIRTIO_PCI_COMMON_GF), 4, feat >> 32);
}

static uint64_t driver_features(struct fx *f)
{
	wr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
	uint64_t lo = rd(f, COMMON(VIRTIO_PCI_COMMON_GF), 4);
	wr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	uint64_t hi = rd(f, COMMON(VIRTIO_PCI_COMMON_GF), 4);
	return lo | hi << 32;
}

/* vp_iowrite64_twopart */
static void wr64(struct fx *f, unsigned lo_field, uint64_t v)
{
	wr(f, COMMON(lo_field), 4, (uint32_t)v);
	wr(f, COMMON(lo_field + 4), 4, v >> 32);
}

static uint64_t rd64(struct fx *f, unsigned lo_field)
{
	return rd(f, COMMON(lo_field), 4) | rd(f, COMMON(lo_field + 4), 4) << 32;
}

static void select_queue(struct fx *f, unsigned q)
{
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, q);
}

static void setup_queue(struct fx *f, unsigned q, uint16_t size, uint64_t desc, uint64_t avail,
			uint64_t used)
{
	select_queue(f, q);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, size);
	wr64(f, VIRTIO_PCI_COMMON_Q_DESCLO, desc);
	wr64(f, VIRTIO_PCI_COMMON_Q_AVAILLO, avail);
	wr64(f, VIRTIO_PCI_COMMON_Q_USEDLO, used);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
}

/* Reset, ACK, DRIVER, features, FEATURES_OK (must stick). */
static void negotiate(struct fx *f, uint64_t feat)
{
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	assert_int_equal(device_features(f) & feat, feat);
	write_features(f, feat);
	set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			      VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
}

#define S_ALL_BUT_OK (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		      VIRTIO_CONFIG_S_FEATURES_OK)

/* Good rings for every queue, then DRIVER_OK. */
static void queues_and_go(struct fx *f)
{
	for (unsigned q = 0; q < NQ; q++)
		setup_queue(f, q, QMAX, DESC_GPA + q * QSTRIDE, AVAIL_GPA + q * QSTRIDE,
			    USED_GPA + q * QSTRIDE);
	set_status(f, S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The whole probe (its reset included). */
static void bring_up(struct fx *f)
{
	negotiate(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 3));
	queues_and_go(f);
}

/* Vectors as vp_find_vqs_msix assigns them: after the reset, before
 * DRIVER_OK. */
static void set_vectors(struct fx *f, uint16_t config, const uint16_t *qvec)
{
	wr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2, config);
	for (unsigned q = 0; q < NQ; q++) {
		select_queue(f, q);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, qvec[q]);
	}
}

/* ---- fixture ---------------------------------------------------------------- */

/* Buses, host bridge, RAM and loop, for a device to bind to. */
static struct fx *fx_create(void)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	f->con_fds[0] = f->con_fds[1] = -1;
	f->pio = iobus_create("pio");
	f->mmio = iobus_create("mmio");
	assert_int_equal(pci_host_init(&f->host, f->pio, f->mmio, 64ULL << 30, fake_irq_bank_line,
				       &f->irq), 0);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	guest_mem_init_empty(&f->mem);
	assert_int_equal(guest_mem_add_region(&f->mem, 0, f->ram, RAM_SIZE), 0);
	f->loop = loop_create();
	assert_non_null(f->loop);
	return f;
}

/* Binds vdev to a virtio-pci function on the host bridge, BARs mapped. */
static void fx_bind(struct fx *f, struct virtio_dev *vdev)
{
	f->vp = calloc(1, sizeof(*f->vp));
	assert_non_null(f->vp);
	assert_int_equal(virtio_pci_init(f->vp, vdev, NULL, -1), 0);
	int slot = pci_host_add(&f->host, &f->vp->pci);
	assert_true(slot > 0);
	f->slot = (unsigned)slot;
	f->bar0 = pci_bar_address(&f->vp->pci, 0);
	f->bar1 = pci_bar_address(&f->vp->pci, 1);
	/* What Linux's pci_enable_device does. */
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_true(f->vp->pci.bars[0].mapped);
}

static int setup(void **state)
{
	struct fx *f = fx_create();
	for (unsigned i = 0; i < CONFIG_SIZE; i++)
		f->config[i] = (uint8_t)(0x10 + i);
	virtio_dev_init(&f->vdev, "vtest", VIRTIO_ID_RNG, NQ, QMAX, CONFIG_SIZE, DEV_FEATURES,
			&dev_ops, &f->mem, f->loop);
	fx_bind(f, &f->vdev);
	*state = f;
	return 0;
}

/* A virtio-console (receiveq 0, transmitq 1) on one end of a socket pair. */
static int setup_console(void **state)
{
	struct fx *f = fx_create();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->con_fds), 0);
	f->con = virtio_console_create(f->con_fds[0], f->con_fds[0], &f->mem, f->loop);
	assert_non_null(f->con);
	fx_bind(f, virtio_console_dev(f->con));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pci_host_destroy(&f->host);
	virtio_pci_destroy(f->vp);
	if (f->con) {
		virtio_console_destroy(f->con);
		close(f->con_fds[0]);
		close(f->con_fds[1]);
	} else {
		virtio_dev_destroy(&f->vdev);
	}
	free(f->vp);
	loop_destroy(f->loop);
	free(f->ram);
	iobus_destroy(f->pio);
	iobus_destroy(f->mmio);
	test_free(f);
	return 0;
}

/* ---- capabilities as Linux parses them --------------------------------------- */

struct vcap {
	unsigned pos;
	uint8_t len, bar;
	uint32_t offset, length, multiplier;
};

/* virtio_pci_find_capability(): the first vendor capability of a type. */
static bool find_vcap(struct fx *f, uint8_t type, struct vcap *c)
{
	unsigned pos = cfg_rd(f, PCI_CAPABILITY_LIST, 1);
	for (int ttl = 48; pos >= 0x40 && ttl; ttl--) {
		uint8_t id = (uint8_t)cfg_rd(f, pos, 1);
		if (id == PCI_CAP_ID_VNDR &&
		    cfg_rd(f, pos + offsetof(struct virtio_pci_cap, cfg_type), 1) == type) {
			c->pos = pos;
			c->len = (uint8_t)cfg_rd(f, pos + offsetof(struct virtio_pci_cap, cap_len), 1);
			c->bar = (uint8_t)cfg_rd(f, pos + offsetof(struct virtio_pci_cap, bar), 1);
			c->offset = cfg_rd(f, pos + offsetof(struct virtio_pci_cap, offset), 4);
			c->length = cfg_rd(f, pos + offsetof(struct virtio_pci_cap, length), 4);
			c->multiplier = cfg_rd(f, pos + offsetof(struct virtio_pci_notify_cap,
								 notify_off_multiplier), 4);
			return true;
		}
		pos = cfg_rd(f, pos + 1, 1);
	}
	return false;
}

/* vp_modern_map_capability()'s checks. */
static void check_vcap(struct fx *f, const struct vcap *c, uint32_t minlen, uint32_t align)
{
	assert_true(c->len >= sizeof(struct virtio_pci_cap));
	assert_int_equal(c->bar, 0);
	assert_true(c->length >= minlen);
	assert_int_equal(c->offset & (align - 1), 0);
	assert_true((uint64_t)c->offset + c->length <= f->vp->pci.bars[0].size);
}

static void test_capabilities(void **state)
{
	struct fx *f = *state;
	/* Modern-only ids (virtio 1.x §4.1.2.1). */
	assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_true(cfg_rd(f, PCI_REVISION_ID, 1) >= 1);
	assert_int_equal(cfg_rd(f, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_true(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);

	struct vcap common, isr, device, notify;
	assert_true(find_vcap(f, VIRTIO_PCI_CAP_COMMON_CFG, &common));
	assert_true(find_vcap(f, VIRTIO_PCI_CAP_ISR_CFG, &isr));
	assert_true(find_vcap(f, VIRTIO_PCI_CAP_DEVICE_CFG, &device));
	assert_true(find_vcap(f, VIRTIO_PCI_CAP_NOTIFY_CFG, &notify));
	check_vcap(f, &common, sizeof(struct virtio_pci_common_cfg), 4);
	check_vcap(f, &isr, 1, 1);
	check_vcap(f, &device, 0, 4);
	check_vcap(f, &notify, 2, 2);
	assert_int_equal(common.offset, VIRTIO_PCI_COMMON_OFF);
	assert_int_equal(isr.offset, VIRTIO_PCI_ISR_OFF);
	assert_int_equal(device.offset, VIRTIO_PCI_DEVICE_OFF);
	assert_int_equal(device.length, CONFIG_SIZE);
	assert_int_equal(notify.offset, VIRTIO_PCI_NOTIFY_OFF);
	assert_int_equal(notify.len, sizeof(struct virtio_pci_notify_cap));
	assert_int_equal(notify.multiplier, VIRTIO_PCI_NOTIFY_MULTIPLIER);
	/* No two structures overlap in BAR0. */
	const struct vcap *all[] = {&common, &isr, &device, &notify};
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			assert_true(all[i]->offset + all[i]->length <= all[j]->offset ||
				    all[j]->offset + all[j]->length <= all[i]->offset);

	/* vp_modern_map_vq_notify(): each queue's notify address (its
	 * queue_notify_off times the multiplier) plus 2 bytes fits. */
	for (unsigned q = 0; q < NQ; q++) {
		select_queue(f, q);
		uint32_t noff = (uint32_t)rd(f, COMMON(VIRTIO_PCI_COMMON_Q_NOFF), 2);
		assert_true((uint64_t)noff * notify.multiplier + 2 <= notify.length);
	}

	/* MSI-X: one vector per queue plus config, table in BAR1. */
	unsigned pos = cfg_rd(f, PCI_CAPABILITY_LIST, 1), msix = 0;
	for (int ttl = 48; pos >= 0x40 && ttl; ttl--) {
		if (cfg_rd(f, pos, 1) == PCI_CAP_ID_MSIX)
			msix = pos;
		pos = cfg_rd(f, pos + 1, 1);
	}
	assert_int_not_equal(msix, 0);
	assert_int_equal(cfg_rd(f, msix + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, NQ);
	uint32_t table = cfg_rd(f, msix + PCI_MSIX_TABLE, 4);
	uint32_t pba = cfg_rd(f, msix + PCI_MSIX_PBA, 4);
	assert_int_equal(table & PCI_MSIX_TABLE_BIR, 1);
	assert_int_equal(pba & PCI_MSIX_PBA_BIR, 1);
	assert_true((table & PCI_MSIX_TABLE_OFFSET) + (NQ + 1) * PCI_MSIX_ENTRY_SIZE <=
		    (pba & PCI_MSIX_PBA_OFFSET));
	assert_true((pba & PCI_MSIX_PBA_OFFSET) + 8 <= VIRTIO_PCI_MSIX_BAR_SIZE);

	/* BAR sizes as the guest measures them (decoding off meanwhile). */
	cfg_wr(f, PCI_COMMAND, 2, 0);
	uint32_t b0 = cfg_rd(f, PCI_BASE_ADDRESS_0, 4);
	cfg_wr(f, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, PCI_BASE_ADDRESS_0, 4), (uint32_t)~(VIRTIO_PCI_BAR0_SIZE - 1));
	cfg_wr(f, PCI_BASE_ADDRESS_0, 4, b0);
	uint32_t b1 = cfg_rd(f, PCI_BASE_ADDRESS_1, 4);
	cfg_wr(f, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, PCI_BASE_ADDRESS_1, 4),
			 (uint32_t)~(VIRTIO_PCI_MSIX_BAR_SIZE - 1));
	cfg_wr(f, PCI_BASE_ADDRESS_1, 4, b1);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2), NQ);
}

static void test_no_device_cfg_without_config(void **state)
{
	struct fx *f = *state;
	struct virtio_dev vdev;
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	assert_non_null(vp);
	virtio_dev_init(&vdev, "noconfig", VIRTIO_ID_RNG, 1, QMAX, 0, DEV_FEATURES, &bare_ops,
			&f->mem, f->loop);
	assert_int_equal(virtio_pci_init(vp, &vdev, NULL, -1), 0);
	unsigned pos = vp->pci.cfg[PCI_CAPABILITY_LIST], types = 0;
	for (int ttl = 48; pos >= 0x40 && ttl; ttl--) {
		if (vp->pci.cfg[pos] == PCI_CAP_ID_VNDR)
			types |= 1U << vp->pci.cfg[pos + offsetof(struct virtio_pci_cap, cfg_type)];
		pos = vp->pci.cfg[pos + 1];
	}
	assert_int_equal(types, 1U << VIRTIO_PCI_CAP_COMMON_CFG | 1U << VIRTIO_PCI_CAP_ISR_CFG |
					1U << VIRTIO_PCI_CAP_NOTIFY_CFG | 1U << VIRTIO_PCI_CAP_PCI_CFG);
	virtio_pci_destroy(vp);
	virtio_dev_destroy(&vdev);
	free(vp);
}

/* §4.1.4.9: the PCI configuration access capability reaches BAR0 through
 * config space alone: read num_queues, write and read back queue_select. */
static void test_pci_cfg_window(void **state)
{
	struct fx *f = *state;
	struct vcap w;
	assert_true(find_vcap(f, VIRTIO_PCI_CAP_PCI_CFG, &w));
	assert_int_equal(w.len, sizeof(struct virtio_pci_cfg_cap));
	unsigned bar = w.pos + offsetof(struct virtio_pci_cap, bar);
	unsigned off = w.pos + offsetof(struct virtio_pci_cap, offset);
	unsigned len = w.pos + offsetof(struct virtio_pci_cap, length);
	unsigned data = w.pos + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	cfg_wr(f, bar, 1, 0);
	cfg_wr(f, off, 4, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ);
	cfg_wr(f, len, 4, 2);
	assert_int_equal(cfg_rd(f, data, 4) & 0xffff, NQ);
	cfg_wr(f, off, 4, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_Q_SELECT);
	cfg_wr(f, data, 4, 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2), 1);
	/* A misaligned or oversized window does nothing. */
	cfg_wr(f, off, 4, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_Q_SELECT + 1);
	cfg_wr(f, data, 4, 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2), 1);
	cfg_wr(f, off, 4, VIRTIO_PCI_BAR0_SIZE);
	cfg_wr(f, len, 4, 4);
	cfg_wr(f, data, 4, 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2), 1);
}

/* A device with the most queues virtio_dev allows must bind (virtio-blk
 * accepts queues=64): one MSI-X vector per queue plus config would be 65,
 * more than MSIX_MAX_VECTORS; the transport must offer fewer vectors
 * (Linux then shares one among the queues), not fail. */
static void test_max_queues_bind(void **state)
{
	struct fx *f = *state;
	struct virtio_dev vdev;
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	assert_non_null(vp);
	virtio_dev_init(&vdev, "manyq", VIRTIO_ID_BLOCK, VIRTIO_MAX_QUEUES, QMAX, 0, DEV_FEATURES,
			&bare_ops, &f->mem, f->loop);
	assert_int_equal(vdev.nqueues, VIRTIO_MAX_QUEUES);
	int ret = virtio_pci_init(vp, &vdev, NULL, -1);
	if (ret != 0) {
		virtio_pci_destroy(vp);
		virtio_dev_destroy(&vdev);
		free(vp);
		fail_msg("virtio_pci_init with %d queues: %d", VIRTIO_MAX_QUEUES, ret);
	}
	assert_true(vp->msix.nvec >= 2 && vp->msix.nvec <= MSIX_MAX_VECTORS);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		assert_true(vdev.queues[q].kick_fd >= 0);
	virtio_pci_destroy(vp);
	virtio_dev_destroy(&vdev);
	free(vp);
}

/* ---- features ---------------------------------------------------------------- */

static void test_feature_negotiation(void **state)
{
	struct fx *f = *state;
	assert_int_equal(device_features(f), DEV_FEATURES);
	/* A select past the 64 bits reads 0. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 2);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_DF), 4), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4), 2);
	/* The device feature word is read-only. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_DF), 4, 0);
	assert_int_equal(device_features(f), DEV_FEATURES);

	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	negotiate(f, want);
	assert_int_equal(driver_features(f), want);
	assert_int_equal(f->vdev.acked_features, want);
	assert_true(virtio_has_feature(&f->vdev, VIRTIO_RING_F_EVENT_IDX));
	assert_false(virtio_has_feature(&f->vdev, 3));
	/* Driver features are frozen once FEATURES_OK sticks. */
	write_features(f, DEV_FEATURES);
	assert_int_equal(driver_features(f), want);
	/* A driver-feature select past 1 writes nothing and reads 0. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 7);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_GF), 4), 0);
	assert_int_equal(f->activates, 0);
}

static void test_features_ok_refused(void **state)
{
	struct fx *f = *state;
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	set_status(f, s);
	/* Legacy driver: no VERSION_1. */
	write_features(f, 1ULL << 3);
	set_status(f, s | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(status(f), s);
	/* A feature the device did not offer. */
	write_features(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 4));
	set_status(f, s | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(status(f), s);
	write_features(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 63));
	set_status(f, s | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(status(f), s);
	/* DRIVER_OK without FEATURES_OK does not start the device. */
	set_status(f, s | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activates, 0);
	assert_false(f->vdev.live);
	/* After a reset a proper subset is accepted (the upper half too). */
	set_status(f, 0);
	set_status(f, s);
	write_features(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40));
	set_status(f, s | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(status(f), s | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(f->vdev.acked_features, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40));
}

/* ---- queues -------------------------------------------------------------------- */

static void test_queue_registers(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2), NQ);
	/* NUMQ is read-only. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2, 60);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2), NQ);

	select_queue(f, 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2), 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_NOFF), 2), 1);
	/* Sizes: powers of two up to the maximum only. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 6);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, QMAX * 2);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 4);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 4);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 1);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 3);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 1);
	/* 64-bit addresses in two halves, each half independent. */
	wr64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x123456789abcdef0ULL);
	wr64(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 0x0000000100002000ULL);
	wr64(f, VIRTIO_PCI_COMMON_Q_USEDLO, 0xfffffffffffff000ULL);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0x123456789abcdef0ULL);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_AVAILLO), 0x0000000100002000ULL);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_USEDLO), 0xfffffffffffff000ULL);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_DESCHI), 4, 0);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0x9abcdef0ULL);
	assert_int_equal(f->vdev.queues[1].desc, 0x9abcdef0ULL);
	/* Only 1 enables. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 2);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 1);
	assert_true(f->vdev.queues[1].enabled);
	/* Queue 0 kept its defaults. */
	select_queue(f, 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);

	/* A queue that does not exist: size 0 (Linux stops there), writes
	 * go nowhere. */
	for (unsigned q = NQ; q < NQ + 3; q++) {
		select_queue(f, q == NQ + 2 ? 0xffff : q);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 4);
		wr64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x1000);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, 0);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
		assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
	}
}

static void test_msix_vector_numbers(void **state)
{
	struct fx *f = *state;
	unsigned nvec = NQ + 1;
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_NO_VECTOR);
	wr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2, 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2, nvec);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_NO_VECTOR);
	wr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2, nvec - 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), nvec - 1);
	wr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2, VIRTIO_NO_VECTOR);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_NO_VECTOR);

	for (unsigned q = 0; q < NQ; q++) {
		select_queue(f, q);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, q + 1);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), q + 1);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, 64);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, 0x7fff);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
		wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, q + 1);
	}
	select_queue(f, 0);
	assert_int_equal(f->vdev.queues[0].msix_vector, 1);
	assert_int_equal(f->vdev.queues[1].msix_vector, 2);
}

/* ---- DRIVER_OK ------------------------------------------------------------------- */

static void test_driver_ok_activates(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	assert_int_equal(f->activates, 1);
	assert_true(f->vdev.live);
	assert_int_equal(status(f), S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	for (unsigned q = 0; q < NQ; q++) {
		assert_int_equal(f->vdev.queues[q].vq.size, QMAX);
		assert_int_equal(f->vdev.queues[q].vq.desc_gpa, DESC_GPA + q * QSTRIDE);
		assert_ptr_equal(f->vdev.queues[q].vq.desc, f->ram + DESC_GPA + q * QSTRIDE);
	}
	/* Writing DRIVER_OK again does not activate twice. */
	set_status(f, S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activates, 1);
	/* Queue registers are frozen while live. */
	select_queue(f, 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 2);
	wr64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x8000);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), DESC_GPA);
	assert_int_equal(f->resets, 1); /* the probe's own reset only */
}

static void test_disabled_queue_not_validated(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	/* Queue 1 has garbage addresses but is never enabled. */
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	select_queue(f, 1);
	wr64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0xdead0000000ULL);
	set_status(f, S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activates, 1);
	assert_false(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void expect_needs_reset(struct fx *f)
{
	uint8_t s = status(f);
	assert_true(s & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(f->vdev.live);
	/* The driver hears about it through a config interrupt (INTx here:
	 * MSI-X is off). */
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), ISR_CONFIG);
	/* NEEDS_RESET sticks until a reset. */
	set_status(f, s & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	unsigned resets = f->resets;
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	assert_int_equal(f->resets, resets + 1);
}

static void bad_ring(struct fx *f, uint64_t desc, uint64_t avail, uint64_t used)
{
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	setup_queue(f, 1, QMAX, desc, avail, used);
	set_status(f, S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(f->activates, 0);
	expect_needs_reset(f);
}

static void test_ring_outside_ram(void **state)
{
	struct fx *f = *state;
	bad_ring(f, RAM_SIZE, AVAIL_GPA + QSTRIDE, USED_GPA + QSTRIDE);
}

static void test_ring_straddles_end_of_ram(void **state)
{
	struct fx *f = *state;
	/* The used ring starts in RAM but its last bytes are past the end. */
	bad_ring(f, DESC_GPA + QSTRIDE, AVAIL_GPA + QSTRIDE, RAM_SIZE - 16);
}

static void test_ring_wraps_address_space(void **state)
{
	struct fx *f = *state;
	bad_ring(f, DESC_GPA + QSTRIDE, 0xfffffffffffffff0ULL, USED_GPA + QSTRIDE);
}

static void test_ring_misaligned(void **state)
{
	struct fx *f = *state;
	bad_ring(f, DESC_GPA + QSTRIDE + 8, AVAIL_GPA + QSTRIDE, USED_GPA + QSTRIDE);
}

static void test_activate_failure(void **state)
{
	struct fx *f = *state;
	f->activate_ret = -EIO;
	bring_up(f);
	assert_int_equal(f->activates, 1);
	expect_needs_reset(f);
}

/* ---- reset --------------------------------------------------------------------- */

static void test_reset_clears_everything(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	static const uint16_t qvec[NQ] = {1, 2};
	set_vectors(f, 0, qvec);
	queues_and_go(f);
	assert_int_equal(f->activates, 1);
	assert_int_equal(f->vdev.queues[1].msix_vector, 2);
	f->vp->isr = ISR_QUEUE;

	unsigned resets = f->resets;
	set_status(f, 0);
	assert_int_equal(f->resets, resets + 1);
	assert_int_equal(status(f), 0);
	assert_false(f->vdev.live);
	assert_int_equal(f->vdev.acked_features, 0);
	assert_int_equal(driver_features(f), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_NO_VECTOR);
	for (unsigned q = 0; q < NQ; q++) {
		select_queue(f, q);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
		assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
		assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
		assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_AVAILLO), 0);
		assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_USEDLO), 0);
		assert_null(f->vdev.queues[q].vq.desc);
	}
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
	/* And the device comes up again. */
	bring_up(f);
	assert_int_equal(f->activates, 2);
	assert_true(f->vdev.live);
}

/* ---- interrupts -------------------------------------------------------------- */

static void test_isr_and_intx(void **state)
{
	struct fx *f = *state;
	unsigned gsi = f->vp->pci.intx.gsi;
	assert_int_equal(gsi, pci_intx_gsi(f->slot, 0));
	bring_up(f);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
	assert_false(f->irq.level[gsi]);

	f->vdev.transport->signal_queue(&f->vdev, 0);
	assert_true(f->irq.level[gsi]);
	assert_true(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Reading the ISR returns and clears it, and lowers the line. */
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), ISR_QUEUE);
	assert_false(f->irq.level[gsi]);
	assert_false(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);

	/* Queue and config interrupts accumulate. */
	f->vdev.transport->signal_queue(&f->vdev, 1);
	virtio_config_changed(&f->vdev);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1), 1);
	assert_true(f->irq.level[gsi]);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1),
			 ISR_QUEUE | ISR_CONFIG);
	assert_false(f->irq.level[gsi]);

	/* INTx disabled in the command register: ISR still set, line low. */
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	unsigned rises = f->irq.rises;
	f->vdev.transport->signal_queue(&f->vdev, 0);
	assert_false(f->irq.level[gsi]);
	assert_int_equal(f->irq.rises, rises);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), ISR_QUEUE);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);

	/* A reset drops a pending interrupt. */
	f->vdev.transport->signal_queue(&f->vdev, 0);
	assert_true(f->irq.level[gsi]);
	set_status(f, 0);
	assert_false(f->irq.level[gsi]);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
}

static void test_msix_interrupts(void **state)
{
	struct fx *f = *state;
	struct virtio_pci *vp = f->vp;
	unsigned gsi = vp->pci.intx.gsi;
	/* No KVM: give each vector an eventfd to count deliveries. */
	for (unsigned v = 0; v < vp->msix.nvec; v++) {
		vp->msix.eventfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(vp->msix.eventfd[v] >= 0);
	}
	/* Enable MSI-X through config space, unmask every vector through BAR1
	 * as Linux does. */
	cfg_wr(f, (unsigned)vp->msix.cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_enabled(&vp->msix));
	assert_true(vp->pci.bars[1].mapped);
	for (unsigned v = 0; v < vp->msix.nvec; v++) {
		uint8_t z[4] = {0};
		assert_true(iobus_write(f->mmio, f->bar1 + v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, z, 4));
	}
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	static const uint16_t qvec[NQ] = {1, VIRTIO_NO_VECTOR};
	set_vectors(f, 0, qvec);
	queues_and_go(f);
	assert_true(f->vdev.live);

	f->vdev.transport->signal_queue(&f->vdev, 0);
	uint64_t n = 0;
	assert_int_equal(read(vp->msix.eventfd[1], &n, 8), 8);
	assert_int_equal(n, 1);
	assert_int_equal(vp->msix.delivered, 1);
	assert_false(f->irq.level[gsi]);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
	/* A queue with no vector: no interrupt at all. */
	f->vdev.transport->signal_queue(&f->vdev, 1);
	assert_int_equal(vp->msix.delivered, 1);
	assert_false(f->irq.level[gsi]);
	/* Config changes go to the config vector. */
	virtio_config_changed(&f->vdev);
	assert_int_equal(read(vp->msix.eventfd[0], &n, 8), 8);
	assert_int_equal(vp->msix.delivered, 2);
	/* The MSI-X table reads back through BAR1. */
	uint8_t b[4];
	assert_true(iobus_read(f->mmio, f->bar1 + 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, b, 4));
	assert_int_equal(iobus_load_le(b, 4), 0);
	assert_true(iobus_read(f->mmio, f->bar1 + 0x800, b, 4)); /* PBA */
	assert_int_equal(iobus_load_le(b, 4), 0);

	/* Vectors set before DRIVER_OK moved nothing that ran. Once live, a
	 * queue's new vector and MSI-X turned off and on again are each told
	 * to the device (whose vhost signals the vector's irqfd itself);
	 * rewriting the same vector is not. */
	assert_int_equal(f->irq_moves, 0);
	select_queue(f, 1);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, 2);
	assert_int_equal(f->irq_moves, 1);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, 2);
	assert_int_equal(f->irq_moves, 1);
	f->vdev.transport->signal_queue(&f->vdev, 1);
	assert_int_equal(read(vp->msix.eventfd[2], &n, 8), 8);
	cfg_wr(f, (unsigned)vp->msix.cap + PCI_MSIX_FLAGS, 2, 0);
	assert_int_equal(f->irq_moves, 2);
	cfg_wr(f, (unsigned)vp->msix.cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(f->irq_moves, 3);
	cfg_wr(f, (unsigned)vp->msix.cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(f->irq_moves, 3);
}

/* ---- device config --------------------------------------------------------------- */

static void test_device_config_bounds(void **state)
{
	struct fx *f = *state;
	uint64_t dev = VIRTIO_PCI_DEVICE_OFF;
	assert_int_equal(rd(f, dev, 4), 0x13121110);
	assert_int_equal(f->last_cfg_off, 0);
	assert_int_equal(f->last_cfg_len, 4);
	assert_int_equal(rd(f, dev + 4, 4), 0x17161514);
	assert_int_equal(rd(f, dev + 7, 1), 0x17);
	assert_int_equal(rd(f, dev + 6, 2), 0x1716);
	assert_int_equal(rd(f, dev, 8), 0x1716151413121110ULL);
	assert_int_equal(f->config_reads, 5);
	/* Past config_size, or straddling it: the device is not asked. */
	assert_int_equal(rd(f, dev + 6, 4), 0);
	assert_int_equal(rd(f, dev + 8, 1), 0);
	assert_int_equal(rd(f, dev + 4, 8), 0);
	assert_int_equal(rd(f, VIRTIO_PCI_NOTIFY_OFF - 4, 4), 0);
	assert_int_equal(f->config_reads, 5);

	wr(f, dev + 2, 2, 0xbeef);
	assert_int_equal(f->config_writes, 1);
	assert_int_equal(f->last_cfg_off, 2);
	assert_int_equal(f->last_cfg_len, 2);
	assert_int_equal(f->last_cfg_val, 0xbeef);
	wr(f, dev + 7, 2, 0xffff);
	wr(f, dev + 8, 4, 0xffffffff);
	wr(f, dev + 0x800, 4, 0xffffffff);
	assert_int_equal(f->config_writes, 1);

	/* Between the ISR and the device config: nothing. */
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF + 4, 4), 0);
	assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF + 0x800, 4), 0);
}

/* ---- common config access widths ------------------------------------------------ */

static void test_common_bad_accesses(void **state)
{
	struct fx *f = *state;
	/* A field read with the wrong width or offset reads 0. */
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 4), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ) + 1, 1), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_DF) + 2, 2), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_DF), 8), 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 2), 0);
	assert_int_equal(rd(f, COMMON(0x38), 4), 0);
	assert_int_equal(rd(f, COMMON(0x3c), 2), 0);
	assert_int_equal(rd(f, COMMON(0xffc), 4), 0);
	/* Writes with the wrong width are dropped. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 4, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	assert_int_equal(status(f), 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 4, 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2), 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_DESCLO), 8, 0x1000);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE) + 1, 1, 2);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	/* Read-only fields ignore writes. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1, 9);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1), 0);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_NOFF), 2, 9);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_NOFF), 2), 0);
	assert_int_equal(f->activates + f->resets, 0);
}

/* ---- kicks ------------------------------------------------------------------------ */

static uint64_t kick_count(struct fx *f, unsigned q)
{
	uint64_t n = 0;
	if (read(f->vp->vdev->queues[q].kick_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void test_notify_writes_kick(void **state)
{
	struct fx *f = *state;
	for (unsigned q = 0; q < NQ; q++)
		assert_true(f->vdev.queues[q].kick_fd >= 0);
	assert_int_not_equal(f->vdev.queues[0].kick_fd, f->vdev.queues[1].kick_fd);
	bring_up(f);
	/* vm_fd -1: no ioeventfd, so the BAR write path does the kick. Linux
	 * writes the queue index as a 16-bit value at its notify address. */
	wr(f, VIRTIO_PCI_NOTIFY_OFF + 1 * VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, 1);
	assert_int_equal(kick_count(f, 1), 1);
	assert_int_equal(kick_count(f, 0), 0);
	wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
	wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
	assert_int_equal(kick_count(f, 0), 2);
	assert_int_equal(kick_count(f, 1), 0);
	/* The address selects the queue, not the value written. */
	wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 1);
	assert_int_equal(kick_count(f, 0), 1);
	assert_int_equal(kick_count(f, 1), 0);
	/* Notify addresses of queues that do not exist, and the far end of
	 * the BAR: ignored. */
	wr(f, VIRTIO_PCI_NOTIFY_OFF + NQ * VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, NQ);
	wr(f, VIRTIO_PCI_BAR0_SIZE - 2, 2, 0xffff);
	wr(f, VIRTIO_PCI_BAR0_SIZE - 8, 8, UINT64_MAX);
	assert_int_equal(kick_count(f, 0), 0);
	assert_int_equal(kick_count(f, 1), 0);
	/* Reads of the notify area return 0. */
	assert_int_equal(rd(f, VIRTIO_PCI_NOTIFY_OFF, 2), 0);
	assert_int_equal(f->notifies, 0); /* the loop has not run */
}

static void on_timeout(void *opaque, uint32_t events)
{
	loop_stop(opaque);
}

static void test_kick_reaches_device(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	/* A safety net: the loop stops after 3 s even if no kick arrives. */
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(tfd >= 0);
	struct itimerspec its = {.it_value = {.tv_sec = 3}};
	assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
	assert_int_equal(loop_add_fd(f->loop, tfd, EPOLLIN, on_timeout, f->loop), 0);

	f->stop_on_notify = true;
	wr(f, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, 1);
	assert_int_equal(loop_run(f->loop), 0);
	assert_int_equal(f->notifies, 1);
	assert_int_equal(f->last_q, 1);

	/* After a reset kicks no longer reach the device. */
	set_status(f, 0);
	wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
	its.it_value = (struct timespec){.tv_nsec = 100 * 1000 * 1000};
	assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
	assert_int_equal(loop_run(f->loop), 0);
	assert_int_equal(f->notifies, 1);
	assert_int_equal(kick_count(f, 0), 0); /* the loop drained it */

	loop_del_fd(f->loop, tfd);
	close(tfd);
}

/* A device that went NEEDS_RESET at DRIVER_OK ignores kicks, even on a
 * queue that was enabled with good rings. */
static void test_kick_ignored_when_broken(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	setup_queue(f, 1, QMAX, RAM_SIZE, AVAIL_GPA + QSTRIDE, USED_GPA + QSTRIDE);
	set_status(f, S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(f->vdev.queues[0].enabled);

	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(tfd >= 0);
	struct itimerspec its = {.it_value = {.tv_nsec = 100 * 1000 * 1000}};
	assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
	assert_int_equal(loop_add_fd(f->loop, tfd, EPOLLIN, on_timeout, f->loop), 0);
	f->stop_on_notify = true;
	wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
	assert_int_equal(loop_run(f->loop), 0);
	assert_int_equal(f->notifies, 0);
	assert_int_equal(kick_count(f, 0), 0); /* consumed by the loop */
	loop_del_fd(f->loop, tfd);
	close(tfd);
}

/* ---- a hostile driver's status writes ---------------------------------------- */

#define S_LIVE (S_ALL_BUT_OK | VIRTIO_CONFIG_S_DRIVER_OK)

/* §2.1.2: the driver cannot clear a status bit; only 0 resets. A write that
 * tries is refused whole, so the device stays live and DRIVER_OK written
 * again cannot activate it twice (virtio-blk's in-flight requests would
 * complete onto a reset ring; vhost-user-blk would start vhost twice). */
static void test_status_bits_cannot_be_cleared(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	set_status(f, S_ALL_BUT_OK);
	assert_int_equal(status(f), S_LIVE);
	assert_true(f->vdev.live);
	set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(f, VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(status(f), S_LIVE);
	set_status(f, S_LIVE);
	assert_int_equal(f->activates, 1);
	/* NEEDS_RESET is the device's: the driver cannot set it. */
	set_status(f, S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(status(f), S_LIVE);
	assert_true(f->vdev.live);
	/* Setting a bit is allowed, clearing it again is not. */
	set_status(f, S_LIVE | VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(status(f), S_LIVE | VIRTIO_CONFIG_S_FAILED);
	set_status(f, S_LIVE);
	assert_int_equal(status(f), S_LIVE | VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(f->activates, 1);
	assert_int_equal(f->resets, 1); /* the probe's own */
	/* A reset works from any state, and the device comes up again. */
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	assert_int_equal(f->resets, 2);
	assert_false(f->vdev.live);
	bring_up(f);
	assert_int_equal(f->activates, 2);
}

/* The same from a device that went NEEDS_RESET at DRIVER_OK: DRIVER_OK
 * cleared and set again must not retry the activation. */
static void test_broken_device_stays_broken(void **state)
{
	struct fx *f = *state;
	f->activate_ret = -EIO;
	bring_up(f);
	assert_int_equal(f->activates, 1);
	set_status(f, S_ALL_BUT_OK);
	f->activate_ret = 0;
	set_status(f, S_LIVE);
	assert_int_equal(f->activates, 1);
	assert_false(f->vdev.live);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* A queue left disabled at DRIVER_OK stays so: a driver that clears
 * DRIVER_OK, enables it and kicks it must not get a ring nobody validated
 * run (the dummy asserts its rings exist). */
static void test_no_queue_enabled_after_driver_ok(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_LIVE);
	assert_true(f->vdev.live);
	set_status(f, S_ALL_BUT_OK);
	setup_queue(f, 1, QMAX, DESC_GPA + QSTRIDE, AVAIL_GPA + QSTRIDE, USED_GPA + QSTRIDE);
	wr(f, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, 1);
	loop_run_until(f->loop, NULL, NULL, 50);
	assert_int_equal(f->notifies, 0);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
	set_status(f, S_LIVE);
	assert_int_equal(f->activates, 1);
	/* Should any path enable a queue behind DRIVER_OK's back, its kicks
	 * still do not reach the device: only validated rings run. */
	f->vdev.queues[1].enabled = true;
	wr(f, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, 1);
	loop_run_until(f->loop, NULL, NULL, 50);
	assert_int_equal(f->notifies, 0);
	/* The validated queue still works. */
	wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
	loop_run_until(f->loop, NULL, NULL, 50);
	assert_int_equal(f->notifies, 1);
}

/* §4.1.4.3.2: the driver configures a queue before enabling it. Once
 * enabled, its size and rings are fixed until a reset. */
static void test_enabled_queue_frozen(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 2);
	wr64(f, VIRTIO_PCI_COMMON_Q_DESCLO, DESC_GPA + QSTRIDE);
	wr64(f, VIRTIO_PCI_COMMON_Q_AVAILLO, AVAIL_GPA + QSTRIDE);
	wr64(f, VIRTIO_PCI_COMMON_Q_USEDLO, USED_GPA + QSTRIDE);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), QMAX);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_DESCLO), DESC_GPA);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_AVAILLO), AVAIL_GPA);
	assert_int_equal(rd64(f, VIRTIO_PCI_COMMON_Q_USEDLO), USED_GPA);
	/* Its vector is not a ring: it may move. */
	wr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2, 1);
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), 1);
	set_status(f, S_LIVE);
	assert_int_equal(f->vdev.queues[0].vq.desc_gpa, DESC_GPA);
	assert_int_equal(f->vdev.queues[0].vq.size, QMAX);
}

/* The first report's crash, on a real device: virtio-console live with its
 * receiveq only; the driver clears DRIVER_OK, enables the transmitq and
 * kicks it. tx_process must never look at a ring that was not validated
 * (it read through a NULL avail ring). */
static void test_console_clear_driver_ok_and_kick(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = virtio_console_dev(f->con);
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_LIVE);
	assert_true(vdev->live);
	set_status(f, S_ALL_BUT_OK);
	setup_queue(f, 1, QMAX, DESC_GPA + QSTRIDE, AVAIL_GPA + QSTRIDE, USED_GPA + QSTRIDE);
	wr(f, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, 1);
	loop_run_until(f->loop, NULL, NULL, 50);
	assert_true(vdev->live);
	assert_false(vdev->queues[1].enabled);
	set_status(f, 0);
	assert_int_equal(status(f), 0);
}

/* In a tap test's child, which must not return into cmocka. */
#define CHECK(c) ((c) ? (void)0 : (fprintf(stderr, "tap test: line %d: %s\n", __LINE__, #c), _exit(1)))

/* The same on virtio-net with two queue pairs (a tap: root only), live
 * with pair 0 alone: the driver clears DRIVER_OK, enables the control queue
 * and pair 1's transmitq, and kicks them. Neither may run: the control
 * queue's budget of a never-validated size 0 re-kicked it forever, the
 * transmitq wrote through a NULL used ring. */
static void net_child(void)
{
	struct fx *f = fx_create();
	struct virtio_net_options o = {.queue_pairs = 2};
	o.backend.kind = NET_TAP;
	o.backend.vnet_hdr = true;
	snprintf(o.backend.ifname, sizeof(o.backend.ifname), "vpci%d", (int)getpid() % 10000);
	struct virtio_net *n = virtio_net_create(&o, &f->mem, f->loop);
	CHECK(n);
	struct virtio_dev *vdev = virtio_net_dev(n);
	fx_bind(f, vdev);
	negotiate(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_CTRL_VQ) |
			     (1ULL << VIRTIO_NET_F_MQ));
	setup_queue(f, 0, QMAX, DESC_GPA, AVAIL_GPA, USED_GPA);
	setup_queue(f, 1, QMAX, DESC_GPA + QSTRIDE, AVAIL_GPA + QSTRIDE, USED_GPA + QSTRIDE);
	set_status(f, S_LIVE);
	CHECK(vdev->live);
	set_status(f, S_ALL_BUT_OK);
	unsigned ctrlq = 4, txq1 = 3;
	setup_queue(f, ctrlq, QMAX, DESC_GPA + 2 * QSTRIDE, AVAIL_GPA + 2 * QSTRIDE,
		    USED_GPA + 2 * QSTRIDE);
	setup_queue(f, txq1, QMAX, DESC_GPA + 3 * QSTRIDE, AVAIL_GPA + 3 * QSTRIDE,
		    USED_GPA + 3 * QSTRIDE);
	wr(f, VIRTIO_PCI_NOTIFY_OFF + ctrlq * VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, ctrlq);
	loop_run_until(f->loop, NULL, NULL, 50);
	CHECK(kick_count(f, ctrlq) == 0); /* no self-kick pending */
	wr(f, VIRTIO_PCI_NOTIFY_OFF + txq1 * VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, txq1);
	loop_run_until(f->loop, NULL, NULL, 50);
	CHECK(vdev->live && !vdev->queues[ctrlq].enabled && !vdev->queues[txq1].enabled);
	_exit(0);
}

static void test_net_clear_driver_ok_and_kick(void **state)
{
	tap_ns_test(net_child, "virtio-net DRIVER_OK cleared");
}

/* ---- the BAR follows the guest ------------------------------------------------ */

static void test_bar0_moves(void **state)
{
	struct fx *f = *state;
	uint64_t old = f->bar0;
	cfg_wr(f, PCI_BASE_ADDRESS_0, 4, 0xd0000000);
	uint8_t b[4];
	assert_false(iobus_read(f->mmio, old + COMMON(VIRTIO_PCI_COMMON_NUMQ), b, 2));
	f->bar0 = 0xd0000000;
	assert_int_equal(rd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2), NQ);
	cfg_wr(f, PCI_COMMAND, 2, 0);
	assert_false(iobus_read(f->mmio, f->bar0 + COMMON(VIRTIO_PCI_COMMON_NUMQ), b, 2));
	assert_false(f->vp->pci.bars[0].mapped);
	assert_false(f->vp->pci.bars[1].mapped);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_capabilities),
		T(test_pci_cfg_window),
		T(test_no_device_cfg_without_config),
		T(test_max_queues_bind),
		T(test_feature_negotiation),
		T(test_features_ok_refused),
		T(test_queue_registers),
		T(test_msix_vector_numbers),
		T(test_driver_ok_activates),
		T(test_disabled_queue_not_validated),
		T(test_ring_outside_ram),
		T(test_ring_straddles_end_of_ram),
		T(test_ring_wraps_address_space),
		T(test_ring_misaligned),
		T(test_activate_failure),
		T(test_reset_clears_everything),
		T(test_isr_and_intx),
		T(test_msix_interrupts),
		T(test_device_config_bounds),
		T(test_common_bad_accesses),
		T(test_notify_writes_kick),
		T(test_kick_reaches_device),
		T(test_kick_ignored_when_broken),
		T(test_bar0_moves),
		T(test_status_bits_cannot_be_cleared),
		T(test_broken_device_stays_broken),
		T(test_no_queue_enabled_after_driver_ok),
		T(test_enabled_queue_frozen),
		cmocka_unit_test_setup_teardown(test_console_clear_driver_ok_and_kick, setup_console,
						teardown),
		cmocka_unit_test(test_net_clear_driver_ok_and_kick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
