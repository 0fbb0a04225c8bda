/* Per-vCPU x86 state: CPUID (what KVM supports, adjusted per vCPU for APIC
 * ids and topology, with the hypervisor leaves so the guest uses kvm-clock),
 * the MSRs and LAPIC wiring a guest expects from firmware, and the long-mode
 * registers of the boot CPU. */
#ifndef IOVIRT_ARCH_X86_CPU_H
#define IOVIRT_ARCH_X86_CPU_H

#include <linux/kvm.h>

#include "arch/x86/boot.h"

#define CPU_MAX_VCPUS 64

/* KVM_GET_SUPPORTED_CPUID; NULL (with a logged line) on failure. Free it. */
struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd);

/* Returns a copy of base adjusted for vCPU `index` of `ncpus`. Free it. */
struct kvm_cpuid2 *cpu_cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned index,
				      unsigned ncpus);

/* CPUID, MSRs, FPU and LAPIC LINT wiring for any vCPU; 0 or -errno. */
int cpu_init_vcpu(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned index, unsigned ncpus);

/* Registers for entering a 64-bit kernel at *entry (boot CPU only). */
int cpu_set_boot_regs(int vcpu_fd, const struct boot_entry *entry);

#endif
