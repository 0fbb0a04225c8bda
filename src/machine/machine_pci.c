/* The machine's PCI side: the host bridge and the virtio devices the
 * command line asks for, each a model plus its virtio-pci transport. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/irq.h"
#include "devices/e1000.h"
#include "devices/nvme.h"
#include "core/log.h"
#include "vfio/sriov.h"
#include "vfio/vfio_pci.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vhost_user_blk.h"
#include "virtio/virtio_pci.h"
#include "machine/machine.h"
#include "machine/machine_pci.h"

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

static int plug(struct machine *m, struct virtio_dev *vdev, void *model, void (*destroy)(void *))
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	if (!vp) {
		destroy(model);
		return -ENOMEM;
	}
	int ret = virtio_pci_init(vp, vdev, m->vm.routing, m->vm.vm_fd);
	if (ret == 0) {
		ret = pci_host_add(&m->pci, &vp->pci);
		if (ret == -ENOSPC)
			log_error("%s: no free PCI slot", vdev->name);
	}
	m->virtio[m->nvirtio++] = (struct machine_virtio){vp, model, destroy};
	return ret < 0 ? ret : 0;
}

/* Adds an emulated device's function to the bus; it is destroyed with the
 * machine either way. */
static int plug_emulated(struct machine *m, struct pci_dev *pci, void *model,
			 void (*destroy)(void *))
{
	m->emulated[m->nemulated++] = (struct machine_emulated){model, destroy};
	int ret = pci_host_add(&m->pci, pci);
	if (ret == -ENOSPC)
		log_error("%s: no free PCI slot", pci->name);
	return ret < 0 ? ret : 0;
}

static void destroy_nvme(void *p) { nvme_destroy(p); }
static void destroy_blk(void *p) { virtio_blk_destroy(p); }
static void destroy_vub(void *p) { vhost_user_blk_destroy(p); }
static void destroy_net(void *p) { virtio_net_destroy(p); }
static void destroy_e1000(void *p) { e1000_destroy(p); }
static void destroy_console(void *p) { virtio_console_destroy(p); }
static void destroy_rng(void *p) { virtio_rng_destroy(p); }

static int add_disk(struct machine *m, const struct disk_config *d)
{
	if (d->vhost_user) {
		struct vhost_user_blk *b = vhost_user_blk_create(d->path, d->reconnect_s, &m->vm.mem,
								   m->vm.loop);
		return b ? plug(m, vhost_user_blk_dev(b), b, destroy_vub) : -EINVAL;
	}
	if (d->model == DISK_NVME) {
		char name[16];
		snprintf(name, sizeof(name), "nvme%u", m->nemulated);
		struct nvme_options no = {
			.path = d->path, .readonly = d->readonly, .serial = d->serial,
			.cache = d->cache, .engine = d->engine, .name = name,
			.num_queues = d->queues ? d->queues : m->cfg->cpus,
			.no_shadow_doorbells = d->no_shadow_doorbells,
		};
		struct nvme_ctrl *n = nvme_create(&no, &m->vm.mem, m->vm.loop, m->vm.routing,
						  m->vm.vm_fd);
		return n ? plug_emulated(m, nvme_pci(n), n, destroy_nvme) : -EINVAL;
	}
	struct virtio_blk_options o = {
		.path = d->path, .readonly = d->readonly, .serial = d->serial,
		.cache = d->cache, .engine = d->engine,
		.num_queues = d->queues ? d->queues : m->cfg->cpus,
		.no_merge = d->no_merge,
	};
	struct virtio_blk *b = virtio_blk_create(&o, &m->vm.mem, m->vm.loop);
	return b ? plug(m, virtio_blk_dev(b), b, destroy_blk) : -EINVAL;
}

static int add_nic(struct machine *m, const struct nic_config *n, unsigned index)
{
	uint8_t mac[6];
	memcpy(mac, n->mac, 6);
	if (!n->mac_set) {
		/* QEMU's default OUI, one address per NIC. */
		static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
		memcpy(mac, base, 6);
		mac[5] = (uint8_t)(mac[5] + index);
	}
	if (n->model == NIC_E1000) {
		/* The e1000 does checksums and segmentation itself: plain
		 * frames on the backend, no vnet header. */
		struct e1000_options eo = {.backend = n->backend};
		eo.backend.vnet_hdr = false;
		memcpy(eo.mac, mac, 6);
		struct e1000 *e = e1000_create(&eo, &m->vm.mem, m->vm.loop);
		return e ? plug_emulated(m, e1000_pci(e), e, destroy_e1000) : -EINVAL;
	}
	struct virtio_net_options o = {.backend = n->backend, .mac_set = true,
				       .queue_pairs = n->queues, .vhost = n->vhost};
	/* A tap carries virtio-net headers, so checksum and TSO offloads can
	 * pass straight through to the host. */
	if (o.backend.kind == NET_TAP)
		o.backend.vnet_hdr = true;
	memcpy(o.mac, mac, 6);
	struct virtio_net *nd = virtio_net_create(&o, &m->vm.mem, m->vm.loop);
	return nd ? plug(m, virtio_net_dev(nd), nd, destroy_net) : -EINVAL;
}

static int add_console(struct machine *m, const struct console_config *c)
{
	struct virtio_console *vc =
		c->socket[0] ? virtio_console_create_socket(c->socket, &m->vm.mem, m->vm.loop)
			     : virtio_console_create_term(m->term, &m->vm.mem, m->vm.loop);
	return vc ? plug(m, virtio_console_dev(vc), vc, destroy_console) : -EINVAL;
}

static int add_rng(struct machine *m)
{
	struct virtio_rng *r = virtio_rng_create(&m->vm.mem, m->vm.loop);
	return r ? plug(m, virtio_rng_dev(r), r, destroy_rng) : -ENOMEM;
}

/* A host function passed through: vf=N resolves VF N of the PF and binds
 * it to vfio-pci for this run (handed back to its driver at exit). */
static int add_passthrough(struct machine *m, const struct vfio_config *d)
{
	char bdf[PCI_BDF_LEN];
	snprintf(bdf, sizeof(bdf), "%s", d->bdf);
	if (d->vf_set) {
		char vf[PCI_BDF_LEN];
		if (sriov_vf_bdf(d->bdf, d->vf, vf) < 0 || sriov_bind_vfio(vf) < 0)
			return -ENODEV;
		snprintf(m->rebind[m->nrebind++], PCI_BDF_LEN, "%s", vf);
		snprintf(bdf, sizeof(bdf), "%s", vf);
	}
	struct vfio_pci *v = vfio_pci_create(bdf, &m->vfio, &m->vm);
	if (!v)
		return -ENODEV;
	m->passthrough[m->npassthrough++] = v;
	int ret = pci_host_add(&m->pci, vfio_pci_dev(v));
	if (ret == -ENOSPC)
		log_error("%s: no free PCI slot", bdf);
	if (ret >= 0)
		ret = vfio_pci_connect_intx(v);
	return ret < 0 ? ret : 0;
}

int machine_pci_create(struct machine *m)
{
	const struct vm_config *cfg = m->cfg;
	vfio_container_init(&m->vfio, &m->vm.mem, m->vm.vm_fd);
	m->vfio_up = true;
	int ret = pci_host_init(&m->pci, m->vm.pio, m->vm.mmio, machine_mmio64_base(&m->vm.mem),
				intx_line, &m->vm);
	m->pci_up = true;
	for (unsigned i = 0; ret == 0 && i < cfg->ndisks; i++)
		ret = add_disk(m, &cfg->disks[i]);
	for (unsigned i = 0; ret == 0 && i < cfg->nnics; i++)
		ret = add_nic(m, &cfg->nics[i], i);
	if (ret == 0 && cfg->console.virtio)
		ret = add_console(m, &cfg->console);
	if (ret == 0 && cfg->rng)
		ret = add_rng(m);
	for (unsigned i = 0; ret == 0 && i < cfg->nvfio; i++)
		ret = add_passthrough(m, &cfg->vfio[i]);
	return ret;
}

void machine_pci_destroy(struct machine *m)
{
	/* The host bridge first: it releases its slots' BARs, and the slots
	 * point into the device models freed below. */
	if (m->pci_up)
		pci_host_destroy(&m->pci);
	m->pci_up = false;
	/* A device the guest left running (it panicked, iovirt got a signal)
	 * stops while its transport is whole: vhost gives back its irqfds. */
	for (unsigned i = 0; i < m->nvirtio; i++)
		virtio_pci_quiesce(m->virtio[i].transport);
	for (unsigned i = 0; i < m->nvirtio; i++) {
		struct machine_virtio *v = &m->virtio[i];
		virtio_pci_destroy(v->transport);
		free(v->transport);
		v->destroy(v->model);
	}
	m->nvirtio = 0;
	for (unsigned i = 0; i < m->nemulated; i++)
		m->emulated[i].destroy(m->emulated[i].model);
	m->nemulated = 0;
	for (unsigned i = 0; i < m->npassthrough; i++)
		vfio_pci_destroy(m->passthrough[i]);
	m->npassthrough = 0;
	if (m->vfio_up)
		vfio_container_destroy(&m->vfio);
	m->vfio_up = false;
	/* vfio-pci lets a device go only once no fd holds it (above). */
	for (unsigned i = 0; i < m->nrebind; i++)
		sriov_unbind_vfio(m->rebind[i]);
	m->nrebind = 0;
}
