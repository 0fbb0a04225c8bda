/* The VM's own state for snapshots (issue 21): the in-kernel PIC pair,
 * IOAPIC and PIT, and the guest's clock. The GSI routing and the irqfds
 * are not saved: the machine rebuilds them as it creates its devices, and
 * each device's load sets its MSI routes again.
 *
 * The clock policy: kvmclock is saved as it stood when the VM was paused
 * (vm_clock_save), with the host's wall-clock time at that moment; a
 * restore advances it by the wall-clock time that passed since, so the
 * guest's clocks (monotonic and wall) go on from where they were plus the
 * time it was away, never backwards, and its wall clock agrees with the
 * host's again without NTP. Each vCPU is told it was stopped
 * (KVM_KVMCLOCK_CTRL) so the guest's lockup watchdogs do not count the gap. */
#ifndef IOVIRT_KVM_VM_STATE_H
#define IOVIRT_KVM_VM_STATE_H

struct vm;
struct state_writer;
struct state_reader;

/* Paused VM (vm_clock_save has run). 0, or -errno after one line. */
int vm_state_save(struct vm *vm, struct state_writer *w);

/* Into a VM whose vCPUs have not run: the irqchip and PIT now, the clock
 * into vm->paused_clock for vm_clock_restore. 0, or -EINVAL with the
 * error in r. */
int vm_state_load(struct vm *vm, struct state_reader *r);

/* Before the restored vCPUs first run: KVM_KVMCLOCK_CTRL on each (where
 * the guest uses kvmclock). */
void vm_state_clock_stopped(struct vm *vm);

#endif
