/* iovirt's confinement (issue 18), after Firecracker's per-thread seccomp
 * filters and its jailer: setup runs with every privilege it needs (tap,
 * VFIO, vhost-net, /dev/kvm), then each thread that runs guest-driven work
 * enters its kind's seccomp filter, and the process drops to --user with no
 * capabilities left and a file-descriptor ceiling. The thread that sets up
 * and tears down machines (main) stays unfiltered but only waits while the
 * guest runs: it is what re-creates the VM on --reboot. */
#ifndef IOVIRT_SANDBOX_SANDBOX_H
#define IOVIRT_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/exit_codes.h"

/* --seccomp=on|off|log. ON is 0 so that a zeroed vm_config (the smoke tier,
 * the probe) is confined too. */
enum sandbox_seccomp {
	SANDBOX_SECCOMP_ON = 0,  /* a forbidden syscall ends the process */
	SANDBOX_SECCOMP_OFF,     /* no filters (debugging) */
	SANDBOX_SECCOMP_LOG,     /* forbidden syscalls go through, logged by the kernel */
};

/* The kinds of thread that run guest-driven work; one allow-list each. */
enum sandbox_kind {
	SANDBOX_VCPU,          /* KVM_RUN and the device models on exits */
	SANDBOX_LOOP,          /* the event loop: queues, backends, timers, console */
	SANDBOX_BLOCK_WORKER,  /* the thread pool of aio=threads */
	SANDBOX_API,           /* the control plane's server (src/api/) */
	SANDBOX_NKINDS,
};

/* --user USER[:GROUP], resolved when parsed. */
struct sandbox_user {
	bool set;
	uid_t uid;
	gid_t gid;
};

/* What the confinement of one run needs to know (from the run's options). */
struct sandbox_config {
	enum sandbox_seccomp seccomp;
	struct sandbox_user user;    /* --user: drop to it */
	bool slirp;                  /* a --net user: the loop runs libslirp */
	bool unconfined;             /* the probe: no filters, no rlimits */
};

/* How a violation ends the process (as a shell shows a death by SIGSYS). */
#define SANDBOX_EXIT_VIOLATION IOVIRT_EXIT_SECCOMP_VIOLATION

/* "on", "off", "log": 0, or -EINVAL after one line. */
int sandbox_parse_seccomp(const char *s, enum sandbox_seccomp *mode);
/* "USER[:GROUP]" (names or numbers; GROUP defaults to USER's primary
 * group): 0, or -EINVAL after one line. Refuses root: that is no drop. */
int sandbox_parse_user(const char *spec, struct sandbox_user *u);

const char *sandbox_kind_name(enum sandbox_kind kind);

/* Before a machine's threads exist (main thread): no core dumps, and the
 * filters of every kind compiled for sc (sc->seccomp; slirp's needs only
 * with sc->slirp), so a thread only loads its own. Logs; -errno. */
int sandbox_prepare(const struct sandbox_config *sc);

/* Called (async-signal-safe) before a violation or a filter that does not
 * load ends the process: the machine restores the terminal there. */
void sandbox_set_exit_hook(void (*hook)(void));

/* The calling thread enters its kind's filter (after its setup, before its
 * guest-driven work); a no-op with --seccomp=off. A filter that does not
 * load ends the process with one line: no thread runs the guest unconfined. */
void sandbox_enter(enum sandbox_kind kind);

/* After setup, before the guest runs (main thread): the fd ceiling, then
 * the drop to sc->user. Idempotent, so --reboot may call it again. Fills
 * why (one line) and returns -errno on failure. */
int sandbox_confine(const struct sandbox_config *sc, char *why, size_t why_len);

/* Drops to u (setgroups, setgid, setuid) and checks that no capability is
 * left; for sandbox_confine and its tests. */
int sandbox_drop_user(const struct sandbox_user *u, char *why, size_t why_len);

#endif
