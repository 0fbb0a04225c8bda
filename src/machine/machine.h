/* The PC that iovirt builds: a VM, its legacy devices wired to the buses
 * and interrupt lines, ACPI tables, the console, and the run loop that ends
 * with an exit reason. */
#ifndef IOVIRT_MACHINE_MACHINE_H
#define IOVIRT_MACHINE_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "bus/pci_host.h"
#include "vfio/pci_sysfs.h"
#include "vfio/vfio.h"
#include "machine/config.h"
#include "kvm/vm.h"

struct term;
struct serial;
struct i8042;
struct rtc;
struct acpi_pm;
struct pvpanic;
struct virtio_pci;
struct vfio_pci;

/* A virtio device model on its PCI transport. */
struct machine_virtio {
	struct virtio_pci *transport;
	void *model;
	void (*destroy)(void *model);
};

#define MACHINE_MAX_VIRTIO (CONFIG_MAX_DISKS + CONFIG_MAX_NICS + 2)

/* A fully emulated PCI device (NVMe, e1000): the model owns its pci_dev. */
struct machine_emulated {
	void *model;
	void (*destroy)(void *model);
};

#define MACHINE_MAX_EMULATED (CONFIG_MAX_DISKS + CONFIG_MAX_NICS)

struct machine {
	struct vm vm;
	const struct vm_config *cfg;
	struct term *term;
	struct serial *serial;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct acpi_pm *acpi_pm;
	struct pvpanic *pvpanic;
	bool pci_up;
	struct pci_host pci;
	struct machine_virtio virtio[MACHINE_MAX_VIRTIO];
	unsigned nvirtio;
	struct machine_emulated emulated[MACHINE_MAX_EMULATED];
	unsigned nemulated;
	bool vfio_up;                  /* vfio initialised (its fds are real) */
	struct vfio_container vfio;
	struct vfio_pci *passthrough[CONFIG_MAX_VFIO];
	unsigned npassthrough;
	/* VFs bound to vfio-pci for this run, handed back at the end. */
	char rebind[CONFIG_MAX_VFIO][PCI_BDF_LEN];
	unsigned nrebind;
};

/* Creates the VM and devices; kvm_fd is taken over. Logs and -errno. */
int machine_create(struct machine *m, const struct vm_config *cfg, int kvm_fd);
void machine_destroy(struct machine *m);

/* Loads cfg->kernel/initrd/cmdline with ACPI tables; logs and -errno. */
int machine_load_linux(struct machine *m);

/* For smoke tests: code at gpa, boot CPU in real mode at gpa. */
int machine_load_real_mode(struct machine *m, const uint8_t *code, size_t len, uint64_t gpa);

/* Drops to cfg->user (sandbox_confine), then runs the VM until it stops
 * and returns why. The event loop runs on a thread of its own, the caller
 * waits; signals to the caller reach the loop through machine_stop_async. */
enum vm_exit_reason machine_run(struct machine *m);

/* Stops a running machine from a signal handler. */
void machine_stop_async(struct machine *m);

#endif
