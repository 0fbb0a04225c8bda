/* The boot trace (docs/ARCHITECTURE.md "Boot trace"): when each phase of a
 * boot happened, iovirt's own (options parsed, VM made, kernel loaded, first
 * vCPU entry) and the guest's (its first port access, and the progress
 * codes it writes to the debug port, init's among them). Always recorded,
 * so vm.info can show it; --boot-trace prints it.
 *
 * Marks come from any thread and cost one relaxed load once recorded, so
 * the vCPU exit path can call them. Times are milliseconds since
 * boot_trace_start (the start of main). The trace is the process's first
 * boot's: a reboot or a restore adds nothing after the marks are taken. */
#ifndef IOVIRT_CORE_BOOT_TRACE_H
#define IOVIRT_CORE_BOOT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum boot_phase {
	BOOT_PHASE_OPTIONS,        /* the command line parsed */
	BOOT_PHASE_VM_CREATED,     /* the VM, its RAM and vCPUs */
	BOOT_PHASE_DEVICES,        /* every device created */
	BOOT_PHASE_KVM_PROBED,     /* /dev/kvm's speed probed (before the VM
				    * when resuming a snapshot or migration) */
	BOOT_PHASE_KERNEL_LOADED,  /* kernel, initrd, tables in guest RAM */
	BOOT_PHASE_VCPU_ENTRY,     /* vCPU 0 enters the guest */
	BOOT_PHASE_GUEST_FIRST_IO, /* the guest's first port or MMIO access */
	BOOT_PHASE_COUNT
};

/* The debug port's codes, by who writes them (Cloud Hypervisor's ranges):
 * 0x00-0x1f firmware, 0x20-0x3f boot loader, 0x40-0x5f kernel,
 * 0x60-0x7f user space (init writes 0x60 as it starts). */
#define BOOT_CODE_USERSPACE 0x60

struct boot_trace_event {
	const char *name;   /* "kernel-loaded", "guest-code" */
	int code;           /* the debug port's value; -1 for iovirt's phases */
	double ms;          /* since boot_trace_start */
};

/* Takes t = 0. */
void boot_trace_start(void);

/* --boot-trace: write the trace on stderr once the guest's user space
 * reports (or at boot_trace_finish). */
void boot_trace_print_on_init(bool print);

/* hold: ignore marks until released (the /dev/kvm probe's throwaway
 * machine boots too, and its phases are not the run's). */
void boot_trace_hold(bool hold);

/* Records phase once; later calls cost a relaxed load. */
void boot_trace_mark(enum boot_phase phase);

/* A value the guest wrote to the debug port (the first BOOT_TRACE_CODES). */
void boot_trace_guest_code(uint8_t code);

/* The events so far, in time order; returns how many (at most max). */
size_t boot_trace_events(struct boot_trace_event *out, size_t max);

/* Who wrote a code: "firmware", "boot loader", "kernel", "user space". */
const char *boot_trace_code_source(int code);

/* Writes the trace as a table: phase, at (ms), took (ms since the event
 * before it). */
void boot_trace_print(FILE *out);

/* At exit: prints the trace if --boot-trace asked and it was not printed. */
void boot_trace_finish(void);

/* For tests: forget everything. */
void boot_trace_reset(void);

#define BOOT_TRACE_CODES 32
#define BOOT_TRACE_MAX (BOOT_PHASE_COUNT + BOOT_TRACE_CODES)

#endif
