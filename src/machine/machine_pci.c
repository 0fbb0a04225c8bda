/* The machine's PCI side: the host bridge, and the devices on it that the
 * command line asks for (the device table's create functions): a model on
 * its virtio-pci transport, an emulated function (NVMe, e1000), or a host
 * function passed through. */
#include "machine/machine_pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/irq.h"
#include "core/log.h"
#include "devices/e1000.h"
#include "devices/ide.h"
#include "devices/nvme.h"
#include "vfio/sriov.h"
#include "vfio/vfio_pci.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vhost_user_blk.h"
#include "virtio/virtio_pci.h"

static struct irq_line intx_line(void *opaque, unsigned gsi)
{
	const struct vm *vm = opaque;
	return irq_line_kvm(&vm->vm_fd, gsi);
}

/* The 64-bit BAR window starts at the first 1 GiB boundary above RAM. */
uint64_t machine_mmio64_base(const struct guest_mem *mem)
{
	uint64_t top = GUEST_MEM_4G;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		uint64_t end = mem->regions[i].gpa + mem->regions[i].size;
		if (end > top)
			top = end;
	}
	return (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
}

int machine_pci_create(struct machine *m)
{
	vfio_container_init(&m->vfio, &m->vm.mem, m->vm.vm_fd);
	m->vfio_up = true;
	int ret = pci_host_init(&m->pci, m->vm.pio, m->vm.mmio, machine_mmio64_base(&m->vm.mem),
				intx_line, &m->vm);
	m->pci_up = true;
	return ret;
}

void machine_pci_release(struct machine *m)
{
	if (m->pci_up)
		pci_host_destroy(&m->pci);
	m->pci_up = false;
}

void machine_pci_destroy(struct machine *m)
{
	machine_pci_release(m);
	if (m->vfio_up)
		vfio_container_destroy(&m->vfio);
	m->vfio_up = false;
}

/* Names the device and puts its function on the bus, recording the slot
 * (vm.info's PCI address); on failure the device is destroyed (it is on no
 * bus). */
static int plug(const struct device_env *env, struct pci_dev *pci, struct device *dev,
		struct device **out)
{
	snprintf(dev->id, sizeof(dev->id), "%s", env->id);
	int slot = pci_host_add(&env->m->pci, pci);
	if (slot < 0) {
		log_error("%s: %s", env->id, slot == -ENOSPC ? "no free PCI slot" : strerror(-slot));
		device_destroy(dev);
		return slot;
	}
	if (env->pci_slot)
		*env->pci_slot = slot;
	*out = dev;
	return 0;
}

/* A virtio model on a transport of its own; the device owns both. */
static int plug_virtio(const struct device_env *env, struct virtio_dev *vdev, struct device **out)
{
	if (!vdev)
		return -EINVAL; /* the model said why */
	struct machine *m = env->m;
	struct virtio_pci *vp = virtio_pci_create(vdev, m->vm.routing, m->vm.vm_fd);
	if (!vp) {
		if (vdev->ops->destroy)
			vdev->ops->destroy(vdev);
		return -EINVAL;
	}
	return plug(env, &vp->pci, virtio_pci_device(vp), out);
}

void machine_quiesce_virtio(struct device *dev)
{
	virtio_pci_quiesce(container_of(dev, struct virtio_pci, dev));
}

int machine_create_virtio_blk(const struct device_env *env, struct device **dev)
{
	const struct disk_config *d = env->options;
	struct machine *m = env->m;
	struct virtio_blk_options o = {
		.path = d->path, .readonly = d->readonly, .serial = d->serial,
		.cache = d->cache, .engine = d->engine,
		.num_queues = d->queues ? d->queues : m->cfg->cpus,
		.no_merge = d->no_merge,
	};
	struct virtio_blk *b = virtio_blk_create(&o, &m->vm.mem, m->vm.loop);
	return plug_virtio(env, b ? virtio_blk_dev(b) : NULL, dev);
}

int machine_create_vhost_user_blk(const struct device_env *env, struct device **dev)
{
	const struct disk_config *d = env->options;
	struct machine *m = env->m;
	struct vhost_user_blk *b = vhost_user_blk_create(d->path, d->reconnect_s, &m->vm.mem,
							   m->vm.loop);
	return plug_virtio(env, b ? vhost_user_blk_dev(b) : NULL, dev);
}

int machine_create_nvme(const struct device_env *env, struct device **dev)
{
	const struct disk_config *d = env->options;
	struct machine *m = env->m;
	struct nvme_options no = {
		.path = d->path, .readonly = d->readonly, .serial = d->serial,
		.cache = d->cache, .engine = d->engine, .name = env->id,
		.num_queues = d->queues ? d->queues : m->cfg->cpus,
		.no_shadow_doorbells = d->no_shadow_doorbells,
	};
	struct nvme_ctrl *n = nvme_create(&no, &m->vm.mem, m->vm.loop, m->vm.routing, m->vm.vm_fd);
	return n ? plug(env, nvme_pci(n), nvme_device(n), dev) : -EINVAL;
}

/* The IDE drives' positions (channel * 2 + unit): the CD-ROM is the
 * secondary master, as QEMU's -cdrom; disks fill the rest in command-line
 * order. */
#define IDE_CDROM_POS 2

int machine_ide_layout(const struct vm_config *cfg, int pos[CONFIG_MAX_DISKS], int *cdrom)
{
	bool taken[IDE_DRIVES] = {false};
	*cdrom = -1;
	if (cfg->cdrom) {
		*cdrom = IDE_CDROM_POS;
		taken[IDE_CDROM_POS] = true;
	}
	unsigned next = 0;
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		pos[i] = -1;
		if (d->vhost_user || d->model != DISK_IDE)
			continue;
		while (next < IDE_DRIVES && taken[next])
			next++;
		if (next == IDE_DRIVES) {
			log_error("--disk %s,if=ide: the IDE controller has %d positions%s, all taken",
				  d->path, IDE_DRIVES, cfg->cdrom ? " (--cdrom holds one)" : "");
			return -ENOSPC;
		}
		taken[next] = true;
		pos[i] = (int)next;
	}
	return 0;
}

int machine_create_ide(const struct device_env *env, struct device **dev)
{
	struct machine *m = env->m;
	const struct vm_config *cfg = m->cfg;
	if (env->index > 0)
		return 0; /* the controller exists: it took every IDE drive */
	struct ide_options o = {
		.name = env->id, .pio = m->vm.pio,
		.irq = {irq_line_kvm(&m->vm.vm_fd, IDE_IRQ_PRIMARY),
			irq_line_kvm(&m->vm.vm_fd, IDE_IRQ_SECONDARY)},
	};
	int pos[CONFIG_MAX_DISKS], cdrom;
	if (machine_ide_layout(cfg, pos, &cdrom) < 0)
		return -EINVAL;
	if (cdrom >= 0)
		o.drive[cdrom] = (struct ide_drive_options){.path = cfg->cdrom, .cdrom = true,
							    .readonly = true};
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		if (pos[i] >= 0)
			o.drive[pos[i]] = (struct ide_drive_options){
				.path = d->path, .readonly = d->readonly, .serial = d->serial,
				.cache = d->cache, .engine = d->engine};
	}
	struct ide_ctrl *c = ide_create(&o, &m->vm.mem, m->vm.loop);
	return c ? plug(env, ide_pci(c), ide_device(c), dev) : -EINVAL;
}

/* The NIC's address: its own, or QEMU's default OUI with one address per
 * NIC (the --net index, whatever the model). */
static void nic_mac(const struct nic_config *n, const struct vm_config *cfg, uint8_t mac[6])
{
	memcpy(mac, n->mac, 6);
	if (!n->mac_set) {
		static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
		memcpy(mac, base, 6);
		mac[5] = (uint8_t)(mac[5] + (unsigned)(n - cfg->nics));
	}
}

int machine_create_e1000(const struct device_env *env, struct device **dev)
{
	const struct nic_config *n = env->options;
	struct machine *m = env->m;
	/* The e1000 sets the backend's framing itself (e1000_create). */
	struct e1000_options eo = {.backend = n->backend, .id = env->id,
				   .coalesced = &m->vm.coalesced};
	nic_mac(n, m->cfg, eo.mac);
	struct e1000 *e = e1000_create(&eo, &m->vm.mem, m->vm.loop);
	return e ? plug(env, e1000_pci(e), e1000_device(e), dev) : -EINVAL;
}

int machine_create_virtio_net(const struct device_env *env, struct device **dev)
{
	const struct nic_config *n = env->options;
	struct machine *m = env->m;
	struct virtio_net_options o = {.backend = n->backend, .mac_set = true,
				       .queue_pairs = n->queues, .vhost = n->vhost};
	/* A tap carries virtio-net headers, so checksum and TSO offloads can
	 * pass straight through to the host. */
	if (o.backend.kind == NET_TAP)
		o.backend.vnet_hdr = true;
	nic_mac(n, m->cfg, o.mac);
	struct virtio_net *nd = virtio_net_create(&o, &m->vm.mem, m->vm.loop);
	return plug_virtio(env, nd ? virtio_net_dev(nd) : NULL, dev);
}

int machine_create_virtio_console(const struct device_env *env, struct device **dev)
{
	const struct console_config *c = env->options;
	struct machine *m = env->m;
	struct virtio_console *vc =
		c->socket[0] ? virtio_console_create_socket(c->socket, &m->vm.mem, m->vm.loop)
			     : virtio_console_create_term(m->term, &m->vm.mem, m->vm.loop);
	return plug_virtio(env, vc ? virtio_console_dev(vc) : NULL, dev);
}

int machine_create_virtio_rng(const struct device_env *env, struct device **dev)
{
	struct machine *m = env->m;
	struct virtio_rng *r = virtio_rng_create(&m->vm.mem, m->vm.loop);
	if (!r)
		log_error("%s: out of memory", env->id);
	return plug_virtio(env, r ? virtio_rng_dev(r) : NULL, dev);
}

/* A host function passed through: vf=N resolves VF N of the PF and binds
 * it to vfio-pci for this run; the device's destroy hands it back. */
int machine_create_vfio_pci(const struct device_env *env, struct device **dev)
{
	const struct vfio_config *d = env->options;
	struct machine *m = env->m;
	char bdf[sizeof(d->bdf)];
	memcpy(bdf, d->bdf, sizeof(bdf));
	if (d->vf_set) {
		char vf[PCI_BDF_LEN];
		if (sriov_vf_bdf(d->bdf, d->vf, vf) < 0 || sriov_bind_vfio(vf) < 0)
			return -ENODEV;
		snprintf(bdf, sizeof(bdf), "%s", vf);
	}
	struct vfio_pci *v = vfio_pci_create(bdf, &m->vfio, &m->vm);
	if (!v) {
		if (d->vf_set)
			sriov_unbind_vfio(bdf);
		return -ENODEV;
	}
	if (d->vf_set)
		vfio_pci_give_back(v);
	int ret = plug(env, vfio_pci_dev(v), vfio_pci_device(v), dev);
	return ret < 0 ? ret : vfio_pci_connect_intx(v);
}
