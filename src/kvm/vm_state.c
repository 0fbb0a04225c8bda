/* The VM's state for snapshots; see vm_state.h. */
#include "kvm/vm_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

#define STATE_VERSION 1

/* The chips KVM_GET_IRQCHIP knows, and how much of its union each uses. */
static const struct {
	const char *name;
	uint32_t chip_id;
	size_t len;
} chips[] = {
	{"pic_master", KVM_IRQCHIP_PIC_MASTER, sizeof(struct kvm_pic_state)},
	{"pic_slave", KVM_IRQCHIP_PIC_SLAVE, sizeof(struct kvm_pic_state)},
	{"ioapic", KVM_IRQCHIP_IOAPIC, sizeof(struct kvm_ioapic_state)},
};
#define NCHIPS (sizeof(chips) / sizeof(chips[0]))

int vm_state_save(struct vm *vm, struct state_writer *w)
{
	/* Without the clock of the pause a restore would set a wrong one. */
	if (!vm->clock_saved) {
		log_error("saving the VM: the guest's clock was not read at the pause");
		return -EIO;
	}
	state_begin(w, "vm", STATE_VERSION);
	state_put_u64(w, "clock", vm->paused_clock);
	state_put_u64(w, "clock_realtime", vm->paused_realtime);
	for (unsigned i = 0; i < NCHIPS; i++) {
		struct kvm_irqchip chip;
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = chips[i].chip_id;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
			log_error("saving the VM: KVM_GET_IRQCHIP (%s): %s", chips[i].name,
				  strerror(errno));
			return -errno;
		}
		state_put_bytes(w, chips[i].name, &chip.chip, chips[i].len);
	}
	struct kvm_pit_state2 pit;
	memset(&pit, 0, sizeof(pit));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0) {
		log_error("saving the VM: KVM_GET_PIT2: %s", strerror(errno));
		return -errno;
	}
	state_put_bytes(w, "pit", &pit, sizeof(pit));
	state_end(w);
	return 0;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int vm_state_load(struct vm *vm, struct state_reader *r)
{
	struct kvm_irqchip chip[NCHIPS];
	struct kvm_pit_state2 pit;
	uint64_t clock, saved_realtime;
	memset(chip, 0, sizeof(chip));
	state_enter(r, "vm", STATE_VERSION, NULL);
	state_get_u64(r, "clock", &clock);
	state_get_u64(r, "clock_realtime", &saved_realtime);
	for (unsigned i = 0; i < NCHIPS; i++) {
		chip[i].chip_id = chips[i].chip_id;
		state_get_bytes(r, chips[i].name, &chip[i].chip, chips[i].len);
	}
	state_get_bytes(r, "pit", &pit, sizeof(pit));
	if (state_leave(r) < 0)
		return -EINVAL;
	/* 2^62 ns is 146 years: room for the time away without overflow. */
	if (clock >= 1ULL << 62)
		return state_invalid(r, "clock", "%llu ns is not a guest's uptime",
				     (unsigned long long)clock);
	for (unsigned i = 0; i < NCHIPS; i++)
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip[i]) < 0)
			return state_invalid(r, chips[i].name, "KVM refused it: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return state_invalid(r, "pit", "KVM refused it: %s", strerror(errno));
	/* The clock policy (vm_state.h): the time the guest was away. */
	uint64_t now = realtime_ns();
	uint64_t away = saved_realtime && now > saved_realtime ? now - saved_realtime : 0;
	if (away >= 1ULL << 62)
		away = 0; /* a saved time from before 1970 + 146 years: nonsense */
	vm->paused_clock = clock + away;
	vm->paused_realtime = now;
	vm->clock_saved = true;
	log_debug("restore: the guest's clock was %.3f s at the pause, %.1f s ago: now %.3f s",
		  (double)clock / 1e9, (double)away / 1e9, (double)vm->paused_clock / 1e9);
	return 0;
}

void vm_state_clock_stopped(struct vm *vm)
{
	int err = 0;
	/* EINVAL: this vCPU's guest has no kvmclock (nothing to tell). */
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL && !err)
			err = errno;
	if (err)
		log_warn("KVM_KVMCLOCK_CTRL: %s: the guest's watchdogs may count the time away",
			 strerror(err));
}
