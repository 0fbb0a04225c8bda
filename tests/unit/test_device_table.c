/* The table of device kinds (machine/device_table.c) and what reads it:
 * each option entry picks exactly one kind, instance names, and the
 * --counters report of the machine's device list (a fake device, through
 * machine_counters and the printer of cmd/counters_print.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/counters_print.h"
#include "core/device.h"
#include "machine/device_table.h"
#include "machine/machine.h"

static void test_rows_are_complete_and_unique(void **state)
{
	(void)state;
	assert_true(device_nkinds >= 13);
	for (unsigned i = 0; i < device_nkinds; i++) {
		const struct device_kind *k = &device_kinds[i];
		assert_non_null(k->name);
		assert_non_null(k->summary);
		assert_non_null(k->create);
		assert_true(strlen(k->name) < DEVICE_ID_MAX - 4);
		assert_ptr_equal(device_kind_find(k->name), k);
		/* Fixed devices come first: the machine creates them before the bus. */
		if (i > 0 && !k->option)
			assert_null(device_kinds[i - 1].option);
	}
	assert_null(device_kind_find("floppy"));
	static const char *const wanted[] = {
		"virtio-blk", "nvme", "vhost-user-blk", "virtio-net", "e1000", "virtio-console",
		"virtio-rng", "vfio-pci", "serial", "i8042", "rtc", "acpi-pm", "pvpanic",
		"debug-port",
	};
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!device_kind_find(wanted[i]))
			fail_msg("no row for %s", wanted[i]);
}

/* The kind a --disk or --net entry gets: exactly one row wants it. */
static const struct device_kind *kind_for(const char *option, const void *entry)
{
	const struct device_kind *found = NULL;
	for (unsigned i = 0; i < device_nkinds; i++) {
		const struct device_kind *k = &device_kinds[i];
		if (!k->option || strcmp(k->option->name, option) != 0)
			continue;
		if (k->wants && !k->wants(entry))
			continue;
		if (found)
			fail_msg("%s: both %s and %s want the entry", option, found->name, k->name);
		found = k;
	}
	assert_non_null(found);
	return found;
}

static void test_each_entry_picks_one_kind(void **state)
{
	(void)state;
	struct disk_config d;
	assert_int_equal(config_parse_disk("a.img", &d), 0);
	assert_string_equal(kind_for("--disk", &d)->name, "virtio-blk");
	assert_int_equal(config_parse_disk("a.img,if=nvme", &d), 0);
	assert_string_equal(kind_for("--disk", &d)->name, "nvme");
	assert_int_equal(config_parse_disk("vhost-user=/tmp/s", &d), 0);
	assert_string_equal(kind_for("--disk", &d)->name, "vhost-user-blk");
	struct nic_config n;
	assert_int_equal(config_parse_nic("user", &n), 0);
	assert_string_equal(kind_for("--net", &n)->name, "virtio-net");
	assert_int_equal(config_parse_nic("user,model=e1000", &n), 0);
	assert_string_equal(kind_for("--net", &n)->name, "e1000");
	struct vfio_config v;
	assert_int_equal(config_parse_device("vfio=01:00.0", &v), 0);
	assert_string_equal(kind_for("--device", &v)->name, "vfio-pci");
}

static void test_instance_names(void **state)
{
	(void)state;
	char id[DEVICE_ID_MAX];
	device_instance_name(device_kind_find("nvme"), 0, id);
	assert_string_equal(id, "nvme0");
	device_instance_name(device_kind_find("virtio-blk"), 1, id);
	assert_string_equal(id, "virtio-blk1");
	device_instance_name(device_kind_find("e1000"), 0, id);
	assert_string_equal(id, "e1000-0");
}

/* A fake device with a device scope and two queues. */
struct fake {
	struct device dev;
	struct dev_counters q[2];
};

static void fake_counters(struct device *dev, const struct counter_sink *sink)
{
	struct fake *f = container_of(dev, struct fake, dev);
	counters_emit(sink, dev->id, "", &dev->counters);
	counters_emit(sink, dev->id, "sq0", &f->q[0]);
	counters_emit(sink, dev->id, "sq1", &f->q[1]);
}

static void fake_destroy(struct device *dev) { (void)dev; }

static const struct device_ops fake_ops = {
	.kind = "fake", .counters = fake_counters, .destroy = fake_destroy,
};
/* A device without a counters op: its struct device counters. */
static const struct device_ops plain_ops = {.kind = "plain", .destroy = fake_destroy};

static char *report(struct machine *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	struct counters_print p;
	struct counter_sink sink = counters_print_begin(&p, f);
	machine_counters(m, &sink);
	counters_print_end(&p);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void test_counters_report_one_line_per_device_and_scope(void **state)
{
	(void)state;
	struct fake f = {0};
	device_init(&f.dev, &fake_ops, "nvme0");
	counter_add(&f.dev.counters.exits, 12);
	counter_add(&f.q[1].requests, 1024);
	counter_add(&f.q[1].bytes_in, 4194304);
	struct device plain = {0};
	device_init(&plain, &plain_ops, "rtc");
	counter_inc(&plain.counters.interrupts);

	static struct machine m; /* big; no VM, so no KVM statistics */
	memset(&m, 0, sizeof(m));
	m.devices[0] = &f.dev;
	m.devices[1] = &plain;
	m.ndevices = 2;
	char *text = report(&m);
	assert_string_equal(text,
		"counters: nvme0 exits=12 kicks=0 interrupts=0 requests=0 bytes_in=0 bytes_out=0 "
		"errors=0 rejected=0\n"
		"counters: nvme0 sq0 exits=0 kicks=0 interrupts=0 requests=0 bytes_in=0 "
		"bytes_out=0 errors=0 rejected=0\n"
		"counters: nvme0 sq1 exits=0 kicks=0 interrupts=0 requests=1024 bytes_in=4194304 "
		"bytes_out=0 errors=0 rejected=0\n"
		"counters: rtc exits=0 kicks=0 interrupts=1 requests=0 bytes_in=0 bytes_out=0 "
		"errors=0 rejected=0\n");
	free(text);

	/* Counters are read, not reset: a second report sees them grow. */
	counter_inc(&f.dev.counters.exits);
	text = report(&m);
	assert_non_null(strstr(text, "counters: nvme0 exits=13 "));
	free(text);
}

/* A line longer than the printer's buffer is cut, still one line. */
static void emit_many(void *opaque)
{
	const struct counter_sink *sink = opaque;
	for (int i = 0; i < 1000; i++)
		sink->emit(sink->opaque, "dev0", "q0", "a_rather_long_counter_name", (uint64_t)i);
}

static void test_long_line_is_cut_not_overrun(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct counters_print p;
	struct counter_sink sink = counters_print_begin(&p, f);
	emit_many(&sink);
	counters_print_end(&p);
	fclose(f);
	assert_true(len < sizeof(p.line) + 1);
	assert_int_equal(text[len - 1], '\n');
	assert_ptr_equal(strchr(text, '\n'), text + len - 1);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_are_complete_and_unique),
		cmocka_unit_test(test_each_entry_picks_one_kind),
		cmocka_unit_test(test_instance_names),
		cmocka_unit_test(test_counters_report_one_line_per_device_and_scope),
		cmocka_unit_test(test_long_line_is_cut_not_overrun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
