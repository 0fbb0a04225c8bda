/* VFIO (docs/ARCHITECTURE.md, I/O model 3): the container that holds the IOMMU
 * groups of every passed-through device of one VM.
 *
 * One type1 (v2 where the kernel has it) IOMMU container per VM: all guest
 * RAM is mapped for DMA at IOVA = guest-physical address when the first
 * group joins, and unmapped when the container goes. Each group is also
 * registered with the KVM-VFIO pseudo device, which lets KVM honour the
 * device's DMA coherency (and is where KVM learns a VM owns a group).
 *
 * The newer iommufd API (/dev/iommu, /dev/vfio/devices/vfioN) is not used:
 * the kernels this project builds and tests on (Debian 12: 6.1) have none. */
#ifndef IOVIRT_VFIO_VFIO_H
#define IOVIRT_VFIO_VFIO_H

#include "core/guest_mem.h"

#define VFIO_MAX_GROUPS 8

struct vfio_container {
	int fd;                  /* /dev/vfio/vfio, -1 until the first group */
	int kvm_vfio_fd;         /* KVM_DEV_TYPE_VFIO, -1 if KVM lacks it */
	int vm_fd;
	const struct guest_mem *mem;
	unsigned iommu_type;     /* VFIO_TYPE1v2_IOMMU or VFIO_TYPE1_IOMMU */
	bool dma_mapped;
	struct {
		int number;
		int fd;
		unsigned users;      /* devices opened through it */
	} groups[VFIO_MAX_GROUPS];
	unsigned ngroups;
};

void vfio_container_init(struct vfio_container *c, const struct guest_mem *mem, int vm_fd);

/* Opens the device bdf ("0000:01:00.0", bound to vfio-pci): its group joins
 * the container (the first one sets up the IOMMU and maps guest RAM).
 * Returns the device fd, or -errno after one line naming the device and
 * the reason (no IOMMU, not bound to vfio-pci, group not viable and who
 * holds it, group in use by another process, permissions). */
int vfio_container_open_device(struct vfio_container *c, const char *bdf);

/* bdf's device fd is closed: its group leaves the container once no
 * device of it is open (the last group unmaps guest RAM first), so that
 * the host can take the function back. */
void vfio_container_close_device(struct vfio_container *c, const char *bdf);

/* Unmaps guest RAM and closes every group and the container. */
void vfio_container_destroy(struct vfio_container *c);

#endif
