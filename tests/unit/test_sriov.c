/* SR-IOV management against a fake /sys: listing, enabling (0 first when a
 * non-zero count changes, autoprobe, limits, VFs in use), VF index → BDF,
 * vfio-pci binding with the old driver recorded and restored, modprobe, the
 * root check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cmd/commands.h"
#include "support/fake_sysfs.h"
#include "vfio/sriov.h"

#define PF "0000:01:00.0"
#define NUMVFS "bus/pci/devices/" PF "/sriov_numvfs="
#define AUTOPROBE "bus/pci/devices/" PF "/sriov_drivers_autoprobe="

static int setup(void **state)
{
	*state = fake_sysfs_create();
	return 0;
}

static int teardown(void **state)
{
	fake_sysfs_destroy(*state);
	return 0;
}

/* What sriov_list or sriov_set_numvfs printed. */
struct out {
	char *text;
	size_t len;
	FILE *fp;
};

static FILE *out_open(struct out *o)
{
	o->fp = open_memstream(&o->text, &o->len);
	assert_non_null(o->fp);
	return o->fp;
}

static const char *out_close(struct out *o)
{
	fclose(o->fp);
	return o->text;
}

static void enable_ok(struct fake_sysfs *f, unsigned n, bool autoprobe)
{
	fake_err_begin(f);
	assert_int_equal(sriov_set_numvfs(PF, n, autoprobe, NULL), 0);
	fake_err_end(f, NULL);
}

static void test_list(void **state)
{
	struct fake_sysfs *f = *state;
	struct out o;
	assert_int_equal(sriov_list(out_open(&o)), 0);
	assert_string_equal(out_close(&o), PF "  driver nvme  totalvfs 2  numvfs 0\n");
	free(o.text);

	enable_ok(f, 2, false);
	assert_int_equal(sriov_bind_vfio("01:00.1"), 0);
	fake_proc_user(f, 4242, "iovirt\n", "/dev/vfio/20");
	assert_int_equal(sriov_list(out_open(&o)), 0);
	out_close(&o);
	assert_non_null(strstr(o.text, PF "  driver nvme  totalvfs 2  numvfs 2\n"));
	assert_non_null(strstr(o.text, "    0    0000:01:00.1  vfio-pci      20     iovirt pid 4242\n"));
	assert_non_null(strstr(o.text, "    1    0000:01:00.2  -             21     -\n"));
	free(o.text);

	/* No capable device at all. */
	fake_remove(f, "sys/bus/pci/devices");
	fake_mkdir(f, "sys/bus/pci/devices");
	assert_int_equal(sriov_list(out_open(&o)), 0);
	assert_string_equal(out_close(&o), "no SR-IOV capable devices\n");
	free(o.text);
}

static void test_enable(void **state)
{
	struct fake_sysfs *f = *state;
	struct out o;
	assert_int_equal(sriov_set_numvfs(PF, 2, false, out_open(&o)), 0);
	assert_string_equal(out_close(&o), PF ": 2 VFs (not probed by host drivers)\n"
					   "  VF 0  0000:01:00.1\n  VF 1  0000:01:00.2\n");
	free(o.text);
	/* From 0: no write of 0 first; autoprobe off, so the VFs stay unbound. */
	fake_assert_writes(f, 2, AUTOPROBE "0", NUMVFS "2");
	assert_string_equal(fake_read(f, "sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe"), "0");
	assert_false(fake_has(f, "sys/bus/pci/devices/0000:01:00.1/driver"));

	/* A non-zero count changes through 0. */
	enable_ok(f, 1, true);
	fake_assert_writes(f, 3, AUTOPROBE "1", NUMVFS "0", NUMVFS "1");
	assert_true(fake_has(f, "sys/bus/pci/devices/0000:01:00.1/driver"));
	assert_false(fake_has(f, "sys/bus/pci/devices/0000:01:00.2"));

	/* The same count: nothing written. */
	assert_int_equal(sriov_set_numvfs(PF, 1, false, out_open(&o)), 0);
	assert_string_equal(out_close(&o), PF ": 1 VF (already enabled)\n  VF 0  0000:01:00.1\n");
	free(o.text);
	fake_assert_writes(f, 0);

	/* Disable: only 0, autoprobe untouched. */
	assert_int_equal(sriov_set_numvfs("01:00.0", 0, false, out_open(&o)), 0);
	assert_string_equal(out_close(&o), PF ": SR-IOV disabled\n");
	free(o.text);
	fake_assert_writes(f, 1, NUMVFS "0");
}

static void test_enable_errors(void **state)
{
	struct fake_sysfs *f = *state;
	static const struct {
		const char *pf;
		unsigned n;
		int ret;
		const char *msg;
	} cases[] = {
		{PF, 3, -ERANGE, "PF " PF " supports at most 2 VFs (asked for 3)"},
		{"00:03.0", 1, -ENOENT, "PF 0000:00:03.0 is not SR-IOV capable (no sriov_totalvfs)"},
		{"0000:ff:1f.7", 2, -ENOENT, "0000:ff:1f.7: no such PCI device"},
		{"zz", 2, -EINVAL, "zz: not a PCI address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_err_begin(f);
		assert_int_equal(sriov_set_numvfs(cases[i].pf, cases[i].n, false, NULL), cases[i].ret);
		fake_err_end(f, cases[i].msg);
	}
	sriov_set_euid(1000);
	fake_err_begin(f);
	assert_int_equal(sriov_set_numvfs(PF, 2, false, NULL), -EPERM);
	fake_err_end(f, "sriov: needs root");
	sriov_set_euid(0);
	fake_assert_writes(f, 0);

	/* A VF that would disappear is in use: refused, naming VF and pid. */
	enable_ok(f, 2, false);
	fake_proc_user(f, 4242, "iovirt\n", "/dev/vfio/21");
	fake_clear_writes(f);
	const unsigned counts[] = {0, 1};
	for (size_t i = 0; i < 2; i++) {
		fake_err_begin(f);
		assert_int_equal(sriov_set_numvfs(PF, counts[i], false, NULL), -EBUSY);
		fake_err_end(f, "VF 1 (0000:01:00.2) of " PF " is in use by iovirt pid 4242");
	}
	fake_assert_writes(f, 0);
}

static void test_vf_bdf(void **state)
{
	struct fake_sysfs *f = *state;
	char vf[PCI_BDF_LEN];
	fake_err_begin(f);
	assert_int_equal(sriov_vf_bdf(PF, 0, vf), -ENOENT);
	fake_err_end(f, "VF 0 of " PF " does not exist (0 VFs enabled)");
	enable_ok(f, 2, false);
	assert_int_equal(sriov_vf_bdf("01:00.0", 1, vf), 0);
	assert_string_equal(vf, "0000:01:00.2");
	assert_int_equal(sriov_vf_bdf(PF, 0, vf), 0);
	assert_string_equal(vf, "0000:01:00.1");
	fake_err_begin(f);
	assert_int_equal(sriov_vf_bdf(PF, 5, vf), -ENOENT);
	fake_err_end(f, "VF 5 of " PF " does not exist (2 VFs enabled)");
	fake_err_begin(f);
	assert_int_equal(sriov_vf_bdf("00:03.0", 0, vf), -ENOENT);
	fake_err_end(f, "not SR-IOV capable");
}

#define REC "state/pci-drivers/0000:00:03.0"
#define D3 "bus/pci/devices/0000:00:03.0/"

static void test_bind_vfio(void **state)
{
	struct fake_sysfs *f = *state;
	assert_int_equal(sriov_bind_vfio("00:03.0"), 0);
	fake_assert_writes(f, 3, D3 "driver_override=vfio-pci",
			   "bus/pci/drivers/virtio-pci/unbind=0000:00:03.0",
			   "bus/pci/drivers_probe=0000:00:03.0");
	assert_string_equal(fake_read(f, REC), "virtio-pci\n");

	/* Again: a no-op that keeps the record. */
	assert_int_equal(sriov_bind_vfio("0000:00:03.0"), 0);
	fake_assert_writes(f, 0);
	assert_string_equal(fake_read(f, REC), "virtio-pci\n");

	/* In use: refused. */
	fake_proc_user(f, 99, "iovirt\n", "/dev/vfio/3");
	fake_err_begin(f);
	assert_int_equal(sriov_unbind_vfio("00:03.0"), -EBUSY);
	fake_err_end(f, "0000:00:03.0 is in use by iovirt pid 99");
	fake_remove(f, "proc/99");

	assert_int_equal(sriov_unbind_vfio("00:03.0"), 0);
	fake_assert_writes(f, 4, "bus/pci/drivers/vfio-pci/unbind=0000:00:03.0",
			   D3 "driver_override=virtio-pci", "bus/pci/drivers_probe=0000:00:03.0",
			   D3 "driver_override=\n");
	fake_assert_driver("0000:00:03.0", "virtio-pci");
	assert_false(fake_has(f, REC));
	assert_string_equal(fake_read(f, "sys/bus/pci/drivers/vfio-pci/unbind"), "0000:00:03.0");

	/* Not on vfio-pci: left alone. */
	assert_int_equal(sriov_unbind_vfio("00:03.0"), 0);
	fake_assert_writes(f, 0);

	/* On vfio-pci with no record: unbound, nothing probed. */
	assert_int_equal(sriov_unbind_vfio("00:06.0"), 0);
	fake_assert_writes(f, 2, "bus/pci/drivers/vfio-pci/unbind=0000:00:06.0",
			   "bus/pci/devices/0000:00:06.0/driver_override=\n");
	fake_assert_driver("0000:00:06.0", "");
}

static void test_bind_vfio_errors(void **state)
{
	struct fake_sysfs *f = *state;
	fake_err_begin(f);
	assert_int_equal(sriov_bind_vfio("00:05.0"), -ENODEV);
	fake_err_end(f, "0000:00:05.0 has no IOMMU group: enable the IOMMU (intel_iommu=on or "
			"amd_iommu=on on the kernel command line)");

	/* vfio-pci refuses it: back on e1000, no record left. */
	fake_err_begin(f);
	assert_int_equal(sriov_bind_vfio("00:04.0"), -ENODEV);
	fake_err_end(f, "0000:00:04.0: binding to vfio-pci: vfio-pci did not take it");
	assert_false(fake_has(f, "state/pci-drivers/0000:00:04.0"));

	fake_clear_writes(f);
	sriov_set_euid(1000);
	fake_err_begin(f);
	assert_int_equal(sriov_bind_vfio("00:03.0"), -EPERM);
	fake_err_end(f, "sriov: needs root");
	fake_err_begin(f);
	assert_int_equal(sriov_unbind_vfio("00:06.0"), -EPERM);
	fake_err_end(f, "sriov: needs root");
	sriov_set_euid(0);
	fake_assert_writes(f, 0);
}

/* vfio-pci not loaded: `modprobe vfio-pci` runs (a fake one, by its
 * absolute path: PATH does not choose it). */
static void test_modprobe(void **state)
{
	struct fake_sysfs *f = *state;
	char path[512], script[512];
	fake_remove(f, "sys/bus/pci/drivers/vfio-pci");
	fake_mkdir(f, "bin");
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n[ \"$1\" = vfio-pci ] || exit 3\n"
		 "/bin/mkdir %s/bus/pci/drivers/vfio-pci && : >%s/bus/pci/drivers/vfio-pci/unbind\n",
		 f->sys, f->sys);
	fake_file(f, "bin/modprobe", "#!/bin/sh\necho 'modprobe: FATAL: not found' >&2\nexit 1\n");
	snprintf(path, sizeof(path), "%s/bin/modprobe", f->dir);
	assert_int_equal(chmod(path, 0755), 0);
	sriov_set_modprobe(path);

	fake_err_begin(f);
	assert_int_equal(sriov_bind_vfio("00:03.0"), -ENODEV);
	fake_err_end(f, "vfio-pci: driver not loaded, and `modprobe vfio-pci` failed (status 1)");

	fake_file(f, "bin/modprobe", script);
	assert_int_equal(sriov_bind_vfio("00:03.0"), 0);
	assert_true(fake_has(f, "sys/bus/pci/drivers/vfio-pci"));
	fake_assert_writes(f, 3, D3 "driver_override=vfio-pci",
			   "bus/pci/drivers/virtio-pci/unbind=0000:00:03.0",
			   "bus/pci/drivers_probe=0000:00:03.0");

	sriov_set_modprobe("/sbin/modprobe");
}

static int cli(struct fake_sysfs *f, const char *want, int argc, ...)
{
	char *argv[8];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	fake_err_begin(f);
	int status = sriov_main(argc, argv);
	fake_err_end(f, want);
	return status;
}

static void test_cli(void **state)
{
	struct fake_sysfs *f = *state;
	assert_int_equal(cli(f, "sriov: missing subcommand", 1, "sriov"), 2);
	assert_int_equal(cli(f, "sriov frob: unknown subcommand", 2, "sriov", "frob"), 2);
	assert_int_equal(cli(f, "sriov enable: usage: iovirt sriov enable PF N [--autoprobe]", 3,
			     "sriov", "enable", PF), 2);
	assert_int_equal(cli(f, "sriov vf: usage", 5, "sriov", "vf", PF, "0", "1"), 2);
	assert_int_equal(cli(f, "sriov disable: --autoprobe: unknown option", 4, "sriov", "disable",
			     PF, "--autoprobe"), 2);
	assert_int_equal(cli(f, "N two: not a number from 0 to 65535", 4, "sriov", "enable", PF,
			     "two"), 1);
	assert_int_equal(cli(f, "INDEX -1: not a number", 4, "sriov", "vf", PF, "-1"), 1);
	assert_int_equal(cli(f, "zz: not a PCI address", 4, "sriov", "vf", "zz", "0"), 1);
	assert_int_equal(cli(f, "VF 0 of " PF " does not exist (0 VFs enabled)", 4, "sriov", "vf",
			     "01:00.0", "0"), 1);
	fake_assert_writes(f, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vf_bdf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_vfio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_vfio_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modprobe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
