/* Host PCI devices through sysfs (Documentation/ABI/testing/sysfs-bus-pci):
 * addresses, bound drivers, IOMMU groups, driver_override binding, and who
 * holds a VFIO group open. No VFIO ioctls here.
 *
 * BDF arguments are normalized addresses ("0000:01:00.0", see
 * pci_bdf_normalize). Only pci_sysfs_bind and pci_sysfs_unbind_restore log;
 * everything else returns -errno and lets the caller say what it was doing. */
#ifndef IOVIRT_VFIO_PCI_SYSFS_H
#define IOVIRT_VFIO_PCI_SYSFS_H

#include <stdbool.h>
#include <stddef.h>

#define PCI_BDF_LEN 13    /* "DDDD:BB:DD.F" + NUL */
#define PCI_DRIVER_LEN 64 /* a driver name + NUL */

/* Tests point these at fake trees laid out like /sys and /proc. */
void pci_sysfs_set_root(const char *root); /* default "/sys" */
const char *pci_sysfs_root(void);
void pci_sysfs_set_proc_root(const char *root); /* default "/proc" */

/* Tests: called after every successful sysfs write with the path relative
 * to the root ("bus/pci/drivers_probe") and the value written, so a fake
 * tree can log writes and act as the kernel. NULL removes it. */
typedef void (*pci_sysfs_write_hook)(const char *rel, const char *val, void *opaque);
void pci_sysfs_set_write_hook(pci_sysfs_write_hook hook, void *opaque);

/* "01:00.0" or "0000:01:00.0" -> "0000:01:00.0" (lower-case hex); -EINVAL if
 * malformed (device > 0x1f, function > 7, stray characters). */
int pci_bdf_normalize(const char *in, char out[PCI_BDF_LEN]);

/* true if /sys/bus/pci/devices/BDF exists */
bool pci_sysfs_exists(const char *bdf);
/* true if driver drv is registered (/sys/bus/pci/drivers/DRV exists) */
bool pci_sysfs_driver_loaded(const char *drv);

/* Attribute `attr` of the device (one line, trailing newline removed) into
 * buf: 0 or -errno (-ENOENT: no such attribute or device). */
int pci_sysfs_read(const char *bdf, const char *attr, char *buf, size_t len);
/* The attribute as an unsigned decimal number: 0 or -errno. */
int pci_sysfs_read_uint(const char *bdf, const char *attr, unsigned *val);
/* Writes val to the attribute (the kernel acts on it): 0 or -errno. */
int pci_sysfs_write(const char *bdf, const char *attr, const char *val);
/* Basename of the device's symlink `link` ("driver", "iommu_group",
 * "virtfn3", "physfn"): 0 or -errno (-ENOENT: no such link). */
int pci_sysfs_link(const char *bdf, const char *link, char *buf, size_t len);

/* Name of the bound driver into buf; "" when unbound; -ENOENT no such device. */
int pci_sysfs_driver(const char *bdf, char *buf, size_t len);
/* IOMMU group number; -ENOENT when the device has no IOMMU group (no IOMMU). */
int pci_sysfs_iommu_group(const char *bdf);
/* Every PCI device (/sys/bus/pci/devices/), sorted; the count or -errno
 * (-E2BIG: more than max). */
int pci_sysfs_devices(char (*bdfs)[PCI_BDF_LEN], int max);
/* BDFs of every PCI device in group N (/sys/kernel/iommu_groups/N/devices/),
 * sorted; returns the count or -errno (-E2BIG: more than max). */
int pci_sysfs_group_devices(int group, char (*bdfs)[PCI_BDF_LEN], int max);

/* Binds bdf to driver drv the kernel way: drv into driver_override, unbind
 * from the current driver (if any and not drv), bdf into drivers_probe, then
 * checks the driver link. On failure the device goes back to its old driver.
 * 0 or -errno, with one log_error line naming the device and the reason. */
int pci_sysfs_bind(const char *bdf, const char *drv);
/* Unbinds from the current driver, clears driver_override, and if old_drv is
 * non-empty probes again so that old_drv takes the device back (checked).
 * 0 or -errno, with one log_error line. */
int pci_sysfs_unbind_restore(const char *bdf, const char *old_drv);

/* pid of another process holding /dev/vfio/GROUP, or /dev/vfio/devices/vfioN
 * of a device in the group, open (scans /proc/[pid]/fd); its comm into comm.
 * 0 if none (this process is not counted); -errno if /proc is unreadable. */
int vfio_group_user(int group, char *comm, size_t len);

#endif
