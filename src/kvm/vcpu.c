#include "kvm/vcpu.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/boot_trace.h"
#include "core/log.h"
#include "kvm/vm.h"
#include "sandbox/sandbox.h"

/* A real-time signal, so that SIGUSR1 and SIGUSR2 stay the user's
 * (SIGUSR1 asks `iovirt run --counters` for a report). */
#define VCPU_KICK_SIGNAL SIGRTMIN

static void kick_handler(int sig) { (void)sig; }

void vcpu_init_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0)
		return -errno;
	vcpu->run = mmap(NULL, (size_t)vm->run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int err = -errno;
		vcpu->run = NULL;
		close(vcpu->fd);
		vcpu->fd = -1;
		return err;
	}
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->run_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	/* String I/O (rep ins/outs) comes as count items of size bytes; KVM
	 * bounds the data to the run page. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			iobus_write(vcpu->vm->pio, run->io.port, data, run->io.size);
		else
			iobus_read(vcpu->vm->pio, run->io.port, data, run->io.size);
	}
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;
	if (run->mmio.is_write)
		iobus_write(vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		iobus_read(vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static uint64_t vcpu_rip(struct vcpu *vcpu)
{
	struct kvm_regs regs;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return 0;
	return regs.rip;
}

/* --verbose: where a crashed vCPU was, for whoever debugs the guest or
 * its firmware. */
static void log_crash_state(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sr) < 0)
		return;
	log_debug("vCPU %u: rip %llx rsp %llx rax %llx rbx %llx rcx %llx rdx %llx rsi %llx "
		  "rdi %llx rbp %llx rflags %llx", vcpu->index, r.rip, r.rsp, r.rax, r.rbx, r.rcx,
		  r.rdx, r.rsi, r.rdi, r.rbp, r.rflags);
	log_debug("vCPU %u: cs %x base %llx ds base %llx es base %llx ss base %llx cr0 %llx "
		  "cr3 %llx cr4 %llx efer %llx idt %llx+%x gdt %llx+%x", vcpu->index,
		  sr.cs.selector, sr.cs.base, sr.ds.base, sr.es.base, sr.ss.base, sr.cr0, sr.cr3,
		  sr.cr4, sr.efer, sr.idt.base, sr.idt.limit, sr.gdt.base, sr.gdt.limit);
}

static void handle_system_event(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_exit(vm, VM_EXIT_POWEROFF, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_exit(vm, VM_EXIT_RESET, "guest reset");
		break;
	default:
		vm_request_exit(vm, VM_EXIT_CRASH, "vCPU %u: system event %u", vcpu->index,
				vcpu->run->system_event.type);
		break;
	}
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	vcpu->exits++;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		boot_trace_mark(BOOT_PHASE_GUEST_FIRST_IO);
		handle_io(vcpu);
		vcpu->exit_pending = true;
		return true;
	case KVM_EXIT_MMIO:
		boot_trace_mark(BOOT_PHASE_GUEST_FIRST_IO);
		handle_mmio(vcpu);
		vcpu->exit_pending = true;
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; treat as a stopped CPU. */
		vm_request_exit(vm, VM_EXIT_CRASH, "vCPU %u halted with interrupts off at RIP 0x%llx",
				vcpu->index, (unsigned long long)vcpu_rip(vcpu));
		return false;
	case KVM_EXIT_SHUTDOWN:
		log_crash_state(vcpu);
		vm_request_exit(vm, VM_EXIT_CRASH, "vCPU %u: triple fault at RIP 0x%llx",
				vcpu->index, (unsigned long long)vcpu_rip(vcpu));
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_request_exit(vm, VM_EXIT_CRASH,
				"vCPU %u: KVM internal error (suberror %u) at RIP 0x%llx",
				vcpu->index, run->internal.suberror,
				(unsigned long long)vcpu_rip(vcpu));
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_exit(vm, VM_EXIT_CRASH,
				"vCPU %u: VM entry failed (reason 0x%llx) at RIP 0x%llx",
				vcpu->index,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
				(unsigned long long)vcpu_rip(vcpu));
		return false;
	default:
		vm_request_exit(vm, VM_EXIT_CRASH, "vCPU %u: unhandled KVM exit %u at RIP 0x%llx",
				vcpu->index, run->exit_reason,
				(unsigned long long)vcpu_rip(vcpu));
		return false;
	}
}

/* KVM finishes a port or MMIO access (a read's data into the guest's
 * register, a string instruction's next step) only on the next KVM_RUN,
 * and keeps that half-done state where a snapshot cannot see it: so a
 * vCPU completes it before parking, with immediate_exit set so that no
 * guest instruction runs. A string instruction may take several exits;
 * the bound keeps a hostile one from holding the pause. (The other exits
 * KVM completes this way — user-space MSRs, hypercalls — iovirt does not
 * enable.) */
#define COMPLETE_MAX_EXITS 1024
static void complete_pending_exit(struct vcpu *vcpu)
{
	for (unsigned i = 0; vcpu->exit_pending && i < COMPLETE_MAX_EXITS; i++) {
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);
		vcpu->exit_pending = false;
		coalesced_mmio_drain(&vcpu->vm->coalesced);
		if (ret < 0 || !handle_exit(vcpu))
			break;
	}
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	/* Nothing buffered stays behind a parked vCPU (a snapshot reads the
	 * devices next). */
	coalesced_mmio_drain(&vcpu->vm->coalesced);
	if (vcpu->exit_pending)
		log_warn("vCPU %u: a port or MMIO access still incomplete after %u exits",
			 vcpu->index, COMPLETE_MAX_EXITS);
}

/* Paused (vm_pause_vcpus): waits, outside KVM_RUN, until resumed or the
 * VM stops. The eventfd write tells the pausing thread one more vCPU is
 * parked. */
static void park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	uint64_t one = 1;
	if (vm->park_fd >= 0 && write(vm->park_fd, &one, sizeof(one)) < 0)
		log_warn("vCPU %u: telling the pause it is parked: %s", vcpu->index,
			 strerror(errno));
	while (vm->pause && vm_exit_reason(vm) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_throttle_vcpus(struct vm *vm, unsigned pct)
{
	__atomic_store_n(&vm->throttle_pct, pct > 99 ? 99 : pct, __ATOMIC_RELAXED);
}

/* Auto-converge's sleep after a kick: on the pause's condition, so a
 * pause or a stop ends it at once. */
static void throttle(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	unsigned pct = __atomic_load_n(&vm->throttle_pct, __ATOMIC_RELAXED);
	if (!pct)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	long ns = (long)pct * VM_THROTTLE_PERIOD_MS * 10000L;
	until.tv_nsec += ns;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->pause_lock);
	int ret = 0;
	while (ret == 0 && !vm->pause && vm_exit_reason(vm) == VM_RUNNING)
		ret = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vcpu_run_until_out(struct vcpu *vcpu, uint16_t port, unsigned max_exits)
{
	struct kvm_run *run = vcpu->run;
	for (unsigned i = 0; i < max_exits; i++) {
		int run_ret = ioctl(vcpu->fd, KVM_RUN, 0);
		int run_err = run_ret < 0 ? errno : 0;
		coalesced_mmio_drain(&vcpu->vm->coalesced);
		if (run_ret < 0) {
			if (run_err == EINTR || run_err == EAGAIN)
				continue;
			return -run_err;
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.port == port) {
			/* KVM finishes the OUT on the next entry; do that now,
			 * without running guest code (see complete_pending_exit). */
			__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			int ret = ioctl(vcpu->fd, KVM_RUN, 0);
			int err = ret < 0 && errno != EINTR ? -errno : 0;
			__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			return err;
		}
	}
	return -ETIMEDOUT;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;

	/* The kick signal is blocked everywhere except inside this thread. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	sandbox_enter(SANDBOX_VCPU);

	while (vm_exit_reason(vm) == VM_RUNNING) {
		/* A kick sets immediate_exit after pause, so a vCPU that missed
		 * the flag here leaves KVM_RUN at once and comes back. */
		if (__atomic_load_n(&vm->pause, __ATOMIC_SEQ_CST)) {
			complete_pending_exit(vcpu);
			park(vcpu);
			continue;
		}
		if (vcpu->index == 0 && vcpu->exits == 0)
			boot_trace_mark(BOOT_PHASE_VCPU_ENTRY);
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);
		int err = ret < 0 ? errno : 0;
		vcpu->exit_pending = false;
		/* The guest's buffered writes happened before this exit. */
		coalesced_mmio_drain(&vm->coalesced);
		if (ret < 0) {
			errno = err;
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				throttle(vcpu);
				continue;
			}
			vm_request_exit(vm, VM_EXIT_ERROR, "vCPU %u: KVM_RUN: %s", vcpu->index,
					strerror(errno));
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	/* Threads inherit the creator's mask: block the kick signal so only
	 * the vCPU thread's unblocked window sees it. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		return -ret;
	/* Named for top -H, perf and the benchmarks' per-thread CPU split. */
	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(vcpu->thread, name);
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started || !vcpu->run)
		return;
	/* immediate_exit covers a signal that lands just before KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}
