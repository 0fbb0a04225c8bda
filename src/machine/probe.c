#include "machine/probe.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <time.h>

#include "core/boot_trace.h"
#include "kvm/vcpu.h"
#include "machine/machine.h"

/* 1,000,000 ring-0 instructions: about 1 ms on hardware, about a second
 * where CPL 0 is interpreted. Then a write to port 0x80, where the caller,
 * running the vCPU itself, stops it. */
#define PROBE_GPA 0x1000
#define PROBE_DONE_PORT 0x80
static const unsigned char probe_code[] = {
	0x66, 0xb9, 0x20, 0xa1, 0x07, 0x00, /* mov ecx, 500000 */
	0x66, 0x49,                         /* 1: dec ecx */
	0x75, 0xfc,                         /* jnz 1b */
	0xe6, PROBE_DONE_PORT,              /* out 0x80, al */
	0xeb, 0xfe,                         /* 2: jmp 2b */
};

#define PROBE_HARDWARE_MS 100.0
#define PROBE_MAX_EXITS 1000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Times the loop on vCPU 0 of m, on this thread; -errno if it cannot run. */
static int time_loop(struct machine *m, double *elapsed)
{
	int ret = machine_load_real_mode(m, probe_code, sizeof(probe_code), PROBE_GPA);
	if (ret < 0)
		return ret;
	double start = now_ms();
	ret = vcpu_run_until_out(&m->vm.vcpus[0], PROBE_DONE_PORT, PROBE_MAX_EXITS);
	*elapsed = now_ms() - start;
	return ret;
}

static enum probe_result verdict(int ret, double elapsed, double *elapsed_ms)
{
	if (elapsed_ms)
		*elapsed_ms = elapsed;
	return ret == 0 && elapsed < PROBE_HARDWARE_MS ? PROBE_HARDWARE : PROBE_EMULATED;
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
	double elapsed = 0;
	int ret = time_loop(&m, &elapsed);
	machine_destroy(&m);
	boot_trace_hold(false);
	return verdict(ret, elapsed, elapsed_ms);
}

enum probe_result probe_machine_speed(struct machine *m, double *elapsed_ms)
{
	int fd = m->vm.vcpus[0].fd;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t saved[sizeof(probe_code)];
	if (ioctl(fd, KVM_GET_REGS, &regs) < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0 ||
	    guest_mem_read(&m->vm.mem, PROBE_GPA, saved, sizeof(saved)) < 0)
		return verdict(-EINVAL, 0, elapsed_ms);
	double elapsed = 0;
	int ret = time_loop(m, &elapsed);
	/* Back to the state it had (a reset CPU, the RAM as it was), for the
	 * kernel, the firmware or the snapshot the machine starts from. */
	if (guest_mem_write(&m->vm.mem, PROBE_GPA, saved, sizeof(saved)) < 0 ||
	    ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0)
		ret = -EIO;
	return verdict(ret, elapsed, elapsed_ms);
}
