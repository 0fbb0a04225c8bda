/* Host PCI devices through sysfs: see pci_sysfs.h. The attributes and the
 * bind sequence (driver_override, unbind, drivers_probe) are the kernel's
 * (Documentation/ABI/testing/sysfs-bus-pci, sysfs-kernel-iommu_groups). */
#include "vfio/pci_sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static char sys_root[PATH_MAX] = "/sys";
static char proc_root[PATH_MAX] = "/proc";
static pci_sysfs_write_hook write_hook;
static void *write_hook_opaque;

static void set_root(char *dst, const char *root)
{
	snprintf(dst, PATH_MAX, "%s", root);
}

void pci_sysfs_set_root(const char *root) { set_root(sys_root, root); }
const char *pci_sysfs_root(void) { return sys_root; }
void pci_sysfs_set_proc_root(const char *root) { set_root(proc_root, root); }

void pci_sysfs_set_write_hook(pci_sysfs_write_hook hook, void *opaque)
{
	write_hook = hook;
	write_hook_opaque = opaque;
}

/* Parses 1..max_digits hex digits up to the terminator `end`. */
static const char *parse_hex(const char *s, int max_digits, char end, unsigned *val)
{
	int n = 0;
	*val = 0;
	for (; isxdigit((unsigned char)*s) && n < max_digits; s++, n++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*s);
		*val = *val * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return n > 0 && *s == end ? s : NULL;
}

int pci_bdf_normalize(const char *in, char out[PCI_BDF_LEN])
{
	unsigned dom = 0, bus, dev, fn;
	const char *s = in;
	/* With a domain there are two colons before the dot. */
	const char *colon = strchr(in, ':');
	if (colon && strchr(colon + 1, ':')) {
		s = parse_hex(s, 4, ':', &dom);
		if (!s)
			return -EINVAL;
		s++;
	}
	if (!(s = parse_hex(s, 2, ':', &bus)) || !(s = parse_hex(s + 1, 2, '.', &dev)) ||
	    !(s = parse_hex(s + 1, 1, '\0', &fn)) || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, PCI_BDF_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* A path relative to the sysfs root, from a format. */
static int __attribute__((format(printf, 2, 3))) rel_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* "bus/pci/devices/BDF/name"; a BDF cannot climb out of the directory. */
static int dev_path(char *buf, const char *bdf, const char *name)
{
	if (!bdf[0] || bdf[0] == '.' || strchr(bdf, '/'))
		return -EINVAL;
	return rel_path(buf, "bus/pci/devices/%s/%s", bdf, name);
}

/* Every access goes through here: <root>/<rel>, an fd or -errno. */
static int open_at_root(const char *root, const char *rel, int flags)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_rel(const char *rel, int flags) { return open_at_root(sys_root, rel, flags); }

static int read_rel(const char *rel, char *buf, size_t len)
{
	int fd = open_rel(rel, O_RDONLY);
	if (fd < 0)
		return fd;
	ssize_t n = read(fd, buf, len - 1);
	int ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_rel(const char *rel, const char *val)
{
	int fd = open_rel(rel, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return fd;
	size_t len = strlen(val);
	ssize_t n = write(fd, val, len);
	int ret = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	if (ret == 0 && write_hook)
		write_hook(rel, val, write_hook_opaque);
	return ret;
}

/* The basename of symlink rel's target. */
static int link_rel(const char *rel, char *buf, size_t len)
{
	char target[PATH_MAX];
	int fd = open_rel(rel, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return fd;
	ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
	int ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret == -EINVAL ? -ENOENT : ret; /* not a link */
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, base, strlen(base) + 1);
	return 0;
}

/* A directory fd (or -errno) as a DIR stream; NULL and *err on failure. */
static DIR *dir_of(int fd, int *err)
{
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	*err = fd < 0 ? fd : d ? 0 : -errno;
	if (fd >= 0 && !d)
		close(fd);
	return d;
}

static DIR *opendir_rel(const char *rel, int *err)
{
	return dir_of(open_rel(rel, O_RDONLY | O_DIRECTORY), err);
}

static bool is_dir(const char *rel)
{
	int fd = open_rel(rel, O_PATH | O_DIRECTORY);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

bool pci_sysfs_exists(const char *bdf)
{
	char rel[PATH_MAX];
	return dev_path(rel, bdf, "") == 0 && is_dir(rel);
}

bool pci_sysfs_driver_loaded(const char *drv)
{
	char rel[PATH_MAX];
	return drv[0] && !strchr(drv, '/') && rel_path(rel, "bus/pci/drivers/%s", drv) == 0 &&
	       is_dir(rel);
}

int pci_sysfs_read(const char *bdf, const char *attr, char *buf, size_t len)
{
	char rel[PATH_MAX];
	int ret = dev_path(rel, bdf, attr);
	return ret < 0 ? ret : read_rel(rel, buf, len);
}

int pci_sysfs_read_uint(const char *bdf, const char *attr, unsigned *val)
{
	char buf[32], *end;
	int ret = pci_sysfs_read(bdf, attr, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	errno = 0;
	unsigned long v = strtoul(buf, &end, 10);
	if (!isdigit((unsigned char)buf[0]) || *end || errno || v > UINT_MAX)
		return -EINVAL;
	*val = (unsigned)v;
	return 0;
}

int pci_sysfs_write(const char *bdf, const char *attr, const char *val)
{
	char rel[PATH_MAX];
	int ret = dev_path(rel, bdf, attr);
	return ret < 0 ? ret : write_rel(rel, val);
}

int pci_sysfs_link(const char *bdf, const char *link, char *buf, size_t len)
{
	char rel[PATH_MAX];
	int ret = dev_path(rel, bdf, link);
	return ret < 0 ? ret : link_rel(rel, buf, len);
}

int pci_sysfs_driver(const char *bdf, char *buf, size_t len)
{
	if (!pci_sysfs_exists(bdf))
		return -ENOENT;
	int ret = pci_sysfs_link(bdf, "driver", buf, len);
	if (ret == -ENOENT) {
		buf[0] = '\0';
		return 0;
	}
	return ret;
}

int pci_sysfs_iommu_group(const char *bdf)
{
	char name[16], *end;
	int ret = pci_sysfs_link(bdf, "iommu_group", name, sizeof(name));
	if (ret < 0)
		return ret;
	long g = strtol(name, &end, 10);
	return *end || end == name || g < 0 || g > INT_MAX ? -EINVAL : (int)g;
}

static int cmp_bdf(const void *a, const void *b) { return strcmp(a, b); }

/* The entries of directory rel that are PCI addresses, sorted. */
static int list_bdfs(const char *rel, char (*bdfs)[PCI_BDF_LEN], int max)
{
	int n = 0;
	DIR *d = opendir_rel(rel, &n);
	if (!d)
		return n;
	const struct dirent *e;
	while ((e = readdir(d))) {
		char bdf[PCI_BDF_LEN];
		if (pci_bdf_normalize(e->d_name, bdf) < 0)
			continue;
		if (n == max) {
			n = -E2BIG;
			break;
		}
		memcpy(bdfs[n++], bdf, PCI_BDF_LEN);
	}
	closedir(d);
	if (n > 0)
		qsort(bdfs, (size_t)n, PCI_BDF_LEN, cmp_bdf);
	return n;
}

int pci_sysfs_devices(char (*bdfs)[PCI_BDF_LEN], int max)
{
	return list_bdfs("bus/pci/devices", bdfs, max);
}

int pci_sysfs_group_devices(int group, char (*bdfs)[PCI_BDF_LEN], int max)
{
	char rel[PATH_MAX];
	int ret = rel_path(rel, "kernel/iommu_groups/%d/devices", group);
	return ret < 0 ? ret : list_bdfs(rel, bdfs, max);
}

/* The steps of binding and restoring. Each fills why on failure, so the
 * public functions log exactly one line. */
struct why {
	char text[192];
};

static int __attribute__((format(printf, 3, 4))) fail(struct why *w, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->text, sizeof(w->text), fmt, ap);
	va_end(ap);
	return err;
}

static int unbind_from(const char *bdf, const char *drv, struct why *w)
{
	char rel[PATH_MAX];
	int ret = rel_path(rel, "bus/pci/drivers/%s/unbind", drv);
	if (ret == 0)
		ret = write_rel(rel, bdf);
	return ret < 0 ? fail(w, ret, "cannot unbind it from %s: %s", drv, strerror(-ret)) : 0;
}

static int set_override(const char *bdf, const char *drv, struct why *w)
{
	int ret = pci_sysfs_write(bdf, "driver_override", drv[0] ? drv : "\n");
	if (ret < 0)
		return fail(w, ret, "cannot %s driver_override%s%s: %s", drv[0] ? "set" : "clear",
			    drv[0] ? " to " : "", drv, strerror(-ret));
	return 0;
}

/* drivers_probe, then the driver link must name want. */
static int probe_for(const char *bdf, const char *want, struct why *w)
{
	char now[PCI_DRIVER_LEN];
	int ret = write_rel("bus/pci/drivers_probe", bdf);
	if (ret < 0)
		return fail(w, ret, "drivers_probe: %s", strerror(-ret));
	ret = pci_sysfs_driver(bdf, now, sizeof(now));
	if (ret < 0)
		return fail(w, ret, "cannot read its driver: %s", strerror(-ret));
	if (strcmp(now, want) != 0)
		return fail(w, -ENODEV, "%s did not take it (driver now: %s; the kernel log says why)",
			    want, now[0] ? now : "none");
	return 0;
}

static int restore(const char *bdf, const char *old, struct why *w)
{
	char cur[PCI_DRIVER_LEN];
	int ret = pci_sysfs_driver(bdf, cur, sizeof(cur));
	if (ret < 0)
		return fail(w, ret, "%s", ret == -ENOENT ? "no such PCI device" : strerror(-ret));
	bool change = strcmp(cur, old) != 0;
	if (change && cur[0] && (ret = unbind_from(bdf, cur, w)) < 0)
		return ret;
	if (!change || !old[0])
		return set_override(bdf, "", w);
	/* Probe with the override naming the old driver: a VF whose PF has
	 * sriov_drivers_autoprobe off is probed only with an override. Then
	 * clear it; the binding stays. If the old driver refuses, the device
	 * is probed once more without an override (whatever matches takes it). */
	if ((ret = set_override(bdf, old, w)) < 0)
		return ret;
	ret = probe_for(bdf, old, w);
	struct why ignored;
	int cleared = set_override(bdf, "", ret < 0 ? &ignored : w);
	if (ret < 0) {
		write_rel("bus/pci/drivers_probe", bdf);
		return ret;
	}
	return cleared;
}

int pci_sysfs_bind(const char *bdf, const char *drv)
{
	char cur[PCI_DRIVER_LEN];
	struct why w = {""}, ignored;
	int ret = pci_sysfs_driver(bdf, cur, sizeof(cur));
	if (ret < 0) {
		log_error("%s: %s", bdf, ret == -ENOENT ? "no such PCI device" : strerror(-ret));
		return ret;
	}
	if ((ret = set_override(bdf, drv, &w)) < 0)
		goto out;
	if (strcmp(cur, drv) != 0 &&
	    ((cur[0] && (ret = unbind_from(bdf, cur, &w)) < 0) || (ret = probe_for(bdf, drv, &w)) < 0))
		restore(bdf, cur, &ignored); /* back to where it was, best effort */
out:
	if (ret < 0)
		log_error("%s: binding to %s: %s", bdf, drv, w.text);
	return ret;
}

int pci_sysfs_unbind_restore(const char *bdf, const char *old_drv)
{
	struct why w = {""};
	int ret = restore(bdf, old_drv, &w);
	if (ret < 0)
		log_error("%s: %s", bdf, w.text);
	return ret;
}

/* The fd targets that mean "this group is in use": the group file and the
 * cdevs (/sys/bus/pci/devices/BDF/vfio-dev/vfioN) of its devices. */
#define GROUP_MAX_DEVS 64
struct vfio_targets {
	int n;
	char path[GROUP_MAX_DEVS + 1][40];
};

static void group_targets(int group, struct vfio_targets *t)
{
	char bdfs[GROUP_MAX_DEVS][PCI_BDF_LEN];
	snprintf(t->path[0], sizeof(t->path[0]), "/dev/vfio/%d", group);
	t->n = 1;
	int n = pci_sysfs_group_devices(group, bdfs, GROUP_MAX_DEVS);
	for (int i = 0; i < n; i++) {
		char rel[PATH_MAX];
		int err;
		DIR *d = dev_path(rel, bdfs[i], "vfio-dev") < 0 ? NULL : opendir_rel(rel, &err);
		if (!d)
			continue;
		const struct dirent *e;
		while ((e = readdir(d)) && t->n < GROUP_MAX_DEVS + 1)
			if (strncmp(e->d_name, "vfio", 4) == 0)
				snprintf(t->path[t->n++], sizeof(t->path[0]), "/dev/vfio/devices/%.20s",
					 e->d_name);
		closedir(d);
	}
}

/* Does process dir pidfd have one of the targets open? */
static bool holds_target(int pidfd, const struct vfio_targets *t)
{
	int err, fd = openat(pidfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dir_of(fd < 0 ? -errno : fd, &err);
	if (!d)
		return false;
	bool found = false;
	const struct dirent *e;
	while (!found && (e = readdir(d))) {
		char target[64];
		ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		for (int i = 0; i < t->n && !found; i++)
			found = strcmp(target, t->path[i]) == 0;
	}
	closedir(d);
	return found;
}

int vfio_group_user(int group, char *comm, size_t len)
{
	struct vfio_targets t = {0};
	group_targets(group, &t);
	int err;
	DIR *proc = dir_of(open_at_root(proc_root, ".", O_RDONLY | O_DIRECTORY), &err);
	if (!proc)
		return err;
	int pid = 0;
	const struct dirent *e;
	while (!pid && (e = readdir(proc))) {
		char *end;
		long p = strtol(e->d_name, &end, 10);
		if (*end || p <= 0 || p > INT_MAX || p == getpid())
			continue;
		int pidfd = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pidfd < 0)
			continue;
		if (holds_target(pidfd, &t)) {
			pid = (int)p;
			int cfd = openat(pidfd, "comm", O_RDONLY | O_CLOEXEC);
			ssize_t n = cfd < 0 ? -1 : read(cfd, comm, len - 1);
			comm[n > 0 ? n : 0] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			if (cfd >= 0)
				close(cfd);
		}
		close(pidfd);
	}
	closedir(proc);
	return pid;
}
