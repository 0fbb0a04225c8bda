/* A fake /sys and /proc in a temp dir for the PCI sysfs and SR-IOV tests,
 * with a small stand-in for the kernel behind the writes: drivers_probe binds
 * (driver_override first, else the device's native driver; vfio-pci only
 * where there is an IOMMU group), drivers/X/unbind unbinds, sriov_numvfs
 * creates or removes VFs (0000:BB:DD.<i+1>, IOMMU group 20+i, probed when
 * sriov_drivers_autoprobe is 1). Every write is logged in order.
 *
 * The fixture (sys/bus/pci/devices/...):
 *   0000:01:00.0  nvme, group 11, SR-IOV PF: totalvfs 2, numvfs 0, autoprobe 1
 *   0000:00:02.0, 0000:00:03.0  virtio-pci, both in group 3
 *   0000:00:04.0  e1000, group 4, refused by vfio-pci
 *   0000:00:05.0  e1000, no IOMMU group
 *   0000:00:06.0  vfio-pci, group 6 (native driver e1000), no record
 * drivers nvme, virtio-pci, e1000, vfio-pci. Paths below are relative to
 * the temp dir ("sys/...", "proc/...", "state/..."). */
#ifndef IOVIRT_TESTS_FAKE_SYSFS_H
#define IOVIRT_TESTS_FAKE_SYSFS_H

#include <stdbool.h>

#define FAKE_MAX_WRITES 64

struct fake_sysfs {
	char dir[64], sys[96], proc[96], state[96];
	char writes[FAKE_MAX_WRITES][160]; /* "rel=value", rel from the sysfs root */
	int nwrites;
	char buf[256];  /* fake_read's answer */
	char err[1024]; /* what fake_err_end captured */
	int saved_err, err_fd;
};

/* Builds the fixture and points pci_sysfs and sriov at it (euid 0). */
struct fake_sysfs *fake_sysfs_create(void);
void fake_sysfs_destroy(struct fake_sysfs *f);

void fake_mkdir(struct fake_sysfs *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fake_file(struct fake_sysfs *f, const char *rel, const char *content);
void fake_link(struct fake_sysfs *f, const char *rel, const char *target);
/* rm -rf */
void fake_remove(struct fake_sysfs *f, const char *rel);
bool fake_has(struct fake_sysfs *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The file's content (f->buf), or NULL if it cannot be read. */
const char *fake_read(struct fake_sysfs *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A device: drv NULL for unbound, native the driver a plain probe picks,
 * group < 0 for none. */
void fake_add_dev(struct fake_sysfs *f, const char *bdf, const char *drv, const char *native,
		  int group);
/* A process holding `target` ("/dev/vfio/7") open. */
void fake_proc_user(struct fake_sysfs *f, int pid, const char *comm, const char *target);

void fake_clear_writes(struct fake_sysfs *f);
/* Asserts the writes since the last clear were exactly these n, in order;
 * then clears. */
void fake_assert_writes(struct fake_sysfs *f, int n, ...);

/* The device's driver is want ("" for none). */
void fake_assert_driver(const char *bdf, const char *want);

/* Capture stderr around a call; fake_err_end then asserts there was
 * exactly one line and that it contains want (NULL: nothing at all). */
void fake_err_begin(struct fake_sysfs *f);
void fake_err_end(struct fake_sysfs *f, const char *want);

#endif
