/* One thread per vCPU: KVM_RUN and exit dispatch to the buses. */
#ifndef IOVIRT_KVM_VCPU_H
#define IOVIRT_KVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t exits;       /* exits handled in user space */
	bool exit_pending;    /* an I/O exit handled, KVM not yet re-entered */
};

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index);
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_start(struct vcpu *vcpu);
/* Makes a running vCPU leave KVM_RUN soon (immediate_exit + signal). */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* Runs the vCPU on the calling thread (before its own thread starts) until
 * the guest writes to port, leaving the access completed so the registers
 * may be set afterwards; other exits to user space are ignored, at most
 * max_exits of them. 0, -ETIMEDOUT past max_exits, or -errno of KVM_RUN. */
int vcpu_run_until_out(struct vcpu *vcpu, uint16_t port, unsigned max_exits);

/* Installs the (empty) handler of the signal that kicks vCPUs (a
 * real-time one: SIGUSR1 and SIGUSR2 are left alone); once per process. */
void vcpu_init_signals(void);

#endif
