/* Every exit status iovirt uses, in one place (iovirt(1) "EXIT STATUS").
 * Scripts and the test tiers tell outcomes apart by these numbers, so a
 * value never changes meaning. In core: the sandbox (a lower layer than
 * the commands) ends the process with one of them too. */
#ifndef IOVIRT_CORE_EXIT_CODES_H
#define IOVIRT_CORE_EXIT_CODES_H

enum iovirt_exit {
	/* run: the guest powered off, rebooted without --reboot, the user
	 * quit (Ctrl-A x) or the API stopped it (vm.shutdown, vm.reboot
	 * without --reboot); every other command: it did what it was asked. */
	IOVIRT_EXIT_OK = 0,
	/* Bad input (a value that does not parse, a file that cannot be
	 * opened) or a failure of iovirt itself, including being stopped by
	 * a signal (SIGTERM, SIGINT, SIGHUP) before the guest stopped. */
	IOVIRT_EXIT_ERROR = 1,
	/* A usage error: unknown command or option, missing argument. */
	IOVIRT_EXIT_USAGE = 2,
	/* run: the guest kernel panicked (pvpanic). */
	IOVIRT_EXIT_GUEST_PANIC = 3,
	/* run: the guest crashed (triple fault, KVM internal error, failed
	 * VM entry). */
	IOVIRT_EXIT_GUEST_CRASH = 4,
	/* A thread made a system call its seccomp filter forbids: what a
	 * shell shows for a death by SIGSYS (128 + 31). */
	IOVIRT_EXIT_SECCOMP_VIOLATION = 128 + 31,
};

#endif
