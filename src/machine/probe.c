#include "machine/probe.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/boot_trace.h"
#include "machine/machine.h"

/* 1,000,000 ring-0 instructions: about 1 ms on hardware, about a second
 * where CPL 0 is interpreted. Then power off through the ACPI PM block. */
static const unsigned char probe_code[] = {
	0x66, 0xb9, 0x20, 0xa1, 0x07, 0x00, /* mov ecx, 500000 */
	0x66, 0x49,                         /* 1: dec ecx */
	0x75, 0xfc,                         /* jnz 1b */
	0xba, 0x04, 0x06,                   /* mov dx, 0x604 (PM1a_CNT) */
	0xb8, 0x00, 0x34,                   /* mov ax, SLP_EN | SLP_TYP(5) */
	0xef,                               /* out dx, ax */
	0xf4,                               /* 2: hlt */
	0xeb, 0xfd,                         /* jmp 2b */
};

#define PROBE_LIMIT_MS 2000.0
#define PROBE_HARDWARE_MS 100.0

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *watchdog(void *arg)
{
	struct machine *m = arg;
	usleep((useconds_t)(PROBE_LIMIT_MS * 1000));
	vm_request_exit(&m->vm, VM_EXIT_TIMEOUT, "probe took too long");
	return NULL;
}

enum probe_result probe_kvm_speed(double *elapsed_ms)
{
	int kvm = vm_open_kvm();
	if (kvm < 0)
		return PROBE_NO_KVM;
	struct vm_config cfg = {
		.memory = 32ULL << 20, .cpus = 1, .console_in_fd = -1, .console_out_fd = -1,
		.unconfined = true,
	};
	struct machine m;
	boot_trace_hold(true);
	if (machine_create(&m, &cfg, kvm) < 0) {
		boot_trace_hold(false);
		return PROBE_NO_KVM;
	}
	if (machine_load_real_mode(&m, probe_code, sizeof(probe_code), 0x1000) < 0) {
		machine_destroy(&m);
		boot_trace_hold(false);
		return PROBE_NO_KVM;
	}
	pthread_t wd;
	int have_wd = pthread_create(&wd, NULL, watchdog, &m) == 0;
	double start = now_ms();
	enum vm_exit_reason reason = machine_run(&m);
	double elapsed = now_ms() - start;
	if (have_wd) {
		pthread_cancel(wd);
		pthread_join(wd, NULL);
	}
	machine_destroy(&m);
	boot_trace_hold(false);
	if (elapsed_ms)
		*elapsed_ms = elapsed;
	return reason == VM_EXIT_POWEROFF && elapsed < PROBE_HARDWARE_MS ? PROBE_HARDWARE
									  : PROBE_EMULATED;
}
