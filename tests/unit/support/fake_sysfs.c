#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/fake_sysfs.h"
#include "vfio/pci_sysfs.h"
#include "vfio/sriov.h"

#define DEVS "sys/bus/pci/devices/"

static void vpath(struct fake_sysfs *f, char *out, size_t len, const char *fmt, va_list ap)
{
	char rel[512];
	vsnprintf(rel, sizeof(rel), fmt, ap);
	assert_true((size_t)snprintf(out, len, "%s/%s", f->dir, rel) < len);
}

static void path_of(struct fake_sysfs *f, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void path_of(struct fake_sysfs *f, char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vpath(f, out, len, fmt, ap);
	va_end(ap);
}

void fake_mkdir(struct fake_sysfs *f, const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vpath(f, path, sizeof(path), fmt, ap);
	va_end(ap);
	for (char *s = path + strlen(f->dir) + 1;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		if (!(*s = c))
			return;
	}
}

void fake_file(struct fake_sysfs *f, const char *rel, const char *content)
{
	char path[1024];
	path_of(f, path, sizeof(path), "%s", rel);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

void fake_link(struct fake_sysfs *f, const char *rel, const char *target)
{
	char path[1024];
	path_of(f, path, sizeof(path), "%s", rel);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

bool fake_has(struct fake_sysfs *f, const char *fmt, ...)
{
	char path[1024];
	struct stat st;
	va_list ap;
	va_start(ap, fmt);
	vpath(f, path, sizeof(path), fmt, ap);
	va_end(ap);
	return lstat(path, &st) == 0;
}

const char *fake_read(struct fake_sysfs *f, const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vpath(f, path, sizeof(path), fmt, ap);
	va_end(ap);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, f->buf, sizeof(f->buf) - 1);
	close(fd);
	f->buf[n > 0 ? n : 0] = '\0';
	return f->buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void fake_remove(struct fake_sysfs *f, const char *rel)
{
	char path[1024];
	path_of(f, path, sizeof(path), "%s", rel);
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fake_add_dev(struct fake_sysfs *f, const char *bdf, const char *drv, const char *native,
		  int group)
{
	char rel[256], target[128];
	fake_mkdir(f, DEVS "%s", bdf);
	snprintf(rel, sizeof(rel), DEVS "%s/driver_override", bdf);
	fake_file(f, rel, "(null)\n");
	snprintf(rel, sizeof(rel), DEVS "%s/fake_native", bdf);
	fake_file(f, rel, native ? native : "");
	if (drv) {
		snprintf(rel, sizeof(rel), DEVS "%s/driver", bdf);
		snprintf(target, sizeof(target), "../../drivers/%s", drv);
		fake_link(f, rel, target);
	}
	if (group >= 0) {
		fake_mkdir(f, "sys/kernel/iommu_groups/%d/devices/%s", group, bdf);
		snprintf(rel, sizeof(rel), DEVS "%s/iommu_group", bdf);
		snprintf(target, sizeof(target), "../../../../kernel/iommu_groups/%d", group);
		fake_link(f, rel, target);
	}
}

void fake_proc_user(struct fake_sysfs *f, int pid, const char *comm, const char *target)
{
	char rel[128];
	fake_mkdir(f, "proc/%d/fd", pid);
	snprintf(rel, sizeof(rel), "proc/%d/comm", pid);
	fake_file(f, rel, comm);
	snprintf(rel, sizeof(rel), "proc/%d/fd/0", pid);
	fake_link(f, rel, "/dev/null");
	snprintf(rel, sizeof(rel), "proc/%d/fd/9", pid);
	fake_link(f, rel, target);
}

/* The kernel's side of drivers_probe: the override, else the native driver. */
static void kernel_probe(struct fake_sysfs *f, const char *bdf)
{
	char drv[64], rel[256], target[128];
	if (fake_has(f, DEVS "%s/driver", bdf))
		return;
	const char *ovr = fake_read(f, DEVS "%s/driver_override", bdf);
	snprintf(drv, sizeof(drv), "%s", ovr && strcmp(ovr, "(null)\n") != 0 ? ovr : "");
	drv[strcspn(drv, "\n")] = '\0';
	if (!drv[0])
		snprintf(drv, sizeof(drv), "%s", fake_read(f, DEVS "%s/fake_native", bdf));
	if (!drv[0] || !fake_has(f, "sys/bus/pci/drivers/%s", drv))
		return;
	if (strcmp(drv, "vfio-pci") == 0 &&
	    (!fake_has(f, DEVS "%s/iommu_group", bdf) || fake_has(f, DEVS "%s/fake_refuse", bdf)))
		return;
	snprintf(rel, sizeof(rel), DEVS "%s/driver", bdf);
	snprintf(target, sizeof(target), "../../drivers/%s", drv);
	fake_link(f, rel, target);
}

static void kernel_set_vfs(struct fake_sysfs *f, const char *pf, unsigned n)
{
	char rel[256], vf[32];
	for (unsigned i = 0; i < 8; i++) {
		snprintf(rel, sizeof(rel), DEVS "%s/virtfn%u", pf, i);
		if (!fake_has(f, "%s", rel))
			continue;
		snprintf(vf, sizeof(vf), "%.11s%u", pf, i + 1);
		fake_remove(f, rel);
		snprintf(rel, sizeof(rel), DEVS "%s", vf);
		fake_remove(f, rel);
		snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u", 20 + i);
		fake_remove(f, rel);
	}
	const char *ap = fake_read(f, DEVS "%s/sriov_drivers_autoprobe", pf);
	bool probe = ap && ap[0] == '1';
	for (unsigned i = 0; i < n; i++) {
		snprintf(vf, sizeof(vf), "%.11s%u", pf, i + 1);
		fake_add_dev(f, vf, NULL, "nvme", (int)(20 + i));
		snprintf(rel, sizeof(rel), DEVS "%s/virtfn%u", pf, i);
		char target[48];
		snprintf(target, sizeof(target), "../%s", vf);
		fake_link(f, rel, target);
		if (probe)
			kernel_probe(f, vf);
	}
}

static void fake_kernel(const char *rel, const char *val, void *opaque)
{
	struct fake_sysfs *f = opaque;
	char bdf[PCI_BDF_LEN];
	assert_true(f->nwrites < FAKE_MAX_WRITES);
	snprintf(f->writes[f->nwrites++], sizeof(f->writes[0]), "%s=%s", rel, val);
	if (strcmp(rel, "bus/pci/drivers_probe") == 0) {
		kernel_probe(f, val);
	} else if (strncmp(rel, "bus/pci/drivers/", 16) == 0) { /* .../unbind */
		char link[256];
		snprintf(link, sizeof(link), DEVS "%s/driver", val);
		fake_remove(f, link);
	} else if (strstr(rel, "/sriov_numvfs")) {
		snprintf(bdf, sizeof(bdf), "%s", rel + strlen("bus/pci/devices/"));
		kernel_set_vfs(f, bdf, (unsigned)atoi(val));
	}
}

struct fake_sysfs *fake_sysfs_create(void)
{
	struct fake_sysfs *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/iovirt-sysfs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sys, sizeof(f->sys), "%s/sys", f->dir);
	snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state/pci-drivers", f->dir);
	fake_mkdir(f, "proc");
	static const char *const drivers[] = {"nvme", "virtio-pci", "e1000", "vfio-pci"};
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		char rel[128];
		fake_mkdir(f, "sys/bus/pci/drivers/%s", drivers[i]);
		snprintf(rel, sizeof(rel), "sys/bus/pci/drivers/%s/unbind", drivers[i]);
		fake_file(f, rel, "");
	}
	fake_file(f, "sys/bus/pci/drivers_probe", "");
	fake_add_dev(f, "0000:01:00.0", "nvme", "nvme", 11);
	fake_file(f, DEVS "0000:01:00.0/sriov_totalvfs", "2\n");
	fake_file(f, DEVS "0000:01:00.0/sriov_numvfs", "0\n");
	fake_file(f, DEVS "0000:01:00.0/sriov_drivers_autoprobe", "1\n");
	fake_add_dev(f, "0000:00:03.0", "virtio-pci", "virtio-pci", 3);
	fake_add_dev(f, "0000:00:02.0", "virtio-pci", "virtio-pci", 3);
	fake_add_dev(f, "0000:00:04.0", "e1000", "e1000", 4);
	fake_file(f, DEVS "0000:00:04.0/fake_refuse", "");
	fake_add_dev(f, "0000:00:05.0", "e1000", "e1000", -1);
	fake_add_dev(f, "0000:00:06.0", "vfio-pci", "e1000", 6);

	pci_sysfs_set_root(f->sys);
	pci_sysfs_set_proc_root(f->proc);
	pci_sysfs_set_write_hook(fake_kernel, f);
	sriov_set_state_dir(f->state);
	sriov_set_euid(0);
	return f;
}

void fake_sysfs_destroy(struct fake_sysfs *f)
{
	/* Nothing may reach the real /sys after a test. */
	pci_sysfs_set_root("/nonexistent-sys");
	pci_sysfs_set_proc_root("/nonexistent-proc");
	pci_sysfs_set_write_hook(NULL, NULL);
	sriov_set_euid(-1);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
}

void fake_clear_writes(struct fake_sysfs *f) { f->nwrites = 0; }

void fake_assert_writes(struct fake_sysfs *f, int n, ...)
{
	va_list ap;
	va_start(ap, n);
	assert_int_equal(f->nwrites, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(f->writes[i], va_arg(ap, const char *));
	va_end(ap);
	f->nwrites = 0;
}

void fake_assert_driver(const char *bdf, const char *want)
{
	char drv[PCI_DRIVER_LEN];
	assert_int_equal(pci_sysfs_driver(bdf, drv, sizeof(drv)), 0);
	assert_string_equal(drv, want);
}

void fake_err_begin(struct fake_sysfs *f)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/stderr.txt", f->dir);
	fflush(stderr);
	f->saved_err = dup(2);
	f->err_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(f->saved_err >= 0 && f->err_fd >= 0);
	dup2(f->err_fd, 2);
}

void fake_err_end(struct fake_sysfs *f, const char *want)
{
	fflush(stderr);
	dup2(f->saved_err, 2);
	close(f->saved_err);
	ssize_t n = pread(f->err_fd, f->err, sizeof(f->err) - 1, 0);
	close(f->err_fd);
	f->err[n > 0 ? n : 0] = '\0';
	if (!want) {
		assert_string_equal(f->err, "");
		return;
	}
	const char *nl = strchr(f->err, '\n');
	if (!strstr(f->err, want) || !nl || nl[1])
		fail_msg("stderr was \"%s\", want one line with \"%s\"", f->err, want);
}
