/* The table of device kinds: see device_table.h. The rows' create
 * functions are the machine's: machine_legacy.c for the fixed PC devices,
 * machine_pci.c for the ones on the PCI bus. */
#include "machine/device_table.h"

#include <string.h>

#include "machine/config.h"
#include "machine/machine_legacy.h"
#include "machine/machine_pci.h"

/* ---- the options that ask for devices ---- */

/* --cdrom is an IDE drive, so it counts as the last --disk: the IDE
 * controller is made at the first IDE drive whatever asked for it. */
static const struct disk_config cdrom_entry = {.model = DISK_IDE, .readonly = true};
static unsigned disk_count(const struct vm_config *cfg) { return cfg->ndisks + !!cfg->cdrom; }
static const void *disk_entry(const struct vm_config *cfg, unsigned i)
{
	return i < cfg->ndisks ? &cfg->disks[i] : &cdrom_entry;
}
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

static bool firmware_boot(const struct vm_config *cfg)
{
	return cfg->firmware != NULL;
}

/* A firmware boot leaves port 0x80 alone: the kernel's real-mode setup
 * code, which it runs, writes junk there as an I/O delay. */
static bool direct_boot(const struct vm_config *cfg)
{
	return cfg->firmware == NULL;
}

static bool i8042_wanted(const struct vm_config *cfg)
{
	return cfg->i8042;
}

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

static bool wants_ide(const void *o)
{
	const struct disk_config *d = o;
	return !d->vhost_user && d->model == DISK_IDE;
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

static const char *virtio_net_io_model(const void *o)
{
	const struct nic_config *n = o;
	return n->vhost ? "vhost" : "virtio";
}

/* The fixed devices first (the PC has them whatever the options say), then
 * the options' in the order the machine puts them on the bus: disks, NICs,
 * console, rng, passed-through functions; within an option, the order the
 * command line gave. */
const struct device_kind device_kinds[] = {
	{.name = "serial", .summary = "16550A UART on COM1: the console (ttyS0)",
	 .create = machine_create_serial, .io_model = "emulated"},
	{.name = "i8042", .summary = "keyboard controller (its reset line reboots)",
	 .present = i8042_wanted, .when = "(unless --i8042 off)",
	 .create = machine_create_i8042, .io_model = "emulated"},
	{.name = "rtc", .summary = "MC146818 real-time clock and CMOS NVRAM",
	 .create = machine_create_rtc, .io_model = "emulated"},
	{.name = "acpi-pm", .summary = "ACPI power management block (poweroff, power button)",
	 .create = machine_create_acpi_pm, .io_model = "emulated"},
	{.name = "pvpanic", .summary = "pvpanic port: the guest reports a panic",
	 .create = machine_create_pvpanic, .io_model = "emulated"},
	{.name = "debug-port", .summary = "port 0x80: the guest's boot-progress codes (--boot-trace)",
	 .present = direct_boot, .when = "(direct kernel boot)",
	 .create = machine_create_debug_port, .io_model = "emulated"},
	{.name = "fw-cfg", .summary = "QEMU's firmware configuration interface: what the BIOS reads",
	 .present = firmware_boot, .when = "(--firmware)",
	 .create = machine_create_fw_cfg, .io_model = "emulated"},
	{.name = "debugcon", .summary = "the firmware's debug console (port 0x402): its log",
	 .present = firmware_boot, .when = "(--firmware)",
	 .create = machine_create_debugcon, .io_model = "emulated"},
	{.name = "virtio-blk", .option = &opt_disk, .selector = "if=virtio",
	 .keys = config_disk_keys, .summary = "a disk image as a virtio block device (the default)",
	 .wants = wants_virtio_blk, .create = machine_create_virtio_blk,
	 .quiesce = machine_quiesce_virtio, .io_model = "virtio"},
	{.name = "nvme", .option = &opt_disk, .selector = "if=nvme", .keys = config_disk_keys,
	 .summary = "a disk image as an emulated NVMe controller",
	 .wants = wants_nvme, .create = machine_create_nvme, .io_model = "emulated"},
	{.name = "ide", .option = &opt_disk, .selector = "if=ide", .keys = config_disk_keys,
	 .summary = "a PIIX3 IDE controller: the if=ide ATA disks and the --cdrom CD-ROM",
	 .wants = wants_ide, .create = machine_create_ide, .io_model = "emulated"},
	{.name = "vhost-user-blk", .option = &opt_disk, .selector = "vhost-user=",
	 .keys = config_vhost_user_disk_keys,
	 .summary = "a virtio block device served by a vhost-user backend",
	 .wants = wants_vhost_user, .create = machine_create_vhost_user_blk,
	 .quiesce = machine_quiesce_virtio, .io_model = "vhost-user"},
	{.name = "virtio-net", .option = &opt_net, .selector = "model=virtio",
	 .keys = config_nic_keys,
	 .summary = "a virtio NIC on user networking or a tap (the default)",
	 .wants = wants_virtio_net, .create = machine_create_virtio_net,
	 .quiesce = machine_quiesce_virtio, .io_model = "virtio",
	 .io_model_of = virtio_net_io_model},
	{.name = "e1000", .option = &opt_net, .selector = "model=e1000", .keys = config_nic_keys,
	 .summary = "an emulated Intel 82540EM NIC",
	 .wants = wants_e1000, .create = machine_create_e1000, .io_model = "emulated"},
	{.name = "virtio-console", .option = &opt_console, .selector = "virtio",
	 .keys = config_console_keys, .summary = "hvc0 on stdout or a UNIX socket",
	 .create = machine_create_virtio_console, .quiesce = machine_quiesce_virtio,
	 .io_model = "virtio"},
	{.name = "virtio-rng", .option = &opt_rng, .summary = "entropy from the host's getrandom",
	 .create = machine_create_virtio_rng, .quiesce = machine_quiesce_virtio,
	 .io_model = "virtio"},
	{.name = "vfio-pci", .option = &opt_device, .selector = "vfio=", .keys = config_device_keys,
	 .summary = "a host PCI function (or SR-IOV VF) passed through with VFIO",
	 .create = machine_create_vfio_pci, .io_model = "vfio"},
};
const unsigned device_nkinds = sizeof(device_kinds) / sizeof(device_kinds[0]);

const struct device_kind *device_kind_find(const char *name)
{
	for (unsigned i = 0; i < device_nkinds; i++)
		if (!strcmp(device_kinds[i].name, name))
			return &device_kinds[i];
	return NULL;
}

const char *device_kind_io_model(const struct device_kind *k, const void *options)
{
	return k->io_model_of && options ? k->io_model_of(options) : k->io_model;
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
			snprintf(ask, sizeof(ask), "%s", k->when ? k->when : "(always)");
		else
			snprintf(ask, sizeof(ask), "%s%s%s", k->option->name, k->selector ? " " : "",
				 k->selector ? k->selector : "");
		fprintf(out, "  %-15s %-22s %s\n", k->name, ask, k->summary);
	}
}
