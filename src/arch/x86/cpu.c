#include "arch/x86/cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"

#define MSR_IA32_SYSENTER_CS   0x174
#define MSR_IA32_SYSENTER_ESP  0x175
#define MSR_IA32_SYSENTER_EIP  0x176
#define MSR_IA32_MISC_ENABLE   0x1a0
#define MSR_IA32_CR_PAT        0x277
#define MSR_STAR               0xc0000081
#define MSR_LSTAR              0xc0000082
#define MSR_CSTAR              0xc0000083
#define MSR_SYSCALL_MASK       0xc0000084
#define MSR_KERNEL_GS_BASE     0xc0000102
#define MISC_ENABLE_FAST_STRING (1ULL << 0)

#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT        (1U << 28)

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			/* KVM emulates the TSC-deadline timer with the in-kernel
			 * LAPIC but leaves the bit to the VMM (QEMU and Firecracker
			 * set it too): without it Linux programs the LAPIC timer's
			 * one-shot count, slower to arm and coarser. */
			if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
				for (unsigned i = 0; i < c->nent; i++)
					if (c->entries[i].function == 1)
						c->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
			return c;
		}
		int err = errno;
		free(c);
		if (err != E2BIG) {
			log_error("/dev/kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
			return NULL;
		}
	}
	return NULL;
}

/* Bits needed to number n things (ceil(log2(n))). */
static unsigned id_bits(unsigned n)
{
	unsigned bits = 0;
	while ((1U << bits) < n)
		bits++;
	return bits;
}

struct kvm_cpuid2 *cpu_cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned index,
				      unsigned ncpus)
{
	size_t size = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	if (!c)
		return NULL;
	memcpy(c, base, size);

	/* One package, ncpus cores, one thread each; APIC id = index. */
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffU) | (index << 24) |
				 ((ncpus > 255 ? 255 : ncpus) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Intel deterministic cache parameters: cores per
			 * package - 1 in EAX[31:26]; caches per thread. */
			if (e->eax & 0x1f)
				e->eax = (e->eax & 0x3ffU) | ((ncpus - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: level 0 SMT (1 thread), level 1
			 * core (ncpus); EDX = this CPU's x2APIC id. */
			e->edx = index;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 0 | (1U << 8);
			} else if (e->index == 1) {
				e->eax = id_bits(ncpus);
				e->ebx = ncpus;
				e->ecx = 1 | (2U << 8);
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			/* AMD: NC = cores - 1, ApicIdCoreIdSize. */
			e->ecx = (e->ecx & ~0xf0ffU) | (ncpus - 1) | (id_bits(ncpus) << 12);
			break;
		case 0x8000001e:
			/* AMD extended APIC id / core id / node id. */
			e->eax = index;
			e->ebx = index & 0xff;
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
	return c;
}

static int set_msrs(int vcpu_fd)
{
	static const struct { uint32_t index; uint64_t value; } init[] = {
		{MSR_IA32_SYSENTER_CS, 0}, {MSR_IA32_SYSENTER_ESP, 0},
		{MSR_IA32_SYSENTER_EIP, 0}, {MSR_STAR, 0}, {MSR_LSTAR, 0},
		{MSR_CSTAR, 0}, {MSR_SYSCALL_MASK, 0}, {MSR_KERNEL_GS_BASE, 0},
		{MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
		{MSR_IA32_CR_PAT, 0x0007040600070406ULL}, /* power-on default */
	};
	enum { N = sizeof(init) / sizeof(init[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[N];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		msrs.entries[i].index = init[i].index;
		msrs.entries[i].data = init[i].value;
	}
	int n = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return -errno;
	if (n != N)
		log_debug("KVM_SET_MSRS set %d of %d MSRs", n, N);
	return 0;
}

static void set_lvt_mode(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &lapic->regs[reg], 4);
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, 4);
}

int cpu_init_vcpu(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned index, unsigned ncpus)
{
	struct kvm_cpuid2 *c = cpu_cpuid_for_vcpu(base, index, ncpus);
	if (!c)
		return -ENOMEM;
	int ret = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (ret < 0)
		return ret;
	if ((ret = set_msrs(vcpu_fd)) < 0)
		return ret;

	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;

	/* Firmware wires LINT0 as ExtINT (the PIC in virtual-wire mode) and
	 * LINT1 as NMI; Linux expects to find it so. */
	struct kvm_lapic_state lapic;
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	set_lvt_mode(&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	set_lvt_mode(&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1,
		.l = code64 ? 1 : 0, .g = 1,
	};
}

int cpu_set_boot_regs(int vcpu_fd, const struct boot_entry *e)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = flat_segment(BOOT_CS, 0xb, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(BOOT_DS, 0x3, false);
	sregs.tr = (struct kvm_segment){
		.base = 0, .limit = 0x67, .selector = BOOT_TSS, .type = 0xb, .present = 1,
	};
	sregs.gdt.base = e->gdt_base;
	sregs.gdt.limit = e->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	sregs.cr3 = e->cr3;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	struct kvm_regs regs = {
		.rip = e->rip, .rsi = e->rsi, .rsp = e->rsp, .rbp = e->rsp,
		.rflags = 0x2,
	};
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
