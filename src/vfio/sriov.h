/* SR-IOV virtual functions and vfio-pci binding on the host, through sysfs
 * (Documentation/ABI/testing/sysfs-bus-pci: sriov_totalvfs, sriov_numvfs,
 * sriov_drivers_autoprobe, virtfnN). A VF index is 0-based like the kernel's
 * virtfnN and `ip link ... vf N`.
 *
 * Addresses may be given as "BB:DD.F" or "DDDD:BB:DD.F". Every function
 * returns 0 or -errno, having logged one error line naming the device. */
#ifndef IOVIRT_VFIO_SRIOV_H
#define IOVIRT_VFIO_SRIOV_H

#include <stdbool.h>
#include <stdio.h>

#include "vfio/pci_sysfs.h"

/* Every SR-IOV capable device: PF, driver, totalvfs, numvfs, then its VFs
 * (index, BDF, driver, IOMMU group, the process using it). */
int sriov_list(FILE *out);

/* Sets the PF's VF count (0 disables SR-IOV). Root only. VF drivers probe the
 * new VFs only with autoprobe (VFs are for guests). A non-zero count changes
 * through 0, so it is refused while any current VF is in use. Prints the VFs
 * it created on out (NULL: silent). */
int sriov_set_numvfs(const char *pf, unsigned n, bool autoprobe, FILE *out);

/* The BDF of VF `index` of pf (its virtfn<index> link). */
int sriov_vf_bdf(const char *pf, unsigned index, char out[PCI_BDF_LEN]);

/* Hands a device (a VF or any PCI device) to vfio-pci, loading the module if
 * needed and recording the previous driver in the state directory; already
 * on vfio-pci is a no-op. Needs an IOMMU group. Root only. */
int sriov_bind_vfio(const char *bdf);
/* Gives a device on vfio-pci back to its recorded driver (or leaves it
 * unbound if none was recorded) and forgets the record; refused while in
 * use; a device not on vfio-pci is left alone. Root only. */
int sriov_unbind_vfio(const char *bdf);

/* Tests: where the driver records live (default /run/iovirt/pci-drivers),
 * the effective uid the root checks see (negative: the real geteuid()),
 * and the modprobe to run (default /sbin/modprobe). */
void sriov_set_state_dir(const char *dir);
void sriov_set_euid(long euid);
void sriov_set_modprobe(const char *path);

#endif
