/* The machine's PCI side: the host bridge, and the create functions of the
 * device table's rows for the devices on it (each puts its function on the
 * bus under its instance name). */
#ifndef IOVIRT_MACHINE_MACHINE_PCI_H
#define IOVIRT_MACHINE_MACHINE_PCI_H

#include "machine/device_table.h"
#include "machine/machine.h"

/* The host bridge and the VFIO container; logs and -errno. */
int machine_pci_create(struct machine *m);
/* The host bridge first (it releases its slots' BARs), before the devices
 * go; the VFIO container last, after them. */
void machine_pci_release(struct machine *m);
void machine_pci_destroy(struct machine *m);
uint64_t machine_mmio64_base(const struct guest_mem *mem);

int machine_create_virtio_blk(const struct device_env *env, struct device **dev);
int machine_create_nvme(const struct device_env *env, struct device **dev);
/* One controller for every if=ide disk and the --cdrom: made at the first
 * of them, the others' entries make nothing. */
int machine_create_ide(const struct device_env *env, struct device **dev);
/* Where the IDE drives sit (channel * 2 + unit): pos[i] for cfg->disks[i]
 * (-1: not an IDE disk), *cdrom for --cdrom (-1: none). -ENOSPC after one
 * line when they do not fit. */
int machine_ide_layout(const struct vm_config *cfg, int pos[CONFIG_MAX_DISKS], int *cdrom);
int machine_create_vhost_user_blk(const struct device_env *env, struct device **dev);
int machine_create_virtio_net(const struct device_env *env, struct device **dev);
int machine_create_e1000(const struct device_env *env, struct device **dev);
int machine_create_virtio_console(const struct device_env *env, struct device **dev);
int machine_create_virtio_rng(const struct device_env *env, struct device **dev);
int machine_create_vfio_pci(const struct device_env *env, struct device **dev);

/* A virtio device's stop before any device is destroyed. */
void machine_quiesce_virtio(struct device *dev);

#endif
