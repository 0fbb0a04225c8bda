/* PCI sysfs helpers against a fake /sys and /proc: address normalization,
 * driver and IOMMU group lookup, group listing, who holds a VFIO group, and
 * the driver_override bind / restore sequence. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/fake_sysfs.h"
#include "vfio/pci_sysfs.h"

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

static void test_normalize(void **state)
{
	static const char *const good[][2] = {
		{"01:00.0", "0000:01:00.0"},     {"0000:01:00.0", "0000:01:00.0"},
		{"0000:AB:1F.7", "0000:ab:1f.7"}, {"1:2.3", "0000:01:02.3"},
		{"abcd:ff:00.1", "abcd:ff:00.1"}, {"0:0:0.0", "0000:00:00.0"},
	};
	static const char *const bad[] = {
		"", "zz", "01:00", "01:00.8", "01:20.0", "01:00.0 ", " 01:00.0", "0000:01:00.0:1",
		"00000:01:00.0", "+1:00.0", "01:000.0", "01::00.0", "1:2:3:4.0", "0000:01:00.",
		".0", "01:00.00", "g1:00.0", "0000:01:00.0/..",
	};
	char out[PCI_BDF_LEN];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(pci_bdf_normalize(good[i][0], out), 0);
		assert_string_equal(out, good[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pci_bdf_normalize(bad[i], out) != -EINVAL)
			fail_msg("'%s' accepted as %s", bad[i], out);
}

static void test_driver_and_group(void **state)
{
	char drv[PCI_DRIVER_LEN], link[64];
	unsigned v;
	assert_true(pci_sysfs_exists("0000:01:00.0"));
	assert_false(pci_sysfs_exists("0000:ff:1f.7"));
	assert_false(pci_sysfs_exists("../devices"));
	assert_int_equal(pci_sysfs_driver("0000:01:00.0", drv, sizeof(drv)), 0);
	assert_string_equal(drv, "nvme");
	assert_int_equal(pci_sysfs_driver("0000:ff:1f.7", drv, sizeof(drv)), -ENOENT);
	fake_add_dev(*state, "0000:00:07.0", NULL, NULL, -1);
	assert_int_equal(pci_sysfs_driver("0000:00:07.0", drv, sizeof(drv)), 0);
	assert_string_equal(drv, "");

	assert_int_equal(pci_sysfs_iommu_group("0000:01:00.0"), 11);
	assert_int_equal(pci_sysfs_iommu_group("0000:00:05.0"), -ENOENT);
	assert_int_equal(pci_sysfs_iommu_group("0000:ff:1f.7"), -ENOENT);

	assert_int_equal(pci_sysfs_read_uint("0000:01:00.0", "sriov_totalvfs", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(pci_sysfs_read_uint("0000:00:03.0", "sriov_totalvfs", &v), -ENOENT);
	assert_int_equal(pci_sysfs_read_uint("0000:00:03.0", "driver_override", &v), -EINVAL);
	assert_int_equal(pci_sysfs_link("0000:01:00.0", "virtfn0", link, sizeof(link)), -ENOENT);
	assert_int_equal(pci_sysfs_link("0000:00:03.0", "driver", link, 4), -ENAMETOOLONG);
}

static void test_group_devices(void **state)
{
	char bdfs[4][PCI_BDF_LEN];
	fake_mkdir(*state, "sys/kernel/iommu_groups/3/devices/not-a-bdf");
	assert_int_equal(pci_sysfs_group_devices(3, bdfs, 4), 2);
	assert_string_equal(bdfs[0], "0000:00:02.0");
	assert_string_equal(bdfs[1], "0000:00:03.0");
	assert_int_equal(pci_sysfs_group_devices(3, bdfs, 1), -E2BIG);
	assert_int_equal(pci_sysfs_group_devices(11, bdfs, 4), 1);
	assert_string_equal(bdfs[0], "0000:01:00.0");
	assert_int_equal(pci_sysfs_group_devices(99, bdfs, 4), -ENOENT);

	char all[16][PCI_BDF_LEN];
	assert_int_equal(pci_sysfs_devices(all, 16), 6);
	assert_string_equal(all[0], "0000:00:02.0");
	assert_string_equal(all[5], "0000:01:00.0");
}

static void test_group_user(void **state)
{
	struct fake_sysfs *f = *state;
	char comm[32];
	fake_mkdir(f, "proc/self/fd");
	fake_proc_user(f, 77, "bash\n", "/dev/pts/0");
	assert_int_equal(vfio_group_user(7, comm, sizeof(comm)), 0);
	fake_proc_user(f, 4242, "iovirt\n", "/dev/vfio/7");
	assert_int_equal(vfio_group_user(7, comm, sizeof(comm)), 4242);
	assert_string_equal(comm, "iovirt");
	assert_int_equal(vfio_group_user(70, comm, sizeof(comm)), 0);

	/* The iommufd cdev of a device in the group counts too. */
	fake_mkdir(f, "sys/bus/pci/devices/0000:00:03.0/vfio-dev/vfio3");
	assert_int_equal(vfio_group_user(3, comm, sizeof(comm)), 0);
	fake_proc_user(f, 555, "qemu-system-x86\n", "/dev/vfio/devices/vfio3");
	assert_int_equal(vfio_group_user(3, comm, sizeof(comm)), 555);
	assert_string_equal(comm, "qemu-system-x86");

	pci_sysfs_set_proc_root("/nonexistent-proc");
	assert_int_equal(vfio_group_user(3, comm, sizeof(comm)), -ENOENT);
}

#define D3 "bus/pci/devices/0000:00:03.0/"

static void test_bind(void **state)
{
	struct fake_sysfs *f = *state;
	assert_int_equal(pci_sysfs_bind("0000:00:03.0", "vfio-pci"), 0);
	fake_assert_writes(f, 3, D3 "driver_override=vfio-pci",
			   "bus/pci/drivers/virtio-pci/unbind=0000:00:03.0",
			   "bus/pci/drivers_probe=0000:00:03.0");
	fake_assert_driver("0000:00:03.0", "vfio-pci");

	/* Already bound: only the override is (re)written. */
	assert_int_equal(pci_sysfs_bind("0000:00:03.0", "vfio-pci"), 0);
	fake_assert_writes(f, 1, D3 "driver_override=vfio-pci");

	/* Back with the override naming it (a VF with autoprobe off needs
	 * that), then the override cleared. */
	assert_int_equal(pci_sysfs_unbind_restore("0000:00:03.0", "virtio-pci"), 0);
	fake_assert_writes(f, 4, "bus/pci/drivers/vfio-pci/unbind=0000:00:03.0",
			   D3 "driver_override=virtio-pci", "bus/pci/drivers_probe=0000:00:03.0",
			   D3 "driver_override=\n");
	fake_assert_driver("0000:00:03.0", "virtio-pci");

	/* No old driver: left unbound, nothing probed. */
	assert_int_equal(pci_sysfs_unbind_restore("0000:00:03.0", ""), 0);
	fake_assert_writes(f, 2, "bus/pci/drivers/virtio-pci/unbind=0000:00:03.0",
			   D3 "driver_override=\n");
	fake_assert_driver("0000:00:03.0", "");
}

static void test_bind_errors(void **state)
{
	struct fake_sysfs *f = *state;
	fake_err_begin(f);
	assert_int_equal(pci_sysfs_bind("0000:ff:1f.7", "vfio-pci"), -ENOENT);
	fake_err_end(f, "0000:ff:1f.7: no such PCI device");

	/* The driver refuses it: back on e1000, override cleared. */
	fake_err_begin(f);
	assert_int_equal(pci_sysfs_bind("0000:00:04.0", "vfio-pci"), -ENODEV);
	fake_err_end(f, "0000:00:04.0: binding to vfio-pci: vfio-pci did not take it (driver now: none");
	fake_assert_driver("0000:00:04.0", "e1000");
	assert_string_equal(fake_read(f, "sys/bus/pci/devices/0000:00:04.0/driver_override"), "\n");

	/* The unbind file is missing; then a driver that never takes it. */
	fake_remove(f, "sys/bus/pci/drivers/virtio-pci/unbind");
	fake_err_begin(f);
	assert_int_equal(pci_sysfs_unbind_restore("0000:00:03.0", "nosuch"), -ENOENT);
	fake_err_end(f, "0000:00:03.0: cannot unbind it from virtio-pci");
	fake_file(f, "sys/bus/pci/drivers/virtio-pci/unbind", "");
	fake_err_begin(f);
	assert_int_equal(pci_sysfs_unbind_restore("0000:00:03.0", "nosuch"), -ENODEV);
	fake_err_end(f, "0000:00:03.0: nosuch did not take it (driver now: none");
	/* Not left orphaned: probed again without the override. */
	fake_assert_driver("0000:00:03.0", "virtio-pci");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test_setup_teardown(test_driver_and_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
