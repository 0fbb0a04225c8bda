/* Snapshots of a whole machine (issue 21): a paused VM written to a
 * directory, and a new process's machine restored from one.
 *
 * A snapshot directory holds manifest.json (migrate/snapshot_manifest.h),
 * which names the rest: state-ID.bin (migrate/snapshot_file.h: a section
 * "vm", one per vCPU "vcpuN", one per device named by its instance) and
 * mem-ID-N.bin per RAM region (migrate/snapshot_mem.h), ID being random
 * per snapshot. The data files are written and fsynced first, then the
 * manifest under a temporary name, renamed: a directory whose manifest
 * exists holds a whole snapshot, and a second snapshot into it replaces
 * the first whole (its files are unlinked after the rename; a restored VM
 * that maps them keeps their inodes). A failed snapshot removes what it
 * wrote.
 *
 * Nothing is written unless every part was saved: a device that cannot be
 * saved (a passed-through function) refuses the snapshot naming itself. */
#ifndef IOVIRT_MACHINE_MACHINE_SNAPSHOT_H
#define IOVIRT_MACHINE_MACHINE_SNAPSHOT_H

#include <stddef.h>

#include "migrate/snapshot_file.h"
#include "migrate/snapshot_manifest.h"
#include "migrate/snapshot_mem.h"

struct machine;

#define SNAPSHOT_MANIFEST "manifest.json"

/* The paused machine into dir (created if missing, one level). On the
 * thread that set the machine up (it needs the vCPU and VM ioctls and the
 * file system); the event loop and the vCPUs are stopped. 0, or -errno
 * with one line in why (also logged). */
int machine_snapshot_save(struct machine *m, const char *dir, char *why, size_t why_len);

/* Into a machine just created from the manifest's options (nothing has
 * run): checks the manifest against the machine, then RAM, the VM, each
 * vCPU and each device, and sets the guest's clock. 0, or -errno with one
 * line in why. */
int machine_snapshot_restore(struct machine *m, const char *dir,
			     const struct snap_manifest *man, enum snap_mem_mode mode, char *why,
			     size_t why_len);

/* The parts a snapshot and a migration share. */

/* Quiesces every device in order (core/device.h), *held of them; on
 * failure the rest are not, and why names the device. The caller releases
 * the held ones either way. */
int machine_hold_devices(struct machine *m, unsigned *held, char *why, size_t why_len);
void machine_release_devices(struct machine *m, unsigned held);
/* The VM, the vCPUs and the devices as sections of sf; every device is
 * held. 0, or -errno with why. */
int machine_state_save(struct machine *m, struct snap_file_writer *sf, char *why,
		       size_t why_len);
/* Loads what machine_state_save wrote into a machine that has not run,
 * the guest's clock set before the vCPUs. 0, or -errno with why. */
int machine_state_load(struct machine *m, const struct snap_file *sf, char *why, size_t why_len);
/* A manifest of this machine (files named after id). */
void machine_manifest_fill(struct machine *m, const char *id, struct snap_manifest *man);
/* Whether man describes this machine: vCPUs, RAM layout, devices (id and
 * kind, in order). 0, or -EINVAL with the first difference in why. */
int machine_manifest_check(struct machine *m, const struct snap_manifest *man, char *why,
			   size_t why_len);

#endif
