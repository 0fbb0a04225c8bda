/* Does /dev/kvm run guest kernel code at hardware speed? Some hosts (nested
 * KVM that interprets CPL 0) run ring-0 code thousands of times slower, too
 * slow to boot Linux. Measured by timing a short ring-0 loop (in a throwaway
 * VM, or on a machine's own vCPU before it boots), not guessed from the
 * host's name. */
#ifndef IOVIRT_MACHINE_PROBE_H
#define IOVIRT_MACHINE_PROBE_H

enum probe_result {
	PROBE_HARDWARE,
	PROBE_EMULATED,
	PROBE_NO_KVM,
};

/* Logs one line on failure (no KVM). *elapsed_ms gets the loop's time. */
enum probe_result probe_kvm_speed(double *elapsed_ms);

struct machine;

/* The same, timed on vCPU 0 of a machine that has not run yet, instead of
 * a throwaway one (whose making and tearing down cost more than the loop
 * where KVM is nested): its registers and the RAM the loop used are put
 * back, so the machine then boots as if never run. A vCPU that cannot run
 * counts as emulated; the boot says why when it tries. */
enum probe_result probe_machine_speed(struct machine *m, double *elapsed_ms);

#endif
