/* Firmware boot: see machine_firmware.h. */
#include "machine/machine_firmware.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_loader.h"
#include "arch/x86/boot.h"
#include "arch/x86/firmware.h"
#include "core/byteorder.h"
#include "core/log.h"
#include "devices/fw_cfg.h"
#include "machine/machine.h"
#include "machine/machine_pci.h"

#define PORT_COM1 0x3f8
/* How long SeaBIOS waits before it retries when nothing booted; iovirt
 * stops at its "No bootable device" before that (machine_legacy.c). */
#define BOOT_FAIL_WAIT_MS 5000
#define BOOTORDER_MAX 4096


static int add_int(struct fw_cfg *c, const char *file, uint16_t key, uint64_t v, unsigned n)
{
	uint8_t b[8];
	put_le(b, v, n);
	return file ? fw_cfg_add_file(c, file, b, n) : fw_cfg_add_item(c, key, b, n);
}

/* iovirt's ACPI tables, the same as a direct boot's, placed by the
 * firmware through the loader script. */
static int add_acpi(struct machine *m, struct fw_cfg *c)
{
	struct acpi_pci pci;
	struct acpi_config acfg;
	machine_acpi_config(m, &pci, &acfg);
	uint8_t *buf = calloc(1, ACPI_TABLES_MAX);
	uint8_t *script = calloc(1, ACPI_LOADER_MAX_LEN);
	struct acpi_links *links = calloc(1, sizeof(*links));
	int ret = -ENOMEM;
	if (buf && script && links) {
		long n = acpi_build_linked(buf, ACPI_TABLES_MAX, &acfg, links);
		ret = n < 0 ? (int)n : 0;
		if (ret == 0)
			ret = fw_cfg_add_file(c, ACPI_LOADER_RSDP, buf, ACPI_RSDP_LEN);
		if (ret == 0) {
			/* The tables' own copy of the RSDP is never patched: no
			 * stale signature in RAM. */
			memset(buf, 0, ACPI_RSDP_LEN);
			ret = fw_cfg_add_file(c, ACPI_LOADER_TABLES, buf, (size_t)n);
		}
		if (ret == 0)
			ret = fw_cfg_add_file(c, ACPI_LOADER_FILE, script,
					      acpi_loader_script(links, script));
	}
	free(buf);
	free(script);
	free(links);
	return ret;
}

/* The slot of the first device of a kind (the IDE controller), or -1. */
static int slot_of_kind(const struct machine *m, const char *kind)
{
	for (unsigned i = 0; i < m->ndevices; i++)
		if (!strcmp(m->devices[i]->ops->kind, kind))
			return m->dev_info[i].pci_slot;
	return -1;
}

/* SeaBIOS's device path of disk i (CONFIG_MAX_DISKS: the CD-ROM), as it
 * builds them for what it finds: "/pci@i0cf8/virtio-blk@4" (its pattern
 * "/pci@i0cf8/ANY@4" matches), "/pci@i0cf8/ide@5/drive@1/disk@0". false
 * for a disk the firmware cannot see. */
static bool disk_path(const struct machine *m, unsigned i, const int *ide_pos, int cdrom_pos,
		      char *out, size_t len)
{
	int pos = i < m->cfg->ndisks ? ide_pos[i] : cdrom_pos;
	if (pos >= 0) {
		int slot = slot_of_kind(m, "ide");
		return slot >= 0 && snprintf(out, len, "/pci@i0cf8/ide@%x/drive@%x/disk@%x", slot,
					     pos / 2, pos % 2) < (int)len;
	}
	for (unsigned d = 0; i < m->cfg->ndisks && d < m->ndevices; d++)
		if (m->dev_info[d].options == &m->cfg->disks[i] && m->dev_info[d].pci_slot >= 0)
			return snprintf(out, len, "/pci@i0cf8/%s@%x", m->devices[d]->ops->kind,
					m->dev_info[d].pci_slot) < (int)len;
	return false;
}

/* SeaBIOS's "bootorder": one device path per line. Disks with boot=on
 * first, then the CD-ROM, then the other disks in command-line order;
 * what is not listed still boots after them (SeaBIOS's own order). */
static int add_bootorder(struct machine *m, struct fw_cfg *c)
{
	const struct vm_config *cfg = m->cfg;
	int ide_pos[CONFIG_MAX_DISKS], cdrom_pos;
	int ret = machine_ide_layout(cfg, ide_pos, &cdrom_pos);
	char *order = calloc(1, BOOTORDER_MAX);
	if (ret < 0 || !order) {
		free(order);
		return ret < 0 ? ret : -ENOMEM;
	}
	size_t len = 0;
	unsigned list[CONFIG_MAX_DISKS + 1], n = 0;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].boot)
			list[n++] = i;
	if (cfg->cdrom)
		list[n++] = CONFIG_MAX_DISKS;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (!cfg->disks[i].boot)
			list[n++] = i;
	for (unsigned k = 0; k < n; k++) {
		char path[128];
		if (disk_path(m, list[k], ide_pos, cdrom_pos, path, sizeof(path)) &&
		    len + strlen(path) + 2 <= BOOTORDER_MAX)
			len += (size_t)sprintf(order + len, "%s\n", path);
	}
	if (len)
		order[--len] = 0; /* no empty last entry */
	ret = fw_cfg_add_file(c, "bootorder", order, len);
	free(order);
	return ret;
}

static int fill_fw_cfg(struct machine *m, struct fw_cfg *c)
{
	const struct vm_config *cfg = m->cfg;
	uint8_t e820[FIRMWARE_E820_MAX * FIRMWARE_E820_ENTRY_LEN];
	static const struct boot_e820_extra ecam = {PCI_ECAM_BASE, PCI_ECAM_SIZE, 2};
	long e820_len = firmware_e820(&m->vm.mem, m->pci_up ? &ecam : NULL, m->pci_up ? 1 : 0,
				      m->firmware.size, e820);
	int ret = e820_len < 0 ? (int)e820_len : fw_cfg_add_file(c, "etc/e820", e820,
								  (size_t)e820_len);
	if (ret == 0)
		ret = add_int(c, NULL, FW_CFG_RAM_SIZE, m->vm.mem.ram_size, 8);
	if (ret == 0)
		ret = add_int(c, NULL, FW_CFG_NB_CPUS, cfg->cpus, 2);
	if (ret == 0)
		ret = add_int(c, NULL, FW_CFG_MAX_CPUS, cfg->cpus, 2);
	if (ret == 0)
		ret = add_int(c, NULL, FW_CFG_NOGRAPHIC, 1, 2);
	if (ret == 0)
		ret = add_int(c, "etc/boot-cpus", 0, cfg->cpus, 2);
	/* No boot menu: no pause for a key nobody presses. */
	if (ret == 0)
		ret = add_int(c, "etc/show-boot-menu", 0, 0, 2);
	/* Its screen output on COM1 (sercon), so the console shows it all. */
	if (ret == 0)
		ret = add_int(c, "etc/sercon-port", 0, PORT_COM1, 2);
	if (ret == 0)
		ret = add_int(c, "etc/boot-fail-wait", 0, BOOT_FAIL_WAIT_MS, 4);
	/* 64-bit BARs go where the root bridge's 64-bit window starts. */
	if (ret == 0 && m->pci_up)
		ret = add_int(c, "etc/reserved-memory-end", 0, machine_mmio64_base(&m->vm.mem), 8);
	if (ret == 0)
		ret = add_acpi(m, c);
	if (ret == 0)
		ret = add_bootorder(m, c);
	return ret;
}

int machine_firmware_setup(struct machine *m)
{
	const char *path = m->cfg->firmware;
	uint8_t *data = NULL;
	size_t size = 0;
	int ret = boot_read_file(path, "--firmware", &data, &size);
	if (ret < 0)
		return ret;
	const char *why = firmware_size_problem(size);
	if (why) {
		log_error("--firmware %s: %s", path, why);
		free(data);
		return -EINVAL;
	}
	void *rom = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rom == MAP_FAILED) {
		free(data);
		log_error("--firmware %s: out of memory", path);
		return -ENOMEM;
	}
	memcpy(rom, data, size);
	free(data);
	m->firmware.image = rom;
	m->firmware.size = size;
	ret = vm_map_rom(&m->vm, firmware_rom_gpa(size), size, rom);
	if (ret < 0) {
		log_error("--firmware %s: mapping it below 4 GiB: %s", path,
			  ret == -ENOTSUP ? "this KVM has no read-only memory" : strerror(-ret));
		return ret;
	}
	m->firmware.slot = ret;
	ret = m->fw_cfg ? fill_fw_cfg(m, m->fw_cfg) : -EINVAL;
	if (ret < 0)
		log_error("--firmware %s: filling fw_cfg: %s", path, strerror(-ret));
	return ret;
}

int machine_load_firmware(struct machine *m)
{
	if (firmware_load_low(&m->vm.mem, m->firmware.image, m->firmware.size) < 0) {
		log_error("--firmware %s: RAM does not reach 1 MiB", m->cfg->firmware);
		return -EFAULT;
	}
	return 0;
}

void machine_firmware_release(struct machine *m)
{
	if (m->firmware.slot > 0)
		vm_unmap_device_memory(&m->vm, m->firmware.slot);
	if (m->firmware.image)
		munmap(m->firmware.image, m->firmware.size);
	memset(&m->firmware, 0, sizeof(m->firmware));
}
