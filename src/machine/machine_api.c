/* The api_vm_ops of a machine; see machine_api.h. */
#include "machine/machine_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/device.h"
#include "machine/machine.h"
#include "machine/machine_migrate.h"

_Static_assert(MACHINE_MAX_DEVICES <= API_MAX_DEVICES, "vm.info has room for every device");

/* NULL once the VM is stopping: no state a request could act on (the
 * document's null, as between two boots). */
static const char *state_name(enum machine_state s)
{
	switch (s) {
	case MACHINE_PAUSED:
		return "Paused";
	case MACHINE_STOPPED:
		return NULL;
	case MACHINE_CREATED:
		return "Created"; /* loading (a restore can take seconds); no request yet */
	default:
		return "Running";
	}
}

static void info(void *vm, struct api_vm_info *out)
{
	struct machine *m = vm;
	const struct vm_config *cfg = m->cfg;
	memset(out, 0, sizeof(*out));
	out->state = machine_migrated(m) ? "Migrated" : state_name(machine_state(m));
	out->cpus = cfg->cpus;
	out->memory = cfg->memory;
	out->kernel = cfg->kernel;
	out->initrd = cfg->initrd;
	out->cmdline = cfg->cmdline;
	out->firmware = cfg->firmware;
	out->nboot_trace = boot_trace_events(out->boot_trace, BOOT_TRACE_MAX);
	/* The list is fixed once machine_create returned. */
	for (unsigned i = 0; i < m->ndevices; i++) {
		const struct device *dev = m->devices[i];
		const struct machine_dev_info *di = &m->dev_info[i];
		struct api_device_info *d = &out->devices[out->ndevices++];
		snprintf(d->id, sizeof(d->id), "%s", dev->id);
		d->kind = dev->ops->kind;
		d->io_model = di->io_model;
		/* Segment 0, bus 0, function 0: the host bridge's one bus. */
		if (di->pci_slot >= 0)
			snprintf(d->pci, sizeof(d->pci), "0000:00:%02x.0", (unsigned)di->pci_slot & 0x1f);
	}
}

static void counters(void *vm, const struct counter_sink *sink)
{
	machine_counters(vm, sink);
}

/* A migration pauses and resumes the VM itself; once it has completed the
 * guest runs elsewhere and must not run here too. */
static int pause_vm(void *vm)
{
	return machine_migrate_busy(vm) ? -EBUSY : machine_request(vm, MACHINE_PAUSE);
}

static int resume_vm(void *vm)
{
	return machine_migrate_busy(vm) ? -EBUSY : machine_request(vm, MACHINE_RESUME);
}

/* Once migrated, the guest runs elsewhere: a reboot here (with --reboot,
 * a new boot) would make two of it. */
static int power_button(void *vm)
{
	return machine_migrated(vm) ? -EBUSY : machine_request(vm, MACHINE_POWER_BUTTON);
}

static int reboot_vm(void *vm)
{
	return machine_migrated(vm) ? -EBUSY : machine_request(vm, MACHINE_REBOOT);
}
static int shutdown_vm(void *vm) { return machine_request(vm, MACHINE_SHUTDOWN); }
static int snapshot_vm(void *vm, const char *dir, char *why, size_t why_len)
{
	if (machine_migrate_busy(vm)) {
		snprintf(why, why_len, "a migration is under way or has moved the guest away");
		return -EBUSY;
	}
	return machine_request_snapshot(vm, dir, why, why_len);
}
static int migrate_vm(void *vm, const struct api_migrate_params *p, char *why, size_t why_len)
{
	return machine_migrate_start(vm, p, why, why_len);
}
static void migrate_status(void *vm, struct api_migrate_status *out)
{
	machine_migrate_status(vm, out);
}
static int migrate_cancel(void *vm) { return machine_migrate_cancel(vm); }

const struct api_vm_ops machine_api_ops = {
	.info = info,
	.counters = counters,
	.pause = pause_vm,
	.resume = resume_vm,
	.power_button = power_button,
	.reboot = reboot_vm,
	.shutdown = shutdown_vm,
	.snapshot = snapshot_vm,
	.migrate = migrate_vm,
	.migrate_status = migrate_status,
	.migrate_cancel = migrate_cancel,
};
