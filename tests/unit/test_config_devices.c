/* --disk / --net / --console spec parsing (src/vmm/config_devices.c): every
 * option in its good forms and defaults, and the bad specs a user can type —
 * each refused with -EINVAL (and one line on stderr). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "machine/config_devices.h"

static struct disk_config disk;
static struct nic_config nic;
static struct console_config con;

static void expect_bad_disk(const char *spec)
{
	int ret = config_parse_disk(spec, &disk);
	if (ret != -EINVAL)
		fail_msg("config_parse_disk(\"%.80s\") = %d, want -EINVAL", spec, ret);
}

static void expect_bad_nic(const char *spec)
{
	int ret = config_parse_nic(spec, &nic);
	if (ret != -EINVAL)
		fail_msg("config_parse_nic(\"%.80s\") = %d, want -EINVAL", spec, ret);
}

static void expect_bad_console(const char *spec)
{
	int ret = config_parse_console(spec, &con);
	if (ret != -EINVAL)
		fail_msg("config_parse_console(\"%.80s\") = %d, want -EINVAL", spec, ret);
}

/* ---- --disk ------------------------------------------------------------- */

static void test_disk_defaults(void **state)
{
	memset(&disk, 0xa5, sizeof(disk));
	assert_int_equal(config_parse_disk("disk.img", &disk), 0);
	assert_string_equal(disk.path, "disk.img");
	assert_false(disk.readonly);
	assert_string_equal(disk.serial, "");
	assert_int_equal(disk.model, DISK_VIRTIO);
	assert_int_equal(disk.cache, BLK_CACHE_WRITEBACK);
	assert_int_equal(disk.engine, BLK_ENGINE_AUTO);
	assert_int_equal(disk.queues, 0);
	assert_false(disk.no_merge);
	assert_false(disk.no_shadow_doorbells);
}

/* vhost-user=SOCKET[,reconnect=SECONDS]: the backend owns every other option. */
static void test_disk_vhost_user(void **state)
{
	memset(&disk, 0xa5, sizeof(disk));
	assert_int_equal(config_parse_disk("vhost-user=/run/vub.sock", &disk), 0);
	assert_true(disk.vhost_user);
	assert_int_equal(disk.reconnect_s, 1); /* by default: again every second */
	assert_string_equal(disk.path, "/run/vub.sock");
	assert_int_equal(config_parse_disk("vhost-user=/run/vub.sock,reconnect=0", &disk), 0);
	assert_int_equal(disk.reconnect_s, 0);
	assert_string_equal(disk.path, "/run/vub.sock");
	assert_int_equal(config_parse_disk("vhost-user=/run/vub.sock,reconnect=30", &disk), 0);
	assert_int_equal(disk.reconnect_s, 30);
	expect_bad_disk("vhost-user=/run/vub.sock,reconnect=");
	expect_bad_disk("vhost-user=/run/vub.sock,reconnect=3601");
	expect_bad_disk("vhost-user=/run/vub.sock,reconnect=-1");
	expect_bad_disk("vhost-user=/run/vub.sock,reconnect");
	expect_bad_disk("vhost-user=/run/vub.sock,reconnect=1,readonly");
	/* Too long to hold whole: refused, not read cut short (the first 53
	 * digits alone would be a valid 1). */
	expect_bad_disk("vhost-user=/run/vub.sock,reconnect="
			"0000000000000000000000000000000000000000000000000000100000");
	assert_string_equal(disk.path, "/run/vub.sock");
	assert_false(disk.readonly);
	assert_int_equal(config_parse_disk("vhost-user.img", &disk), 0); /* a file named so */
	assert_false(disk.vhost_user);
	expect_bad_disk("vhost-user=");
	expect_bad_disk("vhost-user=,readonly");
	expect_bad_disk("vhost-user=/run/vub.sock,readonly");
	expect_bad_disk("vhost-user=/run/vub.sock,queues=2");
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath));
	memcpy(longpath, "vhost-user=/", 12);
	longpath[11 + 108] = '\0'; /* 108 bytes of path: no room for sun_path's NUL */
	expect_bad_disk(longpath);
	longpath[11 + 107] = '\0';
	assert_int_equal(config_parse_disk(longpath, &disk), 0);
}

static void test_disk_all_options(void **state)
{
	assert_int_equal(config_parse_disk("/var/img/root.raw,readonly,serial=ABCDEFGHIJ0123456789,"
					   "cache=none,if=nvme,aio=threads,queues=64",
					   &disk),
			 0);
	assert_string_equal(disk.path, "/var/img/root.raw");
	assert_true(disk.readonly);
	assert_string_equal(disk.serial, "ABCDEFGHIJ0123456789"); /* exactly 20 */
	assert_int_equal(disk.cache, BLK_CACHE_NONE);
	assert_int_equal(disk.model, DISK_NVME);
	assert_int_equal(disk.engine, BLK_ENGINE_THREADS);
	assert_int_equal(disk.queues, 64);

	assert_int_equal(config_parse_disk("d,cache=writeback,if=virtio,aio=io_uring,queues=1,serial=x",
					   &disk),
			 0);
	assert_int_equal(disk.cache, BLK_CACHE_WRITEBACK);
	assert_int_equal(disk.model, DISK_VIRTIO);
	assert_int_equal(disk.engine, BLK_ENGINE_URING);
	assert_int_equal(disk.queues, 1);
	assert_string_equal(disk.serial, "x");
	assert_false(disk.readonly);

	assert_int_equal(config_parse_disk("d,merge=off", &disk), 0);
	assert_true(disk.no_merge);
	assert_false(disk.boot);
	assert_int_equal(config_parse_disk("d,if=ide,boot=on", &disk), 0);
	assert_true(disk.boot);
	assert_int_equal(config_parse_disk("d,boot=off", &disk), 0);
	assert_false(disk.boot);
	assert_int_equal(config_parse_disk("d,merge=on", &disk), 0);
	assert_false(disk.no_merge);
	assert_int_equal(config_parse_disk("d,if=nvme,shadow-doorbells=off", &disk), 0);
	assert_true(disk.no_shadow_doorbells);
	assert_int_equal(config_parse_disk("d,if=ide,readonly", &disk), 0);
	assert_int_equal(disk.model, DISK_IDE);
	assert_true(disk.readonly);

	/* A second parse starts from scratch. */
	assert_int_equal(config_parse_disk("other.img", &disk), 0);
	assert_string_equal(disk.serial, "");
	assert_int_equal(disk.queues, 0);
}

static void test_disk_bad(void **state)
{
	expect_bad_disk("");
	expect_bad_disk("disk.img,bogus");
	expect_bad_disk("disk.img,bogus=1");
	expect_bad_disk("disk.img,readonly=yes");       /* a flag takes no value */
	expect_bad_disk("disk.img,serial");             /* needs a value */
	expect_bad_disk("disk.img,serial=ABCDEFGHIJ01234567890"); /* 21 > 20 */
	expect_bad_disk("disk.img,cache=unsafe");
	expect_bad_disk("disk.img,cache");
	expect_bad_disk("disk.img,if=scsi");
	expect_bad_disk("disk.img,if=ide,queues=2");    /* one command per channel */
	expect_bad_disk("disk.img,aio=native");
	expect_bad_disk("disk.img,queues=0");
	expect_bad_disk("disk.img,queues=65");
	expect_bad_disk("disk.img,queues=-1");
	expect_bad_disk("disk.img,queues=4x");
	expect_bad_disk("disk.img,queues=");
	expect_bad_disk("disk.img,queues=99999999999999999999999");
	expect_bad_disk("disk.img,queues");
	expect_bad_disk("disk.img,Readonly");           /* options are case-sensitive */
	expect_bad_disk("disk.img,merge=no");
	expect_bad_disk("disk.img,merge");
	expect_bad_disk("disk.img,if=nvme,merge=off");  /* virtio only */
	expect_bad_disk("disk.img,boot=yes");
	expect_bad_disk("disk.img,boot");
	expect_bad_disk("disk.img,shadow-doorbells=off"); /* NVMe only */
}

static void test_disk_spec_too_long(void **state)
{
	/* Longer than the parser's buffer: refused, not truncated. */
	static char spec[CONFIG_PATH_MAX + 1024];
	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	expect_bad_disk(spec);
}

/* A path that does not fit disk_config.path must be refused: silently
 * truncating it would open a different file. */
static void test_disk_path_too_long(void **state)
{
	static char spec[CONFIG_PATH_MAX + 100];
	memset(spec, 'p', CONFIG_PATH_MAX + 50);
	spec[CONFIG_PATH_MAX + 50] = '\0';
	int ret = config_parse_disk(spec, &disk);
	if (ret == 0)
		fail_msg("a %d-character path was accepted as \"%.20s...\" (%zu characters)",
			 CONFIG_PATH_MAX + 50, disk.path, strlen(disk.path));
	assert_int_equal(ret, -EINVAL);

	/* The longest path that fits is fine. */
	memset(spec, 'p', CONFIG_PATH_MAX - 1);
	spec[CONFIG_PATH_MAX - 1] = '\0';
	assert_int_equal(config_parse_disk(spec, &disk), 0);
	assert_int_equal(strlen(disk.path), CONFIG_PATH_MAX - 1);
}

/* ",readonly" has no image path: it must not become a disk named "readonly". */
static void test_disk_missing_path(void **state)
{
	int ret = config_parse_disk(",readonly", &disk);
	if (ret == 0)
		fail_msg("\",readonly\" parsed with path \"%s\"", disk.path);
	assert_int_equal(ret, -EINVAL);
	expect_bad_disk(",");
}

/* ---- --net ---------------------------------------------------------------- */

static void test_nic_good(void **state)
{
	assert_int_equal(config_parse_nic("user", &nic), 0);
	assert_int_equal(nic.backend.kind, NET_USER);
	assert_false(nic.mac_set);
	assert_int_equal(nic.model, NIC_VIRTIO);

	assert_int_equal(config_parse_nic("tap=tap0,mac=52:54:00:12:34:56,model=e1000", &nic), 0);
	assert_int_equal(nic.backend.kind, NET_TAP);
	assert_string_equal(nic.backend.ifname, "tap0");
	assert_true(nic.mac_set);
	static const uint8_t want[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	assert_memory_equal(nic.mac, want, 6);
	assert_int_equal(nic.model, NIC_E1000);

	/* Order does not matter; upper-case hex is fine. */
	assert_int_equal(config_parse_nic("model=virtio,mac=02:AB:cd:EF:00:01,user,"
					  "hostfwd=tcp::2222-:22",
					  &nic),
			 0);
	assert_int_equal(nic.backend.kind, NET_USER);
	assert_int_equal(nic.backend.n_hostfwd, 1);
	static const uint8_t want2[6] = {0x02, 0xab, 0xcd, 0xef, 0x00, 0x01};
	assert_memory_equal(nic.mac, want2, 6);
	assert_int_equal(nic.model, NIC_VIRTIO);

	/* A fresh parse forgets the previous MAC. */
	assert_int_equal(config_parse_nic("user", &nic), 0);
	assert_false(nic.mac_set);
	assert_int_equal(nic.queues, 0);

	/* Multiqueue virtio-net on a tap; one queue is allowed anywhere. */
	assert_int_equal(config_parse_nic("tap=tap0,queues=4", &nic), 0);
	assert_int_equal(nic.queues, 4);
	assert_int_equal(config_parse_nic("user,queues=1", &nic), 0);
	assert_int_equal(nic.queues, 1);
	assert_int_equal(config_parse_nic("tap=tap0,queues=16,model=virtio", &nic), 0);
	assert_int_equal(nic.queues, 16);
	assert_false(nic.vhost);

	/* vhost-net on a tap, with or without more pairs; off is the default. */
	assert_int_equal(config_parse_nic("tap=tap0,vhost=on", &nic), 0);
	assert_true(nic.vhost);
	assert_int_equal(config_parse_nic("tap=tap0,queues=2,vhost=on,model=virtio", &nic), 0);
	assert_true(nic.vhost);
	assert_int_equal(nic.queues, 2);
	assert_int_equal(config_parse_nic("tap=tap0,vhost=off", &nic), 0);
	assert_false(nic.vhost);
	assert_int_equal(config_parse_nic("user,vhost=off", &nic), 0);
	assert_false(nic.vhost);
}

static void test_nic_bad(void **state)
{
	expect_bad_nic("");
	expect_bad_nic("mac=52:54:00:12:34:56");          /* no backend */
	expect_bad_nic("user,bogus");
	expect_bad_nic("user,speed=1000");
	expect_bad_nic("user,model=rtl8139");
	expect_bad_nic("user,model");
	expect_bad_nic("user,mac");
	expect_bad_nic("user,mac=");
	expect_bad_nic("user,mac=52:54:00:12:34");         /* five bytes */
	expect_bad_nic("user,mac=52:54:00:12:34:56:78");   /* seven bytes */
	expect_bad_nic("user,mac=52:54:00:12:34:5g");
	expect_bad_nic("user,mac=52:54:00:12:34:100");     /* a byte > 0xff */
	expect_bad_nic("user,mac=52-54-00-12-34-56");
	expect_bad_nic("user,mac=01:00:5e:00:00:01");      /* multicast */
	expect_bad_nic("user,mac=ff:ff:ff:ff:ff:ff");      /* broadcast */
	expect_bad_nic("user,mac=03:00:00:00:00:00");      /* group bit with local bit */
	expect_bad_nic("user,tap=tap0");                   /* two backends */
	expect_bad_nic("tap");
	expect_bad_nic("tap=tap0,queues=0");
	expect_bad_nic("tap=tap0,queues=17");              /* past VIRTIO_NET_MAX_QUEUE_PAIRS */
	expect_bad_nic("tap=tap0,queues=2x");
	expect_bad_nic("tap=tap0,queues");
	expect_bad_nic("user,queues=2");                   /* slirp has one queue */
	expect_bad_nic("tap=tap0,queues=2,model=e1000");   /* the e1000 has one */
	expect_bad_nic("user,vhost=on");                   /* slirp runs in the VMM */
	expect_bad_nic("tap=tap0,vhost=on,model=e1000");   /* emulated in the VMM */
	expect_bad_nic("tap=tap0,vhost=yes");
	expect_bad_nic("tap=tap0,vhost");
	expect_bad_nic("tap=tap0,vhost=");
}

/* ---- --console ------------------------------------------------------------ */

static void test_console_good(void **state)
{
	assert_int_equal(config_parse_console("virtio", &con), 0);
	assert_true(con.virtio);
	assert_string_equal(con.socket, "");

	assert_int_equal(config_parse_console("virtio,socket=/run/iovirt/con.sock", &con), 0);
	assert_true(con.virtio);
	assert_string_equal(con.socket, "/run/iovirt/con.sock");

	/* The longest path a sockaddr_un holds (107 + NUL). */
	char spec[160], path[108];
	memset(path, 's', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(spec, sizeof(spec), "virtio,socket=%s", path);
	assert_int_equal(config_parse_console(spec, &con), 0);
	assert_string_equal(con.socket, path);
}

static void test_console_bad(void **state)
{
	expect_bad_console("");
	expect_bad_console("serial");
	expect_bad_console("virtio-console");
	expect_bad_console("socket=/tmp/x");
	expect_bad_console("virtio,socket");
	expect_bad_console("virtio,socket=");
	expect_bad_console("virtio,bogus");
	expect_bad_console("virtio,bogus=1");

	char spec[200], path[109];
	memset(path, 's', sizeof(path) - 1); /* 108 characters: no room for NUL */
	path[sizeof(path) - 1] = '\0';
	snprintf(spec, sizeof(spec), "virtio,socket=%s", path);
	expect_bad_console(spec);

	static char huge[1024];
	memset(huge, 'v', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	expect_bad_console(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_defaults),
		cmocka_unit_test(test_disk_all_options),
		cmocka_unit_test(test_disk_vhost_user),
		cmocka_unit_test(test_disk_bad),
		cmocka_unit_test(test_disk_spec_too_long),
		cmocka_unit_test(test_disk_path_too_long),
		cmocka_unit_test(test_disk_missing_path),
		cmocka_unit_test(test_nic_good),
		cmocka_unit_test(test_nic_bad),
		cmocka_unit_test(test_console_good),
		cmocka_unit_test(test_console_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
