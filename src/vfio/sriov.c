/* SR-IOV management (PCIe Base Spec, "Single Root I/O Virtualization") as
 * Linux exposes it in sysfs, and vfio-pci binding that remembers the driver
 * it replaced: see sriov.h. */
#include "vfio/sriov.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"

#define VFIO_DRIVER "vfio-pci"
#define MAX_HOST_DEVS 4096

static char state_dir[PATH_MAX] = "/run/iovirt/pci-drivers";
static long forced_euid = -1;

void sriov_set_state_dir(const char *dir) { snprintf(state_dir, sizeof(state_dir), "%s", dir); }
void sriov_set_euid(long euid) { forced_euid = euid; }

/* By absolute path, with a fixed environment: iovirt runs as root, and the
 * caller's PATH must not choose what root executes. */
static char modprobe[PATH_MAX] = "/sbin/modprobe";
void sriov_set_modprobe(const char *path) { snprintf(modprobe, sizeof(modprobe), "%s", path); }

static int need_root(void)
{
	if ((forced_euid >= 0 ? forced_euid : (long)geteuid()) == 0)
		return 0;
	log_error("sriov: needs root");
	return -EPERM;
}

/* Normalizes a user-given address of a device that must exist. */
static int find_dev(const char *in, char bdf[PCI_BDF_LEN])
{
	if (pci_bdf_normalize(in, bdf) < 0) {
		log_error("%s: not a PCI address (want DDDD:BB:DD.F or BB:DD.F)", in);
		return -EINVAL;
	}
	if (!pci_sysfs_exists(bdf)) {
		log_error("%s: no such PCI device", bdf);
		return -ENOENT;
	}
	return 0;
}

/* Normalizes a user-given PF address; the PF must exist and be SR-IOV
 * capable. Its TotalVFs and NumVFs. */
static int find_pf(const char *in, char pf[PCI_BDF_LEN], unsigned *total, unsigned *num)
{
	int ret = find_dev(in, pf);
	if (ret < 0)
		return ret;
	ret = pci_sysfs_read_uint(pf, "sriov_totalvfs", total);
	if (ret == -ENOENT) {
		log_error("PF %s is not SR-IOV capable (no sriov_totalvfs)", pf);
		return ret;
	}
	if (ret == 0)
		ret = pci_sysfs_read_uint(pf, "sriov_numvfs", num);
	if (ret < 0)
		log_error("PF %s: cannot read its VF counts: %s", pf, strerror(-ret));
	return ret;
}

static int vf_link(const char *pf, unsigned index, char vf[PCI_BDF_LEN])
{
	char link[32];
	snprintf(link, sizeof(link), "virtfn%u", index);
	return pci_sysfs_link(pf, link, vf, PCI_BDF_LEN);
}

/* Who holds the device's VFIO group, as "COMM pid N"; 0 if nobody. */
static int dev_user(const char *bdf, char *who, size_t len)
{
	char comm[32];
	int group = pci_sysfs_iommu_group(bdf);
	int pid = group < 0 ? 0 : vfio_group_user(group, comm, sizeof(comm));
	if (pid > 0)
		snprintf(who, len, "%s pid %d", comm[0] ? comm : "?", pid);
	return pid > 0 ? pid : 0;
}

static const char *or_dash(const char *s) { return s[0] ? s : "-"; }

static void list_vfs(FILE *out, const char *pf, unsigned total)
{
	char vf[PCI_BDF_LEN];
	fprintf(out, "    VF   BDF           DRIVER        GROUP  USED BY\n");
	for (unsigned i = 0; i < total && vf_link(pf, i, vf) == 0; i++) {
		char drv[PCI_DRIVER_LEN] = "", group[16] = "", who[64] = "";
		pci_sysfs_driver(vf, drv, sizeof(drv));
		int g = pci_sysfs_iommu_group(vf);
		if (g >= 0)
			snprintf(group, sizeof(group), "%d", g);
		dev_user(vf, who, sizeof(who));
		fprintf(out, "    %-4u %s  %-13s %-6s %s\n", i, vf, or_dash(drv), or_dash(group),
			or_dash(who));
	}
}

int sriov_list(FILE *out)
{
	char(*bdfs)[PCI_BDF_LEN] = calloc(MAX_HOST_DEVS, PCI_BDF_LEN);
	if (!bdfs)
		return -ENOMEM;
	int n = pci_sysfs_devices(bdfs, MAX_HOST_DEVS), pfs = 0;
	if (n < 0)
		log_error("%s/bus/pci/devices: %s", pci_sysfs_root(), strerror(-n));
	for (int i = 0; i < n; i++) {
		unsigned total, num = 0;
		char drv[PCI_DRIVER_LEN] = "";
		if (pci_sysfs_read_uint(bdfs[i], "sriov_totalvfs", &total) < 0)
			continue;
		pci_sysfs_read_uint(bdfs[i], "sriov_numvfs", &num);
		pci_sysfs_driver(bdfs[i], drv, sizeof(drv));
		fprintf(out, "%s%s  driver %s  totalvfs %u  numvfs %u\n", pfs++ ? "\n" : "", bdfs[i],
			or_dash(drv), total, num);
		if (num)
			list_vfs(out, bdfs[i], total);
	}
	if (n >= 0 && !pfs)
		fprintf(out, "no SR-IOV capable devices\n");
	free(bdfs);
	return n < 0 ? n : 0;
}

/* State: /run/iovirt/pci-drivers/BDF holds the driver a device had before
 * sriov_bind_vfio ("" if it had none). */
static int record_path(const char *bdf, char path[PATH_MAX])
{
	int n = snprintf(path, PATH_MAX, "%s/%s", state_dir, bdf);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*s = c;
	}
}

static int record_save(const char *bdf, const char *drv)
{
	char path[PATH_MAX];
	int ret = mkdir_p(state_dir);
	if (ret == 0 && (ret = record_path(bdf, path)) == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ret = fd < 0 ? -errno : dprintf(fd, "%s\n", drv) < 0 ? -EIO : 0;
		if (fd >= 0)
			close(fd);
	}
	if (ret < 0)
		log_error("%s: cannot record its driver in %s: %s", bdf, state_dir, strerror(-ret));
	return ret;
}

/* The recorded driver into drv ("" when none is recorded). */
static void record_load(const char *bdf, char drv[PCI_DRIVER_LEN])
{
	char path[PATH_MAX];
	drv[0] = '\0';
	int fd = record_path(bdf, path) < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, drv, PCI_DRIVER_LEN - 1);
	drv[n > 0 ? n : 0] = '\0';
	drv[strcspn(drv, "\n")] = '\0';
	close(fd);
}

static void record_forget(const char *bdf)
{
	char path[PATH_MAX];
	if (record_path(bdf, path) == 0)
		unlink(path);
}

static int write_numvfs(const char *pf, unsigned n)
{
	char val[16], drv[PCI_DRIVER_LEN] = "";
	snprintf(val, sizeof(val), "%u", n);
	int ret = pci_sysfs_write(pf, "sriov_numvfs", val);
	if (ret == -ENOENT) { /* the kernel's answer when no driver can do it */
		pci_sysfs_driver(pf, drv, sizeof(drv));
		log_error("PF %s: cannot set %u VFs: %s", pf, n,
			  drv[0] ? "its driver does not support SR-IOV" : "no driver is bound to it");
	} else if (ret < 0) {
		log_error("PF %s: cannot set %u VFs: %s", pf, n, strerror(-ret));
	}
	return ret;
}

/* num -> n VFs, n != num. The kernel changes a non-zero count only through
 * 0 (sriov_numvfs answers EBUSY otherwise), so every current VF goes away:
 * none may be in use, and their driver records would describe the next VFs
 * at those addresses. */
static int change_numvfs(const char *pf, unsigned num, unsigned n, bool autoprobe)
{
	char vf[PCI_BDF_LEN], who[64];
	int ret;
	for (unsigned i = 0; i < num; i++) {
		if (vf_link(pf, i, vf) == 0 && dev_user(vf, who, sizeof(who))) {
			log_error("VF %u (%s) of %s is in use by %s: stop it first", i, vf, pf, who);
			return -EBUSY;
		}
	}
	for (unsigned i = 0; i < num; i++)
		if (vf_link(pf, i, vf) == 0)
			record_forget(vf);
	if (n > 0 && (ret = pci_sysfs_write(pf, "sriov_drivers_autoprobe", autoprobe ? "1" : "0")) < 0) {
		log_error("PF %s: cannot write sriov_drivers_autoprobe: %s", pf, strerror(-ret));
		return ret;
	}
	if (num && (ret = write_numvfs(pf, 0)) < 0)
		return ret;
	return n ? write_numvfs(pf, n) : 0;
}

int sriov_set_numvfs(const char *pf_in, unsigned n, bool autoprobe, FILE *out)
{
	char pf[PCI_BDF_LEN], vf[PCI_BDF_LEN];
	unsigned total, num;
	int ret = find_pf(pf_in, pf, &total, &num);
	if (ret < 0)
		return ret;
	if (n > total) {
		log_error("PF %s supports at most %u VFs (asked for %u)", pf, total, n);
		return -ERANGE;
	}
	if ((ret = need_root()) < 0 || (n != num && (ret = change_numvfs(pf, num, n, autoprobe)) < 0))
		return ret;
	if (out && n == 0)
		fprintf(out, "%s: SR-IOV disabled\n", pf);
	else if (out)
		fprintf(out, "%s: %u VF%s%s\n", pf, n, n == 1 ? "" : "s",
			n == num ? " (already enabled)" : autoprobe ? "" : " (not probed by host drivers)");
	for (unsigned i = 0; out && i < n; i++)
		fprintf(out, "  VF %u  %s\n", i, vf_link(pf, i, vf) == 0 ? vf : "?");
	return 0;
}

int sriov_vf_bdf(const char *pf_in, unsigned index, char out[PCI_BDF_LEN])
{
	char pf[PCI_BDF_LEN];
	unsigned total, num;
	int ret = find_pf(pf_in, pf, &total, &num);
	if (ret < 0)
		return ret;
	if (vf_link(pf, index, out) < 0) {
		log_error("VF %u of %s does not exist (%u VF%s enabled)", index, pf, num,
			  num == 1 ? "" : "s");
		return -ENOENT;
	}
	return 0;
}

/* `modprobe vfio-pci` (quietly: its failure becomes our one line). */
static int load_vfio_pci(void)
{
	if (pci_sysfs_driver_loaded(VFIO_DRIVER))
		return 0;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
		execle(modprobe, "modprobe", VFIO_DRIVER, (char *)NULL, env);
		_exit(127);
	}
	int status = -1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pci_sysfs_driver_loaded(VFIO_DRIVER))
		return 0;
	if (pid < 0)
		log_error("vfio-pci: driver not loaded, and cannot run modprobe: %s", strerror(errno));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_error("vfio-pci: driver not loaded, and %s not found", modprobe);
	else
		log_error("vfio-pci: driver not loaded, and `modprobe vfio-pci` failed (status %d)",
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return -ENODEV;
}

int sriov_bind_vfio(const char *bdf_in)
{
	char bdf[PCI_BDF_LEN], cur[PCI_DRIVER_LEN];
	int ret = find_dev(bdf_in, bdf);
	if (ret < 0)
		return ret;
	if ((ret = pci_sysfs_driver(bdf, cur, sizeof(cur))) < 0) {
		log_error("%s: cannot read its driver: %s", bdf, strerror(-ret));
		return ret;
	}
	if (strcmp(cur, VFIO_DRIVER) == 0)
		return 0;
	if (pci_sysfs_iommu_group(bdf) < 0) {
		log_error("%s has no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on "
			  "on the kernel command line)", bdf);
		return -ENODEV;
	}
	if ((ret = need_root()) < 0 || (ret = load_vfio_pci()) < 0 || (ret = record_save(bdf, cur)) < 0)
		return ret;
	ret = pci_sysfs_bind(bdf, VFIO_DRIVER);
	if (ret < 0)
		record_forget(bdf);
	return ret;
}

int sriov_unbind_vfio(const char *bdf_in)
{
	char bdf[PCI_BDF_LEN], cur[PCI_DRIVER_LEN], old[PCI_DRIVER_LEN], who[64];
	int ret = find_dev(bdf_in, bdf);
	if (ret < 0 || (ret = need_root()) < 0)
		return ret;
	if ((ret = pci_sysfs_driver(bdf, cur, sizeof(cur))) < 0) {
		log_error("%s: cannot read its driver: %s", bdf, strerror(-ret));
		return ret;
	}
	if (strcmp(cur, VFIO_DRIVER) != 0) {
		record_forget(bdf);
		return 0;
	}
	if (dev_user(bdf, who, sizeof(who))) {
		log_error("%s is in use by %s: stop it first", bdf, who);
		return -EBUSY;
	}
	record_load(bdf, old);
	if ((ret = pci_sysfs_unbind_restore(bdf, old)) == 0)
		record_forget(bdf);
	return ret;
}
