/* Live migration of a whole machine (issue 22): iterative pre-copy, as
 * Xen introduced it (Clark et al., NSDI 2005), between two iovirt
 * processes over TCP or a UNIX socket (migrate/migrate_stream.h).
 *
 * The source (machine_migrate_start, from the control plane) runs on the
 * thread that set the machine up, beside the running VM:
 *   1. handshake: the machine's options, RAM layout and devices; the
 *      destination refuses a mismatch with its reason;
 *   2. dirty tracking on: KVM's log on every RAM slot, iovirt's own writes
 *      into guest RAM and vhost-net's log in the guest_mem log
 *      (guest_mem_log_start), and a vhost-user backend's (LOG_SHMFD); a
 *      device that cannot log (a passed-through function, a vhost-user
 *      backend without LOG_SHMFD) refused it before step 1;
 *   3. pass 1 sends all RAM (zero pages as ranges), each later pass the
 *      pages dirtied during the one before, until what is left fits the
 *      downtime budget at the bandwidth measured; a guest that dirties
 *      faster than the link sends is slowed (auto-converge: its vCPUs
 *      sleep a growing share of each 10 ms), and cancelled past the
 *      deadline, running on here;
 *   4. stop-and-copy: pause (in-flight I/O completes), every device held
 *      still (vhost rings come back), the images flushed and unlocked, the
 *      last dirty pages, the VM's, vCPUs' and devices' records (the
 *      snapshot's); the destination loads them and confirms;
 *   5. confirmed: the machine here stays stopped (state "Migrated") until
 *      vm.shutdown; any failure before the confirmation resumes it here,
 *      images locked again, nothing lost — unless the state went out and
 *      the destination holds the images already (its confirmation was
 *      lost): the guest runs there, and this machine stays stopped.
 *
 * The destination (machine_migrate_incoming, iovirt run --incoming URL)
 * waits for one source before its machine runs, takes the stream as
 * hostile (every page inside RAM, every length capped), loads the state
 * with the clock set before any vCPU runs, locks the images, confirms,
 * and announces the guest's MAC addresses on each NIC (a RARP, as QEMU
 * sends) so the network learns where it is now. */
#ifndef IOVIRT_MACHINE_MACHINE_MIGRATE_H
#define IOVIRT_MACHINE_MACHINE_MIGRATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

struct machine;

/* A machine's migration, as the source sees it. */
struct machine_migration {
	pthread_mutex_t lock;          /* the fields below */
	struct api_migrate_status st;  /* the last one's (vm.migration) */
	struct api_migrate_params params;
	uint64_t start_ns;             /* CLOCK_MONOTONIC */
	bool active;                   /* posted or running */
	bool cancel;                   /* vm.migration-cancel (atomic) */
	bool migrated;                 /* completed: the guest runs elsewhere */
};

#define MIGRATE_DEFAULT_DOWNTIME_MS 300
/* Pre-copy gives up (the VM runs on here) after this long. */
#define MIGRATE_DEADLINE_S 600

/* Starts migrating the running machine (from the API thread): checks every
 * device can be migrated and the URL parses, then hands the work to the
 * setup thread. 0 (under way: machine_migrate_status follows it), -EBUSY
 * (not running, or a migration under way), or -ENOTSUP/-EINVAL with one
 * line in why. */
int machine_migrate_start(struct machine *m, const struct api_migrate_params *p, char *why,
			  size_t why_len);
void machine_migrate_status(struct machine *m, struct api_migrate_status *out);
/* -EBUSY when none is under way (or it is past the point of no return:
 * the destination has everything). */
int machine_migrate_cancel(struct machine *m);

/* A migration under way or completed: the control plane's pause, resume
 * and snapshot are refused meanwhile. */
bool machine_migrate_busy(struct machine *m);
/* Completed: this machine's guest runs at the destination (vm.info says
 * "Migrated"; only vm.shutdown is left to do). */
bool machine_migrated(struct machine *m);

void machine_migrate_init(struct machine *m);
void machine_migrate_destroy(struct machine *m);

/* The destination: waits on url for one source, receives the machine into
 * m (created from the same options, nothing loaded), confirms. Before
 * machine_run. 0, or -errno with one line in why. */
int machine_migrate_incoming(struct machine *m, const char *url, char *why, size_t why_len);

#endif
