/* The fixed devices of the PC (serial, i8042, RTC, ACPI PM, pvpanic): the
 * create functions of their rows in the device table, wired to the
 * machine's console, power requests, ports and interrupt lines. */
#ifndef IOVIRT_MACHINE_MACHINE_LEGACY_H
#define IOVIRT_MACHINE_MACHINE_LEGACY_H

#include "machine/device_table.h"

struct machine;

/* The ACPI SCI: ISA IRQ 9, level, active high (the FADT's SCI_INT and the
 * MADT's override say so; the PM block drives it). */
#define MACHINE_IRQ_SCI 9

/* The console (m->term), before the serial port that feeds it. 0 or
 * -errno after one line. */
int machine_open_console(struct machine *m);

int machine_create_serial(const struct device_env *env, struct device **dev);
int machine_create_i8042(const struct device_env *env, struct device **dev);
int machine_create_rtc(const struct device_env *env, struct device **dev);
int machine_create_acpi_pm(const struct device_env *env, struct device **dev);
int machine_create_pvpanic(const struct device_env *env, struct device **dev);
/* Firmware boot's (--firmware): fw_cfg (m->fw_cfg, empty until
 * machine_firmware_setup) and the firmware's debug console, whose "No
 * bootable device" stops the VM with an error. */
int machine_create_fw_cfg(const struct device_env *env, struct device **dev);
int machine_create_debug_port(const struct device_env *env, struct device **dev);
int machine_create_debugcon(const struct device_env *env, struct device **dev);

/* Gives back the ports the fixed devices claimed, before they are
 * destroyed. */
void machine_legacy_release(struct machine *m);

#endif
