/* Per-vCPU CPUID: APIC ids, the hypervisor bit, HTT, x2APIC topology
 * (leaf 0xb), AMD core counts, and that the supported table is left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/cpu.h"

#define HYPERVISOR (1U << 31)
#define HTT (1U << 28)

static const struct kvm_cpuid_entry2 host[] = {
	{.function = 0, .eax = 0x1f, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
	/* Host APIC id 0xab, 0x0c logical ids, CLFLUSH 8, brand 0x42. */
	{.function = 1, .eax = 0x000806f8, .ebx = 0xab0c0842, .ecx = 0x7ffafbff,
	 .edx = 0xbfebfbff},
	{.function = 4, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 0xfc004121, .ebx = 0x02c0003f, .ecx = 0x3f, .edx = 0},
	{.function = 4, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 0xfc03c163, .ebx = 0x0280003f, .ecx = 0xbfff, .edx = 4},
	{.function = 4, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 0xfc0000e0, .ebx = 0, .ecx = 0, .edx = 0}, /* type 0: no cache */
	{.function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 0, .ebx = 0xf3bfa7eb, .ecx = 0x18417f5e, .edx = 0xfc18cc10},
	{.function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 0xab},
	{.function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 7, .ebx = 96, .ecx = 0x201, .edx = 0xab},
	{.function = 0xb, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	 .eax = 0, .ebx = 0, .ecx = 2, .edx = 0xab},
	{.function = 0x80000008, .eax = 0x3030, .ebx = 0x1000, .ecx = 0x0003a53f, .edx = 0},
	{.function = 0x8000001e, .eax = 0x55, .ebx = 0x0123, .ecx = 0x0302, .edx = 0},
};
enum { NENT = sizeof(host) / sizeof(host[0]) };

static struct kvm_cpuid2 *make_base(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(host));
	assert_non_null(c);
	c->nent = NENT;
	memcpy(c->entries, host, sizeof(host));
	return c;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn,
					   uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == index)
			return &c->entries[i];
	fail_msg("leaf %#x.%u missing", fn, index);
	return NULL;
}

static struct kvm_cpuid2 *for_vcpu(const struct kvm_cpuid2 *base, unsigned index,
				   unsigned ncpus)
{
	struct kvm_cpuid2 *c = cpu_cpuid_for_vcpu(base, index, ncpus);
	assert_non_null(c);
	assert_ptr_not_equal(c, base);
	assert_int_equal(c->nent, NENT);
	return c;
}

static void test_leaf1(void **state)
{
	struct kvm_cpuid2 *base = make_base();
	for (unsigned ncpus = 1; ncpus <= 64; ncpus *= 4) {
		for (unsigned index = 0; index < ncpus; index += 3) {
			struct kvm_cpuid2 *c = for_vcpu(base, index, ncpus);
			const struct kvm_cpuid_entry2 *e = find(c, 1, 0);
			assert_int_equal(e->ebx >> 24, index);              /* APIC id */
			assert_int_equal((e->ebx >> 16) & 0xff, ncpus);     /* logical ids */
			assert_int_equal(e->ebx & 0xffff, 0x0842);          /* untouched */
			assert_int_equal(e->eax, host[1].eax);
			assert_int_equal(e->ecx, host[1].ecx | HYPERVISOR);
			if (ncpus > 1)
				assert_int_equal(e->edx, host[1].edx | HTT);
			else
				assert_int_equal(e->edx, host[1].edx & ~HTT);
			free(c);
		}
	}
	/* HTT is set for ncpus > 1 even if the host lacks it. */
	base->entries[1].edx &= ~HTT;
	struct kvm_cpuid2 *c = for_vcpu(base, 1, 2);
	assert_true(find(c, 1, 0)->edx & HTT);
	free(c);
	free(base);
}

static void test_leaf_b_topology(void **state)
{
	struct kvm_cpuid2 *base = make_base();
	struct kvm_cpuid2 *c = for_vcpu(base, 5, 6);
	const struct kvm_cpuid_entry2 *smt = find(c, 0xb, 0);
	const struct kvm_cpuid_entry2 *core = find(c, 0xb, 1);
	const struct kvm_cpuid_entry2 *end = find(c, 0xb, 2);
	/* EDX: this CPU's x2APIC id, at every level. */
	assert_int_equal(smt->edx, 5);
	assert_int_equal(core->edx, 5);
	assert_int_equal(end->edx, 5);
	/* Level 0: SMT, one thread, shift 0. */
	assert_int_equal(smt->eax, 0);
	assert_int_equal(smt->ebx, 1);
	assert_int_equal(smt->ecx, 0x100);
	/* Level 1: core, 6 CPUs, shift ceil(log2 6) = 3. */
	assert_int_equal(core->eax, 3);
	assert_int_equal(core->ebx, 6);
	assert_int_equal(core->ecx, 0x201);
	/* Level 2: invalid, ECX echoes the level. */
	assert_int_equal(end->eax, 0);
	assert_int_equal(end->ebx, 0);
	assert_int_equal(end->ecx, 2);
	free(c);

	const unsigned shifts[][2] = {{1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3},
				      {9, 4}, {33, 6}, {64, 6}};
	for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		c = for_vcpu(base, shifts[i][0] - 1, shifts[i][0]);
		core = find(c, 0xb, 1);
		assert_int_equal(core->eax, shifts[i][1]);
		assert_int_equal(core->ebx, shifts[i][0]);
		assert_int_equal(core->edx, shifts[i][0] - 1);
		/* The APIC id fits in the bits the shift leaves. */
		assert_true((core->edx >> core->eax) == 0);
		free(c);
	}
	free(base);
}

static void test_leaf4(void **state)
{
	struct kvm_cpuid2 *base = make_base();
	struct kvm_cpuid2 *c = for_vcpu(base, 0, 6);
	const struct kvm_cpuid_entry2 *l1 = find(c, 4, 0), *l2 = find(c, 4, 1);
	assert_int_equal(l1->eax >> 26, 5);               /* cores per package - 1 */
	assert_int_equal((l1->eax >> 14) & 0xfff, 0);     /* one thread per cache */
	assert_int_equal(l1->eax & 0x3ff, 0x121);         /* type, level kept */
	assert_int_equal(l1->ebx, host[2].ebx);
	assert_int_equal(l2->eax >> 26, 5);
	assert_int_equal(l2->eax & 0x3ff, 0x163);
	assert_int_equal(find(c, 4, 2)->eax, host[4].eax); /* no cache: untouched */
	free(c);
	free(base);
}

static void test_amd_leaves(void **state)
{
	struct kvm_cpuid2 *base = make_base();
	struct kvm_cpuid2 *c = for_vcpu(base, 5, 6);
	const struct kvm_cpuid_entry2 *e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 5);               /* NC = cores - 1 */
	assert_int_equal((e->ecx >> 12) & 0xf, 3);        /* ApicIdCoreIdSize */
	assert_int_equal(e->ecx & ~0xf0ffU, 0x00030500);  /* other bits kept */
	assert_int_equal(e->eax, host[9].eax);
	e = find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, 5);                      /* extended APIC id */
	assert_int_equal(e->ebx, 5);                      /* core 5, 1 thread */
	assert_int_equal(e->ecx, 0);                      /* node 0 of 1 */
	free(c);

	c = for_vcpu(base, 0, 1);
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 0);
	assert_int_equal((e->ecx >> 12) & 0xf, 0);
	free(c);
	c = for_vcpu(base, 63, 64);
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 63);
	assert_int_equal((e->ecx >> 12) & 0xf, 6);
	assert_int_equal(find(c, 0x8000001e, 0)->eax, 63);
	free(c);
	free(base);
}

static void test_input_unchanged(void **state)
{
	struct kvm_cpuid2 *base = make_base();
	struct kvm_cpuid2 *c = for_vcpu(base, 3, 4);
	assert_int_equal(base->nent, NENT);
	assert_memory_equal(base->entries, host, sizeof(host));
	/* Leaves nobody adjusts come through bit for bit. */
	assert_memory_equal(find(c, 0, 0), &host[0], sizeof(host[0]));
	assert_memory_equal(find(c, 7, 0), &host[5], sizeof(host[5]));
	free(c);

	/* An empty table is copied as empty. */
	struct kvm_cpuid2 empty = {0};
	c = cpu_cpuid_for_vcpu(&empty, 0, 1);
	assert_non_null(c);
	assert_int_equal(c->nent, 0);
	free(c);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf1),
		cmocka_unit_test(test_leaf_b_topology),
		cmocka_unit_test(test_leaf4),
		cmocka_unit_test(test_amd_leaves),
		cmocka_unit_test(test_input_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
