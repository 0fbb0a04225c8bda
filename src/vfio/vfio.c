/* The VFIO container and its groups. See vfio.h. */
#include "vfio/vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "vfio/pci_sysfs.h"

void vfio_container_init(struct vfio_container *c, const struct guest_mem *mem, int vm_fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->kvm_vfio_fd = -1;
	c->vm_fd = vm_fd;
	c->mem = mem;
}

/* Opens /dev/vfio/vfio and checks the API (first group only). */
static int open_container(struct vfio_container *c)
{
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		log_error("/dev/vfio/vfio: %s (load vfio-pci; is there an IOMMU?)", strerror(errno));
		return err;
	}
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		log_error("/dev/vfio/vfio: unknown VFIO API version");
		close(fd);
		return -ENOTSUP;
	}
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
		c->iommu_type = VFIO_TYPE1v2_IOMMU;
	else if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0)
		c->iommu_type = VFIO_TYPE1_IOMMU;
	else {
		log_error("/dev/vfio/vfio: no type1 IOMMU support in this kernel");
		close(fd);
		return -ENOTSUP;
	}
	c->fd = fd;
	return 0;
}

/* Every RAM region at IOVA = GPA, readable and writable by the device. */
static int map_guest_ram(struct vfio_container *c)
{
	for (unsigned i = 0; i < c->mem->nr_regions; i++) {
		const struct guest_mem_region *r = &c->mem->regions[i];
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uint64_t)(uintptr_t)r->hva,
			.iova = r->gpa,
			.size = r->size,
		};
		if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
			int err = -errno;
			log_error("VFIO: mapping guest RAM at 0x%llx (%llu MiB) for DMA: %s%s",
				  (unsigned long long)r->gpa, (unsigned long long)(r->size >> 20),
				  strerror(errno),
				  errno == ENOMEM ? " (locked-memory limit? see ulimit -l)" : "");
			return err;
		}
	}
	c->dma_mapped = true;
	return 0;
}

static void unmap_guest_ram(struct vfio_container *c)
{
	if (!c->dma_mapped)
		return;
	for (unsigned i = 0; i < c->mem->nr_regions; i++) {
		struct vfio_iommu_type1_dma_unmap unmap = {
			.argsz = sizeof(unmap),
			.iova = c->mem->regions[i].gpa,
			.size = c->mem->regions[i].size,
		};
		if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
			log_warn("VFIO: unmapping guest RAM at 0x%llx: %s",
				 (unsigned long long)unmap.iova, strerror(errno));
	}
	c->dma_mapped = false;
}

/* The KVM-VFIO device learns about each group (best effort: old kernels
 * without it still pass devices through, only without coherency hints). */
static void kvm_add_group(struct vfio_container *c, int group_fd, bool add)
{
	if (c->kvm_vfio_fd < 0 && add) {
		struct kvm_create_device cd = {.type = KVM_DEV_TYPE_VFIO};
		if (ioctl(c->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
			log_warn("KVM: no KVM-VFIO device (%s); going on without it", strerror(errno));
			return;
		}
		c->kvm_vfio_fd = (int)cd.fd;
	}
	if (c->kvm_vfio_fd < 0)
		return;
	int32_t fd = group_fd;
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_GROUP,
		.attr = add ? KVM_DEV_VFIO_GROUP_ADD : KVM_DEV_VFIO_GROUP_DEL,
		.addr = (uint64_t)(uintptr_t)&fd,
	};
	if (ioctl(c->kvm_vfio_fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
		log_warn("KVM-VFIO: %s group: %s", add ? "adding" : "removing", strerror(errno));
}

/* A group that is not viable: name a device of it that a host driver holds. */
static void explain_not_viable(const char *bdf, int group)
{
	char devs[32][PCI_BDF_LEN];
	int n = pci_sysfs_group_devices(group, devs, 32);
	for (int i = 0; i < n; i++) {
		char drv[64];
		if (pci_sysfs_driver(devs[i], drv, sizeof(drv)) == 0 && drv[0] &&
		    strcmp(drv, "vfio-pci") != 0 && strcmp(drv, "pcieport") != 0) {
			log_error("%s: IOMMU group %d is not viable: %s in the same group is bound "
				  "to %s (bind it to vfio-pci too, or unbind it)",
				  bdf, group, devs[i], drv);
			return;
		}
	}
	log_error("%s: IOMMU group %d is not viable (every device of the group must be bound "
		  "to vfio-pci or unbound)", bdf, group);
}

/* Opens and attaches bdf's group; returns its fd (already attached: the
 * existing one). */
static int open_group(struct vfio_container *c, const char *bdf)
{
	char drv[64];
	int ret = pci_sysfs_driver(bdf, drv, sizeof(drv));
	if (ret == -ENOENT) {
		log_error("%s: no such PCI device", bdf);
		return ret;
	}
	if (ret == 0 && strcmp(drv, "vfio-pci") != 0) {
		log_error("%s: bound to %s, not vfio-pci (iovirt sriov bind %s)", bdf,
			  drv[0] ? drv : "no driver", bdf);
		return -ENODEV;
	}
	int group = pci_sysfs_iommu_group(bdf);
	if (group < 0) {
		log_error("%s: no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on "
			  "on the host kernel command line)", bdf);
		return -ENODEV;
	}
	for (unsigned i = 0; i < c->ngroups; i++)
		if (c->groups[i].number == group)
			return c->groups[i].fd;
	if (c->ngroups == VFIO_MAX_GROUPS) {
		log_error("%s: more than %d IOMMU groups", bdf, VFIO_MAX_GROUPS);
		return -ENOSPC;
	}

	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		char comm[64] = "";
		int pid = err == -EBUSY ? vfio_group_user(group, comm, sizeof(comm)) : 0;
		if (pid > 0)
			log_error("%s: %s is in use by %s (pid %d)", bdf, path, comm, pid);
		else if (err == -EACCES || err == -EPERM)
			log_error("%s: %s: %s (needs root or access to the group)", bdf, path,
				  strerror(-err));
		else
			log_error("%s: %s: %s", bdf, path, strerror(-err));
		return err;
	}
	struct vfio_group_status st = {.argsz = sizeof(st)};
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0 || !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		explain_not_viable(bdf, group);
		close(fd);
		return -EBUSY;
	}
	if (c->fd < 0 && (ret = open_container(c)) < 0) {
		close(fd);
		return ret;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c->fd) < 0) {
		ret = -errno;
		log_error("%s: attaching IOMMU group %d to the container: %s", bdf, group,
			  strerror(errno));
		close(fd);
		return ret;
	}
	/* The IOMMU model is chosen once a group is in the container. */
	if (c->ngroups == 0) {
		if (ioctl(c->fd, VFIO_SET_IOMMU, c->iommu_type) < 0) {
			ret = -errno;
			log_error("%s: VFIO_SET_IOMMU: %s", bdf, strerror(errno));
			close(fd);
			return ret;
		}
		if ((ret = map_guest_ram(c)) < 0) {
			close(fd);
			return ret;
		}
	}
	c->groups[c->ngroups].number = group;
	c->groups[c->ngroups].fd = fd;
	c->ngroups++;
	kvm_add_group(c, fd, true);
	return fd;
}

int vfio_container_open_device(struct vfio_container *c, const char *bdf)
{
	int group_fd = open_group(c, bdf);
	if (group_fd < 0)
		return group_fd;
	int fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (fd < 0) {
		int err = -errno;
		log_error("%s: VFIO_GROUP_GET_DEVICE_FD: %s%s", bdf, strerror(errno),
			  errno == EBUSY ? " (already open elsewhere)" : "");
		return err;
	}
	for (unsigned i = 0; i < c->ngroups; i++)
		if (c->groups[i].fd == group_fd)
			c->groups[i].users++;
	return fd;
}

static void close_group(struct vfio_container *c, unsigned i)
{
	kvm_add_group(c, c->groups[i].fd, false);
	ioctl(c->groups[i].fd, VFIO_GROUP_UNSET_CONTAINER);
	close(c->groups[i].fd);
}

void vfio_container_close_device(struct vfio_container *c, const char *bdf)
{
	int group = pci_sysfs_iommu_group(bdf);
	for (unsigned i = 0; i < c->ngroups; i++) {
		if (c->groups[i].number != group || --c->groups[i].users > 0)
			continue;
		/* The IOMMU model goes with the last group: unmap while it is set. */
		if (c->ngroups == 1)
			unmap_guest_ram(c);
		close_group(c, i);
		c->groups[i] = c->groups[--c->ngroups];
		return;
	}
}

void vfio_container_destroy(struct vfio_container *c)
{
	if (c->fd >= 0)
		unmap_guest_ram(c);
	for (unsigned i = 0; i < c->ngroups; i++)
		close_group(c, i);
	c->ngroups = 0;
	if (c->kvm_vfio_fd >= 0)
		close(c->kvm_vfio_fd);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = c->kvm_vfio_fd = -1;
}
