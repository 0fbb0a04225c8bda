/* KVM smoke tests: tiny hand-made real-mode payloads run by the real VM core
 * (machine, vCPU threads, buses, UART model, ACPI PM block) on /dev/kvm.
 * They need no guest kernel, so they run even where /dev/kvm interprets
 * ring-0 code (a few hundred instructions each). */
#include <dirent.h>
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

#include "core/guest_mem_log.h"
#include "devices/fw_cfg.h"
#include "kvm/coalesced_mmio.h"
#include "kvm/dirty_log.h"
#include "kvm/vcpu.h"
#include "machine/machine.h"
#include "machine/machine_api.h"
#include "machine/machine_migrate.h"
#include "machine/machine_snapshot.h"
#include "machine/probe.h"
#include "migrate/snapshot_file.h"

#define CODE_GPA 0x1000
#define UNCLAIMED_MMIO 0xD0000000u /* in the PCI hole: no RAM, no device */

/* out dx=0x604, ax = SLP_EN | SLP_TYP(5): ACPI S5, i.e. power off. */
#define POWEROFF 0xba, 0x04, 0x06, 0xb8, 0x00, 0x34, 0xef, 0xf4
/* mov dx, 0x3f8 */
#define DX_COM1 0xba, 0xf8, 0x03
/* out dx, al */
#define OUT_AL 0xee

struct run_result {
	enum vm_exit_reason reason;
	char detail[256];
	char console[256];
	size_t console_len;
	uint64_t pio_unclaimed, mmio_unclaimed;
	uint64_t coalesced_writes; /* replayed from KVM's ring */
};

/* Adjusts the boot vCPU's segment state before the run. */
typedef void (*sregs_fixup_fn)(struct kvm_sregs *sregs);

/* Adds devices to the machine before it runs. */
typedef void (*machine_setup_fn)(struct machine *m, void *arg);

static void run_payload_on(const uint8_t *code, size_t len, sregs_fixup_fn fixup,
			   machine_setup_fn setup, void *arg, struct run_result *res);

static void run_payload(const uint8_t *code, size_t len, sregs_fixup_fn fixup,
			struct run_result *res)
{
	run_payload_on(code, len, fixup, NULL, NULL, res);
}

static void run_payload_on(const uint8_t *code, size_t len, sregs_fixup_fn fixup,
			   machine_setup_fn setup, void *arg, struct run_result *res)
{
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_NONBLOCK), 0);
	struct vm_config cfg = {
		.memory = 32ULL << 20, .cpus = 1,
		.console_in_fd = -1, .console_out_fd = pipefd[1],
		.i8042 = true, /* the payloads use its reset line */
	};
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	struct machine m;
	assert_int_equal(machine_create(&m, &cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&m, code, len, CODE_GPA), 0);
	if (fixup) {
		struct kvm_sregs sregs;
		assert_int_equal(ioctl(m.vm.vcpus[0].fd, KVM_GET_SREGS, &sregs), 0);
		fixup(&sregs);
		assert_int_equal(ioctl(m.vm.vcpus[0].fd, KVM_SET_SREGS, &sregs), 0);
	}
	if (setup)
		setup(&m, arg);
	memset(res, 0, sizeof(*res));
	res->reason = machine_run(&m);
	memcpy(res->detail, m.vm.exit_detail, sizeof(res->detail));
	res->pio_unclaimed = iobus_unclaimed_count(m.vm.pio);
	res->mmio_unclaimed = iobus_unclaimed_count(m.vm.mmio);
	res->coalesced_writes = m.vm.coalesced.writes;
	machine_destroy(&m);
	ssize_t n = read(pipefd[0], res->console, sizeof(res->console) - 1);
	res->console_len = n > 0 ? (size_t)n : 0;
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_serial_output_and_poweroff(void **state)
{
	static const uint8_t code[] = {
		DX_COM1,
		0xb0, 'h', OUT_AL, 0xb0, 'i', OUT_AL, 0xb0, '\n', OUT_AL,
		POWEROFF,
	};
	struct run_result r;
	run_payload(code, sizeof(code), NULL, &r);
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	assert_int_equal(r.console_len, 3);
	assert_memory_equal(r.console, "hi\n", 3);
}

static void test_unclaimed_port_reads_all_ones(void **state)
{
	static const uint8_t code[] = {
		0xe4, 0x99,          /* in al, 0x99 (nobody there) */
		DX_COM1, OUT_AL,     /* echo it on the UART */
		POWEROFF,
	};
	struct run_result r;
	run_payload(code, sizeof(code), NULL, &r);
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	assert_int_equal(r.console_len, 1);
	assert_int_equal((uint8_t)r.console[0], 0xff);
	assert_true(r.pio_unclaimed >= 1);
}

/* "Unreal mode": a 4 GiB data segment limit in real mode lets 32-bit
 * addresses reach the PCI hole. */
static void big_ds(struct kvm_sregs *s) { s->ds.limit = 0xffffffff; s->ds.g = 1; }

static void test_unclaimed_mmio(void **state)
{
	static const uint8_t code[] = {
		/* mov eax, [dword UNCLAIMED_MMIO] */
		0x67, 0x66, 0xa1, 0x00, 0x00, 0x00, 0xd0,
		DX_COM1, OUT_AL,
		/* mov [dword UNCLAIMED_MMIO], eax: ignored */
		0x67, 0x66, 0xa3, 0x00, 0x00, 0x00, 0xd0,
		POWEROFF,
	};
	struct run_result r;
	run_payload(code, sizeof(code), big_ds, &r);
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	assert_int_equal(r.console_len, 1);
	assert_int_equal((uint8_t)r.console[0], 0xff);
	assert_int_equal(r.mmio_unclaimed, 2);
}

/* A device at UNCLAIMED_MMIO whose first register is a coalesced zone:
 * it logs the writes that reach it; a read of its second register says
 * how many had reached it by then. */
struct recorder {
	uint32_t value[8];
	unsigned n;
	bool zoned;
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct recorder *r = opaque;
	iobus_store_le(data, len, offset == 0x10 ? r->n : 0);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct recorder *r = opaque;
	if (offset == 0 && r->n < 8)
		r->value[r->n++] = (uint32_t)iobus_load_le(data, len);
}

static const struct iobus_ops rec_ops = {.read = rec_read, .write = rec_write};

static void add_recorder(struct machine *m, void *arg)
{
	struct recorder *r = arg;
	assert_int_equal(iobus_register(m->vm.mmio, UNCLAIMED_MMIO, 0x100, &rec_ops, r), 0);
	r->zoned = coalesced_mmio_zone(&m->vm.coalesced, UNCLAIMED_MMIO, 4, true) == 0;
}

/* Three writes KVM buffers, then a read that exits: the device has all
 * three, in order, before it answers the read. */
static void test_coalesced_writes_come_before_the_next_exit(void **state)
{
#define MOV_EAX(v) 0x66, 0xb8, (v), 0x00, 0x00, 0x00
#define STORE_EAX 0x67, 0x66, 0xa3, 0x00, 0x00, 0x00, 0xd0 /* mov [0xd0000000], eax */
	static const uint8_t code[] = {
		MOV_EAX(0x11), STORE_EAX, MOV_EAX(0x22), STORE_EAX, MOV_EAX(0x33), STORE_EAX,
		0x67, 0x66, 0xa1, 0x10, 0x00, 0x00, 0xd0, /* mov eax, [0xd0000010] */
		DX_COM1, OUT_AL,
		POWEROFF,
	};
#undef MOV_EAX
#undef STORE_EAX
	struct recorder rec = {0};
	struct run_result r;
	run_payload_on(code, sizeof(code), big_ds, add_recorder, &rec, &r);
	if (!rec.zoned)
		skip(); /* this KVM has no coalesced MMIO */
	assert_int_equal(r.reason, VM_EXIT_POWEROFF);
	assert_int_equal(r.console_len, 1);
	assert_int_equal(r.console[0], 3);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.value[0], 0x11);
	assert_int_equal(rec.value[1], 0x22);
	assert_int_equal(rec.value[2], 0x33);
	assert_int_equal(r.coalesced_writes, 3); /* none of them exited */
}

static void empty_idt(struct kvm_sregs *s) { s->idt.limit = 0; }

static void test_triple_fault_is_reported(void **state)
{
	static const uint8_t code[] = {
		0x90, 0x90,          /* nop; nop */
		0xcc,                /* int3 with no IDT: #GP, #DF, shutdown */
		POWEROFF,
	};
	struct run_result r;
	run_payload(code, sizeof(code), empty_idt, &r);
	print_message("exit: %s\n", r.detail);
	assert_int_equal(r.reason, VM_EXIT_CRASH);
	assert_non_null(strstr(r.detail, "RIP 0x"));
	/* A nested KVM that interprets ring 0 (see docs/TESTHOST.md) fails to
	 * emulate the fault chain and reports an internal error instead; real
	 * KVM (and the test host, which runs this with IOVIRT_SMOKE_STRICT=1)
	 * must see the triple fault itself. */
	if (getenv("IOVIRT_SMOKE_STRICT"))
		assert_non_null(strstr(r.detail, "triple fault"));
}

static void test_i8042_reset_line(void **state)
{
	static const uint8_t code[] = {
		0xb0, 0xfe, 0xe6, 0x64, /* mov al, 0xfe; out 0x64, al: pulse reset */
		POWEROFF,
	};
	struct run_result r;
	run_payload(code, sizeof(code), NULL, &r);
	assert_int_equal(r.reason, VM_EXIT_RESET);
}

/* iovirt run times the /dev/kvm probe on the real machine's vCPU 0: after
 * it the vCPU must be back in its reset state and the RAM the loop used as
 * it was, so that the machine then boots as if never run. */
static void test_probe_on_the_machine_leaves_it_unrun(void **state)
{
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	struct vm_config cfg = {.memory = 32ULL << 20, .cpus = 1, .console_in_fd = -1,
				.console_out_fd = -1};
	struct machine m;
	assert_int_equal(machine_create(&m, &cfg, kvm), 0);
	int fd = m.vm.vcpus[0].fd;
	struct kvm_regs r0, r1;
	struct kvm_sregs s0, s1;
	assert_int_equal(ioctl(fd, KVM_GET_REGS, &r0), 0);
	assert_int_equal(ioctl(fd, KVM_GET_SREGS, &s0), 0);
	uint8_t marker[32];
	memset(marker, 0x5a, sizeof(marker));
	assert_int_equal(guest_mem_write(&m.vm.mem, 0x1000, marker, sizeof(marker)), 0);
	double ms = -1;
	enum probe_result speed = probe_machine_speed(&m, &ms);
	assert_true(speed == PROBE_HARDWARE || speed == PROBE_EMULATED);
	assert_true(ms > 0);
	assert_int_equal(ioctl(fd, KVM_GET_REGS, &r1), 0);
	assert_int_equal(ioctl(fd, KVM_GET_SREGS, &s1), 0);
	assert_int_equal(r1.rip, r0.rip);
	assert_int_equal(r1.rflags, r0.rflags);
	assert_int_equal(s1.cs.base, s0.cs.base);
	assert_int_equal(s1.cs.selector, s0.cs.selector);
	assert_int_equal(s1.cr0, s0.cr0);
	uint8_t after[sizeof(marker)];
	assert_int_equal(guest_mem_read(&m.vm.mem, 0x1000, after, sizeof(after)), 0);
	assert_memory_equal(after, marker, sizeof(marker));
	/* And it still runs: a payload powers it off. */
	static const uint8_t code[] = {POWEROFF};
	assert_int_equal(machine_load_real_mode(&m, code, sizeof(code), CODE_GPA), 0);
	assert_int_equal(machine_run(&m), VM_EXIT_POWEROFF);
	machine_destroy(&m);
}

static void test_two_vcpus_start_and_stop(void **state)
{
	/* The boot CPU powers off while the AP waits for INIT/SIPI: every
	 * thread must still be joined. */
	static const uint8_t code[] = {POWEROFF};
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	struct vm_config cfg = {.memory = 32ULL << 20, .cpus = 2, .console_in_fd = -1,
				.console_out_fd = -1};
	struct machine m;
	assert_int_equal(machine_create(&m, &cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&m, code, sizeof(code), CODE_GPA), 0);
	assert_int_equal(machine_run(&m), VM_EXIT_POWEROFF);
	machine_destroy(&m);
}

struct api_run {
	struct machine m;
	enum vm_exit_reason reason;
};

static void *run_machine(void *opaque)
{
	struct api_run *r = opaque;
	r->reason = machine_run(&r->m);
	return NULL;
}

static uint32_t guest_u32(struct machine *m, uint64_t gpa)
{
	const volatile uint32_t *p = guest_mem_ptr(&m->vm.mem, gpa, 4);
	assert_non_null(p);
	return *p;
}

/* Waits up to 60 s (an interpreting /dev/kvm is slow) for the word at gpa
 * to leave old. */
static bool guest_moves(struct machine *m, uint64_t gpa, uint32_t old)
{
	for (int i = 0; i < 6000; i++) {
		if (guest_u32(m, gpa) != old)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	}
	return false;
}

/* The control plane's pause and resume on the real VM core: the guest says
 * "a", counts at 0x2000 until 0x2004 is set, says "b" and powers off. The
 * count stands still while paused; after the resume the same run goes on
 * to its end. */
static void test_pause_and_resume(void **state)
{
	static const uint8_t code[] = {
		DX_COM1, 0xb0, 'a', OUT_AL,
		0x66, 0xff, 0x06, 0x00, 0x20, /* loop: inc dword [0x2000] */
		0x80, 0x3e, 0x04, 0x20, 0x00, /* cmp byte [0x2004], 0 */
		0x74, 0xf4,                   /* je loop */
		0xb0, 'b', OUT_AL,
		POWEROFF,
	};
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_NONBLOCK), 0);
	struct vm_config cfg = {.memory = 32ULL << 20, .cpus = 1, .console_in_fd = -1,
				.console_out_fd = pipefd[1]};
	struct api_run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(&r->m, &cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&r->m, code, sizeof(code), CODE_GPA), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_machine, r), 0);
	assert_true(guest_moves(&r->m, 0x2000, 0));

	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	struct api_vm_info info;
	machine_api_ops.info(&r->m, &info);
	assert_string_equal(info.state, "Paused");
	uint32_t frozen = guest_u32(&r->m, 0x2000);
	nanosleep(&(struct timespec){.tv_nsec = 200 * 1000000}, NULL);
	assert_int_equal(guest_u32(&r->m, 0x2000), frozen);
	*(volatile uint8_t *)guest_mem_ptr(&r->m.vm.mem, 0x2004, 1) = 1; /* the way out */
	assert_int_equal(machine_api_ops.resume(&r->m), 0);

	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r->reason, VM_EXIT_POWEROFF);
	machine_destroy(&r->m);
	free(r);
	char out[8] = {0};
	assert_int_equal(read(pipefd[0], out, sizeof(out)), 2);
	assert_memory_equal(out, "ab", 2);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* dir/name's bytes into a malloc'd buffer (*len); NULL if unreadable. */
static uint8_t *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = malloc(1 << 20);
	*len = buf ? fread(buf, 1, 1 << 20, f) : 0;
	fclose(f);
	return buf;
}

static void spill(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* A fresh machine of cfg restored from dir: 0, or the error (why). */
static int restore_into(struct machine *m, const struct vm_config *cfg, const char *dir,
			enum snap_mem_mode mode, char *why, size_t why_len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	struct snap_manifest man;
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(m, cfg, kvm), 0);
	int ret = snap_manifest_read(&man, path, why, why_len);
	if (ret == 0)
		ret = machine_snapshot_restore(m, dir, &man, mode, why, why_len);
	snap_manifest_free(&man);
	return ret;
}

/* The guest of the snapshot and migration tests: says "a", counts in ECX
 * and stores it at 0x2000 until 0x2004 is set, says "b", powers off.
 * Registers that did not come across would restart the count. */
static const uint8_t counting_guest[] = {
	DX_COM1, 0xb0, 'a', OUT_AL,
	0x66, 0x41,                   /* loop: inc ecx */
	0x66, 0x89, 0x0e, 0x00, 0x20, /* mov [0x2000], ecx */
	0x80, 0x3e, 0x04, 0x20, 0x00, /* cmp byte [0x2004], 0 */
	0x74, 0xf2,                   /* je loop */
	0xb0, 'b', OUT_AL,
	POWEROFF,
};

/* Snapshot and restore on the real VM core (issue 21). The guest counts in
 * ECX and stores it at 0x2000 until 0x2004 is set, then says "b" and
 * powers off. Paused and snapshotted, the first process is stopped; a new
 * machine restored from the snapshot (RAM mapped copy-on-write) holds the
 * same count and goes on counting from it (so its registers came back,
 * not a reset), its devices save to the same state as the first one's,
 * and it runs the guest to its end. A state file with a flipped byte and a
 * missing RAM file are refused, naming what is wrong. */
static void test_snapshot_and_restore(void **state)
{
	char dir[] = "/tmp/iovirt-smoke-snapXXXXXX", dir2[] = "/tmp/iovirt-smoke-snapXXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(dir2));
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_NONBLOCK), 0);
	struct vm_config cfg = {.memory = 32ULL << 20, .cpus = 1, .console_in_fd = -1,
				.console_out_fd = pipefd[1]};
	struct api_run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(&r->m, &cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&r->m, counting_guest, sizeof(counting_guest), CODE_GPA), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_machine, r), 0);
	assert_true(guest_moves(&r->m, 0x2000, 0));
	char why[512] = "", path[512];
	/* Running: refused, nothing written. */
	assert_int_equal(machine_api_ops.snapshot(&r->m, dir, why, sizeof(why)), -EBUSY);
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	uint32_t frozen = guest_u32(&r->m, 0x2000);
	assert_int_equal(machine_api_ops.snapshot(&r->m, dir, why, sizeof(why)), 0);
	assert_int_equal(machine_api_ops.shutdown(&r->m), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r->reason, VM_EXIT_API_SHUTDOWN);
	machine_destroy(&r->m);
	char out[8] = {0};
	assert_int_equal(read(pipefd[0], out, sizeof(out)), 1);
	assert_int_equal(out[0], 'a');

	/* A new machine, the same guest, waiting paused (--paused). */
	struct vm_config cfg_paused = cfg;
	cfg_paused.paused = true;
	memset(r, 0, sizeof(*r));
	assert_int_equal(restore_into(&r->m, &cfg_paused, dir, SNAP_MEM_MAP, why, sizeof(why)), 0);
	assert_int_equal(guest_u32(&r->m, 0x2000), frozen);
	assert_int_equal(pthread_create(&t, NULL, run_machine, r), 0);
	for (int i = 0; i < 6000 && machine_state(&r->m) != MACHINE_PAUSED; i++)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	assert_int_equal(machine_state(&r->m), MACHINE_PAUSED);

	/* Snapshot -> restore -> snapshot with nothing run between: every
	 * device saves the same state. */
	assert_int_equal(machine_api_ops.snapshot(&r->m, dir2, why, sizeof(why)), 0);
	struct snap_manifest man1, man2;
	assert_int_equal(snap_manifest_read(&man1, strcat(strcpy(path, dir), "/manifest.json"),
					    why, sizeof(why)), 0);
	assert_int_equal(snap_manifest_read(&man2, strcat(strcpy(path, dir2), "/manifest.json"),
					    why, sizeof(why)), 0);
	size_t len1, len2;
	uint8_t *s1 = slurp(dir, man1.state_file, &len1), *s2 = slurp(dir2, man2.state_file, &len2);
	assert_non_null(s1);
	assert_non_null(s2);
	struct snap_file f1, f2;
	assert_int_equal(snap_file_parse(&f1, s1, len1, why, sizeof(why)), 0);
	assert_int_equal(snap_file_parse(&f2, s2, len2, why, sizeof(why)), 0);
	assert_int_equal(f1.count, f2.count);
	unsigned devices = 0;
	for (unsigned i = 0; i < f1.count; i++) {
		const struct snap_section *a = &f1.sections[i];
		const struct snap_section *b = snap_file_find(&f2, a->id);
		assert_non_null(b);
		assert_string_equal(a->kind, b->kind);
		/* The clock, the TSC and its MSRs run on; so does the RTC, whose
		 * update flag sets at each second the host passes while paused. */
		if (strcmp(a->kind, "vm") == 0 || strcmp(a->kind, "vcpu") == 0 ||
		    strcmp(a->kind, "rtc") == 0)
			continue;
		if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
			fail_msg("section %s (%s) differs after a restore", a->id, a->kind);
		devices++;
	}
	assert_true(devices >= 4);
	free(s2);

	assert_int_equal(machine_api_ops.resume(&r->m), 0);
	assert_true(guest_moves(&r->m, 0x2000, frozen));
	assert_true(guest_u32(&r->m, 0x2000) > frozen); /* ECX came back */
	assert_int_equal(machine_api_ops.pause(&r->m), 0);
	/* A second snapshot into the same directory replaces the first whole:
	 * its own files, the first one's gone, nothing else left there. */
	assert_int_equal(machine_api_ops.snapshot(&r->m, dir2, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir2, man2.state_file);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s", dir2, man2.mem[0].file);
	assert_int_equal(access(path, F_OK), -1);
	unsigned entries = 0;
	DIR *dp = opendir(dir2);
	assert_non_null(dp);
	for (struct dirent *e; (e = readdir(dp));)
		entries += e->d_name[0] != '.';
	closedir(dp);
	assert_int_equal(entries, man2.nmem + 2); /* manifest, state, RAM files */
	snap_manifest_free(&man2);
	assert_int_equal(snap_manifest_read(&man2, strcat(strcpy(path, dir2), "/manifest.json"),
					    why, sizeof(why)), 0);
	*(volatile uint8_t *)guest_mem_ptr(&r->m.vm.mem, 0x2004, 1) = 1;
	assert_int_equal(machine_api_ops.resume(&r->m), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r->reason, VM_EXIT_POWEROFF);
	machine_destroy(&r->m);
	assert_int_equal(read(pipefd[0], out, sizeof(out)), 1);
	assert_int_equal(out[0], 'b');

	/* A corrupt state file, then a missing RAM file: refused. */
	s1[len1 / 2] ^= 0x40;
	spill(dir, man1.state_file, s1, len1);
	memset(r, 0, sizeof(*r));
	assert_int_equal(restore_into(&r->m, &cfg, dir, SNAP_MEM_READ, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, man1.state_file));
	machine_destroy(&r->m);
	snprintf(path, sizeof(path), "%s/%s", dir2, man2.mem[0].file);
	assert_int_equal(unlink(path), 0);
	memset(r, 0, sizeof(*r));
	assert_true(restore_into(&r->m, &cfg, dir2, SNAP_MEM_READ, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, man2.mem[0].file));
	machine_destroy(&r->m);


	free(s1);
	free(r);
	close(pipefd[0]);
	close(pipefd[1]);
	const struct snap_manifest *mans[] = {&man1, &man2};
	const char *dirs[] = {dir, dir2};
	for (unsigned d = 0; d < 2; d++) {
		for (unsigned i = 0; i < mans[d]->nmem; i++) {
			snprintf(path, sizeof(path), "%s/%s", dirs[d], mans[d]->mem[i].file);
			unlink(path);
		}
		snprintf(path, sizeof(path), "%s/%s", dirs[d], mans[d]->state_file);
		unlink(path);
		snprintf(path, sizeof(path), "%s/manifest.json", dirs[d]);
		unlink(path);
		assert_int_equal(rmdir(dirs[d]), 0); /* nothing else was left in it */
	}
	snap_manifest_free(&man1);
	snap_manifest_free(&man2);
}

/* KVM's dirty log (issue 22's first part) on the real VM core: while the
 * guest counts at 0x2000, a sync reports that page and not the ones it
 * never wrote; taken, the bit is gone; the guest's next writes set it
 * again (the page was re-protected); iovirt's own write into guest RAM is
 * not in KVM's log, and is in the sync once the guest_mem log is on (the
 * migration's log of device writes). */
static void test_dirty_log(void **state)
{
	static const uint8_t code[] = {
		0x66, 0xff, 0x06, 0x00, 0x20, /* loop: inc dword [0x2000] */
		0x80, 0x3e, 0x04, 0x20, 0x00, /* cmp byte [0x2004], 0 */
		0x74, 0xf4,                   /* je loop */
		POWEROFF,
	};
	struct vm_config cfg = {.memory = 32ULL << 20, .cpus = 1, .console_in_fd = -1,
				.console_out_fd = -1};
	struct api_run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(&r->m, &cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&r->m, code, sizeof(code), CODE_GPA), 0);
	struct dirty_log dl;
	assert_int_equal(dirty_log_start(&r->m.vm, &dl), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_machine, r), 0);
	assert_true(guest_moves(&r->m, 0x2000, 0));

	uint64_t dirty;
	assert_int_equal(dirty_log_sync(&r->m.vm, &dl, &dirty), 0);
	assert_true(dirty >= 1 && dirty <= 4); /* the counter's page, little else */
	assert_false(dirty_log_take(&dl, 0, 0x10000 >> 12)); /* never written */
	assert_true(dirty_log_take(&dl, 0, 0x2000 >> 12));
	assert_false(dirty_log_take(&dl, 0, 0x2000 >> 12)); /* taken */

	/* iovirt writes a page the guest never touches: not in KVM's log. */
	uint32_t v = 0x12345678;
	assert_int_equal(guest_mem_write(&r->m.vm.mem, 0x10000, &v, sizeof(v)), 0);
	uint32_t now = guest_u32(&r->m, 0x2000);
	assert_true(guest_moves(&r->m, 0x2000, now));
	assert_int_equal(dirty_log_sync(&r->m.vm, &dl, &dirty), 0);
	assert_true(dirty_log_take(&dl, 0, 0x2000 >> 12)); /* re-protected, written again */
	assert_false(dirty_log_take(&dl, 0, 0x10000 >> 12));

	/* With the guest_mem log on, the same write is in the next sync. */
	assert_int_equal(guest_mem_log_start(&r->m.vm.mem), 0);
	assert_int_equal(guest_mem_write(&r->m.vm.mem, 0x10000, &v, sizeof(v)), 0);
	assert_int_equal(dirty_log_sync(&r->m.vm, &dl, &dirty), 0);
	assert_true(dirty_log_take(&dl, 0, 0x10000 >> 12));
	assert_false(dirty_log_take(&dl, 0, 0x11000 >> 12));
	guest_mem_log_stop(&r->m.vm.mem);

	dirty_log_stop(&r->m.vm, &dl);
	*(volatile uint8_t *)guest_mem_ptr(&r->m.vm.mem, 0x2004, 1) = 1;
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r->reason, VM_EXIT_POWEROFF);
	machine_destroy(&r->m);
	free(r);
}

struct incoming {
	struct machine m;
	const char *url;
	int ret;
	char why[512];
	enum vm_exit_reason reason;
};

/* The destination's thread: waits for the source, then runs the guest. */
static void *run_incoming(void *opaque)
{
	struct incoming *in = opaque;
	in->ret = machine_migrate_incoming(&in->m, in->url, in->why, sizeof(in->why));
	in->reason = in->ret == 0 ? machine_run(&in->m) : VM_EXIT_ERROR;
	return NULL;
}

/* The source's migration to its end: the final status. */
static void wait_migration(struct machine *m, struct api_migrate_status *st)
{
	for (int i = 0; i < 12000; i++) {
		machine_migrate_status(m, st);
		if (strcmp(st->state, "active") != 0)
			return;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	}
	fail_msg("the migration did not end in 120 s");
}

/* Live migration (issue 22) on the real VM core, between two machines of
 * this process over a UNIX socket. The guest counts in ECX at 0x2000
 * while its RAM goes across, and iovirt writes a marker into a page the
 * guest never touches meanwhile (before or after the first pass copies
 * that page: either way it must arrive). The destination goes on counting from
 * where the source stopped (registers came across), holds the marker, and
 * runs the guest to its end; the source stays stopped, "Migrated", its
 * resume refused. Before that, a migration to where nobody listens fails
 * naming the URL, and the source runs on. */
static void test_live_migration(void **state)
{
	int src_out[2], dst_out[2];
	assert_int_equal(pipe2(src_out, O_NONBLOCK), 0);
	assert_int_equal(pipe2(dst_out, O_NONBLOCK), 0);
	struct vm_config cfg = {.memory = 64ULL << 20, .cpus = 1, .console_in_fd = -1,
				.console_out_fd = src_out[1]};
	struct api_run *r = calloc(1, sizeof(*r));
	struct incoming *in = calloc(1, sizeof(*in));
	assert_non_null(r);
	assert_non_null(in);
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(&r->m, &cfg, kvm), 0);
	assert_int_equal(machine_load_real_mode(&r->m, counting_guest, sizeof(counting_guest), CODE_GPA), 0);
	pthread_t t, td;
	assert_int_equal(pthread_create(&t, NULL, run_machine, r), 0);
	assert_true(guest_moves(&r->m, 0x2000, 0));

	/* Nobody listens: failed, one line naming the socket; runs on. */
	struct api_migrate_params p = {.url = "unix:/tmp/iovirt-smoke-nobody.sock",
				       .auto_converge = true};
	char why[512];
	unlink("/tmp/iovirt-smoke-nobody.sock");
	assert_int_equal(machine_migrate_start(&r->m, &p, why, sizeof(why)), 0);
	struct api_migrate_status st;
	wait_migration(&r->m, &st);
	assert_string_equal(st.state, "failed");
	assert_non_null(strstr(st.error, "/tmp/iovirt-smoke-nobody.sock"));
	assert_true(guest_moves(&r->m, 0x2000, guest_u32(&r->m, 0x2000)));

	/* The destination, same machine, its own console. */
	char sock[] = "/tmp/iovirt-smoke-migXXXXXX";
	int tmp = mkstemp(sock);
	assert_true(tmp >= 0);
	close(tmp);
	unlink(sock);
	char url[64];
	snprintf(url, sizeof(url), "unix:%s", sock);
	struct vm_config dcfg = cfg;
	dcfg.console_out_fd = dst_out[1];
	kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	assert_int_equal(machine_create(&in->m, &dcfg, kvm), 0);
	in->url = url;
	assert_int_equal(pthread_create(&td, NULL, run_incoming, in), 0);
	for (int i = 0; i < 500 && access(sock, F_OK) != 0; i++)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);

	snprintf(p.url, sizeof(p.url), "%s", url);
	p.downtime_ms = 50;
	assert_int_equal(machine_migrate_start(&r->m, &p, why, sizeof(why)), 0);
	/* A second one while this runs: refused. */
	assert_int_equal(machine_migrate_start(&r->m, &p, why, sizeof(why)), -EBUSY);
	uint32_t marker = 0xfeedf00d;
	assert_int_equal(guest_mem_write(&r->m.vm.mem, 0x30000, &marker, sizeof(marker)), 0);
	wait_migration(&r->m, &st);
	assert_string_equal(st.state, "completed");
	assert_true(st.pass >= 1);
	assert_true(st.pages_sent >= 1 && st.zero_pages > 0);
	assert_true(st.pages_sent + st.zero_pages >= (64ULL << 20) / 4096);
	assert_true(machine_migrated(&r->m));
	struct api_vm_info info;
	machine_api_ops.info(&r->m, &info);
	assert_string_equal(info.state, "Migrated");
	assert_int_equal(machine_api_ops.resume(&r->m), -EBUSY);

	uint32_t frozen = guest_u32(&r->m, 0x2000);
	assert_true(guest_moves(&in->m, 0x2000, frozen));
	assert_true(guest_u32(&in->m, 0x2000) > frozen); /* on from there, not from 0 */
	assert_int_equal(guest_u32(&in->m, 0x30000), marker);
	assert_int_equal(guest_u32(&r->m, 0x2000), frozen); /* the source stays stopped */

	*(volatile uint8_t *)guest_mem_ptr(&in->m.vm.mem, 0x2004, 1) = 1;
	assert_int_equal(pthread_join(td, NULL), 0);
	assert_int_equal(in->ret, 0);
	assert_int_equal(in->reason, VM_EXIT_POWEROFF);
	assert_int_equal(machine_api_ops.shutdown(&r->m), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r->reason, VM_EXIT_API_SHUTDOWN);
	machine_destroy(&in->m);
	machine_destroy(&r->m);
	char out[8] = {0};
	assert_int_equal(read(src_out[0], out, sizeof(out)), 1);
	assert_memory_equal(out, "a", 1);
	assert_int_equal(read(dst_out[0], out, sizeof(out)), 1);
	assert_memory_equal(out, "b", 1);
	for (int i = 0; i < 2; i++) {
		close(src_out[i]);
		close(dst_out[i]);
	}
	free(in);
	free(r);
}

/* A fw_cfg file's contents as the firmware reads them (through the ports),
 * NUL-terminated; "" if there is no such file. */
static void fw_cfg_file(struct fw_cfg *c, const char *name, char *out, size_t cap)
{
	uint8_t sel[2] = {FW_CFG_FILE_DIR, 0}, b[64];
	fw_cfg_ops.write(c, 0, sel, 2);
	uint32_t n = 0;
	for (int i = 0; i < 4; i++) {
		fw_cfg_ops.read(c, 1, b, 1);
		n = n << 8 | b[0];
	}
	out[0] = 0;
	for (uint32_t f = 0; f < n; f++) {
		for (int i = 0; i < 64; i++)
			fw_cfg_ops.read(c, 1, &b[i], 1);
		uint32_t size = (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
		if (strcmp((char *)b + 8, name) != 0 || size >= cap)
			continue;
		uint8_t key[2] = {b[5], b[4]};
		fw_cfg_ops.write(c, 0, key, 2);
		for (uint32_t i = 0; i < size; i++)
			fw_cfg_ops.read(c, 1, (uint8_t *)&out[i], 1);
		out[size] = 0;
		return;
	}
}

/* Firmware boot with Debian's SeaBIOS on two vCPUs and an empty virtio
 * disk: the firmware starts at the reset vector, wakes the AP, reads
 * fw_cfg, places iovirt's ACPI tables through the loader, prints on COM1
 * (sercon) and, finding nothing to boot, stops the VM with the error.
 * Real-mode and 32-bit firmware code runs fine on a KVM that interprets
 * ring 0. */
static void test_firmware_finds_no_boot_device(void **state)
{
	if (access(CONFIG_FIRMWARE_BIOS, R_OK) != 0) {
		skip(); /* Debian's seabios package is not installed */
		return;
	}
	char disk[] = "/tmp/iovirt-smoke-fw-XXXXXX";
	int dfd = mkstemp(disk);
	assert_true(dfd >= 0);
	assert_int_equal(ftruncate(dfd, 1 << 20), 0);
	close(dfd);
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_NONBLOCK), 0);
	fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20);
	/* Two virtio disks, the second with boot=on, and a CD-ROM (the same
	 * empty image): the boot order is that disk, the CD-ROM, the other. */
	struct vm_config cfg = {.memory = 128ULL << 20, .cpus = 2, .pci = true,
				.firmware = CONFIG_FIRMWARE_BIOS, .console_in_fd = -1,
				.console_out_fd = pipefd[1], .ndisks = 2, .cdrom = disk};
	snprintf(cfg.disks[0].path, sizeof(cfg.disks[0].path), "%s", disk);
	snprintf(cfg.disks[1].path, sizeof(cfg.disks[1].path), "%s", disk);
	cfg.disks[1].readonly = cfg.disks[0].readonly = true; /* one image, three drives */
	cfg.disks[1].boot = true;
	int kvm = vm_open_kvm();
	assert_true(kvm >= 0);
	struct machine m;
	assert_int_equal(machine_create(&m, &cfg, kvm), 0);
	char order[256];
	fw_cfg_file(m.fw_cfg, "bootorder", order, sizeof(order));
	assert_string_equal(order, "/pci@i0cf8/virtio-blk@2\n/pci@i0cf8/ide@3/drive@1/disk@0\n"
				   "/pci@i0cf8/virtio-blk@1");
	assert_int_equal(machine_load_firmware(&m), 0);
	assert_int_equal(machine_run(&m), VM_EXIT_ERROR);
	assert_non_null(strstr(m.vm.exit_detail, "no bootable device"));
	/* The RSDP the firmware put in the F segment is iovirt's. */
	bool found = false;
	for (uint64_t gpa = 0xE0000; gpa < 0x100000 && !found; gpa += 16) {
		const uint8_t *p = guest_mem_ptr(&m.vm.mem, gpa, 36);
		found = p && !memcmp(p, "RSD PTR ", 8) && !memcmp(p + 9, "IOVIRT", 6);
	}
	assert_true(found);
	machine_destroy(&m);
	unlink(disk);
	static char console[1 << 16];
	ssize_t n = read(pipefd[0], console, sizeof(console) - 1);
	assert_true(n > 0);
	console[n] = 0;
	assert_non_null(strstr(console, "SeaBIOS"));
	assert_non_null(strstr(console, "No bootable device"));
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(void)
{
	vcpu_init_signals();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_output_and_poweroff),
		cmocka_unit_test(test_unclaimed_port_reads_all_ones),
		cmocka_unit_test(test_unclaimed_mmio),
		cmocka_unit_test(test_coalesced_writes_come_before_the_next_exit),
		cmocka_unit_test(test_triple_fault_is_reported),
		cmocka_unit_test(test_i8042_reset_line),
		cmocka_unit_test(test_probe_on_the_machine_leaves_it_unrun),
		cmocka_unit_test(test_two_vcpus_start_and_stop),
		cmocka_unit_test(test_pause_and_resume),
		cmocka_unit_test(test_snapshot_and_restore),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_live_migration),
		cmocka_unit_test(test_firmware_finds_no_boot_device),
	};
	return cmocka_run_group_tests_name("kvm smoke", tests, NULL, NULL);
}
