/* A vCPU's architectural state, for snapshots (issue 21): what KVM holds
 * of it, saved as one record (core/state.h) and restored into a vCPU that
 * has not run yet.
 *
 * The kernel's structs go into the record as bytes (x86's ABI is fixed and
 * little-endian); their sizes are checked on load, their contents by KVM.
 * The order is the one the kernel needs (docs/ARCHITECTURE.md "vCPU and VM
 * state"): saved with MP_STATE first; restored CPUID2 → MP_STATE → REGS →
 * SREGS → XSAVE → XCRS → LAPIC → FPU → DEBUGREGS → TSC kHz → MSRs (the
 * TSC itself before the others, so TSC_DEADLINE is read against it) →
 * VCPU_EVENTS last (SET_REGS clears pending exceptions). */
#ifndef IOVIRT_KVM_VCPU_STATE_H
#define IOVIRT_KVM_VCPU_STATE_H

struct vcpu;
struct state_writer;
struct state_reader;

/* The vCPU is outside KVM_RUN (parked) with no exit left to complete.
 * 0, or -errno after one line. */
int vcpu_state_save(struct vcpu *vcpu, struct state_writer *w);

/* Into a vCPU that has not run. 0, or -EINVAL with the error in r (a
 * field that does not fit, or one KVM refused). Every field is read and
 * checked before KVM sees any; KVM's own refusal of a part can come after
 * earlier parts were set, leaving the vCPU half restored: a failed
 * restore ends the process, which never runs that vCPU. */
int vcpu_state_load(struct vcpu *vcpu, struct state_reader *r);

#endif
