/* The machine's side of the control plane (machine/machine_api.c,
 * machine_control.c): a real VM on this host's /dev/kvm running a tiny
 * real-mode loop, driven through machine_api_ops from this thread (the API
 * thread's place) while another runs machine_run. Pause parks the vCPUs
 * (the guest's counter stops), stops the guest's kvmclock and answers
 * -EBUSY twice; resume lets the guest go on; the power button reaches the
 * ACPI PM block; reboot and shutdown stop the VM with their reasons, even
 * while paused. vm.info's devices: kind, I/O model, PCI address. Skips
 * without /dev/kvm. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/acpi_pm_regs.h"
#include "kvm/vcpu.h"
#include "machine/device_table.h"
#include "machine/machine.h"
#include "machine/machine_api.h"

#define CODE_GPA 0x1000
#define COUNTER_GPA 0x2000

/* loop: inc dword [COUNTER_GPA]; jmp loop. Never leaves KVM by itself:
 * the pause has to kick it out. */
static const uint8_t count_forever[] = {0x66, 0xff, 0x06, 0x00, 0x20, 0xeb, 0xf9};

/* PM1_EN = PWRBTN_EN, then forever: COUNTER_GPA = PM1_STS (a port exit
 * per round, so the guest sees the button through its own reads). */
static const uint8_t watch_pm1_sts[] = {
	0xba, 0x02, 0x06,             /* mov dx, 0x602 (PM1_EN) */
	0xb8, 0x00, 0x01,             /* mov ax, PWRBTN_EN */
	0xef,                         /* out dx, ax */
	0xba, 0x00, 0x06,             /* mov dx, 0x600 (PM1_STS) */
	0xed,                         /* loop: in ax, dx */
	0xa3, 0x00, 0x20,             /* mov [COUNTER_GPA], ax */
	0xeb, 0xfa,                   /* jmp loop */
};

struct vm_run {
	struct vm_config cfg;
	struct machine m;
	pthread_t runner;
	enum vm_exit_reason reason;
};

static void *runner(void *opaque)
{
	struct vm_run *r = opaque;
	r->reason = machine_run(&r->m);
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static uint32_t guest_u32(struct vm_run *r, uint64_t gpa)
{
	const volatile uint32_t *p = guest_mem_ptr(&r->m.vm.mem, gpa, 4);
	assert_non_null(p);
	return *p;
}

/* Waits up to 30 s (a /dev/kvm that interprets ring 0 is slow) for the
 * guest's word at gpa to differ from old. */
static bool guest_changes(struct vm_run *r, uint64_t gpa, uint32_t old)
{
	uint64_t end = now_ms() + 30000;
	while (now_ms() < end) {
		if (guest_u32(r, gpa) != old)
			return true;
		sleep_ms(5);
	}
	return false;
}

static const char *state_of(struct vm_run *r)
{
	struct api_vm_info info;
	machine_api_ops.info(&r->m, &info);
	return info.state;
}

/* Creates the machine with code at CODE_GPA and runs it on another thread;
 * skips the test without /dev/kvm. */
static struct vm_run *start(const uint8_t *code, size_t len)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		skip();
	struct vm_run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->cfg = (struct vm_config){.memory = 32ULL << 20, .cpus = 1, .kernel = "none",
				    .cmdline = "", .console_in_fd = -1, .console_out_fd = -1};
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(&r->m, &r->cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&r->m, code, len, CODE_GPA), 0);
	/* Not started yet: requests are refused, info says Running. */
	assert_int_equal(machine_api_ops.pause(&r->m), -EBUSY);
	assert_int_equal(pthread_create(&r->runner, NULL, runner, r), 0);
	return r;
}

/* Joins the runner, checks the stopped machine refuses the verbs, and
 * destroys it; the reason, and its words in detail (if not NULL). */
static enum vm_exit_reason finish(struct vm_run *r, char detail[256])
{
	assert_int_equal(pthread_join(r->runner, NULL), 0);
	enum vm_exit_reason reason = r->reason;
	if (detail)
		snprintf(detail, 256, "%s", r->m.vm.exit_detail);
	struct api_vm_info info;
	machine_api_ops.info(&r->m, &info);
	assert_null(info.state); /* stopping: no state to act on */
	assert_int_equal(machine_api_ops.resume(&r->m), -EBUSY);
	assert_int_equal(machine_api_ops.shutdown(&r->m), -EBUSY);
	machine_destroy(&r->m);
	free(r);
	return reason;
}

static uint64_t kvmclock(struct vm_run *r)
{
	struct kvm_clock_data c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(ioctl(r->m.vm.vm_fd, KVM_GET_CLOCK, &c), 0);
	return c.clock;
}

static void test_pause_stops_the_guest_and_its_clock(void **state)
{
	struct vm_run *r = start(count_forever, sizeof(count_forever));
	assert_true(guest_changes(r, COUNTER_GPA, 0));
	assert_string_equal(state_of(r), "Running");
	assert_int_equal(machine_api_ops.resume(&r->m), -EBUSY); /* not paused */

	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	assert_string_equal(state_of(r), "Paused");
	assert_int_equal(r->m.vm.parked, 1);
	uint32_t at_pause = guest_u32(r, COUNTER_GPA);
	uint64_t clock_at_pause = r->m.vm.paused_clock;
	assert_int_equal(machine_api_ops.pause(&r->m), -EBUSY);
	sleep_ms(300);
	assert_int_equal(guest_u32(r, COUNTER_GPA), at_pause); /* no vCPU ran */

	assert_int_equal(machine_api_ops.resume(&r->m), 0);
	uint64_t clock_after = kvmclock(r);
	assert_string_equal(state_of(r), "Running");
	/* The guest's clock went on from where it stopped: the 300 ms paused
	 * are not in it (KVM would count them without KVM_SET_CLOCK). */
	assert_true(clock_after >= clock_at_pause);
	print_message("kvmclock across a 300 ms pause: +%llu us\n",
		      (unsigned long long)(clock_after - clock_at_pause) / 1000);
	assert_true(clock_after - clock_at_pause < 150 * 1000000ULL);
	assert_true(guest_changes(r, COUNTER_GPA, at_pause)); /* it runs again */
	assert_int_equal(machine_api_ops.resume(&r->m), -EBUSY);

	/* And once more: a second pause parks the resumed vCPU too. */
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	uint32_t again = guest_u32(r, COUNTER_GPA);
	sleep_ms(50);
	assert_int_equal(guest_u32(r, COUNTER_GPA), again);
	assert_int_equal(machine_api_ops.resume(&r->m), 0);

	assert_int_equal(machine_api_ops.shutdown(&r->m), 0);
	assert_int_equal(finish(r, NULL), VM_EXIT_API_SHUTDOWN);
}

/* Stopping a paused VM lets the parked vCPUs go: nothing hangs. */
static void test_shutdown_while_paused(void **state)
{
	struct vm_run *r = start(count_forever, sizeof(count_forever));
	assert_true(guest_changes(r, COUNTER_GPA, 0));
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	assert_int_equal(machine_api_ops.shutdown(&r->m), 0);
	char detail[256];
	assert_int_equal(finish(r, detail), VM_EXIT_API_SHUTDOWN);
	assert_string_equal(detail, "stopped by the API");
}

static void test_reboot_while_paused(void **state)
{
	struct vm_run *r = start(count_forever, sizeof(count_forever));
	assert_true(guest_changes(r, COUNTER_GPA, 0));
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	assert_int_equal(machine_api_ops.reboot(&r->m), 0);
	assert_int_equal(finish(r, NULL), VM_EXIT_RESET);
}

static void test_reboot_while_running(void **state)
{
	struct vm_run *r = start(count_forever, sizeof(count_forever));
	assert_true(guest_changes(r, COUNTER_GPA, 0));
	assert_int_equal(machine_api_ops.reboot(&r->m), 0);
	assert_int_equal(finish(r, NULL), VM_EXIT_RESET);
}

/* A stopping signal (machine_stop_async) wakes a paused machine too. */
static void test_signal_stops_a_paused_vm(void **state)
{
	struct vm_run *r = start(count_forever, sizeof(count_forever));
	assert_true(guest_changes(r, COUNTER_GPA, 0));
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	machine_stop_async(&r->m);
	assert_int_equal(finish(r, NULL), VM_EXIT_SIGNAL);
}

static void count_requests(void *opaque, const char *device, const char *scope,
			   const char *name, uint64_t value)
{
	uint64_t *presses = opaque;
	if (!strcmp(device, "acpi-pm") && !*scope && !strcmp(name, "requests"))
		*presses = value;
}

/* The guest enabled PWRBTN_EN and reads PM1_STS in a loop: the press shows
 * in its reads, the SCI was raised once, and vm.counters counts it. */
static void test_power_button_reaches_the_guest(void **state)
{
	struct vm_run *r = start(watch_pm1_sts, sizeof(watch_pm1_sts));
	const struct device *pm = NULL;
	for (unsigned i = 0; i < r->m.ndevices; i++)
		if (!strcmp(r->m.devices[i]->ops->kind, "acpi-pm"))
			pm = r->m.devices[i];
	assert_non_null(pm);
	/* The guest's first round: PWRBTN_EN written, PM1_STS read as 0. */
	uint64_t end = now_ms() + 30000;
	while (counter_read(&pm->counters.exits) < 3 && now_ms() < end)
		sleep_ms(5);
	assert_true(counter_read(&pm->counters.exits) >= 3);
	assert_int_equal(guest_u32(r, COUNTER_GPA) & 0xffff, 0);

	assert_int_equal(machine_api_ops.power_button(&r->m), 0);
	assert_true(guest_changes(r, COUNTER_GPA, 0));
	assert_int_equal(guest_u32(r, COUNTER_GPA) & 0xffff, ACPI_PM1_STS_PWRBTN);
	assert_int_equal(counter_read(&pm->counters.interrupts), 1); /* the SCI */
	uint64_t presses = 0;
	struct counter_sink sink = {count_requests, &presses};
	machine_api_ops.counters(&r->m, &sink);
	assert_int_equal(presses, 1);

	/* Pressed while paused: held, seen once resumed (status stays set). */
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	assert_int_equal(machine_api_ops.power_button(&r->m), 0);
	assert_int_equal(machine_api_ops.resume(&r->m), 0);
	machine_api_ops.counters(&r->m, &sink);
	assert_int_equal(presses, 2);
	assert_int_equal(machine_api_ops.shutdown(&r->m), 0);
	assert_int_equal(finish(r, NULL), VM_EXIT_API_SHUTDOWN);
}

/* Every row says who does its I/O; virtio-net's depends on vhost=. */
static void test_io_model_of_every_kind(void **state)
{
	static const char *const models[] = {"emulated", "virtio", "vhost", "vhost-user", "vfio"};
	for (unsigned i = 0; i < device_nkinds; i++) {
		const char *io = device_kind_io_model(&device_kinds[i], NULL);
		bool known = false;
		for (size_t j = 0; io && j < sizeof(models) / sizeof(models[0]); j++)
			known |= !strcmp(io, models[j]);
		if (!known)
			fail_msg("device kind %s: I/O model %s", device_kinds[i].name, io ? io : "none");
	}
	static const struct {
		const char *kind, *io;
	} want[] = {
		{"serial", "emulated"}, {"i8042", "emulated"}, {"rtc", "emulated"},
		{"acpi-pm", "emulated"}, {"pvpanic", "emulated"}, {"debug-port", "emulated"},
		{"nvme", "emulated"},
		{"e1000", "emulated"}, {"virtio-blk", "virtio"}, {"virtio-rng", "virtio"},
		{"vhost-user-blk", "vhost-user"}, {"vfio-pci", "vfio"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(device_kind_io_model(device_kind_find(want[i].kind), NULL),
				    want[i].io);
	const struct device_kind *net = device_kind_find("virtio-net");
	struct nic_config nic;
	assert_int_equal(config_parse_nic("tap=tap0", &nic), 0);
	assert_string_equal(device_kind_io_model(net, &nic), "virtio");
	assert_int_equal(config_parse_nic("tap=tap0,vhost=on", &nic), 0);
	assert_string_equal(device_kind_io_model(net, &nic), "vhost");
}

/* vm.info of a machine with PCI devices: the fixed ones emulated and off
 * PCI, the others at the slot the host bridge gave them, in order. */
static void test_info_lists_devices_with_pci_addresses(void **state)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		skip();
	/* Two images: each is locked by the disk that opens it. */
	char paths[2][32];
	for (int i = 0; i < 2; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/tmp/test_machine_api.XXXXXX");
		int fd = mkstemp(paths[i]);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 1 << 20), 0);
		close(fd);
	}
	struct vm_config cfg = {.memory = 64ULL << 20, .cpus = 2, .kernel = "bzImage",
				.initrd = "initrd", .cmdline = "console=ttyS0 quiet", .pci = true,
				.console_in_fd = -1, .console_out_fd = -1, .rng = true, .ndisks = 2,
				.i8042 = true};
	char spec[64];
	snprintf(spec, sizeof(spec), "%s,if=nvme", paths[1]);
	assert_int_equal(config_parse_disk(paths[0], &cfg.disks[0]), 0);
	assert_int_equal(config_parse_disk(spec, &cfg.disks[1]), 0);
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	struct machine m;
	assert_int_equal(machine_create(&m, &cfg, kvm), 0);

	struct api_vm_info info;
	memset(&info, 0xa5, sizeof(info));
	machine_api_ops.info(&m, &info);
	assert_string_equal(info.state, "Created"); /* machine_run not called */
	assert_int_equal(info.cpus, 2);
	assert_int_equal(info.memory, 64ULL << 20);
	assert_string_equal(info.kernel, "bzImage");
	assert_string_equal(info.initrd, "initrd");
	assert_string_equal(info.cmdline, "console=ttyS0 quiet");
	static const struct {
		const char *id, *kind, *io, *pci;
	} want[] = {
		{"serial0", "serial", "emulated", ""},
		{"i8042", "i8042", "emulated", ""},
		{"rtc", "rtc", "emulated", ""},
		{"acpi-pm", "acpi-pm", "emulated", ""},
		{"pvpanic", "pvpanic", "emulated", ""},
		{"debug-port", "debug-port", "emulated", ""},
		{"virtio-blk0", "virtio-blk", "virtio", "0000:00:01.0"},
		{"nvme0", "nvme", "emulated", "0000:00:02.0"},
		{"virtio-rng0", "virtio-rng", "virtio", "0000:00:03.0"},
	};
	assert_int_equal(info.ndevices, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < info.ndevices; i++) {
		print_message("%-12s %-11s %-9s %s\n", info.devices[i].id, info.devices[i].kind,
			      info.devices[i].io_model, info.devices[i].pci);
		assert_string_equal(info.devices[i].kind, want[i].kind);
		assert_string_equal(info.devices[i].io_model, want[i].io);
		assert_string_equal(info.devices[i].pci, want[i].pci);
		assert_string_equal(info.devices[i].id, want[i].id);
	}
	machine_destroy(&m);
	unlink(paths[0]);
	unlink(paths[1]);
}

int main(void)
{
	vcpu_init_signals();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_stops_the_guest_and_its_clock),
		cmocka_unit_test(test_shutdown_while_paused),
		cmocka_unit_test(test_reboot_while_paused),
		cmocka_unit_test(test_reboot_while_running),
		cmocka_unit_test(test_signal_stops_a_paused_vm),
		cmocka_unit_test(test_power_button_reaches_the_guest),
		cmocka_unit_test(test_io_model_of_every_kind),
		cmocka_unit_test(test_info_lists_devices_with_pci_addresses),
	};
	return cmocka_run_group_tests_name("machine api", tests, NULL, NULL);
}
