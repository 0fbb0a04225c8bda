/* The PC that iovirt builds: a VM, the devices the device table makes for
 * the options (machine/device_table.h) in one list, ACPI tables, the
 * console, and the run loop that ends with an exit reason. */
#ifndef IOVIRT_MACHINE_MACHINE_H
#define IOVIRT_MACHINE_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "bus/pci_host.h"
#include "kvm/vm.h"
#include "machine/config.h"
#include "machine/machine_control.h"
#include "machine/machine_firmware.h"
#include "machine/machine_migrate.h"
#include "vfio/vfio.h"

struct term;
struct serial;
struct acpi_pm;
struct device;
struct counter_sink;

/* The fixed PC devices, then what the options ask for. */
#define MACHINE_MAX_DEVICES (5 + CONFIG_MAX_DISKS + CONFIG_MAX_NICS + 2 + CONFIG_MAX_VFIO)

struct machine;
typedef void (*machine_report_fn)(struct machine *m, void *opaque);

/* What vm.info says of a device beyond the device itself. */
struct machine_dev_info {
	const char *io_model;   /* "emulated", "virtio", "vhost", "vhost-user", "vfio" */
	int pci_slot;           /* its function's slot on bus 0 (function 0); -1: not PCI */
	const void *options;    /* the option entry it was made for (NULL: fixed) */
};

struct machine {
	struct vm vm;
	const struct vm_config *cfg;
	struct term *term;
	struct serial *serial;         /* COM1, which the console feeds (in devices[]) */
	struct acpi_pm *acpi_pm;       /* the power button's block (in devices[]) */
	struct rtc *rtc;               /* the CMOS (in devices[]) */
	struct fw_cfg *fw_cfg;         /* --firmware: what it reads (in devices[]) */
	struct machine_firmware firmware; /* --firmware: the image (machine_firmware.h) */
	bool pci_up;
	struct pci_host pci;
	bool vfio_up;                  /* vfio initialised (its fds are real) */
	struct vfio_container vfio;
	/* Every device, in the order the device table created them; destroyed
	 * in reverse. */
	struct device *devices[MACHINE_MAX_DEVICES];
	struct machine_dev_info dev_info[MACHINE_MAX_DEVICES]; /* devices[i]'s */
	unsigned ndevices;
	/* The control plane's requests (machine_control.h). */
	struct machine_ctl ctl;
	/* Live migration, this machine the source (machine_migrate.h). */
	struct machine_migration mig;
	/* --counters: machine_counters_request wakes the loop through this
	 * eventfd, which calls report there. */
	int counters_fd;
	machine_report_fn report;
	void *report_opaque;
};

/* Creates the VM and devices; kvm_fd is taken over. Logs and -errno. */
int machine_create(struct machine *m, const struct vm_config *cfg, int kvm_fd);
void machine_destroy(struct machine *m);

struct acpi_pci;
struct acpi_config;
/* The machine as its ACPI tables describe it (direct and firmware boot
 * alike); pci is where acfg->pci points when there is a PCI bus. */
void machine_acpi_config(const struct machine *m, struct acpi_pci *pci,
			 struct acpi_config *acfg);

/* Loads cfg->kernel/initrd/cmdline with ACPI tables; logs and -errno. */
int machine_load_linux(struct machine *m);

/* For smoke tests: code at gpa, boot CPU in real mode at gpa. */
int machine_load_real_mode(struct machine *m, const uint8_t *code, size_t len, uint64_t gpa);

/* Drops to cfg->user (sandbox_confine), then runs the VM until it stops
 * and returns why. The event loop runs on a thread of its own, the caller
 * waits; signals to the caller reach the loop through machine_stop_async. */
enum vm_exit_reason machine_run(struct machine *m);

/* Stops a running machine, paused or not, from a signal handler. */
void machine_stop_async(struct machine *m);

/* Every device's counters (core/device.h), in the list's order, then KVM's
 * own (device "kvm": the VM and each vCPU) when machine_counters_enable
 * found them. Any thread; the counters are read, never reset. */
void machine_counters(struct machine *m, const struct counter_sink *sink);

/* --counters: opens KVM's binary statistics (-ENOTSUP, silently, where the
 * kernel has none: device counters only then) and lets
 * machine_counters_request have report called on the event loop. After
 * machine_create, from the thread that created it. */
int machine_counters_enable(struct machine *m, machine_report_fn report, void *opaque);

/* Asks for a report on the loop; async-signal-safe (SIGUSR1). Nothing
 * happens without machine_counters_enable. */
void machine_counters_request(struct machine *m);

#endif
