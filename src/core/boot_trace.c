/* boot_trace: see boot_trace.h. The phases are a fixed array set once by
 * compare-and-swap; the guest's codes take slots by an atomic counter and
 * publish each with a release store, so readers on other threads (vm.info,
 * the printer) see only whole entries. */
#include "core/boot_trace.h"

#include <string.h>
#include <time.h>

static const char *const phase_names[BOOT_PHASE_COUNT] = {
	[BOOT_PHASE_OPTIONS] = "options",
	[BOOT_PHASE_VM_CREATED] = "vm-created",
	[BOOT_PHASE_DEVICES] = "devices",
	[BOOT_PHASE_KVM_PROBED] = "kvm-probed",
	[BOOT_PHASE_KERNEL_LOADED] = "kernel-loaded",
	[BOOT_PHASE_VCPU_ENTRY] = "vcpu-entry",
	[BOOT_PHASE_GUEST_FIRST_IO] = "guest-first-io",
};

static const char *const phase_descriptions[BOOT_PHASE_COUNT] = {
	[BOOT_PHASE_OPTIONS] = "command line parsed",
	[BOOT_PHASE_VM_CREATED] = "VM, RAM, vCPUs made",
	[BOOT_PHASE_DEVICES] = "devices created",
	[BOOT_PHASE_KVM_PROBED] = "/dev/kvm probed",
	[BOOT_PHASE_KERNEL_LOADED] = "kernel in guest RAM",
	[BOOT_PHASE_VCPU_ENTRY] = "vCPU 0 entered",
	[BOOT_PHASE_GUEST_FIRST_IO] = "first port access",
};

static struct {
	uint64_t t0;                        /* CLOCK_MONOTONIC ns at start */
	bool print;
	int printed;
	int held;
	uint64_t phase_ns[BOOT_PHASE_COUNT]; /* 0: not yet */
	unsigned ncodes;                    /* slots taken */
	struct {
		uint64_t ns;
		uint8_t code;
		int ready;
	} codes[BOOT_TRACE_CODES];
} trace;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double ms_since_start(uint64_t ns)
{
	return (double)(ns - trace.t0) / 1e6;
}

void boot_trace_reset(void)
{
	memset(&trace, 0, sizeof(trace));
}

void boot_trace_start(void)
{
	boot_trace_reset();
	trace.t0 = now_ns();
}

void boot_trace_print_on_init(bool print)
{
	trace.print = print;
}

void boot_trace_hold(bool hold)
{
	__atomic_store_n(&trace.held, hold, __ATOMIC_RELAXED);
}

void boot_trace_mark(enum boot_phase phase)
{
	if ((unsigned)phase >= BOOT_PHASE_COUNT || __atomic_load_n(&trace.held, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&trace.phase_ns[phase], __ATOMIC_RELAXED))
		return;
	uint64_t expected = 0;
	__atomic_compare_exchange_n(&trace.phase_ns[phase], &expected, now_ns(), false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

const char *boot_trace_code_source(int code)
{
	if (code < 0x20)
		return "firmware";
	if (code < 0x40)
		return "boot loader";
	if (code < 0x60)
		return "kernel";
	if (code < 0x80)
		return "user space";
	return "other";
}

void boot_trace_guest_code(uint8_t code)
{
	if (__atomic_load_n(&trace.held, __ATOMIC_RELAXED))
		return;
	unsigned slot = __atomic_fetch_add(&trace.ncodes, 1, __ATOMIC_RELAXED);
	if (slot >= BOOT_TRACE_CODES) {
		__atomic_store_n(&trace.ncodes, BOOT_TRACE_CODES, __ATOMIC_RELAXED);
		return;
	}
	trace.codes[slot].ns = now_ns();
	trace.codes[slot].code = code;
	__atomic_store_n(&trace.codes[slot].ready, 1, __ATOMIC_RELEASE);
	/* Init has started: the boot is over, show it now rather than at exit. */
	if (code >= BOOT_CODE_USERSPACE && code < 0x80 && trace.print &&
	    !__atomic_exchange_n(&trace.printed, 1, __ATOMIC_ACQ_REL))
		boot_trace_print(stderr);
}

size_t boot_trace_events(struct boot_trace_event *out, size_t max)
{
	struct {
		struct boot_trace_event ev;
		uint64_t ns;
	} all[BOOT_TRACE_MAX];
	size_t n = 0;
	for (unsigned p = 0; p < BOOT_PHASE_COUNT; p++) {
		uint64_t ns = __atomic_load_n(&trace.phase_ns[p], __ATOMIC_ACQUIRE);
		if (ns)
			all[n++] = (typeof(all[0])){{phase_names[p], -1, ms_since_start(ns)}, ns};
	}
	unsigned ncodes = __atomic_load_n(&trace.ncodes, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < ncodes && i < BOOT_TRACE_CODES; i++) {
		if (!__atomic_load_n(&trace.codes[i].ready, __ATOMIC_ACQUIRE))
			continue;
		uint64_t ns = trace.codes[i].ns;
		all[n++] = (typeof(all[0])){{"guest-code", trace.codes[i].code,
					     ms_since_start(ns)}, ns};
	}
	/* Insertion sort by time: at most a few dozen entries. */
	for (size_t i = 1; i < n; i++) {
		typeof(all[0]) e = all[i];
		size_t j = i;
		for (; j > 0 && all[j - 1].ns > e.ns; j--)
			all[j] = all[j - 1];
		all[j] = e;
	}
	size_t count = n < max ? n : max;
	for (size_t i = 0; i < count; i++)
		out[i] = all[i].ev;
	return count;
}

static const char *description(const struct boot_trace_event *e)
{
	for (unsigned p = 0; p < BOOT_PHASE_COUNT; p++)
		if (e->name == phase_names[p])
			return phase_descriptions[p];
	return boot_trace_code_source(e->code);
}

void boot_trace_print(FILE *out)
{
	struct boot_trace_event ev[BOOT_TRACE_MAX];
	size_t n = boot_trace_events(ev, BOOT_TRACE_MAX);
	double prev = 0;
	for (size_t i = 0; i < n; i++) {
		char name[32];
		if (ev[i].code >= 0)
			snprintf(name, sizeof(name), "guest-0x%02x", (unsigned)ev[i].code);
		else
			snprintf(name, sizeof(name), "%s", ev[i].name);
		fprintf(out, "boot-trace: %-15s %-20s at %9.1f ms  +%9.1f ms\n", name,
			description(&ev[i]), ev[i].ms, ev[i].ms - prev);
		prev = ev[i].ms;
	}
	fflush(out);
}

void boot_trace_finish(void)
{
	if (trace.print && !__atomic_exchange_n(&trace.printed, 1, __ATOMIC_ACQ_REL))
		boot_trace_print(stderr);
}
