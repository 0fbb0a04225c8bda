/* The table of device kinds: see device_table.h. The rows' create
 * functions are the machine's: machine_legacy.c for the fixed PC devices,
 * machine_pci.c for the ones on the PCI bus. */
#include "machine/device_table.h"

#include <string.h>

#include "machine/config.h"
#include "machine/machine_legacy.h"
#include "machine/machine_pci.h"

/* ---- the options that ask for devices ---- */

static unsigned disk_count(const struct vm_config *cfg) { return cfg->ndisks; }
static const void *disk_entry(const struct vm_config *cfg, unsigned i) { return &cfg->disks[i]; }
static unsigned net_count(const struct vm_config *cfg) { return cfg->nnics; }
static const void *net_entry(const struct vm_config *cfg, unsigned i) { return &cfg->nics[i]; }
static unsigned console_count(const struct vm_config *cfg) { return cfg->console.virtio; }
static const void *console_entry(const struct vm_config *cfg, unsigned i) { return &cfg->console; }
static unsigned rng_count(const struct vm_config *cfg) { return cfg->rng; }
static const void *rng_entry(const struct vm_config *cfg, unsigned i) { return NULL; }
static unsigned vfio_count(const struct vm_config *cfg) { return cfg->nvfio; }
static const void *vfio_entry(const struct vm_config *cfg, unsigned i) { return &cfg->vfio[i]; }

static const struct device_option opt_disk = {"--disk", disk_count, disk_entry};
static const struct device_option opt_net = {"--net", net_count, net_entry};
static const struct device_option opt_console = {"--console", console_count, console_entry};
static const struct device_option opt_rng = {"--rng", rng_count, rng_entry};
static const struct device_option opt_device = {"--device", vfio_count, vfio_entry};

static bool wants_virtio_blk(const void *o)
{
	const struct disk_config *d = o;
	return !d->vhost_user && d->model == DISK_VIRTIO;
}

static bool wants_nvme(const void *o)
{
	const struct disk_config *d = o;
	return !d->vhost_user && d->model == DISK_NVME;
}

static bool wants_vhost_user(const void *o)
{
	const struct disk_config *d = o;
	return d->vhost_user;
}

static bool wants_virtio_net(const void *o)
{
	const struct nic_config *n = o;
	return n->model == NIC_VIRTIO;
}

static bool wants_e1000(const void *o)
{
	const struct nic_config *n = o;
	return n->model == NIC_E1000;
}

/* The fixed devices first (the PC has them whatever the options say), then
 * the options' in the order the machine puts them on the bus: disks, NICs,
 * console, rng, passed-through functions; within an option, the order the
 * command line gave. */
const struct device_kind device_kinds[] = {
	{"serial", NULL, NULL, NULL, "16550A UART on COM1: the console (ttyS0)",
	 NULL, machine_create_serial, NULL},
	{"i8042", NULL, NULL, NULL, "keyboard controller (its reset line reboots)",
	 NULL, machine_create_i8042, NULL},
	{"rtc", NULL, NULL, NULL, "MC146818 real-time clock and CMOS NVRAM",
	 NULL, machine_create_rtc, NULL},
	{"acpi-pm", NULL, NULL, NULL, "ACPI power management block (poweroff)",
	 NULL, machine_create_acpi_pm, NULL},
	{"pvpanic", NULL, NULL, NULL, "pvpanic port: the guest reports a panic",
	 NULL, machine_create_pvpanic, NULL},
	{"virtio-blk", &opt_disk, "if=virtio", config_disk_keys,
	 "a disk image as a virtio block device (the default)",
	 wants_virtio_blk, machine_create_virtio_blk, machine_quiesce_virtio},
	{"nvme", &opt_disk, "if=nvme", config_disk_keys,
	 "a disk image as an emulated NVMe controller",
	 wants_nvme, machine_create_nvme, NULL},
	{"vhost-user-blk", &opt_disk, "vhost-user=", config_vhost_user_disk_keys,
	 "a virtio block device served by a vhost-user backend",
	 wants_vhost_user, machine_create_vhost_user_blk, machine_quiesce_virtio},
	{"virtio-net", &opt_net, "model=virtio", config_nic_keys,
	 "a virtio NIC on user networking or a tap (the default)",
	 wants_virtio_net, machine_create_virtio_net, machine_quiesce_virtio},
	{"e1000", &opt_net, "model=e1000", config_nic_keys,
	 "an emulated Intel 82540EM NIC",
	 wants_e1000, machine_create_e1000, NULL},
	{"virtio-console", &opt_console, "virtio", config_console_keys,
	 "hvc0 on stdout or a UNIX socket",
	 NULL, machine_create_virtio_console, machine_quiesce_virtio},
	{"virtio-rng", &opt_rng, NULL, NULL, "entropy from the host's getrandom",
	 NULL, machine_create_virtio_rng, machine_quiesce_virtio},
	{"vfio-pci", &opt_device, "vfio=", config_device_keys,
	 "a host PCI function (or SR-IOV VF) passed through with VFIO",
	 NULL, machine_create_vfio_pci, NULL},
};
const unsigned device_nkinds = sizeof(device_kinds) / sizeof(device_kinds[0]);

const struct device_kind *device_kind_find(const char *name)
{
	for (unsigned i = 0; i < device_nkinds; i++)
		if (!strcmp(device_kinds[i].name, name))
			return &device_kinds[i];
	return NULL;
}

void device_instance_name(const struct device_kind *k, unsigned index, char id[DEVICE_ID_MAX])
{
	size_t len = strlen(k->name);
	bool digit = len && k->name[len - 1] >= '0' && k->name[len - 1] <= '9';
	snprintf(id, DEVICE_ID_MAX, "%s%s%u", k->name, digit ? "-" : "", index);
}

void device_kinds_usage(FILE *out)
{
	fprintf(out, "Device kinds (instances are named kind + index: nvme0, virtio-blk1, e1000-0):\n");
	for (unsigned i = 0; i < device_nkinds; i++) {
		const struct device_kind *k = &device_kinds[i];
		char ask[48];
		if (!k->option)
			snprintf(ask, sizeof(ask), "(always)");
		else
			snprintf(ask, sizeof(ask), "%s%s%s", k->option->name, k->selector ? " " : "",
				 k->selector ? k->selector : "");
		fprintf(out, "  %-15s %-22s %s\n", k->name, ask, k->summary);
	}
}
