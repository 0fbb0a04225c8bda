/* The control plane (docs/ARCHITECTURE.md "Control plane"): HTTP/1.1 on a
 * UNIX socket (libmicrohttpd), JSON bodies (json-c), endpoints named as
 * Cloud Hypervisor names them (/api/v1/vmm.ping, vm.info, vm.pause, ...);
 * docs/api/openapi.json is the document the server must agree with.
 *
 * The server knows nothing of the machine: it calls the ops below, which
 * the machine implements (src/machine/machine_api.c) and the unit tests
 * fake. The ops run on the API thread; an implementation that touches the
 * VM posts the request to the event loop and waits for it there, so the
 * API never blocks a vCPU, and a slow request only delays the API. */
#ifndef IOVIRT_API_API_H
#define IOVIRT_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/boot_trace.h"
#include "core/counters.h"
#include "core/device.h"

/* One device as vm.info shows it. */
struct api_device_info {
	char id[DEVICE_ID_MAX];   /* "nvme0" */
	const char *kind;         /* "nvme" (the device table's name) */
	const char *io_model;     /* "emulated", "virtio", "vhost", "vhost-user", "vfio" */
	char pci[16];             /* "0000:00:03.0"; empty for a device not on PCI */
};

#define API_MAX_DEVICES 64

struct api_vm_info {
	const char *state;        /* "Running", "Paused" */
	unsigned cpus;
	uint64_t memory;          /* bytes */
	const char *kernel, *initrd, *cmdline;  /* NULL or "" where none */
	const char *firmware;                   /* --firmware's image; NULL: direct boot */
	size_t nboot_trace;                     /* the boot's phases (core/boot_trace.h) */
	struct boot_trace_event boot_trace[BOOT_TRACE_MAX];
	unsigned ndevices;
	struct api_device_info devices[API_MAX_DEVICES];
};

/* vm.send-migration (issue 22): where to and within what limits. */
#define API_MIGRATE_URL_MAX 256
struct api_migrate_params {
	char url[API_MIGRATE_URL_MAX]; /* "tcp:HOST:PORT" or "unix:PATH" */
	uint64_t downtime_ms;     /* the pause the guest may see at the end; 0: 300 */
	uint64_t bandwidth;       /* bytes/s at most on the link; 0: no cap */
	bool auto_converge;       /* slow the vCPUs when the guest dirties memory
				   * faster than the link sends it */
};

/* vm.migration: how the last migration of this VM goes or went. */
struct api_migrate_status {
	const char *state;        /* "none", "active", "completed", "failed", "cancelled" */
	const char *phase;        /* active: "setup", "pre-copy", "stop-and-copy" */
	char url[API_MIGRATE_URL_MAX];
	char error[512];          /* failed, cancelled: why, one line */
	unsigned pass;            /* memory passes done (the first sends all RAM) */
	uint64_t ram_bytes;       /* guest RAM */
	uint64_t pages_sent;      /* 4 KiB pages sent with their data */
	uint64_t zero_pages;      /* pages sent as zero ranges (no data) */
	uint64_t bytes_sent;      /* on the wire, everything included */
	uint64_t dirty_pages;     /* still to send after the last pass */
	uint64_t dirty_rate;      /* pages/s the guest dirtied during the last pass */
	uint64_t bandwidth;       /* bytes/s the last pass sent at */
	uint64_t expected_downtime_ms; /* dirty_pages at bandwidth */
	unsigned throttle_pct;    /* auto-converge: the share of time vCPUs sleep */
	uint64_t total_ms;        /* since it started (to its end once over) */
	uint64_t downtime_ms;     /* completed: vCPUs stopped at the source until the
				   * destination confirmed */
};

/* What the server asks of the VM. Each returns 0, or a negative errno the
 * server maps to an HTTP status: -EBUSY 409 (already paused, not paused,
 * shutting down), -ENOTSUP 405/501 (no such action on this VM), anything
 * else 500 (with strerror in the JSON error body). */
struct api_vm_ops {
	void (*info)(void *vm, struct api_vm_info *out);
	/* Every device's and queue's counters, then KVM's (per VM, per vCPU). */
	void (*counters)(void *vm, const struct counter_sink *sink);
	int (*pause)(void *vm);          /* vCPUs stopped, device I/O quiesced */
	int (*resume)(void *vm);
	int (*power_button)(void *vm);   /* an ACPI power-button press */
	int (*reboot)(void *vm);         /* as the guest's own reboot: with --reboot a new boot */
	int (*shutdown)(void *vm);       /* stop the VM now; iovirt exits 0 */
	/* vm.snapshot: the paused VM's snapshot into the directory dir (a
	 * local path; the server takes it from a file:// destination_url).
	 * -EBUSY while not paused; any other error with one line in why
	 * (the device that cannot be saved, the file that cannot be
	 * written), which the server returns as the error body. */
	int (*snapshot)(void *vm, const char *dir, char *why, size_t why_len);
	/* vm.send-migration: starts moving the running VM to the iovirt
	 * waiting at p->url (iovirt run --incoming) and returns at once;
	 * vm.migration follows it. -EBUSY when not running or a migration is
	 * under way; -ENOTSUP when a device cannot migrate (why names it);
	 * -EINVAL a bad URL (why). */
	int (*migrate)(void *vm, const struct api_migrate_params *p, char *why, size_t why_len);
	void (*migrate_status)(void *vm, struct api_migrate_status *out);
	/* Stops the migration under way; the VM runs on here. -EBUSY: none. */
	int (*migrate_cancel)(void *vm);
};

struct api_server;

/* Listens on path (a UNIX socket, mode 0600; a stale socket left by a dead
 * iovirt is replaced, one a live process answers on is refused) on a
 * thread of its own. NULL after one line naming path and the reason. */
struct api_server *api_server_start(const char *path, const struct api_vm_ops *ops, void *vm);
/* Stops the thread, closes every connection and removes the socket. */
void api_server_stop(struct api_server *s);

#endif
